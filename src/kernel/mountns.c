/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The jail's /dev, built in the launch child's own mount namespace.
 *
 * Everything that reads the host (the kept pts/shm/mqueue directories, the
 * host nodes' ACLs) happens before the target is covered, since covering the
 * host's /dev hides it.  Everything is then created relative to an O_PATH fd
 * of the fresh tmpfs, one component at a time, refusing symlinks and mount
 * crossings.  Nothing is undone on failure: the namespace dies with the child.
 */
#include "mountns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/acl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <acl/libacl.h>

#include "dlib.h"
#include "error.h"
#include "util.h"

#define STEP "mountns"
#define JAIL_DEV "/dev/"
#define TMPFS_OPTS "mode=0755,size=512k"
#define FD_PATH_MAX 32

/* Host directories bound into the jail's /dev when the dev root has them. */
static const char *const kept_names[] = { "pts", "shm", "mqueue" }; /* pts first: KEPT_PTS */
#define KEPT_PTS 0
#define N_KEPT ARRAY_SIZE(kept_names)

/* First components a node may not use: kept mounts and the links we make. */
static const char *const reserved_names[] = { "pts",   "shm",    "mqueue", "fd",
					      "stdin", "stdout", "stderr" };

struct kept_fds {
	int fd[N_KEPT];
};

static void kept_fds_close(struct kept_fds *k)
{
	for (size_t i = 0; i < N_KEPT; i++)
		closep(&k->fd[i]);
}

/*
 * libacl is loaded when a host node has an ACL to copy (a plan marks it), not at
 * every start: most launches copy none.
 */
static struct {
	typeof(acl_get_file) *get_file;
	typeof(acl_set_file) *set_file;
	typeof(acl_equiv_mode) *equiv_mode;
	typeof(acl_free) *free;
} xacl;

static const struct vj_dlib_sym xacl_syms[] = {
	VJ_DLIB_SYM(xacl, get_file, acl_get_file),
	VJ_DLIB_SYM(xacl, set_file, acl_set_file),
	VJ_DLIB_SYM(xacl, equiv_mode, acl_equiv_mode),
	VJ_DLIB_SYM(xacl, free, acl_free),
};

/* The ABI of <sys/acl.h>: libacl.so.1 since libacl 2.2. */
static struct vj_dlib libacl = VJ_DLIB("libacl.so.1", "libacl1", xacl_syms);

struct acl_list {
	acl_t *acl;
	size_t n;
};

static void acl_list_free(struct acl_list *l)
{
	for (size_t i = 0; l->acl && i < l->n; i++)
		if (l->acl[i])
			xacl.free(l->acl[i]);
	free(l->acl);
}

static void fd_path(char buf[static FD_PATH_MAX], int fd)
{
	snprintf(buf, FD_PATH_MAX, "/proc/self/fd/%d", fd);
}

int vj_mountns_enter(struct vj_error **err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return vj_err_sys(err, STEP, "mount namespace", errno, "vfiojail needs CAP_SYS_ADMIN",
				  "cannot create a mount namespace");
	/* Host mounts still reach us; ours never reach the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return vj_err_sys(err, STEP, "/", errno, NULL,
				  "cannot make the mounts of the new namespace slaves");
	return 0;
}

/* ---- checking the plan's paths before anything is touched ---------------- */

static bool is_reserved(const char *first, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(reserved_names); i++)
		if (strlen(reserved_names[i]) == len && memcmp(reserved_names[i], first, len) == 0)
			return true;
	return false;
}

/* "/dev/a/b" with no empty, "." or ".." component and no trailing slash. */
static int check_node_path(const char *path, struct vj_error **err)
{
	const char *rel, *p;
	size_t first_len;

	if (!path || strncmp(path, JAIL_DEV, strlen(JAIL_DEV)) != 0)
		return vj_err_sys(err, STEP, path ? path : "(null)", EINVAL, NULL,
				  "node path '%s' is not under /dev/", path ? path : "(null)");
	if (strlen(path) >= PATH_MAX)
		return vj_err_sys(err, STEP, path, ENAMETOOLONG, NULL, "node path is too long");
	rel = path + strlen(JAIL_DEV);
	for (p = rel;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return vj_err_sys(err, STEP, path, EINVAL, NULL,
					  "node path '%s' is not a normalized absolute path", path);
		if (len > NAME_MAX)
			return vj_err_sys(err, STEP, path, ENAMETOOLONG, NULL,
					  "a component of node path '%s' is too long", path);
		if (!slash)
			break;
		p = slash + 1;
	}
	first_len = strcspn(rel, "/");
	if (is_reserved(rel, first_len) || (first_len == 4 && !strncmp(rel, "ptmx/", 5)))
		return vj_err_sys(err, STEP, path, EINVAL, NULL,
				  "node path '%s' lies in /dev/%.*s, which vfiojail provides itself",
				  path, (int)first_len, rel);
	return 0;
}

static int check_node(const struct vj_node *node, struct vj_error **err)
{
	if (check_node_path(node->path, err) < 0)
		return -1;
	if (node->type != 'c' && node->type != 'b')
		return vj_err_sys(err, STEP, node->path, EINVAL, NULL,
				  "node type '%c' is neither 'c' nor 'b'", node->type ? node->type : '?');
	if (node->major >= (1u << 12) || node->minor >= (1u << 20))
		return vj_err_sys(err, STEP, node->path, ERANGE, NULL,
				  "device number %u:%u is out of range", node->major, node->minor);
	if (node->mode & ~(mode_t)0777)
		return vj_err_sys(err, STEP, node->path, EINVAL, NULL,
				  "mode %04o has bits beyond rwxrwxrwx", (unsigned)node->mode);
	return 0;
}

/* ---- reading the host ---------------------------------------------------- */

static int open_kept(const char *dev_root, struct kept_fds *k, struct vj_error **err)
{
	_cleanup_close_ int root = open(dev_root, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (root < 0)
		return vj_err_sys(err, STEP, dev_root, errno, NULL, "cannot open the dev root");
	for (size_t i = 0; i < N_KEPT; i++) {
		k->fd[i] = openat(root, kept_names[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (k->fd[i] >= 0 || errno == ENOENT)
			continue;
		{
			int e = errno;
			_cleanup_free_ char *p = vj_path_join(dev_root, kept_names[i]);
			return vj_err_sys(err, STEP, p ? p : kept_names[i], e,
					  "it must be a plain directory (or absent)",
					  "cannot keep %s: not a directory, or a symlink", kept_names[i]);
		}
	}
	return 0;
}

static bool host_node_matches(const struct stat *st, const struct vj_node *node)
{
	bool type_ok = node->type == 'c' ? S_ISCHR(st->st_mode) : S_ISBLK(st->st_mode);

	return type_ok && major(st->st_rdev) == node->major && minor(st->st_rdev) == node->minor;
}

/* The host node's access ACL when it has entries beyond owner/group/other. */
static int load_host_acl(const struct vj_node *node, acl_t *out, struct vj_error **err)
{
	_cleanup_close_ int fd = -1;
	char p[FD_PATH_MAX];
	struct stat st;
	acl_t acl;

	*out = NULL;
	/* Most nodes have no ACL: an lstat that checks the node and an lgetxattr say
	 * so, and only a node that has one is opened, checked again and read. */
	if (lstat(node->host_path, &st) == 0 && host_node_matches(&st, node) &&
	    lgetxattr(node->host_path, "system.posix_acl_access", NULL, 0) < 0 &&
	    (errno == ENODATA || errno == ENOTSUP))
		return 0;
	fd = open(node->host_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return vj_err_sys(err, STEP, node->host_path, errno, NULL,
				  "cannot open the host node of %s to copy its ACL", node->path);
	if (fstat(fd, &st) < 0)
		return vj_err_sys(err, STEP, node->host_path, errno, NULL, "cannot stat host node");
	if (!host_node_matches(&st, node))
		return vj_err_sys(err, STEP, node->host_path, 0,
				  "the host node changed since the plan was made, or is a symlink",
				  "host node is not %s device %u:%u, refusing to copy its ACL to %s",
				  node->type == 'c' ? "character" : "block", node->major,
				  node->minor, node->path);
	if (vj_dlib_load(&libacl, "to copy the ACL of a host node", err) < 0)
		return -1;
	fd_path(p, fd);
	acl = xacl.get_file(p, ACL_TYPE_ACCESS);
	if (!acl) {
		if (errno == ENOTSUP)
			return 0; /* the host file system keeps no ACLs */
		return vj_err_sys(err, STEP, node->host_path, errno, NULL,
				  "cannot read the ACL of the host node");
	}
	if (xacl.equiv_mode(acl, NULL) == 0) {
		xacl.free(acl);
		return 0;
	}
	*out = acl;
	return 0;
}

static int load_host_acls(const struct vj_node *nodes, size_t n, struct acl_list *l,
			  struct vj_error **err)
{
	l->acl = calloc(n ? n : 1, sizeof(*l->acl));
	if (!l->acl)
		return vj_err_sys(err, STEP, NULL, ENOMEM, NULL, "out of memory");
	l->n = n;
	for (size_t i = 0; i < n; i++)
		if (nodes[i].copy_acl && nodes[i].host_path &&
		    load_host_acl(&nodes[i], &l->acl[i], err) < 0)
			return -1;
	return 0;
}

/* ---- building the new /dev ------------------------------------------------ */

static int mount_tmpfs(const char *target, int *devfd, dev_t *dev, struct vj_error **err)
{
	_cleanup_close_ int fd = -1;
	struct statfs sfs;
	struct stat st;

	if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NOEXEC, TMPFS_OPTS) < 0)
		return vj_err_sys(err, STEP, target, errno, NULL, "cannot mount a tmpfs (%s)",
				  TMPFS_OPTS);
	fd = open(target, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return vj_err_sys(err, STEP, target, errno, NULL, "cannot open the new tmpfs");
	if (fstatfs(fd, &sfs) < 0 || fstat(fd, &st) < 0)
		return vj_err_sys(err, STEP, target, errno, NULL, "cannot stat the new tmpfs");
	if (sfs.f_type != TMPFS_MAGIC)
		return vj_err_sys(err, STEP, target, 0, NULL,
				  "the target is not the tmpfs just mounted (a symlink?)");
	*dev = st.st_dev;
	*devfd = TAKE_FD(fd);
	return 0;
}

/* mkdir (0755, root) unless present; open it, refusing symlinks and other mounts. */
static int open_subdir(int parent, const char *name, dev_t dev, const char *obj, int *out,
		       struct vj_error **err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (mkdirat(parent, name, 0755) == 0) {
		if (fchmodat(parent, name, 0755, 0) < 0) /* undo the umask */
			return vj_err_sys(err, STEP, obj, errno, NULL, "cannot chmod directory %s",
					  name);
	} else if (errno != EEXIST) {
		return vj_err_sys(err, STEP, obj, errno, NULL, "cannot create directory %s", name);
	}
	fd = openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return vj_err_sys(err, STEP, obj, errno, NULL,
				  "cannot open %s as a directory (a node or a symlink is there)",
				  name);
	if (fstat(fd, &st) < 0)
		return vj_err_sys(err, STEP, obj, errno, NULL, "cannot stat directory %s", name);
	if (st.st_dev != dev)
		return vj_err_sys(err, STEP, obj, EXDEV, NULL,
				  "directory %s is another mount, refusing to create under it", name);
	*out = TAKE_FD(fd);
	return 0;
}

static int bind_kept(int devfd, dev_t dev, const char *target, const struct kept_fds *k,
		     struct vj_error **err)
{
	for (size_t i = 0; i < N_KEPT; i++) {
		_cleanup_free_ char *obj = NULL;
		_cleanup_close_ int dst = -1;
		char src_p[FD_PATH_MAX], dst_p[FD_PATH_MAX];

		if (k->fd[i] < 0)
			continue;
		obj = vj_path_join(target, kept_names[i]);
		if (!obj)
			return vj_err_sys(err, STEP, kept_names[i], ENOMEM, NULL, "out of memory");
		if (open_subdir(devfd, kept_names[i], dev, obj, &dst, err) < 0)
			return -1;
		fd_path(src_p, k->fd[i]);
		fd_path(dst_p, dst);
		if (mount(src_p, dst_p, NULL, MS_BIND | MS_REC, NULL) < 0)
			return vj_err_sys(err, STEP, obj, errno, NULL,
					  "cannot bind the host's %s into the new /dev",
					  kept_names[i]);
	}
	return 0;
}

/* Walk "a/b/c" below @devfd: create and open a and a/b, leave "c" in *leaf. */
static int open_parent(int devfd, dev_t dev, const char *path, int *out, const char **leaf,
		       struct vj_error **err)
{
	_cleanup_close_ int cur = -1;
	const char *p = path + strlen(JAIL_DEV);

	for (;;) {
		const char *slash = strchr(p, '/');
		char name[NAME_MAX + 1];
		int next;

		if (!slash)
			break;
		snprintf(name, sizeof(name), "%.*s", (int)(slash - p), p);
		if (open_subdir(cur >= 0 ? cur : devfd, name, dev, path, &next, err) < 0)
			return -1;
		closep(&cur);
		cur = next;
		p = slash + 1;
	}
	*leaf = p;
	*out = cur >= 0 ? TAKE_FD(cur) : -1;
	return 0;
}

static int set_node_acl(int dir, const char *leaf, acl_t acl, const char *obj,
			struct vj_error **err)
{
	_cleanup_close_ int fd = openat(dir, leaf, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	char p[FD_PATH_MAX];

	if (fd < 0)
		return vj_err_sys(err, STEP, obj, errno, NULL, "cannot open the new node");
	fd_path(p, fd);
	if (xacl.set_file(p, ACL_TYPE_ACCESS, acl) < 0)
		return vj_err_sys(err, STEP, obj, errno, NULL,
				  "cannot copy the host node's ACL to the new node");
	return 0;
}

/*
 * mknod with no permission bits, chown, the host ACL, then chmod: the chmod
 * comes last so that it sets the ACL mask to the planned group bits, and
 * no ACL entry can grant more than the planned mode.
 */
/* The directory the previous node went into, kept open for the next one. */
struct parent_cache {
	char path[PATH_MAX]; /* "/dev/vfio/devices/" with its trailing slash */
	int fd;
};

static void parent_cache_close(struct parent_cache *c)
{
	closep(&c->fd);
	c->fd = -1;
	c->path[0] = '\0';
}

/*
 * mknod, chown, then, only when the host node has an ACL, the ACL and a chmod:
 * the chmod comes last so that it sets the ACL mask to the planned group bits,
 * and no ACL entry can grant more than the planned mode.  The node is made with
 * its final mode (the caller clears the umask): nothing else sees this tmpfs
 * before the VMM runs, so the moment it is root's does not matter.
 */
/* Owner, ACL and mode of the node @name in @dir, as planned. */
static int finish_node(int dir, const char *name, const struct vj_node *node, acl_t acl,
		       struct vj_error **err)
{
	if (fchownat(dir, name, node->uid, node->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return vj_err_sys(err, STEP, node->path, errno, NULL, "cannot chown to %u:%u",
				  (unsigned)node->uid, (unsigned)node->gid);
	if (!acl)
		return 0;
	if (set_node_acl(dir, name, acl, node->path, err) < 0)
		return -1;
	if (fchmodat(dir, name, node->mode, 0) < 0)
		return vj_err_sys(err, STEP, node->path, errno, NULL, "cannot chmod to %04o",
				  (unsigned)node->mode);
	return 0;
}

/*
 * mknod, owner, ACL, mode.  In a live jail (@atomic: hotplug) a running VMM may be
 * polling the path, so the node is finished under a hidden name and renamed into
 * place: it appears with its final owner, mode and ACL, or not at all.
 */
static int make_node(int devfd, dev_t dev, const struct vj_node *node, acl_t acl,
		     struct parent_cache *cache, bool atomic, struct vj_error **err)
{
	_cleanup_close_ int parent = -1;
	mode_t type = node->type == 'c' ? S_IFCHR : S_IFBLK;
	const char *leaf = strrchr(node->path, '/') + 1;
	size_t dirlen = (size_t)(leaf - node->path);
	char tmp[NAME_MAX + 1];
	const char *name = leaf;
	int dir, r;

	if (cache && cache->fd >= 0 && strlen(cache->path) == dirlen &&
	    !strncmp(cache->path, node->path, dirlen)) {
		dir = cache->fd;
	} else {
		if (open_parent(devfd, dev, node->path, &parent, &leaf, err) < 0)
			return -1;
		name = leaf;
		dir = parent >= 0 ? parent : devfd;
		if (cache && parent >= 0 && dirlen < sizeof(cache->path)) {
			parent_cache_close(cache);
			memcpy(cache->path, node->path, dirlen);
			cache->path[dirlen] = '\0';
			cache->fd = TAKE_FD(parent);
			dir = cache->fd;
		}
	}
	if (atomic) {
		if (faccessat(dir, leaf, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			return vj_err_sys(err, STEP, node->path, EEXIST, "the plan lists this path twice",
					  "cannot create %s device %u:%u",
					  node->type == 'c' ? "character" : "block", node->major, node->minor);
		snprintf(tmp, sizeof(tmp), ".vfiojail-new.%d", (int)getpid());
		name = tmp;
	}
	r = mknodat(dir, name, type | (acl ? 0 : node->mode), makedev(node->major, node->minor));
	if (r < 0 && errno == EEXIST && atomic) {
		/* A hidden node left by a crashed vfiojail of our pid: it goes. */
		(void)unlinkat(dir, tmp, 0);
		r = mknodat(dir, name, type | (acl ? 0 : node->mode), makedev(node->major, node->minor));
	}
	if (r < 0)
		return vj_err_sys(err, STEP, node->path, errno,
				  errno == EEXIST ? "the plan lists this path twice" : NULL,
				  "cannot create %s device %u:%u",
				  node->type == 'c' ? "character" : "block", node->major, node->minor);
	if (finish_node(dir, name, node, acl, err) < 0)
		goto fail;
	if (atomic && renameat2(dir, name, dir, leaf, RENAME_NOREPLACE) < 0) {
		vj_err_sys(err, STEP, node->path, errno, NULL, "cannot move the finished node into place");
		goto fail;
	}
	return 0;
fail:
	if (atomic)
		(void)unlinkat(dir, name, 0);
	return -1;
}

/* Make every node; the umask is cleared meanwhile so each gets its planned mode. */
static int make_nodes(int devfd, dev_t dev, const struct vj_node *nodes, size_t n,
		      const struct acl_list *acls, bool atomic, size_t *made, struct vj_error **err)
{
	struct parent_cache cache = { .fd = -1 };
	mode_t old = umask(0);
	int r = 0;

	for (*made = 0; *made < n; (*made)++)
		if ((r = make_node(devfd, dev, &nodes[*made], acls->acl[*made], &cache, atomic,
				   err)) < 0)
			break;
	parent_cache_close(&cache);
	umask(old);
	return r;
}

static int make_link(int devfd, const char *target, const char *name, const char *dest,
		     struct vj_error **err)
{
	_cleanup_free_ char *obj = NULL;

	if (symlinkat(dest, devfd, name) == 0)
		return 0;
	obj = vj_path_join(target, name);
	return vj_err_sys(err, STEP, obj ? obj : name, errno, NULL, "cannot link %s -> %s", name,
			  dest);
}

static bool plan_has_ptmx(const struct vj_node *nodes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(nodes[i].path, JAIL_DEV "ptmx") == 0)
			return true;
	return false;
}

static int make_links(int devfd, const char *target, bool pts_kept, bool ptmx_node,
		      struct vj_error **err)
{
	static const char *const links[][2] = {
		{ "fd", "/proc/self/fd" },
		{ "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" },
		{ "stderr", "/proc/self/fd/2" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(links); i++)
		if (make_link(devfd, target, links[i][0], links[i][1], err) < 0)
			return -1;
	if (pts_kept && !ptmx_node)
		return make_link(devfd, target, "ptmx", "pts/ptmx", err);
	return 0;
}

int vj_mountns_populate_dev(const struct vj_node *nodes, size_t n,
			    const struct vj_mountns_opts *o, struct vj_error **err)
{
	const char *dev_root = o && o->dev_root ? o->dev_root : "/dev";
	const char *target = o && o->target ? o->target : "/dev";
	_cleanup_(kept_fds_close) struct kept_fds kept = { { -1, -1, -1 } };
	_cleanup_(acl_list_free) struct acl_list acls = { NULL, 0 };
	_cleanup_close_ int devfd = -1;
	dev_t dev = 0;
	size_t made;

	for (size_t i = 0; i < n; i++)
		if (check_node(&nodes[i], err) < 0)
			return -1;
	if (open_kept(dev_root, &kept, err) < 0 || load_host_acls(nodes, n, &acls, err) < 0)
		return -1;
	if (mount_tmpfs(target, &devfd, &dev, err) < 0 || bind_kept(devfd, dev, target, &kept, err) < 0)
		return -1;
	/* A fresh /dev nobody sees yet: each node is made in place. */
	if (make_nodes(devfd, dev, nodes, n, &acls, false, &made, err) < 0)
		return -1;
	return make_links(devfd, target, kept.fd[KEPT_PTS] >= 0, plan_has_ptmx(nodes, n), err);
}

/* ---- hotplug: nodes added to and removed from a kept namespace ----------- */

#define MAX_DEPTH 32

/* The directories leading to a node, below the jail's /dev: fd[i] is name[i]
 * inside fd[i - 1] (inside the /dev fd for i = 0). */
struct dir_chain {
	int fd[MAX_DEPTH];
	char name[MAX_DEPTH][NAME_MAX + 1];
	size_t n;
};

static void dir_chain_close(struct dir_chain *c)
{
	for (size_t i = 0; i < c->n; i++)
		closep(&c->fd[i]);
	c->n = 0;
}

/* Open the existing parents of @path (never creating, never following a
 * symlink, never leaving the tmpfs): 0, 1 when one is missing, -1 on error. */
static int open_chain(int devfd, dev_t dev, const char *path, struct dir_chain *c,
		      const char **leaf, struct vj_error **err)
{
	const char *p = path + strlen(JAIL_DEV);
	struct stat st;

	c->n = 0;
	for (const char *slash; (slash = strchr(p, '/')); p = slash + 1) {
		int parent = c->n ? c->fd[c->n - 1] : devfd;

		if (c->n == MAX_DEPTH)
			return vj_err_sys(err, STEP, path, ENAMETOOLONG, NULL, "too many directories");
		snprintf(c->name[c->n], sizeof(c->name[c->n]), "%.*s", (int)(slash - p), p);
		c->fd[c->n] = openat(parent, c->name[c->n], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (c->fd[c->n] < 0)
			return errno == ENOENT ? 1 : vj_err_sys(err, STEP, path, errno, NULL,
								"cannot open directory %s", c->name[c->n]);
		c->n++;
		if (fstat(c->fd[c->n - 1], &st) < 0 || st.st_dev != dev)
			return vj_err_sys(err, STEP, path, EXDEV, NULL,
					  "directory %s is another mount", c->name[c->n - 1]);
	}
	*leaf = p;
	return 0;
}

/* rmdir the chain's directories that are empty, deepest first. */
static void remove_empty_parents(int devfd, struct dir_chain *c)
{
	for (size_t i = c->n; i-- > 0;)
		if (unlinkat(i ? c->fd[i - 1] : devfd, c->name[i], AT_REMOVEDIR) < 0)
			break;
}

/* The jail's /dev, once in its namespace: the tmpfs vj_mountns_populate_dev made. */
static int open_jail_dev(int *devfd, dev_t *dev, struct vj_error **err)
{
	_cleanup_close_ int fd = open("/dev", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct statfs sfs;
	struct stat st;

	if (fd < 0)
		return vj_err_sys(err, STEP, "/dev", errno, NULL, "cannot open the jail's /dev");
	if (fstatfs(fd, &sfs) < 0 || fstat(fd, &st) < 0)
		return vj_err_sys(err, STEP, "/dev", errno, NULL, "cannot stat the jail's /dev");
	if (sfs.f_type != TMPFS_MAGIC)
		return vj_err_sys(err, STEP, "/dev", 0, "vfiojail teardown NAME, then setup again",
				  "the jail's /dev is not the tmpfs vfiojail made");
	*dev = st.st_dev;
	*devfd = TAKE_FD(fd);
	return 0;
}

static int join_ns(int ns_fd, struct vj_error **err)
{
	if (setns(ns_fd, CLONE_NEWNS) < 0)
		return vj_err_sys(err, STEP, "mount namespace", errno, NULL,
				  "cannot enter the jail's mount namespace");
	if (chdir("/") < 0)
		return vj_err_sys(err, STEP, "/", errno, NULL, "chdir");
	return 0;
}

/* 0 when the node at @path is gone (or was never there), -1 when something
 * else than the planned node is there (left alone) or it cannot be removed. */
static int remove_node(int devfd, dev_t dev, const struct vj_node *node, bool dry_run,
		       struct vj_error **err)
{
	struct dir_chain c = { .n = 0 };
	const char *leaf = NULL;
	struct stat st;
	int r = open_chain(devfd, dev, node->path, &c, &leaf, err);

	if (r != 0)
		goto out; /* 1: a parent is missing, so is the node */
	if (fstatat(c.n ? c.fd[c.n - 1] : devfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			r = vj_err_sys(err, STEP, node->path, errno, NULL, "cannot stat the node");
		else if (!dry_run)
			remove_empty_parents(devfd, &c); /* left by a failed attempt */
		goto out;
	}
	if (!host_node_matches(&st, node)) {
		r = vj_err_sys(err, STEP, node->path, EEXIST, "remove it by hand (nsenter --mount=...)",
			       "not the planned %s device %u:%u: left alone",
			       node->type == 'c' ? "character" : "block", node->major, node->minor);
		goto out;
	}
	if (!dry_run) {
		if (unlinkat(c.n ? c.fd[c.n - 1] : devfd, leaf, 0) < 0) {
			r = vj_err_sys(err, STEP, node->path, errno, NULL, "cannot remove the node");
			goto out;
		}
		remove_empty_parents(devfd, &c);
	}
out:
	dir_chain_close(&c);
	return r < 0 ? -1 : 0;
}

int vj_mountns_add_nodes(int ns_fd, const struct vj_node *nodes, size_t n, struct vj_error **err)
{
	_cleanup_(acl_list_free) struct acl_list acls = { NULL, 0 };
	_cleanup_close_ int devfd = -1;
	struct vj_error *e = NULL;
	dev_t dev = 0;
	size_t made;

	for (size_t i = 0; i < n; i++)
		if (check_node(&nodes[i], err) < 0)
			return -1;
	/* The host's ACLs are read here: setns hides the host's /dev. */
	if (load_host_acls(nodes, n, &acls, err) < 0 || join_ns(ns_fd, err) < 0 ||
	    open_jail_dev(&devfd, &dev, err) < 0)
		return -1;
	/* A live jail: each node appears finished (renamed into place) or not at all. */
	if (make_nodes(devfd, dev, nodes, n, &acls, true, &made, &e) == 0)
		return 0;
	/* Undo, newest first; the failed make_node removed its own half-made node. */
	while (made-- > 0)
		remove_node(devfd, dev, &nodes[made], false, NULL);
	return vj_err_pass(err, e);
}

int vj_mountns_remove_nodes(int ns_fd, const struct vj_node *nodes, size_t n,
			    struct vj_error **err)
{
	_cleanup_close_ int devfd = -1;
	dev_t dev = 0;

	for (size_t i = 0; i < n; i++)
		if (check_node(&nodes[i], err) < 0)
			return -1;
	if (join_ns(ns_fd, err) < 0 || open_jail_dev(&devfd, &dev, err) < 0)
		return -1;
	/* Everything is checked before anything is removed (one node: the removal
	 * makes the same checks before its only unlink). */
	for (size_t i = 0; n > 1 && i < n; i++)
		if (remove_node(devfd, dev, &nodes[i], true, err) < 0)
			return -1;
	for (size_t i = 0; i < n; i++)
		if (remove_node(devfd, dev, &nodes[i], false, err) < 0)
			return -1;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Entering a jail's namespace and coming back                             */

void vj_mountns_home_close(struct vj_mountns_home *h)
{
	if (h->mnt >= 0)
		close(h->mnt);
	if (h->root >= 0)
		close(h->root);
	if (h->cwd >= 0)
		close(h->cwd);
}

/*
 * Whether this process can enter a mount namespace and come back: setns() of
 * its own namespace succeeds only in a single-threaded process (EINVAL
 * otherwise), and changes nothing.
 */
bool vj_mountns_home_save(struct vj_mountns_home *h)
{
	h->mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	h->root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	h->cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	return h->mnt >= 0 && h->root >= 0 && h->cwd >= 0 && setns(h->mnt, CLONE_NEWNS) == 0;
}

/* Back to the saved namespace, root and working directory, verified. */
int vj_mountns_home_return(const struct vj_mountns_home *h, const char *obj,
			   struct vj_error **err)
{
	struct stat want, now;

	if (setns(h->mnt, CLONE_NEWNS) < 0 || fchdir(h->root) < 0 || chroot(".") < 0 ||
	    fchdir(h->cwd) < 0)
		return vj_err_sys(err, STEP, obj, errno, NULL,
				  "cannot return from the jail's mount namespace");
	if (fstat(h->mnt, &want) < 0 || stat("/proc/self/ns/mnt", &now) < 0 ||
	    want.st_ino != now.st_ino || want.st_dev != now.st_dev)
		return vj_err_sys(err, STEP, obj, errno, NULL,
				  "not back in the host's mount namespace after changing the jail");
	return 0;
}
