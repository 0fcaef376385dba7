/* natbed agents: a TURN allocation (turn.h) as sockets of a datagram
 * interface.
 *
 * turnsock_dgram() is a driver over another one (base): its sockets are
 * base's, plus sockets on the allocation (turnsock_open). A datagram sent
 * from one of those to a peer goes through the TURN server (a permission
 * and a channel to that peer are asked for the first time; a Send
 * indication until the channel is bound, ChannelData after: RFC 8656 §11,
 * §12), and what a peer sends to the relayed address comes to it from the
 * peer's endpoint. A method's checks (method_checks.h) and the agent's
 * probes run on a relayed socket as on any other. Like everything under
 * the agents it does no I/O of its own: base carries the TURN client's
 * datagrams, base's scheduler the time.
 *
 * The allocation is asked for at turnsock_new() and kept (turn.c refreshes
 * it). Lost after it was made (437: it expired; no answer to a refresh)
 * it is asked for again after TURNSOCK_RETRY_S, on a new socket; never
 * made (401: refused credentials; no answer to Allocate) it is not asked
 * for again. Relayed sockets of a lost allocation stay open but send
 * nothing (-ENOTCONN) and receive nothing.
 */
#ifndef NATBED_AGENTS_TURNSOCK_H
#define NATBED_AGENTS_TURNSOCK_H

#include <jansson.h>
#include <stdint.h>

#include "turn.h"

#define TURNSOCK_SOCKS_MAX 64	     /* relayed sockets open at once */
#define TURNSOCK_ID_BASE   (1 << 24) /* relayed sockets' ids start here, past base's */
#define TURNSOCK_RETRY_S   5	     /* a lost allocation is asked for again after */
#define TURNSOCK_ERROR_MAX 200

struct turnsock_ops {
	/* The relayed address came (error NULL) or went (relayed->addr 0,
	 * error the TURN client's reason: "401 Unauthorized: ..."). */
	void (*changed)(void *arg, const struct dg_ep *relayed, const char *error);
	void *arg;
};

struct turnsock;
struct ckw;
struct ckr;

/* Starts allocating on cfg->server with a socket of base. NULL on ENOMEM
 * or when no socket opens. base must outlive it. */
struct turnsock *turnsock_new(const struct dgram *base, const struct turn_cfg *cfg,
			      const struct turnsock_ops *ops);

/* Ends the allocation (turn_free), closes every socket of its own. Sockets
 * of base opened through turnsock_dgram() are the caller's. NULL is safe. */
void turnsock_free(struct turnsock *ts);

/* The layered driver: base's sockets and the relayed ones. Its scheduler
 * and seed are base's. Valid while ts lives. */
const struct dgram *turnsock_dgram(struct turnsock *ts);

/* A socket on the allocation for datagrams from peer address peer_addr
 * (network order; a permission for it alone is asked, RFC 8656 §9): its
 * id on turnsock_dgram(), its local endpoint the relayed address. Close
 * it there. -ENOTCONN (no allocation now), -EMFILE, -ENOSPC (the TURN
 * client's peers), -EINVAL. */
int turnsock_open(struct turnsock *ts, uint32_t peer_addr, struct dg_ep *local, dg_recv_fn fn,
		  void *arg);

/* The relayed address, addr 0 while there is none. */
struct dg_ep turnsock_relayed(const struct turnsock *ts);

/* Why there is no allocation (the TURN client's last reason), or NULL
 * while it is being asked for or exists. The string lives as long as ts. */
const char *turnsock_error(const struct turnsock *ts);

/* The TURN client's counters, summed over the allocations asked for. */
void turnsock_stats(const struct turnsock *ts, struct turn_stats *st);

/* natbed sim checkpoints (natbed/ckpt.h): ts whole, its TURN client
 * inline, its relayed sockets with their callbacks. Declares the layered
 * driver (turnsock_dgram(ts), which everything an agent with an
 * allocation builds points at) and the error text (turnsock_error(),
 * which a try's reason may point at). */
json_t *turnsock_ckpt_save(const struct turnsock *ts, struct ckw *w);
/* A turnsock built from j, nothing sent, opened or scheduled: its base,
 * scheduler, callbacks and timers are filled at ckr_finish(). NULL on
 * error (said in r). */
struct turnsock *turnsock_ckpt_load(const json_t *j, struct ckr *r);
/* Its timer, the TURN client's callbacks (ts_turn_ops) and the layered
 * driver's ops. */
extern const struct ckfns turnsock_ckfns;

#endif
