/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Removing a jail by name (remove.h): with a state file, without one, a
 * damaged one, a read-only state dir; and the jail of a VMM that has ended.
 */
#include "remove.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "cgroup.h"
#include "error.h"
#include "handoff_record.h"
#include "jail.h"
#include "name.h"
#include "pins.h"
#include "sysfs.h"
#include "state.h"
#include "util.h"

static int oom(struct vj_error **err, const char *object)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", object, NULL, "out of memory");
}

/* Without a usable state file: the jail as far as its name leads (pins and
 * namespace binding; the cgroup when @cgroup, taken), every object counted as begun. */
static int state_by_name(struct vj_state *st, const char *name, const struct vj_run_opts *o,
			 char *cgroup, struct vj_error **err)
{
	*st = (struct vj_state){ .cgroup = cgroup };
	st->name = strdup(name);
	st->bpf_pin = vj_jail_pin_dir(o, name);
	st->ns_path = vj_jail_ns_path(o, name);
	st->ledger = VJ_STEP_BIT(VJ_STEP_FILTER) | VJ_STEP_BIT(VJ_STEP_NAMESPACE) |
		     (cgroup ? VJ_STEP_BIT(VJ_STEP_CGROUP) : 0);
	if (!st->name || !st->bpf_pin || !st->ns_path) {
		vj_state_clear(st);
		return oom(err, name);
	}
	return 0;
}

/* Search the cgroup2 tree (a few levels deep, as launchers nest) for directories
 * named @want (vfiojail-ESC): 1 and *path when exactly one, 0 none, 2 several, -1 error. */
static int find_cgroup_in(const char *dir, const char *want, int depth, char **path)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && found < 2) {
		_cleanup_free_ char *sub = NULL;
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = vj_strdupf("%s/%s", dir, de->d_name);
		if (!sub)
			return -1;
		if (strcmp(de->d_name, want) == 0) {
			if (found++ == 0)
				*path = TAKE_PTR(sub);
			continue;
		}
		if (depth > 0) {
			char *deeper = NULL;
			int r = find_cgroup_in(sub, want, depth - 1, &deeper);
			if (r < 0)
				return -1;
			if (r > 0 && found == 0)
				*path = deeper;
			else
				free(deeper);
			found += r;
		}
	}
	return found > 2 ? 2 : found;
}

static int find_cgroup_by_name(const struct vj_run_opts *o, const char *name, char **path)
{
	_cleanup_free_ char *root = NULL, *own = NULL;
	_cleanup_free_ char *esc = vj_name_escape(name);
	_cleanup_free_ char *want = esc ? vj_strdupf("vfiojail-%s", esc) : NULL;
	int r;

	*path = NULL;
	if (!want || vj_cgroup2_root(vj_root_proc(&o->plan.roots), &root, NULL) < 0)
		return -1;
	/* First where a jail is made by default, below the caller's own cgroup, so that
	 * jails of other launchers (other containers, other state dirs) do not count. */
	if (vj_cgroup_self_dir(vj_root_proc(&o->plan.roots), &own, NULL) == 0 &&
	    strcmp(own, root) != 0) {
		r = find_cgroup_in(own, want, 6, path);
		if (r != 0)
			goto out;
		free(*path);
		*path = NULL;
	}
	r = find_cgroup_in(root, want, 6, path);
out:
	if (r != 1) {
		free(*path);
		*path = NULL;
	}
	return r;
}

/* No state directory, or a read-only one without this name: there is no state to
 * remove, only pins a crashed launch may have left (never those of a VM that runs). */
static int teardown_without_state_dir(const char *name, const struct vj_run_opts *o,
				      struct vj_error **err)
{
	_cleanup_free_ char *pin = vj_jail_pin_dir(o, name);
	struct stat st;

	if (err && *err) {
		vj_error_free(*err);
		*err = NULL;
	}
	if (!pin)
		return oom(err, name);
	if (lstat(pin, &st) < 0)
		return 0;
	return vj_jail_unpin(-1, pin, err);
}

bool vj_jail_state_absent(int dirfd, const char *name)
{
	_cleanup_free_ char *esc = vj_name_escape(name);
	_cleanup_free_ char *f = esc ? vj_strdupf("%s.json", esc) : NULL;
	struct stat st;

	return f && fstatat(dirfd, f, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

static bool lock_unwritable(struct vj_error **err)
{
	return err && *err && ((*err)->errnum == EROFS || (*err)->errnum == EACCES);
}

/* A damaged state file: remove what can be derived from the name, and the cgroup
 * when exactly one vfiojail-ESC can be found. */
static int teardown_damaged(int dirfd, const char *name, const struct vj_run_opts *o, bool kill,
			    struct vj_error **err)
{
	char *cg = NULL;
	_cleanup_free_ char *esc = NULL;
	struct vj_error *e = NULL;
	struct vj_state st;
	int found = find_cgroup_by_name(o, name, &cg);
	bool busy = false;

	/* A VM that still runs keeps its filter: nothing is removed without --kill. */
	if (found == 1 && vj_cgroup_populated(cg, &busy, NULL) == 0 && busy && !kill) {
		vj_error_free(*err);
		*err = NULL;
		vj_err(err, VJ_EXIT_FAIL, EBUSY, "teardown", name,
		       "stop the VMM first, or add --kill to SIGKILL every process in its cgroup",
		       "the state file is damaged and the VM still runs (cgroup %s)", cg);
		free(cg);
		return -1;
	}
	if (state_by_name(&st, name, o, cg, &e) < 0 || vj_apply_destroy(dirfd, &st, busy, &e) < 0) {
		vj_state_clear(&st);
		vj_error_free(*err);
		*err = e;
		return -1;
	}
	vj_state_clear(&st);
	if (found == 1) {
		/* Everything was found by name and removed; say what happened. */
		if (o->warn && *err && (*err)->message)
			o->warn((*err)->message, o->userdata);
		vj_error_free(*err);
		*err = NULL;
		return 0;
	}
	esc = vj_name_escape(name);
	return vj_err_wrap(err, "teardown", name,
			   found == 0 ? "removed its pins, namespace binding and state file; no cgroup vfiojail-%s was found"
			   : found < 0 ? "removed its pins, namespace binding and state file; the cgroup2 tree could not be searched for vfiojail-%s"
				       : "removed its pins, namespace binding and state file; several cgroups are named vfiojail-%s: remove the right one by hand",
			   esc ? esc : name);
}

/* The body of vj_teardown, with an error value always at hand. */
static int teardown(const char *name, const struct vj_run_opts *o, bool kill, struct vj_error **err)
{
	_cleanup_close_ int dirfd = -1;
	struct vj_state st;
	bool populated = false;
	int lock_fd, r;

	if (vj_validate_name(name, "NAME", err) < 0)
		return -1;
	r = vj_state_dir_find(o->state_dir, &dirfd, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return teardown_without_state_dir(name, o, err);
	lock_fd = vj_jail_lock_name(dirfd, name, true, err);
	if (lock_fd < 0 && vj_jail_state_absent(dirfd, name) && lock_unwritable(err))
		return teardown_without_state_dir(name, o, err); /* a read-only state dir */
	if (lock_fd < 0)
		return -1;
	r = vj_state_read(dirfd, name, &st, err);
	if (r == VJ_STATE_DAMAGED)
		r = teardown_damaged(dirfd, name, o, kill, err);
	else if (r < 0)
		r = -1; /* could not read it: touch nothing */
	else if (r == 1) /* no state: still remove what a crashed launch may have left */
		r = state_by_name(&st, name, o, NULL, err) < 0 ? -1 : vj_apply_destroy(dirfd, &st, false, err);
	else if (st.cgroup && vj_cgroup_populated(st.cgroup, &populated, NULL) == 0 && populated && !kill)
		r = vj_err(err, VJ_EXIT_FAIL, EBUSY, "teardown", name,
			   "stop the VMM first, or add --kill to SIGKILL every process in its cgroup",
			   "the VM still runs (cgroup %s)", st.cgroup);
	else
		r = vj_apply_destroy(dirfd, &st, kill, err);
	vj_state_clear(&st);
	/* A VM of the Kubernetes path: its hand-off directory (vfiojail cdi). */
	if (r >= 0 && vj_handoff_remove(o->state_dir, name, err) < 0)
		r = -1;
	vj_state_unlock(dirfd, name, lock_fd);
	return r < 0 ? -1 : 0;
}

/* err may be NULL (gc passes NULL after a first failure): the body always has one. */
int vj_jail_remove(const char *name, const struct vj_run_opts *o, bool kill, struct vj_error **err)
{
	struct vj_error *local = NULL, **e = err ? err : &local;
	int r = teardown(name, o, kill, e);

	if (r < 0 && !*e)
		vj_err(e, VJ_EXIT_SETUP, 0, "teardown", name, NULL, "teardown failed");
	vj_error_free(local);
	return r;
}

/* The body of vj_teardown_ended_vmm and vj_teardown_ended_run: @kept (may be
 * NULL) is the state the caller wrote, stamped @stamp, used as it is while the
 * file is unchanged since (nothing was attached or detached, nobody replaced it);
 * @held (-1: none) the state dir the caller holds open, where it wrote it. */
static int ended_vmm(int held, const char *name, const struct vj_run_opts *o, pid_t vmm, uint64_t vmm_start,
		     struct vj_state *kept, const struct vj_state_stamp *stamp, struct vj_error **err)
{
	_cleanup_close_ int opened = -1;
	struct vj_state read = { 0 }, *st = &read;
	int dirfd = held, lock_fd, r = 1;

	if (held < 0) {
		r = vj_state_dir_find(o->state_dir, &opened, err);
		dirfd = opened;
	}
	if (r <= 0 || vj_jail_state_absent(dirfd, name))
		return r < 0 ? -1 : 0;
	lock_fd = vj_jail_lock_name(dirfd, name, true, err);
	if (lock_fd < 0)
		return -1;
	r = kept && stamp ? vj_state_unchanged(dirfd, name, stamp) : 0;
	if (r == 1)
		st = kept, r = 0; /* under the lock: nothing changes it now */
	else if (r < 0 && errno == ENOENT)
		r = 1;
	else
		r = vj_state_read(dirfd, name, &read, err);
	if (r == 1) {
		r = 0; /* removed meanwhile */
	} else if (r == 0 && ((st->origin != VJ_ORIGIN_LAUNCH && st->origin != VJ_ORIGIN_RUN) || st->vmm != vmm ||
			      st->vmm_start != vmm_start)) {
		/* Someone removed this VM's jail and another was made under its name:
		 * not ours to kill. */
		r = vj_err(err, VJ_EXIT_FAIL, EEXIST, "teardown", name, NULL,
			   "left alone: the jail of that name now is not the one made for pid %d", (int)vmm);
	} else if (r == 0) {
		r = vj_apply_destroy(dirfd, st, true, err);
	} else {
		r = -1;
	}
	vj_state_clear(&read);
	vj_state_unlock(dirfd, name, lock_fd);
	return r;
}

/* ended_vmm, tried once more after a failure: a passing one (an open that met
 * ENOMEM, a signal) need not leave the jail to a later teardown.  What the first
 * try removed is gone; what failed is tried again, under the lock again.  Not
 * after "left alone" (VJ_EXIT_FAIL): that jail is not this VMM's. */
static int ended_vmm_retried(int held, const char *name, const struct vj_run_opts *o, pid_t vmm,
			     uint64_t vmm_start, struct vj_state *kept, const struct vj_state_stamp *stamp,
			     struct vj_error **err)
{
	struct vj_error *e = NULL;
	int r = ended_vmm(held, name, o, vmm, vmm_start, kept, stamp, &e);

	if (r < 0 && (!e || e->status != VJ_EXIT_FAIL)) {
		vj_error_free(e);
		e = NULL;
		r = ended_vmm(held, name, o, vmm, vmm_start, kept, stamp, &e);
	}
	if (r < 0)
		return vj_err_pass(err, e);
	vj_error_free(e);
	return r;
}

int vj_teardown_ended_vmm(const char *name, const struct vj_run_opts *o, pid_t vmm, uint64_t vmm_start,
			  struct vj_error **err)
{
	return ended_vmm_retried(-1, name, o, vmm, vmm_start, NULL, NULL, err);
}

int vj_teardown_ended_run(int dirfd, struct vj_state *kept, const struct vj_state_stamp *stamp,
			  const struct vj_run_opts *o, struct vj_error **err)
{
	return ended_vmm_retried(dirfd, kept->name, o, kept->vmm, kept->vmm_start, kept, stamp, err);
}
