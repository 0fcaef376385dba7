/* emulator/flowtab_ctl: the flow numbers in a checkpoint. Restored into
 * a fresh table, flows go on with the numbers they would have had, and
 * the least recently seen is still the one forgotten first; a checkpoint
 * with a bad flow is refused and changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "flowtab_ctl.h"

static struct flow_tuple k_of(unsigned i)
{
	struct flow_tuple k = {.src = htonl(0xc0a80100 + i % 7),
			       .dst = htonl(0xc6336401),
			       .sport = htons((uint16_t)(40000 + i)),
			       .dport = htons(9),
			       .proto = (uint8_t)(i % 3 ? 17 : 6)};
	return k;
}

static json_t *through_text(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_t *back = json_loads(s, 0, NULL);

	assert_non_null(back);
	free(s);
	json_decref(j);
	return back;
}

/* The table an uninterrupted run has and the restored one number every
 * further packet alike, recycling included. */
static void test_round_trip(void **state)
{
	struct flowtab *a = flowtab_new(8), *b = flowtab_new(8), *fresh;
	struct flowtab_stats sa, sb;
	struct flow_tuple k99;
	char err[128];
	unsigned i;
	json_t *ck, *again;

	(void)state;
	for (i = 0; i < 300; i++) { /* 12 flows in 8 places: some forgotten */
		struct flow_tuple k = k_of(i * i % 12);

		flowtab_next(a, &k);
	}
	k99 = k_of(99);
	flowtab_next(b, &k99); /* the target had a flow of its own */
	ck = through_text(flowtab_checkpoint(a));
	fresh = flowtab_restore_prepare(b, ck, err, sizeof(err));
	if (!fresh)
		fail_msg("flowtab_restore_prepare: %s", err);
	flowtab_adopt(b, fresh);
	again = flowtab_checkpoint(b);
	assert_true(json_equal(ck, again));
	json_decref(again);
	for (i = 0; i < 500; i++) {
		struct flow_tuple k = k_of((i * 7 + 3) % 15);

		assert_int_equal(flowtab_next(a, &k), flowtab_next(b, &k));
	}
	flowtab_get_stats(a, &sa);
	flowtab_get_stats(b, &sb);
	assert_int_equal(sa.recycled, sb.recycled);
	assert_true(sa.recycled > 0);
	assert_int_equal(sa.flows, sb.flows);
	json_decref(ck);
	flowtab_free(a);
	flowtab_free(b);
}

static void refused(const struct flowtab *t, const json_t *bad, const char *want)
{
	char err[128] = "";
	json_t *before = flowtab_checkpoint(t), *after;

	assert_null(flowtab_restore_prepare(t, bad, err, sizeof(err)));
	if (!strstr(err, want))
		fail_msg("error '%s' does not name '%s'", err, want);
	after = flowtab_checkpoint(t);
	assert_true(json_equal(before, after));
	json_decref(before);
	json_decref(after);
}

static void test_refusals(void **state)
{
	struct flowtab *a = flowtab_new(8), *small = flowtab_new(2);
	json_t *ck, *bad, *flows;
	unsigned i;

	(void)state;
	for (i = 0; i < 5; i++) {
		struct flow_tuple k = k_of(i);

		flowtab_next(a, &k);
		if (i == 1)
			flowtab_next(small, &k);
	}
	ck = flowtab_checkpoint(a);
	flows = json_object_get(ck, "flows");
	refused(small, ck, "more than the 2");
	refused(a, json_null(), "not a flow table");
#define BAD(idx, field, value)                                                                     \
	do {                                                                                       \
		bad = json_deep_copy(ck);                                                          \
		json_array_set_new(json_array_get(json_object_get(bad, "flows"), idx), field,      \
				   value);                                                         \
		refused(a, bad, "flows[" #idx "]");                                                \
		json_decref(bad);                                                                  \
	} while (0)
	BAD(3, 1, json_string("192.168.1.300"));
	BAD(2, 0, json_integer(256));
	BAD(4, 4, json_integer(65536));
	BAD(1, 5, json_integer(0));
	BAD(0, 2, json_string("9"));
	/* a flow listed twice */
	bad = json_deep_copy(ck);
	json_array_append(json_object_get(bad, "flows"), json_array_get(flows, 2));
	refused(a, bad, "flows[5]");
	json_decref(bad);
	json_decref(ck);
	flowtab_free(a);
	flowtab_free(small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
