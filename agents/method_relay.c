/* relay: the path through a TURN server (RFC 8656) that both peers reach,
 * for pairs no other method connects (two random symmetric NATs).
 *
 * One allocation serves a try: the relaying side's, the side with a
 * relayed candidate (the agent allocated it at start and registered it),
 * the initiator's when both have one; the other side checks it.
 *  - The relaying side opens a socket on its allocation (t->relay,
 *    turnsock.h) permitted for the peer's public address, its
 *    server-reflexive one (RFC 8656 §9: permissions are per IP address,
 *    so whatever port the peer's NAT gives its mapping toward the relay
 *    gets in). It checks no one at first: the peer's checks come out of
 *    the allocation from the endpoint they left the peer's NAT from; it
 *    answers each and checks that endpoint back (peer-reflexive, as
 *    method_checks.h does for everyone), over a channel bound to it, so
 *    that after the first Send indications everything is ChannelData.
 *  - The checking side checks the relayed address from the agent's
 *    socket on the schedule. Its NAT lets the answers in: they come from
 *    where its checks went, whatever its filtering.
 * Success is the check engine's, on both sides; the path is "relay": the
 * relaying side's path socket is the relayed one, whose datagrams cross
 * the TURN server.
 * Fails at once: no relayed candidate on either side ("no relay
 * candidate", or the TURN server's words when our own allocation was
 * refused: "401 Unauthorized: ..."); the relaying side's allocation gone
 * since it registered it (the TURN client's reason, or "relay allocation
 * lost"); the peer's public address unknown ("no candidate").
 * docs/methods.md: "relay". */
#include <errno.h>

#include "method_checks.h"
#include "turnsock.h"

/* A relay reaches anyone who reaches the relay: every pair of classes
 * (docs/methods.md), where a relayed candidate exists (relay_usable). */
static double relay_prior(enum ni_class self, enum ni_class peer)
{
	return 0.98;
}

static bool relay_usable(const struct trav_cand *self, const struct trav_cand *peer)
{
	return self->relay.addr || peer->relay.addr;
}

/* Why there is no allocation to use: the TURN client's words when it has
 * some (they live as long as the agent's turnsock), else fallback. */
static const char *relay_why(const struct trav_try *t, const char *fallback)
{
	const char *e = t->relay ? turnsock_error(t->relay) : NULL;

	return e ? e : fallback;
}

/* The relaying side: a socket on the allocation, waiting for the peer. */
static int relay_listen(struct trav_try *t, natbed_time_t now)
{
	struct dg_ep local;
	int id, si;

	if (!t->peer.srflx.addr)
		return mc_fail_at(t, now, "no candidate");
	id = t->relay ? turnsock_open(t->relay, t->peer.srflx.addr, &local, NULL, NULL) : -ENOTCONN;
	if (id < 0)
		return mc_fail_at(t, now, relay_why(t, "relay allocation lost"));
	si = mc_adopt(t, id, &local);
	if (si < 0)
		dg_close(t->dg, id);
	return si < 0 ? si : 0;
}

static int relay_start(struct trav_try *t)
{
	natbed_time_t now = dg_now(t->dg);
	/* RFC 8656 needs one allocation: both sides pick the same one */
	bool ours = t->self.relay.addr && (t->role == TRAV_INITIATOR || !t->peer.relay.addr);
	int r = mc_begin(t, NULL, 0);

	if (r < 0)
		return r;
	if (ours)
		r = relay_listen(t, now);
	else if (t->peer.relay.addr)
		r = mc_pair(t, MC_MAIN_SOCK, &t->peer.relay, now, 0, NULL) < 0 ? -ENOSPC : 0;
	else
		r = mc_fail_at(t, now, relay_why(t, "no relay candidate"));
	if (r < 0)
		mc_stop(t);
	return r;
}

const struct method method_relay = {
    .spec =
	{
	    .name = "relay",
	    .cost = 2,
	    .security = 0.7,
	    .reliability = 0.98,
	    .budget_ns = 5 * NATBED_NS_PER_S,
	    .prior = relay_prior,
	    .relay = true,
	    .usable = relay_usable,
	},
    .start = relay_start,
    .stop = mc_stop,
    .input = mc_input,
};
