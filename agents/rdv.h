/* natbed rendezvous: where agents register and ask to meet each other.
 *
 * A pure state machine over struct dgram (agents/dgram.h): one socket,
 * every timer on the scheduler, no clock or I/O of its own, so the same
 * code serves natbed-rendezvous on real sockets and the unit tests in
 * virtual time. Messages: agents/rdvmsg.h.
 *
 *  - REGISTER binds a name to the address the request came from, with the
 *    agent's candidates, for LIFETIME seconds; a REGISTER from the same
 *    address refreshes it (and keeps the agent's NAT mapping alive),
 *    LIFETIME 0 removes it. A name another address holds is refused.
 *  - CONNECT from a registered agent A naming B: the rendezvous answers A
 *    and sends INTRODUCE to A and B in the same moment, each with the
 *    other's candidates, the method, a try id unique to this rendezvous
 *    and a common start a little ahead (start_delay). INTRODUCE is a
 *    request: it is retransmitted until the agent acknowledges it or the
 *    start has come, each copy carrying the time left. When one agent
 *    refuses it (busy, an unknown method), the other is told with CANCEL
 *    (the refusal's code and reason), retransmitted until acknowledged
 *    or the try is forgotten, and gets no more INTRODUCE.
 *  - LOOKUP from a registered agent A naming B: answered with B's
 *    candidates and NAT (for A to choose its methods), or an error when B
 *    is not registered.
 *  - It relays no data.
 * Whatever is truncated, unknown or spoofed (a wrong transaction, a name
 * another address holds, a CONNECT from an address not registered under
 * that name) is counted by reason and ignored.
 */
#ifndef NATBED_AGENTS_RDV_H
#define NATBED_AGENTS_RDV_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "dgram.h"
#include "rdvmsg.h"

#define RDV_DEFAULT_PORT       4787 /* natbed's own (docs/agents.md) */
#define RDV_START_DELAY_MS     200  /* INTRODUCE -> common start */
#define RDV_INTRO_RTO_MS       50   /* INTRODUCE retransmission interval */
#define RDV_LIFETIME_DEFAULT_S 30   /* a REGISTER without LIFETIME */
#define RDV_LIFETIME_MAX_S     3600
#define RDV_MAX_AGENTS	       (1u << 20)
#define RDV_MAX_TRIES	       (1u << 16) /* introductions under way at once */
#define RDV_TRY_LINGER_MS      2000	  /* a try is remembered this long past its start */

struct rdv_config {
	struct dg_ep listen;	      /* the socket's address (port 0: any) */
	natbed_time_t start_delay_ns; /* 0: RDV_START_DELAY_MS */
	natbed_time_t intro_rto_ns;   /* 0: RDV_INTRO_RTO_MS */
	uint32_t lifetime_max_s;      /* 0: RDV_LIFETIME_MAX_S */
	uint32_t max_agents;	      /* 0: RDV_MAX_AGENTS */
};

/* Why a datagram changed nothing. Parse failures first, in the order of
 * enum rdv_parse; rdv_drop_name() names each for --stats. */
enum rdv_drop {
	RDV_DROP_PARSE_FIRST = 0,	       /* + enum rdv_parse (OK unused) */
	RDV_DROP_UNEXPECTED = RDV_PARSE_COUNT, /* a kind agents do not send it */
	RDV_DROP_WRONG_TXN,		       /* an INTRODUCE answer no introduction awaits */
	RDV_DROP_NAME_TAKEN,		       /* REGISTER of a name another address holds */
	RDV_DROP_UNREGISTERED,		       /* CONNECT, LOOKUP from an address not registered */
	RDV_DROP_NAME_MISMATCH,		       /* CONNECT, LOOKUP naming another than its agent */
	RDV_DROP_FULL,			       /* REGISTER past max_agents (answered 508) */
	RDV_DROP_SEND,			       /* the driver refused to send an answer */
	RDV_DROP_COUNT,
};

struct rdv_counters {
	uint64_t datagrams;
	uint64_t agents; /* registered now */
	uint64_t registered, refreshed, unregistered, expired;
	uint64_t connects;	 /* CONNECTs introduced (retransmissions not counted) */
	uint64_t connect_errors; /* CONNECTs refused: peer unknown, itself, too many tries */
	uint64_t introductions;	 /* INTRODUCE requests, first copies */
	uint64_t intro_retransmits;
	uint64_t intro_acked;
	uint64_t intro_refused; /* an agent answered INTRODUCE with an error */
	uint64_t intro_unacked; /* the start came before the agent acknowledged */
	uint64_t cancels;	/* a refusal told to the other side (first copies) */
	uint64_t cancel_retransmits;
	uint64_t cancel_acked;
	uint64_t lookups;	/* LOOKUPs answered with the peer's candidates */
	uint64_t lookup_errors; /* LOOKUPs refused: peer unknown, itself */
	uint64_t drops[RDV_DROP_COUNT];
};

struct rdv;
struct ckw;
struct ckr;

/* Opens the rendezvous' socket on d at cfg->listen and starts serving.
 * d must outlive it. Returns 0 with *out set, or -errno (the socket's:
 * -EADDRINUSE, ...; -ENOMEM). */
int rdv_new(const struct dgram *d, const struct rdv_config *cfg, struct rdv **out);

/* Cancels every timer, closes the socket, frees everything. NULL is safe. */
void rdv_free(struct rdv *r);

/* The address and port the socket got. */
struct dg_ep rdv_local(const struct rdv *r);

/* A copy of the counters. */
void rdv_counters(const struct rdv *r, struct rdv_counters *c);

/* The --stats name of a drop reason ("truncated", "name_taken", ...). */
const char *rdv_drop_name(enum rdv_drop d);

/* natbed sim checkpoints (natbed/ckpt.h): r whole, its registrations
 * (each once, though both tables hold it) and introductions inline, every
 * hash chain in its order. */
json_t *rdv_ckpt_save(const struct rdv *r, struct ckw *w);
/* A rendezvous built from j, nothing run, opened or scheduled: both
 * tables rebuilt, chain for chain; its dgram and timers are filled at
 * ckr_finish(). NULL on error (said in r). */
struct rdv *rdv_ckpt_load(const json_t *j, struct ckr *r);
/* Its socket callback and timers. */
extern const struct ckfns rdv_ckfns;

#endif
