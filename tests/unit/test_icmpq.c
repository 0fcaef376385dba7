/* Unit tests for emulator/icmpq.c: which ICMP messages are errors, and the
 * quote of the datagram an error is about (RFC 792, RFC 1812 §4.3.2.3). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "icmpq.h"

/* An ICMP message of type in a frame: outer IP, ICMP header, then a quoted
 * IPv4 header of qhlen bytes and ql4 bytes of UDP. */
struct tframe {
	uint16_t align;
	uint8_t buf[256];
	size_t len;
};

static void build(struct tframe *f, uint8_t type, size_t qhlen, size_t ql4, struct ip_view *v)
{
	struct ipv4_hdr *ip = (struct ipv4_hdr *)(f->buf + ETH_HLEN_), *q;
	uint8_t *icmp = (uint8_t *)ip + IPV4_MIN_HLEN;
	size_t l4 = ICMP_HLEN + qhlen + ql4;

	memset(f->buf, 0, sizeof(f->buf));
	ip->ver_ihl = 0x45;
	ip->tot_len = htons((uint16_t)(IPV4_MIN_HLEN + l4));
	ip->ttl = 64;
	ip->proto = IPPROTO_ICMP_;
	ip->src = htonl(0xc6336401); /* 198.51.100.1 */
	ip->dst = htonl(0xcb007101); /* 203.0.113.1 */
	ip_csum_set(ip, IPV4_MIN_HLEN);
	icmp[0] = type;
	q = (struct ipv4_hdr *)(icmp + ICMP_HLEN);
	q->ver_ihl = (uint8_t)(0x40 | qhlen / 4);
	q->proto = IPPROTO_UDP_;
	q->src = ip->dst;
	q->dst = ip->src;
	memset((uint8_t *)q + qhlen, 0x11, ql4);
	f->len = ETH_HLEN_ + IPV4_MIN_HLEN + l4;
	assert_int_equal(ip_view_parse(f->buf, f->len, v), 0);
}

static void test_error_types(void **state)
{
	static const uint8_t errors[] = {3, 4, 5, 11, 12}, others[] = {0, 8, 13, 14, 9, 10};
	struct tframe f;
	struct ip_view v;
	size_t i;

	for (i = 0; i < sizeof(errors); i++) {
		build(&f, errors[i], IPV4_MIN_HLEN, 8, &v);
		assert_true(icmpq_is_error(&v));
	}
	for (i = 0; i < sizeof(others); i++) {
		build(&f, others[i], IPV4_MIN_HLEN, 8, &v);
		assert_false(icmpq_is_error(&v));
	}
}

/* The quote: header and 8 bytes at least; options honoured. */
static void test_quote(void **state)
{
	struct tframe f;
	struct ip_view v;
	struct icmpq q;

	build(&f, ICMP_UNREACH, IPV4_MIN_HLEN, 8, &v);
	assert_int_equal(icmpq_parse(&v, &q), 0);
	assert_int_equal(q.hlen, IPV4_MIN_HLEN);
	assert_int_equal(q.l4_len, 8);
	assert_int_equal(q.l4[0], 0x11);
	assert_int_equal(q.ip->src, v.ip->dst);
	/* a quoted header with options: the L4 bytes start after them */
	build(&f, ICMP_TIME_EXCEEDED, 24, 20, &v);
	assert_int_equal(icmpq_parse(&v, &q), 0);
	assert_int_equal(q.hlen, 24);
	assert_int_equal(q.l4_len, 20);
	assert_ptr_equal(q.l4, (uint8_t *)q.ip + 24);
}

/* Short or bogus quotes are refused, never read past. */
static void test_bad_quotes(void **state)
{
	struct tframe f;
	struct ip_view v;
	struct icmpq q;

	build(&f, ICMP_UNREACH, IPV4_MIN_HLEN, 7, &v); /* 7 bytes of L4 */
	assert_int_equal(icmpq_parse(&v, &q), -1);
	build(&f, ICMP_UNREACH, 24, 4, &v); /* options eat the 8 bytes */
	assert_int_equal(icmpq_parse(&v, &q), -1);
	build(&f, ICMP_UNREACH, IPV4_MIN_HLEN, 8, &v);
	((struct ipv4_hdr *)(v.l4 + ICMP_HLEN))->ver_ihl = 0x65; /* IPv6? */
	assert_int_equal(icmpq_parse(&v, &q), -1);
	((struct ipv4_hdr *)(v.l4 + ICMP_HLEN))->ver_ihl = 0x44; /* 16-byte header */
	assert_int_equal(icmpq_parse(&v, &q), -1);
	build(&f, ICMP_ECHO_REQUEST, IPV4_MIN_HLEN, 8, &v); /* not an error */
	assert_int_equal(icmpq_parse(&v, &q), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_error_types),
	    cmocka_unit_test(test_quote),
	    cmocka_unit_test(test_bad_quotes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
