/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vfiojail run`: apply a plan and start the VMM in its jail.
 *
 * The launch is one list of steps.  Each step that creates something records it
 * in struct launch before the next step starts, and launch_undo() removes what
 * is recorded, newest first, so a failed launch leaves nothing behind.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "devfilter.h"
#include "error.h"
#include "iommufd.h"
#include "mountns.h"
#include "privs.h"
#include "rlimit.h"
#include "state.h"
#include "sysfs.h"
#include "util.h"
#include "vmm.h"
#include "jail.h"
#include "serve.h"

struct launch {
	const struct vj_spec *spec;
	const struct vj_run_opts *o;
	struct vj_plan *plan;
	struct vj_vmm vmm;     /* path, argv, env, iommufd contexts */
	int dirfd, lock_fd;
	struct vj_state st;
	bool state_written;
	bool cgroup_created;
	struct vj_devfilter *filter;
	bool pinned;
	char *orig_cgroup;     /* --exec: where to go back to on failure  */
	pid_t target;          /* vj_run_handoff: the client that becomes the VMM */
};

static void warn(const struct vj_run_opts *o, const char *msg)
{
	if (o->warn)
		o->warn(msg, o->userdata);
}

/* ------------------------------------------------------------------------- */
/* Undo                                                                       */

static void launch_undo(struct launch *l)
{
	vj_vmm_close_contexts(&l->vmm);
	if (l->pinned)
		vj_jail_unpin(l->dirfd, l->st.bpf_pin, NULL);
	vj_devfilter_free(l->filter); /* an unpinned link detaches here */
	l->filter = NULL;
	if (l->cgroup_created) {
		if (l->orig_cgroup) /* --exec: we joined it ourselves */
			vj_cgroup_enter(l->orig_cgroup, 0, NULL);
		vj_cgroup_remove(l->st.cgroup, NULL);
	}
	if (l->state_written)
		vj_state_remove(l->dirfd, l->spec->name, NULL);
	l->pinned = l->cgroup_created = l->state_written = false;
}

/* The jail stays (its VMM runs, or has just exited and is removed by name):
 * nothing recorded is undone. */
static void launch_keep(struct launch *l)
{
	vj_devfilter_free(l->filter); /* the pinned link stays attached */
	l->filter = NULL;
	l->state_written = l->cgroup_created = l->pinned = false;
}

static void launch_free(struct launch *l)
{
	if (l->lock_fd >= 0)
		vj_state_unlock(l->dirfd, l->spec->name, l->lock_fd);
	if (l->dirfd >= 0)
		close(l->dirfd);
	l->st.plan = NULL;
	vj_state_clear(&l->st);
	vj_vmm_free(&l->vmm);
	vj_plan_free(l->plan);
	free(l->orig_cgroup);
}

/* ------------------------------------------------------------------------- */
/* Parent steps                                                               */

/* A previous launch of this name: refuse when it still runs, else clean up. */
static int clear_leftovers(struct launch *l, struct vj_error **err)
{
	struct vj_state old;
	bool populated = false;
	int r = vj_state_read(l->dirfd, l->spec->name, &old, err);
	char msg[256];

	if (r == 1)
		return 0;
	if (r < 0)
		return vj_err_wrap(err, "state", l->spec->name,
				   "cannot tell whether a previous launch still runs; run vfiojail teardown %s",
				   l->spec->name);
	if (old.kind == VJ_STATE_SETUP) {
		vj_err(err, VJ_EXIT_USAGE, EEXIST, "state", l->spec->name,
		       "run a command in it with vfiojail enter NAME, or remove it with teardown",
		       "a jail made by vfiojail setup has this name");
		vj_state_clear(&old);
		return -1;
	}
	if (old.cgroup && vj_cgroup_populated(old.cgroup, &populated, NULL) == 0 && populated) {
		vj_err(err, VJ_EXIT_USAGE, 0, "state", l->spec->name,
		       "stop it first, or vfiojail teardown --kill NAME",
		       "this VM is already running (VMM pid %d, cgroup %s)", (int)old.vmm, old.cgroup);
		vj_state_clear(&old);
		return -1;
	}
	r = vj_jail_remove(l->dirfd, &old, false, err);
	if (r == 0) {
		snprintf(msg, sizeof(msg), "removed what a previous launch of %s left (VMM pid %d is gone)",
			 l->spec->name, (int)old.vmm);
		warn(l->o, msg);
	}
	vj_state_clear(&old);
	return r;
}

static int setup_state(struct launch *l, struct vj_error **err)
{
	l->dirfd = vj_state_dir_open(l->o->state_dir, err);
	if (l->dirfd < 0)
		return -1;
	l->lock_fd = vj_state_lock(l->dirfd, l->spec->name, err);
	if (l->lock_fd < 0 || clear_leftovers(l, err) < 0)
		return -1;
	l->st.name = strdup(l->spec->name);
	l->st.cgroup = strdup(l->plan->cgroup);
	l->st.bpf_pin = vj_jail_pin_dir(l->o, l->spec->name);
	/* --exec: this process becomes the VMM; a hand-off: the client does. */
	l->st.supervisor = l->o->exec || l->target ? 0 : getpid();
	l->st.vmm = l->target ? l->target : l->o->exec ? getpid() : 0;
	l->st.plan = l->plan; /* recorded for status; released by launch_free */
	if (!l->st.name || !l->st.cgroup || !l->st.bpf_pin)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", l->spec->name, NULL, "out of memory");
	/* Written before anything else exists, so teardown can always find it all. */
	if (vj_state_write(l->dirfd, &l->st, err) < 0)
		return -1;
	l->state_written = true;
	return 0;
}

static int setup_cgroup_and_filter(struct launch *l, struct vj_error **err)
{
	return vj_jail_make_filter(l->dirfd, l->st.cgroup, l->plan, l->st.bpf_pin, &l->filter,
				   &l->cgroup_created, &l->pinned, err);
}

/* The launch child (or vfiojail itself with --exec): a new mount namespace with
 * its own /dev, then the cgroup.  /dev is populated before joining the cgroup:
 * the filter grants no mknod to anything in the VM's cgroup, this child included. */
static int join_jail(void *userdata, struct vj_error **err)
{
	struct launch *l = userdata;
	struct vj_mountns_opts mo = { .dev_root = vj_root_dev(&l->o->plan.roots), .target = "/dev" };

	if (vj_mountns_enter(err) < 0 ||
	    vj_mountns_populate_dev(l->plan->nodes, l->plan->n_nodes, &mo, err) < 0)
		return -1;
	return vj_cgroup_enter(l->st.cgroup, 0, err);
}

/* The VMM's pid goes into the state before the child may exec: a state that
 * cannot be written (a full /run) stops the launch rather than leave a VMM that
 * status and teardown do not know. */
static int vmm_forked(pid_t pid, void *userdata, struct vj_error **err)
{
	struct launch *l = userdata;

	l->st.vmm = pid;
	return vj_state_write(l->dirfd, &l->st, err);
}

static void vmm_started(pid_t pid, void *userdata)
{
	struct launch *l = userdata;

	(void)pid;
	/* The state file has the plan now; the supervisor needs only the names
	 * in l->st to clean up, so a big plan's memory goes while the VM runs. */
	l->st.plan = NULL;
	l->vmm.plan = NULL;
	vj_plan_free(l->plan);
	l->plan = NULL;
}

static int launch_exec(struct launch *l, const sigset_t *old, struct vj_error **err)
{
	int nofd = -1;

	if (vj_cgroup_self_dir(vj_root_proc(&l->o->plan.roots), &l->orig_cgroup, err) < 0)
		return -1;
	/* The lock is close-on-exec: once the VMM runs, its cgroup says it is alive. */
	if (join_jail(l, err) < 0 || vj_vmm_child_finish(&l->vmm, &nofd, err) < 0)
		return -1;
	return vj_vmm_exec(&l->vmm, old, err);
}

int vj_run(const struct vj_spec *spec, const struct vj_run_opts *o, struct vj_error **err)
{
	struct launch l = { .spec = spec, .o = o, .dirfd = -1, .lock_fd = -1 };
	sigset_t set, old;
	int r = -1;
	size_t i;

	if (!o->argv || !o->argv[0])
		return vj_err(err, VJ_EXIT_USAGE, 0, "argv", NULL,
			      "vfiojail run SPEC -- VMM [ARGS...]", "no VMM to run");
	if (vj_vmm_check_preserved(o->preserve_fds, err) < 0 ||
	    vj_plan_build(spec, &o->plan, &l.plan, err) < 0)
		goto out;
	for (i = 0; i < l.plan->n_warnings; i++)
		warn(o, l.plan->warnings[i]);
	if (vj_preflight(o, l.plan, err) < 0)
		goto out;
	if (vj_vmm_prepare(&l.vmm, l.plan, o, err) < 0)
		goto out;
	if (setup_state(&l, err) < 0 || setup_cgroup_and_filter(&l, err) < 0 ||
	    vj_vmm_open_contexts(&l.vmm, vj_root_dev(&o->plan.roots), o->iommufd_best_effort,
				 o->warn, o->userdata, err) < 0)
		goto undo;

	vj_vmm_block_signals(o->exec, &set, &old);
	if (o->exec) {
		launch_exec(&l, &old, err); /* returns only on failure */
		sigprocmask(SIG_SETMASK, &old, NULL);
		goto undo;
	}
	r = vj_vmm_start_supervised(&l.vmm, join_jail, vmm_forked, vmm_started, &l, &old, &set, err);
	if (r < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		goto undo;
	}
	/* The VMM has exited: whatever it left in its cgroup goes with it. */
	{
		struct vj_error *e = NULL;
		launch_keep(&l);
		if (vj_jail_remove(l.dirfd, &l.st, true, &e) < 0) {
			char msg[512];
			snprintf(msg, sizeof(msg), "cleanup after the VMM exited: %s: %s%s%s",
				 e && e->object ? e->object : "", e && e->message ? e->message : "",
				 e && e->errnum ? ": " : "", e && e->errnum ? strerror(e->errnum) : "");
			warn(o, msg);
		}
		vj_error_free(e);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	goto out;
undo:
	r = -1;
out:
	launch_undo(&l);
	launch_free(&l);
	return r;
}

/* ------------------------------------------------------------------------- */
/* Hand-off: the same steps for a VMM process that already runs              */

int vj_run_handoff(const struct vj_spec *spec, const struct vj_run_opts *o, pid_t pid, int pidfd,
		   uid_t caller, struct vj_handoff *out, struct vj_error **err)
{
	struct launch l = { .spec = spec, .o = o, .dirfd = -1, .lock_fd = -1, .target = pid };
	_cleanup_free_ char *client_cg = NULL;
	struct vj_run_opts ho;
	uint64_t soft, hard, want;
	char who[32];
	int r = -1;

	snprintf(who, sizeof(who), "pid %d", (int)pid);
	/* The VM's cgroup goes below the client's own (a launcher's cgroup for the
	 * domain), unless root chose a parent for every VM. */
	if (!o->plan.cgroup_parent) {
		if (vj_cgroup_of_pid(pid, &client_cg, err) < 0)
			goto out;
		ho = *o;
		ho.plan.cgroup_parent = client_cg;
		o = &ho;
		l.o = o;
	}
	if (vj_plan_build(spec, &o->plan, &l.plan, err) < 0)
		goto out;
	/* The spec grants the VM to its user, and to no one else. */
	if (l.plan->uid != caller) {
		vj_err(err, VJ_EXIT_DENIED, EPERM, "launch", spec->name,
		       "ask root to write a spec for your user, or launch as the spec's user",
		       "VM %s runs as uid %u; uid %u may not launch it", spec->name,
		       (unsigned)l.plan->uid, (unsigned)caller);
		goto out;
	}
	if (vj_preflight(o, l.plan, err) < 0)
		goto out;
	l.vmm.plan = l.plan;
	if (setup_state(&l, err) < 0 || setup_cgroup_and_filter(&l, err) < 0 ||
	    vj_vmm_open_contexts(&l.vmm, vj_root_dev(&o->plan.roots), o->iommufd_best_effort,
				 o->warn, o->userdata, err) < 0)
		goto undo;
	/* The client sets its soft limit itself; a hard limit below the plan can
	 * only be raised from here, which needs CAP_SYS_RESOURCE. */
	want = l.plan->memlock.unlimited ? UINT64_MAX : l.plan->memlock.bytes;
	if (!l.plan->memlock.unchanged &&
	    (vj_proc_memlock(pid, &soft, &hard) < 0 ||
	     (hard < want && vj_rlimit_memlock_raise(pid, want, err) < 0))) {
		if (err && !*err)
			vj_err(err, VJ_EXIT_SETUP, ESRCH, "memlock", who, NULL,
			       "cannot read the client's RLIMIT_MEMLOCK");
		goto undo;
	}
	if (vj_cgroup_enter(l.st.cgroup, pid, err) < 0)
		goto undo;
	/* The pid was the client's when it connected; it must still be. */
	if (vj_pidfd_alive(pidfd) <= 0) {
		vj_err(err, VJ_EXIT_SETUP, ESRCH, "launch", who, NULL,
		       "the client exited while its VM was being set up");
		goto undo;
	}
	out->n = l.plan->n_iommufd;
	out->fds = calloc(out->n + 1, sizeof(int));
	out->ids = calloc(out->n + 1, sizeof(char *));
	if (!out->fds || !out->ids) {
		free(out->fds);
		free(out->ids);
		memset(out, 0, sizeof(*out));
		vj_err(err, VJ_EXIT_SETUP, ENOMEM, "launch", spec->name, NULL, "out of memory");
		goto undo;
	}
	for (size_t i = 0; i < out->n; i++) {
		out->fds[i] = l.vmm.ctx_fds[i];
		l.vmm.ctx_fds[i] = -1;
	}
	for (size_t i = 0; i < out->n; i++)
		if (!(out->ids[i] = strdup(l.plan->iommufd[i].id))) {
			vj_handoff_clear(out);
			vj_err(err, VJ_EXIT_SETUP, ENOMEM, "launch", spec->name, NULL, "out of memory");
			goto undo;
		}
	out->memlock = l.plan->memlock;
	out->memlock.terms = NULL;
	out->memlock.n_terms = 0;
	out->cgroup = strdup(l.st.cgroup);
	if (!out->cgroup) {
		vj_handoff_clear(out);
		vj_err(err, VJ_EXIT_SETUP, ENOMEM, "launch", spec->name, NULL, "out of memory");
		goto undo;
	}
	launch_keep(&l); /* the client's now */
	r = 0;
	goto out;
undo:
	r = -1;
out:
	launch_undo(&l);
	launch_free(&l);
	return r;
}
