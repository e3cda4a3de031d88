/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "testlib.h"
#include "vfiojail/vfiojail.h"

static void test_valid(void **state)
{
	static const struct {
		const char *in;
		struct vj_pci_addr addr;
		const char *canonical;
	} cases[] = {
		{ "0009:06:00.0", { 0x9, 0x6, 0x0, 0 }, "0009:06:00.0" },
		{ "06:00.0", { 0, 0x6, 0x0, 0 }, "0000:06:00.0" },
		{ "0000:07:00.1", { 0, 0x7, 0x0, 1 }, "0000:07:00.1" },
		{ "ABCD:EF:1F.7", { 0xabcd, 0xef, 0x1f, 7 }, "abcd:ef:1f.7" },
		{ "aBcD:eF:1f.7", { 0xabcd, 0xef, 0x1f, 7 }, "abcd:ef:1f.7" },
		{ "ffff:ff:1f.7", { 0xffff, 0xff, 0x1f, 7 }, "ffff:ff:1f.7" },
		{ "0a:10.3", { 0, 0x0a, 0x10, 3 }, "0000:0a:10.3" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vj_error *err = NULL;
		struct vj_pci_addr a;
		char buf[13];

		if (vj_parse_pci_addr(cases[i].in, &a, "pci", &err) != 0)
			fail_msg("%s: %s", cases[i].in, err->message);
		assert_int_equal(a.domain, cases[i].addr.domain);
		assert_int_equal(a.bus, cases[i].addr.bus);
		assert_int_equal(a.slot, cases[i].addr.slot);
		assert_int_equal(a.function, cases[i].addr.function);
		vj_pci_addr_format(&a, buf);
		assert_string_equal(buf, cases[i].canonical);
	}
}

static void test_invalid(void **state)
{
	static const struct {
		const char *in;
		const char *why;
	} cases[] = {
		{ "0000:07:20.1", "slot must be 00-1f" },
		{ "0000:07:ff.1", "slot must be 00-1f" },
		{ "07:20.0", "slot must be 00-1f" },
		{ "0000:07:00.8", "function must be 0-7" },
		{ "0000:07:00.a", "function must be 0-7" },
		{ "0000:07:00.-", "function must be 0-7" },
		{ "g000:06:00.0", "domain must be 4 hex digits" },
		{ "-001:06:00.0", "domain must be 4 hex digits" },
		{ "0000:0g:00.0", "bus must be 2 hex digits" },
		{ "0000: 6:00.0", "bus must be 2 hex digits" },
		{ "+6:00.0", "bus must be 2 hex digits" },
		{ "0000:06:0g.0", "slot must be 00-1f" },
		{ "000:07:00.1", "expected DDDD:BB:SS.F or BB:SS.F" },
		{ "00000:07:00.1", "expected DDDD:BB:SS.F or BB:SS.F" },
		{ " 06:00.0", "expected DDDD:BB:SS.F or BB:SS.F" },
		{ "06:00.0 ", "expected DDDD:BB:SS.F or BB:SS.F" },
		{ "0x06:00.0", "expected DDDD:BB:SS.F or BB:SS.F" },
		{ "06-00.0", "expected DDDD:BB:SS.F or BB:SS.F" },
		{ "06:00:0", "expected DDDD:BB:SS.F or BB:SS.F" },
		{ "0000-06:00.0", "expected DDDD:BB:SS.F or BB:SS.F" },
		{ "0000:06.00:0", "expected DDDD:BB:SS.F or BB:SS.F" },
		{ "06:00.", "expected DDDD:BB:SS.F or BB:SS.F" },
		{ "", "expected DDDD:BB:SS.F or BB:SS.F" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vj_error *err = NULL;
		struct vj_pci_addr a = { 0x1234, 0x56, 0x7, 1 };
		char want[128];

		if (vj_parse_pci_addr(cases[i].in, &a, "hostdevs[1].pci", &err) >= 0)
			fail_msg("%s: accepted", cases[i].in);
		snprintf(want, sizeof(want), "\"%s\" is not a PCI address: %s", cases[i].in,
			 cases[i].why);
		assert_int_equal(err->status, VJ_EXIT_USAGE);
		assert_string_equal(err->step, "spec");
		assert_string_equal(err->object, "hostdevs[1].pci");
		assert_string_equal(err->message, want);
		assert_int_equal(a.domain, 0x1234); /* untouched on error */
		vj_error_free(err);
	}
}

static void test_newline_escaped(void **state)
{
	struct vj_error *err = NULL;
	struct vj_pci_addr a;

	assert_int_equal(vj_parse_pci_addr("06:00.0\n", &a, "--hostdev", &err), -1);
	assert_string_equal(err->object, "--hostdev");
	assert_contains(err->message, "\"06:00.0\\x0a\"");
	vj_error_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_newline_escaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
