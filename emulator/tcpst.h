/* natbed-emu TCP connection state, as far as timeouts care (RFC 5382 §2.1,
 * REQ-5): a connection is opening until both ends were heard and an ACK
 * without SYN went by (the handshake's last step, or the first data after a
 * simultaneous open), established then, and closing after a FIN or a RST.
 * The NAT tracks it per remote endpoint of a mapping, the firewall per
 * flow; both with this one tracker. */
#ifndef NATBED_EMU_TCPST_H
#define NATBED_EMU_TCPST_H

#include <stdbool.h>
#include <stdint.h>

/* RFC 9293 §3.1: control bits */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

enum tcpst_state { TCPST_NONE, TCPST_OPENING, TCPST_ESTABLISHED, TCPST_CLOSING };

/* The two ends: whichever the caller calls A and B (the NAT: inside and
 * remote; the firewall: the flow's first packet's sender and receiver). */
enum tcpst_side { TCPST_A = 1, TCPST_B = 2 };

struct tcpst {
	uint8_t state; /* enum tcpst_state */
	uint8_t heard; /* enum tcpst_side bits */
};

/* A segment with TCP flags from side went by. */
void tcpst_track(struct tcpst *t, uint8_t flags, enum tcpst_side from);

static inline bool tcpst_established(const struct tcpst *t)
{
	return t->state == TCPST_ESTABLISHED;
}

#endif
