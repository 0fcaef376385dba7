/* Unit tests for agents/turnd.c, the TURN server over datagrams, in
 * virtual time on the fake network with agents/turn.c as its client:
 * an allocation nobody refreshes is deleted when its lifetime runs out
 * (its relayed socket closed), one ended with lifetime 0 at once, and
 * past max_allocs live allocations an Allocate gets 508. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>

#include "cknet.h"
#include "natbed/ckpt.h"
#include "turn.h"
#include "turnd.h"

#define S NATBED_NS_PER_S

#define T_SERVER "198.51.100.50"

struct cl {
	struct turn *t;
	int ready;
	char failed[200];
};

static void c_ready(void *arg, const struct dg_ep *relayed, const struct dg_ep *mapped)
{
	((struct cl *)arg)->ready++;
}

static void c_failed(void *arg, const char *reason)
{
	snprintf(((struct cl *)arg)->failed, sizeof(((struct cl *)arg)->failed), "%s", reason);
}

static const struct turn_ops c_ops = {c_ready, c_failed, NULL, NULL};

/* Drops everything once on. */
static bool cut(void *arg, const struct dg_ep *from, const struct dg_ep *to, const uint8_t *buf,
		size_t len)
{
	return !*(bool *)arg;
}

static struct turnd *server(struct cknet *net, uint32_t max_allocs)
{
	struct turnd_cfg cfg = {.listen = cknet_ep(T_SERVER, 3478),
				.user = "u",
				.pass = "pw",
				.lifetime_max_s = 60,
				.max_allocs = max_allocs};
	struct turnd *d = turnd_new(cknet_host(net, T_SERVER), &cfg);

	assert_non_null(d);
	return d;
}

static void client(struct cknet *net, struct cl *c, const char *ip)
{
	struct turn_cfg cfg = {.server = cknet_ep(T_SERVER, 3478), .user = "u", .pass = "pw"};

	c->t = turn_new(cknet_host(net, ip), &cfg, &c_ops, c);
	assert_non_null(c->t);
}

static uint64_t live(const struct turnd *d)
{
	struct turnd_stats st;

	turnd_stats(d, &st);
	return st.allocations;
}

/* A client gone without a word: its allocation (60 s, the most the server
 * grants here) lives until its lifetime ends, then is deleted. */
static void test_expires(void **state)
{
	struct cknet *net = cknet_new(5 * NATBED_NS_PER_MS, 3);
	struct turnd *d = server(net, 0);
	struct cl a = {0};
	bool gone = false;

	cknet_set_filter(net, cut, &gone);
	client(net, &a, "192.0.2.1");
	cknet_run_for(net, 1 * S);
	assert_int_equal(a.ready, 1);
	assert_int_equal(live(d), 1);
	gone = true; /* its Refresh 0 is lost: the client just goes */
	turn_free(a.t);
	cknet_run_for(net, 50 * S);
	assert_int_equal(live(d), 1);
	cknet_run_for(net, 15 * S);
	assert_int_equal(live(d), 0);
	turnd_free(d);
	cknet_free(net);
}

/* Two allocations at most: the third client's Allocate gets 508; once one
 * of the first two ended (lifetime 0), a new one fits. */
static void test_capacity(void **state)
{
	struct cknet *net = cknet_new(5 * NATBED_NS_PER_MS, 3);
	struct turnd *d = server(net, 2);
	struct cl a = {0}, b = {0}, c = {0}, e = {0};

	client(net, &a, "192.0.2.1");
	client(net, &b, "192.0.2.2");
	cknet_run_for(net, 1 * S);
	client(net, &c, "192.0.2.3");
	cknet_run_for(net, 5 * S);
	assert_int_equal(a.ready + b.ready, 2);
	assert_int_equal(c.ready, 0);
	assert_non_null(strstr(c.failed, "508"));
	turn_free(a.t); /* Refresh with lifetime 0 */
	cknet_run_for(net, 1 * S);
	assert_int_equal(live(d), 1);
	cknet_run_for(net, 70 * S);
	assert_int_equal(live(d), 1); /* b refreshes */
	client(net, &e, "192.0.2.4");
	cknet_run_for(net, 1 * S);
	assert_int_equal(e.ready, 1);
	assert_int_equal(live(d), 2);
	turn_free(b.t);
	turn_free(c.t);
	turn_free(e.t);
	turnd_free(d);
	cknet_free(net);
}

/* --- checkpoints (natbed/ckpt.h), on tests/support/cknet ----------------- */

#define CK_CLIENTS 76
#define CK_SAVED   72 /* started before the checkpoint: past 64 allocations, the table grows */

struct ckd {
	struct cknet *n;
	struct turnd *d;
	const struct dgram *host; /* every client's */
	struct cl cl[CK_CLIENTS];
	int started;
};

static const struct ckfn ckd_fns[] = {CKFN(c_ready), CKFN(c_failed)};
static const struct ckvar ckd_vars[] = {CKVAR(c_ops)};
static const struct ckfns ckd_ckfns = CKFNS_VARS(test, ckd_fns, ckd_vars);
static const struct ckfns *const ckd_tables[] = {&cknet_ckfns, &turnd_ckfns, &turn_ckfns,
						 &ckd_ckfns};
#define CKD_TABLES (sizeof(ckd_tables) / sizeof(ckd_tables[0]))

/* Starts clients up to n, one every 5 ms: all on one host, each from a
 * port of its own. */
static void ckd_clients(struct ckd *w, int n)
{
	struct turn_cfg cfg = {
	    .server = {inet_addr(T_SERVER), htons(3478)}, .user = "u", .pass = "pw"};

	for (; w->started < n; w->started++) {
		cknet_run_until(w->n, (natbed_time_t)w->started * 5 * NATBED_NS_PER_MS);
		w->cl[w->started].t = turn_new(w->host, &cfg, &c_ops, &w->cl[w->started]);
		assert_non_null(w->cl[w->started].t);
	}
}

/* A server that answers every Refresh with 437: each allocation ends
 * when its 60 s run out, on the server's timer. */
static void ckd_start(struct ckd *w)
{
	struct turnd_cfg cfg = {.listen = {inet_addr(T_SERVER), htons(3478)},
				.user = "u",
				.pass = "pw",
				.lifetime_max_s = 60,
				.mismatch_refresh = true};

	memset(w, 0, sizeof(*w));
	w->n = cknet_new(5 * NATBED_NS_PER_MS, 3);
	assert_non_null(w->n);
	w->d = turnd_new(cknet_host(w->n, T_SERVER), &cfg);
	assert_non_null(w->d);
	w->host = cknet_host(w->n, "192.0.2.1");
	ckd_clients(w, CK_SAVED);
	cknet_run_until(w->n,
			(natbed_time_t)CK_SAVED * 5 * NATBED_NS_PER_MS + 2 * NATBED_NS_PER_MS);
}

static void ckd_free(struct ckd *w)
{
	for (int i = 0; i < w->started; i++)
		turn_free(w->cl[i].t);
	turnd_free(w->d);
	cknet_free(w->n);
}

static json_t *ckd_parts_save(struct ckw *ck, void *ctx)
{
	struct ckd *w = ctx;
	json_t *cl = json_array();

	for (int i = 0; i < w->started; i++)
		json_array_append_new(cl,
				      json_pack("{s:o,s:o,s:i,s:s}", "id", ckw_obj(ck, &w->cl[i]),
						"t", turn_ckpt_save(w->cl[i].t, ck), "ready",
						w->cl[i].ready, "failed", w->cl[i].failed));
	return json_pack("{s:o,s:o,s:o}", "d", turnd_ckpt_save(w->d, ck), "host",
			 ckw_ref(ck, w->host), "clients", cl);
}

static int ckd_parts_load(struct ckr *r, const json_t *j, void *ctx)
{
	struct ckd *w = ctx;
	const json_t *cl = json_object_get(j, "clients"), *e;
	size_t i;

	if (!(w->d = turnd_ckpt_load(json_object_get(j, "d"), r)))
		return -1;
	ckr_ref(r, json_object_get(j, "host"), &w->host);
	json_array_foreach(cl, i, e)
	{
		if (!(w->cl[i].t = turn_ckpt_load(json_object_get(e, "t"), r)))
			return -1;
		w->started++;
		w->cl[i].ready = (int)json_integer_value(json_object_get(e, "ready"));
		snprintf(w->cl[i].failed, sizeof(w->cl[i].failed), "%s",
			 json_string_value(json_object_get(e, "failed")));
		ckr_obj(r, json_object_get(e, "id"), &w->cl[i]);
	}
	return 0;
}

static json_t *ckd_save(struct ckd *w)
{
	char err[256] = "";
	json_t *j =
	    cknet_world_save(w->n, ckd_tables, CKD_TABLES, ckd_parts_save, w, err, sizeof(err));

	if (!j)
		fail_msg("save: %s", err);
	return j;
}

/* Saved with some 68 allocations in a grown table, some clients still
 * allocating: loaded, the file is the same; both then start four more
 * clients and run until every allocation has ended on its timer, alike. */
static void test_ckpt_round_trip(void **state)
{
	struct ckd a, b;
	struct turnd_stats sa, sb;
	char err[256] = "";
	json_t *j;
	int ready = 0;

	(void)state;
	ckd_start(&a);
	j = ckd_save(&a);
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(cknet_world_parts(j), "d"), "buckets")),
			 128);
	assert_true(live(a.d) > 60 && live(a.d) < CK_SAVED); /* the last still allocating */
	memset(&b, 0, sizeof(b));
	b.n = cknet_world_reload(j, ckd_tables, CKD_TABLES, ckd_parts_save, ckd_parts_load, &b, err,
				 sizeof(err));
	if (!b.n || err[0])
		fail_msg("%s", err);
	json_decref(j);

	cknet_log_clear(a.n);
	cknet_log_clear(b.n);
	ckd_clients(&a, CK_CLIENTS);
	ckd_clients(&b, CK_CLIENTS);
	assert_int_equal(live(a.d), live(b.d));
	cknet_run_until(a.n, 120 * S);
	cknet_run_until(b.n, 120 * S);
	turnd_stats(a.d, &sa);
	turnd_stats(b.d, &sb);
	assert_int_equal(sa.authed_allocs, CK_CLIENTS);
	assert_int_equal(sa.allocations, 0); /* every one expired */
	assert_memory_equal(&sa, &sb, sizeof(sa));
	for (int i = 0; i < CK_CLIENTS; i++) {
		ready += a.cl[i].ready;
		assert_int_equal(a.cl[i].ready, b.cl[i].ready);
		assert_non_null(strstr(a.cl[i].failed, "437"));
		assert_string_equal(a.cl[i].failed, b.cl[i].failed);
	}
	assert_int_equal(ready, CK_CLIENTS);
	assert_string_equal(cknet_log(a.n), cknet_log(b.n));
	ckd_free(&a);
	ckd_free(&b);
}

/* The writer refuses a server whose callbacks are in no table; the
 * reader refuses a bucket count that is not a power of two. */
static void test_ckpt_refused(void **state)
{
	static const struct ckfns *const short_tables[] = {&cknet_ckfns, &turn_ckfns, &ckd_ckfns};
	struct ckd a, b;
	char err[256] = "";
	json_t *j;

	(void)state;
	ckd_start(&a);
	assert_null(cknet_world_save(a.n, short_tables, 3, ckd_parts_save, &a, err, sizeof(err)));
	assert_non_null(strstr(err, "in no module's table"));
	j = ckd_save(&a);
	json_object_set_new(json_object_get(cknet_world_parts(j), "d"), "buckets",
			    json_integer(96));
	memset(&b, 0, sizeof(b));
	assert_null(
	    cknet_world_load(j, ckd_tables, CKD_TABLES, ckd_parts_load, &b, err, sizeof(err)));
	assert_non_null(strstr(err, "turnd: cfg, allocs, nonce, buckets"));
	assert_null(b.d);
	json_decref(j);
	ckd_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_expires),
	    cmocka_unit_test(test_capacity),
	    cmocka_unit_test(test_ckpt_round_trip),
	    cmocka_unit_test(test_ckpt_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
