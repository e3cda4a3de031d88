/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dropping privileges for the VM user.
 *
 * Order matters: supplementary groups and gids first (they need CAP_SETGID),
 * no_new_privs, then the bounding set (PR_CAPBSET_DROP needs CAP_SETPCAP, lost
 * at setresuid), ambient set, setresuid, and an explicit capset of all zeros
 * for the inheritable set (setresuid away from root clears only the effective,
 * permitted and ambient sets).  Everything is read back afterwards.
 */
#include "privs.h"

#include <errno.h>
#include <limits.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "proc.h"
#include "util.h"

#define STEP "privileges"

struct caps3 {
	uint64_t eff, prm, inh;
};

static int capget_raw(struct caps3 *c)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	c->eff = (uint64_t)data[1].effective << 32 | data[0].effective;
	c->prm = (uint64_t)data[1].permitted << 32 | data[0].permitted;
	c->inh = (uint64_t)data[1].inheritable << 32 | data[0].inheritable;
	return 0;
}

static int capset_zero(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

int vj_privs_caps_effective(uint64_t *eff)
{
	struct caps3 c;
	int r = capget_raw(&c);

	if (r < 0)
		return r;
	*eff = c.eff;
	return 0;
}

bool vj_privs_have_cap(int cap)
{
	uint64_t eff;

	return cap >= 0 && vj_privs_caps_effective(&eff) == 0 && vj_cap_in(eff, (unsigned)cap);
}

/* The highest capability number the running kernel knows. */
static unsigned cap_last(void)
{
	_cleanup_free_ char *s = NULL;
	uint64_t v;
	unsigned cap;

	if (vj_read_file("/proc/sys/kernel/cap_last_cap", 32, &s) == 0 &&
	    vj_parse_u64(s, &v) == 0 && v < 64)
		return (unsigned)v;
	/* No procfs: ask the kernel cap by cap; PR_CAPBSET_READ fails past the last. */
	for (cap = 0; cap < 63; cap++)
		if (prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) < 0)
			break;
	return cap;
}

static int cmp_gid(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
	return x < y ? -1 : x > y;
}

size_t vj_gids_normalize(gid_t *g, size_t n)
{
	size_t out = 0;

	qsort(g, n, sizeof(*g), cmp_gid);
	for (size_t i = 0; i < n; i++)
		if (out == 0 || g[out - 1] != g[i])
			g[out++] = g[i];
	return out;
}

/* The passwd name of @uid into *out (NULL when there is none). */
static int passwd_name(uid_t uid, char **out)
{
	size_t len = 4096;

	*out = NULL;
	for (;;) {
		_cleanup_free_ char *buf = malloc(len);
		struct passwd pw, *res = NULL;
		int r;

		if (!buf)
			return -ENOMEM;
		r = getpwuid_r(uid, &pw, buf, len, &res);
		if (r == ERANGE && len < (1u << 20)) {
			len *= 2;
			continue;
		}
		if (r != 0 || !res)
			return 0; /* no entry (or no usable database): gid only */
		*out = strdup(res->pw_name);
		return *out ? 0 : -ENOMEM;
	}
}

static int resolve_groups(uid_t uid, gid_t gid, const char *user_name, gid_t **out, size_t *n,
			  const char *obj, struct vj_error **err)
{
	_cleanup_free_ char *looked_up = NULL;
	_cleanup_free_ gid_t *groups = NULL;
	const char *name = user_name;
	int ngroups = 16;

	if (!name) {
		if (passwd_name(uid, &looked_up) < 0)
			return vj_err_sys(err, STEP, obj, ENOMEM, NULL, "out of memory");
		name = looked_up;
	}
	if (!name) {
		groups = malloc(sizeof(*groups));
		if (!groups)
			return vj_err_sys(err, STEP, obj, ENOMEM, NULL, "out of memory");
		groups[0] = gid;
		*out = TAKE_PTR(groups);
		*n = 1;
		return 0;
	}
	for (;;) {
		gid_t *g = realloc(groups, (size_t)ngroups * sizeof(*g));
		int want = ngroups;

		if (!g)
			return vj_err_sys(err, STEP, obj, ENOMEM, NULL, "out of memory");
		groups = g;
		if (getgrouplist(name, gid, groups, &want) >= 0) {
			ngroups = want;
			break;
		}
		if (want <= ngroups || want > 65536)
			return vj_err_sys(err, STEP, obj, 0, NULL,
					  "cannot list the groups of user '%s' (gid %u)", name,
					  (unsigned)gid);
		ngroups = want;
	}
	*n = vj_gids_normalize(groups, (size_t)ngroups);
	*out = TAKE_PTR(groups);
	return 0;
}

/*
 * The capabilities of the bounding set: from /proc/self/status, one read,
 * rather than one PR_CAPBSET_READ per capability the kernel knows; without a
 * procfs (or a kernel without CapAmb) every capability up to the last counts.
 * Dropping one that is not there is a no-op, so dropping only those there
 * leaves the same set: empty.
 */
static uint64_t bounding_set(const struct vj_proc_status *ps)
{
	unsigned last;

	if (ps->has_caps)
		return ps->cap_bnd;
	last = cap_last();
	return last >= 63 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
}

static int drop_bounding_set(uint64_t bnd, const char *obj, struct vj_error **err)
{
	for (unsigned cap = 0; cap < 64; cap++) {
		if (!(bnd & (UINT64_C(1) << cap)))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return vj_err_sys(err, STEP, obj, errno, "vfiojail needs CAP_SETPCAP",
					  "cannot drop capability %u from the bounding set", cap);
	}
	return 0;
}

static int clear_ambient(const char *obj, struct vj_error **err)
{
	/* EINVAL: a kernel older than ambient capabilities has none to clear. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return vj_err_sys(err, STEP, obj, errno, NULL,
				  "cannot clear the ambient capability set");
	return 0;
}

static int apply_ids(uid_t uid, gid_t gid, const gid_t *groups, size_t n, const char *obj,
		     struct vj_error **err)
{
	struct vj_proc_status ps = { 0 };

	if (setgroups(n, groups) < 0)
		return vj_err_sys(err, STEP, obj, errno, "vfiojail needs CAP_SETGID",
				  "setgroups of %zu supplementary groups failed", n);
	if (setresgid(gid, gid, gid) < 0)
		return vj_err_sys(err, STEP, obj, errno, "vfiojail needs CAP_SETGID",
				  "setresgid to gid %u failed", (unsigned)gid);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return vj_err_sys(err, STEP, obj, errno, NULL, "cannot set no_new_privs");
	if (vj_proc_status_self(&ps) < 0)
		ps.has_caps = false;
	if (drop_bounding_set(bounding_set(&ps), obj, err) < 0 || clear_ambient(obj, err) < 0)
		return -1;
	if (setresuid(uid, uid, uid) < 0)
		return vj_err_sys(err, STEP, obj, errno, "vfiojail needs CAP_SETUID",
				  "setresuid to uid %u failed", (unsigned)uid);
	if (capset_zero() < 0)
		return vj_err_sys(err, STEP, obj, errno, NULL,
				  "cannot clear the remaining capability sets");
	return 0;
}

static int verify_ids(uid_t uid, gid_t gid, const char *obj, struct vj_error **err)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return vj_err_sys(err, STEP, obj, errno, NULL, "cannot read back the ids");
	if (ru != uid || eu != uid || su != uid)
		return vj_err_sys(err, STEP, obj, 0, NULL,
				  "uids are %u/%u/%u (real/effective/saved), expected %u",
				  (unsigned)ru, (unsigned)eu, (unsigned)su, (unsigned)uid);
	if (rg != gid || eg != gid || sg != gid)
		return vj_err_sys(err, STEP, obj, 0, NULL,
				  "gids are %u/%u/%u (real/effective/saved), expected %u",
				  (unsigned)rg, (unsigned)eg, (unsigned)sg, (unsigned)gid);
	return 0;
}

/* The groups read back in one getgroups into room for one more than @n_want
 * (EINVAL: the process has more than that; only then are they counted first). */
static int verify_groups(const gid_t *want, size_t n_want, const char *obj, struct vj_error **err)
{
	_cleanup_free_ gid_t *have = NULL;
	int n = n_want < INT_MAX ? (int)n_want + 1 : -1;
	size_t n_have;

	if (n > 0 && !(have = malloc((size_t)n * sizeof(*have))))
		return vj_err_sys(err, STEP, obj, ENOMEM, NULL, "out of memory");
	n = n > 0 ? getgroups(n, have) : -1;
	if (n < 0) {
		free(have);
		have = NULL;
		n = getgroups(0, NULL);
		if (n < 0)
			return vj_err_sys(err, STEP, obj, errno, NULL, "cannot read back the groups");
		have = malloc(((size_t)n + 1) * sizeof(*have));
		if (!have)
			return vj_err_sys(err, STEP, obj, ENOMEM, NULL, "out of memory");
		n = getgroups(n, have);
	}
	if (n < 0)
		return vj_err_sys(err, STEP, obj, errno, NULL, "cannot read back the groups");
	n_have = vj_gids_normalize(have, (size_t)n);
	if (n_have != n_want || memcmp(have, want, n_want * sizeof(*want)) != 0)
		return vj_err_sys(err, STEP, obj, 0, NULL,
				  "the process has %zu supplementary groups, expected %zu", n_have,
				  n_want);
	return 0;
}

static unsigned lowest_bit(uint64_t v)
{
	return (unsigned)__builtin_ctzll(v);
}

/* What the kernel says of this process's capabilities once they are dropped:
 * nothing in any set, no_new_privs.  /proc/self/status says it in one read
 * (kept in *@ps for the caller: its signal dispositions); without it,
 * capability by capability (ps->has_caps false). */
static int verify_caps(struct vj_proc_status *ps, const char *obj, struct vj_error **err)
{
	unsigned last;
	struct caps3 c;
	int r = capget_raw(&c);

	if (r < 0)
		return vj_err_sys(err, STEP, obj, -r, NULL, "capget failed");
	if (c.eff || c.prm || c.inh)
		return vj_err_sys(err, STEP, obj, 0, NULL,
				  "capabilities left: effective %#llx, permitted %#llx, "
				  "inheritable %#llx",
				  (unsigned long long)c.eff, (unsigned long long)c.prm,
				  (unsigned long long)c.inh);
	if (vj_proc_status_self(ps) < 0)
		ps->has_caps = false;
	if (ps->has_caps) {
		if (ps->cap_bnd)
			return vj_err_sys(err, STEP, obj, 0, NULL,
					  "capability %u is still in the bounding set", lowest_bit(ps->cap_bnd));
		if (ps->cap_amb)
			return vj_err_sys(err, STEP, obj, 0, NULL,
					  "capability %u is still in the ambient set", lowest_bit(ps->cap_amb));
		if (!ps->no_new_privs)
			return vj_err_sys(err, STEP, obj, 0, NULL, "no_new_privs is not set");
		return 0;
	}
	last = cap_last();
	for (unsigned cap = 0; cap <= last; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0)
			return vj_err_sys(err, STEP, obj, 0, NULL,
					  "capability %u is still in the bounding set", cap);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0)
			return vj_err_sys(err, STEP, obj, 0, NULL,
					  "capability %u is still in the ambient set", cap);
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return vj_err_sys(err, STEP, obj, 0, NULL, "no_new_privs is not set");
	return 0;
}

static int check_ids(uid_t uid, gid_t gid, const char *obj, struct vj_error **err)
{
	if (uid == 0)
		return vj_err_sys(err, STEP, obj, 0, "run the VM as an unprivileged user",
				  "refusing to run the VMM as uid 0");
	if (uid == (uid_t)-1 || gid == (gid_t)-1)
		return vj_err_sys(err, STEP, obj, EINVAL, NULL, "uid %u / gid %u is not valid",
				  (unsigned)uid, (unsigned)gid);
	return 0;
}

static char *obj_name(uid_t uid, const char *user_name)
{
	return user_name ? strdup(user_name) : vj_strdupf("uid %u", (unsigned)uid);
}

int vj_privs_user_groups(uid_t uid, gid_t gid, const char *user_name, gid_t **groups, size_t *n,
			 struct vj_error **err)
{
	_cleanup_free_ char *obj = obj_name(uid, user_name);

	if (!obj)
		return vj_err_sys(err, STEP, NULL, ENOMEM, NULL, "out of memory");
	return resolve_groups(uid, gid, user_name, groups, n, obj, err);
}

static int drop_to(uid_t uid, gid_t gid, const gid_t *groups, size_t n, const char *obj,
		   struct vj_proc_status *status, struct vj_error **err)
{
	struct vj_proc_status ps = { 0 };

	if (!status)
		status = &ps;
	*status = (struct vj_proc_status){ 0 };
	if (check_ids(uid, gid, obj, err) < 0 || apply_ids(uid, gid, groups, n, obj, err) < 0)
		return -1;
	if (verify_ids(uid, gid, obj, err) < 0 || verify_groups(groups, n, obj, err) < 0 ||
	    verify_caps(status, obj, err) < 0)
		return -1;
	return 0;
}

int vj_privs_drop_groups(uid_t uid, gid_t gid, const gid_t *groups, size_t n,
			 struct vj_proc_status *status, struct vj_error **err)
{
	_cleanup_free_ char *obj = obj_name(uid, NULL);

	if (status)
		*status = (struct vj_proc_status){ 0 };
	if (!obj)
		return vj_err_sys(err, STEP, NULL, ENOMEM, NULL, "out of memory");
	return drop_to(uid, gid, groups, n, obj, status, err);
}

int vj_privs_drop(uid_t uid, gid_t gid, const char *user_name, struct vj_error **err)
{
	_cleanup_free_ gid_t *groups = NULL;
	_cleanup_free_ char *obj = obj_name(uid, user_name);
	size_t n = 0;

	if (!obj)
		return vj_err_sys(err, STEP, NULL, ENOMEM, NULL, "out of memory");
	if (check_ids(uid, gid, obj, err) < 0 ||
	    resolve_groups(uid, gid, user_name, &groups, &n, obj, err) < 0)
		return -1;
	return drop_to(uid, gid, groups, n, obj, NULL, err);
}
