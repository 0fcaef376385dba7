/* natbed report: the page (report.h), its tables and the helpers the
 * charts share. The charts are in report_matrix.c and report_svg.c. */
#include "report.h"

#include "natbed/natinfo.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- escaping --------------------------------------------------------- */

/* The length of the UTF-8 sequence starting with byte c (1 for a stray
 * byte, which the browser shows as U+FFFD anyway). */
static size_t rp_seq_len(unsigned char c)
{
	return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/* HTML (WHATWG) §13.1.2.6: text must not hold a raw "<" or "&" that starts
 * markup, and an attribute value quoted with " or ' must not hold that
 * quote; escaping all five covers both contexts. Control characters other
 * than tab and newline are not allowed in HTML text at all. */
static void rp_escape_n(FILE *f, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
				fputs("&#xfffd;", f);
			else
				fputc(c, f);
		}
	}
}

void report_escape(FILE *f, const char *s)
{
	if (s)
		rp_escape_n(f, s, strlen(s));
}

void report_escape_cut(FILE *f, const char *s, size_t max)
{
	size_t i = 0, chars = 0, n;

	if (!s)
		return;
	for (; s[i] && chars < max; chars++)
		for (n = rp_seq_len((unsigned char)s[i]); n > 0 && s[i]; n--)
			i++;
	if (!s[i]) {
		rp_escape_n(f, s, i);
		return;
	}
	/* cut one character earlier to leave room for the ellipsis */
	for (i = 0, chars = 0; chars + 1 < max; chars++)
		for (n = rp_seq_len((unsigned char)s[i]); n > 0 && s[i]; n--)
			i++;
	rp_escape_n(f, s, i);
	fputs("\xe2\x80\xa6", f); /* U+2026 */
}

/* ---- colours and orders ----------------------------------------------- */

/* Known methods in the cascade's order (cheapest first, the relay last),
 * with a colour for the page and an SGR colour for a terminal. */
static const struct {
	const char *name, *colour, *sgr;
} rp_known[] = {
    {"direct", "#2e7d32", "32"},  {"portmap", "#00838f", "36"},	 {"punch", "#1565c0", "34"},
    {"predict", "#6a1b9a", "35"}, {"birthday", "#ad1457", "35"}, {"relay", "#e65100", "33"},
};
static const char *const rp_palette[] = {"#5d4037", "#827717", "#283593", "#c62828",
					 "#00695c", "#4e342e", "#37474f", "#9e9d24"};
/* NAT behaviours by class (natbed/natinfo.h), the least restrictive
 * first, then the pair class "same-site"; a name not among them sorts
 * after them by name. */
static const char *rp_nat_at(size_t i)
{
	if (i < NI_CLASS_UNKNOWN)
		return ni_class_name((enum ni_class)i);
	return i == NI_CLASS_UNKNOWN ? "same-site" : NULL;
}

#define RP_N(a) (sizeof(a) / sizeof((a)[0]))

static size_t rp_known_rank(const char *m)
{
	size_t i;

	for (i = 0; i < RP_N(rp_known); i++)
		if (strcmp(rp_known[i].name, m) == 0)
			return i;
	return RP_N(rp_known) + (strcmp(m, RESULTS_NONE) == 0);
}

const char *report_colour(const char *method)
{
	size_t i = rp_known_rank(method), h = 5381;

	if (i < RP_N(rp_known))
		return rp_known[i].colour;
	if (strcmp(method, RESULTS_NONE) == 0)
		return "#b0b0b0";
	for (; *method; method++)
		h = h * 33 + (unsigned char)*method;
	return rp_palette[h % RP_N(rp_palette)];
}

const char *report_sgr(const char *method)
{
	size_t i = rp_known_rank(method);

	if (i < RP_N(rp_known))
		return rp_known[i].sgr;
	return strcmp(method, RESULTS_NONE) == 0 ? "31" : "1";
}

int report_method_cmp(const char *a, const char *b)
{
	size_t ra = rp_known_rank(a), rb = rp_known_rank(b);

	if (ra != rb)
		return ra < rb ? -1 : 1;
	return strcmp(a, b);
}

int report_nat_cmp(const char *a, const char *b)
{
	size_t ra = SIZE_MAX, rb = SIZE_MAX, i;
	const char *n;

	for (i = 0; (n = rp_nat_at(i)) != NULL; i++) {
		if (strcmp(n, a) == 0)
			ra = i;
		if (strcmp(n, b) == 0)
			rb = i;
	}
	if (ra != rb)
		return ra < rb ? -1 : 1;
	return strcmp(a, b);
}

const char *report_ms(double ms, char *buf, size_t len)
{
	if (!isfinite(ms))
		snprintf(buf, len, "\xe2\x80\x93"); /* U+2013 */
	else if (ms >= 1000)
		snprintf(buf, len, "%.2f s", ms / 1000);
	else if (ms >= 100)
		snprintf(buf, len, "%.0f ms", ms);
	else if (ms >= 10)
		snprintf(buf, len, "%.1f ms", ms);
	else
		snprintf(buf, len, "%.2f ms", ms);
	return buf;
}

/* ---- tables ----------------------------------------------------------- */

static void rp_rate(FILE *f, const struct res_summary *s)
{
	if (s->attempts)
		fprintf(f, "<td>%.1f%%</td><td>%.1f&ndash;%.1f%%</td>", 100 * s->rate,
			100 * s->ci95.lo, 100 * s->ci95.hi);
	else
		fputs("<td>&ndash;</td><td>&ndash;</td>", f);
}

static void rp_summary_cells(FILE *f, const struct res_summary *s)
{
	char b1[32], b2[32], b3[32];

	fprintf(f, "<td>%u</td><td>%u</td>", s->attempts, s->successes);
	rp_rate(f, s);
	fprintf(f, "<td>%s</td><td>%s</td><td>%s</td><td>%u</td>", report_ms(s->mean, b1, 32),
		report_ms(s->p50, b2, 32), report_ms(s->p95, b3, 32), s->fallbacks);
}

static int rp_sum_cmp(const void *x, const void *y)
{
	return report_method_cmp((*(const struct res_summary *const *)x)->name,
				 (*(const struct res_summary *const *)y)->name);
}

size_t report_methods(struct results *r, const struct res_summary **out)
{
	size_t i, n = results_n_methods(r);

	for (i = 0; i < n; i++)
		out[i] = results_method(r, i);
	if (n > 1)
		qsort(out, n, sizeof(*out), rp_sum_cmp);
	return n;
}

static void rp_methods_table(struct results *r, FILE *f)
{
	size_t i, n = results_n_methods(r);
	const struct res_summary **m = calloc(n ? n : 1, sizeof(*m));

	fputs("<table id=\"methods-table\"><thead><tr><th>method</th><th>tries</th>"
	      "<th>connected</th><th>rate</th><th>95% interval</th><th>setup mean</th>"
	      "<th>p50</th><th>p95</th><th>fallbacks to it</th></tr></thead><tbody>\n",
	      f);
	n = m ? report_methods(r, m) : 0;
	for (i = 0; i < n; i++) {
		fprintf(f, "<tr><th><span class=\"sw\" style=\"background:%s\"></span>",
			report_colour(m[i]->name));
		report_escape(f, m[i]->name);
		fputs("</th>", f);
		rp_summary_cells(f, m[i]);
		fputs("</tr>\n", f);
	}
	fputs("<tr class=\"all\"><th>whole attempts</th>", f);
	rp_summary_cells(f, results_overall(r));
	fputs("</tr>\n</tbody></table>\n", f);
	free(m);
}

static void rp_pairs_table(struct results *r, FILE *f)
{
	char b1[32];
	size_t i;

	fputs("<table id=\"pairs-table\"><thead><tr><th>initiator's NAT</th><th>responder's "
	      "NAT</th><th>attempts</th><th>connected</th><th>rate</th><th>95% interval</th>"
	      "<th>setup mean</th><th>p50</th><th>p95</th><th>fallbacks</th><th>winner</th>"
	      "<th>its p50</th></tr></thead><tbody>\n",
	      f);
	for (i = 0; i < results_n_natpairs(r); i++) {
		const struct res_natpair *p = results_natpair(r, i);

		fputs("<tr><td>", f);
		report_escape(f, p->nat[0]);
		fputs("</td><td>", f);
		report_escape(f, p->nat[1]);
		fputs("</td>", f);
		rp_summary_cells(f, &p->overall);
		fprintf(f, "<td><span class=\"sw\" style=\"background:%s\"></span>",
			report_colour(p->winner.method));
		report_escape(f, p->winner.method);
		fprintf(f, "</td><td>%s</td></tr>\n", report_ms(p->winner.setup_ms, b1, 32));
	}
	fputs("</tbody></table>\n", f);
}

static void rp_flows_table(struct results *r, FILE *f)
{
	size_t i;

	fputs("<table id=\"flows-table\"><thead><tr><th>first tried</th><th>connected by</th>"
	      "<th>attempts</th></tr></thead><tbody>\n",
	      f);
	for (i = 0; i < results_n_flows(r); i++) {
		const struct res_flow *fl = results_flow(r, i);

		fputs("<tr><td>", f);
		report_escape(f, fl->from);
		fputs("</td><td>", f);
		report_escape(f, fl->to);
		fprintf(f, "</td><td>%u</td></tr>\n", fl->count);
	}
	fputs("</tbody></table>\n", f);
}

/* Failed tries counted by method and reason. */
struct rp_why {
	const char *method, *reason;
	unsigned count;
};

static int rp_why_cmp(const void *x, const void *y)
{
	const struct rp_why *a = x, *b = y;
	int c = report_method_cmp(a->method, b->method);

	if (c)
		return c;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return strcmp(a->reason, b->reason);
}

/* The failed tries' reasons (the cascade's skips are no tries): strings
 * interned by the results, so equal strings are one pointer. */
static size_t rp_whys(struct results *r, struct rp_why **out)
{
	size_t i, j, k, n = 0, cap = 0;
	struct rp_why *w = NULL, *nw;

	for (i = 0; i < results_n_attempts(r); i++) {
		const struct res_attempt *a = results_attempt(r, i);

		for (j = 0; a && j < a->n_tried; j++) {
			const char *why = a->tried[j].reason ? a->tried[j].reason : "unknown";

			if (a->tried[j].success || results_try_skipped(&a->tried[j]))
				continue;
			for (k = 0; k < n && (w[k].method != a->tried[j].method ||
					      strcmp(w[k].reason, why) != 0);
			     k++)
				;
			if (k == n && n == cap) {
				cap = cap ? 2 * cap : 16;
				if (!(nw = realloc(w, cap * sizeof(*w))))
					break;
				w = nw;
			}
			if (k == n)
				w[n++] = (struct rp_why){a->tried[j].method, why, 0};
			w[k].count++;
		}
	}
	if (n > 1)
		qsort(w, n, sizeof(*w), rp_why_cmp);
	*out = w;
	return n;
}

static void rp_whys_table(struct results *r, FILE *f)
{
	struct rp_why *w = NULL;
	size_t i, n = rp_whys(r, &w);

	if (n == 0) {
		fputs("<p>No try failed.</p>\n", f);
		free(w);
		return;
	}
	fputs("<table id=\"reasons-table\"><thead><tr><th>method</th><th>reason</th>"
	      "<th>failed tries</th></tr></thead><tbody>\n",
	      f);
	for (i = 0; i < n; i++) {
		fputs("<tr><td>", f);
		report_escape(f, w[i].method);
		fputs("</td><td>", f);
		report_escape(f, w[i].reason);
		fprintf(f, "</td><td>%u</td></tr>\n", w[i].count);
	}
	fputs("</tbody></table>\n", f);
	free(w);
}

static void rp_exhaustion(struct results *r, FILE *f)
{
	unsigned long n;
	const char *nat;
	size_t i;

	fprintf(f, "<p>%lu port-exhaustion events at the NATs", results_port_exhaustion(r));
	if (results_n_exhausted_nats(r) == 0) {
		fputs(".</p>\n", f);
		return;
	}
	fputs(":</p>\n<table id=\"exhaustion-table\"><thead><tr><th>NAT</th><th>events</th>"
	      "</tr></thead><tbody>\n",
	      f);
	for (i = 0; (nat = results_exhausted_nat(r, i, &n)); i++) {
		fputs("<tr><td>", f);
		report_escape(f, nat);
		fprintf(f, "</td><td>%lu</td></tr>\n", n);
	}
	fputs("</tbody></table>\n", f);
}

/* ---- the page --------------------------------------------------------- */

static const char rp_css[] =
    "body{font-family:sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}"
    "dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}"
    "dl.meta dt{font-weight:bold}dl.meta dd{margin:0}"
    "table{border-collapse:collapse;margin:.5em 0;font-size:.9em}"
    "th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right;white-space:nowrap}"
    "th:first-child,td:first-child{text-align:left}thead th{background:#f2f2f2}"
    "tr.all th,tr.all td{font-weight:bold}"
    ".sw{display:inline-block;width:.8em;height:.8em;margin-right:.4em;vertical-align:middle}"
    "svg{display:block;margin:.5em 0;font-family:monospace;font-size:12px}"
    "p.note{color:#555;font-size:.9em}";

static void rp_meta(struct results *r, FILE *f)
{
	const struct res_summary *o = results_overall(r);
	double wall = results_wall(r);
	const char *k, *v;
	size_t i;

	fputs("<dl class=\"meta\">\n<dt>topology</dt><dd>", f);
	report_escape(f, results_topology(r));
	fprintf(f, "</dd>\n<dt>seed</dt><dd>%" PRIu64 "</dd>\n<dt>started</dt><dd>",
		results_seed(r));
	report_escape(f, results_started(r));
	fputs("</dd>\n<dt>natbed</dt><dd>", f);
	report_escape(f, results_natbed_version(r));
	fputs("</dd>\n", f);
	if (results_mode(r))
		fprintf(f, "<dt>mode</dt><dd>%s</dd>\n",
			strcmp(results_mode(r), "sim") == 0
			    ? "sim: natbed sim, every time virtual but the wall time"
			    : "run: natbed run, real packets through natbed-emu");
	if (isfinite(wall))
		fprintf(f, "<dt>wall time</dt><dd>%.1f s (%.2f attempts/s)</dd>\n", wall,
			wall > 0 ? results_n_attempts(r) / wall : 0.0);
	fprintf(f, "<dt>attempts</dt><dd>%u, %u connected", o->attempts, o->successes);
	if (o->attempts)
		fprintf(f, " (%.1f%%, 95%% interval %.1f&ndash;%.1f%%)", 100 * o->rate,
			100 * o->ci95.lo, 100 * o->ci95.hi);
	fprintf(f, ", %u after a fallback</dd>\n", o->fallbacks);
	for (i = 0; (k = results_option(r, i, &v)); i++) {
		if (strcmp(k, "seed") == 0)
			continue; /* given above */
		fputs("<dt>", f);
		report_escape(f, k);
		fputs("</dt><dd>", f);
		report_escape(f, v);
		fputs("</dd>\n", f);
	}
	fputs("</dl>\n", f);
}

int report_render(struct results *r, FILE *f)
{
	const char *cmd = results_mode(r) && strcmp(results_mode(r), "sim") == 0 ? "sim" : "run";

	if (!results_overall(r))
		return -ENOMEM;
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      /* nothing may be fetched: no script, font, image or style from anywhere */
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'\">\n<title>",
	      f);
	fprintf(f, "natbed %s: ", cmd);
	report_escape(f, results_topology(r));
	fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>natbed %s: ", rp_css, cmd);
	report_escape(f, results_topology(r));
	fputs("</h1>\n", f);
	rp_meta(r, f);
	fputs("<h2>Matrix: the method that connected each pair</h2>\n", f);
	report_svg_matrix(r, f);
	fputs("<h2>Success rate per method, with its 95% Wilson interval</h2>\n", f);
	report_svg_rates(r, f);
	fputs("<h2>Setup time of successful tries per method</h2>\n", f);
	report_svg_setup(r, f);
	fputs("<p class=\"note\">Box from p25 to p75, the line at p50 (nearest rank), whiskers "
	      "to the fastest and slowest try, a diamond at the mean; each dot is one try.</p>\n"
	      "<h2>Fallback flows: first method tried to the one that connected</h2>\n",
	      f);
	report_svg_flows(r, f);
	rp_flows_table(r, f);
	report_gate_section(r, f);
	fputs("<h2>Methods</h2>\n", f);
	rp_methods_table(r, f);
	fputs("<h2>Pairs of NAT behaviours</h2>\n", f);
	rp_pairs_table(r, f);
	fputs("<h2>Why tries failed</h2>\n", f);
	rp_whys_table(r, f);
	fputs("<h2>Port exhaustion</h2>\n", f);
	rp_exhaustion(r, f);
	fputs("<p class=\"note\">Written by natbed ", f);
	report_escape(f, results_natbed_version(r));
	fputs(" from results.json; docs/results.md explains every number.</p>\n</body>\n</html>\n",
	      f);
	return ferror(f) ? -EIO : 0;
}

int report_write(struct results *r, const char *path, char *err, size_t errlen)
{
	return results_write_file(r, path, report_render, err, errlen);
}
