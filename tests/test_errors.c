/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The error convention of the public API: passing err = NULL is always safe.
 * Each call is driven onto an error path (a name whose lock another process
 * holds, a jail that does not exist, a spec the host cannot give) with err =
 * NULL, and must return its failure without dereferencing it; the same call
 * with an error pointer says what went wrong.  A regression test for the gc
 * crash: a teardown whose lock was busy dereferenced a NULL err.
 */
#include <fcntl.h>
#include <sys/file.h>

#include "testlib.h"
#include "vfiojail/vfiojail.h"

struct env {
	char *dir;
	struct vj_run_opts o;
	int lock_fd;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->dir = temp_dir("vfiojail-errors");
	assert_int_equal(chmod(e->dir, 0700), 0);
	e->o.state_dir = e->dir;
	e->lock_fd = -1;
	*state = e;
	return 0;
}

static int teardown_env(void **state)
{
	struct env *e = *state;

	if (e->lock_fd >= 0)
		close(e->lock_fd);
	assert_int_equal(rm_tree(e->dir), 0);
	free(e->dir);
	free(e);
	return 0;
}

/* Another vfiojail holds VM vm1's lock. */
static void hold_lock(struct env *e)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/vm1.lock", e->dir);
	e->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(e->lock_fd >= 0);
	assert_int_equal(flock(e->lock_fd, LOCK_EX | LOCK_NB), 0);
}

static void test_teardown_busy_lock_null_err(void **state)
{
	struct env *e = *state;
	struct vj_error *err = NULL;

	hold_lock(e);
	/* The crash: vj_gc passes NULL after a first failure, and the lock is busy. */
	assert_int_equal(vj_teardown("vm1", &e->o, false, NULL), -1);
	assert_int_equal(vj_teardown("vm1", &e->o, false, &err), -1);
	assert_non_null(err);
	assert_contains(err->message, "lock");
	vj_error_free(err);
}

static void test_missing_jail_null_err(void **state)
{
	struct env *e = *state;
	const char *const devs[] = { "/dev/null" };
	struct vj_hotplug h = { .devices = devs, .n_devices = 1 };
	struct vj_status *st = NULL;
	char *argv[] = { "/bin/true", NULL };
	struct vj_run_opts o = e->o;
	char **removed = NULL;
	size_t n = 1;

	o.argv = argv;
	assert_int_equal(vj_status_get("vm1", &e->o, &st, NULL), -1);
	assert_null(st);
	assert_int_equal(vj_attach("vm1", &h, &e->o, NULL), -1);
	assert_int_equal(vj_detach("vm1", &h, &e->o, NULL), -1);
	assert_int_equal(vj_enter("vm1", &o, NULL), -1);
	assert_int_equal(vj_teardown("vm1", &e->o, false, NULL), 0); /* nothing to remove */
	assert_int_equal(vj_gc(&e->o, &removed, &n, NULL), 0);
	assert_int_equal(n, 0);
	free(removed);
}

static void test_bad_input_null_err(void **state)
{
	struct env *e = *state;
	struct vj_spec *spec = NULL;
	char *argv[] = { "/bin/true", NULL };
	struct vj_run_opts o = e->o;

	o.argv = argv;
	assert_int_equal(vj_spec_parse_string("{", &spec, NULL), -1);
	assert_int_equal(vj_spec_parse_string("{ \"name\": \"a/b\", \"user\": \"nobody\" }", &spec, NULL), -1);
	assert_int_equal(vj_validate_name("", "name", NULL), -1);
	/* A hostdev this host does not have: run and setup fail before changing anything. */
	assert_int_equal(vj_spec_parse_string("{ \"name\": \"vm1\", \"user\": \"nobody\", \"memory\": \"1GiB\","
					      " \"hostdevs\": [ { \"pci\": \"0000:ff:1f.7\" } ] }",
					      &spec, NULL), 0);
	assert_int_equal(vj_run(spec, &o, NULL), -1);
	assert_int_equal(vj_setup(spec, &o, NULL), -1);
	vj_spec_free(spec);
	assert_int_equal(vj_launch("vm1", "/nonexistent/socket", &o, NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_teardown_busy_lock_null_err, setup, teardown_env),
		cmocka_unit_test_setup_teardown(test_missing_jail_null_err, setup, teardown_env),
		cmocka_unit_test_setup_teardown(test_bad_input_null_err, setup, teardown_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
