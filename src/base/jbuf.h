/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A compact JSON writer into one growing buffer: no object tree, no pretty
 * printing.  The plan and the state are written with it (a plan of a thousand
 * devices costs 0.7 ms this way, 5.8 ms through json-c's objects); json-c reads
 * them back and pretty-prints what users see.
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
