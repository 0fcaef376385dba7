#include "method_checks.h"

#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "natbed/rng.h"
#include "peermsg.h"
#include "trav_ckpt.h"

#define MC_NEVER ((natbed_time_t)-1)

struct mc_sock {
	struct mc *c;
	int id; /* the driver's */
	bool owned;
	struct dg_ep local;
	bool has_probe; /* probe transaction: answers from probe_addr, any port */
	uint8_t probe_txid[STUN_TXID_LEN];
	uint32_t probe_addr;
	bool has_stun; /* a STUN request outstanding */
	uint8_t stun_txid[STUN_TXID_LEN];
};

struct mc_pair {
	int si;
	struct dg_ep to;
	uint8_t txid[STUN_TXID_LEN]; /* one transaction per pair: RFC 8489 §6.2.1 */
	unsigned flags;
	unsigned nsent;	    /* scheduled checks sent */
	natbed_time_t base; /* the schedule's origin */
	natbed_time_t next; /* the next scheduled check, MC_NEVER when none */
	natbed_time_t last; /* the last check sent, MC_NEVER before the first */
	bool has_pred;
	struct dg_ep pred;
};

struct mc_timer {
	struct mc *c;
	uint64_t id; /* 0: free */
	void (*fn)(struct trav_try *t);
};

struct mc {
	struct trav_try *t;
	struct mc_hooks h;
	struct mc_sock socks[MC_SOCKS_MAX];
	size_t nsocks;
	struct mc_pair pairs[MC_PAIRS_MAX];
	size_t npairs;
	uint64_t tick_id;
	natbed_time_t tick_at;
	uint64_t deadline_id;
	struct mc_timer timers[MC_TIMERS_MAX];
	uint64_t txn;	  /* transaction ids drawn */
	uint64_t refused; /* sends refused with an ICMP-like error */
	bool heard;
	const char *fail_reason; /* mc_fail_at()'s */
	alignas(max_align_t) unsigned char user[];
};

natbed_time_t mc_schedule_offset(unsigned k)
{
	const natbed_time_t ms = NATBED_NS_PER_MS;

	if (k < 10)
		return k * 100 * ms;
	if (k < 18)
		return 1000 * ms + (natbed_time_t)(k - 10) * 250 * ms;
	return 3000 * ms + (natbed_time_t)(k - 18) * 500 * ms;
}

void *mc_user(const struct trav_try *t)
{
	return ((struct mc *)t->priv)->user;
}

bool mc_heard(const struct trav_try *t)
{
	return ((struct mc *)t->priv)->heard;
}

const struct dg_ep *mc_local(const struct trav_try *t, int si)
{
	return &((struct mc *)t->priv)->socks[si].local;
}

/* RFC 8489 §6.2.1: 96 random bits, keyed by the try so that two tries and
 * two runs with other seeds never share one. */
static void mc_txid(struct mc *c, uint8_t txid[STUN_TXID_LEN])
{
	uint64_t a = rng_keyed_u64(c->t->dg->seed, c->t->id, c->txn++);
	uint64_t b = rng_keyed_u64(c->t->dg->seed, c->t->id ^ 0x7478696475ull, c->txn++);

	memcpy(txid, &a, 8);
	memcpy(txid + 8, &b, 4);
}

/* ICMP says no (RFC 1122 §4.1.3.3: UDP passes ICMP errors up): the driver
 * reports it as the error of a send. */
static bool mc_errno_refused(int err)
{
	return err == -ECONNREFUSED || err == -EHOSTUNREACH || err == -EACCES || err == -EPERM;
}

static void mc_send(struct mc *c, int si, const struct dg_ep *to, const struct peermsg *m)
{
	uint8_t buf[PEERMSG_MAX];
	int len = peermsg_build(m, buf, sizeof(buf)), r;

	if (len < 0) {
		c->t->counts.send_errors++;
		return;
	}
	r = dg_send(c->t->dg, c->socks[si].id, to, buf, (size_t)len);
	if (r < 0) {
		c->t->counts.send_errors++;
		c->refused += mc_errno_refused(r);
		return;
	}
	c->t->counts.sent++;
}

static void mc_check_init(struct mc *c, struct peermsg *m, const uint8_t txid[STUN_TXID_LEN])
{
	memset(m, 0, sizeof(*m));
	m->kind = PEERMSG_CHECK;
	memcpy(m->txid, txid, STUN_TXID_LEN);
	m->has_try = true;
	m->try_id = c->t->id;
	memcpy(m->name, c->t->self.name, sizeof(m->name) - 1);
}

static void mc_pair_send(struct mc *c, struct mc_pair *p, natbed_time_t now)
{
	struct peermsg m;

	mc_check_init(c, &m, p->txid);
	m.has_pred = p->has_pred;
	m.pred = p->pred;
	mc_send(c, p->si, &p->to, &m);
	p->last = now;
}

/* --- timers -------------------------------------------------------------- */

static void mc_tick_cb(void *arg, natbed_time_t now);

static void mc_reschedule(struct mc *c)
{
	natbed_time_t next = MC_NEVER;
	size_t i;

	for (i = 0; !c->t->finished && i < c->npairs; i++)
		if (c->pairs[i].next != MC_NEVER && (next == MC_NEVER || c->pairs[i].next < next))
			next = c->pairs[i].next;
	if (c->tick_id && c->tick_at == next)
		return;
	if (c->tick_id)
		sched_cancel(c->t->dg->s, c->tick_id);
	c->tick_id = 0;
	if (next != MC_NEVER) {
		c->tick_at = next;
		c->tick_id = sched_at(c->t->dg->s, next, mc_tick_cb, c);
	}
}

static void mc_tick_cb(void *arg, natbed_time_t now)
{
	struct mc *c = arg;
	size_t i;

	c->tick_id = 0;
	for (i = 0; i < c->npairs; i++) {
		struct mc_pair *p = &c->pairs[i];

		if (p->next == MC_NEVER || p->next > now)
			continue;
		mc_pair_send(c, p, now);
		p->nsent++;
		p->next = p->flags & MC_ONCE ? MC_NEVER : p->base + mc_schedule_offset(p->nsent);
		if (p->next != MC_NEVER && p->next >= c->t->deadline)
			p->next = MC_NEVER;
	}
	mc_reschedule(c);
}

/* Nothing more to send: cancels the schedule, the deadline and the
 * method's timers (answers to checks go on until stop()). */
static void mc_quiesce(struct mc *c)
{
	struct sched *s = c->t->dg->s;
	size_t i;

	if (c->tick_id)
		sched_cancel(s, c->tick_id);
	if (c->deadline_id)
		sched_cancel(s, c->deadline_id);
	c->tick_id = c->deadline_id = 0;
	for (i = 0; i < MC_TIMERS_MAX; i++) {
		if (c->timers[i].id)
			sched_cancel(s, c->timers[i].id);
		c->timers[i].id = 0;
	}
}

static void mc_timer_cb(void *arg, natbed_time_t now)
{
	struct mc_timer *tm = arg;

	tm->id = 0;
	tm->fn(tm->c->t);
}

int mc_at(struct trav_try *t, natbed_time_t when, void (*fn)(struct trav_try *t))
{
	struct mc *c = t->priv;
	size_t i;

	for (i = 0; i < MC_TIMERS_MAX; i++) {
		struct mc_timer *tm = &c->timers[i];

		if (tm->id)
			continue;
		tm->c = c;
		tm->fn = fn;
		tm->id = sched_at(t->dg->s, when, mc_timer_cb, tm);
		return tm->id ? 0 : -ENOMEM;
	}
	return -ENOSPC;
}

void mc_fail(struct trav_try *t, const char *reason)
{
	struct mc *c = t->priv;

	if (t->finished)
		return;
	mc_quiesce(c);
	trav_done(t, false, reason);
}

static void mc_fail_cb(struct trav_try *t)
{
	mc_fail(t, ((struct mc *)t->priv)->fail_reason);
}

int mc_fail_at(struct trav_try *t, natbed_time_t when, const char *reason)
{
	((struct mc *)t->priv)->fail_reason = reason;
	return mc_at(t, when, mc_fail_cb);
}

static void mc_deadline_cb(void *arg, natbed_time_t now)
{
	struct mc *c = arg;
	const char *why = c->h.expire ? c->h.expire(c->t) : NULL;

	c->deadline_id = 0;
	if (!why)
		why = c->refused && !c->heard ? "filtered" : !c->heard ? "no answer" : "timeout";
	mc_fail(c->t, why);
}

/* --- success ------------------------------------------------------------- */

/* The path: socket si and the peer's endpoint as it reaches us; mapped is
 * ours as the peer saw it (NULL: unknown, the socket's own then). */
static void mc_succeed(struct mc *c, int si, const struct dg_ep *remote, const struct dg_ep *mapped,
		       bool nominated)
{
	struct trav_try *t = c->t;
	struct peermsg m;
	int i;

	t->path_sock = c->socks[si].id;
	t->local = mapped ? *mapped : c->socks[si].local;
	t->remote = *remote;
	/* RFC 8445 §8.1.1: the agent whose check succeeded nominates the pair */
	for (i = 0; !nominated && i < MC_NOMINATIONS; i++) {
		uint8_t txid[STUN_TXID_LEN];

		mc_txid(c, txid);
		mc_check_init(c, &m, txid);
		m.nominate = true;
		m.has_mapped = true;
		m.mapped = *remote;
		mc_send(c, si, remote, &m);
	}
	mc_quiesce(c);
	trav_done(t, true, NULL); /* c may be gone now */
}

/* --- receiving ----------------------------------------------------------- */

static struct mc_pair *mc_pair_find(struct mc *c, int si, const struct dg_ep *to)
{
	size_t i;

	for (i = 0; i < c->npairs; i++)
		if (c->pairs[i].si == si && dg_ep_eq(&c->pairs[i].to, to))
			return &c->pairs[i];
	return NULL;
}

static struct mc_pair *mc_pair_by_txid(struct mc *c, int si, const uint8_t *txid)
{
	size_t i;

	for (i = 0; i < c->npairs; i++)
		if (c->pairs[i].si == si && memcmp(c->pairs[i].txid, txid, STUN_TXID_LEN) == 0)
			return &c->pairs[i];
	return NULL;
}

/* Another try's check or answer: on the agent's socket it belongs to
 * another try under way there (a serving agent runs many at once, and a
 * successful one keeps answering until its deadline), so it is handed
 * back (false) for the agent to offer to the others; on a socket of our
 * own it is a stray. */
static bool mc_other_try(struct mc *c, int si)
{
	if (si == MC_MAIN_SOCK)
		return false;
	c->t->counts.wrong_try++;
	return true;
}

/* true when the check was the try's */
static bool mc_on_check(struct mc *c, int si, const struct dg_ep *from, const struct peermsg *m)
{
	struct trav_try *t = c->t;
	natbed_time_t now = dg_now(t->dg);
	struct mc_pair *p;
	struct peermsg a;

	if (m->try_id != t->id)
		return mc_other_try(c, si);
	if (t->peer.name[0] && strcmp(m->name, t->peer.name) != 0) {
		t->counts.wrong_name++;
		return true;
	}
	t->counts.checks_in++;
	c->heard = true;
	/* RFC 8445 §7.3.1: answer with where it came from */
	peermsg_answer_of(m, from, &a);
	memcpy(a.name, t->self.name, sizeof(a.name) - 1);
	mc_send(c, si, from, &a);
	if (t->finished)
		return true;
	if (m->nominate) {
		mc_succeed(c, si, from, m->has_mapped ? &m->mapped : NULL, true);
		return true;
	}
	p = mc_pair_find(c, si, from);
	if (!p) {
		/* RFC 8445 §7.3.1.3-4: a peer-reflexive endpoint, checked at once
		 * (the first check of its schedule) */
		int pi = mc_pair(t, si, from, now, MC_PRFLX, NULL);

		if (pi < 0)
			return true;
		p = &c->pairs[pi];
		p->nsent = 1;
		p->next = now + mc_schedule_offset(1) < t->deadline ? now + mc_schedule_offset(1)
								    : MC_NEVER;
		mc_pair_send(c, p, now);
		mc_reschedule(c);
		return true;
	}
	if (p->last == MC_NEVER || now - p->last >= MC_TRIGGER_GAP)
		mc_pair_send(c, p, now);
	return true;
}

/* true when the answer was the try's (the main socket's others are the
 * agent's: its own STUN requests) */
static bool mc_on_answer(struct mc *c, int si, const struct dg_ep *from, const struct peermsg *m)
{
	struct trav_try *t = c->t;
	struct mc_sock *so = &c->socks[si];
	struct mc_pair *p;

	if (m->has_try && m->try_id != t->id)
		return mc_other_try(c, si);
	p = mc_pair_by_txid(c, si, m->txid);
	if (!p && !(so->has_probe && memcmp(so->probe_txid, m->txid, STUN_TXID_LEN) == 0)) {
		if (!m->has_try && so->has_stun &&
		    memcmp(so->stun_txid, m->txid, STUN_TXID_LEN) == 0) {
			so->has_stun = false;
			if (c->h.stun_answer && !t->finished)
				c->h.stun_answer(t, si, &m->mapped);
			return true;
		}
		if (!m->has_try && si == MC_MAIN_SOCK)
			return false;
		/* after the end, the answers to our nominations come back */
		t->counts.wrong_txid += !t->finished;
		return true;
	}
	if (t->finished)
		return true; /* answers to checks sent before the end */
	/* RFC 8445 §7.2.5.2.1: from where the check went, or it failed (a
	 * probe: from the address it went to, any port) */
	if (p ? !dg_ep_eq(&p->to, from) : from->addr != so->probe_addr) {
		t->counts.wrong_txid++;
		return true;
	}
	t->counts.answers_in++;
	c->heard = true;
	mc_succeed(c, si, from, &m->mapped, false);
	return true;
}

static bool mc_handle(struct mc *c, int si, const struct dg_ep *from, const uint8_t *buf,
		      size_t len)
{
	struct trav_try *t = c->t;
	struct peermsg m;
	enum peermsg_result r = peermsg_parse(buf, len, &m);

	/* on the agent's socket, what is no peer message is the agent's; on
	 * ours, a data probe may be (t->other) */
	if (r != PEERMSG_OK || m.kind == PEERMSG_PROBE || m.kind == PEERMSG_PROBE_ANSWER) {
		if (si == MC_MAIN_SOCK)
			return false;
		if (r == PEERMSG_OK && t->other && t->other(t, c->socks[si].id, from, buf, len))
			return true;
		if (r == PEERMSG_BAD)
			t->counts.bad++;
		else
			t->counts.unknown++;
		return true;
	}
	if (m.kind == PEERMSG_CHECK)
		return mc_on_check(c, si, from, &m);
	return mc_on_answer(c, si, from, &m);
}

static void mc_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		  natbed_time_t now)
{
	struct mc_sock *so = arg;

	mc_handle(so->c, (int)(so - so->c->socks), from, buf, len);
}

bool mc_input(struct trav_try *t, const struct dg_ep *from, const uint8_t *buf, size_t len,
	      natbed_time_t now)
{
	struct mc *c = t->priv;

	return c ? mc_handle(c, MC_MAIN_SOCK, from, buf, len) : false;
}

/* --- sockets and pairs --------------------------------------------------- */

int mc_open(struct trav_try *t, struct dg_ep *local)
{
	struct mc *c = t->priv;
	struct dg_ep any = {0, 0};
	struct mc_sock *so;
	int id;

	if (c->nsocks == MC_SOCKS_MAX)
		return -ENOSPC;
	so = &c->socks[c->nsocks];
	memset(so, 0, sizeof(*so));
	so->c = c;
	id = dg_open(t->dg, &any, &so->local, mc_rx, so);
	if (id < 0)
		return id;
	so->id = id;
	so->owned = true;
	if (local)
		*local = so->local;
	return (int)c->nsocks++;
}

int mc_adopt(struct trav_try *t, int id, const struct dg_ep *local)
{
	struct mc *c = t->priv;
	struct mc_sock *so;
	int r;

	if (c->nsocks == MC_SOCKS_MAX)
		return -ENOSPC;
	so = &c->socks[c->nsocks];
	memset(so, 0, sizeof(*so));
	so->c = c;
	r = dg_set_recv(t->dg, id, mc_rx, so);
	if (r < 0)
		return r;
	so->id = id;
	so->owned = true;
	so->local = *local;
	return (int)c->nsocks++;
}

int mc_pair(struct trav_try *t, int si, const struct dg_ep *to, natbed_time_t first, unsigned flags,
	    const struct dg_ep *pred)
{
	struct mc *c = t->priv;
	struct mc_pair *p = mc_pair_find(c, si, to);

	if (p)
		return (int)(p - c->pairs);
	if (c->npairs == MC_PAIRS_MAX)
		return -ENOSPC;
	p = &c->pairs[c->npairs];
	memset(p, 0, sizeof(*p));
	p->si = si;
	p->to = *to;
	p->flags = flags;
	p->base = p->next = first;
	p->last = MC_NEVER;
	if (pred) {
		p->has_pred = true;
		p->pred = *pred;
	}
	mc_txid(c, p->txid);
	c->npairs++;
	if (first >= t->deadline)
		p->next = MC_NEVER;
	mc_reschedule(c);
	return (int)(p - c->pairs);
}

void mc_probe(struct trav_try *t, int si, const struct dg_ep *to)
{
	struct mc *c = t->priv;
	struct mc_sock *so = &c->socks[si];
	struct peermsg m;

	if (!so->has_probe) {
		so->has_probe = true;
		mc_txid(c, so->probe_txid);
	}
	so->probe_addr = to->addr;
	mc_check_init(c, &m, so->probe_txid);
	mc_send(c, si, to, &m);
}

void mc_stun(struct trav_try *t, int si, const struct dg_ep *to)
{
	struct mc *c = t->priv;
	struct mc_sock *so = &c->socks[si];
	struct stun_builder b;
	uint8_t buf[STUN_HEADER_LEN + 8];
	int len, r;

	if (!so->has_stun) {
		so->has_stun = true;
		mc_txid(c, so->stun_txid);
	}
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
			    so->stun_txid, false);
	stun_msg_build_fingerprint(&b);
	len = stun_msg_build_finish(&b);
	r = len < 0 ? len : dg_send(t->dg, so->id, to, buf, (size_t)len);
	if (r < 0)
		t->counts.send_errors++;
	else
		t->counts.sent++;
}

/* --- begin and end ------------------------------------------------------- */

int mc_begin(struct trav_try *t, const struct mc_hooks *h, size_t user_size)
{
	size_t size = sizeof(struct mc) + user_size;
	struct mc *c = malloc(size);

	if (!c)
		return -ENOMEM;
	/* Zeroed but for socks[1..] and pairs[], which mc_sock, mc_adopt and
	 * mc_pair clear as they take them (nothing reads past nsocks and
	 * npairs): a try's 40 KB were zeroed for the few it uses, a million
	 * times over in natbed sim. */
	memset(c, 0, offsetof(struct mc, socks) + sizeof(c->socks[0]));
	memset(&c->nsocks, 0, offsetof(struct mc, pairs) - offsetof(struct mc, nsocks));
	memset(&c->npairs, 0, size - offsetof(struct mc, npairs));
	c->t = t;
	if (h)
		c->h = *h;
	c->socks[0].c = c;
	c->socks[0].id = t->sock;
	c->socks[0].local = t->self.host;
	c->nsocks = 1;
	memset(&t->counts, 0, sizeof(t->counts));
	t->path_sock = -1;
	t->priv = c;
	c->deadline_id = sched_at(t->dg->s, t->deadline, mc_deadline_cb, c);
	if (!c->deadline_id) {
		t->priv = NULL;
		free(c);
		return -ENOMEM;
	}
	return 0;
}

int mc_begin_checks(struct trav_try *t, const struct dg_ep *targets, size_t n)
{
	natbed_time_t now = dg_now(t->dg);
	int r = mc_begin(t, NULL, 0), pairs = 0;
	size_t i;

	if (r < 0)
		return r;
	for (i = 0; i < n; i++)
		if (targets[i].addr && mc_pair(t, MC_MAIN_SOCK, &targets[i], now, 0, NULL) >= 0)
			pairs++;
	if (pairs == 0 && (r = mc_fail_at(t, now, "no candidate")) < 0)
		mc_stop(t);
	return r;
}

void mc_stop(struct trav_try *t)
{
	struct mc *c = t->priv;
	size_t i;

	if (!c)
		return;
	mc_quiesce(c);
	for (i = 1; i < c->nsocks; i++) {
		if (!c->socks[i].owned)
			continue;
		if (t->success && c->socks[i].id == t->path_sock)
			dg_set_recv(t->dg, t->path_sock, NULL, NULL); /* the agent's now */
		else
			dg_close(t->dg, c->socks[i].id);
	}
	t->priv = NULL;
	free(c);
}

bool mc_class_eim(enum ni_class c)
{
	return c == NI_CLASS_OPEN || c == NI_CLASS_FULL_CONE || c == NI_CLASS_RESTRICTED ||
	       c == NI_CLASS_PORT_RESTRICTED;
}

bool mc_class_dep(enum ni_class c)
{
	return c == NI_CLASS_ADDR_DEPENDENT || c == NI_CLASS_SYM_SEQUENTIAL ||
	       c == NI_CLASS_SYM_RANDOM;
}

/* --- checkpoints --------------------------------------------------------- */

static const struct ckfn mc_fns[] = {CKFN(mc_tick_cb), CKFN(mc_timer_cb), CKFN(mc_deadline_cb),
				     CKFN(mc_rx), CKFN(mc_fail_cb)};
const struct ckfns mc_ckfns = CKFNS(mc, mc_fns);

/* The methods on the engine and what each keeps beyond it (NULL: none). */
static const struct {
	const struct method *m;
	const struct mc_ckpt_user *u;
} mc_kinds[] = {
    {&method_direct, NULL},
    {&method_punch, NULL},
    {&method_predict, &predict_ckpt_user},
    {&method_birthday, &birthday_ckpt_user},
    {&method_portmap, &portmap_ckpt_user},
    {&method_relay, NULL},
};

/* m's entry (its user, NULL when none, in *u); false for a method not on
 * the engine. */
static bool mc_kind(const struct method *m, const struct mc_ckpt_user **u)
{
	for (size_t i = 0; i < sizeof(mc_kinds) / sizeof(mc_kinds[0]); i++)
		if (mc_kinds[i].m == m) {
			*u = mc_kinds[i].u;
			return true;
		}
	return false;
}

bool mc_ckpt_method(const struct method *m)
{
	const struct mc_ckpt_user *u;

	return mc_kind(m, &u);
}

static bool mc_hooks_eq(const struct mc_hooks *a, const struct mc_hooks *b)
{
	static const struct mc_hooks none;

	if (!b)
		b = &none;
	return a->stun_answer == b->stun_answer && a->expire == b->expire;
}

static json_t *mc_sock_save(const struct mc_sock *so, struct ckw *w)
{
	json_t *j = json_object();

	tck_set(j, "id", ckw_obj(w, so));
	tck_set(j, "sock", json_integer(so->id));
	tck_set(j, "owned", json_boolean(so->owned));
	tck_set(j, "local", dg_ep_ckpt_save(&so->local, w));
	if (so->has_probe)
		tck_set(j, "probe",
			json_pack("{s:o,s:o}", "txid", ckw_bytes(w, so->probe_txid, STUN_TXID_LEN),
				  "addr", jsonck_ipv4(so->probe_addr)));
	else
		tck_set(j, "probe", json_null());
	tck_set(j, "stun", so->has_stun ? ckw_bytes(w, so->stun_txid, STUN_TXID_LEN) : json_null());
	return j;
}

static void mc_sock_get(struct mc *c, struct mc_sock *so, struct ckget *g)
{
	struct ckget sub = {g->r, "mc.socks[]", NULL, false};

	so->c = c;
	ckget_obj(g, "id", so);
	so->id = (int)ckget_int(g, "sock", 0, INT32_MAX);
	so->owned = ckget_bool(g, "owned");
	ckget_ep(g, "local", &so->local);
	sub.o = ckget_get(g, "probe");
	if (sub.o && !json_is_null(sub.o)) {
		so->has_probe = true;
		ckget_bytes(&sub, "txid", so->probe_txid, STUN_TXID_LEN);
		if (jsonck_ipv4_read(ckget_get(&sub, "addr"), &so->probe_addr) < 0)
			ckget_fail(&sub, "addr", "not an address");
	}
	g->bad |= sub.bad;
	if (!json_is_null(ckget_get(g, "stun"))) {
		so->has_stun = true;
		ckget_bytes(g, "stun", so->stun_txid, STUN_TXID_LEN);
	}
}

static json_t *mc_pair_save(const struct mc_pair *p, struct ckw *w)
{
	json_t *j = json_object();

	tck_set(j, "si", json_integer(p->si));
	tck_set(j, "to", dg_ep_ckpt_save(&p->to, w));
	tck_set(j, "txid", ckw_bytes(w, p->txid, STUN_TXID_LEN));
	tck_set(j, "flags", json_integer(p->flags));
	tck_set(j, "nsent", json_integer(p->nsent));
	tck_set(j, "base", json_integer(p->base));
	tck_set(j, "next", json_integer(p->next));
	tck_set(j, "last", json_integer(p->last));
	tck_set(j, "pred", p->has_pred ? dg_ep_ckpt_save(&p->pred, w) : json_null());
	return j;
}

static void mc_pair_get(const struct mc *c, struct mc_pair *p, struct ckget *g)
{
	const json_t *pred;

	p->si = (int)ckget_int(g, "si", 0, (json_int_t)c->nsocks - 1);
	ckget_ep(g, "to", &p->to);
	ckget_bytes(g, "txid", p->txid, STUN_TXID_LEN);
	p->flags = (unsigned)ckget_int(g, "flags", 0, MC_ONCE | MC_PRFLX);
	p->nsent = (unsigned)ckget_int(g, "nsent", 0, UINT32_MAX);
	p->base = ckget_time(g, "base");
	p->next = ckget_int(g, "next", MC_NEVER, INT64_MAX);
	p->last = ckget_int(g, "last", MC_NEVER, INT64_MAX);
	pred = ckget_get(g, "pred");
	if (pred && !json_is_null(pred)) {
		p->has_pred = true;
		ckget_ep(g, "pred", &p->pred);
	}
}

json_t *mc_ckpt_save(const struct mc *c, struct ckw *w)
{
	const struct mc_ckpt_user *u = NULL;
	json_t *j = json_object(), *a;
	size_t i;

	if (!mc_kind(c->t->m, &u)) {
		ckw_fail(w, "mc: the try's method is not on the engine");
		return j;
	}
	if (!mc_hooks_eq(&c->h, u ? u->hooks : NULL))
		ckw_fail(w, "mc: hooks not the method's (%s)", c->t->m->spec.name);
	tck_set(j, "id", ckw_obj(w, c));
	tck_set(j, "t", ckw_ref(w, c->t));
	tck_set(j, "method", ckw_ref(w, c->t->m));
	a = json_array();
	for (i = 0; i < c->nsocks; i++)
		json_array_append_new(a, mc_sock_save(&c->socks[i], w));
	tck_set(j, "socks", a);
	a = json_array();
	for (i = 0; i < c->npairs; i++)
		json_array_append_new(a, mc_pair_save(&c->pairs[i], w));
	tck_set(j, "pairs", a);
	tck_set(j, "tick", ckw_timer(w, c->tick_id));
	tck_set(j, "tick_at", json_integer(c->tick_at));
	tck_set(j, "deadline", ckw_timer(w, c->deadline_id));
	/* every timer, the free ones too: each is an argument the queue may
	 * name, and a free one keeps its last fn */
	a = json_array();
	for (i = 0; i < MC_TIMERS_MAX; i++) {
		const struct mc_timer *tm = &c->timers[i];

		json_array_append_new(
		    a, json_pack("{s:o,s:b,s:o,s:o}", "id", ckw_obj(w, tm), "taken", tm->c != NULL,
				 "timer", ckw_timer(w, tm->id), "fn", ckw_fn(w, (ckfn_ptr)tm->fn)));
	}
	tck_set(j, "timers", a);
	tck_set(j, "txn", jsonck_u64(c->txn, true));
	tck_set(j, "refused", jsonck_u64(c->refused, true));
	tck_set(j, "heard", json_boolean(c->heard));
	tck_set(j, "fail_reason", tck_reason(w, c->t, c->fail_reason));
	tck_set(j, "user", u && u->save ? u->save(c->t, c->user, w) : json_null());
	return j;
}

struct mc *mc_ckpt_load(const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "mc", j, false};
	const json_t *mj = ckget_get(&g, "method"), *socks = ckget_get(&g, "socks");
	const json_t *pairs = ckget_get(&g, "pairs"), *timers = ckget_get(&g, "timers");
	const struct method *m = mj ? ckr_get(r, mj) : NULL;
	const struct mc_ckpt_user *u = NULL;
	struct mc *c;
	size_t i;

	if (g.bad)
		return NULL;
	if (!m || !mc_kind(m, &u)) {
		ckget_fail(&g, "method", "not a method on the engine");
		return NULL;
	}
	if (!json_is_array(socks) || json_array_size(socks) < 1 ||
	    json_array_size(socks) > MC_SOCKS_MAX || !json_is_array(pairs) ||
	    json_array_size(pairs) > MC_PAIRS_MAX || !json_is_array(timers) ||
	    json_array_size(timers) != MC_TIMERS_MAX) {
		ckget_fail(&g, "socks",
			   "sockets, pairs or timers not an array of the engine's size");
		return NULL;
	}
	if (!(c = calloc(1, sizeof(*c) + (u ? u->size : 0)))) {
		ckget_fail(&g, "id", "out of memory");
		return NULL;
	}
	if (u && u->hooks)
		c->h = *u->hooks;
	ckget_obj(&g, "id", c);
	ckget_ref(&g, "t", &c->t);
	c->nsocks = json_array_size(socks);
	c->npairs = json_array_size(pairs);
	for (i = 0; i < c->nsocks; i++) {
		struct ckget sg = {r, "mc.socks[]", json_array_get(socks, i), false};

		mc_sock_get(c, &c->socks[i], &sg);
		g.bad |= sg.bad;
	}
	for (i = 0; i < c->npairs; i++) {
		struct ckget pg = {r, "mc.pairs[]", json_array_get(pairs, i), false};

		mc_pair_get(c, &c->pairs[i], &pg);
		g.bad |= pg.bad;
	}
	ckget_timer(&g, "tick", &c->tick_id);
	c->tick_at = ckget_time(&g, "tick_at");
	ckget_timer(&g, "deadline", &c->deadline_id);
	for (i = 0; i < MC_TIMERS_MAX; i++) {
		struct ckget tg = {r, "mc.timers[]", json_array_get(timers, i), false};
		struct mc_timer *tm = &c->timers[i];

		ckget_obj(&tg, "id", tm);
		tm->c = ckget_bool(&tg, "taken") ? c : NULL;
		ckget_timer(&tg, "timer", &tm->id);
		tm->fn = (void (*)(struct trav_try *))ckget_fn(&tg, "fn");
		g.bad |= tg.bad;
	}
	c->txn = ckget_u64(&g, "txn");
	c->refused = ckget_u64(&g, "refused");
	c->heard = ckget_bool(&g, "heard");
	tck_reason_get(&g, "fail_reason", &c->fail_reason);
	if (!g.bad) {
		const json_t *user = ckget_get(&g, "user");

		if (user && (u && u->fill ? u->fill(c->user, user, r) < 0 : !json_is_null(user)))
			ckget_fail(&g, "user", "not the method's state");
	}
	if (!g.bad)
		return c;
	/* nothing filled yet: ckr_finish() fills nothing after an error */
	free(c);
	return NULL;
}
