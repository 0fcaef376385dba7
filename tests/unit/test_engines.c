/* emulator/engines.c: natbed sim checkpoints of every engine of a topology
 * (engines_ckpt_save, engines_ckpt_fill), exact and event for event. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckround.h"
#include "engines.h"
#include "natbed/ckpt.h"
#include "natbed/clock.h"
#include "natbed/gatemsg.h"
#include "natbed/sched.h"
#include "natbed/topo.h"
#include "pkt.h"
#include "proto.h"

#define S NATBED_NS_PER_S

static const char t_yaml[] = "seed: 5\n"
			     "nats:\n"
			     "  home:\n"
			     "    preset: port-restricted\n"
			     "    public: 203.0.113.10\n"
			     "    inside: 192.168.1.0/24\n"
			     "    firewall:\n"
			     "      default: drop\n"
			     "      rules:\n"
			     "        - { dir: out, action: accept }\n"
			     "    gate:\n"
			     "      key: k\n"
			     "      time-scale: 0.01\n"
			     "      success: { untrusted: 100% }\n"
			     "  office:\n"
			     "    preset: symmetric\n"
			     "    public: 203.0.113.20\n"
			     "    inside: 10.1.0.0/16\n"
			     "hosts:\n"
			     "  alice: { nat: home, address: 192.168.1.10 }\n"
			     "  bob: { nat: office, address: 10.1.0.10 }\n"
			     "  srv:\n"
			     "    address: 198.51.100.7\n"
			     "    firewall:\n"
			     "      default: drop\n"
			     "      rules:\n"
			     "        - { dir: in, proto: udp, port: 3478, action: accept }\n";

/* A topology's engines in virtual time, and the gate answers they sent. */
struct ew {
	struct clock_virtual vc;
	struct sched *s;
	struct topo *t;
	struct engines e;
	uint64_t answers;
	uint8_t last[GATEMSG_MAX];
	size_t last_len;
};

static void ew_reply(void *ctx, const struct gate_reply *r, natbed_time_t now)
{
	struct ew *w = ctx;

	(void)now;
	assert_true(r->len <= sizeof(w->last));
	memcpy(w->last, r->buf, r->len);
	w->last_len = r->len;
	w->answers++;
}

static void ew_up(struct ew *w)
{
	char err[TOPO_ERR_MAX];
	struct engines_cfg c;

	memset(w, 0, sizeof(*w));
	w->s = sched_new(clock_virtual_clock(&w->vc), &w->vc);
	assert_non_null(w->s);
	if (topo_load_string(t_yaml, strlen(t_yaml), "eng.yaml", "nb-", &w->t, err, sizeof(err)) <
	    0)
		fail_msg("topology: %s", err);
	c = (struct engines_cfg){.topo = w->t, .sched = w->s, .gate_reply = ew_reply, .ctx = w};
	if (engines_open(&w->e, &c, err, sizeof(err)) < 0)
		fail_msg("engines: %s", err);
}

static void ew_down(struct ew *w)
{
	engines_close(&w->e);
	sched_free(w->s);
	topo_free(w->t);
}

struct frame {
	uint8_t buf[PKT_BUF_SIZE] __attribute__((aligned(8)));
	struct ip_view v;
};

static struct ip_view *udp(struct frame *f, const char *src, uint16_t sport, const char *dst,
			   uint16_t dport)
{
	size_t n = udp_frame_build(f->buf + 2, sizeof(f->buf) - 2, inet_addr(src), htons(sport),
				   inet_addr(dst), htons(dport), 64, "x", 1);

	assert_int_equal(ip_view_parse(f->buf + 2, n, &f->v), 0);
	return &f->v;
}

/* What a packet from alice to dst:dport meets on its way out of home:
 * gate, firewall, NAT; the NAT's verdict (or the gate's or firewall's
 * refusal, as -1 and -2). */
static int ew_out(struct ew *w, uint16_t sport, const char *dst, uint16_t dport)
{
	struct frame f;
	struct ip_view *v = udp(&f, "192.168.1.10", sport, dst, dport);
	natbed_time_t now = sched_now(w->s);

	if (gate_check(w->e.nat_gate[0], v, GATE_OUT, now) != GATE_PASS)
		return -1;
	if (fw_check(w->e.nat_fw[0], v, FW_DIR_OUT, now) != FW_ACCEPT)
		return -2;
	return (int)nat_outbound(w->e.nats[0], v, now);
}

/* alice asks home's gate for resource; the verdict. */
static enum gate_verdict ew_ask(struct ew *w, uint64_t nonce, const char *resource)
{
	uint8_t buf[GATEMSG_MAX], txid[STUN_TXID_LEN] = {0};
	int n;

	memcpy(txid, &nonce, sizeof(nonce));
	n = gatemsg_build_request(buf, sizeof(buf), txid, "alice", nonce, resource,
				  (const uint8_t *)"k", 1);
	assert_true(n > 0);
	return gate_request(w->e.nat_gate[0], inet_addr("192.168.1.10"), htons(40000), buf,
			    (size_t)n, sched_now(w->s));
}

static json_t *ew_parts_save(struct ckw *ck, void *arg)
{
	struct ew *w = arg;

	return json_pack("{s:o*}", "engines", engines_ckpt_save(&w->e, ck));
}

static int ew_parts_load(struct ckr *r, const json_t *j, void *arg)
{
	struct ew *w = arg;

	return engines_ckpt_fill(&w->e, json_object_get(j, "engines"), r);
}

static json_t *ew_save(struct ew *w, char *err, size_t errlen)
{
	return ckround_save(w->s, engines_ckfns, ENGINES_CKFNS_N, ew_parts_save, w, err, errlen);
}

static int ew_load(struct ew *w, const json_t *j, char *err, size_t errlen)
{
	w->vc.now_ns = ckround_at(j);
	return ckround_load(j, &w->s, engines_ckfns, ENGINES_CKFNS_N, ew_parts_load, w, err,
			    errlen);
}

/* Both to until, event time by event time, every engine counting alike. */
static void ew_run_both(struct ew *a, struct ew *b, natbed_time_t until)
{
	natbed_time_t t;

	while ((t = sched_next_due(a->s)) >= 0 && t <= until) {
		assert_int_equal(sched_next_due(b->s), t);
		assert_int_equal(sched_run_until(a->s, t), sched_run_until(b->s, t));
		assert_memory_equal(nat_counters(a->e.nats[0]), nat_counters(b->e.nats[0]),
				    sizeof(struct nat_counters));
		assert_memory_equal(fw_counters(a->e.nat_fw[0]), fw_counters(b->e.nat_fw[0]),
				    sizeof(struct fw_counters));
		assert_memory_equal(gate_counters(a->e.nat_gate[0]),
				    gate_counters(b->e.nat_gate[0]), sizeof(struct gate_counters));
		assert_int_equal(a->answers, b->answers);
	}
	sched_run_until(a->s, until);
	sched_run_until(b->s, until);
}

/* Traffic through home's gate, firewall and NAT, a request under way, a
 * PCP count and srv's firewall: saved, filled into the engines of a fresh
 * run of the topology, saved again equal; both go on alike. */
static void test_round_trip(void **state)
{
	struct ew *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	const uint8_t junk[2] = {2, 1};
	uint8_t out[1100];
	char err[256] = "";
	struct frame f;
	json_t *ja, *jb;
	int i;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	ew_up(a);
	ew_up(b);
	assert_int_equal(ew_out(a, 5000, "198.51.100.7", 3478), -1);
	assert_int_equal(ew_ask(a, 1, "any"), GATE_TAKEN);
	while (!a->answers && sched_pending(a->s))
		sched_run_until(a->s, sched_next_due(a->s));
	for (i = 0; i < 5; i++)
		assert_int_equal(ew_out(a, (uint16_t)(5000 + i), "198.51.100.7", 3478), NAT_PASS);
	assert_int_equal(nat_counters(a->e.nats[0])->mappings_active, 5);
	assert_int_equal(fw_check(a->e.host_fw[2],
				  udp(&f, "203.0.113.10", 5000, "198.51.100.7", 3478), FW_DIR_IN,
				  sched_now(a->s)),
			 FW_ACCEPT);
	pcp_answer(a->e.nats[0], &a->e.pcp[0], junk, sizeof(junk), inet_addr("192.168.1.10"),
		   sched_now(a->s), out, sizeof(out));
	assert_int_equal(a->e.pcp[0].requests, 1);
	assert_int_equal(ew_ask(a, 2, "198.51.100.8:53"), GATE_TAKEN);

	ja = ew_save(a, err, sizeof(err));
	if (!ja)
		fail_msg("save: %s", err);
	if (ew_load(b, ja, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	jb = ew_save(b, err, sizeof(err));
	assert_non_null(jb);
	assert_true(json_equal(ja, jb));
	assert_memory_equal(&a->e.pcp[0], &b->e.pcp[0], sizeof(a->e.pcp[0]));
	json_decref(ja);
	json_decref(jb);

	b->answers = a->answers;
	for (i = 0; i < 8; i++) {
		assert_int_equal(ew_out(a, (uint16_t)(6000 + i), "198.51.100.7", 3478),
				 ew_out(b, (uint16_t)(6000 + i), "198.51.100.7", 3478));
		ew_run_both(a, b, sched_now(a->s) + 20 * S);
	}
	ew_run_both(a, b, sched_now(a->s) + 3600 * S);
	assert_int_equal(a->last_len, b->last_len);
	assert_memory_equal(a->last, b->last, a->last_len);
	ew_down(a);
	ew_down(b);
	free(a);
	free(b);
}

/* A checkpoint of other engines (a firewall where the topology gives
 * none) is refused. */
static void test_refused(void **state)
{
	struct ew *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char err[256] = "";
	json_t *j, *hosts;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	ew_up(a);
	ew_up(b);
	j = ew_save(a, err, sizeof(err));
	assert_non_null(j);
	hosts = json_object_get(json_object_get(ckround_parts(j), "engines"), "nats");
	json_object_set(json_array_get(hosts, 1), "fw",
			json_object_get(json_array_get(hosts, 0), "fw"));
	assert_int_equal(ew_load(b, j, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "office"));
	json_decref(j);
	ew_down(a);
	ew_down(b);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
