/* natbed-emu wire formats: Ethernet, ARP, IPv4, UDP, TCP, ICMP, and the
 * Internet checksum (RFC 1071) with incremental update (RFC 1624). */
#ifndef NATBED_EMU_PROTO_H
#define NATBED_EMU_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETH_HLEN_      14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP_ 0x0806
#define IPV4_MIN_HLEN  20
#define UDP_HLEN       8
#define TCP_MIN_HLEN   20
#define ICMP_HLEN      8

#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_  6
#define IPPROTO_UDP_  17

struct eth_hdr {
	uint8_t dst[6];
	uint8_t src[6];
	uint16_t type; /* network order */
};

/* RFC 826 for Ethernet and IPv4 */
struct arp_pkt {
	uint16_t htype, ptype;
	uint8_t hlen, plen;
	uint16_t op;
	uint8_t sha[6];
	uint32_t spa;
	uint8_t tha[6];
	uint32_t tpa;
} __attribute__((packed));

#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY   2

/* RFC 791 §3.1 */
struct ipv4_hdr {
	uint8_t ver_ihl;
	uint8_t tos;
	uint16_t tot_len;
	uint16_t id;
	uint16_t frag;
	uint8_t ttl;
	uint8_t proto;
	uint16_t csum;
	uint32_t src;
	uint32_t dst;
};

#define IPV4_FRAG_OFFSET_MASK 0x1fff
#define IPV4_FRAG_MF	      0x2000

struct udp_hdr {
	uint16_t sport, dport, len, csum;
};

struct tcp_hdr {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t off, flags;
	uint16_t win, csum, urg;
};

/* RFC 792 types (and RFC 1812 §5.2.7.1's code for a filtered packet) */
#define ICMP_ECHO_REPLY	      0
#define ICMP_UNREACH	      3
#define ICMP_SOURCE_QUENCH    4
#define ICMP_REDIRECT	      5
#define ICMP_ECHO_REQUEST     8
#define ICMP_TIME_EXCEEDED    11
#define ICMP_PARAM_PROBLEM    12
#define ICMP_UNREACH_PORT     3	 /* port unreachable */
#define ICMP_UNREACH_FILTERED 13 /* communication administratively prohibited */
#define ICMP_EXC_TTL	      0	 /* time to live exceeded in transit */

/* The types that report an error (unreachable, source quench, redirect,
 * time exceeded, parameter problem): never answered with an error. */
static inline bool icmp_type_is_error(uint8_t type)
{
	return type == ICMP_UNREACH || type == ICMP_SOURCE_QUENCH || type == ICMP_REDIRECT ||
	       type == ICMP_TIME_EXCEEDED || type == ICMP_PARAM_PROBLEM;
}

struct icmp_hdr {
	uint8_t type, code;
	uint16_t csum;
	uint16_t id, seq;
};

/* A parsed view of an IPv4 frame; pointers into the frame. */
struct ip_view {
	struct eth_hdr *eth;
	struct ipv4_hdr *ip;
	size_t ip_len; /* tot_len, checked against the frame */
	size_t hlen;   /* IPv4 header length */
	uint8_t *l4;   /* NULL for non-first fragments */
	size_t l4_len;
};

/* Parses and checks an IPv4 frame (version, header length, total length
 * within the frame, header checksum). Trailing Ethernet padding is allowed.
 * Returns 0 or -1. */
int ip_view_parse(uint8_t *frame, size_t len, struct ip_view *v);

/* RFC 791 fragments: the first one (MF set, offset 0) carries the
 * transport header; a later one (offset above 0) carries none. */
static inline bool ip_frag_first(const struct ipv4_hdr *ip)
{
	uint16_t f =
	    (uint16_t)(((const uint8_t *)&ip->frag)[0] << 8 | ((const uint8_t *)&ip->frag)[1]);

	return (f & IPV4_FRAG_MF) && !(f & IPV4_FRAG_OFFSET_MASK);
}

static inline bool ip_frag_later(const struct ipv4_hdr *ip)
{
	uint16_t f =
	    (uint16_t)(((const uint8_t *)&ip->frag)[0] << 8 | ((const uint8_t *)&ip->frag)[1]);

	return (f & IPV4_FRAG_OFFSET_MASK) != 0;
}

/* A flow as the emulator tells flows apart: addresses (network order),
 * protocol, and the ports of UDP and TCP (network order; 0 for other
 * protocols and for non-first fragments). */
struct flow_tuple {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t proto;
};

/* The flow of the packet seen through v. */
void flow_tuple_of(const struct ip_view *v, struct flow_tuple *t);

/* Moves v, a view of the frame at from, to the same offsets in a copy of
 * that frame at to. */
void ip_view_rebase(struct ip_view *v, const uint8_t *from, uint8_t *to);

/* RFC 1071 sum of len bytes (not complemented), to chain with csum_fold(). */
uint32_t csum_add(uint32_t sum, const void *data, size_t len);
uint16_t csum_fold(uint32_t sum);

/* Recomputes the IPv4 header checksum. */
void ip_csum_set(struct ipv4_hdr *ip, size_t hlen);

/* Recomputes the UDP/TCP/ICMP checksum of v from scratch (finishes a
 * partial checksum left by an offloading sender). A UDP checksum that
 * computes to zero is written as 0xFFFF (RFC 768). */
void l4_csum_set(struct ip_view *v);

/* RFC 768, RFC 791 §3.1: builds an Ethernet frame (type IPv4, MACs zero:
 * whoever sends it fills them) carrying an IPv4/UDP datagram from
 * src:sport to dst:dport (network order) with payload[0..len), as a
 * Linux host sends one on an unconnected socket: DF set so IP id 0, TTL
 * ttl, both checksums set. Returns the frame's length, or 0 when it does
 * not fit cap or in one datagram. */
size_t udp_frame_build(uint8_t *frame, size_t cap, uint32_t src, uint16_t sport, uint32_t dst,
		       uint16_t dport, uint8_t ttl, const void *payload, size_t len);

/* RFC 1624 eqn. 3: updates the IPv4 header checksum *csum for a 16-bit
 * (32-bit) field going from old_v to new_v, all in network order. The
 * header checksum has no special zero: 0x0000 and 0xFFFF both verify
 * (RFC 1624 §3). Never for a UDP, TCP or ICMP checksum: see below. */
void ip_csum_update16(uint16_t *csum, uint16_t old_v, uint16_t new_v);
void ip_csum_update32(uint16_t *csum, uint32_t old_v, uint32_t new_v);

/* The same update for the checksum *csum of a UDP, TCP or ICMP header (IP
 * protocol proto) after a field it covers (the pseudo-header's addresses
 * included) went from old_v to new_v, network order. RFC 768 for UDP: a
 * zero checksum means the sender computed none, and stays zero; an updated
 * checksum that comes out zero is written as 0xFFFF, its other form, as
 * zero would mean "none". TCP and ICMP keep either form (RFC 1624 §3). */
void l4_csum_update16(uint8_t proto, uint16_t *csum, uint16_t old_v, uint16_t new_v);
void l4_csum_update32(uint8_t proto, uint16_t *csum, uint32_t old_v, uint32_t new_v);

/* Breaks the checksum *csum of a UDP or TCP header (IP protocol proto) on
 * purpose, for a link's corruption: it no longer verifies. RFC 768: a UDP
 * checksum never becomes zero, which would read as "no checksum" and be
 * accepted; a datagram sent without one gets a wrong one. */
void l4_csum_break(uint8_t proto, uint16_t *csum);

_Static_assert(sizeof(struct eth_hdr) == 14, "eth_hdr");
_Static_assert(sizeof(struct arp_pkt) == 28, "arp_pkt");
_Static_assert(sizeof(struct ipv4_hdr) == 20, "ipv4_hdr");
_Static_assert(sizeof(struct tcp_hdr) == 20, "tcp_hdr");

#endif
