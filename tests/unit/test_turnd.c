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

#include "fakenet.h"
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

static struct turnd *server(struct fakenet *net, uint32_t max_allocs)
{
	struct turnd_cfg cfg = {.listen = fakenet_ep(T_SERVER, 3478),
				.user = "u",
				.pass = "pw",
				.lifetime_max_s = 60,
				.max_allocs = max_allocs};
	struct turnd *d = turnd_new(fakenet_host(net, T_SERVER), &cfg);

	assert_non_null(d);
	return d;
}

static void client(struct fakenet *net, struct cl *c, const char *ip)
{
	struct turn_cfg cfg = {.server = fakenet_ep(T_SERVER, 3478), .user = "u", .pass = "pw"};

	c->t = turn_new(fakenet_host(net, ip), &cfg, &c_ops, c);
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
	struct fakenet *net = fakenet_new(5 * NATBED_NS_PER_MS, 3);
	struct turnd *d = server(net, 0);
	struct cl a = {0};
	bool gone = false;

	fakenet_set_filter(net, cut, &gone);
	client(net, &a, "192.0.2.1");
	fakenet_run_for(net, 1 * S);
	assert_int_equal(a.ready, 1);
	assert_int_equal(live(d), 1);
	gone = true; /* its Refresh 0 is lost: the client just goes */
	turn_free(a.t);
	fakenet_run_for(net, 50 * S);
	assert_int_equal(live(d), 1);
	fakenet_run_for(net, 15 * S);
	assert_int_equal(live(d), 0);
	turnd_free(d);
	fakenet_free(net);
}

/* Two allocations at most: the third client's Allocate gets 508; once one
 * of the first two ended (lifetime 0), a new one fits. */
static void test_capacity(void **state)
{
	struct fakenet *net = fakenet_new(5 * NATBED_NS_PER_MS, 3);
	struct turnd *d = server(net, 2);
	struct cl a = {0}, b = {0}, c = {0}, e = {0};

	client(net, &a, "192.0.2.1");
	client(net, &b, "192.0.2.2");
	fakenet_run_for(net, 1 * S);
	client(net, &c, "192.0.2.3");
	fakenet_run_for(net, 5 * S);
	assert_int_equal(a.ready + b.ready, 2);
	assert_int_equal(c.ready, 0);
	assert_non_null(strstr(c.failed, "508"));
	turn_free(a.t); /* Refresh with lifetime 0 */
	fakenet_run_for(net, 1 * S);
	assert_int_equal(live(d), 1);
	fakenet_run_for(net, 70 * S);
	assert_int_equal(live(d), 1); /* b refreshes */
	client(net, &e, "192.0.2.4");
	fakenet_run_for(net, 1 * S);
	assert_int_equal(e.ready, 1);
	assert_int_equal(live(d), 2);
	turn_free(b.t);
	turn_free(c.t);
	turn_free(e.t);
	turnd_free(d);
	fakenet_free(net);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_expires),
	    cmocka_unit_test(test_capacity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
