/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vfiojail run`: apply a plan and start the VMM in its jail.
 *
 * The jail is made by the apply engine (apply.h): state, cgroup, filter,
 * contexts; a failure before the VMM runs undoes it all (vj_apply_undo), and the
 * end of the VMM removes it (vj_apply_destroy).
 *
 *   parent: plan, resolve the VMM, lock, state, cgroup, filter (attach, verify,
 *           pin), iommufd contexts (per-process accounting), fork
 *   child:  new mount namespace with its own /dev, join the cgroup, memlock,
 *           fds 3.. and @fd:ID@, drop privileges, exec
 *   parent: forward signals, wait, remove cgroup, pins, state; exit as the VMM
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "devfilter.h"
#include "error.h"
#include "memlock.h"
#include "iommufd.h"
#include "mountns.h"
#include "privs.h"
#include "rlimit.h"
#include "state.h"
#include "sysfs.h"
#include "pidfd.h"
#include "util.h"
#include "vmm.h"
#include "apply.h"
#include "jail.h"
#include "remove.h"
#include "vmjail.h"

static void warn(const struct vj_run_opts *o, const char *msg)
{
	if (o->warn)
		o->warn(msg, o->userdata);
}

/* The launch child (or vfiojail itself with --exec): a new mount namespace with
 * its own /dev, then the cgroup, then the plan's RLIMIT_MEMLOCK.  /dev is
 * populated before joining the cgroup: the filter grants no mknod to anything
 * in the VM's cgroup, this child included. */
static int join_jail(void *userdata, struct vj_error **err)
{
	struct vj_vmjail *l = userdata;
	struct vj_mountns_opts mo = { .dev_root = vj_root_dev(&l->o->plan.roots), .target = "/dev" };

	if (vj_mountns_enter(err) < 0 ||
	    vj_mountns_populate_dev(l->j.st.plan->nodes, l->j.st.plan->n_nodes, &mo, err) < 0 ||
	    vj_cgroup_enter(l->j.st.cgroup, 0, err) < 0)
		return -1;
	/* The VMM's RLIMIT_MEMLOCK, an engine step: --exec undoes it on failure. */
	return vj_apply_step(&l->a, VJ_STEP_VMM_MEMLOCK, err);
}

/* The VMM's pid goes into the state before the child may exec: a state that
 * cannot be written (a full /run) stops the launch rather than leave a VMM that
 * status and teardown do not know.  It runs in the launch child, which shares
 * our memory (vj_child_run), and may run once more in the parent with the same
 * pid: the same state again, a new stamp. */
static int vmm_forked(pid_t pid, void *userdata, struct vj_error **err)
{
	struct vj_vmjail *l = userdata;

	l->j.st.vmm = pid;
	/* Our child, not reaped: its pid is its own.  With the start time, attach
	 * and detach tell the VMM from a process that took its pid later. */
	if (vj_pid_starttime(pid, &l->j.st.vmm_start) < 0)
		l->j.st.vmm_start = 0;
	if (vj_state_write_stamped(l->j.dirfd, &l->j.st, &l->stamp, err) < 0)
		return -1;
	l->stamped = true;
	return 0;
}

static void vmm_started(pid_t pid, void *userdata)
{
	struct vj_vmjail *l = userdata;

	(void)pid;
	/* The state file has the plan now; the supervisor needs only the names
	 * in l->j.st to clean up, so a big plan's memory goes while the VM runs. */
	vj_apply_drop_plan(&l->a);
	l->vmm.plan = NULL;
	/* The VMM runs: the name's lock is free for attach and detach (as enter's
	 * is).  A second run of the name is refused all the same: its cgroup has a
	 * process.  launch_end takes the lock again. */
	vj_state_unlock(l->j.dirfd, l->j.name, l->j.lock_fd);
	l->j.lock_fd = -1;
}

static int launch_exec(struct vj_vmjail *l, const sigset_t *old, struct vj_error **err)
{
	char *from = NULL;
	int nofd = -1;

	if (vj_cgroup_self_dir(vj_root_proc(&l->o->plan.roots), &from, err) < 0)
		return -1;
	vj_apply_joined(&l->a, from); /* an undo takes this process out again first */
	/* The lock is close-on-exec: once the VMM runs, its cgroup says it is alive. */
	if (join_jail(l, err) < 0 || vj_vmm_child_finish(&l->vmm, &nofd, err) < 0)
		return -1;
	return vj_vmm_exec(&l->vmm, old, err);
}

/* The VMM has exited: whatever it left in its cgroup goes with it. */
static void launch_end(struct vj_vmjail *l)
{
	struct vj_error *e = NULL;
	char msg[512];

	/* Under the name's lock again, and only while the state is still this
	 * VMM's (an attach may have changed it; a later run may have replaced a
	 * jail whose VMM was gone): the state this process wrote while the file is
	 * the one it wrote, else the file read back. */
	if (l->j.lock_fd < 0 ? vj_teardown_ended_run(l->j.dirfd, &l->j.st, l->stamped ? &l->stamp : NULL, l->o, &e) == 0
			     : vj_apply_destroy(l->j.dirfd, &l->j.st, true, &e) == 0)
		return;
	snprintf(msg, sizeof(msg), "cleanup after the VMM exited: %s: %s%s%s",
		 e && e->object ? e->object : "", e && e->message ? e->message : "",
		 e && e->errnum ? ": " : "", e && e->errnum ? strerror(e->errnum) : "");
	warn(l->o, msg);
	vj_error_free(e);
}

int vj_run(const struct vj_spec *spec, const struct vj_run_opts *o, struct vj_error **err)
{
	struct vj_vmjail l = { .spec = spec, .o = o, .j = { .dirfd = -1, .lock_fd = -1 } };
	struct vj_plan *plan = NULL;
	sigset_t set, old;
	int r = -1;

	if (!o->argv || !o->argv[0])
		return vj_err(err, VJ_EXIT_USAGE, 0, "argv", NULL,
			      "vfiojail run SPEC -- VMM [ARGS...]", "no VMM to run");
	if (vj_vmm_check_preserved(o->preserve_fds, err) < 0 ||
	    vj_plan_build(spec, &o->plan, &plan, err) < 0)
		return -1;
	for (size_t i = 0; i < plan->n_warnings; i++)
		warn(o, plan->warnings[i]);
	if (vj_preflight_keep(o, plan, &l.pf, err) < 0 || vj_vmm_prepare(&l.vmm, plan, o, err) < 0) {
		vj_preflight_clear(&l.pf);
		vj_vmm_free(&l.vmm);
		vj_plan_free(plan);
		return -1;
	}
	if (vj_vmjail_create(&l, plan, err) < 0)
		goto out;
	vj_vmm_block_signals(o->exec, &set, &old);
	if (o->exec) {
		launch_exec(&l, &old, err); /* returns only on failure */
		vj_apply_undo(&l.a);
	} else {
		r = vj_vmm_start_supervised(&l.vmm, join_jail, vmm_forked, vmm_started, &l, &old, &set, err);
		/* The child's RLIMIT_MEMLOCK went with it (or became the VMM's). */
		vj_apply_forget(&l.a, VJ_STEP_VMM_MEMLOCK);
		if (r < 0)
			vj_apply_undo(&l.a);
		else
			launch_end(&l);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	vj_vmjail_free(&l);
	return r;
}
