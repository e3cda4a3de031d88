/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <string.h>
#include <json-c/json.h>
#include <stdint.h>

#include "jbuf.h"
#include "name.h"
#include "util.h"
#include "testlib.h"
#include "vfiojail/vfiojail.h"

/* @n bytes of @c. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void assert_good_name(const char *name)
{
	struct vj_error *err = NULL;

	if (vj_validate_name(name, "name", &err) != 0)
		fail_msg("%s: %s", name, err->message);
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
	/* What validation refuses has no escape either. */
	errno = 0;
	assert_null(vj_name_escape(name));
	assert_int_equal(errno, EINVAL);
}

static void test_valid_names(void **state)
{
	static const char *const names[] = {
		"a", "gpu-vm-1", "A_b.c-9", "...", ".hidden", "a-", ".", "..", "-", "-x", "--x",
		"lv-b+x", "my vm", "vm-\xc3\xbc-\xe6\x9d\xb1\xe4\xba\xac" /* vm-ü-東京 */,
		"a\\b", "vm:1", "a\tb", "a\nb", "vm\033[31m", "a\177", "caf\xc3\xa9",
		"\xf0\x9f\x92\xbb",         /* U+1F4BB, 4 bytes */
		"\xf4\x8f\xbf\xbf",         /* U+10FFFF, the last */
		"\xed\x9f\xbf",             /* U+D7FF, just below the surrogates */
		"\xee\x80\x80",             /* U+E000, just above them */
		"\xc2\x80", "\xe0\xa0\x80", /* the smallest 2- and 3-byte forms */
		"0123456789012345678901234567890123456789012345678901234567890123", /* 64 */
	};
	char *s;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_good_name(names[i]);
	s = repeat('x', VJ_NAME_MAX_BYTES); /* 200 bytes, its own escape */
	assert_good_name(s);
	free(s);
	s = repeat(' ', 60); /* escape 240 bytes: the most allowed */
	assert_good_name(s);
	free(s);
}

/* The JSON writer: escapes, numbers at their limits, separators, growth past the
 * first buffer, and a json-c tree with and without "\/". */
static void test_jbuf(void **state)
{
	struct vj_jbuf b = { 0 };
	json_object *o;
	char *text, big[10001];

	(void)state;
	vj_jb_open(&b, '{');
	vj_jb_key(&b, "a");
	vj_jb_str(&b, "x\"y\\z\n\x01/");
	vj_jb_key(&b, "n");
	vj_jb_i64(&b, INT64_MIN);
	vj_jb_key(&b, "m");
	vj_jb_i64(&b, -7);
	vj_jb_key(&b, "l");
	vj_jb_open(&b, '[');
	vj_jb_i64(&b, 0);
	vj_jb_bool(&b, true);
	vj_jb_null(&b);
	vj_jb_str(&b, NULL);
	vj_jb_str(&b, "");
	vj_jb_close(&b, ']');
	vj_jb_close(&b, '}');
	assert_false(b.oom);
	assert_string_equal(b.p, "{\"a\":\"x\\\"y\\\\z\\u000a\\u0001/\",\"n\":-9223372036854775808,\"m\":-7,"
				 "\"l\":[0,true,null,null,\"\"]}");
	assert_int_equal(b.len, strlen(b.p));
	free(b.p);

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	b = (struct vj_jbuf){ 0 };
	vj_jb_str(&b, big);
	vj_jb_str(&b, big);
	assert_false(b.oom);
	assert_int_equal(b.len, 2 * (sizeof(big) + 1) + 1);
	assert_int_equal(b.p[0], '"');
	assert_int_equal(b.p[sizeof(big)], '"');
	assert_int_equal(b.p[sizeof(big) + 1], ',');
	assert_int_equal(b.p[b.len - 1], '"');
	free(b.p);

	o = json_object_new_object();
	assert_non_null(o);
	json_object_object_add(o, "s", json_object_new_string("a/b\n\t\x02"));
	json_object_object_add(o, "u", json_object_new_uint64(UINT64_MAX));
	json_object_object_add(o, "i", json_object_new_int64(-5));
	json_object_object_add(o, "e", json_object_new_array());
	text = vj_json_text(o, VJ_JSON_SLASH);
	assert_string_equal(text, "{\"s\":\"a\\/b\\n\\t\\u0002\",\"u\":18446744073709551615,\"i\":-5,\"e\":[]}");
	free(text);
	text = vj_json_text(o, VJ_JSON_SPACED);
	assert_string_equal(text, "{ \"s\": \"a/b\\n\\t\\u0002\", \"u\": 18446744073709551615, \"i\": -5, \"e\": [ ] }");
	free(text);
	json_object_put(o);
}

static void test_invalid_names(void **state)
{
	char *s;

	assert_bad_name("", "\"\" is not a valid name: it is empty");
	assert_bad_name("a/b", "\"a/b\" is not a valid name: \"/\" is not allowed");
	assert_bad_name("/", "\"/\" is not allowed");
	assert_bad_name("../x", "\"/\" is not allowed");
	assert_bad_name("vm/", "\"/\" is not allowed");
	/* Invalid UTF-8: cut short, stray continuation, overlong, surrogate, past U+10FFFF. */
	assert_bad_name("\xc3\x28", "\"\\xc3(\" is not a valid name: it is not valid UTF-8 (at byte 0)");
	assert_bad_name("vm\xc3", "not valid UTF-8 (at byte 2)");
	assert_bad_name("\xe6\x9d", "not valid UTF-8");
	assert_bad_name("a\x80", "not valid UTF-8 (at byte 1)");
	assert_bad_name("\xc0\xaf", "not valid UTF-8");      /* "/" overlong */
	assert_bad_name("\xc1\xbf", "not valid UTF-8");      /* overlong */
	assert_bad_name("\xe0\x80\xaf", "not valid UTF-8");  /* "/" overlong, 3 bytes */
	assert_bad_name("\xf0\x80\x80\xaf", "not valid UTF-8"); /* 4 bytes */
	assert_bad_name("\xed\xa0\x80", "not valid UTF-8");  /* U+D800 */
	assert_bad_name("\xed\xbf\xbf", "not valid UTF-8");  /* U+DFFF */
	assert_bad_name("\xf4\x90\x80\x80", "not valid UTF-8"); /* U+110000 */
	assert_bad_name("\xf5\x80\x80\x80", "not valid UTF-8");
	assert_bad_name("\xff", "not valid UTF-8");
	s = repeat('x', VJ_NAME_MAX_BYTES + 1);
	assert_bad_name(s, "it is 201 bytes long, at most 200 allowed");
	free(s);
	s = repeat('+', 61); /* 61 bytes, its escape 244 */
	assert_bad_name(s, "its escaped form (for file, cgroup and pin names) is 244 bytes long, at most 240 allowed");
	free(s);
	/* Messages quote what they show. */
	assert_bad_name("a/\x01z", "\"a/\\x01z\" is not a valid name");
}

static void test_null_name_and_default_field(void **state)
{
	struct vj_error *err = NULL;

	assert_int_equal(vj_validate_name(NULL, NULL, &err), -1);
	assert_string_equal(err->object, "name");
	assert_int_equal(err->status, VJ_EXIT_USAGE);
	vj_error_free(err);
}

static void assert_escape(const char *name, const char *escaped)
{
	char *e = vj_name_escape(name), *back = NULL;

	assert_non_null(e);
	assert_string_equal(e, escaped);
	assert_int_equal(vj_name_unescape(e, &back), 0);
	assert_string_equal(back, name);
	free(e);
	free(back);
}

static void test_escape(void **state)
{
	/* The names valid before are their own escape: existing state stays readable. */
	assert_escape("vm1", "vm1");
	assert_escape("gpu-vm-1", "gpu-vm-1");
	assert_escape("A_b.c-9", "A_b.c-9");
	assert_escape("a.", "a.");
	assert_escape("-x", "-x");
	assert_escape("-", "-");
	/* Everything else: \xHH, lowercase. */
	assert_escape("lv-b+x", "lv-b\\x2bx");
	assert_escape("my vm", "my\\x20vm");
	assert_escape("a\\b", "a\\x5cb");
	assert_escape("vm:1", "vm\\x3a1");
	assert_escape("a\nb", "a\\x0ab");
	assert_escape("vm\033[31m", "vm\\x1b\\x5b31m");
	assert_escape("a\177", "a\\x7f");
	assert_escape("{}", "\\x7b\\x7d");
	/* A leading "." only: no hidden file, never "." or "..". */
	assert_escape(".", "\\x2e");
	assert_escape("..", "\\x2e.");
	assert_escape("...", "\\x2e..");
	assert_escape(".hidden", "\\x2ehidden");
	/* Non-ASCII characters stay as they are. */
	assert_escape("vm-\xc3\xbc-\xe6\x9d\xb1\xe4\xba\xac", "vm-\xc3\xbc-\xe6\x9d\xb1\xe4\xba\xac");
	assert_escape("caf\xc3\xa9 1", "caf\xc3\xa9\\x201");
	assert_escape("\xf0\x9f\x92\xbb", "\xf0\x9f\x92\xbb");
}

static void test_escape_round_trips(void **state)
{
	char name[4], *e, *back;

	/* Every 1- and 2-byte ASCII name. */
	for (int a = 1; a < 0x80; a++)
		for (int b = 0; b < 0x80; b++) {
			name[0] = (char)a, name[1] = (char)b, name[2] = '\0';
			if (a == '/' || b == '/')
				continue;
			e = vj_name_escape(name);
			assert_non_null(e);
			assert_int_equal(vj_name_unescape(e, &back), 0);
			assert_string_equal(back, name);
			free(e);
			free(back);
		}
}

static void assert_not_canonical(const char *escaped)
{
	char *name = (char *)"unchanged";

	errno = 0;
	if (vj_name_unescape(escaped, &name) == 0)
		fail_msg("%s: unescaped to %s", escaped, name);
	assert_int_equal(errno, EINVAL);
	assert_null(name);
}

static void test_unescape_refuses_non_canonical(void **state)
{
	char *s;

	assert_not_canonical("\\x61");       /* "a" is written a: "\x61.json" is not "a" */
	assert_not_canonical("\\x2d");       /* "-" */
	assert_not_canonical("a\\x2e");      /* a "." after the first byte is kept */
	assert_not_canonical(".x");          /* a leading "." is escaped */
	assert_not_canonical(".");
	assert_not_canonical("..");
	assert_not_canonical("\\x2E");       /* uppercase hex */
	assert_not_canonical("\\X2e");
	assert_not_canonical("lv-b+x");      /* "+" is escaped */
	assert_not_canonical("my vm");
	assert_not_canonical("a:b");         /* ":" too (the pin directory's stand-in for ".") */
	assert_not_canonical("\\xc3\\xbc");  /* non-ASCII bytes are kept as they are */
	assert_not_canonical("\\x00");       /* would end the name */
	assert_not_canonical("\\x2f");       /* "/" */
	assert_not_canonical("a/b");
	assert_not_canonical("\\x2");        /* cut short */
	assert_not_canonical("\\x");
	assert_not_canonical("\\");
	assert_not_canonical("a\\");
	assert_not_canonical("\\x2g");
	assert_not_canonical("\\y2e");
	assert_not_canonical("");
	assert_not_canonical("\xc3\x28");    /* invalid UTF-8 */
	assert_not_canonical("\xc0\xaf");
	s = repeat('x', VJ_NAME_MAX_BYTES + 1);
	assert_not_canonical(s);
	free(s);
	s = repeat('x', 241);
	assert_not_canonical(s);
	free(s);
}

static void test_name_shown(void **state)
{
	char buf[VJ_NAME_SHOWN_MAX];
	char *s;

	assert_string_equal(vj_name_shown("lv-b+x", buf), "lv-b+x");
	assert_string_equal(vj_name_shown("my vm", buf), "my vm");
	assert_string_equal(vj_name_shown("vm-\xc3\xbc", buf), "vm-\xc3\xbc");
	assert_string_equal(vj_name_shown("vm\033[31m", buf), "\"vm\\x1b[31m\"");
	assert_string_equal(vj_name_shown("a\"b\n", buf), "\"a\\\"b\\x0a\"");
	assert_string_equal(vj_name_shown("a\177", buf), "\"a\\x7f\"");
	assert_string_equal(vj_name_shown("\xc2\x9b" "31m", buf), "\"\\xc2\\x9b31m\""); /* C1 CSI */
	assert_string_equal(vj_name_shown(NULL, buf), "(null)");
	/* The longest name, all control characters: quoted whole, not cut. */
	s = repeat('\001', VJ_NAME_MAX_BYTES);
	vj_name_shown(s, buf);
	assert_int_equal(strlen(buf), 4 * VJ_NAME_MAX_BYTES + 2);
	free(s);
	s = repeat('\001', 1000);
	vj_name_shown(s, buf);
	assert_int_equal(strlen(buf), 4 * VJ_NAME_MAX_BYTES + 5);
	assert_string_equal(buf + strlen(buf) - 4, "\"...");
	free(s);
}

/* The printf-free formatters of base/util.c give what printf gave. */
static void test_formatters(void **state)
{
	static const struct { const char *root, *rel, *want; } joins[] = {
		{ NULL, "dev/kvm", "/dev/kvm" }, { "", "/dev/kvm", "/dev/kvm" }, { "/", "//dev", "/dev" },
		{ "/host", "dev", "/host/dev" }, { "/host//", "/dev", "/host/dev" }, { "/h", "", "/h/" },
	};
	const struct vj_rule rules[] = {
		{ .type = 'c', .major = 10, .minor = 200, .access = VJ_ACC_READ | VJ_ACC_WRITE },
		{ .type = 'c', .major = 136, .minor = VJ_RULE_ANY, .access = VJ_ACC_READ | VJ_ACC_WRITE },
		{ .type = 'b', .major = VJ_RULE_ANY, .minor = VJ_RULE_ANY, .access = VJ_ACC_MKNOD },
		{ .type = 1, .major = 4294967294u, .minor = 4294967294u,
		  .access = VJ_ACC_READ | VJ_ACC_WRITE | VJ_ACC_MKNOD },
	};
	const char *const said[] = { "c 10:200 rw", "c 136:* rw", "b *:* m", "? 4294967294:4294967294 rwm" };
	char num[VJ_U64_STR_MAX], buf[VJ_RULE_STR_MAX];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(joins); i++) {
		_cleanup_free_ char *j = vj_path_join(joins[i].root, joins[i].rel);
		assert_string_equal(j, joins[i].want);
	}
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		vj_rule_format(&rules[i], buf);
		assert_string_equal(buf, said[i]);
	}
	assert_string_equal(vj_u64_format(0, num), "0");
	assert_string_equal(vj_u64_format(UINT64_MAX, num), "18446744073709551615");
	_cleanup_free_ char *c = vj_concat("devices", "[", vj_u64_format(12, num), "]", NULL);
	assert_string_equal(c, "devices[12]");
	_cleanup_free_ char *one = vj_concat("x", NULL);
	assert_string_equal(one, "x");
}

/* vj_read_small: a /proc file in one read, and its limits. */
static void test_read_small(void **state)
{
	char buf[4096], tiny[8];
	ssize_t n;

	(void)state;
	n = vj_read_small("/proc/self/limits", buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	assert_non_null(strstr(buf, "Max locked memory"));
	assert_int_equal(vj_read_small("/proc/self/limits", tiny, sizeof(tiny)), -EFBIG);
	assert_int_equal(vj_read_small("/nonexistent/file", buf, sizeof(buf)), -ENOENT);
	n = vj_read_small("/proc/self/stat", buf, sizeof(buf));
	assert_true(n > 0 && strchr(buf, ')') != NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_names),
		cmocka_unit_test(test_formatters),
		cmocka_unit_test(test_read_small),
		cmocka_unit_test(test_jbuf),
		cmocka_unit_test(test_invalid_names),
		cmocka_unit_test(test_null_name_and_default_field),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_round_trips),
		cmocka_unit_test(test_unescape_refuses_non_canonical),
		cmocka_unit_test(test_name_shown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
