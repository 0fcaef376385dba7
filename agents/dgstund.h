/* natbed-stund's request logic (agents/stund.h: stund_handle, pure) on any
 * datagram interface: a virtual network's host (emulator/vnet.h: natbed
 * sim, tests), a fake network's (tests). With an alternate address it
 * opens RFC 5780's four sockets (two addresses x two ports) and answers
 * OTHER-ADDRESS and CHANGE-REQUEST as natbed-stund --alternate does. */
#ifndef NATBED_AGENTS_DGSTUND_H
#define NATBED_AGENTS_DGSTUND_H

#include <jansson.h>
#include <stdint.h>

#include "dgram.h"
#include "stund.h"

struct dgstund;
struct ckw;
struct ckr;

/* A server on d at primary:port (network order), and with alternate not
 * 0 also on alternate and port + 1 (RFC 5780 §4.1). d must outlive it.
 * NULL when a socket cannot be opened or on ENOMEM. */
struct dgstund *dgstund_new(const struct dgram *d, uint32_t primary, uint32_t alternate,
			    uint16_t port);

/* Closes its sockets and frees it (one a failed restore built, whose
 * dgram was never filled: only frees it). NULL is safe. */
void dgstund_free(struct dgstund *s);

/* What it counted (stund.h). */
void dgstund_counters(const struct dgstund *s, struct stund_counters *c);

/* natbed sim checkpoints (natbed/ckpt.h): s whole (its sockets by id,
 * its counters). */
json_t *dgstund_ckpt_save(const struct dgstund *s, struct ckw *w);
/* A dgstund built from j, no socket opened: its dgram is filled at
 * ckr_finish(). NULL on error (said in r). */
struct dgstund *dgstund_ckpt_load(const json_t *j, struct ckr *r);
/* Its socket callback. */
extern const struct ckfns dgstund_ckfns;

#endif
