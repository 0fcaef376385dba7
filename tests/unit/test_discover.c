/* Unit tests for agents/discover.c in virtual time: RFC 5780 discovery
 * from behind each NAT preset, an address-dependent mapping NAT and a
 * sequential NAT with a stride of 3 that wraps its port range, with no NAT,
 * and against servers that are mute, lack OTHER-ADDRESS or ignore
 * CHANGE-REQUEST; retransmission after a lost request; the port
 * allocation classifier on its own; the natbed sim checkpoint of a
 * discovery at moments in the middle of it (on tests/support/cknet.c,
 * with its datagrams in flight).
 *
 * The network is this file's: one host (behind the emulator's real NAT
 * engine, emulator/nat.c, or public) and natbed-stund's request logic
 * (stund_handle) on two addresses and two ports, joined by built IPv4/UDP
 * frames that take DELAY_NS a hop on the scheduler. Every verdict is
 * compared with what the NAT's configuration says it plays (expect()).
 * (emulator/vnet.c, a general virtual network, may replace the harness.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cknet.h"
#include "dgstund.h"
#include "discover.h"
#include "nat.h"
#include "natbed/ckpt.h"
#include "natbed/clock.h"
#include "natbed/rng.h"
#include "natbed/sched.h"
#include "natbed/stun.h"
#include "natbed/topo.h"
#include "proto.h"
#include "stund.h"

#define T_HOST	     "192.168.1.10"
#define T_PUBLIC     "203.0.113.1" /* the NAT's outside address */
#define T_OPEN_HOST  "198.51.100.50"
#define T_SRV1	     "198.51.100.10"
#define T_SRV2	     "198.51.100.11"
#define T_PORT1	     3478
#define T_PORT2	     3479
#define DELAY_NS     (5 * NATBED_NS_PER_MS) /* one hop: host-NAT, NAT-server */
#define VN_SOCKS     32
#define VN_FRAME_MAX (ETH_HLEN_ + IPV4_MIN_HLEN + UDP_HLEN + DG_MAX)

/* --- the network -------------------------------------------------------- */

struct vn_sock {
	bool open;
	uint16_t port; /* network order */
	dg_recv_fn fn;
	void *arg;
};

struct vnet {
	struct clock_virtual vc;
	struct sched *s;
	struct nat *nat; /* NULL: the host is public */
	bool hairpin;
	uint32_t host;
	struct stund_config scfg;
	struct stund_counters sc;
	struct vn_sock socks[VN_SOCKS];
	struct rng rng; /* the host's ephemeral ports */
	struct dgram dg;
	/* what the server side does wrong */
	bool mute;	    /* answers nothing */
	bool ignore_change; /* answers CHANGE-REQUEST from where it came */
	int drop_out;	    /* drops the host's next drop_out datagrams */
	uint64_t dropped, nat_drops, delivered;
	uint64_t srv_rx; /* datagrams that reached the server, mute or not */
};

/* A frame in flight; the IP header sits 4-byte aligned after Ethernet's 14
 * bytes. */
struct vpkt {
	struct vnet *vn;
	uint16_t align;
	uint8_t buf[VN_FRAME_MAX];
	size_t len;
	struct ip_view v;
};

_Static_assert(offsetof(struct vpkt, buf) % 4 == 2, "vpkt alignment");

static uint32_t a4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* A UDP datagram src:sport -> dst:dport (network order) with payload. */
static struct vpkt *vpkt_new(struct vnet *vn, uint32_t src, uint16_t sport, uint32_t dst,
			     uint16_t dport, const void *payload, size_t len)
{
	struct vpkt *p = calloc(1, sizeof(*p));
	struct eth_hdr *eth = (struct eth_hdr *)p->buf;
	struct ipv4_hdr *ip = (struct ipv4_hdr *)(p->buf + ETH_HLEN_);
	struct udp_hdr *udp = (struct udp_hdr *)(p->buf + ETH_HLEN_ + IPV4_MIN_HLEN);

	assert_non_null(p);
	assert_true(len <= DG_MAX);
	p->vn = vn;
	eth->type = htons(ETHERTYPE_IPV4);
	ip->ver_ihl = 0x45;
	ip->tot_len = htons((uint16_t)(IPV4_MIN_HLEN + UDP_HLEN + len));
	ip->ttl = 64;
	ip->proto = IPPROTO_UDP_;
	ip->src = src;
	ip->dst = dst;
	udp->sport = sport;
	udp->dport = dport;
	udp->len = htons((uint16_t)(UDP_HLEN + len));
	memcpy(udp + 1, payload, len);
	p->len = ETH_HLEN_ + IPV4_MIN_HLEN + UDP_HLEN + len;
	ip_csum_set(ip, IPV4_MIN_HLEN);
	assert_int_equal(ip_view_parse(p->buf, p->len, &p->v), 0);
	l4_csum_set(&p->v);
	return p;
}

static struct udp_hdr *vpkt_udp(struct vpkt *p)
{
	return (struct udp_hdr *)p->v.l4;
}

static void vn_at_host(void *arg, natbed_time_t now);
static void vn_at_server(void *arg, natbed_time_t now);
static void vn_at_nat_in(void *arg, natbed_time_t now);

static void vn_hop(struct vpkt *p, sched_fn fn)
{
	assert_true(sched_after(p->vn->s, DELAY_NS, fn, p) != 0);
}

/* The host's socket bound to the datagram's destination port gets it. */
static void vn_at_host(void *arg, natbed_time_t now)
{
	struct vpkt *p = arg;
	struct vnet *vn = p->vn;
	struct udp_hdr *u = vpkt_udp(p);
	struct dg_ep from = {p->v.ip->src, u->sport};
	int i;

	for (i = 0; i < VN_SOCKS; i++)
		if (vn->socks[i].open && vn->socks[i].port == u->dport &&
		    p->v.ip->dst == vn->host) {
			vn->delivered++;
			vn->socks[i].fn(vn->socks[i].arg, i, &from, (const uint8_t *)(u + 1),
					p->v.l4_len - UDP_HLEN, now);
			break;
		}
	free(p);
}

/* Inbound at the NAT's outside address: translated in, or dropped. */
static void vn_at_nat_in(void *arg, natbed_time_t now)
{
	struct vpkt *p = arg;

	if (nat_inbound(p->vn->nat, &p->v, now) != NAT_PASS) {
		p->vn->nat_drops++;
		free(p);
		return;
	}
	vn_hop(p, vn_at_host);
}

/* On the internet side: to the server, the NAT's outside or the open host. */
static void vn_route_out(struct vpkt *p)
{
	struct vnet *vn = p->vn;

	if (vn->nat && nat_is_public(vn->nat, p->v.ip->dst))
		vn_hop(p, vn_at_nat_in);
	else if (!vn->nat && p->v.ip->dst == vn->host)
		vn_hop(p, vn_at_host);
	else
		vn_hop(p, vn_at_server);
}

/* natbed-stund's request logic on whichever of its four sockets the
 * datagram reached; the answer leaves from the socket it names. */
static void vn_at_server(void *arg, natbed_time_t now)
{
	struct vpkt *p = arg, *ans;
	struct vnet *vn = p->vn;
	struct udp_hdr *u = vpkt_udp(p);
	struct sockaddr_storage from = {0};
	struct sockaddr_in *fin = (struct sockaddr_in *)&from;
	const struct sockaddr_in *src;
	struct stund_reply r;
	uint8_t out[STUND_MAX_DGRAM];
	int i, in = -1;

	(void)now;
	for (i = 0; i < STUND_SOCKETS; i++) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&vn->scfg.addr[i];

		if ((i == 0 || vn->scfg.has_alternate) && a->sin_addr.s_addr == p->v.ip->dst &&
		    a->sin_port == u->dport)
			in = i;
	}
	vn->srv_rx++;
	fin->sin_family = AF_INET;
	fin->sin_addr.s_addr = p->v.ip->src;
	fin->sin_port = u->sport;
	if (in < 0 || vn->mute ||
	    !stund_handle(&vn->scfg, &vn->sc, in, (const uint8_t *)(u + 1), p->v.l4_len - UDP_HLEN,
			  &from, out, sizeof(out), &r)) {
		free(p);
		return;
	}
	if (vn->ignore_change)
		r.sock = in;
	src = (const struct sockaddr_in *)&vn->scfg.addr[r.sock];
	fin = (struct sockaddr_in *)&r.to;
	ans = vpkt_new(vn, src->sin_addr.s_addr, src->sin_port, fin->sin_addr.s_addr, fin->sin_port,
		       out, r.len);
	free(p);
	vn_route_out(ans);
}

/* Leaving the host's LAN: through the NAT (and back in when it hairpins,
 * RFC 4787 REQ-9, as emulator/fabric.c turns it), or straight out. */
static void vn_at_nat_out(void *arg, natbed_time_t now)
{
	struct vpkt *p = arg;
	struct vnet *vn = p->vn;

	if (!vn->nat) {
		vn_route_out(p);
		return;
	}
	if (nat_outbound(vn->nat, &p->v, now) != NAT_PASS) {
		vn->nat_drops++;
		free(p);
		return;
	}
	if (nat_is_public(vn->nat, p->v.ip->dst)) {
		if (!vn->hairpin || nat_inbound(vn->nat, &p->v, now) != NAT_PASS) {
			vn->nat_drops++;
			free(p);
			return;
		}
		vn_hop(p, vn_at_host);
		return;
	}
	vn_route_out(p);
}

static int vn_open(void *io, const struct dg_ep *bind, struct dg_ep *local, dg_recv_fn fn,
		   void *arg)
{
	struct vnet *vn = io;
	uint16_t port = bind ? bind->port : 0;
	int i, k, free_slot = -1;

	/* Linux's ephemeral range, drawn at random */
	for (k = 0; !port && k < 100; k++) {
		port = htons((uint16_t)(32768 + rng_below(&vn->rng, 61000 - 32768)));
		for (i = 0; i < VN_SOCKS; i++)
			if (vn->socks[i].open && vn->socks[i].port == port)
				port = 0;
	}
	for (i = 0; i < VN_SOCKS; i++) {
		if (vn->socks[i].open && vn->socks[i].port == port)
			return -EADDRINUSE;
		if (!vn->socks[i].open && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0 || !port)
		return -EMFILE;
	vn->socks[free_slot] = (struct vn_sock){true, port, fn, arg};
	local->addr = vn->host;
	local->port = port;
	return free_slot;
}

static int vn_send(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len)
{
	struct vnet *vn = io;
	struct vpkt *p;

	assert_true(sock >= 0 && sock < VN_SOCKS && vn->socks[sock].open);
	if (vn->drop_out > 0) {
		vn->drop_out--;
		vn->dropped++;
		return 0;
	}
	p = vpkt_new(vn, vn->host, vn->socks[sock].port, to->addr, to->port, buf, len);
	/* to itself: the kernel loops it back */
	if (to->addr == vn->host) {
		vn_hop(p, vn_at_host);
		return 0;
	}
	vn_hop(p, vn_at_nat_out);
	return 0;
}

static void vn_close(void *io, int sock)
{
	struct vnet *vn = io;

	assert_true(sock >= 0 && sock < VN_SOCKS && vn->socks[sock].open);
	vn->socks[sock].open = false;
}

static const struct dgram_ops vn_ops = {vn_open, vn_send, vn_close, NULL};

static void sin_set(struct sockaddr_storage *ss, const char *a, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = a4(a);
	sin->sin_port = htons(port);
}

/* A network with the host behind a NAT playing tn (NULL: a public host),
 * natbed-stund with an alternate address unless no_alternate. */
static struct vnet *vn_new(const struct topo_nat *tn, bool no_alternate, uint64_t seed)
{
	struct vnet *vn = calloc(1, sizeof(*vn));

	assert_non_null(vn);
	vn->s = sched_new(clock_virtual_clock(&vn->vc), &vn->vc);
	assert_non_null(vn->s);
	clock_virtual_set(&vn->vc, NATBED_NS_PER_S); /* time 0 is nothing special */
	if (tn) {
		struct nat_cfg c;

		nat_cfg_from_topo(&c, tn, seed);
		vn->nat = nat_new(&c, vn->s);
		assert_non_null(vn->nat);
		vn->hairpin = tn->b.hairpin;
		vn->host = a4(T_HOST);
	} else {
		vn->host = a4(T_OPEN_HOST);
	}
	/* RFC 5780 §4.1: A1:P1 A1:P2 A2:P1 A2:P2, as natbed-stund lays them */
	sin_set(&vn->scfg.addr[0], T_SRV1, T_PORT1);
	sin_set(&vn->scfg.addr[STUND_ALT_PORT_BIT], T_SRV1, T_PORT2);
	sin_set(&vn->scfg.addr[STUND_ALT_IP_BIT], T_SRV2, T_PORT1);
	sin_set(&vn->scfg.addr[STUND_ALT_IP_BIT | STUND_ALT_PORT_BIT], T_SRV2, T_PORT2);
	vn->scfg.has_alternate = !no_alternate;
	rng_seed(&vn->rng, seed, 7);
	vn->dg = (struct dgram){&vn_ops, vn, vn->s, seed};
	return vn;
}

static void vn_free(struct vnet *vn)
{
	int i;

	for (i = 0; i < VN_SOCKS; i++)
		assert_false(vn->socks[i].open); /* discovery closed every socket */
	nat_free(vn->nat); /* before the scheduler: it cancels its events there */
	sched_free(vn->s); /* vn_drain() delivered every frame in flight */
	free(vn);
}

/* A NAT from a preset, then key=value overrides (NULL-terminated). */
static void tn_make(struct topo_nat *tn, const char *preset, ...)
{
	char err[128];
	const char *k;
	va_list ap;

	memset(tn, 0, sizeof(*tn));
	snprintf(tn->name, sizeof(tn->name), "nat");
	assert_int_equal(topo_nat_preset_apply(tn, preset), 0);
	tn->publics[0].s_addr = a4(T_PUBLIC);
	tn->n_public = 1;
	tn->inside_net.s_addr = a4("192.168.1.0");
	tn->inside_len = 24;
	tn->gateway.s_addr = a4("192.168.1.1");
	tn->upstream = -1;
	va_start(ap, preset);
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);

		if (topo_nat_behaviour_set(&tn->b, k, v, err, sizeof(err)) < 0)
			fail_msg("%s %s: %s", k, v, err);
	}
	va_end(ap);
}

/* --- running a discovery ------------------------------------------------ */

struct run {
	const struct disc_result *r;
	int done_calls;
};

static void on_done(void *arg, const struct disc_result *r)
{
	struct run *run = arg;

	run->r = r;
	run->done_calls++;
}

/* Runs discovery on vn until it ends (bounded by disc_max_ns); returns it
 * (the caller frees it). */
static struct disc *discover(struct vnet *vn, struct run *run, const struct disc_cfg *extra)
{
	struct disc_cfg cfg = {.sock = -1};
	natbed_time_t start = sched_now(vn->s), bound;
	struct disc *d;

	if (extra)
		cfg = *extra;
	cfg.server.addr = a4(T_SRV1);
	cfg.server.port = htons(T_PORT1);
	cfg.done = on_done;
	cfg.done_arg = run;
	memset(run, 0, sizeof(*run));
	d = disc_new(&vn->dg, &cfg);
	assert_non_null(d);
	assert_int_equal(disc_start(d), 0);
	assert_int_equal(run->done_calls, 0); /* never from inside start */
	bound = start + disc_max_ns(&cfg);
	while (!run->done_calls && sched_next_due(vn->s) >= 0 && sched_next_due(vn->s) <= bound)
		sched_run_until(vn->s, sched_next_due(vn->s));
	assert_int_equal(run->done_calls, 1);
	assert_true(disc_finished(d));
	assert_ptr_equal(run->r, disc_result(d));
	assert_true(run->r->finished - run->r->started <= disc_max_ns(&cfg));
	return d;
}

/* Runs the scheduler past every frame still in flight, so that nothing is
 * left to free. */
static void vn_drain(struct vnet *vn)
{
	sched_run_until(vn->s, sched_now(vn->s) + NATBED_NS_PER_S);
}

/* Ends a case: frees d, delivers what is in flight, frees vn. */
static void case_end(struct vnet *vn, struct disc *d)
{
	disc_free(d);
	vn_drain(vn);
	vn_free(vn);
}

/* What a NAT playing b must be measured as, from the inside. */
static void expect(const struct topo_nat_behaviour *b, struct natinfo *ni)
{
	static const enum ni_map maps[TOPO_MAP_COUNT] = {[TOPO_MAP_EIM] = NI_MAP_EIM,
							 [TOPO_MAP_ADM] = NI_MAP_ADM,
							 [TOPO_MAP_APDM] = NI_MAP_APDM};
	static const enum ni_filter filters[TOPO_MAP_COUNT] = {[TOPO_MAP_EIM] = NI_FILTER_EIF,
							       [TOPO_MAP_ADM] = NI_FILTER_ADF,
							       [TOPO_MAP_APDM] = NI_FILTER_APDF};

	memset(ni, 0, sizeof(*ni));
	ni->map = maps[b->mapping];
	ni->filter = filters[b->filtering];
	switch (b->ports) {
	case TOPO_PORTS_PRESERVE:
	case TOPO_PORTS_PRESERVE_RANDOM: /* random only when the port is taken */
		/* with port blocks (RFC 6888), an inside port outside the
		 * subscriber's block is moved to the block's first free
		 * port: in order */
		ni->ports = b->port_block ? NI_PORTS_SEQUENTIAL : NI_PORTS_PRESERVE;
		ni->stride = b->port_block ? 1 : 0;
		break;
	case TOPO_PORTS_SEQUENTIAL:
		ni->ports = NI_PORTS_SEQUENTIAL;
		ni->stride = b->stride;
		break;
	default:
		ni->ports = NI_PORTS_RANDOM;
		break;
	}
	/* hairpinned datagrams still meet the receiving mapping's filter: two
	 * sockets behind one NAT meet when its mapping is endpoint-independent
	 * (each opened its mapping toward the other's) or nothing is filtered */
	ni->hairpin = b->hairpin && (b->mapping == TOPO_MAP_EIM || b->filtering == TOPO_MAP_EIM);
}

static void check_natinfo(const struct natinfo *got, const struct natinfo *want, const char *what)
{
	if (got->map != want->map || got->filter != want->filter || got->ports != want->ports ||
	    got->stride != want->stride || got->hairpin != want->hairpin)
		fail_msg(
		    "%s: got %s/%s/%s stride %d hairpin %d, want %s/%s/%s stride %d hairpin %d",
		    what, ni_map_name(got->map), ni_filter_name(got->filter),
		    ni_ports_name(got->ports), got->stride, got->hairpin, ni_map_name(want->map),
		    ni_filter_name(want->filter), ni_ports_name(want->ports), want->stride,
		    want->hairpin);
}

/* Discovery behind tn must measure what tn plays. */
static void run_nat_case(const struct topo_nat *tn, const char *what)
{
	struct vnet *vn = vn_new(tn, false, 42);
	struct natinfo want;
	struct run run;
	struct disc *d = discover(vn, &run, NULL);
	const struct disc_result *r = run.r;
	char buf[DG_EP_STR];

	expect(&tn->b, &want);
	assert_int_equal(r->err, DISC_OK);
	check_natinfo(&r->ni, &want, what);
	assert_int_equal(r->local.addr, a4(T_HOST));
	assert_int_equal(r->mapped.addr, a4(T_PUBLIC));
	assert_string_equal(dg_ep_str(&r->other, buf), T_SRV2 ":3479");
	assert_int_equal(r->nprobes, DISC_PORT_PROBES);
	case_end(vn, d);
}

/* --- the cases ------------------------------------------------------------ */

static void test_presets(void **state)
{
	static const char *const presets[] = {
	    "full-cone", "restricted-cone",	 "port-restricted",
	    "symmetric", "symmetric-sequential", "linux-masquerade",
	    "cgnat"};
	struct topo_nat tn;
	size_t i;

	for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
		tn_make(&tn, presets[i], NULL);
		run_nat_case(&tn, presets[i]);
	}
	/* every preset the loader knows is in the list above */
	for (i = 0; topo_nat_preset_name(i); i++)
		;
	assert_int_equal(i, sizeof(presets) / sizeof(presets[0]));
}

/* The classes traversal keys its priors by come out of the presets. */
static void test_preset_classes(void **state)
{
	static const struct {
		const char *preset;
		enum ni_class c;
	} cases[] = {
	    {"full-cone", NI_CLASS_FULL_CONE},
	    {"restricted-cone", NI_CLASS_RESTRICTED},
	    {"port-restricted", NI_CLASS_PORT_RESTRICTED},
	    {"symmetric", NI_CLASS_SYM_RANDOM},
	    {"symmetric-sequential", NI_CLASS_SYM_SEQUENTIAL},
	};
	struct topo_nat tn;
	struct run run;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vnet *vn;
		struct disc *d;

		tn_make(&tn, cases[i].preset, NULL);
		vn = vn_new(&tn, false, 7);
		d = discover(vn, &run, NULL);
		assert_int_equal(natinfo_class(&run.r->ni), cases[i].c);
		case_end(vn, d);
	}
}

/* RFC 4787 §4.1 address-dependent mapping: test II changes the mapping,
 * test III (same address, other port) keeps it. */
static void test_address_dependent_mapping(void **state)
{
	struct topo_nat tn;

	tn_make(&tn, "port-restricted", "mapping", "address-dependent", NULL);
	run_nat_case(&tn, "ADM, APDF");
	tn_make(&tn, "restricted-cone", "mapping", "address-dependent", NULL);
	run_nat_case(&tn, "ADM, ADF");
	tn_make(&tn, "full-cone", "mapping", "address-dependent", NULL);
	run_nat_case(&tn, "ADM, EIF");
}

/* A sequential NAT with a stride of 3, in a range of 16 ports so that the
 * probes wrap around it: the stride is still read. Also a stride of 3
 * in the whole range, with an endpoint-independent mapping. */
static void test_sequential_stride(void **state)
{
	struct topo_nat tn;
	struct vnet *vn;
	struct run run;
	struct disc *d;
	bool wrapped = false;
	size_t i;

	tn_make(&tn, "symmetric-sequential", "stride", "3", "port-range", "1024-1039", NULL);
	vn = vn_new(&tn, false, 42);
	d = discover(vn, &run, NULL);
	assert_int_equal(run.r->ni.ports, NI_PORTS_SEQUENTIAL);
	assert_int_equal(run.r->ni.stride, 3);
	for (i = 1; i < run.r->nprobes; i++)
		wrapped |=
		    ntohs(run.r->probes[i].mapped.port) < ntohs(run.r->probes[i - 1].mapped.port);
	assert_true(wrapped); /* the case is what it claims */
	assert_int_equal(natinfo_class(&run.r->ni), NI_CLASS_SYM_SEQUENTIAL);
	case_end(vn, d);

	tn_make(&tn, "symmetric-sequential", "stride", "3", NULL);
	run_nat_case(&tn, "symmetric-sequential stride 3");
	tn_make(&tn, "port-restricted", "ports", "sequential", "stride", "7", NULL);
	run_nat_case(&tn, "port-restricted sequential stride 7");
}

/* Hairpinning (RFC 4787 REQ-9) as each NAT with hairpin: true lets two of
 * its inside sockets meet, and none when it does not hairpin. */
static void test_hairpin(void **state)
{
	static const char *const presets[] = {"full-cone", "restricted-cone", "port-restricted",
					      "symmetric", "linux-masquerade"};
	struct topo_nat tn;
	size_t i;

	for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
		tn_make(&tn, presets[i], "hairpin", "true", NULL);
		run_nat_case(&tn, presets[i]);
	}
	tn_make(&tn, "symmetric", "hairpin", "true", "filtering", "endpoint-independent", NULL);
	run_nat_case(&tn, "APDM, EIF, hairpin");
	tn_make(&tn, "cgnat", "hairpin", "false", NULL);
	run_nat_case(&tn, "cgnat without hairpin");
}

/* No NAT: the mapped address is the host's own. */
static void test_no_nat(void **state)
{
	struct vnet *vn = vn_new(NULL, false, 1);
	struct run run;
	struct disc *d;

	d = discover(vn, &run, NULL);
	assert_int_equal(run.r->err, DISC_OK);
	assert_int_equal(run.r->ni.map, NI_MAP_NONE);
	assert_int_equal(run.r->ni.filter, NI_FILTER_NONE);
	assert_int_equal(run.r->ni.ports, NI_PORTS_PRESERVE);
	assert_int_equal(run.r->ni.hairpin, 1);
	assert_true(dg_ep_eq(&run.r->mapped, &run.r->local));
	assert_int_equal(natinfo_class(&run.r->ni), NI_CLASS_OPEN);
	/* tests II and III are not needed */
	assert_int_equal(run.r->mapped2.addr, 0);
	case_end(vn, d);
}

/* A server that never answers: an error, within test I's bound, after
 * RFC 8489's retransmissions (0, 0.5, 1.5 s). */
static void test_mute_server(void **state)
{
	struct topo_nat tn;
	struct vnet *vn;
	struct run run;
	struct disc *d;

	tn_make(&tn, "full-cone", NULL);
	vn = vn_new(&tn, false, 1);
	vn->mute = true;
	d = discover(vn, &run, NULL);
	assert_int_equal(run.r->err, DISC_ERR_NO_ANSWER);
	assert_int_equal(run.r->ni.map, NI_MAP_UNKNOWN);
	assert_int_equal(run.r->mapped.addr, 0);
	assert_int_equal(vn->srv_rx, 3); /* sent at 0, 0.5 and 1.5 s */
	assert_true(run.r->finished - run.r->started == DISC_TEST_TIMEOUT_NS);
	case_end(vn, d);
}

/* Without an alternate address there is no OTHER-ADDRESS: mapping and
 * filtering stay unknown, ports and hairpin are measured. */
static void test_no_other_address(void **state)
{
	struct topo_nat tn;
	struct vnet *vn;
	struct run run;
	struct disc *d;

	tn_make(&tn, "symmetric-sequential", "hairpin", "true", "filtering", "endpoint-independent",
		NULL);
	vn = vn_new(&tn, true, 1);
	d = discover(vn, &run, NULL);
	assert_int_equal(run.r->err, DISC_ERR_NO_OTHER);
	assert_int_equal(run.r->ni.map, NI_MAP_UNKNOWN);
	assert_int_equal(run.r->ni.filter, NI_FILTER_UNKNOWN);
	assert_int_equal(run.r->ni.ports, NI_PORTS_SEQUENTIAL);
	assert_int_equal(run.r->ni.stride, 1);
	assert_int_equal(run.r->ni.hairpin, 1);
	assert_int_equal(run.r->other.addr, 0);
	assert_int_equal(run.r->mapped.addr, a4(T_PUBLIC));
	case_end(vn, d);
}

/* A server that answers CHANGE-REQUEST from the socket it came in on:
 * filtering is not known (an answer from the wrong place is no proof). */
static void test_change_request_ignored(void **state)
{
	struct topo_nat tn;
	struct vnet *vn;
	struct run run;
	struct disc *d;

	tn_make(&tn, "full-cone", NULL);
	vn = vn_new(&tn, false, 1);
	vn->ignore_change = true;
	d = discover(vn, &run, NULL);
	assert_int_equal(run.r->err, DISC_ERR_CHANGE);
	assert_int_equal(run.r->ni.filter, NI_FILTER_UNKNOWN);
	assert_int_equal(run.r->ni.map, NI_MAP_EIM);
	case_end(vn, d);
}

/* Test I's first request lost: the retransmission after the RTO (500 ms)
 * recovers it, and the verdict is unchanged. */
static void test_retransmission(void **state)
{
	struct topo_nat tn;
	struct vnet *vn;
	struct run run, base;
	struct disc *d;
	natbed_time_t t_lossless;

	tn_make(&tn, "full-cone", NULL);
	vn = vn_new(&tn, false, 3);
	d = discover(vn, &base, NULL);
	t_lossless = base.r->finished - base.r->started;
	case_end(vn, d);

	vn = vn_new(&tn, false, 3);
	vn->drop_out = 1;
	d = discover(vn, &run, NULL);
	assert_int_equal(vn->dropped, 1);
	assert_int_equal(run.r->err, DISC_OK);
	assert_int_equal(run.r->ni.map, NI_MAP_EIM);
	assert_int_equal(run.r->ni.filter, NI_FILTER_EIF);
	assert_int_equal(run.r->finished - run.r->started, t_lossless + DISC_RTO_NS);
	case_end(vn, d);
}

/* The filtering tests wait for answers that never come: a lost answer is
 * the verdict. Port-restricted: both time out; full cone: none does. */
static void test_filtering_times(void **state)
{
	struct topo_nat tn;
	struct vnet *vn;
	struct run run;
	struct disc *d;

	tn_make(&tn, "full-cone", "hairpin", "true", NULL);
	vn = vn_new(&tn, false, 1);
	d = discover(vn, &run, NULL);
	/* every test answered: no wait for a timeout, a round trip each */
	assert_true(run.r->finished - run.r->started < NATBED_NS_PER_S);
	case_end(vn, d);

	tn_make(&tn, "port-restricted", NULL);
	vn = vn_new(&tn, false, 1);
	d = discover(vn, &run, NULL);
	assert_int_equal(run.r->ni.filter, NI_FILTER_APDF);
	/* F2 and F3 each waited their whole test; the hairpin probes too,
	 * beside them */
	assert_true(run.r->finished - run.r->started >= 2 * DISC_TEST_TIMEOUT_NS);
	assert_true(vn->nat_drops > 0);
	case_end(vn, d);
}

/* The caller's own socket as the main one: it forwards datagrams, and
 * keeps those that are not discovery's. */
struct fwd {
	struct disc *d;
	int foreign;
};

static void fwd_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		     natbed_time_t now)
{
	struct fwd *f = arg;

	if (!f->d || !disc_input(f->d, sock, from, buf, len, now))
		f->foreign++;
}

static void test_caller_socket(void **state)
{
	struct topo_nat tn;
	struct vnet *vn;
	struct fwd f = {0};
	struct dg_ep any = {0, 0}, local;
	struct disc_cfg cfg = {0};
	struct run run;
	struct disc *d;
	int sock;

	tn_make(&tn, "restricted-cone", NULL);
	vn = vn_new(&tn, false, 5);
	sock = dg_open(&vn->dg, &any, &local, fwd_recv, &f);
	assert_true(sock >= 0);
	cfg.sock = sock;
	cfg.local = local;
	cfg.server.addr = a4(T_SRV1);
	cfg.server.port = htons(T_PORT1);
	cfg.done = on_done;
	cfg.done_arg = &run;
	memset(&run, 0, sizeof(run));
	d = disc_new(&vn->dg, &cfg);
	f.d = d;
	assert_int_equal(disc_start(d), 0);
	sched_run_until(vn->s, sched_now(vn->s) + disc_max_ns(&cfg));
	assert_int_equal(run.done_calls, 1);
	assert_int_equal(run.r->ni.map, NI_MAP_EIM);
	assert_int_equal(run.r->ni.filter, NI_FILTER_ADF);
	assert_true(dg_ep_eq(&run.r->local, &local));
	/* the caller's socket stays the caller's */
	assert_true(vn->socks[sock].open);
	disc_free(d);
	f.d = NULL;
	dg_close(&vn->dg, sock);
	vn_drain(vn);
	vn_free(vn);
}

/* Junk to discovery: wrong transaction, truncated, a response to nothing,
 * not STUN: none is taken. */
static void test_input_junk(void **state)
{
	struct topo_nat tn;
	struct vnet *vn;
	struct disc_cfg cfg = {.sock = -1};
	struct disc *d;
	struct stun_builder b;
	uint8_t txid[STUN_TXID_LEN] = {1, 2, 3}, buf[128];
	struct dg_ep from = {a4(T_SRV1), htons(T_PORT1)};
	int n;

	tn_make(&tn, "full-cone", NULL);
	vn = vn_new(&tn, false, 1);
	cfg.server = from;
	d = disc_new(&vn->dg, &cfg);
	assert_int_equal(disc_start(d), 0);
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, txid,
			    false);
	stun_msg_build_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS,
			    (const struct sockaddr *)&vn->scfg.addr[0]);
	n = stun_msg_build_finish(&b);
	assert_true(n > 0);
	assert_false(disc_input(d, 0, &from, buf, (size_t)n, sched_now(vn->s)));
	assert_false(disc_input(d, 0, &from, buf, 10, sched_now(vn->s)));
	assert_false(disc_input(d, 0, &from, (const uint8_t *)"hello", 5, sched_now(vn->s)));
	assert_false(disc_finished(d));
	assert_null(disc_new(&vn->dg, &(struct disc_cfg){.sock = -1})); /* no server */
	case_end(vn, d);
}

/* The classifier alone: preserve, a stride with a wrap and a lost probe,
 * a negative stride, random, too few answers. */
static void test_ports_classify(void **state)
{
	struct disc_probe p[6];
	int stride, i;

#define PROBE(i, l, m) (p[i] = (struct disc_probe){{1, htons(l)}, {(m) ? 2u : 0u, htons(m)}})
	PROBE(0, 40000, 40000);
	PROBE(1, 50000, 50000);
	PROBE(2, 33000, 33001); /* taken: moved */
	PROBE(3, 45000, 45000);
	assert_int_equal(disc_ports_classify(p, 4, &stride), NI_PORTS_PRESERVE);
	assert_int_equal(stride, 0);

	/* stride 3 in 1024-1039: 1030 1033 1036 1039 1026 */
	for (i = 0; i < 5; i++)
		PROBE(i, 40000 + i, 1024 + (6 + 3 * i) % 16);
	assert_int_equal(disc_ports_classify(p, 5, &stride), NI_PORTS_SEQUENTIAL);
	assert_int_equal(stride, 3);
	/* one lost in the middle: its neighbours' difference is not used */
	PROBE(2, 40002, 0);
	PROBE(5, 40005, 1029);
	assert_int_equal(disc_ports_classify(p, 6, &stride), NI_PORTS_SEQUENTIAL);
	assert_int_equal(stride, 3);

	for (i = 0; i < 5; i++)
		PROBE(i, 40000 + i, 60000 - 2 * i);
	assert_int_equal(disc_ports_classify(p, 5, &stride), NI_PORTS_SEQUENTIAL);
	assert_int_equal(stride, -2);

	PROBE(0, 40000, 51234);
	PROBE(1, 40001, 2345);
	PROBE(2, 40002, 33333);
	PROBE(3, 40003, 33336);
	PROBE(4, 40004, 12000);
	assert_int_equal(disc_ports_classify(p, 5, &stride), NI_PORTS_RANDOM);
	assert_int_equal(stride, 0);

	PROBE(2, 40002, 0);
	PROBE(3, 40003, 0);
	assert_int_equal(disc_ports_classify(p, 4, &stride), NI_PORTS_UNKNOWN);
	/* the same port every time is no allocation pattern */
	for (i = 0; i < 5; i++)
		PROBE(i, 40000 + i, 5000);
	assert_int_equal(disc_ports_classify(p, 5, &stride), NI_PORTS_RANDOM);
#undef PROBE
}

/* dg_ep_str as inet_ntop and "%s:%u" write it, at the extremes and for
 * addresses and ports drawn at random. */
static void test_ep_str(void **state)
{
	struct dg_ep ep;
	char buf[DG_EP_STR], want[64], a[INET_ADDRSTRLEN];
	struct rng r;

	(void)state;
	rng_seed(&r, 5, 0);
	for (int i = 0; i < 5000; i++) {
		uint32_t x = (uint32_t)rng_next(&r);

		ep.addr = i == 0 ? 0 : i == 1 ? 0xffffffff : x;
		ep.port = i == 0 ? 0 : i == 1 ? 0xffff : (uint16_t)(x >> 7);
		inet_ntop(AF_INET, &ep.addr, a, sizeof(a));
		snprintf(want, sizeof(want), "%s:%u", a, ntohs(ep.port));
		assert_string_equal(dg_ep_str(&ep, buf), want);
	}
}

/* Every case above runs in virtual time: the whole file in well under a
 * second of real time (ctest's timeout is the guard). */
/* --- natbed sim checkpoints ------------------------------------------- */

/* A discovery from a public host on the checkpointable fake network
 * (tests/support/cknet.c), natbed-stund's logic (agents/dgstund.c) on the
 * two addresses and ports: the network, its datagrams in flight and the
 * server are written with the discovery. */
#define CK_DELAY_NS (10 * NATBED_NS_PER_MS) /* one way: a round trip of 20 ms */

struct ck {
	struct run run;
	struct disc *d;
};

static void on_done_unlisted(void *arg, const struct disc_result *r)
{
	(void)arg;
	(void)r;
}

static const struct ckfn t_fns[] = {CKFN(on_done)};
static const struct ckfns t_table = CKFNS(t, t_fns);
static const struct ckfns *const tables[] = {&cknet_ckfns, &dgstund_ckfns, &disc_ckfns, &t_table};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

/* The test's run (before done: run.r is not written) and the discovery. */
static json_t *ck_save(struct ckw *w, void *ctx)
{
	struct ck *c = ctx;

	assert_null(c->run.r);
	return json_pack("{s:o,s:i,s:o}", "run", ckw_obj(w, &c->run), "done_calls",
			 c->run.done_calls, "disc", disc_ckpt_save(c->d, w));
}

static int ck_load(struct ckr *r, const json_t *parts, void *ctx)
{
	struct ck *c = ctx;

	memset(&c->run, 0, sizeof(c->run));
	ckr_obj(r, json_object_get(parts, "run"), &c->run);
	c->run.done_calls = (int)json_integer_value(json_object_get(parts, "done_calls"));
	c->d = disc_ckpt_load(json_object_get(parts, "disc"), r);
	return c->d ? 0 : -1;
}

/* Drops the host's first *arg datagrams. */
static bool drop_first(void *arg, const struct dg_ep *from, const struct dg_ep *to,
		       const uint8_t *buf, size_t len)
{
	int *left = arg;

	(void)to;
	(void)buf;
	(void)len;
	if (from->addr != a4(T_OPEN_HOST) || *left <= 0)
		return true;
	(*left)--;
	return false;
}

/* A network with the servers and the host; a discovery started on it. */
static struct cknet *ck_start(struct ck *c, void (*done)(void *, const struct disc_result *))
{
	struct disc_cfg cfg = {.sock = -1};
	struct cknet *n = cknet_new(CK_DELAY_NS, 5);
	const struct dgram *host;

	assert_non_null(n);
	assert_int_equal(cknet_stund2(n, T_SRV1, T_SRV2, T_PORT1), 0);
	host = cknet_host(n, T_OPEN_HOST);
	assert_non_null(host);
	memset(c, 0, sizeof(*c));
	cfg.server.addr = a4(T_SRV1);
	cfg.server.port = htons(T_PORT1);
	cfg.done = done;
	cfg.done_arg = &c->run;
	c->d = disc_new(host, &cfg);
	assert_non_null(c->d);
	assert_int_equal(disc_start(c->d), 0);
	return n;
}

/* Everything a discovery's result says, as text. */
static void result_str(const struct disc_result *r, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "%d/%d/%d/%d/%d/%d err %d %08x:%u %08x:%u %08x:%u %08x:%u "
			 "%08x:%u %lld-%lld probes",
			 r->ni.map, r->ni.filter, r->ni.ports, r->ni.stride, r->ni.hairpin,
			 r->ni.pcp, r->err, r->local.addr, r->local.port, r->mapped.addr,
			 r->mapped.port, r->other.addr, r->other.port, r->mapped2.addr,
			 r->mapped2.port, r->mapped3.addr, r->mapped3.port, (long long)r->started,
			 (long long)r->finished);

	for (size_t i = 0; i < r->nprobes && n > 0 && (size_t)n < len; i++)
		n += snprintf(buf + n, len - (size_t)n, " %u>%u", r->probes[i].local.port,
			      r->probes[i].mapped.port);
}

/* A discovery from a public host (its first drop_out datagrams lost),
 * written `after` its start, read into a fresh network and written again
 * the same; both run on to the same datagrams and the same result at the
 * same time. */
static void ck_round(int drop_out, natbed_time_t after)
{
	struct ck a, b;
	struct cknet *na = ck_start(&a, on_done), *nb;
	struct cknet_stats sa_st, sb_st;
	char err[256], *text, *cont, sa[512], sb[512];
	natbed_time_t end = disc_max_ns(&(struct disc_cfg){.sock = -1}) + NATBED_NS_PER_S;
	json_t *j;

	cknet_set_filter(na, drop_first, &drop_out);
	cknet_run_until(na, after);
	assert_int_equal(a.run.done_calls, 0);
	j = cknet_world_save(na, tables, NTABLES, ck_save, &a, err, sizeof(err));
	if (!j)
		fail_msg("save: %s", err);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	/* the filter is the test's: none is left to drop after the save */
	assert_int_equal(drop_out, 0);
	cknet_log_clear(na);
	cknet_run_until(na, end);
	assert_int_equal(a.run.done_calls, 1);
	cont = strdup(cknet_log(na));
	result_str(a.run.r, sa, sizeof(sa));

	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	nb = cknet_world_reload(j, tables, NTABLES, ck_save, ck_load, &b, err, sizeof(err));
	if (!nb || err[0])
		fail_msg("%s", err);
	json_decref(j);
	cknet_run_until(nb, end);
	assert_int_equal(b.run.done_calls, 1);
	assert_ptr_equal(b.run.r, disc_result(b.d));
	result_str(b.run.r, sb, sizeof(sb));
	assert_string_equal(sb, sa);
	assert_string_equal(cknet_log(nb), cont);
	cknet_stats(na, &sa_st);
	cknet_stats(nb, &sb_st);
	assert_memory_equal(&sb_st, &sa_st, sizeof(sa_st));
	free(cont);
	free(text);
	disc_free(a.d);
	disc_free(b.d);
	cknet_free(na);
	cknet_free(nb);
}

/* Datagrams on their way (1 to 124 ms: the mapping, filtering, port and
 * hairpin tests of an open host, a round trip of 20 ms each), and
 * retransmissions waited for (test I's first two sends lost). */
static void test_checkpoint(void **state)
{
	static const natbed_time_t at_ms[] = {1, 12, 31, 47, 66, 90, 110, 124};

	(void)state;
	for (size_t i = 0; i < sizeof(at_ms) / sizeof(at_ms[0]); i++)
		ck_round(0, at_ms[i] * NATBED_NS_PER_MS);
	ck_round(2, 700 * NATBED_NS_PER_MS);
	ck_round(2, 1505 * NATBED_NS_PER_MS);
}

/* The writer refuses a done function in no table; the reader a
 * transaction of a kind it does not know. */
static void test_checkpoint_refused(void **state)
{
	struct ck a, b;
	struct cknet *n = ck_start(&a, on_done_unlisted), *nb;
	char err[256], *text, *at, edited[65536];
	json_t *j;

	(void)state;
	assert_null(cknet_world_save(n, tables, NTABLES, ck_save, &a, err, sizeof(err)));
	assert_non_null(strstr(err, "in no module's table"));
	disc_free(a.d);
	cknet_free(n);
	n = ck_start(&a, on_done);
	cknet_run_until(n, 30 * NATBED_NS_PER_MS);
	j = cknet_world_save(n, tables, NTABLES, ck_save, &a, err, sizeof(err));
	if (!j)
		fail_msg("save: %s", err);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	at = strstr(text, "\"kind\":0");
	assert_non_null(at);
	snprintf(edited, sizeof(edited), "%.*s\"kind\":11%s", (int)(at - text), text,
		 at + strlen("\"kind\":0"));
	j = json_loads(edited, 0, NULL);
	assert_non_null(j);
	memset(&b, 0, sizeof(b));
	nb = cknet_world_load(j, tables, NTABLES, ck_load, &b, err, sizeof(err));
	assert_null(nb);
	assert_string_equal(err, "disc.tx: kind: not an integer in range");
	json_decref(j);
	free(text);
	disc_free(a.d);
	cknet_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ep_str),
	    cmocka_unit_test(test_presets),
	    cmocka_unit_test(test_preset_classes),
	    cmocka_unit_test(test_address_dependent_mapping),
	    cmocka_unit_test(test_sequential_stride),
	    cmocka_unit_test(test_hairpin),
	    cmocka_unit_test(test_no_nat),
	    cmocka_unit_test(test_mute_server),
	    cmocka_unit_test(test_no_other_address),
	    cmocka_unit_test(test_change_request_ignored),
	    cmocka_unit_test(test_retransmission),
	    cmocka_unit_test(test_filtering_times),
	    cmocka_unit_test(test_caller_socket),
	    cmocka_unit_test(test_input_junk),
	    cmocka_unit_test(test_ports_classify),
	    cmocka_unit_test(test_checkpoint),
	    cmocka_unit_test(test_checkpoint_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
