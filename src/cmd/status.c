/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiojail status and list: a jail's state held against the host (drift), as
 * a table or JSON.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bpfsys.h"
#include "cgroup.h"
#include "devfilter.h"
#include "error.h"
#include "jail.h"
#include "memlock.h"
#include "pins.h"
#include "plan.h"
#include "spec_internal.h"
#include "name.h"
#include "pidfd.h"
#include "proc.h"
#include "rlimit.h"
#include "state.h"
#include "util.h"

static int oom(struct vj_error **err, const char *object)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", object, NULL, "out of memory");
}

/* ------------------------------------------------------------------------- */
/* status                                                                     */


static int add_item(struct vj_status *s, const char *name, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int add_item(struct vj_status *s, const char *name, bool ok, const char *fmt, ...)
{
	struct vj_status_item *it = VJ_PUSH(s->items, s->n_items);
	va_list ap;
	int r;

	if (!it)
		return -1;
	it->ok = ok;
	it->name = strdup(name);
	va_start(ap, fmt);
	r = vasprintf(&it->detail, fmt, ap);
	va_end(ap);
	if (r < 0)
		it->detail = NULL;
	if (!ok)
		s->drift = true;
	return it->name && it->detail ? 0 : -1;
}


/* The map against the planned rules: what is missing, extra or different. */
static int check_rules(struct vj_status *s, int map_fd, const struct vj_plan *p)
{
	struct vj_rule *have = NULL;
	size_t n = 0, bad = 0;
	_cleanup_free_ char *msg = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&msg, &len);
	char buf[64];
	int r;

	if (!m)
		return -1;
	if (vj_devfilter_map_dump(map_fd, &have, &n, NULL) < 0) {
		fclose(m);
		return add_item(s, "rules", false, "cannot read the filter's map");
	}
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct vj_rule *h = vj_rule_find(have, n, &p->rules[i]);
		vj_rule_format(&p->rules[i], buf);
		if (!h)
			fprintf(m, "%smissing %s", bad++ ? ", " : "", buf);
		else if (h->access != p->rules[i].access)
			fprintf(m, "%s%s has access %u", bad++ ? ", " : "", buf, h->access);
	}
	for (size_t i = 0; i < n; i++)
		if (!vj_rule_find(p->rules, p->n_rules, &have[i])) {
			vj_rule_format(&have[i], buf);
			fprintf(m, "%sextra %s", bad++ ? ", " : "", buf);
		}
	fclose(m);
	if (bad)
		r = add_item(s, "rules", false, "the filter's map differs from the plan: %s", msg);
	else
		r = add_item(s, "rules", true, "the filter's map holds exactly the %zu planned rules", n);
	vj_devfilter_rules_free(have, n);
	return r;
}

/* The pinned link is a live cgroup device link whose program is on the cgroup. */
static int check_filter(struct vj_status *s, const struct vj_state *st)
{
	_cleanup_close_ int map_fd = -1, link_fd = -1, cgfd = -1;
	struct bpf_link_info info;
	__u32 len = sizeof(info), ids[64], cnt = ARRAY_SIZE(ids);
	bool found = false;

	if (!st->bpf_pin || vj_devfilter_open_pinned(st->bpf_pin, &map_fd, &link_fd, NULL) < 0)
		return add_item(s, "filter", false, "no pinned filter at %s",
				st->bpf_pin ? st->bpf_pin : "(none)");
	memset(&info, 0, sizeof(info));
	cgfd = st->cgroup ? vj_cgroup_open(st->cgroup, NULL) : -1;
	if (cgfd < 0 || vj_bpf_obj_info(link_fd, &info, &len) < 0 ||
	    vj_bpf_prog_query(cgfd, BPF_CGROUP_DEVICE, ids, &cnt) < 0)
		return add_item(s, "filter", false, "cannot query the cgroup's device programs");
	for (__u32 i = 0; i < cnt; i++)
		found = found || ids[i] == info.prog_id;
	if (add_item(s, "filter", found, found ? "program %u attached to the cgroup"
					      : "program %u is not attached to the cgroup",
		     info.prog_id) < 0)
		return -1;
	return st->plan ? check_rules(s, map_fd, st->plan) : 0;
}

static void limit_str(char *buf, size_t size, uint64_t v)
{
	if (v == UINT64_MAX)
		snprintf(buf, size, "unlimited");
	else
		snprintf(buf, size, "%" PRIu64, v);
}

static int check_procs(struct vj_status *s, const struct vj_state *st)
{
	const struct vj_memlock_plan *m = st->plan ? &st->plan->memlock : NULL;
	uint64_t plan = m ? vj_memlock_plan_limit(m) : 0, want = plan;
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0, bad = 0;

	/* launch kept a launcher's limit above the plan: that is what they have. */
	if (st->vmm_memlock_from == VJ_MEMLOCK_FROM_LAUNCHER && st->vmm_memlock_soft > want)
		want = st->vmm_memlock_soft;
	if (m && !m->unchanged && st->vmm_memlock_from != VJ_MEMLOCK_FROM_NONE) {
		char s_soft[24] = "unlimited", s_hard[24] = "unlimited", s_plan[24] = "unlimited";

		if (st->vmm_memlock_soft != UINT64_MAX)
			snprintf(s_soft, sizeof(s_soft), "%" PRIu64, st->vmm_memlock_soft);
		if (st->vmm_memlock_hard != UINT64_MAX)
			snprintf(s_hard, sizeof(s_hard), "%" PRIu64, st->vmm_memlock_hard);
		if (plan != UINT64_MAX)
			snprintf(s_plan, sizeof(s_plan), "%" PRIu64, plan);
		if (add_item(s, "vmm-memlock", true,
			     "the VMM got RLIMIT_MEMLOCK soft %s, hard %s at launch (the plan: %s): from the %s",
			     s_soft, s_hard, s_plan, vj_memlock_from_said(st->vmm_memlock_from)) < 0)
			return -1;
	}
	/* attach raised the VMM from a plan without a limit: what the last detach puts back. */
	if (st->vmm_memlock_before.set) {
		char s_soft[24], s_hard[24];

		limit_str(s_soft, sizeof(s_soft), st->vmm_memlock_before.soft);
		limit_str(s_hard, sizeof(s_hard), st->vmm_memlock_before.hard);
		if (add_item(s, "vmm-memlock-before", true,
			     "attach raised the VMM (pid %d) from RLIMIT_MEMLOCK soft %s, hard %s: the detach that "
			     "leaves no limit puts them back",
			     (int)st->vmm, s_soft, s_hard) < 0)
			return -1;
	}

	if (vj_cgroup_pids(st->cgroup, &pids, &n, NULL) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct vj_status_proc *p = VJ_PUSH(s->procs, s->n_procs);
		if (!p)
			return -1;
		p->pid = pids[i];
		p->locked = vj_proc_locked(pids[i]);
		if (vj_proc_memlock(pids[i], &p->memlock_soft, &p->memlock_hard) < 0)
			continue; /* gone meanwhile */
		if (m && !m->unchanged && p->memlock_soft != want) {
			bad++;
			if (add_item(s, "memlock", false, "pid %d has RLIMIT_MEMLOCK %" PRIu64 ", the %s says %" PRIu64,
				     (int)p->pid, p->memlock_soft, want == plan ? "plan" : "launcher's kept limit", want) < 0)
				return -1;
		}
	}
	if (!bad && m && !m->unchanged)
		return add_item(s, "memlock", true, "%zu process(es), each with RLIMIT_MEMLOCK %" PRIu64, n, want);
	return 0;
}

/* The VMM that run started must still be in its cgroup: one found elsewhere has
 * left its device filter (moved by someone who could write cgroup.procs). */
static int check_vmm_placement(struct vj_status *s, const struct vj_state *st)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;

	if (!vj_jail_vmm_runs(st) || vj_cgroup_pids(st->cgroup, &pids, &n, NULL) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (pids[i] == st->vmm)
			return add_item(s, "vmm", true, "pid %d is in the VM's cgroup", (int)st->vmm);
	return add_item(s, "vmm", false, "pid %d runs outside the VM's cgroup %s, without its device filter",
			(int)st->vmm, st->cgroup);
}

static int status_check(struct vj_status *s, const struct vj_state *st)
{
	bool populated = false;
	struct stat sb;

	if (!st->cgroup || stat(st->cgroup, &sb) < 0) {
		if (add_item(s, "cgroup", false, "%s is missing", st->cgroup ? st->cgroup : "the cgroup") < 0)
			return -1;
	} else if (add_item(s, "cgroup", true, "%s", st->cgroup) < 0 || check_filter(s, st) < 0 ||
		   check_procs(s, st) < 0 || check_vmm_placement(s, st) < 0) {
		return -1;
	} else {
		(void)vj_cgroup_populated(st->cgroup, &populated, NULL);
	}
	if (st->change) {
		char steps[64] = "";
		for (int i = 0; i < VJ_STEP_COUNT; i++)
			if (st->change->steps & VJ_STEP_BIT(i))
				snprintf(steps + strlen(steps), sizeof(steps) - strlen(steps), "%s%s",
					 *steps ? ", " : "", vj_step_name(i));
		if (add_item(s, "change", false,
			     "an attach or detach did not finish (%s may have begun): the next attach, detach or enter undoes it",
			     steps) < 0)
			return -1;
	}
	if (st->kind == VJ_STATE_SETUP) {
		_cleanup_close_ int fd = vj_jail_open_ns(st->ns_path, NULL);
		if (add_item(s, "namespace", fd >= 0, fd >= 0 ? "kept at %s" : "no namespace bound at %s",
			     st->ns_path) < 0)
			return -1;
	}
	s->abandoned = !populated && !vj_jail_owner_alive(st);
	if (s->abandoned && add_item(s, "owner", true, "no process left and its %s is gone: vfiojail gc removes it",
				     st->origin == VJ_ORIGIN_LAUNCH ? "VMM"
				     : st->kind == VJ_STATE_RUN	    ? "supervisor"
								    : "launcher") < 0)
		return -1;
	return 0;
}

/* The plan's hostdevs and how the VMM reaches each (a state without a plan: none). */
static int status_hostdevs(struct vj_status *s, const struct vj_plan *p)
{
	size_t n = p ? p->n_hostdevs : 0;

	s->hostdevs = calloc(n + 1, sizeof(*s->hostdevs));
	if (!s->hostdevs)
		return -1;
	for (size_t i = 0; i < n; i++, s->n_hostdevs++) {
		struct vj_status_hostdev *h = &s->hostdevs[i];
		memcpy(h->pci, p->hostdevs[i].pci, sizeof(h->pci));
		if ((p->hostdevs[i].node && !(h->node = strdup(p->hostdevs[i].node))) ||
		    (p->hostdevs[i].fd && !(h->fd = strdup(p->hostdevs[i].fd))))
			return -1;
	}
	return 0;
}

void vj_status_free(struct vj_status *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_items; i++) {
		free(s->items[i].name);
		free(s->items[i].detail);
	}
	free(s->items);
	free(s->procs);
	for (size_t i = 0; i < s->n_hostdevs; i++) {
		free(s->hostdevs[i].node);
		free(s->hostdevs[i].fd);
	}
	free(s->hostdevs);
	free(s->name);
	free(s->kind);
	free(s->cgroup);
	free(s);
}

int vj_status_get(const char *name, const struct vj_run_opts *o, struct vj_status **out,
		  struct vj_error **err)
{
	_cleanup_close_ int dirfd = -1;
	struct vj_status *s = NULL;
	struct vj_state st;
	int r;

	if (vj_validate_name(name, "NAME", err) < 0)
		return -1;
	r = vj_state_dir_find(o->state_dir, &dirfd, err);
	if (r < 0)
		return -1;
	r = r == 0 ? 1 : vj_state_read(dirfd, name, &st, err);
	if (r == 1)
		return vj_err(err, VJ_EXIT_USAGE, ENOENT, "state", name, NULL, "no jail of this name");
	if (r < 0)
		return -1;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->name = strdup(name)) ||
	    !(s->kind = strdup(vj_state_origin_name(st.origin))) ||
	    (st.cgroup && !(s->cgroup = strdup(st.cgroup))) || status_check(s, &st) < 0 ||
	    status_hostdevs(s, st.plan) < 0) {
		vj_status_free(s);
		vj_state_clear(&st);
		return oom(err, name);
	}
	vj_state_clear(&st);
	*out = s;
	return 0;
}

/* The processes' table: each column as wide as its widest cell or its header,
 * two spaces between columns, every cell left-aligned under its header. */
enum { STATUS_COLS = 4, STATUS_CELL = 24 };

static void proc_cells(const struct vj_status_proc *p, char cell[STATUS_COLS][STATUS_CELL])
{
	snprintf(cell[0], STATUS_CELL, "%d", (int)p->pid);
	limit_str(cell[1], STATUS_CELL, p->memlock_soft);
	limit_str(cell[2], STATUS_CELL, p->memlock_hard);
	snprintf(cell[3], STATUS_CELL, "%" PRIu64, p->locked);
}

static void print_row(FILE *f, const int w[STATUS_COLS], const char *const cell[STATUS_COLS])
{
	fprintf(f, "%-*s  %-*s  %-*s  %s\n", w[0], cell[0], w[1], cell[1], w[2], cell[2], cell[3]);
}

static void print_procs(const struct vj_status *s, FILE *f)
{
	static const char *const head[STATUS_COLS] = { "PID", "MEMLOCK-SOFT", "MEMLOCK-HARD", "LOCKED" };
	char cell[STATUS_COLS][STATUS_CELL];
	const char *row[STATUS_COLS] = { cell[0], cell[1], cell[2], cell[3] };
	int w[STATUS_COLS];

	for (int c = 0; c < STATUS_COLS; c++)
		w[c] = (int)strlen(head[c]);
	for (size_t i = 0; i < s->n_procs; i++) {
		proc_cells(&s->procs[i], cell);
		for (int c = 0; c < STATUS_COLS; c++)
			if ((int)strlen(cell[c]) > w[c])
				w[c] = (int)strlen(cell[c]);
	}
	print_row(f, w, head);
	for (size_t i = 0; i < s->n_procs; i++) {
		proc_cells(&s->procs[i], cell);
		print_row(f, w, row);
	}
}

int vj_status_print_table(const struct vj_status *s, FILE *f)
{
	char shown[VJ_NAME_SHOWN_MAX];

	fprintf(f, "%s (%s)%s%s\n", vj_name_shown(s->name, shown), s->kind, s->drift ? ": DRIFT" : "",
		s->abandoned ? ", abandoned" : "");
	for (size_t i = 0; i < s->n_items; i++)
		fprintf(f, "%-5s %s: %s\n", s->items[i].ok ? "OK" : "DRIFT", s->items[i].name,
			s->items[i].detail);
	if (s->n_procs)
		print_procs(s, f);
	if (s->n_hostdevs)
		fputs("HOSTDEV       REACHED BY\n", f);
	for (size_t i = 0; i < s->n_hostdevs; i++) {
		const struct vj_status_hostdev *h = &s->hostdevs[i];
		if (h->fd)
			fprintf(f, "%-13s fd %s (opened by vfiojail from %s; no node in the jail)\n", h->pci,
				h->fd, h->node ? h->node : "?");
		else
			fprintf(f, "%-13s node %s\n", h->pci, h->node ? h->node : "?");
	}
	return ferror(f) ? -1 : 0;
}

static json_object *limit_json(uint64_t v)
{
	return json_object_new_int64(v == UINT64_MAX ? -1 : (int64_t)v);
}

static json_object *status_json(const struct vj_status *s)
{
	json_object *o = json_object_new_object(), *items = json_object_new_array();
	json_object *procs = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "kind", json_object_new_string(s->kind));
	json_object_object_add(o, "cgroup", s->cgroup ? json_object_new_string(s->cgroup) : NULL);
	json_object_object_add(o, "drift", json_object_new_boolean(s->drift));
	json_object_object_add(o, "abandoned", json_object_new_boolean(s->abandoned));
	for (size_t i = 0; i < s->n_items; i++) {
		json_object *it = json_object_new_object();
		json_object_object_add(it, "name", json_object_new_string(s->items[i].name));
		json_object_object_add(it, "ok", json_object_new_boolean(s->items[i].ok));
		json_object_object_add(it, "detail", json_object_new_string(s->items[i].detail));
		json_object_array_add(items, it);
	}
	json_object_object_add(o, "items", items);
	for (size_t i = 0; i < s->n_procs; i++) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "pid", json_object_new_int(s->procs[i].pid));
		json_object_object_add(p, "memlock_soft", limit_json(s->procs[i].memlock_soft));
		json_object_object_add(p, "memlock_hard", limit_json(s->procs[i].memlock_hard));
		json_object_object_add(p, "locked", json_object_new_int64((int64_t)s->procs[i].locked));
		json_object_array_add(procs, p);
	}
	json_object_object_add(o, "processes", procs);
	json_object *hostdevs = json_object_new_array();
	for (size_t i = 0; i < s->n_hostdevs; i++) {
		json_object *h = json_object_new_object();
		json_object_object_add(h, "pci", json_object_new_string(s->hostdevs[i].pci));
		json_object_object_add(h, "node", s->hostdevs[i].node ? json_object_new_string(s->hostdevs[i].node) : NULL);
		json_object_object_add(h, "fd", s->hostdevs[i].fd ? json_object_new_string(s->hostdevs[i].fd) : NULL);
		json_object_array_add(hostdevs, h);
	}
	json_object_object_add(o, "hostdevs", hostdevs);
	return o;
}

int vj_status_print_json(const struct vj_status *s, FILE *f)
{
	return vj_json_print_put(status_json(s), f);
}

int vj_list(const struct vj_run_opts *o, char ***names, size_t *n, struct vj_error **err)
{
	_cleanup_close_ int dirfd = -1;
	int r = vj_state_dir_find(o->state_dir, &dirfd, err);

	if (r <= 0) {
		*names = NULL;
		*n = 0;
		return r;
	}
	return vj_state_list(dirfd, names, n, err);
}
