/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state directory: one lock and one JSON state file per jail name.
 * Entries are opened relative to the directory, never following symlinks, and the
 * directory itself must be root's and not writable by others.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "vfiojail/vfiojail.h"

struct vj_state {
	char *name;
	char *cgroup;      /* absolute cgroup2 path, NULL before it is known */
	char *bpf_pin;     /* pin directory of the device filter             */
	pid_t supervisor;  /* supervising vfiojail, 0 with --exec            */
	pid_t vmm;         /* the VMM, 0 before it started                   */
};

const char *vj_state_dir(const char *state_dir);

/* Open (creating 0700) and check the state directory; returns an O_DIRECTORY fd. */
int vj_state_dir_open(const char *state_dir, struct vj_error **err);

/* Take NAME's lock without waiting: a held lock is "name in use" (status 2).
 * Returns the lock fd; release with vj_state_unlock. */
int vj_state_lock(int dirfd, const char *name, struct vj_error **err);
/* Remove the lock file (while still holding it) and close it. */
void vj_state_unlock(int dirfd, const char *name, int lock_fd);

/* Write NAME.json atomically (temporary file, fsync, rename). */
int vj_state_write(int dirfd, const struct vj_state *st, struct vj_error **err);
/* Read NAME.json: 0 and filled, 1 when there is none, -1 on a damaged or unsafe file. */
int vj_state_read(int dirfd, const char *name, struct vj_state *st, struct vj_error **err);
/* Unlink NAME.json; absent is fine. */
int vj_state_remove(int dirfd, const char *name, struct vj_error **err);
void vj_state_clear(struct vj_state *st);
