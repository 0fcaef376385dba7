/* Unit tests for agents/turnsock.c in virtual time on the fake network,
 * with the tests' TURN server (agents/turnd.c): a relayed socket
 * receives what a permitted peer sends to the relayed address and answers
 * it through the server (a Send indication first, ChannelData once the
 * channel is bound); base's sockets pass through the layered driver; a
 * stranger is kept out; a lost allocation is asked for again and its old
 * sockets go quiet; a refused one is named and not asked for again. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>

#include "cknet.h"
#include "natbed/ckpt.h"
#include "turnd.h"
#include "turnsock.h"

#define MS NATBED_NS_PER_MS
#define S  NATBED_NS_PER_S

#define T_CLIENT "192.168.1.10"
#define T_SERVER "198.51.100.50"
#define T_PEER	 "198.51.100.20"

struct fx {
	struct cknet *net;
	struct turnd *srv;
	struct turnd_cfg scfg;
	struct turnsock *ts;
	const struct dgram *peer;
	int peer_sock;
	unsigned peer_in;
	struct dg_ep peer_from;
	/* the client */
	int changes, ready;
	struct dg_ep relayed;
	char error[TURNSOCK_ERROR_MAX];
	unsigned relay_in;
	struct dg_ep relay_from;
	int relay_id;
};

static void peer_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		    natbed_time_t now)
{
	struct fx *f = arg;

	f->peer_in++;
	f->peer_from = *from;
}

/* The relayed socket answers every datagram once ("re:"). */
static void relay_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		     natbed_time_t now)
{
	struct fx *f = arg;

	f->relay_in++;
	f->relay_from = *from;
	assert_int_equal(sock, f->relay_id);
	assert_int_equal(dg_send(turnsock_dgram(f->ts), sock, from, "re", 2), 0);
}

static void changed(void *arg, const struct dg_ep *relayed, const char *error)
{
	struct fx *f = arg;

	f->changes++;
	f->relayed = *relayed;
	f->ready += relayed->addr != 0;
	snprintf(f->error, sizeof(f->error), "%s", error ? error : "");
	assert_true(!relayed->addr == !!error);
}

static void fx_start(struct fx *f, const char *pass)
{
	struct turn_cfg cfg = {.server = cknet_ep(T_SERVER, 3478)};
	struct turnsock_ops ops = {changed, f};
	struct dg_ep p = cknet_ep(T_PEER, 7000), local;

	f->net = cknet_new(5 * MS, 3);
	f->scfg.listen = cfg.server;
	f->scfg.user = "u";
	f->scfg.pass = "pw";
	f->srv = turnd_new(cknet_host(f->net, T_SERVER), &f->scfg);
	assert_non_null(f->srv);
	f->peer = cknet_host(f->net, T_PEER);
	f->peer_sock = dg_open(f->peer, &p, &local, peer_rx, f);
	snprintf(cfg.user, sizeof(cfg.user), "u");
	snprintf(cfg.pass, sizeof(cfg.pass), "%s", pass);
	f->ts = turnsock_new(cknet_host(f->net, T_CLIENT), &cfg, &ops);
	assert_non_null(f->ts);
}

static void fx_end(struct fx *f)
{
	turnsock_free(f->ts);
	turnd_free(f->srv);
	cknet_free(f->net);
}

static struct turnd_stats srv(const struct fx *f)
{
	struct turnd_stats st;

	turnd_stats(f->srv, &st);
	return st;
}

static void peer_send(struct fx *f)
{
	assert_int_equal(dg_send(f->peer, f->peer_sock, &f->relayed, "hi", 2), 0);
}

static void test_relay_both_ways(void **state)
{
	struct fx f = {0};
	const struct dgram *d;
	struct dg_ep any = {0, 0}, local, peer = cknet_ep(T_PEER, 7000);
	struct turn_stats st;
	int s;

	fx_start(&f, "pw");
	d = turnsock_dgram(f.ts);
	assert_int_equal(turnsock_open(f.ts, peer.addr, &local, relay_rx, &f), -ENOTCONN);
	assert_null(turnsock_error(f.ts));
	cknet_run_for(f.net, 1 * S);
	assert_int_equal(f.ready, 1);
	assert_true(dg_ep_eq(
	    &f.relayed, &(struct dg_ep){cknet_ep(T_SERVER, 0).addr, turnsock_relayed(f.ts).port}));
	assert_int_equal(turnsock_open(f.ts, 0, &local, relay_rx, &f), -EINVAL);
	f.relay_id = turnsock_open(f.ts, peer.addr, &local, relay_rx, &f);
	assert_true(f.relay_id >= TURNSOCK_ID_BASE);
	assert_true(dg_ep_eq(&local, &f.relayed));
	cknet_run_for(f.net, 1 * S); /* the permission */
	/* the peer's datagram comes in (a Data indication), the answer goes
	 * out as a Send indication while the channel is being bound */
	peer_send(&f);
	cknet_run_for(f.net, 1 * S);
	assert_int_equal(f.relay_in, 1);
	assert_true(dg_ep_eq(&f.relay_from, &peer));
	assert_int_equal(f.peer_in, 1);
	assert_true(dg_ep_eq(&f.peer_from, &f.relayed));
	assert_int_equal(srv(&f).data_out, 1);
	assert_int_equal(srv(&f).send_in, 1);
	/* then ChannelData both ways */
	peer_send(&f);
	cknet_run_for(f.net, 1 * S);
	assert_int_equal(f.relay_in, 2);
	assert_int_equal(f.peer_in, 2);
	assert_int_equal(srv(&f).channel_data_out, 1);
	assert_int_equal(srv(&f).channel_data_in, 1);
	turnsock_stats(f.ts, &st);
	assert_int_equal(st.channel_data_in, 1);
	assert_int_equal(st.channel_data_out, 1);
	/* base's sockets pass through the layered driver */
	s = dg_open(d, &any, &local, peer_rx, &f);
	assert_true(s >= 0 && s < TURNSOCK_ID_BASE);
	assert_int_equal(dg_send(d, s, &peer, "direct", 6), 0);
	cknet_run_for(f.net, 1 * S);
	assert_int_equal(f.peer_in, 3);
	assert_int_equal(f.peer_from.addr, cknet_ep(T_CLIENT, 0).addr);
	assert_int_equal(dg_set_recv(d, s, NULL, NULL), 0);
	dg_close(d, s);
	/* closed, the relayed socket gets nothing more */
	assert_int_equal(dg_set_recv(d, f.relay_id, relay_rx, &f), 0);
	dg_close(d, f.relay_id);
	assert_int_equal(dg_send(d, f.relay_id, &peer, "x", 1), -EBADF);
	assert_int_equal(dg_set_recv(d, f.relay_id, relay_rx, &f), -EBADF);
	peer_send(&f);
	cknet_run_for(f.net, 1 * S);
	assert_int_equal(f.relay_in, 2);
	fx_end(&f);
}

/* A stranger (no permission for its address) is dropped by the server;
 * a socket permitted for another address does not see it. */
static void test_stranger(void **state)
{
	struct fx f = {0};
	const struct dgram *m;
	struct dg_ep any = {0, 0}, local;
	int s;

	fx_start(&f, "pw");
	cknet_run_for(f.net, 1 * S);
	f.relay_id = turnsock_open(f.ts, cknet_ep(T_PEER, 0).addr, &local, relay_rx, &f);
	assert_true(f.relay_id >= 0);
	cknet_run_for(f.net, 1 * S);
	m = cknet_host(f.net, "198.51.100.66");
	s = dg_open(m, &any, &local, peer_rx, &f);
	assert_int_equal(dg_send(m, s, &f.relayed, "let me in", 9), 0);
	cknet_run_for(f.net, 1 * S);
	assert_int_equal(f.relay_in, 0);
	assert_int_equal(srv(&f).no_permission, 1);
	fx_end(&f);
}

/* 437 on refresh: the allocation is lost, named, asked for again after
 * TURNSOCK_RETRY_S; the old relayed socket sends nothing. */
static void test_lost_and_again(void **state)
{
	struct fx f = {0};
	struct dg_ep local;
	int old;

	f.scfg.lifetime_max_s = 100;
	f.scfg.mismatch_refresh = true;
	fx_start(&f, "pw");
	cknet_run_for(f.net, 1 * S);
	assert_int_equal(f.ready, 1);
	old = turnsock_open(f.ts, cknet_ep(T_PEER, 0).addr, &local, relay_rx, &f);
	assert_true(old >= 0);
	cknet_run_until(f.net, 52 * S); /* refreshed at 50 s: 437 */
	assert_int_equal(f.relayed.addr, 0);
	assert_non_null(strstr(f.error, "437 Allocation Mismatch"));
	assert_string_equal(turnsock_error(f.ts), f.error);
	assert_int_equal(dg_send(turnsock_dgram(f.ts), old, &f.peer_from, "x", 1), -ENOTCONN);
	cknet_run_until(f.net, 58 * S);
	assert_int_equal(f.ready, 2);
	assert_null(turnsock_error(f.ts));
	assert_int_equal(srv(&f).authed_allocs, 2);
	assert_int_equal(dg_send(turnsock_dgram(f.ts), old, &f.peer_from, "x", 1), -ENOTCONN);
	fx_end(&f);
}

static void test_refused(void **state)
{
	struct fx f = {0};
	struct dg_ep local;

	fx_start(&f, "wrong");
	cknet_run_for(f.net, 30 * S);
	assert_int_equal(f.ready, 0);
	assert_int_equal(f.changes, 1);
	assert_non_null(strstr(turnsock_error(f.ts), "401 Unauthorized"));
	assert_int_equal(srv(&f).allocs, 2); /* not asked for again */
	assert_int_equal(turnsock_open(f.ts, cknet_ep(T_PEER, 0).addr, &local, relay_rx, &f),
			 -ENOTCONN);
	fx_end(&f);
}

/* --- checkpoints (natbed/ckpt.h), on tests/support/cknet ----------------- */

/* An agent's side of a TURN allocation and its world: a server that
 * answers every Refresh with 437 (the allocation is lost at 30 s and
 * asked for again), a peer that sends to the relayed address and to a
 * socket of base opened through the layered driver every second. */
struct cks {
	struct cknet *n;
	struct turnd *srv;
	struct turnsock *ts;
	const struct dgram *tdg; /* turnsock_dgram(ts), as the agent's parts hold it */
	const char *why;	 /* turnsock_error(ts), as a try's reason holds it */
	const struct dgram *peer;
	int peer_sock, base_sock, relay_sock;
	struct dg_ep base_ep, relayed;
	int changes, relay_in, base_in, peer_in;
	uint64_t tick;
};

static void cks_relay_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
			 size_t len, natbed_time_t now)
{
	struct cks *f = arg;

	(void)buf, (void)len, (void)now;
	f->relay_in++;
	dg_send(f->tdg, sock, from, "re", 2);
}

static void cks_base_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
			size_t len, natbed_time_t now)
{
	(void)sock, (void)from, (void)buf, (void)len, (void)now;
	((struct cks *)arg)->base_in++;
}

static void cks_peer_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
			size_t len, natbed_time_t now)
{
	(void)sock, (void)from, (void)buf, (void)len, (void)now;
	((struct cks *)arg)->peer_in++;
}

static void cks_changed(void *arg, const struct dg_ep *relayed, const char *error)
{
	struct cks *f = arg;
	struct dg_ep local;

	f->changes++;
	f->relayed = *relayed;
	f->why = error;
	if (relayed->addr) {
		f->relay_sock = turnsock_open(f->ts, inet_addr(T_PEER), &local, cks_relay_rx, f);
		assert_true(f->relay_sock >= TURNSOCK_ID_BASE);
	}
}

static void cks_tick(void *arg, natbed_time_t now)
{
	struct cks *f = arg;

	(void)now;
	if (f->relayed.addr)
		dg_send(f->peer, f->peer_sock, &f->relayed, "hi", 2);
	dg_send(f->peer, f->peer_sock, &f->base_ep, "hb", 2);
	f->tick = sched_after(cknet_sched(f->n), S, cks_tick, f);
}

static const struct ckfn cks_fns[] = {CKFN(cks_relay_rx), CKFN(cks_base_rx), CKFN(cks_peer_rx),
				      CKFN(cks_changed), CKFN(cks_tick)};
static const struct ckfns cks_ckfns = CKFNS(test, cks_fns);
static const struct ckfns *const cks_tables[] = {&cknet_ckfns, &turnd_ckfns, &turn_ckfns,
						 &turnsock_ckfns, &cks_ckfns};
#define CKS_TABLES (sizeof(cks_tables) / sizeof(cks_tables[0]))

static void cks_start(struct cks *f)
{
	struct turnd_cfg scfg = {.listen = {inet_addr(T_SERVER), htons(3478)},
				 .user = "u",
				 .pass = "pw",
				 .lifetime_max_s = 60,
				 .mismatch_refresh = true};
	struct turn_cfg cfg = {.server = scfg.listen, .user = "u", .pass = "pw"};
	struct turnsock_ops ops = {cks_changed, f};
	struct dg_ep p = {inet_addr(T_PEER), htons(7000)}, any = {0, 0};

	memset(f, 0, sizeof(*f));
	f->n = cknet_new(5 * MS, 3);
	assert_non_null(f->n);
	f->srv = turnd_new(cknet_host(f->n, T_SERVER), &scfg);
	assert_non_null(f->srv);
	f->peer = cknet_host(f->n, T_PEER);
	f->peer_sock = dg_open(f->peer, &p, &p, cks_peer_rx, f);
	assert_true(f->peer_sock >= 0);
	f->ts = turnsock_new(cknet_host(f->n, T_CLIENT), &cfg, &ops);
	assert_non_null(f->ts);
	f->tdg = turnsock_dgram(f->ts);
	f->base_sock = dg_open(f->tdg, &any, &f->base_ep, cks_base_rx, f);
	assert_true(f->base_sock >= 0 && f->base_sock < TURNSOCK_ID_BASE);
	f->tick = sched_after(cknet_sched(f->n), 500 * MS, cks_tick, f);
}

static void cks_free(struct cks *f)
{
	dg_close(f->tdg, f->base_sock);
	turnsock_free(f->ts);
	turnd_free(f->srv);
	cknet_free(f->n);
}

static json_t *cks_parts_save(struct ckw *ck, void *ctx)
{
	struct cks *f = ctx;

	return json_pack(
	    "{s:o,s:o,s:{s:o,s:o,s:o,s:o,s:i,s:i,s:i,s:o,s:o,s:i,s:i,s:i,s:i,s:o}}", "srv",
	    turnd_ckpt_save(f->srv, ck), "ts", turnsock_ckpt_save(f->ts, ck), "fx", "id",
	    ckw_obj(ck, f), "tdg", ckw_ref(ck, f->tdg), "why", ckw_ref(ck, f->why), "peer",
	    ckw_ref(ck, f->peer), "peer_sock", f->peer_sock, "base_sock", f->base_sock,
	    "relay_sock", f->relay_sock, "base_ep", dg_ep_ckpt_save(&f->base_ep, ck), "relayed",
	    dg_ep_ckpt_save(&f->relayed, ck), "changes", f->changes, "relay_in", f->relay_in,
	    "base_in", f->base_in, "peer_in", f->peer_in, "tick", ckw_timer(ck, f->tick));
}

static int cks_int(const json_t *x, const char *key)
{
	return (int)json_integer_value(json_object_get(x, key));
}

static int cks_parts_load(struct ckr *r, const json_t *j, void *ctx)
{
	struct cks *f = ctx;
	const json_t *x = json_object_get(j, "fx");

	/* the turnsock first: a refused one leaves nothing half-built */
	if (!(f->ts = turnsock_ckpt_load(json_object_get(j, "ts"), r)) ||
	    !(f->srv = turnd_ckpt_load(json_object_get(j, "srv"), r)))
		return -1;
	f->peer_sock = cks_int(x, "peer_sock");
	f->base_sock = cks_int(x, "base_sock");
	f->relay_sock = cks_int(x, "relay_sock");
	f->changes = cks_int(x, "changes");
	f->relay_in = cks_int(x, "relay_in");
	f->base_in = cks_int(x, "base_in");
	f->peer_in = cks_int(x, "peer_in");
	dg_ep_ckpt_fill(&f->base_ep, json_object_get(x, "base_ep"), r);
	dg_ep_ckpt_fill(&f->relayed, json_object_get(x, "relayed"), r);
	ckr_obj(r, json_object_get(x, "id"), f);
	ckr_ref(r, json_object_get(x, "tdg"), &f->tdg);
	ckr_ref(r, json_object_get(x, "why"), &f->why);
	ckr_ref(r, json_object_get(x, "peer"), &f->peer);
	return ckr_timer(r, json_object_get(x, "tick"), &f->tick);
}

static json_t *cks_save(struct cks *f)
{
	char err[256] = "";
	json_t *j =
	    cknet_world_save(f->n, cks_tables, CKS_TABLES, cks_parts_save, f, err, sizeof(err));

	if (!j)
		fail_msg("save: %s", err);
	return j;
}

/* Saved at `at`, loaded: the file is the same, the loaded one's pointers
 * are its own (the layered driver, the error text), and both run on alike
 * to 100 s, datagram for datagram. */
static void cks_round_trip(natbed_time_t at, bool lost)
{
	struct cks a, b;
	struct turn_stats sa, sb;
	char err[256] = "";
	json_t *j;

	cks_start(&a);
	cknet_run_until(a.n, at);
	assert_int_equal(!turnsock_error(a.ts), !lost);
	j = cks_save(&a);
	memset(&b, 0, sizeof(b));
	b.n = cknet_world_reload(j, cks_tables, CKS_TABLES, cks_parts_save, cks_parts_load, &b, err,
				 sizeof(err));
	if (!b.n || err[0])
		fail_msg("%s", err);
	assert_ptr_equal(b.tdg, turnsock_dgram(b.ts));
	if (lost) {
		assert_ptr_equal(b.why, turnsock_error(b.ts));
		assert_string_equal(b.why, a.why);
		assert_non_null(strstr(b.why, "437"));
	}
	json_decref(j);

	cknet_log_clear(a.n);
	cknet_log_clear(b.n);
	cknet_run_until(a.n, 100 * S);
	cknet_run_until(b.n, 100 * S);
	assert_true(a.changes >= 4); /* ready, lost, ready, lost, ... */
	assert_true(a.relay_in > 50);
	assert_true(a.base_in > 90);
	assert_int_equal(a.changes, b.changes);
	assert_int_equal(a.relay_in, b.relay_in);
	assert_int_equal(a.base_in, b.base_in);
	assert_int_equal(a.peer_in, b.peer_in);
	turnsock_stats(a.ts, &sa);
	turnsock_stats(b.ts, &sb);
	assert_memory_equal(&sa, &sb, sizeof(sa));
	assert_string_equal(cknet_log(a.n), cknet_log(b.n));
	cks_free(&a);
	cks_free(&b);
}

/* Allocating: a permission asked, datagrams on their way. */
static void test_ckpt_allocating(void **state)
{
	(void)state;
	cks_round_trip(25 * MS, false);
}

/* Lost (437 at the refresh of 30 s), to be asked for again at 35 s. */
static void test_ckpt_lost(void **state)
{
	(void)state;
	cks_round_trip(32 * S, true);
}

/* The writer refuses a turnsock whose table is missing (its ops tables
 * are then objects nobody writes); the reader refuses an error text
 * longer than the buffer. */
static void test_ckpt_refused(void **state)
{
	static const struct ckfns *const short_tables[] = {&cknet_ckfns, &turnd_ckfns, &turn_ckfns,
							   &cks_ckfns};
	struct cks a, b;
	char err[256] = "", text[2 * TURNSOCK_ERROR_MAX + 1];
	json_t *j;

	(void)state;
	cks_start(&a);
	cknet_run_until(a.n, 25 * MS);
	assert_null(cknet_world_save(a.n, short_tables, 4, cks_parts_save, &a, err, sizeof(err)));
	assert_non_null(strstr(err, "written by no module"));
	j = cks_save(&a);
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = 0;
	json_object_set_new(json_object_get(json_object_get(cknet_world_parts(j), "ts"), "error"),
			    "text", json_string(text));
	memset(&b, 0, sizeof(b));
	assert_null(
	    cknet_world_load(j, cks_tables, CKS_TABLES, cks_parts_load, &b, err, sizeof(err)));
	assert_non_null(strstr(err, "turnsock: dg, ops, error"));
	assert_null(b.ts);
	json_decref(j);
	cks_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_relay_both_ways), cmocka_unit_test(test_stranger),
	    cmocka_unit_test(test_lost_and_again),  cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_ckpt_allocating), cmocka_unit_test(test_ckpt_lost),
	    cmocka_unit_test(test_ckpt_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
