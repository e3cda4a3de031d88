/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan's field table (plan_json.h): one row per member of each record of a
 * plan, in the order the JSON has them.  Four walkers read it: JSON write, JSON
 * read, free and copy; a new member of the plan is one row here.
 */
#include "plan_json.h"

#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jread.h"
#include "memlock.h"
#include "util.h"

enum kind {
	K_STR,        /* char *; F_ABS: absolute on read, F_REQ: present and not null   */
	K_U32,        /* uint32_t (and uid_t, gid_t)                                    */
	K_INT,        /* int in [min, max]                                              */
	K_UINT,       /* unsigned in [min, max]                                         */
	K_U64,        /* uint64_t in [min, max]                                         */
	K_SIZE,       /* size_t in [min, max]; F_OPT: absent reads as 0                 */
	K_BOOL,       /* bool; absent reads as false                                    */
	K_DEVTYPE,    /* char: "c" or "b"                                               */
	K_DEVNUM,     /* uint32_t: a number, or "*" for VJ_RULE_ANY                     */
	K_ACCESS,     /* unsigned: "rwm" (older states: the bits as a number)           */
	K_MODE,       /* mode_t: "0660" (older states: a number)                        */
	K_ACCOUNTING, /* enum vj_accounting: "per-process" | "per-user" (absent: the first) */
	K_BACKEND,    /* enum vj_backend: "iommufd" | "legacy"                          */
	K_PCI,        /* char[13]                                                       */
	K_GROUPS,     /* gid_t * and its count; aux: groups_known                       */
	K_LIMIT,      /* a memlock plan's figure: "bytes": N | -1 | null                */
	K_STRS,       /* char ** and its count                                          */
	K_LIST,       /* an array of @sub records and its count; F_OPT: absent in older states */
	K_REC,        /* an embedded @sub record                                        */
};

/* Flags of a field */
#define F_REQ 1u      /* read: present, not null */
#define F_ABS 2u      /* read: an absolute path */
#define F_OPT 4u      /* read: absent in older states */
#define F_REASON 8u   /* brief (the state) leaves it out; kept, copied and read */
#define F_PLAN 16u    /* only `plan` shows it: not in the state, not copied, not read */

struct field {
	const char *key;
	enum kind kind;
	unsigned flags;
	size_t off;                /* the value */
	size_t n_off;              /* K_GROUPS, K_STRS, K_LIST: the count (size_t) */
	size_t aux_off;            /* K_GROUPS: the bool that says they are known */
	int64_t min, max;          /* K_INT, K_UINT, K_U64, K_SIZE */
	const struct record *sub;  /* K_LIST, K_REC */
};

struct record {
	size_t size;
	const struct field *fields;
	size_t n;
	/* read: what no field says alone (0, or -1 for a malformed record) */
	int (*check)(void *rec, json_object *o);
};

#define AT(rec, off, T) ((T *)((char *)(rec) + (off)))
#define CAT(rec, off, T) ((const T *)((const char *)(rec) + (off)))
#define ROWS(a) (a), ARRAY_SIZE(a)

#define STR(S, m, fl) { #m, K_STR, fl, offsetof(S, m), 0, 0, 0, 0, NULL }
#define U32(S, m) { #m, K_U32, F_REQ, offsetof(S, m), 0, 0, 0, UINT32_MAX, NULL }
#define OF(S, key, m, k, fl, lo, hi) { key, k, fl, offsetof(S, m), 0, 0, lo, hi, NULL }
#define LIST(S, key, m, n, fl, sub) { key, K_LIST, fl, offsetof(S, m), offsetof(S, n), 0, 0, 0, sub }

static int hostdev_check(void *rec, json_object *o);

static const struct field node_fields[] = {
	STR(struct vj_node, path, F_REQ | F_ABS),
	OF(struct vj_node, "type", type, K_DEVTYPE, F_REQ, 0, 0),
	U32(struct vj_node, major),
	U32(struct vj_node, minor),
	OF(struct vj_node, "access", access, K_ACCESS, F_REQ, 0, 0),
	U32(struct vj_node, uid),
	U32(struct vj_node, gid),
	OF(struct vj_node, "mode", mode, K_MODE, F_REQ, 0, 0),
	STR(struct vj_node, reason, F_REASON),
	STR(struct vj_node, host_path, 0),
	OF(struct vj_node, "copy_acl", copy_acl, K_BOOL, 0, 0, 0),
};
static const struct record node_record = { sizeof(struct vj_node), ROWS(node_fields), NULL };

static const struct field rule_fields[] = {
	OF(struct vj_rule, "type", type, K_DEVTYPE, F_REQ, 0, 0),
	OF(struct vj_rule, "major", major, K_DEVNUM, F_REQ, 0, 0),
	OF(struct vj_rule, "minor", minor, K_DEVNUM, F_REQ, 0, 0),
	OF(struct vj_rule, "access", access, K_ACCESS, F_REQ, 0, 0),
	STR(struct vj_rule, reason, F_REASON),
};
static const struct record rule_record = { sizeof(struct vj_rule), ROWS(rule_fields), NULL };

static const struct field iommufd_fields[] = {
	STR(struct vj_iommufd_plan, id, F_REQ),
	STR(struct vj_iommufd_plan, path, F_REQ | F_ABS),
	U32(struct vj_iommufd_plan, major),
	U32(struct vj_iommufd_plan, minor),
	OF(struct vj_iommufd_plan, "accounting", accounting, K_ACCOUNTING, 0, 0, 0),
	OF(struct vj_iommufd_plan, "devices", n_devices, K_SIZE, F_OPT, 0, INT32_MAX),
};
static const struct record iommufd_record = { sizeof(struct vj_iommufd_plan), ROWS(iommufd_fields), NULL };

static const struct field bar_fields[] = {
	OF(struct vj_bar, "index", index, K_UINT, F_REQ, 0, 16),
	OF(struct vj_bar, "size", size, K_U64, F_REQ, 0, INT64_MAX),
};
static const struct record bar_record = { sizeof(struct vj_bar), ROWS(bar_fields), NULL };

static const struct field hostdev_fields[] = {
	OF(struct vj_hostdev_plan, "pci", pci, K_PCI, F_REQ, 0, 0),
	OF(struct vj_hostdev_plan, "backend", backend, K_BACKEND, F_REQ, 0, 0),
	STR(struct vj_hostdev_plan, driver, 0),
	OF(struct vj_hostdev_plan, "iommu_group", iommu_group, K_INT, F_REQ, -1, INT32_MAX),
	STR(struct vj_hostdev_plan, node, F_ABS),
	STR(struct vj_hostdev_plan, iommufd, 0),
	/* "fd", "major", "minor": absent in an older state (no hostdev was handed
	 * as an fd then); an fd needs the device number to check (hostdev_check). */
	STR(struct vj_hostdev_plan, fd, 0),
	OF(struct vj_hostdev_plan, "major", major, K_U32, F_OPT, 0, UINT32_MAX),
	OF(struct vj_hostdev_plan, "minor", minor, K_U32, F_OPT, 0, UINT32_MAX),
	LIST(struct vj_hostdev_plan, "bars", bars, n_bars, F_OPT, &bar_record),
};
static const struct record hostdev_record = { sizeof(struct vj_hostdev_plan), ROWS(hostdev_fields),
					      hostdev_check };

static const struct field term_fields[] = {
	OF(struct vj_memlock_term, "bytes", bytes, K_U64, F_REQ, 0, INT64_MAX),
	STR(struct vj_memlock_term, reason, 0),
};
static const struct record term_record = { sizeof(struct vj_memlock_term), ROWS(term_fields), NULL };

static const struct field memlock_fields[] = {
	{ "bytes", K_LIMIT, F_REQ, 0, 0, 0, 0, 0, NULL },
	LIST(struct vj_memlock_plan, "terms", terms, n_terms, F_PLAN | F_REASON, &term_record),
};
static const struct record memlock_record = { sizeof(struct vj_memlock_plan), ROWS(memlock_fields), NULL };

static const struct field plan_fields[] = {
	STR(struct vj_plan, name, 0),
	U32(struct vj_plan, uid),
	U32(struct vj_plan, gid),
	{ "groups", K_GROUPS, F_OPT, offsetof(struct vj_plan, groups), offsetof(struct vj_plan, n_groups),
	  offsetof(struct vj_plan, groups_known), 0, 0, NULL },
	STR(struct vj_plan, arch, 0),
	LIST(struct vj_plan, "nodes", nodes, n_nodes, 0, &node_record),
	LIST(struct vj_plan, "rules", rules, n_rules, 0, &rule_record),
	LIST(struct vj_plan, "iommufd", iommufd, n_iommufd, 0, &iommufd_record),
	LIST(struct vj_plan, "hostdevs", hostdevs, n_hostdevs, F_OPT, &hostdev_record),
	{ "memlock", K_REC, F_REQ, offsetof(struct vj_plan, memlock), 0, 0, 0, 0, &memlock_record },
	STR(struct vj_plan, cgroup, F_ABS),
	{ "warnings", K_STRS, F_PLAN | F_REASON, offsetof(struct vj_plan, warnings),
	  offsetof(struct vj_plan, n_warnings), 0, 0, 0, NULL },
};
static const struct record plan_record = { sizeof(struct vj_plan), ROWS(plan_fields), NULL };

_Static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t),
	       "uid_t and gid_t are read and written as uint32_t");
_Static_assert(sizeof(enum vj_accounting) == sizeof(int) && sizeof(enum vj_backend) == sizeof(int),
	       "the enums are stored as int");

/* ------------------------------------------------------------------------- */
/* Writing                                                                    */

static const char *accounting_name(enum vj_accounting a)
{
	return a == VJ_ACCOUNTING_PER_PROCESS ? "per-process" : "per-user";
}

static void write_record(struct vj_jbuf *b, const void *rec, const struct record *r, bool brief);

static void write_field(struct vj_jbuf *b, const void *rec, const struct field *f, bool brief)
{
	char s[8];

	switch (f->kind) {
	case K_STR:
		vj_jb_str(b, *CAT(rec, f->off, char *));
		break;
	case K_U32:
		vj_jb_i64(b, *CAT(rec, f->off, uint32_t));
		break;
	case K_INT:
		vj_jb_i64(b, *CAT(rec, f->off, int));
		break;
	case K_UINT:
		vj_jb_i64(b, *CAT(rec, f->off, unsigned));
		break;
	case K_U64:
		vj_jb_i64(b, (int64_t)*CAT(rec, f->off, uint64_t));
		break;
	case K_SIZE:
		vj_jb_i64(b, (int64_t)*CAT(rec, f->off, size_t));
		break;
	case K_BOOL:
		vj_jb_bool(b, *CAT(rec, f->off, bool));
		break;
	case K_DEVTYPE:
		s[0] = *CAT(rec, f->off, char);
		s[1] = '\0';
		vj_jb_str(b, s);
		break;
	case K_DEVNUM:
		if (*CAT(rec, f->off, uint32_t) == VJ_RULE_ANY)
			vj_jb_str(b, "*");
		else
			vj_jb_i64(b, *CAT(rec, f->off, uint32_t));
		break;
	case K_ACCESS:
		vj_access_format(*CAT(rec, f->off, unsigned), s);
		vj_jb_str(b, s);
		break;
	case K_MODE:
		snprintf(s, sizeof(s), "%04o", (unsigned)*CAT(rec, f->off, mode_t) & 07777);
		vj_jb_str(b, s);
		break;
	case K_ACCOUNTING:
		vj_jb_str(b, accounting_name(*CAT(rec, f->off, enum vj_accounting)));
		break;
	case K_BACKEND:
		vj_jb_str(b, *CAT(rec, f->off, enum vj_backend) == VJ_BACKEND_LEGACY ? "legacy" : "iommufd");
		break;
	case K_PCI:
		vj_jb_str(b, CAT(rec, f->off, char));
		break;
	case K_GROUPS:
		vj_jb_open(b, '[');
		for (size_t i = 0; i < *CAT(rec, f->n_off, size_t); i++)
			vj_jb_i64(b, (*CAT(rec, f->off, gid_t *))[i]);
		vj_jb_close(b, ']');
		break;
	case K_LIMIT: {
		const struct vj_memlock_plan *m = rec;
		if (m->unchanged)
			vj_jb_null(b);
		else
			vj_jb_i64(b, m->unlimited ? -1 : (int64_t)m->bytes);
		break;
	}
	case K_STRS:
		vj_jb_open(b, '[');
		for (size_t i = 0; i < *CAT(rec, f->n_off, size_t); i++)
			vj_jb_str(b, (*CAT(rec, f->off, char **))[i]);
		vj_jb_close(b, ']');
		break;
	case K_LIST: {
		const char *items = *CAT(rec, f->off, char *);
		vj_jb_open(b, '[');
		for (size_t i = 0; i < *CAT(rec, f->n_off, size_t) && !b->oom; i++)
			write_record(b, items + i * f->sub->size, f->sub, brief);
		vj_jb_close(b, ']');
		break;
	}
	case K_REC:
		write_record(b, CAT(rec, f->off, char), f->sub, brief);
		break;
	}
}

static void write_record(struct vj_jbuf *b, const void *rec, const struct record *r, bool brief)
{
	vj_jb_open(b, '{');
	for (size_t i = 0; i < r->n; i++) {
		const struct field *f = &r->fields[i];
		/* The groups of a plan from an older state are not known: not written. */
		if ((brief && (f->flags & F_REASON)) || (brief && f->kind == K_GROUPS && !*CAT(rec, f->aux_off, bool)))
			continue;
		vj_jb_key(b, f->key);
		write_field(b, rec, f, brief);
	}
	vj_jb_close(b, '}');
}

void vj_plan_json_write(struct vj_jbuf *b, const struct vj_plan *p, unsigned flags)
{
	write_record(b, p, &plan_record, flags & VJ_PLAN_JSON_BRIEF);
}

/* ------------------------------------------------------------------------- */
/* Reading: each reader answers 0, or -1 for a missing or malformed member   */

static int r_int(json_object *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	return vj_jr_int(o, key, min, max, out);
}

static const char *r_string(json_object *o, const char *key)
{
	json_object *v = vj_jr_member(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* A number in [0, UINT32_MAX]. */
static int r_u32(json_object *o, const char *key, uint32_t *out)
{
	int64_t v;

	if (r_int(o, key, 0, UINT32_MAX, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* {"bytes": N | -1 | null} (older state files: {"unchanged", "unlimited", "bytes"}). */
static int r_limit(json_object *ml, struct vj_memlock_plan *m)
{
	json_object *bytes;
	int64_t v;

	/* (a JSON null is a member whose value is NULL) */
	if (!json_object_object_get_ex(ml, "bytes", &bytes))
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
static int r_groups(json_object *a, void *rec, const struct field *f)
{
	size_t n;
	gid_t *g;

	if (!json_object_is_type(a, json_type_array))
		return -1;
	n = json_object_array_length(a);
	if (!(g = *AT(rec, f->off, gid_t *) = calloc(n ? n : 1, sizeof(gid_t))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		int64_t v = json_object_is_type(e, json_type_int) ? json_object_get_int64(e) : -1;

		if (v <= 0 || v >= (int64_t)UINT32_MAX)
			return -1;
		g[i] = (gid_t)v;
	}
	*AT(rec, f->n_off, size_t) = n;
	*AT(rec, f->aux_off, bool) = true;
	return 0;
}

static int read_record(json_object *o, void *rec, const struct record *r);
static void free_record(void *rec, const struct record *r);

static int r_list(json_object *o, void *rec, const struct field *f)
{
	json_object *a;
	size_t n, *count = AT(rec, f->n_off, size_t);
	char *items;

	if (vj_jr_objects(o, f->key, f->flags & F_OPT, &a, &n) < 0 ||
	    !(items = *AT(rec, f->off, char *) = calloc(n ? n : 1, f->sub->size)))
		return -1;
	for (size_t i = 0; i < n; i++) /* each one counted first: freed with the plan */
		if (read_record(json_object_array_get_idx(a, i), items + (*count)++ * f->sub->size, f->sub) < 0)
			return -1;
	return 0;
}

static int read_field(json_object *o, void *rec, const struct field *f)
{
	json_object *v = vj_jr_member(o, f->key);
	const char *s;
	int64_t n;
	uint32_t u;

	if ((f->flags & F_OPT) && !v && f->kind != K_LIST)
		return 0;
	switch (f->kind) {
	case K_STR:
		if (vj_jr_str(o, f->key, f->flags & F_ABS, AT(rec, f->off, char *)) < 0)
			return -1;
		return (f->flags & F_REQ) && !*AT(rec, f->off, char *) ? -1 : 0;
	case K_U32:
		return r_u32(o, f->key, AT(rec, f->off, uint32_t));
	case K_INT:
		if (r_int(o, f->key, f->min, f->max, &n) < 0)
			return -1;
		*AT(rec, f->off, int) = (int)n;
		return 0;
	case K_UINT:
		if (r_int(o, f->key, f->min, f->max, &n) < 0)
			return -1;
		*AT(rec, f->off, unsigned) = (unsigned)n;
		return 0;
	case K_U64:
		if (r_int(o, f->key, f->min, f->max, &n) < 0)
			return -1;
		*AT(rec, f->off, uint64_t) = (uint64_t)n;
		return 0;
	case K_SIZE:
		if (r_int(o, f->key, f->min, f->max, &n) < 0)
			return -1;
		*AT(rec, f->off, size_t) = (size_t)n;
		return 0;
	case K_BOOL:
		return vj_jr_flag(o, f->key, AT(rec, f->off, bool));
	case K_DEVTYPE:
		if (!(s = r_string(o, f->key)) || (strcmp(s, "c") != 0 && strcmp(s, "b") != 0))
			return -1;
		*AT(rec, f->off, char) = s[0];
		return 0;
	case K_DEVNUM:
		if ((s = r_string(o, f->key)) && !strcmp(s, "*")) {
			*AT(rec, f->off, uint32_t) = VJ_RULE_ANY;
			return 0;
		}
		return r_u32(o, f->key, AT(rec, f->off, uint32_t));
	case K_ACCESS:
		if ((s = r_string(o, f->key)))
			return vj_access_parse(s, AT(rec, f->off, unsigned)) < 0 ? -1 : 0;
		if (r_u32(o, f->key, &u) < 0 || u > (VJ_ACC_READ | VJ_ACC_WRITE | VJ_ACC_MKNOD))
			return -1;
		*AT(rec, f->off, unsigned) = u;
		return 0;
	case K_MODE:
		if ((s = r_string(o, f->key))) {
			char *end;
			unsigned long m;

			errno = 0;
			m = strtoul(s, &end, 8);
			if (!*s || *end || errno || m > 07777)
				return -1;
			*AT(rec, f->off, mode_t) = (mode_t)(m & 0777);
			return 0;
		}
		if (r_u32(o, f->key, &u) < 0)
			return -1;
		*AT(rec, f->off, mode_t) = (mode_t)(u & 0777);
		return 0;
	case K_ACCOUNTING:
		if (v && !(s = r_string(o, f->key)) && !json_object_is_type(v, json_type_null))
			return -1;
		s = r_string(o, f->key);
		if (s && strcmp(s, "per-user") != 0 && strcmp(s, "per-process") != 0)
			return -1;
		*AT(rec, f->off, enum vj_accounting) =
			s && !strcmp(s, "per-user") ? VJ_ACCOUNTING_PER_USER : VJ_ACCOUNTING_PER_PROCESS;
		return 0;
	case K_BACKEND:
		if (!(s = r_string(o, f->key)) || (strcmp(s, "legacy") != 0 && strcmp(s, "iommufd") != 0))
			return -1;
		*AT(rec, f->off, enum vj_backend) = !strcmp(s, "legacy") ? VJ_BACKEND_LEGACY : VJ_BACKEND_IOMMUFD;
		return 0;
	case K_PCI:
		if (!(s = r_string(o, f->key)) || strlen(s) >= sizeof(((struct vj_hostdev_plan *)0)->pci))
			return -1;
		strcpy(AT(rec, f->off, char), s);
		return 0;
	case K_GROUPS:
		return r_groups(v, rec, f);
	case K_LIMIT:
		return r_limit(o, rec);
	case K_STRS:
		return -1; /* F_PLAN: never read */
	case K_LIST:
		return r_list(o, rec, f);
	case K_REC:
		return v ? read_record(v, AT(rec, f->off, char), f->sub) : -1;
	}
	return -1;
}

static int read_record(json_object *o, void *rec, const struct record *r)
{
	if (!o || !json_object_is_type(o, json_type_object))
		return -1;
	for (size_t i = 0; i < r->n; i++)
		if (!(r->fields[i].flags & F_PLAN) && read_field(o, rec, &r->fields[i]) < 0)
			return -1;
	return r->check ? r->check(rec, o) : 0;
}

/* An fd needs the device number to check, and only iommufd devices have one. */
static int hostdev_check(void *rec, json_object *o)
{
	const struct vj_hostdev_plan *h = rec;

	if (h->fd && (!vj_jr_member(o, "major") || !vj_jr_member(o, "minor")))
		return -1;
	return h->fd && h->backend != VJ_BACKEND_IOMMUFD ? -1 : 0;
}

int vj_plan_json_read(json_object *o, struct vj_plan **out)
{
	struct vj_plan *p;

	*out = NULL;
	if (!o || !json_object_is_type(o, json_type_object)) {
		errno = EINVAL;
		return -1;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -1;
	if (read_record(o, p, &plan_record) < 0) {
		free_record(p, &plan_record);
		free(p);
		errno = EINVAL;
		return -1;
	}
	*out = p;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* Free and copy                                                              */

static void free_record(void *rec, const struct record *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct field *f = &r->fields[i];
		size_t *n = f->n_off ? AT(rec, f->n_off, size_t) : NULL;

		switch (f->kind) {
		case K_STR:
		case K_GROUPS:
			free(*AT(rec, f->off, void *));
			*AT(rec, f->off, void *) = NULL;
			break;
		case K_STRS:
			for (size_t j = 0; j < *n; j++)
				free((*AT(rec, f->off, char **))[j]);
			free(*AT(rec, f->off, void *));
			*AT(rec, f->off, void *) = NULL;
			break;
		case K_LIST:
			for (size_t j = 0; j < *n; j++)
				free_record(*AT(rec, f->off, char *) + j * f->sub->size, f->sub);
			free(*AT(rec, f->off, void *));
			*AT(rec, f->off, void *) = NULL;
			break;
		case K_REC:
			free_record(AT(rec, f->off, char), f->sub);
			break;
		default:
			break;
		}
		if (n && f->kind != K_REC)
			*n = 0;
	}
}

/* @dst, a shallow copy of its source, gets its own copy of every pointer
 * member: NULL (and a count of 0) for those not copied (F_PLAN) or without
 * memory (then *ok is false).  Always safe to free. */
static void copy_record(void *dst, const struct record *r, bool *ok)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct field *f = &r->fields[i];
		void **ptr = AT(dst, f->off, void *);
		size_t *n = f->n_off ? AT(dst, f->n_off, size_t) : NULL;
		const void *from = f->kind == K_REC ? NULL : *ptr;
		size_t size = 0;

		switch (f->kind) {
		case K_STR:
			*ptr = from ? strdup(from) : NULL;
			if (from && !*ptr)
				*ok = false;
			continue;
		case K_GROUPS:
			size = sizeof(gid_t);
			break;
		case K_LIST:
			size = f->sub->size;
			break;
		case K_STRS:
			break;
		case K_REC:
			copy_record(AT(dst, f->off, char), f->sub, ok);
			continue;
		default:
			continue;
		}
		if (f->flags & F_PLAN || f->kind == K_STRS) { /* only `plan` shows it */
			*ptr = NULL;
			*n = 0;
			continue;
		}
		*ptr = calloc(*n + 1, size);
		if (!*ptr) {
			*n = 0;
			*ok = false;
			continue;
		}
		if (*n)
			memcpy(*ptr, from, *n * size);
		if (f->kind == K_LIST)
			for (size_t j = 0; j < *n; j++)
				copy_record((char *)*ptr + j * size, f->sub, ok);
	}
}

void vj_plan_walk_free(struct vj_plan *p)
{
	free_record(p, &plan_record);
}

struct vj_plan *vj_plan_walk_copy(const struct vj_plan *p)
{
	struct vj_plan *d = malloc(sizeof(*d));
	bool ok = true;

	if (!d)
		return NULL;
	*d = *p;
	d->priv = NULL;
	copy_record(d, &plan_record, &ok);
	if (ok)
		return d;
	free_record(d, &plan_record);
	free(d);
	return NULL;
}

void vj_node_walk_free(struct vj_node *n)
{
	free_record(n, &node_record);
}

int vj_node_walk_copy(struct vj_node *dst, const struct vj_node *src)
{
	bool ok = true;

	*dst = *src;
	copy_record(dst, &node_record, &ok);
	return ok ? 0 : -1;
}
