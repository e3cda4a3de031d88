/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiojail's one JSON writer: every JSON text the program writes comes from
 * here.  Two ways in, one buffer:
 *
 *  - streaming, no object tree (vj_jb_open, vj_jb_key, vj_jb_str...): compact
 *    text; the plan and the state are written so (a plan of a thousand devices
 *    costs 0.7 ms this way, 5.8 ms through json-c's objects);
 *  - a json-c tree (vj_jb_tree, vj_json_text), for what is built as objects
 *    (the spec, status, check, CDI specs, QMP commands): compact, one line
 *    spaced (values in messages) or pretty, as users see every --json output.
 *
 * json-c parses and holds trees; it writes no text.
 *
 * Errors are sticky: after a failed allocation every call does nothing and
 * @oom stays set, so a writer checks once at the end.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vj_jbuf {
	char *p;          /* NUL-terminated text; the caller frees it */
	size_t len, cap;
	bool oom;
	bool need_comma;  /* a value was written at this level */
};

void vj_jb_raw(struct vj_jbuf *b, const char *s);
/* { or [ (after a comma when a sibling came before); } or ] */
void vj_jb_open(struct vj_jbuf *b, char c);
void vj_jb_close(struct vj_jbuf *b, char c);
/* "key": at the current level (a comma first unless it is the first member) */
void vj_jb_key(struct vj_jbuf *b, const char *key);
/* Values: a string (NULL: null; '"', '\\' and control bytes escaped, others as
 * they are), an integer, a boolean, null. */
void vj_jb_str(struct vj_jbuf *b, const char *s);
void vj_jb_i64(struct vj_jbuf *b, int64_t v);
void vj_jb_bool(struct vj_jbuf *b, bool v);
void vj_jb_null(struct vj_jbuf *b);
/* A value already encoded as JSON text. */
void vj_jb_json(struct vj_jbuf *b, const char *json);

struct json_object;

/* The layouts of a tree; none: compact ({"key":value}) */
#define VJ_JSON_PRETTY 1u /* two-space indent, "key": value: every --json output */
#define VJ_JSON_SPACED 2u /* one line, { "key": value, ... }: values in messages */
#define VJ_JSON_SLASH 4u  /* '/' written as "\/" (json-c's default, kept where it was) */

/* The json-c tree @o (NULL: null) as JSON text, laid out by @flags.  Its
 * strings escape '"', '\\', \b \f \n \r \t and other control bytes
 * (\u00xx); a double (only ever parsed, never made) as the text it was read
 * from. */
void vj_jb_tree(struct vj_jbuf *b, struct json_object *o, unsigned flags);
/* The same, newly allocated (free); NULL without memory. */
char *vj_json_text(struct json_object *o, unsigned flags);
