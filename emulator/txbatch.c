#include "txbatch.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/log.h"

struct txbatch {
	struct txbatch_cfg cfg;
	struct event *flush_ev;
	int armed;
};

static void txbatch_port_flush(struct txbatch *tb, struct port *port)
{
	natbed_time_t now;
	int k, i;

	if (port->txq_len == 0)
		return;
	k = port->be->send(port, port->txq, port->txq_len);
	now = sched_now(tb->cfg.sched);
	if (k < 0) {
		log_warn("port %s: send: %s", port->ifname, strerror(-k));
		k = 0;
	}
	for (i = 0; i < port->txq_len; i++) {
		struct pkt *p = port->txq[i];

		if (i >= k) {
			tb->cfg.failed(tb->cfg.ctx, port, p);
			continue;
		}
		port->c.tx_pkts++;
		port->c.tx_bytes += p->len;
		if (tb->cfg.sent)
			tb->cfg.sent(tb->cfg.ctx, port, p, now);
		pkt_put(tb->cfg.pool, p);
	}
	port->txq_len = 0;
}

void txbatch_flush(struct txbatch *tb)
{
	size_t i;

	tb->armed = 0;
	for (i = 0; i < tb->cfg.n_ports; i++)
		txbatch_port_flush(tb, &tb->cfg.ports[i]);
}

static void txbatch_flush_cb(evutil_socket_t fd, short ev, void *arg)
{
	txbatch_flush(arg);
}

struct txbatch *txbatch_new(const struct txbatch_cfg *cfg)
{
	struct txbatch *tb = calloc(1, sizeof(*tb));

	if (!tb)
		return NULL;
	tb->cfg = *cfg;
	tb->flush_ev = event_new(cfg->base, -1, 0, txbatch_flush_cb, tb);
	if (!tb->flush_ev) {
		free(tb);
		return NULL;
	}
	return tb;
}

void txbatch_free(struct txbatch *tb)
{
	if (!tb)
		return;
	txbatch_flush(tb);
	event_free(tb->flush_ev);
	free(tb);
}

void txbatch_queue(struct txbatch *tb, struct port *port, struct pkt *p)
{
	port->txq[port->txq_len++] = p;
	if (port->txq_len == PORT_BATCH)
		txbatch_port_flush(tb, port);
	if (!tb->armed) {
		tb->armed = 1;
		event_active(tb->flush_ev, EV_WRITE, 0);
	}
}
