/* Unit tests of str_copy (include/natbed/strcopy.h): what
 * snprintf(dst, size, "%s", src) writes, cut or whole, and NULL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "natbed/strcopy.h"

/* Every length of source against every size of buffer: the bytes written
 * and the answer are snprintf's. */
static void test_as_snprintf(void **state)
{
	static const char src[] = "port-restricted";
	char a[32], b[32], s[32];
	size_t len, size;

	(void)state;
	for (len = 0; len < sizeof(src); len++) {
		memcpy(s, src, len);
		s[len] = '\0';
		for (size = 1; size <= sizeof(a); size++) {
			memset(a, 'x', sizeof(a));
			memset(b, 'x', sizeof(b));
			int n = snprintf(a, size, "%s", s);

			assert_int_equal(str_copy(b, size, s), (size_t)n < size);
			assert_memory_equal(a, b, sizeof(a));
		}
	}
}

static void test_edges(void **state)
{
	char b[4] = "abc";

	(void)state;
	assert_false(str_copy(b, 0, "zz")); /* nothing written */
	assert_string_equal(b, "abc");
	assert_true(str_copy(b, sizeof(b), NULL));
	assert_string_equal(b, "");
	assert_false(str_copy(b, sizeof(b), "abcd"));
	assert_string_equal(b, "abc");
	assert_true(str_copy(b, sizeof(b), "xyz"));
	assert_string_equal(b, "xyz");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_as_snprintf),
	    cmocka_unit_test(test_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
