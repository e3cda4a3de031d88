/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading sysfs, procfs and /dev under the overridable roots. */
#include "sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* lstat @rel under @root, refusing a symlink in any of its components (ELOOP), so
 * that "/dev/dir/node" cannot reach through a symlinked directory (into /proc's magic
 * links, say).  A single component needs no more than lstat of @path. */
static int lstat_beneath(const char *root, const char *rel, const char *path, struct stat *st)
{
	struct open_how how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
				.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH };
	_cleanup_close_ int dirfd = -1, fd = -1;

	if (!strchr(rel, '/'))
		return lstat(path, st);
	dirfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -1;
	fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		return lstat(path, st); /* before Linux 5.6 */
	if (fd < 0)
		return -1;
	return fstat(fd, st);
}

int vj_dev_stat(const struct vj_roots *r, const char *dev_path, struct vj_devnode_stat *out)
{
	_cleanup_free_ char *path = NULL;
	const char *rel = dev_relative(dev_path);
	struct stat st;

	if (!rel)
		return -EINVAL;
	path = vj_path_join(vj_root_dev(r), rel);
	if (!path)
		return -ENOMEM;
	if (lstat_beneath(vj_root_dev(r), rel, path, &st) < 0)
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
