/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vfiojail/vfiojail.h"

static void test_valid_names(void **state)
{
	static const char *const names[] = {
		"a", "gpu-vm-1", "A_b.c-9", "...", ".hidden", "a-",
		"0123456789012345678901234567890123456789012345678901234567890123", /* 64 */
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct vj_error *err = NULL;
		if (vj_validate_name(names[i], "name", &err) != 0)
			fail_msg("%s: %s", names[i], err->message);
	}
}

static void assert_bad_name(const char *name, const char *needle)
{
	struct vj_error *err = NULL;

	if (vj_validate_name(name, "--name", &err) >= 0)
		fail_msg("%s: accepted", name);
	assert_int_equal(err->status, VJ_EXIT_USAGE);
	assert_string_equal(err->step, "spec");
	assert_string_equal(err->object, "--name");
	if (!strstr(err->message, needle))
		fail_msg("message \"%s\" lacks %s", err->message, needle);
	vj_error_free(err);
}

static void test_invalid_names(void **state)
{
	assert_bad_name("", "\"\" is not a valid name: it is empty");
	assert_bad_name(".", "\".\" is not a valid name");
	assert_bad_name("..", "\"..\" is not a valid name");
	/* A jail named "-x" could be made, but teardown, status and enter would read
	 * "-x" as an option: it could never be addressed again. */
	assert_bad_name("-", "it starts with \"-\"");
	assert_bad_name("-x", "\"-x\" is not a valid name: it starts with \"-\"");
	assert_bad_name("01234567890123456789012345678901234567890123456789012345678901234",
			"65 bytes long, at most 64");
	assert_bad_name("a/b", "\"a/b\" is not a valid name: character \"/\" is not allowed");
	assert_bad_name("a b", "character \" \" is not allowed");
	assert_bad_name("vm:1", "character \":\" is not allowed");
	assert_bad_name("a\x01z", "\"a\\x01z\" is not a valid name: character \"\\x01\"");
	assert_bad_name("a\nb", "character \"\\x0a\"");
	assert_bad_name("caf\xc3\xa9", "character \"\\xc3\"");
	assert_bad_name("a\"b", "character \"\\\"\"");
}

static void test_null_name_and_default_field(void **state)
{
	struct vj_error *err = NULL;

	assert_int_equal(vj_validate_name(NULL, NULL, &err), -1);
	assert_string_equal(err->object, "name");
	assert_int_equal(err->status, VJ_EXIT_USAGE);
	vj_error_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_names),
		cmocka_unit_test(test_invalid_names),
		cmocka_unit_test(test_null_name_and_default_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
