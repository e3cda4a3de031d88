/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the unit tests (tests/test_*.c) share: one copy of each helper.
 *
 * Static inline functions in a header rather than a tests/testlib.c: each unit
 * test is a single translation unit, so a header needs no change to how
 * tests/meson.build builds them, and a static inline function that one test does
 * not use draws no -Wunused-function (the build is -Werror).
 *
 * Include it instead of <setjmp.h>, <stdarg.h>, <stddef.h> and <cmocka.h>.
 */
#ifndef VFIOJAIL_TESTLIB_H
#define VFIOJAIL_TESTLIB_H

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"

/* ---- skipping ------------------------------------------------------------ */

/* Skip the test unless it runs as root. */
static inline void require_root(void)
{
	if (geteuid() != 0)
		skip();
}

/* The fixture a root-only setup made, or skip: setup leaves it NULL when not root. */
static inline void *fixture_or_skip(void **state)
{
	if (geteuid() != 0 || !*state)
		skip();
	return *state;
}

/* ---- forked children ------------------------------------------------------- */

/* cmocka's asserts longjmp, which a forked child cannot do: a child checks with
 * CHILD_CHECK, which says what failed and exits 1. */
#define CHILD_CHECK(cond)                                                               \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "%s:%d: child check failed: %s (errno %d)\n",   \
				__FILE__, __LINE__, #cond, errno);                      \
			_exit(1);                                                       \
		}                                                                       \
	} while (0)

/* Run fn(arg) in a forked child (its own limits, ids, namespaces); the child must
 * exit 0, which it does when fn returns. */
static inline void run_in_child(void (*fn)(void *), void *arg)
{
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- paths and files ------------------------------------------------------- */

/* A path (or any string) from a printf format; the caller frees it. */
static inline char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *pathf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	return s;
}

/* A new empty directory /tmp/@name-XXXXXX; the caller removes and frees it. */
static inline char *temp_dir(const char *name)
{
	char *dir = pathf("/tmp/%s-XXXXXX", name);

	assert_non_null(mkdtemp(dir));
	return dir;
}

static inline int testlib_rm_entry(const char *path, const struct stat *st, int flag,
				   struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0) {
		fprintf(stderr, "cannot remove %s: %m\n", path);
		return 0; /* remove what else we can; the root's removal then fails */
	}
	return 0;
}

/* Remove @dir and everything under it (not following symlinks, not crossing into
 * what another test mounted there: that fails and is reported).  0 when @dir is
 * gone (or was NULL or empty), -1 otherwise. */
static inline int rm_tree(const char *dir)
{
	struct stat st;

	if (!dir || !*dir)
		return 0;
	nftw(dir, testlib_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return lstat(dir, &st) == 0 ? -1 : 0;
}

/* Create (or truncate) @path holding @text. */
static inline void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* The value of "Key:" in /proc/self/status, tabs turned into spaces, trimmed; NULL
 * when there is no such line.  The caller frees it. */
static inline char *status_field(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	size_t klen = strlen(key);
	char line[4096];
	char *val = NULL;

	if (!f)
		return NULL;
	while (!val && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) != 0 || line[klen] != ':')
			continue;
		char *v = line + klen + 1;
		for (char *p = v; *p; p++)
			if (*p == '\t')
				*p = ' ';
		v += strspn(v, " ");
		size_t len = strcspn(v, "\n");
		while (len > 0 && v[len - 1] == ' ')
			len--;
		v[len] = '\0';
		val = strdup(v);
	}
	fclose(f);
	return val;
}

/* ---- assertions ------------------------------------------------------------ */

/* @haystack (which may be NULL) contains @needle. */
#define assert_contains(haystack, needle) testlib_assert_contains((haystack), (needle), __FILE__, __LINE__)
static inline void testlib_assert_contains(const char *haystack, const char *needle,
					   const char *file, int line)
{
	if (!haystack || !strstr(haystack, needle))
		fail_msg("%s:%d: \"%s\" does not contain \"%s\"", file, line,
			 haystack ? haystack : "(null)", needle);
}

/* An error of @step with exit status @status, whose object names @object_part. */
static inline void assert_error_of(const struct vj_error *err, int status, const char *step,
				   const char *object_part)
{
	assert_non_null(err);
	assert_int_equal(err->status, status);
	assert_string_equal(err->step, step);
	assert_non_null(err->object);
	assert_contains(err->object, object_part);
	assert_non_null(err->message);
}

#endif
