/* natbed agents: a TURN client (RFC 8656) over the datagram interface.
 *
 * One allocation on a socket of its own: Allocate with long-term
 * credentials (the first request draws a 401 with REALM and NONCE, RFC
 * 8489 §9.2), then permissions and channels for peers (CreatePermission,
 * ChannelBind), data as ChannelData once a channel is bound (Send
 * indications before), and refreshes before each lifetime ends
 * (allocation: 60 s before; permissions: every 4 minutes; channels: every
 * 9). A 438 Stale Nonce takes the new nonce and asks again. Like every
 * state machine of natbed's agents it has no I/O and no clock of its own:
 * it runs on a struct dgram and its scheduler.
 */
#ifndef NATBED_AGENTS_TURN_H
#define NATBED_AGENTS_TURN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "dgram.h"

/* Peers with a permission (and a channel) at once, released ones still in
 * their quarantine counted: one per channel number (RFC 8656 §12). */
#define TURN_PEERS_MAX 4096
#define TURN_CRED_MAX  128

struct turn_cfg {
	struct dg_ep server;
	char user[TURN_CRED_MAX];
	char pass[TURN_CRED_MAX];
	uint32_t lifetime_s;  /* asked for; 0: the server's default (600) */
	natbed_time_t rto_ns; /* first retransmission timeout; 0: 500 ms (RFC 8489 §6.2.1) */
	unsigned tries;	      /* sends of one request before giving up; 0: 7 */
};

struct turn_ops {
	/* The allocation exists: the relayed address peers send to, and our
	 * server-reflexive address as the server saw it. */
	void (*ready)(void *arg, const struct dg_ep *relayed, const struct dg_ep *mapped);
	/* The allocation failed or is gone; reason names why ("401
	 * Unauthorized: the server refused the username or password", "no
	 * answer from the TURN server", "437 Allocation Mismatch: the
	 * allocation expired", ...). Nothing more is sent after it. */
	void (*failed)(void *arg, const char *reason);
	/* Data from peer through the relay (ChannelData or a Data indication). */
	void (*data)(void *arg, const struct dg_ep *peer, const uint8_t *buf, size_t len,
		     natbed_time_t now);
	/* A peer's permission and channel are in place: data may flow. */
	void (*bound)(void *arg, const struct dg_ep *peer);
};

struct turn_stats {
	uint64_t requests, retransmits, responses, errors, stale_nonces;
	uint64_t refreshes, channel_data_in, channel_data_out, indications_in, ignored;
};

struct turn;
struct ckw;
struct ckr;

/* Opens a socket on dg and starts allocating on cfg->server; ops are
 * called with arg. NULL on ENOMEM or when no socket opens. */
struct turn *turn_new(const struct dgram *dg, const struct turn_cfg *cfg,
		      const struct turn_ops *ops, void *arg);

/* Asks for a permission and a channel to peer (once the allocation is
 * ready; asked earlier, they wait for it). ops->bound follows. 0, or
 * -ENOSPC (TURN_PEERS_MAX peers), -EINVAL. */
int turn_permit(struct turn *t, const struct dg_ep *peer);

/* Asks for a permission for peer address addr alone (network order), no
 * channel: RFC 8656 §9, permissions are per IP address, so datagrams from
 * any port of addr reach us (as Data indications until a channel to that
 * endpoint is bound). Refreshed like the others. 0, or -ENOSPC, -EINVAL. */
int turn_permit_addr(struct turn *t, uint32_t addr);

/* Stops refreshing every permission and channel toward addr (network
 * order): the server lets them lapse (permissions after 300 s, channels
 * after 600). A released channel's number serves another peer only 5
 * minutes after it lapsed (RFC 8656 §12), so its slot is counted against
 * TURN_PEERS_MAX until then; asked for again before, the same entry is
 * taken back. A long-lived agent that releases what it no longer uses
 * never runs out. */
void turn_release_addr(struct turn *t, uint32_t addr);

/* Sends buf to peer through the relay: ChannelData on its channel, or a
 * Send indication before the channel is bound. 0 or -errno. */
int turn_send(struct turn *t, const struct dg_ep *peer, const void *buf, size_t len);

void turn_get_stats(const struct turn *t, struct turn_stats *st);

/* Slots of the peer table: the most peers held at once, released ones in
 * their quarantine included (at most TURN_PEERS_MAX). */
size_t turn_peer_slots(const struct turn *t);

/* Ends the allocation (a Refresh with lifetime 0, not waited for), closes
 * the socket, cancels every timer. NULL is safe. */
void turn_free(struct turn *t);

/* natbed sim checkpoints (natbed/ckpt.h): t whole, its peers, requests
 * under way (each slot's address declared: its timer's argument) and
 * random generator inline; ops is written as a static object of its
 * owner's table, arg as a reference. */
json_t *turn_ckpt_save(const struct turn *t, struct ckw *w);
/* A client built from j, nothing sent, opened or scheduled: its dgram,
 * ops, arg and timers are filled at ckr_finish(). NULL on error (said in
 * r). */
struct turn *turn_ckpt_load(const json_t *j, struct ckr *r);
/* Its socket callback and timers. */
extern const struct ckfns turn_ckfns;
/* A struct turn_cfg (embedded: a client's, a turnsock's) written and read
 * back. */
json_t *turn_cfg_ckpt_save(const struct turn_cfg *c, struct ckw *w);
int turn_cfg_ckpt_fill(struct turn_cfg *c, const json_t *j, struct ckr *r);

#endif
