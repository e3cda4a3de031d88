/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vj_parse_pci_addr on any string; what it accepts has a canonical form that
 * parses back to the same address. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct vj_error *err = NULL;
	struct vj_pci_addr a, b;
	char canon[13];
	int r = vj_parse_pci_addr(s, &a, "pci", &err);

	FUZZ_ASSERT((r == 0) == (err == NULL));
	if (r == 0) {
		FUZZ_ASSERT(strlen(s) == 12 || strlen(s) == 7);
		FUZZ_ASSERT(a.slot <= 0x1f && a.function <= 7);
		vj_pci_addr_format(&a, canon);
		FUZZ_ASSERT(strlen(canon) == 12);
		FUZZ_ASSERT(vj_parse_pci_addr(canon, &b, "pci", &err) == 0);
		FUZZ_ASSERT(a.domain == b.domain && a.bus == b.bus && a.slot == b.slot &&
			    a.function == b.function);
	} else {
		FUZZ_ASSERT(r < 0 && err->status == VJ_EXIT_USAGE);
	}
	fuzz_consume_error(err);
	free(s);
	return 0;
}
