/* natbed-emu transmit batching: frames queued on a port leave in one send
 * call per batch, when PORT_BATCH of them wait or when the event loop has
 * finished its turn (an event made active at the first queued frame), so a
 * burst costs one system call per port, not one per frame. */
#ifndef NATBED_EMU_TXBATCH_H
#define NATBED_EMU_TXBATCH_H

#include <stddef.h>

#include "natbed/sched.h"
#include "pkt.h"
#include "port.h"

struct event_base;

struct txbatch_cfg {
	struct event_base *base;
	struct sched *sched;   /* read once per batch, for sent() */
	struct pkt_pool *pool; /* sent frames go back here */
	struct port *ports;    /* each one's txq holds its batch */
	size_t n_ports;
	/* A frame left port at now (counted in its tx counters); called
	 * before the frame goes back to the pool, e.g. to capture it.
	 * Optional. */
	void (*sent)(void *ctx, struct port *port, const struct pkt *p, natbed_time_t now);
	/* A frame the send call did not take: the callee owns it (drops it). */
	void (*failed)(void *ctx, struct port *port, struct pkt *p);
	void *ctx;
};

struct txbatch;

/* Registers with cfg->base (copied). NULL on ENOMEM. */
struct txbatch *txbatch_new(const struct txbatch_cfg *cfg);
/* Sends what is queued, then frees. NULL is safe. */
void txbatch_free(struct txbatch *tb);

/* Queues finished frame p on port (takes it). */
void txbatch_queue(struct txbatch *tb, struct port *port, struct pkt *p);
/* Sends every port's queue now. */
void txbatch_flush(struct txbatch *tb);

#endif
