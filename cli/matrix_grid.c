/* natbed matrix's grid and --expect file (matrix_grid.h). */
#include "matrix_grid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "results.h"

#define MX_GRID_MIN	 7 /* "relayed" */
#define MX_LINE_MAX	 4096
#define MX_EXPECT_LABELS 64

static const char *mx_cell_at(const struct mx_cell *cells, size_t n, const char *x, const char *y)
{
	for (size_t i = 0; i < n; i++)
		if ((strcmp(cells[i].row, x) == 0 && strcmp(cells[i].col, y) == 0) ||
		    (strcmp(cells[i].row, y) == 0 && strcmp(cells[i].col, x) == 0))
			return cells[i].path;
	return NULL;
}

/* A path's terminal colour: its method's (report.h), so the grid reads
 * like natbed run's. */
static const char *mx_sgr(const char *path)
{
	if (strcmp(path, RESULTS_PATH_DIRECT) == 0)
		return report_sgr("direct");
	if (strcmp(path, RESULTS_PATH_RELAYED) == 0)
		return report_sgr("relay");
	return report_sgr(RESULTS_NONE);
}

void mx_grid_print(FILE *f, const char *const *labels, size_t n_labels, const struct mx_cell *cells,
		   size_t n_cells, bool colour)
{
	size_t i, k, w0 = 0;

	for (i = 0; i < n_labels; i++)
		if (strlen(labels[i]) > w0)
			w0 = strlen(labels[i]);
	fprintf(f, "%-*s", (int)w0, "");
	for (k = 0; k < n_labels; k++) {
		size_t w = strlen(labels[k]) < MX_GRID_MIN ? MX_GRID_MIN : strlen(labels[k]);

		fprintf(f, "  %-*s", k + 1 < n_labels ? (int)w : 0, labels[k]);
	}
	fputc('\n', f);
	for (i = 0; i < n_labels; i++) {
		fprintf(f, "%-*s", (int)w0, labels[i]);
		for (k = 0; k < n_labels; k++) {
			size_t w =
			    strlen(labels[k]) < MX_GRID_MIN ? MX_GRID_MIN : strlen(labels[k]);
			const char *p = mx_cell_at(cells, n_cells, labels[i], labels[k]);
			int pad = k + 1 < n_labels ? (int)(w - strlen(p ? p : "-")) : 0;

			fputs("  ", f);
			if (p && colour)
				fprintf(f, "\033[%sm%s\033[0m%*s", mx_sgr(p), p, pad, "");
			else
				fprintf(f, "%s%*s", p ? p : "-", pad, "");
		}
		fputc('\n', f);
	}
}

struct mx_expect {
	char *labels[MX_EXPECT_LABELS];
	size_t n;
	const char *cell[MX_EXPECT_LABELS][MX_EXPECT_LABELS]; /* [row][col], NULL: none */
};

void mx_expect_free(struct mx_expect *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++)
		free(e->labels[i]);
	free(e);
}

/* Index of label s, added when new; -1 when full. */
static int mx_label(struct mx_expect *e, const char *s)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->labels[i], s) == 0)
			return (int)i;
	if (e->n == MX_EXPECT_LABELS || !(e->labels[e->n] = strdup(s)))
		return -1;
	return (int)e->n++;
}

static const char *mx_word(const char *w)
{
	static const char *const words[] = {RESULTS_PATH_DIRECT, RESULTS_PATH_RELAYED,
					    RESULTS_NONE};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(words[i], w) == 0)
			return words[i];
	return NULL;
}

/* Splits line into words at blanks, in place. Returns how many (at most max). */
static size_t mx_split(char *line, char **w, size_t max)
{
	size_t n = 0;
	char *save = NULL, *t;

	for (t = strtok_r(line, " \t\r\n", &save); t && n < max;
	     t = strtok_r(NULL, " \t\r\n", &save))
		w[n++] = t;
	return n;
}

/* One row line: its label and words under the columns cols[0..n_cols). */
static int mx_row(struct mx_expect *e, char **w, size_t n, const int *cols, size_t n_cols,
		  const char *path, int line, char *err, size_t errlen)
{
	int r = mx_label(e, w[0]);

	if (r < 0) {
		snprintf(err, errlen, "%s:%d: more than %d labels", path, line, MX_EXPECT_LABELS);
		return -1;
	}
	if (n - 1 != n_cols) {
		snprintf(err, errlen, "%s:%d: %zu cells, but the first line has %zu columns", path,
			 line, n - 1, n_cols);
		return -1;
	}
	for (size_t k = 0; k < n_cols; k++) {
		const char *word = mx_word(w[k + 1]), *other = e->cell[cols[k]][r];

		if (strcmp(w[k + 1], "-") == 0)
			continue;
		if (!word) {
			snprintf(err, errlen,
				 "%s:%d: '%s' under %s: a cell is direct, relayed, none or -", path,
				 line, w[k + 1], e->labels[cols[k]]);
			return -1;
		}
		if (other && other != word) {
			snprintf(err, errlen,
				 "%s:%d: %s x %s is %s here but %s the other way round", path, line,
				 w[0], e->labels[cols[k]], word, other);
			return -1;
		}
		e->cell[r][cols[k]] = word;
	}
	return 0;
}

struct mx_expect *mx_expect_load(const char *path, char *err, size_t errlen)
{
	struct mx_expect *e = calloc(1, sizeof(*e));
	char buf[MX_LINE_MAX], *w[MX_EXPECT_LABELS + 2];
	int cols[MX_EXPECT_LABELS], line = 0, rc = 0;
	size_t n, n_cols = 0, k;
	bool header = false;
	FILE *f = fopen(path, "r");

	if (!e || !f) {
		snprintf(err, errlen, "%s: %s", path, strerror(f ? ENOMEM : errno));
		if (f)
			fclose(f);
		free(e);
		return NULL;
	}
	while (rc == 0 && fgets(buf, sizeof(buf), f)) {
		line++;
		if (buf[strspn(buf, " \t")] == '#')
			continue;
		n = mx_split(buf, w, MX_EXPECT_LABELS + 2);
		if (n == 0)
			continue;
		if (!header && n > MX_EXPECT_LABELS) {
			snprintf(err, errlen, "%s:%d: more than %d labels", path, line,
				 MX_EXPECT_LABELS);
			rc = -1;
		} else if (!header) {
			for (k = 0; k < n && rc == 0; k++)
				if ((cols[k] = mx_label(e, w[k])) < 0) {
					snprintf(err, errlen, "%s:%d: more than %d labels", path,
						 line, MX_EXPECT_LABELS);
					rc = -1;
				}
			n_cols = n;
			header = true;
		} else {
			rc = mx_row(e, w, n, cols, n_cols, path, line, err, errlen);
		}
	}
	if (rc == 0 && !header) {
		snprintf(err, errlen, "%s: no grid (a line of column labels, then rows)", path);
		rc = -1;
	}
	fclose(f);
	if (rc < 0) {
		mx_expect_free(e);
		return NULL;
	}
	return e;
}

static int mx_find(const struct mx_expect *e, const char *s)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->labels[i], s) == 0)
			return (int)i;
	return -1;
}

const char *mx_expect_get(const struct mx_expect *e, const char *x, const char *y)
{
	int i = mx_find(e, x), k = mx_find(e, y);

	if (i < 0 || k < 0)
		return NULL;
	return e->cell[i][k] ? e->cell[i][k] : e->cell[k][i];
}

size_t mx_expect_compare(const struct mx_expect *e, const struct mx_cell *cells, size_t n_cells,
			 FILE *f, size_t *compared)
{
	size_t differ = 0;

	*compared = 0;
	for (size_t i = 0; i < n_cells; i++) {
		const char *want = mx_expect_get(e, cells[i].row, cells[i].col);

		if (!want)
			continue;
		(*compared)++;
		if (strcmp(want, cells[i].path) == 0)
			continue;
		differ++;
		fprintf(f, "%s x %s (%s): expected %s, got %s\n", cells[i].row, cells[i].col,
			cells[i].pair, want, cells[i].path);
	}
	return differ;
}
