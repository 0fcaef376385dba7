/* Unit tests for the rendezvous state machine (agents/rdv.c) in virtual
 * time on the fake network: registration, refresh and expiry, the
 * introduction of both sides in one moment, INTRODUCE retransmission,
 * unique try ids, LOOKUP answered and refused, a refused introduction
 * told to the other side (CANCEL), and every drop reason (truncated,
 * unknown, spoofed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cknet.h"
#include "natbed/ckpt.h"
#include "nbstun.h"
#include "rdv.h"

#define MS	     NATBED_NS_PER_MS
#define DELAY	     (10 * MS) /* one way */
#define STUBS_MAX_RX 1024

/* An agent played by the test: a socket that keeps what it receives and
 * acknowledges each INTRODUCE (or refuses it as busy) and each CANCEL
 * unless told not to. */
struct stub {
	const struct dgram *d;
	int sock;
	struct dg_ep ep, rdv;
	bool no_ack, refuse;
	int n;
	struct rdv_msg rx[STUBS_MAX_RX];
	natbed_time_t at[STUBS_MAX_RX];
	uint8_t next_txid;
};

struct env {
	struct cknet *net;
	struct rdv *r;
	struct dg_ep rdv_ep;
	struct stub alice, bob, mallory;
};

static void stub_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		      natbed_time_t now)
{
	struct stub *s = arg;

	if (s->n == STUBS_MAX_RX)
		return;
	struct rdv_msg *m = &s->rx[s->n], ack = {.kind = RDV_INTRODUCE_OK, .attrs = RDV_A_TRY};
	uint8_t out[DG_MAX];
	int n;

	assert_int_equal(rdvmsg_parse(buf, len, m), RDV_PARSE_OK);
	s->at[s->n++] = now;
	if ((m->kind != RDV_INTRODUCE && m->kind != RDV_CANCEL) || s->no_ack)
		return;
	if (m->kind == RDV_CANCEL) {
		ack.kind = RDV_CANCEL_OK;
	} else if (s->refuse) {
		ack.kind = RDV_INTRODUCE_ERR;
		ack.attrs |= RDV_A_ERROR;
		ack.error_code = 400;
		strcpy(ack.reason, "busy");
	}
	ack.try_id = m->try_id;
	memcpy(ack.txid, m->txid, STUN_TXID_LEN);
	n = rdvmsg_build(&ack, out, sizeof(out));
	assert_true(n > 0);
	dg_send(s->d, s->sock, &s->rdv, out, (size_t)n);
}

static void stub_init(struct env *e, struct stub *s, const char *ip)
{
	struct dg_ep any = {0};

	s->d = cknet_host(e->net, ip);
	assert_non_null(s->d);
	s->sock = dg_open(s->d, &any, &s->ep, stub_recv, s);
	assert_true(s->sock >= 0);
	s->next_txid = (uint8_t)(s->ep.addr >> 24);
	s->rdv = e->rdv_ep;
}

static void stub_send(struct env *e, struct stub *s, struct rdv_msg *m)
{
	uint8_t buf[DG_MAX];
	int n;

	if (!m->txid[0] && !m->txid[11]) {
		m->txid[0] = s->next_txid++;
		m->txid[11] = 0x5A;
	}
	n = rdvmsg_build(m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(dg_send(s->d, s->sock, &e->rdv_ep, buf, (size_t)n), 0);
}

static void do_register(struct env *e, struct stub *s, const char *name, uint32_t lifetime)
{
	struct rdv_msg m = {.kind = RDV_REGISTER, .attrs = RDV_A_NAME | RDV_A_HOST | RDV_A_SRFLX};

	snprintf(m.name, sizeof(m.name), "%s", name);
	m.cand.host = s->ep;
	m.cand.srflx = s->ep;
	m.cand.srflx.port = htons(ntohs(s->ep.port) + 1000);
	if (lifetime != RDV_LIFETIME_DEFAULT_S) {
		m.attrs |= RDV_A_LIFETIME;
		m.lifetime_s = lifetime;
	}
	stub_send(e, s, &m);
}

static void do_connect(struct env *e, struct stub *s, const char *name, const char *peer,
		       uint8_t txid0)
{
	struct rdv_msg m = {.kind = RDV_CONNECT, .attrs = RDV_A_NAME | RDV_A_PEER | RDV_A_METHOD};

	snprintf(m.name, sizeof(m.name), "%s", name);
	snprintf(m.peer, sizeof(m.peer), "%s", peer);
	strcpy(m.method, "punch");
	m.txid[0] = txid0;
	m.txid[11] = 0xC0;
	stub_send(e, s, &m);
}

static void do_lookup(struct env *e, struct stub *s, const char *name, const char *peer)
{
	struct rdv_msg m = {.kind = RDV_LOOKUP, .attrs = RDV_A_NAME | RDV_A_PEER};

	snprintf(m.name, sizeof(m.name), "%s", name);
	snprintf(m.peer, sizeof(m.peer), "%s", peer);
	stub_send(e, s, &m);
}

/* The last message of kind k s received, or NULL. */
static const struct rdv_msg *last(const struct stub *s, enum rdv_kind k)
{
	for (int i = s->n - 1; i >= 0; i--)
		if (s->rx[i].kind == k)
			return &s->rx[i];
	return NULL;
}

/* When s first received a message of kind k. */
static natbed_time_t first_at(const struct stub *s, enum rdv_kind k)
{
	for (int i = 0; i < s->n; i++)
		if (s->rx[i].kind == k)
			return s->at[i];
	fail();
	return -1;
}

static int count(const struct stub *s, enum rdv_kind k)
{
	int c = 0;

	for (int i = 0; i < s->n; i++)
		c += s->rx[i].kind == k;
	return c;
}

static struct rdv_counters counters(struct env *e)
{
	struct rdv_counters c;

	rdv_counters(e->r, &c);
	return c;
}

static int setup_cfg(void **state, const struct rdv_config *cfg)
{
	struct env *e = calloc(1, sizeof(*e));
	const struct dgram *d;

	e->net = cknet_new(DELAY, 7);
	d = cknet_host(e->net, "198.51.100.5");
	assert_int_equal(rdv_new(d, cfg, &e->r), 0);
	e->rdv_ep = rdv_local(e->r);
	assert_int_equal(e->rdv_ep.port, htons(RDV_DEFAULT_PORT));
	stub_init(e, &e->alice, "203.0.113.1");
	stub_init(e, &e->bob, "203.0.113.2");
	stub_init(e, &e->mallory, "203.0.113.66");
	*state = e;
	return 0;
}

static int setup(void **state)
{
	struct rdv_config cfg = {.listen = cknet_ep("198.51.100.5", RDV_DEFAULT_PORT)};

	return setup_cfg(state, &cfg);
}

static int teardown(void **state)
{
	struct env *e = *state;

	rdv_free(e->r);
	cknet_free(e->net);
	free(e);
	return 0;
}

/* alice and bob registered, 100 ms in */
static void both_registered(struct env *e)
{
	do_register(e, &e->alice, "alice", RDV_LIFETIME_DEFAULT_S);
	do_register(e, &e->bob, "bob", RDV_LIFETIME_DEFAULT_S);
	cknet_run_for(e->net, 100 * MS);
	assert_non_null(last(&e->alice, RDV_REGISTER_OK));
	assert_non_null(last(&e->bob, RDV_REGISTER_OK));
}

static void register_answers_lifetime_and_mapped(void **state)
{
	struct env *e = *state;
	const struct rdv_msg *ok;

	do_register(e, &e->alice, "alice", 20);
	cknet_run_for(e->net, 100 * MS);
	ok = last(&e->alice, RDV_REGISTER_OK);
	assert_non_null(ok);
	assert_int_equal(ok->lifetime_s, 20);
	assert_true(dg_ep_eq(&ok->mapped, &e->alice.ep));
	/* the answer came back one round trip later */
	assert_int_equal(e->alice.at[0], 2 * DELAY);
	assert_int_equal(counters(e).agents, 1);
	assert_int_equal(counters(e).registered, 1);
	/* a lifetime above the maximum is cut to it */
	do_register(e, &e->bob, "bob", 100000);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(last(&e->bob, RDV_REGISTER_OK)->lifetime_s, RDV_LIFETIME_MAX_S);
}

static void connect_introduces_both_at_once(void **state)
{
	struct env *e = *state;
	const struct rdv_msg *ia, *ib, *ok;
	natbed_time_t sent;

	both_registered(e);
	sent = sched_now(cknet_sched(e->net));
	do_connect(e, &e->alice, "alice", "bob", 1);
	cknet_run_for(e->net, 100 * MS);
	ok = last(&e->alice, RDV_CONNECT_OK);
	ia = last(&e->alice, RDV_INTRODUCE);
	ib = last(&e->bob, RDV_INTRODUCE);
	assert_non_null(ok);
	assert_non_null(ia);
	assert_non_null(ib);
	assert_string_equal(ok->peer, "bob");
	/* one try, both told, in the same moment (same one-way delay) */
	assert_true(ok->try_id == ia->try_id && ia->try_id == ib->try_id);
	assert_int_equal(first_at(&e->alice, RDV_INTRODUCE), sent + 2 * DELAY);
	assert_int_equal(first_at(&e->bob, RDV_INTRODUCE), sent + 2 * DELAY);
	assert_int_equal(first_at(&e->alice, RDV_CONNECT_OK), sent + 2 * DELAY);
	assert_int_equal(ia->role, TRAV_INITIATOR);
	assert_int_equal(ib->role, TRAV_RESPONDER);
	assert_string_equal(ia->peer, "bob");
	assert_string_equal(ib->peer, "alice");
	assert_string_equal(ia->method, "punch");
	assert_string_equal(ib->method, "punch");
	/* each gets the other's candidates */
	assert_true(dg_ep_eq(&ia->cand.host, &e->bob.ep));
	assert_true(dg_ep_eq(&ib->cand.host, &e->alice.ep));
	assert_int_equal(ntohs(ib->cand.srflx.port), ntohs(e->alice.ep.port) + 1000);
	assert_int_equal(ia->start_ms, RDV_START_DELAY_MS);
	assert_int_equal(ib->start_ms, RDV_START_DELAY_MS);
	assert_int_equal(counters(e).connects, 1);
	assert_int_equal(counters(e).introductions, 2);
	/* both acknowledged at once: nothing sent again */
	assert_int_equal(counters(e).intro_acked, 2);
	assert_int_equal(counters(e).intro_retransmits, 0);
	assert_int_equal(count(&e->bob, RDV_INTRODUCE), 1);
}

/* Unacknowledged INTRODUCEs are sent again every RTO until the start,
 * each with the time left; an acknowledged side gets no more. */
static void introduce_retransmitted_until_acked(void **state)
{
	struct env *e = *state;
	struct rdv_msg ack = {.kind = RDV_INTRODUCE_OK, .attrs = RDV_A_TRY};
	const struct rdv_msg *ib;
	int nb;

	e->alice.no_ack = e->bob.no_ack = true;
	both_registered(e);
	do_connect(e, &e->alice, "alice", "bob", 1);
	cknet_run_for(e->net, 30 * MS);
	/* alice acknowledges, bob does not */
	ack.try_id = last(&e->alice, RDV_INTRODUCE)->try_id;
	memcpy(ack.txid, last(&e->alice, RDV_INTRODUCE)->txid, STUN_TXID_LEN);
	stub_send(e, &e->alice, &ack);
	cknet_run_for(e->net, 400 * MS);
	assert_int_equal(count(&e->alice, RDV_INTRODUCE), 1);
	nb = count(&e->bob, RDV_INTRODUCE);
	/* sent at 0, 50, 100, 150 ms: the start is at 200 */
	assert_int_equal(nb, RDV_START_DELAY_MS / RDV_INTRO_RTO_MS);
	ib = last(&e->bob, RDV_INTRODUCE);
	assert_int_equal(ib->start_ms, RDV_START_DELAY_MS - (nb - 1) * RDV_INTRO_RTO_MS);
	/* the same transaction each time */
	assert_memory_equal(ib->txid, e->bob.rx[e->bob.n - nb].txid, STUN_TXID_LEN);
	assert_int_equal(counters(e).intro_acked, 1);
	assert_int_equal(counters(e).intro_unacked, 1);
	assert_int_equal(counters(e).intro_retransmits, nb - 1);
	/* an ack of a retransmission after the first changes nothing */
	memcpy(ack.txid, ib->txid, STUN_TXID_LEN);
	stub_send(e, &e->bob, &ack);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(counters(e).drops[RDV_DROP_WRONG_TXN], 0);
}

/* A side that refuses its INTRODUCE (bob, busy): the other is told with
 * CANCEL (the refusal's code and reason, the refuser's name), sent again
 * every RTO until it acknowledges, and gets no more INTRODUCE. */
static void refusal_cancels_the_other_side(void **state)
{
	struct env *e = *state;
	struct rdv_msg ack = {.kind = RDV_CANCEL_OK, .attrs = RDV_A_TRY};
	const struct rdv_msg *c;
	natbed_time_t sent;

	e->bob.refuse = true;
	e->alice.no_ack = true;
	both_registered(e);
	sent = sched_now(cknet_sched(e->net));
	do_connect(e, &e->alice, "alice", "bob", 1);
	cknet_run_for(e->net, 100 * MS);
	c = last(&e->alice, RDV_CANCEL);
	assert_non_null(c);
	assert_true(c->try_id == last(&e->alice, RDV_INTRODUCE)->try_id);
	assert_int_equal(c->error_code, 400);
	assert_string_equal(c->reason, "busy");
	assert_string_equal(c->peer, "bob");
	/* CONNECT 10, INTRODUCE 10, the refusal 10, CANCEL 10; again at 90 */
	assert_int_equal(first_at(&e->alice, RDV_CANCEL), sent + 4 * DELAY);
	assert_int_equal(count(&e->alice, RDV_CANCEL), 2);
	assert_memory_equal(e->alice.rx[e->alice.n - 1].txid, c->txid, STUN_TXID_LEN);
	/* alice never acknowledged her INTRODUCE: it was not sent again */
	assert_int_equal(count(&e->alice, RDV_INTRODUCE), 1);
	ack.try_id = c->try_id;
	memcpy(ack.txid, c->txid, STUN_TXID_LEN);
	stub_send(e, &e->alice, &ack);
	cknet_run_for(e->net, 3000 * MS);
	assert_int_equal(count(&e->alice, RDV_CANCEL), 2);
	assert_int_equal(counters(e).intro_refused, 1);
	assert_int_equal(counters(e).cancels, 1);
	assert_int_equal(counters(e).cancel_retransmits, 1);
	assert_int_equal(counters(e).cancel_acked, 1);
	assert_int_equal(counters(e).drops[RDV_DROP_WRONG_TXN], 0);
	/* acknowledged at once by an agent that answers: one CANCEL */
	e->alice.no_ack = false;
	do_connect(e, &e->alice, "alice", "bob", 2);
	cknet_run_for(e->net, 3000 * MS);
	assert_int_equal(count(&e->alice, RDV_CANCEL), 3);
	assert_int_equal(counters(e).cancels, 2);
	assert_int_equal(counters(e).cancel_acked, 2);
	/* an answer from elsewhere, or to no CANCEL, changes nothing */
	stub_send(e, &e->mallory, &ack);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(counters(e).drops[RDV_DROP_WRONG_TXN], 1);
	assert_int_equal(counters(e).cancel_acked, 2);
}

static void start_delay_configurable(void **state)
{
	struct env *e;
	struct rdv_config cfg = {.listen = cknet_ep("198.51.100.5", RDV_DEFAULT_PORT),
				 .start_delay_ns = 500 * MS};

	setup_cfg((void **)&e, &cfg);
	both_registered(e);
	do_connect(e, &e->alice, "alice", "bob", 1);
	cknet_run_for(e->net, 30 * MS);
	assert_int_equal(last(&e->bob, RDV_INTRODUCE)->start_ms, 500);
	teardown((void **)&e);
}

static void try_ids_unique(void **state)
{
	struct env *e = *state;
	uint64_t ids[40];

	both_registered(e);
	for (int i = 0; i < 40; i++) {
		do_connect(e, i % 2 ? &e->bob : &e->alice, i % 2 ? "bob" : "alice",
			   i % 2 ? "alice" : "bob", (uint8_t)(i + 1));
		cknet_run_for(e->net, 30 * MS);
		ids[i] = last(i % 2 ? &e->bob : &e->alice, RDV_CONNECT_OK)->try_id;
		assert_true(ids[i] != 0);
		for (int j = 0; j < i; j++)
			assert_true(ids[i] != ids[j]);
	}
	assert_int_equal(counters(e).connects, 40);
}

/* A retransmitted CONNECT (same transaction) gets the same answer and no
 * second introduction. */
static void connect_retransmission_same_answer(void **state)
{
	struct env *e = *state;

	both_registered(e);
	do_connect(e, &e->alice, "alice", "bob", 9);
	do_connect(e, &e->alice, "alice", "bob", 9);
	cknet_run_for(e->net, 30 * MS);
	assert_int_equal(count(&e->alice, RDV_CONNECT_OK), 2);
	assert_true(e->alice.rx[e->alice.n - 1].try_id == last(&e->alice, RDV_INTRODUCE)->try_id);
	assert_int_equal(count(&e->bob, RDV_INTRODUCE), 1);
	assert_int_equal(counters(e).connects, 1);
}

static void connect_errors(void **state)
{
	struct env *e = *state;
	const struct rdv_msg *err;

	both_registered(e);
	do_connect(e, &e->alice, "alice", "carol", 1);
	cknet_run_for(e->net, 30 * MS);
	err = last(&e->alice, RDV_CONNECT_ERR);
	assert_non_null(err);
	assert_int_equal(err->error_code, 400);
	assert_string_equal(err->reason, "peer not registered");
	assert_string_equal(err->peer, "carol");
	do_connect(e, &e->alice, "alice", "alice", 2);
	cknet_run_for(e->net, 30 * MS);
	assert_string_equal(last(&e->alice, RDV_CONNECT_ERR)->reason, "peer is the asker");
	assert_int_equal(counters(e).connect_errors, 2);
	assert_int_equal(count(&e->bob, RDV_INTRODUCE), 0);
}

/* LOOKUP answers the peer's registered candidates and NAT; an unknown
 * peer or the asker itself is refused; only a registered agent asks,
 * under its own name; nobody is introduced. */
static void lookup_answered_and_refused(void **state)
{
	struct env *e = *state;
	struct rdv_msg m = {.kind = RDV_REGISTER,
			    .attrs = RDV_A_NAME | RDV_A_HOST | RDV_A_SRFLX | RDV_A_NAT};
	const struct rdv_msg *ok, *err;

	do_register(e, &e->alice, "alice", RDV_LIFETIME_DEFAULT_S);
	strcpy(m.name, "bob");
	m.cand.host = e->bob.ep;
	m.cand.srflx = cknet_ep("203.0.113.200", 61000);
	m.cand.nat = (struct natinfo){NI_MAP_APDM, NI_FILTER_APDF, NI_PORTS_RANDOM, 0, 0, 0};
	stub_send(e, &e->bob, &m);
	cknet_run_for(e->net, 100 * MS);
	do_lookup(e, &e->alice, "alice", "bob");
	cknet_run_for(e->net, 30 * MS);
	ok = last(&e->alice, RDV_LOOKUP_OK);
	assert_non_null(ok);
	assert_string_equal(ok->peer, "bob");
	assert_true(dg_ep_eq(&ok->cand.host, &e->bob.ep));
	assert_true(dg_ep_eq(&ok->cand.srflx, &m.cand.srflx));
	assert_int_equal(ok->attrs & RDV_A_RELAY, 0);
	assert_int_equal(ok->cand.nat.map, NI_MAP_APDM);
	assert_int_equal(ok->cand.nat.ports, NI_PORTS_RANDOM);
	assert_int_equal(ok->cand.nat.hairpin, 0);
	/* a peer that never sent NAT is answered with it unknown */
	do_lookup(e, &e->bob, "bob", "alice");
	cknet_run_for(e->net, 30 * MS);
	ok = last(&e->bob, RDV_LOOKUP_OK);
	assert_non_null(ok);
	assert_int_equal(ok->cand.nat.map, NI_MAP_UNKNOWN);
	assert_int_equal(ok->cand.nat.hairpin, -1);
	do_lookup(e, &e->alice, "alice", "carol");
	cknet_run_for(e->net, 30 * MS);
	err = last(&e->alice, RDV_LOOKUP_ERR);
	assert_non_null(err);
	assert_int_equal(err->error_code, 400);
	assert_string_equal(err->reason, "peer not registered");
	assert_string_equal(err->peer, "carol");
	do_lookup(e, &e->alice, "alice", "alice");
	cknet_run_for(e->net, 30 * MS);
	assert_string_equal(last(&e->alice, RDV_LOOKUP_ERR)->reason, "peer is the asker");
	/* spoofed: unregistered, another's name */
	do_lookup(e, &e->mallory, "mallory", "bob");
	do_lookup(e, &e->mallory, "alice", "bob");
	do_lookup(e, &e->alice, "bob", "alice");
	cknet_run_for(e->net, 30 * MS);
	assert_int_equal(e->mallory.n, 0);
	assert_int_equal(counters(e).lookups, 2);
	assert_int_equal(counters(e).lookup_errors, 2);
	assert_int_equal(counters(e).drops[RDV_DROP_UNREGISTERED], 2);
	assert_int_equal(counters(e).drops[RDV_DROP_NAME_MISMATCH], 1);
	assert_int_equal(count(&e->alice, RDV_LOOKUP_OK) + count(&e->alice, RDV_LOOKUP_ERR), 3);
	assert_int_equal(count(&e->bob, RDV_INTRODUCE) + count(&e->alice, RDV_INTRODUCE), 0);
	assert_int_equal(counters(e).connects, 0);
}

static void refresh_keeps_expiry_removes(void **state)
{
	struct env *e = *state;

	do_register(e, &e->alice, "alice", 5);
	do_register(e, &e->bob, "bob", 5);
	/* alice refreshes every 3 s, bob does not */
	for (int i = 0; i < 3; i++) {
		cknet_run_for(e->net, 3000 * MS);
		do_register(e, &e->alice, "alice", 5);
	}
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(counters(e).expired, 1);
	assert_int_equal(counters(e).agents, 1);
	assert_int_equal(counters(e).refreshed, 3);
	do_connect(e, &e->alice, "alice", "bob", 1);
	cknet_run_for(e->net, 30 * MS);
	assert_string_equal(last(&e->alice, RDV_CONNECT_ERR)->reason, "peer not registered");
	/* bob may have his name back, and from elsewhere now it is free */
	do_register(e, &e->mallory, "bob", 5);
	cknet_run_for(e->net, 30 * MS);
	assert_non_null(last(&e->mallory, RDV_REGISTER_OK));
	/* a shorter lifetime on refresh takes effect */
	do_register(e, &e->alice, "alice", 1);
	cknet_run_for(e->net, 1100 * MS);
	assert_int_equal(counters(e).expired, 2);
}

static void lifetime_zero_unregisters(void **state)
{
	struct env *e = *state;

	both_registered(e);
	do_register(e, &e->bob, "bob", 0);
	cknet_run_for(e->net, 30 * MS);
	assert_int_equal(last(&e->bob, RDV_REGISTER_OK)->lifetime_s, 0);
	assert_int_equal(counters(e).agents, 1);
	assert_int_equal(counters(e).unregistered, 1);
	/* one address, one agent: a new name replaces the old */
	do_register(e, &e->alice, "alice2", 30);
	cknet_run_for(e->net, 30 * MS);
	assert_int_equal(counters(e).agents, 1);
	assert_int_equal(counters(e).unregistered, 2);
}

/* Another agent's name from another address: counted, ignored, and the
 * introduction still goes to the name's own address. */
static void spoofed_register_ignored(void **state)
{
	struct env *e = *state;

	both_registered(e);
	do_register(e, &e->mallory, "bob", 30);
	cknet_run_for(e->net, 30 * MS);
	assert_int_equal(e->mallory.n, 0);
	assert_int_equal(counters(e).drops[RDV_DROP_NAME_TAKEN], 1);
	do_connect(e, &e->alice, "alice", "bob", 1);
	cknet_run_for(e->net, 30 * MS);
	assert_non_null(last(&e->bob, RDV_INTRODUCE));
	assert_int_equal(e->mallory.n, 0);
}

static void spoofed_connect_ignored(void **state)
{
	struct env *e = *state;

	both_registered(e);
	/* from an address not registered */
	do_connect(e, &e->mallory, "mallory", "bob", 1);
	/* from bob's... no: from mallory, claiming alice's name */
	do_connect(e, &e->mallory, "alice", "bob", 2);
	/* registered, claiming another name */
	do_connect(e, &e->alice, "bob", "alice", 3);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(counters(e).drops[RDV_DROP_UNREGISTERED], 2);
	assert_int_equal(counters(e).drops[RDV_DROP_NAME_MISMATCH], 1);
	assert_int_equal(count(&e->bob, RDV_INTRODUCE), 0);
	assert_int_equal(e->mallory.n, 0);
	assert_int_equal(counters(e).connects, 0);
}

/* An INTRODUCE answer with a wrong transaction, a wrong try or from the
 * wrong address is not taken for an acknowledgement. */
static void wrong_transaction_ignored(void **state)
{
	struct env *e = *state;
	struct rdv_msg ack = {.kind = RDV_INTRODUCE_OK, .attrs = RDV_A_TRY};
	const struct rdv_msg *ib;

	e->alice.no_ack = e->bob.no_ack = true;
	both_registered(e);
	do_connect(e, &e->alice, "alice", "bob", 1);
	cknet_run_for(e->net, 30 * MS);
	ib = last(&e->bob, RDV_INTRODUCE);
	ack.try_id = ib->try_id;
	memcpy(ack.txid, ib->txid, STUN_TXID_LEN);
	ack.txid[5] ^= 1;
	stub_send(e, &e->bob, &ack); /* wrong transaction */
	ack.txid[5] ^= 1;
	stub_send(e, &e->mallory, &ack); /* right one, wrong address */
	ack.try_id++;
	stub_send(e, &e->bob, &ack); /* wrong try */
	cknet_run_for(e->net, 400 * MS);
	assert_int_equal(counters(e).drops[RDV_DROP_WRONG_TXN], 3);
	assert_int_equal(counters(e).intro_acked, 0);
	assert_int_equal(counters(e).intro_unacked, 2);
}

static void truncated_and_unknown_ignored(void **state)
{
	struct env *e = *state;
	struct rdv_msg m = {.kind = RDV_REGISTER, .attrs = RDV_A_NAME | RDV_A_HOST};
	uint8_t buf[DG_MAX], bind[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42};
	int n;

	strcpy(m.name, "alice");
	m.cand.host = e->alice.ep;
	m.txid[0] = 1;
	n = rdvmsg_build(&m, buf, sizeof(buf));
	dg_send(e->alice.d, e->alice.sock, &e->rdv_ep, buf, (size_t)n - 4);
	dg_send(e->alice.d, e->alice.sock, &e->rdv_ep, buf, 7);
	dg_send(e->alice.d, e->alice.sock, &e->rdv_ep, bind, sizeof(bind));
	dg_send(e->alice.d, e->alice.sock, &e->rdv_ep, "hello, this is not STUN!", 24);
	m.kind = RDV_REGISTER_OK;
	m.attrs = RDV_A_LIFETIME | RDV_A_MAPPED;
	m.mapped = e->alice.ep;
	n = rdvmsg_build(&m, buf, sizeof(buf));
	dg_send(e->alice.d, e->alice.sock, &e->rdv_ep, buf, (size_t)n);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(counters(e).datagrams, 5);
	assert_int_equal(counters(e).drops[RDV_PARSE_TRUNCATED], 2);
	assert_int_equal(counters(e).drops[RDV_PARSE_OTHER], 1);
	assert_int_equal(counters(e).drops[RDV_PARSE_NOT_STUN], 1);
	assert_int_equal(counters(e).drops[RDV_DROP_UNEXPECTED], 1);
	assert_int_equal(counters(e).agents, 0);
	assert_int_equal(e->alice.n, 0);
	for (int d = 1; d < RDV_DROP_COUNT; d++)
		assert_string_not_equal(rdv_drop_name((enum rdv_drop)d), "unknown");
}

static void full_answers_508(void **state)
{
	struct env *e;
	struct rdv_config cfg = {.listen = cknet_ep("198.51.100.5", RDV_DEFAULT_PORT),
				 .max_agents = 1};

	setup_cfg((void **)&e, &cfg);
	do_register(e, &e->alice, "alice", 30);
	do_register(e, &e->bob, "bob", 30);
	cknet_run_for(e->net, 100 * MS);
	assert_non_null(last(&e->alice, RDV_REGISTER_OK));
	assert_int_equal(last(&e->bob, RDV_REGISTER_ERR)->error_code, 508);
	assert_int_equal(counters(e).drops[RDV_DROP_FULL], 1);
	teardown((void **)&e);
}

/* Many agents: the tables grow, every name is found. */
static void many_agents(void **state)
{
	struct env *e = *state;
	struct rdv_msg m = {.kind = RDV_REGISTER, .attrs = RDV_A_NAME | RDV_A_HOST};
	uint8_t buf[DG_MAX];
	struct dg_ep from = cknet_ep("10.0.0.1", 1);
	int n;

	for (int i = 0; i < 5000; i++) {
		snprintf(m.name, sizeof(m.name), "agent%d", i);
		from.port = htons((uint16_t)(1 + i));
		m.cand.host = from;
		m.txid[0] = (uint8_t)i;
		n = rdvmsg_build(&m, buf, sizeof(buf));
		cknet_inject(e->net, &from, &e->rdv_ep, buf, (size_t)n);
	}
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(counters(e).agents, 5000);
	do_register(e, &e->alice, "alice", 30);
	cknet_run_for(e->net, 100 * MS);
	do_connect(e, &e->alice, "alice", "agent4321", 1);
	cknet_run_for(e->net, 100 * MS);
	assert_non_null(last(&e->alice, RDV_INTRODUCE));
	assert_int_equal(ntohs(last(&e->alice, RDV_INTRODUCE)->cand.host.port), 4322);
}

/* --- checkpoints (natbed/ckpt.h), on tests/support/cknet ----------------- */

#define CK_RDV	  "198.51.100.1"
#define CK_AGENTS 100 /* past 64: the tables grow, chains are long */

/* An agent on the checkpointable network: acknowledges INTRODUCE and
 * CANCEL, or refuses INTRODUCE as busy. */
struct ckstub {
	const struct dgram *d;
	int sock;
	struct dg_ep rdv;
	bool refuse;
	int got;
};

static void ckstub_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
			size_t len, natbed_time_t now)
{
	struct ckstub *s = arg;
	struct rdv_msg m, ack = {.kind = RDV_INTRODUCE_OK, .attrs = RDV_A_TRY};
	uint8_t out[DG_MAX];
	int n;

	(void)sock, (void)from, (void)now;
	assert_int_equal(rdvmsg_parse(buf, len, &m), RDV_PARSE_OK);
	s->got++;
	if (m.kind != RDV_INTRODUCE && m.kind != RDV_CANCEL)
		return;
	if (m.kind == RDV_CANCEL) {
		ack.kind = RDV_CANCEL_OK;
	} else if (s->refuse) {
		ack.kind = RDV_INTRODUCE_ERR;
		ack.attrs |= RDV_A_ERROR;
		ack.error_code = 486;
		strcpy(ack.reason, "busy");
	}
	ack.try_id = m.try_id;
	memcpy(ack.txid, m.txid, STUN_TXID_LEN);
	n = rdvmsg_build(&ack, out, sizeof(out));
	assert_true(n > 0);
	dg_send(s->d, s->sock, &s->rdv, out, (size_t)n);
}

static const struct ckfn ck_test_fns[] = {CKFN(ckstub_recv)};
static const struct ckfns ck_test_ckfns = CKFNS(test, ck_test_fns);
static const struct ckfns *const ck_tables[] = {&cknet_ckfns, &rdv_ckfns, &ck_test_ckfns};

struct ckworld {
	struct cknet *n;
	struct rdv *r;
	struct ckstub st[3]; /* alice, bob, carol (refuses) */
	uint8_t txid;
};

static void ck_send(struct ckworld *w, int k, struct rdv_msg *m)
{
	uint8_t buf[DG_MAX];
	int n;

	m->txid[0] = (uint8_t)k;
	m->txid[1] = ++w->txid;
	n = rdvmsg_build(m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(dg_send(w->st[k].d, w->st[k].sock, &w->st[k].rdv, buf, (size_t)n), 0);
}

/* A REGISTER of name from a spoofed endpoint (its answers reach nobody). */
static void ck_spoofed_register(struct ckworld *w, int i, uint32_t lifetime)
{
	struct rdv_msg m = {.kind = RDV_REGISTER,
			    .attrs = RDV_A_NAME | RDV_A_HOST | RDV_A_LIFETIME,
			    .lifetime_s = lifetime};
	struct dg_ep from = {htonl(0xcb007100u + (uint32_t)(i % 200)), htons((uint16_t)(2000 + i))};
	struct dg_ep to = {inet_addr(CK_RDV), htons(RDV_DEFAULT_PORT)};
	uint8_t buf[DG_MAX];
	int n;

	snprintf(m.name, sizeof(m.name), "a%d", i);
	m.cand.host = from;
	m.txid[0] = 0xA0;
	m.txid[1] = (uint8_t)i;
	n = rdvmsg_build(&m, buf, sizeof(buf));
	assert_true(n > 0);
	cknet_inject(w->n, &from, &to, buf, (size_t)n);
}

static void ck_register(struct ckworld *w, int k, const char *name)
{
	struct rdv_msg m = {.kind = RDV_REGISTER,
			    .attrs = RDV_A_NAME | RDV_A_HOST | RDV_A_LIFETIME,
			    .lifetime_s = 20};

	snprintf(m.name, sizeof(m.name), "%s", name);
	m.cand.host.addr = htonl(0x0a000001u + (uint32_t)k);
	m.cand.host.port = htons(5000);
	ck_send(w, k, &m);
}

static void ck_ask(struct ckworld *w, int k, enum rdv_kind kind, const char *name, const char *peer)
{
	struct rdv_msg m = {.kind = kind, .attrs = RDV_A_NAME | RDV_A_PEER};

	if (kind == RDV_CONNECT) {
		m.attrs |= RDV_A_METHOD;
		strcpy(m.method, "punch");
	}
	snprintf(m.name, sizeof(m.name), "%s", name);
	snprintf(m.peer, sizeof(m.peer), "%s", peer);
	ck_send(w, k, &m);
}

static void ck_start(struct ckworld *w)
{
	static const char *const ips[3] = {"192.0.2.2", "192.0.2.3", "192.0.2.4"};
	struct rdv_config cfg = {.listen = {inet_addr(CK_RDV), htons(RDV_DEFAULT_PORT)}};
	struct dg_ep any = {0}, local;

	memset(w, 0, sizeof(*w));
	w->n = cknet_new(DELAY, 11);
	assert_non_null(w->n);
	assert_int_equal(rdv_new(cknet_host(w->n, CK_RDV), &cfg, &w->r), 0);
	for (int k = 0; k < 3; k++) {
		w->st[k].d = cknet_host(w->n, ips[k]);
		w->st[k].sock = dg_open(w->st[k].d, &any, &local, ckstub_recv, &w->st[k]);
		assert_true(w->st[k].sock >= 0);
		w->st[k].rdv = cfg.listen;
	}
	w->st[2].refuse = true;
	for (int i = 0; i < CK_AGENTS; i++)
		ck_spoofed_register(w, i, 2 + (uint32_t)(i % 9));
	ck_register(w, 0, "alice");
	ck_register(w, 1, "bob");
	ck_register(w, 2, "carol");
	cknet_run_until(w->n, 100 * MS);
	ck_ask(w, 0, RDV_CONNECT, "alice", "bob");
	ck_ask(w, 2, RDV_CONNECT, "carol", "alice"); /* carol refuses: alice is told */
	ck_ask(w, 1, RDV_CONNECT, "bob", "nobody");  /* refused: a reason kept */
	/* CONNECTs arrive at 110 ms, INTRODUCEs at 120 */
	cknet_run_until(w->n, 115 * MS);
}

/* What both worlds do after the checkpoint, at the same times. */
static void ck_finish(struct ckworld *w)
{
	cknet_run_until(w->n, 300 * MS);
	ck_ask(w, 0, RDV_LOOKUP, "alice", "bob");
	ck_ask(w, 1, RDV_CONNECT, "bob", "nobody"); /* a new CONNECT, refused again */
	ck_ask(w, 0, RDV_CONNECT, "alice", "a7");
	ck_spoofed_register(w, 5, 0); /* given up */
	ck_spoofed_register(w, 6, 4); /* refreshed */
	cknet_run_until(w->n, 30 * NATBED_NS_PER_S);
}

static json_t *ck_parts_save(struct ckw *ck, void *ctx)
{
	struct ckworld *w = ctx;
	json_t *st = json_array();

	for (int k = 0; k < 3; k++)
		json_array_append_new(
		    st, json_pack("{s:o,s:o,s:i,s:o,s:b,s:i}", "id", ckw_obj(ck, &w->st[k]), "d",
				  ckw_ref(ck, w->st[k].d), "sock", w->st[k].sock, "rdv",
				  dg_ep_ckpt_save(&w->st[k].rdv, ck), "refuse", w->st[k].refuse,
				  "got", w->st[k].got));
	return json_pack("{s:o,s:o,s:i}", "rdv", rdv_ckpt_save(w->r, ck), "stubs", st, "txid",
			 w->txid);
}

static int ck_parts_load(struct ckr *r, const json_t *j, void *ctx)
{
	struct ckworld *w = ctx;
	const json_t *st = json_object_get(j, "stubs");

	w->r = rdv_ckpt_load(json_object_get(j, "rdv"), r);
	if (!w->r)
		return -1;
	w->txid = (uint8_t)json_integer_value(json_object_get(j, "txid"));
	for (int k = 0; k < 3; k++) {
		const json_t *e = json_array_get(st, (size_t)k);

		w->st[k].sock = (int)json_integer_value(json_object_get(e, "sock"));
		w->st[k].refuse = json_is_true(json_object_get(e, "refuse"));
		w->st[k].got = (int)json_integer_value(json_object_get(e, "got"));
		dg_ep_ckpt_fill(&w->st[k].rdv, json_object_get(e, "rdv"), r);
		ckr_obj(r, json_object_get(e, "id"), &w->st[k]);
		ckr_ref(r, json_object_get(e, "d"), &w->st[k].d);
	}
	return 0;
}

static json_t *ck_save(struct ckworld *w)
{
	char err[256] = "";
	json_t *j = cknet_world_save(w->n, ck_tables, 3, ck_parts_save, w, err, sizeof(err));

	if (!j)
		fail_msg("save: %s", err);
	return j;
}

static struct rdv_counters ck_counters(const struct rdv *r)
{
	struct rdv_counters c;

	rdv_counters(r, &c);
	return c;
}

/* Saved with introductions on their way (try timers armed, a refusal
 * coming), a hundred registrations in grown tables: loaded, the file is
 * the same, and both run on alike to the last expiry. */
static void ckpt_round_trip(void **state)
{
	struct ckworld a, b;
	struct rdv_counters ca, cb;
	char err[256] = "";
	json_t *j;

	(void)state;
	ck_start(&a);
	assert_int_equal(ck_counters(a.r).agents, CK_AGENTS + 3);
	assert_int_equal(ck_counters(a.r).connects, 2);
	j = ck_save(&a);
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(cknet_world_parts(j), "rdv"), "tries")),
	    2);
	memset(&b, 0, sizeof(b));
	b.n =
	    cknet_world_reload(j, ck_tables, 3, ck_parts_save, ck_parts_load, &b, err, sizeof(err));
	if (!b.n || err[0])
		fail_msg("%s", err);
	json_decref(j);

	cknet_log_clear(a.n);
	cknet_log_clear(b.n);
	ck_finish(&a);
	ck_finish(&b);
	ca = ck_counters(a.r);
	cb = ck_counters(b.r);
	assert_int_equal(ca.cancels, 1);
	assert_int_equal(ca.cancel_acked, 1);
	assert_int_equal(ca.lookups, 1);
	assert_int_equal(ca.agents, 0); /* all expired */
	assert_memory_equal(&ca, &cb, sizeof(ca));
	assert_true(strlen(cknet_log(a.n)) > 0);
	assert_string_equal(cknet_log(a.n), cknet_log(b.n));
	for (int k = 0; k < 3; k++)
		assert_int_equal(a.st[k].got, b.st[k].got);
	rdv_free(a.r);
	rdv_free(b.r);
	cknet_free(a.n);
	cknet_free(b.n);
}

static void ck_untabled(void *arg, natbed_time_t now)
{
	(void)arg, (void)now;
}

/* The writer refuses an event whose function is in no table; the reader
 * refuses a by_ep order that does not list every registration. */
static void ckpt_refused(void **state)
{
	struct ckworld a, b;
	char err[256] = "";
	json_t *j, *rj;
	uint64_t ev;

	(void)state;
	ck_start(&a);
	ev = sched_after(cknet_sched(a.n), MS, ck_untabled, a.r);
	assert_null(cknet_world_save(a.n, ck_tables, 3, ck_parts_save, &a, err, sizeof(err)));
	assert_non_null(strstr(err, "in no module's table"));
	assert_true(sched_cancel(cknet_sched(a.n), ev));

	j = ck_save(&a);
	rj = json_object_get(cknet_world_parts(j), "rdv");
	json_array_remove(json_object_get(rj, "by_ep"), 0);
	memset(&b, 0, sizeof(b));
	err[0] = 0;
	assert_null(cknet_world_load(j, ck_tables, 3, ck_parts_load, &b, err, sizeof(err)));
	assert_non_null(strstr(err, "rdv: cfg, regs, by_ep"));
	assert_null(b.r);
	json_decref(j);
	rdv_free(a.r);
	cknet_free(a.n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(register_answers_lifetime_and_mapped, setup, teardown),
	    cmocka_unit_test_setup_teardown(connect_introduces_both_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(introduce_retransmitted_until_acked, setup, teardown),
	    cmocka_unit_test_setup_teardown(refusal_cancels_the_other_side, setup, teardown),
	    cmocka_unit_test(start_delay_configurable),
	    cmocka_unit_test_setup_teardown(try_ids_unique, setup, teardown),
	    cmocka_unit_test_setup_teardown(connect_retransmission_same_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(connect_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(lookup_answered_and_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(refresh_keeps_expiry_removes, setup, teardown),
	    cmocka_unit_test_setup_teardown(lifetime_zero_unregisters, setup, teardown),
	    cmocka_unit_test_setup_teardown(spoofed_register_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(spoofed_connect_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(wrong_transaction_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(truncated_and_unknown_ignored, setup, teardown),
	    cmocka_unit_test(full_answers_508),
	    cmocka_unit_test_setup_teardown(many_agents, setup, teardown),
	    cmocka_unit_test(ckpt_round_trip),
	    cmocka_unit_test(ckpt_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
