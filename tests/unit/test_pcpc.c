/* Unit tests for agents/pcpc.c in virtual time, against the emulator's own
 * server (emulator/pcp.c over a NAT engine): PCP MAP granted and renewed at
 * half its lifetime, a new epoch (a NAT reboot) noticed and the mapping
 * made again, NAT-PMP when the gateway only speaks it, a gateway that never
 * answers, an error named; the natbed sim checkpoint of a client waiting
 * to renew, and of one whose gateway's answer is on its way. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckround.h"
#include "nat.h"
#include "natbed/ckpt.h"
#include "natbed/clock.h"
#include "natbed/sched.h"
#include "pcp.h"
#include "pcpc.h"

#define S NATBED_NS_PER_S

struct fx {
	struct clock_virtual vc;
	struct sched *s;
	struct dgram dg;
	struct nat *n;
	struct clock_virtual nvc; /* the NAT's own clock and scheduler, or none */
	struct sched *ns;
	struct pcp_counters pc;
	dg_recv_fn fn;
	void *arg;
	int natpmp_only, silent;
	uint8_t ans[PCP_MSG_MAX];
	size_t ans_len;
	int granted;
	uint16_t port;
	uint32_t life, ext_addr;
	char by[16], failed[96];
	char log[2048]; /* "ms:len" per request, "G:port:life" per grant, "F" */
};

static void fx_log(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fx_log(struct fx *f, const char *fmt, ...)
{
	size_t n = strlen(f->log);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->log + n, sizeof(f->log) - n, fmt, ap);
	va_end(ap);
}

static uint32_t a4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

static int f_open(void *io, const struct dg_ep *b, struct dg_ep *local, dg_recv_fn fn, void *arg)
{
	struct fx *f = io;

	f->fn = fn;
	f->arg = arg;
	local->addr = a4("192.168.1.10");
	local->port = htons(45000);
	return 0;
}

static void f_deliver(void *arg, natbed_time_t now)
{
	struct fx *f = arg;
	struct dg_ep gw = {a4("192.168.1.1"), htons(PCP_PORT)};

	f->fn(f->arg, 0, &gw, f->ans, f->ans_len, now);
}

static int f_send(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len)
{
	struct fx *f = io;
	const uint8_t *b = buf;

	fx_log(f, "%lld:%zu ", (long long)(sched_now(f->s) / NATBED_NS_PER_MS), len);
	if (f->silent)
		return 0;
	if (f->natpmp_only && b[0] != 0) { /* RFC 6886 §3.5: version 1 "unsupported" */
		memset(f->ans, 0, 8);
		f->ans[1] = (uint8_t)(128 + b[1]);
		f->ans[3] = 1;
		f->ans_len = 8;
	} else {
		if (f->ns) /* the NAT's own scheduler catches up */
			sched_run_until(f->ns, sched_now(f->s));
		f->ans_len = pcp_answer(f->n, &f->pc, buf, len, a4("192.168.1.10"), sched_now(f->s),
					f->ans, sizeof(f->ans));
	}
	if (f->ans_len)
		sched_after(f->s, 5 * NATBED_NS_PER_MS, f_deliver, f);
	return 0;
}

static void f_close(void *io, int sock)
{
}

static const struct dgram_ops f_ops = {f_open, f_send, f_close, NULL};

static void c_granted(void *arg, const struct dg_ep *ext, uint32_t life, const char *by)
{
	struct fx *f = arg;

	f->granted++;
	f->port = ntohs(ext->port);
	f->ext_addr = ext->addr;
	f->life = life;
	snprintf(f->by, sizeof(f->by), "%s", by);
	fx_log(f, "G:%u:%u ", f->port, life);
}

static void c_failed(void *arg, const char *reason)
{
	snprintf(((struct fx *)arg)->failed, 96, "%s", reason);
	fx_log(arg, "F ");
}

static const struct pcpc_ops c_ops = {c_granted, c_failed};

/* A gateway with a NAT of pool ports (0: all), on the client's scheduler
 * or (apart) on one of its own, run to the client's time before each
 * answer: its events then stay out of the client's queue. */
static struct fx *fx_make(uint32_t pool, bool apart)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct nat_cfg c = {0};

	snprintf(c.name, sizeof(c.name), "home");
	c.b = (struct topo_nat_behaviour){.mapping = TOPO_MAP_APDM,
					  .filtering = TOPO_MAP_APDM,
					  .ports = TOPO_PORTS_RANDOM,
					  .port_lo = 1024,
					  .port_hi = 65535,
					  .timeout_ns = 120 * S,
					  .stride = 1,
					  .pool = pool,
					  .pcp = true};
	c.tcp_established_ns = 7440 * S;
	c.tcp_transitory_ns = 240 * S;
	c.icmp_timeout_ns = 60 * S;
	c.publics[0] = a4("203.0.113.1");
	c.n_public = 1;
	c.inside_net = a4("192.168.1.0");
	c.inside_mask = htonl(0xffffff00u);
	f->s = sched_new(clock_virtual_clock(&f->vc), &f->vc);
	if (apart)
		f->ns = sched_new(clock_virtual_clock(&f->nvc), &f->nvc);
	f->n = nat_new(&c, apart ? f->ns : f->s);
	f->dg = (struct dgram){&f_ops, f, f->s, 3};
	return f;
}

static struct fx *fx_new(uint32_t pool)
{
	return fx_make(pool, false);
}

static struct pcpc *ask(struct fx *f, uint16_t port, uint32_t life)
{
	struct pcpc_cfg cfg = {.gateway = {a4("192.168.1.1"), htons(PCP_PORT)},
			       .client = a4("192.168.1.10"),
			       .proto = 17,
			       .int_port = htons(port),
			       .lifetime_s = life};
	struct pcpc *c = pcpc_new(&f->dg, &cfg, &c_ops, f);

	assert_non_null(c);
	return c;
}

static void fx_free(struct fx *f)
{
	nat_free(f->n);
	sched_free(f->ns);
	sched_free(f->s);
	free(f);
}

static void test_map_renew_reboot(void **state)
{
	struct fx *f = fx_new(0);
	struct pcpc *c = ask(f, 5000, 100);

	sched_run_until(f->s, 1 * S);
	assert_int_equal(f->granted, 1);
	assert_string_equal(f->by, "pcp");
	assert_int_equal(f->port, 5000); /* the internal port, suggested and free */
	assert_int_equal(f->life, 100);
	sched_run_until(f->s, 51 * S); /* renewed at half the lifetime */
	assert_int_equal(f->granted, 2);
	assert_int_equal(nat_counters(f->n)->mappings_active, 1);
	/* a reboot: the next renewal sees the epoch go back and maps again */
	nat_flush(f->n);
	assert_int_equal(nat_counters(f->n)->mappings_active, 0);
	sched_run_until(f->s, 102 * S);
	assert_int_equal(nat_counters(f->n)->mappings_active, 1);
	assert_true(f->granted >= 3);
	pcpc_free(c); /* deletes it */
	assert_int_equal(nat_counters(f->n)->mappings_active, 0);
	fx_free(f);
}

static void test_natpmp_fallback(void **state)
{
	struct fx *f = fx_new(0);
	struct pcpc *c;

	f->natpmp_only = 1;
	c = ask(f, 6000, 60);
	sched_run_until(f->s, 1 * S);
	assert_int_equal(f->granted, 1);
	assert_string_equal(f->by, "nat-pmp");
	assert_int_equal(f->port, 6000);
	pcpc_free(c);
	fx_free(f);
}

static void test_silent_and_refused(void **state)
{
	struct fx *f = fx_new(1);
	struct pcpc *c;

	f->silent = 1;
	c = ask(f, 6000, 60);
	sched_run_until(f->s, 10 * S); /* 3 PCP sends, 3 NAT-PMP sends */
	assert_string_equal(f->failed, "no PCP or NAT-PMP answer from 192.168.1.1:5351");
	pcpc_free(c);
	f->silent = 0;
	f->failed[0] = '\0';
	c = ask(f, 6000, 60);
	sched_run_until(f->s, 11 * S);
	pcpc_free(c); /* the pool's one port, given back */
	c = ask(f, 6001, 60);
	{
		struct pcpc *d = ask(f, 6002, 60);

		sched_run_until(f->s, 12 * S);
		assert_string_equal(f->failed, "PCP NO_RESOURCES");
		pcpc_free(d);
	}
	pcpc_free(c);
	fx_free(f);
}

/* A suggested outside port, other than the internal one, is kept when
 * free (RFC 6887 §11.3, RFC 6886 §3.3); released, the mapping stays
 * until its lifetime ends and is not renewed. */
static void test_suggested_release(void **state)
{
	struct fx *f = fx_new(0);
	struct pcpc_cfg cfg = {.gateway = {a4("192.168.1.1"), htons(PCP_PORT)},
			       .client = a4("192.168.1.10"),
			       .proto = 17,
			       .int_port = htons(7000),
			       .ext_port = htons(23456),
			       .lifetime_s = 20};
	struct pcpc *c = pcpc_new(&f->dg, &cfg, &c_ops, f);

	assert_non_null(c);
	sched_run_until(f->s, 1 * S);
	assert_int_equal(f->granted, 1);
	assert_int_equal(f->port, 23456);
	pcpc_release(c);
	assert_int_equal(nat_counters(f->n)->mappings_active, 1);
	sched_run_until(f->s, 15 * S); /* no renewal at 10 s */
	assert_int_equal(f->granted, 1);
	assert_int_equal(nat_counters(f->n)->mappings_active, 1);
	sched_run_until(f->s, 25 * S); /* gone at its lifetime */
	assert_int_equal(nat_counters(f->n)->mappings_active, 0);
	/* NAT-PMP carries the suggestion too */
	f->natpmp_only = 1;
	cfg.ext_port = htons(23457);
	c = pcpc_new(&f->dg, &cfg, &c_ops, f);
	sched_run_until(f->s, 26 * S);
	assert_int_equal(f->granted, 2);
	assert_string_equal(f->by, "nat-pmp");
	assert_int_equal(f->port, 23457);
	pcpc_free(c);
	assert_int_equal(nat_counters(f->n)->mappings_active, 0);
	fx_free(f);
}

/* announce: whether the gateway answers, PCP first, NAT-PMP after; no
 * mapping made; silence named. */
static void test_announce(void **state)
{
	struct fx *f = fx_new(0);
	struct pcpc_cfg cfg = {.gateway = {a4("192.168.1.1"), htons(PCP_PORT)},
			       .client = a4("192.168.1.10"),
			       .announce = 1};
	struct pcpc *c = pcpc_new(&f->dg, &cfg, &c_ops, f);

	sched_run_until(f->s, 1 * S);
	assert_int_equal(f->granted, 1);
	assert_string_equal(f->by, "pcp");
	assert_int_equal(f->life, 0);
	assert_int_equal(f->pc.pcp[PCP_SUCCESS], 1); /* one ANNOUNCE answered */
	pcpc_free(c);
	assert_int_equal(f->pc.requests, 1); /* nothing to delete */
	assert_int_equal(nat_counters(f->n)->mappings_active, 0);
	f->natpmp_only = 1;
	c = pcpc_new(&f->dg, &cfg, &c_ops, f);
	sched_run_until(f->s, 2 * S);
	assert_int_equal(f->granted, 2);
	assert_string_equal(f->by, "nat-pmp");
	assert_int_equal(f->ext_addr, a4("203.0.113.1"));
	pcpc_free(c);
	f->silent = 1;
	c = pcpc_new(&f->dg, &cfg, &c_ops, f);
	sched_run_until(f->s, 12 * S);
	assert_int_equal(f->granted, 2);
	assert_string_equal(f->failed, "no PCP or NAT-PMP answer from 192.168.1.1:5351");
	pcpc_free(c);
	fx_free(f);
}

/* --- natbed sim checkpoints ------------------------------------------- */

static const struct ckfn t_fns[] = {CKFN(f_deliver)};
static const struct ckvar t_vars[] = {CKVAR(c_ops)};
static const struct ckfns t_table = CKFNS_VARS(t, t_fns, t_vars);
static const struct ckfns *const tables[] = {&pcpc_ckfns, &t_table};

/* The world (the queue, the dgram, the socket's receiver, an answer on
 * its way, the gateway's modes) and the client. The NAT, on a scheduler
 * of its own, is not written: a fresh one made at time 0 answers the
 * client as the first does (PCP MAP and its renewal make the same
 * mapping, with the same epoch). */
struct ck {
	struct fx *f;
	struct pcpc **c;
};

static json_t *ck_parts_save(struct ckw *w, void *arg)
{
	const struct ck *k = arg;
	const struct fx *f = k->f;

	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:i,s:i,s:i,s:o}", "dg", ckw_obj(w, &f->dg), "fx",
			 ckw_obj(w, f), "fn", ckw_fn(w, (ckfn_ptr)f->fn), "arg", ckw_ref(w, f->arg),
			 "ans", ckw_bytes(w, f->ans, f->ans_len), "natpmp_only", f->natpmp_only,
			 "silent", f->silent, "granted", f->granted, "pcpc",
			 pcpc_ckpt_save(*k->c, w));
}

static int ck_parts_load(struct ckr *r, const json_t *j, void *arg)
{
	const struct ck *k = arg;
	struct fx *f = k->f;
	const json_t *ans = json_object_get(j, "ans");
	ckfn_ptr fn = NULL;

	f->natpmp_only = (int)json_integer_value(json_object_get(j, "natpmp_only"));
	f->silent = (int)json_integer_value(json_object_get(j, "silent"));
	f->granted = (int)json_integer_value(json_object_get(j, "granted"));
	f->ans_len = json_string_length(ans) / 2;
	ckr_bytes(r, ans, f->ans, f->ans_len);
	ckr_obj(r, json_object_get(j, "dg"), &f->dg);
	ckr_obj(r, json_object_get(j, "fx"), f);
	ckr_fn(r, json_object_get(j, "fn"), &fn);
	f->fn = (dg_recv_fn)fn;
	ckr_ref(r, json_object_get(j, "arg"), &f->arg);
	*k->c = pcpc_ckpt_load(json_object_get(j, "pcpc"), r);
	return *k->c ? 0 : -1;
}

static json_t *ck_save(struct fx *f, struct pcpc *c, char *err, size_t errlen)
{
	struct ck k = {f, &c};

	return ckround_save(f->s, tables, 2, ck_parts_save, &k, err, errlen);
}

static int ck_load(struct fx *f, struct pcpc **c, const json_t *j, char *err, size_t errlen)
{
	struct ck k = {f, c};

	sched_run_until(f->s, ckround_at(j));
	return ckround_load(j, &f->s, tables, 2, ck_parts_load, &k, err, errlen);
}

/* A client written at `at`, read into a fresh world, written again the
 * same; both run on to `end` with the same requests, grants and
 * failures at the same times. */
static void ck_round(struct fx *a, struct pcpc *ca, natbed_time_t at, natbed_time_t end)
{
	struct fx *b = fx_make(0, true);
	struct pcpc *cb;
	char err[256], *text, cont[2048];
	json_t *j, *again;
	size_t mark;

	sched_run_until(a->s, at);
	j = ck_save(a, ca, err, sizeof(err));
	if (!j)
		fail_msg("save: %s", err);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	mark = strlen(a->log);
	sched_run_until(a->s, end);
	snprintf(cont, sizeof(cont), "%s", a->log + mark);

	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	if (ck_load(b, &cb, j, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	assert_ptr_equal(b->arg, cb);
	again = ck_save(b, cb, err, sizeof(err));
	if (!again)
		fail_msg("save again: %s", err);
	assert_true(json_equal(j, again));
	json_decref(again);
	json_decref(j);
	sched_run_until(b->s, end);
	assert_string_equal(b->log, cont);
	assert_int_equal(b->granted, a->granted);
	assert_string_equal(b->failed, a->failed);
	free(text);
	pcpc_free(cb);
	fx_free(b);
}

/* Granted for 100 s, written at 30 s (the renewal due at 50 s); then
 * NAT-PMP only, written at 2 ms with PCP's UNSUPP_VERSION on its way. */
static void test_checkpoint(void **state)
{
	struct fx *f = fx_make(0, true);
	struct pcpc *c = ask(f, 5000, 100);

	(void)state;
	ck_round(f, c, 30 * S, 160 * S);
	assert_int_equal(f->granted, 4); /* at once, then at 50, 100, 150 s */
	pcpc_free(c);
	fx_free(f);

	f = fx_make(0, true);
	f->natpmp_only = 1;
	c = ask(f, 6000, 60);
	ck_round(f, c, 2 * NATBED_NS_PER_MS, 100 * S);
	assert_string_equal(f->by, "nat-pmp");
	assert_int_equal(f->granted, 4); /* at once, then at 30, 60, 90 s */
	pcpc_free(c);
	fx_free(f);
}

/* The writer refuses ops that are no static object of a table (here a
 * copy on the stack); the reader a protocol it does not know. */
static void test_checkpoint_refused(void **state)
{
	struct fx *f = fx_make(0, true), *b;
	struct pcpc_ops stack_ops = c_ops;
	struct pcpc_cfg cfg = {.gateway = {a4("192.168.1.1"), htons(PCP_PORT)},
			       .client = a4("192.168.1.10"),
			       .proto = 17,
			       .int_port = htons(5000)};
	struct pcpc *c = pcpc_new(&f->dg, &cfg, &stack_ops, f), *cb;
	char err[256], *text, *at, edited[8192];
	json_t *j;

	(void)state;
	assert_non_null(c);
	sched_run_until(f->s, 1 * S);
	assert_null(ck_save(f, c, err, sizeof(err)));
	assert_non_null(strstr(err, "written by no module"));
	pcpc_release(c);
	c = ask(f, 5000, 100);
	sched_run_until(f->s, 2 * S);
	j = ck_save(f, c, err, sizeof(err));
	if (!j)
		fail_msg("save: %s", err);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	at = strstr(text, "\"proto\":\"pcp\"");
	assert_non_null(at);
	snprintf(edited, sizeof(edited), "%.*s\"proto\":\"upnp\"%s", (int)(at - text), text,
		 at + strlen("\"proto\":\"pcp\""));
	j = json_loads(edited, 0, NULL);
	assert_non_null(j);
	b = fx_make(0, true);
	assert_int_equal(ck_load(b, &cb, j, err, sizeof(err)), -1);
	assert_string_equal(err, "pcpc: proto: not \"pcp\" or \"nat-pmp\"");
	assert_null(cb);
	json_decref(j);
	free(text);
	pcpc_free(c);
	fx_free(b);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_map_renew_reboot),   cmocka_unit_test(test_natpmp_fallback),
	    cmocka_unit_test(test_silent_and_refused), cmocka_unit_test(test_suggested_release),
	    cmocka_unit_test(test_announce),	       cmocka_unit_test(test_checkpoint),
	    cmocka_unit_test(test_checkpoint_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
