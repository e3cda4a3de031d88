/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "rlimit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>
#include <sys/wait.h>
#include <string.h>
#include <stdlib.h>
#include <signal.h>
#include <grp.h>

#include "error.h"
#include "proc.h"
#include "util.h"

static uint64_t rlim_to_u64(rlim_t r)
{
	return r == RLIM_INFINITY ? UINT64_MAX : (uint64_t)r;
}

static rlim_t u64_to_rlim(uint64_t v)
{
	return v == UINT64_MAX || v >= (uint64_t)RLIM_INFINITY ? RLIM_INFINITY : (rlim_t)v;
}

/* "unlimited" or "N bytes" into @buf. */
static const char *limit_str(uint64_t v, char buf[static 32])
{
	if (v == UINT64_MAX)
		snprintf(buf, 32, "unlimited");
	else
		snprintf(buf, 32, "%" PRIu64 " bytes", v);
	return buf;
}

static char *pid_object(pid_t pid)
{
	if (pid == 0)
		return vj_strdupf("RLIMIT_MEMLOCK");
	return vj_strdupf("RLIMIT_MEMLOCK of pid %ld", (long)pid);
}

static int read_limit(pid_t pid, struct rlimit *rl, const char *object, struct vj_error **err)
{
	if (prlimit(pid, RLIMIT_MEMLOCK, NULL, rl) == 0)
		return 0;
	if (errno == ESRCH)
		return vj_err(err, VJ_EXIT_SETUP, errno, "memlock", object, NULL,
			      "no process with pid %ld", (long)pid);
	return vj_err(err, VJ_EXIT_SETUP, errno, "memlock", object,
		      "reading another user's limits needs CAP_SYS_RESOURCE",
		      "cannot read RLIMIT_MEMLOCK of pid %ld", (long)pid);
}

/* The error for a refused setrlimit/prlimit that wanted @want. */
static int raise_error(struct vj_error **err, int errnum, const char *object, pid_t pid,
		       uint64_t want, uint64_t hard)
{
	char w[32], h[32];

	if (errnum != EPERM)
		return vj_err(err, VJ_EXIT_SETUP, errnum, "memlock", object, NULL,
			      "cannot set RLIMIT_MEMLOCK to %s", limit_str(want, w));
	return vj_err(err, VJ_EXIT_SETUP, errnum, "memlock", object,
		      "run vfiojail with CAP_SYS_RESOURCE, or give the VM user a higher"
		      " memlock hard limit (limits.conf, LimitMEMLOCK=)",
		      "RLIMIT_MEMLOCK %s wanted for %s, but the hard limit is %s: raising the"
		      " hard limit needs CAP_SYS_RESOURCE",
		      limit_str(want, w), pid ? "the target process" : "this process",
		      limit_str(hard, h));
}

int vj_rlimit_memlock_set(const struct vj_memlock_plan *p, struct vj_error **err)
{
	uint64_t want = p->unlimited ? UINT64_MAX : p->bytes;
	struct rlimit rl = { .rlim_cur = u64_to_rlim(want), .rlim_max = u64_to_rlim(want) };
	struct rlimit cur;
	int errnum;

	if (p->unchanged)
		return 0;
	if (setrlimit(RLIMIT_MEMLOCK, &rl) == 0)
		return 0;
	errnum = errno;
	if (getrlimit(RLIMIT_MEMLOCK, &cur) < 0)
		cur.rlim_max = 0;
	return raise_error(err, errnum, "RLIMIT_MEMLOCK", 0, want, rlim_to_u64(cur.rlim_max));
}

int vj_rlimit_memlock_raise(pid_t pid, uint64_t bytes, struct vj_error **err)
{
	_cleanup_free_ char *object = pid_object(pid);
	rlim_t want = u64_to_rlim(bytes);
	struct rlimit old, rl;

	if (read_limit(pid, &old, object, err) < 0)
		return -1;
	/* RLIM_INFINITY is the largest rlim_t: an unlimited value is never lowered */
	rl.rlim_cur = old.rlim_cur >= want ? old.rlim_cur : want;
	rl.rlim_max = old.rlim_max >= want ? old.rlim_max : want;
	if (rl.rlim_cur == old.rlim_cur && rl.rlim_max == old.rlim_max)
		return 0;
	if (prlimit(pid, RLIMIT_MEMLOCK, &rl, NULL) == 0)
		return 0;
	if (errno == ESRCH)
		return vj_err(err, VJ_EXIT_SETUP, errno, "memlock", object, NULL,
			      "no process with pid %ld", (long)pid);
	return raise_error(err, errno, object, pid, bytes, rlim_to_u64(old.rlim_max));
}

/* soft = the plan; the hard limit stays where it is when it is higher, so that a
 * hotplug can raise the soft limit later without CAP_SYS_RESOURCE. */
int vj_rlimit_memlock_set_soft(const struct vj_memlock_plan *p, struct vj_error **err)
{
	struct rlimit rl;
	rlim_t want = p->unlimited ? RLIM_INFINITY : (rlim_t)p->bytes;

	if (p->unchanged)
		return 0;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "memlock", "RLIMIT_MEMLOCK", NULL, "getrlimit");
	if (rl.rlim_max < want)
		return vj_rlimit_memlock_set(p, err); /* raises both, or says why not */
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "memlock", "RLIMIT_MEMLOCK", NULL,
			      "cannot set the soft limit");
	return 0;
}

static const char *limit_num(uint64_t v, char buf[static 24])
{
	if (v == UINT64_MAX)
		return "unlimited";
	snprintf(buf, 24, "%" PRIu64, v);
	return buf;
}

/* The uid and gid of @pid when its real, effective and saved ids agree (what
 * the kernel's prlimit check compares); -1 otherwise. */
static int proc_ids(pid_t pid, uid_t *uid, gid_t *gid)
{
	struct vj_proc_status st;
	const struct vj_proc_ids *i = &st.ids;

	if (vj_proc_status(pid, &st) < 0)
		return -1;
	if (i->ruid != i->euid || i->ruid != i->suid || i->rgid != i->egid || i->rgid != i->sgid)
		return -1;
	*uid = i->ruid;
	*gid = i->rgid;
	return 0;
}

/*
 * prlimit from a child that takes @pid's uid and gid.  Without
 * CAP_SYS_RESOURCE the kernel lets a process change the limits of another
 * only when their ids match (check_prlimit_permission); the soft limit can
 * then go up to the hard one, the hard limit only down.  0 or -errno.
 */
static int prlimit_as_owner(pid_t pid, const struct rlimit *rl)
{
	uid_t uid;
	gid_t gid;
	pid_t child;
	int status;

	if (proc_ids(pid, &uid, &gid) < 0)
		return kill(pid, 0) < 0 && errno == ESRCH ? -ESRCH : -EPERM;
	child = fork();
	if (child < 0)
		return -errno;
	if (child == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(errno);
		_exit(prlimit(pid, RLIMIT_MEMLOCK, rl, NULL) == 0 ? 0 : errno);
	}
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status))
		return -ECHILD;
	return -WEXITSTATUS(status);
}

int vj_rlimit_memlock_set_pid(pid_t pid, uint64_t soft, uint64_t hard, uint64_t old_hard,
			      struct vj_error **err)
{
	struct rlimit rl = { .rlim_cur = u64_to_rlim(soft), .rlim_max = u64_to_rlim(hard) };
	_cleanup_free_ char *object = vj_strdupf("RLIMIT_MEMLOCK of pid %d", (int)pid);
	char s[24], h[24], o[24];
	int r = prlimit(pid, RLIMIT_MEMLOCK, &rl, NULL) == 0 ? 0 : -errno;

	if (r == -EPERM)
		r = prlimit_as_owner(pid, &rl);
	if (r == 0 || r == -ESRCH)
		return 0;
	return vj_err(err, VJ_EXIT_SETUP, -r, "memlock", object ? object : "RLIMIT_MEMLOCK",
		      r == -EPERM && hard > old_hard
			      ? "raising a hard limit needs CAP_SYS_RESOURCE: start the VM with a higher memlock hard limit (vfiojail enter keeps an inherited one)"
			      : NULL,
		      "cannot set it to soft %s, hard %s (its hard limit is %s)", limit_num(soft, s),
		      limit_num(hard, h), limit_num(old_hard, o));
}
