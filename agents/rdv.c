/* natbed rendezvous logic: registrations indexed by name and by address,
 * introductions indexed by try id, every timer on the scheduler. No I/O of
 * its own: struct dgram carries the datagrams. */
#include "rdv.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/log.h"
#include "natbed/rng.h"
#include "natbed/strcopy.h"

#define RDV_BUCKETS_MIN 64

struct rdv_reg {
	char name[RDV_NAME_MAX + 1];
	struct dg_ep ep; /* where its REGISTER came from */
	struct trav_cand cand;
	natbed_time_t expires;
	uint64_t timer;
	/* the last CONNECT and its answer, given again to a retransmission
	 * (a few bytes: a million registrations fit) */
	bool has_connect;
	uint8_t connect_txid[STUN_TXID_LEN];
	char connect_peer[RDV_NAME_MAX + 1];
	uint64_t connect_try;	    /* 0: refused */
	int connect_code;	    /* the refusal's ERROR-CODE */
	const char *connect_reason; /* a constant */
	natbed_time_t timer_due;    /* when timer runs, if it is pending */
	struct rdv_reg *next_name, *next_ep;
	struct rdv *r;
};

/* One side of an introduction: the agent it goes to. */
struct rdv_side {
	struct dg_ep ep;
	uint8_t txid[STUN_TXID_LEN];
	bool answered;
	struct rdv_msg intro; /* START is filled at each send */
};

/* A side's refusal, told to the other side (CANCEL until it acks). */
struct rdv_cancel {
	int to; /* the side told: TRAV_INITIATOR or TRAV_RESPONDER; -1: none */
	bool acked;
	uint8_t txid[STUN_TXID_LEN];
	int code;
	char reason[RDV_REASON_MAX + 1];
	natbed_time_t next; /* when it is sent again */
};

struct rdv_try {
	uint64_t id;
	natbed_time_t start;
	uint64_t timer;
	struct rdv_side side[2]; /* [TRAV_INITIATOR], [TRAV_RESPONDER] */
	struct rdv_cancel cancel;
	struct rdv_try *next; /* in its bucket */
	struct rdv *r;
};

/* A chained hash table of intrusive entries. */
struct rdv_table {
	void **b;
	size_t nb, n;
};

struct rdv {
	const struct dgram *d;
	struct rdv_config cfg;
	int sock;
	struct dg_ep local;
	struct rdv_table by_name, by_ep, tries;
	uint64_t try_count, txid_count;
	uint64_t try_key, txid_key;
	struct rdv_counters c;
};

static const char *const drop_names[RDV_DROP_COUNT] = {
    [RDV_DROP_UNEXPECTED] = "unexpected",
    [RDV_DROP_WRONG_TXN] = "wrong_transaction",
    [RDV_DROP_NAME_TAKEN] = "name_taken",
    [RDV_DROP_UNREGISTERED] = "unregistered",
    [RDV_DROP_NAME_MISMATCH] = "name_mismatch",
    [RDV_DROP_FULL] = "full",
    [RDV_DROP_SEND] = "send_failed",
};

const char *rdv_drop_name(enum rdv_drop d)
{
	if ((unsigned)d < RDV_PARSE_COUNT)
		return rdvmsg_parse_name((enum rdv_parse)d);
	if ((unsigned)d >= RDV_DROP_COUNT)
		return "unknown";
	return drop_names[d];
}

static void drop(struct rdv *r, enum rdv_drop d)
{
	r->c.drops[d]++;
	log_debug("drop: %s", rdv_drop_name(d));
}

/* --- the tables -------------------------------------------------------- */

static uint64_t hash_name(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 0x100000001b3ull;
	return h;
}

static uint64_t hash_ep(const struct dg_ep *ep)
{
	return rng_keyed_u64(0, ep->addr, ep->port);
}

static int table_init(struct rdv_table *t)
{
	t->b = calloc(RDV_BUCKETS_MIN, sizeof(*t->b));
	t->nb = RDV_BUCKETS_MIN;
	t->n = 0;
	return t->b ? 0 : -ENOMEM;
}

/* Offset of the next pointer inside an entry, and the entry's hash. */
struct rdv_table_ops {
	size_t next_off;
	uint64_t (*hash)(const void *e);
};

#define NEXT(e, ops) (*(void **)((char *)(e) + (ops)->next_off))

/* Doubles t when it holds more entries than buckets (a failed allocation
 * leaves it as it is: longer chains, still correct). */
static void table_grow(struct rdv_table *t, const struct rdv_table_ops *ops)
{
	size_t nb = t->nb * 2;
	void **b;

	if (t->n <= t->nb || !(b = calloc(nb, sizeof(*b))))
		return;
	for (size_t i = 0; i < t->nb; i++) {
		void *e = t->b[i];

		while (e) {
			void *next = NEXT(e, ops);
			size_t k = ops->hash(e) & (nb - 1);

			NEXT(e, ops) = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static void table_add(struct rdv_table *t, const struct rdv_table_ops *ops, void *e)
{
	size_t k = ops->hash(e) & (t->nb - 1);

	NEXT(e, ops) = t->b[k];
	t->b[k] = e;
	t->n++;
	table_grow(t, ops);
}

static void table_del(struct rdv_table *t, const struct rdv_table_ops *ops, void *e)
{
	void **p = &t->b[ops->hash(e) & (t->nb - 1)];

	while (*p && *p != e)
		p = &NEXT(*p, ops);
	if (*p) {
		*p = NEXT(e, ops);
		t->n--;
	}
}

static uint64_t reg_hash_name(const void *e)
{
	return hash_name(((const struct rdv_reg *)e)->name);
}

static uint64_t reg_hash_ep(const void *e)
{
	return hash_ep(&((const struct rdv_reg *)e)->ep);
}

static uint64_t try_hash(const void *e)
{
	return rng_keyed_u64(0, 0, ((const struct rdv_try *)e)->id);
}

static const struct rdv_table_ops name_ops = {offsetof(struct rdv_reg, next_name), reg_hash_name};
static const struct rdv_table_ops ep_ops = {offsetof(struct rdv_reg, next_ep), reg_hash_ep};
static const struct rdv_table_ops try_ops = {offsetof(struct rdv_try, next), try_hash};

static struct rdv_reg *find_name(const struct rdv *r, const char *name)
{
	struct rdv_reg *g = r->by_name.b[hash_name(name) & (r->by_name.nb - 1)];

	while (g && strcmp(g->name, name) != 0)
		g = g->next_name;
	return g;
}

static struct rdv_reg *find_ep(const struct rdv *r, const struct dg_ep *ep)
{
	struct rdv_reg *g = r->by_ep.b[hash_ep(ep) & (r->by_ep.nb - 1)];

	while (g && !dg_ep_eq(&g->ep, ep))
		g = g->next_ep;
	return g;
}

static struct rdv_try *find_try(const struct rdv *r, uint64_t id)
{
	struct rdv_try *t = r->tries.b[rng_keyed_u64(0, 0, id) & (r->tries.nb - 1)];

	while (t && t->id != id)
		t = t->next;
	return t;
}

/* --- sending ----------------------------------------------------------- */

static void send_msg(struct rdv *r, const struct dg_ep *to, const struct rdv_msg *m)
{
	uint8_t buf[DG_MAX];
	int n = rdvmsg_build(m, buf, sizeof(buf));

	if (n < 0 || dg_send(r->d, r->sock, to, buf, (size_t)n) < 0)
		drop(r, RDV_DROP_SEND);
}

/* An answer to req: same method and transaction, class per kind. */
static void answer(struct rdv *r, const struct dg_ep *to, const struct rdv_msg *req,
		   struct rdv_msg *ans)
{
	memcpy(ans->txid, req->txid, STUN_TXID_LEN);
	send_msg(r, to, ans);
}

static void answer_error(struct rdv *r, const struct dg_ep *to, const struct rdv_msg *req,
			 enum rdv_kind kind, int code, const char *reason)
{
	struct rdv_msg a = {.kind = kind, .attrs = RDV_A_ERROR, .error_code = code};

	str_copy(a.reason, sizeof(a.reason), reason);
	answer(r, to, req, &a);
}

static void new_txid(struct rdv *r, uint8_t txid[STUN_TXID_LEN])
{
	uint64_t a = rng_keyed_u64(r->d->seed, r->txid_key, r->txid_count++);
	uint64_t b = rng_keyed_u64(r->d->seed, r->txid_key, r->txid_count++);

	memcpy(txid, &a, 8);
	memcpy(txid + 8, &b, 4);
}

/* --- registrations ----------------------------------------------------- */

static void reg_remove(struct rdv *r, struct rdv_reg *g)
{
	table_del(&r->by_name, &name_ops, g);
	table_del(&r->by_ep, &ep_ops, g);
	if (g->timer)
		sched_cancel(r->d->s, g->timer);
	r->c.agents--;
	free(g);
}

static void reg_expiry(void *arg, natbed_time_t now);

/* Makes sure the expiry timer runs no later than g->expires. A refresh
 * only moves g->expires later: the timer, finding it ahead, re-arms. */
static void reg_arm(struct rdv *r, struct rdv_reg *g)
{
	if (g->timer && g->timer_due <= g->expires)
		return;
	if (g->timer)
		sched_cancel(r->d->s, g->timer);
	g->timer_due = g->expires;
	g->timer = sched_at(r->d->s, g->expires, reg_expiry, g);
}

static void reg_expiry(void *arg, natbed_time_t now)
{
	struct rdv_reg *g = arg;
	struct rdv *r = g->r;

	g->timer = 0;
	if (now < g->expires) {
		reg_arm(r, g);
		return;
	}
	r->c.expired++;
	log_debug("%s: registration expired", g->name);
	reg_remove(r, g);
}

static void answer_register(struct rdv *r, const struct dg_ep *from, const struct rdv_msg *req,
			    uint32_t lifetime)
{
	struct rdv_msg a = {.kind = RDV_REGISTER_OK,
			    .attrs = RDV_A_LIFETIME | RDV_A_MAPPED,
			    .lifetime_s = lifetime,
			    .mapped = *from};

	answer(r, from, req, &a);
}

static struct rdv_reg *reg_new(struct rdv *r, const char *name, const struct dg_ep *ep)
{
	struct rdv_reg *g;

	if (r->c.agents >= r->cfg.max_agents || !(g = calloc(1, sizeof(*g))))
		return NULL;
	memcpy(g->name, name, sizeof(g->name));
	g->ep = *ep;
	g->r = r;
	table_add(&r->by_name, &name_ops, g);
	table_add(&r->by_ep, &ep_ops, g);
	r->c.agents++;
	r->c.registered++;
	return g;
}

static void on_register(struct rdv *r, const struct dg_ep *from, const struct rdv_msg *m)
{
	struct rdv_reg *g = find_name(r, m->name), *at = find_ep(r, from);
	uint32_t lifetime = m->attrs & RDV_A_LIFETIME ? m->lifetime_s : RDV_LIFETIME_DEFAULT_S;

	/* a name is its address' until it expires or is given up */
	if (g && !dg_ep_eq(&g->ep, from)) {
		drop(r, RDV_DROP_NAME_TAKEN);
		return;
	}
	if (lifetime > r->cfg.lifetime_max_s)
		lifetime = r->cfg.lifetime_max_s;
	/* one socket is one agent: a new name from it replaces the old */
	if (at && at != g) {
		reg_remove(r, at);
		r->c.unregistered++;
	}
	/* LIFETIME 0 gives the name up (as a TURN Refresh of 0 does) */
	if (lifetime == 0) {
		if (g) {
			reg_remove(r, g);
			r->c.unregistered++;
		}
		answer_register(r, from, m, 0);
		return;
	}
	if (g) {
		r->c.refreshed++;
	} else if (!(g = reg_new(r, m->name, from))) {
		drop(r, RDV_DROP_FULL);
		answer_error(r, from, m, RDV_REGISTER_ERR, 508, "Insufficient Capacity");
		return;
	} else {
		char es[DG_EP_STR];

		log_debug("%s: registered from %s for %u s", g->name, dg_ep_str(from, es),
			  lifetime);
	}
	memset(&g->cand, 0, sizeof(g->cand));
	g->cand.nat.hairpin = -1;
	g->cand.host = m->cand.host;
	if (m->attrs & RDV_A_SRFLX)
		g->cand.srflx = m->cand.srflx;
	if (m->attrs & RDV_A_RELAY)
		g->cand.relay = m->cand.relay;
	if (m->attrs & RDV_A_NAT)
		g->cand.nat = m->cand.nat;
	g->expires = dg_now(r->d) + (natbed_time_t)lifetime * NATBED_NS_PER_S;
	reg_arm(r, g);
	answer_register(r, from, m, lifetime);
}

/* --- introductions ----------------------------------------------------- */

static uint32_t ms_until(natbed_time_t from, natbed_time_t to)
{
	natbed_time_t d = to - from;

	/* rounded up: no agent starts before the common start */
	return d <= 0 ? 0 : (uint32_t)((d + NATBED_NS_PER_MS - 1) / NATBED_NS_PER_MS);
}

static void intro_send(struct rdv *r, struct rdv_try *t, int k, natbed_time_t now)
{
	struct rdv_side *s = &t->side[k];

	s->intro.start_ms = ms_until(now, t->start);
	memcpy(s->intro.txid, s->txid, STUN_TXID_LEN);
	send_msg(r, &s->ep, &s->intro);
}

static void try_free(struct rdv *r, struct rdv_try *t)
{
	table_del(&r->tries, &try_ops, t);
	if (t->timer)
		sched_cancel(r->d->s, t->timer);
	free(t);
}

/* CANCEL to the side that did not refuse: the refusal's code and reason,
 * and the refuser's name. */
static void cancel_send(struct rdv *r, struct rdv_try *t, natbed_time_t now)
{
	struct rdv_side *s = &t->side[t->cancel.to];
	struct rdv_msg m = {.kind = RDV_CANCEL,
			    .attrs = RDV_A_TRY | RDV_A_ERROR | RDV_A_PEER,
			    .try_id = t->id,
			    .error_code = t->cancel.code};

	memcpy(m.txid, t->cancel.txid, STUN_TXID_LEN);
	memcpy(m.peer, s->intro.peer, sizeof(m.peer));
	memcpy(m.reason, t->cancel.reason, sizeof(m.reason));
	send_msg(r, &s->ep, &m);
	t->cancel.next = now + r->cfg.intro_rto_ns;
}

static bool cancel_pending(const struct rdv_try *t)
{
	return t->cancel.to >= 0 && !t->cancel.acked;
}

/* Retransmits unanswered INTRODUCEs until the start (none after a
 * refusal), and an unanswered CANCEL as long as the try is remembered;
 * forgets the try RDV_TRY_LINGER_MS after its start (late answers are
 * then still recognised). */
static void try_timer(void *arg, natbed_time_t now)
{
	struct rdv_try *t = arg;
	struct rdv *r = t->r;
	natbed_time_t next, end = t->start + RDV_TRY_LINGER_MS * NATBED_NS_PER_MS;

	t->timer = 0;
	if (now >= end) {
		try_free(r, t);
		return;
	}
	if (now >= t->start) {
		for (int k = 0; k < 2; k++)
			if (!t->side[k].answered) {
				r->c.intro_unacked++;
				t->side[k].answered = true; /* counted once */
			}
		next = end;
	} else {
		for (int k = 0; k < 2 && t->cancel.to < 0; k++)
			if (!t->side[k].answered) {
				intro_send(r, t, k, now);
				r->c.intro_retransmits++;
			}
		next = now + r->cfg.intro_rto_ns;
		if (next > t->start)
			next = t->start;
	}
	if (cancel_pending(t) && now >= t->cancel.next) {
		cancel_send(r, t, now);
		r->c.cancel_retransmits++;
	}
	if (cancel_pending(t) && t->cancel.next < next)
		next = t->cancel.next;
	t->timer = sched_at(r->d->s, next, try_timer, t);
}

/* The INTRODUCE for side k: the other side's name and candidates. */
static void intro_fill(struct rdv_msg *m, const struct rdv_reg *other, const struct rdv_msg *req,
		       uint64_t id, enum trav_role role)
{
	memset(m, 0, sizeof(*m));
	m->kind = RDV_INTRODUCE;
	m->attrs = RDV_A_PEER | RDV_A_HOST | RDV_A_NAT | RDV_A_METHOD | RDV_A_TRY | RDV_A_START |
		   RDV_A_ROLE;
	memcpy(m->peer, other->name, sizeof(m->peer));
	m->cand = other->cand;
	if (other->cand.srflx.addr)
		m->attrs |= RDV_A_SRFLX;
	if (other->cand.relay.addr)
		m->attrs |= RDV_A_RELAY;
	memcpy(m->method, req->method, sizeof(m->method));
	m->try_id = id;
	m->role = role;
	if (req->attrs & RDV_A_BUDGET) {
		m->attrs |= RDV_A_BUDGET;
		m->budget_ms = req->budget_ms;
	}
}

/* Creates the try of a CONNECT from a to b and sends both INTRODUCEs in
 * the same moment. Returns the try id, or 0 when too many are under way. */
static uint64_t introduce(struct rdv *r, struct rdv_reg *a, struct rdv_reg *b,
			  const struct rdv_msg *req)
{
	natbed_time_t now = dg_now(r->d);
	struct rdv_try *t;

	if (r->tries.n >= RDV_MAX_TRIES || !(t = calloc(1, sizeof(*t))))
		return 0;
	t->r = r;
	t->cancel.to = -1;
	/* element n of one keyed stream is a bijection of n: ids never repeat */
	do
		t->id = rng_keyed_u64(r->d->seed, r->try_key, r->try_count++);
	while (t->id == 0 || find_try(r, t->id));
	t->start = now + r->cfg.start_delay_ns;
	t->side[TRAV_INITIATOR].ep = a->ep;
	t->side[TRAV_RESPONDER].ep = b->ep;
	intro_fill(&t->side[TRAV_INITIATOR].intro, b, req, t->id, TRAV_INITIATOR);
	intro_fill(&t->side[TRAV_RESPONDER].intro, a, req, t->id, TRAV_RESPONDER);
	table_add(&r->tries, &try_ops, t);
	for (int k = 0; k < 2; k++) {
		new_txid(r, t->side[k].txid);
		intro_send(r, t, k, now);
		r->c.introductions++;
	}
	t->timer = sched_at(
	    r->d->s, now + r->cfg.intro_rto_ns < t->start ? now + r->cfg.intro_rto_ns : t->start,
	    try_timer, t);
	return t->id;
}

/* The answer to a's last CONNECT. */
static void connect_answer(struct rdv *r, const struct rdv_reg *a, const struct dg_ep *to,
			   const struct rdv_msg *req)
{
	struct rdv_msg ans = {.kind = RDV_CONNECT_OK, .attrs = RDV_A_PEER | RDV_A_TRY};

	memcpy(ans.peer, a->connect_peer, sizeof(ans.peer));
	ans.try_id = a->connect_try;
	if (!a->connect_try) {
		ans.kind = RDV_CONNECT_ERR;
		ans.attrs = RDV_A_ERROR | RDV_A_PEER;
		ans.error_code = a->connect_code;
		str_copy(ans.reason, sizeof(ans.reason), a->connect_reason);
	}
	answer(r, to, req, &ans);
}

/* The registration asking m (CONNECT, LOOKUP): only a registered agent
 * asks, under its own name. NULL when not (the drop is counted). */
static struct rdv_reg *asker(struct rdv *r, const struct dg_ep *from, const struct rdv_msg *m)
{
	struct rdv_reg *a = find_ep(r, from);

	if (!a) {
		drop(r, RDV_DROP_UNREGISTERED);
		return NULL;
	}
	if (strcmp(a->name, m->name) != 0) {
		drop(r, RDV_DROP_NAME_MISMATCH);
		return NULL;
	}
	return a;
}

/* Why a cannot be told about the peer it names (b, NULL when unknown),
 * or NULL. */
static const char *peer_refusal(const struct rdv_reg *a, const struct rdv_reg *b)
{
	return !b ? "peer not registered" : b == a ? "peer is the asker" : NULL;
}

static void on_connect(struct rdv *r, const struct dg_ep *from, const struct rdv_msg *m)
{
	struct rdv_reg *a = asker(r, from, m), *b;

	if (!a)
		return;
	/* RFC 8489 §6.3.1: a retransmitted request gets the same answer,
	 * and no second introduction */
	if (a->has_connect && memcmp(a->connect_txid, m->txid, STUN_TXID_LEN) == 0) {
		connect_answer(r, a, from, m);
		return;
	}
	a->has_connect = true;
	memcpy(a->connect_txid, m->txid, STUN_TXID_LEN);
	memcpy(a->connect_peer, m->peer, sizeof(a->connect_peer));
	a->connect_code = 400;
	a->connect_try = 0;
	b = find_name(r, m->peer);
	a->connect_reason = peer_refusal(a, b);
	if (!a->connect_reason && !(a->connect_try = introduce(r, a, b, m))) {
		a->connect_code = 508;
		a->connect_reason = "too many introductions";
	}
	if (a->connect_try) {
		r->c.connects++;
		log_debug("%s -> %s: try %016llx, method %s", a->name, m->peer,
			  (unsigned long long)a->connect_try, m->method);
	} else {
		r->c.connect_errors++;
		log_debug("%s -> %s: refused: %s", a->name, m->peer, a->connect_reason);
	}
	connect_answer(r, a, from, m);
}

/* LOOKUP from a registered agent A naming B: B's candidates and NAT, so
 * that A chooses its methods before it asks CONNECT. Stateless: a
 * retransmission is answered again, with what B registered by then. */
static void on_lookup(struct rdv *r, const struct dg_ep *from, const struct rdv_msg *m)
{
	struct rdv_reg *a = asker(r, from, m), *b;
	struct rdv_msg ans = {.kind = RDV_LOOKUP_OK, .attrs = RDV_A_PEER | RDV_A_HOST | RDV_A_NAT};
	const char *refused;

	if (!a)
		return;
	memcpy(ans.peer, m->peer, sizeof(ans.peer));
	b = find_name(r, m->peer);
	refused = peer_refusal(a, b);
	if (refused) {
		r->c.lookup_errors++;
		ans.kind = RDV_LOOKUP_ERR;
		ans.attrs = RDV_A_ERROR | RDV_A_PEER;
		ans.error_code = 400;
		str_copy(ans.reason, sizeof(ans.reason), refused);
		log_debug("%s looks %s up: refused: %s", a->name, m->peer, refused);
		answer(r, from, m, &ans);
		return;
	}
	r->c.lookups++;
	ans.cand = b->cand;
	if (b->cand.srflx.addr)
		ans.attrs |= RDV_A_SRFLX;
	if (b->cand.relay.addr)
		ans.attrs |= RDV_A_RELAY;
	answer(r, from, m, &ans);
}

/* An agent's answer to INTRODUCE: it must come from that side's address
 * with that side's transaction. */
static void on_intro_answer(struct rdv *r, const struct dg_ep *from, const struct rdv_msg *m)
{
	struct rdv_try *t = find_try(r, m->try_id);
	int k;

	for (k = 0; t && k < 2; k++)
		if (dg_ep_eq(&t->side[k].ep, from) &&
		    memcmp(t->side[k].txid, m->txid, STUN_TXID_LEN) == 0)
			break;
	if (!t || k == 2) {
		drop(r, RDV_DROP_WRONG_TXN);
		return;
	}
	if (t->side[k].answered)
		return; /* a second answer to a retransmission */
	t->side[k].answered = true;
	if (m->kind == RDV_INTRODUCE_OK) {
		r->c.intro_acked++;
		return;
	}
	r->c.intro_refused++;
	log_debug("try %016llx: %s refused: %d %s", (unsigned long long)t->id,
		  t->side[1 - k].intro.peer, m->error_code, m->reason);
	/* the other side would run its method against nobody until its
	 * budget is spent: it is told (once, whoever refused first) */
	if (t->cancel.to >= 0)
		return;
	t->cancel.to = 1 - k;
	t->cancel.code = m->error_code;
	memcpy(t->cancel.reason, m->reason, sizeof(t->cancel.reason));
	new_txid(r, t->cancel.txid);
	cancel_send(r, t, dg_now(r->d));
	r->c.cancels++;
	if (t->timer)
		sched_cancel(r->d->s, t->timer);
	t->timer = sched_at(r->d->s, t->cancel.next, try_timer, t);
}

/* An agent's answer to CANCEL: from the side told, in its transaction. */
static void on_cancel_answer(struct rdv *r, const struct dg_ep *from, const struct rdv_msg *m)
{
	struct rdv_try *t = find_try(r, m->try_id);

	if (!t || t->cancel.to < 0 || !dg_ep_eq(&t->side[t->cancel.to].ep, from) ||
	    memcmp(t->cancel.txid, m->txid, STUN_TXID_LEN) != 0) {
		drop(r, RDV_DROP_WRONG_TXN);
		return;
	}
	if (!t->cancel.acked)
		r->c.cancel_acked++;
	t->cancel.acked = true;
}

static void on_datagram(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
			size_t len, natbed_time_t now)
{
	struct rdv *r = arg;
	struct rdv_msg m;
	enum rdv_parse p;

	r->c.datagrams++;
	p = rdvmsg_parse(buf, len, &m);
	if (p != RDV_PARSE_OK) {
		drop(r, (enum rdv_drop)p);
		return;
	}
	switch (m.kind) {
	case RDV_REGISTER:
		on_register(r, from, &m);
		break;
	case RDV_CONNECT:
		on_connect(r, from, &m);
		break;
	case RDV_LOOKUP:
		on_lookup(r, from, &m);
		break;
	case RDV_INTRODUCE_OK:
	case RDV_INTRODUCE_ERR:
		on_intro_answer(r, from, &m);
		break;
	case RDV_CANCEL_OK:
		on_cancel_answer(r, from, &m);
		break;
	default:
		drop(r, RDV_DROP_UNEXPECTED);
		break;
	}
}

int rdv_new(const struct dgram *d, const struct rdv_config *cfg, struct rdv **out)
{
	struct rdv *r = calloc(1, sizeof(*r));
	int err = -ENOMEM;

	if (!r)
		return -ENOMEM;
	r->d = d;
	r->cfg = *cfg;
	if (!r->cfg.start_delay_ns)
		r->cfg.start_delay_ns = RDV_START_DELAY_MS * NATBED_NS_PER_MS;
	if (!r->cfg.intro_rto_ns)
		r->cfg.intro_rto_ns = RDV_INTRO_RTO_MS * NATBED_NS_PER_MS;
	if (!r->cfg.lifetime_max_s)
		r->cfg.lifetime_max_s = RDV_LIFETIME_MAX_S;
	if (!r->cfg.max_agents)
		r->cfg.max_agents = RDV_MAX_AGENTS;
	r->try_key = rng_key("rdv-try", 0);
	r->txid_key = rng_key("rdv-txid", 0);
	r->sock = -1;
	if (table_init(&r->by_name) < 0 || table_init(&r->by_ep) < 0 || table_init(&r->tries) < 0)
		goto fail;
	r->sock = dg_open(d, &cfg->listen, &r->local, on_datagram, r);
	if (r->sock < 0) {
		err = r->sock;
		goto fail;
	}
	*out = r;
	return 0;
fail:
	rdv_free(r);
	return err;
}

void rdv_free(struct rdv *r)
{
	if (!r)
		return;
	dg_close(r->d, r->sock);
	for (size_t i = 0; r->tries.b && i < r->tries.nb; i++)
		while (r->tries.b[i])
			try_free(r, r->tries.b[i]);
	for (size_t i = 0; r->by_name.b && i < r->by_name.nb; i++)
		while (r->by_name.b[i])
			reg_remove(r, r->by_name.b[i]);
	free(r->tries.b);
	free(r->by_name.b);
	free(r->by_ep.b);
	free(r);
}

struct dg_ep rdv_local(const struct rdv *r)
{
	return r->local;
}

void rdv_counters(const struct rdv *r, struct rdv_counters *c)
{
	*c = r->c;
}
