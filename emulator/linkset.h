/* natbed-emu links: every link of a topology, two directions each (lib
 * link.h decides what happens to a packet on one), and a packet's crossing
 * of one on the scheduler.
 *
 * Links are indexed hosts' access links first (host h: linkset_host(h)),
 * then NAT uplinks, then the internet core. "Up" is toward the internet.
 * A crossing writes what the link did to the event log (delay, duplicate,
 * corrupt) and hands a dropped packet to the owner's drop callback, which
 * logs it. */
#ifndef NATBED_EMU_LINKSET_H
#define NATBED_EMU_LINKSET_H

#include <stddef.h>

#include "drop.h"
#include "evlog.h"
#include "natbed/link.h"
#include "natbed/sched.h"
#include "natbed/topo.h"
#include "pkt.h"

enum linkset_dir { LINKSET_UP, LINKSET_DOWN };

struct linkset_cfg {
	const struct topo *topo; /* must outlive the set */
	struct sched *sched;
	struct pkt_pool *pool; /* duplicates come from it */
	struct evlog *ev;      /* NULL: no event log */
	/* Drops p, refused by link name in direction dir for reason d (the
	 * link's own) counted as r. Takes p. */
	void (*drop)(void *ctx, struct pkt *p, enum drop_reason r, enum link_drop d,
		     const char *name, enum linkset_dir dir);
	void *ctx;
};

struct linkset;

/* Builds every link of cfg->topo (cfg copied). NULL and err filled on a
 * bad link or ENOMEM. */
struct linkset *linkset_new(const struct linkset_cfg *cfg, char *err, size_t errlen);
/* NULL is safe. */
void linkset_free(struct linkset *ls);

/* Index of host h's access link, of NAT n's uplink, of the core. */
size_t linkset_host(const struct linkset *ls, int h);
size_t linkset_nat(const struct linkset *ls, int n);
size_t linkset_core(const struct linkset *ls);

/* The internet core is full duplex like every link: "up" carries packets
 * from the lower to the higher address, "down" the others, so the two
 * directions of a conversation never share a rate or a queue. */
enum linkset_dir linkset_core_dir(const struct ipv4_hdr *ip);

/* Crosses direction dir of link i: the link decides (down, rate, targeted
 * drops, loss, delay and jitter, duplication, corruption) and each copy
 * runs next(copy, time) at its delivery time, at once when it is due now
 * and nothing is due before it. p must carry its view, flow and number.
 * Takes p. */
void linkset_cross(struct linkset *ls, size_t i, enum linkset_dir dir, struct pkt *p, sched_fn next,
		   natbed_time_t now);

/* The two directions of the link called name (a host, a NAT, "internet").
 * 0, or -1 when there is none. */
int linkset_find(struct linkset *ls, const char *name, struct link **up, struct link **down);

/* Whether some direction of some link reads packets' numbers in their
 * flows now (link_numbers). */
bool linkset_numbers(const struct linkset *ls);

/* Whether some direction of some link may corrupt packets now
 * (link_corrupts). */
bool linkset_corrupts(const struct linkset *ls);

#endif
