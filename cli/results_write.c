/* natbed results: results.json and results.csv, written from the model
 * (results.h) through its accessors alone. Both are deterministic: keys
 * sorted, lists in the model's stable order, numbers rounded to fixed
 * places, so the same attempts give the same bytes. */
#include "results.h"
#include "rwbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Shortest %g that reads back as the rounded double: 15 significant digits
 * hold every value rounded to 6 places below 10^9. */
#define RW_REAL_DIGITS 15
#define RW_JSON_FLAGS  (JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(RW_REAL_DIGITS))

static double rw_round(double x, int digits)
{
	double f = pow(10, digits);

	return round(x * f) / f;
}

/* x rounded, or null when not finite (JSON has no NaN). */
static json_t *rw_num(double x, int digits)
{
	return isfinite(x) ? json_real(rw_round(x, digits)) : json_null();
}

static json_t *rw_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* natbed matrix's exit statuses [a, b]. */
static json_t *rw_exit(int a, int b)
{
	return json_pack("[I,I]", (json_int_t)a, (json_int_t)b);
}

static json_t *rw_pair(const char *x, const char *y)
{
	return json_pack("[s,s]", x, y);
}

/* A method's or a set of attempts' counts, rate and setup times. */
static json_t *rw_summary(const struct res_summary *s)
{
	return json_pack("{s:I,s:I,s:o,s:[o,o],s:{s:o,s:o,s:o},s:I}", "attempts",
			 (json_int_t)s->attempts, "successes", (json_int_t)s->successes, "rate",
			 rw_num(s->rate, 6), "ci95", rw_num(s->ci95.lo, 6), rw_num(s->ci95.hi, 6),
			 "setup_ms", "mean", rw_num(s->mean, 3), "p50", rw_num(s->p50, 3), "p95",
			 rw_num(s->p95, 3), "fallbacks", (json_int_t)s->fallbacks);
}

/* {name: summary} of a pair's methods, or of the run's when p is NULL. */
static json_t *rw_methods(struct results *r, const struct res_natpair *p)
{
	size_t i, n = p ? p->n_methods : results_n_methods(r);
	const struct res_summary *m;
	json_t *o = json_object();

	for (i = 0; o && i < n; i++)
		if ((m = p ? &p->methods[i] : results_method(r, i)))
			json_object_set_new(o, m->name, rw_summary(m));
	return o;
}

static json_t *rw_winner(json_t *o, const struct res_winner *w, const char *ms_key)
{
	json_object_set_new(o, "winner", json_string(w->method));
	json_object_set_new(o, ms_key, rw_num(w->setup_ms, 3));
	return o;
}

/* Gated attempts' counts, the share the gate stopped, auth times. */
static json_t *rw_gatesum(const struct res_gatesum *s)
{
	return json_pack("{s:I,s:I,s:o,s:[o,o],s:{s:o,s:o,s:o}}", "attempts",
			 (json_int_t)s->attempts, "failed", (json_int_t)s->failed, "failed_rate",
			 rw_num(s->failed_rate, 6), "ci95", rw_num(s->ci95.lo, 6),
			 rw_num(s->ci95.hi, 6), "auth_ms", "mean", rw_num(s->mean, 3), "p50",
			 rw_num(s->p50, 3), "p95", rw_num(s->p95, 3));
}

/* `gate`: every gated attempt, a list by trust level, an object by method. */
static json_t *rw_gate(struct results *r)
{
	json_t *o = rw_gatesum(results_gate(r)), *levels = json_array(), *methods = json_object();
	const struct res_gatesum *s;
	json_t *e;
	size_t i;

	for (i = 0; levels && (s = results_gate_level(r, i)); i++)
		if ((e = rw_gatesum(s))) {
			json_object_set_new(e, "trust", rw_str(s->name));
			json_array_append_new(levels, e);
		}
	for (i = 0; methods && (s = results_gate_method(r, i)); i++)
		json_object_set_new(methods, s->name, rw_gatesum(s));
	if (o) {
		json_object_set_new(o, "levels", levels);
		json_object_set_new(o, "methods", methods);
	} else {
		json_decref(levels);
		json_decref(methods);
	}
	return o;
}

/* --- numbers ------------------------------------------------------------ */

/* The largest power of ten a real is rounded to (places). */
#define RW_PLACES_MAX 6

/* x rounded to `places` (0..RW_PLACES_MAX) as "%.15g" writes it, without
 * printf when it can: a million attempts hold millions of reals.
 *
 * Why it is the same: the rounded value is y = N / 10^places, the double
 * nearest to it (N = round(x * 10^places), exact below 2^53). When N has at
 * most 15 digits, y is within 2^-53 of N / 10^places, far less than half a
 * unit of a 15th significant digit, so %.15g's digits are N's; %g then
 * writes them as %f (the exponent is from -4 to 14 when 10^(places-4) <=
 * |N| < 10^15) and drops the trailing zeros of the fraction, and its point
 * when none remain. Anything else (an exponent to write, not finite) goes
 * through snprintf. Writes at most 32 bytes to b; tests/unit/test_results.c
 * compares it with snprintf. */
void results_fmt_real(char b[static 32], double x, int places)
{
	static const double p10[RW_PLACES_MAX + 1] = {1, 10, 100, 1000, 1e4, 1e5, 1e6};
	double nd = round(x * p10[places]), y = nd / p10[places];
	char digits[24], *p = b;
	uint64_t u;
	int n = 0, lo = 0, i;

	if (nd == 0) { /* "0" or "-0" */
		strcpy(b, signbit(y) ? "-0" : "0");
		return;
	}
	if (!(fabs(nd) < 1e15) || fabs(nd) * 1e4 < p10[places]) {
		snprintf(b, 32, "%.*g", RW_REAL_DIGITS, y);
		return;
	}
	u = (uint64_t)fabs(nd);
	for (; u; u /= 10)
		digits[n++] = (char)('0' + u % 10); /* least significant first */
	while (n <= places)
		digits[n++] = '0';
	while (lo < places && digits[lo] == '0')
		lo++;
	if (nd < 0)
		*p++ = '-';
	for (i = n - 1; i >= places; i--)
		*p++ = digits[i];
	if (lo < places)
		*p++ = '.';
	for (i = places - 1; i >= lo; i--)
		*p++ = digits[i];
	*p = '\0';
}

/* --- an attempt, written as jansson would dump its object ----------------- */

/* A real as jansson writes one with JSON_REAL_PRECISION(RW_REAL_DIGITS)
 * (jsonp_dtostr): %.15g, ".0" added when there is neither a point nor an
 * exponent, the exponent without a '+' or leading zeros; null when not
 * finite. */
static void rw_real(struct rw_buf *out, double x, int digits)
{
	char b[64], *e, *start, *end;

	if (!isfinite(x)) {
		rw_puts("null", out);
		return;
	}
	results_fmt_real(b, x, digits);
	if (!strchr(b, '.') && !strchr(b, 'e'))
		strcat(b, ".0");
	if ((e = strchr(b, 'e'))) {
		start = e + 1;
		end = start + 1;
		if (*start == '-')
			start++;
		while (*end == '0')
			end++;
		if (end != start)
			memmove(start, end, strlen(end) + 1);
	}
	rw_puts(b, out);
}

/* A string as jansson writes one (dump_string, no flags): '"' and '\'
 * escaped, control characters as \b \f \n \r \t or \u00XX, the rest as it
 * is; null for NULL. */
static void rw_string(struct rw_buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;
	size_t run;

	if (!s) {
		rw_puts("null", out);
		return;
	}
	rw_putc('"', out);
	while (*s) {
		/* what needs no escape, in one piece */
		for (run = 0; (unsigned char)s[run] >= 0x20 && s[run] != '"' && s[run] != '\\';
		     run++)
			;
		rw_putn(out, s, run);
		s += run;
		if (!(c = (unsigned char)*s))
			break;
		s++;
		if (c == '"' || c == '\\') {
			rw_putc('\\', out);
			rw_putc(c, out);
		} else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
			rw_putc('\\', out);
			rw_putc(c == '\b'   ? 'b'
				: c == '\f' ? 'f'
				: c == '\n' ? 'n'
				: c == '\r' ? 'r'
					    : 't',
				out);
		} else {
			rw_printf(out, "\\u00%c%c", hex[c >> 4], hex[c & 0xF]);
		}
	}
	rw_putc('"', out);
}

/* One member: KEY at the indent given, the value to follow. */
static void rw_key(struct rw_buf *out, const char *indent, const char *key)
{
	rw_puts(indent, out);
	rw_putc('"', out);
	rw_puts(key, out);
	rw_puts("\": ", out);
}

static void rw_str_pair(struct rw_buf *out, const char *indent, const char *x, const char *y)
{
	rw_puts("[\n", out);
	rw_puts(indent, out);
	rw_puts("  ", out);
	rw_string(out, x);
	rw_puts(",\n", out);
	rw_puts(indent, out);
	rw_puts("  ", out);
	rw_string(out, y);
	rw_putc('\n', out);
	rw_puts(indent, out);
	rw_putc(']', out);
}

/* A member KEY: VALUE at indent, then ",\n" (the last member of an object
 * writes its own end). */
static void rw_m_str(struct rw_buf *out, const char *indent, const char *key, const char *v)
{
	rw_key(out, indent, key);
	rw_string(out, v);
	rw_puts(",\n", out);
}

static void rw_m_real(struct rw_buf *out, const char *indent, const char *key, double x, int digits)
{
	rw_key(out, indent, key);
	rw_real(out, x, digits);
	rw_puts(",\n", out);
}

static void rw_m_bool(struct rw_buf *out, const char *indent, const char *key, bool v)
{
	rw_key(out, indent, key);
	rw_puts(v ? "true" : "false", out);
	rw_puts(",\n", out);
}

static void rw_m_pair(struct rw_buf *out, const char *indent, const char *key, const char *x,
		      const char *y)
{
	rw_key(out, indent, key);
	rw_str_pair(out, indent, x, y);
	rw_puts(",\n", out);
}

/* One try of an attempt's list, its members sorted by key. */
static void rw_try(struct rw_buf *out, const char *in, const char *in2, const struct res_try *t)
{
	rw_puts(in, out);
	rw_puts("  {\n", out);
	rw_m_str(out, in2, "method", t->method);
	rw_m_real(out, in2, "ms", t->ms, 3);
	rw_m_str(out, in2, "reason", t->reason);
	rw_key(out, in2, "success");
	rw_puts(t->success ? "true" : "false", out);
	rw_putc('\n', out);
	rw_puts(in, out);
	rw_puts("  }", out);
}

/* An attempt object as an element of the attempts list, two levels down:
 * its members sorted by key, as results.json's whole dump has them. */
static int rw_attempt(struct rw_buf *out, struct results *r, size_t i_att,
		      const struct res_attempt *a)
{
	static const char in[] = "      ", in2[] = "          ";
	size_t i;
	int ea, eb;

	rw_puts("{\n", out);
	rw_m_real(out, in, "auth_ms", a->auth_ms, 3);
	if (results_attempt_exit(r, i_att, &ea, &eb))
		rw_printf(out, "%s\"exit\": [\n%s  %d,\n%s  %d\n%s],\n", in, in, ea, in, eb, in);
	rw_m_str(out, in, "gate", a->gate);
	rw_m_str(out, in, "local", a->local);
	rw_m_real(out, in, "loss", a->loss, 6);
	rw_m_str(out, in, "method", a->method);
	rw_m_pair(out, in, "nat", a->nat_a, a->nat_b);
	rw_m_pair(out, in, "pair", a->a, a->b);
	rw_m_str(out, in, "path", a->path);
	rw_m_str(out, in, "reason", a->reason);
	rw_m_str(out, in, "remote", a->remote);
	rw_m_real(out, in, "rtt_ms", a->rtt_ms, 3);
	rw_m_real(out, in, "setup_ms", a->setup_ms, 3);
	rw_m_bool(out, in, "success", a->success);
	rw_m_real(out, in, "t_s", a->t_s, 6);
	rw_key(out, in, "tried");
	rw_puts(a->n_tried ? "[" : "[]", out);
	for (i = 0; i < a->n_tried; i++) {
		rw_puts(i ? ",\n" : "\n", out);
		rw_try(out, in, in2, &a->tried[i]);
	}
	if (a->n_tried) {
		rw_putc('\n', out);
		rw_puts(in, out);
		rw_putc(']', out);
	}
	rw_puts(",\n", out);
	rw_key(out, in, "trust");
	rw_string(out, a->trust);
	rw_puts("\n    }", out);
	return out->failed ? -ENOMEM : 0;
}

static json_t *rw_pairs(struct results *r)
{
	json_t *list = json_array(), *o;
	size_t i;

	for (i = 0; list && i < results_n_natpairs(r); i++) {
		const struct res_natpair *p = results_natpair(r, i);

		if (!(o = rw_summary(&p->overall)))
			continue;
		json_object_set_new(o, "nat", rw_pair(p->nat[0], p->nat[1]));
		json_object_set_new(o, "methods", rw_methods(r, p));
		json_array_append_new(list, rw_winner(o, &p->winner, "winner_setup_ms"));
	}
	return list;
}

static json_t *rw_matrix(struct results *r)
{
	json_t *list = json_array(), *o;
	size_t i;

	for (i = 0; list && i < results_n_cells(r); i++) {
		const struct res_cell *c = results_cell(r, i);

		o = json_pack("{s:o,s:o,s:I,s:I}", "pair", rw_pair(c->a, c->b), "nat",
			      rw_pair(c->nat_a, c->nat_b), "attempts", (json_int_t)c->attempts,
			      "successes", (json_int_t)c->successes);
		if (o && c->path)
			json_object_set_new(o, "path", json_string(c->path));
		if (o && c->has_exit)
			json_object_set_new(o, "exit", rw_exit(c->exit_a, c->exit_b));
		if (o)
			json_array_append_new(list, rw_winner(o, &c->winner, "setup_ms"));
	}
	return list;
}

static json_t *rw_flows(struct results *r)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; list && i < results_n_flows(r); i++) {
		const struct res_flow *f = results_flow(r, i);

		json_array_append_new(list, json_pack("{s:s,s:s,s:I}", "from", f->from, "to", f->to,
						      "count", (json_int_t)f->count));
	}
	return list;
}

static json_t *rw_head(struct results *r)
{
	json_t *opts = json_object(), *nats = json_object(), *head;
	uint64_t seed = results_seed(r);
	double wall = results_wall(r);
	const char *k, *v;
	unsigned long n;
	size_t i;
	char buf[24];

	for (i = 0; opts && i < results_n_options(r); i++)
		if ((k = results_option(r, i, &v)))
			json_object_set_new(opts, k, json_string(v));
	for (i = 0; nats && i < results_n_exhausted_nats(r); i++)
		if ((k = results_exhausted_nat(r, i, &n)))
			json_object_set_new(nats, k, json_integer((json_int_t)n));
	/* JSON integers past 2^63 - 1 do not fit jansson: those seeds as digits */
	snprintf(buf, sizeof(buf), "%" PRIu64, seed);
	head = json_pack(
	    "{s:i,s:s,s:s,s:o,s:s,s:o,s:o,s:o,s:{s:I,s:o}}", "results_version", RESULTS_VERSION,
	    "natbed_version", results_natbed_version(r), "topology", results_topology(r), "seed",
	    seed <= INT64_MAX ? json_integer((json_int_t)seed) : json_string(buf), "started",
	    results_started(r), "wall_s", rw_num(wall, 3), "throughput_per_s",
	    isfinite(wall) && wall > 0 ? rw_num(results_n_attempts(r) / wall, 6) : json_null(),
	    "options", opts, "port_exhaustion", "total", (json_int_t)results_port_exhaustion(r),
	    "nats", nats);
	if (head && results_mode(r))
		json_object_set_new(head, "mode", json_string(results_mode(r)));
	return head;
}

/* Everything but the attempts, whose list is left empty: results_write_json
 * streams them in, one at a time. */
static json_t *rw_document(struct results *r)
{
	json_t *doc = rw_head(r);
	const struct res_summary *overall = results_overall(r);
	unsigned long n_viol;
	const char *summary;
	bool passed;

	if (!doc || !overall) {
		json_decref(doc);
		return NULL;
	}
	json_object_set_new(doc, "attempts", json_array());
	json_object_set_new(doc, "overall", rw_summary(overall));
	json_object_set_new(doc, "fallbacks", json_integer(overall->fallbacks));
	json_object_set_new(doc, "methods", rw_methods(r, NULL));
	json_object_set_new(doc, "pairs", rw_pairs(r));
	json_object_set_new(doc, "matrix", rw_matrix(r));
	json_object_set_new(doc, "flows", rw_flows(r));
	json_object_set_new(doc, "gate", rw_gate(r));
	if (results_check(r, &passed, &n_viol, &summary))
		json_object_set_new(doc, "check",
				    json_pack("{s:b,s:I,s:s}", "passed", passed, "violations",
					      (json_int_t)n_viol, "summary", summary));
	return doc;
}

/* An attempt is two levels down: jansson indents its lines by four. */
#define RW_ATTEMPT_INDENT "    "

/* The document as jansson would dump it whole (keys sorted, "attempts"
 * first), with the attempts written one by one by rw_attempt rather than
 * held as one tree: a simulation's million attempts would take gigabytes
 * as JSON objects, and time to build them. tests/unit/test_results.c
 * compares the bytes with a file. */
int results_write_json(struct results *r, FILE *f)
{
	static const char head[] = "{\n  \"attempts\": []";
	json_t *doc = rw_document(r);
	char *rest = doc ? json_dumps(doc, RW_JSON_FLAGS) : NULL;
	size_t i, n = results_n_attempts(r);
	struct rw_buf b = {0};
	int rc = 0;

	json_decref(doc);
	if (!rest || strncmp(rest, head, sizeof(head) - 1) != 0) {
		free(rest);
		return -ENOMEM;
	}
	if (n == 0)
		rc = fputs(rest, f) == EOF ? -EIO : 0;
	else if (fputs("{\n  \"attempts\": [", f) == EOF)
		rc = -EIO;
	for (i = 0; n && rc == 0 && i < n; i++) {
		const struct res_attempt *a = results_attempt(r, i);

		if (!a) {
			rc = -ENOMEM;
			break;
		}
		rw_puts(i ? ",\n" RW_ATTEMPT_INDENT : "\n" RW_ATTEMPT_INDENT, &b);
		rc = rw_attempt(&b, r, i, a);
		if (rc == 0 && (b.len >= RW_FLUSH_AT || i + 1 == n))
			rc = rw_flush(&b, f);
	}
	rw_free(&b);
	if (n && rc == 0 && (fputs("\n  ]", f) == EOF || fputs(rest + sizeof(head) - 1, f) == EOF))
		rc = -EIO;
	if (rc == 0 && fputc('\n', f) == EOF)
		rc = -EIO;
	free(rest);
	return rc;
}

/* ---- CSV -------------------------------------------------------------- */

/* RFC 4180 §2: a field holding a comma, a double quote, CR or LF is
 * enclosed in double quotes, and a double quote inside is doubled. */
static void rw_csv_field(struct rw_buf *out, const char *s, bool last)
{
	if (s && strpbrk(s, ",\"\r\n")) {
		rw_putc('"', out);
		for (; *s; s++) {
			if (*s == '"')
				rw_putc('"', out);
			rw_putc(*s, out);
		}
		rw_putc('"', out);
	} else if (s) {
		rw_puts(s, out);
	}
	/* RFC 4180 §2.1: each record ends with CRLF */
	rw_puts(last ? "\r\n" : ",", out);
}

static void rw_csv_num(struct rw_buf *out, double x, int digits)
{
	char b[32];

	if (isfinite(x)) {
		results_fmt_real(b, x, digits);
		rw_puts(b, out);
	}
	rw_putc(',', out);
}

static void rw_csv_row(struct rw_buf *out, const struct res_attempt *a)
{
	size_t i, len = 1;
	char *tried, *p;

	for (i = 0; i < a->n_tried; i++)
		len += strlen(a->tried[i].method) + 3;
	tried = malloc(len);
	if (tried) {
		*(p = tried) = '\0';
		for (i = 0; i < a->n_tried; i++)
			p = stpcpy(i ? stpcpy(p, " > ") : p, a->tried[i].method);
	}
	rw_csv_num(out, a->t_s, 6);
	rw_csv_field(out, a->a, false);
	rw_csv_field(out, a->b, false);
	rw_csv_field(out, a->nat_a, false);
	rw_csv_field(out, a->nat_b, false);
	rw_csv_field(out, a->success ? "true" : "false", false);
	rw_csv_field(out, a->method, false);
	rw_csv_num(out, a->setup_ms, 3);
	rw_csv_field(out, a->path, false);
	rw_csv_num(out, a->rtt_ms, 3);
	rw_csv_num(out, a->loss, 6);
	rw_csv_num(out, a->auth_ms, 3);
	rw_csv_field(out, a->gate, false);
	rw_csv_field(out, a->trust, false);
	rw_printf(out, "%zu,", a->n_tried);
	rw_csv_field(out, tried, false);
	rw_csv_field(out, a->reason, false);
	rw_csv_field(out, a->local, false);
	rw_csv_field(out, a->remote, true);
	free(tried);
}

int results_write_csv(struct results *r, FILE *f)
{
	struct rw_buf b = {0};
	size_t i;
	int rc = 0;

	rw_puts("t_s,a,b,nat_a,nat_b,success,method,setup_ms,path,rtt_ms,loss,auth_ms,gate,trust,"
		"n_tried,tried,reason,local,remote\r\n",
		&b);
	for (i = 0; rc == 0 && i < results_n_attempts(r); i++) {
		const struct res_attempt *a = results_attempt(r, i);

		if (!a) {
			rc = -ENOMEM;
			break;
		}
		rw_csv_row(&b, a);
		if (b.len >= RW_FLUSH_AT)
			rc = rw_flush(&b, f);
	}
	if (rc == 0)
		rc = rw_flush(&b, f);
	rw_free(&b);
	return rc == 0 && ferror(f) ? -EIO : rc;
}

/* ---- files ------------------------------------------------------------ */

int results_write_file(struct results *r, const char *path, int (*fn)(struct results *, FILE *),
		       char *err, size_t errlen)
{
	char tmp[4200];
	FILE *f;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	if (!(f = fopen(tmp, "w"))) {
		rc = -errno; /* the file asked for: the temporary is ours */
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = fn(r, f);
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		unlink(tmp);
	}
	return rc;
}

int results_write(struct results *r, const char *dir, char *err, size_t errlen)
{
	char path[4096];
	int rc;

	snprintf(path, sizeof(path), "%s/results.json", dir);
	if ((rc = results_write_file(r, path, results_write_json, err, errlen)) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/results.csv", dir);
	return results_write_file(r, path, results_write_csv, err, errlen);
}
