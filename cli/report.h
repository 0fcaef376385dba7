/* natbed report: report.html of a run's results (results.h), and the
 * matrix as a text table for a terminal.
 *
 * The page is one self-contained file, readable offline: inline CSS, every
 * chart an inline <svg> drawn here, no script, no font, no image, nothing
 * fetched (a Content-Security-Policy of default-src 'none' says so to the
 * browser too). Every string from the results (host, NAT, method names,
 * reasons) is escaped where it goes into HTML or SVG (report_escape).
 *
 *	report_write(r, "out/report.html", err, sizeof(err));
 *
 * The matrix is a grid of host pairs (or, past REPORT_GRID_HOSTS hosts, of
 * pairs of NAT behaviours): the <svg id="matrix"> holds one
 * <g class="cell" data-a=".." data-b=".." data-winner=".."> per pair.
 * With zero-trust gates, <section id="gate"> holds <svg id="auth">, one
 * <g class="dist" data-trust=".."> per trust level. */
#ifndef NATBED_CLI_REPORT_H
#define NATBED_CLI_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "results.h"

#define REPORT_GRID_HOSTS 32 /* more hosts: the grid is by NAT behaviour */
#define REPORT_TEXT_HOSTS 6  /* the same for the text matrix (a terminal's width) */
#define REPORT_LABEL_MAX  28 /* characters of a name shown in a chart */

/* The whole page to f. 0, or -EIO / -ENOMEM. */
int report_render(struct results *r, FILE *f);
/* The page to path (a temporary file renamed). 0, or -errno with
 * "PATH: what" in err. */
int report_write(struct results *r, const char *path, char *err, size_t errlen);

/* The matrix as text: the method that won and its setup time per pair
 * (per pair of NAT behaviours past REPORT_TEXT_HOSTS hosts), each method
 * in its colour (ANSI) when colour is set. */
void report_print_matrix(struct results *r, FILE *f, bool colour);

/* The gate as text (report_gate.c), nothing when no attempt met a gate:
 * one line for every gated attempt, then one per trust level, each with
 * its attempts, failures at the gate and auth times:
 *	gate: 12 of 20 attempts gated, 3 failed at the gate (25.0%, 95% 8.9-53.2%); auth p50 ...
 *	gate: untrusted: 6 attempts, 2 failed (33.3%); auth mean 3.49 s p50 3.05 s p95 4.96 s */
void report_print_gate(struct results *r, FILE *f);

/* ---- pieces the charts share (report.c) ---- */

/* s as HTML text or a quoted attribute value: & < > " ' as character
 * references, control characters as U+FFFD. NULL writes nothing. */
void report_escape(FILE *f, const char *s);
/* At most max characters of s (UTF-8), escaped; an ellipsis if cut. */
void report_escape_cut(FILE *f, const char *s, size_t max);
/* A method's colour "#rrggbb": fixed for the known methods, else from a
 * palette by the name's hash; RESULTS_NONE is grey. */
const char *report_colour(const char *method);
/* Its colour for a terminal: an SGR parameter ("32" green, ...). */
const char *report_sgr(const char *method);
/* Methods in display order (the known ones as the cascade orders them,
 * then by name), as strcmp does. */
int report_method_cmp(const char *a, const char *b);
/* The run's method summaries in display order into out, which has room
 * for results_n_methods(r). Returns how many. */
size_t report_methods(struct results *r, const struct res_summary **out);
/* NAT behaviours in display order (open first, symmetric-random last). */
int report_nat_cmp(const char *a, const char *b);
/* A duration for a label: "0.42 ms", "12.5 ms", "230 ms", "1.50 s"; "–"
 * for NAN. */
const char *report_ms(double ms, char *buf, size_t len);

/* A trust level's colour "#rrggbb", red (untrusted) to green (verified),
 * grey for NULL (no level) or a word it does not know; and its label,
 * "no level" for NULL (report_gate.c). */
const char *report_trust_colour(const char *level);
const char *report_trust_label(const char *level);
/* The page's gate section (<section id="gate">): the auth-time chart,
 * the share of attempts the gate stopped, the tables per trust level and
 * per method; nothing when no attempt met a gate (report_gate.c). */
void report_gate_section(struct results *r, FILE *f);

/* ---- the charts: each writes one <svg> element ---- */

void report_svg_matrix(struct results *r, FILE *f); /* report_matrix.c */
void report_svg_rates(struct results *r, FILE *f);  /* report_svg.c */
void report_svg_setup(struct results *r, FILE *f);  /* report_svg.c */
void report_svg_flows(struct results *r, FILE *f);  /* report_svg.c */
void report_svg_auth(struct results *r, FILE *f);   /* report_svg.c: per trust level */

#endif
