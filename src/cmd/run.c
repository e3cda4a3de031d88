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
#include "run.h"
#include "teardown.h"

struct launch {
	const struct vj_spec *spec;
	const struct vj_run_opts *o;
	struct vj_jail j;      /* state dir, lock, state (j.st.plan: the plan) */
	struct vj_apply a;     /* the steps run for this VM */
	struct vj_vmm vmm;     /* path, argv, env, iommufd contexts */
	pid_t target;          /* vj_run_handoff: the client that becomes the VMM */
	/* vj_run_handoff: the RLIMIT_MEMLOCK the client gets, for the state */
	uint64_t memlock_soft, memlock_hard;
	enum vj_memlock_from memlock_from;
	/* supervised: the state file as vmm_forked wrote it, so that launch_end
	 * need not read back what it wrote when nothing changed it since */
	struct vj_state_stamp stamp;
	bool stamped;
};

static const enum vj_step launch_steps[] = { VJ_STEP_CGROUP, VJ_STEP_FILTER, VJ_STEP_CONTEXTS };

static void warn(const struct vj_run_opts *o, const char *msg)
{
	if (o->warn)
		o->warn(msg, o->userdata);
}

static void launch_free(struct launch *l)
{
	vj_apply_release(&l->a);
	vj_vmm_free(&l->vmm);
	vj_jail_close(&l->j);
}

/* Claim the name, then the engine: state (written first), cgroup, filter,
 * iommufd contexts.  On failure nothing of it is left. */
static int launch_create(struct launch *l, struct vj_plan *plan, struct vj_error **err)
{
	if (vj_jail_claim(&l->j, plan, l->o, true, err) < 0)
		return -1;
	/* --exec: this process becomes the VMM; a hand-off: the client does. */
	l->j.st.supervisor = l->o->exec || l->target ? 0 : getpid();
	l->j.st.vmm = l->target ? l->target : l->o->exec ? getpid() : 0;
	vj_jail_origin(&l->j, l->target ? VJ_ORIGIN_LAUNCH : VJ_ORIGIN_RUN);
	l->j.st.vmm_memlock_soft = l->memlock_soft;
	l->j.st.vmm_memlock_hard = l->memlock_hard;
	l->j.st.vmm_memlock_from = l->memlock_from;
	/* The spec and the roots, for attach and detach to plan again. */
	if (vj_jail_keep_spec(&l->j, l->spec, l->o) < 0)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", plan->name, NULL, "out of memory");
	l->vmm.plan = plan;
	l->a = (struct vj_apply){ .dirfd = l->j.dirfd, .st = &l->j.st, .o = l->o, .vmm = &l->vmm };
	/* run's child sets soft = hard = the plan; a hand-off's client is raised by pid. */
	vj_apply_vmm_memlock(&l->a, l->target ? VJ_VMM_MEMLOCK_RAISE : VJ_VMM_MEMLOCK_PLAN, &plan->memlock);
	return vj_apply_create(&l->a, launch_steps, ARRAY_SIZE(launch_steps), err);
}

/* The launch child (or vfiojail itself with --exec): a new mount namespace with
 * its own /dev, then the cgroup, then the plan's RLIMIT_MEMLOCK.  /dev is
 * populated before joining the cgroup: the filter grants no mknod to anything
 * in the VM's cgroup, this child included. */
static int join_jail(void *userdata, struct vj_error **err)
{
	struct launch *l = userdata;
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
 * status and teardown do not know. */
static int vmm_forked(pid_t pid, void *userdata, struct vj_error **err)
{
	struct launch *l = userdata;

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
	struct launch *l = userdata;

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

static int launch_exec(struct launch *l, const sigset_t *old, struct vj_error **err)
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
static void launch_end(struct launch *l)
{
	struct vj_error *e = NULL;
	char msg[512];

	/* Under the name's lock again, and only while the state is still this
	 * VMM's (an attach may have changed it; a later run may have replaced a
	 * jail whose VMM was gone): the state this process wrote while the file is
	 * the one it wrote, else the file read back. */
	if (l->j.lock_fd < 0 ? vj_teardown_ended_run(&l->j.st, l->stamped ? &l->stamp : NULL, l->o, &e) == 0
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
	struct launch l = { .spec = spec, .o = o, .j = { .dirfd = -1, .lock_fd = -1 } };
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
	if (vj_preflight(o, plan, err) < 0 || vj_vmm_prepare(&l.vmm, plan, o, err) < 0) {
		vj_vmm_free(&l.vmm);
		vj_plan_free(plan);
		return -1;
	}
	if (launch_create(&l, plan, err) < 0)
		goto out;
	vj_vmm_block_signals(o->exec, &set, &old);
	if (o->exec) {
		launch_exec(&l, &old, err); /* returns only on failure */
		vj_apply_undo(&l.a);
	} else if ((r = vj_vmm_start_supervised(&l.vmm, join_jail, vmm_forked, vmm_started, &l, &old,
						&set, err)) < 0) {
		vj_apply_undo(&l.a);
	} else {
		launch_end(&l);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	launch_free(&l);
	return r;
}

/* ------------------------------------------------------------------------- */
/* Hand-off: the same steps for a VMM process that already runs              */

/* The contexts and the hostdev fds (moved out of @vmm), their ids, the memlock
 * figure and the cgroup (NULL: none, for contexts alone), for the client. */
void vj_handoff_clear(struct vj_handoff *h)
{
	for (size_t i = 0; i < h->n; i++) {
		if (h->fds && h->fds[i] >= 0)
			close(h->fds[i]);
		if (h->ids)
			free(h->ids[i]);
	}
	free(h->fds);
	free(h->ids);
	free(h->cgroup);
	free(h->client_cgroup);
	memset(h, 0, sizeof(*h));
}

static int handoff_fill(struct vj_handoff *out, const struct vj_plan *plan, struct vj_vmm *vmm,
			const char *cgroup, struct vj_error **err)
{
	bool ok = true;

	out->n = vmm->n_fds;
	out->fds = calloc(out->n + 1, sizeof(int));
	out->ids = calloc(out->n + 1, sizeof(char *));
	out->cgroup = cgroup ? strdup(cgroup) : NULL;
	for (size_t i = 0; out->fds && i < out->n; i++)
		out->fds[i] = -1;
	for (size_t i = 0; out->ids && i < out->n; i++)
		ok = (out->ids[i] = strdup(vmm->ids[i])) && ok;
	if (!ok || !out->fds || !out->ids || (cgroup && !out->cgroup)) {
		vj_handoff_clear(out);
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "launch", plan->name, NULL, "out of memory");
	}
	for (size_t i = 0; i < out->n; i++) {
		out->fds[i] = vmm->ctx_fds[i];
		vmm->ctx_fds[i] = -1;
	}
	out->memlock = plan->memlock;
	out->memlock.terms = NULL;
	out->memlock.n_terms = 0;
	return 0;
}

enum vj_memlock_from vj_launch_memlock(const struct vj_memlock_plan *m, bool exact, uint64_t cur_soft,
				       uint64_t cur_hard, uint64_t *soft, uint64_t *hard)
{
	uint64_t want = vj_memlock_plan_limit(m);

	*soft = cur_soft;
	*hard = cur_hard;
	if (m->unchanged)
		return VJ_MEMLOCK_FROM_NONE;
	if (exact && !m->unlimited) {
		*soft = *hard = want;
		return cur_soft > want || cur_hard > want ? VJ_MEMLOCK_FROM_EXACT : VJ_MEMLOCK_FROM_PLAN;
	}
	*soft = cur_soft > want ? cur_soft : want;
	*hard = cur_hard > want ? cur_hard : want;
	return cur_soft > want ? VJ_MEMLOCK_FROM_LAUNCHER : VJ_MEMLOCK_FROM_PLAN;
}

/* The client's ids, read through its pidfd: every uid the VM's, and every gid
 * the spec's group when it names one, else the gid it connected with (so no
 * setuid or setgid program has run since). */
static int check_ids(int pidfd, const struct vj_plan *plan, gid_t gid, const char *who, struct vj_error **err)
{
	struct vj_proc_ids ids;

	if (vj_pidfd_ids(pidfd, &ids) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "launch", who, NULL,
			      "the client exited while its VM was being set up");
	if (!vj_proc_ids_are(&ids, plan->uid, gid))
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "launch", who,
			      "launch from a process whose real, effective, saved and filesystem ids are all the VM's",
			      "the client runs as uid %u/%u/%u/%u gid %u/%u/%u/%u (real/effective/saved/fs), not as "
			      "the VM's uid %u gid %u",
			      (unsigned)ids.ruid, (unsigned)ids.euid, (unsigned)ids.suid, (unsigned)ids.fsuid,
			      (unsigned)ids.rgid, (unsigned)ids.egid, (unsigned)ids.sgid, (unsigned)ids.fsgid,
			      (unsigned)plan->uid, (unsigned)gid);
	return 0;
}

/* The spec grants the VM to its user (and group, when it names one), and to no
 * one else: the socket's credentials (who connected) must be the VM's; *gid is
 * the gid every id of the process must have (check_ids). */
static int check_caller(const struct vj_spec *spec, const struct vj_plan *plan, const struct ucred *peer,
			gid_t *gid, struct vj_error **err)
{
	*gid = spec->group ? plan->gid : peer->gid;
	if (plan->uid != peer->uid)
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "launch", spec->name,
			      "ask root to write a spec for your user, or launch as the spec's user",
			      "VM %s runs as uid %u; uid %u may not launch it", spec->name, (unsigned)plan->uid,
			      (unsigned)peer->uid);
	if (*gid != peer->gid)
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "launch", spec->name,
			      "launch with the spec's group, or ask root to change the spec's \"group\"",
			      "VM %s runs as gid %u; gid %u may not launch it", spec->name, (unsigned)plan->gid,
			      (unsigned)peer->gid);
	return 0;
}

/* The pidfd's process, still alive after an act through its pid. */
static int still_there(int pidfd, const char *who, struct vj_error **err)
{
	if (vj_pidfd_alive(pidfd) > 0)
		return 0;
	return vj_err(err, VJ_EXIT_SETUP, ESRCH, "launch", who, NULL,
		      "the client exited while its VM was being set up");
}

/* The client's pid now, named in messages as *who; it is the pidfd's until
 * that process is reaped. */
static pid_t client_pid(int pidfd, const char *step, char who[static 32], struct vj_error **err)
{
	pid_t pid = vj_pidfd_pid(pidfd);

	if (pid <= 0)
		return vj_err(err, VJ_EXIT_SETUP, ESRCH, step, NULL, NULL,
			      "the client exited before its request was served");
	snprintf(who, 32, "pid %d", (int)pid);
	return pid;
}

/* Where the client was, for an undo to put it back: the parent of the VM's
 * cgroup when that went below the client's own, else @client_cg under the
 * cgroup2 mount. */
static char *client_home(const struct vj_run_opts *o, bool root_parent, const char *client_cg,
			 const struct vj_plan *plan, struct vj_error **err)
{
	_cleanup_free_ char *cg_root = NULL;
	char *from;

	if (!root_parent && plan->cgroup)
		from = vj_path_parent(plan->cgroup, 1);
	else if (vj_cgroup2_root(vj_root_proc(&o->plan.roots), &cg_root, err) < 0)
		return NULL;
	else
		from = vj_path_join(cg_root, client_cg);
	if (!from)
		vj_err(err, VJ_EXIT_SETUP, ENOMEM, "launch", plan->name, NULL, "out of memory");
	return from;
}

int vj_run_handoff(const struct vj_spec *spec, const struct vj_run_opts *o, int pidfd,
		   const struct ucred *peer, struct vj_handoff *out, struct vj_error **err)
{
	struct launch l = { .spec = spec, .o = o, .j = { .dirfd = -1, .lock_fd = -1 } };
	_cleanup_free_ char *client_cg = NULL, *from = NULL;
	bool root_parent = o->plan.cgroup_parent != NULL;
	struct vj_plan *plan = NULL;
	struct vj_run_opts ho;
	uint64_t soft = 0, hard = 0, want;
	char who[32];
	gid_t gid;
	pid_t pid;
	int r = -1;

	/* Every act below goes through the pid the pidfd has now, and is checked
	 * by the pidfd afterwards: a live process kept its pid. */
	if ((pid = client_pid(pidfd, "launch", who, err)) < 0)
		return -1;
	l.target = pid;
	/* The client's cgroup, read through its pidfd: the VM's cgroup goes below it
	 * (a launcher's cgroup for the domain) unless root chose a parent for every
	 * VM. */
	if (vj_cgroup_of_pidfd(pidfd, &client_cg, err) < 0)
		return -1;
	if (!root_parent) {
		ho = *o;
		ho.plan.cgroup_parent = client_cg;
		o = &ho;
		l.o = o;
	}
	if (vj_plan_build(spec, &o->plan, &plan, err) < 0)
		return -1;
	/* The socket's credentials (who connected) and the process's ids now (no
	 * setuid program exec'd since) are both the VM's. */
	if (!(from = client_home(o, root_parent, client_cg, plan, err)) ||
	    check_caller(spec, plan, peer, &gid, err) < 0 || check_ids(pidfd, plan, gid, who, err) < 0 ||
	    vj_preflight(o, plan, err) < 0) {
		vj_plan_free(plan);
		return -1;
	}
	/* The limits the launcher gave the client, read through its pid and then
	 * checked by its pidfd; what the VMM will get is recorded in the state. */
	want = vj_memlock_plan_limit(&plan->memlock);
	if (!plan->memlock.unchanged) {
		if (vj_proc_memlock(pid, &soft, &hard) < 0 || still_there(pidfd, who, err) < 0) {
			if (err && !*err)
				vj_err(err, VJ_EXIT_SETUP, ESRCH, "memlock", who, NULL,
				       "cannot read the client's RLIMIT_MEMLOCK");
			vj_plan_free(plan);
			return -1;
		}
		/* A hard limit below the plan is raised here (both limits then at
		 * least the plan); the client applies the same rule to what it has. */
		l.memlock_from = vj_launch_memlock(&plan->memlock, spec->memlock.mode == VJ_MEMLOCK_HARD,
						   hard < want && soft < want ? want : soft,
						   hard < want ? want : hard, &l.memlock_soft, &l.memlock_hard);
	}
	if (launch_create(&l, plan, err) < 0)
		goto out;
	/* The client sets its limits itself; a hard limit below the plan can only
	 * be raised from here, which needs CAP_SYS_RESOURCE: an engine step, undone
	 * with the rest when a later one fails. */
	l.a.vmm_memlock.pid = pid;
	l.a.vmm_memlock.pidfd = pidfd;
	l.a.vmm_memlock.step = "launch";
	l.a.vmm_memlock.who = who;
	l.a.vmm_memlock.gone = "the client exited while its VM was being set up";
	if (!plan->memlock.unchanged && hard < want && vj_apply_step(&l.a, VJ_STEP_VMM_MEMLOCK, err) < 0)
		goto undo;
	if (still_there(pidfd, who, err) < 0 || vj_cgroup_enter(l.j.st.cgroup, pid, err) < 0)
		goto undo;
	/* Written by pid, so checked by pidfd: if the client had exited, whoever
	 * got its pid is taken out again.  Its ids are checked once more: a setuid
	 * program exec'd meanwhile does not keep the VM's cgroup and memlock. */
	if (still_there(pidfd, who, err) < 0 || check_ids(pidfd, plan, gid, who, err) < 0) {
		vj_cgroup_enter(from, pid, NULL);
		goto undo;
	}
	if (handoff_fill(out, l.j.st.plan, &l.vmm, l.j.st.cgroup, err) < 0 || !(out->client_cgroup = strdup(from))) {
		vj_cgroup_enter(from, pid, NULL);
		if (err && !*err)
			vj_err(err, VJ_EXIT_SETUP, ENOMEM, "launch", who, NULL, "out of memory");
		goto undo;
	}
	out->memlock_exact = spec->memlock.mode == VJ_MEMLOCK_HARD;
	out->vmm = l.j.st.vmm;
	out->vmm_start = l.j.st.vmm_start;
	r = 0; /* the jail is the client's now */
	goto out;
undo:
	vj_apply_undo(&l.a);
out:
	launch_free(&l);
	return r;
}

int vj_run_handoff_cancel(const char *name, const struct vj_run_opts *o, int pidfd,
			  const struct vj_handoff *h, struct vj_error **err)
{
	pid_t pid = vj_pidfd_pid(pidfd);

	/* The client goes back where it came from, if it still runs; what else is
	 * in the VM's cgroup then is the client's own doing, and is not killed:
	 * the jail stays for gc when it cannot be removed. */
	if (pid > 0 && h->client_cgroup)
		vj_cgroup_enter(h->client_cgroup, pid, NULL);
	return vj_teardown(name, o, false, err);
}

/* ------------------------------------------------------------------------- */
/* Contexts alone: no jail, for a launcher that runs the VMM itself          */

int vj_run_contexts(const struct vj_spec *spec, const struct vj_run_opts *o, int pidfd,
		    const struct ucred *peer, struct vj_handoff *out, struct vj_error **err)
{
	struct vj_plan *plan = NULL;
	struct vj_vmm vmm = { 0 };
	char who[32];
	gid_t gid;
	pid_t pid;
	int r = -1;

	/* Nothing is done to the client: its pid only names it in messages. */
	if ((pid = client_pid(pidfd, "contexts", who, err)) < 0)
		return -1;
	if (vj_plan_build(spec, &o->plan, &plan, err) < 0)
		return -1;
	/* Granted as launch is: the spec's user (and group), the socket's
	 * credentials and every id of the process, before and after. */
	if (check_caller(spec, plan, peer, &gid, err) < 0 || check_ids(pidfd, plan, gid, who, err) < 0)
		goto out;
	if (plan->n_iommufd == 0) {
		vj_err(err, VJ_EXIT_DENIED, ENOENT, "contexts", spec->name,
		       "the spec's hostdevs must use the iommufd backend (or list \"iommufd\" contexts)",
		       "VM %s has no iommufd context to give", spec->name);
		goto out;
	}
	vmm.plan = plan;
	vmm.contexts_only = true; /* the caller's launcher opens its devices itself */
	if (vj_vmm_open_contexts(&vmm, vj_root_dev(&o->plan.roots), o->iommufd_best_effort, o->warn, o->userdata,
				 err) < 0 ||
	    check_ids(pidfd, plan, gid, who, err) < 0 || handoff_fill(out, plan, &vmm, NULL, err) < 0)
		goto out;
	/* The caller's RLIMIT_MEMLOCK is its own: it is not changed, and the
	 * answer says so. */
	out->memlock = (struct vj_memlock_plan){ .unchanged = true };
	for (size_t i = 0; i < plan->n_iommufd; i++)
		out->per_user = out->per_user || plan->iommufd[i].accounting == VJ_ACCOUNTING_PER_USER;
	out->vmm = pid;
	r = 0;
out:
	vj_vmm_free(&vmm);
	vj_plan_free(plan);
	return r;
}
