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

#define VJ_OWN_BPFFS "bpffs"

/*
 * The bpffs the pins go to: opts->bpffs when given; /sys/fs/bpf when it is a
 * bpffs that can be written; otherwise vfiojail's own bpffs instance at
 * STATE_DIR/bpffs (mounted by vj_jail_bpffs_prepare, unmounted when the last pin
 * in it goes).  Newly allocated.
 */
char *vj_jail_bpffs(const struct vj_run_opts *o);

/* BPFFS/vfiojail/NAME: where the jail @name's filter is pinned.  Newly allocated. */
char *vj_jail_pin_dir(const struct vj_run_opts *o, const char *name);

/* The state dir run and setup would use is someone else's, or cannot be made:
 * -1 with their error; 0 otherwise (*exists, when given, says whether it exists). */
int vj_jail_check_state_dir(const struct vj_run_opts *o, bool *exists, struct vj_error **err);

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

/* ------------------------------------------------------------------------- */
/* Shared by enter, attach and detach                                         */

/* A jail made by setup, opened with its name's lock held. */
struct vj_jail {
	int dirfd, lock_fd;
	const char *name;
	struct vj_state st;
};

/* A new jail for @plan (taken: it becomes j->st.plan, freed by vj_jail_close):
 * the state dir opened, the name's lock taken, no jail of the name (with
 * @replace_dead, a `run` jail whose VMM is gone is removed, with a warning; one
 * that runs or that setup made is refused, status 2), and j->st named: name,
 * cgroup, pin directory. */
int vj_jail_claim(struct vj_jail *j, struct vj_plan *plan, const struct vj_run_opts *o, bool replace_dead,
		  struct vj_error **err);

/* Record in j->st (before the state is first written) which command makes the
 * jail, and, when j->st.vmm is set, that process's start time: what later
 * tells the VMM from another process that took its pid. */
void vj_jail_origin(struct vj_jail *j, enum vj_state_origin origin);

/* Keep @spec (as JSON) and @o's roots in j->st, for attach and detach to plan
 * again (run and launch; setup keeps them too).  0, or -1 out of memory. */
int vj_jail_keep_spec(struct vj_jail *j, const struct vj_spec *spec, const struct vj_run_opts *o);

/* Lock NAME (waiting a few seconds for a short command) and read its state; it
 * must be a jail made by setup (status 2 otherwise, or when there is none).
 * With @hotplug (attach, detach) also a jail of run or launch whose VMM still
 * runs: the state's pid AND start time name a live process (status 2 when not:
 * a VMM gone, or its pid another process's now).  An interrupted change is
 * undone first. */
int vj_jail_open(struct vj_jail *j, const char *name, const struct vj_run_opts *o, bool hotplug,
		 struct vj_error **err);
/* Release the lock and the state; safe on a half-opened jail. */
void vj_jail_close(struct vj_jail *j);

/* An fd of the kept namespace binding @path, checked to be a mount namespace. */
int vj_jail_open_ns(const char *path, struct vj_error **err);


/* RLIMIT_MEMLOCK of any process, from /proc/PID/limits (UINT64_MAX =
 * unlimited): prlimit(2) on another user's process needs CAP_SYS_RESOURCE,
 * reading this file does not.  0, or -1 when the process is gone. */
/* VmLck of /proc/PID/status in bytes (0 when gone). */
uint64_t vj_proc_locked(pid_t pid);

/* The VMM @vmm (started at @vmm_start) of the launch service or of a supervising
 * run has exited: remove its jail, killing what is left in its cgroup, but only
 * if the jail of @name is still the one made for that process (origin launch or
 * run, same pid and start time).
 * 0, or -1 with *err. */
int vj_teardown_ended_vmm(const char *name, const struct vj_run_opts *o, pid_t vmm, uint64_t vmm_start,
			  struct vj_error **err);
