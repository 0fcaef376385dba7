/* results_gen: a results.json and results.csv for the report and schema
 * tests, from attempts drawn with a seed (no network, no agents): hosts
 * behind NAT behaviours, every pair once per repetition, each through a
 * cascade whose methods succeed with chances set by the pair's NATs.
 *
 *   results_gen [--seed N] [--started UNIX] [--hostile] [--gate] [--reps K] DIR
 *
 * --hostile names two hosts with markup (<, &, quotes) to check escaping.
 * --gate puts three hosts behind zero-trust gates (docs/gate.md): each of
 * their attempts authenticates first, with the seed's delay and chance of
 * a grant for the host's trust level (which may rise after a grant), a
 * few refused or timed out; what the gate stops tries no method.
 * Prints the pair and winner of one known cell ("KNOWN a b method ms")
 * so the test can look for it in the rendered page. */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "results.h"

static uint64_t gen_state;

static uint64_t gen_next(void)
{
	/* splitmix64 */
	uint64_t z = (gen_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double gen_unit(void)
{
	return (gen_next() >> 11) * (1.0 / 9007199254740992.0);
}

struct gen_host {
	const char *name, *nat;
	int hardness; /* 0 open .. 3 symmetric-random */
	int trust;    /* behind a gate: an index of gen_levels; -1: not gated */
};

/* The seed's auth delays (ms) and chances of a grant, by trust level. */
static const struct {
	const char *name;
	double lo, hi, success;
} gen_levels[] = {
    {"untrusted", 2000, 5000, 0.7}, {"low", 1000, 2000, 0.8},	 {"medium", 500, 1000, 0.9},
    {"high", 100, 500, 0.95},	    {"verified", 50, 100, 0.99},
};
#define GEN_LEVELS (sizeof(gen_levels) / sizeof(gen_levels[0]))

/* Host a's exchange with its gate into at; true when granted (or not
 * gated). A grant may raise a's level, as the gate's escalation does. */
static bool gen_gate(struct gen_host *a, struct res_attempt *at)
{
	double u, rtt;
	bool granted;

	if (a->trust < 0)
		return true;
	u = gen_unit();
	rtt = 5 + 20 * gen_unit();
	if (u < 0.03) {
		at->gate = "refused";
		at->auth_ms = round(rtt * 1000) / 1000;
		at->reason = "gate: refused (401 Bad integrity)";
		return false;
	}
	if (u < 0.05) {
		at->gate = "timeout";
		at->auth_ms = 30000;
		at->reason = "gate: no answer from the gate";
		return false;
	}
	at->trust = gen_levels[a->trust].name;
	at->auth_ms = gen_levels[a->trust].lo +
		      (gen_levels[a->trust].hi - gen_levels[a->trust].lo) * gen_unit() + rtt;
	at->auth_ms = round(at->auth_ms * 1000) / 1000;
	granted = gen_unit() < gen_levels[a->trust].success;
	at->gate = granted ? "granted" : "denied";
	if (!granted)
		at->reason = "gate: denied (403 Denied)";
	if (granted && gen_unit() < 0.3 && a->trust + 1 < (int)GEN_LEVELS)
		a->trust++;
	return granted;
}

static const char *const gen_methods[] = {"direct", "punch", "predict", "relay"};

/* The chance that method m connects hosts of hardness x and y. */
static double gen_chance(int m, int x, int y)
{
	int h = x > y ? x : y;

	switch (m) {
	case 0:
		return x == 0 || y == 0 ? 0.95 : 0.05;
	case 1:
		return h <= 1 ? 0.9 : h == 2 ? 0.5 : 0.05;
	case 2:
		return h <= 2 ? 0.7 : 0.3;
	default:
		return 0.99;
	}
}

/* The cascade of a to b after its gate (if any) let it through. */
static void gen_tries(const struct gen_host *a, const struct gen_host *b, struct res_attempt *at,
		      struct res_try *tried, char *local, char *remote)
{
	static const char *const reasons[] = {"timeout", "filtered", "no prediction",
					      "budget spent"};
	double total = isfinite(at->auth_ms) ? at->auth_ms : 0; /* setup_ms counts the gate */
	size_t m;

	for (m = 0; m < 4; m++) {
		bool ok = gen_unit() < gen_chance((int)m, a->hardness, b->hardness);
		double ms = ok ? 20 + 40 * m + gen_unit() * 60 * (m + 1) : 500 + 500 * m;

		tried[m] = (struct res_try){gen_methods[m], ok, round(ms * 1000) / 1000,
					    ok ? NULL : reasons[gen_next() % 4]};
		total += ms;
		if (ok)
			break;
	}
	at->n_tried = m < 4 ? m + 1 : 4;
	at->tried = tried;
	at->success = m < 4;
	at->method = tried[at->n_tried - 1].method;
	at->setup_ms = total;
	at->path = !at->success ? "none" : m == 3 ? "relay" : "direct";
	if (at->success) {
		at->rtt_ms = 20 + gen_unit() * 40;
		at->loss = 0;
		snprintf(local, 32, "192.168.1.10:%u", 40000 + (unsigned)(gen_next() % 1000));
		snprintf(remote, 32, "203.0.113.%u:%u", 10 + (unsigned)(gen_next() % 5),
			 50000 + (unsigned)(gen_next() % 1000));
		at->local = local;
		at->remote = remote;
	}
}

static void gen_attempt(struct results *r, struct gen_host *a, const struct gen_host *b, double t_s)
{
	struct res_try tried[4];
	struct res_attempt at = {.a = a->name,
				 .b = b->name,
				 .nat_a = a->nat,
				 .nat_b = b->nat,
				 .t_s = t_s,
				 .auth_ms = NAN,
				 .setup_ms = NAN,
				 .rtt_ms = NAN,
				 .loss = NAN};
	char local[32], remote[32];

	if (gen_gate(a, &at)) {
		gen_tries(a, b, &at, tried, local, remote);
	} else { /* stopped at the gate: the cascade never started */
		at.method = gen_methods[0];
		at.path = "none";
	}
	if (results_add_attempt(r, &at) < 0) {
		fprintf(stderr, "results_gen: results_add_attempt failed\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"seed", required_argument, NULL, 's'}, {"started", required_argument, NULL, 't'},
	    {"hostile", no_argument, NULL, 'x'},    {"reps", required_argument, NULL, 'r'},
	    {"gate", no_argument, NULL, 'g'},	    {NULL, 0, NULL, 0},
	};
	struct gen_host hosts[] = {
	    {"pub", "open", 0, -1},
	    {"alice", "full-cone", 1, -1},
	    {"bob", "port-restricted", 2, -1},
	    {"carol", "symmetric-random", 3, -1},
	    {"dave", "restricted-cone", 1, -1},
	};
	uint64_t seed = 1;
	long started = 1700000000;
	int c, reps = 1, rep;
	size_t i, j, n = sizeof(hosts) / sizeof(hosts[0]);
	struct results *r;
	double t = 0;
	char err[512];

	while ((c = getopt_long(argc, argv, "s:t:xr:g", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			started = strtol(optarg, NULL, 0);
			break;
		case 'x':
			hosts[2].name = "<b>bob</b> & \"co\"";
			hosts[4].name = "dave's <script>alert(1)</script>";
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 'g': /* alice untrusted, bob at medium, carol at high */
			hosts[1].trust = 0;
			hosts[2].trust = 2;
			hosts[3].trust = 3;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1)
		return 2;
	gen_state = seed;
	if (!(r = results_new("gen", seed, (time_t)started)))
		return 1;
	results_set_option(r, "generator", "results_gen");
	for (rep = 0; rep < reps; rep++)
		for (i = 0; i < n; i++)
			for (j = i + 1; j < n; j++) {
				gen_attempt(r, &hosts[i], &hosts[j], t);
				t += 0.25 + gen_unit();
			}
	results_add_port_exhaustion(r, "carrier", gen_next() % 3);
	results_set_wall(r, t + 1.5);
	if (results_write(r, argv[optind], err, sizeof(err)) < 0) {
		fprintf(stderr, "results_gen: %s\n", err);
		return 1;
	}
	for (i = 0; i < results_n_cells(r); i++) {
		const struct res_cell *cell = results_cell(r, i);
		char ms[32];

		if (strcmp(cell->a, "pub") == 0 && strcmp(cell->b, "alice") == 0)
			printf("KNOWN %s %s %s %s\n", cell->a, cell->b, cell->winner.method,
			       report_ms(cell->winner.setup_ms, ms, sizeof(ms)));
	}
	results_free(r);
	return 0;
}
