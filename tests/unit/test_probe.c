/* Unit tests for the probe exchange (agents/probe.c) in virtual time on
 * the fake network: round-trip times, loss, the wait for late echoes,
 * echoes that do not count (another try, another address, duplicates),
 * the responder's echo, and the natbed sim checkpoint of a probe in the
 * middle of its exchange. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cknet.h"
#include "ckround.h"
#include "natbed/ckpt.h"
#include "natbed/stun.h"
#include "nbstun.h"
#include "probe.h"

#define MS NATBED_NS_PER_MS

struct env {
	struct cknet *net;
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
	char log[1024];	       /* "ms:a " or "ms:b " per datagram sent */
};

static bool filter(void *arg, const struct dg_ep *from, const struct dg_ep *to, const uint8_t *buf,
		   size_t len)
{
	struct env *e = arg;
	size_t n = strlen(e->log);

	snprintf(e->log + n, sizeof(e->log) - n, "%lld:%c ",
		 (long long)(sched_now(cknet_sched(e->net)) / MS),
		 dg_ep_eq(from, &e->ea) ? 'a' : 'b');
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
	e->done_at = sched_now(cknet_sched(e->net));
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct dg_ep any = {0};

	e->net = cknet_new(15 * MS, 5);
	cknet_set_filter(e->net, filter, e);
	e->a = cknet_host(e->net, "192.0.2.1");
	e->b = cknet_host(e->net, "192.0.2.2");
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
	cknet_free(e->net);
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
	cknet_run_for(e->net, 5000 * MS);
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
	cknet_run_for(e->net, 5000 * MS);
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
	cknet_run_for(e->net, 5000 * MS);
	assert_int_equal(e->r.answered, 4);
	assert_true(e->r.loss == 0);
}

/* b echoes as another try: nothing counts, all lost. */
static void other_try_not_counted(void **state)
{
	struct env *e = *state;

	e->echo_try = 43;
	start(e, 3);
	cknet_run_for(e->net, 5000 * MS);
	assert_int_equal(e->echoes, 0); /* b does not echo another try's probe */
	assert_int_equal(e->r.answered, 0);
	assert_true(e->r.loss == 1);
	assert_true(e->r.rtt_ms < 0);
}

static void echo_from_elsewhere_ignored(void **state)
{
	struct env *e = *state;
	struct dg_ep mallory = cknet_ep("192.0.2.66", 3000);
	uint8_t buf[128], txid[STUN_TXID_LEN] = {0};
	uint8_t t[8] = {0, 0, 0, 0, 0, 0, 0, 42}, seq[4] = {0};
	struct stun_builder b;
	int n;

	e->echo_try = 99; /* b stays silent */
	start(e, 1);
	cknet_run_for(e->net, 1 * MS);
	/* a forged echo of probe 0 from another address */
	stun_msg_build_init(&b, buf, sizeof(buf), NBSTUN_METHOD_PROBE, STUN_CLASS_SUCCESS, txid,
			    false);
	stun_msg_build_raw(&b, NBSTUN_ATTR_TRY, t, 8);
	stun_msg_build_raw(&b, NBSTUN_ATTR_SEQ, seq, 4);
	n = stun_msg_build_finish(&b);
	cknet_inject(e->net, &mallory, &e->ea, buf, (size_t)n);
	/* and from b's address, but with a transaction not of ours */
	cknet_inject(e->net, &e->eb, &e->ea, buf, (size_t)n);
	cknet_run_for(e->net, 5000 * MS);
	assert_int_equal(e->not_taken, 2);
	assert_int_equal(e->r.answered, 0);
}

static void zero_probes(void **state)
{
	struct env *e = *state;
	struct probe_cfg bad = {.count = PROBE_MAX + 1};

	start(e, 0);
	cknet_run_for(e->net, 1 * MS);
	assert_int_equal(e->done, 1);
	assert_int_equal(e->r.sent, 0);
	assert_true(e->r.loss == 0);
	assert_null(probe_new(e->a, e->sa, &e->eb, &bad, on_done, e));
	bad.count = -1;
	assert_null(probe_new(e->a, e->sa, &e->eb, &bad, on_done, e));
}

/* --- natbed sim checkpoints ------------------------------------------- */

static void on_unlisted(void *arg, const struct probe_result *r)
{
	(void)arg;
	(void)r;
}

static const struct ckfn t_fns[] = {CKFN(on_done)};
static const struct ckfns t_table = CKFNS(t, t_fns);
static const struct ckfns *const tables[] = {&probe_ckfns, &t_table};

/* The world (the queue, a's dgram, the test's state the probe's done
 * tells) and the probe (ckround.h). */
static json_t *ck_parts_save(struct ckw *w, void *arg)
{
	const struct env *e = arg;

	return json_pack("{s:o,s:o,s:i,s:i,s:o}", "a", ckw_obj(w, e->a), "env", ckw_obj(w, e),
			 "b_to_a", e->b_to_a, "echoes", e->echoes, "probe",
			 probe_ckpt_save(e->p, w));
}

static int ck_parts_load(struct ckr *r, const json_t *j, void *arg)
{
	struct env *e = arg;

	e->b_to_a = (int)json_integer_value(json_object_get(j, "b_to_a"));
	e->echoes = (int)json_integer_value(json_object_get(j, "echoes"));
	ckr_obj(r, json_object_get(j, "a"), (void *)e->a);
	ckr_obj(r, json_object_get(j, "env"), e);
	e->p = probe_ckpt_load(json_object_get(j, "probe"), r);
	return e->p ? 0 : -1;
}

static json_t *ck_save(struct env *e, char *err, size_t errlen)
{
	return ckround_save(cknet_sched(e->net), tables, 2, ck_parts_save, e, err, errlen);
}

/* e (set up, its clock at 0) at the checkpoint's time, the probe read. */
static int ck_load(struct env *e, const json_t *j, char *err, size_t errlen)
{
	struct sched *s = cknet_sched(e->net);

	cknet_run_until(e->net, ckround_at(j));
	return ckround_load(j, &s, tables, 2, ck_parts_load, e, err, errlen);
}

/* 6 probes 100 ms apart, every second echo lost: written at 250 ms
 * (three sent, two answered, none in flight: a probe and its echo take
 * 30 ms), read into a fresh network, written again the same; both run on
 * to the same sends, echoes and result at the same time. */
static void checkpoint(void **state)
{
	struct env *e = *state, *e2;
	struct probe_cfg cfg = {.count = 6, .interval_ns = 100 * MS, .try_id = 42};
	char err[256], *text, cont[1024];
	json_t *j, *again;
	size_t mark;

	e->drop_every = 2;
	e->p = probe_new(e->a, e->sa, &e->eb, &cfg, on_done, e);
	assert_non_null(e->p);
	cknet_run_until(e->net, 250 * MS);
	assert_int_equal(sched_pending(cknet_sched(e->net)), 1); /* the next probe */
	j = ck_save(e, err, sizeof(err));
	if (!j)
		fail_msg("save: %s", err);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	mark = strlen(e->log);
	cknet_run_for(e->net, 5000 * MS);
	snprintf(cont, sizeof(cont), "%s", e->log + mark);
	assert_int_equal(e->done, 1);
	assert_int_equal(e->r.answered, 3);

	assert_int_equal(setup((void **)&e2), 0);
	e2->drop_every = 2;
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	if (ck_load(e2, j, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	again = ck_save(e2, err, sizeof(err));
	if (!again)
		fail_msg("save again: %s", err);
	assert_true(json_equal(j, again));
	json_decref(again);
	json_decref(j);
	cknet_run_for(e2->net, 5000 * MS);
	assert_string_equal(e2->log, cont);
	assert_int_equal(e2->done, 1);
	assert_int_equal(e2->done_at, e->done_at);
	assert_int_equal(e2->echoes, e->echoes);
	assert_memory_equal(&e2->r, &e->r, sizeof(e->r));
	free(text);
	teardown((void **)&e2);
}

/* The writer refuses a done function in no table; the reader a probe
 * that answered more than it sent. */
static void checkpoint_refused(void **state)
{
	struct env *e = *state, *e2;
	struct probe_cfg cfg = {.count = 3, .interval_ns = 100 * MS, .try_id = 42};
	char err[256], *text, *at, edited[4096];
	json_t *j;

	e->p = probe_new(e->a, e->sa, &e->eb, &cfg, on_unlisted, e);
	assert_non_null(e->p);
	assert_null(ck_save(e, err, sizeof(err)));
	assert_non_null(strstr(err, "in no module's table"));
	probe_free(e->p);
	e->p = probe_new(e->a, e->sa, &e->eb, &cfg, on_done, e);
	cknet_run_for(e->net, 50 * MS); /* one sent and answered, the next not yet sent */
	j = ck_save(e, err, sizeof(err));
	if (!j)
		fail_msg("save: %s", err);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	at = strstr(text, "\"answered\":1");
	assert_non_null(at);
	snprintf(edited, sizeof(edited), "%.*s\"answered\":2%s", (int)(at - text), text,
		 at + strlen("\"answered\":1"));
	assert_int_equal(setup((void **)&e2), 0);
	j = json_loads(edited, 0, NULL);
	assert_non_null(j);
	assert_int_equal(ck_load(e2, j, err, sizeof(err)), -1);
	assert_string_equal(err, "probe: answered: not an integer in range");
	assert_null(e2->p);
	json_decref(j);
	free(text);
	teardown((void **)&e2);
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
	    cmocka_unit_test_setup_teardown(checkpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(checkpoint_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
