/* Unit tests for emulator/nat.c in virtual time (issue 4 acceptance): the
 * nine mapping x filtering combinations, port assignment (preserve,
 * sequential with a stride, seeded random), pool exhaustion (REQ-3), parity
 * (REQ-4), lifetime and refresh (REQ-5, REQ-6), checksums verified from
 * scratch, ICMP echo and errors (RFC 5508, REQ-12), TCP state timeouts
 * (RFC 5382), nat_set, checkpoint/restore and flush.
 *
 * Packets are built in memory; every checksum is checked by this file's own
 * RFC 1071 sum, not by the emulator's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckround.h"
#include "nat.h"
#include "nat_int.h" /* chains_ok() reads the hash chains */
#include "natbed/ckpt.h"
#include "natbed/clock.h"
#include "natbed/sched.h"
#include "../support/ref_csum.h"

#define T_PUBLIC  "203.0.113.1"
#define T_HOST	  "192.168.1.10"
#define T_HOST2	  "192.168.1.11"
#define T_R1	  "198.51.100.1"
#define T_R2	  "198.51.100.2"
#define T_BUF	  512
#define T_PAYLOAD 8 /* bytes after every L4 header we build */
#define T_S	  NATBED_NS_PER_S

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* --- packets ------------------------------------------------------------- */

struct tpkt {
	uint16_t align; /* puts the IP header after Ethernet's 14 bytes on 4 */
	uint8_t buf[T_BUF];
	size_t len;
	struct ip_view v;
};

_Static_assert(offsetof(struct tpkt, buf) % 4 == 2, "tpkt alignment");

static uint32_t a4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static struct ipv4_hdr *t_ip(struct tpkt *p)
{
	return (struct ipv4_hdr *)(p->buf + ETH_HLEN_);
}

static uint8_t *t_l4(struct tpkt *p)
{
	return p->buf + ETH_HLEN_ + IPV4_MIN_HLEN;
}

/* The L4 checksum over an IP packet at ip (pseudo-header for UDP/TCP). */
static uint32_t t_l4_sum(const uint8_t *ip, size_t l4len)
{
	return ref_l4_sum(ip, ip + IPV4_MIN_HLEN, l4len);
}

static uint16_t *t_l4_csum_field(uint8_t *ip)
{
	uint8_t proto = ((struct ipv4_hdr *)ip)->proto;
	uint8_t *l4 = ip + IPV4_MIN_HLEN;

	if (proto == IPPROTO_UDP_)
		return &((struct udp_hdr *)l4)->csum;
	if (proto == IPPROTO_TCP_)
		return &((struct tcp_hdr *)l4)->csum;
	return &((struct icmp_hdr *)l4)->csum;
}

/* Sets the IP header and L4 checksums of the IP packet at ip. */
static void t_csum_set(uint8_t *ip, size_t l4len, bool udp_zero)
{
	struct ipv4_hdr *h = (struct ipv4_hdr *)ip;
	uint16_t *f = t_l4_csum_field(ip);
	uint16_t c;

	h->csum = 0;
	h->csum = htons((uint16_t)~ref_csum_sum(0, ip, IPV4_MIN_HLEN));
	*f = 0;
	if (udp_zero)
		return;
	c = (uint16_t)~t_l4_sum(ip, l4len);
	if (c == 0 && h->proto == IPPROTO_UDP_)
		c = 0xffff; /* RFC 768 */
	*f = htons(c);
}

/* Both checksums of the IP packet at ip verify from scratch, and a UDP
 * checksum is not zero (RFC 768: zero means none; the one datagram sent
 * without a checksum is checked on its own). */
static void t_csum_check(const uint8_t *ip, size_t l4len)
{
	assert_int_equal(ref_csum_sum(0, ip, IPV4_MIN_HLEN), 0xffff);
	assert_true(ref_l4_csum_ok(ip, ip + IPV4_MIN_HLEN, l4len, false));
}

static void t_check(struct tpkt *p)
{
	t_csum_check((uint8_t *)t_ip(p), p->v.l4_len);
}

/* An IPv4 header for an L4 part of l4len bytes; the caller fills the L4. */
static void t_ip_fill(struct tpkt *p, uint8_t proto, const char *src, const char *dst, size_t l4len)
{
	struct ipv4_hdr *ip = t_ip(p);
	struct eth_hdr *eth = (struct eth_hdr *)p->buf;

	memset(p, 0, sizeof(*p));
	eth->type = htons(ETHERTYPE_IPV4);
	ip->ver_ihl = 0x45;
	ip->tot_len = htons((uint16_t)(IPV4_MIN_HLEN + l4len));
	ip->id = htons(0x4242);
	ip->ttl = 64;
	ip->proto = proto;
	ip->src = a4(src);
	ip->dst = a4(dst);
	p->len = ETH_HLEN_ + IPV4_MIN_HLEN + l4len;
}

static void t_finish(struct tpkt *p, bool udp_zero)
{
	t_csum_set((uint8_t *)t_ip(p), p->len - ETH_HLEN_ - IPV4_MIN_HLEN, udp_zero);
	assert_int_equal(ip_view_parse(p->buf, p->len, &p->v), 0);
	t_check(p);
}

static void t_udp(struct tpkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	struct udp_hdr *u;

	t_ip_fill(p, IPPROTO_UDP_, src, dst, UDP_HLEN + T_PAYLOAD);
	u = (struct udp_hdr *)t_l4(p);
	u->sport = htons(sport);
	u->dport = htons(dport);
	u->len = htons(UDP_HLEN + T_PAYLOAD);
	memcpy(t_l4(p) + UDP_HLEN, "natbed-u", T_PAYLOAD);
	t_finish(p, false);
}

static void t_tcp(struct tpkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport,
		  uint8_t flags)
{
	struct tcp_hdr *t;

	t_ip_fill(p, IPPROTO_TCP_, src, dst, TCP_MIN_HLEN + T_PAYLOAD);
	t = (struct tcp_hdr *)t_l4(p);
	t->sport = htons(sport);
	t->dport = htons(dport);
	t->seq = htonl(1000);
	t->ack = htonl(flags & TCP_ACK ? 2000 : 0);
	t->off = 5 << 4;
	t->flags = flags;
	t->win = htons(65535);
	memcpy(t_l4(p) + TCP_MIN_HLEN, "natbed-t", T_PAYLOAD);
	t_finish(p, false);
}

static void t_echo(struct tpkt *p, uint8_t type, const char *src, const char *dst, uint16_t id)
{
	struct icmp_hdr *ic;

	t_ip_fill(p, IPPROTO_ICMP_, src, dst, ICMP_HLEN + T_PAYLOAD);
	ic = (struct icmp_hdr *)t_l4(p);
	ic->type = type;
	ic->id = htons(id);
	ic->seq = htons(7);
	memcpy(t_l4(p) + ICMP_HLEN, "natbed-i", T_PAYLOAD);
	t_finish(p, false);
}

/* An ICMP error (type, code) from src to dst quoting the whole IP packet q. */
static void t_icmp_error(struct tpkt *p, uint8_t type, uint8_t code, const char *src,
			 const char *dst, const struct tpkt *q)
{
	size_t qlen = q->len - ETH_HLEN_;
	struct icmp_hdr *ic;

	t_ip_fill(p, IPPROTO_ICMP_, src, dst, ICMP_HLEN + qlen);
	ic = (struct icmp_hdr *)t_l4(p);
	ic->type = type;
	ic->code = code;
	memcpy(t_l4(p) + ICMP_HLEN, q->buf + ETH_HLEN_, qlen);
	t_finish(p, false);
}

static uint16_t t_sport(struct tpkt *p)
{
	return ntohs(((struct udp_hdr *)p->v.l4)->sport);
}

static uint16_t t_dport(struct tpkt *p)
{
	return ntohs(((struct udp_hdr *)p->v.l4)->dport);
}

/* --- a NAT on a virtual clock --------------------------------------------- */

struct fx {
	struct clock_virtual vc;
	struct sched *s;
	struct nat *n;
	char trace[1024]; /* what t_mark() saw: "ms:expired" words */
};

static void t_cfg(struct nat_cfg *c, enum topo_nat_map mapping, enum topo_nat_map filtering,
		  enum topo_nat_ports ports)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "home");
	c->b.mapping = mapping;
	c->b.filtering = filtering;
	c->b.ports = ports;
	c->b.port_lo = 1024;
	c->b.port_hi = 65535;
	c->b.stride = 1;
	c->b.timeout_ns = 120 * T_S;
	c->tcp_established_ns = 7440 * T_S;
	c->tcp_transitory_ns = 240 * T_S;
	c->icmp_timeout_ns = 60 * T_S;
	c->publics[0] = a4(T_PUBLIC);
	c->n_public = 1;
	c->inside_net = a4("192.168.1.0");
	c->inside_mask = htonl(0xffffff00u);
	c->seed = 42;
}

static struct fx *fx_new(const struct nat_cfg *cfg)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->s = sched_new(clock_virtual_clock(&f->vc), &f->vc);
	assert_non_null(f->s);
	f->n = nat_new(cfg, f->s);
	assert_non_null(f->n);
	return f;
}

static struct fx *fx_make(enum topo_nat_map m, enum topo_nat_map fl, enum topo_nat_ports ports)
{
	struct nat_cfg c;

	t_cfg(&c, m, fl, ports);
	return fx_new(&c);
}

static void fx_free(struct fx *f)
{
	nat_free(f->n);
	sched_free(f->s);
	free(f);
}

static natbed_time_t fx_now(struct fx *f)
{
	return sched_now(f->s);
}

/* Moves virtual time to t, running the expiry events due by then. */
static void fx_at(struct fx *f, natbed_time_t t)
{
	sched_run_until(f->s, t);
	assert_int_equal(fx_now(f), t);
}

static const struct nat_counters *fx_c(struct fx *f)
{
	return nat_counters(f->n);
}

/* UDP from an inside endpoint: the verdict; on a pass, the external port in
 * *ext after checking the source became the public address and the
 * destination stayed. */
static enum nat_verdict out_udp(struct fx *f, const char *src, uint16_t sport, const char *dst,
				uint16_t dport, uint16_t *ext)
{
	struct tpkt p;
	enum nat_verdict r;

	t_udp(&p, src, sport, dst, dport);
	r = nat_outbound(f->n, &p.v, fx_now(f));
	if (r == NAT_PASS) {
		assert_int_equal(t_ip(&p)->src, a4(T_PUBLIC));
		assert_int_equal(t_ip(&p)->dst, a4(dst));
		assert_int_equal(t_dport(&p), dport);
		t_check(&p);
		if (ext)
			*ext = t_sport(&p);
	}
	return r;
}

/* Like out_udp for a flow that must pass: its external port. */
static uint16_t out_ok(struct fx *f, const char *src, uint16_t sport, const char *dst,
		       uint16_t dport)
{
	uint16_t ext = 0;

	assert_int_equal(out_udp(f, src, sport, dst, dport, &ext), NAT_PASS);
	return ext;
}

/* UDP from a remote endpoint to the public address, port ext. On a pass,
 * where it went in *to / *to_port (either may be NULL). */
static enum nat_verdict in_udp(struct fx *f, const char *src, uint16_t sport, uint16_t ext,
			       uint32_t *to, uint16_t *to_port)
{
	struct tpkt p;
	enum nat_verdict r;

	t_udp(&p, src, sport, T_PUBLIC, ext);
	r = nat_inbound(f->n, &p.v, fx_now(f));
	if (r == NAT_PASS) {
		assert_int_equal(t_ip(&p)->src, a4(src));
		assert_int_equal(t_sport(&p), sport);
		t_check(&p);
		if (to)
			*to = t_ip(&p)->dst;
		if (to_port)
			*to_port = t_dport(&p);
	}
	return r;
}

static size_t fx_mappings(struct fx *f)
{
	json_t *j = nat_mappings_json(f->n, fx_now(f));
	size_t n = json_array_size(j);

	json_decref(j);
	return n;
}

/* expires_in_ms of the i-th mapping in nat_mappings_json(). */
static json_int_t fx_expires_ms(struct fx *f, size_t i)
{
	json_t *j = nat_mappings_json(f->n, fx_now(f));
	json_int_t ms = json_integer_value(json_object_get(json_array_get(j, i), "expires_in_ms"));

	json_decref(j);
	return ms;
}

/* --- mapping and filtering: the nine combinations ------------------------ */

static const enum topo_nat_map t_kinds[] = {TOPO_MAP_EIM, TOPO_MAP_ADM, TOPO_MAP_APDM};

/* RFC 4787 §4.1: the mapping key. Same remote: same mapping; another port of
 * the same address: same unless APDM; another address: same only for EIM. */
static void check_mapping(enum topo_nat_map m, enum topo_nat_map fl)
{
	struct fx *f = fx_make(m, fl, TOPO_PORTS_SEQUENTIAL);
	uint16_t e1 = out_ok(f, T_HOST, 5000, T_R1, 3478);
	uint16_t e1b = out_ok(f, T_HOST, 5000, T_R1, 3478);
	uint16_t e2 = out_ok(f, T_HOST, 5000, T_R1, 3479);
	uint16_t e3 = out_ok(f, T_HOST, 5000, T_R2, 3478);
	size_t want = m == TOPO_MAP_EIM ? 1 : m == TOPO_MAP_ADM ? 2 : 3;

	assert_int_equal(e1, e1b);
	if (m == TOPO_MAP_APDM)
		assert_int_not_equal(e2, e1);
	else
		assert_int_equal(e2, e1);
	if (m == TOPO_MAP_EIM)
		assert_int_equal(e3, e1);
	else
		assert_int_not_equal(e3, e1);
	if (m == TOPO_MAP_ADM)
		assert_int_not_equal(e3, e2);
	assert_int_equal(fx_c(f)->mappings_created, want);
	assert_int_equal(fx_c(f)->mappings_active, want);
	assert_int_equal(fx_mappings(f), want);
	/* another inside port is always another mapping */
	assert_int_not_equal(out_ok(f, T_HOST, 5001, T_R1, 3478), e1);
	fx_free(f);
}

/* RFC 4787 §5: what may come in on a mapping made by one packet to R1:3478. */
static void check_filtering(enum topo_nat_map m, enum topo_nat_map fl)
{
	struct fx *f = fx_make(m, fl, TOPO_PORTS_PRESERVE);
	uint16_t e = out_ok(f, T_HOST, 5000, T_R1, 3478), to_port = 0;
	uint32_t to = 0;
	enum nat_verdict r;
	uint64_t filtered = 0;

	/* the remote it sent to: always */
	assert_int_equal(in_udp(f, T_R1, 3478, e, &to, &to_port), NAT_PASS);
	assert_int_equal(to, a4(T_HOST));
	assert_int_equal(to_port, 5000);
	/* another port of the same address: not under APDF */
	r = in_udp(f, T_R1, 3479, e, &to, &to_port);
	assert_int_equal(r, fl == TOPO_MAP_APDM ? NAT_DROP_FILTERED : NAT_PASS);
	filtered += r == NAT_DROP_FILTERED;
	/* another address: only under EIF */
	r = in_udp(f, T_R2, 3478, e, &to, &to_port);
	assert_int_equal(r, fl == TOPO_MAP_EIM ? NAT_PASS : NAT_DROP_FILTERED);
	filtered += r == NAT_DROP_FILTERED;
	if (r == NAT_PASS) {
		assert_int_equal(to, a4(T_HOST));
		assert_int_equal(to_port, 5000);
	}
	assert_int_equal(fx_c(f)->drops[NAT_DROP_FILTERED], filtered);
	/* a port with no mapping: never */
	assert_int_equal(in_udp(f, T_R1, 3478, e == 40000 ? 40001 : 40000, NULL, NULL),
			 NAT_DROP_NO_MAPPING);
	assert_int_equal(fx_c(f)->drops[NAT_DROP_NO_MAPPING], 1);
	/* once the host has sent to R2, R2 may answer whatever the filter */
	(void)out_ok(f, T_HOST, 5000, T_R2, 3478);
	if (m == TOPO_MAP_EIM)
		assert_int_equal(in_udp(f, T_R2, 3478, e, NULL, NULL), NAT_PASS);
	fx_free(f);
}

/* Sets p's fragment field and recomputes its IP header checksum: a UDP
 * datagram is cut into a first fragment (MF) and a later one. */
static void t_frag(struct tpkt *p, uint16_t frag)
{
	struct ipv4_hdr *ip = t_ip(p);

	ip->frag = htons(frag);
	ip_csum_set(ip, IPV4_MIN_HLEN);
	assert_int_equal(ip_view_parse(p->buf, p->len, &p->v), 0);
}

/* A later fragment: an IP header and bytes, no L4 header. */
static void t_later(struct tpkt *p, const char *src, const char *dst)
{
	t_ip_fill(p, IPPROTO_UDP_, src, dst, 16);
	memcpy(t_l4(p), "the second piece", 16);
	t_frag(p, 2); /* offset 2 x 8 bytes, last fragment */
}

/* RFC 4787 REQ-14: the fragments after the first carry no ports and follow
 * the first one's translation, both ways; one without its first is to be
 * held (NAT_HOLD), not a drop. */
static void test_fragments(void **state)
{
	struct fx *f = fx_make(TOPO_MAP_EIM, TOPO_MAP_APDM, TOPO_PORTS_PRESERVE);
	struct tpkt p;
	uint16_t ext;

	(void)state;
	t_udp(&p, T_HOST, 4000, T_R1, 53);
	t_frag(&p, IPV4_FRAG_MF);
	assert_int_equal(nat_outbound(f->n, &p.v, fx_now(f)), NAT_PASS);
	ext = t_sport(&p);
	t_later(&p, T_HOST, T_R1);
	assert_int_equal(nat_outbound(f->n, &p.v, fx_now(f)), NAT_PASS);
	assert_int_equal(t_ip(&p)->src, a4(T_PUBLIC));
	assert_int_equal(ip_view_parse(p.buf, p.len, &p.v), 0); /* header checksum right */
	/* the answer, in two pieces */
	t_udp(&p, T_R1, 53, T_PUBLIC, ext);
	t_frag(&p, IPV4_FRAG_MF);
	assert_int_equal(nat_inbound(f->n, &p.v, fx_now(f)), NAT_PASS);
	t_later(&p, T_R1, T_PUBLIC);
	assert_int_equal(nat_inbound(f->n, &p.v, fx_now(f)), NAT_PASS);
	assert_int_equal(t_ip(&p)->dst, a4(T_HOST));
	assert_int_equal(ip_view_parse(p.buf, p.len, &p.v), 0);
	/* a later fragment from elsewhere, or after the train expired */
	t_later(&p, T_R2, T_PUBLIC);
	assert_int_equal(nat_inbound(f->n, &p.v, fx_now(f)), NAT_HOLD);
	fx_at(f, 11 * T_S);
	t_later(&p, T_HOST, T_R1);
	assert_int_equal(nat_outbound(f->n, &p.v, fx_now(f)), NAT_HOLD);
	assert_int_equal(fx_c(f)->frags_held, 0); /* the holder counts, once */
	assert_int_equal(fx_c(f)->drops[NAT_DROP_UNSUPPORTED], 0);
	assert_false(nat_verdict_is_drop(NAT_HOLD));
	nat_count_frag_held(f->n);
	assert_int_equal(fx_c(f)->frags_held, 1);
	nat_count_frag_timeout(f->n);
	assert_int_equal(fx_c(f)->drops[NAT_DROP_FRAG_TIMEOUT], 1);
	fx_free(f);
}

/* RFC 4787 REQ-14, out of order: a later fragment that comes before its
 * first is held; offered again after the first passed, it is translated
 * like the first, outbound and inbound. */
static void test_fragments_out_of_order(void **state)
{
	struct fx *f = fx_make(TOPO_MAP_EIM, TOPO_MAP_APDM, TOPO_PORTS_PRESERVE);
	struct tpkt first, later;
	uint16_t ext;

	(void)state;
	t_later(&later, T_HOST, T_R1);
	assert_int_equal(nat_outbound(f->n, &later.v, fx_now(f)), NAT_HOLD);
	assert_int_equal(t_ip(&later)->src, a4(T_HOST)); /* untouched while held */
	t_udp(&first, T_HOST, 4000, T_R1, 53);
	t_frag(&first, IPV4_FRAG_MF);
	assert_true(nat_frag_first(&first.v));
	assert_false(nat_frag_first(&later.v));
	assert_int_equal(nat_outbound(f->n, &first.v, fx_now(f)), NAT_PASS);
	ext = t_sport(&first);
	assert_int_equal(nat_outbound(f->n, &later.v, fx_now(f)), NAT_PASS);
	assert_int_equal(t_ip(&later)->src, a4(T_PUBLIC));
	assert_int_equal(ip_view_parse(later.buf, later.len, &later.v), 0);
	/* the answer's later piece first */
	t_later(&later, T_R1, T_PUBLIC);
	assert_int_equal(nat_inbound(f->n, &later.v, fx_now(f)), NAT_HOLD);
	t_udp(&first, T_R1, 53, T_PUBLIC, ext);
	t_frag(&first, IPV4_FRAG_MF);
	assert_int_equal(nat_inbound(f->n, &first.v, fx_now(f)), NAT_PASS);
	assert_int_equal(nat_inbound(f->n, &later.v, fx_now(f)), NAT_PASS);
	assert_int_equal(t_ip(&later)->dst, a4(T_HOST));
	assert_int_equal(fx_c(f)->out_pkts, 2);
	assert_int_equal(fx_c(f)->in_pkts, 2);
	fx_free(f);
}

static void test_nine_combinations(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < 3; i++) {
		for (j = 0; j < 3; j++) {
			check_mapping(t_kinds[i], t_kinds[j]);
			check_filtering(t_kinds[i], t_kinds[j]);
		}
	}
}

/* --- port assignment ------------------------------------------------------ */

static void test_ports_preserve(void **state)
{
	struct fx *f = fx_make(TOPO_MAP_EIM, TOPO_MAP_APDM, TOPO_PORTS_PRESERVE);

	(void)state;
	assert_int_equal(out_ok(f, T_HOST, 5000, T_R1, 3478), 5000);
	/* another host with the same port: the next free one */
	assert_int_equal(out_ok(f, T_HOST2, 5000, T_R1, 3478), 5001);
	assert_int_equal(out_ok(f, "192.168.1.12", 5000, T_R1, 3478), 5002);
	/* 5001 is taken now: a host wanting it gets 5003 */
	assert_int_equal(out_ok(f, "192.168.1.13", 5001, T_R1, 3478), 5003);
	/* the top of the range wraps to the bottom on a conflict */
	assert_int_equal(out_ok(f, T_HOST, 65535, T_R1, 3478), 65535);
	assert_int_equal(out_ok(f, T_HOST2, 65535, T_R1, 3478), 1024);
	/* outside the range: a port from the range */
	assert_in_range(out_ok(f, T_HOST, 80, T_R1, 3478), 1024, 65535);
	fx_free(f);
}

static void test_ports_sequential_stride(void **state)
{
	struct nat_cfg c;
	struct fx *f;
	uint16_t first, p;
	int i;

	(void)state;
	t_cfg(&c, TOPO_MAP_APDM, TOPO_MAP_APDM, TOPO_PORTS_SEQUENTIAL);
	c.b.port_lo = 20000;
	c.b.port_hi = 20099;
	c.b.stride = 7;
	f = fx_new(&c);
	first = out_ok(f, T_HOST, 5000, T_R1, 3478);
	assert_int_equal(first, 20000);
	/* each new mapping (a new remote port under APDM) is stride further */
	for (i = 1; i < 14; i++) {
		p = out_ok(f, T_HOST, 5000, T_R1, (uint16_t)(3478 + i));
		assert_int_equal(p, 20000 + 7 * i);
	}
	/* then 20098, and the next wraps inside the range: 20098 + 7 - 100 */
	assert_int_equal(out_ok(f, T_HOST, 5000, T_R2, 1), 20098);
	assert_int_equal(out_ok(f, T_HOST, 5000, T_R2, 3), 20005);
	/* an existing mapping keeps its port and does not advance the counter */
	assert_int_equal(out_ok(f, T_HOST, 5000, T_R1, 3478), first);
	assert_int_equal(out_ok(f, T_HOST, 5000, T_R2, 2), 20012);
	/* a flush (a reboot) goes on counting; a restart (natbed sim's copy
	 * of a site for another client) starts from the range's start, with
	 * no mapping left */
	nat_flush(f->n);
	assert_int_equal(out_ok(f, T_HOST, 5000, T_R2, 9), 20019);
	nat_restart(f->n);
	assert_int_equal(fx_c(f)->mappings_active, 0);
	assert_int_equal(out_ok(f, T_HOST, 5000, T_R2, 9), 20000);
	assert_int_equal(fx_c(f)->mappings_active, 1);
	fx_free(f);
}

static void random_ports(uint64_t seed, uint16_t *ports, size_t n)
{
	struct nat_cfg c;
	struct fx *f;
	size_t i, k;

	t_cfg(&c, TOPO_MAP_APDM, TOPO_MAP_APDM, TOPO_PORTS_RANDOM);
	c.seed = seed;
	f = fx_new(&c);
	for (i = 0; i < n; i++) {
		ports[i] = out_ok(f, T_HOST, 5000, T_R1, (uint16_t)(1 + i));
		assert_in_range(ports[i], 1024, 65535);
		for (k = 0; k < i; k++)
			assert_int_not_equal(ports[k], ports[i]);
	}
	fx_free(f);
}

static void test_ports_random_seeded(void **state)
{
	uint16_t a[32], b[32], c[32];
	size_t i, same_as_c = 0, sequential = 0;

	(void)state;
	random_ports(7, a, 32);
	random_ports(7, b, 32);
	random_ports(8, c, 32);
	assert_memory_equal(a, b, sizeof(a));
	for (i = 0; i < 32; i++) {
		same_as_c += a[i] == c[i];
		if (i)
			sequential += a[i] == a[i - 1] + 1;
	}
	assert_true(same_as_c < 4);
	assert_true(sequential < 4);
}

/* REQ-3: a range of 16 ports and 17 flows: the 17th is refused and counted,
 * the 16 that pass all differ. In every port mode. */
static void test_pool_exhaustion(void **state)
{
	static const enum topo_nat_ports modes[] = {TOPO_PORTS_PRESERVE, TOPO_PORTS_SEQUENTIAL,
						    TOPO_PORTS_RANDOM};
	size_t mi, i, k;

	(void)state;
	for (mi = 0; mi < 3; mi++) {
		struct nat_cfg c;
		struct fx *f;
		uint16_t ports[16];

		t_cfg(&c, TOPO_MAP_EIM, TOPO_MAP_APDM, modes[mi]);
		c.b.port_lo = 40000;
		c.b.port_hi = 40015;
		f = fx_new(&c);
		for (i = 0; i < 16; i++) {
			/* two hosts with the same inside ports: they clash on purpose */
			ports[i] = out_ok(f, i & 1 ? "192.168.1.12" : T_HOST2,
					  (uint16_t)(40000 + i / 2), T_R1, 3478);
			assert_in_range(ports[i], 40000, 40015);
			for (k = 0; k < i; k++)
				assert_int_not_equal(ports[k], ports[i]);
		}
		assert_int_equal(out_udp(f, T_HOST, 6000, T_R1, 3478, NULL), NAT_DROP_EXHAUSTED);
		assert_int_equal(fx_c(f)->drops[NAT_DROP_EXHAUSTED], 1);
		assert_int_equal(fx_c(f)->mappings_active, 16);
		/* existing flows still pass; a freed port is usable again */
		assert_int_equal(out_ok(f, T_HOST2, 40000, T_R1, 3478), ports[0]);
		nat_flush(f->n);
		assert_in_range(out_ok(f, T_HOST, 6000, T_R1, 3478), 40000, 40015);
		fx_free(f);
	}
}

/* A pool smaller than the range caps the mappings per protocol. */
static void test_pool_size(void **state)
{
	struct nat_cfg c;
	struct fx *f;
	struct tpkt p;
	uint16_t i;

	(void)state;
	t_cfg(&c, TOPO_MAP_EIM, TOPO_MAP_EIM, TOPO_PORTS_RANDOM);
	c.b.pool = 4;
	f = fx_new(&c);
	for (i = 0; i < 4; i++)
		(void)out_ok(f, T_HOST, (uint16_t)(7000 + i), T_R1, 3478);
	assert_int_equal(out_udp(f, T_HOST, 7004, T_R1, 3478, NULL), NAT_DROP_EXHAUSTED);
	/* per protocol: TCP still has its own pool */
	t_tcp(&p, T_HOST, 7004, T_R1, 80, TCP_SYN);
	assert_int_equal(nat_outbound(f->n, &p.v, fx_now(f)), NAT_PASS);
	fx_free(f);
}

/* REQ-4: the external port keeps the parity of the internal one. */
static void test_parity(void **state)
{
	static const enum topo_nat_ports modes[] = {TOPO_PORTS_PRESERVE, TOPO_PORTS_SEQUENTIAL,
						    TOPO_PORTS_RANDOM};
	size_t mi;
	uint16_t i, e;

	(void)state;
	for (mi = 0; mi < 3; mi++) {
		struct nat_cfg c;
		struct fx *f;

		t_cfg(&c, TOPO_MAP_APDM, TOPO_MAP_APDM, modes[mi]);
		c.b.parity = true;
		f = fx_new(&c);
		for (i = 0; i < 64; i++) {
			/* same inside port, new remote: a new mapping each time */
			uint16_t in = (uint16_t)(5000 + (i % 3));

			e = out_ok(f, T_HOST, in, T_R1, (uint16_t)(100 + i));
			assert_int_equal(e & 1, in & 1);
		}
		fx_free(f);
	}
}

/* --- lifetime ------------------------------------------------------------- */

static struct fx *fx_timeout(natbed_time_t timeout, bool refresh_inbound)
{
	struct nat_cfg c;

	t_cfg(&c, TOPO_MAP_EIM, TOPO_MAP_APDM, TOPO_PORTS_SEQUENTIAL);
	c.b.timeout_ns = timeout;
	c.b.refresh_inbound = refresh_inbound;
	return fx_new(&c);
}

/* REQ-5: idle for its timeout, a mapping is gone; the next packet of the flow
 * gets a new port (sequential ports make "new" visible). */
static void test_lifetime_expiry(void **state)
{
	struct fx *f = fx_timeout(10 * T_S, false);
	uint16_t p1, p2;

	(void)state;
	p1 = out_ok(f, T_HOST, 5000, T_R1, 3478);
	fx_at(f, 10 * T_S - 1);
	assert_int_equal(fx_c(f)->mappings_active, 1);
	assert_int_equal(in_udp(f, T_R1, 3478, p1, NULL, NULL), NAT_PASS);
	fx_at(f, 10 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, 0);
	assert_int_equal(fx_c(f)->mappings_expired, 1);
	assert_int_equal(fx_mappings(f), 0);
	assert_int_equal(in_udp(f, T_R1, 3478, p1, NULL, NULL), NAT_DROP_NO_MAPPING);
	p2 = out_ok(f, T_HOST, 5000, T_R1, 3478);
	assert_int_not_equal(p2, p1);
	assert_int_equal(p2, p1 + 1);
	/* nothing is left on the scheduler but the new mapping's expiry */
	assert_int_equal(sched_pending(f->s), 1);
	fx_free(f);
}

/* REQ-6: outbound every half timeout keeps the mapping and its port. */
static void test_lifetime_refresh(void **state)
{
	struct fx *f = fx_timeout(10 * T_S, false);
	uint16_t p1;
	int i;

	(void)state;
	p1 = out_ok(f, T_HOST, 5000, T_R1, 3478);
	for (i = 1; i <= 20; i++) {
		fx_at(f, (natbed_time_t)i * 5 * T_S);
		assert_int_equal(fx_c(f)->mappings_active, 1);
		assert_int_equal(out_ok(f, T_HOST, 5000, T_R1, 3478), p1);
	}
	assert_int_equal(fx_c(f)->mappings_expired, 0);
	assert_int_equal(fx_c(f)->mappings_created, 1);
	/* one pending event, however many refreshes (lazy re-arm) */
	assert_int_equal(sched_pending(f->s), 1);
	fx_at(f, 110 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, 0);
	fx_free(f);
}

/* Inbound traffic does not refresh, unless refresh-inbound is on. */
static void test_lifetime_inbound(void **state)
{
	struct fx *f = fx_timeout(10 * T_S, false);
	uint16_t p;

	(void)state;
	p = out_ok(f, T_HOST, 5000, T_R1, 3478);
	fx_at(f, 6 * T_S);
	assert_int_equal(in_udp(f, T_R1, 3478, p, NULL, NULL), NAT_PASS);
	fx_at(f, 10 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, 0);
	fx_free(f);

	f = fx_timeout(10 * T_S, true);
	p = out_ok(f, T_HOST, 5000, T_R1, 3478);
	fx_at(f, 6 * T_S);
	assert_int_equal(in_udp(f, T_R1, 3478, p, NULL, NULL), NAT_PASS);
	fx_at(f, 15 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, 1);
	fx_at(f, 16 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, 0);
	/* a filtered packet refreshes nothing even then */
	p = out_ok(f, T_HOST, 5000, T_R1, 3478);
	fx_at(f, 20 * T_S);
	assert_int_equal(in_udp(f, T_R2, 3478, p, NULL, NULL), NAT_DROP_FILTERED);
	fx_at(f, 26 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, 0);
	fx_free(f);
}

/* --- checksums ------------------------------------------------------------ */

static void test_checksums(void **state)
{
	struct fx *f = fx_make(TOPO_MAP_APDM, TOPO_MAP_APDM, TOPO_PORTS_RANDOM);
	struct tpkt p;
	uint16_t ext;
	int i;

	(void)state;
	for (i = 0; i < 50; i++) {
		/* UDP both ways (out_udp and in_udp check from scratch) */
		ext = out_ok(f, T_HOST, (uint16_t)(5000 + i), T_R1, 3478);
		assert_int_equal(in_udp(f, T_R1, 3478, ext, NULL, NULL), NAT_PASS);
		/* TCP both ways */
		t_tcp(&p, T_HOST, (uint16_t)(6000 + i), T_R1, 443, TCP_SYN);
		assert_int_equal(nat_outbound(f->n, &p.v, fx_now(f)), NAT_PASS);
		t_check(&p);
		assert_int_equal(t_ip(&p)->src, a4(T_PUBLIC));
		ext = t_sport(&p);
		t_tcp(&p, T_R1, 443, T_PUBLIC, ext, TCP_SYN | TCP_ACK);
		assert_int_equal(nat_inbound(f->n, &p.v, fx_now(f)), NAT_PASS);
		t_check(&p);
		assert_int_equal(t_ip(&p)->dst, a4(T_HOST));
		assert_int_equal(t_dport(&p), 6000 + i);
	}
	/* RFC 768: a UDP datagram without a checksum keeps none */
	t_udp(&p, T_HOST, 9000, T_R1, 3478);
	((struct udp_hdr *)p.v.l4)->csum = 0;
	assert_int_equal(nat_outbound(f->n, &p.v, fx_now(f)), NAT_PASS);
	assert_int_equal(((struct udp_hdr *)p.v.l4)->csum, 0);
	assert_int_equal(ref_csum_sum(0, (const uint8_t *)t_ip(&p), IPV4_MIN_HLEN), 0xffff);
	fx_free(f);
}

/* UDP src:sport -> dst:dport whose checksum computes to zero once the NAT
 * has rewritten it to xsrc:xsport -> xdst:xdport: the payload's first word
 * makes the rewritten datagram sum to 0xffff (RFC 1071). */
static void t_udp_zero_after(struct tpkt *p, const char *src, uint16_t sport, const char *dst,
			     uint16_t dport, const char *xsrc, uint16_t xsport, const char *xdst,
			     uint16_t xdport)
{
	struct udp_hdr *u = (struct udp_hdr *)t_l4(p);
	uint8_t *payload = t_l4(p) + UDP_HLEN;
	uint16_t w;

	t_udp(p, xsrc, xsport, xdst, xdport);
	payload[0] = payload[1] = 0;
	u->csum = 0;
	w = (uint16_t)~t_l4_sum((uint8_t *)t_ip(p), p->v.l4_len);
	payload[0] = (uint8_t)(w >> 8);
	payload[1] = (uint8_t)w;
	assert_int_equal(t_l4_sum((uint8_t *)t_ip(p), p->v.l4_len), 0xffff);
	t_ip(p)->src = a4(src);
	t_ip(p)->dst = a4(dst);
	u->sport = htons(sport);
	u->dport = htons(dport);
	t_finish(p, false);
	assert_int_not_equal(u->csum, htons(0xffff)); /* the sender's own is not */
}

static uint16_t t_udp_csum(const uint8_t *l4)
{
	return ntohs(((const struct udp_hdr *)l4)->csum);
}

/* RFC 768: a UDP checksum that computes to zero is sent as 0xFFFF, since
 * zero means "no checksum". A translated datagram whose new checksum comes
 * out zero (1 in 65,536) carries 0xFFFF, both ways, and so does the
 * datagram an ICMP error quotes, translated back. */
static void test_checksum_udp_zero(void **state)
{
	struct fx *f = fx_make(TOPO_MAP_EIM, TOPO_MAP_EIM, TOPO_PORTS_PRESERVE);
	struct tpkt p, err;
	uint16_t ext;

	(void)state;
	ext = out_ok(f, T_HOST, 5000, T_R1, 3478);
	t_udp_zero_after(&p, T_HOST, 5000, T_R1, 3478, T_PUBLIC, ext, T_R1, 3478);
	assert_int_equal(nat_outbound(f->n, &p.v, fx_now(f)), NAT_PASS);
	assert_int_equal(t_udp_csum(p.v.l4), 0xffff);
	t_check(&p);
	t_udp_zero_after(&p, T_R1, 3478, T_PUBLIC, ext, T_R1, 3478, T_HOST, 5000);
	assert_int_equal(nat_inbound(f->n, &p.v, fx_now(f)), NAT_PASS);
	assert_int_equal(t_udp_csum(p.v.l4), 0xffff);
	t_check(&p);
	/* an error about a datagram the NAT sent: the quote goes back inside */
	t_udp_zero_after(&p, T_PUBLIC, ext, T_R1, 3478, T_HOST, 5000, T_R1, 3478);
	t_icmp_error(&err, 3, 3, T_R1, T_PUBLIC, &p);
	assert_int_equal(nat_inbound(f->n, &err.v, fx_now(f)), NAT_PASS);
	assert_int_equal(t_udp_csum(err.v.l4 + ICMP_HLEN + IPV4_MIN_HLEN), 0xffff);
	t_csum_check(err.v.l4 + ICMP_HLEN, p.v.l4_len);
	/* an error from inside about a datagram that came in: the quote goes out */
	t_udp_zero_after(&p, T_R1, 3478, T_HOST, 5000, T_R1, 3478, T_PUBLIC, ext);
	t_icmp_error(&err, 3, 3, T_HOST, T_R1, &p);
	assert_int_equal(nat_outbound(f->n, &err.v, fx_now(f)), NAT_PASS);
	assert_int_equal(t_udp_csum(err.v.l4 + ICMP_HLEN + IPV4_MIN_HLEN), 0xffff);
	t_csum_check(err.v.l4 + ICMP_HLEN, p.v.l4_len);
	fx_free(f);
}

/* --- ICMP ----------------------------------------------------------------- */

/* RFC 5508 REQ-3: the echo identifier is mapped like a port. */
static void test_icmp_echo(void **state)
{
	struct fx *f = fx_make(TOPO_MAP_EIM, TOPO_MAP_ADM, TOPO_PORTS_PRESERVE);
	struct tpkt p;
	uint16_t id1, id2;

	(void)state;
	t_echo(&p, 8, T_HOST, T_R1, 0x1234);
	assert_int_equal(nat_outbound(f->n, &p.v, fx_now(f)), NAT_PASS);
	t_check(&p);
	id1 = ntohs(((struct icmp_hdr *)p.v.l4)->id);
	assert_int_equal(id1, 0x1234);
	/* a second host with the same id gets another one */
	t_echo(&p, 8, T_HOST2, T_R1, 0x1234);
	assert_int_equal(nat_outbound(f->n, &p.v, fx_now(f)), NAT_PASS);
	t_check(&p);
	id2 = ntohs(((struct icmp_hdr *)p.v.l4)->id);
	assert_int_not_equal(id2, id1);
	/* the replies go back to each host with its own id */
	t_echo(&p, 0, T_R1, T_PUBLIC, id2);
	assert_int_equal(nat_inbound(f->n, &p.v, fx_now(f)), NAT_PASS);
	t_check(&p);
	assert_int_equal(t_ip(&p)->dst, a4(T_HOST2));
	assert_int_equal(ntohs(((struct icmp_hdr *)p.v.l4)->id), 0x1234);
	t_echo(&p, 0, T_R1, T_PUBLIC, id1);
	assert_int_equal(nat_inbound(f->n, &p.v, fx_now(f)), NAT_PASS);
	assert_int_equal(t_ip(&p)->dst, a4(T_HOST));
	/* ADF: a reply from an address never pinged is filtered */
	t_echo(&p, 0, T_R2, T_PUBLIC, id1);
	assert_int_equal(nat_inbound(f->n, &p.v, fx_now(f)), NAT_DROP_FILTERED);
	/* the ICMP mapping lives for its own timeout (60 s) */
	fx_at(f, 60 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, 0);
	fx_free(f);
}

/* RFC 5508 REQ-4, RFC 4787 REQ-12: an ICMP error about a translated packet
 * reaches the inside host with the quoted packet translated back, and the
 * mapping survives it. */
static void test_icmp_error_in(void **state)
{
	struct fx *f = fx_timeout(10 * T_S, false);
	struct tpkt sent, err;
	uint8_t *quoted;
	size_t qlen;
	uint16_t ext;

	(void)state;
	t_udp(&sent, T_HOST, 5000, T_R1, 3478);
	assert_int_equal(nat_outbound(f->n, &sent.v, fx_now(f)), NAT_PASS);
	ext = t_sport(&sent);
	fx_at(f, 4 * T_S);
	/* port unreachable from R1, quoting the packet as it left the NAT */
	t_icmp_error(&err, 3, 3, T_R1, T_PUBLIC, &sent);
	assert_int_equal(nat_inbound(f->n, &err.v, fx_now(f)), NAT_PASS);
	assert_int_equal(t_ip(&err)->src, a4(T_R1));
	assert_int_equal(t_ip(&err)->dst, a4(T_HOST));
	t_check(&err);
	quoted = err.v.l4 + ICMP_HLEN;
	qlen = err.v.l4_len - ICMP_HLEN;
	assert_int_equal(((struct ipv4_hdr *)quoted)->src, a4(T_HOST));
	assert_int_equal(((struct ipv4_hdr *)quoted)->dst, a4(T_R1));
	assert_int_equal(ntohs(((struct udp_hdr *)(quoted + IPV4_MIN_HLEN))->sport), 5000);
	assert_int_equal(ntohs(((struct udp_hdr *)(quoted + IPV4_MIN_HLEN))->dport), 3478);
	/* the quoted packet is whole here: its checksums verify too */
	t_csum_check(quoted, qlen - IPV4_MIN_HLEN);
	assert_int_equal(fx_c(f)->icmp_errors, 1);
	/* REQ-12: the mapping is still there, with its port, and not refreshed */
	assert_int_equal(fx_c(f)->mappings_active, 1);
	assert_int_equal(fx_expires_ms(f, 0), 6000);
	assert_int_equal(in_udp(f, T_R1, 3478, ext, NULL, NULL), NAT_PASS);
	assert_int_equal(out_ok(f, T_HOST, 5000, T_R1, 3478), ext);
	/* an error quoting a port with no mapping is dropped and counted */
	((struct udp_hdr *)sent.v.l4)->sport = htons((uint16_t)(ext + 1));
	t_csum_set((uint8_t *)t_ip(&sent), sent.v.l4_len, false);
	t_icmp_error(&err, 3, 3, T_R1, T_PUBLIC, &sent);
	assert_int_equal(nat_inbound(f->n, &err.v, fx_now(f)), NAT_DROP_NO_MAPPING);
	fx_free(f);
}

/* An ICMP error must pass the filter the packet it quotes would have met
 * coming back: on a symmetric NAT (APDM, APDF) a port unreachable quoting a
 * packet "to" a remote the inside host never contacted is filtered, for the
 * mapping's own port too; one about the real remote passes, from whichever
 * router sent it. On address-dependent filtering the remote's address is
 * enough. */
static void test_icmp_error_filtered(void **state)
{
	struct fx *f = fx_make(TOPO_MAP_APDM, TOPO_MAP_APDM, TOPO_PORTS_SEQUENTIAL);
	struct tpkt sent, forged, err;
	uint16_t ext;

	(void)state;
	t_udp(&sent, T_HOST, 5000, T_R1, 3478);
	assert_int_equal(nat_outbound(f->n, &sent.v, fx_now(f)), NAT_PASS);
	ext = t_sport(&sent);
	/* a stranger quotes public:ext -> R2:9999, never sent */
	t_udp(&forged, T_PUBLIC, ext, T_R2, 9999);
	t_icmp_error(&err, 3, 3, T_R2, T_PUBLIC, &forged);
	assert_int_equal(nat_inbound(f->n, &err.v, fx_now(f)), NAT_DROP_FILTERED);
	/* ... and R1's own address with another port: APDF refuses it too */
	t_udp(&forged, T_PUBLIC, ext, T_R1, 3479);
	t_icmp_error(&err, 3, 3, T_R1, T_PUBLIC, &forged);
	assert_int_equal(nat_inbound(f->n, &err.v, fx_now(f)), NAT_DROP_FILTERED);
	/* a time exceeded from a router (R2) about the real packet passes */
	t_icmp_error(&err, 11, 0, T_R2, T_PUBLIC, &sent);
	assert_int_equal(nat_inbound(f->n, &err.v, fx_now(f)), NAT_PASS);
	assert_int_equal(t_ip(&err)->dst, a4(T_HOST));
	assert_int_equal(fx_c(f)->drops[NAT_DROP_FILTERED], 2);
	fx_free(f);

	f = fx_make(TOPO_MAP_EIM, TOPO_MAP_ADM, TOPO_PORTS_PRESERVE);
	t_udp(&sent, T_HOST, 5000, T_R1, 3478);
	assert_int_equal(nat_outbound(f->n, &sent.v, fx_now(f)), NAT_PASS);
	t_udp(&forged, T_PUBLIC, t_sport(&sent), T_R1, 3479);
	t_icmp_error(&err, 3, 3, T_R1, T_PUBLIC, &forged);
	assert_int_equal(nat_inbound(f->n, &err.v, fx_now(f)), NAT_PASS);
	t_udp(&forged, T_PUBLIC, t_sport(&sent), T_R2, 3478);
	t_icmp_error(&err, 3, 3, T_R2, T_PUBLIC, &forged);
	assert_int_equal(nat_inbound(f->n, &err.v, fx_now(f)), NAT_DROP_FILTERED);
	fx_free(f);
}

/* An ICMP error from the inside host about a packet that came in: the
 * outside sees the public address and the mapped port. */
static void test_icmp_error_out(void **state)
{
	struct fx *f = fx_make(TOPO_MAP_EIM, TOPO_MAP_EIM, TOPO_PORTS_SEQUENTIAL);
	struct tpkt in, err;
	uint8_t *quoted;
	uint16_t ext;

	(void)state;
	ext = out_ok(f, T_HOST, 5000, T_R1, 3478);
	t_udp(&in, T_R2, 4000, T_PUBLIC, ext);
	assert_int_equal(nat_inbound(f->n, &in.v, fx_now(f)), NAT_PASS);
	t_icmp_error(&err, 3, 3, T_HOST, T_R2, &in);
	assert_int_equal(nat_outbound(f->n, &err.v, fx_now(f)), NAT_PASS);
	assert_int_equal(t_ip(&err)->src, a4(T_PUBLIC));
	t_check(&err);
	quoted = err.v.l4 + ICMP_HLEN;
	assert_int_equal(((struct ipv4_hdr *)quoted)->dst, a4(T_PUBLIC));
	assert_int_equal(ntohs(((struct udp_hdr *)(quoted + IPV4_MIN_HLEN))->dport), ext);
	t_csum_check(quoted, err.v.l4_len - ICMP_HLEN - IPV4_MIN_HLEN);
	assert_int_equal(fx_c(f)->mappings_active, 1);
	fx_free(f);
}

/* --- TCP ------------------------------------------------------------------ */

static enum nat_verdict tcp_out(struct fx *f, uint16_t sport, uint8_t flags, uint16_t *ext)
{
	struct tpkt p;
	enum nat_verdict r;

	t_tcp(&p, T_HOST, sport, T_R1, 443, flags);
	r = nat_outbound(f->n, &p.v, fx_now(f));
	if (r == NAT_PASS && ext)
		*ext = t_sport(&p);
	return r;
}

static enum nat_verdict tcp_in(struct fx *f, uint16_t ext, uint8_t flags)
{
	struct tpkt p;

	t_tcp(&p, T_R1, 443, T_PUBLIC, ext, flags);
	return nat_inbound(f->n, &p.v, fx_now(f));
}

/* The three-way handshake from T_HOST:sport to T_R1:443: the external port. */
static uint16_t tcp_connect(struct fx *f, uint16_t sport)
{
	uint16_t e = 0;

	assert_int_equal(tcp_out(f, sport, TCP_SYN, &e), NAT_PASS);
	assert_int_equal(tcp_in(f, e, TCP_SYN | TCP_ACK), NAT_PASS);
	assert_int_equal(tcp_out(f, sport, TCP_ACK, NULL), NAT_PASS);
	return e;
}

/* RFC 5382 REQ-5: a connection being set up or torn down lives for the
 * transitory timeout (240 s here), an established one for 7440 s. */
static void test_tcp_states(void **state)
{
	struct fx *f = fx_make(TOPO_MAP_EIM, TOPO_MAP_APDM, TOPO_PORTS_PRESERVE);
	uint16_t e;
	natbed_time_t t0;

	(void)state;
	/* a SYN nobody answers: transitory */
	assert_int_equal(tcp_out(f, 6000, TCP_SYN, &e), NAT_PASS);
	fx_at(f, 240 * T_S - 1);
	assert_int_equal(fx_c(f)->mappings_active, 1);
	fx_at(f, 240 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, 0);

	/* handshake: established, lives long */
	t0 = fx_now(f);
	(void)tcp_connect(f, 6001);
	fx_at(f, t0 + 7000 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, 1);
	fx_at(f, t0 + 7440 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, 0);

	/* established, then closed: back to the transitory timeout */
	t0 = fx_now(f);
	e = tcp_connect(f, 6002);
	/* past the first expiry check, so the timer now points at 7440 s */
	fx_at(f, t0 + 1000 * T_S);
	assert_int_equal(tcp_out(f, 6002, TCP_FIN | TCP_ACK, NULL), NAT_PASS);
	assert_int_equal(tcp_in(f, e, TCP_FIN | TCP_ACK), NAT_PASS);
	fx_at(f, t0 + 1240 * T_S - 1);
	assert_int_equal(fx_c(f)->mappings_active, 1);
	fx_at(f, t0 + 1240 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, 0);

	/* an inbound SYN to a port nobody opened is not let in */
	assert_int_equal(tcp_in(f, 6003, TCP_SYN), NAT_DROP_NO_MAPPING);
	/* an RST ends an established connection the same way */
	t0 = fx_now(f);
	e = tcp_connect(f, 6004);
	fx_at(f, t0 + 500 * T_S);
	assert_int_equal(tcp_in(f, e, TCP_RST), NAT_PASS);
	fx_at(f, t0 + 740 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, 0);
	fx_free(f);
}

/* --- control -------------------------------------------------------------- */

static void t_set(struct fx *f, const char *key, const char *value)
{
	char err[128] = "";

	if (nat_set(f->n, key, value, err, sizeof(err)) < 0)
		fail_msg("nat_set %s %s: %s", key, value, err);
}

static void test_nat_set(void **state)
{
	struct fx *f = fx_make(TOPO_MAP_EIM, TOPO_MAP_APDM, TOPO_PORTS_PRESERVE);
	char err[128] = "";
	uint16_t e, e2;

	(void)state;
	e = out_ok(f, T_HOST, 5000, T_R1, 3478);
	assert_int_equal(in_udp(f, T_R2, 9, e, NULL, NULL), NAT_DROP_FILTERED);
	/* filtering: takes effect on the existing mapping at once */
	t_set(f, "filtering", "endpoint-independent");
	assert_int_equal(nat_config(f->n)->b.filtering, TOPO_MAP_EIM);
	assert_int_equal(in_udp(f, T_R2, 9, e, NULL, NULL), NAT_PASS);
	t_set(f, "filtering", "address-dependent");
	assert_int_equal(in_udp(f, T_R2, 9, e, NULL, NULL), NAT_DROP_FILTERED);
	assert_int_equal(in_udp(f, T_R1, 9, e, NULL, NULL), NAT_PASS);
	/* mapping: the key shape changes, so the table starts clean */
	t_set(f, "mapping", "address-and-port-dependent");
	assert_int_equal(fx_c(f)->mappings_active, 0);
	e = out_ok(f, T_HOST, 5000, T_R1, 3478);
	assert_int_not_equal(out_ok(f, T_HOST, 5000, T_R1, 3479), e);
	/* ports and range: sequential from the new range */
	t_set(f, "ports", "sequential");
	t_set(f, "port-range", "30000-30009");
	t_set(f, "stride", "3");
	assert_int_equal(out_ok(f, T_HOST, 5000, T_R2, 1), 30000);
	assert_int_equal(out_ok(f, T_HOST, 5000, T_R2, 2), 30003);
	/* timeout: new mappings live for the new time */
	t_set(f, "timeout", "5s");
	e2 = out_ok(f, T_HOST, 7000, T_R2, 3);
	fx_at(f, 5 * T_S);
	assert_int_equal(in_udp(f, T_R2, 3, e2, NULL, NULL), NAT_DROP_NO_MAPPING);
	/* refresh-inbound and parity parse */
	t_set(f, "refresh-inbound", "true");
	assert_true(nat_config(f->n)->b.refresh_inbound);
	t_set(f, "parity", "true");
	assert_true(nat_config(f->n)->b.parity);
	t_set(f, "hairpin", "true");
	assert_true(nat_config(f->n)->b.hairpin);
	/* bad keys and values change nothing and say why */
	assert_int_equal(nat_set(f->n, "colour", "blue", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "colour"));
	assert_int_equal(nat_set(f->n, "mapping", "sideways", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sideways"));
	assert_int_equal(nat_set(f->n, "port-range", "9-3", err, sizeof(err)), -1);
	assert_int_equal(nat_set(f->n, "stride", "0", err, sizeof(err)), -1);
	assert_int_equal(nat_set(f->n, "timeout", "soon", err, sizeof(err)), -1);
	assert_int_equal(nat_set(f->n, "hairpin", "maybe", err, sizeof(err)), -1);
	/* the topology loader's strict parsers: what a file refuses, set does */
	assert_int_equal(nat_set(f->n, "hairpin", "on", err, sizeof(err)), -1);
	assert_int_equal(nat_set(f->n, "stride", "3x", err, sizeof(err)), -1);
	assert_int_equal(nat_set(f->n, "stride", "+4", err, sizeof(err)), -1);
	assert_int_equal(nat_set(f->n, "timeout", "0s", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "above zero"));
	assert_int_equal(nat_set(f->n, "pool", "0", err, sizeof(err)), -1);
	assert_int_equal(nat_config(f->n)->b.mapping, TOPO_MAP_APDM);
	assert_int_equal(nat_config(f->n)->b.port_lo, 30000);
	assert_int_equal(nat_config(f->n)->b.stride, 3);
	assert_int_equal(nat_config(f->n)->b.timeout_ns, 5 * T_S);
	fx_free(f);
}

/* The same inbound packets on two NATs: both verdicts must be want. */
static void in_both(struct fx *a, struct fx *b, const char *src, uint16_t sport, uint16_t ext,
		    enum nat_verdict want)
{
	assert_int_equal(in_udp(a, src, sport, ext, NULL, NULL), want);
	assert_int_equal(in_udp(b, src, sport, ext, NULL, NULL), want);
}

/* Checkpoint, then restore into a fresh NAT (through text, as the file
 * does): the same mappings, counters and the same next random port. */
/* Every mapping in n's two hash chains is pointed at by what its back
 * pointer names (nat_unlink trusts it), and each chain holds every mapping
 * once: after a restore moved the buckets, this is what breaks. */
static void chains_ok(const struct nat *n)
{
	size_t b, in_h = 0, in_e = 0;
	struct nat_map *const *pp;
	const struct nat_map *m;

	for (b = 0; b <= n->bmask; b++) {
		for (pp = &n->buckets[b]; (m = *pp) != NULL; pp = &m->hnext, in_h++)
			assert_ptr_equal(m->hpprev, pp);
		for (pp = &n->ebuckets[b]; (m = *pp) != NULL; pp = &m->enext, in_e++)
			assert_ptr_equal(m->epprev, pp);
	}
	assert_int_equal(in_h, nat_counters(n)->mappings_active);
	assert_int_equal(in_e, nat_counters(n)->mappings_active);
}

static void test_checkpoint_restore(void **state)
{
	struct nat_cfg c;
	struct fx *a, *b;
	json_t *ck, *back, *ma, *mb;
	char *text, err[128] = "";
	uint16_t ports[6], i, e;
	struct tpkt p;

	(void)state;
	t_cfg(&c, TOPO_MAP_EIM, TOPO_MAP_APDM, TOPO_PORTS_RANDOM);
	c.b.timeout_ns = 30 * T_S;
	a = fx_new(&c);
	c.seed = 999; /* the restore must bring the generator state along */
	b = fx_new(&c);
	for (i = 0; i < 6; i++) {
		fx_at(a, (natbed_time_t)i * T_S);
		ports[i] = out_ok(a, T_HOST, (uint16_t)(5000 + i), T_R1, (uint16_t)(100 + i));
	}
	/* the first mapping has three remotes: their order must survive */
	assert_int_equal(out_ok(a, T_HOST, 5000, T_R2, 100), ports[0]);
	assert_int_equal(out_ok(a, T_HOST, 5000, T_R1, 101), ports[0]);
	assert_int_equal(in_udp(a, T_R1, 100, ports[0], NULL, NULL), NAT_PASS);
	assert_int_equal(in_udp(a, "198.51.100.3", 100, ports[0], NULL, NULL), NAT_DROP_FILTERED);
	t_tcp(&p, T_HOST, 6000, T_R1, 443, TCP_SYN);
	assert_int_equal(nat_outbound(a->n, &p.v, fx_now(a)), NAT_PASS);
	fx_at(a, 10 * T_S);
	fx_at(b, 10 * T_S);

	ck = nat_checkpoint(a->n, fx_now(a));
	assert_non_null(ck);
	text = json_dumps(ck, JSON_COMPACT);
	assert_non_null(text);
	back = json_loads(text, 0, NULL);
	assert_non_null(back);
	if (nat_restore(b->n, back, fx_now(b), err, sizeof(err)) < 0)
		fail_msg("nat_restore: %s", err);
	chains_ok(b->n);

	ma = nat_mappings_json(a->n, fx_now(a));
	mb = nat_mappings_json(b->n, fx_now(b));
	assert_int_equal(json_array_size(ma), 7);
	assert_true(json_equal(ma, mb));
	assert_int_equal(fx_c(b)->mappings_active, 7);
	assert_int_equal(fx_c(b)->mappings_created, fx_c(a)->mappings_created);
	assert_int_equal(fx_c(b)->out_pkts, fx_c(a)->out_pkts);
	assert_int_equal(fx_c(b)->in_pkts, fx_c(a)->in_pkts);
	assert_int_equal(fx_c(b)->drops[NAT_DROP_FILTERED], fx_c(a)->drops[NAT_DROP_FILTERED]);
	/* the restored NAT behaves the same: filtering, the next random ports */
	in_both(a, b, T_R2, 100, ports[0], NAT_PASS);
	in_both(a, b, T_R2, 101, ports[0], NAT_DROP_FILTERED);
	in_both(a, b, T_R1, 104, ports[4], NAT_PASS);
	for (i = 0; i < 4; i++) {
		e = out_ok(a, T_HOST, (uint16_t)(7000 + i), T_R2, 200);
		assert_int_equal(out_ok(b, T_HOST, (uint16_t)(7000 + i), T_R2, 200), e);
	}
	/* a checkpoint of the restored NAT is the original's */
	json_decref(ck);
	json_decref(back);
	ck = nat_checkpoint(a->n, fx_now(a));
	back = nat_checkpoint(b->n, fx_now(b));
	assert_true(json_equal(ck, back));
	/* expiry survives the trip: made at 1 s, the second mapping ends at 31 s;
	 * the first, last sent on at 5 s, at 35 s */
	fx_at(b, 31 * T_S - 1);
	assert_int_equal(in_udp(b, T_R1, 101, ports[1], NULL, NULL), NAT_PASS);
	fx_at(b, 31 * T_S);
	assert_int_equal(in_udp(b, T_R1, 101, ports[1], NULL, NULL), NAT_DROP_NO_MAPPING);
	fx_at(b, 35 * T_S - 1);
	assert_int_equal(in_udp(b, T_R1, 100, ports[0], NULL, NULL), NAT_PASS);
	fx_at(b, 35 * T_S);
	assert_int_equal(in_udp(b, T_R1, 100, ports[0], NULL, NULL), NAT_DROP_NO_MAPPING);
	chains_ok(b->n);
	/* a broken checkpoint is refused with a reason */
	json_object_del(back, "rng");
	assert_int_equal(nat_restore(b->n, back, fx_now(b), err, sizeof(err)), -1);
	assert_true(strlen(err) > 0);
	free(text);
	json_decref(ck);
	json_decref(back);
	json_decref(ma);
	json_decref(mb);
	fx_free(a);
	fx_free(b);
}

/* The hashes grow with the mappings (from NAT_BUCKETS_MIN buckets): after
 * 3,000 mappings the chains hold and every mapping is found by its inside
 * endpoint and by its outside one; when the older half expires, the rest
 * still is. */
static void test_buckets_grow(void **state)
{
	enum { N = 3000 };
	static uint16_t ext[N];
	struct nat_cfg c;
	struct fx *f;
	uint16_t i;

	(void)state;
	t_cfg(&c, TOPO_MAP_EIM, TOPO_MAP_EIM, TOPO_PORTS_RANDOM);
	c.b.timeout_ns = 30 * T_S;
	f = fx_new(&c);
	assert_int_equal(f->n->bmask + 1, NAT_BUCKETS_MIN);
	for (i = 0; i < N; i++) {
		if (i == N / 2)
			fx_at(f, 10 * T_S); /* the second half ends 10 s later */
		ext[i] = out_ok(f, i % 2 ? T_HOST : T_HOST2, (uint16_t)(10000 + i), T_R1, 3478);
	}
	assert_true(f->n->bmask + 1 >= N);
	chains_ok(f->n);
	for (i = 0; i < N; i++)
		assert_non_null(nat_map_at(f->n, NAT_UDP, a4(T_PUBLIC), htons(ext[i])));
	for (i = N / 2; i < N; i++) /* by the inside endpoint: the same mapping */
		assert_int_equal(
		    out_ok(f, i % 2 ? T_HOST : T_HOST2, (uint16_t)(10000 + i), T_R1, 3478), ext[i]);
	fx_at(f, 30 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, N - N / 2);
	chains_ok(f->n);
	for (i = 0; i < N; i++)
		assert_true((nat_map_at(f->n, NAT_UDP, a4(T_PUBLIC), htons(ext[i])) != NULL) ==
			    (i >= N / 2));
	fx_free(f);
}

/* --- port classes, Linux masquerade, carrier NAT, pages --------------------- */

/* UDP out on any NAT: the verdict, and the outside endpoint it got. */
static enum nat_verdict out_ep(struct fx *f, const char *src, uint16_t sport, const char *dst,
			       uint16_t dport, uint32_t *addr, uint16_t *port)
{
	struct tpkt p;
	enum nat_verdict r;

	t_udp(&p, src, sport, dst, dport);
	r = nat_outbound(f->n, &p.v, fx_now(f));
	if (r == NAT_PASS) {
		t_check(&p);
		*addr = t_ip(&p)->src;
		*port = t_sport(&p);
	}
	return r;
}

/* UDP in to the outside endpoint (to, ext). */
static enum nat_verdict in_ep(struct fx *f, const char *src, uint16_t sport, uint32_t to,
			      uint16_t ext)
{
	struct tpkt p;

	t_udp(&p, src, sport, T_PUBLIC, ext);
	t_ip(&p)->dst = to;
	t_finish(&p, false);
	return nat_inbound(f->n, &p.v, fx_now(f));
}

/* RFC 4787 REQ-3a: an inside port below 1024 keeps to 1-1023, as itself
 * when free; a port-range given is the range of every port. */
static void test_port_classes(void **state)
{
	struct nat_cfg c;
	struct fx *f;
	uint16_t e;

	(void)state;
	t_cfg(&c, TOPO_MAP_APDM, TOPO_MAP_APDM, TOPO_PORTS_PRESERVE);
	c.b.classes = TOPO_CLASSES_RFC4787;
	f = fx_new(&c);
	assert_int_equal(out_ok(f, T_HOST, 655, T_R1, 655), 655);
	e = out_ok(f, T_HOST, 655, T_R2, 655); /* APDM: 655 is taken */
	assert_true(e >= 1 && e < 1024 && e != 655);
	assert_int_equal(out_ok(f, T_HOST, 40000, T_R1, 1), 40000);
	fx_free(f);
	/* no classes (a port-range): 655 leaves from the range */
	t_cfg(&c, TOPO_MAP_EIM, TOPO_MAP_APDM, TOPO_PORTS_PRESERVE);
	f = fx_new(&c);
	assert_int_equal(out_ok(f, T_HOST, 655, T_R1, 655), 1024);
	fx_free(f);
	/* Linux: 512-599 kept when free, a move goes to 600-1023 */
	t_cfg(&c, TOPO_MAP_APDM, TOPO_MAP_APDM, TOPO_PORTS_PRESERVE_RANDOM);
	c.b.classes = TOPO_CLASSES_LINUX;
	f = fx_new(&c);
	assert_int_equal(out_ok(f, T_HOST, 550, T_R1, 1), 550);
	for (int i = 0; i < 20; i++) {
		e = out_ok(f, T_HOST, 550, T_R2, (uint16_t)(2 + i));
		assert_true(e >= 600 && e <= 1023);
		e = out_ok(f, T_HOST, 100, T_R2, (uint16_t)(2 + i));
		assert_true(e >= 1 && e <= 511);
	}
	fx_free(f);
}

static struct fx *fx_linux(void)
{
	struct nat_cfg c;

	t_cfg(&c, TOPO_MAP_EIM, TOPO_MAP_APDM, TOPO_PORTS_PRESERVE_RANDOM);
	c.b.classes = TOPO_CLASSES_LINUX;
	c.b.unreplied_ns = 30 * T_S;
	c.b.refresh_inbound = true;
	c.b.inbound_reserves = true;
	return fx_new(&c);
}

/* Linux conntrack (inbound-reserves): an unanswered datagram from A to
 * b's port holds (A, port); b's flow to A then moves to a random port of
 * the class and becomes the newest mapping, which new remotes get, while
 * the older flow keeps its port. Other remotes are not held. */
static void test_linux_reserve(void **state)
{
	struct fx *f = fx_linux();
	uint16_t moved;

	(void)state;
	/* b talks to a STUN server from 41290 first */
	assert_int_equal(out_ok(f, T_HOST, 41290, T_R2, 3478), 41290);
	/* A (R1:41000) writes first: filtered, and the pair is held */
	assert_int_equal(in_udp(f, T_R1, 41000, 41290, NULL, NULL), NAT_DROP_FILTERED);
	assert_int_equal(fx_c(f)->reservations, 1);
	/* another port of A is not held: b keeps 41290 toward it */
	assert_int_equal(out_ok(f, T_HOST, 41290, T_R1, 41001), 41290);
	/* toward A:41000 b moves */
	moved = out_ok(f, T_HOST, 41290, T_R1, 41000);
	assert_true(moved >= 1024 && moved != 41290);
	assert_int_equal(fx_c(f)->mappings_active, 2);
	/* the flow stays there, the STUN flow on 41290; a new remote gets the
	 * newest mapping */
	assert_int_equal(out_ok(f, T_HOST, 41290, T_R1, 41000), moved);
	assert_int_equal(out_ok(f, T_HOST, 41290, T_R2, 3478), 41290);
	assert_int_equal(out_ok(f, T_HOST, 41290, "198.51.100.9", 5000), moved);
	/* A's answers to the held port still go nowhere (they refresh the
	 * reservation); to the moved port they pass */
	assert_int_equal(in_udp(f, T_R1, 41000, 41290, NULL, NULL), NAT_DROP_FILTERED);
	assert_int_equal(in_udp(f, T_R1, 41000, moved, NULL, NULL), NAT_PASS);
	fx_free(f);
}

/* The hold lasts the unreplied time from the last such datagram. */
static void test_linux_reserve_expiry(void **state)
{
	struct fx *f = fx_linux();

	(void)state;
	assert_int_equal(in_udp(f, T_R1, 41000, 41290, NULL, NULL), NAT_DROP_NO_MAPPING);
	fx_at(f, 14 * T_S);
	assert_int_equal(in_udp(f, T_R1, 41000, 41290, NULL, NULL), NAT_DROP_NO_MAPPING);
	fx_at(f, 43 * T_S);
	assert_int_not_equal(out_ok(f, T_HOST, 41290, T_R1, 41000), 41290);
	fx_free(f);
	f = fx_linux();
	assert_int_equal(in_udp(f, T_R1, 41000, 41290, NULL, NULL), NAT_DROP_NO_MAPPING);
	fx_at(f, 30 * T_S);
	assert_int_equal(out_ok(f, T_HOST, 41290, T_R1, 41000), 41290);
	fx_free(f);
}

/* conntrack's UDP timeouts: 30 s unanswered; 30 s after an answer until
 * the flow is 2 s old, then 120 s; every packet either way refreshes. */
static void test_linux_timeouts(void **state)
{
	struct fx *f = fx_linux();
	uint16_t e;

	(void)state;
	e = out_ok(f, T_HOST, 5000, T_R1, 3478);
	fx_at(f, 1 * T_S);
	assert_int_equal(in_udp(f, T_R1, 3478, e, NULL, NULL), NAT_PASS); /* answered at 1 s */
	fx_at(f, 31 * T_S);
	assert_int_equal(in_udp(f, T_R1, 3478, e, NULL, NULL), NAT_DROP_NO_MAPPING);
	fx_free(f);
	/* unanswered: 30 s from the last packet out */
	f = fx_linux();
	e = out_ok(f, T_HOST, 5000, T_R1, 3478);
	fx_at(f, 20 * T_S);
	assert_int_equal(out_ok(f, T_HOST, 5000, T_R1, 3478), e);
	fx_at(f, 50 * T_S);
	assert_int_equal(in_udp(f, T_R1, 3478, e, NULL, NULL), NAT_DROP_NO_MAPPING);
	fx_free(f);
	f = fx_linux();
	e = out_ok(f, T_HOST, 5000, T_R1, 3478);
	fx_at(f, 3 * T_S);
	assert_int_equal(in_udp(f, T_R1, 3478, e, NULL, NULL), NAT_PASS); /* answered, 3 s old */
	fx_at(f, 122 * T_S);
	assert_int_equal(in_udp(f, T_R1, 3478, e, NULL, NULL), NAT_PASS); /* inbound refreshes */
	fx_at(f, 242 * T_S);
	assert_int_equal(in_udp(f, T_R1, 3478, e, NULL, NULL), NAT_DROP_NO_MAPPING);
	fx_free(f);
}

struct t_events {
	int allocated, released;
	char last[256];
};

static void t_on_event(void *ctx, natbed_time_t now, const char *event, const char *fields)
{
	struct t_events *e = ctx;

	if (strcmp(event, "port_block_allocated") == 0)
		e->allocated++;
	if (strcmp(event, "port_block_released") == 0)
		e->released++;
	snprintf(e->last, sizeof(e->last), "%s", fields);
}

/* RFC 6888: a pool of outside addresses, paired pooling (REQ-2), a block
 * of ports per subscriber and a limit (REQ-4), each block logged. */
static void test_carrier(void **state)
{
	static const char *const pub[] = {"203.0.113.1", "203.0.113.2", "203.0.113.3"};
	struct t_events ev = {0};
	struct nat_cfg c;
	struct fx *f;
	uint32_t a1, a2, a;
	uint16_t p, first;
	int i;

	(void)state;
	t_cfg(&c, TOPO_MAP_EIM, TOPO_MAP_EIM, TOPO_PORTS_PRESERVE);
	c.b.classes = TOPO_CLASSES_RFC4787;
	c.b.port_block = 16;
	c.b.port_blocks = 2;
	c.b.timeout_ns = 10 * T_S;
	c.n_public = 3;
	for (i = 0; i < 3; i++)
		c.publics[i] = a4(pub[i]);
	c.on_event = t_on_event;
	c.event_ctx = &ev;
	f = fx_new(&c);
	/* two subscribers: each on its own address, its ports in its block */
	assert_int_equal(out_ep(f, T_HOST, 5000, T_R1, 1, &a1, &first), NAT_PASS);
	assert_int_equal(out_ep(f, T_HOST2, 5000, T_R1, 1, &a2, &p), NAT_PASS);
	assert_int_not_equal(a1, a2);
	assert_int_equal(ev.allocated, 2);
	assert_non_null(strstr(ev.last, "\"subscriber\":\"192.168.1.11\""));
	assert_int_equal((first - 1024) / 16, (p - 1024) / 16); /* block 0 of each address */
	/* paired: every mapping of a subscriber on its address; 32 ports in
	 * two blocks, then the limit, while the other subscriber goes on */
	for (i = 1; i < 32; i++) {
		assert_int_equal(out_ep(f, T_HOST, (uint16_t)(5000 + i), T_R1, 1, &a, &p),
				 NAT_PASS);
		assert_int_equal(a, a1);
	}
	assert_int_equal(ev.allocated, 3);
	assert_int_equal(out_ep(f, T_HOST, 6000, T_R1, 1, &a, &p), NAT_DROP_PORT_LIMIT);
	assert_int_equal(fx_c(f)->drops[NAT_DROP_PORT_LIMIT], 1);
	assert_int_equal(out_ep(f, T_HOST2, 5001, T_R1, 1, &a, &p), NAT_PASS);
	assert_int_equal(a, a2);
	/* inbound to a pool address reaches its subscriber */
	assert_int_equal(in_ep(f, T_R2, 9, a1, first), NAT_PASS);
	assert_int_equal(in_ep(f, T_R2, 9, a2, first), NAT_PASS);
	assert_int_equal(fx_c(f)->subscribers_active, 2);
	/* idle mappings go, and their blocks with them, logged */
	fx_at(f, 20 * T_S);
	assert_int_equal(fx_c(f)->mappings_active, 0);
	assert_int_equal(ev.released, 3);
	assert_int_equal(fx_c(f)->blocks_active, 0);
	assert_int_equal(fx_c(f)->subscribers_active, 0);
	fx_free(f);
}

/* `ctl nat NAME mappings` a page at a time: every mapping once, in order. */
static void test_pages(void **state)
{
	struct fx *f = fx_make(TOPO_MAP_APDM, TOPO_MAP_APDM, TOPO_PORTS_SEQUENTIAL);
	char err[128], cur[32] = "";
	json_t *page, *all = nat_mappings_json(f->n, 0), *m;
	size_t seen = 0, pages = 0, i;
	int k;

	(void)state;
	json_decref(all);
	for (k = 0; k < 2500; k++)
		(void)out_ok(f, T_HOST, 5000, T_R1, (uint16_t)(1 + k));
	all = nat_mappings_json(f->n, fx_now(f));
	do {
		page = nat_mappings_page(f->n, fx_now(f), cur, 0, err, sizeof(err));
		assert_non_null(page);
		assert_int_equal(json_integer_value(json_object_get(page, "total")), 2500);
		json_array_foreach(json_object_get(page, "mappings"), i, m)
		    assert_true(json_equal(m, json_array_get(all, seen++)));
		cur[0] = '\0';
		if (json_object_get(page, "next"))
			snprintf(cur, sizeof(cur), "%s",
				 json_string_value(json_object_get(page, "next")));
		pages++;
		json_decref(page);
	} while (cur[0]);
	assert_int_equal(seen, 2500);
	assert_int_equal(pages, 3);
	assert_null(nat_mappings_page(f->n, fx_now(f), "zz", 0, err, sizeof(err)));
	json_decref(all);
	fx_free(f);
}

/* A checkpoint carries what `set` changed, subscribers and blocks, and
 * reservations; restore refuses another NAT's file and, on a bad one,
 * changes nothing. */
static void test_checkpoint_whole(void **state)
{
	struct fx *a = fx_linux(), *b;
	json_t *ck, *bad, *again;
	char err[256];
	uint16_t e;

	(void)state;
	t_set(a, "port-block", "64");
	t_set(a, "timeout", "90s");
	e = out_ok(a, T_HOST, 5000, T_R1, 3478);
	assert_int_equal(in_udp(a, T_R2, 7, e, NULL, NULL), NAT_DROP_FILTERED); /* held */
	ck = nat_checkpoint(a->n, fx_now(a));
	b = fx_linux();
	assert_int_equal(nat_restore(b->n, ck, fx_now(b), err, sizeof(err)), 0);
	assert_int_equal(nat_config(b->n)->b.port_block, 64);
	assert_int_equal(nat_config(b->n)->b.timeout_ns, 90 * T_S);
	assert_int_equal(fx_c(b)->subscribers_active, 1);
	assert_int_equal(fx_c(b)->blocks_active, 1);
	again = nat_checkpoint(b->n, fx_now(b));
	assert_true(json_equal(ck, again));
	json_decref(again);
	/* the reservation came along: b's flow to R2:7 moves */
	assert_int_not_equal(out_ok(b, T_HOST, 5000, T_R2, 7), e);
	/* a bad mapping deep in the file: refused, b as it was */
	bad = json_deep_copy(ck);
	json_object_set_new(json_array_get(json_object_get(bad, "mappings"), 0), "ext_port",
			    json_integer(0));
	assert_int_equal(nat_restore(b->n, bad, fx_now(b), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mappings[0]"));
	assert_int_equal(fx_c(b)->mappings_active, 2);
	json_decref(bad);
	/* another NAT's checkpoint */
	bad = json_deep_copy(ck);
	json_object_set_new(bad, "name", json_string("office"));
	assert_int_equal(nat_restore(b->n, bad, fx_now(b), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "office"));
	json_decref(bad);
	json_decref(ck);
	fx_free(a);
	fx_free(b);
}

/* A NAT reboot: every mapping gone, their timers too. */
static void test_flush(void **state)
{
	struct fx *f = fx_make(TOPO_MAP_EIM, TOPO_MAP_EIM, TOPO_PORTS_PRESERVE);
	struct tpkt p;
	uint16_t e[8], i;

	(void)state;
	for (i = 0; i < 8; i++)
		e[i] = out_ok(f, T_HOST, (uint16_t)(5000 + i), T_R1, 3478);
	t_echo(&p, 8, T_HOST, T_R1, 77);
	assert_int_equal(nat_outbound(f->n, &p.v, fx_now(f)), NAT_PASS);
	assert_int_equal(fx_c(f)->mappings_active, 9);
	assert_int_equal(sched_pending(f->s), 9);
	nat_flush(f->n);
	assert_int_equal(fx_c(f)->mappings_active, 0);
	assert_int_equal(fx_mappings(f), 0);
	assert_int_equal(sched_pending(f->s), 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(in_udp(f, T_R1, 3478, e[i], NULL, NULL), NAT_DROP_NO_MAPPING);
	/* the NAT keeps working after it */
	assert_int_equal(out_ok(f, T_HOST, 5000, T_R1, 3478), 5000);
	fx_free(f);
}

/* What the NAT does not translate is dropped and counted, never passed. */
static void test_refusals(void **state)
{
	struct fx *f = fx_make(TOPO_MAP_EIM, TOPO_MAP_EIM, TOPO_PORTS_PRESERVE);
	struct tpkt p;

	(void)state;
	assert_int_equal(out_udp(f, "10.0.0.1", 5000, T_R1, 3478, NULL), NAT_DROP_NOT_INSIDE);
	assert_int_equal(fx_c(f)->drops[NAT_DROP_NOT_INSIDE], 1);
	/* an ICMP type that is neither echo nor error */
	t_echo(&p, 13, T_HOST, T_R1, 1); /* timestamp */
	assert_int_equal(nat_outbound(f->n, &p.v, fx_now(f)), NAT_DROP_UNSUPPORTED);
	/* another protocol (GRE) */
	t_udp(&p, T_HOST, 5000, T_R1, 3478);
	t_ip(&p)->proto = 47;
	t_csum_set((uint8_t *)t_ip(&p), p.v.l4_len, true);
	assert_int_equal(nat_outbound(f->n, &p.v, fx_now(f)), NAT_DROP_UNSUPPORTED);
	assert_int_equal(fx_c(f)->drops[NAT_DROP_UNSUPPORTED], 2);
	assert_int_equal(fx_c(f)->mappings_active, 0);
	assert_string_equal(nat_verdict_name(NAT_DROP_EXHAUSTED), "port_exhaustion");
	nat_free(NULL);
	fx_free(f);
}

/* --- natbed sim checkpoints: exact, event for event ------------------------ */

/* A test's own event: notes when it ran and how many mappings had expired
 * by then, which shows the order of events due at the same time. */
static void t_mark(void *arg, natbed_time_t now)
{
	struct fx *f = arg;
	size_t n = strlen(f->trace);

	snprintf(f->trace + n, sizeof(f->trace) - n, "%lld:%llu ",
		 (long long)(now / NATBED_NS_PER_MS),
		 (unsigned long long)nat_counters(f->n)->mappings_expired);
}

/* Not in any table: a writer must refuse it. */
static void t_stray(void *arg, natbed_time_t now)
{
	(void)arg;
	(void)now;
}

static const struct ckfn t_sim_fns[] = {CKFN(t_mark)};
static const struct ckfns t_sim_table = CKFNS(test, t_sim_fns);
static const struct ckfns *const t_sim_tables[] = {&nat_ckfns, &t_sim_table};

/* The world as natbed sim writes it (ckround.h): the queue first, then
 * the NAT; the test's fx is the world object t_mark's events point at. */
struct sim_ctx {
	struct fx *f;
	struct nat *ref; /* what the world's pointer to the NAT was read as */
};

static json_t *sim_parts_save(struct ckw *w, void *arg)
{
	struct sim_ctx *c = arg;

	/* the world points at the NAT too: the NAT declares itself */
	return json_pack("{s:o*,s:o*,s:o*}", "world", ckw_obj(w, c->f), "nat_ref",
			 ckw_ref(w, c->f->n), "nat", nat_ckpt_save(c->f->n, w));
}

static int sim_parts_load(struct ckr *r, const json_t *j, void *arg)
{
	struct sim_ctx *c = arg;

	ckr_obj(r, json_object_get(j, "world"), c->f);
	ckr_ref(r, json_object_get(j, "nat_ref"), &c->ref);
	return nat_ckpt_fill(c->f->n, json_object_get(j, "nat"), r);
}

static json_t *sim_save(struct fx *f, char *err, size_t errlen)
{
	struct sim_ctx c = {f, NULL};

	return ckround_save(f->s, t_sim_tables, 2, sim_parts_save, &c, err, errlen);
}

/* Fills b (fresh, of the same configuration) from j at j's time. 0, or -1
 * with err. */
static int sim_load(struct fx *b, const json_t *j, char *err, size_t errlen)
{
	struct sim_ctx c = {b, NULL};
	int rc;

	fx_at(b, ckround_at(j));
	rc = ckround_load(j, &b->s, t_sim_tables, 2, sim_parts_load, &c, err, errlen);
	if (rc == 0)
		assert_ptr_equal(c.ref, b->n);
	return rc;
}

/* Saves a, fills b from it, and checks that b saves the same. */
static void sim_round_trip(struct fx *a, struct fx *b)
{
	char err[256] = "";
	json_t *ja = sim_save(a, err, sizeof(err)), *jb;

	if (!ja)
		fail_msg("save: %s", err);
	if (sim_load(b, ja, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	chains_ok(b->n);
	jb = sim_save(b, err, sizeof(err));
	if (!jb)
		fail_msg("save of the restored: %s", err);
	assert_true(json_equal(ja, jb));
	json_decref(ja);
	json_decref(jb);
}

/* Runs a and b to `until`, event time by event time, checking that both
 * have the same next event, run as many events and count the same. */
static void sim_run_both(struct fx *a, struct fx *b, natbed_time_t until)
{
	natbed_time_t t;

	while ((t = sched_next_due(a->s)) >= 0 && t <= until) {
		assert_int_equal(sched_next_due(b->s), t);
		assert_int_equal(sched_pending(b->s), sched_pending(a->s));
		assert_int_equal(sched_run_until(a->s, t), sched_run_until(b->s, t));
		assert_memory_equal(nat_counters(a->n), nat_counters(b->n),
				    sizeof(struct nat_counters));
	}
	fx_at(a, until);
	fx_at(b, until);
	assert_int_equal(sched_pending(b->s), sched_pending(a->s));
}

/* The same datagram out through a and b: the same verdict and port. */
static void out_both(struct fx *a, struct fx *b, const char *src, uint16_t sport, const char *dst,
		     uint16_t dport)
{
	uint32_t aa = 0, ab = 0;
	uint16_t pa = 0, pb = 0;

	assert_int_equal(out_ep(a, src, sport, dst, dport, &aa, &pa),
			 out_ep(b, src, sport, dst, dport, &ab, &pb));
	assert_int_equal(aa, ab);
	assert_int_equal(pa, pb);
}

static void in_ep_both(struct fx *a, struct fx *b, const char *src, uint16_t sport, uint32_t to,
		       uint16_t ext)
{
	assert_int_equal(in_ep(a, src, sport, to, ext), in_ep(b, src, sport, to, ext));
}

/* Mappings made, refreshed (their events still at the first time: armed
 * before expires), answered, a TCP one, one asked for by PCP, the hashes
 * grown past NAT_BUCKETS_MIN, and a test event due with an expiry: saved
 * at 10 s, filled into a NAT of another seed, the restored one saves the
 * same and goes on as the original does, event for event. */
static void test_sim_exact(void **state)
{
	static const uint8_t nonce[NAT_NONCE_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	struct nat_grant_req rq = {.by = NAT_GRANT_PCP,
				   .proto = NAT_UDP,
				   .int_port = htons(9000),
				   .lifetime_s = 100,
				   .nonce = nonce};
	uint32_t ea;
	uint16_t ep, i, ports[6];
	uint32_t life;
	struct nat_cfg c;
	struct fx *a, *b;
	struct tpkt p;

	(void)state;
	t_cfg(&c, TOPO_MAP_EIM, TOPO_MAP_APDM, TOPO_PORTS_RANDOM);
	c.b.timeout_ns = 30 * T_S;
	a = fx_new(&c);
	c.seed = 7; /* the fill brings the generator along */
	b = fx_new(&c);
	for (i = 0; i < 6; i++) {
		fx_at(a, (natbed_time_t)i * T_S);
		ports[i] = out_ok(a, T_HOST, (uint16_t)(5000 + i), T_R1, (uint16_t)(100 + i));
	}
	/* refreshed at 5 s: expires at 35 s, its event still due at 30 s */
	assert_int_equal(out_ok(a, T_HOST, 5000, T_R2, 100), ports[0]);
	assert_int_equal(in_udp(a, T_R1, 101, ports[1], NULL, NULL), NAT_PASS);
	t_tcp(&p, T_HOST, 6000, T_R1, 443, TCP_SYN);
	assert_int_equal(nat_outbound(a->n, &p.v, fx_now(a)), NAT_PASS);
	rq.int_addr = a4(T_HOST2);
	assert_int_equal(nat_grant(a->n, &rq, fx_now(a), &ea, &ep, &life), NAT_GRANT_OK);
	/* a test event at 31 s, after the expiry of the mapping made at 1 s */
	sched_at(a->s, 31 * T_S, t_mark, a);
	sched_at(a->s, 30 * T_S, t_mark, a);
	fx_at(a, 8 * T_S);
	for (i = 0; i < 80; i++)
		out_ok(a, T_HOST, (uint16_t)(20000 + i), T_R2, 53);
	assert_true(a->n->bmask + 1 > NAT_BUCKETS_MIN);
	fx_at(a, 10 * T_S);

	sim_round_trip(a, b);
	/* the same test events, after the restore, on both */
	sched_at(a->s, 35 * T_S, t_mark, a);
	sched_at(b->s, 35 * T_S, t_mark, b);
	out_both(a, b, T_HOST, 7000, T_R1, 99);
	in_ep_both(a, b, T_R2, 100, a4(T_PUBLIC), ports[0]);
	in_ep_both(a, b, T_R2, 101, a4(T_PUBLIC), ports[0]);
	sim_run_both(a, b, 20 * T_S);
	out_both(a, b, T_HOST, 5001, T_R1, 101);
	out_both(a, b, T_HOST, 7001, T_R2, 99);
	sim_run_both(a, b, 400 * T_S);
	assert_string_equal(a->trace, b->trace);
	assert_true(strlen(a->trace) > 0);
	assert_true(nat_counters(a->n)->mappings_expired > 80);
	assert_memory_equal(nat_counters(a->n), nat_counters(b->n), sizeof(struct nat_counters));
	fx_free(a);
	fx_free(b);
}

/* A carrier's NAT: subscribers on two outside addresses with port blocks,
 * Linux reservations (one expired but not yet freed: it still counts),
 * a held fragment's translation. */
static void test_sim_carrier(void **state)
{
	static const char *const pub[] = {"203.0.113.1", "203.0.113.2"};
	struct nat_cfg c;
	struct fx *a, *b;
	uint32_t addr, a2;
	uint16_t port, p2;
	struct tpkt p;
	int i;

	(void)state;
	t_cfg(&c, TOPO_MAP_EIM, TOPO_MAP_APDM, TOPO_PORTS_PRESERVE_RANDOM);
	c.b.port_block = 64;
	c.b.port_blocks = 2;
	c.b.unreplied_ns = 30 * T_S;
	c.b.refresh_inbound = true;
	c.b.inbound_reserves = true;
	c.n_public = 2;
	for (i = 0; i < 2; i++)
		c.publics[i] = a4(pub[i]);
	a = fx_new(&c);
	b = fx_new(&c);
	/* a reservation that expires at 30 s, found by nothing before the save */
	assert_int_equal(in_ep(a, "198.51.100.9", 4000, a4(pub[0]), 60000), NAT_DROP_NO_MAPPING);
	fx_at(a, 20 * T_S);
	assert_int_equal(out_ep(a, T_HOST, 5000, T_R1, 1, &addr, &port), NAT_PASS);
	assert_int_equal(out_ep(a, T_HOST2, 5000, T_R1, 1, &a2, &p2), NAT_PASS);
	assert_int_not_equal(addr, a2);
	for (i = 0; i < 70; i++)
		assert_int_equal(out_ep(a, T_HOST, (uint16_t)(6000 + i), T_R2, 7, &addr, &port),
				 NAT_PASS);
	assert_int_equal(in_ep(a, "198.51.100.8", 4000, a2, 60001), NAT_DROP_NO_MAPPING);
	/* a first fragment's translation (for 10 s), followed by later fragments */
	fx_at(a, 25 * T_S);
	t_udp(&p, T_HOST2, 5000, T_R1, 1);
	t_frag(&p, 0x2000);
	assert_int_equal(nat_outbound(a->n, &p.v, fx_now(a)), NAT_PASS);
	fx_at(a, 31 * T_S);
	assert_int_equal(a->n->n_resv, 2);

	sim_round_trip(a, b);
	assert_int_equal(b->n->n_resv, 2);
	out_both(a, b, T_HOST, 5000, "198.51.100.9", 4000);
	out_both(a, b, T_HOST2, 5000, "198.51.100.8", 4000);
	out_both(a, b, "192.168.1.12", 5000, T_R1, 1);
	t_later(&p, T_HOST2, T_R1);
	assert_int_equal(nat_outbound(b->n, &p.v, fx_now(b)), NAT_PASS);
	t_later(&p, T_HOST2, T_R1);
	assert_int_equal(nat_outbound(a->n, &p.v, fx_now(a)), NAT_PASS);
	sim_run_both(a, b, 200 * T_S);
	assert_memory_equal(nat_counters(a->n), nat_counters(b->n), sizeof(struct nat_counters));
	assert_int_equal(nat_counters(a->n)->mappings_active, 0);
	fx_free(a);
	fx_free(b);
}

/* The writer names a function in no table; the reader refuses a broken
 * mapping, and the half-filled NAT frees cleanly. */
static void test_sim_refused(void **state)
{
	struct fx *a = fx_make(TOPO_MAP_EIM, TOPO_MAP_EIM, TOPO_PORTS_PRESERVE);
	struct fx *b = fx_make(TOPO_MAP_EIM, TOPO_MAP_EIM, TOPO_PORTS_PRESERVE);
	char err[256] = "";
	uint64_t stray;
	json_t *j, *m;

	(void)state;
	out_ok(a, T_HOST, 5000, T_R1, 1);
	out_ok(a, T_HOST, 5001, T_R1, 1);
	stray = sched_at(a->s, 5 * T_S, t_stray, NULL);
	assert_null(sim_save(a, err, sizeof(err)));
	assert_non_null(strstr(err, "no module's table"));
	sched_cancel(a->s, stray);
	j = sim_save(a, err, sizeof(err));
	assert_non_null(j);
	m = json_array_get(json_object_get(json_object_get(ckround_parts(j), "nat"), "mappings"),
			   1);
	json_object_set_new(m, "proto", json_string("sctp"));
	err[0] = 0;
	assert_int_equal(sim_load(b, j, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mappings[1]"));
	json_decref(j);
	fx_free(a);
	fx_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nine_combinations),
	    cmocka_unit_test(test_fragments),
	    cmocka_unit_test(test_fragments_out_of_order),
	    cmocka_unit_test(test_ports_preserve),
	    cmocka_unit_test(test_ports_sequential_stride),
	    cmocka_unit_test(test_ports_random_seeded),
	    cmocka_unit_test(test_pool_exhaustion),
	    cmocka_unit_test(test_pool_size),
	    cmocka_unit_test(test_parity),
	    cmocka_unit_test(test_lifetime_expiry),
	    cmocka_unit_test(test_lifetime_refresh),
	    cmocka_unit_test(test_lifetime_inbound),
	    cmocka_unit_test(test_checksums),
	    cmocka_unit_test(test_checksum_udp_zero),
	    cmocka_unit_test(test_icmp_echo),
	    cmocka_unit_test(test_icmp_error_in),
	    cmocka_unit_test(test_icmp_error_out),
	    cmocka_unit_test(test_icmp_error_filtered),
	    cmocka_unit_test(test_tcp_states),
	    cmocka_unit_test(test_nat_set),
	    cmocka_unit_test(test_checkpoint_restore),
	    cmocka_unit_test(test_buckets_grow),
	    cmocka_unit_test(test_port_classes),
	    cmocka_unit_test(test_linux_reserve),
	    cmocka_unit_test(test_linux_reserve_expiry),
	    cmocka_unit_test(test_linux_timeouts),
	    cmocka_unit_test(test_carrier),
	    cmocka_unit_test(test_pages),
	    cmocka_unit_test(test_checkpoint_whole),
	    cmocka_unit_test(test_flush),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_sim_exact),
	    cmocka_unit_test(test_sim_carrier),
	    cmocka_unit_test(test_sim_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
