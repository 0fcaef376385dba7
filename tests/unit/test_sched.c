/* Unit tests for lib/sched.c: ordering, FIFO ties, cancel, nesting, a
 * million events in virtual time, and one short real-time check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

#include "natbed/rng.h"
#include "natbed/sched.h"

#define LOG_MAX 4096

/* What the callbacks saw, in order. */
struct trace {
	struct sched *s;
	size_t n;
	int tag[LOG_MAX];
	natbed_time_t now[LOG_MAX];
};

struct probe {
	struct trace *t;
	int tag;
};

static void trace_cb(void *arg, natbed_time_t now)
{
	struct probe *p = arg;
	struct trace *t = p->t;

	assert_true(t->n < LOG_MAX);
	t->tag[t->n] = p->tag;
	t->now[t->n] = now;
	t->n++;
}

struct fixture {
	struct clock_virtual vc;
	struct sched *s;
	struct trace t;
	struct probe p[LOG_MAX];
};

static int fx_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->vc.now_ns = 1000;
	f->s = sched_new(clock_virtual_clock(&f->vc), &f->vc);
	assert_non_null(f->s);
	f->t.s = f->s;
	for (int i = 0; i < LOG_MAX; i++) {
		f->p[i].t = &f->t;
		f->p[i].tag = i;
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fixture *f = *state;

	sched_free(f->s);
	free(f);
	return 0;
}

static void test_order(void **state)
{
	struct fixture *f = *state;
	static const natbed_time_t when[] = {500, 100, 400, 200, 300, 50, 1000};
	const size_t n = sizeof(when) / sizeof(when[0]);

	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(sched_at(f->s, 2000 + when[i], trace_cb, &f->p[i]), 0);
	assert_int_equal(sched_pending(f->s), n);
	assert_int_equal(sched_next_due(f->s), 2050);
	assert_int_equal(sched_run_until(f->s, 5000), n);
	assert_int_equal(f->t.n, n);
	for (size_t i = 1; i < n; i++)
		assert_true(f->t.now[i - 1] < f->t.now[i]);
	/* Each event ran at its own due time. */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(f->t.now[i], 2000 + when[f->t.tag[i]]);
	assert_int_equal(sched_pending(f->s), 0);
	assert_int_equal(sched_next_due(f->s), -1);
}

static void test_fifo_ties(void **state)
{
	struct fixture *f = *state;

	/* Interleave two due times so the heap really has to reorder. */
	for (int i = 0; i < 1000; i++)
		sched_at(f->s, i % 2 ? 3000 : 2000, trace_cb, &f->p[i]);
	assert_int_equal(sched_run_until(f->s, 3000), 1000);
	for (int i = 0; i < 500; i++) {
		assert_int_equal(f->t.tag[i], 2 * i);
		assert_int_equal(f->t.tag[500 + i], 2 * i + 1);
	}
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	uint64_t a = sched_at(f->s, 2000, trace_cb, &f->p[0]);
	uint64_t b = sched_at(f->s, 2000, trace_cb, &f->p[1]);
	uint64_t c = sched_at(f->s, 3000, trace_cb, &f->p[2]);
	uint64_t d;

	assert_true(a && b && c && a != b && b != c);
	assert_true(sched_cancel(f->s, b));
	assert_false(sched_cancel(f->s, b)); /* twice */
	assert_int_equal(sched_pending(f->s), 2);
	assert_int_equal(sched_run_until(f->s, 2500), 1);
	assert_int_equal(f->t.tag[0], 0);
	assert_false(sched_cancel(f->s, a)); /* already ran */
	/* Unknown ids, including one whose slot exists with another gen. */
	assert_false(sched_cancel(f->s, 0));
	assert_false(sched_cancel(f->s, 0xdeadbeefcafeull));
	assert_false(sched_cancel(f->s, c ^ (1ull << 40)));
	/* The slots of a and b are reused: their old ids must not cancel the
	 * new events. */
	d = sched_at(f->s, 2600, trace_cb, &f->p[3]);
	sched_at(f->s, 2700, trace_cb, &f->p[4]);
	assert_false(sched_cancel(f->s, a));
	assert_false(sched_cancel(f->s, b));
	assert_true(sched_cancel(f->s, c));
	assert_true(sched_cancel(f->s, d));
	assert_int_equal(sched_run_until(f->s, 10000), 1);
	assert_int_equal(f->t.n, 2);
	assert_int_equal(f->t.tag[1], 4);
}

/* Random schedules and cancels checked against a plain array model. */
static void test_cancel_random(void **state)
{
	struct fixture *f = *state;
	enum { N = 3000 };
	static uint64_t id[N];
	static natbed_time_t due[N];
	static bool live[N];
	struct rng r;
	size_t expect = 0;

	rng_seed(&r, 7, 1);
	for (int i = 0; i < N; i++) {
		due[i] = 2000 + (natbed_time_t)rng_below(&r, 500);
		id[i] = sched_at(f->s, due[i], trace_cb, &f->p[i]);
		live[i] = true;
		if (i > 0 && rng_below(&r, 3) == 0) {
			int victim = (int)rng_below(&r, (uint64_t)i);

			assert_int_equal(sched_cancel(f->s, id[victim]), live[victim]);
			live[victim] = false;
		}
	}
	for (int i = 0; i < N; i++)
		expect += live[i];
	assert_int_equal(sched_pending(f->s), expect);
	assert_int_equal(sched_run_until(f->s, 3000), expect);
	for (size_t i = 0; i < f->t.n; i++) {
		int tag = f->t.tag[i];

		assert_true(live[tag]);
		assert_int_equal(f->t.now[i], due[tag]);
		if (i > 0) {
			int prev = f->t.tag[i - 1];

			/* Time order, FIFO (schedule order) among equal times. */
			assert_true(due[prev] < due[tag] || (due[prev] == due[tag] && prev < tag));
		}
	}
}

/* Events soon and events far off (timers) are kept apart (lib/sched.c's
 * three heaps: within 100 ms, within 10 s, later); their order is
 * still one order: by time, FIFO among equal times, wherever each was
 * scheduled from. */
static void test_near_far(void **state)
{
	struct fixture *f = *state;
	const natbed_time_t ms = NATBED_NS_PER_MS, t0 = 1000;
	uint64_t far;
	enum { N = 2000 };
	static natbed_time_t due[N];
	struct rng r;

	/* A far off when scheduled, B near when scheduled, at the same time. */
	assert_int_not_equal(sched_at(f->s, t0 + 500 * ms, trace_cb, &f->p[0]), 0);
	far = sched_at(f->s, t0 + 400 * ms, trace_cb, &f->p[1]);
	assert_int_not_equal(far, 0);
	assert_int_equal(sched_run_until(f->s, t0 + 450 * ms), 1);
	assert_int_equal(f->t.tag[0], 1);
	assert_int_not_equal(sched_at(f->s, t0 + 500 * ms, trace_cb, &f->p[2]), 0);
	assert_int_not_equal(sched_at(f->s, t0 + 500 * ms - 1, trace_cb, &f->p[3]), 0);
	assert_int_equal(sched_next_due(f->s), t0 + 500 * ms - 1);
	assert_int_equal(sched_pending(f->s), 3);
	assert_int_equal(sched_run_until(f->s, t0 + 500 * ms), 3);
	assert_int_equal(f->t.tag[1], 3);
	assert_int_equal(f->t.tag[2], 0);
	assert_int_equal(f->t.tag[3], 2);
	assert_false(sched_cancel(f->s, far));

	/* Many, from 0 to 20 s ahead, some on the same nanosecond. */
	f->t.n = 0;
	rng_seed(&r, 11, 1);
	for (int i = 0; i < N; i++) {
		due[i] = sched_now(f->s) + (natbed_time_t)rng_below(&r, 40) * 500 * ms +
			 (natbed_time_t)rng_below(&r, 3);
		assert_int_not_equal(sched_at(f->s, due[i], trace_cb, &f->p[i]), 0);
	}
	assert_int_equal(sched_run_until(f->s, sched_now(f->s) + 30 * NATBED_NS_PER_S), N);
	for (size_t i = 1; i < f->t.n; i++) {
		int prev = f->t.tag[i - 1], tag = f->t.tag[i];

		assert_true(due[prev] < due[tag] || (due[prev] == due[tag] && prev < tag));
	}
}

/* An event that schedules two more: one at its own time (runs in the same
 * pass, after what was already due then), one later. */
struct chain {
	struct trace *t;
	struct probe *p;
	int depth;
};

static void chain_cb(void *arg, natbed_time_t now)
{
	struct chain *c = arg;

	trace_cb(&c->p[c->depth], now);
	if (c->depth >= 9)
		return;
	c->depth++;
	sched_at(c->t->s, now + 10, chain_cb, c);
}

static void spawn_cb(void *arg, natbed_time_t now)
{
	struct probe *p = arg;

	trace_cb(p, now);
	sched_at(p->t->s, now, trace_cb, p + 1);
}

static void test_nested(void **state)
{
	struct fixture *f = *state;
	struct chain c = {.t = &f->t, .p = f->p, .depth = 0};

	sched_at(f->s, 2000, chain_cb, &c);
	assert_int_equal(sched_run_until(f->s, 2055), 6);
	assert_int_equal(f->t.now[5], 2050);
	assert_int_equal(sched_run_until(f->s, 9000), 4);
	assert_int_equal(f->t.n, 10);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(f->t.tag[i], i);
		assert_int_equal(f->t.now[i], 2000 + 10 * i);
	}

	/* Same-time spawn: runs after the event already queued for that time. */
	f->t.n = 0;
	sched_at(f->s, 10000, spawn_cb, &f->p[100]);
	sched_at(f->s, 10000, trace_cb, &f->p[200]);
	assert_int_equal(sched_run_until(f->s, 10000), 3);
	assert_int_equal(f->t.tag[0], 100);
	assert_int_equal(f->t.tag[1], 200);
	assert_int_equal(f->t.tag[2], 101);
}

/* Schedules itself again for now, forever. */
static void again_cb(void *arg, natbed_time_t now)
{
	struct probe *p = arg;

	p->tag++;
	sched_at(p->t->s, now, again_cb, p);
}

/* sched_run_due() is bounded: an event that keeps rescheduling itself for
 * now does not hold the caller's loop; it is still due afterwards. */
/* Events due now (the FIFO) and events due now from the heaps: one order,
 * by due time then by when they were scheduled; a cancelled one in the
 * middle of the FIFO is skipped and not counted. */
static void test_due_now(void **state)
{
	struct fixture *f = *state;
	uint64_t id[8];

	/* at 1000 (now): three due now, the middle one cancelled */
	id[0] = sched_at(f->s, 1000, trace_cb, &f->p[0]);
	id[1] = sched_at(f->s, 1000, trace_cb, &f->p[1]);
	id[2] = sched_at(f->s, 1000, trace_cb, &f->p[2]);
	assert_true(sched_cancel(f->s, id[1]));
	assert_false(sched_cancel(f->s, id[1]));
	assert_int_equal(sched_pending(f->s), 2);
	assert_int_equal(sched_next_due(f->s), 1000);
	/* the head cancelled too: the next is the last */
	assert_true(sched_cancel(f->s, id[0]));
	assert_int_equal(sched_pending(f->s), 1);
	assert_int_equal(sched_run_until(f->s, 1000), 1);
	assert_int_equal(f->t.tag[0], 2);
	assert_int_equal(sched_next_due(f->s), -1);

	/* At 2000 a heap event spawns one due now, after the other heap
	 * event already due then (test_nested's spawn_cb: tag + 1). */
	f->t.n = 0;
	sched_at(f->s, 2000, spawn_cb, &f->p[10]);
	sched_at(f->s, 2000, trace_cb, &f->p[20]);
	assert_int_equal(sched_run_until(f->s, 2000), 3);
	assert_int_equal(f->t.tag[0], 10);
	assert_int_equal(f->t.tag[1], 20);
	assert_int_equal(f->t.tag[2], 11);

	/* Many due now, in turns (again_cb in test_run_due_bounded keeps the
	 * FIFO from emptying until its end reaches its capacity). */
	f->t.n = 0;
	for (int round = 0; round < 40; round++) {
		for (int i = 0; i < 50; i++)
			sched_at(f->s, 2000, trace_cb, &f->p[100 + i]);
		assert_int_equal(sched_run_until(f->s, 2000), 50);
	}
	assert_int_equal(f->t.n, 2000);
	for (int i = 0; i < 2000; i++)
		assert_int_equal(f->t.tag[i], 100 + i % 50);
	assert_int_equal(sched_pending(f->s), 0);
}

static void test_run_due_bounded(void **state)
{
	struct fixture *f = *state;
	struct probe *p = &f->p[0];

	p->tag = 0;
	sched_at(f->s, 1000, again_cb, p);
	assert_int_equal(sched_run_due(f->s), SCHED_RUN_DUE_MAX);
	assert_int_equal(p->tag, SCHED_RUN_DUE_MAX);
	assert_int_equal(sched_pending(f->s), 1);
	assert_int_equal(sched_next_due(f->s), 1000);
	assert_int_equal(sched_run_due(f->s), SCHED_RUN_DUE_MAX);
	assert_int_equal(p->tag, 2 * SCHED_RUN_DUE_MAX);
}

static void test_run_until(void **state)
{
	struct fixture *f = *state;

	sched_at(f->s, 2000, trace_cb, &f->p[0]);
	sched_at(f->s, 2001, trace_cb, &f->p[1]);
	/* The boundary is inclusive, and the clock ends at until_ns. */
	assert_int_equal(sched_run_until(f->s, 2000), 1);
	assert_int_equal(f->vc.now_ns, 2000);
	assert_int_equal(sched_now(f->s), 2000);
	assert_int_equal(sched_run_until(f->s, 1500), 0); /* never backwards */
	assert_int_equal(f->vc.now_ns, 2000);
	/* Nothing due: time still moves. */
	assert_int_equal(sched_run_until(f->s, 2000), 0);
	assert_int_equal(sched_run_until(f->s, 2500), 1);
	assert_int_equal(f->vc.now_ns, 2500);
	/* A time in the past runs at the next dispatch, at the current time. */
	sched_at(f->s, 100, trace_cb, &f->p[2]);
	assert_int_equal(sched_run_due(f->s), 1);
	assert_int_equal(f->t.now[2], 2500);
	/* sched_after is relative to the clock. */
	sched_after(f->s, 40, trace_cb, &f->p[3]);
	assert_int_equal(sched_next_due(f->s), 2540);
	assert_int_equal(sched_run_due(f->s), 0);
	clock_virtual_set(&f->vc, 2540);
	assert_int_equal(sched_run_due(f->s), 1);
	assert_int_equal(f->t.now[3], 2540);
}

/* A million events: half scheduled up front at random times, half as a
 * steady flow of follow-ups (the emulator's pattern), so the slot pool is
 * recycled. Checks count and time order. */
struct mill {
	struct sched *s;
	struct rng r;
	size_t ran, spawned, spawn_max;
	natbed_time_t last;
	bool ordered;
};

static void mill_cb(void *arg, natbed_time_t now)
{
	struct mill *m = arg;

	m->ordered = m->ordered && now >= m->last;
	m->last = now;
	m->ran++;
	if (m->spawned < m->spawn_max) {
		m->spawned++;
		sched_at(m->s, now + 1 + (natbed_time_t)rng_below(&m->r, 1000000), mill_cb, m);
	}
}

static void test_million(void **state)
{
	struct fixture *f = *state;
	struct mill m = {.s = f->s, .spawn_max = 500000, .ordered = true};
	struct timespec t0, t1;
	double secs;

	rng_seed(&m.r, 1, 2);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 500000; i++)
		assert_int_not_equal(
		    sched_at(f->s, 2000 + (natbed_time_t)rng_below(&m.r, 1000000000), mill_cb, &m),
		    0);
	assert_int_equal(sched_run_until(f->s, 10 * NATBED_NS_PER_S), 1000000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(m.ran, 1000000);
	assert_true(m.ordered);
	assert_int_equal(sched_pending(f->s), 0);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("1M events in %.3f s\n", secs);
	/* Generous bound (sanitizers, a loaded CI box): > 10 s means a bug. */
	assert_true(secs < 10.0);
}

/* Real time on libevent: a 20 ms event fires no earlier than due. */
struct rt {
	struct event_base *base;
	natbed_time_t due, fired_at, now_arg;
};

static void rt_cb(void *arg, natbed_time_t now)
{
	struct rt *rt = arg;

	rt->fired_at = clock_now(&clock_monotonic);
	rt->now_arg = now;
	event_base_loopbreak(rt->base);
}

static void test_realtime(void **state)
{
	struct event_config *cfg = event_config_new();
	struct rt rt = {0};
	struct sched *s;
	struct timeval guard = {.tv_sec = 2}; /* the loop ends even if the timer never fires */

	(void)state;
	assert_non_null(cfg);
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	rt.base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	assert_non_null(rt.base);
	s = sched_new(clock_monotonic, NULL);
	assert_non_null(s);
	assert_int_equal(sched_attach(s, rt.base), 0);
	rt.due = clock_now(&clock_monotonic) + 20 * NATBED_NS_PER_MS;
	assert_int_not_equal(sched_at(s, rt.due, rt_cb, &rt), 0);
	/* An event far out must not delay the near one. */
	sched_after(s, 60 * NATBED_NS_PER_S, rt_cb, &rt);
	event_base_loopexit(rt.base, &guard);
	event_base_dispatch(rt.base);
	assert_true(rt.fired_at > 0);
	assert_true(rt.now_arg >= rt.due);
	assert_true(rt.fired_at >= rt.due);
	print_message("20 ms event late by %lld us\n",
		      (long long)((rt.fired_at - rt.due) / NATBED_NS_PER_US));
	assert_true(rt.fired_at - rt.due < 500 * NATBED_NS_PER_MS);
	assert_int_equal(sched_pending(s), 1);
	sched_free(s);
	event_base_free(rt.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_order, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_ties, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_random, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_near_far, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_nested, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_due_now, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_run_until, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_run_due_bounded, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_million, fx_setup, fx_teardown),
	    cmocka_unit_test(test_realtime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
