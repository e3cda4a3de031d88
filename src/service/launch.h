/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The launch service's steps for a client process: serve runs them for a
 * client (vj_launch_handoff, vj_launch_contexts), and what it hands the
 * client back is a struct vj_handoff.  A launcher's unprivileged process runs
 * `vfiojail launch NAME -- VMM ...`, which asks the service over a unix socket
 * for the jail of VM NAME and then becomes the VMM itself.  The jail is made
 * as run makes it (vmjail.h), for a process that already runs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "memlock.h"
#include "vfiojail/vfiojail.h"

/* What the service hands the client: the iommufd contexts (spec order), their
 * ids, the memlock plan (the client sets its soft limit) and its cgroup. */
struct vj_handoff {
	int *fds;
	char **ids;
	size_t n;
	struct vj_memlock_plan memlock; /* no terms */
	bool memlock_exact;     /* the spec's memlock.hard_limit: exactly that, even lower */
	char *cgroup;
	char *client_cgroup;    /* where the client was: a cancel puts it back */
	pid_t vmm;              /* the client, as the state records it */
	uint64_t vmm_start;
	bool per_user;          /* a context was left per-user (best-effort accounting) */
};

void vj_handoff_clear(struct vj_handoff *h);

/*
 * run's steps for a process that already runs, the client of the service:
 * @pidfd names it (SO_PEERPIDFD, taken when it connected), @peer holds the
 * socket's credentials.  Refused (VJ_EXIT_DENIED) unless the peer's uid and
 * the process's real, effective, saved and filesystem uids are the spec's user,
 * and its gids all the spec's group when it names one (else all the gid it
 * connected with: no setuid or setgid program since); then state (the VMM's pid is the client's), cgroup, filter,
 * contexts, the client's hard RLIMIT_MEMLOCK raised when below the plan, the
 * client moved into the cgroup and its ids checked again.  Every act by pid is
 * followed by a check that the pidfd's process still lives (so still has that
 * pid).  0 with *out filled, or -1 with nothing left behind.
 */
struct ucred;
int vj_launch_handoff(const struct vj_spec *spec, const struct vj_run_opts *o, int pidfd,
		      const struct ucred *peer, struct vj_handoff *out, struct vj_error **err);

/*
 * The contexts alone (`vfiojail contexts`): the spec's iommufd contexts,
 * opened by root and set to per-process accounting, for the client @pidfd,
 * granted as vj_launch_handoff grants the VM (the spec's user and group, the
 * socket's credentials and the process's ids before and after), and nothing
 * else: no state, cgroup, filter or memlock change.  *out has the fds and ids,
 * memlock "unchanged", no cgroup.  0, or -1 with *err (VJ_EXIT_DENIED: not the
 * VM's user, or the VM has no iommufd context).
 */
int vj_launch_contexts(const struct vj_spec *spec, const struct vj_run_opts *o, int pidfd,
		       const struct ucred *peer, struct vj_handoff *out, struct vj_error **err);

/* The answer could not be sent: the client (@pidfd) goes back to its cgroup and
 * the jail is removed without killing anything (a jail whose cgroup still has
 * processes stays, for gc). */
int vj_launch_cancel(const char *name, const struct vj_run_opts *o, int pidfd, const struct vj_handoff *h,
		     struct vj_error **err);
