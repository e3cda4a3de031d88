/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One table declares the spec's fields (src/policy/spec.c): the JSON keys and the
 * flags.  The CLI builds its options from it (vj_spec_flag); this test holds the
 * rest to it: every flag is accepted by the CLI, listed by `vfiojail --help` and in
 * vfiojail(1), so a field added to the table and forgotten elsewhere fails here.
 */
#include "testlib.h"

#include "vfiojail/vfiojail.h"

static char *slurp_cmd(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char *buf = NULL;
	size_t cap = 0, len = 0, n;
	char chunk[4096];

	assert_non_null(p);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		buf = realloc(buf, cap = len + n + 1);
		assert_non_null(buf);
		memcpy(buf + len, chunk, n);
		len += n;
	}
	pclose(p);
	if (!buf)
		buf = calloc(1, 1);
	buf[len] = '\0';
	(void)cap;
	return buf;
}

static char *slurp_file(const char *root, const char *rel)
{
	char *path = pathf("%s/%s", root, rel), *cmd = pathf("cat '%s'", path), *text = slurp_cmd(cmd);

	free(path);
	free(cmd);
	assert_true(strlen(text) > 0);
	return text;
}

static void test_table_is_not_empty(void **state)
{
	bool value = false;

	(void)state;
	assert_string_equal(vj_spec_flag(0, &value), "name");
	assert_true(value);
	size_t n = 0;
	while (vj_spec_flag(n, NULL))
		n++;
	assert_true(n >= 17);
	assert_null(vj_spec_flag(n, NULL));
}

static void test_usage_and_man_page_list_every_flag(void **state)
{
	const char *src = getenv("VJ_SOURCE_ROOT"), *build = getenv("VJ_BUILD_ROOT");
	char *cmd, *help, *man;
	bool value;

	(void)state;
	assert_non_null(src);
	assert_non_null(build);
	cmd = pathf("'%s/src/vfiojail' --help", build);
	help = slurp_cmd(cmd);
	man = slurp_file(src, "docs/vfiojail.1");
	for (size_t i = 0; vj_spec_flag(i, &value); i++) {
		const char *flag = vj_spec_flag(i, &value);
		char *dashed = pathf("--%s", flag), *roff = pathf("\\-\\-");
		/* vfiojail(1) writes every "-" as "\-". */
		for (const char *c = flag; *c; c++) {
			char *t = pathf("%s%s", roff, *c == '-' ? "\\-" : (char[]){ *c, 0 });
			free(roff);
			roff = t;
		}
		if (!strstr(help, dashed))
			fail_msg("--help does not list %s", dashed);
		if (!strstr(man, roff))
			fail_msg("vfiojail(1) does not list %s (as %s)", dashed, roff);
		free(dashed);
		free(roff);
	}
	free(cmd);
	free(help);
	free(man);
}

static void test_cli_accepts_every_flag(void **state)
{
	const char *build = getenv("VJ_BUILD_ROOT");
	bool value;

	(void)state;
	/* Every flag reaches the spec: a bad value is the spec's error, not getopt's. */
	for (size_t i = 0; vj_spec_flag(i, &value); i++) {
		const char *flag = vj_spec_flag(i, &value);
		char *cmd = pathf("'%s/src/vfiojail' plan --%s%s 2>&1", build, flag, value ? " @bad@" : "");
		char *out = slurp_cmd(cmd);
		if (strstr(out, "is not known"))
			fail_msg("the CLI does not know --%s: %s", flag, out);
		free(cmd);
		free(out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_is_not_empty),
		cmocka_unit_test(test_usage_and_man_page_list_every_flag),
		cmocka_unit_test(test_cli_accepts_every_flag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
