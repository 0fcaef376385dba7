/* natbed rendezvous logic: registrations indexed by name and by address,
 * introductions indexed by try id, every timer on the scheduler. No I/O of
 * its own: struct dgram carries the datagrams. */
#include "rdv.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckget.h"
#include "ckval.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
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
	const char *connect_reason; /* one of refusals[] */
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

/* Why a CONNECT or a LOOKUP is refused: rdv_reg.connect_reason is one of
 * these, by pointer (a checkpoint writes its index). */
enum rdv_refusal { RDV_REFUSE_UNKNOWN, RDV_REFUSE_SELF, RDV_REFUSE_BUSY, RDV_REFUSE_COUNT };
static const char *const refusals[RDV_REFUSE_COUNT] = {
    [RDV_REFUSE_UNKNOWN] = "peer not registered",
    [RDV_REFUSE_SELF] = "peer is the asker",
    [RDV_REFUSE_BUSY] = "too many introductions",
};

/* Why a cannot be told about the peer it names (b, NULL when unknown),
 * or NULL. */
static const char *peer_refusal(const struct rdv_reg *a, const struct rdv_reg *b)
{
	return !b ? refusals[RDV_REFUSE_UNKNOWN] : b == a ? refusals[RDV_REFUSE_SELF] : NULL;
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
		a->connect_reason = refusals[RDV_REFUSE_BUSY];
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

/* --- checkpoints ----------------------------------------------------------- */

static const struct ckfn rdv_fns[] = {CKFN(on_datagram), CKFN(reg_expiry), CKFN(try_timer)};
const struct ckfns rdv_ckfns = CKFNS(rdv, rdv_fns);

/* A NUL-terminated name of buf[cap] as JSON (NULL when it is not text). */
static json_t *ck_text(const char *buf, size_t cap)
{
	return json_stringn(buf, strnlen(buf, cap));
}

static json_t *reg_save(struct ckw *w, const struct rdv_reg *g)
{
	json_t *reason = json_null();

	for (int k = 0; k < RDV_REFUSE_COUNT; k++)
		if (g->connect_reason == refusals[k])
			reason = json_integer(k);
	if (g->connect_reason && json_is_null(reason)) {
		ckw_fail(w, "rdv: %s: connect_reason not one of the refusals", g->name);
		return NULL;
	}
	return json_pack("{s:o,s:o,s:o,s:o,s:I,s:o,s:I,s:b,s:o,s:o,s:o,s:i,s:o}", "id",
			 ckw_obj(w, g), "name", ck_text(g->name, sizeof(g->name)), "ep",
			 dg_ep_ckpt_save(&g->ep, w), "cand", ckval_cand(&g->cand, w), "expires",
			 (json_int_t)g->expires, "timer", ckw_timer(w, g->timer), "timer_due",
			 (json_int_t)g->timer_due, "has_connect", g->has_connect, "connect_txid",
			 ckw_bytes(w, g->connect_txid, sizeof(g->connect_txid)), "connect_peer",
			 ck_text(g->connect_peer, sizeof(g->connect_peer)), "connect_try",
			 jsonck_u64(g->connect_try, true), "connect_code", g->connect_code,
			 "connect_reason", reason);
}

static struct rdv_reg *reg_load(struct ckr *r, const json_t *j, struct rdv *owner)
{
	struct rdv_reg *g = calloc(1, sizeof(*g));
	struct ckget f = {r, "rdv.reg", j, false};
	const json_t *reason = ckget_get(&f, "connect_reason");

	if (!g) {
		ckr_fail(r, "rdv: out of memory");
		return NULL;
	}
	g->r = owner;
	ckget_str(&f, "name", g->name, sizeof(g->name));
	ckget_ep(&f, "ep", &g->ep);
	ckval_get_cand(&f, "cand", &g->cand);
	g->expires = ckget_time(&f, "expires");
	g->timer_due = ckget_time(&f, "timer_due");
	g->has_connect = ckget_bool(&f, "has_connect");
	ckget_bytes(&f, "connect_txid", g->connect_txid, sizeof(g->connect_txid));
	ckget_str(&f, "connect_peer", g->connect_peer, sizeof(g->connect_peer));
	g->connect_try = ckget_u64(&f, "connect_try");
	g->connect_code = (int)ckget_int(&f, "connect_code", 0, 699);
	if (reason && !json_is_null(reason))
		g->connect_reason =
		    refusals[ckget_int(&f, "connect_reason", 0, RDV_REFUSE_COUNT - 1)];
	ckget_obj(&f, "id", g);
	ckget_timer(&f, "timer", &g->timer);
	return g;
}

static json_t *side_save(struct ckw *w, const struct rdv_side *d)
{
	return json_pack("{s:o,s:o,s:b,s:o}", "ep", dg_ep_ckpt_save(&d->ep, w), "txid",
			 ckw_bytes(w, d->txid, sizeof(d->txid)), "answered", d->answered, "intro",
			 ckw_bytes(w, &d->intro, sizeof(d->intro)));
}

static json_t *try_save(struct ckw *w, const struct rdv_try *t)
{
	const struct rdv_cancel *c = &t->cancel;

	return json_pack(
	    "{s:o,s:o,s:I,s:o,s:[oo],s:{s:i,s:b,s:o,s:i,s:o,s:I}}", "id", ckw_obj(w, t), "try_id",
	    jsonck_u64(t->id, true), "start", (json_int_t)t->start, "timer", ckw_timer(w, t->timer),
	    "side", side_save(w, &t->side[0]), side_save(w, &t->side[1]), "cancel", "to", c->to,
	    "acked", c->acked, "txid", ckw_bytes(w, c->txid, sizeof(c->txid)), "code", c->code,
	    "reason", ckw_bytes(w, c->reason, sizeof(c->reason)), "next", (json_int_t)c->next);
}

static struct rdv_try *try_load(struct ckr *r, const json_t *j, struct rdv *owner)
{
	struct rdv_try *t = calloc(1, sizeof(*t));
	struct ckget g = {r, "rdv.try", j, false};
	struct ckget gc = {r, "rdv.try.cancel", ckget_get(&g, "cancel"), false};
	const json_t *sides = ckget_get(&g, "side");

	if (!t) {
		ckr_fail(r, "rdv: out of memory");
		return NULL;
	}
	t->r = owner;
	t->id = ckget_u64(&g, "try_id");
	t->start = ckget_time(&g, "start");
	if (json_array_size(sides) != 2)
		ckr_fail(r, "rdv: try.side: not two sides");
	for (size_t k = 0; k < 2 && json_array_size(sides) == 2; k++) {
		struct ckget gd = {r, "rdv.try.side", json_array_get(sides, k), false};

		ckget_ep(&gd, "ep", &t->side[k].ep);
		ckget_bytes(&gd, "txid", t->side[k].txid, sizeof(t->side[k].txid));
		t->side[k].answered = ckget_bool(&gd, "answered");
		ckget_bytes(&gd, "intro", &t->side[k].intro, sizeof(t->side[k].intro));
	}
	t->cancel.to = (int)ckget_int(&gc, "to", -1, 1);
	t->cancel.acked = ckget_bool(&gc, "acked");
	ckget_bytes(&gc, "txid", t->cancel.txid, sizeof(t->cancel.txid));
	t->cancel.code = (int)ckget_int(&gc, "code", 0, 699);
	ckget_bytes(&gc, "reason", t->cancel.reason, sizeof(t->cancel.reason));
	t->cancel.next = ckget_time(&gc, "next");
	ckget_obj(&g, "id", t);
	ckget_timer(&g, "timer", &t->timer);
	return t;
}

/* A registration and its place in by_name's order. */
struct reg_at {
	const struct rdv_reg *g;
	size_t at;
};

static int reg_at_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct reg_at *)a)->g;
	uintptr_t y = (uintptr_t)((const struct reg_at *)b)->g;

	return x < y ? -1 : x > y;
}

/* by_ep's entries in bucket and chain order, each as its index in
 * by_name's order (the order regs are written in). */
static json_t *by_ep_order(const struct rdv *r, struct ckw *w)
{
	struct reg_at *all = calloc(r->by_name.n ? r->by_name.n : 1, sizeof(*all));
	json_t *a = json_array();
	size_t n = 0;

	if (!all || !a) {
		free(all);
		json_decref(a);
		ckw_fail(w, "rdv: out of memory");
		return NULL;
	}
	for (size_t i = 0; i < r->by_name.nb; i++)
		for (const struct rdv_reg *g = r->by_name.b[i]; g && n < r->by_name.n;
		     g = g->next_name)
			all[n] = (struct reg_at){g, n}, n++;
	qsort(all, n, sizeof(*all), reg_at_cmp);
	for (size_t i = 0; i < r->by_ep.nb; i++)
		for (const struct rdv_reg *g = r->by_ep.b[i]; g; g = g->next_ep) {
			struct reg_at key = {g, 0},
				      *at = bsearch(&key, all, n, sizeof(*all), reg_at_cmp);

			ckget_push(w, a, at ? json_integer((json_int_t)at->at) : NULL,
				   "rdv: by_ep");
		}
	free(all);
	/* an entry missing from by_name (never: they are added and removed
	 * together) leaves a shorter array, which the reader refuses */
	return a;
}

/* Appends e at the end of its chain: entries added in the order
 * table_order() wrote rebuild every chain as it was. */
static void table_append(struct rdv_table *t, const struct rdv_table_ops *ops, void *e)
{
	void **p = &t->b[ops->hash(e) & (t->nb - 1)];

	while (*p)
		p = &NEXT(*p, ops);
	NEXT(e, ops) = NULL;
	*p = e;
	t->n++;
}

json_t *rdv_ckpt_save(const struct rdv *r, struct ckw *w)
{
	json_t *regs = json_array(), *tries = json_array();

	/* every registration once, in by_name's order */
	for (size_t i = 0; i < r->by_name.nb; i++)
		for (const struct rdv_reg *g = r->by_name.b[i]; g; g = g->next_name)
			ckget_push(w, regs, reg_save(w, g), "rdv: a registration");
	for (size_t i = 0; i < r->tries.nb; i++)
		for (const struct rdv_try *t = r->tries.b[i]; t; t = t->next)
			ckget_push(w, tries, try_save(w, t), "rdv: an introduction");
	return ckget_done(
	    w,
	    json_pack(
		"{s:o,s:o,s:{s:o,s:I,s:I,s:I,s:I},s:i,s:o,s:I,s:I,s:o,s:o,s:o,s:I,s:I,s:I,s:o,s:o,"
		"s:o}",
		"id", ckw_obj(w, r), "d", ckw_ref(w, r->d), "cfg", "listen",
		dg_ep_ckpt_save(&r->cfg.listen, w), "start_delay_ns",
		(json_int_t)r->cfg.start_delay_ns, "intro_rto_ns", (json_int_t)r->cfg.intro_rto_ns,
		"lifetime_max_s", (json_int_t)r->cfg.lifetime_max_s, "max_agents",
		(json_int_t)r->cfg.max_agents, "sock", r->sock, "local",
		dg_ep_ckpt_save(&r->local, w), "try_count", (json_int_t)r->try_count, "txid_count",
		(json_int_t)r->txid_count, "try_key", jsonck_u64(r->try_key, true), "txid_key",
		jsonck_u64(r->txid_key, true), "counters", ckw_bytes(w, &r->c, sizeof(r->c)),
		"name_buckets", (json_int_t)r->by_name.nb, "ep_buckets", (json_int_t)r->by_ep.nb,
		"try_buckets", (json_int_t)r->tries.nb, "regs", regs, "by_ep", by_ep_order(r, w),
		"tries", tries),
	    "rdv");
}

/* An empty table of nb buckets (a power of two, RDV_BUCKETS_MIN or more). */
static int table_load(struct ckr *r, const json_t *j, const char *key, struct rdv_table *t)
{
	struct ckget g = {r, "rdv", j, false};
	json_int_t nb = ckget_int(&g, key, RDV_BUCKETS_MIN, (json_int_t)1 << 30);

	if (nb & (nb - 1))
		return ckr_fail(r, "rdv: %s: not a power of two", key);
	if (ckr_failed(r))
		return -1;
	t->b = calloc((size_t)nb, sizeof(*t->b));
	t->nb = (size_t)nb;
	t->n = 0;
	return t->b ? 0 : ckr_fail(r, "rdv: out of memory");
}

struct rdv *rdv_ckpt_load(const json_t *j, struct ckr *r)
{
	const json_t *cfg = json_object_get(j, "cfg"), *regs = json_object_get(j, "regs");
	const json_t *by_ep = json_object_get(j, "by_ep"), *tries = json_object_get(j, "tries"), *e;
	struct ckget g = {r, "rdv", j, false}, gc = {r, "rdv.cfg", cfg, false};
	struct rdv_reg **all = NULL;
	struct rdv *o;
	size_t i, n = json_array_size(regs);

	if (!json_is_object(cfg) || !json_is_array(regs) || !json_is_array(by_ep) ||
	    !json_is_array(tries) || json_array_size(by_ep) != n) {
		ckr_fail(r,
			 "rdv: cfg, regs, by_ep, tries: not there, or by_ep not as long as regs");
		return NULL;
	}
	if (!(o = calloc(1, sizeof(*o))) || !(all = calloc(n ? n : 1, sizeof(*all)))) {
		free(o);
		ckr_fail(r, "rdv: out of memory");
		return NULL;
	}
	ckget_ep(&gc, "listen", &o->cfg.listen);
	o->cfg.start_delay_ns = ckget_int(&gc, "start_delay_ns", 1, INT64_MAX);
	o->cfg.intro_rto_ns = ckget_int(&gc, "intro_rto_ns", 1, INT64_MAX);
	o->cfg.lifetime_max_s = (uint32_t)ckget_int(&gc, "lifetime_max_s", 1, UINT32_MAX);
	o->cfg.max_agents = (uint32_t)ckget_int(&gc, "max_agents", 1, UINT32_MAX);
	o->sock = (int)ckget_int(&g, "sock", 0, INT_MAX);
	ckget_ep(&g, "local", &o->local);
	o->try_count = (uint64_t)ckget_int(&g, "try_count", 0, INT64_MAX);
	o->txid_count = (uint64_t)ckget_int(&g, "txid_count", 0, INT64_MAX);
	o->try_key = ckget_u64(&g, "try_key");
	o->txid_key = ckget_u64(&g, "txid_key");
	ckget_bytes(&g, "counters", &o->c, sizeof(o->c));
	table_load(r, j, "name_buckets", &o->by_name);
	table_load(r, j, "ep_buckets", &o->by_ep);
	table_load(r, j, "try_buckets", &o->tries);
	ckget_obj(&g, "id", o);
	ckget_ref(&g, "d", &o->d);
	if (ckr_failed(r))
		goto out;
	/* the same registration in both tables, each chain as it was */
	json_array_foreach(regs, i, e)
	{
		if (!(all[i] = reg_load(r, e, o)) || ckr_failed(r))
			goto out;
		table_append(&o->by_name, &name_ops, all[i]);
	}
	json_array_foreach(by_ep, i, e)
	{
		json_int_t k;

		if (jsonck_int(e, 0, (json_int_t)n - 1, &k) < 0 || !all[k]) {
			ckr_fail(r, "rdv: by_ep[%zu]: not a registration, or one twice", i);
			goto out;
		}
		table_append(&o->by_ep, &ep_ops, all[k]);
		all[k] = NULL; /* placed */
	}
	json_array_foreach(tries, i, e)
	{
		struct rdv_try *t = try_load(r, e, o);

		if (!t || ckr_failed(r))
			goto out;
		table_append(&o->tries, &try_ops, t);
	}
out:
	free(all);
	return ckr_failed(r) ? NULL : o;
}
