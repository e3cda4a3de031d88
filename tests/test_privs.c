/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Dropping privileges: every id, group and capability set read back from
 * /proc/self/status in a forked child.  Needs root; skipped otherwise. */
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "privs.h"
#include "proc.h"
#include "testlib.h"
#include "util.h"

#define ZERO_CAPS "0000000000000000"

static bool status_is(const char *key, const char *want)
{
	_cleanup_free_ char *v = status_field(key);
	if (!v || strcmp(v, want) != 0) {
		fprintf(stderr, "%s: '%s', expected '%s'\n", key, v ? v : "(none)", want);
		return false;
	}
	return true;
}

static int cmp_gid(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
	return x < y ? -1 : x > y;
}

/* "a b c" sorted, deduplicated, into a string for comparison. */
static char *gid_list_string(gid_t *g, size_t n)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	qsort(g, n, sizeof(*g), cmp_gid);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || g[i] != g[i - 1])
			fprintf(f, "%s%u", i ? " " : "", (unsigned)g[i]);
	fclose(f);
	return s;
}

/* Groups of @user read straight from /etc/group (not through getgrouplist). */
static size_t etc_group_gids(const char *user, gid_t primary, gid_t *out, size_t max)
{
	FILE *f = fopen("/etc/group", "re");
	char line[4096];
	size_t n = 0;

	out[n++] = primary;
	while (f && fgets(line, sizeof(line), f) && n < max) {
		char *save = NULL, *name = strtok_r(line, ":", &save);
		char *pw = strtok_r(NULL, ":", &save), *gid = strtok_r(NULL, ":", &save);
		char *members = strtok_r(NULL, "\n", &save);
		if (!name || !pw || !gid || !members)
			continue;
		for (char *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
			if (strcmp(m, user) == 0)
				out[n++] = (gid_t)strtoul(gid, NULL, 10);
	}
	if (f)
		fclose(f);
	return n;
}

static bool status_groups_are(gid_t *want, size_t n_want)
{
	_cleanup_free_ char *want_s = gid_list_string(want, n_want);
	return status_is("Groups", want_s);
}

static void check_dropped_to(uid_t uid, gid_t gid)
{
	char ids[128];
	uint64_t eff = 1;

	snprintf(ids, sizeof(ids), "%u %u %u %u", uid, uid, uid, uid);
	CHILD_CHECK(status_is("Uid", ids));
	snprintf(ids, sizeof(ids), "%u %u %u %u", gid, gid, gid, gid);
	CHILD_CHECK(status_is("Gid", ids));
	CHILD_CHECK(status_is("CapInh", ZERO_CAPS));
	CHILD_CHECK(status_is("CapPrm", ZERO_CAPS));
	CHILD_CHECK(status_is("CapEff", ZERO_CAPS));
	CHILD_CHECK(status_is("CapBnd", ZERO_CAPS));
	CHILD_CHECK(status_is("CapAmb", ZERO_CAPS));
	CHILD_CHECK(status_is("NoNewPrivs", "1"));
	CHILD_CHECK(vj_privs_caps_effective(&eff) == 0 && eff == 0);
	CHILD_CHECK(setuid(0) == -1 && errno == EPERM);
	CHILD_CHECK(setgid(0) == -1 && errno == EPERM);
}

static void drop_or_die(uid_t uid, gid_t gid, const char *name)
{
	struct vj_error *err = NULL;

	if (vj_privs_drop(uid, gid, name, &err) < 0) {
		vj_error_print(err, stderr);
		vj_error_free(err);
		_exit(1);
	}
	CHILD_CHECK(err == NULL);
}

/* Root with odd groups, an inheritable and an ambient capability: all must go. */
static void give_extra_privileges(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	gid_t odd[] = { 0, 4, 27 };

	CHILD_CHECK(setgroups(ARRAY_SIZE(odd), odd) == 0);
	CHILD_CHECK(syscall(SYS_capget, &hdr, data) == 0);
	data[0].inheritable |= 1u << CAP_NET_ADMIN;
	CHILD_CHECK(syscall(SYS_capset, &hdr, data) == 0);
	CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0) == 0);
	/* The precondition holds: there is something to clear. */
	_cleanup_free_ char *amb = status_field("CapAmb");
	CHILD_CHECK(amb && strcmp(amb, ZERO_CAPS) != 0);
}

static void child_drop_nobody(void *arg)
{
	struct passwd *pw = getpwnam("nobody");
	gid_t want[64];
	size_t n;

	CHILD_CHECK(pw != NULL);
	n = etc_group_gids("nobody", pw->pw_gid, want, ARRAY_SIZE(want));
	give_extra_privileges();
	drop_or_die(pw->pw_uid, pw->pw_gid, "nobody");
	check_dropped_to(pw->pw_uid, pw->pw_gid);
	CHILD_CHECK(status_groups_are(want, n));
}

static void test_drop_to_nobody(void **state)
{
	require_root();
	if (!getpwnam("nobody"))
		skip();
	run_in_child(child_drop_nobody, NULL);
}

/* A user listed as a member of some group in /etc/group, or NULL. */
static struct passwd *user_with_supplementary_groups(void)
{
	struct group *gr;
	struct passwd *found = NULL;

	setgrent();
	while (!found && (gr = getgrent()))
		for (char **m = gr->gr_mem; *m && !found; m++) {
			struct passwd *pw = getpwnam(*m);
			if (pw && pw->pw_uid != 0 && pw->pw_gid != gr->gr_gid)
				found = pw;
		}
	endgrent();
	return found;
}

static void child_drop_member(void *arg)
{
	struct passwd *pw = arg;
	gid_t want[64];
	size_t n = etc_group_gids(pw->pw_name, pw->pw_gid, want, ARRAY_SIZE(want));

	CHILD_CHECK(n >= 2);
	drop_or_die(pw->pw_uid, pw->pw_gid, pw->pw_name);
	check_dropped_to(pw->pw_uid, pw->pw_gid);
	CHILD_CHECK(status_groups_are(want, n));
}

static void test_drop_keeps_supplementary_groups(void **state)
{
	struct passwd *pw;

	require_root();
	pw = user_with_supplementary_groups();
	if (!pw)
		skip();
	run_in_child(child_drop_member, pw);
}

#define NO_SUCH_UID 3999999u
#define NO_SUCH_GID 3999998u

static void child_drop_numeric(void *arg)
{
	gid_t want[] = { NO_SUCH_GID };

	drop_or_die(NO_SUCH_UID, NO_SUCH_GID, NULL);
	check_dropped_to(NO_SUCH_UID, NO_SUCH_GID);
	CHILD_CHECK(status_groups_are(want, 1));
}

static void test_drop_numeric_uid_gets_only_gid(void **state)
{
	require_root();
	if (getpwuid(NO_SUCH_UID))
		skip();
	run_in_child(child_drop_numeric, NULL);
}

static void child_refuse_root(void *arg)
{
	_cleanup_free_ char *eff_before = status_field("CapEff");
	struct vj_error *err = NULL;

	CHILD_CHECK(vj_privs_drop(0, 0, "root", &err) < 0);
	CHILD_CHECK(err && err->status == 125 && !strcmp(err->step, "privileges"));
	CHILD_CHECK(err->object && !strcmp(err->object, "root"));
	CHILD_CHECK(strstr(err->message, "uid 0") != NULL);
	vj_error_free(err);
	/* Nothing was changed before refusing. */
	CHILD_CHECK(getuid() == 0 && geteuid() == 0);
	CHILD_CHECK(status_is("CapEff", eff_before));
	CHILD_CHECK(status_is("NoNewPrivs", "0"));
}

static void test_refuses_uid_0(void **state)
{
	require_root();
	run_in_child(child_refuse_root, NULL);
}

static void child_caps_without_sys_admin(void *arg)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	uint64_t eff = 0;

	CHILD_CHECK(syscall(SYS_capget, &hdr, data) == 0);
	data[0].effective &= ~(1u << CAP_SYS_ADMIN);
	CHILD_CHECK(syscall(SYS_capset, &hdr, data) == 0);
	CHILD_CHECK(vj_privs_caps_effective(&eff) == 0);
	CHILD_CHECK(!vj_cap_in(eff, CAP_SYS_ADMIN));
	CHILD_CHECK(vj_cap_in(eff, CAP_MKNOD));
}

static void test_caps_effective(void **state)
{
	_cleanup_free_ char *hex = status_field("CapEff");
	uint64_t eff = 0;

	assert_non_null(hex);
	assert_int_equal(vj_privs_caps_effective(&eff), 0);
	assert_true(eff == strtoull(hex, NULL, 16));
	if (geteuid() != 0 || !vj_cap_in(eff, CAP_SYS_ADMIN))
		return;
	run_in_child(child_caps_without_sys_admin, NULL);
}

/* A bounding set with holes (some capabilities dropped before): the drop, which
 * drops only those the set still has, leaves it empty all the same. */
static void child_drop_with_holes(void *arg)
{
	struct passwd *pw = getpwnam("nobody");
	_cleanup_free_ char *bnd = NULL;

	(void)arg;
	CHILD_CHECK(pw != NULL);
	CHILD_CHECK(prctl(PR_CAPBSET_DROP, CAP_CHOWN, 0, 0, 0) == 0);
	CHILD_CHECK(prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0) == 0);
	bnd = status_field("CapBnd");
	CHILD_CHECK(bnd && strcmp(bnd, ZERO_CAPS) != 0);
	give_extra_privileges();
	drop_or_die(pw->pw_uid, pw->pw_gid, "nobody");
	check_dropped_to(pw->pw_uid, pw->pw_gid);
}

static void test_drop_with_holes_in_bounding_set(void **state)
{
	require_root();
	if (!getpwnam("nobody"))
		skip();
	run_in_child(child_drop_with_holes, NULL);
}

/* The parser of /proc/PID/status: capability sets, signal masks, NoNewPrivs. */
static void test_proc_status_caps(void **state)
{
	const char *text = "Name:\tx\nPPid:\t1\nUid:\t0\t0\t0\t0\nGid:\t5\t5\t5\t5\n"
			   "SigIgn:\t0000000000001000\nSigCgt:\t0000000180000002\n"
			   "CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n"
			   "CapBnd:\t000001fffffffffe\nCapAmb:\t0000000000001000\nNoNewPrivs:\t1\n";
	struct vj_proc_status ps;
	_cleanup_free_ char *no_amb = NULL, *short_mask = NULL;
	char *p;

	assert_int_equal(vj_proc_status_parse(text, &ps), 0);
	assert_true(ps.has_caps);
	assert_true(ps.sig_ign == 0x1000 && ps.sig_cgt == 0x180000002ull);
	assert_true(ps.cap_inh == 0 && ps.cap_prm == 0x1ffffffffffull && ps.cap_eff == 0x1ffffffffffull);
	assert_true(ps.cap_bnd == 0x1fffffffffeull && ps.cap_amb == 0x1000);
	assert_true(ps.no_new_privs);
	assert_int_equal(ps.ids.egid, 5);
	/* A kernel without CapAmb (before 4.3), or a mask cut short: not known. */
	no_amb = strdup(text);
	p = strstr(no_amb, "CapAmb");
	memcpy(p, "CapXyz", 6);
	assert_int_equal(vj_proc_status_parse(no_amb, &ps), 0);
	assert_false(ps.has_caps);
	short_mask = strdup(text);
	p = strstr(short_mask, "CapBnd:\t") + 8;
	p[15] = '\n';
	assert_int_equal(vj_proc_status_parse(short_mask, &ps), 0);
	assert_false(ps.has_caps);
}

/* /proc/self/status as the kernel says it, the same as the fields read here. */
static void test_proc_status_self(void **state)
{
	_cleanup_free_ char *bnd = status_field("CapBnd"), *amb = status_field("CapAmb"),
			    *nnp = status_field("NoNewPrivs");
	struct vj_proc_status ps;

	assert_non_null(bnd);
	assert_int_equal(vj_proc_status_self(&ps), 0);
	assert_true(ps.has_caps);
	assert_true(ps.cap_bnd == strtoull(bnd, NULL, 16));
	assert_true(ps.cap_amb == strtoull(amb, NULL, 16));
	assert_int_equal(ps.no_new_privs, strcmp(nnp, "1") == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_to_nobody),
		cmocka_unit_test(test_drop_keeps_supplementary_groups),
		cmocka_unit_test(test_drop_numeric_uid_gets_only_gid),
		cmocka_unit_test(test_refuses_uid_0),
		cmocka_unit_test(test_caps_effective),
		cmocka_unit_test(test_drop_with_holes_in_bounding_set),
		cmocka_unit_test(test_proc_status_caps),
		cmocka_unit_test(test_proc_status_self),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
