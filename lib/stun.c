/* STUN codec: RFC 8489, RFC 5780 attributes, classic RFC 3489 messages. */
#include "natbed/stun.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define STUN_FAMILY_IPV4 0x01
#define STUN_FAMILY_IPV6 0x02
#define STUN_MAX_BODY	 0xFFFFu /* the 16-bit message length field */
#define STUN_MAX_TEXT	 763	 /* RFC 8489 §14.9/§14.10: REALM, NONCE, SOFTWARE */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* CRC-32 (ISO-HDLC, as in zlib) with a 16-entry table, one nibble a step. */
static uint32_t stun_crc32(const uint8_t *p, size_t n)
{
	static const uint32_t tab[16] = {
	    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
	    0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
	    0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
	};
	uint32_t c = 0xFFFFFFFFu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		c = (c >> 4) ^ tab[c & 0xF];
		c = (c >> 4) ^ tab[c & 0xF];
	}
	return c ^ 0xFFFFFFFFu;
}

/* HMAC over hdr[0..20) then body[0..bodylen), with the named digest. */
static int stun_hmac(const char *digest, const uint8_t *key, size_t keylen, const uint8_t *hdr,
		     const uint8_t *body, size_t bodylen, uint8_t *out, size_t outcap)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2];
	size_t outlen = 0;
	int ret = -EIO;

	if (!ctx)
		goto cleanup;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(ctx, key, keylen, params) || !EVP_MAC_update(ctx, hdr, STUN_HEADER_LEN) ||
	    !EVP_MAC_update(ctx, body, bodylen) || !EVP_MAC_final(ctx, out, &outlen, outcap))
		goto cleanup;
	ret = (int)outlen;
cleanup:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ret;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *stun_parse_result_name(enum stun_parse_result r)
{
	static const char *const names[STUN_PARSE_RESULT_COUNT] = {
	    [STUN_PARSE_OK] = "ok",
	    [STUN_PARSE_TOO_SHORT] = "too_short",
	    [STUN_PARSE_TOP_BITS] = "top_bits",
	    [STUN_PARSE_BAD_COOKIE] = "bad_cookie",
	    [STUN_PARSE_LENGTH_ALIGN] = "length_align",
	    [STUN_PARSE_LENGTH_OVERRUN] = "length_overrun",
	    [STUN_PARSE_TRAILING_BYTES] = "trailing_bytes",
	    [STUN_PARSE_ATTR_TRUNCATED] = "attr_truncated",
	    [STUN_PARSE_ATTR_MALFORMED] = "attr_malformed",
	    [STUN_PARSE_AFTER_FINGERPRINT] = "after_fingerprint",
	    [STUN_PARSE_BAD_FINGERPRINT] = "bad_fingerprint",
	    [STUN_PARSE_TOO_MANY_ATTRS] = "too_many_attrs",
	};

	if ((unsigned)r >= STUN_PARSE_RESULT_COUNT)
		return "unknown";
	return names[r];
}

/* RFC 8489 §14.1/§14.2, RFC 5780 §7.3/§7.4, RFC 3489 §11.2.1: an address
 * value is 0, family, port, then 4 (IPv4) or 16 (IPv6) address bytes. */
static bool addr_value_ok(const uint8_t *v, size_t len)
{
	if (len < 4)
		return false;
	if (v[1] == STUN_FAMILY_IPV4)
		return len == 8;
	if (v[1] == STUN_FAMILY_IPV6)
		return len == 20;
	return false;
}

/* RFC 8489 §14.8: 21 reserved bits, class 3..6, number 0..99, reason. */
static bool error_value_ok(const uint8_t *v, size_t len)
{
	unsigned cls, num;

	if (len < 4 || len - 4 > STUN_MAX_REASON)
		return false;
	cls = v[2] & 0x07;
	num = v[3];
	return cls >= 3 && cls <= 6 && num <= 99;
}

/* Checks one known attribute's value; fills the decoded fields of msg.
 * Returns false when the value is malformed. Unknown types return true. */
static bool attr_check(struct stun_msg *msg, uint16_t type, const uint8_t *v, size_t len)
{
	switch (type) {
	case STUN_ATTR_MAPPED_ADDRESS:
	case STUN_ATTR_RESPONSE_ADDRESS:
	case STUN_ATTR_SOURCE_ADDRESS:
	case STUN_ATTR_CHANGED_ADDRESS:
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
	case STUN_ATTR_RESPONSE_ORIGIN:
	case STUN_ATTR_OTHER_ADDRESS:
	case STUN_ATTR_XOR_PEER_ADDRESS:
	case STUN_ATTR_XOR_RELAYED_ADDRESS:
		return addr_value_ok(v, len);
	/* RFC 8656 §18 */
	case STUN_ATTR_CHANNEL_NUMBER:
	case STUN_ATTR_LIFETIME:
	case STUN_ATTR_REQUESTED_TRANSPORT:
		return len == 4;
	case STUN_ATTR_DATA:
		return true;
	case STUN_ATTR_EVEN_PORT:
		return len == 1;
	case STUN_ATTR_DONT_FRAGMENT:
		return len == 0;
	case STUN_ATTR_RESERVATION_TOKEN:
		return len == 8;
	case STUN_ATTR_USERNAME:
		return len < STUN_MAX_USERNAME;
	case STUN_ATTR_REALM:
	case STUN_ATTR_NONCE:
	case STUN_ATTR_SOFTWARE:
		return len < STUN_MAX_TEXT;
	case STUN_ATTR_ERROR_CODE:
		if (!error_value_ok(v, len))
			return false;
		msg->error_code = (v[2] & 0x07) * 100 + v[3];
		return true;
	case STUN_ATTR_UNKNOWN_ATTRIBUTES:
		return len % 2 == 0;
	case STUN_ATTR_MESSAGE_INTEGRITY:
		return len == STUN_HMAC_SHA1_LEN;
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
		/* RFC 8489 §14.6: 16..32 bytes, a multiple of 4 */
		return len >= 16 && len <= STUN_HMAC_SHA256_LEN && len % 4 == 0;
	case STUN_ATTR_FINGERPRINT:
		return len == 4;
	case STUN_ATTR_CHANGE_REQUEST:
		/* RFC 5780 §7.2: 32 bits; only flags A and B mean anything */
		if (len != 4)
			return false;
		msg->has_change_request = true;
		msg->change_flags = rd32(v) & (STUN_CHANGE_IP | STUN_CHANGE_PORT);
		return true;
	case STUN_ATTR_RESPONSE_PORT:
		/* RFC 5780 §7.5: a 16-bit port, padded to 4 */
		if (len != 2 && len != 4)
			return false;
		msg->has_response_port = true;
		msg->response_port = rd16(v);
		return true;
	case STUN_ATTR_PADDING:
		return true;
	default:
		/* RFC 8489 §15: 0x0000-0x7FFF are comprehension-required */
		if (type < 0x8000 && msg->nunknown < STUN_MAX_UNKNOWN)
			msg->unknown[msg->nunknown++] = type;
		return true;
	}
}

/* RFC 8489 §5: M11..M7 C1 M6..M4 C0 M3..M0 */
static void decode_type(struct stun_msg *msg, uint16_t type)
{
	msg->type = type;
	msg->method = (uint16_t)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
	msg->cls = (enum stun_class)(((type >> 4) & 1) | ((type >> 7) & 2));
}

static uint16_t encode_type(uint16_t method, enum stun_class cls)
{
	return (uint16_t)((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) |
			  ((cls & 1) << 4) | ((cls & 2) << 7));
}

/* RFC 8489 §14.7: CRC-32 of the message up to FINGERPRINT, XOR 0x5354554e. */
static bool fingerprint_ok(const uint8_t *buf, size_t fp_off)
{
	return (stun_crc32(buf, fp_off) ^ STUN_FINGERPRINT_XOR) ==
	       rd32(buf + fp_off + STUN_ATTR_HEADER_LEN);
}

/* Walks the attributes of msg; the header is already checked. */
static enum stun_parse_result parse_attrs(struct stun_msg *msg, char *err, size_t errlen)
{
	const uint8_t *buf = msg->buf;
	size_t off = STUN_HEADER_LEN, end = msg->len;
	bool after_integrity = false;

	while (off < end) {
		uint16_t type, alen;

		/* RFC 8489 §14: each attribute within the message. The header
		 * always fits and so does the padding to 4 (§14): the length is a
		 * multiple of 4 (checked in stun_msg_parse) and every attribute
		 * before this one took a multiple of 4, so end - off >= 4 here and
		 * alen <= end - off - 4 implies pad4(alen) <= end - off - 4. */
		type = rd16(buf + off);
		alen = rd16(buf + off + 2);
		if (alen > end - off - STUN_ATTR_HEADER_LEN) {
			set_err(err, errlen,
				"stun: attribute 0x%04x at %zu: length %u past the end", type, off,
				alen);
			return STUN_PARSE_ATTR_TRUNCATED;
		}
		/* RFC 8489 §14.7: FINGERPRINT is the last attribute */
		if (msg->has_fingerprint) {
			set_err(err, errlen, "stun: attribute 0x%04x at %zu after FINGERPRINT",
				type, off);
			return STUN_PARSE_AFTER_FINGERPRINT;
		}
		/* RFC 8489 §14.5/§14.6: after MESSAGE-INTEGRITY only MI-SHA256 and
		 * FINGERPRINT count; other attributes are ignored */
		if (!after_integrity || type == STUN_ATTR_FINGERPRINT ||
		    (type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 && !msg->integrity_sha256_off)) {
			if (msg->nattrs == STUN_MAX_ATTRS) {
				set_err(err, errlen, "stun: more than %d attributes",
					STUN_MAX_ATTRS);
				return STUN_PARSE_TOO_MANY_ATTRS;
			}
			if (!attr_check(msg, type, buf + off + STUN_ATTR_HEADER_LEN, alen)) {
				set_err(err, errlen,
					"stun: attribute 0x%04x at %zu: bad value of %u bytes",
					type, off, alen);
				return STUN_PARSE_ATTR_MALFORMED;
			}
			msg->attrs[msg->nattrs++] =
			    (struct stun_attr){type, alen, (uint16_t)(off + STUN_ATTR_HEADER_LEN)};
			if (type == STUN_ATTR_MESSAGE_INTEGRITY && !after_integrity) {
				msg->integrity_off = (uint16_t)off;
				after_integrity = true;
			} else if (type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256) {
				msg->integrity_sha256_off = (uint16_t)off;
				after_integrity = true;
			} else if (type == STUN_ATTR_FINGERPRINT) {
				if (!fingerprint_ok(buf, off)) {
					set_err(err, errlen, "stun: FINGERPRINT does not match");
					return STUN_PARSE_BAD_FINGERPRINT;
				}
				msg->has_fingerprint = true;
			}
		}
		off += STUN_ATTR_HEADER_LEN + pad4(alen);
	}
	return STUN_PARSE_OK;
}

enum stun_parse_result stun_msg_parse(const uint8_t *buf, size_t len, unsigned flags,
				      struct stun_msg *msg, char *err, size_t errlen)
{
	size_t mlen;

	msg->buf = buf;
	msg->len = 0;
	msg->type = 0;
	msg->method = 0;
	msg->cls = STUN_CLASS_REQUEST;
	msg->nattrs = 0;
	msg->nunknown = 0;
	msg->has_change_request = false;
	msg->change_flags = 0;
	msg->has_response_port = false;
	msg->response_port = 0;
	msg->has_fingerprint = false;
	msg->error_code = 0;
	msg->integrity_off = 0;
	msg->integrity_sha256_off = 0;
	msg->classic = false;
	if (len < STUN_HEADER_LEN) {
		set_err(err, errlen, "stun: %zu bytes, shorter than a header", len);
		return STUN_PARSE_TOO_SHORT;
	}
	/* RFC 8489 §6.3: the most significant 2 bits of every STUN message are 0 */
	if (buf[0] & 0xC0) {
		set_err(err, errlen, "stun: first two bits not zero (0x%02x)", buf[0]);
		return STUN_PARSE_TOP_BITS;
	}
	/* RFC 8489 §6.3: the magic cookie field has the right value;
	 * RFC 8489 §12 / RFC 3489: without it, a classic message */
	if (rd32(buf + 4) != STUN_MAGIC_COOKIE) {
		if (!(flags & STUN_PARSE_ALLOW_CLASSIC)) {
			set_err(err, errlen, "stun: no magic cookie (0x%08x)", rd32(buf + 4));
			return STUN_PARSE_BAD_COOKIE;
		}
		msg->classic = true;
	}
	/* RFC 8489 §6.3: the message length is sane: a multiple of 4 ... */
	mlen = rd16(buf + 2);
	if (mlen % 4) {
		set_err(err, errlen, "stun: length %zu not a multiple of 4", mlen);
		return STUN_PARSE_LENGTH_ALIGN;
	}
	/* ... and within the datagram, one message per datagram (§6.2.1) */
	if (mlen > len - STUN_HEADER_LEN) {
		set_err(err, errlen, "stun: length %zu past the %zu-byte datagram", mlen, len);
		return STUN_PARSE_LENGTH_OVERRUN;
	}
	if (mlen < len - STUN_HEADER_LEN) {
		set_err(err, errlen, "stun: %zu bytes after the %zu-byte message", len - mlen - 20,
			mlen + 20);
		return STUN_PARSE_TRAILING_BYTES;
	}
	msg->len = STUN_HEADER_LEN + mlen;
	decode_type(msg, rd16(buf));
	if (msg->classic)
		memcpy(msg->txid, buf + 4, STUN_CLASSIC_TXID_LEN);
	else
		memcpy(msg->txid, buf + 8, STUN_TXID_LEN);
	return parse_attrs(msg, err, errlen);
}

const struct stun_attr *stun_msg_find(const struct stun_msg *msg, uint16_t type)
{
	for (size_t i = 0; i < msg->nattrs; i++)
		if (msg->attrs[i].type == type)
			return &msg->attrs[i];
	return NULL;
}

const uint8_t *stun_attr_value(const struct stun_msg *msg, const struct stun_attr *attr)
{
	return msg->buf + attr->off;
}

static bool addr_type_is_xor(uint16_t type)
{
	return type == STUN_ATTR_XOR_MAPPED_ADDRESS || type == STUN_ATTR_XOR_PEER_ADDRESS ||
	       type == STUN_ATTR_XOR_RELAYED_ADDRESS;
}

static int get_addr(const struct stun_msg *msg, uint16_t type, bool x, struct sockaddr_storage *sa)
{
	const struct stun_attr *a = stun_msg_find(msg, type);
	const uint8_t *v, *mask = msg->buf + 4; /* cookie then txid: §14.2 */
	uint16_t port;

	if (!a)
		return -ENOENT;
	v = stun_attr_value(msg, a);
	if (!addr_value_ok(v, a->len))
		return -EINVAL;
	port = rd16(v + 2) ^ (x ? (uint16_t)(STUN_MAGIC_COOKIE >> 16) : 0);
	memset(sa, 0, sizeof(*sa));
	if (v[1] == STUN_FAMILY_IPV4) {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;
		uint8_t *d = (uint8_t *)&in->sin_addr;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		for (int i = 0; i < 4; i++)
			d[i] = v[4 + i] ^ (x ? mask[i] : 0);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
		uint8_t *d = (uint8_t *)&in6->sin6_addr;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		for (int i = 0; i < 16; i++)
			d[i] = v[4 + i] ^ (x ? mask[i] : 0);
	}
	return 0;
}

int stun_msg_get_addr(const struct stun_msg *msg, uint16_t type, struct sockaddr_storage *sa)
{
	return get_addr(msg, type, addr_type_is_xor(type), sa);
}

int stun_msg_get_xor_addr(const struct stun_msg *msg, uint16_t type, struct sockaddr_storage *sa)
{
	return get_addr(msg, type, true, sa);
}

int stun_msg_get_error(const struct stun_msg *msg, char *reason, size_t reasonlen)
{
	const struct stun_attr *a = stun_msg_find(msg, STUN_ATTR_ERROR_CODE);
	const uint8_t *v;
	size_t n;

	if (!a || !error_value_ok(stun_attr_value(msg, a), a->len))
		return -ENOENT;
	v = stun_attr_value(msg, a);
	if (reason && reasonlen) {
		n = a->len - 4u < reasonlen - 1 ? a->len - 4u : reasonlen - 1;
		memcpy(reason, v + 4, n);
		reason[n] = '\0';
	}
	return (v[2] & 0x07) * 100 + v[3];
}

int stun_msg_check_integrity(const struct stun_msg *msg, bool sha256, const uint8_t *key,
			     size_t keylen)
{
	size_t off = sha256 ? msg->integrity_sha256_off : msg->integrity_off;
	uint8_t hdr[STUN_HEADER_LEN], mac[EVP_MAX_MD_SIZE];
	const struct stun_attr *a = NULL;
	int n;

	if (!off)
		return -ENOENT;
	for (size_t i = 0; i < msg->nattrs; i++)
		if (msg->attrs[i].off == off + STUN_ATTR_HEADER_LEN)
			a = &msg->attrs[i];
	if (!a)
		return -ENOENT;
	/* RFC 8489 §14.5: the length field covers up to the end of this
	 * attribute while the HMAC is computed */
	memcpy(hdr, msg->buf, STUN_HEADER_LEN);
	wr16(hdr + 2, (uint16_t)(off + STUN_ATTR_HEADER_LEN + a->len - STUN_HEADER_LEN));
	n = stun_hmac(sha256 ? "SHA256" : "SHA1", key, keylen, hdr, msg->buf + STUN_HEADER_LEN,
		      off - STUN_HEADER_LEN, mac, sizeof(mac));
	if (n < (int)a->len)
		return -EIO;
	/* RFC 8489 §14.6: a truncated MI-SHA256 compares its leading bytes */
	if (CRYPTO_memcmp(mac, msg->buf + off + STUN_ATTR_HEADER_LEN, a->len) != 0)
		return -EBADMSG;
	return 0;
}

int stun_long_term_key(const char *username, const char *realm, const char *password,
		       uint8_t key[STUN_MD5_LEN])
{
	char in[STUN_MAX_USERNAME + STUN_MAX_TEXT + 512 + 3];
	unsigned int n = 0;
	int len;

	len = snprintf(in, sizeof(in), "%s:%s:%s", username, realm, password);
	if (len < 0 || (size_t)len >= sizeof(in))
		return -EINVAL;
	if (!EVP_Digest(in, (size_t)len, key, &n, EVP_md5(), NULL) || n != STUN_MD5_LEN)
		return -EIO;
	return 0;
}

/* ---- builder ---- */

static void build_set_length(struct stun_builder *b, size_t body)
{
	wr16(b->buf + 2, (uint16_t)body);
}

/* Reserves an attribute of type with room for len value bytes and its
 * padding; returns the value's position or NULL (and records the error). */
static uint8_t *build_reserve(struct stun_builder *b, uint16_t type, size_t len)
{
	size_t need = STUN_ATTR_HEADER_LEN + pad4(len);
	uint8_t *p;

	if (b->err)
		return NULL;
	if (len > STUN_MAX_BODY || b->len - STUN_HEADER_LEN + need > STUN_MAX_BODY) {
		b->err = -EINVAL;
		return NULL;
	}
	if (need > b->cap - b->len) {
		b->err = -ENOSPC;
		return NULL;
	}
	p = b->buf + b->len;
	wr16(p, type);
	wr16(p + 2, (uint16_t)len);
	memset(p + STUN_ATTR_HEADER_LEN + len, b->pad_byte, pad4(len) - len);
	b->len += need;
	build_set_length(b, b->len - STUN_HEADER_LEN);
	return p + STUN_ATTR_HEADER_LEN;
}

int stun_msg_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
			enum stun_class cls, const uint8_t *txid, bool classic)
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->err = 0;
	b->classic = classic;
	b->pad_byte = 0;
	if (!buf || cap < STUN_HEADER_LEN) {
		b->err = -ENOSPC;
		return b->err;
	}
	if (method > 0x0FFF) {
		b->err = -EINVAL;
		return b->err;
	}
	wr16(buf, encode_type(method, cls));
	wr16(buf + 2, 0);
	if (classic) {
		memcpy(buf + 4, txid, STUN_CLASSIC_TXID_LEN);
	} else {
		wr32(buf + 4, STUN_MAGIC_COOKIE);
		memcpy(buf + 8, txid, STUN_TXID_LEN);
	}
	b->len = STUN_HEADER_LEN;
	return 0;
}

void stun_msg_build_set_pad(struct stun_builder *b, uint8_t pad_byte)
{
	b->pad_byte = pad_byte;
}

int stun_msg_build_raw(struct stun_builder *b, uint16_t type, const void *value, size_t len)
{
	uint8_t *p = build_reserve(b, type, len);

	if (!p)
		return b->err;
	if (len)
		memcpy(p, value, len);
	return 0;
}

int stun_msg_build_string(struct stun_builder *b, uint16_t type, const char *s)
{
	size_t len = strlen(s);
	size_t max = type == STUN_ATTR_USERNAME ? STUN_MAX_USERNAME : STUN_MAX_TEXT;

	/* RFC 8489 §14.3, §14.9, §14.10, §14.14: length limits */
	if (len >= max && !b->err)
		b->err = -EINVAL;
	return stun_msg_build_raw(b, type, s, len);
}

static int build_addr(struct stun_builder *b, uint16_t type, bool x, const struct sockaddr *sa)
{
	const uint8_t *src, *mask = b->buf + 4;
	size_t alen;
	uint16_t port;
	uint8_t *p;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		src = (const uint8_t *)&in->sin_addr;
		port = ntohs(in->sin_port);
		alen = 4;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		src = (const uint8_t *)&in6->sin6_addr;
		port = ntohs(in6->sin6_port);
		alen = 16;
	} else {
		if (!b->err)
			b->err = -EINVAL;
		return b->err;
	}
	p = build_reserve(b, type, 4 + alen);
	if (!p)
		return b->err;
	/* RFC 8489 §14.2: X-Port is port XOR the cookie's top 16 bits; X-Address
	 * is the address XOR the cookie (IPv4) or cookie || txid (IPv6) */
	p[0] = 0;
	p[1] = alen == 4 ? STUN_FAMILY_IPV4 : STUN_FAMILY_IPV6;
	wr16(p + 2, port ^ (x ? (uint16_t)(STUN_MAGIC_COOKIE >> 16) : 0));
	for (size_t i = 0; i < alen; i++)
		p[4 + i] = src[i] ^ (x ? mask[i] : 0);
	return 0;
}

int stun_msg_build_addr(struct stun_builder *b, uint16_t type, const struct sockaddr *sa)
{
	return build_addr(b, type, addr_type_is_xor(type), sa);
}

int stun_msg_build_xor_addr(struct stun_builder *b, uint16_t type, const struct sockaddr *sa)
{
	return build_addr(b, type, true, sa);
}

int stun_msg_build_error(struct stun_builder *b, int code, const char *reason)
{
	size_t rlen = strlen(reason);
	uint8_t *p;

	if ((code < 300 || code > 699 || rlen >= STUN_MAX_REASON) && !b->err)
		b->err = -EINVAL;
	p = build_reserve(b, STUN_ATTR_ERROR_CODE, 4 + rlen);
	if (!p)
		return b->err;
	/* RFC 8489 §14.8: 21 zero bits, class (hundreds), number (0..99) */
	p[0] = 0;
	p[1] = 0;
	p[2] = (uint8_t)(code / 100);
	p[3] = (uint8_t)(code % 100);
	memcpy(p + 4, reason, rlen);
	return 0;
}

int stun_msg_build_unknown(struct stun_builder *b, const uint16_t *types, size_t n)
{
	uint8_t *p = build_reserve(b, STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n);

	if (!p)
		return b->err;
	for (size_t i = 0; i < n; i++)
		wr16(p + 2 * i, types[i]);
	return 0;
}

int stun_msg_build_change_request(struct stun_builder *b, uint32_t flags)
{
	uint8_t *p = build_reserve(b, STUN_ATTR_CHANGE_REQUEST, 4);

	if (!p)
		return b->err;
	wr32(p, flags);
	return 0;
}

int stun_msg_build_response_port(struct stun_builder *b, uint16_t port)
{
	uint8_t *p = build_reserve(b, STUN_ATTR_RESPONSE_PORT, 4);

	if (!p)
		return b->err;
	wr16(p, port);
	wr16(p + 2, 0);
	return 0;
}

int stun_msg_build_padding(struct stun_builder *b, size_t len)
{
	uint8_t *p = build_reserve(b, STUN_ATTR_PADDING, len);

	if (!p)
		return b->err;
	memset(p, 0, len);
	return 0;
}

int stun_msg_build_integrity(struct stun_builder *b, bool sha256, const uint8_t *key, size_t keylen)
{
	size_t mlen = sha256 ? STUN_HMAC_SHA256_LEN : STUN_HMAC_SHA1_LEN;
	size_t start = b->len;
	uint8_t mac[EVP_MAX_MD_SIZE];
	uint8_t *p;
	int n;

	/* RFC 8489 §14.5: the length field counts this attribute while hashing */
	p = build_reserve(
	    b, sha256 ? STUN_ATTR_MESSAGE_INTEGRITY_SHA256 : STUN_ATTR_MESSAGE_INTEGRITY, mlen);
	if (!p)
		return b->err;
	n = stun_hmac(sha256 ? "SHA256" : "SHA1", key, keylen, b->buf, b->buf + STUN_HEADER_LEN,
		      start - STUN_HEADER_LEN, mac, sizeof(mac));
	if (n != (int)mlen) {
		b->err = -EIO;
		return b->err;
	}
	memcpy(p, mac, mlen);
	return 0;
}

int stun_msg_build_fingerprint(struct stun_builder *b)
{
	size_t start = b->len;
	uint8_t *p = build_reserve(b, STUN_ATTR_FINGERPRINT, 4);

	if (!p)
		return b->err;
	/* RFC 8489 §14.7: CRC-32 up to this attribute, length counting it */
	wr32(p, stun_crc32(b->buf, start) ^ STUN_FINGERPRINT_XOR);
	return 0;
}

int stun_msg_build_finish(struct stun_builder *b)
{
	if (b->err)
		return b->err;
	return (int)b->len;
}
