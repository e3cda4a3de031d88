/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cgroup v2 device filter: a BPF_PROG_TYPE_CGROUP_DEVICE program
 * (bpf/devfilter.bpf.c) that allows what a hash map of
 * (type, major, minor) -> access bits holds, with wildcard minor or
 * major+minor entries.  Hotplug is one map update on the pinned map, or, past
 * the map's size, a bigger filter swapped in on the same link.
 *
 * Errors: status VJ_EXIT_SETUP, step "devfilter", the cgroup or pin path as
 * object, the errno and a hint.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vfiojail/vfiojail.h"

#define VJ_BPFFS_DEFAULT "/sys/fs/bpf"

struct vj_devfilter; /* the loaded program, its map and (once attached) its link */

/* Load the program with a map sized for @n rules (and room for hotplug), fill the map. */
int vj_devfilter_load(const struct vj_rule *rules, size_t n, struct vj_devfilter **out,
		      struct vj_error **err);

/*
 * Attach to the cgroup behind @cgroup_fd as a BPF link (multi-attach: every
 * program on the path from the root must allow), then check with
 * BPF_PROG_QUERY that the program is listed on the cgroup.  Any failure
 * detaches and returns an error: the caller must not start the VM.
 * @cgroup_path names the cgroup in messages (may be NULL).
 */
int vj_devfilter_attach(struct vj_devfilter *f, int cgroup_fd, const char *cgroup_path,
			struct vj_error **err);

/* The kernel's id of the loaded program (0 when unknown). */
uint32_t vj_devfilter_prog_id(const struct vj_devfilter *f);

/* <bpffs_root or /sys/fs/bpf>/vfiojail/<the name's escape (name.h), each "." written ":">,
 * or NULL without memory or for an invalid name. */
char *vj_devfilter_pin_dir(const char *bpffs_root, const char *name);

/*
 * mkdir -p @dir (0700, must be on a bpffs), pin the link as @dir/link and the
 * map as @dir/rules.  A pinned link stays attached after vj_devfilter_free().
 */
int vj_devfilter_pin(struct vj_devfilter *f, const char *dir, struct vj_error **err);

/* Remove @dir/link, @dir/rules (and a grow's leftover temporary pin) and @dir itself;
 * what is missing already is fine. */
int vj_devfilter_unpin_dir(const char *dir, struct vj_error **err);

/* Open the pinned map and link of @dir; either out pointer may be NULL. */
int vj_devfilter_open_pinned(const char *dir, int *map_fd, int *link_fd, struct vj_error **err);
/* Open the pinned map of @dir, checked as above, with its max_entries (one look). */
int vj_devfilter_open_pinned_map(const char *dir, int *map_fd, uint32_t *max_entries, struct vj_error **err);

/* What pinning under @bpffs_root will meet, checked without changing anything: the
 * root is a bpffs (when given explicitly), and its vfiojail/ directory, if any, is
 * ours and no one else can write it.  0, or -1 with the error pinning would give. */
int vj_devfilter_check_root(const char *bpffs_root, bool explicit_root, struct vj_error **err);

/* The id of the cgroup the link pinned in @dir is attached to (the cgroup's inode
 * number, the same in every namespace): 0, or -errno (-ENOENT: no pinned link). */
int vj_devfilter_pinned_cgroup_id(const char *dir, uint64_t *id);

/* Add or replace the rule's entry (hotplug). */
int vj_devfilter_map_update(int map_fd, const struct vj_rule *r, struct vj_error **err);
/* Remove the rule's entry; a missing entry is an error (ENOENT). */
int vj_devfilter_map_delete(int map_fd, const struct vj_rule *r, struct vj_error **err);
/* Every entry, sorted by type, major, minor; reasons are NULL. */
int vj_devfilter_map_dump(int map_fd, struct vj_rule **rules, size_t *n, struct vj_error **err);
/* Free an array of rules (and their reasons). */
void vj_devfilter_rules_free(struct vj_rule *rules, size_t n);

/* The max_entries of the map behind @map_fd: how many rules it holds at most. */
int vj_devfilter_map_max_entries(int map_fd, uint32_t *max_entries, struct vj_error **err);

struct vj_devfilter_swap; /* what vj_devfilter_replace() swapped out, kept for a rollback */

/*
 * Grow the pinned filter of @dir: load a new program whose map is sized for
 * @rules (the full set, not a difference) and filled with them, put it on the
 * pinned link in place of the old one in one BPF_LINK_UPDATE (the cgroup is
 * never unfiltered; the link stays), check with BPF_PROG_QUERY on @cgroup_fd
 * that the new program is the one attached, and pin the new map over
 * @dir/rules (a pin under a temporary name renamed over the old one).  On
 * failure the jail is as before.  *out keeps the old program and map for
 * vj_devfilter_swap_rollback(); vj_devfilter_swap_free() lets them go.
 */
int vj_devfilter_replace(const char *dir, int cgroup_fd, const struct vj_rule *rules, size_t n,
			 struct vj_devfilter_swap **out, struct vj_error **err);

/* Put the old program back on the link and the old map back at @dir/rules. */
int vj_devfilter_swap_rollback(struct vj_devfilter_swap *s, struct vj_error **err);

/* Close what the swap kept (the old program and map go when nothing else holds them). */
void vj_devfilter_swap_free(struct vj_devfilter_swap *s);

/* Close everything; an attached link that was not pinned detaches. */
void vj_devfilter_free(struct vj_devfilter *f);
