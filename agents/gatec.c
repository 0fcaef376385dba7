/* natbed agents: the zero-trust gate's client (gatec.h). */
#include "gatec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckget.h"
#include "natbed/rng.h"
#include "natbed/strcopy.h"

struct gatec {
	const struct dgram *d;
	struct gatec_cfg cfg;
	struct gatec_ops ops;
	void *arg;
	int sock;
	uint8_t txid[STUN_TXID_LEN];
	uint8_t req[GATEMSG_MAX];
	size_t req_len;
	natbed_time_t first, rto;
	uint64_t rtx_timer, end_timer, done_timer;
	int sent_this; /* sends of the current request */
	int restarts;
	bool finished;
	struct gatec_report rep;
};

static const char *const result_names[GATEC_RESULT_COUNT] = {"granted", "denied", "refused",
							     "timeout"};

const char *gatec_result_name(enum gatec_result r)
{
	return (unsigned)r < GATEC_RESULT_COUNT ? result_names[r] : "unknown";
}

static void gatec_cancel(struct gatec *c)
{
	if (c->rtx_timer)
		sched_cancel(c->d->s, c->rtx_timer);
	if (c->end_timer)
		sched_cancel(c->d->s, c->end_timer);
	c->rtx_timer = c->end_timer = 0;
}

/* From the loop, never inside the socket's callback: done() may free c. */
static void gatec_done_fire(void *arg, natbed_time_t now)
{
	struct gatec *c = arg;

	c->done_timer = 0;
	if (c->ops.done)
		c->ops.done(c->arg, &c->rep);
}

static void gatec_finish(struct gatec *c, enum gatec_result r, natbed_time_t now)
{
	if (c->finished)
		return;
	c->finished = true;
	gatec_cancel(c);
	c->rep.result = r;
	c->rep.auth_ms = (double)(now - c->first) / NATBED_NS_PER_MS;
	c->done_timer = sched_at(c->d->s, now, gatec_done_fire, c);
}

/* The request of cfg.nonce, with a transaction id of its own (RFC 8489
 * §6: unique to the request). 0, or -1 for a bad configuration. */
static int gatec_build(struct gatec *c)
{
	uint64_t r;
	int n;

	for (size_t i = 0; i < STUN_TXID_LEN; i += 8) {
		r = rng_keyed_u64(c->d->seed, rng_key("gatec", c->cfg.nonce), i);
		memcpy(c->txid + i, &r, STUN_TXID_LEN - i < 8 ? STUN_TXID_LEN - i : 8);
	}
	n = gatemsg_build_request(c->req, sizeof(c->req), c->txid, c->cfg.user, c->cfg.nonce,
				  c->cfg.resource, (const uint8_t *)c->cfg.key, strlen(c->cfg.key));
	if (n < 0)
		return -1;
	c->req_len = (size_t)n;
	c->sent_this = 0;
	return 0;
}

static void gatec_send(struct gatec *c)
{
	/* a lost send is a lost datagram: the retransmission covers it */
	dg_send(c->d, c->sock, &c->cfg.gate, c->req, c->req_len);
	c->rep.sent++;
	c->sent_this++;
}

static void gatec_rtx(void *arg, natbed_time_t now)
{
	struct gatec *c = arg;

	gatec_send(c);
	c->rto = c->rto * 2 > c->cfg.rto_max_ns ? c->cfg.rto_max_ns : c->rto * 2;
	c->rtx_timer = sched_at(c->d->s, now + c->rto, gatec_rtx, c);
}

/* Sends the current request now, retransmitted from rto on. */
static void gatec_start(struct gatec *c, natbed_time_t now)
{
	if (c->rtx_timer)
		sched_cancel(c->d->s, c->rtx_timer);
	c->rto = c->cfg.rto_ns;
	gatec_send(c);
	c->rtx_timer = sched_at(c->d->s, now + c->rto, gatec_rtx, c);
}

static void gatec_timeout(void *arg, natbed_time_t now)
{
	struct gatec *c = arg;

	c->end_timer = 0;
	snprintf(c->rep.reason, sizeof(c->rep.reason), "no answer from the gate");
	gatec_finish(c, GATEC_TIMEOUT, now);
}

/* Our request was decided but its answer lost, and a retransmission met
 * its spent nonce (a signed 438): ask again with the next nonce. */
static bool gatec_restart(struct gatec *c, const struct gatemsg_ans *a, natbed_time_t now)
{
	if (a->code != GATEMSG_ERR_STALE_NONCE || !a->authenticated || c->sent_this < 2 ||
	    c->restarts >= GATEC_RESTARTS || c->cfg.nonce == UINT64_MAX)
		return false;
	c->restarts++;
	c->cfg.nonce++;
	if (gatec_build(c) < 0)
		return false;
	gatec_start(c, now);
	return true;
}

static void gatec_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
		       size_t len, natbed_time_t now)
{
	struct gatec *c = arg;
	struct gatemsg_ans a;

	if (c->finished || !dg_ep_eq(from, &c->cfg.gate) ||
	    gatemsg_parse_answer(buf, len, (const uint8_t *)c->cfg.key, strlen(c->cfg.key), &a) <
		0 ||
	    memcmp(a.txid, c->txid, STUN_TXID_LEN) != 0)
		return;
	if (a.granted && !a.authenticated)
		return; /* anyone could say yes: only the gate can sign it */
	if (gatec_restart(c, &a, now))
		return;
	c->rep.has_trust = a.has_trust;
	c->rep.level = a.level;
	c->rep.level_now = a.level_now;
	c->rep.gate_delay_ms = a.delay_us / 1000.0;
	c->rep.risk = a.risk_ppm / 1e6;
	c->rep.ttl_ns = (natbed_time_t)a.ttl_ms * NATBED_NS_PER_MS;
	c->rep.code = a.code;
	str_copy(c->rep.reason, sizeof(c->rep.reason), a.reason);
	gatec_finish(c,
		     a.granted	   ? GATEC_GRANTED
		     : a.has_trust ? GATEC_DENIED
				   : GATEC_REFUSED,
		     now);
}

struct gatec *gatec_new(const struct dgram *d, const struct gatec_cfg *cfg,
			const struct gatec_ops *ops, void *arg)
{
	struct dg_ep any = {0}, local;
	struct gatec *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->d = d;
	c->cfg = *cfg;
	c->ops = *ops;
	c->arg = arg;
	c->sock = -1;
	if (!c->cfg.resource[0])
		snprintf(c->cfg.resource, sizeof(c->cfg.resource), "any");
	if (!c->cfg.rto_ns)
		c->cfg.rto_ns = GATEC_RTO_NS;
	if (!c->cfg.rto_max_ns)
		c->cfg.rto_max_ns = GATEC_RTO_MAX_NS;
	if (!c->cfg.timeout_ns)
		c->cfg.timeout_ns = GATEC_TIMEOUT_NS;
	if (gatec_build(c) < 0 || (c->sock = dg_open(d, &any, &local, gatec_recv, c)) < 0) {
		free(c);
		return NULL;
	}
	c->first = dg_now(d);
	gatec_start(c, c->first);
	c->end_timer = sched_at(d->s, c->first + c->cfg.timeout_ns, gatec_timeout, c);
	return c;
}

void gatec_free(struct gatec *c)
{
	if (!c)
		return;
	gatec_cancel(c);
	if (c->done_timer)
		sched_cancel(c->d->s, c->done_timer);
	dg_close(c->d, c->sock);
	free(c);
}

json_t *gatec_ckpt_save(const struct gatec *c, struct ckw *w)
{
	const struct gatec_report *p = &c->rep;
	json_t *cfg, *rep, *j;

	cfg = json_pack("{s:o,s:s,s:s,s:s,s:o,s:I,s:I,s:I}", "gate",
			dg_ep_ckpt_save(&c->cfg.gate, w), "user", c->cfg.user, "key", c->cfg.key,
			"resource", c->cfg.resource, "nonce", jsonck_u64(c->cfg.nonce, true),
			"rto_ns", (json_int_t)c->cfg.rto_ns, "rto_max_ns",
			(json_int_t)c->cfg.rto_max_ns, "timeout_ns", (json_int_t)c->cfg.timeout_ns);
	rep = json_pack("{s:i,s:f,s:i,s:i,s:s,s:b,s:i,s:i,s:f,s:f,s:I}", "result", (int)p->result,
			"auth_ms", p->auth_ms, "sent", p->sent, "code", p->code, "reason",
			p->reason, "has_trust", p->has_trust, "level", (int)p->level, "level_now",
			(int)p->level_now, "gate_delay_ms", p->gate_delay_ms, "risk", p->risk,
			"ttl_ns", (json_int_t)p->ttl_ns);
	j = json_pack("{s:o,s:o,s:o,s:o,s:o,s:i,s:o,s:o,s:I,s:I,s:o,s:o,s:o,s:i,s:i,s:b,s:o}", "id",
		      ckw_obj(w, c), "d", ckw_ref(w, c->d), "cfg", cfg, "done",
		      ckw_fn(w, (ckfn_ptr)c->ops.done), "arg", ckw_ref(w, c->arg), "sock", c->sock,
		      "txid", ckw_bytes(w, c->txid, sizeof(c->txid)), "req",
		      ckw_bytes(w, c->req, c->req_len), "first", (json_int_t)c->first, "rto",
		      (json_int_t)c->rto, "rtx_timer", ckw_timer(w, c->rtx_timer), "end_timer",
		      ckw_timer(w, c->end_timer), "done_timer", ckw_timer(w, c->done_timer),
		      "sent_this", c->sent_this, "restarts", c->restarts, "finished", c->finished,
		      "rep", rep);
	return ckget_done(w, j, "gatec");
}

struct gatec *gatec_ckpt_load(const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "gatec", j, false}, f = {r, "gatec.cfg", NULL, false},
		     p = {r, "gatec.rep", NULL, false};
	struct gatec *c = calloc(1, sizeof(*c));

	if (!c) {
		ckr_fail(r, "gatec: out of memory");
		return NULL;
	}
	f.o = ckget_get(&g, "cfg");
	ckget_ep(&f, "gate", &c->cfg.gate);
	ckget_str(&f, "user", c->cfg.user, sizeof(c->cfg.user));
	ckget_str(&f, "key", c->cfg.key, sizeof(c->cfg.key));
	ckget_str(&f, "resource", c->cfg.resource, sizeof(c->cfg.resource));
	c->cfg.nonce = ckget_u64(&f, "nonce");
	c->cfg.rto_ns = ckget_dur(&f, "rto_ns");
	c->cfg.rto_max_ns = ckget_dur(&f, "rto_max_ns");
	c->cfg.timeout_ns = ckget_dur(&f, "timeout_ns");
	c->sock = (int)ckget_int(&g, "sock", -1, INT32_MAX);
	ckget_bytes(&g, "txid", c->txid, sizeof(c->txid));
	c->req_len = ckget_bytes_max(&g, "req", c->req, sizeof(c->req));
	c->first = ckget_time(&g, "first");
	c->rto = ckget_dur(&g, "rto");
	c->sent_this = (int)ckget_int(&g, "sent_this", 0, INT32_MAX);
	c->restarts = (int)ckget_int(&g, "restarts", 0, GATEC_RESTARTS);
	c->finished = ckget_bool(&g, "finished");
	p.o = ckget_get(&g, "rep");
	c->rep.result = (enum gatec_result)ckget_int(&p, "result", 0, GATEC_RESULT_COUNT - 1);
	c->rep.auth_ms = ckget_real(&p, "auth_ms");
	c->rep.sent = (int)ckget_int(&p, "sent", 0, INT32_MAX);
	c->rep.code = (int)ckget_int(&p, "code", 0, 999);
	ckget_str(&p, "reason", c->rep.reason, sizeof(c->rep.reason));
	c->rep.has_trust = ckget_bool(&p, "has_trust");
	c->rep.level = (enum topo_trust)ckget_int(&p, "level", 0, TOPO_TRUST_COUNT - 1);
	c->rep.level_now = (enum topo_trust)ckget_int(&p, "level_now", 0, TOPO_TRUST_COUNT - 1);
	c->rep.gate_delay_ms = ckget_real(&p, "gate_delay_ms");
	c->rep.risk = ckget_real(&p, "risk");
	c->rep.ttl_ns = ckget_time(&p, "ttl_ns");
	ckget_obj(&g, "id", c);
	ckget_ref(&g, "d", &c->d);
	ckget_ref(&g, "arg", &c->arg);
	c->ops.done = (void (*)(void *, const struct gatec_report *))ckget_fn(&g, "done");
	ckget_timer(&g, "rtx_timer", &c->rtx_timer);
	ckget_timer(&g, "end_timer", &c->end_timer);
	ckget_timer(&g, "done_timer", &c->done_timer);
	if (g.bad || f.bad || p.bad) {
		free(c); /* nothing opened or scheduled; ckr_finish() fills no field of it now */
		return NULL;
	}
	return c;
}

static const struct ckfn gatec_fns[] = {CKFN(gatec_done_fire), CKFN(gatec_rtx), CKFN(gatec_timeout),
					CKFN(gatec_recv)};
const struct ckfns gatec_ckfns = CKFNS(gatec, gatec_fns);
