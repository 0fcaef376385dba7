/* natbed's own STUN-framed messages: the numbers the rendezvous protocol
 * (rdvmsg.h) and the messages between peers (peermsg.h) share, so that
 * they never collide.
 *
 * Methods: numbers IANA has not assigned in its STUN Methods registry
 * (0x001 Binding, 0x003-0x00C TURN and TURN-TCP, 0x080 GOOG-PING; 0x081-0x0FF
 * unassigned, Expert Review; 0x100-0xFFF reserved by RFC 7983), nor
 * Wireshark's dissector. Attributes: in the comprehension-optional range
 * (RFC 8489 §18.3: 0x8000-0xFFFF), numbers IANA has not assigned (its
 * last in the 0xC000 block is 0xC060 GOOG-MESSAGE-INTEGRITY-32), so that a
 * real STUN server (coturn, natbed-stund) answers a Binding request
 * carrying them and ignores them. tshark 4.0 decodes the framing and
 * shows each method as "Unknown" and each attribute as "Unknown attribute
 * 0xc0eN". docs/agents.md lists every one with its layout.
 */
#ifndef NATBED_AGENTS_NBSTUN_H
#define NATBED_AGENTS_NBSTUN_H

#include <stddef.h>
#include <stdint.h>

/* rendezvous methods (rdvmsg.h) */
#define NBSTUN_METHOD_REGISTER	0x0E0 /* an agent registers (and refreshes) */
#define NBSTUN_METHOD_CONNECT	0x0E1 /* an agent asks to meet a peer */
#define NBSTUN_METHOD_INTRODUCE 0x0E2 /* the rendezvous tells both sides */
#define NBSTUN_METHOD_LOOKUP	0x0E3 /* an agent asks for a peer's candidates and NAT */
#define NBSTUN_METHOD_CANCEL	0x0E4 /* the rendezvous calls off a try the peer refused */
/* between peers (peermsg.h): connectivity checks are Binding requests with
 * natbed's attributes; data probes after setup are of their own method */
#define NBSTUN_METHOD_PROBE 0x0E8
/* the zero-trust gate's AUTH is 0x0E4, its attributes 0xC0F0-0xC0F4
 * (include/natbed/gatemsg.h: the gate and its client share them) */

/* attributes: 0xC0E0-0xC0FF */
#define NBSTUN_ATTR_NAME       0xC0E0 /* the sender's agent name (UTF-8) */
#define NBSTUN_ATTR_PEER       0xC0E1 /* the other agent's name */
#define NBSTUN_ATTR_CAND_HOST  0xC0E2 /* XOR-address: host candidate */
#define NBSTUN_ATTR_CAND_SRFLX 0xC0E3 /* XOR-address: server-reflexive candidate */
#define NBSTUN_ATTR_CAND_RELAY 0xC0E4 /* XOR-address: relayed candidate */
#define NBSTUN_ATTR_NAT	       0xC0E5 /* the sender's NAT as its discovery found it */
#define NBSTUN_ATTR_METHOD     0xC0E6 /* a traversal method's name */
#define NBSTUN_ATTR_TRY	       0xC0E7 /* 64-bit try id */
#define NBSTUN_ATTR_START      0xC0E8 /* 32-bit milliseconds from now to the common start */
#define NBSTUN_ATTR_ROLE       0xC0E9 /* 8-bit enum trav_role of the receiver */
#define NBSTUN_ATTR_SEQ	       0xC0EA /* 32-bit sequence number of a probe */
#define NBSTUN_ATTR_LIFETIME   0xC0EB /* 32-bit seconds a registration lives */
#define NBSTUN_ATTR_BUDGET     0xC0EC /* 32-bit milliseconds the try may take */
#define NBSTUN_ATTR_REASON     0xC0ED /* a refusal's reason (UTF-8) */

/* natbed's attributes hold their integers big-endian, n bytes (n <= 8). */
static inline void nbstun_put_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static inline uint64_t nbstun_get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

#endif
