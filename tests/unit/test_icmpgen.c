/* emulator/icmpgen: time exceeded and echo replies the emulator sends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "icmpgen.h"

#define T_GW 0xc0a80101u /* 192.168.1.1 */

/* Frames start 2 bytes into 8-byte aligned storage, as the emulator's
 * packet buffers hold them (emulator/pkt.h): the IPv4 header after 14
 * bytes of Ethernet is 4-byte aligned, as struct ipv4_hdr needs. */
#define T_FRAME_MAX 2048
#define T_OFF	    2
static uint8_t t_store[T_FRAME_MAX + T_OFF] __attribute__((aligned(8)));
#define t_frame (t_store + T_OFF)

/* out: a frame buffer of n bytes, placed as t_frame is. */
#define T_OUT(out, n)                                                                              \
	uint8_t out##_store[(n) + T_OFF] __attribute__((aligned(8)));                              \
	uint8_t *const out = out##_store + T_OFF;                                                  \
	const size_t out##_cap = (n)

/* An IPv4 frame from 192.168.1.2 to 198.51.100.10 with TTL 1 carrying
 * payload bytes of proto (UDP ports 40000 -> 44444); its view in v. */
static void t_packet(uint8_t proto, size_t payload, struct ip_view *v)
{
	struct eth_hdr *eth = (struct eth_hdr *)t_frame;
	struct ipv4_hdr *ip = (struct ipv4_hdr *)(t_frame + ETH_HLEN_);
	uint8_t *l4 = t_frame + ETH_HLEN_ + IPV4_MIN_HLEN;
	size_t i;

	memset(t_frame, 0, T_FRAME_MAX);
	memset(eth->dst, 0x02, 6);
	memset(eth->src, 0x04, 6);
	eth->type = htons(ETHERTYPE_IPV4);
	ip->ver_ihl = 0x45;
	ip->tot_len = htons((uint16_t)(IPV4_MIN_HLEN + payload));
	ip->id = htons(77);
	ip->ttl = 1;
	ip->proto = proto;
	ip->src = htonl(0xc0a80102);
	ip->dst = htonl(0xc633640a);
	for (i = 0; i < payload; i++)
		l4[i] = (uint8_t)i;
	if (proto == IPPROTO_UDP_) {
		struct udp_hdr *u = (struct udp_hdr *)l4;

		u->sport = htons(40000);
		u->dport = htons(44444);
		u->len = htons((uint16_t)payload);
	}
	ip_csum_set(ip, IPV4_MIN_HLEN);
	assert_int_equal(ip_view_parse(t_frame, ETH_HLEN_ + IPV4_MIN_HLEN + payload, v), 0);
	if (proto != IPPROTO_ICMP_)
		l4_csum_set(v);
}

/* RFC 792 type 11 code 0 from the router's address to the sender, TTL 64,
 * quoting the header and the start of the datagram; checksums right. */
static void test_time_exceeded(void **state)
{
	T_OUT(out, ICMPGEN_FRAME_MAX);
	struct ip_view v, a;
	size_t n;

	(void)state;
	t_packet(IPPROTO_UDP_, 40, &v);
	n = icmpgen_error(&v, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, htonl(T_GW), out, out_cap);
	assert_int_equal(n, ETH_HLEN_ + IPV4_MIN_HLEN + ICMP_HLEN + IPV4_MIN_HLEN + 40);
	assert_int_equal(ip_view_parse(out, n, &a), 0); /* the header checksum is right */
	assert_int_equal(a.ip->src, htonl(T_GW));
	assert_int_equal(a.ip->dst, htonl(0xc0a80102));
	assert_int_equal(a.ip->ttl, ICMPGEN_TTL);
	assert_int_equal(a.ip->proto, IPPROTO_ICMP_);
	assert_int_equal(a.l4[0], 11);
	assert_int_equal(a.l4[1], 0);
	assert_int_equal(csum_fold(csum_add(0, a.l4, a.l4_len)), 0);
	assert_memory_equal(a.l4 + ICMP_HLEN, v.ip, IPV4_MIN_HLEN + 40); /* the whole datagram */
	assert_memory_equal(a.eth->dst, v.eth->src, 6);
	assert_memory_equal(a.eth->src, v.eth->dst, 6);
}

/* RFC 1812 §4.3.2.3: at most 576 bytes of IP; a short buffer still gets
 * the header and 8 bytes, a shorter one nothing. */
static void test_quote_bounds(void **state)
{
	T_OUT(out, ICMPGEN_FRAME_MAX + 100);
	struct ip_view v, a;
	size_t n, min = ETH_HLEN_ + IPV4_MIN_HLEN + ICMP_HLEN + IPV4_MIN_HLEN + 8;

	(void)state;
	t_packet(IPPROTO_UDP_, 1400, &v);
	n = icmpgen_error(&v, ICMP_TIME_EXCEEDED, 0, htonl(T_GW), out, out_cap);
	assert_int_equal(n, ETH_HLEN_ + ICMPGEN_IP_MAX);
	assert_int_equal(ip_view_parse(out, n, &a), 0);
	assert_int_equal(csum_fold(csum_add(0, a.l4, a.l4_len)), 0);
	assert_int_equal(icmpgen_error(&v, ICMP_TIME_EXCEEDED, 0, htonl(T_GW), out, min), min);
	assert_int_equal(icmpgen_error(&v, ICMP_TIME_EXCEEDED, 0, htonl(T_GW), out, min - 1), 0);
}

/* RFC 1812 §4.3.2.7: never about an ICMP error, a later fragment, a
 * broadcast or multicast destination, or a source that is no one host;
 * an echo request may be answered. */
static void test_never_answered(void **state)
{
	T_OUT(out, ICMPGEN_FRAME_MAX);
	struct ip_view v;

	(void)state;
	t_packet(IPPROTO_ICMP_, 36, &v);
	v.l4[0] = 3; /* destination unreachable */
	assert_false(icmpgen_may_answer(&v));
	assert_int_equal(icmpgen_error(&v, ICMP_TIME_EXCEEDED, 0, htonl(T_GW), out, out_cap), 0);
	v.l4[0] = 11; /* time exceeded */
	assert_false(icmpgen_may_answer(&v));
	v.l4[0] = ICMP_ECHO_REQUEST;
	assert_true(icmpgen_may_answer(&v));

	t_packet(IPPROTO_UDP_, 40, &v);
	v.ip->frag = htons(10); /* offset 80: a later fragment, no L4 */
	ip_csum_set(v.ip, v.hlen);
	assert_int_equal(ip_view_parse(t_frame, ETH_HLEN_ + v.ip_len, &v), 0);
	assert_false(icmpgen_may_answer(&v));

	t_packet(IPPROTO_UDP_, 40, &v);
	v.ip->dst = htonl(0xffffffff);
	assert_false(icmpgen_may_answer(&v));
	v.ip->dst = htonl(0xe0000001); /* 224.0.0.1 */
	assert_false(icmpgen_may_answer(&v));
	t_packet(IPPROTO_UDP_, 40, &v);
	memset(v.eth->dst, 0xff, 6);
	assert_false(icmpgen_may_answer(&v));
	t_packet(IPPROTO_UDP_, 40, &v);
	v.ip->src = 0;
	assert_false(icmpgen_may_answer(&v));
	v.ip->src = htonl(0x7f000001);
	assert_false(icmpgen_may_answer(&v));
}

/* The gateway answers an echo request to its own address, in place. */
static void test_echo_reply(void **state)
{
	struct ip_view v, a;

	(void)state;
	t_packet(IPPROTO_ICMP_, 16, &v);
	v.l4[0] = ICMP_ECHO_REQUEST;
	v.l4[1] = 0;
	l4_csum_set(&v);
	assert_false(icmpgen_echo_reply(&v, htonl(T_GW))); /* not to the gateway */
	v.ip->dst = htonl(T_GW);
	ip_csum_set(v.ip, v.hlen);
	assert_true(icmpgen_echo_reply(&v, htonl(T_GW)));
	assert_int_equal(v.ip->src, htonl(T_GW));
	assert_int_equal(v.ip->dst, htonl(0xc0a80102));
	assert_int_equal(v.ip->ttl, ICMPGEN_TTL);
	assert_int_equal(v.l4[0], ICMP_ECHO_REPLY);
	assert_int_equal(ip_view_parse(t_frame, ETH_HLEN_ + v.ip_len, &a), 0);
	assert_int_equal(csum_fold(csum_add(0, a.l4, a.l4_len)), 0);
	assert_false(icmpgen_echo_reply(&v, htonl(0xc0a80102))); /* a reply is no request */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_time_exceeded),
	    cmocka_unit_test(test_quote_bounds),
	    cmocka_unit_test(test_never_answered),
	    cmocka_unit_test(test_echo_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
