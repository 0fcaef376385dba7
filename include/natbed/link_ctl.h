/* natbed links: one link direction's whole state as JSON, for checkpoints.
 *
 * What a checkpoint keeps is everything that decides what the link does to
 * the next packet: its parameters as `link set` left them (and whether it
 * is down), the token bucket (tokens and the time they were counted at),
 * the bucket's queue (when each waiting packet leaves and its size), the
 * last delivery time (reordering off), each flow's Gilbert-Elliott chain
 * (state and packet number, in its slot of the table), and the counters.
 * Times are stored relative to the time of the checkpoint.
 *
 * The packets themselves are not the link's: they wait on the scheduler
 * and go with the run that has them. Their places in the queue are kept,
 * so the packets after a restore wait and are tail-dropped exactly as they
 * would have been behind them.
 */
#ifndef NATBED_LINK_CTL_H
#define NATBED_LINK_CTL_H

#include <jansson.h>
#include <stddef.h>

#include "natbed/clock.h"
#include "natbed/link.h"

/* The state of l at now as JSON: {name, dir, seed, key, config:{...},
 * bucket:{tokens, at_ns}, last_deliver_ns, queue:[[leaves_in_ns, len]...],
 * ge:{cap, flows:[[slot, flow, next_seq, bad]...]}, stats:{...}}. A new
 * reference, or NULL on ENOMEM. */
json_t *link_checkpoint(const struct link *l, natbed_time_t now);

/* Restore in two steps, so that many links (and the rest of a fabric)
 * change all or not at all: prepare checks the whole state j against l (it
 * must be the state of l's link and direction in a run of l's seed) and
 * builds it aside as a new link (free with link_free), or returns NULL
 * with "what: problem" in err and l unchanged; adopt makes l run fresh's
 * state and frees fresh. */
struct link *link_restore_prepare(const struct link *l, const json_t *j, natbed_time_t now,
				  char *err, size_t errlen);
void link_adopt(struct link *l, struct link *fresh);

#endif
