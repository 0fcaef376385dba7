/* A trivial traversal method for tests (method_testbind.c), outside the
 * product's method table. */
#ifndef NATBED_TESTS_METHOD_TESTBIND_H
#define NATBED_TESTS_METHOD_TESTBIND_H

#include "method.h"

extern const struct method method_testbind;

/* "testbind", else the product table's method_find(). */
const struct method *method_testbind_find(const char *name);

#endif
