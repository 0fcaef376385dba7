/* lib/jsonck: the strict JSON value readers checkpoints share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "natbed/jsonck.h"

static void test_ipv4(void **state)
{
	uint32_t a = htonl(0xc0a8010a), b = 0;
	json_t *j = jsonck_ipv4(a), *bad;

	(void)state;
	assert_string_equal(json_string_value(j), "192.168.1.10");
	assert_int_equal(jsonck_ipv4_read(j, &b), 0);
	assert_int_equal(a, b);
	json_decref(j);
	bad = json_string("192.168.1.256");
	assert_int_equal(jsonck_ipv4_read(bad, &b), -1);
	json_decref(bad);
	bad = json_integer(1);
	assert_int_equal(jsonck_ipv4_read(bad, &b), -1);
	json_decref(bad);
	assert_int_equal(jsonck_ipv4_read(NULL, &b), -1);
}

static void test_int(void **state)
{
	json_int_t v;
	json_t *j = json_integer(7), *s = json_string("7"), *r = json_real(7.0);

	(void)state;
	assert_int_equal(jsonck_int(j, 0, 7, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(jsonck_int(j, 0, 6, &v), -1);
	assert_int_equal(jsonck_int(j, 8, 9, &v), -1);
	assert_int_equal(jsonck_int(s, 0, 9, &v), -1);
	assert_int_equal(jsonck_int(r, 0, 9, &v), -1);
	assert_int_equal(jsonck_int(NULL, 0, 9, &v), -1);
	json_decref(j);
	json_decref(s);
	json_decref(r);
}

static void test_u64(void **state)
{
	static const char *const bad_dec[] = {
	    "", "-1", "+1", "1 ", "0x10", "18446744073709551616", "99999999999999999999999"};
	static const char *const bad_hex[] = {"", "ABCDEF", "g", "1ffffffffffffffff"};
	uint64_t v;
	json_t *j;
	size_t i;

	(void)state;
	j = jsonck_u64(UINT64_MAX, false);
	assert_string_equal(json_string_value(j), "18446744073709551615");
	assert_int_equal(jsonck_u64_read(j, false, &v), 0);
	assert_true(v == UINT64_MAX);
	json_decref(j);
	j = jsonck_u64(0xe158ed7c22fa240aull, true);
	assert_string_equal(json_string_value(j), "e158ed7c22fa240a");
	assert_int_equal(jsonck_u64_read(j, true, &v), 0);
	assert_true(v == 0xe158ed7c22fa240aull);
	json_decref(j);
	for (i = 0; i < sizeof(bad_dec) / sizeof(bad_dec[0]); i++) {
		j = json_string(bad_dec[i]);
		assert_int_equal(jsonck_u64_read(j, false, &v), -1);
		json_decref(j);
	}
	for (i = 0; i < sizeof(bad_hex) / sizeof(bad_hex[0]); i++) {
		j = json_string(bad_hex[i]);
		assert_int_equal(jsonck_u64_read(j, true, &v), -1);
		json_decref(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4),
	    cmocka_unit_test(test_int),
	    cmocka_unit_test(test_u64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
