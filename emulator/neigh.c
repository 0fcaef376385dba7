#include "neigh.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "arp.h"
#include "proto.h"

/* A request waiting to be sent again. */
struct neigh_retry {
	struct neigh_retry *next, **prev; /* the pending ones */
	struct neigh *nb;
	int port;
	uint32_t ip;
	uint64_t ev;
};

struct neigh {
	struct neigh_cfg cfg;
	struct arp_table *arp; /* one per port */
	struct neigh_retry *retries;
};

struct neigh *neigh_new(const struct neigh_cfg *cfg)
{
	struct neigh *nb = calloc(1, sizeof(*nb));

	if (!nb)
		return NULL;
	nb->cfg = *cfg;
	nb->arp = calloc(cfg->n_ports ? cfg->n_ports : 1, sizeof(*nb->arp));
	if (!nb->arp) {
		free(nb);
		return NULL;
	}
	return nb;
}

static void neigh_retry_unlink(struct neigh_retry *r)
{
	if (r->next)
		r->next->prev = r->prev;
	*r->prev = r->next;
	free(r);
}

void neigh_free(struct neigh *nb)
{
	if (!nb)
		return;
	while (nb->retries) {
		sched_cancel(nb->cfg.sched, nb->retries->ev);
		neigh_retry_unlink(nb->retries);
	}
	free(nb->arp);
	free(nb);
}

static void neigh_send_arp(struct neigh *nb, struct port *port, uint16_t op, uint32_t spa,
			   const uint8_t *tha, uint32_t tpa)
{
	struct pkt *p = pkt_get(nb->cfg.pool);

	if (!p) {
		port_drop(port, DROP_POOL_EXHAUSTED);
		return;
	}
	arp_frame(p->data, op, port->mac, spa, tha, tpa);
	p->len = ARP_FRAME_LEN;
	p->in_port = port->index;
	nb->cfg.ops->send(nb->cfg.ctx, port, p);
}

static void neigh_request(struct neigh *nb, struct port *port, uint32_t ip)
{
	neigh_send_arp(nb, port, ARP_OP_REQUEST, nb->cfg.ops->addr(nb->cfg.ctx, port->index), NULL,
		       ip);
}

static void neigh_send_resolved(struct neigh *nb, struct port *port, struct pkt *p,
				const uint8_t mac[6])
{
	struct eth_hdr *eth = (struct eth_hdr *)p->data;

	memcpy(eth->dst, mac, 6);
	memcpy(eth->src, port->mac, 6);
	nb->cfg.ops->send(nb->cfg.ctx, port, p);
}

static void neigh_retry(void *arg, natbed_time_t now)
{
	struct neigh_retry *r = arg;
	struct neigh *nb = r->nb;
	struct port *port = &nb->cfg.ports[r->port];
	struct arp_entry *e = arp_entry_find(&nb->arp[r->port], r->ip);
	struct pkt *p, *next;

	if (e && !e->valid) {
		if (++e->tries < NEIGH_TRIES) {
			neigh_request(nb, port, r->ip);
			r->ev = sched_after(nb->cfg.sched, NEIGH_RETRY_NS, neigh_retry, r);
			if (r->ev)
				return;
		}
		for (p = arp_give_up(&nb->arp[r->port], r->ip); p; p = next) {
			next = p->next;
			nb->cfg.ops->drop(nb->cfg.ctx, p, DROP_ARP_UNRESOLVED);
		}
	}
	neigh_retry_unlink(r);
}

/* First request for ip on port, and its retries. */
static void neigh_ask(struct neigh *nb, struct port *port, uint32_t ip)
{
	struct neigh_retry *r = malloc(sizeof(*r));

	neigh_request(nb, port, ip);
	if (!r)
		return;
	r->nb = nb;
	r->port = port->index;
	r->ip = ip;
	r->next = nb->retries;
	r->prev = &nb->retries;
	if (nb->retries)
		nb->retries->prev = &r->next;
	nb->retries = r;
	r->ev = sched_after(nb->cfg.sched, NEIGH_RETRY_NS, neigh_retry, r);
	if (!r->ev)
		neigh_retry_unlink(r);
}

void neigh_output(struct neigh *nb, struct port *port, uint32_t ip, struct pkt *p)
{
	struct arp_table *t = &nb->arp[port->index];
	uint32_t g = ntohl(ip);
	uint8_t mac[6];
	int held;

	if ((g & 0xf0000000u) == 0xe0000000u) {
		/* RFC 1112 §6.4: a group's MAC is 01:00:5e and its low 23 bits */
		const uint8_t m[6] = {
		    0x01, 0x00, 0x5e, (uint8_t)((g >> 16) & 0x7f), (uint8_t)(g >> 8), (uint8_t)g};

		neigh_send_resolved(nb, port, p, m);
		return;
	}
	if (arp_lookup(t, ip, mac)) {
		neigh_send_resolved(nb, port, p, mac);
		return;
	}
	held = arp_hold(t, ip, p);
	if (held < 0)
		nb->cfg.ops->drop(nb->cfg.ctx, p, DROP_ARP_QUEUE_FULL);
	else if (held == 1)
		neigh_ask(nb, port, ip);
}

void neigh_input(struct neigh *nb, struct port *port, struct pkt *p)
{
	const struct neigh_ops *ops = nb->cfg.ops;
	struct pkt *held, *next;
	struct arp_pkt a;
	int h = port->index;

	if (p->len < ETH_HLEN_ + sizeof(a)) {
		ops->drop(nb->cfg.ctx, p, DROP_MALFORMED);
		return;
	}
	memcpy(&a, p->data + ETH_HLEN_, sizeof(a));
	/* RFC 826 for Ethernet and IPv4 only */
	if (ntohs(a.htype) != 1 || ntohs(a.ptype) != ETHERTYPE_IPV4 || a.hlen != 6 || a.plen != 4) {
		ops->drop(nb->cfg.ctx, p, DROP_UNSUPPORTED);
		return;
	}
	pkt_put(nb->cfg.pool, p);
	if (ops->may_learn(nb->cfg.ctx, h, a.spa)) {
		for (held = arp_learn(&nb->arp[h], a.spa, a.sha); held; held = next) {
			next = held->next;
			neigh_send_resolved(nb, port, held, a.sha);
		}
	}
	if (ntohs(a.op) == ARP_OP_REQUEST && ops->answers(nb->cfg.ctx, h, a.spa, a.tpa))
		neigh_send_arp(nb, port, ARP_OP_REPLY, a.tpa, a.sha, a.spa);
}
