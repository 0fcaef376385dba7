/* Unit tests of the gate client (agents/gatec.c) against the emulator's
 * gate on the virtual network, in virtual time: a host behind a gated NAT
 * reaches nothing until it is granted, then its resource only; its auth
 * time is the gate's delay plus the round trip; a wrong key is refused,
 * a denial reported with its trust level; lost requests are sent again;
 * no gate answering is a timeout. The natbed sim checkpoint of a client
 * in the middle of its exchange (after a restart, a retransmission
 * due) on the fake network, against a gate of this file's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cknet.h"
#include "gate.h"
#include "gatec.h"
#include "natbed/ckpt.h"
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

/* --- natbed sim checkpoints ------------------------------------------- */

/* alice and a gate of this file's on the fake network (10 ms one way):
 * the gate ignores requests 1, 2 and 4, answers request 3 with a signed
 * 438 (spent nonce: the client asks again with the next) and grants the
 * rest. */
struct gw {
	struct cknet *net;
	const struct dgram *alice, *gated;
	int gate_sock, gate_rx;
	char log[2048]; /* "ms:a:len" or "ms:g:len" per datagram sent */
	struct gatec *c;
	struct gatec_report rep;
	int reports;
	natbed_time_t rep_at;
};

static bool gw_filter(void *arg, const struct dg_ep *from, const struct dg_ep *to,
		      const uint8_t *buf, size_t len)
{
	struct gw *g = arg;
	size_t n = strlen(g->log);

	snprintf(g->log + n, sizeof(g->log) - n, "%lld:%c:%zu ",
		 (long long)(sched_now(cknet_sched(g->net)) / MS),
		 from->port == htons(TOPO_GATE_PORT_DEFAULT) ? 'g' : 'a', len);
	return true;
}

static void gw_gate_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
		       size_t len, natbed_time_t now)
{
	struct gw *g = arg;
	struct gatemsg_req req;
	struct gatemsg_ans a = {0};
	uint8_t out[GATEMSG_MAX];
	int n;

	assert_int_equal(gatemsg_parse_request(buf, len, &req), GATEMSG_OK);
	g->gate_rx++;
	if (g->gate_rx <= 2 || g->gate_rx == 4)
		return;
	memcpy(a.txid, req.txid, sizeof(a.txid));
	if (g->gate_rx == 3) {
		a.code = GATEMSG_ERR_STALE_NONCE;
		snprintf(a.reason, sizeof(a.reason), "nonce spent");
	} else {
		a = (struct gatemsg_ans){.granted = true,
					 .has_trust = true,
					 .level = TOPO_TRUST_LOW,
					 .level_now = TOPO_TRUST_MEDIUM,
					 .delay_us = 1500,
					 .risk_ppm = 20000,
					 .ttl_ms = 60000};
		memcpy(a.txid, req.txid, sizeof(a.txid));
	}
	n = gatemsg_build_answer(out, sizeof(out), &a, (const uint8_t *)"alice-key", 9);
	assert_true(n > 0);
	dg_send(g->gated, g->gate_sock, from, out, (size_t)n);
}

static void gw_done(void *arg, const struct gatec_report *r)
{
	struct gw *g = arg;

	g->rep = *r;
	g->reports++;
	g->rep_at = sched_now(cknet_sched(g->net));
}

static void gw_unlisted(void *arg, const struct gatec_report *r)
{
	(void)arg;
	(void)r;
}

static void gw_up(struct gw *g, natbed_time_t at)
{
	struct dg_ep b = {0, htons(TOPO_GATE_PORT_DEFAULT)}, local;

	memset(g, 0, sizeof(*g));
	g->net = cknet_new(10 * MS, 11);
	assert_non_null(g->net);
	cknet_set_filter(g->net, gw_filter, g);
	g->alice = cknet_host(g->net, "192.0.2.10");
	g->gated = cknet_host(g->net, "192.0.2.1");
	g->gate_sock = dg_open(g->gated, &b, &local, gw_gate_rx, g);
	assert_true(g->gate_sock >= 0);
	cknet_run_until(g->net, at);
}

static void gw_down(struct gw *g)
{
	gatec_free(g->c);
	cknet_free(g->net);
}

static void gw_auth(struct gw *g, void (*done)(void *, const struct gatec_report *))
{
	struct gatec_cfg c = {.gate = cknet_ep("192.0.2.1", TOPO_GATE_PORT_DEFAULT), .nonce = 77};
	struct gatec_ops ops = {.done = done};

	snprintf(c.user, sizeof(c.user), "alice");
	snprintf(c.key, sizeof(c.key), "alice-key");
	g->c = gatec_new(g->alice, &c, &ops, g);
	assert_non_null(g->c);
}

static const struct ckfn t_fns[] = {CKFN(gw_done), CKFN(gw_gate_rx)};
static const struct ckfns t_table = CKFNS(t, t_fns);
static const struct ckfns *const tables[] = {&cknet_ckfns, &gatec_ckfns, &t_table};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

/* The test's gate and the client, on the network cknet writes (its
 * sockets, the gate's among them, and the datagrams in flight). */
static json_t *gw_part_save(struct ckw *w, void *ctx)
{
	const struct gw *g = ctx;

	return json_pack("{s:o,s:o,s:o,s:i,s:i,s:o}", "gw", ckw_obj(w, g), "alice",
			 ckw_ref(w, g->alice), "gated", ckw_ref(w, g->gated), "gate_sock",
			 g->gate_sock, "gate_rx", g->gate_rx, "gatec", gatec_ckpt_save(g->c, w));
}

static int gw_part_load(struct ckr *r, const json_t *j, void *ctx)
{
	struct gw *g = ctx;

	ckr_obj(r, json_object_get(j, "gw"), g);
	ckr_ref(r, json_object_get(j, "alice"), &g->alice);
	ckr_ref(r, json_object_get(j, "gated"), &g->gated);
	g->gate_sock = (int)json_integer_value(json_object_get(j, "gate_sock"));
	g->gate_rx = (int)json_integer_value(json_object_get(j, "gate_rx"));
	g->c = gatec_ckpt_load(json_object_get(j, "gatec"), r);
	return g->c ? 0 : -1;
}

static json_t *gw_save(struct gw *g, char *err, size_t errlen)
{
	return cknet_world_save(g->net, tables, NTABLES, gw_part_save, g, err, errlen);
}

/* A fresh world from j: the network, the gate and the client read, the
 * log's filter set again (the test's, not written). */
static int gw_load(struct gw *g, const json_t *j, char *err, size_t errlen)
{
	memset(g, 0, sizeof(*g));
	g->net = cknet_world_load(j, tables, NTABLES, gw_part_load, g, err, errlen);
	if (!g->net)
		return -1;
	cknet_set_filter(g->net, gw_filter, g);
	return 0;
}

/* Written at 1.8 s: request 3 met a spent nonce and the client asked
 * again with the next (ignored), its retransmission due at 2.02 s,
 * nothing in flight. Read into a fresh network, written again the same;
 * both run on to the same grant at the same time. */
static void test_checkpoint(void **state)
{
	struct gw a, b;
	char err[256], *text, cont[2048];
	json_t *j, *again;
	size_t mark;

	(void)state;
	gw_up(&a, 0);
	gw_auth(&a, gw_done);
	sched_run_until(cknet_sched(a.net), 1800 * MS);
	assert_int_equal(a.gate_rx, 4);
	assert_int_equal(sched_pending(cknet_sched(a.net)), 2); /* retransmission, timeout */
	j = gw_save(&a, err, sizeof(err));
	if (!j)
		fail_msg("save: %s", err);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	mark = strlen(a.log);
	sched_run_until(cknet_sched(a.net), 40 * S);
	snprintf(cont, sizeof(cont), "%s", a.log + mark);
	assert_int_equal(a.reports, 1);
	assert_int_equal(a.rep.result, GATEC_GRANTED);
	assert_int_equal(a.rep_at, 2040 * MS);

	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	if (gw_load(&b, j, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	again = gw_save(&b, err, sizeof(err));
	if (!again)
		fail_msg("save again: %s", err);
	assert_true(json_equal(j, again));
	json_decref(again);
	json_decref(j);
	sched_run_until(cknet_sched(b.net), 40 * S);
	assert_string_equal(b.log, cont);
	assert_int_equal(b.reports, 1);
	assert_int_equal(b.rep_at, a.rep_at);
	assert_int_equal(b.gate_rx, a.gate_rx);
	assert_int_equal(b.rep.result, a.rep.result);
	assert_true(b.rep.auth_ms == a.rep.auth_ms && b.rep.risk == a.rep.risk &&
		    b.rep.gate_delay_ms == a.rep.gate_delay_ms);
	assert_int_equal(b.rep.sent, a.rep.sent);
	assert_int_equal(b.rep.level_now, a.rep.level_now);
	assert_int_equal(b.rep.ttl_ns, a.rep.ttl_ns);
	free(text);
	gw_down(&a);
	gw_down(&b);
}

/* The writer refuses a done function in no table; the reader a client
 * with more restarts than it makes. */
static void test_checkpoint_refused(void **state)
{
	struct gw a, b;
	char err[256], *text, *at, edited[8192];
	json_t *j;

	(void)state;
	gw_up(&a, 0);
	gw_auth(&a, gw_unlisted);
	assert_null(gw_save(&a, err, sizeof(err)));
	assert_non_null(strstr(err, "in no module's table"));
	gatec_free(a.c);
	gw_auth(&a, gw_done);
	sched_run_until(cknet_sched(a.net), 1800 * MS);
	j = gw_save(&a, err, sizeof(err));
	if (!j)
		fail_msg("save: %s", err);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	at = strstr(text, "\"restarts\":1");
	assert_non_null(at);
	snprintf(edited, sizeof(edited), "%.*s\"restarts\":9%s", (int)(at - text), text,
		 at + strlen("\"restarts\":1"));
	j = json_loads(edited, 0, NULL);
	assert_non_null(j);
	assert_int_equal(gw_load(&b, j, err, sizeof(err)), -1);
	assert_string_equal(err, "gatec: restarts: not an integer in range");
	assert_null(b.c);
	json_decref(j);
	free(text);
	gw_down(&a);
	gw_down(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_granted),	    cmocka_unit_test(test_refused_and_denied),
	    cmocka_unit_test(test_retransmissions), cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_checkpoint),	    cmocka_unit_test(test_checkpoint_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
