/* natbed run: how to start a connect on a host, read from the host's run
 * line. A host takes part in a scenario by running `natbed-agent serve`;
 * its connects are `natbed-agent connect` with the same agent options (the
 * rendezvous, the STUN server, a TURN server, a gate key, ...) under a name
 * of their own, so they never take the serving agent's name. Behind a
 * gate (--gate without --gate-user), connect authenticates as the serving
 * agent's --name: the options end with --gate-user NAME. */
#ifndef NATBED_CLI_RUN_AGENT_H
#define NATBED_CLI_RUN_AGENT_H

#include <stddef.h>

#include "natbed/topo.h"

#define RUN_AGENT_ARGS_MAX 64
#define RUN_AGENT_NAME_MAX 32 /* an agent name's bytes (the rendezvous' limit) */

struct run_agent {
	char name[RUN_AGENT_NAME_MAX + 1]; /* serve's --name */
	int argc;			   /* the options connect reuses */
	char *argv[RUN_AGENT_ARGS_MAX];	   /* pointers into words */
	char words[TOPO_RUN_MAX];
};

/* An agent name: serve_name with tail, serve_name cut so the whole stays
 * within RUN_AGENT_NAME_MAX. */
void run_agent_name(const char *serve_name, const char *tail, char *buf, size_t len);

/* The name of connect id's agent in round `round` (natbed run, natbed
 * sim): the serving agent's name with ".cID" (and ".ROUND" past round 0),
 * cut so it stays a valid name, into buf[len]. */
void run_connect_name(const char *serve_name, unsigned id, unsigned round, char *buf, size_t len);

/* Reads host h's run line. 0, or -1 with err saying what is wrong: no run
 * line, not `natbed-agent serve ...`, quotes or shell syntax (a run line
 * natbed run reads is plain words), no --name, too many words. */
int run_agent_parse(const struct topo *t, int h, struct run_agent *out, char *err, size_t errlen);

#endif
