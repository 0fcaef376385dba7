#include "fabric.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "droplog.h"
#include "engines.h"
#include "evlog.h"
#include "emu_parts.h"
#include "flowtab.h"
#include "firewall.h"
#include "fraghold.h"
#include "gate.h"
#include "icmpgen.h"
#include "linkset.h"
#include "livecap.h"
#include "nat.h"
#include "pcp.h"
#include "neigh.h"
#include "natbed/capsel.h"
#include "natbed/log.h"
#include "natbed/strcopy.h"
#include "pcapw.h"
#include "proto.h"
#include "route.h"
#include "rxpoll.h"
#include "txbatch.h"

/* Packet flags private to the fabric. */
#define PKT_F_CORE (1u << 8) /* crossed the internet core on this visit */

struct fabric {
	const struct topo *t;
	struct sched *s;
	struct event_base *base;
	struct pkt_pool *pool;
	struct route *route;
	struct port *ports; /* ports[h] belongs to host h */
	size_t n_ports;
	struct neigh *neigh; /* ARP on every port */
	struct pcapw **pcap;
	bool *segment_port;	   /* standalone: the port stands for a network */
	uint32_t next_hop;	   /* standalone: outside router, 0 for on-link */
	natbed_time_t wall_offset; /* CLOCK_REALTIME - scheduler time */
	struct linkset *links;	   /* hosts, then NAT uplinks, then the core */
	struct evlog *ev;
	struct droplog *drops;	 /* a line per drop in ev, rate-limited */
	uint32_t core_addr;	 /* what the internet core plays: TOPO_PUBLIC_GATEWAY */
	struct flowtab *flows;	 /* packet numbers per flow */
	struct engines eng;	 /* NATs, firewalls, gates */
	struct pcapw **nat_pcap; /* NAME-wan.pcap: each NAT's outside view */
	struct txbatch *tx;
	struct rxpoll *rx;
	struct fraghold *frags;	       /* fragments ahead of their first (REQ-14) */
	struct livecap *live;	       /* viewers of the captures (natbed capture) */
	struct fab_announce *announce; /* per NAT: its gateway's, after a flush */
};

/* A NAT's gateway announcing that it lost its mappings (pcp.h). */
struct fab_announce {
	struct fabric *f;
	int nat;
	unsigned sent; /* rounds so far */
	uint64_t ev;
};

#define FAB_HELD 1 /* a step's answer: the NAT wants the fragment held */

static void fab_on_segment(void *arg, natbed_time_t now);
static void fab_frag_new(struct fabric *f, int n, bool out, struct pkt *p, natbed_time_t now);
static void fab_frags_release(struct fabric *f, int n, natbed_time_t now);
static int fab_firewall(struct fabric *f, struct fw *fw, enum fw_dir dir, struct pkt *p, int seg,
			natbed_time_t now);
static int fab_gate(struct fabric *f, struct gate *g, enum gate_dir dir, struct pkt *p,
		    natbed_time_t now);

/* Wall-clock time for capture records from scheduler time: one offset,
 * refreshed by fabric_sync(), instead of a clock read per packet. */
static natbed_time_t fab_wall(const struct fabric *f, natbed_time_t now)
{
	return now + f->wall_offset;
}

/* One record of view v (fabric.h: hosts' ports, then NATs' outsides): into
 * its file w (NULL: not written) and to its live viewers. */
static void fab_capture(struct fabric *f, size_t v, struct pcapw *w, const struct pkt *p,
			natbed_time_t now)
{
	natbed_time_t wall = fab_wall(f, now);

	pcapw_write(w, p->data, p->len, wall);
	livecap_write(f->live, v, p->data, p->len, wall);
}

/* --- small helpers ------------------------------------------------------- */

static struct ipv4_hdr *fab_ip(struct pkt *p)
{
	return (struct ipv4_hdr *)(p->data + ETH_HLEN_);
}

/* The one place a packet is dropped: counted under r on the port it came
 * in by and written to the drop log with its flow as the dropping step saw
 * it. why is the precise reason (NULL: r's name); extra, more JSON members
 * naming the step (NULL: none). */
static void fab_drop_why(struct fabric *f, struct pkt *p, enum drop_reason r, const char *why,
			 const char *extra)
{
	const char *port = NULL;
	struct flow_tuple t;

	if (p->in_port >= 0 && (size_t)p->in_port < f->n_ports) {
		port_drop(&f->ports[p->in_port], r);
		port = f->ports[p->in_port].ifname;
	}
	if (f->drops) {
		if (p->view.ip)
			flow_tuple_of(&p->view, &t);
		droplog_write(f->drops, sched_now(f->s), port, p->view.ip ? &t : NULL,
			      why ? why : drop_reason_name(r), drop_reason_name(r), extra);
	}
	pkt_put(f->pool, p);
}

static void fab_drop(struct fabric *f, struct pkt *p, enum drop_reason r)
{
	fab_drop_why(f, p, r, NULL, NULL);
}

/* A drop at NAT n: why is its verdict (nat_verdict_name) or the turn it
 * refused. */
static void fab_nat_drop(struct fabric *f, int n, struct pkt *p, const char *why)
{
	char extra[TOPO_NAME_MAX + 16];

	snprintf(extra, sizeof(extra), "\"nat\":\"%s\"", f->t->nats[n].name);
	fab_drop_why(f, p, DROP_NAT, why, extra);
}

/* ans, built by the caller (len 0: nothing), is what the emulator sends
 * about p: an ICMP error or a RST. It starts on segment seg with flags,
 * counts against p's port and takes p's number in a flow of its own (p's,
 * salted), so its link decisions repeat with p's. Returns ans ready for
 * fab_on_segment(), or NULL (ans freed) when there is nothing to send. */
static struct pkt *fab_answer(struct fabric *f, const struct pkt *p, struct pkt *ans, int seg,
			      uint32_t flags, uint64_t salt)
{
	if (!ans)
		return NULL;
	if (ans->len == 0 || ip_view_parse(ans->data, ans->len, &ans->view) < 0) {
		pkt_put(f->pool, ans);
		return NULL;
	}
	ans->in_port = p->in_port;
	ans->ctx = f;
	ans->seg = seg;
	ans->flags = flags;
	ans->flow_key = p->flow_key ^ salt;
	ans->seq = p->seq;
	return ans;
}

/* RFC 1812 §5.3.1: a router that would forward p with TTL 0 discards it
 * and sends time exceeded (RFC 792 type 11 code 0). It comes from src, the
 * address the router plays toward the sender, and starts on segment seg
 * (with flags) back toward the sender; router names it in the drop log. */
static void fab_ttl_expired(struct fabric *f, struct pkt *p, uint32_t src, int seg, uint32_t flags,
			    const char *router, natbed_time_t now)
{
	struct pkt *ans = pkt_get(f->pool);
	char extra[TOPO_NAME_MAX + 16];

	if (ans)
		ans->len = icmpgen_error(&p->view, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, src, ans->data,
					 PKT_MAX_FRAME);
	ans = fab_answer(f, p, ans, seg, flags, 0x74746cull /* "ttl" */);
	snprintf(extra, sizeof(extra), "\"router\":\"%s\"", router);
	fab_drop_why(f, p, DROP_TTL_EXPIRED, NULL, extra);
	if (ans)
		fab_on_segment(ans, now);
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
	ip_csum_update16(&ip->csum, old_w, new_w);
	return 0;
}

/* The address the emulator plays toward host h: its gateway; on a
 * standalone outside port, the NAT's public address. */
static uint32_t fab_gateway(const struct fabric *f, int h)
{
	if (f->segment_port[h] && f->t->hosts[h].nat < 0 && f->t->n_nats > 0)
		return f->t->nats[0].publics[0].s_addr;
	return f->t->hosts[h].gateway.s_addr;
}

/* A NAT takes from its outside segment what is addressed to its public
 * address, and nothing else: the inside is unreachable otherwise. */
static int fab_nat_claims(void *ctx, int n, uint32_t dst)
{
	return nat_is_public(((struct fabric *)ctx)->eng.nats[n], dst);
}

/* The outside view of NAT n: what its uplink carries. */
static void fab_nat_capture(struct fabric *f, int n, struct pkt *p, natbed_time_t now)
{
	fab_capture(f, f->n_ports + (size_t)n, f->nat_pcap[n], p, now);
}

static void fab_link_drop(void *ctx, struct pkt *p, enum drop_reason r, enum link_drop d,
			  const char *name, enum linkset_dir dir)
{
	char extra[TOPO_NAME_MAX + 96];

	snprintf(extra, sizeof(extra),
		 "\"link\":\"%s\",\"dir\":\"%s\",\"flow\":\"%016llx\",\"seq\":%llu", name,
		 dir == LINKSET_UP ? "up" : "down", (unsigned long long)p->flow_key,
		 (unsigned long long)p->seq);
	fab_drop_why(ctx, p, r, d == LINK_PASS ? NULL : link_drop_name(d), extra);
}

/* --- transmit -------------------------------------------------------------- */

/* Queues a finished frame on port; captured as it leaves. */
static void fab_enqueue(struct fabric *f, struct port *port, struct pkt *p)
{
	txbatch_queue(f->tx, port, p);
}

static void fab_tx(void *arg, natbed_time_t now)
{
	struct pkt *p = arg;
	struct fabric *f = p->ctx;
	struct port *port = &f->ports[p->host];
	uint32_t dst = fab_ip(p)->dst;

	/* standalone: the outside port's destinations are behind its router */
	if (f->segment_port[p->host] && f->t->hosts[p->host].nat < 0 && f->next_hop)
		dst = f->next_hop;
	neigh_output(f->neigh, port, dst, p);
}

/* --- the segment walk --------------------------------------------------- */

/* A packet arriving at NAT n's public side, after its capture: translate
 * in, then the NAT's firewall. FAB_HELD when the NAT wants it held. */
static int fab_nat_in_xlate(struct fabric *f, int n, struct pkt *p, natbed_time_t now)
{
	enum nat_verdict r = nat_inbound(f->eng.nats[n], &p->view, now);
	bool first;

	if (r == NAT_HOLD)
		return FAB_HELD;
	if (r != NAT_PASS) {
		fab_nat_drop(f, n, p, nat_verdict_name(r));
		return 0;
	}
	first = nat_frag_first(&p->view);
	if (p->view.ip->ttl <= 1) {
		/* from the inside gateway, about the packet as translated: the
		 * way out translates it back, outer source and quote (RFC 5508) */
		fab_ttl_expired(f, p, f->t->nats[n].gateway.s_addr, route_nat_inside(n), 0,
				f->t->nats[n].name, now);
		return 0;
	}
	/* ... and after translation in, then its gate */
	if (fab_firewall(f, f->eng.nat_fw[n], FW_DIR_IN, p, route_nat_inside(n), now) < 0 ||
	    fab_gate(f, f->eng.nat_gate[n], GATE_IN, p, now) < 0)
		return 0;
	fab_ttl_dec(p);
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

/* Names firewall fw and what decided its last verdict v, for the drop log:
 * "firewall":OWNER,"rule":INDEX,"line":LINE or "rule":"default". */
static void fab_fw_note(const struct fabric *f, const struct fw *fw, enum fw_verdict v, char *out,
			size_t len)
{
	const struct topo_fw *cfg = NULL;
	const char *name = "?";
	int rule = fw_last_rule(fw);
	size_t i;

	for (i = 0; i < f->t->n_hosts && !cfg; i++)
		if (f->eng.host_fw[i] == fw) {
			name = f->t->hosts[i].name;
			cfg = &f->t->hosts[i].fw;
		}
	for (i = 0; i < f->t->n_nats && !cfg; i++)
		if (f->eng.nat_fw[i] == fw) {
			name = f->t->nats[i].name;
			cfg = &f->t->nats[i].fw;
		}
	if (cfg && rule >= 0 && (size_t)rule < cfg->n_rules)
		snprintf(out, len, "\"firewall\":\"%s\",\"action\":\"%s\",\"rule\":%d,\"line\":%d",
			 name, fw_verdict_name(v), rule, cfg->rules[rule].line);
	else
		snprintf(out, len, "\"firewall\":\"%s\",\"action\":\"%s\",\"rule\":\"default\"",
			 name, fw_verdict_name(v));
}

/* Runs firewall fw on p. Returns 0 when p may go on; otherwise p is dropped
 * (counted) or answered: a reject's ICMP error or TCP RST starts from
 * segment seg, where the refusal happened, back toward the sender. */
static int fab_firewall(struct fabric *f, struct fw *fw, enum fw_dir dir, struct pkt *p, int seg,
			natbed_time_t now)
{
	enum fw_verdict verdict;
	struct pkt *ans;
	char extra[TOPO_NAME_MAX + 64];

	if (!fw)
		return 0;
	verdict = fw_check(fw, &p->view, dir, now);
	if (verdict == FW_ACCEPT)
		return 0;
	ans = verdict == FW_REJECT ? pkt_get(f->pool) : NULL;
	if (ans)
		ans->len = fw_reject_build(&p->view, ans->data, PKT_MAX_FRAME);
	ans = fab_answer(f, p, ans, seg, 0, 0x72656a656374ull /* "reject" */);
	fab_fw_note(f, fw, verdict, extra, sizeof(extra));
	fab_drop_why(f, p, DROP_FIREWALL,
		     fw_last_rule(fw) >= 0 ? "firewall_rule" : "firewall_default", extra);
	if (ans)
		fab_on_segment(ans, now);
	return -1;
}

/* Runs gate g on p. Returns 0 when p may go on; otherwise the gate took it
 * (an auth request, answered later) or refused it, counted and logged
 * with the gate's reason. */
static int fab_gate(struct fabric *f, struct gate *g, enum gate_dir dir, struct pkt *p,
		    natbed_time_t now)
{
	char why[48], extra[2 * TOPO_NAME_MAX + 32];

	if (!g)
		return 0;
	switch (gate_check(g, &p->view, dir, now)) {
	case GATE_PASS:
		return 0;
	case GATE_TAKEN:
		pkt_put(f->pool, p);
		return -1;
	case GATE_REFUSED:
	case GATE_DROP:
		break;
	}
	snprintf(why, sizeof(why), "gate_%s", gate_last_why(g));
	snprintf(extra, sizeof(extra), "\"gate\":\"%s\",\"host\":\"%s\"", gate_name(g),
		 gate_last_host(g));
	fab_drop_why(f, p, DROP_GATE, why, extra);
	return -1;
}

/* A packet leaving NAT n's inside, after the NAT's firewall: translate,
 * then either turn it back in (hairpinning, RFC 4787 REQ-9: it arrives with
 * the external source) or send it up the NAT's uplink. FAB_HELD when the
 * NAT wants it held. */
static int fab_nat_out_xlate(struct fabric *f, int n, struct pkt *p, natbed_time_t now)
{
	struct nat *nat = f->eng.nats[n];
	struct ip_view *v = &p->view;
	enum nat_verdict r;
	bool first;

	if (v->ip->ttl <= 1) { /* expired before it is translated: no mapping */
		fab_ttl_expired(f, p, f->t->nats[n].gateway.s_addr, route_nat_inside(n), 0,
				f->t->nats[n].name, now);
		return 0;
	}
	r = nat_outbound(nat, v, now);
	if (r == NAT_HOLD)
		return FAB_HELD;
	if (r != NAT_PASS) {
		fab_nat_drop(f, n, p, nat_verdict_name(r));
		return 0;
	}
	fab_ttl_dec(p);
	if (nat_is_public(nat, v->ip->dst)) {
		/* RFC 4787 REQ-9: turned back in only when it hairpins */
		r = nat_config(nat)->b.hairpin ? nat_inbound(nat, v, now) : NAT_PASS;
		if (!nat_config(nat)->b.hairpin || r != NAT_PASS) {
			fab_nat_drop(f, n, p, r == NAT_PASS ? "no_hairpin" : nat_verdict_name(r));
			return 0;
		}
		nat_count_hairpin(nat);
		fab_on_segment(p, now);
		return 0;
	}
	first = nat_frag_first(v);
	fab_nat_capture(f, n, p, now);
	p->seg = route_nat_outside(f->route, n);
	p->flags &= ~PKT_F_CORE;
	linkset_cross(f->links, linkset_nat(f->links, n), LINKSET_UP, p, fab_on_segment, now);
	if (first) /* the rest of its datagram, behind it */
		fab_frags_release(f, n, now);
	return 0;
}

static void fab_nat_out(struct fabric *f, int n, struct pkt *p, natbed_time_t now)
{
	/* a NAT's gate and firewall see inside addresses: before translation
	 * out; the gate first, so that auth requests never meet the rules */
	if (fab_gate(f, f->eng.nat_gate[n], GATE_OUT, p, now) < 0 ||
	    fab_firewall(f, f->eng.nat_fw[n], FW_DIR_OUT, p, route_nat_inside(n), now) < 0)
		return;
	if (fab_nat_out_xlate(f, n, p, now) == FAB_HELD)
		fab_frag_new(f, n, true, p, now);
}

/* --- fragments ahead of their first (RFC 4787 REQ-14) ---------------------- */

/* A held fragment whose first never came. */
static void fab_frag_expired(void *ctx, struct pkt *p, int n)
{
	struct fabric *f = ctx;

	nat_count_frag_timeout(f->eng.nats[n]);
	fab_nat_drop(f, n, p, nat_verdict_name(NAT_DROP_FRAG_TIMEOUT));
}

/* Holds p at NAT n until expires (its first hold's time: a fragment
 * offered again keeps it). */
static void fab_frag_hold(struct fabric *f, int n, bool out, struct pkt *p, natbed_time_t expires)
{
	struct pkt *old;

	p->hop = n;
	old = fraghold_put(f->frags, p, n, out, expires);
	if (old) /* full: the oldest gives way, as if its time ran out */
		fab_frag_expired(f, old, old->hop);
}

/* A fragment NAT n answered NAT_HOLD for, the first time. */
static void fab_frag_new(struct fabric *f, int n, bool out, struct pkt *p, natbed_time_t now)
{
	nat_count_frag_held(f->eng.nats[n]);
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
			fab_ttl_expired(f, p, f->core_addr, ROUTE_INTERNET, PKT_F_CORE, "internet",
					now);
			return;
		}
		linkset_cross(f->links, linkset_core(f->links), linkset_core_dir(fab_ip(p)), p,
			      fab_on_segment, now);
		return;
	}
	nx = route_lookup(f->route, p->seg, fab_ip(p)->dst, fab_nat_claims, f);
	switch (nx.kind) {
	case ROUTE_HOST:
		p->host = nx.index;
		if (fab_firewall(f, f->eng.host_fw[nx.index], FW_DIR_IN, p, p->seg, now) < 0 ||
		    fab_gate(f, f->eng.host_gate[nx.index], GATE_IN, p, now) < 0)
			return;
		linkset_cross(f->links, linkset_host(f->links, nx.index), LINKSET_DOWN, p, fab_tx,
			      now);
		return;
	case ROUTE_NAT_DOWN:
		p->hop = nx.index;
		linkset_cross(f->links, linkset_nat(f->links, nx.index), LINKSET_DOWN, p,
			      fab_nat_in, now);
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

static bool fab_is_host_addr(const struct fabric *f, int h, uint32_t ip)
{
	return route_host_at(f->route, route_host_segment(f->route, h), ip) == h;
}

/* ARP: the address the emulator plays on port h. */
static uint32_t fab_arp_addr(void *ctx, int h)
{
	return fab_gateway(ctx, h);
}

/* May a frame on port h teach us where ip lives? A host port holds its host
 * only; a segment port (standalone) a whole network. */
static bool fab_may_learn(void *ctx, int h, uint32_t ip)
{
	const struct fabric *f = ctx;

	return f->segment_port[h] ? ip != 0 : fab_is_host_addr(f, h, ip);
}

/* Does the emulator answer ARP for ip on port h? On a host port it is every
 * address but the host's own (proxy ARP); on a segment port only the
 * address it plays there. */
static bool fab_answers_arp(void *ctx, int h, uint32_t spa, uint32_t tpa)
{
	const struct fabric *f = ctx;

	if (tpa == spa)
		return false; /* gratuitous or a DAD probe */
	return f->segment_port[h] ? tpa == fab_gateway(f, h) : !fab_is_host_addr(f, h, tpa);
}

static void fab_arp_send(void *ctx, struct port *port, struct pkt *p)
{
	fab_enqueue(ctx, port, p);
}

static void fab_arp_drop(void *ctx, struct pkt *p, enum drop_reason r)
{
	fab_drop(ctx, p, r);
}

static const struct neigh_ops fab_neigh_ops = {
    .addr = fab_arp_addr,
    .may_learn = fab_may_learn,
    .answers = fab_answers_arp,
    .send = fab_arp_send,
    .drop = fab_arp_drop,
};

/* The gateway the emulator plays answers ping, as a router would (RFC 1122
 * §3.2.2.6): the reply goes back down the host's link. Returns 1 if p was
 * such a request and has been answered. */
static int fab_gateway_echo(struct fabric *f, int h, struct pkt *p, struct ip_view *v,
			    natbed_time_t now)
{
	if (!icmpgen_echo_reply(v, fab_gateway(f, h)))
		return 0;
	p->host = h;
	linkset_cross(f->links, linkset_host(f->links, h), LINKSET_DOWN, p, fab_tx, now);
	return 1;
}

/* A NAT with `pcp: true` answers PCP and NAT-PMP on its inside gateway,
 * UDP port 5351 (pcp.c), as a home router does; the answer goes back down
 * the host's link in the request's own buffer. Returns 1 if p was such a
 * request (answered, or counted and dropped when it gets no answer). */
static int fab_gateway_pcp(struct fabric *f, int h, struct pkt *p, struct ip_view *v,
			   natbed_time_t now)
{
	int k = f->t->hosts[h].nat;
	struct udp_hdr *u = (struct udp_hdr *)v->l4;
	uint8_t ans[PCP_MSG_MAX];
	uint16_t port;
	uint32_t a;
	size_t n;

	if (k < 0 || !nat_config(f->eng.nats[k])->b.pcp || v->ip->dst != fab_gateway(f, h) ||
	    v->ip->proto != IPPROTO_UDP_ || !v->l4 || v->l4_len < UDP_HLEN ||
	    u->dport != htons(PCP_PORT))
		return 0;
	n = pcp_answer(f->eng.nats[k], &f->eng.pcp[k], v->l4 + UDP_HLEN, v->l4_len - UDP_HLEN,
		       v->ip->src, now, ans, sizeof(ans));
	if (n == 0 || ETH_HLEN_ + v->hlen + UDP_HLEN + n > PKT_MAX_FRAME) {
		fab_nat_drop(f, k, p, "pcp_ignored");
		return 1;
	}
	a = v->ip->src;
	v->ip->src = v->ip->dst;
	v->ip->dst = a;
	v->ip->ttl = ICMPGEN_TTL;
	v->ip->frag = 0;
	port = u->sport;
	u->sport = u->dport;
	u->dport = port;
	memcpy(v->l4 + UDP_HLEN, ans, n);
	v->l4_len = UDP_HLEN + n;
	v->ip_len = v->hlen + v->l4_len;
	u->len = htons((uint16_t)v->l4_len);
	v->ip->tot_len = htons((uint16_t)v->ip_len);
	p->len = ETH_HLEN_ + v->ip_len;
	ip_csum_set(v->ip, v->hlen);
	l4_csum_set(v);
	p->host = h;
	linkset_cross(f->links, linkset_host(f->links, h), LINKSET_DOWN, p, fab_tx, now);
	return 1;
}

/* Issue 5: decisions are keyed by (flow, packet number in the flow), so
 * the same packets get the same fate however flows interleave. The flow is
 * the 5-tuple as the host sent it. */
static void fab_flow_number(struct fabric *f, struct pkt *p)
{
	struct flow_tuple k;

	flow_tuple_of(&p->view, &k);
	p->flow_key = flow_tuple_hash(&k);
	p->seq = flowtab_next_hashed(f->flows, &k, p->flow_key);
}

/* An auth request to a gate in front of host h that listens on the
 * gateway's address: the gate's to answer (docs/gate.md). */
static bool fab_for_gate(const struct fabric *f, int h, const struct ip_view *v)
{
	const struct udp_hdr *u = (const struct udp_hdr *)v->l4;
	int k = f->t->hosts[h].nat;
	const struct gate *g[2] = {f->eng.host_gate[h], k >= 0 ? f->eng.nat_gate[k] : NULL};

	if (v->ip->proto != IPPROTO_UDP_ || !v->l4 || v->l4_len < UDP_HLEN)
		return false;
	for (int i = 0; i < 2; i++)
		if (g[i] && gate_address(g[i]) == v->ip->dst && htons(gate_port(g[i])) == u->dport)
			return true;
	return false;
}

/* Anything else to the gateway's own address: the router offers no other
 * service, and its inside address is no destination on the internet, so
 * the packet is never NAT'd out. A UDP datagram is answered with port
 * unreachable (RFC 1122 §4.1.3.1, as a Linux router with nothing
 * listening does: e.g. an agent asking PCP of a NAT without `pcp`), the
 * rest only dropped. Returns 1 if p was for the gateway. */
static int fab_gateway_other(struct fabric *f, int h, struct pkt *p, struct ip_view *v,
			     natbed_time_t now)
{
	struct pkt *ans = NULL;

	/* a segment port (standalone) also carries what comes back to the
	 * address it plays there: the NAT's public one */
	if (f->segment_port[h] || v->ip->dst != fab_gateway(f, h) || fab_for_gate(f, h, v))
		return 0;
	fab_flow_number(f, p); /* the answer's link decisions follow p's */
	if (v->ip->proto == IPPROTO_UDP_ && (ans = pkt_get(f->pool)) != NULL)
		ans->len = icmpgen_error(v, ICMP_UNREACH, ICMP_UNREACH_PORT, v->ip->dst, ans->data,
					 PKT_MAX_FRAME);
	ans = fab_answer(f, p, ans, -1, 0, 0x67617465ull /* "gate" */);
	fab_drop_why(f, p, DROP_GATEWAY, NULL, NULL);
	if (ans) {
		ans->host = h;
		linkset_cross(f->links, linkset_host(f->links, h), LINKSET_DOWN, ans, fab_tx, now);
	}
	return 1;
}

static void fab_ip_in(struct fabric *f, struct port *port, struct pkt *p, natbed_time_t now)
{
	int h = port->index;

	if (!p->view.ip) {
		fab_drop(f, p, DROP_MALFORMED);
		return;
	}
	p->len = ETH_HLEN_ + p->view.ip_len; /* strip Ethernet padding */
	if (fab_gateway_echo(f, h, p, &p->view, now) || fab_gateway_pcp(f, h, p, &p->view, now) ||
	    fab_gateway_other(f, h, p, &p->view, now))
		return;
	p->seg = route_host_segment(f->route, h);
	p->rx_ns = now;
	fab_flow_number(f, p);
	if (fab_gate(f, f->eng.host_gate[h], GATE_OUT, p, now) < 0 ||
	    fab_firewall(f, f->eng.host_fw[h], FW_DIR_OUT, p, p->seg, now) < 0)
		return;
	linkset_cross(f->links, linkset_host(f->links, h), LINKSET_UP, p, fab_on_segment, now);
}

/* The one parse of an IPv4 frame: p->view stays NULL when it is not one
 * or does not check. DESIGN, known pitfalls: a host with tx checksum
 * offload on hands over UDP/TCP with an unfinished checksum; forwarded as
 * is, the receiving kernel drops it. Finish it before anything sees the
 * frame, the capture included, so Wireshark shows what the receiver gets. */
static void fab_parse(struct pkt *p)
{
	const struct eth_hdr *eth = (const struct eth_hdr *)p->data;

	if (p->len >= ETH_HLEN_ && ntohs(eth->type) == ETHERTYPE_IPV4 &&
	    ip_view_parse(p->data, p->len, &p->view) == 0 && (p->flags & PKT_F_CSUM_PARTIAL))
		l4_csum_set(&p->view);
	p->flags &= ~PKT_F_CSUM_PARTIAL;
}

static void fab_ingress(struct fabric *f, struct port *port, struct pkt *p, natbed_time_t now)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct eth_hdr *eth = (struct eth_hdr *)p->data;
	char extra[32];

	fab_parse(p);
	fab_capture(f, (size_t)port->index, f->pcap[port->index], p, now);
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
		neigh_input(f->neigh, port, p);
		return;
	case ETHERTYPE_IPV4:
		fab_ip_in(f, port, p, now);
		return;
	}
	snprintf(extra, sizeof(extra), "\"ethertype\":\"0x%04x\"", ntohs(eth->type));
	fab_drop_why(f, p, DROP_UNSUPPORTED, NULL, extra);
}

static void fab_rx(void *ctx, struct port *port, struct pkt *p, natbed_time_t now)
{
	fab_ingress(ctx, port, p, now);
}

/* A frame that left port, captured as it left. */
static void fab_sent(void *ctx, struct port *port, const struct pkt *p, natbed_time_t now)
{
	struct fabric *f = ctx;

	fab_capture(f, (size_t)port->index, f->pcap[port->index], p, now);
}

static void fab_tx_failed(void *ctx, struct port *port, struct pkt *p)
{
	fab_drop(ctx, p, DROP_TX_ERROR);
}

static void fab_flush(void *ctx)
{
	txbatch_flush(((struct fabric *)ctx)->tx);
}

/* --- life cycle ---------------------------------------------------------- */

/* Every host's port at once (see port_open_all). */
static int fab_open_ports(struct fabric *f, const struct port_backend *be, char *err, size_t errlen)
{
	size_t i, bad = 0;
	int rc = 0;

	for (i = 0; i < f->n_ports && rc == 0; i++)
		if ((rc = port_init(&f->ports[i], f->t->hosts[i].name, be)) < 0)
			bad = i;
	if (rc == 0)
		rc = port_open_all(f->ports, f->n_ports, &bad);
	if (rc < 0)
		snprintf(err, errlen, "port %s: open: %s", f->t->hosts[bad].name, strerror(-rc));
	return rc < 0 ? -1 : 0;
}

static int fab_open_port(struct fabric *f, size_t i, const char *pcap_dir, char *err, size_t errlen)
{
	struct port *port = &f->ports[i];
	const char *name = f->t->hosts[i].name;
	char path[512];

	port->index = (int)i;
	if (pcap_dir) {
		snprintf(path, sizeof(path), "%s/%s.pcap", pcap_dir, name);
		f->pcap[i] = pcapw_open(path, err, errlen);
		if (!f->pcap[i])
			return -1;
	}
	return 0;
}

/* Hosts' access links, NAT uplinks, then the internet core. */
static int fab_open_links(struct fabric *f, char *err, size_t errlen)
{
	struct linkset_cfg lc = {.topo = f->t,
				 .sched = f->s,
				 .pool = f->pool,
				 .ev = f->ev,
				 .drop = fab_link_drop,
				 .ctx = f};

	f->flows = flowtab_new(FLOWTAB_MAX);
	if (!f->flows) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f->links = linkset_new(&lc, err, errlen);
	return f->links ? 0 : -1;
}

/* A gate's answer, from its address to the host that asked: on a NAT's
 * inside segment, or down the host's link; numbered in a flow of its own,
 * so its link decisions repeat with the seed. */
/* A datagram the emulator itself sends (a gate's answer, a gateway's
 * announcement; addresses and ports in network order), framed and numbered in a flow of its own so
 * its link decisions repeat with the seed; NULL when no buffer is free. */
static struct pkt *fab_own_udp(struct fabric *f, uint32_t src, uint16_t sport, uint32_t dst,
			       uint16_t dport, uint8_t ttl, const uint8_t *buf, size_t len,
			       int in_port, natbed_time_t now)
{
	struct pkt *p = pkt_get(f->pool);

	if (!p)
		return NULL;
	p->len = udp_frame_build(p->data, PKT_MAX_FRAME, src, sport, dst, dport, ttl, buf, len);
	if (!p->len || ip_view_parse(p->data, p->len, &p->view) < 0) {
		pkt_put(f->pool, p);
		return NULL;
	}
	p->ctx = f;
	p->in_port = in_port;
	p->rx_ns = now;
	fab_flow_number(f, p);
	return p;
}

static void fab_gate_reply(void *ctx, const struct gate_reply *r, natbed_time_t now)
{
	struct fabric *f = ctx;
	struct pkt *p = fab_own_udp(f, r->src, r->sport, r->dst, r->dport, ICMPGEN_TTL, r->buf,
				    r->len, r->host >= 0 ? r->host : r->gate_host, now);

	if (!p)
		return;
	if (r->gate_nat >= 0) {
		p->seg = route_nat_inside(r->gate_nat);
		fab_on_segment(p, now);
		return;
	}
	p->host = r->gate_host;
	linkset_cross(f->links, linkset_host(f->links, r->gate_host), LINKSET_DOWN, p, fab_tx, now);
}

/* One round of NAT a->nat's announcements (pcp.h): NAT-PMP's and PCP's,
 * to 224.0.0.1:5350 from its gateway, down the link of every host on its
 * inside segment (TTL 1: link-local, RFC 1112). Then the next round: 250
 * ms later, the interval doubling, PCP_ANNOUNCE_SENDS rounds in all. */
static void fab_announce_round(void *arg, natbed_time_t now)
{
	struct fab_announce *a = arg;
	struct fabric *f = a->f;
	const struct topo_nat *tn = &f->t->nats[a->nat];
	uint8_t msg[PCP_ANNOUNCE_MAX];
	struct in_addr group;
	struct pkt *p;
	size_t h, len;
	int pmp;

	a->ev = 0;
	inet_pton(AF_INET, PCP_ANNOUNCE_GROUP, &group);
	for (h = 0; h < f->t->n_hosts; h++) {
		if (f->t->hosts[h].nat != a->nat)
			continue;
		for (pmp = 1; pmp >= 0; pmp--) {
			len = pcp_announcement(f->eng.nats[a->nat], pmp, tn->publics[0].s_addr, now,
					       msg);
			p = fab_own_udp(f, tn->gateway.s_addr, htons(PCP_PORT), group.s_addr,
					htons(PCP_ANNOUNCE_PORT), 1, msg, len, (int)h, now);
			if (!p)
				continue;
			p->host = (int)h;
			linkset_cross(f->links, linkset_host(f->links, (int)h), LINKSET_DOWN, p,
				      fab_tx, now);
		}
	}
	if (++a->sent < PCP_ANNOUNCE_SENDS)
		a->ev = sched_after(f->s, (natbed_time_t)250 * NATBED_NS_PER_MS << (a->sent - 1),
				    fab_announce_round, a);
}

void fabric_nat_flushed(struct fabric *f, const char *name)
{
	int k = topo_nat_find(f->t, name);
	struct fab_announce *a;

	if (k < 0 || !nat_config(f->eng.nats[k])->b.pcp)
		return;
	a = &f->announce[k];
	sched_cancel(f->s, a->ev);
	*a = (struct fab_announce){.f = f, .nat = k};
	a->ev = sched_at(f->s, sched_now(f->s), fab_announce_round, a);
}

/* A NAT's events (RFC 6888 port blocks) and a gate's go to the run's
 * event log. */
static void fab_event(void *ctx, natbed_time_t now, const char *event, const char *fields)
{
	evlog_write(((struct fabric *)ctx)->ev, now, event, "%s", fields);
}

/* The engines, and each NAT's outside capture where asked. */
static int fab_open_engines(struct fabric *f, const char *pcap_dir, const bool *capture, char *err,
			    size_t errlen)
{
	struct engines_cfg ec = {.topo = f->t,
				 .sched = f->s,
				 .gate_reply = fab_gate_reply,
				 .event = fab_event,
				 .ctx = f};
	size_t k, n = f->t->n_nats;
	char path[512];

	if (engines_open(&f->eng, &ec, err, errlen) < 0)
		return -1;
	f->nat_pcap = calloc(n ? n : 1, sizeof(*f->nat_pcap));
	f->announce = calloc(n ? n : 1, sizeof(*f->announce));
	if (!f->nat_pcap || !f->announce) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (k = 0; pcap_dir && k < n; k++) {
		if (capture && !capture[k])
			continue;
		snprintf(path, sizeof(path), "%s/%s-wan.pcap", pcap_dir, f->t->nats[k].name);
		f->nat_pcap[k] = pcapw_open(path, err, errlen);
		if (!f->nat_pcap[k])
			return -1;
	}
	return 0;
}

/* ARP, batching out, polling in: last, once every step is ready for a frame. */
static int fab_open_io(struct fabric *f, const struct fabric_cfg *cfg, char *err, size_t errlen)
{
	struct txbatch_cfg tc = {.base = f->base,
				 .sched = f->s,
				 .pool = f->pool,
				 .ports = f->ports,
				 .n_ports = f->n_ports,
				 .sent = fab_sent,
				 .failed = fab_tx_failed,
				 .ctx = f};
	struct rxpoll_cfg rc = {.base = f->base,
				.sched = f->s,
				.pool = f->pool,
				.ports = f->ports,
				.n_ports = f->n_ports,
				.spin_ns = cfg->spin_ns,
				.rx = fab_rx,
				.flush = fab_flush,
				.ctx = f};

	struct neigh_cfg nc = {.ports = f->ports,
			       .n_ports = f->n_ports,
			       .sched = f->s,
			       .pool = f->pool,
			       .ops = &fab_neigh_ops,
			       .ctx = f};

	f->neigh = neigh_new(&nc);
	f->tx = txbatch_new(&tc);
	if (!f->neigh || !f->tx) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f->rx = rxpoll_new(&rc, err, errlen);
	return f->rx ? 0 : -1;
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
	f->pcap = calloc(n ? n : 1, sizeof(*f->pcap));
	f->segment_port = calloc(n ? n : 1, sizeof(*f->segment_port));
	f->frags = fraghold_new();
	f->live = livecap_new(cfg->base, n + cfg->topo->n_nats, 0);
	if (!f->pool || !f->route || !f->ports || !f->pcap || !f->segment_port || !f->frags ||
	    !f->live)
		goto nomem;
	fraghold_on_expiry(f->frags, f->s, fab_frag_expired, f);
	inet_pton(AF_INET, TOPO_PUBLIC_GATEWAY, &f->core_addr);
	if (cfg->standalone) {
		for (i = 0; i < n; i++) {
			f->segment_port[i] = true;
			route_set_catch_all(f->route, (int)i);
		}
		f->next_hop = cfg->next_hop;
	}
	for (i = 0; i < n; i++)
		f->ports[i].fd = -1;
	if (fab_open_ports(f, be, err, errlen) < 0)
		goto fail;
	for (i = 0; i < n; i++)
		if (fab_open_port(f, i, cfg->pcap_host && !cfg->pcap_host[i] ? NULL : cfg->pcap_dir,
				  err, errlen) < 0)
			goto fail;
	f->wall_offset = clock_wall_ns() - sched_now(f->s);
	if (cfg->pcap_dir) {
		char path[512];

		snprintf(path, sizeof(path), "%s/events.jsonl", cfg->pcap_dir);
		f->ev = evlog_open(path, err, errlen);
		if (!f->ev)
			goto fail;
		f->drops =
		    droplog_new(&(struct droplog_cfg){.ev = f->ev, .start_ns = sched_now(f->s)});
		if (!f->drops)
			goto nomem;
	}
	if (fab_open_engines(f, cfg->pcap_dir, cfg->pcap_nat, err, errlen) < 0 ||
	    fab_open_links(f, err, errlen) < 0)
		goto fail;
	if (fab_open_io(f, cfg, err, errlen) < 0)
		goto fail;
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
	rxpoll_free(f->rx);
	txbatch_free(f->tx); /* sends what is queued, captured */
	livecap_free(f->live);
	for (i = 0; f->ports && i < f->n_ports; i++) {
		if (f->pcap)
			pcapw_close(f->pcap[i]);
	}
	for (i = 0; f->nat_pcap && i < f->t->n_nats; i++)
		pcapw_close(f->nat_pcap[i]);
	free(f->nat_pcap);
	for (i = 0; f->announce && i < f->t->n_nats; i++)
		sched_cancel(f->s, f->announce[i].ev);
	free(f->announce);
	engines_close(&f->eng);
	linkset_free(f->links);
	flowtab_free(f->flows);
	droplog_free(f->drops); /* what it left out, before the log closes */
	evlog_close(f->ev);
	free(f->segment_port);
	neigh_free(f->neigh);
	fraghold_free(f->frags); /* held packets go with the pool */
	free(f->pcap);
	/* Every capture and the event log are complete: now the slow part,
	 * all ports at once. */
	if (f->ports)
		port_close_all(f->ports, f->n_ports);
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

void fabric_flow_stats(const struct fabric *f, struct flowtab_stats *st)
{
	flowtab_get_stats(f->flows, st);
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
	if (f->drops)
		droplog_flush(f->drops, sched_now(f->s), false);
	evlog_flush(f->ev);
}

int fabric_link(struct fabric *f, const char *name, struct link **up, struct link **down)
{
	return linkset_find(f->links, name, up, down);
}

void fabric_log(struct fabric *f, const char *event, const char *fields)
{
	evlog_write(f->ev, sched_now(f->s), event, "%s", fields);
	evlog_flush(f->ev);
}

const struct pcp_counters *fabric_pcp(struct fabric *f, const char *name)
{
	return engines_pcp(&f->eng, name);
}

natbed_time_t fabric_capture_ns(const struct fabric *f, natbed_time_t now)
{
	return fab_wall(f, now);
}

void fabric_parts(struct fabric *f, struct emu_parts *out)
{
	*out = (struct emu_parts){&f->eng, f->links, f->flows, pkt_pool_in_use(f->pool)};
}

struct nat *fabric_nat(struct fabric *f, const char *name)
{
	return engines_nat(&f->eng, name);
}

struct fw *fabric_firewall(struct fabric *f, const char *name)
{
	return engines_firewall(&f->eng, name);
}

struct gate *fabric_gate(struct fabric *f, const char *name)
{
	return engines_gate(&f->eng, name);
}

struct sched *fabric_sched(struct fabric *f)
{
	return f->s;
}

struct livecap *fabric_livecap(struct fabric *f)
{
	return f->live;
}

int fabric_view_find(const struct fabric *f, const char *name, char *err, size_t errlen)
{
	int h, n;

	if (capsel_find(f->t, name, &h, &n, err, errlen) < 0)
		return -1;
	return h >= 0 ? h : (int)f->n_ports + n;
}

const char *fabric_view_name(const struct fabric *f, size_t v, char *buf, size_t len)
{
	if (v < f->n_ports)
		str_copy(buf, len, f->t->hosts[v].name);
	else if (v - f->n_ports < f->t->n_nats)
		snprintf(buf, len, "%s-wan", f->t->nats[v - f->n_ports].name);
	else
		snprintf(buf, len, "?");
	return buf;
}
