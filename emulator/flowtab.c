#include "flowtab.h"

#include <stdbool.h>
#include <stdlib.h>

#define FLOWTAB_NONE (-1)

struct flowtab_entry {
	struct flow_tuple k;
	uint64_t seq;	      /* packets counted */
	uint32_t bucket;      /* where its chain starts */
	int32_t chain;	      /* next entry in the bucket */
	int32_t newer, older; /* recency list */
};

struct flowtab {
	struct flowtab_entry *e;
	int32_t *buckets; /* first entry of each chain */
	uint32_t mask;	  /* buckets - 1 */
	size_t max, used;
	int32_t newest, oldest;
	uint64_t recycled;
};

uint64_t flow_tuple_hash(const struct flow_tuple *k)
{
	uint64_t h = (uint64_t)k->src << 32 | k->dst;
	uint32_t ports = (uint32_t)k->sport | (uint32_t)k->dport << 16;

	h ^= (uint64_t)k->proto * 0x9e3779b97f4a7c15ull;
	h ^= (uint64_t)ports * 0xc2b2ae3d27d4eb4full;
	/* splitmix64's finaliser */
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	return h;
}

static bool flowtab_same(const struct flow_tuple *a, const struct flow_tuple *b)
{
	return a->src == b->src && a->dst == b->dst && a->sport == b->sport &&
	       a->dport == b->dport && a->proto == b->proto;
}

struct flowtab *flowtab_new(size_t max)
{
	struct flowtab *t = calloc(1, sizeof(*t));
	size_t nb = 1, i;

	if (!t)
		return NULL;
	t->max = max ? max : FLOWTAB_MAX;
	while (nb < t->max && nb < ((size_t)1 << 30))
		nb <<= 1; /* at most one flow per bucket on average */
	t->mask = (uint32_t)(nb - 1);
	t->e = calloc(t->max, sizeof(*t->e));
	t->buckets = malloc(nb * sizeof(*t->buckets));
	if (!t->e || !t->buckets) {
		flowtab_free(t);
		return NULL;
	}
	for (i = 0; i < nb; i++)
		t->buckets[i] = FLOWTAB_NONE;
	t->newest = t->oldest = FLOWTAB_NONE;
	return t;
}

void flowtab_free(struct flowtab *t)
{
	if (!t)
		return;
	free(t->e);
	free(t->buckets);
	free(t);
}

static void flowtab_unlink_recency(struct flowtab *t, int32_t i)
{
	struct flowtab_entry *x = &t->e[i];

	if (x->newer != FLOWTAB_NONE)
		t->e[x->newer].older = x->older;
	else
		t->newest = x->older;
	if (x->older != FLOWTAB_NONE)
		t->e[x->older].newer = x->newer;
	else
		t->oldest = x->newer;
}

static void flowtab_make_newest(struct flowtab *t, int32_t i)
{
	struct flowtab_entry *x = &t->e[i];

	x->newer = FLOWTAB_NONE;
	x->older = t->newest;
	if (t->newest != FLOWTAB_NONE)
		t->e[t->newest].newer = i;
	t->newest = i;
	if (t->oldest == FLOWTAB_NONE)
		t->oldest = i;
}

static void flowtab_unlink_chain(struct flowtab *t, int32_t i)
{
	int32_t *at = &t->buckets[t->e[i].bucket];

	while (*at != i)
		at = &t->e[*at].chain;
	*at = t->e[i].chain;
}

/* A fresh entry: an unused one, or the least recently seen, forgotten. */
static int32_t flowtab_take(struct flowtab *t)
{
	int32_t i;

	if (t->used < t->max)
		return (int32_t)t->used++;
	i = t->oldest;
	flowtab_unlink_recency(t, i);
	flowtab_unlink_chain(t, i);
	t->recycled++;
	return i;
}

/* The entry of k (whose flow_tuple_hash is hash), or FLOWTAB_NONE; *b: its
 * bucket. */
static int32_t flowtab_find(const struct flowtab *t, const struct flow_tuple *k, uint64_t hash,
			    uint32_t *b)
{
	int32_t i;

	*b = (uint32_t)hash & t->mask;
	for (i = t->buckets[*b]; i != FLOWTAB_NONE; i = t->e[i].chain)
		if (flowtab_same(&t->e[i].k, k))
			break;
	return i;
}

/* A new entry for k in bucket b, numbered from seq, the newest. */
static int32_t flowtab_insert(struct flowtab *t, const struct flow_tuple *k, uint32_t b,
			      uint64_t seq)
{
	int32_t i = flowtab_take(t);

	t->e[i].k = *k;
	t->e[i].seq = seq;
	t->e[i].bucket = b;
	t->e[i].chain = t->buckets[b];
	t->buckets[b] = i;
	flowtab_make_newest(t, i);
	return i;
}

uint64_t flowtab_next(struct flowtab *t, const struct flow_tuple *k)
{
	return flowtab_next_hashed(t, k, flow_tuple_hash(k));
}

uint64_t flowtab_next_hashed(struct flowtab *t, const struct flow_tuple *k, uint64_t hash)
{
	uint32_t b;
	int32_t i = flowtab_find(t, k, hash, &b);

	if (i == FLOWTAB_NONE) {
		i = flowtab_insert(t, k, b, 0);
	} else if (i != t->newest) { /* the newest stays where it is */
		flowtab_unlink_recency(t, i);
		flowtab_make_newest(t, i);
	}
	return t->e[i].seq++;
}

int flowtab_put(struct flowtab *t, const struct flow_tuple *k, uint64_t next)
{
	uint32_t b;

	if (t->used == t->max || flowtab_find(t, k, flow_tuple_hash(k), &b) != FLOWTAB_NONE)
		return -1;
	flowtab_insert(t, k, b, next);
	return 0;
}

void flowtab_each(const struct flowtab *t,
		  void (*fn)(void *ctx, const struct flow_tuple *k, uint64_t next), void *ctx)
{
	int32_t i;

	for (i = t->oldest; i != FLOWTAB_NONE; i = t->e[i].newer)
		fn(ctx, &t->e[i].k, t->e[i].seq);
}

void flowtab_set_recycled(struct flowtab *t, uint64_t recycled)
{
	t->recycled = recycled;
}

void flowtab_adopt(struct flowtab *t, struct flowtab *fresh)
{
	struct flowtab old = *t;

	*t = *fresh;
	*fresh = old;
	flowtab_free(fresh);
}

void flowtab_get_stats(const struct flowtab *t, struct flowtab_stats *st)
{
	st->flows = t->used;
	st->max = t->max;
	st->recycled = t->recycled;
}
