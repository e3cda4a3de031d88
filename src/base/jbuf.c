/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "jbuf.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void jb_mem(struct vj_jbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void vj_jb_raw(struct vj_jbuf *b, const char *s)
{
	jb_mem(b, s, strlen(s));
}

/* A value in an array needs a comma after its sibling; a member's value follows its key. */
static void value_start(struct vj_jbuf *b)
{
	if (b->need_comma)
		jb_mem(b, ",", 1);
	b->need_comma = true;
}

void vj_jb_open(struct vj_jbuf *b, char c)
{
	value_start(b);
	jb_mem(b, &c, 1);
	b->need_comma = false;
}

void vj_jb_close(struct vj_jbuf *b, char c)
{
	jb_mem(b, &c, 1);
	b->need_comma = true;
}

void vj_jb_key(struct vj_jbuf *b, const char *key)
{
	value_start(b);
	jb_mem(b, "\"", 1);
	vj_jb_raw(b, key);
	jb_mem(b, "\":", 2);
	b->need_comma = false;
}

void vj_jb_str(struct vj_jbuf *b, const char *s)
{
	const char *run;

	if (!s) {
		vj_jb_null(b);
		return;
	}
	value_start(b);
	jb_mem(b, "\"", 1);
	for (run = s; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jb_mem(b, run, (size_t)(s - run));
		if (c == '"' || c == '\\')
			snprintf(esc, sizeof(esc), "\\%c", c);
		else
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		vj_jb_raw(b, esc);
		run = s + 1;
	}
	jb_mem(b, run, (size_t)(s - run));
	jb_mem(b, "\"", 1);
}

void vj_jb_i64(struct vj_jbuf *b, int64_t v)
{
	char num[24], *p = num + sizeof(num);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10));
	if (v < 0)
		*--p = '-';
	value_start(b);
	jb_mem(b, p, (size_t)(num + sizeof(num) - p));
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

	jb_mem(b, "\"", 1);
	for (; s < end; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		switch (c) {
		case '"': snprintf(esc, sizeof(esc), "\\\""); break;
		case '\\': snprintf(esc, sizeof(esc), "\\\\"); break;
		case '\b': snprintf(esc, sizeof(esc), "\\b"); break;
		case '\f': snprintf(esc, sizeof(esc), "\\f"); break;
		case '\n': snprintf(esc, sizeof(esc), "\\n"); break;
		case '\r': snprintf(esc, sizeof(esc), "\\r"); break;
		case '\t': snprintf(esc, sizeof(esc), "\\t"); break;
		case '/':
			if (!(flags & VJ_JSON_SLASH))
				continue;
			snprintf(esc, sizeof(esc), "\\/");
			break;
		default:
			if (c >= 0x20)
				continue;
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		}
		jb_mem(b, run, (size_t)(s - run));
		vj_jb_raw(b, esc);
		run = s + 1;
	}
	jb_mem(b, run, (size_t)(end - run));
	jb_mem(b, "\"", 1);
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
		jb_mem(b, ",", 1);
	if (flags & VJ_JSON_PRETTY) {
		jb_mem(b, "\n", 1);
		tree_indent(b, level + 1);
	} else if (flags & VJ_JSON_SPACED) {
		jb_mem(b, " ", 1);
	}
}

/* After the last member or element (or none): the closing break and @close. */
static void tree_close(struct vj_jbuf *b, char close, unsigned level, unsigned flags)
{
	if (flags & VJ_JSON_PRETTY) {
		jb_mem(b, "\n", 1);
		tree_indent(b, level);
	} else if (flags & VJ_JSON_SPACED) {
		jb_mem(b, " ", 1);
	}
	jb_mem(b, &close, 1);
}

static void tree_value(struct vj_jbuf *b, json_object *o, unsigned level, unsigned flags)
{
	char num[40];
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
		if (i == INT64_MAX) /* or above: a uint64 */
			snprintf(num, sizeof(num), "%" PRIu64, json_object_get_uint64(o));
		else
			snprintf(num, sizeof(num), "%" PRId64, i);
		vj_jb_raw(b, num);
		break;
	}
	case json_type_double: /* only ever parsed: its text as it was written */
		vj_jb_raw(b, json_object_get_string(o));
		break;
	case json_type_string:
		tree_str(b, json_object_get_string(o), (size_t)json_object_get_string_len(o), flags);
		break;
	case json_type_array:
		jb_mem(b, "[", 1);
		for (size_t i = 0; i < json_object_array_length(o) && !b->oom; i++, first = false) {
			tree_sep(b, first, level, flags);
			tree_value(b, json_object_array_get_idx(o, i), level + 1, flags);
		}
		tree_close(b, ']', level, flags);
		break;
	case json_type_object:
		jb_mem(b, "{", 1);
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
