/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hashset.h"

#include <errno.h>
#include <stdlib.h>

struct vj_index_slot {
	uint64_t hash;
	size_t pos1; /* position + 1; 0 marks a free slot */
};

uint64_t vj_hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t vj_hash_u64(uint64_t v)
{
	/* The splitmix64 finalizer. */
	v ^= v >> 30;
	v *= 0xbf58476d1ce4e5b9ull;
	v ^= v >> 27;
	v *= 0x94d049bb133111ebull;
	v ^= v >> 31;
	return v;
}

size_t vj_index_find(const struct vj_index *ix, uint64_t hash, vj_index_eq_fn eq,
		     const void *ctx)
{
	size_t mask = ix->cap - 1;

	if (!ix->cap)
		return SIZE_MAX;
	for (size_t i = hash & mask; ix->slots[i].pos1; i = (i + 1) & mask)
		if (ix->slots[i].hash == hash && eq(ctx, ix->slots[i].pos1 - 1))
			return ix->slots[i].pos1 - 1;
	return SIZE_MAX;
}

static void slot_put(struct vj_index_slot *slots, size_t cap, uint64_t hash, size_t pos1)
{
	size_t i = hash & (cap - 1);

	while (slots[i].pos1)
		i = (i + 1) & (cap - 1);
	slots[i].hash = hash;
	slots[i].pos1 = pos1;
}

/* Keep the table at most half full. */
static int index_grow(struct vj_index *ix)
{
	size_t cap = ix->cap ? ix->cap * 2 : 16;
	struct vj_index_slot *slots;

	if (cap > SIZE_MAX / 2 / sizeof(*slots))
		return -ENOMEM;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < ix->cap; i++)
		if (ix->slots[i].pos1)
			slot_put(slots, cap, ix->slots[i].hash, ix->slots[i].pos1);
	free(ix->slots);
	ix->slots = slots;
	ix->cap = cap;
	return 0;
}

int vj_index_add(struct vj_index *ix, uint64_t hash, size_t pos)
{
	if (pos == SIZE_MAX)
		return -EINVAL;
	if ((ix->n + 1) * 2 > ix->cap && index_grow(ix) < 0)
		return -ENOMEM;
	slot_put(ix->slots, ix->cap, hash, pos + 1);
	ix->n++;
	return 0;
}

void vj_index_clear(struct vj_index *ix)
{
	free(ix->slots);
	ix->slots = NULL;
	ix->cap = ix->n = 0;
}
