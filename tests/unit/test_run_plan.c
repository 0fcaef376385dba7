/* Unit tests for natbed run's plan (cli/run_plan.c), its reading of serve
 * run lines (cli/run_agent.c) and its progress text (cli/run_progress.c):
 * pairs in file order with their methods; arrivals drawn from the seed
 * (the same seed the same list, another seed another), at the configured
 * rate and site shares within sampling error, cut by `clients` and by
 * `duration`; behaviour names; run lines natbed run can and cannot read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_agent.h"
#include "run_plan.h"
#include "run_progress.h"

#define AGENT "natbed-agent serve --rendezvous 198.51.100.20 --stun 198.51.100.10"

static const char base[] =
    "name: t\n"
    "seed: 1\n"
    "nats:\n"
    "  cg: { preset: cgnat, public: 100.64.0.0/30, inside: 10.0.0.0/16 }\n"
    "  home: { preset: port-restricted, public: 10.0.1.1, inside: 192.168.1.0/24, upstream: cg }\n"
    "  office: { preset: symmetric, public: 203.0.113.2, inside: 192.168.2.0/24 }\n"
    "  bare: { mapping: endpoint-independent, filtering: endpoint-independent, public: "
    "203.0.113.3, inside: 192.168.3.0/24 }\n"
    "hosts:\n"
    "  a: { nat: home, run: " AGENT " --name a }\n"
    "  a2: { nat: home, run: " AGENT " --name a2 }\n"
    "  b: { nat: office, run: " AGENT " --name=bee --bind 0.0.0.0:40000 --stats /tmp/x }\n"
    "  c: { nat: bare, run: " AGENT " --name c }\n"
    "  srv: { address: 198.51.100.30, run: " AGENT " --name srv }\n"
    "  plain: { address: 198.51.100.31, run: natbed-stund --primary 198.51.100.31 }\n"
    "  quoted: { address: 198.51.100.32, run: natbed-agent serve --name 'q' }\n"
    "  noname: { address: 198.51.100.33, run: " AGENT " }\n"
    "  none: { address: 198.51.100.34 }\n"
    "  gated: { address: 198.51.100.35, run: " AGENT
    " --name gated --gate 198.51.100.1 --gate-key k }\n"
    "  gu: { address: 198.51.100.36, run: " AGENT
    " --name gu2 --gate=198.51.100.1 --gate-key k --gate-user gu }\n";

static struct topo *load(const char *scenario)
{
	char text[8192], err[TOPO_ERR_MAX];
	struct topo *t = NULL;

	snprintf(text, sizeof(text), "%s%s", base, scenario);
	if (topo_load_string(text, strlen(text), "t.yaml", NULL, &t, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return t;
}

static void test_pairs(void **state)
{
	struct topo *t = load("scenario:\n"
			      "  priority: cost\n"
			      "  connect:\n"
			      "    - [a, b]\n"
			      "    - { from: c, to: srv, method: punch, priority: security }\n"
			      "    - [a, a2]\n");
	struct run_plan p;
	char err[256];

	(void)state;
	assert_int_equal(run_plan_build(t, 1, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n_jobs, 3);
	assert_false(p.arrivals);
	assert_int_equal(p.jobs[0].a, topo_host_find(t, "a"));
	assert_int_equal(p.jobs[0].b, topo_host_find(t, "b"));
	assert_null(p.jobs[0].method);
	assert_string_equal(p.jobs[0].priority, "cost");
	assert_string_equal(p.jobs[0].nat_a, "port-restricted+cgnat");
	assert_string_equal(p.jobs[0].nat_b, "symmetric");
	assert_string_equal(p.jobs[1].method, "punch");
	assert_string_equal(p.jobs[1].priority, "security");
	assert_string_equal(p.jobs[1].nat_a, "bare"); /* no preset: the NAT's name */
	assert_string_equal(p.jobs[1].nat_b, "public");
	assert_string_equal(p.jobs[2].nat_a, "lan"); /* one NAT: the same LAN */
	assert_string_equal(p.jobs[2].nat_b, "lan");
	for (size_t i = 0; i < p.n_jobs; i++) {
		assert_int_equal(p.jobs[i].id, i);
		assert_true(p.jobs[i].t_s == 0);
		assert_false(p.jobs[i].arrival);
	}
	run_plan_free(&p);
	topo_free(t);
}

static void test_no_scenario(void **state)
{
	struct topo *t = load("");
	struct run_plan p;
	char err[256];

	(void)state;
	assert_int_equal(run_plan_build(t, 1, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no scenario section"));
	topo_free(t);
}

#define ARRIVALS                                                                                   \
	"scenario:\n"                                                                              \
	"  clients: 20000\n"                                                                       \
	"  arrival-rate: 2.0/s\n"                                                                  \
	"  duration: 2000s\n"                                                                      \
	"  sites: { a: 50%, b: 30%, c: 20% }\n"                                                    \
	"  to: srv\n"

/* Poisson at 2/s over 2000 s: about 4000 arrivals (sd 63), gaps with mean
 * 0.5 s, sites at their shares; the same seed gives the same list. */
static void test_arrivals(void **state)
{
	struct topo *t = load(ARRIVALS);
	struct run_plan p, q, other;
	size_t i, at[3] = {0};
	int ia = topo_host_find(t, "a"), ib = topo_host_find(t, "b");
	char err[256];

	(void)state;
	assert_int_equal(run_plan_build(t, 42, &p, err, sizeof(err)), 0);
	assert_true(p.arrivals);
	assert_in_range(p.n_jobs, 3700, 4300);
	assert_true(p.last_s <= 2000.0);
	for (i = 0; i < p.n_jobs; i++) {
		assert_true(p.jobs[i].arrival);
		assert_int_equal(p.jobs[i].b, topo_host_find(t, "srv"));
		assert_true(i == 0 || p.jobs[i].t_s >= p.jobs[i - 1].t_s);
		at[p.jobs[i].a == ia ? 0 : p.jobs[i].a == ib ? 1 : 2]++;
	}
	/* shares within 4 standard deviations */
	assert_true(fabs((double)at[0] / (double)p.n_jobs - 0.5) < 0.035);
	assert_true(fabs((double)at[1] / (double)p.n_jobs - 0.3) < 0.03);
	assert_true(fabs((double)at[2] / (double)p.n_jobs - 0.2) < 0.03);
	assert_int_equal(run_plan_build(t, 42, &q, err, sizeof(err)), 0);
	assert_int_equal(q.n_jobs, p.n_jobs);
	assert_memory_equal(q.jobs, p.jobs, p.n_jobs * sizeof(*p.jobs));
	assert_int_equal(run_plan_build(t, 43, &other, err, sizeof(err)), 0);
	assert_true(other.n_jobs != p.n_jobs ||
		    memcmp(other.jobs, p.jobs, p.n_jobs * sizeof(*p.jobs)) != 0);
	run_plan_free(&p);
	run_plan_free(&q);
	run_plan_free(&other);
	topo_free(t);
}

/* run_plan_site_peaks against every window counted one by one: for each
 * arrival, the arrivals at its site in the window_s from it. */
static void test_site_peaks(void **state)
{
	struct topo *t = load(ARRIVALS);
	uint32_t *peak = calloc(t->n_hosts, sizeof(*peak)), want[16] = {0};
	struct run_plan p;
	size_t i, k;
	char err[256];

	(void)state;
	assert_true(t->n_hosts <= 16);
	assert_int_equal(run_plan_build(t, 42, &p, err, sizeof(err)), 0);
	for (i = 0; i < p.n_jobs; i++) {
		uint32_t n = 0;

		for (k = i; k < p.n_jobs && p.jobs[k].t_s - p.jobs[i].t_s < 30.0; k++)
			n += p.jobs[k].a == p.jobs[i].a;
		if (n > want[p.jobs[i].a])
			want[p.jobs[i].a] = n;
	}
	assert_int_equal(run_plan_site_peaks(t, 42, 30.0, peak), 0);
	for (i = 0; i < t->n_hosts; i++)
		assert_int_equal(peak[i], want[i]);
	/* 2 a second for 30 s at half the arrivals: about 30, more at a peak */
	assert_in_range(peak[topo_host_find(t, "a")], 31, 60);
	assert_int_equal(peak[topo_host_find(t, "srv")], 0);
	run_plan_free(&p);
	free(peak);
	topo_free(t);
}

/* `clients` cuts the list before `duration`, and the other way round. */
static void test_arrival_limits(void **state)
{
	struct topo *by_count = load("scenario:\n"
				     "  clients: 50\n"
				     "  arrival-rate: 2/s\n"
				     "  duration: 1000s\n"
				     "  sites: { a: 100% }\n"
				     "  to: srv\n");
	struct topo *by_time = load("scenario:\n"
				    "  clients: 5000\n"
				    "  arrival-rate: 10/s\n"
				    "  duration: 3s\n"
				    "  sites: { c: 100% }\n"
				    "  to: srv\n"
				    "  connect: [[a, b]]\n");
	struct run_plan p;
	char err[256];

	(void)state;
	assert_int_equal(run_plan_build(by_count, 7, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n_jobs, 50);
	assert_true(p.last_s < 1000);
	run_plan_free(&p);
	assert_int_equal(run_plan_build(by_time, 7, &p, err, sizeof(err)), 0);
	assert_in_range(p.n_jobs, 1 + 10, 1 + 60); /* the pair, then ~30 arrivals */
	assert_false(p.jobs[0].arrival);
	assert_true(p.jobs[p.n_jobs - 1].arrival);
	assert_true(p.last_s <= 3.0);
	assert_int_equal(p.jobs[p.n_jobs - 1].id, p.n_jobs - 1);
	run_plan_free(&p);
	topo_free(by_count);
	topo_free(by_time);
}

static void test_agent_lines(void **state)
{
	struct topo *t = load("");
	struct run_agent ag;
	char err[512];
	int i;

	(void)state;
	assert_int_equal(run_agent_parse(t, topo_host_find(t, "b"), &ag, err, sizeof(err)), 0);
	assert_string_equal(ag.name, "bee");
	/* --name, --bind and --stats stay serve's; the rest goes to connect */
	assert_int_equal(ag.argc, 4);
	assert_string_equal(ag.argv[0], "--rendezvous");
	assert_string_equal(ag.argv[1], "198.51.100.20");
	assert_string_equal(ag.argv[2], "--stun");
	assert_string_equal(ag.argv[3], "198.51.100.10");
	for (i = 0; i < ag.argc; i++)
		assert_null(strstr(ag.argv[i], "bind"));

	/* behind a gate, a connect (named gated.cID) authenticates as serve's
	 * --name, unless the line names its gate user itself */
	assert_int_equal(run_agent_parse(t, topo_host_find(t, "gated"), &ag, err, sizeof(err)), 0);
	assert_int_equal(ag.argc, 10);
	assert_string_equal(ag.argv[8], "--gate-user");
	assert_string_equal(ag.argv[9], "gated");
	assert_int_equal(run_agent_parse(t, topo_host_find(t, "gu"), &ag, err, sizeof(err)), 0);
	assert_int_equal(ag.argc, 9);
	assert_string_equal(ag.argv[8], "gu");
	for (i = 0; i < ag.argc - 1; i++)
		assert_string_not_equal(ag.argv[i], "gu2");

	assert_int_equal(run_agent_parse(t, topo_host_find(t, "plain"), &ag, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not `natbed-agent serve"));
	assert_int_equal(run_agent_parse(t, topo_host_find(t, "quoted"), &ag, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "plain words"));
	assert_int_equal(run_agent_parse(t, topo_host_find(t, "noname"), &ag, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "no --name"));
	assert_int_equal(run_agent_parse(t, topo_host_find(t, "none"), &ag, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "runs no program"));
	topo_free(t);
}

static void test_progress(void **state)
{
	char buf[160];

	(void)state;
	run_progress_format(buf, sizeof(buf), 6, 24, 5, 12.2);
	assert_string_equal(buf,
			    "[######..................] 6/24 connects, 5 connected, ~13 s left");
	run_progress_format(buf, sizeof(buf), 24, 24, 24, 0);
	assert_string_equal(buf,
			    "[########################] 24/24 connects, 24 connected, ~0 s left");
	run_progress_format(buf, sizeof(buf), 1, 500, 0, 125);
	assert_string_equal(
	    buf, "[........................] 1/500 connects, 0 connected, ~2 min 05 s left");
	run_progress_format(buf, sizeof(buf), 0, 3, 0, -1);
	assert_non_null(strstr(buf, "time left unknown"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pairs),	   cmocka_unit_test(test_no_scenario),
	    cmocka_unit_test(test_arrivals),	   cmocka_unit_test(test_site_peaks),
	    cmocka_unit_test(test_arrival_limits), cmocka_unit_test(test_agent_lines),
	    cmocka_unit_test(test_progress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
