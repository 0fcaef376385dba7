/* natbed agents: one STUN request transaction of a client over struct
 * dgram, retransmitted as RFC 8489 §6.2.1 says: sent at 0, then after RTO,
 * 2 RTO, 4 RTO, ... Rc sends in all; the transaction fails Rm * RTO after
 * the last send. The caller builds the request (its transaction id at
 * bytes 8..19), matches answers with rdvtxn_match() and stops it. */
#ifndef NATBED_AGENTS_RDVTXN_H
#define NATBED_AGENTS_RDVTXN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "dgram.h"
#include "natbed/stun.h"

/* RFC 8489 §6.2.1 defaults */
#define RDVTXN_RTO_MS 500
#define RDVTXN_RC     7
#define RDVTXN_RM     16

struct rdvtxn_cfg {
	natbed_time_t rto_ns; /* 0: RDVTXN_RTO_MS */
	int rc;		      /* 0: RDVTXN_RC */
	int rm;		      /* 0: RDVTXN_RM */
};

struct rdvtxn;
typedef void (*rdvtxn_timeout_fn)(void *arg, struct rdvtxn *x);

/* Embedded in its owner: no allocation. Fields are private to rdvtxn.c
 * but for those rdvtxn_start() takes. */
struct rdvtxn {
	const struct dgram *d;
	int sock;
	struct dg_ep to;
	rdvtxn_timeout_fn timeout;
	void *arg;
	struct rdvtxn_cfg cfg;
	uint8_t buf[DG_MAX];
	size_t len;
	int sent;
	natbed_time_t rto, first_sent;
	uint64_t timer;
	bool active;
};

/* Sends buf[0..len) (a STUN request) from sock to *to now and again on the
 * schedule of cfg (NULL: the defaults); timeout(arg, x) is called once
 * when no answer came (x is then inactive). Restarts x if it was active.
 * Returns 0, or -EINVAL (len past DG_MAX or short of a STUN header). */
int rdvtxn_start(struct rdvtxn *x, const struct dgram *d, int sock, const struct dg_ep *to,
		 const uint8_t *buf, size_t len, const struct rdvtxn_cfg *cfg,
		 rdvtxn_timeout_fn timeout, void *arg);

/* Whether an answer with txid from *from belongs to x (active, same id,
 * from the address the request went to). */
bool rdvtxn_match(const struct rdvtxn *x, const uint8_t *txid, const struct dg_ep *from);

/* Whether an answer from *from may belong to x (active, from the address
 * the request went to): rdvtxn_match without the id, to check before a
 * parse. */
bool rdvtxn_awaits(const struct rdvtxn *x, const struct dg_ep *from);

/* Ends x (its timer cancelled); safe when inactive. */
void rdvtxn_stop(struct rdvtxn *x);

struct ckw;
struct ckr;

/* natbed sim checkpoints (natbed/ckpt.h): x whole, declared as an object
 * of its own (its timer's argument; the owner's timeout argument is a
 * reference). A new reference, NULL on error (said in w). */
json_t *rdvtxn_ckpt_save(const struct rdvtxn *x, struct ckw *w);
/* x (embedded in an owner being loaded) filled from j, nothing sent or
 * scheduled: its pointers, function and timer are filled at
 * ckr_finish(). 0, or -1 (said in r). */
int rdvtxn_ckpt_fill(struct rdvtxn *x, const json_t *j, struct ckr *r);
/* A transaction's timing ({rto_ns, rc, rm}), as its owners' configurations
 * hold it too; the reader marks g bad on a problem (agents/ckget.h). */
struct ckget;
json_t *rdvtxn_cfg_ckpt_save(const struct rdvtxn_cfg *c);
void rdvtxn_cfg_ckpt_get(struct ckget *g, const char *key, struct rdvtxn_cfg *c);
/* txn_timer, the one function rdvtxn gives the scheduler. */
extern const struct ckfns rdvtxn_ckfns;

/* When x was first sent (its answer's round trip is measured from it). */
static inline natbed_time_t rdvtxn_first_sent(const struct rdvtxn *x)
{
	return x->first_sent;
}

#endif
