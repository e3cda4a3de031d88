/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host discovery from sysfs and /dev: sysfs.c, pci.c and vfio.c on the fixture
 * hosts under tests/fixtures (VJ_FIXTURES), plus /dev roots built with mknod.
 */
#include <limits.h>
#include <sys/sysmacros.h>

#include "pci.h"
#include "sysfs.h"
#include "testlib.h"
#include "util.h"
#include "vfio.h"

#define KiB 1024ull
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

/* ------------------------------------------------------------------------- */
/* Helpers                                                                    */

struct host {
	char sys[PATH_MAX];
	struct vj_roots roots;
};

static void host_init(struct host *h, const char *name)
{
	const char *fx = getenv("VJ_FIXTURES");

	assert_non_null(fx);
	assert_true((size_t)snprintf(h->sys, sizeof(h->sys), "%s/%s/sys", fx, name) <
		    sizeof(h->sys));
	h->roots = (struct vj_roots){ .sysfs = h->sys };
}

static void assert_err(const struct vj_error *e, int status, const char *object)
{
	assert_non_null(e);
	assert_int_equal(e->status, status);
	assert_string_equal(e->step, "discover");
	assert_non_null(e->object);
	if (object)
		assert_string_equal(e->object, object);
	assert_non_null(e->message);
}

/* A temp dir per test, removed in teardown whether the test passed or not. */
struct tmp {
	char *dir;
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	t->dir = temp_dir("vj-discovery");
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	int r = rm_tree(t->dir);

	if (r < 0)
		fprintf(stderr, "could not remove %s\n", t->dir);
	free(t->dir);
	free(t);
	return r;
}

static void make_node(const char *path, mode_t type, unsigned maj, unsigned min, mode_t perm)
{
	assert_int_equal(mknod(path, type | perm, makedev(maj, min)), 0);
	assert_int_equal(chmod(path, perm), 0); /* not subject to the umask */
}

/* ------------------------------------------------------------------------- */
/* sysfs.c                                                                    */

static void test_roots(void **state)
{
	struct vj_roots empty = { .sysfs = "", .proc = "", .dev = "" };
	struct vj_roots set = { .sysfs = "/x/sys", .proc = "/x/proc", .dev = "/x/dev" };
	(void)state;

	assert_string_equal(vj_root_sysfs(NULL), "/sys");
	assert_string_equal(vj_root_proc(NULL), "/proc");
	assert_string_equal(vj_root_dev(NULL), "/dev");
	assert_string_equal(vj_root_sysfs(&empty), "/sys");
	assert_string_equal(vj_root_proc(&empty), "/proc");
	assert_string_equal(vj_root_dev(&empty), "/dev");
	assert_string_equal(vj_root_sysfs(&set), "/x/sys");
	assert_string_equal(vj_root_proc(&set), "/x/proc");
	assert_string_equal(vj_root_dev(&set), "/x/dev");
}

static void test_misc_devnum(void **state)
{
	struct host h;
	uint32_t maj = 0, min = 0;
	(void)state;

	host_init(&h, "gpu-iommufd");
	assert_int_equal(vj_sysfs_misc_devnum(&h.roots, "iommu", &maj, &min), 0);
	assert_int_equal(maj, 10);
	assert_int_equal(min, 120);
	assert_int_equal(vj_sysfs_misc_devnum(&h.roots, "vfio", &maj, &min), 0);
	assert_int_equal(maj, 10);
	assert_int_equal(min, 196);
	assert_int_equal(vj_sysfs_misc_devnum(&h.roots, "../misc/iommu", &maj, &min), -EINVAL);
	assert_int_equal(vj_sysfs_misc_devnum(&h.roots, "", &maj, &min), -EINVAL);

	host_init(&h, "legacy-only");
	assert_int_equal(vj_sysfs_misc_devnum(&h.roots, "iommu", &maj, &min), -ENOENT);
	assert_int_equal(vj_sysfs_misc_devnum(&h.roots, "vfio", &maj, &min), 0);
	assert_int_equal(maj, 10);
	assert_int_equal(min, 196);

	host_init(&h, "broken"); /* class/misc/iommu/dev holds "10-120" */
	assert_int_equal(vj_sysfs_misc_devnum(&h.roots, "iommu", &maj, &min), -EINVAL);
}

/* One lookup, as the plan makes many. */
static int dev_stat(const struct vj_roots *r, const char *path, struct vj_devnode_stat *out)
{
	struct vj_dev_lookup c;
	int ret;

	vj_dev_lookup_init(&c, r);
	ret = vj_dev_lookup_stat(&c, path, out);
	vj_dev_lookup_done(&c);
	return ret;
}

static void test_dev_stat(void **state)
{
	struct tmp *t = *state;
	_cleanup_free_ char *dev = pathf("%s/dev", t->dir);
	_cleanup_free_ char *net = pathf("%s/net", dev);
	_cleanup_free_ char *tun = pathf("%s/net/tun", dev);
	_cleanup_free_ char *blk = pathf("%s/loop7", dev);
	_cleanup_free_ char *lnk = pathf("%s/tunlink", dev);
	_cleanup_free_ char *reg = pathf("%s/regular", dev);
	_cleanup_free_ char *dirlnk = pathf("%s/netlink", dev);
	_cleanup_free_ char *proclnk = pathf("%s/hostdev", dev);
	struct vj_roots roots = { .dev = dev };
	struct vj_devnode_stat st;

	assert_int_equal(mkdir(dev, 0755), 0);
	assert_int_equal(mkdir(net, 0755), 0);
	make_node(tun, S_IFCHR, 10, 200, 0666);
	assert_int_equal(chown(tun, 1234, 5678), 0);
	make_node(blk, S_IFBLK, 7, 7, 0620);
	assert_int_equal(symlink("net/tun", lnk), 0);
	write_file(reg, "not a node\n");

	memset(&st, 0, sizeof(st));
	assert_int_equal(dev_stat(&roots, "/dev/net/tun", &st), 0);
	assert_int_equal(st.type, 'c');
	assert_int_equal(st.major, 10);
	assert_int_equal(st.minor, 200);
	assert_int_equal(st.mode, 0666);
	assert_int_equal(st.uid, 1234);
	assert_int_equal(st.gid, 5678);

	assert_int_equal(dev_stat(&roots, "/dev/loop7", &st), 0);
	assert_int_equal(st.type, 'b');
	assert_int_equal(st.major, 7);
	assert_int_equal(st.minor, 7);
	assert_int_equal(st.mode, 0620);
	assert_int_equal(st.uid, 0);

	/* A symlink is not followed, even to a node; files and dirs are no nodes. */
	assert_int_equal(dev_stat(&roots, "/dev/tunlink", &st), -ENODEV);
	assert_int_equal(dev_stat(&roots, "/dev/regular", &st), -ENODEV);
	assert_int_equal(dev_stat(&roots, "/dev/net", &st), -ENODEV);
	assert_int_equal(dev_stat(&roots, "/dev/absent", &st), -ENOENT);
	/* Nor a symlinked directory on the way: not a plain one, not one into /proc's
	 * magic links (which would reach the host's /dev whatever the dev root). */
	assert_int_equal(symlink("net", dirlnk), 0);
	assert_int_equal(symlink("/proc/self/root/dev", proclnk), 0);
	assert_int_equal(dev_stat(&roots, "/dev/netlink/tun", &st), -ENODEV);
	assert_int_equal(dev_stat(&roots, "/dev/hostdev/null", &st), -ENODEV);

	/* Only paths under /dev/, and none that climb out of it. */
	assert_int_equal(dev_stat(&roots, "/etc/passwd", &st), -EINVAL);
	assert_int_equal(dev_stat(&roots, "net/tun", &st), -EINVAL);
	assert_int_equal(dev_stat(&roots, "/dev/", &st), -EINVAL);
	assert_int_equal(dev_stat(&roots, "/dev", &st), -EINVAL);
	assert_int_equal(dev_stat(&roots, "/dev/../dev/net/tun", &st), -EINVAL);
	assert_int_equal(dev_stat(&roots, "/dev/net/../../x", &st), -EINVAL);
	assert_int_equal(dev_stat(&roots, "/devnet/tun", &st), -EINVAL);
}

/* tests/mkdevroot builds, from each fixture, a /dev whose nodes carry the
 * numbers that fixture's sysfs announces. */
static int run_mkdevroot(const char *fixture, const char *dest)
{
	const char *src = getenv("VJ_SOURCE_ROOT");
	_cleanup_free_ char *script = NULL;
	pid_t pid;
	int status;

	assert_non_null(src);
	script = pathf("%s/tests/mkdevroot", src);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/bash", "bash", script, fixture, dest, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void assert_node(const struct vj_roots *roots, const char *path, uint32_t maj,
			uint32_t min)
{
	struct vj_devnode_stat st;
	int r = dev_stat(roots, path, &st);

	if (r < 0)
		fail_msg("%s: %s", path, strerror(-r));
	assert_int_equal(st.type, 'c');
	if (st.major != maj || st.minor != min)
		fail_msg("%s is %u:%u, sysfs says %u:%u", path, st.major, st.minor, maj, min);
}

static void check_host_nodes(const char *tmpdir, const char *name, const char *const *pcis,
			     const int *groups)
{
	const char *fx = getenv("VJ_FIXTURES");
	_cleanup_free_ char *fixture = pathf("%s/%s", fx, name);
	_cleanup_free_ char *dest = pathf("%s/%s", tmpdir, name);
	_cleanup_free_ char *sys = pathf("%s/sys", dest);
	_cleanup_free_ char *dev = pathf("%s/dev", dest);
	struct vj_roots roots = { .sysfs = sys, .dev = dev };
	struct vj_devnode_stat st;
	uint32_t maj, min;

	assert_int_equal(run_mkdevroot(fixture, dest), 0);
	/* Stand-in pseudo devices carry the real numbers. */
	assert_node(&roots, "/dev/null", 1, 3);
	assert_node(&roots, "/dev/ptmx", 5, 2);
	assert_int_equal(dev_stat(&roots, "/dev/null", &st), 0);
	assert_int_equal(st.mode, 0666);

	if (vj_sysfs_misc_devnum(&roots, "iommu", &maj, &min) == 0)
		assert_node(&roots, "/dev/iommu", maj, min);
	else
		assert_int_equal(dev_stat(&roots, "/dev/iommu", &st), -ENOENT);
	assert_int_equal(vj_sysfs_misc_devnum(&roots, "vfio", &maj, &min), 0);
	assert_node(&roots, "/dev/vfio/vfio", maj, min);
	assert_int_equal(vj_sysfs_misc_devnum(&roots, "kvm", &maj, &min), 0);
	assert_node(&roots, "/dev/kvm", maj, min);
	assert_int_equal(vj_sysfs_misc_devnum(&roots, "tun", &maj, &min), 0);
	assert_node(&roots, "/dev/net/tun", maj, min);

	for (; *pcis; pcis++) {
		_cleanup_free_ char *cdev = NULL, *node = NULL;
		assert_int_equal(vj_vfio_cdev(&roots, *pcis, &cdev, &maj, &min, NULL), 0);
		node = pathf("/dev/vfio/devices/%s", cdev);
		assert_node(&roots, node, maj, min);
	}
	for (; *groups >= 0; groups++) {
		_cleanup_free_ char *node = pathf("/dev/vfio/%d", *groups);
		assert_int_equal(vj_vfio_group_devnum(&roots, *groups, &maj, &min, NULL), 0);
		assert_node(&roots, node, maj, min);
	}
}

static void test_mkdevroot_matches_sysfs(void **state)
{
	struct tmp *t = *state;
	static const char *const gpu[] = { "0009:06:00.0", "0009:06:00.1", "0009:07:00.0", NULL };
	static const char *const shared[] = { "0000:03:00.0", NULL };
	static const char *const none[] = { NULL };
	static const int gpu_groups[] = { 14, 15, -1 };
	static const int shared_groups[] = { 7, -1 };
	static const int nocdev_groups[] = { 3, -1 };
	static const int legacy_groups[] = { 9, -1 };

	check_host_nodes(t->dir, "gpu-iommufd", gpu, gpu_groups);
	check_host_nodes(t->dir, "group-shared", shared, shared_groups);
	check_host_nodes(t->dir, "no-cdev", none, nocdev_groups);
	check_host_nodes(t->dir, "legacy-only", none, legacy_groups);
}

static void test_mkdevroot_refuses(void **state)
{
	struct tmp *t = *state;
	const char *fx = getenv("VJ_FIXTURES");
	_cleanup_free_ char *fixture = pathf("%s/gpu-iommufd", fx);
	_cleanup_free_ char *bad = pathf("%s/badfx", t->dir);
	_cleanup_free_ char *badsys = pathf("%s/badfx/sys", t->dir);
	_cleanup_free_ char *badlist = pathf("%s/badfx/dev.list", t->dir);
	_cleanup_free_ char *dest = pathf("%s/out", t->dir);
	struct stat st;

	/* DEST exists already. */
	assert_int_equal(mkdir(dest, 0755), 0);
	assert_int_not_equal(run_mkdevroot(fixture, dest), 0);
	assert_int_equal(rmdir(dest), 0);

	/* A malformed dev.list fails and leaves no half-built DEST behind. */
	assert_int_equal(mkdir(bad, 0755), 0);
	assert_int_equal(mkdir(badsys, 0755), 0);
	write_file(badlist, "null c 1 3 0666\nvfio/../../escape c 1 3 0666\n");
	assert_int_not_equal(run_mkdevroot(bad, dest), 0);
	assert_int_equal(lstat(dest, &st), -1);
	assert_int_equal(errno, ENOENT);
}

/* ------------------------------------------------------------------------- */
/* pci.c                                                                      */

static void assert_bar(const struct vj_pci_device *d, size_t i, unsigned index, uint64_t size)
{
	assert_true(i < d->n_bars);
	assert_int_equal(d->bars[i].index, index);
	assert_int_equal(d->bars[i].size, size);
}

static void test_pci_gpu(void **state)
{
	struct vj_pci_device d = { 0 };
	struct vj_error *err = NULL;
	struct host h;
	(void)state;

	host_init(&h, "gpu-iommufd");
	assert_int_equal(vj_pci_device_read(&h.roots, "0009:06:00.0", &d, &err), 0);
	assert_null(err);
	assert_string_equal(d.pci, "0009:06:00.0");
	assert_string_equal(d.driver, "vfio-pci");
	assert_int_equal(d.iommu_group, 14);
	/* BAR0, BAR1 (64-bit, so line 2 is empty), BAR3; the ROM on line 6 is no BAR. */
	assert_int_equal(d.n_bars, 3);
	assert_bar(&d, 0, 0, 16 * MiB);
	assert_bar(&d, 1, 1, 64 * GiB);
	assert_bar(&d, 2, 3, 32 * MiB);
	vj_pci_device_clear(&d);
	assert_null(d.driver);
	assert_null(d.bars);
	assert_int_equal(d.n_bars, 0);

	assert_int_equal(vj_pci_device_read(&h.roots, "0009:06:00.1", &d, &err), 0);
	assert_string_equal(d.driver, "vfio-pci");
	assert_int_equal(d.iommu_group, 14);
	assert_int_equal(d.n_bars, 1);
	assert_bar(&d, 0, 0, 16 * KiB);
	vj_pci_device_clear(&d);

	assert_int_equal(vj_pci_device_read(&h.roots, "0009:07:00.0", &d, &err), 0);
	assert_int_equal(d.iommu_group, 15);
	assert_int_equal(d.n_bars, 3);
	assert_bar(&d, 1, 1, 64 * GiB);
	vj_pci_device_clear(&d);

	/* A bridge: its windows (lines 13..16) are no BARs. */
	assert_int_equal(vj_pci_device_read(&h.roots, "0009:00:00.0", &d, &err), 0);
	assert_string_equal(d.driver, "pcieport");
	assert_int_equal(d.iommu_group, 15);
	assert_int_equal(d.n_bars, 0);
	vj_pci_device_clear(&d);
}

static void test_pci_other_hosts(void **state)
{
	struct vj_pci_device d = { 0 };
	struct vj_error *err = NULL;
	struct host h;
	(void)state;

	host_init(&h, "group-shared");
	assert_int_equal(vj_pci_device_read(&h.roots, "0000:03:00.0", &d, &err), 0);
	assert_int_equal(d.iommu_group, 7);
	assert_int_equal(d.n_bars, 4);
	assert_bar(&d, 0, 0, 16 * MiB);
	assert_bar(&d, 1, 1, 256 * MiB);
	assert_bar(&d, 2, 3, 32 * MiB);
	assert_bar(&d, 3, 5, 128); /* I/O BAR */
	vj_pci_device_clear(&d);
	assert_int_equal(vj_pci_device_read(&h.roots, "0000:03:00.1", &d, &err), 0);
	assert_string_equal(d.driver, "snd_hda_intel");
	vj_pci_device_clear(&d);

	host_init(&h, "legacy-only");
	assert_int_equal(vj_pci_device_read(&h.roots, "0000:08:00.0", &d, &err), 0);
	assert_string_equal(d.driver, "e1000e");
	assert_int_equal(d.iommu_group, 10);
	vj_pci_device_clear(&d);

	/* No driver, no IOMMU group, no BARs. */
	host_init(&h, "broken");
	assert_int_equal(vj_pci_device_read(&h.roots, "0000:12:00.0", &d, &err), 0);
	assert_null(d.driver);
	assert_int_equal(d.iommu_group, -1);
	assert_int_equal(d.n_bars, 0);
	vj_pci_device_clear(&d);
	assert_null(err);
}

static void test_pci_missing(void **state)
{
	struct vj_pci_device d = { 0 };
	struct vj_error *err = NULL;
	struct host h;
	(void)state;

	host_init(&h, "gpu-iommufd");
	assert_true(vj_pci_device_read(&h.roots, "0009:99:00.0", &d, &err) < 0);
	assert_err(err, VJ_EXIT_SETUP, "0009:99:00.0");
	assert_string_equal(err->message, "no such PCI device");
	assert_int_equal(err->errnum, ENOENT);
	assert_string_equal(err->hint, "check the address with lspci -D");
	vj_error_free(err);
	err = NULL;

	assert_true(vj_pci_device_read(&h.roots, "09:06:00.0", &d, &err) < 0);
	assert_err(err, VJ_EXIT_SETUP, "09:06:00.0");
	assert_contains(err->message, "\"09:06:00.0\"");
	vj_error_free(err);
}

static void expect_pci_error(const char *host, const char *pci, const char *file,
			     const char *needle)
{
	struct vj_pci_device d = { 0 };
	struct vj_error *err = NULL;
	_cleanup_free_ char *object = NULL;
	struct host h;

	host_init(&h, host);
	object = pathf("%s/bus/pci/devices/%s/%s", h.sys, pci, file);
	assert_true(vj_pci_device_read(&h.roots, pci, &d, &err) < 0);
	assert_err(err, VJ_EXIT_SETUP, object);
	assert_contains(err->message, needle);
	assert_null(d.driver);
	assert_null(d.bars);
	vj_error_free(err);
}

static void test_pci_garbage(void **state)
{
	(void)state;
	expect_pci_error("broken", "0000:0a:00.0", "resource", "line 4 of ");
	expect_pci_error("broken", "0000:0a:00.0", "resource",
			 "\"0xfa004000 0xfa007fff garbage\"");
	/* end before start */
	expect_pci_error("broken", "0000:0f:00.0", "resource", "line 1 of ");
	/* iommu_group -> .../iommu_groups/abc */
	expect_pci_error("broken", "0000:13:00.0", "iommu_group", "\"abc\"");
}

static void test_pci_resource_too_big(void **state)
{
	struct tmp *t = *state;
	_cleanup_free_ char *devdir = pathf("%s/bus/pci/devices/0000:01:00.0", t->dir);
	_cleanup_free_ char *res = pathf("%s/resource", devdir);
	_cleanup_free_ char *big = NULL;
	struct vj_roots roots = { .sysfs = t->dir };
	struct vj_pci_device d = { 0 };
	struct vj_error *err = NULL;
	const char *line = "0x0000000000000000 0x0000000000000000 0x0000000000000000\n";
	size_t n = 1200, len = strlen(line);

	static const char *const parents[] = { "bus", "bus/pci", "bus/pci/devices" };

	for (size_t i = 0; i < ARRAY_SIZE(parents); i++) {
		_cleanup_free_ char *dir = pathf("%s/%s", t->dir, parents[i]);
		assert_int_equal(mkdir(dir, 0755), 0);
	}
	assert_int_equal(mkdir(devdir, 0755), 0);
	big = malloc(n * len + 1);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		memcpy(big + i * len, line, len);
	big[n * len] = '\0';
	write_file(res, big); /* 68 KiB of well-formed lines */

	assert_true(vj_pci_device_read(&roots, "0000:01:00.0", &d, &err) < 0);
	assert_err(err, VJ_EXIT_SETUP, res);
	assert_contains(err->message, res);
	assert_contains(err->message, "64 KiB");
	assert_int_equal(err->errnum, EFBIG);
	vj_error_free(err);
	err = NULL;

	/* The same tree with a short file reads fine: only the size was wrong. */
	big[3 * len] = '\0';
	write_file(res, big);
	assert_int_equal(vj_pci_device_read(&roots, "0000:01:00.0", &d, &err), 0);
	assert_int_equal(d.n_bars, 0);
	assert_null(d.driver);
	vj_pci_device_clear(&d);
}

/* ------------------------------------------------------------------------- */
/* vfio.c                                                                     */

static void test_driver_kinds(void **state)
{
	static const char *const vfio[] = { "vfio-pci", "mlx5_vfio_pci", "hisi_acc_vfio_pci",
					    "pds_vfio_pci", "nvgrace_gpu_vfio_pci",
					    "virtio_vfio_pci" };
	static const char *const other[] = { "nvidia", "e1000e", "snd_hda_intel", "pci-stub",
					     "pcieport", "" };
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(vfio); i++) {
		assert_true(vj_vfio_driver_is_vfio(vfio[i]));
		assert_false(vj_vfio_driver_is_dma_managed(vfio[i]));
	}
	for (size_t i = 0; i < ARRAY_SIZE(other); i++)
		assert_false(vj_vfio_driver_is_vfio(other[i]));
	assert_false(vj_vfio_driver_is_vfio(NULL));

	assert_true(vj_vfio_driver_is_dma_managed("pci-stub"));
	assert_true(vj_vfio_driver_is_dma_managed("pcieport"));
	assert_false(vj_vfio_driver_is_dma_managed("e1000e"));
	assert_false(vj_vfio_driver_is_dma_managed("snd_hda_intel"));
	assert_false(vj_vfio_driver_is_dma_managed(NULL));
}

static void test_group_viable(void **state)
{
	struct vj_error *err = NULL;
	struct host h;
	(void)state;

	host_init(&h, "gpu-iommufd");
	assert_int_equal(vj_vfio_group_check_viable(&h.roots, 14, "0009:06:00.0", &err), 0);
	/* shares group 15 with a pcieport bridge */
	assert_int_equal(vj_vfio_group_check_viable(&h.roots, 15, "0009:07:00.0", &err), 0);
	/* an unbound member and a pci-stub member */
	host_init(&h, "broken");
	assert_int_equal(vj_vfio_group_check_viable(&h.roots, 30, "0000:11:00.0", &err), 0);
	assert_null(err);
}

static void test_group_not_viable(void **state)
{
	struct vj_error *err = NULL;
	struct host h;
	(void)state;

	host_init(&h, "group-shared");
	assert_true(vj_vfio_group_check_viable(&h.roots, 7, "0000:03:00.0", &err) < 0);
	assert_err(err, VJ_EXIT_SETUP, "0000:03:00.1");
	assert_string_equal(err->message, "IOMMU group 7 is not viable: 0000:03:00.1 (in the group "
					  "of 0000:03:00.0) is bound to snd_hda_intel");
	assert_string_equal(err->hint, "bind 0000:03:00.1 to vfio-pci or unbind it "
				       "(driverctl set-override 0000:03:00.1 vfio-pci)");
	vj_error_free(err);
	err = NULL;

	host_init(&h, "legacy-only");
	assert_true(vj_vfio_group_check_viable(&h.roots, 10, "0000:08:00.0", &err) < 0);
	assert_err(err, VJ_EXIT_SETUP, "0000:08:00.0");
	assert_contains(err->message, "IOMMU group 10 is not viable");
	assert_contains(err->message, "is bound to e1000e");
	vj_error_free(err);
	err = NULL;

	/* no such group */
	{
		_cleanup_free_ char *dir = pathf("%s/kernel/iommu_groups/99/devices", h.sys);
		assert_true(vj_vfio_group_check_viable(&h.roots, 99, "0000:07:00.1", &err) < 0);
		assert_err(err, VJ_EXIT_SETUP, dir);
		assert_contains(err->message, "IOMMU group 99");
		assert_contains(err->message, dir);
		assert_int_equal(err->errnum, ENOENT);
		vj_error_free(err);
		err = NULL;
	}
	assert_true(vj_vfio_group_check_viable(&h.roots, -1, "0000:07:00.1", &err) < 0);
	assert_err(err, VJ_EXIT_SETUP, "0000:07:00.1");
	assert_contains(err->message, "no IOMMU group");
	vj_error_free(err);
}

static void test_cdev(void **state)
{
	static const struct {
		const char *pci, *name;
		uint32_t minor;
	} want[] = {
		{ "0009:06:00.0", "vfio0", 0 },
		{ "0009:06:00.1", "vfio1", 1 },
		{ "0009:07:00.0", "vfio2", 2 },
	};
	struct vj_error *err = NULL;
	struct host h;
	(void)state;

	host_init(&h, "gpu-iommufd");
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		_cleanup_free_ char *name = NULL;
		uint32_t maj = 0, min = 99;
		assert_int_equal(vj_vfio_cdev(&h.roots, want[i].pci, &name, &maj, &min, &err), 0);
		assert_string_equal(name, want[i].name);
		assert_int_equal(maj, 240);
		assert_int_equal(min, want[i].minor);
	}
	assert_null(err);
}

static void expect_cdev_error(const char *host, const char *pci, const char *object,
			      const char *needle)
{
	struct vj_error *err = NULL;
	char *name = NULL;
	uint32_t maj, min;
	struct host h;

	host_init(&h, host);
	assert_true(vj_vfio_cdev(&h.roots, pci, &name, &maj, &min, &err) < 0);
	assert_null(name);
	assert_err(err, VJ_EXIT_SETUP, object);
	assert_contains(err->message, needle);
	vj_error_free(err);
}

static void test_cdev_errors(void **state)
{
	struct vj_error *err = NULL;
	char *name = NULL;
	uint32_t maj, min;
	struct host h;
	(void)state;

	host_init(&h, "no-cdev");
	assert_true(vj_vfio_cdev(&h.roots, "0000:05:00.0", &name, &maj, &min, &err) < 0);
	assert_err(err, VJ_EXIT_SETUP, "0000:05:00.0");
	assert_string_equal(err->message, "this kernel has no VFIO cdev for 0000:05:00.0");
	assert_string_equal(err->hint,
			    "use backend legacy, or a kernel built with CONFIG_VFIO_DEVICE_CDEV");
	vj_error_free(err);
	err = NULL;

	/* Not bound to vfio: the kernel is not to blame. */
	expect_cdev_error("legacy-only", "0000:08:00.0", "0000:08:00.0",
			  "0000:08:00.0 is bound to e1000e, not to a VFIO driver");
	expect_cdev_error("gpu-iommufd", "0009:42:00.0", "0009:42:00.0", "no such PCI device");

	host_init(&h, "broken");
	{
		_cleanup_free_ char *devfile =
			pathf("%s/bus/pci/devices/0000:0c:00.0/vfio-dev/vfio7/dev", h.sys);
		_cleanup_free_ char *two = pathf("%s/bus/pci/devices/0000:0d:00.0/vfio-dev", h.sys);
		_cleanup_free_ char *odd = pathf("%s/bus/pci/devices/0000:0e:00.0/vfio-dev", h.sys);
		expect_cdev_error("broken", "0000:0c:00.0", devfile, "\"not-a-devnum\"");
		expect_cdev_error("broken", "0000:0d:00.0", two, "2 entries");
		expect_cdev_error("broken", "0000:0e:00.0", odd, "\"noiommu-vfio5\"");
	}
}

static void test_group_devnum(void **state)
{
	static const struct {
		const char *host;
		int group;
		uint32_t minor;
	} want[] = {
		{ "gpu-iommufd", 14, 0 }, { "gpu-iommufd", 15, 1 }, { "group-shared", 7, 0 },
		{ "no-cdev", 3, 3 },      { "legacy-only", 9, 9 },
	};
	struct vj_error *err = NULL;
	struct host h;
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		uint32_t maj = 0, min = 99;
		host_init(&h, want[i].host);
		assert_int_equal(vj_vfio_group_devnum(&h.roots, want[i].group, &maj, &min, &err), 0);
		assert_int_equal(maj, 241);
		assert_int_equal(min, want[i].minor);
	}
	assert_null(err);
}

static void test_group_devnum_errors(void **state)
{
	struct vj_error *err = NULL;
	uint32_t maj, min;
	struct host h;
	(void)state;

	/* Group 10 holds an e1000e device: VFIO made no group node for it. */
	host_init(&h, "legacy-only");
	{
		_cleanup_free_ char *path = pathf("%s/class/vfio/10/dev", h.sys);
		assert_true(vj_vfio_group_devnum(&h.roots, 10, &maj, &min, &err) < 0);
		assert_err(err, VJ_EXIT_SETUP, path);
		assert_contains(err->message, "IOMMU group 10");
		assert_contains(err->message, path);
		assert_int_equal(err->errnum, ENOENT);
		assert_contains(err->hint, "vfio-pci");
		vj_error_free(err);
		err = NULL;
	}

	host_init(&h, "broken"); /* class/vfio/21/dev holds "241:x" */
	{
		_cleanup_free_ char *path = pathf("%s/class/vfio/21/dev", h.sys);
		assert_true(vj_vfio_group_devnum(&h.roots, 21, &maj, &min, &err) < 0);
		assert_err(err, VJ_EXIT_SETUP, path);
		assert_contains(err->message, "\"241:x\"");
		vj_error_free(err);
		err = NULL;
	}

	assert_true(vj_vfio_group_devnum(&h.roots, -3, &maj, &min, &err) < 0);
	assert_err(err, VJ_EXIT_SETUP, NULL);
	assert_contains(err->message, "-3");
	vj_error_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roots),
		cmocka_unit_test(test_misc_devnum),
		cmocka_unit_test_setup_teardown(test_dev_stat, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_mkdevroot_matches_sysfs, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_mkdevroot_refuses, tmp_setup, tmp_teardown),
		cmocka_unit_test(test_pci_gpu),
		cmocka_unit_test(test_pci_other_hosts),
		cmocka_unit_test(test_pci_missing),
		cmocka_unit_test(test_pci_garbage),
		cmocka_unit_test_setup_teardown(test_pci_resource_too_big, tmp_setup,
						tmp_teardown),
		cmocka_unit_test(test_driver_kinds),
		cmocka_unit_test(test_group_viable),
		cmocka_unit_test(test_group_not_viable),
		cmocka_unit_test(test_cdev),
		cmocka_unit_test(test_cdev_errors),
		cmocka_unit_test(test_group_devnum),
		cmocka_unit_test(test_group_devnum_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
