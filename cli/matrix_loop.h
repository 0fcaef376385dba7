/* natbed matrix's loop: the program run on both hosts of each pair at
 * once, as many pairs at a time as allowed, never two pairs with a host in
 * common (each host sits behind a NAT of its own, the LAN pair's behind
 * theirs: so never two pairs through one NAT), and a host's next pair
 * starts MX_SETTLE_S after its last one ended, so no pair's packets fall in
 * another's time window.
 *
 * Each side runs `COMMAND [ARGS...]` in its host's namespace (a session of
 * its own: the whole process group is stopped) with NATBED_ROLE (offer
 * for the pair's first host, answer for the second), NATBED_HOST,
 * NATBED_PEER, NATBED_SIGNAL (OUT/signal/PAIR, made empty for the pair),
 * NATBED_STUN, NATBED_TURN (empty without TURN), NATBED_TURN_USER,
 * NATBED_TURN_PASS and NATBED_TIMEOUT (seconds) in its environment, its
 * standard output and error in OUT/PAIR-HOST.log. At the timeout both get
 * SIGTERM, SIGKILL MX_GRACE_S later. Ctrl-C (sigstop.h) once: nothing new
 * starts, the running pairs get SIGTERM, SIGKILL after MX_GRACE_S; twice:
 * SIGKILL at once. */
#ifndef NATBED_CLI_MATRIX_LOOP_H
#define NATBED_CLI_MATRIX_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "matrix_plan.h"

#define MX_GRACE_S  2.0 /* from SIGTERM to SIGKILL */
#define MX_SETTLE_S 0.5 /* from a pair's end to its hosts' next pair */

/* What one pair's run was. */
struct mx_run {
	bool ran;	    /* started, and ended by itself or at the timeout (not Ctrl-C) */
	bool timed_out;	    /* some side was still running at the timeout */
	int64_t t0_ns;	    /* wall clock (ns since the epoch): when it started */
	int64_t t1_ns;	    /* when its last process ended */
	double t_s;	    /* when it started, seconds after the loop began */
	int exit_a, exit_b; /* exit statuses as a shell gives them: 128 + N for signal N */
};

struct mx_loop_cfg {
	const struct mx_plan *plan;
	const char *prefix; /* namespaces P+HOST */
	const char *out;    /* logs and signalling directories go here (absolute) */
	char *const *argv;  /* the program: argv[0] a path */
	double timeout_s;   /* > 0 */
	int parallel;	    /* pairs at once, >= 1 */
	/* told of each pair as it ends (may be NULL) */
	void (*done)(void *arg, size_t pair, const struct mx_run *run);
	void *arg;
};

/* Runs every pair of c->plan, filling runs[i] for pair i (n_pairs of
 * them). Returns 0 when all ran, 1 when Ctrl-C stopped it (the pairs it
 * stopped have ran false), -1 on a failure it printed (nothing it started
 * is left running). */
int mx_loop(const struct mx_loop_cfg *c, struct mx_run *runs);

#endif
