/* Private to the link model (link.c) and its checkpoint code (link_ctl.c).
 * Callers use natbed/link.h and natbed/link_ctl.h. */
#ifndef NATBED_LIB_LINK_INT_H
#define NATBED_LIB_LINK_INT_H

#include "natbed/link.h"

/* Gilbert-Elliott chains are kept per flow, so a flow's losses do not
 * depend on other flows' packets: an open-addressing table (linear
 * probing, at most half full) that grows up to LINK_GE_FLOWS_MAX entries;
 * past that, a new flow takes over its home slot. */
#define LINK_GE_FLOWS_INIT 64
#define LINK_GE_FLOWS_MAX  65536

struct link_ge_flow {
	uint64_t flow;
	uint64_t next_seq; /* the chain's state is that of packet next_seq - 1 */
	bool used;
	bool bad;
};

struct link_qent {
	natbed_time_t depart_ns; /* leaves the token bucket */
	uint32_t len;
};

/* An entry of the loss model table. parse() reads the words after the
 * model's name; lose() decides one packet. */
struct link_loss_model {
	const char *name;
	const char *alias;
	int (*parse)(struct link_loss_cfg *lc, char **argv, int argc, char *err, size_t errlen);
	bool (*lose)(struct link *l, const struct link_pkt *p, uint64_t fkey);
};

struct link {
	struct link_cfg cfg;
	const struct link_loss_model *loss;
	uint64_t dkey; /* stream key of (link, direction) */
	/* Token bucket: tokens (bytes) as of tb_ns, the last departure;
	 * tb_ns INT64_MIN: no packet yet (the bucket is full). */
	double tb_tokens;
	natbed_time_t tb_ns;
	struct link_qent *q; /* FIFO ring of packets waiting for tokens */
	uint32_t q_head, q_count, q_cap;
	uint64_t q_bytes;
	natbed_time_t last_deliver_ns; /* for reorder = false; INT64_MIN: none yet */
	struct link_ge_flow *ge;       /* NULL until a Gilbert-Elliott packet */
	uint32_t ge_cap, ge_used;
	struct link_stats st;
};

/* Writes the message into err[errlen] (nothing when err is NULL). */
void link_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The loss model called name (or its alias), or NULL. */
const struct link_loss_model *link_loss_find(const char *name);

/* Checks cfg for link_new(), link_set() and a restore: a known loss model,
 * probabilities in 0..1, delay and jitter of 0 to LINK_TIME_MAX_NS, a
 * direction, a drop-list that fits. Returns its loss model, or NULL with
 * the reason in err. */
const struct link_loss_model *link_cfg_check(const struct link_cfg *cfg, char *err, size_t errlen);

#endif
