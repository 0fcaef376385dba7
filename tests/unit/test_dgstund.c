/* agents/dgstund.c in natbed sim checkpoints: a STUN server with RFC
 * 5780's four sockets, asked by a client every 40 ms (CHANGE-REQUEST in
 * turn), saved with answers on their way, loaded into a new network, runs
 * on exactly as the one never saved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "cknet.h"
#include "dgstund.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "natbed/stun.h"

#define MS NATBED_NS_PER_MS

#define T_STUN	"198.51.100.11"
#define T_ALT	"198.51.100.12"
#define T_CLI	"192.0.2.1"
#define T_ASKED 20

/* A client: one Binding request every period, CHANGE-REQUEST cycling
 * through none, port, address, both; counts the answers. */
struct t_cli {
	const struct dgram *d;
	int sock;
	struct dg_ep server;
	natbed_time_t period;
	int sent, got;
	uint64_t timer;
};

static void t_cli_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		     natbed_time_t now)
{
	(void)sock, (void)from, (void)buf, (void)len, (void)now;
	((struct t_cli *)arg)->got++;
}

static void t_cli_tick(void *arg, natbed_time_t now)
{
	struct t_cli *c = arg;
	uint8_t buf[128], txid[STUN_TXID_LEN] = {0};
	uint32_t change = htonl((uint32_t)(c->sent % 4) << 1);
	struct stun_builder b;
	int n;

	(void)now;
	c->timer = 0;
	txid[0] = (uint8_t)c->sent;
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, txid,
			    false);
	stun_msg_build_raw(&b, STUN_ATTR_CHANGE_REQUEST, &change, 4);
	n = stun_msg_build_finish(&b);
	assert_true(n > 0);
	dg_send(c->d, c->sock, &c->server, buf, (size_t)n);
	if (++c->sent < T_ASKED)
		c->timer = sched_after(c->d->s, c->period, t_cli_tick, c);
}

static const struct ckfn t_fns[] = {CKFN(t_cli_rx), CKFN(t_cli_tick)};
static const struct ckfns t_ckfns = CKFNS(test, t_fns);
static const struct ckfns *const t_tables[] = {&cknet_ckfns, &dgstund_ckfns, &t_ckfns};
/* the same without the server's table: its socket callback is unknown */
static const struct ckfns *const t_tables_short[] = {&cknet_ckfns, &t_ckfns};

struct t_world {
	struct cknet *n;
	struct dgstund *stun;
	struct t_cli *cli;
};

static void t_world_start(struct t_world *w)
{
	struct dg_ep any = {0, 0}, local;
	const struct dgram *sd;

	w->n = cknet_new(5 * MS, 7);
	assert_non_null(w->n);
	sd = cknet_host2(w->n, T_STUN, T_ALT);
	w->stun = dgstund_new(sd, inet_addr(T_STUN), inet_addr(T_ALT), htons(3478));
	assert_non_null(w->stun);
	w->cli = calloc(1, sizeof(*w->cli));
	assert_non_null(w->cli);
	w->cli->d = cknet_host(w->n, T_CLI);
	w->cli->sock = dg_open(w->cli->d, &any, &local, t_cli_rx, w->cli);
	assert_true(w->cli->sock >= 0);
	w->cli->server = (struct dg_ep){inet_addr(T_STUN), htons(3478)};
	w->cli->period = 40 * MS;
	w->cli->timer = sched_after(w->cli->d->s, 3 * MS, t_cli_tick, w->cli);
}

static void t_world_free(struct t_world *w)
{
	dgstund_free(w->stun);
	free(w->cli);
	cknet_free(w->n);
}

static json_t *t_parts_save(struct ckw *ck, void *ctx)
{
	struct t_world *w = ctx;
	const struct t_cli *c = w->cli;

	return json_pack("{s:o,s:{s:o,s:o,s:i,s:o,s:I,s:i,s:i,s:o}}", "stun",
			 dgstund_ckpt_save(w->stun, ck), "cli", "id", ckw_obj(ck, c), "d",
			 ckw_ref(ck, c->d), "sock", c->sock, "server",
			 dg_ep_ckpt_save(&c->server, ck), "period", (json_int_t)c->period, "sent",
			 c->sent, "got", c->got, "timer", ckw_timer(ck, c->timer));
}

static int t_parts_load(struct ckr *r, const json_t *j, void *ctx)
{
	struct t_world *w = ctx;
	const json_t *cj = json_object_get(j, "cli");
	struct t_cli *c;

	w->stun = dgstund_ckpt_load(json_object_get(j, "stun"), r);
	if (!w->stun)
		return -1;
	c = w->cli = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->sock = (int)json_integer_value(json_object_get(cj, "sock"));
	c->period = json_integer_value(json_object_get(cj, "period"));
	c->sent = (int)json_integer_value(json_object_get(cj, "sent"));
	c->got = (int)json_integer_value(json_object_get(cj, "got"));
	dg_ep_ckpt_fill(&c->server, json_object_get(cj, "server"), r);
	ckr_obj(r, json_object_get(cj, "id"), c);
	ckr_ref(r, json_object_get(cj, "d"), &c->d);
	return ckr_timer(r, json_object_get(cj, "timer"), &c->timer);
}

static json_t *t_save(struct t_world *w)
{
	char err[256] = "";
	json_t *j = cknet_world_save(w->n, t_tables, 3, t_parts_save, w, err, sizeof(err));

	if (!j)
		fail_msg("save: %s", err);
	return j;
}

static void t_counters(const struct dgstund *s, struct stund_counters *c)
{
	memset(c, 0, sizeof(*c));
	dgstund_counters(s, c);
}

/* Saved at 90 ms (answers on their way), loaded, saved again: the same
 * file; run on to the end, both deliver the same datagrams at the same
 * times and count the same. */
static void test_round_trip(void **state)
{
	struct t_world a, b = {0};
	struct stund_counters ca, cb;
	char err[256] = "";
	json_t *j;

	(void)state;
	t_world_start(&a);
	cknet_run_until(a.n, 90 * MS);
	assert_true(sched_pending(cknet_sched(a.n)) >= 2); /* the tick and a datagram */
	j = t_save(&a);
	b.n = cknet_world_reload(j, t_tables, 3, t_parts_save, t_parts_load, &b, err, sizeof(err));
	if (!b.n || err[0])
		fail_msg("%s", err);
	json_decref(j);

	cknet_log_clear(a.n);
	cknet_log_clear(b.n);
	cknet_run_until(a.n, 2000 * MS);
	cknet_run_until(b.n, 2000 * MS);
	assert_int_equal(a.cli->got, T_ASKED);
	assert_int_equal(b.cli->got, T_ASKED);
	assert_true(strlen(cknet_log(a.n)) > 0);
	assert_string_equal(cknet_log(a.n), cknet_log(b.n));
	t_counters(a.stun, &ca);
	t_counters(b.stun, &cb);
	assert_int_equal(ca.success, T_ASKED);
	assert_memory_equal(&ca, &cb, sizeof(ca));
	t_world_free(&a);
	t_world_free(&b);
}

/* The writer refuses a server whose socket callback is in no table; the
 * reader refuses three sockets (RFC 5780: one, or four). */
static void test_refused(void **state)
{
	struct t_world a, b = {0};
	char err[256] = "";
	json_t *j, *socks;

	(void)state;
	t_world_start(&a);
	cknet_run_until(a.n, 50 * MS);
	j = cknet_world_save(a.n, t_tables_short, 2, t_parts_save, &a, err, sizeof(err));
	assert_null(j);
	assert_non_null(strstr(err, "in no module's table"));

	j = t_save(&a);
	socks = json_object_get(json_object_get(cknet_world_parts(j), "stun"), "socks");
	assert_int_equal(json_array_size(socks), 4);
	json_array_remove(socks, 3);
	err[0] = 0;
	assert_null(cknet_world_load(j, t_tables, 3, t_parts_load, &b, err, sizeof(err)));
	assert_non_null(strstr(err, "dgstund: socks"));
	assert_null(b.stun);
	json_decref(j);
	t_world_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
