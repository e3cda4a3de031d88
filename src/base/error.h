/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Errors as values: each carries a step, an object, an errno and a hint. */
#pragma once

#include "vfiojail/vfiojail.h"

/*
 * Store a new error in *err (when err is not NULL and *err is NULL; an error
 * already there is kept, as the first failure is the one worth reporting).
 * Returns -1 so callers can write `return vj_err(err, ...);`.
 * @errnum: errno of the failing call, or 0.  @hint may be NULL.
 */
int vj_err(struct vj_error **err, int status, int errnum, const char *step,
	   const char *object, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* Wrap *err (which must be set) in a new outer error with more context. */
int vj_err_wrap(struct vj_error **err, const char *step, const char *object,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Hand @e (a failure caught in a local, NULL or not) to *err as vj_err stores
 * one: kept when *err is empty, else freed (the first failure stays).  Returns
 * -1 so callers can write `return vj_err_pass(err, e);`. */
int vj_err_pass(struct vj_error **err, struct vj_error *e);

/* Shorthands for the common cases. */
#define vj_err_spec(err, field, ...) \
	vj_err((err), VJ_EXIT_USAGE, 0, "spec", (field), NULL, __VA_ARGS__)
#define vj_err_sys(err, step, object, errnum, hint, ...) \
	vj_err((err), VJ_EXIT_SETUP, (errnum), (step), (object), (hint), __VA_ARGS__)
