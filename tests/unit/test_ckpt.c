/* lib/ckpt and sched_each: an object graph written and read back, its
 * pointers, callbacks and timers with it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "natbed/ckpt.h"
#include "natbed/clock.h"
#include "natbed/sched.h"

/* What ran, in order: "name@ms" words. */
static char t_trace[4096];

static void t_log(const char *name, natbed_time_t now)
{
	size_t n = strlen(t_trace);

	snprintf(t_trace + n, sizeof(t_trace) - n, "%s@%lld ", name,
		 (long long)(now / NATBED_NS_PER_MS));
}

/* A toy state machine: ticks every period until count reaches limit,
 * telling its peer each time through the peer's callback. */
struct t_node {
	char name[8];
	const char *greet; /* a static object */
	struct t_node *peer;
	void (*told)(struct t_node *n, natbed_time_t now);
	struct sched *s;
	natbed_time_t period;
	int count, limit, heard;
	uint64_t timer, spent; /* spent: a timer that already ran */
};

static void t_told_quiet(struct t_node *n, natbed_time_t now)
{
	(void)now;
	n->heard++;
}

static void t_told_loud(struct t_node *n, natbed_time_t now)
{
	n->heard++;
	t_log("heard", now);
}

static void t_tick(void *arg, natbed_time_t now)
{
	struct t_node *n = arg;

	n->spent = n->timer;
	n->timer = 0;
	t_log(n->name, now);
	if (n->peer)
		n->peer->told(n->peer, now);
	if (++n->count < n->limit)
		n->timer = sched_after(n->s, n->period, t_tick, n);
}

/* An event that owns its argument: a message on its way. */
struct t_msg {
	char text[16];
};

static void t_deliver(void *arg, natbed_time_t now)
{
	struct t_msg *m = arg;

	t_log(m->text, now);
	free(m);
}

static json_t *t_msg_save(struct ckw *w, const void *arg)
{
	(void)w;
	return json_string(((const struct t_msg *)arg)->text);
}

static void *t_msg_load(struct ckr *r, const json_t *j)
{
	struct t_msg *m;

	if (!json_is_string(j) || strlen(json_string_value(j)) >= sizeof(m->text)) {
		ckr_fail(r, "msg: not a text");
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	strcpy(m->text, json_string_value(j));
	return m;
}

static const char t_hello[] = "hello", t_hi[] = "hi";

static const struct ckfn t_fns[] = {CKFN(t_tick), CKFN(t_told_quiet), CKFN(t_told_loud),
				    CKFN_ARG(t_deliver, t_msg_save, t_msg_load)};
static const struct ckvar t_vars[] = {CKVAR(t_hello), CKVAR(t_hi)};
static const struct ckfns t_table = CKFNS_VARS(toy, t_fns, t_vars);
static const struct ckfns *const t_tables[] = {&t_table};

static json_t *t_node_save(struct ckw *w, const struct t_node *n)
{
	return json_pack("{s:o,s:s,s:o,s:o,s:o,s:I,s:i,s:i,s:i,s:o,s:o}", "id", ckw_obj(w, n),
			 "name", n->name, "greet", ckw_ref(w, n->greet), "peer",
			 ckw_ref(w, n->peer), "told", ckw_fn(w, (ckfn_ptr)n->told), "period",
			 (json_int_t)n->period, "count", n->count, "limit", n->limit, "heard",
			 n->heard, "timer", ckw_timer(w, n->timer), "spent",
			 ckw_timer(w, n->spent));
}

static struct t_node *t_node_load(struct ckr *r, struct sched *s, const json_t *j)
{
	struct t_node *n = calloc(1, sizeof(*n));
	ckfn_ptr told = NULL;

	assert_non_null(n);
	n->s = s;
	strcpy(n->name, json_string_value(json_object_get(j, "name")));
	n->period = json_integer_value(json_object_get(j, "period"));
	n->count = (int)json_integer_value(json_object_get(j, "count"));
	n->limit = (int)json_integer_value(json_object_get(j, "limit"));
	n->heard = (int)json_integer_value(json_object_get(j, "heard"));
	/* errors are kept in r, for ckr_finish() */
	ckr_obj(r, json_object_get(j, "id"), n);
	ckr_ref(r, json_object_get(j, "peer"), &n->peer);
	ckr_ref(r, json_object_get(j, "greet"), &n->greet);
	ckr_fn(r, json_object_get(j, "told"), &told);
	n->told = (void (*)(struct t_node *, natbed_time_t))told;
	ckr_timer(r, json_object_get(j, "timer"), &n->timer);
	ckr_timer(r, json_object_get(j, "spent"), &n->spent);
	return n;
}

/* A world: two nodes telling each other, and two messages on their way. */
struct t_world {
	struct clock_virtual vc;
	struct sched *s;
	struct t_node *a, *b;
};

static void t_world_init(struct t_world *w)
{
	w->vc.now_ns = 0;
	w->s = sched_new(clock_virtual_clock(&w->vc), &w->vc);
	assert_non_null(w->s);
}

static void t_world_start(struct t_world *w)
{
	struct t_msg *m1 = calloc(1, sizeof(*m1)), *m2 = calloc(1, sizeof(*m2));

	t_world_init(w);
	w->a = calloc(1, sizeof(*w->a));
	w->b = calloc(1, sizeof(*w->b));
	*w->a = (struct t_node){.name = "a",
				.greet = t_hello,
				.peer = w->b,
				.told = t_told_quiet,
				.s = w->s,
				.period = 30 * NATBED_NS_PER_MS,
				.limit = 6};
	*w->b = (struct t_node){.name = "b",
				.greet = t_hi,
				.peer = w->a,
				.told = t_told_loud,
				.s = w->s,
				.period = 20 * NATBED_NS_PER_MS,
				.limit = 8};
	w->a->timer = sched_after(w->s, w->a->period, t_tick, w->a);
	w->b->timer = sched_after(w->s, w->b->period, t_tick, w->b);
	strcpy(m1->text, "m1");
	strcpy(m2->text, "m2");
	sched_after(w->s, 60 * NATBED_NS_PER_MS, t_deliver, m1); /* a tie with a's and b's ticks */
	sched_after(w->s, 125 * NATBED_NS_PER_MS, t_deliver, m2);
}

static void t_world_free(struct t_world *w)
{
	sched_free(w->s);
	free(w->a);
	free(w->b);
}

static json_t *t_world_save(const struct t_world *w, char *err, size_t errlen)
{
	struct ckw *ck = ckw_new(t_tables, 1);
	json_t *j, *queue, *a, *b;

	assert_non_null(ck);
	queue = ckw_sched(ck, w->s); /* before any timer */
	a = t_node_save(ck, w->a);
	b = t_node_save(ck, w->b);
	j = json_pack("{s:I,s:o,s:[oo]}", "at", (json_int_t)sched_now(w->s), "queue", queue,
		      "nodes", a, b);
	if (ckw_finish(ck, err, errlen) < 0) {
		json_decref(j);
		j = NULL;
	}
	ckw_free(ck);
	return j;
}

static int t_world_load(struct t_world *w, const json_t *j, char *err, size_t errlen)
{
	struct ckr *ck = ckr_new(t_tables, 1);
	int rc;

	assert_non_null(ck);
	w->vc.now_ns = json_integer_value(json_object_get(j, "at"));
	w->s = sched_new(clock_virtual_clock(&w->vc), &w->vc);
	w->a = t_node_load(ck, w->s, json_array_get(json_object_get(j, "nodes"), 0));
	w->b = t_node_load(ck, w->s, json_array_get(json_object_get(j, "nodes"), 1));
	ckr_sched(ck, w->s, json_object_get(j, "queue"));
	rc = ckr_finish(ck, err, errlen);
	ckr_free(ck);
	return rc;
}

/* sched_each: every pending event, in the order they run, cancelled ones
 * left out; the FIFO of events due now among them. */
static int t_collect(void *ctx, const struct sched_event *e)
{
	char *out = ctx;
	size_t n = strlen(out);

	snprintf(out + n, 256 - n, "%lld:%s ", (long long)e->due, ((struct t_node *)e->arg)->name);
	return 0;
}

static void test_each_order(void **state)
{
	struct clock_virtual vc;
	struct sched *s;
	struct t_node n[5] = {
	    {.name = "x"}, {.name = "y"}, {.name = "z"}, {.name = "now1"}, {.name = "now2"}};
	char out[256] = "";
	uint64_t gone;

	(void)state;
	vc.now_ns = 1000;
	s = sched_new(clock_virtual_clock(&vc), &vc);
	sched_at(s, 1000 + 60 * NATBED_NS_PER_S, t_tick, &n[0]); /* far */
	sched_at(s, 1005, t_tick, &n[1]);			 /* near */
	sched_at(s, 1000 + 60 * NATBED_NS_PER_S, t_tick, &n[2]); /* ties x: after it */
	sched_at(s, 1000, t_tick, &n[3]);			 /* due now: the FIFO */
	gone = sched_at(s, 1000, t_tick, &n[1]);
	sched_at(s, 1000, t_tick, &n[4]);
	assert_true(sched_cancel(s, gone));
	assert_int_equal(sched_each(s, t_collect, out), 0);
	assert_string_equal(out, "1000:now1 1000:now2 1005:y 60000001000:x 60000001000:z ");
	assert_int_equal(sched_pending(s), 5); /* nothing ran or changed */
	sched_free(s);
}

/* A world saved at 70 ms and loaded into new objects runs on exactly as
 * the one never saved: same events, same times, same order. */
static void test_round_trip(void **state)
{
	struct t_world a, b;
	char err[256], through[4096];
	json_t *j;
	char *text;
	size_t keep;

	(void)state;
	t_trace[0] = 0;
	t_world_start(&a);
	sched_run_until(a.s, 1000 * NATBED_NS_PER_MS);
	strcpy(through, t_trace);
	/* ties in the order scheduled; a message on its way; the last tick */
	assert_non_null(strstr(through, "b@40 m1@60 a@60 heard@60 b@60 b@80 "));
	assert_non_null(strstr(through, "b@120 m2@125 b@140 "));
	assert_non_null(strstr(through, "a@180 heard@180 "));
	t_world_free(&a);

	t_trace[0] = 0;
	t_world_start(&a);
	sched_run_until(a.s, 70 * NATBED_NS_PER_MS);
	j = t_world_save(&a, err, sizeof(err));
	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	/* the original goes away with its pointers and ids (run out, to free
	 * the messages on their way; what it logs meanwhile is dropped) */
	keep = strlen(t_trace);
	while (sched_pending(a.s))
		sched_run_until(a.s, sched_next_due(a.s));
	t_trace[keep] = 0;
	t_world_free(&a);

	j = json_loads(text, 0, NULL);
	free(text);
	assert_int_equal(t_world_load(&b, j, err, sizeof(err)), 0);
	json_decref(j);
	assert_ptr_equal(b.a->peer, b.b);
	assert_ptr_equal(b.b->peer, b.a);
	assert_true(b.b->told == t_told_loud);
	assert_ptr_equal(b.a->greet, t_hello); /* a static object by its name */
	assert_ptr_equal(b.b->greet, t_hi);
	assert_int_equal(b.a->spent, SCHED_ID_STALE); /* a spent timer stays spent */
	assert_false(sched_cancel(b.s, b.a->spent));
	sched_run_until(b.s, 1000 * NATBED_NS_PER_MS);
	assert_string_equal(t_trace, through);
	t_world_free(&b);
}

/* A live timer restored is the restored event: cancelling it cancels it. */
static void test_timer_is_event(void **state)
{
	struct t_world a, b;
	char err[256];
	json_t *j;

	(void)state;
	t_world_start(&a);
	sched_run_until(a.s, 70 * NATBED_NS_PER_MS);
	j = t_world_save(&a, err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(t_world_load(&b, j, err, sizeof(err)), 0);
	json_decref(j);
	assert_int_equal(sched_pending(b.s), sched_pending(a.s));
	assert_true(sched_cancel(b.s, b.a->timer));
	assert_int_equal(sched_pending(b.s), sched_pending(a.s) - 1);
	t_trace[0] = 0;
	sched_run_until(b.s, 1000 * NATBED_NS_PER_MS);
	assert_null(strstr(t_trace, "a@"));	/* a never ticks again */
	assert_non_null(strstr(t_trace, "b@")); /* b goes on */
	while (sched_pending(a.s))
		sched_run_until(a.s, sched_next_due(a.s));
	t_world_free(&a);
	t_world_free(&b);
}

static void t_unlisted(void *arg, natbed_time_t now)
{
	(void)arg;
	(void)now;
}

/* The writer refuses what no restore could read: a function in no table,
 * an object referred to but never written, one written twice, a timer
 * before the queue. */
static void test_write_errors(void **state)
{
	struct t_world a;
	struct ckw *ck;
	char err[256];
	json_t *j;

	(void)state;
	t_world_start(&a);
	sched_after(a.s, 5, t_unlisted, a.a);
	j = t_world_save(&a, err, sizeof(err));
	assert_null(j);
	assert_non_null(strstr(err, "in no module's table"));
	while (sched_pending(a.s))
		sched_run_until(a.s, sched_next_due(a.s));
	t_world_free(&a);

	t_world_start(&a);
	ck = ckw_new(t_tables, 1);
	j = ckw_sched(ck, a.s);
	json_array_append_new(j, t_node_save(ck, a.a)); /* b unwritten */
	assert_int_equal(ckw_finish(ck, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "written by no module (1 such objects)"));
	json_decref(j);
	ckw_free(ck);

	ck = ckw_new(t_tables, 1);
	json_decref(ckw_obj(ck, a.a));
	assert_null(ckw_obj(ck, a.a));
	assert_int_equal(ckw_finish(ck, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "written twice"));
	ckw_free(ck);

	ck = ckw_new(t_tables, 1);
	assert_null(ckw_timer(ck, a.a->timer));
	assert_int_equal(ckw_finish(ck, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "before the scheduler's queue"));
	ckw_free(ck);
	while (sched_pending(a.s))
		sched_run_until(a.s, sched_next_due(a.s));
	t_world_free(&a);
}

/* Two entries for one function: no writer (it could not tell which). */
static void test_table_twice(void **state)
{
	static const struct ckfn dup[] = {CKFN(t_tick)};
	static const struct ckfns dup_table = CKFNS(dup, dup);
	const struct ckfns *const both[] = {&t_table, &dup_table};

	(void)state;
	assert_null(ckw_new(both, 2));
}

/* The reader refuses a file that does not fit: a function this natbed
 * lacks, a pointer to an object not in the file, a timer past the queue,
 * an event due before the checkpoint's time. */
static void test_read_errors(void **state)
{
	static const char *const bad[][2] = {
	    {"\"told\": \"toy.t_told_loud\"", "\"told\": \"toy.t_gone\""},
	    {"\"peer\": 1", "\"peer\": 99"},
	    {"\"timer\": 2", "\"timer\": 9"},
	    {"[60000000, \"toy.t_deliver\"", "[1, \"toy.t_deliver\""},
	    {"\"greet\": \"toy.t_hi\"", "\"greet\": \"toy.t_bye\""},
	};
	static const char *const why[] = {
	    "no function toy.t_gone in this natbed", "object 99 is referred to but not in the file",
	    "timer 9: no such event", "due before the checkpoint's time",
	    "no static object toy.t_bye in this natbed"};
	struct t_world a, b;
	char err[256], *text;
	json_t *j;

	(void)state;
	t_world_start(&a);
	sched_run_until(a.s, 50 * NATBED_NS_PER_MS);
	j = t_world_save(&a, err, sizeof(err));
	assert_non_null(j);
	text = json_dumps(j, 0);
	json_decref(j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *at = strstr(text, bad[i][0]), edited[8192];

		assert_non_null(at);
		snprintf(edited, sizeof(edited), "%.*s%s%s", (int)(at - text), text, bad[i][1],
			 at + strlen(bad[i][0]));
		j = json_loads(edited, 0, NULL);
		assert_non_null(j);
		assert_int_equal(t_world_load(&b, j, err, sizeof(err)), -1);
		assert_non_null(strstr(err, why[i]));
		json_decref(j);
		while (sched_pending(b.s)) /* a restored message is freed by running */
			sched_run_until(b.s, sched_next_due(b.s));
		t_world_free(&b);
	}
	free(text);
	while (sched_pending(a.s))
		sched_run_until(a.s, sched_next_due(a.s));
	t_world_free(&a);
}

/* Bytes as hex, exactly as long as asked. */
static void test_bytes(void **state)
{
	const uint8_t in[5] = {0x00, 0x7f, 0x80, 0xab, 0xff};
	uint8_t out[5], long_out[6];
	struct ckw *w = ckw_new(t_tables, 1);
	struct ckr *r = ckr_new(t_tables, 1);
	json_t *j = ckw_bytes(w, in, sizeof(in));
	char err[256];

	(void)state;
	assert_string_equal(json_string_value(j), "007f80abff");
	assert_int_equal(ckr_bytes(r, j, out, sizeof(out)), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(ckr_bytes(r, j, long_out, sizeof(long_out)), -1);
	assert_int_equal(ckr_finish(r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not 6 bytes in hex"));
	json_decref(j);
	ckw_free(w);
	ckr_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_order),	   cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_timer_is_event), cmocka_unit_test(test_write_errors),
	    cmocka_unit_test(test_table_twice),	   cmocka_unit_test(test_bytes),
	    cmocka_unit_test(test_read_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
