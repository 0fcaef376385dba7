/* natbed agents: the datagram interface on real UDP sockets and libevent,
 * timers on a scheduler attached to the same loop. */
#ifndef NATBED_AGENTS_DGRAM_SOCK_H
#define NATBED_AGENTS_DGRAM_SOCK_H

#include "dgram.h"

#define DGSOCK_MAX 4096 /* sockets open at once (birthday probing opens hundreds) */

struct event_base;
struct dgsock;

/* A driver on base whose state machines time with s (attached to base by
 * the caller, clock_monotonic). NULL on ENOMEM. */
struct dgsock *dgsock_new(struct event_base *base, struct sched *s, uint64_t seed);
/* Closes every socket. NULL is safe. */
void dgsock_free(struct dgsock *d);

/* The interface state machines get. Valid while d lives. */
const struct dgram *dgsock_dgram(struct dgsock *d);

/* Datagrams received and sent, and sends the kernel refused. */
struct dgsock_stats {
	uint64_t rx, tx, tx_errors;
};
void dgsock_stats(const struct dgsock *d, struct dgsock_stats *st);

#endif
