/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The apply engine (apply.h): one table of steps, each with its do and undo,
 * and the ledger in the state that says which may have begun.
 */
#include "apply.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "child.h"
#include "devfilter.h"
#include "error.h"
#include "hashset.h"
#include "jbuf.h"
#include "pins.h"
#include "proc.h"
#include "memlock.h"
#include "mountns.h"
#include "name.h"
#include "pidfd.h"
#include "plan.h"
#include "plan_json.h"
#include "rlimit.h"
#include "sysfs.h"
#include "util.h"
#include "vmm.h"

struct vj_apply_limit {
	pid_t pid;
	int pidfd; /* the process the limit was changed for */
	uint64_t soft, hard;
};

/* The plans a step goes between: create from nothing to st->plan; a change from
 * st->plan to st->change->plan; an undo the other way. */
static const struct vj_plan *plan_from(const struct vj_apply *a)
{
	return a->st->plan;
}

static const struct vj_plan *plan_to(const struct vj_apply *a)
{
	return a->st->change ? a->st->change->plan : a->st->plan;
}

static void warn(const struct vj_apply *a, const char *msg)
{
	if (a->o && a->o->warn)
		a->o->warn(msg, a->o->userdata);
}

static int oom(struct vj_error **err, const char *object)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", object, NULL, "out of memory");
}

/* ------------------------------------------------------------------------- */
/* cgroup                                                                     */

static int cgroup_do(struct vj_apply *a, struct vj_error **err)
{
	return vj_cgroup_create(a->st->cgroup, err);
}

static int cgroup_undo(struct vj_apply *a, struct vj_error **err)
{
	return a->st->cgroup ? vj_cgroup_remove(a->st->cgroup, err) : 0;
}

/* ------------------------------------------------------------------------- */
/* filter: loaded for the plan's rules, attached to the cgroup as a link,     */
/* verified, pinned                                                           */

static int filter_do(struct vj_apply *a, struct vj_error **err)
{
	const struct vj_plan *p = plan_to(a);
	_cleanup_free_ char *root = vj_path_parent(a->st->bpf_pin, 2);
	_cleanup_close_ int cgfd = -1;

	if (!root)
		return oom(err, a->st->bpf_pin);
	if (vj_jail_bpffs_prepare(a->dirfd, root, err) < 0)
		return -1;
	cgfd = vj_cgroup_open(a->st->cgroup, err);
	if (cgfd < 0 || vj_devfilter_load(p->rules, p->n_rules, &a->filter, err) < 0 ||
	    vj_devfilter_attach(a->filter, cgfd, a->st->cgroup, err) < 0)
		return -1;
	return vj_devfilter_pin(a->filter, a->st->bpf_pin, err);
}

static int filter_undo(struct vj_apply *a, struct vj_error **err)
{
	int r = a->st->bpf_pin ? vj_jail_unpin(a->dirfd, a->st->bpf_pin, err) : 0;

	vj_devfilter_free(a->filter); /* an unpinned link detaches here */
	a->filter = NULL;
	return r;
}

/* ------------------------------------------------------------------------- */
/* namespace: setup's kept mount namespace with the jail's /dev               */

static int namespace_do(struct vj_apply *a, struct vj_error **err)
{
	return vj_jail_ns_make(a->dirfd, a->st->ns_path, plan_to(a),
			       a->o ? vj_root_dev(&a->o->plan.roots) : "/dev", err);
}

static int namespace_undo(struct vj_apply *a, struct vj_error **err)
{
	return a->st->ns_path ? vj_jail_ns_remove(a->dirfd, a->st->ns_path, err) : 0;
}

/* ------------------------------------------------------------------------- */
/* contexts: the iommufd contexts, fds of this process                        */

static int contexts_do(struct vj_apply *a, struct vj_error **err)
{
	const struct vj_run_opts *o = a->o;

	return vj_vmm_open_contexts(a->vmm, a->st->dev_root ? a->st->dev_root : vj_root_dev(&o->plan.roots),
				    o->iommufd_best_effort, o->warn, o->userdata, err);
}

static int contexts_undo(struct vj_apply *a, struct vj_error **err)
{
	(void)err;
	if (a->vmm)
		vj_vmm_close_contexts(a->vmm);
	return 0;
}

/* ------------------------------------------------------------------------- */
/* memlock: RLIMIT_MEMLOCK of every process in the VM's cgroup                */

#define PASSES 8 /* re-reads of cgroup.procs while processes appear */

static bool pid_seen(const pid_t *seen, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (seen[i] == pid)
			return true;
	return false;
}

/* Takes @pidfd (closed on failure too). */
static int limit_record(struct vj_apply *a, pid_t pid, int pidfd, uint64_t soft, uint64_t hard)
{
	struct vj_apply_limit *slot = VJ_PUSH(a->limits, a->n_limits);
	if (!slot) {
		close(pidfd);
		return -1;
	}
	*slot = (struct vj_apply_limit){ pid, pidfd, soft, hard };
	return 0;
}

static void limits_free(struct vj_apply *a)
{
	for (size_t i = 0; i < a->n_limits; i++)
		close(a->limits[i].pidfd);
	free(a->limits);
	a->limits = NULL;
	a->n_limits = 0;
}

/*
 * A process of the jail's cgroup, as a pidfd, for an act through its pid that
 * the pidfd checks afterwards (pidfd.h): the VMM a run or launch jail names is
 * opened only if it is still the process that started at the state's start
 * time, so another process that took its pid is never acted on.  -1 when gone.
 */
static int proc_pidfd(const struct vj_apply *a, pid_t pid)
{
	if (a->st->kind != VJ_STATE_SETUP && pid == a->st->vmm && a->st->vmm_start)
		return vj_pidfd_open_checked(pid, a->st->vmm_start);
	return vj_pidfd_open(pid);
}

/* After an act on @pid through its pid: the pidfd's process still lives, so the
 * act was its.  The VMM gone is an error (the change fails and is undone); any
 * other process gone is not. */
static int act_checked(const struct vj_apply *a, pid_t pid, int pidfd, struct vj_error **err)
{
	if (vj_pidfd_alive(pidfd) > 0 || pid != a->st->vmm)
		return 0;
	return vj_err(err, VJ_EXIT_SETUP, ESRCH, "memlock", a->st->name, NULL,
		      "the VMM (pid %d) exited while its RLIMIT_MEMLOCK was changed", (int)pid);
}

/* The limit the VM's processes have for @m: the plan's, or the launcher's
 * when launch kept it because it was above the plan (state.h). */
static uint64_t limit_of(const struct vj_apply *a, const struct vj_memlock_plan *m)
{
	uint64_t v = vj_memlock_plan_limit(m);

	if (a->st->vmm_memlock_from == VJ_MEMLOCK_FROM_LAUNCHER && a->st->vmm_memlock_soft > v)
		return a->st->vmm_memlock_soft;
	return v;
}

/* Set @pid's limits to @soft and @hard (it had @was_soft and @was_hard), then
 * check by @pidfd (taken) that the act was its; recorded for the undo when
 * @record. */
static int limit_set(struct vj_apply *a, pid_t pid, int pidfd, uint64_t soft, uint64_t hard, uint64_t was_soft,
		     uint64_t was_hard, bool record, struct vj_error **err)
{
	_cleanup_close_ int fd = pidfd;

	if (vj_rlimit_memlock_set_pid(pid, soft, hard, was_hard, err) < 0 || act_checked(a, pid, fd, err) < 0)
		return -1;
	a->memlock_changed = true;
	if (record && limit_record(a, pid, TAKE_FD(fd), was_soft, was_hard) < 0)
		return oom(err, a->st->cgroup);
	return 0;
}

/* The state's record of what the VMM had before vfiojail raised it is about to
 * change: keep the old one for the undo (once a change). */
static void before_changing(struct vj_apply *a)
{
	if (a->before_changed)
		return;
	a->before_was = a->st->vmm_memlock_before;
	a->before_changed = true;
}

/*
 * The first raise of a run or launch jail's VMM (its plan set no limit): what it
 * has is recorded in the state, written before the raise, so that the detach that
 * leaves a plan without a limit again (or the undo of a crashed attach) can put
 * it back.  A record kept from before stays: it is the older value.
 */
static int memlock_save(struct vj_apply *a, uint64_t soft, uint64_t hard, struct vj_error **err)
{
	struct vj_state *st = a->st;

	if (st->kind == VJ_STATE_SETUP || st->vmm_memlock_before.set)
		return 0;
	before_changing(a);
	st->vmm_memlock_before = (struct vj_memlock_before){ .set = true, .soft = soft, .hard = hard };
	return vj_state_write(a->dirfd, st, err);
}

/* Raise each process below @want to it (never lower one), recording what it had
 * when @record, and what the VMM had in the state when @save (memlock_save).
 * Processes forked meanwhile are caught by reading cgroup.procs again until a
 * pass finds every new process at @want or above already: a child inherits its
 * parent's limit, so one forked after that pass has it too (one read where
 * nothing needed raising; a process gone before it was read counts as raised). */
static int memlock_raise(struct vj_apply *a, uint64_t want, bool record, bool save, struct vj_error **err)
{
	_cleanup_free_ pid_t *seen = NULL;
	size_t n_seen = 0;
	bool fresh = true;

	for (int pass = 0; fresh && pass < PASSES; pass++) {
		_cleanup_free_ pid_t *pids = NULL;
		size_t n = 0;

		fresh = false; /* set again by a process raised, or gone before it was read */
		if (vj_cgroup_pids(a->st->cgroup, &pids, &n, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++) {
			_cleanup_close_ int pidfd = -1;
			uint64_t soft, hard;
			pid_t *s;

			if (pid_seen(seen, n_seen, pids[i]))
				continue;
			if (!(s = VJ_PUSH(seen, n_seen)))
				return oom(err, a->st->cgroup);
			*s = pids[i];
			if ((pidfd = proc_pidfd(a, pids[i])) < 0 || vj_proc_memlock(pids[i], &soft, &hard) < 0) {
				fresh = true; /* gone: it may have forked first, look again */
				continue;
			}
			if (soft >= want)
				continue; /* high enough: never lowered */
			fresh = true;
			if (save && pids[i] == a->st->vmm && memlock_save(a, soft, hard, err) < 0)
				return -1;
			if (limit_set(a, pids[i], TAKE_FD(pidfd), want, hard > want ? hard : want, soft, hard, record,
				      err) < 0)
				return -1;
		}
	}
	return 0;
}

/* Lower the processes that have @old to @want, but only when none has more
 * locked (VmLck) than @want: 0 (what was lowered recorded when @record), 1 kept
 * (*why set), -1 with an error. */
static int memlock_lower(struct vj_apply *a, uint64_t old, uint64_t want, bool record, char **why,
			 struct vj_error **err)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;

	if (vj_cgroup_pids(a->st->cgroup, &pids, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint64_t locked = vj_proc_locked(pids[i]);
		if (locked > want) {
			*why = vj_strdupf("pid %d has %" PRIu64 " bytes locked, more than the new limit %" PRIu64,
					  (int)pids[i], locked, want);
			return 1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int pidfd = -1;
		uint64_t soft, hard;

		if ((pidfd = proc_pidfd(a, pids[i])) < 0 || vj_proc_memlock(pids[i], &soft, &hard) < 0 ||
		    soft != old)
			continue; /* gone, or set by someone else */
		if (limit_set(a, pids[i], TAKE_FD(pidfd), want, hard, soft, hard, record, err) < 0)
			return -1;
	}
	return 0;
}

static void memlock_restore(struct vj_apply *a)
{
	for (size_t i = a->n_limits; i-- > 0;)
		if (vj_pidfd_alive(a->limits[i].pidfd) > 0) /* a process gone keeps nothing */
			vj_rlimit_memlock_set_pid(a->limits[i].pid, a->limits[i].soft, a->limits[i].hard,
						  a->limits[i].hard, NULL);
	limits_free(a);
}

/*
 * To a plan that sets no limit (the last device that needed one went): the VMM
 * back to what it had before vfiojail first raised it (memlock_save), but only
 * while its soft limit is still vfiojail's (@raised: the plan's it leaves) and it
 * has no more locked than that.  A limit someone else set since (libvirt's own)
 * wins: it is left, said, and the record dropped; one with more locked is kept,
 * said, and the record with it.  Never fails the step but for memory.
 */
static int memlock_put_back(struct vj_apply *a, uint64_t raised, bool record, struct vj_error **err)
{
	struct vj_state *st = a->st;
	const struct vj_memlock_before was = st->vmm_memlock_before;
	_cleanup_close_ int pidfd = -1;
	_cleanup_free_ char *msg = NULL;
	char shown[VJ_NAME_SHOWN_MAX];
	struct vj_error *e = NULL;
	uint64_t soft, hard, locked;

	if (!was.set || st->kind == VJ_STATE_SETUP)
		return 0;
	before_changing(a);
	st->vmm_memlock_before.set = false;
	if ((pidfd = proc_pidfd(a, st->vmm)) < 0 || vj_proc_memlock(st->vmm, &soft, &hard) < 0)
		return 0; /* the VMM is gone: nothing to put back */
	if (soft == was.soft && hard == was.hard)
		return 0; /* as it was (a crash before the raise) */
	vj_name_shown(st->name, shown);
	if (soft != raised) {
		msg = vj_strdupf("RLIMIT_MEMLOCK of %s's VMM (pid %d) is left at soft %" PRIu64 ", hard %" PRIu64
				 ": someone else set it after vfiojail raised it to %" PRIu64
				 ", so the soft %" PRIu64 ", hard %" PRIu64 " it had before is not put back",
				 shown, (int)st->vmm, soft, hard, raised, was.soft, was.hard);
		goto said;
	}
	if ((locked = vj_proc_locked(st->vmm)) > was.soft) {
		st->vmm_memlock_before = was;
		msg = vj_strdupf("RLIMIT_MEMLOCK of %s's VMM (pid %d) is kept at %" PRIu64 ": it has %" PRIu64
				 " bytes locked, more than the soft %" PRIu64 " it had before the attach",
				 shown, (int)st->vmm, soft, locked, was.soft);
		goto said;
	}
	if (vj_rlimit_memlock_set_pid(st->vmm, was.soft, was.hard, hard, &e) < 0 ||
	    act_checked(a, st->vmm, pidfd, &e) < 0) {
		st->vmm_memlock_before = was;
		msg = vj_strdupf("RLIMIT_MEMLOCK of %s's VMM (pid %d) is kept at %" PRIu64 ": %s", shown,
				 (int)st->vmm, soft, e && e->message ? e->message : "cannot put it back");
		vj_error_free(e);
		goto said;
	}
	a->memlock_changed = true;
	if (record && limit_record(a, st->vmm, TAKE_FD(pidfd), soft, hard) < 0)
		return oom(err, st->cgroup);
	return 0;
said:
	if (msg)
		warn(a, msg);
	return 0;
}

/*
 * The VM's processes from @from's limit to @to's: raised when @to is higher;
 * lowered only when no process has more locked, else kept (with a warning, and
 * @to's figure set back to @from's: the state says what the processes have).
 * A raise that fails fails the step; a lowering never does.
 */
static int memlock_move(struct vj_apply *a, const struct vj_memlock_plan *from,
			struct vj_memlock_plan *to, bool record, struct vj_error **err)
{
	_cleanup_free_ char *why = NULL, *msg = NULL;
	char shown[VJ_NAME_SHOWN_MAX];
	struct vj_error *e = NULL;
	int r;

	if (to->unchanged)
		return from->unchanged ? 0 : memlock_put_back(a, limit_of(a, from), record, err);
	if (from->unchanged || limit_of(a, to) >= limit_of(a, from))
		return memlock_raise(a, limit_of(a, to), record, from->unchanged && record, err);
	r = memlock_lower(a, limit_of(a, from), limit_of(a, to), record, &why, &e);
	if (r == 0)
		return 0;
	if (r < 0 && record)
		memlock_restore(a);
	msg = vj_strdupf("RLIMIT_MEMLOCK of %s's processes is kept as it was: %s",
			 vj_name_shown(a->st->name, shown),
			 r > 0 ? (why ? why : "a process locked more") : (e && e->message ? e->message : "cannot lower it"));
	if (msg)
		warn(a, msg);
	vj_error_free(e);
	to->unchanged = from->unchanged;
	to->unlimited = from->unlimited;
	to->bytes = from->bytes;
	return 0;
}

static int memlock_do(struct vj_apply *a, struct vj_error **err)
{
	return memlock_move(a, &a->st->plan->memlock, &a->st->change->plan->memlock, true, err);
}

static int memlock_undo(struct vj_apply *a, struct vj_error **err)
{
	struct vj_memlock_plan back = a->st->plan->memlock;

	if (a->done & VJ_STEP_BIT(VJ_STEP_MEMLOCK)) { /* this process's: what each process had */
		memlock_restore(a);
		if (a->before_changed)
			a->st->vmm_memlock_before = a->before_was;
		a->before_changed = false;
		return 0;
	}
	back.terms = NULL;
	back.n_terms = 0;
	return memlock_move(a, &a->st->change->plan->memlock, &back, false, err);
}

/* ------------------------------------------------------------------------- */
/* vmm-memlock: RLIMIT_MEMLOCK of the one process that becomes the VMM        */

static uint64_t rlim_u64(rlim_t r)
{
	return r == RLIM_INFINITY ? UINT64_MAX : (uint64_t)r;
}

static rlim_t u64_rlim(uint64_t v)
{
	return v == UINT64_MAX || v >= (uint64_t)RLIM_INFINITY ? RLIM_INFINITY : (rlim_t)v;
}

void vj_apply_vmm_memlock(struct vj_apply *a, enum vj_vmm_memlock_how how, const struct vj_memlock_plan *m)
{
	a->vmm_memlock = (struct vj_apply_memlock){
		.how = how,
		.plan = { .unchanged = m->unchanged, .unlimited = m->unlimited, .bytes = m->bytes },
		.pidfd = -1,
	};
}

/* The process of a RAISE or EXACT has exited: the act by its pid was not its. */
static int vmm_memlock_gone(const struct vj_apply_memlock *m, struct vj_error **err)
{
	return vj_err(err, VJ_EXIT_SETUP, ESRCH, m->step ? m->step : "memlock", m->who ? m->who : "pid", NULL,
		      "%s", m->gone ? m->gone : "the process exited while its RLIMIT_MEMLOCK was set");
}

static int vmm_memlock_do(struct vj_apply *a, struct vj_error **err)
{
	struct vj_apply_memlock *m = &a->vmm_memlock;
	uint64_t want = vj_memlock_plan_limit(&m->plan);
	struct rlimit rl;
	int r = 0;

	m->set = false;
	if (m->plan.unchanged)
		return 0;
	/* What it has, for the undo: read before anything is changed. */
	if (m->pid) {
		if (vj_proc_memlock(m->pid, &m->old_soft, &m->old_hard) < 0)
			return vmm_memlock_gone(m, err);
	} else {
		if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
			return vj_err(err, VJ_EXIT_SETUP, errno, "memlock", "RLIMIT_MEMLOCK", NULL, "getrlimit");
		m->old_soft = rlim_u64(rl.rlim_cur);
		m->old_hard = rlim_u64(rl.rlim_max);
	}
	m->set = true;
	switch (m->how) {
	case VJ_VMM_MEMLOCK_PLAN:
		r = vj_rlimit_memlock_set(&m->plan, err);
		break;
	case VJ_VMM_MEMLOCK_SOFT:
		r = vj_rlimit_memlock_set_soft(&m->plan, err);
		break;
	case VJ_VMM_MEMLOCK_LIMITS:
		rl = (struct rlimit){ .rlim_cur = u64_rlim(m->soft), .rlim_max = u64_rlim(m->hard) };
		if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
			r = vj_err(err, VJ_EXIT_SETUP, errno, "memlock", "RLIMIT_MEMLOCK", m->hint,
				   "cannot set RLIMIT_MEMLOCK to soft %" PRIu64 ", hard %" PRIu64, m->soft, m->hard);
		break;
	case VJ_VMM_MEMLOCK_RAISE:
		r = vj_rlimit_memlock_raise(m->pid, want, err);
		break;
	case VJ_VMM_MEMLOCK_EXACT:
		r = vj_rlimit_memlock_set_pid(m->pid, want, want, m->old_hard, err);
		break;
	}
	/* Set by pid, then checked: the pidfd's process still lives, so the pid was its. */
	if (r == 0 && m->pid && vj_pidfd_alive(m->pidfd) <= 0)
		r = vmm_memlock_gone(m, err);
	return r;
}

/* Back to what the process had.  A hard limit that was lowered comes back only
 * with CAP_SYS_RESOURCE (the kernel's rule); a process gone keeps nothing. */
static int vmm_memlock_undo(struct vj_apply *a, struct vj_error **err)
{
	struct vj_apply_memlock *m = &a->vmm_memlock;
	struct rlimit rl = { .rlim_cur = u64_rlim(m->old_soft), .rlim_max = u64_rlim(m->old_hard) };

	(void)err;
	if (!m->set)
		return 0;
	m->set = false;
	if (!m->pid)
		(void)setrlimit(RLIMIT_MEMLOCK, &rl);
	else if (vj_pidfd_alive(m->pidfd) > 0)
		vj_rlimit_memlock_set_pid(m->pid, m->old_soft, m->old_hard, m->old_hard, NULL);
	return 0;
}

/* ------------------------------------------------------------------------- */
/* nodes: in the kept namespace's /dev                                        */

struct node_key {
	const struct vj_plan *p;
	const char *path;
};

static bool node_eq(const void *ctx, size_t pos)
{
	const struct node_key *k = ctx;

	return strcmp(k->p->nodes[pos].path, k->path) == 0;
}

/* The nodes of @a that @b has not (by path), shallow copies. */
static int nodes_minus(const struct vj_plan *a, const struct vj_plan *b, struct vj_node **out, size_t *n)
{
	struct vj_index ix = { 0 };
	int r = 0;

	*out = calloc(a->n_nodes + 1, sizeof(**out));
	*n = 0;
	if (!*out)
		return -1;
	for (size_t i = 0; i < b->n_nodes && r == 0; i++)
		r = vj_index_add(&ix, vj_hash_str(b->nodes[i].path), i);
	for (size_t i = 0; i < a->n_nodes && r == 0; i++) {
		struct node_key k = { b, a->nodes[i].path };
		if (vj_index_find(&ix, vj_hash_str(k.path), node_eq, &k) == SIZE_MAX)
			(*out)[(*n)++] = a->nodes[i];
	}
	vj_index_clear(&ix);
	if (r < 0) {
		free(*out);
		*out = NULL;
	}
	return r < 0 ? -1 : 0;
}

/* vj_mountns_add_nodes or vj_mountns_remove_nodes in the jail's namespace,
 * entered by ns_nodes. */
static int nodes_in_ns(int ns_fd, bool add, const struct vj_node *nodes, size_t n,
		       struct vj_error **err)
{
	return add ? vj_mountns_add_nodes(ns_fd, nodes, n, err)
		   : vj_mountns_remove_nodes(ns_fd, nodes, n, err);
}

struct nodes_job {
	int ns_fd;
	bool add;
	const struct vj_node *nodes;
	size_t n;
};

static int nodes_job_run(void *arg, int *errfd, struct vj_error **err)
{
	struct nodes_job *j = arg;

	return nodes_in_ns(j->ns_fd, j->add, j->nodes, j->n, err);
}

/* Whether the nsfs fds @a and @b name the same namespace. */
static bool same_ns(int a, int b)
{
	struct stat x, y;

	return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/*
 * The mount namespace of a run jail's VMM (its own, with its private /dev),
 * opened through the VMM's pidfd, which names the process the state names by
 * pid AND start time.  It must be a mount namespace owned by this process's
 * user namespace (one the VMM made itself, under a user namespace of its own,
 * is refused) and not this process's own.  *pidfd gets the VMM's pidfd.
 */
static int vmm_mount_ns(const struct vj_state *st, int *pidfd, char *obj, struct vj_error **err)
{
	_cleanup_close_ int dfd = -1, ns = -1, owner = -1, self_mnt = -1, self_user = -1;

	*pidfd = vj_pidfd_open_checked(st->vmm, st->vmm_start);
	if (*pidfd < 0 || (dfd = vj_pidfd_procdir(*pidfd)) < 0)
		return vj_err_sys(err, "mountns", obj, errno == ESRCH ? ESRCH : errno, NULL,
				  "the VMM is gone (or its pid is another process's): its /dev cannot be changed");
	ns = openat(dfd, "ns/mnt", O_RDONLY | O_CLOEXEC);
	self_mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	self_user = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
	if (ns < 0 || self_mnt < 0 || self_user < 0)
		return vj_err_sys(err, "mountns", obj, errno, NULL, "cannot open the VMM's mount namespace");
	owner = ioctl(ns, NS_GET_USERNS);
	if (ioctl(ns, NS_GET_NSTYPE) != CLONE_NEWNS || owner < 0 || !same_ns(owner, self_user))
		return vj_err_sys(err, "mountns", obj, EPERM, NULL,
				  "the VMM's mount namespace is not the one vfiojail made for it (not owned by this user namespace)");
	if (same_ns(ns, self_mnt))
		return vj_err_sys(err, "mountns", obj, EPERM, NULL,
				  "the VMM runs in this process's own mount namespace, not in its jail's");
	return TAKE_FD(ns);
}

/* Nodes in a run VMM's /dev: in a forked helper (the caller's namespace never
 * changes), then the VMM checked alive.  @gone_ok (an undo): a VMM gone took
 * its namespace with it, so there is nothing to undo. */
static int vmm_ns_nodes(const struct vj_state *st, bool add, const struct vj_node *nodes, size_t n,
			bool gone_ok, struct vj_error **err)
{
	_cleanup_close_ int pidfd = -1, ns_fd = -1;
	struct nodes_job job = { -1, add, nodes, n };
	struct vj_child c;
	struct vj_error *e = NULL;
	char obj[64];

	snprintf(obj, sizeof(obj), "VMM pid %d", (int)st->vmm);
	ns_fd = vmm_mount_ns(st, &pidfd, obj, &e);
	if (ns_fd < 0) {
		bool gone = e && e->errnum == ESRCH;
		if (gone && gone_ok) {
			vj_error_free(e);
			return 0;
		}
		return vj_err_pass(err, e);
	}
	job.ns_fd = ns_fd;
	if (vj_child_run(&c, VJ_CHILD_EXIT, NULL, nodes_job_run, &job, "mountns", obj, err) < 0)
		return -1;
	if (vj_pidfd_alive(pidfd) > 0 || gone_ok)
		return 0;
	return vj_err(err, VJ_EXIT_SETUP, ESRCH, "mountns", obj, NULL,
		      "the VMM exited while its /dev was changed");
}

/*
 * Make or remove nodes in the jail's /dev: setup's kept namespace, a run VMM's
 * own (vmm_ns_nodes); a launched VMM's /dev is its launcher's, left to it.  A
 * single-threaded process enters setup's namespace itself and comes back; a
 * threaded caller of the library cannot, and does it in a forked helper
 * (vj_child_run), which costs about 0.3 ms of a 2 ms attach.
 */
static int ns_nodes(const struct vj_state *st, bool add, const struct vj_node *nodes, size_t n,
		    bool gone_ok, struct vj_error **err)
{
	const char *ns_path = st->ns_path;
	_cleanup_close_ int ns_fd = -1;
	struct vj_mountns_home home = { -1, -1, -1 };
	struct nodes_job job = { -1, add, nodes, n };
	struct vj_child c;
	int r;

	if (n == 0 || st->origin == VJ_ORIGIN_LAUNCH)
		return 0;
	if (st->kind != VJ_STATE_SETUP)
		return vmm_ns_nodes(st, add, nodes, n, gone_ok, err);
	ns_fd = vj_jail_open_ns(ns_path, err);
	if (ns_fd < 0)
		return -1;
	if (vj_mountns_home_save(&home)) {
		r = nodes_in_ns(ns_fd, add, nodes, n, err);
		if (vj_mountns_home_return(&home, ns_path, r < 0 ? NULL : err) < 0) {
			/* Still inside: undo the change, as a failed step must, then
			 * try the way back once more. */
			if (r == 0)
				nodes_in_ns(ns_fd, !add, nodes, n, NULL);
			vj_mountns_home_return(&home, ns_path, NULL);
			r = -1;
		}
		vj_mountns_home_close(&home);
		return r;
	}
	vj_mountns_home_close(&home);
	job.ns_fd = ns_fd;
	return vj_child_run(&c, VJ_CHILD_EXIT, NULL, nodes_job_run, &job, "mountns", ns_path, err);
}

/* The jail's /dev from @from's nodes to @to's: those @to lacks go, then the new
 * ones are made.  @again: nodes may exist already (an undo after a crash): each
 * one to make is removed first, which changes nothing when it is absent. */
static int nodes_move(struct vj_apply *a, const struct vj_plan *from, const struct vj_plan *to,
		      bool again, struct vj_error **err)
{
	_cleanup_free_ struct vj_node *gone = NULL, *made = NULL;
	size_t n_gone = 0, n_made = 0;

	if (nodes_minus(from, to, &gone, &n_gone) < 0 || nodes_minus(to, from, &made, &n_made) < 0)
		return oom(err, a->st->name);
	if (ns_nodes(a->st, false, gone, n_gone, again, err) < 0)
		return -1;
	if (again && ns_nodes(a->st, false, made, n_made, again, err) < 0)
		return -1;
	if (ns_nodes(a->st, true, made, n_made, again, err) == 0)
		return 0;
	if (n_gone) /* put back what went, as a failed step must */
		ns_nodes(a->st, true, gone, n_gone, true, NULL);
	return -1;
}

static int nodes_do(struct vj_apply *a, struct vj_error **err)
{
	return nodes_move(a, plan_from(a), plan_to(a), false, err);
}

static int nodes_undo(struct vj_apply *a, struct vj_error **err)
{
	return nodes_move(a, plan_to(a), plan_from(a), true, err);
}

/* ------------------------------------------------------------------------- */
/* rules: the pinned filter's map                                             */

static int rule_set(int map_fd, const struct vj_rule *r, unsigned access, struct vj_error **err)
{
	struct vj_rule x = *r;
	struct vj_error *e = NULL;

	x.access = access;
	if (access)
		return vj_devfilter_map_update(map_fd, &x, err);
	x.access = VJ_ACC_READ; /* only the key matters to a delete, but the rule must be well formed */
	if (vj_devfilter_map_delete(map_fd, &x, &e) == 0 || (e && e->errnum == ENOENT)) {
		vj_error_free(e);
		return 0;
	}
	return vj_err_pass(err, e);
}

/* The map from @from's rules to @to's, rule by rule; on failure the rules set so
 * far are put back. */
static int map_move(int map_fd, const struct vj_plan *from, const struct vj_plan *to,
		    struct vj_error **err)
{
	size_t done_to = 0, done_from = 0;
	int r = 0;

	for (; r == 0 && done_to < to->n_rules; done_to++) {
		const struct vj_rule *old = vj_rule_find(from->rules, from->n_rules, &to->rules[done_to]);
		if (!old || old->access != to->rules[done_to].access)
			r = rule_set(map_fd, &to->rules[done_to], to->rules[done_to].access, err);
	}
	for (; r == 0 && done_from < from->n_rules; done_from++)
		if (!vj_rule_find(to->rules, to->n_rules, &from->rules[done_from]))
			r = rule_set(map_fd, &from->rules[done_from], 0, err);
	if (r == 0)
		return 0;
	/* Back: every rule of @from as it was, every rule only @to has gone. */
	for (size_t i = 0; i < from->n_rules; i++)
		rule_set(map_fd, &from->rules[i], from->rules[i].access, NULL);
	for (size_t i = 0; i < to->n_rules; i++)
		if (!vj_rule_find(from->rules, from->n_rules, &to->rules[i]))
			rule_set(map_fd, &to->rules[i], 0, NULL);
	return -1;
}

/* The filter from @from's rules to @to's: in the pinned map, or, when @to's would
 * not fit it, a filter sized for them swapped in on the same link (a->swap). */
static int rules_move(struct vj_apply *a, const struct vj_plan *from, const struct vj_plan *to,
		      struct vj_error **err)
{
	_cleanup_close_ int map_fd = -1, cg_fd = -1;
	uint32_t max = 0;

	if (vj_devfilter_open_pinned_map(a->st->bpf_pin, &map_fd, &max, err) < 0)
		return -1;
	if (to->n_rules <= max)
		return map_move(map_fd, from, to, err);
	cg_fd = vj_cgroup_open(a->st->cgroup, err);
	if (cg_fd < 0)
		return -1;
	return vj_devfilter_replace(a->st->bpf_pin, cg_fd, to->rules, to->n_rules, &a->swap, err);
}

static int rules_do(struct vj_apply *a, struct vj_error **err)
{
	return rules_move(a, plan_from(a), plan_to(a), err);
}

static int rules_undo(struct vj_apply *a, struct vj_error **err)
{
	if (a->swap) /* the filter that was swapped out goes back on the link */
		return vj_devfilter_swap_rollback(a->swap, err);
	return rules_move(a, plan_to(a), plan_from(a), err);
}

/* ------------------------------------------------------------------------- */
/* The table                                                                  */

struct step {
	bool recorded; /* leaves something on the host: in the ledger before it runs */
	int (*run)(struct vj_apply *a, struct vj_error **err);
	/* Back to before the step: removes what part of it exists, nothing when none does. */
	int (*undo)(struct vj_apply *a, struct vj_error **err);
};

static const struct step steps_table[VJ_STEP_COUNT] = {
	[VJ_STEP_CGROUP] = { true, cgroup_do, cgroup_undo },
	[VJ_STEP_FILTER] = { true, filter_do, filter_undo },
	[VJ_STEP_NAMESPACE] = { true, namespace_do, namespace_undo },
	[VJ_STEP_MEMLOCK] = { true, memlock_do, memlock_undo },
	[VJ_STEP_NODES] = { true, nodes_do, nodes_undo },
	[VJ_STEP_RULES] = { true, rules_do, rules_undo },
	[VJ_STEP_CONTEXTS] = { false, contexts_do, contexts_undo },
	[VJ_STEP_VMM_MEMLOCK] = { false, vmm_memlock_do, vmm_memlock_undo },
};

/* Undo the steps of @mask, newest (highest in @order) first; every one is tried. */
static int undo_steps(struct vj_apply *a, const enum vj_step *order, size_t n, unsigned mask,
		      struct vj_error **err)
{
	int r = 0;

	for (size_t i = n; i-- > 0;)
		if ((mask & VJ_STEP_BIT(order[i])) && steps_table[order[i]].undo(a, r < 0 ? NULL : err) < 0)
			r = -1;
	return r;
}

static unsigned recorded_bits(const enum vj_step *steps, size_t n)
{
	unsigned bits = 0;

	for (size_t i = 0; i < n; i++)
		if (steps_table[steps[i]].recorded)
			bits |= VJ_STEP_BIT(steps[i]);
	return bits;
}

/* Run @steps; on failure undo those done, newest first. */
static int run_steps(struct vj_apply *a, const enum vj_step *steps, size_t n, struct vj_error **err)
{
	for (size_t i = 0; i < n; i++) {
		/* A step that fails half-way is undone too: its undo removes what part exists. */
		a->done |= VJ_STEP_BIT(steps[i]);
		if (steps_table[steps[i]].run(a, err) < 0) {
			undo_steps(a, steps, i + 1, a->done, NULL);
			a->done = 0;
			return -1;
		}
	}
	return 0;
}

/* The order every jail's own objects are made in, then the VMM's limit; undone
 * the other way. */
static const enum vj_step create_order[] = { VJ_STEP_CGROUP, VJ_STEP_FILTER, VJ_STEP_NAMESPACE,
					     VJ_STEP_CONTEXTS, VJ_STEP_VMM_MEMLOCK };

int vj_apply_create(struct vj_apply *a, const enum vj_step *steps, size_t n, struct vj_error **err)
{
	a->st->ledger = recorded_bits(steps, n);
	/* The plan does not change while the jail stands: serialised once for this
	 * write and the next (run's, with the VMM's pid).  NULL: each writes it. */
	free(a->plan_json);
	a->plan_json = a->st->plan ? vj_state_plan_json(a->st->plan) : NULL;
	a->st->plan_json = a->plan_json;
	/* Written before anything else exists, so teardown can always find it all. */
	if (vj_state_write(a->dirfd, a->st, err) < 0)
		return -1;
	a->state_written = true;
	if (run_steps(a, steps, n, err) == 0)
		return 0;
	vj_state_remove(a->dirfd, a->st->name, NULL);
	a->state_written = false;
	return -1;
}

int vj_apply_step(struct vj_apply *a, enum vj_step step, struct vj_error **err)
{
	if (steps_table[step].recorded)
		return vj_err(err, VJ_EXIT_SETUP, EINVAL, "state", vj_step_name(step), NULL,
			      "a recorded step runs only in a create or a change");
	a->done |= VJ_STEP_BIT(step);
	if (steps_table[step].run(a, err) == 0)
		return 0;
	steps_table[step].undo(a, NULL); /* what part of it was done */
	a->done &= ~VJ_STEP_BIT(step);
	return -1;
}

void vj_apply_forget(struct vj_apply *a, enum vj_step step)
{
	a->done &= ~VJ_STEP_BIT(step);
}

void vj_apply_joined(struct vj_apply *a, char *from)
{
	free(a->left_cgroup);
	a->left_cgroup = from;
}

void vj_apply_undo(struct vj_apply *a)
{
	if (a->left_cgroup) /* out of the jail's cgroup first: its filter goes */
		vj_cgroup_enter(a->left_cgroup, 0, NULL);
	undo_steps(a, create_order, ARRAY_SIZE(create_order), a->done, NULL);
	a->done = 0;
	if (a->state_written)
		vj_state_remove(a->dirfd, a->st->name, NULL);
	a->state_written = false;
}

static void plan_json_free(struct vj_apply *a)
{
	if (a->st && a->st->plan_json == a->plan_json)
		a->st->plan_json = NULL;
	free(a->plan_json);
	a->plan_json = NULL;
}

void vj_apply_drop_plan(struct vj_apply *a)
{
	plan_json_free(a);
	vj_plan_free(a->st->plan);
	a->st->plan = NULL;
}

void vj_apply_release(struct vj_apply *a)
{
	vj_devfilter_free(a->filter); /* a pinned link stays attached */
	a->filter = NULL;
	vj_devfilter_swap_free(a->swap);
	a->swap = NULL;
	free(a->left_cgroup);
	a->left_cgroup = NULL;
	limits_free(a);
	a->before_changed = false;
	a->memlock_changed = false;
	plan_json_free(a);
	a->vmm_memlock.set = false; /* the VMM keeps its limit */
	a->done = 0;
	a->state_written = false;
}

/* Write the state without its change (the change is over, done or undone). */
static int drop_change(struct vj_apply *a, struct vj_error **err)
{
	vj_state_change_free(a->st->change);
	a->st->change = NULL;
	return vj_state_write(a->dirfd, a->st, err);
}

int vj_apply_change(struct vj_apply *a, struct vj_plan *to, char *spec, const enum vj_step *steps,
		    size_t n, struct vj_error **err)
{
	struct vj_state_change *c = calloc(1, sizeof(*c));
	struct vj_plan *from;
	char *from_spec;
	int r;

	if (!c) {
		vj_plan_free(to);
		free(spec);
		return oom(err, a->st->name);
	}
	*c = (struct vj_state_change){ .plan = to, .spec = spec, .steps = recorded_bits(steps, n) };
	c->plan_json = vj_state_plan_json(to); /* for both writes; NULL (no memory): each writes it */
	vj_state_change_free(a->st->change);
	a->st->change = c;
	if (vj_state_write(a->dirfd, a->st, err) < 0) {
		vj_state_change_free(c);
		a->st->change = NULL;
		return -1;
	}
	if (run_steps(a, steps, n, err) < 0) {
		drop_change(a, NULL); /* if this fails, the next command undoes it again */
		return -1;
	}
	if (a->last && a->last(a, a->last_data, err) < 0) {
		undo_steps(a, steps, n, a->done, NULL);
		a->done = 0;
		drop_change(a, NULL);
		return -1;
	}
	/* Done: the state holds the new plan and spec. */
	from = a->st->plan;
	from_spec = a->st->spec;
	a->st->plan = c->plan;
	a->st->spec = c->spec;
	a->st->change = NULL;
	a->st->plan_json = c->plan_json;
	r = vj_state_write(a->dirfd, a->st, err);
	a->st->plan_json = NULL;
	if (r == 0) {
		vj_plan_free(from);
		free(from_spec);
		vj_state_spec_tree_drop(a->st); /* read with the old spec */
		free(c->plan_json);
		free(c);
		return 0;
	}
	/* The state still says the old plan, with the change under way: undo it. */
	a->st->plan = from;
	a->st->spec = from_spec;
	a->st->change = c;
	if (a->last && a->last_undo)
		a->last_undo(a, a->last_data);
	undo_steps(a, steps, n, a->done, NULL);
	a->done = 0;
	drop_change(a, NULL);
	return -1;
}

int vj_apply_recover(int dirfd, struct vj_state *st, const struct vj_run_opts *o,
		     struct vj_error **err)
{
	static const enum vj_step change_order[] = { VJ_STEP_MEMLOCK, VJ_STEP_NODES, VJ_STEP_RULES };
	struct vj_apply a = { .dirfd = dirfd, .st = st, .o = o };
	char shown[VJ_NAME_SHOWN_MAX], msg[256];
	int r;

	if (!st->change)
		return 0;
	if (!st->plan || !st->cgroup || !st->bpf_pin || (st->kind == VJ_STATE_SETUP && !st->ns_path))
		return vj_err(err, VJ_EXIT_SETUP, 0, "state", st->name, "vfiojail teardown NAME, then setup again",
			      "an interrupted change cannot be undone: the state names no plan, cgroup, filter or namespace");
	/* Attach ran memlock, nodes, rules; detach the other way: any order undoes
	 * either, as each undo is absolute (back to the jail's plan). */
	r = undo_steps(&a, change_order, ARRAY_SIZE(change_order), st->change->steps, err);
	vj_apply_release(&a);
	if (r < 0)
		return vj_err_wrap(err, "state", st->name,
				   "an interrupted attach or detach could not be undone: vfiojail teardown NAME, then setup again");
	if (drop_change(&a, err) < 0)
		return -1;
	snprintf(msg, sizeof(msg), "an interrupted attach or detach of %s was undone",
		 vj_name_shown(st->name, shown));
	warn(&a, msg);
	return 0;
}

int vj_apply_destroy(int dirfd, struct vj_state *st, bool kill, struct vj_error **err)
{
	struct vj_apply a = { .dirfd = dirfd, .st = st };
	bool populated = false;
	int r;

	/* No process may be left in the cgroup: the filter of a cgroup with processes
	 * is never unpinned. */
	if (st->cgroup && kill && vj_cgroup_populated(st->cgroup, &populated, NULL) == 0 && populated) {
		vj_cgroup_kill(st->cgroup, NULL);
		vj_cgroup_wait_empty(st->cgroup);
	}
	/* A change under way goes with the objects it changed (nodes with the
	 * namespace, rules with the filter, limits with the processes). */
	r = undo_steps(&a, create_order, ARRAY_SIZE(create_order), st->ledger, err);
	vj_apply_release(&a);
	if (r == 0 && dirfd >= 0 && vj_state_remove(dirfd, st->name, err) < 0)
		r = -1;
	return r;
}
