/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vj_spec_from_libvirt on any text, on the fixture host tests/fixtures/libvirt/host:
 * a spec whose JSON the spec parser reads back to the same spec, or an error
 * naming the element or field.
 */
#include "fuzz.h"

#ifndef VJ_FIXTURE_HOST
#error "VJ_FIXTURE_HOST: tests/fuzz/meson.build defines it"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vj_domxml_opts o = {
		.user = "64055", /* numbers: no passwd lookup per input */
		.group = "107",
		.roots = { .sysfs = VJ_FIXTURE_HOST "/sys", .dev = VJ_FIXTURE_HOST "/dev" },
	};
	struct vj_spec *spec = NULL, *again = NULL;
	struct vj_error *err = NULL;
	char *json = NULL;
	int r = vj_spec_from_libvirt((const char *)data, size, &o, &spec, &json, &err);

	FUZZ_ASSERT((r == 0) == (err == NULL));
	FUZZ_ASSERT((r == 0) == (spec != NULL));
	FUZZ_ASSERT((r == 0) == (json != NULL));
	if (r == 0) {
		/* What derive prints is a spec: the same one, read back. */
		FUZZ_ASSERT(vj_spec_parse_string(json, &again, NULL) == 0);
		FUZZ_ASSERT(strcmp(again->name, spec->name) == 0);
		FUZZ_ASSERT(again->memory == spec->memory);
		FUZZ_ASSERT(again->n_hostdevs == spec->n_hostdevs);
		FUZZ_ASSERT(again->n_devices == spec->n_devices);
		for (size_t i = 0; i < spec->n_devices; i++) {
			/* A node found in the fixture's dev tree: never a symlink's path. */
			FUZZ_ASSERT(!strncmp(spec->devices[i].path, "/dev/", 5));
			FUZZ_ASSERT(strcmp(again->devices[i].path, spec->devices[i].path) == 0);
			FUZZ_ASSERT(again->devices[i].access == spec->devices[i].access);
		}
		vj_spec_free(again);
	} else {
		FUZZ_ASSERT(err->object != NULL);
		FUZZ_ASSERT(err->status == VJ_EXIT_USAGE || err->status == VJ_EXIT_SETUP);
	}
	vj_spec_free(spec);
	free(json);
	fuzz_consume_error(err);
	return 0;
}
