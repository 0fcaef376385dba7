#include "arp.h"

#include <arpa/inet.h>
#include <string.h>

#include "proto.h"

struct arp_entry *arp_entry_find(struct arp_table *t, uint32_t ip)
{
	size_t i;

	for (i = 0; i < ARP_ENTRIES; i++)
		if (t->e[i].ip == ip)
			return &t->e[i];
	return NULL;
}

/* A free slot, else the first resolved entry with nothing held (evicted). */
static struct arp_entry *arp_entry_new(struct arp_table *t, uint32_t ip)
{
	struct arp_entry *victim = NULL;
	size_t i;

	for (i = 0; i < ARP_ENTRIES; i++) {
		if (t->e[i].ip == 0) {
			victim = &t->e[i];
			break;
		}
		if (!victim && t->e[i].n_pend == 0)
			victim = &t->e[i];
	}
	if (victim) {
		memset(victim, 0, sizeof(*victim));
		victim->ip = ip;
	}
	return victim;
}

bool arp_lookup(const struct arp_table *t, uint32_t ip, uint8_t mac[6])
{
	size_t i;

	for (i = 0; i < ARP_ENTRIES; i++) {
		if (t->e[i].ip == ip && t->e[i].valid) {
			memcpy(mac, t->e[i].mac, 6);
			return true;
		}
	}
	return false;
}

struct pkt *arp_learn(struct arp_table *t, uint32_t ip, const uint8_t mac[6])
{
	struct arp_entry *e = arp_entry_find(t, ip);
	struct pkt *held;

	if (!e)
		e = arp_entry_new(t, ip);
	if (!e)
		return NULL;
	memcpy(e->mac, mac, 6);
	e->valid = true;
	e->tries = 0;
	held = e->pend;
	e->pend = NULL;
	e->n_pend = 0;
	return held;
}

int arp_hold(struct arp_table *t, uint32_t ip, struct pkt *p)
{
	struct arp_entry *e = arp_entry_find(t, ip);
	struct pkt **tail;

	if (!e)
		e = arp_entry_new(t, ip);
	if (!e || e->n_pend >= ARP_PENDING_MAX)
		return -1;
	for (tail = &e->pend; *tail; tail = &(*tail)->next)
		;
	p->next = NULL;
	*tail = p;
	return ++e->n_pend == 1 ? 1 : 0;
}

struct pkt *arp_give_up(struct arp_table *t, uint32_t ip)
{
	struct arp_entry *e = arp_entry_find(t, ip);
	struct pkt *held;

	if (!e)
		return NULL;
	held = e->pend;
	memset(e, 0, sizeof(*e));
	return held;
}

void arp_frame(uint8_t *buf, uint16_t op, const uint8_t sha[6], uint32_t spa, const uint8_t *tha,
	       uint32_t tpa)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct eth_hdr *eth = (struct eth_hdr *)buf;
	struct arp_pkt *a = (struct arp_pkt *)(buf + ETH_HLEN_);

	memcpy(eth->dst, tha ? tha : bcast, 6);
	memcpy(eth->src, sha, 6);
	eth->type = htons(ETHERTYPE_ARP_);
	a->htype = htons(1);
	a->ptype = htons(ETHERTYPE_IPV4);
	a->hlen = 6;
	a->plen = 4;
	a->op = htons(op);
	memcpy(a->sha, sha, 6);
	a->spa = spa;
	memset(a->tha, 0, 6);
	if (tha)
		memcpy(a->tha, tha, 6);
	a->tpa = tpa;
}
