/* Unit tests for agents/select.c and learn.c: the seed's scoring by
 * priority, priors moved by measured outcomes, constraints, same-site
 * pairs, the cascade's plan (what it tries in which order, what it skips
 * and why), the learning file round trip and its refusals. The methods
 * here are the test's own, with known specs. The cascade running is
 * agent_core's connect plan: tests/unit/test_agent.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "learn.h"
#include "natbed/clock.h"
#include "select.h"

#define S NATBED_NS_PER_S

/* a: cheap, works only between cones; b: reliable and secure, works
 * everywhere but symmetric-random; r: a relay, works always, costly */
static double prior_a(enum ni_class s, enum ni_class p)
{
	return s <= NI_CLASS_PORT_RESTRICTED && p <= NI_CLASS_PORT_RESTRICTED ? 0.9 : 0.0;
}

static double prior_b(enum ni_class s, enum ni_class p)
{
	return s == NI_CLASS_SYM_RANDOM || p == NI_CLASS_SYM_RANDOM ? 0.1 : 0.6;
}

static double prior_r(enum ni_class s, enum ni_class p)
{
	return 0.99;
}

static const struct method ma = {
    {"a", 0.0, 0.5, 0.5, 2 * S, prior_a, false, NULL}, NULL, NULL, NULL};
static const struct method mb = {
    {"b", 1.0, 0.9, 0.9, 5 * S, prior_b, false, NULL}, NULL, NULL, NULL};
static const struct method mr = {
    {"r", 2.0, 0.8, 0.95, 8 * S, prior_r, true, NULL}, NULL, NULL, NULL};
static const struct method *const all[] = {&ma, &mb, &mr};

static const struct sel_pair cones = {.self = NI_CLASS_FULL_CONE, .peer = NI_CLASS_PORT_RESTRICTED};
static const struct sel_pair hard = {.self = NI_CLASS_PORT_RESTRICTED, .peer = NI_CLASS_SYM_RANDOM};

static size_t order(const struct sel_pair *p, const struct learn *l, enum sel_priority pri,
		    const struct sel_limits *lim, const struct method **out)
{
	return sel_order(p, l, pri, lim, all, 3, out, 3);
}

/* The seed's weights, to the digit. */
static void test_scores(void **state)
{
	assert_true(fabs(sel_score(&ma, &cones, NULL, SEL_SUCCESS_RATE) - 0.9) < 1e-9);
	assert_true(fabs(sel_score(&mr, &cones, NULL, SEL_COST) - 0.0) < 1e-9);
	assert_true(fabs(sel_score(&ma, &cones, NULL, SEL_COST) - 1.0) < 1e-9);
	assert_true(fabs(sel_score(&mb, &cones, NULL, SEL_SECURITY) - 0.9) < 1e-9);
	/* 0.4 * 0.6 + 0.3 * 0.9 + 0.2 * 0.9 + 0.1 * 0.5 */
	assert_true(fabs(sel_score(&mb, &cones, NULL, SEL_BALANCED) - 0.74) < 1e-9);
}

static void test_order_and_limits(void **state)
{
	const struct method *out[3];
	struct sel_limits lim = {0};

	assert_int_equal(order(&cones, NULL, SEL_SUCCESS_RATE, &lim, out), 3);
	assert_ptr_equal(out[0], &mr); /* 0.99 */
	assert_ptr_equal(out[1], &ma); /* 0.9 */
	assert_ptr_equal(out[2], &mb);
	assert_int_equal(order(&cones, NULL, SEL_COST, &lim, out), 3);
	assert_ptr_equal(out[0], &ma);
	/* --no-relay, and a budget that leaves out the slow ones */
	lim.no_relay = true;
	assert_int_equal(order(&hard, NULL, SEL_SUCCESS_RATE, &lim, out), 2);
	assert_ptr_equal(out[0], &mb);
	lim.budget_ns = 3 * S;
	assert_int_equal(order(&hard, NULL, SEL_SUCCESS_RATE, &lim, out), 1);
	assert_ptr_equal(out[0], &ma);
}

/* Measured outcomes move the rate off the prior: four failures of a's
 * halve its 0.9; a's prior of 0 for a hard pair rises with successes. */
static void test_learning(void **state)
{
	struct learn *l = learn_new();
	char key[SEL_PAIR_KEY_MAX], err[256], path[] = "/tmp/natbed-learn-XXXXXX";
	const struct method *out[3];
	struct sel_limits lim = {.no_relay = true};
	struct learn_counts c;
	int fd, i;

	sel_pair_key(&cones, key);
	assert_string_equal(key, "full-cone|port-restricted");
	for (i = 0; i < 4; i++)
		assert_int_equal(learn_record(l, key, "a", false, 0), 0);
	assert_true(fabs(sel_rate(&ma, &cones, l) - 0.45) < 1e-9);
	assert_int_equal(order(&cones, l, SEL_SUCCESS_RATE, &lim, out), 2);
	assert_ptr_equal(out[0], &mb); /* 0.6 beats 0.45 now */
	sel_pair_key(&hard, key);
	for (i = 0; i < 4; i++)
		learn_record(l, key, "a", true, 100.0);
	assert_true(fabs(sel_rate(&ma, &hard, l) - 0.5) < 1e-9);
	/* the file: saved, loaded, the same counts */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(learn_save(l, path, err, sizeof(err)), 0);
	learn_free(l);
	l = learn_load(path, err, sizeof(err));
	assert_non_null(l);
	learn_get(l, key, "a", &c);
	assert_int_equal(c.attempts, 4);
	assert_int_equal(c.successes, 4);
	assert_true(fabs(c.setup_ms_sum - 400.0) < 1e-9);
	learn_free(l);
	/* refusals name the file */
	FILE *f = fopen(path, "w");
	fputs("{\"version\":1,\"pairs\":{\"x|y\":{\"a\":{\"attempts\":1,\"successes\":2,"
	      "\"setup_ms_sum\":0}}}}",
	      f);
	fclose(f);
	assert_null(learn_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	f = fopen(path, "w");
	fputs("not json", f);
	fclose(f);
	assert_null(learn_load(path, err, sizeof(err)));
	unlink(path);
	/* a file that is not there yet: nothing learned */
	l = learn_load(path, err, sizeof(err));
	assert_non_null(l);
	learn_free(l);
}

/* The cascade's plan: tried ones by score, then skipped ones with why;
 * measured successes bring a hopeless method back. */
static void test_cascade_plan(void **state)
{
	struct sel_choice c[3];
	struct sel_limits lim = {0};
	struct learn *l = learn_new();
	char key[SEL_PAIR_KEY_MAX];

	/* hard: a has no chance (0), b 0.1, r 0.99; r scores best but
	 * relays, so it comes after b (the last resort) */
	assert_int_equal(sel_cascade(&hard, NULL, SEL_BALANCED, &lim, all, 3, c, 3), 3);
	assert_ptr_equal(c[0].m, &mb);
	assert_ptr_equal(c[1].m, &mr);
	assert_ptr_equal(c[2].m, &ma);
	assert_int_equal(c[0].skip, SEL_SKIP_NONE);
	assert_int_equal(c[1].skip, SEL_SKIP_NONE);
	assert_int_equal(c[2].skip, SEL_SKIP_HOPELESS);
	assert_true(fabs(c[0].rate - 0.1) < 1e-9 && fabs(c[0].prior - 0.1) < 1e-9);
	assert_true(c[1].score > c[0].score);
	assert_true(fabs(c[1].score - (0.4 * 0.99 + 0.3 * 0.95 + 0.2 * 0.8)) < 1e-9);
	/* by success rate too */
	sel_cascade(&hard, NULL, SEL_SUCCESS_RATE, &lim, all, 3, c, 3);
	assert_ptr_equal(c[0].m, &mb);
	assert_ptr_equal(c[1].m, &mr);
	assert_string_equal(sel_skip_reason(c[2].skip), "skipped: no chance for this pair");
	/* no relay: r skipped, listed before a (its score is higher) */
	lim.no_relay = true;
	sel_cascade(&hard, NULL, SEL_BALANCED, &lim, all, 3, c, 3);
	assert_ptr_equal(c[0].m, &mb);
	assert_ptr_equal(c[1].m, &mr);
	assert_int_equal(c[1].skip, SEL_SKIP_RELAY);
	assert_ptr_equal(c[2].m, &ma);
	/* a budget of 4 s leaves b (5 s) out */
	lim.budget_ns = 4 * S;
	sel_cascade(&cones, NULL, SEL_SUCCESS_RATE, &lim, all, 3, c, 3);
	assert_ptr_equal(c[0].m, &ma);
	assert_int_equal(c[0].skip, SEL_SKIP_NONE);
	assert_int_equal(c[1].skip, SEL_SKIP_RELAY);
	assert_ptr_equal(c[2].m, &mb);
	assert_string_equal(sel_skip_reason(c[2].skip), "skipped: needs more than the budget");
	/* four successes of a for hard: 4 / 8, tried now */
	lim = (struct sel_limits){.no_relay = true};
	sel_pair_key(&hard, key);
	for (int i = 0; i < 4; i++)
		learn_record(l, key, "a", true, 50.0);
	sel_cascade(&hard, l, SEL_SUCCESS_RATE, &lim, all, 3, c, 3);
	assert_ptr_equal(c[0].m, &ma);
	assert_int_equal(c[0].skip, SEL_SKIP_NONE);
	assert_true(fabs(c[0].rate - 0.5) < 1e-9 && c[0].prior == 0);
	/* out is bounded by max: the first of the cascade's order */
	assert_int_equal(sel_cascade(&hard, l, SEL_SUCCESS_RATE, &lim, all, 3, c, 1), 1);
	assert_ptr_equal(c[0].m, &ma);
	assert_int_equal(sel_cascade(&hard, NULL, SEL_BALANCED, &lim, all, 3, c, 2), 2);
	assert_ptr_equal(c[0].m, &mb);
	assert_ptr_equal(c[1].m, &mr);
	learn_free(l);
}

/* Two peers of one site meet as if no NAT stood between them. */
static void test_same_site(void **state)
{
	struct trav_cand x = {0}, y = {0};
	struct sel_pair p;
	char key[SEL_PAIR_KEY_MAX];

	x.nat.map = y.nat.map = NI_MAP_APDM;
	x.nat.filter = y.nat.filter = NI_FILTER_APDF;
	x.nat.ports = y.nat.ports = NI_PORTS_RANDOM;
	x.srflx.addr = y.srflx.addr = 0x0a0b0c0d;
	sel_pair_of(&x, &y, &p);
	assert_true(p.same_site);
	assert_string_equal(sel_pair_key(&p, key), "same-site");
	assert_true(fabs(sel_prior(&ma, &p) - 0.9) < 1e-9); /* open|open */
	y.srflx.addr = 0x0a0b0c0e;
	sel_pair_of(&x, &y, &p);
	assert_false(p.same_site);
	assert_string_equal(sel_pair_key(&p, key), "symmetric-random|symmetric-random");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scores),	 cmocka_unit_test(test_order_and_limits),
	    cmocka_unit_test(test_learning),	 cmocka_unit_test(test_same_site),
	    cmocka_unit_test(test_cascade_plan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
