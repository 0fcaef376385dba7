/* natbed report: the charts beside the matrix, each one inline <svg>:
 * success rates with their 95% intervals, setup-time distributions on a
 * shared axis, the fallback flows, and auth-time distributions per trust
 * level at zero-trust gates. */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define RS_CHAR_W    7.3 /* px per character of 12 px monospace */
#define RS_PLOT_W    480 /* px: the axis of rates and setup times */
#define RS_NOTE_W    360 /* px: the numbers right of a row */
#define RS_DOTS_MAX  400 /* dots per method in the strip plot */
#define RS_FLOW_GAP  10	 /* px between two nodes of a flow column */
#define RS_FLOW_SPAN 360 /* px between the two columns */
#define RS_FLOW_NODE 12	 /* px: a node's width */

static size_t rs_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n < REPORT_LABEL_MAX ? n : REPORT_LABEL_MAX;
}

/* Room for the longest of the run's method names, or of min characters. */
static double rs_label_w(const struct res_summary **m, size_t n, size_t min)
{
	size_t i, c = min;

	for (i = 0; i < n; i++)
		c = rs_chars(m[i]->name) > c ? rs_chars(m[i]->name) : c;
	return 16 + RS_CHAR_W * c;
}

static const struct res_summary **rs_methods(struct results *r, size_t *n)
{
	const struct res_summary **m = calloc(results_n_methods(r) + 1, sizeof(*m));

	*n = m ? report_methods(r, m) : 0;
	return m;
}

static void rs_label(FILE *f, double x, double y, const char *text)
{
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", x, y);
	report_escape_cut(f, text, REPORT_LABEL_MAX);
	fputs("</text>", f);
}

/* ---- success rates ---------------------------------------------------- */

static void rs_rate_row(FILE *f, const struct res_summary *s, const char *label, double x0,
			double y)
{
	double cy = y + 11;

	fputs("<g class=\"rate\" data-method=\"", f);
	report_escape(f, label);
	fputs("\"><title>", f);
	report_escape(f, label);
	if (s->attempts)
		fprintf(f, ": %u of %u (%.1f%%), 95%% interval %.1f\xe2\x80\x93%.1f%%</title>",
			s->successes, s->attempts, 100 * s->rate, 100 * s->ci95.lo,
			100 * s->ci95.hi);
	else
		fputs(": not tried</title>", f);
	rs_label(f, x0 - 8, cy + 4, label);
	if (s->attempts) {
		double lo = x0 + RS_PLOT_W * s->ci95.lo, hi = x0 + RS_PLOT_W * s->ci95.hi;

		fprintf(f,
			"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"14\" fill=\"%s\"/>"
			"<path d=\"M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f\" stroke=\"#222\" "
			"stroke-width=\"1.5\" fill=\"none\"/>",
			x0, cy - 7, RS_PLOT_W * s->rate, report_colour(s->name ? s->name : label),
			lo, cy, hi, lo, cy - 6, cy + 6, hi, cy - 6, cy + 6);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%u/%u  %.1f%%  [%.1f, %.1f]</text>",
			x0 + RS_PLOT_W + 10, cy + 4, s->successes, s->attempts, 100 * s->rate,
			100 * s->ci95.lo, 100 * s->ci95.hi);
	}
	fputs("</g>\n", f);
}

void report_svg_rates(struct results *r, FILE *f)
{
	size_t i, n;
	const struct res_summary **m = rs_methods(r, &n);
	double lw = m ? rs_label_w(m, n, 14) : 0, h = 30 + 26 * (n + 1) + 10, x;

	if (!m)
		return;
	fprintf(f,
		"<svg id=\"rates\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
		"role=\"img\" aria-label=\"success rate per method\">\n",
		lw + RS_PLOT_W + RS_NOTE_W, h, lw + RS_PLOT_W + RS_NOTE_W, h);
	for (i = 0; i <= 4; i++) {
		x = lw + RS_PLOT_W * i / 4.0;
		fprintf(
		    f,
		    "<line x1=\"%.1f\" y1=\"20\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
		    "<text x=\"%.1f\" y=\"14\" text-anchor=\"middle\" fill=\"#555\">%zu%%</text>\n",
		    x, x, h - 8, x, i * 25);
	}
	rs_rate_row(f, results_overall(r), "whole attempts", lw, 26);
	for (i = 0; i < n; i++)
		rs_rate_row(f, m[i], m[i]->name, lw, 26 + 26 * (i + 1));
	fputs("</svg>\n", f);
	free(m);
}

/* ---- distributions: setup times, auth times ---------------------------- */

/* A tick step giving at most about six ticks up to max. */
static double rs_step(double max)
{
	double raw = max / 5, e = pow(10, floor(log10(raw))), k = raw / e;

	return e * (k <= 1 ? 1 : k <= 2 ? 2 : k <= 5 ? 5 : 10);
}

/* One row of a distribution chart: its sorted values and what they sum
 * up to. */
struct rs_dist {
	const char *label;  /* shown left of the row */
	const char *key;    /* the row's data-KEY attribute value (NULL: the label) */
	const char *colour; /* the box's fill */
	const double *v;    /* ascending */
	size_t n;
	double p50, p95, mean;
};

static void rs_box(FILE *f, const struct rs_dist *d, double x0, double scale, double y)
{
	const double *v = d->v;
	double cy = y + 14, q1 = stats_percentile(v, d->n, 25);
	double q3 = stats_percentile(v, d->n, 75), mean = x0 + scale * d->mean;
	size_t i, every = d->n / RS_DOTS_MAX + 1;
	char b1[32], b2[32], b3[32];

	fprintf(f,
		"<path d=\"M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f\" stroke=\"#333\" "
		"fill=\"none\"/>"
		"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" fill=\"%s\" "
		"fill-opacity=\"0.5\" stroke=\"#333\"/>"
		"<path d=\"M%.1f %.1fV%.1f\" stroke=\"#000\" stroke-width=\"2\"/>"
		"<path d=\"M%.1f %.1fl4 4l-4 4l-4 -4z\" fill=\"#fff\" stroke=\"#000\"/>",
		x0 + scale * v[0], cy, x0 + scale * v[d->n - 1], x0 + scale * v[0], cy - 5, cy + 5,
		x0 + scale * v[d->n - 1], cy - 5, cy + 5, x0 + scale * q1, cy - 8,
		scale * (q3 - q1), d->colour, x0 + scale * d->p50, cy - 8, cy + 8, mean, cy - 4);
	/* one dot per value over the box, spread over the row by a fixed pattern */
	for (i = 0; i < d->n; i += every)
		fprintf(f,
			"<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"#222\" opacity=\"0.45\"/>",
			x0 + scale * v[i], cy - 10 + (double)((i * 7919) % 21));
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">n=%zu p50 %s p95 %s mean %s</text>",
		x0 + RS_PLOT_W + 10, cy + 4, d->n, report_ms(d->p50, b1, 32),
		report_ms(d->p95, b2, 32), report_ms(d->mean, b3, 32));
}

/* What a distribution chart says: its id, its label for a screen reader,
 * the attribute naming a row, what a value is, and what a row without
 * values and a chart without rows show. */
struct rs_chart {
	const char *id, *aria, *attr, *what, *none, *empty;
};

/* Rows d[0..n) on one shared time axis, each a box plot over a strip of
 * its values; lw: the labels' width. */
static void rs_dists(FILE *f, const struct rs_chart *c, const struct rs_dist *d, size_t n,
		     double lw)
{
	double h = 30 + 34 * (n ? n : 1) + 10, max = 0, step, top, x;
	size_t i;

	for (i = 0; i < n; i++)
		if (d[i].n && d[i].v[d[i].n - 1] > max)
			max = d[i].v[d[i].n - 1];
	step = rs_step(max > 0 ? max : 1);
	top = ceil((max > 0 ? max : 1) / step) * step;
	fprintf(f,
		"<svg id=\"%s\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
		"role=\"img\" aria-label=\"%s\">\n",
		c->id, lw + RS_PLOT_W + RS_NOTE_W, h, lw + RS_PLOT_W + RS_NOTE_W, h, c->aria);
	for (x = 0; x <= top + step / 2; x += step) {
		char b[32];

		fprintf(
		    f,
		    "<line x1=\"%.1f\" y1=\"20\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
		    "<text x=\"%.1f\" y=\"14\" text-anchor=\"middle\" fill=\"#555\">%s</text>\n",
		    lw + RS_PLOT_W * x / top, lw + RS_PLOT_W * x / top, h - 8,
		    lw + RS_PLOT_W * x / top, x > 0 ? report_ms(x, b, sizeof(b)) : "0");
	}
	for (i = 0; i < n; i++) {
		fprintf(f, "<g class=\"dist\" data-%s=\"", c->attr);
		report_escape(f, d[i].key ? d[i].key : d[i].label);
		fputs("\"><title>", f);
		report_escape(f, d[i].label);
		fprintf(f, ": %zu %s</title>", d[i].n, c->what);
		rs_label(f, lw - 8, 30 + 34 * i + 18, d[i].label);
		if (d[i].n)
			rs_box(f, &d[i], lw, RS_PLOT_W / top, 30 + 34 * i);
		else
			fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555\">%s</text>", lw + 4,
				30 + 34.0 * i + 18, c->none);
		fputs("</g>\n", f);
	}
	if (n == 0)
		fprintf(f, "<text x=\"%.1f\" y=\"48\">%s</text>\n", lw, c->empty);
	fputs("</svg>\n", f);
}

void report_svg_setup(struct results *r, FILE *f)
{
	static const struct rs_chart c = {
	    "setup", "setup time per method", "method", "successful tries", "no successful try",
	    "no try"};
	size_t i, n;
	const struct res_summary **m = rs_methods(r, &n);
	struct rs_dist *d = calloc(n + 1, sizeof(*d));

	if (m && d) {
		for (i = 0; i < n; i++)
			d[i] = (struct rs_dist){
			    m[i]->name,	    NULL,	   report_colour(m[i]->name),
			    m[i]->setup_ms, m[i]->n_setup, m[i]->p50,
			    m[i]->p95,	    m[i]->mean};
		rs_dists(f, &c, d, n, rs_label_w(m, n, 8));
	}
	free(d);
	free(m);
}

void report_svg_auth(struct results *r, FILE *f)
{
	static const struct rs_chart c = {
	    "auth",	  "auth time per trust level", "trust",
	    "auth times", "no auth time known",	       "no gated attempt"};
	size_t i, n = results_n_gate_levels(r), chars = 8;
	struct rs_dist *d = calloc(n + 1, sizeof(*d));
	const struct res_gatesum *s;

	if (!d)
		return;
	for (i = 0; i < n && (s = results_gate_level(r, i)); i++) {
		d[i] = (struct rs_dist){report_trust_label(s->name),
					s->name ? s->name : "",
					report_trust_colour(s->name),
					s->auth_ms,
					s->n_auth,
					s->p50,
					s->p95,
					s->mean};
		chars = rs_chars(d[i].label) > chars ? rs_chars(d[i].label) : chars;
	}
	rs_dists(f, &c, d, n, 16 + RS_CHAR_W * chars);
	free(d);
}

/* ---- fallback flows --------------------------------------------------- */

struct rs_node {
	const char *name;
	unsigned total;
	double y, used; /* top, and how much of its height bands took so far */
};

struct rs_band {
	const struct res_flow *flow;
	size_t from, to;     /* nodes */
	double y_from, y_to; /* tops of the band at either end */
};

static size_t rs_node(struct rs_node *nodes, size_t *n, const char *name)
{
	size_t i, j;

	for (i = 0; i < *n; i++)
		if (strcmp(nodes[i].name, name) == 0)
			return i;
	for (i = 0; i < *n && report_method_cmp(nodes[i].name, name) < 0; i++)
		;
	for (j = (*n)++; j > i; j--)
		nodes[j] = nodes[j - 1];
	nodes[i] = (struct rs_node){name, 0, 0, 0};
	return i;
}

static size_t rs_find(const struct rs_node *nodes, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n && strcmp(nodes[i].name, name) != 0; i++)
		;
	return i;
}

/* Stacks each column's nodes from the top with a gap between them. */
static void rs_stack(struct rs_node *nodes, size_t n, double y, double scale)
{
	size_t i;

	for (i = 0; i < n; i++) {
		nodes[i].y = y;
		y += nodes[i].total * scale + RS_FLOW_GAP;
	}
}

static int rs_band_cmp_from(const void *x, const void *y)
{
	const struct rs_band *a = x, *b = y;

	if (a->from != b->from)
		return a->from < b->from ? -1 : 1;
	return (a->to > b->to) - (a->to < b->to);
}

static int rs_band_cmp_to(const void *x, const void *y)
{
	const struct rs_band *a = x, *b = y;

	if (a->to != b->to)
		return a->to < b->to ? -1 : 1;
	return (a->from > b->from) - (a->from < b->from);
}

static void rs_node_svg(FILE *f, const struct rs_node *nd, double x, double scale, bool left)
{
	fprintf(f,
		"<g class=\"node\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" "
		"fill=\"%s\"/>",
		x, nd->y, RS_FLOW_NODE, nd->total * scale > 1 ? nd->total * scale : 1,
		report_colour(nd->name));
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">",
		left ? x - 6 : x + RS_FLOW_NODE + 6, nd->y + nd->total * scale / 2 + 4,
		left ? "end" : "start");
	report_escape_cut(f, nd->name, REPORT_LABEL_MAX);
	fprintf(f, " %u</text></g>\n", nd->total);
}

static void rs_band_svg(FILE *f, const struct rs_band *b, const struct rs_node *to, double x1,
			double x2, double scale)
{
	double h = b->flow->count * scale, xm = (x1 + x2) / 2;

	fputs("<g class=\"flow\"><title>", f);
	report_escape(f, b->flow->from);
	fputs(" \xe2\x86\x92 ", f);
	report_escape(f, b->flow->to);
	fprintf(f, ": %u attempts</title>", b->flow->count);
	fprintf(f,
		"<path d=\"M%.1f %.1fC%.1f %.1f %.1f %.1f %.1f %.1fL%.1f %.1fC%.1f %.1f %.1f %.1f "
		"%.1f %.1fZ\" fill=\"%s\" fill-opacity=\"0.45\" stroke=\"%s\" "
		"stroke-opacity=\"0.6\" stroke-width=\"0.5\"/>",
		x1, b->y_from, xm, b->y_from, xm, b->y_to, x2, b->y_to, x2, b->y_to + h, xm,
		b->y_to + h, xm, b->y_from + h, x1, b->y_from + h, report_colour(to->name),
		report_colour(to->name));
	if (h >= 12)
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%u</text>", xm,
			(b->y_from + b->y_to + h) / 2 + 4, b->flow->count);
	fputs("</g>\n", f);
}

void report_svg_flows(struct results *r, FILE *f)
{
	size_t i, n = results_n_flows(r), nl = 0, nr = 0, k;
	struct rs_node *left = calloc(n + 1, sizeof(*left)), *right = calloc(n + 1, sizeof(*right));
	struct rs_band *bands = calloc(n + 1, sizeof(*bands));
	double lw = 16, rw = 16, h, scale, x1, x2;
	unsigned total = 0;

	if (!left || !right || !bands)
		goto done;
	for (i = 0; i < n; i++) {
		const struct res_flow *fl = results_flow(r, i);

		rs_node(left, &nl, fl->from);
		rs_node(right, &nr, fl->to);
		total += fl->count;
	}
	for (i = 0; i < n; i++) {
		const struct res_flow *fl = results_flow(r, i);

		bands[i] = (struct rs_band){fl, rs_find(left, nl, fl->from),
					    rs_find(right, nr, fl->to), 0, 0};
		left[bands[i].from].total += fl->count;
		right[bands[i].to].total += fl->count;
	}
	k = nl > nr ? nl : nr;
	h = k * 34 < 160 ? 160 : k * 34.0;
	scale = total ? (h - RS_FLOW_GAP * (k ? k - 1 : 0)) / total : 0;
	for (i = 0; i < nl; i++)
		lw = 24 + RS_CHAR_W * (rs_chars(left[i].name) + 6) > lw
			 ? 24 + RS_CHAR_W * (rs_chars(left[i].name) + 6)
			 : lw;
	for (i = 0; i < nr; i++)
		rw = 24 + RS_CHAR_W * (rs_chars(right[i].name) + 6) > rw
			 ? 24 + RS_CHAR_W * (rs_chars(right[i].name) + 6)
			 : rw;
	rs_stack(left, nl, 10, scale);
	rs_stack(right, nr, 10, scale);
	/* the left ends stack by from, then to; the right ends by to, then
	 * from: bands out of or into one node do not cross */
	qsort(bands, n, sizeof(*bands), rs_band_cmp_from);
	for (i = 0; i < n; i++) {
		bands[i].y_from = left[bands[i].from].y + left[bands[i].from].used;
		left[bands[i].from].used += bands[i].flow->count * scale;
	}
	qsort(bands, n, sizeof(*bands), rs_band_cmp_to);
	for (i = 0; i < n; i++) {
		bands[i].y_to = right[bands[i].to].y + right[bands[i].to].used;
		right[bands[i].to].used += bands[i].flow->count * scale;
	}
	x1 = lw + RS_FLOW_NODE;
	x2 = lw + RS_FLOW_NODE + RS_FLOW_SPAN;
	fprintf(f,
		"<svg id=\"flows\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
		"role=\"img\" aria-label=\"fallback flows\">\n",
		x2 + RS_FLOW_NODE + rw, h + 20, x2 + RS_FLOW_NODE + rw, h + 20);
	for (i = 0; i < n; i++)
		rs_band_svg(f, &bands[i], &right[bands[i].to], x1, x2, scale);
	for (i = 0; i < nl; i++)
		rs_node_svg(f, &left[i], lw, scale, true);
	for (i = 0; i < nr; i++)
		rs_node_svg(f, &right[i], x2, scale, false);
	if (n == 0)
		fputs("<text x=\"16\" y=\"40\">no attempt tried a method</text>\n", f);
	fputs("</svg>\n", f);
done:
	free(left);
	free(right);
	free(bands);
}
