/* natbed agents: choosing a traversal method, as the seed's registry does,
 * from priors and from what was measured.
 *
 * A pair of peers is keyed by their NAT classes (natinfo.h); two peers of
 * one site (the same public address) meet as if no NAT stood between
 * them, and are keyed "same-site". A method's success rate for a pair
 * starts at its prior (method_spec.prior, derived from RFC 4787 in
 * docs/methods.md) and moves with measured outcomes: the prior counts as
 * SEL_PRIOR_WEIGHT trials, so a few real results outweigh it. Scores by
 * priority (the seed's select_optimal_method):
 *   success_rate  rate
 *   cost          1 - cost / 2
 *   security      security
 *   balanced      0.4 rate + 0.3 reliability + 0.2 security + 0.1 (1 - cost / 2)
 */
#ifndef NATBED_AGENTS_SELECT_H
#define NATBED_AGENTS_SELECT_H

#include <stdbool.h>
#include <stddef.h>

#include "learn.h"
#include "method.h"

#define SEL_PRIOR_WEIGHT 4.0 /* pseudo-trials the prior counts as */
#define SEL_PAIR_KEY_MAX 64

enum sel_priority { SEL_SUCCESS_RATE, SEL_COST, SEL_SECURITY, SEL_BALANCED, SEL_PRIORITY_COUNT };

struct sel_pair {
	enum ni_class self, peer;
	bool same_site;
};

/* The pair two peers' candidates make. */
void sel_pair_of(const struct trav_cand *self, const struct trav_cand *peer, struct sel_pair *p);
/* "self-class|peer-class", or "same-site"; into buf[SEL_PAIR_KEY_MAX]. */
const char *sel_pair_key(const struct sel_pair *p, char *buf);

/* "success_rate", "cost", "security", "balanced" both ways; -1 unknown. */
const char *sel_priority_name(enum sel_priority p);
int sel_priority_parse(const char *s, enum sel_priority *out);

/* What the caller allows. */
struct sel_limits {
	bool no_relay;		 /* skip methods that carry data through a third party */
	natbed_time_t budget_ns; /* skip methods that need more than this; 0: any */
};

/* The prior of m for p (as the method claims it). */
double sel_prior(const struct method *m, const struct sel_pair *p);
/* The estimated success rate of m for p: the prior moved by l's counts
 * (l may be NULL). */
double sel_rate(const struct method *m, const struct sel_pair *p, const struct learn *l);
double sel_score(const struct method *m, const struct sel_pair *p, const struct learn *l,
		 enum sel_priority pri);

/* Of methods[0..n) (the table: method_at()), the ones lim allows, best
 * score first (ties: their order in methods), into out[max]; returns how
 * many. */
size_t sel_order(const struct sel_pair *p, const struct learn *l, enum sel_priority pri,
		 const struct sel_limits *lim, const struct method *const *methods, size_t n,
		 const struct method **out, size_t max);

#endif
