/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An index from keys to positions in an array the caller owns: open addressing
 * on a 64-bit hash the caller computes, with the caller's equality test.  It
 * keeps duplicate checks and de-duplication linear in the number of entries.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vj_index_slot;

struct vj_index {
	struct vj_index_slot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t n;
};

/* Does the array entry at @pos hold the key being looked up? */
typedef bool (*vj_index_eq_fn)(const void *ctx, size_t pos);

/* FNV-1a of a NUL-terminated string. */
uint64_t vj_hash_str(const char *s);
/* A well-mixed hash of a 64-bit value. */
uint64_t vj_hash_u64(uint64_t v);

/* The position of an entry of hash @hash for which @eq says yes, or SIZE_MAX. */
size_t vj_index_find(const struct vj_index *ix, uint64_t hash, vj_index_eq_fn eq,
		     const void *ctx);
/* Record that the entry at @pos has hash @hash: 0, or -ENOMEM. */
int vj_index_add(struct vj_index *ix, uint64_t hash, size_t pos);
/* Forget every entry and release the memory; the index can be used again. */
void vj_index_clear(struct vj_index *ix);
