/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "jbuf.h"

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
