/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cgroup v2 on the real kernel (needs root), and mountinfo/cgroup parsing from fake proc roots. */
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/statfs.h>

#include "cgroup.h"
#include "dlib.h"
#include "testlib.h"
#include "util.h"

#define MAX_CHILDREN 4

struct fixture {
	char *root;     /* cgroup2 mount */
	char *path;     /* our test cgroup */
	char *proc;     /* fake proc root (temp dir) */
	pid_t children[MAX_CHILDREN];
	size_t n_children;
};

static unsigned counter;

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	_cleanup_free_ char *self = NULL;
	_cleanup_free_ char *base = NULL;
	struct vj_error *err = NULL;

	if (!fx)
		return -1;
	*state = fx;
	if (vj_cgroup2_root(NULL, &fx->root, &err) < 0 || vj_cgroup_self(NULL, &self, &err) < 0) {
		vj_error_print(err, stderr);
		vj_error_free(err);
		return -1;
	}
	base = vj_path_join(fx->root, self);
	fx->path = vj_strdupf("%s/vfiojail-test-%ld-%u", base, (long)getpid(), counter++);
	return fx->path ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	size_t i;

	for (i = 0; i < fx->n_children; i++) {
		kill(fx->children[i], SIGKILL);
		waitpid(fx->children[i], NULL, 0);
	}
	if (fx->path && access(fx->path, F_OK) == 0) {
		vj_cgroup_kill(fx->path, &err);
		vj_cgroup_remove(fx->path, &err);
		if (err) {
			vj_error_print(err, stderr);
			vj_error_free(err);
		}
	}
	rm_tree(fx->proc);
	free(fx->proc);
	free(fx->root);
	free(fx->path);
	free(fx);
	return 0;
}

/* A child that (optionally) moves itself into @path, reports, then sleeps until killed. */
static pid_t spawn(struct fixture *fx, const char *path)
{
	int p[2];
	pid_t pid;
	char ok = 0;

	assert_true(fx->n_children < MAX_CHILDREN);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vj_error *err = NULL;
		char r = 1;
		if (path && vj_cgroup_enter(path, 0, &err) < 0)
			r = 0;
		if (write(p[1], &r, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	fx->children[fx->n_children++] = pid;
	close(p[1]);
	assert_int_equal(read(p[0], &ok, 1), 1);
	close(p[0]);
	assert_int_equal(ok, 1);
	return pid;
}

static void assert_killed(struct fixture *fx, pid_t pid)
{
	int status = 0;
	size_t i;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	for (i = 0; i < fx->n_children; i++)
		if (fx->children[i] == pid)
			fx->children[i] = fx->children[--fx->n_children];
}

static bool has_pid(const pid_t *pids, size_t n, pid_t pid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

/* A fake proc root whose self/<name> holds @text. */
static void fake_proc(struct fixture *fx, const char *name, const char *text)
{
	_cleanup_free_ char *self = NULL;
	_cleanup_free_ char *file = NULL;

	if (!fx->proc)
		fx->proc = temp_dir("vfiojail-test-proc");
	self = vj_path_join(fx->proc, "self");
	mkdir(self, 0755);
	file = vj_path_join(self, name);
	write_file(file, text);
}

static void assert_cgroup_error(struct vj_error *err, int errnum, const char *object_part)
{
	assert_error_of(err, VJ_EXIT_SETUP, "cgroup", object_part);
	assert_int_equal(err->errnum, errnum);
}

/* ---------------------------------------------------------------------- */

static void test_root_is_cgroup2(void **state)
{
	struct fixture *fx = *state;
	struct statfs st;

	assert_int_equal(statfs(fx->root, &st), 0);
	assert_true(st.f_type == CGROUP2_SUPER_MAGIC);
}

static void test_root_parses_mountinfo_escapes(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	_cleanup_free_ char *root = NULL;

	fake_proc(fx, "cgroup", "0::/\n");
	fake_proc(fx, "mountinfo",
		  "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
		  "50 23 0:50 / /mnt/decoy rw - tmpfs cgroup2 rw\n"
		  "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime shared:5 - cgroup cgroup rw,devices\n"
		  "41 31 0:38 / /run/my\\040cgroup\\134x\\011y rw,relatime shared:9 master:2 - cgroup2 "
		  "cgroup2 rw,nsdelegate\n");
	assert_int_equal(vj_cgroup2_root(fx->proc, &root, &err), 0);
	assert_null(err);
	assert_string_equal(root, "/run/my cgroup\\x\ty");
}

static void test_root_missing_is_an_error(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	char *root = NULL;

	fake_proc(fx, "cgroup", "0::/\n");
	fake_proc(fx, "mountinfo",
		  "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
		  "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n");
	assert_int_equal(vj_cgroup2_root(fx->proc, &root, &err), -1);
	assert_null(root);
	assert_cgroup_error(err, 0, "mountinfo");
	assert_non_null(err->hint);
	vj_error_free(err);
}

/* The cgroup2 mount that counts: visible, and its root covering the caller's cgroup. */
static void expect_mount(struct fixture *fx, const char *self, const char *mountinfo,
			 const char *mount, const char *self_dir)
{
	struct vj_error *err = NULL;
	_cleanup_free_ char *root = NULL, *dir = NULL;
	_cleanup_free_ char *line = vj_strdupf("0::%s\n", self);

	fake_proc(fx, "cgroup", line);
	fake_proc(fx, "mountinfo", mountinfo);
	assert_int_equal(vj_cgroup2_root(fx->proc, &root, &err), 0);
	assert_string_equal(root, mount);
	assert_int_equal(vj_cgroup_self_dir(fx->proc, &dir, &err), 0);
	assert_string_equal(dir, self_dir);
	assert_null(err);
}

static void test_root_skips_hidden_mounts(void **state)
{
	/* A tmpfs mounted later on /sys/fs hides the first cgroup2; one on the same
	 * mount point hides the second; the third is what a path lookup reaches. */
	expect_mount(*state, "/user.slice",
		     "23 1 0:22 / /sys rw - sysfs sysfs rw\n"
		     "30 23 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
		     "31 23 0:27 / /sys/fs rw - tmpfs tmpfs rw\n"
		     "40 1 0:26 / /run/cg rw - cgroup2 cgroup2 rw\n"
		     "41 1 0:28 / /run/cg rw - tmpfs tmpfs rw\n"
		     "42 1 0:26 / /run/cg2 rw - cgroup2 cgroup2 rw\n"
		     "43 1 0:29 / /run/cg2/sub rw - tmpfs tmpfs rw\n",
		     "/run/cg2", "/run/cg2/user.slice");
}

static void test_root_must_cover_the_caller(void **state)
{
	/* A bind of another subtree (Podman, LXC) is skipped; one of the caller's
	 * subtree maps the caller's path below its root. */
	expect_mount(*state, "/user.slice/s",
		     "30 1 0:26 /machine.slice /a rw - cgroup2 cgroup2 rw\n"
		     "31 1 0:26 /user.slicex /x rw - cgroup2 cgroup2 rw\n"
		     "32 1 0:26 /user.slice /c rw - cgroup2 cgroup2 rw\n"
		     "33 1 0:26 / /b rw - cgroup2 cgroup2 rw\n",
		     "/c", "/c/s");
	expect_mount(*state, "/user.slice",
		     "32 1 0:26 /user.slice /c rw - cgroup2 cgroup2 rw\n",
		     "/c", "/c");
}

static void test_root_none_covers_is_an_error(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	char *root = NULL;

	fake_proc(fx, "cgroup", "0::/user.slice\n");
	fake_proc(fx, "mountinfo", "30 1 0:26 /machine.slice /a rw - cgroup2 cgroup2 rw\n");
	assert_int_equal(vj_cgroup2_root(fx->proc, &root, &err), -1);
	assert_null(root);
	assert_cgroup_error(err, 0, "mountinfo");
	assert_contains(err->message, "/user.slice");
	vj_error_free(err);
}

static void test_hybrid_means_v1_mounted(void **state)
{
	struct fixture *fx = *state;

	fake_proc(fx, "cgroup", "0::/\n");
	fake_proc(fx, "mountinfo", "30 1 0:26 / /run/vj-unified rw - cgroup2 cgroup2 rw\n");
	assert_false(vj_cgroup2_hybrid(fx->proc));
	fake_proc(fx, "mountinfo", "30 1 0:26 / /run/vj-unified rw - cgroup2 cgroup2 rw\n"
				   "31 1 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n");
	assert_true(vj_cgroup2_hybrid(fx->proc));
}

static void test_self_parses_unified_line(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	_cleanup_free_ char *self = NULL;
	char *none = NULL;

	fake_proc(fx, "cgroup",
		  "5:devices:/x\n1:name=systemd:/y\n0::/machine.slice/vm 1\n");
	assert_int_equal(vj_cgroup_self(fx->proc, &self, &err), 0);
	assert_string_equal(self, "/machine.slice/vm 1");

	fake_proc(fx, "cgroup", "5:devices:/x\n1:name=systemd:/y\n");
	assert_int_equal(vj_cgroup_self(fx->proc, &none, &err), -1);
	assert_null(none);
	assert_cgroup_error(err, 0, "self/cgroup");
	vj_error_free(err);
}

static void test_self_is_a_cgroup_of_the_root(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	_cleanup_free_ char *self = NULL;
	_cleanup_free_ char *procs = NULL;
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;

	assert_int_equal(vj_cgroup_self(NULL, &self, &err), 0);
	assert_int_equal(self[0], '/');
	procs = vj_strdupf("%s%s", fx->root, strcmp(self, "/") == 0 ? "" : self);
	assert_int_equal(vj_cgroup_pids(procs, &pids, &n, &err), 0);
	assert_true(has_pid(pids, n, getpid()));
}

/* cgroup.procs is read with read(2): lines split across reads, a last line without
 * its newline, an empty file, and a bad line named in the error. */
static void test_pids_parse(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	_cleanup_free_ char *dir = NULL, *text = NULL;
	pid_t *pids = NULL;
	size_t n = 99, len = 0;

	/* 1000 pids: more than one 4096-byte read, so some line is cut between reads. */
	for (int i = 1; i <= 1000; i++) {
		char *more = vj_strdupf("%s%d\n", text ? text : "", 4000000 + i);
		assert_non_null(more);
		free(text);
		text = more;
	}
	len = strlen(text);
	assert_true(len > 4096);
	fake_proc(fx, "cgroup.procs", text);
	dir = vj_path_join(fx->proc, "self");
	assert_int_equal(vj_cgroup_pids(dir, &pids, &n, &err), 0);
	assert_int_equal(n, 1000);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pids[i], 4000001 + (int)i);
	free(pids);

	fake_proc(fx, "cgroup.procs", "12\n34\n5");
	assert_int_equal(vj_cgroup_pids(dir, &pids, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(pids[0], 12);
	assert_int_equal(pids[1], 34);
	assert_int_equal(pids[2], 5);
	free(pids);

	fake_proc(fx, "cgroup.procs", "");
	pids = NULL;
	assert_int_equal(vj_cgroup_pids(dir, &pids, &n, &err), 0);
	assert_int_equal(n, 0);
	free(pids);

	pids = NULL;
	fake_proc(fx, "cgroup.procs", "12\nx7\n");
	assert_int_equal(vj_cgroup_pids(dir, &pids, &n, &err), -1);
	assert_null(pids);
	assert_cgroup_error(err, EINVAL, "cgroup.procs");
	assert_contains(err->message, "bad pid \"x7\"");
	vj_error_free(err);
}

static bool same_dir(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

/* The caller's cgroup is read once per command, and again once the caller moves:
 * vj_cgroup_self_dir follows a child that entered another cgroup. */
static void test_self_dir_follows_a_move(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	int status = 0;
	pid_t pid;

	assert_int_equal(vj_cgroup_create(fx->path, &err), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *before = NULL, *after = NULL, *again = NULL;
		if (vj_cgroup_self_dir(NULL, &before, NULL) < 0 || same_dir(before, fx->path))
			_exit(1);
		if (vj_cgroup_enter(fx->path, 0, NULL) < 0 || vj_cgroup_self_dir(NULL, &after, NULL) < 0)
			_exit(2);
		if (!same_dir(after, fx->path))
			_exit(3);
		vj_cgroup_forget(); /* a new command: read again, the same answer */
		if (vj_cgroup_self_dir(NULL, &again, NULL) < 0 || !same_dir(again, fx->path))
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_create_twice_reports_leftover(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	struct stat st;

	assert_int_equal(vj_cgroup_create(fx->path, &err), 0);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(vj_cgroup_create(fx->path, &err), -1);
	assert_cgroup_error(err, EEXIST, fx->path);
	assert_string_equal(err->object, fx->path);
	assert_contains(err->message, fx->path);
	assert_non_null(err->hint);
	vj_error_free(err);
}

static void test_open_gives_cgroup_dir_fd(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	_cleanup_close_ int fd = -1;
	struct statfs st;
	int bad;

	assert_int_equal(vj_cgroup_create(fx->path, &err), 0);
	fd = vj_cgroup_open(fx->path, &err);
	assert_true(fd >= 0);
	assert_int_equal(fstatfs(fd, &st), 0);
	assert_true(st.f_type == CGROUP2_SUPER_MAGIC);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	assert_int_equal(vj_cgroup_remove(fx->path, &err), 0);
	bad = vj_cgroup_open(fx->path, &err);
	assert_int_equal(bad, -1);
	assert_cgroup_error(err, ENOENT, fx->path);
	vj_error_free(err);
}

static void test_enter_missing_cgroup_fails(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;

	assert_int_equal(vj_cgroup_enter(fx->path, 0, &err), -1);
	assert_cgroup_error(err, ENOENT, fx->path);
	vj_error_free(err);
}

static void test_enter_populated_kill_remove(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 99;
	bool populated = true;
	pid_t self_enter, moved;
	struct stat st;

	assert_int_equal(vj_cgroup_create(fx->path, &err), 0);
	assert_int_equal(vj_cgroup_populated(fx->path, &populated, &err), 0);
	assert_false(populated);
	assert_int_equal(vj_cgroup_pids(fx->path, &pids, &n, &err), 0);
	assert_int_equal(n, 0);
	free(TAKE_PTR(pids));

	self_enter = spawn(fx, fx->path); /* joins by writing 0 */
	moved = spawn(fx, NULL);
	assert_int_equal(vj_cgroup_enter(fx->path, moved, &err), 0);
	assert_null(err);

	assert_int_equal(vj_cgroup_populated(fx->path, &populated, &err), 0);
	assert_true(populated);
	assert_int_equal(vj_cgroup_pids(fx->path, &pids, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_true(has_pid(pids, n, self_enter));
	assert_true(has_pid(pids, n, moved));

	/* Busy while processes live in it: reported after the retry window, not removed. */
	assert_int_equal(vj_cgroup_remove(fx->path, &err), -1);
	assert_cgroup_error(err, EBUSY, fx->path);
	vj_error_free(TAKE_PTR(err));
	assert_int_equal(stat(fx->path, &st), 0);

	assert_int_equal(vj_cgroup_kill(fx->path, &err), 0);
	assert_killed(fx, self_enter);
	assert_killed(fx, moved);
	assert_int_equal(vj_cgroup_remove(fx->path, &err), 0);
	assert_null(err);
	assert_int_equal(stat(fx->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	/* Idempotent. */
	assert_int_equal(vj_cgroup_remove(fx->path, &err), 0);
	assert_null(err);
}

static void test_kill_each_fallback(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 99;
	bool populated = true;
	pid_t a, b;

	assert_int_equal(vj_cgroup_create(fx->path, &err), 0);
	a = spawn(fx, fx->path);
	b = spawn(fx, fx->path);
	assert_int_equal(vj_cgroup_kill_each(fx->path, &err), 0);
	assert_null(err);
	assert_int_equal(vj_cgroup_pids(fx->path, &pids, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_killed(fx, a);
	assert_killed(fx, b);
	assert_int_equal(vj_cgroup_populated(fx->path, &populated, &err), 0);
	assert_false(populated);
	assert_int_equal(vj_cgroup_remove(fx->path, &err), 0);
}

/* On the real /proc the mount may be known without the table (no libmount): the
 * answer is the table's (a proc root of /proc/. reads it). */
static void test_root_known_agrees_with_table(void **state)
{
	struct vj_error *err = NULL;
	_cleanup_free_ char *known = NULL, *table = NULL, *kdir = NULL, *tdir = NULL;

	assert_int_equal(vj_cgroup2_root(NULL, &known, &err), 0);
	assert_int_equal(vj_cgroup2_root("/proc/.", &table, &err), 0);
	assert_string_equal(known, table);
	assert_int_equal(vj_cgroup_self_dir(NULL, &kdir, &err), 0);
	assert_int_equal(vj_cgroup_self_dir("/proc/.", &tdir, &err), 0);
	assert_string_equal(kdir, tdir);
	assert_null(err);
}

/* Libraries loaded on first use: a missing one, or one without a symbol, is an error
 * naming it and the package to install, the same at each call. */
static struct {
	typeof(getpid) *getpid;
	typeof(getppid) *nothing;
} fns;
static const struct vj_dlib_sym fn_syms[] = { VJ_DLIB_SYM(fns, getpid, getpid) };
static const struct vj_dlib_sym bad_syms[] = {
	VJ_DLIB_SYM(fns, getpid, getpid),
	{ "vj_no_such_symbol", (void **)&fns.nothing },
};

static void test_dlib_missing_library(void **state)
{
	struct vj_dlib lib = VJ_DLIB("libvfiojail-test-none.so.9", "vfiojail-test-none", fn_syms);
	struct vj_error *err = NULL;

	for (int i = 0; i < 2; i++) {
		assert_int_equal(vj_dlib_load(&lib, "to test", &err), -1);
		assert_error_of(err, VJ_EXIT_SETUP, "library", "libvfiojail-test-none.so.9");
		assert_contains(err->message, "cannot load libvfiojail-test-none.so.9 to test: ");
		assert_contains(err->hint, "vfiojail-test-none");
		vj_error_free(err);
		err = NULL;
	}
	free(lib.why);
}

static void test_dlib_missing_symbol(void **state)
{
	struct vj_dlib lib = VJ_DLIB("libc.so.6", "libc6", bad_syms);
	struct vj_error *err = NULL;

	assert_int_equal(vj_dlib_load(&lib, NULL, &err), -1);
	assert_error_of(err, VJ_EXIT_SETUP, "library", "libc.so.6");
	assert_contains(err->message, "vj_no_such_symbol");
	vj_error_free(err);
	free(lib.why);
}

static void test_dlib_loads_once(void **state)
{
	struct vj_dlib lib = VJ_DLIB("libc.so.6", "libc6", fn_syms);

	fns.getpid = NULL;
	assert_int_equal(vj_dlib_load(&lib, NULL, NULL), 0);
	assert_non_null(fns.getpid);
	assert_int_equal(fns.getpid(), getpid());
	assert_int_equal(vj_dlib_load(&lib, NULL, NULL), 0);
	assert_null(lib.why);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_root_is_cgroup2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_parses_mountinfo_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_missing_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_skips_hidden_mounts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_must_cover_the_caller, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_none_covers_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hybrid_means_v1_mounted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_known_agrees_with_table, setup, teardown),
		cmocka_unit_test(test_dlib_missing_library),
		cmocka_unit_test(test_dlib_missing_symbol),
		cmocka_unit_test(test_dlib_loads_once),
		cmocka_unit_test_setup_teardown(test_self_parses_unified_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_is_a_cgroup_of_the_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pids_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_dir_follows_a_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_twice_reports_leftover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_gives_cgroup_dir_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enter_missing_cgroup_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enter_populated_kill_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_each_fallback, setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_cgroup needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
