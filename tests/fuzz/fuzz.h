/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the libFuzzer targets: the entry point and small input helpers. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfiojail/vfiojail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a NUL-terminated string (cut at its first NUL, as a C caller
 * would see it).  Never NULL: the targets abort on allocation failure. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Print the error (exercising its formatting) where nobody reads it, and free it.
 * Every error must say which step failed. */
static inline void fuzz_consume_error(struct vj_error *err)
{
	static FILE *devnull;

	if (!err)
		return;
	if (!err->step || !err->message)
		abort();
	if (!devnull)
		devnull = fopen("/dev/null", "we");
	if (devnull)
		vj_error_print(err, devnull);
	vj_error_free(err);
}

/* A check on what the code under test returned; a failed one is a finding. */
#define FUZZ_ASSERT(cond)                                                              \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                \
			abort();                                                       \
		}                                                                      \
	} while (0)
