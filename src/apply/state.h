/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state directory: one lock and one JSON state file per jail name.
 * Entries are opened relative to the directory, never following symlinks, and the
 * directory itself must be root's and not writable by others.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vfiojail/vfiojail.h"

enum vj_state_kind {
	VJ_STATE_RUN = 0,   /* made by run: lives as long as its VMM          */
	VJ_STATE_SETUP = 1, /* made by setup: lives until teardown            */
};

struct vj_state {
	char *name;
	enum vj_state_kind kind;
	char *cgroup;      /* absolute cgroup2 path, NULL before it is known */
	char *bpf_pin;     /* pin directory of the device filter             */
	char *ns_path;     /* setup: the nsfs binding of the jail's mount ns */
	pid_t supervisor;  /* supervising vfiojail, 0 with --exec            */
	pid_t vmm;         /* the VMM, 0 before it started                   */
	pid_t owner;       /* setup: its caller (the launcher), 0 when unknown */
	uint64_t owner_start; /* the owner's start time (/proc/PID/stat), for pid reuse */
	/* What later commands need (setup; NULL/false in older files): */
	struct vj_plan *plan; /* uid, gid, nodes, rules, memlock, iommufd     */
	char *spec;        /* the spec as JSON text, for re-planning          */
	char *sysfs_root, *proc_root, *dev_root, *cgroup_parent; /* as given  */
	bool iommufd_best_effort;
};

const char *vj_state_dir(const char *state_dir);

/* Open (creating 0700) and check the state directory; returns an O_DIRECTORY fd. */
int vj_state_dir_open(const char *state_dir, struct vj_error **err);

/* The state directory when it exists, made by nobody else: 1 and *fd_out, 0 when it
 * does not exist (nothing is created: list, status, gc and teardown need not write),
 * -1 with an error. */
int vj_state_dir_find(const char *state_dir, int *fd_out, struct vj_error **err);

/* Take NAME's lock without waiting: a held lock is "name in use" (status 2).
 * Returns the lock fd; release with vj_state_unlock. */
int vj_state_lock(int dirfd, const char *name, struct vj_error **err);
/* Remove the lock file (while still holding it) and close it. */
void vj_state_unlock(int dirfd, const char *name, int lock_fd);

/* Write NAME.json atomically (temporary file, fsync, rename). */
int vj_state_write(int dirfd, const struct vj_state *st, struct vj_error **err);
/* Read NAME.json: 0 and filled, 1 when there is none, VJ_STATE_DAMAGED for a file
 * that exists but cannot be trusted, -1 when it could not be read (which says
 * nothing about its contents: the caller must not treat it as damaged). */
#define VJ_STATE_DAMAGED (-2)
int vj_state_read(int dirfd, const char *name, struct vj_state *st, struct vj_error **err);
/* The names with a NAME.json in the state directory (sorted); 0 or -1. */
int vj_state_list(int dirfd, char ***names, size_t *n, struct vj_error **err);
/* Unlink NAME.json; absent is fine. */
int vj_state_remove(int dirfd, const char *name, struct vj_error **err);
void vj_state_clear(struct vj_state *st);
