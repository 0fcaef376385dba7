/* Unit tests of the virtual network (emulator/vnet.c), all in virtual
 * time: link delays of the topology, a port-restricted NAT's filtering, a
 * full-cone NAT behind a carrier NAT, hairpinning on and off, a lossy
 * link that drops what link_decide() says for the same seed, a firewall,
 * natbed-stund's request logic on a vnet host answering through a
 * symmetric NAT, socket semantics (ephemeral ports, bind conflicts,
 * closed ports), the gateway's PCP answers, and a speed figure through
 * one NAT. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckround.h"
#include "emu_parts.h"
#include "firewall.h"
#include "gate.h"
#include "flowtab.h"
#include "nat.h"
#include "pcp.h"
#include "natbed/ckpt.h"
#include "natbed/link.h"
#include "natbed/sched.h"
#include "natbed/stun.h"
#include "natbed/topo.h"
#include "dgram.h"
#include "stund.h"
#include "vnet.h"
#include "vnet_sock.h"

#define MS NATBED_NS_PER_MS
#define S  NATBED_NS_PER_S

/* --- a vnet from YAML ------------------------------------------------------ */

struct tnet {
	struct clock_virtual vc;
	struct sched *s;
	struct topo *t;
	struct vnet *v;
};

static void tnet_up(struct tnet *n, const char *yaml)
{
	char err[TOPO_ERR_MAX];

	memset(n, 0, sizeof(*n));
	n->s = sched_new(clock_virtual_clock(&n->vc), &n->vc);
	assert_non_null(n->s);
	if (topo_load_string(yaml, strlen(yaml), "vnet.yaml", "nb-", &n->t, err, sizeof(err)) < 0)
		fail_msg("topology: %s", err);
	n->v = vnet_new(&(struct vnet_cfg){.topo = n->t, .sched = n->s}, err, sizeof(err));
	if (!n->v)
		fail_msg("vnet: %s", err);
}

static void tnet_down(struct tnet *n)
{
	vnet_free(n->v);
	sched_free(n->s);
	topo_free(n->t);
}

static void tnet_run(struct tnet *n, natbed_time_t for_ns)
{
	sched_run_until(n->s, sched_now(n->s) + for_ns);
}

static const struct dgram *host(struct tnet *n, const char *name)
{
	const struct dgram *d = vnet_dgram(n->v, topo_host_find(n->t, name));

	assert_non_null(d);
	return d;
}

static uint32_t a4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static struct dg_ep ep(const char *addr, uint16_t port)
{
	struct dg_ep e = {addr ? a4(addr) : 0, htons(port)};

	return e;
}

/* --- a socket that records what it receives ---------------------------------- */

#define REC_MAX 512

struct rec {
	const struct dgram *d;
	int sock;
	struct dg_ep local;
	size_t n;
	struct dg_ep from[REC_MAX];
	natbed_time_t at[REC_MAX];
	uint32_t tag[REC_MAX]; /* the first 4 bytes of each datagram */
	uint8_t last[DG_MAX];  /* the last datagram */
	size_t last_len;
	bool echo; /* send each datagram back where it came from */
};

static void rec_fn(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		   natbed_time_t now)
{
	struct rec *r = arg;

	assert_int_equal(sock, r->sock);
	if (r->n < REC_MAX) {
		r->from[r->n] = *from;
		r->at[r->n] = now;
		r->tag[r->n] = 0;
		if (len >= 4)
			memcpy(&r->tag[r->n], buf, 4);
		r->n++;
	}
	memcpy(r->last, buf, len);
	r->last_len = len;
	if (r->echo)
		assert_int_equal(r->d->ops->send(r->d->io, sock, from, buf, len), 0);
}

static int rec_try_open(struct rec *r, const struct dgram *d, const char *addr, uint16_t port)
{
	struct dg_ep b = ep(addr, port);

	memset(r, 0, sizeof(*r));
	r->d = d;
	r->sock = d->ops->open(d->io, &b, &r->local, rec_fn, r);
	return r->sock;
}

static void rec_open(struct rec *r, const struct dgram *d, const char *addr, uint16_t port)
{
	assert_true(rec_try_open(r, d, addr, port) >= 0);
}

static void rec_close(struct rec *r)
{
	r->d->ops->close(r->d->io, r->sock);
}

static void rec_send(struct rec *r, const struct dg_ep *to, uint32_t tag)
{
	assert_int_equal(r->d->ops->send(r->d->io, r->sock, to, &tag, sizeof(tag)), 0);
}

static bool ep_is(const struct dg_ep *e, const char *addr, uint16_t port)
{
	return e->addr == a4(addr) && e->port == htons(port);
}

static bool ep_eq(const struct dg_ep *x, const struct dg_ep *y)
{
	return x->addr == y->addr && x->port == y->port;
}

/* "A.B.C.D:PORT", as the NAT's mapping list writes endpoints. */
static const char *ep_str(const struct dg_ep *e, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &e->addr, a, sizeof(a));
	snprintf(buf, len, "%s:%u", a, ntohs(e->port));
	return buf;
}

/* The one UDP mapping NAT name holds: its outside endpoint is `outside`. */
static void assert_one_mapping(struct tnet *n, const char *name, const struct dg_ep *outside)
{
	json_t *m = nat_mappings_json(vnet_nat(n->v, name), sched_now(n->s));
	char want[32];

	assert_non_null(m);
	assert_int_equal(json_array_size(m), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "outside")),
			    ep_str(outside, want, sizeof(want)));
	json_decref(m);
}

/* --- two public hosts: the topology's link delays ------------------------------ */

static const char *const two_hosts = "name: two\n"
				     "internet: { link: { delay: 5ms } }\n"
				     "hosts:\n"
				     "  a: { address: 198.51.100.1, link: { delay: 10ms } }\n"
				     "  b: { address: 198.51.100.2, link: { delay: 20ms } }\n";

/* The flows whose packets n numbered (flowtab), now. */
static size_t numbered_flows(struct tnet *n)
{
	struct emu_parts parts;
	struct flowtab_stats fs;

	vnet_parts(n->v, &parts);
	flowtab_get_stats(parts.flows, &fs);
	return fs.flows;
}

static void test_delay(void **state)
{
	struct tnet n;
	struct rec a, b;
	struct dg_ep to_b = ep("198.51.100.2", 7000);
	struct vnet_stats st;

	(void)state;
	tnet_up(&n, two_hosts);
	rec_open(&a, host(&n, "a"), NULL, 0);
	rec_open(&b, host(&n, "b"), NULL, 7000);
	b.echo = true;
	assert_int_equal(a.local.addr, a4("198.51.100.1"));
	rec_send(&a, &to_b, 42);
	assert_int_equal(b.n, 0); /* nothing moves inside a send */
	/* a's link up 10 ms, the core 5 ms, b's link down 20 ms */
	tnet_run(&n, 35 * MS - 1);
	assert_int_equal(b.n, 0);
	tnet_run(&n, 1);
	assert_int_equal(b.n, 1);
	assert_int_equal(b.at[0], 35 * MS);
	assert_int_equal(b.tag[0], 42);
	assert_true(ep_eq(&b.from[0], &a.local));
	/* and back the same way */
	tnet_run(&n, 100 * MS);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.at[0], 70 * MS);
	assert_true(ep_is(&a.from[0], "198.51.100.2", 7000));
	vnet_stats(n.v, &st);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.delivered, 2);
	assert_int_equal(st.in_flight, 0);
	/* links that only delay read no packet numbers: none were counted */
	assert_int_equal(numbered_flows(&n), 0);
	tnet_down(&n);
}

/* A link handed out may be changed to draw: from then on packets are
 * numbered, the first of a flow 0, and a loss of 100% "every 2" drops the
 * 2nd, 4th, ... packets the flow sends after the change. */
static void test_numbering_on_change(void **state)
{
	struct tnet n;
	struct rec a, b;
	struct dg_ep to_b = ep("198.51.100.2", 7000);
	struct link *up, *down;
	char err[LINK_ERR_MAX];
	uint32_t i;

	(void)state;
	tnet_up(&n, two_hosts);
	rec_open(&a, host(&n, "a"), NULL, 0);
	rec_open(&b, host(&n, "b"), NULL, 7000);
	rec_send(&a, &to_b, 100); /* before: not numbered */
	tnet_run(&n, 100 * MS);
	assert_int_equal(b.n, 1);
	assert_int_equal(numbered_flows(&n), 0);
	assert_int_equal(vnet_link(n.v, "a", &up, &down), 0);
	assert_int_equal(link_set(up, "drop-every", "2", err, sizeof(err)), 0);
	for (i = 0; i < 6; i++)
		rec_send(&a, &to_b, i);
	tnet_run(&n, 100 * MS);
	assert_int_equal(numbered_flows(&n), 1);
	assert_int_equal(b.n, 1 + 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(b.tag[1 + i], 2 * i); /* 1st, 3rd, 5th after the change */
	tnet_down(&n);
}

/* --- a port-restricted NAT -------------------------------------------------------- */

static const char *const one_nat =
    "name: pr\n"
    "nats:\n"
    "  home: { preset: port-restricted, public: 203.0.113.1, inside: 192.168.1.0/24 }\n"
    "hosts:\n"
    "  alice: { nat: home, address: 192.168.1.10, link: { delay: 1ms } }\n"
    "  srv: { address: 198.51.100.10 }\n"
    "  stranger: { address: 198.51.100.20 }\n";

/* RFC 4787 §5: endpoint-independent mapping, address-and-port-dependent
 * filtering. The server's answer comes back; a stranger's datagram and
 * one from the server's other port are filtered. */
static void test_port_restricted(void **state)
{
	struct tnet n;
	struct rec alice, srv, srv2, stranger;
	struct dg_ep to_srv = ep("198.51.100.10", 7000), mapped;
	const struct nat_counters *nc;
	struct vnet_stats st;

	(void)state;
	tnet_up(&n, one_nat);
	rec_open(&alice, host(&n, "alice"), NULL, 5000);
	rec_open(&srv, host(&n, "srv"), NULL, 7000);
	rec_open(&srv2, host(&n, "srv"), NULL, 7001);
	rec_open(&stranger, host(&n, "stranger"), NULL, 7000);
	srv.echo = true;
	assert_true(ep_is(&alice.local, "192.168.1.10", 5000));
	rec_send(&alice, &to_srv, 1);
	tnet_run(&n, S);
	assert_int_equal(srv.n, 1);
	assert_true(ep_is(&srv.from[0], "203.0.113.1", 5000)); /* preserved */
	assert_int_equal(alice.n, 1);
	assert_true(ep_is(&alice.from[0], "198.51.100.10", 7000));
	assert_int_equal(alice.at[0], 2 * MS); /* her link, both ways */
	mapped = srv.from[0];
	assert_one_mapping(&n, "home", &mapped);

	rec_send(&stranger, &mapped, 2);
	rec_send(&srv2, &mapped, 3);
	tnet_run(&n, S);
	assert_int_equal(alice.n, 1);
	nc = nat_counters(vnet_nat(n.v, "home"));
	assert_int_equal(nc->out_pkts, 1);
	assert_int_equal(nc->in_pkts, 1);
	assert_int_equal(nc->drops[NAT_DROP_FILTERED], 2);
	vnet_stats(n.v, &st);
	assert_int_equal(st.drops[VNET_DROP_NAT], 2);
	assert_int_equal(st.delivered, 2);
	tnet_down(&n);
}

/* --- a full-cone NAT behind a carrier NAT ------------------------------------------- */

static const char *const chain =
    "name: chain\n"
    "nats:\n"
    "  carrier: { preset: cgnat, public: 203.0.113.50, inside: 100.64.0.0/10 }\n"
    "  home: { preset: full-cone, public: 100.64.0.10, inside: 192.168.20.0/24, "
    "upstream: carrier }\n"
    "hosts:\n"
    "  alice: { nat: home, address: 192.168.20.10 }\n"
    "  srv: { address: 198.51.100.10 }\n"
    "  stranger: { address: 198.51.100.20 }\n";

/* Each layer translates: home to its public 100.64.0.10, the carrier to
 * 203.0.113.50. Both filter endpoint-independently, so a stranger reaches
 * alice through both mappings. */
static void test_cgnat_chain(void **state)
{
	struct tnet n;
	struct rec alice, srv, stranger;
	struct dg_ep to_srv = ep("198.51.100.10", 7000), home_out = ep("100.64.0.10", 5000);
	const struct nat_counters *home, *carrier;

	(void)state;
	tnet_up(&n, chain);
	rec_open(&alice, host(&n, "alice"), NULL, 5000);
	rec_open(&srv, host(&n, "srv"), NULL, 7000);
	rec_open(&stranger, host(&n, "stranger"), NULL, 9000);
	rec_send(&alice, &to_srv, 1);
	tnet_run(&n, S);
	assert_int_equal(srv.n, 1);
	assert_int_equal(srv.from[0].addr, a4("203.0.113.50"));
	assert_one_mapping(&n, "home", &home_out);
	assert_one_mapping(&n, "carrier", &srv.from[0]);

	rec_send(&stranger, &srv.from[0], 2);
	tnet_run(&n, S);
	assert_int_equal(alice.n, 1);
	assert_int_equal(alice.tag[0], 2);
	assert_true(ep_is(&alice.from[0], "198.51.100.20", 9000));
	home = nat_counters(vnet_nat(n.v, "home"));
	carrier = nat_counters(vnet_nat(n.v, "carrier"));
	assert_int_equal(home->out_pkts, 1);
	assert_int_equal(home->in_pkts, 1);
	assert_int_equal(carrier->out_pkts, 1);
	assert_int_equal(carrier->in_pkts, 1);
	tnet_down(&n);
}

/* --- hairpinning ---------------------------------------------------------------- */

/* RFC 4787 REQ-9: b's mapping, reached by a from the same inside through
 * the NAT's public address, with a's external address as the source;
 * refused when the NAT does not hairpin. */
static void hairpin(bool on)
{
	char yaml[512];
	struct tnet n;
	struct rec a, b, srv;
	struct dg_ep to_srv = ep("198.51.100.10", 7000);
	struct vnet_stats st;

	snprintf(yaml, sizeof(yaml),
		 "name: hp\n"
		 "nats:\n"
		 "  home: { preset: full-cone, hairpin: %s, public: 203.0.113.1, "
		 "inside: 192.168.1.0/24 }\n"
		 "hosts:\n"
		 "  a: { nat: home, address: 192.168.1.10 }\n"
		 "  b: { nat: home, address: 192.168.1.11 }\n"
		 "  srv: { address: 198.51.100.10 }\n",
		 on ? "true" : "false");
	tnet_up(&n, yaml);
	rec_open(&a, host(&n, "a"), NULL, 5000);
	rec_open(&b, host(&n, "b"), NULL, 6000);
	rec_open(&srv, host(&n, "srv"), NULL, 7000);
	rec_send(&a, &to_srv, 1);
	rec_send(&b, &to_srv, 2);
	tnet_run(&n, S);
	assert_int_equal(srv.n, 2);
	assert_true(ep_is(&srv.from[1], "203.0.113.1", 6000));
	rec_send(&a, &srv.from[1], 3); /* b's public mapping */
	tnet_run(&n, S);
	vnet_stats(n.v, &st);
	if (on) {
		assert_int_equal(b.n, 1);
		assert_int_equal(b.tag[0], 3);
		assert_true(ep_is(&b.from[0], "203.0.113.1", 5000));
		assert_int_equal(nat_counters(vnet_nat(n.v, "home"))->out_pkts, 3);
		assert_int_equal(nat_counters(vnet_nat(n.v, "home"))->hairpinned, 1);
		assert_int_equal(st.hairpinned, 1);
		assert_int_equal(st.drops[VNET_DROP_NO_HAIRPIN], 0);
	} else {
		assert_int_equal(b.n, 0);
		assert_int_equal(nat_counters(vnet_nat(n.v, "home"))->hairpinned, 0);
		assert_int_equal(st.drops[VNET_DROP_NO_HAIRPIN], 1);
	}
	/* on their LAN, the NAT never sees them */
	rec_send(&a, &b.local, 4);
	tnet_run(&n, S);
	assert_int_equal(b.tag[b.n - 1], 4);
	assert_true(ep_eq(&b.from[b.n - 1], &a.local));
	assert_int_equal(nat_counters(vnet_nat(n.v, "home"))->out_pkts, 3);
	tnet_down(&n);
}

static void test_hairpin_on(void **state)
{
	(void)state;
	hairpin(true);
}

static void test_hairpin_off(void **state)
{
	(void)state;
	hairpin(false);
}

/* --- a lossy link ------------------------------------------------------------------ */

#define LOSSY_N 200

struct lossy {
	bool got[LOSSY_N];
	bool want[LOSSY_N]; /* what link_decide() says of each */
	size_t lost;
	uint64_t vnet_lost, link_lost;
};

/* a sends LOSSY_N datagrams over its 30% lossy link to b; which arrive,
 * and which link_decide() drops, on a link built apart from the same
 * topology block, for the same flow and packet numbers. */
static void lossy_run(uint64_t seed, struct lossy *out)
{
	char yaml[512], err[LINK_ERR_MAX];
	struct tnet n;
	struct rec a, b;
	struct dg_ep to_b = ep("198.51.100.2", 7000);
	const struct topo_host *th;
	struct link_cfg lc;
	struct link *l, *up, *down;
	struct link_stats ls;
	struct flow_tuple k;
	struct vnet_stats st;
	uint64_t flow;
	size_t i;

	snprintf(yaml, sizeof(yaml),
		 "name: lossy\n"
		 "seed: %llu\n"
		 "hosts:\n"
		 "  a: { address: 198.51.100.1, link: { loss: 30%% } }\n"
		 "  b: { address: 198.51.100.2 }\n",
		 (unsigned long long)seed);
	memset(out, 0, sizeof(*out));
	tnet_up(&n, yaml);
	rec_open(&a, host(&n, "a"), NULL, 0);
	rec_open(&b, host(&n, "b"), NULL, 7000);
	for (i = 0; i < LOSSY_N; i++)
		rec_send(&a, &to_b, (uint32_t)i);
	tnet_run(&n, S);
	for (i = 0; i < b.n; i++) {
		assert_true(b.tag[i] < LOSSY_N);
		out->got[b.tag[i]] = true;
	}
	out->lost = LOSSY_N - b.n;
	vnet_stats(n.v, &st);
	out->vnet_lost = st.drops[VNET_DROP_LINK_LOSS];
	assert_int_equal(vnet_link(n.v, "a", &up, &down), 0);
	link_get_stats(up, &ls);
	out->link_lost = ls.dropped[LINK_DROP_LOSS];

	th = &n.t->hosts[topo_host_find(n.t, "a")];
	assert_int_equal(topo_link_cfg(&th->link, th->name, n.t->seed, 0, &lc, err, sizeof(err)),
			 0);
	l = link_new(&lc, err, sizeof(err));
	assert_non_null(l);
	k = (struct flow_tuple){.src = a.local.addr,
				.dst = to_b.addr,
				.sport = a.local.port,
				.dport = to_b.port,
				.proto = 17};
	flow = flow_tuple_hash(&k);
	for (i = 0; i < LOSSY_N; i++) {
		struct link_pkt lp = {.flow = flow,
				      .seq = i,
				      .len = 14 + 20 + 8 + 4,
				      .proto = 17,
				      .sport = ntohs(a.local.port),
				      .dport = 7000};

		out->want[i] = link_decide(l, &lp, 0).drop == LINK_PASS;
	}
	link_free(l);
	tnet_down(&n);
}

static void test_lossy_link(void **state)
{
	struct lossy *r1 = calloc(3, sizeof(*r1)), *r2 = r1 + 1, *r3 = r1 + 2;

	(void)state;
	assert_non_null(r1);
	lossy_run(11, r1);
	assert_memory_equal(r1->got, r1->want, sizeof(r1->got));
	assert_true(r1->lost > LOSSY_N / 10 && r1->lost < LOSSY_N / 2); /* about 30% */
	assert_int_equal(r1->vnet_lost, r1->lost);
	assert_int_equal(r1->link_lost, r1->lost);
	lossy_run(11, r2); /* the same seed: the same drops */
	assert_memory_equal(r1->got, r2->got, sizeof(r1->got));
	lossy_run(12, r3); /* another: other drops, still link_decide's */
	assert_memory_equal(r3->got, r3->want, sizeof(r3->got));
	assert_memory_not_equal(r1->got, r3->got, sizeof(r1->got));
	free(r1);
}

/* --- a firewall --------------------------------------------------------------------- */

static const char *const walled = "name: fw\n"
				  "hosts:\n"
				  "  a: { address: 198.51.100.1 }\n"
				  "  b:\n"
				  "    address: 198.51.100.2\n"
				  "    firewall:\n"
				  "      default: drop\n"
				  "      rules:\n"
				  "        - { dir: in, proto: udp, port: 7000, action: accept }\n";

static void test_firewall(void **state)
{
	struct tnet n;
	struct rec a, b7000, b7001;
	struct dg_ep to_7000 = ep("198.51.100.2", 7000), to_7001 = ep("198.51.100.2", 7001);
	const struct fw_counters *fc;
	struct vnet_stats st;

	(void)state;
	tnet_up(&n, walled);
	rec_open(&a, host(&n, "a"), NULL, 0);
	rec_open(&b7000, host(&n, "b"), NULL, 7000);
	rec_open(&b7001, host(&n, "b"), NULL, 7001);
	b7000.echo = true;
	rec_send(&a, &to_7000, 1);
	rec_send(&a, &to_7001, 2);
	tnet_run(&n, S);
	assert_int_equal(b7000.n, 1);
	assert_int_equal(b7001.n, 0);
	assert_int_equal(a.n, 1); /* the answer: a reply of the flow rule 0 let in */
	fc = fw_counters(vnet_firewall(n.v, "b"));
	assert_int_equal(fc->rules[0].packets, 1);
	assert_int_equal(fc->established.packets, 1);
	assert_int_equal(fc->policy.packets, 1);
	/* out, not a reply: the default policy too */
	rec_send(&b7001, &a.local, 3);
	tnet_run(&n, S);
	assert_int_equal(a.n, 1);
	assert_int_equal(fc->policy.packets, 2);
	vnet_stats(n.v, &st);
	assert_int_equal(st.drops[VNET_DROP_FIREWALL], 2);
	tnet_down(&n);
}

/* --- duplication and corruption ---------------------------------------------------- */

/* Issue 5: a duplicated datagram arrives twice; a corrupted one carries a
 * checksum that no longer verifies, and the receiving stack drops it. */
static void test_dup_corrupt(void **state)
{
	struct tnet n;
	struct rec a, b, c;
	struct dg_ep to_b = ep("198.51.100.2", 7000), to_c = ep("198.51.100.3", 7000);
	struct vnet_stats st;

	(void)state;
	tnet_up(&n, "name: dc\n"
		    "hosts:\n"
		    "  a: { address: 198.51.100.1 }\n"
		    "  b: { address: 198.51.100.2, link: { dup: 100% } }\n"
		    "  c: { address: 198.51.100.3, link: { corrupt: 100% } }\n");
	rec_open(&a, host(&n, "a"), NULL, 0);
	rec_open(&b, host(&n, "b"), NULL, 7000);
	rec_open(&c, host(&n, "c"), NULL, 7000);
	rec_send(&a, &to_b, 1);
	rec_send(&a, &to_c, 2);
	tnet_run(&n, S);
	assert_int_equal(b.n, 2);
	assert_int_equal(b.tag[0], 1);
	assert_int_equal(b.tag[1], 1);
	assert_int_equal(c.n, 0);
	vnet_stats(n.v, &st);
	assert_int_equal(st.drops[VNET_DROP_CHECKSUM], 1);
	assert_int_equal(st.in_flight, 0);
	tnet_down(&n);
}

/* A network whose links cannot corrupt skips the receivers' checksum
 * check; a link handed out by vnet_link() may be changed to corrupt, and
 * from then on the check runs: the corrupted datagram is dropped. */
static void test_corrupt_on_change(void **state)
{
	struct tnet n;
	struct rec a, b;
	struct dg_ep to_b = ep("198.51.100.2", 7000);
	struct link *up, *down;
	struct vnet_stats st;
	char err[LINK_ERR_MAX];

	(void)state;
	tnet_up(&n, two_hosts);
	rec_open(&a, host(&n, "a"), NULL, 0);
	rec_open(&b, host(&n, "b"), NULL, 7000);
	rec_send(&a, &to_b, 1);
	tnet_run(&n, 100 * MS);
	assert_int_equal(b.n, 1);
	assert_int_equal(vnet_link(n.v, "b", &up, &down), 0);
	assert_int_equal(link_set(down, "corrupt", "100%", err, sizeof(err)), 0);
	rec_send(&a, &to_b, 2);
	tnet_run(&n, 100 * MS);
	assert_int_equal(b.n, 1);
	vnet_stats(n.v, &st);
	assert_int_equal(st.drops[VNET_DROP_CHECKSUM], 1);
	assert_int_equal(st.in_flight, 0);
	tnet_down(&n);
}

/* --- natbed-stund on a vnet host ----------------------------------------------------- */

/* natbed-stund's request logic (stund_handle, pure) behind the datagram
 * interface: four sockets, RFC 5780's two addresses x two ports. */
struct tstund {
	const struct dgram *d;
	struct stund_config cfg;
	struct stund_counters c;
	int sock[STUND_SOCKETS];
};

static void tstund_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		      natbed_time_t now)
{
	struct tstund *sv = arg;
	struct sockaddr_storage fss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&fss;
	uint8_t out[STUND_MAX_DGRAM];
	struct stund_reply reply;
	int i, in = -1;

	(void)now;
	for (i = 0; i < STUND_SOCKETS; i++)
		if (sv->sock[i] == sock)
			in = i;
	assert_true(in >= 0);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = from->addr;
	sin->sin_port = from->port;
	if (stund_handle(&sv->cfg, &sv->c, in, buf, len, &fss, out, sizeof(out), &reply) == 1) {
		const struct sockaddr_in *to = (const struct sockaddr_in *)&reply.to;
		struct dg_ep t = {to->sin_addr.s_addr, to->sin_port};
		int rc = sv->d->ops->send(sv->d->io, sv->sock[reply.sock], &t, out, reply.len);

		stund_count_sent(&sv->c, &reply, rc == 0);
	}
}

static void tstund_open(struct tstund *sv, const struct dgram *d, const char *primary,
			const char *alternate)
{
	int i;

	memset(sv, 0, sizeof(*sv));
	sv->d = d;
	sv->cfg.has_alternate = 1;
	for (i = 0; i < STUND_SOCKETS; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&sv->cfg.addr[i];
		struct dg_ep b = ep(i & STUND_ALT_IP_BIT ? alternate : primary,
				    i & STUND_ALT_PORT_BIT ? 3479 : 3478);

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = b.addr;
		sin->sin_port = b.port;
		sv->sock[i] = d->ops->open(d->io, &b, NULL, tstund_rx, sv);
		assert_true(sv->sock[i] >= 0);
	}
}

/* A Binding request (RFC 8489 §6.1), with CHANGE-REQUEST flags when
 * change is not 0 (RFC 5780 §7.2). */
static void binding_request(struct rec *c, const struct dg_ep *to, uint8_t txid0, uint32_t change)
{
	uint8_t buf[128], txid[STUN_TXID_LEN] = {txid0};
	struct stun_builder b;
	int len;

	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, txid,
			    false);
	if (change)
		stun_msg_build_change_request(&b, change);
	len = stun_msg_build_finish(&b);
	assert_true(len > 0);
	assert_int_equal(c->d->ops->send(c->d->io, c->sock, to, buf, (size_t)len), 0);
}

static const char *const stun_topo =
    "name: stun\n"
    "nats:\n"
    "  sym: { preset: symmetric, public: 203.0.113.14, inside: 192.168.14.0/24 }\n"
    "hosts:\n"
    "  stun: { addresses: [198.51.100.10, 198.51.100.11] }\n"
    "  client: { nat: sym, address: 192.168.14.10 }\n";

/* The reflexive address natbed-stund reports is the mapping the NAT
 * engine made: its public address and the random port it chose. An
 * answer from the alternate address and port (CHANGE-REQUEST) meets the
 * symmetric NAT's address-and-port-dependent filter. */
static void test_stund(void **state)
{
	struct tnet n;
	struct tstund sv;
	struct rec c;
	struct dg_ep to = ep("198.51.100.10", 3478), mapped;
	struct stun_msg msg;
	struct sockaddr_storage ss;
	const struct nat_counters *nc;

	(void)state;
	tnet_up(&n, stun_topo);
	tstund_open(&sv, host(&n, "stun"), "198.51.100.10", "198.51.100.11");
	rec_open(&c, host(&n, "client"), NULL, 40000);
	binding_request(&c, &to, 1, 0);
	tnet_run(&n, S);
	assert_int_equal(sv.c.success, 1);
	assert_int_equal(c.n, 1);
	assert_true(ep_is(&c.from[0], "198.51.100.10", 3478));
	assert_int_equal(stun_msg_parse(c.last, c.last_len, 0, &msg, NULL, 0), STUN_PARSE_OK);
	assert_int_equal(msg.cls, STUN_CLASS_SUCCESS);
	assert_int_equal(msg.txid[0], 1);
	assert_int_equal(stun_msg_get_addr(&msg, STUN_ATTR_XOR_MAPPED_ADDRESS, &ss), 0);
	mapped.addr = ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
	mapped.port = ((struct sockaddr_in *)&ss)->sin_port;
	assert_int_equal(mapped.addr, a4("203.0.113.14"));
	assert_int_not_equal(mapped.port, htons(40000)); /* random, not preserved */
	assert_one_mapping(&n, "sym", &mapped);

	binding_request(&c, &to, 2, STUN_CHANGE_IP | STUN_CHANGE_PORT);
	tnet_run(&n, S);
	assert_int_equal(sv.c.success, 2);
	assert_int_equal(c.n, 1);
	nc = nat_counters(vnet_nat(n.v, "sym"));
	assert_int_equal(nc->drops[NAT_DROP_FILTERED], 1);
	tnet_down(&n);
}

/* --- sockets ------------------------------------------------------------------------ */

static const char *const sockets_topo = "name: socks\n"
					"seed: 7\n"
					"hosts:\n"
					"  a: { addresses: [198.51.100.1, 198.51.100.2] }\n"
					"  b: { address: 198.51.100.3 }\n";

static void test_bind_rules(void **state)
{
	struct tnet n;
	struct rec r1, r2, r3, r4, x, b;
	const struct dgram *da;
	struct dg_ep to;
	struct vnet_host_stats hs;
	struct vnet_stats st;

	(void)state;
	tnet_up(&n, sockets_topo);
	da = host(&n, "a");
	rec_open(&r1, da, "198.51.100.1", 5000);
	assert_int_equal(rec_try_open(&x, da, NULL, 5000), -EADDRINUSE);
	rec_open(&r2, da, "198.51.100.2", 5000); /* another address */
	assert_int_equal(rec_try_open(&x, da, "198.51.100.1", 5000), -EADDRINUSE);
	rec_open(&r3, da, NULL, 6000);
	assert_true(ep_is(&r3.local, "198.51.100.1", 6000)); /* the host's first address */
	assert_int_equal(rec_try_open(&x, da, "198.51.100.2", 6000), -EADDRINUSE);
	assert_int_equal(rec_try_open(&x, da, "198.51.100.3", 6001), -EADDRNOTAVAIL);
	assert_int_equal(rec_try_open(&x, host(&n, "b"), NULL, 5000) >= 0, 1); /* another host */

	/* each arrives on the socket of its own address and port */
	rec_open(&b, host(&n, "b"), NULL, 0);
	to = ep("198.51.100.2", 5000);
	rec_send(&b, &to, 1);
	to = ep("198.51.100.1", 5000);
	rec_send(&b, &to, 2);
	to = ep("198.51.100.2", 6000); /* the wildcard socket */
	rec_send(&b, &to, 3);
	to = ep("198.51.100.1", 6001); /* nobody */
	rec_send(&b, &to, 4);
	tnet_run(&n, S);
	assert_int_equal(r2.n, 1);
	assert_int_equal(r2.tag[0], 1);
	assert_int_equal(r1.n, 1);
	assert_int_equal(r1.tag[0], 2);
	assert_int_equal(r3.n, 1);
	assert_int_equal(r3.tag[0], 3);
	vnet_host_stats(n.v, topo_host_find(n.t, "a"), &hs);
	assert_int_equal(hs.rx, 3);
	assert_int_equal(hs.port_closed, 1);
	vnet_stats(n.v, &st);
	assert_int_equal(st.drops[VNET_DROP_PORT_CLOSED], 1);

	/* a closed socket hears nothing and frees its port */
	rec_close(&r1);
	to = ep("198.51.100.1", 5000);
	rec_send(&b, &to, 5);
	tnet_run(&n, S);
	assert_int_equal(r1.n, 1);
	rec_open(&r1, da, NULL, 7000);
	assert_int_equal(rec_try_open(&x, da, "198.51.100.1", 5000) >= 0, 1);

	/* a socket is its host's: another host's dgram cannot send from it */
	assert_int_equal(host(&n, "b")->ops->send(host(&n, "b")->io, r2.sock, &to, "x", 1), -EBADF);
	assert_int_equal(da->ops->send(da->io, r2.sock, &to, "x", DG_MAX + 1), -EMSGSIZE);

	/* to its own address, a datagram stays in the host */
	to = ep("198.51.100.2", 5000);
	rec_open(&r4, da, NULL, 0);
	rec_send(&r4, &to, 6);
	tnet_run(&n, S);
	assert_int_equal(r2.n, 2);
	assert_int_equal(r2.tag[1], 6);
	vnet_stats(n.v, &st);
	assert_int_equal(st.local, 1);
	assert_int_equal(st.sockets, 7); /* r1-r4 and x on a, b and x on b */
	tnet_down(&n);
}

#define EPH_N 1000

/* Linux's ephemeral range, every port distinct, the same ports for the
 * same seed. */
static void test_ephemeral(void **state)
{
	static struct rec r[EPH_N];
	static uint16_t first[EPH_N];
	struct tnet n;
	size_t i, j, run;

	(void)state;
	for (run = 0; run < 2; run++) {
		tnet_up(&n, sockets_topo);
		for (i = 0; i < EPH_N; i++) {
			uint16_t p;

			rec_open(&r[i], host(&n, "a"), NULL, 0);
			p = ntohs(r[i].local.port);
			assert_in_range(p, VSOCK_EPHEMERAL_LO, VSOCK_EPHEMERAL_HI);
			if (run == 0)
				first[i] = p;
			else
				assert_int_equal(p, first[i]);
		}
		tnet_down(&n);
	}
	for (i = 0; i < EPH_N; i++)
		for (j = i + 1; j < EPH_N; j++)
			assert_int_not_equal(first[i], first[j]);
	/* another seed, other ports */
	tnet_up(&n, "name: socks\n"
		    "seed: 8\n"
		    "hosts:\n"
		    "  a: { addresses: [198.51.100.1, 198.51.100.2] }\n");
	rec_open(&r[0], host(&n, "a"), NULL, 0);
	assert_int_not_equal(ntohs(r[0].local.port), first[0]);
	tnet_down(&n);
}

static void test_limits(void **state)
{
	char err[TOPO_ERR_MAX];
	struct tnet n;
	struct rec r[4], x;
	struct vnet *v;
	size_t i;

	(void)state;
	tnet_up(&n, sockets_topo);
	v = vnet_new(
	    &(struct vnet_cfg){.topo = n.t, .sched = n.s, .max_sockets = 4, .max_packets = 1}, err,
	    sizeof(err));
	assert_non_null(v);
	for (i = 0; i < 4; i++)
		rec_open(&r[i], vnet_dgram(v, 0), NULL, 0);
	assert_int_equal(rec_try_open(&x, vnet_dgram(v, 0), NULL, 0), -EMFILE);
	assert_null(vnet_dgram(v, 2));
	vnet_free(v);
	tnet_down(&n);
}

/* --- speed ------------------------------------------------------------------------ */

#define SPEED_BATCH  1000
#define SPEED_ROUNDS 200

static void count_fn(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		     natbed_time_t now)
{
	(void)sock, (void)from, (void)buf, (void)len, (void)now;
	(*(uint64_t *)arg)++;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Datagrams per second of CPU through one NAT: a figure, printed, not
 * asserted (the machine is shared). */
static void test_speed(void **state)
{
	struct tnet n;
	const struct dgram *c;
	struct dg_ep any = {0}, local, to = ep("198.51.100.10", 7000);
	uint8_t payload[64] = {0};
	uint64_t got = 0;
	size_t i, k;
	int cs, ss;
	double t0, dt;

	(void)state;
	tnet_up(&n, one_nat);
	c = host(&n, "alice");
	ss = host(&n, "srv")->ops->open(host(&n, "srv")->io, &to, &local, count_fn, &got);
	assert_true(ss >= 0);
	cs = c->ops->open(c->io, &any, &local, count_fn, NULL);
	assert_true(cs >= 0);
	t0 = cpu_s();
	for (k = 0; k < SPEED_ROUNDS; k++) {
		for (i = 0; i < SPEED_BATCH; i++)
			assert_int_equal(c->ops->send(c->io, cs, &to, payload, sizeof(payload)), 0);
		tnet_run(&n, MS);
	}
	dt = cpu_s() - t0;
	assert_int_equal(got, (uint64_t)SPEED_ROUNDS * SPEED_BATCH);
	assert_int_equal(nat_counters(vnet_nat(n.v, "home"))->out_pkts, got);
	print_message("vnet: %llu datagrams of %zu bytes through one NAT in %.3f s of CPU: "
		      "%.0f datagrams/s\n",
		      (unsigned long long)got, sizeof(payload), dt,
		      dt > 0 ? (double)got / dt : 0.0);
	tnet_down(&n);
}

/* natbed-emu's gateway on the virtual network: a NAT with pcp: true
 * answers NAT-PMP on its inside gateway (the public address, RFC 6886
 * §3.2) down the host's link; one without answers nothing and the
 * datagram goes no further (never NAT'd out). */
static void test_gateway_pcp(void **state)
{
	static const char yaml[] =
	    "defaults: { link: { delay: 5ms } }\n"
	    "nats:\n"
	    "  pcp: { preset: symmetric, pcp: true, public: 203.0.113.10, inside: 10.1.0.0/24 }\n"
	    "  plain: { preset: symmetric, public: 203.0.113.20, inside: 10.2.0.0/24 }\n"
	    "hosts:\n"
	    "  alice: { nat: pcp, address: 10.1.0.10 }\n"
	    "  bob: { nat: plain, address: 10.2.0.10 }\n";
	const uint8_t req[2] = {0, 0}; /* NAT-PMP version 0, opcode 0 */
	struct dg_ep gw1 = ep("10.1.0.1", 5351), gw2 = ep("10.2.0.1", 5351);
	struct vnet_stats st;
	struct rec a, b;
	struct tnet n;

	(void)state;
	tnet_up(&n, yaml);
	rec_open(&a, host(&n, "alice"), NULL, 0);
	rec_open(&b, host(&n, "bob"), NULL, 0);
	assert_int_equal(a.d->ops->send(a.d->io, a.sock, &gw1, req, sizeof(req)), 0);
	assert_int_equal(b.d->ops->send(b.d->io, b.sock, &gw2, req, sizeof(req)), 0);
	tnet_run(&n, 100 * MS);
	assert_int_equal(a.n, 1);
	assert_true(ep_eq(&a.from[0], &gw1));
	assert_int_equal(a.at[0], 5 * MS); /* down the host's link only */
	assert_int_equal(a.last_len, 12);
	assert_int_equal(a.last[1], 128); /* the answer to opcode 0 */
	assert_memory_equal(&a.last[8], &(uint32_t){a4("203.0.113.10")}, 4);
	assert_int_equal(b.n, 0);
	assert_int_equal(vnet_pcp(n.v, "pcp")->requests, 1);
	assert_int_equal(nat_counters(vnet_nat(n.v, "plain"))->out_pkts, 0);
	vnet_stats(n.v, &st);
	assert_int_equal(st.drops[VNET_DROP_GATEWAY], 2);
	tnet_down(&n);
}

/* --- checkpoints: the network's state and its packets on their way ---------------- */

#define RT_TRACE_MAX 16384

/* What every receiver got, in order: "host:tag@ns " words. */
static char rt_trace[RT_TRACE_MAX];

static void rt_log(char who, uint32_t tag, natbed_time_t now)
{
	size_t n = strlen(rt_trace);

	assert_true(n + 40 < sizeof(rt_trace));
	snprintf(rt_trace + n, sizeof(rt_trace) - n, "%c:%u@%lld ", who, tag, (long long)now);
}

/* A host that sends tag 0, 1, ... to `to` every `every` ns, limit of them,
 * and logs what comes back; or (limit 0) echoes what it gets. */
struct rt_peer {
	char who;
	const struct dgram *d;
	int sock;
	struct dg_ep to;
	natbed_time_t every;
	uint32_t next, limit;
	uint64_t timer;
};

static void rt_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		  natbed_time_t now)
{
	struct rt_peer *p = arg;
	uint32_t tag = 0;

	memcpy(&tag, buf, len < 4 ? len : 4);
	rt_log(p->who, tag, now);
	if (!p->limit)
		assert_int_equal(dg_send(p->d, sock, from, buf, len), 0);
}

static void rt_tick(void *arg, natbed_time_t now)
{
	struct rt_peer *p = arg;

	(void)now;
	p->timer = 0;
	assert_int_equal(dg_send(p->d, p->sock, &p->to, &p->next, sizeof(p->next)), 0);
	if (++p->next < p->limit)
		p->timer = sched_after(p->d->s, p->every, rt_tick, p);
}

static const struct ckfn rt_fns[] = {CKFN(rt_rx), CKFN(rt_tick)};
static const struct ckfns rt_table = CKFNS(rt, rt_fns);
static const struct ckfns *const rt_tables[] = {&vnet_ckfns, &rt_table, &nat_ckfns, &fw_ckfns,
						&gate_ckfns};

static json_t *rt_peer_save(const struct rt_peer *p, struct ckw *w)
{
	return json_pack("{s:o,s:i,s:o,s:i,s:I,s:I,s:I,s:I,s:I,s:o}", "id", ckw_obj(w, p), "who",
			 p->who, "d", ckw_ref(w, p->d), "sock", p->sock, "to_addr",
			 (json_int_t)p->to.addr, "to_port", (json_int_t)p->to.port, "every",
			 (json_int_t)p->every, "next", (json_int_t)p->next, "limit",
			 (json_int_t)p->limit, "timer", ckw_timer(w, p->timer));
}

static void rt_peer_load(struct rt_peer *p, const json_t *j, struct ckr *r)
{
	memset(p, 0, sizeof(*p));
	p->who = (char)json_integer_value(json_object_get(j, "who"));
	p->sock = (int)json_integer_value(json_object_get(j, "sock"));
	p->to.addr = (uint32_t)json_integer_value(json_object_get(j, "to_addr"));
	p->to.port = (uint16_t)json_integer_value(json_object_get(j, "to_port"));
	p->every = json_integer_value(json_object_get(j, "every"));
	p->next = (uint32_t)json_integer_value(json_object_get(j, "next"));
	p->limit = (uint32_t)json_integer_value(json_object_get(j, "limit"));
	ckr_obj(r, json_object_get(j, "id"), p);
	ckr_ref(r, json_object_get(j, "d"), &p->d);
	ckr_timer(r, json_object_get(j, "timer"), &p->timer);
}

/* Jitter, loss, a rate limit with its queue and duplication: every part
 * of a link's state decides what the packets after the checkpoint meet;
 * a's datagrams cross a NAT whose mappings expire after 2 s (a's pauses
 * make it map anew) and a firewall tracking the flows. */
static const char *const rt_yaml =
    "name: rt\n"
    "seed: 7\n"
    "internet: { link: { delay: 5ms, jitter: 3ms } }\n"
    "nats:\n"
    "  home: { preset: port-restricted, public: 203.0.113.1, inside: 192.168.1.0/24,\n"
    "          timeout: 2s, link: { delay: 3ms } }\n"
    "hosts:\n"
    "  a: { address: 192.168.1.2, nat: home, link: { delay: 10ms, loss: 20%, dup: 10% },\n"
    "       firewall: { default: accept } }\n"
    "  b: { address: 198.51.100.2, link: { delay: 20ms, rate: 16kbit, queue-packets: 4 } }\n";

struct rt_world {
	struct tnet n;
	struct rt_peer a, b;
};

static void rt_start(struct rt_world *w)
{
	tnet_up(&w->n, rt_yaml);
	w->a = (struct rt_peer){.who = 'a',
				.d = host(&w->n, "a"),
				.to = ep("198.51.100.2", 7000),
				.every = 7 * MS,
				.limit = 150};
	w->b = (struct rt_peer){.who = 'b', .d = host(&w->n, "b")};
	w->a.sock = dg_open(w->a.d, &(struct dg_ep){0, 0}, NULL, rt_rx, &w->a);
	w->b.sock = dg_open(w->b.d, &(struct dg_ep){0, htons(7000)}, NULL, rt_rx, &w->b);
	assert_true(w->a.sock >= 0 && w->b.sock >= 0);
	w->a.timer = sched_after(w->n.s, 0, rt_tick, &w->a);
}

/* The virtual network and the two peers on it (ckround.h). */
static json_t *rt_parts_save(struct ckw *ck, void *arg)
{
	struct rt_world *w = arg;

	return json_pack("{s:o,s:o,s:o}", "vnet", vnet_ckpt_save(w->n.v, ck), "a",
			 rt_peer_save(&w->a, ck), "b", rt_peer_save(&w->b, ck));
}

static int rt_parts_load(struct ckr *ck, const json_t *j, void *arg)
{
	struct rt_world *w = arg;

	vnet_ckpt_fill(w->n.v, json_object_get(j, "vnet"), ck);
	rt_peer_load(&w->a, json_object_get(j, "a"), ck);
	rt_peer_load(&w->b, json_object_get(j, "b"), ck);
	return 0;
}

static json_t *rt_save(struct rt_world *w)
{
	char err[256];
	json_t *j = ckround_save(w->n.s, rt_tables, 5, rt_parts_save, w, err, sizeof(err));

	if (!j)
		fail_msg("save: %s", err);
	return j;
}

static int rt_load(struct rt_world *w, const json_t *j, char *err, size_t errlen)
{
	tnet_up(&w->n, rt_yaml);
	assert_int_equal(sched_pending(w->n.s), 0);
	clock_virtual_set(&w->n.vc, ckround_at(j));
	return ckround_load(j, &w->n.s, rt_tables, 5, rt_parts_load, w, err, errlen);
}

/* Saved at 400 ms with packets on every link, a rate queue filled and
 * timers armed, and built again in a new network: the restored run
 * writes the same state, and goes on to deliver the same datagrams at
 * the same times as the run that was never stopped. */
static void test_ckpt_round_trip(void **state)
{
	struct rt_world *w = calloc(2, sizeof(*w));
	char *through = malloc(RT_TRACE_MAX), err[256];
	size_t at_save;
	json_t *j, *again;
	struct vnet_stats st;

	(void)state;
	assert_non_null(w);
	rt_trace[0] = 0;
	rt_start(&w[0]);
	tnet_run(&w[0].n, 400 * MS);
	vnet_stats(w[0].n.v, &st);
	assert_true(st.in_flight > 3); /* packets on their way to be saved */
	j = rt_save(&w[0]);
	at_save = strlen(rt_trace);
	tnet_run(&w[0].n, 3 * S);
	strcpy(through, rt_trace);
	vnet_stats(w[0].n.v, &st);
	assert_true(st.drops[VNET_DROP_LINK_LOSS] > 10 && st.drops[VNET_DROP_LINK_QUEUE] > 0);
	assert_true(st.delivered > 100);

	rt_trace[at_save] = 0; /* the restored run goes on from the save */
	assert_int_equal(rt_load(&w[1], j, err, sizeof(err)), 0);
	again = rt_save(&w[1]);
	assert_true(json_equal(j, again));
	tnet_run(&w[1].n, 3 * S);
	assert_string_equal(rt_trace, through);
	/* the NAT's mapping expired after the save, in both */
	assert_int_equal(nat_counters(vnet_nat(w[0].n.v, "home"))->mappings_expired, 1);
	assert_int_equal(nat_counters(vnet_nat(w[1].n.v, "home"))->mappings_expired, 1);

	json_decref(again);
	json_decref(j);
	tnet_down(&w[0].n);
	tnet_down(&w[1].n);
	free(through);
	free(w);
}

/* A file that does not fit the network is refused: another number of
 * hosts, a socket listed open and free. */
static void test_ckpt_refused(void **state)
{
	struct rt_world *w = calloc(2, sizeof(*w));
	char err[256];
	json_t *j;

	(void)state;
	assert_non_null(w);
	rt_trace[0] = 0;
	rt_start(&w[0]);
	tnet_run(&w[0].n, 100 * MS);
	j = rt_save(&w[0]);
	json_array_remove(json_object_get(json_object_get(ckround_parts(j), "vnet"), "hosts"), 1);
	assert_int_equal(rt_load(&w[1], j, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a network of 2 hosts"));
	json_decref(j);
	tnet_down(&w[1].n); /* refused before anything was scheduled */

	j = rt_save(&w[0]);
	json_array_insert_new(
	    json_object_get(json_object_get(json_object_get(ckround_parts(j), "vnet"), "sockets"),
			    "free"),
	    0, json_pack("[ii]", w[0].a.sock, w[0].a.sock));
	assert_int_equal(rt_load(&w[1], j, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "open or free twice"));
	json_decref(j);
	tnet_down(&w[1].n);

	/* a packet whose IP header is said to start in its Ethernet one */
	j = rt_save(&w[0]);
	{
		json_t *q = json_object_get(j, "queue"), *ev;
		size_t i;
		bool edited = false;

		json_array_foreach(q, i, ev)
		{
			json_t *view = json_object_get(json_array_get(ev, 2), "view");

			if (view && !edited) {
				json_array_set_new(view, 1, json_integer(0));
				edited = true;
			}
		}
		assert_true(edited);
	}
	assert_int_equal(rt_load(&w[1], j, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "packet: its view does not fit its frame"));
	json_decref(j);
	tnet_down(&w[0].n);
	tnet_down(&w[1].n);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gateway_pcp),
	    cmocka_unit_test(test_delay),
	    cmocka_unit_test(test_numbering_on_change),
	    cmocka_unit_test(test_port_restricted),
	    cmocka_unit_test(test_cgnat_chain),
	    cmocka_unit_test(test_hairpin_on),
	    cmocka_unit_test(test_hairpin_off),
	    cmocka_unit_test(test_lossy_link),
	    cmocka_unit_test(test_firewall),
	    cmocka_unit_test(test_dup_corrupt),
	    cmocka_unit_test(test_corrupt_on_change),
	    cmocka_unit_test(test_stund),
	    cmocka_unit_test(test_bind_rules),
	    cmocka_unit_test(test_ephemeral),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_speed),
	    cmocka_unit_test(test_ckpt_round_trip),
	    cmocka_unit_test(test_ckpt_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
