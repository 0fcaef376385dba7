/* natbed results: the attempts of a run and the summaries derived from
 * them (results.h). Writing the files is results_write.c's job. */
#include "results.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results_gate.h"
#include "stats.h"
#include "natbed/strcopy.h"

#ifndef NATBED_VERSION
#define NATBED_VERSION "unknown"
#endif

#define R_POOL_MIN 64

struct r_attempt {
	struct res_attempt a; /* strings interned in r->pool, tried owned */
	size_t seq;	      /* the order it was added in */
	bool has_exit;	      /* natbed matrix's: the program's exit statuses */
	int exit_a, exit_b;
};

struct r_count {
	const char *name; /* interned */
	unsigned long count;
};

struct r_option {
	char *key, *value;
};

struct results {
	char *topology, *started, *version;
	uint64_t seed;
	double wall_s;

	/* every string an attempt holds, once: open addressing */
	char **pool;
	size_t pool_cap, pool_n;

	struct r_attempt *att;
	size_t n_att, cap_att;
	struct r_count *exh; /* port exhaustion by NAT, sorted by name */
	size_t n_exh;
	struct r_option *opt; /* sorted by key */
	size_t n_opt;
	const char *mode;    /* "run", "sim", or NULL until set */
	char *check_summary; /* natbed check's verdict, NULL until set */
	bool check_passed;
	unsigned long check_violations;

	/* derived, rebuilt by r_summarise() after any change */
	bool dirty;
	size_t *order; /* attempts in the files' order */
	struct res_summary overall;
	struct res_summary *methods;
	size_t n_methods;
	struct res_natpair *natpairs;
	size_t n_natpairs;
	struct res_cell *cells;
	size_t n_cells;
	struct res_flow *flows;
	size_t n_flows;
	struct res_gate gate;
};

/* ---- strings ---------------------------------------------------------- */

/* RFC 3629 §4: well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static bool r_utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p, need, cp, min;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, cp = c & 0x07, min = 0x10000;
		else
			return false;
		for (p++; need > 0; need--, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (*p & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
	}
	return true;
}

static size_t r_hash(const char *s)
{
	size_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int r_pool_grow(struct results *r)
{
	size_t cap = r->pool_cap ? r->pool_cap * 2 : R_POOL_MIN, i, j;
	char **pool = calloc(cap, sizeof(*pool));

	if (!pool)
		return -ENOMEM;
	for (i = 0; i < r->pool_cap; i++) {
		if (!r->pool[i])
			continue;
		for (j = r_hash(r->pool[i]) & (cap - 1); pool[j]; j = (j + 1) & (cap - 1))
			;
		pool[j] = r->pool[i];
	}
	free(r->pool);
	r->pool = pool;
	r->pool_cap = cap;
	return 0;
}

/* The pool's copy of s (NULL stays NULL). Sets *err to -ENOMEM on failure. */
static const char *r_intern(struct results *r, const char *s, int *err)
{
	size_t i;

	if (!s)
		return NULL;
	if ((r->pool_n + 1) * 2 > r->pool_cap && r_pool_grow(r) < 0) {
		*err = -ENOMEM;
		return NULL;
	}
	for (i = r_hash(s) & (r->pool_cap - 1); r->pool[i]; i = (i + 1) & (r->pool_cap - 1))
		if (strcmp(r->pool[i], s) == 0)
			return r->pool[i];
	if (!(r->pool[i] = strdup(s))) {
		*err = -ENOMEM;
		return NULL;
	}
	r->pool_n++;
	return r->pool[i];
}

/* ---- the run ---------------------------------------------------------- */

static struct results *r_alloc(const char *topology, uint64_t seed, const char *started,
			       const char *version)
{
	struct results *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->topology = strdup(topology ? topology : "");
	r->started = strdup(started ? started : "");
	r->version = strdup(version ? version : "");
	r->seed = seed;
	r->wall_s = NAN;
	r->dirty = true;
	if (!r->topology || !r->started || !r->version) {
		results_free(r);
		return NULL;
	}
	return r;
}

struct results *results_new(const char *topology, uint64_t seed, time_t started)
{
	char iso[32] = "";
	struct tm tm;

	if (gmtime_r(&started, &tm))
		strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return r_alloc(topology, seed, iso, NATBED_VERSION);
}

static void r_summary_clear(struct res_summary *s)
{
	free((void *)s->setup_ms);
	memset(s, 0, sizeof(*s));
}

static void r_derived_free(struct results *r)
{
	size_t i, j;

	free(r->order);
	r->order = NULL;
	r_summary_clear(&r->overall);
	for (i = 0; i < r->n_methods; i++)
		r_summary_clear(&r->methods[i]);
	free(r->methods);
	for (i = 0; i < r->n_natpairs; i++) {
		r_summary_clear(&r->natpairs[i].overall);
		for (j = 0; j < r->natpairs[i].n_methods; j++)
			r_summary_clear((struct res_summary *)&r->natpairs[i].methods[j]);
		free((void *)r->natpairs[i].methods);
	}
	free(r->natpairs);
	free(r->cells);
	free(r->flows);
	res_gate_clear(&r->gate);
	r->methods = NULL;
	r->natpairs = NULL;
	r->cells = NULL;
	r->flows = NULL;
	r->n_methods = r->n_natpairs = r->n_cells = r->n_flows = 0;
	r->dirty = true;
}

void results_free(struct results *r)
{
	size_t i;

	if (!r)
		return;
	r_derived_free(r);
	for (i = 0; i < r->n_att; i++)
		free((void *)r->att[i].a.tried);
	free(r->att);
	for (i = 0; i < r->pool_cap; i++)
		free(r->pool[i]);
	free(r->pool);
	for (i = 0; i < r->n_opt; i++) {
		free(r->opt[i].key);
		free(r->opt[i].value);
	}
	free(r->opt);
	free(r->check_summary);
	free(r->exh);
	free(r->topology);
	free(r->started);
	free(r->version);
	free(r);
}

/* Rounded to 10^-digits; NAN stays NAN. */
static double r_round(double x, int digits)
{
	double f = pow(10, digits);

	return isfinite(x) ? round(x * f) / f : NAN;
}

static bool r_name_ok(const char *s)
{
	return s && *s && r_utf8_ok(s);
}

static bool r_opt_ok(const char *s)
{
	return !s || r_utf8_ok(s);
}

static int r_check(const struct res_attempt *a)
{
	size_t i;

	if (!r_name_ok(a->a) || !r_name_ok(a->b) || !r_name_ok(a->nat_a) || !r_name_ok(a->nat_b))
		return -EINVAL;
	if ((a->method && !r_name_ok(a->method)) || !r_opt_ok(a->path) || !r_opt_ok(a->local) ||
	    !r_opt_ok(a->remote) || !r_opt_ok(a->reason))
		return -EINVAL;
	if (!isfinite(a->t_s) || a->t_s < 0 || a->n_tried > RESULTS_TRIES_MAX ||
	    (a->n_tried && !a->tried))
		return -EINVAL;
	if (res_gate_check(a->gate, a->trust, a->auth_ms))
		return -EINVAL;
	for (i = 0; i < a->n_tried; i++)
		if (!r_name_ok(a->tried[i].method) || !r_opt_ok(a->tried[i].reason))
			return -EINVAL;
	return 0;
}

bool results_try_skipped(const struct res_try *t)
{
	return !t->success && t->reason &&
	       strncmp(t->reason, RESULTS_SKIPPED, strlen(RESULTS_SKIPPED)) == 0;
}

/* How many of a's tries ran (the cascade's skips not counted). */
static size_t r_n_run(const struct res_attempt *a)
{
	size_t i, n = 0;

	for (i = 0; i < a->n_tried; i++)
		n += !results_try_skipped(&a->tried[i]);
	return n;
}

/* a's first try that ran, or NULL. */
static const struct res_try *r_first_run(const struct res_attempt *a)
{
	size_t i;

	for (i = 0; i < a->n_tried; i++)
		if (!results_try_skipped(&a->tried[i]))
			return &a->tried[i];
	return NULL;
}

/* a's last try that ran, or NULL. */
static const struct res_try *r_last_run(const struct res_attempt *a)
{
	size_t i;

	for (i = a->n_tried; i > 0; i--)
		if (!results_try_skipped(&a->tried[i - 1]))
			return &a->tried[i - 1];
	return NULL;
}

/* The stored form of a: strings interned, times rounded, defaults filled. */
static int r_copy(struct results *r, const struct res_attempt *in, struct res_attempt *out,
		  struct res_try *tried)
{
	const struct res_try *lt = r_last_run(in);
	const char *last = lt ? lt->method : RESULTS_NONE;
	const char *last_reason = lt ? lt->reason : NULL;
	int err = 0;
	size_t i;

	for (i = 0; i < in->n_tried; i++) {
		tried[i].method = r_intern(r, in->tried[i].method, &err);
		tried[i].success = in->tried[i].success;
		tried[i].ms = r_round(in->tried[i].ms, 3);
		tried[i].reason =
		    in->tried[i].success ? NULL : r_intern(r, in->tried[i].reason, &err);
	}
	*out = (struct res_attempt){
	    .a = r_intern(r, in->a, &err),
	    .b = r_intern(r, in->b, &err),
	    .nat_a = r_intern(r, in->nat_a, &err),
	    .nat_b = r_intern(r, in->nat_b, &err),
	    .method = r_intern(r, in->method ? in->method : last, &err),
	    .success = in->success,
	    .setup_ms = r_round(in->setup_ms, 3),
	    .rtt_ms = r_round(in->rtt_ms, 3),
	    .loss = r_round(in->loss, 6),
	    .path = r_intern(r, in->path, &err),
	    .local = r_intern(r, in->local, &err),
	    .remote = r_intern(r, in->remote, &err),
	    .reason = in->success ? NULL : r_intern(r, in->reason ? in->reason : last_reason, &err),
	    .tried = tried,
	    .n_tried = in->n_tried,
	    .t_s = r_round(in->t_s, 6),
	    .auth_ms = r_round(in->auth_ms, 3),
	    .gate = r_intern(r, in->gate, &err),
	    .trust = r_intern(r, in->trust, &err),
	};
	return err;
}

/* Adds a, with exit statuses when has_exit. */
static int r_add(struct results *r, const struct res_attempt *a, bool has_exit, int exit_a,
		 int exit_b)
{
	struct res_try *tried = NULL;
	struct r_attempt *slot;
	int rc;

	if (!r || !a || (rc = r_check(a)) < 0)
		return -EINVAL;
	if (r->n_att == r->cap_att) {
		size_t cap = r->cap_att ? r->cap_att * 2 : 64;
		struct r_attempt *n = realloc(r->att, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		r->att = n;
		r->cap_att = cap;
	}
	if (a->n_tried && !(tried = calloc(a->n_tried, sizeof(*tried))))
		return -ENOMEM;
	slot = &r->att[r->n_att];
	if ((rc = r_copy(r, a, &slot->a, tried)) < 0) {
		free(tried);
		return rc;
	}
	slot->seq = r->n_att++;
	slot->has_exit = has_exit;
	slot->exit_a = exit_a;
	slot->exit_b = exit_b;
	r_derived_free(r);
	return 0;
}

int results_add_attempt(struct results *r, const struct res_attempt *a)
{
	return r_add(r, a, false, 0, 0);
}

int results_add_exit_attempt(struct results *r, const struct res_attempt *a, int exit_a, int exit_b)
{
	if (exit_a < 0 || exit_a > 255 || exit_b < 0 || exit_b > 255)
		return -EINVAL;
	return r_add(r, a, true, exit_a, exit_b);
}

int results_add_port_exhaustion(struct results *r, const char *nat, unsigned long count)
{
	struct r_count *n;
	const char *name;
	int err = 0;
	size_t i;

	if (!r || !r_name_ok(nat))
		return -EINVAL;
	for (i = 0; i < r->n_exh && strcmp(r->exh[i].name, nat) < 0; i++)
		;
	if (i < r->n_exh && strcmp(r->exh[i].name, nat) == 0) {
		r->exh[i].count += count;
		return 0;
	}
	if (!(name = r_intern(r, nat, &err)))
		return err ? err : -ENOMEM;
	if (!(n = realloc(r->exh, (r->n_exh + 1) * sizeof(*n))))
		return -ENOMEM;
	r->exh = n;
	memmove(&n[i + 1], &n[i], (r->n_exh - i) * sizeof(*n));
	n[i] = (struct r_count){name, count};
	r->n_exh++;
	return 0;
}

void results_set_wall(struct results *r, double wall_s)
{
	r->wall_s = r_round(wall_s, 3);
}

int results_set_option(struct results *r, const char *key, const char *value)
{
	struct r_option *n;
	char *k, *v;
	size_t i;

	if (!r || !r_name_ok(key) || !value || !r_utf8_ok(value))
		return -EINVAL;
	for (i = 0; i < r->n_opt && strcmp(r->opt[i].key, key) < 0; i++)
		;
	if (!(v = strdup(value)))
		return -ENOMEM;
	if (i < r->n_opt && strcmp(r->opt[i].key, key) == 0) {
		free(r->opt[i].value);
		r->opt[i].value = v;
		return 0;
	}
	k = strdup(key);
	n = k ? realloc(r->opt, (r->n_opt + 1) * sizeof(*n)) : NULL;
	if (!n) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	r->opt = n;
	memmove(&n[i + 1], &n[i], (r->n_opt - i) * sizeof(*n));
	n[i] = (struct r_option){k, v};
	r->n_opt++;
	return 0;
}

int results_set_mode(struct results *r, const char *mode)
{
	static const char *const modes[] = {"run", "sim"};

	for (size_t i = 0; r && mode && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(mode, modes[i]) == 0) {
			r->mode = modes[i];
			return 0;
		}
	return -EINVAL;
}

const char *results_mode(const struct results *r)
{
	return r->mode;
}

int results_set_check(struct results *r, bool passed, unsigned long n_violations,
		      const char *summary)
{
	char *s;

	if (!r || !summary || !r_utf8_ok(summary))
		return -EINVAL;
	if (!(s = strdup(summary)))
		return -ENOMEM;
	free(r->check_summary);
	r->check_summary = s;
	r->check_passed = passed;
	r->check_violations = n_violations;
	return 0;
}

bool results_check(const struct results *r, bool *passed, unsigned long *n_violations,
		   const char **summary)
{
	if (!r->check_summary)
		return false;
	*passed = r->check_passed;
	*n_violations = r->check_violations;
	*summary = r->check_summary;
	return true;
}

/* ---- summaries -------------------------------------------------------- */

/* A summary being built: counts and the setup times seen so far. */
struct r_acc {
	const char *name;
	unsigned attempts, successes, fallbacks;
	double *v;
	size_t n, cap;
	int err;
};

static void r_acc_add(struct r_acc *acc, bool success, double ms)
{
	acc->attempts++;
	if (!success)
		return;
	acc->successes++;
	if (!isfinite(ms))
		return;
	if (acc->n == acc->cap) {
		size_t cap = acc->cap ? acc->cap * 2 : 16;
		double *v = realloc(acc->v, cap * sizeof(*v));

		if (!v) {
			acc->err = -ENOMEM;
			return;
		}
		acc->v = v;
		acc->cap = cap;
	}
	acc->v[acc->n++] = ms;
}

/* Turns acc into a summary (which takes its setup times). */
static void r_acc_finish(struct r_acc *acc, struct res_summary *s)
{
	stats_sort(acc->v, acc->n);
	*s = (struct res_summary){
	    .name = acc->name,
	    .attempts = acc->attempts,
	    .successes = acc->successes,
	    .fallbacks = acc->fallbacks,
	    .rate = acc->attempts ? (double)acc->successes / acc->attempts : NAN,
	    .ci95 = stats_wilson(acc->successes, acc->attempts, STATS_Z95),
	    .mean = stats_mean(acc->v, acc->n),
	    .p50 = stats_percentile(acc->v, acc->n, 50),
	    .p95 = stats_percentile(acc->v, acc->n, 95),
	    .setup_ms = acc->v,
	    .n_setup = acc->n,
	};
	acc->v = NULL;
}

/* Accumulators keyed by an interned name (pointer equality). */
struct r_accs {
	struct r_acc *a;
	size_t n;
	int err;
};

static struct r_acc *r_accs_get(struct r_accs *s, const char *name)
{
	struct r_acc *n;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->a[i].name == name)
			return &s->a[i];
	if (!(n = realloc(s->a, (s->n + 1) * sizeof(*n)))) {
		s->err = -ENOMEM;
		return NULL;
	}
	s->a = n;
	memset(&n[s->n], 0, sizeof(*n));
	n[s->n].name = name;
	return &n[s->n++];
}

static int r_acc_name_cmp(const void *x, const void *y)
{
	return strcmp(((const struct r_acc *)x)->name, ((const struct r_acc *)y)->name);
}

/* The summaries of accs, sorted by name, into a new array. */
static int r_accs_finish(struct r_accs *s, struct res_summary **out, size_t *n_out)
{
	struct res_summary *sum;
	size_t i;
	int err = s->err;

	for (i = 0; i < s->n; i++)
		err = err ? err : s->a[i].err;
	sum = s->n ? calloc(s->n, sizeof(*sum)) : NULL;
	if (s->n && !sum)
		err = -ENOMEM;
	if (s->n > 1)
		qsort(s->a, s->n, sizeof(*s->a), r_acc_name_cmp);
	for (i = 0; i < s->n; i++) {
		if (sum)
			r_acc_finish(&s->a[i], &sum[i]);
		free(s->a[i].v);
	}
	free(s->a);
	*out = sum;
	*n_out = sum ? s->n : 0;
	return err;
}

/* Each method's tries among attempts idx[0..n), and fallbacks per the
 * method an attempt ended on. */
static int r_methods(struct results *r, const size_t *idx, size_t n, struct res_summary **out,
		     size_t *n_out)
{
	struct r_accs s = {0};
	struct r_acc *acc;
	size_t i, j;

	for (i = 0; i < n; i++) {
		const struct res_attempt *a = &r->att[idx[i]].a;

		for (j = 0; j < a->n_tried; j++)
			if (!results_try_skipped(&a->tried[j]) &&
			    (acc = r_accs_get(&s, a->tried[j].method)))
				r_acc_add(acc, a->tried[j].success, a->tried[j].ms);
		if (r_n_run(a) > 1 && (acc = r_accs_get(&s, a->method)))
			acc->fallbacks++;
	}
	return r_accs_finish(&s, out, n_out);
}

/* Whole attempts idx[0..n). */
static int r_overall(struct results *r, const size_t *idx, size_t n, struct res_summary *out)
{
	struct r_acc acc = {0};
	size_t i;

	for (i = 0; i < n; i++) {
		const struct res_attempt *a = &r->att[idx[i]].a;

		r_acc_add(&acc, a->success, a->setup_ms);
		acc.fallbacks += r_n_run(a) > 1;
	}
	r_acc_finish(&acc, out);
	return acc.err;
}

/* The winner among attempts idx[0..n) (see struct res_winner). */
static int r_winner(struct results *r, const size_t *idx, size_t n, struct res_winner *w)
{
	struct r_accs s = {0};
	struct res_summary *sum = NULL;
	size_t i, n_sum = 0, best = 0;
	struct r_acc *acc;
	int err;

	for (i = 0; i < n; i++) {
		const struct res_attempt *a = &r->att[idx[i]].a;

		if (a->success && (acc = r_accs_get(&s, a->method)))
			r_acc_add(acc, true, a->setup_ms);
	}
	err = r_accs_finish(&s, &sum, &n_sum); /* by name: ties go to the first */
	for (i = 1; i < n_sum; i++) {
		double pi = isnan(sum[i].p50) ? INFINITY : sum[i].p50;
		double pb = isnan(sum[best].p50) ? INFINITY : sum[best].p50;

		if (sum[i].successes > sum[best].successes ||
		    (sum[i].successes == sum[best].successes && pi < pb))
			best = i;
	}
	w->method = n_sum ? sum[best].name : RESULTS_NONE;
	w->setup_ms = n_sum ? sum[best].p50 : NAN;
	for (i = 0; i < n_sum; i++)
		r_summary_clear(&sum[i]);
	free(sum);
	return err;
}

/* The attempt at position p of r's files' order. */
static const struct res_attempt *r_at(const struct results *r, size_t p)
{
	return &r->att[r->order[p]].a;
}

static int r_cmp_pos(size_t x, size_t y)
{
	return (x > y) - (x < y);
}

/* strcmp, the same pointer (an interned string: most are) told at once:
 * grouping a million attempts compares their names some twenty million
 * times. */
static int r_strcmp(const char *x, const char *y)
{
	return x == y ? 0 : strcmp(x, y);
}

/* qsort_r comparators: ctx is the run. */
static int r_cmp_order(const void *x, const void *y, void *ctx)
{
	const struct results *r = ctx;
	const struct r_attempt *a = &r->att[*(const size_t *)x];
	const struct r_attempt *b = &r->att[*(const size_t *)y];
	int c;

	if (a->a.t_s != b->a.t_s)
		return a->a.t_s < b->a.t_s ? -1 : 1;
	if ((c = r_strcmp(a->a.a, b->a.a)) || (c = r_strcmp(a->a.b, b->a.b)))
		return c;
	return r_cmp_pos(a->seq, b->seq);
}

static int r_cmp_hosts(const void *x, const void *y, void *ctx)
{
	size_t px = *(const size_t *)x, py = *(const size_t *)y;
	const struct res_attempt *a = r_at(ctx, px), *b = r_at(ctx, py);
	int c;

	if ((c = r_strcmp(a->a, b->a)) || (c = r_strcmp(a->b, b->b)))
		return c;
	return r_cmp_pos(px, py);
}

static int r_cmp_nats(const void *x, const void *y, void *ctx)
{
	size_t px = *(const size_t *)x, py = *(const size_t *)y;
	const struct res_attempt *a = r_at(ctx, px), *b = r_at(ctx, py);
	int c;

	if ((c = r_strcmp(a->nat_a, b->nat_a)) || (c = r_strcmp(a->nat_b, b->nat_b)))
		return c;
	return r_cmp_pos(px, py);
}

/* Every attempt's index into idx, grouped by cmp (which compares positions
 * in the files' order, ties kept in that order). */
static void r_group(struct results *r, size_t *idx, int (*cmp)(const void *, const void *, void *))
{
	size_t i;

	for (i = 0; i < r->n_att; i++)
		idx[i] = i;
	if (r->n_att > 1)
		qsort_r(idx, r->n_att, sizeof(*idx), cmp, r);
	for (i = 0; i < r->n_att; i++)
		idx[i] = r->order[idx[i]];
}

static int r_natpairs(struct results *r, size_t *idx)
{
	size_t i, start, n = 0;
	int err = 0;

	r_group(r, idx, r_cmp_nats);
	r->natpairs = r->n_att ? calloc(r->n_att, sizeof(*r->natpairs)) : NULL;
	if (r->n_att && !r->natpairs)
		return -ENOMEM;
	for (start = 0; start < r->n_att; start = i, n++) {
		const struct res_attempt *a = &r->att[idx[start]].a;
		struct res_natpair *p = &r->natpairs[n];
		struct res_summary *m = NULL;

		for (i = start; i < r->n_att && r->att[idx[i]].a.nat_a == a->nat_a &&
				r->att[idx[i]].a.nat_b == a->nat_b;
		     i++)
			;
		p->nat[0] = a->nat_a;
		p->nat[1] = a->nat_b;
		err = err ? err : r_overall(r, &idx[start], i - start, &p->overall);
		err = err ? err : r_methods(r, &idx[start], i - start, &m, &p->n_methods);
		p->methods = m;
		err = err ? err : r_winner(r, &idx[start], i - start, &p->winner);
	}
	r->n_natpairs = n;
	return err;
}

/* A natbed matrix cell's path over its attempts idx[0..n) (res_cell). */
static const char *r_cell_path(const struct results *r, const size_t *idx, size_t n)
{
	const char *path = RESULTS_NONE;
	size_t k;

	for (k = 0; k < n; k++) {
		const struct res_attempt *a = &r->att[idx[k]].a;

		if (!a->success || !a->path)
			continue;
		if (strcmp(a->path, "direct") == 0)
			return RESULTS_PATH_DIRECT;
		if (strcmp(a->path, "relay") == 0)
			path = RESULTS_PATH_RELAYED;
	}
	return path;
}

static int r_cells(struct results *r, size_t *idx)
{
	size_t i, start, n = 0, k;
	int err = 0;

	r_group(r, idx, r_cmp_hosts);
	r->cells = r->n_att ? calloc(r->n_att, sizeof(*r->cells)) : NULL;
	if (r->n_att && !r->cells)
		return -ENOMEM;
	for (start = 0; start < r->n_att; start = i, n++) {
		const struct res_attempt *a = &r->att[idx[start]].a;
		struct res_cell *c = &r->cells[n];

		for (i = start;
		     i < r->n_att && r->att[idx[i]].a.a == a->a && r->att[idx[i]].a.b == a->b; i++)
			;
		*c = (struct res_cell){.a = a->a,
				       .b = a->b,
				       .nat_a = a->nat_a,
				       .nat_b = a->nat_b,
				       .attempts = (unsigned)(i - start)};
		for (k = start; k < i; k++)
			c->successes += r->att[idx[k]].a.success;
		if (r->att[idx[start]].has_exit) {
			c->path = r_cell_path(r, &idx[start], i - start);
			c->has_exit = true;
			c->exit_a = r->att[idx[start]].exit_a;
			c->exit_b = r->att[idx[start]].exit_b;
		}
		err = err ? err : r_winner(r, &idx[start], i - start, &c->winner);
	}
	r->n_cells = n;
	return err;
}

static int r_cmp_flow(const void *x, const void *y)
{
	const struct res_flow *a = x, *b = y;
	int c = strcmp(a->from, b->from);

	return c ? c : strcmp(a->to, b->to);
}

static int r_flows(struct results *r)
{
	int err = 0;
	const char *none = r_intern(r, RESULTS_NONE, &err);
	size_t i, j;

	if (!none)
		return err ? err : -ENOMEM;
	r->flows = r->n_att ? calloc(r->n_att, sizeof(*r->flows)) : NULL;
	if (r->n_att && !r->flows)
		return -ENOMEM;
	for (i = 0; i < r->n_att; i++) {
		const struct res_attempt *a = &r->att[i].a;
		const char *to = a->success ? a->method : none;
		const struct res_try *first = r_first_run(a);

		if (!first)
			continue;
		for (j = 0; j < r->n_flows; j++)
			if (r->flows[j].from == first->method && r->flows[j].to == to)
				break;
		if (j == r->n_flows)
			r->flows[r->n_flows++] = (struct res_flow){first->method, to, 0};
		r->flows[j].count++;
	}
	if (r->n_flows > 1)
		qsort(r->flows, r->n_flows, sizeof(*r->flows), r_cmp_flow);
	return 0;
}

/* The gate summaries, over the attempts in the files' order. */
static int r_gate(struct results *r)
{
	const struct res_attempt **att = calloc(r->n_att + 1, sizeof(*att));
	size_t i;
	int err;

	if (!att)
		return -ENOMEM;
	for (i = 0; i < r->n_att; i++)
		att[i] = r_at(r, i);
	err = res_gate_build(att, r->n_att, &r->gate);
	free(att);
	return err;
}

/* Rebuilds every summary if anything changed. 0 or -ENOMEM (then the
 * summaries are empty). */
static int r_summarise(struct results *r)
{
	size_t i, *idx = NULL;
	int err = 0;

	if (!r->dirty)
		return 0;
	r_derived_free(r);
	if (r->n_att && (!(r->order = calloc(r->n_att, sizeof(*r->order))) ||
			 !(idx = calloc(r->n_att, sizeof(*idx)))))
		err = -ENOMEM;
	if (!err) {
		for (i = 0; i < r->n_att; i++)
			r->order[i] = i;
		if (r->n_att > 1)
			qsort_r(r->order, r->n_att, sizeof(*r->order), r_cmp_order, r);
		err = r_overall(r, r->order, r->n_att, &r->overall);
	}
	err = err ? err : r_methods(r, r->order, r->n_att, &r->methods, &r->n_methods);
	err = err ? err : r_natpairs(r, idx);
	err = err ? err : r_cells(r, idx);
	err = err ? err : r_flows(r);
	err = err ? err : r_gate(r);
	free(idx);
	if (err) {
		r_derived_free(r);
		return err;
	}
	r->dirty = false;
	return 0;
}

/* ---- reading it ------------------------------------------------------- */

static bool r_ci_ok(const struct res_summary *s, double margin)
{
	return s->attempts == 0 || stats_ci_within(&s->successes, &s->attempts, 1, margin);
}

/* A gate failure share: as r_ci_ok, for failed of attempts. */
static bool r_gate_ci_ok(const struct res_gatesum *s, double margin)
{
	return !s || s->attempts == 0 || stats_ci_within(&s->failed, &s->attempts, 1, margin);
}

bool results_ci_met(struct results *r, double margin)
{
	size_t i, j;

	if (r_summarise(r) < 0 || r->n_att == 0 || !r_ci_ok(&r->overall, margin))
		return false;
	/* the share the gates stopped, all, per trust level, per method */
	if (!r_gate_ci_ok(results_gate(r), margin))
		return false;
	for (i = 0; i < results_n_gate_levels(r); i++)
		if (!r_gate_ci_ok(results_gate_level(r, i), margin))
			return false;
	for (i = 0; i < results_n_gate_methods(r); i++)
		if (!r_gate_ci_ok(results_gate_method(r, i), margin))
			return false;
	for (i = 0; i < r->n_methods; i++)
		if (!r_ci_ok(&r->methods[i], margin))
			return false;
	for (i = 0; i < r->n_natpairs; i++) {
		if (!r_ci_ok(&r->natpairs[i].overall, margin))
			return false;
		for (j = 0; j < r->natpairs[i].n_methods; j++)
			if (!r_ci_ok(&r->natpairs[i].methods[j], margin))
				return false;
	}
	return true;
}

const char *results_topology(const struct results *r)
{
	return r->topology;
}

size_t results_n_attempts(const struct results *r)
{
	return r->n_att;
}

const struct res_attempt *results_attempt(struct results *r, size_t i)
{
	if (r_summarise(r) < 0 || i >= r->n_att)
		return NULL;
	return &r->att[r->order[i]].a;
}

bool results_attempt_exit(struct results *r, size_t i, int *exit_a, int *exit_b)
{
	const struct r_attempt *a;

	if (r_summarise(r) < 0 || i >= r->n_att || !r->att[r->order[i]].has_exit)
		return false;
	a = &r->att[r->order[i]];
	*exit_a = a->exit_a;
	*exit_b = a->exit_b;
	return true;
}

const struct res_summary *results_overall(struct results *r)
{
	return r_summarise(r) < 0 ? NULL : &r->overall;
}

size_t results_n_methods(struct results *r)
{
	return r_summarise(r) < 0 ? 0 : r->n_methods;
}

const struct res_summary *results_method(struct results *r, size_t i)
{
	return r_summarise(r) < 0 || i >= r->n_methods ? NULL : &r->methods[i];
}

size_t results_n_natpairs(struct results *r)
{
	return r_summarise(r) < 0 ? 0 : r->n_natpairs;
}

const struct res_natpair *results_natpair(struct results *r, size_t i)
{
	return r_summarise(r) < 0 || i >= r->n_natpairs ? NULL : &r->natpairs[i];
}

size_t results_n_cells(struct results *r)
{
	return r_summarise(r) < 0 ? 0 : r->n_cells;
}

const struct res_cell *results_cell(struct results *r, size_t i)
{
	return r_summarise(r) < 0 || i >= r->n_cells ? NULL : &r->cells[i];
}

size_t results_n_flows(struct results *r)
{
	return r_summarise(r) < 0 ? 0 : r->n_flows;
}

const struct res_flow *results_flow(struct results *r, size_t i)
{
	return r_summarise(r) < 0 || i >= r->n_flows ? NULL : &r->flows[i];
}

const struct res_gatesum *results_gate(struct results *r)
{
	return r_summarise(r) < 0 ? NULL : &r->gate.all;
}

size_t results_n_gate_levels(struct results *r)
{
	return r_summarise(r) < 0 ? 0 : r->gate.n_levels;
}

const struct res_gatesum *results_gate_level(struct results *r, size_t i)
{
	return r_summarise(r) < 0 || i >= r->gate.n_levels ? NULL : &r->gate.levels[i];
}

size_t results_n_gate_methods(struct results *r)
{
	return r_summarise(r) < 0 ? 0 : r->gate.n_methods;
}

const struct res_gatesum *results_gate_method(struct results *r, size_t i)
{
	return r_summarise(r) < 0 || i >= r->gate.n_methods ? NULL : &r->gate.methods[i];
}

unsigned long results_port_exhaustion(const struct results *r)
{
	unsigned long total = 0;
	size_t i;

	for (i = 0; i < r->n_exh; i++)
		total += r->exh[i].count;
	return total;
}

size_t results_n_exhausted_nats(const struct results *r)
{
	return r->n_exh;
}

const char *results_exhausted_nat(const struct results *r, size_t i, unsigned long *count)
{
	if (i >= r->n_exh)
		return NULL;
	if (count)
		*count = r->exh[i].count;
	return r->exh[i].name;
}

const char *results_started(const struct results *r)
{
	return r->started;
}

double results_wall(const struct results *r)
{
	return r->wall_s;
}

uint64_t results_seed(const struct results *r)
{
	return r->seed;
}

const char *results_natbed_version(const struct results *r)
{
	return r->version;
}

size_t results_n_options(const struct results *r)
{
	return r->n_opt;
}

const char *results_option(const struct results *r, size_t i, const char **value)
{
	if (i >= r->n_opt)
		return NULL;
	if (value)
		*value = r->opt[i].value;
	return r->opt[i].key;
}

/* ---- parsing: agent lines and results.json --------------------------- */

static int r_fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* o[key] as an optional string: NULL when absent or null. */
static int r_jstr(json_t *o, const char *key, const char **out, char *err, size_t len)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return r_fail(err, len, "%s: not a string", key);
	*out = json_string_value(v);
	return 0;
}

/* o[key] as an optional number: NAN when absent or null. */
static int r_jnum(json_t *o, const char *key, double *out, char *err, size_t len)
{
	json_t *v = json_object_get(o, key);

	*out = NAN;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return r_fail(err, len, "%s: not a number", key);
	*out = json_number_value(v);
	return 0;
}

static int r_jbool(json_t *o, const char *key, bool *out, char *err, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_boolean(v))
		return r_fail(err, len, "%s: missing or not true/false", key);
	*out = json_is_true(v);
	return 0;
}

/* The "tried" list of o into t[RESULTS_TRIES_MAX]. */
static int r_jtried(json_t *o, struct res_try *t, size_t *n, char *err, size_t len)
{
	json_t *list = json_object_get(o, "tried"), *e;
	char sub[160];
	size_t i;

	*n = 0;
	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return r_fail(err, len, "tried: not a list");
	if (json_array_size(list) > RESULTS_TRIES_MAX)
		return r_fail(err, len, "tried: more than %d tries", RESULTS_TRIES_MAX);
	json_array_foreach(list, i, e)
	{
		if (!json_is_object(e))
			return r_fail(err, len, "tried[%zu]: not an object", i);
		if (r_jstr(e, "method", &t[i].method, sub, sizeof(sub)) < 0 ||
		    r_jbool(e, "success", &t[i].success, sub, sizeof(sub)) < 0 ||
		    r_jnum(e, "ms", &t[i].ms, sub, sizeof(sub)) < 0 ||
		    r_jstr(e, "reason", &t[i].reason, sub, sizeof(sub)) < 0)
			return r_fail(err, len, "tried[%zu].%s", i, sub);
		if (!t[i].method)
			return r_fail(err, len, "tried[%zu].method: missing", i);
	}
	*n = i;
	return 0;
}

/* The outcome fields an agent line and a results.json attempt share. */
static int r_joutcome(json_t *o, struct res_attempt *a, struct res_try *t, char *err, size_t len)
{
	if (r_jstr(o, "method", &a->method, err, len) < 0 ||
	    r_jbool(o, "success", &a->success, err, len) < 0 ||
	    r_jnum(o, "setup_ms", &a->setup_ms, err, len) < 0 ||
	    r_jnum(o, "rtt_ms", &a->rtt_ms, err, len) < 0 ||
	    r_jnum(o, "loss", &a->loss, err, len) < 0 ||
	    r_jstr(o, "path", &a->path, err, len) < 0 ||
	    r_jstr(o, "local", &a->local, err, len) < 0 ||
	    r_jstr(o, "remote", &a->remote, err, len) < 0 ||
	    r_jstr(o, "reason", &a->reason, err, len) < 0 ||
	    r_jtried(o, t, &a->n_tried, err, len) < 0)
		return -EINVAL;
	a->tried = t;
	return 0;
}

/* The gate's words an agent line and a results.json attempt share (the
 * agent line's auth_ms is its caller's: it may come from the origin). */
static int r_jgate(json_t *o, struct res_attempt *a, char *err, size_t len)
{
	if (r_jstr(o, "gate", &a->gate, err, len) < 0 ||
	    r_jstr(o, "trust", &a->trust, err, len) < 0)
		return -EINVAL;
	return 0;
}

/* Adds a (with exit statuses when has_exit), saying why not in err. */
static int r_add_checked(struct results *r, const struct res_attempt *a, bool has_exit, int exit_a,
			 int exit_b, char *err, size_t len)
{
	const char *why = res_gate_check(a->gate, a->trust, a->auth_ms);
	int rc;

	if (why)
		return r_fail(err, len, "%s", why);
	rc = has_exit ? results_add_exit_attempt(r, a, exit_a, exit_b) : results_add_attempt(r, a);
	if (rc == -EINVAL)
		return r_fail(err, len,
			      "a name is missing or empty, a string is not UTF-8, or t_s < 0");
	if (rc < 0 && err && len)
		str_copy(err, len, strerror(-rc));
	return rc;
}

int results_add_agent_line(struct results *r, const struct res_origin *o, const char *line,
			   char *err, size_t errlen)
{
	struct res_try tried[RESULTS_TRIES_MAX];
	struct res_attempt a = {0};
	json_error_t jerr;
	const char *peer;
	json_t *j;
	int rc;

	if (!r || !o || !line)
		return r_fail(err, errlen, "no line");
	if (!(j = json_loads(line, JSON_REJECT_DUPLICATES, &jerr)))
		return r_fail(err, errlen, "agent line: column %d: %s", jerr.column, jerr.text);
	rc = json_is_object(j) ? 0 : r_fail(err, errlen, "agent line: not a JSON object");
	if (rc == 0 && (rc = r_jstr(j, "peer", &peer, err, errlen)) == 0 &&
	    (rc = r_joutcome(j, &a, tried, err, errlen)) == 0 &&
	    (rc = r_jgate(j, &a, err, errlen)) == 0 &&
	    (rc = r_jnum(j, "auth_ms", &a.auth_ms, err, errlen)) == 0) {
		a.a = o->a;
		a.b = o->b ? o->b : peer;
		a.nat_a = o->nat_a;
		a.nat_b = o->nat_b;
		a.t_s = o->t_s;
		if (!json_object_get(j, "auth_ms")) /* the line's, null included, wins */
			a.auth_ms = o->auth_ms;
		rc = r_add_checked(r, &a, false, 0, 0, err, errlen);
	}
	json_decref(j);
	return rc;
}

/* [x, y] of two strings. */
static int r_jpair(json_t *o, const char *key, const char **x, const char **y, char *err,
		   size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_string(json_array_get(v, 0)) ||
	    !json_is_string(json_array_get(v, 1)))
		return r_fail(err, len, "%s: not a list of two strings", key);
	*x = json_string_value(json_array_get(v, 0));
	*y = json_string_value(json_array_get(v, 1));
	return 0;
}

/* o["exit"], natbed matrix's two exit statuses, when present (*has set). */
static int r_jexit(json_t *o, bool *has, int *exit_a, int *exit_b, char *err, size_t len)
{
	json_t *v = json_object_get(o, "exit");

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v) || json_array_size(v) != 2 ||
	    !json_is_integer(json_array_get(v, 0)) || !json_is_integer(json_array_get(v, 1)))
		return r_fail(err, len, "exit: not a list of two integers");
	for (size_t i = 0; i < 2; i++) {
		json_int_t st = json_integer_value(json_array_get(v, i));

		if (st < 0 || st > 255)
			return r_fail(err, len, "exit: %lld is no exit status (0-255)",
				      (long long)st);
		*(i ? exit_b : exit_a) = (int)st;
	}
	*has = true;
	return 0;
}

static int r_jattempt(struct results *r, json_t *o, char *err, size_t len)
{
	struct res_try tried[RESULTS_TRIES_MAX];
	struct res_attempt a = {0};
	int exit_a = 0, exit_b = 0;
	bool has_exit = false;

	if (!json_is_object(o))
		return r_fail(err, len, "not an object");
	if (r_jpair(o, "pair", &a.a, &a.b, err, len) < 0 ||
	    r_jpair(o, "nat", &a.nat_a, &a.nat_b, err, len) < 0 ||
	    r_joutcome(o, &a, tried, err, len) < 0 || r_jnum(o, "t_s", &a.t_s, err, len) < 0 ||
	    r_jnum(o, "auth_ms", &a.auth_ms, err, len) < 0 || r_jgate(o, &a, err, len) < 0 ||
	    r_jexit(o, &has_exit, &exit_a, &exit_b, err, len) < 0)
		return -EINVAL;
	return r_add_checked(r, &a, has_exit, exit_a, exit_b, err, len);
}

static int r_jseed(json_t *v, uint64_t *seed)
{
	const char *s = json_string_value(v);
	char *end;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*seed = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*seed = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

/* `check`, natbed check's verdict, when present. */
static int r_jcheck(struct results *r, json_t *c, char *err, size_t len)
{
	json_t *passed = json_object_get(c, "passed"), *n = json_object_get(c, "violations");
	const char *summary = json_string_value(json_object_get(c, "summary"));

	if (!c || json_is_null(c))
		return 0;
	if (!json_is_boolean(passed) || !json_is_integer(n) || json_integer_value(n) < 0 ||
	    !summary)
		return r_fail(err, len,
			      "check: not {passed: boolean, violations: count, summary: string}");
	if (results_set_check(r, json_is_true(passed), (unsigned long)json_integer_value(n),
			      summary) < 0)
		return r_fail(err, len, "check: summary: not UTF-8");
	return 0;
}

/* The metadata, options and port-exhaustion counts of a results.json. */
static struct results *r_jhead(json_t *j, char *err, size_t len)
{
	const char *topo, *started, *version, *mode, *k;
	json_t *v, *opts = json_object_get(j, "options");
	json_t *exh = json_object_get(json_object_get(j, "port_exhaustion"), "nats");
	struct results *r;
	uint64_t seed;
	double wall;

	if (json_integer_value(json_object_get(j, "results_version")) != RESULTS_VERSION) {
		r_fail(err, len, "results_version: not %d", RESULTS_VERSION);
		return NULL;
	}
	if (r_jstr(j, "topology", &topo, err, len) < 0 ||
	    r_jstr(j, "started", &started, err, len) < 0 ||
	    r_jstr(j, "natbed_version", &version, err, len) < 0 ||
	    r_jstr(j, "mode", &mode, err, len) < 0 || r_jnum(j, "wall_s", &wall, err, len) < 0)
		return NULL;
	if (r_jseed(json_object_get(j, "seed"), &seed) < 0) {
		r_fail(err, len, "seed: not an integer from 0 to 18446744073709551615");
		return NULL;
	}
	if (!(r = r_alloc(topo, seed, started, version))) {
		r_fail(err, len, "out of memory");
		return NULL;
	}
	r->wall_s = wall;
	if (mode && results_set_mode(r, mode) < 0) {
		r_fail(err, len, "mode: not \"run\" or \"sim\"");
		goto fail;
	}
	json_object_foreach(opts, k, v)
	{
		if (!json_is_string(v) || results_set_option(r, k, json_string_value(v)) < 0) {
			r_fail(err, len, "options.%s: not a string", k);
			goto fail;
		}
	}
	if (r_jcheck(r, json_object_get(j, "check"), err, len) < 0)
		goto fail;
	json_object_foreach(exh, k, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    results_add_port_exhaustion(r, k, (unsigned long)json_integer_value(v)) < 0) {
			r_fail(err, len, "port_exhaustion.nats.%s: not a count", k);
			goto fail;
		}
	}
	return r;
fail:
	results_free(r);
	return NULL;
}

struct results *results_load(const char *path, char *err, size_t errlen)
{
	struct results *r = NULL;
	char sub[200] = "";
	json_error_t jerr;
	json_t *j, *list, *e;
	size_t i;

	if (!(j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr))) {
		if (jerr.line < 0) /* not read at all: jansson says why, naming the file */
			r_fail(err, errlen, "%s", jerr.text);
		else
			r_fail(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
		return NULL;
	}
	list = json_object_get(j, "attempts");
	if (!json_is_object(j) || !json_is_array(list)) {
		r_fail(err, errlen, "%s: not a results file (no attempts list)", path);
		goto done;
	}
	if (!(r = r_jhead(j, sub, sizeof(sub)))) {
		r_fail(err, errlen, "%s: %s", path, sub);
		goto done;
	}
	json_array_foreach(list, i, e)
	{
		if (r_jattempt(r, e, sub, sizeof(sub)) < 0) {
			r_fail(err, errlen, "%s: attempts[%zu]: %s", path, i, sub);
			results_free(r);
			r = NULL;
			break;
		}
	}
done:
	json_decref(j);
	return r;
}
