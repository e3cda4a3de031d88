/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The apply engine: every change vfiojail makes to the host is a list of steps
 * (state.h, enum vj_step) run by this module, each with its do and its undo.
 *
 *   create   nothing -> plan     run, setup, launch's service:
 *                                cgroup, filter, then namespace or contexts
 *   change   plan -> plan'       attach (memlock, nodes, rules), detach (rules,
 *                                nodes, memlock)
 *   destroy  plan -> nothing     teardown, gc, the end of a supervised VM, a dead
 *                                launch's leftovers
 *   the VMM  one process         vmm-memlock: the RLIMIT_MEMLOCK of the process
 *                                that becomes the VMM (run's and enter's child,
 *                                launch's client as the service raises it and as
 *                                it sets it itself, the CDI hook's container
 *                                process), with or without a jail (vj_apply_step)
 *
 * Every change vfiojail makes to a process's RLIMIT_MEMLOCK is one of these
 * steps: the VM's processes for a change (memlock), the VMM's own (vmm-memlock);
 * a failure after it puts back what the process had.
 *
 * The ledger in the state file is written ahead: before a step that leaves
 * something on the host runs, the state says it may have begun (the jail's own
 * objects in st->ledger, a change's steps in st->change).  Every undo removes
 * what part of its step exists and nothing when none does, so a failure at any
 * point unwinds what this process did, newest first, and a crash is unwound by
 * the next command from the ledger: a change under way by vj_apply_recover
 * (called when a jail is opened), the jail's own objects by vj_apply_destroy.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"
#include "vfiojail/vfiojail.h"

struct vj_vmm;
struct vj_devfilter;
struct vj_devfilter_swap;
struct vj_apply_limit;

/* How VJ_STEP_VMM_MEMLOCK sets the RLIMIT_MEMLOCK of the process that becomes
 * the VMM: each command's own rule (docs/MEMLOCK.md). */
enum vj_vmm_memlock_how {
	VJ_VMM_MEMLOCK_PLAN,   /* this process: soft = hard = the plan (run; enter with CAP_SYS_RESOURCE) */
	VJ_VMM_MEMLOCK_SOFT,   /* this process: soft = the plan, a higher hard limit kept (enter without) */
	VJ_VMM_MEMLOCK_LIMITS, /* this process: @soft and @hard (launch: vj_launch_memlock's rule) */
	VJ_VMM_MEMLOCK_RAISE,  /* @pid: both limits at least the plan (the service, for its client) */
	VJ_VMM_MEMLOCK_EXACT,  /* @pid: soft = hard = the plan (the CDI createRuntime hook) */
};

struct vj_apply_memlock {
	enum vj_vmm_memlock_how how;
	struct vj_memlock_plan plan;   /* the figure (no terms); unchanged: the step does nothing */
	uint64_t soft, hard;           /* LIMITS (UINT64_MAX: unlimited) */
	const char *hint;              /* LIMITS: the hint of a refusal */
	pid_t pid;                     /* RAISE, EXACT: the process, acted on by pid ... */
	int pidfd;                     /* ... and checked alive by this pidfd after each act (not owned) */
	const char *step, *who, *gone; /* the error when that process has exited */
	/* Kept by the engine: what the process had, for the undo */
	bool set;
	uint64_t old_soft, old_hard;
};

struct vj_apply {
	/* Set by the command */
	int dirfd;                     /* the state directory                        */
	struct vj_state *st;           /* the jail: names, plan, ledger, change        */
	const struct vj_run_opts *o;   /* roots, warnings, accounting (NULL: defaults) */
	struct vj_vmm *vmm;            /* VJ_STEP_CONTEXTS: the contexts go here       */
	/* change: a last step of the command's own (attach --qmp: the device into
	 * QEMU), run after @steps and before the state is committed; a failure
	 * there undoes @steps.  @last_undo takes it back when the commit fails. */
	int (*last)(struct vj_apply *a, void *data, struct vj_error **err);
	void (*last_undo)(struct vj_apply *a, void *data);
	void *last_data;
	/* VJ_STEP_VMM_MEMLOCK: whose limit, and how (vj_apply_vmm_memlock) */
	struct vj_apply_memlock vmm_memlock;
	/* Kept by the engine while the command runs */
	unsigned done;                 /* VJ_STEP_BIT()s this process has run          */
	bool state_written;            /* create: the state file is this process's     */
	char *left_cgroup;             /* --exec: the cgroup this process left for the jail's */
	struct vj_devfilter *filter;   /* create: the loaded filter (its link)         */
	struct vj_devfilter_swap *swap; /* change: a grown filter swapped in            */
	struct vj_apply_limit *limits; /* change: RLIMIT_MEMLOCK before the memlock step */
	size_t n_limits;
	/* change: the state's vmm_memlock_before as it was before the memlock step
	 * changed it (put back by its undo), and whether it did */
	struct vj_memlock_before before_was;
	bool before_changed;
	bool memlock_changed;          /* change: the memlock step set a process's limit */
	char *plan_json;               /* create: st->plan serialised once for every
					* write of the state while it stands (st->plan_json) */
};

/*
 * Create a jail: the state (*a->st, with the ledger of @steps) is written first,
 * then @steps run in order.  On failure everything done is undone, newest first,
 * the state file too: -1 with the error.
 */
int vj_apply_create(struct vj_apply *a, const enum vj_step *steps, size_t n, struct vj_error **err);

/*
 * Change a jail made by setup from a->st->plan to @to, whose spec is @spec
 * (both taken): the change is recorded in the state, @steps run, and the state
 * then holds @to and @spec.  On failure the steps done are undone and -1
 * returned with the error; the jail is as it was.
 */
int vj_apply_change(struct vj_apply *a, struct vj_plan *to, char *spec, const enum vj_step *steps,
		    size_t n, struct vj_error **err);

/* VJ_STEP_VMM_MEMLOCK will set @m's figure by @how (this process; for RAISE and
 * EXACT the caller names the process in a->vmm_memlock's pid and pidfd). */
void vj_apply_vmm_memlock(struct vj_apply *a, enum vj_vmm_memlock_how how, const struct vj_memlock_plan *m);

/*
 * One more step of this process's, not recorded in the ledger (vmm-memlock,
 * contexts), after a create or without a jail at all (a->st NULL, a->dirfd -1:
 * launch's client, the CDI hook, enter): on failure what part of it was done is
 * undone and -1 returned; vj_apply_undo undoes it with the rest, first.
 */
int vj_apply_step(struct vj_apply *a, enum vj_step step, struct vj_error **err);

/* @step was run by another process in this one's memory (the launch child,
 * which shares it until it execs: vj_child_run): what it changed is that
 * process's, not this one's to undo. */
void vj_apply_forget(struct vj_apply *a, enum vj_step step);

/* This process has joined the jail's cgroup, leaving @from (--exec): an undo
 * moves it back first.  Takes @from. */
void vj_apply_joined(struct vj_apply *a, char *from);

/* A create that succeeded but whose command failed later (the VMM did not start):
 * undo every step this process ran, newest first, and remove the state. */
void vj_apply_undo(struct vj_apply *a);

/* The jail stays as it is: release what the engine holds (the filter's link
 * stays attached through its pin). */
void vj_apply_release(struct vj_apply *a);

/* The plan is no longer needed in memory (the state file has it): free
 * st->plan and its serialised form; later writes of the state have no plan. */
void vj_apply_drop_plan(struct vj_apply *a);

/*
 * Remove a jail: its processes SIGKILLed and waited for when @kill; then the
 * steps of its ledger undone, newest first (the namespace, the filter, the
 * cgroup), and the state file removed once all of them went (@dirfd -1: no
 * state directory, nothing to remove there).  Every step is tried; -1 with
 * the first error.
 */
int vj_apply_destroy(int dirfd, struct vj_state *st, bool kill, struct vj_error **err);

/* A change found under way in @st (an attach or detach that crashed): its steps
 * undone from the ledger, the state written without it.  0 when there was none. */
int vj_apply_recover(int dirfd, struct vj_state *st, const struct vj_run_opts *o,
		     struct vj_error **err);
