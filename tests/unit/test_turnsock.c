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

#include "fakenet.h"
#include "turnd.h"
#include "turnsock.h"

#define MS NATBED_NS_PER_MS
#define S  NATBED_NS_PER_S

#define T_CLIENT "192.168.1.10"
#define T_SERVER "198.51.100.50"
#define T_PEER	 "198.51.100.20"

struct fx {
	struct fakenet *net;
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
	struct turn_cfg cfg = {.server = fakenet_ep(T_SERVER, 3478)};
	struct turnsock_ops ops = {changed, f};
	struct dg_ep p = fakenet_ep(T_PEER, 7000), local;

	f->net = fakenet_new(5 * MS, 3);
	f->scfg.listen = cfg.server;
	f->scfg.user = "u";
	f->scfg.pass = "pw";
	f->srv = turnd_new(fakenet_host(f->net, T_SERVER), &f->scfg);
	assert_non_null(f->srv);
	f->peer = fakenet_host(f->net, T_PEER);
	f->peer_sock = dg_open(f->peer, &p, &local, peer_rx, f);
	snprintf(cfg.user, sizeof(cfg.user), "u");
	snprintf(cfg.pass, sizeof(cfg.pass), "%s", pass);
	f->ts = turnsock_new(fakenet_host(f->net, T_CLIENT), &cfg, &ops);
	assert_non_null(f->ts);
}

static void fx_end(struct fx *f)
{
	turnsock_free(f->ts);
	turnd_free(f->srv);
	fakenet_free(f->net);
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
	struct dg_ep any = {0, 0}, local, peer = fakenet_ep(T_PEER, 7000);
	struct turn_stats st;
	int s;

	fx_start(&f, "pw");
	d = turnsock_dgram(f.ts);
	assert_int_equal(turnsock_open(f.ts, peer.addr, &local, relay_rx, &f), -ENOTCONN);
	assert_null(turnsock_error(f.ts));
	fakenet_run_for(f.net, 1 * S);
	assert_int_equal(f.ready, 1);
	assert_true(dg_ep_eq(&f.relayed, &(struct dg_ep){fakenet_ep(T_SERVER, 0).addr,
							 turnsock_relayed(f.ts).port}));
	assert_int_equal(turnsock_open(f.ts, 0, &local, relay_rx, &f), -EINVAL);
	f.relay_id = turnsock_open(f.ts, peer.addr, &local, relay_rx, &f);
	assert_true(f.relay_id >= TURNSOCK_ID_BASE);
	assert_true(dg_ep_eq(&local, &f.relayed));
	fakenet_run_for(f.net, 1 * S); /* the permission */
	/* the peer's datagram comes in (a Data indication), the answer goes
	 * out as a Send indication while the channel is being bound */
	peer_send(&f);
	fakenet_run_for(f.net, 1 * S);
	assert_int_equal(f.relay_in, 1);
	assert_true(dg_ep_eq(&f.relay_from, &peer));
	assert_int_equal(f.peer_in, 1);
	assert_true(dg_ep_eq(&f.peer_from, &f.relayed));
	assert_int_equal(srv(&f).data_out, 1);
	assert_int_equal(srv(&f).send_in, 1);
	/* then ChannelData both ways */
	peer_send(&f);
	fakenet_run_for(f.net, 1 * S);
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
	fakenet_run_for(f.net, 1 * S);
	assert_int_equal(f.peer_in, 3);
	assert_int_equal(f.peer_from.addr, fakenet_ep(T_CLIENT, 0).addr);
	assert_int_equal(dg_set_recv(d, s, NULL, NULL), 0);
	dg_close(d, s);
	/* closed, the relayed socket gets nothing more */
	assert_int_equal(dg_set_recv(d, f.relay_id, relay_rx, &f), 0);
	dg_close(d, f.relay_id);
	assert_int_equal(dg_send(d, f.relay_id, &peer, "x", 1), -EBADF);
	assert_int_equal(dg_set_recv(d, f.relay_id, relay_rx, &f), -EBADF);
	peer_send(&f);
	fakenet_run_for(f.net, 1 * S);
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
	fakenet_run_for(f.net, 1 * S);
	f.relay_id = turnsock_open(f.ts, fakenet_ep(T_PEER, 0).addr, &local, relay_rx, &f);
	assert_true(f.relay_id >= 0);
	fakenet_run_for(f.net, 1 * S);
	m = fakenet_host(f.net, "198.51.100.66");
	s = dg_open(m, &any, &local, peer_rx, &f);
	assert_int_equal(dg_send(m, s, &f.relayed, "let me in", 9), 0);
	fakenet_run_for(f.net, 1 * S);
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
	fakenet_run_for(f.net, 1 * S);
	assert_int_equal(f.ready, 1);
	old = turnsock_open(f.ts, fakenet_ep(T_PEER, 0).addr, &local, relay_rx, &f);
	assert_true(old >= 0);
	fakenet_run_until(f.net, 52 * S); /* refreshed at 50 s: 437 */
	assert_int_equal(f.relayed.addr, 0);
	assert_non_null(strstr(f.error, "437 Allocation Mismatch"));
	assert_string_equal(turnsock_error(f.ts), f.error);
	assert_int_equal(dg_send(turnsock_dgram(f.ts), old, &f.peer_from, "x", 1), -ENOTCONN);
	fakenet_run_until(f.net, 58 * S);
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
	fakenet_run_for(f.net, 30 * S);
	assert_int_equal(f.ready, 0);
	assert_int_equal(f.changes, 1);
	assert_non_null(strstr(turnsock_error(f.ts), "401 Unauthorized"));
	assert_int_equal(srv(&f).allocs, 2); /* not asked for again */
	assert_int_equal(turnsock_open(f.ts, fakenet_ep(T_PEER, 0).addr, &local, relay_rx, &f),
			 -ENOTCONN);
	fx_end(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_relay_both_ways),
	    cmocka_unit_test(test_stranger),
	    cmocka_unit_test(test_lost_and_again),
	    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
