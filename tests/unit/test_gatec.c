/* Unit tests of the gate client (agents/gatec.c) against the emulator's
 * gate on the virtual network, in virtual time: a host behind a gated NAT
 * reaches nothing until it is granted, then its resource only; its auth
 * time is the gate's delay plus the round trip; a wrong key is refused,
 * a denial reported with its trust level; lost requests are sent again;
 * no gate answering is a timeout. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gate.h"
#include "gatec.h"
#include "natbed/sched.h"
#include "natbed/topo.h"
#include "vnet.h"

#define MS NATBED_NS_PER_MS
#define S  NATBED_NS_PER_S

struct net {
	struct clock_virtual vc;
	struct sched *s;
	struct topo *t;
	struct vnet *v;
	const struct dgram *alice, *stun;
	int stun_sock;
	uint64_t stun_rx;
	struct gatec_report rep;
	int reports;
};

static void ignore(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		   natbed_time_t now)
{
}

static void stun_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		    natbed_time_t now)
{
	((struct net *)arg)->stun_rx++;
}

/* alice behind home (a gate in front of it, 10 ms each way on her link),
 * a public host stun on 198.51.100.10:3478 and :3479. */
static void net_up(struct net *n, const char *gate_lines, const char *alice_link)
{
	char y[2048], err[TOPO_ERR_MAX];
	struct dg_ep b = {inet_addr("198.51.100.10"), 0}, local;

	memset(n, 0, sizeof(*n));
	snprintf(y, sizeof(y),
		 "seed: 3\n"
		 "nats:\n"
		 "  home:\n"
		 "    preset: port-restricted\n"
		 "    public: 203.0.113.10\n"
		 "    inside: 192.168.1.0/24\n"
		 "    gate:\n"
		 "      key: alice-key\n"
		 "      time-scale: 0.01\n"
		 "%s"
		 "hosts:\n"
		 "  alice: { nat: home, address: 192.168.1.10, link: { delay: 10ms%s } }\n"
		 "  stun: { address: 198.51.100.10 }\n",
		 gate_lines, alice_link);
	n->s = sched_new(clock_virtual_clock(&n->vc), &n->vc);
	assert_non_null(n->s);
	if (topo_load_string(y, strlen(y), "gatec.yaml", "nb-", &n->t, err, sizeof(err)) < 0)
		fail_msg("topology: %s", err);
	n->v = vnet_new(&(struct vnet_cfg){.topo = n->t, .sched = n->s}, err, sizeof(err));
	if (!n->v)
		fail_msg("vnet: %s", err);
	n->alice = vnet_dgram(n->v, topo_host_find(n->t, "alice"));
	n->stun = vnet_dgram(n->v, topo_host_find(n->t, "stun"));
	b.port = htons(3478);
	assert_true(dg_open(n->stun, &b, &local, stun_rx, n) >= 0);
	b.port = htons(3479);
	assert_true(dg_open(n->stun, &b, &local, stun_rx, n) >= 0);
}

static void net_down(struct net *n)
{
	vnet_free(n->v);
	sched_free(n->s);
	topo_free(n->t);
}

static void on_done(void *arg, const struct gatec_report *r)
{
	struct net *n = arg;

	n->rep = *r;
	n->reports++;
}

static struct gatec *auth(struct net *n, const char *key, const char *resource, uint64_t nonce)
{
	struct gatec_cfg c = {.gate = {inet_addr("192.168.1.1"), htons(TOPO_GATE_PORT_DEFAULT)},
			      .nonce = nonce};
	struct gatec_ops ops = {.done = on_done};
	struct gatec *g;

	snprintf(c.user, sizeof(c.user), "alice");
	snprintf(c.key, sizeof(c.key), "%s", key);
	snprintf(c.resource, sizeof(c.resource), "%s", resource);
	g = gatec_new(n->alice, &c, &ops, n);
	assert_non_null(g);
	return g;
}

/* Sends one datagram from alice to stun:port; whether it arrived. */
static bool reaches(struct net *n, uint16_t port)
{
	struct dg_ep any = {0}, local, to = {inet_addr("198.51.100.10"), htons(port)};
	uint64_t before = n->stun_rx;
	int sk = dg_open(n->alice, &any, &local, ignore, NULL);

	assert_true(sk >= 0);
	assert_int_equal(dg_send(n->alice, sk, &to, "hi", 2), 0);
	sched_run_until(n->s, sched_now(n->s) + 100 * MS);
	dg_close(n->alice, sk);
	return n->stun_rx > before;
}

static void test_granted(void **state)
{
	struct net n;
	struct gatec *g;

	net_up(&n,
	       "      success: { untrusted: 100% }\n"
	       "      risk: { failures: 0%, rate: 0%, idle: 0% }\n",
	       "");
	assert_false(reaches(&n, 3478));
	g = auth(&n, "alice-key", "198.51.100.10:3478", 1);
	sched_run_until(n.s, sched_now(n.s) + 1 * S);
	assert_int_equal(n.reports, 1);
	assert_int_equal(n.rep.result, GATEC_GRANTED);
	assert_true(n.rep.has_trust);
	assert_int_equal(n.rep.level, TOPO_TRUST_UNTRUSTED);
	/* untrusted 2-5 s at time-scale 0.01, plus 10 ms each way */
	assert_true(n.rep.gate_delay_ms >= 20 && n.rep.gate_delay_ms <= 50);
	assert_true(fabs(n.rep.auth_ms - (n.rep.gate_delay_ms + 20)) < 0.01);
	assert_int_equal(n.rep.sent, 1);
	assert_int_equal(n.rep.ttl_ns, 120 * S);
	gatec_free(g);
	assert_true(reaches(&n, 3478));
	assert_false(reaches(&n, 3479)); /* another resource */
	net_down(&n);
}

static void test_refused_and_denied(void **state)
{
	struct net n;
	struct gatec *g;

	net_up(&n, "      success: { untrusted: 0% }\n", "");
	g = auth(&n, "not-her-key", "any", 1);
	sched_run_until(n.s, sched_now(n.s) + 1 * S);
	assert_int_equal(n.rep.result, GATEC_REFUSED);
	assert_int_equal(n.rep.code, GATEMSG_ERR_UNAUTH);
	assert_string_equal(n.rep.reason, "Bad integrity");
	assert_false(n.rep.has_trust);
	assert_true(n.rep.auth_ms < 21); /* at once: one round trip */
	gatec_free(g);
	g = auth(&n, "alice-key", "any", 2);
	sched_run_until(n.s, sched_now(n.s) + 1 * S);
	assert_int_equal(n.rep.result, GATEC_DENIED);
	assert_int_equal(n.rep.code, GATEMSG_ERR_FORBIDDEN);
	assert_true(n.rep.has_trust);
	assert_true(n.rep.auth_ms >= 40);
	gatec_free(g);
	/* the nonce used again: a replay */
	g = auth(&n, "alice-key", "any", 2);
	sched_run_until(n.s, sched_now(n.s) + 1 * S);
	assert_int_equal(n.rep.result, GATEC_REFUSED);
	assert_int_equal(n.rep.code, GATEMSG_ERR_STALE_NONCE);
	gatec_free(g);
	assert_false(reaches(&n, 3478));
	assert_int_equal(gate_counters(vnet_gate(n.v, "home"))->refused[GATE_R_BAD_INTEGRITY], 1);
	assert_int_equal(gate_counters(vnet_gate(n.v, "home"))->refused[GATE_R_REPLAY], 1);
	net_down(&n);
}

/* A third of alice's packets lost, each way: requests go again until one
 * is answered (an answer lost after the decision: a new request). */
static void test_retransmissions(void **state)
{
	struct net n;
	struct gatec *g;
	int granted = 0, sent = 0, i;

	net_up(&n,
	       "      success: { untrusted: 100% }\n      escalate: 0%\n"
	       "      risk: { failures: 0%, rate: 0%, idle: 0% }\n",
	       ", loss: 33%");
	for (i = 0; i < 10; i++) {
		n.reports = 0;
		g = auth(&n, "alice-key", "any", 100 * ((uint64_t)i + 1));
		sched_run_until(n.s, sched_now(n.s) + 40 * S);
		assert_int_equal(n.reports, 1);
		granted += n.rep.result == GATEC_GRANTED;
		sent += n.rep.sent;
		gatec_free(g);
	}
	print_message("10 authentications over a 33%% lossy link: %d granted, %d requests sent\n",
		      granted, sent);
	assert_true(granted >= 9);
	assert_true(sent > 10);
	net_down(&n);
}

static void test_timeout(void **state)
{
	struct gatec_cfg c = {.gate = {inet_addr("198.51.100.99"), htons(TOPO_GATE_PORT_DEFAULT)},
			      .nonce = 1,
			      .timeout_ns = 5 * S};
	struct gatec_ops ops = {.done = on_done};
	struct net n;
	struct gatec *g;

	net_up(&n, "", "");
	snprintf(c.user, sizeof(c.user), "alice");
	snprintf(c.key, sizeof(c.key), "alice-key");
	g = gatec_new(n.alice, &c, &ops, &n);
	assert_non_null(g);
	sched_run_until(n.s, sched_now(n.s) + 10 * S);
	assert_int_equal(n.reports, 1);
	assert_int_equal(n.rep.result, GATEC_TIMEOUT);
	assert_true(fabs(n.rep.auth_ms - 5000) < 0.001);
	assert_true(n.rep.sent >= 4); /* 0, 0.5, 1.5, 3.5 s */
	assert_string_equal(gatec_result_name(GATEC_TIMEOUT), "timeout");
	gatec_free(g);
	/* a bad configuration */
	snprintf(c.user, sizeof(c.user), "Alice");
	assert_null(gatec_new(n.alice, &c, &ops, &n));
	net_down(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_granted),
	    cmocka_unit_test(test_refused_and_denied),
	    cmocka_unit_test(test_retransmissions),
	    cmocka_unit_test(test_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
