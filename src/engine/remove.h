/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Removing a jail by name: what `vfiojail teardown` does, and what the
 * services and a supervising run ask of it (the commands are in vfiojail.h).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"
#include "vfiojail/vfiojail.h"

/* vj_teardown's body: the jail of @name removed, with its state file, without
 * one, with a damaged one (what its name leads to, and the one cgroup named
 * after it), or from a read-only state dir (pins only); a VM that still runs
 * is refused (status 1) unless @kill.  @err may be NULL.  0, or -1 with *err. */
int vj_jail_remove(const char *name, const struct vj_run_opts *o, bool kill, struct vj_error **err);

/* No state file of @name in the state dir @dirfd (and no error but ENOENT). */
bool vj_jail_state_absent(int dirfd, const char *name);

/* The VMM @vmm (started at @vmm_start) of the launch service or of a supervising
 * run has exited: remove its jail, killing what is left in its cgroup, but only
 * if the jail of @name is still the one made for that process (origin launch or
 * run, same pid and start time).  A failure is tried once more (a passing
 * ENOMEM or signal need not leave the jail), except "left alone" (status 1).
 * 0, or -1 with *err. */
int vj_teardown_ended_vmm(const char *name, const struct vj_run_opts *o, pid_t vmm, uint64_t vmm_start,
			  struct vj_error **err);

/* The same for a supervising run, which wrote the state @kept itself (stamped
 * @stamp, vj_state_write_stamped) in the state dir it holds open as @dirfd (not
 * opened again): while NAME.json is still that file, @kept is torn down without
 * reading it back; a file replaced since (an attach or detach ran, or another
 * jail took the name) is read again and checked as above. */
int vj_teardown_ended_run(int dirfd, struct vj_state *kept, const struct vj_state_stamp *stamp,
			  const struct vj_run_opts *o, struct vj_error **err);
