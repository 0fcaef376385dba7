/* natbed-emu drop reasons: every packet the emulator does not forward is
 * counted under one of these, on the port it arrived by. */
#ifndef NATBED_EMU_DROP_H
#define NATBED_EMU_DROP_H

enum drop_reason {
	DROP_POOL_EXHAUSTED, /* no packet buffer free */
	DROP_TOO_BIG,	     /* frame larger than a packet buffer */
	DROP_MALFORMED,	     /* truncated or inconsistent headers */
	DROP_UNSUPPORTED,    /* not ARP or IPv4 (IPv6, other ethertypes) */
	DROP_NOT_FOR_US,     /* unicast frame to another MAC */
	DROP_TTL_EXPIRED,
	DROP_NO_ROUTE,
	DROP_ARP_UNRESOLVED, /* next hop did not answer ARP */
	DROP_ARP_QUEUE_FULL,
	DROP_TX_ERROR,
	DROP_KERNEL,	 /* the socket's ring overflowed (PACKET_STATISTICS) */
	DROP_LINK_LOSS,	 /* an impaired link lost it */
	DROP_LINK_DOWN,	 /* a partitioned link */
	DROP_LINK_QUEUE, /* a rate-limited link's queue was full */
	DROP_NAT,	 /* NAT: no mapping / filtered / exhausted */
	DROP_FIREWALL,
	DROP_GATEWAY, /* to the gateway's own address, for no service it offers */
	DROP_GATE,    /* a zero-trust gate: no pinhole, or a refused auth request */
	DROP_REASON_COUNT
};

/* Short snake_case name of a reason, as shown by `natbed ctl show stats`. */
const char *drop_reason_name(enum drop_reason r);

#endif
