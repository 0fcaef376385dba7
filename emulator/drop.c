#include "drop.h"

static const char *const drop_names[DROP_REASON_COUNT] = {
    [DROP_POOL_EXHAUSTED] = "pool_exhausted",
    [DROP_TOO_BIG] = "too_big",
    [DROP_MALFORMED] = "malformed",
    [DROP_UNSUPPORTED] = "unsupported",
    [DROP_NOT_FOR_US] = "not_for_us",
    [DROP_TTL_EXPIRED] = "ttl_expired",
    [DROP_NO_ROUTE] = "no_route",
    [DROP_ARP_UNRESOLVED] = "arp_unresolved",
    [DROP_ARP_QUEUE_FULL] = "arp_queue_full",
    [DROP_TX_ERROR] = "tx_error",
    [DROP_KERNEL] = "kernel",
    [DROP_LINK_LOSS] = "link_loss",
    [DROP_LINK_DOWN] = "link_down",
    [DROP_LINK_QUEUE] = "link_queue",
    [DROP_NAT] = "nat",
    [DROP_FIREWALL] = "firewall",
    [DROP_GATEWAY] = "gateway",
    [DROP_GATE] = "gate",
};

const char *drop_reason_name(enum drop_reason r)
{
	return (unsigned)r < DROP_REASON_COUNT ? drop_names[r] : "unknown";
}
