/* The NAT engine: mappings, their lifetimes, the two directions, ICMP
 * errors and fragments. What a behaviour does is in the tables of
 * nat_behav.c; JSON, control and checkpoints are in nat_ctl.c. */
#include "nat_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "icmpq.h"

static const char *const nat_proto_names[NAT_PROTO_COUNT] = {"udp", "tcp", "icmp"};

const char *nat_proto_name(enum nat_proto p)
{
	return (unsigned)p < NAT_PROTO_COUNT ? nat_proto_names[p] : "unknown";
}

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
	cfg->b = tn->b;
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
	return type == ICMP_ECHO_REQUEST || type == ICMP_ECHO_REPLY;
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
	csum_update32(&ip->csum, old_addr, new_addr);
	*port_field = new_port;
	if (l4->csum) {
		if (l4->pseudo)
			csum_update32(l4->csum, old_addr, new_addr);
		csum_update16(l4->csum, old_port, new_port);
	}
}

/* --- the tables ---------------------------------------------------------- */

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
	nat_mapping_kinds[n->cfg.b.mapping].key(ra, rp, ka, kp);
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

bool nat_port_ok(const struct nat *n, enum nat_proto p, uint32_t port, uint16_t want)
{
	if (nat_at(n, p, port))
		return false;
	/* RFC 4787 REQ-4: keep the parity of the internal port */
	return !n->cfg.b.parity || (port & 1) == (want & 1u);
}

int32_t nat_port_scan(const struct nat *n, enum nat_proto p, uint32_t start, uint16_t want)
{
	uint32_t lo = n->cfg.b.port_lo, range = (uint32_t)n->cfg.b.port_hi - lo + 1, i, port;

	if (start < lo || start > n->cfg.b.port_hi)
		start = lo;
	for (i = 0; i < range; i++) {
		port = lo + (start - lo + i) % range;
		if (nat_port_ok(n, p, port, want))
			return (int32_t)port;
	}
	return -1;
}

/* A free external port (host order), or -1: REQ-3 never shares one, and a
 * pool smaller than the range caps the mappings of each protocol. */
static int32_t nat_port_pick(struct nat *n, enum nat_proto p, uint16_t want)
{
	uint32_t range = (uint32_t)n->cfg.b.port_hi - n->cfg.b.port_lo + 1;
	size_t pool = n->cfg.b.pool && n->cfg.b.pool < range ? n->cfg.b.pool : range;

	if (n->in_use[p] >= pool)
		return -1;
	return nat_ports_kinds[n->cfg.b.ports].pick(n, p, want);
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

/* The lifetime of a mapping of protocol p with no established connection. */
static natbed_time_t nat_proto_timeout(const struct nat *n, enum nat_proto p)
{
	if (p == NAT_UDP)
		return n->cfg.b.timeout_ns;
	return p == NAT_ICMP ? n->cfg.icmp_timeout_ns : n->cfg.tcp_transitory_ns;
}

static natbed_time_t nat_timeout(const struct nat *n, const struct nat_map *m)
{
	const struct nat_perm *pm;

	/* RFC 5382 REQ-5: as long as its longest-lived connection needs */
	if (m->proto == NAT_TCP)
		for (pm = m->perms; pm; pm = pm->next)
			if (tcpst_established(&pm->tcp))
				return n->cfg.tcp_established_ns;
	return nat_proto_timeout(n, m->proto);
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

struct nat_map *nat_map_add(struct nat *n, enum nat_proto p, uint32_t a, uint16_t port, uint32_t ka,
			    uint16_t kp, uint16_t ext, natbed_time_t expires)
{
	struct nat_map *m;
	size_t b;

	if (!nat_port_table(n, p) || nat_at(n, p, ext) || !(m = calloc(1, sizeof(*m))))
		return NULL;
	m->nat = n;
	m->proto = p;
	m->int_addr = a;
	m->int_port = port;
	m->key_addr = ka;
	m->key_port = kp;
	m->ext_port = htons(ext);
	m->expires = expires;
	m->armed = expires;
	m->expiry_ev = sched_at(n->s, expires, nat_expiry_cb, m);
	if (!m->expiry_ev) {
		free(m);
		return NULL;
	}
	b = nat_hash(p, a, port, ka, kp);
	m->hnext = n->buckets[b];
	n->buckets[b] = m;
	n->by_port[p][ext] = m;
	n->in_use[p]++;
	n->c.mappings_active++;
	return m;
}

/* A new mapping for the inside endpoint (a, port) sending to (ra, rp). */
static struct nat_map *nat_map_new(struct nat *n, enum nat_proto p, uint32_t a, uint16_t port,
				   uint32_t ra, uint16_t rp, natbed_time_t now)
{
	int32_t ext = nat_port_pick(n, p, ntohs(port));
	struct nat_map *m;
	uint32_t ka;
	uint16_t kp;

	if (ext < 0)
		return NULL;
	nat_key(n, ra, rp, &ka, &kp);
	m = nat_map_add(n, p, a, port, ka, kp, (uint16_t)ext, now + nat_proto_timeout(n, p));
	if (m)
		n->c.mappings_created++;
	return m;
}

struct nat_perm *nat_perm_find(const struct nat_map *m, uint32_t addr, uint16_t port, bool by_port)
{
	struct nat_perm *pm;

	for (pm = m->perms; pm; pm = pm->next)
		if (pm->addr == addr && (!by_port || pm->port == port))
			return pm;
	return NULL;
}

struct nat_perm *nat_perm_add(struct nat_map *m, uint32_t addr, uint16_t port)
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

/* RFC 5382 §2.1: the connection to pm's remote saw a segment. */
static void nat_tcp_track(struct nat_perm *pm, const uint8_t *l4, bool outbound)
{
	if (pm)
		tcpst_track(&pm->tcp, ((const struct tcp_hdr *)l4)->flags,
			    outbound ? TCPST_A : TCPST_B);
}

/* RFC 4787 §5: may a packet from (addr, port) reach mapping m? */
static bool nat_filter_allows(const struct nat *n, const struct nat_map *m, uint32_t addr,
			      uint16_t port)
{
	return nat_filtering_kinds[n->cfg.b.filtering].allows(m, addr, port);
}

/* --- ICMP errors (RFC 5508 REQ-4, RFC 4787 REQ-12) --------------------- */

/* The packet an ICMP error quotes: its IP header and where its ports are. */
struct nat_quote {
	struct ipv4_hdr *ip;
	struct nat_l4 l4;
};

static int nat_quote_of(struct ip_view *v, struct nat_quote *q)
{
	struct icmpq iq;

	if (icmpq_parse(v, &iq) < 0)
		return -1;
	q->ip = iq.ip;
	if (nat_l4_of(q->ip->proto, iq.l4, iq.l4_len, &q->l4) < 0) {
		/* only 8 bytes of TCP are quoted: enough for the ports */
		if (q->ip->proto != IPPROTO_TCP_)
			return -1;
		memset(&q->l4, 0, sizeof(q->l4));
		q->l4.proto = NAT_TCP;
		q->l4.sport = (uint16_t *)iq.l4;
		q->l4.dport = (uint16_t *)(iq.l4 + 2);
	}
	/* RFC 5508 §4.2: the quoted L4 checksum follows the quoted header. An
	 * incremental update (RFC 1624) is right even when the error quotes only
	 * part of the datagram; a TCP checksum beyond the quote stays NULL. */
	return 0;
}

/* An error from outside about a packet the NAT sent: the quoted packet's
 * source is our public endpoint; turn everything back to the inside host.
 * It must pass the filter the packet it quotes would have met coming back
 * (RFC 5508 REQ-4 via RFC 4787 §5): an error from a stranger about a remote
 * the inside host never contacted goes no further. The mapping is neither
 * refreshed nor removed (REQ-12). */
static enum nat_verdict nat_icmp_error_in(struct nat *n, struct ip_view *v)
{
	struct nat_quote q;
	struct nat_map *m;
	uint32_t ka;
	uint16_t kp;

	if (nat_quote_of(v, &q) < 0 || q.ip->src != n->cfg.public_addr)
		return NAT_DROP_UNSUPPORTED;
	m = nat_at(n, q.l4.proto, ntohs(*q.l4.sport));
	if (!m)
		return NAT_DROP_NO_MAPPING;
	/* the quoted packet went to (dst, dport): was that this mapping's
	 * remote (its key), and would an answer from there pass? */
	nat_key(n, q.ip->dst, *q.l4.dport, &ka, &kp);
	if (ka != m->key_addr || kp != m->key_port ||
	    !nat_filter_allows(n, m, q.ip->dst, q.l4.proto == NAT_ICMP ? 0 : *q.l4.dport))
		return NAT_DROP_FILTERED;
	nat_rewrite(q.ip, &q.ip->src, m->int_addr, &q.l4, q.l4.sport, m->int_port);
	/* the outer header: destination only, no ports */
	v->ip->dst = m->int_addr;
	ip_csum_set(v->ip, v->hlen);
	l4_csum_set(v);
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
	l4_csum_set(v);
	n->c.icmp_errors++;
	return NAT_PASS;
}

/* --- fragments (RFC 4787 REQ-14) ------------------------------------------ */

bool nat_frag_first(const struct ip_view *v)
{
	return ip_frag_first(v->ip);
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
		csum_update32(&v->ip->csum, *field, fr->addr);
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

enum nat_verdict nat_outbound(struct nat *n, struct ip_view *v, natbed_time_t now)
{
	struct nat_l4 l4;
	struct nat_map *m;
	struct nat_perm *pm;
	uint32_t src = v->ip->src, dst = v->ip->dst;

	if ((v->ip->src & n->cfg.inside_mask) != n->cfg.inside_net)
		return nat_drop(n, NAT_DROP_NOT_INSIDE);
	if (ip_frag_later(v->ip))
		return nat_count(n, nat_frag_follow(n, v, true, now), &n->c.out_pkts);
	if (nat_l4_of(v->ip->proto, v->l4, v->l4_len, &l4) < 0)
		return icmpq_is_error(v) ? nat_count(n, nat_icmp_error_out(n, v), &n->c.out_pkts)
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

enum nat_verdict nat_inbound(struct nat *n, struct ip_view *v, natbed_time_t now)
{
	struct nat_l4 l4;
	struct nat_map *m;

	if (ip_frag_later(v->ip))
		return nat_count(n, nat_frag_follow(n, v, false, now), &n->c.in_pkts);
	if (nat_l4_of(v->ip->proto, v->l4, v->l4_len, &l4) < 0)
		return icmpq_is_error(v) ? nat_count(n, nat_icmp_error_in(n, v), &n->c.in_pkts)
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
	if (n->cfg.b.refresh_inbound || l4.proto == NAT_TCP)
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

/* --- life cycle -------------------------------------- */

bool nat_cfg_ok(const struct nat_cfg *cfg)
{
	const struct topo_nat_behaviour *b = &cfg->b;

	return b->port_lo != 0 && b->port_hi >= b->port_lo && b->stride != 0 &&
	       (unsigned)b->mapping <= TOPO_MAP_APDM && (unsigned)b->filtering <= TOPO_MAP_APDM &&
	       (unsigned)b->ports <= TOPO_PORTS_RANDOM;
}

struct nat *nat_new(const struct nat_cfg *cfg, struct sched *s)
{
	struct nat *n;
	int p;

	if (!nat_cfg_ok(cfg))
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->cfg = *cfg;
	n->s = s;
	rng_seed(&n->rng, cfg->seed, rng_key(cfg->name, 0));
	for (p = 0; p < NAT_PROTO_COUNT; p++)
		n->next_port[p] = cfg->b.port_lo;
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

static int nat_map_cmp(const void *a, const void *b)
{
	const struct nat_map *x = *(struct nat_map *const *)a, *y = *(struct nat_map *const *)b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return (ntohs(x->ext_port) > ntohs(y->ext_port)) -
	       (ntohs(x->ext_port) < ntohs(y->ext_port));
}

/* Walks the hash chains, not the 64 K ports of each protocol. */
struct nat_map **nat_maps_sorted(const struct nat *n, size_t *count)
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
