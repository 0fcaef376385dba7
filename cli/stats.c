/* natbed stats: Wilson intervals, nearest-rank percentiles, means. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

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

void stats_sort(double *v, size_t n)
{
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
