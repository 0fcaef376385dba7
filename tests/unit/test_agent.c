/* Unit tests for natbed-agent's logic (agents/agent_core.c) in virtual
 * time.
 *  - On the fake network (tests/support/cknet.c): a rendezvous,
 *    natbed-stund's request logic, a serving agent and a connecting one,
 *    with the test method (a Binding request each way,
 *    tests/support/method_testbind.c) and three of this file's. The
 *    report's every field; failures named by their reason; a busy
 *    serving agent's refusal told to the initiator at once; strays
 *    counted; the cascade (LOOKUP, then the methods by score: a failing
 *    one, then one that connects, both listed in order with what it
 *    skipped; its budget cutting a try; learning reordering it);
 *    discovery against a server without OTHER-ADDRESS.
 *  - Through the emulator's NAT engines (emulator/vnet.h) with the
 *    product's methods: discovery before registration, a cascade from a
 *    symmetric NAT to a port-restricted one, two agents of one site, and
 *    one serving agent answering clients behind every kind of NAT that
 *    arrive one after another and at once.
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

#include "agent_core.h"
#include "cknet.h"
#include "ckworld.h"
#include "dgstund.h"
#include "method_checks.h"
#include "pcpc.h"
#include "method_testbind.h"
#include "natbed/log.h"
#include "nbstun.h"
#include "rdv.h"
#include "vnet.h"
#include "turnd.h"
#include "turnsock.h"

#define MS    NATBED_NS_PER_MS
#define S     NATBED_NS_PER_S
#define DELAY (10 * MS)

struct side {
	struct agent *a;
	const struct dgram *d;
	int ready, failed, reports, discovered;
	struct agent_report rep;
	struct disc_result disc;
	char reason[128];
};

struct env {
	struct cknet *net;
	struct rdv *r;
	struct dg_ep rdv_ep, stun_ep;
	struct side alice, bob, carol;
	/* the filter */
	bool block_checks;  /* Binding requests between the agents */
	int drop_probe_seq; /* a probe of this SEQ from alice (-1: none) */
	int rdv_other;	    /* to or from the rendezvous, not REGISTER's */
};

static void on_ready(void *arg, struct agent *a)
{
	((struct side *)arg)->ready++;
}

static void on_failed(void *arg, struct agent *a, const char *reason)
{
	struct side *s = arg;

	s->failed++;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
}

static void on_discovered(void *arg, struct agent *a, const struct disc_result *r)
{
	struct side *s = arg;

	s->discovered++;
	s->disc = *r;
}

static void on_report(void *arg, struct agent *a, const struct agent_report *r)
{
	struct side *s = arg;

	s->reports++;
	s->rep = *r;
}

static bool is_agent(const struct env *e, const struct dg_ep *ep)
{
	return ep->addr == cknet_ep("203.0.113.1", 0).addr ||
	       ep->addr == cknet_ep("203.0.113.2", 0).addr;
}

static bool filter(void *arg, const struct dg_ep *from, const struct dg_ep *to, const uint8_t *buf,
		   size_t len)
{
	struct env *e = arg;
	struct stun_msg m;

	struct rdv_msg rm;

	if ((dg_ep_eq(to, &e->rdv_ep) || dg_ep_eq(from, &e->rdv_ep)) &&
	    (rdvmsg_parse(buf, len, &rm) != RDV_PARSE_OK ||
	     (rm.kind != RDV_REGISTER && rm.kind != RDV_REGISTER_OK)))
		e->rdv_other++;
	if (stun_msg_parse(buf, len, 0, &m, NULL, 0) != STUN_PARSE_OK || !is_agent(e, from) ||
	    !is_agent(e, to))
		return true;
	if (e->block_checks && m.method == STUN_METHOD_BINDING)
		return false;
	if (e->drop_probe_seq >= 0 && m.method == NBSTUN_METHOD_PROBE &&
	    m.cls == STUN_CLASS_REQUEST) {
		const struct stun_attr *a = stun_msg_find(&m, 0xC0EA);
		const uint8_t *v = stun_attr_value(&m, a);

		if (((uint32_t)v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3]) ==
		    (uint32_t)e->drop_probe_seq)
			return false;
	}
	return true;
}

/* --- the cascade's test methods -------------------------------------------- */

/* testfail fails 10 ms after the start ("filtered"); testslow at its
 * deadline ("timeout"); testnever has no chance for any pair (skipped).
 * Their spec but the prior and budget is testbind's, so the scores
 * follow the rates. */
static const struct method m_testfail, m_testslow, m_testnever;

struct tfail {
	uint64_t timer;
};

static void tf_end(void *arg, natbed_time_t now)
{
	struct trav_try *t = arg;
	struct tfail *f = t->priv;

	f->timer = 0;
	trav_done(t, false, t->m == &m_testfail ? "filtered" : "timeout");
}

static int tf_start(struct trav_try *t)
{
	struct tfail *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	t->priv = f;
	f->timer =
	    sched_at(t->dg->s, t->m == &m_testfail ? t->start + 10 * MS : t->deadline, tf_end, t);
	return 0;
}

static void tf_stop(struct trav_try *t)
{
	struct tfail *f = t->priv;

	if (!f)
		return;
	if (f->timer)
		sched_cancel(t->dg->s, f->timer);
	free(f);
	t->priv = NULL;
}

static double prior_high(enum ni_class self, enum ni_class peer)
{
	return 0.9;
}

static double prior_mid(enum ni_class self, enum ni_class peer)
{
	return 0.8;
}

static double prior_none(enum ni_class self, enum ni_class peer)
{
	return 0.0;
}

static const struct method m_testfail = {
    {"testfail", 0, 0, 1, 2 * S, prior_high, false, NULL}, tf_start, tf_stop, NULL};
static const struct method m_testslow = {
    {"testslow", 0, 0, 1, 1500 * MS, prior_mid, false, NULL}, tf_start, tf_stop, NULL};
static const struct method m_testnever = {
    {"testnever", 0, 0, 1, 1 * S, prior_none, false, NULL}, tf_start, tf_stop, NULL};

static const struct method *find_test(const char *name)
{
	const struct method *const mine[] = {&m_testfail, &m_testslow, &m_testnever};

	for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
		if (strcmp(name, mine[i]->spec.name) == 0)
			return mine[i];
	return method_testbind_find(name);
}

static void side_init(struct env *e, struct side *s, const char *ip, const char *name, bool serve)
{
	struct agent_config cfg = {
	    .rdv = e->rdv_ep, .stun = e->stun_ep, .serve = serve, .find_method = find_test};
	struct agent_ops ops = {
	    .ready = on_ready, .failed = on_failed, .report = on_report, .arg = s};

	snprintf(cfg.name, sizeof(cfg.name), "%s", name);
	s->d = cknet_host(e->net, ip);
	assert_int_equal(agent_new(s->d, &cfg, &ops, &s->a), 0);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct rdv_config cfg = {.listen = cknet_ep("198.51.100.5", RDV_DEFAULT_PORT)};

	e->net = cknet_new(DELAY, 3);
	e->drop_probe_seq = -1;
	cknet_set_filter(e->net, filter, e);
	assert_int_equal(rdv_new(cknet_host(e->net, "198.51.100.5"), &cfg, &e->r), 0);
	e->rdv_ep = rdv_local(e->r);
	assert_int_equal(cknet_stund(e->net, "198.51.100.10", 3478), 0);
	e->stun_ep = cknet_ep("198.51.100.10", 3478);
	side_init(e, &e->bob, "203.0.113.2", "bob", true);
	side_init(e, &e->alice, "203.0.113.1", "alice", false);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	agent_free(e->alice.a);
	agent_free(e->bob.a);
	agent_free(e->carol.a);
	rdv_free(e->r);
	cknet_free(e->net);
	free(e);
	return 0;
}

static struct agent_plan plan(const char *peer, int probes)
{
	struct agent_plan p = {.nsteps = 1, .probes = probes};

	snprintf(p.peer, sizeof(p.peer), "%s", peer);
	p.steps[0].m = &method_testbind;
	return p;
}

static struct agent_counters cnt(struct side *s)
{
	struct agent_counters c;

	agent_counters(s->a, &c);
	return c;
}

static void connect_probes_and_reports(void **state)
{
	struct env *e = *state;
	struct agent_plan p = plan("bob", 5);
	const struct agent_report *r = &e->alice.rep;
	int rdv_seen;

	/* asked before registration: it waits for it */
	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	assert_int_equal(agent_connect(e->alice.a, &p), -EBUSY);
	cknet_run_for(e->net, 10 * S);
	assert_int_equal(e->alice.ready, 1);
	assert_int_equal(e->bob.ready, 1);
	assert_int_equal(e->alice.reports, 1);
	assert_true(r->success);
	assert_string_equal(r->reason, "");
	assert_string_equal(r->peer, "bob");
	assert_ptr_equal(r->m, &method_testbind);
	assert_string_equal(r->path, "direct");
	/* from the CONNECT, which waited for the registration (STUN 20,
	 * REGISTER 20): CONNECT 10 + start 200 + INTRODUCE 10, one check's
	 * round trip 20 */
	assert_int_equal((int)r->setup_ms, 240);
	assert_int_equal(r->ntried, 1);
	assert_true(r->tried[0].success);
	assert_int_equal((int)r->tried[0].ms, 20);
	assert_true(dg_ep_eq(&r->local, &agent_self(e->alice.a)->host));
	assert_true(dg_ep_eq(&r->remote, &agent_self(e->bob.a)->host));
	assert_int_equal(r->probe.sent, 5);
	assert_int_equal(r->probe.answered, 5);
	assert_true(r->probe.loss == 0);
	assert_true(r->probe.rtt_ms == 20 && r->probe.rtt_min_ms == 20 &&
		    r->probe.rtt_max_ms == 20);
	assert_int_equal(cnt(&e->bob).tries_ok, 1);
	assert_int_equal(cnt(&e->bob).probes_echoed, 5);
	assert_int_equal(cnt(&e->alice).tries_ok, 1);
	/* after setup nothing but registration refreshes reach the rendezvous */
	rdv_seen = e->rdv_other;
	assert_int_equal(rdv_seen, 6); /* CONNECT, its answer, 2 INTRODUCE, 2 acks */
	cknet_run_for(e->net, 20 * S);
	assert_int_equal(e->rdv_other, rdv_seen);
}

/* Probes long after the connect: the responder's try is over, the path it
 * keeps on its main socket echoes them (from the initiator only). */
static void slow_probes_echoed_on_the_path(void **state)
{
	struct env *e = *state;
	struct agent_plan p = plan("bob", 4);

	p.probe.interval_ns = 5 * S;
	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	cknet_run_for(e->net, 40 * S);
	assert_int_equal(e->alice.reports, 1);
	assert_true(e->alice.rep.success);
	assert_int_equal(e->alice.rep.probe.sent, 4);
	assert_int_equal(e->alice.rep.probe.answered, 4);
	assert_int_equal(cnt(&e->bob).probes_echoed, 4);
}

/* A lost probe is loss, not failure. */
static void probe_loss_measured(void **state)
{
	struct env *e = *state;
	struct agent_plan p = plan("bob", 5);

	e->drop_probe_seq = 2;
	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	cknet_run_for(e->net, 10 * S);
	assert_true(e->alice.rep.success);
	assert_int_equal(e->alice.rep.probe.answered, 4);
	assert_true(e->alice.rep.probe.loss > 0.19 && e->alice.rep.probe.loss < 0.21);
	assert_int_equal(cnt(&e->bob).probes_echoed, 4);
}

static void peer_unknown_fails_with_reason(void **state)
{
	struct env *e = *state;
	struct agent_plan p = plan("carol", 5);

	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	cknet_run_for(e->net, 10 * S);
	assert_int_equal(e->alice.reports, 1);
	assert_false(e->alice.rep.success);
	assert_string_equal(e->alice.rep.path, "none");
	assert_string_equal(e->alice.rep.reason, "rendezvous refused: peer not registered");
	assert_int_equal(e->alice.rep.ntried, 1);
	assert_false(e->alice.rep.tried[0].success);
	assert_true(e->alice.rep.probe.rtt_ms < 0);
}

/* Checks filtered both ways: the method times out at its budget, the
 * second step (the same method, a shorter budget) too. */
static void filtered_times_out(void **state)
{
	struct env *e = *state;
	struct agent_plan p = plan("bob", 5);

	e->block_checks = true;
	p.nsteps = 2;
	p.steps[1].m = &method_testbind;
	p.steps[1].budget_ns = 500 * MS;
	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	cknet_run_for(e->net, 20 * S);
	assert_int_equal(e->alice.reports, 1);
	assert_false(e->alice.rep.success);
	assert_string_equal(e->alice.rep.reason, "timeout");
	assert_int_equal(e->alice.rep.ntried, 2);
	assert_int_equal((int)e->alice.rep.tried[0].ms, 3000);
	assert_int_equal((int)e->alice.rep.tried[1].ms, 500);
	assert_string_equal(e->alice.rep.tried[1].reason, "timeout");
	assert_int_equal(cnt(&e->bob).tries_failed, 2);
}

static void total_budget_spent(void **state)
{
	struct env *e = *state;
	struct agent_plan p = plan("bob", 5);

	e->block_checks = true;
	p.total_ns = 1500 * MS;
	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	cknet_run_for(e->net, 20 * S);
	assert_int_equal(e->alice.reports, 1);
	assert_false(e->alice.rep.success);
	/* the try got what was left of the budget, and ran out */
	assert_int_equal(e->alice.rep.ntried, 1);
	assert_true(e->alice.rep.tried[0].ms < 1500);
	assert_true(strcmp(e->alice.rep.reason, "timeout") == 0 ||
		    strcmp(e->alice.rep.reason, "budget spent") == 0);
}

/* A responder that does not serve refuses; the connect ends with its
 * reason. */
static void not_serving_refuses(void **state)
{
	struct env *e = *state;
	struct agent_plan p = plan("alice", 1);

	assert_int_equal(agent_connect(e->bob.a, &p), 0);
	cknet_run_for(e->net, 10 * S);
	assert_int_equal(cnt(&e->alice).tries_refused, 1);
	assert_int_equal(e->bob.reports, 1);
	assert_false(e->bob.rep.success);
	assert_string_equal(e->bob.rep.reason, "peer refused: not serving");
	assert_int_equal(cnt(&e->bob).tries_failed, 1);
}

/* A serving agent with room for one try refuses a second introduction as
 * busy; the rendezvous tells the initiator (CANCEL), whose try ends at
 * once with the peer's reason instead of at its deadline. Once the first
 * try is over, the same connect goes through. */
static void busy_refusal_reaches_initiator(void **state)
{
	struct env *e = *state;
	struct agent_config cfg = {.rdv = e->rdv_ep,
				   .stun = e->stun_ep,
				   .serve = true,
				   .find_method = find_test,
				   .max_tries = 1};
	struct side dave = {0};
	struct agent_ops ops = {.ready = on_ready, .failed = on_failed, .arg = &dave};
	struct agent_plan p = plan("dave", 1);
	const struct agent_report *r = &e->carol.rep;
	struct rdv_counters rc;

	strcpy(cfg.name, "dave");
	assert_int_equal(agent_new(cknet_host(e->net, "203.0.113.4"), &cfg, &ops, &dave.a), 0);
	cfg = (struct agent_config){.rdv = e->rdv_ep, .stun = e->stun_ep, .find_method = find_test};
	ops = (struct agent_ops){.report = on_report, .arg = &e->carol};
	strcpy(cfg.name, "carol");
	assert_int_equal(agent_new(cknet_host(e->net, "203.0.113.3"), &cfg, &ops, &e->carol.a), 0);
	cknet_run_for(e->net, 1 * S);
	/* the same moment: alice's introduction reaches dave first */
	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	assert_int_equal(agent_connect(e->carol.a, &p), 0);
	cknet_run_for(e->net, 500 * MS);
	assert_int_equal(e->alice.reports, 1);
	assert_true(e->alice.rep.success);
	assert_int_equal(e->carol.reports, 1);
	assert_false(r->success);
	assert_string_equal(r->reason, "peer refused: busy");
	assert_int_equal(r->ntried, 1);
	assert_string_equal(r->tried[0].reason, "peer refused: busy");
	/* from the ask: CONNECT 10, INTRODUCE 10, the refusal 10, CANCEL 10 */
	assert_int_equal((int)r->tried[0].ms, 40);
	assert_int_equal(cnt(&dave).tries_refused, 1);
	assert_int_equal(cnt(&e->carol).tries_cancelled, 1);
	assert_int_equal(cnt(&e->carol).tries_run, 0);
	rdv_counters(e->r, &rc);
	assert_int_equal(rc.cancels, 1);
	assert_int_equal(rc.cancel_acked, 1);
	/* alice's try holds dave's one place until its deadline (3 s) */
	cknet_run_for(e->net, 3 * S);
	assert_int_equal(agent_connect(e->carol.a, &p), 0);
	cknet_run_for(e->net, 1 * S);
	assert_int_equal(e->carol.reports, 2);
	assert_true(r->success);
	agent_free(dave.a);
}

static void strays_counted(void **state)
{
	struct env *e = *state;
	struct dg_ep mallory = cknet_ep("203.0.113.66", 999), bob;
	uint8_t txid[STUN_TXID_LEN] = {1}, buf[64];
	struct stun_builder b;
	int n;

	cknet_run_for(e->net, 1 * S);
	bob = agent_local(e->bob.a);
	cknet_inject(e->net, &mallory, &bob, "junk", 4);
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, txid,
			    false);
	n = stun_msg_build_finish(&b);
	cknet_inject(e->net, &mallory, &bob, buf, (size_t)n);
	stun_msg_build_init(&b, buf, sizeof(buf), NBSTUN_METHOD_PROBE, STUN_CLASS_REQUEST, txid,
			    false);
	n = stun_msg_build_finish(&b);
	cknet_inject(e->net, &mallory, &bob, buf, (size_t)n);
	cknet_run_for(e->net, 1 * S);
	assert_int_equal(cnt(&e->bob).stray[AGENT_STRAY_NOT_STUN], 1);
	assert_int_equal(cnt(&e->bob).stray[AGENT_STRAY_UNCLAIMED], 2);
	assert_int_equal(cnt(&e->bob).probes_echoed, 0);
}

/* A cascade over table[0..n), balanced, every try learned in l. */
static struct agent_plan cascade(const char *peer, const struct method *const *table, size_t n,
				 struct learn *l)
{
	struct agent_plan p = {.probes = 2,
			       .cascade = true,
			       .table = table,
			       .ntable = n,
			       .priority = SEL_BALANCED,
			       .learn = l};

	snprintf(p.peer, sizeof(p.peer), "%s", peer);
	return p;
}

static void assert_tried(const struct agent_tried *t, const struct method *m, bool success,
			 bool skipped, const char *reason)
{
	assert_ptr_equal(t->m, m);
	assert_int_equal(t->success, success);
	assert_int_equal(t->skipped, skipped);
	assert_string_equal(t->reason, reason);
}

static struct learn_counts learned(const struct learn *l, const char *method)
{
	struct learn_counts c;

	learn_get(l, "unknown|unknown", method, &c);
	return c;
}

/* LOOKUP, then the methods by score: testfail fails, testbind connects;
 * testnever, with no chance, is listed as skipped after them. Both tries
 * are learned under the pair; after a second failure testfail's rate
 * falls below testbind's and the third connect tries testbind first. */
static void cascade_fails_then_succeeds_and_learns(void **state)
{
	static const struct method *const table[] = {&m_testnever, &method_testbind, &m_testfail};
	struct env *e = *state;
	struct learn *l = learn_new();
	struct agent_plan p = cascade("bob", table, 3, l);
	const struct agent_report *r = &e->alice.rep;
	char key[SEL_PAIR_KEY_MAX];

	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	cknet_run_for(e->net, 10 * S);
	assert_int_equal(e->alice.reports, 1);
	assert_true(r->success);
	assert_ptr_equal(r->m, &method_testbind);
	assert_true(r->pair_known);
	assert_string_equal(sel_pair_key(&r->pair, key), "unknown|unknown");
	assert_int_equal(r->ntried, 3);
	assert_tried(&r->tried[0], &m_testfail, false, false, "filtered");
	assert_int_equal((int)r->tried[0].ms, 10);
	assert_tried(&r->tried[1], &method_testbind, true, false, "");
	assert_int_equal((int)r->tried[1].ms, 20);
	assert_tried(&r->tried[2], &m_testnever, false, true, "skipped: no chance for this pair");
	assert_true(r->tried[2].ms == 0);
	/* LOOKUP 20; CONNECT 10, start 200 after INTRODUCE's arrival 10
	 * later, testfail 10; the same again to testbind's start, then its
	 * check's 20 */
	assert_int_equal((int)r->setup_ms, 20 + 220 + 10 + 220 + 20);
	assert_int_equal(cnt(&e->bob).tries_failed, 1);
	assert_int_equal(learned(l, "testfail").attempts, 1);
	assert_int_equal(learned(l, "testfail").successes, 0);
	assert_int_equal(learned(l, "testbind").successes, 1);
	assert_true(learned(l, "testbind").setup_ms_sum == 20);
	assert_int_equal(learned(l, "testnever").attempts, 0);
	/* testfail 3.6 / 5 = 0.72 still beats testbind 3 / 5 */
	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	cknet_run_for(e->net, 10 * S);
	assert_int_equal(e->alice.reports, 2);
	assert_ptr_equal(r->tried[0].m, &m_testfail);
	/* now 3.6 / 6 = 0.6 against 4 / 6: testbind first, and alone */
	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	cknet_run_for(e->net, 10 * S);
	assert_int_equal(e->alice.reports, 3);
	assert_true(r->success);
	assert_int_equal(r->ntried, 2);
	assert_tried(&r->tried[0], &method_testbind, true, false, "");
	assert_tried(&r->tried[1], &m_testnever, false, true, "skipped: no chance for this pair");
	assert_int_equal(learned(l, "testfail").attempts, 2);
	assert_int_equal(learned(l, "testbind").attempts, 3);
	learn_free(l);
}

/* The plan's budget: testslow runs out its own 1.5 s, testbind (checks
 * blocked) gets what is left and is cut when the whole 3.5 s is spent;
 * the cut try is not learned (it was not the method's outcome). */
static void cascade_cut_by_budget(void **state)
{
	static const struct method *const table[] = {&method_testbind, &m_testslow, &m_testnever};
	struct env *e = *state;
	struct learn *l = learn_new();
	struct agent_plan p = cascade("bob", table, 3, l);
	const struct agent_report *r = &e->alice.rep;

	e->block_checks = true;
	p.total_ns = 3500 * MS;
	p.limits.budget_ns = p.total_ns;
	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	cknet_run_for(e->net, 20 * S);
	assert_int_equal(e->alice.reports, 1);
	assert_false(r->success);
	assert_string_equal(r->reason, "budget spent");
	assert_int_equal(r->ntried, 3);
	assert_tried(&r->tried[0], &m_testslow, false, false, "timeout");
	assert_int_equal((int)r->tried[0].ms, 1500);
	/* asked at 20 + 220 + 1500, started 220 later, cut at 3500 */
	assert_tried(&r->tried[1], &method_testbind, false, false, "budget spent");
	assert_int_equal((int)r->tried[1].ms, 3500 - 20 - 220 - 1500 - 220);
	assert_true(r->tried[2].skipped);
	assert_int_equal(learned(l, "testslow").attempts, 1);
	assert_int_equal(learned(l, "testbind").attempts, 0);
	learn_free(l);
}

/* A method whose own budget is more than the whole connect's is skipped
 * as such; a peer nobody registered ends the cascade at its LOOKUP. */
static void cascade_skips_and_refusals(void **state)
{
	static const struct method *const table[] = {&method_testbind, &m_testslow};
	struct env *e = *state;
	struct agent_plan p = cascade("bob", table, 2, NULL);
	const struct agent_report *r = &e->alice.rep;
	struct rdv_counters rc;

	p.total_ns = 2 * S;
	p.limits.budget_ns = p.total_ns;
	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	cknet_run_for(e->net, 10 * S);
	assert_int_equal(e->alice.reports, 1);
	assert_false(r->success);
	assert_string_equal(r->reason, "timeout");
	assert_int_equal(r->ntried, 2);
	assert_tried(&r->tried[0], &m_testslow, false, false, "timeout");
	assert_tried(&r->tried[1], &method_testbind, false, true,
		     "skipped: needs more than the budget");
	assert_ptr_equal(r->m, &m_testslow);
	p = cascade("carol", table, 2, NULL);
	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	cknet_run_for(e->net, 10 * S);
	assert_int_equal(e->alice.reports, 2);
	assert_false(r->success);
	assert_string_equal(r->reason, "rendezvous refused: peer not registered");
	assert_int_equal(r->ntried, 0);
	assert_null(r->m);
	assert_false(r->pair_known);
	rdv_counters(e->r, &rc);
	assert_int_equal(rc.lookups, 1);
	assert_int_equal(rc.lookup_errors, 1);
	assert_int_equal(rc.connects, 1);
	/* an empty table is no plan */
	p.ntable = 0;
	assert_int_equal(agent_connect(e->alice.a, &p), -EINVAL);
}

/* Discovery before registering, against a STUN server without
 * OTHER-ADDRESS: what it cannot test stays unknown, the agent goes on. */
static void discovery_without_other_address_goes_on(void **state)
{
	struct env *e = *state;
	struct agent_config cfg = {.rdv = e->rdv_ep,
				   .stun = e->stun_ep,
				   .find_method = find_test,
				   .discover = true,
				   .discover_test_ns = 1 * S};
	struct agent_ops ops = {
	    .ready = on_ready, .failed = on_failed, .discovered = on_discovered, .arg = &e->carol};
	struct agent_plan p =
	    cascade("carol", (const struct method *const[]){&method_testbind}, 1, NULL);

	strcpy(cfg.name, "carol");
	assert_int_equal(agent_new(cknet_host(e->net, "203.0.113.3"), &cfg, &ops, &e->carol.a), 0);
	cknet_run_for(e->net, 30 * S);
	assert_int_equal(e->carol.discovered, 1);
	assert_int_equal(e->carol.disc.err, DISC_ERR_NO_OTHER);
	assert_int_equal(e->carol.ready, 1);
	/* no NAT on the fake network: test I's mapping is the socket's own */
	assert_int_equal(agent_self(e->carol.a)->nat.map, NI_MAP_NONE);
	assert_int_equal(agent_self(e->carol.a)->nat.filter, NI_FILTER_UNKNOWN);
	/* the rendezvous has it: alice's LOOKUP sees carol open */
	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	cknet_run_for(e->net, 10 * S);
	assert_int_equal(e->alice.rep.pair.peer, NI_CLASS_OPEN);
}

static void registration_failure_reported(void **state)
{
	struct env *e = *state;
	struct agent_config cfg = {.rdv = cknet_ep("198.51.100.99", 4787),
				   .stun = e->stun_ep,
				   .find_method = method_testbind_find};
	struct agent_ops ops = {
	    .ready = on_ready, .failed = on_failed, .report = on_report, .arg = &e->alice};
	struct agent_plan p = plan("bob", 1);
	struct agent *lost;

	strcpy(cfg.name, "lost");
	assert_int_equal(agent_new(cknet_host(e->net, "203.0.113.3"), &cfg, &ops, &lost), 0);
	e->alice.reports = 0;
	assert_int_equal(agent_connect(lost, &p), 0);
	cknet_run_for(e->net, 60 * S);
	assert_int_equal(e->alice.failed, 1);
	assert_string_equal(e->alice.reason, "rendezvous timeout");
	assert_int_equal(e->alice.reports, 1);
	assert_string_equal(e->alice.rep.reason, "rendezvous timeout");
	agent_free(lost);
	strcpy(cfg.name, "b a d");
	assert_int_equal(agent_new(cknet_host(e->net, "203.0.113.4"), &cfg, &ops, &lost), -EINVAL);
}

/* --- through the NAT engines, in virtual time (emulator/vnet.h) ------------ */

static const char vnet_topo[] =
    "name: agents\n"
    "internet: { link: { delay: 10ms } }\n"
    "defaults: { link: { delay: 5ms } }\n"
    "nats:\n"
    "  nprc: { preset: port-restricted, public: 203.0.113.5, inside: 10.5.0.0/24 }\n"
    "  nsym: { preset: symmetric, public: 203.0.113.7, inside: 10.7.0.0/24 }\n"
    "  nlan: { preset: port-restricted, public: 203.0.113.11, inside: 192.168.50.0/24 }\n"
    "  nfc: { preset: full-cone, public: 203.0.113.1, inside: 10.1.0.0/24 }\n"
    "  nrc: { preset: restricted-cone, public: 203.0.113.2, inside: 10.2.0.0/24 }\n"
    "  nseq: { preset: symmetric-sequential, public: 203.0.113.9, inside: 10.9.0.0/24 }\n"
    "hosts:\n"
    "  stun: { addresses: [198.51.100.10, 198.51.100.11] }\n"
    "  rdv: { address: 198.51.100.20 }\n"
    "  prc: { nat: nprc, address: 10.5.0.10 }\n"
    "  sym: { nat: nsym, address: 10.7.0.10 }\n"
    "  lan1: { nat: nlan, address: 192.168.50.10 }\n"
    "  lan2: { nat: nlan, address: 192.168.50.11 }\n"
    "  srv: { address: 198.51.100.30 }\n"
    "  fc1: { nat: nfc, address: 10.1.0.10 }\n"
    "  fc2: { nat: nfc, address: 10.1.0.11 }\n"
    "  rc1: { nat: nrc, address: 10.2.0.10 }\n"
    "  rc2: { nat: nrc, address: 10.2.0.11 }\n"
    "  prc2: { nat: nprc, address: 10.5.0.11 }\n"
    "  sym2: { nat: nsym, address: 10.7.0.11 }\n"
    "  seq: { nat: nseq, address: 10.9.0.10 }\n";

struct venv {
	struct clock_virtual vc;
	struct sched *s;
	struct topo *t;
	struct vnet *v;
	struct dgstund *stun;
	struct rdv *r;
	struct dg_ep stun_ep, rdv_ep;
	struct side a, b;
};

static const struct dgram *vhost(struct venv *e, const char *name)
{
	const struct dgram *d = vnet_dgram(e->v, topo_host_find(e->t, name));

	assert_non_null(d);
	return d;
}

static int vsetup(void **state)
{
	struct venv *e = calloc(1, sizeof(*e));
	struct rdv_config rc = {.listen = cknet_ep("198.51.100.20", RDV_DEFAULT_PORT)};
	char err[TOPO_ERR_MAX];

	assert_non_null(e);
	e->s = sched_new(clock_virtual_clock(&e->vc), &e->vc);
	if (topo_load_string(vnet_topo, strlen(vnet_topo), "agents.yaml", "t-", &e->t, err,
			     sizeof(err)) < 0)
		fail_msg("topology: %s", err);
	e->v = vnet_new(&(struct vnet_cfg){.topo = e->t, .sched = e->s}, err, sizeof(err));
	if (!e->v)
		fail_msg("vnet: %s", err);
	e->stun_ep = cknet_ep("198.51.100.10", 3478);
	e->stun = dgstund_new(vhost(e, "stun"), e->stun_ep.addr, cknet_ep("198.51.100.11", 0).addr,
			      e->stun_ep.port);
	assert_non_null(e->stun);
	assert_int_equal(rdv_new(vhost(e, "rdv"), &rc, &e->r), 0);
	e->rdv_ep = rdv_local(e->r);
	*state = e;
	return 0;
}

static int vteardown(void **state)
{
	struct venv *e = *state;

	agent_free(e->a.a);
	agent_free(e->b.a);
	rdv_free(e->r);
	dgstund_free(e->stun);
	vnet_free(e->v);
	sched_free(e->s);
	topo_free(e->t);
	free(e);
	return 0;
}

/* An agent with the product's methods on host, discovering its NAT. */
static void vside(struct venv *e, struct side *s, const char *host, bool serve)
{
	struct agent_config cfg = {.rdv = e->rdv_ep,
				   .stun = e->stun_ep,
				   .serve = serve,
				   .find_method = method_find,
				   .discover = true};
	struct agent_ops ops = {.ready = on_ready,
				.failed = on_failed,
				.report = on_report,
				.discovered = on_discovered,
				.arg = s};

	snprintf(cfg.name, sizeof(cfg.name), "%s", host);
	s->d = vhost(e, host);
	assert_int_equal(agent_new(s->d, &cfg, &ops, &s->a), 0);
}

static void vrun(struct venv *e, natbed_time_t for_ns)
{
	sched_run_until(e->s, sched_now(e->s) + for_ns);
}

/* The product's table, as natbed-agent connect --cascade orders it. */
static struct agent_plan vcascade(const char *peer)
{
	static const struct method *table[AGENT_PLAN_MAX];
	size_t n = 0;

	while (n < AGENT_PLAN_MAX && (table[n] = method_at(n)))
		n++;
	return cascade(peer, table, n, NULL);
}

/* Each agent discovers its NAT before it registers, and registers what
 * it found: the LOOKUP of the cascade sees the peer's class, the pair
 * is port-restricted against symmetric, where punch cannot work (RFC
 * 4787, docs/methods.md): the cascade skips the hopeless methods and
 * connects with birthday. */
static void vnet_discovery_then_cascade(void **state)
{
	struct venv *e = *state;
	struct agent_plan p = vcascade("prc");
	const struct agent_report *r = &e->b.rep;
	char key[SEL_PAIR_KEY_MAX];

	vside(e, &e->a, "prc", true);
	vside(e, &e->b, "sym", false);
	assert_int_equal(agent_connect(e->b.a, &p), 0);
	vrun(e, 60 * S);
	assert_int_equal(e->a.discovered, 1);
	assert_int_equal(e->b.discovered, 1);
	assert_int_equal(e->a.disc.err, DISC_OK);
	assert_int_equal(natinfo_class(&e->a.disc.ni), NI_CLASS_PORT_RESTRICTED);
	assert_int_equal(natinfo_class(&e->b.disc.ni), NI_CLASS_SYM_RANDOM);
	assert_int_equal(natinfo_class(&agent_self(e->a.a)->nat), NI_CLASS_PORT_RESTRICTED);
	/* registered after the discovery ended */
	assert_int_equal(e->a.ready, 1);
	assert_int_equal(e->b.reports, 1);
	assert_true(r->pair_known);
	assert_string_equal(sel_pair_key(&r->pair, key), "symmetric-random|port-restricted");
	assert_true(r->success);
	assert_string_equal(r->m->spec.name, "birthday");
	assert_int_equal(r->ntried, 6);
	assert_string_equal(r->tried[0].m->spec.name, "birthday");
	assert_true(r->tried[0].success);
	for (int i = 1; i < 6; i++) {
		assert_true(r->tried[i].skipped);
		assert_string_equal(r->tried[i].reason, "skipped: no chance for this pair");
	}
	/* balanced scores of the skipped: direct 0.585, punch 0.525, portmap
	 * 0.445 and relay 0.434 (neither usable: no mapping NAT, no relayed
	 * candidate), predict 0.383 */
	assert_string_equal(r->tried[1].m->spec.name, "direct");
	assert_string_equal(r->tried[2].m->spec.name, "punch");
	assert_string_equal(r->tried[3].m->spec.name, "portmap");
	assert_string_equal(r->tried[4].m->spec.name, "relay");
	assert_string_equal(r->tried[5].m->spec.name, "predict");
	assert_int_equal(r->probe.sent, 2);
	assert_int_equal(r->probe.answered, 2);
	assert_int_equal(r->local.addr, cknet_ep("203.0.113.7", 0).addr);
	assert_int_equal(r->remote.addr, cknet_ep("203.0.113.5", 0).addr);
}

/* Two agents behind one NAT (no hairpinning): one site, direct first. */
static void vnet_same_site_direct_first(void **state)
{
	struct venv *e = *state;
	struct agent_plan p = vcascade("lan1");
	const struct agent_report *r = &e->b.rep;
	char key[SEL_PAIR_KEY_MAX];

	vside(e, &e->a, "lan1", true);
	vside(e, &e->b, "lan2", false);
	assert_int_equal(agent_connect(e->b.a, &p), 0);
	vrun(e, 60 * S);
	assert_int_equal(e->b.reports, 1);
	assert_string_equal(sel_pair_key(&r->pair, key), "same-site");
	assert_true(r->success);
	assert_string_equal(r->tried[0].m->spec.name, "direct");
	assert_true(r->tried[0].success);
	assert_true(dg_ep_eq(&r->remote, &agent_self(e->a.a)->host));
}

/* A serving agent behind a sequential symmetric NAT, and peer after peer
 * connecting with predict alone: each try spends the NAT's ports up to
 * its target, so the agent learns a fresh anchor after it (and at each
 * registration refresh); every peer's predict succeeds, not the first
 * alone ("no prediction": the NAT past the target). */
static void vnet_predict_again(void **state)
{
	static const struct natinfo seq = {NI_MAP_APDM,
					   NI_FILTER_APDF,
					   NI_PORTS_SEQUENTIAL,
					   1,
					   -1,
					   0},
				    fc = {NI_MAP_EIM, NI_FILTER_EIF, NI_PORTS_UNKNOWN, 0, -1, 0};
	static const char *const peers[] = {"fc1", "rc1", "fc2"};
	static const struct method *table[1];
	struct venv *e = *state;
	struct agent_config cfg = {.rdv = e->rdv_ep,
				   .stun = e->stun_ep,
				   .serve = true,
				   .find_method = method_find,
				   .nat = seq};
	struct agent_ops ops = {.ready = on_ready, .failed = on_failed, .arg = &e->a};
	struct rdvc_counters rc;
	uint16_t anchor = 0;

	table[0] = method_find("predict");
	assert_non_null(table[0]);
	strcpy(cfg.name, "seq");
	e->a.d = vhost(e, "seq");
	assert_int_equal(agent_new(e->a.d, &cfg, &ops, &e->a.a), 0);
	vrun(e, 1 * S);
	assert_int_equal(e->a.ready, 1);
	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
		struct agent_config pc = {
		    .rdv = e->rdv_ep, .stun = e->stun_ep, .find_method = method_find, .nat = fc};
		struct agent_ops po = {
		    .ready = on_ready, .failed = on_failed, .report = on_report, .arg = &e->b};
		struct agent_plan p = cascade("seq", table, 1, NULL);

		agent_free(e->b.a);
		memset(&e->b, 0, sizeof(e->b));
		snprintf(pc.name, sizeof(pc.name), "%s", peers[i]);
		e->b.d = vhost(e, peers[i]);
		assert_int_equal(agent_new(e->b.d, &pc, &po, &e->b.a), 0);
		assert_int_equal(agent_connect(e->b.a, &p), 0);
		vrun(e, 15 * S);
		assert_int_equal(e->b.reports, 1);
		if (!e->b.rep.success)
			fail_msg("%s: predict failed: %s", peers[i], e->b.rep.reason);
		assert_string_equal(e->b.rep.m->spec.name, "predict");
		/* a fresh anchor, past the ports the try spent */
		assert_true(ntohs(agent_self(e->a.a)->srflx.port) > anchor);
		anchor = ntohs(agent_self(e->a.a)->srflx.port);
	}
	rdvc_counters(agent_rdvc(e->a.a), &rc);
	assert_true(rc.reanchors >= 3); /* and any registration refresh */
}

/* --- with a TURN server: the relay candidate and the relay method ------ */

#define T_TURN "198.51.100.50"

struct tenv {
	struct cknet *net;
	struct rdv *r;
	struct turnd *td;
	struct dg_ep rdv_ep, stun_ep;
	struct side alice, bob;
};

static void tside(struct tenv *e, struct side *s, const char *ip, const char *name, bool serve,
		  const char *pass)
{
	struct agent_config cfg = {.rdv = e->rdv_ep,
				   .stun = e->stun_ep,
				   .serve = serve,
				   .turn = {.server = cknet_ep(T_TURN, 3478), .user = "agent"}};
	struct agent_ops ops = {
	    .ready = on_ready, .failed = on_failed, .report = on_report, .arg = s};

	snprintf(cfg.name, sizeof(cfg.name), "%s", name);
	if (pass)
		snprintf(cfg.turn.pass, sizeof(cfg.turn.pass), "%s", pass);
	else
		cfg.turn.server.addr = 0;
	s->d = cknet_host(e->net, ip);
	assert_int_equal(agent_new(s->d, &cfg, &ops, &s->a), 0);
}

/* alice and bob allocate with these passwords (NULL: no --turn); the TURN
 * server answers only its first answer_first requests (0: all). */
static void tenv_start(struct tenv *e, const char *alice_pass, const char *bob_pass,
		       unsigned answer_first)
{
	struct rdv_config cfg = {.listen = cknet_ep("198.51.100.5", RDV_DEFAULT_PORT)};
	struct turnd_cfg tc = {.listen = cknet_ep(T_TURN, 3478),
			       .user = "agent",
			       .pass = "secret",
			       .answer_first = answer_first};

	memset(e, 0, sizeof(*e));
	e->net = cknet_new(DELAY, 5);
	assert_int_equal(rdv_new(cknet_host(e->net, "198.51.100.5"), &cfg, &e->r), 0);
	e->rdv_ep = rdv_local(e->r);
	assert_int_equal(cknet_stund(e->net, "198.51.100.10", 3478), 0);
	e->stun_ep = cknet_ep("198.51.100.10", 3478);
	e->td = turnd_new(cknet_host(e->net, T_TURN), &tc);
	assert_non_null(e->td);
	tside(e, &e->bob, "203.0.113.2", "bob", true, bob_pass);
	tside(e, &e->alice, "203.0.113.1", "alice", false, alice_pass);
}

static void tenv_end(struct tenv *e)
{
	agent_free(e->alice.a);
	agent_free(e->bob.a);
	turnd_free(e->td);
	rdv_free(e->r);
	cknet_free(e->net);
}

static struct agent_plan relay_plan(const char *peer, int probes)
{
	struct agent_plan p = plan(peer, probes);

	p.steps[0].m = method_find("relay");
	return p;
}

/* Both allocate and register their relayed address; the initiator's
 * allocation carries the try and its probes (ChannelData both ways). */
static void relay_connect(void **state)
{
	struct tenv e;
	struct agent_plan p = relay_plan("bob", 5);
	const struct agent_report *r = &e.alice.rep;
	struct turnd_stats st;

	tenv_start(&e, "secret", "secret", 0);
	assert_int_equal(agent_connect(e.alice.a, &p), 0);
	cknet_run_for(e.net, 10 * S);
	assert_int_equal(e.alice.reports, 1);
	if (!r->success)
		fail_msg("relay: %s", r->reason);
	assert_string_equal(r->path, "relay");
	assert_ptr_equal(r->m, method_find("relay"));
	/* registered with the relayed address: the first REGISTER waited */
	assert_int_equal(agent_self(e.alice.a)->relay.addr, cknet_ep(T_TURN, 0).addr);
	assert_int_equal(agent_self(e.bob.a)->relay.addr, cknet_ep(T_TURN, 0).addr);
	/* alice relays: her end is her relayed address, bob's reaches it */
	assert_true(dg_ep_eq(&r->local, &agent_self(e.alice.a)->relay));
	assert_true(dg_ep_eq(&r->remote, &agent_self(e.bob.a)->host));
	assert_int_equal(r->probe.answered, 5);
	turnd_stats(e.td, &st);
	assert_true(st.channel_data_in >= 5 && st.channel_data_out >= 5);
	assert_int_equal(cnt(&e.bob).probes_echoed, 5);
	tenv_end(&e);
}

/* Only the responder allocated: its relayed socket is its path, and it
 * echoes the initiator's probes through the TURN server. */
static void relay_responder_allocation(void **state)
{
	struct tenv e;
	struct agent_plan p = relay_plan("bob", 5);
	const struct agent_report *r = &e.alice.rep;
	struct turnd_stats st;

	tenv_start(&e, NULL, "secret", 0);
	cknet_run_for(e.net, 1 * S); /* bob registers once he has his relay */
	assert_int_equal(e.bob.ready, 1);
	assert_int_equal(agent_connect(e.alice.a, &p), 0);
	cknet_run_for(e.net, 10 * S);
	assert_int_equal(e.alice.reports, 1);
	if (!r->success)
		fail_msg("relay: %s", r->reason);
	assert_string_equal(r->path, "relay");
	assert_int_equal(agent_self(e.alice.a)->relay.addr, 0);
	/* alice checked bob's relayed address: that is her remote */
	assert_true(dg_ep_eq(&r->remote, &agent_self(e.bob.a)->relay));
	assert_int_equal(r->probe.answered, 5);
	assert_int_equal(cnt(&e.bob).probes_echoed, 5);
	turnd_stats(e.td, &st);
	assert_true(st.channel_data_in >= 5 && st.channel_data_out >= 5);
	tenv_end(&e);
}

/* A refused allocation: registered without a relay at once, and a relay
 * connect names the 401. */
static void relay_refused(void **state)
{
	struct tenv e;
	struct agent_plan p = relay_plan("bob", 5);

	tenv_start(&e, "wrong", NULL, 0);
	assert_int_equal(agent_connect(e.alice.a, &p), 0);
	cknet_run_for(e.net, 500 * MS);
	assert_int_equal(e.alice.ready, 1); /* no wait for a relay refused */
	assert_int_equal(agent_self(e.alice.a)->relay.addr, 0);
	cknet_run_for(e.net, 10 * S);
	assert_int_equal(e.alice.reports, 1);
	assert_false(e.alice.rep.success);
	assert_string_equal(e.alice.rep.reason, "401 Unauthorized: the TURN server refused the "
						"username or password (Unauthorized)");
	assert_string_equal(e.alice.rep.path, "none");
	tenv_end(&e);
}

/* A silent TURN server: the first registration waits AGENT_TURN_WAIT_MS
 * and goes without a relay. */
static void relay_silent_server(void **state)
{
	struct tenv e;

	tenv_start(&e, "secret", NULL, 1);
	cknet_run_for(e.net, AGENT_TURN_WAIT_MS * MS - 100 * MS);
	assert_int_equal(e.alice.ready, 0);
	cknet_run_for(e.net, 1 * S);
	assert_int_equal(e.alice.ready, 1);
	assert_int_equal(agent_self(e.alice.a)->relay.addr, 0);
	assert_null(turnsock_error(agent_turn(e.alice.a))); /* still asking */
	tenv_end(&e);
}

/* --- one serving agent, many connecting ones ------------------------------ */

#define ARRIVALS 10

struct arrival {
	struct venv *e;
	const char *host;
	natbed_time_t at_ns;
	struct natinfo nat; /* registered as is: no discovery, arrivals on time */
	struct side s;
	struct agent_plan p;
};

static void arrive(void *arg, natbed_time_t now)
{
	struct arrival *v = arg;
	struct agent_config cfg = {
	    .rdv = v->e->rdv_ep, .stun = v->e->stun_ep, .find_method = method_find, .nat = v->nat};
	struct agent_ops ops = {
	    .ready = on_ready, .failed = on_failed, .report = on_report, .arg = &v->s};

	snprintf(cfg.name, sizeof(cfg.name), "%s.c%d", v->host, (int)(v->at_ns / MS));
	v->s.d = vhost(v->e, v->host);
	assert_int_equal(agent_new(v->s.d, &cfg, &ops, &v->s.a), 0);
	v->p = vcascade("srv");
	assert_int_equal(agent_connect(v->s.a, &v->p), 0);
}

/* Clients behind every kind of NAT arrive one after another, some at the
 * same moment, and connect through the cascade to one public serving
 * agent: its tries overlap (a successful one answers until its deadline)
 * and each datagram must reach the try it belongs to. Every client
 * connects, with direct (one side public), at its first try. */
static void vnet_serve_many_arrivals(void **state)
{
	static const struct natinfo fc = {NI_MAP_EIM, NI_FILTER_EIF, NI_PORTS_UNKNOWN, 0, -1, 0},
				    rc = {NI_MAP_EIM, NI_FILTER_ADF, NI_PORTS_UNKNOWN, 0, -1, 0},
				    pr = {NI_MAP_EIM, NI_FILTER_APDF, NI_PORTS_UNKNOWN, 0, -1, 0},
				    sy = {NI_MAP_APDM, NI_FILTER_APDF, NI_PORTS_RANDOM, 0, -1, 0};
	struct venv *e = *state;
	static const struct {
		const char *host;
		int ms;
		const struct natinfo *nat;
	} when[ARRIVALS] = {
	    {"fc1", 0, &fc},	{"rc1", 300, &rc},  {"prc", 600, &pr},	 {"sym", 900, &sy},
	    {"fc2", 900, &fc},	{"rc2", 1000, &rc}, {"prc2", 1500, &pr}, {"sym2", 1510, &sy},
	    {"fc1", 2500, &fc}, {"rc1", 2500, &rc},
	};
	struct arrival v[ARRIVALS];
	struct agent_config cfg = {.rdv = e->rdv_ep,
				   .stun = e->stun_ep,
				   .serve = true,
				   .find_method = method_find,
				   .nat = {NI_MAP_NONE, NI_FILTER_NONE, NI_PORTS_PRESERVE, 0, -1}};
	struct agent_ops ops = {.ready = on_ready, .failed = on_failed, .arg = &e->a};
	natbed_time_t t0;

	strcpy(cfg.name, "srv");
	e->a.d = vhost(e, "srv");
	assert_int_equal(agent_new(e->a.d, &cfg, &ops, &e->a.a), 0);
	vrun(e, 1 * S);
	assert_int_equal(e->a.ready, 1);
	t0 = sched_now(e->s);
	for (int i = 0; i < ARRIVALS; i++) {
		v[i] = (struct arrival){
		    .e = e, .host = when[i].host, .at_ns = when[i].ms * MS, .nat = *when[i].nat};
		assert_true(sched_at(e->s, t0 + v[i].at_ns, arrive, &v[i]) > 0);
	}
	vrun(e, 60 * S);
	for (int i = 0; i < ARRIVALS; i++) {
		const struct agent_report *r = &v[i].s.rep;

		if (v[i].s.reports != 1 || !r->success || !r->tried[0].success)
			fail_msg("client %d (%s at %d ms): %d reports, %s, first try %s: %s", i,
				 v[i].host, (int)(v[i].at_ns / MS), v[i].s.reports,
				 r->success ? "connected" : r->reason,
				 r->ntried ? r->tried[0].m->spec.name : "none",
				 r->ntried ? r->tried[0].reason : "");
		assert_string_equal(r->tried[0].m->spec.name, "direct");
	}
	assert_int_equal(cnt(&e->a).tries_ok, ARRIVALS);
	assert_int_equal(cnt(&e->a).tries_failed, 0);
	for (int i = 0; i < ARRIVALS; i++)
		agent_free(v[i].s.a);
}

/* --- checkpoints ------------------------------------------------------- */

/* The test's functions and methods an agent holds. */
static const struct ckfn t_fns[] = {CKFN(on_ready), CKFN(on_failed), CKFN(on_report),
				    CKFN(on_discovered), CKFN(find_test)};
static const struct ckvar t_vars[] = {CKVAR(method_testbind), CKVAR(m_testfail), CKVAR(m_testslow),
				      CKVAR(m_testnever)};
static const struct ckfns t_table = CKFNS_VARS(test, t_fns, t_vars);
static const struct ckfns *const ck_parts[] = {&agent_ckfns, &rdvc_ckfns, &rdvtxn_ckfns, &t_table};

/* The agents a world's file holds. */
struct ck_agents {
	struct agent *a[2];
};

static json_t *agents_save(struct ckw *w, void *ctx)
{
	const struct ck_agents *as = ctx;

	return json_pack("[oo]", agent_ckpt_save(as->a[0], w), agent_ckpt_save(as->a[1], w));
}

static void agents_load(struct ckr *r, const json_t *parts, void *ctx)
{
	struct ck_agents *as = ctx;

	as->a[0] = agent_ckpt_load(json_array_get(parts, 0), r);
	as->a[1] = agent_ckpt_load(json_array_get(parts, 1), r);
}

/* Alice and bob written, loaded onto a scheduler of their own (copies of
 * their hosts' dgrams on it), written again: the same file. The world
 * (the rendezvous, datagrams in flight, the plan's table) is kept. */
static void agents_round_trip(struct env *e, const void *table)
{
	const void *objs[] = {e->alice.d, e->bob.d, &e->alice, &e->bob, table};
	struct ck_agents as = {{e->alice.a, e->bob.a}}, ls = {{NULL, NULL}};
	struct clock_virtual vc = {sched_now(cknet_sched(e->net))};
	struct sched *s = sched_new(clock_virtual_clock(&vc), &vc);
	struct dgram da, db;
	struct ckworld cw;
	char err[256];
	const json_t *parts;
	json_t *j, *j2;

	assert_non_null(s);
	ckworld_dgram(e->alice.d, s, &da);
	ckworld_dgram(e->bob.d, s, &db);
	ckworld_init(&cw, cknet_sched(e->net), ck_parts, 4, objs, 5);
	j = ckworld_save(&cw, cknet_sched(e->net), agents_save, &as, err, sizeof(err));
	if (!j)
		print_error("%s\n", err);
	assert_non_null(j);
	/* bob's path of the connect done, alice's try and path slots free */
	parts = ckworld_parts(j);
	assert_true(
	    json_is_object(json_array_get(json_object_get(json_array_get(parts, 1), "paths"), 0)));
	assert_true(
	    json_is_null(json_array_get(json_object_get(json_array_get(parts, 0), "tries"), 0)));
	assert_true(
	    json_is_null(json_array_get(json_object_get(json_array_get(parts, 0), "paths"), 0)));
	ckworld_subst(&cw, e->alice.d, &da);
	ckworld_subst(&cw, e->bob.d, &db);
	assert_int_equal(ckworld_load(&cw, j, s, agents_load, &ls, err, sizeof(err)), 0);
	j2 = ckworld_save(&cw, s, agents_save, &ls, err, sizeof(err));
	assert_non_null(j2);
	ckworld_assert_equal(j, j2);
	assert_int_equal(sched_pending(s), sched_pending(cknet_sched(e->net)));
	json_decref(j);
	json_decref(j2);
	agent_free(ls.a[0]); /* their dgrams close nothing of alice's and bob's */
	agent_free(ls.a[1]);
	sched_free(s);
}

/* A connect done (bob keeps the path it echoes probes on, each side a
 * try slot and a path slot no try or path holds now), then a cascade
 * under its budget: written, loaded and written again the same while
 * its LOOKUP is under way, then while its first step's CONNECT is. */
static void ckpt_round_trip(void **state)
{
	static const struct method *const table[] = {&m_testnever, &method_testbind, &m_testfail};
	struct env *e = *state;
	struct agent_plan p = plan("bob", 3), c = cascade("bob", table, 3, NULL);

	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	cknet_run_for(e->net, 10 * S);
	assert_int_equal(e->alice.reports, 1);
	assert_true(e->alice.rep.success);
	c.total_ns = 8 * S;
	assert_int_equal(agent_connect(e->alice.a, &c), 0);
	cknet_run_for(e->net, 5 * MS);
	agents_round_trip(e, table);
	cknet_run_for(e->net, 20 * MS); /* LOOKUP answered, CONNECT asked */
	assert_int_equal(e->alice.reports, 1);
	agents_round_trip(e, table);
	cknet_run_for(e->net, 10 * S);
	assert_int_equal(e->alice.reports, 2);
	assert_true(e->alice.rep.success);
}

/* The writer refuses a function in no table (the owner's callbacks); the
 * reader an agent whose field is broken. */
static void ckpt_refused(void **state)
{
	static const struct ckfns *const no_test[] = {&agent_ckfns, &rdvc_ckfns, &rdvtxn_ckfns};
	struct env *e = *state;
	const void *objs[] = {e->alice.d, e->bob.d, &e->alice, &e->bob};
	struct ck_agents as = {{e->alice.a, e->bob.a}}, ls = {{NULL, NULL}};
	struct clock_virtual vc;
	struct sched *s;
	struct ckworld cw;
	char err[256];
	json_t *j;

	cknet_run_for(e->net, 1 * S);
	ckworld_init(&cw, cknet_sched(e->net), no_test, 3, objs, 4);
	assert_null(ckworld_save(&cw, cknet_sched(e->net), agents_save, &as, err, sizeof(err)));
	assert_non_null(strstr(err, "in no module's table"));
	ckworld_init(&cw, cknet_sched(e->net), ck_parts, 4, objs, 4);
	j = ckworld_save(&cw, cknet_sched(e->net), agents_save, &as, err, sizeof(err));
	assert_non_null(j);
	json_object_set_new(json_object_get(json_array_get(ckworld_parts(j), 0), "connect"), "step",
			    json_integer(AGENT_PLAN_MAX + 1));
	vc.now_ns = sched_now(cknet_sched(e->net));
	s = sched_new(clock_virtual_clock(&vc), &vc);
	assert_int_equal(ckworld_load(&cw, j, s, agents_load, &ls, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "agent.connect: step: not an integer in range"));
	assert_null(ls.a[0]);
	json_decref(j);
	sched_free(s);
}

/* --- a continuation on the checkpointable network (tests/support/cknet) */

#define CK_RDV	"198.51.100.5"
#define CK_STUN "198.51.100.10"
#define CK_ALT	"198.51.100.11"
#define CK_TURN "198.51.100.50"

static const struct ckfn ck_test_fns[] = {CKFN(on_ready), CKFN(on_failed), CKFN(on_report)};
static const struct ckfns ck_test_table = CKFNS(test, ck_test_fns);
static const struct ckfns *const ck_net_tables[] = {
    &cknet_ckfns, &rdv_ckfns,	 &dgstund_ckfns, &turnd_ckfns,	  &agent_ckfns,
    &rdvc_ckfns,  &rdvtxn_ckfns, &probe_ckfns,	 &trav_try_ckfns, &mc_ckfns,
    &pcpc_ckfns,  &disc_ckfns,	 &turn_ckfns,	 &turnsock_ckfns, &ck_test_table};
#define CK_NET_TABLES (sizeof(ck_net_tables) / sizeof(ck_net_tables[0]))

/* One world on the checkpointable network: the rendezvous, a STUN
 * server, bob serving and alice connecting to him (5 probes) with the
 * product's direct method; or, with relay, both allocating on a TURN
 * server and alice connecting with relay; with discover, alice runs the
 * RFC 5780 discovery first (the STUN server has its alternate address).
 * Alice always asks a gateway that never answers whether it maps ports. */
struct ckcase {
	bool discover, relay;
	bool crowd;	   /* carol connects to bob too, dave at 5 s */
	natbed_time_t at;  /* saved then */
	const char *holds; /* what the parts must hold then: "try", "probe", "disc", "crowd" */
};

struct ckagents {
	struct cknet *n;
	struct rdv *r;
	struct dgstund *stund;
	struct turnd *td;
	struct side alice, bob, carol, dave;
};

static void ck_side(struct ckagents *w, const struct ckcase *c, struct side *s, const char *ip,
		    const char *name, bool serve)
{
	struct agent_config cfg = {.rdv = cknet_ep(CK_RDV, RDV_DEFAULT_PORT),
				   .stun = cknet_ep(CK_STUN, 3478),
				   .serve = serve,
				   .find_method = method_find,
				   .discover = c->discover && !serve,
				   .turn = {.user = "agent", .pass = "secret"},
				   .gateway =
				       serve ? (struct dg_ep){0} : cknet_ep("203.0.113.254", 5351)};
	struct agent_ops ops = {
	    .ready = on_ready, .failed = on_failed, .report = on_report, .arg = s};

	if (c->relay)
		cfg.turn.server = cknet_ep(CK_TURN, 3478);
	snprintf(cfg.name, sizeof(cfg.name), "%s", name);
	s->d = cknet_host(w->n, ip);
	assert_int_equal(agent_new(s->d, &cfg, &ops, &s->a), 0);
}

static void ck_start(struct ckagents *w, const struct ckcase *c)
{
	struct rdv_config cfg = {.listen = cknet_ep(CK_RDV, RDV_DEFAULT_PORT)};
	struct turnd_cfg tc = {
	    .listen = cknet_ep(CK_TURN, 3478), .user = "agent", .pass = "secret"};
	struct agent_plan p = {.nsteps = 1, .probes = 5, .peer = "bob"};

	memset(w, 0, sizeof(*w));
	w->n = cknet_new(DELAY, 5);
	assert_non_null(w->n);
	assert_int_equal(rdv_new(cknet_host(w->n, CK_RDV), &cfg, &w->r), 0);
	w->stund = dgstund_new(cknet_host2(w->n, CK_STUN, CK_ALT), cknet_ep(CK_STUN, 0).addr,
			       cknet_ep(CK_ALT, 0).addr, htons(3478));
	assert_non_null(w->stund);
	if (c->relay)
		assert_non_null(w->td = turnd_new(cknet_host(w->n, CK_TURN), &tc));
	ck_side(w, c, &w->bob, "203.0.113.2", "bob", true);
	ck_side(w, c, &w->alice, "203.0.113.1", "alice", false);
	p.steps[0].m = c->relay ? method_find("relay") : &method_direct;
	assert_int_equal(agent_connect(w->alice.a, &p), 0);
	if (!c->crowd)
		return;
	ck_side(w, c, &w->carol, "203.0.113.3", "carol", false);
	ck_side(w, c, &w->dave, "203.0.113.4", "dave", false);
	assert_int_equal(agent_connect(w->carol.a, &p), 0);
	cknet_run_until(w->n, 5 * S);
	assert_int_equal(agent_connect(w->dave.a, &p), 0);
}

static void ck_free(struct ckagents *w)
{
	agent_free(w->alice.a);
	agent_free(w->carol.a);
	agent_free(w->dave.a);
	agent_free(w->bob.a);
	turnd_free(w->td);
	dgstund_free(w->stund);
	rdv_free(w->r);
	cknet_free(w->n);
}

/* A side: what the test counts, and its agent (null: none). */
static json_t *ck_side_save(struct ckw *w, const struct side *s)
{
	if (!s->a)
		return json_null();
	return json_pack("{s:o,s:o,s:i,s:i,s:i,s:o}", "id", ckw_obj(w, s), "d", ckw_ref(w, s->d),
			 "ready", s->ready, "failed", s->failed, "reports", s->reports, "agent",
			 agent_ckpt_save(s->a, w));
}

static void ck_side_load(struct ckr *r, const json_t *j, struct side *s)
{
	if (json_is_null(j))
		return;
	ckr_obj(r, json_object_get(j, "id"), s);
	ckr_ref(r, json_object_get(j, "d"), &s->d);
	s->ready = (int)json_integer_value(json_object_get(j, "ready"));
	s->failed = (int)json_integer_value(json_object_get(j, "failed"));
	s->reports = (int)json_integer_value(json_object_get(j, "reports"));
	s->a = agent_ckpt_load(json_object_get(j, "agent"), r);
}

static json_t *ck_parts_save(struct ckw *ck, void *ctx)
{
	struct ckagents *w = ctx;

	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "rdv", rdv_ckpt_save(w->r, ck), "stund",
			 dgstund_ckpt_save(w->stund, ck), "turnd",
			 w->td ? turnd_ckpt_save(w->td, ck) : json_null(), "bob",
			 ck_side_save(ck, &w->bob), "alice", ck_side_save(ck, &w->alice), "carol",
			 ck_side_save(ck, &w->carol), "dave", ck_side_save(ck, &w->dave));
}

static int ck_parts_load(struct ckr *r, const json_t *j, void *ctx)
{
	struct ckagents *w = ctx;
	const json_t *td = json_object_get(j, "turnd");

	w->r = rdv_ckpt_load(json_object_get(j, "rdv"), r);
	w->stund = dgstund_ckpt_load(json_object_get(j, "stund"), r);
	w->td = json_is_null(td) ? NULL : turnd_ckpt_load(td, r);
	ck_side_load(r, json_object_get(j, "bob"), &w->bob);
	ck_side_load(r, json_object_get(j, "alice"), &w->alice);
	ck_side_load(r, json_object_get(j, "carol"), &w->carol);
	ck_side_load(r, json_object_get(j, "dave"), &w->dave);
	return w->r && w->stund && (w->td || json_is_null(td)) && w->bob.a && w->alice.a ? 0 : -1;
}

/* What the case says alice holds when saved. */
static void ck_holds(const json_t *j, const struct ckcase *c)
{
	const json_t *parts = cknet_world_parts(j);
	const json_t *agent =
	    json_object_get(json_object_get(parts, c->crowd ? "dave" : "alice"), "agent");
	const json_t *conn = json_object_get(agent, "connect");
	const json_t *bob = json_object_get(json_object_get(parts, "bob"), "agent");

	assert_false(json_is_null(json_object_get(agent, "pcp_probe")));
	assert_true(json_is_null(json_object_get(agent, "ts")) == !c->relay);
	if (c->crowd) { /* dave's try in alice's slot, carol's free; a path for each */
		assert_int_equal(json_array_size(json_object_get(bob, "tries")), 2);
		assert_true(json_is_object(json_array_get(json_object_get(bob, "tries"), 0)) &&
			    json_is_null(json_array_get(json_object_get(bob, "tries"), 1)));
		assert_int_equal(json_array_size(json_object_get(bob, "paths")), 3);
	}
	if (strcmp(c->holds, "disc") == 0) /* discovering, not yet registering */
		assert_true(!json_is_null(json_object_get(agent, "disc")) &&
			    json_is_false(json_object_get(agent, "rdv_started")));
	else if (strcmp(c->holds, "try") == 0) /* the try runs, its check engine with it */
		assert_true(json_is_true(json_object_get(
		    json_array_get(json_object_get(agent, "tries"), 0), "running")));
	else /* the path found, its probe under way */
		assert_true(!json_is_null(json_object_get(conn, "cpath")) &&
			    json_is_null(json_object_get(conn, "ctry")));
}

/* The whole world saved at a case's time, loaded into a new network: the
 * file is the same, and both worlds deliver the same datagrams at the
 * same times to the end; the last to connect (alice, or dave) reports
 * the same, and both worlds count the same. */
static void ck_case(const struct ckcase *c)
{
	struct ckagents a, b;
	struct side *sa = c->crowd ? &a.dave : &a.alice, *sb = c->crowd ? &b.dave : &b.alice;
	struct agent_counters ca, cb;
	char err[256];
	json_t *j, *again;

	ck_start(&a, c);
	cknet_run_until(a.n, c->at);
	assert_int_equal(sa->reports, 0);
	j = cknet_world_save(a.n, ck_net_tables, CK_NET_TABLES, ck_parts_save, &a, err,
			     sizeof(err));
	if (!j)
		fail_msg("save at %lld ms: %s", (long long)(c->at / MS), err);
	ck_holds(j, c);
	memset(&b, 0, sizeof(b));
	b.n =
	    cknet_world_load(j, ck_net_tables, CK_NET_TABLES, ck_parts_load, &b, err, sizeof(err));
	if (!b.n)
		fail_msg("load at %lld ms: %s", (long long)(c->at / MS), err);
	again = cknet_world_save(b.n, ck_net_tables, CK_NET_TABLES, ck_parts_save, &b, err,
				 sizeof(err));
	assert_non_null(again);
	ckworld_assert_equal(j, again);
	json_decref(j);
	json_decref(again);
	cknet_log_clear(a.n);
	cknet_log_clear(b.n);
	cknet_run_until(a.n, 20 * S);
	cknet_run_until(b.n, 20 * S);
	assert_true(strlen(cknet_log(a.n)) > 0);
	assert_string_equal(cknet_log(a.n), cknet_log(b.n));
	assert_int_equal(sa->reports, 1);
	assert_int_equal(sb->reports, 1);
	if (!sb->rep.success)
		fail_msg("at %lld ms: %s", (long long)(c->at / MS), sb->rep.reason);
	assert_true(sa->rep.success);
	assert_string_equal(sb->rep.path, c->relay ? "relay" : "direct");
	assert_true(sa->rep.setup_ms == sb->rep.setup_ms);
	assert_memory_equal(&sa->rep.probe, &sb->rep.probe, sizeof(sa->rep.probe));
	assert_int_equal(sb->rep.probe.answered, 5);
	agent_counters(a.bob.a, &ca);
	agent_counters(b.bob.a, &cb);
	assert_memory_equal(&ca, &cb, sizeof(ca));
	agent_counters(sa->a, &ca);
	agent_counters(sb->a, &cb);
	assert_memory_equal(&ca, &cb, sizeof(ca));
	ck_free(&a);
	ck_free(&b);
}

static void ckpt_continues(void **state)
{
	static const struct ckcase cases[] = {
	    {.at = 265 * MS, .holds = "try"},
	    {.at = 300 * MS, .holds = "probe"},
	    /* discovery ends at 170 ms, the relay try starts at 440 */
	    {.discover = true, .relay = true, .at = 15 * MS, .holds = "disc"},
	    {.discover = true, .relay = true, .at = 450 * MS, .holds = "try"},
	    {.discover = true, .relay = true, .at = 560 * MS, .holds = "probe"},
	    /* bob answered alice and carol; dave asks at 5 s */
	    {.crowd = true, .at = 5265 * MS, .holds = "try"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_case(&cases[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(connect_probes_and_reports, setup, teardown),
	    cmocka_unit_test_setup_teardown(slow_probes_echoed_on_the_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(probe_loss_measured, setup, teardown),
	    cmocka_unit_test_setup_teardown(peer_unknown_fails_with_reason, setup, teardown),
	    cmocka_unit_test_setup_teardown(filtered_times_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(total_budget_spent, setup, teardown),
	    cmocka_unit_test_setup_teardown(not_serving_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(busy_refusal_reaches_initiator, setup, teardown),
	    cmocka_unit_test_setup_teardown(strays_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(cascade_fails_then_succeeds_and_learns, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(cascade_cut_by_budget, setup, teardown),
	    cmocka_unit_test_setup_teardown(cascade_skips_and_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(discovery_without_other_address_goes_on, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(registration_failure_reported, setup, teardown),
	    cmocka_unit_test_setup_teardown(ckpt_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(ckpt_refused, setup, teardown),
	    cmocka_unit_test(ckpt_continues),
	    cmocka_unit_test_setup_teardown(vnet_discovery_then_cascade, vsetup, vteardown),
	    cmocka_unit_test_setup_teardown(vnet_same_site_direct_first, vsetup, vteardown),
	    cmocka_unit_test_setup_teardown(vnet_predict_again, vsetup, vteardown),
	    cmocka_unit_test(relay_connect),
	    cmocka_unit_test(relay_responder_allocation),
	    cmocka_unit_test(relay_refused),
	    cmocka_unit_test(relay_silent_server),
	    cmocka_unit_test_setup_teardown(vnet_serve_many_arrivals, vsetup, vteardown),
	};

	log_init("test_agent", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
