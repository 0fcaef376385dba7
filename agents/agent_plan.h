/* natbed-agent: the options that shape a connect's plan, shared by
 * connect and clients (agent_plan.c): --budget, --probes, --priority,
 * --no-relay, --learn, and connect's --peer, --method, --cascade. */
#ifndef NATBED_AGENTS_AGENT_PLAN_H
#define NATBED_AGENTS_AGENT_PLAN_H

#include "agent.h"

#define AGENT_CONNECT_PROBES 10

/* What the command line asks; a plan is built from it. */
struct agent_connect_opts {
	const char *peer, *method, *learn_path;
	bool cascade, cascade_only; /* cascade_only: --priority or --no-relay came */
	enum sel_priority priority;
	bool no_relay;
	natbed_time_t budget_ns;
	int probes;
};

/* getopt_long entries of the options that shape a plan: --budget,
 * --probes, --priority, --no-relay, --learn. */
#define AGENT_PLAN_OPTIONS                                                                         \
	{"budget", required_argument, NULL, 'b'}, {"probes", required_argument, NULL, 'k'},        \
	    {"priority", required_argument, NULL, 'P'}, {"no-relay", no_argument, NULL, 'R'},      \
	{                                                                                          \
		"learn", required_argument, NULL, 'l'                                              \
	}

/* Defaults: AGENT_CONNECT_PROBES probes, balanced. */
void agent_connect_opts_init(struct agent_connect_opts *o);

/* Takes one of AGENT_PLAN_OPTIONS, --peer ('p'), --method ('m') or
 * --cascade ('c'): 1 taken, 0 not one of them, -1 a bad value (said on
 * stderr). */
int agent_connect_option(struct agent_connect_opts *o, int opt, const char *arg);

/* The cascade's plan from o, its peer empty: the program's table (env's,
 * at most AGENT_PLAN_MAX) into table[] (which must outlive p), o's
 * priority, limits and budget, probes, and the learning store l. */
void agent_cascade_plan(const struct agent_cli *c, const struct agent_connect_opts *o,
			const struct method **table, struct learn *l, struct agent_plan *p);

#endif
