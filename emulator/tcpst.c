#include "tcpst.h"

void tcpst_track(struct tcpst *t, uint8_t flags, enum tcpst_side from)
{
	t->heard |= (uint8_t)from;
	if (flags & (TCP_FIN | TCP_RST))
		t->state = TCPST_CLOSING;
	else if (t->state <= TCPST_OPENING && t->heard == (TCPST_A | TCPST_B) &&
		 (flags & TCP_ACK) && !(flags & TCP_SYN))
		t->state = TCPST_ESTABLISHED;
	else if (t->state == TCPST_NONE && (flags & TCP_SYN))
		t->state = TCPST_OPENING;
}
