/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A jail as the commands hold it: a name claimed for a new jail, or one opened,
 * with its lock and its state; and the checks a launch passes first.
 */
#pragma once

#include <stdbool.h>

#include "state.h"
#include "vfiojail/vfiojail.h"

/* The state dir run and setup would use is someone else's, or cannot be made:
 * -1 with their error; 0 otherwise (*exists, when given, says whether it exists). */
int vj_jail_check_state_dir(const struct vj_run_opts *o, bool *exists, struct vj_error **err);

/* What vj_preflight found, for the claim that follows in the same command, so
 * that it is not looked up again: the state dir as it was opened and checked
 * (-1: it did not exist yet), and the bpffs root chosen for the pins. */
struct vj_preflight {
	bool valid;
	int dirfd;
	char *bpffs;
};

/* vj_preflight (vfiojail.h), keeping what it found in *@pf (may be NULL; freed
 * by vj_preflight_clear, or taken by vj_jail_claim). */
int vj_preflight_keep(const struct vj_run_opts *o, const struct vj_plan *p, struct vj_preflight *pf,
		      struct vj_error **err);
void vj_preflight_clear(struct vj_preflight *pf);

/* The name's lock in the state dir @dirfd, waiting up to about 5 s (@wait) for a
 * short command (enter, attach) that holds it: the lock's fd, or -1. */
int vj_jail_lock_name(int dirfd, const char *name, bool wait, struct vj_error **err);

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
		  struct vj_preflight *pf, struct vj_error **err);

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

/* The VMM the state @st names still runs: its pid AND start time (a pid alone
 * when no start time was recorded). */
bool vj_jail_vmm_runs(const struct vj_state *st);

/* Whoever owns the jail @st still lives: the supervising run, the launcher of a
 * jail made by setup (pid and start time), the VMM of a launched jail.  gc
 * removes a jail with no process whose owner is gone. */
bool vj_jail_owner_alive(const struct vj_state *st);
