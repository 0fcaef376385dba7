/* natbed sim: the connects of a scenario, each what one `natbed-agent
 * connect` process does under natbed run, as a state machine on the
 * connecting host's datagram interface:
 *
 *  - with the serving agent's --gate, one auth request to the gate first
 *    (agents/gatec.h; connect asks once): a grant goes on, anything else
 *    ends the connect with the reason natbed-agent gives ("gate: denied
 *    (403 Denied)", ...);
 *  - an agent (agents/agent_core.h) with the serving agent's options but
 *    its own name and any port, discovering its NAT as serve does, that
 *    registers and runs the plan: the method given, or the cascade by
 *    priority within the budget, then 10 probes on the path found
 *    (natbed-agent connect's default);
 *  - its report, read as natbed run reads the agent's result line
 *    (cli/results.h: the same fields, nulls and rounding), goes to done;
 *    then the agent gives its name up and is freed, as the process exits.
 *
 * A connect still running SIM_CONN_MAX_S after it started is stopped, as
 * natbed run kills one (reason "natbed sim stopped the connect"). Nothing
 * runs inside sim_conns_start(): the first step is on the scheduler.
 */
#ifndef NATBED_CLI_SIM_CONN_H
#define NATBED_CLI_SIM_CONN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/ckpt.h"
#include "results.h"
#include "select.h"
#include "sim_hosts.h"

#define SIM_CONN_MAX_S	300 /* a connect still running after this is stopped */
#define SIM_CONN_PROBES 10  /* natbed-agent connect's default --probes */

struct sim_conn_cfg {
	const struct dgram *d;		/* the connecting host's */
	const struct sim_agent_opts *o; /* its serving agent's options */
	const char *name;		/* the connect's agent name (run_connect_name) */
	const char *peer;		/* the serving agent to connect to */
	const char *method;		/* NULL: the cascade */
	enum sel_priority priority;	/* the cascade's */
	bool no_relay;			/* the cascade leaves relays out */
	natbed_time_t budget_ns;	/* --budget; 0: each method its own */
	uint64_t nonce;			/* with a gate: the auth request's */
};

/* A connect ended. a holds its outcome as natbed run reads a result line
 * (method, success, setup_ms, rtt_ms, loss, path, local, remote, reason,
 * tried, auth_ms); pair, nat and t_s are the caller's to fill. Strings
 * are valid during the call. */
typedef void (*sim_conn_done_fn)(void *arg, void *job, struct res_attempt *a);

struct sim_conns;

/* The connects on scheduler s, reported to done(arg, job, ...). NULL on
 * ENOMEM. */
struct sim_conns *sim_conns_new(struct sched *s, sim_conn_done_fn done, void *arg);

/* Starts a connect for job (the caller's, handed back to done). 0, or
 * -ENOMEM / -EINVAL (an unknown method): then done is never called. */
int sim_conns_start(struct sim_conns *cs, const struct sim_conn_cfg *cfg, void *job);

/* Connects running now. */
size_t sim_conns_alive(const struct sim_conns *cs);

/* Frees every connect still running (done is not called) and cs. NULL is
 * safe. */
void sim_conns_free(struct sim_conns *cs);

struct ckw;
struct ckr;

/* natbed sim checkpoints (natbed/ckpt.h): every connect running, newest
 * first as they are kept, whole: its options, plan, gate exchange and
 * agent, its job (a reference the caller declares) and its timers. A new
 * reference, NULL on error (said in w). */
json_t *sim_conns_ckpt_save(const struct sim_conns *cs, struct ckw *w);
/* The connects of j running on cs (new, none running). 0, or -1 (said in
 * r). */
int sim_conns_ckpt_fill(struct sim_conns *cs, const json_t *j, struct ckr *r);

/* The functions a connect gives the scheduler, its agent and its gate
 * client. */
extern const struct ckfns sim_conn_ckfns;

#endif
