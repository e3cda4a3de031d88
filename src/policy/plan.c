/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan: everything `run` will do, resolved against a host snapshot read
 * under the roots in vj_plan_opts.  Building it changes nothing on the host.
 */
#include "plan.h"
#include "plan_fields.h"
#include "plan_json.h"
#include "plan_build.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/capability.h>

#include "cgroup.h"
#include "error.h"
#include "hashset.h"
#include "memlock.h"
#include "name.h"
#include "pci.h"
#include "privs.h"
#include "size.h"
#include "sysfs.h"
#include "util.h"
#include "vfio.h"

#define VJ_CGROUP_PREFIX "vfiojail-"

const char *vj_host_arch(void)
{
	static struct utsname u;

	if (!u.machine[0] && uname(&u) < 0)
		return "unknown";
	return u.machine;
}

/* Free and copy walk the plan's field table (plan_json.c), as JSON does. */
void vj_node_clear(struct vj_node *n)
{
	vj_node_walk_free(n);
}

void vj_plan_free(struct vj_plan *p)
{
	if (!p)
		return;
	vj_plan_walk_free(p);
	free(p);
}

int vj_node_copy(struct vj_node *dst, const struct vj_node *src)
{
	return vj_node_walk_copy(dst, src);
}

/* A copy of @p for a change to apply: everything but the warnings and the
 * memlock terms (which only `plan` prints).  NULL without memory. */
struct vj_plan *vj_plan_dup(const struct vj_plan *p)
{
	return vj_plan_walk_copy(p);
}

static int oom(struct vj_error **err)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "plan", NULL, NULL, "out of memory");
}

/* One label per DMA address space: each iommufd context with devices, plus the
 * legacy container when any hostdev uses it. */
static int plan_memlock(struct vj_plan *p, const struct vj_spec *s, struct vj_error **err)
{
	struct vj_memlock_input in = {
		.arch = p->arch,
		.memory = s->memory,
		.spec = s->memlock,
		.n_vfio = (unsigned)s->n_hostdevs,
		.viommu = s->viommu,
		.nvme = s->nvme,
		.vdpa = s->vdpa,
		.pci_host_bridges = s->pci_host_bridges,
		.migration = s->migration,
		.page_size = (uint64_t)sysconf(_SC_PAGESIZE),
	};
	char **labels = calloc(p->n_iommufd + 1, sizeof(*labels));
	size_t n = 0, i, j;
	int r = -1;

	if (!labels)
		return oom(err);
	for (i = 0; i <= p->n_iommufd; i++) {
		bool legacy = i == p->n_iommufd;
		const char *id = legacy ? NULL : p->iommufd[i].id;
		char *label = NULL;

		for (j = 0; j < p->n_hostdevs; j++) {
			const struct vj_hostdev_plan *h = &p->hostdevs[j];
			char *next;
			if (legacy ? h->backend != VJ_BACKEND_LEGACY
				   : (!h->iommufd || strcmp(h->iommufd, id) != 0))
				continue;
			if (legacy)
				in.legacy = true;
			if (!label)
				next = legacy ? vj_strdupf("legacy VFIO container (%s", h->pci)
					      : vj_strdupf("iommufd context %s (%s", id, h->pci);
			else
				next = vj_strdupf("%s, %s", label, h->pci);
			free(label);
			label = next;
			if (!label)
				goto out;
		}
		if (label) {
			labels[n] = vj_strdupf("%s)", label);
			free(label);
			if (!labels[n++])
				goto out;
		}
	}
	in.spaces = (const char *const *)labels;
	in.n_spaces = n;
	r = vj_memlock_compute(&in, &p->memlock, err);
out:
	if (r < 0 && !(err && *err))
		oom(err);
	for (i = 0; i < n; i++)
		free(labels[i]);
	free(labels);
	return r;
}

/* "machine.slice/x" or "/machine.slice/x": relative to the cgroup2 root, no ".." */
static int cgroup_parent_check(const char *parent, struct vj_error **err)
{
	const char *c = parent;

	if (strlen(parent) > 1024)
		return vj_err(err, VJ_EXIT_USAGE, 0, "spec", "--cgroup-parent", NULL,
			      "longer than 1024 bytes");
	while (*c) {
		size_t len;
		while (*c == '/')
			c++;
		len = strcspn(c, "/");
		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return vj_err(err, VJ_EXIT_USAGE, 0, "spec", "--cgroup-parent", NULL,
				      "\"%s\" has a \".\" or \"..\" component", parent);
		for (size_t k = 0; k < len; k++)
			if ((unsigned char)c[k] < 0x20 || c[k] == 0x7f)
				return vj_err(err, VJ_EXIT_USAGE, 0, "spec", "--cgroup-parent", NULL,
					      "has a control character");
		c += len;
	}
	return 0;
}

static int plan_cgroup(struct vj_plan *p, const struct vj_plan_opts *o, struct vj_error **err)
{
	_cleanup_free_ char *root = NULL, *parent = NULL;
	struct vj_error *e = NULL;

	if (o->cgroup) /* the jail's own, where it is: whoever re-plans it */
		return (p->cgroup = strdup(o->cgroup)) ? 0 : oom(err);
	if (o->cgroup_parent && cgroup_parent_check(o->cgroup_parent, err) < 0)
		return -1;
	if (vj_cgroup2_root(vj_root_proc(&o->roots), &root, &e) < 0) {
		int r = vj_plan_warn(p, err, "no cgroup2 mount found (%s): run cannot install the device filter and will refuse to start",
				  e && e->message ? e->message : "unknown");
		vj_error_free(e);
		return r;
	}
	if (o->cgroup_parent) {
		parent = vj_path_join(root, o->cgroup_parent);
		if (!parent)
			return oom(err);
	} else if (vj_cgroup_self_dir(vj_root_proc(&o->roots), &parent, err) < 0) {
		return -1;
	}
	if (vj_cgroup_check_ancestors(parent, root, err) < 0)
		return -1;
	p->cgroup = vj_path_join(parent, VJ_CGROUP_PREFIX);
	if (!p->cgroup)
		return oom(err);
	{
		/* vfiojail-ESC: the name's escape (name.h), a file name of its own. */
		_cleanup_free_ char *esc = vj_name_escape(p->name);
		char *full = esc ? vj_strdupf("%s%s", p->cgroup, esc) : NULL;
		if (!full)
			return oom(err);
		free(p->cgroup);
		p->cgroup = full;
	}
	return 0;
}

static bool plan_has_hostdev(const struct vj_plan *p, const char *pci)
{
	for (size_t i = 0; i < p->n_hostdevs; i++)
		if (strcmp(p->hostdevs[i].pci, pci) == 0)
			return true;
	return false;
}

/* The kernel gives a group's DMA to one owner (iommu_device_claim_dma_owner): a
 * vfio-bound device that shares a group with this VM's but is not assigned to it
 * cannot go to another VM while this one runs. */
static int plan_warn_group_peers(struct vj_plan *p, const struct vj_plan_opts *o,
				 struct vj_error **err)
{
	for (size_t i = 0; i < p->n_hostdevs; i++) {
		int group = p->hostdevs[i].iommu_group;
		char **members = NULL;
		size_t n = 0, j, k;
		int r = 0;

		for (k = 0; k < i; k++)
			if (p->hostdevs[k].iommu_group == group)
				break;
		if (k < i || vj_vfio_group_members(&o->roots, group, &members, &n, NULL) < 0)
			continue;
		for (j = 0; j < n && r == 0; j++) {
			struct vj_pci_device d = { 0 };
			if (plan_has_hostdev(p, members[j]) ||
			    vj_pci_device_read(&o->roots, members[j], &d, NULL) < 0)
				continue;
			if (d.driver && vj_vfio_driver_is_vfio(d.driver))
				r = vj_plan_warn(p, err, "IOMMU group %d also holds %s (bound to %s), not assigned to this VM: a group has one DMA owner, so %s cannot be given to another VM while this one runs",
					      group, members[j], d.driver, members[j]);
			vj_pci_device_clear(&d);
		}
		for (j = 0; j < n; j++)
			free(members[j]);
		free(members);
		if (r < 0)
			return r;
	}
	return 0;
}

static int plan_warnings(struct vj_plan *p, const struct vj_spec *s, struct vj_error **err)
{
	struct rlimit rl;
	size_t i;

	for (i = 0; i < p->n_iommufd; i++)
		if (p->iommufd[i].n_devices == 0 &&
		    vj_plan_warn(p, err, "iommufd context %s has no hostdev: it is opened and handed over, but no RAM budget is planned for it",
			      p->iommufd[i].id) < 0)
			return -1;
	/* With CAP_SYS_RESOURCE run raises the hard limit itself: nothing to warn about. */
	if (!p->memlock.unchanged && !vj_privs_have_cap(CAP_SYS_RESOURCE) &&
	    getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    (p->memlock.unlimited || p->memlock.bytes > (uint64_t)rl.rlim_max)) {
		char want[32], have[32];
		if (p->memlock.unlimited)
			snprintf(want, sizeof(want), "unlimited");
		else
			vj_size_format(p->memlock.bytes, want);
		vj_size_format((uint64_t)rl.rlim_max, have);
		if (vj_plan_warn(p, err, "RLIMIT_MEMLOCK %s is above this process's hard limit %s: run needs CAP_SYS_RESOURCE to raise it",
			      want, have) < 0)
			return -1;
	}
	for (i = 0; i < p->n_hostdevs; i++)
		if (p->hostdevs[i].backend == VJ_BACKEND_LEGACY && s->migration &&
		    vj_plan_warn(p, err, "hostdev %s: migration with the legacy backend relies on VFIO type1 dirty tracking; iommufd is preferred",
			      p->hostdevs[i].pci) < 0)
			return -1;
	return 0;
}

/* Release what only the build needed; the plan itself stays. */
static void plan_build_done(struct vj_plan *p)
{
	vj_index_clear(&p->priv->node_ix);
	vj_index_clear(&p->priv->rule_ix);
	vj_dev_lookup_done(&p->priv->devs);
	p->priv = NULL;
}

/* The VMM's supplementary groups: the spec's "groups" exactly, or the user's
 * groups in the group database (once here, in the parent: the launch child
 * then makes no database lookup). */
static int plan_groups(struct vj_plan *p, const struct vj_spec *s, struct vj_error **err)
{
	if (!s->groups_set) {
		const char *name = s->user && strspn(s->user, "0123456789") != strlen(s->user)
					   ? s->user
					   : NULL;
		if (vj_privs_user_groups(p->uid, p->gid, name, &p->groups, &p->n_groups, err) < 0)
			return -1;
		p->groups_known = true;
		return 0;
	}
	p->groups = calloc(s->n_groups ? s->n_groups : 1, sizeof(*p->groups));
	if (!p->groups)
		return oom(err);
	if (s->n_groups)
		memcpy(p->groups, s->group_ids, s->n_groups * sizeof(*p->groups));
	p->n_groups = vj_gids_normalize(p->groups, s->n_groups);
	p->groups_known = true;
	return 0;
}

int vj_plan_build(const struct vj_spec *s, const struct vj_plan_opts *opts, struct vj_plan **out,
		  struct vj_error **err)
{
	static const struct vj_plan_opts no_opts;
	struct vj_plan_priv box = { 0 };
	struct vj_plan *p;
	size_t i;

	*out = NULL;
	if (!opts)
		opts = &no_opts;
	p = calloc(1, sizeof(*p));
	if (!p)
		return oom(err);
	vj_dev_lookup_init(&box.devs, &opts->roots);
	p->priv = &box;
	p->name = strdup(s->name);
	p->arch = strdup(s->arch ? s->arch : vj_host_arch());
	p->uid = s->uid;
	p->gid = s->gid;
	if (!p->name || !p->arch) {
		oom(err);
		goto fail;
	}
	if (plan_groups(p, s, err) < 0 || vj_plan_defaults(p, opts, err) < 0 || vj_plan_iommufd(p, s, opts, err) < 0)
		goto fail;
	for (i = 0; i < s->n_hostdevs; i++)
		if (vj_plan_hostdev(p, &s->hostdevs[i], opts, err) < 0)
			goto fail;
	if (vj_plan_devices(p, s, opts, err) < 0 || vj_plan_rules_from_nodes(p, err) < 0 ||
	    plan_memlock(p, s, err) < 0 || plan_cgroup(p, opts, err) < 0 ||
	    plan_warnings(p, s, err) < 0 || plan_warn_group_peers(p, opts, err) < 0)
		goto fail;
	plan_build_done(p);
	*out = p;
	return 0;
fail:
	plan_build_done(p);
	vj_plan_free(p);
	return -1;
}

/* ------------------------------------------------------------------------- */
/* Output                                                                     */

int vj_json_print_put(json_object *o, FILE *f)
{
	_cleanup_free_ char *text = vj_json_text(o, VJ_JSON_PRETTY);
	int r = text ? fprintf(f, "%s\n", text) : -1;

	json_object_put(o);
	return !text ? -ENOMEM : r < 0 ? -EIO : 0;
}

int vj_plan_print_json(const struct vj_plan *p, FILE *f)
{
	struct vj_jbuf b = { 0 };
	json_object *o;

	vj_plan_json_write(&b, p, 0);
	o = b.oom ? NULL : json_tokener_parse(b.p);
	free(b.p);
	if (!o)
		return -ENOMEM;
	return vj_json_print_put(o, f);
}
