/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the spec parsers (size.c, pciaddr.c, name.c, spec.c). */
#pragma once

#include <stddef.h>

/* Room for a quoted value: 64 input bytes, each at most 4 output bytes, plus
 * the quotes, an ellipsis and the NUL. */
#define VJ_QUOTE_MAX 300

/*
 * Write @s into @buf as a double-quoted string safe to print: '"' and '\\' are
 * escaped, control characters and bytes >= 0x80 become \xNN, and input past 64
 * bytes is cut and marked with "...".  NULL prints as (null).  Returns @buf.
 */
const char *vj_quote(const char *s, char buf[static VJ_QUOTE_MAX]);

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
