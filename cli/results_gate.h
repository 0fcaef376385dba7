/* natbed results: the gate summaries (struct res_gatesum, results.h) built
 * from a run's attempts. Internal to results.c, which owns the attempts
 * and calls res_gate_build() when it summarises; pure, no I/O.
 *
 * Gate outcomes and trust levels are words of docs/gate.md: an agent's
 * line says how its exchange ended ("granted", "denied", "refused",
 * "timeout") and the level the gate decided at ("untrusted" ...
 * "verified", include/natbed/topo.h). */
#ifndef NATBED_CLI_RESULTS_GATE_H
#define NATBED_CLI_RESULTS_GATE_H

#include <stddef.h>

#include "results.h"

/* Every summary of a set of attempts. */
struct res_gate {
	struct res_gatesum all;
	struct res_gatesum *levels; /* by level, the undecided (name NULL) last */
	size_t n_levels;
	struct res_gatesum *methods; /* by name */
	size_t n_methods;
};

/* What is wrong with an attempt's gate fields ("gate: not granted, ...",
 * "trust: without gate", ...), or NULL when nothing is: gate NULL or an
 * outcome, trust NULL or a level (and then gate set), auth_ms NAN or
 * finite and >= 0. */
const char *res_gate_check(const char *gate, const char *trust, double auth_ms);

/* The summaries of att[0..n) (each attempt's strings must outlive out)
 * into out, which res_gate_clear() frees. 0, or -ENOMEM (out cleared). */
int res_gate_build(const struct res_attempt *const *att, size_t n, struct res_gate *out);
void res_gate_clear(struct res_gate *g);

#endif
