/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan's JSON (plan_json.h), written and read by walking the plan's field
 * table (plan_fields.c).
 */
#include "plan_json.h"

#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jread.h"
#include "plan_fields.h"
#include "memlock.h"
#include "util.h"

#define AT VJ_AT
#define CAT VJ_CAT

/* ------------------------------------------------------------------------- */
/* Writing                                                                    */

static void write_record(struct vj_jbuf *b, const void *rec, const struct vj_record *r, bool brief);
static void write_rows(struct vj_jbuf *b, const char *items, size_t n, const struct vj_record *r);

static void write_field(struct vj_jbuf *b, const void *rec, const struct vj_field *f, bool brief)
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
		vj_jb_str(b, vj_accounting_name(*CAT(rec, f->off, enum vj_accounting)));
		break;
	case K_BACKEND:
		vj_jb_str(b, vj_backend_name(*CAT(rec, f->off, enum vj_backend)));
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
		if (brief && vj_record_rows(f->sub)) {
			write_rows(b, items, *CAT(rec, f->n_off, size_t), f->sub);
			break;
		}
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

static void write_record(struct vj_jbuf *b, const void *rec, const struct vj_record *r, bool brief)
{
	vj_jb_open(b, '{');
	for (size_t i = 0; i < r->n; i++) {
		const struct vj_field *f = &r->fields[i];
		/* The groups of a plan from an older state are not known: not written. */
		if ((brief && (f->flags & F_REASON)) || (brief && f->kind == K_GROUPS && !*CAT(rec, f->aux_off, bool)))
			continue;
		vj_jb_key(b, f->key);
		write_field(b, rec, f, brief);
	}
	vj_jb_close(b, '}');
}

/* A list of a record that vj_record_rows allows, in the state's form:
 * {"columns": [key...], "rows": [[value...]...]}, the columns the brief form's
 * fields in the table's order, each row one record's values in that order. */
static void write_rows(struct vj_jbuf *b, const char *items, size_t n, const struct vj_record *r)
{
	vj_jb_open(b, '{');
	vj_jb_key(b, "columns");
	vj_jb_open(b, '[');
	for (size_t i = 0; i < r->n; i++)
		if (!(r->fields[i].flags & F_REASON))
			vj_jb_str(b, r->fields[i].key);
	vj_jb_close(b, ']');
	vj_jb_key(b, "rows");
	vj_jb_open(b, '[');
	for (size_t j = 0; j < n && !b->oom; j++) {
		const char *rec = items + j * r->size;

		vj_jb_open(b, '[');
		for (size_t i = 0; i < r->n; i++)
			if (!(r->fields[i].flags & F_REASON))
				write_field(b, rec, &r->fields[i], true);
		vj_jb_close(b, ']');
	}
	vj_jb_close(b, ']');
	vj_jb_close(b, '}');
}

void vj_plan_json_write(struct vj_jbuf *b, const struct vj_plan *p, unsigned flags)
{
	write_record(b, p, &vj_plan_record, flags & VJ_PLAN_JSON_BRIEF);
}

/* ------------------------------------------------------------------------- */
/* Reading: each reader answers 0, or -1 for a missing or malformed member.  A
 * field's reader takes its value (NULL when absent or null), wherever it came
 * from: an object's member, or a row's cell under the field's column.        */

/* A number in [min, max]. */
static int v_int(json_object *v, int64_t min, int64_t max, int64_t *out)
{
	if (!v || !json_object_is_type(v, json_type_int))
		return -1;
	errno = 0;
	*out = json_object_get_int64(v);
	return errno == 0 && *out >= min && *out <= max ? 0 : -1;
}

static const char *v_string(json_object *v)
{
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* A number in [0, UINT32_MAX]. */
static int v_u32(json_object *v, uint32_t *out)
{
	int64_t n;

	if (v_int(v, 0, UINT32_MAX, &n) < 0)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* {"bytes": N | -1 | null} (older state files: {"unchanged", "unlimited", "bytes"}). */
static int r_limit(json_object *ml, struct vj_memlock_plan *m)
{
	json_object *bytes;
	int64_t v;

	/* (a JSON null is a member whose value is NULL) */
	if (!ml || !json_object_object_get_ex(ml, "bytes", &bytes))
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
static int r_groups(json_object *a, void *rec, const struct vj_field *f)
{
	size_t n;
	gid_t *g;

	if (!a || !json_object_is_type(a, json_type_array))
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

static int read_record(json_object *o, void *rec, const struct vj_record *r);
static int read_field(json_object *o, json_object *v, void *rec, const struct vj_field *f);

/* The longest record a list in rows may have (vj_record_rows). */
#define ROW_FIELDS_MAX 32

/*
 * A list in rows (the state from version 5): {"columns": [key...], "rows":
 * [[value...]...]}.  Each column names a field of @r, once; a field without a
 * column reads as absent (an error where it is required), a column no field
 * has is an error, and each row has one value per column.
 */
static int r_rows(json_object *t, char *items, size_t *count, const struct vj_record *r)
{
	json_object *cols = vj_jr_member(t, "columns"), *rows = vj_jr_member(t, "rows");
	int col_of[ROW_FIELDS_MAX]; /* field -> its column, -1: none */
	size_t ncols, n;

	if (!vj_record_rows(r) || r->n > ROW_FIELDS_MAX || !cols || !json_object_is_type(cols, json_type_array) ||
	    !rows || !json_object_is_type(rows, json_type_array))
		return -1;
	for (size_t i = 0; i < r->n; i++)
		col_of[i] = -1;
	ncols = json_object_array_length(cols);
	for (size_t c = 0; c < ncols; c++) {
		const char *key = v_string(json_object_array_get_idx(cols, c));
		size_t i = 0;

		while (key && i < r->n && (r->fields[i].flags & F_PLAN || strcmp(r->fields[i].key, key) != 0))
			i++;
		if (!key || i == r->n || col_of[i] >= 0)
			return -1;
		col_of[i] = (int)c;
	}
	n = json_object_array_length(rows);
	for (size_t j = 0; j < n; j++) {
		json_object *row = json_object_array_get_idx(rows, j);
		char *rec = items + (*count)++ * r->size; /* counted first: freed with the plan */

		if (!json_object_is_type(row, json_type_array) || json_object_array_length(row) != ncols)
			return -1;
		for (size_t i = 0; i < r->n; i++)
			if (!(r->fields[i].flags & F_PLAN) &&
			    read_field(NULL, col_of[i] < 0 ? NULL : json_object_array_get_idx(row, (size_t)col_of[i]),
				       rec, &r->fields[i]) < 0)
				return -1;
	}
	return 0;
}

/* A list: an array of objects (`plan --json`, and the state before version 5),
 * or rows (r_rows); absent: empty where it is optional. */
static int r_list(json_object *v, void *rec, const struct vj_field *f)
{
	size_t n, *count = AT(rec, f->n_off, size_t);
	bool rows = v && json_object_is_type(v, json_type_object);
	char *items;

	if (!v)
		return f->flags & F_OPT ? 0 : -1;
	if (rows) {
		json_object *a = vj_jr_member(v, "rows");

		if (!a || !json_object_is_type(a, json_type_array))
			return -1;
		n = json_object_array_length(a);
	} else if (json_object_is_type(v, json_type_array))
		n = json_object_array_length(v);
	else
		return -1;
	if (!(items = *AT(rec, f->off, char *) = calloc(n ? n : 1, f->sub->size)))
		return -1;
	if (rows)
		return r_rows(v, items, count, f->sub);
	for (size_t i = 0; i < n; i++) /* each one counted first: freed with the plan */
		if (read_record(json_object_array_get_idx(v, i), items + (*count)++ * f->sub->size, f->sub) < 0)
			return -1;
	return 0;
}

/* @f's value @v, of the object @o (NULL in a row: no record that needs it is
 * ever a row). */
static int read_field(json_object *o, json_object *v, void *rec, const struct vj_field *f)
{
	const char *s;
	int64_t n;
	uint32_t u;

	if ((f->flags & F_OPT) && !v && f->kind != K_LIST)
		return 0;
	switch (f->kind) {
	case K_STR:
		*AT(rec, f->off, char *) = NULL;
		if (!v)
			return f->flags & F_REQ ? -1 : 0;
		if (!(s = v_string(v)) || ((f->flags & F_ABS) && s[0] != '/'))
			return -1;
		return (*AT(rec, f->off, char *) = strdup(s)) ? 0 : -1;
	case K_U32:
		return v_u32(v, AT(rec, f->off, uint32_t));
	case K_INT:
		if (v_int(v, f->min, f->max, &n) < 0)
			return -1;
		*AT(rec, f->off, int) = (int)n;
		return 0;
	case K_UINT:
		if (v_int(v, f->min, f->max, &n) < 0)
			return -1;
		*AT(rec, f->off, unsigned) = (unsigned)n;
		return 0;
	case K_U64:
		if (v_int(v, f->min, f->max, &n) < 0)
			return -1;
		*AT(rec, f->off, uint64_t) = (uint64_t)n;
		return 0;
	case K_SIZE:
		if (v_int(v, f->min, f->max, &n) < 0)
			return -1;
		*AT(rec, f->off, size_t) = (size_t)n;
		return 0;
	case K_BOOL:
		*AT(rec, f->off, bool) = false;
		if (!v)
			return 0;
		if (!json_object_is_type(v, json_type_boolean))
			return -1;
		*AT(rec, f->off, bool) = json_object_get_boolean(v);
		return 0;
	case K_DEVTYPE:
		if (!(s = v_string(v)) || (strcmp(s, "c") != 0 && strcmp(s, "b") != 0))
			return -1;
		*AT(rec, f->off, char) = s[0];
		return 0;
	case K_DEVNUM:
		if ((s = v_string(v)) && !strcmp(s, "*")) {
			*AT(rec, f->off, uint32_t) = VJ_RULE_ANY;
			return 0;
		}
		return v_u32(v, AT(rec, f->off, uint32_t));
	case K_ACCESS:
		if ((s = v_string(v)))
			return vj_access_parse(s, AT(rec, f->off, unsigned)) < 0 ? -1 : 0;
		if (v_u32(v, &u) < 0 || u > (VJ_ACC_READ | VJ_ACC_WRITE | VJ_ACC_MKNOD))
			return -1;
		*AT(rec, f->off, unsigned) = u;
		return 0;
	case K_MODE:
		if ((s = v_string(v))) {
			char *end;
			unsigned long m;

			errno = 0;
			m = strtoul(s, &end, 8);
			if (!*s || *end || errno || m > 07777)
				return -1;
			*AT(rec, f->off, mode_t) = (mode_t)(m & 0777);
			return 0;
		}
		if (v_u32(v, &u) < 0)
			return -1;
		*AT(rec, f->off, mode_t) = (mode_t)(u & 0777);
		return 0;
	case K_ACCOUNTING:
		s = v_string(v);
		if ((v && !s) || (s && strcmp(s, "per-user") != 0 && strcmp(s, "per-process") != 0))
			return -1;
		*AT(rec, f->off, enum vj_accounting) =
			s && !strcmp(s, "per-user") ? VJ_ACCOUNTING_PER_USER : VJ_ACCOUNTING_PER_PROCESS;
		return 0;
	case K_BACKEND:
		if (!(s = v_string(v)) || (strcmp(s, "legacy") != 0 && strcmp(s, "iommufd") != 0))
			return -1;
		*AT(rec, f->off, enum vj_backend) = !strcmp(s, "legacy") ? VJ_BACKEND_LEGACY : VJ_BACKEND_IOMMUFD;
		return 0;
	case K_PCI:
		if (!(s = v_string(v)) || strlen(s) >= sizeof(((struct vj_hostdev_plan *)0)->pci))
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
		return r_list(v, rec, f);
	case K_REC:
		return v ? read_record(v, AT(rec, f->off, char), f->sub) : -1;
	}
	return -1;
}

static int read_record(json_object *o, void *rec, const struct vj_record *r)
{
	if (!o || !json_object_is_type(o, json_type_object))
		return -1;
	for (size_t i = 0; i < r->n; i++)
		if (!(r->fields[i].flags & F_PLAN) &&
		    read_field(o, vj_jr_member(o, r->fields[i].key), rec, &r->fields[i]) < 0)
			return -1;
	return r->check ? r->check(rec, o) : 0;
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
	if (read_record(o, p, &vj_plan_record) < 0) {
		vj_plan_walk_free(p);
		free(p);
		errno = EINVAL;
		return -1;
	}
	*out = p;
	return 0;
}
