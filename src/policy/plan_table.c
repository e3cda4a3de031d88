/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The table `plan` prints without --json, walked from the plan's field table
 * (plan_fields.h): each record's shown members in their cells' order, each
 * list under its heading.  What a member looks like is its row's cell.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan_fields.h"
#include "util.h"

/* @tmpl with @v where its "%s" or "%-Ns" stands (the only forms the cells use). */
static void put(FILE *out, const char *tmpl, const char *v)
{
	const char *p = strchr(tmpl, '%');
	bool left;
	int width = 0;

	if (!p) {
		fputs(tmpl, out);
		return;
	}
	fwrite(tmpl, 1, (size_t)(p - tmpl), out);
	left = *++p == '-';
	p += left;
	while (*p >= '0' && *p <= '9')
		width = width * 10 + (*p++ - '0');
	fprintf(out, left ? "%-*s" : "%*s", width, v);
	fputs(p + (*p == 's'), out);
}

/* The value's text, for put: NULL without memory. */
static char *cell_text(const void *rec, const struct vj_field *f)
{
	char *s = NULL;
	size_t n;
	FILE *m = open_memstream(&s, &n);
	int r;

	if (!m)
		return NULL;
	r = vj_plan_cell_text(m, rec, f);
	if (fclose(m) != 0 || r < 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* The fields of @r in their cells' order: the next after @after, or NULL. */
static const struct vj_field *next_shown(const struct vj_record *r, unsigned after)
{
	const struct vj_field *best = NULL;

	for (size_t i = 0; i < r->n; i++) {
		unsigned pos = r->fields[i].cell.pos;
		if (pos > after && (!best || pos < best->cell.pos))
			best = &r->fields[i];
	}
	return best;
}

static int show_record(FILE *out, const void *rec, const struct vj_record *r);

static int show_list(FILE *out, const void *rec, const struct vj_field *f)
{
	const struct vj_record *sub = f->sub;
	const char *items = *VJ_CAT(rec, f->off, char *);
	size_t n = *VJ_CAT(rec, f->n_off, size_t);
	const struct vj_field *c;

	/* The label row, framed as an item, when the items have labels. */
	c = next_shown(sub, 0);
	if (c && c->cell.label) {
		fputs(sub->first ? sub->first : "", out);
		for (; c; c = next_shown(sub, c->cell.pos))
			put(out, c->cell.tmpl, c->cell.label);
		fputs(sub->end ? sub->end : "", out);
	}
	for (size_t i = 0; i < n; i++) {
		fputs(i ? (sub->sep ? sub->sep : "") : (sub->first ? sub->first : ""), out);
		if (show_record(out, items + i * sub->size, sub) < 0)
			return -1;
		fputs(sub->end ? sub->end : "", out);
	}
	return 0;
}

static int show_field(FILE *out, const void *rec, const struct vj_field *f)
{
	_cleanup_free_ char *text = NULL;
	size_t n = f->n_off ? *VJ_CAT(rec, f->n_off, size_t) : 0;

	if ((f->cell.flags & C_IF_ANY) && !n)
		return 0;
	if ((f->cell.flags & C_IF_SET) && !*VJ_CAT(rec, f->off, char *))
		return 0;
	if (!(text = cell_text(rec, f)))
		return -ENOMEM;
	put(out, f->cell.tmpl, text);
	switch (f->kind) {
	case K_LIST:
		return show_list(out, rec, f);
	case K_STRS:
		for (size_t i = 0; i < n; i++)
			put(out, f->cell.item, (*VJ_CAT(rec, f->off, char **))[i]);
		return 0;
	case K_REC:
		return show_record(out, VJ_CAT(rec, f->off, char), f->sub);
	default:
		return 0;
	}
}

static int show_record(FILE *out, const void *rec, const struct vj_record *r)
{
	for (const struct vj_field *f = next_shown(r, 0); f; f = next_shown(r, f->cell.pos))
		if (show_field(out, rec, f) < 0)
			return -ENOMEM;
	return 0;
}

int vj_plan_print_table(const struct vj_plan *p, FILE *f)
{
	int r = show_record(f, p, &vj_plan_record);

	return r < 0 ? r : ferror(f) ? -EIO : 0;
}
