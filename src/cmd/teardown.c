/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiojail teardown (its body is the engine's: remove.c), the libvirt release
 * hook's teardown of a launched jail, and gc.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "apply.h"
#include "cgroup.h"
#include "error.h"
#include "jail.h"
#include "name.h"
#include "remove.h"
#include "state.h"
#include "util.h"

/* The body is the engine's (remove.h), shared with the launch service. */
int vj_teardown(const char *name, const struct vj_run_opts *o, bool kill, struct vj_error **err)
{
	return vj_jail_remove(name, o, kill, err);
}

/* A jail of the launch service whose VMM is gone: removed, without killing. */
static int teardown_launched(int dirfd, struct vj_state *st, const struct vj_run_opts *o,
			     struct vj_error **err)
{
	char msg[VJ_NAME_SHOWN_MAX + 256], shown[VJ_NAME_SHOWN_MAX];
	bool populated = false;

	if (st->origin != VJ_ORIGIN_LAUNCH) {
		vj_name_shown(st->name, shown);
		if (st->origin == VJ_ORIGIN_UNKNOWN)
			snprintf(msg, sizeof(msg),
				 "%s: left alone: an older vfiojail made this jail and did not record which command did (vfiojail teardown NAME removes it)",
				 shown);
		else
			snprintf(msg, sizeof(msg), "%s: left alone: made by vfiojail %s, not by the launch service",
				 shown, vj_state_origin_name(st->origin));
		if (o->warn)
			o->warn(msg, o->userdata);
		return 1;
	}
	if (vj_jail_vmm_runs(st))
		return vj_err(err, VJ_EXIT_FAIL, EBUSY, "teardown", st->name,
			      "the launch service removes the jail when its VMM exits; vfiojail teardown --kill NAME stops it",
			      "left alone: its VMM (pid %d) still runs", (int)st->vmm);
	if (st->cgroup && vj_cgroup_populated(st->cgroup, &populated, NULL) == 0 && populated)
		return vj_err(err, VJ_EXIT_FAIL, EBUSY, "teardown", st->name,
			      "vfiojail teardown --kill NAME kills them and removes the jail",
			      "left alone: its VMM (pid %d) is gone, but its cgroup %s still has processes",
			      (int)st->vmm, st->cgroup);
	return vj_apply_destroy(dirfd, st, false, err);
}

int vj_teardown_if_launched(const char *name, const struct vj_run_opts *o, struct vj_error **err)
{
	_cleanup_close_ int dirfd = -1;
	struct vj_state st;
	int lock_fd, r;

	if (vj_validate_name(name, "NAME", err) < 0)
		return -1;
	r = vj_state_dir_find(o->state_dir, &dirfd, err);
	if (r <= 0)
		return r; /* no state directory: no jail */
	if (vj_jail_state_absent(dirfd, name))
		return 0; /* no jail of this name: a domain vfiojail does not jail */
	lock_fd = vj_jail_lock_name(dirfd, name, true, err);
	if (lock_fd < 0)
		return -1;
	r = vj_state_read(dirfd, name, &st, err);
	if (r == 1)
		r = 0; /* removed meanwhile */
	else if (r == VJ_STATE_DAMAGED)
		r = vj_err_wrap(err, "teardown", name,
				"left alone: the state file is damaged, so nothing tells whether the launch service made this jail (vfiojail teardown NAME removes it)");
	else if (r == 0)
		r = teardown_launched(dirfd, &st, o, err);
	vj_state_clear(&st);
	vj_state_unlock(dirfd, name, lock_fd);
	if (r < 0 && err && !*err)
		vj_err(err, VJ_EXIT_SETUP, 0, "teardown", name, NULL, "teardown failed");
	return r;
}

/* ------------------------------------------------------------------------- */
/* gc                                                                         */

int vj_gc(const struct vj_run_opts *o, char ***removed, size_t *n_removed, struct vj_error **err)
{
	char **names = NULL, **out = NULL;
	size_t n = 0, count = 0;
	int r = 0;

	if (vj_list(o, &names, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct vj_status *st = NULL;
		bool abandoned = vj_status_get(names[i], o, &st, NULL) == 0 && st->abandoned;
		char **slot;

		vj_status_free(st);
		if (!abandoned || vj_teardown(names[i], o, false, r < 0 ? NULL : err) != 0) {
			if (abandoned)
				r = -1;
			free(names[i]);
			continue;
		}
		slot = VJ_PUSH(out, count);
		if (!slot) {
			free(names[i]);
			continue;
		}
		*slot = names[i];
	}
	free(names);
	*removed = out;
	*n_removed = count;
	return r;
}
