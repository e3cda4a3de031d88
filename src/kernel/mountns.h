/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The jail's own /dev, built in a private mount namespace of the launch child,
 * and the nodes a hotplug adds to or removes from a kept one. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "vfiojail/vfiojail.h"

struct vj_mountns_opts {
	const char *dev_root; /* the host's /dev: pts, shm, mqueue are kept from it; NULL = /dev */
	const char *target;   /* where the new /dev is mounted; NULL = /dev                   */
};

/* Enter a new mount namespace whose mounts do not propagate back to the host
 * (unshare(CLONE_NEWNS), then / recursively slave).  Errors: status 125,
 * step "mountns". */
int vj_mountns_enter(struct vj_error **err);

/*
 * Cover the target with a small tmpfs (nosuid, noexec, mode 0755) and fill it:
 * pts, shm and mqueue bound from the dev root when they exist there, one node
 * per @nodes entry (mknod of type/major/minor, owned by node uid/gid, mode as
 * planned, the host node's extended access ACL copied when copy_acl is set),
 * the links fd, stdin, stdout, stderr and, without a /dev/ptmx node, ptmx ->
 * pts/ptmx.  Node paths must be normalized absolute paths under /dev, outside
 * the kept mounts and the links; parents are created 0755 root-owned and no
 * symlink is ever followed.  Everything is checked before the target is
 * covered.  Must run inside vj_mountns_enter()'s namespace, as root.
 * Errors: status 125, step "mountns", object the path at fault.
 */
int vj_mountns_populate_dev(const struct vj_node *nodes, size_t n,
			    const struct vj_mountns_opts *o, struct vj_error **err);

/*
 * Hotplug into a kept namespace (@ns_fd, an fd of its nsfs file).  Both move
 * the calling process into that mount namespace, as root: a single-threaded
 * caller comes back with vj_mountns_home_*; a threaded one calls them in a
 * forked child.
 *
 * add: check the nodes, read the host nodes' ACLs (before setns hides the
 * host's /dev), enter the namespace and create each node in its /dev as
 * vj_mountns_populate_dev does (parents 0755, mknod, owner, ACL, mode).  A
 * path already taken is an error (EEXIST).  On failure the nodes made so far,
 * and the directories made for them, are removed again.
 *
 * remove: enter the namespace, check that every node present at its path is
 * the planned device (anything else is left alone and is an error), then
 * unlink each, and the parent directories that are left empty.  A node that is
 * not there is fine.
 */
int vj_mountns_add_nodes(int ns_fd, const struct vj_node *nodes, size_t n, struct vj_error **err);
int vj_mountns_remove_nodes(int ns_fd, const struct vj_node *nodes, size_t n,
			    struct vj_error **err);

/*
 * Where this process was before it enters a jail's mount namespace, so it can
 * come back without a fork.  vj_mountns_home_save() is false when this process
 * cannot switch mount namespaces and back (a threaded one: setns() of its own
 * namespace fails with EINVAL); close the home either way.
 * vj_mountns_home_return() restores the namespace, root and working directory
 * and checks that the namespace is the saved one (@obj names the jail's).
 */
struct vj_mountns_home {
	int mnt, root, cwd;
};
bool vj_mountns_home_save(struct vj_mountns_home *h);
int vj_mountns_home_return(const struct vj_mountns_home *h, const char *obj,
			   struct vj_error **err);
void vj_mountns_home_close(struct vj_mountns_home *h);
