/* natbed-emu zero-trust gate: the engine (gate.h says what it decides and
 * in which order); gate_ctl.c serialises it. */
#include "gate_int.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/ckpt.h"
#include "natbed/rng.h"
#include "natbed/strcopy.h"

#define GATE_STREAM	0x67617465u /* "gate": salts the key of a host's draws */
#define GATE_DRAW_DELAY 0	    /* draw 4n + i of request n */
#define GATE_DRAW_GRANT 1
#define GATE_DRAW_UP	2
#define GATE_EVENT_MAX	512

static const char *const refusal_names[GATE_R_COUNT] = {
    "malformed", "unknown_user", "spoofed", "bad_integrity", "replay", "busy",
};

static const char *const drop_names[GATE_D_COUNT] = {"unauthenticated", "resource", "unknown_host"};

/* What a refusal answers (RFC 8489 §14.8 codes, natbed/gatemsg.h). */
static const struct {
	int code;
	const char *reason;
} refusal_answers[GATE_R_COUNT] = {
    [GATE_R_MALFORMED] = {GATEMSG_ERR_BAD_REQUEST, "Malformed request"},
    [GATE_R_UNKNOWN_USER] = {GATEMSG_ERR_UNAUTH, "Unknown user"},
    [GATE_R_SPOOFED] = {GATEMSG_ERR_FORBIDDEN, "Wrong address for this user"},
    [GATE_R_BAD_INTEGRITY] = {GATEMSG_ERR_UNAUTH, "Bad integrity"},
    [GATE_R_REPLAY] = {GATEMSG_ERR_STALE_NONCE, "Nonce replayed"},
    [GATE_R_BUSY] = {GATEMSG_ERR_CAPACITY, "Too many requests under way"},
};

const char *gate_refusal_name(enum gate_refusal r)
{
	return (unsigned)r < GATE_R_COUNT ? refusal_names[r] : "unknown";
}

const char *gate_drop_name(enum gate_drop d)
{
	return (unsigned)d < GATE_D_COUNT ? drop_names[d] : "unknown";
}

void gate_emit(const struct gate *g, natbed_time_t now, const char *event, const char *fmt, ...)
{
	char fields[GATE_EVENT_MAX];
	va_list ap;

	if (!g->cfg.event)
		return;
	va_start(ap, fmt);
	vsnprintf(fields, sizeof(fields), fmt, ap);
	va_end(ap);
	g->cfg.event(g->cfg.ctx, now, event, fields);
}

/* --- hosts -------------------------------------------------------------- */

static size_t gate_slot(uint32_t addr, size_t mask)
{
	uint32_t h = addr * 2654435761u;

	return (h ^ (h >> 16)) & mask;
}

static struct gate_host *gate_host_by_addr(const struct gate *g, uint32_t addr)
{
	size_t i = gate_slot(addr, g->slot_mask);

	while (g->slot_addr[i] != 0) {
		if (g->slot_addr[i] == addr)
			return &g->hosts[g->slot_host[i]];
		i = (i + 1) & g->slot_mask;
	}
	return NULL;
}

struct gate_host *gate_host_of(const struct gate *g, int h)
{
	size_t i;

	for (i = 0; i < g->n_hosts; i++)
		if (g->hosts[i].index == h)
			return &g->hosts[i];
	return NULL;
}

struct gate_host *gate_host_named(const struct gate *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->n_hosts; i++)
		if (!strcmp(g->hosts[i].name, name))
			return &g->hosts[i];
	return NULL;
}

/* The entry of the gate block's hosts for topology host h, or NULL. */
static const struct topo_gate_host *gate_entry(const struct topo_gate *tg, int h)
{
	size_t i;

	for (i = 0; i < tg->n_hosts; i++)
		if (tg->hosts[i].index == h)
			return &tg->hosts[i];
	return NULL;
}

static void gate_host_init(struct gate *g, struct gate_host *gh, int h)
{
	const struct topo_host *th = &g->cfg.topo->hosts[h];
	const struct topo_gate_host *e = gate_entry(g->cfg.tg, h);
	size_t a;

	gh->g = g;
	gh->index = h;
	gh->name = th->name;
	gh->key = e && e->key[0] ? e->key : g->cfg.tg->key;
	gh->keylen = strlen(gh->key);
	gh->level = e && e->trust_set ? e->trust : g->cfg.tg->trust;
	gh->stream = rng_key(th->name, rng_key(g->name, GATE_STREAM));
	gh->n_addrs = th->n_addrs;
	for (a = 0; a < th->n_addrs; a++)
		gh->addrs[a] = th->addrs[a].s_addr;
}

/* The hosts cfg puts behind the gate, and the address table. */
static int gate_hosts_init(struct gate *g)
{
	const struct topo *t = g->cfg.topo;
	size_t i, n = 0, cap = 16, a, k;

	for (i = 0; i < t->n_hosts; i++)
		n += g->cfg.nat >= 0 ? t->hosts[i].nat == g->cfg.nat : (int)i == g->cfg.host;
	g->hosts = calloc(n ? n : 1, sizeof(*g->hosts));
	while (cap < n * TOPO_ADDRS_MAX * 2)
		cap <<= 1;
	g->slot_addr = calloc(cap, sizeof(*g->slot_addr));
	g->slot_host = calloc(cap, sizeof(*g->slot_host));
	if (!g->hosts || !g->slot_addr || !g->slot_host)
		return -1;
	g->slot_mask = cap - 1;
	for (i = 0; i < t->n_hosts; i++) {
		if (g->cfg.nat >= 0 ? t->hosts[i].nat != g->cfg.nat : (int)i != g->cfg.host)
			continue;
		gate_host_init(g, &g->hosts[g->n_hosts], (int)i);
		for (a = 0; a < g->hosts[g->n_hosts].n_addrs; a++) {
			uint32_t addr = g->hosts[g->n_hosts].addrs[a];

			for (k = gate_slot(addr, g->slot_mask); g->slot_addr[k];
			     k = (k + 1) & g->slot_mask)
				;
			g->slot_addr[k] = addr;
			g->slot_host[k] = (uint32_t)g->n_hosts;
		}
		g->n_hosts++;
	}
	return 0;
}

/* --- risk --------------------------------------------------------------- */

uint32_t gate_rate_count(const struct gate *g, const struct gate_host *h, natbed_time_t now)
{
	uint32_t n = 0;
	unsigned i;

	for (i = 0; i < h->rate_n; i++)
		if (now - h->rate[i] < g->m.rate_window_ns)
			n++;
	return n;
}

static double gate_share(double v, double max)
{
	return v >= max ? 1.0 : v / max;
}

double gate_risk(const struct gate *g, const struct gate_host *h, uint32_t rate, natbed_time_t now)
{
	const struct topo_gate_model *m = &g->m;
	/* zero trust: a host never granted has been idle for ever */
	double idle = h->granted_ever ? (double)(now - h->last_grant) : (double)m->idle_max_ns;
	double r = m->w_failures * gate_share(h->failures, m->failures_max) +
		   m->w_rate * gate_share(rate, m->rate_max) +
		   m->w_idle * gate_share(idle, (double)m->idle_max_ns);

	return r < 0 ? 0 : r > 1 ? 1 : r;
}

double gate_host_risk(const struct gate *g, int h, natbed_time_t now)
{
	const struct gate_host *gh = gate_host_of(g, h);

	return gh ? gate_risk(g, gh, gate_rate_count(g, gh, now), now) : -1;
}

int gate_host_level(const struct gate *g, int h)
{
	const struct gate_host *gh = gate_host_of(g, h);

	return gh ? (int)gh->level : -1;
}

/* --- replay window (RFC 4303 §3.4.3, over nonces) ------------------------ */

static bool gate_nonce_fresh(const struct gate *g, const struct gate_host *h, uint64_t nonce)
{
	uint64_t back;

	if (h->nonce_top == 0 || nonce > h->nonce_top)
		return true;
	back = h->nonce_top - nonce;
	return back < g->m.replay_window && !(h->nonce_bits & (1ull << back));
}

static void gate_nonce_take(struct gate_host *h, uint64_t nonce)
{
	uint64_t shift;

	if (nonce > h->nonce_top) {
		shift = nonce - h->nonce_top;
		h->nonce_bits = shift >= 64 ? 0 : h->nonce_bits << shift;
		h->nonce_bits |= 1;
		h->nonce_top = nonce;
		return;
	}
	h->nonce_bits |= 1ull << (h->nonce_top - nonce);
}

/* --- pinholes ----------------------------------------------------------- */

static bool gate_res_eq(const struct gatemsg_resource *a, const struct gatemsg_resource *b)
{
	return a->kind == b->kind && a->addr == b->addr && a->port == b->port &&
	       !strcmp(a->host, b->host);
}

/* The remote end of a packet, as the gate sees it. */
struct gate_remote {
	uint32_t addr;
	uint16_t port; /* network order; 0: none (ICMP, a later fragment) */
	uint8_t proto;
};

static bool gate_pin_matches(const struct gate *g, const struct gate_pin *pin,
			     const struct gate_remote *r)
{
	switch (pin->res.kind) {
	case GATEMSG_RES_ANY:
		return true;
	case GATEMSG_RES_ADDR:
		return r->addr == pin->res.addr;
	case GATEMSG_RES_ADDR_PORT:
		return r->addr == pin->res.addr && (!r->port || r->port == pin->res.port);
	case GATEMSG_RES_HOST:
		return topo_host_seen_as(g->cfg.topo, pin->res_host, r->addr);
	}
	return false;
}

static void gate_pin_fire(void *arg, natbed_time_t now)
{
	struct gate_pin *pin = arg;
	struct gate *g = pin->h->g;
	char res[GATEMSG_RESOURCE_MAX + 1];

	pin->ev = 0;
	if (pin->expires > now && gate_pin_arm(pin) == 0)
		return; /* refreshed since: on to its new time */
	pin->used = false;
	g->c.pinholes_expired++;
	gatemsg_resource_str(&pin->res, res, sizeof(res));
	gate_emit(g, now, "gate_pinhole_expired",
		  "\"gate\":\"%s\",\"host\":\"%s\",\"resource\":\"%s\",\"packets\":%llu,"
		  "\"open_ms\":%.3f",
		  g->name, pin->h->name, res, (unsigned long long)pin->packets,
		  (double)(now - pin->opened) / NATBED_NS_PER_MS);
}

int gate_pin_arm(struct gate_pin *pin)
{
	pin->ev = sched_at(pin->h->g->s, pin->expires, gate_pin_fire, pin);
	return pin->ev ? 0 : -1;
}

static void gate_pin_close(struct gate_pin *pin)
{
	if (pin->ev)
		sched_cancel(pin->h->g->s, pin->ev);
	pin->ev = 0;
	pin->used = false;
}

/* Opens (or refreshes) h's pinhole to res at now; past GATE_PINS_MAX the
 * one closest to its end gives way. */
static void gate_pin_open(struct gate_host *h, const struct gatemsg_resource *res, int res_host,
			  natbed_time_t now)
{
	struct gate *g = h->g;
	struct gate_pin *pin = NULL;
	size_t i;

	for (i = 0; i < GATE_PINS_MAX && !pin; i++)
		if (h->pins[i].used && gate_res_eq(&h->pins[i].res, res))
			pin = &h->pins[i];
	if (pin) {
		pin->expires = now + g->m.pinhole_ttl_ns;
		return;
	}
	for (i = 0; i < GATE_PINS_MAX && !pin; i++)
		if (!h->pins[i].used)
			pin = &h->pins[i];
	if (!pin) {
		pin = &h->pins[0];
		for (i = 1; i < GATE_PINS_MAX; i++)
			if (h->pins[i].expires < pin->expires)
				pin = &h->pins[i];
		gate_pin_close(pin);
	}
	*pin = (struct gate_pin){.h = h,
				 .used = true,
				 .res = *res,
				 .res_host = res_host,
				 .opened = now,
				 .expires = now + g->m.pinhole_ttl_ns};
	g->c.pinholes_opened++;
	if (gate_pin_arm(pin) < 0)
		pin->used = false; /* no room to end it: do not open it */
}

/* h's live pinhole that lets r through, refreshed; NULL when none. *any
 * says whether h has a live pinhole at all. */
static struct gate_pin *gate_pin_find(struct gate_host *h, const struct gate_remote *r,
				      natbed_time_t now, bool *any)
{
	struct gate *g = h->g;
	size_t i;

	*any = false;
	for (i = 0; i < GATE_PINS_MAX; i++) {
		struct gate_pin *pin = &h->pins[i];

		if (!pin->used || pin->expires <= now)
			continue;
		*any = true;
		if (gate_pin_matches(g, pin, r)) {
			pin->expires = now + g->m.pinhole_ttl_ns;
			pin->packets++;
			return pin;
		}
	}
	return NULL;
}

/* --- exemptions ------------------------------------------------------------ */

static const uint8_t gate_proto_num[] = {
    [TOPO_FW_PROTO_ANY] = 0,
    [TOPO_FW_PROTO_UDP] = IPPROTO_UDP_,
    [TOPO_FW_PROTO_TCP] = IPPROTO_TCP_,
    [TOPO_FW_PROTO_ICMP] = IPPROTO_ICMP_,
};

static bool gate_exempt_matches(const struct gate *g, const struct topo_gate_exempt *x,
				const struct gate_remote *r)
{
	uint32_t mask = x->to.len ? htonl(~(uint32_t)0 << (32 - x->to.len)) : 0;

	if (x->proto != TOPO_FW_PROTO_ANY && gate_proto_num[x->proto] != r->proto)
		return false;
	if (x->set & TOPO_FW_PORT) {
		uint16_t p = ntohs(r->port);

		if (r->proto != IPPROTO_UDP_ && r->proto != IPPROTO_TCP_)
			return false;
		if (r->port && (p < x->port.lo || p > x->port.hi))
			return false;
	}
	if (!(x->set & TOPO_FW_TO))
		return true;
	if (x->to_index >= 0)
		return topo_host_seen_as(g->cfg.topo, x->to_index, r->addr);
	return (r->addr & mask) == (x->to.addr.s_addr & mask);
}

static bool gate_exempt(const struct gate *g, const struct gate_remote *r)
{
	size_t i;

	for (i = 0; i < g->cfg.tg->n_exempt; i++)
		if (gate_exempt_matches(g, &g->cfg.tg->exempt[i], r))
			return true;
	return false;
}

/* --- answers ------------------------------------------------------------ */

static void gate_send(struct gate *g, const struct gate_host *h, uint32_t addr, uint16_t port,
		      const uint8_t *buf, size_t len, natbed_time_t now)
{
	struct gate_reply r = {.src = g->addr,
			       .dst = addr,
			       .sport = htons(g->port),
			       .dport = port,
			       .buf = buf,
			       .len = len,
			       .host = h ? h->index : -1,
			       .gate_nat = g->cfg.nat,
			       .gate_host = g->cfg.host};

	if (g->cfg.reply)
		g->cfg.reply(g->cfg.ctx, &r, now);
}

/* Refuses a request for reason r, answering it when its transaction is
 * known (req non-NULL), signed with h's key when it was authentic. */
static enum gate_verdict gate_refuse(struct gate *g, struct gate_host *h, enum gate_refusal r,
				     const struct gatemsg_req *req, bool authentic, uint32_t src,
				     uint16_t sport, natbed_time_t now)
{
	struct gatemsg_ans a = {.code = refusal_answers[r].code};
	uint8_t buf[GATE_ANSWER_MAX];
	int n;

	g->c.refused[r]++;
	if (h)
		h->c.refused[r]++;
	g->why = refusal_names[r];
	g->why_host = h ? h->name : "";
	if (!req)
		return GATE_REFUSED;
	memcpy(a.txid, req->txid, STUN_TXID_LEN);
	str_copy(a.reason, sizeof(a.reason), refusal_answers[r].reason);
	n = gatemsg_build_answer(buf, sizeof(buf), &a, authentic ? (const uint8_t *)h->key : NULL,
				 authentic ? h->keylen : 0);
	if (n > 0)
		gate_send(g, h, src, sport, buf, (size_t)n, now);
	return GATE_REFUSED;
}

/* --- decisions ----------------------------------------------------------- */

static void gate_history(struct gate_host *h, const struct gate_hist *e)
{
	h->hist[h->hist_next] = *e;
	h->hist_next = (h->hist_next + 1) % GATE_HISTORY;
	if (h->hist_n < GATE_HISTORY)
		h->hist_n++;
}

static double gate_draw(const struct gate *g, const struct gate_host *h, uint64_t n, unsigned i)
{
	return rng_keyed_unit(g->cfg.seed, h->stream, 4 * n + i);
}

/* Moves h's level after a decision; returns why ("escalated", "demoted")
 * or NULL when it stays. */
static const char *gate_trust_move(struct gate *g, struct gate_host *h, bool granted, uint64_t n)
{
	if (granted) {
		/* the seed: a 30% chance of escalation after a success */
		if (h->level + 1 < TOPO_TRUST_COUNT &&
		    gate_draw(g, h, n, GATE_DRAW_UP) < g->m.escalate) {
			h->level++;
			g->c.escalations++;
			return "escalated";
		}
		return NULL;
	}
	if (g->m.demote_after && h->in_a_row >= g->m.demote_after) {
		h->in_a_row = 0;
		if (h->level > TOPO_TRUST_UNTRUSTED) {
			h->level--;
			g->c.demotions++;
			return "demoted";
		}
	}
	return NULL;
}

/* The answer to p's request: granted or denied, signed with h's key. */
static void gate_answer(struct gate *g, struct gate_host *h, const struct gate_pending *p,
			bool granted, double risk, natbed_time_t now)
{
	struct gatemsg_ans a = {.granted = granted,
				.code = granted ? 0 : GATEMSG_ERR_FORBIDDEN,
				.has_trust = true,
				.level = p->level,
				.level_now = h->level,
				.delay_us = (uint32_t)((p->due - p->asked) / NATBED_NS_PER_US),
				.risk_ppm = (uint32_t)(risk * 1e6 + 0.5),
				.ttl_ms = (uint32_t)(g->m.pinhole_ttl_ns / NATBED_NS_PER_MS)};
	uint8_t buf[GATE_ANSWER_MAX];
	int n;

	memcpy(a.txid, p->txid, STUN_TXID_LEN);
	if (!granted)
		snprintf(a.reason, sizeof(a.reason), "Denied");
	n = gatemsg_build_answer(buf, sizeof(buf), &a, (const uint8_t *)h->key, h->keylen);
	if (n > 0)
		gate_send(g, h, p->addr, p->port, buf, (size_t)n, now);
}

static void gate_decide(void *arg, natbed_time_t now)
{
	struct gate_pending *p = arg;
	struct gate_host *h = p->h;
	struct gate *g = h->g;
	double risk = gate_risk(g, h, p->rate, now);
	double chance = g->m.success[p->level] * (1.0 - g->m.risk_factor * risk);
	bool granted = gate_draw(g, h, p->n, GATE_DRAW_GRANT) < chance;
	enum topo_trust before = h->level;
	char res[GATEMSG_RESOURCE_MAX + 1], addr[INET_ADDRSTRLEN];
	const char *moved;

	p->ev = 0;
	p->used = false;
	if (granted) {
		g->c.granted++;
		h->c.granted++;
		h->failures = h->in_a_row = 0;
		h->granted_ever = true;
		h->last_grant = now;
		gate_pin_open(h, &p->res, p->res_host, now);
	} else {
		g->c.denied++;
		h->c.denied++;
		h->failures++;
		h->in_a_row++;
	}
	moved = gate_trust_move(g, h, granted, p->n);
	gate_history(
	    h, &(struct gate_hist){now, granted, p->level, h->level, risk, p->due - p->asked});
	gate_answer(g, h, p, granted, risk, now);
	gatemsg_resource_str(&p->res, res, sizeof(res));
	inet_ntop(AF_INET, &p->addr, addr, sizeof(addr));
	gate_emit(g, now, "gate_auth",
		  "\"gate\":\"%s\",\"host\":\"%s\",\"addr\":\"%s\",\"resource\":\"%s\","
		  "\"result\":\"%s\",\"trust\":\"%s\",\"trust_after\":\"%s\",\"risk\":%.6f,"
		  "\"p\":%.6f,\"delay_ms\":%.3f,\"ttl_ms\":%lld,\"request\":%llu",
		  g->name, h->name, addr, res, granted ? "granted" : "denied",
		  topo_trust_name(p->level), topo_trust_name(h->level), risk, chance,
		  (double)(p->due - p->asked) / NATBED_NS_PER_MS,
		  granted ? (long long)(g->m.pinhole_ttl_ns / NATBED_NS_PER_MS) : 0LL,
		  (unsigned long long)p->n);
	if (moved)
		gate_emit(g, now, "gate_trust",
			  "\"gate\":\"%s\",\"host\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
			  "\"why\":\"%s\"",
			  g->name, h->name, topo_trust_name(before), topo_trust_name(h->level),
			  moved);
}

int gate_pending_arm(struct gate_pending *p)
{
	p->ev = sched_at(p->h->g->s, p->due, gate_decide, p);
	return p->ev ? 0 : -1;
}

/* The auth delay of h's request n at level: uniform in the level's range,
 * times the time scale. */
static natbed_time_t gate_delay(const struct gate *g, const struct gate_host *h,
				enum topo_trust level, uint64_t n)
{
	const struct topo_gate_range *r = &g->m.delay[level];
	double d =
	    (double)r->lo_ns + (double)(r->hi_ns - r->lo_ns) * gate_draw(g, h, n, GATE_DRAW_DELAY);

	return (natbed_time_t)(d * g->m.time_scale);
}

/* A retransmission of a request under way: ignored, its answer comes.
 * Once decided, its nonce is spent: the same request again is a replay
 * (its sender starts a new one, gatec.h). */
static bool gate_retransmit(struct gate *g, struct gate_host *h, const struct gatemsg_req *req)
{
	size_t i;

	for (i = 0; i < GATE_PENDING_MAX; i++)
		if (h->pend[i].used && !memcmp(h->pend[i].txid, req->txid, STUN_TXID_LEN)) {
			g->c.retransmits++;
			return true;
		}
	return false;
}

/* Takes an authentic request: a slot, its draws, its decision event. */
static enum gate_verdict gate_accept(struct gate *g, struct gate_host *h,
				     const struct gatemsg_req *req, int res_host, uint32_t src,
				     uint16_t sport, natbed_time_t now)
{
	struct gate_pending *p = NULL;
	size_t i;

	for (i = 0; i < GATE_PENDING_MAX && !p; i++)
		if (!h->pend[i].used)
			p = &h->pend[i];
	if (!p)
		return gate_refuse(g, h, GATE_R_BUSY, req, true, src, sport, now);
	*p = (struct gate_pending){.h = h,
				   .used = true,
				   .addr = src,
				   .port = sport,
				   .res = req->res,
				   .res_host = res_host,
				   .level = h->level,
				   .rate = gate_rate_count(g, h, now),
				   .n = h->draws,
				   .asked = now};
	memcpy(p->txid, req->txid, STUN_TXID_LEN);
	p->due = now + gate_delay(g, h, p->level, p->n);
	if (gate_pending_arm(p) < 0) {
		p->used = false;
		return gate_refuse(g, h, GATE_R_BUSY, req, true, src, sport, now);
	}
	h->draws++;
	gate_nonce_take(h, req->nonce);
	h->rate[h->rate_next] = now;
	h->rate_next = (h->rate_next + 1) % GATE_RATE_RING;
	if (h->rate_n < GATE_RATE_RING)
		h->rate_n++;
	h->c.requests++;
	return GATE_TAKEN;
}

enum gate_verdict gate_request(struct gate *g, uint32_t src, uint16_t sport, const uint8_t *buf,
			       size_t len, natbed_time_t now)
{
	struct gatemsg_req req;
	enum gatemsg_parse r = gatemsg_parse_request(buf, len, &req);
	struct gate_host *h;
	int res_host = -1;
	size_t i;

	g->c.requests++;
	if (r != GATEMSG_OK)
		return gate_refuse(g, NULL, GATE_R_MALFORMED, r == GATEMSG_NOT_STUN ? NULL : &req,
				   false, src, sport, now);
	h = gate_host_named(g, req.user);
	if (!h)
		return gate_refuse(g, NULL, GATE_R_UNKNOWN_USER, &req, false, src, sport, now);
	for (i = 0; i < h->n_addrs && h->addrs[i] != src; i++)
		;
	if (i == h->n_addrs)
		return gate_refuse(g, h, GATE_R_SPOOFED, &req, false, src, sport, now);
	if (gatemsg_request_check(&req, (const uint8_t *)h->key, h->keylen) != 0)
		return gate_refuse(g, h, GATE_R_BAD_INTEGRITY, &req, false, src, sport, now);
	if (gate_retransmit(g, h, &req))
		return GATE_TAKEN;
	if (req.res.kind == GATEMSG_RES_HOST &&
	    (res_host = topo_host_find(g->cfg.topo, req.res.host)) < 0)
		return gate_refuse(g, h, GATE_R_MALFORMED, &req, true, src, sport, now);
	if (!gate_nonce_fresh(g, h, req.nonce))
		return gate_refuse(g, h, GATE_R_REPLAY, &req, true, src, sport, now);
	return gate_accept(g, h, &req, res_host, src, sport, now);
}

/* --- packets -------------------------------------------------------------- */

static enum gate_verdict gate_drop(struct gate *g, enum gate_drop d, const struct gate_host *h)
{
	g->c.drops[d]++;
	g->why = drop_names[d];
	g->why_host = h ? h->name : "";
	return GATE_DROP;
}

enum gate_verdict gate_check(struct gate *g, const struct ip_view *v, enum gate_dir dir,
			     natbed_time_t now)
{
	const struct ipv4_hdr *ip = v->ip;
	bool ports =
	    (ip->proto == IPPROTO_UDP_ || ip->proto == IPPROTO_TCP_) && v->l4 && v->l4_len >= 4;
	uint16_t sport = 0, dport = 0;
	struct gate_remote r = {.proto = ip->proto};
	struct gate_host *h;
	bool any;

	if (ports) {
		memcpy(&sport, v->l4, 2);
		memcpy(&dport, v->l4 + 2, 2);
	}
	if (dir == GATE_OUT && ip->proto == IPPROTO_UDP_ && ip->dst == g->addr && ports &&
	    v->l4_len >= UDP_HLEN && dport == htons(g->port))
		return gate_request(g, ip->src, sport, v->l4 + UDP_HLEN, v->l4_len - UDP_HLEN, now);
	r.addr = dir == GATE_OUT ? ip->dst : ip->src;
	r.port = dir == GATE_OUT ? dport : sport;
	if (gate_exempt(g, &r)) {
		g->c.exempt++;
		return GATE_PASS;
	}
	h = gate_host_by_addr(g, dir == GATE_OUT ? ip->src : ip->dst);
	if (!h)
		return gate_drop(g, GATE_D_UNKNOWN_HOST, NULL);
	if (gate_pin_find(h, &r, now, &any)) {
		g->c.passed++;
		return GATE_PASS;
	}
	return gate_drop(g, any ? GATE_D_RESOURCE : GATE_D_UNAUTHENTICATED, h);
}

/* --- life cycle ------------------------------------------------------------ */

struct gate *gate_new(const struct gate_cfg *cfg, struct sched *s)
{
	struct gate *g;

	if (!cfg->topo || !cfg->tg || (cfg->nat < 0) == (cfg->host < 0))
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->cfg = *cfg;
	str_copy(g->name, sizeof(g->name), cfg->name ? cfg->name : "gate");
	g->cfg.name = g->name;
	g->s = s;
	g->m = cfg->tg->m;
	g->addr = cfg->tg->address.s_addr;
	g->port = cfg->tg->port;
	g->why = g->why_host = "";
	if (gate_hosts_init(g) < 0) {
		gate_free(g);
		return NULL;
	}
	return g;
}

int gate_open_all(const struct topo *t, struct sched *s, const struct gate_cfg *proto,
		  struct gate **host_gate, struct gate **nat_gate)
{
	struct gate_cfg c = *proto;
	size_t i;

	c.topo = t;
	for (i = 0; i < t->n_hosts; i++) {
		if (!t->hosts[i].gate)
			continue;
		c.tg = t->hosts[i].gate;
		c.name = t->hosts[i].name;
		c.nat = -1;
		c.host = (int)i;
		if (!(host_gate[i] = gate_new(&c, s)))
			return -1;
	}
	for (i = 0; i < t->n_nats; i++) {
		if (!t->nats[i].gate)
			continue;
		c.tg = t->nats[i].gate;
		c.name = t->nats[i].name;
		c.nat = (int)i;
		c.host = -1;
		if (!(nat_gate[i] = gate_new(&c, s)))
			return -1;
	}
	return 0;
}

void gate_free(struct gate *g)
{
	size_t i, k;

	if (!g)
		return;
	for (i = 0; g->hosts && i < g->n_hosts; i++) {
		struct gate_host *h = &g->hosts[i];

		for (k = 0; k < GATE_PENDING_MAX; k++)
			if (h->pend[k].used && h->pend[k].ev)
				sched_cancel(g->s, h->pend[k].ev);
		for (k = 0; k < GATE_PINS_MAX; k++)
			if (h->pins[k].used && h->pins[k].ev)
				sched_cancel(g->s, h->pins[k].ev);
	}
	free(g->hosts);
	free(g->slot_addr);
	free(g->slot_host);
	free(g);
}

int gate_host_renew(struct gate *g, int h)
{
	struct gate_host *gh = gate_host_of(g, h);
	struct gate_host_counters c;
	uint64_t draws;
	size_t k;

	if (!gh)
		return -1;
	for (k = 0; k < GATE_PENDING_MAX; k++)
		if (gh->pend[k].used && gh->pend[k].ev)
			sched_cancel(g->s, gh->pend[k].ev);
	for (k = 0; k < GATE_PINS_MAX; k++)
		if (gh->pins[k].used)
			gate_pin_close(&gh->pins[k]);
	c = gh->c;
	draws = gh->draws;
	memset(gh, 0, sizeof(*gh));
	gate_host_init(g, gh, h);
	gh->c = c;
	gh->draws = draws;
	return 0;
}

const char *gate_last_why(const struct gate *g)
{
	return g->why;
}

const char *gate_last_host(const struct gate *g)
{
	return g->why_host;
}

const struct gate_counters *gate_counters(const struct gate *g)
{
	return &g->c;
}

const struct topo_gate_model *gate_model(const struct gate *g)
{
	return &g->m;
}

const char *gate_name(const struct gate *g)
{
	return g->name;
}

uint32_t gate_address(const struct gate *g)
{
	return g->addr;
}

uint16_t gate_port(const struct gate *g)
{
	return g->port;
}

/* --- natbed sim checkpoints: what the scheduler may call (gate_ctl.c writes) --- */

/* cfg.reply and cfg.event are the owner's (set when it makes the gate). */
static const struct ckfn gate_fns[] = {CKFN(gate_pin_fire), CKFN(gate_decide)};
const struct ckfns gate_ckfns = CKFNS(gate, gate_fns);
