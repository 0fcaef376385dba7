/* natbed stats: the numbers a run's results are summarised with.
 *
 * Success rates carry the Wilson score interval (Wilson 1927), which stays
 * inside [0, 1] and keeps a sensible width at 0 and n successes, where the
 * normal ("Wald") interval collapses to a point. Percentiles use the
 * nearest-rank definition: the p-th percentile of n sorted values is the
 * value at 1-based rank ceil(p / 100 * n) (rank 1 for p = 0), so it is
 * always one of the measured values. Pure functions: no I/O, no state. */
#ifndef NATBED_CLI_STATS_H
#define NATBED_CLI_STATS_H

#include <stdbool.h>
#include <stddef.h>

/* The two-sided 95% normal quantile. */
#define STATS_Z95 1.959964

struct stats_ci {
	double lo, hi; /* 0 <= lo <= hi <= 1 */
};

/* The Wilson score interval for k successes in n trials at quantile z
 * (STATS_Z95 for 95%). lo is exactly 0 when k = 0 and hi exactly 1 when
 * k = n; n = 0 (nothing known) gives [0, 1]. k > n is clamped to n. */
struct stats_ci stats_wilson(unsigned k, unsigned n, double z);

/* Half the width of the Wilson interval of k in n at z: the "margin" the
 * seed's adaptive sample size compares against. 0.5 when n = 0. */
double stats_wilson_half(unsigned k, unsigned n, double z);

/* The seed's adaptive sample size check (`--until-ci MARGIN`): true when
 * every one of the count rates k[i] successes in n[i] trials has a 95%
 * Wilson half-width strictly under margin. A rate with n[i] = 0 is never
 * under any margin below 0.5; count = 0 gives false (nothing measured). */
bool stats_ci_within(const unsigned *k, const unsigned *n, size_t count, double margin);

/* Sorts v[0..n) ascending in place (NaNs are not allowed). */
void stats_sort(double *v, size_t n);

/* The nearest-rank p-th percentile (0 <= p <= 100) of sorted[0..n), which
 * must be ascending (stats_sort). NAN when n = 0. */
double stats_percentile(const double *sorted, size_t n, double p);

/* The arithmetic mean of v[0..n), NAN when n = 0. */
double stats_mean(const double *v, size_t n);

#endif
