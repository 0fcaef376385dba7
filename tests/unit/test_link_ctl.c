/* lib/link_ctl.c: a link direction's checkpoint, in virtual time. A link
 * restored from a checkpoint (through text, as the file carries it) into
 * a fresh link of another run's clock decides the rest of the packets
 * exactly as the original does; a checkpoint that does not fit, or has a
 * bad part, is refused with its name and changes nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/link.h"
#include "natbed/link_ctl.h"
#include "natbed/rng.h"

#define CK_FLOWS 100 /* more than the first Gilbert-Elliott table holds */
#define CK_PKTS	 4000
#define CK_GAP	 200000 /* ns between packets: the 2 mbit bucket queues some */
#define CK_SHIFT ((natbed_time_t)987654321987) /* the other run's clock */

static struct link *mk(const char *name, unsigned dir, uint64_t seed, const char *const *kv)
{
	struct link_cfg cfg;
	char err[LINK_ERR_MAX];
	struct link *l;

	link_cfg_default(&cfg);
	snprintf(cfg.name, sizeof(cfg.name), "%s", name);
	cfg.seed = seed;
	cfg.key = rng_key(name, 0);
	cfg.dir = dir;
	for (size_t i = 0; kv && kv[i]; i += 2)
		if (link_cfg_set(&cfg, kv[i], kv[i + 1], err, sizeof(err)) < 0)
			fail_msg("%s=%s: %s", kv[i], kv[i + 1], err);
	l = link_new(&cfg, err, sizeof(err));
	if (!l)
		fail_msg("link_new: %s", err);
	return l;
}

/* Packet i: one of CK_FLOWS flows, numbered within it, of varying size. */
static struct link_pkt pkt_of(uint64_t i, uint64_t *seqs)
{
	uint64_t flow = rng_keyed_u64(7, 7, i % CK_FLOWS);
	struct link_pkt p = {.flow = flow,
			     .seq = seqs[i % CK_FLOWS]++,
			     .len = (uint32_t)(60 + (i * 37) % 1400),
			     .proto = 17,
			     .sport = (uint16_t)(5000 + i % CK_FLOWS),
			     .dport = 3478};

	return p;
}

/* Through text and back, as a checkpoint file carries it. */
static json_t *through_text(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_error_t e;
	json_t *back;

	assert_non_null(s);
	back = json_loads(s, 0, &e);
	assert_non_null(back);
	free(s);
	json_decref(j);
	return back;
}

static void same_verdict(const struct link_verdict *a, const struct link_verdict *b,
			 natbed_time_t shift, uint64_t i)
{
	if (a->drop != b->drop || a->n != b->n)
		fail_msg("packet %llu: drop %d/%d copies %u/%u", (unsigned long long)i, a->drop,
			 b->drop, a->n, b->n);
	for (unsigned k = 0; k < a->n; k++) {
		assert_int_equal(a->deliver_ns[k] + shift, b->deliver_ns[k]);
		assert_int_equal(a->corrupt[k], b->corrupt[k]);
	}
}

/* The original link, with `link set` changes on top of its topology's
 * parameters: what a checkpoint must carry. */
static const char *const ck_kv[] = {"delay", "5ms",	      "jitter", "3ms", "rate",
				    "2mbit", "queue-packets", "20",	NULL};

static struct link *mk_changed(void)
{
	struct link *l = mk("alice", 1, 42, ck_kv);
	char err[LINK_ERR_MAX];

	assert_int_equal(link_set(l, "loss", "ge 3% 30% 10% 98%", err, sizeof(err)), 0);
	assert_int_equal(link_set(l, "dup", "2%", err, sizeof(err)), 0);
	assert_int_equal(link_set(l, "corrupt", "1%", err, sizeof(err)), 0);
	assert_int_equal(link_set(l, "drop-list", "7,300", err, sizeof(err)), 0);
	assert_int_equal(link_set(l, "jitter-dist", "normal", err, sizeof(err)), 0);
	return l;
}

/* Checkpoint half-way, restore into a fresh link of the topology (none of
 * the changes) on another clock: the second half meets the same fate. */
static void test_round_trip(void **state)
{
	struct link *a = mk_changed(), *b = mk("alice", 1, 42, NULL), *fresh;
	uint64_t seqs_a[CK_FLOWS] = {0}, seqs_b[CK_FLOWS];
	char err[LINK_ERR_MAX];
	struct link_stats sa, sb;
	natbed_time_t t = 1000000;
	json_t *ck, *again, *orig;
	uint64_t i, lost = 0, queued = 0;

	(void)state;
	for (i = 0; i < CK_PKTS / 2; i++, t += CK_GAP) {
		struct link_pkt p = pkt_of(i, seqs_a);

		link_decide(a, &p, t);
	}
	link_get_stats(a, &sa);
	assert_true(sa.queue_packets > 0); /* the checkpoint holds a queue */
	ck = through_text(link_checkpoint(a, t));
	fresh = link_restore_prepare(b, ck, t + CK_SHIFT, err, sizeof(err));
	if (!fresh)
		fail_msg("link_restore_prepare: %s", err);
	link_adopt(b, fresh);
	/* a checkpoint of the restored link is the original's */
	orig = link_checkpoint(a, t);
	again = link_checkpoint(b, t + CK_SHIFT);
	assert_true(json_equal(orig, again));
	json_decref(orig);
	json_decref(again);
	memcpy(seqs_b, seqs_a, sizeof(seqs_b));
	for (; i < CK_PKTS; i++, t += CK_GAP) {
		struct link_pkt p, q;
		struct link_verdict va, vb;

		p = pkt_of(i, seqs_a);
		q = pkt_of(i, seqs_b);
		va = link_decide(a, &p, t);
		vb = link_decide(b, &q, t + CK_SHIFT);
		same_verdict(&va, &vb, CK_SHIFT, i);
		lost += va.drop == LINK_DROP_LOSS;
		queued += va.drop == LINK_DROP_QUEUE;
	}
	/* the second half was not trivial: losses and tail drops both */
	assert_true(lost > 10);
	assert_true(queued > 0);
	link_get_stats(a, &sa);
	link_get_stats(b, &sb);
	assert_memory_equal(&sa, &sb, sizeof(sa));
	json_decref(ck);
	link_free(a);
	link_free(b);
}

/* Without the chains restored, the same second half meets another fate:
 * the round trip above shows something. */
static void test_state_matters(void **state)
{
	struct link *a = mk_changed(), *b = mk_changed();
	uint64_t seqs_a[CK_FLOWS] = {0}, seqs_b[CK_FLOWS];
	natbed_time_t t = 1000000;
	uint64_t i, differ = 0;

	(void)state;
	for (i = 0; i < CK_PKTS / 2; i++, t += CK_GAP) {
		struct link_pkt p = pkt_of(i, seqs_a);

		link_decide(a, &p, t);
	}
	memcpy(seqs_b, seqs_a, sizeof(seqs_b));
	for (; i < CK_PKTS; i++, t += CK_GAP) {
		struct link_pkt p = pkt_of(i, seqs_a), q = pkt_of(i, seqs_b);

		differ += link_decide(a, &p, t).drop != link_decide(b, &q, t).drop;
	}
	assert_true(differ > 0);
	link_free(a);
	link_free(b);
}

/* Sets member key of object path (a '.'-separated list of members) of j
 * to v (taken). */
static void poke(json_t *j, const char *path, json_t *v)
{
	char buf[128], *save = NULL, *w, *next;

	snprintf(buf, sizeof(buf), "%s", path);
	w = strtok_r(buf, ".", &save);
	while ((next = strtok_r(NULL, ".", &save))) {
		j = json_object_get(j, w);
		assert_non_null(j);
		w = next;
	}
	json_object_set_new(j, w, v);
}

static void refused(struct link *b, const json_t *bad, const char *want)
{
	char err[LINK_ERR_MAX] = "";
	json_t *before = link_checkpoint(b, 5), *after;

	assert_null(link_restore_prepare(b, bad, 5, err, sizeof(err)));
	if (!strstr(err, want))
		fail_msg("error '%s' does not name '%s'", err, want);
	after = link_checkpoint(b, 5);
	assert_true(json_equal(before, after));
	json_decref(before);
	json_decref(after);
}

static void test_refusals(void **state)
{
	struct link *a = mk_changed(), *b = mk("alice", 1, 42, NULL);
	struct link *other_dir = mk("alice", 0, 42, NULL), *other_seed = mk("alice", 1, 43, NULL);
	struct link *other_name = mk("bob", 1, 42, NULL);
	uint64_t seqs[CK_FLOWS] = {0};
	natbed_time_t t = 1000;
	json_t *ck, *bad;
	uint64_t i;

	(void)state;
	for (i = 0; i < 500; i++, t += CK_GAP) {
		struct link_pkt p = pkt_of(i, seqs);

		link_decide(a, &p, t);
	}
	ck = link_checkpoint(a, t);
	refused(other_dir, ck, "direction");
	refused(other_seed, ck, "seed");
	refused(other_name, ck, "the checkpoint is of link 'alice'");
	refused(b, json_null(), "not a link");
#define BAD(path, value, want)                                                                     \
	do {                                                                                       \
		bad = json_deep_copy(ck);                                                          \
		poke(bad, path, value);                                                            \
		refused(b, bad, want);                                                             \
		json_decref(bad);                                                                  \
	} while (0)
	BAD("config.loss.model", json_string("lossy"), "loss: unknown model");
	BAD("config.loss.p", json_real(1.5), "config.loss");
	BAD("config.delay_ns", json_integer(-1), "config.delay_ns");
	BAD("config.queue_packets", json_integer(70000), "config.rate_bps");
	BAD("config.target.list", json_pack("[i]", 0), "config.target");
	BAD("config.jitter_dist", json_string("pareto"), "config.jitter_dist");
	BAD("config", json_string("x"), "config");
	BAD("bucket.tokens", json_real(-1), "bucket");
	BAD("queue", json_pack("[[i,i],[i,i]]", 2000, 100, 1000, 100), "queue");
	BAD("queue", json_pack("[[i,i]]", 0, 100), "queue");
	BAD("ge.cap", json_integer(100), "ge");
	BAD("ge.flows", json_pack("[[i,s,i,b],[i,s,i,b]]", 3, "01", 1, 0, 3, "02", 1, 0), "ge");
	BAD("ge.flows", json_pack("[[i,s,i,b]]", 3, "xyz", 1, 0), "ge");
	BAD("stats.packets", json_integer(-3), "stats");
	BAD("stats.dropped", json_object(), "stats");
	json_decref(ck);
	link_free(a);
	link_free(b);
	link_free(other_dir);
	link_free(other_seed);
	link_free(other_name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_state_matters),
	    cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
