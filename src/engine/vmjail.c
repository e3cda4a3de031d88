/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A jail made for a VMM (vmjail.h): what run and the launch service share.
 */
#include "vmjail.h"

#include <errno.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

static const enum vj_step vmjail_steps[] = { VJ_STEP_CGROUP, VJ_STEP_FILTER, VJ_STEP_CONTEXTS };

void vj_vmjail_free(struct vj_vmjail *l)
{
	vj_apply_release(&l->a);
	vj_preflight_clear(&l->pf);
	vj_vmm_free(&l->vmm);
	vj_jail_close(&l->j);
}

int vj_vmjail_create(struct vj_vmjail *l, struct vj_plan *plan, struct vj_error **err)
{
	if (vj_jail_claim(&l->j, plan, l->o, true, &l->pf, err) < 0)
		return -1;
	/* --exec: this process becomes the VMM; a hand-off: the client does. */
	l->j.st.supervisor = l->o->exec || l->target ? 0 : getpid();
	l->j.st.vmm = l->target ? l->target : l->o->exec ? getpid() : 0;
	vj_jail_origin(&l->j, l->target ? VJ_ORIGIN_LAUNCH : VJ_ORIGIN_RUN);
	l->j.st.vmm_memlock_soft = l->memlock_soft;
	l->j.st.vmm_memlock_hard = l->memlock_hard;
	l->j.st.vmm_memlock_from = l->memlock_from;
	/* The spec and the roots, for attach and detach to plan again. */
	if (vj_jail_keep_spec(&l->j, l->spec, l->o) < 0)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", plan->name, NULL, "out of memory");
	l->vmm.plan = plan;
	l->a = (struct vj_apply){ .dirfd = l->j.dirfd, .st = &l->j.st, .o = l->o, .vmm = &l->vmm };
	/* run's child sets soft = hard = the plan; a hand-off's client is raised by pid. */
	vj_apply_vmm_memlock(&l->a, l->target ? VJ_VMM_MEMLOCK_RAISE : VJ_VMM_MEMLOCK_PLAN, &plan->memlock);
	return vj_apply_create(&l->a, vmjail_steps, ARRAY_SIZE(vmjail_steps), err);
}
