/* The NAT engine: mappings, their lifetimes, the two directions, ICMP
 * errors and fragments. What a behaviour does is in the tables of
 * nat_behav.c; JSON, control and checkpoints are in nat_ctl.c. */
#include "nat_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "icmpq.h"
#include "natbed/ckpt.h"
#include "natbed/strcopy.h"
#include "natbed/swap.h"

static const char *const nat_proto_names[NAT_PROTO_COUNT] = {"udp", "tcp", "icmp"};

const char *nat_proto_name(enum nat_proto p)
{
	return (unsigned)p < NAT_PROTO_COUNT ? nat_proto_names[p] : "unknown";
}

const char *nat_verdict_name(enum nat_verdict v)
{
	static const char *const names[NAT_VERDICT_COUNT] = {
	    "pass",	  "no_mapping",	      "filtered",   "port_exhaustion", "unsupported",
	    "not_inside", "fragment_timeout", "port_limit", "held_fragment",
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
	str_copy(cfg->name, sizeof(cfg->name), tn->name);
	cfg->b = tn->b;
	cfg->tcp_established_ns = 7440 * NATBED_NS_PER_S;
	cfg->tcp_transitory_ns = 240 * NATBED_NS_PER_S;
	cfg->icmp_timeout_ns = 60 * NATBED_NS_PER_S;
	for (cfg->n_public = 0; cfg->n_public < tn->n_public; cfg->n_public++)
		cfg->publics[cfg->n_public] = tn->publics[cfg->n_public].s_addr;
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
	ip_csum_update32(&ip->csum, old_addr, new_addr);
	*port_field = new_port;
	if (l4->csum) {
		if (l4->pseudo)
			l4_csum_update32(ip->proto, l4->csum, old_addr, new_addr);
		l4_csum_update16(ip->proto, l4->csum, old_port, new_port);
	}
}

/* --- the tables ---------------------------------------------------------- */

static uint64_t nat_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	return h;
}

/* Mappings by inside endpoint and key (mask it with n->bmask). */
static size_t nat_hash(enum nat_proto p, uint32_t a, uint16_t port, uint32_t ka, uint16_t kp)
{
	uint64_t h = ((uint64_t)a << 32 | (uint64_t)port << 16 | kp) ^
		     ((uint64_t)ka * 0x9e3779b97f4a7c15ull);

	return (size_t)nat_mix(h ^ (uint64_t)p * 0xff51afd7ed558ccdull);
}

/* Mappings by outside endpoint; reservations too, in their own table. */
static size_t nat_ehash(enum nat_proto p, uint32_t a, uint16_t port)
{
	uint64_t h = ((uint64_t)a << 32 | (uint64_t)port << 8 | (uint64_t)p);

	return (size_t)nat_mix(h * 0x9e3779b97f4a7c15ull);
}

bool nat_is_public(const struct nat *n, uint32_t addr)
{
	size_t i;

	for (i = 0; i < n->cfg.n_public; i++)
		if (n->cfg.publics[i] == addr)
			return true;
	return false;
}

struct nat_map *nat_map_at(const struct nat *n, enum nat_proto p, uint32_t addr, uint16_t port)
{
	struct nat_map *m = n->ebuckets[nat_ehash(p, addr, port) & n->bmask];

	for (; m; m = m->enext)
		if (m->ext_port == port && m->ext_addr == addr && m->proto == p)
			return m;
	return NULL;
}

/* The remote part of the mapping key for a packet to (ra, rp). */
static void nat_key(const struct nat *n, uint32_t ra, uint16_t rp, uint32_t *ka, uint16_t *kp)
{
	nat_mapping_kinds[n->cfg.b.mapping].key(ra, rp, ka, kp);
}

/* The mapping of inside endpoint (a, port) with the endpoint-independent
 * key (0, 0) that a PCP or NAT-PMP client asked for, or NULL. */
static struct nat_map *nat_find_granted(const struct nat *n, enum nat_proto p, uint32_t a,
					uint16_t port)
{
	struct nat_map *m;

	for (m = n->buckets[nat_hash(p, a, port, 0, 0) & n->bmask]; m; m = m->hnext)
		if (m->granted && m->proto == p && m->int_addr == a && m->int_port == port &&
		    m->key_addr == 0 && m->key_port == 0)
			return m;
	return NULL;
}

/* The mapping a packet from inside endpoint (a, port) to (ra, rp) takes:
 * the one of its key. With inbound-reserves an inside endpoint may hold
 * several (Linux moves a flow that would clash): the one already talking
 * to (ra, rp), else the newest (chains take new entries at their head). */
static struct nat_map *nat_find(const struct nat *n, enum nat_proto p, uint32_t a, uint16_t port,
				uint32_t ra, uint16_t rp)
{
	struct nat_map *m, *newest = NULL;
	uint32_t ka;
	uint16_t kp;

	/* a mapping asked for (PCP, NAT-PMP) serves every remote */
	if (n->cfg.b.pcp && n->cfg.b.mapping != TOPO_MAP_EIM &&
	    (m = nat_find_granted(n, p, a, port)))
		return m;
	nat_key(n, ra, rp, &ka, &kp);
	for (m = n->buckets[nat_hash(p, a, port, ka, kp) & n->bmask]; m; m = m->hnext) {
		if (m->proto != p || m->int_addr != a || m->int_port != port || m->key_addr != ka ||
		    m->key_port != kp)
			continue;
		if (!n->cfg.b.inbound_reserves)
			return m;
		if (nat_perm_find(m, ra, p == NAT_ICMP ? 0 : rp, true))
			return m;
		if (!newest)
			newest = m;
	}
	return newest;
}

/* --- reservations (inbound-reserves) --------------------------------------- */

struct nat_resv **nat_resv_chain(struct nat *n, enum nat_proto p, uint32_t addr, uint16_t port)
{
	return &n->resv[nat_ehash(p, addr, port) & (NAT_RESV_BUCKETS - 1)];
}

/* The live reservation of (ra, rp) on the outside endpoint, or NULL;
 * expired ones met on the way are freed. */
static struct nat_resv *nat_resv_find(const struct nat *n, enum nat_proto p, uint32_t addr,
				      uint16_t port, uint32_t ra, uint16_t rp, natbed_time_t now)
{
	struct nat_resv **pp = nat_resv_chain((struct nat *)n, p, addr, port), *r;

	while ((r = *pp)) {
		if (r->expires <= now) {
			*pp = r->next;
			free(r);
			((struct nat *)n)->n_resv--;
			continue;
		}
		if (r->proto == p && r->ext_addr == addr && r->ext_port == port && r->raddr == ra &&
		    r->rport == rp)
			return r;
		pp = &r->next;
	}
	return NULL;
}

void nat_resv_hold(struct nat *n, enum nat_proto p, uint32_t ext_addr, uint16_t ext_port,
		   uint32_t raddr, uint16_t rport, natbed_time_t expires)
{
	struct nat_resv *r = nat_resv_find(n, p, ext_addr, ext_port, raddr, rport, sched_now(n->s));
	struct nat_resv **chain;

	n->c.reservations++;
	if (r) {
		r->expires = expires;
		return;
	}
	if (n->n_resv >= NAT_RESV_MAX || !(r = calloc(1, sizeof(*r))))
		return;
	r->proto = p;
	r->ext_addr = ext_addr;
	r->ext_port = ext_port;
	r->raddr = raddr;
	r->rport = rport;
	r->expires = expires;
	chain = nat_resv_chain(n, p, ext_addr, ext_port);
	r->next = *chain;
	*chain = r;
	n->n_resv++;
}

void nat_resv_each(const struct nat *n, natbed_time_t now,
		   void (*fn)(void *ctx, const struct nat_resv *r), void *ctx)
{
	const struct nat_resv *r;
	size_t b;

	for (b = 0; b < NAT_RESV_BUCKETS; b++)
		for (r = n->resv[b]; r; r = r->next)
			if (r->expires > now)
				fn(ctx, r);
}

static void nat_resv_clear(struct nat *n)
{
	struct nat_resv *r, *next;
	size_t b;

	/* the buckets up to the last reservation */
	for (b = 0; n->n_resv && b < NAT_RESV_BUCKETS; b++) {
		for (r = n->resv[b]; r; r = next) {
			next = r->next;
			free(r);
			n->n_resv--;
		}
		n->resv[b] = NULL;
	}
}

/* --- ports ------------------------------------------------------------------ */

bool nat_port_ok(const struct nat *n, const struct nat_pick *pk, uint32_t port)
{
	if (port == 0 || nat_map_at(n, pk->proto, pk->addr, htons((uint16_t)port)))
		return false;
	/* RFC 4787 REQ-4: keep the parity of the internal port */
	if (n->cfg.b.parity && (port & 1) != (pk->want & 1u))
		return false;
	return !n->cfg.b.inbound_reserves ||
	       !nat_resv_find(n, pk->proto, pk->addr, htons((uint16_t)port), pk->raddr, pk->rport,
			      sched_now(n->s));
}

int32_t nat_port_scan(const struct nat *n, const struct nat_pick *pk, uint32_t start)
{
	uint32_t range = pk->hi - pk->lo + 1, i, port;

	if (start < pk->lo || start > pk->hi)
		start = pk->lo;
	for (i = 0; i < range; i++) {
		port = pk->lo + (start - pk->lo + i) % range;
		if (nat_port_ok(n, pk, port))
			return (int32_t)port;
	}
	return -1;
}

/* RFC 4787 REQ-3a: the range a new port for inside port want comes from.
 * Classes apply to ports (UDP, TCP), not to ICMP identifiers. */
static void nat_class(const struct nat *n, enum nat_proto p, struct nat_pick *pk)
{
	const struct topo_nat_behaviour *b = &n->cfg.b;

	pk->lo = b->port_lo;
	pk->hi = b->port_hi;
	if (p == NAT_ICMP || b->classes == TOPO_CLASSES_NONE || pk->want >= 1024 || pk->want == 0) {
		pk->keep_lo = pk->lo;
		return;
	}
	/* Linux: 1-511 and 600-1023 (512-599 kept when free, never picked) */
	if (b->classes == TOPO_CLASSES_LINUX && pk->want < 512) {
		pk->lo = pk->keep_lo = 1;
		pk->hi = 511;
	} else if (b->classes == TOPO_CLASSES_LINUX) {
		pk->lo = 600;
		pk->keep_lo = 512;
		pk->hi = 1023;
	} else {
		pk->lo = pk->keep_lo = 1;
		pk->hi = 1023;
	}
}

/* --- subscribers and port blocks (RFC 6888) ----------------------------------- */

size_t nat_sub_bucket(uint32_t a)
{
	return (size_t)nat_mix((uint64_t)a * 0x9e3779b97f4a7c15ull) & (NAT_SUB_BUCKETS - 1);
}

struct nat_sub *nat_sub_find(const struct nat *n, uint32_t a)
{
	struct nat_sub *s;

	for (s = n->subs[nat_sub_bucket(a)]; s; s = s->next)
		if (s->int_addr == a)
			return s;
	return NULL;
}

static void nat_event(struct nat *n, natbed_time_t now, const char *event, struct nat_sub *sub,
		      uint32_t blk)
{
	char in[INET_ADDRSTRLEN], out[INET_ADDRSTRLEN], fields[256];
	uint32_t lo = n->cfg.b.port_lo + blk * n->cfg.b.port_block;

	if (!n->cfg.on_event)
		return;
	inet_ntop(AF_INET, &sub->int_addr, in, sizeof(in));
	inet_ntop(AF_INET, &n->cfg.publics[sub->pub], out, sizeof(out));
	snprintf(fields, sizeof(fields),
		 "\"nat\":\"%s\",\"subscriber\":\"%s\",\"public\":\"%s\",\"ports\":\"%u-%u\"",
		 n->cfg.name, in, out, lo, lo + n->cfg.b.port_block - 1);
	n->cfg.on_event(n->cfg.event_ctx, now, event, fields);
}

int nat_block_take(struct nat *n, struct nat_sub *sub, uint32_t blk, natbed_time_t now)
{
	size_t at = (size_t)sub->pub * n->blocks_per_pub + blk;

	if (blk >= n->blocks_per_pub || sub->n_blocks >= NAT_BLOCKS_MAX || n->block_used[at])
		return -1;
	n->block_used[at] = 1;
	sub->blocks[sub->n_blocks++] = (uint16_t)blk;
	n->c.blocks_active++;
	n->c.blocks_allocated++;
	nat_event(n, now, "port_block_allocated", sub, blk);
	return 0;
}

/* A new subscriber for inside address a. Paired pooling: the outside
 * address with the fewest subscribers (the first of those), or pub when
 * it names one (a checkpoint). */
static struct nat_sub *nat_sub_new(struct nat *n, uint32_t a, int pub)
{
	struct nat_sub *s = calloc(1, sizeof(*s));
	size_t i, b = nat_sub_bucket(a);

	if (!s)
		return NULL;
	s->int_addr = a;
	if (pub < 0)
		for (i = 1, pub = 0; i < n->cfg.n_public; i++)
			if (n->subs_per_pub[i] < n->subs_per_pub[pub])
				pub = (int)i;
	s->pub = (unsigned)pub;
	n->subs_per_pub[s->pub]++;
	s->next = n->subs[b];
	n->subs[b] = s;
	n->c.subscribers_active++;
	return s;
}

struct nat_sub *nat_sub_make(struct nat *n, uint32_t a, unsigned pub)
{
	return pub < n->cfg.n_public ? nat_sub_new(n, a, (int)pub) : NULL;
}

/* sub has no mapping left: its blocks go back to the pool. */
static void nat_sub_free(struct nat *n, struct nat_sub *sub)
{
	struct nat_sub **pp = &n->subs[nat_sub_bucket(sub->int_addr)];
	uint16_t i;

	for (i = 0; i < sub->n_blocks; i++) {
		n->block_used[(size_t)sub->pub * n->blocks_per_pub + sub->blocks[i]] = 0;
		n->c.blocks_active--;
		nat_event(n, sched_now(n->s), "port_block_released", sub, sub->blocks[i]);
	}
	for (; *pp; pp = &(*pp)->next)
		if (*pp == sub) {
			*pp = sub->next;
			break;
		}
	n->subs_per_pub[sub->pub]--;
	n->c.subscribers_active--;
	free(sub);
}

/* A port for pk in the blocks sub holds, taking a new block when they are
 * full and the subscriber may hold more (RFC 6888 REQ-4). -1 with *why. */
static int32_t nat_block_pick(struct nat *n, struct nat_sub *sub, struct nat_pick *pk,
			      natbed_time_t now, enum nat_verdict *why)
{
	const struct nat_ports_kind *kind = &nat_ports_kinds[n->cfg.b.ports];
	uint32_t size = n->cfg.b.port_block, blk;
	int32_t port;
	uint16_t i;

	for (i = 0;; i++) {
		if (i == sub->n_blocks) {
			if (sub->n_blocks >= (n->cfg.b.port_blocks ? n->cfg.b.port_blocks : 1)) {
				*why = NAT_DROP_PORT_LIMIT;
				return -1;
			}
			for (blk = 0; blk < n->blocks_per_pub; blk++)
				if (nat_block_take(n, sub, blk, now) == 0)
					break;
			if (blk == n->blocks_per_pub) {
				*why = NAT_DROP_EXHAUSTED;
				return -1;
			}
		}
		pk->lo = pk->keep_lo = n->cfg.b.port_lo + sub->blocks[i] * size;
		pk->hi = pk->lo + size - 1;
		port = kind->pick(n, pk);
		if (port >= 0)
			return port;
	}
}

/* --- mappings ---------------------------------------------------------------- */

/* Mappings and permissions come from n's spares when it has some, and go
 * back there: malloc's bins took 5% of natbed sim's time, a third of it
 * for these. What a NAT ever held at once is kept until nat_free. */
static struct nat_map *nat_map_alloc(struct nat *n)
{
	struct nat_map *m = n->spare_maps;

	if (!m)
		return calloc(1, sizeof(*m));
	n->spare_maps = m->hnext;
	memset(m, 0, sizeof(*m));
	return m;
}

static struct nat_perm *nat_perm_alloc(struct nat *n)
{
	struct nat_perm *pm = n->spare_perms;

	if (!pm)
		return calloc(1, sizeof(*pm));
	n->spare_perms = pm->next;
	memset(pm, 0, sizeof(*pm));
	return pm;
}

static void nat_spare_map(struct nat *n, struct nat_map *m)
{
	struct nat_perm *pm, *next;

	for (pm = m->perms; pm; pm = next) {
		next = pm->next;
		pm->next = n->spare_perms;
		n->spare_perms = pm;
	}
	m->hnext = n->spare_maps;
	n->spare_maps = m;
}

static void nat_unlink(struct nat *n, struct nat_map *m)
{
	*m->hpprev = m->hnext;
	if (m->hnext)
		m->hnext->hpprev = m->hpprev;
	*m->epprev = m->enext;
	if (m->enext)
		m->enext->epprev = m->epprev;
	if (m->aprev)
		m->aprev->anext = m->anext;
	else
		n->all = m->anext;
	if (m->anext)
		m->anext->aprev = m->aprev;
	n->in_use[m->proto]--;
	n->c.mappings_active--;
	if (--m->sub->n_maps == 0)
		nat_sub_free(n, m->sub);
}

static void nat_map_free(struct nat *n, struct nat_map *m)
{
	nat_unlink(n, m);
	sched_cancel(n->s, m->expiry_ev);
	nat_spare_map(n, m);
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

/* Linux conntrack: a flow is "stream" once it was answered and is 2 s
 * old; before, it keeps the unreplied timeout. */
#define NAT_STREAM_AGE_NS (2 * NATBED_NS_PER_S)

static natbed_time_t nat_timeout(const struct nat *n, const struct nat_map *m, natbed_time_t now)
{
	const struct topo_nat_behaviour *b = &n->cfg.b;
	const struct nat_perm *pm;

	if (m->proto == NAT_ICMP)
		return n->cfg.icmp_timeout_ns;
	if (m->proto == NAT_TCP) {
		/* RFC 5382 REQ-5: as long as its longest-lived connection needs */
		for (pm = m->perms; pm; pm = pm->next)
			if (tcpst_established(&pm->tcp))
				return n->cfg.tcp_established_ns;
		return n->cfg.tcp_transitory_ns;
	}
	if (b->unreplied_ns && !(m->replied && now - m->created >= NAT_STREAM_AGE_NS))
		return b->unreplied_ns;
	return b->timeout_ns;
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
	m->expires = now + nat_timeout(n, m, now);
	/* a granted lifetime is not cut short by traffic's timeout */
	if (m->granted_until > m->expires)
		m->expires = m->granted_until;
	/* Lazy re-arm only moves the event later; a shorter timeout (RFC 5382:
	 * an established connection closing) must move it earlier. */
	if (m->expires < m->armed)
		nat_rearm(n, m);
}

size_t nat_map_hbucket(const struct nat *n, const struct nat_map *m)
{
	return nat_hash(m->proto, m->int_addr, m->int_port, m->key_addr, m->key_port) & n->bmask;
}

size_t nat_map_ebucket(const struct nat *n, const struct nat_map *m)
{
	return nat_ehash(m->proto, m->ext_addr, m->ext_port) & n->bmask;
}

/* Puts m at the head of its two chains. */
static void nat_chain(struct nat *n, struct nat_map *m)
{
	size_t b = nat_map_hbucket(n, m);

	m->hnext = n->buckets[b];
	if (m->hnext)
		m->hnext->hpprev = &m->hnext;
	m->hpprev = &n->buckets[b];
	n->buckets[b] = m;
	b = nat_map_ebucket(n, m);
	m->enext = n->ebuckets[b];
	if (m->enext)
		m->enext->epprev = &m->enext;
	m->epprev = &n->ebuckets[b];
	n->ebuckets[b] = m;
}

int nat_buckets_make(struct nat *n, size_t count)
{
	struct nat_map **in = calloc(count, sizeof(*in)), **out = calloc(count, sizeof(*out));

	if (!in || !out) {
		free(in);
		free(out);
		return -1;
	}
	free(n->buckets);
	free(n->ebuckets);
	n->buckets = in;
	n->ebuckets = out;
	n->bmask = count - 1;
	return 0;
}

/* Doubles the hashes (up to NAT_BUCKETS_MAX) and chains every mapping
 * again; on ENOMEM the old ones stay. */
static void nat_buckets_grow(struct nat *n)
{
	struct nat_map *m;

	if (n->bmask + 1 >= NAT_BUCKETS_MAX || nat_buckets_make(n, 2 * (n->bmask + 1)) < 0)
		return;
	for (m = n->all; m; m = m->anext)
		nat_chain(n, m);
}

struct nat_map *nat_map_add(struct nat *n, const struct nat_map_spec *spec, natbed_time_t expires)
{
	struct nat_sub *sub = nat_sub_find(n, spec->int_addr);
	struct nat_map *m;
	size_t b;
	int pub = -1;

	for (b = 0; b < n->cfg.n_public; b++)
		if (n->cfg.publics[b] == spec->ext_addr)
			pub = (int)b;
	if (pub < 0 || (sub && n->cfg.publics[sub->pub] != spec->ext_addr) ||
	    nat_map_at(n, spec->proto, spec->ext_addr, spec->ext_port))
		return NULL;
	if (!sub && !(sub = nat_sub_new(n, spec->int_addr, pub)))
		return NULL;
	if (!(m = nat_map_alloc(n)))
		goto fail;
	m->nat = n;
	m->sub = sub;
	m->proto = spec->proto;
	m->int_addr = spec->int_addr;
	m->int_port = spec->int_port;
	m->key_addr = spec->key_addr;
	m->key_port = spec->key_port;
	m->ext_addr = spec->ext_addr;
	m->ext_port = spec->ext_port;
	m->created = sched_now(n->s);
	m->expires = m->armed = expires;
	m->expiry_ev = sched_at(n->s, expires, nat_expiry_cb, m);
	if (!m->expiry_ev) {
		free(m);
		goto fail;
	}
	if (n->c.mappings_active >= n->bmask + 1)
		nat_buckets_grow(n); /* on ENOMEM the chains grow longer */
	nat_chain(n, m);
	m->anext = n->all;
	if (n->all)
		n->all->aprev = m;
	n->all = m;
	sub->n_maps++;
	n->in_use[m->proto]++;
	n->c.mappings_active++;
	return m;
fail:
	if (sub->n_maps == 0)
		nat_sub_free(n, sub);
	return NULL;
}

/* A new mapping for the inside endpoint (a, port) sending to (ra, rp),
 * network order. NULL with *why when no port may be had. */
static struct nat_map *nat_map_new(struct nat *n, enum nat_proto p, uint32_t a, uint16_t port,
				   uint32_t ra, uint16_t rp, uint16_t want, bool asked,
				   natbed_time_t now, enum nat_verdict *why)
{
	struct nat_sub *sub = nat_sub_find(n, a), *fresh = NULL;
	uint32_t range = (uint32_t)n->cfg.b.port_hi - n->cfg.b.port_lo + 1;
	size_t pool = n->cfg.b.pool && n->cfg.b.pool < range ? n->cfg.b.pool : range;
	struct nat_pick pk = {
	    .proto = p, .raddr = ra, .rport = p == NAT_ICMP ? 0 : rp, .want = want};
	struct nat_map_spec spec = {.proto = p, .int_addr = a, .int_port = port};
	struct nat_map *m = NULL;
	int32_t ext;

	*why = NAT_DROP_EXHAUSTED;
	/* REQ-3: no port is ever shared; a pool caps each protocol */
	if (n->in_use[p] >= pool)
		return NULL;
	if (!sub && !(sub = fresh = nat_sub_new(n, a, -1)))
		return NULL;
	pk.addr = n->cfg.publics[sub->pub];
	nat_class(n, p, &pk);
	if (asked && want >= pk.keep_lo && want <= pk.hi && !n->cfg.b.port_block &&
	    nat_port_ok(n, &pk, want))
		ext = want; /* RFC 6887 §11.3: the suggested port, when it is free */
	else if (n->cfg.b.port_block)
		ext = nat_block_pick(n, sub, &pk, now, why);
	else
		ext = nat_ports_kinds[n->cfg.b.ports].pick(n, &pk);
	if (ext >= 0) {
		nat_key(n, ra, rp, &spec.key_addr, &spec.key_port);
		spec.ext_addr = pk.addr;
		spec.ext_port = htons((uint16_t)ext);
		m = nat_map_add(n, &spec,
				now + (p == NAT_UDP ? (n->cfg.b.unreplied_ns ?: n->cfg.b.timeout_ns)
				       : p == NAT_TCP ? n->cfg.tcp_transitory_ns
						      : n->cfg.icmp_timeout_ns));
	}
	if (m)
		n->c.mappings_created++;
	else if (fresh && fresh->n_maps == 0)
		nat_sub_free(n, fresh);
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
	pm = nat_perm_alloc(m->nat);
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
	/* RFC 6887 §11: a MAP mapping lets anyone in */
	if (m->granted)
		return true;
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
 * source is our outside endpoint; turn everything back to the inside host.
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

	if (nat_quote_of(v, &q) < 0 || !nat_is_public(n, q.ip->src))
		return NAT_DROP_UNSUPPORTED;
	m = nat_map_at(n, q.l4.proto, q.ip->src, *q.l4.sport);
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
 * packet's destination is the inside endpoint; show the outside our outside
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
	nat_rewrite(q.ip, &q.ip->dst, m->ext_addr, &q.l4, q.l4.dport, m->ext_port);
	v->ip->src = m->ext_addr;
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

/* The mapping an outbound packet from (a, port) to (ra, rp) takes, made if
 * needed. inbound-reserves (Linux): the endpoint's newest mapping serves a
 * new remote unless an unanswered packet from that remote holds its port;
 * then the flow gets a new mapping, which becomes the newest. */
static struct nat_map *nat_outbound_map(struct nat *n, enum nat_proto p, uint32_t a, uint16_t port,
					uint32_t ra, uint16_t rp, natbed_time_t now,
					enum nat_verdict *why)
{
	struct nat_map *m = nat_find(n, p, a, port, ra, rp);
	uint16_t rport = p == NAT_ICMP ? 0 : rp;

	if (m && n->cfg.b.inbound_reserves && !nat_perm_find(m, ra, rport, true) &&
	    nat_resv_find(n, p, m->ext_addr, m->ext_port, ra, rport, now))
		m = NULL;
	return m ? m : nat_map_new(n, p, a, port, ra, rp, ntohs(port), false, now, why);
}

enum nat_verdict nat_outbound(struct nat *n, struct ip_view *v, natbed_time_t now)
{
	enum nat_verdict why;
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
	m = nat_outbound_map(n, l4.proto, src, *l4.sport, dst, *l4.dport, now, &why);
	if (!m)
		return nat_drop(n, why);
	/* Filtering remembers where the inside host sent (RFC 4787 §5). */
	pm = nat_perm_add(m, dst, l4.proto == NAT_ICMP ? 0 : *l4.dport);
	if (l4.proto == NAT_TCP)
		nat_tcp_track(pm, v->l4, true);
	nat_rewrite(v->ip, &v->ip->src, m->ext_addr, &l4, l4.sport, m->ext_port);
	if (nat_frag_first(v))
		nat_frag_note(n, src, dst, v, true, m->ext_addr, now);
	/* RFC 4787 REQ-6: outbound traffic refreshes the mapping */
	nat_refresh(n, m, now);
	m->pkts_out++;
	n->c.out_pkts++;
	return NAT_PASS;
}

/* An inbound packet from (ra, rp) found no way in (why): with
 * inbound-reserves it holds its (remote, outside port) pair for the
 * unreplied time, as a Linux router's conntrack entry to itself does. */
static enum nat_verdict nat_refused(struct nat *n, enum nat_proto p, const struct ip_view *v,
				    uint16_t ext_port, uint16_t rp, natbed_time_t now,
				    enum nat_verdict why)
{
	const struct topo_nat_behaviour *b = &n->cfg.b;

	if (b->inbound_reserves && p != NAT_ICMP)
		nat_resv_hold(n, p, v->ip->dst, ext_port, v->ip->src, rp,
			      now + (b->unreplied_ns ? b->unreplied_ns : b->timeout_ns));
	return nat_drop(n, why);
}

enum nat_verdict nat_inbound(struct nat *n, struct ip_view *v, natbed_time_t now)
{
	struct nat_l4 l4;
	struct nat_map *m;
	uint16_t rp;

	if (ip_frag_later(v->ip))
		return nat_count(n, nat_frag_follow(n, v, false, now), &n->c.in_pkts);
	if (nat_l4_of(v->ip->proto, v->l4, v->l4_len, &l4) < 0)
		return icmpq_is_error(v) ? nat_count(n, nat_icmp_error_in(n, v), &n->c.in_pkts)
					 : nat_drop(n, NAT_DROP_UNSUPPORTED);
	rp = l4.proto == NAT_ICMP ? 0 : *l4.sport;
	m = nat_map_at(n, l4.proto, v->ip->dst, *l4.dport);
	if (!m)
		return nat_refused(n, l4.proto, v, *l4.dport, rp, now, NAT_DROP_NO_MAPPING);
	if (!nat_filter_allows(n, m, v->ip->src, rp))
		return nat_refused(n, l4.proto, v, *l4.dport, rp, now, NAT_DROP_FILTERED);
	if (l4.proto == NAT_TCP)
		nat_tcp_track(nat_perm_find(m, v->ip->src, *l4.sport, true), v->l4, false);
	if (nat_frag_first(v))
		nat_frag_note(n, v->ip->src, v->ip->dst, v, false, m->int_addr, now);
	nat_rewrite(v->ip, &v->ip->dst, m->int_addr, &l4, l4.dport, m->int_port);
	m->replied = true;
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

/* --- life cycle --------------------------------------------------------------- */

bool nat_cfg_ok(const struct nat_cfg *cfg)
{
	const struct topo_nat_behaviour *b = &cfg->b;
	uint32_t range = (uint32_t)b->port_hi - b->port_lo + 1;

	return b->port_lo != 0 && b->port_hi >= b->port_lo && b->stride != 0 &&
	       (unsigned)b->mapping < TOPO_MAP_COUNT && (unsigned)b->filtering < TOPO_MAP_COUNT &&
	       (unsigned)b->ports < TOPO_PORTS_COUNT && b->timeout_ns > 0 && cfg->n_public >= 1 &&
	       cfg->n_public <= TOPO_NAT_PUBLIC_MAX && b->port_block <= range &&
	       b->port_blocks <= NAT_BLOCKS_MAX; /* 0 blocks: 1 */
}

/* Port blocks per outside address and their table: made when a NAT gets
 * blocks (at start or by `set port-block`). 0, or -1 on ENOMEM. */
static int nat_blocks_make(struct nat *n)
{
	const struct topo_nat_behaviour *b = &n->cfg.b;

	free(n->block_used);
	n->block_used = NULL;
	n->blocks_per_pub = 0;
	if (!b->port_block)
		return 0;
	n->blocks_per_pub = ((uint32_t)b->port_hi - b->port_lo + 1) / b->port_block;
	n->block_used = calloc((size_t)n->cfg.n_public * n->blocks_per_pub, 1);
	return n->block_used ? 0 : -1;
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
	n->epoch_start = sched_now(s);
	if (nat_buckets_make(n, NAT_BUCKETS_MIN) < 0 || nat_blocks_make(n) < 0) {
		free(n->buckets);
		free(n->ebuckets);
		free(n);
		return NULL;
	}
	return n;
}

/* Mappings of every protocol held now. */
static size_t nat_maps_held(const struct nat *n)
{
	size_t total = 0;
	int p;

	for (p = 0; p < NAT_PROTO_COUNT; p++)
		total += n->in_use[p];
	return total;
}

void nat_flush(struct nat *n)
{
	while (n->all)
		nat_map_free(n, n->all);
	nat_resv_clear(n);
	n->epoch_start = sched_now(n->s);
}

void nat_restart(struct nat *n)
{
	int p;

	nat_flush(n);
	for (p = 0; p < NAT_PROTO_COUNT; p++)
		n->next_port[p] = n->cfg.b.port_lo;
	memset(n->frags, 0, sizeof(n->frags));
	n->frag_next = 0;
}

int nat_reshape(struct nat *n, const struct nat_cfg *c)
{
	bool blocks = c->b.port_block != n->cfg.b.port_block || c->b.port_lo != n->cfg.b.port_lo ||
		      c->b.port_hi != n->cfg.b.port_hi;
	int p;

	/* a changed mapping behaviour changes the key shape, and changed
	 * blocks the ports a subscriber may hold: start clean */
	if (c->b.mapping != n->cfg.b.mapping ||
	    (blocks && (c->b.port_block || n->cfg.b.port_block)))
		nat_flush(n);
	if (c->b.port_lo != n->cfg.b.port_lo || c->b.port_hi != n->cfg.b.port_hi)
		for (p = 0; p < NAT_PROTO_COUNT; p++)
			n->next_port[p] = c->b.port_lo;
	n->cfg = *c;
	return blocks ? nat_blocks_make(n) : 0;
}

/* Points every mapping of n back at n (after its state moved; the hash
 * buckets did not, so the chains' back pointers hold). */
static void nat_repoint(struct nat *n)
{
	struct nat_map *m;

	for (m = n->all; m; m = m->anext)
		m->nat = n;
}

void nat_adopt(struct nat *n, struct nat *fresh)
{
	/* swap the two states in place, then free the old */
	natbed_swap(n, fresh, sizeof(*n));
	nat_repoint(n);
	nat_repoint(fresh);
	/* n keeps its event hook; the old state goes quietly */
	n->cfg.on_event = fresh->cfg.on_event;
	n->cfg.event_ctx = fresh->cfg.event_ctx;
	fresh->cfg.on_event = NULL;
	nat_free(fresh);
}

void nat_free(struct nat *n)
{
	size_t b;

	if (!n)
		return;
	nat_flush(n);
	/* subscribers a restore made that no mapping came to (freed with
	 * their last mapping otherwise) */
	for (b = 0; b < NAT_SUB_BUCKETS; b++)
		while (n->subs[b])
			nat_sub_free(n, n->subs[b]);
	while (n->spare_maps) {
		struct nat_map *m = n->spare_maps;

		n->spare_maps = m->hnext;
		free(m);
	}
	while (n->spare_perms) {
		struct nat_perm *pm = n->spare_perms;

		n->spare_perms = pm->next;
		free(pm);
	}
	free(n->buckets);
	free(n->ebuckets);
	free(n->block_used);
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
	if (x->ext_addr != y->ext_addr)
		return ntohl(x->ext_addr) < ntohl(y->ext_addr) ? -1 : 1;
	return (ntohs(x->ext_port) > ntohs(y->ext_port)) -
	       (ntohs(x->ext_port) < ntohs(y->ext_port));
}

/* Walks every mapping (n->all). */
struct nat_map **nat_maps_sorted(const struct nat *n, size_t *count)
{
	size_t total = nat_maps_held(n), k = 0;
	struct nat_map **all, *m;

	*count = 0;
	if (total == 0 || !(all = malloc(total * sizeof(*all))))
		return NULL;
	for (m = n->all; m && k < total; m = m->anext)
		all[k++] = m;
	qsort(all, k, sizeof(*all), nat_map_cmp);
	*count = k;
	return all;
}

/* --- mappings asked for (PCP, NAT-PMP) ----------------------------------------- */

uint32_t nat_epoch_s(const struct nat *n, natbed_time_t now)
{
	return (uint32_t)((now - n->epoch_start) / NATBED_NS_PER_S);
}

uint32_t nat_public_for(const struct nat *n, uint32_t a)
{
	const struct nat_sub *sub = nat_sub_find(n, a);
	size_t i, pub = 0;

	if (sub)
		return n->cfg.publics[sub->pub];
	for (i = 1; i < n->cfg.n_public; i++)
		if (n->subs_per_pub[i] < n->subs_per_pub[pub])
			pub = i;
	return n->cfg.publics[pub];
}

/* Ends every mapping of protocol p that inside address a asked for. */
static void nat_grant_clear(struct nat *n, enum nat_proto p, uint32_t a)
{
	struct nat_map **all;
	size_t count, k;

	all = nat_maps_sorted(n, &count);
	for (k = 0; k < count; k++)
		if (all[k]->granted && all[k]->proto == p && all[k]->int_addr == a)
			nat_map_free(n, all[k]);
	free(all);
}

/* Lifetime 0: the mapping goes (a missing one is no error, RFC 6887
 * §15); PCP only when the nonce is the one that made it. */
static enum nat_grant_result nat_grant_delete(struct nat *n, struct nat_map *m,
					      const struct nat_grant_req *rq)
{
	if (m && m->granted == NAT_GRANT_PCP && rq->nonce &&
	    memcmp(m->nonce, rq->nonce, NAT_NONCE_LEN) != 0)
		return NAT_GRANT_NOT_AUTHORIZED;
	/* an implicit mapping, made by traffic, is not the client's to end */
	if (m && m->granted)
		nat_map_free(n, m);
	return NAT_GRANT_OK;
}

enum nat_grant_result nat_grant(struct nat *n, const struct nat_grant_req *rq, natbed_time_t now,
				uint32_t *ext_addr, uint16_t *ext_port, uint32_t *lifetime_s)
{
	uint32_t life =
	    rq->lifetime_s < NAT_GRANT_LIFETIME_MAX ? rq->lifetime_s : NAT_GRANT_LIFETIME_MAX;
	struct nat_map *m = NULL, *c;
	enum nat_verdict why;

	*lifetime_s = 0;
	if ((rq->int_addr & n->cfg.inside_mask) != n->cfg.inside_net)
		return NAT_GRANT_NOT_INSIDE;
	/* RFC 6886 §3.4, RFC 6887 §15: port 0, lifetime 0: all of them */
	if (rq->int_port == 0 && life == 0) {
		nat_grant_clear(n, rq->proto, rq->int_addr);
		return NAT_GRANT_OK;
	}
	/* the endpoint's endpoint-independent mapping, implicit or asked for */
	for (c = n->buckets[nat_hash(rq->proto, rq->int_addr, rq->int_port, 0, 0) & n->bmask];
	     c && !m; c = c->hnext)
		if (c->proto == rq->proto && c->int_addr == rq->int_addr &&
		    c->int_port == rq->int_port && c->key_addr == 0 && c->key_port == 0)
			m = c;
	if (life == 0)
		return nat_grant_delete(n, m, rq);
	/* RFC 6887 §11.3: a mapping of another nonce is not this client's */
	if (m && m->granted == NAT_GRANT_PCP && rq->nonce &&
	    memcmp(m->nonce, rq->nonce, NAT_NONCE_LEN) != 0)
		return NAT_GRANT_NOT_AUTHORIZED;
	if (!m) {
		uint16_t want = rq->want_port ? ntohs(rq->want_port) : ntohs(rq->int_port);

		m = nat_map_new(n, rq->proto, rq->int_addr, rq->int_port, 0, 0, want, true, now,
				&why);
		if (!m)
			return NAT_GRANT_NO_RESOURCES;
	}
	m->granted = (uint8_t)rq->by;
	if (rq->nonce)
		memcpy(m->nonce, rq->nonce, NAT_NONCE_LEN);
	m->granted_until = now + (natbed_time_t)life * NATBED_NS_PER_S;
	m->expires = m->granted_until;
	if (m->expires < m->armed)
		nat_rearm(n, m);
	*ext_addr = m->ext_addr;
	*ext_port = m->ext_port;
	*lifetime_s = life;
	return NAT_GRANT_OK;
}

/* --- natbed sim checkpoints: what the scheduler may call (nat_ctl.c writes) --- */

static const struct ckfn nat_fns[] = {CKFN(nat_expiry_cb)};
const struct ckfns nat_ckfns = CKFNS(nat, nat_fns);
