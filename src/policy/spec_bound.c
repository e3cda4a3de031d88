/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Root's spec bounds a derived one (see spec_bound.h). */
#include "spec_bound.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "memlock.h"
#include "spec_internal.h"
#include "util.h"

#define refuse(err, field, ...) vj_err((err), VJ_EXIT_USAGE, 0, "spec", (field), \
	"root's spec grants the VM what it may have: extend it there, or change the domain", __VA_ARGS__)

static const char *backend_name(enum vj_backend b)
{
	return b == VJ_BACKEND_LEGACY ? "legacy" : "iommufd";
}

static int check_hostdevs(const struct vj_spec *d, const struct vj_spec *r, const char *file,
			  struct vj_error **err)
{
	for (size_t i = 0; i < d->n_hostdevs; i++) {
		const struct vj_hostdev_spec *h = &d->hostdevs[i], *g = NULL;
		char field[48];

		for (size_t k = 0; k < r->n_hostdevs && !g; k++)
			if (!strcmp(r->hostdevs[k].pci, h->pci))
				g = &r->hostdevs[k];
		snprintf(field, sizeof(field), "hostdevs[%zu].pci", i);
		if (!g)
			return refuse(err, field, "%s: not granted by %s", h->pci, file);
		if (g->backend != h->backend) {
			snprintf(field, sizeof(field), "hostdevs[%zu].backend", i);
			return refuse(err, field, "%s: backend %s, but %s grants it with backend %s", h->pci,
				      backend_name(h->backend), file, backend_name(g->backend));
		}
	}
	return 0;
}

static int check_devices(const struct vj_spec *d, const struct vj_spec *r, const char *file,
			 struct vj_error **err)
{
	for (size_t i = 0; i < d->n_devices; i++) {
		const struct vj_device_spec *n = &d->devices[i], *g = NULL;
		char field[48], want[4], has[4], q[VJ_QUOTE_MAX];

		for (size_t k = 0; k < r->n_devices && !g; k++)
			if (!strcmp(r->devices[k].path, n->path))
				g = &r->devices[k];
		snprintf(field, sizeof(field), "devices[%zu].path", i);
		if (!g)
			return refuse(err, field, "%s: not granted by %s", vj_quote(n->path, q), file);
		if (n->access & ~g->access) {
			vj_access_format(n->access, want);
			vj_access_format(g->access, has);
			snprintf(field, sizeof(field), "devices[%zu].access", i);
			return refuse(err, field, "%s: access \"%s\", but %s grants \"%s\"", vj_quote(n->path, q),
				      want, file, has);
		}
	}
	return 0;
}

/* Root's principal into @d: user, group, supplementary groups. */
static int take_principal(struct vj_spec *d, const struct vj_spec *r, struct vj_error **err)
{
	char *user = r->user ? strdup(r->user) : NULL, *group = r->group ? strdup(r->group) : NULL;
	char **groups = r->n_groups ? calloc(r->n_groups, sizeof(*groups)) : NULL;
	gid_t *ids = r->n_groups ? calloc(r->n_groups, sizeof(*ids)) : NULL;
	bool ok = (!r->user || user) && (!r->group || group) && (!r->n_groups || (groups && ids));

	for (size_t i = 0; ok && i < r->n_groups; i++) {
		ids[i] = r->group_ids ? r->group_ids[i] : 0;
		if (r->groups && r->groups[i] && !(groups[i] = strdup(r->groups[i])))
			ok = false;
	}
	if (!ok) {
		for (size_t i = 0; groups && i < r->n_groups; i++)
			free(groups[i]);
		free(groups);
		free(ids);
		free(user);
		free(group);
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "spec", NULL, NULL, "out of memory");
	}
	for (size_t i = 0; d->groups && i < d->n_groups; i++)
		free(d->groups[i]);
	free(d->groups);
	free(d->group_ids);
	free(d->user);
	free(d->group);
	d->user = user;
	d->group = group;
	d->uid = r->uid;
	d->gid = r->gid;
	d->groups_set = r->groups_set;
	d->groups = groups;
	d->group_ids = ids;
	d->n_groups = r->n_groups;
	return 0;
}

int vj_spec_bound(struct vj_spec *derived, bool user_explicit, const struct vj_spec *root,
		  const char *root_file, struct vj_error **err)
{
	const char *file = root_file ? root_file : "root's spec";

	if (strcmp(derived->name, root->name) != 0) {
		char q1[VJ_QUOTE_MAX], q2[VJ_QUOTE_MAX];
		return refuse(err, "name", "%s, but %s is the spec of %s", vj_quote(derived->name, q1), file,
			      vj_quote(root->name, q2));
	}
	if (user_explicit && derived->uid != root->uid)
		return refuse(err, "user", "uid %u, but %s runs the VM as uid %u", (unsigned)derived->uid, file,
			      (unsigned)root->uid);
	if (user_explicit && derived->group && derived->gid != root->gid)
		return refuse(err, "group", "gid %u, but %s runs the VM as gid %u", (unsigned)derived->gid, file,
			      (unsigned)root->gid);
	if (check_hostdevs(derived, root, file, err) < 0 || check_devices(derived, root, file, err) < 0)
		return -1;
	if (root->memory && derived->memory > root->memory)
		return refuse(err, "memory", "%" PRIu64 " bytes (%" PRIu64 " MiB): more than the %" PRIu64
			      " bytes (%" PRIu64 " MiB) %s grants", derived->memory, derived->memory >> 20,
			      root->memory, root->memory >> 20, file);
	if (root->arch && derived->arch && strcmp(root->arch, derived->arch) != 0) {
		char q1[VJ_QUOTE_MAX], q2[VJ_QUOTE_MAX];
		return refuse(err, "arch", "%s, but %s names %s", vj_quote(derived->arch, q1), file,
			      vj_quote(root->arch, q2));
	}
	return take_principal(derived, root, err);
}

/* "unlimited", "N bytes (M MiB)" or "left unchanged" into @buf. */
static const char *limit_str(const struct vj_memlock_plan *m, char buf[static 64])
{
	if (m->unchanged)
		snprintf(buf, 64, "left unchanged");
	else if (m->unlimited)
		snprintf(buf, 64, "unlimited");
	else
		snprintf(buf, 64, "%" PRIu64 " bytes (%" PRIu64 " MiB)", m->bytes, m->bytes >> 20);
	return buf;
}

int vj_plan_bound(const struct vj_plan *derived, const struct vj_plan *root, const char *root_file,
		  struct vj_error **err)
{
	const struct vj_memlock_plan *d = &derived->memlock, *r = &root->memlock;
	const char *file = root_file ? root_file : "root's spec";
	char a[64], b[64];

	if (d->unchanged)
		return 0;
	if (r->unchanged || vj_memlock_plan_limit(d) > vj_memlock_plan_limit(r))
		return vj_err(err, VJ_EXIT_USAGE, 0, "spec", "memlock",
			      r->unchanged ? "root's spec grants no locked memory: give it the hostdevs or a memlock"
					   : "raise memory or memlock in root's spec, or lower the domain's",
			      "RLIMIT_MEMLOCK %s, more than the plan of %s (%s)", limit_str(d, a), file,
			      limit_str(r, b));
	return 0;
}
