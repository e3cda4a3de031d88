/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The launch child (vj_child_run, VJ_CHILD_EXEC): where its gate runs, what it
 * sees of this process's memory, what comes back when the gate or the exec
 * fails, and the fork it falls back to once this process has a second thread.
 * Needs no root: the child execs /bin/sh.
 */
#include <fcntl.h>
#include <pthread.h>

#include "child.h"
#include "testlib.h"

#if defined(__SANITIZE_ADDRESS__)
#define SHARED_SPAWN 0 /* ASan builds fork (child.c) */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SHARED_SPAWN 0
#else
#define SHARED_SPAWN 1
#endif
#else
#define SHARED_SPAWN 1
#endif

struct job {
	pid_t gate_pid;    /* the pid the gate was given */
	pid_t gate_ran_in; /* getpid() in the gate */
	int gate_calls;
	bool gate_fails;
	const char *exec; /* what fn execs */
	char marker[256]; /* fn's sh writes this file */
};

static int gate(pid_t pid, void *arg, struct vj_error **err)
{
	struct job *j = arg;

	j->gate_pid = pid;
	j->gate_ran_in = getpid();
	j->gate_calls++;
	if (j->gate_fails)
		return vj_err(err, VJ_EXIT_SETUP, ENOSPC, "state", "job.json", NULL, "the gate says no");
	return 0;
}

static int fn(void *arg, int *errfd, struct vj_error **err)
{
	struct job *j = arg;
	char script[320];
	char *argv[] = { (char *)j->exec, "-c", script, NULL };

	(void)errfd;
	snprintf(script, sizeof(script), "echo ran > '%s'", j->marker);
	execv(j->exec, argv);
	return vj_err(err, VJ_EXIT_NOTFOUND, errno, "exec", j->exec, NULL, "cannot execute");
}

static int exit_status(pid_t pid)
{
	int status = -1;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void job_init(struct job *j, const char *exec)
{
	*j = (struct job){ .exec = exec };
	snprintf(j->marker, sizeof(j->marker), "/tmp/vj-test-child.%d", (int)getpid());
	unlink(j->marker);
}

static bool marker_written(const struct job *j)
{
	bool there = access(j->marker, F_OK) == 0;

	unlink(j->marker);
	return there;
}

/* A single-threaded process: the gate runs in the child, with the child's own
 * pid, once, and what it wrote is in our memory; the exec happened before
 * vj_child_run returned; our fds and environ are as they were. */
static void test_exec_gate_in_child(void **state)
{
	struct vj_child c;
	struct vj_error *e = NULL;
	struct job j;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	char *const *env_before = environ;
	const char *path_before = getenv("PATH");

	(void)state;
	job_init(&j, "/bin/sh");
	assert_true(fd >= 0);
	assert_int_equal(vj_child_run(&c, VJ_CHILD_EXEC, gate, fn, &j, "fork", NULL, &e), 0);
	assert_null(e);
	assert_true(c.pid > 0);
	assert_int_equal(j.gate_calls, 1);
	assert_int_equal(j.gate_pid, c.pid);
	if (SHARED_SPAWN)
		assert_int_equal(j.gate_ran_in, c.pid); /* the child's write, seen here */
	else
		assert_int_equal(j.gate_ran_in, getpid());
	assert_int_equal(exit_status(c.pid), 0);
	assert_true(marker_written(&j));
	assert_true(fcntl(fd, F_GETFD) >= 0); /* the child's fd table was its own */
	assert_ptr_equal(environ, env_before);
	assert_ptr_equal(getenv("PATH"), path_before);
	close(fd);
}

/* The gate fails: the child runs nothing, the gate's error comes back, the
 * child is reaped (no pid left to wait for). */
static void test_exec_gate_fails(void **state)
{
	struct vj_child c;
	struct vj_error *e = NULL;
	struct job j;

	(void)state;
	job_init(&j, "/bin/sh");
	j.gate_fails = true;
	assert_int_equal(vj_child_run(&c, VJ_CHILD_EXEC, gate, fn, &j, "fork", NULL, &e), -1);
	assert_non_null(e);
	assert_int_equal(e->status, VJ_EXIT_SETUP);
	assert_int_equal(e->errnum, ENOSPC);
	assert_string_equal(e->object, "job.json");
	assert_string_equal(e->message, "the gate says no");
	assert_int_equal(c.pid, -1);
	assert_int_equal(j.gate_calls, 1);
	assert_false(marker_written(&j));
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* nothing left unreaped */
	assert_int_equal(errno, ECHILD);
	vj_error_free(e);
}

/* The exec fails: the child's error (its status, errno and object) comes back. */
static void test_exec_fails(void **state)
{
	struct vj_child c;
	struct vj_error *e = NULL;
	struct job j;

	(void)state;
	job_init(&j, "/no/such/vmm");
	assert_int_equal(vj_child_run(&c, VJ_CHILD_EXEC, gate, fn, &j, "fork", NULL, &e), -1);
	assert_non_null(e);
	assert_int_equal(e->status, VJ_EXIT_NOTFOUND);
	assert_int_equal(e->errnum, ENOENT);
	assert_string_equal(e->object, "/no/such/vmm");
	assert_int_equal(c.pid, -1);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	vj_error_free(e);
}

static void *sleeper(void *arg)
{
	char b;

	return read(*(int *)arg, &b, 1) < 0 ? NULL : arg;
}

/* Once a second thread exists, the child is a fork: the gate runs here, in the
 * parent, with the child's pid, and the child waits for it.  (Last: a process
 * that ever had a thread is not single-threaded again for glibc.) */
static void test_exec_threaded_forks(void **state)
{
	struct vj_child c;
	struct vj_error *e = NULL;
	struct job j;
	pthread_t t;
	int p[2];

	(void)state;
	job_init(&j, "/bin/sh");
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pthread_create(&t, NULL, sleeper, &p[0]), 0);
	assert_int_equal(vj_child_run(&c, VJ_CHILD_EXEC, gate, fn, &j, "fork", NULL, &e), 0);
	assert_int_equal(j.gate_calls, 1);
	assert_int_equal(j.gate_pid, c.pid);
	assert_int_equal(j.gate_ran_in, getpid());
	assert_int_equal(exit_status(c.pid), 0);
	assert_true(marker_written(&j));
	close(p[1]);
	pthread_join(t, NULL);
	close(p[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_gate_in_child),
		cmocka_unit_test(test_exec_gate_fails),
		cmocka_unit_test(test_exec_fails),
		cmocka_unit_test(test_exec_threaded_forks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
