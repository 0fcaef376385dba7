/* Unit tests for cli/results.c and results_write.c: a fixed set of
 * attempts gives exactly the expected results.json (tests/data/results/,
 * whose numbers docs/results.md's worked example derives by hand) and CSV,
 * whatever order the attempts come in; a written file loads back to the
 * same bytes; RFC 4180 quoting; agent lines parsed or refused with a
 * reason; bad attempts refused; the --until-ci check; winners' ties; gate
 * outcomes, trust levels and auth times, and their summaries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results.h"

#define DATA NATBED_TEST_DATA "/results"

/* What fn writes for r, as a string to free. */
static char *out_of(struct results *r, int (*fn)(struct results *, FILE *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(fn(r, f), 0);
	fclose(f);
	return buf;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long len;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)len + 1);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return buf;
}

/* The expected file with @NATBED_VERSION@ replaced by this build's. */
static char *expected(const char *name, const char *version)
{
	char path[512], *raw, *at, *out;

	snprintf(path, sizeof(path), "%s/%s", DATA, name);
	raw = slurp(path);
	out = calloc(1, strlen(raw) + strlen(version) + 1);
	if ((at = strstr(raw, "@NATBED_VERSION@"))) {
		memcpy(out, raw, (size_t)(at - raw));
		strcat(out, version);
		strcat(out, at + strlen("@NATBED_VERSION@"));
	} else {
		strcpy(out, raw);
	}
	free(raw);
	return out;
}

static const struct res_try t1[] = {{"direct", false, 1000, "timeout"},
				    {"punch", false, 2000, "filtered"},
				    {"relay", true, 150.25, NULL}};
static const struct res_try t2[] = {{"punch", true, 120.5, NULL}};
static const struct res_try t3[] = {{"punch", false, 2000, "filtered"},
				    {"relay", false, 5000, "timeout"}};
static const struct res_try t4[] = {{"punch", true, 100, NULL}};

/* The fixed attempts, deliberately not in time order; alice's behind a
 * gate, carol's not. */
static const struct res_attempt fixed[] = {
    {"alice", "bob", "full-cone", "symmetric-random", "relay", true, 3150.25, 40, 0, "relay",
     "192.168.1.10:4000", "198.51.100.20:3478", NULL, t1, 3, 0.5, 1500.5, "granted", "low"},
    {"alice", "carol", "full-cone", "port-restricted", "punch", true, 130.5, 20.0004, 0.1, "direct",
     "192.168.1.10:4000", "203.0.113.30:4000", NULL, t2, 1, 0.0, 3000, "granted", "untrusted"},
    {"carol", "bob", "port-restricted", "symmetric-random", NULL, false, NAN, NAN, NAN, "none",
     NULL, NULL, NULL, t3, 2, 1.0, NAN, NULL, NULL},
    {"alice", "carol", "full-cone", "port-restricted", "punch", true, 100, 21, 0, "direct",
     "192.168.1.10:4001", "203.0.113.30:4001", NULL, t4, 1, 1.0, 1200.25, "granted", "low"},
};
#define N_FIXED (sizeof(fixed) / sizeof(fixed[0]))

static struct results *fixed_run(const size_t *order)
{
	struct results *r = results_new("fixed", 42, 0);
	size_t i;

	assert_non_null(r);
	for (i = 0; i < N_FIXED; i++)
		assert_int_equal(results_add_attempt(r, &fixed[order ? order[i] : i]), 0);
	assert_int_equal(results_add_port_exhaustion(r, "home", 2), 0);
	assert_int_equal(results_add_port_exhaustion(r, "carrier", 1), 0);
	assert_int_equal(results_add_port_exhaustion(r, "home", 1), 0);
	assert_int_equal(results_set_option(r, "until_ci", "0.1"), 0);
	assert_int_equal(results_set_option(r, "file", "topologies/x.yaml"), 0);
	assert_int_equal(results_set_option(r, "until_ci", "0.05"), 0);
	results_set_wall(r, 10);
	return r;
}

static void test_fixed_json(void **state)
{
	struct results *r = fixed_run(NULL);
	char *json = out_of(r, results_write_json);
	char *want = expected("expected.json", results_natbed_version(r));

	assert_string_equal(json, want);
	free(json);
	free(want);
	results_free(r);
}

static void test_fixed_summaries(void **state)
{
	struct results *r = fixed_run(NULL);
	const struct res_summary *o = results_overall(r), *punch;
	const struct res_attempt *a;

	/* the files' order: by t_s, then hosts */
	assert_string_equal(results_attempt(r, 0)->b, "carol");
	assert_float_equal(results_attempt(r, 0)->t_s, 0.0, 1e-9);
	assert_string_equal(results_attempt(r, 1)->b, "bob");
	assert_string_equal(results_attempt(r, 2)->a, "alice");
	a = results_attempt(r, 3);
	assert_string_equal(a->a, "carol");
	/* a failure names the method and reason it ended on */
	assert_false(a->success);
	assert_string_equal(a->method, "relay");
	assert_string_equal(a->reason, "timeout");
	assert_null(results_attempt(r, 4));
	assert_int_equal(o->attempts, 4);
	assert_int_equal(o->successes, 3);
	assert_int_equal(o->fallbacks, 2);
	assert_float_equal(o->p50, 130.5, 1e-9);
	assert_float_equal(o->p95, 3150.25, 1e-9);
	assert_int_equal(results_n_methods(r), 3);
	punch = results_method(r, 1);
	assert_string_equal(punch->name, "punch");
	assert_int_equal(punch->attempts, 4);
	assert_int_equal(punch->successes, 2);
	assert_int_equal(results_method(r, 2)->fallbacks, 2); /* relay */
	assert_int_equal(results_n_cells(r), 3);
	assert_string_equal(results_cell(r, 2)->winner.method, RESULTS_NONE);
	assert_true(isnan(results_cell(r, 2)->winner.setup_ms));
	assert_int_equal(results_port_exhaustion(r), 4);
	results_free(r);
}

/* The fixed run's gate: alice's three attempts, granted, two at low and
 * one untrusted; carol's is ungated. By hand: auth 1200.25, 1500.5,
 * 3000 ms; 0 of 3 failed, Wilson hi z^2 / (n + z^2). */
static void test_fixed_gate(void **state)
{
	struct results *r = fixed_run(NULL);
	const struct res_gatesum *g = results_gate(r), *s;

	assert_int_equal(g->attempts, 3);
	assert_int_equal(g->failed, 0);
	assert_float_equal(g->failed_rate, 0, 1e-12);
	assert_float_equal(g->ci95.lo, 0, 1e-12);
	assert_float_equal(g->ci95.hi, 3.841459 / (3 + 3.841459), 1e-6);
	assert_float_equal(g->mean, 1900.25, 1e-9);
	assert_float_equal(g->p50, 1500.5, 1e-9);
	assert_float_equal(g->p95, 3000, 1e-9);
	/* levels in their order, not by name */
	assert_int_equal(results_n_gate_levels(r), 2);
	s = results_gate_level(r, 0);
	assert_string_equal(s->name, "untrusted");
	assert_int_equal(s->attempts, 1);
	assert_float_equal(s->p50, 3000, 1e-9);
	s = results_gate_level(r, 1);
	assert_string_equal(s->name, "low");
	assert_int_equal(s->n_auth, 2);
	assert_float_equal(s->auth_ms[0], 1200.25, 1e-9);
	assert_float_equal(s->mean, 1350.375, 1e-9);
	assert_float_equal(s->p95, 1500.5, 1e-9);
	assert_null(results_gate_level(r, 2));
	/* methods by name: the attempts' methods */
	assert_int_equal(results_n_gate_methods(r), 2);
	s = results_gate_method(r, 0);
	assert_string_equal(s->name, "punch");
	assert_int_equal(s->attempts, 2);
	assert_float_equal(s->mean, 2100.125, 1e-9);
	assert_string_equal(results_gate_method(r, 1)->name, "relay");
	/* the ungated one has none of it */
	assert_null(results_attempt(r, 3)->gate);
	assert_null(results_attempt(r, 3)->trust);
	assert_true(isnan(results_attempt(r, 3)->auth_ms));
	assert_string_equal(results_attempt(r, 0)->trust, "untrusted");
	results_free(r);
}

/* Failures at the gate: denied, refused and timed out count, granted does
 * not; a refusal and a timeout have no level and come last. */
static void test_gate_failures(void **state)
{
	static const struct {
		const char *method, *gate, *trust;
		double auth_ms;
	} g[] = {
	    {"punch", "granted", "untrusted", 30}, {"direct", "denied", "untrusted", 45},
	    {"direct", "refused", NULL, 2},	   {"direct", "timeout", NULL, 30000},
	    {"punch", "granted", "high", 5},	   {"punch", NULL, NULL, NAN},
	};
	struct results *r = results_new("gate", 1, 0);
	const struct res_gatesum *all, *s;
	size_t i;

	for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		struct res_attempt a = {.a = "h",
					.b = "p",
					.nat_a = "open",
					.nat_b = "open",
					.method = g[i].method,
					.setup_ms = NAN,
					.rtt_ms = NAN,
					.loss = NAN,
					.t_s = (double)i,
					.auth_ms = g[i].auth_ms,
					.gate = g[i].gate,
					.trust = g[i].trust};

		assert_int_equal(results_add_attempt(r, &a), 0);
	}
	all = results_gate(r);
	assert_int_equal(all->attempts, 5); /* the ungated one is not among them */
	assert_int_equal(all->failed, 3);
	assert_float_equal(all->failed_rate, 0.6, 1e-12);
	assert_float_equal(all->ci95.lo, 0.230724, 1e-6); /* Wilson 3 of 5 */
	assert_float_equal(all->ci95.hi, 0.882379, 1e-6);
	assert_float_equal(all->mean, 30082 / 5.0, 1e-9);
	assert_float_equal(all->p50, 30, 1e-9);
	assert_float_equal(all->p95, 30000, 1e-9);
	assert_int_equal(results_n_gate_levels(r), 3);
	s = results_gate_level(r, 0);
	assert_string_equal(s->name, "untrusted");
	assert_int_equal(s->failed, 1);
	assert_float_equal(s->failed_rate, 0.5, 1e-12);
	assert_float_equal(s->p50, 30, 1e-9);
	assert_float_equal(s->p95, 45, 1e-9);
	s = results_gate_level(r, 1);
	assert_string_equal(s->name, "high");
	assert_int_equal(s->failed, 0);
	s = results_gate_level(r, 2);
	assert_null(s->name);
	assert_int_equal(s->attempts, 2);
	assert_int_equal(s->failed, 2);
	assert_float_equal(s->ci95.hi, 1, 1e-12);
	s = results_gate_method(r, 0);
	assert_string_equal(s->name, "direct");
	assert_int_equal(s->failed, 3);
	assert_float_equal(s->mean, 30047 / 3.0, 1e-9);
	s = results_gate_method(r, 1);
	assert_string_equal(s->name, "punch");
	assert_int_equal(s->attempts, 2);
	assert_int_equal(s->failed, 0);
	assert_float_equal(s->p50, 5, 1e-9);
	results_free(r);

	/* no gate at all: zero attempts, nothing known */
	r = results_new("none", 1, 0);
	all = results_gate(r);
	assert_int_equal(all->attempts, 0);
	assert_true(isnan(all->failed_rate) && isnan(all->p50));
	assert_int_equal(results_n_gate_levels(r), 0);
	assert_int_equal(results_n_gate_methods(r), 0);
	results_free(r);
}

static void test_order_does_not_matter(void **state)
{
	static const size_t rev[] = {3, 2, 1, 0}, mix[] = {2, 0, 3, 1};
	struct results *a = fixed_run(NULL), *b = fixed_run(rev), *c = fixed_run(mix);
	char *ja = out_of(a, results_write_json), *jb = out_of(b, results_write_json);
	char *jc = out_of(c, results_write_json);
	char *ca = out_of(a, results_write_csv), *cb = out_of(b, results_write_csv);

	assert_string_equal(ja, jb);
	assert_string_equal(ja, jc);
	assert_string_equal(ca, cb);
	free(ja);
	free(jb);
	free(jc);
	free(ca);
	free(cb);
	results_free(a);
	results_free(b);
	results_free(c);
}

static void test_fixed_csv(void **state)
{
	struct results *r = fixed_run(NULL);
	char *csv = out_of(r, results_write_csv);
	char *want = expected("expected.csv", results_natbed_version(r));

	assert_string_equal(csv, want);
	free(csv);
	free(want);
	results_free(r);
}

static void test_csv_quoting(void **state)
{
	/* RFC 4180 §2.6, §2.7: quoted when holding , " CR or LF; " doubled */
	static const struct res_try tr[] = {{"di,rect", false, 1, "said \"no\""}};
	struct res_attempt a = {.a = "a,b",
				.b = "say \"hi\"",
				.nat_a = "line\nbreak",
				.nat_b = "cr\rhere",
				.success = false,
				.setup_ms = NAN,
				.rtt_ms = NAN,
				.loss = NAN,
				.tried = tr,
				.n_tried = 1,
				.t_s = 2.5};
	struct results *r = results_new("q", 1, 0);
	char *csv;

	assert_int_equal(results_add_attempt(r, &a), 0);
	csv = out_of(r, results_write_csv);
	assert_string_equal(strstr(csv, "\r\n") + 2,
			    "2.5,\"a,b\",\"say \"\"hi\"\"\",\"line\nbreak\",\"cr\rhere\",false,"
			    "\"di,rect\",,,,,0,,,1,\"di,rect\",\"said \"\"no\"\"\",,\r\n");
	free(csv);
	results_free(r);
}

/* JSON strings escaped as jansson escapes them (RFC 8259 §7), plain runs
 * around the escapes intact. */
static void test_json_escapes(void **state)
{
	static const char odd[] = "plain \"quoted\" back\\slash\nline\ttab\x01\x1f\b\f\r/end";
	static const struct res_try tr[] = {{"direct", false, 1, odd}};
	struct res_attempt a = {.a = "h1",
				.b = "h2",
				.nat_a = "open",
				.nat_b = "open",
				.success = false,
				.setup_ms = NAN,
				.rtt_ms = NAN,
				.loss = NAN,
				.tried = tr,
				.n_tried = 1,
				.reason = odd,
				.t_s = 1};
	struct results *r = results_new("q", 1, 0);
	json_t *s = json_string(odd), *doc;
	char *want = json_dumps(s, JSON_ENCODE_ANY), *json;

	(void)state;
	assert_int_equal(results_add_attempt(r, &a), 0);
	json = out_of(r, results_write_json);
	assert_non_null(strstr(json, want));
	doc = json_loads(json, 0, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(doc, "attempts"), 0), "reason")),
			    odd);
	json_decref(doc);
	json_decref(s);
	free(want);
	free(json);
	results_free(r);
}

static void test_round_trip(void **state)
{
	char dir[] = "/tmp/natbed-test-results.XXXXXX", path[128], err[256];
	struct results *r = fixed_run(NULL), *back;
	char *a, *b, *ca, *cb;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(results_write(r, dir, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/results.json", dir);
	back = results_load(path, err, sizeof(err));
	assert_non_null(back);
	a = out_of(r, results_write_json);
	b = out_of(back, results_write_json);
	assert_string_equal(a, b);
	ca = out_of(r, results_write_csv);
	cb = out_of(back, results_write_csv);
	assert_string_equal(ca, cb);
	b[0] = '\0';
	free(b);
	b = slurp(path);
	assert_string_equal(a, b); /* the file is what results_write_json writes */
	unlink(path);
	snprintf(path, sizeof(path), "%s/results.csv", dir);
	unlink(path);
	rmdir(dir);
	free(a);
	free(b);
	free(ca);
	free(cb);
	results_free(r);
	results_free(back);
}

/* A file that cannot be written is named as the caller gave it, not as
 * the temporary file it is written through. */
static void test_write_names_the_file(void **state)
{
	char err[256];
	struct results *r = fixed_run(NULL);

	(void)state;
	assert_int_equal(results_write(r, "/nonexistent-natbed-dir", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "/nonexistent-natbed-dir/results.json: No such file or directory");
	results_free(r);
}

static void test_load_refuses(void **state)
{
	char path[] = "/tmp/natbed-test-results.XXXXXX", err[256];
	static const char *const bad[] = {
	    "not json",
	    "{\"attempts\": []}", /* no results_version */
	    "{\"results_version\": 1, \"seed\": -1, \"attempts\": []}",
	    "{\"results_version\": 1, \"seed\": 1, \"attempts\": [{\"pair\": [\"a\"]}]}",
	    "{\"results_version\": 1, \"seed\": 1, \"attempts\": [{\"pair\": [\"a\", \"b\"], "
	    "\"nat\": [\"x\", \"y\"], \"success\": \"yes\", \"t_s\": 0}]}",
	};
	size_t i;
	int fd;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(path, "/tmp/natbed-test-results.XXXXXX");
		fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
		close(fd);
		err[0] = '\0';
		assert_null(results_load(path, err, sizeof(err)));
		assert_non_null(strstr(err, path)); /* names the file */
		unlink(path);
	}
	assert_null(results_load("/nonexistent/results.json", err, sizeof(err)));
}

/* natbed check's verdict: absent until set, written as `check`, read back,
 * replaced when set again; a malformed one refused. */
/* Removes what results_write() wrote into dir, and dir. */
static void rm_written(const char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/results.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/results.csv", dir);
	unlink(path);
	rmdir(dir);
}

static void test_check_verdict(void **state)
{
	char dir[] = "/tmp/natbed-test-results.XXXXXX", path[128], err[256];
	struct results *r = fixed_run(NULL), *back;
	const char *summary;
	unsigned long n;
	bool passed;
	char *json = out_of(r, results_write_json);
	int fd;

	assert_null(strstr(json, "\"check\""));
	free(json);
	assert_false(results_check(r, &passed, &n, &summary));
	assert_int_equal(results_set_check(r, true, 0, "pass: 8 checks"), 0);
	assert_int_equal(results_set_check(r, false, 3, "FAIL: 3 violations in 2 of 8 checks"), 0);
	assert_int_equal(results_set_check(r, false, 3, NULL), -EINVAL);
	assert_int_equal(results_set_check(r, false, 3, "\xff"), -EINVAL);
	json = out_of(r, results_write_json);
	assert_non_null(strstr(json, "\"check\": {\n    \"passed\": false,\n    \"summary\": "
				     "\"FAIL: 3 violations in 2 of 8 checks\",\n    "
				     "\"violations\": 3\n  }"));
	free(json);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(results_write(r, dir, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/results.json", dir);
	assert_non_null(back = results_load(path, err, sizeof(err)));
	assert_true(results_check(back, &passed, &n, &summary));
	assert_false(passed);
	assert_int_equal(n, 3);
	assert_string_equal(summary, "FAIL: 3 violations in 2 of 8 checks");
	results_free(back);
	rm_written(dir);
	results_free(r);

	strcpy(path, "/tmp/natbed-test-results.XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	json = "{\"results_version\": 1, \"seed\": 1, \"topology\": \"t\", \"started\": \"\", "
	       "\"natbed_version\": \"0\", \"attempts\": [], \"check\": {\"passed\": 1}}";
	assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
	close(fd);
	assert_null(results_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "check: "));
	unlink(path);
}

/* natbed matrix's attempts: exit statuses on the attempt and its cell,
 * the cell's path, written and read back; an agent's attempt has none. */
static void test_exit_attempts(void **state)
{
	char dir[] = "/tmp/natbed-test-results.XXXXXX", path[128], err[256];
	struct res_attempt direct = {.a = "fc",
				     .b = "sym",
				     .nat_a = "full-cone",
				     .nat_b = "symmetric",
				     .method = "direct",
				     .success = true,
				     .setup_ms = 420,
				     .rtt_ms = NAN,
				     .loss = NAN,
				     .path = "direct",
				     .local = "192.168.101.10:5000",
				     .remote = "203.0.113.104:6000",
				     .t_s = 1,
				     .auth_ms = NAN};
	struct res_attempt relayed = direct, none = direct;
	struct results *r = results_new("byo", 7, 0), *back;
	const struct res_cell *c;
	int ea, eb;
	char *json;

	(void)state;
	relayed.b = "pr";
	relayed.nat_b = "port-restricted";
	relayed.method = "relay";
	relayed.path = "relay";
	none.a = "pr";
	none.nat_a = "port-restricted";
	none.method = NULL;
	none.success = false;
	none.setup_ms = NAN;
	none.path = "none";
	none.local = none.remote = NULL;
	none.reason = "no datagrams";
	assert_int_equal(results_add_exit_attempt(r, &direct, 0, 0), 0);
	assert_int_equal(results_add_exit_attempt(r, &relayed, 0, 143), 0);
	assert_int_equal(results_add_exit_attempt(r, &none, 1, 1), 0);
	assert_int_equal(results_add_exit_attempt(r, &none, 256, 0), -EINVAL);
	assert_int_equal(results_add_exit_attempt(r, &none, 0, -1), -EINVAL);
	none.a = "x";
	assert_int_equal(results_add_attempt(r, &none), 0); /* an agent's: no exit */
	assert_int_equal(results_n_cells(r), 4);
	c = results_cell(r, 0); /* by pair: fc-pr, fc-sym, pr-sym, x-sym */
	assert_string_equal(c->b, "pr");
	assert_string_equal(c->path, RESULTS_PATH_RELAYED);
	assert_true(c->has_exit);
	assert_int_equal(c->exit_b, 143);
	assert_string_equal(results_cell(r, 1)->path, RESULTS_PATH_DIRECT);
	assert_string_equal(results_cell(r, 2)->path, RESULTS_NONE);
	assert_int_equal(results_cell(r, 2)->exit_a, 1);
	assert_null(results_cell(r, 3)->path);
	assert_false(results_cell(r, 3)->has_exit);
	json = out_of(r, results_write_json);
	assert_non_null(strstr(json, "\"exit\": [\n        0,\n        143\n      ]"));
	assert_non_null(strstr(json, "\"path\": \"relayed\""));
	assert_non_null(strstr(json, "\"path\": \"none\",\n      \"setup_ms\""));
	free(json);

	assert_non_null(mkdtemp(dir));
	assert_int_equal(results_write(r, dir, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/results.json", dir);
	assert_non_null(back = results_load(path, err, sizeof(err)));
	for (size_t i = 0; i < results_n_attempts(r); i++) {
		bool has = results_attempt_exit(r, i, &ea, &eb);

		assert_int_equal(results_attempt_exit(back, i, &ea, &eb), has);
	}
	assert_string_equal(results_cell(back, 0)->path, RESULTS_PATH_RELAYED);
	assert_int_equal(results_cell(back, 0)->exit_b, 143);
	assert_null(results_cell(back, 3)->path);
	results_free(back);
	rm_written(dir);
	results_free(r);
}

/* `mode`: absent until set, "run" or "sim" only, written and read back. */
static void test_mode(void **state)
{
	char dir[] = "/tmp/natbed-test-results.XXXXXX", path[128], err[256];
	struct results *r = fixed_run(NULL), *back;
	char *json = out_of(r, results_write_json);

	assert_null(strstr(json, "\"mode\""));
	free(json);
	assert_null(results_mode(r));
	assert_int_equal(results_set_mode(r, "emulated"), -EINVAL);
	assert_int_equal(results_set_mode(r, NULL), -EINVAL);
	assert_int_equal(results_set_mode(r, "sim"), 0);
	assert_string_equal(results_mode(r), "sim");
	json = out_of(r, results_write_json);
	assert_non_null(strstr(json, "\n  \"mode\": \"sim\",\n"));
	free(json);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(results_write(r, dir, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/results.json", dir);
	assert_non_null(back = results_load(path, err, sizeof(err)));
	assert_string_equal(results_mode(back), "sim");
	results_free(back);
	unlink(path);
	snprintf(path, sizeof(path), "%s/results.csv", dir);
	unlink(path);
	rmdir(dir);
	results_free(r);
}

static void test_big_seed(void **state)
{
	char dir[] = "/tmp/natbed-test-results.XXXXXX", path[128], err[256];
	struct results *r = results_new("s", UINT64_MAX, 0), *back;
	char *json = out_of(r, results_write_json);

	assert_non_null(strstr(json, "\"seed\": \"18446744073709551615\""));
	assert_non_null(mkdtemp(dir));
	assert_int_equal(results_write(r, dir, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/results.json", dir);
	back = results_load(path, err, sizeof(err));
	assert_non_null(back);
	assert_true(results_seed(back) == UINT64_MAX);
	unlink(path);
	snprintf(path, sizeof(path), "%s/results.csv", dir);
	unlink(path);
	rmdir(dir);
	free(json);
	results_free(r);
	results_free(back);
}

static void test_agent_line(void **state)
{
	struct res_origin o = {"alice", NULL, "full-cone", "symmetric-random", 3.25, NAN};
	struct results *r = results_new("agent", 1, 0);
	const struct res_attempt *a;
	char err[256];

	assert_int_equal(
	    results_add_agent_line(
		r, &o,
		"{\"peer\":\"bob\",\"method\":\"relay\",\"success\":true,\"setup_ms\":812.3456,"
		"\"rtt_ms\":41.2,\"loss\":0.0,\"local\":\"192.168.1.10:40000\","
		"\"remote\":\"198.51.100.20:49152\",\"path\":\"relay\",\"tried\":["
		"{\"method\":\"punch\",\"success\":false,\"ms\":500,\"reason\":\"filtered\"},"
		"{\"method\":\"relay\",\"success\":true,\"ms\":312.1,\"reason\":null}]}",
		err, sizeof(err)),
	    0);
	a = results_attempt(r, 0);
	assert_string_equal(a->a, "alice");
	assert_string_equal(a->b, "bob"); /* from "peer" */
	assert_string_equal(a->nat_b, "symmetric-random");
	assert_string_equal(a->path, "relay");
	assert_float_equal(a->setup_ms, 812.346, 1e-9); /* to the microsecond */
	assert_float_equal(a->t_s, 3.25, 1e-9);
	assert_int_equal(a->n_tried, 2);
	assert_string_equal(a->tried[0].reason, "filtered");
	assert_null(a->tried[1].reason);
	assert_null(a->reason);

	/* a failure without a top-level reason takes its last try's */
	o.b = "carol";
	assert_int_equal(results_add_agent_line(r, &o,
						"{\"peer\":\"x\",\"method\":null,\"success\":false,"
						"\"setup_ms\":null,\"path\":\"none\",\"tried\":["
						"{\"method\":\"direct\",\"success\":false,\"ms\":"
						"1500,\"reason\":\"timeout\"}]}",
						err, sizeof(err)),
			 0);
	a = results_attempt(r, 1);
	assert_string_equal(a->b, "carol"); /* the origin's b wins over "peer" */
	assert_string_equal(a->method, "direct");
	assert_string_equal(a->reason, "timeout");
	assert_null(a->gate); /* no gate in the line: none */
	assert_null(a->trust);
	assert_true(isnan(a->auth_ms)); /* nor from the origin */
	results_free(r);
}

/* A gated agent's line: gate, trust and auth_ms as it gives them; its
 * auth_ms wins over the origin's, which stands in when the line has
 * none. */
static void test_agent_line_gate(void **state)
{
	struct res_origin o = {"alice", "bob", "port-restricted", "open", 0, 99};
	struct results *r = results_new("agent", 1, 0);
	const struct res_attempt *a;
	char err[256];

	assert_int_equal(results_add_agent_line(
			     r, &o,
			     "{\"peer\":\"bob\",\"method\":\"punch\",\"success\":true,"
			     "\"setup_ms\":341.5,\"path\":\"direct\",\"gate\":\"granted\","
			     "\"auth_ms\":312.4567,\"trust\":\"medium\",\"tried\":[{\"method\":"
			     "\"punch\",\"success\":true,\"ms\":29.1,\"reason\":null}]}",
			     err, sizeof(err)),
			 0);
	o.t_s = 1;
	assert_int_equal(
	    results_add_agent_line(r, &o,
				   "{\"peer\":\"bob\",\"method\":\"punch\",\"success\":false,"
				   "\"setup_ms\":null,\"path\":\"none\",\"reason\":\"gate: refused "
				   "(401 Bad integrity)\",\"gate\":\"refused\",\"auth_ms\":1.5,"
				   "\"trust\":null,\"tried\":[]}",
				   err, sizeof(err)),
	    0);
	o.t_s = 2;
	assert_int_equal(results_add_agent_line(r, &o,
						"{\"peer\":\"bob\",\"success\":false,\"gate\":"
						"\"timeout\",\"auth_ms\":null}",
						err, sizeof(err)),
			 0);
	o.t_s = 3;
	assert_int_equal(results_add_agent_line(r, &o,
						"{\"peer\":\"bob\",\"success\":true,\"gate\":"
						"\"granted\",\"trust\":\"high\"}",
						err, sizeof(err)),
			 0);
	a = results_attempt(r, 0);
	assert_string_equal(a->gate, "granted");
	assert_string_equal(a->trust, "medium");
	assert_float_equal(a->auth_ms, 312.457, 1e-9); /* to the microsecond */
	a = results_attempt(r, 1);
	assert_string_equal(a->gate, "refused");
	assert_null(a->trust);
	assert_string_equal(a->reason, "gate: refused (401 Bad integrity)");
	assert_float_equal(a->auth_ms, 1.5, 1e-9);
	assert_true(isnan(results_attempt(r, 2)->auth_ms));	      /* the line's null wins */
	assert_float_equal(results_attempt(r, 3)->auth_ms, 99, 1e-9); /* none: the origin's */
	assert_int_equal(results_gate(r)->failed, 2);
	results_free(r);
}

static void test_agent_line_refused(void **state)
{
	static const struct {
		const char *line, *says;
	} bad[] = {
	    {"not json", "agent line"},
	    {"[1,2]", "not a JSON object"},
	    {"{\"peer\":\"b\",\"method\":\"x\"}", "success"},
	    {"{\"peer\":\"b\",\"success\":true,\"setup_ms\":\"fast\"}", "setup_ms"},
	    {"{\"peer\":\"b\",\"success\":true,\"tried\":{}}", "tried"},
	    {"{\"peer\":\"b\",\"success\":true,\"tried\":[{\"success\":true}]}", "tried[0].method"},
	    {"{\"peer\":\"b\",\"success\":true,\"tried\":[{\"method\":\"m\"}]}",
	     "tried[0].success"},
	    {"{\"success\":true}", "missing"}, /* no peer, and none from the origin */
	    {"{\"peer\":\"b\",\"success\":true,\"gate\":\"maybe\"}", "gate: not granted"},
	    {"{\"peer\":\"b\",\"success\":true,\"gate\":1}", "gate: not a string"},
	    {"{\"peer\":\"b\",\"success\":true,\"gate\":\"denied\",\"trust\":\"super\"}",
	     "trust: not untrusted"},
	    {"{\"peer\":\"b\",\"success\":true,\"trust\":\"low\"}", "trust: without gate"},
	    {"{\"peer\":\"b\",\"success\":true,\"gate\":\"granted\",\"auth_ms\":\"x\"}", "auth_ms"},
	    {"{\"peer\":\"b\",\"success\":true,\"gate\":\"granted\",\"auth_ms\":-1}",
	     "auth_ms: below 0"},
	};
	struct res_origin o = {"a", NULL, "open", "open", 0, 0};
	struct results *r = results_new("agent", 1, 0);
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(results_add_agent_line(r, &o, bad[i].line, err, sizeof(err)),
				 -EINVAL);
		if (!strstr(err, bad[i].says))
			fail_msg("line %zu: '%s' does not say '%s'", i, err, bad[i].says);
	}
	assert_int_equal(results_n_attempts(r), 0);
	results_free(r);
}

static void test_bad_attempts(void **state)
{
	struct res_try many[RESULTS_TRIES_MAX + 1];
	struct results *r = results_new("bad", 1, 0);
	struct res_attempt a = fixed[1];
	size_t i;

	a.a = NULL;
	assert_int_equal(results_add_attempt(r, &a), -EINVAL);
	a = fixed[1];
	a.b = "";
	assert_int_equal(results_add_attempt(r, &a), -EINVAL);
	a = fixed[1];
	a.nat_a = "\xc3\x28"; /* not UTF-8 */
	assert_int_equal(results_add_attempt(r, &a), -EINVAL);
	a = fixed[1];
	a.reason = "\xed\xa0\x80"; /* a surrogate */
	assert_int_equal(results_add_attempt(r, &a), -EINVAL);
	a = fixed[1];
	a.t_s = -1;
	assert_int_equal(results_add_attempt(r, &a), -EINVAL);
	a.t_s = NAN;
	assert_int_equal(results_add_attempt(r, &a), -EINVAL);
	a = fixed[1];
	a.gate = "maybe";
	assert_int_equal(results_add_attempt(r, &a), -EINVAL);
	a.gate = NULL; /* a level with no gate */
	assert_int_equal(results_add_attempt(r, &a), -EINVAL);
	a.gate = "denied";
	a.trust = "Low"; /* the words are lower case */
	assert_int_equal(results_add_attempt(r, &a), -EINVAL);
	a.trust = "verified";
	a.auth_ms = -0.5;
	assert_int_equal(results_add_attempt(r, &a), -EINVAL);
	a.auth_ms = INFINITY;
	assert_int_equal(results_add_attempt(r, &a), -EINVAL);
	a = fixed[1];
	for (i = 0; i < RESULTS_TRIES_MAX + 1; i++)
		many[i] = (struct res_try){"m", false, 1, "timeout"};
	a.tried = many;
	a.n_tried = RESULTS_TRIES_MAX + 1;
	assert_int_equal(results_add_attempt(r, &a), -EINVAL);
	a.n_tried = RESULTS_TRIES_MAX;
	assert_int_equal(results_add_attempt(r, &a), 0);
	a = fixed[1];
	a.a = "h\xc3\xa9l\xc3\xa8ne \xe2\x86\x92 \xf0\x9f\x98\x80"; /* UTF-8 is fine */
	assert_int_equal(results_add_attempt(r, &a), 0);
	assert_int_equal(results_n_attempts(r), 2);
	assert_int_equal(results_add_port_exhaustion(r, "", 1), -EINVAL);
	assert_int_equal(results_set_option(r, "k", NULL), -EINVAL);
	results_free(r);
}

static void add_n(struct results *r, const char *method, unsigned n, unsigned ok)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct res_try t = {method, i < ok, 10, i < ok ? NULL : "timeout"};
		struct res_attempt a = {"a", "b", "open", "full-cone", NULL, i < ok, 10,
					NAN, NAN, NULL,	  NULL,	       NULL, NULL,   &t,
					1,   i,	  NAN,	  NULL,	       NULL};

		assert_int_equal(results_add_attempt(r, &a), 0);
	}
}

static void test_until_ci(void **state)
{
	struct results *r = results_new("ci", 1, 0);

	assert_false(results_ci_met(r, 0.5)); /* nothing yet */
	add_n(r, "direct", 10, 10);
	/* 10/10: [0.722, 1], half-width 0.139 */
	assert_false(results_ci_met(r, 0.1));
	assert_true(results_ci_met(r, 0.14));
	results_free(r);

	r = results_new("ci", 1, 0);
	add_n(r, "direct", 400, 400);
	assert_true(results_ci_met(r, 0.05));
	/* one more pair of behaviours with few tries holds it back */
	{
		struct res_try t = {"direct", true, 5, NULL};
		struct res_attempt a = {"c",	"d",  "symmetric-random",
					"open", NULL, true,
					5,	NAN,  NAN,
					NULL,	NULL, NULL,
					NULL,	&t,   1,
					500,	NAN,  NULL,
					NULL};

		assert_int_equal(results_add_attempt(r, &a), 0);
	}
	assert_false(results_ci_met(r, 0.05));
	results_free(r);

	/* the gates' failure share counts too: 400 connected, but 10 met a
	 * gate (4 denied), whose share is known to +-0.28 only */
	r = results_new("ci", 1, 0);
	add_n(r, "direct", 400, 400);
	assert_true(results_ci_met(r, 0.05));
	for (unsigned i = 0; i < 10; i++) {
		struct res_try t = {"direct", true, 5, NULL};
		struct res_attempt a = {.a = "g",
					.b = "p",
					.nat_a = "open",
					.nat_b = "full-cone",
					.method = "direct",
					.success = true,
					.setup_ms = 5,
					.rtt_ms = NAN,
					.loss = NAN,
					.tried = &t,
					.n_tried = 1,
					.t_s = 400 + i,
					.auth_ms = 20,
					.gate = i < 4 ? "denied" : RESULTS_GATE_GRANTED,
					.trust = "low"};

		assert_int_equal(results_add_attempt(r, &a), 0);
	}
	assert_false(results_ci_met(r, 0.05));
	assert_true(results_ci_met(r, 0.3));
	results_free(r);
}

static void test_winner_ties(void **state)
{
	/* one success each: the lower p50 wins, then the name */
	static const struct res_try fast[] = {{"zeta", true, 5, NULL}};
	static const struct res_try slow[] = {{"alpha", true, 50, NULL}};
	struct res_attempt a = {"h1", "h2", "open", "open", NULL, true, 50,  NAN,  NAN, NULL,
				NULL, NULL, NULL,   slow,   1,	  0,	NAN, NULL, NULL};
	struct results *r = results_new("tie", 1, 0);

	assert_int_equal(results_add_attempt(r, &a), 0);
	a.tried = fast;
	a.setup_ms = 5;
	a.t_s = 1;
	assert_int_equal(results_add_attempt(r, &a), 0);
	assert_string_equal(results_cell(r, 0)->winner.method, "zeta");
	assert_float_equal(results_cell(r, 0)->winner.setup_ms, 5, 1e-9);
	a.tried = slow;
	a.setup_ms = 5;
	a.t_s = 2;
	assert_int_equal(results_add_attempt(r, &a), 0); /* alpha: 2 wins */
	assert_string_equal(results_cell(r, 0)->winner.method, "alpha");
	assert_float_equal(results_cell(r, 0)->winner.setup_ms, 5, 1e-9); /* p50 of 5, 50 */
	results_free(r);
}

/* The cascade's skips are listed in an attempt's tries (reason "skipped:
 * ...") but were never run: no method counts them as a try, nor as a
 * fallback or a flow's start. */
static void test_skipped_tries(void **state)
{
	static const struct res_try first[] = {
	    {"punch", true, 20, NULL},
	    {"direct", false, 0, "skipped: no chance for this pair"},
	    {"predict", false, 0, "skipped: no chance for this pair"}};
	static const struct res_try second[] = {
	    {"direct", false, 3000, "timeout"},
	    {"punch", true, 40, NULL},
	    {"birthday", false, 0, "skipped: needs more than the budget"}};
	static const struct res_try none[] = {{"relay", false, 0, "skipped: relay not allowed"}};
	struct res_attempt a = {.a = "a",
				.b = "b",
				.nat_a = "full-cone",
				.nat_b = "port-restricted",
				.success = true,
				.setup_ms = 20,
				.rtt_ms = NAN,
				.loss = NAN,
				.auth_ms = NAN};
	struct results *r = results_new("skips", 1, 0);
	const struct res_summary *m;
	const struct res_flow *f;

	assert_true(results_try_skipped(&first[1]));
	assert_false(results_try_skipped(&first[0]));
	a.method = "punch";
	a.tried = first;
	a.n_tried = 3;
	assert_int_equal(results_add_attempt(r, &a), 0);
	a.t_s = 1;
	a.tried = second;
	assert_int_equal(results_add_attempt(r, &a), 0);
	a.t_s = 2;
	a.method = NULL; /* nothing ran: the attempt ends on none */
	a.success = false;
	a.setup_ms = NAN;
	a.reason = "nothing to try: every method skipped";
	a.tried = none;
	a.n_tried = 1;
	assert_int_equal(results_add_attempt(r, &a), 0);
	assert_string_equal(results_attempt(r, 2)->method, RESULTS_NONE);
	/* direct ran once (and failed), punch twice; predict, birthday and
	 * relay never */
	assert_int_equal(results_n_methods(r), 2);
	m = results_method(r, 0);
	assert_string_equal(m->name, "direct");
	assert_int_equal(m->attempts, 1);
	assert_int_equal(m->successes, 0);
	m = results_method(r, 1);
	assert_string_equal(m->name, "punch");
	assert_int_equal(m->attempts, 2);
	assert_int_equal(m->successes, 2);
	assert_int_equal(m->fallbacks, 1); /* the second attempt's */
	assert_int_equal(results_overall(r)->fallbacks, 1);
	/* flows from the first try that ran: punch->punch, direct->punch */
	assert_int_equal(results_n_flows(r), 2);
	f = results_flow(r, 0);
	assert_string_equal(f->from, "direct");
	assert_string_equal(f->to, "punch");
	f = results_flow(r, 1);
	assert_string_equal(f->from, "punch");
	assert_string_equal(f->to, "punch");
	results_free(r);
}

/* results_fmt_real writes what snprintf's "%.15g" writes for the rounded
 * value, over magnitudes from 1e-9 to 1e17, signs, halves and zeros. */
static void test_fmt_real(void **state)
{
	static const double samples[] = {0,	     -0.0,
					 0.0004,     -0.0004,
					 0.00005,    0.0001,
					 0.00015,    1e-4,
					 28,	     28.0005,
					 3940.501,   0.204116,
					 1e15,	     999999999999999.0,
					 1e15 - 0.5, 123456789.123456,
					 -1.5,	     2.5,
					 1e17,	     4503599627370497.0};
	uint64_t lcg = 15;
	char want[64], got[32];
	double x, f;
	int places, i, k;

	(void)state;
	for (k = 0; k < 200000; k++) {
		if (k < (int)(sizeof(samples) / sizeof(samples[0])) * 7) {
			x = samples[k / 7];
			places = k % 7;
		} else {
			lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
			places = (int)(lcg >> 61) % 7;
			x = (double)(lcg >> 11) / (double)(1ull << 53);
			for (i = (int)((lcg >> 3) % 27) - 9; i > 0; i--)
				x *= 10;
			for (; i < 0; i++)
				x /= 10;
			if (lcg & 1)
				x = -x;
			if (lcg & 2) /* a half, where rounding turns */
				x = (floor(x * 1000) + 0.5) / 1000;
		}
		f = pow(10, places);
		snprintf(want, sizeof(want), "%.15g", round(x * f) / f);
		results_fmt_real(got, x, places);
		if (strcmp(want, got) != 0)
			fail_msg("%.17g to %d places: %s, not %s", x, places, got, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixed_json),
	    cmocka_unit_test(test_fixed_summaries),
	    cmocka_unit_test(test_fixed_gate),
	    cmocka_unit_test(test_gate_failures),
	    cmocka_unit_test(test_order_does_not_matter),
	    cmocka_unit_test(test_fixed_csv),
	    cmocka_unit_test(test_csv_quoting),
	    cmocka_unit_test(test_json_escapes),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_write_names_the_file),
	    cmocka_unit_test(test_load_refuses),
	    cmocka_unit_test(test_big_seed),
	    cmocka_unit_test(test_agent_line),
	    cmocka_unit_test(test_agent_line_gate),
	    cmocka_unit_test(test_agent_line_refused),
	    cmocka_unit_test(test_bad_attempts),
	    cmocka_unit_test(test_until_ci),
	    cmocka_unit_test(test_skipped_tries),
	    cmocka_unit_test(test_winner_ties),
	    cmocka_unit_test(test_fmt_real),
	    cmocka_unit_test(test_check_verdict),
	    cmocka_unit_test(test_exit_attempts),
	    cmocka_unit_test(test_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
