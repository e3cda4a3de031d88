/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A jail's objects beside the kernel modules' own, made and removed by the apply
 * engine's steps (apply.c): the bpffs and the pin directory of the filter, and
 * the kept mount namespace of a jail made by setup (an nsfs binding under
 * <state_dir>/ns, a private mount).
 */
#pragma once

#include <stdbool.h>

#include "vfiojail/vfiojail.h"

#define VJ_NS_DIR "ns"

#define VJ_OWN_BPFFS "bpffs"

/*
 * The bpffs the pins go to: opts->bpffs when given; /sys/fs/bpf when it is a
 * bpffs that can be written; otherwise vfiojail's own bpffs instance at
 * STATE_DIR/bpffs (mounted by vj_jail_bpffs_prepare, unmounted when the last pin
 * in it goes).  Newly allocated.
 */
char *vj_jail_bpffs(const struct vj_run_opts *o);
/* The same; *@seen says whether it was just seen to be a bpffs (/sys/fs/bpf). */
char *vj_jail_bpffs_seen(const struct vj_run_opts *o, bool *seen);

/* BPFFS/vfiojail/NAME: where the jail @name's filter is pinned.  Newly allocated. */
char *vj_jail_pin_dir(const struct vj_run_opts *o, const char *name);

/* Mount vfiojail's own bpffs instance at @root when @root is STATE_DIR/bpffs of the
 * state dir @dirfd and it is not mounted yet; 0 otherwise. */
int vj_jail_bpffs_prepare(int dirfd, const char *root, struct vj_error **err);

/*
 * Unpin a jail's filter; the shared vfiojail/ directory goes once it is empty,
 * and so does vfiojail's own bpffs instance of the state dir @dirfd (-1: none).
 * A filter whose cgroup still has processes is never unpinned.
 */
int vj_jail_unpin(int dirfd, const char *dir, struct vj_error **err);

/* Unmount and remove a jail's nsfs binding (absent is fine); the ns directory
 * itself is unmounted and removed once it holds no binding. */
int vj_jail_ns_remove(int dirfd, const char *ns_path, struct vj_error **err);

/* Make the kept mount namespace of a jail made by setup: a short-lived child
 * unshares and populates /dev from @plan (host nodes under @dev_root); its nsfs
 * file is bound on @ns_path (under the state dir @dirfd, a private mount), so the
 * namespace outlives the child.  On failure the binding file may remain
 * (vj_jail_ns_remove removes it). */
int vj_jail_ns_make(int dirfd, const char *ns_path, const struct vj_plan *plan, const char *dev_root,
		    struct vj_error **err);

/* STATE_DIR/ns/ESC, ESC the name's escape (name.h): where the kept namespace of
 * the jail @name is bound.  Newly allocated. */
char *vj_jail_ns_path(const struct vj_run_opts *o, const char *name);

/* An fd of the kept namespace binding @path, checked to be a mount namespace. */
int vj_jail_open_ns(const char *path, struct vj_error **err);
