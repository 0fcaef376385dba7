#include "turnsock.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckget.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "natbed/strcopy.h"

struct ts_sock {
	bool open;
	uint32_t peer_addr;
	unsigned gen; /* the allocation it belongs to */
	dg_recv_fn fn;
	void *arg;
};

struct turnsock {
	const struct dgram *base;
	/* everything an agent with a TURN allocation builds holds a pointer
	 * to dg, and its reasons may point at error: a checkpoint declares
	 * both */
	struct dgram dg; /* the layered driver */
	struct turn_cfg cfg;
	struct turnsock_ops ops;
	struct turn *t;
	unsigned gen; /* allocations asked for */
	bool ready;
	struct dg_ep relayed;
	char error[TURNSOCK_ERROR_MAX];
	bool has_error;
	uint64_t retry_ev;
	struct turn_stats past; /* counters of the allocations before t */
	struct ts_sock socks[TURNSOCK_SOCKS_MAX];
};

static struct ts_sock *ts_sock(struct turnsock *ts, int id)
{
	if (id < TURNSOCK_ID_BASE || id >= TURNSOCK_ID_BASE + TURNSOCK_SOCKS_MAX)
		return NULL;
	return ts->socks[id - TURNSOCK_ID_BASE].open ? &ts->socks[id - TURNSOCK_ID_BASE] : NULL;
}

/* --- the TURN client's news -------------------------------------------- */

static void ts_allocate(struct turnsock *ts);

static void ts_ready(void *arg, const struct dg_ep *relayed, const struct dg_ep *mapped)
{
	struct turnsock *ts = arg;

	ts->ready = true;
	ts->relayed = *relayed;
	ts->has_error = false;
	if (ts->ops.changed)
		ts->ops.changed(ts->ops.arg, relayed, NULL);
}

static void ts_retry(void *arg, natbed_time_t now)
{
	struct turnsock *ts = arg;

	ts->retry_ev = 0;
	ts_allocate(ts);
}

static void ts_failed(void *arg, const char *reason)
{
	struct turnsock *ts = arg;
	bool was_ready = ts->ready;
	struct dg_ep none = {0, 0};

	ts->ready = false;
	ts->relayed = none;
	ts->has_error = true;
	str_copy(ts->error, sizeof(ts->error), reason);
	/* lost (it expired, the server went quiet): asked for again; refused
	 * (credentials, quota): not. Never freed from inside its own call. */
	if (was_ready && !ts->retry_ev)
		ts->retry_ev = sched_after(
		    ts->base->s, (natbed_time_t)TURNSOCK_RETRY_S * NATBED_NS_PER_S, ts_retry, ts);
	if (ts->ops.changed)
		ts->ops.changed(ts->ops.arg, &none, ts->error);
}

static void ts_data(void *arg, const struct dg_ep *peer, const uint8_t *buf, size_t len,
		    natbed_time_t now)
{
	struct turnsock *ts = arg;
	unsigned gen = ts->gen;

	/* RFC 8656 §9: the permission is the address's; each socket
	 * permitted for it sees the datagram (each try tells its own apart) */
	for (int i = 0; i < TURNSOCK_SOCKS_MAX; i++) {
		struct ts_sock *so = &ts->socks[i];

		if (so->open && so->fn && so->gen == gen && so->peer_addr == peer->addr)
			so->fn(so->arg, TURNSOCK_ID_BASE + i, peer, buf, len, now);
	}
}

static const struct turn_ops ts_turn_ops = {
    .ready = ts_ready, .failed = ts_failed, .data = ts_data};

static void ts_stats_add(struct turn_stats *to, const struct turn *t)
{
	struct turn_stats st;

	turn_get_stats(t, &st);
	to->requests += st.requests;
	to->retransmits += st.retransmits;
	to->responses += st.responses;
	to->errors += st.errors;
	to->stale_nonces += st.stale_nonces;
	to->refreshes += st.refreshes;
	to->channel_data_in += st.channel_data_in;
	to->channel_data_out += st.channel_data_out;
	to->indications_in += st.indications_in;
	to->ignored += st.ignored;
}

static void ts_allocate(struct turnsock *ts)
{
	if (ts->t) {
		ts_stats_add(&ts->past, ts->t);
		turn_free(ts->t);
	}
	ts->gen++;
	ts->t = turn_new(ts->base, &ts->cfg, &ts_turn_ops, ts);
	if (!ts->t) {
		ts->has_error = true;
		snprintf(ts->error, sizeof(ts->error), "cannot open a socket for the TURN client");
	}
}

/* --- the layered driver -------------------------------------------------- */

static int ts_open_op(void *io, const struct dg_ep *bind, struct dg_ep *local, dg_recv_fn fn,
		      void *arg)
{
	struct turnsock *ts = io;
	int id = dg_open(ts->base, bind, local, fn, arg);

	/* the relayed sockets' ids are above every id of base */
	if (id >= TURNSOCK_ID_BASE) {
		dg_close(ts->base, id);
		return -EMFILE;
	}
	return id;
}

static int ts_send_op(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len)
{
	struct turnsock *ts = io;
	struct ts_sock *so;
	int r;

	if (sock < TURNSOCK_ID_BASE)
		return dg_send(ts->base, sock, to, buf, len);
	if (!(so = ts_sock(ts, sock)))
		return -EBADF;
	if (!ts->ready || so->gen != ts->gen)
		return -ENOTCONN;
	/* RFC 8656 §12: a channel to each peer we send to (asked once) */
	r = turn_permit(ts->t, to);
	return r < 0 ? r : turn_send(ts->t, to, buf, len);
}

static void ts_close_op(void *io, int sock)
{
	struct turnsock *ts = io;
	struct ts_sock *so;

	if (sock < TURNSOCK_ID_BASE) {
		dg_close(ts->base, sock);
		return;
	}
	if (!(so = ts_sock(ts, sock)))
		return;
	so->open = false;
	/* the last socket toward that address: its permission and channels
	 * lapse (a socket of an allocation lost holds none) */
	for (int i = 0; i < TURNSOCK_SOCKS_MAX; i++)
		if (ts->socks[i].open && ts->socks[i].peer_addr == so->peer_addr)
			return;
	if (ts->t && so->gen == ts->gen)
		turn_release_addr(ts->t, so->peer_addr);
}

static int ts_set_recv_op(void *io, int sock, dg_recv_fn fn, void *arg)
{
	struct turnsock *ts = io;
	struct ts_sock *so;

	if (sock < TURNSOCK_ID_BASE)
		return dg_set_recv(ts->base, sock, fn, arg);
	if (!(so = ts_sock(ts, sock)))
		return -EBADF;
	so->fn = fn;
	so->arg = arg;
	return 0;
}

static const struct dgram_ops ts_dgram_ops = {
    .open = ts_open_op, .send = ts_send_op, .close = ts_close_op, .set_recv = ts_set_recv_op};

/* --- the public side ----------------------------------------------------- */

struct turnsock *turnsock_new(const struct dgram *base, const struct turn_cfg *cfg,
			      const struct turnsock_ops *ops)
{
	struct turnsock *ts = calloc(1, sizeof(*ts));

	if (!ts)
		return NULL;
	ts->base = base;
	ts->dg = (struct dgram){&ts_dgram_ops, ts, base->s, base->seed};
	ts->cfg = *cfg;
	if (ops)
		ts->ops = *ops;
	ts_allocate(ts);
	if (!ts->t) {
		free(ts);
		return NULL;
	}
	return ts;
}

void turnsock_free(struct turnsock *ts)
{
	if (!ts)
		return;
	if (ts->retry_ev)
		sched_cancel(ts->base->s, ts->retry_ev);
	turn_free(ts->t);
	free(ts);
}

const struct dgram *turnsock_dgram(struct turnsock *ts)
{
	return &ts->dg;
}

int turnsock_open(struct turnsock *ts, uint32_t peer_addr, struct dg_ep *local, dg_recv_fn fn,
		  void *arg)
{
	int i, r;

	if (!peer_addr)
		return -EINVAL;
	if (!ts->ready)
		return -ENOTCONN;
	for (i = 0; i < TURNSOCK_SOCKS_MAX && ts->socks[i].open; i++)
		;
	if (i == TURNSOCK_SOCKS_MAX)
		return -EMFILE;
	r = turn_permit_addr(ts->t, peer_addr);
	if (r < 0)
		return r;
	ts->socks[i] = (struct ts_sock){true, peer_addr, ts->gen, fn, arg};
	if (local)
		*local = ts->relayed;
	return TURNSOCK_ID_BASE + i;
}

struct dg_ep turnsock_relayed(const struct turnsock *ts)
{
	return ts->relayed;
}

const char *turnsock_error(const struct turnsock *ts)
{
	return ts->has_error ? ts->error : NULL;
}

void turnsock_stats(const struct turnsock *ts, struct turn_stats *st)
{
	*st = ts->past;
	if (ts->t)
		ts_stats_add(st, ts->t);
}

/* --- checkpoints ----------------------------------------------------------- */

static const struct ckfn turnsock_fns[] = {CKFN(ts_retry),    CKFN(ts_ready),	   CKFN(ts_failed),
					   CKFN(ts_data),     CKFN(ts_open_op),	   CKFN(ts_send_op),
					   CKFN(ts_close_op), CKFN(ts_set_recv_op)};
static const struct ckvar turnsock_vars[] = {CKVAR(ts_turn_ops), CKVAR(ts_dgram_ops)};
const struct ckfns turnsock_ckfns = CKFNS_VARS(turnsock, turnsock_fns, turnsock_vars);

/* The relayed sockets up to the last open one; a closed one is null (an
 * open one takes its slot whole). */
static json_t *socks_save(const struct turnsock *ts, struct ckw *w)
{
	json_t *a = json_array();
	int last = -1;

	for (int i = 0; i < TURNSOCK_SOCKS_MAX; i++)
		if (ts->socks[i].open)
			last = i;
	for (int i = 0; i <= last; i++) {
		const struct ts_sock *so = &ts->socks[i];

		ckget_push(w, a,
			   !so->open
			       ? json_null()
			       : json_pack("{s:o,s:I,s:o,s:o}", "peer_addr",
					   jsonck_ipv4(so->peer_addr), "gen", (json_int_t)so->gen,
					   "fn", ckw_fn(w, (ckfn_ptr)so->fn), "arg",
					   ckw_ref(w, so->arg)),
			   "turnsock: a relayed socket");
	}
	return a;
}

json_t *turnsock_ckpt_save(const struct turnsock *ts, struct ckw *w)
{
	return ckget_done(
	    w,
	    json_pack("{s:o,s:o,s:{s:o,s:o,s:o,s:o},s:o,s:{s:o,s:o},s:o,s:I,s:b,s:o,"
		      "s:{s:o,s:o},s:b,s:o,s:o,s:o}",
		      "id", ckw_obj(w, ts), "base", ckw_ref(w, ts->base), "dg", "id",
		      ckw_obj(w, &ts->dg), "ops", ckw_ref(w, ts->dg.ops), "s", ckw_ref(w, ts->dg.s),
		      "seed", jsonck_u64(ts->dg.seed, true), "cfg", turn_cfg_ckpt_save(&ts->cfg, w),
		      "ops", "changed", ckw_fn(w, (ckfn_ptr)ts->ops.changed), "arg",
		      ckw_ref(w, ts->ops.arg), "t", ts->t ? turn_ckpt_save(ts->t, w) : json_null(),
		      "gen", (json_int_t)ts->gen, "ready", ts->ready, "relayed",
		      dg_ep_ckpt_save(&ts->relayed, w), "error", "id", ckw_obj(w, ts->error),
		      "text", ckw_bytes(w, ts->error, strnlen(ts->error, sizeof(ts->error))),
		      "has_error", ts->has_error, "retry_ev", ckw_timer(w, ts->retry_ev), "past",
		      ckw_bytes(w, &ts->past, sizeof(ts->past)), "socks", socks_save(ts, w)),
	    "turnsock");
}

static int socks_load(struct turnsock *ts, const json_t *a, struct ckr *r)
{
	const json_t *e;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) > TURNSOCK_SOCKS_MAX)
		return ckr_fail(r, "turnsock: socks: not an array of at most %d",
				TURNSOCK_SOCKS_MAX);
	json_array_foreach(a, i, e)
	{
		struct ts_sock *so = &ts->socks[i];
		struct ckget ge = {r, "turnsock.socks", e, false};
		ckfn_ptr fn = NULL;

		if (json_is_null(e))
			continue;
		so->open = true;
		if (jsonck_ipv4_read(json_object_get(e, "peer_addr"), &so->peer_addr) < 0)
			ckr_fail(r, "turnsock: socks[%zu].peer_addr: not an address", i);
		so->gen = (unsigned)ckget_int(&ge, "gen", 0, UINT_MAX);
		ckr_fn(r, json_object_get(e, "fn"), &fn);
		so->fn = (dg_recv_fn)fn;
		ckr_ref(r, json_object_get(e, "arg"), &so->arg);
	}
	return ckr_failed(r) ? -1 : 0;
}

struct turnsock *turnsock_ckpt_load(const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "turnsock", j, false};
	const json_t *dg = json_object_get(j, "dg"), *ops = json_object_get(j, "ops");
	const json_t *err = json_object_get(j, "error"), *text = json_object_get(err, "text");
	size_t n = json_string_length(text) / 2;
	struct turnsock *ts;
	ckfn_ptr changed = NULL;

	if (!json_is_object(dg) || !json_is_object(ops) || !json_is_string(text) ||
	    n >= TURNSOCK_ERROR_MAX) {
		ckr_fail(r, "turnsock: dg, ops, error: missing, or the error too long");
		return NULL;
	}
	if (!(ts = calloc(1, sizeof(*ts)))) {
		ckr_fail(r, "turnsock: out of memory");
		return NULL;
	}
	ts->dg.io = ts;
	if (jsonck_u64_read(json_object_get(dg, "seed"), true, &ts->dg.seed) < 0)
		ckr_fail(r, "turnsock: dg.seed: not 16 hex digits");
	turn_cfg_ckpt_fill(&ts->cfg, json_object_get(j, "cfg"), r);
	ckr_fn(r, json_object_get(ops, "changed"), &changed);
	ts->ops.changed = (void (*)(void *, const struct dg_ep *, const char *))changed;
	ts->gen = (unsigned)ckget_int(&g, "gen", 0, UINT_MAX);
	ts->ready = ckget_bool(&g, "ready");
	ckget_ep(&g, "relayed", &ts->relayed);
	ckr_bytes(r, text, ts->error, n);
	ts->has_error = ckget_bool(&g, "has_error");
	ckr_bytes(r, json_object_get(j, "past"), &ts->past, sizeof(ts->past));
	socks_load(ts, json_object_get(j, "socks"), r);
	ckr_obj(r, json_object_get(j, "id"), ts);
	ckr_obj(r, json_object_get(dg, "id"), &ts->dg);
	ckr_obj(r, json_object_get(err, "id"), ts->error);
	ckr_ref(r, json_object_get(j, "base"), &ts->base);
	ckr_ref(r, json_object_get(dg, "ops"), &ts->dg.ops);
	ckr_ref(r, json_object_get(dg, "s"), &ts->dg.s);
	ckr_ref(r, json_object_get(ops, "arg"), &ts->ops.arg);
	ckr_timer(r, json_object_get(j, "retry_ev"), &ts->retry_ev);
	if (!json_is_null(json_object_get(j, "t")))
		ts->t = turn_ckpt_load(json_object_get(j, "t"), r);
	return ckr_failed(r) ? NULL : ts;
}
