/* natbed run's loop: each explicit pair is a `natbed-agent connect` in the
 * connecting host's namespace, started when neither side's NAT is busy with
 * another pair (so one connect's mappings never move another's predicted
 * ports); the arrivals at each site are one `natbed-agent clients` with
 * their schedule, started with the loop, so each client starts at its
 * drawn time. It reads the line each connect prints and hands it on.
 * Ctrl-C (SIGINT or SIGTERM) once: nothing new starts, the running
 * processes are asked to stop (SIGTERM, SIGKILL after a grace period);
 * twice: they are killed at once. Arrivals not due yet when it stopped are
 * not attempts and are left out. */
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
 * finished, 1 when a signal stopped it (sigstop_count() says how many
 * came; sigstop_catch() must have been called), -1 on a failure it
 * printed. */
int run_loop(const struct run_loop_cfg *cfg, const struct run_plan *plan);

#endif
