#include "methnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nat.h"
#include "natbed/sched.h"
#include "natbed/stun.h"
#include "pcp.h"
#include "proto.h"

#define MN_SOCKS      1024
#define MN_PORT_FIRST 40000
#define MN_FRAME      (ETH_HLEN_ + IPV4_MIN_HLEN + UDP_HLEN + DG_MAX)

struct mn_sock {
	bool open;
	uint16_t port; /* network order */
	dg_recv_fn fn;
	void *arg;
};

struct mn_host {
	struct mnet *n;
	const struct topo_host *th;
	int nat; /* index, -1: public */
	natbed_time_t delay;
	struct mn_sock socks[MN_SOCKS];
	uint16_t next_port; /* host order */
	struct dgram dg;
	uint64_t sent;
	uint32_t refuse_addr;
	int refuse_err;
};

struct mn_nat {
	struct nat *nat;
	const struct topo_nat *tn;
	uint32_t net, mask;
	uint32_t gateway; /* its inside gateway: PCP and NAT-PMP when pcp: true */
	struct pcp_counters pcp;
	natbed_time_t delay;
};

enum mn_stage { MN_LEAVE_HOST, MN_CORE, MN_NAT_IN, MN_DELIVER };

struct mn_pkt {
	struct mnet *n;
	struct mn_pkt *prev, *next; /* pending packets, freed with the network */
	enum mn_stage stage;
	int at; /* host (MN_LEAVE_HOST, MN_DELIVER) or NAT (MN_NAT_IN) index */
	size_t len;
	struct ip_view v;
	/* the IPv4 header after Ethernet's 14 bytes lands on 4 */
	_Alignas(4) uint8_t raw[2 + MN_FRAME];
};

struct mnet {
	const struct topo *topo;
	struct clock_virtual vc;
	struct sched *s;
	struct mn_host *hosts;
	struct mn_nat *nats;
	natbed_time_t core;
	mnet_drop_fn drop;
	void *drop_arg;
	struct mn_pkt *pending;
	struct mnet_stats st;
};

static void mn_stage_cb(void *arg, natbed_time_t now);

static struct mn_host *mn_host(struct mnet *n, const char *name)
{
	int i = topo_host_find(n->topo, name);

	return i < 0 ? NULL : &n->hosts[i];
}

/* The host holding addr, or -1. */
static int mn_host_of(const struct mnet *n, uint32_t addr)
{
	size_t i, k;

	for (i = 0; i < n->topo->n_hosts; i++)
		for (k = 0; k < n->topo->hosts[i].n_addrs; k++)
			if (n->topo->hosts[i].addrs[k].s_addr == addr)
				return (int)i;
	return -1;
}

static void mn_pkt_free(struct mn_pkt *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->n->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	free(p);
}

static void mn_pkt_at(struct mn_pkt *p, natbed_time_t when, enum mn_stage stage, int at)
{
	p->stage = stage;
	p->at = at;
	if (!sched_at(p->n->s, when, mn_stage_cb, p))
		mn_pkt_free(p);
}

static void mn_deliver(struct mn_pkt *p, natbed_time_t now)
{
	struct mnet *n = p->n;
	struct mn_host *h = &n->hosts[p->at];
	struct udp_hdr *u = (struct udp_hdr *)p->v.l4;
	struct dg_ep from = {p->v.ip->src, u->sport};
	int i;

	for (i = 0; i < MN_SOCKS; i++) {
		struct mn_sock *so = &h->socks[i];

		if (!so->open || so->port != u->dport)
			continue;
		n->st.delivered++;
		if (so->fn)
			so->fn(so->arg, i, &from, p->v.l4 + UDP_HLEN, p->v.l4_len - UDP_HLEN, now);
		return;
	}
	n->st.no_route++;
}

static void mn_to_host(struct mn_pkt *p, natbed_time_t now, uint32_t addr)
{
	int h = mn_host_of(p->n, addr);

	if (h < 0) {
		p->n->st.no_route++;
		mn_pkt_free(p);
		return;
	}
	mn_pkt_at(p, now + p->n->hosts[h].delay, MN_DELIVER, h);
}

static struct mn_pkt *mn_pkt_new(struct mnet *n, const struct dg_ep *from, const struct dg_ep *to,
				 const void *buf, size_t len);

/* A NAT with pcp: true answers PCP and NAT-PMP on its inside gateway, port
 * 5351, as natbed-emu does (emulator/pcp.c's pcp_answer: the engine
 * grants the mapping); the answer goes back down the host's link. True
 * when p was such a request (answered, or counted and dropped). */
static bool mn_gateway_pcp(struct mn_pkt *p, struct mn_nat *nt, natbed_time_t now)
{
	struct mnet *n = p->n;
	struct udp_hdr *u = (struct udp_hdr *)p->v.l4;
	struct dg_ep gw = {nt->gateway, htons(PCP_PORT)}, to = {p->v.ip->src, u->sport};
	uint8_t ans[PCP_MSG_MAX];
	struct mn_pkt *a;
	size_t len;

	if (!nt->tn->b.pcp || p->v.ip->dst != nt->gateway || u->dport != gw.port)
		return false;
	len = pcp_answer(nt->nat, &nt->pcp, p->v.l4 + UDP_HLEN, p->v.l4_len - UDP_HLEN,
			 p->v.ip->src, now, ans, sizeof(ans));
	if (len && (a = mn_pkt_new(n, &gw, &to, ans, len)))
		mn_pkt_at(a, now + n->hosts[p->at].delay, MN_DELIVER, p->at);
	mn_pkt_free(p);
	return true;
}

static void mn_leave_host(struct mn_pkt *p, natbed_time_t now)
{
	struct mnet *n = p->n;
	struct mn_host *h = &n->hosts[p->at];
	uint32_t dst = p->v.ip->dst;
	struct mn_nat *nt;

	if (h->nat < 0) {
		mn_pkt_at(p, now + n->core, MN_CORE, -1);
		return;
	}
	nt = &n->nats[h->nat];
	if (mn_gateway_pcp(p, nt, now))
		return;
	if ((dst & nt->mask) == nt->net) {
		mn_to_host(p, now, dst); /* the same LAN: no NAT */
		return;
	}
	/* RFC 4787 REQ-9 is off in every preset: no hairpinning */
	if (nat_is_public(nt->nat, dst) || nat_outbound(nt->nat, &p->v, now) != NAT_PASS) {
		n->st.nat_drops++;
		mn_pkt_free(p);
		return;
	}
	mn_pkt_at(p, now + nt->delay + n->core, MN_CORE, -1);
}

static void mn_core(struct mn_pkt *p, natbed_time_t now)
{
	struct mnet *n = p->n;
	uint32_t dst = p->v.ip->dst;
	int h = mn_host_of(n, dst);
	size_t k;

	if (h >= 0 && n->hosts[h].nat < 0) {
		mn_pkt_at(p, now + n->hosts[h].delay, MN_DELIVER, h);
		return;
	}
	for (k = 0; k < n->topo->n_nats; k++)
		if (nat_is_public(n->nats[k].nat, dst)) {
			mn_pkt_at(p, now + n->nats[k].delay, MN_NAT_IN, (int)k);
			return;
		}
	n->st.no_route++; /* a private address, from the internet */
	mn_pkt_free(p);
}

static void mn_stage_cb(void *arg, natbed_time_t now)
{
	struct mn_pkt *p = arg;

	switch (p->stage) {
	case MN_LEAVE_HOST:
		mn_leave_host(p, now);
		return;
	case MN_CORE:
		mn_core(p, now);
		return;
	case MN_NAT_IN:
		if (nat_inbound(p->n->nats[p->at].nat, &p->v, now) != NAT_PASS) {
			p->n->st.nat_drops++;
			mn_pkt_free(p);
			return;
		}
		mn_to_host(p, now, p->v.ip->dst);
		return;
	case MN_DELIVER:
		mn_deliver(p, now);
		mn_pkt_free(p);
		return;
	}
}

/* --- the driver ---------------------------------------------------------- */

static int mn_open(void *io, const struct dg_ep *bind, struct dg_ep *local, dg_recv_fn fn,
		   void *arg)
{
	struct mn_host *h = io;
	uint16_t port = bind && bind->port ? bind->port : 0;
	int i, free_i = -1;

	for (i = 0; i < MN_SOCKS; i++) {
		if (!h->socks[i].open && free_i < 0)
			free_i = i;
		if (h->socks[i].open && port && h->socks[i].port == port)
			return -EADDRINUSE;
	}
	if (free_i < 0)
		return -EMFILE;
	if (!port)
		port = htons(h->next_port++);
	h->socks[free_i] = (struct mn_sock){true, port, fn, arg};
	local->addr = h->th->addrs[0].s_addr;
	local->port = port;
	return free_i;
}

/* An IPv4/UDP frame from -> to carrying buf, on the pending list. */
static struct mn_pkt *mn_pkt_new(struct mnet *n, const struct dg_ep *from, const struct dg_ep *to,
				 const void *buf, size_t len)
{
	struct mn_pkt *p = calloc(1, sizeof(*p));
	uint8_t *f;
	struct ipv4_hdr *ip;
	struct udp_hdr *u;

	if (!p)
		return NULL;
	p->n = n;
	p->next = n->pending;
	if (p->next)
		p->next->prev = p;
	n->pending = p;
	f = p->raw + 2;
	ip = (struct ipv4_hdr *)(f + ETH_HLEN_);
	u = (struct udp_hdr *)(f + ETH_HLEN_ + IPV4_MIN_HLEN);
	((struct eth_hdr *)f)->type = htons(ETHERTYPE_IPV4);
	ip->ver_ihl = 0x45;
	ip->tot_len = htons((uint16_t)(IPV4_MIN_HLEN + UDP_HLEN + len));
	ip->ttl = 64;
	ip->proto = IPPROTO_UDP_;
	ip->src = from->addr;
	ip->dst = to->addr;
	u->sport = from->port;
	u->dport = to->port;
	u->len = htons((uint16_t)(UDP_HLEN + len));
	memcpy(f + ETH_HLEN_ + IPV4_MIN_HLEN + UDP_HLEN, buf, len);
	p->len = ETH_HLEN_ + IPV4_MIN_HLEN + UDP_HLEN + len;
	ip_csum_set(ip, IPV4_MIN_HLEN);
	if (ip_view_parse(f, p->len, &p->v) < 0) {
		mn_pkt_free(p);
		return NULL;
	}
	l4_csum_set(&p->v);
	return p;
}

static int mn_send(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len)
{
	struct mn_host *h = io;
	struct mnet *n = h->n;
	struct dg_ep from;
	struct mn_pkt *p;

	if (sock < 0 || sock >= MN_SOCKS || !h->socks[sock].open)
		return -EBADF;
	if (len > DG_MAX)
		return -EMSGSIZE;
	if (h->refuse_err && to->addr == h->refuse_addr)
		return h->refuse_err;
	from.addr = h->th->addrs[0].s_addr;
	from.port = h->socks[sock].port;
	n->st.sent++;
	h->sent++;
	if (n->drop && n->drop(n->drop_arg, h->th->name, &from, to, buf, len)) {
		n->st.dropped++;
		return 0;
	}
	p = mn_pkt_new(n, &from, to, buf, len);
	if (!p)
		return -ENOMEM;
	mn_pkt_at(p, sched_now(n->s) + h->delay, MN_LEAVE_HOST, (int)(h - n->hosts));
	return 0;
}

static void mn_close(void *io, int sock)
{
	struct mn_host *h = io;

	if (sock >= 0 && sock < MN_SOCKS)
		h->socks[sock].open = false;
}

static int mn_set_recv(void *io, int sock, dg_recv_fn fn, void *arg)
{
	struct mn_host *h = io;

	if (sock < 0 || sock >= MN_SOCKS || !h->socks[sock].open)
		return -EBADF;
	h->socks[sock].fn = fn;
	h->socks[sock].arg = arg;
	return 0;
}

static const struct dgram_ops mn_ops = {mn_open, mn_send, mn_close, mn_set_recv};

/* --- a STUN server ------------------------------------------------------- */

static void mn_stun_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
		       size_t len, natbed_time_t now)
{
	struct mn_host *h = arg;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct stun_builder b;
	struct stun_msg m;
	uint8_t out[128];
	int olen;

	if (stun_msg_parse(buf, len, 0, &m, NULL, 0) != STUN_PARSE_OK ||
	    m.method != STUN_METHOD_BINDING || m.cls != STUN_CLASS_REQUEST)
		return;
	sa.sin_addr.s_addr = from->addr;
	sa.sin_port = from->port;
	stun_msg_build_init(&b, out, sizeof(out), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, m.txid,
			    false);
	stun_msg_build_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, (struct sockaddr *)&sa);
	olen = stun_msg_build_finish(&b);
	if (olen > 0)
		mn_send(h, sock, from, out, (size_t)olen);
}

int mnet_stun_server(struct mnet *n, const char *name, uint16_t port)
{
	struct mn_host *h = mn_host(n, name);
	struct dg_ep bind = {0, port}, local;

	return h && mn_open(h, &bind, &local, mn_stun_rx, h) >= 0 ? 0 : -1;
}

/* --- the network --------------------------------------------------------- */

struct mnet *mnet_new(const struct topo *topo, uint64_t seed)
{
	struct mnet *n = calloc(1, sizeof(*n));
	size_t i;

	if (!n)
		return NULL;
	n->topo = topo;
	n->core = topo->internet.delay_ns;
	n->s = sched_new(clock_virtual_clock(&n->vc), &n->vc);
	n->hosts = calloc(topo->n_hosts, sizeof(*n->hosts));
	n->nats = calloc(topo->n_nats ? topo->n_nats : 1, sizeof(*n->nats));
	if (!n->s || !n->hosts || !n->nats)
		goto fail;
	for (i = 0; i < topo->n_nats; i++) {
		const struct topo_nat *tn = &topo->nats[i];
		struct nat_cfg cfg;

		if (tn->upstream >= 0)
			goto fail; /* one NAT level only */
		nat_cfg_from_topo(&cfg, tn, seed + i);
		n->nats[i].tn = tn;
		n->nats[i].nat = nat_new(&cfg, n->s);
		n->nats[i].net = cfg.inside_net;
		n->nats[i].mask = cfg.inside_mask;
		n->nats[i].gateway = tn->gateway.s_addr;
		n->nats[i].delay = tn->link.delay_ns;
		if (!n->nats[i].nat)
			goto fail;
	}
	for (i = 0; i < topo->n_hosts; i++) {
		struct mn_host *h = &n->hosts[i];

		h->n = n;
		h->th = &topo->hosts[i];
		h->nat = topo->hosts[i].nat;
		h->delay = topo->hosts[i].link.delay_ns;
		h->next_port = MN_PORT_FIRST;
		h->dg = (struct dgram){&mn_ops, h, n->s, seed * 1000003u + i};
	}
	return n;
fail:
	mnet_free(n);
	return NULL;
}

void mnet_free(struct mnet *n)
{
	size_t i;

	if (!n)
		return;
	while (n->pending)
		mn_pkt_free(n->pending);
	for (i = 0; n->nats && i < n->topo->n_nats; i++)
		nat_free(n->nats[i].nat);
	sched_free(n->s);
	free(n->nats);
	free(n->hosts);
	free(n);
}

struct sched *mnet_sched(struct mnet *n)
{
	return n->s;
}

const struct dgram *mnet_dgram(struct mnet *n, const char *name)
{
	struct mn_host *h = mn_host(n, name);

	return h ? &h->dg : NULL;
}

uint32_t mnet_addr(struct mnet *n, const char *name)
{
	struct mn_host *h = mn_host(n, name);

	return h ? h->th->addrs[0].s_addr : 0;
}

static enum ni_map mn_map(enum topo_nat_map m)
{
	return m == TOPO_MAP_EIM ? NI_MAP_EIM : m == TOPO_MAP_ADM ? NI_MAP_ADM : NI_MAP_APDM;
}

static enum ni_filter mn_filter(enum topo_nat_map m)
{
	return m == TOPO_MAP_EIM   ? NI_FILTER_EIF
	       : m == TOPO_MAP_ADM ? NI_FILTER_ADF
				   : NI_FILTER_APDF;
}

void mnet_natinfo(struct mnet *n, const char *name, struct natinfo *ni)
{
	struct mn_host *h = mn_host(n, name);
	const struct topo_nat_behaviour *b;

	memset(ni, 0, sizeof(*ni));
	ni->hairpin = 0;
	if (!h || h->nat < 0) {
		ni->map = NI_MAP_NONE;
		ni->filter = NI_FILTER_NONE;
		ni->ports = NI_PORTS_PRESERVE;
		return;
	}
	b = &n->nats[h->nat].tn->b;
	ni->map = mn_map(b->mapping);
	ni->filter = mn_filter(b->filtering);
	ni->ports = b->ports == TOPO_PORTS_SEQUENTIAL ? NI_PORTS_SEQUENTIAL
		    : b->ports == TOPO_PORTS_RANDOM   ? NI_PORTS_RANDOM
						      : NI_PORTS_PRESERVE;
	ni->stride = b->ports == TOPO_PORTS_SEQUENTIAL ? b->stride : 0;
	ni->hairpin = b->hairpin;
	ni->pcp = b->pcp; /* what an agent's probe at start finds */
}

struct dg_ep mnet_gateway(struct mnet *n, const char *name)
{
	struct mn_host *h = mn_host(n, name);
	struct dg_ep gw = {0, htons(PCP_PORT)};

	if (h && h->nat >= 0)
		gw.addr = n->nats[h->nat].gateway;
	return gw;
}

struct nat *mnet_nat(struct mnet *n, const char *name)
{
	struct mn_host *h = mn_host(n, name);

	return h && h->nat >= 0 ? n->nats[h->nat].nat : NULL;
}

void mnet_set_drop(struct mnet *n, mnet_drop_fn fn, void *arg)
{
	n->drop = fn;
	n->drop_arg = arg;
}

void mnet_refuse(struct mnet *n, const char *name, uint32_t addr, int err)
{
	struct mn_host *h = mn_host(n, name);

	if (h) {
		h->refuse_addr = addr;
		h->refuse_err = err;
	}
}

void mnet_stats(const struct mnet *n, struct mnet_stats *st)
{
	*st = n->st;
}

uint64_t mnet_host_sent(const struct mnet *n, const char *name)
{
	int i = topo_host_find(n->topo, name);

	return i < 0 ? 0 : n->hosts[i].sent;
}

unsigned mnet_host_socks(const struct mnet *n, const char *name)
{
	int i = topo_host_find(n->topo, name);
	unsigned c = 0, k;

	for (k = 0; i >= 0 && k < MN_SOCKS; k++)
		c += n->hosts[i].socks[k].open;
	return c;
}
