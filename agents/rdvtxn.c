/* STUN client transactions on the RFC 8489 §6.2.1 schedule. */
#include "rdvtxn.h"

#include <string.h>

static void txn_timer(void *arg, natbed_time_t now)
{
	struct rdvtxn *x = arg;

	x->timer = 0;
	/* RFC 8489 §6.2.1: after the Rc-th send, wait Rm * RTO, then fail */
	if (x->sent >= x->cfg.rc) {
		x->active = false;
		if (x->timeout)
			x->timeout(x->arg, x);
		return;
	}
	dg_send(x->d, x->sock, &x->to, x->buf, x->len);
	x->sent++;
	x->rto *= 2;
	x->timer =
	    sched_at(x->d->s, now + (x->sent == x->cfg.rc ? x->cfg.rm * x->cfg.rto_ns : x->rto),
		     txn_timer, x);
}

int rdvtxn_start(struct rdvtxn *x, const struct dgram *d, int sock, const struct dg_ep *to,
		 const uint8_t *buf, size_t len, const struct rdvtxn_cfg *cfg,
		 rdvtxn_timeout_fn timeout, void *arg)
{
	natbed_time_t now = dg_now(d);

	if (len > sizeof(x->buf) || len < STUN_HEADER_LEN)
		return -EINVAL;
	rdvtxn_stop(x);
	x->d = d;
	x->sock = sock;
	x->to = *to;
	x->timeout = timeout;
	x->arg = arg;
	x->cfg = cfg ? *cfg : (struct rdvtxn_cfg){0};
	if (x->cfg.rto_ns <= 0)
		x->cfg.rto_ns = RDVTXN_RTO_MS * NATBED_NS_PER_MS;
	if (x->cfg.rc <= 0)
		x->cfg.rc = RDVTXN_RC;
	if (x->cfg.rm <= 0)
		x->cfg.rm = RDVTXN_RM;
	memcpy(x->buf, buf, len);
	x->len = len;
	x->rto = x->cfg.rto_ns;
	x->first_sent = now;
	x->active = true;
	dg_send(d, sock, to, buf, len);
	x->sent = 1;
	x->timer =
	    sched_at(d->s, now + (x->cfg.rc == 1 ? x->cfg.rm * x->rto : x->rto), txn_timer, x);
	return 0;
}

bool rdvtxn_match(const struct rdvtxn *x, const uint8_t *txid, const struct dg_ep *from)
{
	return rdvtxn_awaits(x, from) && memcmp(x->buf + 8, txid, STUN_TXID_LEN) == 0;
}

bool rdvtxn_awaits(const struct rdvtxn *x, const struct dg_ep *from)
{
	return x->active && dg_ep_eq(&x->to, from);
}

void rdvtxn_stop(struct rdvtxn *x)
{
	if (x->timer && x->d)
		sched_cancel(x->d->s, x->timer);
	x->timer = 0;
	x->active = false;
}
