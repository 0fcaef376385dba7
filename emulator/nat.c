#include "nat.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/rng.h"
#include "natbed/units.h"

#define NAT_BUCKETS	 4096 /* outbound hash chains */
#define NAT_PORTS	 65536
#define NAT_RANDOM_TRIES 32
#define NAT_FRAGS	 256 /* datagrams in fragments followed at once */

/* RFC 5382 §2.1: TCP state as far as timeouts care. */
enum nat_tcp { NAT_TCP_NONE, NAT_TCP_SYN, NAT_TCP_ESTABLISHED, NAT_TCP_CLOSING };

/* A remote endpoint the inside host sent to: what filtering checks. */
struct nat_perm {
	struct nat_perm *next;
	uint32_t addr; /* network order */
	uint16_t port; /* network order */
	uint8_t tcp;   /* enum nat_tcp, TCP only */
};

struct nat_map {
	struct nat *nat;
	struct nat_map *hnext; /* outbound hash chain */
	enum nat_proto proto;
	uint32_t int_addr; /* network order, as are the ports */
	uint16_t int_port;
	uint32_t key_addr; /* remote part of the mapping key: 0 for EIM */
	uint16_t key_port; /* 0 unless APDM */
	uint16_t ext_port;
	natbed_time_t created, expires;
	natbed_time_t armed; /* when expiry_ev is due */
	uint64_t expiry_ev;  /* scheduler event id */
	uint64_t pkts_out, pkts_in;
	struct nat_perm *perms;
};

/* A datagram in fragments: its later fragments carry no ports, so they are
 * translated like the first (RFC 4787 REQ-14), by IP identification. */
struct nat_frag {
	uint32_t src, dst; /* as the fragments arrive (network order) */
	uint16_t id;
	uint8_t proto;
	uint8_t outbound;
	uint32_t addr; /* what the translated address becomes */
	natbed_time_t expires;
};

struct nat {
	struct nat_cfg cfg;
	struct nat_frag frags[NAT_FRAGS];
	unsigned frag_next; /* the oldest slot: reused first */
	struct sched *s;
	struct nat_counters c;
	struct rng rng;
	struct nat_map *buckets[NAT_BUCKETS];
	struct nat_map *
	    *by_port[NAT_PROTO_COUNT]; /* by external port (host order); made on first use */
	size_t in_use[NAT_PROTO_COUNT];
	uint32_t next_port[NAT_PROTO_COUNT]; /* sequential, host order */
};

/* The mapping on external port (host order) of protocol p, or NULL. */
static struct nat_map *nat_at(const struct nat *n, int p, uint32_t port)
{
	return n->by_port[p] ? n->by_port[p][port] : NULL;
}

/* Protocol p's port table, made on first use: a NAT that never sees TCP
 * never pays for it. NULL when out of memory. */
static struct nat_map **nat_port_table(struct nat *n, int p)
{
	if (!n->by_port[p])
		n->by_port[p] = calloc(NAT_PORTS, sizeof(*n->by_port[p]));
	return n->by_port[p];
}

static const char *const nat_proto_names[NAT_PROTO_COUNT] = {"udp", "tcp", "icmp"};

const char *nat_verdict_name(enum nat_verdict v)
{
	static const char *const names[NAT_VERDICT_COUNT] = {
	    "pass",	   "no_mapping", "filtered",	     "port_exhaustion",
	    "unsupported", "not_inside", "fragment_timeout", "held_fragment",
	};
	return (unsigned)v < NAT_VERDICT_COUNT ? names[v] : "unknown";
}

bool nat_verdict_is_drop(enum nat_verdict v)
{
	return v != NAT_PASS && v != NAT_HOLD && (unsigned)v < NAT_VERDICT_COUNT;
}

void nat_cfg_from_topo(struct nat_cfg *cfg, const struct topo_nat *tn, uint64_t seed)
{
	uint32_t mask = tn->inside_len ? ~0u << (32 - tn->inside_len) : 0;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->name, sizeof(cfg->name), "%s", tn->name);
	cfg->mapping = tn->mapping;
	cfg->filtering = tn->filtering;
	cfg->ports = tn->ports;
	cfg->port_lo = tn->port_lo;
	cfg->port_hi = tn->port_hi;
	cfg->stride = tn->stride ? tn->stride : 1;
	cfg->parity = tn->parity;
	cfg->pool = tn->pool;
	cfg->refresh_inbound = tn->refresh_inbound;
	cfg->hairpin = tn->hairpin;
	cfg->udp_timeout_ns = tn->timeout_ns;
	cfg->tcp_established_ns = 7440 * NATBED_NS_PER_S;
	cfg->tcp_transitory_ns = 240 * NATBED_NS_PER_S;
	cfg->icmp_timeout_ns = 60 * NATBED_NS_PER_S;
	cfg->public_addr = tn->public_addr.s_addr;
	cfg->inside_net = tn->inside_net.s_addr;
	cfg->inside_mask = htonl(mask);
	cfg->seed = seed;
}

/* --- packet fields ------------------------------------------------------- */

/* Where a packet's ports (or ICMP echo id) live; NULL fields when absent. */
struct nat_l4 {
	enum nat_proto proto;
	uint16_t *sport, *dport; /* ICMP echo: both point at the id */
	uint16_t *csum;		 /* NULL: no checksum to update (UDP zero) */
	bool pseudo;		 /* checksum covers the pseudo-header */
};

static bool nat_icmp_is_echo(uint8_t type)
{
	return type == 8 || type == 0; /* request, reply */
}

static bool nat_icmp_is_error(uint8_t type)
{
	return type == 3 || type == 11 || type == 12; /* unreachable, time exceeded, param */
}

/* Fills l4 for a first fragment of UDP, TCP or ICMP echo. -1 otherwise. */
static int nat_l4_of(uint8_t proto, uint8_t *l4, size_t len, struct nat_l4 *out)
{
	memset(out, 0, sizeof(*out));
	if (!l4)
		return -1;
	if (proto == IPPROTO_UDP_ && len >= UDP_HLEN) {
		struct udp_hdr *u = (struct udp_hdr *)l4;

		out->proto = NAT_UDP;
		out->sport = &u->sport;
		out->dport = &u->dport;
		out->csum = u->csum ? &u->csum : NULL; /* RFC 768: zero means none */
		out->pseudo = true;
		return 0;
	}
	if (proto == IPPROTO_TCP_ && len >= TCP_MIN_HLEN) {
		struct tcp_hdr *t = (struct tcp_hdr *)l4;

		out->proto = NAT_TCP;
		out->sport = &t->sport;
		out->dport = &t->dport;
		out->csum = &t->csum;
		out->pseudo = true;
		return 0;
	}
	if (proto == IPPROTO_ICMP_ && len >= ICMP_HLEN && nat_icmp_is_echo(l4[0])) {
		struct icmp_hdr *ic = (struct icmp_hdr *)l4;

		/* RFC 5508 REQ-3: the query identifier plays the port */
		out->proto = NAT_ICMP;
		out->sport = out->dport = &ic->id;
		out->csum = &ic->csum;
		return 0;
	}
	return -1;
}

/* Rewrites an address field and a port field, keeping the IP header and the
 * L4 checksums right (RFC 1624 incremental update). */
static void nat_rewrite(struct ipv4_hdr *ip, uint32_t *addr_field, uint32_t new_addr,
			const struct nat_l4 *l4, uint16_t *port_field, uint16_t new_port)
{
	uint32_t old_addr = *addr_field;
	uint16_t old_port = *port_field;

	*addr_field = new_addr;
	ip_csum_update32(&ip->csum, old_addr, new_addr);
	*port_field = new_port;
	if (l4->csum) {
		if (l4->pseudo)
			l4_csum_update32(ip->proto, l4->csum, old_addr, new_addr);
		l4_csum_update16(ip->proto, l4->csum, old_port, new_port);
	}
}

/* --- the tables ---------------------------------------------------------- */

static size_t nat_hash(enum nat_proto p, uint32_t a, uint16_t port, uint32_t ka, uint16_t kp)
{
	uint64_t h = ((uint64_t)a << 32 | (uint64_t)port << 16 | kp) ^
		     ((uint64_t)ka * 0x9e3779b97f4a7c15ull);

	h ^= (uint64_t)p * 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	return (size_t)(h & (NAT_BUCKETS - 1));
}

/* The remote part of the mapping key for a packet to (ra, rp). */
static void nat_key(const struct nat *n, uint32_t ra, uint16_t rp, uint32_t *ka, uint16_t *kp)
{
	*ka = n->cfg.mapping == TOPO_MAP_EIM ? 0 : ra;
	*kp = n->cfg.mapping == TOPO_MAP_APDM ? rp : 0;
}

static struct nat_map *nat_find(const struct nat *n, enum nat_proto p, uint32_t a, uint16_t port,
				uint32_t ra, uint16_t rp)
{
	struct nat_map *m;
	uint32_t ka;
	uint16_t kp;

	nat_key(n, ra, rp, &ka, &kp);
	for (m = n->buckets[nat_hash(p, a, port, ka, kp)]; m; m = m->hnext)
		if (m->proto == p && m->int_addr == a && m->int_port == port && m->key_addr == ka &&
		    m->key_port == kp)
			return m;
	return NULL;
}

static uint32_t nat_range(const struct nat *n)
{
	return (uint32_t)n->cfg.port_hi - n->cfg.port_lo + 1;
}

static bool nat_port_ok(const struct nat *n, enum nat_proto p, uint32_t port, uint16_t want)
{
	if (nat_at(n, p, port))
		return false;
	/* RFC 4787 REQ-4: keep the parity of the internal port */
	return !n->cfg.parity || (port & 1) == (want & 1u);
}

/* A free external port (host order), or -1: REQ-3 never shares one. */
static int32_t nat_port_pick(struct nat *n, enum nat_proto p, uint16_t want)
{
	uint32_t lo = n->cfg.port_lo, range = nat_range(n), start, i, port;
	size_t pool = n->cfg.pool && n->cfg.pool < range ? n->cfg.pool : range;

	if (n->in_use[p] >= pool)
		return -1;
	switch (n->cfg.ports) {
	case TOPO_PORTS_PRESERVE:
		start = (want >= lo && want <= n->cfg.port_hi) ? want : lo;
		break;
	case TOPO_PORTS_SEQUENTIAL:
		start = n->next_port[p];
		for (i = 0; i < range; i++) {
			port = lo + (start - lo + i * n->cfg.stride) % range;
			if (nat_port_ok(n, p, port, want)) {
				n->next_port[p] = lo + (port - lo + n->cfg.stride) % range;
				return (int32_t)port;
			}
		}
		break;
	case TOPO_PORTS_RANDOM:
		for (i = 0; i < NAT_RANDOM_TRIES; i++) {
			port = lo + (uint32_t)rng_below(&n->rng, range);
			if (nat_port_ok(n, p, port, want))
				return (int32_t)port;
		}
		start = lo + (uint32_t)rng_below(&n->rng, range);
		break;
	default:
		start = lo;
	}
	/* preserve: the next free port after the wanted one (wrapping) */
	for (i = 0; i < range; i++) {
		port = lo + (start - lo + i) % range;
		if (nat_port_ok(n, p, port, want))
			return (int32_t)port;
	}
	return -1;
}

static void nat_perms_free(struct nat_perm *pm)
{
	struct nat_perm *next;

	for (; pm; pm = next) {
		next = pm->next;
		free(pm);
	}
}

static void nat_unlink(struct nat *n, struct nat_map *m)
{
	struct nat_map **pp =
	    &n->buckets[nat_hash(m->proto, m->int_addr, m->int_port, m->key_addr, m->key_port)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == m) {
			*pp = m->hnext;
			break;
		}
	}
	n->by_port[m->proto][ntohs(m->ext_port)] = NULL;
	n->in_use[m->proto]--;
	n->c.mappings_active--;
}

static void nat_map_free(struct nat *n, struct nat_map *m)
{
	nat_unlink(n, m);
	sched_cancel(n->s, m->expiry_ev);
	nat_perms_free(m->perms);
	free(m);
}

/* RFC 4787 REQ-5: a mapping lives until its timer runs out; refreshes move
 * `expires` and the event re-arms itself lazily, so a refresh costs no
 * scheduler work. */
static void nat_expiry_cb(void *arg, natbed_time_t now)
{
	struct nat_map *m = arg;
	struct nat *n = m->nat;

	if (m->expires > now) {
		m->expiry_ev = sched_at(n->s, m->expires, nat_expiry_cb, m);
		m->armed = m->expires;
		if (m->expiry_ev)
			return;
	}
	m->expiry_ev = 0;
	n->c.mappings_expired++;
	nat_map_free(n, m);
}

static natbed_time_t nat_timeout(const struct nat *n, const struct nat_map *m)
{
	const struct nat_perm *pm;
	int best = NAT_TCP_NONE;

	if (m->proto == NAT_UDP)
		return n->cfg.udp_timeout_ns;
	if (m->proto == NAT_ICMP)
		return n->cfg.icmp_timeout_ns;
	for (pm = m->perms; pm; pm = pm->next)
		if (pm->tcp == NAT_TCP_ESTABLISHED)
			best = NAT_TCP_ESTABLISHED;
	return best == NAT_TCP_ESTABLISHED ? n->cfg.tcp_established_ns : n->cfg.tcp_transitory_ns;
}

/* Moves m's expiry event to m->expires. On ENOMEM the old event stays: the
 * mapping then lives a little longer rather than never expiring. */
static void nat_rearm(struct nat *n, struct nat_map *m)
{
	uint64_t ev = sched_at(n->s, m->expires, nat_expiry_cb, m);

	if (!ev)
		return;
	sched_cancel(n->s, m->expiry_ev);
	m->expiry_ev = ev;
	m->armed = m->expires;
}

static void nat_refresh(struct nat *n, struct nat_map *m, natbed_time_t now)
{
	m->expires = now + nat_timeout(n, m);
	/* Lazy re-arm only moves the event later; a shorter timeout (RFC 5382:
	 * an established connection closing) must move it earlier. */
	if (m->expires < m->armed)
		nat_rearm(n, m);
}

static struct nat_map *nat_map_new(struct nat *n, enum nat_proto p, uint32_t a, uint16_t port,
				   uint32_t ra, uint16_t rp, natbed_time_t now)
{
	struct nat_map *m;
	int32_t ext = nat_port_pick(n, p, ntohs(port));
	size_t b;

	if (ext < 0 || !nat_port_table(n, p))
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->nat = n;
	m->proto = p;
	m->int_addr = a;
	m->int_port = port;
	nat_key(n, ra, rp, &m->key_addr, &m->key_port);
	m->ext_port = htons((uint16_t)ext);
	m->created = now;
	m->expires = now + nat_timeout(n, m);
	m->armed = m->expires;
	m->expiry_ev = sched_at(n->s, m->expires, nat_expiry_cb, m);
	if (!m->expiry_ev) {
		free(m);
		return NULL;
	}
	b = nat_hash(p, a, port, m->key_addr, m->key_port);
	m->hnext = n->buckets[b];
	n->buckets[b] = m;
	n->by_port[p][ext] = m;
	n->in_use[p]++;
	n->c.mappings_created++;
	n->c.mappings_active++;
	return m;
}

static struct nat_perm *nat_perm_find(struct nat_map *m, uint32_t addr, uint16_t port, bool by_port)
{
	struct nat_perm *pm;

	for (pm = m->perms; pm; pm = pm->next)
		if (pm->addr == addr && (!by_port || pm->port == port))
			return pm;
	return NULL;
}

static struct nat_perm *nat_perm_add(struct nat_map *m, uint32_t addr, uint16_t port)
{
	struct nat_perm *pm = nat_perm_find(m, addr, port, true);

	if (pm)
		return pm;
	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return NULL;
	pm->addr = addr;
	pm->port = port;
	pm->next = m->perms;
	m->perms = pm;
	return pm;
}

/* RFC 5382 §2.1 in brief: SYN opens, SYN+ACK back then ACK establishes,
 * FIN or RST starts closing. */
static void nat_tcp_track(struct nat_perm *pm, const uint8_t *l4, bool outbound)
{
	uint8_t fl = ((const struct tcp_hdr *)l4)->flags;

	if (!pm)
		return;
	if (fl & 0x05) /* FIN or RST */
		pm->tcp = NAT_TCP_CLOSING;
	else if ((fl & 0x02) && pm->tcp == NAT_TCP_NONE) /* SYN */
		pm->tcp = NAT_TCP_SYN;
	else if ((fl & 0x10) && pm->tcp == NAT_TCP_SYN && !outbound) /* their ACK */
		pm->tcp = NAT_TCP_ESTABLISHED;
	else if ((fl & 0x10) && pm->tcp == NAT_TCP_SYN && outbound && !(fl & 0x02))
		pm->tcp = NAT_TCP_ESTABLISHED;
}

/* --- ICMP errors (RFC 5508 REQ-4, RFC 4787 REQ-12) --------------------- */

/* The packet an ICMP error quotes: its IP header and first 8 L4 bytes. */
struct nat_quote {
	struct ipv4_hdr *ip;
	struct nat_l4 l4;
};

static int nat_quote_of(struct ip_view *v, struct nat_quote *q)
{
	uint8_t *inner = v->l4 + ICMP_HLEN;
	size_t len = v->l4_len - ICMP_HLEN, hlen;

	if (v->l4_len < ICMP_HLEN + IPV4_MIN_HLEN + 8)
		return -1;
	q->ip = (struct ipv4_hdr *)inner;
	hlen = (size_t)(q->ip->ver_ihl & 0x0f) * 4;
	if ((q->ip->ver_ihl >> 4) != 4 || hlen < IPV4_MIN_HLEN || len < hlen + 8)
		return -1;
	if (nat_l4_of(q->ip->proto, inner + hlen, len - hlen, &q->l4) < 0) {
		/* only 8 bytes of TCP are quoted: enough for the ports */
		if (q->ip->proto != IPPROTO_TCP_)
			return -1;
		memset(&q->l4, 0, sizeof(q->l4));
		q->l4.proto = NAT_TCP;
		q->l4.sport = (uint16_t *)(inner + hlen);
		q->l4.dport = (uint16_t *)(inner + hlen + 2);
	}
	/* RFC 5508 §4.2: the quoted L4 checksum follows the quoted header. An
	 * incremental update (RFC 1624) is right even when the error quotes only
	 * part of the datagram; a TCP checksum beyond the quote stays NULL. */
	return 0;
}

/* The whole ICMP message changed: recompute its checksum. */
static void nat_icmp_csum(struct ip_view *v)
{
	l4_csum_set(v);
}

/* An error from outside about a packet the NAT sent: the quoted packet's
 * source is our public endpoint; turn everything back to the inside host.
 * The mapping is neither refreshed nor removed (REQ-12). */
static enum nat_verdict nat_icmp_error_in(struct nat *n, struct ip_view *v)
{
	struct nat_quote q;
	struct nat_map *m;

	if (nat_quote_of(v, &q) < 0 || q.ip->src != n->cfg.public_addr)
		return NAT_DROP_UNSUPPORTED;
	m = nat_at(n, q.l4.proto, ntohs(*q.l4.sport));
	if (!m)
		return NAT_DROP_NO_MAPPING;
	nat_rewrite(q.ip, &q.ip->src, m->int_addr, &q.l4, q.l4.sport, m->int_port);
	/* the outer header: destination only, no ports */
	v->ip->dst = m->int_addr;
	ip_csum_set(v->ip, v->hlen);
	nat_icmp_csum(v);
	n->c.icmp_errors++;
	return NAT_PASS;
}

/* An error from an inside host about a packet that came in: the quoted
 * packet's destination is the inside endpoint; show the outside our public
 * endpoint instead. */
static enum nat_verdict nat_icmp_error_out(struct nat *n, struct ip_view *v)
{
	struct nat_quote q;
	struct nat_map *m;

	if (nat_quote_of(v, &q) < 0)
		return NAT_DROP_UNSUPPORTED;
	m = nat_find(n, q.l4.proto, q.ip->dst, *q.l4.dport, q.ip->src, *q.l4.sport);
	if (!m)
		return NAT_DROP_NO_MAPPING;
	nat_rewrite(q.ip, &q.ip->dst, n->cfg.public_addr, &q.l4, q.l4.dport, m->ext_port);
	v->ip->src = n->cfg.public_addr;
	ip_csum_set(v->ip, v->hlen);
	nat_icmp_csum(v);
	n->c.icmp_errors++;
	return NAT_PASS;
}

/* --- fragments (RFC 4787 REQ-14) ------------------------------------------ */

bool nat_frag_first(const struct ip_view *v)
{
	uint16_t f = ntohs(v->ip->frag);

	return (f & IPV4_FRAG_MF) && !(f & IPV4_FRAG_OFFSET_MASK);
}

static bool nat_frag_later(const struct ip_view *v)
{
	return (ntohs(v->ip->frag) & IPV4_FRAG_OFFSET_MASK) != 0;
}

/* Remembers how the first fragment (addresses as it arrived: src, dst) was
 * translated, so the rest of its datagram follows. */
static void nat_frag_note(struct nat *n, uint32_t src, uint32_t dst, const struct ip_view *v,
			  bool outbound, uint32_t addr, natbed_time_t now)
{
	struct nat_frag *fr = &n->frags[n->frag_next];

	n->frag_next = (n->frag_next + 1) % NAT_FRAGS;
	fr->src = src;
	fr->dst = dst;
	fr->id = v->ip->id;
	fr->proto = v->ip->proto;
	fr->outbound = outbound;
	fr->addr = addr;
	fr->expires = now + NAT_FRAG_TIMEOUT_NS;
}

/* A later fragment: rewrites the address its first fragment had rewritten.
 * One that comes before its first fragment (out of order) is NAT_HOLD: the
 * caller offers it again after the next first fragment passed. */
static enum nat_verdict nat_frag_follow(struct nat *n, struct ip_view *v, bool outbound,
					natbed_time_t now)
{
	uint32_t *field = outbound ? &v->ip->src : &v->ip->dst;
	size_t i;

	for (i = 0; i < NAT_FRAGS; i++) {
		const struct nat_frag *fr = &n->frags[i];

		if (fr->expires <= now || fr->outbound != outbound || fr->id != v->ip->id ||
		    fr->proto != v->ip->proto || fr->src != v->ip->src || fr->dst != v->ip->dst)
			continue;
		ip_csum_update32(&v->ip->csum, *field, fr->addr);
		*field = fr->addr;
		return NAT_PASS;
	}
	return NAT_HOLD;
}

/* --- the two directions ---------------------------------------------------- */

/* Counts a verdict that is not a pass: a drop in drops[]; a hold is the
 * caller's to count (nat_count_frag_held). */
static enum nat_verdict nat_drop(struct nat *n, enum nat_verdict why)
{
	if (nat_verdict_is_drop(why))
		n->c.drops[why]++;
	return why;
}

/* Counts verdict r: a pass in *passed (out_pkts or in_pkts), else as
 * nat_drop() does. */
static enum nat_verdict nat_count(struct nat *n, enum nat_verdict r, uint64_t *passed)
{
	if (r != NAT_PASS)
		return nat_drop(n, r);
	(*passed)++;
	return r;
}

/* An ICMP error (RFC 5508): translated by what it quotes, not by its own
 * header. */
static bool nat_carries_icmp_error(const struct ip_view *v)
{
	return v->ip->proto == IPPROTO_ICMP_ && v->l4 && v->l4_len >= ICMP_HLEN &&
	       nat_icmp_is_error(v->l4[0]);
}

enum nat_verdict nat_outbound(struct nat *n, struct ip_view *v, natbed_time_t now)
{
	struct nat_l4 l4;
	struct nat_map *m;
	struct nat_perm *pm;
	uint32_t src = v->ip->src, dst = v->ip->dst;

	if ((v->ip->src & n->cfg.inside_mask) != n->cfg.inside_net)
		return nat_drop(n, NAT_DROP_NOT_INSIDE);
	if (nat_frag_later(v))
		return nat_count(n, nat_frag_follow(n, v, true, now), &n->c.out_pkts);
	if (nat_l4_of(v->ip->proto, v->l4, v->l4_len, &l4) < 0)
		return nat_carries_icmp_error(v)
			   ? nat_count(n, nat_icmp_error_out(n, v), &n->c.out_pkts)
			   : nat_drop(n, NAT_DROP_UNSUPPORTED);
	m = nat_find(n, l4.proto, v->ip->src, *l4.sport, v->ip->dst, *l4.dport);
	if (!m)
		m = nat_map_new(n, l4.proto, v->ip->src, *l4.sport, v->ip->dst, *l4.dport, now);
	if (!m)
		return nat_drop(n, NAT_DROP_EXHAUSTED);
	/* Filtering remembers where the inside host sent (RFC 4787 §5). */
	pm = nat_perm_add(m, v->ip->dst, l4.proto == NAT_ICMP ? 0 : *l4.dport);
	if (l4.proto == NAT_TCP)
		nat_tcp_track(pm, v->l4, true);
	nat_rewrite(v->ip, &v->ip->src, n->cfg.public_addr, &l4, l4.sport, m->ext_port);
	if (nat_frag_first(v))
		nat_frag_note(n, src, dst, v, true, n->cfg.public_addr, now);
	/* RFC 4787 REQ-6: outbound traffic refreshes the mapping */
	nat_refresh(n, m, now);
	m->pkts_out++;
	n->c.out_pkts++;
	return NAT_PASS;
}

/* RFC 4787 §5: may a packet from (addr, port) reach mapping m? */
static bool nat_filter_allows(const struct nat *n, struct nat_map *m, uint32_t addr, uint16_t port)
{
	switch (n->cfg.filtering) {
	case TOPO_MAP_EIM:
		return true;
	case TOPO_MAP_ADM:
		return nat_perm_find(m, addr, 0, false) != NULL;
	case TOPO_MAP_APDM:
		return nat_perm_find(m, addr, port, true) != NULL;
	}
	return false;
}

enum nat_verdict nat_inbound(struct nat *n, struct ip_view *v, natbed_time_t now)
{
	struct nat_l4 l4;
	struct nat_map *m;

	if (nat_frag_later(v))
		return nat_count(n, nat_frag_follow(n, v, false, now), &n->c.in_pkts);
	if (nat_l4_of(v->ip->proto, v->l4, v->l4_len, &l4) < 0)
		return nat_carries_icmp_error(v)
			   ? nat_count(n, nat_icmp_error_in(n, v), &n->c.in_pkts)
			   : nat_drop(n, NAT_DROP_UNSUPPORTED);
	m = nat_at(n, l4.proto, ntohs(*l4.dport));
	if (!m)
		return nat_drop(n, NAT_DROP_NO_MAPPING);
	if (!nat_filter_allows(n, m, v->ip->src, l4.proto == NAT_ICMP ? 0 : *l4.sport))
		return nat_drop(n, NAT_DROP_FILTERED);
	if (l4.proto == NAT_TCP)
		nat_tcp_track(nat_perm_find(m, v->ip->src, *l4.sport, true), v->l4, false);
	if (nat_frag_first(v))
		nat_frag_note(n, v->ip->src, v->ip->dst, v, false, m->int_addr, now);
	nat_rewrite(v->ip, &v->ip->dst, m->int_addr, &l4, l4.dport, m->int_port);
	if (n->cfg.refresh_inbound || l4.proto == NAT_TCP)
		nat_refresh(n, m, now);
	m->pkts_in++;
	n->c.in_pkts++;
	return NAT_PASS;
}

void nat_count_hairpin(struct nat *n)
{
	n->c.hairpinned++;
}

void nat_count_frag_held(struct nat *n)
{
	n->c.frags_held++;
}

void nat_count_frag_timeout(struct nat *n)
{
	n->c.drops[NAT_DROP_FRAG_TIMEOUT]++;
}

/* --- life cycle, inspection, control -------------------------------------- */

static int nat_cfg_check(const struct nat_cfg *cfg)
{
	return cfg->port_lo == 0 || cfg->port_hi < cfg->port_lo || cfg->stride == 0 ? -1 : 0;
}

struct nat *nat_new(const struct nat_cfg *cfg, struct sched *s)
{
	struct nat *n;
	int p;

	if (nat_cfg_check(cfg) < 0)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->cfg = *cfg;
	n->s = s;
	rng_seed(&n->rng, cfg->seed, rng_key(cfg->name, 0));
	for (p = 0; p < NAT_PROTO_COUNT; p++)
		n->next_port[p] = cfg->port_lo;
	return n;
}

void nat_flush(struct nat *n)
{
	size_t b;

	for (b = 0; b < NAT_BUCKETS; b++)
		while (n->buckets[b])
			nat_map_free(n, n->buckets[b]);
}

void nat_free(struct nat *n)
{
	if (!n)
		return;
	nat_flush(n);
	for (int p = 0; p < NAT_PROTO_COUNT; p++)
		free(n->by_port[p]);
	free(n);
}

const struct nat_cfg *nat_config(const struct nat *n)
{
	return &n->cfg;
}

const struct nat_counters *nat_counters(const struct nat *n)
{
	return &n->c;
}

static void nat_endpoint(char *buf, size_t len, uint32_t addr, uint16_t port)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, a, sizeof(a));
	snprintf(buf, len, "%s:%u", a, ntohs(port));
}

static json_t *nat_map_json(const struct nat *n, const struct nat_map *m, natbed_time_t now)
{
	char in[32], out[32], rem[32];
	json_t *perms = json_array(), *j;
	const struct nat_perm *pm;

	nat_endpoint(in, sizeof(in), m->int_addr, m->int_port);
	nat_endpoint(out, sizeof(out), n->cfg.public_addr, m->ext_port);
	for (pm = m->perms; pm; pm = pm->next) {
		nat_endpoint(rem, sizeof(rem), pm->addr, pm->port);
		json_array_append_new(perms, json_string(rem));
	}
	j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:o}", "proto", nat_proto_names[m->proto], "inside",
		      in, "outside", out, "expires_in_ms",
		      (json_int_t)((m->expires - now) / NATBED_NS_PER_MS), "pkts_out",
		      (json_int_t)m->pkts_out, "pkts_in", (json_int_t)m->pkts_in, "remotes", perms);
	if (n->cfg.mapping != TOPO_MAP_EIM) {
		nat_endpoint(rem, sizeof(rem), m->key_addr, m->key_port);
		json_object_set_new(j, "key_remote", json_string(rem));
	}
	return j;
}

static int nat_map_cmp(const void *a, const void *b)
{
	const struct nat_map *x = *(struct nat_map *const *)a, *y = *(struct nat_map *const *)b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return (x->ext_port > y->ext_port) - (x->ext_port < y->ext_port);
}

/* Every mapping, by protocol and then external port (a stable, readable
 * order), in a new array of *count; NULL when there are none or on ENOMEM.
 * Walks the hash chains, not the 64 K ports of each protocol. */
static struct nat_map **nat_sorted(const struct nat *n, size_t *count)
{
	size_t total = 0, k = 0, b;
	struct nat_map **all, *m;
	int p;

	for (p = 0; p < NAT_PROTO_COUNT; p++)
		total += n->in_use[p];
	*count = 0;
	if (total == 0 || !(all = malloc(total * sizeof(*all))))
		return NULL;
	for (b = 0; b < NAT_BUCKETS; b++)
		for (m = n->buckets[b]; m && k < total; m = m->hnext)
			all[k++] = m;
	qsort(all, k, sizeof(*all), nat_map_cmp);
	*count = k;
	return all;
}

json_t *nat_mappings_json(const struct nat *n, natbed_time_t now)
{
	json_t *arr = json_array();
	size_t count, i;
	struct nat_map **all = nat_sorted(n, &count);

	for (i = 0; i < count; i++)
		json_array_append_new(arr, nat_map_json(n, all[i], now));
	free(all);
	return arr;
}

static int nat_set_bool(const char *value, bool *out)
{
	if (strcmp(value, "true") == 0 || strcmp(value, "on") == 0)
		*out = true;
	else if (strcmp(value, "false") == 0 || strcmp(value, "off") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

int nat_set(struct nat *n, const char *key, const char *value, char *err, size_t errlen)
{
	struct nat_cfg c = n->cfg;
	natbed_time_t t;
	int rc = 0;

	if (strcmp(key, "mapping") == 0)
		rc = topo_parse_nat_map(value, &c.mapping);
	else if (strcmp(key, "filtering") == 0)
		rc = topo_parse_nat_map(value, &c.filtering);
	else if (strcmp(key, "ports") == 0)
		rc = topo_parse_nat_ports(value, &c.ports);
	else if (strcmp(key, "port-range") == 0)
		rc = units_parse_port_range(value, &c.port_lo, &c.port_hi);
	else if (strcmp(key, "hairpin") == 0)
		rc = nat_set_bool(value, &c.hairpin);
	else if (strcmp(key, "parity") == 0)
		rc = nat_set_bool(value, &c.parity);
	else if (strcmp(key, "refresh-inbound") == 0)
		rc = nat_set_bool(value, &c.refresh_inbound);
	else if (strcmp(key, "stride") == 0)
		rc = (atoi(value) >= 1 && atoi(value) <= 1000)
			 ? (c.stride = (uint16_t)atoi(value), 0)
			 : -1;
	else if (strcmp(key, "timeout") == 0)
		rc = (units_parse_duration(value, &t) == 0 && t > 0) ? (c.udp_timeout_ns = t, 0)
								     : -1;
	else {
		snprintf(err, errlen,
			 "unknown NAT key '%s' (mapping, filtering, ports, port-range, hairpin, "
			 "parity, refresh-inbound, stride, timeout)",
			 key);
		return -1;
	}
	if (rc < 0 || nat_cfg_check(&c) < 0) {
		snprintf(err, errlen, "%s: bad value '%s'", key, value);
		return -1;
	}
	/* A changed mapping behaviour changes the key shape: start clean. */
	if (c.mapping != n->cfg.mapping)
		nat_flush(n);
	if (c.port_lo != n->cfg.port_lo || c.port_hi != n->cfg.port_hi)
		for (int p = 0; p < NAT_PROTO_COUNT; p++)
			n->next_port[p] = c.port_lo;
	n->cfg = c;
	return 0;
}

/* --- checkpoint / restore ------------------------------------------------- */

static json_t *nat_map_ckpt(const struct nat_map *m, natbed_time_t now)
{
	json_t *perms = json_array();
	const struct nat_perm *pm;

	for (pm = m->perms; pm; pm = pm->next)
		json_array_append_new(perms, json_pack("[I,i,i]", (json_int_t)ntohl(pm->addr),
						       ntohs(pm->port), pm->tcp));
	return json_pack("{s:i,s:I,s:i,s:I,s:i,s:i,s:I,s:I,s:I,s:o}", "proto", m->proto, "int_addr",
			 (json_int_t)ntohl(m->int_addr), "int_port", ntohs(m->int_port), "key_addr",
			 (json_int_t)ntohl(m->key_addr), "key_port", ntohs(m->key_port), "ext_port",
			 ntohs(m->ext_port), "expires_in_ns", (json_int_t)(m->expires - now),
			 "pkts_out", (json_int_t)m->pkts_out, "pkts_in", (json_int_t)m->pkts_in,
			 "perms", perms);
}

json_t *nat_counters_json(const struct nat *n)
{
	json_t *drops = json_object();
	int i;

	for (i = NAT_PASS + 1; i < NAT_VERDICT_COUNT; i++)
		if (nat_verdict_is_drop((enum nat_verdict)i))
			json_object_set_new(drops, nat_verdict_name((enum nat_verdict)i),
					    json_integer((json_int_t)n->c.drops[i]));
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "out_pkts",
			 (json_int_t)n->c.out_pkts, "in_pkts", (json_int_t)n->c.in_pkts,
			 "mappings_active", (json_int_t)n->c.mappings_active, "mappings_created",
			 (json_int_t)n->c.mappings_created, "mappings_expired",
			 (json_int_t)n->c.mappings_expired, "hairpinned",
			 (json_int_t)n->c.hairpinned, "icmp_errors", (json_int_t)n->c.icmp_errors,
			 "fragments_held", (json_int_t)n->c.frags_held, "drops", drops);
}

json_t *nat_checkpoint(const struct nat *n, natbed_time_t now)
{
	json_t *maps = json_array(), *rng = json_array(), *next = json_array();
	size_t count, k;
	struct nat_map **all = nat_sorted(n, &count);
	int p, i;

	for (p = 0; p < NAT_PROTO_COUNT; p++)
		json_array_append_new(next, json_integer(n->next_port[p]));
	for (k = 0; k < count; k++)
		json_array_append_new(maps, nat_map_ckpt(all[k], now));
	free(all);
	/* 64-bit state words as strings: JSON integers are signed */
	for (i = 0; i < 4; i++) {
		char w[24];

		snprintf(w, sizeof(w), "%llu", (unsigned long long)n->rng.s[i]);
		json_array_append_new(rng, json_string(w));
	}
	/* mappings_active is read back from the mappings themselves */
	return json_pack("{s:s,s:o,s:o,s:o,s:o}", "name", n->cfg.name, "rng", rng, "next_port",
			 next, "counters", nat_counters_json(n), "mappings", maps);
}

static int nat_restore_map(struct nat *n, const json_t *jm, natbed_time_t now)
{
	json_int_t proto = -1, ia = 0, ka = 0, exp = 0, po = 0, pi = 0;
	int ip = 0, kp = 0, ep = 0;
	struct nat_map *m;
	json_t *perms = NULL, *jp;
	size_t i, b;

	if (json_unpack((json_t *)jm, "{s:I,s:I,s:i,s:I,s:i,s:i,s:I,s:I,s:I,s:o}", "proto", &proto,
			"int_addr", &ia, "int_port", &ip, "key_addr", &ka, "key_port", &kp,
			"ext_port", &ep, "expires_in_ns", &exp, "pkts_out", &po, "pkts_in", &pi,
			"perms", &perms) < 0 ||
	    proto < 0 || proto >= NAT_PROTO_COUNT || ep < 0 || ep >= NAT_PORTS ||
	    nat_at(n, (int)proto, (uint32_t)ep) || exp < 0 || !nat_port_table(n, (int)proto))
		return -1;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -1;
	m->nat = n;
	m->proto = (enum nat_proto)proto;
	m->int_addr = htonl((uint32_t)ia);
	m->int_port = htons((uint16_t)ip);
	m->key_addr = htonl((uint32_t)ka);
	m->key_port = htons((uint16_t)kp);
	m->ext_port = htons((uint16_t)ep);
	m->created = now;
	m->expires = now + exp;
	m->pkts_out = (uint64_t)po;
	m->pkts_in = (uint64_t)pi;
	/* nat_perm_add() prepends: add from the last to keep the order */
	for (i = json_array_size(perms); i-- > 0;) {
		struct nat_perm *pm;

		jp = json_array_get(perms, i);
		pm = nat_perm_add(m, htonl((uint32_t)json_integer_value(json_array_get(jp, 0))),
				  htons((uint16_t)json_integer_value(json_array_get(jp, 1))));
		if (pm)
			pm->tcp = (uint8_t)json_integer_value(json_array_get(jp, 2));
	}
	m->armed = m->expires;
	m->expiry_ev = sched_at(n->s, m->expires, nat_expiry_cb, m);
	b = nat_hash(m->proto, m->int_addr, m->int_port, m->key_addr, m->key_port);
	m->hnext = n->buckets[b];
	n->buckets[b] = m;
	n->by_port[proto][ep] = m;
	n->in_use[proto]++;
	n->c.mappings_active++;
	return 0;
}

int nat_restore(struct nat *n, const json_t *j, natbed_time_t now, char *err, size_t errlen)
{
	json_t *maps = json_object_get(j, "mappings"), *rng = json_object_get(j, "rng");
	json_t *next = json_object_get(j, "next_port"), *c = json_object_get(j, "counters"), *jm;
	size_t i;
	int p;

	if (!json_is_array(maps) || json_array_size(rng) != 4 ||
	    json_array_size(next) != NAT_PROTO_COUNT || !json_is_object(c)) {
		snprintf(err, errlen,
			 "nat %s: checkpoint is missing mappings, rng, next_port or counters",
			 n->cfg.name);
		return -1;
	}
	nat_flush(n);
	for (i = 0; i < 4; i++)
		n->rng.s[i] = strtoull(json_string_value(json_array_get(rng, i)) ?: "0", NULL, 10);
	for (p = 0; p < NAT_PROTO_COUNT; p++)
		n->next_port[p] = (uint32_t)json_integer_value(json_array_get(next, (size_t)p));
	n->c.out_pkts = (uint64_t)json_integer_value(json_object_get(c, "out_pkts"));
	n->c.in_pkts = (uint64_t)json_integer_value(json_object_get(c, "in_pkts"));
	n->c.mappings_created =
	    (uint64_t)json_integer_value(json_object_get(c, "mappings_created"));
	n->c.mappings_expired =
	    (uint64_t)json_integer_value(json_object_get(c, "mappings_expired"));
	n->c.hairpinned = (uint64_t)json_integer_value(json_object_get(c, "hairpinned"));
	n->c.icmp_errors = (uint64_t)json_integer_value(json_object_get(c, "icmp_errors"));
	n->c.frags_held = (uint64_t)json_integer_value(json_object_get(c, "fragments_held"));
	/* drops by verdict name; absent in older checkpoints: zero */
	for (p = NAT_PASS + 1; p < NAT_VERDICT_COUNT; p++)
		if (nat_verdict_is_drop((enum nat_verdict)p))
			n->c.drops[p] = (uint64_t)json_integer_value(json_object_get(
			    json_object_get(c, "drops"), nat_verdict_name((enum nat_verdict)p)));
	json_array_foreach(maps, i, jm)
	{
		if (nat_restore_map(n, jm, now) < 0) {
			snprintf(err, errlen, "nat %s: mapping %zu of the checkpoint is invalid",
				 n->cfg.name, i);
			return -1;
		}
	}
	return 0;
}
