/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "rlimit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>

#include "error.h"
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

int vj_rlimit_memlock_get(pid_t pid, uint64_t *soft, uint64_t *hard, struct vj_error **err)
{
	_cleanup_free_ char *object = pid_object(pid);
	struct rlimit rl;

	if (read_limit(pid, &rl, object, err) < 0)
		return -1;
	*soft = rlim_to_u64(rl.rlim_cur);
	*hard = rlim_to_u64(rl.rlim_max);
	return 0;
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
