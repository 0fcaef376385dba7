/* STUN client transactions on the RFC 8489 §6.2.1 schedule. */
#include "rdvtxn.h"

#include <string.h>

#include "ckget.h"

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

json_t *rdvtxn_ckpt_save(const struct rdvtxn *x, struct ckw *w)
{
	json_t *j =
	    json_pack("{s:o,s:o,s:i,s:o,s:o,s:o,s:o,s:o,s:i,s:I,s:I,s:o,s:b}", "id", ckw_obj(w, x),
		      "d", ckw_ref(w, x->d), "sock", x->sock, "to", dg_ep_ckpt_save(&x->to, w),
		      "timeout", ckw_fn(w, (ckfn_ptr)x->timeout), "arg", ckw_ref(w, x->arg), "cfg",
		      rdvtxn_cfg_ckpt_save(&x->cfg), "buf", ckw_bytes(w, x->buf, x->len), "sent",
		      x->sent, "rto", (json_int_t)x->rto, "first_sent", (json_int_t)x->first_sent,
		      "timer", ckw_timer(w, x->timer), "active", x->active);

	return ckget_done(w, j, "rdvtxn");
}

json_t *rdvtxn_cfg_ckpt_save(const struct rdvtxn_cfg *c)
{
	return json_pack("{s:I,s:i,s:i}", "rto_ns", (json_int_t)c->rto_ns, "rc", c->rc, "rm",
			 c->rm);
}

void rdvtxn_cfg_ckpt_get(struct ckget *g, const char *key, struct rdvtxn_cfg *c)
{
	struct ckget cg = {g->r, "rdvtxn.cfg", ckget_get(g, key), false};

	c->rto_ns = ckget_time(&cg, "rto_ns");
	c->rc = (int)ckget_int(&cg, "rc", 0, INT32_MAX);
	c->rm = (int)ckget_int(&cg, "rm", 0, INT32_MAX);
	g->bad |= cg.bad;
}

int rdvtxn_ckpt_fill(struct rdvtxn *x, const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "rdvtxn", j, false};

	memset(x, 0, sizeof(*x));
	x->sock = (int)ckget_int(&g, "sock", -1, INT32_MAX);
	ckget_ep(&g, "to", &x->to);
	rdvtxn_cfg_ckpt_get(&g, "cfg", &x->cfg);
	x->len = ckget_bytes_max(&g, "buf", x->buf, sizeof(x->buf));
	x->sent = (int)ckget_int(&g, "sent", 0, INT32_MAX);
	x->rto = ckget_time(&g, "rto");
	x->first_sent = ckget_time(&g, "first_sent");
	x->active = ckget_bool(&g, "active");
	ckget_obj(&g, "id", x);
	ckget_ref(&g, "d", &x->d);
	ckget_ref(&g, "arg", &x->arg);
	x->timeout = (rdvtxn_timeout_fn)ckget_fn(&g, "timeout");
	ckget_timer(&g, "timer", &x->timer);
	return g.bad ? -1 : 0;
}

static const struct ckfn rdvtxn_fns[] = {CKFN(txn_timer)};
const struct ckfns rdvtxn_ckfns = CKFNS(rdvtxn, rdvtxn_fns);
