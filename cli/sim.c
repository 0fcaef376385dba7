/* natbed sim: a topology's scenario in virtual time, through the very NAT,
 * firewall, gate and link engines natbed-emu runs and the very state
 * machines the hosts run (docs/sim.md), with the results natbed run
 * writes. No namespaces, no sockets, no root. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "emu_ckpt.h"
#include "firewall.h"
#include "flowtab.h"
#include "nat.h"
#include "natbed/link.h"
#include "natbed/log.h"
#include "natbed/strcopy.h"
#include "natbed/units.h"
#include "report.h"
#include "results.h"
#include "run_agent.h"
#include "run_opts.h"
#include "run_plan.h"
#include "run_progress.h"
#include "sigstop.h"
#include "sim_ckpt.h"
#include "sim_conn.h"
#include "sim_hosts.h"
#include "sim_int.h"
#include "sim_pool.h"
#include "vnet.h"

#define SIM_READY_S	   60 /* virtual seconds for every serving agent to register */
#define SIM_EXIT_FAILED	   3  /* as natbed run: some connect did not connect */
#define SIM_EXIT_SIGNALLED 130
#define SIM_WALL_EVERY	   1024 /* timestamps between looks at the wall clock */

static void sim_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: natbed sim [--clients N] [--seed S] [--out DIR] [--until-ci MARGIN] [FILE]\n"
	    "                  [--json] [--config FILE] [--budget DURATION] [--priority P]\n"
	    "                  [--no-relay] [--max-rounds N] [--parallel N] [--duration D]\n"
	    "                  [--arrival-rate R] [--site-per-client]\n"
	    "                  [--checkpoint FILE [--checkpoint-every D]]\n"
	    "       natbed sim --restore FILE [--out DIR] [--checkpoint FILE]\n"
	    "                  [--checkpoint-every D] [--json]\n"
	    "\n"
	    "Plays the scenario of the topology in FILE (docs/topology.md, Scenarios; without\n"
	    "FILE the built-in matrix) in virtual time: every host runs its run line's\n"
	    "program as a state machine (natbed-stund, natbed-rendezvous, coturn's\n"
	    "turnserver, natbed-agent serve) and every connect is what `natbed-agent\n"
	    "connect` does under natbed run, their datagrams crossing the very NAT,\n"
	    "firewall, zero-trust gate and link engines natbed-emu runs (linked, not\n"
	    "copied). No namespaces, no sockets, no root. It leaves in DIR what natbed run\n"
	    "leaves (results.json marked \"mode\": \"sim\", results.csv, report.html; no\n"
	    "captures) and prints the matrix (or results.json with --json). The same\n"
	    "topology, settings and seed give the same results.json but for its wall-clock\n"
	    "fields (docs/sim.md).\n"
	    "\n"
	    "Settings come in layers as natbed run's (`natbed config --show --sim`), with\n"
	    "the seed's defaults where the topology says nothing: arrivals at 2.0/s for\n"
	    "300 s, at most 500 clients.\n"
	    "\n"
	    "  -s, --seed N            the seed of every draw (default: the topology's)\n"
	    "  -o, --out DIR           where the results go (default ./out/NAME-sim)\n"
	    "  -u, --until-ci MARGIN   repeat the scenario until every success rate's (and\n"
	    "                          gate failure share's) 95%% Wilson interval is\n"
	    "                          narrower than +-MARGIN, or --max-rounds rounds ran\n"
	    "                          (default 50)\n"
	    "  -j, --json              print results.json instead of the matrix\n"
	    "  -c, --config FILE       the config file (default %s, if present)\n"
	    "      --parallel N        explicit pairs connecting at once (default 8)\n"
	    "      --budget D          the time one connect may take in all\n"
	    "      --priority P        the cascade's order: success_rate, cost, security or\n"
	    "                          balanced\n"
	    "      --no-relay          the cascade leaves relays out\n"
	    "      --duration D        arrivals stop after D\n"
	    "      --clients N         arrivals stop after N clients (at most 1000000)\n"
	    "      --arrival-rate R    arrivals a second\n"
	    "      --site-per-client   each arriving client behind a NAT and gate of its own:\n"
	    "                          a copy of its site's, with a public address from\n"
	    "                          198.19.0.0/16, no other client's while it connects\n"
	    "                          (default: the clients of a site share its NAT)\n"
	    "      --checkpoint FILE   write the run's whole state to FILE every\n"
	    "                          --checkpoint-every of virtual time (default 60s), and\n"
	    "                          when stopped\n"
	    "      --restore FILE      go on from a checkpoint: its topology, settings, seed\n"
	    "                          and state, checked against it; the same results as a\n"
	    "                          run never stopped\n"
	    "  -h, --help              this text\n"
	    "\n"
	    "--prefix and --capture are natbed run's and change nothing here.\n"
	    "\n"
	    "Exit status: 0 every connect connected, %d the run completed and some did not,\n"
	    "1 the simulation failed, 2 bad usage, config, topology or checkpoint, %d stopped\n"
	    "by Ctrl-C (results so far written, and a checkpoint with --checkpoint).\n",
	    CONFIG_SYSTEM_FILE, SIM_EXIT_FAILED, SIM_EXIT_SIGNALLED);
}

static double sim_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- results --------------------------------------------------------------- */

/* The attempt folded into the run's digest (checkpoints): its time, pair,
 * method, outcome, setup time, reason, tries and remote, as values
 * (sim_ckpt_fold_u64, sim_ckpt_fold_str), not printed first (format 1:
 * two reals through printf, a microsecond an attempt). */
static void sim_digest(struct sim *x, const struct res_attempt *a)
{
	uint64_t h = x->digest, bits;

	memcpy(&bits, &a->t_s, sizeof(bits));
	h = sim_ckpt_fold_u64(h, bits);
	h = sim_ckpt_fold_str(h, a->a);
	h = sim_ckpt_fold_str(h, a->b);
	h = sim_ckpt_fold_str(h, a->method);
	h = sim_ckpt_fold_u64(h, (uint64_t)a->success);
	memcpy(&bits, &a->setup_ms, sizeof(bits));
	h = sim_ckpt_fold_u64(h, bits);
	h = sim_ckpt_fold_str(h, a->reason);
	h = sim_ckpt_fold_u64(h, a->n_tried);
	x->digest = sim_ckpt_fold_str(h, a->remote);
}

static int sim_save(struct sim *x)
{
	char err[PATH_MAX + 256], path[PATH_MAX + 16];

	results_set_wall(x->r, sim_wall() - x->t0);
	snprintf(path, sizeof(path), "%s/report.html", x->out);
	if (results_write(x->r, x->out, err, sizeof(err)) < 0 ||
	    report_write(x->r, path, err, sizeof(err)) < 0) {
		run_progress_clear(&x->bar);
		fprintf(stderr, "natbed sim: %s\n", err);
		return -1;
	}
	return 0;
}

/* --- the jobs -------------------------------------------------------------- */

static void sim_dispatch(struct sim *x);

static void sim_job_done(void *arg, void *job, struct res_attempt *a)
{
	struct sim *x = arg;
	const struct run_job *j = job;
	size_t k = (size_t)(j - x->plan.jobs);
	int rc;

	a->a = x->t->hosts[j->a].name;
	a->b = x->t->hosts[j->b].name;
	a->nat_a = j->nat_a;
	a->nat_b = j->nat_b;
	a->t_s = j->t_s;
	rc = results_add_attempt(x->r, a);
	if (rc < 0) {
		run_progress_clear(&x->bar);
		fprintf(stderr, "natbed sim: %s -> %s: the attempt was not recorded: %s\n", a->a,
			a->b, strerror(-rc));
	}
	sim_digest(x, a);
	x->attempts++;
	x->ok += a->success;
	x->jstate[k] = SIM_JOB_DONE;
	x->finished++;
	if (x->clone && j->arrival)
		sim_pool_give(x->pool, x->clone[k]);
	if (!j->arrival) {
		x->busy[run_busy_key(x->t, j->a)] = false;
		x->busy[run_busy_key(x->t, j->b)] = false;
		sim_dispatch(x);
	}
	if (x->finished == x->plan.n_jobs)
		x->round_over = true;
}

/* The host job k connects from: its site, or with a site per client a
 * free clone of it, made new (vnet_host_anew) and held until the job is
 * done; -1 when none is free or it cannot be made new. */
static int sim_job_host(struct sim *x, size_t k)
{
	const struct run_job *j = &x->plan.jobs[k];
	int c;

	if (!x->clone || !j->arrival)
		return j->a;
	c = sim_pool_take(x->pool, j->a);
	if (c >= 0 && c != j->a && vnet_host_anew(x->v, c) < 0) {
		sim_pool_give(x->pool, c);
		c = -1;
	}
	x->clone[k] = c;
	return c;
}

/* Starts job k now. A job that cannot start is recorded as failed. */
static void sim_job_start(struct sim *x, size_t k)
{
	const struct run_job *j = &x->plan.jobs[k];
	const struct sim_agent_opts *oa = sim_hosts_agent(x->hosts, j->a);
	const struct sim_agent_opts *ob = sim_hosts_agent(x->hosts, j->b);
	int from = sim_job_host(x, k);
	struct sim_agent_opts at_clone;
	char name[RUN_AGENT_NAME_MAX + 1];
	struct sim_conn_cfg cfg = {
	    .d = vnet_dgram(x->v, from),
	    .o = oa,
	    .name = name,
	    .peer = ob->cfg.name,
	    .method = j->method,
	    .priority = x->priority,
	    .no_relay = x->no_relay,
	    .budget_ns = x->budget_ns,
	};
	int rc;

	if (j->priority)
		sel_priority_parse(j->priority, &cfg.priority);
	if (from >= 0)
		cfg.o = sim_hosts_agent_at(x->hosts, j->a, from, &at_clone);
	if (oa->gate)
		cfg.nonce = sim_hosts_next_nonce(x->hosts, j->a);
	run_connect_name(oa->cfg.name, j->id, x->round, name, sizeof(name));
	x->jstate[k] = SIM_JOB_RUNNING;
	x->started++;
	if (!j->arrival) {
		x->busy[run_busy_key(x->t, j->a)] = true;
		x->busy[run_busy_key(x->t, j->b)] = true;
	}
	if (from < 0)
		rc = -EAGAIN;
	else
		rc = sim_conns_start(x->conns, &cfg, (void *)j);
	if (rc < 0) {
		struct res_attempt a = {.method = j->method,
					.setup_ms = NAN,
					.rtt_ms = NAN,
					.loss = NAN,
					.path = "none",
					.reason = rc == -EINVAL ? "no such method"
						  : rc == -EAGAIN
						      ? "natbed sim: no clone of the site free"
						      : "out of memory"};

		sim_job_done(x, (void *)j, &a);
	}
}

/* Starts what may start of the explicit pairs, as natbed run's loop does:
 * in order, at most --parallel connects at once, never two through one
 * NAT. */
static void sim_dispatch(struct sim *x)
{
	size_t k;

	for (k = x->next_pair; k < x->plan.n_jobs; k++) {
		const struct run_job *j = &x->plan.jobs[k];

		if (j->arrival || x->jstate[k] != SIM_JOB_WAITING)
			continue;
		if (x->started - x->finished >= (uint64_t)x->parallel)
			break;
		if (x->busy[run_busy_key(x->t, j->a)] || x->busy[run_busy_key(x->t, j->b)])
			continue;
		sim_job_start(x, k);
	}
	while (x->next_pair < x->plan.n_jobs &&
	       (x->plan.jobs[x->next_pair].arrival || x->jstate[x->next_pair] != SIM_JOB_WAITING))
		x->next_pair++;
}

static natbed_time_t sim_job_at(const struct sim *x, size_t k)
{
	return x->epoch + (natbed_time_t)llround(x->plan.jobs[k].t_s * 1e6) * 1000;
}

/* The next arrival's start, one event at a time (the heap holds one). */
static void sim_arrival(void *arg, natbed_time_t now)
{
	struct sim *x = arg;
	size_t k = x->next_arrival;

	x->arrival_ev = 0;
	sim_job_start(x, k);
	for (k++; k < x->plan.n_jobs && !x->plan.jobs[k].arrival; k++)
		;
	x->next_arrival = k;
	if (k < x->plan.n_jobs)
		x->arrival_ev = sched_at(x->s, sim_job_at(x, k), sim_arrival, x);
}

/* Round x->round: its plan, drawn with seed + round, from now. */
static int sim_round_start(struct sim *x)
{
	char err[TOPO_ERR_MAX];
	size_t k;

	run_plan_free(&x->plan);
	free(x->jstate);
	x->jstate = NULL;
	if (run_plan_build(x->t, x->seed + x->round, &x->plan, err, sizeof(err)) < 0) {
		fprintf(stderr, "natbed sim: %s\n", err);
		return -1;
	}
	for (k = 0; k < x->plan.n_jobs; k++) {
		const struct run_job *j = &x->plan.jobs[k];

		if (!sim_hosts_agent(x->hosts, j->a) || !sim_hosts_agent(x->hosts, j->b)) {
			fprintf(stderr,
				"natbed sim: %s: host %s runs no `natbed-agent serve`: the "
				"scenario connects agents only\n",
				x->topo_file ? x->topo_file : "(built-in matrix)",
				x->t->hosts[sim_hosts_agent(x->hosts, j->a) ? j->b : j->a].name);
			return -1;
		}
	}
	x->jstate = calloc(x->plan.n_jobs + 1, 1);
	free(x->clone);
	x->clone = x->pool ? calloc(x->plan.n_jobs + 1, sizeof(*x->clone)) : NULL;
	if (!x->jstate || (x->pool && !x->clone))
		return -1;
	x->total += x->plan.n_jobs;
	x->started = x->finished = 0;
	x->next_pair = x->next_arrival = 0;
	x->round_over = x->plan.n_jobs == 0;
	x->epoch = sched_now(x->s);
	sim_dispatch(x);
	for (k = 0; k < x->plan.n_jobs && !x->plan.jobs[k].arrival; k++)
		;
	x->next_arrival = k;
	if (k < x->plan.n_jobs &&
	    !(x->arrival_ev = sched_at(x->s, sim_job_at(x, k), sim_arrival, x)))
		return -1;
	return 0;
}

/* After a round: the next one (--until-ci), or the end. */
static int sim_round_end(struct sim *x)
{
	x->round++;
	if (x->until_ci <= 0 || x->round >= (unsigned)x->max_rounds ||
	    results_ci_met(x->r, x->until_ci)) {
		x->finished_all = true;
		return 0;
	}
	return sim_round_start(x);
}

static const struct ckfn sim_fns[] = {CKFN(sim_arrival), CKFN(sim_job_done)};
const struct ckfns sim_ckfns = CKFNS(sim, sim_fns);

/* --- checkpoints ----------------------------------------------------------- */

static json_t *sim_engines(struct sim *x)
{
	struct emu_parts p;

	vnet_parts(x->v, &p);
	return emu_ckpt_state(&p, x->t, sched_now(x->s));
}

static void sim_point(const struct sim *x, struct sim_ckpt_point *pt)
{
	*pt = (struct sim_ckpt_point){
	    .at_ns = sched_now(x->s),
	    .events = x->events,
	    .round = x->round,
	    .jobs_started = x->started,
	    .jobs_done = x->finished,
	    .attempts = x->attempts,
	    .digest = x->digest,
	    .alive = sim_conns_alive(x->conns),
	    .pending = sched_pending(x->s),
	};
}

static json_t *sim_settings(const struct sim *x)
{
	json_t *o = json_object();
	size_t k;

	for (k = 0; o && k < CK_COUNT; k++)
		if (config_is_set(&x->st->cfg, (enum config_key)k) &&
		    !config_key_output((enum config_key)k))
			json_object_set_new(
			    o, config_key_name((enum config_key)k),
			    json_string(config_get(&x->st->cfg, (enum config_key)k)));
	return o;
}

static int sim_checkpoint(struct sim *x)
{
	struct sim_ckpt_head head = {
	    .topology = x->t->name,
	    .topology_file = x->topo_file ? x->topo_file : "(built-in matrix)",
	    .yaml = x->yaml,
	    .yaml_len = x->yaml_len,
	    .settings = sim_settings(x),
	    .seed = x->seed,
	};
	json_t *engines = sim_engines(x), *state;
	struct sim_ckpt_point pt;
	char why[512];
	int rc = -1;

	sim_point(x, &pt);
	state = sim_state_save(x, why, sizeof(why));
	if (!state && !x->said_replay) {
		/* the file still restores: by replaying to its time */
		run_progress_clear(&x->bar);
		fprintf(stderr,
			"natbed sim: %s holds the run's inputs, not its whole state (%s): a "
			"restore replays the run to its time\n",
			x->ckpt_path, why);
		x->said_replay = true;
	}
	if (engines && head.settings)
		rc = sim_ckpt_write(x->ckpt_path, &head, &pt, engines, state, x->err,
				    sizeof(x->err));
	else
		snprintf(x->err, sizeof(x->err), "%s: out of memory", x->ckpt_path);
	json_decref(state);
	json_decref(engines);
	json_decref(head.settings);
	if (rc < 0) {
		run_progress_clear(&x->bar);
		fprintf(stderr, "natbed sim: %s\n", x->err);
	}
	return rc;
}

/* The replay reached the checkpoint, or its state was restored: the
 * same progress and engines as the file's, or a refusal. */
static int sim_restored(struct sim *x)
{
	json_t *engines = sim_engines(x);
	bool replayed = !x->restore->state;
	struct sim_ckpt_point pt;
	int rc;

	sim_point(x, &pt);
	rc = engines ? sim_ckpt_verify(x->restore, x->restore_path, replayed, &pt, engines, x->err,
				       sizeof(x->err))
		     : -1;
	json_decref(engines);
	if (rc < 0) {
		run_progress_clear(&x->bar);
		fprintf(stderr, "natbed sim: --restore %s\n", x->err);
		return -1;
	}
	run_progress_clear(&x->bar);
	fprintf(stderr,
		replayed
		    ? "natbed sim: replayed to %.3f s of virtual time and found the state of "
		      "%s\n"
		    : "natbed sim: restored the whole state at %.3f s of virtual time from %s\n",
		(double)pt.at_ns / NATBED_NS_PER_S, x->restore_path);
	x->replaying = false;
	return 0;
}

/* --- the loop -------------------------------------------------------------- */

static void sim_tick(struct sim *x, double now)
{
	double elapsed = now - x->t0, left = -1;
	size_t done = (size_t)x->attempts;

	if (done && x->total > done)
		left = elapsed / (double)done * (double)(x->total - done);
	run_progress_draw(&x->bar, done, x->total, x->ok, elapsed, left);
}

/* Waits for every serving agent to register, then starts round 0. */
static int sim_check_ready(struct sim *x)
{
	const char *who = NULL, *why = NULL;
	int r = sim_hosts_ready(x->hosts, &who, &why);

	if (r > 0) {
		x->ready = true;
		return sim_round_start(x);
	}
	if (r < 0) {
		fprintf(stderr, "natbed sim: the agent on %s failed: %s\n", who, why);
		return -1;
	}
	if (sched_now(x->s) > SIM_READY_S * NATBED_NS_PER_S) {
		fprintf(stderr, "natbed sim: the agent on %s did not register within %d s\n", who,
			SIM_READY_S);
		return -1;
	}
	return 0;
}

/* Runs events until every round is over, a signal, or a failure: 0, 1
 * on a signal, -1 on a failure (said). Checkpoints at multiples of
 * checkpoint-every of virtual time; with --restore, the replay to the
 * checkpoint's time first. */
static int sim_loop(struct sim *x)
{
	unsigned long n = 0;
	natbed_time_t next;

	while (!x->finished_all) {
		if (!x->ready && sim_check_ready(x) < 0)
			return -1;
		if (x->ready && x->round_over && sim_round_end(x) < 0)
			return -1;
		if (x->finished_all)
			break;
		next = sched_next_due(x->s);
		if (x->ready && x->started == x->finished && !x->arrival_ev) {
			fprintf(stderr,
				"natbed sim: %" PRIu64 " of %zu connects could not start (a bug)\n",
				(uint64_t)x->plan.n_jobs - x->finished, x->plan.n_jobs);
			return -1;
		}
		if (next < 0) {
			fprintf(stderr,
				"natbed sim: nothing left to happen, %" PRIu64 " of %zu connects "
				"unfinished\n",
				(uint64_t)x->plan.n_jobs - x->finished, x->plan.n_jobs);
			return -1;
		}
		if (x->replaying && next > x->restore->pt.at_ns) {
			sched_run_until(x->s, x->restore->pt.at_ns);
			if (sim_restored(x) < 0)
				return -1;
			continue;
		}
		if (x->ckpt_path && next > x->next_ckpt) {
			sched_run_until(x->s, x->next_ckpt);
			x->next_ckpt += x->ckpt_every;
			/* the results so far beside it: what an interrupted run leaves */
			if (!x->replaying && (sim_checkpoint(x) < 0 || sim_save(x) < 0))
				return -1;
			continue;
		}
		x->events += sched_run_until(x->s, next);
		if (++n % SIM_WALL_EVERY == 0) {
			if (sigstop_count())
				return 1;
			sim_tick(x, sim_wall());
		}
	}
	return 0;
}

/* --- set-up ---------------------------------------------------------------- */

/* The topology's text, for checkpoints: FILE's, or the built-in matrix. */
static int sim_read_yaml(struct sim *x)
{
	FILE *f;
	long len;

	if (x->st->topo_text) {
		x->yaml = strndup(x->st->topo_text, x->st->topo_text_len);
		x->yaml_len = x->st->topo_text_len;
		return x->yaml ? 0 : -1;
	}
	if (!x->st->file) {
		x->yaml = strndup(natbed_matrix_yaml, natbed_matrix_yaml_len);
		x->yaml_len = natbed_matrix_yaml_len;
		return x->yaml ? 0 : -1;
	}
	f = fopen(x->st->file, "r");
	if (!f || fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
	    !(x->yaml = malloc((size_t)len + 1)) ||
	    fread(x->yaml, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "natbed sim: %s: %s\n", x->st->file, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	x->yaml[len] = '\0';
	x->yaml_len = (size_t)len;
	return 0;
}

/* A site per client: clones of every arrival site, as many as the most
 * of its clients that any round to be played may have connecting at once
 * (a connect ends SIM_CONN_MAX_S after its start at the latest). */
static int sim_clone_sites(struct sim *x)
{
	unsigned rounds = x->until_ci > 0 ? (unsigned)x->max_rounds : 1, r;
	uint32_t *peak = calloc(x->t->n_hosts + 1, sizeof(*peak));
	uint32_t *round_peak = calloc(x->t->n_hosts + 1, sizeof(*peak));
	char err[TOPO_ERR_MAX + 256];
	size_t h;
	int rc = -1;

	for (r = 0; peak && round_peak && r < rounds; r++) {
		if (run_plan_site_peaks(x->t, x->seed + r, SIM_CONN_MAX_S + 1, round_peak) < 0)
			break;
		for (h = 0; h < x->t->n_hosts; h++)
			if (round_peak[h] > peak[h])
				peak[h] = round_peak[h];
	}
	if (r < rounds)
		snprintf(err, sizeof(err), "out of memory");
	else
		rc = sim_pool_new(x->t, peak, &x->pool, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "natbed sim: %s: --site-per-client: %s\n",
			x->topo_file ? x->topo_file : "(built-in matrix)", err);
	free(peak);
	free(round_peak);
	return rc;
}

/* The virtual network, every host's program, the connects; with hosts
 * (a checkpoint's state), the scheduler at at_ns and every program built
 * from it instead of started (sim_state.c fills the rest). */
int sim_world(struct sim *x, const json_t *hosts, natbed_time_t at_ns, struct ckr *r)
{
	char err[TOPO_ERR_MAX + 512];

	x->t->seed = x->seed; /* as natbed up --seed hands natbed-emu */
	if (config_bool(&x->st->cfg, CK_SITE_PER_CLIENT) && sim_clone_sites(x) < 0)
		return -1;
	x->s = sched_new(clock_virtual_clock(&x->vc), &x->vc);
	if (!x->s)
		return -1;
	if (hosts)
		clock_virtual_set(&x->vc, at_ns);
	x->v = vnet_new(&(struct vnet_cfg){.topo = x->t, .sched = x->s}, err, sizeof(err));
	if (!x->v) {
		fprintf(stderr, "natbed sim: %s\n", err);
		return -1;
	}
	err[0] = 0;
	if (hosts ? sim_hosts_ckpt_new(x->v, x->t, hosts, r, &x->hosts, err, sizeof(err))
		  : sim_hosts_new(x->v, x->t, &x->hosts, err, sizeof(err))) {
		if (err[0]) /* else a part of the state, said by the caller */
			fprintf(stderr, "natbed sim: %s: %s\n",
				x->topo_file ? x->topo_file : "(built-in matrix)", err);
		return -1;
	}
	x->conns = sim_conns_new(x->s, sim_job_done, x);
	x->busy = calloc(run_busy_keys(x->t) + 1, sizeof(*x->busy));
	return x->conns && x->busy ? 0 : -1;
}

/* Port-exhaustion drops each NAT counted (natbed run asks natbed-emu). */
static void sim_exhaustion(struct sim *x)
{
	size_t k;

	for (k = 0; k < x->t->n_nats; k++) {
		const struct nat_counters *c = nat_counters(vnet_nat(x->v, x->t->nats[k].name));
		unsigned long n =
		    (unsigned long)(c->drops[NAT_DROP_EXHAUSTED] + c->drops[NAT_DROP_PORT_LIMIT]);

		/* a clone's counted at the NAT it copies */
		if (n)
			results_add_port_exhaustion(
			    x->r,
			    x->t->nats[x->pool ? sim_pool_nat_of(x->pool, (int)k) : (int)k].name,
			    n);
	}
}

static void sim_free(struct sim *x)
{
	/* the connects and programs before the network, which goes before
	 * the scheduler holding their events */
	sim_conns_free(x->conns);
	sim_hosts_free(x->hosts);
	vnet_free(x->v);
	sched_free(x->s);
	run_plan_free(&x->plan);
	free(x->jstate);
	free(x->clone);
	sim_pool_free(x->pool);
	free(x->busy);
	free(x->yaml);
	results_free(x->r);
	if (x->restore) {
		sim_ckpt_free(x->restore);
		free(x->restore);
	}
}

/* --restore FILE: the run's inputs from the checkpoint, the command line
 * adding only where the results and the checkpoints go. */
static int sim_restore_setup(struct sim *x, struct run_setup *st)
{
	struct run_flag kept[RUN_FLAGS_MAX];
	int n_kept = 0, i, n = 0;
	const char *key;
	json_t *v;

	x->restore = calloc(1, sizeof(*x->restore));
	if (!x->restore || sim_ckpt_load(st->restore, x->restore, x->err, sizeof(x->err)) < 0) {
		fprintf(stderr, "natbed sim: --restore %s\n",
			x->restore ? x->err : "out of memory");
		return 2;
	}
	x->restore_path = st->restore;
	x->replaying = true;
	if (st->file) {
		fprintf(stderr, "natbed sim: --restore takes the topology from the checkpoint, not "
				"from FILE\n");
		return 2;
	}
	for (i = 0; i < st->n_flags; i++) {
		enum config_key k = st->flags[i].key;

		if (!config_key_output(k)) {
			fprintf(stderr,
				"natbed sim: --%s: with --restore every setting is the "
				"checkpoint's (only --out, --checkpoint and --checkpoint-every "
				"may be given)\n",
				config_key_name(k));
			return 2;
		}
		kept[n_kept++] = st->flags[i];
	}
	json_object_foreach((json_t *)x->restore->settings, key, v)
	{
		int k = config_key_find(key);

		if (k < 0 || !json_is_string(v) || n == RUN_FLAGS_MAX - n_kept) {
			fprintf(stderr, "natbed sim: --restore %s: settings.%s: not a setting\n",
				st->restore, key);
			return 2;
		}
		st->flags[n++] = (struct run_flag){(enum config_key)k, json_string_value(v)};
	}
	for (i = 0; i < n_kept; i++)
		st->flags[n++] = kept[i];
	st->n_flags = n;
	st->no_config_file = true;
	st->topo_text = x->restore->yaml;
	st->topo_text_len = x->restore->yaml_len;
	str_copy(st->topo_name, sizeof(st->topo_name), x->restore->topology_file);
	if (strcmp(x->restore->topology_file, "(built-in matrix)") != 0)
		st->file = x->restore->topology_file;
	return 0;
}

/* The effective settings into x. 0, or 2 on a bad value (said on
 * stderr). */
static int sim_settings_read(struct sim *x)
{
	const struct config *c = &x->st->cfg;
	const struct topo_scenario *sc = x->t->scenario;

	x->seed = config_u64(c, CK_SEED);
	x->json = x->st->json;
	x->until_ci = config_double(c, CK_UNTIL_CI);
	x->max_rounds = (int)config_u64(c, CK_MAX_ROUNDS);
	x->parallel = (int)config_u64(c, CK_PARALLEL);
	x->no_relay = sc ? sc->no_relay : false;
	x->budget_ns = sc ? sc->budget_ns : 0;
	x->priority = SEL_BALANCED;
	if (sc && sc->priority[0])
		sel_priority_parse(sc->priority, &x->priority);
	if (config_is_set(c, CK_CHECKPOINT)) {
		x->ckpt_path = config_get(c, CK_CHECKPOINT);
		if (units_parse_duration(config_get(c, CK_CHECKPOINT_EVERY), &x->ckpt_every) < 0 ||
		    x->ckpt_every <= 0) {
			fprintf(stderr, "natbed sim: --checkpoint-every: not a duration\n");
			return 2;
		}
		x->next_ckpt = x->ckpt_every;
	}
	if (config_is_set(c, CK_OUT))
		str_copy(x->out, sizeof(x->out), config_get(c, CK_OUT));
	else
		snprintf(x->out, sizeof(x->out), "out/%s-sim", x->t->name);
	x->topo_file = x->st->file;
	return 0;
}

/* Runs the simulation and writes its results: the exit status. */
static int sim_main(struct sim *x)
{
	const json_t *state = x->restore ? x->restore->state : NULL;
	int rc;

	if (sim_read_yaml(x) < 0)
		return 1;
	x->r = results_new(x->t->name, x->seed, time(NULL));
	if (!x->r)
		return 1;
	results_set_mode(x->r, "sim");
	run_opts_record(x->st, x->topo_file, x->r);
	x->t0 = sim_wall();
	if (state) {
		if (sim_state_restore(x, state, x->restore->pt.at_ns) < 0 || sim_restored(x) < 0)
			return 2;
		/* the first checkpoint due after the file's (a replay gets
		 * there by passing the earlier ones) */
		if (x->ckpt_path)
			x->next_ckpt = (x->restore->pt.at_ns / x->ckpt_every + 1) * x->ckpt_every;
	} else if (sim_world(x, NULL, 0, NULL) < 0) {
		return 1;
	}
	rc = sim_loop(x);
	run_progress_clear(&x->bar);
	if (rc < 0 && x->replaying) /* the replay failed: nothing of it is worth writing */
		return 2;
	if (rc > 0 && x->ckpt_path && !x->replaying)
		sim_checkpoint(x); /* where a restore goes on from */
	sim_exhaustion(x);
	x->t_end = sim_wall();
	if (sim_save(x) < 0 || rc < 0)
		return 1;
	if (rc > 0)
		return SIM_EXIT_SIGNALLED;
	return results_overall(x->r)->successes == results_overall(x->r)->attempts
		   ? 0
		   : SIM_EXIT_FAILED;
}

int cmd_sim(int argc, char **argv)
{
	struct run_setup st = {.cmd = "sim", .sim = true};
	struct sim x = {.st = &st};
	char out[PATH_MAX];
	int rc;

	rc = run_opts_parse(argc, argv, &st, sim_usage);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (st.restore && (rc = sim_restore_setup(&x, &st)) != 0)
		goto done;
	if ((rc = run_opts_settle(&st)) != 0)
		goto done;
	x.t = st.t;
	if ((rc = sim_settings_read(&x)) != 0)
		goto done;
	if (x.restore && x.restore->seed != x.seed) {
		fprintf(stderr,
			"natbed sim: --restore %s: the checkpoint's seed is not its run's\n",
			st.restore);
		rc = 2;
		goto done;
	}
	log_init("natbed sim", LOG_LVL_WARN);
	str_copy(out, sizeof(out), x.out);
	if (cli_mkdirs(out) < 0 || !realpath(out, x.out)) {
		fprintf(stderr, "natbed sim: cannot create the output directory %s: %s\n", out,
			strerror(errno));
		rc = 1;
		goto done;
	}
	/* refused now, not at the first checkpoint (or never, in a short run) */
	if (x.ckpt_path && sim_ckpt_probe(x.ckpt_path, x.err, sizeof(x.err)) < 0) {
		fprintf(stderr, "natbed sim: --checkpoint %s\n", x.err);
		rc = 1;
		goto done;
	}
	if (sigstop_catch() < 0) {
		fprintf(stderr, "natbed sim: cannot catch signals\n");
		rc = 1;
		goto done;
	}
	run_progress_init(&x.bar, stderr);
	rc = sim_main(&x);
	if (x.r && (rc == 0 || rc == SIM_EXIT_FAILED || rc == SIM_EXIT_SIGNALLED)) {
		if (x.json)
			results_write_json(x.r, stdout);
		else
			report_print_matrix(x.r, stdout, isatty(STDOUT_FILENO));
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		fprintf(stderr,
			"natbed sim: %zu connects, %u connected, %.3f s of virtual time, %" PRIu64
			" events in %.2f s (%.2f s of CPU, %ld MB at most; %.2f s of it writing "
			"the results); results in %s\n",
			results_n_attempts(x.r), results_overall(x.r)->successes,
			(double)sched_now(x.s) / NATBED_NS_PER_S, x.events, sim_wall() - x.t0,
			(double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
			    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
			ru.ru_maxrss / 1024, sim_wall() - x.t_end, x.out);
		if (x.pool && sim_pool_clones(x.pool))
			fprintf(stderr,
				"natbed sim: a site per client: %zu copies of sites, each its host "
				"alone behind a copy of its NAT (and gates), taken by one client "
				"at a time\n",
				sim_pool_clones(x.pool));
		else if (x.pool)
			fprintf(stderr, "natbed sim: a site per client: every site is public, "
					"no NAT to copy: their clients shared them\n");
	}
done:
	sim_free(&x);
	run_opts_free(&st);
	return rc;
}
