/* Unit tests of the capture selection: all, none, lists of hosts and NATs
 * (bare or as NAT-wan), one name (capsel_find), and the errors naming what
 * the topology has. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "natbed/capsel.h"

static const char topo_text[] = "name: cap\n"
				"nats:\n"
				"  home: { preset: port-restricted, public: 203.0.113.10, inside: "
				"192.168.1.0/24 }\n"
				"  office: { preset: symmetric, public: 203.0.113.20, inside: "
				"192.168.2.0/24 }\n"
				"hosts:\n"
				"  alice: { nat: home }\n"
				"  bob: { nat: office }\n"
				"  server: { address: 198.51.100.10 }\n";

static int setup(void **state)
{
	char err[TOPO_ERR_MAX];
	struct topo *t = NULL;

	if (topo_load_string(topo_text, strlen(topo_text), "t.yaml", "nb-", &t, err, sizeof(err)) <
	    0) {
		print_error("%s\n", err);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	topo_free(*state);
	return 0;
}

/* Parses spec; host and nat come back as "10" strings (one char a port). */
static int sel(const struct topo *t, const char *spec, char *hs, char *ns, char *err)
{
	bool host[8], nat[8];
	size_t k;
	int rc;

	memset(host, 0x55, sizeof(host)); /* neither true nor false: must be set */
	memset(nat, 0x55, sizeof(nat));
	rc = capsel_parse(t, spec, host, nat, err, TOPO_ERR_MAX);
	for (k = 0; k < t->n_hosts; k++)
		hs[k] = host[k] == true ? '1' : host[k] == false ? '0' : '?';
	hs[k] = '\0';
	for (k = 0; k < t->n_nats; k++)
		ns[k] = nat[k] == true ? '1' : nat[k] == false ? '0' : '?';
	ns[k] = '\0';
	return rc;
}

static void test_all_none(void **state)
{
	char hs[9], ns[9], err[TOPO_ERR_MAX];

	assert_int_equal(sel(*state, "all", hs, ns, err), 0);
	assert_string_equal(hs, "111");
	assert_string_equal(ns, "11");
	assert_int_equal(sel(*state, "none", hs, ns, err), 0);
	assert_string_equal(hs, "000");
	assert_string_equal(ns, "00");
}

static void test_names(void **state)
{
	char hs[9], ns[9], err[TOPO_ERR_MAX];

	assert_int_equal(sel(*state, "alice,home", hs, ns, err), 0);
	assert_string_equal(hs, "100");
	assert_string_equal(ns, "10");
	assert_int_equal(sel(*state, "office-wan,server,server", hs, ns, err), 0);
	assert_string_equal(hs, "001");
	assert_string_equal(ns, "01");
	assert_int_equal(sel(*state, "bob", hs, ns, err), 0);
	assert_string_equal(hs, "010");
	assert_string_equal(ns, "00");
	/* only checks */
	assert_int_equal(capsel_parse(*state, "alice", NULL, NULL, err, sizeof(err)), 0);
}

static void test_errors(void **state)
{
	char err[TOPO_ERR_MAX];
	bool host[8] = {true, true, true}, nat[8] = {true, true};

	assert_int_equal(capsel_parse(*state, "alice,carol", host, nat, err, sizeof(err)), -1);
	assert_string_equal(err, "'carol' is neither a host nor a NAT of topology cap "
				 "(hosts: alice, bob, server; NATs: home, office)");
	/* nothing touched on failure */
	assert_true(host[0] && host[1] && host[2] && nat[0] && nat[1]);
	assert_int_equal(capsel_parse(*state, "alice,,bob", host, nat, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty name"));
	assert_int_equal(capsel_parse(*state, "", host, nat, err, sizeof(err)), -1);
	assert_int_equal(capsel_parse(*state, "alice,", host, nat, err, sizeof(err)), -1);
	assert_int_equal(capsel_parse(*state, "ALL", host, nat, err, sizeof(err)), -1);
	assert_int_equal(capsel_parse(*state, "alice-wan", host, nat, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'alice-wan'"));
	assert_int_equal(capsel_parse(*state, "home-wan-wan", host, nat, err, sizeof(err)), -1);
}

/* One name: a host, a NAT bare or as NAT-wan; a list or a stranger is
 * refused with the names there are. */
static void test_find(void **state)
{
	char err[TOPO_ERR_MAX];
	int h, n;

	assert_int_equal(capsel_find(*state, "bob", &h, &n, err, sizeof(err)), 0);
	assert_int_equal(h, 1);
	assert_int_equal(n, -1);
	assert_int_equal(capsel_find(*state, "office-wan", &h, &n, err, sizeof(err)), 0);
	assert_int_equal(h, -1);
	assert_int_equal(n, 1);
	assert_int_equal(capsel_find(*state, "home", &h, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(capsel_find(*state, "alice,bob", &h, &n, err, sizeof(err)), -1);
	assert_int_equal(capsel_find(*state, "all", &h, &n, err, sizeof(err)), -1);
	assert_int_equal(capsel_find(*state, "alice-wan", &h, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "'alice-wan' is neither a host nor a NAT of topology cap "
				 "(hosts: alice, bob, server; NATs: home, office)");
	assert_int_equal(capsel_find(*state, "", &h, &n, err, sizeof(err)), -1);
}

/* A long name list in an error is cut after a few names. */
static void test_error_long_list(void **state)
{
	char text[4096], err[TOPO_ERR_MAX];
	struct topo *t = NULL;
	int n = snprintf(text, sizeof(text), "name: many\nhosts:\n"), k;

	for (k = 0; k < 40; k++)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "  h%02d: { address: 198.51.100.%d }\n", k, k + 10);
	assert_int_equal(topo_load_string(text, (size_t)n, "t.yaml", "nb-", &t, err, sizeof(err)),
			 0);
	assert_int_equal(capsel_parse(t, "h99", NULL, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'h99'"));
	assert_non_null(strstr(err, "h07, ... (32 more)"));
	assert_non_null(strstr(err, "NATs: none"));
	topo_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all_none),	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_errors),	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_error_long_list),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
