/* natbed run: a topology up, its scenario played with natbed-agent
 * connects, every result line gathered into results.json, results.csv and
 * report.html, and the topology down again whatever happens. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "natbed/strcopy.h"
#include "natbed/units.h"
#include "report.h"
#include "results.h"
#include "run_agent.h"
#include "run_loop.h"
#include "run_opts.h"
#include "run_plan.h"
#include "run_progress.h"
#include "session.h"
#include "sigstop.h"

#define RUN_READY_S	   60 /* for every agent to register */
#define RUN_SAVE_EVERY_S   5.0
#define RUN_EXIT_FAILED	   3 /* the run completed, some connect did not */
#define RUN_EXIT_CHECK	   4 /* the captures contradict the topology or a claim */
#define RUN_EXIT_SIGNALLED 130

/* The effective settings, read once from the layers (run_opts.h). */
struct run_opts {
	const char *file; /* NULL: the built-in matrix */
	const char *prefix;
	const char *capture;
	double until_ci; /* 0: one round */
	int max_rounds;
	int parallel;
	bool json;
	const struct run_setup *setup;
};

struct run_ctx {
	const struct run_opts *o;
	struct topo *t;
	uint64_t seed;
	char out[PATH_MAX];
	char topo_path[PATH_MAX + 16];
	struct run_agent *agents; /* per host */
	long *log_start;	  /* per host: its log's size before natbed up */
	struct results *r;
	struct run_progress bar;
	size_t total, done, ok; /* this run's connects, for the bar */
	double t0, last_save;
	bool up; /* natbed up succeeded: teardown needed */
};

static void run_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: natbed run [--seed N] [--out DIR] [--until-ci MARGIN] [--json] [FILE]\n"
	    "                  [--config FILE] [--prefix P] [--parallel N] [--budget DURATION]\n"
	    "                  [--priority P] [--no-relay] [--max-rounds N]\n"
	    "                  [--duration DURATION] [--clients N] [--arrival-rate R]\n"
	    "                  [--capture all|none|NAME,...]\n"
	    "\n"
	    "Brings the topology in FILE up (natbed up), plays its scenario (docs/topology.md,\n"
	    "Scenarios): each connect is `natbed-agent connect` on the connecting host with\n"
	    "the options of that host's `natbed-agent serve` run line, toward the agent\n"
	    "serving on the other, through the cascade unless the scenario names a method.\n"
	    "It gathers every connect's result line, brings the topology down whatever\n"
	    "happens, and leaves in DIR: results.json and results.csv (docs/results.md),\n"
	    "report.html, the pcaps, events.jsonl and each host's logs. It ends with natbed\n"
	    "check on the captures (docs/check.md; the verdict goes into results.json) and\n"
	    "prints the matrix: the method that connected each pair and its setup time\n"
	    "(coloured on a terminal), or results.json with --json.\n"
	    "\n"
	    "Without FILE it runs the built-in matrix (topologies/matrix.yaml): an agent\n"
	    "behind each NAT preset, two of each, two public agents and two on one LAN,\n"
	    "every pair connecting through the whole cascade.\n"
	    "\n"
	    "Pairs connect --parallel at a time, never two through one NAT at once (so one\n"
	    "pair's mappings never move another's predicted ports); arriving clients start\n"
	    "at their drawn times. Ctrl-C stops the run: the connects under way are\n"
	    "stopped, what finished is written and the topology brought down; a second\n"
	    "Ctrl-C kills the connects at once.\n"
	    "\n"
	    "Settings come in layers: built-in defaults < the config file (%s,\n"
	    "or --config FILE) < the topology < these flags. `natbed config --show` with\n"
	    "the same arguments prints each value and where it came from (docs/config.md).\n"
	    "\n"
	    "  -s, --seed N          the seed of every draw (arrivals, NAT ports, link\n"
	    "                        loss; default: the topology's)\n"
	    "  -o, --out DIR         where the results go (default ./out/NAME)\n"
	    "  -u, --until-ci MARGIN repeat the scenario until every success rate's (and\n"
	    "                        gate failure share's) 95%% Wilson interval is narrower\n"
	    "                        than +-MARGIN (0 to 0.5, e.g. 0.05), or --max-rounds\n"
	    "                        rounds ran\n"
	    "      --max-rounds N    the cap on --until-ci's rounds (default 50)\n"
	    "  -j, --json            print results.json instead of the matrix\n"
	    "  -c, --config FILE     the config file (default %s, if present)\n"
	    "  -p, --prefix P        namespace prefix, 1-%d of [a-z0-9-] (default %s)\n"
	    "      --parallel N      pairs connecting at once, 1-512 (default 8)\n"
	    "      --budget DURATION the time one connect may take in all (default: the\n"
	    "                        scenario's `budget`, else each method its own)\n"
	    "      --priority P      the cascade's order: success_rate, cost, security or\n"
	    "                        balanced (default: the scenario's, else balanced)\n"
	    "      --no-relay        the cascade leaves relays out (as `no-relay: true`)\n"
	    "      --duration D      arrivals stop after D (the scenario's `duration`)\n"
	    "      --clients N       arrivals stop after N clients (the scenario's `clients`)\n"
	    "      --arrival-rate R  arrivals a second (the scenario's `arrival-rate`)\n"
	    "      --capture SPEC    which pcaps to write, as natbed up --capture\n"
	    "  -h, --help            this text\n"
	    "\n"
	    "Exit status: 0 every connect connected, %d the run completed and some did not\n"
	    "(results.json says why), %d natbed check found the captures contradicting\n"
	    "the topology or a claimed success (`natbed check DIR` lists them), 1 the run\n"
	    "failed (nothing left behind), 2 bad usage, config or topology, %d stopped by\n"
	    "Ctrl-C (results so far written).\n",
	    CONFIG_SYSTEM_FILE, CONFIG_SYSTEM_FILE, TOPO_PREFIX_MAX, CLI_DEFAULT_PREFIX,
	    RUN_EXIT_FAILED, RUN_EXIT_CHECK, RUN_EXIT_SIGNALLED);
}

/* The topology for natbed up: FILE, or the built-in matrix written out
 * as DIR/matrix.yaml (so the run can be repeated from its files). */
static int run_topo_file(struct run_ctx *x)
{
	FILE *f;

	if (x->o->file) {
		str_copy(x->topo_path, sizeof(x->topo_path), x->o->file);
		return 0;
	}
	snprintf(x->topo_path, sizeof(x->topo_path), "%s/matrix.yaml", x->out);
	f = fopen(x->topo_path, "w");
	if (!f ||
	    fwrite(natbed_matrix_yaml, 1, natbed_matrix_yaml_len, f) != natbed_matrix_yaml_len) {
		fprintf(stderr, "natbed run: cannot write %s: %s\n", x->topo_path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* Every host a job names runs an agent natbed run can read. */
static int run_agents(struct run_ctx *x, const struct run_plan *plan)
{
	char err[TOPO_ERR_MAX + 256];
	bool *need = calloc(x->t->n_hosts, sizeof(*need));
	size_t i;
	int rc = 0;

	x->agents = calloc(x->t->n_hosts, sizeof(*x->agents));
	if (!need || !x->agents) {
		free(need);
		return -1;
	}
	for (i = 0; i < plan->n_jobs; i++)
		need[plan->jobs[i].a] = need[plan->jobs[i].b] = true;
	for (i = 0; i < x->t->n_hosts && rc == 0; i++)
		if (need[i] && run_agent_parse(x->t, (int)i, &x->agents[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "natbed run: %s: %s\n", x->topo_path, err);
			rc = -1;
		}
	free(need);
	return rc;
}

/* Where each host's log ends before this run: a log in a reused output
 * directory keeps an earlier run's lines, which must not count. */
static int run_mark_logs(struct run_ctx *x)
{
	char path[PATH_MAX + 40];
	struct stat sb;
	size_t h;

	x->log_start = calloc(x->t->n_hosts + 1, sizeof(*x->log_start));
	if (!x->log_start)
		return -1;
	for (h = 0; h < x->t->n_hosts; h++) {
		snprintf(path, sizeof(path), "%s/%s.log", x->out, x->t->hosts[h].name);
		x->log_start[h] = stat(path, &sb) == 0 ? (long)sb.st_size : 0;
	}
	return 0;
}

/* natbed up as a child of its own (session_up). */
static int run_up(struct run_ctx *x)
{
	if (session_up(x->o->prefix, x->out, x->seed, x->o->capture, x->topo_path) < 0)
		return -1;
	x->up = true;
	return 0;
}

/* Whether the log of host h says its agent registered. */
static bool run_registered(const struct run_ctx *x, size_t h)
{
	char path[PATH_MAX + 40], want[96], line[1024];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.log", x->out, x->t->hosts[h].name);
	snprintf(want, sizeof(want), "registered as %s:", x->agents[h].name);
	f = fopen(path, "r");
	if (f && fseek(f, x->log_start[h], SEEK_SET) < 0) {
		fclose(f);
		return false;
	}
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, want) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* Waits until every agent a job names has registered with its rendezvous
 * (its log says so), or RUN_READY_S passed, or Ctrl-C. */
static int run_wait_ready(struct run_ctx *x)
{
	struct timespec tick = {0, 50 * 1000 * 1000};
	double t0 = (double)time(NULL);
	size_t h;

	for (;;) {
		for (h = 0; h < x->t->n_hosts; h++)
			if (x->agents[h].name[0] && !run_registered(x, h))
				break;
		if (h == x->t->n_hosts)
			return 0;
		if (sigstop_count())
			return 1;
		if ((double)time(NULL) - t0 > RUN_READY_S) {
			fprintf(stderr,
				"natbed run: the agent on %s did not register within %d s; "
				"see %s/%s.log\n",
				x->t->hosts[h].name, RUN_READY_S, x->out, x->t->hosts[h].name);
			return -1;
		}
		nanosleep(&tick, NULL);
	}
}

/* Writes what there is so far (each file renamed into place whole). */
static int run_save(struct run_ctx *x)
{
	char err[PATH_MAX + 256], path[PATH_MAX + 16];

	results_set_wall(x->r, session_now_s() - x->t0);
	snprintf(path, sizeof(path), "%s/report.html", x->out);
	if (results_write(x->r, x->out, err, sizeof(err)) < 0 ||
	    report_write(x->r, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "natbed run: %s\n", err);
		return -1;
	}
	x->last_save = session_now_s();
	return 0;
}

static void run_done(void *arg, const struct run_job *j, const char *line, const char *reason)
{
	struct run_ctx *x = arg;
	const char *a = x->t->hosts[j->a].name, *b = x->t->hosts[j->b].name;
	struct res_origin o = {
	    .a = a, .b = b, .nat_a = j->nat_a, .nat_b = j->nat_b, .t_s = j->t_s, .auth_ms = NAN};
	struct res_attempt att = {.a = a,
				  .b = b,
				  .nat_a = j->nat_a,
				  .nat_b = j->nat_b,
				  .method = RESULTS_NONE,
				  .setup_ms = NAN,
				  .rtt_ms = NAN,
				  .loss = NAN,
				  .path = "none",
				  .t_s = j->t_s,
				  .auth_ms = NAN};
	char err[512];

	x->done++;
	if (line && results_add_agent_line(x->r, &o, line, err, sizeof(err)) == 0) {
		json_t *jl = json_loads(line, 0, NULL);

		x->ok += json_is_true(json_object_get(jl, "success"));
		json_decref(jl);
	} else {
		if (line) {
			run_progress_clear(&x->bar);
			fprintf(stderr, "natbed run: %s -> %s: the agent's line: %s\n", a, b, err);
			snprintf(err, sizeof(err), "unreadable result line");
		}
		att.reason = line ? err : reason;
		results_add_attempt(x->r, &att);
	}
	if (session_now_s() - x->last_save >= RUN_SAVE_EVERY_S)
		run_save(x);
}

static void run_tick(void *arg, size_t started, size_t finished, double elapsed)
{
	struct run_ctx *x = arg;
	double left = -1;

	(void)started;
	(void)finished;
	if (x->done)
		left = elapsed / (double)x->done * (double)(x->total - x->done);
	run_progress_draw(&x->bar, x->done, x->total, x->ok, session_now_s() - x->t0, left);
}

/* Port-exhaustion drops each NAT counted, from natbed-emu. */
static void run_exhaustion(struct run_ctx *x)
{
	size_t k;

	for (k = 0; k < x->t->n_nats; k++) {
		char *w[] = {"nat", x->t->nats[k].name, "stats"};
		json_t *ans = cli_ctl_call(x->o->prefix, 3, w);
		json_t *drops = json_object_get(json_object_get(ans, "counters"), "drops");
		unsigned long n;

		if (!drops)
			drops = json_object_get(ans, "drops");
		n = (unsigned long)(json_integer_value(json_object_get(drops, "port_exhaustion")) +
				    json_integer_value(json_object_get(drops, "port_limit")));
		if (n)
			results_add_port_exhaustion(x->r, x->t->nats[k].name, n);
		json_decref(ans);
	}
}

/* The scenario once, or until the intervals are narrow enough. Round k
 * after the first draws its arrivals with seed + k. 0, 1 on a signal,
 * -1 on a failure. */
static int run_rounds(struct run_ctx *x)
{
	char err[TOPO_ERR_MAX], budget[32];
	const struct topo_scenario *sc = x->t->scenario;
	struct run_loop_cfg lc = {.t = x->t,
				  .prefix = x->o->prefix,
				  .out = x->out,
				  .agents = x->agents,
				  .parallel = x->o->parallel,
				  .no_relay = sc->no_relay,
				  .done = run_done,
				  .tick = run_tick,
				  .arg = x};
	char agent[CLI_PATH_MAX];
	int round, rc = 0;

	if (cli_which("natbed-agent", agent, sizeof(agent)) < 0) {
		fprintf(stderr, "natbed run: natbed-agent not found beside natbed or in PATH\n");
		return -1;
	}
	lc.agent = agent;
	if (sc->budget_ns) {
		snprintf(budget, sizeof(budget), "%llums",
			 (unsigned long long)(sc->budget_ns / NATBED_NS_PER_MS));
		lc.budget = budget;
	}
	for (round = 0; rc == 0; round++) {
		struct run_plan plan;

		if (run_plan_build(x->t, x->seed + (uint64_t)round, &plan, err, sizeof(err)) < 0) {
			fprintf(stderr, "natbed run: %s\n", err);
			return -1;
		}
		x->total += plan.n_jobs;
		lc.round = (unsigned)round;
		rc = run_loop(&lc, &plan);
		run_plan_free(&plan);
		if (x->o->until_ci <= 0 || round + 1 >= x->o->max_rounds ||
		    results_ci_met(x->r, x->o->until_ci))
			break;
	}
	return rc;
}

static int run_main(struct run_ctx *x)
{
	struct run_plan plan;
	char err[TOPO_ERR_MAX];
	int rc;

	if (run_plan_build(x->t, x->seed, &plan, err, sizeof(err)) < 0) {
		fprintf(stderr, "natbed run: %s\n", err);
		return 2;
	}
	rc = run_agents(x, &plan);
	run_plan_free(&plan);
	if (rc < 0)
		return 2;
	if (run_mark_logs(x) < 0 || run_up(x) < 0)
		return sigstop_count() ? RUN_EXIT_SIGNALLED : 1;
	rc = run_wait_ready(x);
	if (rc != 0)
		return rc > 0 ? RUN_EXIT_SIGNALLED : 1;
	x->r = results_new(x->t->name, x->seed, time(NULL));
	if (!x->r)
		return 1;
	results_set_mode(x->r, "run");
	run_opts_record(x->o->setup, x->o->file ? x->topo_path : NULL, x->r);
	x->t0 = x->last_save = session_now_s();
	rc = run_rounds(x);
	run_progress_clear(&x->bar);
	run_exhaustion(x);
	if (run_save(x) < 0)
		return 1;
	if (rc < 0)
		return 1;
	if (rc > 0)
		return RUN_EXIT_SIGNALLED;
	return results_overall(x->r)->successes == results_overall(x->r)->attempts
		   ? 0
		   : RUN_EXIT_FAILED;
}

/* natbed check on the run's captures, now complete (the emulator is
 * down): its verdict goes into the results, written again. -1 when it
 * found violations. */
static int run_check(struct run_ctx *x)
{
	int rc = session_check("natbed run", x->out, x->o->capture, x->r);
	unsigned long n;
	const char *summary;
	bool passed;

	if (results_check(x->r, &passed, &n, &summary))
		run_save(x);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	struct run_setup st = {.cmd = "run"};
	struct run_opts o = {.setup = &st};
	struct run_ctx x = {.o = &o};
	char out[PATH_MAX];
	int rc;

	rc = run_opts_parse(argc, argv, &st, run_usage);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (cli_need_root("run") < 0)
		return 1;
	if ((rc = run_opts_settle(&st)) != 0) {
		run_opts_free(&st);
		return rc;
	}
	x.t = st.t;
	o.file = st.file;
	o.json = st.json;
	o.prefix = config_get(&st.cfg, CK_PREFIX);
	o.capture = config_get(&st.cfg, CK_CAPTURE);
	o.until_ci = config_double(&st.cfg, CK_UNTIL_CI);
	o.max_rounds = (int)config_u64(&st.cfg, CK_MAX_ROUNDS);
	o.parallel = (int)config_u64(&st.cfg, CK_PARALLEL);
	x.seed = config_u64(&st.cfg, CK_SEED);
	if (config_is_set(&st.cfg, CK_OUT))
		str_copy(out, sizeof(out), config_get(&st.cfg, CK_OUT));
	else
		snprintf(out, sizeof(out), "out/%s", x.t->name);
	if (cli_mkdirs(out) < 0 || !realpath(out, x.out) || run_topo_file(&x) < 0) {
		fprintf(stderr, "natbed run: cannot create the output directory %s: %s\n", out,
			strerror(errno));
		run_opts_free(&st);
		return 1;
	}
	if (sigstop_catch() < 0) {
		fprintf(stderr, "natbed run: cannot catch signals\n");
		run_opts_free(&st);
		return 1;
	}
	run_progress_init(&x.bar, stderr);
	rc = run_main(&x);
	if (x.up && cli_teardown(o.prefix, x.t, 0) < 0 && rc == 0)
		rc = 1;
	if (x.r && (rc == 0 || rc == RUN_EXIT_FAILED) && run_check(&x) < 0)
		rc = RUN_EXIT_CHECK;
	if (x.r && (rc == 0 || rc == RUN_EXIT_FAILED || rc == RUN_EXIT_CHECK ||
		    rc == RUN_EXIT_SIGNALLED)) {
		if (o.json)
			results_write_json(x.r, stdout);
		else
			report_print_matrix(x.r, stdout, isatty(STDOUT_FILENO));
		fprintf(stderr, "natbed run: %zu connects, %u connected; results in %s\n",
			results_n_attempts(x.r), results_overall(x.r)->successes, x.out);
		report_print_gate(x.r, stderr);
	}
	results_free(x.r);
	free(x.agents);
	free(x.log_start);
	run_opts_free(&st);
	return rc;
}
