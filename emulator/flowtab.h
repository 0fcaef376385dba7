/* natbed-emu flow numbering: each packet's number within its flow.
 *
 * Link decisions are keyed by (flow, packet number in the flow) so the
 * same packets meet the same fate however flows interleave (issue 5). A
 * flow is its exact 5-tuple (struct flow_tuple), compared field by field:
 * two flows never share a counter, whatever their hashes.
 *
 * Memory is bounded: the table remembers at most max flows. When it is
 * full, the flow seen least recently is forgotten to make room (counted in
 * recycled); if that flow comes back, its numbering starts again at 0.
 */
#ifndef NATBED_EMU_FLOWTAB_H
#define NATBED_EMU_FLOWTAB_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define FLOWTAB_MAX 65536 /* flows remembered by default */

struct flowtab;

/* A table of at most max flows (0: FLOWTAB_MAX). NULL on ENOMEM. */
struct flowtab *flowtab_new(size_t max);
/* NULL is safe. */
void flowtab_free(struct flowtab *t);

/* The number of the next packet of flow k, from 0, counting it; the flow
 * becomes the most recently seen. */
uint64_t flowtab_next(struct flowtab *t, const struct flow_tuple *k);
/* The same, hash being flow_tuple_hash(k) (the caller has it already). */
uint64_t flowtab_next_hashed(struct flowtab *t, const struct flow_tuple *k, uint64_t hash);

struct flowtab_stats {
	size_t flows;	   /* remembered now */
	size_t max;	   /* remembered at most */
	uint64_t recycled; /* flows forgotten to make room */
};

void flowtab_get_stats(const struct flowtab *t, struct flowtab_stats *st);

/* --- for checkpoints (flowtab_ctl.h) --- */

/* Calls fn for each flow remembered, the least recently seen first, with
 * the number its next packet gets. */
void flowtab_each(const struct flowtab *t,
		  void (*fn)(void *ctx, const struct flow_tuple *k, uint64_t next), void *ctx);

/* Remembers flow k as the most recently seen, its next packet numbered
 * next. 0, or -1 when k is remembered already or the table is full. */
int flowtab_put(struct flowtab *t, const struct flow_tuple *k, uint64_t next);

/* Sets the count of flows forgotten to make room. */
void flowtab_set_recycled(struct flowtab *t, uint64_t recycled);

/* t takes fresh's flows (of the same max) and fresh, t's old ones, which
 * go with it: frees fresh. */
void flowtab_adopt(struct flowtab *t, struct flowtab *fresh);

/* A 64-bit hash of k, well mixed: the flow's id for the links' random
 * streams (struct link_pkt.flow). */
uint64_t flow_tuple_hash(const struct flow_tuple *k);

#endif
