/* natbed matrix's results: each pair that ran, judged from the captures
 * (matrix_judge.h), as one attempt of results.json with the program's
 * exit statuses (results_add_exit_attempt), and as a cell of the grid
 * (matrix_grid.h). */
#ifndef NATBED_CLI_MATRIX_RESULTS_H
#define NATBED_CLI_MATRIX_RESULTS_H

#include <stddef.h>

#include "matrix_grid.h"
#include "matrix_loop.h"
#include "matrix_plan.h"
#include "natbed/topo.h"

struct results;

/* Judges every pair of p with runs[i].ran on the captures in dir (t: the
 * topology they ran on) and adds it to r: pair [offer, answer], nat their
 * labels, method "direct" or "relay" (path likewise) when it connected,
 * with setup_ms, local and remote from the judge, else "none" with what
 * the captures lack as reason; t_s the run's. cells (room for every pair)
 * gets one cell per pair judged, pointing into p. Returns how many, or -1
 * with "what: why" in err. */
long mx_results_add(struct results *r, const struct mx_plan *p, const struct topo *t,
		    const char *dir, const struct mx_run *runs, struct mx_cell *cells, char *err,
		    size_t errlen);

#endif
