/* natbed run's loop: starts each job's `natbed-agent connect` in its host's
 * namespace when its time comes (and, for the scenario's pairs, when
 * neither side's NAT is busy with another pair, so one connect's mappings
 * never move another's predicted ports), reads the one line each prints,
 * and hands it on. Ctrl-C (SIGINT or SIGTERM) once: no new connect, the
 * running ones are asked to stop (SIGTERM, SIGKILL after a grace period);
 * twice: they are killed at once. */
#ifndef NATBED_CLI_RUN_LOOP_H
#define NATBED_CLI_RUN_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include "natbed/topo.h"
#include "run_agent.h"
#include "run_plan.h"

#define RUN_LINE_MAX 8192 /* the longest result line kept */

struct run_loop_cfg {
	const struct topo *t;
	const char *prefix;		/* namespaces P+HOST */
	const char *out;		/* HOST-connect.log files go here */
	const char *agent;		/* natbed-agent's path */
	const struct run_agent *agents; /* per host; name[0] == 0: not an agent */
	int parallel;			/* connects at once, at most */
	const char *budget;		/* --budget for each connect, or NULL */
	bool no_relay;
	unsigned round; /* > 0: names the connects' agents apart from earlier rounds' */
	/* a finished job: its line (NULL when the agent printed none, with why
	 * in reason); t_s the job's */
	void (*done)(void *arg, const struct run_job *j, const char *line, const char *reason);
	/* once a second or so: how far the loop is */
	void (*tick)(void *arg, size_t started, size_t finished, double elapsed_s);
	void *arg;
};

/* Runs every job of plan (times relative to now). Returns 0 when all
 * finished, 1 when a signal stopped it (run_loop_signals() says how many
 * came), -1 on a failure it printed. */
int run_loop(const struct run_loop_cfg *cfg, const struct run_plan *plan);

/* Catches SIGINT and SIGTERM for the loop from now on (call once, before
 * anything is started). */
int run_loop_catch(void);
/* How many stop signals came so far. */
int run_loop_signals(void);

#endif
