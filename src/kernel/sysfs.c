/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading sysfs, procfs and /dev under the overridable roots. */
#include "sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util.h"

static const char *root_or(const char *root, const char *fallback)
{
	return root && *root ? root : fallback;
}

const char *vj_root_sysfs(const struct vj_roots *r)
{
	return root_or(r ? r->sysfs : NULL, "/sys");
}

const char *vj_root_proc(const struct vj_roots *r)
{
	return root_or(r ? r->proc : NULL, "/proc");
}

const char *vj_root_dev(const struct vj_roots *r)
{
	return root_or(r ? r->dev : NULL, "/dev");
}

/* A single path component: no '/', not "." or "..", not empty. */
static bool is_plain_name(const char *name)
{
	return name && *name && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

int vj_sysfs_misc_devnum(const struct vj_roots *r, const char *name, uint32_t *major,
			 uint32_t *minor)
{
	_cleanup_free_ char *rel = NULL, *path = NULL, *text = NULL;
	int ret;

	if (!is_plain_name(name))
		return -EINVAL;
	rel = vj_strdupf("class/misc/%s/dev", name);
	if (!rel)
		return -ENOMEM;
	path = vj_path_join(vj_root_sysfs(r), rel);
	if (!path)
		return -ENOMEM;
	ret = vj_read_file(path, 64, &text);
	if (ret < 0)
		return ret;
	return vj_parse_devnum(text, major, minor);
}

/* "/dev/x/y" -> "x/y"; NULL when the path is not strictly under /dev or
 * walks out of it with "..". */
static const char *dev_relative(const char *dev_path)
{
	const char *rel, *p;

	if (!dev_path || strncmp(dev_path, "/dev/", 5) != 0)
		return NULL;
	rel = dev_path + 5;
	while (*rel == '/')
		rel++;
	if (!*rel)
		return NULL;
	for (p = rel; p; p = strchr(p, '/')) {
		while (*p == '/')
			p++;
		if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
			return NULL;
	}
	return rel;
}

/* The kernel's getxattrat(2) (Linux 6.13, fs/xattr.c): one number on every
 * architecture, from the shared syscall table; its argument block is struct
 * xattr_args (include/uapi/linux/xattr.h), 16 bytes in its first version. */
#ifndef SYS_getxattrat
#define SYS_getxattrat 464
#endif
struct vj_xattr_args {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};
_Static_assert(sizeof(struct vj_xattr_args) == 16, "XATTR_ARGS_SIZE_VER0");

#define ACL_XATTR "system.posix_acl_access"

void vj_dev_lookup_init(struct vj_dev_lookup *c, const struct vj_roots *r)
{
	*c = (struct vj_dev_lookup){ .roots = r, .root_fd = -1, .dir_fd = -1 };
}

static void lookup_forget_dir(struct vj_dev_lookup *c)
{
	closep(&c->dir_fd);
	c->dir_fd = -1;
	free(c->dir);
	c->dir = NULL;
}

void vj_dev_lookup_done(struct vj_dev_lookup *c)
{
	lookup_forget_dir(c);
	closep(&c->root_fd);
	c->root_fd = -1;
}

/* The directory @dir (relative to the root, "" for the root itself), opened
 * without following a symlink anywhere on the way; kept for the next node. */
static int lookup_dir(struct vj_dev_lookup *c, const char *dir, size_t len)
{
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, /* a symlink: ELOOP */
				.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH };
	_cleanup_free_ char *rel = NULL;
	int fd;

	if (c->root_fd < 0) {
		c->root_fd = open(vj_root_dev(c->roots), O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (c->root_fd < 0)
			return -1;
	}
	if (len == 0)
		return c->root_fd;
	if (c->dir_fd >= 0 && strlen(c->dir) == len && !strncmp(c->dir, dir, len))
		return c->dir_fd;
	lookup_forget_dir(c);
	rel = strndup(dir, len);
	if (!rel)
		return -1;
	fd = (int)syscall(SYS_openat2, c->root_fd, rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		c->no_openat2 = true;
	if (fd < 0)
		return -1;
	c->dir_fd = fd;
	c->dir = TAKE_PTR(rel);
	return fd;
}

/* lstat @rel under the root, refusing a symlink in any of its components (ELOOP,
 * or a symlink's own stat for the last one), so that "/dev/dir/node" cannot reach
 * through a symlinked directory (into /proc's magic links, say). */
static int lookup_lstat(struct vj_dev_lookup *c, const char *rel, struct stat *st)
{
	const char *slash = strrchr(rel, '/');
	size_t len = slash ? (size_t)(slash - rel) : 0;
	int dirfd;

	if (!c->no_openat2) {
		dirfd = lookup_dir(c, rel, len);
		if (dirfd >= 0)
			return fstatat(dirfd, slash ? slash + 1 : rel, st, AT_SYMLINK_NOFOLLOW);
		if (!c->no_openat2)
			return -1;
	}
	{
		_cleanup_free_ char *path = vj_path_join(vj_root_dev(c->roots), rel);
		if (!path) {
			errno = ENOMEM;
			return -1;
		}
		return lstat(path, st); /* before Linux 5.6 */
	}
}

int vj_dev_lookup_stat(struct vj_dev_lookup *c, const char *dev_path, struct vj_devnode_stat *out)
{
	const char *rel = dev_relative(dev_path);
	struct stat st;

	if (!rel)
		return -EINVAL;
	if (lookup_lstat(c, rel, &st) < 0)
		return errno == ELOOP ? -ENODEV : -errno;
	if (S_ISCHR(st.st_mode))
		out->type = 'c';
	else if (S_ISBLK(st.st_mode))
		out->type = 'b';
	else
		return -ENODEV; /* a symlink, directory, regular file, fifo, socket */
	out->major = major(st.st_rdev);
	out->minor = minor(st.st_rdev);
	out->mode = st.st_mode & 07777;
	out->uid = st.st_uid;
	out->gid = st.st_gid;
	return 0;
}

/* Size of the ACL attribute of @rel, or -1 with errno. */
static ssize_t lookup_acl_size(struct vj_dev_lookup *c, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	struct vj_xattr_args args = { 0 };
	_cleanup_free_ char *path = NULL;
	ssize_t r;

	if (!c->no_xattrat && !c->no_openat2) {
		int dirfd = lookup_dir(c, rel, slash ? (size_t)(slash - rel) : 0);
		if (dirfd < 0)
			return -1;
		r = syscall(SYS_getxattrat, dirfd, slash ? slash + 1 : rel, AT_SYMLINK_NOFOLLOW,
			    ACL_XATTR, &args, sizeof(args));
		if (r >= 0 || errno != ENOSYS)
			return r;
		c->no_xattrat = true;
	}
	path = vj_path_join(vj_root_dev(c->roots), rel);
	if (!path) {
		errno = ENOMEM;
		return -1;
	}
	return lgetxattr(path, ACL_XATTR, NULL, 0);
}

bool vj_dev_lookup_has_acl(struct vj_dev_lookup *c, const char *dev_path)
{
	const char *rel = dev_relative(dev_path);

	if (!rel)
		return true;
	if (lookup_acl_size(c, rel) >= 0)
		return true;
	return errno != ENODATA && errno != ENOTSUP;
}
