/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A jail as the commands hold it: a name claimed for a new jail (run, setup,
 * launch) or one opened (enter, attach, detach), with its lock and state, and the
 * checks every launch passes first (vj_preflight).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include "jail.h"
#include "apply.h"
#include "cgroup.h"
#include "devfilter.h"
#include "error.h"
#include "name.h"
#include "pidfd.h"
#include "pins.h"
#include "plan.h"
#include "spec_internal.h"
#include "state.h"
#include "util.h"

static int oom(struct vj_error **err, const char *object)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", object, NULL, "out of memory");
}

/* The state dir checked; *@fd its fd when it exists (-1 otherwise). */
static int check_state_dir(const struct vj_run_opts *o, bool *exists, int *fd, struct vj_error **err)
{
	const char *state = vj_state_dir(o->state_dir);
	_cleanup_free_ char *parent = NULL;
	_cleanup_close_ int dirfd = -1;
	int r = vj_state_dir_find(o->state_dir, &dirfd, err);

	if (exists)
		*exists = r == 1;
	if (r == 1 && fd)
		*fd = TAKE_FD(dirfd);
	if (r != 0)
		return r < 0 ? -1 : 0;
	parent = vj_path_parent(state, 1);
	if (!parent)
		return oom(err, state);
	if (access(parent, W_OK) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", state,
			      errno == EROFS ? "only the commands that make a jail (run, setup) need a writable state directory: choose one with --state-dir"
					     : "create its parent directory, or choose another with --state-dir",
			      "cannot create the state directory");
	return 0;
}

int vj_jail_check_state_dir(const struct vj_run_opts *o, bool *exists, struct vj_error **err)
{
	return check_state_dir(o, exists, NULL, err);
}

void vj_preflight_clear(struct vj_preflight *pf)
{
	if (!pf || !pf->valid)
		return;
	if (pf->dirfd >= 0)
		close(pf->dirfd);
	free(pf->bpffs);
	*pf = (struct vj_preflight){ .dirfd = -1 };
}

int vj_preflight(const struct vj_run_opts *o, const struct vj_plan *p, struct vj_error **err)
{
	return vj_preflight_keep(o, p, NULL, err);
}

int vj_preflight_keep(const struct vj_run_opts *o, const struct vj_plan *p, struct vj_preflight *pf,
		      struct vj_error **err)
{
	_cleanup_free_ char *parent = NULL, *bpffs = NULL;
	_cleanup_close_ int dirfd = -1;
	struct statvfs sv;
	bool seen = false;
	int r;

	if (!p->cgroup)
		return vj_err(err, VJ_EXIT_SETUP, ENOENT, "cgroup", NULL,
			      "mount cgroup2 (vfiojail check tells where it looks)",
			      "no cgroup2 mount: the device filter cannot be installed, so the VM does not start");
	parent = vj_path_parent(p->cgroup, 1);
	if (!parent)
		return oom(err, p->cgroup);
	if (statvfs(parent, &sv) == 0 && (sv.f_flag & ST_RDONLY))
		return vj_err(err, VJ_EXIT_SETUP, EROFS, "cgroup", parent,
			      "give vfiojail a writable cgroup2 mount (containers often get /sys/fs/cgroup read-only)",
			      "the cgroup2 file system holding %s is read-only: the VM's cgroup cannot be created",
			      parent);
	if (check_state_dir(o, NULL, &dirfd, err) < 0)
		return -1;
	bpffs = vj_jail_bpffs_seen(o, &seen);
	if (!bpffs)
		return oom(err, "bpffs");
	r = vj_devfilter_check_root_known(bpffs, o->bpffs && *o->bpffs, seen, err);
	if (r == 0 && pf) {
		vj_preflight_clear(pf);
		*pf = (struct vj_preflight){ .valid = true, .dirfd = TAKE_FD(dirfd), .bpffs = TAKE_PTR(bpffs) };
	}
	return r;
}

/* ------------------------------------------------------------------------- */
/* The spec, kept in the state for re-planning                                */


static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The state a later command needs: where the host was read, the spec, the plan. */
static int state_fill(struct vj_state *st, const struct vj_spec *spec, struct vj_plan *plan,
		      const struct vj_run_opts *o)
{
	const struct vj_roots *roots = &o->plan.roots;

	st->spec = vj_spec_json(spec, plan);
	st->plan = plan;
	st->iommufd_best_effort = o->iommufd_best_effort;
	st->sysfs_root = dup_or_null(roots->sysfs);
	st->proc_root = dup_or_null(roots->proc);
	st->dev_root = dup_or_null(roots->dev);
	st->cgroup_parent = dup_or_null(o->plan.cgroup_parent);
	if (!st->spec || (roots->sysfs && !st->sysfs_root) || (roots->proc && !st->proc_root) ||
	    (roots->dev && !st->dev_root) || (o->plan.cgroup_parent && !st->cgroup_parent))
		return -1;
	return 0;
}

int vj_jail_keep_spec(struct vj_jail *j, const struct vj_spec *spec, const struct vj_run_opts *o)
{
	return state_fill(&j->st, spec, j->st.plan, o);
}

/* ------------------------------------------------------------------------- */
/* Locks                                                                      */

/* The name's lock, waiting up to about 5 s for a short command (enter, attach)
 * that holds it; a supervising run holds it for good: still "in use". */
int vj_jail_lock_name(int dirfd, const char *name, bool wait, struct vj_error **err)
{
	for (int tries = 0;; tries++) {
		struct vj_error *e = NULL;
		int fd = vj_state_lock(dirfd, name, &e);
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		if (fd >= 0)
			return fd;
		if (!wait || e->status != VJ_EXIT_USAGE || tries >= 250) {
			return vj_err_pass(err, e);
		}
		vj_error_free(e);
		nanosleep(&ts, NULL);
	}
}


/* ------------------------------------------------------------------------- */
/* Claiming a name for a new jail (run, setup, launch)                        */

/* A previous jail of the name when @replace_dead: refused while it runs or when
 * setup made it, removed when its VMM is gone.  Otherwise any jail is refused. */
static int claim_old(struct vj_jail *j, const char *name, bool replace_dead, const struct vj_run_opts *o,
		     struct vj_error **err)
{
	struct vj_state old;
	bool populated = false;
	char msg[256], shown[VJ_NAME_SHOWN_MAX];
	int r = vj_state_read(j->dirfd, name, &old, err);

	if (r == 1)
		return 0;
	if (r == -1) /* could not be read: says nothing about whether the name is taken */
		return vj_err_wrap(err, "state", name,
				   replace_dead ? "cannot tell whether a previous launch still runs; run vfiojail teardown %s"
						: "cannot tell whether a jail of this name exists",
				   name);
	if (r < 0 && replace_dead) /* damaged */
		return vj_err_wrap(err, "state", name,
				   "cannot tell whether a previous launch still runs; run vfiojail teardown %s", name);
	if (r < 0 || !replace_dead) {
		if (err && *err) { /* damaged: the name is taken all the same */
			vj_error_free(*err);
			*err = NULL;
		}
		vj_state_clear(&old);
		return vj_err(err, VJ_EXIT_USAGE, EEXIST, "state", name,
			      "pick another name, or remove it first: vfiojail teardown NAME",
			      "a jail of this name exists already");
	}
	if (old.kind == VJ_STATE_SETUP) {
		vj_err(err, VJ_EXIT_USAGE, EEXIST, "state", name,
		       "run a command in it with vfiojail enter NAME, or remove it with teardown",
		       "a jail made by vfiojail setup has this name");
		vj_state_clear(&old);
		return -1;
	}
	if (old.cgroup && vj_cgroup_populated(old.cgroup, &populated, NULL) == 0 && populated) {
		vj_err(err, VJ_EXIT_USAGE, 0, "state", name, "stop it first, or vfiojail teardown --kill NAME",
		       "this VM is already running (VMM pid %d, cgroup %s)", (int)old.vmm, old.cgroup);
		vj_state_clear(&old);
		return -1;
	}
	r = vj_apply_destroy(j->dirfd, &old, false, err);
	if (r == 0 && o->warn) {
		snprintf(msg, sizeof(msg), "removed what a previous launch of %s left (VMM pid %d is gone)",
			 vj_name_shown(name, shown), (int)old.vmm);
		o->warn(msg, o->userdata);
	}
	vj_state_clear(&old);
	return r;
}

int vj_jail_claim(struct vj_jail *j, struct vj_plan *plan, const struct vj_run_opts *o, bool replace_dead,
		  struct vj_preflight *pf, struct vj_error **err)
{
	bool kept = pf && pf->valid;

	*j = (struct vj_jail){ .dirfd = -1, .lock_fd = -1, .name = plan->name };
	j->st.plan = plan;
	/* The state dir the preflight opened and checked, when it existed then. */
	if (kept && pf->dirfd >= 0)
		j->dirfd = TAKE_FD(pf->dirfd);
	else
		j->dirfd = vj_state_dir_open(o->state_dir, err);
	if (j->dirfd < 0)
		return -1;
	j->lock_fd = vj_state_lock(j->dirfd, plan->name, err);
	if (j->lock_fd < 0 || claim_old(j, plan->name, replace_dead, o, err) < 0)
		return -1;
	j->st.name = strdup(plan->name);
	j->st.cgroup = strdup(plan->cgroup);
	/* The bpffs root the preflight chose (and checked), not looked up again. */
	j->st.bpf_pin = kept && pf->bpffs ? vj_devfilter_pin_dir(pf->bpffs, plan->name)
					   : vj_jail_pin_dir(o, plan->name);
	if (!j->st.name || !j->st.cgroup || !j->st.bpf_pin)
		return oom(err, plan->name);
	j->name = j->st.name;
	return 0;
}

void vj_jail_origin(struct vj_jail *j, enum vj_state_origin origin)
{
	j->st.origin = origin;
	j->st.vmm_start = 0;
	if (j->st.vmm > 0 && vj_pid_starttime(j->st.vmm, &j->st.vmm_start) < 0)
		j->st.vmm_start = 0; /* not recorded: a live pid then counts as the VMM */
}

/* ------------------------------------------------------------------------- */
/* Opening a jail made by setup                                               */

void vj_jail_close(struct vj_jail *j)
{
	if (j->lock_fd >= 0)
		vj_state_unlock(j->dirfd, j->name, j->lock_fd);
	j->lock_fd = -1;
	if (j->dirfd >= 0)
		close(j->dirfd);
	j->dirfd = -1;
	vj_state_clear(&j->st);
}

/*
 * A jail whose VMM vfiojail started (run) or the launch service jailed
 * (launch): the process the state names must still be that VMM, known by its
 * pid AND start time, or nothing is done (a pid alone may be another process's
 * by now).
 */
static int hotplug_kind_ok(const struct vj_state *st, struct vj_error **err)
{
	_cleanup_close_ int pidfd = -1;

	if (st->origin != VJ_ORIGIN_RUN && st->origin != VJ_ORIGIN_LAUNCH)
		return vj_err(err, VJ_EXIT_USAGE, 0, "state", st->name,
			      "stop the VM and start it again with this vfiojail",
			      "an older vfiojail made this jail and did not record which command did: it cannot be changed");
	if (!st->plan || !st->spec || !st->cgroup || !st->bpf_pin)
		return vj_err(err, VJ_EXIT_USAGE, 0, "state", st->name,
			      "stop the VM and start it again with this vfiojail",
			      "the state keeps no plan, spec, cgroup or filter (an older vfiojail's): it cannot be changed");
	if (st->vmm <= 0 || !st->vmm_start)
		return vj_err(err, VJ_EXIT_USAGE, ESRCH, "state", st->name,
			      "it cannot be told from a process that took its pid: nothing was changed",
			      "the state records no VMM with its start time");
	pidfd = vj_pidfd_open_checked(st->vmm, st->vmm_start);
	if (pidfd < 0 || vj_pidfd_running(pidfd) != 1)
		return vj_err(err, VJ_EXIT_USAGE, ESRCH, "state", st->name,
			      "vfiojail gc removes the jail of a VM that ended",
			      "its VMM (pid %d, started at %" PRIu64 ") is gone; pid %d is not that process: nothing was changed",
			      (int)st->vmm, st->vmm_start, (int)st->vmm);
	return 0;
}

/* Lock NAME and read its state; it must be a jail made by setup, or with
 * @hotplug one whose VMM vfiojail started or jailed and still runs. */
int vj_jail_open(struct vj_jail *j, const char *name, const struct vj_run_opts *o, bool hotplug,
		 struct vj_error **err)
{
	int r;

	*j = (struct vj_jail){ .dirfd = -1, .lock_fd = -1, .name = name };
	if (vj_validate_name(name, "NAME", err) < 0)
		return -1;
	j->dirfd = vj_state_dir_open(o->state_dir, err);
	if (j->dirfd < 0)
		return -1;
	j->lock_fd = vj_jail_lock_name(j->dirfd, name, true, err);
	if (j->lock_fd < 0)
		return -1;
	r = vj_state_read(j->dirfd, name, &j->st, err);
	if (r == 1)
		return vj_err(err, VJ_EXIT_USAGE, ENOENT, "state", name,
			      "create it with vfiojail setup", "no jail of this name");
	if (r < 0)
		return -1;
	if (j->st.kind != VJ_STATE_SETUP && !hotplug)
		return vj_err(err, VJ_EXIT_USAGE, 0, "state", name,
			      "only jails made by vfiojail setup can be entered",
			      "this VM was started by %s",
			      j->st.origin == VJ_ORIGIN_LAUNCH ? "the launch service" : "vfiojail run");
	if (j->st.kind != VJ_STATE_SETUP && hotplug_kind_ok(&j->st, err) < 0)
		return -1;
	/* An attach or detach that did not finish (a crash) is undone first. */
	return vj_apply_recover(j->dirfd, &j->st, o, err);
}

/* An fd of the kept namespace, checked to be a mount namespace. */

/* ------------------------------------------------------------------------- */
/* Whether a jail's processes live                                           */

bool vj_jail_vmm_runs(const struct vj_state *st)
{
	_cleanup_close_ int pidfd = -1;

	if (st->vmm <= 0)
		return false;
	if (!st->vmm_start)
		return kill(st->vmm, 0) == 0 || errno != ESRCH;
	pidfd = vj_pidfd_open_checked(st->vmm, st->vmm_start);
	if (pidfd < 0)
		return errno != ESRCH;
	return vj_pidfd_running(pidfd) != 0;
}

/* The start time of the process with pid @pid (pidfd.h), 0 when gone. */
static uint64_t proc_start_time(pid_t pid)
{
	uint64_t t;

	return vj_pid_starttime(pid, &t) == 0 ? t : 0;
}

bool vj_jail_owner_alive(const struct vj_state *st)
{
	if (st->origin == VJ_ORIGIN_LAUNCH)
		return vj_jail_vmm_runs(st); /* the VMM is its own launcher */
	if (st->kind == VJ_STATE_RUN)
		return st->supervisor > 0 && kill(st->supervisor, 0) == 0;
	return st->owner > 0 && proc_start_time(st->owner) == st->owner_start;
}
