/* natbed-agent connect: register, ask the rendezvous for the peer, run the
 * method (or the cascade) as initiator, probe the path, print exactly one
 * JSON line; exit 0 on success, 1 on failure. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "agent_plan.h"
#include "natbed/log.h"
#include "natbed/strcopy.h"

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
	    PROBE_MAX, AGENT_CONNECT_PROBES);
}

/* The plan: one step with --method; with --cascade the table, whose
 * steps the agent chooses once it knows the peer's NAT. */
static int build_plan(const struct agent_cli *c, const struct agent_connect_opts *o,
		      const struct method **table, struct learn *l, struct agent_plan *p)
{
	const struct method *m;

	if (o->cascade) {
		agent_cascade_plan(c, o, table, l, p);
		str_copy(p->peer, sizeof(p->peer), o->peer);
		return 0;
	}
	memset(p, 0, sizeof(*p));
	str_copy(p->peer, sizeof(p->peer), o->peer);
	p->probes = o->probes;
	p->learn = l;
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

static void on_report(void *arg, struct agent *a, const struct agent_report *r)
{
	struct agent_cli *c = arg;
	json_t *j = agent_report_json(r);
	int printed;

	agent_gate_json(c, j); /* with --gate: gate, auth_ms, trust */
	printed = agent_print_json(j);

	agent_cli_stop(c, r->success && printed == 0 ? 0 : 1);
}

int agent_cmd_connect(int argc, char **argv, const struct agent_env *env)
{
	static const struct option opts[] = {
	    AGENT_CLI_OPTIONS,
	    AGENT_PLAN_OPTIONS,
	    {"peer", required_argument, NULL, 'p'},
	    {"method", required_argument, NULL, 'm'},
	    {"cascade", no_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	struct agent_connect_opts o;
	struct agent_ops ops = {.report = on_report};
	const struct method *table[AGENT_PLAN_MAX];
	struct learn *l = NULL;
	struct agent_plan plan;
	struct agent_cli c;
	char err[512];
	int opt, r, status;

	agent_cli_init(&c, env);
	agent_connect_opts_init(&o);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == AGENT_OPT_HELP) {
			usage(stdout);
			return 0;
		}
		r = agent_cli_option(&c, opt, optarg);
		if (r == 0)
			r = agent_connect_option(&o, opt, optarg);
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
