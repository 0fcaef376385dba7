/* natbed agents: the rendezvous client, a state machine over struct dgram
 * on the agent's main socket.
 *
 *  1. learns its server-reflexive address: a STUN Binding request from the
 *     main socket to the STUN server (RFC 8489 §6.2.1 retransmissions);
 *  2. registers its candidates (host: the main socket's own address and
 *     port; srflx: the XOR-MAPPED-ADDRESS) and its NAT under its name, and
 *     refreshes the registration at half its lifetime, which also keeps
 *     the NAT's mapping toward the rendezvous alive;
 *  3. asks LOOKUP for a peer's candidates and NAT (to choose methods), and
 *     CONNECT for a peer and a method;
 *  4. on INTRODUCE (from the rendezvous' address only) acknowledges it and
 *     hands the caller a filled struct trav_try: role, try id, both sides'
 *     candidates, the start converted to the local scheduler's time, the
 *     deadline (start + the budget asked, or the method's own);
 *  5. on CANCEL (the peer refused an introduction it accepted) acknowledges
 *     it and tells the caller, once.
 * It owns no socket: the agent passes every datagram of the main socket
 * to rdvc_input(), which takes what is its own.
 */
#ifndef NATBED_AGENTS_RDVCLIENT_H
#define NATBED_AGENTS_RDVCLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "method.h"
#include "rdvmsg.h"
#include "rdvtxn.h"

#define RDVC_LIFETIME_S	     30	  /* asked of the rendezvous */
#define RDVC_CONNECTS_MAX    8	  /* CONNECTs under way at once */
#define RDVC_RECENT_TRIES    32	  /* introductions remembered to acknowledge again */
#define RDVC_RETRY_MS	     1000 /* a lost registration starts over after this */
#define RDVC_CONNECT_WAIT_MS 5000 /* CONNECT answered, INTRODUCE awaited this long */

struct rdvc;
struct ckw;
struct ckr;

struct rdvc_config {
	char name[RDV_NAME_MAX + 1];
	struct dg_ep rdv;      /* the rendezvous */
	struct dg_ep stun;     /* a STUN server */
	uint32_t lifetime_s;   /* 0: RDVC_LIFETIME_S */
	struct natinfo nat;    /* sent in REGISTER; map UNKNOWN when no discovery ran */
	struct rdvtxn_cfg txn; /* zeros: RFC 8489 defaults */
	/* the method an introduction names; NULL: method_find (a test passes
	 * its own) */
	const struct method *(*find_method)(const char *name);
};

struct rdvc_ops {
	/* Registered for the first time: rdvc_self() is known. */
	void (*registered)(void *arg, struct rdvc *c);
	/* The first registration failed for good (no STUN answer, no or a
	 * refusing rendezvous); reason says which. Later losses are retried. */
	void (*failed)(void *arg, struct rdvc *c, const char *reason);
	/* An introduction: t is filled but for done and done_arg; the callee
	 * copies it. Returns NULL to accept, or the reason it refuses (the
	 * rendezvous is told). */
	const char *(*introduced)(void *arg, struct rdvc *c, const struct trav_try *t,
				  const char *peer);
	/* The peer refused the introduction of try_id, which this side
	 * accepted: reason is its own ("busy", "unknown method", ...). */
	void (*cancelled)(void *arg, struct rdvc *c, uint64_t try_id, const char *reason);
	/* A CONNECT refused (its reason) or not answered ("rendezvous timeout"). */
	void (*connect_failed)(void *arg, struct rdvc *c, const char *peer, const char *reason);
	/* A LOOKUP ended: cand is the peer's registration (valid during the
	 * call), or NULL with reason ("rendezvous refused: peer not
	 * registered", "rendezvous timeout"). */
	void (*looked_up)(void *arg, struct rdvc *c, const char *peer, const struct trav_cand *cand,
			  const char *reason);
	void *arg;
};

/* Why a datagram rdvc_input() took changed nothing. */
enum rdvc_drop {
	RDVC_DROP_PARSE_FIRST = 0, /* + enum rdv_parse, for the rendezvous' methods */
	RDVC_DROP_NOT_RENDEZVOUS = RDV_PARSE_COUNT, /* a rendezvous message from elsewhere */
	RDVC_DROP_WRONG_TXN,			    /* an answer to no request under way */
	RDVC_DROP_UNSOLICITED,			    /* INTRODUCE as initiator, no CONNECT asked */
	RDVC_DROP_UNEXPECTED,			    /* a kind agents are not sent */
	RDVC_DROP_COUNT
};

struct rdvc_counters {
	uint64_t taken; /* datagrams rdvc_input() took */
	uint64_t stun_answers, registrations, refreshes, reregistrations;
	uint64_t reanchors; /* fresh server-reflexive anchors registered */
	uint64_t connects_ok, connects_failed;
	uint64_t lookups_ok, lookups_failed;
	uint64_t introductions, intro_duplicates, intro_refused;
	uint64_t cancels; /* introductions the peer refused, told by CANCEL */
	uint64_t drops[RDVC_DROP_COUNT];
};

/* A client on the main socket sock of d, whose own address is *local.
 * Nothing is sent before rdvc_start(). NULL on ENOMEM or a bad name. */
struct rdvc *rdvc_new(const struct dgram *d, int sock, const struct dg_ep *local,
		      const struct rdvc_config *cfg, const struct rdvc_ops *ops);

/* Cancels every timer and frees c (no unregistration: rdvc_leave()). */
void rdvc_free(struct rdvc *c);

/* natbed sim checkpoints (natbed/ckpt.h): c whole, its transactions
 * (rdvtxn) inline; d, ops.arg and the socket ids are the owner's. */
json_t *rdvc_ckpt_save(const struct rdvc *c, struct ckw *w);
/* A client built from j, nothing run, opened or scheduled: its pointers,
 * functions and timers are filled at ckr_finish(). NULL on error (said
 * in r). */
struct rdvc *rdvc_ckpt_load(const json_t *j, struct ckr *r);
/* Every function the client stores in a field, gives the scheduler or a
 * socket: its timers' and transactions' callbacks, anchor_recv, and
 * method_find (cfg.find_method in natbed sim). */
extern const struct ckfns rdvc_ckfns;

/* Starts: STUN, then REGISTER. 0 or -EALREADY. */
int rdvc_start(struct rdvc *c);

/* Gives the name up (REGISTER with LIFETIME 0), once, unanswered. */
void rdvc_leave(struct rdvc *c);

/* A datagram of the main socket. Returns true when it was the client's
 * (answered, used or counted), false when it is someone else's: a STUN
 * answer to another's request, a peer's message, garbage. */
bool rdvc_input(struct rdvc *c, const struct dg_ep *from, const uint8_t *buf, size_t len,
		natbed_time_t now);

/* Asks the rendezvous to introduce peer, to try method within budget_ns
 * (0: the method's own budget). Returns 0, -ENOTCONN (not registered
 * yet), -EINVAL (a bad name) or -EBUSY (RDVC_CONNECTS_MAX under way). */
int rdvc_connect(struct rdvc *c, const char *peer, const char *method, natbed_time_t budget_ns);

/* Asks the rendezvous for peer's candidates and NAT; ops.looked_up tells
 * the answer. Returns 0, -ENOTCONN (not registered yet), -EINVAL (a bad
 * name) or -EBUSY (a LOOKUP under way). */
int rdvc_lookup(struct rdvc *c, const char *peer);

/* The NAT the client registers: before rdvc_start(), or it goes out with
 * the next refresh. */
void rdvc_set_nat(struct rdvc *c, const struct natinfo *nat);
/* Changes what the client registers besides its own candidates: the
 * relayed candidate (addr 0: none) and the NAT. A registered client
 * registers again at once; one not registered yet sends them in its first
 * REGISTER. */
void rdvc_set_cand(struct rdvc *c, const struct dg_ep *relay, const struct natinfo *nat);

/* Behind a NAT that maps per destination and allocates ports in sequence
 * (its natinfo says so): learns the server-reflexive endpoint afresh,
 * from a new socket (one Binding request to the STUN server), and
 * registers it, so that predict counts from a recent anchor
 * (docs/methods.md, "predict"). Every registration refresh does the same.
 * The new anchor is the client's own (rdvc_self) once the rendezvous
 * answered the REGISTER carrying it. Nothing for any other NAT, before
 * registration, or while one is under way. */
void rdvc_reanchor(struct rdvc *c);

/* What the client registers (valid once registered). */
const struct trav_cand *rdvc_self(const struct rdvc *c);
bool rdvc_registered(const struct rdvc *c);

void rdvc_counters(const struct rdvc *c, struct rdvc_counters *out);
const char *rdvc_drop_name(enum rdvc_drop d);

#endif
