/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Dropping privileges for the VM user: the last step before execve. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vfiojail/vfiojail.h"

struct vj_proc_status;

/*
 * Become @uid:@gid for good.  Supplementary groups are taken from the group
 * database as initgroups() would (getgrouplist of @user_name, or of the passwd
 * name of @uid when @user_name is NULL; a uid with no passwd entry gets only
 * @gid).  Sets no_new_privs, empties the capability bounding, ambient,
 * inheritable, permitted and effective sets, then reads every one of them back.
 * Refuses uid 0.  Errors: status 125, step "privileges".
 */
int vj_privs_drop(uid_t uid, gid_t gid, const char *user_name, struct vj_error **err);
/* The same with the supplementary groups given (sorted, no duplicates): no
 * database lookup, which a launch does once, in the parent.  @status (may be
 * NULL) gets /proc/self/status as the verification read it after the drop
 * (has_caps false when it was not read): the launch child resets its signals
 * from it rather than read the file again. */
int vj_privs_drop_groups(uid_t uid, gid_t gid, const gid_t *groups, size_t n,
			 struct vj_proc_status *status, struct vj_error **err);
/* Sort @g and remove duplicates; returns the new count. */
size_t vj_gids_normalize(gid_t *g, size_t n);
/* The supplementary groups initgroups() would give @uid (see vj_privs_drop). */
int vj_privs_user_groups(uid_t uid, gid_t gid, const char *user_name, gid_t **groups, size_t *n,
			 struct vj_error **err);

/* The caller's effective capability set (bit N = capability N).  0 or -errno. */
int vj_privs_caps_effective(uint64_t *eff);
/* Whether this process has capability CAP in its effective set (false when capget fails). */
bool vj_privs_have_cap(int cap);

static inline bool vj_cap_in(uint64_t set, unsigned cap)
{
	return cap < 64 && (set & ((uint64_t)1 << cap));
}
