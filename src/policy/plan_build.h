/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What vj_plan_build (plan.c) and the plan's devices (plan_devices.c) share. */
#pragma once

#include <stdbool.h>

#include "hashset.h"
#include "sysfs.h"
#include "vfiojail/vfiojail.h"

/*
 * vj_plan_build() allocates the plan inside this box (vj_plan_free frees either),
 * with what only the build needs beside it: the indexes that keep node and rule
 * de-duplication linear, and the open directories of the host's /dev.
 */
struct vj_plan_priv {
	struct vj_index node_ix; /* node path -> nodes[] */
	struct vj_index rule_ix; /* (type, major, minor) -> rules[] */
	struct vj_dev_lookup devs;
};

/* A warning for the plan (printf-style): 0, or -1 out of memory. */
int vj_plan_warn(struct vj_plan *p, struct vj_error **err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The default nodes: pseudo-devices, /dev/kvm and the like when the host has them,
 * the pts rules, the ptmx link in a container. */
int vj_plan_defaults(struct vj_plan *p, const struct vj_plan_opts *opts, struct vj_error **err);
/* The spec's iommufd contexts and /dev/iommu. */
int vj_plan_iommufd(struct vj_plan *p, const struct vj_spec *s, const struct vj_plan_opts *opts,
		    struct vj_error **err);
/* One hostdev: on a vfio driver, in a viable group, its VFIO node. */
int vj_plan_hostdev(struct vj_plan *p, const struct vj_hostdev_spec *h, const struct vj_plan_opts *opts,
		    struct vj_error **err);
/* The spec's device nodes. */
int vj_plan_devices(struct vj_plan *p, const struct vj_spec *s, const struct vj_plan_opts *opts,
		    struct vj_error **err);
/* The filter's rules, one per node's device. */
int vj_plan_rules_from_nodes(struct vj_plan *p, struct vj_error **err);
