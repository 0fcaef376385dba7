/* A reference Internet checksum for the tests and fuzzers: RFC 1071, the
 * 16-bit one's complement sum, folded, not complemented. Written apart from
 * emulator/proto.c so a check is never the code under test. */
#ifndef NATBED_TESTS_REF_CSUM_H
#define NATBED_TESTS_REF_CSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REF_IPPROTO_ICMP 1
#define REF_IPPROTO_TCP	 6
#define REF_IPPROTO_UDP	 17

static inline uint32_t ref_csum_sum(uint32_t sum, const uint8_t *d, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)d[i] << 8 | d[i + 1];
	if (len & 1)
		sum += (uint32_t)d[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* The sum over the UDP, TCP or ICMP part l4[l4_len] of the IPv4 packet
 * whose header is at ip, with the pseudo-header (RFC 768, RFC 9293 §3.1)
 * for UDP and TCP: 0xffff when its checksum verifies. */
static inline uint32_t ref_l4_sum(const uint8_t *ip, const uint8_t *l4, size_t l4_len)
{
	uint32_t sum = 0;

	if (ip[9] != REF_IPPROTO_ICMP) {
		sum = ref_csum_sum(sum, ip + 12, 8); /* source and destination */
		sum += ip[9];
		sum += (uint32_t)l4_len;
	}
	return ref_csum_sum(sum, l4, l4_len);
}

/* Whether the checksum of that L4 part (at least its header) is the one a
 * sender puts on the wire. It verifies; and RFC 768: a UDP checksum of zero
 * means "none", so a computed zero is sent as 0xFFFF, and a zero field is
 * right only when the datagram came without one (udp_none). TCP and ICMP
 * may carry either form of zero (RFC 1624 §3). */
static inline bool ref_l4_csum_ok(const uint8_t *ip, const uint8_t *l4, size_t l4_len,
				  bool udp_none)
{
	if (ip[9] == REF_IPPROTO_UDP && l4[6] == 0 && l4[7] == 0)
		return udp_none;
	return ref_l4_sum(ip, l4, l4_len) == 0xffff;
}

#endif
