/* natbed sim: one scenario connect as a state machine (sim_conn.h). */
#include "sim_conn.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "natbed/ckpt.h"
#include "natbed/strcopy.h"

struct sim_conn {
	struct sim_conns *cs;
	struct sim_conn *prev, *next; /* alive */
	void *job;
	const struct dgram *d;
	struct agent_config cfg;
	struct agent_plan plan;
	const struct method *table[AGENT_PLAN_MAX];
	bool gate;
	struct gatec_cfg gate_cfg;
	struct gatec *gc;
	struct gatec_report gate_rep;
	struct agent *a;
	uint64_t step_ev;  /* the next step, on the scheduler */
	uint64_t guard_ev; /* SIM_CONN_MAX_S after the start */
	bool reported;
};

struct sim_conns {
	struct sched *s;
	sim_conn_done_fn done;
	void *arg;
	struct sim_conn *alive;
	size_t n_alive;
};

struct sim_conns *sim_conns_new(struct sched *s, sim_conn_done_fn done, void *arg)
{
	struct sim_conns *cs = calloc(1, sizeof(*cs));

	if (cs) {
		cs->s = s;
		cs->done = done;
		cs->arg = arg;
	}
	return cs;
}

static void sim_conn_free(struct sim_conn *c)
{
	struct sim_conns *cs = c->cs;

	if (c->prev)
		c->prev->next = c->next;
	else
		cs->alive = c->next;
	if (c->next)
		c->next->prev = c->prev;
	cs->n_alive--;
	if (c->step_ev)
		sched_cancel(cs->s, c->step_ev);
	if (c->guard_ev)
		sched_cancel(cs->s, c->guard_ev);
	gatec_free(c->gc);
	agent_free(c->a);
	free(c);
}

/* The process exits: the agent gives its name up (agent_cli_end). */
static void sim_conn_end(void *arg, natbed_time_t now)
{
	struct sim_conn *c = arg;

	c->step_ev = 0;
	if (c->a)
		agent_leave(c->a);
	sim_conn_free(c);
}

/* x rounded to the microsecond of a millisecond value, as the agent's
 * line writes it (agent_connect.c); NAN stays NAN. */
static double sim_ms(double x)
{
	return isfinite(x) ? round(x * 1000) / 1000 : NAN;
}

/* The report as natbed run reads the agent's result line (report_json in
 * agent_connect.c, r_joutcome in results.c): nulls where the line has
 * them, and with a gate the auth time counted into setup_ms
 * (agent_gate_json). */
static void sim_conn_report(struct sim_conn *c, const struct agent_report *r)
{
	struct res_try tried[AGENT_PLAN_MAX];
	char local[DG_EP_STR], remote[DG_EP_STR];
	struct res_attempt a = {0};
	natbed_time_t now = sched_now(c->cs->s);
	int i;

	if (c->reported)
		return;
	c->reported = true;
	for (i = 0; i < r->ntried && i < AGENT_PLAN_MAX; i++)
		tried[i] = (struct res_try){
		    .method = r->tried[i].m->spec.name,
		    .success = r->tried[i].success,
		    .ms = sim_ms(r->tried[i].ms),
		    .reason = r->tried[i].success ? NULL : r->tried[i].reason,
		};
	a.method = r->m ? r->m->spec.name : NULL;
	a.success = r->success;
	a.setup_ms = r->success ? sim_ms(r->setup_ms) : NAN;
	a.rtt_ms = r->probe.rtt_ms >= 0 ? sim_ms(r->probe.rtt_ms) : NAN;
	a.loss = r->success && r->probe.sent ? r->probe.loss : NAN;
	a.path = r->path;
	a.local = r->success ? dg_ep_str(&r->local, local) : NULL;
	a.remote = r->success ? dg_ep_str(&r->remote, remote) : NULL;
	a.reason = r->success ? NULL : r->reason;
	a.tried = tried;
	a.n_tried = (size_t)i;
	if (c->gate) {
		a.auth_ms = sim_ms(c->gate_rep.auth_ms);
		if (isfinite(a.setup_ms))
			a.setup_ms = sim_ms(a.setup_ms + c->gate_rep.auth_ms);
	}
	c->cs->done(c->cs->arg, c->job, &a);
	if (!c->step_ev)
		c->step_ev = sched_at(c->cs->s, now, sim_conn_end, c);
}

static void sim_on_report(void *arg, struct agent *a, const struct agent_report *r)
{
	sim_conn_report(arg, r);
}

/* A connect that ends before its agent ran: the gate said no, or the
 * agent could not start (agent_gate_report in agent_gate.c, or the
 * process dying without a line). */
static void sim_conn_fail(struct sim_conn *c, const char *reason)
{
	struct agent_report r = {0};

	str_copy(r.peer, sizeof(r.peer), c->plan.peer);
	r.m = c->plan.nsteps ? c->plan.steps[0].m : NULL;
	r.path = "none";
	r.probe.rtt_ms = r.probe.rtt_min_ms = r.probe.rtt_max_ms = -1;
	str_copy(r.reason, sizeof(r.reason), reason);
	sim_conn_report(c, &r);
}

static void sim_conn_agent(struct sim_conn *c)
{
	struct agent_ops ops = {.report = sim_on_report, .arg = c};
	char why[AGENT_REASON_MAX];
	int r = agent_new(c->d, &c->cfg, &ops, &c->a);

	if (r == 0 && (r = agent_connect(c->a, &c->plan)) == 0)
		return;
	snprintf(why, sizeof(why), "natbed sim: the agent did not start: %s", strerror(-r));
	sim_conn_fail(c, why);
}

static void sim_conn_gate_done(void *arg, const struct gatec_report *r)
{
	struct sim_conn *c = arg;
	char why[AGENT_REASON_MAX];

	c->gate_rep = *r;
	r = &c->gate_rep;  /* *r was the client's, freed here */
	gatec_free(c->gc); /* "the call may free c" */
	c->gc = NULL;
	if (r->result == GATEC_GRANTED) {
		sim_conn_agent(c);
		return;
	}
	if (r->result == GATEC_TIMEOUT)
		snprintf(why, sizeof(why), "gate: %.80s", r->reason);
	else
		snprintf(why, sizeof(why), "gate: %s (%d %.60s)", gatec_result_name(r->result),
			 r->code, r->reason);
	sim_conn_fail(c, why);
}

/* The first step: the gate's exchange, or the agent. */
static void sim_conn_begin(void *arg, natbed_time_t now)
{
	struct sim_conn *c = arg;
	struct gatec_ops ops = {.done = sim_conn_gate_done};

	c->step_ev = 0;
	if (!c->gate) {
		sim_conn_agent(c);
		return;
	}
	c->gc = gatec_new(c->d, &c->gate_cfg, &ops, c);
	if (!c->gc)
		sim_conn_fail(c, "gate: cannot open a socket");
}

static void sim_conn_guard(void *arg, natbed_time_t now)
{
	struct sim_conn *c = arg;

	c->guard_ev = 0;
	sim_conn_fail(c, "natbed sim stopped the connect");
}

/* The plan natbed-agent connect builds from its options (build_plan in
 * agent_connect.c): one step, or the cascade over the product's table. */
static int sim_conn_plan(struct sim_conn *c, const struct sim_conn_cfg *cfg)
{
	struct agent_plan *p = &c->plan;
	size_t n = 0;

	str_copy(p->peer, sizeof(p->peer), cfg->peer);
	p->probes = SIM_CONN_PROBES;
	if (cfg->method) {
		p->nsteps = 1;
		p->steps[0].m = method_find(cfg->method);
		p->steps[0].budget_ns = cfg->budget_ns;
		return p->steps[0].m ? 0 : -EINVAL;
	}
	while (n < AGENT_PLAN_MAX && (c->table[n] = method_at(n)) != NULL)
		n++;
	p->cascade = true;
	p->table = c->table;
	p->ntable = n;
	p->priority = cfg->priority;
	p->total_ns = cfg->budget_ns;
	p->limits = (struct sel_limits){.no_relay = cfg->no_relay, .budget_ns = cfg->budget_ns};
	return 0;
}

int sim_conns_start(struct sim_conns *cs, const struct sim_conn_cfg *cfg, void *job)
{
	struct sim_conn *c = calloc(1, sizeof(*c));
	natbed_time_t now = sched_now(cs->s);

	if (!c)
		return -ENOMEM;
	c->cs = cs;
	c->job = job;
	c->d = cfg->d;
	if (sim_conn_plan(c, cfg) < 0) {
		free(c);
		return -EINVAL;
	}
	/* serve's options but --name, --bind and --stats (run_agent.c) */
	c->cfg = cfg->o->cfg;
	c->cfg.serve = false;
	c->cfg.bind = (struct dg_ep){0, 0};
	str_copy(c->cfg.name, sizeof(c->cfg.name), cfg->name);
	c->gate = cfg->o->gate;
	c->gate_cfg = cfg->o->gate_cfg;
	c->gate_cfg.nonce = cfg->nonce;
	c->step_ev = sched_at(cs->s, now, sim_conn_begin, c);
	c->guard_ev = sched_at(cs->s, now + SIM_CONN_MAX_S * NATBED_NS_PER_S, sim_conn_guard, c);
	if (!c->step_ev || !c->guard_ev) {
		if (c->step_ev)
			sched_cancel(cs->s, c->step_ev);
		if (c->guard_ev)
			sched_cancel(cs->s, c->guard_ev);
		free(c);
		return -ENOMEM;
	}
	c->next = cs->alive;
	if (c->next)
		c->next->prev = c;
	cs->alive = c;
	cs->n_alive++;
	return 0;
}

size_t sim_conns_alive(const struct sim_conns *cs)
{
	return cs->n_alive;
}

void sim_conns_free(struct sim_conns *cs)
{
	if (!cs)
		return;
	while (cs->alive)
		sim_conn_free(cs->alive);
	free(cs);
}

/* --- checkpoints ------------------------------------------------------------ */

static const struct ckfn sim_conn_fns[] = {
    CKFN(sim_conn_end),	 CKFN(sim_conn_begin),	   CKFN(sim_conn_guard),
    CKFN(sim_on_report), CKFN(sim_conn_gate_done),
};
const struct ckfns sim_conn_ckfns = CKFNS(sim_conn, sim_conn_fns);

static json_t *sim_conn_save(const struct sim_conn *c, struct ckw *w)
{
	json_t *table = json_array();

	for (size_t i = 0; table && i < AGENT_PLAN_MAX; i++)
		if (json_array_append_new(table, ckw_ref(w, c->table[i])) < 0) {
			json_decref(table); /* the pack below fails: said by the caller */
			table = NULL;
		}
	return json_pack(
	    "{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:b}", "id", ckw_obj(w, c),
	    "job", ckw_ref(w, c->job), "d", ckw_ref(w, c->d), "cfg",
	    agent_config_ckpt_save(&c->cfg, w), "plan", agent_plan_ckpt_save(&c->plan, w),
	    "table_id", ckw_obj(w, c->table), "table", table, "gate", c->gate, "gate_cfg",
	    ckw_bytes(w, &c->gate_cfg, sizeof(c->gate_cfg)), "gatec",
	    c->gc ? gatec_ckpt_save(c->gc, w) : json_null(), "gate_rep",
	    ckw_bytes(w, &c->gate_rep, sizeof(c->gate_rep)), "agent",
	    c->a ? agent_ckpt_save(c->a, w) : json_null(), "step_ev", ckw_timer(w, c->step_ev),
	    "guard_ev", ckw_timer(w, c->guard_ev), "reported", c->reported);
}

json_t *sim_conns_ckpt_save(const struct sim_conns *cs, struct ckw *w)
{
	json_t *a = json_array();

	for (const struct sim_conn *c = cs->alive; a && c; c = c->next)
		if (json_array_append_new(a, sim_conn_save(c, w)) < 0) {
			json_decref(a);
			a = NULL;
		}
	if (!a)
		ckw_fail(w, "connects: out of memory");
	return a;
}

static struct sim_conn *sim_conn_load(struct sim_conns *cs, const json_t *j, struct ckr *r)
{
	struct sim_conn *c = calloc(1, sizeof(*c));
	const json_t *table = json_object_get(j, "table"), *o;

	if (!c) {
		ckr_fail(r, "connects: out of memory");
		return NULL;
	}
	c->cs = cs;
	if (json_array_size(table) != AGENT_PLAN_MAX ||
	    !json_is_boolean(json_object_get(j, "gate")) ||
	    !json_is_boolean(json_object_get(j, "reported"))) {
		ckr_fail(r, "connects: a connect's table, gate or reported");
		return NULL;
	}
	c->gate = json_is_true(json_object_get(j, "gate"));
	c->reported = json_is_true(json_object_get(j, "reported"));
	if (ckr_obj(r, json_object_get(j, "id"), c) < 0 ||
	    ckr_obj(r, json_object_get(j, "table_id"), c->table) < 0 ||
	    ckr_ref(r, json_object_get(j, "job"), &c->job) < 0 ||
	    ckr_ref(r, json_object_get(j, "d"), &c->d) < 0 ||
	    agent_config_ckpt_fill(&c->cfg, json_object_get(j, "cfg"), r) < 0 ||
	    agent_plan_ckpt_fill(&c->plan, json_object_get(j, "plan"), r) < 0 ||
	    ckr_bytes(r, json_object_get(j, "gate_cfg"), &c->gate_cfg, sizeof(c->gate_cfg)) < 0 ||
	    ckr_bytes(r, json_object_get(j, "gate_rep"), &c->gate_rep, sizeof(c->gate_rep)) < 0 ||
	    ckr_timer(r, json_object_get(j, "step_ev"), &c->step_ev) < 0 ||
	    ckr_timer(r, json_object_get(j, "guard_ev"), &c->guard_ev) < 0)
		return NULL;
	for (size_t i = 0; i < AGENT_PLAN_MAX; i++)
		if (ckr_ref(r, json_array_get(table, i), &c->table[i]) < 0)
			return NULL;
	if (!json_is_null(o = json_object_get(j, "gatec")) && !(c->gc = gatec_ckpt_load(o, r)))
		return NULL;
	if (!json_is_null(o = json_object_get(j, "agent")) && !(c->a = agent_ckpt_load(o, r)))
		return NULL;
	return c;
}

int sim_conns_ckpt_fill(struct sim_conns *cs, const json_t *j, struct ckr *r)
{
	struct sim_conn **tail = &cs->alive, *prev = NULL;
	const json_t *e;
	size_t i;

	if (!json_is_array(j) || cs->alive)
		return ckr_fail(r, "connects: not a list, or connects running already");
	json_array_foreach(j, i, e)
	{
		struct sim_conn *c = sim_conn_load(cs, e, r);

		if (!c)
			return -1;
		c->prev = prev;
		*tail = prev = c;
		tail = &c->next;
		cs->n_alive++;
	}
	return 0;
}
