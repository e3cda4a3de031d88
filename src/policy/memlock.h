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
