/* natbed agents: the connectivity checks every traversal method is made
 * of, as ICE makes them (RFC 8445 §7.2), over the datagram interface.
 *
 * One engine per try (t->priv). A method gives it sockets (the agent's
 * t->sock, and fresh ones it opens here) and pairs (a socket and a target
 * endpoint); the engine then
 *  - sends a check on every pair on one schedule from the pair's first
 *    time (MC_SCHEDULE below), so that two peers started together
 *    retransmit in step;
 *  - answers every check of this try on whatever socket it arrives
 *    (XOR-MAPPED-ADDRESS: where it came from), and when it came from an
 *    endpoint no pair targets, adds that peer-reflexive endpoint as a pair
 *    and checks it at once (RFC 8445 §7.3.1.4, triggered checks): what lets
 *    a cone NAT meet a symmetric one;
 *  - succeeds when a check of its own is answered from where it was sent
 *    (RFC 8445 §7.2.5.2.1: symmetric), then tells the peer with
 *    MC_NOMINATIONS checks carrying USE-CANDIDATE, so a peer whose own
 *    checks were not answered yet succeeds on that path too;
 *  - fails at t->deadline with a reason: the method's, or "filtered" (the
 *    driver refused sends with an ICMP-like error and nothing came back),
 *    "no answer" (nothing of the peer's came back), "timeout" (the peer
 *    was heard but no check of ours was answered).
 * Stray datagrams (another try id, a wrong transaction id or source,
 * another agent's name, truncated or unknown) are counted in t->counts and
 * ignored.
 *
 * The engine owns the sockets it opened and the timers it armed: stop()
 * closes and cancels them all but t->path_sock.
 */
#ifndef NATBED_AGENTS_METHOD_CHECKS_H
#define NATBED_AGENTS_METHOD_CHECKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "method.h"

#define MC_SOCKS_MAX   300 /* sockets of one try, t->sock included (birthday: 257) */
#define MC_PAIRS_MAX   320 /* pairs of one try, peer-reflexive ones included */
#define MC_TIMERS_MAX  16  /* the method's own timers at once */
#define MC_NOMINATIONS 2   /* USE-CANDIDATE checks sent on success */
#define MC_TRIGGER_GAP (50 * NATBED_NS_PER_MS) /* least time between two triggered checks */
#define MC_MAIN_SOCK   0		       /* the socket index of t->sock */

/* The check schedule, from a pair's first time: check k goes at
 * mc_schedule_offset(k): every 100 ms for the first second (10 checks),
 * every 250 ms up to 3 s (8 more), then every 500 ms until the deadline:
 * 14 checks in a 2 s budget, 22 in 5 s. */
natbed_time_t mc_schedule_offset(unsigned k);

enum mc_pair_flag {
	MC_ONCE = 1u << 0,  /* one check, no retransmission (birthday's many sockets) */
	MC_PRFLX = 1u << 1, /* learned from a check that came from it */
};

/* What the engine tells its method. Every hook may be NULL. */
struct mc_hooks {
	/* The answer of a STUN server to mc_stun() on socket si: the mapped
	 * endpoint it saw. */
	void (*stun_answer)(struct trav_try *t, int si, const struct dg_ep *mapped);
	/* At the deadline without success: the method's reason, or NULL for
	 * the engine's. */
	const char *(*expire)(struct trav_try *t);
};

struct mc;

/* Begins t: an engine of the method's user_size bytes of state (zeroed,
 * mc_user()), t->sock as socket MC_MAIN_SOCK, the deadline armed. Sets
 * t->priv. 0 or -ENOMEM. */
int mc_begin(struct trav_try *t, const struct mc_hooks *h, size_t user_size);

/* Begins a method whose whole plan is to check targets[0..n) from
 * t->sock (those with addr 0 skipped) from now on: "no candidate" when
 * none is left. 0 or -errno, like start(). */
int mc_begin_checks(struct trav_try *t, const struct dg_ep *targets, size_t n);

/* method->stop and method->input for every method on this engine. */
void mc_stop(struct trav_try *t);
bool mc_input(struct trav_try *t, const struct dg_ep *from, const uint8_t *buf, size_t len,
	      natbed_time_t now);

void *mc_user(const struct trav_try *t);

/* Opens a fresh socket (any port); its local endpoint in *local (may be
 * NULL). The socket index (> 0), or -errno (-ENOSPC past MC_SOCKS_MAX). */
int mc_open(struct trav_try *t, struct dg_ep *local);
/* Takes socket id of t->dg, opened by the method elsewhere than
 * mc_open() (a relayed socket, turnsock.h), as one of the try's: its
 * datagrams come to the engine from now on (dg_set_recv) and stop()
 * closes it unless it is the path's. local: its endpoint. The socket
 * index, or -errno (-ENOSPC, set_recv's); the caller closes it then. */
int mc_adopt(struct trav_try *t, int id, const struct dg_ep *local);
/* The local endpoint of socket si. */
const struct dg_ep *mc_local(const struct trav_try *t, int si);

/* A pair: checks from socket si to *to, the first at `first` (now or
 * later), then on the schedule until the deadline (MC_ONCE: one). pred,
 * when not NULL, rides in every check (the endpoint the sender predicts
 * it leaves its NAT from). The pair index, or -ENOSPC. Adding the pair
 * that exists returns it. */
int mc_pair(struct trav_try *t, int si, const struct dg_ep *to, natbed_time_t first, unsigned flags,
	    const struct dg_ep *pred);

/* One check from si to *to under the socket's probe transaction, whose
 * answer from any port of to->addr succeeds (birthday's probes). */
void mc_probe(struct trav_try *t, int si, const struct dg_ep *to);

/* A STUN Binding request (no try id) from si to *to; calling it again
 * retransmits the same transaction. Its answer goes to hooks->stun_answer. */
void mc_stun(struct trav_try *t, int si, const struct dg_ep *to);

/* A timer of the method: fn(t) at `when`, cancelled by stop() and once
 * the try is done. 0, or -ENOSPC. */
int mc_at(struct trav_try *t, natbed_time_t when, void (*fn)(struct trav_try *t));

/* Ends the try as failed with reason (from a timer or hook; never from
 * start()). Nothing of the engine may be touched after it: the caller may
 * have stopped the try. */
void mc_fail(struct trav_try *t, const char *reason);

/* The same from a timer at `when` (now: as soon as start() returned):
 * how a method that has nothing to do ends. 0, or -ENOSPC. */
int mc_fail_at(struct trav_try *t, natbed_time_t when, const char *reason);

/* Whether a valid message of the peer's (check or answer) reached us. */
bool mc_heard(const struct trav_try *t);

/* RFC 4787 §4.1 as the methods read a side's NAT: one mapping for every
 * remote (endpoint-independent, or no NAT at all), or one per remote
 * address or endpoint (the "symmetric" NATs). */
static inline bool mc_map_eim(const struct natinfo *ni)
{
	return ni->map == NI_MAP_EIM || ni->map == NI_MAP_NONE;
}

static inline bool mc_map_dep(const struct natinfo *ni)
{
	return ni->map == NI_MAP_ADM || ni->map == NI_MAP_APDM;
}

/* The same by class, for the priors. */
bool mc_class_eim(enum ni_class c);
bool mc_class_dep(enum ni_class c);

/* --- natbed sim checkpoints (natbed/ckpt.h) ------------------------------ */

struct ckw;
struct ckr;

/* The engine of a try whole: its sockets (the used prefix, each
 * declared: a socket's receiver argument), pairs, timers (the method's,
 * each declared: a timer's argument) and the method's state (its user
 * area, by the method's mc_ckpt_user). Its hooks are not written: they
 * follow from the method (t->m). Called by trav_try_ckpt_save. */
json_t *mc_ckpt_save(const struct mc *c, struct ckw *w);
/* Whether m runs on the engine (its t->priv is one). */
bool mc_ckpt_method(const struct method *m);
/* An engine from j, nothing run, opened or scheduled: its try, sockets'
 * receivers and timers are filled at ckr_finish(). NULL on error (said
 * in r). */
struct mc *mc_ckpt_load(const json_t *j, struct ckr *r);
/* The engine's callbacks (scheduler, sockets, its own timers). */
extern const struct ckfns mc_ckfns;

/* What a method on the engine keeps beyond it: the hooks its start()
 * gives mc_begin() and its user area, written and read by its own
 * functions (NULL for a method with no state). */
struct mc_ckpt_user {
	const struct mc_hooks *hooks; /* NULL: none */
	size_t size;		      /* of the user area */
	json_t *(*save)(const struct trav_try *t, const void *user, struct ckw *w);
	int (*fill)(void *user, const json_t *j, struct ckr *r);
};
extern const struct mc_ckpt_user birthday_ckpt_user;
extern const struct mc_ckpt_user predict_ckpt_user;
extern const struct mc_ckpt_user portmap_ckpt_user;
/* Each method's functions the engine or a child holds (its timers, its
 * hooks, portmap's PCP client ops). */
extern const struct ckfns birthday_ckfns;
extern const struct ckfns predict_ckfns;
extern const struct ckfns portmap_ckfns;

/* The methods on this engine, in methods.c's table. */
extern const struct method method_direct;
extern const struct method method_punch;
extern const struct method method_predict;
extern const struct method method_birthday;
extern const struct method method_portmap;
extern const struct method method_relay;

#endif
