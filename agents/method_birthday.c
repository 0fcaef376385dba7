/* birthday: for a NAT whose mappings depend on the remote (RFC 4787
 * §4.1: "symmetric"), random ports or not, facing an endpoint-independent
 * one (or no NAT). The easy side (endpoint-independent) first sends
 * BIRTHDAY_PROBES checks from its own socket, one every
 * BIRTHDAY_PROBE_GAP, to distinct random ports of the hard side's public
 * address: none is answered yet, but each opens the easy side's filter to
 * that endpoint, whatever its filtering. From BIRTHDAY_OPEN_AT on, once
 * they have all gone out, the hard side (dependent mapping) opens
 * BIRTHDAY_SOCKETS fresh sockets, one every BIRTHDAY_OPEN_GAP, each
 * sending one check to the easy side's server-reflexive endpoint: its NAT
 * makes a mapping per socket, and a check whose mapping landed on a
 * probed port passes the easy side's filter; the easy side answers it
 * (through the hard NAT's mapping, made toward it) and checks it back.
 * With N mappings among M = 64512 ports (1024-65535) and K distinct probed
 * ports the chance of a hit is
 *
 *   1 - C(M - K, N) / C(M, N) = 1 - C(M - N, K) / C(M, K);
 *   N = 256, K = 2048: 0.99975
 *
 * (docs/methods.md). Probes first, not the hard side's checks: a check
 * that reaches a Linux router before its host sent to that remote holds
 * the (remote, port) pair as an unanswered conntrack entry, and the
 * router then sends the host's probe to that remote from another port,
 * which the hard side's mapping drops (linux-masquerade, test_methods.c).
 * Bounded: N + 2 packets from the hard side, K + 2 from the easy one (and
 * the answers), at most 1000 per second each. A pair with no hard side,
 * or two hard sides, is "not applicable". */
#include <arpa/inet.h>
#include <errno.h>

#include "method_checks.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "natbed/rng.h"
#include "trav_ckpt.h"

#define BIRTHDAY_SOCKETS   256
#define BIRTHDAY_OPEN_GAP  (1 * NATBED_NS_PER_MS)
#define BIRTHDAY_PROBES	   2048
#define BIRTHDAY_PROBE_GAP (1 * NATBED_NS_PER_MS)
/* the easy side's probes have all gone out by then, with room for the
 * two sides' start times to differ and for the last probe to cross its
 * NAT */
#define BIRTHDAY_OPEN_AT    (BIRTHDAY_PROBES * BIRTHDAY_PROBE_GAP + 150 * NATBED_NS_PER_MS)
#define BIRTHDAY_PORT_LO    1024
#define BIRTHDAY_PORT_RANGE (65535 - BIRTHDAY_PORT_LO + 1)

_Static_assert(BIRTHDAY_SOCKETS < MC_SOCKS_MAX && BIRTHDAY_SOCKETS < MC_PAIRS_MAX,
	       "the engine holds every socket and pair of the hard side");

enum birthday_role { BIRTHDAY_HARD, BIRTHDAY_EASY };

struct birthday {
	enum birthday_role role;
	unsigned opened, probed;
	struct rng rng;
	uint64_t tried[(BIRTHDAY_PORT_RANGE + 63) / 64]; /* ports probed */
};

static double birthday_prior(enum ni_class self, enum ni_class peer)
{
	if (self == NI_CLASS_UNKNOWN || peer == NI_CLASS_UNKNOWN)
		return 0.2;
	if ((mc_class_dep(self) && mc_class_eim(peer)) ||
	    (mc_class_dep(peer) && mc_class_eim(self)))
		return 0.9;
	return 0.02;
}

static void birthday_open(struct trav_try *t)
{
	struct birthday *b = mc_user(t);
	natbed_time_t now = dg_now(t->dg);
	int si = mc_open(t, NULL);

	if (si >= 0)
		mc_pair(t, si, &t->peer.srflx, now, MC_ONCE, NULL);
	if (++b->opened < BIRTHDAY_SOCKETS)
		mc_at(t, now + BIRTHDAY_OPEN_GAP, birthday_open);
}

/* A port not probed yet: a random one, or the next free one after it. */
static uint16_t birthday_port(struct birthday *b)
{
	uint32_t i = (uint32_t)rng_below(&b->rng, BIRTHDAY_PORT_RANGE);

	while (b->tried[i / 64] & (1ull << (i % 64)))
		i = (i + 1) % BIRTHDAY_PORT_RANGE;
	b->tried[i / 64] |= 1ull << (i % 64);
	return (uint16_t)(BIRTHDAY_PORT_LO + i);
}

static void birthday_probe(struct trav_try *t)
{
	struct birthday *b = mc_user(t);
	struct dg_ep to = {t->peer.srflx.addr, htons(birthday_port(b))};

	mc_probe(t, MC_MAIN_SOCK, &to);
	if (++b->probed < BIRTHDAY_PROBES)
		mc_at(t, dg_now(t->dg) + BIRTHDAY_PROBE_GAP, birthday_probe);
}

/* Cut short, the plan was not carried out: say so. */
static const char *birthday_expire(struct trav_try *t)
{
	struct birthday *b = mc_user(t);

	if (b->role == BIRTHDAY_HARD ? b->opened < BIRTHDAY_SOCKETS : b->probed < BIRTHDAY_PROBES)
		return "budget spent";
	return NULL;
}

static const struct mc_hooks birthday_hooks = {.expire = birthday_expire};

static int birthday_start(struct trav_try *t)
{
	natbed_time_t now = dg_now(t->dg);
	int r = mc_begin(t, &birthday_hooks, sizeof(struct birthday));
	struct birthday *b;

	if (r < 0)
		return r;
	b = mc_user(t);
	rng_seed(&b->rng, t->dg->seed, t->id ^ rng_key("birthday", 0));
	if (!t->peer.srflx.addr)
		r = mc_fail_at(t, now, "no candidate");
	else if (mc_map_dep(&t->self.nat) && mc_map_eim(&t->peer.nat)) {
		b->role = BIRTHDAY_HARD;
		r = mc_at(t, now + BIRTHDAY_OPEN_AT, birthday_open);
	} else if (mc_map_eim(&t->self.nat) && mc_map_dep(&t->peer.nat)) {
		b->role = BIRTHDAY_EASY;
		r = mc_at(t, now, birthday_probe);
	} else
		r = mc_fail_at(t, now, "not applicable");
	if (r < 0)
		mc_stop(t);
	return r;
}

/* --- checkpoints --------------------------------------------------------- */

static json_t *birthday_save(const struct trav_try *t, const void *user, struct ckw *w)
{
	const struct birthday *b = user;
	json_t *rng = json_array();

	(void)t;
	for (size_t i = 0; i < 4; i++)
		json_array_append_new(rng, jsonck_u64(b->rng.s[i], true));
	return json_pack("{s:i,s:i,s:i,s:o,s:o}", "role", (int)b->role, "opened", (int)b->opened,
			 "probed", (int)b->probed, "rng", rng, "tried",
			 ckw_bytes(w, b->tried, sizeof(b->tried)));
}

static int birthday_fill(void *user, const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "birthday", j, false};
	const json_t *rng = ckget_get(&g, "rng");
	struct birthday *b = user;

	b->role = (enum birthday_role)ckget_int(&g, "role", BIRTHDAY_HARD, BIRTHDAY_EASY);
	b->opened = (unsigned)ckget_int(&g, "opened", 0, BIRTHDAY_SOCKETS);
	b->probed = (unsigned)ckget_int(&g, "probed", 0, BIRTHDAY_PROBES);
	ckget_bytes(&g, "tried", b->tried, sizeof(b->tried));
	if (rng && (!json_is_array(rng) || json_array_size(rng) != 4))
		ckget_fail(&g, "rng", "not a generator's state");
	for (size_t i = 0; rng && !g.bad && i < 4; i++)
		if (jsonck_u64_read(json_array_get(rng, i), true, &b->rng.s[i]) < 0)
			ckget_fail(&g, "rng", "not a generator's state");
	return g.bad ? -1 : 0;
}

const struct mc_ckpt_user birthday_ckpt_user = {
    .hooks = &birthday_hooks,
    .size = sizeof(struct birthday),
    .save = birthday_save,
    .fill = birthday_fill,
};

static const struct ckfn birthday_fns[] = {CKFN(birthday_open), CKFN(birthday_probe),
					   CKFN(birthday_expire)};
const struct ckfns birthday_ckfns = CKFNS(birthday, birthday_fns);

const struct method method_birthday = {
    .spec =
	{
	    .name = "birthday",
	    .cost = 1,
	    .security = 0.3,
	    .reliability = 0.5,
	    .budget_ns = 4 * NATBED_NS_PER_S,
	    .prior = birthday_prior,
	},
    .start = birthday_start,
    .stop = mc_stop,
    .input = mc_input,
};
