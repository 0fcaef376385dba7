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

#include "fakenet.h"
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
	struct fakenet *net;
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
	a->d = fakenet_host(e->net, ip);
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
	struct rdv_config cfg = {.listen = fakenet_ep("198.51.100.5", RDV_DEFAULT_PORT)};

	e->net = fakenet_new(DELAY, 11);
	fakenet_set_filter(e->net, filter, e);
	assert_int_equal(rdv_new(fakenet_host(e->net, "198.51.100.5"), &cfg, &e->r), 0);
	e->rdv_ep = rdv_local(e->r);
	assert_int_equal(fakenet_stund(e->net, "198.51.100.10", 3478), 0);
	e->stun_ep = fakenet_ep("198.51.100.10", 3478);
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
	fakenet_free(e->net);
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
	fakenet_inject(e->net, from, &to->local, buf, (size_t)n);
}

static void start_both(struct env *e)
{
	assert_int_equal(rdvc_start(e->a.c), 0);
	assert_int_equal(rdvc_start(e->b.c), 0);
	fakenet_run_for(e->net, 200 * MS);
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
	fakenet_run_for(e->net, 200 * MS);
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
	fakenet_run_for(e->net, 100 * S);
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
	asked = sched_now(fakenet_sched(e->net));
	assert_int_equal(rdvc_connect(e->a.c, "bob", "fake", 0), 0);
	fakenet_run_for(e->net, 100 * MS);
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
	fakenet_run_for(e->net, 10 * S);
	assert_int_equal(e->a.connect_failed, 0);
}

static void connect_budget_sets_deadline(void **state)
{
	struct env *e = *state;

	start_both(e);
	assert_int_equal(rdvc_connect(e->a.c, "bob", "fake", 1500 * MS), 0);
	fakenet_run_for(e->net, 100 * MS);
	assert_int_equal(e->a.t.deadline, e->a.t.start + 1500 * MS);
	assert_int_equal(e->b.t.deadline, e->b.t.start + 1500 * MS);
}

static void connect_refused(void **state)
{
	struct env *e = *state;

	start_both(e);
	assert_int_equal(rdvc_connect(e->a.c, "carol", "fake", 0), 0);
	fakenet_run_for(e->net, 100 * MS);
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
	fakenet_run_for(e->net, 100 * MS);
	assert_int_equal(e->a.looked_up, 1);
	assert_true(e->a.lookup_ok);
	assert_string_equal(e->a.lcand.name, "bob");
	assert_true(dg_ep_eq(&e->a.lcand.host, &rdvc_self(e->b.c)->host));
	assert_true(dg_ep_eq(&e->a.lcand.srflx, &rdvc_self(e->b.c)->srflx));
	assert_int_equal(e->a.lcand.nat.map, NI_MAP_EIM);
	assert_int_equal(e->a.lcand.nat.filter, NI_FILTER_APDF);
	assert_int_equal(e->a.lcand.nat.hairpin, 1);
	assert_int_equal(rdvc_lookup(e->a.c, "carol"), 0);
	fakenet_run_for(e->net, 100 * MS);
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
	fakenet_run_for(e->net, 39 * S);
	assert_int_equal(e->a.looked_up, 2);
	fakenet_run_for(e->net, 1 * S);
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
	fakenet_run_for(e->net, 100 * MS);
	assert_int_equal(e->b.introduced, 0);
	assert_int_equal(cnt(&e->b).intro_refused, 1);
	assert_int_equal(rdv_cnt(e).intro_refused, 2);
	/* the callee may refuse too */
	e->b.refuse = "busy";
	assert_int_equal(rdvc_connect(e->a.c, "bob", "fake", 0), 0);
	fakenet_run_for(e->net, 100 * MS);
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
	struct dg_ep mallory = fakenet_ep("203.0.113.66", 5000);

	start_both(e);
	e->b.refuse = "busy";
	assert_int_equal(rdvc_connect(e->a.c, "bob", "fake", 0), 0);
	fakenet_run_for(e->net, 100 * MS);
	assert_int_equal(e->a.cancelled, 1);
	m.try_id = e->a.t.id;
	strcpy(m.peer, "bob");
	strcpy(m.reason, "busy");
	m.txid[0] = 0x42;
	send_raw(e, &mallory, &e->a, &m);
	send_raw(e, &e->rdv_ep, &e->a, &m);
	m.try_id++;
	send_raw(e, &e->rdv_ep, &e->a, &m);
	fakenet_run_for(e->net, 100 * MS);
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
	struct fakenet_stats st;

	e->block_to = e->stun_ep;
	assert_int_equal(rdvc_start(e->a.c), 0);
	fakenet_run_for(e->net, 39499 * MS);
	assert_int_equal(e->a.failed, 0);
	fakenet_stats(e->net, &st);
	assert_int_equal(st.dropped, RDVTXN_RC);
	fakenet_run_for(e->net, 2 * MS);
	assert_int_equal(e->a.failed, 1);
	assert_int_equal(e->a.failed_at, 39500 * MS);
	assert_string_equal(e->a.reason, "stun timeout");
}

static void rendezvous_down_fails(void **state)
{
	struct env *e = *state;

	e->block_to = e->rdv_ep;
	assert_int_equal(rdvc_start(e->a.c), 0);
	fakenet_run_for(e->net, 60 * S);
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
	fakenet_run_for(e->net, 60 * S);
	assert_true(cnt(&e->a).reregistrations >= 1);
	assert_false(rdvc_registered(e->a.c));
	assert_int_equal(e->a.failed, 0);
	e->block_to = (struct dg_ep){0};
	fakenet_run_for(e->net, 60 * S);
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
	fakenet_run_for(e->net, 300 * MS);
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
	m.cand.host = fakenet_ep("203.0.113.66", 5000);
	m.try_id = 77;
	m.start_ms = 100;
	m.role = role;
	m.txid[0] = 0x77;
	return m;
}

static void spoofed_and_unsolicited_ignored(void **state)
{
	struct env *e = *state;
	struct dg_ep mallory = fakenet_ep("203.0.113.66", 5000);
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
	fakenet_run_for(e->net, 100 * MS);
	assert_int_equal(e->b.introduced, 0);
	assert_int_equal(cnt(&e->b).drops[RDVC_DROP_NOT_RENDEZVOUS], 1);
	assert_int_equal(cnt(&e->b).drops[RDVC_DROP_UNSOLICITED], 1);
	assert_int_equal(cnt(&e->b).drops[RDVC_DROP_WRONG_TXN], 1);
	assert_int_equal(cnt(&e->b).drops[RDVC_DROP_UNEXPECTED], 1);
	/* the refresh timer was not moved by the forged REGISTER answer */
	fakenet_run_for(e->net, 40 * S);
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
	struct dg_ep peer = fakenet_ep("203.0.113.2", 40000);
	uint8_t txid[STUN_TXID_LEN] = {9, 9, 9}, buf[64];
	struct stun_builder b;
	struct rdv_msg m = intro_msg(e, TRAV_RESPONDER);
	uint8_t rbuf[DG_MAX];
	int n;

	start_both(e);
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, txid,
			    false);
	n = stun_msg_build_finish(&b);
	fakenet_inject(e->net, &e->stun_ep, &e->a.local, buf, (size_t)n);
	fakenet_inject(e->net, &peer, &e->a.local, "data", 4);
	n = rdvmsg_build(&m, rbuf, sizeof(rbuf));
	fakenet_inject(e->net, &e->rdv_ep, &e->a.local, rbuf, (size_t)n - 8);
	fakenet_run_for(e->net, 100 * MS);
	assert_int_equal(e->a.unclaimed, 3);
	assert_int_equal(e->a.introduced, 0);
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
