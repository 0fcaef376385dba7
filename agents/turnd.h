/* A small TURN server (RFC 8656) over the datagram interface: natbed sim
 * runs it where a topology's host runs coturn's turnserver (cli/sim_serv.c),
 * and the unit tests run it on their networks (tests/support/cknet,
 * tests/unit/methnet, emulator/vnet).
 *
 * UDP only, one user. Every request is authenticated with long-term
 * credentials (RFC 8489 §9.2): without them a 401 naming the realm and a
 * nonce, a nonce that is not the current one a 438, a wrong user or key
 * a 401. Allocate opens a relayed socket on the host (XOR-RELAYED-ADDRESS,
 * XOR-MAPPED-ADDRESS, LIFETIME), Refresh renews it or with lifetime 0
 * ends it (an allocation that is gone or expired: 437), CreatePermission
 * and ChannelBind install permissions (per peer address, 300 s) and
 * channels (600 s). An allocation ends when its lifetime runs out (a
 * timer on the scheduler closes its relayed socket); past max_allocs live
 * ones an Allocate gets 508. Send indications and ChannelData go out of
 * the relayed socket to a permitted peer; a peer's datagrams come back
 * as ChannelData on its channel or as Data indications, and are dropped
 * (counted) without a permission. Success answers carry MESSAGE-INTEGRITY and FINGERPRINT.
 * A test may make it misbehave on purpose (struct turnd_cfg).
 */
#ifndef NATBED_AGENTS_TURND_H
#define NATBED_AGENTS_TURND_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "dgram.h"

#define TURND_ALLOCS_DEFAULT 65536 /* live allocations at once */
#define TURND_PERMS_MAX	     32	   /* per allocation */
#define TURND_CHANS_MAX	     32	   /* per allocation */

struct turnd_cfg {
	struct dg_ep listen; /* the host's address, port 3478 (network order) */
	const char *user, *pass;
	const char *realm;	 /* NULL: "natbed" */
	uint32_t lifetime_max_s; /* 0: 3600; the default granted is 600 */
	uint32_t max_allocs;	 /* live allocations at once; 0: TURND_ALLOCS_DEFAULT */
	/* misbehaviour */
	unsigned answer_first; /* answer only the first this many requests (0: all) */
	unsigned stale_at;     /* request number stale_at (from 1) finds its nonce stale */
	bool mismatch_refresh; /* answer every Refresh with 437 */
};

struct turnd_stats {
	uint64_t requests;	   /* every STUN request */
	uint64_t allocs;	   /* Allocate requests */
	uint64_t authed_allocs;	   /* ... with good credentials */
	uint64_t refreshes;	   /* Refresh requests, good credentials */
	uint64_t permissions;	   /* CreatePermission, good credentials */
	uint64_t channel_binds;	   /* ChannelBind, good credentials */
	uint64_t errors;	   /* error answers */
	uint64_t send_in;	   /* Send indications relayed */
	uint64_t channel_data_in;  /* ChannelData relayed to a peer */
	uint64_t data_out;	   /* Data indications to a client */
	uint64_t channel_data_out; /* ChannelData to a client */
	uint64_t no_permission;	   /* a peer's datagram dropped: no permission */
	uint64_t allocations;	   /* live now */
};

struct turnd;
struct ckw;
struct ckr;

/* A server on dg (its host), listening on cfg->listen. It keeps copies of
 * the strings. NULL when its socket does not open or on ENOMEM. */
struct turnd *turnd_new(const struct dgram *dg, const struct turnd_cfg *cfg);
void turnd_free(struct turnd *d);
void turnd_stats(const struct turnd *d, struct turnd_stats *st);

/* natbed sim checkpoints (natbed/ckpt.h): d whole, its configuration
 * (the strings as values), nonce state and allocations (permissions,
 * channels, expiry timers) inline, every hash chain in its order. */
json_t *turnd_ckpt_save(const struct turnd *d, struct ckw *w);
/* A server built from j, nothing opened or scheduled: its dgram and
 * timers are filled at ckr_finish(). NULL on error (said in r). */
struct turnd *turnd_ckpt_load(const json_t *j, struct ckr *r);
/* Its socket callbacks (its own, its allocations') and expiry timer. */
extern const struct ckfns turnd_ckfns;

#endif
