/* natbed check: the rules on one NAT. The leak rule reads its outside
 * capture alone; the others replay what the NAT did (check_flows.c) through
 * a model of its mappings, built from the packets alone: a mapping is born
 * when an inside endpoint's packet first leaves, lives while traffic
 * refreshes it, and its filter opens to each endpoint it sent to, until it
 * times out or the NAT is flushed. The NAT's run-time changes (natbed ctl
 * nat NAME flush or set, at the times the event log gives) are followed.
 * Every deadline is known within CHECK slack: a rule never judges inside
 * it, nor within the slack of a change of setting. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"

#define CK_PROTO_ICMP 1
#define CK_PROTO_TCP  6
#define CK_PROTO_UDP  17

/* How long natbed-emu keeps mappings other than UDP (emulator/nat.c,
 * nat_cfg_from_topo): RFC 5382 REQ-5 (TCP: 2 h 4 min established, 4 min
 * transitory) and RFC 5508 REQ-1 (ICMP: 60 s). A TCP mapping's state is
 * not followed: it lives at least the transitory time and at most the
 * established one. */
#define CK_TCP_TRANSITORY_NS  (240 * NATBED_NS_PER_S)
#define CK_TCP_ESTABLISHED_NS (7440 * NATBED_NS_PER_S)
#define CK_ICMP_TIMEOUT_NS    (60 * NATBED_NS_PER_S)
/* Linux conntrack (and the emulator): a UDP flow is a stream once answered
 * and 2 s old; before, the unreplied timeout holds. */
#define CK_STREAM_AGE_NS (2 * NATBED_NS_PER_S)

const char *const ck_rule_names[CK_R_COUNT] = {
    [CK_R_LEAK] = "leak",	[CK_R_MAPPING] = "mapping", [CK_R_FILTERING] = "filtering",
    [CK_R_HAIRPIN] = "hairpin", [CK_R_PORTS] = "ports",	    [CK_R_TIMEOUT] = "timeout",
};

/* --- leak --------------------------------------------------------------------- */

/* Whether NAT m sits behind NAT n, at any depth, or is n. */
static bool behind(const struct topo *t, int m, int n)
{
	size_t hops;

	for (hops = 0; m >= 0 && hops <= t->n_nats; hops++, m = t->nats[m].upstream)
		if (m == n)
			return true;
	return false;
}

/* The inside NAT (n or one behind it) whose prefix holds a, or NULL. */
static const struct topo_nat *inside_of(const struct topo *t, int n, uint32_t a)
{
	size_t m;

	for (m = 0; m < t->n_nats; m++)
		if (behind(t, (int)m, n) && ck_nat_inside(&t->nats[m], a))
			return &t->nats[m];
	return NULL;
}

void ck_rule_leak(struct ck_natcheck *c)
{
	const struct topo *t = c->v->t;
	const struct topo_nat *n = &t->nats[c->v->nat], *in;
	const struct ck_cap *w = c->v->wan;
	const int row = c->row[CK_R_LEAK];
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	size_t i, ip = 0;

	for (i = 0; i < w->n; i++) {
		const struct ck_pkt *p = &w->p[i];
		const struct ck_ref ref = {w->file, p->no};

		if (p->kind == CK_OTHER)
			continue;
		ip++;
		if ((in = inside_of(t, c->v->nat, p->src)) ||
		    (in = inside_of(t, c->v->nat, p->dst)))
			ck_violation(c->rep, c->row[CK_R_LEAK], &ref, 1,
				     "%s -> %s: inside address %s (NAT %s's inside) on the outside",
				     ck_addr_str(p->src, a), ck_addr_str(p->dst, b),
				     inside_of(t, c->v->nat, p->src) ? a : b, in->name);
		else if (p->kind == CK_ICMP_ERR && ((in = inside_of(t, c->v->nat, p->q_src)) ||
						    (in = inside_of(t, c->v->nat, p->q_dst))))
			ck_violation(c->rep, row, &ref, 1,
				     "an ICMP error quotes %s -> %s: inside address of NAT %s",
				     ck_addr_str(p->q_src, a), ck_addr_str(p->q_dst, b), in->name);
		else if (!ck_nat_public(n, p->src) && !ck_nat_public(n, p->dst))
			ck_violation(c->rep, row, &ref, 1,
				     "%s -> %s: neither from nor to an address of NAT %s",
				     ck_addr_str(p->src, a), ck_addr_str(p->dst, b), n->name);
	}
	ck_row_seen(c->rep, row, "%zu IPv4 packets on %s", ip, w->file);
}

/* --- the model: mappings as the captures show them ------------------------------ */

struct mmap {
	uint8_t proto;
	bool ext_known;
	bool replied, replied_maybe; /* an answer passed (surely, maybe) */
	struct ck_ep in, key, ext;
	int64_t created, used;	/* made, last surely refreshed */
	int64_t exp_lo, exp_hi; /* it surely lives until, may live until */
	int32_t prev_key;	/* the older mapping of the same key, or -1 */
	int flush_line;		/* ended by the flush on this events.jsonl line */
	int64_t flushed_at;	/* alive at a flush then (0: none since its last use) */
	struct ck_ref first, last;
	struct ck_ep *perm; /* where it sent: what its filter lets in */
	size_t n_perm, cap_perm;
};

/* A table of (k1, k2) -> int32, open addressing. */
struct tab {
	uint64_t *k1, *k2;
	int32_t *v;
	size_t cap, n;
};

struct resv {
	int64_t t; /* an unanswered arrival that reserved the pair */
};

struct model {
	struct ck_natcheck *c;
	const struct topo_nat *nat;
	const struct topo_nat_behaviour *b; /* &bcur */
	struct topo_nat_behaviour bcur;	    /* the topology's, as settings changed it */
	int64_t slack;
	struct mmap *m;
	size_t n, cap;
	struct tab by_key, by_ext, by_resv;
	struct resv *resv;
	size_t n_resv;
	struct ck_ports *ports;
	struct ck_ep cur_remote; /* the remote of the mapping being made */
	/* for the table */
	unsigned long made, used_after, arrivals_after, refused, hp_back, flushed, settings;
};

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static int tab_grow(struct tab *t)
{
	struct tab n = {0};
	size_t i;

	n.cap = t->cap ? t->cap * 2 : 256;
	n.k1 = calloc(n.cap, sizeof(*n.k1));
	n.k2 = calloc(n.cap, sizeof(*n.k2));
	n.v = malloc(n.cap * sizeof(*n.v));
	if (!n.k1 || !n.k2 || !n.v) {
		free(n.k1);
		free(n.k2);
		free(n.v);
		return -ENOMEM;
	}
	for (i = 0; i < n.cap; i++)
		n.v[i] = -1;
	for (i = 0; i < t->cap; i++) {
		size_t j;

		if (t->v[i] < 0)
			continue;
		for (j = mix(t->k1[i] ^ mix(t->k2[i])) & (n.cap - 1); n.v[j] >= 0;
		     j = (j + 1) & (n.cap - 1))
			;
		n.k1[j] = t->k1[i];
		n.k2[j] = t->k2[i];
		n.v[j] = t->v[i];
	}
	n.n = t->n;
	free(t->k1);
	free(t->k2);
	free(t->v);
	*t = n;
	return 0;
}

/* The slot of (k1, k2): its own, or the empty one it would take. */
static size_t tab_slot(const struct tab *t, uint64_t k1, uint64_t k2)
{
	size_t j;

	for (j = mix(k1 ^ mix(k2)) & (t->cap - 1); t->v[j] >= 0; j = (j + 1) & (t->cap - 1))
		if (t->k1[j] == k1 && t->k2[j] == k2)
			break;
	return j;
}

static int32_t tab_get(const struct tab *t, uint64_t k1, uint64_t k2)
{
	return t->cap ? t->v[tab_slot(t, k1, k2)] : -1;
}

static int tab_put(struct tab *t, uint64_t k1, uint64_t k2, int32_t v)
{
	size_t j;

	if ((t->n + 1) * 2 > t->cap && tab_grow(t) < 0)
		return -ENOMEM;
	j = tab_slot(t, k1, k2);
	if (t->v[j] < 0)
		t->n++;
	t->k1[j] = k1;
	t->k2[j] = k2;
	t->v[j] = v;
	return 0;
}

static void tab_free(struct tab *t)
{
	free(t->k1);
	free(t->k2);
	free(t->v);
}

static uint64_t ep_k(uint8_t proto, struct ck_ep e)
{
	return (uint64_t)proto << 48 | (uint64_t)e.port << 32 | e.addr;
}

static bool ep_eq(struct ck_ep a, struct ck_ep b)
{
	return a.addr == b.addr && a.port == b.port;
}

/* RFC 4787 §4.1: the remote part of a mapping's key. An echo's identifier
 * plays both ports (RFC 5508 REQ-3). */
static struct ck_ep map_key(const struct model *md, struct ck_ep remote)
{
	switch (md->b->mapping) {
	case TOPO_MAP_EIM:
		return (struct ck_ep){0, 0};
	case TOPO_MAP_ADM:
		return (struct ck_ep){remote.addr, 0};
	default:
		return remote;
	}
}

/* What filtering remembers of a remote: ICMP has no port. */
static struct ck_ep perm_of(uint8_t proto, struct ck_ep remote)
{
	return (struct ck_ep){remote.addr, proto == CK_PROTO_ICMP ? 0 : remote.port};
}

static struct mmap *mm(struct model *md, int32_t i)
{
	return i >= 0 ? &md->m[i] : NULL;
}

static bool alive_sure(const struct model *md, const struct mmap *m, int64_t t)
{
	return t + md->slack <= m->exp_lo;
}

static bool dead_sure(const struct model *md, const struct mmap *m, int64_t t)
{
	return t > m->exp_hi + md->slack;
}

/* How long a refresh at t keeps m: at least *lo, at most *hi. */
static void lifetimes(const struct model *md, const struct mmap *m, int64_t t, int64_t *lo,
		      int64_t *hi)
{
	const struct topo_nat_behaviour *b = md->b;
	int64_t tu = b->unreplied_ns ? b->unreplied_ns : b->timeout_ns, tr = b->timeout_ns;
	bool old = t - m->created >= CK_STREAM_AGE_NS;

	if (m->proto == CK_PROTO_TCP) {
		*lo = CK_TCP_TRANSITORY_NS;
		*hi = CK_TCP_ESTABLISHED_NS;
	} else if (m->proto == CK_PROTO_ICMP) {
		*lo = *hi = CK_ICMP_TIMEOUT_NS;
	} else if (m->replied && old) {
		*lo = *hi = tr;
	} else if ((m->replied || m->replied_maybe) && old) {
		*lo = tu < tr ? tu : tr;
		*hi = tu < tr ? tr : tu;
	} else {
		*lo = *hi = tu;
	}
}

/* RFC 4787 REQ-6: traffic refreshes a mapping; sure says the capture shows
 * it did, else it may have (an arrival that passed the NAT but was not
 * delivered). */
static void refresh(const struct model *md, struct mmap *m, int64_t t, bool sure)
{
	int64_t lo, hi;

	if (m->flush_line && !sure)
		return; /* an arrival does not bring back a flushed mapping */
	lifetimes(md, m, t, &lo, &hi);
	if (sure) {
		m->exp_lo = t + lo;
		m->used = t;
		m->flush_line = 0; /* it lived on */
	}
	if (t + hi > m->exp_hi)
		m->exp_hi = t + hi;
}

static int perm_add(struct mmap *m, struct ck_ep p)
{
	struct ck_ep *n;
	size_t i;

	for (i = 0; i < m->n_perm; i++)
		if (ep_eq(m->perm[i], p))
			return 0;
	if (m->n_perm == m->cap_perm) {
		m->cap_perm = m->cap_perm ? m->cap_perm * 2 : 4;
		if (!(n = realloc(m->perm, m->cap_perm * sizeof(*n))))
			return -ENOMEM;
		m->perm = n;
	}
	m->perm[m->n_perm++] = p;
	return 0;
}

/* RFC 4787 §5: may a packet from remote pass m's filter? */
static bool filter_allows(const struct model *md, const struct mmap *m, struct ck_ep remote)
{
	struct ck_ep p = perm_of(m->proto, remote);
	size_t i;

	if (md->b->filtering == TOPO_MAP_EIM)
		return true;
	for (i = 0; i < m->n_perm; i++)
		if (m->perm[i].addr == p.addr &&
		    (md->b->filtering == TOPO_MAP_ADM || m->perm[i].port == p.port))
			return true;
	return false;
}

static const char *filter_name(const struct model *md)
{
	return topo_nat_map_name(md->b->filtering);
}

static int32_t key_get(const struct model *md, uint8_t proto, struct ck_ep in, struct ck_ep key)
{
	return tab_get(&md->by_key, ep_k(proto, in), ep_k(0, key));
}

static struct mmap *ext_get(struct model *md, uint8_t proto, struct ck_ep ext)
{
	return mm(md, tab_get(&md->by_ext, ep_k(proto, ext), 0));
}

/* A new mapping of in (key) made at t by the packet at wan/inside; its
 * external endpoint ext when known. NULL on ENOMEM. */
static struct mmap *map_new(struct model *md, uint8_t proto, struct ck_ep in, struct ck_ep key,
			    const struct ck_ep *ext, const struct ck_ev *e)
{
	int32_t prev = key_get(md, proto, in, key);
	struct mmap *n;

	if (md->n == md->cap) {
		md->cap = md->cap ? md->cap * 2 : 256;
		if (!(n = realloc(md->m, md->cap * sizeof(*n))))
			return NULL;
		md->m = n;
	}
	n = &md->m[md->n];
	memset(n, 0, sizeof(*n));
	n->proto = proto;
	n->in = in;
	n->key = key;
	n->created = e->t_ns;
	n->prev_key = prev;
	n->first = n->last = e->wan.file ? e->wan : e->inside;
	refresh(md, n, e->t_ns, true);
	if (tab_put(&md->by_key, ep_k(proto, in), ep_k(0, key), (int32_t)md->n) < 0)
		return NULL;
	md->made++;
	if (ext) {
		n->ext = *ext;
		n->ext_known = true;
		if (tab_put(&md->by_ext, ep_k(proto, *ext), 0, (int32_t)md->n) < 0)
			return NULL;
	}
	md->n++;
	return n;
}

/* The ports held callback: may (proto, ea:port) be taken at t? */
static bool held(void *ctx, uint8_t proto, uint32_t ea, uint16_t port, int64_t t)
{
	struct model *md = ctx;
	const struct ck_ep ext = {ea, port};
	struct mmap *m = ext_get(md, proto, ext);
	int32_t r;

	if (m && !dead_sure(md, m, t))
		return true;
	if (!md->b->inbound_reserves)
		return false;
	r = tab_get(&md->by_resv, ep_k(proto, ext), ep_k(0, md->cur_remote));
	return r >= 0 && t <= md->resv[r].t +
				  (md->b->unreplied_ns ? md->b->unreplied_ns : md->b->timeout_ns) +
				  md->slack;
}

static void ports_check(struct model *md, const struct mmap *n, const struct ck_ev *e,
			struct ck_ep remote)
{
	struct ck_newmap nm = {
	    .proto = n->proto,
	    .in = n->in,
	    .ext = n->ext,
	    .remote = remote,
	    .t_ns = n->created,
	    .until_lo_ns = n->exp_lo,
	    .until_hi_ns = n->exp_hi,
	    .wan = e->wan,
	    .inside = e->inside,
	};

	md->cur_remote = remote;
	ck_ports_new_mapping(md->ports, md->c->rep, md->c->row[CK_R_PORTS], &nm, held, md);
}

/* --- replaying the events ---------------------------------------------------------- */

/* "IN -> EXT [for KEY] (made by FILE #N, last used by FILE #M)" */
static void describe(const struct mmap *m, char *buf, size_t len)
{
	char a[CK_EP_STR], b[CK_EP_STR], k[CK_EP_STR + 8] = "";

	if (m->key.addr && m->key.port)
		snprintf(k, sizeof(k), " for %s", ck_ep_str(m->key, a));
	else if (m->key.addr)
		snprintf(k, sizeof(k), " for %s", ck_addr_str(m->key.addr, a));
	snprintf(buf, len, "%s -> %s%s (made by %s #%u, last used by %s #%u)", ck_ep_str(m->in, a),
		 m->ext_known ? ck_ep_str(m->ext, b) : "?", k, m->first.file, m->first.no,
		 m->last.file, m->last.no);
}

/* How m ended: "timed out", or "was flushed (events.jsonl line N)". */
static const char *ended(const struct mmap *m, char *buf, size_t len)
{
	if (!m->flush_line)
		return "timed out";
	snprintf(buf, len, "was flushed (events.jsonl line %d)", m->flush_line);
	return buf;
}

/* "a:p, b:q and 3 more" of where m sent, or "nowhere". */
static void perms_str(const struct mmap *m, char *buf, size_t len)
{
	char a[CK_EP_STR];
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < m->n_perm && i < 3 && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
					 m->perm[i].port ? ck_ep_str(m->perm[i], a)
							 : ck_addr_str(m->perm[i].addr, a));
	if (m->n_perm > 3 && used < len)
		snprintf(buf + used, len - used, " and %zu more", m->n_perm - 3);
	if (!m->n_perm)
		snprintf(buf, len, "nowhere");
}

/* With inbound-reserves (Linux) an endpoint may hold several mappings: a
 * packet takes the one already talking to its remote, else the newest. */
static struct mmap *reserves_pick(struct model *md, int32_t i, struct ck_ep remote, int64_t t,
				  bool *by_perm)
{
	struct mmap *newest = mm(md, i), *m;
	struct ck_ep p;
	size_t k;

	*by_perm = false;
	for (m = newest; m; m = mm(md, m->prev_key)) {
		if (dead_sure(md, m, t))
			continue;
		p = perm_of(m->proto, remote);
		for (k = 0; k < m->n_perm; k++)
			if (ep_eq(m->perm[k], p)) {
				*by_perm = true;
				return m;
			}
	}
	return newest;
}

/* Whether an unanswered arrival from remote reserved m's port for it. */
static bool reserved(const struct model *md, const struct mmap *m, struct ck_ep remote, int64_t t)
{
	int32_t r = tab_get(&md->by_resv, ep_k(m->proto, m->ext), ep_k(0, remote));
	int64_t life = md->b->unreplied_ns ? md->b->unreplied_ns : md->b->timeout_ns;

	return r >= 0 && md->resv[r].t <= t && t <= md->resv[r].t + life + md->slack;
}

static int use(struct mmap *m, const struct model *md, const struct ck_ev *e, struct ck_ep remote)
{
	if (m->flushed_at && e->t_ns >= m->flushed_at) {
		/* the NAT made it again after the flush, on the same endpoint
		 * (or it lived on): its filter knows only what it sends to now,
		 * and whether it was answered, only maybe */
		m->flushed_at = 0;
		m->n_perm = 0;
		m->created = e->t_ns;
		m->replied_maybe = m->replied_maybe || m->replied;
		m->replied = false;
	}
	refresh(md, m, e->t_ns, true);
	m->last = e->wan.file ? e->wan : e->inside;
	return perm_add(m, perm_of(m->proto, remote));
}

/* A mapping changed while the old one surely lived. */
static void mapping_changed(struct model *md, const struct mmap *m, const struct ck_ev *e)
{
	const struct ck_ref refs[] = {e->wan, e->inside, m->last};
	char a[CK_EP_STR], b[CK_EP_STR], c[CK_EP_STR], d[200];
	static const char *const rule[TOPO_MAP_COUNT] = {
	    "one external endpoint per inside endpoint, whatever the destination",
	    "one per inside endpoint and destination address",
	    "one per inside endpoint and destination address and port",
	};

	describe(m, d, sizeof(d));
	ck_violation(md->c->rep, md->c->row[CK_R_MAPPING], refs, 3,
		     "%s %s -> %s left as %s, but its mapping %s lived until at least %+.3f s "
		     "(%s: %s)",
		     ck_proto_name(e->proto), ck_ep_str(e->in, a), ck_ep_str(e->remote, b),
		     ck_ep_str(e->ext, c), d, (double)(m->exp_lo - e->t_ns) / NATBED_NS_PER_S,
		     topo_nat_map_name(md->b->mapping), rule[md->b->mapping]);
}

/* RFC 4787 REQ-3: an external endpoint is never shared by two mappings. */
static void shared_check(struct model *md, const struct ck_ev *e, const struct mmap *self)
{
	struct mmap *o = ext_get(md, e->proto, e->ext);
	struct ck_ref refs[] = {e->wan, e->inside, {0}};
	char a[CK_EP_STR], b[CK_EP_STR], c[CK_EP_STR], d[200];

	if (!o || o == self || dead_sure(md, o, e->t_ns) || !o->in.addr)
		return;
	if (!alive_sure(md, o, e->t_ns)) {
		o->exp_lo = o->exp_hi = e->t_ns; /* it ended: the port was taken again */
		return;
	}
	if (md->b->inbound_reserves && ep_eq(o->in, e->in))
		return;
	describe(o, d, sizeof(d));
	refs[2] = o->last;
	ck_violation(md->c->rep, md->c->row[CK_R_MAPPING], refs, 3,
		     "%s -> %s left as %s, which mapping %s still held (RFC 4787 REQ-3: never "
		     "shared)",
		     ck_ep_str(e->in, a), ck_ep_str(e->remote, c), ck_ep_str(e->ext, b), d);
}

/* A packet left from an endpoint no inside capture shows (unpaired): its
 * external endpoint is held by a mapping the model cannot name. */
static int out_unpaired(struct model *md, const struct ck_ev *e)
{
	struct mmap *o = ext_get(md, e->proto, e->ext);
	const struct ck_ep none = {0, 0};

	if (o && !dead_sure(md, o, e->t_ns)) {
		refresh(md, o, e->t_ns, false);
		return 0;
	}
	if (!(o = map_new(md, e->proto, none, e->remote, &e->ext, e)))
		return -ENOMEM;
	md->made--; /* not one the table counts */
	ck_ports_unknown(md->ports, e->proto, o->exp_hi);
	return 0;
}

static int on_out(struct model *md, const struct ck_ev *e)
{
	const struct ck_ep key = map_key(md, e->remote);
	struct mmap *m = mm(md, key_get(md, e->proto, e->in, key)), *n;
	bool by_perm = false;
	char a[CK_EP_STR], b[CK_EP_STR], d[200];

	if (!e->in.addr)
		return out_unpaired(md, e);
	if (m && md->b->inbound_reserves)
		m = reserves_pick(md, key_get(md, e->proto, e->in, key), e->remote, e->t_ns,
				  &by_perm);
	if (m && !dead_sure(md, m, e->t_ns)) {
		if (m->ext_known && ep_eq(m->ext, e->ext))
			return use(m, md, e, e->remote);
		if (!m->ext_known) { /* made by a hairpinned packet: now we see it */
			m->ext = e->ext;
			m->ext_known = true;
			if (tab_put(&md->by_ext, ep_k(e->proto, e->ext), 0, (int32_t)(m - md->m)) <
			    0)
				return -ENOMEM;
			ports_check(md, m, e, e->remote);
			return use(m, md, e, e->remote);
		}
		if (alive_sure(md, m, e->t_ns) &&
		    !(md->b->inbound_reserves && !by_perm && reserved(md, m, e->remote, e->t_ns)))
			mapping_changed(md, m, e);
		else if (!md->b->inbound_reserves)
			m->exp_lo = m->exp_hi = e->t_ns; /* it ended: a new one is made */
	} else if (m && m->ext_known && ep_eq(m->ext, e->ext) &&
		   md->b->ports == TOPO_PORTS_SEQUENTIAL && !md->b->port_block) {
		const struct ck_ref refs[] = {e->wan, e->inside, m->last};
		char how[64];

		describe(m, d, sizeof(d));
		ck_violation(
		    md->c->rep, md->c->row[CK_R_TIMEOUT], refs, 3,
		    "%s left as %s again %.3f s after its mapping %s %s: sequential "
		    "ports give a new mapping the next port",
		    ck_ep_str(e->in, a), ck_ep_str(e->ext, b),
		    (double)(e->t_ns - m->exp_hi) / NATBED_NS_PER_S, d, ended(m, how, sizeof(how)));
	}
	if (m && dead_sure(md, m, e->t_ns) && !m->flush_line)
		md->used_after++; /* made again after its timeout */
	shared_check(md, e, m);
	if (!(n = map_new(md, e->proto, e->in, key, NULL, e)))
		return -ENOMEM;
	n->ext = e->ext;
	n->ext_known = true;
	ports_check(md, n, e, e->remote);
	if (tab_put(&md->by_ext, ep_k(e->proto, e->ext), 0, (int32_t)(n - md->m)) < 0)
		return -ENOMEM;
	return perm_add(n, perm_of(n->proto, e->remote));
}

static void on_in_delivered(struct model *md, struct mmap *o, const struct ck_ev *e)
{
	const struct ck_ref refs[] = {e->wan, e->inside, o ? o->last : (struct ck_ref){0}};
	char a[CK_EP_STR], b[CK_EP_STR], c[CK_EP_STR], d[200], p[100];

	if (!o || !o->in.addr) {
		if (!o)
			ck_violation(md->c->rep, md->c->row[CK_R_FILTERING], refs, 2,
				     "%s reached %s through %s, which no mapping held",
				     ck_ep_str(e->remote, a), ck_ep_str(e->in, b),
				     ck_ep_str(e->ext, c));
		return;
	}
	describe(o, d, sizeof(d));
	if (dead_sure(md, o, e->t_ns)) {
		char how[64];

		md->arrivals_after++;
		ck_violation(md->c->rep, md->c->row[CK_R_TIMEOUT], refs, 3,
			     "%s reached %s through %s %.3f s after its mapping %s %s",
			     ck_ep_str(e->remote, a), ck_ep_str(e->in, b), ck_ep_str(e->ext, c),
			     (double)(e->t_ns - o->exp_hi) / NATBED_NS_PER_S, d,
			     ended(o, how, sizeof(how)));
		return;
	}
	if (!ep_eq(o->in, e->in))
		ck_violation(md->c->rep, md->c->row[CK_R_MAPPING], refs, 3,
			     "%s to %s was delivered to %s, but %s maps %s",
			     ck_ep_str(e->remote, a), ck_ep_str(e->ext, c), ck_ep_str(e->in, b),
			     ck_ep_str(e->ext, c), d);
	if (!filter_allows(md, o, e->remote)) {
		perms_str(o, p, sizeof(p));
		ck_violation(md->c->rep, md->c->row[CK_R_FILTERING], refs, 3,
			     "%s reached %s through %s, but the mapping %s had sent only to %s (%s "
			     "filtering)",
			     ck_ep_str(e->remote, a), ck_ep_str(e->in, b), ck_ep_str(e->ext, c), d,
			     p, filter_name(md));
	}
	o->replied = true;
	if (md->b->refresh_inbound || o->proto == CK_PROTO_TCP)
		refresh(md, o, e->t_ns, true);
}

static int on_in(struct model *md, const struct ck_ev *e)
{
	struct mmap *o = ext_get(md, e->proto, e->ext);
	int32_t r;

	if (e->delivered) {
		on_in_delivered(md, o, e);
		return 0;
	}
	md->refused++;
	if (o && o->in.addr && !dead_sure(md, o, e->t_ns) && filter_allows(md, o, e->remote)) {
		/* it may have passed and been lost behind the NAT */
		o->replied_maybe = true;
		if (md->b->refresh_inbound || o->proto == CK_PROTO_TCP)
			refresh(md, o, e->t_ns, false);
		return 0;
	}
	if (!md->b->inbound_reserves || e->proto == CK_PROTO_ICMP)
		return 0;
	/* Linux: the refused arrival holds its (remote, port) pair */
	r = tab_get(&md->by_resv, ep_k(e->proto, e->ext), ep_k(0, e->remote));
	if (r < 0) {
		struct resv *n = realloc(md->resv, (md->n_resv + 1) * sizeof(*n));

		if (!n)
			return -ENOMEM;
		md->resv = n;
		r = (int32_t)md->n_resv++;
		if (tab_put(&md->by_resv, ep_k(e->proto, e->ext), ep_k(0, e->remote), r) < 0)
			return -ENOMEM;
	}
	md->resv[r].t = e->t_ns;
	return 0;
}

/* An inside host sent to the NAT's own address: it leaves through a
 * mapping like any packet, and comes back in only when the NAT hairpins
 * (RFC 4787 REQ-9), with the sender's external endpoint as source. */
static struct mmap *hp_sender(struct model *md, const struct ck_ev *e)
{
	const struct ck_ep key = map_key(md, e->remote);
	struct mmap *m = mm(md, key_get(md, e->proto, e->in, key));
	const struct ck_ep *learnt = NULL;

	if (e->delivered && ck_nat_public(md->nat, e->hp_src.addr))
		learnt = &e->hp_src;
	if (m && !dead_sure(md, m, e->t_ns)) {
		if (learnt && !m->ext_known) {
			m->ext = *learnt;
			m->ext_known = true;
			if (tab_put(&md->by_ext, ep_k(e->proto, *learnt), 0, (int32_t)(m - md->m)) <
			    0)
				return NULL;
		}
		if (use(m, md, e, e->remote) < 0)
			return NULL;
		return m;
	}
	if (!(m = map_new(md, e->proto, e->in, key, learnt, e)))
		return NULL;
	if (perm_add(m, perm_of(m->proto, e->remote)) < 0)
		return NULL;
	if (learnt)
		ports_check(md, m, e, e->remote);
	else
		ck_ports_unknown(md->ports, e->proto, m->exp_hi);
	return m;
}

static void hp_delivered(struct model *md, const struct mmap *m, struct mmap *o,
			 const struct ck_ev *e)
{
	const struct ck_ref refs[] = {e->inside, e->inside2, o ? o->last : (struct ck_ref){0}};
	const int row = md->c->row[CK_R_HAIRPIN];
	char a[CK_EP_STR], b[CK_EP_STR], c[CK_EP_STR], d[200];

	md->hp_back++;
	if (!md->b->hairpin) {
		ck_violation(md->c->rep, row, refs, 2,
			     "%s sent to %s and it came back in to %s, but hairpin is off",
			     ck_ep_str(e->in, a), ck_ep_str(e->remote, b), ck_ep_str(e->hp_to, c));
		return;
	}
	if (m->ext_known && !ep_eq(m->ext, e->hp_src))
		ck_violation(md->c->rep, row, refs, 2,
			     "%s came back from %s, not from the sender's external endpoint %s "
			     "(RFC 4787 REQ-9)",
			     ck_ep_str(e->in, a), ck_ep_str(e->hp_src, b), ck_ep_str(m->ext, c));
	if (!o || dead_sure(md, o, e->t_ns) || !o->in.addr) {
		if (!o || o->in.addr)
			ck_violation(md->c->rep, row, refs, 2,
				     "%s hairpinned to %s, which no mapping held",
				     ck_ep_str(e->in, a), ck_ep_str(e->remote, b));
		return;
	}
	describe(o, d, sizeof(d));
	if (!ep_eq(o->in, e->hp_to))
		ck_violation(md->c->rep, row, refs, 3, "%s hairpinned to %s went to %s, not to %s",
			     ck_ep_str(e->in, a), ck_ep_str(e->remote, b), ck_ep_str(e->hp_to, c),
			     d);
	else if (!filter_allows(md, o, e->hp_src))
		ck_violation(md->c->rep, md->c->row[CK_R_FILTERING], refs, 3,
			     "%s hairpinned in from %s, but the mapping %s never sent to it (%s "
			     "filtering)",
			     ck_ep_str(e->hp_to, a), ck_ep_str(e->hp_src, b), d, filter_name(md));
	o->replied = true;
	if (md->b->refresh_inbound)
		refresh(md, o, e->t_ns, true);
}

/* Hairpin on, and the packet should have come back: its target surely
 * lived and its filter let the sender in. */
static void hp_missing(struct model *md, const struct mmap *m, const struct mmap *o,
		       const struct ck_ev *e)
{
	const struct ck_ref refs[] = {e->inside, o->last};
	char a[CK_EP_STR], b[CK_EP_STR], d[200];
	bool decided = md->b->filtering == TOPO_MAP_EIM ||
		       (m->ext_known && filter_allows(md, o, m->ext)) ||
		       (md->b->filtering == TOPO_MAP_ADM &&
			filter_allows(md, o, (struct ck_ep){e->remote.addr, 0}));

	if (!decided || !alive_sure(md, o, e->t_ns) || !o->in.addr)
		return;
	if (ck_evlog_dropped(md->c->evlog, e->proto, e->in.addr, e->in.port, e->remote.addr,
			     e->remote.port) ||
	    (m->ext_known && ck_evlog_dropped(md->c->evlog, e->proto, m->ext.addr, m->ext.port,
					      o->in.addr, o->in.port)))
		return;
	describe(o, d, sizeof(d));
	ck_violation(md->c->rep, md->c->row[CK_R_HAIRPIN], refs, 2,
		     "%s sent to %s, which mapping %s held, and nothing came back in though "
		     "hairpin is on (no drop of it in events.jsonl)",
		     ck_ep_str(e->in, a), ck_ep_str(e->remote, b), d);
}

static int on_hp_send(struct model *md, const struct ck_ev *e)
{
	struct mmap *m = hp_sender(md, e), *o;

	if (!m)
		return -ENOMEM;
	o = ext_get(md, e->proto, e->remote);
	if (e->delivered)
		hp_delivered(md, m, o, e);
	else if (md->b->hairpin && o && !dead_sure(md, o, e->t_ns))
		hp_missing(md, m, o, e);
	return 0;
}

static void on_orphan(struct model *md, const struct ck_ev *e)
{
	char a[CK_EP_STR], b[CK_EP_STR];

	if (e->type == CK_EV_ORPHAN) {
		ck_violation(md->c->rep, md->c->row[CK_R_FILTERING], &e->inside, 1,
			     "%s reached %s but never arrived at NAT %s's outside (%s)",
			     ck_ep_str(e->remote, a), ck_ep_str(e->in, b), md->nat->name,
			     md->c->v->wan->file);
		return;
	}
	md->hp_back++;
	ck_violation(md->c->rep, md->c->row[CK_R_HAIRPIN], &e->inside, 1,
		     "%s came in to %s from NAT %s's own address, but no inside host sent it%s",
		     ck_ep_str(e->remote, a), ck_ep_str(e->in, b), md->nat->name,
		     md->b->hairpin ? "" : " (and hairpin is off)");
}

/* The NAT lost every mapping at t (natbed ctl nat NAME flush, a reboot;
 * emulator/nat.c's nat_flush), logged on events.jsonl's line: each alive
 * then ends then, and the ports and reservations they held are free. One
 * surely refreshed within the slack before may have been refreshed after
 * (made again at once, it may still be there): it only may have ended. */
static void flush_at(struct model *md, int64_t t, int line)
{
	int64_t life = md->b->unreplied_ns ? md->b->unreplied_ns : md->b->timeout_ns;
	size_t i;

	for (i = 0; i < md->n; i++) {
		struct mmap *m = &md->m[i];

		if (m->exp_hi < t)
			continue; /* it had ended */
		m->flushed_at = t;
		if (m->exp_lo > t)
			m->exp_lo = t;
		if (m->used + md->slack < t) {
			m->exp_hi = t;
			m->flush_line = line;
		}
	}
	for (i = 0; i < md->n_resv; i++)
		if (md->resv[i].t > t - life)
			md->resv[i].t = t - life; /* it ends at the flush */
	ck_ports_flush(md->ports, t);
}

/* A change of the NAT at its time: a flush, or a setting (natbed ctl nat
 * NAME set, emulator/nat.c's nat_set and nat_reshape): the behaviour is
 * the new one from then on; a new mapping behaviour, or new port blocks,
 * flush the NAT first, and a new port range starts the port counter
 * again. (Rules are not judged within the slack of a setting's time:
 * replay.) */
static void change_at(struct model *md, const struct ck_natchange *ch)
{
	struct topo_nat_behaviour old = md->bcur;
	const struct topo_nat_behaviour *b = &md->bcur;
	bool range;

	if (!ch->set) {
		flush_at(md, ch->t_ns, ch->line);
		md->flushed++;
		return;
	}
	md->bcur = ch->b;
	md->settings++;
	range = b->port_lo != old.port_lo || b->port_hi != old.port_hi;
	if (b->mapping != old.mapping || (range && (b->port_block || old.port_block)))
		flush_at(md, ch->t_ns, ch->line);
	if (range) {
		ck_ports_unknown(md->ports, CK_PROTO_UDP, ch->t_ns);
		ck_ports_unknown(md->ports, CK_PROTO_TCP, ch->t_ns);
		ck_ports_unknown(md->ports, CK_PROTO_ICMP, ch->t_ns);
	}
}

/* Whether t is within the slack of a setting's change: what the NAT did
 * then may have been under either behaviour. */
static bool near_setting(const struct model *md, int64_t t)
{
	size_t i;

	for (i = 0; i < md->c->n_changes; i++)
		if (md->c->changes[i].set && t >= md->c->changes[i].t_ns - md->slack &&
		    t <= md->c->changes[i].t_ns + md->slack)
			return true;
	return false;
}

static int replay(struct model *md)
{
	const struct ck_natview *v = md->c->v;
	size_t i, f = 0;
	int rc = 0;

	for (i = 0; i < v->n_ev && rc == 0; i++) {
		const struct ck_ev *e = &v->ev[i];

		while (f < md->c->n_changes && md->c->changes[f].t_ns <= e->t_ns)
			change_at(md, &md->c->changes[f++]);
		ck_report_mute(md->c->rep, near_setting(md, e->t_ns));
		switch (e->type) {
		case CK_EV_OUT:
			rc = on_out(md, e);
			break;
		case CK_EV_IN:
			rc = on_in(md, e);
			break;
		case CK_EV_HP_SEND:
			rc = on_hp_send(md, e);
			break;
		default:
			on_orphan(md, e);
			break;
		}
	}
	ck_report_mute(md->c->rep, false);
	while (rc == 0 && f < md->c->n_changes) /* after the last packet: counted, named */
		change_at(md, &md->c->changes[f++]);
	return rc;
}

static void model_seen(struct model *md)
{
	const struct ck_natview *v = md->c->v;
	const struct topo_nat_behaviour *b = md->b;
	struct ck_report *rep = md->c->rep;
	char buf[128], fl[64] = "", st[32] = "";

	/* ", across 1 flush", ", across 2 settings", ", across 1 flush and 1 setting" */
	if (md->settings)
		snprintf(st, sizeof(st), "%lu setting%s", md->settings, md->settings == 1 ? "" : "s");
	if (md->flushed)
		snprintf(fl, sizeof(fl), ", across %lu flush%s%s%s", md->flushed,
			 md->flushed == 1 ? "" : "es", st[0] ? " and " : "", st);
	else if (st[0])
		snprintf(fl, sizeof(fl), ", across %s", st);
	if (v->pmap_left)
		ck_row_seen(rep, md->c->row[CK_R_MAPPING],
			    "%lu mappings (%s) from %zu of %zu packets out%s; %zu packets through "
			    "mappings granted by PCP or NAT-PMP left out",
			    md->made, topo_nat_map_name(b->mapping), v->out_matched, v->out_seen, fl,
			    v->pmap_left);
	else
		ck_row_seen(rep, md->c->row[CK_R_MAPPING],
			    "%lu mappings (%s) from %zu of %zu packets out%s", md->made,
			    topo_nat_map_name(b->mapping), v->out_matched, v->out_seen, fl);
	ck_row_seen(rep, md->c->row[CK_R_FILTERING], "%zu arrivals delivered, %lu not (%s)",
		    v->in_delivered, md->refused, topo_nat_map_name(b->filtering));
	ck_row_seen(rep, md->c->row[CK_R_HAIRPIN], "%s: %zu sent to the NAT's address, %lu back in",
		    b->hairpin ? "on" : "off", v->hairpin_sent, md->hp_back);
	ck_ports_seen(md->ports, buf, sizeof(buf));
	ck_row_seen(rep, md->c->row[CK_R_PORTS], "%s", buf);
	ck_row_seen(rep, md->c->row[CK_R_TIMEOUT],
		    "%.0f s%s: %lu mappings made again after it, %lu arrivals after it",
		    (double)b->timeout_ns / NATBED_NS_PER_S,
		    b->unreplied_ns ? " (unreplied less)" : "", md->used_after, md->arrivals_after);
}

int ck_rule_model(struct ck_natcheck *c)
{
	struct model md = {
	    .c = c,
	    .nat = &c->v->t->nats[c->v->nat],
	    .bcur = *c->b,
	    .slack = c->slack_ns,
	};
	size_t i;
	int rc = -ENOMEM;

	md.b = &md.bcur;
	if (!(md.ports = ck_ports_new(md.nat, md.b, c->slack_ns)))
		return -ENOMEM;
	if (tab_grow(&md.by_key) < 0 || tab_grow(&md.by_ext) < 0 || tab_grow(&md.by_resv) < 0)
		goto out;
	if ((rc = replay(&md)) == 0)
		model_seen(&md);
out:
	for (i = 0; i < md.n; i++)
		free(md.m[i].perm);
	free(md.m);
	free(md.resv);
	tab_free(&md.by_key);
	tab_free(&md.by_ext);
	tab_free(&md.by_resv);
	ck_ports_free(md.ports);
	return rc;
}
