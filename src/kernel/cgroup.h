/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cgroup v2, written directly through cgroupfs.
 *
 * Every function that can fail returns a negative value and stores an error
 * with status VJ_EXIT_SETUP, step "cgroup", the path as object, the errno and
 * a hint.  Paths named abs_path are absolute paths of cgroup directories in
 * the mounted cgroup2 hierarchy (e.g. /sys/fs/cgroup/unified/vm1).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vfiojail/vfiojail.h"

/*
 * The cgroup2 mount point vfiojail uses, from <proc_root>/self/mountinfo (NULL =
 * /proc): the first cgroup2 mount that is visible (no later mount on it or above
 * it) and whose root covers the caller's cgroup.  On the real /proc the table is not
 * read (nor libmount loaded) when /sys/fs/cgroup, or /sys/fs/cgroup/unified below a
 * tmpfs, is a cgroup2 mount showing the caller's cgroup at <mount><cgroup>.
 */
int vj_cgroup2_root(const char *proc_root, char **mount_out, struct vj_error **err);

/* Whether cgroup v1 hierarchies are mounted beside that cgroup2 mount (always from
 * the mount table). */
bool vj_cgroup2_hybrid(const char *proc_root);

/*
 * The caller's own cgroup as an absolute directory through that mount: the mount
 * point plus the caller's path below the mount's root (a bind of a subtree), or,
 * for a mount made outside the caller's cgroup namespace (root "/.."), the
 * directory below it where the namespace's root is.
 */
int vj_cgroup_self_dir(const char *proc_root, char **dir_out, struct vj_error **err);

/*
 * vj_cgroup2_root(), vj_cgroup_self_dir() and vj_cgroup2_hybrid() work out the mount
 * and read the caller's cgroup once per command, and answer from that after: a long
 * running process calls this before each new command (the service, per request) so
 * that the mount is checked and the caller's cgroup read again.  vj_cgroup_enter()
 * of the caller forgets its cgroup by itself.
 */
void vj_cgroup_forget(void);

/* The caller's cgroup2 path ("/" or "/a/b"), from <proc_root>/self/cgroup (read
 * each time). */
int vj_cgroup_self(const char *proc_root, char **path_out, struct vj_error **err);
/* The same for another process, from /proc/PID/cgroup (as this process's cgroup
 * namespace sees it). */
int vj_cgroup_of_pid(pid_t pid, char **path_out, struct vj_error **err);
/* The same for the process of @pidfd (pidfd.h): its own file, never that of a
 * process that got its pid later. */
int vj_cgroup_of_pidfd(int pidfd, char **path_out, struct vj_error **err);

/*
 * Refuse a VM cgroup below @parent when cgroup.procs of @parent or of any ancestor
 * up to @top (the cgroup2 mount point) can be written by anyone but root: that user
 * could move the VMM out of its filtered cgroup.  The error names the cgroup and
 * who can write it.
 */
int vj_cgroup_check_ancestors(const char *parent, const char *top, struct vj_error **err);

/* Whether the cgroup with id @id (its cgroupfs inode, as a BPF link reports it) has
 * processes: 1 found, 0 no such cgroup, -errno when it cannot be looked up. */
int vj_cgroup_populated_by_id(uint64_t id, bool *populated);

/* mkdir 0755.  An existing directory is an error: a leftover is reported, never reused. */
int vj_cgroup_create(const char *abs_path, struct vj_error **err);

/* An O_DIRECTORY fd of the cgroup (for BPF attach); returns the fd or -1. */
int vj_cgroup_open(const char *abs_path, struct vj_error **err);

/* Move @pid (0 = the caller) into the cgroup through cgroup.procs. */
int vj_cgroup_enter(const char *abs_path, pid_t pid, struct vj_error **err);

/* "populated" of cgroup.events: whether a process lives in the cgroup or below. */
int vj_cgroup_populated(const char *abs_path, bool *populated, struct vj_error **err);

/* The processes of the cgroup itself (cgroup.procs), in the kernel's order. */
int vj_cgroup_pids(const char *abs_path, pid_t **pids, size_t *n, struct vj_error **err);

/*
 * SIGKILL every process of the cgroup and below: cgroup.kill where the kernel
 * has it (5.14+), else vj_cgroup_kill_each().  Does not wait for them to exit.
 */
int vj_cgroup_kill(const char *abs_path, struct vj_error **err);
/* Wait (30 s at most: a killed VMM exits once its pinned memory is released) until
 * no process is left in the cgroup, e.g. after vj_cgroup_kill. */
void vj_cgroup_wait_empty(const char *abs_path);

/*
 * The fallback for kernels without cgroup.kill: SIGKILL each pid listed in
 * cgroup.procs, again until the list is empty (about 5 s at most, then EBUSY).
 * Only the cgroup itself is walked, not its children.
 */
int vj_cgroup_kill_each(const char *abs_path, struct vj_error **err);

/*
 * rmdir.  EBUSY right after the last process left is retried for about 1 s,
 * watching cgroup.events for "populated 0".  A missing cgroup is success.
 */
int vj_cgroup_remove(const char *abs_path, struct vj_error **err);
