/* Unit tests of the gate's messages (lib/gatemsg.c): resources both ways,
 * a request built and read back, every way a request is malformed, the
 * integrity check with the right and a wrong key, and answers signed and
 * not. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "natbed/gatemsg.h"

static const uint8_t txid[STUN_TXID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
#define KEY    ((const uint8_t *)"alice-key")
#define KEYLEN 9

static void test_resources(void **state)
{
	static const char *const good[] = {"any", "198.51.100.7",   "198.51.100.7:3478", "bob",
					   "b-1", "10.0.0.1:65535", "10.0.0.1:1"};
	static const char *const bad[] = {"",
					  "ANY",
					  "198.51.100.7:",
					  ":80",
					  "198.51.100.7:0",
					  "198.51.100.7:65536",
					  "1.2.3:80",
					  "1bob",
					  "bob_1",
					  "10.0.0.1:+80",
					  "10.0.0.1:080a",
					  "a23456789012345678901234567890123"};
	struct gatemsg_resource r;
	char back[64];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(gatemsg_resource_parse(good[i], &r), 0);
		gatemsg_resource_str(&r, back, sizeof(back));
		assert_string_equal(back, good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (gatemsg_resource_parse(bad[i], &r) == 0)
			fail_msg("'%s' parsed", bad[i]);
	assert_int_equal(gatemsg_resource_parse("198.51.100.7:3478", &r), 0);
	assert_int_equal(r.kind, GATEMSG_RES_ADDR_PORT);
	assert_int_equal(r.addr, inet_addr("198.51.100.7"));
	assert_int_equal(r.port, htons(3478));
	assert_int_equal(gatemsg_resource_parse("any", &r), 0);
	assert_int_equal(r.kind, GATEMSG_RES_ANY);
	assert_int_equal(gatemsg_resource_parse("bob", &r), 0);
	assert_int_equal(r.kind, GATEMSG_RES_HOST);
}

static void test_request_round_trip(void **state)
{
	uint8_t buf[GATEMSG_MAX];
	struct gatemsg_req req;
	int n = gatemsg_build_request(buf, sizeof(buf), txid, "alice", 0x0123456789abcdefull,
				      "198.51.100.7:3478", KEY, KEYLEN);

	assert_true(n > 0);
	assert_int_equal(gatemsg_parse_request(buf, (size_t)n, &req), GATEMSG_OK);
	assert_memory_equal(req.txid, txid, STUN_TXID_LEN);
	assert_string_equal(req.user, "alice");
	assert_true(req.nonce == 0x0123456789abcdefull);
	assert_string_equal(req.resource, "198.51.100.7:3478");
	assert_int_equal(req.res.kind, GATEMSG_RES_ADDR_PORT);
	assert_int_equal(gatemsg_request_check(&req, KEY, KEYLEN), 0);
	assert_int_equal(gatemsg_request_check(&req, (const uint8_t *)"alice-kez", KEYLEN),
			 -EBADMSG);
	/* what the builder refuses */
	assert_int_equal(
	    gatemsg_build_request(buf, sizeof(buf), txid, "Alice", 1, "any", KEY, KEYLEN), -EINVAL);
	assert_int_equal(
	    gatemsg_build_request(buf, sizeof(buf), txid, "alice", 0, "any", KEY, KEYLEN), -EINVAL);
	assert_int_equal(
	    gatemsg_build_request(buf, sizeof(buf), txid, "alice", 1, "x.y", KEY, KEYLEN), -EINVAL);
	assert_int_equal(gatemsg_build_request(buf, 40, txid, "alice", 1, "any", KEY, KEYLEN),
			 -ENOSPC);
}

/* A request with the attributes given (NULL: left out), signed. */
static size_t raw_request(uint8_t *buf, size_t cap, uint16_t method, const char *user,
			  const char *nonce, const char *resource, bool mi, bool fp)
{
	struct stun_builder b;

	stun_msg_build_init(&b, buf, cap, method, STUN_CLASS_REQUEST, txid, false);
	if (user)
		stun_msg_build_string(&b, STUN_ATTR_USERNAME, user);
	if (nonce)
		stun_msg_build_string(&b, STUN_ATTR_NONCE, nonce);
	if (resource)
		stun_msg_build_raw(&b, GATEMSG_ATTR_RESOURCE, resource, strlen(resource));
	if (mi)
		stun_msg_build_integrity(&b, true, KEY, KEYLEN);
	if (fp)
		stun_msg_build_fingerprint(&b);
	return (size_t)stun_msg_build_finish(&b);
}

static void test_request_malformed(void **state)
{
	static const char n1[] = "0000000000000001";
	uint8_t buf[GATEMSG_MAX];
	struct gatemsg_req req;
	size_t n;

	assert_int_equal(gatemsg_parse_request((const uint8_t *)"hello", 5, &req),
			 GATEMSG_NOT_STUN);
	n = raw_request(buf, sizeof(buf), STUN_METHOD_BINDING, "alice", n1, "any", true, true);
	assert_int_equal(gatemsg_parse_request(buf, n, &req), GATEMSG_NOT_AUTH);
	assert_memory_equal(req.txid, txid, STUN_TXID_LEN); /* an error can answer it */
	n = raw_request(buf, sizeof(buf), GATEMSG_METHOD_AUTH, "alice", n1, "any", true, false);
	assert_int_equal(gatemsg_parse_request(buf, n, &req), GATEMSG_MALFORMED);
	n = raw_request(buf, sizeof(buf), GATEMSG_METHOD_AUTH, NULL, n1, "any", true, true);
	assert_int_equal(gatemsg_parse_request(buf, n, &req), GATEMSG_MALFORMED);
	n = raw_request(buf, sizeof(buf), GATEMSG_METHOD_AUTH, "Alice", n1, "any", true, true);
	assert_int_equal(gatemsg_parse_request(buf, n, &req), GATEMSG_MALFORMED);
	n = raw_request(buf, sizeof(buf), GATEMSG_METHOD_AUTH, "alice", NULL, "any", true, true);
	assert_int_equal(gatemsg_parse_request(buf, n, &req), GATEMSG_MALFORMED);
	n = raw_request(buf, sizeof(buf), GATEMSG_METHOD_AUTH, "alice", "0000000000000000", "any",
			true, true);
	assert_int_equal(gatemsg_parse_request(buf, n, &req), GATEMSG_MALFORMED);
	n = raw_request(buf, sizeof(buf), GATEMSG_METHOD_AUTH, "alice", "000000000000000G", "any",
			true, true);
	assert_int_equal(gatemsg_parse_request(buf, n, &req), GATEMSG_MALFORMED);
	n = raw_request(buf, sizeof(buf), GATEMSG_METHOD_AUTH, "alice", "1", "any", true, true);
	assert_int_equal(gatemsg_parse_request(buf, n, &req), GATEMSG_MALFORMED);
	n = raw_request(buf, sizeof(buf), GATEMSG_METHOD_AUTH, "alice", n1, NULL, true, true);
	assert_int_equal(gatemsg_parse_request(buf, n, &req), GATEMSG_MALFORMED);
	n = raw_request(buf, sizeof(buf), GATEMSG_METHOD_AUTH, "alice", n1, "every", true, true);
	assert_int_equal(gatemsg_parse_request(buf, n, &req), GATEMSG_OK); /* a host's name */
	n = raw_request(buf, sizeof(buf), GATEMSG_METHOD_AUTH, "alice", n1, "1.2.3.4:99999", true,
			true);
	assert_int_equal(gatemsg_parse_request(buf, n, &req), GATEMSG_MALFORMED);
	/* no integrity: parses, but does not check */
	n = raw_request(buf, sizeof(buf), GATEMSG_METHOD_AUTH, "alice", n1, "any", false, true);
	assert_int_equal(gatemsg_parse_request(buf, n, &req), GATEMSG_OK);
	assert_int_equal(gatemsg_request_check(&req, KEY, KEYLEN), -ENOENT);
	/* cut short anywhere: never OK */
	n = raw_request(buf, sizeof(buf), GATEMSG_METHOD_AUTH, "alice", n1, "any", true, true);
	for (size_t cut = 0; cut < n; cut++)
		assert_int_not_equal(gatemsg_parse_request(buf, cut, &req), GATEMSG_OK);
	assert_string_equal(gatemsg_parse_name(GATEMSG_MALFORMED), "malformed");
}

static void test_answers(void **state)
{
	struct gatemsg_ans a = {.granted = true,
				.level = TOPO_TRUST_LOW,
				.level_now = TOPO_TRUST_MEDIUM,
				.delay_us = 1234567,
				.risk_ppm = 200000,
				.ttl_ms = 120000},
			   got;
	uint8_t buf[GATEMSG_MAX];
	int n;

	memcpy(a.txid, txid, STUN_TXID_LEN);
	n = gatemsg_build_answer(buf, sizeof(buf), &a, KEY, KEYLEN);
	assert_true(n > 0);
	assert_int_equal(gatemsg_parse_answer(buf, (size_t)n, KEY, KEYLEN, &got), 0);
	assert_true(got.granted && got.authenticated && got.has_trust);
	assert_int_equal(got.level, TOPO_TRUST_LOW);
	assert_int_equal(got.level_now, TOPO_TRUST_MEDIUM);
	assert_int_equal(got.delay_us, 1234567);
	assert_int_equal(got.risk_ppm, 200000);
	assert_int_equal(got.ttl_ms, 120000);
	assert_memory_equal(got.txid, txid, STUN_TXID_LEN);
	/* the wrong key: not ours */
	assert_int_equal(gatemsg_parse_answer(buf, (size_t)n, (const uint8_t *)"x", 1, &got), -1);
	/* a grant must be signed when a key is given: an unsigned one parses
	 * only without a key */
	n = gatemsg_build_answer(buf, sizeof(buf), &a, NULL, 0);
	assert_int_equal(gatemsg_parse_answer(buf, (size_t)n, KEY, KEYLEN, &got), 0);
	assert_false(got.authenticated);
	/* a refusal of an unauthentic request: no trust, no signature */
	a = (struct gatemsg_ans){.granted = false, .code = 401};
	snprintf(a.reason, sizeof(a.reason), "Bad integrity");
	n = gatemsg_build_answer(buf, sizeof(buf), &a, NULL, 0);
	assert_int_equal(gatemsg_parse_answer(buf, (size_t)n, KEY, KEYLEN, &got), 0);
	assert_false(got.granted);
	assert_false(got.has_trust);
	assert_int_equal(got.code, 401);
	assert_string_equal(got.reason, "Bad integrity");
	/* a denial, signed, with its level */
	a = (struct gatemsg_ans){.code = 403,
				 .has_trust = true,
				 .level = TOPO_TRUST_HIGH,
				 .level_now = TOPO_TRUST_MEDIUM};
	n = gatemsg_build_answer(buf, sizeof(buf), &a, KEY, KEYLEN);
	assert_int_equal(gatemsg_parse_answer(buf, (size_t)n, KEY, KEYLEN, &got), 0);
	assert_true(got.authenticated && got.has_trust);
	assert_int_equal(got.level_now, TOPO_TRUST_MEDIUM);
	/* what the builder refuses */
	a.code = 200;
	assert_int_equal(gatemsg_build_answer(buf, sizeof(buf), &a, NULL, 0), -EINVAL);
	a.code = 403;
	a.level = TOPO_TRUST_COUNT;
	assert_int_equal(gatemsg_build_answer(buf, sizeof(buf), &a, NULL, 0), -EINVAL);
	/* a request is not an answer */
	n = gatemsg_build_request(buf, sizeof(buf), txid, "alice", 1, "any", KEY, KEYLEN);
	assert_int_equal(gatemsg_parse_answer(buf, (size_t)n, KEY, KEYLEN, &got), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resources),
	    cmocka_unit_test(test_request_round_trip),
	    cmocka_unit_test(test_request_malformed),
	    cmocka_unit_test(test_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
