/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hotplug into a jail of any kind: attach and detach.
 *
 *   setup   the nodes are made in (removed from) the kept namespace;
 *   run     the VMM's own mount namespace, entered through its pidfd (checked
 *           against the state's pid and start time) by a forked helper;
 *   launch  the VMM lives in its launcher's namespace: the launcher makes the
 *           nodes (libvirt does on virsh attach-device), vfiojail changes the
 *           filter and RLIMIT_MEMLOCK only, and says so.
 *
 * Both re-plan from the spec kept in the state (with the devices added or
 * removed), under the roots the setup used, and work out the plan the jail goes
 * to: attach adds what the new plan has that the jail lacks (nodes, rule bits),
 * detach keeps only what the new plan still has.  The apply engine (apply.h)
 * then changes the jail from its plan to that one, in libvirt's order:
 *
 *   attach: memlock of every process in the cgroup raised (never lowered), the
 *           new nodes made in the kept namespace, the new rules in the pinned
 *           filter's map (or a bigger filter swapped in on the same link);
 *   detach: rules first (access is revoked at once), then the nodes, then
 *           memlock (lowered only when no process has more locked than the new
 *           limit; otherwise kept, with a warning).
 *
 * A failure undoes the steps done, so the jail is as it was; a crash is undone
 * by the next command that opens the jail.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "error.h"
#include "jail.h"
#include "name.h"
#include "plan.h"
#include "spec_internal.h"
#include "util.h"

/* ------------------------------------------------------------------------- */
/* The plan the jail goes to                                                  */

static struct vj_node *find_node(const struct vj_plan *p, const char *path)
{
	for (size_t i = 0; i < p->n_nodes; i++)
		if (strcmp(p->nodes[i].path, path) == 0)
			return &p->nodes[i];
	return NULL;
}

/* What comes from the new plan in any case: its contexts, hostdevs and memlock
 * figure (moved out of @next). */
static void take_from_next(struct vj_plan *t, struct vj_plan *next)
{
	struct vj_iommufd_plan *c = t->iommufd;
	struct vj_hostdev_plan *h = t->hostdevs;
	size_t n_c = t->n_iommufd, n_h = t->n_hostdevs;

	t->iommufd = next->iommufd;
	t->n_iommufd = next->n_iommufd;
	next->iommufd = c;
	next->n_iommufd = n_c;
	t->hostdevs = next->hostdevs;
	t->n_hostdevs = next->n_hostdevs;
	next->hostdevs = h;
	next->n_hostdevs = n_h;
	t->memlock.unchanged = next->memlock.unchanged;
	t->memlock.unlimited = next->memlock.unlimited;
	t->memlock.bytes = next->memlock.bytes;
}

/* attach: the jail's plan @cur plus the nodes @next has that it lacks, and the
 * rule bits @next adds. */
static int attach_target(const struct vj_plan *cur, struct vj_plan *next, struct vj_plan **out,
			 struct vj_error **err)
{
	struct vj_plan *t = vj_plan_dup(cur);

	if (!t)
		goto oom;
	for (size_t i = 0; i < next->n_nodes; i++) {
		const struct vj_node *nn = &next->nodes[i], *old = find_node(cur, nn->path);
		struct vj_node *slot;

		if (old && (old->type != nn->type || old->major != nn->major || old->minor != nn->minor)) {
			vj_plan_free(t);
			return vj_err(err, VJ_EXIT_SETUP, 0, "plan", nn->path,
				      "the host changed since setup: vfiojail teardown NAME, then setup again",
				      "the jail has %c %u:%u at this path, the new plan %c %u:%u",
				      old->type, old->major, old->minor, nn->type, nn->major, nn->minor);
		}
		if (old)
			continue;
		if (!(slot = VJ_PUSH(t->nodes, t->n_nodes)))
			goto oom;
		if (vj_node_copy(slot, nn) < 0)
			goto oom; /* the copy is in t, and goes with it */
	}
	for (size_t i = 0; i < next->n_rules; i++) {
		struct vj_rule *r = vj_rule_find(t->rules, t->n_rules, &next->rules[i]);

		if (r) {
			r->access |= next->rules[i].access;
			continue;
		}
		if (!(r = VJ_PUSH(t->rules, t->n_rules)))
			goto oom;
		*r = next->rules[i];
		r->reason = NULL;
	}
	take_from_next(t, next);
	*out = t;
	return 0;
oom:
	vj_plan_free(t);
	return vj_err_sys(err, "plan", cur->name, ENOMEM, NULL, "out of memory");
}

/* detach: the jail's plan @cur without the nodes @next has no more, each rule
 * with only the bits @next keeps (a node or rule another device still needs is
 * in @next, so it stays). */
static int detach_target(const struct vj_plan *cur, struct vj_plan *next, struct vj_plan **out,
			 struct vj_error **err)
{
	struct vj_plan *t = vj_plan_dup(cur);
	size_t keep = 0;

	if (!t)
		return vj_err_sys(err, "plan", cur->name, ENOMEM, NULL, "out of memory");
	for (size_t i = 0; i < t->n_nodes; i++) {
		if (find_node(next, t->nodes[i].path)) {
			t->nodes[keep++] = t->nodes[i];
			continue;
		}
		vj_node_clear(&t->nodes[i]);
	}
	t->n_nodes = keep;
	keep = 0;
	for (size_t i = 0; i < t->n_rules; i++) {
		const struct vj_rule *nr = vj_rule_find(next->rules, next->n_rules, &t->rules[i]);

		t->rules[i].access &= nr ? nr->access : 0;
		if (t->rules[i].access) {
			t->rules[keep++] = t->rules[i];
			continue;
		}
		free(t->rules[i].reason);
	}
	t->n_rules = keep;
	take_from_next(t, next);
	*out = t;
	return 0;
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
		free(spec->hostdevs[k].fd);
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

/* A launched VMM's /dev is its launcher's: said after each change. */
static void launch_note(const struct vj_run_opts *o, const char *name, const char *verb)
{
	char shown[VJ_NAME_SHOWN_MAX];
	_cleanup_free_ char *msg = NULL;

	if (!o->warn)
		return;
	msg = vj_strdupf("%s: %s changed the device filter and RLIMIT_MEMLOCK only: the launch service's VMM "
			 "lives in its launcher's mount namespace, whose /dev nodes the launcher %s (libvirt "
			 "does on virsh %s-device)",
			 vj_name_shown(name, shown), verb, strcmp(verb, "attach") == 0 ? "makes" : "removes",
			 strcmp(verb, "attach") == 0 ? "attach" : "detach");
	if (msg)
		o->warn(msg, o->userdata);
}

/*
 * Open the jail (a change a crash left is undone there), change its spec with
 * @edit, plan it, work out the plan the jail goes to with @target, and let the
 * engine run @steps from the jail's plan to that one.
 */
static int hotplug(const char *name, const struct vj_hotplug *hp, const struct vj_run_opts *o,
		   int (*edit)(struct vj_spec *, const struct vj_hotplug *, struct vj_error **),
		   int (*target)(const struct vj_plan *, struct vj_plan *, struct vj_plan **,
				 struct vj_error **),
		   const enum vj_step *steps, size_t n_steps, const char *verb, struct vj_error **err)
{
	struct vj_jail j;
	struct vj_spec *spec = NULL;
	struct vj_plan *next = NULL, *to = NULL;
	struct vj_plan_opts po;
	struct vj_apply a = { .o = o };
	char *text;
	int r = -1;

	if (!hp || hp->n_hostdevs + hp->n_devices == 0)
		return vj_err(err, VJ_EXIT_USAGE, 0, "spec", NULL,
			      "name them with --hostdev BDF or --device PATH", "no device given");
	if (vj_jail_open(&j, name, o, true, err) < 0 || spec_load(&j.st, &spec, err) < 0 || edit(spec, hp, err) < 0)
		goto out;
	po = (struct vj_plan_opts){
		.roots = { .sysfs = j.st.sysfs_root, .proc = j.st.proc_root, .dev = j.st.dev_root },
		.cgroup_parent = j.st.cgroup_parent,
	};
	if (vj_plan_build(spec, &po, &next, err) < 0)
		goto out;
	for (size_t i = 0; o->warn && i < next->n_warnings; i++)
		o->warn(next->warnings[i], o->userdata);
	if (!j.st.cgroup || !j.st.bpf_pin || (j.st.kind == VJ_STATE_SETUP && !j.st.ns_path)) {
		vj_err(err, VJ_EXIT_SETUP, 0, "state", name, "vfiojail teardown NAME, then setup again",
		       "the state names no cgroup, filter or namespace");
		goto out;
	}
	if (target(j.st.plan, next, &to, err) < 0)
		goto out;
	if (!(text = vj_spec_json(spec, to))) {
		vj_plan_free(to);
		vj_err_sys(err, "state", name, ENOMEM, NULL, "out of memory");
		goto out;
	}
	a.dirfd = j.dirfd;
	a.st = &j.st;
	r = vj_apply_change(&a, to, text, steps, n_steps, err); /* takes @to and @text */
	vj_apply_release(&a);
	if (r < 0)
		vj_err_wrap(err, verb, name, strcmp(verb, "attach") == 0 ? "nothing was changed" : "the devices stay attached");
	else if (j.st.origin == VJ_ORIGIN_LAUNCH)
		launch_note(o, name, verb);
out:
	vj_plan_free(next);
	vj_spec_free(spec);
	vj_jail_close(&j);
	return r;
}

int vj_attach(const char *name, const struct vj_hotplug *hp, const struct vj_run_opts *o,
	      struct vj_error **err)
{
	static const enum vj_step steps[] = { VJ_STEP_MEMLOCK, VJ_STEP_NODES, VJ_STEP_RULES };
	return hotplug(name, hp, o, spec_add, attach_target, steps, ARRAY_SIZE(steps), "attach", err);
}

int vj_detach(const char *name, const struct vj_hotplug *hp, const struct vj_run_opts *o,
	      struct vj_error **err)
{
	static const enum vj_step steps[] = { VJ_STEP_RULES, VJ_STEP_NODES, VJ_STEP_MEMLOCK };
	return hotplug(name, hp, o, spec_remove, detach_target, steps, ARRAY_SIZE(steps), "detach", err);
}
