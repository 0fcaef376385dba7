/* Unit tests for the STUN codec: RFC 5769 vectors both ways, every parser
 * error, the RFC 5780 and RFC 3489 attributes, the builder's bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "natbed/stun.h"

/* RFC 5769 §2.1: sample request, short-term credentials. */
static const uint8_t rfc5769_request[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 §2.2: sample IPv4 response. */
static const uint8_t rfc5769_response_v4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* RFC 5769 §2.3: sample IPv6 response. */
static const uint8_t rfc5769_response_v6[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

/* RFC 5769 §2.4: sample request, long-term credentials (padding is 0x00). */
static const uint8_t rfc5769_request_lt[] = {
    0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72,
    0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12, 0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88,
    0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00,
    0x15, 0x00, 0x1c, 0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36,
    0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73,
    0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72,
    0x67, 0x00, 0x00, 0x08, 0x00, 0x14, 0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02,
    0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66,
};

static const uint8_t rfc5769_txid[STUN_TXID_LEN] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
						    0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};
static const uint8_t rfc5769_lt_txid[STUN_TXID_LEN] = {0x78, 0xad, 0x34, 0x33, 0xc6, 0xad,
						       0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e};
static const char rfc5769_password[] = "VOkJxbRl1RmTxUk/WvJxBt";
/* U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9 in UTF-8 */
static const char rfc5769_lt_user[] =
    "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
/* The password after SASLprep, as RFC 5769 §2.4 gives it. */
static const char rfc5769_lt_password[] = "TheMatrIX";

static const uint8_t *pw(void)
{
	return (const uint8_t *)rfc5769_password;
}

static enum stun_parse_result parse(const uint8_t *buf, size_t len, struct stun_msg *m)
{
	char err[128];

	return stun_msg_parse(buf, len, 0, m, err, sizeof(err));
}

static void assert_string_attr(const struct stun_msg *m, uint16_t type, const char *want)
{
	const struct stun_attr *a = stun_msg_find(m, type);

	assert_non_null(a);
	assert_int_equal(a->len, strlen(want));
	assert_memory_equal(stun_attr_value(m, a), want, a->len);
}

/* ---- RFC 5769 parsing ---- */

static void rfc5769_request_parses(void **state)
{
	struct stun_msg m;

	assert_int_equal(parse(rfc5769_request, sizeof(rfc5769_request), &m), STUN_PARSE_OK);
	assert_int_equal(m.method, STUN_METHOD_BINDING);
	assert_int_equal(m.cls, STUN_CLASS_REQUEST);
	assert_false(m.classic);
	assert_memory_equal(m.txid, rfc5769_txid, STUN_TXID_LEN);
	assert_string_attr(&m, STUN_ATTR_SOFTWARE, "STUN test client");
	assert_string_attr(&m, STUN_ATTR_USERNAME, "evtj:h6vY");
	assert_true(m.has_fingerprint);
	/* PRIORITY (0x0024) is comprehension-required and not ours */
	assert_int_equal(m.nunknown, 1);
	assert_int_equal(m.unknown[0], 0x0024);
	assert_int_equal(stun_msg_check_integrity(&m, false, pw(), strlen(rfc5769_password)), 0);
	assert_int_equal(stun_msg_check_integrity(&m, false, (const uint8_t *)"wrong", 5),
			 -EBADMSG);
	assert_int_equal(stun_msg_check_integrity(&m, true, pw(), strlen(rfc5769_password)),
			 -ENOENT);
}

static void check_response(const uint8_t *buf, size_t len, const struct sockaddr_storage *want)
{
	struct sockaddr_storage got;
	struct stun_msg m;

	assert_int_equal(parse(buf, len, &m), STUN_PARSE_OK);
	assert_int_equal(m.cls, STUN_CLASS_SUCCESS);
	assert_string_attr(&m, STUN_ATTR_SOFTWARE, "test vector");
	assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, &got), 0);
	assert_memory_equal(&got, want, sizeof(got));
	assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_MAPPED_ADDRESS, &got), -ENOENT);
	assert_int_equal(stun_msg_check_integrity(&m, false, pw(), strlen(rfc5769_password)), 0);
}

static void v4_addr(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
}

static void v6_addr(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
}

static void rfc5769_response_v4_parses(void **state)
{
	struct sockaddr_storage want;

	v4_addr(&want, "192.0.2.1", 32853);
	check_response(rfc5769_response_v4, sizeof(rfc5769_response_v4), &want);
}

static void rfc5769_response_v6_parses(void **state)
{
	struct sockaddr_storage want;

	v6_addr(&want, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
	check_response(rfc5769_response_v6, sizeof(rfc5769_response_v6), &want);
}

static void rfc5769_long_term_parses(void **state)
{
	uint8_t key[STUN_MD5_LEN];
	struct stun_msg m;

	assert_int_equal(parse(rfc5769_request_lt, sizeof(rfc5769_request_lt), &m), STUN_PARSE_OK);
	assert_memory_equal(m.txid, rfc5769_lt_txid, STUN_TXID_LEN);
	assert_string_attr(&m, STUN_ATTR_USERNAME, rfc5769_lt_user);
	assert_string_attr(&m, STUN_ATTR_NONCE, "f//499k954d6OL34oL9FSTvy64sA");
	assert_string_attr(&m, STUN_ATTR_REALM, "example.org");
	assert_false(m.has_fingerprint);
	assert_int_equal(
	    stun_long_term_key(rfc5769_lt_user, "example.org", rfc5769_lt_password, key), 0);
	assert_int_equal(stun_msg_check_integrity(&m, false, key, sizeof(key)), 0);
	assert_int_equal(stun_long_term_key(rfc5769_lt_user, "example.org", "TheMatrix", key), 0);
	assert_int_equal(stun_msg_check_integrity(&m, false, key, sizeof(key)), -EBADMSG);
}

/* ---- RFC 5769 building, byte for byte ---- */

static void rfc5769_request_builds(void **state)
{
	static const uint8_t priority[] = {0x6e, 0x00, 0x01, 0xff};
	static const uint8_t controlled[] = {0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36};
	struct stun_builder b;
	uint8_t buf[256];

	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
			    rfc5769_txid, false);
	stun_msg_build_set_pad(&b, 0x20); /* the vector pads USERNAME with spaces */
	stun_msg_build_string(&b, STUN_ATTR_SOFTWARE, "STUN test client");
	stun_msg_build_raw(&b, 0x0024, priority, sizeof(priority));
	stun_msg_build_raw(&b, 0x8029, controlled, sizeof(controlled));
	stun_msg_build_string(&b, STUN_ATTR_USERNAME, "evtj:h6vY");
	stun_msg_build_integrity(&b, false, pw(), strlen(rfc5769_password));
	stun_msg_build_fingerprint(&b);
	assert_int_equal(stun_msg_build_finish(&b), sizeof(rfc5769_request));
	assert_memory_equal(buf, rfc5769_request, sizeof(rfc5769_request));
}

static void build_response(const struct sockaddr_storage *addr, const uint8_t *want, size_t len)
{
	struct stun_builder b;
	uint8_t buf[256];

	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS,
			    rfc5769_txid, false);
	stun_msg_build_set_pad(&b, 0x20); /* "test vector" is padded with a space */
	stun_msg_build_string(&b, STUN_ATTR_SOFTWARE, "test vector");
	stun_msg_build_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, (const struct sockaddr *)addr);
	stun_msg_build_integrity(&b, false, pw(), strlen(rfc5769_password));
	stun_msg_build_fingerprint(&b);
	assert_int_equal(stun_msg_build_finish(&b), len);
	assert_memory_equal(buf, want, len);
}

static void rfc5769_response_v4_builds(void **state)
{
	struct sockaddr_storage a;

	v4_addr(&a, "192.0.2.1", 32853);
	build_response(&a, rfc5769_response_v4, sizeof(rfc5769_response_v4));
}

static void rfc5769_response_v6_builds(void **state)
{
	struct sockaddr_storage a;

	v6_addr(&a, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
	build_response(&a, rfc5769_response_v6, sizeof(rfc5769_response_v6));
}

static void rfc5769_long_term_builds(void **state)
{
	uint8_t key[STUN_MD5_LEN], buf[256];
	struct stun_builder b;

	assert_int_equal(
	    stun_long_term_key(rfc5769_lt_user, "example.org", rfc5769_lt_password, key), 0);
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
			    rfc5769_lt_txid, false);
	stun_msg_build_string(&b, STUN_ATTR_USERNAME, rfc5769_lt_user);
	stun_msg_build_string(&b, STUN_ATTR_NONCE, "f//499k954d6OL34oL9FSTvy64sA");
	stun_msg_build_string(&b, STUN_ATTR_REALM, "example.org");
	stun_msg_build_integrity(&b, false, key, sizeof(key));
	assert_int_equal(stun_msg_build_finish(&b), sizeof(rfc5769_request_lt));
	assert_memory_equal(buf, rfc5769_request_lt, sizeof(rfc5769_request_lt));
}

/* ---- parser error paths, one test each ---- */

struct mutated {
	uint8_t buf[512];
	size_t len;
};

static void copy_vector(struct mutated *m, const uint8_t *v, size_t len)
{
	assert_true(len <= sizeof(m->buf));
	memcpy(m->buf, v, len);
	m->len = len;
}

static void expect_result(const uint8_t *buf, size_t len, unsigned flags,
			  enum stun_parse_result want)
{
	char err[128] = "";
	struct stun_msg m;

	assert_int_equal(stun_msg_parse(buf, len, flags, &m, err, sizeof(err)), want);
	if (want != STUN_PARSE_OK)
		assert_true(strlen(err) > 0); /* every failure says why */
}

static void err_too_short(void **state)
{
	expect_result(rfc5769_request, STUN_HEADER_LEN - 1, 0, STUN_PARSE_TOO_SHORT);
	expect_result(rfc5769_request, 0, 0, STUN_PARSE_TOO_SHORT);
}

static void err_top_bits(void **state)
{
	struct mutated m;

	copy_vector(&m, rfc5769_request, sizeof(rfc5769_request));
	m.buf[0] |= 0x40;
	expect_result(m.buf, m.len, 0, STUN_PARSE_TOP_BITS);
	m.buf[0] = 0x80;
	expect_result(m.buf, m.len, STUN_PARSE_ALLOW_CLASSIC, STUN_PARSE_TOP_BITS);
}

static void err_bad_cookie(void **state)
{
	struct mutated m;

	copy_vector(&m, rfc5769_request, sizeof(rfc5769_request));
	m.buf[7] ^= 0x01;
	expect_result(m.buf, m.len, 0, STUN_PARSE_BAD_COOKIE);
}

static void err_length_align(void **state)
{
	struct mutated m;

	copy_vector(&m, rfc5769_request, sizeof(rfc5769_request));
	m.buf[3] = 0x57;
	expect_result(m.buf, m.len, 0, STUN_PARSE_LENGTH_ALIGN);
}

static void err_length_overrun(void **state)
{
	/* the datagram lost its last 4 bytes: the length field now lies */
	expect_result(rfc5769_request, sizeof(rfc5769_request) - 4, 0, STUN_PARSE_LENGTH_OVERRUN);
	struct mutated m;

	copy_vector(&m, rfc5769_request, sizeof(rfc5769_request));
	m.buf[2] = 0xff;
	m.buf[3] = 0xfc;
	expect_result(m.buf, m.len, 0, STUN_PARSE_LENGTH_OVERRUN);
}

static void err_trailing_bytes(void **state)
{
	struct mutated m;

	copy_vector(&m, rfc5769_request, sizeof(rfc5769_request));
	memset(m.buf + m.len, 0, 4);
	m.len += 4;
	expect_result(m.buf, m.len, 0, STUN_PARSE_TRAILING_BYTES);
}

static void err_attr_truncated(void **state)
{
	struct mutated m;

	copy_vector(&m, rfc5769_request, sizeof(rfc5769_request));
	m.buf[63] = 0x40; /* USERNAME claims 64 bytes; 44 remain */
	expect_result(m.buf, m.len, 0, STUN_PARSE_ATTR_TRUNCATED);
	/* the last attribute claims 5 bytes where 4 remain: its value, let
	 * alone its padding to 4, is past the message */
	copy_vector(&m, rfc5769_request, sizeof(rfc5769_request));
	m.buf[m.len - 5] = 0x05;
	expect_result(m.buf, m.len, 0, STUN_PARSE_ATTR_TRUNCATED);
}

static void err_attr_padding(void **state)
{
	/* An attribute of 5 bytes needs 3 of padding. A message that stops
	 * right after the value has a length that is not a multiple of 4, so
	 * §6.3's alignment check is what refuses it. */
	static const uint8_t msg[] = {0x00, 0x01, 0x00, 0x09, 0x21, 0x12, 0xa4, 0x42, 1,  2,
				      3,    4,	  5,	6,    7,    8,	  9,	10,   11, 12,
				      0x80, 0x22, 0x00, 0x05, 'a',  'b',  'c',	'd',  'e'};

	expect_result(msg, sizeof(msg), 0, STUN_PARSE_LENGTH_ALIGN);
}

static void err_attr_malformed(void **state)
{
	struct mutated m;

	copy_vector(&m, rfc5769_response_v4, sizeof(rfc5769_response_v4));
	m.buf[41] = 0x03; /* XOR-MAPPED-ADDRESS family 3 */
	expect_result(m.buf, m.len, 0, STUN_PARSE_ATTR_MALFORMED);
	copy_vector(&m, rfc5769_response_v4, sizeof(rfc5769_response_v4));
	m.buf[41] = 0x02; /* family IPv6 with 8 bytes */
	expect_result(m.buf, m.len, 0, STUN_PARSE_ATTR_MALFORMED);
}

/* A bit-at-a-time CRC-32, independent of the codec's table version. */
static uint32_t ref_crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
	}
	return ~c;
}

static void err_after_fingerprint(void **state)
{
	struct stun_builder b;
	uint8_t buf[128];
	uint32_t fp;
	int n;

	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
			    rfc5769_txid, false);
	stun_msg_build_fingerprint(&b);
	stun_msg_build_string(&b, STUN_ATTR_SOFTWARE, "late");
	n = stun_msg_build_finish(&b);
	assert_int_equal(n, STUN_HEADER_LEN + 8 + 8);
	/* a FINGERPRINT that is right for the final length, so only its
	 * position is wrong */
	fp = ref_crc32(buf, STUN_HEADER_LEN) ^ STUN_FINGERPRINT_XOR;
	buf[24] = (uint8_t)(fp >> 24);
	buf[25] = (uint8_t)(fp >> 16);
	buf[26] = (uint8_t)(fp >> 8);
	buf[27] = (uint8_t)fp;
	expect_result(buf, (size_t)n, 0, STUN_PARSE_AFTER_FINGERPRINT);
}

static void err_bad_fingerprint(void **state)
{
	struct mutated m;

	copy_vector(&m, rfc5769_request, sizeof(rfc5769_request));
	m.buf[30] ^= 0x20; /* "STUN test client" -> "STUN Test client" */
	expect_result(m.buf, m.len, 0, STUN_PARSE_BAD_FINGERPRINT);
}

static void err_too_many_attrs(void **state)
{
	struct stun_builder b;
	uint8_t buf[1024];
	int n;

	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
			    rfc5769_txid, false);
	for (int i = 0; i < STUN_MAX_ATTRS; i++)
		stun_msg_build_raw(&b, STUN_ATTR_PADDING, NULL, 0);
	n = stun_msg_build_finish(&b);
	expect_result(buf, (size_t)n, 0, STUN_PARSE_OK);
	stun_msg_build_raw(&b, STUN_ATTR_PADDING, NULL, 0);
	n = stun_msg_build_finish(&b);
	expect_result(buf, (size_t)n, 0, STUN_PARSE_TOO_MANY_ATTRS);
}

static void err_every_result_named(void **state)
{
	for (int r = 0; r < STUN_PARSE_RESULT_COUNT; r++)
		assert_string_not_equal(stun_parse_result_name((enum stun_parse_result)r),
					"unknown");
	assert_string_equal(stun_parse_result_name(STUN_PARSE_RESULT_COUNT), "unknown");
}

/* ---- attributes and builder ---- */

static void rfc5780_attrs_round_trip(void **state)
{
	struct sockaddr_storage origin, other, got;
	struct stun_builder b;
	struct stun_msg m;
	uint8_t buf[256];
	int n;

	v4_addr(&origin, "198.51.100.10", 3478);
	v4_addr(&other, "198.51.100.11", 3479);
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
			    rfc5769_txid, false);
	stun_msg_build_change_request(&b, STUN_CHANGE_IP | STUN_CHANGE_PORT);
	stun_msg_build_response_port(&b, 40000);
	stun_msg_build_padding(&b, 37);
	stun_msg_build_addr(&b, STUN_ATTR_RESPONSE_ORIGIN, (struct sockaddr *)&origin);
	stun_msg_build_addr(&b, STUN_ATTR_OTHER_ADDRESS, (struct sockaddr *)&other);
	stun_msg_build_fingerprint(&b);
	n = stun_msg_build_finish(&b);
	assert_true(n > 0);
	assert_int_equal(parse(buf, (size_t)n, &m), STUN_PARSE_OK);
	assert_true(m.has_change_request);
	assert_int_equal(m.change_flags, STUN_CHANGE_IP | STUN_CHANGE_PORT);
	assert_true(m.has_response_port);
	assert_int_equal(m.response_port, 40000);
	assert_int_equal(stun_msg_find(&m, STUN_ATTR_PADDING)->len, 37);
	assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_RESPONSE_ORIGIN, &got), 0);
	assert_memory_equal(&got, &origin, sizeof(got));
	assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_OTHER_ADDRESS, &got), 0);
	assert_memory_equal(&got, &other, sizeof(got));
	assert_int_equal(m.nunknown, 0);
}

static void classic_rfc3489_round_trip(void **state)
{
	static const uint8_t txid16[STUN_CLASSIC_TXID_LEN] = {1, 2,  3,	 4,  5,	 6,  7,	 8,
							      9, 10, 11, 12, 13, 14, 15, 16};
	struct sockaddr_storage mapped, source, changed, got;
	struct stun_builder b;
	struct stun_msg m;
	uint8_t buf[256];
	int n;

	v4_addr(&mapped, "198.51.100.2", 40001);
	v4_addr(&source, "198.51.100.10", 3478);
	v4_addr(&changed, "198.51.100.11", 3479);
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, txid16,
			    true);
	stun_msg_build_addr(&b, STUN_ATTR_MAPPED_ADDRESS, (struct sockaddr *)&mapped);
	stun_msg_build_addr(&b, STUN_ATTR_SOURCE_ADDRESS, (struct sockaddr *)&source);
	stun_msg_build_addr(&b, STUN_ATTR_CHANGED_ADDRESS, (struct sockaddr *)&changed);
	n = stun_msg_build_finish(&b);
	assert_int_equal(n, STUN_HEADER_LEN + 3 * 12);
	assert_memory_equal(buf + 4, txid16, sizeof(txid16));
	/* without the classic flag, no cookie is an error */
	expect_result(buf, (size_t)n, 0, STUN_PARSE_BAD_COOKIE);
	assert_int_equal(stun_msg_parse(buf, (size_t)n, STUN_PARSE_ALLOW_CLASSIC, &m, NULL, 0),
			 STUN_PARSE_OK);
	assert_true(m.classic);
	assert_memory_equal(m.txid, txid16, sizeof(txid16));
	assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_MAPPED_ADDRESS, &got), 0);
	assert_memory_equal(&got, &mapped, sizeof(got));
	assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_SOURCE_ADDRESS, &got), 0);
	assert_memory_equal(&got, &source, sizeof(got));
	assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_CHANGED_ADDRESS, &got), 0);
	assert_memory_equal(&got, &changed, sizeof(got));
}

static void error_and_unknown_round_trip(void **state)
{
	static const uint16_t unknown[] = {0x0024, 0x0031, 0x7fff};
	struct stun_builder b;
	struct stun_msg m;
	char reason[64];
	uint8_t buf[256];
	const struct stun_attr *a;
	int n;

	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_ERROR,
			    rfc5769_txid, false);
	stun_msg_build_error(&b, 420, "Unknown Attribute");
	stun_msg_build_unknown(&b, unknown, 3);
	stun_msg_build_string(&b, STUN_ATTR_SOFTWARE, "natbed");
	n = stun_msg_build_finish(&b);
	assert_true(n > 0);
	assert_int_equal(parse(buf, (size_t)n, &m), STUN_PARSE_OK);
	assert_int_equal(m.cls, STUN_CLASS_ERROR);
	assert_int_equal(m.error_code, 420);
	assert_int_equal(stun_msg_get_error(&m, reason, sizeof(reason)), 420);
	assert_string_equal(reason, "Unknown Attribute");
	a = stun_msg_find(&m, STUN_ATTR_UNKNOWN_ATTRIBUTES);
	assert_non_null(a);
	assert_int_equal(a->len, 6);
	/* an error class out of 3..6 is malformed */
	buf[STUN_HEADER_LEN + 6] = 7;
	expect_result(buf, (size_t)n, 0, STUN_PARSE_ATTR_MALFORMED);
	/* and the builder refuses to write one */
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_ERROR,
			    rfc5769_txid, false);
	stun_msg_build_error(&b, 700, "no");
	assert_int_equal(stun_msg_build_finish(&b), -EINVAL);
}

static void integrity_sha256_round_trip(void **state)
{
	struct stun_builder b;
	struct stun_msg m;
	uint8_t buf[256];
	int n;

	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
			    rfc5769_txid, false);
	stun_msg_build_string(&b, STUN_ATTR_USERNAME, "alice");
	stun_msg_build_integrity(&b, false, pw(), 5);
	stun_msg_build_integrity(&b, true, pw(), 5);
	stun_msg_build_fingerprint(&b);
	n = stun_msg_build_finish(&b);
	assert_true(n > 0);
	assert_int_equal(parse(buf, (size_t)n, &m), STUN_PARSE_OK);
	assert_int_equal(stun_msg_check_integrity(&m, false, pw(), 5), 0);
	assert_int_equal(stun_msg_check_integrity(&m, true, pw(), 5), 0);
	assert_int_equal(stun_msg_check_integrity(&m, true, pw(), 6), -EBADMSG);
	/* flip one HMAC-SHA256 byte: SHA1 still good, SHA256 not, and the
	 * fingerprint catches it first */
	buf[n - 12] ^= 1;
	expect_result(buf, (size_t)n, 0, STUN_PARSE_BAD_FINGERPRINT);
}

/* HMAC contexts are kept per key (lib/stun.c): more keys than are kept,
 * both digests with the same key, a key longer than any kept, each asked
 * for again after the others: the same message gets the same MAC each
 * time, and it checks with its own key only. */
static int hmac_msg(uint8_t *buf, size_t cap, bool sha256, const uint8_t *key, size_t keylen)
{
	struct stun_builder b;

	stun_msg_build_init(&b, buf, cap, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, rfc5769_txid,
			    false);
	stun_msg_build_string(&b, STUN_ATTR_USERNAME, "alice");
	stun_msg_build_integrity(&b, sha256, key, keylen);
	return stun_msg_build_finish(&b);
}

static void integrity_keys_kept_apart(void **state)
{
	enum { KEYS = 21 };
	static uint8_t first[KEYS][2][128];
	uint8_t key[KEYS][100], buf[128];
	size_t len[KEYS];
	struct stun_msg m;
	int round, i, d, n;

	(void)state;
	for (i = 0; i < KEYS; i++) {
		len[i] = i == KEYS - 1 ? sizeof(key[i]) : (size_t)(1 + i % 5);
		memset(key[i], 'a' + i, len[i]);
	}
	for (round = 0; round < 3; round++)
		for (i = 0; i < KEYS; i++)
			for (d = 0; d < 2; d++) {
				n = hmac_msg(buf, sizeof(buf), d, key[i], len[i]);
				assert_true(n > 0 && n <= (int)sizeof(buf));
				if (round == 0)
					memcpy(first[i][d], buf, (size_t)n);
				else
					assert_memory_equal(first[i][d], buf, (size_t)n);
				assert_int_equal(parse(buf, (size_t)n, &m), STUN_PARSE_OK);
				assert_int_equal(stun_msg_check_integrity(&m, d, key[i], len[i]), 0);
				assert_int_equal(stun_msg_check_integrity(
						     &m, d, key[(i + 1) % KEYS], len[(i + 1) % KEYS]),
						 -EBADMSG);
			}
}

static void attrs_after_integrity_ignored(void **state)
{
	struct stun_builder b;
	struct stun_msg m;
	uint8_t buf[256];
	int n;

	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
			    rfc5769_txid, false);
	stun_msg_build_integrity(&b, false, pw(), 4);
	stun_msg_build_raw(&b, 0x0031, "x", 1); /* unknown, but after MI: ignored */
	stun_msg_build_fingerprint(&b);
	n = stun_msg_build_finish(&b);
	assert_int_equal(parse(buf, (size_t)n, &m), STUN_PARSE_OK);
	assert_int_equal(m.nunknown, 0);
	assert_null(stun_msg_find(&m, 0x0031));
	assert_true(m.has_fingerprint);
}

static void builder_bounds(void **state)
{
	uint8_t buf[64 + 8];
	struct stun_builder b;

	memset(buf, 0xAA, sizeof(buf));
	stun_msg_build_init(&b, buf, 64, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, rfc5769_txid,
			    false);
	stun_msg_build_string(&b, STUN_ATTR_SOFTWARE, "0123456789abcdef0123456789abcdef0123456789");
	assert_int_equal(stun_msg_build_finish(&b), -ENOSPC);
	stun_msg_build_fingerprint(&b); /* the error sticks; nothing more is written */
	assert_int_equal(stun_msg_build_finish(&b), -ENOSPC);
	for (size_t i = 64; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xAA);
	assert_int_equal(stun_msg_build_init(&b, buf, 19, STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
					     rfc5769_txid, false),
			 -ENOSPC);
	assert_int_equal(stun_msg_build_finish(&b), -ENOSPC);
	/* USERNAME longer than RFC 8489 allows */
	char user[STUN_MAX_USERNAME + 1];
	uint8_t big[1024];

	memset(user, 'u', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	stun_msg_build_init(&b, big, sizeof(big), STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
			    rfc5769_txid, false);
	stun_msg_build_string(&b, STUN_ATTR_USERNAME, user);
	assert_int_equal(stun_msg_build_finish(&b), -EINVAL);
}

static void parse_resets_msg(void **state)
{
	static const uint8_t bare[STUN_HEADER_LEN] = {
	    0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	struct stun_msg m;

	/* a message parsed into a dirty struct carries nothing over */
	memset(&m, 0xA5, sizeof(m));
	assert_int_equal(parse(bare, sizeof(bare), &m), STUN_PARSE_OK);
	assert_false(m.has_change_request);
	assert_int_equal(m.change_flags, 0);
	assert_false(m.has_response_port);
	assert_int_equal(m.response_port, 0);
	assert_int_equal(m.nattrs, 0);
	assert_int_equal(m.nunknown, 0);
	assert_int_equal(m.error_code, 0);
	assert_false(m.has_fingerprint);
	assert_int_equal(m.integrity_off, 0);
	assert_int_equal(m.integrity_sha256_off, 0);
}

static void message_type_bits(void **state)
{
	struct stun_builder b;
	struct stun_msg m;
	uint8_t buf[32];

	/* RFC 8489 §5: Binding success response is 0x0101, error 0x0111 */
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_ERROR,
			    rfc5769_txid, false);
	assert_int_equal(buf[0] << 8 | buf[1], 0x0111);
	stun_msg_build_init(&b, buf, sizeof(buf), 0x0FFF, STUN_CLASS_INDICATION, rfc5769_txid,
			    false);
	assert_int_equal(parse(buf, 20, &m), STUN_PARSE_OK);
	assert_int_equal(m.method, 0x0FFF);
	assert_int_equal(m.cls, STUN_CLASS_INDICATION);
}

/* Any attribute type may be XOR-encoded: the same bytes as RFC 5769's
 * XOR-MAPPED-ADDRESS under another type, and back. */
static void xor_addr_any_type(void **state)
{
	struct sockaddr_storage a, got;
	struct stun_builder b;
	struct stun_msg m;
	uint8_t buf[64];

	v4_addr(&a, "192.0.2.1", 32853);
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS,
			    rfc5769_txid, false);
	stun_msg_build_xor_addr(&b, 0xC0E2, (const struct sockaddr *)&a);
	stun_msg_build_addr(&b, 0xC0E3, (const struct sockaddr *)&a);
	assert_int_equal(stun_msg_build_finish(&b), 20 + 12 + 12);
	/* the value is the vector's XOR-MAPPED-ADDRESS value */
	assert_memory_equal(buf + 24, rfc5769_response_v4 + 40, 8);
	assert_int_equal(parse(buf, 44, &m), STUN_PARSE_OK);
	assert_int_equal(stun_msg_get_xor_addr(&m, 0xC0E2, &got), 0);
	assert_memory_equal(&got, &a, sizeof(got));
	/* the plain one reads back only as plain */
	assert_int_equal(stun_msg_get_addr(&m, 0xC0E3, &got), 0);
	assert_memory_equal(&got, &a, sizeof(got));
	assert_int_equal(stun_msg_get_xor_addr(&m, 0xC0E3, &got), 0);
	assert_memory_not_equal(&got, &a, sizeof(got));
	assert_int_equal(stun_msg_get_xor_addr(&m, 0xC0E4, &got), -ENOENT);
}

/* CRC-32 (ISO-HDLC) a bit at a time: nothing to share with lib/stun.c's. */
static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
	}
	return c ^ 0xFFFFFFFFu;
}

/* RFC 8489 §14.7: FINGERPRINT is the CRC-32 of the message before it, XOR
 * 0x5354554e, for every length (the tables, and carry-less multiplication
 * where the CPU has it, 16 bytes a step), and the parse accepts it. */
static void fingerprint_every_length(void **state)
{
	static const uint8_t txid[STUN_TXID_LEN] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
	uint8_t buf[512], value[300];
	uint64_t lcg = 5;
	struct stun_builder b;
	struct stun_msg m;
	size_t len, fp;

	(void)state;
	for (int round = 0; round < 3; round++)
		for (size_t n = 0; n <= sizeof(value) - 4; n += 4) {
			for (size_t i = 0; i < n; i++) {
				lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
				value[i] = round == 0	? 0
					   : round == 1 ? 0xFF
							: (uint8_t)(lcg >> 56);
			}
			assert_int_equal(stun_msg_build_init(&b, buf, sizeof(buf),
							     STUN_METHOD_BINDING,
							     STUN_CLASS_REQUEST, txid, false),
					 0);
			if (n)
				assert_int_equal(stun_msg_build_raw(&b, 0x8030, value, n - 4), 0);
			assert_int_equal(stun_msg_build_fingerprint(&b), 0);
			len = (size_t)stun_msg_build_finish(&b);
			fp = len - 8;
			assert_int_equal((uint32_t)buf[fp + 4] << 24 | (uint32_t)buf[fp + 5] << 16 |
					     (uint32_t)buf[fp + 6] << 8 | buf[fp + 7],
					 crc_bitwise(buf, fp) ^ 0x5354554eu);
			assert_int_equal(stun_msg_parse(buf, len, 0, &m, NULL, 0), STUN_PARSE_OK);
			buf[fp - 1] ^= 1; /* one bit off: refused */
			assert_int_not_equal(stun_msg_parse(buf, len, 0, &m, NULL, 0),
					     STUN_PARSE_OK);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(fingerprint_every_length),
	    cmocka_unit_test(rfc5769_request_parses),
	    cmocka_unit_test(rfc5769_response_v4_parses),
	    cmocka_unit_test(rfc5769_response_v6_parses),
	    cmocka_unit_test(rfc5769_long_term_parses),
	    cmocka_unit_test(rfc5769_request_builds),
	    cmocka_unit_test(rfc5769_response_v4_builds),
	    cmocka_unit_test(rfc5769_response_v6_builds),
	    cmocka_unit_test(rfc5769_long_term_builds),
	    cmocka_unit_test(err_too_short),
	    cmocka_unit_test(err_top_bits),
	    cmocka_unit_test(err_bad_cookie),
	    cmocka_unit_test(err_length_align),
	    cmocka_unit_test(err_length_overrun),
	    cmocka_unit_test(err_trailing_bytes),
	    cmocka_unit_test(err_attr_truncated),
	    cmocka_unit_test(err_attr_padding),
	    cmocka_unit_test(err_attr_malformed),
	    cmocka_unit_test(err_after_fingerprint),
	    cmocka_unit_test(err_bad_fingerprint),
	    cmocka_unit_test(err_too_many_attrs),
	    cmocka_unit_test(err_every_result_named),
	    cmocka_unit_test(rfc5780_attrs_round_trip),
	    cmocka_unit_test(classic_rfc3489_round_trip),
	    cmocka_unit_test(error_and_unknown_round_trip),
	    cmocka_unit_test(integrity_sha256_round_trip),
	    cmocka_unit_test(integrity_keys_kept_apart),
	    cmocka_unit_test(attrs_after_integrity_ignored),
	    cmocka_unit_test(builder_bounds),
	    cmocka_unit_test(parse_resets_msg),
	    cmocka_unit_test(message_type_bits),
	    cmocka_unit_test(xor_addr_any_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
