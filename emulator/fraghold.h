/* natbed-emu fragment holding: later fragments that reached a NAT before
 * their first one (RFC 4787 REQ-14, "received fragments out of order").
 *
 * A NAT cannot translate a later fragment before it has seen the first,
 * which carries the ports. The fabric holds such a fragment here, offers it
 * to the NAT again each time a first fragment passed that NAT, and drops it
 * when it has waited NAT_FRAG_TIMEOUT_NS. The area is bounded: when it is
 * full the oldest fragment is pushed out (the caller drops it).
 */
#ifndef NATBED_EMU_FRAGHOLD_H
#define NATBED_EMU_FRAGHOLD_H

#include <stdbool.h>
#include <stddef.h>

#include "natbed/clock.h"
#include "natbed/sched.h"
#include "pkt.h"

#define FRAGHOLD_MAX 64 /* fragments held at once, over every NAT */

struct fraghold;

struct fraghold *fraghold_new(void);
/* Frees the area and cancels its sweep; packets still held stay with their
 * pool. NULL is safe. */
void fraghold_free(struct fraghold *h);

/* Called with a fragment whose time ran out (the callee owns it) and the
 * NAT that held it. */
typedef void (*fraghold_expired_fn)(void *ctx, struct pkt *p, int nat);

/* Gives up on time by itself: from now on fraghold_put() keeps an event on
 * s that hands each fragment whose time ran out to expired. Without it the
 * caller polls fraghold_expired(). */
void fraghold_on_expiry(struct fraghold *h, struct sched *s, fraghold_expired_fn expired,
			void *ctx);

/* Holds p, on its way through NAT nat (outbound when out), until expires.
 * Returns the packet pushed out to make room (the oldest), or NULL. */
struct pkt *fraghold_put(struct fraghold *h, struct pkt *p, int nat, bool out,
			 natbed_time_t expires);

/* A packet taken back, with what it was held with. */
struct fraghold_entry {
	struct pkt *p;
	bool out;
	natbed_time_t expires;
};

/* Takes every packet held at NAT nat, oldest first, into e (at most max).
 * Returns how many. */
size_t fraghold_take(struct fraghold *h, int nat, struct fraghold_entry *e, size_t max);

/* Takes one packet whose time ran out by now, with its NAT in *nat, or
 * NULL when none has. */
struct pkt *fraghold_expired(struct fraghold *h, natbed_time_t now, int *nat);

/* The earliest expiry among held packets, or -1 when none is held. */
natbed_time_t fraghold_next_expiry(const struct fraghold *h);

/* Packets held. */
size_t fraghold_count(const struct fraghold *h);

#endif
