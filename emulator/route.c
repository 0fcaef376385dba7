#include "route.h"

#include <arpa/inet.h>
#include <stdlib.h>

/* Addresses in one open-addressing hash keyed by segment and address, one
 * lookup per packet: the hosts' addresses, and the NATs' public addresses
 * on their outside segments. An address is unique within a segment; two
 * segments may hold the same one (natbed sim's clones of a site keep its
 * inside addresses). A host's address comes first: a NAT's public address
 * that is also a host's on that segment is the host's, as a walk through
 * the hosts then the NATs would find. */
struct route_slot {
	uint32_t ip; /* 0: empty */
	int seg;
	int index; /* a host's (kind ROUTE_HOST), or a NAT's (ROUTE_NAT_DOWN) */
	int kind;
};

struct route_hash {
	struct route_slot *slots;
	size_t mask;
};

struct route {
	const struct topo *t;
	int *catch_all; /* per segment: a host index, or -1 */
	struct route_hash addrs;
};

static size_t route_slot_of(uint32_t ip, int seg, size_t mask)
{
	uint32_t h = (ip ^ (uint32_t)seg * 0x9e3779b9u) * 2654435761u;

	return (h ^ (h >> 16)) & mask;
}

static int route_hash_init(struct route_hash *h, size_t n)
{
	size_t cap = 16;

	while (cap < n * 2)
		cap <<= 1;
	h->slots = calloc(cap, sizeof(*h->slots));
	h->mask = cap - 1;
	return h->slots ? 0 : -1;
}

/* The first entry for (seg, ip) stays: a lookup finds what a walk in
 * index order would find first. */
static void route_insert(struct route_hash *h, int seg, uint32_t ip, int index, int kind)
{
	size_t i = route_slot_of(ip, seg, h->mask);

	while (h->slots[i].ip != 0) {
		if (h->slots[i].ip == ip && h->slots[i].seg == seg)
			return;
		i = (i + 1) & h->mask;
	}
	h->slots[i] = (struct route_slot){ip, seg, index, kind};
}

/* The entry for (seg, ip), or NULL. */
static const struct route_slot *route_find(const struct route_hash *h, int seg, uint32_t ip)
{
	size_t i = route_slot_of(ip, seg, h->mask);

	while (h->slots[i].ip != 0) {
		if (h->slots[i].ip == ip && h->slots[i].seg == seg)
			return &h->slots[i];
		i = (i + 1) & h->mask;
	}
	return NULL;
}

struct route *route_new(const struct topo *t)
{
	struct route *r = calloc(1, sizeof(*r));
	size_t h, a, n, publics = 0;

	if (!r)
		return NULL;
	r->t = t;
	for (n = 0; n < t->n_nats; n++)
		publics += t->nats[n].n_public;
	r->catch_all = malloc((t->n_nats + 1) * sizeof(*r->catch_all));
	if (!r->catch_all ||
	    route_hash_init(&r->addrs, t->n_hosts * TOPO_ADDRS_MAX + publics) < 0) {
		route_free(r);
		return NULL;
	}
	for (h = 0; h <= t->n_nats; h++)
		r->catch_all[h] = -1;
	for (h = 0; h < t->n_hosts; h++)
		for (a = 0; a < t->hosts[h].n_addrs; a++)
			route_insert(&r->addrs, route_host_segment(r, (int)h),
				     t->hosts[h].addrs[a].s_addr, (int)h, ROUTE_HOST);
	for (n = 0; n < t->n_nats; n++)
		for (a = 0; a < t->nats[n].n_public; a++)
			route_insert(&r->addrs, route_nat_outside(r, (int)n),
				     t->nats[n].publics[a].s_addr, (int)n, ROUTE_NAT_DOWN);
	return r;
}

void route_free(struct route *r)
{
	if (!r)
		return;
	free(r->addrs.slots);
	free(r->catch_all);
	free(r);
}

void route_set_catch_all(struct route *r, int h)
{
	r->catch_all[route_host_segment(r, h)] = h;
}

static int route_in_segment(const struct route *r, int seg, uint32_t dst)
{
	const struct topo_nat *nat;
	uint32_t mask;

	if (seg == ROUTE_INTERNET)
		return 1;
	nat = &r->t->nats[seg - 1];
	mask = nat->inside_len ? htonl(~0u << (32 - nat->inside_len)) : 0;
	return (dst & mask) == nat->inside_net.s_addr;
}

int route_host_at(const struct route *r, int seg, uint32_t ip)
{
	const struct route_slot *e = route_find(&r->addrs, seg, ip);

	return e && e->kind == ROUTE_HOST ? e->index : -1;
}

int route_host_segment(const struct route *r, int h)
{
	return r->t->hosts[h].nat + 1;
}

int route_nat_outside(const struct route *r, int n)
{
	return r->t->nats[n].upstream + 1;
}

struct route_next route_lookup(const struct route *r, int seg, uint32_t dst,
			       int (*nat_claims)(void *ctx, int n, uint32_t dst), void *ctx)
{
	struct route_next nx = {ROUTE_NONE, -1};
	const struct route_slot *e = route_find(&r->addrs, seg, dst);

	if (e && (e->kind == ROUTE_HOST || nat_claims(ctx, e->index, dst))) {
		nx.kind = (enum route_kind)e->kind;
		nx.index = e->index;
		return nx;
	}
	if (r->catch_all[seg] >= 0 && route_in_segment(r, seg, dst)) {
		nx.kind = ROUTE_HOST;
		nx.index = r->catch_all[seg];
		return nx;
	}
	if (seg != ROUTE_INTERNET) {
		nx.kind = ROUTE_NAT_UP;
		nx.index = seg - 1;
	}
	return nx;
}
