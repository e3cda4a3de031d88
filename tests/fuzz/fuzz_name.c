/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vj_validate_name against the rule written out independently:
 * [A-Za-z0-9_.-]{1,64}, not "." or "..", not starting with "-". */
#include <stdbool.h>

#include "fuzz.h"

static bool oracle(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > 64 || !strcmp(s, ".") || !strcmp(s, "..") || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-",
			    s[i]))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct vj_error *err = NULL;
	int r = vj_validate_name(s, "name", &err);

	FUZZ_ASSERT((r == 0) == oracle(s));
	FUZZ_ASSERT((r == 0) == (err == NULL));
	if (err)
		FUZZ_ASSERT(err->status == VJ_EXIT_USAGE && err->object &&
			    !strcmp(err->object, "name"));
	fuzz_consume_error(err);
	free(s);
	return 0;
}
