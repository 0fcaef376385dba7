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

/* CRC-32 (ISO-HDLC, as in zlib: reflected polynomial 0xEDB88320), eight
 * bytes a step ("slicing by 8"): every STUN message a simulation sends is
 * fingerprinted and checked, so this is on its hot path. stun_crc_tab0 is
 * the byte table; table k gives the CRC of a byte followed by k zero
 * bytes, built from it once, before main() runs (and any thread). */
static const uint32_t stun_crc_tab0[256] = {
    0x00000000, 0x77073096, 0xee0e612c, 0x990951ba, 0x076dc419, 0x706af48f, 0xe963a535, 0x9e6495a3,
    0x0edb8832, 0x79dcb8a4, 0xe0d5e91e, 0x97d2d988, 0x09b64c2b, 0x7eb17cbd, 0xe7b82d07, 0x90bf1d91,
    0x1db71064, 0x6ab020f2, 0xf3b97148, 0x84be41de, 0x1adad47d, 0x6ddde4eb, 0xf4d4b551, 0x83d385c7,
    0x136c9856, 0x646ba8c0, 0xfd62f97a, 0x8a65c9ec, 0x14015c4f, 0x63066cd9, 0xfa0f3d63, 0x8d080df5,
    0x3b6e20c8, 0x4c69105e, 0xd56041e4, 0xa2677172, 0x3c03e4d1, 0x4b04d447, 0xd20d85fd, 0xa50ab56b,
    0x35b5a8fa, 0x42b2986c, 0xdbbbc9d6, 0xacbcf940, 0x32d86ce3, 0x45df5c75, 0xdcd60dcf, 0xabd13d59,
    0x26d930ac, 0x51de003a, 0xc8d75180, 0xbfd06116, 0x21b4f4b5, 0x56b3c423, 0xcfba9599, 0xb8bda50f,
    0x2802b89e, 0x5f058808, 0xc60cd9b2, 0xb10be924, 0x2f6f7c87, 0x58684c11, 0xc1611dab, 0xb6662d3d,
    0x76dc4190, 0x01db7106, 0x98d220bc, 0xefd5102a, 0x71b18589, 0x06b6b51f, 0x9fbfe4a5, 0xe8b8d433,
    0x7807c9a2, 0x0f00f934, 0x9609a88e, 0xe10e9818, 0x7f6a0dbb, 0x086d3d2d, 0x91646c97, 0xe6635c01,
    0x6b6b51f4, 0x1c6c6162, 0x856530d8, 0xf262004e, 0x6c0695ed, 0x1b01a57b, 0x8208f4c1, 0xf50fc457,
    0x65b0d9c6, 0x12b7e950, 0x8bbeb8ea, 0xfcb9887c, 0x62dd1ddf, 0x15da2d49, 0x8cd37cf3, 0xfbd44c65,
    0x4db26158, 0x3ab551ce, 0xa3bc0074, 0xd4bb30e2, 0x4adfa541, 0x3dd895d7, 0xa4d1c46d, 0xd3d6f4fb,
    0x4369e96a, 0x346ed9fc, 0xad678846, 0xda60b8d0, 0x44042d73, 0x33031de5, 0xaa0a4c5f, 0xdd0d7cc9,
    0x5005713c, 0x270241aa, 0xbe0b1010, 0xc90c2086, 0x5768b525, 0x206f85b3, 0xb966d409, 0xce61e49f,
    0x5edef90e, 0x29d9c998, 0xb0d09822, 0xc7d7a8b4, 0x59b33d17, 0x2eb40d81, 0xb7bd5c3b, 0xc0ba6cad,
    0xedb88320, 0x9abfb3b6, 0x03b6e20c, 0x74b1d29a, 0xead54739, 0x9dd277af, 0x04db2615, 0x73dc1683,
    0xe3630b12, 0x94643b84, 0x0d6d6a3e, 0x7a6a5aa8, 0xe40ecf0b, 0x9309ff9d, 0x0a00ae27, 0x7d079eb1,
    0xf00f9344, 0x8708a3d2, 0x1e01f268, 0x6906c2fe, 0xf762575d, 0x806567cb, 0x196c3671, 0x6e6b06e7,
    0xfed41b76, 0x89d32be0, 0x10da7a5a, 0x67dd4acc, 0xf9b9df6f, 0x8ebeeff9, 0x17b7be43, 0x60b08ed5,
    0xd6d6a3e8, 0xa1d1937e, 0x38d8c2c4, 0x4fdff252, 0xd1bb67f1, 0xa6bc5767, 0x3fb506dd, 0x48b2364b,
    0xd80d2bda, 0xaf0a1b4c, 0x36034af6, 0x41047a60, 0xdf60efc3, 0xa867df55, 0x316e8eef, 0x4669be79,
    0xcb61b38c, 0xbc66831a, 0x256fd2a0, 0x5268e236, 0xcc0c7795, 0xbb0b4703, 0x220216b9, 0x5505262f,
    0xc5ba3bbe, 0xb2bd0b28, 0x2bb45a92, 0x5cb36a04, 0xc2d7ffa7, 0xb5d0cf31, 0x2cd99e8b, 0x5bdeae1d,
    0x9b64c2b0, 0xec63f226, 0x756aa39c, 0x026d930a, 0x9c0906a9, 0xeb0e363f, 0x72076785, 0x05005713,
    0x95bf4a82, 0xe2b87a14, 0x7bb12bae, 0x0cb61b38, 0x92d28e9b, 0xe5d5be0d, 0x7cdcefb7, 0x0bdbdf21,
    0x86d3d2d4, 0xf1d4e242, 0x68ddb3f8, 0x1fda836e, 0x81be16cd, 0xf6b9265b, 0x6fb077e1, 0x18b74777,
    0x88085ae6, 0xff0f6a70, 0x66063bca, 0x11010b5c, 0x8f659eff, 0xf862ae69, 0x616bffd3, 0x166ccf45,
    0xa00ae278, 0xd70dd2ee, 0x4e048354, 0x3903b3c2, 0xa7672661, 0xd06016f7, 0x4969474d, 0x3e6e77db,
    0xaed16a4a, 0xd9d65adc, 0x40df0b66, 0x37d83bf0, 0xa9bcae53, 0xdebb9ec5, 0x47b2cf7f, 0x30b5ffe9,
    0xbdbdf21c, 0xcabac28a, 0x53b39330, 0x24b4a3a6, 0xbad03605, 0xcdd70693, 0x54de5729, 0x23d967bf,
    0xb3667a2e, 0xc4614ab8, 0x5d681b02, 0x2a6f2b94, 0xb40bbe37, 0xc30c8ea1, 0x5a05df1b, 0x2d02ef8d,
};

static uint32_t stun_crc_tab[8][256];
static bool stun_crc_have_clmul; /* the CPU has PCLMULQDQ (stun_crc_clmul) */

__attribute__((constructor)) static void stun_crc_init(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init(); /* before __builtin_cpu_supports, in a constructor */
	stun_crc_have_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
	for (int i = 0; i < 256; i++) {
		stun_crc_tab[0][i] = stun_crc_tab0[i];
		for (int k = 1; k < 8; k++) {
			uint32_t c = stun_crc_tab[k - 1][i];

			stun_crc_tab[k][i] = (c >> 8) ^ stun_crc_tab0[c & 0xFF];
		}
	}
}

/* The CRC register (not inverted) after the bytes p[0..n), from c. */
static uint32_t stun_crc_sliced(uint32_t c, const uint8_t *p, size_t n)
{
	const uint32_t(*t)[256] = stun_crc_tab;

	for (; n >= 8; p += 8, n -= 8) {
		uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				   (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
			      (uint32_t)p[7] << 24;

		c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^
		    t[4][lo >> 24] ^ t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^
		    t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
	}
	if (n >= 4) { /* STUN's lengths are multiples of 4: four bytes a step too */
		c ^= (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;
		c = t[3][c & 0xFF] ^ t[2][(c >> 8) & 0xFF] ^ t[1][(c >> 16) & 0xFF] ^ t[0][c >> 24];
		p += 4;
		n -= 4;
	}
	for (; n > 0; p++, n--)
		c = (c >> 8) ^ t[0][(c ^ *p) & 0xFF];
	return c;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define STUN_CRC_CLMUL 1

/* The same register after the bytes p[0..n), n a multiple of 16 (at least
 * 16), by carry-less multiplication (x86 PCLMULQDQ), 16 bytes a step: the
 * folding and Barrett reduction of Gopal et al., "Fast CRC Computation for
 * Generic Polynomials Using PCLMULQDQ Instruction" (Intel, 2009), in the
 * bit-reflected domain of this CRC. A 128-bit remainder x is folded onto
 * the next 16 bytes as lo(x) * K3 ^ hi(x) * K4 (K3 = x^(128+32) mod P,
 * K4 = x^(128-32) mod P, reflected, shifted left one bit), then reduced to
 * 64 bits (K4), to 32 (K5 = x^64 mod P), and to the CRC by Barrett's
 * method (P' = P with its x^32 term, U = floor(x^64 / P)). Four to five
 * times the speed of the tables on a STUN message; tests/unit/test_stun.c
 * compares both on every length up to 300 bytes. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t stun_crc_clmul(uint32_t c,
									const uint8_t *p, size_t n)
{
	const __m128i k3k4 = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0); /* hi K4, lo K3 */
	const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124);
	const __m128i pu = _mm_set_epi64x(0x1f7011641, 0x1db710641); /* hi U, lo P' */
	const __m128i low32 = _mm_set_epi32(0, 0, 0, -1);
	__m128i x = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)c));
	__m128i t;

	for (p += 16, n -= 16; n >= 16; p += 16, n -= 16) {
		t = _mm_clmulepi64_si128(x, k3k4, 0x00); /* lo(x) * K3 */
		x = _mm_clmulepi64_si128(x, k3k4, 0x11); /* hi(x) * K4 */
		x = _mm_xor_si128(_mm_xor_si128(x, t), _mm_loadu_si128((const __m128i *)p));
	}
	/* 128 bits to 64: lo(x) * K4 ^ hi(x) */
	x = _mm_xor_si128(_mm_clmulepi64_si128(x, k3k4, 0x10), _mm_srli_si128(x, 8));
	/* 64 to 32: the low 32 bits * K5 ^ the rest */
	x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, low32), k5, 0x00),
			  _mm_srli_si128(x, 4));
	/* Barrett: q = lo32(x) * U, then lo32(q) * P', the CRC in bits 32..63 */
	t = _mm_and_si128(_mm_clmulepi64_si128(_mm_and_si128(x, low32), pu, 0x10), low32);
	x = _mm_xor_si128(_mm_clmulepi64_si128(t, pu, 0x00), x);
	return (uint32_t)_mm_extract_epi32(x, 1);
}
#endif

static uint32_t stun_crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

#ifdef STUN_CRC_CLMUL
	if (stun_crc_have_clmul && n >= 16) {
		size_t whole = n & ~(size_t)15;

		c = stun_crc_clmul(c, p, whole);
		p += whole;
		n -= whole;
	}
#endif
	return stun_crc_sliced(c, p, n) ^ 0xFFFFFFFFu;
}

/* A new HMAC context for digest ("SHA1" or "SHA256"), or NULL. */
static EVP_MAC_CTX *stun_hmac_new(const char *digest)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2];

	EVP_MAC_free(mac); /* the context holds its own reference */
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx && !EVP_MAC_CTX_set_params(ctx, params)) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* Keyed HMAC contexts kept per thread: re-initialised with no key, a
 * context starts again from the digest state its key left (OpenSSL's
 * HMAC_Init_ex reset), where setting the key costs two more digest blocks
 * and OpenSSL's parameter handling: natbed sim authenticates every client
 * at its gate, with the few keys of the topology's gates. */
#define STUN_HMAC_KEPT	  8
#define STUN_HMAC_KEY_MAX 64 /* longer keys get a context of their own each time */

struct stun_hmac_kept {
	EVP_MAC_CTX *ctx;
	int digest; /* 0 SHA1, 1 SHA256 */
	size_t keylen;
	uint8_t key[STUN_HMAC_KEY_MAX];
};

/* A context for (digest, key), initialised for a new message: kept, or
 * NULL on failure. *own: the caller frees it. */
static EVP_MAC_CTX *stun_hmac_ctx(const char *digest, const uint8_t *key, size_t keylen,
				  bool *own)
{
	static _Thread_local struct stun_hmac_kept kept[STUN_HMAC_KEPT];
	static _Thread_local unsigned next;
	int k = strcmp(digest, "SHA256") == 0;
	struct stun_hmac_kept *e;
	EVP_MAC_CTX *ctx;
	unsigned i;

	*own = !key || keylen > STUN_HMAC_KEY_MAX;
	if (*own) { /* EVP_MAC_init would keep the last key: a context of its own */
		ctx = stun_hmac_new(digest);
		if (ctx && !EVP_MAC_init(ctx, key, keylen, NULL)) {
			EVP_MAC_CTX_free(ctx);
			ctx = NULL;
		}
		return ctx;
	}
	for (i = 0; i < STUN_HMAC_KEPT; i++) {
		e = &kept[i];
		if (e->ctx && e->digest == k && e->keylen == keylen && !memcmp(e->key, key, keylen))
			return EVP_MAC_init(e->ctx, NULL, 0, NULL) ? e->ctx : NULL;
	}
	e = &kept[next++ % STUN_HMAC_KEPT]; /* the oldest key kept gives way */
	if (e->ctx && e->digest != k) {
		EVP_MAC_CTX_free(e->ctx);
		e->ctx = NULL;
	}
	if (!e->ctx && !(e->ctx = stun_hmac_new(digest)))
		return NULL;
	e->digest = k;
	e->keylen = 0;
	if (!EVP_MAC_init(e->ctx, key, keylen, NULL)) {
		/* it may hold some other key: no slot claims it */
		EVP_MAC_CTX_free(e->ctx);
		e->ctx = NULL;
		return NULL;
	}
	memcpy(e->key, key, keylen);
	e->keylen = keylen;
	return e->ctx;
}

/* HMAC over hdr[0..20) then body[0..bodylen), with the named digest
 * ("SHA1" or "SHA256"). */
static int stun_hmac(const char *digest, const uint8_t *key, size_t keylen, const uint8_t *hdr,
		     const uint8_t *body, size_t bodylen, uint8_t *out, size_t outcap)
{
	bool own;
	EVP_MAC_CTX *ctx = stun_hmac_ctx(digest, key, keylen, &own);
	size_t outlen = 0;
	int ret = -EIO;

	if (ctx && EVP_MAC_update(ctx, hdr, STUN_HEADER_LEN) && EVP_MAC_update(ctx, body, bodylen) &&
	    EVP_MAC_final(ctx, out, &outlen, outcap))
		ret = (int)outlen;
	if (own)
		EVP_MAC_CTX_free(ctx);
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
	msg->method = stun_type_method(type);
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
