/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vj_spec_set_flag with any flags and values, then vj_spec_finish.  The input
 * is one flag a line: "flag=value", or "flag" alone for a flag without a value
 * (NULL), as the CLI passes them.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size), *line = text, *next;
	struct vj_spec *spec = vj_spec_new();
	struct vj_error *err = NULL;
	int r = 0;

	FUZZ_ASSERT(spec);
	for (; line && r == 0; line = next) {
		char *eq;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		eq = strchr(line, '=');
		if (eq)
			*eq++ = '\0';
		r = vj_spec_set_flag(spec, line, eq, &err);
		FUZZ_ASSERT((r == 0) == (err == NULL));
	}
	if (r == 0) {
		r = vj_spec_finish(spec, &err);
		FUZZ_ASSERT((r == 0) == (err == NULL));
		if (r == 0)
			FUZZ_ASSERT(spec->name && spec->uid != 0 && spec->gid != 0);
	}
	if (err)
		FUZZ_ASSERT(err->object != NULL);
	vj_spec_free(spec);
	fuzz_consume_error(err);
	free(text);
	return 0;
}
