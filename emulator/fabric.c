#include "fabric.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arp.h"
#include "evlog.h"
#include "firewall.h"
#include "fraghold.h"
#include "natbed/link.h"
#include "nat.h"
#include "natbed/log.h"
#include "pcapw.h"
#include "proto.h"
#include "route.h"

#define FAB_RX_ROUNDS	 8 /* batches per readable callback */
#define FAB_ARP_RETRY_NS (NATBED_NS_PER_S / 2)
#define FAB_ARP_TRIES	 3

/* Packet flags private to the fabric. */
#define PKT_F_CORE (1u << 8) /* crossed the internet core on this visit */

enum fab_dir { FAB_UP, FAB_DOWN };

#define FAB_FLOW_BUCKETS 65536 /* per-flow packet counters (hash buckets) */

/* A topology link: one struct link per direction. */
struct fab_link {
	const char *name;
	struct link *dir[2];
};

static size_t fab_link_host(int h)
{
	return (size_t)h;
}

struct fab_arp_retry {
	struct fab_arp_retry *next, **prev; /* the fabric's list of pending ones */
	struct fabric *f;
	int port;
	uint32_t ip;
};

struct fabric {
	const struct topo *t;
	struct sched *s;
	struct event_base *base;
	struct pkt_pool *pool;
	struct route *route;
	struct port *ports; /* ports[h] belongs to host h */
	size_t n_ports;
	struct arp_table *arp;
	struct pcapw **pcap;
	bool *segment_port;	   /* standalone: the port stands for a network */
	uint32_t next_hop;	   /* standalone: outside router, 0 for on-link */
	natbed_time_t wall_offset; /* CLOCK_REALTIME - scheduler time */
	natbed_time_t spin_ns;	   /* busy-poll this long after a burst */
	struct fab_link *links;	   /* hosts, then NAT uplinks, then the core */
	size_t n_links;
	struct evlog *ev;
	uint64_t *flow_seq;	 /* packets seen per flow hash bucket */
	struct fw **host_fw;	 /* per host; NULL where it has no firewall */
	struct fw **nat_fw;	 /* per NAT, on its inside view */
	struct nat **nats;	 /* one per topology NAT */
	struct pcapw **nat_pcap; /* NAME-wan.pcap: each NAT's outside view */
	struct event **rx_ev;
	struct event *flush_ev;
	int flush_armed;
	struct fab_arp_retry *retries; /* pending ARP retries, freed with the fabric */
	struct fraghold *frags;	       /* fragments ahead of their first (REQ-14) */
	uint64_t frag_ev;	       /* the sweep of held fragments, 0 when idle */
};

#define FAB_HELD 1 /* a step's answer: the NAT wants the fragment held */

static void fab_on_segment(void *arg, natbed_time_t now);
static void fab_frag_new(struct fabric *f, int n, bool out, struct pkt *p, natbed_time_t now);
static void fab_frags_release(struct fabric *f, int n, natbed_time_t now);
static int fab_firewall(struct fabric *f, struct fw *fw, enum fw_dir dir, struct pkt *p, int seg,
			natbed_time_t now);

/* Wall-clock time for capture records from scheduler time: one offset,
 * refreshed by fabric_sync(), instead of a clock read per packet. */
static natbed_time_t fab_wall(const struct fabric *f, natbed_time_t now)
{
	return now + f->wall_offset;
}

/* --- small helpers ------------------------------------------------------- */

static struct ipv4_hdr *fab_ip(struct pkt *p)
{
	return (struct ipv4_hdr *)(p->data + ETH_HLEN_);
}

static void fab_drop(struct fabric *f, struct pkt *p, enum drop_reason r)
{
	if (p->in_port >= 0 && (size_t)p->in_port < f->n_ports)
		port_drop(&f->ports[p->in_port], r);
	pkt_put(f->pool, p);
}

static void fab_drop_list(struct fabric *f, struct pkt *list, enum drop_reason r)
{
	struct pkt *next;

	for (; list; list = next) {
		next = list->next;
		fab_drop(f, list, r);
	}
}

/* RFC 1812 §5.3.1: a router decrements TTL and discards at zero. */
static int fab_ttl_dec(struct pkt *p)
{
	struct ipv4_hdr *ip = fab_ip(p);
	uint16_t old_w, new_w;

	if (ip->ttl <= 1)
		return -1;
	memcpy(&old_w, &ip->ttl, 2);
	ip->ttl--;
	memcpy(&new_w, &ip->ttl, 2);
	csum_update16(&ip->csum, old_w, new_w);
	return 0;
}

/* The address the emulator plays toward host h: its gateway; on a
 * standalone outside port, the NAT's public address. */
static uint32_t fab_gateway(const struct fabric *f, int h)
{
	if (f->segment_port[h] && f->t->hosts[h].nat < 0 && f->t->n_nats > 0)
		return f->t->nats[0].public_addr.s_addr;
	return f->t->hosts[h].gateway.s_addr;
}

/* A NAT takes from its outside segment what is addressed to its public
 * address, and nothing else: the inside is unreachable otherwise. */
static int fab_nat_claims(void *ctx, int n, uint32_t dst)
{
	return dst == ((struct fabric *)ctx)->t->nats[n].public_addr.s_addr;
}

/* The outside view of NAT n: what its uplink carries. */
static void fab_nat_capture(struct fabric *f, int n, struct pkt *p, natbed_time_t now)
{
	if (f->nat_pcap[n])
		pcapw_write(f->nat_pcap[n], p->data, p->len, fab_wall(f, now));
}

/* Parses the packet's IPv4 view for a NAT (the frame was checked on the way
 * in; the NAT rewrites fields in place). */
static int fab_view(struct pkt *p, struct ip_view *v)
{
	return ip_view_parse(p->data, p->len, v);
}

/* --- links ---------------------------------------------------------------- */

static size_t fab_link_nat(const struct fabric *f, int n)
{
	return f->t->n_hosts + (size_t)n;
}

static size_t fab_link_core(const struct fabric *f)
{
	return f->t->n_hosts + f->t->n_nats;
}

/* The internet core is full duplex like every link: "up" carries packets
 * from the lower to the higher address, "down" the others, so the two
 * directions of a conversation never share a rate or a queue. */
static enum fab_dir fab_core_dir(const struct ipv4_hdr *ip)
{
	return ntohl(ip->src) < ntohl(ip->dst) ? FAB_UP : FAB_DOWN;
}

/* What a link needs to know of a packet: its flow and its number in it. */
static void fab_link_pkt(const struct pkt *p, struct link_pkt *lp)
{
	const struct ipv4_hdr *ip = (const struct ipv4_hdr *)(p->data + ETH_HLEN_);
	size_t hlen = (size_t)(ip->ver_ihl & 0x0f) * 4;
	const uint8_t *l4 = (const uint8_t *)ip + hlen;

	memset(lp, 0, sizeof(*lp));
	lp->flow = p->flow_key;
	lp->seq = p->seq;
	lp->len = (uint32_t)p->len;
	lp->proto = ip->proto;
	if ((ip->proto == IPPROTO_UDP_ || ip->proto == IPPROTO_TCP_) &&
	    p->len >= ETH_HLEN_ + hlen + 4) {
		lp->sport = (uint16_t)(l4[0] << 8 | l4[1]);
		lp->dport = (uint16_t)(l4[2] << 8 | l4[3]);
	}
}

/* Issue 5: a corrupted copy carries a bad checksum (L4 if it has one,
 * else the IP header's), so the receiver's stack drops and counts it. */
static void fab_corrupt(struct pkt *p)
{
	struct ipv4_hdr *ip = fab_ip(p);
	size_t hlen = (size_t)(ip->ver_ihl & 0x0f) * 4;
	uint8_t *l4 = (uint8_t *)ip + hlen;
	size_t off = ip->proto == IPPROTO_UDP_ ? 6 : ip->proto == IPPROTO_TCP_ ? 16 : 0;

	if (off && p->len >= ETH_HLEN_ + hlen + off + 2) {
		l4[off] ^= 0x5a;
		return;
	}
	ip->csum ^= htons(0x5a5a);
}

static enum drop_reason fab_link_reason(enum link_drop d)
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

static void fab_log_pkt(struct fabric *f, natbed_time_t now, const char *event,
			const struct fab_link *fl, enum fab_dir dir, const struct link_pkt *lp,
			const char *extra)
{
	evlog_write(f->ev, now, event,
		    "\"link\":\"%s\",\"dir\":\"%s\",\"flow\":\"%016llx\",\"seq\":%llu,"
		    "\"proto\":%u,\"sport\":%u,\"dport\":%u%s%s",
		    fl->name, dir == FAB_UP ? "up" : "down", (unsigned long long)lp->flow,
		    (unsigned long long)lp->seq, lp->proto, lp->sport, lp->dport, extra ? "," : "",
		    extra ? extra : "");
}

/* True when no event is due at or before now: a step due now may then run
 * at once without overtaking anything (FIFO order is kept). */
static bool fab_nothing_due(const struct fabric *f, natbed_time_t now)
{
	natbed_time_t due = sched_next_due(f->s);

	return due < 0 || due > now;
}

/* Crosses one direction of a link: the link decides (issue 5: down, rate,
 * targeted drops, loss, delay and jitter, duplication, corruption) and each
 * copy runs next(copy) at its delivery time on the scheduler. */
static void fab_cross(struct fabric *f, size_t link, enum fab_dir dir, struct pkt *p, sched_fn next,
		      natbed_time_t now)
{
	struct fab_link *fl = &f->links[link];
	struct link_verdict v;
	struct link_pkt lp;
	struct pkt *copy[2] = {p, NULL};
	char extra[96];
	unsigned i;

	fab_link_pkt(p, &lp);
	v = link_decide(fl->dir[dir], &lp, now);
	if (v.drop != LINK_PASS) {
		snprintf(extra, sizeof(extra), "\"reason\":\"%s\"", link_drop_name(v.drop));
		fab_log_pkt(f, now, "drop", fl, dir, &lp, extra);
		fab_drop(f, p, fab_link_reason(v.drop));
		return;
	}
	if (v.n == 2) {
		copy[1] = pkt_clone(f->pool, p);
		if (copy[1])
			fab_log_pkt(f, now, "duplicate", fl, dir, &lp, NULL);
		else
			v.n = 1;
	}
	for (i = 0; i < v.n; i++) {
		if (v.corrupt[i]) {
			fab_corrupt(copy[i]);
			fab_log_pkt(f, now, "corrupt", fl, dir, &lp, NULL);
		}
		if (v.deliver_ns[i] > now) {
			snprintf(extra, sizeof(extra), "\"delay_ns\":%lld,\"due_ns\":%lld",
				 (long long)(v.deliver_ns[i] - now), (long long)v.deliver_ns[i]);
			fab_log_pkt(f, now, "delay", fl, dir, &lp, extra);
		}
		if (v.n == 1 && v.deliver_ns[0] <= now && fab_nothing_due(f, now)) {
			/* Due now with nothing due before it: the scheduler would
			 * run it next anyway, so run it without the round trip. */
			next(copy[i], now);
			return;
		}
		if (sched_at(f->s, v.deliver_ns[i], next, copy[i]) == 0)
			fab_drop(f, copy[i], DROP_POOL_EXHAUSTED);
	}
}

/* --- transmit -------------------------------------------------------------- */

static void fab_arm_flush(struct fabric *f)
{
	if (!f->flush_armed) {
		f->flush_armed = 1;
		event_active(f->flush_ev, EV_WRITE, 0);
	}
}

static void fab_port_flush(struct fabric *f, struct port *port)
{
	natbed_time_t wall;
	int k, i;

	if (port->txq_len == 0)
		return;
	k = port->be->send(port, port->txq, port->txq_len);
	wall = fab_wall(f, sched_now(f->s));
	if (k < 0) {
		log_warn("port %s: send: %s", port->ifname, strerror(-k));
		k = 0;
	}
	for (i = 0; i < port->txq_len; i++) {
		struct pkt *p = port->txq[i];

		if (i < k) {
			if (f->pcap[port->index]) /* captured as it left */
				pcapw_write(f->pcap[port->index], p->data, p->len, wall);
			port->c.tx_pkts++;
			port->c.tx_bytes += p->len;
			pkt_put(f->pool, p);
		} else {
			fab_drop(f, p, DROP_TX_ERROR);
		}
	}
	port->txq_len = 0;
}

static void fab_flush_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct fabric *f = arg;
	size_t i;

	f->flush_armed = 0;
	for (i = 0; i < f->n_ports; i++)
		fab_port_flush(f, &f->ports[i]);
}

/* Queues a finished frame on port; captured as it leaves. */
static void fab_enqueue(struct fabric *f, struct port *port, struct pkt *p)
{
	port->txq[port->txq_len++] = p;
	if (port->txq_len == PORT_BATCH)
		fab_port_flush(f, port);
	fab_arm_flush(f);
}

static void fab_send_arp(struct fabric *f, struct port *port, uint16_t op, uint32_t spa,
			 const uint8_t *tha, uint32_t tpa)
{
	struct pkt *p = pkt_get(f->pool);

	if (!p) {
		port_drop(port, DROP_POOL_EXHAUSTED);
		return;
	}
	arp_frame(p->data, op, port->mac, spa, tha, tpa);
	p->len = ARP_FRAME_LEN;
	p->in_port = port->index;
	fab_enqueue(f, port, p);
}

static void fab_tx_resolved(struct fabric *f, struct port *port, struct pkt *p,
			    const uint8_t mac[6])
{
	struct eth_hdr *eth = (struct eth_hdr *)p->data;

	memcpy(eth->dst, mac, 6);
	memcpy(eth->src, port->mac, 6);
	fab_enqueue(f, port, p);
}

static void fab_retry_unlink(struct fab_arp_retry *r)
{
	if (r->next)
		r->next->prev = r->prev;
	*r->prev = r->next;
	free(r);
}

static void fab_arp_retry(void *arg, natbed_time_t now)
{
	struct fab_arp_retry *r = arg;
	struct fabric *f = r->f;
	struct port *port = &f->ports[r->port];
	struct arp_entry *e = arp_entry_find(&f->arp[r->port], r->ip);

	if (e && !e->valid) {
		if (++e->tries < FAB_ARP_TRIES) {
			fab_send_arp(f, port, ARP_OP_REQUEST, fab_gateway(f, r->port), NULL, r->ip);
			if (sched_after(f->s, FAB_ARP_RETRY_NS, fab_arp_retry, r))
				return;
		}
		fab_drop_list(f, arp_give_up(&f->arp[r->port], r->ip), DROP_ARP_UNRESOLVED);
	}
	fab_retry_unlink(r);
}

static void fab_arp_ask(struct fabric *f, struct port *port, uint32_t ip)
{
	struct fab_arp_retry *r = malloc(sizeof(*r));

	fab_send_arp(f, port, ARP_OP_REQUEST, fab_gateway(f, port->index), NULL, ip);
	if (!r)
		return;
	r->f = f;
	r->port = port->index;
	r->ip = ip;
	r->next = f->retries;
	r->prev = &f->retries;
	if (f->retries)
		f->retries->prev = &r->next;
	f->retries = r;
	if (!sched_after(f->s, FAB_ARP_RETRY_NS, fab_arp_retry, r))
		fab_retry_unlink(r);
}

static void fab_tx(void *arg, natbed_time_t now)
{
	struct pkt *p = arg;
	struct fabric *f = p->ctx;
	struct port *port = &f->ports[p->host];
	uint32_t dst = fab_ip(p)->dst;
	uint8_t mac[6];
	int held;

	/* standalone: the outside port's destinations are behind its router */
	if (f->segment_port[p->host] && f->t->hosts[p->host].nat < 0 && f->next_hop)
		dst = f->next_hop;
	if (arp_lookup(&f->arp[port->index], dst, mac)) {
		fab_tx_resolved(f, port, p, mac);
		return;
	}
	held = arp_hold(&f->arp[port->index], dst, p);
	if (held < 0)
		fab_drop(f, p, DROP_ARP_QUEUE_FULL);
	else if (held == 1)
		fab_arp_ask(f, port, dst);
}

/* --- the segment walk --------------------------------------------------- */

/* A packet arriving at NAT n's public side, after its capture: translate
 * in, then the NAT's firewall. FAB_HELD when the NAT wants it held. */
static int fab_nat_in_xlate(struct fabric *f, int n, struct pkt *p, natbed_time_t now)
{
	enum nat_verdict r = NAT_DROP_UNSUPPORTED;
	struct ip_view v;
	bool first;

	if (fab_view(p, &v) == 0)
		r = nat_inbound(f->nats[n], &v, now);
	if (r == NAT_HOLD)
		return FAB_HELD;
	if (r != NAT_PASS) {
		fab_drop(f, p, DROP_NAT);
		return 0;
	}
	first = nat_frag_first(&v);
	/* ... and after translation in */
	if (fab_firewall(f, f->nat_fw[n], FW_DIR_IN, p, route_nat_inside(n), now) < 0)
		return 0;
	if (fab_ttl_dec(p) < 0) {
		fab_drop(f, p, DROP_TTL_EXPIRED);
		return 0;
	}
	p->seg = route_nat_inside(n);
	fab_on_segment(p, now);
	if (first) /* the rest of its datagram, behind it */
		fab_frags_release(f, n, now);
	return 0;
}

static void fab_nat_in(void *arg, natbed_time_t now)
{
	struct pkt *p = arg;
	struct fabric *f = p->ctx;

	fab_nat_capture(f, p->hop, p, now);
	if (fab_nat_in_xlate(f, p->hop, p, now) == FAB_HELD)
		fab_frag_new(f, p->hop, false, p, now);
}

/* Runs firewall fw on p. Returns 0 when p may go on; otherwise p is dropped
 * (counted) or answered: a reject's ICMP error or TCP RST starts from
 * segment seg, where the refusal happened, back toward the sender. */
static int fab_firewall(struct fabric *f, struct fw *fw, enum fw_dir dir, struct pkt *p, int seg,
			natbed_time_t now)
{
	enum fw_verdict verdict;
	struct ip_view v;
	struct pkt *ans;

	if (!fw)
		return 0;
	if (fab_view(p, &v) < 0) {
		fab_drop(f, p, DROP_MALFORMED);
		return -1;
	}
	verdict = fw_check(fw, &v, dir, now);
	if (verdict == FW_ACCEPT)
		return 0;
	if (verdict == FW_REJECT && (ans = pkt_get(f->pool)) != NULL) {
		ans->len = fw_reject_build(&v, ans->data, PKT_MAX_FRAME);
		if (ans->len > 0) {
			ans->in_port = p->in_port;
			ans->ctx = f;
			ans->seg = seg;
			ans->flow_key = p->flow_key ^ 0x72656a656374ull; /* "reject" */
			ans->seq = p->seq;
			fab_on_segment(ans, now);
		} else {
			pkt_put(f->pool, ans);
		}
	}
	fab_drop(f, p, DROP_FIREWALL);
	return -1;
}

/* A packet leaving NAT n's inside, after the NAT's firewall: translate,
 * then either turn it back in (hairpinning, RFC 4787 REQ-9: it arrives with
 * the external source) or send it up the NAT's uplink. FAB_HELD when the
 * NAT wants it held. */
static int fab_nat_out_xlate(struct fabric *f, int n, struct pkt *p, natbed_time_t now)
{
	struct nat *nat = f->nats[n];
	enum nat_verdict r = NAT_DROP_UNSUPPORTED;
	struct ip_view v;
	bool first;

	if (fab_view(p, &v) == 0)
		r = nat_outbound(nat, &v, now);
	if (r == NAT_HOLD)
		return FAB_HELD;
	if (r != NAT_PASS || fab_ttl_dec(p) < 0) {
		fab_drop(f, p, DROP_NAT);
		return 0;
	}
	if (v.ip->dst == nat_config(nat)->public_addr) {
		if (!nat_config(nat)->hairpin || nat_inbound(nat, &v, now) != NAT_PASS) {
			fab_drop(f, p, DROP_NAT);
			return 0;
		}
		nat_count_hairpin(nat);
		fab_on_segment(p, now);
		return 0;
	}
	first = nat_frag_first(&v);
	fab_nat_capture(f, n, p, now);
	p->seg = route_nat_outside(f->route, n);
	p->flags &= ~PKT_F_CORE;
	fab_cross(f, fab_link_nat(f, n), FAB_UP, p, fab_on_segment, now);
	if (first) /* the rest of its datagram, behind it */
		fab_frags_release(f, n, now);
	return 0;
}

static void fab_nat_out(struct fabric *f, int n, struct pkt *p, natbed_time_t now)
{
	/* a NAT's firewall sees inside addresses: before translation out */
	if (fab_firewall(f, f->nat_fw[n], FW_DIR_OUT, p, route_nat_inside(n), now) < 0)
		return;
	if (fab_nat_out_xlate(f, n, p, now) == FAB_HELD)
		fab_frag_new(f, n, true, p, now);
}

/* --- fragments ahead of their first (RFC 4787 REQ-14) ---------------------- */

/* Drops held fragments whose time ran out, then sleeps until the next. */
static void fab_frags_sweep(void *arg, natbed_time_t now)
{
	struct fabric *f = arg;
	natbed_time_t next;
	struct pkt *p;
	int n;

	f->frag_ev = 0;
	while ((p = fraghold_expired(f->frags, now, &n)) != NULL) {
		nat_count_frag_timeout(f->nats[n]);
		fab_drop(f, p, DROP_NAT);
	}
	next = fraghold_next_expiry(f->frags);
	if (next >= 0)
		f->frag_ev = sched_at(f->s, next, fab_frags_sweep, f);
}

/* Holds p at NAT n until expires (its first hold's time: a fragment
 * offered again keeps it). */
static void fab_frag_hold(struct fabric *f, int n, bool out, struct pkt *p, natbed_time_t expires)
{
	struct pkt *old;

	p->hop = n;
	old = fraghold_put(f->frags, p, n, out, expires);
	if (old) { /* full: the oldest gives way, as if its time ran out */
		nat_count_frag_timeout(f->nats[old->hop]);
		fab_drop(f, old, DROP_NAT);
	}
	if (!f->frag_ev)
		f->frag_ev = sched_at(f->s, expires, fab_frags_sweep, f);
}

/* A fragment NAT n answered NAT_HOLD for, the first time. */
static void fab_frag_new(struct fabric *f, int n, bool out, struct pkt *p, natbed_time_t now)
{
	nat_count_frag_held(f->nats[n]);
	fab_frag_hold(f, n, out, p, now + NAT_FRAG_TIMEOUT_NS);
}

/* A first fragment passed NAT n: offer it the fragments it held. Those
 * still ahead of their own first are held again, until the same time. */
static void fab_frags_release(struct fabric *f, int n, natbed_time_t now)
{
	struct fraghold_entry e[FRAGHOLD_MAX];
	size_t k, i;

	k = fraghold_take(f->frags, n, e, FRAGHOLD_MAX);
	for (i = 0; i < k; i++) {
		int r = e[i].out ? fab_nat_out_xlate(f, n, e[i].p, now)
				 : fab_nat_in_xlate(f, n, e[i].p, now);

		if (r == FAB_HELD)
			fab_frag_hold(f, n, e[i].out, e[i].p, e[i].expires);
	}
}

static void fab_on_segment(void *arg, natbed_time_t now)
{
	struct pkt *p = arg;
	struct fabric *f = p->ctx;
	struct route_next nx;

	if (p->seg == ROUTE_INTERNET && !(p->flags & PKT_F_CORE)) {
		/* The internet core is a router: one hop, one link. */
		p->flags |= PKT_F_CORE;
		if (fab_ttl_dec(p) < 0) {
			fab_drop(f, p, DROP_TTL_EXPIRED);
			return;
		}
		fab_cross(f, fab_link_core(f), fab_core_dir(fab_ip(p)), p, fab_on_segment, now);
		return;
	}
	nx = route_lookup(f->route, p->seg, fab_ip(p)->dst, fab_nat_claims, f);
	switch (nx.kind) {
	case ROUTE_HOST:
		p->host = nx.index;
		if (fab_firewall(f, f->host_fw[nx.index], FW_DIR_IN, p, p->seg, now) < 0)
			return;
		fab_cross(f, fab_link_host(nx.index), FAB_DOWN, p, fab_tx, now);
		return;
	case ROUTE_NAT_DOWN:
		p->hop = nx.index;
		fab_cross(f, fab_link_nat(f, nx.index), FAB_DOWN, p, fab_nat_in, now);
		return;
	case ROUTE_NAT_UP:
		fab_nat_out(f, nx.index, p, now);
		return;
	case ROUTE_NONE:
		break;
	}
	fab_drop(f, p, DROP_NO_ROUTE);
}

/* --- receive ---------------------------------------------------------------- */

static int fab_is_host_addr(const struct fabric *f, int h, uint32_t ip)
{
	return route_host_of(f->route, ip) == h;
}

/* May a frame on port h teach us where ip lives? A host port holds its host
 * only; a segment port (standalone) a whole network. */
static int fab_may_learn(const struct fabric *f, int h, uint32_t ip)
{
	return f->segment_port[h] ? ip != 0 : fab_is_host_addr(f, h, ip);
}

/* Does the emulator answer ARP for ip on port h? On a host port it is every
 * address but the host's own (proxy ARP); on a segment port only the
 * address it plays there. */
static int fab_answers_arp(const struct fabric *f, int h, uint32_t spa, uint32_t tpa)
{
	if (tpa == spa)
		return 0; /* gratuitous or a DAD probe */
	return f->segment_port[h] ? tpa == fab_gateway(f, h) : !fab_is_host_addr(f, h, tpa);
}

static void fab_arp_in(struct fabric *f, struct port *port, struct pkt *p)
{
	struct arp_pkt a;
	int h = port->index;

	if (p->len < ETH_HLEN_ + sizeof(a)) {
		fab_drop(f, p, DROP_MALFORMED);
		return;
	}
	memcpy(&a, p->data + ETH_HLEN_, sizeof(a));
	pkt_put(f->pool, p);
	if (ntohs(a.htype) != 1 || ntohs(a.ptype) != ETHERTYPE_IPV4 || a.hlen != 6 || a.plen != 4) {
		port_drop(port, DROP_UNSUPPORTED);
		return;
	}
	if (fab_may_learn(f, h, a.spa)) {
		struct pkt *held = arp_learn(&f->arp[h], a.spa, a.sha), *next;

		for (; held; held = next) {
			next = held->next;
			fab_tx_resolved(f, port, held, a.sha);
		}
	}
	if (ntohs(a.op) == ARP_OP_REQUEST && fab_answers_arp(f, h, a.spa, a.tpa))
		fab_send_arp(f, port, ARP_OP_REPLY, a.tpa, a.sha, a.spa);
}

/* The gateway the emulator plays answers ping, as a router would (RFC 1122
 * §3.2.2.6): the reply goes back down the host's link. Returns 1 if p was
 * such a request and has been answered. */
static int fab_gateway_echo(struct fabric *f, int h, struct pkt *p, struct ip_view *v,
			    natbed_time_t now)
{
	struct icmp_hdr *icmp = (struct icmp_hdr *)v->l4;
	uint32_t tmp;

	if (v->ip->dst != fab_gateway(f, h) || v->ip->proto != IPPROTO_ICMP_ || !v->l4 ||
	    v->l4_len < ICMP_HLEN || icmp->type != 8 || icmp->code != 0)
		return 0;
	tmp = v->ip->src;
	v->ip->src = v->ip->dst;
	v->ip->dst = tmp;
	v->ip->ttl = 64;
	ip_csum_set(v->ip, v->hlen);
	icmp->type = 0;
	l4_csum_set(v);
	p->host = h;
	fab_cross(f, fab_link_host(h), FAB_DOWN, p, fab_tx, now);
	return 1;
}

/* Issue 5: decisions are keyed by (flow, packet number in the flow), so
 * the same packets get the same fate however flows interleave. The flow is
 * the 5-tuple as the host sent it. */
static void fab_flow_number(struct fabric *f, struct pkt *p, const struct ip_view *v)
{
	uint64_t k = (uint64_t)v->ip->src << 32 | v->ip->dst;

	k ^= (uint64_t)v->ip->proto * 0x9e3779b97f4a7c15ull;
	if (v->l4 && v->l4_len >= 4 &&
	    (v->ip->proto == IPPROTO_UDP_ || v->ip->proto == IPPROTO_TCP_)) {
		uint32_t ports;

		memcpy(&ports, v->l4, 4);
		k ^= (uint64_t)ports * 0xc2b2ae3d27d4eb4full;
	}
	k ^= k >> 31;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 29;
	p->flow_key = k;
	p->seq = f->flow_seq[k & (FAB_FLOW_BUCKETS - 1)]++;
}

static void fab_ip_in(struct fabric *f, struct port *port, struct pkt *p, natbed_time_t now)
{
	struct ip_view v;
	int h = port->index;

	if (ip_view_parse(p->data, p->len, &v) < 0) {
		fab_drop(f, p, DROP_MALFORMED);
		return;
	}
	p->len = ETH_HLEN_ + v.ip_len; /* strip Ethernet padding */
	if (fab_gateway_echo(f, h, p, &v, now))
		return;
	p->seg = route_host_segment(f->route, h);
	p->rx_ns = now;
	fab_flow_number(f, p, &v);
	if (fab_firewall(f, f->host_fw[h], FW_DIR_OUT, p, p->seg, now) < 0)
		return;
	fab_cross(f, fab_link_host(h), FAB_UP, p, fab_on_segment, now);
}

/* DESIGN, known pitfalls: a host with tx checksum offload on hands over
 * UDP/TCP with an unfinished checksum; forwarded as is, the receiving
 * kernel drops it. Finish it before anything sees the frame, the capture
 * included, so Wireshark shows what the receiver gets. */
static void fab_finish_csum(struct pkt *p)
{
	struct ip_view v;
	const struct eth_hdr *eth = (const struct eth_hdr *)p->data;

	if (p->len >= ETH_HLEN_ && ntohs(eth->type) == ETHERTYPE_IPV4 &&
	    ip_view_parse(p->data, p->len, &v) == 0)
		l4_csum_set(&v);
	p->flags &= ~PKT_F_CSUM_PARTIAL;
}

static void fab_ingress(struct fabric *f, struct port *port, struct pkt *p, natbed_time_t now)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct eth_hdr *eth = (struct eth_hdr *)p->data;

	if (p->flags & PKT_F_CSUM_PARTIAL)
		fab_finish_csum(p);
	if (f->pcap[port->index])
		pcapw_write(f->pcap[port->index], p->data, p->len, fab_wall(f, now));
	p->ctx = f; /* events get the packet; it knows its fabric */
	if (p->len < ETH_HLEN_) {
		fab_drop(f, p, DROP_MALFORMED);
		return;
	}
	if (memcmp(eth->dst, port->mac, 6) != 0 && memcmp(eth->dst, bcast, 6) != 0) {
		fab_drop(f, p, DROP_NOT_FOR_US);
		return;
	}
	switch (ntohs(eth->type)) {
	case ETHERTYPE_ARP_:
		fab_arp_in(f, port, p);
		return;
	case ETHERTYPE_IPV4:
		fab_ip_in(f, port, p, now);
		return;
	}
	fab_drop(f, p, DROP_UNSUPPORTED);
}

/* Takes what port has waiting, a few batches at most. */
static void fab_rx_port(struct fabric *f, struct port *port)
{
	struct pkt *pk[PORT_BATCH];
	natbed_time_t now;
	int round, n = 0, i;

	for (round = 0; round < FAB_RX_ROUNDS; round++) {
		n = port->be->recv(port, f->pool, pk, PORT_BATCH);
		/* one clock read per batch: they arrived together */
		now = sched_now(f->s);
		for (i = 0; i < n; i++)
			fab_ingress(f, port, pk[i], now);
		if (n < PORT_BATCH)
			break;
	}
	if (n < 0)
		log_warn("port %s: receive: %s", port->ifname, strerror(-n));
}

/* Busy-polls the ports for up to spin_ns before the loop goes back to
 * sleep: a reply that comes within that time is forwarded without a
 * wake-up (what a kernel router never pays). Only backends that can tell
 * cheaply whether a frame waits (rings) take part. */
static void fab_spin(struct fabric *f)
{
	natbed_time_t deadline, now;
	size_t i;

	if (f->spin_ns <= 0)
		return;
	now = sched_now(f->s);
	deadline = now + f->spin_ns;
	while (now < deadline) {
		for (i = 0; i < f->n_ports; i++) {
			struct port *port = &f->ports[i];

			if (port->be->ready && port->be->ready(port))
				fab_rx_port(f, port);
		}
		sched_run_due(f->s);
		fab_flush_cb(-1, 0, f);
		now = sched_now(f->s);
	}
}

static void fab_rx_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct port *port = arg;
	struct fabric *f = port->owner;

	fab_rx_port(f, port);
	sched_run_due(f->s);
	if (f->spin_ns > 0) {
		fab_flush_cb(-1, 0, f);
		fab_spin(f);
	}
}

/* --- life cycle ---------------------------------------------------------- */

static int fab_open_port(struct fabric *f, size_t i, const struct port_backend *be,
			 const char *pcap_dir, char *err, size_t errlen)
{
	struct port *port = &f->ports[i];
	const char *name = f->t->hosts[i].name;
	char path[512];
	int rc = port_open(port, name, be);

	if (rc < 0) {
		snprintf(err, errlen, "port %s: open: %s", name, strerror(-rc));
		return -1;
	}
	port->index = (int)i;
	port->owner = f;
	if (pcap_dir) {
		snprintf(path, sizeof(path), "%s/%s.pcap", pcap_dir, name);
		f->pcap[i] = pcapw_open(path, err, errlen);
		if (!f->pcap[i])
			return -1;
	}
	f->rx_ev[i] = event_new(f->base, port->fd, EV_READ | EV_PERSIST, fab_rx_cb, port);
	if (!f->rx_ev[i] || event_add(f->rx_ev[i], NULL) < 0) {
		snprintf(err, errlen, "port %s: cannot register with the event loop", name);
		return -1;
	}
	return 0;
}

static int fab_link_open(struct fabric *f, size_t i, const char *name, const struct topo_link *tl,
			 char *err, size_t errlen)
{
	struct link_cfg lc;
	unsigned d;

	f->links[i].name = name;
	for (d = 0; d < 2; d++) {
		if (topo_link_cfg(tl, name, f->t->seed, d, &lc, err, errlen) < 0)
			return -1;
		f->links[i].dir[d] = link_new(&lc, err, errlen);
		if (!f->links[i].dir[d])
			return -1;
	}
	return 0;
}

/* Hosts' access links, NAT uplinks, then the internet core. */
static int fab_open_links(struct fabric *f, char *err, size_t errlen)
{
	size_t i;

	f->n_links = f->t->n_hosts + f->t->n_nats + 1;
	f->links = calloc(f->n_links, sizeof(*f->links));
	f->flow_seq = calloc(FAB_FLOW_BUCKETS, sizeof(*f->flow_seq));
	if (!f->links || !f->flow_seq) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < f->t->n_hosts; i++)
		if (fab_link_open(f, fab_link_host((int)i), f->t->hosts[i].name,
				  &f->t->hosts[i].link, err, errlen) < 0)
			return -1;
	for (i = 0; i < f->t->n_nats; i++)
		if (fab_link_open(f, fab_link_nat(f, (int)i), f->t->nats[i].name,
				  &f->t->nats[i].link, err, errlen) < 0)
			return -1;
	return fab_link_open(f, fab_link_core(f), "internet", &f->t->internet, err, errlen);
}

/* A firewall per host and NAT that has a firewall block. */
static int fab_open_firewalls(struct fabric *f, char *err, size_t errlen)
{
	size_t i;

	f->host_fw = calloc(f->t->n_hosts ? f->t->n_hosts : 1, sizeof(*f->host_fw));
	f->nat_fw = calloc(f->t->n_nats ? f->t->n_nats : 1, sizeof(*f->nat_fw));
	if (!f->host_fw || !f->nat_fw)
		goto nomem;
	for (i = 0; i < f->t->n_hosts; i++)
		if (f->t->hosts[i].fw.present &&
		    !(f->host_fw[i] = fw_new(&f->t->hosts[i].fw, f->s)))
			goto nomem;
	for (i = 0; i < f->t->n_nats; i++)
		if (f->t->nats[i].fw.present && !(f->nat_fw[i] = fw_new(&f->t->nats[i].fw, f->s)))
			goto nomem;
	return 0;
nomem:
	snprintf(err, errlen, "firewalls: out of memory");
	return -1;
}

static int fab_open_nats(struct fabric *f, const char *pcap_dir, const bool *capture, char *err,
			 size_t errlen)
{
	size_t k, n = f->t->n_nats;
	struct nat_cfg nc;
	char path[512];

	f->nats = calloc(n ? n : 1, sizeof(*f->nats));
	f->nat_pcap = calloc(n ? n : 1, sizeof(*f->nat_pcap));
	if (!f->nats || !f->nat_pcap) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (k = 0; k < n; k++) {
		nat_cfg_from_topo(&nc, &f->t->nats[k], f->t->seed);
		f->nats[k] = nat_new(&nc, f->s);
		if (!f->nats[k]) {
			snprintf(err, errlen, "nat %s: cannot create it", f->t->nats[k].name);
			return -1;
		}
		if (pcap_dir && (!capture || capture[k])) {
			snprintf(path, sizeof(path), "%s/%s-wan.pcap", pcap_dir,
				 f->t->nats[k].name);
			f->nat_pcap[k] = pcapw_open(path, err, errlen);
			if (!f->nat_pcap[k])
				return -1;
		}
	}
	return 0;
}

struct fabric *fabric_new(const struct fabric_cfg *cfg, char *err, size_t errlen)
{
	const struct port_backend *be = port_backend_find(cfg->backend ? cfg->backend : "ring");
	struct fabric *f;
	size_t i, n = cfg->topo->n_hosts;

	if (!be) {
		snprintf(err, errlen, "unknown packet I/O backend '%s'", cfg->backend);
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		goto nomem;
	f->t = cfg->topo;
	f->s = cfg->sched;
	f->base = cfg->base;
	f->n_ports = n;
	f->pool = pkt_pool_new(cfg->pool_size ? cfg->pool_size : 16384);
	f->route = route_new(cfg->topo);
	f->ports = calloc(n ? n : 1, sizeof(*f->ports));
	f->arp = calloc(n ? n : 1, sizeof(*f->arp));
	f->pcap = calloc(n ? n : 1, sizeof(*f->pcap));
	f->rx_ev = calloc(n ? n : 1, sizeof(*f->rx_ev));
	f->segment_port = calloc(n ? n : 1, sizeof(*f->segment_port));
	f->flush_ev = event_new(f->base, -1, 0, fab_flush_cb, f);
	f->frags = fraghold_new();
	if (!f->pool || !f->route || !f->ports || !f->arp || !f->pcap || !f->rx_ev ||
	    !f->flush_ev || !f->segment_port || !f->frags)
		goto nomem;
	if (cfg->standalone) {
		for (i = 0; i < n; i++) {
			f->segment_port[i] = true;
			route_set_catch_all(f->route, (int)i);
		}
		f->next_hop = cfg->next_hop;
	}
	f->spin_ns = cfg->spin_ns;
	for (i = 0; i < n; i++)
		f->ports[i].fd = -1;
	for (i = 0; i < n; i++)
		if (fab_open_port(f, i, be,
				  cfg->pcap_host && !cfg->pcap_host[i] ? NULL : cfg->pcap_dir, err,
				  errlen) < 0)
			goto fail;
	f->wall_offset = clock_wall_ns() - sched_now(f->s);
	if (fab_open_nats(f, cfg->pcap_dir, cfg->pcap_nat, err, errlen) < 0 ||
	    fab_open_links(f, err, errlen) < 0 || fab_open_firewalls(f, err, errlen) < 0)
		goto fail;
	if (cfg->pcap_dir) {
		char path[512];

		snprintf(path, sizeof(path), "%s/events.jsonl", cfg->pcap_dir);
		f->ev = evlog_open(path, err, errlen);
		if (!f->ev)
			goto fail;
	}
	return f;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	fabric_free(f);
	return NULL;
}

void fabric_free(struct fabric *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; f->ports && i < f->n_ports; i++) {
		if (f->rx_ev && f->rx_ev[i])
			event_free(f->rx_ev[i]);
		if (f->ports[i].fd >= 0)
			fab_port_flush(f, &f->ports[i]);
		port_close(&f->ports[i]);
		if (f->pcap)
			pcapw_close(f->pcap[i]);
	}
	for (i = 0; f->nats && i < f->t->n_nats; i++) {
		nat_free(f->nats[i]);
		pcapw_close(f->nat_pcap[i]);
	}
	for (i = 0; f->host_fw && i < f->t->n_hosts; i++)
		fw_free(f->host_fw[i]);
	for (i = 0; f->nat_fw && i < f->t->n_nats; i++)
		fw_free(f->nat_fw[i]);
	free(f->host_fw);
	free(f->nat_fw);
	free(f->nats);
	free(f->nat_pcap);
	for (i = 0; f->links && i < f->n_links; i++) {
		link_free(f->links[i].dir[0]);
		link_free(f->links[i].dir[1]);
	}
	free(f->links);
	free(f->flow_seq);
	evlog_close(f->ev);
	if (f->flush_ev)
		event_free(f->flush_ev);
	free(f->rx_ev);
	free(f->segment_port);
	/* their events die with the scheduler, never run: free them here */
	while (f->retries)
		fab_retry_unlink(f->retries);
	if (f->frag_ev) /* held packets go with the pool */
		sched_cancel(f->s, f->frag_ev);
	fraghold_free(f->frags);
	free(f->pcap);
	free(f->arp);
	free(f->ports);
	route_free(f->route);
	pkt_pool_free(f->pool);
	free(f);
}

struct port *fabric_ports(struct fabric *f, size_t *n)
{
	*n = f->n_ports;
	return f->ports;
}

size_t fabric_in_flight(const struct fabric *f)
{
	return pkt_pool_in_use(f->pool);
}

void fabric_sync(struct fabric *f)
{
	size_t i;

	f->wall_offset = clock_wall_ns() - sched_now(f->s);
	for (i = 0; i < f->n_ports; i++) {
		f->ports[i].be->kernel_drops(&f->ports[i]);
		pcapw_flush(f->pcap[i]);
	}
	for (i = 0; i < f->t->n_nats; i++)
		pcapw_flush(f->nat_pcap[i]);
	evlog_flush(f->ev);
}

int fabric_link(struct fabric *f, const char *name, struct link **up, struct link **down)
{
	size_t i;

	for (i = 0; i < f->n_links; i++) {
		if (strcmp(f->links[i].name, name) == 0) {
			*up = f->links[i].dir[FAB_UP];
			*down = f->links[i].dir[FAB_DOWN];
			return 0;
		}
	}
	return -1;
}

void fabric_log(struct fabric *f, const char *event, const char *fields)
{
	evlog_write(f->ev, sched_now(f->s), event, "%s", fields);
	evlog_flush(f->ev);
}

struct nat *fabric_nat(struct fabric *f, const char *name)
{
	int k = topo_nat_find(f->t, name);

	return k < 0 ? NULL : f->nats[k];
}

struct fw *fabric_firewall(struct fabric *f, const char *name)
{
	int k = topo_host_find(f->t, name);

	if (k >= 0)
		return f->host_fw[k];
	k = topo_nat_find(f->t, name);
	return k >= 0 ? f->nat_fw[k] : NULL;
}

struct sched *fabric_sched(struct fabric *f)
{
	return f->s;
}
