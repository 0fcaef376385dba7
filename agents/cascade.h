/* natbed agents: the fallback cascade. Tries methods in the order given
 * (select.h's, best first) one after another within a total budget, each
 * try bounded by its method's budget and what is left of the total, until
 * one connects; every try is kept with its time and reason.
 *
 * A state machine with no I/O of its own: the caller runs each try (asks
 * the rendezvous to introduce the peers for that method, starts it) and
 * reports its end with cascade_tried(). */
#ifndef NATBED_AGENTS_CASCADE_H
#define NATBED_AGENTS_CASCADE_H

#include <stdbool.h>
#include <stddef.h>

#include "method.h"

#define CASCADE_MAX	   16
#define CASCADE_REASON_MAX 96

struct cascade;

struct cascade_ops {
	/* Start a try of m that must end by deadline; report its end with
	 * cascade_tried(). 0, or -errno when it cannot start (a failed try). */
	int (*run)(void *arg, const struct method *m, natbed_time_t deadline);
	/* The cascade ended: cascade_winner() says how. Called once, never
	 * from inside cascade_start(). */
	void (*done)(void *arg, struct cascade *c);
};

struct cascade_try {
	const struct method *m;
	bool success;
	natbed_time_t ms; /* how long it took, in milliseconds */
	char reason[CASCADE_REASON_MAX];
};

/* A cascade over order[0..n) (copied) with budget_ns in all, timed on s. */
struct cascade *cascade_new(struct sched *s, const struct method *const *order, size_t n,
			    natbed_time_t budget_ns, const struct cascade_ops *ops, void *arg);
void cascade_free(struct cascade *c);

/* Starts the first try. 0, or -1 when nothing can be tried (done follows). */
int cascade_start(struct cascade *c);

/* The running try ended. */
void cascade_tried(struct cascade *c, bool success, const char *reason);

/* The winning method, or NULL (every try failed, or the budget was spent). */
const struct method *cascade_winner(const struct cascade *c);
/* Why the cascade failed ("budget spent", or the last try's reason). */
const char *cascade_reason(const struct cascade *c);
const struct cascade_try *cascade_tries(const struct cascade *c, size_t *n);

#endif
