/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Root's spec bounds a derived one: a spec derived from a launcher's own VM
 * description (vfiojail derive --from libvirt) may grant a VM no more than
 * root's spec for the same name (/etc/vfiojail/vm/NAME.json) does.  Pure
 * functions of the two specs and their two plans; nothing is read from the host.
 */
#pragma once

#include <stdbool.h>

#include "vfiojail/vfiojail.h"

/*
 * Check @derived against @root (@root_file names root's spec in messages) and
 * give @derived root's user, group and supplementary groups.  The rules:
 * - the principal is root's; when @user_explicit (the derived spec named its
 *   own user), that user must be root's uid, and its group root's gid;
 * - every derived hostdev is one of root's, with the same backend;
 * - every derived device path is one of root's, its access a subset of root's;
 * - the derived memory is at most root's, when root names one;
 * - arch, when root names one, is root's.
 * 0, or -1 with *err (status 2, the object the derived field, e.g.
 * "hostdevs[1].pci", the message naming both values and @root_file); @derived is
 * changed only on success.
 */
int vj_spec_bound(struct vj_spec *derived, bool user_explicit, const struct vj_spec *root,
		  const char *root_file, struct vj_error **err);

/*
 * The plans' part: the derived plan's RLIMIT_MEMLOCK at most root's plan's.  A
 * derived plan that leaves the limit unchanged passes; one that sets a limit
 * where root's leaves it unchanged does not (root granted no limit).  0, or -1
 * with *err (status 2, object "memlock").
 */
int vj_plan_bound(const struct vj_plan *derived, const struct vj_plan *root, const char *root_file,
		  struct vj_error **err);
