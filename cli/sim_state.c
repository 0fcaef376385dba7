/* natbed sim: the whole state of a run in a checkpoint, and a run built
 * again from it (sim_int.h).
 *
 *   "state": {"sim": ID, "sched": ID,        the run and its scheduler, declared
 *             "queue": ckw_sched(),           every event pending, in order
 *             "vnet": vnet_ckpt_save(),       the network, its engines, sockets, links
 *             "hosts": sim_hosts_ckpt_save(), every host's programs
 *             "conns": sim_conns_ckpt_save(), every connect running
 *             "pool": sim_pool_ckpt_save() | null,
 *             "run": {...},                   the round under way (below)
 *             "attempts": sim_ckpt_attempts()}
 *
 * The round's plan is not written: it is run_plan_build() of the
 * topology and seed + round, the same plan again. What is written of it
 * is where each job stands ("jstate": one digit a job), the jobs running
 * (their index, the id a connect refers to them by, the clone each took)
 * and the pairs busy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_core.h"
#include "dgstund.h"
#include "discover.h"
#include "firewall.h"
#include "gate.h"
#include "gatec.h"
#include "method.h"
#include "method_checks.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "nat.h"
#include "pcpc.h"
#include "probe.h"
#include "rdv.h"
#include "rdvclient.h"
#include "rdvtxn.h"
#include "results.h"
#include "sim_conn.h"
#include "sim_hosts.h"
#include "sim_int.h"
#include "sim_pool.h"
#include "turn.h"
#include "turnd.h"
#include "turnsock.h"
#include "vnet.h"

/* Every module whose functions and static objects a run's state holds. */
static const struct ckfns *const sim_tables[] = {
    &sim_ckfns,	     &sim_hosts_ckfns, &sim_conn_ckfns, &vnet_ckfns,	&nat_ckfns,
    &fw_ckfns,	     &gate_ckfns,      &dgstund_ckfns,	&rdv_ckfns,	&turnd_ckfns,
    &turn_ckfns,     &turnsock_ckfns,  &agent_ckfns,	&rdvc_ckfns,	&rdvtxn_ckfns,
    &probe_ckfns,    &pcpc_ckfns,      &gatec_ckfns,	&disc_ckfns,	&mc_ckfns,
    &trav_try_ckfns, &birthday_ckfns,  &predict_ckfns,	&portmap_ckfns,
};

#define SIM_TABLES (sizeof(sim_tables) / sizeof(sim_tables[0]))

/* --- the round under way ---------------------------------------------------- */

static json_t *sim_run_save(const struct sim *x, struct ckw *w)
{
	json_t *running = json_array(), *busy = json_array(), *j = NULL;
	char *jstate = malloc(x->plan.n_jobs + 1);
	bool bad = !jstate || !running || !busy;
	size_t k;

	for (k = 0; !bad && k < x->plan.n_jobs; k++) {
		jstate[k] = (char)('0' + x->jstate[k]);
		if (x->jstate[k] == SIM_JOB_RUNNING)
			bad = json_array_append_new(running,
						    json_pack("[Ioi]", (json_int_t)k,
							      ckw_obj(w, &x->plan.jobs[k]),
							      x->clone ? x->clone[k] : -1)) < 0;
	}
	for (k = 0; !bad && k < run_busy_keys(x->t); k++)
		if (x->busy[k])
			bad = json_array_append_new(busy, json_integer((json_int_t)k)) < 0;
	if (!bad) {
		jstate[x->plan.n_jobs] = 0;
		j = json_pack("{s:I,s:s,s:o,s:o,s:I,s:I,s:o,s:o,s:I,s:o,s:b,s:b,s:b,s:o,s:o,s:o,"
			      "s:o,s:I}",
			      "round", (json_int_t)x->round, "jstate", jstate, "running", running,
			      "busy", busy, "next_pair", (json_int_t)x->next_pair, "next_arrival",
			      (json_int_t)x->next_arrival, "started", jsonck_u64(x->started, false),
			      "finished", jsonck_u64(x->finished, false), "epoch",
			      (json_int_t)x->epoch, "arrival_ev", ckw_timer(w, x->arrival_ev),
			      "ready", x->ready, "round_over", x->round_over, "finished_all",
			      x->finished_all, "events", jsonck_u64(x->events, false), "attempts",
			      jsonck_u64(x->attempts, false), "ok", jsonck_u64(x->ok, false),
			      "digest", jsonck_u64(x->digest, true), "total", (json_int_t)x->total);
	} else {
		json_decref(running);
		json_decref(busy);
	}
	free(jstate);
	if (!j)
		ckw_fail(w, "run: out of memory");
	return j;
}

/* An unsigned count of j's member key into *out. 0, or -1. */
static int sim_size(const json_t *j, const char *key, size_t *out)
{
	json_int_t v;

	if (jsonck_int(json_object_get(j, key), 0, INT64_MAX, &v) < 0)
		return -1;
	*out = (size_t)v;
	return 0;
}

/* The round under way as j says: its plan drawn again, where each job
 * stands, the counters. 0, or -1 (said in r). */
static int sim_run_fill(struct sim *x, const json_t *j, struct ckr *r)
{
	const char *jstate = json_string_value(json_object_get(j, "jstate"));
	const json_t *running = json_object_get(j, "running"), *busy = json_object_get(j, "busy");
	char err[TOPO_ERR_MAX];
	json_int_t round, epoch;
	size_t k, next_pair, next_arrival, total;
	const json_t *e;

	if (jsonck_int(json_object_get(j, "round"), 0, INT32_MAX, &round) < 0 ||
	    jsonck_int(json_object_get(j, "epoch"), 0, INT64_MAX, &epoch) < 0 || !jstate ||
	    !json_is_array(running) || !json_is_array(busy) ||
	    sim_size(j, "next_pair", &next_pair) < 0 ||
	    sim_size(j, "next_arrival", &next_arrival) < 0 || sim_size(j, "total", &total) < 0 ||
	    jsonck_u64_read(json_object_get(j, "started"), false, &x->started) < 0 ||
	    jsonck_u64_read(json_object_get(j, "finished"), false, &x->finished) < 0 ||
	    jsonck_u64_read(json_object_get(j, "events"), false, &x->events) < 0 ||
	    jsonck_u64_read(json_object_get(j, "attempts"), false, &x->attempts) < 0 ||
	    jsonck_u64_read(json_object_get(j, "ok"), false, &x->ok) < 0 ||
	    jsonck_u64_read(json_object_get(j, "digest"), true, &x->digest) < 0 ||
	    !json_is_boolean(json_object_get(j, "ready")) ||
	    !json_is_boolean(json_object_get(j, "round_over")) ||
	    !json_is_boolean(json_object_get(j, "finished_all")))
		return ckr_fail(r, "run: a field missing or out of range");
	x->round = (unsigned)round;
	x->ready = json_is_true(json_object_get(j, "ready"));
	/* a round is planned once every serving agent registered */
	if (x->ready && run_plan_build(x->t, x->seed + x->round, &x->plan, err, sizeof(err)) < 0)
		return ckr_fail(r, "run: round %u: %s", x->round, err);
	if (strlen(jstate) != x->plan.n_jobs || next_pair > x->plan.n_jobs ||
	    next_arrival > x->plan.n_jobs)
		return ckr_fail(r, "run: not the %zu jobs of round %u", x->plan.n_jobs, x->round);
	x->jstate = calloc(x->plan.n_jobs + 1, 1);
	x->clone = x->pool ? calloc(x->plan.n_jobs + 1, sizeof(*x->clone)) : NULL;
	if (!x->jstate || (x->pool && !x->clone))
		return ckr_fail(r, "run: out of memory");
	for (k = 0; k < x->plan.n_jobs; k++) {
		if (jstate[k] < '0' + SIM_JOB_WAITING || jstate[k] > '0' + SIM_JOB_DONE)
			return ckr_fail(r, "run: jstate[%zu]: not a job's state", k);
		x->jstate[k] = (uint8_t)(jstate[k] - '0');
	}
	json_array_foreach(running, k, e)
	{
		json_int_t job, clone;

		if (jsonck_int(json_array_get(e, 0), 0, (json_int_t)x->plan.n_jobs - 1, &job) < 0 ||
		    x->jstate[job] != SIM_JOB_RUNNING ||
		    jsonck_int(json_array_get(e, 2), -1, INT32_MAX, &clone) < 0)
			return ckr_fail(r, "run: running[%zu]: not a running job", k);
		if (x->clone)
			x->clone[job] = (int)clone;
		if (ckr_obj(r, json_array_get(e, 1), &x->plan.jobs[job]) < 0)
			return -1;
	}
	json_array_foreach(busy, k, e)
	{
		json_int_t key;

		if (jsonck_int(e, 0, (json_int_t)run_busy_keys(x->t) - 1, &key) < 0)
			return ckr_fail(r, "run: busy[%zu]: not a pair's key", k);
		x->busy[key] = true;
	}
	x->next_pair = next_pair;
	x->next_arrival = next_arrival;
	x->total = total;
	x->epoch = epoch;
	x->round_over = json_is_true(json_object_get(j, "round_over"));
	x->finished_all = json_is_true(json_object_get(j, "finished_all"));
	return ckr_timer(r, json_object_get(j, "arrival_ev"), &x->arrival_ev);
}

/* --- the whole state --------------------------------------------------------- */

json_t *sim_state_save(struct sim *x, char *why, size_t whylen)
{
	struct ckw *w = ckw_new(sim_tables, SIM_TABLES);
	json_t *j = json_object();

	why[0] = 0;
	if (!w || !j) {
		snprintf(why, whylen, "out of memory");
		ckw_free(w);
		json_decref(j);
		return NULL;
	}
	/* the queue first: timers are written as places in it */
	json_object_set_new(j, "queue", ckw_sched(w, x->s));
	json_object_set_new(j, "sim", ckw_obj(w, x));
	json_object_set_new(j, "sched", ckw_obj(w, x->s));
	json_object_set_new(j, "vnet", vnet_ckpt_save(x->v, w));
	json_object_set_new(j, "hosts", sim_hosts_ckpt_save(x->hosts, w));
	json_object_set_new(j, "conns", sim_conns_ckpt_save(x->conns, w));
	json_object_set_new(j, "pool", x->pool ? sim_pool_ckpt_save(x->pool) : json_null());
	json_object_set_new(j, "run", sim_run_save(x, w));
	json_object_set_new(j, "attempts", sim_ckpt_attempts(x->r));
	if (ckw_finish(w, why, whylen) < 0 || json_object_size(j) != 9 ||
	    !json_object_get(j, "attempts") || !json_object_get(j, "pool")) {
		if (!why[0])
			snprintf(why, whylen, "out of memory");
		json_decref(j);
		j = NULL;
	}
	ckw_free(w);
	return j;
}

int sim_state_restore(struct sim *x, const json_t *state, natbed_time_t at_ns)
{
	struct ckr *r = ckr_new(sim_tables, SIM_TABLES);
	const json_t *pool = json_object_get(state, "pool");
	char err[512] = "";
	int rc = -1;

	if (!r) {
		fprintf(stderr, "natbed sim: --restore: out of memory\n");
		return -1;
	}
	if (sim_world(x, json_object_get(state, "hosts"), at_ns, r) < 0) {
		if (ckr_finish(r, err, sizeof(err)) < 0) /* a host's part, said in r */
			goto said;
		goto out;
	}
	if ((pool && !json_is_null(pool)) != (x->pool != NULL) ||
	    (x->pool && sim_pool_ckpt_fill(x->pool, pool, err, sizeof(err)) < 0)) {
		if (!err[0])
			snprintf(err, sizeof(err), "state.pool: not this run's sites");
		goto said;
	}
	if (sim_ckpt_attempts_add(x->r, json_object_get(state, "attempts"), err, sizeof(err)) < 0)
		goto said;
	ckr_obj(r, json_object_get(state, "sim"), x);
	ckr_obj(r, json_object_get(state, "sched"), x->s);
	vnet_ckpt_fill(x->v, json_object_get(state, "vnet"), r);
	sim_conns_ckpt_fill(x->conns, json_object_get(state, "conns"), r);
	sim_run_fill(x, json_object_get(state, "run"), r);
	ckr_sched(r, x->s, json_object_get(state, "queue"));
	if (ckr_finish(r, err, sizeof(err)) < 0)
		goto said;
	rc = 0;
	goto out;
said:
	fprintf(stderr, "natbed sim: --restore %s: %s\n", x->restore_path, err);
out:
	if (rc < 0) {
		/* built in part, their pointers unfilled: never freed (nor run),
		 * the process ends */
		x->hosts = NULL;
		x->conns = NULL;
	}
	ckr_free(r);
	return rc;
}
