/* Unit tests for cli/stats.c: the Wilson score interval at 0, n and in
 * between against values computed from its formula independently (and the
 * textbook 0 of 10 -> [0, 27.8%]), the adaptive sample size check,
 * nearest-rank percentiles against the textbook example, and the mean. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "stats.h"

#define EPS 1e-8

static void ci_is(unsigned k, unsigned n, double lo, double hi)
{
	struct stats_ci ci = stats_wilson(k, n, STATS_Z95);

	assert_float_equal(ci.lo, lo, EPS);
	assert_float_equal(ci.hi, hi, EPS);
}

static void test_wilson_at_zero(void **state)
{
	struct stats_ci ci = stats_wilson(0, 10, STATS_Z95);

	/* exactly 0 below; above, z^2 / (n + z^2) */
	assert_true(ci.lo == 0.0);
	assert_float_equal(ci.hi, 0.277532803, EPS);
	ci_is(0, 1, 0.0, 0.793450688);
	ci_is(0, 100, 0.0, 0.036993499);
}

static void test_wilson_at_n(void **state)
{
	struct stats_ci ci = stats_wilson(10, 10, STATS_Z95);

	assert_true(ci.hi == 1.0);
	assert_float_equal(ci.lo, 0.722467197, EPS);
	ci_is(1, 1, 0.206549312, 1.0);
}

static void test_wilson_between(void **state)
{
	unsigned k, n = 37;

	ci_is(5, 10, 0.236593089, 0.763406911);
	ci_is(81, 263, 0.255288519, 0.366209577);
	ci_is(3, 7, 0.158219854, 0.749541637);
	ci_is(1, 20, 0.008881449, 0.236131195);
	/* mirror image: k of n and n-k of n; always inside [0, 1] around k/n */
	for (k = 0; k <= n; k++) {
		struct stats_ci a = stats_wilson(k, n, STATS_Z95);
		struct stats_ci b = stats_wilson(n - k, n, STATS_Z95);

		assert_float_equal(a.lo, 1 - b.hi, 1e-12);
		assert_true(a.lo >= 0 && a.lo <= (double)k / n);
		assert_true(a.hi <= 1 && a.hi >= (double)k / n);
	}
}

static void test_wilson_edges(void **state)
{
	ci_is(0, 0, 0.0, 1.0); /* nothing known */
	ci_is(12, 10, 0.722467197, 1.0);
	assert_float_equal(stats_wilson_half(0, 0, STATS_Z95), 0.5, EPS);
	assert_float_equal(stats_wilson_half(5, 10, STATS_Z95), (0.763406911 - 0.236593089) / 2,
			   EPS);
}

static void test_ci_within(void **state)
{
	unsigned k[] = {0, 400, 200}, n[] = {100, 400, 400};
	unsigned k2[] = {5}, n2[] = {10}, k0[] = {0}, n0[] = {0};

	/* half-widths: 0.0185, 0.0048, 0.0487 */
	assert_true(stats_ci_within(k, n, 3, 0.05));
	assert_false(stats_ci_within(k, n, 3, 0.04));
	assert_true(stats_ci_within(k, n, 2, 0.04));
	assert_false(stats_ci_within(k2, n2, 1, 0.05));
	assert_true(stats_ci_within(k2, n2, 1, 0.3));
	assert_false(stats_ci_within(k0, n0, 1, 0.49)); /* untried */
	assert_false(stats_ci_within(k, n, 0, 0.5));	/* nothing measured */
}

static void test_percentile_nearest_rank(void **state)
{
	/* the textbook nearest-rank example */
	double v[] = {15, 20, 35, 40, 50}, w[20];
	size_t i;

	assert_float_equal(stats_percentile(v, 5, 5), 15, EPS);
	assert_float_equal(stats_percentile(v, 5, 30), 20, EPS);
	assert_float_equal(stats_percentile(v, 5, 40), 20, EPS);
	assert_float_equal(stats_percentile(v, 5, 50), 35, EPS);
	assert_float_equal(stats_percentile(v, 5, 95), 50, EPS);
	assert_float_equal(stats_percentile(v, 5, 100), 50, EPS);
	assert_float_equal(stats_percentile(v, 5, 0), 15, EPS);
	for (i = 0; i < 20; i++)
		w[i] = (double)(i + 1);
	assert_float_equal(stats_percentile(w, 20, 50), 10, EPS); /* rank 10 */
	assert_float_equal(stats_percentile(w, 20, 95), 19, EPS); /* rank 19 */
	assert_float_equal(stats_percentile(w, 20, 96), 20, EPS); /* rank 19.2 -> 20 */
	assert_float_equal(stats_percentile(w, 1, 95), 1, EPS);
	assert_true(isnan(stats_percentile(w, 0, 50)));
}

static void test_sort_and_mean(void **state)
{
	double v[] = {3, -1, 2.5, 10, 0, 2.5};
	size_t i;

	stats_sort(v, 6);
	for (i = 1; i < 6; i++)
		assert_true(v[i - 1] <= v[i]);
	assert_float_equal(v[0], -1, EPS);
	assert_float_equal(v[5], 10, EPS);
	assert_float_equal(stats_mean(v, 6), 17.0 / 6, EPS);
	assert_float_equal(stats_mean((double[]){1, 2, 3, 4}, 4), 2.5, EPS);
	assert_true(isnan(stats_mean(v, 0)));
}

/* A stable insertion sort by < : what stats_sort must give, bit for bit. */
static void sort_stable(double *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		double x = v[i];
		size_t j = i;

		for (; j > 0 && x < v[j - 1]; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* Large arrays (radix sorted): negatives, zeros of both signs, ties,
 * infinities, tiny and huge values; the same bits, in the same order, as a
 * stable sort by value. */
static void test_sort_large(void **state)
{
	enum { N = 5000 };
	static double v[N], want[N];
	uint64_t lcg = 42;
	size_t i;

	(void)state;
	for (int round = 0; round < 4; round++) {
		for (i = 0; i < N; i++) {
			lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
			switch ((lcg >> 60) & 7) {
			case 0:
				v[i] = (lcg >> 33) & 1 ? -0.0 : 0.0;
				break;
			case 1:
				v[i] = (double)((lcg >> 40) % 7); /* ties */
				break;
			case 2:
				v[i] = (lcg >> 33) & 1 ? INFINITY : -INFINITY;
				break;
			case 3:
				v[i] = ldexp((double)(lcg >> 11), -1100 + (int)((lcg >> 3) % 2100));
				break;
			default:
				v[i] =
				    ((double)(lcg >> 11) / 9007199254740992.0 - 0.5) * 1e4 * round;
			}
		}
		memcpy(want, v, sizeof(v));
		sort_stable(want, N);
		stats_sort(v, N);
		assert_memory_equal(v, want, sizeof(v));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wilson_at_zero), cmocka_unit_test(test_wilson_at_n),
	    cmocka_unit_test(test_wilson_between), cmocka_unit_test(test_wilson_edges),
	    cmocka_unit_test(test_ci_within),	   cmocka_unit_test(test_percentile_nearest_rank),
	    cmocka_unit_test(test_sort_and_mean),  cmocka_unit_test(test_sort_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
