/* natbed sim checkpoints of a traversal try (agents/trav_ckpt.c) and its
 * check engine with each method's state (agents/method_checks.c,
 * method_*.c): written in the middle of a try, read into a fresh world,
 * written again (the same JSON), and run on beside the original (the same
 * datagrams at the same times, the same end).
 *
 * The world is a datagram driver of this file's (no network: what a try
 * sends is logged with its time, what it receives the test hands to a
 * socket's receiver), so that everything pending is the try's own events
 * and the world's socket table can be written and read too, receivers and
 * their arguments by name, as the virtual network's is. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ckround.h"
#include "method.h"
#include "method_checks.h"
#include "natbed/ckpt.h"
#include "natbed/clock.h"
#include "natbed/jsonck.h"
#include "natbed/sched.h"
#include "pcpc.h"
#include "peermsg.h"

#define T_MS	 NATBED_NS_PER_MS
#define T_TRY_ID 0x5eed0000c0ffee00ull
#define T_SOCKS	 512
#define T_START	 (1000 * T_MS)

/* --- a world: a scheduler and a datagram driver that logs ---------------- */

struct wsock {
	bool open;
	dg_recv_fn fn;
	void *arg;
	struct dg_ep local;
};

struct world {
	struct clock_virtual vc;
	struct sched *s;
	struct dgram dg;
	struct wsock socks[T_SOCKS];
	int nsocks;
	uint32_t addr;
	uint16_t next_port;
	char *log; /* "ms.us sock to len hash" lines */
	size_t loglen;
	uint8_t last[DG_MAX]; /* the last datagram sent */
	size_t last_len;
	int last_sock;
	struct dg_ep last_to;
	uint8_t txid_of[T_SOCKS][STUN_TXID_LEN]; /* each socket's last transaction */
};

static void w_log(struct world *w, const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	w->log = realloc(w->log, w->loglen + (size_t)n + 1);
	assert_non_null(w->log);
	memcpy(w->log + w->loglen, line, (size_t)n + 1);
	w->loglen += (size_t)n;
}

static int w_open(void *io, const struct dg_ep *bind, struct dg_ep *local, dg_recv_fn fn, void *arg)
{
	struct world *w = io;
	int id = w->nsocks;

	(void)bind;
	if (id == T_SOCKS)
		return -EMFILE;
	w->nsocks++;
	w->socks[id] = (struct wsock){true, fn, arg, {w->addr, htons(w->next_port++)}};
	*local = w->socks[id].local;
	return id;
}

static int w_send(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len)
{
	struct world *w = io;
	uint64_t h = 1469598103934665603ull;

	assert_true(sock >= 0 && sock < w->nsocks && w->socks[sock].open);
	for (size_t i = 0; i < len; i++)
		h = (h ^ ((const uint8_t *)buf)[i]) * 1099511628211ull;
	w_log(w, "%lld %d %08x:%u %zu %016llx\n", (long long)(sched_now(w->s) / 1000), sock,
	      ntohl(to->addr), ntohs(to->port), len, (unsigned long long)h);
	memcpy(w->last, buf, len);
	w->last_len = len;
	w->last_sock = sock;
	w->last_to = *to;
	if (len >= 20)
		memcpy(w->txid_of[sock], (const uint8_t *)buf + 8, STUN_TXID_LEN);
	return 0;
}

static void w_close(void *io, int sock)
{
	struct world *w = io;

	assert_true(w->socks[sock].open);
	w->socks[sock].open = false;
	w_log(w, "%lld close %d\n", (long long)(sched_now(w->s) / 1000), sock);
}

static int w_set_recv(void *io, int sock, dg_recv_fn fn, void *arg)
{
	struct world *w = io;

	w->socks[sock].fn = fn;
	w->socks[sock].arg = arg;
	return 0;
}

static const struct dgram_ops w_ops = {w_open, w_send, w_close, w_set_recv};

static void world_init(struct world *w, natbed_time_t now)
{
	memset(w, 0, sizeof(*w));
	w->vc.now_ns = now;
	w->s = sched_new(clock_virtual_clock(&w->vc), &w->vc);
	assert_non_null(w->s);
	w->dg = (struct dgram){&w_ops, w, w->s, 0x1234abcd5678ef90ull};
	inet_pton(AF_INET, "10.1.0.2", &w->addr);
	w->next_port = 40000;
}

/* A datagram from `from` to socket sock, now. */
static void world_deliver(struct world *w, int sock, const struct dg_ep *from, const uint8_t *buf,
			  size_t len)
{
	struct wsock *so = &w->socks[sock];

	assert_true(so->open);
	if (so->fn)
		so->fn(so->arg, sock, from, buf, len, sched_now(w->s));
}

/* --- an owner around the try (as the agent's agent_try) ------------------ */

struct holder {
	int done_calls;
	struct trav_try t;
	char reason[64];
	int main_sock;
	bool stopped;
};

static void h_done(void *arg, struct trav_try *t)
{
	struct holder *h = arg;

	assert_ptr_equal(&h->t, t);
	h->done_calls++;
}

static void h_main_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		      natbed_time_t now)
{
	struct holder *h = arg;

	trav_input(&h->t, from, buf, len, now);
}

static void t_unlisted(struct trav_try *t)
{
	(void)t;
}

static const struct ckfn t_fns[] = {CKFN(h_done), CKFN(h_main_rx)};
static const struct ckfns t_table = CKFNS(test, t_fns);
static const struct ckfns *const t_tables[] = {&trav_try_ckfns, &mc_ckfns,	&birthday_ckfns,
					       &predict_ckfns,	&portmap_ckfns, &pcpc_ckfns,
					       &t_table};
#define T_NTABLES (sizeof(t_tables) / sizeof(t_tables[0]))

static struct dg_ep t_ep(const char *addr, uint16_t port)
{
	struct dg_ep ep;

	assert_int_equal(inet_pton(AF_INET, addr, &ep.addr), 1);
	ep.port = htons(port);
	return ep;
}

/* A try of method `name` in w, at T_START, self behind NAT self_nat and
 * the peer behind peer_nat. */
static struct holder *h_start(struct world *w, const char *name, enum trav_role role,
			      const struct natinfo *self_nat, const struct natinfo *peer_nat)
{
	struct holder *h = calloc(1, sizeof(*h));
	struct dg_ep any = {0, 0}, local;
	struct trav_try *t;

	assert_non_null(h);
	h->main_sock = dg_open(&w->dg, &any, &local, h_main_rx, h);
	assert_true(h->main_sock >= 0);
	sched_run_until(w->s, T_START);
	t = &h->t;
	t->dg = &w->dg;
	t->m = method_find(name);
	assert_non_null(t->m);
	t->role = role;
	t->id = T_TRY_ID;
	t->sock = h->main_sock;
	strcpy(t->self.name, "alice");
	t->self.host = local;
	t->self.srflx = t_ep("203.0.113.1", 50001);
	t->self.nat = *self_nat;
	strcpy(t->peer.name, "bob");
	t->peer.host = t_ep("10.2.0.2", 40000);
	t->peer.srflx = t_ep("203.0.113.2", 50002);
	t->peer.nat = *peer_nat;
	t->stun = t_ep("198.51.100.10", 3478);
	t->gateway = t_ep("10.1.0.1", 5351);
	t->start = T_START;
	t->deadline = T_START + t->m->spec.budget_ns;
	t->done = h_done;
	t->done_arg = h;
	assert_int_equal(t->m->start(t), 0);
	return h;
}

static void h_free(struct holder *h)
{
	if (!h->stopped && h->t.m)
		h->t.m->stop(&h->t);
	free(h);
}

/* --- the world and the try written and read ------------------------------ */

struct ckboth {
	struct world *w;
	struct holder *h;
};

/* The world's socket table and the holder with its try (ckround.h). */
static json_t *parts_save(struct ckw *ck, void *arg)
{
	const struct ckboth *c = arg;
	const struct world *w = c->w;
	const struct holder *h = c->h;
	json_t *j = json_object(), *socks = json_array();

	json_object_set_new(j, "dg", ckw_obj(ck, &w->dg));
	json_object_set_new(j, "seed", jsonck_u64(w->dg.seed, true));
	for (int i = 0; i < w->nsocks; i++)
		json_array_append_new(socks,
				      json_pack("{s:b,s:o,s:o,s:i}", "open", w->socks[i].open, "fn",
						ckw_fn(ck, (ckfn_ptr)w->socks[i].fn), "arg",
						ckw_ref(ck, w->socks[i].arg), "port",
						ntohs(w->socks[i].local.port)));
	json_object_set_new(j, "socks", socks);
	json_object_set_new(j, "next_port", json_integer(w->next_port));
	json_object_set_new(j, "holder",
			    json_pack("{s:o,s:i,s:o,s:o,s:s,s:i,s:b}", "id", ckw_obj(ck, h),
				      "done_calls", h->done_calls, "t",
				      trav_try_ckpt_save(&h->t, ck), "reason_id",
				      ckw_obj(ck, h->reason), "reason", h->reason, "main",
				      h->main_sock, "stopped", h->stopped));
	return j;
}

static int parts_load(struct ckr *ck, const json_t *j, void *arg)
{
	const struct ckboth *c = arg;
	struct world *w = c->w;
	struct holder *h = c->h;
	const json_t *socks = json_object_get(j, "socks"), *hj = json_object_get(j, "holder");

	assert_int_equal(jsonck_u64_read(json_object_get(j, "seed"), true, &w->dg.seed), 0);
	ckr_obj(ck, json_object_get(j, "dg"), &w->dg);
	w->nsocks = (int)json_array_size(socks);
	for (int i = 0; i < w->nsocks; i++) {
		const json_t *sj = json_array_get(socks, i);
		ckfn_ptr fn = NULL;

		w->socks[i].open = json_is_true(json_object_get(sj, "open"));
		w->socks[i].local.addr = w->addr;
		w->socks[i].local.port =
		    htons((uint16_t)json_integer_value(json_object_get(sj, "port")));
		ckr_fn(ck, json_object_get(sj, "fn"), &fn);
		w->socks[i].fn = (dg_recv_fn)fn;
		ckr_ref(ck, json_object_get(sj, "arg"), &w->socks[i].arg);
	}
	w->next_port = (uint16_t)json_integer_value(json_object_get(j, "next_port"));
	ckr_obj(ck, json_object_get(hj, "id"), h);
	ckr_obj(ck, json_object_get(hj, "reason_id"), h->reason);
	h->done_calls = (int)json_integer_value(json_object_get(hj, "done_calls"));
	strcpy(h->reason, json_string_value(json_object_get(hj, "reason")));
	h->main_sock = (int)json_integer_value(json_object_get(hj, "main"));
	h->stopped = json_is_true(json_object_get(hj, "stopped"));
	return trav_try_ckpt_fill(&h->t, json_object_get(hj, "t"), ck);
}

static json_t *save_all(struct world *w, struct holder *h, char *err, size_t errlen)
{
	struct ckboth c = {w, h};

	return ckround_save(w->s, t_tables, T_NTABLES, parts_save, &c, err, errlen);
}

static int load_all(struct world *w, struct holder **hp, const json_t *j, char *err, size_t errlen)
{
	struct ckboth c = {w, calloc(1, sizeof(*c.h))};

	assert_non_null(c.h);
	world_init(w, ckround_at(j));
	*hp = c.h;
	return ckround_load(j, &w->s, t_tables, T_NTABLES, parts_load, &c, err, errlen);
}

static void world_free(struct world *w)
{
	sched_free(w->s);
	free(w->log);
}

/* Saves (w, h), loads it into (w2, h2), saves that and compares: the
 * round trip is exact. The first JSON is returned. */
static json_t *round_trip(struct world *w, struct holder *h, struct world *w2, struct holder **h2)
{
	char err[256] = "";
	json_t *a, *b;
	char *text;

	a = save_all(w, h, err, sizeof(err));
	if (!a)
		fail_msg("save: %s", err);
	/* through text, as a file */
	text = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	a = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(a);
	if (load_all(w2, h2, a, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	b = save_all(w2, *h2, err, sizeof(err));
	if (!b)
		fail_msg("save again: %s", err);
	if (!json_equal(a, b)) {
		char *ta = json_dumps(a, JSON_COMPACT), *tb = json_dumps(b, JSON_COMPACT);

		fail_msg("round trip differs:\n%s\n%s", ta, tb);
	}
	json_decref(b);
	return a;
}

/* Both run to `until`; what they sent since and what they are then must
 * be the same. */
static void run_both(struct world *a, struct world *b, natbed_time_t until)
{
	size_t la = a->loglen, lb = b->loglen;

	sched_run_until(a->s, until);
	sched_run_until(b->s, until);
	assert_int_equal(a->loglen - la, b->loglen - lb);
	assert_memory_equal(a->log + la, b->log + lb, a->loglen - la);
}

static void same_state(struct world *a, struct holder *ha, struct world *b, struct holder *hb)
{
	char err[256] = "";
	json_t *ja = save_all(a, ha, err, sizeof(err)), *jb;

	assert_non_null(ja);
	jb = save_all(b, hb, err, sizeof(err));
	assert_non_null(jb);
	/* the ids of the two worlds' objects are given in the same order */
	assert_true(json_equal(ja, jb));
	json_decref(ja);
	json_decref(jb);
}

/* A check of the peer's (bob) from `from`, to the try's socket sock. */
static void peer_check(struct world *w, int sock, const struct dg_ep *from, uint8_t seq)
{
	struct peermsg m = {.kind = PEERMSG_CHECK, .has_try = true, .try_id = T_TRY_ID};
	uint8_t buf[PEERMSG_MAX];
	int len;

	memset(m.txid, seq, sizeof(m.txid));
	strcpy(m.name, "bob");
	len = peermsg_build(&m, buf, sizeof(buf));
	assert_true(len > 0);
	world_deliver(w, sock, from, buf, (size_t)len);
}

/* The peer's answer to the last check the try sent, from where it went. */
static void peer_answer_last(struct world *w)
{
	struct dg_ep from = w->last_to, mapped = t_ep("203.0.113.1", 50001);
	struct peermsg c, a;
	uint8_t buf[PEERMSG_MAX];
	int len;

	assert_int_equal(peermsg_parse(w->last, w->last_len, &c), PEERMSG_OK);
	assert_int_equal(c.kind, PEERMSG_CHECK);
	peermsg_answer_of(&c, &mapped, &a);
	strcpy(a.name, "bob");
	len = peermsg_build(&a, buf, sizeof(buf));
	assert_true(len > 0);
	world_deliver(w, w->last_sock, &from, buf, (size_t)len);
}

static const struct natinfo t_eim = {.map = NI_MAP_EIM, .filter = NI_FILTER_APDF};
static const struct natinfo t_sym = {
    .map = NI_MAP_APDM, .filter = NI_FILTER_APDF, .ports = NI_PORTS_RANDOM};
static const struct natinfo t_seq = {
    .map = NI_MAP_APDM, .filter = NI_FILTER_APDF, .ports = NI_PORTS_SEQUENTIAL, .stride = 1};
static const struct natinfo t_pcp = {
    .map = NI_MAP_APDM, .filter = NI_FILTER_APDF, .ports = NI_PORTS_RANDOM, .pcp = 1};

/* punch, mid-schedule with a peer-reflexive pair learned: the restored
 * try sends the same checks, succeeds on the same answer the same way
 * and ends in the same state. */
static void test_punch_round_trip(void **state)
{
	struct world a, b;
	struct holder *ha, *hb;
	struct dg_ep prflx = t_ep("203.0.113.2", 61000);
	json_t *j;

	(void)state;
	world_init(&a, 0);
	ha = h_start(&a, "punch", TRAV_RESPONDER, &t_eim, &t_eim);
	sched_run_until(a.s, T_START + 250 * T_MS);
	peer_check(&a, ha->main_sock, &prflx, 1);
	sched_run_until(a.s, T_START + 350 * T_MS);
	assert_true(a.loglen > 0);
	j = round_trip(&a, ha, &b, &hb);
	/* what was saved: two pairs (srflx, peer-reflexive), the tick and
	 * the deadline pending, heard */
	assert_int_equal(
	    json_array_size(json_object_get(
		json_object_get(json_object_get(json_object_get(ckround_parts(j), "holder"), "t"),
				"priv"),
		"pairs")),
	    2);
	json_decref(j);
	assert_ptr_equal(hb->t.dg, &b.dg);
	assert_ptr_equal(hb->t.m, &method_punch);
	assert_ptr_equal(hb->t.done_arg, hb);
	assert_true(hb->t.done == h_done);
	assert_int_equal(sched_pending(b.s), sched_pending(a.s));

	run_both(&a, &b, T_START + 1700 * T_MS);
	/* the answer to the last check comes back to both */
	assert_true(dg_ep_eq(&a.last_to, &b.last_to));
	peer_answer_last(&a);
	peer_answer_last(&b);
	run_both(&a, &b, T_START + 6000 * T_MS);
	assert_int_equal(ha->done_calls, 1);
	assert_int_equal(hb->done_calls, 1);
	assert_true(hb->t.success);
	assert_true(dg_ep_eq(&hb->t.remote, &b.last_to) || dg_ep_eq(&hb->t.remote, &prflx) ||
		    hb->t.remote.port == htons(50002));
	same_state(&a, ha, &b, hb);
	h_free(ha);
	h_free(hb);
	world_free(&a);
	world_free(&b);
}

/* punch failing at its deadline: the engine's reason ("timeout": heard,
 * never answered) saved after the end reads the same. */
static void test_punch_timeout(void **state)
{
	struct world a, b;
	struct holder *ha, *hb;
	struct dg_ep prflx = t_ep("203.0.113.2", 61000);

	(void)state;
	world_init(&a, 0);
	ha = h_start(&a, "punch", TRAV_INITIATOR, &t_eim, &t_eim);
	sched_run_until(a.s, T_START + 100 * T_MS);
	peer_check(&a, ha->main_sock, &prflx, 1);
	sched_run_until(a.s, T_START + 4000 * T_MS);
	json_decref(round_trip(&a, ha, &b, &hb));
	run_both(&a, &b, T_START + 7000 * T_MS);
	assert_string_equal(ha->t.reason, "timeout");
	assert_string_equal(hb->t.reason, "timeout");
	h_free(ha);
	world_free(&a);
	json_decref(round_trip(&b, hb, &a, &ha)); /* a literal after the end */
	same_state(&a, ha, &b, hb);
	h_free(ha);
	h_free(hb);
	world_free(&a);
	world_free(&b);
}

/* birthday's easy side, 300 of its 2048 probes out: the generator's state
 * and the ports tried come back, the remaining probes go to the same
 * ports. */
static void test_birthday_easy(void **state)
{
	struct world a, b;
	struct holder *ha, *hb;

	(void)state;
	world_init(&a, 0);
	ha = h_start(&a, "birthday", TRAV_INITIATOR, &t_eim, &t_sym);
	sched_run_until(a.s, T_START + 300 * T_MS + 500);
	json_decref(round_trip(&a, ha, &b, &hb));
	run_both(&a, &b, T_START + 5000 * T_MS);
	assert_int_equal(hb->done_calls, 1);
	assert_string_equal(hb->t.reason, "no answer");
	same_state(&a, ha, &b, hb);
	h_free(ha);
	h_free(hb);
	world_free(&a);
	world_free(&b);
}

/* birthday's hard side with 100 of its sockets open: each socket's
 * receiver argument (a socket of the engine) is restored, and a check
 * through one of them succeeds on both. */
static void test_birthday_hard(void **state)
{
	struct world a, b;
	struct holder *ha, *hb;
	struct dg_ep srflx = t_ep("203.0.113.2", 50002);

	(void)state;
	world_init(&a, 0);
	ha = h_start(&a, "birthday", TRAV_RESPONDER, &t_sym, &t_eim);
	sched_run_until(a.s, T_START + 2250 * T_MS);
	json_decref(round_trip(&a, ha, &b, &hb));
	assert_true(b.nsocks > 50);
	assert_ptr_equal(b.socks[b.nsocks - 1].fn, a.socks[a.nsocks - 1].fn);
	run_both(&a, &b, T_START + 2300 * T_MS);
	/* the easy side checks a socket opened before the save, which checks
	 * back at once, and answers that */
	peer_check(&a, 20, &srflx, 7);
	peer_check(&b, 20, &srflx, 7);
	assert_int_equal(a.last_sock, 20);
	peer_answer_last(&a);
	peer_answer_last(&b);
	run_both(&a, &b, T_START + 5000 * T_MS);
	assert_true(ha->t.success);
	assert_true(hb->t.success);
	assert_int_equal(hb->t.path_sock, 20);
	same_state(&a, ha, &b, hb);
	h_free(ha);
	h_free(hb);
	world_free(&a);
	world_free(&b);
}

/* predict measuring (its STUN probes out, its retry timer armed): the
 * restored one retries the same and gives up the same. */
static void test_predict_measure(void **state)
{
	struct world a, b;
	struct holder *ha, *hb;

	(void)state;
	world_init(&a, 0);
	ha = h_start(&a, "predict", TRAV_INITIATOR, &t_seq, &t_eim);
	sched_run_until(a.s, T_START + 250 * T_MS);
	json_decref(round_trip(&a, ha, &b, &hb));
	run_both(&a, &b, T_START + 7000 * T_MS);
	assert_int_equal(hb->done_calls, 1);
	assert_string_equal(hb->t.reason, "no prediction");
	same_state(&a, ha, &b, hb);
	h_free(ha);
	h_free(hb);
	world_free(&a);
	world_free(&b);
}

/* A STUN server's answer to socket sock's last request as world `sent`
 * saw it: it left its NAT from port `mapped` of the try's public
 * address. */
static void stun_answer(struct world *w, const struct world *sent, int sock, uint16_t mapped)
{
	struct peermsg m = {.kind = PEERMSG_ANSWER, .has_mapped = true};
	struct dg_ep stun = t_ep("198.51.100.10", 3478);
	uint8_t buf[PEERMSG_MAX];
	int len;

	memcpy(m.txid, sent->txid_of[sock], STUN_TXID_LEN);
	m.mapped = t_ep("203.0.113.1", mapped);
	len = peermsg_build(&m, buf, sizeof(buf));
	assert_true(len > 0);
	world_deliver(w, sock, &stun, buf, (size_t)len);
}

/* predict measured after a restore (the STUN answers reach the restored
 * hook), then punching with its prediction riding in every check, saved
 * again: the third world runs on as the first. */
static void test_predict_punch(void **state)
{
	struct world a, b, c;
	struct holder *ha, *hb, *hc;
	json_t *j;
	char *text;

	(void)state;
	world_init(&a, 0);
	ha = h_start(&a, "predict", TRAV_INITIATOR, &t_seq, &t_eim);
	sched_run_until(a.s, T_START + 50 * T_MS);
	json_decref(round_trip(&a, ha, &b, &hb));
	for (int i = 0; i < 3; i++) {
		/* in any order; to the restored one, the requests the original
		 * sent before the save (the same transactions) */
		stun_answer(&a, &a, 1 + i, (uint16_t)(50012 - i));
		stun_answer(&b, &a, 1 + i, (uint16_t)(50012 - i));
	}
	run_both(&a, &b, T_START + 300 * T_MS);
	/* 20 allocations spent up to the target (50033), then its socket */
	assert_int_equal(b.nsocks, 1 + 3 + 20 + 1);
	j = round_trip(&b, hb, &c, &hc);
	text = json_dumps(j, JSON_COMPACT);
	assert_non_null(strstr(text, "\"pred\":[\"203.0.113.1\",50033]"));
	free(text);
	json_decref(j);
	h_free(hb);
	world_free(&b);
	run_both(&a, &c, T_START + 8000 * T_MS);
	assert_int_equal(hc->done_calls, 1);
	assert_string_equal(hc->t.reason, "no answer");
	same_state(&a, ha, &c, hc);
	h_free(ha);
	h_free(hc);
	world_free(&a);
	world_free(&c);
}

/* predict's sweeping side (pairs only) and portmap's checking side (no
 * PCP client of its own). */
static void test_predict_sweep_portmap(void **state)
{
	static const struct {
		const char *m;
		const struct natinfo *self, *peer;
	} c[] = {
	    {"predict", &t_eim, &t_seq}, {"portmap", &t_sym, &t_pcp}, {"direct", &t_eim, &t_eim}};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct world a, b;
		struct holder *ha, *hb;

		world_init(&a, 0);
		ha = h_start(&a, c[i].m, TRAV_RESPONDER, c[i].self, c[i].peer);
		sched_run_until(a.s, T_START + 420 * T_MS);
		assert_true(a.loglen > 0);
		json_decref(round_trip(&a, ha, &b, &hb));
		run_both(&a, &b, T_START + 8000 * T_MS);
		assert_int_equal(hb->done_calls, 1);
		same_state(&a, ha, &b, hb);
		h_free(ha);
		h_free(hb);
		world_free(&a);
		world_free(&b);
	}
}

/* portmap's mapping side, its PCP client retransmitting to a gateway that
 * never answers: the client comes back inline (its ops portmap's, its
 * argument the try), retransmits the same and gives up the same, and the
 * try fails with its reason. */
static void test_portmap_mapping(void **state)
{
	struct world a, b;
	struct holder *ha, *hb;
	json_t *j;

	(void)state;
	world_init(&a, 0);
	ha = h_start(&a, "portmap", TRAV_INITIATOR, &t_pcp, &t_sym);
	sched_run_until(a.s, T_START + 300 * T_MS);
	j = round_trip(&a, ha, &b, &hb);
	assert_false(json_is_null(json_object_get(
	    json_object_get(
		json_object_get(json_object_get(json_object_get(ckround_parts(j), "holder"), "t"),
				"priv"),
		"user"),
	    "pc")));
	json_decref(j);
	run_both(&a, &b, T_START + 8000 * T_MS);
	assert_int_equal(ha->done_calls, 1);
	assert_int_equal(hb->done_calls, 1);
	assert_string_equal(ha->t.reason, hb->t.reason);
	assert_string_equal(hb->t.reason, "no PCP or NAT-PMP answer from the gateway");
	same_state(&a, ha, &b, hb);
	h_free(ha);
	h_free(hb);
	world_free(&a);
	world_free(&b);
}

/* relay with no allocation: its reason waits in a timer of the engine
 * (mc_fail_at), saved before it runs. */
static void test_relay_fail_at(void **state)
{
	struct world a, b;
	struct holder *ha, *hb;
	json_t *j;
	char *text;

	(void)state;
	world_init(&a, 0);
	{
		struct holder *h = calloc(1, sizeof(*h));
		struct dg_ep any = {0, 0}, local;

		h->main_sock = dg_open(&a.dg, &any, &local, h_main_rx, h);
		sched_run_until(a.s, T_START);
		h->t = (struct trav_try){.dg = &a.dg,
					 .m = &method_relay,
					 .role = TRAV_INITIATOR,
					 .id = T_TRY_ID,
					 .sock = h->main_sock,
					 .start = T_START,
					 .deadline = T_START + method_relay.spec.budget_ns,
					 .done = h_done,
					 .done_arg = h};
		h->t.self.relay = t_ep("198.51.100.40", 49152);
		h->t.peer.srflx = t_ep("203.0.113.2", 50002);
		assert_int_equal(method_relay.start(&h->t), 0);
		ha = h;
	}
	j = round_trip(&a, ha, &b, &hb);
	text = json_dumps(j, JSON_COMPACT);
	assert_non_null(strstr(text, "{\"text\":\"relay allocation lost\"}"));
	free(text);
	json_decref(j);
	run_both(&a, &b, T_START + 10 * T_MS);
	assert_string_equal(hb->t.reason, "relay allocation lost");
	same_state(&a, ha, &b, hb);
	h_free(ha);
	h_free(hb);
	world_free(&a);
	world_free(&b);
}

/* A reason in its owner's buffer (the agent's cancel) is a reference to
 * that buffer, not a copy. */
static void test_reason_ref(void **state)
{
	struct world a, b;
	struct holder *ha, *hb;

	(void)state;
	world_init(&a, 0);
	ha = h_start(&a, "punch", TRAV_INITIATOR, &t_eim, &t_eim);
	sched_run_until(a.s, T_START + 150 * T_MS);
	snprintf(ha->reason, sizeof(ha->reason), "peer refused: busy");
	trav_done(&ha->t, false, ha->reason);
	json_decref(round_trip(&a, ha, &b, &hb));
	assert_ptr_equal(hb->t.reason, hb->reason);
	assert_string_equal(hb->t.reason, "peer refused: busy");
	run_both(&a, &b, T_START + 6000 * T_MS);
	same_state(&a, ha, &b, hb);
	h_free(ha);
	h_free(hb);
	world_free(&a);
	world_free(&b);
}

/* The writer refuses a method timer in no table; the reader a broken
 * field (a pair on a socket the engine does not have) and an unknown
 * literal reason. */
static void test_refusals(void **state)
{
	struct world a, b;
	struct holder *ha, *hb = NULL;
	char err[256] = "";
	json_t *j, *pair, *t;

	(void)state;
	world_init(&a, 0);
	ha = h_start(&a, "punch", TRAV_INITIATOR, &t_eim, &t_eim);
	sched_run_until(a.s, T_START + 150 * T_MS);
	j = save_all(&a, ha, err, sizeof(err));
	assert_non_null(j);

	t = json_object_get(json_object_get(ckround_parts(j), "holder"), "t");
	pair = json_array_get(json_object_get(json_object_get(t, "priv"), "pairs"), 0);
	json_object_set_new(pair, "si", json_integer(7));
	assert_int_equal(load_all(&b, &hb, j, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mc.pairs[]: si"));
	free(hb->t.priv); /* never run: its parts point nowhere */
	free(hb);
	world_free(&b);

	json_object_set_new(pair, "si", json_integer(0));
	json_object_set_new(t, "reason", json_pack("{s:s}", "text", "made up"));
	assert_int_equal(load_all(&b, &hb, j, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "trav_try: reason: not a known reason"));
	free(hb);
	world_free(&b);
	json_decref(j);

	/* a method off the engine: its state is nothing the writer knows */
	{
		static const struct method foreign = {.spec = {.name = "foreign"}};
		struct trav_try ft = {.m = &foreign, .priv = &ft};
		struct ckw *ck = ckw_new(t_tables, T_NTABLES);

		json_decref(trav_try_ckpt_save(&ft, ck));
		assert_int_equal(ckw_finish(ck, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "foreign keeps a state no checkpoint knows"));
		ckw_free(ck);
	}

	assert_int_equal(mc_at(&ha->t, T_START + 500 * T_MS, t_unlisted), 0);
	assert_null(save_all(&a, ha, err, sizeof(err)));
	assert_non_null(strstr(err, "in no module's table"));
	h_free(ha);
	world_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_punch_round_trip),
	    cmocka_unit_test(test_punch_timeout),
	    cmocka_unit_test(test_birthday_easy),
	    cmocka_unit_test(test_birthday_hard),
	    cmocka_unit_test(test_predict_measure),
	    cmocka_unit_test(test_predict_punch),
	    cmocka_unit_test(test_predict_sweep_portmap),
	    cmocka_unit_test(test_portmap_mapping),
	    cmocka_unit_test(test_relay_fail_at),
	    cmocka_unit_test(test_reason_ref),
	    cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
