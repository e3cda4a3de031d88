/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What run, setup, enter, attach, detach, status and teardown share: a jail's
 * filter, its kept mount namespace (an nsfs binding under <state_dir>/ns, a
 * private mount), and removing all of it.
 */
#pragma once

#include <stdbool.h>

#include "devfilter.h"
#include "state.h"
#include "vfiojail/vfiojail.h"

#define VJ_NS_DIR "ns"

/* opts->bpffs or /sys/fs/bpf. */
const char *vj_jail_bpffs(const struct vj_run_opts *o);

/* Unpin a jail's filter; the shared vfiojail/ directory goes once it is empty. */
int vj_jail_unpin(const char *dir, struct vj_error **err);

/*
 * Create the cgroup, load the filter for @plan's rules, attach it, verify and
 * pin it under @pin.  *cgroup_created and *pinned say what exists on failure
 * too; *filter is the loaded filter (the caller frees it).
 */
int vj_jail_make_filter(const char *cgroup, const struct vj_plan *plan, const char *pin,
			struct vj_devfilter **filter, bool *cgroup_created, bool *pinned,
			struct vj_error **err);

/* Unmount and remove a jail's nsfs binding (absent is fine); the ns directory
 * itself is unmounted and removed once it holds no binding. */
int vj_jail_ns_remove(int dirfd, const char *ns_path, struct vj_error **err);

/* Remove a jail's cgroup (SIGKILLing what is left in it when @kill), filter pins,
 * namespace binding and state.  Shared by a failed launch, the end of a
 * supervised VM, teardown and gc. */
int vj_jail_remove(int dirfd, const struct vj_state *st, bool kill, struct vj_error **err);
