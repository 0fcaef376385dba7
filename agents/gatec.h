/* natbed agents: the zero-trust gate's client (docs/gate.md).
 *
 * A state machine over the datagram interface, like every agent part: from
 * a socket of its own it sends an AUTH request (natbed/gatemsg.h) for one
 * resource to the gate, signed with the host's key, and waits for the
 * answer, which comes after the gate's auth delay (seconds for an
 * untrusted host). It retransmits the same request (the gate answers a
 * retransmission once, or again with the answer it gave) after rto,
 * doubling up to rto_max, until timeout. When a retransmission meets a
 * spent nonce (438, signed: the gate decided the request but its answer
 * was lost), it asks again with the next nonce, at most GATEC_RESTARTS
 * times. A grant counts only signed with
 * the key; a refusal may come unsigned (the gate cannot sign for a request
 * it could not authenticate). The report says how it ended and how long
 * it took, from the first request sent to the answer: the auth time a
 * traversal's setup time includes. No clock or socket of its own. */
#ifndef NATBED_AGENTS_GATEC_H
#define NATBED_AGENTS_GATEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "dgram.h"
#include "natbed/gatemsg.h"

#define GATEC_RTO_NS	 (500 * NATBED_NS_PER_MS)
#define GATEC_RTO_MAX_NS (4 * NATBED_NS_PER_S)
#define GATEC_TIMEOUT_NS (30 * NATBED_NS_PER_S)
#define GATEC_RESTARTS	 3 /* new requests after an answer was lost */

struct gatec_cfg {
	struct dg_ep gate;			 /* the gate's address and port */
	char user[TOPO_NAME_MAX];		 /* this host's name in the topology */
	char key[TOPO_GATE_KEY_MAX];		 /* its key */
	char resource[GATEMSG_RESOURCE_MAX + 1]; /* what it asks to reach; "": any */
	uint64_t nonce;		  /* the request's nonce: above every one used before */
	natbed_time_t rto_ns;	  /* first retransmission; 0: GATEC_RTO_NS */
	natbed_time_t rto_max_ns; /* 0: GATEC_RTO_MAX_NS */
	natbed_time_t timeout_ns; /* the whole exchange; 0: GATEC_TIMEOUT_NS */
};

enum gatec_result {
	GATEC_GRANTED, /* a pinhole is open for the resource */
	GATEC_DENIED,  /* the gate decided no (its answer says at which trust level) */
	GATEC_REFUSED, /* refused at once: bad key, replay, ... (code and reason) */
	GATEC_TIMEOUT, /* no answer */
	GATEC_RESULT_COUNT
};

/* "granted", "denied", "refused", "timeout". */
const char *gatec_result_name(enum gatec_result r);

struct gatec_report {
	enum gatec_result result;
	double auth_ms; /* first request sent to the answer (to the timeout) */
	int sent;	/* requests sent, retransmissions included */
	int code;	/* an error answer's code */
	char reason[GATEMSG_REASON_MAX + 1];
	bool has_trust; /* granted or denied: the gate's decision */
	enum topo_trust level, level_now;
	double gate_delay_ms; /* the delay the gate says it took */
	double risk;
	natbed_time_t ttl_ns; /* granted: the pinhole's lifetime */
};

struct gatec_ops {
	/* The exchange ended; r is valid during the call, which may free c. */
	void (*done)(void *arg, const struct gatec_report *r);
};

struct gatec;

/* Opens a socket on d and sends the request. NULL on a bad cfg (user,
 * resource, nonce 0), ENOMEM or no socket. */
struct gatec *gatec_new(const struct dgram *d, const struct gatec_cfg *cfg,
			const struct gatec_ops *ops, void *arg);

/* Cancels the timers, closes the socket. NULL is safe. */
void gatec_free(struct gatec *c);

struct ckw;
struct ckr;

/* natbed sim checkpoints (natbed/ckpt.h): c whole, its request and its
 * report so far. A new reference, NULL on error (said in w). */
json_t *gatec_ckpt_save(const struct gatec *c, struct ckw *w);
/* A gatec built from j, nothing opened, sent or scheduled (its socket id
 * is the one the network restores): its pointers, function and timers
 * are filled at ckr_finish(). NULL on error (said in r). */
struct gatec *gatec_ckpt_load(const json_t *j, struct ckr *r);
/* The functions a gatec gives the scheduler and its socket. */
extern const struct ckfns gatec_ckfns;

#endif
