/* The walk below is fabric.c's segment walk (fab_on_segment and the NAT
 * steps) without ports, ARP, captures or answers: the same engines in the
 * same order, so a datagram meets here what it meets in natbed-emu. A
 * change to the order there belongs here too. */
#include "vnet.h"

#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "emu_parts.h"
#include "engines.h"
#include "firewall.h"
#include "flowtab.h"
#include "gate.h"
#include "linkset.h"
#include "nat.h"
#include "pcp.h"
#include "natbed/ckpt.h"
#include "natbed/rng.h"
#include "pkt.h"
#include "proto.h"
#include "route.h"
#include "vnet_int.h"
#include "vnet_sock.h"

#define VNET_F_CORE (1u << 8) /* crossed the internet core on this visit */
#define VNET_TTL    64	      /* Linux's default (net.ipv4.ip_default_ttl) */

static const char *const drop_names[VNET_DROP_COUNT] = {
    [VNET_DROP_NO_BUFFER] = "no_buffer",
    [VNET_DROP_SCHED] = "sched",
    [VNET_DROP_LINK_DOWN] = "link_down",
    [VNET_DROP_LINK_QUEUE] = "link_queue",
    [VNET_DROP_LINK_TARGETED] = "link_targeted",
    [VNET_DROP_LINK_LOSS] = "link_loss",
    [VNET_DROP_FIREWALL] = "firewall",
    [VNET_DROP_GATE] = "gate",
    [VNET_DROP_NAT] = "nat",
    [VNET_DROP_NO_HAIRPIN] = "no_hairpin",
    [VNET_DROP_NO_ROUTE] = "no_route",
    [VNET_DROP_TTL] = "ttl_expired",
    [VNET_DROP_CHECKSUM] = "checksum",
    [VNET_DROP_PORT_CLOSED] = "port_closed",
    [VNET_DROP_GATEWAY] = "gateway",
};

const char *vnet_drop_name(enum vnet_drop d)
{
	return (unsigned)d < VNET_DROP_COUNT ? drop_names[d] : "unknown";
}

/* --- packets ------------------------------------------------------------- */

static struct ipv4_hdr *vnet_ip(struct pkt *p)
{
	return p->view.ip;
}

static struct udp_hdr *vnet_udp(struct pkt *p)
{
	return (struct udp_hdr *)p->view.l4;
}

/* The endpoints a packet reads now, for a trace. */
static void vnet_event_of(struct pkt *p, struct vnet_event *ev)
{
	struct udp_hdr *u = vnet_udp(p);

	ev->src.addr = vnet_ip(p)->src;
	ev->src.port = u->sport;
	ev->dst.addr = vnet_ip(p)->dst;
	ev->dst.port = u->dport;
	ev->len = p->view.l4_len - UDP_HLEN;
}

/* The one place a packet is dropped: counted under r, traced as dropped
 * at where. */
static void vnet_drop(struct vnet *v, struct pkt *p, enum vnet_drop r, const char *where)
{
	struct vnet_event ev = {.kind = VNET_EV_DROP, .drop = r, .where = where};

	v->st.drops[r]++;
	if (v->trace) {
		vnet_event_of(p, &ev);
		v->trace(v->trace_ctx, sched_now(v->s), &ev);
	}
	pkt_put(v->pool, p);
}

/* The frame a Linux host sends for a datagram on an unconnected UDP
 * socket (udp_frame_build: DF, TTL 64, both checksums), its view set. The
 * IPv4 header lands 4-byte aligned (PKT_HEADROOM). 0, or -1 when it does
 * not fit. */
static int vnet_frame(struct pkt *p, const struct dg_ep *from, const struct dg_ep *to,
		      const void *buf, size_t len)
{
	p->len = udp_frame_build(p->data, PKT_MAX_FRAME, from->addr, from->port, to->addr, to->port,
				 VNET_TTL, buf, len);
	return p->len && ip_view_parse(p->data, p->len, &p->view) == 0 ? 0 : -1;
}

/* What the receiving stack checks before a socket sees a datagram: the
 * IPv4 header checksum (RFC 791) and, when the sender computed one, the
 * UDP checksum over the pseudo-header (RFC 768). */
static bool vnet_csum_ok(struct pkt *p)
{
	struct ipv4_hdr *ip = vnet_ip(p);
	uint32_t sum;

	if (csum_fold(csum_add(0, ip, p->view.hlen)) != 0)
		return false;
	if (vnet_udp(p)->csum == 0)
		return true;
	sum = csum_add(0, &ip->src, 8);
	sum += IPPROTO_UDP_ + (uint32_t)p->view.l4_len;
	sum = csum_add(sum, p->view.l4, p->view.l4_len);
	return csum_fold(sum) == 0;
}

/* RFC 1812 §5.3.1: a router decrements TTL and discards at zero. */
static int vnet_ttl_dec(struct pkt *p)
{
	struct ipv4_hdr *ip = vnet_ip(p);
	uint16_t old_w, new_w;

	if (ip->ttl <= 1)
		return -1;
	memcpy(&old_w, &ip->ttl, 2);
	ip->ttl--;
	memcpy(&new_w, &ip->ttl, 2);
	ip_csum_update16(&ip->csum, old_w, new_w);
	return 0;
}

/* --- sockets ------------------------------------------------------------------- */

static int vnet_open(void *io, const struct dg_ep *bind, struct dg_ep *local, dg_recv_fn fn,
		     void *arg)
{
	struct vnet_host *hh = io;
	struct vnet *v = hh->v;
	uint32_t addr = bind ? bind->addr : 0;
	uint16_t port = bind ? bind->port : 0;
	uint64_t draw = 0;
	int id;

	if (!port) /* the host's own seeded stream */
		draw = rng_keyed_u64(v->t->seed, hh->port_key, hh->port_draws++);
	id = vsock_bind(v->socks, &hh->sh, addr, port, draw, fn, arg);
	if (id >= 0 && local) {
		const struct vsock *sk = vsock_get(v->socks, id, hh->index);

		local->addr = addr ? addr : hh->addrs[0];
		local->port = sk->port;
	}
	return id;
}

static void vnet_close(void *io, int sock)
{
	struct vnet_host *hh = io;

	if (vsock_get(hh->v->socks, sock, hh->index))
		vsock_close(hh->v->socks, sock);
}

/* --- the walk -------------------------------------------------------------- */

static void vnet_on_segment(void *arg, natbed_time_t now);

/* Runs firewall fw (none: NULL) on p; 0 when p may go on, else p is
 * dropped (a reject answers nothing here). */
static int vnet_firewall_step(struct vnet *v, struct fw *fw, enum fw_dir dir, struct pkt *p,
			      const char *owner, natbed_time_t now)
{
	if (!fw || fw_check(fw, &p->view, dir, now) == FW_ACCEPT)
		return 0;
	vnet_drop(v, p, VNET_DROP_FIREWALL, owner);
	return -1;
}

/* Runs gate g (none: NULL) on p; 0 when p may go on, else p is kept by the
 * gate (an auth request) or dropped. */
static int vnet_gate_step(struct vnet *v, struct gate *g, enum gate_dir dir, struct pkt *p,
			  natbed_time_t now)
{
	enum gate_verdict r;

	if (!g || (r = gate_check(g, &p->view, dir, now)) == GATE_PASS)
		return 0;
	if (r == GATE_TAKEN) {
		pkt_put(v->pool, p);
		return -1;
	}
	vnet_drop(v, p, VNET_DROP_GATE, gate_name(g));
	return -1;
}

static void vnet_link_drop(void *ctx, struct pkt *p, enum drop_reason r, enum link_drop d,
			   const char *name, enum linkset_dir dir)
{
	static const enum vnet_drop by_link[LINK_DROP_COUNT] = {
	    [LINK_PASS] = VNET_DROP_SCHED, /* delivered, but no event could hold it */
	    [LINK_DROP_DOWN] = VNET_DROP_LINK_DOWN,
	    [LINK_DROP_QUEUE] = VNET_DROP_LINK_QUEUE,
	    [LINK_DROP_TARGETED] = VNET_DROP_LINK_TARGETED,
	    [LINK_DROP_LOSS] = VNET_DROP_LINK_LOSS,
	};

	(void)r;
	(void)dir;
	vnet_drop(ctx, p, (unsigned)d < LINK_DROP_COUNT ? by_link[d] : VNET_DROP_LINK_LOSS, name);
}

/* A NAT takes from its outside segment what is addressed to its public
 * address, and nothing else. */
static int vnet_nat_claims(void *ctx, int n, uint32_t dst)
{
	return nat_is_public(((struct vnet *)ctx)->eng.nats[n], dst);
}

/* The datagram reached host p->host's UDP stack: to the socket bound to
 * its address and port, or to any address and its port. */
static void vnet_deliver(struct vnet *v, struct pkt *p, natbed_time_t now)
{
	struct vnet_host *hh = &v->hosts[p->host];
	struct vnet_event ev = {.kind = VNET_EV_DELIVER, .where = v->t->hosts[p->host].name};
	struct udp_hdr *u = vnet_udp(p);
	struct dg_ep from = {vnet_ip(p)->src, u->sport};
	int id = vsock_lookup(v->socks, p->host, vnet_ip(p)->dst, u->dport);
	const struct vsock *sk = vsock_get(v->socks, id, p->host);

	if (!sk || !sk->fn) { /* no socket, or one that takes nothing now */
		hh->st.port_closed++;
		vnet_drop(v, p, VNET_DROP_PORT_CLOSED, ev.where);
		return;
	}
	hh->st.rx++;
	v->st.delivered++;
	if (v->trace) {
		vnet_event_of(p, &ev);
		v->trace(v->trace_ctx, now, &ev);
	}
	sk->fn(sk->arg, id, &from, (const uint8_t *)(u + 1), p->view.l4_len - UDP_HLEN, now);
	pkt_put(v->pool, p);
}

/* Off host p->host's access link. The receiving stack's checksum check
 * runs where some link may corrupt (v->checking): elsewhere every datagram
 * is as its sender built it and the NATs rewrote it (checksums updated as
 * RFC 1624 says, tested in test_nat), so the check cannot fail, and it
 * was two sums over every datagram delivered. */
static void vnet_host_rx(void *arg, natbed_time_t now)
{
	struct pkt *p = arg;
	struct vnet *v = p->ctx;

	if (v->checking && !vnet_csum_ok(p)) {
		vnet_drop(v, p, VNET_DROP_CHECKSUM, v->t->hosts[p->host].name);
		return;
	}
	vnet_deliver(v, p, now);
}

/* Off NAT p->hop's uplink, at its public side: translate in, then its
 * firewall (inside view), then its inside segment. */
static void vnet_nat_in(void *arg, natbed_time_t now)
{
	struct pkt *p = arg;
	struct vnet *v = p->ctx;
	int n = p->hop;
	const char *name = v->t->nats[n].name;

	if (nat_inbound(v->eng.nats[n], &p->view, now) != NAT_PASS) {
		vnet_drop(v, p, VNET_DROP_NAT, name);
		return;
	}
	if (vnet_ip(p)->ttl <= 1) {
		vnet_drop(v, p, VNET_DROP_TTL, name);
		return;
	}
	if (vnet_firewall_step(v, v->eng.nat_fw[n], FW_DIR_IN, p, name, now) < 0 ||
	    vnet_gate_step(v, v->eng.nat_gate[n], GATE_IN, p, now) < 0)
		return;
	vnet_ttl_dec(p);
	p->seg = route_nat_inside(n);
	vnet_on_segment(p, now);
}

/* Leaving NAT n's inside: its firewall (inside view), translate out, then
 * either the hairpin turn back in (RFC 4787 REQ-9: with the external
 * source) or its uplink toward its upstream. */
static void vnet_nat_out(struct vnet *v, int n, struct pkt *p, natbed_time_t now)
{
	struct nat *nat = v->eng.nats[n];
	const char *name = v->t->nats[n].name;

	if (vnet_gate_step(v, v->eng.nat_gate[n], GATE_OUT, p, now) < 0 ||
	    vnet_firewall_step(v, v->eng.nat_fw[n], FW_DIR_OUT, p, name, now) < 0)
		return;
	if (vnet_ip(p)->ttl <= 1) { /* expired before it is translated: no mapping */
		vnet_drop(v, p, VNET_DROP_TTL, name);
		return;
	}
	if (nat_outbound(nat, &p->view, now) != NAT_PASS) {
		vnet_drop(v, p, VNET_DROP_NAT, name);
		return;
	}
	vnet_ttl_dec(p);
	if (nat_is_public(nat, vnet_ip(p)->dst)) {
		/* RFC 4787 REQ-9: turned back in only when it hairpins */
		if (!nat_config(nat)->b.hairpin) {
			vnet_drop(v, p, VNET_DROP_NO_HAIRPIN, name);
			return;
		}
		if (nat_inbound(nat, &p->view, now) != NAT_PASS) {
			vnet_drop(v, p, VNET_DROP_NAT, name);
			return;
		}
		nat_count_hairpin(nat);
		v->st.hairpinned++;
		vnet_on_segment(p, now);
		return;
	}
	p->seg = route_nat_outside(v->route, n);
	p->flags &= ~VNET_F_CORE;
	linkset_cross(v->links, linkset_nat(v->links, n), LINKSET_UP, p, vnet_on_segment, now);
}

/* p is on segment p->seg (route.h): the internet core first, once, then
 * on to a host, down into a NAT, or up out of the segment's NAT. */
static void vnet_on_segment(void *arg, natbed_time_t now)
{
	struct pkt *p = arg;
	struct vnet *v = p->ctx;
	struct route_next nx;

	if (p->seg == ROUTE_INTERNET && !(p->flags & VNET_F_CORE)) {
		/* The internet core is a router: one hop, one link. */
		p->flags |= VNET_F_CORE;
		if (vnet_ttl_dec(p) < 0) {
			vnet_drop(v, p, VNET_DROP_TTL, "internet");
			return;
		}
		linkset_cross(v->links, linkset_core(v->links), linkset_core_dir(vnet_ip(p)), p,
			      vnet_on_segment, now);
		return;
	}
	nx = route_lookup(v->route, p->seg, vnet_ip(p)->dst, vnet_nat_claims, v);
	switch (nx.kind) {
	case ROUTE_HOST:
		p->host = nx.index;
		if (vnet_firewall_step(v, v->eng.host_fw[nx.index], FW_DIR_IN, p,
				       v->t->hosts[nx.index].name, now) < 0 ||
		    vnet_gate_step(v, v->eng.host_gate[nx.index], GATE_IN, p, now) < 0)
			return;
		linkset_cross(v->links, linkset_host(v->links, nx.index), LINKSET_DOWN, p,
			      vnet_host_rx, now);
		return;
	case ROUTE_NAT_DOWN:
		p->hop = nx.index;
		linkset_cross(v->links, linkset_nat(v->links, nx.index), LINKSET_DOWN, p,
			      vnet_nat_in, now);
		return;
	case ROUTE_NAT_UP:
		vnet_nat_out(v, nx.index, p, now);
		return;
	case ROUTE_NONE:
		break;
	}
	vnet_drop(v, p, VNET_DROP_NO_ROUTE, "internet");
}

/* Issue 5: a packet's flow (the 5-tuple as sent) and its number in it.
 * The number is counted only while some link reads it (v->numbering): a
 * network whose links only delay leaves it 0 and spares the flow table,
 * the most memory-bound step of a packet's walk. */
static void vnet_flow_number(struct vnet *v, struct pkt *p)
{
	struct flow_tuple k;

	flow_tuple_of(&p->view, &k);
	p->flow_key = flow_tuple_hash(&k);
	p->seq = v->numbering ? flowtab_next_hashed(v->flows, &k, p->flow_key) : 0;
}

/* Whether gate g (NULL: none) takes its auth requests at ep. */
static bool vnet_gate_at(const struct gate *g, const struct dg_ep *ep)
{
	return g && gate_address(g) == ep->addr && htons(gate_port(g)) == ep->port;
}

/* What natbed-emu's gateway does with a datagram to its own address
 * (fabric.c, fab_ip_in): a NAT with `pcp: true` answers PCP and NAT-PMP
 * on port 5351 (pcp.c's pcp_answer: the engine grants the mapping), the
 * answer going back down the host's link, numbered in a flow of its own;
 * anything else to the gateway goes no further (natbed-emu answers UDP
 * with port unreachable; here it is counted), but for the auth requests
 * of a zero-trust gate there, which the pipeline's gate takes. True when
 * p was for the gateway (p is gone). */
static bool vnet_gateway(struct vnet *v, struct pkt *p, natbed_time_t now)
{
	int h = p->in_port, k = v->t->hosts[h].nat;
	struct udp_hdr *u = vnet_udp(p);
	struct dg_ep gw = {vnet_ip(p)->dst, u->dport}, to = {vnet_ip(p)->src, u->sport};
	uint8_t ans[PCP_MSG_MAX];
	struct pkt *a;
	size_t n;

	if (gw.addr != v->t->hosts[h].gateway.s_addr || vnet_gate_at(v->eng.host_gate[h], &gw) ||
	    (k >= 0 && vnet_gate_at(v->eng.nat_gate[k], &gw)))
		return false;
	if (k >= 0 && nat_config(v->eng.nats[k])->b.pcp && gw.port == htons(PCP_PORT) &&
	    (n = pcp_answer(v->eng.nats[k], &v->eng.pcp[k], (const uint8_t *)(u + 1),
			    p->view.l4_len - UDP_HLEN, to.addr, now, ans, sizeof(ans))) > 0 &&
	    (a = pkt_get(v->pool)) != NULL) {
		if (vnet_frame(a, &gw, &to, ans, n) < 0) {
			pkt_put(v->pool, a);
		} else {
			a->ctx = v;
			a->host = h;
			vnet_flow_number(v, a);
			linkset_cross(v->links, linkset_host(v->links, h), LINKSET_DOWN, a,
				      vnet_host_rx, now);
		}
	}
	vnet_drop(v, p, VNET_DROP_GATEWAY, v->t->hosts[h].name);
	return true;
}

/* A datagram host p->in_port sent, at the time it sent it: to its own
 * address it stays in the host (loopback); otherwise it is numbered in its
 * flow (issue 5: the same packets meet the same fate however flows
 * interleave), passes the host's firewall and goes up its access link. */
static void vnet_egress(void *arg, natbed_time_t now)
{
	struct pkt *p = arg;
	struct vnet *v = p->ctx;
	int h = p->in_port;

	if (route_host_at(v->route, route_host_segment(v->route, h), vnet_ip(p)->dst) == h) {
		p->host = h;
		v->st.local++;
		vnet_deliver(v, p, now);
		return;
	}
	if (vnet_gateway(v, p, now))
		return;
	vnet_flow_number(v, p);
	p->seg = route_host_segment(v->route, h);
	if (vnet_gate_step(v, v->eng.host_gate[h], GATE_OUT, p, now) < 0 ||
	    vnet_firewall_step(v, v->eng.host_fw[h], FW_DIR_OUT, p, v->t->hosts[h].name, now) < 0)
		return;
	linkset_cross(v->links, linkset_host(v->links, h), LINKSET_UP, p, vnet_on_segment, now);
}

static int vnet_send_error(struct vnet_host *hh, int err)
{
	hh->st.tx_errors++;
	return err;
}

static int vnet_send(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len)
{
	struct vnet_host *hh = io;
	struct vnet *v = hh->v;
	const struct vsock *sk = vsock_get(v->socks, sock, hh->index);
	struct dg_ep from;
	struct pkt *p;

	if (!sk)
		return vnet_send_error(hh, -EBADF);
	if (len > DG_MAX)
		return vnet_send_error(hh, -EMSGSIZE);
	if (!to || to->addr == 0 || to->port == 0 || (len && !buf))
		return vnet_send_error(hh, -EINVAL);
	p = pkt_get(v->pool);
	if (!p) {
		v->st.drops[VNET_DROP_NO_BUFFER]++;
		return vnet_send_error(hh, -ENOBUFS);
	}
	from.addr = sk->addr ? sk->addr : hh->addrs[0];
	from.port = sk->port;
	if (vnet_frame(p, &from, to, buf, len) < 0) {
		pkt_put(v->pool, p);
		return vnet_send_error(hh, -EMSGSIZE);
	}
	p->ctx = v;
	p->in_port = hh->index;
	/* never inside the caller's send: a receive callback could run there */
	if (sched_at(v->s, sched_now(v->s), vnet_egress, p) == 0) {
		vnet_drop(v, p, VNET_DROP_SCHED, v->t->hosts[hh->index].name);
		return vnet_send_error(hh, -ENOBUFS);
	}
	hh->st.tx++;
	v->st.sent++;
	return 0;
}

static int vnet_set_recv(void *io, int sock, dg_recv_fn fn, void *arg)
{
	struct vnet_host *hh = io;

	if (!vsock_get(hh->v->socks, sock, hh->index))
		return -EBADF;
	vsock_set_recv(hh->v->socks, sock, fn, arg);
	return 0;
}

static const struct dgram_ops vnet_ops = {vnet_open, vnet_send, vnet_close, vnet_set_recv};

/* --- life cycle ------------------------------------------------------------ */

/* A gate's answer down host p->host's link. */
static void vnet_gate_down(void *arg, natbed_time_t now)
{
	struct pkt *p = arg;
	struct vnet *v = p->ctx;

	linkset_cross(v->links, linkset_host(v->links, p->host), LINKSET_DOWN, p, vnet_host_rx,
		      now);
}

/* A gate's answer, as natbed-emu sends it: onto the NAT's inside segment,
 * or down the host's link, numbered in a flow of its own; it starts from
 * the scheduler, never inside the step that made it. */
static void vnet_gate_reply(void *ctx, const struct gate_reply *r, natbed_time_t now)
{
	struct vnet *v = ctx;
	struct dg_ep from = {r->src, r->sport}, to = {r->dst, r->dport};
	struct pkt *p = pkt_get(v->pool);

	if (!p) {
		v->st.drops[VNET_DROP_NO_BUFFER]++;
		return;
	}
	if (vnet_frame(p, &from, &to, r->buf, r->len) < 0) {
		pkt_put(v->pool, p);
		return;
	}
	p->ctx = v;
	p->in_port = r->host;
	vnet_flow_number(v, p);
	if (r->gate_nat >= 0)
		p->seg = route_nat_inside(r->gate_nat);
	else
		p->host = r->gate_host;
	if (sched_at(v->s, now, r->gate_nat >= 0 ? vnet_on_segment : vnet_gate_down, p) == 0)
		vnet_drop(v, p, VNET_DROP_SCHED, "gate");
}

static int vnet_open_hosts(struct vnet *v)
{
	size_t h, a, n = v->t->n_hosts;

	v->hosts = calloc(n ? n : 1, sizeof(*v->hosts));
	if (!v->hosts)
		return -1;
	for (h = 0; h < n; h++) {
		const struct topo_host *th = &v->t->hosts[h];
		struct vnet_host *hh = &v->hosts[h];

		hh->v = v;
		hh->index = (int)h;
		hh->dg.ops = &vnet_ops;
		hh->dg.io = hh;
		hh->dg.s = v->s;
		hh->dg.seed = rng_keyed_u64(v->t->seed, rng_key(th->name, 0x6467 /* "dg" */), 0);
		hh->port_key = rng_key(th->name, 0x706f7274 /* "port" */);
		for (a = 0; a < th->n_addrs; a++)
			hh->addrs[a] = th->addrs[a].s_addr;
		hh->sh = (struct vsock_host){hh->index, hh->addrs, th->n_addrs};
	}
	return 0;
}

struct vnet *vnet_new(const struct vnet_cfg *cfg, char *err, size_t errlen)
{
	struct linkset_cfg lc = {.topo = cfg->topo, .sched = cfg->sched, .drop = vnet_link_drop};
	struct engines_cfg ec = {
	    .topo = cfg->topo, .sched = cfg->sched, .gate_reply = vnet_gate_reply};
	struct vnet *v;

	if (!cfg->topo || !cfg->sched || cfg->max_sockets > VSOCK_MAX) {
		snprintf(err, errlen, "vnet: a topology, a scheduler and at most %u sockets",
			 VSOCK_MAX);
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		goto nomem;
	v->t = cfg->topo;
	v->s = cfg->sched;
	ec.ctx = v;
	v->pool = pkt_pool_new(cfg->max_packets ? cfg->max_packets : VNET_PACKETS_DEFAULT);
	v->route = route_new(v->t);
	v->flows = flowtab_new(cfg->max_flows);
	v->socks = vsock_table_new(cfg->max_sockets ? cfg->max_sockets : VNET_SOCKETS_DEFAULT);
	if (!v->pool || !v->route || !v->flows || !v->socks || vnet_open_hosts(v) < 0)
		goto nomem;
	if (engines_open(&v->eng, &ec, err, errlen) < 0) {
		vnet_free(v);
		return NULL;
	}
	lc.pool = v->pool;
	lc.ctx = v;
	v->links = linkset_new(&lc, err, errlen);
	if (!v->links) {
		vnet_free(v);
		return NULL;
	}
	v->numbering = linkset_numbers(v->links);
	v->checking = linkset_corrupts(v->links);
	return v;
nomem:
	snprintf(err, errlen, "vnet: out of memory");
	vnet_free(v);
	return NULL;
}

void vnet_free(struct vnet *v)
{
	if (!v)
		return;
	engines_close(&v->eng);
	free(v->hosts);
	vsock_table_free(v->socks);
	linkset_free(v->links);
	flowtab_free(v->flows);
	route_free(v->route);
	pkt_pool_free(v->pool);
	free(v);
}

/* A firewall as fw_new() makes it from cfg: no tracked flows, no counts. */
static int vnet_fw_anew(struct vnet *v, struct fw *fw, const struct topo_fw *cfg)
{
	struct fw *fresh;

	if (!fw)
		return 0;
	fresh = fw_new(cfg, v->s);
	if (!fresh)
		return -1;
	fw_adopt(fw, fresh);
	return 0;
}

int vnet_host_anew(struct vnet *v, int h)
{
	const struct topo_host *th;
	int n;

	if (h < 0 || (size_t)h >= v->t->n_hosts)
		return -1;
	th = &v->t->hosts[h];
	n = th->nat;
	if (vnet_fw_anew(v, v->eng.host_fw[h], &th->fw) < 0)
		return -1;
	if (v->eng.host_gate[h])
		gate_host_renew(v->eng.host_gate[h], h);
	if (n < 0)
		return 0;
	nat_restart(v->eng.nats[n]);
	if (vnet_fw_anew(v, v->eng.nat_fw[n], &v->t->nats[n].fw) < 0)
		return -1;
	if (v->eng.nat_gate[n])
		gate_host_renew(v->eng.nat_gate[n], h);
	return 0;
}

const struct dgram *vnet_dgram(struct vnet *v, int h)
{
	if (h < 0 || (size_t)h >= v->t->n_hosts)
		return NULL;
	return &v->hosts[h].dg;
}

struct nat *vnet_nat(struct vnet *v, const char *name)
{
	return engines_nat(&v->eng, name);
}

struct fw *vnet_firewall(struct vnet *v, const char *name)
{
	return engines_firewall(&v->eng, name);
}

struct gate *vnet_gate(struct vnet *v, const char *name)
{
	return engines_gate(&v->eng, name);
}

int vnet_link(struct vnet *v, const char *name, struct link **up, struct link **down)
{
	v->numbering = true; /* the caller may make it draw (link_set) */
	v->checking = true;  /* or corrupt */
	return linkset_find(v->links, name, up, down);
}

void vnet_parts(struct vnet *v, struct emu_parts *out)
{
	*out = (struct emu_parts){&v->eng, v->links, v->flows, pkt_pool_in_use(v->pool)};
}

const struct pcp_counters *vnet_pcp(struct vnet *v, const char *name)
{
	return engines_pcp(&v->eng, name);
}

void vnet_stats(const struct vnet *v, struct vnet_stats *st)
{
	*st = v->st;
	st->in_flight = pkt_pool_in_use(v->pool);
	st->sockets = vsock_count(v->socks);
}

void vnet_host_stats(const struct vnet *v, int h, struct vnet_host_stats *st)
{
	if (h < 0 || (size_t)h >= v->t->n_hosts) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = v->hosts[h].st;
}

void vnet_trace(struct vnet *v, vnet_trace_fn fn, void *ctx)
{
	v->trace = fn;
	v->trace_ctx = ctx;
}

/* A packet's steps, each an event that holds its packet (vnet_ckpt.c
 * writes and builds it), and the gate's answers and the link's drops,
 * given to the engines and links at creation. */
static const struct ckfn vnet_fns[] = {
    CKFN_ARG(vnet_egress, vnet_pkt_save, vnet_pkt_load),
    CKFN_ARG(vnet_on_segment, vnet_pkt_save, vnet_pkt_load),
    CKFN_ARG(vnet_gate_down, vnet_pkt_save, vnet_pkt_load),
    CKFN_ARG(vnet_host_rx, vnet_pkt_save, vnet_pkt_load),
    CKFN_ARG(vnet_nat_in, vnet_pkt_save, vnet_pkt_load),
    CKFN(vnet_gate_reply),
    CKFN(vnet_link_drop),
};
const struct ckfns vnet_ckfns = CKFNS(vnet, vnet_fns);
