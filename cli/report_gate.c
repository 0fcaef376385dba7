/* natbed report: zero-trust gates (docs/gate.md) on the page and as text:
 * auth times per trust level and per method, and the share of attempts
 * the gate stopped (results.h, struct res_gatesum). */
#include "report.h"

#include <stdio.h>
#include <string.h>

/* Trust levels in their order, red to green. */
static const struct {
	const char *name, *colour;
} rg_levels[] = {
    {"untrusted", "#c62828"}, {"low", "#ef6c00"},      {"medium", "#f9a825"},
    {"high", "#7cb342"},      {"verified", "#2e7d32"},
};

const char *report_trust_colour(const char *level)
{
	size_t i;

	for (i = 0; level && i < sizeof(rg_levels) / sizeof(rg_levels[0]); i++)
		if (strcmp(level, rg_levels[i].name) == 0)
			return rg_levels[i].colour;
	return "#b0b0b0";
}

const char *report_trust_label(const char *level)
{
	return level ? level : "no level";
}

/* The cells of one gate summary: attempts, failures, share, interval,
 * auth mean, p50, p95. */
static void rg_cells(FILE *f, const struct res_gatesum *s)
{
	char b1[32], b2[32], b3[32];

	fprintf(f, "<td>%u</td><td>%u</td>", s->attempts, s->failed);
	if (s->attempts)
		fprintf(f, "<td>%.1f%%</td><td>%.1f&ndash;%.1f%%</td>", 100 * s->failed_rate,
			100 * s->ci95.lo, 100 * s->ci95.hi);
	else
		fputs("<td>&ndash;</td><td>&ndash;</td>", f);
	fprintf(f, "<td>%s</td><td>%s</td><td>%s</td>", report_ms(s->mean, b1, 32),
		report_ms(s->p50, b2, 32), report_ms(s->p95, b3, 32));
}

static void rg_head(FILE *f, const char *id, const char *first)
{
	fprintf(f,
		"<table id=\"%s\"><thead><tr><th>%s</th><th>gated attempts</th>"
		"<th>failed at the gate</th><th>share</th><th>95%% interval</th>"
		"<th>auth mean</th><th>p50</th><th>p95</th></tr></thead><tbody>\n",
		id, first);
}

static void rg_levels_table(struct results *r, FILE *f)
{
	const struct res_gatesum *s;
	size_t i;

	rg_head(f, "gate-levels-table", "trust level");
	for (i = 0; (s = results_gate_level(r, i)); i++) {
		fputs("<tr data-trust=\"", f);
		report_escape(f, s->name ? s->name : "");
		fprintf(f, "\"><th><span class=\"sw\" style=\"background:%s\"></span>",
			report_trust_colour(s->name));
		report_escape(f, report_trust_label(s->name));
		fputs("</th>", f);
		rg_cells(f, s);
		fputs("</tr>\n", f);
	}
	fputs("<tr class=\"all\"><th>all gated attempts</th>", f);
	rg_cells(f, results_gate(r));
	fputs("</tr>\n</tbody></table>\n", f);
}

static void rg_methods_table(struct results *r, FILE *f)
{
	const struct res_gatesum *s;
	size_t i;

	rg_head(f, "gate-methods-table", "method");
	for (i = 0; (s = results_gate_method(r, i)); i++) {
		fprintf(f, "<tr><th><span class=\"sw\" style=\"background:%s\"></span>",
			report_colour(s->name));
		report_escape(f, s->name);
		fputs("</th>", f);
		rg_cells(f, s);
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

void report_gate_section(struct results *r, FILE *f)
{
	const struct res_gatesum *g = results_gate(r);

	if (!g || g->attempts == 0)
		return;
	fprintf(f,
		"<section id=\"gate\">\n<h2>Zero-trust gate: auth time per trust level</h2>\n"
		"<p id=\"gate-share\">%u of %zu attempts met a gate; %u of them failed at the "
		"gate (%.1f%%, 95%% interval %.1f&ndash;%.1f%%).</p>\n",
		g->attempts, results_n_attempts(r), g->failed, 100 * g->failed_rate,
		100 * g->ci95.lo, 100 * g->ci95.hi);
	report_svg_auth(r, f);
	fputs("<p class=\"note\">Auth time: from the agent's first auth request to the gate's "
	      "answer, the gate's delay for the trust level plus the round trip. The level is "
	      "the one the gate decided at; no level: the gate refused the request or never "
	      "answered. Failed at the gate: denied, refused or timed out.</p>\n"
	      "<h3>Per trust level</h3>\n",
	      f);
	rg_levels_table(r, f);
	fputs("<h3>Per method</h3>\n", f);
	rg_methods_table(r, f);
	fputs("</section>\n", f);
}

void report_print_gate(struct results *r, FILE *f)
{
	const struct res_gatesum *g = results_gate(r), *s;
	char b1[32], b2[32], b3[32];
	size_t i;

	if (!g || g->attempts == 0)
		return;
	fprintf(f,
		"gate: %u of %zu attempts gated, %u failed at the gate (%.1f%%, 95%% interval "
		"%.1f-%.1f%%); auth p50 %s p95 %s\n",
		g->attempts, results_n_attempts(r), g->failed, 100 * g->failed_rate,
		100 * g->ci95.lo, 100 * g->ci95.hi, report_ms(g->p50, b1, 32),
		report_ms(g->p95, b2, 32));
	for (i = 0; (s = results_gate_level(r, i)); i++)
		fprintf(
		    f,
		    "gate: %-9s %u attempts, %u failed at the gate (%.1f%%); auth mean %s p50 %s "
		    "p95 %s\n",
		    report_trust_label(s->name), s->attempts, s->failed, 100 * s->failed_rate,
		    report_ms(s->mean, b1, 32), report_ms(s->p50, b2, 32),
		    report_ms(s->p95, b3, 32));
}
