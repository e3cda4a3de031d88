/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RLIMIT_MEMLOCK: apply a memlock plan to this process, read and raise it for another. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "proc.h" /* vj_proc_memlock */
#include "vfiojail/vfiojail.h"

/*
 * setrlimit(RLIMIT_MEMLOCK) with soft = hard = p->bytes (RLIM_INFINITY when
 * p->unlimited; nothing at all when p->unchanged).  Raising the hard limit
 * needs CAP_SYS_RESOURCE: EPERM is an error (status 125, step "memlock",
 * object "RLIMIT_MEMLOCK") that gives the wanted bytes and the current hard
 * limit.
 */
int vj_rlimit_memlock_set(const struct vj_memlock_plan *p, struct vj_error **err);

/* Make @pid's soft and hard RLIMIT_MEMLOCK at least @bytes (UINT64_MAX =
 * unlimited) with prlimit; a limit already higher is left as it is. */
int vj_rlimit_memlock_raise(pid_t pid, uint64_t bytes, struct vj_error **err);

/* soft = the plan, for this process; the hard limit stays where it is when it
 * is higher (so that a hotplug can raise the soft one later without
 * CAP_SYS_RESOURCE), else both are set as vj_rlimit_memlock_set does. */
int vj_rlimit_memlock_set_soft(const struct vj_memlock_plan *p, struct vj_error **err);

/* Set @pid's soft and hard RLIMIT_MEMLOCK (UINT64_MAX = unlimited).  Without
 * CAP_SYS_RESOURCE it is done from a child that takes @pid's uid and gid, as the
 * kernel allows (the soft limit up to the hard one, the hard one only down);
 * @old_hard words the error.  A process that is gone is not an error. */
int vj_rlimit_memlock_set_pid(pid_t pid, uint64_t soft, uint64_t hard, uint64_t old_hard,
			      struct vj_error **err);
