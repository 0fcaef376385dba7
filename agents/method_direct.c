/* direct: the peer as it is. Checks from the agent's socket to the peer's
 * host candidate, and to its public address when it has no NAT (RFC 4787
 * does not apply: nothing to traverse). Reaches a peer on the same LAN and
 * a public peer; a public side also learns a NATed peer's peer-reflexive
 * endpoint from its checks and checks it back (method_checks.h).
 * docs/methods.md: "direct". */
#include "method_checks.h"

/* The peer is reachable as it is only when one side has no NAT or both
 * sit on one LAN, which classes cannot tell: the prior says the first. */
static double direct_prior(enum ni_class self, enum ni_class peer)
{
	if (self == NI_CLASS_OPEN || peer == NI_CLASS_OPEN)
		return 0.95;
	if (self == NI_CLASS_UNKNOWN || peer == NI_CLASS_UNKNOWN)
		return 0.3;
	return 0.05;
}

static int direct_start(struct trav_try *t)
{
	struct dg_ep to[2] = {t->peer.host, {0, 0}};

	if (t->peer.nat.map == NI_MAP_NONE && !dg_ep_eq(&t->peer.srflx, &t->peer.host))
		to[1] = t->peer.srflx;
	return mc_begin_checks(t, to, 2);
}

const struct method method_direct = {
    .spec =
	{
	    .name = "direct",
	    .cost = 0,
	    .security = 0.9,
	    .reliability = 0.95,
	    .budget_ns = 2 * NATBED_NS_PER_S,
	    .prior = direct_prior,
	},
    .start = direct_start,
    .stop = mc_stop,
    .input = mc_input,
};
