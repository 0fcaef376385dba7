/* natbed-agent: what the subcommands share: common options, the agent's
 * state machine on the programs' loop (agent_loop.c), the --stats file. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "natbed/log.h"
#include "rdv.h"

#define STUN_DEFAULT_PORT 3478

void agent_cli_init(struct agent_cli *c, const struct agent_env *env)
{
	memset(c, 0, sizeof(*c));
	c->env = env;
	c->cfg.find_method = env->find_method;
	c->cfg.nat.hairpin = -1;
}

static int parse_ep(const char *opt, const char *arg, uint16_t port, struct dg_ep *ep)
{
	if (dg_ep_parse(arg, port, ep) < 0) {
		fprintf(stderr, "--%s %s: not IPv4[:PORT]\n", opt, arg);
		return -1;
	}
	return 1;
}

int agent_cli_option(struct agent_cli *c, int opt, const char *arg)
{
	switch (opt) {
	case AGENT_OPT_NAME:
		if (!rdvmsg_name_ok(arg, RDV_NAME_MAX)) {
			fprintf(stderr, "--name %s: 1 to %d of [A-Za-z0-9._-]\n", arg,
				RDV_NAME_MAX);
			return -1;
		}
		snprintf(c->cfg.name, sizeof(c->cfg.name), "%s", arg);
		c->have_name = true;
		return 1;
	case AGENT_OPT_RENDEZVOUS:
		c->have_rdv = true;
		return parse_ep("rendezvous", arg, RDV_DEFAULT_PORT, &c->cfg.rdv);
	case AGENT_OPT_STUN:
		c->have_stun = true;
		return parse_ep("stun", arg, STUN_DEFAULT_PORT, &c->cfg.stun);
	case AGENT_OPT_BIND:
		/* without a port: any free one */
		return parse_ep("bind", arg, 0, &c->cfg.bind);
	case AGENT_OPT_STATS:
		c->stats_path = arg;
		return 1;
	case AGENT_OPT_VERBOSE:
		c->verbose = true;
		return 1;
	default:
		return agent_gate_option(c, opt, arg);
	}
}

bool agent_cli_complete(const struct agent_cli *c, const char *cmd)
{
	const char *missing = !c->have_name   ? "--name"
			      : !c->have_rdv  ? "--rendezvous"
			      : !c->have_stun ? "--stun"
					      : NULL;

	if (missing)
		fprintf(stderr, "natbed-agent %s: %s is required (--help)\n", cmd, missing);
	return !missing && agent_gate_complete(c);
}

static json_t *stats_json(void *arg)
{
	const struct agent_cli *c = arg;
	struct rdvc_counters rc;
	struct agent_counters ac;
	struct dgsock_stats io;
	json_t *drops = json_object(), *stray = json_object();

	if (!c->a)
		return NULL;
	rdvc_counters(agent_rdvc(c->a), &rc);
	agent_counters(c->a, &ac);
	dgsock_stats(c->loop.io, &io);
	for (int i = 1; i < RDVC_DROP_COUNT; i++)
		json_object_set_new(drops, rdvc_drop_name((enum rdvc_drop)i),
				    json_integer((json_int_t)rc.drops[i]));
	for (int i = 0; i < AGENT_STRAY_COUNT; i++)
		json_object_set_new(stray, agent_stray_name((enum agent_stray)i),
				    json_integer((json_int_t)ac.stray[i]));
	return json_pack(
	    "{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}, s:{s:I, s:I, s:I, s:I, "
	    "s:I, s:o}, s:{s:I, s:I, s:I}}",
	    "rendezvous", "taken", (json_int_t)rc.taken, "stun_answers",
	    (json_int_t)rc.stun_answers, "registrations", (json_int_t)rc.registrations, "refreshes",
	    (json_int_t)rc.refreshes, "reregistrations", (json_int_t)rc.reregistrations,
	    "connects_ok", (json_int_t)rc.connects_ok, "connects_failed",
	    (json_int_t)rc.connects_failed, "introductions", (json_int_t)rc.introductions,
	    "intro_duplicates", (json_int_t)rc.intro_duplicates, "intro_refused",
	    (json_int_t)rc.intro_refused, "drops", drops, "tries", "run", (json_int_t)ac.tries_run,
	    "ok", (json_int_t)ac.tries_ok, "failed", (json_int_t)ac.tries_failed, "refused",
	    (json_int_t)ac.tries_refused, "probes_echoed", (json_int_t)ac.probes_echoed, "stray",
	    stray, "socket", "rx", (json_int_t)io.rx, "tx", (json_int_t)io.tx, "tx_errors",
	    (json_int_t)io.tx_errors);
}

int agent_cli_start(struct agent_cli *c, const struct agent_ops *ops)
{
	char es[DG_EP_STR];
	int r;

	log_init("natbed-agent", c->verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (agent_loop_init(&c->loop, stats_json, c, c->stats_path) < 0)
		return -ENOMEM;
	c->loop.status = 1;	/* until something says otherwise */
	r = agent_gate_auth(c); /* with --gate: nothing else goes out before it grants */
	if (r < 0)
		return r;
	r = agent_new(agent_loop_dgram(&c->loop), &c->cfg, ops, &c->a);
	if (r < 0) {
		log_err("main socket %s: %s", dg_ep_str(&c->cfg.bind, es), strerror(-r));
		return r;
	}
	return 0;
}

void agent_cli_run(struct agent_cli *c)
{
	agent_loop_run(&c->loop);
}

void agent_cli_stop(struct agent_cli *c, int status)
{
	agent_loop_stop(&c->loop, status);
}

int agent_cli_end(struct agent_cli *c)
{
	int status = c->a ? c->loop.status : 1;

	if (c->a) {
		agent_leave(c->a);
		agent_loop_stats(&c->loop);
	}
	agent_free(c->a);
	c->a = NULL;
	agent_loop_free(&c->loop);
	return status;
}
