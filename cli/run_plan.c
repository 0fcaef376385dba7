/* natbed run's plan: the scenario's pairs and arrivals as a list of jobs. */
#include "run_plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/rng.h"

void run_behaviour(const struct topo *t, int h, char *buf, size_t len)
{
	int k = t->hosts[h].nat;
	size_t used = 0;

	if (k < 0) {
		snprintf(buf, len, "public");
		return;
	}
	buf[0] = '\0';
	for (; k >= 0 && used < len; k = t->nats[k].upstream) {
		const struct topo_nat *n = &t->nats[k];
		int w = snprintf(buf + used, len - used, "%s%s%s", used ? "+" : "",
				 n->preset[0] ? n->preset : n->name, n->b.pcp ? " (pcp)" : "");

		used += w > 0 ? (size_t)w : 0;
	}
}

size_t run_busy_key(const struct topo *t, int h)
{
	return t->hosts[h].nat >= 0 ? (size_t)t->hosts[h].nat : t->n_nats + (size_t)h;
}

size_t run_busy_keys(const struct topo *t)
{
	return t->n_nats + t->n_hosts;
}

static const char *or_null(const char *s)
{
	return s && s[0] ? s : NULL;
}

static void job_fill(const struct topo *t, struct run_job *j, int a, int b)
{
	j->a = a;
	j->b = b;
	if (t->hosts[a].nat >= 0 && t->hosts[a].nat == t->hosts[b].nat) {
		snprintf(j->nat_a, sizeof(j->nat_a), "lan");
		snprintf(j->nat_b, sizeof(j->nat_b), "lan");
		return;
	}
	run_behaviour(t, a, j->nat_a, sizeof(j->nat_a));
	run_behaviour(t, b, j->nat_b, sizeof(j->nat_b));
}

/* The site of an arrival: the one whose cumulative weight passes u. */
static int pick_site(const struct topo_scenario *sc, double u)
{
	double acc = 0;
	size_t i;

	for (i = 0; i < sc->n_sites; i++) {
		acc += sc->sites[i].weight;
		if (u < acc)
			return sc->sites[i].index;
	}
	return sc->sites[sc->n_sites - 1].index; /* rounding at the top */
}

/* Arrival n's time, after the previous one's at *at: its site (an index
 * in topo.hosts), or -1 when arrivals are over (`clients` arrived or
 * `duration` passed, whichever the scenario gives first). Poisson:
 * exponential gaps at rate_per_s, each at a site drawn by weight. Gaps and
 * sites come from two keyed streams, so changing the sites leaves the
 * arrival times as they were. */
static int arrival_next(const struct topo_scenario *sc, uint64_t seed, size_t n, double *at)
{
	uint64_t kgap = rng_key("arrival-gap", 0), ksite = rng_key("arrival-site", 0);
	double dur = sc->duration_ns ? (double)sc->duration_ns / 1e9 : INFINITY;
	uint32_t max = sc->clients ? sc->clients : UINT32_MAX;

	if (sc->to_index < 0 || sc->rate_per_s <= 0 || sc->n_sites == 0 || n >= max)
		return -1;
	*at += -log1p(-rng_keyed_unit(seed, kgap, n)) / sc->rate_per_s;
	if (*at > dur)
		return -1;
	return pick_site(sc, rng_keyed_unit(seed, ksite, n));
}

/* When arrival at is planned: to the microsecond. */
static double arrival_time(double at)
{
	return round(at * 1e6) / 1e6;
}

/* The arrivals into out (NULL: only counted); their number. */
static size_t arrivals_count(const struct topo_scenario *sc, uint64_t seed, struct run_job *out,
			     const struct topo *t, unsigned first_id)
{
	double at = 0;
	size_t n;
	int site;

	for (n = 0; (site = arrival_next(sc, seed, n, &at)) >= 0; n++) {
		if (out) {
			struct run_job *j = &out[n];

			memset(j, 0, sizeof(*j));
			j->id = first_id + (unsigned)n;
			j->t_s = arrival_time(at);
			j->arrival = true;
			job_fill(t, j, site, sc->to_index);
			j->method = or_null(sc->method);
			j->priority = or_null(sc->priority);
		}
	}
	return n;
}

int run_plan_site_peaks(const struct topo *t, uint64_t seed, double window_s, uint32_t *peak)
{
	const struct topo_scenario *sc = t->scenario;
	uint32_t *now_in;
	double *times, at = 0;
	int *sites;
	size_t n, lo = 0, hi;

	memset(peak, 0, t->n_hosts * sizeof(*peak));
	n = sc ? arrivals_count(sc, seed, NULL, t, 0) : 0;
	times = malloc((n + 1) * sizeof(*times));
	sites = malloc((n + 1) * sizeof(*sites));
	now_in = calloc(t->n_hosts + 1, sizeof(*now_in));
	if (!times || !sites || !now_in) {
		free(times);
		free(sites);
		free(now_in);
		return -1;
	}
	for (hi = 0; hi < n; hi++) {
		sites[hi] = arrival_next(sc, seed, hi, &at);
		times[hi] = arrival_time(at);
	}
	/* arrivals hi and lo share a window while lo came less than
	 * window_s before hi */
	for (hi = 0; hi < n; hi++) {
		while (times[hi] - times[lo] >= window_s)
			now_in[sites[lo++]]--;
		if (++now_in[sites[hi]] > peak[sites[hi]])
			peak[sites[hi]] = now_in[sites[hi]];
	}
	free(times);
	free(sites);
	free(now_in);
	return 0;
}

int run_plan_build(const struct topo *t, uint64_t seed, struct run_plan *p, char *err,
		   size_t errlen)
{
	const struct topo_scenario *sc = t->scenario;
	size_t i, n_arr;

	memset(p, 0, sizeof(*p));
	if (!sc) {
		snprintf(err, errlen,
			 "%s: no scenario section: natbed run needs pairs to connect or clients "
			 "arriving (docs/topology.md, Scenarios)",
			 t->path[0] ? t->path : t->name);
		return -1;
	}
	n_arr = arrivals_count(sc, seed, NULL, t, 0);
	p->jobs = calloc(sc->n_pairs + n_arr + 1, sizeof(*p->jobs));
	if (!p->jobs) {
		snprintf(err, errlen, "out of memory for %zu connects", sc->n_pairs + n_arr);
		return -1;
	}
	for (i = 0; i < sc->n_pairs; i++) {
		const struct topo_pair *pr = &sc->pairs[i];
		struct run_job *j = &p->jobs[i];

		j->id = (unsigned)i;
		job_fill(t, j, pr->a, pr->b);
		j->method = or_null(pr->method) ? pr->method : or_null(sc->method);
		j->priority = or_null(pr->priority) ? pr->priority : or_null(sc->priority);
	}
	arrivals_count(sc, seed, p->jobs + sc->n_pairs, t, (unsigned)sc->n_pairs);
	p->n_jobs = sc->n_pairs + n_arr;
	p->arrivals = n_arr > 0;
	p->last_s = n_arr ? p->jobs[p->n_jobs - 1].t_s : 0;
	return 0;
}

void run_plan_free(struct run_plan *p)
{
	free(p->jobs);
	memset(p, 0, sizeof(*p));
}
