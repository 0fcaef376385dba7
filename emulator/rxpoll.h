/* natbed-emu receive loop: each port's socket on the event loop, frames
 * taken a few batches at a time, the scheduler's due events run after
 * each, and optional busy polling after a burst.
 *
 * Busy polling (spin_ns > 0) keeps reading the ports that can tell cheaply
 * whether a frame waits (port_backend.ready: the rings) for spin_ns after
 * a burst before the loop sleeps again: a reply that comes within that time
 * is forwarded without a wake-up. */
#ifndef NATBED_EMU_RXPOLL_H
#define NATBED_EMU_RXPOLL_H

#include <stddef.h>

#include "natbed/sched.h"
#include "pkt.h"
#include "port.h"

struct event_base;

struct rxpoll_cfg {
	struct event_base *base;
	struct sched *sched;
	struct pkt_pool *pool; /* frames are received into its packets */
	struct port *ports;    /* open; each one's owner becomes the rxpoll */
	size_t n_ports;
	natbed_time_t spin_ns; /* 0: never busy-poll */
	/* A frame arrived on port at now (one clock read per batch); the callee
	 * owns p. */
	void (*rx)(void *ctx, struct port *port, struct pkt *p, natbed_time_t now);
	/* Called after each burst while spinning, and before spinning: send
	 * what the burst queued. */
	void (*flush)(void *ctx);
	void *ctx;
};

struct rxpoll;

/* Registers every port's socket with cfg->base (cfg copied). NULL with
 * the port named in err when one cannot be registered. */
struct rxpoll *rxpoll_new(const struct rxpoll_cfg *cfg, char *err, size_t errlen);
/* Unregisters the sockets. NULL is safe. */
void rxpoll_free(struct rxpoll *rp);

#endif
