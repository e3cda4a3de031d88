/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vj_parse_size on any string; what it accepts formats and parses back to itself. */
#include "fuzz.h"
#include "size.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct vj_error *err = NULL;
	uint64_t v = 0, again = 0;
	char buf[32];
	int r = vj_parse_size(s, &v, "memory", &err);

	FUZZ_ASSERT((r == 0) == (err == NULL));
	if (r == 0) {
		vj_size_format(v, buf);
		FUZZ_ASSERT(vj_parse_size(buf, &again, "memory", &err) == 0);
		FUZZ_ASSERT(again == v);
	} else {
		FUZZ_ASSERT(r < 0 && err->status == VJ_EXIT_USAGE);
	}
	fuzz_consume_error(err);
	free(s);
	return 0;
}
