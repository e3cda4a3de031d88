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
#include <time.h>

#include "memlock.h"

struct json_object;
#include "vfiojail/vfiojail.h"

enum vj_state_kind {
	VJ_STATE_RUN = 0,   /* made by run: lives as long as its VMM          */
	VJ_STATE_SETUP = 1, /* made by setup: lives until teardown            */
};

/*
 * Which command made the jail ("origin" in the state), so that a command acting
 * for one of them (the libvirt release hook, for the launch service) leaves the
 * others' jails alone.  A state of an older vfiojail does not say: unknown, never
 * taken for launch (one of kind "setup" can only be setup's).
 */
enum vj_state_origin {
	VJ_ORIGIN_UNKNOWN = 0, /* an older vfiojail's state                    */
	VJ_ORIGIN_RUN,         /* vfiojail run, supervised or --exec            */
	VJ_ORIGIN_SETUP,       /* vfiojail setup                                */
	VJ_ORIGIN_LAUNCH,      /* the launch service (serve), for vfiojail launch */
};
/* "run", "setup", "launch", or "unknown". */
const char *vj_state_origin_name(enum vj_state_origin o);

/* enum vj_memlock_from (memlock.h): where a launched VMM's RLIMIT_MEMLOCK comes from. */
/* "plan", "launcher", "exact", or NULL for none. */
const char *vj_memlock_from_name(enum vj_memlock_from f);
/* The words status shows for @f. */
const char *vj_memlock_from_said(enum vj_memlock_from f);

/*
 * The steps of the apply engine (apply.h), as its ledger in the state names them.
 * The first three make the jail's own objects; the next three change a jail made
 * by setup from one plan to the next; the contexts are fds of one process and the
 * VMM's own RLIMIT_MEMLOCK goes with its process: neither is recorded.
 */
enum vj_step {
	VJ_STEP_CGROUP,    /* "cgroup": the VM's cgroup                             */
	VJ_STEP_FILTER,    /* "filter": device filter loaded, attached as a link, pinned */
	VJ_STEP_NAMESPACE, /* "namespace": setup's kept mount namespace and its binding */
	VJ_STEP_MEMLOCK,   /* "memlock": RLIMIT_MEMLOCK of the VM's processes        */
	VJ_STEP_NODES,     /* "nodes": nodes in the kept namespace's /dev            */
	VJ_STEP_RULES,     /* "rules": the filter's rules                            */
	VJ_STEP_CONTEXTS,  /* iommufd contexts: this process's fds only              */
	VJ_STEP_VMM_MEMLOCK, /* RLIMIT_MEMLOCK of the one process that becomes the VMM */
	VJ_STEP_COUNT,
};
#define VJ_STEP_BIT(s) (1u << (s))
/* The ledger's word for @s. */
const char *vj_step_name(enum vj_step s);

/* The VMM's RLIMIT_MEMLOCK as it was before an attach first raised it (the
 * jail's plan set no limit until then), for the detach that leaves a plan
 * setting none again to put back (docs/MEMLOCK.md). */
struct vj_memlock_before {
	bool set;           /* recorded: the raise is vfiojail's          */
	uint64_t soft, hard; /* UINT64_MAX = unlimited                     */
};

/* A change of plan under way (attach, detach): written before its first step,
 * dropped when it is done or undone; a command that finds one (a crash) undoes it. */
struct vj_state_change {
	struct vj_plan *plan; /* the plan the jail goes to          */
	char *spec;           /* the spec that goes with it (JSON)  */
	unsigned steps;       /* VJ_STEP_BIT()s that may have begun */
	char *plan_json;      /* plan in the state's form (brief), serialised once
			       * for both writes of a change; NULL: from plan */
};

struct vj_state {
	char *name;
	enum vj_state_kind kind;
	enum vj_state_origin origin;
	char *cgroup;      /* absolute cgroup2 path, NULL before it is known */
	char *bpf_pin;     /* pin directory of the device filter             */
	char *ns_path;     /* setup: the nsfs binding of the jail's mount ns */
	pid_t supervisor;  /* supervising vfiojail, 0 with --exec            */
	pid_t vmm;         /* the VMM, 0 before it started                   */
	uint64_t vmm_start; /* the VMM's start time (/proc/PID/stat), 0 when not recorded */
	/* launch: the VMM's RLIMIT_MEMLOCK (UINT64_MAX = unlimited) and its source */
	uint64_t vmm_memlock_soft, vmm_memlock_hard;
	enum vj_memlock_from vmm_memlock_from;
	/* run, launch: what the VMM had before attach raised it ("vmm_memlock_before";
	 * absent in older files and when nothing was raised) */
	struct vj_memlock_before vmm_memlock_before;
	pid_t owner;       /* setup: its caller (the launcher), 0 when unknown */
	uint64_t owner_start; /* the owner's start time (/proc/PID/stat), for pid reuse */
	/* What later commands need (setup; NULL/false in older files): */
	struct vj_plan *plan; /* uid, gid, nodes, rules, memlock, iommufd     */
	char *spec;        /* the spec as JSON text, for re-planning          */
	/* that spec's tree as vj_state_read parsed it (a reference: re-planning
	 * need not parse the text again); NULL when @spec is not the one read */
	struct json_object *spec_tree;
	char *sysfs_root, *proc_root, *dev_root, *cgroup_parent; /* as given  */
	bool iommufd_best_effort;
	/* The ledger, written ahead: the steps that made the jail's own objects (the
	 * cgroup, filter and namespace bits) which may have begun; each one's undo
	 * removes what part of it exists.  A state of an older vfiojail has none:
	 * every object it names counts as begun. */
	unsigned ledger;
	struct vj_state_change *change; /* NULL when no change is under way */
	/* plan as the state file has it, when the writer has that text at hand
	 * (vj_state_plan_json: the apply engine's, while the plan stands); NULL:
	 * written from plan.  Not owned; never read from a file. */
	const char *plan_json;
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

/* @plan in the state file's form (brief), for vj_state.plan_json and
 * vj_state_change.plan_json; NULL when out of memory. */
char *vj_state_plan_json(const struct vj_plan *plan);

/* Write NAME.json atomically (temporary file, then rename). */
int vj_state_write(int dirfd, const struct vj_state *st, struct vj_error **err);

/* Which file NAME.json is: a writer replaces it by rename (a new inode), so a
 * file with the same stamp is the one written, unchanged since. */
struct vj_state_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};
/* vj_state_write, and the stamp of the file it put in place into *stamp. */
int vj_state_write_stamped(int dirfd, const struct vj_state *st, struct vj_state_stamp *stamp,
			   struct vj_error **err);
/* Whether NAME.json is still the file of @stamp: 1 yes, 0 it changed (or is not
 * a regular file of vfiojail's user), -1 with errno (ENOENT: there is none). */
int vj_state_unchanged(int dirfd, const char *name, const struct vj_state_stamp *stamp);
/* Read NAME.json: 0 and filled, 1 when there is none, VJ_STATE_DAMAGED for a file
 * that exists but cannot be trusted, -1 when it could not be read (which says
 * nothing about its contents: the caller must not treat it as damaged). */
#define VJ_STATE_DAMAGED (-2)
int vj_state_read(int dirfd, const char *name, struct vj_state *st, struct vj_error **err);
/* The names with a NAME.json in the state directory (sorted); 0 or -1. */
int vj_state_list(int dirfd, char ***names, size_t *n, struct vj_error **err);
/* Unlink NAME.json; absent is fine. */
int vj_state_remove(int dirfd, const char *name, struct vj_error **err);
/* The spec's tree goes (its text was replaced): NULL. */
void vj_state_spec_tree_drop(struct vj_state *st);
void vj_state_clear(struct vj_state *st);
void vj_state_change_free(struct vj_state_change *c);
