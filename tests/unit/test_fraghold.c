/* emulator/fraghold: fragments held ahead of their first (RFC 4787 REQ-14). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fraghold.h"

/* Packets are only pointers here: the area never reads them. */
static struct pkt t_pkts[FRAGHOLD_MAX + 2];

/* Each NAT gets back what it held, oldest first, with its direction;
 * another NAT's fragments stay. */
static void test_take_by_nat(void **state)
{
	struct fraghold *h = fraghold_new();
	struct fraghold_entry e[FRAGHOLD_MAX];

	(void)state;
	assert_non_null(h);
	assert_null(fraghold_put(h, &t_pkts[0], 1, true, 100));
	assert_null(fraghold_put(h, &t_pkts[1], 2, false, 200));
	assert_null(fraghold_put(h, &t_pkts[2], 1, false, 300));
	assert_int_equal(fraghold_count(h), 3);
	assert_int_equal(fraghold_take(h, 1, e, FRAGHOLD_MAX), 2);
	assert_ptr_equal(e[0].p, &t_pkts[0]);
	assert_true(e[0].out);
	assert_int_equal(e[0].expires, 100);
	assert_ptr_equal(e[1].p, &t_pkts[2]);
	assert_false(e[1].out);
	assert_int_equal(e[1].expires, 300); /* the time it was held with */
	assert_int_equal(fraghold_take(h, 1, e, FRAGHOLD_MAX), 0);
	assert_int_equal(fraghold_count(h), 1);
	assert_int_equal(fraghold_take(h, 2, e, 1), 1);
	assert_ptr_equal(e[0].p, &t_pkts[1]);
	assert_int_equal(fraghold_count(h), 0);
	fraghold_free(h);
	fraghold_free(NULL);
}

/* Bounded: the fragment after FRAGHOLD_MAX pushes the oldest out. */
static void test_full_pushes_oldest(void **state)
{
	struct fraghold *h = fraghold_new();
	struct fraghold_entry e[FRAGHOLD_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < FRAGHOLD_MAX; i++)
		assert_null(fraghold_put(h, &t_pkts[i], 0, true, 100));
	assert_ptr_equal(fraghold_put(h, &t_pkts[FRAGHOLD_MAX], 0, true, 100), &t_pkts[0]);
	assert_ptr_equal(fraghold_put(h, &t_pkts[FRAGHOLD_MAX + 1], 0, true, 100), &t_pkts[1]);
	assert_int_equal(fraghold_count(h), FRAGHOLD_MAX);
	assert_int_equal(fraghold_take(h, 0, e, FRAGHOLD_MAX), FRAGHOLD_MAX);
	assert_ptr_equal(e[0].p, &t_pkts[2]);
	assert_ptr_equal(e[FRAGHOLD_MAX - 1].p, &t_pkts[FRAGHOLD_MAX + 1]);
	fraghold_free(h);
}

/* Expiry: only what is due comes out, and the next expiry is the earliest
 * of those left. */
static void test_expiry(void **state)
{
	struct fraghold *h = fraghold_new();
	int nat = -1;

	(void)state;
	assert_int_equal(fraghold_next_expiry(h), -1);
	assert_null(fraghold_expired(h, 1000, &nat));
	fraghold_put(h, &t_pkts[0], 3, true, 300);
	fraghold_put(h, &t_pkts[1], 4, false, 100);
	fraghold_put(h, &t_pkts[2], 5, false, 200);
	assert_int_equal(fraghold_next_expiry(h), 100);
	assert_null(fraghold_expired(h, 99, &nat));
	assert_ptr_equal(fraghold_expired(h, 200, &nat), &t_pkts[1]);
	assert_int_equal(nat, 4);
	assert_ptr_equal(fraghold_expired(h, 200, &nat), &t_pkts[2]);
	assert_int_equal(nat, 5);
	assert_null(fraghold_expired(h, 200, &nat));
	assert_int_equal(fraghold_next_expiry(h), 300);
	assert_int_equal(fraghold_count(h), 1);
	fraghold_free(h);
}

struct t_expired {
	struct pkt *p[4];
	int nat[4];
	natbed_time_t at[4];
	size_t n;
	struct sched *s;
};

static void t_on_expired(void *ctx, struct pkt *p, int nat)
{
	struct t_expired *x = ctx;

	x->p[x->n] = p;
	x->nat[x->n] = nat;
	x->at[x->n++] = sched_now(x->s);
}

/* With a scheduler the area gives up on time by itself: each fragment is
 * handed back at its expiry, not before; one taken back in time never is. */
static void test_sweep_on_time(void **state)
{
	struct clock_virtual vc = {0};
	struct sched *s = sched_new(clock_virtual_clock(&vc), &vc);
	struct fraghold *h = fraghold_new();
	struct fraghold_entry e[FRAGHOLD_MAX];
	struct t_expired x = {.s = s};

	(void)state;
	fraghold_on_expiry(h, s, t_on_expired, &x);
	assert_null(fraghold_put(h, &t_pkts[0], 1, true, 100));
	assert_null(fraghold_put(h, &t_pkts[1], 2, false, 300));
	assert_null(fraghold_put(h, &t_pkts[2], 3, false, 200));
	sched_run_until(s, 99);
	assert_int_equal(x.n, 0);
	sched_run_until(s, 150);
	assert_int_equal(x.n, 1);
	assert_ptr_equal(x.p[0], &t_pkts[0]);
	assert_int_equal(x.nat[0], 1);
	assert_int_equal(x.at[0], 100);
	assert_int_equal(fraghold_take(h, 3, e, FRAGHOLD_MAX), 1); /* its first came */
	sched_run_until(s, 1000);
	assert_int_equal(x.n, 2);
	assert_ptr_equal(x.p[1], &t_pkts[1]);
	assert_int_equal(x.at[1], 300);
	assert_int_equal(fraghold_count(h), 0);
	assert_int_equal(sched_pending(s), 0);
	assert_null(fraghold_put(h, &t_pkts[3], 0, true, 2000));
	fraghold_free(h); /* cancels its pending sweep */
	assert_int_equal(sched_pending(s), 0);
	sched_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_take_by_nat),
	    cmocka_unit_test(test_full_pushes_oldest),
	    cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_sweep_on_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
