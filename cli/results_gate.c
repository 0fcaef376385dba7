/* natbed results: auth times and gate failures per trust level and per
 * method (results_gate.h). */
#include "results_gate.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/topo.h"
#include "stats.h"

/* docs/gate.md, Agents: how a connect's exchange with the gate ended */
static const char *const rg_outcomes[] = {RESULTS_GATE_GRANTED, "denied", "refused", "timeout"};

#define RG_N(a)	     (sizeof(a) / sizeof((a)[0]))
#define RG_UNDECIDED TOPO_TRUST_COUNT /* the group of attempts with no level */

static bool rg_outcome_ok(const char *s)
{
	size_t i;

	for (i = 0; i < RG_N(rg_outcomes); i++)
		if (strcmp(s, rg_outcomes[i]) == 0)
			return true;
	return false;
}

const char *res_gate_check(const char *gate, const char *trust, double auth_ms)
{
	enum topo_trust t;

	if (gate && !rg_outcome_ok(gate))
		return "gate: not granted, denied, refused or timeout";
	if (trust && topo_parse_trust(trust, &t) < 0)
		return "trust: not untrusted, low, medium, high or verified";
	/* docs/gate.md, Agents: a level only where a gate decided */
	if (trust && !gate)
		return "trust: without gate";
	if (auth_ms < 0 || isinf(auth_ms))
		return "auth_ms: below 0 or infinite";
	return NULL;
}

/* One summary being built. */
struct rg_acc {
	const char *name;
	unsigned attempts, failed;
	double *v; /* auth_ms seen */
	size_t n, cap;
};

static int rg_add(struct rg_acc *acc, const struct res_attempt *a)
{
	acc->attempts++;
	acc->failed += strcmp(a->gate, RESULTS_GATE_GRANTED) != 0;
	if (!isfinite(a->auth_ms))
		return 0;
	if (acc->n == acc->cap) {
		size_t cap = acc->cap ? 2 * acc->cap : 16;
		double *v = realloc(acc->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		acc->v = v;
		acc->cap = cap;
	}
	acc->v[acc->n++] = a->auth_ms;
	return 0;
}

/* acc as a summary, which takes its times. */
static void rg_finish(struct rg_acc *acc, struct res_gatesum *s)
{
	stats_sort(acc->v, acc->n);
	*s = (struct res_gatesum){
	    .name = acc->name,
	    .attempts = acc->attempts,
	    .failed = acc->failed,
	    .failed_rate = acc->attempts ? (double)acc->failed / acc->attempts : NAN,
	    .ci95 = stats_wilson(acc->failed, acc->attempts, STATS_Z95),
	    .mean = stats_mean(acc->v, acc->n),
	    .p50 = stats_percentile(acc->v, acc->n, 50),
	    .p95 = stats_percentile(acc->v, acc->n, 95),
	    .auth_ms = acc->v,
	    .n_auth = acc->n,
	};
	acc->v = NULL;
}

/* The group of a's level: its topo_trust, or RG_UNDECIDED. */
static size_t rg_level(const struct res_attempt *a)
{
	enum topo_trust t;

	return a->trust && topo_parse_trust(a->trust, &t) == 0 ? (size_t)t : RG_UNDECIDED;
}

/* The accumulator of method m among ms[0..*n), added when new. */
static struct rg_acc *rg_method(struct rg_acc *ms, size_t *n, const char *m)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(ms[i].name, m) == 0)
			return &ms[i];
	ms[*n] = (struct rg_acc){.name = m};
	return &ms[(*n)++];
}

static int rg_acc_name_cmp(const void *x, const void *y)
{
	return strcmp(((const struct rg_acc *)x)->name, ((const struct rg_acc *)y)->name);
}

/* The used ones of accs[0..n) as summaries into a new array (*out). */
static int rg_finish_all(struct rg_acc *accs, size_t n, struct res_gatesum **out, size_t *n_out)
{
	size_t i, k = 0;

	*out = NULL;
	*n_out = 0;
	for (i = 0; i < n; i++)
		k += accs[i].attempts > 0;
	if (k && !(*out = calloc(k, sizeof(**out))))
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (accs[i].attempts)
			rg_finish(&accs[i], &(*out)[(*n_out)++]);
	return 0;
}

static void rg_sum_clear(struct res_gatesum *s)
{
	free((void *)s->auth_ms);
	memset(s, 0, sizeof(*s));
}

void res_gate_clear(struct res_gate *g)
{
	size_t i;

	rg_sum_clear(&g->all);
	for (i = 0; i < g->n_levels; i++)
		rg_sum_clear(&g->levels[i]);
	for (i = 0; i < g->n_methods; i++)
		rg_sum_clear(&g->methods[i]);
	free(g->levels);
	free(g->methods);
	memset(g, 0, sizeof(*g));
}

int res_gate_build(const struct res_attempt *const *att, size_t n, struct res_gate *out)
{
	struct rg_acc all = {0}, levels[RG_UNDECIDED + 1] = {{0}}, *ms = calloc(n + 1, sizeof(*ms));
	size_t i, n_ms = 0;
	int err = ms ? 0 : -ENOMEM;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < TOPO_TRUST_COUNT; i++)
		levels[i].name = topo_trust_name((enum topo_trust)i);
	for (i = 0; !err && i < n; i++) {
		if (!att[i]->gate)
			continue;
		err = rg_add(&all, att[i]);
		err = err ? err : rg_add(&levels[rg_level(att[i])], att[i]);
		err = err ? err : rg_add(rg_method(ms, &n_ms, att[i]->method), att[i]);
	}
	if (n_ms > 1)
		qsort(ms, n_ms, sizeof(*ms), rg_acc_name_cmp);
	rg_finish(&all, &out->all);
	err = err ? err : rg_finish_all(levels, RG_N(levels), &out->levels, &out->n_levels);
	err = err ? err : rg_finish_all(ms, n_ms, &out->methods, &out->n_methods);
	for (i = 0; i < RG_N(levels); i++)
		free(levels[i].v);
	for (i = 0; ms && i < n_ms; i++)
		free(ms[i].v);
	free(ms);
	if (err)
		res_gate_clear(out);
	return err;
}
