#include "rxpoll.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/log.h"

#define RXPOLL_ROUNDS 8 /* batches per readable callback */

struct rxpoll {
	struct rxpoll_cfg cfg;
	struct event **ev; /* one per port */
};

/* Takes what port has waiting, a few batches at most. */
static void rxpoll_port(struct rxpoll *rp, struct port *port)
{
	struct pkt *pk[PORT_BATCH];
	natbed_time_t now;
	int round, n = 0, i;

	for (round = 0; round < RXPOLL_ROUNDS; round++) {
		n = port->be->recv(port, rp->cfg.pool, pk, PORT_BATCH);
		/* one clock read per batch: they arrived together */
		now = sched_now(rp->cfg.sched);
		for (i = 0; i < n; i++)
			rp->cfg.rx(rp->cfg.ctx, port, pk[i], now);
		if (n < PORT_BATCH)
			break;
	}
	if (n < 0)
		log_warn("port %s: receive: %s", port->ifname, strerror(-n));
}

/* Busy-polls the ports for up to spin_ns before the loop goes back to
 * sleep (what a kernel router never pays). */
static void rxpoll_spin(struct rxpoll *rp)
{
	natbed_time_t deadline, now = sched_now(rp->cfg.sched);
	size_t i;

	deadline = now + rp->cfg.spin_ns;
	while (now < deadline) {
		for (i = 0; i < rp->cfg.n_ports; i++) {
			struct port *port = &rp->cfg.ports[i];

			if (port->be->ready && port->be->ready(port))
				rxpoll_port(rp, port);
		}
		sched_run_due(rp->cfg.sched);
		rp->cfg.flush(rp->cfg.ctx);
		now = sched_now(rp->cfg.sched);
	}
}

static void rxpoll_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct port *port = arg;
	struct rxpoll *rp = port->owner;

	rxpoll_port(rp, port);
	sched_run_due(rp->cfg.sched);
	if (rp->cfg.spin_ns > 0) {
		rp->cfg.flush(rp->cfg.ctx);
		rxpoll_spin(rp);
	}
}

struct rxpoll *rxpoll_new(const struct rxpoll_cfg *cfg, char *err, size_t errlen)
{
	struct rxpoll *rp = calloc(1, sizeof(*rp));
	size_t i;

	if (!rp || !(rp->ev = calloc(cfg->n_ports ? cfg->n_ports : 1, sizeof(*rp->ev)))) {
		free(rp);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rp->cfg = *cfg;
	for (i = 0; i < cfg->n_ports; i++) {
		struct port *port = &cfg->ports[i];

		port->owner = rp;
		rp->ev[i] = event_new(cfg->base, port->fd, EV_READ | EV_PERSIST, rxpoll_cb, port);
		if (!rp->ev[i] || event_add(rp->ev[i], NULL) < 0) {
			snprintf(err, errlen, "port %s: cannot register with the event loop",
				 port->ifname);
			rxpoll_free(rp);
			return NULL;
		}
	}
	return rp;
}

void rxpoll_free(struct rxpoll *rp)
{
	size_t i;

	if (!rp)
		return;
	for (i = 0; i < rp->cfg.n_ports; i++)
		if (rp->ev[i])
			event_free(rp->ev[i]);
	free(rp->ev);
	free(rp);
}
