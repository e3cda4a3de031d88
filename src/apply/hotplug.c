/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hotplug into a jail made by setup: attach and detach.
 *
 * Both re-plan from the spec kept in the state (with the devices added or
 * removed), under the roots the setup used, and apply only the difference
 * between the jail's plan and the new one.
 *
 * attach, in libvirt's order: memlock of every process in the cgroup raised
 * (never lowered), the new nodes made in the kept namespace (a forked helper
 * setns()es into it), the new rules added to the pinned filter's map (or,
 * when they would not fit, a bigger filter with every rule swapped in on the
 * same link), the state written.  Each step's undo is known before the next starts; a failure
 * undoes them newest first, so the jail is as it was.
 *
 * detach: rules first (access is revoked at once), then the nodes, then
 * memlock (lowered only when no process has more locked than the new limit),
 * then the state.  A failure before the state is written puts back what was
 * taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "child.h"
#include "error.h"
#include "plan.h"
#include "rlimit.h"
#include "jail.h"
#include "mountns.h"
#include "util.h"
#include "vmm.h"

#define PASSES 8 /* re-reads of cgroup.procs while processes appear */

/* ------------------------------------------------------------------------- */
/* RLIMIT_MEMLOCK of the VM's processes                                       */

struct pid_limit {
	pid_t pid;
	uint64_t soft, hard;
};

struct limits {
	struct pid_limit *v;
	size_t n;
};

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t memlock_want(const struct vj_memlock_plan *m)
{
	return m->unlimited ? UINT64_MAX : m->bytes;
}

static bool pid_seen(const pid_t *seen, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (seen[i] == pid)
			return true;
	return false;
}

/* One pass over cgroup.procs: raise each process not seen yet.  *fresh says
 * whether any was. */
static int raise_pass(const char *cgroup, uint64_t want, pid_t **seen, size_t *n_seen,
		      struct limits *undo, bool *fresh, struct vj_error **err)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;

	*fresh = false;
	if (vj_cgroup_pids(cgroup, &pids, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct pid_limit old = { .pid = pids[i] }, *slot;
		pid_t *s;

		if (pid_seen(*seen, *n_seen, pids[i]))
			continue;
		*fresh = true;
		if (!(s = VJ_PUSH(*seen, *n_seen)))
			return vj_err_sys(err, "memlock", cgroup, ENOMEM, NULL, "out of memory");
		*s = pids[i];
		if (vj_proc_memlock(pids[i], &old.soft, &old.hard) < 0 || old.soft >= want)
			continue; /* gone, or high enough: never lowered */
		if (vj_rlimit_memlock_set_pid(pids[i], max_u64(old.soft, want), max_u64(old.hard, want), old.hard,
				err) < 0)
			return -1;
		if (!(slot = VJ_PUSH(undo->v, undo->n)))
			return vj_err_sys(err, "memlock", cgroup, ENOMEM, NULL, "out of memory");
		*slot = old;
	}
	return 0;
}

static void memlock_restore(struct limits *undo)
{
	for (size_t i = undo->n; i-- > 0;)
		vj_rlimit_memlock_set_pid(undo->v[i].pid, undo->v[i].soft, undo->v[i].hard, undo->v[i].hard, NULL);
	undo->n = 0;
}

/* Raise every process of @cgroup to @m; what was raised is recorded in @undo
 * (and put back here on failure).  Processes forked meanwhile are caught by
 * reading cgroup.procs again until no new one shows up. */
static int memlock_raise_all(const char *cgroup, const struct vj_memlock_plan *m,
			     struct limits *undo, struct vj_error **err)
{
	_cleanup_free_ pid_t *seen = NULL;
	size_t n_seen = 0;
	bool fresh = true;

	if (m->unchanged)
		return 0;
	for (int pass = 0; fresh && pass < PASSES; pass++)
		if (raise_pass(cgroup, memlock_want(m), &seen, &n_seen, undo, &fresh, err) < 0) {
			memlock_restore(undo);
			return -1;
		}
	return 0;
}

/*
 * detach: lower the processes that have the old planned limit to @next, but
 * only when none has more locked (VmLck) than that.  0 lowered or nothing to
 * lower (what was lowered is recorded in @undo, for a later step that fails), 1
 * kept (with *why set), -1 a process could not be lowered (the others are put
 * back).
 */
static int memlock_lower_all(const char *cgroup, const struct vj_memlock_plan *cur,
			     const struct vj_memlock_plan *next, char **why, struct limits *undo,
			     struct vj_error **err)
{
	uint64_t want = memlock_want(next), old = memlock_want(cur);
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	int r = 0;

	if (next->unchanged || cur->unchanged || want >= old)
		return 0;
	if (vj_cgroup_pids(cgroup, &pids, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint64_t locked = vj_proc_locked(pids[i]);
		if (locked > want) {
			*why = vj_strdupf("pid %d has %" PRIu64 " bytes locked, more than the new limit %" PRIu64,
					  (int)pids[i], locked, want);
			return 1;
		}
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct pid_limit l = { .pid = pids[i] }, *slot;

		if (vj_proc_memlock(pids[i], &l.soft, &l.hard) < 0 || l.soft != old)
			continue; /* gone, or set by someone else */
		r = vj_rlimit_memlock_set_pid(pids[i], want, l.hard, l.hard, err);
		if (r == 0 && (slot = VJ_PUSH(undo->v, undo->n)))
			*slot = l;
	}
	if (r < 0)
		memlock_restore(undo);
	return r;
}

/* ------------------------------------------------------------------------- */
/* Nodes in the kept namespace                                                */

/* vj_mountns_add_nodes or vj_mountns_remove_nodes, in the jail's namespace
 * (entered by ns_nodes, this process or a forked helper). */
static int nodes_in_ns(int ns_fd, bool add, const struct vj_node *nodes, size_t n,
		       struct vj_error **err)
{
	return add ? vj_mountns_add_nodes(ns_fd, nodes, n, err)
		   : vj_mountns_remove_nodes(ns_fd, nodes, n, err);
}

/* nodes_in_ns in a forked helper (vj_child_run), for a caller that cannot enter
 * the namespace itself and come back (a threaded one). */
struct nodes_job {
	int ns_fd;
	bool add;
	const struct vj_node *nodes;
	size_t n;
};

static int nodes_job_run(void *arg, struct vj_error **err)
{
	struct nodes_job *j = arg;

	return nodes_in_ns(j->ns_fd, j->add, j->nodes, j->n, err);
}

/*
 * Make or remove nodes in the jail's /dev.  A single-threaded process enters
 * the jail's mount namespace itself and returns (a fork, the way a threaded
 * caller of the library needs, costs about 0.3 ms of a 2 ms attach).
 */
static int ns_nodes(const char *ns_path, bool add, const struct vj_node *nodes, size_t n,
		    struct vj_error **err)
{
	_cleanup_close_ int ns_fd = -1;
	struct vj_mountns_home home = { -1, -1, -1 };
	struct nodes_job job = { -1, add, nodes, n };
	struct vj_child c;
	int r;

	if (n == 0)
		return 0;
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
	return vj_child_run(&c, false, nodes_job_run, &job, "mountns", ns_path, err);
}

/* ------------------------------------------------------------------------- */
/* Rules in the pinned filter's map                                           */

struct rule_change {
	struct vj_rule rule; /* access: the new bits, 0 = no entry */
	unsigned old_access; /* 0 = no entry                       */
};

static int rule_set(int map_fd, const struct vj_rule *r, unsigned access, struct vj_error **err)
{
	struct vj_rule x = *r;

	/* Only the key matters to a delete, but the rule must be well formed. */
	x.access = access ? access : VJ_ACC_READ;
	return access ? vj_devfilter_map_update(map_fd, &x, err) : vj_devfilter_map_delete(map_fd, &x, err);
}

/* Apply @c in order; on failure the ones applied are put back. */
static int map_apply(int map_fd, const struct rule_change *c, size_t n, struct vj_error **err)
{
	size_t done;

	for (done = 0; done < n; done++)
		if (rule_set(map_fd, &c[done].rule, c[done].rule.access, err) < 0)
			break;
	if (done == n)
		return 0;
	while (done-- > 0)
		rule_set(map_fd, &c[done].rule, c[done].old_access, NULL);
	return -1;
}

static void map_undo(int map_fd, const struct rule_change *c, size_t n)
{
	for (size_t i = n; i-- > 0;)
		rule_set(map_fd, &c[i].rule, c[i].old_access, NULL);
}

/* attach: the rules of @p with @c applied (shallow, no reasons; attach only
 * adds access bits, so every rule keeps an entry). */
static int rules_after(const struct vj_plan *p, const struct rule_change *c, size_t n_c,
		       struct vj_rule **out, size_t *n)
{
	struct vj_rule *all = calloc(p->n_rules + n_c + 1, sizeof(*all));
	size_t count = 0;

	if (!all)
		return -1;
	for (size_t i = 0; i < p->n_rules; i++) {
		all[count] = p->rules[i];
		all[count++].reason = NULL;
	}
	for (size_t i = 0; i < n_c; i++) {
		struct vj_rule *r = NULL;

		r = vj_rule_find(all, count, &c[i].rule);
		if (!r)
			r = &all[count++];
		*r = c[i].rule;
	}
	*out = all;
	*n = count;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* What changes                                                               */

struct delta {
	struct vj_node *nodes;       /* to make (attach) or remove (detach); shallow */
	size_t n_nodes;
	struct rule_change *rules;
	size_t n_rules;
};

static void delta_free(struct delta *d)
{
	free(d->nodes);
	free(d->rules);
}

static struct vj_node *find_node(const struct vj_plan *p, const char *path)
{
	for (size_t i = 0; i < p->n_nodes; i++)
		if (strcmp(p->nodes[i].path, path) == 0)
			return &p->nodes[i];
	return NULL;
}

static struct vj_rule *find_rule(const struct vj_plan *p, const struct vj_rule *r)
{
	return vj_rule_find(p->rules, p->n_rules, r);
}

static int push_change(struct delta *d, const struct vj_rule *r, unsigned access, unsigned old)
{
	struct rule_change *c = VJ_PUSH(d->rules, d->n_rules);

	if (!c)
		return -1;
	c->rule = (struct vj_rule){ .type = r->type, .major = r->major, .minor = r->minor,
				    .access = access };
	c->old_access = old;
	return 0;
}

/* attach: the nodes @next has that the jail lacks, the rule bits it adds. */
static int attach_delta(const struct vj_plan *cur, const struct vj_plan *next, struct delta *d,
			struct vj_error **err)
{
	for (size_t i = 0; i < next->n_nodes; i++) {
		const struct vj_node *nn = &next->nodes[i], *old = find_node(cur, nn->path);
		struct vj_node *slot;

		if (old && (old->type != nn->type || old->major != nn->major || old->minor != nn->minor))
			return vj_err(err, VJ_EXIT_SETUP, 0, "plan", nn->path,
				      "the host changed since setup: vfiojail teardown NAME, then setup again",
				      "the jail has %c %u:%u at this path, the new plan %c %u:%u",
				      old->type, old->major, old->minor, nn->type, nn->major, nn->minor);
		if (old)
			continue;
		if (!(slot = VJ_PUSH(d->nodes, d->n_nodes)))
			return vj_err_sys(err, "plan", nn->path, ENOMEM, NULL, "out of memory");
		*slot = *nn;
	}
	for (size_t i = 0; i < next->n_rules; i++) {
		const struct vj_rule *old = find_rule(cur, &next->rules[i]);
		unsigned was = old ? old->access : 0, now = was | next->rules[i].access;

		if (now != was && push_change(d, &next->rules[i], now, was) < 0)
			return vj_err_sys(err, "plan", NULL, ENOMEM, NULL, "out of memory");
	}
	return 0;
}

/* detach: the jail's nodes @next has no more, the rule bits it drops (a node
 * or rule another device still needs is in @next, so it stays). */
static int detach_delta(const struct vj_plan *cur, const struct vj_plan *next, struct delta *d,
			struct vj_error **err)
{
	for (size_t i = 0; i < cur->n_nodes; i++) {
		struct vj_node *slot;

		if (find_node(next, cur->nodes[i].path))
			continue;
		if (!(slot = VJ_PUSH(d->nodes, d->n_nodes)))
			return vj_err_sys(err, "plan", cur->nodes[i].path, ENOMEM, NULL, "out of memory");
		*slot = cur->nodes[i];
	}
	for (size_t i = 0; i < cur->n_rules; i++) {
		const struct vj_rule *nr = find_rule(next, &cur->rules[i]);
		unsigned was = cur->rules[i].access, now = nr ? nr->access & was : 0;

		if (now != was && push_change(d, &cur->rules[i], now, was) < 0)
			return vj_err_sys(err, "plan", NULL, ENOMEM, NULL, "out of memory");
	}
	return 0;
}

/* ------------------------------------------------------------------------- */
/* The state's plan after the change                                          */

static int node_copy(struct vj_node *dst, const struct vj_node *src)
{
	*dst = *src;
	dst->path = strdup(src->path);
	dst->host_path = src->host_path ? strdup(src->host_path) : NULL;
	dst->reason = NULL; /* the state keeps no reasons */
	return dst->path && (!src->host_path || dst->host_path) ? 0 : -1;
}

static void memlock_take(struct vj_memlock_plan *dst, const struct vj_memlock_plan *src)
{
	dst->unchanged = src->unchanged;
	dst->unlimited = src->unlimited;
	dst->bytes = src->bytes;
}

static void iommufd_swap(struct vj_plan *a, struct vj_plan *b)
{
	struct vj_iommufd_plan *v = a->iommufd;
	size_t n = a->n_iommufd;

	a->iommufd = b->iommufd;
	a->n_iommufd = b->n_iommufd;
	b->iommufd = v;
	b->n_iommufd = n;
}

/* Rule access after @d (the original when none of @d names it). */
static unsigned changed_access(const struct delta *d, const struct vj_rule *r, bool *found)
{
	for (size_t i = 0; i < d->n_rules; i++)
		if (vj_rule_same_device(&d->rules[i].rule, r)) {
			*found = true;
			return d->rules[i].rule.access;
		}
	*found = false;
	return r->access;
}

/* attach: @p (the state's plan) plus the new nodes and rules. */
static int plan_add_delta(struct vj_plan *p, const struct delta *d)
{
	for (size_t i = 0; i < d->n_nodes; i++) {
		struct vj_node *n = VJ_PUSH(p->nodes, p->n_nodes);
		if (!n || node_copy(n, &d->nodes[i]) < 0)
			return -1;
	}
	for (size_t i = 0; i < d->n_rules; i++) {
		struct vj_rule *r = find_rule(p, &d->rules[i].rule);
		if (!r && !(r = VJ_PUSH(p->rules, p->n_rules)))
			return -1;
		*r = d->rules[i].rule;
		r->reason = NULL;
	}
	return 0;
}

/*
 * detach: move the removed nodes and emptied rules of @p to the ends of its
 * arrays and shorten the counts, so that the state is written without them
 * while every string stays alive for an undo; *all_nodes and *all_rules are
 * the full counts, to be restored before the plan is freed.
 */
static void plan_hide_delta(struct vj_plan *p, const struct delta *d, size_t *all_nodes,
			    size_t *all_rules)
{
	size_t keep = 0;

	*all_nodes = p->n_nodes;
	*all_rules = p->n_rules;
	for (size_t i = 0; i < p->n_nodes; i++) {
		bool gone = false;
		for (size_t k = 0; k < d->n_nodes && !gone; k++)
			gone = strcmp(d->nodes[k].path, p->nodes[i].path) == 0;
		if (!gone) {
			struct vj_node t = p->nodes[keep];
			p->nodes[keep++] = p->nodes[i];
			p->nodes[i] = t;
		}
	}
	p->n_nodes = keep;
	keep = 0;
	for (size_t i = 0; i < p->n_rules; i++) {
		bool found;
		unsigned access = changed_access(d, &p->rules[i], &found);
		if (access) {
			struct vj_rule t = p->rules[keep];
			p->rules[i].access = access;
			p->rules[keep++] = p->rules[i];
			p->rules[i] = t;
		}
	}
	p->n_rules = keep;
}

/* ------------------------------------------------------------------------- */
/* The spec with the devices added or removed                                 */

static int spec_load(const struct vj_state *st, struct vj_spec **out, struct vj_error **err)
{
	if (!st->spec)
		return vj_err(err, VJ_EXIT_SETUP, 0, "state", st->name,
			      "vfiojail teardown NAME, then setup again", "the state keeps no spec");
	if (vj_spec_parse_string(st->spec, out, err) == 0)
		return 0;
	vj_err_wrap(err, "state", st->name, "the spec kept in the state cannot be read back");
	if (err && *err)
		(*err)->status = VJ_EXIT_SETUP;
	return -1;
}

static int spec_add(struct vj_spec *spec, const struct vj_hotplug *h, struct vj_error **err)
{
	for (size_t i = 0; i < h->n_hostdevs; i++)
		if (vj_spec_set_flag(spec, "hostdev", h->hostdevs[i], err) < 0)
			return -1;
	for (size_t i = 0; i < h->n_devices; i++)
		if (vj_spec_set_flag(spec, "device", h->devices[i], err) < 0)
			return -1;
	return vj_spec_finish(spec, err);
}

static int not_attached(struct vj_error **err, const char *flag, const char *what, const char *name)
{
	return vj_err(err, VJ_EXIT_USAGE, ENOENT, "spec", flag,
		      "vfiojail status NAME --json, or the state's spec, lists what is attached",
		      "%s is not attached to %s", what, name);
}

/* Drop from @spec each device @h names (parsed as the flags are). */
static int spec_remove(struct vj_spec *spec, const struct vj_hotplug *h, struct vj_error **err)
{
	struct vj_spec *gone = vj_spec_new();
	int r = -1;

	if (!gone)
		return vj_err_sys(err, "spec", NULL, ENOMEM, NULL, "out of memory");
	for (size_t i = 0; i < h->n_hostdevs; i++)
		if (vj_spec_set_flag(gone, "hostdev", h->hostdevs[i], err) < 0)
			goto out;
	for (size_t i = 0; i < h->n_devices; i++)
		if (vj_spec_set_flag(gone, "device", h->devices[i], err) < 0)
			goto out;
	for (size_t i = 0; i < gone->n_hostdevs; i++) {
		size_t k = 0;
		while (k < spec->n_hostdevs && strcmp(spec->hostdevs[k].pci, gone->hostdevs[i].pci) != 0)
			k++;
		if (k == spec->n_hostdevs) {
			not_attached(err, "--hostdev", gone->hostdevs[i].pci, spec->name);
			goto out;
		}
		free(spec->hostdevs[k].iommufd);
		memmove(&spec->hostdevs[k], &spec->hostdevs[k + 1],
			(spec->n_hostdevs - k - 1) * sizeof(*spec->hostdevs));
		spec->n_hostdevs--;
	}
	for (size_t i = 0; i < gone->n_devices; i++) {
		size_t k = 0;
		while (k < spec->n_devices && strcmp(spec->devices[k].path, gone->devices[i].path) != 0)
			k++;
		if (k == spec->n_devices) {
			not_attached(err, "--device", gone->devices[i].path, spec->name);
			goto out;
		}
		free(spec->devices[k].path);
		memmove(&spec->devices[k], &spec->devices[k + 1],
			(spec->n_devices - k - 1) * sizeof(*spec->devices));
		spec->n_devices--;
	}
	r = vj_spec_finish(spec, err);
out:
	vj_spec_free(gone);
	return r;
}

/* ------------------------------------------------------------------------- */
/* attach and detach                                                          */

struct hotplug {
	struct vj_jail j;
	const struct vj_run_opts *o;
	struct vj_spec *spec;
	struct vj_plan *next;
	struct delta d;
	int map_fd;
};

static void hotplug_free(struct hotplug *h)
{
	if (h->map_fd >= 0)
		close(h->map_fd);
	delta_free(&h->d);
	vj_plan_free(h->next);
	vj_spec_free(h->spec);
	vj_jail_close(&h->j);
}

/* Open the jail, change its spec with @edit, plan it, open its filter's map. */
static int hotplug_prepare(struct hotplug *h, const char *name, const struct vj_hotplug *hp,
			   int (*edit)(struct vj_spec *, const struct vj_hotplug *, struct vj_error **),
			   struct vj_error **err)
{
	struct vj_plan_opts po;

	if (!hp || hp->n_hostdevs + hp->n_devices == 0)
		return vj_err(err, VJ_EXIT_USAGE, 0, "spec", NULL,
			      "name them with --hostdev BDF or --device PATH", "no device given");
	if (vj_jail_open(&h->j, name, h->o, err) < 0 || spec_load(&h->j.st, &h->spec, err) < 0 ||
	    edit(h->spec, hp, err) < 0)
		return -1;
	po = (struct vj_plan_opts){
		.roots = { .sysfs = h->j.st.sysfs_root, .proc = h->j.st.proc_root, .dev = h->j.st.dev_root },
		.cgroup_parent = h->j.st.cgroup_parent,
	};
	if (vj_plan_build(h->spec, &po, &h->next, err) < 0)
		return -1;
	for (size_t i = 0; h->o->warn && i < h->next->n_warnings; i++)
		h->o->warn(h->next->warnings[i], h->o->userdata);
	if (!h->j.st.cgroup || !h->j.st.bpf_pin || !h->j.st.ns_path)
		return vj_err(err, VJ_EXIT_SETUP, 0, "state", name,
			      "vfiojail teardown NAME, then setup again",
			      "the state names no cgroup, filter or namespace");
	return vj_devfilter_open_pinned(h->j.st.bpf_pin, &h->map_fd, NULL, err);
}

/* The new spec and plan into the state file. */
static int hotplug_write(struct hotplug *h, struct vj_error **err)
{
	char *text = vj_jail_spec_json(h->spec, h->next);

	if (!text)
		return vj_err_sys(err, "state", h->j.name, ENOMEM, NULL, "out of memory");
	free(h->j.st.spec);
	h->j.st.spec = text;
	iommufd_swap(h->j.st.plan, h->next);
	if (vj_state_write(h->j.dirfd, &h->j.st, err) == 0)
		return 0;
	iommufd_swap(h->j.st.plan, h->next);
	return -1;
}

/*
 * attach's filter step: the new rule bits into the pinned map, or, when the
 * jail's rules would outgrow the map, a filter sized for all of them swapped
 * in on the same link (*swap set, for a rollback on a later failure).
 */
static int filter_apply(struct hotplug *h, struct vj_devfilter_swap **swap, struct vj_error **err)
{
	_cleanup_free_ struct vj_rule *all = NULL;
	_cleanup_close_ int cg_fd = -1;
	uint32_t max = 0;
	size_t n = 0;

	if (vj_devfilter_map_max_entries(h->map_fd, &max, err) < 0)
		return -1;
	if (rules_after(h->j.st.plan, h->d.rules, h->d.n_rules, &all, &n) < 0)
		return vj_err_sys(err, "plan", h->j.name, ENOMEM, NULL, "out of memory");
	if (n <= max)
		return map_apply(h->map_fd, h->d.rules, h->d.n_rules, err);
	cg_fd = vj_cgroup_open(h->j.st.cgroup, err);
	if (cg_fd < 0)
		return -1;
	return vj_devfilter_replace(h->j.st.bpf_pin, cg_fd, all, n, swap, err);
}

static void filter_undo(struct hotplug *h, struct vj_devfilter_swap *swap)
{
	if (swap)
		vj_devfilter_swap_rollback(swap, NULL);
	else
		map_undo(h->map_fd, h->d.rules, h->d.n_rules);
}


int vj_attach(const char *name, const struct vj_hotplug *hp, const struct vj_run_opts *o,
	      struct vj_error **err)
{
	struct hotplug h = { .o = o, .map_fd = -1 };
	struct limits raised = { NULL, 0 };
	struct vj_devfilter_swap *swap = NULL;
	bool nodes_made = false;
	int r = -1;

	if (hotplug_prepare(&h, name, hp, spec_add, err) < 0 ||
	    attach_delta(h.j.st.plan, h.next, &h.d, err) < 0)
		goto out;
	if (memlock_raise_all(h.j.st.cgroup, &h.next->memlock, &raised, err) < 0)
		goto out;
	if (ns_nodes(h.j.st.ns_path, true, h.d.nodes, h.d.n_nodes, err) < 0)
		goto undo;
	nodes_made = true;
	if (filter_apply(&h, &swap, err) < 0)
		goto undo;
	memlock_take(&h.j.st.plan->memlock, &h.next->memlock);
	if (plan_add_delta(h.j.st.plan, &h.d) < 0) {
		vj_err_sys(err, "state", name, ENOMEM, NULL, "out of memory");
		goto undo_map;
	}
	if (hotplug_write(&h, err) < 0)
		goto undo_map;
	r = 0;
	goto out;
undo_map:
	filter_undo(&h, swap);
undo:
	if (nodes_made)
		ns_nodes(h.j.st.ns_path, false, h.d.nodes, h.d.n_nodes, NULL);
	memlock_restore(&raised);
	vj_err_wrap(err, "attach", name, "nothing was changed");
out:
	vj_devfilter_swap_free(swap);
	free(raised.v);
	hotplug_free(&h);
	return r < 0 ? -1 : 0;
}

/* detach's memlock step: never fails the detach, which has revoked access already. */
/* Lower the limits to the new plan (what was lowered goes into @lowered), or
 * keep them and say why. */
static void detach_memlock(struct hotplug *h, struct limits *lowered)
{
	_cleanup_free_ char *why = NULL, *msg = NULL;
	char shown[VJ_NAME_SHOWN_MAX];
	struct vj_error *e = NULL;
	int r = memlock_lower_all(h->j.st.cgroup, &h->j.st.plan->memlock, &h->next->memlock, &why,
				  lowered, &e);

	if (r == 0) {
		memlock_take(&h->j.st.plan->memlock, &h->next->memlock);
		return;
	}
	msg = vj_strdupf("RLIMIT_MEMLOCK of %s's processes is kept as it was: %s", vj_name_shown(h->j.name, shown),
			 r > 0 ? (why ? why : "a process locked more") : (e && e->message ? e->message : "cannot lower it"));
	if (msg && h->o->warn)
		h->o->warn(msg, h->o->userdata);
	vj_error_free(e);
}

int vj_detach(const char *name, const struct vj_hotplug *hp, const struct vj_run_opts *o,
	      struct vj_error **err)
{
	struct hotplug h = { .o = o, .map_fd = -1 };
	struct limits lowered = { NULL, 0 };
	size_t all_nodes = 0, all_rules = 0;
	bool hidden = false;
	int r = -1;

	if (hotplug_prepare(&h, name, hp, spec_remove, err) < 0 ||
	    detach_delta(h.j.st.plan, h.next, &h.d, err) < 0)
		goto out;
	if (map_apply(h.map_fd, h.d.rules, h.d.n_rules, err) < 0)
		goto fail;
	if (ns_nodes(h.j.st.ns_path, false, h.d.nodes, h.d.n_nodes, err) < 0)
		goto undo_map;
	detach_memlock(&h, &lowered);
	plan_hide_delta(h.j.st.plan, &h.d, &all_nodes, &all_rules);
	hidden = true;
	if (hotplug_write(&h, err) == 0) {
		r = 0;
		goto out;
	}
	memlock_restore(&lowered); /* the state still says the old plan */
	ns_nodes(h.j.st.ns_path, true, h.d.nodes, h.d.n_nodes, NULL);
undo_map:
	map_undo(h.map_fd, h.d.rules, h.d.n_rules);
fail:
	vj_err_wrap(err, "detach", name, "the devices stay attached");
out:
	if (hidden) {
		h.j.st.plan->n_nodes = all_nodes;
		h.j.st.plan->n_rules = all_rules;
	}
	free(lowered.v);
	hotplug_free(&h);
	return r < 0 ? -1 : 0;
}
