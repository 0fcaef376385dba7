/* natbed-emu ICMP the emulator sends itself, as the routers it plays: echo
 * replies from a gateway (RFC 1122 §3.2.2.6) and errors such as time
 * exceeded (RFC 792 type 11 code 0, RFC 1812 §5.3.1) quoting the packet
 * they are about. Pure builders: no I/O, no clock. */
#ifndef NATBED_EMU_ICMPGEN_H
#define NATBED_EMU_ICMPGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define ICMPGEN_TTL	  64
#define ICMPGEN_IP_MAX	  576 /* RFC 1812 §4.3.2.3: an error's IP datagram at most */
#define ICMPGEN_FRAME_MAX (ETH_HLEN_ + ICMPGEN_IP_MAX)

/* RFC 1812 §4.3.2.7: may the packet seen through v be answered with an ICMP
 * error? Not when it is an ICMP error itself, a non-first fragment, sent
 * to a broadcast or multicast address (IP or Ethernet), or from a source
 * that names no single host. */
bool icmpgen_may_answer(const struct ip_view *v);

/* Builds ICMP error (type, code) from address src (network order) about v
 * into out[cap], a buffer apart from v's frame: Ethernet with v's MACs swapped, IPv4 from src to
 * v's source with TTL ICMPGEN_TTL, quoting as much of v as fits in ICMPGEN_IP_MAX bytes of IP and
 * in cap, at least its header and 8 bytes (RFC 792). Checksums set. Returns the frame's length, or
 * 0 when v may not be answered (icmpgen_may_answer) or cap is too small; ICMPGEN_FRAME_MAX always
 * suffices. */
size_t icmpgen_error(const struct ip_view *v, uint8_t type, uint8_t code, uint32_t src,
		     uint8_t *out, size_t cap);

/* When v is an ICMP echo request to addr (network order), turns it into
 * the reply in place (addresses swapped, TTL ICMPGEN_TTL, checksums set)
 * and returns true; otherwise leaves it and returns false. */
bool icmpgen_echo_reply(struct ip_view *v, uint32_t addr);

#endif
