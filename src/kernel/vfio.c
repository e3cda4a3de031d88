/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VFIO as sysfs shows it: drivers, group viability, cdev and group nodes.
 *
 * The sysfs names follow the kernel (checked in torvalds/linux):
 *  - drivers/vfio/vfio_main.c: vfio_init() creates the class "vfio-dev" and
 *    __vfio_register_dev() names each device "vfio%d" (its index); the device's
 *    parent is the PCI device, so the class glue directory puts it at
 *    /sys/bus/pci/devices/BDF/vfio-dev/vfioN, whose "dev" file holds MAJ:MIN.
 *  - drivers/vfio/device_cdev.c: the cdev minor is that same index, with a
 *    dynamically allocated major, so MAJ:MIN must be read, never assumed.
 *  - drivers/vfio/group.c: vfio_group_init() creates the class "vfio" and
 *    vfio_create_group() names each group node "%d" after iommu_group_id(),
 *    with devnode "vfio/%s": /sys/class/vfio/G/dev is /dev/vfio/G.
 *  - drivers/vfio/container.c: the misc device "vfio" (nodename "vfio/vfio").
 */
#include "vfio.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sysfs.h"
#include "quote.h"
#include "util.h"

bool vj_vfio_driver_is_vfio(const char *driver)
{
	/* vfio-pci, and variant drivers built on vfio-pci-core whose module
	 * names all carry "vfio": mlx5_vfio_pci, hisi_acc_vfio_pci, pds_vfio_pci,
	 * nvgrace_gpu_vfio_pci, virtio_vfio_pci, xe-vfio-pci, ... */
	return driver && (strcmp(driver, "vfio-pci") == 0 || strstr(driver, "vfio"));
}

bool vj_vfio_driver_is_dma_managed(const char *driver)
{
	/*
	 * Drivers that set .driver_managed_dma = true in struct pci_driver do
	 * not use the kernel DMA API, so the IOMMU core lets them share a group
	 * with a device claimed for user DMA.  Outside the vfio drivers, the
	 * kernel sets it in exactly two PCI drivers:
	 *   drivers/pci/pci-stub.c      stub_driver     .name = "pci-stub"
	 *   drivers/pci/pcie/portdrv.c  pcie_portdriver .name = "pcieport"
	 */
	return driver && (strcmp(driver, "pci-stub") == 0 || strcmp(driver, "pcieport") == 0);
}

/* <sysfs>/<printf(fmt, ...)> */
static char *sysfs_pathf(const struct vj_roots *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static char *sysfs_pathf(const struct vj_roots *r, const char *fmt, ...)
{
	_cleanup_free_ char *rel = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&rel, fmt, ap);
	va_end(ap);
	if (n < 0) {
		rel = NULL;
		return NULL;
	}
	return vj_path_join(vj_root_sysfs(r), rel);
}

static int oom(struct vj_error **err, const char *object)
{
	return vj_err_sys(err, "discover", object, ENOMEM, NULL, "out of memory");
}

/* ------------------------------------------------------------------------- */
/* Group viability                                                            */

struct dirents {
	struct dirent **list;
	int n;
};

static void dirents_free(struct dirents *d)
{
	for (int i = 0; i < d->n; i++)
		free(d->list[i]);
	free(d->list);
	d->list = NULL;
	d->n = 0;
}

static int not_dot(const struct dirent *e)
{
	return strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
}

/* Sorted entries of @path without "." and "..", or -errno. */
static int list_dir(const char *path, struct dirents *out)
{
	int n = scandir(path, &out->list, not_dot, alphasort);

	if (n < 0) {
		out->list = NULL;
		out->n = 0;
		return -errno;
	}
	out->n = n;
	return 0;
}

/* 0 when @addr in @devices_dir is bound to a driver a viable group allows. */
static int check_member(const char *devices_dir, const char *addr, int group,
			const char *for_pci, struct vj_error **err)
{
	_cleanup_free_ char *link = vj_strdupf("%s/%s/driver", devices_dir, addr);
	_cleanup_free_ char *driver = NULL, *hint = NULL;
	int ret;

	if (!link)
		return oom(err, addr);
	ret = vj_readlink_base(link, &driver);
	if (ret == -ENOENT)
		return 0; /* no driver: nothing on the host does DMA through it */
	if (ret < 0)
		return vj_err_sys(err, "discover", link, -ret, NULL,
				  "cannot read the driver of %s in IOMMU group %d", addr, group);
	if (vj_vfio_driver_is_vfio(driver) || vj_vfio_driver_is_dma_managed(driver))
		return 0;
	hint = vj_strdupf("bind %s to vfio-pci or unbind it (driverctl set-override %s vfio-pci)",
			  addr, addr);
	if (!hint)
		return oom(err, addr);
	return vj_err_sys(err, "discover", addr, 0, hint,
			  "IOMMU group %d is not viable: %s (in the group of %s) is bound to %s",
			  group, addr, for_pci, driver);
}

int vj_vfio_group_check_viable(const struct vj_roots *r, int group, const char *for_pci,
			       struct vj_error **err)
{
	_cleanup_(dirents_free) struct dirents ents = { 0 };
	_cleanup_free_ char *dir = NULL;
	int ret;

	if (group < 0)
		return vj_err_sys(err, "discover", for_pci, EINVAL, NULL,
				  "%s has no IOMMU group", for_pci);
	dir = sysfs_pathf(r, "kernel/iommu_groups/%d/devices", group);
	if (!dir)
		return oom(err, for_pci);
	ret = list_dir(dir, &ents);
	if (ret < 0)
		return vj_err_sys(err, "discover", dir, -ret, NULL,
				  "cannot list the devices of IOMMU group %d (of %s) in %s", group,
				  for_pci, dir);
	if (ents.n == 0)
		return vj_err_sys(err, "discover", dir, ENOENT, NULL,
				  "IOMMU group %d (of %s) lists no devices in %s", group, for_pci,
				  dir);
	for (int i = 0; i < ents.n; i++)
		if (check_member(dir, ents.list[i]->d_name, group, for_pci, err) < 0)
			return -1;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* Device nodes                                                               */

/* MAJ:MIN from a sysfs "dev" file, with an error naming the file. */
int vj_vfio_group_members(const struct vj_roots *r, int group, char ***addrs, size_t *n,
			  struct vj_error **err)
{
	_cleanup_(dirents_free) struct dirents ents = { 0 };
	_cleanup_free_ char *dir = sysfs_pathf(r, "kernel/iommu_groups/%d/devices", group);
	char **v;
	int ret;

	*addrs = NULL;
	*n = 0;
	if (!dir)
		return oom(err, "IOMMU group");
	ret = list_dir(dir, &ents);
	if (ret < 0)
		return vj_err_sys(err, "discover", dir, -ret, NULL,
				  "cannot list the devices of IOMMU group %d", group);
	v = calloc((size_t)ents.n + 1, sizeof(*v));
	if (!v)
		return oom(err, dir);
	for (int i = 0; i < ents.n; i++) {
		v[i] = strdup(ents.list[i]->d_name);
		if (!v[i]) {
			for (int j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return oom(err, dir);
		}
	}
	*addrs = v;
	*n = (size_t)ents.n;
	return 0;
}

static int read_devnum(const char *path, const char *what, uint32_t *major, uint32_t *minor,
		       struct vj_error **err)
{
	_cleanup_free_ char *text = NULL;
	int ret = vj_read_file(path, 64, &text);

	if (ret == -EINVAL)
		return vj_err_sys(err, "discover", path, 0, NULL,
				  "%s (for %s) is not a regular file with MAJ:MIN in it", path, what);
	if (ret < 0)
		return vj_err_sys(err, "discover", path, -ret, NULL, "cannot read %s of %s", path,
				  what);
	if (vj_parse_devnum(text, major, minor) < 0) {
		char q[VJ_QUOTE_MAX];
		return vj_err_sys(err, "discover", path, EINVAL, NULL,
				  "%s holds %s, not MAJ:MIN (for %s)", path, vj_quote(text, q), what);
	}
	return 0;
}

/* "vfio" followed by decimal digits only, as vfio_main.c names devices. */
static bool is_vfio_cdev_name(const char *name)
{
	const char *p;

	if (strncmp(name, "vfio", 4) != 0 || !name[4])
		return false;
	for (p = name + 4; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

/* Why <pci>/vfio-dev is missing: no device, a non-vfio driver, or a kernel
 * without CONFIG_VFIO_DEVICE_CDEV. */
static int explain_no_vfio_dev(const struct vj_roots *r, const char *pci,
			       struct vj_error **err)
{
	_cleanup_free_ char *devdir = sysfs_pathf(r, "bus/pci/devices/%s", pci);
	_cleanup_free_ char *link = sysfs_pathf(r, "bus/pci/devices/%s/driver", pci);
	_cleanup_free_ char *driver = NULL, *hint = NULL;

	if (!devdir || !link)
		return oom(err, pci);
	if (access(devdir, F_OK) < 0)
		return vj_err_sys(err, "discover", pci, ENOENT, "check the address with lspci -D",
				  "no such PCI device");
	if (vj_readlink_base(link, &driver) < 0 || !vj_vfio_driver_is_vfio(driver)) {
		hint = vj_strdupf("bind it to vfio-pci (driverctl set-override %s vfio-pci)", pci);
		if (!hint)
			return oom(err, pci);
		return vj_err_sys(err, "discover", pci, 0, hint,
				  "%s is bound to %s, not to a VFIO driver", pci,
				  driver ? driver : "no driver");
	}
	return vj_err_sys(err, "discover", pci, ENOENT,
			  "use backend legacy, or a kernel built with CONFIG_VFIO_DEVICE_CDEV",
			  "this kernel has no VFIO cdev for %s", pci);
}

/* The single vfioN entry of @dir. */
static int find_cdev_name(const char *dir, const char *pci, char **name, struct vj_error **err)
{
	_cleanup_(dirents_free) struct dirents ents = { 0 };
	int ret = list_dir(dir, &ents);

	if (ret < 0)
		return vj_err_sys(err, "discover", dir, -ret, NULL, "cannot list %s", dir);
	if (ents.n != 1)
		return vj_err_sys(err, "discover", dir, ents.n ? EEXIST : ENOENT, NULL,
				  "%s holds %d entries; a VFIO device has exactly one vfioN", dir,
				  ents.n);
	if (!is_vfio_cdev_name(ents.list[0]->d_name)) {
		char q[VJ_QUOTE_MAX];
		return vj_err_sys(err, "discover", dir, EINVAL, NULL,
				  "%s holds %s, not a vfioN device (for %s)", dir,
				  vj_quote(ents.list[0]->d_name, q), pci);
	}
	*name = strdup(ents.list[0]->d_name);
	return *name ? 0 : oom(err, pci);
}

int vj_vfio_cdev(const struct vj_roots *r, const char *pci, char **name, uint32_t *major,
		 uint32_t *minor, struct vj_error **err)
{
	_cleanup_free_ char *dir = NULL, *found = NULL, *devfile = NULL;
	uint32_t maj, min;

	if (!pci || !*pci || strchr(pci, '/'))
		return vj_err_sys(err, "discover", pci ? pci : "(null)", EINVAL, NULL,
				  "\"%s\" is not a PCI address", pci ? pci : "(null)");
	dir = sysfs_pathf(r, "bus/pci/devices/%s/vfio-dev", pci);
	if (!dir)
		return oom(err, pci);
	if (access(dir, F_OK) < 0) {
		if (errno != ENOENT)
			return vj_err_sys(err, "discover", dir, errno, NULL, "cannot access %s", dir);
		return explain_no_vfio_dev(r, pci, err);
	}
	if (find_cdev_name(dir, pci, &found, err) < 0)
		return -1;
	devfile = vj_strdupf("%s/%s/dev", dir, found);
	if (!devfile)
		return oom(err, pci);
	if (read_devnum(devfile, pci, &maj, &min, err) < 0)
		return -1;
	*name = TAKE_PTR(found);
	*major = maj;
	*minor = min;
	return 0;
}

int vj_vfio_group_devnum(const struct vj_roots *r, int group, uint32_t *major, uint32_t *minor,
			 struct vj_error **err)
{
	_cleanup_free_ char *path = NULL, *what = NULL, *hint = NULL;
	int ret;

	what = vj_strdupf("IOMMU group %d", group);
	if (!what)
		return oom(err, NULL);
	if (group < 0)
		return vj_err_sys(err, "discover", what, EINVAL, NULL, "%d is not an IOMMU group",
				  group);
	path = sysfs_pathf(r, "class/vfio/%d/dev", group);
	if (!path)
		return oom(err, what);
	if (access(path, F_OK) < 0) {
		ret = errno;
		hint = vj_strdupf("bind every device of IOMMU group %d to vfio-pci (driverctl "
				  "set-override BDF vfio-pci); the kernel creates /dev/vfio/%d then",
				  group, group);
		if (!hint)
			return oom(err, what);
		return vj_err_sys(err, "discover", path, ret, hint,
				  "IOMMU group %d has no VFIO group node: %s is missing", group,
				  path);
	}
	return read_devnum(path, what, major, minor, err);
}
