/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading members of a json-c object that vfiojail wrote itself (the plan, the
 * state): each reader answers 0, or -1 for a member that is missing (where it is
 * required) or of the wrong type or range.  The callers turn -1 into their own
 * error ("damaged state file").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* The member's value, NULL when absent (a JSON null is present with value NULL:
 * use json_object_object_get_ex to tell them apart). */
struct json_object *vj_jr_member(struct json_object *o, const char *key);
/* An optional string (absent or null: *out NULL), newly allocated; @absolute: it
 * must start with "/". */
int vj_jr_str(struct json_object *o, const char *key, bool absolute, char **out);
/* A required integer in [@min, @max]. */
int vj_jr_int(struct json_object *o, const char *key, int64_t min, int64_t max, int64_t *out);
/* An optional boolean (absent: false). */
int vj_jr_flag(struct json_object *o, const char *key, bool *out);
