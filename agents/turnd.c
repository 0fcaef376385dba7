/* natbed's TURN server over the datagram interface (turnd.h). */
#include "turnd.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckget.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "natbed/stun.h"

#define TURND_LIFETIME_S 600 /* RFC 8656 §7.2: the default lifetime */
#define TURND_PERM_S	 300 /* §9: a permission lives 5 minutes */
#define TURND_CHAN_S	 600 /* §12: a channel lives 10 minutes */
#define TURND_MSG_MAX	 (DG_MAX + 64)
#define TURND_UDP	 17
#define TURND_CHAN_LO	 0x4000 /* §12: channel numbers 0x4000-0x4FFF */
#define TURND_CHAN_HI	 0x4FFF

struct td_perm {
	uint32_t addr;
	natbed_time_t until;
};

struct td_chan {
	uint16_t number;
	struct dg_ep peer;
	natbed_time_t until;
};

struct td_alloc {
	struct turnd *d;
	struct td_alloc *next; /* in its hash bucket */
	struct dg_ep client;
	uint8_t txid[STUN_TXID_LEN]; /* the Allocate that made it */
	int sock;		     /* the relayed socket */
	struct dg_ep relayed;
	natbed_time_t until;
	uint64_t timer; /* its expiry, on the scheduler */
	uint32_t lifetime;
	struct td_perm perms[TURND_PERMS_MAX];
	struct td_chan chans[TURND_CHANS_MAX];
};

struct turnd {
	const struct dgram *dg;
	struct turnd_cfg cfg; /* user, pass, realm: the copies below */
	char *user, *pass, *realm;
	int sock;
	uint8_t key[STUN_MD5_LEN];
	unsigned nonce_gen;
	char nonce[32];
	struct td_alloc **buckets; /* live allocations by client: chained */
	size_t n_buckets;	   /* a power of two */
	struct turnd_stats st;
};

static void td_relay_rx(void *arg, int sock, const struct dg_ep *peer, const uint8_t *buf,
			size_t len, natbed_time_t now);

static natbed_time_t td_now(const struct turnd *d)
{
	return dg_now(d->dg);
}

/* --- allocations --------------------------------------------------------------- */

static size_t td_bucket(const struct turnd *d, const struct dg_ep *client)
{
	uint64_t h = ((uint64_t)client->addr << 16 | client->port) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (d->n_buckets - 1);
}

/* Unlinks a, closes its relayed socket and frees it. */
static void td_alloc_end(struct td_alloc *a)
{
	struct turnd *d = a->d;
	struct td_alloc **pp = &d->buckets[td_bucket(d, &a->client)];

	while (*pp && *pp != a)
		pp = &(*pp)->next;
	if (*pp)
		*pp = a->next;
	if (a->timer)
		sched_cancel(d->dg->s, a->timer);
	dg_close(d->dg, a->sock);
	d->st.allocations--;
	free(a);
}

/* RFC 8656 §7: an allocation whose lifetime ran out is deleted. A refresh
 * moved `until` on: the timer follows it. */
static void td_alloc_expire(void *arg, natbed_time_t now)
{
	struct td_alloc *a = arg;

	a->timer = 0;
	if (a->until > now) {
		a->timer = sched_at(a->d->dg->s, a->until, td_alloc_expire, a);
		if (a->timer)
			return;
	}
	td_alloc_end(a);
}

/* The live allocation of client, or NULL. */
static struct td_alloc *td_alloc_of(struct turnd *d, const struct dg_ep *client)
{
	struct td_alloc *a;

	for (a = d->buckets[td_bucket(d, client)]; a; a = a->next)
		if (dg_ep_eq(&a->client, client))
			return a->until > td_now(d) ? a : NULL;
	return NULL;
}

/* Twice the buckets once there are as many allocations as buckets. */
static void td_grow(struct turnd *d)
{
	size_t n = d->n_buckets * 2, i;
	struct td_alloc **b = calloc(n, sizeof(*b)), *a, *next;
	struct td_alloc **old = d->buckets;

	if (!b)
		return; /* longer chains, still right */
	d->buckets = b;
	d->n_buckets = n;
	for (i = 0; i < n / 2; i++)
		for (a = old[i]; a; a = next) {
			next = a->next;
			a->next = b[td_bucket(d, &a->client)];
			b[td_bucket(d, &a->client)] = a;
		}
	free(old);
}

/* A new allocation of client, linked in, its timer and socket to come. */
static struct td_alloc *td_alloc_new(struct turnd *d, const struct dg_ep *client)
{
	struct td_alloc *a;
	size_t k;

	if (d->st.allocations >= d->cfg.max_allocs || !(a = calloc(1, sizeof(*a))))
		return NULL;
	if (d->st.allocations >= d->n_buckets)
		td_grow(d);
	a->d = d;
	a->client = *client;
	a->sock = -1;
	k = td_bucket(d, client);
	a->next = d->buckets[k];
	d->buckets[k] = a;
	d->st.allocations++;
	return a;
}

static bool td_permitted(const struct td_alloc *a, uint32_t addr, natbed_time_t now)
{
	size_t i;

	for (i = 0; i < TURND_PERMS_MAX; i++)
		if (a->perms[i].until > now && a->perms[i].addr == addr)
			return true;
	return false;
}

/* §9: installs or refreshes the permission of addr. */
static bool td_permit(struct td_alloc *a, uint32_t addr, natbed_time_t now)
{
	struct td_perm *free_p = NULL;
	size_t i;

	for (i = 0; i < TURND_PERMS_MAX; i++) {
		struct td_perm *p = &a->perms[i];

		if (p->until > now && p->addr == addr) {
			p->until = now + TURND_PERM_S * NATBED_NS_PER_S;
			return true;
		}
		if (p->until <= now && !free_p)
			free_p = p;
	}
	if (!free_p)
		return false;
	free_p->addr = addr;
	free_p->until = now + TURND_PERM_S * NATBED_NS_PER_S;
	return true;
}

static struct td_chan *td_chan_find(struct td_alloc *a, uint16_t number, const struct dg_ep *peer,
				    natbed_time_t now)
{
	size_t i;

	for (i = 0; i < TURND_CHANS_MAX; i++) {
		struct td_chan *c = &a->chans[i];

		if (c->until > now && (number ? c->number == number : dg_ep_eq(&c->peer, peer)))
			return c;
	}
	return NULL;
}

/* --- answers ----------------------------------------------------------------------- */

static void td_send(struct turnd *d, const struct dg_ep *to, const uint8_t *buf, size_t len)
{
	dg_send(d->dg, d->sock, to, buf, len);
}

static void td_error(struct turnd *d, const struct dg_ep *to, const struct stun_msg *m, int code,
		     const char *reason, bool challenge)
{
	struct stun_builder b;
	uint8_t out[512];
	int n;

	d->st.errors++;
	stun_msg_build_init(&b, out, sizeof(out), m->method, STUN_CLASS_ERROR, m->txid, false);
	stun_msg_build_error(&b, code, reason);
	if (challenge) { /* RFC 8489 §9.2.4: the realm and a nonce to use */
		stun_msg_build_string(&b, STUN_ATTR_REALM, d->cfg.realm);
		stun_msg_build_string(&b, STUN_ATTR_NONCE, d->nonce);
	}
	stun_msg_build_fingerprint(&b);
	n = stun_msg_build_finish(&b);
	if (n > 0)
		td_send(d, to, out, (size_t)n);
}

/* A success answer: init by the caller (b on out), finished here. */
static void td_success_send(struct turnd *d, const struct dg_ep *to, struct stun_builder *b,
			    uint8_t *out)
{
	int n;

	stun_msg_build_integrity(b, false, d->key, sizeof(d->key));
	stun_msg_build_fingerprint(b);
	n = stun_msg_build_finish(b);
	if (n > 0)
		td_send(d, to, out, (size_t)n);
}

static uint32_t td_lifetime(const struct turnd *d, const struct stun_msg *m)
{
	const struct stun_attr *lt = stun_msg_find(m, STUN_ATTR_LIFETIME);
	uint32_t v = TURND_LIFETIME_S;

	if (lt && lt->len == 4) {
		memcpy(&v, stun_attr_value(m, lt), 4);
		v = ntohl(v);
	}
	return v > d->cfg.lifetime_max_s ? d->cfg.lifetime_max_s : v;
}

/* --- requests ------------------------------------------------------------------ */

static void td_allocate(struct turnd *d, const struct dg_ep *from, const struct stun_msg *m)
{
	const struct stun_attr *rt = stun_msg_find(m, STUN_ATTR_REQUESTED_TRANSPORT);
	struct td_alloc *a = td_alloc_of(d, from);
	struct dg_ep bind = {d->cfg.listen.addr, 0};
	struct sockaddr_in sa;
	struct stun_builder b;
	uint8_t out[256];
	uint32_t v;

	d->st.authed_allocs++;
	/* RFC 8656 §7.2: a retransmission gets the same answer, another
	 * Allocate on the 5-tuple a 437 */
	if (a && memcmp(a->txid, m->txid, STUN_TXID_LEN) != 0) {
		td_error(d, from, m, 437, "Allocation Mismatch", false);
		return;
	}
	if (!rt || rt->len != 4 || stun_attr_value(m, rt)[0] != TURND_UDP) {
		td_error(d, from, m, 442, "Unsupported Transport Protocol", false);
		return;
	}
	if (!a) {
		struct td_alloc *old;

		/* an expired one of this client still waiting for its timer */
		for (old = d->buckets[td_bucket(d, from)]; old; old = old->next)
			if (dg_ep_eq(&old->client, from))
				break;
		if (old)
			td_alloc_end(old);
		/* §7.2: no capacity, or no relayed port: 508 */
		if (!(a = td_alloc_new(d, from))) {
			td_error(d, from, m, 508, "Insufficient Capacity", false);
			return;
		}
		memcpy(a->txid, m->txid, STUN_TXID_LEN);
		a->lifetime = td_lifetime(d, m);
		a->until = td_now(d) + (natbed_time_t)a->lifetime * NATBED_NS_PER_S;
		a->sock = dg_open(d->dg, &bind, &a->relayed, td_relay_rx, a);
		a->timer = a->sock >= 0 ? sched_at(d->dg->s, a->until, td_alloc_expire, a) : 0;
		if (!a->timer) {
			td_alloc_end(a);
			td_error(d, from, m, 508, "Insufficient Capacity", false);
			return;
		}
	}
	stun_msg_build_init(&b, out, sizeof(out), m->method, STUN_CLASS_SUCCESS, m->txid, false);
	dg_ep_sockaddr(&a->relayed, &sa);
	stun_msg_build_addr(&b, STUN_ATTR_XOR_RELAYED_ADDRESS, (struct sockaddr *)&sa);
	dg_ep_sockaddr(from, &sa);
	stun_msg_build_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, (struct sockaddr *)&sa);
	v = htonl(a->lifetime);
	stun_msg_build_raw(&b, STUN_ATTR_LIFETIME, &v, 4);
	td_success_send(d, from, &b, out);
}

static void td_refresh(struct turnd *d, const struct dg_ep *from, const struct stun_msg *m)
{
	struct td_alloc *a = td_alloc_of(d, from);
	struct stun_builder b;
	uint8_t out[128];
	uint32_t life = td_lifetime(d, m), v;

	d->st.refreshes++;
	if (!a || d->cfg.mismatch_refresh) {
		td_error(d, from, m, 437, "Allocation Mismatch", false);
		return;
	}
	a->until = td_now(d) + (natbed_time_t)life * NATBED_NS_PER_S;
	stun_msg_build_init(&b, out, sizeof(out), m->method, STUN_CLASS_SUCCESS, m->txid, false);
	v = htonl(life);
	stun_msg_build_raw(&b, STUN_ATTR_LIFETIME, &v, 4);
	td_success_send(d, from, &b, out);
	if (life == 0) /* §7.5: lifetime 0 ends it */
		td_alloc_end(a);
}

static void td_permission(struct turnd *d, const struct dg_ep *from, const struct stun_msg *m,
			  bool channel)
{
	struct td_alloc *a = td_alloc_of(d, from);
	natbed_time_t now = td_now(d);
	const struct stun_attr *cn = stun_msg_find(m, STUN_ATTR_CHANNEL_NUMBER);
	struct td_chan *c = NULL;
	struct stun_builder b;
	struct dg_ep peer;
	uint8_t out[128];
	uint16_t number = 0;
	size_t i;

	if (channel)
		d->st.channel_binds++;
	else
		d->st.permissions++;
	if (!a) {
		td_error(d, from, m, 437, "Allocation Mismatch", false);
		return;
	}
	if (dg_ep_of_stun(m, STUN_ATTR_XOR_PEER_ADDRESS, &peer) < 0) {
		td_error(d, from, m, 400, "Bad Request", false);
		return;
	}
	if (channel) {
		/* §12.2: a number in range, bound to this peer or to none */
		if (!cn || cn->len != 4) {
			td_error(d, from, m, 400, "Bad Request", false);
			return;
		}
		number = (uint16_t)(stun_attr_value(m, cn)[0] << 8 | stun_attr_value(m, cn)[1]);
		c = td_chan_find(a, number, NULL, now);
		if (number < TURND_CHAN_LO || number > TURND_CHAN_HI ||
		    (c && !dg_ep_eq(&c->peer, &peer)) || (!c && td_chan_find(a, 0, &peer, now))) {
			td_error(d, from, m, 400, "Bad Request", false);
			return;
		}
		for (i = 0; i < TURND_CHANS_MAX && !c; i++)
			if (a->chans[i].until <= now)
				c = &a->chans[i];
		if (!c) {
			td_error(d, from, m, 508, "Insufficient Capacity", false);
			return;
		}
		c->number = number;
		c->peer = peer;
		c->until = now + TURND_CHAN_S * NATBED_NS_PER_S;
	}
	if (!td_permit(a, peer.addr, now)) {
		td_error(d, from, m, 508, "Insufficient Capacity", false);
		return;
	}
	stun_msg_build_init(&b, out, sizeof(out), m->method, STUN_CLASS_SUCCESS, m->txid, false);
	td_success_send(d, from, &b, out);
}

/* RFC 8489 §9.2.4: long-term credentials on every request. false when
 * the request was answered with an error. */
static bool td_authentic(struct turnd *d, const struct dg_ep *from, const struct stun_msg *m)
{
	const struct stun_attr *user = stun_msg_find(m, STUN_ATTR_USERNAME);
	const struct stun_attr *nonce = stun_msg_find(m, STUN_ATTR_NONCE);

	if (!m->integrity_off || !user || !nonce || !stun_msg_find(m, STUN_ATTR_REALM)) {
		td_error(d, from, m, 401, "Unauthorized", true);
		return false;
	}
	if (d->cfg.stale_at && d->st.requests == d->cfg.stale_at) { /* a new nonce from now */
		d->nonce_gen++;
		snprintf(d->nonce, sizeof(d->nonce), "natbed-nonce-%u", d->nonce_gen);
	}
	if (nonce->len != strlen(d->nonce) ||
	    memcmp(stun_attr_value(m, nonce), d->nonce, nonce->len) != 0) {
		td_error(d, from, m, 438, "Stale Nonce", true);
		return false;
	}
	if (user->len != strlen(d->cfg.user) ||
	    memcmp(stun_attr_value(m, user), d->cfg.user, user->len) != 0 ||
	    stun_msg_check_integrity(m, false, d->key, sizeof(d->key)) != 0) {
		td_error(d, from, m, 401, "Unauthorized", true);
		return false;
	}
	return true;
}

static void td_request(struct turnd *d, const struct dg_ep *from, const struct stun_msg *m)
{
	d->st.requests++;
	if (d->cfg.answer_first && d->st.requests > d->cfg.answer_first)
		return;
	if (m->method == STUN_METHOD_ALLOCATE)
		d->st.allocs++;
	if (!td_authentic(d, from, m))
		return;
	switch (m->method) {
	case STUN_METHOD_ALLOCATE:
		td_allocate(d, from, m);
		return;
	case STUN_METHOD_REFRESH:
		td_refresh(d, from, m);
		return;
	case STUN_METHOD_CREATE_PERMISSION:
		td_permission(d, from, m, false);
		return;
	case STUN_METHOD_CHANNEL_BIND:
		td_permission(d, from, m, true);
		return;
	default:
		td_error(d, from, m, 400, "Bad Request", false);
	}
}

/* --- data ---------------------------------------------------------------------- */

/* §11.2: a Send indication's DATA goes to a permitted peer. */
static void td_send_ind(struct turnd *d, const struct dg_ep *from, const struct stun_msg *m)
{
	struct td_alloc *a = td_alloc_of(d, from);
	const struct stun_attr *data = stun_msg_find(m, STUN_ATTR_DATA);
	struct dg_ep peer;

	if (!a || !data || dg_ep_of_stun(m, STUN_ATTR_XOR_PEER_ADDRESS, &peer) < 0 ||
	    !td_permitted(a, peer.addr, td_now(d)))
		return;
	d->st.send_in++;
	dg_send(d->dg, a->sock, &peer, stun_attr_value(m, data), data->len);
}

/* §12.6: ChannelData from the client goes to the channel's peer. */
static bool td_channel_in(struct turnd *d, const struct dg_ep *from, const uint8_t *buf, size_t len)
{
	struct td_alloc *a;
	struct td_chan *c;
	uint16_t number, dlen;

	if (len < 4 || (buf[0] & 0xc0) != 0x40)
		return false;
	number = (uint16_t)(buf[0] << 8 | buf[1]);
	dlen = (uint16_t)(buf[2] << 8 | buf[3]);
	a = td_alloc_of(d, from);
	if (!a || dlen > len - 4 || !(c = td_chan_find(a, number, NULL, td_now(d))))
		return true;
	d->st.channel_data_in++;
	dg_send(d->dg, a->sock, &c->peer, buf + 4, dlen);
	return true;
}

static void td_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		  natbed_time_t now)
{
	struct turnd *d = arg;
	struct stun_msg m;

	if (td_channel_in(d, from, buf, len) ||
	    stun_msg_parse(buf, len, 0, &m, NULL, 0) != STUN_PARSE_OK)
		return;
	if (m.cls == STUN_CLASS_REQUEST)
		td_request(d, from, &m);
	else if (m.cls == STUN_CLASS_INDICATION && m.method == STUN_METHOD_SEND)
		td_send_ind(d, from, &m);
}

/* §11.3, §12.7: a peer's datagram to the relayed address. */
static void td_relay_rx(void *arg, int sock, const struct dg_ep *peer, const uint8_t *buf,
			size_t len, natbed_time_t now)
{
	struct td_alloc *a = arg;
	struct turnd *d = a->d;
	uint8_t out[TURND_MSG_MAX], txid[STUN_TXID_LEN] = {0};
	struct stun_builder b;
	struct sockaddr_in sa;
	struct td_chan *c;
	int n;

	if (a->until <= now || !td_permitted(a, peer->addr, now)) {
		d->st.no_permission++;
		return;
	}
	c = td_chan_find(a, 0, peer, now);
	if (c && len <= DG_MAX) {
		out[0] = (uint8_t)(c->number >> 8);
		out[1] = (uint8_t)c->number;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		memcpy(out + 4, buf, len);
		d->st.channel_data_out++;
		td_send(d, &a->client, out, 4 + len);
		return;
	}
	memcpy(txid, &d->st.data_out, sizeof(d->st.data_out));
	stun_msg_build_init(&b, out, sizeof(out), STUN_METHOD_DATA, STUN_CLASS_INDICATION, txid,
			    false);
	dg_ep_sockaddr(peer, &sa);
	stun_msg_build_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, (struct sockaddr *)&sa);
	stun_msg_build_raw(&b, STUN_ATTR_DATA, buf, len);
	n = stun_msg_build_finish(&b);
	if (n > 0) {
		d->st.data_out++;
		td_send(d, &a->client, out, (size_t)n);
	}
}

/* --- life ---------------------------------------------------------------------- */

/* Frees d's memory, nothing closed or cancelled. */
static void td_free_mem(struct turnd *d)
{
	free(d->buckets);
	free(d->user);
	free(d->pass);
	free(d->realm);
	free(d);
}

struct turnd *turnd_new(const struct dgram *dg, const struct turnd_cfg *cfg)
{
	struct turnd *d = calloc(1, sizeof(*d));
	struct dg_ep local;

	if (!d)
		return NULL;
	d->dg = dg;
	d->cfg = *cfg;
	/* its own copies: a checkpoint writes them as values */
	d->cfg.user = d->user = cfg->user ? strdup(cfg->user) : NULL;
	d->cfg.pass = d->pass = cfg->pass ? strdup(cfg->pass) : NULL;
	d->cfg.realm = d->realm = strdup(cfg->realm ? cfg->realm : "natbed");
	if (!d->cfg.lifetime_max_s)
		d->cfg.lifetime_max_s = 3600;
	if (!d->cfg.max_allocs)
		d->cfg.max_allocs = TURND_ALLOCS_DEFAULT;
	d->n_buckets = 64;
	d->buckets = calloc(d->n_buckets, sizeof(*d->buckets));
	snprintf(d->nonce, sizeof(d->nonce), "natbed-nonce-%u", d->nonce_gen);
	if (!d->buckets || (cfg->user && !d->user) || (cfg->pass && !d->pass) || !d->realm ||
	    stun_long_term_key(d->cfg.user, d->cfg.realm, d->cfg.pass, d->key) < 0 ||
	    (d->sock = dg_open(dg, &cfg->listen, &local, td_rx, d)) < 0) {
		td_free_mem(d);
		return NULL;
	}
	return d;
}

void turnd_free(struct turnd *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n_buckets; i++)
		while (d->buckets[i])
			td_alloc_end(d->buckets[i]);
	dg_close(d->dg, d->sock);
	td_free_mem(d);
}

void turnd_stats(const struct turnd *d, struct turnd_stats *st)
{
	*st = d->st;
}

/* --- checkpoints ----------------------------------------------------------- */

static const struct ckfn turnd_fns[] = {CKFN(td_rx), CKFN(td_relay_rx), CKFN(td_alloc_expire)};
const struct ckfns turnd_ckfns = CKFNS(turnd, turnd_fns);

/* A string field (null for NULL) as an owned copy in *out. */
static int ck_str(struct ckr *r, const json_t *j, const char *key, char **out)
{
	const json_t *v = json_object_get(j, key);

	*out = NULL;
	if (json_is_null(v))
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return ckr_fail(r, "turnd: %s: not a string", key);
	if (!(*out = strdup(json_string_value(v))))
		return ckr_fail(r, "turnd: out of memory");
	return 0;
}

static json_t *alloc_save(struct ckw *w, const struct td_alloc *a)
{
	json_t *perms = json_array(), *chans = json_array();

	for (size_t i = 0; i < TURND_PERMS_MAX; i++)
		ckget_push(
		    w, perms,
		    json_pack("[oI]", jsonck_ipv4(a->perms[i].addr), (json_int_t)a->perms[i].until),
		    "turnd: a permission");
	for (size_t i = 0; i < TURND_CHANS_MAX; i++)
		ckget_push(w, chans,
			   json_pack("[ioI]", a->chans[i].number,
				     dg_ep_ckpt_save(&a->chans[i].peer, w),
				     (json_int_t)a->chans[i].until),
			   "turnd: a channel");
	return json_pack("{s:o,s:o,s:o,s:i,s:o,s:I,s:o,s:I,s:o,s:o}", "id", ckw_obj(w, a), "client",
			 dg_ep_ckpt_save(&a->client, w), "txid",
			 ckw_bytes(w, a->txid, sizeof(a->txid)), "sock", a->sock, "relayed",
			 dg_ep_ckpt_save(&a->relayed, w), "until", (json_int_t)a->until, "timer",
			 ckw_timer(w, a->timer), "lifetime", (json_int_t)a->lifetime, "perms",
			 perms, "chans", chans);
}

static struct td_alloc *alloc_load(struct ckr *r, const json_t *j, struct turnd *d)
{
	struct ckget g = {r, "turnd.alloc", j, false};
	const json_t *perms = json_object_get(j, "perms"), *chans = json_object_get(j, "chans");
	struct td_alloc *a;

	if (json_array_size(perms) != TURND_PERMS_MAX ||
	    json_array_size(chans) != TURND_CHANS_MAX) {
		ckr_fail(r, "turnd: alloc: not %d permissions and %d channels", TURND_PERMS_MAX,
			 TURND_CHANS_MAX);
		return NULL;
	}
	if (!(a = calloc(1, sizeof(*a)))) {
		ckr_fail(r, "turnd: out of memory");
		return NULL;
	}
	a->d = d;
	ckget_ep(&g, "client", &a->client);
	ckr_bytes(r, json_object_get(j, "txid"), a->txid, sizeof(a->txid));
	a->sock = (int)ckget_int(&g, "sock", -1, INT_MAX);
	ckget_ep(&g, "relayed", &a->relayed);
	a->until = ckget_int(&g, "until", 0, INT64_MAX);
	a->lifetime = (uint32_t)ckget_int(&g, "lifetime", 0, UINT32_MAX);
	for (size_t i = 0; i < TURND_PERMS_MAX; i++) {
		const json_t *p = json_array_get(perms, i);
		json_int_t until = 0;

		if (jsonck_ipv4_read(json_array_get(p, 0), &a->perms[i].addr) < 0 ||
		    jsonck_int(json_array_get(p, 1), 0, INT64_MAX, &until) < 0)
			ckr_fail(r, "turnd: alloc.perms[%zu]: not [address, until]", i);
		a->perms[i].until = until;
	}
	for (size_t i = 0; i < TURND_CHANS_MAX; i++) {
		const json_t *c = json_array_get(chans, i);
		json_int_t number = 0, until = 0;

		if (jsonck_int(json_array_get(c, 0), 0, 0xFFFF, &number) < 0 ||
		    dg_ep_ckpt_fill(&a->chans[i].peer, json_array_get(c, 1), r) < 0 ||
		    jsonck_int(json_array_get(c, 2), 0, INT64_MAX, &until) < 0)
			ckr_fail(r, "turnd: alloc.chans[%zu]: not [number, peer, until]", i);
		a->chans[i].number = (uint16_t)number;
		a->chans[i].until = until;
	}
	ckr_obj(r, json_object_get(j, "id"), a);
	ckr_timer(r, json_object_get(j, "timer"), &a->timer);
	return a;
}

json_t *turnd_ckpt_save(const struct turnd *d, struct ckw *w)
{
	json_t *allocs = json_array();

	/* in bucket and chain order: a client may have an expired allocation
	 * behind a new one in its chain, the first found wins */
	for (size_t i = 0; i < d->n_buckets; i++)
		for (const struct td_alloc *a = d->buckets[i]; a; a = a->next)
			ckget_push(w, allocs, alloc_save(w, a), "turnd: an allocation");
	return ckget_done(
	    w,
	    json_pack(
		"{s:o,s:o,s:{s:o,s:o,s:o,s:o,s:I,s:I,s:I,s:I,s:b},s:i,s:o,s:I,s:s,s:I,s:o,s:o}",
		"id", ckw_obj(w, d), "dg", ckw_ref(w, d->dg), "cfg", "listen",
		dg_ep_ckpt_save(&d->cfg.listen, w), "user",
		d->user ? json_string(d->user) : json_null(), "pass",
		d->pass ? json_string(d->pass) : json_null(), "realm", json_string(d->realm),
		"lifetime_max_s", (json_int_t)d->cfg.lifetime_max_s, "max_allocs",
		(json_int_t)d->cfg.max_allocs, "answer_first", (json_int_t)d->cfg.answer_first,
		"stale_at", (json_int_t)d->cfg.stale_at, "mismatch_refresh",
		d->cfg.mismatch_refresh, "sock", d->sock, "key",
		ckw_bytes(w, d->key, sizeof(d->key)), "nonce_gen", (json_int_t)d->nonce_gen,
		"nonce", d->nonce, "buckets", (json_int_t)d->n_buckets, "allocs", allocs, "stats",
		ckw_bytes(w, &d->st, sizeof(d->st))),
	    "turnd");
}

struct turnd *turnd_ckpt_load(const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "turnd", j, false},
		     gc = {r, "turnd.cfg", json_object_get(j, "cfg"), false};
	const json_t *cfg = json_object_get(j, "cfg"), *allocs = json_object_get(j, "allocs"), *e;
	const char *nonce = json_string_value(json_object_get(j, "nonce"));
	json_int_t nb = ckget_int(&g, "buckets", 64, (json_int_t)1 << 30);
	struct turnd *d;
	size_t i;

	if (!json_is_object(cfg) || !json_is_array(allocs) || !nonce ||
	    strlen(nonce) >= sizeof(d->nonce) || (nb & (nb - 1))) {
		ckr_fail(r, "turnd: cfg, allocs, nonce, buckets: missing or out of range");
		return NULL;
	}
	if (ckr_failed(r) || !(d = calloc(1, sizeof(*d))) ||
	    !(d->buckets = calloc((size_t)nb, sizeof(*d->buckets)))) {
		ckr_fail(r, "turnd: out of memory");
		return NULL;
	}
	d->n_buckets = (size_t)nb;
	ckget_ep(&gc, "listen", &d->cfg.listen);
	ck_str(r, cfg, "user", &d->user);
	ck_str(r, cfg, "pass", &d->pass);
	ck_str(r, cfg, "realm", &d->realm);
	if (!d->realm)
		ckr_fail(r, "turnd: cfg.realm: missing");
	d->cfg.user = d->user;
	d->cfg.pass = d->pass;
	d->cfg.realm = d->realm;
	d->cfg.lifetime_max_s = (uint32_t)ckget_int(&gc, "lifetime_max_s", 1, UINT32_MAX);
	d->cfg.max_allocs = (uint32_t)ckget_int(&gc, "max_allocs", 1, UINT32_MAX);
	d->cfg.answer_first = (unsigned)ckget_int(&gc, "answer_first", 0, UINT_MAX);
	d->cfg.stale_at = (unsigned)ckget_int(&gc, "stale_at", 0, UINT_MAX);
	d->cfg.mismatch_refresh = json_is_true(json_object_get(cfg, "mismatch_refresh"));
	d->sock = (int)ckget_int(&g, "sock", 0, INT_MAX);
	ckr_bytes(r, json_object_get(j, "key"), d->key, sizeof(d->key));
	d->nonce_gen = (unsigned)ckget_int(&g, "nonce_gen", 0, UINT_MAX);
	memcpy(d->nonce, nonce, strlen(nonce) + 1);
	ckr_bytes(r, json_object_get(j, "stats"), &d->st, sizeof(d->st));
	ckr_obj(r, json_object_get(j, "id"), d);
	ckr_ref(r, json_object_get(j, "dg"), &d->dg);
	/* each chain as it was: appended in the order written */
	json_array_foreach(allocs, i, e)
	{
		struct td_alloc *a = alloc_load(r, e, d), **pp;

		if (!a || ckr_failed(r))
			return NULL;
		for (pp = &d->buckets[td_bucket(d, &a->client)]; *pp; pp = &(*pp)->next)
			;
		*pp = a;
	}
	return ckr_failed(r) ? NULL : d;
}
