/* emulator/proto: Internet checksums computed from scratch (RFC 1071) and
 * updated (RFC 1624), with RFC 768's zero for UDP. Every result is judged
 * by tests/support/ref_csum.h, not by the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "../support/ref_csum.h"
#include "proto.h"

#define T_PAYLOAD_MAX 17 /* odd, so odd lengths are covered too */
#define T_ROUNDS      200000

/* An IPv4 packet (no Ethernet) with a UDP, TCP or ICMP part. */
struct tpkt {
	uint32_t align; /* the IP header on 4 bytes, as in a struct pkt */
	uint8_t buf[IPV4_MIN_HLEN + TCP_MIN_HLEN + T_PAYLOAD_MAX];
	struct ip_view v;
};

static struct ipv4_hdr *t_ip(struct tpkt *p)
{
	return (struct ipv4_hdr *)p->buf;
}

static size_t t_l4_hlen(uint8_t proto)
{
	return proto == IPPROTO_UDP_ ? UDP_HLEN : proto == IPPROTO_TCP_ ? TCP_MIN_HLEN : ICMP_HLEN;
}

/* The packet's L4 checksum field. */
static uint16_t *t_csum(struct tpkt *p)
{
	uint8_t *l4 = p->v.l4;

	if (t_ip(p)->proto == IPPROTO_UDP_)
		return &((struct udp_hdr *)l4)->csum;
	if (t_ip(p)->proto == IPPROTO_TCP_)
		return &((struct tcp_hdr *)l4)->csum;
	return &((struct icmp_hdr *)l4)->csum;
}

/* A packet of proto from src to dst with plen payload bytes of value b;
 * its checksums set by proto.c. */
static void t_fill(struct tpkt *p, uint8_t proto, uint32_t src, uint32_t dst, size_t plen,
		   uint8_t b)
{
	struct ipv4_hdr *ip = t_ip(p);
	size_t l4_len = t_l4_hlen(proto) + plen;

	memset(p, 0, sizeof(*p));
	ip->ver_ihl = 0x45;
	ip->tot_len = htons((uint16_t)(IPV4_MIN_HLEN + l4_len));
	ip->ttl = 64;
	ip->proto = proto;
	ip->src = src;
	ip->dst = dst;
	p->v.ip = ip;
	p->v.hlen = IPV4_MIN_HLEN;
	p->v.ip_len = IPV4_MIN_HLEN + l4_len;
	p->v.l4 = p->buf + IPV4_MIN_HLEN;
	p->v.l4_len = l4_len;
	memset(p->v.l4 + t_l4_hlen(proto), b, plen);
	if (proto == IPPROTO_UDP_)
		((struct udp_hdr *)p->v.l4)->len = htons((uint16_t)l4_len);
	if (proto == IPPROTO_TCP_)
		((struct tcp_hdr *)p->v.l4)->off = (TCP_MIN_HLEN / 4) << 4;
	ip_csum_set(ip, IPV4_MIN_HLEN);
	l4_csum_set(&p->v);
}

static uint32_t t_l4_sum(struct tpkt *p)
{
	return ref_l4_sum(p->buf, p->v.l4, p->v.l4_len);
}

/* Sets the word at off (an even offset into the L4 part, clear of the
 * checksum) so that the L4 part's checksum computes to c (host order,
 * before RFC 768's rule): with the field zero it sums to ~c. */
static void t_sum_to(struct tpkt *p, size_t off, uint16_t c)
{
	uint16_t *f = t_csum(p);
	uint32_t w;

	*f = 0;
	p->v.l4[off] = p->v.l4[off + 1] = 0;
	w = (uint16_t)~c + (uint32_t)(uint16_t)~t_l4_sum(p);
	w = (w & 0xffff) + (w >> 16);
	p->v.l4[off] = (uint8_t)(w >> 8);
	p->v.l4[off + 1] = (uint8_t)w;
	assert_int_equal(t_l4_sum(p), (uint16_t)~c);
}

/* The same, to a checksum that computes to zero. */
static void t_sum_to_zero(struct tpkt *p, size_t off)
{
	t_sum_to(p, off, 0);
}

/* RFC 768: a UDP checksum computed as zero goes on the wire as 0xFFFF. */
static void test_set_udp_zero(void **state)
{
	struct tpkt p;

	(void)state;
	t_fill(&p, IPPROTO_UDP_, htonl(0xc0a8010a), htonl(0xc6336401), 8, 0x5a);
	t_sum_to_zero(&p, UDP_HLEN);
	l4_csum_set(&p.v);
	assert_int_equal(ntohs(*t_csum(&p)), 0xffff);
	assert_true(ref_l4_csum_ok(p.buf, p.v.l4, p.v.l4_len, false));
	/* TCP has no such rule: the computed zero stays */
	t_fill(&p, IPPROTO_TCP_, htonl(0xc0a8010a), htonl(0xc6336401), 8, 0x5a);
	t_sum_to_zero(&p, TCP_MIN_HLEN);
	l4_csum_set(&p.v);
	assert_int_equal(*t_csum(&p), 0);
	assert_true(ref_l4_csum_ok(p.buf, p.v.l4, p.v.l4_len, false));
}

/* The case seen at 40 in 3,000,000 translated datagrams: a rewrite after
 * which the UDP checksum computes to zero. The update writes 0xFFFF, for
 * the pseudo-header's address and for the port. */
static void test_update_udp_zero(void **state)
{
	uint32_t from = htonl(0xc0a8010a), to = htonl(0xcb007101);
	struct tpkt p;
	uint16_t port;

	(void)state;
	/* the datagram as it will be after the rewrite sums to zero... */
	t_fill(&p, IPPROTO_UDP_, to, htonl(0xc6336401), 8, 0x11);
	t_sum_to_zero(&p, UDP_HLEN);
	/* ...and as it is before: its own checksum is not zero */
	t_ip(&p)->src = from;
	l4_csum_set(&p.v);
	assert_int_not_equal(*t_csum(&p), 0);
	assert_int_not_equal(*t_csum(&p), htons(0xffff));
	t_ip(&p)->src = to;
	l4_csum_update32(IPPROTO_UDP_, t_csum(&p), from, to);
	assert_int_equal(ntohs(*t_csum(&p)), 0xffff);
	assert_true(ref_l4_csum_ok(p.buf, p.v.l4, p.v.l4_len, false));

	/* the same through a port */
	t_fill(&p, IPPROTO_UDP_, to, htonl(0xc6336401), 8, 0x22);
	((struct udp_hdr *)p.v.l4)->sport = htons(40000);
	t_sum_to_zero(&p, UDP_HLEN);
	((struct udp_hdr *)p.v.l4)->sport = htons(5000);
	l4_csum_set(&p.v);
	((struct udp_hdr *)p.v.l4)->sport = htons(40000);
	l4_csum_update16(IPPROTO_UDP_, t_csum(&p), htons(5000), htons(40000));
	assert_int_equal(ntohs(*t_csum(&p)), 0xffff);

	/* 0xFFFF and a field rewritten to its own value (a preserved port):
	 * RFC 1624 eqn. 3 gives 0x0000 there, which for UDP must not go out */
	port = ((struct udp_hdr *)p.v.l4)->sport;
	l4_csum_update16(IPPROTO_UDP_, t_csum(&p), port, port);
	assert_int_equal(ntohs(*t_csum(&p)), 0xffff);
	l4_csum_update32(IPPROTO_UDP_, t_csum(&p), to, to);
	assert_int_equal(ntohs(*t_csum(&p)), 0xffff);
	assert_true(ref_l4_csum_ok(p.buf, p.v.l4, p.v.l4_len, false));
}

/* RFC 768: a datagram sent without a checksum (zero) keeps none. */
static void test_update_udp_none(void **state)
{
	struct tpkt p;

	(void)state;
	t_fill(&p, IPPROTO_UDP_, htonl(0xc0a8010a), htonl(0xc6336401), 8, 0x33);
	*t_csum(&p) = 0;
	l4_csum_update32(IPPROTO_UDP_, t_csum(&p), t_ip(&p)->src, htonl(0xcb007101));
	l4_csum_update16(IPPROTO_UDP_, t_csum(&p), htons(5000), htons(40000));
	assert_int_equal(*t_csum(&p), 0);
	/* zero is an ordinary value for TCP and ICMP: they are updated */
	l4_csum_update16(IPPROTO_TCP_, t_csum(&p), htons(5000), htons(40000));
	assert_int_not_equal(*t_csum(&p), 0);
	*t_csum(&p) = 0;
	l4_csum_update16(IPPROTO_ICMP_, t_csum(&p), htons(5000), htons(40000));
	assert_int_not_equal(*t_csum(&p), 0);
}

/* A small xorshift, so the rounds below are the same on every run. */
static uint32_t t_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Random rewrites of an address and a port, a quarter of them steered to
 * a checksum that computes to zero: an updated UDP checksum is exactly the
 * one computed from scratch (one value verifies and is not zero), TCP and
 * ICMP ones verify, and the IPv4 header's does too. */
static void test_update_matches_scratch(void **state)
{
	static const uint8_t protos[] = {IPPROTO_UDP_, IPPROTO_TCP_, IPPROTO_ICMP_};
	uint32_t seed = 0x9e3779b9, old_a, new_a;
	uint16_t old_p, new_p, *port, want;
	size_t zeros = 0;
	struct tpkt p;

	(void)state;
	for (int i = 0; i < T_ROUNDS; i++) {
		uint8_t proto = protos[i % 3];
		size_t plen = t_rand(&seed) % (T_PAYLOAD_MAX + 1);

		t_fill(&p, proto, t_rand(&seed), t_rand(&seed), plen, (uint8_t)t_rand(&seed));
		port = (uint16_t *)p.v.l4; /* source port, or ICMP type and code */
		if (proto == IPPROTO_ICMP_)
			port = &((struct icmp_hdr *)p.v.l4)->id;
		new_a = t_rand(&seed);
		new_p = (uint16_t)t_rand(&seed);
		if (i % 4 == 0 && plen >= 2) {
			/* steer: the rewritten packet's checksum computes to zero */
			old_a = t_ip(&p)->src;
			old_p = *port;
			t_ip(&p)->src = new_a;
			*port = new_p;
			t_sum_to_zero(&p, t_l4_hlen(proto));
			t_ip(&p)->src = old_a;
			*port = old_p;
			l4_csum_set(&p.v);
			zeros++;
		}
		old_a = t_ip(&p)->src;
		old_p = *port;
		t_ip(&p)->src = new_a;
		ip_csum_update32(&t_ip(&p)->csum, old_a, new_a);
		if (proto != IPPROTO_ICMP_)
			l4_csum_update32(proto, t_csum(&p), old_a, new_a);
		*port = new_p;
		l4_csum_update16(proto, t_csum(&p), old_p, new_p);
		assert_int_equal(ref_csum_sum(0, p.buf, IPV4_MIN_HLEN), 0xffff);
		assert_true(ref_l4_csum_ok(p.buf, p.v.l4, p.v.l4_len, false));
		if (proto == IPPROTO_UDP_) {
			want = *t_csum(&p);
			l4_csum_set(&p.v);
			assert_int_equal(*t_csum(&p), want);
		}
	}
	assert_true(zeros > T_ROUNDS / 8);
}

/* RFC 1624 on the IPv4 header: a TTL decrement keeps it verifying. */
static void test_ip_update(void **state)
{
	uint16_t old_w, new_w;
	struct tpkt p;

	(void)state;
	t_fill(&p, IPPROTO_UDP_, htonl(0xc0a8010a), htonl(0xc6336401), 0, 0);
	for (int ttl = 64; ttl > 1; ttl--) {
		memcpy(&old_w, &t_ip(&p)->ttl, 2);
		t_ip(&p)->ttl--;
		memcpy(&new_w, &t_ip(&p)->ttl, 2);
		ip_csum_update16(&t_ip(&p)->csum, old_w, new_w);
		assert_int_equal(ref_csum_sum(0, p.buf, IPV4_MIN_HLEN), 0xffff);
	}
}

/* A link's corruption: the broken checksum never verifies, and a UDP one
 * is never zero ("no checksum", which the receiver would accept), whatever
 * it was; a datagram sent without one gets a wrong one. */
static void test_break(void **state)
{
	struct tpkt p;
	uint16_t before;

	(void)state;
	for (uint32_t v = 0; v <= 0xffff; v++) {
		uint16_t c = htons((uint16_t)v);

		l4_csum_break(IPPROTO_UDP_, &c);
		assert_int_not_equal(c, 0);
		assert_int_not_equal(c, htons((uint16_t)v));
	}
	/* a datagram whose checksum is 0x5a00, which a flip of its first byte
	 * would turn into zero */
	t_fill(&p, IPPROTO_UDP_, htonl(0xc0a8010a), htonl(0xc6336401), 8, 0x44);
	t_sum_to(&p, UDP_HLEN, 0x5a00);
	l4_csum_set(&p.v);
	assert_int_equal(ntohs(*t_csum(&p)), 0x5a00);
	before = *t_csum(&p);
	l4_csum_break(IPPROTO_UDP_, t_csum(&p));
	assert_int_not_equal(*t_csum(&p), before);
	assert_false(ref_l4_csum_ok(p.buf, p.v.l4, p.v.l4_len, true));
	for (int proto = IPPROTO_TCP_; proto <= IPPROTO_UDP_;
	     proto += IPPROTO_UDP_ - IPPROTO_TCP_) {
		t_fill(&p, (uint8_t)proto, htonl(0xc0a8010a), htonl(0xc6336401), 9, 0x55);
		l4_csum_break((uint8_t)proto, t_csum(&p));
		assert_false(ref_l4_csum_ok(p.buf, p.v.l4, p.v.l4_len, true));
	}
	/* sent without a checksum: now one that does not verify */
	t_fill(&p, IPPROTO_UDP_, htonl(0xc0a8010a), htonl(0xc6336401), 9, 0x66);
	*t_csum(&p) = 0;
	l4_csum_break(IPPROTO_UDP_, t_csum(&p));
	assert_false(ref_l4_csum_ok(p.buf, p.v.l4, p.v.l4_len, true));
}

/* csum_add, whatever it returns on the way, folds to RFC 1071's sum: every
 * length to 100 and more, every alignment, all zeros and all ones, sums
 * carried in, more added after. */
static void test_csum_add_folds_as_rfc1071(void **state)
{
	static uint8_t buf[1600];
	uint64_t lcg = 3;

	(void)state;
	for (int k = 0; k < 20000; k++) {
		size_t off, len;
		uint32_t in, extra;
		int fill;

		lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
		off = (lcg >> 20) % 8;
		len = k < 1200 ? (size_t)(k % 120) : (lcg >> 24) % 1500;
		in = k % 3 ? (uint32_t)(lcg >> 40) % 0x30000 : 0;
		extra = k % 5 ? 17 + (uint32_t)len : 0;
		fill = k % 7;
		for (size_t i = 0; i < len; i++) {
			lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
			buf[off + i] = fill == 0 ? 0 : fill == 1 ? 0xff : (uint8_t)(lcg >> 56);
		}
		assert_int_equal(csum_fold(csum_add(in, buf + off, len) + extra),
				 (uint16_t)~ref_csum_sum(in + extra, buf + off, len));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_udp_zero),
	    cmocka_unit_test(test_update_udp_zero),
	    cmocka_unit_test(test_update_udp_none),
	    cmocka_unit_test(test_update_matches_scratch),
	    cmocka_unit_test(test_ip_update),
	    cmocka_unit_test(test_csum_add_folds_as_rfc1071),
	    cmocka_unit_test(test_break),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
