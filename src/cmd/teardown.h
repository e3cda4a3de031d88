/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the services ask of teardown (the public commands are in vfiojail.h). */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "vfiojail/vfiojail.h"

/* The VMM @vmm (started at @vmm_start) of the launch service or of a supervising
 * run has exited: remove its jail, killing what is left in its cgroup, but only
 * if the jail of @name is still the one made for that process (origin launch or
 * run, same pid and start time).
 * 0, or -1 with *err. */
int vj_teardown_ended_vmm(const char *name, const struct vj_run_opts *o, pid_t vmm, uint64_t vmm_start,
			  struct vj_error **err);
