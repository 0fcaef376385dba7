#include "route.h"

#include <arpa/inet.h>
#include <stdlib.h>

/* Host addresses in an open-addressing hash: one lookup per packet. */
struct route_slot {
	uint32_t ip; /* 0: empty */
	int host;
};

struct route {
	const struct topo *t;
	int *catch_all; /* per segment: a host index, or -1 */
	struct route_slot *slots;
	size_t mask;
};

static size_t route_hash(uint32_t ip, size_t mask)
{
	uint32_t h = ip * 2654435761u;

	return (h ^ (h >> 16)) & mask;
}

static void route_insert(struct route *r, uint32_t ip, int host)
{
	size_t i = route_hash(ip, r->mask);

	while (r->slots[i].ip != 0 && r->slots[i].ip != ip)
		i = (i + 1) & r->mask;
	r->slots[i].ip = ip;
	r->slots[i].host = host;
}

struct route *route_new(const struct topo *t)
{
	struct route *r = calloc(1, sizeof(*r));
	size_t cap = 16, h, a;

	if (!r)
		return NULL;
	while (cap < t->n_hosts * TOPO_ADDRS_MAX * 2)
		cap <<= 1;
	r->slots = calloc(cap, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return NULL;
	}
	r->catch_all = malloc((t->n_nats + 1) * sizeof(*r->catch_all));
	if (!r->catch_all) {
		free(r->slots);
		free(r);
		return NULL;
	}
	for (h = 0; h <= t->n_nats; h++)
		r->catch_all[h] = -1;
	r->t = t;
	r->mask = cap - 1;
	for (h = 0; h < t->n_hosts; h++)
		for (a = 0; a < t->hosts[h].n_addrs; a++)
			route_insert(r, t->hosts[h].addrs[a].s_addr, (int)h);
	return r;
}

void route_free(struct route *r)
{
	if (!r)
		return;
	free(r->slots);
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

int route_host_of(const struct route *r, uint32_t ip)
{
	size_t i = route_hash(ip, r->mask);

	while (r->slots[i].ip != 0) {
		if (r->slots[i].ip == ip)
			return r->slots[i].host;
		i = (i + 1) & r->mask;
	}
	return -1;
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
	int h = route_host_of(r, dst);
	size_t n;

	if (h >= 0 && route_host_segment(r, h) == seg) {
		nx.kind = ROUTE_HOST;
		nx.index = h;
		return nx;
	}
	for (n = 0; n < r->t->n_nats; n++) {
		if (route_nat_outside(r, (int)n) == seg && nat_claims(ctx, (int)n, dst)) {
			nx.kind = ROUTE_NAT_DOWN;
			nx.index = (int)n;
			return nx;
		}
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
