/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "jbuf.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The first buffer: most texts fit; a state file doubles it twice (a bigger first
 * one costs more heap pages than the two reallocs: the measured minor faults). */
#define JB_FIRST_CAP 4096

/* Room for @n more bytes and the NUL: where they go, or NULL (b->oom). */
static char *jb_grow(struct vj_jbuf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : JB_FIRST_CAP;
	char *p;

	if (b->oom)
		return NULL;
	while (cap < b->len + n + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return NULL;
	}
	b->p = p;
	b->cap = cap;
	return b->p + b->len;
}

static inline char *jb_room(struct vj_jbuf *b, size_t n)
{
	if (__builtin_expect(b->len + n + 1 <= b->cap, 1))
		return b->p + b->len;
	return jb_grow(b, n);
}

/* @n bytes written at jb_room's pointer: counted and terminated. */
static inline void jb_done(struct vj_jbuf *b, size_t n)
{
	b->len += n;
	b->p[b->len] = '\0';
}

static void jb_mem(struct vj_jbuf *b, const char *s, size_t n)
{
	char *d = jb_room(b, n);

	if (!d)
		return;
	memcpy(d, s, n);
	jb_done(b, n);
}

static inline void jb_ch(struct vj_jbuf *b, char c)
{
	char *d = jb_room(b, 1);

	if (!d)
		return;
	*d = c;
	jb_done(b, 1);
}

void vj_jb_raw(struct vj_jbuf *b, const char *s)
{
	jb_mem(b, s, strlen(s));
}

/* A value in an array needs a comma after its sibling; a member's value follows its key. */
static void value_start(struct vj_jbuf *b)
{
	if (b->need_comma)
		jb_ch(b, ',');
	b->need_comma = true;
}

void vj_jb_open(struct vj_jbuf *b, char c)
{
	value_start(b);
	jb_ch(b, c);
	b->need_comma = false;
}

void vj_jb_close(struct vj_jbuf *b, char c)
{
	jb_ch(b, c);
	b->need_comma = true;
}

void vj_jb_key(struct vj_jbuf *b, const char *key)
{
	size_t n = strlen(key), comma = b->need_comma;
	char *d = jb_room(b, comma + n + 3); /* ,"key": */

	b->need_comma = false;
	if (!d)
		return;
	if (comma)
		*d++ = ',';
	*d++ = '"';
	memcpy(d, key, n);
	d[n] = '"';
	d[n + 1] = ':';
	jb_done(b, comma + n + 3);
}

static const char hex[] = "0123456789abcdef";

/* The escape of @c (a quote, a backslash or a control character) into @esc: its length. */
static size_t str_escape(unsigned char c, char esc[6])
{
	esc[0] = '\\';
	if (c == '"' || c == '\\') {
		esc[1] = (char)c;
		return 2;
	}
	memcpy(esc + 1, "u00", 3);
	esc[4] = hex[c >> 4];
	esc[5] = hex[c & 15];
	return 6;
}

void vj_jb_str(struct vj_jbuf *b, const char *s)
{
	const char *run;
	size_t plain;

	if (!s) {
		vj_jb_null(b);
		return;
	}
	value_start(b);
	for (plain = 0; s[plain]; plain++)
		if ((unsigned char)s[plain] < 0x20 || s[plain] == '"' || s[plain] == '\\')
			break;
	if (!s[plain]) { /* nothing to escape: one copy */
		char *d = jb_room(b, plain + 2);
		if (!d)
			return;
		d[0] = '"';
		memcpy(d + 1, s, plain);
		d[plain + 1] = '"';
		jb_done(b, plain + 2);
		return;
	}
	jb_ch(b, '"');
	for (run = s, s += plain; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jb_mem(b, run, (size_t)(s - run));
		jb_mem(b, esc, str_escape(c, esc));
		run = s + 1;
	}
	jb_mem(b, run, (size_t)(s - run));
	jb_ch(b, '"');
}

/* @v in decimal: its digits (and sign) at the end of @num, NUL after them. */
static char *fmt_i64(char num[static VJ_U64_STR_MAX + 1], int64_t v)
{
	char *p = vj_u64_format(v < 0 ? -(uint64_t)v : (uint64_t)v, num + 1);

	if (v < 0)
		*--p = '-';
	return p;
}

void vj_jb_i64(struct vj_jbuf *b, int64_t v)
{
	char num[VJ_U64_STR_MAX + 1], *p = fmt_i64(num, v);

	value_start(b);
	jb_mem(b, p, (size_t)(num + sizeof(num) - 1 - p));
}

void vj_jb_bool(struct vj_jbuf *b, bool v)
{
	value_start(b);
	vj_jb_raw(b, v ? "true" : "false");
}

void vj_jb_null(struct vj_jbuf *b)
{
	value_start(b);
	vj_jb_raw(b, "null");
}

void vj_jb_json(struct vj_jbuf *b, const char *json)
{
	value_start(b);
	vj_jb_raw(b, json);
}

/* ------------------------------------------------------------------------- */
/* A json-c tree                                                              */

static void tree_str(struct vj_jbuf *b, const char *s, size_t len, unsigned flags)
{
	const char *run = s, *end = s + len;

	jb_ch(b, '"');
	for (; s < end; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = { '\\' };
		size_t n = 2;

		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '/':
			if (!(flags & VJ_JSON_SLASH))
				continue;
			esc[1] = '/';
			break;
		default:
			if (c >= 0x20)
				continue;
			n = str_escape(c, esc);
		}
		jb_mem(b, run, (size_t)(s - run));
		jb_mem(b, esc, n);
		run = s + 1;
	}
	jb_mem(b, run, (size_t)(end - run));
	jb_ch(b, '"');
}

static void tree_indent(struct vj_jbuf *b, unsigned level)
{
	for (unsigned i = 0; i < level; i++)
		jb_mem(b, "  ", 2);
}

/* Before a member or element: a comma after a sibling, then the layout's break. */
static void tree_sep(struct vj_jbuf *b, bool first, unsigned level, unsigned flags)
{
	if (!first)
		jb_ch(b, ',');
	if (flags & VJ_JSON_PRETTY) {
		jb_ch(b, '\n');
		tree_indent(b, level + 1);
	} else if (flags & VJ_JSON_SPACED) {
		jb_ch(b, ' ');
	}
}

/* After the last member or element (or none): the closing break and @close. */
static void tree_close(struct vj_jbuf *b, char close, unsigned level, unsigned flags)
{
	if (flags & VJ_JSON_PRETTY) {
		jb_ch(b, '\n');
		tree_indent(b, level);
	} else if (flags & VJ_JSON_SPACED) {
		jb_ch(b, ' ');
	}
	jb_ch(b, close);
}

static void tree_value(struct vj_jbuf *b, json_object *o, unsigned level, unsigned flags)
{
	char num[VJ_U64_STR_MAX + 1];
	bool first = true;

	switch (json_object_get_type(o)) {
	case json_type_null:
		vj_jb_raw(b, "null");
		break;
	case json_type_boolean:
		vj_jb_raw(b, json_object_get_boolean(o) ? "true" : "false");
		break;
	case json_type_int: {
		int64_t i = json_object_get_int64(o);
		char *p = i == INT64_MAX /* or above: a uint64 */
				  ? vj_u64_format(json_object_get_uint64(o), num + 1)
				  : fmt_i64(num, i);
		jb_mem(b, p, (size_t)(num + sizeof(num) - 1 - p));
		break;
	}
	case json_type_double: /* only ever parsed: its text as it was written */
		vj_jb_raw(b, json_object_get_string(o));
		break;
	case json_type_string:
		tree_str(b, json_object_get_string(o), (size_t)json_object_get_string_len(o), flags);
		break;
	case json_type_array:
		jb_ch(b, '[');
		for (size_t i = 0; i < json_object_array_length(o) && !b->oom; i++, first = false) {
			tree_sep(b, first, level, flags);
			tree_value(b, json_object_array_get_idx(o, i), level + 1, flags);
		}
		tree_close(b, ']', level, flags);
		break;
	case json_type_object:
		jb_ch(b, '{');
		json_object_object_foreach(o, key, val)
		{
			if (b->oom)
				break;
			tree_sep(b, first, level, flags);
			first = false;
			tree_str(b, key, strlen(key), flags);
			vj_jb_raw(b, flags & (VJ_JSON_PRETTY | VJ_JSON_SPACED) ? ": " : ":");
			tree_value(b, val, level + 1, flags);
		}
		tree_close(b, '}', level, flags);
		break;
	}
}

void vj_jb_tree(struct vj_jbuf *b, json_object *o, unsigned flags)
{
	value_start(b);
	tree_value(b, o, 0, flags);
}

char *vj_json_text(json_object *o, unsigned flags)
{
	struct vj_jbuf b = { 0 };

	vj_jb_tree(&b, o, flags);
	if (b.oom || !b.p) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
