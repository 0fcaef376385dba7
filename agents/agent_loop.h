/* natbed agents' programs (natbed-rendezvous, natbed-agent): the loop
 * their state machines run on. libevent, a scheduler on the monotonic
 * clock attached to it, real UDP sockets behind struct dgram
 * (dgram_sock.c) seeded from getrandom, SIGTERM and SIGINT to stop,
 * SIGUSR1 to write the --stats file, which is written whole. */
#ifndef NATBED_AGENTS_AGENT_LOOP_H
#define NATBED_AGENTS_AGENT_LOOP_H

#include <jansson.h>

#include "dgram_sock.h"

struct event_base;
struct event;

struct agent_loop {
	struct event_base *base;
	struct event *sig_term, *sig_int, *sig_usr1;
	struct sched *s;
	struct dgsock *io;
	int status; /* what agent_loop_stop() was given */
	/* SIGUSR1 and agent_loop_stats(): the counters as JSON (new reference),
	 * written to stats_path when set */
	json_t *(*stats)(void *arg);
	void *arg;
	const char *stats_path;
};

/* Sets l up (zeroed first); stats and arg as above. 0, or -ENOMEM. */
int agent_loop_init(struct agent_loop *l, json_t *(*stats)(void *arg), void *arg,
		    const char *stats_path);

/* The datagram interface on l's sockets. */
const struct dgram *agent_loop_dgram(const struct agent_loop *l);

/* Runs until agent_loop_stop() or SIGTERM/SIGINT (status 0). */
void agent_loop_run(struct agent_loop *l);
void agent_loop_stop(struct agent_loop *l, int status);

/* Writes the stats file now (nothing without a path). 0 or -EIO (logged). */
int agent_loop_stats(const struct agent_loop *l);

/* Frees what init made, sockets first. Safe on a zeroed or half-made l. */
void agent_loop_free(struct agent_loop *l);

#endif
