/* natbed matrix's grid: the path each pair took, as a table of NAT labels
 * (presets, "public", "lan") on both axes, and the --expect file, which is
 * the same table written by hand (or natbed matrix's own output saved):
 *
 *	# comment lines and blank lines are skipped
 *	                 full-cone  symmetric  public  lan
 *	full-cone        -          direct     direct  -
 *	symmetric        direct     -          direct  -
 *	public           direct     direct     -       -
 *	lan              -          -          -       direct
 *
 * The first line is the column labels; each other line a row label and
 * one word per column: direct, relayed, none, or - (no expectation).
 * Columns and rows may come in any order and name labels the run does not
 * have; a pair's cell may be given both ways round, and must then say the
 * same. docs/byo.md describes it. */
#ifndef NATBED_CLI_MATRIX_GRID_H
#define NATBED_CLI_MATRIX_GRID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* One pair: its hosts' NAT labels and the path judged ("direct",
 * "relayed", "none"). */
struct mx_cell {
	const char *row, *col;
	const char *path;
	const char *pair; /* the pair's name, for messages */
};

/* The grid of cells over labels[0..n_labels) (rows and columns in that
 * order; each cell shown both ways round, "-" where no pair is), each path
 * in its colour (ANSI) when colour is set. */
void mx_grid_print(FILE *f, const char *const *labels, size_t n_labels, const struct mx_cell *cells,
		   size_t n_cells, bool colour);

struct mx_expect;

/* Reads an --expect file. NULL with "FILE:LINE: what is wrong" in err. */
struct mx_expect *mx_expect_load(const char *path, char *err, size_t errlen);
void mx_expect_free(struct mx_expect *e);

/* The path expected for labels x and y (either way round), or NULL when
 * the file gives none. */
const char *mx_expect_get(const struct mx_expect *e, const char *x, const char *y);

/* Compares cells with e: one line to f per cell that differs ("full-cone
 * x symmetric (fc-sym): expected relayed, got none"). Returns how many
 * differ; *compared gets how many cells e had a word for. */
size_t mx_expect_compare(const struct mx_expect *e, const struct mx_cell *cells, size_t n_cells,
			 FILE *f, size_t *compared);

#endif
