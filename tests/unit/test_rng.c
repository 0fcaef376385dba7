/* Unit tests for lib/rng.c: determinism, independence of seeds and keys,
 * rough uniformity, rng_below bounds. All seeds are fixed, so a failure is
 * reproducible, never a fluke of the run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>

#include "natbed/rng.h"

#define BUCKETS 16
/* chi-square, 15 degrees of freedom, p = 0.001. */
#define CHI2_15_P001 37.70

static double chi2(const unsigned *count, size_t draws)
{
	double expect = (double)draws / BUCKETS, x = 0;

	for (int i = 0; i < BUCKETS; i++)
		x += (count[i] - expect) * (count[i] - expect) / expect;
	return x;
}

static void test_keyed_deterministic(void **state)
{
	(void)state;
	for (uint64_t n = 0; n < 1000; n++) {
		assert_int_equal(rng_keyed_u64(42, 7, n), rng_keyed_u64(42, 7, n));
		assert_true(rng_keyed_unit(42, 7, n) == rng_keyed_unit(42, 7, n));
	}
	assert_int_equal(rng_key("alice", 1), rng_key("alice", 1));
}

/* Changing any one input changes the output; over many inputs, flipping
 * one bit of the counter flips about half the output bits. */
static void test_keyed_independent(void **state)
{
	unsigned long flips = 0;
	unsigned same_seed = 0, same_key = 0, same_n = 0;

	(void)state;
	for (uint64_t n = 0; n < 10000; n++) {
		uint64_t x = rng_keyed_u64(42, 7, n);

		same_seed += x == rng_keyed_u64(43, 7, n);
		same_key += x == rng_keyed_u64(42, 8, n);
		same_n += x == rng_keyed_u64(42, 7, n + 1);
		flips += (unsigned long)__builtin_popcountll(x ^ rng_keyed_u64(42, 7, n ^ 1));
	}
	assert_int_equal(same_seed, 0);
	assert_int_equal(same_key, 0);
	assert_int_equal(same_n, 0);
	/* Mean of 10000 Binomial(64, 1/2): 32 +- 0.04; allow +-0.5. */
	assert_true(flips > 315000 && flips < 325000);
	assert_int_not_equal(rng_key("alice", 1), rng_key("alice", 2));
	assert_int_not_equal(rng_key("alice", 1), rng_key("bob", 1));
	assert_int_not_equal(rng_key("", 0), rng_key(NULL, 1));
}

static void test_keyed_uniform(void **state)
{
	unsigned count[BUCKETS] = {0};
	const size_t draws = 160000;
	double sum = 0;

	(void)state;
	for (uint64_t n = 0; n < draws; n++) {
		double u = rng_keyed_unit(1, rng_key("link", 0), n);

		assert_true(u >= 0.0 && u < 1.0);
		count[(int)(u * BUCKETS)]++;
		sum += u;
	}
	assert_true(chi2(count, draws) < CHI2_15_P001);
	/* Mean 0.5, standard error 0.289 / 400 = 0.0007. */
	assert_true(sum / draws > 0.497 && sum / draws < 0.503);
}

static void test_stateful(void **state)
{
	struct rng a, b, c, d;
	unsigned count[BUCKETS] = {0};
	const size_t draws = 160000;
	unsigned same = 0;

	(void)state;
	rng_seed(&a, 42, 1);
	rng_seed(&b, 42, 1);
	rng_seed(&c, 43, 1);
	rng_seed(&d, 42, 2);
	for (size_t i = 0; i < draws; i++) {
		uint64_t x = rng_next(&a);

		assert_int_equal(x, rng_next(&b));
		same += x == rng_next(&c);
		same += x == rng_next(&d);
		count[x >> 60]++;
	}
	assert_int_equal(same, 0);
	assert_true(chi2(count, draws) < CHI2_15_P001);
	for (int i = 0; i < 1000; i++) {
		double u = rng_unit(&a);

		assert_true(u >= 0.0 && u < 1.0);
	}
}

static void test_below(void **state)
{
	static const uint64_t bounds[] = {1, 2, 3, 7, 1000, (1ull << 63) + 1, UINT64_MAX};
	unsigned count[3] = {0};
	struct rng r;

	(void)state;
	rng_seed(&r, 9, 9);
	assert_int_equal(rng_below(&r, 0), 0);
	for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++)
		for (int i = 0; i < 10000; i++)
			assert_true(rng_below(&r, bounds[b]) < bounds[b]);
	for (int i = 0; i < 30000; i++)
		count[rng_below(&r, 3)]++;
	/* 10000 each, standard deviation about 82. */
	for (int i = 0; i < 3; i++)
		assert_true(count[i] > 9600 && count[i] < 10400);
	/* At 1.5 * 2^63, a modulo would put too many draws in the lower half
	 * of the range (5/8); rejection keeps it at 1/2. */
	unsigned low = 0;
	for (int i = 0; i < 10000; i++)
		low += rng_below(&r, (1ull << 63) + (1ull << 62)) < (3ull << 61);
	assert_true(low > 4800 && low < 5200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keyed_deterministic),
	    cmocka_unit_test(test_keyed_independent),
	    cmocka_unit_test(test_keyed_uniform),
	    cmocka_unit_test(test_stateful),
	    cmocka_unit_test(test_below),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
