/* emulator/flowtab: packet numbers per flow, keyed by the exact 5-tuple. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "flowtab.h"

static struct flow_tuple t_udp(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
	struct flow_tuple k = {.src = htonl(src),
			       .dst = htonl(dst),
			       .sport = htons(sport),
			       .dport = htons(dport),
			       .proto = 17};
	return k;
}

/* Issue 9: the numbers were kept in 65536 buckets indexed by the low 16
 * bits of the flow's hash, so two flows whose hashes agree there shared
 * one counter. Find such a pair; each now counts from 0 on its own. */
static void test_colliding_flows_independent(void **state)
{
	struct flowtab *t = flowtab_new(0);
	struct flow_tuple a = t_udp(0xc0a80102, 40000, 0xc6336401, 3478), b = a;
	uint64_t ha = flow_tuple_hash(&a) & 0xffff;
	uint32_t sport;

	(void)state;
	assert_non_null(t);
	for (sport = 1; sport < 65536; sport++) {
		b = t_udp(0xc0a80102, (uint16_t)sport, 0xc6336401, 3478);
		if (sport != 40000 && (flow_tuple_hash(&b) & 0xffff) == ha)
			break;
	}
	if (sport == 65536) /* no source port collides: try other sources */
		for (sport = 1; sport < 65536; sport++) {
			b = t_udp(0xc0a80103 + sport, 40000, 0xc6336401, 3478);
			if ((flow_tuple_hash(&b) & 0xffff) == ha)
				break;
		}
	assert_true(sport < 65536);
	assert_int_equal(flow_tuple_hash(&b) & 0xffff, ha); /* the old scheme's one bucket */
	assert_int_equal(flowtab_next(t, &a), 0);
	assert_int_equal(flowtab_next(t, &a), 1);
	assert_int_equal(flowtab_next(t, &a), 2);
	assert_int_equal(flowtab_next(t, &b), 0); /* not 3 */
	assert_int_equal(flowtab_next(t, &a), 3);
	assert_int_equal(flowtab_next(t, &b), 1);
	flowtab_free(t);
}

/* Every field of the tuple tells flows apart. */
static void test_every_field_counts(void **state)
{
	struct flowtab *t = flowtab_new(16);
	struct flow_tuple k[6];
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++)
		k[i] = t_udp(0x0a000001, 1000, 0x0a000002, 2000);
	k[1].src++;
	k[2].dst++;
	k[3].sport++;
	k[4].dport++;
	k[5].proto = 6;
	for (i = 0; i < 6; i++)
		assert_int_equal(flowtab_next(t, &k[i]), 0);
	for (i = 0; i < 6; i++)
		assert_int_equal(flowtab_next(t, &k[i]), 1);
	flowtab_free(t);
}

/* Bounded: a full table forgets the flow seen least recently, and counts
 * it; a flow seen again recently keeps its numbers. */
static void test_full_recycles_least_recent(void **state)
{
	struct flowtab *t = flowtab_new(3);
	struct flow_tuple k[4];
	struct flowtab_stats st;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++)
		k[i] = t_udp(0x0a000001, (uint16_t)(1000 + i), 0x0a000002, 53);
	for (i = 0; i < 3; i++)
		assert_int_equal(flowtab_next(t, &k[i]), 0);
	assert_int_equal(flowtab_next(t, &k[0]), 1); /* k[1] is now the oldest */
	assert_int_equal(flowtab_next(t, &k[3]), 0); /* forgets k[1] */
	flowtab_get_stats(t, &st);
	assert_int_equal(st.flows, 3);
	assert_int_equal(st.recycled, 1);
	assert_int_equal(flowtab_next(t, &k[0]), 2);
	assert_int_equal(flowtab_next(t, &k[2]), 1);
	assert_int_equal(flowtab_next(t, &k[1]), 0); /* starts again; forgets k[3] */
	assert_int_equal(flowtab_next(t, &k[3]), 0); /* forgets k[0] */
	flowtab_get_stats(t, &st);
	assert_int_equal(st.recycled, 3);
	assert_int_equal(flowtab_next(t, &k[2]), 2);
	flowtab_free(t);
	flowtab_free(NULL);
}

/* Many flows through a full table: every lookup still finds its own. */
static void test_churn(void **state)
{
	struct flowtab *t = flowtab_new(64);
	struct flow_tuple k;
	uint32_t i, round;

	(void)state;
	for (round = 0; round < 3; round++)
		for (i = 0; i < 64; i++) {
			k = t_udp(0x0a000001 + i, 5000, 0x0a000002, 53);
			assert_int_equal(flowtab_next(t, &k), round);
		}
	for (i = 64; i < 200; i++) {
		k = t_udp(0x0a000001 + i, 5000, 0x0a000002, 53);
		assert_int_equal(flowtab_next(t, &k), 0);
	}
	for (i = 200 - 64; i < 200; i++) {
		k = t_udp(0x0a000001 + i, 5000, 0x0a000002, 53);
		assert_int_equal(flowtab_next(t, &k), 1);
	}
	flowtab_free(t);
}

/* A reference of the same contract: an array in recency order, searched
 * from end to end. */
struct ref_flow {
	struct flow_tuple k;
	uint64_t next;
};

static uint64_t ref_next(struct ref_flow *r, size_t *n, size_t max, const struct flow_tuple *k)
{
	struct ref_flow f = {*k, 0};
	size_t i;

	for (i = 0; i < *n; i++)
		if (r[i].k.src == k->src && r[i].k.sport == k->sport && r[i].k.dst == k->dst &&
		    r[i].k.dport == k->dport && r[i].k.proto == k->proto)
			break;
	if (i < *n) {
		f = r[i];
	} else if (*n == max) {
		i = 0; /* the least recent, forgotten */
	} else {
		i = (*n)++;
		f.next = 0;
		goto place;
	}
	memmove(&r[i], &r[i + 1], (*n - i - 1) * sizeof(*r));
place:
	f.next++;
	r[*n - 1] = f;
	return f.next - 1;
}

/* Random flows from a small universe through a small table, whose index
 * then fills its runs and frees slots in their middle (the backward
 * shift): every number is the reference's, and the recency order too. */
static void test_against_reference(void **state)
{
	enum { MAX = 13, UNIVERSE = 40, STEPS = 20000 };
	struct flowtab *t = flowtab_new(MAX);
	struct ref_flow ref[MAX];
	size_t n = 0, i;
	uint64_t x = 0x243f6a8885a308d3ull;

	(void)state;
	assert_non_null(t);
	for (i = 0; i < STEPS; i++) {
		struct flow_tuple k;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		k = t_udp(0x0a000001, (uint16_t)(1000 + x % UNIVERSE), 0x0a000002, 53);
		assert_int_equal(flowtab_next(t, &k), ref_next(ref, &n, MAX, &k));
	}
	{
		struct flowtab_stats st;

		flowtab_get_stats(t, &st);
		assert_int_equal(st.flows, n);
		assert_true(st.recycled > STEPS / 4);
	}
	for (i = 0; i < n; i++) /* the least recent first: each one's next number */
		assert_int_equal(flowtab_next(t, &ref[i].k), ref[i].next);
	flowtab_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_colliding_flows_independent),
	    cmocka_unit_test(test_every_field_counts),
	    cmocka_unit_test(test_full_recycles_least_recent),
	    cmocka_unit_test(test_churn),
	    cmocka_unit_test(test_against_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
