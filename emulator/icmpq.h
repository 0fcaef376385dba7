/* natbed-emu ICMP errors and what they quote (RFC 792, RFC 1812 §4.3.2.3):
 * the IP header and at least the first 8 bytes of the datagram an error is
 * about. The NAT translates an error by its quote (RFC 5508 REQ-4); the
 * firewall finds the flow it belongs to. One parser serves both. */
#ifndef NATBED_EMU_ICMPQ_H
#define NATBED_EMU_ICMPQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define ICMPQ_L4_MIN 8 /* RFC 792: the quote carries 64 bits of the datagram */

/* The quoted datagram; pointers into the error's frame. */
struct icmpq {
	struct ipv4_hdr *ip; /* its IP header */
	size_t hlen;	     /* that header's length */
	uint8_t *l4;	     /* its first L4 bytes: at least ICMPQ_L4_MIN */
	size_t l4_len;	     /* how many of them the error carries */
};

/* Whether v is an ICMP error (destination unreachable, source quench,
 * redirect, time exceeded, parameter problem) with its ICMP header. */
bool icmpq_is_error(const struct ip_view *v);

/* Finds the datagram error v quotes. 0, or -1 when v is not an ICMP error
 * or its quote is not an IPv4 header followed by ICMPQ_L4_MIN bytes. */
int icmpq_parse(const struct ip_view *v, struct icmpq *q);

#endif
