/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "plan_json.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jread.h"
#include "util.h"

/* ------------------------------------------------------------------------- */
/* Writing                                                                    */

static void w_devtype(struct vj_jbuf *b, char t)
{
	char s[2] = { t, 0 };

	vj_jb_str(b, s);
}

static void w_devnum(struct vj_jbuf *b, uint32_t v)
{
	if (v == VJ_RULE_ANY)
		vj_jb_str(b, "*");
	else
		vj_jb_i64(b, v);
}

static void w_access(struct vj_jbuf *b, unsigned a)
{
	char s[4];

	vj_access_format(a, s);
	vj_jb_str(b, s);
}

static void w_nodes(struct vj_jbuf *b, const struct vj_plan *p, bool brief)
{
	char mode[8];

	vj_jb_key(b, "nodes");
	vj_jb_open(b, '[');
	for (size_t i = 0; i < p->n_nodes && !b->oom; i++) {
		const struct vj_node *n = &p->nodes[i];

		vj_jb_open(b, '{');
		vj_jb_key(b, "path");
		vj_jb_str(b, n->path);
		vj_jb_key(b, "type");
		w_devtype(b, n->type);
		vj_jb_key(b, "major");
		vj_jb_i64(b, n->major);
		vj_jb_key(b, "minor");
		vj_jb_i64(b, n->minor);
		vj_jb_key(b, "access");
		w_access(b, n->access);
		vj_jb_key(b, "uid");
		vj_jb_i64(b, n->uid);
		vj_jb_key(b, "gid");
		vj_jb_i64(b, n->gid);
		vj_jb_key(b, "mode");
		snprintf(mode, sizeof(mode), "%04o", (unsigned)n->mode & 07777);
		vj_jb_str(b, mode);
		if (!brief) {
			vj_jb_key(b, "reason");
			vj_jb_str(b, n->reason);
		}
		vj_jb_key(b, "host_path");
		vj_jb_str(b, n->host_path);
		vj_jb_key(b, "copy_acl");
		vj_jb_bool(b, n->copy_acl);
		vj_jb_close(b, '}');
	}
	vj_jb_close(b, ']');
}

static void w_rules(struct vj_jbuf *b, const struct vj_plan *p, bool brief)
{
	vj_jb_key(b, "rules");
	vj_jb_open(b, '[');
	for (size_t i = 0; i < p->n_rules && !b->oom; i++) {
		const struct vj_rule *r = &p->rules[i];

		vj_jb_open(b, '{');
		vj_jb_key(b, "type");
		w_devtype(b, r->type);
		vj_jb_key(b, "major");
		w_devnum(b, r->major);
		vj_jb_key(b, "minor");
		w_devnum(b, r->minor);
		vj_jb_key(b, "access");
		w_access(b, r->access);
		if (!brief) {
			vj_jb_key(b, "reason");
			vj_jb_str(b, r->reason);
		}
		vj_jb_close(b, '}');
	}
	vj_jb_close(b, ']');
}

static const char *accounting_name(enum vj_accounting a)
{
	return a == VJ_ACCOUNTING_PER_PROCESS ? "per-process" : "per-user";
}

static void w_iommufd(struct vj_jbuf *b, const struct vj_plan *p)
{
	vj_jb_key(b, "iommufd");
	vj_jb_open(b, '[');
	for (size_t i = 0; i < p->n_iommufd; i++) {
		const struct vj_iommufd_plan *c = &p->iommufd[i];

		vj_jb_open(b, '{');
		vj_jb_key(b, "id");
		vj_jb_str(b, c->id);
		vj_jb_key(b, "path");
		vj_jb_str(b, c->path);
		vj_jb_key(b, "major");
		vj_jb_i64(b, c->major);
		vj_jb_key(b, "minor");
		vj_jb_i64(b, c->minor);
		vj_jb_key(b, "accounting");
		vj_jb_str(b, accounting_name(c->accounting));
		vj_jb_key(b, "devices");
		vj_jb_i64(b, (int64_t)c->n_devices);
		vj_jb_close(b, '}');
	}
	vj_jb_close(b, ']');
}

static void w_hostdevs(struct vj_jbuf *b, const struct vj_plan *p)
{
	vj_jb_key(b, "hostdevs");
	vj_jb_open(b, '[');
	for (size_t i = 0; i < p->n_hostdevs; i++) {
		const struct vj_hostdev_plan *h = &p->hostdevs[i];

		vj_jb_open(b, '{');
		vj_jb_key(b, "pci");
		vj_jb_str(b, h->pci);
		vj_jb_key(b, "backend");
		vj_jb_str(b, h->backend == VJ_BACKEND_LEGACY ? "legacy" : "iommufd");
		vj_jb_key(b, "driver");
		vj_jb_str(b, h->driver);
		vj_jb_key(b, "iommu_group");
		vj_jb_i64(b, h->iommu_group);
		vj_jb_key(b, "node");
		vj_jb_str(b, h->node);
		vj_jb_key(b, "iommufd");
		vj_jb_str(b, h->iommufd);
		vj_jb_key(b, "fd");
		vj_jb_str(b, h->fd);
		vj_jb_key(b, "bars");
		vj_jb_open(b, '[');
		for (size_t j = 0; j < h->n_bars; j++) {
			vj_jb_open(b, '{');
			vj_jb_key(b, "index");
			vj_jb_i64(b, h->bars[j].index);
			vj_jb_key(b, "size");
			vj_jb_i64(b, (int64_t)h->bars[j].size);
			vj_jb_close(b, '}');
		}
		vj_jb_close(b, ']');
		vj_jb_close(b, '}');
	}
	vj_jb_close(b, ']');
}

static void w_memlock(struct vj_jbuf *b, const struct vj_memlock_plan *m, bool brief)
{
	vj_jb_key(b, "memlock");
	vj_jb_open(b, '{');
	vj_jb_key(b, "bytes");
	if (m->unchanged)
		vj_jb_null(b);
	else
		vj_jb_i64(b, m->unlimited ? -1 : (int64_t)m->bytes);
	if (!brief) {
		vj_jb_key(b, "terms");
		vj_jb_open(b, '[');
		for (size_t i = 0; i < m->n_terms; i++) {
			vj_jb_open(b, '{');
			vj_jb_key(b, "bytes");
			vj_jb_i64(b, (int64_t)m->terms[i].bytes);
			vj_jb_key(b, "reason");
			vj_jb_str(b, m->terms[i].reason);
			vj_jb_close(b, '}');
		}
		vj_jb_close(b, ']');
	}
	vj_jb_close(b, '}');
}

void vj_plan_json_write(struct vj_jbuf *b, const struct vj_plan *p, unsigned flags)
{
	bool brief = flags & VJ_PLAN_JSON_BRIEF;

	vj_jb_open(b, '{');
	vj_jb_key(b, "name");
	vj_jb_str(b, p->name);
	vj_jb_key(b, "uid");
	vj_jb_i64(b, p->uid);
	vj_jb_key(b, "gid");
	vj_jb_i64(b, p->gid);
	if (p->groups_known || !brief) {
		vj_jb_key(b, "groups");
		vj_jb_open(b, '[');
		for (size_t i = 0; i < p->n_groups; i++)
			vj_jb_i64(b, p->groups[i]);
		vj_jb_close(b, ']');
	}
	vj_jb_key(b, "arch");
	vj_jb_str(b, p->arch);
	w_nodes(b, p, brief);
	w_rules(b, p, brief);
	w_iommufd(b, p);
	w_hostdevs(b, p);
	w_memlock(b, &p->memlock, brief);
	vj_jb_key(b, "cgroup");
	vj_jb_str(b, p->cgroup);
	if (!brief) {
		vj_jb_key(b, "warnings");
		vj_jb_open(b, '[');
		for (size_t i = 0; i < p->n_warnings; i++)
			vj_jb_str(b, p->warnings[i]);
		vj_jb_close(b, ']');
	}
	vj_jb_close(b, '}');
}

/* ------------------------------------------------------------------------- */
/* Reading                                                                    */

/* Each reader answers 0, or -1 for a missing or malformed member (jread.h). */

static int r_u32(json_object *o, const char *key, uint32_t *out)
{
	int64_t v;

	if (vj_jr_int(o, key, 0, UINT32_MAX, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* A device number of a rule: a number or "*". */
static int r_devnum(json_object *o, const char *key, uint32_t *out)
{
	json_object *v = vj_jr_member(o, key);

	if (v && json_object_is_type(v, json_type_string) && !strcmp(json_object_get_string(v), "*")) {
		*out = VJ_RULE_ANY;
		return 0;
	}
	return r_u32(o, key, out);
}

static int r_devtype(json_object *o, char *out)
{
	json_object *v = vj_jr_member(o, "type");
	const char *s;

	if (!v || !json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if (strcmp(s, "c") != 0 && strcmp(s, "b") != 0)
		return -1;
	*out = s[0];
	return 0;
}

/* "rwm" (or, in older state files, the bits as a number). */
static int r_access(json_object *o, unsigned *out)
{
	json_object *v = vj_jr_member(o, "access");
	uint32_t n;

	if (v && json_object_is_type(v, json_type_string))
		return vj_access_parse(json_object_get_string(v), out) < 0 ? -1 : 0;
	if (r_u32(o, "access", &n) < 0 || n > (VJ_ACC_READ | VJ_ACC_WRITE | VJ_ACC_MKNOD))
		return -1;
	*out = n;
	return 0;
}

/* "0660" (or a number in older state files). */
static int r_mode(json_object *o, mode_t *out)
{
	json_object *v = vj_jr_member(o, "mode");
	uint32_t n;

	if (v && json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		char *end;
		unsigned long m;

		errno = 0;
		m = strtoul(s, &end, 8);
		if (!*s || *end || errno || m > 07777)
			return -1;
		*out = (mode_t)(m & 0777);
		return 0;
	}
	if (r_u32(o, "mode", &n) < 0)
		return -1;
	*out = (mode_t)(n & 0777);
	return 0;
}

static int r_nodes(json_object *o, struct vj_plan *p)
{
	json_object *a;
	size_t n;

	if (vj_jr_objects(o, "nodes", false, &a, &n) < 0 || !(p->nodes = calloc(n ? n : 1, sizeof(*p->nodes))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct vj_node *nd = &p->nodes[p->n_nodes++]; /* freed with the plan */
		int64_t uid, gid;

		if (vj_jr_str(e, "path", true, &nd->path) < 0 || !nd->path ||
		    vj_jr_str(e, "host_path", false, &nd->host_path) < 0 ||
		    vj_jr_str(e, "reason", false, &nd->reason) < 0 || r_devtype(e, &nd->type) < 0 ||
		    r_u32(e, "major", &nd->major) < 0 || r_u32(e, "minor", &nd->minor) < 0 ||
		    r_access(e, &nd->access) < 0 || vj_jr_int(e, "uid", 0, UINT32_MAX, &uid) < 0 ||
		    vj_jr_int(e, "gid", 0, UINT32_MAX, &gid) < 0 || r_mode(e, &nd->mode) < 0 ||
		    vj_jr_flag(e, "copy_acl", &nd->copy_acl) < 0)
			return -1;
		nd->uid = (uid_t)uid;
		nd->gid = (gid_t)gid;
	}
	return 0;
}

static int r_rules(json_object *o, struct vj_plan *p)
{
	json_object *a;
	size_t n;

	if (vj_jr_objects(o, "rules", false, &a, &n) < 0 || !(p->rules = calloc(n ? n : 1, sizeof(*p->rules))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct vj_rule *r = &p->rules[p->n_rules++];

		if (r_devtype(e, &r->type) < 0 || r_devnum(e, "major", &r->major) < 0 ||
		    r_devnum(e, "minor", &r->minor) < 0 || r_access(e, &r->access) < 0 ||
		    vj_jr_str(e, "reason", false, &r->reason) < 0)
			return -1;
	}
	return 0;
}

static int r_iommufd(json_object *o, struct vj_plan *p)
{
	json_object *a;
	size_t n;

	if (vj_jr_objects(o, "iommufd", false, &a, &n) < 0 ||
	    !(p->iommufd = calloc(n ? n : 1, sizeof(*p->iommufd))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct vj_iommufd_plan *c = &p->iommufd[p->n_iommufd++];
		_cleanup_free_ char *acct = NULL;
		int64_t devs = 0;

		if (vj_jr_str(e, "id", false, &c->id) < 0 || !c->id || vj_jr_str(e, "path", true, &c->path) < 0 ||
		    !c->path || r_u32(e, "major", &c->major) < 0 || r_u32(e, "minor", &c->minor) < 0 ||
		    vj_jr_str(e, "accounting", false, &acct) < 0 ||
		    (vj_jr_member(e, "devices") && vj_jr_int(e, "devices", 0, INT32_MAX, &devs) < 0))
			return -1;
		if (acct && strcmp(acct, "per-user") != 0 && strcmp(acct, "per-process") != 0)
			return -1;
		c->accounting = acct && !strcmp(acct, "per-user") ? VJ_ACCOUNTING_PER_USER
								 : VJ_ACCOUNTING_PER_PROCESS;
		c->n_devices = (size_t)devs;
	}
	return 0;
}

static int r_bars(json_object *o, struct vj_hostdev_plan *h)
{
	json_object *a;
	size_t n;

	if (vj_jr_objects(o, "bars", true, &a, &n) < 0 || !(h->bars = calloc(n ? n : 1, sizeof(*h->bars))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		int64_t idx, size;

		if (vj_jr_int(e, "index", 0, 16, &idx) < 0 || vj_jr_int(e, "size", 0, INT64_MAX, &size) < 0)
			return -1;
		h->bars[h->n_bars++] = (struct vj_bar){ (unsigned)idx, (uint64_t)size };
	}
	return 0;
}

/* Absent in the state files of older versions. */
static int r_hostdevs(json_object *o, struct vj_plan *p)
{
	json_object *a;
	size_t n;

	if (vj_jr_objects(o, "hostdevs", true, &a, &n) < 0 ||
	    !(p->hostdevs = calloc(n ? n : 1, sizeof(*p->hostdevs))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i), *pci = vj_jr_member(e, "pci");
		struct vj_hostdev_plan *h = &p->hostdevs[p->n_hostdevs++];
		_cleanup_free_ char *backend = NULL;
		int64_t group;

		if (!pci || !json_object_is_type(pci, json_type_string) ||
		    strlen(json_object_get_string(pci)) >= sizeof(h->pci) ||
		    vj_jr_str(e, "backend", false, &backend) < 0 || !backend ||
		    vj_jr_str(e, "driver", false, &h->driver) < 0 || vj_jr_str(e, "node", true, &h->node) < 0 ||
		    vj_jr_str(e, "iommufd", false, &h->iommufd) < 0 || vj_jr_str(e, "fd", false, &h->fd) < 0 ||
		    vj_jr_int(e, "iommu_group", -1, INT32_MAX, &group) < 0 || r_bars(e, h) < 0)
			return -1;
		if (strcmp(backend, "legacy") != 0 && strcmp(backend, "iommufd") != 0)
			return -1;
		strcpy(h->pci, json_object_get_string(pci));
		h->backend = !strcmp(backend, "legacy") ? VJ_BACKEND_LEGACY : VJ_BACKEND_IOMMUFD;
		h->iommu_group = (int)group;
	}
	return 0;
}

/* {"bytes": N | -1 | null} (older state files: {"unchanged", "unlimited", "bytes"}). */
static int r_memlock(json_object *o, struct vj_memlock_plan *m)
{
	json_object *ml = vj_jr_member(o, "memlock"), *bytes;
	int64_t v;

	/* (a JSON null is a member whose value is NULL) */
	if (!ml || !json_object_is_type(ml, json_type_object) ||
	    !json_object_object_get_ex(ml, "bytes", &bytes))
		return -1;
	if (vj_jr_member(ml, "unchanged")) {
		if (vj_jr_flag(ml, "unchanged", &m->unchanged) < 0 || vj_jr_flag(ml, "unlimited", &m->unlimited) < 0 ||
		    vj_jr_int(ml, "bytes", 0, INT64_MAX, &v) < 0)
			return -1;
		m->bytes = (uint64_t)v;
		return 0;
	}
	if (json_object_is_type(bytes, json_type_null)) {
		m->unchanged = true;
		return 0;
	}
	if (vj_jr_int(ml, "bytes", -1, INT64_MAX, &v) < 0)
		return -1;
	m->unlimited = v == -1;
	m->bytes = v < 0 ? 0 : (uint64_t)v;
	return 0;
}

/* "groups": absent in a plan of an older vfiojail (looked up again at launch). */
static int r_groups(json_object *o, struct vj_plan *p)
{
	json_object *a = vj_jr_member(o, "groups");
	size_t n;

	if (!a)
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return -1;
	n = json_object_array_length(a);
	if (!(p->groups = calloc(n ? n : 1, sizeof(*p->groups))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *g = json_object_array_get_idx(a, i);
		int64_t v = json_object_is_type(g, json_type_int) ? json_object_get_int64(g) : -1;

		if (v <= 0 || v >= (int64_t)UINT32_MAX)
			return -1;
		p->groups[i] = (gid_t)v;
	}
	p->n_groups = n;
	p->groups_known = true;
	return 0;
}

int vj_plan_json_read(json_object *o, struct vj_plan **out)
{
	struct vj_plan *p;
	int64_t uid, gid;

	*out = NULL;
	if (!o || !json_object_is_type(o, json_type_object)) {
		errno = EINVAL;
		return -1;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -1;
	if (vj_jr_int(o, "uid", 0, UINT32_MAX, &uid) < 0 || vj_jr_int(o, "gid", 0, UINT32_MAX, &gid) < 0 ||
	    vj_jr_str(o, "name", false, &p->name) < 0 || vj_jr_str(o, "arch", false, &p->arch) < 0 ||
	    vj_jr_str(o, "cgroup", true, &p->cgroup) < 0 || r_memlock(o, &p->memlock) < 0 ||
	    r_groups(o, p) < 0 || r_nodes(o, p) < 0 || r_rules(o, p) < 0 || r_iommufd(o, p) < 0 ||
	    r_hostdevs(o, p) < 0) {
		vj_plan_free(p);
		errno = EINVAL;
		return -1;
	}
	p->uid = (uid_t)uid;
	p->gid = (gid_t)gid;
	*out = p;
	return 0;
}
