/* Unit tests of lib/units.c: the strict unit parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#include "natbed/units.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MS	      NATBED_NS_PER_MS

static void test_duration(void **state)
{
	static const struct {
		const char *s;
		natbed_time_t ns;
	} good[] = {
	    {"10ms", 10 * MS},	{"2s", 2 * NATBED_NS_PER_S},
	    {"0.5ms", 500000},	{"500us", 500000},
	    {"0s", 0},		{"1.000000001s", 1000000001},
	    {"0.001us", 1},	{"120s", 120 * NATBED_NS_PER_S},
	    {"010ms", 10 * MS}, {"9223372036s", 9223372036 * NATBED_NS_PER_S},
	};
	static const char *const bad[] = {
	    "10",    "",	 "ms",	 "10 ms",	"-1ms",
	    "+1ms",  "1.ms",	 ".5ms", "10MS",	"1e3ms",
	    "10msx", "0.0001us", "1min", "9223372037s", "99999999999999999999s",
	    "10ns",  "1,5ms",
	};
	natbed_time_t v;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		if (units_parse_duration(good[i].s, &v) < 0)
			fail_msg("'%s' refused", good[i].s);
		assert_int_equal(v, good[i].ns);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		if (units_parse_duration(bad[i], &v) == 0)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(units_parse_duration(NULL, &v), -1);
}

static void test_percent(void **state)
{
	static const struct {
		const char *s;
		double f;
	} good[] = {
	    {"0%", 0}, {"1%", 0.01}, {"0.5%", 0.005}, {"100%", 1.0}, {"12.345678%", 0.12345678},
	};
	static const char *const bad[] = {
	    "1", "101%", "-1%", "1 %", "%", "100.1%", "50%%", "0.1234567%", "1e1%", "",
	};
	double v;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		if (units_parse_percent(good[i].s, &v) < 0)
			fail_msg("'%s' refused", good[i].s);
		assert_true(v > good[i].f - 1e-12 && v < good[i].f + 1e-12);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		if (units_parse_percent(bad[i], &v) == 0)
			fail_msg("'%s' accepted", bad[i]);
}

static void test_rate(void **state)
{
	static const struct {
		const char *s;
		uint64_t bps;
	} good[] = {
	    {"10mbit", 10000000}, {"1gbit", 1000000000}, {"64kbit", 64000},
	    {"1500bit", 1500},	  {"1.5mbit", 1500000},	 {"0bit", 0},
	};
	static const char *const bad[] = {
	    "10", "10mb", "10Mbit", "10mbps", "1.5bit", "kbit", "10 mbit", "10kbps", "-1mbit",
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		if (units_parse_rate(good[i].s, &v) < 0)
			fail_msg("'%s' refused", good[i].s);
		assert_int_equal(v, good[i].bps);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		if (units_parse_rate(bad[i], &v) == 0)
			fail_msg("'%s' accepted", bad[i]);
}

static void test_port_range(void **state)
{
	static const char *const bad[] = {"0-10",  "10-5", "1024",	 "1-65536", "a-b",
					  "1024-", "-5",   "1024-2000x", " 1-2",    "1 -2"};
	uint16_t lo, hi;
	size_t i;

	assert_int_equal(units_parse_port_range("1024-65535", &lo, &hi), 0);
	assert_int_equal(lo, 1024);
	assert_int_equal(hi, 65535);
	assert_int_equal(units_parse_port_range("5000-5000", &lo, &hi), 0);
	assert_int_equal(lo, 5000);
	assert_int_equal(hi, 5000);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		if (units_parse_port_range(bad[i], &lo, &hi) == 0)
			fail_msg("'%s' accepted", bad[i]);
}

static void test_count(void **state)
{
	static const char *const bad[] = {
	    "", "-1", "+1", " 1", "1 ", "1x", "0x10", "10001", "99999999999999999999"};
	int64_t v = -1;
	size_t i;

	(void)state;
	assert_int_equal(units_parse_count("0", 10000, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(units_parse_count("10000", 10000, &v), 0);
	assert_int_equal(v, 10000);
	assert_int_equal(units_parse_count("007", 10000, &v), 0);
	assert_int_equal(v, 7);
	v = 42;
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		if (units_parse_count(bad[i], 10000, &v) == 0)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(v, 42); /* left alone on an error */
	assert_int_equal(units_parse_count(NULL, 1, &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_percent),
	    cmocka_unit_test(test_rate),
	    cmocka_unit_test(test_port_range),
	    cmocka_unit_test(test_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
