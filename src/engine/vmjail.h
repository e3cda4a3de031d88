/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A jail made for a VMM: the name claimed, the state written first, then the
 * engine's cgroup, filter and iommufd contexts.  Shared by `vfiojail run` (its
 * child, or itself with --exec, becomes the VMM) and the launch service (its
 * client, a process that already runs, does).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "apply.h"
#include "jail.h"
#include "memlock.h"
#include "vmm.h"
#include "vfiojail/vfiojail.h"

struct vj_vmjail {
	const struct vj_spec *spec;
	const struct vj_run_opts *o;
	struct vj_jail j;      /* state dir, lock, state (j.st.plan: the plan) */
	struct vj_apply a;     /* the steps run for this VM */
	struct vj_vmm vmm;     /* path, argv, env, iommufd contexts */
	pid_t target;          /* the launch service: the client that becomes the VMM */
	/* the launch service: the RLIMIT_MEMLOCK the client gets, for the state */
	uint64_t memlock_soft, memlock_hard;
	enum vj_memlock_from memlock_from;
	/* supervised run: the state file as its gate wrote it, so that the end of
	 * the VMM need not read back what it wrote when nothing changed it since */
	struct vj_state_stamp stamp;
	bool stamped;
	/* what the preflight found (run: vj_preflight_keep), taken by the claim */
	struct vj_preflight pf;
};

/* Claim the name for @plan (taken: it becomes l->j.st.plan), record who the
 * VMM is (l->target, else this process with --exec, else the child to come)
 * and the spec, then the engine: state (written first), cgroup, filter,
 * iommufd contexts.  0, or -1 with *err and nothing of it left. */
int vj_vmjail_create(struct vj_vmjail *l, struct vj_plan *plan, struct vj_error **err);

/* The engine's steps, the VMM's fds and the jail's lock and state released;
 * nothing on the host is changed (vj_apply_undo and vj_apply_destroy do). */
void vj_vmjail_free(struct vj_vmjail *l);
