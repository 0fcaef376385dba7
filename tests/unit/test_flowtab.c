/* emulator/flowtab: packet numbers per flow, keyed by the exact 5-tuple. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_colliding_flows_independent),
	    cmocka_unit_test(test_every_field_counts),
	    cmocka_unit_test(test_full_recycles_least_recent),
	    cmocka_unit_test(test_churn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
