/* Unit tests for agents/rdvtxn.c in virtual time on the fake network: the
 * RFC 8489 §6.2.1 schedule (sends at 0, RTO, 3 RTO, ...; the timeout Rm *
 * RTO after the last), and its natbed sim checkpoint: a transaction
 * written in the middle of its retransmissions and read into a fresh
 * world is written again the same and goes on to send and time out
 * exactly as the one never written. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cknet.h"
#include "ckround.h"
#include "natbed/ckpt.h"
#include "natbed/stun.h"
#include "rdvtxn.h"

#define MS NATBED_NS_PER_MS

/* A world: a client host whose every datagram the network logs and
 * drops (nothing is ever in flight, so the scheduler holds only the
 * transaction's timer). */
struct world {
	struct cknet *net;
	const struct dgram *d;
	int sock;
	char log[2048]; /* "ms:len:port " per datagram sent */
};

/* The transaction's owner; the transaction not first, so that the two
 * are objects at two addresses. */
struct owner {
	int timeouts;
	natbed_time_t timeout_at;
	struct rdvtxn x;
};

static bool w_filter(void *arg, const struct dg_ep *from, const struct dg_ep *to,
		     const uint8_t *buf, size_t len)
{
	struct world *w = arg;
	size_t n = strlen(w->log);

	snprintf(w->log + n, sizeof(w->log) - n, "%lld:%zu:%02x%02x ",
		 (long long)(sched_now(cknet_sched(w->net)) / MS), len, buf[18], buf[19]);
	return false;
}

static void w_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		   natbed_time_t now)
{
}

static void world_up(struct world *w, natbed_time_t at)
{
	struct dg_ep any = {0}, local;

	memset(w, 0, sizeof(*w));
	w->net = cknet_new(10 * MS, 7);
	assert_non_null(w->net);
	cknet_set_filter(w->net, w_filter, w);
	w->d = cknet_host(w->net, "192.0.2.1");
	w->sock = dg_open(w->d, &any, &local, w_recv, w);
	assert_true(w->sock >= 0);
	cknet_run_until(w->net, at);
}

static void o_timeout(void *arg, struct rdvtxn *x)
{
	struct owner *o = arg;

	o->timeouts++;
	o->timeout_at = dg_now(x->d);
}

static void o_unlisted(void *arg, struct rdvtxn *x)
{
	(void)arg;
	(void)x;
}

static const struct ckfn t_fns[] = {CKFN(o_timeout)};
static const struct ckfns t_table = CKFNS(t, t_fns);
static const struct ckfns *const tables[] = {&rdvtxn_ckfns, &t_table};

static void start(struct world *w, struct owner *o, void (*timeout)(void *, struct rdvtxn *))
{
	const struct rdvtxn_cfg cfg = {.rto_ns = 100 * MS, .rc = 4, .rm = 8};
	const struct dg_ep to = cknet_ep("192.0.2.9", 3478);
	uint8_t req[64], txid[STUN_TXID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xab, 0xcd};
	struct stun_builder b;
	int n;

	stun_msg_build_init(&b, req, sizeof(req), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, txid,
			    false);
	n = stun_msg_build_finish(&b);
	assert_true(n > 0);
	assert_int_equal(rdvtxn_start(&o->x, w->d, w->sock, &to, req, (size_t)n, &cfg, timeout, o),
			 0);
}

/* The world's dgram, the owner and its transaction, after the queue
 * (ckround.h). */
struct ck {
	struct world *w;
	struct owner *o;
};

static json_t *parts_save(struct ckw *ck, void *arg)
{
	const struct ck *c = arg;

	return json_pack("{s:o,s:{s:o,s:i,s:I,s:o}}", "dg", ckw_obj(ck, c->w->d), "owner", "id",
			 ckw_obj(ck, c->o), "timeouts", c->o->timeouts, "timeout_at",
			 (json_int_t)c->o->timeout_at, "x", rdvtxn_ckpt_save(&c->o->x, ck));
}

static int parts_load(struct ckr *ck, const json_t *j, void *arg)
{
	const struct ck *c = arg;
	const json_t *jo = json_object_get(j, "owner");

	ckr_obj(ck, json_object_get(j, "dg"), (void *)c->w->d);
	ckr_obj(ck, json_object_get(jo, "id"), c->o);
	c->o->timeouts = (int)json_integer_value(json_object_get(jo, "timeouts"));
	c->o->timeout_at = json_integer_value(json_object_get(jo, "timeout_at"));
	return rdvtxn_ckpt_fill(&c->o->x, json_object_get(jo, "x"), ck);
}

static json_t *save(struct world *w, struct owner *o, char *err, size_t errlen)
{
	struct ck c = {w, o};

	return ckround_save(cknet_sched(w->net), tables, 2, parts_save, &c, err, errlen);
}

/* A fresh world at the checkpoint's time, the owner read into o. */
static int load(struct world *w, struct owner *o, const json_t *j, char *err, size_t errlen)
{
	struct ck c = {w, o};
	struct sched *s;

	world_up(w, ckround_at(j));
	memset(o, 0, sizeof(*o));
	s = cknet_sched(w->net);
	return ckround_load(j, &s, tables, 2, parts_load, &c, err, errlen);
}

static void world_down(struct world *w)
{
	cknet_free(w->net);
}

static void schedule(void **state)
{
	struct world w;
	struct owner o = {0};

	(void)state;
	world_up(&w, 0);
	start(&w, &o, o_timeout);
	cknet_run_until(w.net, 5000 * MS);
	assert_string_equal(w.log, "0:20:abcd 100:20:abcd 300:20:abcd 700:20:abcd ");
	assert_int_equal(o.timeouts, 1);
	assert_int_equal(o.timeout_at, 700 * MS + 8 * 100 * MS);
	assert_false(o.x.active);
	world_down(&w);
}

/* Written at 250 ms (two sends made, the third due at 300 ms): read
 * back, written again the same; run on, the same sends and timeout. */
static void checkpoint(void **state)
{
	struct world a, b;
	struct owner oa = {0}, ob;
	char err[256], *text, cont[2048];
	json_t *j, *again;
	size_t mark;

	(void)state;
	world_up(&a, 0);
	start(&a, &oa, o_timeout);
	cknet_run_until(a.net, 250 * MS);
	j = save(&a, &oa, err, sizeof(err));
	if (!j)
		fail_msg("save: %s", err);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	mark = strlen(a.log);
	cknet_run_until(a.net, 5000 * MS);
	snprintf(cont, sizeof(cont), "%s", a.log + mark);
	assert_string_equal(cont, "300:20:abcd 700:20:abcd ");

	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	if (load(&b, &ob, j, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	assert_ptr_equal(ob.x.arg, &ob);
	assert_ptr_equal(ob.x.d, b.d);
	assert_true(ob.x.timeout == o_timeout);
	again = save(&b, &ob, err, sizeof(err));
	if (!again)
		fail_msg("save again: %s", err);
	assert_true(json_equal(j, again));
	json_decref(again);
	json_decref(j);
	cknet_run_until(b.net, 5000 * MS);
	assert_string_equal(b.log, cont);
	assert_int_equal(ob.timeouts, oa.timeouts);
	assert_int_equal(ob.timeout_at, oa.timeout_at);
	free(text);
	world_down(&a);
	world_down(&b);
}

/* A timeout function in no table is refused by the writer; a broken
 * field by the reader, which names it. */
static void checkpoint_refused(void **state)
{
	struct world a, b;
	struct owner oa = {0}, ob;
	char err[256], *text, *at, edited[4096];
	json_t *j;

	(void)state;
	world_up(&a, 0);
	start(&a, &oa, o_unlisted);
	assert_null(save(&a, &oa, err, sizeof(err)));
	assert_non_null(strstr(err, "in no module's table"));
	start(&a, &oa, o_timeout); /* restarted, with a function of the table */
	j = save(&a, &oa, err, sizeof(err));
	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	at = strstr(text, "\"sent\":1");
	assert_non_null(at);
	snprintf(edited, sizeof(edited), "%.*s\"sent\":\"one\"%s", (int)(at - text), text,
		 at + strlen("\"sent\":1"));
	j = json_loads(edited, 0, NULL);
	assert_non_null(j);
	assert_int_equal(load(&b, &ob, j, err, sizeof(err)), -1);
	assert_string_equal(err, "rdvtxn: sent: not an integer in range");
	json_decref(j);
	free(text);
	world_down(&a);
	world_down(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(schedule),
	    cmocka_unit_test(checkpoint),
	    cmocka_unit_test(checkpoint_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
