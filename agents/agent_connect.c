/* natbed-agent connect: register, ask the rendezvous for the peer, run the
 * method (or the cascade) as initiator, probe the path, print exactly one
 * JSON line; exit 0 on success, 1 on failure. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "natbed/log.h"
#include "natbed/units.h"

#define CONNECT_PROBES 10

/* What the command line asks; the plan is built from it. */
struct connect_opts {
	const char *peer, *method, *learn_path;
	bool cascade, cascade_only; /* cascade_only: --priority or --no-relay came */
	enum sel_priority priority;
	bool no_relay;
	natbed_time_t budget_ns;
	int probes;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: natbed-agent connect --name N --rendezvous IP[:PORT] --stun IP[:PORT]\n"
	    "                            --peer P (--method M | --cascade [--priority P]\n"
	    "                            [--no-relay]) [--budget DURATION] [--learn FILE]\n"
	    "                            [--probes K] [--no-discover | --nat CLASS]\n"
	    "                            [--bind IP[:PORT]] [--stats FILE] [--verbose]\n"
	    "                            [--turn IP[:PORT] --turn-user U --turn-pass P]\n"
	    "\n"
	    "Measures its NAT (RFC 5780, against --stun), registers N, asks the\n"
	    "rendezvous to introduce P with method M and runs M as initiator at the\n"
	    "common start; or, with --cascade, asks P's NAT (LOOKUP) and tries the\n"
	    "methods one after another, best score for the pair first, until one\n"
	    "connects, skipping those that cannot work for the pair (estimated rate\n"
	    "below 0.1), a relay with --no-relay, and one whose own budget is more than\n"
	    "--budget. Then it sends K probes on the path found (P echoes each) and\n"
	    "prints one JSON line: peer, method, success, setup_ms, rtt_ms, loss, local,\n"
	    "remote, path (direct, relay or none), tried (each try's method, success,\n"
	    "ms and reason, in order, then what was skipped, with ms 0 and its reason)\n"
	    "and reason. Exit status: 0 connected, 1 not (reason says why), 2 usage.\n"
	    "\n"
	    "  --peer P                 the agent to connect to (it runs serve)\n"
	    "  --method M               one traversal method (natbed-agent methods lists them)\n"
	    "  --cascade                every method, in score order for the pair\n"
	    "  --priority P             the cascade's score: success_rate, cost, security or\n"
	    "                           balanced (default: 0.4 rate + 0.3 reliability +\n"
	    "                           0.2 security + 0.1 (1 - cost/2))\n"
	    "  --no-relay               the cascade skips methods that relay the data\n"
	    "  --budget DURATION        with --method: the try's (default: the method's own);\n"
	    "                           with --cascade: the whole connect's, from the first\n"
	    "                           request to the rendezvous (default: each method its\n"
	    "                           own, one after another)\n"
	    "  --learn FILE             measured outcomes (JSON, created when missing): read\n"
	    "                           to choose, every try's outcome added under the pair\n"
	    "                           of NAT classes, saved at the end\n"
	    "  --probes K               probes on the path, 0..%d (default %d)\n" AGENT_CLI_HELP,
	    PROBE_MAX, CONNECT_PROBES);
}

/* The table the cascade orders: the program's (env), at most
 * AGENT_PLAN_MAX. */
static size_t method_table(const struct agent_cli *c, const struct method **out)
{
	const struct method *(*at)(size_t) = c->env->method_at ? c->env->method_at : method_at;
	size_t n = 0;

	while (n < AGENT_PLAN_MAX && (out[n] = at(n)) != NULL)
		n++;
	return n;
}

/* The plan: one step with --method; with --cascade the table, whose
 * steps the agent chooses once it knows the peer's NAT. */
static int build_plan(const struct agent_cli *c, const struct connect_opts *o,
		      const struct method **table, struct learn *l, struct agent_plan *p)
{
	const struct method *m;

	memset(p, 0, sizeof(*p));
	snprintf(p->peer, sizeof(p->peer), "%s", o->peer);
	p->probes = o->probes;
	p->learn = l;
	if (o->cascade) {
		p->cascade = true;
		p->table = table;
		p->ntable = method_table(c, table);
		p->priority = o->priority;
		p->total_ns = o->budget_ns;
		p->limits = (struct sel_limits){.no_relay = o->no_relay, .budget_ns = o->budget_ns};
		return 0;
	}
	m = c->cfg.find_method ? c->cfg.find_method(o->method) : method_find(o->method);
	if (!m) {
		fprintf(stderr, "--method %s: no such method (natbed-agent methods)\n", o->method);
		return -1;
	}
	p->nsteps = 1;
	p->steps[0].m = m;
	p->steps[0].budget_ns = o->budget_ns;
	return 0;
}

static json_t *ms_json(double ms)
{
	return json_real(round(ms * 1000) / 1000);
}

static json_t *ep_json(const struct dg_ep *ep, bool known)
{
	char b[DG_EP_STR];

	return known ? json_string(dg_ep_str(ep, b)) : json_null();
}

static json_t *report_json(const struct agent_report *r)
{
	json_t *tried = json_array(), *j;

	for (int i = 0; i < r->ntried; i++) {
		const struct agent_tried *t = &r->tried[i];

		json_array_append_new(
		    tried, json_pack("{s:s, s:b, s:o, s:o}", "method", t->m->spec.name, "success",
				     t->success, "ms", ms_json(t->ms), "reason",
				     t->success ? json_null() : json_string(t->reason)));
	}
	/* no method when nothing was tried (the peer's LOOKUP refused) */
	j = json_pack("{s:s, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o}", "peer", r->peer,
		      "method", r->m ? json_string(r->m->spec.name) : json_null(), "success",
		      r->success, "setup_ms", r->success ? ms_json(r->setup_ms) : json_null(),
		      "rtt_ms", r->probe.rtt_ms >= 0 ? ms_json(r->probe.rtt_ms) : json_null(),
		      "loss", r->success && r->probe.sent ? json_real(r->probe.loss) : json_null(),
		      "local", ep_json(&r->local, r->success), "remote",
		      ep_json(&r->remote, r->success), "path", r->path, "tried", tried, "reason",
		      r->success ? json_null() : json_string(r->reason));
	return j;
}

static void on_report(void *arg, struct agent *a, const struct agent_report *r)
{
	struct agent_cli *c = arg;
	json_t *j = report_json(r);
	char *line;

	agent_gate_json(c, j); /* with --gate: gate, auth_ms, trust */
	/* 9 significant digits: 200.424, not 200.42400000000001 */
	line = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;

	if (line) {
		printf("%s\n", line);
		fflush(stdout);
	} else {
		log_err("cannot write the report");
	}
	free(line);
	json_decref(j);
	agent_cli_stop(c, r->success && line ? 0 : 1);
}

static int connect_option(struct connect_opts *o, int opt, const char *arg)
{
	int64_t k;

	switch (opt) {
	case 'c':
		o->cascade = true;
		return 1;
	case 'P':
		if (sel_priority_parse(arg, &o->priority) < 0) {
			fprintf(stderr, "--priority %s: success_rate, cost, security or balanced\n",
				arg);
			return -1;
		}
		o->cascade_only = true;
		return 1;
	case 'R':
		o->no_relay = true;
		o->cascade_only = true;
		return 1;
	case 'l':
		o->learn_path = arg;
		return 1;
	case 'p':
		if (!rdvmsg_name_ok(arg, RDV_NAME_MAX)) {
			fprintf(stderr, "--peer %s: not an agent name\n", arg);
			return -1;
		}
		o->peer = arg;
		return 1;
	case 'm':
		o->method = arg;
		return 1;
	case 'b':
		if (units_parse_duration(arg, &o->budget_ns) < 0 || o->budget_ns <= 0 ||
		    o->budget_ns > 3600 * NATBED_NS_PER_S) {
			fprintf(stderr, "--budget %s: a duration in (0, 3600s]\n", arg);
			return -1;
		}
		return 1;
	case 'k':
		if (units_parse_count(arg, PROBE_MAX, &k) < 0) {
			fprintf(stderr, "--probes %s: 0..%d\n", arg, PROBE_MAX);
			return -1;
		}
		o->probes = (int)k;
		return 1;
	default:
		return 0;
	}
}

int agent_cmd_connect(int argc, char **argv, const struct agent_env *env)
{
	static const struct option opts[] = {
	    AGENT_CLI_OPTIONS,
	    {"peer", required_argument, NULL, 'p'},
	    {"method", required_argument, NULL, 'm'},
	    {"budget", required_argument, NULL, 'b'},
	    {"probes", required_argument, NULL, 'k'},
	    {"cascade", no_argument, NULL, 'c'},
	    {"priority", required_argument, NULL, 'P'},
	    {"no-relay", no_argument, NULL, 'R'},
	    {"learn", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	struct connect_opts o = {.probes = CONNECT_PROBES, .priority = SEL_BALANCED};
	struct agent_ops ops = {.report = on_report};
	const struct method *table[AGENT_PLAN_MAX];
	struct learn *l = NULL;
	struct agent_plan plan;
	struct agent_cli c;
	char err[512];
	int opt, r, status;

	agent_cli_init(&c, env);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == AGENT_OPT_HELP) {
			usage(stdout);
			return 0;
		}
		r = agent_cli_option(&c, opt, optarg);
		if (r == 0)
			r = connect_option(&o, opt, optarg);
		if (r != 1) {
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !agent_cli_complete(&c, "connect"))
		return 2;
	if (!o.peer || !o.method == !o.cascade) {
		fprintf(stderr,
			"natbed-agent connect: --peer, and --method or --cascade, are required\n");
		return 2;
	}
	if (o.cascade_only && !o.cascade) {
		fprintf(stderr,
			"natbed-agent connect: --priority and --no-relay go with --cascade\n");
		return 2;
	}
	if (o.learn_path && !(l = learn_load(o.learn_path, err, sizeof(err)))) {
		fprintf(stderr, "--learn %s\n", err);
		return 2;
	}
	if (build_plan(&c, &o, table, l, &plan) < 0) {
		learn_free(l);
		return 2;
	}
	ops.arg = &c;
	/* the exit status is the report's; 1 when there is none */
	r = agent_cli_start(&c, &ops);
	if (r == 0 && agent_connect(c.a, &plan) == 0) {
		agent_cli_run(&c);
	} else if (r == -EACCES) { /* the gate said no: a report all the same */
		struct agent_report rep;

		agent_gate_report(&c, &plan, &rep);
		on_report(&c, NULL, &rep);
	}
	status = agent_cli_end(&c);
	/* what was measured, even when the connect was stopped early */
	if (l && learn_save(l, o.learn_path, err, sizeof(err)) < 0)
		log_err("--learn: %s", err);
	learn_free(l);
	return status;
}
