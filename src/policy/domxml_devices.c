/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the domain's <devices> give a derived spec (domxml_internal.h): each
 * element QEMU opens a node or a PCI device for (host devices, disks,
 * character devices, input, TPM, RNG, render nodes, memory devices,
 * interfaces), and the counts of what needs a RAM budget (vIOMMU, NVMe, vDPA).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domxml_internal.h"
#include "error.h"
#include "sysfs.h"
#include "quote.h"
#include "util.h"

/* ------------------------------------------------------------------------- */
/* PCI host devices                                                           */

/* <driver iommufd='yes|no'/> of a PCI hostdev; absent: the domain's <iommufd>. */
static int hostdev_backend(struct derive *d, xmlNodePtr hd, enum vj_backend *out)
{
	xmlNodePtr drv = vj_xml_child(hd, "driver");
	_cleanup_xfree_ xmlChar *name = vj_xml_attr(drv, "name");
	_cleanup_xfree_ xmlChar *fd = vj_xml_attr(drv, "iommufd");
	char q[VJ_QUOTE_MAX];

	if (name && strcmp((const char *)name, "vfio") != 0)
		return vj_dx_err(d, drv, "name=%s: vfiojail assigns PCI devices through VFIO only",
			       vj_quote((const char *)name, q));
	if (!fd)
		*out = d->iommufd_default ? VJ_BACKEND_IOMMUFD : VJ_BACKEND_LEGACY;
	else if (strcmp((const char *)fd, "yes") == 0)
		*out = VJ_BACKEND_IOMMUFD;
	else if (strcmp((const char *)fd, "no") == 0)
		*out = VJ_BACKEND_LEGACY;
	else
		return vj_dx_err(d, drv, "iommufd=%s is not yes or no", vj_quote((const char *)fd, q));
	return 0;
}

static int hostdev_pci(struct derive *d, xmlNodePtr hd)
{
	xmlNodePtr src = vj_xml_child(hd, "source"), a = vj_xml_child(src, "address");
	struct vj_pci_addr addr;
	enum vj_backend backend = VJ_BACKEND_LEGACY;

	if (!a)
		return vj_dx_err(d, src ? src : hd, "a PCI host device needs <source><address .../>");
	if (vj_dx_pci_addr(d, a, &addr) < 0 || hostdev_backend(d, hd, &backend) < 0)
		return -1;
	return vj_dx_add_hostdev(d, a, &addr, backend, false);
}

/* ------------------------------------------------------------------------- */
/* USB and SCSI host devices, found in sysfs                                  */

/* A sysfs attribute of a USB device as a number in @base; false when unreadable. */
static bool usb_attr(const char *dir, const char *name, int base, uint64_t *out)
{
	_cleanup_free_ char *path = vj_strdupf("%s/%s", dir, name), *text = NULL;
	char *end = NULL;
	unsigned long long v;

	if (!path || vj_read_file(path, 64, &text) < 0 || !*text)
		return false;
	errno = 0;
	v = strtoull(text, &end, base);
	if (errno || *end || text[0] == '-' || text[0] == '+' || text[0] == ' ')
		return false;
	*out = v;
	return true;
}

static int usb_by_id(struct derive *d, xmlNodePtr src, uint64_t vendor, uint64_t product,
		     uint64_t *bus, uint64_t *dev)
{
	_cleanup_free_ char *dir = vj_path_join(vj_root_sysfs(&d->o->roots), "bus/usb/devices");
	_cleanup_closedir_ DIR *dh = NULL;
	struct dirent *de;
	unsigned found = 0;

	if (!dir)
		return vj_dx_oom(d->err);
	dh = opendir(dir);
	if (!dh)
		return vj_dx_err(d, src, "USB device %04llx:%04llx: cannot read %s: %s",
			       (unsigned long long)vendor, (unsigned long long)product, dir,
			       strerror(errno));
	while ((de = readdir(dh))) {
		_cleanup_free_ char *sub = NULL;
		uint64_t v, p, b, n;

		if (de->d_name[0] == '.')
			continue;
		sub = vj_strdupf("%s/%s", dir, de->d_name);
		if (!sub)
			return vj_dx_oom(d->err);
		if (!usb_attr(sub, "idVendor", 16, &v) || !usb_attr(sub, "idProduct", 16, &p) ||
		    v != vendor || p != product)
			continue;
		if (!usb_attr(sub, "busnum", 10, &b) || !usb_attr(sub, "devnum", 10, &n))
			continue;
		if (found++ == 0) {
			*bus = b;
			*dev = n;
		}
	}
	if (!found)
		return vj_dx_err(d, src, "no USB device %04llx:%04llx on this host (%s)",
			       (unsigned long long)vendor, (unsigned long long)product, dir);
	if (found > 1)
		return vj_dx_err(d, src, "%u USB devices are %04llx:%04llx: name one by "
			       "<address bus='...' device='...'/>",
			       found, (unsigned long long)vendor, (unsigned long long)product);
	return 0;
}

static int hostdev_usb(struct derive *d, xmlNodePtr hd)
{
	xmlNodePtr src = vj_xml_child(hd, "source"), a = vj_xml_child(src, "address");
	xmlNodePtr ven = vj_xml_child(src, "vendor"), prod = vj_xml_child(src, "product");
	uint64_t bus, dev, v, p;
	char path[32];

	if (!src)
		return vj_dx_err(d, hd, "a USB host device needs <source>");
	if (a) {
		if (vj_dx_attr_uint(d, a, "bus", 999, false, 0, &bus) < 0 ||
		    vj_dx_attr_uint(d, a, "device", 999, false, 0, &dev) < 0)
			return -1;
	} else {
		if (!ven || !prod)
			return vj_dx_err(d, src, "a USB host device needs <address bus device/> or "
				       "<vendor id/> and <product id/>");
		if (vj_dx_attr_uint(d, ven, "id", 0xffff, false, 0, &v) < 0 ||
		    vj_dx_attr_uint(d, prod, "id", 0xffff, false, 0, &p) < 0 ||
		    usb_by_id(d, src, v, p, &bus, &dev) < 0)
			return -1;
	}
	snprintf(path, sizeof(path), "/dev/bus/usb/%03u/%03u", (unsigned)bus, (unsigned)dev);
	return vj_dx_add_device(d, a ? a : src, path, RW);
}

/* <source><adapter name='scsi_hostN'/><address bus target unit/></source>: the
 * sg node of SCSI device N:bus:target:unit, from sysfs. */
static int hostdev_scsi(struct derive *d, xmlNodePtr hd, bool readonly)
{
	xmlNodePtr src = vj_xml_child(hd, "source"), ad = vj_xml_child(src, "adapter"), a = vj_xml_child(src, "address");
	_cleanup_xfree_ xmlChar *proto = vj_xml_attr(src, "protocol"), *name = vj_xml_attr(ad, "name");
	_cleanup_free_ char *dir = NULL;
	_cleanup_closedir_ DIR *dh = NULL;
	uint64_t host, bus, target, unit;
	char q[VJ_QUOTE_MAX], sg[NAME_MAX + 16] = "";
	struct dirent *de;

	if (proto && strcmp((const char *)proto, "iscsi") == 0)
		return 0; /* QEMU reaches it over the network: no node */
	if (!ad || !a)
		return vj_dx_err(d, src ? src : hd, "a SCSI host device needs <adapter name='scsi_hostN'/> "
			       "and <address bus target unit/>");
	if (!name || strncmp((const char *)name, "scsi_host", 9) != 0 ||
	    !vj_xml_c_uint((const char *)name + 9, UINT32_MAX, &host) || (name[9] == '0' && name[10]))
		return vj_dx_err(d, ad, "name=%s is not scsi_hostN", vj_quote((const char *)name, q));
	if (vj_dx_attr_uint(d, a, "bus", UINT32_MAX, false, 0, &bus) < 0 ||
	    vj_dx_attr_uint(d, a, "target", UINT32_MAX, false, 0, &target) < 0 ||
	    vj_dx_attr_uint(d, a, "unit", UINT64_MAX, false, 0, &unit) < 0)
		return -1;
	dir = vj_strdupf("%s/bus/scsi/devices/%llu:%llu:%llu:%llu/scsi_generic",
			 vj_root_sysfs(&d->o->roots), (unsigned long long)host,
			 (unsigned long long)bus, (unsigned long long)target,
			 (unsigned long long)unit);
	if (!dir)
		return vj_dx_oom(d->err);
	dh = opendir(dir);
	if (!dh)
		return vj_dx_err(d, a, "SCSI device %llu:%llu:%llu:%llu has no sg node on this host (%s: %s)",
			       (unsigned long long)host, (unsigned long long)bus,
			       (unsigned long long)target, (unsigned long long)unit, dir,
			       strerror(errno));
	while ((de = readdir(dh)))
		if (strncmp(de->d_name, "sg", 2) == 0 && !strchr(de->d_name, '/')) {
			snprintf(sg, sizeof(sg), "/dev/%s", de->d_name);
			break;
		}
	if (!sg[0])
		return vj_dx_err(d, a, "SCSI device %llu:%llu:%llu:%llu has no sg node on this host (%s)",
			       (unsigned long long)host, (unsigned long long)bus,
			       (unsigned long long)target, (unsigned long long)unit, dir);
	return vj_dx_add_device(d, a, sg, readonly ? VJ_ACC_READ : RW);
}

static int hostdev(struct derive *d, xmlNodePtr hd)
{
	_cleanup_xfree_ xmlChar *mode = vj_xml_attr(hd, "mode"), *type = vj_xml_attr(hd, "type");
	const char *m = mode ? (const char *)mode : "subsystem", *t = type ? (const char *)type : "";
	bool readonly = vj_xml_child(hd, "readonly") != NULL;
	char q[VJ_QUOTE_MAX];

	if (strcmp(m, "capabilities") == 0) {
		xmlNodePtr src = vj_xml_child(hd, "source");
		if (strcmp(t, "storage") == 0 && vj_xml_child(src, "block"))
			return vj_dx_add_device_text(d, vj_xml_child(src, "block"), RW);
		if (strcmp(t, "misc") == 0 && vj_xml_child(src, "char"))
			return vj_dx_add_device_text(d, vj_xml_child(src, "char"), RW);
		if (strcmp(t, "net") == 0)
			return 0; /* a host interface: no node */
		return vj_dx_err(d, hd, "a capabilities host device of type=%s is not mapped "
			       "(storage with <block> and misc with <char> are)", vj_quote(t, q));
	}
	if (strcmp(m, "subsystem") != 0)
		return vj_dx_err(d, hd, "mode=%s is not subsystem or capabilities", vj_quote(m, q));
	if (strcmp(t, "pci") == 0)
		return hostdev_pci(d, hd);
	if (strcmp(t, "usb") == 0)
		return hostdev_usb(d, hd);
	if (strcmp(t, "scsi") == 0)
		return hostdev_scsi(d, hd, readonly);
	if (strcmp(t, "scsi_host") == 0)
		return 0; /* vhost-scsi: libvirt opens /dev/vhost-scsi and passes the fd */
	if (strcmp(t, "mdev") == 0)
		return vj_dx_err(d, hd, "mediated devices (type='mdev') are not supported: a vfiojail "
			       "spec has no field for them");
	return vj_dx_err(d, hd, "type=%s is not a host device type vfiojail maps (pci, usb, scsi, "
		       "scsi_host)", vj_quote(t, q));
}

/* ------------------------------------------------------------------------- */
/* Disks                                                                      */

/* A block source (the disk's or a backing store's) and its chain below. */
static int disk_chain(struct derive *d, xmlNodePtr n, bool readonly, unsigned depth)
{
	xmlNodePtr bs = vj_xml_child(n, "backingStore");
	_cleanup_xfree_ xmlChar *type = vj_xml_attr(n, "type");

	if (depth > 64)
		return vj_dx_err(d, n, "the backing chain is deeper than 64");
	if (type && strcmp((const char *)type, "block") == 0) {
		xmlNodePtr src = vj_xml_child(n, "source");
		_cleanup_xfree_ xmlChar *dev = vj_xml_attr(src, "dev");
		if (dev && vj_dx_add_device(d, src, (const char *)dev,
				      readonly ? VJ_ACC_READ : RW) < 0)
			return -1;
	}
	/* A backing image is only read. */
	return bs ? disk_chain(d, bs, true, depth + 1) : 0;
}

static int disk(struct derive *d, xmlNodePtr n)
{
	_cleanup_xfree_ xmlChar *type = vj_xml_attr(n, "type"), *device = vj_xml_attr(n, "device");
	const char *t = type ? (const char *)type : "file";
	/* libvirt makes every cdrom read-only. */
	bool readonly = vj_xml_child(n, "readonly") || (device && strcmp((const char *)device, "cdrom") == 0);

	if (strcmp(t, "nvme") == 0) {
		xmlNodePtr src = vj_xml_child(n, "source"), a = vj_xml_child(src, "address");
		struct vj_pci_addr addr;
		if (!a)
			return vj_dx_err(d, src ? src : n, "an nvme disk needs <source><address .../>");
		if (vj_dx_pci_addr(d, a, &addr) < 0)
			return -1;
		d->nvme++;
		/* QEMU's userspace NVMe driver uses the VFIO group and container. */
		return vj_dx_add_hostdev(d, a, &addr, VJ_BACKEND_LEGACY, true);
	}
	if (strcmp(t, "vhostvdpa") == 0) {
		d->vdpa++; /* libvirt opens the vhost-vdpa node and passes its fd */
		return 0;
	}
	return disk_chain(d, n, readonly, 0);
}

/* ------------------------------------------------------------------------- */
/* Other devices QEMU opens                                                   */

/* A character device source: type='dev' with <source path='/dev/...'/>. */
static int chardev(struct derive *d, xmlNodePtr n)
{
	xmlNodePtr src;

	if (!vj_xml_attr_is(n, "type", "dev"))
		return 0;
	src = vj_xml_child(n, "source");
	if (!src)
		return vj_dx_err(d, n, "type='dev' needs <source path='/dev/...'/>");
	if (!vj_xml_has_attr(src, "path"))
		return vj_dx_err(d, src, "type='dev' needs a path attribute");
	return vj_dx_add_device_attr(d, src, "path", NULL, RW);
}

static int input(struct derive *d, xmlNodePtr n)
{
	xmlNodePtr src = vj_xml_child(n, "source");

	if (vj_xml_attr_is(n, "type", "evdev"))
		return src ? vj_dx_add_device_attr(d, src, "dev", NULL, RW) : 0;
	if (vj_xml_attr_is(n, "type", "passthrough"))
		return src ? vj_dx_add_device_attr(d, src, "evdev", NULL, RW) : 0;
	return 0;
}

static int tpm(struct derive *d, xmlNodePtr n)
{
	xmlNodePtr be = vj_xml_child(n, "backend");

	if (!vj_xml_attr_is(be, "type", "passthrough"))
		return 0;
	/* libvirt's default device is /dev/tpm0. */
	if (!vj_xml_child(be, "device"))
		return vj_dx_add_device(d, be, "/dev/tpm0", RW);
	return vj_dx_add_device_attr(d, vj_xml_child(be, "device"), "path", "/dev/tpm0", RW);
}

static int rng(struct derive *d, xmlNodePtr n)
{
	xmlNodePtr be = vj_xml_child(n, "backend");
	_cleanup_free_ char *text = NULL;

	if (!be)
		return 0;
	if (vj_xml_attr_is(be, "model", "egd"))
		return chardev(d, be);
	if (!vj_xml_attr_is(be, "model", "random"))
		return 0;
	if (vj_dx_text(d, be, &text) < 0)
		return -1;
	/* Empty: QEMU's default, /dev/urandom, which every jail has. */
	return *text ? vj_dx_add_device(d, be, text, VJ_ACC_READ) : 0;
}

/* <gl rendernode='/dev/dri/renderD128'/> of a graphics element, or a video
 * model's <acceleration rendernode=.../>. */
static int rendernode(struct derive *d, xmlNodePtr n)
{
	return n ? vj_dx_add_device_attr(d, n, "rendernode", NULL, RW) : 0;
}

/* nvdimm and virtio-pmem memory devices backed by a node (devdax). */
static int memory_device(struct derive *d, xmlNodePtr n)
{
	xmlNodePtr src = vj_xml_child(n, "source"), path = vj_xml_child(src, "path");
	_cleanup_free_ char *text = NULL;

	if (!path)
		return 0;
	if (vj_dx_text(d, path, &text) < 0)
		return -1;
	if (strncmp(text, "/dev/", 5) != 0)
		return 0; /* a file: not a node */
	return vj_dx_add_device(d, path, text, RW);
}

static int interface(struct derive *d, xmlNodePtr n)
{
	xmlNodePtr src = vj_xml_child(n, "source");

	if (vj_xml_attr_is(n, "type", "vdpa")) {
		d->vdpa++; /* libvirt opens the vhost-vdpa node and passes its fd */
		return 0;
	}
	if (vj_xml_attr_is(n, "type", "hostdev")) {
		xmlNodePtr a = vj_xml_child(src, "address");
		struct vj_pci_addr addr;
		if (!a)
			return vj_dx_err(d, src ? src : n, "a hostdev interface needs <source><address .../>");
		if (vj_dx_pci_addr(d, a, &addr) < 0)
			return -1;
		return vj_dx_add_hostdev(d, a, &addr,
				   d->iommufd_default ? VJ_BACKEND_IOMMUFD : VJ_BACKEND_LEGACY, false);
	}
	return 0;
}

int vj_dx_devices(struct derive *d, xmlNodePtr devs)
{
	int r = 0;

	for (xmlNodePtr n = devs ? devs->children : NULL; n && r == 0; n = n->next) {
		const char *name;

		if (!vj_xml_is_elem(n, NULL))
			continue;
		name = (const char *)n->name;
		if (strcmp(name, "hostdev") == 0)
			r = hostdev(d, n);
		else if (strcmp(name, "disk") == 0)
			r = disk(d, n);
		else if (strcmp(name, "interface") == 0)
			r = interface(d, n);
		else if (strcmp(name, "iommu") == 0)
			d->viommu++;
		else if (strcmp(name, "serial") == 0 || strcmp(name, "parallel") == 0 ||
			 strcmp(name, "console") == 0 || strcmp(name, "channel") == 0 ||
			 strcmp(name, "smartcard") == 0 || strcmp(name, "redirdev") == 0)
			r = chardev(d, n);
		else if (strcmp(name, "input") == 0)
			r = input(d, n);
		else if (strcmp(name, "tpm") == 0)
			r = tpm(d, n);
		else if (strcmp(name, "rng") == 0)
			r = rng(d, n);
		else if (strcmp(name, "graphics") == 0)
			r = rendernode(d, vj_xml_child(n, "gl"));
		else if (strcmp(name, "video") == 0)
			r = rendernode(d, vj_xml_child(vj_xml_child(n, "model"), "acceleration"));
		else if (strcmp(name, "memory") == 0)
			r = memory_device(d, n);
	}
	return r;
}
