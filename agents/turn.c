#include "turn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckget.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "natbed/rng.h"
#include "natbed/stun.h"

#define TURN_TX_MAX	    16	   /* requests in flight at once */
#define TURN_MSG_MAX	    1280   /* a request we build */
#define TURN_CHANNEL_FIRST  0x4000 /* RFC 8656 §12: 0x4000-0x4FFF */
#define TURN_PERM_REFRESH_S 240	   /* permissions live 300 s (§9) */
#define TURN_CHAN_REFRESH_S 540	   /* channels live 600 s (§12) */
#define TURN_ALLOC_MARGIN_S 60	   /* refresh this long before the allocation ends */
#define TURN_UDP	    17	   /* REQUESTED-TRANSPORT: UDP (§18.13) */
#define TURN_CHANNEL_HDR    4	   /* §12.4: channel number, length */
/* §12: a channel lives 600 s after its last bind, and its number (or its
 * peer's endpoint) may not be bound anew until 5 minutes after that */
#define TURN_CHANNEL_QUARANTINE_S (600 + 300)

enum turn_state { TURN_ALLOCATING, TURN_READY, TURN_FAILED };

/* A permission (and a channel) toward a peer. Slot i of the table is
 * channel number TURN_CHANNEL_FIRST + i whenever it holds a channel, so a
 * number goes to another peer only with its slot, after the quarantine. */
struct turn_peer {
	struct turn *t;
	struct dg_ep ep;
	uint16_t channel; /* 0: a permission for ep.addr alone (turn_permit_addr) */
	int perm_ok, bound, asked;
	int released;	       /* turn_release_addr: no longer refreshed */
	natbed_time_t free_at; /* released: the slot may serve another peer from then */
	size_t idx;	       /* its slot in the table (slots never move) */
	uint64_t refresh_ev;
};

struct turn_tx {
	struct turn *t;
	int used;
	uint16_t method;
	int peer;	   /* index in peers, or -1 */
	uint32_t lifetime; /* a Refresh's */
	uint8_t txid[STUN_TXID_LEN];
	uint8_t buf[TURN_MSG_MAX];
	size_t len;
	unsigned sent;
	natbed_time_t rto;
	uint64_t ev;
};

struct turn {
	const struct dgram *dg;
	struct turn_cfg cfg;
	const struct turn_ops *ops;
	void *arg;
	int sock;
	enum turn_state state;
	struct dg_ep relayed, mapped;
	char realm[STUN_MAX_REASON], nonce[STUN_MAX_REASON];
	uint8_t key[STUN_MD5_LEN];
	int authed; /* realm and nonce known: requests carry credentials */
	uint64_t refresh_ev;
	struct turn_peer **peers; /* slots, each allocated once: timers point at them */
	size_t n_peers, cap_peers;
	struct turn_tx tx[TURN_TX_MAX];
	struct rng rng;
	struct turn_stats st;
};

static void turn_fail(struct turn *t, const char *reason)
{
	size_t i;

	if (t->state == TURN_FAILED)
		return;
	t->state = TURN_FAILED;
	for (i = 0; i < TURN_TX_MAX; i++)
		if (t->tx[i].used) {
			sched_cancel(t->dg->s, t->tx[i].ev);
			t->tx[i].used = 0;
		}
	if (t->ops->failed)
		t->ops->failed(t->arg, reason);
}

/* --- requests ------------------------------------------------------------------ */

static void turn_rto_cb(void *arg, natbed_time_t now);

static void turn_tx_send(struct turn_tx *x)
{
	struct turn *t = x->t;

	dg_send(t->dg, t->sock, &t->cfg.server, x->buf, x->len);
	x->sent++;
	x->ev = sched_after(t->dg->s, x->rto, turn_rto_cb, x);
}

/* Builds request x (its method and peer) with the credentials known now. */
static int turn_tx_build(struct turn *t, struct turn_tx *x)
{
	struct stun_builder b;
	struct sockaddr_in sa;
	uint32_t v;
	int n;

	for (n = 0; n < STUN_TXID_LEN; n++)
		x->txid[n] = (uint8_t)rng_next(&t->rng);
	stun_msg_build_init(&b, x->buf, sizeof(x->buf), x->method, STUN_CLASS_REQUEST, x->txid,
			    false);
	if (x->method == STUN_METHOD_ALLOCATE) {
		v = htonl(TURN_UDP << 24);
		stun_msg_build_raw(&b, STUN_ATTR_REQUESTED_TRANSPORT, &v, 4);
	}
	if ((x->method == STUN_METHOD_ALLOCATE && t->cfg.lifetime_s) ||
	    x->method == STUN_METHOD_REFRESH) {
		v = htonl(x->method == STUN_METHOD_REFRESH ? x->lifetime : t->cfg.lifetime_s);
		stun_msg_build_raw(&b, STUN_ATTR_LIFETIME, &v, 4);
	}
	if (x->method == STUN_METHOD_CHANNEL_BIND) {
		v = htonl((uint32_t)t->peers[x->peer]->channel << 16);
		stun_msg_build_raw(&b, STUN_ATTR_CHANNEL_NUMBER, &v, 4);
	}
	if (x->peer >= 0) {
		dg_ep_sockaddr(&t->peers[x->peer]->ep, &sa);
		stun_msg_build_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, (struct sockaddr *)&sa);
	}
	if (t->authed) { /* RFC 8489 §9.2.4: long-term credentials */
		stun_msg_build_string(&b, STUN_ATTR_USERNAME, t->cfg.user);
		stun_msg_build_string(&b, STUN_ATTR_REALM, t->realm);
		stun_msg_build_string(&b, STUN_ATTR_NONCE, t->nonce);
		stun_msg_build_integrity(&b, false, t->key, sizeof(t->key));
	}
	stun_msg_build_fingerprint(&b);
	n = stun_msg_build_finish(&b);
	if (n < 0)
		return n;
	x->len = (size_t)n;
	return 0;
}

/* Starts a request of method (about peer, or -1). 0 or -errno. */
static int turn_request(struct turn *t, uint16_t method, int peer, uint32_t lifetime)
{
	struct turn_tx *x = NULL;
	size_t i;

	for (i = 0; i < TURN_TX_MAX && !x; i++)
		if (!t->tx[i].used)
			x = &t->tx[i];
	if (!x)
		return -EBUSY;
	memset(x, 0, sizeof(*x));
	x->t = t;
	x->used = 1;
	x->method = method;
	x->peer = peer;
	x->lifetime = lifetime;
	x->rto = t->cfg.rto_ns;
	if (turn_tx_build(t, x) < 0) {
		x->used = 0;
		return -EINVAL;
	}
	t->st.requests++;
	turn_tx_send(x);
	return 0;
}

static const char *turn_method_name(uint16_t m)
{
	switch (m) {
	case STUN_METHOD_ALLOCATE:
		return "Allocate";
	case STUN_METHOD_REFRESH:
		return "Refresh";
	case STUN_METHOD_CREATE_PERMISSION:
		return "CreatePermission";
	default:
		return "ChannelBind";
	}
}

/* RFC 8489 §6.2.1: resend, doubling, until the tries are spent. */
static void turn_rto_cb(void *arg, natbed_time_t now)
{
	struct turn_tx *x = arg;
	struct turn *t = x->t;
	char why[96];

	x->ev = 0;
	if (x->sent < t->cfg.tries) {
		x->rto *= 2;
		t->st.retransmits++;
		turn_tx_send(x);
		return;
	}
	x->used = 0;
	snprintf(why, sizeof(why), "no answer from the TURN server to %s",
		 turn_method_name(x->method));
	turn_fail(t, why);
}

/* --- refreshes ------------------------------------------------------------------ */

static void turn_alloc_refresh_cb(void *arg, natbed_time_t now)
{
	struct turn *t = arg;

	t->refresh_ev = 0;
	t->st.refreshes++;
	turn_request(t, STUN_METHOD_REFRESH, -1, t->cfg.lifetime_s ? t->cfg.lifetime_s : 600);
}

static void turn_arm_alloc_refresh(struct turn *t, uint32_t lifetime)
{
	uint32_t in =
	    lifetime > 2 * TURN_ALLOC_MARGIN_S ? lifetime - TURN_ALLOC_MARGIN_S : lifetime / 2;

	sched_cancel(t->dg->s, t->refresh_ev);
	t->refresh_ev =
	    sched_after(t->dg->s, (natbed_time_t)in * NATBED_NS_PER_S, turn_alloc_refresh_cb, t);
}

/* Permissions live 5 minutes, channels 10: a ChannelBind refreshes both
 * (RFC 8656 §12), a CreatePermission in between keeps the permission. */
static void turn_peer_refresh_cb(void *arg, natbed_time_t now)
{
	struct turn_peer *p = arg;
	struct turn *t = p->t;
	int idx = (int)p->idx;

	p->refresh_ev = 0;
	t->st.refreshes++;
	/* every transaction busy: again in a second, well before the 60 s
	 * of margin run out */
	if ((p->channel && turn_request(t, STUN_METHOD_CHANNEL_BIND, idx, 0) < 0) ||
	    turn_request(t, STUN_METHOD_CREATE_PERMISSION, idx, 0) < 0)
		p->refresh_ev = sched_after(t->dg->s, NATBED_NS_PER_S, turn_peer_refresh_cb, p);
}

static void turn_arm_peer_refresh(struct turn *t, struct turn_peer *p)
{
	sched_cancel(t->dg->s, p->refresh_ev);
	p->refresh_ev = sched_after(t->dg->s, (natbed_time_t)TURN_PERM_REFRESH_S * NATBED_NS_PER_S,
				    turn_peer_refresh_cb, p);
}

/* Asks for peer idx's permission; when TURN_TX_MAX requests are under way
 * it stays unasked, for turn_ask_waiting once one ends. */
static void turn_ask_peer(struct turn *t, int idx)
{
	if (turn_request(t, STUN_METHOD_CREATE_PERMISSION, idx, 0) == 0)
		t->peers[idx]->asked = 1;
}

/* The peers waiting for a transaction, asked while there are some free. */
static void turn_ask_waiting(struct turn *t)
{
	size_t i;

	for (i = 0; i < t->n_peers && t->state == TURN_READY; i++) {
		struct turn_peer *p = t->peers[i];

		if (p->asked || p->released)
			continue;
		turn_ask_peer(t, (int)i);
		if (!p->asked)
			return;
	}
}

/* --- answers ----------------------------------------------------------------------- */

static struct turn_tx *turn_tx_find(struct turn *t, const struct stun_msg *m)
{
	size_t i;

	for (i = 0; i < TURN_TX_MAX; i++)
		if (t->tx[i].used && memcmp(t->tx[i].txid, m->txid, STUN_TXID_LEN) == 0 &&
		    t->tx[i].method == m->method)
			return &t->tx[i];
	return NULL;
}

/* RFC 8489 §9.2.5: a 401 names the realm and the nonce; a 438 a new nonce. */
static int turn_take_nonce(struct turn *t, const struct stun_msg *m)
{
	const struct stun_attr *realm = stun_msg_find(m, STUN_ATTR_REALM);
	const struct stun_attr *nonce = stun_msg_find(m, STUN_ATTR_NONCE);

	if (!nonce || nonce->len >= sizeof(t->nonce))
		return -1;
	memcpy(t->nonce, stun_attr_value(m, nonce), nonce->len);
	t->nonce[nonce->len] = '\0';
	if (realm && realm->len < sizeof(t->realm)) {
		memcpy(t->realm, stun_attr_value(m, realm), realm->len);
		t->realm[realm->len] = '\0';
	}
	if (!t->realm[0] || stun_long_term_key(t->cfg.user, t->realm, t->cfg.pass, t->key) < 0)
		return -1;
	t->authed = 1;
	return 0;
}

static void turn_error(struct turn *t, struct turn_tx *x, const struct stun_msg *m)
{
	char reason[128], why[200];
	int code = stun_msg_get_error(m, reason, sizeof(reason));

	t->st.errors++;
	/* the first request learns the realm and nonce; a stale nonce is
	 * replaced (§9.2.5): the same request again, as a new transaction */
	if ((code == 401 && !t->authed) || code == 438) {
		if (code == 438)
			t->st.stale_nonces++;
		if (turn_take_nonce(t, m) == 0) {
			x->used = 0;
			turn_request(t, x->method, x->peer, x->lifetime);
			return;
		}
	}
	x->used = 0;
	if (code == 401)
		snprintf(why, sizeof(why),
			 "401 Unauthorized: the TURN server refused the username or password (%s)",
			 reason);
	else if (code == 437)
		snprintf(why, sizeof(why), "437 Allocation Mismatch: the allocation expired (%s)",
			 reason);
	else
		snprintf(why, sizeof(why), "%d %s (%s)", code, reason, turn_method_name(x->method));
	turn_fail(t, why);
}

static void turn_success(struct turn *t, struct turn_tx *x, const struct stun_msg *m)
{
	const struct stun_attr *lt = stun_msg_find(m, STUN_ATTR_LIFETIME);
	uint32_t life = 600;

	if (lt && lt->len == 4) {
		memcpy(&life, stun_attr_value(m, lt), 4);
		life = ntohl(life);
	}
	x->used = 0;
	switch (x->method) {
	case STUN_METHOD_ALLOCATE:
		if (dg_ep_of_stun(m, STUN_ATTR_XOR_RELAYED_ADDRESS, &t->relayed) < 0) {
			turn_fail(t, "the TURN server's Allocate answer has no relayed address");
			return;
		}
		dg_ep_of_stun(m, STUN_ATTR_XOR_MAPPED_ADDRESS, &t->mapped);
		t->state = TURN_READY;
		turn_arm_alloc_refresh(t, life);
		if (t->ops->ready)
			t->ops->ready(t->arg, &t->relayed, &t->mapped);
		turn_ask_waiting(t);
		return;
	case STUN_METHOD_REFRESH:
		if (x->lifetime)
			turn_arm_alloc_refresh(t, life);
		return;
	case STUN_METHOD_CREATE_PERMISSION:
		if (t->peers[x->peer]->released)
			return;
		if (!t->peers[x->peer]->channel) { /* a permission alone */
			if (!t->peers[x->peer]->perm_ok)
				turn_arm_peer_refresh(t, t->peers[x->peer]);
			t->peers[x->peer]->perm_ok = 1;
			return;
		}
		if (!t->peers[x->peer]->perm_ok) {
			t->peers[x->peer]->perm_ok = 1;
			turn_request(t, STUN_METHOD_CHANNEL_BIND, x->peer, 0);
		}
		return;
	default: /* ChannelBind */
		if (t->peers[x->peer]->released)
			return;
		turn_arm_peer_refresh(t, t->peers[x->peer]);
		if (!t->peers[x->peer]->bound) {
			t->peers[x->peer]->bound = 1;
			if (t->ops->bound)
				t->ops->bound(t->arg, &t->peers[x->peer]->ep);
		}
	}
}

static struct turn_peer *turn_peer_by_channel(struct turn *t, uint16_t ch)
{
	size_t i = (size_t)(ch - TURN_CHANNEL_FIRST);
	struct turn_peer *p;

	if (ch < TURN_CHANNEL_FIRST || i >= t->n_peers)
		return NULL;
	p = t->peers[i];
	return p->channel == ch && p->bound ? p : NULL;
}

/* §12.4: ChannelData, 0x4000-0x4FFF in the first two bytes */
static int turn_channel_data(struct turn *t, const uint8_t *buf, size_t len, natbed_time_t now)
{
	uint16_t ch, dlen;
	struct turn_peer *p;

	if (len < TURN_CHANNEL_HDR || (buf[0] & 0xc0) != 0x40)
		return -1;
	ch = (uint16_t)(buf[0] << 8 | buf[1]);
	dlen = (uint16_t)(buf[2] << 8 | buf[3]);
	p = turn_peer_by_channel(t, ch);
	if (!p || dlen > len - TURN_CHANNEL_HDR)
		return -1;
	t->st.channel_data_in++;
	if (t->ops->data)
		t->ops->data(t->arg, &p->ep, buf + TURN_CHANNEL_HDR, dlen, now);
	return 0;
}

static void turn_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		      natbed_time_t now)
{
	struct turn *t = arg;
	const struct stun_attr *d;
	struct turn_tx *x;
	struct stun_msg m;
	struct dg_ep peer;

	if (t->state == TURN_FAILED || !dg_ep_eq(from, &t->cfg.server))
		goto ignore;
	if (turn_channel_data(t, buf, len, now) == 0)
		return;
	if (stun_msg_parse(buf, len, 0, &m, NULL, 0) != STUN_PARSE_OK)
		goto ignore;
	if (m.cls == STUN_CLASS_INDICATION && m.method == STUN_METHOD_DATA) {
		d = stun_msg_find(&m, STUN_ATTR_DATA);
		if (!d || dg_ep_of_stun(&m, STUN_ATTR_XOR_PEER_ADDRESS, &peer) < 0)
			goto ignore;
		t->st.indications_in++;
		if (t->ops->data)
			t->ops->data(t->arg, &peer, stun_attr_value(&m, d), d->len, now);
		return;
	}
	if ((m.cls != STUN_CLASS_SUCCESS && m.cls != STUN_CLASS_ERROR) ||
	    !(x = turn_tx_find(t, &m)))
		goto ignore;
	/* an answer to an authenticated request carries its integrity */
	if (t->authed && m.integrity_off &&
	    stun_msg_check_integrity(&m, false, t->key, sizeof(t->key)) == -EBADMSG)
		goto ignore;
	sched_cancel(t->dg->s, x->ev);
	x->ev = 0;
	t->st.responses++;
	if (m.cls == STUN_CLASS_ERROR)
		turn_error(t, x, &m);
	else
		turn_success(t, x, &m);
	turn_ask_waiting(t);
	return;
ignore:
	t->st.ignored++;
}

/* --- the public side --------------------------------------------------------------- */

struct turn *turn_new(const struct dgram *dg, const struct turn_cfg *cfg,
		      const struct turn_ops *ops, void *arg)
{
	struct turn *t = calloc(1, sizeof(*t));
	struct dg_ep any = {0, 0}, local;

	if (!t)
		return NULL;
	t->dg = dg;
	t->cfg = *cfg;
	if (!t->cfg.rto_ns)
		t->cfg.rto_ns = 500 * NATBED_NS_PER_MS;
	if (!t->cfg.tries)
		t->cfg.tries = 7;
	t->ops = ops;
	t->arg = arg;
	rng_seed(&t->rng, dg->seed,
		 rng_key("turn", ((uint64_t)cfg->server.addr << 16) | cfg->server.port));
	t->sock = dg_open(dg, &any, &local, turn_recv, t);
	if (t->sock < 0 || turn_request(t, STUN_METHOD_ALLOCATE, -1, 0) < 0) {
		turn_free(t);
		return NULL;
	}
	return t;
}

/* A slot for a new peer: one released and past its quarantine, else a
 * new one. Its index, or -1 when TURN_PEERS_MAX are in use or on ENOMEM. */
static int turn_slot(struct turn *t)
{
	natbed_time_t now = sched_now(t->dg->s);
	struct turn_peer **grown;
	size_t i, cap;

	for (i = 0; i < t->n_peers; i++)
		if (t->peers[i]->released && now >= t->peers[i]->free_at)
			return (int)i;
	if (t->n_peers == TURN_PEERS_MAX)
		return -1;
	if (t->n_peers == t->cap_peers) {
		cap = t->cap_peers ? 2 * t->cap_peers : 8;
		grown = realloc(t->peers, cap * sizeof(*grown));
		if (!grown)
			return -1;
		t->peers = grown;
		t->cap_peers = cap;
	}
	t->peers[t->n_peers] = calloc(1, sizeof(struct turn_peer));
	return t->peers[t->n_peers] ? (int)t->n_peers++ : -1;
}

/* A peer entry for ep (a channel when with_channel), once; a released one
 * is taken back (asked again: its permission may have lapsed). */
static int turn_add_peer(struct turn *t, const struct dg_ep *ep, int with_channel)
{
	struct turn_peer *p;
	size_t i;
	int slot;

	if (!ep->addr)
		return -EINVAL;
	for (i = 0; i < t->n_peers; i++) {
		p = t->peers[i];
		if (!dg_ep_eq(&p->ep, ep) || !p->channel != !with_channel)
			continue;
		if (!p->released)
			return 0;
		p->released = 0;
		p->perm_ok = p->bound = p->asked = 0;
		if (t->state == TURN_READY)
			turn_ask_peer(t, (int)i);
		return 0;
	}
	slot = turn_slot(t);
	if (slot < 0)
		return -ENOSPC;
	i = (size_t)slot;
	p = t->peers[i];
	*p = (struct turn_peer){.t = t, .ep = *ep, .idx = i};
	if (with_channel)
		p->channel = (uint16_t)(TURN_CHANNEL_FIRST + i);
	if (t->state == TURN_READY)
		turn_ask_peer(t, (int)i);
	return 0;
}

int turn_permit(struct turn *t, const struct dg_ep *peer)
{
	return turn_add_peer(t, peer, 1);
}

int turn_permit_addr(struct turn *t, uint32_t addr)
{
	struct dg_ep ep = {addr, 0};

	return turn_add_peer(t, &ep, 0);
}

void turn_release_addr(struct turn *t, uint32_t addr)
{
	natbed_time_t now = sched_now(t->dg->s);
	size_t i;

	for (i = 0; i < t->n_peers; i++) {
		struct turn_peer *p = t->peers[i];

		if (p->ep.addr != addr || p->released)
			continue;
		sched_cancel(t->dg->s, p->refresh_ev);
		p->refresh_ev = 0;
		p->released = 1;
		p->free_at = p->channel
				 ? now + (natbed_time_t)TURN_CHANNEL_QUARANTINE_S * NATBED_NS_PER_S
				 : now;
	}
}

int turn_send(struct turn *t, const struct dg_ep *peer, const void *buf, size_t len)
{
	uint8_t out[DG_MAX + 64], txid[STUN_TXID_LEN];
	struct stun_builder b;
	struct sockaddr_in sa;
	size_t i;
	int n;

	if (t->state != TURN_READY || len > DG_MAX)
		return -EINVAL;
	for (i = 0; i < t->n_peers; i++) {
		if (!dg_ep_eq(&t->peers[i]->ep, peer) || !t->peers[i]->bound ||
		    !t->peers[i]->channel)
			continue;
		out[0] = (uint8_t)(t->peers[i]->channel >> 8);
		out[1] = (uint8_t)t->peers[i]->channel;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		memcpy(out + TURN_CHANNEL_HDR, buf, len);
		/* §12.5: over UDP the padding to 4 may be left out */
		t->st.channel_data_out++;
		return dg_send(t->dg, t->sock, &t->cfg.server, out, TURN_CHANNEL_HDR + len);
	}
	/* §11: a Send indication before the channel exists */
	for (n = 0; n < STUN_TXID_LEN; n++)
		txid[n] = (uint8_t)rng_next(&t->rng);
	dg_ep_sockaddr(peer, &sa);
	stun_msg_build_init(&b, out, sizeof(out), STUN_METHOD_SEND, STUN_CLASS_INDICATION, txid,
			    false);
	stun_msg_build_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, (struct sockaddr *)&sa);
	stun_msg_build_raw(&b, STUN_ATTR_DATA, buf, len);
	n = stun_msg_build_finish(&b);
	if (n < 0)
		return n;
	return dg_send(t->dg, t->sock, &t->cfg.server, out, (size_t)n);
}

void turn_get_stats(const struct turn *t, struct turn_stats *st)
{
	*st = t->st;
}

size_t turn_peer_slots(const struct turn *t)
{
	return t->n_peers;
}

void turn_free(struct turn *t)
{
	size_t i;

	if (!t)
		return;
	if (t->state == TURN_READY) { /* §7: lifetime 0 ends it, no answer awaited */
		struct turn_tx x = {.t = t, .method = STUN_METHOD_REFRESH, .peer = -1};

		if (turn_tx_build(t, &x) == 0)
			dg_send(t->dg, t->sock, &t->cfg.server, x.buf, x.len);
	}
	for (i = 0; i < TURN_TX_MAX; i++)
		if (t->tx[i].used)
			sched_cancel(t->dg->s, t->tx[i].ev);
	for (i = 0; i < t->n_peers; i++) {
		sched_cancel(t->dg->s, t->peers[i]->refresh_ev);
		free(t->peers[i]);
	}
	free(t->peers);
	sched_cancel(t->dg->s, t->refresh_ev);
	dg_close(t->dg, t->sock);
	free(t);
}

/* --- checkpoints ----------------------------------------------------------- */

static const struct ckfn turn_fns[] = {CKFN(turn_recv), CKFN(turn_rto_cb),
				       CKFN(turn_alloc_refresh_cb), CKFN(turn_peer_refresh_cb)};
const struct ckfns turn_ckfns = CKFNS(turn, turn_fns);

/* The text in buf[cap] (a server's realm, nonce; credentials): its bytes
 * up to the NUL as hex, whatever they are. */
static json_t *ck_text(struct ckw *w, const char *buf, size_t cap)
{
	return ckw_bytes(w, buf, strnlen(buf, cap));
}

static int ck_text_read(struct ckr *r, const json_t *j, const char *key, char *buf, size_t cap)
{
	const json_t *v = json_object_get(j, key);
	size_t n = json_string_length(v) / 2;

	memset(buf, 0, cap);
	if (!json_is_string(v) || n >= cap)
		return ckr_fail(r, "turn: %s: not a text of less than %zu bytes", key, cap);
	return ckr_bytes(r, v, buf, n);
}

json_t *turn_cfg_ckpt_save(const struct turn_cfg *c, struct ckw *w)
{
	return json_pack("{s:o,s:o,s:o,s:I,s:I,s:I}", "server", dg_ep_ckpt_save(&c->server, w),
			 "user", ck_text(w, c->user, sizeof(c->user)), "pass",
			 ck_text(w, c->pass, sizeof(c->pass)), "lifetime_s",
			 (json_int_t)c->lifetime_s, "rto_ns", (json_int_t)c->rto_ns, "tries",
			 (json_int_t)c->tries);
}

int turn_cfg_ckpt_fill(struct turn_cfg *c, const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "turn.cfg", j, false};
	if (!json_is_object(j))
		return ckr_fail(r, "turn: cfg: not an object");
	ckget_ep(&g, "server", &c->server);
	ck_text_read(r, j, "user", c->user, sizeof(c->user));
	ck_text_read(r, j, "pass", c->pass, sizeof(c->pass));
	c->lifetime_s = (uint32_t)ckget_int(&g, "lifetime_s", 0, UINT32_MAX);
	/* 0 in a configuration: the defaults, as turn_new() gives them */
	c->rto_ns = ckget_int(&g, "rto_ns", 0, INT64_MAX);
	c->tries = (unsigned)ckget_int(&g, "tries", 0, UINT_MAX);
	return ckr_failed(r) ? -1 : 0;
}

static json_t *peer_save(struct ckw *w, const struct turn_peer *p)
{
	return json_pack("{s:o,s:o,s:i,s:b,s:b,s:b,s:b,s:I,s:I,s:o}", "id", ckw_obj(w, p), "ep",
			 dg_ep_ckpt_save(&p->ep, w), "channel", p->channel, "perm_ok", p->perm_ok,
			 "bound", p->bound, "asked", p->asked, "released", p->released, "free_at",
			 (json_int_t)p->free_at, "idx", (json_int_t)p->idx, "refresh_ev",
			 ckw_timer(w, p->refresh_ev));
}

static struct turn_peer *peer_load(struct ckr *r, const json_t *j, struct turn *t, size_t idx)
{
	struct ckget g = {r, "turn.peer", j, false};
	struct turn_peer *p = calloc(1, sizeof(*p));

	if (!p) {
		ckr_fail(r, "turn: out of memory");
		return NULL;
	}
	p->t = t;
	ckget_ep(&g, "ep", &p->ep);
	p->channel = (uint16_t)ckget_int(&g, "channel", 0, 0xFFFF);
	p->perm_ok = ckget_bool(&g, "perm_ok");
	p->bound = ckget_bool(&g, "bound");
	p->asked = ckget_bool(&g, "asked");
	p->released = ckget_bool(&g, "released");
	p->free_at = ckget_int(&g, "free_at", 0, INT64_MAX);
	/* slots never move: a slot's index is its place */
	p->idx = (size_t)ckget_int(&g, "idx", (json_int_t)idx, (json_int_t)idx);
	ckr_obj(r, json_object_get(j, "id"), p);
	ckr_timer(r, json_object_get(j, "refresh_ev"), &p->refresh_ev);
	return p;
}

/* A request slot: its address is declared (the retransmission timer's
 * argument); an unused one holds nothing worth keeping. */
static json_t *tx_save(struct ckw *w, const struct turn_tx *x)
{
	json_t *id = ckw_obj(w, x);

	if (!x->used)
		return json_pack("{s:o}", "id", id);
	return json_pack("{s:o,s:i,s:i,s:I,s:o,s:o,s:I,s:I,s:o}", "id", id, "method", x->method,
			 "peer", x->peer, "lifetime", (json_int_t)x->lifetime, "txid",
			 ckw_bytes(w, x->txid, sizeof(x->txid)), "msg",
			 ckw_bytes(w, x->buf, x->len), "sent", (json_int_t)x->sent, "rto",
			 (json_int_t)x->rto, "ev", ckw_timer(w, x->ev));
}

static int tx_load(struct ckr *r, const json_t *j, struct turn *t, struct turn_tx *x)
{
	struct ckget g = {r, "turn.tx", j, false};

	x->t = t;
	ckr_obj(r, json_object_get(j, "id"), x);
	if (!json_object_get(j, "method"))
		return 0; /* unused */
	x->used = 1;
	x->method = (uint16_t)ckget_int(&g, "method", 0, 0xFFFF);
	x->peer = (int)ckget_int(&g, "peer", -1, TURN_PEERS_MAX - 1);
	x->lifetime = (uint32_t)ckget_int(&g, "lifetime", 0, UINT32_MAX);
	ckget_bytes(&g, "txid", x->txid, sizeof(x->txid));
	x->len = ckget_bytes_max(&g, "msg", x->buf, sizeof(x->buf));
	x->sent = (unsigned)ckget_int(&g, "sent", 0, UINT_MAX);
	x->rto = ckget_int(&g, "rto", 0, INT64_MAX);
	return ckr_timer(r, json_object_get(j, "ev"), &x->ev);
}

json_t *turn_ckpt_save(const struct turn *t, struct ckw *w)
{
	json_t *peers = json_array(), *tx = json_array(), *rng = json_array();

	for (size_t i = 0; i < t->n_peers; i++)
		ckget_push(w, peers, peer_save(w, t->peers[i]), "turn: a peer");
	for (size_t i = 0; i < TURN_TX_MAX; i++)
		ckget_push(w, tx, tx_save(w, &t->tx[i]), "turn: a request");
	for (size_t i = 0; i < 4; i++)
		ckget_push(w, rng, jsonck_u64(t->rng.s[i], true), "turn: rng");
	return ckget_done(
	    w,
	    json_pack("{s:o,s:o,s:o,s:o,s:o,s:i,s:i,s:o,s:o,s:o,s:o,s:"
		      "o,s:b,s:o,s:I,s:o,s:o,s:o,s:o}",
		      "id", ckw_obj(w, t), "dg", ckw_ref(w, t->dg), "cfg",
		      turn_cfg_ckpt_save(&t->cfg, w), "ops", ckw_ref(w, t->ops), "arg",
		      ckw_ref(w, t->arg), "sock", t->sock, "state", (int)t->state, "relayed",
		      dg_ep_ckpt_save(&t->relayed, w), "mapped", dg_ep_ckpt_save(&t->mapped, w),
		      "realm", ck_text(w, t->realm, sizeof(t->realm)), "nonce",
		      ck_text(w, t->nonce, sizeof(t->nonce)), "key",
		      ckw_bytes(w, t->key, sizeof(t->key)), "authed", t->authed, "refresh_ev",
		      ckw_timer(w, t->refresh_ev), "cap_peers", (json_int_t)t->cap_peers, "peers",
		      peers, "tx", tx, "rng", rng, "stats", ckw_bytes(w, &t->st, sizeof(t->st))),
	    "turn");
}

struct turn *turn_ckpt_load(const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "turn", j, false};
	const json_t *cfg = json_object_get(j, "cfg"), *peers = json_object_get(j, "peers");
	const json_t *tx = json_object_get(j, "tx"), *rng = json_object_get(j, "rng");
	json_int_t cap = ckget_int(&g, "cap_peers", 0, TURN_PEERS_MAX);
	struct turn *t;
	size_t n = json_array_size(peers);

	if (!json_is_object(cfg) || !json_is_array(peers) || json_array_size(tx) != TURN_TX_MAX ||
	    json_array_size(rng) != 4 || (size_t)cap < n) {
		ckr_fail(r, "turn: cfg, peers, tx, rng: missing, or not as many as they are");
		return NULL;
	}
	if (!(t = calloc(1, sizeof(*t))) ||
	    (cap && !(t->peers = calloc((size_t)cap, sizeof(*t->peers))))) {
		free(t);
		ckr_fail(r, "turn: out of memory");
		return NULL;
	}
	t->cap_peers = (size_t)cap;
	turn_cfg_ckpt_fill(&t->cfg, cfg, r);
	t->sock = (int)ckget_int(&g, "sock", 0, INT_MAX);
	t->state = (enum turn_state)ckget_int(&g, "state", TURN_ALLOCATING, TURN_FAILED);
	ckget_ep(&g, "relayed", &t->relayed);
	ckget_ep(&g, "mapped", &t->mapped);
	ck_text_read(r, j, "realm", t->realm, sizeof(t->realm));
	ck_text_read(r, j, "nonce", t->nonce, sizeof(t->nonce));
	ckr_bytes(r, json_object_get(j, "key"), t->key, sizeof(t->key));
	t->authed = ckget_bool(&g, "authed");
	for (size_t i = 0; i < 4; i++)
		if (jsonck_u64_read(json_array_get(rng, i), true, &t->rng.s[i]) < 0)
			ckr_fail(r, "turn: rng[%zu]: not 16 hex digits", i);
	ckr_bytes(r, json_object_get(j, "stats"), &t->st, sizeof(t->st));
	ckr_obj(r, json_object_get(j, "id"), t);
	ckr_ref(r, json_object_get(j, "dg"), &t->dg);
	ckr_ref(r, json_object_get(j, "ops"), &t->ops);
	ckr_ref(r, json_object_get(j, "arg"), &t->arg);
	ckr_timer(r, json_object_get(j, "refresh_ev"), &t->refresh_ev);
	for (size_t i = 0; i < n && !ckr_failed(r); i++)
		if ((t->peers[i] = peer_load(r, json_array_get(peers, i), t, i)))
			t->n_peers++;
	for (size_t i = 0; i < TURN_TX_MAX; i++) {
		tx_load(r, json_array_get(tx, i), t, &t->tx[i]);
		if (t->tx[i].used && t->tx[i].peer >= (int)n)
			ckr_fail(r, "turn: tx[%zu].peer: no such peer", i);
	}
	return ckr_failed(r) ? NULL : t;
}
