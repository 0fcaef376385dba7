#include "linkset.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct linkset_link {
	const char *name;
	struct link *dir[2];
};

struct linkset {
	struct linkset_cfg cfg;
	struct linkset_link *links; /* hosts, then NAT uplinks, then the core */
	size_t n;
};

size_t linkset_host(const struct linkset *ls, int h)
{
	return (size_t)h;
}

size_t linkset_nat(const struct linkset *ls, int n)
{
	return ls->cfg.topo->n_hosts + (size_t)n;
}

size_t linkset_core(const struct linkset *ls)
{
	return ls->cfg.topo->n_hosts + ls->cfg.topo->n_nats;
}

enum linkset_dir linkset_core_dir(const struct ipv4_hdr *ip)
{
	return ntohl(ip->src) < ntohl(ip->dst) ? LINKSET_UP : LINKSET_DOWN;
}

static int linkset_open(struct linkset *ls, size_t i, const char *name, const struct topo_link *tl,
			char *err, size_t errlen)
{
	struct link_cfg lc;
	unsigned d;

	ls->links[i].name = name;
	for (d = 0; d < 2; d++) {
		if (topo_link_cfg(tl, name, ls->cfg.topo->seed, d, &lc, err, errlen) < 0)
			return -1;
		ls->links[i].dir[d] = link_new(&lc, err, errlen);
		if (!ls->links[i].dir[d])
			return -1;
	}
	return 0;
}

struct linkset *linkset_new(const struct linkset_cfg *cfg, char *err, size_t errlen)
{
	const struct topo *t = cfg->topo;
	struct linkset *ls = calloc(1, sizeof(*ls));
	size_t i;

	if (!ls || !(ls->links = calloc(t->n_hosts + t->n_nats + 1, sizeof(*ls->links)))) {
		free(ls);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ls->cfg = *cfg;
	ls->n = t->n_hosts + t->n_nats + 1;
	for (i = 0; i < t->n_hosts; i++)
		if (linkset_open(ls, linkset_host(ls, (int)i), t->hosts[i].name, &t->hosts[i].link,
				 err, errlen) < 0)
			goto fail;
	for (i = 0; i < t->n_nats; i++)
		if (linkset_open(ls, linkset_nat(ls, (int)i), t->nats[i].name, &t->nats[i].link,
				 err, errlen) < 0)
			goto fail;
	if (linkset_open(ls, linkset_core(ls), "internet", &t->internet, err, errlen) < 0)
		goto fail;
	return ls;
fail:
	linkset_free(ls);
	return NULL;
}

void linkset_free(struct linkset *ls)
{
	size_t i;

	if (!ls)
		return;
	for (i = 0; i < ls->n; i++) {
		link_free(ls->links[i].dir[0]);
		link_free(ls->links[i].dir[1]);
	}
	free(ls->links);
	free(ls);
}

/* Whether pred holds for some direction of some link. */
static bool linkset_any(const struct linkset *ls, bool (*pred)(const struct link *))
{
	size_t i;

	for (i = 0; i < ls->n; i++)
		if (pred(ls->links[i].dir[0]) || pred(ls->links[i].dir[1]))
			return true;
	return false;
}

bool linkset_numbers(const struct linkset *ls)
{
	return linkset_any(ls, link_numbers);
}

bool linkset_corrupts(const struct linkset *ls)
{
	return linkset_any(ls, link_corrupts);
}

int linkset_find(struct linkset *ls, const char *name, struct link **up, struct link **down)
{
	size_t i;

	for (i = 0; i < ls->n; i++) {
		if (ls->links[i].name && strcmp(ls->links[i].name, name) == 0) {
			*up = ls->links[i].dir[LINKSET_UP];
			*down = ls->links[i].dir[LINKSET_DOWN];
			return 0;
		}
	}
	return -1;
}

/* What a link needs to know of a packet: its flow and its number in it. */
static void linkset_pkt(const struct pkt *p, struct link_pkt *lp)
{
	const struct ip_view *v = &p->view;

	memset(lp, 0, sizeof(*lp));
	lp->flow = p->flow_key;
	lp->seq = p->seq;
	lp->len = (uint32_t)p->len;
	lp->proto = v->ip->proto;
	if ((v->ip->proto == IPPROTO_UDP_ || v->ip->proto == IPPROTO_TCP_) && v->l4 &&
	    v->l4_len >= 4) {
		lp->sport = (uint16_t)(v->l4[0] << 8 | v->l4[1]);
		lp->dport = (uint16_t)(v->l4[2] << 8 | v->l4[3]);
	}
}

/* Issue 5: a corrupted copy carries a bad checksum (L4 if it has one,
 * else the IP header's), so the receiver's stack drops and counts it. */
static void linkset_corrupt(struct pkt *p)
{
	struct ip_view *v = &p->view;
	size_t off = v->ip->proto == IPPROTO_UDP_ ? 6 : v->ip->proto == IPPROTO_TCP_ ? 16 : 0;

	if (off && v->l4 && v->l4_len >= off + 2) {
		/* never to 0x0000: on UDP that means "no checksum" (RFC 768) */
		l4_csum_break(v->ip->proto, (uint16_t *)(v->l4 + off));
		return;
	}
	v->ip->csum ^= htons(0x5a5a);
}

static enum drop_reason linkset_reason(enum link_drop d)
{
	switch (d) {
	case LINK_DROP_DOWN:
		return DROP_LINK_DOWN;
	case LINK_DROP_QUEUE:
		return DROP_LINK_QUEUE;
	default:
		return DROP_LINK_LOSS;
	}
}

static void linkset_log(struct linkset *ls, natbed_time_t now, const char *event,
			const struct linkset_link *l, enum linkset_dir dir,
			const struct link_pkt *lp, const char *extra)
{
	evlog_write(ls->cfg.ev, now, event,
		    "\"link\":\"%s\",\"dir\":\"%s\",\"flow\":\"%016llx\",\"seq\":%llu,"
		    "\"proto\":%u,\"sport\":%u,\"dport\":%u%s%s",
		    l->name, dir == LINKSET_UP ? "up" : "down", (unsigned long long)lp->flow,
		    (unsigned long long)lp->seq, lp->proto, lp->sport, lp->dport, extra ? "," : "",
		    extra ? extra : "");
}

/* True when no event is due at or before now: a step due now may then run
 * at once without overtaking anything (FIFO order is kept). */
static bool linkset_nothing_due(const struct linkset *ls, natbed_time_t now)
{
	natbed_time_t due = sched_next_due(ls->cfg.sched);

	return due < 0 || due > now;
}

/* Sends one copy of a packet that passed link l: corrupted if the verdict
 * says so, then on at at_ns (at once when nothing is due before it). */
static void linkset_pass(struct linkset *ls, const struct linkset_link *l, enum linkset_dir dir,
			 const struct link_pkt *lp, struct pkt *copy, natbed_time_t at_ns,
			 bool corrupt, bool only, sched_fn next, natbed_time_t now)
{
	char extra[96];

	if (corrupt) {
		linkset_corrupt(copy);
		linkset_log(ls, now, "corrupt", l, dir, lp, NULL);
	}
	if (at_ns > now && ls->cfg.ev) { /* formatted only to be written */
		snprintf(extra, sizeof(extra), "\"delay_ns\":%lld,\"due_ns\":%lld",
			 (long long)(at_ns - now), (long long)at_ns);
		linkset_log(ls, now, "delay", l, dir, lp, extra);
	}
	if (only && at_ns <= now && linkset_nothing_due(ls, now)) {
		/* Due now with nothing due before it: the scheduler would run
		 * it next anyway, so run it without the round trip. */
		next(copy, now);
		return;
	}
	if (sched_at(ls->cfg.sched, at_ns, next, copy) == 0)
		ls->cfg.drop(ls->cfg.ctx, copy, DROP_POOL_EXHAUSTED, LINK_PASS, l->name, dir);
}

/* The verdict's fields are read by constant index only (copy 0, then copy
 * 1), so the compiler keeps them in registers: indexed by a loop counter,
 * the verdict went through memory, byte stores read back by wide loads (a
 * store-forwarding stall, half of its samples in natbed sim). */
void linkset_cross(struct linkset *ls, size_t i, enum linkset_dir dir, struct pkt *p, sched_fn next,
		   natbed_time_t now)
{
	struct linkset_link *l = &ls->links[i];
	struct pkt *dup = NULL;
	struct link_verdict v;
	struct link_pkt lp;

	linkset_pkt(p, &lp);
	v = link_decide(l->dir[dir], &lp, now);
	if (v.drop != LINK_PASS) {
		ls->cfg.drop(ls->cfg.ctx, p, linkset_reason(v.drop), v.drop, l->name, dir);
		return;
	}
	if (v.n == 2) {
		dup = pkt_clone(ls->cfg.pool, p);
		if (dup)
			linkset_log(ls, now, "duplicate", l, dir, &lp, NULL);
	}
	linkset_pass(ls, l, dir, &lp, p, v.deliver_ns[0], v.corrupt[0], !dup, next, now);
	if (dup)
		linkset_pass(ls, l, dir, &lp, dup, v.deliver_ns[1], v.corrupt[1], false, next, now);
}
