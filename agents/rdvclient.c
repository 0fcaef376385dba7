/* natbed rendezvous client: STUN, REGISTER and its refresh, CONNECT,
 * INTRODUCE -> struct trav_try. No I/O of its own. */
#include "rdvclient.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckval.h"
#include "natbed/rng.h"
#include "natbed/strcopy.h"

enum rdvc_state { RDVC_IDLE, RDVC_STUN, RDVC_REGISTERING, RDVC_REGISTERED };

/* One CONNECT: its transaction, then the wait for its INTRODUCE. */
struct rdvc_conn {
	struct rdvc *c;
	bool active;
	bool answered; /* CONNECT success came: try_id is the rendezvous' */
	bool introduced;
	char peer[RDV_NAME_MAX + 1];
	char method[RDV_METHOD_MAX + 1];
	uint32_t budget_ms;
	uint64_t try_id;
	struct rdvtxn txn;
	uint64_t wait_timer;
};

/* The LOOKUP under way. */
struct rdvc_lookup {
	bool active;
	char peer[RDV_NAME_MAX + 1];
	struct rdvtxn txn;
};

/* An introduction answered: a retransmitted INTRODUCE gets the same. */
struct rdvc_recent {
	bool used;
	uint64_t try_id;
	uint8_t txid[STUN_TXID_LEN];
	char refused[RDV_REASON_MAX + 1]; /* empty: accepted */
	bool cancelled;			  /* the peer refused it: told once */
};

struct rdvc {
	const struct dgram *d;
	int sock;
	struct rdvc_config cfg;
	struct rdvc_ops ops;
	enum rdvc_state state;
	bool ever_registered, left;
	struct trav_cand self;
	struct rdvtxn stun_txn, reg_txn;
	uint64_t refresh_timer, retry_timer;
	/* A fresh anchor (rdvc_reanchor): its socket (-1: none) and Binding
	 * request, then the endpoint learned, registered but not yet answered
	 * (addr 0: none) */
	int anchor_sock;
	struct rdvtxn anchor_txn;
	struct dg_ep anchor_new;
	struct rdvc_conn conns[RDVC_CONNECTS_MAX];
	struct rdvc_lookup lookup;
	struct rdvc_recent recent[RDVC_RECENT_TRIES];
	int recent_next;
	uint64_t txid_key, txid_count;
	struct rdvc_counters cnt;
};

static const char *const drop_names[RDVC_DROP_COUNT] = {
    [RDVC_DROP_NOT_RENDEZVOUS] = "not_rendezvous",
    [RDVC_DROP_WRONG_TXN] = "wrong_transaction",
    [RDVC_DROP_UNSOLICITED] = "unsolicited",
    [RDVC_DROP_UNEXPECTED] = "unexpected",
};

const char *rdvc_drop_name(enum rdvc_drop d)
{
	if ((unsigned)d < RDV_PARSE_COUNT)
		return rdvmsg_parse_name((enum rdv_parse)d);
	return (unsigned)d < RDVC_DROP_COUNT ? drop_names[d] : "unknown";
}

static void drop(struct rdvc *c, enum rdvc_drop d)
{
	c->cnt.drops[d]++;
}

static void new_txid(struct rdvc *c, uint8_t txid[STUN_TXID_LEN])
{
	uint64_t a = rng_keyed_u64(c->d->seed, c->txid_key, c->txid_count++);
	uint64_t b = rng_keyed_u64(c->d->seed, c->txid_key, c->txid_count++);

	memcpy(txid, &a, 8);
	memcpy(txid + 8, &b, 4);
}

/* Builds m (a fresh transaction) and runs it as x toward the rendezvous. */
static int rdv_request(struct rdvc *c, struct rdvtxn *x, struct rdv_msg *m,
		       rdvtxn_timeout_fn timeout, void *arg)
{
	uint8_t buf[DG_MAX];
	int n;

	new_txid(c, m->txid);
	n = rdvmsg_build(m, buf, sizeof(buf));
	if (n < 0)
		return n;
	return rdvtxn_start(x, c->d, c->sock, &c->cfg.rdv, buf, (size_t)n, &c->cfg.txn, timeout,
			    arg);
}

static void send_once(struct rdvc *c, const struct rdv_msg *m)
{
	uint8_t buf[DG_MAX];
	int n = rdvmsg_build(m, buf, sizeof(buf));

	if (n > 0)
		dg_send(c->d, c->sock, &c->cfg.rdv, buf, (size_t)n);
}

/* --- registration ------------------------------------------------------ */

static void stun_begin(struct rdvc *c);

static void retry_fire(void *arg, natbed_time_t now)
{
	struct rdvc *c = arg;

	c->retry_timer = 0;
	stun_begin(c);
}

/* The first registration's failure ends it; a later one starts over. */
static void reg_lost(struct rdvc *c, const char *reason)
{
	rdvtxn_stop(&c->stun_txn);
	rdvtxn_stop(&c->reg_txn);
	if (c->refresh_timer)
		sched_cancel(c->d->s, c->refresh_timer);
	c->refresh_timer = 0;
	if (!c->ever_registered) {
		c->state = RDVC_IDLE;
		if (c->ops.failed)
			c->ops.failed(c->ops.arg, c, reason);
		return;
	}
	c->state = RDVC_STUN;
	c->cnt.reregistrations++;
	if (!c->retry_timer)
		c->retry_timer =
		    sched_after(c->d->s, RDVC_RETRY_MS * NATBED_NS_PER_MS, retry_fire, c);
}

static void reg_timeout(void *arg, struct rdvtxn *x)
{
	reg_lost(arg, "rendezvous timeout");
}

static void reg_send(struct rdvc *c)
{
	struct rdv_msg m = {.kind = RDV_REGISTER,
			    .attrs = RDV_A_NAME | RDV_A_HOST | RDV_A_NAT | RDV_A_LIFETIME};

	memcpy(m.name, c->cfg.name, sizeof(m.name));
	m.cand = c->self;
	if (c->anchor_new.addr)
		m.cand.srflx = c->anchor_new;
	if (m.cand.srflx.addr)
		m.attrs |= RDV_A_SRFLX;
	if (c->self.relay.addr)
		m.attrs |= RDV_A_RELAY;
	m.lifetime_s = c->cfg.lifetime_s;
	if (rdv_request(c, &c->reg_txn, &m, reg_timeout, c) < 0)
		reg_lost(c, "cannot build REGISTER");
}

static bool anchor_begin(struct rdvc *c);

static void refresh_fire(void *arg, natbed_time_t now)
{
	struct rdvc *c = arg;

	c->refresh_timer = 0;
	/* a fresh anchor, then the REGISTER that carries it */
	if (!anchor_begin(c))
		reg_send(c);
}

static void on_register_answer(struct rdvc *c, const struct rdv_msg *m, natbed_time_t now)
{
	natbed_time_t half;

	rdvtxn_stop(&c->reg_txn);
	if (m->kind == RDV_REGISTER_ERR) {
		char why[RDV_REASON_MAX + 32];

		snprintf(why, sizeof(why), "rendezvous refused: %d %s", m->error_code, m->reason);
		reg_lost(c, why);
		return;
	}
	if (c->state == RDVC_REGISTERED)
		c->cnt.refreshes++;
	else
		c->cnt.registrations++;
	if (c->anchor_new.addr) { /* the rendezvous gives peers this one now */
		c->self.srflx = c->anchor_new;
		c->anchor_new = (struct dg_ep){0};
		c->cnt.reanchors++;
	}
	c->state = RDVC_REGISTERED;
	/* refresh at half the lifetime granted: the registration and the
	 * NAT's mapping toward the rendezvous both stay */
	half = (natbed_time_t)(m->lifetime_s ? m->lifetime_s : 1) * NATBED_NS_PER_S / 2;
	if (c->refresh_timer)
		sched_cancel(c->d->s, c->refresh_timer);
	c->refresh_timer = sched_at(c->d->s, now + half, refresh_fire, c);
	if (!c->ever_registered) {
		c->ever_registered = true;
		if (c->ops.registered)
			c->ops.registered(c->ops.arg, c);
	}
}

static void stun_timeout(void *arg, struct rdvtxn *x)
{
	reg_lost(arg, "stun timeout");
}

static void stun_begin(struct rdvc *c)
{
	uint8_t txid[STUN_TXID_LEN], buf[64];
	struct stun_builder b;
	int n;

	c->state = RDVC_STUN;
	new_txid(c, txid);
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, txid,
			    false);
	stun_msg_build_fingerprint(&b);
	n = stun_msg_build_finish(&b);
	if (n < 0 || rdvtxn_start(&c->stun_txn, c->d, c->sock, &c->cfg.stun, buf, (size_t)n,
				  &c->cfg.txn, stun_timeout, c) < 0)
		reg_lost(c, "cannot build a Binding request");
}

/* RFC 8489 §14.2, §14.1: a Binding success's XOR-MAPPED-ADDRESS, or its
 * MAPPED-ADDRESS, IPv4, into *ep. 0, or -1 for an error answer or none. */
static int stun_mapped(const struct stun_msg *s, struct dg_ep *ep)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

	if (s->cls == STUN_CLASS_ERROR ||
	    (stun_msg_get_addr(s, STUN_ATTR_XOR_MAPPED_ADDRESS, &ss) < 0 &&
	     stun_msg_get_addr(s, STUN_ATTR_MAPPED_ADDRESS, &ss) < 0) ||
	    ss.ss_family != AF_INET)
		return -1;
	ep->addr = in->sin_addr.s_addr;
	ep->port = in->sin_port;
	return 0;
}

/* A STUN answer: ours when it answers our Binding request. */
static bool on_stun(struct rdvc *c, const struct dg_ep *from, const uint8_t *buf, size_t len)
{
	struct stun_msg s;

	/* nothing asked of that address: no parse (and no CRC) needed */
	if (!rdvtxn_awaits(&c->stun_txn, from))
		return false;
	if (stun_msg_parse(buf, len, 0, &s, NULL, 0) != STUN_PARSE_OK ||
	    s.method != STUN_METHOD_BINDING ||
	    (s.cls != STUN_CLASS_SUCCESS && s.cls != STUN_CLASS_ERROR) ||
	    !rdvtxn_match(&c->stun_txn, s.txid, from))
		return false;
	rdvtxn_stop(&c->stun_txn);
	c->cnt.stun_answers++;
	if (stun_mapped(&s, &c->self.srflx) < 0) {
		reg_lost(c, "stun answered no IPv4 mapped address");
		return true;
	}
	c->state = RDVC_REGISTERING;
	reg_send(c);
	return true;
}

/* --- a fresh anchor ------------------------------------------------------ */

/* Behind a NAT that maps per destination and allocates ports in
 * sequence, the server-reflexive port is where predict counts from. */
static bool anchor_wanted(const struct rdvc *c)
{
	const struct natinfo *ni = &c->self.nat;

	return (ni->map == NI_MAP_ADM || ni->map == NI_MAP_APDM) &&
	       ni->ports == NI_PORTS_SEQUENTIAL;
}

static void anchor_end(struct rdvc *c)
{
	rdvtxn_stop(&c->anchor_txn);
	if (c->anchor_sock >= 0)
		dg_close(c->d, c->anchor_sock);
	c->anchor_sock = -1;
}

/* No answer: the REGISTER goes out with the anchor it had. */
static void anchor_timeout(void *arg, struct rdvtxn *x)
{
	struct rdvc *c = arg;

	anchor_end(c);
	if (c->state == RDVC_REGISTERED && !c->left)
		reg_send(c);
}

static void anchor_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
			size_t len, natbed_time_t now)
{
	struct rdvc *c = arg;
	struct stun_msg s;
	struct dg_ep mapped;

	if (stun_msg_parse(buf, len, 0, &s, NULL, 0) != STUN_PARSE_OK ||
	    s.method != STUN_METHOD_BINDING || s.cls != STUN_CLASS_SUCCESS ||
	    !rdvtxn_match(&c->anchor_txn, s.txid, from))
		return;
	c->cnt.stun_answers++;
	if (stun_mapped(&s, &mapped) == 0)
		c->anchor_new = mapped;
	anchor_end(c);
	if (c->state == RDVC_REGISTERED && !c->left)
		reg_send(c);
}

/* A Binding request from a new socket, whose answer is registered. true
 * when one went out (or one is under way). */
static bool anchor_begin(struct rdvc *c)
{
	struct dg_ep any = {0, 0}, local;
	uint8_t txid[STUN_TXID_LEN], buf[64];
	struct stun_builder b;
	int n;

	if (c->anchor_sock >= 0)
		return true;
	if (!anchor_wanted(c) || c->state != RDVC_REGISTERED || c->left)
		return false;
	c->anchor_sock = dg_open(c->d, &any, &local, anchor_recv, c);
	if (c->anchor_sock < 0)
		return false;
	new_txid(c, txid);
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, txid,
			    false);
	stun_msg_build_fingerprint(&b);
	n = stun_msg_build_finish(&b);
	if (n < 0 || rdvtxn_start(&c->anchor_txn, c->d, c->anchor_sock, &c->cfg.stun, buf,
				  (size_t)n, &c->cfg.txn, anchor_timeout, c) < 0) {
		anchor_end(c);
		return false;
	}
	return true;
}

void rdvc_reanchor(struct rdvc *c)
{
	anchor_begin(c);
}

/* --- connect ----------------------------------------------------------- */

static void conn_end(struct rdvc_conn *k, const char *failure)
{
	struct rdvc *c = k->c;
	char peer[RDV_NAME_MAX + 1];

	rdvtxn_stop(&k->txn);
	if (k->wait_timer)
		sched_cancel(c->d->s, k->wait_timer);
	k->wait_timer = 0;
	k->active = false;
	memcpy(peer, k->peer, sizeof(peer));
	if (failure) {
		c->cnt.connects_failed++;
		if (c->ops.connect_failed)
			c->ops.connect_failed(c->ops.arg, c, peer, failure);
	}
}

static void conn_timeout(void *arg, struct rdvtxn *x)
{
	conn_end(arg, "rendezvous timeout");
}

static void conn_wait_fire(void *arg, natbed_time_t now)
{
	struct rdvc_conn *k = arg;

	k->wait_timer = 0;
	conn_end(k, "no introduction");
}

int rdvc_connect(struct rdvc *c, const char *peer, const char *method, natbed_time_t budget_ns)
{
	struct rdv_msg m = {.kind = RDV_CONNECT, .attrs = RDV_A_NAME | RDV_A_PEER | RDV_A_METHOD};
	struct rdvc_conn *k = NULL;
	int r;

	if (!c->ever_registered)
		return -ENOTCONN;
	if (!rdvmsg_name_ok(peer, RDV_NAME_MAX) || !rdvmsg_name_ok(method, RDV_METHOD_MAX) ||
	    budget_ns < 0 || budget_ns / NATBED_NS_PER_MS > UINT32_MAX)
		return -EINVAL;
	for (int i = 0; i < RDVC_CONNECTS_MAX && !k; i++)
		if (!c->conns[i].active)
			k = &c->conns[i];
	if (!k)
		return -EBUSY;
	memset(k, 0, sizeof(*k));
	k->c = c;
	str_copy(k->peer, sizeof(k->peer), peer);
	str_copy(k->method, sizeof(k->method), method);
	memcpy(m.name, c->cfg.name, sizeof(m.name));
	memcpy(m.peer, k->peer, sizeof(m.peer));
	memcpy(m.method, k->method, sizeof(m.method));
	if (budget_ns > 0) {
		m.attrs |= RDV_A_BUDGET;
		m.budget_ms = (uint32_t)(budget_ns / NATBED_NS_PER_MS);
	}
	r = rdv_request(c, &k->txn, &m, conn_timeout, k);
	if (r < 0)
		return r;
	k->active = true;
	return 0;
}

static struct rdvc_conn *conn_by_txn(struct rdvc *c, const struct rdv_msg *m,
				     const struct dg_ep *from)
{
	for (int i = 0; i < RDVC_CONNECTS_MAX; i++)
		if (rdvtxn_match(&c->conns[i].txn, m->txid, from))
			return &c->conns[i];
	return NULL;
}

static void on_connect_answer(struct rdvc *c, const struct dg_ep *from, const struct rdv_msg *m,
			      natbed_time_t now)
{
	struct rdvc_conn *k = conn_by_txn(c, m, from);
	char why[RDV_REASON_MAX + 32];

	if (!k) {
		drop(c, RDVC_DROP_WRONG_TXN);
		return;
	}
	rdvtxn_stop(&k->txn);
	if (m->kind == RDV_CONNECT_ERR) {
		snprintf(why, sizeof(why), "rendezvous refused: %s", m->reason);
		conn_end(k, why);
		return;
	}
	c->cnt.connects_ok++;
	k->answered = true;
	k->try_id = m->try_id;
	if (k->introduced) {
		conn_end(k, NULL);
		return;
	}
	k->wait_timer =
	    sched_at(c->d->s, now + RDVC_CONNECT_WAIT_MS * NATBED_NS_PER_MS, conn_wait_fire, k);
}

/* --- lookup ------------------------------------------------------------ */

static void lookup_end(struct rdvc *c, const struct trav_cand *cand, const char *failure)
{
	struct rdvc_lookup *k = &c->lookup;
	char peer[RDV_NAME_MAX + 1];

	rdvtxn_stop(&k->txn);
	k->active = false;
	memcpy(peer, k->peer, sizeof(peer));
	if (cand)
		c->cnt.lookups_ok++;
	else
		c->cnt.lookups_failed++;
	if (c->ops.looked_up)
		c->ops.looked_up(c->ops.arg, c, peer, cand, failure);
}

static void lookup_timeout(void *arg, struct rdvtxn *x)
{
	lookup_end(arg, NULL, "rendezvous timeout");
}

int rdvc_lookup(struct rdvc *c, const char *peer)
{
	struct rdv_msg m = {.kind = RDV_LOOKUP, .attrs = RDV_A_NAME | RDV_A_PEER};
	struct rdvc_lookup *k = &c->lookup;
	int r;

	if (!c->ever_registered)
		return -ENOTCONN;
	if (!rdvmsg_name_ok(peer, RDV_NAME_MAX))
		return -EINVAL;
	if (k->active)
		return -EBUSY;
	str_copy(k->peer, sizeof(k->peer), peer);
	memcpy(m.name, c->cfg.name, sizeof(m.name));
	memcpy(m.peer, k->peer, sizeof(m.peer));
	r = rdv_request(c, &k->txn, &m, lookup_timeout, c);
	if (r < 0)
		return r;
	k->active = true;
	return 0;
}

static void on_lookup_answer(struct rdvc *c, const struct dg_ep *from, const struct rdv_msg *m)
{
	char why[RDV_REASON_MAX + 32];
	struct trav_cand cand;

	if (!c->lookup.active || !rdvtxn_match(&c->lookup.txn, m->txid, from)) {
		drop(c, RDVC_DROP_WRONG_TXN);
		return;
	}
	if (m->kind == RDV_LOOKUP_ERR) {
		snprintf(why, sizeof(why), "rendezvous refused: %s", m->reason);
		lookup_end(c, NULL, why);
		return;
	}
	cand = m->cand; /* the codec leaves absent candidates at 0 */
	str_copy(cand.name, sizeof(cand.name), m->peer);
	lookup_end(c, &cand, NULL);
}

/* --- introductions ----------------------------------------------------- */

static void intro_answer(struct rdvc *c, const struct rdvc_recent *rec)
{
	struct rdv_msg a = {.kind = RDV_INTRODUCE_OK, .attrs = RDV_A_TRY, .try_id = rec->try_id};

	memcpy(a.txid, rec->txid, STUN_TXID_LEN);
	if (rec->refused[0]) {
		a.kind = RDV_INTRODUCE_ERR;
		a.attrs |= RDV_A_ERROR;
		a.error_code = 400;
		memcpy(a.reason, rec->refused, sizeof(a.reason));
	}
	send_once(c, &a);
}

static struct rdvc_recent *recent_find(struct rdvc *c, uint64_t try_id)
{
	for (int i = 0; i < RDVC_RECENT_TRIES; i++)
		if (c->recent[i].used && c->recent[i].try_id == try_id)
			return &c->recent[i];
	return NULL;
}

/* The CONNECT an initiator's introduction answers, or NULL. */
static struct rdvc_conn *conn_for_intro(struct rdvc *c, const struct rdv_msg *m)
{
	for (int i = 0; i < RDVC_CONNECTS_MAX; i++) {
		struct rdvc_conn *k = &c->conns[i];

		if (k->active && !k->introduced && strcmp(k->peer, m->peer) == 0 &&
		    strcmp(k->method, m->method) == 0 && (!k->answered || k->try_id == m->try_id))
			return k;
	}
	return NULL;
}

static void fill_try(struct rdvc *c, const struct rdv_msg *m, const struct method *meth,
		     natbed_time_t now, struct trav_try *t)
{
	memset(t, 0, sizeof(*t));
	t->dg = c->d;
	t->m = meth;
	t->role = m->role;
	t->id = m->try_id;
	t->sock = c->sock;
	t->self = c->self;
	t->peer = m->cand; /* the codec leaves absent candidates at 0 */
	/* the methods' checks carry and check both names (peermsg.h) */
	str_copy(t->peer.name, sizeof(t->peer.name), m->peer);
	t->stun = c->cfg.stun;
	t->start = now + (natbed_time_t)m->start_ms * NATBED_NS_PER_MS;
	t->deadline =
	    t->start + (m->attrs & RDV_A_BUDGET ? (natbed_time_t)m->budget_ms * NATBED_NS_PER_MS
						: meth->spec.budget_ns);
	t->path_sock = -1;
}

static void on_introduce(struct rdvc *c, const struct rdv_msg *m, natbed_time_t now)
{
	struct rdvc_recent *rec = recent_find(c, m->try_id);
	struct rdvc_conn *k = NULL;
	const struct method *meth;
	const char *refused = NULL;
	struct trav_try t;

	/* RFC 8489 §6.3.1: a retransmission gets the same answer */
	if (rec) {
		c->cnt.intro_duplicates++;
		if (memcmp(rec->txid, m->txid, STUN_TXID_LEN) == 0)
			intro_answer(c, rec);
		else
			drop(c, RDVC_DROP_WRONG_TXN);
		return;
	}
	if (m->role == TRAV_INITIATOR && !(k = conn_for_intro(c, m))) {
		drop(c, RDVC_DROP_UNSOLICITED);
		return;
	}
	c->cnt.introductions++;
	meth = (c->cfg.find_method ? c->cfg.find_method : method_find)(m->method);
	if (!meth) {
		refused = "unknown method";
	} else {
		fill_try(c, m, meth, now, &t);
		if (c->ops.introduced)
			refused = c->ops.introduced(c->ops.arg, c, &t, m->peer);
	}
	if (refused)
		c->cnt.intro_refused++;
	rec = &c->recent[c->recent_next];
	c->recent_next = (c->recent_next + 1) % RDVC_RECENT_TRIES;
	rec->used = true;
	rec->cancelled = false;
	rec->try_id = m->try_id;
	memcpy(rec->txid, m->txid, STUN_TXID_LEN);
	str_copy(rec->refused, sizeof(rec->refused), refused ? refused : "");
	intro_answer(c, rec);
	if (k) {
		k->introduced = true;
		k->try_id = m->try_id;
		if (k->answered)
			conn_end(k, NULL);
	}
}

/* The peer refused an introduction: acknowledge every copy, tell the
 * caller once, and only of one it accepted (a try may be under way). */
static void on_cancel(struct rdvc *c, const struct rdv_msg *m)
{
	struct rdv_msg a = {.kind = RDV_CANCEL_OK, .attrs = RDV_A_TRY, .try_id = m->try_id};
	struct rdvc_recent *rec = recent_find(c, m->try_id);

	memcpy(a.txid, m->txid, STUN_TXID_LEN);
	send_once(c, &a);
	if (!rec || rec->refused[0] || rec->cancelled)
		return;
	rec->cancelled = true;
	c->cnt.cancels++;
	if (c->ops.cancelled)
		c->ops.cancelled(c->ops.arg, c, m->try_id, m->reason);
}

/* --- input ------------------------------------------------------------- */

bool rdvc_input(struct rdvc *c, const struct dg_ep *from, const uint8_t *buf, size_t len,
		natbed_time_t now)
{
	enum rdv_parse p;
	struct rdv_msg m;

	/* Another method's (a probe, a check, STUN): what rdvmsg_parse would
	 * find RDV_PARSE_OTHER goes to on_stun, what it would find broken is
	 * not taken, and on_stun does not take it either (its parse fails). */
	p = rdvmsg_may_be_ours(buf, len) ? rdvmsg_parse(buf, len, &m) : RDV_PARSE_OTHER;
	if (p == RDV_PARSE_OTHER) {
		if (!on_stun(c, from, buf, len))
			return false;
		c->cnt.taken++;
		return true;
	}
	/* not even STUN: someone else's (the agent counts what nobody takes) */
	if (p != RDV_PARSE_OK && p < RDV_PARSE_OTHER)
		return false;
	c->cnt.taken++;
	if (!dg_ep_eq(from, &c->cfg.rdv)) {
		drop(c, RDVC_DROP_NOT_RENDEZVOUS);
		return true;
	}
	if (p != RDV_PARSE_OK) {
		drop(c, (enum rdvc_drop)p);
		return true;
	}
	switch (m.kind) {
	case RDV_REGISTER_OK:
	case RDV_REGISTER_ERR:
		if (rdvtxn_match(&c->reg_txn, m.txid, from))
			on_register_answer(c, &m, now);
		else
			drop(c, RDVC_DROP_WRONG_TXN);
		break;
	case RDV_CONNECT_OK:
	case RDV_CONNECT_ERR:
		on_connect_answer(c, from, &m, now);
		break;
	case RDV_INTRODUCE:
		on_introduce(c, &m, now);
		break;
	case RDV_LOOKUP_OK:
	case RDV_LOOKUP_ERR:
		on_lookup_answer(c, from, &m);
		break;
	case RDV_CANCEL:
		on_cancel(c, &m);
		break;
	default:
		drop(c, RDVC_DROP_UNEXPECTED);
		break;
	}
	return true;
}

/* --- life -------------------------------------------------------------- */

struct rdvc *rdvc_new(const struct dgram *d, int sock, const struct dg_ep *local,
		      const struct rdvc_config *cfg, const struct rdvc_ops *ops)
{
	struct rdvc *c;

	if (!rdvmsg_name_ok(cfg->name, RDV_NAME_MAX) || !(c = calloc(1, sizeof(*c))))
		return NULL;
	c->d = d;
	c->sock = sock;
	c->cfg = *cfg;
	if (!c->cfg.lifetime_s)
		c->cfg.lifetime_s = RDVC_LIFETIME_S;
	c->ops = *ops;
	c->self.host = *local;
	c->self.nat = cfg->nat;
	str_copy(c->self.name, sizeof(c->self.name), cfg->name);
	c->txid_key = rng_key("rdvc-txid", sock);
	c->anchor_sock = -1;
	return c;
}

void rdvc_free(struct rdvc *c)
{
	if (!c)
		return;
	rdvtxn_stop(&c->stun_txn);
	rdvtxn_stop(&c->reg_txn);
	rdvtxn_stop(&c->lookup.txn);
	anchor_end(c);
	for (int i = 0; i < RDVC_CONNECTS_MAX; i++) {
		rdvtxn_stop(&c->conns[i].txn);
		if (c->conns[i].wait_timer)
			sched_cancel(c->d->s, c->conns[i].wait_timer);
	}
	if (c->refresh_timer)
		sched_cancel(c->d->s, c->refresh_timer);
	if (c->retry_timer)
		sched_cancel(c->d->s, c->retry_timer);
	free(c);
}

int rdvc_start(struct rdvc *c)
{
	if (c->state != RDVC_IDLE)
		return -EALREADY;
	stun_begin(c);
	return 0;
}

void rdvc_leave(struct rdvc *c)
{
	struct rdv_msg m = {.kind = RDV_REGISTER,
			    .attrs = RDV_A_NAME | RDV_A_HOST | RDV_A_LIFETIME,
			    .lifetime_s = 0};

	if (!c->ever_registered || c->left)
		return;
	c->left = true;
	rdvtxn_stop(&c->reg_txn);
	if (c->refresh_timer)
		sched_cancel(c->d->s, c->refresh_timer);
	c->refresh_timer = 0;
	memcpy(m.name, c->cfg.name, sizeof(m.name));
	m.cand.host = c->self.host;
	new_txid(c, m.txid);
	send_once(c, &m);
}

void rdvc_set_nat(struct rdvc *c, const struct natinfo *nat)
{
	c->cfg.nat = *nat;
	c->self.nat = *nat;
}

void rdvc_set_cand(struct rdvc *c, const struct dg_ep *relay, const struct natinfo *nat)
{
	c->self.relay = *relay;
	c->cfg.nat = *nat;
	c->self.nat = *nat;
	if (c->state == RDVC_REGISTERED && !c->left)
		reg_send(c);
}

const struct trav_cand *rdvc_self(const struct rdvc *c)
{
	return &c->self;
}

bool rdvc_registered(const struct rdvc *c)
{
	return c->state == RDVC_REGISTERED;
}

void rdvc_counters(const struct rdvc *c, struct rdvc_counters *out)
{
	*out = c->cnt;
}

/* --- checkpoints ------------------------------------------------------- */

/* An inactive CONNECT holds nothing that is used again (rdvc_connect
 * clears it): null. */
static json_t *conn_save(const struct rdvc_conn *k, struct ckw *w)
{
	if (!k->active)
		return json_null();
	return json_pack("{s:o,s:b,s:b,s:s,s:s,s:I,s:o,s:o,s:o}", "id", ckw_obj(w, k), "answered",
			 k->answered, "introduced", k->introduced, "peer", k->peer, "method",
			 k->method, "budget_ms", (json_int_t)k->budget_ms, "try_id",
			 jsonck_u64(k->try_id, true), "txn", rdvtxn_ckpt_save(&k->txn, w),
			 "wait_timer", ckw_timer(w, k->wait_timer));
}

/* A slot never used is zeros (used stays once set): null. */
static json_t *recent_save(const struct rdvc_recent *rec, struct ckw *w)
{
	if (!rec->used)
		return json_null();
	return json_pack("{s:o,s:o,s:s,s:b}", "try_id", jsonck_u64(rec->try_id, true), "txid",
			 ckw_bytes(w, rec->txid, STUN_TXID_LEN), "refused", rec->refused,
			 "cancelled", rec->cancelled);
}

json_t *rdvc_ckpt_save(const struct rdvc *c, struct ckw *w)
{
	json_t *conns = json_array(), *recent = json_array(), *cfg, *ops;

	for (int i = 0; i < RDVC_CONNECTS_MAX; i++)
		json_array_append_new(conns, conn_save(&c->conns[i], w));
	for (int i = 0; i < RDVC_RECENT_TRIES; i++)
		json_array_append_new(recent, recent_save(&c->recent[i], w));
	cfg = json_pack("{s:s,s:o,s:o,s:I,s:o,s:o,s:o}", "name", c->cfg.name, "rdv",
			dg_ep_ckpt_save(&c->cfg.rdv, w), "stun", dg_ep_ckpt_save(&c->cfg.stun, w),
			"lifetime_s", (json_int_t)c->cfg.lifetime_s, "nat", ckval_nat(&c->cfg.nat),
			"txn", rdvtxn_cfg_ckpt_save(&c->cfg.txn), "find_method",
			ckw_fn(w, (ckfn_ptr)c->cfg.find_method));
	ops = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "registered",
			ckw_fn(w, (ckfn_ptr)c->ops.registered), "failed",
			ckw_fn(w, (ckfn_ptr)c->ops.failed), "introduced",
			ckw_fn(w, (ckfn_ptr)c->ops.introduced), "cancelled",
			ckw_fn(w, (ckfn_ptr)c->ops.cancelled), "connect_failed",
			ckw_fn(w, (ckfn_ptr)c->ops.connect_failed), "looked_up",
			ckw_fn(w, (ckfn_ptr)c->ops.looked_up), "arg", ckw_ref(w, c->ops.arg));
	return json_pack(
	    "{s:o,s:o,s:i,s:o,s:o,s:i,s:b,s:b,s:o,s:o,s:o,s:o,s:o,s:i,s:o,s:o,s:o,s:{s:b,s:s,s:o},"
	    "s:o,s:i,s:o,s:o,s:o}",
	    "id", ckw_obj(w, c), "d", ckw_ref(w, c->d), "sock", c->sock, "cfg", cfg, "ops", ops,
	    "state", (int)c->state, "ever_registered", c->ever_registered, "left", c->left, "self",
	    ckval_cand(&c->self, w), "stun_txn", rdvtxn_ckpt_save(&c->stun_txn, w), "reg_txn",
	    rdvtxn_ckpt_save(&c->reg_txn, w), "refresh_timer", ckw_timer(w, c->refresh_timer),
	    "retry_timer", ckw_timer(w, c->retry_timer), "anchor_sock", c->anchor_sock,
	    "anchor_txn", rdvtxn_ckpt_save(&c->anchor_txn, w), "anchor_new",
	    dg_ep_ckpt_save(&c->anchor_new, w), "conns", conns, "lookup", "active",
	    c->lookup.active, "peer", c->lookup.peer, "txn", rdvtxn_ckpt_save(&c->lookup.txn, w),
	    "recent", recent, "recent_next", c->recent_next, "txid_key",
	    jsonck_u64(c->txid_key, true), "txid_count", jsonck_u64(c->txid_count, true), "cnt",
	    ckw_bytes(w, &c->cnt, sizeof(c->cnt)));
}

static void conn_load(struct ckget *g, struct rdvc *c, struct rdvc_conn *k, const json_t *j)
{
	struct ckget kg = {g->r, "rdvc.conns", j, false};

	memset(k, 0, sizeof(*k));
	if (json_is_null(j))
		return;
	k->c = c;
	k->active = true;
	ckget_obj(&kg, "id", k);
	k->answered = ckget_bool(&kg, "answered");
	k->introduced = ckget_bool(&kg, "introduced");
	ckget_str(&kg, "peer", k->peer, sizeof(k->peer));
	ckget_str(&kg, "method", k->method, sizeof(k->method));
	k->budget_ms = (uint32_t)ckget_int(&kg, "budget_ms", 0, UINT32_MAX);
	k->try_id = ckget_u64(&kg, "try_id");
	if (rdvtxn_ckpt_fill(&k->txn, ckget_get(&kg, "txn"), g->r) < 0)
		kg.bad = true;
	ckget_timer(&kg, "wait_timer", &k->wait_timer);
	g->bad |= kg.bad;
}

static void recent_load(struct ckget *g, struct rdvc_recent *rec, const json_t *j)
{
	struct ckget rg = {g->r, "rdvc.recent", j, false};

	memset(rec, 0, sizeof(*rec));
	if (json_is_null(j))
		return;
	rec->used = true;
	rec->try_id = ckget_u64(&rg, "try_id");
	ckget_bytes(&rg, "txid", rec->txid, STUN_TXID_LEN);
	ckget_str(&rg, "refused", rec->refused, sizeof(rec->refused));
	rec->cancelled = ckget_bool(&rg, "cancelled");
	g->bad |= rg.bad;
}

static void cfg_load(struct ckget *g, struct rdvc_config *cfg)
{
	struct ckget cg = {g->r, "rdvc.cfg", ckget_get(g, "cfg"), false};

	ckget_str(&cg, "name", cfg->name, sizeof(cfg->name));
	ckget_ep(&cg, "rdv", &cfg->rdv);
	ckget_ep(&cg, "stun", &cfg->stun);
	cfg->lifetime_s = (uint32_t)ckget_int(&cg, "lifetime_s", 0, UINT32_MAX);
	ckval_get_nat(&cg, "nat", &cfg->nat);
	rdvtxn_cfg_ckpt_get(&cg, "txn", &cfg->txn);
	cfg->find_method = (const struct method *(*)(const char *))ckget_fn(&cg, "find_method");
	g->bad |= cg.bad;
}

static void ops_load(struct ckget *g, struct rdvc_ops *ops)
{
	struct ckget og = {g->r, "rdvc.ops", ckget_get(g, "ops"), false};

	ops->registered = (void (*)(void *, struct rdvc *))ckget_fn(&og, "registered");
	ops->failed = (void (*)(void *, struct rdvc *, const char *))ckget_fn(&og, "failed");
	ops->introduced = (const char *(*)(void *, struct rdvc *, const struct trav_try *,
					   const char *))ckget_fn(&og, "introduced");
	ops->cancelled =
	    (void (*)(void *, struct rdvc *, uint64_t, const char *))ckget_fn(&og, "cancelled");
	ops->connect_failed = (void (*)(void *, struct rdvc *, const char *, const char *))ckget_fn(
	    &og, "connect_failed");
	ops->looked_up = (void (*)(void *, struct rdvc *, const char *, const struct trav_cand *,
				   const char *))ckget_fn(&og, "looked_up");
	ckget_ref(&og, "arg", &ops->arg);
	g->bad |= og.bad;
}

static void txn_fill(struct ckget *g, struct rdvtxn *x, const char *key)
{
	if (rdvtxn_ckpt_fill(x, ckget_get(g, key), g->r) < 0)
		g->bad = true;
}

struct rdvc *rdvc_ckpt_load(const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "rdvc", j, false};
	const json_t *conns = json_object_get(j, "conns"), *recent = json_object_get(j, "recent");
	struct ckget lg = {r, "rdvc.lookup", json_object_get(j, "lookup"), false};
	struct rdvc *c;

	if (!json_is_array(conns) || json_array_size(conns) != RDVC_CONNECTS_MAX ||
	    !json_is_array(recent) || json_array_size(recent) != RDVC_RECENT_TRIES) {
		ckr_fail(r, "rdvc: conns, recent: not arrays of %d and %d", RDVC_CONNECTS_MAX,
			 RDVC_RECENT_TRIES);
		return NULL;
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		ckr_fail(r, "rdvc: out of memory");
		return NULL;
	}
	ckget_obj(&g, "id", c);
	ckget_ref(&g, "d", &c->d);
	c->sock = (int)ckget_int(&g, "sock", -1, INT32_MAX);
	cfg_load(&g, &c->cfg);
	ops_load(&g, &c->ops);
	c->state = (enum rdvc_state)ckget_int(&g, "state", RDVC_IDLE, RDVC_REGISTERED);
	c->ever_registered = ckget_bool(&g, "ever_registered");
	c->left = ckget_bool(&g, "left");
	ckval_get_cand(&g, "self", &c->self);
	txn_fill(&g, &c->stun_txn, "stun_txn");
	txn_fill(&g, &c->reg_txn, "reg_txn");
	ckget_timer(&g, "refresh_timer", &c->refresh_timer);
	ckget_timer(&g, "retry_timer", &c->retry_timer);
	c->anchor_sock = (int)ckget_int(&g, "anchor_sock", -1, INT32_MAX);
	txn_fill(&g, &c->anchor_txn, "anchor_txn");
	ckget_ep(&g, "anchor_new", &c->anchor_new);
	for (int i = 0; i < RDVC_CONNECTS_MAX; i++)
		conn_load(&g, c, &c->conns[i], json_array_get(conns, i));
	c->lookup.active = ckget_bool(&lg, "active");
	ckget_str(&lg, "peer", c->lookup.peer, sizeof(c->lookup.peer));
	txn_fill(&lg, &c->lookup.txn, "txn");
	for (int i = 0; i < RDVC_RECENT_TRIES; i++)
		recent_load(&g, &c->recent[i], json_array_get(recent, i));
	c->recent_next = (int)ckget_int(&g, "recent_next", 0, RDVC_RECENT_TRIES - 1);
	c->txid_key = ckget_u64(&g, "txid_key");
	c->txid_count = ckget_u64(&g, "txid_count");
	ckget_bytes(&g, "cnt", &c->cnt, sizeof(c->cnt));
	if (g.bad || lg.bad) {
		free(c); /* nothing of it is used: the reader failed */
		return NULL;
	}
	return c;
}

static const struct ckfn rdvc_fns[] = {
    CKFN(retry_fire),	  CKFN(refresh_fire), CKFN(reg_timeout),  CKFN(stun_timeout),
    CKFN(anchor_timeout), CKFN(anchor_recv),  CKFN(conn_timeout), CKFN(conn_wait_fire),
    CKFN(lookup_timeout), CKFN(method_find),
};
const struct ckfns rdvc_ckfns = CKFNS(rdvc, rdvc_fns);
