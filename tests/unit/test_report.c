/* Unit tests for cli/report*.c: escaping of every string the results
 * carry, adversarially: host, NAT and method names full of markup (<, &,
 * quotes, "</svg>", control characters) must change the page's text and
 * never its structure, which is compared tag by tag with a page of plain
 * names; nothing on the page points outside it; the matrix grid's cells;
 * the grid by NAT behaviour past REPORT_GRID_HOSTS hosts; the text matrix
 * for terminals; the gate's section and text lines, only behind gates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "results.h"

static char *escaped(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	report_escape(f, s);
	fclose(f);
	return buf;
}

static char *cut(const char *s, size_t max)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	report_escape_cut(f, s, max);
	fclose(f);
	return buf;
}

static char *page(struct results *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(report_render(r, f), 0);
	fclose(f);
	return buf;
}

static void test_escape(void **state)
{
	char *e = escaped("<b>&\"x\"'y'</b>");

	assert_string_equal(e, "&lt;b&gt;&amp;&quot;x&quot;&#39;y&#39;&lt;/b&gt;");
	free(e);
	e = escaped("tab\there\nbell\x07"
		    "esc\x1b[31m del\x7f");
	assert_string_equal(e, "tab\there\nbell&#xfffd;esc&#xfffd;[31m del&#xfffd;");
	free(e);
	e = escaped("h\xc3\xa9l\xc3\xa8ne");
	assert_string_equal(e, "h\xc3\xa9l\xc3\xa8ne"); /* UTF-8 as it is */
	free(e);
	e = escaped("&amp;");
	assert_string_equal(e, "&amp;amp;"); /* escaped once more: shown as typed */
	free(e);
}

static void test_escape_cut(void **state)
{
	char *c = cut("abcdef", 6);

	assert_string_equal(c, "abcdef");
	free(c);
	c = cut("abcdefg", 6);
	assert_string_equal(c, "abcde\xe2\x80\xa6");
	free(c);
	/* characters, not bytes: never half of one */
	c = cut("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 3);
	assert_string_equal(c, "\xc3\xa9\xc3\xa9\xe2\x80\xa6");
	free(c);
	c = cut("<<<<<", 3);
	assert_string_equal(c, "&lt;&lt;\xe2\x80\xa6");
	free(c);
}

/* A run among hosts named names[0..2] behind NATs nats[0..2], with
 * methods methods[0..1] and a failure's reason; names[0] is behind a
 * gate, which grants at low and at untrusted. */
static struct results *run_of(const char *const *names, const char *const *nats,
			      const char *const *methods, const char *reason)
{
	struct results *r = results_new(names[0], 7, 0);
	struct res_try t1[] = {{methods[0], false, 900, reason}, {methods[1], true, 120, NULL}};
	struct res_try t2[] = {{methods[0], true, 40, NULL}};
	struct res_try t3[] = {{methods[0], false, 900, reason}, {methods[1], false, 800, reason}};
	struct res_attempt a[] = {
	    {names[0], names[1], nats[0], nats[1], NULL, true, 1020, 30, 0, "direct", names[2],
	     names[2], NULL, t1, 2, 0, 1500, "granted", "low"},
	    {names[0], names[2], nats[0], nats[2], NULL, true, 40, 30, 0, "direct", NULL, NULL,
	     NULL, t2, 1, 1, 3000, "granted", "untrusted"},
	    {names[1], names[2], nats[1], nats[2], NULL, false, NAN, NAN, NAN, "none", NULL, NULL,
	     reason, t3, 2, 2, NAN, NULL, NULL},
	};
	size_t i;

	for (i = 0; i < 3; i++)
		assert_int_equal(results_add_attempt(r, &a[i]), 0);
	assert_int_equal(results_add_port_exhaustion(r, names[1], 3), 0);
	assert_int_equal(results_set_option(r, names[2], names[1]), 0);
	results_set_wall(r, 4);
	return r;
}

/* The page's tags in order, each as "<name" or "</name", one per line:
 * what the markup is, whatever the text says. */
static char *tags(const char *html)
{
	char *out = calloc(1, strlen(html) + 1), *o = out;
	const char *p;

	for (p = html; (p = strchr(p, '<')); p++) {
		const char *q = p + 1;

		if (*q == '/')
			q++;
		if (!isalpha((unsigned char)*q) && *q != '!')
			continue;
		*o++ = '<';
		for (q = p + 1; *q && (isalnum((unsigned char)*q) || *q == '/' || *q == '!'); q++)
			*o++ = *q;
		*o++ = '\n';
	}
	return out;
}

static const char *const hostile[] = {
    "<script>alert(1)</script>",
    "a&b \"q\" 'r' </svg></title></text><!--",
    "]]><img src=x onerror=alert(2)>\x1b[2J",
};
static const char *const hostile_nat[] = {"<i>open</i>", "full\"-cone", "sym&'random"};
static const char *const hostile_method[] = {"<style>*{}</style>", "re\"lay' onload='x"};
static const char *const hostile_reason = "<b>time</b>out & \"more\"";

static void test_hostile_names_keep_structure(void **state)
{
	static const char *const plain[] = {"alice", "bob", "carol"};
	static const char *const plain_nat[] = {"open", "full-cone", "symmetric-random"};
	static const char *const plain_method[] = {"punch", "relay"};
	struct results *a = run_of(plain, plain_nat, plain_method, "timeout");
	struct results *b = run_of(hostile, hostile_nat, hostile_method, hostile_reason);
	char *pa = page(a), *pb = page(b), *ta = tags(pa), *tb = tags(pb);
	size_t i;

	assert_true(strlen(ta) > 200);
	assert_string_equal(ta, tb); /* the same elements in the same order */
	/* no raw piece of a hostile string anywhere */
	for (i = 0; i < 3; i++) {
		assert_null(strstr(pb, hostile[i]));
		assert_null(strstr(pb, hostile_nat[i]));
	}
	assert_null(strstr(pb, "<script"));
	assert_null(strstr(pb, "<img"));
	assert_null(strstr(pb, "\x1b"));
	assert_null(strstr(pb, "<style>*"));
	assert_null(strstr(pb, "re\"lay"));
	assert_null(strstr(pb, "<b>time"));
	/* ...and each shown, escaped */
	assert_non_null(strstr(pb, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_non_null(strstr(pb, "data-a=\"a&amp;b &quot;q&quot; &#39;r&#39; &lt;/svg&gt;"));
	assert_non_null(strstr(pb, "re&quot;lay&#39; onload=&#39;x"));
	assert_non_null(strstr(pb, "&lt;b&gt;time&lt;/b&gt;out"));
	free(pa);
	free(pb);
	free(ta);
	free(tb);
	results_free(a);
	results_free(b);
}

/* Whether markup of html holds what: a tag (from "<" to ">": text holds
 * no raw "<") less its quoted attribute values (which hold no raw quote),
 * or the style element. */
static bool in_markup(const char *html, const char *what)
{
	const char *p, *end, *q;
	char *tag, *t;
	bool hit = false, quoted = false;

	for (p = html; !hit && (p = strchr(p, '<')); p = end) {
		end = strncmp(p, "<style>", 7) == 0 ? strstr(p, "</style>") : strchr(p, '>');
		if (!end)
			return true;
		t = tag = calloc(1, (size_t)(end - p) + 1);
		for (q = p; q < end; q++) {
			if (*q == '"' && strncmp(p, "<style>", 7) != 0)
				quoted = !quoted;
			else if (!quoted)
				*t++ = *q;
		}
		hit = strstr(tag, what) != NULL;
		free(tag);
	}
	return hit;
}

static void test_page_is_self_contained(void **state)
{
	struct results *b = run_of(hostile, hostile_nat, hostile_method, hostile_reason);
	static const char *const outside[] = {"src=",  "href=", "url(",	   "@import", "<script",
					      "<link", "<img",	"<iframe", "<object", "<embed"};
	char *p = page(b);
	size_t i;

	assert_null(strstr(p, "://")); /* no address anywhere, not even as text */
	for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		if (in_markup(p, outside[i]))
			fail_msg("the page's markup holds '%s'", outside[i]);
	assert_non_null(strstr(p, "Content-Security-Policy\" content=\"default-src 'none'"));
	free(p);
	results_free(b);
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	for (; (s = strstr(s, what)); s += strlen(what))
		n++;
	return n;
}

static void test_matrix_cells(void **state)
{
	static const char *const plain[] = {"alice", "bob", "carol"};
	static const char *const plain_nat[] = {"open", "full-cone", "symmetric-random"};
	static const char *const plain_method[] = {"punch", "relay"};
	struct results *r = run_of(plain, plain_nat, plain_method, "timeout");
	char *p = page(r);

	assert_non_null(strstr(p, "<svg id=\"matrix\" class=\"by-host\""));
	assert_int_equal(count(p, "<g class=\"cell\""), 9); /* 3 x 3 */
	/* alice -> bob: relay after punch, 1020 ms; bob -> alice mirrors it */
	assert_non_null(strstr(p, "<g class=\"cell\" data-a=\"alice\" data-b=\"bob\" "
				  "data-winner=\"relay\"><title>alice (open) \xe2\x86\x92 bob "
				  "(full-cone): relay, p50 1.02 s, 1 of 1 connected</title>"));
	assert_non_null(strstr(p, "data-a=\"bob\" data-b=\"alice\" data-winner=\"relay\" "
				  "data-mirrored=\"1\""));
	assert_non_null(strstr(p, "data-a=\"bob\" data-b=\"carol\" data-winner=\"none\""));
	assert_non_null(strstr(p, "data-a=\"alice\" data-b=\"alice\" data-winner=\"\""));
	/* the other charts are there too */
	assert_non_null(strstr(p, "<svg id=\"rates\""));
	assert_non_null(strstr(p, "<svg id=\"setup\""));
	assert_non_null(strstr(p, "<svg id=\"flows\""));
	assert_int_equal(count(p, "<g class=\"flow\""), 3); /* punch->relay, punch, none */
	assert_non_null(strstr(p, "<svg id=\"auth\""));	    /* alice is behind a gate */
	free(p);
	results_free(r);
}

static void test_matrix_by_nat(void **state)
{
	static const char *const nats[] = {"open", "full-cone", "port-restricted",
					   "symmetric-random"};
	struct results *r = results_new("many", 1, 0);
	struct res_try t = {"punch", true, 50, NULL};
	char a[16], b[16], *p;
	unsigned i;

	for (i = 0; i < REPORT_GRID_HOSTS + 8; i++) {
		struct res_attempt at = {a,    b,    nats[i % 4], nats[(i / 4) % 4],
					 NULL, true, 50,	  NAN,
					 NAN,  NULL, NULL,	  NULL,
					 NULL, &t,   1,		  i,
					 NAN,  NULL, NULL};

		snprintf(a, sizeof(a), "c%u", i);
		snprintf(b, sizeof(b), "s%u", i);
		assert_int_equal(results_add_attempt(r, &at), 0);
	}
	p = page(r);
	assert_non_null(strstr(p, "<svg id=\"matrix\" class=\"by-nat\""));
	assert_int_equal(count(p, "<g class=\"cell\""), 16); /* 4 behaviours squared */
	assert_non_null(strstr(p, "data-a=\"open\" data-b=\"full-cone\" data-winner=\"punch\""));
	free(p);
	results_free(r);
}

static void test_text_matrix(void **state)
{
	struct results *r = run_of(hostile, hostile_nat, hostile_method, hostile_reason);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	report_print_matrix(r, f, false);
	fclose(f);
	assert_null(strchr(buf, '\x1b')); /* a name cannot drive the terminal */
	assert_non_null(strstr(buf, "none"));
	assert_int_equal(count(buf, "\n"), 4); /* header and three hosts */
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	report_print_matrix(r, f, true);
	fclose(f);
	assert_non_null(strstr(buf, "\x1b[31mnone")); /* none in red */
	assert_non_null(strstr(buf, "\x1b[0m"));
	free(buf);
	results_free(r);
}

/* The terminal's matrix by NAT (past REPORT_TEXT_HOSTS hosts): every
 * column as wide as its longest name or cell, so "symmetric-sequential"
 * is never cut; a pair never tried is "-" whatever the cell before it
 * says. */
static void test_text_matrix_widths(void **state)
{
	static const char *const nat[][2] = {{"symmetric-sequential", "port-restricted"},
					     {"full-cone", "full-cone"}};
	static const struct res_try t = {"predict", true, 273, NULL};
	struct results *r = results_new("wide", 1, 0);
	char a[8], b[8], *buf = NULL;
	size_t len = 0;
	FILE *f;

	for (unsigned i = 0; i < 4; i++) {
		struct res_attempt at = {.a = a,
					 .b = b,
					 .nat_a = nat[i / 2][0],
					 .nat_b = nat[i / 2][1],
					 .method = "predict",
					 .success = true,
					 .setup_ms = 273,
					 .rtt_ms = NAN,
					 .loss = NAN,
					 .tried = &t,
					 .n_tried = 1,
					 .auth_ms = NAN};

		snprintf(a, sizeof(a), "h%u", 2 * i);
		snprintf(b, sizeof(b), "h%u", 2 * i + 1);
		assert_int_equal(results_add_attempt(r, &at), 0);
	}
	f = open_memstream(&buf, &len);
	report_print_matrix(r, f, false);
	fclose(f);
	/* full-cone, port-restricted, symmetric-sequential: the last's name
	 * whole, and a column for it as wide */
	assert_non_null(strstr(buf, "symmetric-sequential "));
	assert_int_equal(count(buf, "\n"), 4);
	/* full-cone with itself; the sequential one with port-restricted, both
	 * ways; the six other cells never tried */
	assert_int_equal(count(buf, "predict 273 ms"), 3);
	assert_int_equal(count(buf, "- "), 6);
	free(buf);
	results_free(r);
}

/* A gated run: the gate's section with its chart, the share the gate
 * stopped and both tables; the text lines; none of it without gates. */
static void test_gate_section(void **state)
{
	static const struct {
		const char *gate, *trust;
		double auth_ms;
	} g[] = {
	    {"granted", "untrusted", 2500},
	    {"denied", "untrusted", 4000},
	    {"granted", "high", 120},
	    {"refused", NULL, 3},
	    {NULL, NULL, NAN},
	};
	static const struct res_try tr = {"punch", true, 50, NULL};
	struct results *r = results_new("gated", 1, 0);
	char *p, *buf = NULL;
	size_t i, len = 0;
	FILE *f;

	for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		bool ok = !g[i].gate || strcmp(g[i].gate, "granted") == 0;
		struct res_attempt a = {.a = "alice",
					.b = "bob",
					.nat_a = "full-cone",
					.nat_b = "open",
					.method = "punch",
					.success = ok,
					.setup_ms = ok ? 50 : NAN,
					.rtt_ms = NAN,
					.loss = NAN,
					.reason = ok ? NULL : "gate: stopped",
					.tried = ok ? &tr : NULL,
					.n_tried = ok,
					.t_s = (double)i,
					.auth_ms = g[i].auth_ms,
					.gate = g[i].gate,
					.trust = g[i].trust};

		assert_int_equal(results_add_attempt(r, &a), 0);
	}
	p = page(r);
	assert_non_null(strstr(p, "<section id=\"gate\">"));
	assert_non_null(strstr(p, "4 of 5 attempts met a gate; 2 of them failed at the gate "
				  "(50.0%, 95% interval 15.0&ndash;85.0%)"));
	assert_non_null(strstr(p, "<svg id=\"auth\""));
	/* a row per level in their order, the undecided last */
	assert_int_equal(count(p, "<g class=\"dist\" data-trust="), 3);
	assert_true(strstr(p, "data-trust=\"untrusted\"><title>untrusted: 2 auth times") <
		    strstr(p, "data-trust=\"high\"><title>high: 1 auth times"));
	assert_non_null(strstr(p, "data-trust=\"\"><title>no level: 1 auth times"));
	assert_non_null(strstr(p, "n=2 p50 2.50 s p95 4.00 s mean 3.25 s"));
	assert_non_null(strstr(p, "<table id=\"gate-levels-table\">"));
	assert_non_null(strstr(p, "<tr data-trust=\"untrusted\"><th><span class=\"sw\" "
				  "style=\"background:#c62828\"></span>untrusted</th><td>2</td>"
				  "<td>1</td><td>50.0%</td>"));
	assert_non_null(strstr(p, "<table id=\"gate-methods-table\">"));
	assert_non_null(strstr(p, "</span>punch</th><td>4</td><td>2</td>"));
	free(p);

	f = open_memstream(&buf, &len);
	report_print_gate(r, f);
	fclose(f);
	assert_int_equal(count(buf, "\n"), 4); /* all, then three levels */
	assert_non_null(strstr(buf, "gate: 4 of 5 attempts gated, 2 failed at the gate (50.0%"));
	assert_non_null(strstr(buf, "gate: untrusted 2 attempts, 1 failed at the gate (50.0%); "
				    "auth mean 3.25 s p50 2.50 s p95 4.00 s\n"));
	assert_non_null(strstr(buf, "gate: no level  1 attempts, 1 failed"));
	free(buf);
	results_free(r);

	/* no gate: no section, no line */
	r = results_new("open", 1, 0);
	p = page(r);
	assert_null(strstr(p, "id=\"gate\""));
	assert_null(strstr(p, "<svg id=\"auth\""));
	free(p);
	buf = NULL;
	f = open_memstream(&buf, &len);
	report_print_gate(r, f);
	fclose(f);
	assert_int_equal(len, 0);
	free(buf);
	results_free(r);
}

static void test_empty_run(void **state)
{
	struct results *r = results_new("empty", 1, 0);
	char *p = page(r);

	assert_non_null(strstr(p, "<svg id=\"matrix\""));
	assert_non_null(strstr(p, "no attempt"));
	assert_non_null(strstr(p, "</html>"));
	free(p);
	results_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_escape_cut),
	    cmocka_unit_test(test_hostile_names_keep_structure),
	    cmocka_unit_test(test_page_is_self_contained),
	    cmocka_unit_test(test_matrix_cells),
	    cmocka_unit_test(test_matrix_by_nat),
	    cmocka_unit_test(test_text_matrix),
	    cmocka_unit_test(test_text_matrix_widths),
	    cmocka_unit_test(test_gate_section),
	    cmocka_unit_test(test_empty_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
