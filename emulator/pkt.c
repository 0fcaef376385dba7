#include "pkt.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Packets are allocated in slabs so freeing the pool frees everything,
 * including packets still waiting on scheduler events. */
#define PKT_SLAB 256

struct pkt_slab {
	struct pkt_slab *next;
	struct pkt pkts[PKT_SLAB];
};

struct pkt_pool {
	struct pkt *free;
	struct pkt_slab *slabs;
	size_t made;
	size_t max;
	size_t in_use;
};

struct pkt_pool *pkt_pool_new(size_t max)
{
	struct pkt_pool *pp = calloc(1, sizeof(*pp));

	if (pp)
		pp->max = max;
	return pp;
}

void pkt_pool_free(struct pkt_pool *pp)
{
	struct pkt_slab *s, *next;

	if (!pp)
		return;
	for (s = pp->slabs; s; s = next) {
		next = s->next;
		free(s);
	}
	free(pp);
}

static int pkt_pool_grow(struct pkt_pool *pp)
{
	struct pkt_slab *s;
	size_t i;

	if (pp->made + PKT_SLAB > pp->max)
		return -1;
	s = malloc(sizeof(*s));
	if (!s)
		return -1;
	s->next = pp->slabs;
	pp->slabs = s;
	for (i = 0; i < PKT_SLAB; i++) {
		s->pkts[i].next = pp->free;
		pp->free = &s->pkts[i];
	}
	pp->made += PKT_SLAB;
	return 0;
}

struct pkt *pkt_get(struct pkt_pool *pp)
{
	struct pkt *p;

	if (!pp->free && pkt_pool_grow(pp) < 0)
		return NULL;
	p = pp->free;
	pp->free = p->next;
	p->next = NULL;
	p->data = p->buf + PKT_HEADROOM;
	p->len = 0;
	p->in_port = p->out_port = p->host = -1;
	p->seg = p->hop = 0;
	p->flags = 0;
	p->rx_ns = 0;
	p->flow_key = p->seq = 0;
	memset(&p->view, 0, sizeof(p->view));
	pp->in_use++;
	return p;
}

void pkt_put(struct pkt_pool *pp, struct pkt *p)
{
	if (!p)
		return;
	p->next = pp->free;
	pp->free = p;
	pp->in_use--;
}

struct pkt *pkt_clone(struct pkt_pool *pp, const struct pkt *p)
{
	struct pkt *q = pkt_get(pp);
	uint8_t *data;

	if (!q)
		return NULL;
	data = q->buf + (p->data - p->buf);
	memcpy(data, p->data, p->len);
	memcpy(q, p, offsetof(struct pkt, buf)); /* the fields; buf stays q's own */
	q->data = data;
	q->next = NULL;
	if (p->view.ip)
		ip_view_rebase(&q->view, p->data, q->data);
	return q;
}

size_t pkt_pool_in_use(const struct pkt_pool *pp)
{
	return pp->in_use;
}
