/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The jail's /dev: a forked child enters a new mount namespace, builds the
 * /dev into a temporary target from a stand-in host dev root, and stats what
 * it made.  The parent checks that none of it is visible outside.  Needs
 * root; skipped otherwise.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/acl.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include <acl/libacl.h>

#include "mountns.h"
#include "testlib.h"
#include "util.h"

#define NOBODY 65534u
#define HOST_ACL "u::rw-,u:65534:rw-,g::rw-,m::rw-,o::---"

struct fixture {
	char host[64];   /* stand-in dev root */
	char target[64]; /* where the child mounts the new /dev */
	char path[3][PATH_MAX]; /* host paths: null, kvm, evil link */
};

/* ---- fixture ------------------------------------------------------------- */

static void make_host_node(const char *path, mode_t mode, unsigned maj, unsigned min)
{
	assert_int_equal(mknod(path, S_IFCHR | mode, makedev(maj, min)), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state)
{
	struct fixture *f;
	char p[PATH_MAX];
	acl_t acl;
	int fd;

	if (geteuid() != 0)
		return 0; /* each test skips */
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->host, sizeof(f->host), "%s", "/tmp/vj-devroot-XXXXXX");
	snprintf(f->target, sizeof(f->target), "%s", "/tmp/vj-target-XXXXXX");
	assert_non_null(mkdtemp(f->host));
	assert_non_null(mkdtemp(f->target));
	snprintf(f->path[0], PATH_MAX, "%s/null", f->host);
	snprintf(f->path[1], PATH_MAX, "%s/kvm", f->host);
	snprintf(f->path[2], PATH_MAX, "%s/evil", f->host);
	make_host_node(f->path[0], 0666, 1, 3);
	make_host_node(f->path[1], 0660, 10, 232);
	acl = acl_from_text(HOST_ACL);
	assert_non_null(acl);
	assert_int_equal(acl_set_file(f->path[1], ACL_TYPE_ACCESS, acl), 0);
	acl_free(acl);
	assert_int_equal(symlink(f->path[1], f->path[2]), 0); /* planted */
	snprintf(p, sizeof(p), "%s/pts", f->host);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/pts/marker", f->host);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/shm", f->host);
	assert_int_equal(mkdir(p, 01777), 0);
	assert_int_equal(chmod(p, 01777), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	rm_tree(f->host);
	rmdir(f->target); /* fails (and the test has failed) if something was left */
	free(f);
	return 0;
}

/* The target as the parent sees it: still an empty directory, not a mount. */
static void assert_target_untouched(const struct fixture *f)
{
	struct stat st, tmp;
	DIR *d = opendir(f->target);
	struct dirent *de;
	int entries = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			entries++;
	closedir(d);
	assert_int_equal(entries, 0);
	assert_int_equal(stat(f->target, &st), 0);
	assert_int_equal(stat("/tmp", &tmp), 0);
	assert_true(st.st_dev == tmp.st_dev);
}

/* ---- child-side helpers ---------------------------------------------------- */

static void enter_or_die(void)
{
	struct vj_error *err = NULL;

	if (vj_mountns_enter(&err) < 0) {
		vj_error_print(err, stderr);
		_exit(1);
	}
}

static char *tpath(const struct fixture *f, const char *rel)
{
	static char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s/%s", f->target, rel);
	return buf;
}

static int acl_perm_of(acl_t acl, acl_tag_t want_tag, uid_t want_qual)
{
	acl_entry_t e;

	for (int w = ACL_FIRST_ENTRY; acl_get_entry(acl, w, &e) == 1; w = ACL_NEXT_ENTRY) {
		acl_tag_t tag;
		acl_permset_t ps;

		acl_get_tag_type(e, &tag);
		if (tag != want_tag)
			continue;
		if (tag == ACL_USER) {
			uid_t *q = acl_get_qualifier(e);
			bool match = q && *q == want_qual;
			acl_free(q);
			if (!match)
				continue;
		}
		acl_get_permset(e, &ps);
		return (acl_get_perm(ps, ACL_READ) ? 4 : 0) | (acl_get_perm(ps, ACL_WRITE) ? 2 : 0) |
		       (acl_get_perm(ps, ACL_EXECUTE) ? 1 : 0);
	}
	return -1;
}

static bool has_extended_acl(const char *path)
{
	acl_t acl = acl_get_file(path, ACL_TYPE_ACCESS);
	bool ext = acl && acl_equiv_mode(acl, NULL) == 1;

	if (acl)
		acl_free(acl);
	return ext;
}

static bool link_is(const char *path, const char *want)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);

	if (n < 0)
		return false;
	buf[n] = '\0';
	return strcmp(buf, want) == 0;
}

static void check_node(const struct fixture *f, const struct vj_node *n)
{
	struct stat st;

	CHILD_CHECK(lstat(tpath(f, n->path + 5), &st) == 0);
	CHILD_CHECK(n->type == 'c' ? S_ISCHR(st.st_mode) : S_ISBLK(st.st_mode));
	CHILD_CHECK(major(st.st_rdev) == n->major && minor(st.st_rdev) == n->minor);
	CHILD_CHECK(st.st_uid == n->uid && st.st_gid == n->gid);
	CHILD_CHECK((st.st_mode & 07777) == n->mode);
}

static void check_root_dir(const char *path, mode_t mode)
{
	struct stat st;

	CHILD_CHECK(lstat(path, &st) == 0 && S_ISDIR(st.st_mode));
	CHILD_CHECK(st.st_uid == 0 && st.st_gid == 0 && (st.st_mode & 07777) == mode);
}

/* Exactly these names at the top of the new /dev. */
static void check_top_level(const struct fixture *f, const char *const *want, size_t n)
{
	DIR *d = opendir(f->target);
	struct dirent *de;
	size_t seen = 0;

	CHILD_CHECK(d != NULL);
	while ((de = readdir(d))) {
		bool known = false;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		for (size_t i = 0; i < n; i++)
			known |= !strcmp(de->d_name, want[i]);
		if (!known)
			fprintf(stderr, "unexpected entry %s\n", de->d_name);
		CHILD_CHECK(known);
		seen++;
	}
	closedir(d);
	CHILD_CHECK(seen == n);
}

/* ---- the full build ---------------------------------------------------------- */

static struct vj_node plan_nodes[] = {
	{ .path = "/dev/null", .type = 'c', .major = 1, .minor = 3, .mode = 0666,
	  .uid = NOBODY, .gid = NOBODY, .copy_acl = true },
	{ .path = "/dev/kvm", .type = 'c', .major = 10, .minor = 232, .mode = 0640,
	  .uid = NOBODY, .gid = NOBODY, .copy_acl = true },
	{ .path = "/dev/vfio/devices/vfio0", .type = 'c', .major = 240, .minor = 0,
	  .mode = 0600, .uid = NOBODY, .gid = 100 },
	{ .path = "/dev/vfio/vfio", .type = 'c', .major = 10, .minor = 196, .mode = 0600,
	  .uid = NOBODY, .gid = NOBODY },
	{ .path = "/dev/loop7", .type = 'b', .major = 7, .minor = 7, .mode = 0660,
	  .uid = NOBODY, .gid = 6 },
};

static void child_populate(void *arg)
{
	struct fixture *f = arg;
	static const char *const top[] = { "null", "kvm", "vfio", "loop7", "pts", "shm",
					   "fd", "stdin", "stdout", "stderr", "ptmx" };
	struct vj_mountns_opts o = { .dev_root = f->host, .target = f->target };
	struct vj_error *err = NULL;
	struct stat root, st;
	struct statfs sfs;
	struct statvfs svfs;
	acl_t acl;
	int fd;

	plan_nodes[0].host_path = f->path[0];
	plan_nodes[1].host_path = f->path[1];
	enter_or_die();
	if (vj_mountns_populate_dev(plan_nodes, ARRAY_SIZE(plan_nodes), &o, &err) < 0) {
		vj_error_print(err, stderr);
		_exit(1);
	}
	for (size_t i = 0; i < ARRAY_SIZE(plan_nodes); i++)
		check_node(f, &plan_nodes[i]);
	check_top_level(f, top, ARRAY_SIZE(top));

	/* A small tmpfs: nosuid, noexec, but device nodes work. */
	CHILD_CHECK(statfs(f->target, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC);
	CHILD_CHECK(statvfs(f->target, &svfs) == 0);
	CHILD_CHECK((svfs.f_flag & ST_NOSUID) && (svfs.f_flag & ST_NOEXEC));
	CHILD_CHECK(!(svfs.f_flag & ST_NODEV) && !(svfs.f_flag & ST_RDONLY));
	CHILD_CHECK((uint64_t)svfs.f_blocks * svfs.f_frsize <= 1024 * 1024);
	fd = open(tpath(f, "null"), O_WRONLY | O_CLOEXEC);
	CHILD_CHECK(fd >= 0 && write(fd, "x", 1) == 1);
	close(fd);
	check_root_dir(f->target, 0755);
	check_root_dir(tpath(f, "vfio"), 0755);
	check_root_dir(tpath(f, "vfio/devices"), 0755);

	/* kvm got the host's named entry; chmod 0640 capped it with mask r--. */
	acl = acl_get_file(tpath(f, "kvm"), ACL_TYPE_ACCESS);
	CHILD_CHECK(acl != NULL);
	CHILD_CHECK(acl_perm_of(acl, ACL_USER, NOBODY) == 6);
	CHILD_CHECK(acl_perm_of(acl, ACL_MASK, 0) == 4);
	CHILD_CHECK(acl_perm_of(acl, ACL_USER_OBJ, 0) == 6);
	CHILD_CHECK(acl_perm_of(acl, ACL_OTHER, 0) == 0);
	acl_free(acl);
	/* The host null has no extended ACL, vfio0 was not asked to copy one. */
	CHILD_CHECK(!has_extended_acl(tpath(f, "null")));
	CHILD_CHECK(!has_extended_acl(tpath(f, "vfio/devices/vfio0")));

	CHILD_CHECK(link_is(tpath(f, "fd"), "/proc/self/fd"));
	CHILD_CHECK(link_is(tpath(f, "stdin"), "/proc/self/fd/0"));
	CHILD_CHECK(link_is(tpath(f, "stdout"), "/proc/self/fd/1"));
	CHILD_CHECK(link_is(tpath(f, "stderr"), "/proc/self/fd/2"));
	CHILD_CHECK(link_is(tpath(f, "ptmx"), "pts/ptmx"));

	/* pts and shm are the host's, bound in; there was no mqueue to keep. */
	CHILD_CHECK(stat(f->target, &root) == 0);
	CHILD_CHECK(access(tpath(f, "pts/marker"), F_OK) == 0);
	CHILD_CHECK(stat(tpath(f, "pts"), &st) == 0 && st.st_dev != root.st_dev);
	CHILD_CHECK(stat(tpath(f, "shm"), &st) == 0 && st.st_dev != root.st_dev);
	CHILD_CHECK((st.st_mode & 07777) == 01777);
	CHILD_CHECK(lstat(tpath(f, "mqueue"), &st) < 0 && errno == ENOENT);
}

static void test_populate(void **state)
{
	struct fixture *f = fixture_or_skip(state);
	char p[PATH_MAX];
	DIR *d;
	int entries = 0;

	run_in_child(child_populate, f);
	assert_target_untouched(f);
	/* Nothing was created in the host's pts through the bind mount. */
	snprintf(p, sizeof(p), "%s/pts", f->host);
	d = opendir(p);
	assert_non_null(d);
	while (readdir(d))
		entries++;
	closedir(d);
	assert_int_equal(entries, 3); /* ., .., marker */
}

/* ---- refusals ----------------------------------------------------------------- */

/* populate must fail with status 125, step "mountns", object @object. */
static void expect_refused(const struct fixture *f, const struct vj_node *nodes, size_t n,
			   const char *dev_root, const char *object, bool mounted_ok)
{
	struct vj_mountns_opts o = { .dev_root = dev_root, .target = f->target };
	struct vj_error *err = NULL;
	struct stat st, tmp;

	if (vj_mountns_populate_dev(nodes, n, &o, &err) == 0) {
		fprintf(stderr, "populate accepted, expected refusal of %s\n", object);
		_exit(1);
	}
	CHILD_CHECK(err && err->status == 125 && !strcmp(err->step, "mountns"));
	if (!err->object || strcmp(err->object, object) != 0) {
		fprintf(stderr, "object '%s', expected '%s'\n", err->object, object);
		_exit(1);
	}
	vj_error_free(err);
	if (mounted_ok)
		return;
	/* Refused before the target was covered. */
	CHILD_CHECK(stat(f->target, &st) == 0 && stat("/tmp", &tmp) == 0);
	CHILD_CHECK(st.st_dev == tmp.st_dev);
}

static void child_hostile_paths(void *arg)
{
	struct fixture *f = arg;
	static const char *const bad[] = {
		"/dev/../etc/x", "/dev/a/../../b", "/dev/./null", "/dev//null", "/dev/null/",
		"/dev/", "/etc/passwd", "dev/null", "/devx/null", "/dev/pts/evil",
		"/dev/shm/x", "/dev/mqueue/q", "/dev/fd/3", "/dev/stdin", "/dev/ptmx/x",
		"/dev/vfio/..",
	};

	enter_or_die();
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct vj_node nodes[2] = {
			{ .path = "/dev/zero", .type = 'c', .major = 1, .minor = 5, .mode = 0666 },
			{ .path = (char *)bad[i], .type = 'c', .major = 1, .minor = 3, .mode = 0666 },
		};
		expect_refused(f, nodes, 2, f->host, bad[i], false);
	}
}

static void test_refuses_hostile_paths(void **state)
{
	struct fixture *f = fixture_or_skip(state);

	run_in_child(child_hostile_paths, f);
	assert_target_untouched(f);
}

static void child_bad_nodes(void *arg)
{
	struct fixture *f = arg;
	struct vj_node wide = { .path = "/dev/null", .type = 'c', .major = 1, .minor = 3,
				.mode = 04666 };
	struct vj_node pipe = { .path = "/dev/null", .type = 'p', .major = 1, .minor = 3,
				.mode = 0666 };
	struct vj_node big = { .path = "/dev/null", .type = 'c', .major = 4096, .minor = 3,
			       .mode = 0666 };

	enter_or_die();
	expect_refused(f, &wide, 1, f->host, "/dev/null", false);
	expect_refused(f, &pipe, 1, f->host, "/dev/null", false);
	expect_refused(f, &big, 1, f->host, "/dev/null", false);
}

static void test_refuses_bad_nodes(void **state)
{
	struct fixture *f = fixture_or_skip(state);

	run_in_child(child_bad_nodes, f);
	assert_target_untouched(f);
}

/* A node used as a directory, and a path listed twice: found while creating. */
static void child_clashes(void *arg)
{
	struct fixture *f = arg;
	struct vj_node through[2] = {
		{ .path = "/dev/null", .type = 'c', .major = 1, .minor = 3, .mode = 0666 },
		{ .path = "/dev/null/x", .type = 'c', .major = 1, .minor = 5, .mode = 0666 },
	};
	struct vj_node twice[2] = {
		{ .path = "/dev/vfio/vfio", .type = 'c', .major = 10, .minor = 196, .mode = 0600 },
		{ .path = "/dev/vfio/vfio", .type = 'c', .major = 10, .minor = 196, .mode = 0600 },
	};
	pid_t pid;
	int status;

	/* Each in its own namespace, as each covers the target. */
	pid = fork();
	CHILD_CHECK(pid >= 0);
	if (pid == 0) {
		enter_or_die();
		expect_refused(f, through, 2, f->host, "/dev/null/x", true);
		_exit(0);
	}
	CHILD_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0);
	enter_or_die();
	expect_refused(f, twice, 2, f->host, "/dev/vfio/vfio", true);
}

static void test_refuses_clashes(void **state)
{
	struct fixture *f = fixture_or_skip(state);

	run_in_child(child_clashes, f);
	assert_target_untouched(f);
}

/* Host side: a planted symlink or a changed node is never read for its ACL. */
static void child_host_tricks(void *arg)
{
	struct fixture *f = arg;
	struct vj_node via_link = { .path = "/dev/kvm", .host_path = f->path[2], .type = 'c',
				    .major = 10, .minor = 232, .mode = 0600, .copy_acl = true };
	struct vj_node changed = { .path = "/dev/kvm", .host_path = f->path[1], .type = 'c',
				   .major = 10, .minor = 233, .mode = 0600, .copy_acl = true };
	struct vj_node no_acl = changed;
	char evil_root[PATH_MAX], shm[PATH_MAX + 8];

	enter_or_die();
	expect_refused(f, &via_link, 1, f->host, f->path[2], false);
	expect_refused(f, &changed, 1, f->host, f->path[1], false);
	/* A dev root whose shm is a planted symlink to /etc. */
	snprintf(evil_root, sizeof(evil_root), "%s/pts", f->host);
	snprintf(shm, sizeof(shm), "%s/shm", evil_root);
	CHILD_CHECK(symlink("/etc", shm) == 0);
	no_acl.copy_acl = false;
	expect_refused(f, &no_acl, 1, evil_root, shm, false);
	CHILD_CHECK(unlink(shm) == 0);
}

static void test_refuses_host_tricks(void **state)
{
	struct fixture *f = fixture_or_skip(state);

	run_in_child(child_host_tricks, f);
	assert_target_untouched(f);
}

/* ---- the real thing: cover /dev itself, keeping the host's pts ------------------ */

static void child_cover_dev(void *arg)
{
	struct vj_node nodes[] = {
		{ .path = "/dev/null", .type = 'c', .major = 1, .minor = 3, .mode = 0666,
		  .uid = NOBODY, .gid = NOBODY, .host_path = "/dev/null", .copy_acl = true },
	};
	struct vj_error *err = NULL;
	struct statfs sfs;
	struct stat st;
	bool host_pts = statfs("/dev/pts", &sfs) == 0 && sfs.f_type == DEVPTS_SUPER_MAGIC;

	enter_or_die();
	if (vj_mountns_populate_dev(nodes, ARRAY_SIZE(nodes), NULL, &err) < 0) {
		vj_error_print(err, stderr);
		_exit(1);
	}
	CHILD_CHECK(statfs("/dev", &sfs) == 0 && sfs.f_type == TMPFS_MAGIC);
	CHILD_CHECK(stat("/dev/null", &st) == 0 && st.st_uid == NOBODY);
	CHILD_CHECK(access("/dev/zero", F_OK) < 0 && errno == ENOENT);
	if (host_pts) {
		CHILD_CHECK(statfs("/dev/pts", &sfs) == 0 && sfs.f_type == DEVPTS_SUPER_MAGIC);
		CHILD_CHECK(link_is("/dev/ptmx", "pts/ptmx"));
	}
}

static void test_cover_real_dev(void **state)
{
	struct stat before, after;

	fixture_or_skip(state);
	assert_int_equal(stat("/dev/null", &before), 0);
	run_in_child(child_cover_dev, *state);
	assert_int_equal(stat("/dev/null", &after), 0);
	assert_true(before.st_ino == after.st_ino && before.st_uid == after.st_uid);
	assert_int_equal(access("/dev/zero", F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_populate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_hostile_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_clashes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_host_tricks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cover_real_dev, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
