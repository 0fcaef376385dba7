/* Unit tests for natbed-agent's logic (agents/agent_core.c) in virtual
 * time on the fake network: a rendezvous, natbed-stund's request logic,
 * a serving agent and a connecting one, with the test method (a Binding
 * request each way, tests/support/method_testbind.c). The report's every
 * field; failures named by their reason; strays counted. */
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
#include "fakenet.h"
#include "method_testbind.h"
#include "natbed/log.h"
#include "nbstun.h"
#include "rdv.h"
#include "turnd.h"
#include "turnsock.h"

#define MS    NATBED_NS_PER_MS
#define S     NATBED_NS_PER_S
#define DELAY (10 * MS)

struct side {
	struct agent *a;
	const struct dgram *d;
	int ready, failed, reports;
	struct agent_report rep;
	char reason[128];
};

struct env {
	struct fakenet *net;
	struct rdv *r;
	struct dg_ep rdv_ep, stun_ep;
	struct side alice, bob;
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

static void on_report(void *arg, struct agent *a, const struct agent_report *r)
{
	struct side *s = arg;

	s->reports++;
	s->rep = *r;
}

static bool is_agent(const struct env *e, const struct dg_ep *ep)
{
	return ep->addr == fakenet_ep("203.0.113.1", 0).addr ||
	       ep->addr == fakenet_ep("203.0.113.2", 0).addr;
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

static void side_init(struct env *e, struct side *s, const char *ip, const char *name, bool serve)
{
	struct agent_config cfg = {.rdv = e->rdv_ep,
				   .stun = e->stun_ep,
				   .serve = serve,
				   .find_method = method_testbind_find};
	struct agent_ops ops = {on_ready, on_failed, on_report, s};

	snprintf(cfg.name, sizeof(cfg.name), "%s", name);
	s->d = fakenet_host(e->net, ip);
	assert_int_equal(agent_new(s->d, &cfg, &ops, &s->a), 0);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct rdv_config cfg = {.listen = fakenet_ep("198.51.100.5", RDV_DEFAULT_PORT)};

	e->net = fakenet_new(DELAY, 3);
	e->drop_probe_seq = -1;
	fakenet_set_filter(e->net, filter, e);
	assert_int_equal(rdv_new(fakenet_host(e->net, "198.51.100.5"), &cfg, &e->r), 0);
	e->rdv_ep = rdv_local(e->r);
	assert_int_equal(fakenet_stund(e->net, "198.51.100.10", 3478), 0);
	e->stun_ep = fakenet_ep("198.51.100.10", 3478);
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
	rdv_free(e->r);
	fakenet_free(e->net);
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
	fakenet_run_for(e->net, 10 * S);
	assert_int_equal(e->alice.ready, 1);
	assert_int_equal(e->bob.ready, 1);
	assert_int_equal(e->alice.reports, 1);
	assert_true(r->success);
	assert_string_equal(r->reason, "");
	assert_string_equal(r->peer, "bob");
	assert_ptr_equal(r->m, &method_testbind);
	assert_string_equal(r->path, "direct");
	/* STUN 20, REGISTER 20, CONNECT 10 + start 200 + INTRODUCE 10, one
	 * check's round trip 20 */
	assert_int_equal((int)r->setup_ms, 280);
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
	fakenet_run_for(e->net, 20 * S);
	assert_int_equal(e->rdv_other, rdv_seen);
}

/* A lost probe is loss, not failure. */
static void probe_loss_measured(void **state)
{
	struct env *e = *state;
	struct agent_plan p = plan("bob", 5);

	e->drop_probe_seq = 2;
	assert_int_equal(agent_connect(e->alice.a, &p), 0);
	fakenet_run_for(e->net, 10 * S);
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
	fakenet_run_for(e->net, 10 * S);
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
	fakenet_run_for(e->net, 20 * S);
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
	fakenet_run_for(e->net, 20 * S);
	assert_int_equal(e->alice.reports, 1);
	assert_false(e->alice.rep.success);
	/* the try got what was left of the budget, and ran out */
	assert_int_equal(e->alice.rep.ntried, 1);
	assert_true(e->alice.rep.tried[0].ms < 1500);
	assert_true(strcmp(e->alice.rep.reason, "timeout") == 0 ||
		    strcmp(e->alice.rep.reason, "budget spent") == 0);
}

/* A responder that does not serve refuses; the connect ends with no
 * introduction. */
static void not_serving_refuses(void **state)
{
	struct env *e = *state;
	struct agent_plan p = plan("alice", 1);

	assert_int_equal(agent_connect(e->bob.a, &p), 0);
	fakenet_run_for(e->net, 10 * S);
	assert_int_equal(cnt(&e->alice).tries_refused, 1);
	assert_int_equal(e->bob.reports, 1);
	assert_false(e->bob.rep.success);
	assert_int_equal(cnt(&e->bob).tries_failed, 1);
}

static void strays_counted(void **state)
{
	struct env *e = *state;
	struct dg_ep mallory = fakenet_ep("203.0.113.66", 999), bob;
	uint8_t txid[STUN_TXID_LEN] = {1}, buf[64];
	struct stun_builder b;
	int n;

	fakenet_run_for(e->net, 1 * S);
	bob = agent_local(e->bob.a);
	fakenet_inject(e->net, &mallory, &bob, "junk", 4);
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, txid,
			    false);
	n = stun_msg_build_finish(&b);
	fakenet_inject(e->net, &mallory, &bob, buf, (size_t)n);
	stun_msg_build_init(&b, buf, sizeof(buf), NBSTUN_METHOD_PROBE, STUN_CLASS_REQUEST, txid,
			    false);
	n = stun_msg_build_finish(&b);
	fakenet_inject(e->net, &mallory, &bob, buf, (size_t)n);
	fakenet_run_for(e->net, 1 * S);
	assert_int_equal(cnt(&e->bob).stray[AGENT_STRAY_NOT_STUN], 1);
	assert_int_equal(cnt(&e->bob).stray[AGENT_STRAY_UNCLAIMED], 2);
	assert_int_equal(cnt(&e->bob).probes_echoed, 0);
}

static void registration_failure_reported(void **state)
{
	struct env *e = *state;
	struct agent_config cfg = {.rdv = fakenet_ep("198.51.100.99", 4787),
				   .stun = e->stun_ep,
				   .find_method = method_testbind_find};
	struct agent_ops ops = {on_ready, on_failed, on_report, &e->alice};
	struct agent_plan p = plan("bob", 1);
	struct agent *lost;

	strcpy(cfg.name, "lost");
	assert_int_equal(agent_new(fakenet_host(e->net, "203.0.113.3"), &cfg, &ops, &lost), 0);
	e->alice.reports = 0;
	assert_int_equal(agent_connect(lost, &p), 0);
	fakenet_run_for(e->net, 60 * S);
	assert_int_equal(e->alice.failed, 1);
	assert_string_equal(e->alice.reason, "rendezvous timeout");
	assert_int_equal(e->alice.reports, 1);
	assert_string_equal(e->alice.rep.reason, "rendezvous timeout");
	agent_free(lost);
	strcpy(cfg.name, "b a d");
	assert_int_equal(agent_new(fakenet_host(e->net, "203.0.113.4"), &cfg, &ops, &lost),
			 -EINVAL);
}

/* --- with a TURN server: the relay candidate and the relay method ------ */

#define T_TURN "198.51.100.50"

struct tenv {
	struct fakenet *net;
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
				   .turn = {.server = fakenet_ep(T_TURN, 3478), .user = "agent"}};
	struct agent_ops ops = {on_ready, on_failed, on_report, s};

	snprintf(cfg.name, sizeof(cfg.name), "%s", name);
	if (pass)
		snprintf(cfg.turn.pass, sizeof(cfg.turn.pass), "%s", pass);
	else
		cfg.turn.server.addr = 0;
	s->d = fakenet_host(e->net, ip);
	assert_int_equal(agent_new(s->d, &cfg, &ops, &s->a), 0);
}

/* alice and bob allocate with these passwords (NULL: no --turn); the TURN
 * server answers only its first answer_first requests (0: all). */
static void tenv_start(struct tenv *e, const char *alice_pass, const char *bob_pass,
		       unsigned answer_first)
{
	struct rdv_config cfg = {.listen = fakenet_ep("198.51.100.5", RDV_DEFAULT_PORT)};
	struct turnd_cfg tc = {.listen = fakenet_ep(T_TURN, 3478),
			       .user = "agent",
			       .pass = "secret",
			       .answer_first = answer_first};

	memset(e, 0, sizeof(*e));
	e->net = fakenet_new(DELAY, 5);
	assert_int_equal(rdv_new(fakenet_host(e->net, "198.51.100.5"), &cfg, &e->r), 0);
	e->rdv_ep = rdv_local(e->r);
	assert_int_equal(fakenet_stund(e->net, "198.51.100.10", 3478), 0);
	e->stun_ep = fakenet_ep("198.51.100.10", 3478);
	e->td = turnd_new(fakenet_host(e->net, T_TURN), &tc);
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
	fakenet_free(e->net);
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
	fakenet_run_for(e.net, 10 * S);
	assert_int_equal(e.alice.reports, 1);
	if (!r->success)
		fail_msg("relay: %s", r->reason);
	assert_string_equal(r->path, "relay");
	assert_ptr_equal(r->m, method_find("relay"));
	/* registered with the relayed address: the first REGISTER waited */
	assert_int_equal(agent_self(e.alice.a)->relay.addr, fakenet_ep(T_TURN, 0).addr);
	assert_int_equal(agent_self(e.bob.a)->relay.addr, fakenet_ep(T_TURN, 0).addr);
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
	fakenet_run_for(e.net, 1 * S); /* bob registers once he has his relay */
	assert_int_equal(e.bob.ready, 1);
	assert_int_equal(agent_connect(e.alice.a, &p), 0);
	fakenet_run_for(e.net, 10 * S);
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
	fakenet_run_for(e.net, 500 * MS);
	assert_int_equal(e.alice.ready, 1); /* no wait for a relay refused */
	assert_int_equal(agent_self(e.alice.a)->relay.addr, 0);
	fakenet_run_for(e.net, 10 * S);
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
	fakenet_run_for(e.net, AGENT_TURN_WAIT_MS * MS - 100 * MS);
	assert_int_equal(e.alice.ready, 0);
	fakenet_run_for(e.net, 1 * S);
	assert_int_equal(e.alice.ready, 1);
	assert_int_equal(agent_self(e.alice.a)->relay.addr, 0);
	assert_null(turnsock_error(agent_turn(e.alice.a))); /* still asking */
	tenv_end(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(connect_probes_and_reports, setup, teardown),
	    cmocka_unit_test_setup_teardown(probe_loss_measured, setup, teardown),
	    cmocka_unit_test_setup_teardown(peer_unknown_fails_with_reason, setup, teardown),
	    cmocka_unit_test_setup_teardown(filtered_times_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(total_budget_spent, setup, teardown),
	    cmocka_unit_test_setup_teardown(not_serving_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(strays_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(registration_failure_reported, setup, teardown),
	    cmocka_unit_test(relay_connect),
	    cmocka_unit_test(relay_responder_allocation),
	    cmocka_unit_test(relay_refused),
	    cmocka_unit_test(relay_silent_server),
	};

	log_init("test_agent", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
