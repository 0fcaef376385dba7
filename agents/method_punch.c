/* punch: simultaneous UDP hole punching (RFC 5128 §3.3). Both sides check
 * the other's server-reflexive endpoint from the agent's socket, the one
 * whose mapping STUN saw, on the common schedule from the start time
 * (mc_schedule_offset: 100 ms, then 250 ms, then 500 ms) until the
 * deadline; and the host candidate too when both sit behind one public
 * address (the same LAN). Every check is answered; one from an endpoint
 * no pair targets is a peer-reflexive address, answered and checked back:
 * that is how a cone NAT meets a symmetric one. docs/methods.md: "punch". */
#include "method_checks.h"

/* RFC 4787 §4.1 and §5, cell by cell in docs/methods.md. */
static double punch_prior(enum ni_class self, enum ni_class peer)
{
	if (self == NI_CLASS_UNKNOWN || peer == NI_CLASS_UNKNOWN)
		return 0.5;
	/* no NAT on one side: its address is its endpoint for everyone */
	if (self == NI_CLASS_OPEN || peer == NI_CLASS_OPEN)
		return 0.95;
	/* REQ-1 both sides: each check opens its own NAT toward the other's
	 * one mapping */
	if (mc_class_eim(self) && mc_class_eim(peer))
		return 0.95;
	/* a dependent mapping meets an EIM one: only through the
	 * peer-reflexive endpoint, which a filter that is not
	 * port-dependent lets in */
	if ((mc_class_dep(self) && (peer == NI_CLASS_FULL_CONE || peer == NI_CLASS_RESTRICTED)) ||
	    (mc_class_dep(peer) && (self == NI_CLASS_FULL_CONE || self == NI_CLASS_RESTRICTED)))
		return 0.9;
	return 0.05;
}

static int punch_start(struct trav_try *t)
{
	struct dg_ep to[2] = {t->peer.srflx, {0, 0}};
	bool same_lan =
	    !t->self.srflx.addr || !t->peer.srflx.addr || t->self.srflx.addr == t->peer.srflx.addr;

	/* a host candidate elsewhere is unreachable: checking it would only
	 * spend a mapping of a symmetric NAT */
	if (same_lan && !dg_ep_eq(&t->peer.host, &t->peer.srflx))
		to[1] = t->peer.host;
	return mc_begin_checks(t, to, 2);
}

const struct method method_punch = {
    .spec =
	{
	    .name = "punch",
	    .cost = 0.5,
	    .security = 0.8,
	    .reliability = 0.9,
	    .budget_ns = 5 * NATBED_NS_PER_S,
	    .prior = punch_prior,
	},
    .start = punch_start,
    .stop = mc_stop,
    .input = mc_input,
};
