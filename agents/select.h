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
	/* the candidates, when known (sel_pair_of): a method's usable() is
	 * asked, and its prior is 0 where it says no; NULL: by class only */
	const struct trav_cand *self_cand, *peer_cand;
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

/* --- the cascade's plan ------------------------------------------------ */

/* A method whose estimated rate for the pair is below this is skipped:
 * every prior docs/methods.md gives a pair RFC 4787 rules out is 0.05 or
 * less, every other 0.2 or more, and measured outcomes move a rate across
 * it (one success in one try lifts 0.05 to 0.24; forty failures sink
 * 0.95 to 0.086). */
#define SEL_HOPELESS 0.1

/* Why the cascade does not try a method. */
enum sel_skip {
	SEL_SKIP_NONE,	   /* it is tried */
	SEL_SKIP_RELAY,	   /* it relays and the caller said --no-relay */
	SEL_SKIP_BUDGET,   /* its own budget is more than the whole connect's */
	SEL_SKIP_HOPELESS, /* its rate for the pair is below SEL_HOPELESS */
	SEL_SKIP_COUNT
};

/* "skipped: relay not allowed", "skipped: needs more than the budget",
 * "skipped: no chance for this pair"; "" for SEL_SKIP_NONE. */
const char *sel_skip_reason(enum sel_skip s);

/* One method as the cascade sees it for a pair. */
struct sel_choice {
	const struct method *m;
	double prior, rate, score; /* sel_prior, sel_rate, sel_score */
	enum sel_skip skip;
};

/* Every method of methods[0..n) (n <= 64) in the cascade's order, into
 * out[max]: first the ones it tries, best score first but every method
 * that relays the data after every one that does not (a relay is the
 * last resort, as ICE's relayed candidates are: RFC 8445 §5.1.2.2), then
 * the ones it skips (each with why), best score first too; ties keep the
 * table's order. Returns how many (n, or the first max of them). */
size_t sel_cascade(const struct sel_pair *p, const struct learn *l, enum sel_priority pri,
		   const struct sel_limits *lim, const struct method *const *methods, size_t n,
		   struct sel_choice *out, size_t max);

#endif
