/* natbed-emu packets: fixed-size buffers from a bounded pool.
 *
 * A packet lives from the moment a port receives it until a port sends it or
 * a step drops it; in between it waits on scheduler events (link delay), so
 * it owns its buffer. The pool is bounded: when it is empty a new frame is
 * dropped and counted, never allocated.
 */
#ifndef NATBED_EMU_PKT_H
#define NATBED_EMU_PKT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/clock.h"
#include "proto.h"

/* 66: the IPv4 header after 14 bytes of Ethernet lands 4-byte aligned */
#define PKT_HEADROOM  66
#define PKT_BUF_SIZE  2048
#define PKT_MAX_FRAME (PKT_BUF_SIZE - PKT_HEADROOM)

struct pkt {
	struct pkt *next;    /* free list, or a queue the packet waits on */
	uint8_t *data;	     /* the Ethernet frame */
	size_t len;	     /* bytes at data */
	int in_port;	     /* port index it arrived on */
	int out_port;	     /* port index it leaves by, -1 until routed */
	int seg;	     /* segment it is on (0: internet) */
	int hop;	     /* where it is on its way (fabric's business) */
	int host;	     /* destination host index, -1 until known */
	uint32_t flags;	     /* PKT_F_* */
	natbed_time_t rx_ns; /* scheduler time it was received */
	uint64_t flow_key;   /* hash of its 5-tuple as received */
	uint64_t seq;	     /* packet number within its flow */
	void *ctx;	     /* the owner of the steps it waits on */
	/* An IPv4 frame's view, parsed once when it enters the pipeline (its
	 * pointers into data; pkt_clone moves them to the copy). Steps rewrite
	 * fields in place, never lengths or offsets. ip NULL: not parsed. */
	struct ip_view view;
	uint8_t buf[PKT_BUF_SIZE] __attribute__((aligned(8)));
};

enum pkt_flag {
	PKT_F_CSUM_PARTIAL = 1u << 0, /* L4 checksum not finished by the sender */
	PKT_F_L2_ONLY = 1u << 1,      /* same segment: no TTL decrement */
};

struct pkt_pool;

/* A pool of at most max packets, allocated lazily. NULL on failure. */
struct pkt_pool *pkt_pool_new(size_t max);
/* Frees every packet the pool made: in-flight packets too. NULL is safe. */
void pkt_pool_free(struct pkt_pool *pp);
/* A packet with data at its headroom and len 0, or NULL when exhausted. */
struct pkt *pkt_get(struct pkt_pool *pp);
void pkt_put(struct pkt_pool *pp, struct pkt *p);
/* A copy of p from pp: its frame at the same headroom and every field the
 * steps use, its view pointing into the copy. NULL when the pool is
 * exhausted. */
struct pkt *pkt_clone(struct pkt_pool *pp, const struct pkt *p);

struct ckw;
struct ckr;

/* natbed sim checkpoints (natbed/ckpt.h): a packet on its way, whole:
 * where its frame starts in its buffer, the frame, every field, its view
 * as offsets into the frame, its owner (ctx) as a reference. A new
 * reference, NULL on error (said in w). */
json_t *pkt_ckpt_save(const struct pkt *p, struct ckw *w);

/* The packet j holds, from pp; its ctx filled at ckr_finish(). NULL on
 * error (said in r) or with pp exhausted. */
struct pkt *pkt_ckpt_load(struct pkt_pool *pp, const json_t *j, struct ckr *r);
/* Packets handed out and not yet returned. */
size_t pkt_pool_in_use(const struct pkt_pool *pp);

#endif
