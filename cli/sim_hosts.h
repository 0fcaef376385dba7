/* natbed sim: what each host of a topology runs, in virtual time.
 *
 * natbed up starts each host's `run` line in its namespace; natbed sim
 * starts the same program's state machine on the host's datagram
 * interface of the virtual network (emulator/vnet.h), by the program's
 * name, from a table:
 *  - natbed-stund --primary IP[:PORT] [--alternate IP]: natbed-stund's
 *    request logic (agents/dgstund.h);
 *  - natbed-rendezvous --listen IP[:PORT]: the rendezvous (agents/rdv.h);
 *  - turnserver (coturn's options -L, -p, -u USER:PASS, -r REALM; the rest
 *    are coturn's and change nothing here): a TURN server over datagrams
 *    (agents/turnd.h);
 *  - natbed-agent serve ...: the agent's state machine (agents/agent_core.h)
 *    with the options natbed-agent reads (agent_cli_option), the host's
 *    gateway (port 5351) as its PCP server as /proc/net/route gives it in
 *    the namespace, and with --gate the zero-trust gate's exchange first
 *    (agents/gatec.h), asked again after a denial as serve does.
 * A host without a run line runs nothing; any other program is an error
 * naming the host and its line. No I/O, no clock: everything is on the
 * virtual network's scheduler.
 */
#ifndef NATBED_CLI_SIM_HOSTS_H
#define NATBED_CLI_SIM_HOSTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_core.h"
#include "natbed/ckpt.h"
#include "gatec.h"
#include "natbed/topo.h"

struct vnet;

/* How a host's serving agent was started: its connects start the same
 * way (natbed run: `natbed-agent connect` with serve's options but
 * --name, --bind and --stats). */
struct sim_agent_opts {
	struct agent_config cfg;   /* serve's, cfg.name its --name */
	bool gate;		   /* --gate: authenticate first */
	struct gatec_cfg gate_cfg; /* user: --gate-user, else --name; nonce 0 */
};

struct sim_hosts;

/* Starts every host's program of t on v (both must outlive the result).
 * 0 with *out set, or -1 with "host NAME (line N): problem" in err (a
 * program it cannot run, bad options, a socket refused). */
int sim_hosts_new(struct vnet *v, const struct topo *t, struct sim_hosts **out, char *err,
		  size_t errlen);

/* Stops every program (no agent leaves its rendezvous: the run is over)
 * and frees everything. NULL is safe. */
void sim_hosts_free(struct sim_hosts *h);

/* Whether every serving agent has registered: 1 yes, 0 not yet (*who: the
 * first that has not), -1 one failed (*who, and *why). */
int sim_hosts_ready(const struct sim_hosts *h, const char **who, const char **why);

/* Host h's serving agent's options, or NULL when h runs no agent. */
const struct sim_agent_opts *sim_hosts_agent(const struct sim_hosts *h, int host);

/* Host h's serving agent's options as a connect from host `at` takes
 * them (natbed sim's clone of h, sim_pool.h): the gate user that was h's
 * name is at's, as the gate there knows it. h's own options when at is
 * h, *buf otherwise; NULL when h runs no agent. */
const struct sim_agent_opts *sim_hosts_agent_at(const struct sim_hosts *h, int host, int at,
						struct sim_agent_opts *buf);

/* The next nonce for an auth request of host h's agents: above every one
 * they used (natbed-agent takes the wall clock's microseconds; here they
 * count from 1, the same for every run of one seed). */
uint64_t sim_hosts_next_nonce(struct sim_hosts *h, int host);

struct ckw;
struct ckr;

/* natbed sim checkpoints (natbed/ckpt.h): every host's programs whole
 * (agents/: dgstund, rdv, turnd, agent, gatec) and what serve's start
 * holds (its state, tries, nonces). A new reference, NULL on error
 * (said in w). */
json_t *sim_hosts_ckpt_save(const struct sim_hosts *hs, struct ckw *w);

/* The hosts of t on v as j has them: every run line read as
 * sim_hosts_new() reads it, nothing started; the programs built from j
 * (their pointers and timers filled at ckr_finish()). 0 with *out set,
 * or -1 with the problem in err or in r (*out then set or NULL: free it). */
int sim_hosts_ckpt_new(struct vnet *v, const struct topo *t, const json_t *j, struct ckr *r,
		       struct sim_hosts **out, char *err, size_t errlen);

/* The functions the hosts give their programs. */
extern const struct ckfns sim_hosts_ckfns;

#endif
