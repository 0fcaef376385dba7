/* Unit tests for agents/pcpc.c in virtual time, against the emulator's own
 * server (emulator/pcp.c over a NAT engine): PCP MAP granted and renewed at
 * half its lifetime, a new epoch (a NAT reboot) noticed and the mapping
 * made again, NAT-PMP when the gateway only speaks it, a gateway that never
 * answers, an error named. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nat.h"
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
};

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

	if (f->silent)
		return 0;
	if (f->natpmp_only && b[0] != 0) { /* RFC 6886 §3.5: version 1 "unsupported" */
		memset(f->ans, 0, 8);
		f->ans[1] = (uint8_t)(128 + b[1]);
		f->ans[3] = 1;
		f->ans_len = 8;
	} else {
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
}

static void c_failed(void *arg, const char *reason)
{
	snprintf(((struct fx *)arg)->failed, 96, "%s", reason);
}

static const struct pcpc_ops c_ops = {c_granted, c_failed};

static struct fx *fx_new(uint32_t pool)
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
	f->n = nat_new(&c, f->s);
	f->dg = (struct dgram){&f_ops, f, f->s, 3};
	return f;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_map_renew_reboot),   cmocka_unit_test(test_natpmp_fallback),
	    cmocka_unit_test(test_silent_and_refused), cmocka_unit_test(test_suggested_release),
	    cmocka_unit_test(test_announce),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
