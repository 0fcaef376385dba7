/* natbed agents: the zero-trust gate's client (gatec.h). */
#include "gatec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
