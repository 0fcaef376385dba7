/* natbed stats: Wilson intervals, nearest-rank percentiles, means. */
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct stats_ci stats_wilson(unsigned k, unsigned n, double z)
{
	struct stats_ci ci = {0.0, 1.0};
	double p, z2n, centre, half;

	if (n == 0)
		return ci;
	if (k > n)
		k = n;
	/* Wilson (1927): centre (p + z²/2n) / (1 + z²/n), half-width
	 * z / (1 + z²/n) * sqrt(p(1-p)/n + z²/4n²) */
	p = (double)k / n;
	z2n = z * z / n;
	centre = (p + z2n / 2) / (1 + z2n);
	half = z / (1 + z2n) * sqrt(p * (1 - p) / n + z2n / (4.0 * n));
	ci.lo = k == 0 ? 0.0 : fmax(0.0, centre - half);
	ci.hi = k == n ? 1.0 : fmin(1.0, centre + half);
	return ci;
}

double stats_wilson_half(unsigned k, unsigned n, double z)
{
	struct stats_ci ci = stats_wilson(k, n, z);

	return (ci.hi - ci.lo) / 2;
}

bool stats_ci_within(const unsigned *k, const unsigned *n, size_t count, double margin)
{
	size_t i;

	if (count == 0)
		return false;
	for (i = 0; i < count; i++)
		if (!(stats_wilson_half(k[i], n[i], STATS_Z95) < margin))
			return false;
	return true;
}

static int stats_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Below this many values qsort; above, a radix sort (a million attempts'
 * setup times are sorted several times over: qsort's comparisons through a
 * function pointer were a third of writing their results). */
#define STATS_RADIX_MIN	   1024
#define STATS_RADIX_BITS   11
#define STATS_RADIX_PASSES 6 /* 6 * 11 >= 64 */
#define STATS_RADIX_DIGITS (1u << STATS_RADIX_BITS)

/* x's bits as an unsigned key in x's order: the sign bit flipped for a
 * positive x, every bit flipped for a negative one (IEEE 754's sign and
 * magnitude to a plain order), -0 keyed as 0 (stats_cmp has them equal). */
static uint64_t stats_key(double x)
{
	uint64_t u;

	if (x == 0)
		x = 0; /* -0 */
	memcpy(&u, &x, sizeof(u));
	return u >> 63 ? ~u : u | (uint64_t)1 << 63;
}

/* LSD radix sort, STATS_RADIX_BITS a pass, each pass stable: the same
 * order as glibc's qsort (a merge sort, stable) by stats_cmp, -0 and 0
 * kept in the order they came. -ENOMEM, or 0. */
static int stats_radix_sort(double *v, size_t n)
{
	size_t(*count)[STATS_RADIX_DIGITS] = calloc(STATS_RADIX_PASSES, sizeof(*count));
	double *tmp = malloc(n * sizeof(*tmp)), *from = v, *to = tmp, *swap;
	size_t i, pass, sum, c;

	if (!count || !tmp) {
		free(count);
		free(tmp);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		uint64_t k = stats_key(v[i]);

		for (pass = 0; pass < STATS_RADIX_PASSES; pass++)
			count[pass][(k >> (pass * STATS_RADIX_BITS)) & (STATS_RADIX_DIGITS - 1)]++;
	}
	for (pass = 0; pass < STATS_RADIX_PASSES; pass++) {
		unsigned shift = (unsigned)(pass * STATS_RADIX_BITS);

		if (count[pass][(stats_key(v[0]) >> shift) & (STATS_RADIX_DIGITS - 1)] == n)
			continue; /* one digit for all: nothing to move */
		for (sum = 0, c = 0; c < STATS_RADIX_DIGITS; c++) {
			size_t here = count[pass][c];

			count[pass][c] = sum;
			sum += here;
		}
		for (i = 0; i < n; i++)
			to[count[pass][(stats_key(from[i]) >> shift) &
				       (STATS_RADIX_DIGITS - 1)]++] = from[i];
		swap = from;
		from = to;
		to = swap;
	}
	if (from != v)
		memcpy(v, from, n * sizeof(*v));
	free(count);
	free(tmp);
	return 0;
}

void stats_sort(double *v, size_t n)
{
	if (n >= STATS_RADIX_MIN && stats_radix_sort(v, n) == 0)
		return;
	if (n > 1)
		qsort(v, n, sizeof(*v), stats_cmp);
}

double stats_percentile(const double *sorted, size_t n, double p)
{
	double rank;

	if (n == 0)
		return NAN;
	/* nearest rank: the smallest value with at least p% of the values
	 * at or below it */
	rank = ceil(p * (double)n / 100.0); /* p * n first: exact for whole p */
	if (rank < 1)
		rank = 1;
	if (rank > (double)n)
		rank = (double)n;
	return sorted[(size_t)rank - 1];
}

double stats_mean(const double *v, size_t n)
{
	double sum = 0;
	size_t i;

	if (n == 0)
		return NAN;
	for (i = 0; i < n; i++)
		sum += v[i];
	return sum / (double)n;
}
