/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan's field table (plan_fields.h): one row per member of each record of
 * a plan, in the order the JSON has them, each with its cell in the table
 * `plan` prints; and the two walkers that need nothing but the table: free
 * and copy.  JSON write and read are in plan_json.c, the table in plan_table.c.
 */
#include "plan_fields.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jread.h"
#include "size.h"
#include "util.h"

#define AT VJ_AT
#define CAT VJ_CAT
#define ROWS(a) .fields = (a), .n = ARRAY_SIZE(a)

#define STR(S, m, fl, c) { .key = #m, .kind = K_STR, .flags = fl, .off = offsetof(S, m), .cell = c }
#define U32(S, m, c) { .key = #m, .kind = K_U32, .flags = F_REQ, .off = offsetof(S, m), .max = UINT32_MAX, .cell = c }
#define OF(S, key_, m, k, fl, lo, hi, c) \
	{ .key = key_, .kind = k, .flags = fl, .off = offsetof(S, m), .min = lo, .max = hi, .cell = c }
#define LIST(S, key_, m, n_, fl, sub_, c) \
	{ .key = key_, .kind = K_LIST, .flags = fl, .off = offsetof(S, m), .n_off = offsetof(S, n_), \
	  .sub = sub_, .cell = c }
/* A cell: its place in the line, its template, then .label, .fmt, .flags, .item */
#define TAB(p, t, ...) { .pos = p, .tmpl = t, __VA_ARGS__ }
#define NOTAB { .pos = 0 }

/* ------------------------------------------------------------------------- */
/* The table's formatters for what a kind alone does not say                 */

static int kind_text(FILE *m, const void *rec, const struct vj_field *f);

/* This member and the next row's, "A:B" (major:minor, uid:gid). */
static int cell_pair(FILE *m, const void *rec, const struct vj_field *f)
{
	if (kind_text(m, rec, f) < 0 || fputc(':', m) == EOF)
		return -1;
	return kind_text(m, rec, f + 1);
}

static int cell_size(FILE *m, const void *rec, const struct vj_field *f)
{
	char sz[32];

	vj_size_format(*CAT(rec, f->off, uint64_t), sz);
	return fputs(sz, m) < 0 ? -1 : 0;
}

static int cell_name(FILE *m, const void *rec, const struct vj_field *f)
{
	char shown[VJ_NAME_SHOWN_MAX];

	return fputs(vj_name_shown(*CAT(rec, f->off, char *), shown), m) < 0 ? -1 : 0;
}

static int cell_cgroup(FILE *m, const void *rec, const struct vj_field *f)
{
	const char *cg = *CAT(rec, f->off, char *);

	return fputs(cg ? cg : "(none: no cgroup2 mount)", m) < 0 ? -1 : 0;
}

/* How the VMM reaches a hostdev: the fd vfiojail opens for it, or its node. */
static int cell_reach(FILE *m, const void *rec, const struct vj_field *f)
{
	const struct vj_hostdev_plan *h = rec;

	(void)f;
	if (h->fd)
		return fprintf(m, "fd %s (%s %u:%u opened by vfiojail, no node in the jail)", h->fd, h->node,
			       h->major, h->minor) < 0 ? -1 : 0;
	return fprintf(m, "node %s", h->node) < 0 ? -1 : 0;
}

/* The text of a value as its kind shows it (the JSON's, unquoted). */
static int kind_text(FILE *m, const void *rec, const struct vj_field *f)
{
	char s[32];
	int r = 0;

	switch (f->kind) {
	case K_STR: /* as printf shows a NULL */
		r = fputs(*CAT(rec, f->off, char *) ? *CAT(rec, f->off, char *) : "(null)", m);
		break;
	case K_PCI:
		r = fputs(CAT(rec, f->off, char), m);
		break;
	case K_U32:
		r = fprintf(m, "%" PRIu32, *CAT(rec, f->off, uint32_t));
		break;
	case K_INT:
		r = fprintf(m, "%d", *CAT(rec, f->off, int));
		break;
	case K_UINT:
		r = fprintf(m, "%u", *CAT(rec, f->off, unsigned));
		break;
	case K_U64:
		r = fprintf(m, "%" PRIu64, *CAT(rec, f->off, uint64_t));
		break;
	case K_BOOL:
		r = fputs(*CAT(rec, f->off, bool) ? "true" : "false", m);
		break;
	case K_DEVTYPE:
		r = fputc(*CAT(rec, f->off, char), m);
		break;
	case K_DEVNUM:
		vj_devnum_format(*CAT(rec, f->off, uint32_t), s);
		r = fputs(s, m);
		break;
	case K_ACCESS:
		vj_access_format(*CAT(rec, f->off, unsigned), s);
		r = fputs(s, m);
		break;
	case K_MODE:
		r = fprintf(m, "%04o", (unsigned)*CAT(rec, f->off, mode_t) & 07777);
		break;
	case K_ACCOUNTING:
		r = fputs(vj_accounting_name(*CAT(rec, f->off, enum vj_accounting)), m);
		break;
	case K_BACKEND:
		r = fputs(vj_backend_name(*CAT(rec, f->off, enum vj_backend)), m);
		break;
	case K_GROUPS:
		for (size_t i = 0; i < *CAT(rec, f->n_off, size_t) && r >= 0; i++)
			r = fprintf(m, "%s%u", i ? "," : "", (unsigned)(*CAT(rec, f->off, gid_t *))[i]);
		if (r >= 0 && !*CAT(rec, f->n_off, size_t))
			r = fputs("(none)", m);
		break;
	case K_LIMIT: {
		const struct vj_memlock_plan *ml = rec;
		if (ml->unchanged) {
			r = fputs("left unchanged", m);
		} else if (ml->unlimited) {
			r = fputs("unlimited", m);
		} else {
			vj_size_format(ml->bytes, s);
			r = fprintf(m, "%s (%" PRIu64 " bytes)", s, ml->bytes);
		}
		break;
	}
	case K_SIZE: /* and the count of a list */
	case K_STRS:
	case K_LIST:
		r = fprintf(m, "%zu", *CAT(rec, f->kind == K_SIZE ? f->off : f->n_off, size_t));
		break;
	case K_REC:
		break;
	}
	return r < 0 ? -1 : 0;
}

int vj_plan_cell_text(FILE *m, const void *rec, const struct vj_field *f)
{
	return (f->cell.fmt ? f->cell.fmt : kind_text)(m, rec, f);
}

/* ------------------------------------------------------------------------- */
/* What the JSON reader checks of a record beyond its fields                  */

/* An fd needs the device number to check, and only iommufd devices have one. */
static int hostdev_check(void *rec, struct json_object *o)
{
	const struct vj_hostdev_plan *h = rec;

	if (h->fd && (!vj_jr_member(o, "major") || !vj_jr_member(o, "minor")))
		return -1;
	return h->fd && h->backend != VJ_BACKEND_IOMMUFD ? -1 : 0;
}

/* ------------------------------------------------------------------------- */
/* The rows                                                                   */

static const struct vj_field node_fields[] = {
	STR(struct vj_node, path, F_REQ | F_ABS, TAB(1, "%-28s ", .label = "NODE")),
	OF(struct vj_node, "type", type, K_DEVTYPE, F_REQ, 0, 0, TAB(2, "%-4s ", .label = "TYPE")),
	U32(struct vj_node, major, TAB(3, "%-11s ", .label = "MAJ:MIN", .fmt = cell_pair)),
	U32(struct vj_node, minor, NOTAB),
	OF(struct vj_node, "access", access, K_ACCESS, F_REQ, 0, 0, TAB(4, "%-6s ", .label = "ACCESS")),
	U32(struct vj_node, uid, TAB(5, "%-13s ", .label = "OWNER", .fmt = cell_pair)),
	U32(struct vj_node, gid, NOTAB),
	OF(struct vj_node, "mode", mode, K_MODE, F_REQ, 0, 0, TAB(6, "%-4s ", .label = "MODE")),
	STR(struct vj_node, reason, F_REASON, TAB(7, "%s", .label = "REASON")),
	STR(struct vj_node, host_path, 0, NOTAB),
	OF(struct vj_node, "copy_acl", copy_acl, K_BOOL, 0, 0, 0, NOTAB),
};
const struct vj_record vj_node_record = { .size = sizeof(struct vj_node), ROWS(node_fields), .end = "\n" };

static const struct vj_field rule_fields[] = {
	OF(struct vj_rule, "type", type, K_DEVTYPE, F_REQ, 0, 0, TAB(1, "%s ")),
	OF(struct vj_rule, "major", major, K_DEVNUM, F_REQ, 0, 0, TAB(2, "%-11s ", .fmt = cell_pair)),
	OF(struct vj_rule, "minor", minor, K_DEVNUM, F_REQ, 0, 0, NOTAB),
	OF(struct vj_rule, "access", access, K_ACCESS, F_REQ, 0, 0, TAB(3, "%-3s  ")),
	STR(struct vj_rule, reason, F_REASON, TAB(4, "%s")),
};
static const struct vj_record rule_record = { .size = sizeof(struct vj_rule), ROWS(rule_fields), .first = "  allow ",
					      .sep = "  allow ", .end = "\n" };

static const struct vj_field iommufd_fields[] = {
	STR(struct vj_iommufd_plan, id, F_REQ, TAB(1, "%-12s ")),
	STR(struct vj_iommufd_plan, path, F_REQ | F_ABS, TAB(2, "%s ")),
	U32(struct vj_iommufd_plan, major, TAB(3, "(%s)  ", .fmt = cell_pair)),
	U32(struct vj_iommufd_plan, minor, NOTAB),
	OF(struct vj_iommufd_plan, "accounting", accounting, K_ACCOUNTING, 0, 0, 0, TAB(4, "accounting %s, ")),
	OF(struct vj_iommufd_plan, "devices", n_devices, K_SIZE, F_OPT, 0, INT32_MAX, TAB(5, "%s hostdev(s)")),
};
static const struct vj_record iommufd_record = { .size = sizeof(struct vj_iommufd_plan), ROWS(iommufd_fields),
						 .first = "  ", .sep = "  ", .end = "\n" };

static const struct vj_field bar_fields[] = {
	OF(struct vj_bar, "index", index, K_UINT, F_REQ, 0, 16, TAB(1, "BAR%s ")),
	OF(struct vj_bar, "size", size, K_U64, F_REQ, 0, INT64_MAX, TAB(2, "%s", .fmt = cell_size)),
};
static const struct vj_record bar_record = { .size = sizeof(struct vj_bar), ROWS(bar_fields), .first = "; ",
					     .sep = ", " };

static const struct vj_field hostdev_fields[] = {
	OF(struct vj_hostdev_plan, "pci", pci, K_PCI, F_REQ, 0, 0, TAB(1, "%s  ")),
	OF(struct vj_hostdev_plan, "backend", backend, K_BACKEND, F_REQ, 0, 0, TAB(4, "%s backend")),
	STR(struct vj_hostdev_plan, driver, 0, TAB(2, "driver %s, ")),
	OF(struct vj_hostdev_plan, "iommu_group", iommu_group, K_INT, F_REQ, -1, INT32_MAX,
	   TAB(3, "IOMMU group %s, ")),
	STR(struct vj_hostdev_plan, node, F_ABS, NOTAB), /* shown with the fd */
	STR(struct vj_hostdev_plan, iommufd, 0, TAB(5, ", context %s", .flags = C_IF_SET)),
	/* "fd", "major", "minor": absent in an older state (no hostdev was handed
	 * as an fd then); an fd needs the device number to check (hostdev_check). */
	STR(struct vj_hostdev_plan, fd, 0, TAB(6, ", %s", .fmt = cell_reach)),
	OF(struct vj_hostdev_plan, "major", major, K_U32, F_OPT, 0, UINT32_MAX, NOTAB),
	OF(struct vj_hostdev_plan, "minor", minor, K_U32, F_OPT, 0, UINT32_MAX, NOTAB),
	LIST(struct vj_hostdev_plan, "bars", bars, n_bars, F_OPT, &bar_record, TAB(7, "")),
};
static const struct vj_record hostdev_record = { .size = sizeof(struct vj_hostdev_plan), ROWS(hostdev_fields),
						 .check = hostdev_check, .first = "  ", .sep = "  ", .end = "\n" };

static const struct vj_field term_fields[] = {
	OF(struct vj_memlock_term, "bytes", bytes, K_U64, F_REQ, 0, INT64_MAX, TAB(1, "%-10s ", .fmt = cell_size)),
	STR(struct vj_memlock_term, reason, 0, TAB(2, "%s")),
};
static const struct vj_record term_record = { .size = sizeof(struct vj_memlock_term), ROWS(term_fields),
					      .first = "  + ", .sep = "  + ", .end = "\n" };

static const struct vj_field memlock_fields[] = {
	{ .key = "bytes", .kind = K_LIMIT, .flags = F_REQ, .cell = TAB(1, "%s\n") },
	LIST(struct vj_memlock_plan, "terms", terms, n_terms, F_PLAN | F_REASON, &term_record, TAB(2, "")),
};
static const struct vj_record memlock_record = { .size = sizeof(struct vj_memlock_plan), ROWS(memlock_fields) };

static const struct vj_field plan_fields[] = {
	STR(struct vj_plan, name, 0, TAB(1, "VM %s", .fmt = cell_name)),
	U32(struct vj_plan, uid, TAB(2, ": uid %s")),
	U32(struct vj_plan, gid, TAB(3, ", gid %s")),
	{ .key = "groups", .kind = K_GROUPS, .flags = F_OPT, .off = offsetof(struct vj_plan, groups),
	  .n_off = offsetof(struct vj_plan, n_groups), .aux_off = offsetof(struct vj_plan, groups_known),
	  .cell = TAB(4, ", groups %s") },
	STR(struct vj_plan, arch, 0, TAB(5, ", arch %s\n")),
	LIST(struct vj_plan, "nodes", nodes, n_nodes, 0, &vj_node_record, TAB(7, "\n")),
	LIST(struct vj_plan, "rules", rules, n_rules, 0, &rule_record,
	     TAB(8, "\nDEVICE FILTER (BPF, cgroup2): %s allow rules, everything else denied\n")),
	LIST(struct vj_plan, "iommufd", iommufd, n_iommufd, 0, &iommufd_record,
	     TAB(10, "\nIOMMUFD CONTEXTS (opened by vfiojail, handed to the VMM)\n", .flags = C_IF_ANY)),
	LIST(struct vj_plan, "hostdevs", hostdevs, n_hostdevs, F_OPT, &hostdev_record,
	     TAB(9, "\nHOSTDEVS\n", .flags = C_IF_ANY)),
	{ .key = "memlock", .kind = K_REC, .flags = F_REQ, .off = offsetof(struct vj_plan, memlock),
	  .sub = &memlock_record, .cell = TAB(11, "\nRLIMIT_MEMLOCK: ") },
	STR(struct vj_plan, cgroup, F_ABS, TAB(6, "cgroup: %s\n", .fmt = cell_cgroup)),
	{ .key = "warnings", .kind = K_STRS, .flags = F_PLAN | F_REASON, .off = offsetof(struct vj_plan, warnings),
	  .n_off = offsetof(struct vj_plan, n_warnings),
	  .cell = TAB(12, "\nWARNINGS\n", .flags = C_IF_ANY, .item = "  %s\n") },
};
const struct vj_record vj_plan_record = { .size = sizeof(struct vj_plan), ROWS(plan_fields) };

_Static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t),
	       "uid_t and gid_t are read and written as uint32_t");
_Static_assert(sizeof(enum vj_accounting) == sizeof(int) && sizeof(enum vj_backend) == sizeof(int),
	       "the enums are stored as int");

bool vj_record_rows(const struct vj_record *r)
{
	if (r->check)
		return false;
	for (size_t i = 0; i < r->n; i++) {
		switch (r->fields[i].kind) {
		case K_GROUPS:
		case K_LIMIT:
		case K_STRS:
		case K_LIST:
		case K_REC:
			return false;
		default:
			break;
		}
	}
	return true;
}

/* ------------------------------------------------------------------------- */
/* Free and copy                                                              */

static void free_record(void *rec, const struct vj_record *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct vj_field *f = &r->fields[i];
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
static void copy_record(void *dst, const struct vj_record *r, bool *ok)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct vj_field *f = &r->fields[i];
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
	free_record(p, &vj_plan_record);
}

struct vj_plan *vj_plan_walk_copy(const struct vj_plan *p)
{
	struct vj_plan *d = malloc(sizeof(*d));
	bool ok = true;

	if (!d)
		return NULL;
	*d = *p;
	d->priv = NULL;
	copy_record(d, &vj_plan_record, &ok);
	if (ok)
		return d;
	free_record(d, &vj_plan_record);
	free(d);
	return NULL;
}

void vj_node_walk_free(struct vj_node *n)
{
	free_record(n, &vj_node_record);
}

int vj_node_walk_copy(struct vj_node *dst, const struct vj_node *src)
{
	bool ok = true;

	*dst = *src;
	copy_record(dst, &vj_node_record, &ok);
	return ok ? 0 : -1;
}
