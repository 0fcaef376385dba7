/* natbed links: one direction of an impaired link, decided per packet.
 *
 * A pure module: link_decide() says what happens to one packet (dropped and
 * why, or delivered at which times, how many copies, corrupted or not) and
 * keeps only the link's own state (token bucket queue, last delivery time,
 * Gilbert-Elliott states). The fabric holds the packet and schedules its
 * delivery on the scheduler.
 *
 * Order of the steps (issue 5):
 *   down? -> rate (token bucket, tail drop) -> targeted drops -> loss model
 *   -> delay + jitter (reordering or not) -> duplication -> corruption
 *
 * Determinism: every random draw is rng_keyed_*(seed, stream, n) with the
 * stream derived from (link key, direction, flow) and n the packet's number
 * within its flow, so one seed gives the same decisions for the same packets
 * however flows interleave. What depends on timing by nature does not: the
 * token bucket's queue, and the "never before the previous packet" rule
 * when reordering is off.
 */
#ifndef NATBED_LINK_H
#define NATBED_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/clock.h"

#define LINK_NAME_MAX	     32
#define LINK_MODEL_NAME_MAX  24
#define LINK_TARGET_LIST_MAX 16	   /* packet numbers in one drop-list */
#define LINK_QUEUE_DEFAULT   1000  /* packets, when a rate is set */
#define LINK_QUEUE_MAX	     65536 /* packets a rate-limited queue holds at most */
#define LINK_MTU_FRAME	     1514  /* default token bucket depth, bytes */
/* Longest delay or jitter a link takes. A delivery time is the departure
 * time plus the delay plus the jitter (up to ~9 jitters when normal) in a
 * natbed_time_t: values near INT64_MAX, which the duration parser accepts,
 * overflowed it (C11 §6.5p5: undefined). An hour (3.6e12 ns) is beyond any
 * real link and keeps that sum far below INT64_MAX (9.2e18 ns). */
#define LINK_TIME_MAX_NS (3600 * NATBED_NS_PER_S)
#define LINK_ERR_MAX	 256 /* a good size for the caller's error buffer */

enum link_jitter_dist {
	LINK_JITTER_UNIFORM, /* delay +- jitter, flat */
	LINK_JITTER_NORMAL,  /* mean delay, standard deviation jitter, >= 0 */
};

/* Loss model parameters; model names one entry of the loss model table. */
struct link_loss_cfg {
	char model[LINK_MODEL_NAME_MAX]; /* "none", "bernoulli", "gilbert-elliott" */
	double p; /* bernoulli: loss probability; GE: P(good -> bad) per packet */
	double r; /* GE: P(bad -> good) */
	double h; /* GE: P(delivered | bad), 0 in the simple Gilbert model */
	double k; /* GE: P(delivered | good), 1 in the simple Gilbert model */
};

/* Targeted drops: exactly the packets named. Packet numbers count from 1
 * (the first packet of a flow is 1, link_pkt.seq 0). A packet is dropped
 * when it matches (if match is set) and is selected by first, every or
 * list; match alone drops every matching packet. */
struct link_target_cfg {
	uint64_t first; /* packets 1..first of each flow; 0: off */
	uint64_t every; /* packets every, 2*every, ... of each flow; 0: off */
	uint64_t list[LINK_TARGET_LIST_MAX];
	size_t n_list;
	bool match;    /* restrict to proto/port below */
	uint8_t proto; /* IP protocol; 0: any */
	uint16_t port; /* source or destination port; 0: any */
};

/* One direction of a link. Start from link_cfg_default(). */
struct link_cfg {
	char name[LINK_NAME_MAX]; /* for logs, e.g. "alice" */
	uint64_t seed;		  /* the run's seed */
	uint64_t key;		  /* the link's stream key, e.g. rng_key(name, 0) */
	unsigned dir;		  /* direction: 0 or 1 */
	natbed_time_t delay_ns;
	natbed_time_t jitter_ns;
	enum link_jitter_dist jitter_dist;
	bool reorder;		/* false: never delivered before the previous packet */
	uint64_t rate_bps;	/* 0: unlimited */
	uint32_t burst_bytes;	/* token bucket depth; smaller than a packet acts as one packet */
	uint32_t queue_packets; /* tail drop above this many waiting; 0: LINK_QUEUE_MAX */
	uint64_t queue_bytes;	/* tail drop above this many bytes waiting; 0: no limit */
	struct link_loss_cfg loss;
	struct link_target_cfg target;
	double dup;	/* fraction of packets delivered twice */
	double corrupt; /* fraction of copies marked corrupt */
	bool down;	/* partitioned: every packet dropped */
};

/* What the fabric knows of a packet. */
struct link_pkt {
	uint64_t flow;	/* flow id, e.g. a hash of the 5-tuple */
	uint64_t seq;	/* packet number within the flow, from 0 */
	uint32_t len;	/* bytes on the wire (the frame) */
	uint8_t proto;	/* IP protocol; 0 when not IP */
	uint16_t sport; /* host order; 0 when none */
	uint16_t dport;
};

enum link_drop {
	LINK_PASS,	    /* delivered */
	LINK_DROP_DOWN,	    /* partitioned */
	LINK_DROP_QUEUE,    /* token bucket queue full (tail drop) */
	LINK_DROP_TARGETED, /* named by the target rules */
	LINK_DROP_LOSS,	    /* the loss model */
	LINK_DROP_COUNT
};

struct link_verdict {
	enum link_drop drop;
	unsigned n;		     /* copies to deliver: 0, 1 or 2 (duplicate) */
	natbed_time_t deliver_ns[2]; /* absolute delivery time of each copy */
	bool corrupt[2];	     /* the caller breaks that copy's checksum */
};

struct link_stats {
	uint64_t packets, bytes; /* offered */
	uint64_t delivered;	 /* copies, duplicates included */
	uint64_t dropped[LINK_DROP_COUNT];
	uint64_t duplicated;
	uint64_t corrupted;
	uint32_t queue_packets; /* waiting in the token bucket now */
	uint64_t queue_bytes;
};

struct link;

/* A link that delays nothing and loses nothing, rate unlimited, no
 * reordering, loss model "none", queue LINK_QUEUE_DEFAULT packets. */
void link_cfg_default(struct link_cfg *cfg);

/* Sets one parameter of cfg by name from a string (the syntax of the
 * topology file and of `natbed ctl link NAME set KEY VALUE`):
 *   delay, jitter           duration: "10ms", "500us", "1s"
 *   jitter-dist             uniform | normal
 *   reorder                 yes | no
 *   rate                    "10mbit", "512kbit", "1gbit"; "unlimited"
 *   burst, queue-bytes      bytes: "1514", "64kb", "1mb" (powers of 1000)
 *   queue-packets           a count
 *   loss                    "1%" (bernoulli) | "none" | "bernoulli 1%" |
 *                           "gilbert-elliott P R [H [K]]" (alias "ge"),
 *                           each a percentage
 *   drop-first, drop-every  a count; 0 turns it off
 *   drop-list               "1,3,7" (packet numbers from 1), "" clears
 *   drop-match              "udp:3478" | "tcp" | "any:53" | "none"
 *   dup, corrupt            percentage
 *   preset                  a preset's name: sets the fields it lists
 * Returns 0, or -1 with "key: problem" in err; cfg is unchanged on error. */
int link_cfg_set(struct link_cfg *cfg, const char *key, const char *value, char *err,
		 size_t errlen);

/* Applies the preset called name (wifi, lte, 3g, dsl, satellite, lossy;
 * docs/links.md) over cfg. Returns 0 or -1 with the reason in err. */
int link_cfg_preset(struct link_cfg *cfg, const char *name, char *err, size_t errlen);

/* Names of the presets and loss models, NULL-terminated iteration:
 * returns the i-th name or NULL past the end. */
const char *link_preset_name(size_t i);
const char *link_loss_model_name(size_t i);

/* Builds a link from cfg (copied). Returns NULL with the reason in err
 * (an unknown loss model, a probability outside 0..1, out of memory). */
struct link *link_new(const struct link_cfg *cfg, char *err, size_t errlen);
/* NULL is safe. */
void link_free(struct link *l);

/* Decides packet p arriving at now. Updates the link's state and counters. */
struct link_verdict link_decide(struct link *l, const struct link_pkt *p, natbed_time_t now);

/* Whether some decision of l reads p->seq, the packet's number in its flow:
 * a loss model, jitter, duplication, corruption, or a target that picks
 * packets by number (first, every, a list). A link that only delays,
 * shapes, queues, goes down or targets by port alone does not: its
 * decisions are the same whatever the numbers. */
bool link_numbers(const struct link *l);

/* Whether l may corrupt a packet now (its corrupt probability is above
 * 0): the only way a datagram's checksum goes bad on its way. */
bool link_corrupts(const struct link *l);

/* Runtime change of one parameter (see link_cfg_set), logged. The queue
 * and the last delivery time are kept; loss model state is reset when the
 * loss model changes. Returns 0 or -1 with the reason in err. */
int link_set(struct link *l, const char *key, const char *value, char *err, size_t errlen);

/* Partition (false) or restore (true), logged. */
void link_set_up(struct link *l, bool up);

const struct link_cfg *link_config(const struct link *l);
void link_get_stats(const struct link *l, struct link_stats *st);

/* "pass", "down", "queue", "targeted", "loss". */
const char *link_drop_name(enum link_drop d);

#endif
