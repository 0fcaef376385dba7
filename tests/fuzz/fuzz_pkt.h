/* Helpers shared by the packet harnesses (fuzz_nat.c, fuzz_firewall.c):
 * the fuzz input read as fields and length-prefixed frames, a repair that
 * gets a frame past ip_view_parse() so the fuzzer reaches the engines, and
 * an L4 checksum check of its own (RFC 1071) to judge the engines by. */
#ifndef NATBED_FUZZ_PKT_H
#define NATBED_FUZZ_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* The unread rest of the input. Past its end every read gives zero. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

uint8_t fuzz_u8(struct fuzz_in *in);
uint16_t fuzz_u16(struct fuzz_in *in); /* big-endian */
uint32_t fuzz_u32(struct fuzz_in *in); /* big-endian */

/* A 16-bit length, then that many bytes (fewer at the end of the input,
 * at most PKT_MAX_FRAME) as a frame in a heap block of its exact size, so
 * ASan sees any read past it. The IPv4 header lands 4-byte aligned, as in
 * a struct pkt. Returns the frame (free with fuzz_frame_free()), or NULL
 * when the input is used up. */
uint8_t *fuzz_frame_take(struct fuzz_in *in, size_t *len);
void fuzz_frame_free(uint8_t *frame);

/* Makes frame[len] an IPv4 frame ip_view_parse() accepts when it is long
 * enough: version 4, a header that fits, a total length within the frame
 * (a shorter one, i.e. Ethernet padding, stays), the header checksum and
 * the UDP/TCP/ICMP checksum. */
void fuzz_frame_fix(uint8_t *frame, size_t len);

/* True when v's UDP, TCP or ICMP checksum is one a sender puts on the
 * wire: it verifies from scratch, and a UDP checksum is zero only when
 * udp_none says the datagram came without one (RFC 768: a computed zero
 * is sent as 0xFFFF). Also true when there is none to verify (another
 * protocol, a fragment, an L4 header too short for the engines to read). */
bool fuzz_l4_csum_ok(const struct ip_view *v, bool udp_none);

/* Whether v is UDP with a checksum field of zero: sent without one. */
bool fuzz_udp_csum_none(const struct ip_view *v);

/* The UDP header quoted by v when v is an ICMP error quoting UDP (at least
 * the 8 bytes of its header), else NULL. */
const uint8_t *fuzz_quoted_udp(const struct ip_view *v);

#endif
