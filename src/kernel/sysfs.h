/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading sysfs, procfs and /dev under the overridable roots. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include "vfiojail/vfiojail.h"

/* Root of each tree, with NULL meaning the real one. */
const char *vj_root_sysfs(const struct vj_roots *r);
const char *vj_root_proc(const struct vj_roots *r);
const char *vj_root_dev(const struct vj_roots *r);

/* MAJ:MIN of the misc device NAME from <sysfs>/class/misc/NAME/dev.
 * -ENOENT when the kernel has no such misc device. */
int vj_sysfs_misc_devnum(const struct vj_roots *r, const char *name, uint32_t *major,
			 uint32_t *minor);

/* stat() a node under the dev root (e.g. "/dev/kvm" -> <devroot>/kvm), following no
 * symlink in any component; fills type ('c'/'b'), MAJ:MIN and mode.
 * -ENOENT when absent, -ENODEV when it is not a device node (or a symlink is on the way). */
struct vj_devnode_stat {
	char type;
	uint32_t major, minor;
	mode_t mode;  /* permission bits */
	uid_t uid;
	gid_t gid;
};

/*
 * Device nodes under one dev root, looked up as a plan does: the root
 * and the directory of the last node stay open, so that a node next to the
 * previous one costs one fstatat.  Directories are still opened without
 * following any symlink (RESOLVE_NO_SYMLINKS).
 */
struct vj_dev_lookup {
	const struct vj_roots *roots;
	int root_fd;      /* the dev root, -1 until needed */
	int dir_fd;       /* the directory of the last node, -1 when none */
	char *dir;        /* its path relative to the root, e.g. "vfio/devices" */
	bool no_openat2;  /* a kernel before Linux 5.6: plain lstat of the path */
	bool no_xattrat;  /* a kernel before Linux 6.13: lgetxattr of the path */
};
void vj_dev_lookup_init(struct vj_dev_lookup *c, const struct vj_roots *r);
void vj_dev_lookup_done(struct vj_dev_lookup *c);
/* The node at @dev_path ("/dev/..."): 0 and *out, -ENOENT, -ENODEV (not a
 * device node, or a symlink on the way), -EINVAL (not a path under /dev). */
int vj_dev_lookup_stat(struct vj_dev_lookup *c, const char *dev_path, struct vj_devnode_stat *out);
/* Whether the node just found by vj_dev_lookup_stat(c, dev_path) has a POSIX access
 * ACL (the system.posix_acl_access attribute); true when that cannot be told. */
bool vj_dev_lookup_has_acl(struct vj_dev_lookup *c, const char *dev_path);
