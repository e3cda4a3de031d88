/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiojail setup and enter: a jail that outlives one command.
 *
 * setup is one list of steps, like run's launch: state file (written first, so
 * that teardown can always find everything), cgroup, filter (attach, verify,
 * pin), the kept mount namespace (pins.h).  enter runs a command in it.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <unistd.h>

#include "apply.h"
#include "cgroup.h"
#include "child.h"
#include "devfilter.h"
#include "error.h"
#include "jail.h"
#include "pidfd.h"
#include "pins.h"
#include "privs.h"
#include "sysfs.h"
#include "plan.h"
#include "state.h"
#include "util.h"
#include "vmm.h"

static int oom(struct vj_error **err, const char *object)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", object, NULL, "out of memory");
}

/* ------------------------------------------------------------------------- */
/* setup                                                                      */

int vj_setup(const struct vj_spec *spec, const struct vj_run_opts *o, struct vj_error **err)
{
	static const enum vj_step steps[] = { VJ_STEP_CGROUP, VJ_STEP_FILTER, VJ_STEP_NAMESPACE };
	struct vj_plan *plan = NULL;
	struct vj_jail j = { .dirfd = -1, .lock_fd = -1 };
	struct vj_apply a = { .o = o };
	int r = -1;

	if (vj_plan_build(spec, &o->plan, &plan, err) < 0)
		return -1;
	for (size_t i = 0; o->warn && i < plan->n_warnings; i++)
		o->warn(plan->warnings[i], o->userdata);
	if (vj_preflight(o, plan, err) < 0) {
		vj_plan_free(plan);
		return -1;
	}
	if (vj_jail_claim(&j, plan, o, false, NULL, err) < 0)
		goto out;
	j.st.kind = VJ_STATE_SETUP;
	j.st.origin = VJ_ORIGIN_SETUP;
	j.st.owner = getppid(); /* the launcher: when it is gone and no process runs, gc may remove the jail */
	if (vj_pid_starttime(j.st.owner, &j.st.owner_start) < 0)
		j.st.owner_start = 0;
	j.st.ns_path = vj_jail_ns_path(o, spec->name);
	if (!j.st.ns_path || vj_jail_keep_spec(&j, spec, o) < 0) {
		oom(err, spec->name);
		goto out;
	}
	a.dirfd = j.dirfd;
	a.st = &j.st;
	r = vj_apply_create(&a, steps, ARRAY_SIZE(steps), err);
	vj_apply_release(&a);
out:
	vj_jail_close(&j);
	return r;
}

/* ------------------------------------------------------------------------- */
/* enter                                                                      */

struct enter {
	struct vj_jail j;
	struct vj_vmm vmm;
	struct vj_apply a; /* no jail made: the VMM's RLIMIT_MEMLOCK alone */
	int ns_fd;
};

static int enter_join(void *userdata, struct vj_error **err)
{
	struct enter *e = userdata;

	if (setns(e->ns_fd, CLONE_NEWNS) < 0)
		return vj_err_sys(err, "namespace", e->j.st.ns_path, errno, NULL,
				  "cannot enter the jail's mount namespace");
	if (chdir("/") < 0)
		return vj_err_sys(err, "namespace", "/", errno, NULL, "chdir");
	if (vj_cgroup_enter(e->j.st.cgroup, 0, err) < 0)
		return -1;
	return vj_apply_step(&e->a, VJ_STEP_VMM_MEMLOCK, err);
}

/* Fail closed: nothing enters a jail whose filter is not pinned and attached to the
 * jail's own cgroup (it may have been removed from outside, or never made). */
static int filter_guards(const struct vj_state *st, struct vj_error **err)
{
	struct stat sb;
	uint64_t id = 0;

	if (st->bpf_pin && st->cgroup && vj_devfilter_pinned_cgroup_id(st->bpf_pin, &id) == 0 &&
	    stat(st->cgroup, &sb) == 0 && (uint64_t)sb.st_ino == id)
		return 0;
	return vj_err(err, VJ_EXIT_SETUP, 0, "devfilter", st->bpf_pin ? st->bpf_pin : st->name,
		      "tear the jail down and set it up again (vfiojail status NAME shows what is missing)",
		      "no device filter of this jail is pinned and attached to its cgroup %s: nothing enters it unfiltered",
		      st->cgroup ? st->cgroup : "(none)");
}

/* The VMM runs: the name's lock is free for attach, detach and other enters. */
static void enter_started(pid_t pid, void *userdata)
{
	struct enter *e = userdata;

	(void)pid;
	vj_state_unlock(e->j.dirfd, e->j.name, e->j.lock_fd);
	e->j.lock_fd = -1;
	close(e->ns_fd); /* an open fd would keep the binding busy */
	e->ns_fd = -1;
}

int vj_enter(const char *name, const struct vj_run_opts *o, struct vj_error **err)
{
	struct enter e = { .ns_fd = -1 };
	sigset_t set, old;
	int r = -1;

	if (!o->argv || !o->argv[0])
		return vj_err(err, VJ_EXIT_USAGE, 0, "argv", NULL,
			      "vfiojail enter NAME -- CMD [ARGS...]", "no command to run");
	if (vj_vmm_check_preserved(o->preserve_fds, err) < 0 || vj_jail_open(&e.j, name, o, false, err) < 0 ||
	    filter_guards(&e.j.st, err) < 0)
		goto out;
	if (vj_vmm_prepare(&e.vmm, e.j.st.plan, o, err) < 0)
		goto out;
	/* Without CAP_SYS_RESOURCE no later attach could raise a lowered hard limit. */
	e.a = (struct vj_apply){ .dirfd = -1 };
	vj_apply_vmm_memlock(&e.a, vj_privs_have_cap(CAP_SYS_RESOURCE) ? VJ_VMM_MEMLOCK_PLAN : VJ_VMM_MEMLOCK_SOFT,
			     &e.j.st.plan->memlock);
	e.ns_fd = vj_jail_open_ns(e.j.st.ns_path, err);
	if (e.ns_fd < 0 ||
	    vj_vmm_open_contexts(&e.vmm, e.j.st.dev_root ? e.j.st.dev_root : "/dev",
				 o->iommufd_best_effort || e.j.st.iommufd_best_effort, o->warn,
				 o->userdata, err) < 0)
		goto out;
	vj_vmm_block_signals(o->exec, &set, &old);
	if (o->exec) {
		int nofd = -1;
		if (enter_join(&e, err) == 0 && vj_vmm_child_finish(&e.vmm, &nofd, err) == 0)
			vj_vmm_exec(&e.vmm, &old, err); /* returns only on failure */
		vj_apply_undo(&e.a);
	} else {
		r = vj_vmm_start_supervised(&e.vmm, enter_join, NULL, enter_started, &e, &old, &set, err);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	if (e.ns_fd >= 0)
		close(e.ns_fd);
	vj_vmm_free(&e.vmm);
	vj_jail_close(&e.j);
	return r;
}
