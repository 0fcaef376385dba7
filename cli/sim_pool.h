/* natbed sim: a site per client (docs/sim.md, NAT populations).
 *
 * Each arrival site behind a NAT gets clones, each a copy of the site's
 * host alone behind a copy of its NAT: the same behaviour, inside
 * prefix and addresses, links, firewall and gate (its hosts and
 * exemptions naming the clone where they named the site), and a public
 * address of its own from SIM_POOL_PUBLIC. A clone runs no program: an
 * arriving client takes a free clone of its site for as long as it
 * connects, and the clone is made new for it first (vnet_host_anew: the
 * NAT flushed, the client new to the gate). So every client connecting
 * sits behind a NAT and gate no other client uses, as in the seed's model,
 * while a million clients need only as many NATs as ever connect at once.
 *
 * A site gets as many clones as the most of its clients that may connect
 * at once (run_plan_site_peaks over every round to be played), so a
 * client always finds one. A site on the internet has no NAT to copy: its
 * clients share it. A site behind a NAT that sits behind another NAT
 * (a carrier chain) is refused. No I/O.
 */
#ifndef NATBED_CLI_SIM_POOL_H
#define NATBED_CLI_SIM_POOL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/topo.h"

#define SIM_POOL_PUBLIC	    "198.19.0.0" /* the clones' public addresses: a /16 */
#define SIM_POOL_PUBLIC_LEN 16

struct sim_pool;

/* Adds to t, after its own, peak[h] clones of every host h with
 * peak[h] > 0 (peak has t->n_hosts entries) that sits behind a NAT, named
 * "NAME--K" (K from 1; NAME cut to fit; t may have no such name). Indices of t's own hosts and NATs
 * stay. 0 with *out set, or -1 with the problem in err (a site behind
 * two NATs, an address of t in SIM_POOL_PUBLIC, a name of t like a
 * clone's, too many clones, ENOMEM);
 * t may then hold some clones, and is still t's to free. */
int sim_pool_new(struct topo *t, const uint32_t *peak, struct sim_pool **out, char *err,
		 size_t errlen);
void sim_pool_free(struct sim_pool *p);

/* A free clone of site host h (its index in t), now taken: the one given
 * back longest ago (clone 1, 2, ... at first), or h itself when h has no
 * clones; -1 when every clone of h is taken. */
int sim_pool_take(struct sim_pool *p, int h);

/* Gives clone c back (a host index sim_pool_take returned; h itself is
 * ignored). */
void sim_pool_give(struct sim_pool *p, int c);

/* The site host clone c was made from (c itself when it is none), and
 * the NAT a clone's NAT was made from (n itself when none). */
int sim_pool_site_of(const struct sim_pool *p, int c);
int sim_pool_nat_of(const struct sim_pool *p, int n);

/* Clones made, in all. */
size_t sim_pool_clones(const struct sim_pool *p);

/* natbed sim checkpoints: which clones are free now, in the order they
 * are taken ({"free": [clone...], "head": [...], "n_free": [...]}, per
 * site). The rest follows from the topology and the seed. A new
 * reference, NULL on ENOMEM. */
json_t *sim_pool_ckpt_save(const struct sim_pool *p);
/* Makes p (new from the same topology and peaks) take its clones as j
 * says. 0, or -1 with the problem in err. */
int sim_pool_ckpt_fill(struct sim_pool *p, const json_t *j, char *err, size_t errlen);

#endif
