/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hotplug into a jail of any kind: attach and detach.
 *
 *   setup   the nodes are made in (removed from) the kept namespace;
 *   run     the VMM's own mount namespace, entered through its pidfd (checked
 *           against the state's pid and start time) by a forked helper;
 *   launch  the VMM lives in its launcher's namespace: the launcher makes the
 *           nodes (libvirt does on virsh attach-device), vfiojail changes the
 *           filter and RLIMIT_MEMLOCK only, and says which it changed.
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
 *           limit; otherwise kept, with a warning; a new plan with no limit puts
 *           back what a run or launch VMM had before attach first raised it,
 *           while its limit is still vfiojail's: docs/MEMLOCK.md).
 *
 * A failure undoes the steps done, so the jail is as it was; a crash is undone
 * by the next command that opens the jail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "apply.h"
#include "cgroup.h"
#include "error.h"
#include "jail.h"
#include "name.h"
#include "plan.h"
#include "qmp.h"
#include "spec_internal.h"
#include "util.h"
#include "vfio.h"

static int keep_fd_devices(struct vj_plan *next, const struct vj_plan *cur, struct vj_error **err);
static int fd_device_leaving(const struct vj_plan *cur, const struct vj_plan *next, struct vj_error **err);
static int attach_qmp(const char *name, const struct vj_hotplug *hp, const struct vj_run_opts *o,
		      struct vj_error **err);
static int detach_qmp(const char *name, const struct vj_hotplug *hp, const struct vj_run_opts *o,
		      struct vj_error **err);

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
	/* the tree vj_state_read parsed with the text: not parsed a second time */
	if (st->spec_tree ? vj_spec_from_json(st->spec_tree, "spec", out, err) == 0
			  : vj_spec_parse_string(st->spec, out, err) == 0)
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

/* A launched VMM's /dev is its launcher's: said after each change, with what
 * the change did (RLIMIT_MEMLOCK only when @memlock: a process's limit was set). */
static void launch_note(const struct vj_run_opts *o, const char *name, const char *verb, bool memlock)
{
	char shown[VJ_NAME_SHOWN_MAX];
	_cleanup_free_ char *msg = NULL;

	if (!o->warn)
		return;
	msg = vj_strdupf("%s: %s changed the device filter%s only: the launch service's VMM "
			 "lives in its launcher's mount namespace, whose /dev nodes the launcher %s (libvirt "
			 "does on virsh %s-device)",
			 vj_name_shown(name, shown), verb, memlock ? " and RLIMIT_MEMLOCK" : "",
			 strcmp(verb, "attach") == 0 ? "makes" : "removes",
			 strcmp(verb, "attach") == 0 ? "attach" : "detach");
	if (msg)
		o->warn(msg, o->userdata);
}

/* The state names what a change needs: the cgroup, the filter, and the kept
 * namespace of a setup jail (--qmp: of the jail it needs, with its plan). */
static int jail_check(const struct vj_state *st, const char *name, bool qmp, struct vj_error **err)
{
	if (st->cgroup && st->bpf_pin && (st->kind != VJ_STATE_SETUP || st->ns_path) &&
	    (!qmp || (st->ns_path && st->plan)))
		return 0;
	return vj_err(err, VJ_EXIT_SETUP, 0, "state", name, "vfiojail teardown NAME, then setup again",
		      "the state names no cgroup, filter or namespace");
}

/*
 * The jail @j goes to @to (taken), whose spec is @spec: the engine @a runs
 * @steps (then @a's last step, when the caller set one) and lets go of what it
 * held.  *@memlock: whether it set a process's RLIMIT_MEMLOCK.
 */
static int change_to(struct vj_jail *j, struct vj_apply *a, const struct vj_spec *spec, struct vj_plan *to,
		     const enum vj_step *steps, size_t n_steps, bool *memlock, struct vj_error **err)
{
	char *text = vj_spec_json(spec, to);
	int r;

	if (!text) {
		vj_plan_free(to);
		return vj_err_sys(err, "state", j->st.name, ENOMEM, NULL, "out of memory");
	}
	a->dirfd = j->dirfd;
	a->st = &j->st;
	r = vj_apply_change(a, to, text, steps, n_steps, err); /* takes @to and @text */
	if (memlock)
		*memlock = a->memlock_changed;
	vj_apply_release(a);
	return r;
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
	bool memlock = false;
	int r = -1;

	if (!hp || hp->n_hostdevs + hp->n_devices == 0)
		return vj_err(err, VJ_EXIT_USAGE, 0, "spec", NULL,
			      "name them with --hostdev BDF or --device PATH", "no device given");
	if (vj_jail_open(&j, name, o, true, err) < 0 || spec_load(&j.st, &spec, err) < 0 || edit(spec, hp, err) < 0)
		goto out;
	po = (struct vj_plan_opts){
		.roots = { .sysfs = j.st.sysfs_root, .proc = j.st.proc_root, .dev = j.st.dev_root },
		.cgroup_parent = j.st.cgroup_parent,
		.cgroup = j.st.cgroup,
	};
	if (vj_plan_build(spec, &po, &next, err) < 0)
		goto out;
	for (size_t i = 0; o->warn && i < next->n_warnings; i++)
		o->warn(next->warnings[i], o->userdata);
	if (j.st.plan && (keep_fd_devices(next, j.st.plan, err) < 0 || fd_device_leaving(j.st.plan, next, err) < 0))
		goto out;
	if (jail_check(&j.st, name, false, err) < 0 || target(j.st.plan, next, &to, err) < 0)
		goto out;
	r = change_to(&j, &a, spec, to, steps, n_steps, &memlock, err);
	if (r < 0)
		vj_err_wrap(err, verb, name, strcmp(verb, "attach") == 0 ? "nothing was changed" : "the devices stay attached");
	else if (j.st.origin == VJ_ORIGIN_LAUNCH)
		launch_note(o, name, verb, memlock);
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
	if (hp && hp->qmp)
		return attach_qmp(name, hp, o, err);
	return hotplug(name, hp, o, spec_add, attach_target, steps, ARRAY_SIZE(steps), "attach", err);
}

int vj_detach(const char *name, const struct vj_hotplug *hp, const struct vj_run_opts *o,
	      struct vj_error **err)
{
	static const enum vj_step steps[] = { VJ_STEP_RULES, VJ_STEP_NODES, VJ_STEP_MEMLOCK };
	if (hp && hp->qmp)
		return detach_qmp(name, hp, o, err);
	return hotplug(name, hp, o, spec_remove, detach_target, steps, ARRAY_SIZE(steps), "detach", err);
}

/* ------------------------------------------------------------------------- */
/* attach --qmp and detach --qmp: the device into and out of a running QEMU   */

/*
 * A device attached with --qmp has no node in the jail and no rule in its
 * filter: QEMU got it as an fd, recorded in the plan's hostdev as "fd" (the
 * name it was handed as, also its qdev id).  A re-plan from the spec knows
 * nothing of that: its node and rule for such a device are dropped from @next
 * and the name carried over, so a later attach or detach leaves them as they
 * are.
 */
static int keep_fd_devices(struct vj_plan *next, const struct vj_plan *cur, struct vj_error **err)
{
	for (size_t i = 0; i < cur->n_hostdevs; i++) {
		const struct vj_hostdev_plan *c = &cur->hostdevs[i];
		struct vj_hostdev_plan *h = NULL;
		size_t keep = 0;

		for (size_t k = 0; c->fd && k < next->n_hostdevs; k++)
			if (strcmp(next->hostdevs[k].pci, c->pci) == 0)
				h = &next->hostdevs[k];
		if (!h)
			continue;
		free(h->fd);
		if (!(h->fd = strdup(c->fd)))
			return vj_err_sys(err, "plan", cur->name, ENOMEM, NULL, "out of memory");
		struct vj_node gone = { 0 };

		for (size_t k = 0; k < next->n_nodes; k++) {
			struct vj_node *n = &next->nodes[k];

			if (!h->node || strcmp(n->path, h->node) != 0) {
				next->nodes[keep++] = *n;
				continue;
			}
			gone = (struct vj_node){ .type = n->type, .major = n->major, .minor = n->minor };
			vj_node_clear(n);
		}
		next->n_nodes = keep;
		keep = 0;
		/* Its rule, unless another node still needs the same number. */
		for (size_t k = 0; gone.type && k < next->n_nodes; k++)
			if (next->nodes[k].type == gone.type && next->nodes[k].major == gone.major &&
			    next->nodes[k].minor == gone.minor)
				gone.type = 0;
		for (size_t x = 0; gone.type && x < next->n_rules; x++) {
			struct vj_rule *r = &next->rules[x];
			if (r->type == gone.type && r->major == gone.major && r->minor == gone.minor)
				r->access = 0; /* dropped below */
		}
		for (size_t x = 0; x < next->n_rules; x++) {
			if (next->rules[x].access) {
				next->rules[keep++] = next->rules[x];
				continue;
			}
			free(next->rules[x].reason);
		}
		next->n_rules = keep;
	}
	return 0;
}

static void qmp_dev_id(const char *pci, char out[32]);

/* Was @h attached with --qmp: handed under the name attach --qmp derives? */
static bool qmp_attached(const struct vj_hostdev_plan *h)
{
	char id[32];

	qmp_dev_id(h->pci, id);
	return h->fd && strcmp(h->fd, id) == 0;
}

/* A plain detach of a device QEMU got by attach --qmp is refused: the jail
 * would forget it while QEMU keeps it. */
static int fd_device_leaving(const struct vj_plan *cur, const struct vj_plan *next, struct vj_error **err)
{
	for (size_t i = 0; i < cur->n_hostdevs; i++) {
		size_t k = 0;

		if (!qmp_attached(&cur->hostdevs[i]))
			continue;
		while (k < next->n_hostdevs && strcmp(next->hostdevs[k].pci, cur->hostdevs[i].pci) != 0)
			k++;
		if (k == next->n_hostdevs)
			return vj_err(err, VJ_EXIT_USAGE, 0, "spec", "--hostdev",
				      "detach it with --qmp SOCKET: QEMU lets it go first",
				      "%s was attached with --qmp: QEMU holds it by fd", cur->hostdevs[i].pci);
	}
	return 0;
}

#define QMP_TIMEOUT_S 10

/* What attach --qmp's last step needs. */
struct qmp_hot {
	struct vj_qmp *q;
	const struct vj_hotplug *hp;
	const char *sysfs_root;
	char *host;                /* the cdev on the host (under the state's dev root) */
	char pci[13];
	char node[64];             /* the cdev's path, e.g. /dev/vfio/devices/vfio3 */
	uint32_t major, minor;     /* its number, read from sysfs by the plan */
	const char *iommufd;       /* QEMU's iommufd object */
	char id[32];               /* qdev id and fd name */
	int timeout_ms;
	bool added;                /* device_add succeeded */
	bool left;                 /* and its undo was not confirmed */
};

/* The qdev id and fd name of a device: "vfiojail-" and its address with the
 * colons as '-' (QEMU's ids allow letters, digits, '-', '.', '_'). */
static void qmp_dev_id(const char *pci, char out[32])
{
	snprintf(out, 32, VJ_QMP_FD_PREFIX "%s", pci);
	for (char *p = out; *p; p++)
		if (*p == ':')
			*p = '-';
}

/* Does a process of @pids, or @peer, hold an fd of the char device @major:@minor?
 * Its pid, or 0. */
static pid_t holder(const pid_t *pids, size_t n, pid_t peer, uint32_t major, uint32_t minor)
{
	for (size_t i = 0; i <= n; i++) {
		pid_t pid = i < n ? pids[i] : peer;
		char dir[64];
		DIR *d;
		struct dirent *e;
		pid_t found = 0;

		if (pid <= 0)
			continue;
		snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
		if (!(d = opendir(dir)))
			continue;
		while (!found && (e = readdir(d))) {
			struct stat st;
			if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0 && S_ISCHR(st.st_mode) &&
			    major(st.st_rdev) == major && minor(st.st_rdev) == minor)
				found = pid;
		}
		closedir(d);
		if (found)
			return found;
	}
	return 0;
}

static pid_t qemu_holds(const struct vj_state *st, struct vj_qmp *q, uint32_t major, uint32_t minor)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;

	if (st->cgroup && vj_cgroup_pids(st->cgroup, &pids, &n, NULL) < 0)
		n = 0;
	return holder(pids, n, vj_qmp_peer(q), major, minor);
}

/* Is the device with qdev id @id in @devices (query-pci's, bridges walked)? */
static json_object *pci_find(json_object *devices, const char *id, int depth)
{
	size_t n = json_object_is_type(devices, json_type_array) ? json_object_array_length(devices) : 0;

	for (size_t i = 0; depth < 8 && i < n; i++) {
		json_object *d = json_object_array_get_idx(devices, i), *v, *b, *found;

		if (json_object_object_get_ex(d, "qdev_id", &v) && json_object_is_type(v, json_type_string) &&
		    strcmp(json_object_get_string(v), id) == 0)
			return d;
		if (json_object_object_get_ex(d, "pci_bridge", &b) && json_object_object_get_ex(b, "devices", &v) &&
		    (found = pci_find(v, id, depth + 1)))
			return found;
	}
	return NULL;
}

/* query-pci lists @h->id, with the vendor and device ids sysfs gives. */
static int qmp_confirm(struct qmp_hot *h, struct vj_error **err)
{
	json_object *buses = NULL, *dev = NULL, *ids, *v;
	char path[256];
	_cleanup_free_ char *vendor = NULL, *device = NULL;
	int r = -1;

	if (vj_qmp_cmd(h->q, "query-pci", NULL, -1, &buses, NULL, err) < 0)
		return -1;
	for (size_t i = 0; !dev && json_object_is_type(buses, json_type_array) && i < json_object_array_length(buses); i++)
		if (json_object_object_get_ex(json_object_array_get_idx(buses, i), "devices", &v))
			dev = pci_find(v, h->id, 0);
	if (!dev) {
		/* query-pci lists no device behind a bridge whose secondary bus the
		 * firmware has not numbered yet (a VM started with -S): QOM must
		 * then show the device realized. */
		char qom[64];
		json_object *args = json_object_new_object(), *realized = NULL;
		bool ok;

		snprintf(qom, sizeof(qom), "/machine/peripheral/%s", h->id);
		if (args) {
			json_object_object_add(args, "path", json_object_new_string(qom));
			json_object_object_add(args, "property", json_object_new_string("realized"));
		}
		ok = args && vj_qmp_cmd(h->q, "qom-get", args, -1, &realized, NULL, NULL) == 0 &&
		     json_object_is_type(realized, json_type_boolean) && json_object_get_boolean(realized);
		json_object_put(realized);
		if (ok) {
			r = 0;
			goto out;
		}
		vj_err(err, VJ_EXIT_SETUP, 0, "qmp", h->hp->qmp, NULL,
		       "device_add %s succeeded, but query-pci does not list it and QOM does not show it realized",
		       h->id);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/vendor", h->sysfs_root, h->pci);
	if (vj_read_file(path, 0, &vendor) < 0)
		vendor = NULL;
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/device", h->sysfs_root, h->pci);
	if (vj_read_file(path, 0, &device) < 0)
		device = NULL;
	if (json_object_object_get_ex(dev, "id", &ids)) {
		json_object *ven = NULL, *did = NULL;
		json_object_object_get_ex(ids, "vendor", &ven);
		json_object_object_get_ex(ids, "device", &did);
		if ((vendor && (!ven || json_object_get_int64(ven) != strtol(vendor, NULL, 16))) ||
		    (device && (!did || json_object_get_int64(did) != strtol(device, NULL, 16)))) {
			vj_err(err, VJ_EXIT_SETUP, 0, "qmp", h->hp->qmp, NULL,
			       "query-pci lists %s with vendor:device %04llx:%04llx, sysfs says %s:%s for %s",
			       h->id, (unsigned long long)json_object_get_int64(ven),
			       (unsigned long long)json_object_get_int64(did), vendor, device, h->pci);
			goto out;
		}
	}
	r = 0;
out:
	json_object_put(buses);
	return r;
}

/* device_del @id and wait for DEVICE_DELETED: 0, 1 when QEMU has no such device,
 * -1 with *err. */
static int qmp_unplug(struct vj_qmp *q, const char *id, int wait_ms, struct vj_error **err)
{
	json_object *args = json_object_new_object();
	_cleanup_free_ char *cls = NULL;
	struct vj_error *e = NULL;

	if (!args)
		return vj_err_sys(err, "qmp", NULL, ENOMEM, NULL, "out of memory");
	json_object_object_add(args, "id", json_object_new_string(id));
	if (vj_qmp_cmd(q, "device_del", args, -1, NULL, &cls, &e) < 0) {
		if (cls && strncmp(cls, "DeviceNotFound:", 15) == 0) {
			vj_error_free(e);
			return 1;
		}
		/* An earlier device_del (a detach that timed out) still waits for
		 * the guest: wait for its DEVICE_DELETED. */
		if (cls && strstr(cls, "already in the process of unplug")) {
			vj_error_free(e);
			return vj_qmp_wait_deleted(q, id, wait_ms, err);
		}
		return vj_err_pass(err, e);
	}
	return vj_qmp_wait_deleted(q, id, wait_ms, err);
}

static void qmp_closefd(struct vj_qmp *q, const char *id)
{
	json_object *args = json_object_new_object();

	if (!args)
		return;
	json_object_object_add(args, "fdname", json_object_new_string(id));
	vj_qmp_cmd(q, "closefd", args, -1, NULL, NULL, NULL); /* gone already when device_add took it */
}

/* The last step of attach --qmp: the cdev opened and checked, handed to QEMU,
 * device_add, query-pci.  On failure what QEMU got is taken back. */
static int qmp_plug(struct vj_apply *a, void *data, struct vj_error **err)
{
	struct qmp_hot *h = data;
	const char *path = h->host;
	_cleanup_close_ int fd = -1;
	json_object *args;
	struct stat st;
	pid_t who;

	fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return vj_err_sys(err, "attach", path, errno, "is the device bound to vfio-pci?",
				  "cannot open the VFIO cdev of %s", h->pci);
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != h->major ||
	    minor(st.st_rdev) != h->minor)
		return vj_err(err, VJ_EXIT_SETUP, 0, "attach", path, "is the host's /dev out of date?",
			      "%s is not the char device %u:%u sysfs names for %s", path, h->major, h->minor,
			      h->pci);
	if (!(args = json_object_new_object()))
		return vj_err_sys(err, "attach", h->pci, ENOMEM, NULL, "out of memory");
	json_object_object_add(args, "fdname", json_object_new_string(h->id));
	if (vj_qmp_cmd(h->q, "getfd", args, fd, NULL, NULL, err) < 0)
		return -1;
	close(fd);
	fd = -1; /* QEMU has its own copy now, under the name h->id */
	if (!(args = json_object_new_object())) {
		qmp_closefd(h->q, h->id);
		return vj_err_sys(err, "attach", h->pci, ENOMEM, NULL, "out of memory");
	}
	json_object_object_add(args, "driver", json_object_new_string("vfio-pci"));
	json_object_object_add(args, "id", json_object_new_string(h->id));
	json_object_object_add(args, "fd", json_object_new_string(h->id));
	json_object_object_add(args, "iommufd", json_object_new_string(h->iommufd));
	if (h->hp->qmp_bus)
		json_object_object_add(args, "bus", json_object_new_string(h->hp->qmp_bus));
	if (vj_qmp_cmd(h->q, "device_add", args, -1, NULL, NULL, err) < 0) {
		vj_err_wrap(err, "attach", h->pci, "device_add driver=vfio-pci,id=%s,fd=%s,iommufd=%s%s%s", h->id,
			    h->id, h->iommufd, h->hp->qmp_bus ? ",bus=" : "", h->hp->qmp_bus ? h->hp->qmp_bus : "");
		goto back;
	}
	h->added = true;
	if (qmp_confirm(h, err) == 0)
		return 0;
back:
	if (h->added && qmp_unplug(h->q, h->id, h->timeout_ms * 3, NULL) < 0) {
		vj_err_wrap(err, "attach", h->pci,
			    "and QEMU did not confirm the device_del of %s: it may still hold the device", h->id);
		h->left = true;
	}
	qmp_closefd(h->q, h->id);
	h->added = false;
	if ((who = qemu_holds(a->st, h->q, h->major, h->minor)))
		vj_err_wrap(err, "attach", h->pci, "process %d still holds %s", (int)who, h->node);
	return -1;
}

static void qmp_unplug_back(struct vj_apply *a, void *data)
{
	struct qmp_hot *h = data;

	(void)a;
	if (h->added)
		qmp_unplug(h->q, h->id, h->timeout_ms * 3, NULL);
	qmp_closefd(h->q, h->id);
	h->added = false;
}

static int qmp_one_hostdev(const struct vj_hotplug *hp, const char *verb, struct vj_error **err)
{
	if (hp->n_devices || hp->n_hostdevs != 1)
		return vj_err(err, VJ_EXIT_USAGE, 0, "spec", "--qmp", "run one command per device",
			      "%s --qmp takes exactly one --hostdev BDF and no --device", verb);
	return 0;
}

static const struct vj_hostdev_plan *hostdev_of(const struct vj_plan *p, const struct vj_plan *except)
{
	for (size_t i = 0; i < p->n_hostdevs; i++) {
		size_t k = 0;
		while (except && k < except->n_hostdevs && strcmp(except->hostdevs[k].pci, p->hostdevs[i].pci) != 0)
			k++;
		if (!except || k == except->n_hostdevs)
			return &p->hostdevs[i];
	}
	return NULL;
}

/* Open the jail, re-plan it with @hp edited in by @edit, the fd devices kept. */
static int qmp_plan(struct vj_jail *j, const char *name, const struct vj_hotplug *hp,
		    const struct vj_run_opts *o,
		    int (*edit)(struct vj_spec *, const struct vj_hotplug *, struct vj_error **),
		    struct vj_spec **spec, struct vj_plan **next, struct vj_error **err)
{
	struct vj_plan_opts po;

	if (vj_jail_open(j, name, o, false, err) < 0 || spec_load(&j->st, spec, err) < 0 ||
	    edit(*spec, hp, err) < 0 || jail_check(&j->st, name, true, err) < 0)
		return -1;
	po = (struct vj_plan_opts){
		.roots = { .sysfs = j->st.sysfs_root, .proc = j->st.proc_root, .dev = j->st.dev_root },
		.cgroup_parent = j->st.cgroup_parent,
		.cgroup = j->st.cgroup,
	};
	if (vj_plan_build(*spec, &po, next, err) < 0)
		return -1;
	for (size_t i = 0; o->warn && i < (*next)->n_warnings; i++)
		o->warn((*next)->warnings[i], o->userdata);
	return keep_fd_devices(*next, j->st.plan, err);
}

static int qmp_timeout_ms(const struct vj_hotplug *hp)
{
	return (hp->timeout_s > 0 ? hp->timeout_s : QMP_TIMEOUT_S) * 1000;
}

static int attach_qmp(const char *name, const struct vj_hotplug *hp, const struct vj_run_opts *o,
		      struct vj_error **err)
{
	static const enum vj_step steps[] = { VJ_STEP_MEMLOCK };
	struct vj_jail j = { .dirfd = -1, .lock_fd = -1 };
	struct vj_spec *spec = NULL;
	struct vj_plan *next = NULL, *to = NULL;
	struct vj_apply a = { .o = o };
	struct qmp_hot h = { .hp = hp, .timeout_ms = qmp_timeout_ms(hp) };
	const struct vj_hostdev_plan *dev;
	int r = -1;

	if (qmp_one_hostdev(hp, "attach", err) < 0 || vj_qmp_open(hp->qmp, h.timeout_ms, &h.q, err) < 0)
		return -1;
	if (qmp_plan(&j, name, hp, o, spec_add, &spec, &next, err) < 0)
		goto out;
	if (!(dev = hostdev_of(next, j.st.plan))) {
		vj_err(err, VJ_EXIT_USAGE, EEXIST, "spec", "--hostdev", NULL, "the device is attached already");
		goto out;
	}
	if (dev->backend == VJ_BACKEND_LEGACY) {
		vj_err(err, VJ_EXIT_USAGE, 0, "spec", "--hostdev",
		       "use backend iommufd, or attach without --qmp and device_add host=BDF yourself",
		       "attach --qmp needs the iommufd backend: QEMU takes a VFIO device by fd only with an iommufd object (\"Use FD passing only with iommufd backend\"), and %s uses legacy",
		       dev->pci);
		goto out;
	}
	h.iommufd = hp->qmp_iommufd ? hp->qmp_iommufd : dev->iommufd;
	if (!h.iommufd) {
		vj_err(err, VJ_EXIT_USAGE, 0, "spec", "--qmp-iommufd", NULL,
		       "%s has no iommufd context: name QEMU's iommufd object with --qmp-iommufd ID", dev->pci);
		goto out;
	}
	memcpy(h.pci, dev->pci, sizeof(h.pci));
	qmp_dev_id(h.pci, h.id);
	for (size_t i = 0; dev->node && i < next->n_nodes; i++)
		if (strcmp(next->nodes[i].path, dev->node) == 0 && strlen(dev->node) < sizeof(h.node)) {
			strcpy(h.node, dev->node);
			h.major = next->nodes[i].major;
			h.minor = next->nodes[i].minor;
			h.host = next->nodes[i].host_path
					 ? strdup(next->nodes[i].host_path)
					 : vj_path_join(j.st.dev_root ? j.st.dev_root : "/dev", dev->node + strlen("/dev"));
		}
	if (!h.node[0] || !h.host) {
		vj_err(err, VJ_EXIT_SETUP, 0, "plan", dev->pci, NULL, "the plan has no VFIO cdev for %s", dev->pci);
		goto out;
	}
	h.sysfs_root = j.st.sysfs_root ? j.st.sysfs_root : "/sys";
	/* The jail goes to its plan with the new memlock and the device recorded as
	 * handed by fd: no node, no rule. */
	if (!(to = vj_plan_dup(j.st.plan))) {
		vj_err_sys(err, "plan", name, ENOMEM, NULL, "out of memory");
		goto out;
	}
	take_from_next(to, next);
	for (size_t i = 0; i < to->n_hostdevs; i++)
		if (strcmp(to->hostdevs[i].pci, h.pci) == 0 && !(to->hostdevs[i].fd = strdup(h.id))) {
			vj_plan_free(to);
			vj_err_sys(err, "plan", name, ENOMEM, NULL, "out of memory");
			goto out;
		}
	a.last = qmp_plug;
	a.last_undo = qmp_unplug_back;
	a.last_data = &h;
	r = change_to(&j, &a, spec, to, steps, ARRAY_SIZE(steps), NULL, err);
	if (r < 0 && h.left)
		vj_err_wrap(err, "attach", name,
			    "undone but for QEMU, which may still hold the device: device_del %s once the guest lets it go",
			    h.id);
	else if (r < 0)
		vj_err_wrap(err, "attach", name, "nothing was changed; the VM runs on");
out:
	vj_plan_free(next);
	vj_spec_free(spec);
	vj_jail_close(&j);
	vj_qmp_close(h.q);
	free(h.host);
	return r;
}

static int detach_qmp(const char *name, const struct vj_hotplug *hp, const struct vj_run_opts *o,
		      struct vj_error **err)
{
	static const enum vj_step steps[] = { VJ_STEP_RULES, VJ_STEP_NODES, VJ_STEP_MEMLOCK };
	struct vj_jail j = { .dirfd = -1, .lock_fd = -1 };
	struct vj_spec *spec = NULL;
	struct vj_plan *next = NULL, *to = NULL;
	struct vj_apply a = { .o = o };
	struct vj_qmp *q = NULL;
	const struct vj_hostdev_plan *dev;
	struct vj_roots roots;
	_cleanup_free_ char *cdev = NULL;
	uint32_t major = 0, minor = 0;
	int timeout_ms = qmp_timeout_ms(hp), gone;
	struct vj_error *e = NULL;
	pid_t who;
	int r = -1;

	if (qmp_one_hostdev(hp, "detach", err) < 0 || vj_qmp_open(hp->qmp, timeout_ms, &q, err) < 0)
		return -1;
	if (qmp_plan(&j, name, hp, o, spec_remove, &spec, &next, err) < 0)
		goto out;
	if (!(dev = hostdev_of(j.st.plan, next))) {
		not_attached(err, "--hostdev", hp->hostdevs[0], name);
		goto out;
	}
	if (!qmp_attached(dev)) {
		vj_err(err, VJ_EXIT_USAGE, 0, "spec", "--qmp", "detach it without --qmp (device_del it in QEMU first)",
		       "%s was not attached with --qmp: QEMU did not get it from vfiojail", dev->pci);
		goto out;
	}
	roots = (struct vj_roots){ .sysfs = j.st.sysfs_root, .proc = j.st.proc_root, .dev = j.st.dev_root };
	if (vj_vfio_cdev(&roots, dev->pci, &cdev, &major, &minor, err) < 0)
		goto out;
	gone = qmp_unplug(q, dev->fd, timeout_ms * 3, &e);
	if (gone < 0) {
		if (e && e->errnum == ETIMEDOUT) {
			vj_error_free(e);
			e = NULL;
			vj_err(&e, VJ_EXIT_SETUP, ETIMEDOUT, "detach", dev->pci,
			       "the guest did not release it (no PCIe hotplug in the guest, or the device is busy): "
			       "run detach --qmp again later (device_del is repeated safely), or stop the VM",
			       "QEMU sent no DEVICE_DELETED for %s within %d s", dev->fd, timeout_ms * 3 / 1000);
		}
		vj_err_pass(err, e);
		vj_err_wrap(err, "detach", name, "the device stays attached and the memlock limit stays");
		goto out;
	}
	/* Checked, not believed: no process of the VM holds the device any more. */
	if ((who = qemu_holds(&j.st, q, major, minor))) {
		vj_err(err, VJ_EXIT_SETUP, 0, "detach", dev->pci, "run detach --qmp again once QEMU let it go",
		       "QEMU %s %s, but process %d still holds /dev/vfio/devices/%s",
		       gone ? "has no device" : "sent DEVICE_DELETED for", dev->fd, (int)who, cdev);
		vj_err_wrap(err, "detach", name, "the device stays attached and the memlock limit stays");
		goto out;
	}
	if (detach_target(j.st.plan, next, &to, err) < 0)
		goto out;
	r = change_to(&j, &a, spec, to, steps, ARRAY_SIZE(steps), NULL, err);
	if (r < 0)
		vj_err_wrap(err, "detach", name,
			    "QEMU let the device go, but the state still records it: run detach --qmp again");
out:
	vj_plan_free(next);
	vj_spec_free(spec);
	vj_jail_close(&j);
	vj_qmp_close(q);
	return r;
}
