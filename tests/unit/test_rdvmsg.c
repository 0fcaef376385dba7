/* Unit tests for the rendezvous message codec (agents/rdvmsg.c): every
 * kind both ways, what each kind requires, every parse failure, every
 * length checked, the builder's refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "nbstun.h"
#include "rdvmsg.h"

static struct dg_ep ep(const char *ip, uint16_t port)
{
	struct dg_ep e;

	assert_int_equal(inet_pton(AF_INET, ip, &e.addr), 1);
	e.port = htons(port);
	return e;
}

/* A message of kind k with every attribute the kind may carry. */
static struct rdv_msg full(enum rdv_kind k)
{
	struct rdv_msg m = {.kind = k};

	for (int i = 0; i < STUN_TXID_LEN; i++)
		m.txid[i] = (uint8_t)(0xA0 + i);
	strcpy(m.name, "alice");
	strcpy(m.peer, "bob-2.x_y");
	strcpy(m.method, "punch");
	m.cand.host = ep("192.168.1.10", 40000);
	m.cand.srflx = ep("203.0.113.10", 61000);
	m.cand.relay = ep("198.51.100.50", 50000);
	m.cand.nat = (struct natinfo){NI_MAP_APDM, NI_FILTER_APDF, NI_PORTS_SEQUENTIAL, -2, -1, 1};
	m.mapped = ep("203.0.113.10", 61001);
	m.lifetime_s = 30;
	m.budget_ms = 5000;
	m.start_ms = 200;
	m.try_id = 0x0123456789ABCDEFull;
	m.role = TRAV_RESPONDER;
	m.error_code = 404;
	strcpy(m.reason, "peer not registered");
	switch (k) {
	case RDV_REGISTER:
		m.attrs = RDV_A_NAME | RDV_A_HOST | RDV_A_SRFLX | RDV_A_RELAY | RDV_A_NAT |
			  RDV_A_LIFETIME;
		break;
	case RDV_REGISTER_OK:
		m.attrs = RDV_A_LIFETIME | RDV_A_MAPPED;
		break;
	case RDV_REGISTER_ERR:
		m.attrs = RDV_A_ERROR;
		break;
	case RDV_CONNECT:
		m.attrs = RDV_A_NAME | RDV_A_PEER | RDV_A_METHOD | RDV_A_BUDGET;
		break;
	case RDV_CONNECT_OK:
		m.attrs = RDV_A_PEER | RDV_A_TRY;
		break;
	case RDV_CONNECT_ERR:
		m.attrs = RDV_A_ERROR | RDV_A_PEER;
		break;
	case RDV_INTRODUCE:
		m.attrs = RDV_A_PEER | RDV_A_HOST | RDV_A_SRFLX | RDV_A_RELAY | RDV_A_NAT |
			  RDV_A_METHOD | RDV_A_TRY | RDV_A_START | RDV_A_ROLE | RDV_A_BUDGET;
		break;
	case RDV_INTRODUCE_OK:
		m.attrs = RDV_A_TRY;
		break;
	case RDV_INTRODUCE_ERR:
		m.attrs = RDV_A_ERROR | RDV_A_TRY;
		break;
	case RDV_LOOKUP:
		m.attrs = RDV_A_NAME | RDV_A_PEER;
		break;
	case RDV_LOOKUP_OK:
		m.attrs = RDV_A_PEER | RDV_A_HOST | RDV_A_SRFLX | RDV_A_RELAY | RDV_A_NAT;
		break;
	case RDV_LOOKUP_ERR:
		m.attrs = RDV_A_ERROR | RDV_A_PEER;
		break;
	case RDV_CANCEL:
		m.attrs = RDV_A_TRY | RDV_A_ERROR | RDV_A_PEER;
		break;
	case RDV_CANCEL_OK:
		m.attrs = RDV_A_TRY;
		break;
	default:
		fail();
	}
	return m;
}

/* Compares what both carry. */
static void assert_same(const struct rdv_msg *a, const struct rdv_msg *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->attrs, b->attrs);
	assert_memory_equal(a->txid, b->txid, STUN_TXID_LEN);
	if (a->attrs & RDV_A_NAME)
		assert_string_equal(a->name, b->name);
	if (a->attrs & RDV_A_PEER)
		assert_string_equal(a->peer, b->peer);
	if (a->attrs & RDV_A_METHOD)
		assert_string_equal(a->method, b->method);
	if (a->attrs & RDV_A_HOST)
		assert_true(dg_ep_eq(&a->cand.host, &b->cand.host));
	if (a->attrs & RDV_A_SRFLX)
		assert_true(dg_ep_eq(&a->cand.srflx, &b->cand.srflx));
	if (a->attrs & RDV_A_RELAY)
		assert_true(dg_ep_eq(&a->cand.relay, &b->cand.relay));
	if (a->attrs & RDV_A_MAPPED)
		assert_true(dg_ep_eq(&a->mapped, &b->mapped));
	if (a->attrs & RDV_A_NAT)
		assert_memory_equal(&a->cand.nat, &b->cand.nat, sizeof(a->cand.nat));
	if (a->attrs & RDV_A_TRY)
		assert_true(a->try_id == b->try_id);
	if (a->attrs & RDV_A_START)
		assert_int_equal(a->start_ms, b->start_ms);
	if (a->attrs & RDV_A_ROLE)
		assert_int_equal(a->role, b->role);
	if (a->attrs & RDV_A_LIFETIME)
		assert_int_equal(a->lifetime_s, b->lifetime_s);
	if (a->attrs & RDV_A_BUDGET)
		assert_int_equal(a->budget_ms, b->budget_ms);
	if (a->attrs & RDV_A_ERROR) {
		assert_int_equal(a->error_code, b->error_code);
		assert_string_equal(a->reason, b->reason);
	}
}

static int build(const struct rdv_msg *m, uint8_t *buf, size_t cap)
{
	int n = rdvmsg_build(m, buf, cap);

	assert_true(n > 0);
	return n;
}

static void every_kind_round_trips(void **state)
{
	for (int k = 0; k < RDV_KIND_COUNT; k++) {
		struct rdv_msg m = full((enum rdv_kind)k), got;
		uint8_t buf[DG_MAX];
		int n = build(&m, buf, sizeof(buf));

		assert_int_equal(rdvmsg_parse(buf, (size_t)n, &got), RDV_PARSE_OK);
		assert_same(&m, &got);
		assert_string_not_equal(rdvmsg_kind_name((enum rdv_kind)k), "unknown");
	}
}

/* The framing is STUN's: method number, class, cookie, FINGERPRINT. */
static void framing_is_stun(void **state)
{
	struct rdv_msg m = full(RDV_INTRODUCE);
	uint8_t buf[DG_MAX];
	int n = build(&m, buf, sizeof(buf));
	struct stun_msg s;

	assert_int_equal(stun_msg_parse(buf, (size_t)n, 0, &s, NULL, 0), STUN_PARSE_OK);
	assert_int_equal(s.method, NBSTUN_METHOD_INTRODUCE);
	assert_int_equal(s.cls, STUN_CLASS_REQUEST);
	assert_true(s.has_fingerprint);
	assert_int_equal(s.nunknown, 0); /* every attribute comprehension-optional */
	/* candidates are XOR-encoded: the plain address is not in the bytes */
	assert_non_null(stun_msg_find(&s, NBSTUN_ATTR_CAND_SRFLX));
	assert_null(memmem(buf, (size_t)n, &m.cand.srflx.addr, 4));
}

/* LOOKUP (0x0E3): the asker and the peer; the answer carries the peer's
 * candidates and NAT, which it requires, or an error. */
static void lookup_kinds(void **state)
{
	struct rdv_msg m = full(RDV_LOOKUP_OK), got;
	uint8_t buf[DG_MAX];
	struct stun_msg s;
	int n;

	m.attrs = RDV_A_PEER | RDV_A_HOST | RDV_A_NAT;
	n = build(&m, buf, sizeof(buf));
	assert_int_equal(stun_msg_parse(buf, (size_t)n, 0, &s, NULL, 0), STUN_PARSE_OK);
	assert_int_equal(s.method, NBSTUN_METHOD_LOOKUP);
	assert_int_equal(s.cls, STUN_CLASS_SUCCESS);
	assert_int_equal(rdvmsg_parse(buf, (size_t)n, &got), RDV_PARSE_OK);
	assert_int_equal(got.kind, RDV_LOOKUP_OK);
	assert_int_equal(got.cand.nat.map, NI_MAP_APDM);
	assert_int_equal(got.cand.nat.stride, -2);
	assert_int_equal(got.cand.srflx.addr, 0);
	m.attrs &= ~RDV_A_NAT; /* a lookup answers the peer's NAT, or nothing */
	assert_int_equal(rdvmsg_build(&m, buf, sizeof(buf)), -EINVAL);
	m = full(RDV_LOOKUP);
	m.attrs |= RDV_A_METHOD;
	assert_int_equal(rdvmsg_build(&m, buf, sizeof(buf)), -EINVAL);
	m = full(RDV_LOOKUP_ERR);
	m.attrs = RDV_A_ERROR;
	n = build(&m, buf, sizeof(buf));
	assert_int_equal(rdvmsg_parse(buf, (size_t)n, &got), RDV_PARSE_OK);
	assert_int_equal(got.kind, RDV_LOOKUP_ERR);
	assert_string_equal(got.reason, "peer not registered");
	assert_string_equal(rdvmsg_kind_name(RDV_LOOKUP), "lookup");
}

static void optional_attributes_may_be_absent(void **state)
{
	struct rdv_msg m = full(RDV_REGISTER), got;
	uint8_t buf[DG_MAX];
	int n;

	m.attrs = RDV_A_NAME | RDV_A_HOST;
	n = build(&m, buf, sizeof(buf));
	assert_int_equal(rdvmsg_parse(buf, (size_t)n, &got), RDV_PARSE_OK);
	assert_int_equal(got.attrs, RDV_A_NAME | RDV_A_HOST);
	assert_int_equal(got.cand.srflx.addr, 0);
	assert_int_equal(got.cand.nat.hairpin, -1);
}

static void builder_refuses(void **state)
{
	struct rdv_msg m = full(RDV_CONNECT);
	uint8_t buf[DG_MAX];

	m.attrs &= ~RDV_A_PEER; /* required */
	assert_int_equal(rdvmsg_build(&m, buf, sizeof(buf)), -EINVAL);
	m = full(RDV_CONNECT);
	m.attrs |= RDV_A_TRY; /* not a CONNECT request's */
	assert_int_equal(rdvmsg_build(&m, buf, sizeof(buf)), -EINVAL);
	m = full(RDV_CONNECT);
	strcpy(m.peer, "b o b");
	assert_int_equal(rdvmsg_build(&m, buf, sizeof(buf)), -EINVAL);
	m = full(RDV_CONNECT);
	m.peer[0] = '\0';
	assert_int_equal(rdvmsg_build(&m, buf, sizeof(buf)), -EINVAL);
	m = full(RDV_CONNECT);
	memset(m.method, 'm', sizeof(m.method)); /* no NUL: never read past */
	assert_int_equal(rdvmsg_build(&m, buf, sizeof(buf)), -EINVAL);
	m = full(RDV_REGISTER);
	m.cand.host.addr = 0;
	assert_int_equal(rdvmsg_build(&m, buf, sizeof(buf)), -EINVAL);
	m = full(RDV_REGISTER);
	m.cand.nat.stride = 40000;
	assert_int_equal(rdvmsg_build(&m, buf, sizeof(buf)), -EINVAL);
	m = full(RDV_INTRODUCE);
	m.role = (enum trav_role)7;
	assert_int_equal(rdvmsg_build(&m, buf, sizeof(buf)), -EINVAL);
	m = full(RDV_CONNECT_ERR);
	m.error_code = 200;
	assert_int_equal(rdvmsg_build(&m, buf, sizeof(buf)), -EINVAL);
	m = full(RDV_INTRODUCE);
	assert_int_equal(rdvmsg_build(&m, buf, 60), -ENOSPC);
	m.kind = RDV_KIND_COUNT;
	assert_int_equal(rdvmsg_build(&m, buf, sizeof(buf)), -EINVAL);
}

/* Every prefix of every message is refused as truncated: shorter than a
 * header, or than the length the header gives. */
static void every_truncation_refused(void **state)
{
	for (int k = 0; k < RDV_KIND_COUNT; k++) {
		struct rdv_msg m = full((enum rdv_kind)k), got;
		uint8_t buf[DG_MAX];
		int n = build(&m, buf, sizeof(buf));

		for (int len = 0; len < n; len++) {
			enum rdv_parse r = rdvmsg_parse(buf, (size_t)len, &got);

			assert_int_equal(r, RDV_PARSE_TRUNCATED);
		}
	}
}

static void not_stun_and_malformed(void **state)
{
	struct rdv_msg m = full(RDV_REGISTER), got;
	uint8_t buf[DG_MAX];
	int n = build(&m, buf, sizeof(buf));

	buf[0] |= 0x80;
	assert_int_equal(rdvmsg_parse(buf, (size_t)n, &got), RDV_PARSE_NOT_STUN);
	buf[0] &= 0x3F;
	buf[4] ^= 1; /* cookie */
	assert_int_equal(rdvmsg_parse(buf, (size_t)n, &got), RDV_PARSE_NOT_STUN);
	buf[4] ^= 1;
	buf[n - 1] ^= 1; /* FINGERPRINT */
	assert_int_equal(rdvmsg_parse(buf, (size_t)n, &got), RDV_PARSE_MALFORMED);
	buf[n - 1] ^= 1;
	buf[n] = 0; /* a byte past the message */
	assert_int_equal(rdvmsg_parse(buf, (size_t)n + 1, &got), RDV_PARSE_MALFORMED);
	assert_int_equal(rdvmsg_parse(buf, (size_t)n, &got), RDV_PARSE_OK);
	for (int r = 0; r < RDV_PARSE_COUNT; r++)
		assert_string_not_equal(rdvmsg_parse_name((enum rdv_parse)r), "unknown");
}

/* A message built by hand: method, class, then raw attributes. */
static size_t raw(uint8_t *buf, size_t cap, uint16_t method, enum stun_class cls,
		  const uint16_t *types, const void *const *values, const size_t *lens, size_t n)
{
	static const uint8_t txid[STUN_TXID_LEN] = {1, 2, 3};
	struct stun_builder b;
	int len;

	stun_msg_build_init(&b, buf, cap, method, cls, txid, false);
	for (size_t i = 0; i < n; i++)
		stun_msg_build_raw(&b, types[i], values[i], lens[i]);
	len = stun_msg_build_finish(&b);
	assert_true(len > 0);
	return (size_t)len;
}

static void other_methods_and_classes(void **state)
{
	uint8_t buf[256];
	struct rdv_msg got;
	size_t n;

	/* a Binding request is STUN, not the rendezvous' */
	n = raw(buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, NULL, NULL, NULL, 0);
	assert_int_equal(rdvmsg_parse(buf, n, &got), RDV_PARSE_OTHER);
	n = raw(buf, sizeof(buf), NBSTUN_METHOD_PROBE, STUN_CLASS_REQUEST, NULL, NULL, NULL, 0);
	assert_int_equal(rdvmsg_parse(buf, n, &got), RDV_PARSE_OTHER);
	/* REGISTER has no indication */
	n = raw(buf, sizeof(buf), NBSTUN_METHOD_REGISTER, STUN_CLASS_INDICATION, NULL, NULL, NULL,
		0);
	assert_int_equal(rdvmsg_parse(buf, n, &got), RDV_PARSE_BAD_CLASS);
	assert_int_equal(got.txid[0], 1);
}

/* rdvmsg_may_be_ours tells from the type alone what rdvmsg_parse tells
 * from the whole message: for every method and class, false exactly when
 * the parse says RDV_PARSE_OTHER. */
static void may_be_ours_from_the_type(void **state)
{
	uint8_t buf[256];
	struct rdv_msg got;
	size_t n;

	(void)state;
	for (unsigned method = 0; method <= 0xFFF; method++)
		for (int cls = 0; cls < 4; cls++) {
			n = raw(buf, sizeof(buf), (uint16_t)method, (enum stun_class)cls, NULL,
				NULL, NULL, 0);
			assert_int_equal(rdvmsg_may_be_ours(buf, n),
					 rdvmsg_parse(buf, n, &got) != RDV_PARSE_OTHER);
		}
	assert_true(rdvmsg_may_be_ours(buf, 1)); /* too short to tell: the parse says */
}

static void missing_unknown_and_bad_attributes(void **state)
{
	static const uint8_t try4[4] = {0}, role2[1] = {2}, nat_bad[8] = {9};
	static const uint8_t nat_short[7] = {0}, host_v4_bad[4] = {0, 1, 0, 0};
	static const char bad_name[] = "al ice", long_name[] = "0123456789012345678901234567890123";
	uint8_t buf[256];
	struct rdv_msg got;
	size_t n;
	uint16_t t;
	const void *v;
	size_t l;

	/* CONNECT without PEER and METHOD */
	t = NBSTUN_ATTR_NAME;
	v = "alice";
	l = 5;
	n = raw(buf, sizeof(buf), NBSTUN_METHOD_CONNECT, STUN_CLASS_REQUEST, &t, &v, &l, 1);
	assert_int_equal(rdvmsg_parse(buf, n, &got), RDV_PARSE_MISSING);
	/* an unknown comprehension-required attribute */
	t = 0x7F01;
	n = raw(buf, sizeof(buf), NBSTUN_METHOD_CONNECT, STUN_CLASS_REQUEST, &t, &v, &l, 1);
	assert_int_equal(rdvmsg_parse(buf, n, &got), RDV_PARSE_UNKNOWN_ATTR);
	/* bad values of each shape */
	struct {
		uint16_t method;
		enum stun_class cls;
		uint16_t type;
		const void *v;
		size_t l;
	} bad[] = {
	    {NBSTUN_METHOD_CONNECT, STUN_CLASS_SUCCESS, NBSTUN_ATTR_TRY, try4, sizeof(try4)},
	    {NBSTUN_METHOD_INTRODUCE, STUN_CLASS_REQUEST, NBSTUN_ATTR_ROLE, role2, 1},
	    {NBSTUN_METHOD_REGISTER, STUN_CLASS_REQUEST, NBSTUN_ATTR_NAT, nat_bad, 8},
	    {NBSTUN_METHOD_REGISTER, STUN_CLASS_REQUEST, NBSTUN_ATTR_NAT, nat_short, 7},
	    {NBSTUN_METHOD_REGISTER, STUN_CLASS_REQUEST, NBSTUN_ATTR_CAND_HOST, host_v4_bad, 4},
	    {NBSTUN_METHOD_REGISTER, STUN_CLASS_REQUEST, NBSTUN_ATTR_NAME, bad_name, 6},
	    {NBSTUN_METHOD_REGISTER, STUN_CLASS_REQUEST, NBSTUN_ATTR_NAME, long_name, 34},
	    {NBSTUN_METHOD_REGISTER, STUN_CLASS_REQUEST, NBSTUN_ATTR_NAME, "", 0},
	    {NBSTUN_METHOD_REGISTER, STUN_CLASS_REQUEST, NBSTUN_ATTR_LIFETIME, try4, 3},
	    {NBSTUN_METHOD_CONNECT, STUN_CLASS_REQUEST, NBSTUN_ATTR_BUDGET, try4, 2},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = raw(buf, sizeof(buf), bad[i].method, bad[i].cls, &bad[i].type, &bad[i].v,
			&bad[i].l, 1);
		assert_int_equal(rdvmsg_parse(buf, n, &got), RDV_PARSE_BAD_ATTR);
	}
}

/* Comprehension-optional attributes the codec does not know are ignored,
 * and so are ours that another kind carries. */
static void unknown_optional_ignored(void **state)
{
	struct rdv_msg m = full(RDV_INTRODUCE_OK), got;
	uint8_t buf[DG_MAX], raw_buf[DG_MAX];
	int n = build(&m, buf, sizeof(buf));
	struct stun_builder b;
	int len;

	/* rebuild: header, TRY, an unknown 0xC0FF, a NAME, no FINGERPRINT */
	stun_msg_build_init(&b, raw_buf, sizeof(raw_buf), NBSTUN_METHOD_INTRODUCE,
			    STUN_CLASS_SUCCESS, m.txid, false);
	stun_msg_build_raw(&b, NBSTUN_ATTR_TRY, buf + 24, 8);
	stun_msg_build_raw(&b, 0xC0FF, "x", 1);
	stun_msg_build_raw(&b, NBSTUN_ATTR_NAME, "a b", 3);
	len = stun_msg_build_finish(&b);
	assert_true(len > 0 && n > 0);
	assert_int_equal(rdvmsg_parse(raw_buf, (size_t)len, &got), RDV_PARSE_OK);
	assert_int_equal(got.attrs, RDV_A_TRY);
	assert_true(got.try_id == m.try_id);
}

static void names(void **state)
{
	assert_true(rdvmsg_name_ok("a", RDV_NAME_MAX));
	assert_true(rdvmsg_name_ok("Alice_2.home-1", RDV_NAME_MAX));
	assert_false(rdvmsg_name_ok("", RDV_NAME_MAX));
	assert_false(rdvmsg_name_ok("a/b", RDV_NAME_MAX));
	assert_false(rdvmsg_name_ok("\"x\"", RDV_NAME_MAX));
	assert_true(rdvmsg_name_ok("0123456789abcdef", RDV_METHOD_MAX));
	assert_false(rdvmsg_name_ok("0123456789abcdefg", RDV_METHOD_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_kind_round_trips),
	    cmocka_unit_test(framing_is_stun),
	    cmocka_unit_test(lookup_kinds),
	    cmocka_unit_test(optional_attributes_may_be_absent),
	    cmocka_unit_test(builder_refuses),
	    cmocka_unit_test(every_truncation_refused),
	    cmocka_unit_test(not_stun_and_malformed),
	    cmocka_unit_test(other_methods_and_classes),
	    cmocka_unit_test(may_be_ours_from_the_type),
	    cmocka_unit_test(missing_unknown_and_bad_attributes),
	    cmocka_unit_test(unknown_optional_ignored),
	    cmocka_unit_test(names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
