/* Unit tests for the rendezvous client (agents/rdvclient.c) against the
 * real rendezvous state machine and natbed-stund's request logic, in
 * virtual time on the fake network: STUN then REGISTER, refresh, CONNECT
 * and the struct trav_try each side gets, a peer's refusal told (CANCEL),
 * RFC 8489 retransmission and give-up times, and what it ignores
 * (spoofed, unsolicited, wrong transaction) or leaves to others. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckround.h"
#include "ckworld.h"
#include "cknet.h"
#include "rdv.h"
#include "rdvclient.h"

#define MS    NATBED_NS_PER_MS
#define S     NATBED_NS_PER_S
#define DELAY (10 * MS)

static int fake_start(struct trav_try *t)
{
	return 0;
}

static void fake_stop(struct trav_try *t)
{
}

static double fake_prior(enum ni_class a, enum ni_class b)
{
	return 1;
}

static const struct method fake = {
    .spec = {.name = "fake", .budget_ns = 3 * S, .prior = fake_prior},
    .start = fake_start,
    .stop = fake_stop,
};

static const struct method *find_fake(const char *name)
{
	return strcmp(name, "fake") == 0 ? &fake : NULL;
}

/* One agent: its main socket, its client, what the callbacks saw. */
struct agent {
	const struct dgram *d;
	int sock;
	struct dg_ep local;
	struct rdvc *c;
	int registered, failed, introduced, connect_failed, unclaimed, looked_up, cancelled;
	uint64_t cancelled_try;
	char cancel_reason[RDV_REASON_MAX + 1];
	bool lookup_ok;
	struct trav_cand lcand;
	natbed_time_t registered_at, failed_at;
	char reason[160];
	struct trav_try t;
	char peer[RDV_NAME_MAX + 1];
	const char *refuse;
};

struct env {
	struct cknet *net;
	struct rdv *r;
	struct dg_ep rdv_ep, stun_ep;
	struct agent a, b;
	/* filter: drop datagrams to/from these */
	struct dg_ep block_to;
	int drop_kind_to_rdv; /* drop the first INTRODUCE answer from b */
};

static void on_registered(void *arg, struct rdvc *c)
{
	struct agent *a = arg;

	a->registered++;
	a->registered_at = sched_now(a->d->s);
}

static void on_failed(void *arg, struct rdvc *c, const char *reason)
{
	struct agent *a = arg;

	a->failed++;
	a->failed_at = sched_now(a->d->s);
	snprintf(a->reason, sizeof(a->reason), "%s", reason);
}

static const char *on_introduced(void *arg, struct rdvc *c, const struct trav_try *t,
				 const char *peer)
{
	struct agent *a = arg;

	a->introduced++;
	a->t = *t;
	snprintf(a->peer, sizeof(a->peer), "%s", peer);
	return a->refuse;
}

static void on_cancelled(void *arg, struct rdvc *c, uint64_t try_id, const char *reason)
{
	struct agent *a = arg;

	a->cancelled++;
	a->cancelled_try = try_id;
	snprintf(a->cancel_reason, sizeof(a->cancel_reason), "%s", reason);
}

static void on_connect_failed(void *arg, struct rdvc *c, const char *peer, const char *reason)
{
	struct agent *a = arg;

	a->connect_failed++;
	snprintf(a->reason, sizeof(a->reason), "%s: %s", peer, reason);
}

static void on_looked_up(void *arg, struct rdvc *c, const char *peer, const struct trav_cand *cand,
			 const char *reason)
{
	struct agent *a = arg;

	a->looked_up++;
	a->lookup_ok = cand != NULL;
	if (cand)
		a->lcand = *cand;
	snprintf(a->reason, sizeof(a->reason), "%s: %s", peer, reason ? reason : "ok");
}

static void main_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		      natbed_time_t now)
{
	struct agent *a = arg;

	if (!rdvc_input(a->c, from, buf, len, now))
		a->unclaimed++;
}

static void agent_init(struct env *e, struct agent *a, const char *ip, const char *name)
{
	struct rdvc_config cfg = {.rdv = e->rdv_ep, .stun = e->stun_ep, .find_method = find_fake};
	struct rdvc_ops ops = {.registered = on_registered,
			       .failed = on_failed,
			       .introduced = on_introduced,
			       .cancelled = on_cancelled,
			       .connect_failed = on_connect_failed,
			       .looked_up = on_looked_up,
			       .arg = a};
	struct dg_ep any = {0};

	snprintf(cfg.name, sizeof(cfg.name), "%s", name);
	a->d = cknet_host(e->net, ip);
	a->sock = dg_open(a->d, &any, &a->local, main_recv, a);
	assert_true(a->sock >= 0);
	a->c = rdvc_new(a->d, a->sock, &a->local, &cfg, &ops);
	assert_non_null(a->c);
}

static bool filter(void *arg, const struct dg_ep *from, const struct dg_ep *to, const uint8_t *buf,
		   size_t len)
{
	struct env *e = arg;
	struct rdv_msg m;

	if (e->block_to.addr && (dg_ep_eq(to, &e->block_to) || dg_ep_eq(from, &e->block_to)))
		return false;
	if (e->drop_kind_to_rdv && dg_ep_eq(to, &e->rdv_ep) && dg_ep_eq(from, &e->b.local) &&
	    rdvmsg_parse(buf, len, &m) == RDV_PARSE_OK && m.kind == RDV_INTRODUCE_OK) {
		e->drop_kind_to_rdv--;
		return false;
	}
	return true;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct rdv_config cfg = {.listen = cknet_ep("198.51.100.5", RDV_DEFAULT_PORT)};

	e->net = cknet_new(DELAY, 11);
	cknet_set_filter(e->net, filter, e);
	assert_int_equal(rdv_new(cknet_host(e->net, "198.51.100.5"), &cfg, &e->r), 0);
	e->rdv_ep = rdv_local(e->r);
	assert_int_equal(cknet_stund(e->net, "198.51.100.10", 3478), 0);
	e->stun_ep = cknet_ep("198.51.100.10", 3478);
	agent_init(e, &e->a, "203.0.113.1", "alice");
	agent_init(e, &e->b, "203.0.113.2", "bob");
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	rdvc_free(e->a.c);
	rdvc_free(e->b.c);
	rdv_free(e->r);
	cknet_free(e->net);
	free(e);
	return 0;
}

static struct rdv_counters rdv_cnt(struct env *e)
{
	struct rdv_counters c;

	rdv_counters(e->r, &c);
	return c;
}

static struct rdvc_counters cnt(struct agent *a)
{
	struct rdvc_counters c;

	rdvc_counters(a->c, &c);
	return c;
}

static void send_raw(struct env *e, const struct dg_ep *from, struct agent *to,
		     const struct rdv_msg *m)
{
	uint8_t buf[DG_MAX];
	int n = rdvmsg_build(m, buf, sizeof(buf));

	assert_true(n > 0);
	cknet_inject(e->net, from, &to->local, buf, (size_t)n);
}

static void start_both(struct env *e)
{
	assert_int_equal(rdvc_start(e->a.c), 0);
	assert_int_equal(rdvc_start(e->b.c), 0);
	cknet_run_for(e->net, 200 * MS);
	assert_int_equal(e->a.registered, 1);
	assert_int_equal(e->b.registered, 1);
}

static void stun_then_register(void **state)
{
	struct env *e = *state;
	const struct trav_cand *self;

	assert_int_equal(rdvc_connect(e->a.c, "bob", "fake", 0), -ENOTCONN);
	assert_int_equal(rdvc_start(e->a.c), 0);
	assert_int_equal(rdvc_start(e->a.c), -EALREADY);
	cknet_run_for(e->net, 200 * MS);
	assert_int_equal(e->a.registered, 1);
	/* STUN round trip, then REGISTER round trip */
	assert_int_equal(e->a.registered_at, 4 * DELAY);
	self = rdvc_self(e->a.c);
	assert_true(dg_ep_eq(&self->host, &e->a.local));
	/* no NAT on the fake network: the reflexive address is the host's */
	assert_true(dg_ep_eq(&self->srflx, &e->a.local));
	assert_true(rdvc_registered(e->a.c));
	assert_int_equal(rdv_cnt(e).agents, 1);
	assert_int_equal(cnt(&e->a).stun_answers, 1);
	assert_int_equal(cnt(&e->a).registrations, 1);
}

/* Refreshed at half the lifetime: still registered long after it. */
static void refresh_keeps_registration(void **state)
{
	struct env *e = *state;

	start_both(e);
	cknet_run_for(e->net, 100 * S);
	assert_int_equal(rdv_cnt(e).agents, 2);
	assert_int_equal(rdv_cnt(e).expired, 0);
	/* every 15 s: 6 refreshes each in 100 s */
	assert_int_equal(cnt(&e->a).refreshes, 6);
	assert_int_equal(rdv_cnt(e).refreshed, 12);
}

static void connect_hands_both_a_try(void **state)
{
	struct env *e = *state;
	natbed_time_t asked;

	start_both(e);
	asked = sched_now(cknet_sched(e->net));
	assert_int_equal(rdvc_connect(e->a.c, "bob", "fake", 0), 0);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(e->a.introduced, 1);
	assert_int_equal(e->b.introduced, 1);
	assert_string_equal(e->a.peer, "bob");
	assert_string_equal(e->b.peer, "alice");
	assert_int_equal(e->a.t.role, TRAV_INITIATOR);
	assert_int_equal(e->b.t.role, TRAV_RESPONDER);
	assert_true(e->a.t.id == e->b.t.id && e->a.t.id != 0);
	assert_ptr_equal(e->a.t.m, &fake);
	assert_int_equal(e->a.t.sock, e->a.sock);
	assert_ptr_equal(e->a.t.dg, e->a.d);
	assert_true(dg_ep_eq(&e->a.t.peer.host, &e->b.local));
	assert_true(dg_ep_eq(&e->a.t.peer.srflx, &e->b.local));
	assert_true(dg_ep_eq(&e->b.t.peer.srflx, &e->a.local));
	assert_true(dg_ep_eq(&e->a.t.self.srflx, &e->a.local));
	/* the names the checks carry: ours, and the peer's to check */
	assert_string_equal(e->a.t.self.name, "alice");
	assert_string_equal(e->a.t.peer.name, "bob");
	assert_string_equal(e->b.t.self.name, "bob");
	assert_string_equal(e->b.t.peer.name, "alice");
	assert_true(dg_ep_eq(&e->a.t.stun, &e->stun_ep));
	/* both names, for the methods' checks */
	assert_string_equal(e->a.t.self.name, "alice");
	assert_string_equal(e->a.t.peer.name, "bob");
	assert_string_equal(e->b.t.peer.name, "alice");
	/* one common start, in local time: CONNECT's way there, then the
	 * start delay, then INTRODUCE's way back (rounded up to the ms) */
	assert_int_equal(e->a.t.start, asked + DELAY + RDV_START_DELAY_MS * MS + DELAY);
	assert_int_equal(e->b.t.start, e->a.t.start);
	/* the method's own budget */
	assert_int_equal(e->a.t.deadline, e->a.t.start + 3 * S);
	assert_int_equal(cnt(&e->a).connects_ok, 1);
	assert_int_equal(rdv_cnt(e).intro_acked, 2);
	assert_int_equal(e->a.connect_failed, 0);
	/* and nothing later: no wait for an introduction left running */
	cknet_run_for(e->net, 10 * S);
	assert_int_equal(e->a.connect_failed, 0);
}

static void connect_budget_sets_deadline(void **state)
{
	struct env *e = *state;

	start_both(e);
	assert_int_equal(rdvc_connect(e->a.c, "bob", "fake", 1500 * MS), 0);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(e->a.t.deadline, e->a.t.start + 1500 * MS);
	assert_int_equal(e->b.t.deadline, e->b.t.start + 1500 * MS);
}

static void connect_refused(void **state)
{
	struct env *e = *state;

	start_both(e);
	assert_int_equal(rdvc_connect(e->a.c, "carol", "fake", 0), 0);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(e->a.connect_failed, 1);
	assert_string_equal(e->a.reason, "carol: rendezvous refused: peer not registered");
	assert_int_equal(rdvc_connect(e->a.c, "b o b", "fake", 0), -EINVAL);
}

/* LOOKUP: the peer's registration with its NAT; refused for a name nobody
 * registered; not before registering; one at a time; a lost answer is a
 * timeout on RFC 8489's schedule. */
static void lookup_answered_refused_lost(void **state)
{
	struct env *e = *state;
	struct natinfo nat = {NI_MAP_EIM, NI_FILTER_APDF, NI_PORTS_PRESERVE, 0, 1, 0};

	assert_int_equal(rdvc_lookup(e->a.c, "bob"), -ENOTCONN);
	rdvc_set_nat(e->b.c, &nat);
	start_both(e);
	assert_int_equal(rdvc_self(e->b.c)->nat.filter, NI_FILTER_APDF);
	assert_string_equal(rdvc_self(e->b.c)->name, "bob");
	assert_int_equal(rdvc_lookup(e->a.c, "bob"), 0);
	assert_int_equal(rdvc_lookup(e->a.c, "bob"), -EBUSY);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(e->a.looked_up, 1);
	assert_true(e->a.lookup_ok);
	assert_string_equal(e->a.lcand.name, "bob");
	assert_true(dg_ep_eq(&e->a.lcand.host, &rdvc_self(e->b.c)->host));
	assert_true(dg_ep_eq(&e->a.lcand.srflx, &rdvc_self(e->b.c)->srflx));
	assert_int_equal(e->a.lcand.nat.map, NI_MAP_EIM);
	assert_int_equal(e->a.lcand.nat.filter, NI_FILTER_APDF);
	assert_int_equal(e->a.lcand.nat.hairpin, 1);
	assert_int_equal(rdvc_lookup(e->a.c, "carol"), 0);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(e->a.looked_up, 2);
	assert_false(e->a.lookup_ok);
	assert_string_equal(e->a.reason, "carol: rendezvous refused: peer not registered");
	assert_int_equal(rdvc_lookup(e->a.c, "b o b"), -EINVAL);
	assert_int_equal(cnt(&e->a).lookups_ok, 1);
	assert_int_equal(cnt(&e->a).lookups_failed, 1);
	assert_int_equal(rdv_cnt(e).lookups, 1);
	/* the rendezvous gone: a timeout after RFC 8489's 39.5 s */
	e->block_to = e->rdv_ep;
	assert_int_equal(rdvc_lookup(e->a.c, "bob"), 0);
	cknet_run_for(e->net, 39 * S);
	assert_int_equal(e->a.looked_up, 2);
	cknet_run_for(e->net, 1 * S);
	assert_int_equal(e->a.looked_up, 3);
	assert_string_equal(e->a.reason, "bob: rendezvous timeout");
}

/* The responder does not know the method: it refuses, the rendezvous
 * counts it, the callback never runs. */
static void unknown_method_refused(void **state)
{
	struct env *e = *state;

	start_both(e);
	assert_int_equal(rdvc_connect(e->a.c, "bob", "teleport", 0), 0);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(e->b.introduced, 0);
	assert_int_equal(cnt(&e->b).intro_refused, 1);
	assert_int_equal(rdv_cnt(e).intro_refused, 2);
	/* the callee may refuse too */
	e->b.refuse = "busy";
	assert_int_equal(rdvc_connect(e->a.c, "bob", "fake", 0), 0);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(e->b.introduced, 1);
	assert_int_equal(rdv_cnt(e).intro_refused, 3);
	/* alice accepted that one: she is told, once, with bob's reason;
	 * of the first, which she refused too, she is not */
	assert_int_equal(e->a.cancelled, 1);
	assert_true(e->a.cancelled_try == e->a.t.id);
	assert_string_equal(e->a.cancel_reason, "busy");
	assert_int_equal(cnt(&e->a).cancels, 1);
	assert_int_equal(rdv_cnt(e).cancels, 2);
	assert_int_equal(rdv_cnt(e).cancel_acked, 2);
	assert_int_equal(e->b.cancelled, 0);
}

/* A CANCEL again (a retransmission whose ack was lost) is acknowledged
 * again and told no more; one from elsewhere than the rendezvous, or of
 * a try it never heard of, changes nothing. */
static void cancel_told_once(void **state)
{
	struct env *e = *state;
	struct rdv_msg m = {
	    .kind = RDV_CANCEL, .attrs = RDV_A_TRY | RDV_A_ERROR | RDV_A_PEER, .error_code = 400};
	struct dg_ep mallory = cknet_ep("203.0.113.66", 5000);

	start_both(e);
	e->b.refuse = "busy";
	assert_int_equal(rdvc_connect(e->a.c, "bob", "fake", 0), 0);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(e->a.cancelled, 1);
	m.try_id = e->a.t.id;
	strcpy(m.peer, "bob");
	strcpy(m.reason, "busy");
	m.txid[0] = 0x42;
	send_raw(e, &mallory, &e->a, &m);
	send_raw(e, &e->rdv_ep, &e->a, &m);
	m.try_id++;
	send_raw(e, &e->rdv_ep, &e->a, &m);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(e->a.cancelled, 1);
	assert_int_equal(cnt(&e->a).cancels, 1);
	assert_int_equal(cnt(&e->a).drops[RDVC_DROP_NOT_RENDEZVOUS], 1);
	/* both from the rendezvous' address acknowledged: answers the
	 * rendezvous finds in no transaction of its own */
	assert_int_equal(rdv_cnt(e).drops[RDV_DROP_WRONG_TXN], 2);
}

/* RFC 8489 §6.2.1: sends at 0, 500, 1500, ... 31500 ms; gives up at 39.5 s. */
static void stun_gives_up_on_rfc_schedule(void **state)
{
	struct env *e = *state;
	struct cknet_stats st;

	e->block_to = e->stun_ep;
	assert_int_equal(rdvc_start(e->a.c), 0);
	cknet_run_for(e->net, 39499 * MS);
	assert_int_equal(e->a.failed, 0);
	cknet_stats(e->net, &st);
	assert_int_equal(st.dropped, RDVTXN_RC);
	cknet_run_for(e->net, 2 * MS);
	assert_int_equal(e->a.failed, 1);
	assert_int_equal(e->a.failed_at, 39500 * MS);
	assert_string_equal(e->a.reason, "stun timeout");
}

static void rendezvous_down_fails(void **state)
{
	struct env *e = *state;

	e->block_to = e->rdv_ep;
	assert_int_equal(rdvc_start(e->a.c), 0);
	cknet_run_for(e->net, 60 * S);
	assert_int_equal(e->a.failed, 1);
	assert_string_equal(e->a.reason, "rendezvous timeout");
	assert_int_equal(e->a.registered, 0);
}

/* Lost after registering: refresh fails, the client starts over and
 * registers again once the rendezvous answers. */
static void lost_registration_starts_over(void **state)
{
	struct env *e = *state;

	start_both(e);
	e->block_to = e->rdv_ep;
	cknet_run_for(e->net, 60 * S);
	assert_true(cnt(&e->a).reregistrations >= 1);
	assert_false(rdvc_registered(e->a.c));
	assert_int_equal(e->a.failed, 0);
	e->block_to = (struct dg_ep){0};
	cknet_run_for(e->net, 60 * S);
	assert_true(rdvc_registered(e->a.c));
	assert_int_equal(e->a.registered, 1); /* the callback is for the first only */
}

/* A lost acknowledgement: the rendezvous sends INTRODUCE again, the
 * client acknowledges again, the try is handed over once. */
static void duplicate_introduce_acked_again(void **state)
{
	struct env *e = *state;

	start_both(e);
	e->drop_kind_to_rdv = 1;
	assert_int_equal(rdvc_connect(e->a.c, "bob", "fake", 0), 0);
	cknet_run_for(e->net, 300 * MS);
	assert_int_equal(e->b.introduced, 1);
	assert_int_equal(cnt(&e->b).intro_duplicates, 1);
	assert_int_equal(rdv_cnt(e).intro_acked, 2);
	assert_int_equal(rdv_cnt(e).intro_retransmits, 1);
}

static struct rdv_msg intro_msg(struct env *e, enum trav_role role)
{
	struct rdv_msg m = {.kind = RDV_INTRODUCE,
			    .attrs = RDV_A_PEER | RDV_A_HOST | RDV_A_NAT | RDV_A_METHOD |
				     RDV_A_TRY | RDV_A_START | RDV_A_ROLE};

	strcpy(m.peer, "mallory");
	strcpy(m.method, "fake");
	m.cand.host = cknet_ep("203.0.113.66", 5000);
	m.try_id = 77;
	m.start_ms = 100;
	m.role = role;
	m.txid[0] = 0x77;
	return m;
}

static void spoofed_and_unsolicited_ignored(void **state)
{
	struct env *e = *state;
	struct dg_ep mallory = cknet_ep("203.0.113.66", 5000);
	struct rdv_msg m;

	start_both(e);
	/* an INTRODUCE from elsewhere than the rendezvous */
	m = intro_msg(e, TRAV_RESPONDER);
	send_raw(e, &mallory, &e->b, &m);
	/* from the rendezvous' address, as initiator of nothing asked */
	m = intro_msg(e, TRAV_INITIATOR);
	send_raw(e, &e->rdv_ep, &e->b, &m);
	/* a REGISTER answer to no request under way */
	m = (struct rdv_msg){.kind = RDV_REGISTER_OK, .attrs = RDV_A_LIFETIME | RDV_A_MAPPED};
	m.mapped = mallory;
	m.lifetime_s = 5;
	send_raw(e, &e->rdv_ep, &e->b, &m);
	/* a CONNECT request sent to an agent */
	m = (struct rdv_msg){.kind = RDV_CONNECT, .attrs = RDV_A_NAME | RDV_A_PEER | RDV_A_METHOD};
	strcpy(m.name, "x");
	strcpy(m.peer, "y");
	strcpy(m.method, "fake");
	send_raw(e, &e->rdv_ep, &e->b, &m);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(e->b.introduced, 0);
	assert_int_equal(cnt(&e->b).drops[RDVC_DROP_NOT_RENDEZVOUS], 1);
	assert_int_equal(cnt(&e->b).drops[RDVC_DROP_UNSOLICITED], 1);
	assert_int_equal(cnt(&e->b).drops[RDVC_DROP_WRONG_TXN], 1);
	assert_int_equal(cnt(&e->b).drops[RDVC_DROP_UNEXPECTED], 1);
	/* the refresh timer was not moved by the forged REGISTER answer */
	cknet_run_for(e->net, 40 * S);
	assert_int_equal(rdv_cnt(e).expired, 0);
	for (int d = 1; d < RDVC_DROP_COUNT; d++)
		assert_string_not_equal(rdvc_drop_name((enum rdvc_drop)d), "unknown");
}

/* What is not the client's is left to the others on the socket: a
 * Binding answer to another's request, a peer's datagram, anything cut
 * short before its STUN framing can say whose it is. */
static void others_datagrams_left(void **state)
{
	struct env *e = *state;
	struct dg_ep peer = cknet_ep("203.0.113.2", 40000);
	uint8_t txid[STUN_TXID_LEN] = {9, 9, 9}, buf[64];
	struct stun_builder b;
	struct rdv_msg m = intro_msg(e, TRAV_RESPONDER);
	uint8_t rbuf[DG_MAX];
	int n;

	start_both(e);
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, txid,
			    false);
	n = stun_msg_build_finish(&b);
	cknet_inject(e->net, &e->stun_ep, &e->a.local, buf, (size_t)n);
	cknet_inject(e->net, &peer, &e->a.local, "data", 4);
	n = rdvmsg_build(&m, rbuf, sizeof(rbuf));
	cknet_inject(e->net, &e->rdv_ep, &e->a.local, rbuf, (size_t)n - 8);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(e->a.unclaimed, 3);
	assert_int_equal(e->a.introduced, 0);
}

/* --- checkpoints ------------------------------------------------------- */

/* The test's own functions a client holds: its callbacks, find_fake. */
static const struct ckfn t_fns[] = {
    CKFN(on_registered),     CKFN(on_failed),	 CKFN(on_introduced), CKFN(on_cancelled),
    CKFN(on_connect_failed), CKFN(on_looked_up), CKFN(find_fake)};
static const struct ckfns t_table = CKFNS(test, t_fns);

static const struct ckfns *const ck_parts[] = {&rdvc_ckfns, &rdvtxn_ckfns, &t_table};

/* The clients a world's file holds. */
struct ck_clients {
	struct rdvc *c[2];
	size_t n;
};

static json_t *clients_save(struct ckw *w, void *ctx)
{
	const struct ck_clients *cs = ctx;
	json_t *l = json_array();

	for (size_t i = 0; i < cs->n; i++)
		json_array_append_new(l, rdvc_ckpt_save(cs->c[i], w));
	return l;
}

static void clients_load(struct ckr *r, const json_t *parts, void *ctx)
{
	struct ck_clients *cs = ctx;

	for (size_t i = 0; i < cs->n; i++)
		cs->c[i] = rdvc_ckpt_load(json_array_get(parts, i), r);
}

/* A second world of the same time: a scheduler of its own, and copies of
 * the hosts' dgrams on it (the clients are loaded there, never run). */
struct ck_copy {
	struct clock_virtual vc;
	struct sched *s;
	struct dgram da, db;
};

static void copy_init(struct ck_copy *k, struct ckworld *cw, const struct env *e)
{
	k->vc.now_ns = sched_now(cknet_sched(e->net));
	k->s = sched_new(clock_virtual_clock(&k->vc), &k->vc);
	assert_non_null(k->s);
	ckworld_dgram(e->a.d, k->s, &k->da);
	ckworld_dgram(e->b.d, k->s, &k->db);
	ckworld_subst(cw, e->a.d, &k->da);
	ckworld_subst(cw, e->b.d, &k->db);
}

/* Both clients in the middle of everything: registered, refresh armed,
 * an introduction remembered, then, the rendezvous unreachable, a
 * CONNECT and a LOOKUP retransmitting. Saved, loaded into a world of its
 * own and saved again: the same file. */
static void ckpt_round_trip(void **state)
{
	struct env *e = *state;
	struct ckworld cw;
	struct ck_copy k;
	struct ck_clients cs = {{e->a.c, e->b.c}, 2}, ls = {{NULL, NULL}, 2};
	const void *objs[] = {e->a.d, e->b.d, &e->a, &e->b};
	char err[256];
	json_t *j, *j2;

	start_both(e);
	assert_int_equal(rdvc_connect(e->a.c, "bob", "fake", 0), 0);
	cknet_run_for(e->net, 100 * MS);
	assert_int_equal(e->a.introduced, 1);
	e->block_to = e->rdv_ep;
	assert_int_equal(rdvc_connect(e->a.c, "bob", "fake", 2 * S), 0);
	assert_int_equal(rdvc_lookup(e->a.c, "bob"), 0);
	assert_int_equal(rdvc_lookup(e->b.c, "alice"), 0);
	cknet_run_for(e->net, 700 * MS);
	ckworld_init(&cw, cknet_sched(e->net), ck_parts, 3, objs, 4);
	assert_true(cw.nfns > 0); /* the rendezvous' timers are in the queue */
	j = ckworld_save(&cw, cknet_sched(e->net), clients_save, &cs, err, sizeof(err));
	assert_non_null(j);
	copy_init(&k, &cw, e);
	assert_int_equal(ckworld_load(&cw, j, k.s, clients_load, &ls, err, sizeof(err)), 0);
	j2 = ckworld_save(&cw, k.s, clients_save, &ls, err, sizeof(err));
	assert_non_null(j2);
	ckworld_assert_equal(j, j2);
	assert_int_equal(sched_pending(k.s), sched_pending(cknet_sched(e->net)));
	json_decref(j);
	json_decref(j2);
	rdvc_free(ls.c[0]);
	rdvc_free(ls.c[1]);
	sched_free(k.s);
}

/* The writer refuses a function in no table; the reader a client whose
 * field is broken. */
static void ckpt_refused(void **state)
{
	static const struct ckfns *const no_test[] = {&rdvc_ckfns, &rdvtxn_ckfns};
	struct env *e = *state;
	struct ckworld cw;
	struct ck_copy k;
	struct ck_clients cs = {{e->a.c}, 1}, ls = {{NULL}, 1};
	const void *objs[] = {e->a.d, e->b.d, &e->a};
	char err[256];
	json_t *j;

	assert_int_equal(rdvc_start(e->a.c), 0);
	cknet_run_for(e->net, 200 * MS);
	ckworld_init(&cw, cknet_sched(e->net), no_test, 2, objs, 3);
	assert_null(ckworld_save(&cw, cknet_sched(e->net), clients_save, &cs, err, sizeof(err)));
	assert_non_null(strstr(err, "in no module's table")); /* the test's callbacks */
	ckworld_init(&cw, cknet_sched(e->net), ck_parts, 3, objs, 3);
	j = ckworld_save(&cw, cknet_sched(e->net), clients_save, &cs, err, sizeof(err));
	assert_non_null(j);
	json_object_set_new(json_array_get(ckworld_parts(j), 0), "recent_next", json_integer(99));
	copy_init(&k, &cw, e);
	assert_int_equal(ckworld_load(&cw, j, k.s, clients_load, &ls, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "rdvc: recent_next: not an integer in range"));
	assert_null(ls.c[0]);
	json_decref(j);
	sched_free(k.s);
}

/* --- a continuation: the client alone against a scripted rendezvous --- */

/* The rendezvous' part, without state in time: REGISTER granted, the
 * first CONNECT lost, the next one granted (try 0x5eed), LOOKUP never
 * answered. */
struct script {
	const struct dgram *d;
	int sock, connects;
};

static void script_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
			size_t len, natbed_time_t now)
{
	struct script *sc = arg;
	struct rdv_msg m, a = {0};
	uint8_t out[DG_MAX];
	int n;

	if (rdvmsg_parse(buf, len, &m) != RDV_PARSE_OK)
		return;
	memcpy(a.txid, m.txid, STUN_TXID_LEN);
	if (m.kind == RDV_REGISTER && m.lifetime_s) {
		a.kind = RDV_REGISTER_OK;
		a.attrs = RDV_A_LIFETIME | RDV_A_MAPPED;
		a.lifetime_s = m.lifetime_s;
		a.mapped = *from;
	} else if (m.kind == RDV_CONNECT && sc->connects++ > 0) {
		a.kind = RDV_CONNECT_OK;
		a.attrs = RDV_A_PEER | RDV_A_TRY;
		memcpy(a.peer, m.peer, sizeof(a.peer));
		a.try_id = 0x5eed;
	} else {
		return;
	}
	n = rdvmsg_build(&a, out, sizeof(out));
	assert_true(n > 0);
	dg_send(sc->d, sc->sock, from, out, (size_t)n);
}

/* Everything that happens, with its time: datagrams and callbacks. */
static char trace[16384];

static void trace_add(const char *fmt, ...)
{
	size_t n = strlen(trace);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(trace + n, sizeof(trace) - n, fmt, ap);
	va_end(ap);
	assert_true(strlen(trace) < sizeof(trace) - 1);
}

static bool trace_filter(void *arg, const struct dg_ep *from, const struct dg_ep *to,
			 const uint8_t *buf, size_t len)
{
	struct cknet *net = arg;
	char f[DG_EP_STR], t[DG_EP_STR];

	trace_add("%lld %s>%s", (long long)sched_now(cknet_sched(net)), dg_ep_str(from, f),
		  dg_ep_str(to, t));
	for (size_t i = 0; i < len; i++)
		trace_add("%02x", buf[i]);
	trace_add("\n");
	return true;
}

static void trace_registered(void *arg, struct rdvc *c)
{
	trace_add("%lld registered\n", (long long)sched_now(((struct agent *)arg)->d->s));
}

static void trace_failed(void *arg, struct rdvc *c, const char *reason)
{
	trace_add("%lld failed %s\n", (long long)sched_now(((struct agent *)arg)->d->s), reason);
}

static const char *trace_introduced(void *arg, struct rdvc *c, const struct trav_try *t,
				    const char *peer)
{
	trace_add("%lld introduced %s %llx %lld %lld\n",
		  (long long)sched_now(((struct agent *)arg)->d->s), peer,
		  (unsigned long long)t->id, (long long)t->start, (long long)t->deadline);
	return NULL;
}

static void trace_connect_failed(void *arg, struct rdvc *c, const char *peer, const char *reason)
{
	trace_add("%lld connect_failed %s %s\n", (long long)sched_now(((struct agent *)arg)->d->s),
		  peer, reason);
}

static void trace_looked_up(void *arg, struct rdvc *c, const char *peer,
			    const struct trav_cand *cand, const char *reason)
{
	trace_add("%lld looked_up %s %s\n", (long long)sched_now(((struct agent *)arg)->d->s), peer,
		  reason ? reason : "ok");
}

static const struct ckfn trace_fns[] = {CKFN(trace_registered), CKFN(trace_failed),
					CKFN(trace_introduced), CKFN(trace_connect_failed),
					CKFN(trace_looked_up),	CKFN(find_fake)};
static const struct ckfns trace_table = CKFNS(test, trace_fns);

/* A world: the scripted rendezvous, a STUN server, alice's client behind
 * a NAT that maps per destination in sequence (a refresh takes a fresh
 * anchor), with short transactions. */
struct solo {
	struct cknet *net;
	struct script sc;
	struct agent a;
	struct dg_ep rdv_ep, stun_ep;
};

static void solo_main_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
			   size_t len, natbed_time_t now)
{
	struct agent *a = arg;

	if (!rdvc_input(a->c, from, buf, len, now))
		trace_add("%lld unclaimed\n", (long long)now);
}

/* The world to T with no client in it (its clock, its sockets). */
static void solo_world(struct solo *w)
{
	struct dg_ep any = {0};

	memset(w, 0, sizeof(*w));
	w->net = cknet_new(DELAY, 23);
	assert_non_null(w->net);
	cknet_set_filter(w->net, trace_filter, w->net);
	w->rdv_ep = cknet_ep("198.51.100.5", RDV_DEFAULT_PORT);
	w->sc.d = cknet_host(w->net, "198.51.100.5");
	w->sc.sock = dg_open(w->sc.d, &w->rdv_ep, &w->rdv_ep, script_recv, &w->sc);
	assert_true(w->sc.sock >= 0);
	assert_int_equal(cknet_stund(w->net, "198.51.100.10", 3478), 0);
	w->stun_ep = cknet_ep("198.51.100.10", 3478);
	w->a.d = cknet_host(w->net, "203.0.113.1");
	w->a.sock = dg_open(w->a.d, &any, &w->a.local, solo_main_recv, &w->a);
	assert_true(w->a.sock >= 0);
}

static void solo_start(struct solo *w)
{
	struct rdvc_config cfg = {
	    .rdv = w->rdv_ep,
	    .stun = w->stun_ep,
	    .nat = {NI_MAP_APDM, NI_FILTER_APDF, NI_PORTS_SEQUENTIAL, 1, 0, 0},
	    .txn = {.rto_ns = 100 * MS, .rc = 3, .rm = 4},
	    .find_method = find_fake};
	struct rdvc_ops ops = {.registered = trace_registered,
			       .failed = trace_failed,
			       .introduced = trace_introduced,
			       .connect_failed = trace_connect_failed,
			       .looked_up = trace_looked_up,
			       .arg = &w->a};

	strcpy(cfg.name, "alice");
	w->a.c = rdvc_new(w->a.d, w->a.sock, &w->a.local, &cfg, &ops);
	assert_non_null(w->a.c);
	assert_int_equal(rdvc_start(w->a.c), 0);
	cknet_run_until(w->net, 1 * S);
	assert_int_equal(rdvc_connect(w->a.c, "bob", "fake", 0), 0);
	assert_int_equal(rdvc_lookup(w->a.c, "carol"), 0);
}

/* From T on: the introduction of the CONNECT granted, then the rest. */
static void solo_finish(struct solo *w)
{
	struct rdv_msg m = intro_msg(NULL, TRAV_INITIATOR);
	uint8_t buf[DG_MAX];
	int n;

	cknet_run_until(w->net, 1250 * MS);
	strcpy(m.peer, "bob");
	m.cand.host = cknet_ep("203.0.113.2", 40000);
	m.try_id = 0x5eed;
	n = rdvmsg_build(&m, buf, sizeof(buf));
	assert_true(n > 0);
	cknet_inject(w->net, &w->rdv_ep, &w->a.local, buf, (size_t)n);
	cknet_run_until(w->net, 40 * S);
	rdvc_free(w->a.c);
	cknet_free(w->net);
}

/* The solo client and its world's objects (ckround.h). */
static json_t *solo_save(struct ckw *ck, void *arg)
{
	struct solo *w = arg;

	return json_pack("{s:o,s:o,s:o}", "d", ckw_obj(ck, w->a.d), "arg", ckw_obj(ck, &w->a),
			 "client", rdvc_ckpt_save(w->a.c, ck));
}

static int solo_load(struct ckr *r, const json_t *j, void *arg)
{
	struct solo *w = arg;

	ckr_obj(r, json_object_get(j, "d"), (void *)(uintptr_t)w->a.d);
	ckr_obj(r, json_object_get(j, "arg"), &w->a);
	w->a.c = rdvc_ckpt_load(json_object_get(j, "client"), r);
	return w->a.c ? 0 : -1;
}

/* Saved at 1150 ms (the CONNECT answered and waiting for its
 * introduction, the LOOKUP retransmitting, the refresh armed, nothing in
 * flight: the fake network's datagrams are not saved) and loaded into a
 * new world, the client goes on as the one never saved: the same
 * datagrams at the same times, the same callbacks, through an
 * introduction, the LOOKUP's timeout, two refreshes with fresh anchors. */
static void ckpt_continues(void **state)
{
	static const struct ckfns *const tables[] = {&rdvc_ckfns, &rdvtxn_ckfns, &trace_table};
	struct solo w;
	char *straight, *from_t, err[256];
	size_t at_t;
	struct sched *s;
	json_t *j;

	(void)state;
	trace[0] = 0;
	solo_world(&w);
	solo_start(&w);
	cknet_run_until(w.net, 1150 * MS);
	at_t = strlen(trace);
	solo_finish(&w);
	straight = strdup(trace + at_t);
	assert_non_null(strstr(straight, "introduced bob 5eed"));
	assert_non_null(strstr(straight, "looked_up carol rendezvous timeout"));
	assert_null(strstr(straight, "connect_failed")); /* introduced in time */

	trace[0] = 0;
	solo_world(&w);
	solo_start(&w);
	cknet_run_until(w.net, 1150 * MS);
	j = ckround_save(cknet_sched(w.net), tables, 3, solo_save, &w, err, sizeof(err));
	if (!j)
		fail_msg("save: %s", err);
	/* the first world goes: its client was saved, nothing else of it is */
	rdvc_free(w.a.c);
	cknet_free(w.net);

	trace[0] = 0;
	solo_world(&w);
	cknet_run_until(w.net, 1150 * MS);
	s = cknet_sched(w.net);
	if (ckround_load(j, &s, tables, 3, solo_load, &w, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	json_decref(j);
	from_t = strdup(trace);
	solo_finish(&w);
	assert_string_equal(from_t, ""); /* nothing ran before the restore */
	assert_string_equal(trace, straight);
	free(straight);
	free(from_t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(stun_then_register, setup, teardown),
	    cmocka_unit_test_setup_teardown(refresh_keeps_registration, setup, teardown),
	    cmocka_unit_test_setup_teardown(connect_hands_both_a_try, setup, teardown),
	    cmocka_unit_test_setup_teardown(connect_budget_sets_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(connect_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(lookup_answered_refused_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(unknown_method_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(cancel_told_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(stun_gives_up_on_rfc_schedule, setup, teardown),
	    cmocka_unit_test_setup_teardown(rendezvous_down_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(lost_registration_starts_over, setup, teardown),
	    cmocka_unit_test_setup_teardown(duplicate_introduce_acked_again, setup, teardown),
	    cmocka_unit_test_setup_teardown(spoofed_and_unsolicited_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(others_datagrams_left, setup, teardown),
	    cmocka_unit_test_setup_teardown(ckpt_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(ckpt_refused, setup, teardown),
	    cmocka_unit_test(ckpt_continues),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
