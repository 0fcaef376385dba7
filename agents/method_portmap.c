/* portmap: a mapping the NAT grants on request (PCP, RFC 6887 MAP; NAT-PMP,
 * RFC 6886, when the gateway speaks only that), for NATs whose own
 * behaviour no peer gets through (a random symmetric one).
 *
 * A granted mapping is endpoint-independent and open to every remote (RFC
 * 6887 §11), whatever the NAT's own mapping and filtering: whoever sends
 * to it reaches the socket behind it. The peer must know it before it can
 * send there, and nothing else gets through before: so both sides agree
 * on its outside port beforehand, PORTMAP_PORT(try id), and the mapping
 * side asks for it (the suggested external port, which RFC 6887 §11.3 and
 * RFC 6886 §3.3 keep when it is free).
 *  - Who maps: the side whose gateway grants mappings (natinfo.pcp: the
 *    agent asked it at start and registered the answer), the initiator
 *    when both do. Neither: "no port mapping (PCP/NAT-PMP) on this NAT",
 *    at once, on both sides.
 *  - The mapping side opens a fresh socket and asks its gateway
 *    (t->gateway) to map it, lifetime PORTMAP_LIFETIME_S, outside port
 *    PORTMAP_PORT suggested. It checks no one: it answers the peer's
 *    checks as they come through the mapping and checks back the endpoint
 *    they came from (peer-reflexive, method_checks.h).
 *  - The other side checks (the mapping side's public address,
 *    PORTMAP_PORT) from the agent's socket on the schedule; its own NAT
 *    lets the answers in because it sent there first.
 * A fresh socket rather than the agent's: mapping the agent's socket
 * would make its NAT endpoint-independent for every later try and move
 * its server-reflexive address under the rendezvous' feet.
 * The mapping is deleted when the try fails; when it succeeds it is left
 * to its lifetime, for the path the agent keeps on that socket.
 * Reasons: the gateway granted another port ("mapped port not the agreed
 * one": the peer cannot know it), refused ("PCP NO_RESOURCES", ...) or
 * did not answer ("no PCP or NAT-PMP answer from the gateway").
 * docs/methods.md: "portmap". */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "method_checks.h"
#include "natbed/ckpt.h"
#include "natbed/rng.h"
#include "pcpc.h"
#include "trav_ckpt.h"

#define PORTMAP_LIFETIME_S 120	/* the try's budget and the agent's path linger */
#define PORTMAP_PORT_LO	   1024 /* RFC 4787 REQ-3a: past the well-known ports */
#define PORTMAP_PORT_RANGE (65535 - PORTMAP_PORT_LO + 1)
#define PORTMAP_UDP	   17

struct portmap {
	struct pcpc *pc;
	int si; /* the mapped socket */
};

/* The outside port both sides agree on (host order): from the try id
 * alone, which both have. */
static uint16_t portmap_port(uint64_t try_id)
{
	return (uint16_t)(PORTMAP_PORT_LO +
			  rng_keyed_u64(rng_key("portmap", 0), try_id, 0) % PORTMAP_PORT_RANGE);
}

/* With the mapping, the mapping side is endpoint-independent and open to
 * anyone: every class meets it (docs/methods.md), where one side's NAT
 * grants mappings (portmap_usable). */
static double portmap_prior(enum ni_class self, enum ni_class peer)
{
	return 0.9;
}

static bool portmap_usable(const struct trav_cand *self, const struct trav_cand *peer)
{
	return self->nat.pcp || peer->nat.pcp;
}

/* pcpc's reasons, as strings that outlive the try. */
static const char *portmap_reason(const char *pcpc_reason)
{
	static const char *const known[] = {
	    "PCP NOT_AUTHORIZED",      "PCP MALFORMED_REQUEST",	      "PCP UNSUPP_OPCODE",
	    "PCP UNSUPP_OPTION",       "PCP MALFORMED_OPTION",	      "PCP NETWORK_FAILURE",
	    "PCP NO_RESOURCES",	       "PCP UNSUPP_PROTOCOL",	      "PCP USER_EX_QUOTA",
	    "PCP ADDRESS_MISMATCH",    "PCP CANNOT_PROVIDE_EXTERNAL", "NAT-PMP REFUSED",
	    "NAT-PMP NETWORK_FAILURE", "NAT-PMP NO_RESOURCES",	      "NAT-PMP UNSUPP_OPCODE",
	};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(pcpc_reason, known[i]) == 0)
			return known[i];
	if (strncmp(pcpc_reason, "no PCP or NAT-PMP answer", 24) == 0)
		return "no PCP or NAT-PMP answer from the gateway";
	return "port mapping refused";
}

/* pcpc calls back from inside its socket's callback: the try ends from a
 * timer (mc_fail_at), never from there. */
static void portmap_granted(void *arg, const struct dg_ep *ext, uint32_t life, const char *by)
{
	struct trav_try *t = arg;

	if (ntohs(ext->port) != portmap_port(t->id))
		mc_fail_at(t, dg_now(t->dg), "mapped port not the agreed one");
}

static void portmap_failed(void *arg, const char *reason)
{
	struct trav_try *t = arg;

	mc_fail_at(t, dg_now(t->dg), portmap_reason(reason));
}

static const struct pcpc_ops portmap_pcpc_ops = {portmap_granted, portmap_failed};

/* The mapping side: a fresh socket, mapped. */
static int portmap_map(struct trav_try *t, natbed_time_t now)
{
	struct portmap *p = mc_user(t);
	struct pcpc_cfg cfg = {.gateway = t->gateway,
			       .proto = PORTMAP_UDP,
			       .ext_port = htons(portmap_port(t->id)),
			       .lifetime_s = PORTMAP_LIFETIME_S};

	if (!t->gateway.addr)
		return mc_fail_at(t, now, "no gateway to ask for a port mapping");
	p->si = mc_open(t, NULL);
	if (p->si < 0)
		return p->si;
	cfg.client = mc_local(t, p->si)->addr;
	cfg.int_port = mc_local(t, p->si)->port;
	p->pc = pcpc_new(t->dg, &cfg, &portmap_pcpc_ops, t);
	return p->pc ? 0 : -ENOMEM;
}

static int portmap_start(struct trav_try *t)
{
	natbed_time_t now = dg_now(t->dg);
	/* one side maps: both pick the same one */
	bool mine = t->self.nat.pcp && (t->role == TRAV_INITIATOR || !t->peer.nat.pcp);
	struct dg_ep to = {t->peer.srflx.addr, htons(portmap_port(t->id))};
	int r = mc_begin(t, NULL, sizeof(struct portmap));

	if (r < 0)
		return r;
	if (mine)
		r = portmap_map(t, now);
	else if (!t->peer.nat.pcp)
		r = mc_fail_at(t, now, "no port mapping (PCP/NAT-PMP) on this NAT");
	else if (!to.addr)
		r = mc_fail_at(t, now, "no candidate");
	else
		r = mc_pair(t, MC_MAIN_SOCK, &to, now, 0, NULL) < 0 ? -ENOSPC : 0;
	if (r < 0)
		mc_stop(t);
	return r;
}

/* The mapping: gone with a failed try, kept for a path found. */
static void portmap_stop(struct trav_try *t)
{
	struct portmap *p = t->priv ? mc_user(t) : NULL;

	if (p && p->pc) {
		if (t->success)
			pcpc_release(p->pc);
		else
			pcpc_free(p->pc);
		p->pc = NULL;
	}
	mc_stop(t);
}

/* --- checkpoints --------------------------------------------------------- */

/* The PCP client inline (its ops are portmap_pcpc_ops, its arg the try:
 * it writes both as references). */
static json_t *portmap_save(const struct trav_try *t, const void *user, struct ckw *w)
{
	const struct portmap *p = user;
	json_t *pc = json_null();

	(void)t;
	if (p->pc)
		pc = pcpc_ckpt_save(p->pc, w);
	return json_pack("{s:i,s:o}", "si", p->si, "pc", pc ? pc : json_null());
}

static int portmap_fill(void *user, const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "portmap", j, false};
	const json_t *pc = ckget_get(&g, "pc");
	struct portmap *p = user;

	p->si = (int)ckget_int(&g, "si", -4095, MC_SOCKS_MAX - 1);
	if (g.bad)
		return -1;
	if (json_is_null(pc))
		return 0;
	return (p->pc = pcpc_ckpt_load(pc, r)) ? 0 : -1;
}

const struct mc_ckpt_user portmap_ckpt_user = {
    .hooks = NULL,
    .size = sizeof(struct portmap),
    .save = portmap_save,
    .fill = portmap_fill,
};

static const struct ckfn portmap_fns[] = {CKFN(portmap_granted), CKFN(portmap_failed)};
static const struct ckvar portmap_vars[] = {CKVAR(portmap_pcpc_ops)};
const struct ckfns portmap_ckfns = CKFNS_VARS(portmap, portmap_fns, portmap_vars);

const struct method method_portmap = {
    .spec =
	{
	    .name = "portmap",
	    .cost = 0.5,
	    .security = 0.5,
	    .reliability = 0.9,
	    .budget_ns = 4 * NATBED_NS_PER_S,
	    .prior = portmap_prior,
	    .usable = portmap_usable,
	},
    .start = portmap_start,
    .stop = portmap_stop,
    .input = mc_input,
};
