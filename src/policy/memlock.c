/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The locked-memory policy.  A pure function: (VM shape) -> RLIMIT_MEMLOCK,
 * with every byte of the result explained by a named term.
 *
 * Rule order: the >8 TiB legacy+migration guard, an explicit hard limit,
 * unlimited, the ppc64 formula, no DMA device (leave the limit alone), then
 * one guest-RAM budget per DMA address space / vIOMMU device / vDPA device /
 * NVMe disk, a 1 GiB I/O allowance and memlock.extra.
 */
#include "memlock.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "util.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

static int oom(struct vj_error **err)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "memlock", NULL, NULL,
		      "cannot build the locked-memory breakdown");
}

static int overflow(struct vj_error **err, uint64_t memory)
{
	return vj_err(err, VJ_EXIT_USAGE, 0, "memlock", "memory",
		      "use memlock.hard_limit or memlock.unlimited instead",
		      "the locked-memory limit for memory %" PRIu64
		      " bytes does not fit in 64 bits", memory);
}

__attribute__((format(printf, 4, 5)))
static int add_term(struct vj_memlock_plan *p, uint64_t bytes, struct vj_error **err,
		    const char *fmt, ...)
{
	struct vj_memlock_term *t;
	char *reason;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&reason, fmt, ap);
	va_end(ap);
	if (r < 0)
		return oom(err);
	t = VJ_PUSH(p->terms, p->n_terms);
	if (!t) {
		free(reason);
		return oom(err);
	}
	t->bytes = bytes;
	t->reason = reason;
	return 0;
}

/* bytes = sum of the terms; fails on uint64 overflow. */
static int sum_terms(struct vj_memlock_plan *p, uint64_t memory, struct vj_error **err)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < p->n_terms; i++)
		if (__builtin_add_overflow(sum, p->terms[i].bytes, &sum))
			return overflow(err, memory);
	p->bytes = sum;
	return 0;
}

static uint64_t page_size_of(const struct vj_memlock_input *in)
{
	return in->page_size ? in->page_size : 4096;
}

/* VFIO type1 keeps one dirty bit per page in a bitmap of at most INT_MAX bits
 * (DIRTY_BITMAP_PAGES_MAX in drivers/vfio/vfio_iommu_type1.c): a larger
 * mapping cannot have its dirty pages tracked, so it cannot be migrated. */
static int check_dirty_bitmap_guard(const struct vj_memlock_input *in, struct vj_error **err)
{
	uint64_t limit;

	if (!in->legacy || !in->migration)
		return 0;
	if (__builtin_mul_overflow((uint64_t)INT_MAX, page_size_of(in), &limit))
		return 0;
	if (in->memory <= limit)
		return 0;
	return vj_err(err, VJ_EXIT_USAGE, 0, "memlock", "memory",
		      "use backend iommufd for every hostdev",
		      "guest memory %" PRIu64 " bytes is over the ~%" PRIu64
		      " TiB (%" PRIu64 " bytes: INT_MAX pages of %" PRIu64
		      " bytes) that VFIO type1 dirty tracking can cover: a guest this"
		      " large with a legacy-backend hostdev cannot be migrated",
		      in->memory, (limit + GIB * 1024 / 2) / (GIB * 1024), limit,
		      page_size_of(in));
}

static bool arch_is_ppc64(const char *arch)
{
	return arch && (strcmp(arch, "ppc64") == 0 || strcmp(arch, "ppc64le") == 0);
}

static int add_extra(const struct vj_memlock_input *in, struct vj_memlock_plan *out,
		     struct vj_error **err)
{
	if (in->spec.extra == 0)
		return 0;
	return add_term(out, in->spec.extra, err, "memlock.extra");
}

/*
 * sPAPR guests: the hash page table, the 32-bit DMA windows and, with VFIO,
 * the 64-bit DMA window all live in locked memory (libvirt's formula).
 */
static int compute_ppc64(const struct vj_memlock_input *in, struct vj_memlock_plan *out,
			 struct vj_error **err)
{
	uint64_t phbs = in->pci_host_bridges ? in->pci_host_bridges : 1;
	uint64_t pre_ddw, with_ddw;

	if (add_term(out, in->memory / 128, err, "ppc64 hash page table: guest memory / 128") < 0 ||
	    add_term(out, 4 * MIB * phbs, err,
		     "ppc64 32-bit DMA window: 4 MiB per PCI host bridge (%" PRIu64 ")",
		     phbs) < 0 ||
	    add_term(out, 8 * MIB, err, "ppc64 DMA window table index: 8 MiB (once)") < 0)
		return -1;
	if (in->n_vfio > 0) {
		/* max(2 GiB * PHBs, memory + memory / 512 * PHBs + 8 MiB) */
		pre_ddw = 2 * GIB * phbs;
		if (__builtin_mul_overflow(in->memory / 512, phbs, &with_ddw) ||
		    __builtin_add_overflow(with_ddw, in->memory, &with_ddw) ||
		    __builtin_add_overflow(with_ddw, 8 * MIB, &with_ddw))
			return overflow(err, in->memory);
		if (add_term(out, pre_ddw > with_ddw ? pre_ddw : with_ddw, err,
			     "ppc64 VFIO DMA windows (%u device(s)): max(2 GiB * %" PRIu64
			     " PHB, guest memory + guest memory / 512 * %" PRIu64 " PHB + 8 MiB)",
			     in->n_vfio, phbs, phbs) < 0)
			return -1;
	}
	if (add_extra(in, out, err) < 0)
		return -1;
	return sum_terms(out, in->memory, err);
}

/* The VFIO part: with a vIOMMU every device maps guest RAM in its own address
 * space; without one, devices that share an address space share its pins. */
static int add_vfio_terms(const struct vj_memlock_input *in, struct vj_memlock_plan *out,
			  struct vj_error **err)
{
	if (in->n_vfio == 0)
		return 0;
	if (in->viommu > 0) {
		for (unsigned i = 1; i <= in->n_vfio; i++)
			if (add_term(out, in->memory, err,
				     "guest RAM for VFIO device %u of %u (vIOMMU: one DMA address"
				     " space per device)", i, in->n_vfio) < 0)
				return -1;
		return 0;
	}
	if (in->n_spaces == 0)
		return add_term(out, in->memory, err,
				"guest RAM for DMA address space: the one shared by %u VFIO device(s)",
				in->n_vfio);
	for (size_t i = 0; i < in->n_spaces; i++)
		if (add_term(out, in->memory, err, "guest RAM for DMA address space: %s",
			     in->spaces[i] ? in->spaces[i] : "(unnamed)") < 0)
			return -1;
	return 0;
}

static int compute_dma(const struct vj_memlock_input *in, struct vj_memlock_plan *out,
		       struct vj_error **err)
{
	if (add_vfio_terms(in, out, err) < 0)
		return -1;
	for (unsigned i = 1; i <= in->vdpa; i++)
		if (add_term(out, in->memory, err, "guest RAM for vDPA device %u", i) < 0)
			return -1;
	for (unsigned i = 1; i <= in->nvme; i++)
		if (add_term(out, in->memory, err, "guest RAM for NVMe disk %u", i) < 0)
			return -1;
	if (add_term(out, GIB, err, "1 GiB I/O allowance (once)") < 0 || add_extra(in, out, err) < 0)
		return -1;
	return sum_terms(out, in->memory, err);
}

static int compute_rules(const struct vj_memlock_input *in, struct vj_memlock_plan *out,
			 struct vj_error **err)
{
	if (check_dirty_bitmap_guard(in, err) < 0)
		return -1;

	switch (in->spec.mode) {
	case VJ_MEMLOCK_HARD:
		out->bytes = in->spec.hard_limit;
		return add_term(out, in->spec.hard_limit, err, "explicit memlock.hard_limit");
	case VJ_MEMLOCK_UNLIMITED:
		out->unlimited = true;
		return add_term(out, 0, err, "memlock.unlimited: guest memory is locked");
	case VJ_MEMLOCK_AUTO:
		break;
	}

	if (arch_is_ppc64(in->arch))
		return compute_ppc64(in, out, err);

	if (in->n_vfio == 0 && in->nvme == 0 && in->vdpa == 0) {
		out->unchanged = true;
		if (add_term(out, 0, err,
			     "no VFIO, NVMe or vDPA device: RLIMIT_MEMLOCK left as it is") < 0)
			return -1;
		if (in->spec.extra > 0)
			return add_term(out, 0, err,
					"memlock.extra (%" PRIu64 " bytes) ignored: nothing to add it to",
					in->spec.extra);
		return 0;
	}
	return compute_dma(in, out, err);
}

int vj_memlock_compute(const struct vj_memlock_input *in, struct vj_memlock_plan *out,
		       struct vj_error **err)
{
	memset(out, 0, sizeof(*out));
	if (compute_rules(in, out, err) < 0) {
		vj_memlock_plan_clear(out);
		return -1;
	}
	return 0;
}

void vj_memlock_plan_clear(struct vj_memlock_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_terms; i++)
		free(p->terms[i].reason);
	free(p->terms);
	memset(p, 0, sizeof(*p));
}

enum vj_memlock_from vj_launch_memlock(const struct vj_memlock_plan *m, bool exact, uint64_t cur_soft,
				       uint64_t cur_hard, uint64_t *soft, uint64_t *hard)
{
	uint64_t want = vj_memlock_plan_limit(m);

	*soft = cur_soft;
	*hard = cur_hard;
	if (m->unchanged)
		return VJ_MEMLOCK_FROM_NONE;
	if (exact && !m->unlimited) {
		*soft = *hard = want;
		return cur_soft > want || cur_hard > want ? VJ_MEMLOCK_FROM_EXACT : VJ_MEMLOCK_FROM_PLAN;
	}
	*soft = cur_soft > want ? cur_soft : want;
	*hard = cur_hard > want ? cur_hard : want;
	return cur_soft > want ? VJ_MEMLOCK_FROM_LAUNCHER : VJ_MEMLOCK_FROM_PLAN;
}
