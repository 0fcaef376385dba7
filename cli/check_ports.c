/* natbed check: the external port of each new mapping against the NAT's
 * port assignment: its range and classes (RFC 4787 REQ-3a), parity
 * (REQ-4), paired pooling and port blocks (RFC 6888 REQ-2, REQ-4), and
 * its mode: preserve keeps the inside port when free and else takes the
 * next free one; preserve-random keeps it when free; sequential takes the
 * port `stride` after the last new one; random, any of the range. */
#include <stdlib.h>
#include <string.h>

#include "check_int.h"

#define CK_PROTOS     3 /* udp, tcp, icmp */
#define CK_SUB_BLOCKS 64

struct ck_sub_block {
	uint32_t blk;
	int64_t until; /* a mapping in it surely lives until */
	struct ck_ref ref;
};

/* RFC 6888: a subscriber, one inside address. */
struct ck_sub {
	uint32_t addr, ea;
	int64_t until; /* a mapping of it surely lives until */
	struct ck_ref ref;
	struct ck_sub_block blocks[CK_SUB_BLOCKS];
	size_t n_blocks;
};

struct ck_owner {
	uint32_t ea, blk, sub; /* a block of an outside address, its subscriber */
	int64_t until;
	struct ck_ref ref;
};

struct ck_ports {
	const struct topo_nat *n;
	const struct topo_nat_behaviour *b;
	int64_t slack;
	int64_t unknown_until[CK_PROTOS];
	uint32_t next[CK_PROTOS];     /* sequential: the NAT's next port, 0 at first */
	bool next_unknown[CK_PROTOS]; /* a mapping the captures cannot show moved it */
	struct ck_sub *subs;
	size_t n_subs;
	struct ck_owner *owners;
	size_t n_owners;
	unsigned long made, judged;
};

/* The range a pick uses (nat_class in the emulator): lo..hi, and the
 * inside port is also kept from keep_lo. */
struct ck_range {
	uint32_t lo, hi, keep_lo;
	const char *what;
};

static int proto_index(uint8_t proto)
{
	return proto == 17 ? 0 : proto == 6 ? 1 : 2;
}

struct ck_ports *ck_ports_new(const struct topo_nat *n, const struct topo_nat_behaviour *b,
			      natbed_time_t slack_ns)
{
	struct ck_ports *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->n = n;
	p->b = b;
	p->slack = slack_ns;
	return p;
}

void ck_ports_free(struct ck_ports *p)
{
	if (!p)
		return;
	free(p->subs);
	free(p->owners);
	free(p);
}

void ck_ports_unknown(struct ck_ports *p, uint8_t proto, int64_t until_ns)
{
	int i = proto_index(proto);

	if (until_ns > p->unknown_until[i])
		p->unknown_until[i] = until_ns;
	p->next_unknown[i] = true;
}

void ck_ports_flush(struct ck_ports *p, int64_t t_ns)
{
	size_t i, k;

	for (i = 0; i < p->n_subs; i++) {
		struct ck_sub *s = &p->subs[i];

		if (s->until > t_ns)
			s->until = t_ns;
		for (k = 0; k < s->n_blocks; k++)
			if (s->blocks[k].until > t_ns)
				s->blocks[k].until = t_ns;
	}
	for (i = 0; i < p->n_owners; i++)
		if (p->owners[i].until > t_ns)
			p->owners[i].until = t_ns;
}

static uint32_t blocks_per_pub(const struct topo_nat_behaviour *b)
{
	return ((uint32_t)b->port_hi - b->port_lo + 1) / b->port_block;
}

/* RFC 4787 REQ-3a: the range a new port for inside port want comes from;
 * with port blocks, the block port lies in. */
static struct ck_range range_of(const struct ck_ports *p, uint8_t proto, uint16_t want,
				uint16_t port)
{
	const struct topo_nat_behaviour *b = p->b;
	struct ck_range r = {b->port_lo, b->port_hi, b->port_lo, "the NAT's port-range"};

	if (b->port_block) {
		uint32_t blk = port >= b->port_lo ? (port - b->port_lo) / b->port_block : 0;

		r.lo = r.keep_lo = b->port_lo + blk * b->port_block;
		r.hi = r.lo + b->port_block - 1;
		r.what = "its port block";
		return r;
	}
	if (proto == 1 || b->classes == TOPO_CLASSES_NONE || want >= 1024 || want == 0)
		return r;
	if (b->classes == TOPO_CLASSES_LINUX && want < 512)
		return (struct ck_range){1, 511, 1, "the class of ports 1-511 (Linux)"};
	if (b->classes == TOPO_CLASSES_LINUX)
		return (struct ck_range){600, 1023, 512, "the class of ports 512-1023 (Linux)"};
	return (struct ck_range){1, 1023, 1, "the class of ports 1-1023 (RFC 4787 REQ-3a)"};
}

static bool range_ok(const struct ck_ports *p, const struct ck_newmap *m, struct ck_report *rep,
		     int row, struct ck_range *r)
{
	const struct topo_nat_behaviour *b = p->b;
	const struct ck_ref refs[] = {m->wan, m->inside};
	uint16_t port = m->ext.port, want = m->in.port;
	char a[CK_EP_STR];

	if (b->port_block &&
	    (port < b->port_lo || port >= b->port_lo + blocks_per_pub(b) * b->port_block)) {
		ck_violation(rep, row, refs, 2,
			     "new mapping %s for inside port %u is outside the NAT's port blocks "
			     "%u-%u",
			     ck_ep_str(m->ext, a), want, b->port_lo,
			     b->port_lo + blocks_per_pub(b) * b->port_block - 1);
		return false;
	}
	*r = range_of(p, m->proto, want, port);
	if ((port >= r->lo && port <= r->hi) ||
	    (port == want && want >= r->keep_lo && want <= r->hi))
		return true;
	ck_violation(rep, row, refs, 2, "new mapping %s for inside port %u is outside %s, %u-%u",
		     ck_ep_str(m->ext, a), want, r->what, r->lo, r->hi);
	return false;
}

static struct ck_sub *sub_get(struct ck_ports *p, uint32_t addr)
{
	struct ck_sub *n;
	size_t i;

	for (i = 0; i < p->n_subs; i++)
		if (p->subs[i].addr == addr)
			return &p->subs[i];
	if (!(n = realloc(p->subs, (p->n_subs + 1) * sizeof(*n))))
		return NULL;
	p->subs = n;
	n = &p->subs[p->n_subs++];
	memset(n, 0, sizeof(*n));
	n->addr = addr;
	return n;
}

/* RFC 6888 REQ-2: paired pooling, every mapping of a subscriber on one
 * outside address. */
static void pooling(struct ck_ports *p, struct ck_sub *s, const struct ck_newmap *m,
		    struct ck_report *rep, int row)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], c[INET_ADDRSTRLEN];

	if (s->until >= m->t_ns + p->slack && s->ea != m->ext.addr) {
		const struct ck_ref refs[] = {m->wan, m->inside, s->ref};

		ck_violation(rep, row, refs, 3,
			     "%s's new mapping is on %s while its mappings on %s live (RFC 6888 "
			     "REQ-2: paired pooling)",
			     ck_addr_str(s->addr, a), ck_addr_str(m->ext.addr, b),
			     ck_addr_str(s->ea, c));
	}
	if (s->ea != m->ext.addr || m->until_lo_ns > s->until) {
		s->ea = m->ext.addr;
		s->until = m->until_lo_ns;
		s->ref = m->wan;
	}
}

static struct ck_owner *owner_get(struct ck_ports *p, uint32_t ea, uint32_t blk)
{
	struct ck_owner *n;
	size_t i;

	for (i = 0; i < p->n_owners; i++)
		if (p->owners[i].ea == ea && p->owners[i].blk == blk)
			return &p->owners[i];
	if (!(n = realloc(p->owners, (p->n_owners + 1) * sizeof(*n))))
		return NULL;
	p->owners = n;
	n = &p->owners[p->n_owners++];
	memset(n, 0, sizeof(*n));
	n->ea = ea;
	n->blk = blk;
	return n;
}

/* RFC 6888 REQ-4: a subscriber's ports come from the blocks it holds, at
 * most port-blocks of them, and a block is one subscriber's. */
static void blocks(struct ck_ports *p, struct ck_sub *s, const struct ck_newmap *m,
		   struct ck_report *rep, int row)
{
	const struct topo_nat_behaviour *b = p->b;
	uint32_t blk = (m->ext.port - b->port_lo) / b->port_block,
		 lo = b->port_lo + blk * b->port_block;
	struct ck_owner *o = owner_get(p, m->ext.addr, blk);
	struct ck_sub_block *sb = NULL;
	size_t i, live = 0;
	char a[INET_ADDRSTRLEN], c[INET_ADDRSTRLEN];

	if (o && o->sub != s->addr && o->until >= m->t_ns + p->slack) {
		const struct ck_ref refs[] = {m->wan, m->inside, o->ref};

		ck_violation(rep, row, refs, 3,
			     "%s took port %u of block %u-%u, which subscriber %s holds (RFC 6888 "
			     "REQ-4)",
			     ck_addr_str(s->addr, a), m->ext.port, lo, lo + b->port_block - 1,
			     ck_addr_str(o->sub, c));
	}
	if (o && (o->sub != s->addr || m->until_lo_ns > o->until)) {
		o->sub = s->addr;
		o->until = m->until_lo_ns;
		o->ref = m->wan;
	}
	for (i = 0; i < s->n_blocks; i++) {
		if (s->blocks[i].blk == blk)
			sb = &s->blocks[i];
		else if (s->blocks[i].until >= m->t_ns + p->slack)
			live++;
	}
	if (live + 1 > (b->port_blocks ? b->port_blocks : 1)) {
		const struct ck_ref refs[] = {m->wan, m->inside};

		ck_violation(rep, row, refs, 2,
			     "%s holds %zu port blocks at once with this one (%u-%u); port-blocks "
			     "is %u (RFC 6888 REQ-4)",
			     ck_addr_str(s->addr, a), live + 1, lo, lo + b->port_block - 1,
			     b->port_blocks ? b->port_blocks : 1);
	}
	if (!sb && s->n_blocks < CK_SUB_BLOCKS)
		sb = &s->blocks[s->n_blocks++];
	else if (!sb) /* full: the block that ended first gives way */
		for (sb = &s->blocks[0], i = 1; i < s->n_blocks; i++)
			if (s->blocks[i].until < sb->until)
				sb = &s->blocks[i];
	if (sb->blk != blk || m->until_lo_ns > sb->until)
		*sb = (struct ck_sub_block){blk, m->until_lo_ns, m->wan};
}

/* The port a free-port walk from start takes: each step step further,
 * wrapping in r; ports of the wrong parity and those that may be held are
 * passed. Returns the first one surely free, or 0 when port comes before
 * any (then port is what the NAT could have picked). */
static uint32_t walk(const struct ck_ports *p, const struct ck_newmap *m, const struct ck_range *r,
		     uint32_t start, uint32_t step, ck_held_fn held, void *ctx)
{
	uint32_t range = r->hi - r->lo + 1, i, q;

	if (start < r->lo || start > r->hi)
		start = r->lo;
	for (i = 0; i < range; i++) {
		q = r->lo + (start - r->lo + i * step) % range;
		if (q == m->ext.port)
			return 0;
		if (q == 0 || (p->b->parity && (q & 1) != (m->in.port & 1u)))
			continue;
		if (!held(ctx, m->proto, m->ext.addr, (uint16_t)q, m->t_ns))
			return q;
	}
	return 0;
}

/* The assignment mode: what the NAT had to pick, given the ports held. */
static void mode(struct ck_ports *p, const struct ck_newmap *m, const struct ck_range *r,
		 struct ck_report *rep, int row, ck_held_fn held, void *ctx)
{
	const struct topo_nat_behaviour *b = p->b;
	const struct ck_ref refs[] = {m->wan, m->inside};
	uint16_t want = m->in.port, port = m->ext.port;
	int pi = proto_index(m->proto);
	uint32_t q, start = p->next[pi];
	bool lost = p->next_unknown[pi];
	char a[CK_EP_STR];

	/* the NAT's next sequential port follows this one, whatever came before */
	if (port >= r->lo && port <= r->hi) {
		p->next[pi] = r->lo + (port - r->lo + b->stride) % (r->hi - r->lo + 1);
		p->next_unknown[pi] = false;
	}
	/* a mapping the captures cannot show may hold any port */
	if (m->t_ns <= p->unknown_until[pi] + p->slack ||
	    (lost && b->ports == TOPO_PORTS_SEQUENTIAL))
		return;
	p->judged++;
	if (b->ports == TOPO_PORTS_PRESERVE || b->ports == TOPO_PORTS_PRESERVE_RANDOM) {
		if (want && want >= r->keep_lo && want <= r->hi &&
		    !held(ctx, m->proto, m->ext.addr, want, m->t_ns)) {
			if (port != want)
				ck_violation(rep, row, refs, 2,
					     "inside port %u was free, but the new mapping took %s "
					     "(%s keeps the inside port)",
					     want, ck_ep_str(m->ext, a),
					     topo_nat_ports_name(b->ports));
			return;
		}
		if (b->ports == TOPO_PORTS_PRESERVE && port != want &&
		    (q = walk(p, m, r, want, 1, held, ctx)))
			ck_violation(rep, row, refs, 2,
				     "inside port %u was taken and %u was the next free one, but "
				     "the new mapping took %s (preserve)",
				     want, q, ck_ep_str(m->ext, a));
		return;
	}
	if (b->ports == TOPO_PORTS_SEQUENTIAL && (q = walk(p, m, r, start, b->stride, held, ctx)))
		ck_violation(rep, row, refs, 2,
			     "the next sequential port was %u (stride %u), but the new mapping "
			     "took %s",
			     q, b->stride, ck_ep_str(m->ext, a));
}

void ck_ports_new_mapping(struct ck_ports *p, struct ck_report *rep, int row,
			  const struct ck_newmap *m, ck_held_fn held, void *ctx)
{
	const struct ck_ref refs[] = {m->wan, m->inside};
	struct ck_range r;
	struct ck_sub *s;
	char a[CK_EP_STR];

	p->made++;
	if (!range_ok(p, m, rep, row, &r))
		return;
	/* RFC 4787 REQ-4: parity kept */
	if (p->b->parity && (m->ext.port & 1) != (m->in.port & 1))
		ck_violation(rep, row, refs, 2,
			     "new mapping %s for inside port %u does not keep its parity (RFC 4787 "
			     "REQ-4)",
			     ck_ep_str(m->ext, a), m->in.port);
	if ((s = sub_get(p, m->in.addr))) {
		pooling(p, s, m, rep, row);
		if (p->b->port_block)
			blocks(p, s, m, rep, row);
	}
	mode(p, m, &r, rep, row, held, ctx);
}

void ck_ports_seen(const struct ck_ports *p, char *buf, size_t len)
{
	const struct topo_nat_behaviour *b = p->b;

	snprintf(buf, len, "%lu new mappings in %u-%u%s, %s%s; %lu judged", p->made, b->port_lo,
		 b->port_hi, b->classes == TOPO_CLASSES_NONE ? "" : " by class",
		 topo_nat_ports_name(b->ports), b->port_block ? ", port blocks" : "", p->judged);
}
