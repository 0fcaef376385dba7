/* natbed-emu routing over the topology's segments.
 *
 * Segment 0 is the internet; segment n+1 is the inside of NAT n. A packet on
 * a segment goes to a host of that segment that owns its destination, down
 * into a NAT whose outside is this segment and that claims the destination,
 * or up through the segment's own NAT; on the internet with none of these it
 * has no route. An address is unique within a segment, not across them
 * (natbed sim's copies of a site keep its inside addresses). */
#ifndef NATBED_EMU_ROUTE_H
#define NATBED_EMU_ROUTE_H

#include <stdint.h>

#include "natbed/topo.h"

#define ROUTE_INTERNET 0

enum route_kind { ROUTE_NONE, ROUTE_HOST, ROUTE_NAT_DOWN, ROUTE_NAT_UP };

struct route_next {
	enum route_kind kind;
	int index; /* host index for ROUTE_HOST, NAT index for the NAT kinds */
};

struct route;

/* Builds the routing view of t (which must outlive it). NULL on ENOMEM. */
struct route *route_new(const struct topo *t);
void route_free(struct route *r);

/* Segment of host h and the outside / inside segments of NAT n. */
int route_host_segment(const struct route *r, int h);
int route_nat_outside(const struct route *r, int n);
static inline int route_nat_inside(int n)
{
	return n + 1;
}

/* Makes host h the catch-all of its segment: a destination no host owns
 * and no NAT claims goes to h when it lies in the segment (the internet: any
 * address; a NAT's inside: its prefix). Standalone mode's ports stand for a
 * whole network this way. */
void route_set_catch_all(struct route *r, int h);

/* The host of segment seg that owns address ip (network order), or -1. */
int route_host_at(const struct route *r, int seg, uint32_t ip);

/* Where a packet for dst (network order) on segment seg goes next: a
 * host of seg that owns it; else the first NAT (by index) whose outside is
 * seg and one of whose public addresses (the topology's) it is, when
 * nat_claims(n, dst) confirms that n takes it now; else up through seg's
 * NAT, or nowhere on the internet. Hash lookups, however many NATs. */
struct route_next route_lookup(const struct route *r, int seg, uint32_t dst,
			       int (*nat_claims)(void *ctx, int n, uint32_t dst), void *ctx);

#endif
