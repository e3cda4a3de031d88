/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan's field table: one row per member of each record of a plan
 * (plan_fields.c), in the order the JSON has them.  Each row says how the
 * member is read and written as JSON (plan_json.c), freed and copied
 * (plan_fields.c), and shown in the table `plan` prints (plan_table.c): a new
 * member of the plan is one row, and appears in all of them.  Private to the
 * plan's files.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vfiojail/vfiojail.h"

enum vj_field_kind {
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

struct vj_field;

/* A member's value as the table shows it, written to @m; 0, or -1 (errno). */
typedef int vj_cell_fmt(FILE *m, const void *rec, const struct vj_field *f);

/* Flags of a cell */
#define C_IF_ANY 1u   /* a list: shown only when it has items */
#define C_IF_SET 2u   /* a string: shown only when it is not NULL */

/* How the table (`plan` without --json) shows a member.  Its text is @tmpl
 * with the value where "%s" (or "%-Ns": padded to N) stands; for a list, @tmpl
 * is its heading, with the count as the value, and its items follow, each
 * line the item record's shown members (their @label row first when they
 * have labels). */
struct vj_cell {
	unsigned pos;            /* its place among the record's shown members, from 1; 0: not shown */
	const char *tmpl;
	const char *label;       /* the column's heading in the label row, or NULL */
	vj_cell_fmt *fmt;        /* the value as text; NULL: as its kind is shown */
	unsigned flags;          /* C_* */
	const char *item;        /* K_STRS: each string's text, as @tmpl for it */
};

struct vj_field {
	const char *key;
	enum vj_field_kind kind;
	unsigned flags;
	size_t off;                   /* the value */
	size_t n_off;                 /* K_GROUPS, K_STRS, K_LIST: the count (size_t) */
	size_t aux_off;               /* K_GROUPS: the bool that says they are known */
	int64_t min, max;             /* K_INT, K_UINT, K_U64, K_SIZE */
	const struct vj_record *sub;  /* K_LIST, K_REC */
	struct vj_cell cell;
};

struct json_object;

struct vj_record {
	size_t size;
	const struct vj_field *fields;
	size_t n;
	/* read: what no field says alone (0, or -1 for a malformed record) */
	int (*check)(void *rec, struct json_object *o);
	/* the table: the text before the first item of a list, before each
	 * other, and after each (the label row is framed as the first) */
	const char *first, *sep, *end;
};

#define VJ_AT(rec, off, T) ((T *)((char *)(rec) + (off)))
#define VJ_CAT(rec, off, T) ((const T *)((const char *)(rec) + (off)))

extern const struct vj_record vj_plan_record, vj_node_record;

/* Whether the state (the brief form) keeps a list of @r as rows of values
 * under named columns rather than as objects (plan_json.h): true for a record
 * whose fields are all single values (no list, embedded record, groups or
 * memlock figure) and that needs no check of its own. */
bool vj_record_rows(const struct vj_record *r);

/* The text of @f's value in the table: its cell's formatter, or its kind's. */
int vj_plan_cell_text(FILE *m, const void *rec, const struct vj_field *f);

/* The walks of the table behind vj_plan_free (the members only), vj_plan_dup
 * (everything but what only `plan` shows: warnings, memlock terms),
 * vj_node_clear and vj_node_copy. */
void vj_plan_walk_free(struct vj_plan *p);
struct vj_plan *vj_plan_walk_copy(const struct vj_plan *p);
void vj_node_walk_free(struct vj_node *n);
int vj_node_walk_copy(struct vj_node *dst, const struct vj_node *src);

/* The names of the enums, as the JSON and the table write them. */
static inline const char *vj_accounting_name(enum vj_accounting a)
{
	return a == VJ_ACCOUNTING_PER_PROCESS ? "per-process" : "per-user";
}

static inline const char *vj_backend_name(enum vj_backend b)
{
	return b == VJ_BACKEND_LEGACY ? "legacy" : "iommufd";
}
