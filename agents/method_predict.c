/* predict: port prediction for NATs that allocate ports sequentially
 * (RFC 4787 §4.2.1 and §4.1: an address(-and-port)-dependent mapping
 * whose every new mapping takes the port `stride` after the last one).
 *
 * Such a NAT's mapping toward the peer cannot be learned by STUN, and a
 * port-restricted peer lets in only the endpoint it sent to first, so
 * both sides must agree where that mapping will be without hearing each
 * other. They agree on an index: the port `PREDICT_TARGET` allocations
 * after the sequential side's server-reflexive port (its anchor, which the
 * rendezvous gave both):
 *
 *   target = anchor + PREDICT_TARGET * stride   (in the range 1024-65535)
 *
 * The sequential side measures its NAT at the start: PREDICT_PROBES STUN
 * Binding requests to t->stun from fresh sockets give consecutive ports,
 * hence the stride and the next port; it then spends the allocations left
 * before the target (Binding requests from more fresh sockets, in one
 * burst, in order), so that its next fresh socket's mapping toward the
 * peer lands on the target, and checks the peer from that socket, each
 * check telling the endpoint it predicted (NBSTUN_ATTR_CAND_SRFLX).
 *  - Against an endpoint-independent peer (or no NAT) it checks the peer's
 *    srflx; the peer checks the window of PREDICT_WINDOW ports either side
 *    of the target from its own socket, which opens its filter to them.
 *  - Against another sequential peer each checks the other's target from
 *    its target socket: the two mappings meet exactly (no window: every
 *    other destination would spend an allocation of its own).
 * The probes' mapped ports count as a set: a probe may reach the NAT after
 * a later one (a retransmission, a host's kernel), so what proves the
 * stride is that the three are consecutive allocations in some order.
 * When they are not, something else behind the NAT took a port between
 * them (another agent of the same host re-anchoring, another host): the
 * side measures again from PREDICT_PROBES fresh sockets, PREDICT_ROUNDS
 * times at most. Measurement fails ("no prediction") when the stride is
 * not measurable (answers missing, or no round consecutive), differs from
 * the stride the peer was told, or the NAT is already past the target
 * (its anchor is older than PREDICT_TARGET allocations). docs/methods.md:
 * "predict". */
#include <arpa/inet.h>
#include <errno.h>

#include "method_checks.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "natbed/log.h"
#include "trav_ckpt.h"

#define PREDICT_PROBES	   3  /* Binding requests that measure the stride */
#define PREDICT_TARGET	   32 /* the agreed index after the anchor */
#define PREDICT_WINDOW	   2  /* an EIM peer checks target +- this many strides */
#define PREDICT_RETRY	   (100 * NATBED_NS_PER_MS) /* measurement retransmission */
#define PREDICT_RETRIES	   10			    /* a round's, then "no prediction" */
#define PREDICT_ROUNDS	   3			    /* measurements, when one is not consecutive */
#define PREDICT_PORT_LO	   1024 /* RFC 4787 REQ-3a: the range past the well-known ports */
#define PREDICT_PORT_RANGE (65535 - PREDICT_PORT_LO + 1)

enum predict_role { PREDICT_SWEEP, PREDICT_MEASURE, PREDICT_PUNCH };

_Static_assert(PREDICT_PROBES == 3, "predict_measured's log line names three probes");

struct predict {
	enum predict_role role;
	int probe[PREDICT_PROBES];     /* socket indices */
	uint16_t port[PREDICT_PROBES]; /* mapped ports, host order; 0: no answer yet */
	unsigned answers, retries, rounds;
};

/* Sequential allocation as natinfo says it: what both sides read. */
static bool predict_predictable(const struct natinfo *ni)
{
	return mc_map_dep(ni) && ni->ports == NI_PORTS_SEQUENTIAL;
}

static int predict_stride(const struct natinfo *ni)
{
	return ni->stride ? ni->stride : 1;
}

/* The port i strides after anchor (host order), wrapping in the range. */
static uint16_t predict_port_at(uint16_t anchor, long i, int stride)
{
	long off = ((long)anchor - PREDICT_PORT_LO + i * stride) % PREDICT_PORT_RANGE;

	if (off < 0)
		off += PREDICT_PORT_RANGE;
	return (uint16_t)(PREDICT_PORT_LO + off);
}

static struct dg_ep predict_target(const struct trav_cand *c)
{
	struct dg_ep ep = {
	    c->srflx.addr,
	    htons(predict_port_at(ntohs(c->srflx.port), PREDICT_TARGET, predict_stride(&c->nat)))};

	return ep;
}

static double predict_prior(enum ni_class self, enum ni_class peer)
{
	if (self == NI_CLASS_UNKNOWN || peer == NI_CLASS_UNKNOWN)
		return 0.2;
	if ((self == NI_CLASS_SYM_SEQUENTIAL && mc_class_eim(peer)) ||
	    (peer == NI_CLASS_SYM_SEQUENTIAL && mc_class_eim(self)))
		return 0.8;
	if (self == NI_CLASS_SYM_SEQUENTIAL && peer == NI_CLASS_SYM_SEQUENTIAL)
		return 0.7;
	/* address-dependent: predictable when its ports are sequential, which
	 * the class does not say */
	if ((self == NI_CLASS_ADDR_DEPENDENT && mc_class_eim(peer)) ||
	    (peer == NI_CLASS_ADDR_DEPENDENT && mc_class_eim(self)))
		return 0.3;
	return 0.02;
}

/* A signed stride from two ports, the shorter way round the range. */
static int predict_delta(uint16_t from, uint16_t to)
{
	int d = ((int)to - (int)from) % PREDICT_PORT_RANGE;

	if (d > PREDICT_PORT_RANGE / 2)
		d -= PREDICT_PORT_RANGE;
	if (d < -PREDICT_PORT_RANGE / 2)
		d += PREDICT_PORT_RANGE;
	return d;
}

/* The allocations the NAT makes before the target, then the target
 * socket and its checks. */
static void predict_punch(struct trav_try *t, uint16_t next, int stride)
{
	struct predict *p = mc_user(t);
	uint16_t anchor = ntohs(t->self.srflx.port);
	struct dg_ep pred = predict_target(&t->self), to;
	long i, d = -1;
	int si;

	for (i = 1; i <= PREDICT_TARGET && d < 0; i++)
		if (predict_port_at(anchor, i, stride) == next)
			d = i;
	if (d < 0) {
		mc_fail(t, "no prediction"); /* the NAT went past the target */
		return;
	}
	p->role = PREDICT_PUNCH;
	for (i = d; i < PREDICT_TARGET; i++) {
		si = mc_open(t, NULL);
		if (si < 0) {
			mc_fail(t, "no prediction");
			return;
		}
		mc_stun(t, si, &t->stun);
	}
	to = predict_predictable(&t->peer.nat) ? predict_target(&t->peer) : t->peer.srflx;
	si = mc_open(t, NULL);
	if (si < 0 || mc_pair(t, si, &to, dg_now(t->dg), 0, &pred) < 0)
		mc_fail(t, "no prediction");
}

/* The port after the probes' when their ports are PREDICT_PROBES
 * consecutive allocations of stride s, in any order (RFC 4787 §4.2.1:
 * sequential means one stride between every two); 0 when they are not. */
static uint16_t predict_next(const struct predict *p, int s)
{
	long k[PREDICT_PROBES], lo = 0;
	unsigned i, j;
	int d;

	for (i = 0; i < PREDICT_PROBES; i++) {
		d = predict_delta(p->port[0], p->port[i]);
		if (d % s)
			return 0;
		k[i] = d / s; /* its index, in strides after probe 0's port */
		if (k[i] < lo)
			lo = k[i];
	}
	/* the indices must be lo, lo + 1, ... each once */
	for (i = 0; i < PREDICT_PROBES; i++) {
		if (k[i] - lo >= PREDICT_PROBES)
			return 0;
		for (j = 0; j < i; j++)
			if (k[j] == k[i])
				return 0;
	}
	return predict_port_at(p->port[0], lo + PREDICT_PROBES, s);
}

static int predict_probe(struct trav_try *t);

static void predict_measured(struct trav_try *t)
{
	struct predict *p = mc_user(t);
	int s = predict_stride(&t->self.nat);
	uint16_t next = predict_next(p, s);

	/* what a failed predict is read from, in the agent's log */
	log_info("predict: anchor %u, round %u's probes mapped to %u %u %u (stride %d): next "
		 "port %u (0: not consecutive)",
		 ntohs(t->self.srflx.port), p->rounds, p->port[0], p->port[1], p->port[2], s, next);
	if (next) {
		predict_punch(t, next, s);
		return;
	}
	/* something else took a port between the probes (or the stride is
	 * not the one told): measure again, from fresh sockets */
	if (p->rounds >= PREDICT_ROUNDS || predict_probe(t) < 0)
		mc_fail(t, "no prediction");
}

static void predict_stun_answer(struct trav_try *t, int si, const struct dg_ep *mapped)
{
	struct predict *p = mc_user(t);
	unsigned i;

	if (p->role != PREDICT_MEASURE)
		return; /* the answers to the allocations spent: nothing to learn */
	for (i = 0; i < PREDICT_PROBES; i++) {
		if (p->probe[i] != si || p->port[i])
			continue;
		if (mapped->addr != t->self.srflx.addr) {
			mc_fail(t, "no prediction"); /* another public address */
			return;
		}
		p->port[i] = ntohs(mapped->port);
		if (++p->answers == PREDICT_PROBES)
			predict_measured(t);
		return;
	}
}

static void predict_retry(struct trav_try *t)
{
	struct predict *p = mc_user(t);
	unsigned i;

	if (p->role != PREDICT_MEASURE)
		return;
	if (++p->retries > PREDICT_RETRIES) {
		mc_fail(t, "no prediction");
		return;
	}
	for (i = 0; i < PREDICT_PROBES; i++)
		if (!p->port[i])
			mc_stun(t, p->probe[i], &t->stun);
	mc_at(t, dg_now(t->dg) + PREDICT_RETRY, predict_retry);
}

static const char *predict_expire(struct trav_try *t)
{
	struct predict *p = mc_user(t);

	return p->role == PREDICT_MEASURE ? "budget spent" : NULL;
}

/* The EIM side opens its filter to the window around the target. */
static int predict_sweep(struct trav_try *t, natbed_time_t now)
{
	uint16_t anchor = ntohs(t->peer.srflx.port);
	int stride = predict_stride(&t->peer.nat);
	long i;

	for (i = PREDICT_TARGET - PREDICT_WINDOW; i <= PREDICT_TARGET + PREDICT_WINDOW; i++) {
		struct dg_ep to = {t->peer.srflx.addr, htons(predict_port_at(anchor, i, stride))};

		if (mc_pair(t, MC_MAIN_SOCK, &to, now, 0, NULL) < 0)
			return -ENOSPC;
	}
	return 0;
}

/* One measurement round: PREDICT_PROBES fresh sockets, a Binding request
 * from each. 0 or -errno. */
static int predict_probe(struct trav_try *t)
{
	struct predict *p = mc_user(t);
	unsigned i;

	p->rounds++;
	p->answers = p->retries = 0;
	for (i = 0; i < PREDICT_PROBES; i++) {
		p->port[i] = 0;
		p->probe[i] = mc_open(t, NULL);
		if (p->probe[i] < 0)
			return p->probe[i];
	}
	/* back to back, so that nothing else takes a port in between */
	for (i = 0; i < PREDICT_PROBES; i++)
		mc_stun(t, p->probe[i], &t->stun);
	return 0;
}

static int predict_measure(struct trav_try *t, natbed_time_t now)
{
	struct predict *p = mc_user(t);
	int r;

	p->role = PREDICT_MEASURE;
	r = predict_probe(t);
	return r < 0 ? r : mc_at(t, now + PREDICT_RETRY, predict_retry);
}

static const struct mc_hooks predict_hooks = {.stun_answer = predict_stun_answer,
					      .expire = predict_expire};

static int predict_start(struct trav_try *t)
{
	natbed_time_t now = dg_now(t->dg);
	int r = mc_begin(t, &predict_hooks, sizeof(struct predict));

	if (r < 0)
		return r;
	if (!t->self.srflx.addr || !t->peer.srflx.addr)
		r = mc_fail_at(t, now, "no prediction");
	else if (predict_predictable(&t->self.nat) &&
		 (predict_predictable(&t->peer.nat) || mc_map_eim(&t->peer.nat)))
		r = t->stun.addr ? predict_measure(t, now) : mc_fail_at(t, now, "no prediction");
	else if (mc_map_eim(&t->self.nat) && predict_predictable(&t->peer.nat))
		r = predict_sweep(t, now);
	else
		r = mc_fail_at(t, now, "not applicable");
	if (r < 0)
		mc_stop(t);
	return r;
}

/* --- checkpoints --------------------------------------------------------- */

static json_t *predict_save(const struct trav_try *t, const void *user, struct ckw *w)
{
	const struct predict *p = user;
	json_t *probe = json_array(), *port = json_array();

	(void)t;
	(void)w;
	for (size_t i = 0; i < PREDICT_PROBES; i++) {
		json_array_append_new(probe, json_integer(p->probe[i]));
		json_array_append_new(port, json_integer(p->port[i]));
	}
	return json_pack("{s:i,s:o,s:o,s:i,s:i,s:i}", "role", (int)p->role, "probe", probe, "port",
			 port, "answers", (int)p->answers, "retries", (int)p->retries, "rounds",
			 (int)p->rounds);
}

static int predict_fill(void *user, const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "predict", j, false};
	const json_t *probe = ckget_get(&g, "probe"), *port = ckget_get(&g, "port");
	struct predict *p = user;
	json_int_t v;

	p->role = (enum predict_role)ckget_int(&g, "role", PREDICT_SWEEP, PREDICT_PUNCH);
	p->answers = (unsigned)ckget_int(&g, "answers", 0, PREDICT_PROBES);
	p->retries = (unsigned)ckget_int(&g, "retries", 0, PREDICT_RETRIES + 1);
	p->rounds = (unsigned)ckget_int(&g, "rounds", 0, PREDICT_ROUNDS);
	if (g.bad)
		return -1;
	if (!json_is_array(probe) || json_array_size(probe) != PREDICT_PROBES ||
	    !json_is_array(port) || json_array_size(port) != PREDICT_PROBES) {
		ckget_fail(&g, "probe", "probe and port not one each per probe");
		return -1;
	}
	for (size_t i = 0; i < PREDICT_PROBES; i++) {
		/* a socket index, or the error mc_open gave */
		if (jsonck_int(json_array_get(probe, i), -4095, MC_SOCKS_MAX - 1, &v) < 0) {
			ckget_fail(&g, "probe", "not a socket index");
			return -1;
		}
		p->probe[i] = (int)v;
		if (jsonck_int(json_array_get(port, i), 0, 65535, &v) < 0) {
			ckget_fail(&g, "port", "not a port");
			return -1;
		}
		p->port[i] = (uint16_t)v;
	}
	return 0;
}

const struct mc_ckpt_user predict_ckpt_user = {
    .hooks = &predict_hooks,
    .size = sizeof(struct predict),
    .save = predict_save,
    .fill = predict_fill,
};

static const struct ckfn predict_fns[] = {CKFN(predict_retry), CKFN(predict_stun_answer),
					  CKFN(predict_expire)};
const struct ckfns predict_ckfns = CKFNS(predict, predict_fns);

const struct method method_predict = {
    .spec =
	{
	    .name = "predict",
	    .cost = 0.5,
	    .security = 0.6,
	    .reliability = 0.6,
	    .budget_ns = 6 * NATBED_NS_PER_S,
	    .prior = predict_prior,
	},
    .start = predict_start,
    .stop = mc_stop,
    .input = mc_input,
};
