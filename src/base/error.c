/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "quote.h"
#include "util.h"

static char *xstrdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static struct vj_error *error_newv(int status, int errnum, const char *step, const char *object,
				   const char *hint, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));
static struct vj_error *error_newv(int status, int errnum, const char *step, const char *object,
				   const char *hint, const char *fmt, va_list ap)
{
	struct vj_error *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->status = status;
	e->errnum = errnum;
	e->step = xstrdup_or_null(step);
	e->object = xstrdup_or_null(object);
	e->hint = xstrdup_or_null(hint);
	if (vasprintf(&e->message, fmt, ap) < 0)
		e->message = NULL;
	return e;
}

int vj_err(struct vj_error **err, int status, int errnum, const char *step, const char *object,
	   const char *hint, const char *fmt, ...)
{
	va_list ap;

	if (!err || *err)
		return -1;
	va_start(ap, fmt);
	*err = error_newv(status, errnum, step, object, hint, fmt, ap);
	va_end(ap);
	return -1;
}

int vj_err_wrap(struct vj_error **err, const char *step, const char *object, const char *fmt, ...)
{
	struct vj_error *outer;
	va_list ap;

	if (!err || !*err)
		return -1;
	va_start(ap, fmt);
	outer = error_newv((*err)->status, 0, step, object, NULL, fmt, ap);
	va_end(ap);
	if (!outer)
		return -1;
	outer->cause = *err;
	*err = outer;
	return -1;
}

int vj_err_pass(struct vj_error **err, struct vj_error *e)
{
	if (err && !*err)
		*err = e;
	else
		vj_error_free(e);
	return -1;
}

void vj_error_free(struct vj_error *err)
{
	while (err) {
		struct vj_error *cause = err->cause;
		free(err->step);
		free(err->object);
		free(err->message);
		free(err->hint);
		free(err);
		err = cause;
	}
}

/* @s with each control character (a VM name's, in a message) written \xHH. */
static void put_safe(const char *s, FILE *f)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static void print_one(const struct vj_error *e, FILE *f, const char *prefix)
{
	char shown[VJ_NAME_SHOWN_MAX];

	fputs(prefix, f);
	if (e->step)
		fprintf(f, "%s: ", e->step);
	/* The object may be a VM name as given, which may hold control characters. */
	if (e->object)
		fprintf(f, "%s: ", vj_name_shown(e->object, shown));
	put_safe(e->message ? e->message : "out of memory", f);
	if (e->errnum)
		fprintf(f, ": %s", strerror(e->errnum));
	fputc('\n', f);
}

void vj_error_print(const struct vj_error *err, FILE *f)
{
	const struct vj_error *e;
	const char *hint = NULL;

	if (!err) {
		fputs("vfiojail: out of memory\n", f);
		return;
	}
	print_one(err, f, "vfiojail: ");
	for (e = err->cause; e; e = e->cause)
		print_one(e, f, "  caused by: ");
	for (e = err; e; e = e->cause)
		if (e->hint)
			hint = e->hint;
	if (hint) {
		fputs("  hint: ", f);
		put_safe(hint, f);
		fputc('\n', f);
	}
}
