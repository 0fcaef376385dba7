/* natbed report: the matrix, as an SVG grid for the page and as a text
 * table for a terminal. Both come from one grid: hosts (or, past
 * REPORT_GRID_HOSTS, NAT behaviours) on both axes, the initiator's row and
 * the responder's column; a pair tried in one direction only fills the
 * mirrored cell too, saying so. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#define RM_CELL_W    104 /* px */
#define RM_CELL_H    44
#define RM_CHAR_W    7.3 /* px per character of 12 px monospace */
#define RM_CELL_CUT  13	 /* characters of a method name in a cell */
#define RM_LABEL_MAX 24	 /* characters of a row's name */

struct rm_axis {
	const char *name; /* a host, or a NAT behaviour */
	const char *nat;  /* the host's NAT behaviour; NULL by behaviour */
};

struct rm_cell {
	bool present, mirrored;
	unsigned attempts, successes;
	struct res_winner winner;
};

struct rm_grid {
	bool by_nat;
	struct rm_axis *ax;
	size_t n;
	struct rm_cell *cell; /* n * n, row-major: [initiator][responder] */
};

static size_t rm_find(const struct rm_grid *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->ax[i].name, name) == 0)
			return i;
	return g->n;
}

/* Adds name to the axis unless there; false when the axis is full. */
static bool rm_axis_add(struct rm_grid *g, size_t cap, const char *name, const char *nat)
{
	if (rm_find(g, name) < g->n)
		return true;
	if (g->n == cap)
		return false;
	g->ax[g->n++] = (struct rm_axis){name, nat};
	return true;
}

static int rm_axis_cmp(const void *x, const void *y)
{
	const struct rm_axis *a = x, *b = y;
	int c = report_nat_cmp(a->nat ? a->nat : a->name, b->nat ? b->nat : b->name);

	return c ? c : strcmp(a->name, b->name);
}

static void rm_set(struct rm_grid *g, const char *a, const char *b, unsigned attempts,
		   unsigned successes, const struct res_winner *w)
{
	size_t i = rm_find(g, a), j = rm_find(g, b);

	if (i < g->n && j < g->n)
		g->cell[i * g->n + j] = (struct rm_cell){true, false, attempts, successes, *w};
}

/* The grid of r; false on ENOMEM. */
/* The grid by host, or by NAT behaviour past max_hosts hosts. */
static bool rm_build(struct results *r, struct rm_grid *g, size_t max_hosts)
{
	size_t i, j, n_cells = results_n_cells(r), n_pairs = results_n_natpairs(r);
	size_t cap = 2 * (n_pairs > max_hosts ? n_pairs : max_hosts);

	memset(g, 0, sizeof(*g));
	if (!(g->ax = calloc(cap, sizeof(*g->ax))))
		return false;
	for (i = 0; i < n_cells; i++) {
		const struct res_cell *c = results_cell(r, i);

		if (!rm_axis_add(g, max_hosts, c->a, c->nat_a) ||
		    !rm_axis_add(g, max_hosts, c->b, c->nat_b)) {
			g->by_nat = true;
			break;
		}
	}
	if (g->by_nat) {
		g->n = 0;
		for (i = 0; i < n_pairs; i++) {
			rm_axis_add(g, cap, results_natpair(r, i)->nat[0], NULL);
			rm_axis_add(g, cap, results_natpair(r, i)->nat[1], NULL);
		}
	}
	qsort(g->ax, g->n, sizeof(*g->ax), rm_axis_cmp);
	if (g->n && !(g->cell = calloc(g->n * g->n, sizeof(*g->cell)))) {
		free(g->ax);
		return false;
	}
	for (i = 0; g->by_nat && i < n_pairs; i++) {
		const struct res_natpair *p = results_natpair(r, i);

		rm_set(g, p->nat[0], p->nat[1], p->overall.attempts, p->overall.successes,
		       &p->winner);
	}
	for (i = 0; !g->by_nat && i < n_cells; i++) {
		const struct res_cell *c = results_cell(r, i);

		rm_set(g, c->a, c->b, c->attempts, c->successes, &c->winner);
	}
	for (i = 0; i < g->n; i++)
		for (j = 0; j < g->n; j++)
			if (!g->cell[i * g->n + j].present && g->cell[j * g->n + i].present &&
			    !g->cell[j * g->n + i].mirrored) {
				g->cell[i * g->n + j] = g->cell[j * g->n + i];
				g->cell[i * g->n + j].mirrored = true;
			}
	return true;
}

static void rm_free(struct rm_grid *g)
{
	free(g->ax);
	free(g->cell);
}

/* ---- SVG -------------------------------------------------------------- */

static size_t rm_chars(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n < max ? n : max;
}

static void rm_svg_label(FILE *f, const struct rm_axis *a)
{
	report_escape_cut(f, a->name, REPORT_LABEL_MAX);
}

static void rm_svg_title(FILE *f, const struct rm_grid *g, size_t i, size_t j,
			 const struct rm_cell *c)
{
	char ms[32];

	fputs("<title>", f);
	report_escape(f, g->ax[i].name);
	if (g->ax[i].nat) {
		fputs(" (", f);
		report_escape(f, g->ax[i].nat);
		fputs(")", f);
	}
	fputs(" \xe2\x86\x92 ", f); /* → */
	report_escape(f, g->ax[j].name);
	if (g->ax[j].nat) {
		fputs(" (", f);
		report_escape(f, g->ax[j].nat);
		fputs(")", f);
	}
	if (!c->present) {
		fputs(": not attempted</title>", f);
		return;
	}
	fputs(": ", f);
	report_escape(f, c->winner.method);
	fprintf(f, ", p50 %s, %u of %u connected%s</title>",
		report_ms(c->winner.setup_ms, ms, sizeof(ms)), c->successes, c->attempts,
		c->mirrored ? " (attempted the other way round)" : "");
}

static void rm_svg_cell(FILE *f, const struct rm_grid *g, size_t i, size_t j, double x, double y)
{
	const struct rm_cell *c = &g->cell[i * g->n + j];
	bool none = c->present && strcmp(c->winner.method, RESULTS_NONE) == 0;
	const char *fill = c->present ? report_colour(c->winner.method) : "#f4f4f4";
	char ms[32];

	fputs("<g class=\"cell\" data-a=\"", f);
	report_escape(f, g->ax[i].name);
	fputs("\" data-b=\"", f);
	report_escape(f, g->ax[j].name);
	fputs("\" data-winner=\"", f);
	report_escape(f, c->present ? c->winner.method : "");
	fprintf(f, "\"%s>", c->mirrored ? " data-mirrored=\"1\"" : "");
	rm_svg_title(f, g, i, j, c);
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"%s\"%s/>", x, y,
		RM_CELL_W - 2, RM_CELL_H - 2, fill, c->mirrored ? " fill-opacity=\"0.75\"" : "");
	if (!c->present) {
		fprintf(f,
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#999\">"
			"\xe2\x80\x93</text></g>\n",
			x + RM_CELL_W / 2.0, y + RM_CELL_H / 2.0 + 4);
		return;
	}
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"%s\">",
		x + RM_CELL_W / 2.0, y + 17, none ? "#222" : "#fff");
	report_escape_cut(f, c->winner.method, RM_CELL_CUT);
	fprintf(f, "</text><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"%s\">",
		x + RM_CELL_W / 2.0, y + 33, none ? "#222" : "#fff");
	if (c->successes < c->attempts)
		fprintf(f, "%u/%u ", c->successes, c->attempts);
	fprintf(f, "%s</text></g>\n", none ? "" : report_ms(c->winner.setup_ms, ms, sizeof(ms)));
}

/* The methods that won a cell, in display order, then "none" if any. */
static size_t rm_winners(const struct rm_grid *g, const char **out)
{
	size_t i, j, k, n = 0;

	for (i = 0; i < g->n * g->n; i++) {
		const char *m = g->cell[i].winner.method;

		if (!g->cell[i].present)
			continue;
		for (j = 0; j < n && strcmp(out[j], m) != 0; j++)
			;
		if (j < n)
			continue;
		for (j = 0; j < n && report_method_cmp(out[j], m) < 0; j++)
			;
		for (k = n++; k > j; k--)
			out[k] = out[k - 1];
		out[j] = m;
	}
	return n;
}

static double rm_legend_item(const char *m)
{
	return 22 + RM_CHAR_W * rm_chars(m, REPORT_LABEL_MAX) + 18;
}

/* The legend's swatches from y, wrapped at width; or, with f NULL, only
 * how many rows it takes. */
static size_t rm_svg_legend(FILE *f, const char **w, size_t n, double y, double width)
{
	size_t i, rows = 1;
	double x = 0;

	if (f)
		fputs("<g class=\"legend\">", f);
	for (i = 0; i < n; i++) {
		if (x > 0 && x + rm_legend_item(w[i]) > width)
			x = 0, y += 20, rows++;
		if (f) {
			fprintf(
			    f,
			    "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"%s\"/>"
			    "<text x=\"%.1f\" y=\"%.1f\">",
			    x, y, report_colour(w[i]), x + 20, y + 11);
			report_escape_cut(f, w[i], REPORT_LABEL_MAX);
			fputs("</text>", f);
		}
		x += rm_legend_item(w[i]);
	}
	if (f)
		fputs("</g>\n", f);
	return rows;
}

void report_svg_matrix(struct results *r, FILE *f)
{
	size_t i, j, label = 8, n_w;
	struct rm_grid g;
	double lw, hh, width, height;
	const char **w;

	if (!rm_build(r, &g, REPORT_GRID_HOSTS))
		return;
	if (!(w = calloc(g.n * g.n + 1, sizeof(*w)))) {
		rm_free(&g);
		return;
	}
	n_w = rm_winners(&g, w);
	for (i = 0; i < g.n; i++) {
		size_t c = rm_chars(g.ax[i].name, REPORT_LABEL_MAX);

		if (g.ax[i].nat && rm_chars(g.ax[i].nat, REPORT_LABEL_MAX) > c)
			c = rm_chars(g.ax[i].nat, REPORT_LABEL_MAX);
		label = c > label ? c : label;
	}
	lw = 16 + RM_CHAR_W * label;
	hh = 24 + RM_CHAR_W * label * 0.72; /* column labels at -45° */
	width = lw + RM_CELL_W * g.n + RM_CHAR_W * label * 0.72 + 10;
	if (width < 480)
		width = 480;
	height = hh + RM_CELL_H * g.n + 16 + 20 * rm_svg_legend(NULL, w, n_w, 0, width - lw) + 8;
	fprintf(f,
		"<svg id=\"matrix\" class=\"%s\" width=\"%.0f\" height=\"%.0f\" "
		"viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"matrix of the method that "
		"connected each pair\">\n<text x=\"4\" y=\"14\" fill=\"#555\">%s</text>\n",
		g.by_nat ? "by-nat" : "by-host", width, height, width, height,
		g.by_nat ? "rows: initiator's NAT, columns: responder's"
			 : "rows: initiator, columns: responder");
	for (i = 0; i < g.n; i++) {
		double cy = hh + RM_CELL_H * i, cx = lw + RM_CELL_W * i + RM_CELL_W / 2.0;

		fprintf(f, "<text class=\"row\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", lw - 8,
			cy + (g.ax[i].nat ? 17 : 25));
		rm_svg_label(f, &g.ax[i]);
		fputs("</text>", f);
		if (g.ax[i].nat) {
			fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#666\">",
				lw - 8, cy + 33);
			report_escape_cut(f, g.ax[i].nat, REPORT_LABEL_MAX);
			fputs("</text>", f);
		}
		fprintf(f, "<text class=\"col\" transform=\"translate(%.1f %.1f) rotate(-45)\">",
			cx, hh - 8);
		rm_svg_label(f, &g.ax[i]);
		fputs("</text>\n", f);
	}
	for (i = 0; i < g.n; i++)
		for (j = 0; j < g.n; j++)
			rm_svg_cell(f, &g, i, j, lw + RM_CELL_W * j, hh + RM_CELL_H * i);
	if (g.n == 0)
		fprintf(f, "<text x=\"4\" y=\"%.1f\">no attempt</text>\n", hh);
	fprintf(f, "<g transform=\"translate(%.1f 0)\">", lw);
	rm_svg_legend(f, w, n_w, hh + RM_CELL_H * g.n + 16, width - lw);
	fputs("</g></svg>\n", f);
	free(w);
	rm_free(&g);
}

/* ---- text ------------------------------------------------------------- */

/* s cut to width characters and padded to it; control characters, which
 * could drive the terminal, as '?'. */
static void rm_text(FILE *f, const char *s, size_t width)
{
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool lead = (c & 0xc0) != 0x80; /* a character counts at its first byte */

		if (lead && n == width)
			break;
		n += lead;
		fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
	}
	for (; n < width; n++)
		fputc(' ', f);
}

/* Cell (i, j)'s text into buf: the winning method and its setup time,
 * "none", or "-" for a pair never tried. */
static const char *rm_cell_text(const struct rm_grid *g, size_t i, size_t j, char *buf, size_t len)
{
	const struct rm_cell *c = &g->cell[i * g->n + j];
	char ms[32];

	if (!c->present)
		return "-";
	snprintf(buf, len, "%s %s", c->winner.method,
		 strcmp(c->winner.method, RESULTS_NONE) == 0
		     ? ""
		     : report_ms(c->winner.setup_ms, ms, sizeof(ms)));
	return buf;
}

void report_print_matrix(struct results *r, FILE *f, bool colour)
{
	char cell[96];
	size_t i, j, label = 4, col = 1, n;
	struct rm_grid g;

	if (!rm_build(r, &g, REPORT_TEXT_HOSTS))
		return;
	/* every name and cell whole (names up to RM_LABEL_MAX) */
	for (i = 0; i < g.n; i++) {
		n = rm_chars(g.ax[i].name, RM_LABEL_MAX);
		label = n > label ? n : label;
		col = n > col ? n : col;
		for (j = 0; j < g.n; j++) {
			n = rm_chars(rm_cell_text(&g, i, j, cell, sizeof(cell)), sizeof(cell));
			col = n > col ? n : col;
		}
	}
	rm_text(f, g.by_nat ? "NAT" : "", label + 2);
	for (j = 0; j < g.n; j++) {
		rm_text(f, g.ax[j].name, col);
		fputc(' ', f);
	}
	fputc('\n', f);
	for (i = 0; i < g.n; i++) {
		rm_text(f, g.ax[i].name, label + 2);
		for (j = 0; j < g.n; j++) {
			const struct rm_cell *c = &g.cell[i * g.n + j];

			const char *text = rm_cell_text(&g, i, j, cell, sizeof(cell));

			if (colour && c->present)
				fprintf(f, "\033[%sm", report_sgr(c->winner.method));
			rm_text(f, text, col);
			fputs(colour && c->present ? "\033[0m " : " ", f);
		}
		fputc('\n', f);
	}
	rm_free(&g);
}
