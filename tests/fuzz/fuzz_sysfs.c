/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sysfs readers on a small tree the input describes, built afresh in a
 * temporary directory for each input and removed afterwards.
 *
 * The input is a list of fields separated by lines holding only "%%":
 *   0  switches: letters that change the tree's shape
 *        D  the PCI device directory is a regular file
 *        L  resource is a symlink to itself (ELOOP)
 *        R  resource is a directory
 *        H  resource is field 1 repeated past 64 KiB
 *        F  vfio-dev is a regular file
 *        V  vfio-dev is a symlink to its own device directory (a loop)
 *        G  the group's devices directory is a symlink to itself
 *   1  resource of the PCI device 0009:06:00.0 (absent when the field is)
 *   2  target of its driver link (no link when empty)
 *   3  target of its iommu_group link (no link when empty)
 *   4  entries of its vfio-dev directory, one name a line
 *   5  the "dev" file of the first vfio-dev entry
 *   6  class/vfio/G/dev, G being the group the device reports (or 14)
 *   7  class/misc/iommu/dev
 *   8  members of the group, "ADDRESS DRIVER" a line (no driver link when
 *      DRIVER is missing)
 *   9  a misc device name to look up besides "iommu"
 * Names that are not single path components are skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "pci.h"
#include "sysfs.h"
#include "vfio.h"

#define N_FIELDS 10
#define PCI "0009:06:00.0"

struct field {
	const char *s; /* NULL when the input has fewer fields */
	size_t len;
};

static char base[PATH_MAX];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 ? -1 : 0;
	return unlink(path) < 0 ? -1 : 0;
}

static void rm_tree(const char *path)
{
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		abort(); /* a tree left behind would skew the next input */
}

static void remove_base(void)
{
	rm_tree(base);
}

static const char *tree_root(void)
{
	if (!base[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(base, sizeof(base), "%s/vj-fuzz-sysfs.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(base))
			abort();
		atexit(remove_base);
	}
	return base;
}

/* Split at lines that are exactly "%%". */
static void split(char *text, size_t size, struct field f[N_FIELDS])
{
	char *p = text, *end = text + size;
	int i = 0;

	memset(f, 0, sizeof(struct field) * N_FIELDS);
	while (i < N_FIELDS) {
		char *sep = memmem(p, (size_t)(end - p), "\n%%\n", 4);
		f[i].s = p;
		f[i].len = sep ? (size_t)(sep - p) : (size_t)(end - p);
		i++;
		if (!sep)
			break;
		*sep = '\0';
		p = sep + 4;
	}
}

static bool has(const struct field *sw, char c)
{
	return sw->s && memchr(sw->s, c, sw->len);
}

static bool component_ok(const char *s, size_t len)
{
	return len > 0 && len < 200 && !memchr(s, '/', len) && !memchr(s, '\0', len) &&
	       !(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.');
}

static void put(const char *dir, const char *name, const char *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (len && write(fd, data, len) < 0) {
		/* a short tree is still a tree */
	}
	close(fd);
}

static void mkdirs(const char *root, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

static void link_to(const char *dir, const char *name, const struct field *target)
{
	char path[PATH_MAX], t[PATH_MAX];

	if (!target->s || !target->len || target->len >= sizeof(t))
		return;
	memcpy(t, target->s, target->len);
	t[target->len] = '\0';
	if (strlen(t) != target->len)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	(void)symlink(t, path);
}

/* Field 4: the vfio-dev entries; the first gets field 5 as its dev file. */
static void build_vfio_dev(const char *devdir, const struct field *f)
{
	char dir[PATH_MAX], sub[PATH_MAX];
	const char *line = f[4].s, *end = f[4].s + f[4].len;
	bool first = true;

	snprintf(dir, sizeof(dir), "%s/vfio-dev", devdir);
	mkdir(dir, 0755);
	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		size_t len = eol ? (size_t)(eol - line) : (size_t)(end - line);

		if (component_ok(line, len)) {
			snprintf(sub, sizeof(sub), "%s/%.*s", dir, (int)len, line);
			if (mkdir(sub, 0755) == 0 && first && f[5].s)
				put(sub, "dev", f[5].s, f[5].len);
			first = false;
		}
		line += len + 1;
	}
}

/* Field 8: "ADDRESS DRIVER" lines under kernel/iommu_groups/G/devices. */
static void build_group(const char *root, int group, const struct field *f, bool loop)
{
	char dir[PATH_MAX], member[PATH_MAX], rel[64];
	const char *line = f[8].s, *end = f[8].s + f[8].len;

	snprintf(rel, sizeof(rel), "kernel/iommu_groups/%d", group);
	mkdirs(root, rel);
	snprintf(dir, sizeof(dir), "%s/%s/devices", root, rel);
	if (loop) {
		(void)symlink("devices", dir);
		return;
	}
	mkdir(dir, 0755);
	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		size_t len = eol ? (size_t)(eol - line) : (size_t)(end - line);
		const char *sp = memchr(line, ' ', len);
		size_t alen = sp ? (size_t)(sp - line) : len;

		if (component_ok(line, alen)) {
			snprintf(member, sizeof(member), "%s/%.*s", dir, (int)alen, line);
			if (mkdir(member, 0755) == 0 && sp) {
				struct field drv = { sp + 1, len - alen - 1 };
				link_to(member, "driver", &drv);
			}
		}
		line += len + 1;
	}
}

static void build_resource(const char *devdir, const struct field *f)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/resource", devdir);
	if (has(&f[0], 'L')) {
		(void)symlink("resource", path);
	} else if (has(&f[0], 'R')) {
		mkdir(path, 0755);
	} else if (has(&f[0], 'H') && f[1].len) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		for (size_t n = 0; fd >= 0 && n <= 64 * 1024; n += f[1].len)
			if (write(fd, f[1].s, f[1].len) < 0)
				break;
		if (fd >= 0)
			close(fd);
	} else if (f[1].s) {
		put(devdir, "resource", f[1].s, f[1].len);
	}
}

static void build_tree(const char *root, const struct field *f, int group)
{
	char devdir[PATH_MAX], path[PATH_MAX];

	mkdirs(root, "bus/pci/devices");
	snprintf(devdir, sizeof(devdir), "%s/bus/pci/devices/" PCI, root);
	if (has(&f[0], 'D')) {
		put(root, "bus/pci/devices/" PCI, "", 0);
	} else {
		mkdir(devdir, 0755);
		build_resource(devdir, f);
		link_to(devdir, "driver", &f[2]);
		link_to(devdir, "iommu_group", &f[3]);
		snprintf(path, sizeof(path), "%s/vfio-dev", devdir);
		if (has(&f[0], 'F'))
			put(devdir, "vfio-dev", "", 0);
		else if (has(&f[0], 'V'))
			(void)symlink(".", path);
		else if (f[4].s)
			build_vfio_dev(devdir, f);
	}
	if (f[6].s) {
		snprintf(path, sizeof(path), "class/vfio/%d", group);
		mkdirs(root, path);
		snprintf(path, sizeof(path), "%s/class/vfio/%d", root, group);
		put(path, "dev", f[6].s, f[6].len);
	}
	if (f[7].s) {
		mkdirs(root, "class/misc/iommu");
		snprintf(path, sizeof(path), "%s/class/misc/iommu", root);
		put(path, "dev", f[7].s, f[7].len);
	}
	if (f[8].s)
		build_group(root, group, f, has(&f[0], 'G'));
}

/* The group number the iommu_group link names, as the reader would take it. */
static int group_of(const struct field *f)
{
	const char *s = f[3].s, *end, *slash;
	long v = 0;

	if (!s || !f[3].len)
		return 14;
	end = s + f[3].len;
	while (end > s + 1 && end[-1] == '/')
		end--;
	slash = memrchr(s, '/', (size_t)(end - s));
	s = slash ? slash + 1 : s;
	if (s == end)
		return 14;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9' || v > 100000)
			return 14;
		v = v * 10 + (*s - '0');
	}
	return (int)v;
}

static void check_devnum(int r, struct vj_error *err, uint32_t major, uint32_t minor)
{
	FUZZ_ASSERT((r == 0) == (err == NULL));
	if (r == 0)
		FUZZ_ASSERT(major < (1u << 12) && minor < (1u << 20));
	else
		FUZZ_ASSERT(err->status == VJ_EXIT_SETUP);
	fuzz_consume_error(err);
}

static void run_readers(const char *root, const struct field *f)
{
	struct vj_roots roots = { .sysfs = root };
	struct vj_pci_device dev = { 0 };
	struct vj_error *err = NULL;
	char *name = NULL, **members = NULL, misc[200];
	uint32_t major = 0, minor = 0;
	size_t n = 0;
	int group = 14, r;

	r = vj_pci_device_read(&roots, PCI, &dev, &err);
	FUZZ_ASSERT((r == 0) == (err == NULL));
	if (r == 0) {
		group = dev.iommu_group >= 0 ? dev.iommu_group : 14;
		for (size_t i = 0; i < dev.n_bars; i++)
			FUZZ_ASSERT(dev.bars[i].index < 6 && dev.bars[i].size > 0);
		FUZZ_ASSERT(!dev.driver || (*dev.driver && !strchr(dev.driver, '/')));
	}
	vj_pci_device_clear(&dev);
	fuzz_consume_error(err);
	err = NULL;

	r = vj_vfio_cdev(&roots, PCI, &name, &major, &minor, &err);
	if (r == 0)
		FUZZ_ASSERT(name && !strncmp(name, "vfio", 4));
	free(name);
	check_devnum(r, err, major, minor);
	err = NULL;

	r = vj_vfio_group_check_viable(&roots, group, PCI, &err);
	FUZZ_ASSERT((r == 0) == (err == NULL));
	fuzz_consume_error(err);
	err = NULL;

	r = vj_vfio_group_members(&roots, group, &members, &n, &err);
	FUZZ_ASSERT((r == 0) == (err == NULL));
	for (size_t i = 0; i < n; i++)
		free(members[i]);
	free(members);
	fuzz_consume_error(err);
	err = NULL;

	r = vj_vfio_group_devnum(&roots, group, &major, &minor, &err);
	check_devnum(r, err, major, minor);

	r = vj_sysfs_misc_devnum(&roots, "iommu", &major, &minor);
	FUZZ_ASSERT(r <= 0);
	if (r == 0)
		FUZZ_ASSERT(major < (1u << 12) && minor < (1u << 20));
	if (f[9].s && f[9].len < sizeof(misc)) {
		memcpy(misc, f[9].s, f[9].len);
		misc[f[9].len] = '\0';
		r = vj_sysfs_misc_devnum(&roots, misc, &major, &minor);
		FUZZ_ASSERT(r <= 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size), root[PATH_MAX];
	struct field f[N_FIELDS];

	split(text, size, f);
	snprintf(root, sizeof(root), "%s/sys", tree_root());
	mkdir(root, 0755);
	build_tree(root, f, group_of(f));
	run_readers(root, f);
	rm_tree(root);
	free(text);
	return 0;
}
