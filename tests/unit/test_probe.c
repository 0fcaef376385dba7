/* Unit tests for the probe exchange (agents/probe.c) in virtual time on
 * the fake network: round-trip times, loss, the wait for late echoes,
 * echoes that do not count (another try, another address, duplicates),
 * and the responder's echo. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fakenet.h"
#include "natbed/stun.h"
#include "nbstun.h"
#include "probe.h"

#define MS NATBED_NS_PER_MS

struct env {
	struct fakenet *net;
	const struct dgram *a, *b;
	int sa, sb;
	struct dg_ep ea, eb;
	struct probe *p;
	int done;
	natbed_time_t done_at;
	struct probe_result r;
	uint64_t echo_try;     /* what b echoes */
	int echoes, not_taken; /* at b; at a */
	int drop_every;	       /* drop every n-th datagram b -> a (0: none) */
	int b_to_a, duplicate; /* b sends each echo twice */
};

static bool filter(void *arg, const struct dg_ep *from, const struct dg_ep *to, const uint8_t *buf,
		   size_t len)
{
	struct env *e = arg;

	if (dg_ep_eq(from, &e->eb) && e->drop_every && ++e->b_to_a % e->drop_every == 0)
		return false;
	return true;
}

static void a_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		   natbed_time_t now)
{
	struct env *e = arg;

	if (!e->p || !probe_input(e->p, from, buf, len, now))
		e->not_taken++;
}

static void b_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		   natbed_time_t now)
{
	struct env *e = arg;

	if (probe_echo(e->b, e->sb, e->echo_try, &e->ea, from, buf, len)) {
		e->echoes++;
		if (e->duplicate)
			probe_echo(e->b, e->sb, e->echo_try, &e->ea, from, buf, len);
	}
}

static void on_done(void *arg, const struct probe_result *r)
{
	struct env *e = arg;

	e->done++;
	e->r = *r;
	e->done_at = sched_now(fakenet_sched(e->net));
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct dg_ep any = {0};

	e->net = fakenet_new(15 * MS, 5);
	fakenet_set_filter(e->net, filter, e);
	e->a = fakenet_host(e->net, "192.0.2.1");
	e->b = fakenet_host(e->net, "192.0.2.2");
	e->sa = dg_open(e->a, &any, &e->ea, a_recv, e);
	e->sb = dg_open(e->b, &any, &e->eb, b_recv, e);
	e->echo_try = 42;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	probe_free(e->p);
	fakenet_free(e->net);
	free(e);
	return 0;
}

static void start(struct env *e, int count)
{
	struct probe_cfg cfg = {.count = count, .try_id = 42};

	e->p = probe_new(e->a, e->sa, &e->eb, &cfg, on_done, e);
	assert_non_null(e->p);
	assert_int_equal(e->done, 0); /* never from inside probe_new */
}

static void all_answered(void **state)
{
	struct env *e = *state;

	start(e, 10);
	fakenet_run_for(e->net, 5000 * MS);
	assert_int_equal(e->done, 1);
	assert_int_equal(e->r.sent, 10);
	assert_int_equal(e->r.answered, 10);
	assert_true(e->r.loss == 0);
	assert_true(e->r.rtt_ms == 30 && e->r.rtt_min_ms == 30 && e->r.rtt_max_ms == 30);
	/* done at the last echo: 9 intervals, then one round trip */
	assert_int_equal(e->done_at, 9 * PROBE_INTERVAL_MS * MS + 30 * MS);
	assert_int_equal(e->echoes, 10);
}

static void loss_and_wait(void **state)
{
	struct env *e = *state;

	e->drop_every = 4;
	start(e, 8);
	fakenet_run_for(e->net, 5000 * MS);
	assert_int_equal(e->done, 1);
	assert_int_equal(e->r.answered, 6);
	assert_true(e->r.loss == 0.25);
	/* not all came back: done PROBE_WAIT_MS after the last was sent */
	assert_int_equal(e->done_at, 7 * PROBE_INTERVAL_MS * MS + PROBE_WAIT_MS * MS);
}

static void duplicates_count_once(void **state)
{
	struct env *e = *state;

	e->duplicate = 1;
	start(e, 4);
	fakenet_run_for(e->net, 5000 * MS);
	assert_int_equal(e->r.answered, 4);
	assert_true(e->r.loss == 0);
}

/* b echoes as another try: nothing counts, all lost. */
static void other_try_not_counted(void **state)
{
	struct env *e = *state;

	e->echo_try = 43;
	start(e, 3);
	fakenet_run_for(e->net, 5000 * MS);
	assert_int_equal(e->echoes, 0); /* b does not echo another try's probe */
	assert_int_equal(e->r.answered, 0);
	assert_true(e->r.loss == 1);
	assert_true(e->r.rtt_ms < 0);
}

static void echo_from_elsewhere_ignored(void **state)
{
	struct env *e = *state;
	struct dg_ep mallory = fakenet_ep("192.0.2.66", 3000);
	uint8_t buf[128], txid[STUN_TXID_LEN] = {0};
	uint8_t t[8] = {0, 0, 0, 0, 0, 0, 0, 42}, seq[4] = {0};
	struct stun_builder b;
	int n;

	e->echo_try = 99; /* b stays silent */
	start(e, 1);
	fakenet_run_for(e->net, 1 * MS);
	/* a forged echo of probe 0 from another address */
	stun_msg_build_init(&b, buf, sizeof(buf), NBSTUN_METHOD_PROBE, STUN_CLASS_SUCCESS, txid,
			    false);
	stun_msg_build_raw(&b, NBSTUN_ATTR_TRY, t, 8);
	stun_msg_build_raw(&b, NBSTUN_ATTR_SEQ, seq, 4);
	n = stun_msg_build_finish(&b);
	fakenet_inject(e->net, &mallory, &e->ea, buf, (size_t)n);
	/* and from b's address, but with a transaction not of ours */
	fakenet_inject(e->net, &e->eb, &e->ea, buf, (size_t)n);
	fakenet_run_for(e->net, 5000 * MS);
	assert_int_equal(e->not_taken, 2);
	assert_int_equal(e->r.answered, 0);
}

static void zero_probes(void **state)
{
	struct env *e = *state;
	struct probe_cfg bad = {.count = PROBE_MAX + 1};

	start(e, 0);
	fakenet_run_for(e->net, 1 * MS);
	assert_int_equal(e->done, 1);
	assert_int_equal(e->r.sent, 0);
	assert_true(e->r.loss == 0);
	assert_null(probe_new(e->a, e->sa, &e->eb, &bad, on_done, e));
	bad.count = -1;
	assert_null(probe_new(e->a, e->sa, &e->eb, &bad, on_done, e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(all_answered, setup, teardown),
	    cmocka_unit_test_setup_teardown(loss_and_wait, setup, teardown),
	    cmocka_unit_test_setup_teardown(duplicates_count_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(other_try_not_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(echo_from_elsewhere_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(zero_probes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
