/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plan: a pure function of (spec, host snapshot).  `plan` prints it, `run` applies it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "vfiojail/vfiojail.h"

/* The host's uname -m, as spec "arch" values are written. */
const char *vj_host_arch(void);

/* A node's deep copy (0, or -1 without memory: *dst is then still safe to
 * clear), and the release of one. */
int vj_node_copy(struct vj_node *dst, const struct vj_node *src);
void vj_node_clear(struct vj_node *n);

/* A copy of @p for a change to apply (hotplug): everything but the warnings and
 * the memlock terms.  NULL without memory; free with vj_plan_free. */
struct vj_plan *vj_plan_dup(const struct vj_plan *p);

struct json_object;
/* Print @o pretty, as every --json output of vfiojail is, then release it. */
int vj_json_print_put(struct json_object *o, FILE *f);

/* The fd name attach --qmp gives a device it hot-plugs ("vfiojail-" and the
 * address, colons as '-'); a spec's fd ids may not take this prefix. */
#define VJ_QMP_FD_PREFIX "vfiojail-"

/* @h is handed to the VMM as an fd when it starts (run, enter, launch, the
 * hand-off): its spec asked for it.  A device attach --qmp hot-plugged is
 * QEMU's already, by the fd it got over QMP, and is not handed again. */
static inline bool vj_hostdev_fd_at_start(const struct vj_hostdev_plan *h)
{
	return h->fd && strncmp(h->fd, VJ_QMP_FD_PREFIX, strlen(VJ_QMP_FD_PREFIX)) != 0;
}

/* Two rules name the same device (type, major, minor; access aside). */
static inline bool vj_rule_same_device(const struct vj_rule *a, const struct vj_rule *b)
{
	return a->type == b->type && a->major == b->major && a->minor == b->minor;
}

/* The rule of @rules[0..@n) for @r's device, or NULL. */
static inline struct vj_rule *vj_rule_find(const struct vj_rule *rules, size_t n,
					   const struct vj_rule *r)
{
	for (size_t i = 0; i < n; i++)
		if (vj_rule_same_device(&rules[i], r))
			return (struct vj_rule *)&rules[i];
	return NULL;
}
