/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "size.h"
#include "testlib.h"
#include "vfiojail/vfiojail.h"

#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)

static void test_valid_sizes(void **state)
{
	static const struct {
		const char *in;
		uint64_t bytes;
	} cases[] = {
		{ "0", 0 },
		{ "1", 1 },
		{ "1073741824", GiB },
		{ "007M", UINT64_C(7) << 20 },
		{ "32GiB", 32 * GiB },
		{ "32 GiB", 32 * GiB },
		{ "32gib", 32 * GiB },
		{ "32G", 32 * GiB },
		{ "32g", 32 * GiB },
		{ "512M", UINT64_C(512) << 20 },
		{ "512MiB", UINT64_C(512) << 20 },
		{ "4k", 4096 },
		{ "4K", 4096 },
		{ "4 KiB", 4096 },
		{ "100B", 100 },
		{ "100b", 100 },
		{ "2T", 2 * TiB },
		{ "2TiB", 2 * TiB },
		/* Largest values per unit: 2^64 - 2^shift. */
		{ "18446744073709551615", UINT64_MAX },
		{ "18446744073709551615B", UINT64_MAX },
		{ "18014398509481983KiB", UINT64_MAX - 1023 },
		{ "17592186044415M", UINT64_MAX - ((UINT64_C(1) << 20) - 1) },
		{ "17179869183GiB", UINT64_MAX - (GiB - 1) },
		{ "16777215TiB", UINT64_MAX - (TiB - 1) },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vj_error *err = NULL;
		uint64_t v = 12345;
		int r = vj_parse_size(cases[i].in, &v, "memory", &err);
		if (r != 0 || err)
			fail_msg("%s: unexpected error: %s", cases[i].in,
				 err && err->message ? err->message : "?");
		if (v != cases[i].bytes)
			fail_msg("%s: got %llu, want %llu", cases[i].in, (unsigned long long)v,
				 (unsigned long long)cases[i].bytes);
	}
}

static void test_invalid_sizes(void **state)
{
	static const struct {
		const char *in;
		const char *needle; /* in the message besides the quoted value */
	} cases[] = {
		{ "", "empty" },
		{ "-1", "negative" },
		{ "-1G", "negative" },
		{ "+1", "(bytes or KiB/MiB/GiB/TiB)" },
		{ "1.5G", "fractions" },
		{ "1,5G", "fractions" },
		{ "12XB", "(bytes or KiB/MiB/GiB/TiB)" },
		{ "1GB", "binary units only" },
		{ "1gb", "binary units only" },
		{ "1KB", "binary units only" },
		{ "1MB", "binary units only" },
		{ "1TB", "binary units only" },
		{ "1PB", "binary units only" },
		{ "1PiB", "(bytes or KiB/MiB/GiB/TiB)" },
		{ "16383PiB", "(bytes or KiB/MiB/GiB/TiB)" },
		{ "1P", "(bytes or KiB/MiB/GiB/TiB)" },
		{ "1E", "(bytes or KiB/MiB/GiB/TiB)" },
		{ "1Gi", "(bytes or KiB/MiB/GiB/TiB)" },
		{ "1iB", "(bytes or KiB/MiB/GiB/TiB)" },
		{ " 1G", "start with a digit" },
		{ "1G ", "(bytes or KiB/MiB/GiB/TiB)" },
		{ "1 ", "(bytes or KiB/MiB/GiB/TiB)" },
		{ "1  G", "(bytes or KiB/MiB/GiB/TiB)" },
		{ "0x10", "(bytes or KiB/MiB/GiB/TiB)" },
		{ "G", "start with a digit" },
		{ "1G1", "(bytes or KiB/MiB/GiB/TiB)" },
		{ "18446744073709551616", "too large" },
		{ "99999999999999999999", "too large" },
		{ "18014398509481984KiB", "too large" },
		{ "17592186044416M", "too large" },
		{ "17179869184GiB", "too large" },
		{ "16777216TiB", "too large" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vj_error *err = NULL;
		uint64_t v = 12345;
		char quoted[64];
		int r = vj_parse_size(cases[i].in, &v, "memlock.extra", &err);

		snprintf(quoted, sizeof(quoted), "\"%s\"", cases[i].in);
		if (r >= 0 || !err)
			fail_msg("%s: accepted as %llu", cases[i].in, (unsigned long long)v);
		assert_int_equal(v, 12345);
		assert_int_equal(err->status, VJ_EXIT_USAGE);
		assert_string_equal(err->step, "spec");
		assert_string_equal(err->object, "memlock.extra");
		if (!strstr(err->message, quoted) || !strstr(err->message, cases[i].needle))
			fail_msg("%s: message \"%s\" lacks %s or %s", cases[i].in, err->message,
				 quoted, cases[i].needle);
		vj_error_free(err);
	}
}

static void test_error_message_exact(void **state)
{
	struct vj_error *err = NULL;
	uint64_t v;

	assert_int_equal(vj_parse_size("12XB", &v, "memory", &err), -1);
	assert_string_equal(err->message, "\"12XB\" is not a size (bytes or KiB/MiB/GiB/TiB)");
	vj_error_free(err);
}

static void test_control_chars_escaped(void **state)
{
	struct vj_error *err = NULL;
	uint64_t v;

	assert_int_equal(vj_parse_size("1\tG", &v, "memory", &err), -1);
	assert_contains(err->message, "\"1\\x09G\"");
	vj_error_free(err);
}

static void test_format(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *text;
	} cases[] = {
		{ 0, "0B" },
		{ 1000, "1000B" },
		{ 1536, "1536B" },
		{ 1024, "1KiB" },
		{ 3 << 20, "3MiB" },
		{ UINT64_C(34359738368), "32GiB" },
		{ 5 * TiB, "5TiB" },
		{ 1024 * TiB, "1024TiB" },
		{ GiB + 1024, "1048577KiB" },
		{ UINT64_MAX, "18446744073709551615B" },
		{ UINT64_MAX - (TiB - 1), "16777215TiB" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];
		struct vj_error *err = NULL;
		uint64_t back = 0;

		vj_size_format(cases[i].bytes, buf);
		assert_string_equal(buf, cases[i].text);
		/* What we print, we parse back to the same bytes. */
		assert_int_equal(vj_parse_size(buf, &back, "size", &err), 0);
		assert_true(back == cases[i].bytes);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_sizes),
		cmocka_unit_test(test_invalid_sizes),
		cmocka_unit_test(test_error_message_exact),
		cmocka_unit_test(test_control_chars_escaped),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
