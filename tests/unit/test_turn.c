/* Unit tests for agents/turn.c in virtual time on the fake network, with
 * the TURN server over datagrams (agents/turnd.c) on a host and a peer that
 * echoes: the 401 challenge and the key, a stale nonce (438) asked again,
 * refreshes on time, a 437 on refresh reported as an expired allocation, a
 * server that never answers (RFC 8489 retransmissions), a wrong password,
 * ChannelData both ways, a permission for an address alone, peers released
 * and their slots and channel numbers taken again after RFC 8656's wait. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cknet.h"
#include "natbed/ckpt.h"
#include "natbed/stun.h"
#include "turn.h"
#include "turnd.h"

#define MS NATBED_NS_PER_MS
#define S  NATBED_NS_PER_S

#define T_CLIENT "192.168.1.10"
#define T_SERVER "198.51.100.50"
#define T_PEER	 "198.51.100.20"

struct fx {
	struct cknet *net;
	struct turnd *srv;
	struct turnd_cfg scfg;
	const struct dgram *peer;
	int peer_sock;
	unsigned echoed, peer_in;
	struct dg_ep permit; /* what ready() permits (a channel), addr 0: nothing */
	/* the client side */
	int ready, bound, data_in;
	struct dg_ep relayed, data_from;
	char failed[200];
	struct turn *t;
};

/* The peer echoes what reaches it while echo is on. */
static void peer_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		    natbed_time_t now)
{
	struct fx *f = arg;

	f->peer_in++;
	if (f->echoed++ < 100)
		dg_send(f->peer, sock, from, buf, len);
}

static void sink(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		 natbed_time_t now)
{
}

static void c_ready(void *arg, const struct dg_ep *relayed, const struct dg_ep *mapped)
{
	struct fx *f = arg;

	f->ready++;
	f->relayed = *relayed;
	assert_int_equal(relayed->addr, cknet_ep(T_SERVER, 0).addr);
	assert_int_equal(mapped->addr, cknet_ep(T_CLIENT, 0).addr);
	if (f->permit.addr)
		assert_int_equal(turn_permit(f->t, &f->permit), 0);
}

static void c_failed(void *arg, const char *reason)
{
	snprintf(((struct fx *)arg)->failed, 200, "%s", reason);
}

static void c_data(void *arg, const struct dg_ep *peer, const uint8_t *buf, size_t len,
		   natbed_time_t now)
{
	struct fx *f = arg;

	f->data_in++;
	f->data_from = *peer;
}

static void c_bound(void *arg, const struct dg_ep *peer)
{
	struct fx *f = arg;

	f->bound++;
	assert_int_equal(turn_send(f->t, peer, "hello", 5), 0);
}

static const struct turn_ops c_ops = {c_ready, c_failed, c_data, c_bound};

/* A network, the server (scfg as the test set it), the peer on 7000. */
static void fx_start(struct fx *f, const char *client_pass)
{
	struct turn_cfg cfg = {0};
	struct dg_ep p = cknet_ep(T_PEER, 7000), local;

	f->net = cknet_new(5 * MS, 7);
	assert_non_null(f->net);
	f->scfg.listen = cknet_ep(T_SERVER, 3478);
	f->scfg.user = "u";
	if (!f->scfg.pass)
		f->scfg.pass = "pw";
	f->srv = turnd_new(cknet_host(f->net, T_SERVER), &f->scfg);
	assert_non_null(f->srv);
	f->peer = cknet_host(f->net, T_PEER);
	f->peer_sock = dg_open(f->peer, &p, &local, peer_rx, f);
	assert_true(f->peer_sock >= 0);
	cfg.server = f->scfg.listen;
	snprintf(cfg.user, sizeof(cfg.user), "u");
	snprintf(cfg.pass, sizeof(cfg.pass), "%s", client_pass);
	f->t = turn_new(cknet_host(f->net, T_CLIENT), &cfg, &c_ops, f);
	assert_non_null(f->t);
}

static void fx_end(struct fx *f)
{
	turn_free(f->t);
	turnd_free(f->srv);
	cknet_free(f->net);
}

static struct turnd_stats fx_srv(const struct fx *f)
{
	struct turnd_stats st;

	turnd_stats(f->srv, &st);
	return st;
}

static void test_allocate_bind_data(void **state)
{
	struct fx f = {.permit = cknet_ep(T_PEER, 7000)};
	struct turn_stats st;

	fx_start(&f, "pw");
	cknet_run_until(f.net, 1 * S);
	assert_int_equal(fx_srv(&f).allocs, 2); /* the 401, then with the key */
	assert_int_equal(fx_srv(&f).authed_allocs, 1);
	assert_int_equal(f.ready, 1);
	assert_int_equal(f.bound, 1);
	assert_int_equal(fx_srv(&f).channel_binds, 1);
	assert_int_equal(f.data_in, 1); /* the peer's echo came back */
	assert_true(dg_ep_eq(&f.data_from, &f.permit));
	assert_int_equal(fx_srv(&f).channel_data_in, 1);
	assert_int_equal(fx_srv(&f).channel_data_out, 1);
	assert_string_equal(f.failed, "");
	/* refreshes: the allocation at 540 s, the permission and channel at 240 s */
	cknet_run_until(f.net, 600 * S);
	assert_int_equal(fx_srv(&f).refreshes, 1);
	assert_true(fx_srv(&f).channel_binds >= 3);
	turn_get_stats(f.t, &st);
	assert_int_equal(st.channel_data_in, 1);
	assert_int_equal(st.channel_data_out, 1);
	fx_end(&f);
}

static void test_stale_nonce(void **state)
{
	struct fx f = {.permit = cknet_ep(T_PEER, 7000)};

	f.scfg.stale_at = 3; /* the first CreatePermission */
	fx_start(&f, "pw");
	cknet_run_until(f.net, 1 * S);
	assert_int_equal(f.bound, 1);
	assert_string_equal(f.failed, "");
	assert_true(fx_srv(&f).errors >= 2); /* the first 401, the 438 */
	fx_end(&f);
}

static void test_wrong_password(void **state)
{
	struct fx f = {0};

	fx_start(&f, "nope");
	cknet_run_until(f.net, 1 * S);
	assert_int_equal(f.ready, 0);
	assert_non_null(strstr(f.failed, "401 Unauthorized"));
	assert_int_equal(fx_srv(&f).allocs, 2); /* not asked again and again */
	assert_int_equal(fx_srv(&f).allocations, 0);
	fx_end(&f);
}

static void test_expired(void **state)
{
	struct fx f = {0};

	f.scfg.mismatch_refresh = true;
	f.scfg.lifetime_max_s = 100;
	fx_start(&f, "pw");
	cknet_run_until(f.net, 60 * S); /* refresh at lifetime / 2 */
	assert_non_null(strstr(f.failed, "437 Allocation Mismatch: the allocation expired"));
	fx_end(&f);
}

/* RFC 8489 §6.2.1: 7 sends, 500 ms doubling, then given up: 31.5 s of
 * waits between them and the last one's. */
static void test_no_answer(void **state)
{
	struct fx f = {0};

	f.scfg.answer_first = 1; /* the first Allocate still draws its 401 */
	fx_start(&f, "pw");
	cknet_run_until(f.net, 63 * S);
	assert_string_equal(f.failed, "");
	cknet_run_until(f.net, 64 * S);
	assert_int_equal(fx_srv(&f).requests, 1 + 7);
	assert_non_null(strstr(f.failed, "no answer from the TURN server to Allocate"));
	fx_end(&f);
}

/* RFC 8656 §9: a permission is per IP address: with one for the peer's
 * address alone, a datagram from any of its ports comes in as a Data
 * indication; once a channel to that endpoint is bound, as ChannelData.
 * Without a permission the server drops it. */
static void test_permit_addr(void **state)
{
	struct fx f = {0};
	const struct dg_ep other = cknet_ep("198.51.100.21", 0);
	struct dg_ep from = cknet_ep(T_PEER, 7001), local;
	const struct dgram *stranger;
	struct turn_stats st;
	int s;

	fx_start(&f, "pw");
	cknet_run_until(f.net, 1 * S);
	assert_int_equal(f.ready, 1);
	assert_int_equal(turn_permit_addr(f.t, from.addr), 0);
	assert_int_equal(turn_permit_addr(f.t, from.addr), 0); /* once */
	assert_int_equal(turn_permit_addr(f.t, 0), -EINVAL);
	cknet_run_for(f.net, 1 * S);
	assert_int_equal(fx_srv(&f).permissions, 1);
	assert_int_equal(fx_srv(&f).channel_binds, 0);
	s = dg_open(f.peer, &from, &local, sink, NULL);
	assert_true(s >= 0);
	assert_int_equal(dg_send(f.peer, s, &f.relayed, "x", 1), 0);
	cknet_run_for(f.net, 1 * S);
	assert_int_equal(f.data_in, 1);
	assert_true(dg_ep_eq(&f.data_from, &from));
	turn_get_stats(f.t, &st);
	assert_int_equal(st.indications_in, 1);
	/* a channel to that endpoint: ChannelData from then on */
	assert_int_equal(turn_permit(f.t, &from), 0);
	cknet_run_for(f.net, 1 * S);
	assert_int_equal(f.bound, 1); /* and c_bound sent "hello" to it */
	assert_int_equal(dg_send(f.peer, s, &f.relayed, "y", 1), 0);
	cknet_run_for(f.net, 1 * S);
	assert_int_equal(f.data_in, 2);
	turn_get_stats(f.t, &st);
	assert_int_equal(st.channel_data_in, 1);
	/* the permission is kept alive past its 300 s */
	cknet_run_for(f.net, 400 * S);
	assert_int_equal(dg_send(f.peer, s, &f.relayed, "z", 1), 0);
	cknet_run_for(f.net, 1 * S);
	assert_int_equal(f.data_in, 3);
	/* another address has none */
	dg_close(f.peer, s);
	stranger = cknet_host(f.net, "198.51.100.21");
	s = dg_open(stranger, &other, &local, sink, NULL);
	assert_true(s >= 0);
	assert_int_equal(dg_send(stranger, s, &f.relayed, "w", 1), 0);
	cknet_run_for(f.net, 1 * S);
	assert_int_equal(f.data_in, 3);
	assert_int_equal(fx_srv(&f).no_permission, 1);
	fx_end(&f);
}

/* A long-lived agent relays for peer after peer: each gets a permission
 * and a channel, is released when done, and the table never runs out
 * (it held 64 peers for good before). One peer every 30 s for 100 peers:
 * the server (32 channels an allocation) sees no refresh of a released
 * one, so they lapse and it never runs out either; a slot and its channel
 * number serve a new peer only 900 s after release (600 s of channel life,
 * then 5 minutes, RFC 8656 §12): the table holds at most 31 slots, and
 * no bind draws the 400 the server answers for a number still bound to
 * another peer. A peer asked for again before its slot went elsewhere
 * takes its entry back. */
static void test_release(void **state)
{
	struct fx f = {0};
	struct turnd_stats before;
	struct dg_ep ep;
	unsigned k;

	fx_start(&f, "pw");
	cknet_run_until(f.net, 1 * S);
	assert_int_equal(f.ready, 1);
	for (k = 0; k < 100; k++) {
		ep = cknet_ep("203.0.113.1", 5000);
		ep.addr = htonl(ntohl(ep.addr) + k);
		assert_int_equal(turn_permit(f.t, &ep), 0);
		cknet_run_for(f.net, 1 * S);
		assert_int_equal(f.bound, (int)k + 1);
		if (k == 50) { /* asked again at once: the same entry, bound anew */
			turn_release_addr(f.t, ep.addr);
			assert_int_equal(turn_permit(f.t, &ep), 0);
			cknet_run_for(f.net, 1 * S);
			assert_int_equal(f.bound, (int)k + 2);
			f.bound--;
		}
		turn_release_addr(f.t, ep.addr);
		cknet_run_for(f.net, 29 * S);
	}
	assert_string_equal(f.failed, "");
	assert_true(turn_peer_slots(f.t) <= 31);
	assert_true(turn_peer_slots(f.t) >= 30);
	before = fx_srv(&f);
	assert_int_equal(before.errors, 1); /* the first Allocate's 401 */
	cknet_run_for(f.net, 1000 * S);	    /* nothing held: no peer refreshed */
	assert_int_equal(fx_srv(&f).permissions, before.permissions);
	assert_int_equal(fx_srv(&f).channel_binds, before.channel_binds);
	assert_string_equal(f.failed, "");
	fx_end(&f);
}

/* More peers asked for at once than requests may be under way (16): the
 * rest wait for a transaction to end, none is forgotten. */
static void test_many_at_once(void **state)
{
	struct fx f = {0};
	struct dg_ep ep;
	unsigned k;

	fx_start(&f, "pw");
	cknet_run_until(f.net, 1 * S);
	assert_int_equal(f.ready, 1);
	for (k = 0; k < 30; k++) {
		ep = cknet_ep("203.0.113.1", 5000);
		ep.addr = htonl(ntohl(ep.addr) + k);
		assert_int_equal(turn_permit(f.t, &ep), 0);
	}
	cknet_run_for(f.net, 5 * S);
	assert_int_equal(f.bound, 30);
	assert_int_equal(fx_srv(&f).channel_binds, 30);
	assert_string_equal(f.failed, "");
	fx_end(&f);
}

/* --- checkpoints (natbed/ckpt.h), on tests/support/cknet ----------------- */

#define CK_PEERS 20 /* past TURN_TX_MAX requests at once: some wait */

/* A client and its world: the server, an echoing peer, pings to it every
 * second once the channel is bound. */
struct ckt {
	struct cknet *n;
	struct turnd *srv;
	struct turn *t;
	const struct dgram *peer;
	int peer_sock;
	struct dg_ep peer_ep;
	int ready, bound, data_in, echoed, pings;
	char failed[200];
	uint64_t ping_ev;
};

static void ckt_peer_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
			size_t len, natbed_time_t now)
{
	struct ckt *f = arg;

	(void)now;
	f->echoed++;
	dg_send(f->peer, sock, from, buf, len);
}

static void ckt_ping(void *arg, natbed_time_t now)
{
	struct ckt *f = arg;
	char msg[32];

	(void)now;
	f->ping_ev = 0;
	snprintf(msg, sizeof(msg), "ping %d", f->pings++);
	turn_send(f->t, &f->peer_ep, msg, strlen(msg));
	f->ping_ev = sched_after(cknet_sched(f->n), S, ckt_ping, f);
}

static void ckt_ready(void *arg, const struct dg_ep *relayed, const struct dg_ep *mapped)
{
	struct ckt *f = arg;
	struct dg_ep ep = {htonl(0xcb007101u), htons(5000)};

	(void)relayed, (void)mapped;
	f->ready++;
	assert_int_equal(turn_permit(f->t, &f->peer_ep), 0);
	for (int k = 0; k < CK_PEERS; k++, ep.addr = htonl(ntohl(ep.addr) + 1))
		assert_int_equal(k % 2 ? turn_permit(f->t, &ep) : turn_permit_addr(f->t, ep.addr),
				 0);
}

static void ckt_failed(void *arg, const char *reason)
{
	snprintf(((struct ckt *)arg)->failed, 200, "%s", reason);
}

static void ckt_data(void *arg, const struct dg_ep *peer, const uint8_t *buf, size_t len,
		     natbed_time_t now)
{
	(void)peer, (void)buf, (void)len, (void)now;
	((struct ckt *)arg)->data_in++;
}

static void ckt_bound(void *arg, const struct dg_ep *peer)
{
	struct ckt *f = arg;

	f->bound++;
	if (dg_ep_eq(peer, &f->peer_ep) && !f->ping_ev)
		f->ping_ev = sched_after(cknet_sched(f->n), S, ckt_ping, f);
}

static const struct turn_ops ckt_ops = {ckt_ready, ckt_failed, ckt_data, ckt_bound};

static const struct ckfn ckt_fns[] = {CKFN(ckt_peer_rx), CKFN(ckt_ping), CKFN(ckt_ready),
				      CKFN(ckt_failed),	 CKFN(ckt_data), CKFN(ckt_bound)};
static const struct ckvar ckt_vars[] = {CKVAR(ckt_ops)};
static const struct ckfns ckt_ckfns = CKFNS_VARS(test, ckt_fns, ckt_vars);
static const struct ckfns *const ckt_tables[] = {&cknet_ckfns, &turnd_ckfns, &turn_ckfns,
						 &ckt_ckfns};
#define CKT_TABLES (sizeof(ckt_tables) / sizeof(ckt_tables[0]))

static void ckt_start(struct ckt *f)
{
	struct turnd_cfg scfg = {.listen = {inet_addr(T_SERVER), htons(3478)},
				 .user = "u",
				 .pass = "pw",
				 .lifetime_max_s = 60,
				 .stale_at = 40}; /* a 438 after the checkpoint */
	struct turn_cfg cfg = {.server = scfg.listen, .user = "u", .pass = "pw"};
	struct dg_ep local;

	memset(f, 0, sizeof(*f));
	f->n = cknet_new(10 * MS, 7);
	assert_non_null(f->n);
	f->srv = turnd_new(cknet_host(f->n, T_SERVER), &scfg);
	assert_non_null(f->srv);
	f->peer = cknet_host(f->n, T_PEER);
	f->peer_ep = (struct dg_ep){inet_addr(T_PEER), htons(7000)};
	f->peer_sock = dg_open(f->peer, &f->peer_ep, &local, ckt_peer_rx, f);
	assert_true(f->peer_sock >= 0);
	f->t = turn_new(cknet_host(f->n, T_CLIENT), &cfg, &ckt_ops, f);
	assert_non_null(f->t);
}

static void ckt_free(struct ckt *f)
{
	turn_free(f->t);
	turnd_free(f->srv);
	cknet_free(f->n);
}

/* What both do after the checkpoint, at the same times. */
static void ckt_finish(struct ckt *f)
{
	cknet_run_until(f->n, 5 * S);
	turn_release_addr(f->t, htonl(0xcb007101u)); /* its slot waits out the quarantine */
	turn_release_addr(f->t, htonl(0xcb007102u));
	cknet_run_until(f->n, 200 * S);
}

static json_t *ckt_parts_save(struct ckw *ck, void *ctx)
{
	struct ckt *f = ctx;

	return json_pack("{s:o,s:o,s:{s:o,s:o,s:i,s:o,s:i,s:i,s:i,s:i,s:i,s:s,s:o}}", "srv",
			 turnd_ckpt_save(f->srv, ck), "t", turn_ckpt_save(f->t, ck), "fx", "id",
			 ckw_obj(ck, f), "peer", ckw_ref(ck, f->peer), "peer_sock", f->peer_sock,
			 "peer_ep", dg_ep_ckpt_save(&f->peer_ep, ck), "ready", f->ready, "bound",
			 f->bound, "data_in", f->data_in, "echoed", f->echoed, "pings", f->pings,
			 "failed", f->failed, "ping_ev", ckw_timer(ck, f->ping_ev));
}

static int ckt_parts_load(struct ckr *r, const json_t *j, void *ctx)
{
	struct ckt *f = ctx;
	const json_t *x = json_object_get(j, "fx");

	/* the client first: a refused one leaves nothing half-built */
	if (!(f->t = turn_ckpt_load(json_object_get(j, "t"), r)) ||
	    !(f->srv = turnd_ckpt_load(json_object_get(j, "srv"), r)))
		return -1;
	f->peer_sock = (int)json_integer_value(json_object_get(x, "peer_sock"));
	f->ready = (int)json_integer_value(json_object_get(x, "ready"));
	f->bound = (int)json_integer_value(json_object_get(x, "bound"));
	f->data_in = (int)json_integer_value(json_object_get(x, "data_in"));
	f->echoed = (int)json_integer_value(json_object_get(x, "echoed"));
	f->pings = (int)json_integer_value(json_object_get(x, "pings"));
	snprintf(f->failed, sizeof(f->failed), "%s",
		 json_string_value(json_object_get(x, "failed")));
	dg_ep_ckpt_fill(&f->peer_ep, json_object_get(x, "peer_ep"), r);
	ckr_obj(r, json_object_get(x, "id"), f);
	ckr_ref(r, json_object_get(x, "peer"), &f->peer);
	return ckr_timer(r, json_object_get(x, "ping_ev"), &f->ping_ev);
}

static json_t *ckt_save(struct ckt *f)
{
	char err[256] = "";
	json_t *j =
	    cknet_world_save(f->n, ckt_tables, CKT_TABLES, ckt_parts_save, f, err, sizeof(err));

	if (!j)
		fail_msg("save: %s", err);
	return j;
}

/* Requests under way in j's client: its tx entries in use. */
static size_t ckt_busy(const json_t *j)
{
	const json_t *tx = json_object_get(json_object_get(cknet_world_parts(j), "t"), "tx");
	size_t i, n = 0;
	const json_t *x;

	json_array_foreach(tx, i, x) n += json_object_get(x, "method") != NULL;
	return n;
}

/* Saved with TURN_TX_MAX requests under way and more peers waiting,
 * loaded: the file is the same, and the two run on alike for 200 s
 * (pings through the channel, a stale nonce, refreshes, two addresses
 * released), datagram for datagram. */
static void test_ckpt_round_trip(void **state)
{
	struct ckt a, b;
	struct turn_stats sa, sb;
	struct turnd_stats da, db;
	char err[256] = "";
	json_t *j;

	(void)state;
	ckt_start(&a);
	cknet_run_until(a.n, 45 * MS); /* ready at 40 ms, permissions asked */
	assert_int_equal(a.ready, 1);
	j = ckt_save(&a);
	assert_int_equal(ckt_busy(j), 16); /* every request slot (turn.c: TURN_TX_MAX) */
	memset(&b, 0, sizeof(b));
	b.n = cknet_world_reload(j, ckt_tables, CKT_TABLES, ckt_parts_save, ckt_parts_load, &b, err,
				 sizeof(err));
	if (!b.n || err[0])
		fail_msg("%s", err);
	json_decref(j);

	cknet_log_clear(a.n);
	cknet_log_clear(b.n);
	ckt_finish(&a);
	ckt_finish(&b);
	assert_string_equal(a.failed, "");
	assert_true(a.pings > 150);
	assert_int_equal(a.data_in, a.pings);
	assert_int_equal(a.bound, CK_PEERS / 2 + 1);
	turn_get_stats(a.t, &sa);
	turn_get_stats(b.t, &sb);
	assert_true(sa.stale_nonces >= 1);
	assert_true(sa.refreshes >= 1);
	assert_memory_equal(&sa, &sb, sizeof(sa));
	turnd_stats(a.srv, &da);
	turnd_stats(b.srv, &db);
	assert_memory_equal(&da, &db, sizeof(da));
	assert_int_equal(a.pings, b.pings);
	assert_int_equal(a.data_in, b.data_in);
	assert_int_equal(a.bound, b.bound);
	assert_int_equal(turn_peer_slots(a.t), turn_peer_slots(b.t));
	assert_string_equal(cknet_log(a.n), cknet_log(b.n));
	ckt_free(&a);
	ckt_free(&b);
}

/* The writer refuses a client whose callbacks are in no table; the reader
 * refuses a client with 15 request slots. */
static void test_ckpt_refused(void **state)
{
	static const struct ckfns *const short_tables[] = {&cknet_ckfns, &turnd_ckfns, &ckt_ckfns};
	struct ckt a, b;
	char err[256] = "";
	json_t *j;

	(void)state;
	ckt_start(&a);
	cknet_run_until(a.n, 45 * MS);
	assert_null(cknet_world_save(a.n, short_tables, 3, ckt_parts_save, &a, err, sizeof(err)));
	assert_non_null(strstr(err, "in no module's table"));
	j = ckt_save(&a);
	json_array_remove(json_object_get(json_object_get(cknet_world_parts(j), "t"), "tx"), 15);
	memset(&b, 0, sizeof(b));
	err[0] = 0;
	assert_null(
	    cknet_world_load(j, ckt_tables, CKT_TABLES, ckt_parts_load, &b, err, sizeof(err)));
	assert_non_null(strstr(err, "turn: cfg, peers, tx, rng"));
	assert_null(b.t);
	assert_null(b.srv);
	json_decref(j);
	ckt_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_allocate_bind_data),
	    cmocka_unit_test(test_stale_nonce),
	    cmocka_unit_test(test_wrong_password),
	    cmocka_unit_test(test_expired),
	    cmocka_unit_test(test_no_answer),
	    cmocka_unit_test(test_permit_addr),
	    cmocka_unit_test(test_release),
	    cmocka_unit_test(test_many_at_once),
	    cmocka_unit_test(test_ckpt_round_trip),
	    cmocka_unit_test(test_ckpt_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
