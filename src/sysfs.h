/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading sysfs, procfs and /dev under the overridable roots. */
#pragma once

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
int vj_dev_stat(const struct vj_roots *r, const char *dev_path, struct vj_devnode_stat *out);
