/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Root's spec bounds a derived one (src/policy/spec_bound.c): each rule's pass
 * and each refusal, which names the derived field, both values and root's file.
 */
#include "testlib.h"

#include "spec_bound.h"
#include "vfiojail/vfiojail.h"

#define ROOT_FILE "/etc/vfiojail/vm/web1.json"
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

/* Root's: uid 1000, gid 1000, groups 36 and 107, two hostdevs, two devices, 4 GiB. */
static const char root_json[] =
	"{\"name\": \"web1\", \"user\": \"1000\", \"group\": \"1000\", \"groups\": [\"36\", \"107\"],"
	" \"memory\": \"4GiB\","
	" \"hostdevs\": [{\"pci\": \"0000:3b:00.0\"}, {\"pci\": \"0000:3b:00.1\", \"backend\": \"legacy\"}],"
	" \"devices\": [{\"path\": \"/dev/loop7\", \"access\": \"rw\"}, {\"path\": \"/dev/sr0\", \"access\": \"r\"}]}";

static struct vj_spec *parse(const char *json)
{
	struct vj_spec *s = NULL;
	struct vj_error *e = NULL;

	if (vj_spec_parse_string(json, &s, &e) < 0) {
		vj_error_print(e, stderr);
		vj_error_free(e);
		fail_msg("spec does not parse: %s", json);
	}
	return s;
}

/* @derived bounded by root's: 0, or the error (the caller's). */
static int bound(const char *derived_json, bool explicit_user, struct vj_spec **derived, struct vj_error **e)
{
	struct vj_spec *root = parse(root_json);
	int r;

	*derived = parse(derived_json);
	*e = NULL;
	r = vj_spec_bound(*derived, explicit_user, root, ROOT_FILE, e);
	vj_spec_free(root);
	return r;
}

/* A refusal: status 2, @field as its object, each of @words in its message. */
static void refused(const char *derived_json, bool explicit_user, const char *field, const char *const *words)
{
	struct vj_spec *d = NULL;
	struct vj_error *e = NULL;

	assert_int_equal(bound(derived_json, explicit_user, &d, &e), -1);
	assert_non_null(e);
	assert_int_equal(e->status, VJ_EXIT_USAGE);
	assert_string_equal(e->object, field);
	for (; *words; words++)
		if (!strstr(e->message, *words))
			fail_msg("\"%s\" not in \"%s\"", *words, e->message);
	/* Nothing of root's was taken into the refused spec. */
	assert_int_equal(d->uid, 2000);
	vj_error_free(e);
	vj_spec_free(d);
}

static void test_subset_passes_and_takes_roots_principal(void **state)
{
	struct vj_spec *d = NULL;
	struct vj_error *e = NULL;

	(void)state;
	assert_int_equal(bound("{\"name\": \"web1\", \"user\": \"2000\", \"group\": \"2000\", \"memory\": \"2GiB\","
			       " \"hostdevs\": [{\"pci\": \"3b:00.1\", \"backend\": \"legacy\"}],"
			       " \"devices\": [{\"path\": \"/dev/sr0\", \"access\": \"r\"},"
			       " {\"path\": \"/dev/loop7\", \"access\": \"r\"}]}",
			       false, &d, &e), 0);
	assert_null(e);
	assert_int_equal(d->uid, 1000);
	assert_int_equal(d->gid, 1000);
	assert_true(d->groups_set);
	assert_int_equal(d->n_groups, 2);
	assert_int_equal(d->group_ids[0], 36);
	assert_int_equal(d->group_ids[1], 107);
	assert_string_equal(d->user, "1000");
	/* The derived spec's own grants are kept: the VM gets what its XML asks. */
	assert_int_equal(d->memory, 2 * GIB);
	assert_int_equal(d->n_hostdevs, 1);
	assert_int_equal(d->n_devices, 2);
	assert_int_equal(d->devices[1].access, VJ_ACC_READ);
	vj_spec_free(d);
}

static void test_equal_passes(void **state)
{
	struct vj_spec *d = NULL;
	struct vj_error *e = NULL;

	(void)state;
	assert_int_equal(bound(root_json, true, &d, &e), 0);
	assert_null(e);
	vj_spec_free(d);
}

static void test_nothing_asked_passes(void **state)
{
	struct vj_spec *d = NULL;
	struct vj_error *e = NULL;

	(void)state;
	assert_int_equal(bound("{\"name\": \"web1\", \"user\": \"2000\", \"group\": \"2000\"}", false, &d, &e), 0);
	assert_int_equal(d->uid, 1000);
	vj_spec_free(d);
}

static void test_explicit_user_must_agree(void **state)
{
	struct vj_spec *d = NULL;
	struct vj_error *e = NULL;

	(void)state;
	refused("{\"name\": \"web1\", \"user\": \"2000\", \"group\": \"1000\"}", true, "user",
		(const char *const[]){ "uid 2000", "uid 1000", ROOT_FILE, NULL });
	/* The same user and another group. */
	assert_int_equal(bound("{\"name\": \"web1\", \"user\": \"1000\", \"group\": \"2000\"}", true, &d, &e), -1);
	assert_string_equal(e->object, "group");
	assert_non_null(strstr(e->message, "gid 2000"));
	assert_non_null(strstr(e->message, "gid 1000"));
	vj_error_free(e);
	vj_spec_free(d);
	/* Not explicit: root's replaces it. */
	assert_int_equal(bound("{\"name\": \"web1\", \"user\": \"1000\", \"group\": \"2000\"}", false, &d, &e), 0);
	assert_int_equal(d->gid, 1000);
	vj_spec_free(d);
}

static void test_hostdev_not_granted(void **state)
{
	(void)state;
	refused("{\"name\": \"web1\", \"user\": \"2000\", \"group\": \"2000\", \"memory\": \"1GiB\","
		" \"hostdevs\": [{\"pci\": \"0000:3b:00.0\"}, {\"pci\": \"0000:3c:00.1\"}]}",
		false, "hostdevs[1].pci", (const char *const[]){ "0000:3c:00.1", "not granted by " ROOT_FILE, NULL });
}

static void test_hostdev_other_backend(void **state)
{
	(void)state;
	refused("{\"name\": \"web1\", \"user\": \"2000\", \"group\": \"2000\", \"memory\": \"1GiB\","
		" \"hostdevs\": [{\"pci\": \"0000:3b:00.1\"}]}",
		false, "hostdevs[0].backend",
		(const char *const[]){ "0000:3b:00.1", "backend iommufd", "backend legacy", ROOT_FILE, NULL });
}

static void test_device_not_granted(void **state)
{
	(void)state;
	refused("{\"name\": \"web1\", \"user\": \"2000\", \"group\": \"2000\","
		" \"devices\": [{\"path\": \"/dev/loop8\", \"access\": \"rw\"}]}",
		false, "devices[0].path", (const char *const[]){ "/dev/loop8", "not granted by " ROOT_FILE, NULL });
}

static void test_device_more_access(void **state)
{
	(void)state;
	refused("{\"name\": \"web1\", \"user\": \"2000\", \"group\": \"2000\","
		" \"devices\": [{\"path\": \"/dev/loop7\", \"access\": \"rw\"}, {\"path\": \"/dev/sr0\", \"access\": \"rw\"}]}",
		false, "devices[1].access", (const char *const[]){ "/dev/sr0", "\"rw\"", "grants \"r\"", ROOT_FILE, NULL });
}

static void test_memory_more_than_root(void **state)
{
	struct vj_spec *root = parse("{\"name\": \"web1\", \"user\": \"1000\", \"group\": \"1000\"}");
	struct vj_spec *d;
	struct vj_error *e = NULL;

	(void)state;
	refused("{\"name\": \"web1\", \"user\": \"2000\", \"group\": \"2000\", \"memory\": \"8GiB\"}", false, "memory",
		(const char *const[]){ "8589934592", "4294967296", ROOT_FILE, NULL });
	/* Root names no memory: any. */
	d = parse("{\"name\": \"web1\", \"user\": \"2000\", \"group\": \"2000\", \"memory\": \"64GiB\"}");
	assert_int_equal(vj_spec_bound(d, false, root, ROOT_FILE, &e), 0);
	assert_int_equal(d->uid, 1000);
	vj_spec_free(d);
	vj_spec_free(root);
}

static void test_other_name_or_arch(void **state)
{
	(void)state;
	refused("{\"name\": \"web2\", \"user\": \"2000\", \"group\": \"2000\"}", false, "name",
		(const char *const[]){ "\"web2\"", "\"web1\"", ROOT_FILE, NULL });
	/* Only when root names an arch: the root_json names none. */
	struct vj_spec *root = parse("{\"name\": \"web1\", \"user\": \"1000\", \"group\": \"1000\", \"arch\": \"aarch64\"}");
	struct vj_spec *d = parse("{\"name\": \"web1\", \"user\": \"2000\", \"group\": \"2000\", \"arch\": \"x86_64\"}");
	struct vj_error *e = NULL;
	assert_int_equal(vj_spec_bound(d, false, root, ROOT_FILE, &e), -1);
	assert_string_equal(e->object, "arch");
	assert_int_equal(d->uid, 2000);
	vj_error_free(e);
	vj_spec_free(d);
	vj_spec_free(root);
}

/* ---- the plans' memlock ---------------------------------------------------- */

enum lim { UNCHANGED, UNLIMITED, BYTES };

static int plan_bound(enum lim dk, uint64_t db, enum lim rk, uint64_t rb, struct vj_error **e)
{
	struct vj_plan d = { .memlock = { .unchanged = dk == UNCHANGED, .unlimited = dk == UNLIMITED, .bytes = db } };
	struct vj_plan r = { .memlock = { .unchanged = rk == UNCHANGED, .unlimited = rk == UNLIMITED, .bytes = rb } };

	*e = NULL;
	return vj_plan_bound(&d, &r, ROOT_FILE, e);
}

static void test_memlock_passes(void **state)
{
	struct vj_error *e = NULL;

	(void)state;
	assert_int_equal(plan_bound(BYTES, 3 * GIB, BYTES, 5 * GIB, &e), 0);
	assert_int_equal(plan_bound(BYTES, 5 * GIB, BYTES, 5 * GIB, &e), 0);
	assert_int_equal(plan_bound(BYTES, 5 * GIB, UNLIMITED, 0, &e), 0);
	assert_int_equal(plan_bound(UNLIMITED, 0, UNLIMITED, 0, &e), 0);
	/* A derived plan that sets nothing asks for nothing. */
	assert_int_equal(plan_bound(UNCHANGED, 0, UNCHANGED, 0, &e), 0);
	assert_int_equal(plan_bound(UNCHANGED, 0, BYTES, MIB, &e), 0);
	assert_null(e);
}

static void memlock_refused(enum lim dk, uint64_t db, enum lim rk, uint64_t rb, const char *const *words)
{
	struct vj_error *e = NULL;

	assert_int_equal(plan_bound(dk, db, rk, rb, &e), -1);
	assert_int_equal(e->status, VJ_EXIT_USAGE);
	assert_string_equal(e->object, "memlock");
	for (; *words; words++)
		if (!strstr(e->message, *words))
			fail_msg("\"%s\" not in \"%s\"", *words, e->message);
	vj_error_free(e);
}

static void test_memlock_refusals(void **state)
{
	(void)state;
	memlock_refused(BYTES, 9 * GIB, BYTES, 5 * GIB,
			(const char *const[]){ "9216 MiB", "5120 MiB", ROOT_FILE, NULL });
	/* <memoryBacking><locked/>: unlimited needs root's unlimited. */
	memlock_refused(UNLIMITED, 0, BYTES, 5 * GIB, (const char *const[]){ "unlimited", "5120 MiB", NULL });
	memlock_refused(BYTES, MIB, UNCHANGED, 0, (const char *const[]){ "1 MiB", "left unchanged", NULL });
	memlock_refused(UNLIMITED, 0, UNCHANGED, 0, (const char *const[]){ "unlimited", "left unchanged", NULL });
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subset_passes_and_takes_roots_principal),
		cmocka_unit_test(test_equal_passes),
		cmocka_unit_test(test_nothing_asked_passes),
		cmocka_unit_test(test_explicit_user_must_agree),
		cmocka_unit_test(test_hostdev_not_granted),
		cmocka_unit_test(test_hostdev_other_backend),
		cmocka_unit_test(test_device_not_granted),
		cmocka_unit_test(test_device_more_access),
		cmocka_unit_test(test_memory_more_than_root),
		cmocka_unit_test(test_other_name_or_arch),
		cmocka_unit_test(test_memlock_passes),
		cmocka_unit_test(test_memlock_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
