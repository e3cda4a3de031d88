/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the spec parsers (size.c, pciaddr.c, name.c, spec.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "quote.h" /* vj_quote */

/* The largest spec text read, from a file, stdin or a string. */
#define SPEC_FILE_MAX (1024 * 1024)

struct vj_spec;
struct vj_plan;
/*
 * The spec as JSON that vj_spec_parse_string() reads back to the same spec,
 * written field by field from spec.c's table of fields (the one table parsing,
 * flags, usage and the man page's list follow too): user and group as the ids
 * they were resolved to, and the supplementary groups of @p (when given and
 * known) as "groups", so that a re-plan gives the VMM the same.  NULL without
 * memory.
 */
char *vj_spec_json(const struct vj_spec *s, const struct vj_plan *p);

struct json_object;
struct vj_error;
/*
 * The spec in the JSON object @root (as vj_spec_parse_string reads it; @root is
 * only read), checked by vj_spec_finish: *out, or -1 with *err naming the field.
 * @source names the spec in errors about @root itself.
 */
int vj_spec_from_json(struct json_object *root, const char *source, struct vj_spec **out,
		      struct vj_error **err);
/* @text (NUL-terminated, at most 1 MiB read) as one strict JSON value, as the
 * spec parser reads it: a syntax error names @source and the line (status 2). */
int vj_json_parse_text(const char *text, const char *source, struct json_object **out,
		       struct vj_error **err);

/* Shared by spec.c (the fields) and spec_load.c (a whole spec, vj_spec_finish). */
struct vj_iommufd_spec;
/* The context @id of @spec, or NULL. */
const struct vj_iommufd_spec *vj_spec_find_iommufd(struct vj_spec *spec, const char *id);
/* A new context @id (checked, not a duplicate), from the field @field. */
int vj_spec_add_iommufd_id(struct vj_spec *spec, const char *field, const char *id, struct vj_error **err);
/* *dst = a copy of @v (the old one freed): 0, or -1 out of memory. */
int vj_spec_set_string(char **dst, const char *v, struct vj_error **err);
/* @s is one or more decimal digits and nothing else. */
bool vj_all_digits(const char *s);
/* The fields of the JSON object @root (@source names it in errors) into @spec,
 * each through its validator; no cross-field check (vj_spec_finish). */
int vj_spec_read_fields(struct json_object *root, const char *source, struct vj_spec *spec,
			struct vj_error **err);
