/* natbed run's progress bar, on a terminal only: connects done of all,
 * how many connected, the time left. One line, redrawn in place. */
#ifndef NATBED_CLI_RUN_PROGRESS_H
#define NATBED_CLI_RUN_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define RUN_PROGRESS_AFTER_S 2.0 /* runs shorter than this draw nothing */

struct run_progress {
	FILE *f;    /* NULL: drawing nothing (not a terminal) */
	bool drawn; /* a line is on the screen */
};

/* Draws on f only when it is a terminal. */
void run_progress_init(struct run_progress *p, FILE *f);

/* done of total connects finished, ok of them connected, elapsed seconds,
 * left_s the estimate of what remains (negative: unknown). */
void run_progress_draw(struct run_progress *p, size_t done, size_t total, size_t ok, double elapsed,
		       double left_s);

/* Rubs the line out, before anything else is printed. */
void run_progress_clear(struct run_progress *p);

/* The bar's text without the terminal's codes, into buf (for tests). */
void run_progress_format(char *buf, size_t len, size_t done, size_t total, size_t ok,
			 double left_s);

#endif
