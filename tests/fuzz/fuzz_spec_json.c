/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vj_spec_parse_string on any text: a spec, or an error naming a field. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct vj_spec *spec = NULL;
	struct vj_error *err = NULL;
	int r = vj_spec_parse_string(s, &spec, &err);

	FUZZ_ASSERT((r == 0) == (err == NULL));
	FUZZ_ASSERT((r == 0) == (spec != NULL));
	if (r == 0) {
		/* What the parser accepted passed every validator. */
		FUZZ_ASSERT(vj_validate_name(spec->name, "name", NULL) == 0);
		FUZZ_ASSERT(spec->uid != 0 && spec->gid != 0);
		for (size_t i = 0; i < spec->n_hostdevs; i++)
			FUZZ_ASSERT(spec->hostdevs[i].backend == VJ_BACKEND_LEGACY ||
				    spec->hostdevs[i].iommufd);
		for (size_t i = 0; i < spec->n_devices; i++)
			FUZZ_ASSERT(!strncmp(spec->devices[i].path, "/dev/", 5) &&
				    !strstr(spec->devices[i].path, "/../"));
	} else {
		FUZZ_ASSERT(err->object != NULL);
	}
	vj_spec_free(spec);
	fuzz_consume_error(err);
	free(s);
	return 0;
}
