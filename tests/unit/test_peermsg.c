/* Unit tests for agents/peermsg.c: every message both ways, what a real
 * STUN server's answer reads as, and each way a datagram is refused
 * (truncated at every length, malformed attributes, unknown methods and
 * comprehension-required attributes, a bad FINGERPRINT). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "nbstun.h"
#include "peermsg.h"

static struct dg_ep ep(const char *a, uint16_t port)
{
	struct dg_ep e;

	assert_int_equal(inet_pton(AF_INET, a, &e.addr), 1);
	e.port = htons(port);
	return e;
}

static struct peermsg check_msg(void)
{
	struct peermsg m = {
	    .kind = PEERMSG_CHECK, .has_try = true, .try_id = 0x0102030405060708ull};

	memcpy(m.txid, "abcdefghijkl", STUN_TXID_LEN);
	strcpy(m.name, "alice");
	return m;
}

static void roundtrip(const struct peermsg *in, struct peermsg *out, uint8_t *buf, int *len)
{
	*len = peermsg_build(in, buf, PEERMSG_MAX);
	assert_true(*len > 0 && *len <= PEERMSG_MAX);
	assert_int_equal(peermsg_parse(buf, (size_t)*len, out), PEERMSG_OK);
	assert_int_equal(out->kind, in->kind);
	assert_memory_equal(out->txid, in->txid, STUN_TXID_LEN);
	assert_int_equal(out->has_try, in->has_try);
	if (in->has_try)
		assert_true(out->try_id == in->try_id);
}

static void test_check(void **state)
{
	struct peermsg m = check_msg(), o;
	uint8_t buf[PEERMSG_MAX];
	struct stun_msg s;
	int len;

	roundtrip(&m, &o, buf, &len);
	assert_string_equal(o.name, "alice");
	assert_false(o.nominate || o.has_mapped || o.has_pred);
	/* it is a plain Binding request with FINGERPRINT to any STUN reader */
	assert_int_equal(stun_msg_parse(buf, (size_t)len, 0, &s, NULL, 0), STUN_PARSE_OK);
	assert_int_equal(s.method, STUN_METHOD_BINDING);
	assert_int_equal(s.cls, STUN_CLASS_REQUEST);
	assert_true(s.has_fingerprint);
	assert_int_equal(s.nunknown, 0);

	/* nominating, with a prediction */
	m.nominate = true;
	m.has_mapped = true;
	m.mapped = ep("203.0.113.7", 40123);
	m.has_pred = true;
	m.pred = ep("203.0.113.9", 1056);
	roundtrip(&m, &o, buf, &len);
	assert_true(o.nominate && o.has_mapped && o.has_pred);
	assert_true(dg_ep_eq(&o.mapped, &m.mapped));
	assert_true(dg_ep_eq(&o.pred, &m.pred));
	/* USE-CANDIDATE is comprehension-required: a STUN reader lists it */
	assert_int_equal(stun_msg_parse(buf, (size_t)len, 0, &s, NULL, 0), STUN_PARSE_OK);
	assert_int_equal(s.nunknown, 1);
	assert_int_equal(s.unknown[0], PEERMSG_ATTR_USE_CANDIDATE);
	/* the prediction is an XOR-address: its plain bytes are not there */
	{
		const struct stun_attr *a = stun_msg_find(&s, NBSTUN_ATTR_CAND_SRFLX);
		const uint8_t *v = stun_attr_value(&s, a);

		assert_int_equal(a->len, 8);
		assert_int_not_equal(memcmp(v + 4, &m.pred.addr, 4), 0);
	}
}

static void test_answer(void **state)
{
	struct peermsg c = check_msg(), a, o;
	struct dg_ep from = ep("198.51.100.7", 5555);
	uint8_t buf[PEERMSG_MAX];
	int len;

	peermsg_answer_of(&c, &from, &a);
	assert_int_equal(a.kind, PEERMSG_ANSWER);
	roundtrip(&a, &o, buf, &len);
	assert_true(o.has_mapped);
	assert_true(dg_ep_eq(&o.mapped, &from));
	assert_string_equal(o.name, "");
	/* an answer without a try id: what a STUN server sends */
	a.has_try = false;
	roundtrip(&a, &o, buf, &len);
	assert_false(o.has_try);
	/* an answer without XOR-MAPPED-ADDRESS cannot be built */
	a.has_mapped = false;
	assert_int_equal(peermsg_build(&a, buf, sizeof(buf)), -EINVAL);
}

static void test_probe(void **state)
{
	struct peermsg p = {.kind = PEERMSG_PROBE, .has_try = true, .try_id = 9, .seq = 77}, a, o;
	struct dg_ep from = ep("198.51.100.7", 5555);
	uint8_t buf[PEERMSG_MAX];
	struct stun_msg s;
	int len;

	roundtrip(&p, &o, buf, &len);
	assert_int_equal(o.seq, 77);
	assert_int_equal(stun_msg_parse(buf, (size_t)len, 0, &s, NULL, 0), STUN_PARSE_OK);
	assert_int_equal(s.method, NBSTUN_METHOD_PROBE);
	peermsg_answer_of(&p, &from, &a);
	assert_int_equal(a.kind, PEERMSG_PROBE_ANSWER);
	roundtrip(&a, &o, buf, &len);
	assert_int_equal(o.seq, 77);
	assert_false(o.has_mapped);
}

static void test_build_limits(void **state)
{
	struct peermsg m = check_msg();
	uint8_t buf[PEERMSG_MAX];

	/* a check needs a name and a try id */
	m.name[0] = '\0';
	assert_int_equal(peermsg_build(&m, buf, sizeof(buf)), -EINVAL);
	m = check_msg();
	m.has_try = false;
	assert_int_equal(peermsg_build(&m, buf, sizeof(buf)), -EINVAL);
	m = check_msg();
	m.nominate = true; /* without mapped */
	assert_int_equal(peermsg_build(&m, buf, sizeof(buf)), -EINVAL);
	/* the longest name fits PEERMSG_MAX with everything else */
	m = check_msg();
	memset(m.name, 'n', PEERMSG_NAME_MAX);
	m.name[PEERMSG_NAME_MAX] = '\0';
	m.nominate = m.has_mapped = m.has_pred = true;
	assert_true(peermsg_build(&m, buf, sizeof(buf)) > 0);
	assert_int_equal(peermsg_build(&m, buf, 40), -ENOSPC);
	/* a name that fills the array has no NUL: refused */
	memset(m.name, 'n', sizeof(m.name));
	assert_int_equal(peermsg_build(&m, buf, sizeof(buf)), -EINVAL);
}

static void test_truncated(void **state)
{
	struct peermsg m = check_msg(), o;
	uint8_t buf[PEERMSG_MAX];
	int len = peermsg_build(&m, buf, sizeof(buf)), i;

	for (i = 0; i < len; i++)
		assert_int_equal(peermsg_parse(buf, (size_t)i, &o), PEERMSG_BAD);
	/* one byte flipped anywhere after the header: FINGERPRINT or worse */
	for (i = STUN_HEADER_LEN; i < len; i++) {
		buf[i] ^= 0x40;
		assert_int_not_equal(peermsg_parse(buf, (size_t)len, &o), PEERMSG_OK);
		buf[i] ^= 0x40;
	}
	assert_int_equal(peermsg_parse(buf, (size_t)len, &o), PEERMSG_OK);
}

/* A message of attributes written by hand. */
static size_t hand(uint8_t *buf, uint16_t method, enum stun_class cls,
		   void (*attrs)(struct stun_builder *b))
{
	struct stun_builder b;
	int len;

	stun_msg_build_init(&b, buf, PEERMSG_MAX, method, cls, (const uint8_t *)"123456789012",
			    false);
	if (attrs)
		attrs(&b);
	stun_msg_build_fingerprint(&b);
	len = stun_msg_build_finish(&b);
	assert_true(len > 0);
	return (size_t)len;
}

static void a_try(struct stun_builder *b)
{
	stun_msg_build_raw(b, NBSTUN_ATTR_TRY, "12345678", 8);
}

static void a_try_name(struct stun_builder *b)
{
	a_try(b);
	stun_msg_build_raw(b, NBSTUN_ATTR_NAME, "bob", 3);
}

static void a_short_try(struct stun_builder *b)
{
	stun_msg_build_raw(b, NBSTUN_ATTR_TRY, "1234", 4);
	stun_msg_build_raw(b, NBSTUN_ATTR_NAME, "bob", 3);
}

static void a_nul_name(struct stun_builder *b)
{
	a_try(b);
	stun_msg_build_raw(b, NBSTUN_ATTR_NAME, "b\0b", 3);
}

static void a_long_name(struct stun_builder *b)
{
	char n[PEERMSG_NAME_MAX + 1];

	memset(n, 'x', sizeof(n));
	a_try(b);
	stun_msg_build_raw(b, NBSTUN_ATTR_NAME, n, sizeof(n));
}

static void a_unknown_required(struct stun_builder *b)
{
	a_try_name(b);
	stun_msg_build_raw(b, 0x7F01, "zz", 2);
}

static void a_unknown_optional(struct stun_builder *b)
{
	a_try_name(b);
	stun_msg_build_raw(b, 0xC0FF, "zz", 2);
}

static void a_bad_use_candidate(struct stun_builder *b)
{
	a_try_name(b);
	stun_msg_build_raw(b, PEERMSG_ATTR_USE_CANDIDATE, "x", 1);
}

static void a_bad_pred(struct stun_builder *b)
{
	a_try_name(b);
	stun_msg_build_raw(b, NBSTUN_ATTR_CAND_SRFLX, "12345", 5);
}

static void a_v6_mapped(struct stun_builder *b)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(1)};

	stun_msg_build_addr(b, STUN_ATTR_XOR_MAPPED_ADDRESS, (struct sockaddr *)&sa);
}

static void test_refused(void **state)
{
	uint8_t buf[PEERMSG_MAX];
	struct peermsg o;
	size_t len;

	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, a_try_name);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_OK);
	assert_string_equal(o.name, "bob");
	/* a comprehension-optional attribute of nobody's is ignored */
	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, a_unknown_optional);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_OK);
	/* a STUN client's Binding request (no try, no name) is no check */
	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, NULL);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_UNKNOWN);
	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, a_try);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_UNKNOWN);
	/* other methods and classes */
	len = hand(buf, NBSTUN_METHOD_REGISTER, STUN_CLASS_REQUEST, a_try_name);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_UNKNOWN);
	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_INDICATION, a_try_name);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_UNKNOWN);
	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_ERROR, a_try_name);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_UNKNOWN);
	/* an answer without an address, or with an IPv6 one */
	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, a_try);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_UNKNOWN);
	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, a_v6_mapped);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_UNKNOWN);
	/* a probe without a sequence number */
	len = hand(buf, NBSTUN_METHOD_PROBE, STUN_CLASS_REQUEST, a_try);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_UNKNOWN);
	/* RFC 8489 §6.3.1: an unknown comprehension-required attribute */
	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, a_unknown_required);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_UNKNOWN);
	/* malformed attributes of this file */
	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, a_short_try);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_BAD);
	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, a_nul_name);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_BAD);
	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, a_long_name);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_BAD);
	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, a_bad_use_candidate);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_BAD);
	len = hand(buf, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, a_bad_pred);
	assert_int_equal(peermsg_parse(buf, len, &o), PEERMSG_BAD);
	/* without FINGERPRINT: a peer's message is refused, a STUN server's
	 * answer is not */
	{
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7)};
		struct stun_builder b;
		int l;

		stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
				    (const uint8_t *)"123456789012", false);
		a_try_name(&b);
		l = stun_msg_build_finish(&b);
		assert_int_equal(peermsg_parse(buf, (size_t)l, &o), PEERMSG_BAD);
		stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS,
				    (const uint8_t *)"123456789012", false);
		stun_msg_build_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, (struct sockaddr *)&sa);
		l = stun_msg_build_finish(&b);
		assert_int_equal(peermsg_parse(buf, (size_t)l, &o), PEERMSG_OK);
		assert_int_equal(o.kind, PEERMSG_ANSWER);
		assert_false(o.has_try);
		assert_int_equal(ntohs(o.mapped.port), 7);
	}
	/* not STUN at all */
	assert_int_equal(peermsg_parse((const uint8_t *)"hello, world, hello, world", 26, &o),
			 PEERMSG_BAD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check),     cmocka_unit_test(test_answer),
	    cmocka_unit_test(test_probe),     cmocka_unit_test(test_build_limits),
	    cmocka_unit_test(test_truncated), cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
