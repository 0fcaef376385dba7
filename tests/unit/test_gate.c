/* Unit tests of the zero-trust gate (emulator/gate.c, gate_ctl.c), all in
 * virtual time: each trust level's delays follow its range (a
 * distribution test with a fixed seed), the grant rate follows success x
 * (1 - factor x risk), risk scoring, escalation and demotion, the same
 * seed giving the same decisions however hosts interleave, refusals that
 * change nothing, retransmissions, the pending limit, pinholes (resource,
 * refresh, TTL, exemptions) through gate_check(), control, checkpoints,
 * and 100,000 authentications in well under a second of CPU. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckround.h"
#include "gate.h"
#include "gate_int.h" /* the sim test reads slots and due times */
#include "natbed/ckpt.h"
#include "natbed/clock.h"
#include "natbed/gatemsg.h"
#include "natbed/sched.h"
#include "natbed/topo.h"
#include "pkt.h"
#include "proto.h"

#define MS NATBED_NS_PER_MS
#define S  NATBED_NS_PER_S

#define HOSTS_MAX 128
#define PORT	  40000
/* risk scores 0: chances are the levels' own */
#define NO_RISK "      risk: { failures: 0%, rate: 0%, idle: 0% }\n"

/* A gate on NAT home in front of n hosts h0.. (192.168.1.10 + i), with a
 * gate block's extra lines; the answers it sends are read back. */
struct tg {
	struct clock_virtual vc;
	struct sched *s;
	struct topo *t;
	struct gate *g;
	size_t n;
	uint64_t nonce[HOSTS_MAX];
	uint32_t txn;
	/* answers */
	uint64_t answers, granted, denied, errors;
	struct gatemsg_ans last;
	natbed_time_t last_at;
	uint32_t last_dst;
	uint8_t last_buf[GATEMSG_MAX];
	size_t last_len;
	bool count_only; /* answers are only counted */
	void (*on_answer)(struct tg *tg, const struct gatemsg_ans *a, natbed_time_t now);
	void *arg;
	/* events */
	uint64_t ev_auth, ev_trust, ev_expired;
	char last_event[600];
	char trace[256]; /* what gw_mark() saw */
};

static void tg_reply(void *ctx, const struct gate_reply *r, natbed_time_t now)
{
	struct tg *tg = ctx;

	assert_true(r->len <= sizeof(tg->last_buf));
	assert_int_equal(r->src, inet_addr("192.168.1.1"));
	assert_int_equal(r->sport, htons(TOPO_GATE_PORT_DEFAULT));
	memcpy(tg->last_buf, r->buf, r->len);
	tg->last_len = r->len;
	tg->last_at = now;
	tg->last_dst = r->dst;
	tg->answers++;
	if (tg->count_only)
		return;
	assert_int_equal(gatemsg_parse_answer(r->buf, r->len, NULL, 0, &tg->last), 0);
	if (tg->last.granted)
		tg->granted++;
	else if (tg->last.code == GATEMSG_ERR_FORBIDDEN && tg->last.has_trust)
		tg->denied++;
	else
		tg->errors++;
	if (tg->on_answer)
		tg->on_answer(tg, &tg->last, now);
}

static void tg_event(void *ctx, natbed_time_t now, const char *event, const char *fields)
{
	struct tg *tg = ctx;

	tg->ev_auth += !strcmp(event, "gate_auth");
	tg->ev_trust += !strcmp(event, "gate_trust");
	tg->ev_expired += !strcmp(event, "gate_pinhole_expired");
	snprintf(tg->last_event, sizeof(tg->last_event), "%s %s", event, fields);
}

static void tg_gate(struct tg *tg)
{
	struct gate_cfg c = {.topo = tg->t,
			     .tg = tg->t->nats[0].gate,
			     .name = "home",
			     .nat = 0,
			     .host = -1,
			     .seed = tg->t->seed,
			     .reply = tg_reply,
			     .event = tg_event,
			     .ctx = tg};

	tg->g = gate_new(&c, tg->s);
	assert_non_null(tg->g);
}

/* Up with n hosts and gate lines (each "      key: value\n"), seed. */
static void tg_up(struct tg *tg, size_t n, const char *gate_lines, uint64_t seed)
{
	char *y = malloc(8192 + n * 64), err[TOPO_ERR_MAX];
	size_t used, i;

	assert_non_null(y);
	memset(tg, 0, sizeof(*tg));
	tg->n = n;
	used = (size_t)sprintf(y,
			       "seed: %llu\n"
			       "nats:\n"
			       "  home:\n"
			       "    preset: full-cone\n"
			       "    public: 203.0.113.10\n"
			       "    inside: 192.168.1.0/24\n"
			       "    gate:\n"
			       "      key: k\n"
			       "%s"
			       "      exempt: [ { to: dns, proto: udp, port: 53 } ]\n"
			       "%s"
			       "hosts:\n"
			       "  dns: { address: 198.51.100.53 }\n"
			       "  stun: { address: 198.51.100.10 }\n",
			       (unsigned long long)seed,
			       n > 1 ? "      hosts: { h1: { key: k1 } }\n" : "", gate_lines);
	for (i = 0; i < n; i++)
		used += (size_t)sprintf(y + used, "  h%zu: { nat: home, address: 192.168.1.%zu }\n",
					i, 10 + i);
	tg->s = sched_new(clock_virtual_clock(&tg->vc), &tg->vc);
	assert_non_null(tg->s);
	if (topo_load_string(y, used, "gate.yaml", "nb-", &tg->t, err, sizeof(err)) < 0)
		fail_msg("topology: %s", err);
	free(y);
	tg_gate(tg);
}

static void tg_down(struct tg *tg)
{
	gate_free(tg->g);
	sched_free(tg->s);
	topo_free(tg->t);
}

static uint32_t host_addr(size_t i)
{
	return htonl(0xc0a8010a + (uint32_t)i); /* 192.168.1.10 + i */
}

static int topo_index(const struct tg *tg, size_t i)
{
	char name[16];

	snprintf(name, sizeof(name), "h%zu", i);
	return topo_host_find(tg->t, name);
}

static const char *host_key(size_t i)
{
	return i == 1 ? "k1" : "k";
}

/* A request of host i (as user `user`, NULL: its own name) for resource,
 * with its next nonce, into buf. */
static size_t tg_build(struct tg *tg, size_t i, const char *user, const char *resource,
		       const char *key, uint8_t *buf, size_t cap)
{
	uint8_t txid[STUN_TXID_LEN] = {0};
	char name[16];
	int n;

	tg->txn++;
	memcpy(txid, &tg->txn, sizeof(tg->txn));
	memcpy(txid + 4, &i, sizeof(uint32_t));
	snprintf(name, sizeof(name), "h%zu", i);
	n = gatemsg_build_request(buf, cap, txid, user ? user : name, ++tg->nonce[i], resource,
				  (const uint8_t *)(key ? key : host_key(i)),
				  strlen(key ? key : host_key(i)));
	assert_true(n > 0);
	return (size_t)n;
}

/* Host i asks for resource with its own key; the verdict. */
static enum gate_verdict tg_ask(struct tg *tg, size_t i, const char *resource)
{
	uint8_t buf[GATEMSG_MAX];
	size_t n = tg_build(tg, i, NULL, resource, NULL, buf, sizeof(buf));

	return gate_request(tg->g, host_addr(i), htons(PORT), buf, n, sched_now(tg->s));
}

static void tg_run(struct tg *tg, natbed_time_t for_ns)
{
	sched_run_until(tg->s, sched_now(tg->s) + for_ns);
}

/* Asks and waits for the answer (at most 2 hours of virtual time). */
static const struct gatemsg_ans *tg_auth(struct tg *tg, size_t i, const char *resource)
{
	uint64_t before = tg->answers;

	assert_int_equal(tg_ask(tg, i, resource), GATE_TAKEN);
	while (tg->answers == before && sched_pending(tg->s))
		sched_run_until(tg->s, sched_next_due(tg->s));
	assert_int_equal(tg->answers, before + 1);
	return &tg->last;
}

/* --- delays ------------------------------------------------------------------ */

#define DELAY_N 2000

static int cmp_time(const void *a, const void *b)
{
	natbed_time_t x = *(const natbed_time_t *)a, y = *(const natbed_time_t *)b;

	return x < y ? -1 : x > y;
}

/* DELAY_N delays of a host held at each level follow the level's range:
 * within it, and uniform (each decile's share within 0.04 of 0.1 steps). */
static void test_delays_by_level(void **state)
{
	static natbed_time_t d[DELAY_N];
	struct tg tg;
	int l;

	tg_up(&tg, 1,
	      "      escalate: 0%\n      demote-after: 0\n"
	      "      delay: { medium: 500ms-1s, high: 0s-10ms }\n",
	      42);
	for (l = 0; l < TOPO_TRUST_COUNT; l++) {
		const struct topo_gate_range *r = &gate_model(tg.g)->delay[l];
		double lo = (double)r->lo_ns, span = (double)(r->hi_ns - r->lo_ns), mean = 0;
		int i, q;

		assert_int_equal(gate_set_trust(tg.g, "h0", topo_trust_name(l), 0, NULL, 0), 0);
		for (i = 0; i < DELAY_N; i++) {
			natbed_time_t t0 = sched_now(tg.s);
			const struct gatemsg_ans *a = tg_auth(&tg, 0, "any");

			d[i] = tg.last_at - t0;
			assert_int_equal(a->level, l);
			assert_true(d[i] >= r->lo_ns && d[i] <= r->hi_ns);
			/* the answer says the delay it took, to the microsecond */
			assert_true(llabs((long long)a->delay_us * 1000 - d[i]) < 1000);
			mean += (double)d[i] / DELAY_N;
		}
		qsort(d, DELAY_N, sizeof(d[0]), cmp_time);
		for (q = 1; q < 10; q++) {
			double at = lo + span * q / 10;
			int below = 0;

			for (i = 0; i < DELAY_N && (double)d[i] < at; i++)
				below++;
			if (fabs((double)below / DELAY_N - q / 10.0) > 0.04)
				fail_msg("level %s: %.3f below decile %d", topo_trust_name(l),
					 (double)below / DELAY_N, q);
		}
		assert_true(fabs(mean - (lo + span / 2)) < span * 0.03);
		print_message("%-9s delays %7.2f .. %7.2f ms, mean %7.2f ms\n", topo_trust_name(l),
			      (double)d[0] / MS, (double)d[DELAY_N - 1] / MS, mean / MS);
	}
	tg_down(&tg);
}

/* time-scale multiplies every delay; set at run time too. */
static void test_time_scale(void **state)
{
	struct tg tg;
	natbed_time_t t0;
	char err[128];

	tg_up(&tg, 1, "      time-scale: 0.01\n      escalate: 0%\n", 1);
	t0 = sched_now(tg.s);
	tg_auth(&tg, 0, "any");
	assert_true(tg.last_at - t0 >= 20 * MS && tg.last_at - t0 <= 50 * MS);
	assert_int_equal(gate_set(tg.g, "time-scale", "0.001", err, sizeof(err)), 0);
	t0 = sched_now(tg.s);
	tg_auth(&tg, 0, "any");
	assert_true(tg.last_at - t0 >= 2 * MS && tg.last_at - t0 <= 5 * MS);
	assert_int_equal(gate_set(tg.g, "time-scale", "-1", err, sizeof(err)), -1);
	assert_int_equal(gate_set(tg.g, "delay.low", "1s-2s-3s", err, sizeof(err)), -1);
	tg_down(&tg);
}

/* --- decisions and risk ------------------------------------------------------ */

#define GRANT_N 4000

/* Without risk, a level's grants come at its success rate; each event's
 * chance is success x (1 - factor x risk) with its own risk. */
static void test_success_rates(void **state)
{
	static const char *const level[] = {"untrusted", "medium", "verified"};
	static const double want[] = {0.70, 0.90, 0.99};
	struct tg tg;
	int k, i;

	tg_up(&tg, 1,
	      "      escalate: 0%\n      demote-after: 0\n"
	      "      risk: { failures: 0%, rate: 0%, idle: 0% }\n",
	      7);
	for (k = 0; k < 3; k++) {
		uint64_t g0 = tg.granted, n0 = tg.granted + tg.denied;
		double rate;

		gate_set_trust(tg.g, "h0", level[k], 0, NULL, 0);
		for (i = 0; i < GRANT_N; i++)
			tg_auth(&tg, 0, "any");
		rate = (double)(tg.granted - g0) / (double)(tg.granted + tg.denied - n0);
		print_message("%-9s granted %.4f (want %.2f)\n", level[k], rate, want[k]);
		assert_true(fabs(rate - want[k]) < 0.025);
	}
	tg_down(&tg);
}

/* Risk: denials, the request rate and idle time, each weighted, at most 1;
 * the chance a grant is made falls with it as the seed says. */
static void test_risk(void **state)
{
	struct tg tg;
	const char *p;
	double risk, chance;
	int h0 = 0, i;

	tg_up(&tg, 1,
	      "      success: { untrusted: 0% }\n      escalate: 0%\n      demote-after: 0\n"
	      "      risk: { failures-max: 4, rate-max: 4, rate-window: 100s, idle-max: 1000s }\n",
	      3);
	h0 = topo_index(&tg, 0);
	/* never granted: idle counts in full */
	assert_true(fabs(gate_host_risk(tg.g, h0, sched_now(tg.s)) - 0.2) < 1e-9);
	tg_auth(&tg, 0, "any"); /* denied: 1 failure, 1 request in the window */
	risk = gate_host_risk(tg.g, h0, sched_now(tg.s));
	assert_true(fabs(risk - (0.5 * 0.25 + 0.3 * 0.25 + 0.2)) < 1e-9);
	tg_auth(&tg, 0, "any");
	tg_auth(&tg, 0, "any");
	tg_auth(&tg, 0, "any");
	tg_auth(&tg, 0, "any"); /* 5 denials, 5 requests: both past their max */
	assert_true(fabs(gate_host_risk(tg.g, h0, sched_now(tg.s)) - 1.0) < 1e-9);
	/* the last event's chance is untrusted's 0% whatever the risk */
	assert_non_null(p = strstr(tg.last_event, "\"p\":"));
	assert_true(atof(p + 4) == 0.0);
	/* requests leave the window after 100 s */
	tg_run(&tg, 101 * S);
	risk = gate_host_risk(tg.g, h0, sched_now(tg.s));
	assert_true(fabs(risk - 0.7) < 1e-9);
	/* each decision's chance is success x (1 - 0.3 x its risk) */
	gate_set(tg.g, "success.untrusted", "100%", NULL, 0);
	for (i = 0; i < 50 && !tg.last.granted; i++) {
		tg_auth(&tg, 0, "any");
		assert_non_null(p = strstr(tg.last_event, "\"risk\":"));
		chance = 1.0 * (1 - 0.3 * atof(p + 7));
		assert_non_null(p = strstr(tg.last_event, "\"p\":"));
		assert_true(fabs(atof(p + 4) - chance) < 1e-5);
	}
	assert_true(tg.last.granted);
	/* after a grant: no failures, idle from the grant */
	tg_run(&tg, 101 * S);
	assert_true(fabs(gate_host_risk(tg.g, h0, sched_now(tg.s)) - 0.2 * 101 / 1000) < 1e-9);
	assert_int_equal(gate_host_risk(tg.g, 999, 0), -1);
	tg_down(&tg);
}

/* Escalation: one level up after a grant, at the configured chance; at
 * verified it stays. */
static void test_escalation(void **state)
{
	struct tg tg;
	int h0, i, up = 0, below = 0;

	tg_up(&tg, 1,
	      "      success: { untrusted: 100%, low: 100%, medium: 100%, high: 100%,"
	      " verified: 100% }\n      escalate: 100%\n" NO_RISK,
	      5);
	h0 = topo_index(&tg, 0);
	for (i = 0; i < 6; i++) {
		const struct gatemsg_ans *a = tg_auth(&tg, 0, "any");
		int want = i < 4 ? i + 1 : TOPO_TRUST_VERIFIED;

		assert_true(a->granted);
		assert_int_equal(a->level_now, want);
		assert_int_equal(gate_host_level(tg.g, h0), want);
	}
	assert_int_equal(tg.ev_trust, 4);
	assert_int_equal(gate_counters(tg.g)->escalations, 4);
	/* the seed's 30%: measured over grants below verified */
	gate_set(tg.g, "escalate", "30%", NULL, 0);
	for (i = 0; i < GRANT_N; i++) {
		if (gate_host_level(tg.g, h0) == TOPO_TRUST_VERIFIED)
			gate_set_trust(tg.g, "h0", "untrusted", sched_now(tg.s), NULL, 0);
		below++;
		if (tg_auth(&tg, 0, "any")->level_now > tg.last.level)
			up++;
	}
	print_message("escalated after %.4f of grants (want 0.30)\n", (double)up / below);
	assert_true(fabs((double)up / below - 0.30) < 0.025);
	tg_down(&tg);
}

/* Demotion: one level down after demote-after denials in a row, never
 * below untrusted; 0 never demotes; a grant starts the count again. */
static void test_demotion(void **state)
{
	struct tg tg;
	int h0, i;

	tg_up(&tg, 1,
	      "      trust: verified\n      success: { verified: 0%, high: 0%, medium: 0%,"
	      " low: 0%, untrusted: 0% }\n      demote-after: 3\n" NO_RISK,
	      9);
	h0 = topo_index(&tg, 0);
	for (i = 1; i <= 15; i++) {
		assert_false(tg_auth(&tg, 0, "any")->granted);
		assert_int_equal(gate_host_level(tg.g, h0), TOPO_TRUST_VERIFIED - i / 3 < 0
								? TOPO_TRUST_UNTRUSTED
								: TOPO_TRUST_VERIFIED - i / 3);
	}
	assert_int_equal(gate_host_level(tg.g, h0), TOPO_TRUST_UNTRUSTED);
	assert_int_equal(gate_counters(tg.g)->demotions, 4);
	tg_auth(&tg, 0, "any");
	tg_auth(&tg, 0, "any");
	tg_auth(&tg, 0, "any");
	assert_int_equal(gate_host_level(tg.g, h0), TOPO_TRUST_UNTRUSTED);
	/* two denials, a grant, two denials: no demotion */
	gate_set_trust(tg.g, "h0", "high", 0, NULL, 0);
	tg_auth(&tg, 0, "any");
	tg_auth(&tg, 0, "any");
	gate_set(tg.g, "success.high", "100%", NULL, 0);
	gate_set(tg.g, "escalate", "0%", NULL, 0);
	assert_true(tg_auth(&tg, 0, "any")->granted);
	gate_set(tg.g, "success.high", "0%", NULL, 0);
	tg_auth(&tg, 0, "any");
	tg_auth(&tg, 0, "any");
	assert_int_equal(gate_host_level(tg.g, h0), TOPO_TRUST_HIGH);
	/* demote-after 0: never */
	gate_set(tg.g, "demote-after", "0", NULL, 0);
	for (i = 0; i < 10; i++)
		tg_auth(&tg, 0, "any");
	assert_int_equal(gate_host_level(tg.g, h0), TOPO_TRUST_HIGH);
	tg_down(&tg);
}

/* --- the same seed, the same decisions ------------------------------------------ */

#define SEQ_N 200

struct seq {
	char got[2][SEQ_N + 1]; /* per host: G, D */
	uint32_t delay[2][SEQ_N];
	int n[2];
};

static void seq_answer(struct tg *tg, const struct gatemsg_ans *a, natbed_time_t now)
{
	struct seq *q = tg->arg;
	int h = tg->last_dst == host_addr(0) ? 0 : 1;

	if (q->n[h] < SEQ_N) {
		q->delay[h][q->n[h]] = a->delay_us;
		q->got[h][q->n[h]++] = a->granted ? 'G' : 'D';
	}
}

/* Hosts h0 and h1 each ask SEQ_N times: all of h0 then all of h1, or
 * alternating; seed decides, the order does not. */
static void run_seq(struct seq *q, uint64_t seed, bool interleave)
{
	struct tg tg;
	int i;

	memset(q, 0, sizeof(*q));
	tg_up(&tg, 2, "      time-scale: 0.001\n" NO_RISK, seed);
	tg.on_answer = seq_answer;
	tg.arg = q;
	for (i = 0; i < 2 * SEQ_N; i++) {
		size_t h = interleave ? (size_t)(i % 2) : (size_t)(i / SEQ_N);

		tg_auth(&tg, h, "any");
		if (!interleave && i % 7 == 0)
			tg_run(&tg, 3 * S); /* other gaps too */
	}
	tg_down(&tg);
}

static void test_same_seed(void **state)
{
	static struct seq a, b, c;

	run_seq(&a, 11, false);
	run_seq(&b, 11, true);
	run_seq(&c, 12, false);
	assert_int_equal(a.n[0], SEQ_N);
	assert_int_equal(a.n[1], SEQ_N);
	assert_string_equal(a.got[0], b.got[0]);
	assert_string_equal(a.got[1], b.got[1]);
	assert_memory_equal(a.delay, b.delay, sizeof(a.delay));
	assert_string_not_equal(a.got[0], c.got[0]);
	assert_memory_not_equal(a.delay, c.delay, sizeof(a.delay));
	/* two hosts do not share a stream */
	assert_string_not_equal(a.got[0], a.got[1]);
}

/* --- refusals ------------------------------------------------------------------ */

/* What a refusal must leave as it was. */
struct snapshot {
	int level;
	double risk;
	uint64_t requests, granted, denied;
};

static void snap(struct tg *tg, struct snapshot *s)
{
	const struct gate_counters *c = gate_counters(tg->g);

	s->level = gate_host_level(tg->g, topo_index(tg, 0));
	s->risk = gate_host_risk(tg->g, topo_index(tg, 0), sched_now(tg->s));
	s->granted = c->granted;
	s->denied = c->denied;
	s->requests = c->requests;
}

static void refused(struct tg *tg, const uint8_t *buf, size_t len, uint32_t src,
		    enum gate_refusal why, int code, bool answered)
{
	uint64_t before = gate_counters(tg->g)->refused[why], answers = tg->answers;
	struct snapshot s0, s1;

	snap(tg, &s0);
	assert_int_equal(gate_request(tg->g, src, htons(PORT), buf, len, sched_now(tg->s)),
			 GATE_REFUSED);
	assert_string_equal(gate_last_why(tg->g), gate_refusal_name(why));
	assert_int_equal(gate_counters(tg->g)->refused[why], before + 1);
	tg_run(tg, 10 * S);
	snap(tg, &s1);
	assert_int_equal(s0.level, s1.level);
	assert_int_equal(s0.granted, s1.granted);
	assert_int_equal(s0.denied, s1.denied);
	assert_true(fabs(s0.risk - s1.risk) < 1e-12 || s1.risk <= s0.risk);
	assert_int_equal(tg->answers, answers + (answered ? 1 : 0));
	if (answered) {
		assert_false(tg->last.granted);
		assert_int_equal(tg->last.code, code);
		assert_int_equal(tg->last_dst, src);
	}
}

static void test_refusals(void **state)
{
	uint8_t buf[GATEMSG_MAX], replay[GATEMSG_MAX];
	struct tg tg;
	struct gatemsg_ans a;
	size_t n, rn;

	tg_up(&tg, 3, "      escalate: 0%\n", 21);
	/* a wrong key */
	n = tg_build(&tg, 0, NULL, "any", "not-the-key", buf, sizeof(buf));
	refused(&tg, buf, n, host_addr(0), GATE_R_BAD_INTEGRITY, 401, true);
	assert_int_equal(
	    gatemsg_parse_answer(tg.last_buf, tg.last_len, (const uint8_t *)"k", 1, &a), 0);
	assert_false(a.authenticated); /* the gate cannot sign for a stranger */
	/* h1's key is its own: the gate's key does not do for it */
	n = tg_build(&tg, 1, NULL, "any", "k", buf, sizeof(buf));
	refused(&tg, buf, n, host_addr(1), GATE_R_BAD_INTEGRITY, 401, true);
	/* h0's name from h2's address, with h0's key */
	n = tg_build(&tg, 2, "h0", "any", "k", buf, sizeof(buf));
	refused(&tg, buf, n, host_addr(2), GATE_R_SPOOFED, 403, true);
	/* a name the gate does not know */
	n = tg_build(&tg, 0, "dns", "any", NULL, buf, sizeof(buf));
	refused(&tg, buf, n, host_addr(0), GATE_R_UNKNOWN_USER, 401, true);
	/* a resource naming no host */
	n = tg_build(&tg, 0, NULL, "nobody", NULL, buf, sizeof(buf));
	refused(&tg, buf, n, host_addr(0), GATE_R_MALFORMED, 400, true);
	/* not STUN: nothing to answer */
	refused(&tg, (const uint8_t *)"hello", 5, host_addr(0), GATE_R_MALFORMED, 0, false);
	/* a good one, then its nonce again in another request */
	rn = tg_build(&tg, 0, NULL, "any", NULL, replay, sizeof(replay));
	assert_int_equal(gate_request(tg.g, host_addr(0), htons(PORT), replay, rn, 0), GATE_TAKEN);
	tg_run(&tg, 10 * S);
	assert_true(tg.last.has_trust);
	tg.nonce[0]--; /* the same nonce, a new transaction */
	n = tg_build(&tg, 0, NULL, "any", NULL, buf, sizeof(buf));
	refused(&tg, buf, n, host_addr(0), GATE_R_REPLAY, 438, true);
	assert_int_equal(
	    gatemsg_parse_answer(tg.last_buf, tg.last_len, (const uint8_t *)"k", 1, &a), 0);
	assert_true(a.authenticated); /* authentic: signed */
	/* the window: 64 or more below the top never comes; 63 below, once */
	tg.nonce[0] = 104;
	tg_auth(&tg, 0, "any"); /* top: 105 */
	tg.nonce[0] = 39;
	n = tg_build(&tg, 0, NULL, "any", NULL, buf, sizeof(buf)); /* 40 */
	refused(&tg, buf, n, host_addr(0), GATE_R_REPLAY, 438, true);
	n = tg_build(&tg, 0, NULL, "any", NULL, buf, sizeof(buf)); /* 41 */
	refused(&tg, buf, n, host_addr(0), GATE_R_REPLAY, 438, true);
	tg_auth(&tg, 0, "any"); /* 42 */
	assert_true(tg.last.has_trust);
	tg.nonce[0] = 41;
	n = tg_build(&tg, 0, NULL, "any", NULL, buf, sizeof(buf)); /* 42 again */
	refused(&tg, buf, n, host_addr(0), GATE_R_REPLAY, 438, true);
	assert_int_equal(gate_counters(tg.g)->granted + gate_counters(tg.g)->denied, 3);
	tg_down(&tg);
}

/* A request sent again while under way gets one answer; sent again after
 * it was decided, it is a replay. */
static void test_retransmit(void **state)
{
	uint8_t buf[GATEMSG_MAX];
	struct tg tg;
	size_t n;

	tg_up(&tg, 1, "", 2);
	n = tg_build(&tg, 0, NULL, "any", NULL, buf, sizeof(buf));
	assert_int_equal(gate_request(tg.g, host_addr(0), htons(PORT), buf, n, 0), GATE_TAKEN);
	tg_run(&tg, 1 * S);
	assert_int_equal(gate_request(tg.g, host_addr(0), htons(PORT), buf, n, sched_now(tg.s)),
			 GATE_TAKEN);
	tg_run(&tg, 10 * S);
	assert_int_equal(tg.answers, 1);
	assert_true(tg.last.has_trust);
	assert_int_equal(gate_counters(tg.g)->retransmits, 1);
	refused(&tg, buf, n, host_addr(0), GATE_R_REPLAY, 438, true);
	assert_int_equal(gate_counters(tg.g)->granted + gate_counters(tg.g)->denied, 1);
	tg_down(&tg);
}

/* GATE_PENDING_MAX requests of one host under way; the next is refused. */
static void test_busy(void **state)
{
	uint8_t buf[GATEMSG_MAX];
	struct tg tg;
	size_t n;
	int i;

	tg_up(&tg, 1, "", 2);
	for (i = 0; i < GATE_PENDING_MAX; i++)
		assert_int_equal(tg_ask(&tg, 0, "any"), GATE_TAKEN);
	n = tg_build(&tg, 0, NULL, "any", NULL, buf, sizeof(buf));
	assert_int_equal(gate_request(tg.g, host_addr(0), htons(PORT), buf, n, 0), GATE_REFUSED);
	assert_string_equal(gate_last_why(tg.g), "busy");
	assert_int_equal(tg.answers, 1);
	assert_int_equal(tg.last.code, 508);
	tg_run(&tg, 10 * S);
	assert_int_equal(tg.answers, 1 + GATE_PENDING_MAX);
	assert_int_equal(gate_counters(tg.g)->granted + gate_counters(tg.g)->denied,
			 GATE_PENDING_MAX);
	tg_down(&tg);
}

/* --- pinholes through gate_check() ---------------------------------------------- */

/* A frame whose IPv4 header lands 4-byte aligned, as in a packet buffer
 * (PKT_HEADROOM). */
struct frame {
	uint8_t buf[PKT_BUF_SIZE] __attribute__((aligned(8)));
	struct ip_view v;
};

#define FRAME_AT(f) ((f)->buf + 2)
#define FRAME_CAP   (PKT_BUF_SIZE - 2)

static struct ip_view *udp(struct frame *f, const char *src, uint16_t sport, const char *dst,
			   uint16_t dport)
{
	size_t n = udp_frame_build(FRAME_AT(f), FRAME_CAP, inet_addr(src), htons(sport),
				   inet_addr(dst), htons(dport), 64, "x", 1);

	assert_int_equal(ip_view_parse(FRAME_AT(f), n, &f->v), 0);
	return &f->v;
}

static enum gate_verdict check(struct tg *tg, struct ip_view *v, enum gate_dir dir)
{
	return gate_check(tg->g, v, dir, sched_now(tg->s));
}

static void test_pinholes(void **state)
{
	uint8_t req[GATEMSG_MAX];
	struct frame f;
	struct tg tg;
	size_t n;
	int i;

	tg_up(&tg, 2,
	      "      pinhole-ttl: 10s\n      success: { untrusted: 100% }\n      escalate: "
	      "0%\n" NO_RISK,
	      4);
	/* before auth: only the exemption (DNS to host dns) */
	assert_int_equal(check(&tg, udp(&f, "192.168.1.10", PORT, "198.51.100.10", 3478), GATE_OUT),
			 GATE_DROP);
	assert_string_equal(gate_last_why(tg.g), "unauthenticated");
	assert_string_equal(gate_last_host(tg.g), "h0");
	assert_int_equal(check(&tg, udp(&f, "198.51.100.10", 3478, "192.168.1.10", PORT), GATE_IN),
			 GATE_DROP);
	assert_int_equal(check(&tg, udp(&f, "192.168.1.10", PORT, "198.51.100.53", 53), GATE_OUT),
			 GATE_PASS);
	assert_int_equal(check(&tg, udp(&f, "198.51.100.53", 53, "192.168.1.10", PORT), GATE_IN),
			 GATE_PASS);
	assert_int_equal(check(&tg, udp(&f, "192.168.1.10", PORT, "198.51.100.53", 54), GATE_OUT),
			 GATE_DROP);
	assert_int_equal(check(&tg, udp(&f, "192.168.1.99", PORT, "198.51.100.10", 1), GATE_OUT),
			 GATE_DROP);
	assert_string_equal(gate_last_why(tg.g), "unknown_host");
	/* the request itself, through gate_check */
	n = tg_build(&tg, 0, NULL, "198.51.100.10:3478", NULL, req, sizeof(req));
	n = udp_frame_build(FRAME_AT(&f), FRAME_CAP, host_addr(0), htons(PORT),
			    inet_addr("192.168.1.1"), htons(TOPO_GATE_PORT_DEFAULT), 64, req, n);
	assert_int_equal(ip_view_parse(FRAME_AT(&f), n, &f.v), 0);
	assert_int_equal(check(&tg, &f.v, GATE_OUT), GATE_TAKEN);
	tg_run(&tg, 6 * S);
	assert_true(tg.last.granted);
	assert_int_equal(tg.last.ttl_ms, 10000);
	/* the resource, both ways; nothing else; not for h1 */
	assert_int_equal(check(&tg, udp(&f, "192.168.1.10", PORT, "198.51.100.10", 3478), GATE_OUT),
			 GATE_PASS);
	assert_int_equal(check(&tg, udp(&f, "198.51.100.10", 3478, "192.168.1.10", 999), GATE_IN),
			 GATE_PASS);
	assert_int_equal(check(&tg, udp(&f, "192.168.1.10", PORT, "198.51.100.10", 3479), GATE_OUT),
			 GATE_DROP);
	assert_string_equal(gate_last_why(tg.g), "resource");
	assert_int_equal(check(&tg, udp(&f, "192.168.1.11", PORT, "198.51.100.10", 3478), GATE_OUT),
			 GATE_DROP);
	assert_string_equal(gate_last_why(tg.g), "unauthenticated");
	/* traffic every 6 s keeps it open past its 10 s */
	for (i = 0; i < 5; i++) {
		tg_run(&tg, 6 * S);
		assert_int_equal(
		    check(&tg, udp(&f, "192.168.1.10", PORT, "198.51.100.10", 3478), GATE_OUT),
		    GATE_PASS);
	}
	assert_int_equal(tg.ev_expired, 0);
	/* silence for 10 s: it is gone, and said so */
	tg_run(&tg, 10 * S);
	assert_int_equal(tg.ev_expired, 1);
	assert_non_null(strstr(tg.last_event, "\"resource\":\"198.51.100.10:3478\""));
	assert_int_equal(check(&tg, udp(&f, "192.168.1.10", PORT, "198.51.100.10", 3478), GATE_OUT),
			 GATE_DROP);
	assert_string_equal(gate_last_why(tg.g), "unauthenticated");
	/* a host resource: every address it is seen as */
	assert_true(tg_auth(&tg, 1, "stun")->granted);
	assert_int_equal(check(&tg, udp(&f, "192.168.1.11", PORT, "198.51.100.10", 1), GATE_OUT),
			 GATE_PASS);
	assert_int_equal(check(&tg, udp(&f, "192.168.1.11", PORT, "198.51.100.53", 1), GATE_OUT),
			 GATE_DROP);
	assert_int_equal(gate_counters(tg.g)->pinholes_opened, 2);
	tg_down(&tg);
}

/* gate_host_renew: a host starts again as a new one (natbed sim's clone
 * of a site taken by another client): its level back to the topology's,
 * its pinhole closed, its nonce window and a request under way forgotten;
 * the other host untouched; its draws and counters go on. */
static void test_renew(void **state)
{
	uint8_t req[GATEMSG_MAX];
	struct frame f;
	struct tg tg;
	uint64_t answers, requests;
	size_t n;
	int h0;

	(void)state;
	tg_up(&tg, 2,
	      "      success: { untrusted: 100%, low: 100%, medium: 100%, high: 100%,"
	      " verified: 100% }\n      escalate: 100%\n" NO_RISK,
	      6);
	h0 = topo_index(&tg, 0);
	assert_true(tg_auth(&tg, 0, "any")->granted);
	assert_true(tg_auth(&tg, 0, "any")->granted);
	assert_true(tg_auth(&tg, 1, "any")->granted);
	assert_int_equal(gate_host_level(tg.g, h0), TOPO_TRUST_MEDIUM);
	assert_int_equal(check(&tg, udp(&f, "192.168.1.10", PORT, "198.51.100.10", 1), GATE_OUT),
			 GATE_PASS);
	/* a request under way when it starts again: never answered */
	assert_int_equal(tg_ask(&tg, 0, "any"), GATE_TAKEN);
	answers = tg.answers;
	requests = gate_counters(tg.g)->requests;
	assert_int_equal(gate_host_renew(tg.g, h0), 0);
	tg_run(&tg, 60 * S);
	assert_int_equal(tg.answers, answers);
	assert_int_equal(gate_host_level(tg.g, h0), TOPO_TRUST_UNTRUSTED);
	assert_int_equal(check(&tg, udp(&f, "192.168.1.10", PORT, "198.51.100.10", 1), GATE_OUT),
			 GATE_DROP);
	assert_string_equal(gate_last_why(tg.g), "unauthenticated");
	assert_int_equal(check(&tg, udp(&f, "192.168.1.11", PORT, "198.51.100.10", 1), GATE_OUT),
			 GATE_PASS);
	assert_int_equal(gate_host_level(tg.g, topo_index(&tg, 1)), TOPO_TRUST_LOW);
	/* a nonce below the last one is new again */
	tg.nonce[0] = 0;
	n = tg_build(&tg, 0, NULL, "any", NULL, req, sizeof(req));
	assert_int_equal(gate_request(tg.g, host_addr(0), htons(PORT), req, n, sched_now(tg.s)),
			 GATE_TAKEN);
	tg_run(&tg, 60 * S);
	assert_true(tg.last.granted);
	assert_int_equal(tg.last.level, TOPO_TRUST_UNTRUSTED);
	assert_true(gate_counters(tg.g)->requests > requests);
	assert_int_equal(gate_host_renew(tg.g, topo_host_find(tg.t, "dns")), -1);
	tg_down(&tg);
}

/* --- control and checkpoints ---------------------------------------------------- */

static void test_ctl_json(void **state)
{
	struct tg tg;
	json_t *j, *h;
	char err[128];

	tg_up(&tg, 2, "      success: { untrusted: 100% }\n      escalate: 0%\n" NO_RISK, 4);
	tg_auth(&tg, 0, "198.51.100.10");
	assert_int_equal(tg_ask(&tg, 1, "any"), GATE_TAKEN);
	j = gate_hosts_json(tg.g, sched_now(tg.s));
	assert_int_equal(json_array_size(j), 2);
	h = json_array_get(j, 0);
	assert_string_equal(json_string_value(json_object_get(h, "name")), "h0");
	assert_string_equal(json_string_value(json_object_get(h, "trust")), "untrusted");
	assert_int_equal(json_integer_value(json_object_get(h, "granted")), 1);
	assert_int_equal(json_array_size(json_object_get(h, "pinholes")), 1);
	assert_int_equal(json_array_size(json_object_get(h, "history")), 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(j, 1), "pending")), 1);
	json_decref(j);
	j = gate_stats_json(tg.g);
	assert_string_equal(json_string_value(json_object_get(j, "address")), "192.168.1.1");
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(json_object_get(j, "counters"), "refused"), "busy")),
			 0);
	json_decref(j);
	assert_int_equal(gate_set_trust(tg.g, "h9", "low", 0, err, sizeof(err)), -1);
	assert_string_equal(err, "no host 'h9' behind gate home");
	assert_int_equal(gate_set_trust(tg.g, "h1", "lowest", 0, err, sizeof(err)), -1);
	assert_int_equal(gate_set_trust(tg.g, "h1", "high", 0, err, sizeof(err)), 0);
	assert_int_equal(tg.ev_trust, 1);
	tg_down(&tg);
}

struct twin_log {
	char got[64];
	int n;
};

static void twin_answer(struct tg *tg, const struct gatemsg_ans *a, natbed_time_t now)
{
	struct twin_log *l = tg->arg;

	if (l->n < 63)
		l->got[l->n++] = a->granted ? 'G' : 'D';
}

/* A checkpoint with requests under way, pinholes and history restores
 * into a twin that checkpoints the same, and both go on alike. */
static void test_checkpoint(void **state)
{
	struct tg a, b;
	struct twin_log la = {0}, lb = {0};
	struct gate *fresh;
	json_t *ck, *again;
	char err[256];
	int i;

	tg_up(&a, 3, "      time-scale: 0.1\n", 8);
	tg_up(&b, 3, "      time-scale: 0.1\n", 8);
	for (i = 0; i < 6; i++)
		tg_auth(&a, (size_t)i % 3, i % 2 ? "any" : "198.51.100.10:3478");
	tg_ask(&a, 0, "any");
	tg_ask(&a, 2, "stun");
	gate_set(a.g, "escalate", "50%", NULL, 0);
	ck = gate_checkpoint(a.g, sched_now(a.s));
	assert_non_null(ck);
	/* the twin runs at another time: everything is relative */
	tg_run(&b, 1000 * S);
	fresh = gate_restore_prepare(b.g, ck, sched_now(b.s), err, sizeof(err));
	if (!fresh)
		fail_msg("restore: %s", err);
	gate_adopt(b.g, fresh);
	again = gate_checkpoint(b.g, sched_now(b.s));
	if (!json_equal(ck, again)) {
		char *x = json_dumps(ck, JSON_COMPACT), *y = json_dumps(again, JSON_COMPACT);

		fail_msg("checkpoints differ:\n%s\n%s", x, y);
	}
	json_decref(again);
	memcpy(b.nonce, a.nonce, sizeof(a.nonce));
	b.txn = a.txn;
	a.on_answer = b.on_answer = twin_answer;
	a.arg = &la;
	b.arg = &lb;
	for (i = 0; i < 40; i++) {
		tg_auth(&a, (size_t)i % 3, "any");
		tg_auth(&b, (size_t)i % 3, "any");
	}
	assert_string_equal(la.got, lb.got);
	/* what does not fit is refused, and changes nothing */
	json_object_set_new(ck, "port", json_integer(1));
	assert_null(gate_restore_prepare(b.g, ck, 0, err, sizeof(err)));
	assert_string_equal(err, "address or port: not this gate's");
	json_object_set_new(ck, "port", json_integer(TOPO_GATE_PORT_DEFAULT));
	json_object_del(json_object_get(ck, "hosts"), "h1");
	assert_null(gate_restore_prepare(b.g, ck, 0, err, sizeof(err)));
	assert_string_equal(err, "hosts.h1: missing");
	json_decref(ck);
	ck = gate_checkpoint(a.g, sched_now(a.s));
	json_object_set_new(json_object_get(json_object_get(ck, "hosts"), "h2"), "trust",
			    json_string("total"));
	assert_null(gate_restore_prepare(b.g, ck, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "hosts.h2: trust"));
	json_decref(ck);
	tg_down(&a);
	tg_down(&b);
}

/* --- natbed sim checkpoints: exact, event for event ------------------------- */

/* A test's own event: when it ran and how many pinholes had expired. */
static void gw_mark(void *arg, natbed_time_t now)
{
	struct tg *tg = arg;
	size_t n = strlen(tg->trace);

	snprintf(tg->trace + n, sizeof(tg->trace) - n, "%lld:%llu ",
		 (long long)(now / NATBED_NS_PER_MS),
		 (unsigned long long)gate_counters(tg->g)->pinholes_expired);
}

static void gw_stray(void *arg, natbed_time_t now)
{
	(void)arg;
	(void)now;
}

static const struct ckfn gw_fns[] = {CKFN(gw_mark)};
static const struct ckfns gw_table = CKFNS(test, gw_fns);
static const struct ckfns *const gw_tables[] = {&gate_ckfns, &gw_table};

/* The queue, the world's object (the test's tg), the gate (ckround.h). */
static json_t *gw_parts_save(struct ckw *w, void *arg)
{
	struct tg *tg = arg;

	return json_pack("{s:o*,s:o*}", "world", ckw_obj(w, tg), "gate", gate_ckpt_save(tg->g, w));
}

static int gw_parts_load(struct ckr *r, const json_t *j, void *arg)
{
	struct tg *tg = arg;

	ckr_obj(r, json_object_get(j, "world"), tg);
	return gate_ckpt_fill(tg->g, json_object_get(j, "gate"), r);
}

static json_t *gw_save(struct tg *tg, char *err, size_t errlen)
{
	return ckround_save(tg->s, gw_tables, 2, gw_parts_save, tg, err, errlen);
}

/* Fills tg's fresh gate (made as the original's, its scheduler empty). */
static int gw_load(struct tg *tg, const json_t *j, char *err, size_t errlen)
{
	tg->vc.now_ns = ckround_at(j);
	return ckround_load(j, &tg->s, gw_tables, 2, gw_parts_load, tg, err, errlen);
}

/* Both to until, event time by event time: the same next event, as many
 * run, the same counters and answers. */
static void gw_run_both(struct tg *a, struct tg *b, natbed_time_t until)
{
	natbed_time_t t;

	while ((t = sched_next_due(a->s)) >= 0 && t <= until) {
		assert_int_equal(sched_next_due(b->s), t);
		assert_int_equal(sched_pending(b->s), sched_pending(a->s));
		assert_int_equal(sched_run_until(a->s, t), sched_run_until(b->s, t));
		assert_memory_equal(gate_counters(a->g), gate_counters(b->g),
				    sizeof(struct gate_counters));
		assert_int_equal(a->answers, b->answers);
		assert_int_equal(a->last_len, b->last_len);
		assert_memory_equal(a->last_buf, b->last_buf, a->last_len);
	}
	sched_run_until(a->s, until);
	sched_run_until(b->s, until);
}

/* The same packet through both gates. */
static void gw_check_both(struct tg *a, struct tg *b, const char *src, uint16_t sport,
			  const char *dst, uint16_t dport, enum gate_dir dir)
{
	struct frame f;
	enum gate_verdict va = check(a, udp(&f, src, sport, dst, dport), dir);

	assert_int_equal(check(b, udp(&f, src, sport, dst, dport), dir), va);
	assert_string_equal(gate_last_why(a->g), gate_last_why(b->g));
	assert_string_equal(gate_last_host(a->g), gate_last_host(b->g));
}

/* Pinholes in every slot of a host and one replaced, one refreshed (its
 * event still at its first time), requests under way, a test event at a
 * pinhole's expiry, a changed model: saved, filled into a fresh gate,
 * saved again equal; both go on alike with the same requests. */
static void test_sim_exact(void **state)
{
	struct tg a, b;
	char err[256] = "", res[32];
	uint64_t expired;
	struct frame f;
	json_t *ja, *jb;
	int i;

	(void)state;
	tg_up(&a, 3, "      time-scale: 0.01\n      pinhole-ttl: 60s\n", 8);
	tg_up(&b, 3, "      time-scale: 0.01\n      pinhole-ttl: 60s\n", 8);
	for (i = 0; i < 6; i++)
		tg_auth(&a, (size_t)i % 3, i % 2 ? "any" : "198.51.100.10:3478");
	for (i = 0; i < 24; i++) {
		snprintf(res, sizeof(res), "198.51.100.%d:%d", 20 + i, 1000 + i);
		tg_auth(&a, 0, res);
	}
	/* a refresh of a pinhole: its event stays where it was */
	for (i = 0; i < GATE_PINS_MAX && a.g->hosts[0].pins[i].res.kind != GATEMSG_RES_ADDR_PORT;
	     i++)
		;
	assert_true(i < GATE_PINS_MAX);
	inet_ntop(AF_INET, &a.g->hosts[0].pins[i].res.addr, res, sizeof(res));
	tg_run(&a, S);
	assert_int_equal(
	    check(&a, udp(&f, "192.168.1.10", PORT, res, ntohs(a.g->hosts[0].pins[i].res.port)),
		  GATE_OUT),
	    GATE_PASS);
	assert_true(a.g->hosts[0].pins[i].expires > sched_now(a.s) + 59 * S);
	sched_at(a.s, a.g->hosts[0].pins[3].expires, gw_mark, &a);
	tg_ask(&a, 0, "any");
	tg_ask(&a, 2, "stun");
	gate_set(a.g, "escalate", "50%", NULL, 0);
	assert_true(a.g->hosts[0].pins[GATE_PINS_MAX - 1].used);

	ja = gw_save(&a, err, sizeof(err));
	if (!ja)
		fail_msg("save: %s", err);
	if (gw_load(&b, ja, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	jb = gw_save(&b, err, sizeof(err));
	assert_non_null(jb);
	assert_true(json_equal(ja, jb));
	json_decref(ja);
	json_decref(jb);
	assert_string_equal(gate_last_why(a.g), gate_last_why(b.g));

	/* the harness's own state: the hosts' nonces and transactions */
	memcpy(b.nonce, a.nonce, sizeof(a.nonce));
	b.txn = a.txn;
	b.answers = a.answers;
	b.last_len = a.last_len;
	memcpy(b.last_buf, a.last_buf, a.last_len);
	expired = a.ev_expired;
	gw_run_both(&a, &b, sched_now(a.s) + 10 * S);
	gw_check_both(&a, &b, "192.168.1.10", PORT, "198.51.100.10", 3478, GATE_OUT);
	gw_check_both(&a, &b, "192.168.1.10", PORT, "198.51.100.99", 1, GATE_OUT);
	gw_check_both(&a, &b, "192.168.1.11", PORT, "198.51.100.10", 3478, GATE_OUT);
	for (i = 0; i < 12; i++) {
		assert_int_equal(tg_ask(&a, (size_t)i % 3, i % 4 ? "any" : "stun"),
				 tg_ask(&b, (size_t)i % 3, i % 4 ? "any" : "stun"));
		gw_run_both(&a, &b, sched_now(a.s) + 3 * S);
	}
	gw_run_both(&a, &b, sched_now(a.s) + 600 * S);
	assert_int_equal(sched_pending(a.s), 0);
	assert_int_equal(sched_pending(b.s), 0);
	assert_string_equal(a.trace, b.trace);
	assert_true(strlen(a.trace) > 0);
	assert_int_equal(a.ev_expired - expired, b.ev_expired);
	assert_true(b.ev_expired > 0);
	assert_memory_equal(gate_counters(a.g), gate_counters(b.g), sizeof(struct gate_counters));
	for (i = 0; i < 3; i++)
		assert_int_equal(gate_host_level(a.g, topo_index(&a, (size_t)i)),
				 gate_host_level(b.g, topo_index(&b, (size_t)i)));
	tg_down(&a);
	tg_down(&b);
}

/* A function in no table is refused by the writer; a broken slot by the
 * reader (the half-filled gate frees cleanly). */
static void test_sim_refused(void **state)
{
	struct tg a, b;
	char err[256] = "";
	uint64_t stray;
	json_t *j, *h0;

	(void)state;
	tg_up(&a, 2, "", 8);
	tg_up(&b, 2, "", 8);
	tg_ask(&a, 0, "any");
	tg_ask(&a, 1, "any");
	stray = sched_at(a.s, 5 * S, gw_stray, NULL);
	assert_null(gw_save(&a, err, sizeof(err)));
	assert_non_null(strstr(err, "no module's table"));
	sched_cancel(a.s, stray);
	j = gw_save(&a, err, sizeof(err));
	assert_non_null(j);
	h0 = json_array_get(json_object_get(json_object_get(ckround_parts(j), "gate"), "hosts"), 1);
	json_object_set_new(json_array_get(json_object_get(h0, "pending"), 0), "slot",
			    json_integer(GATE_PENDING_MAX));
	err[0] = 0;
	assert_int_equal(gw_load(&b, j, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pending[0]"));
	json_decref(j);
	tg_down(&a);
	tg_down(&b);
}

/* --- speed ------------------------------------------------------------------------ */

#define SPEED_HOSTS 100
#define SPEED_N	    100000

/* 100,000 authentications (requests built beforehand): the gate's part, in
 * CPU time, well under a second. */
static void test_speed(void **state)
{
	struct req {
		uint8_t buf[200];
		uint8_t len;
	} *reqs = malloc(SPEED_N * sizeof(*reqs));
	struct timespec t0, t1;
	struct tg tg;
	double secs;
	size_t i, k;

	assert_non_null(reqs);
	tg_up(&tg, SPEED_HOSTS, "", 99);
	for (i = 0; i < SPEED_N; i++) {
		size_t n = tg_build(&tg, i % SPEED_HOSTS, NULL, "any", NULL, reqs[i].buf,
				    sizeof(reqs[i].buf));

		reqs[i].len = (uint8_t)n;
	}
	tg.count_only = true;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (i = 0; i < SPEED_N; i += SPEED_HOSTS) {
		for (k = i; k < i + SPEED_HOSTS; k++)
			if (gate_request(tg.g, host_addr(k % SPEED_HOSTS), htons(PORT), reqs[k].buf,
					 reqs[k].len, sched_now(tg.s)) != GATE_TAKEN)
				fail_msg("request %zu not taken: %s", k, gate_last_why(tg.g));
		tg_run(&tg, 6 * S); /* every delay is at most 5 s */
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("%d authentications: %.3f s of CPU (%.2f us each), %llu granted\n", SPEED_N,
		      secs, secs * 1e6 / SPEED_N, (unsigned long long)gate_counters(tg.g)->granted);
	assert_int_equal(tg.answers, SPEED_N);
	assert_int_equal(gate_counters(tg.g)->granted + gate_counters(tg.g)->denied, SPEED_N);
	assert_int_equal(tg.ev_auth, SPEED_N);
	free(reqs);
	tg_down(&tg);
	/* the figure is the optimised build's: sanitizers slow it tenfold */
#if !defined(__SANITIZE_ADDRESS__)
	assert_true(secs < 1.0);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_delays_by_level), cmocka_unit_test(test_time_scale),
	    cmocka_unit_test(test_success_rates),   cmocka_unit_test(test_risk),
	    cmocka_unit_test(test_escalation),	    cmocka_unit_test(test_demotion),
	    cmocka_unit_test(test_same_seed),	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_retransmit),	    cmocka_unit_test(test_busy),
	    cmocka_unit_test(test_pinholes),	    cmocka_unit_test(test_renew),
	    cmocka_unit_test(test_ctl_json),	    cmocka_unit_test(test_checkpoint),
	    cmocka_unit_test(test_sim_exact),	    cmocka_unit_test(test_sim_refused),
	    cmocka_unit_test(test_speed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
