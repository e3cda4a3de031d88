/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The launch service's steps for a client process (launch.h): the steps of
 * `vfiojail run` (a jail made for a VMM, vmjail.h) for a VMM process that
 * already runs, the contexts alone, and the cancel when the answer cannot be
 * sent.
 */
#include "launch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cgroup.h"
#include "error.h"
#include "memlock.h"
#include "pidfd.h"
#include "proc.h"
#include "remove.h"
#include "rlimit.h"
#include "sysfs.h"
#include "util.h"
#include "vmjail.h"
#include "vmm.h"

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

int vj_launch_handoff(const struct vj_spec *spec, const struct vj_run_opts *o, int pidfd,
		      const struct ucred *peer, struct vj_handoff *out, struct vj_error **err)
{
	struct vj_vmjail l = { .spec = spec, .o = o, .j = { .dirfd = -1, .lock_fd = -1 } };
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
	    vj_preflight_keep(o, plan, &l.pf, err) < 0) {
		vj_preflight_clear(&l.pf);
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
			vj_preflight_clear(&l.pf);
			vj_plan_free(plan);
			return -1;
		}
		/* A hard limit below the plan is raised here (both limits then at
		 * least the plan); the client applies the same rule to what it has. */
		l.memlock_from = vj_launch_memlock(&plan->memlock, spec->memlock.mode == VJ_MEMLOCK_HARD,
						   hard < want && soft < want ? want : soft,
						   hard < want ? want : hard, &l.memlock_soft, &l.memlock_hard);
	}
	if (vj_vmjail_create(&l, plan, err) < 0)
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
	vj_vmjail_free(&l);
	return r;
}

int vj_launch_cancel(const char *name, const struct vj_run_opts *o, int pidfd,
			  const struct vj_handoff *h, struct vj_error **err)
{
	pid_t pid = vj_pidfd_pid(pidfd);

	/* The client goes back where it came from, if it still runs; what else is
	 * in the VM's cgroup then is the client's own doing, and is not killed:
	 * the jail stays for gc when it cannot be removed. */
	if (pid > 0 && h->client_cgroup)
		vj_cgroup_enter(h->client_cgroup, pid, NULL);
	return vj_jail_remove(name, o, false, err);
}

/* ------------------------------------------------------------------------- */
/* Contexts alone: no jail, for a launcher that runs the VMM itself          */

int vj_launch_contexts(const struct vj_spec *spec, const struct vj_run_opts *o, int pidfd,
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
