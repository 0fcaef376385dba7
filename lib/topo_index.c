/* Hash indexes of the topology loader (topo_index.h): open addressing,
 * linear probing, grown to stay under half full. */
#include "topo_index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a, 64 bits. */
static uint64_t ti_hash_name(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static uint64_t ti_hash_addr(uint32_t a)
{
	return (uint64_t)a * 0x9e3779b97f4a7c15ull;
}

/* The slot index takes the low bits: mixed first (splitmix64's finaliser),
 * as a product's low bits only depend on the key's low bits. */
static uint64_t ti_hash(const struct tidx_entry *e)
{
	uint64_t h = e->name ? ti_hash_name(e->name) : ti_hash_addr(e->addr);

	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

/* The slot of e's key: the entry holding it, or the free slot where it
 * goes. */
static struct tidx_entry *ti_slot(const struct tidx *x, const struct tidx_entry *e)
{
	size_t mask = x->cap - 1, j = (size_t)(ti_hash(e) & mask);

	for (;; j = (j + 1) & mask) {
		struct tidx_entry *s = &x->slots[j];

		if (!s->used)
			return s;
		if (e->name ? s->name && !strcmp(s->name, e->name) : s->addr == e->addr)
			return s;
	}
}

static int ti_grow(struct tidx *x)
{
	struct tidx old = *x;
	size_t i;

	x->cap = old.cap ? 2 * old.cap : 64;
	x->slots = calloc(x->cap, sizeof(*x->slots));
	if (!x->slots) {
		*x = old;
		return -ENOMEM;
	}
	for (i = 0; i < old.cap; i++)
		if (old.slots[i].used)
			*ti_slot(x, &old.slots[i]) = old.slots[i];
	free(old.slots);
	return 0;
}

static int ti_put(struct tidx *x, const struct tidx_entry *e)
{
	if (2 * (x->n + 1) > x->cap && ti_grow(x) < 0)
		return -ENOMEM;
	*ti_slot(x, e) = *e;
	x->n++;
	return 0;
}

static const struct tidx_entry *ti_get(const struct tidx *x, const struct tidx_entry *key)
{
	const struct tidx_entry *s;

	if (!x->cap)
		return NULL;
	s = ti_slot(x, key);
	return s->used ? s : NULL;
}

int tidx_put_name(struct tidx *x, const char *name, enum tidx_kind kind, size_t i)
{
	return ti_put(x, &(struct tidx_entry){.name = name, .kind = kind, .i = i, .used = 1});
}

int tidx_put_addr(struct tidx *x, uint32_t addr, enum tidx_kind kind, size_t i, size_t k)
{
	return ti_put(x,
		      &(struct tidx_entry){.addr = addr, .kind = kind, .i = i, .k = k, .used = 1});
}

const struct tidx_entry *tidx_name(const struct tidx *x, const char *name)
{
	return ti_get(x, &(struct tidx_entry){.name = name});
}

const struct tidx_entry *tidx_addr(const struct tidx *x, uint32_t addr)
{
	return ti_get(x, &(struct tidx_entry){.addr = addr});
}

void tidx_free(struct tidx *x)
{
	free(x->slots);
	*x = (struct tidx){0};
}
