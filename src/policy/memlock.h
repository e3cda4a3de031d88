/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The locked-memory policy: a pure function from the VM to RLIMIT_MEMLOCK. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include "vfiojail/vfiojail.h"

/* The limit a memlock plan sets, in bytes: UINT64_MAX when unlimited (as
 * RLIM_INFINITY reads); meaningless when the plan leaves the limit unchanged. */
static inline uint64_t vj_memlock_plan_limit(const struct vj_memlock_plan *m)
{
	return m->unlimited ? UINT64_MAX : m->bytes;
}

struct vj_memlock_input {
	const char *arch;           /* "x86_64", "aarch64", "ppc64", "ppc64le", ... */
	uint64_t memory;            /* guest RAM incl. hotpluggable maximum          */
	struct vj_memlock_spec spec;
	unsigned n_vfio;            /* VFIO hostdevs                                  */
	/* One label per DMA address space in use, e.g.
	 * "iommufd context iommufd0 (0009:06:00.0, 0009:07:00.0)" or
	 * "legacy VFIO container (0000:07:00.1)". */
	const char *const *spaces;
	size_t n_spaces;
	bool legacy;                /* any hostdev on the legacy backend              */
	unsigned viommu, nvme, vdpa;
	unsigned pci_host_bridges;  /* ppc64; 0 is taken as 1                         */
	bool migration;
	uint64_t page_size;         /* host page size; 0 is taken as 4096             */
};

/* Fill @out (terms allocated; free with vj_memlock_plan_clear).  Fails only
 * for the >8 TiB legacy+migration guard (status 2, step "memlock") or on
 * overflow or allocation failure. */
int vj_memlock_compute(const struct vj_memlock_input *in, struct vj_memlock_plan *out,
		       struct vj_error **err);
void vj_memlock_plan_clear(struct vj_memlock_plan *p);

/*
 * Where the RLIMIT_MEMLOCK a launched VMM got comes from (launch only; the
 * launch service decides it and records it, the client sets it).  Never a
 * launcher's higher limit lowered without the plan saying why.
 */
enum vj_memlock_from {
	VJ_MEMLOCK_FROM_NONE = 0, /* not recorded (run, setup, an older launch)       */
	VJ_MEMLOCK_FROM_PLAN,     /* "plan": the launcher's was not above it         */
	VJ_MEMLOCK_FROM_LAUNCHER, /* "launcher": the launcher's, kept: above the plan */
	VJ_MEMLOCK_FROM_EXACT,    /* "exact": the spec's memlock.hard_limit, exactly,
				   * even below the launcher's                      */
};

/*
 * The RLIMIT_MEMLOCK a launched VMM gets, from the plan's @m and the limits its
 * launcher gave it (@cur_soft, @cur_hard; UINT64_MAX = unlimited): each limit is
 * raised to the plan when it is lower and kept when it is higher, unless the
 * spec asks for an exact limit (@exact: memlock.hard_limit), which is set as it
 * is, lower or not.  The service records the result in the state, the client
 * (vfiojail launch) sets it; both use this one rule.  *soft and *hard get the
 * result; returns where the soft limit comes from (VJ_MEMLOCK_FROM_NONE when @m
 * leaves the limit unchanged).
 */
enum vj_memlock_from vj_launch_memlock(const struct vj_memlock_plan *m, bool exact, uint64_t cur_soft,
				       uint64_t cur_hard, uint64_t *soft, uint64_t *hard);
