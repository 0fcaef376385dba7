/* natbed STUN codec: RFC 8489 messages, RFC 5780 NAT behaviour discovery
 * attributes, classic RFC 3489 messages (no magic cookie).
 *
 * Parsing works on the caller's buffer without copying: a struct stun_msg
 * points into it and is valid only while that buffer is. Building writes into
 * a caller's fixed buffer through struct stun_builder; every write is checked
 * and the first failure sticks, so a builder can be filled without checking
 * each call and judged once by stun_build_finish().
 */
#ifndef NATBED_STUN_H
#define NATBED_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* RFC 8489 §5: 20-byte header, magic cookie, 96-bit transaction id. */
#define STUN_HEADER_LEN	      20
#define STUN_MAGIC_COOKIE     0x2112A442u
#define STUN_TXID_LEN	      12
#define STUN_CLASSIC_TXID_LEN 16 /* RFC 3489 §11.1: 128 bits, no cookie */
#define STUN_ATTR_HEADER_LEN  4
#define STUN_FINGERPRINT_XOR  0x5354554eu
#define STUN_HMAC_SHA1_LEN    20
#define STUN_HMAC_SHA256_LEN  32
#define STUN_MD5_LEN	      16
#define STUN_MAX_ATTRS	      64  /* attributes kept per parsed message */
#define STUN_MAX_UNKNOWN      16  /* unknown comprehension-required types kept */
#define STUN_MAX_USERNAME     513 /* RFC 8489 §14.3: < 513 bytes */
#define STUN_MAX_REASON	      763 /* RFC 8489 §14.8: < 763 bytes */

/* RFC 8489 §5: the class bits C1 C0 of the message type. */
enum stun_class {
	STUN_CLASS_REQUEST = 0,
	STUN_CLASS_INDICATION = 1,
	STUN_CLASS_SUCCESS = 2,
	STUN_CLASS_ERROR = 3,
};

/* RFC 8489 §5: the method of message type (M11..M7 C1 M6..M4 C0 M3..M0),
 * what a look at a datagram's first two bytes tells before any parse. */
static inline uint16_t stun_type_method(uint16_t type)
{
	return (uint16_t)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
}

#define STUN_METHOD_BINDING 0x001
/* RFC 8656 §17: TURN */
#define STUN_METHOD_ALLOCATE	      0x003
#define STUN_METHOD_REFRESH	      0x004
#define STUN_METHOD_SEND	      0x006
#define STUN_METHOD_DATA	      0x007
#define STUN_METHOD_CREATE_PERMISSION 0x008
#define STUN_METHOD_CHANNEL_BIND      0x009

/* Attribute types: RFC 8489 §18.3, RFC 5780 §7, RFC 3489 §11.2. */
enum stun_attr_type {
	STUN_ATTR_MAPPED_ADDRESS = 0x0001,
	STUN_ATTR_RESPONSE_ADDRESS = 0x0002, /* RFC 3489, read and ignored */
	STUN_ATTR_CHANGE_REQUEST = 0x0003,
	STUN_ATTR_SOURCE_ADDRESS = 0x0004,
	STUN_ATTR_CHANGED_ADDRESS = 0x0005,
	STUN_ATTR_USERNAME = 0x0006,
	STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
	STUN_ATTR_ERROR_CODE = 0x0009,
	STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
	STUN_ATTR_CHANNEL_NUMBER = 0x000C, /* RFC 8656 §18 */
	STUN_ATTR_LIFETIME = 0x000D,
	STUN_ATTR_XOR_PEER_ADDRESS = 0x0012,
	STUN_ATTR_DATA = 0x0013,
	STUN_ATTR_REALM = 0x0014,
	STUN_ATTR_NONCE = 0x0015,
	STUN_ATTR_XOR_RELAYED_ADDRESS = 0x0016,
	STUN_ATTR_EVEN_PORT = 0x0018,
	STUN_ATTR_REQUESTED_TRANSPORT = 0x0019,
	STUN_ATTR_DONT_FRAGMENT = 0x001A,
	STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
	STUN_ATTR_RESERVATION_TOKEN = 0x0022,
	STUN_ATTR_PADDING = 0x0026,
	STUN_ATTR_RESPONSE_PORT = 0x0027,
	STUN_ATTR_SOFTWARE = 0x8022,
	STUN_ATTR_FINGERPRINT = 0x8028,
	STUN_ATTR_RESPONSE_ORIGIN = 0x802B,
	STUN_ATTR_OTHER_ADDRESS = 0x802C,
};

/* RFC 5780 §7.2: CHANGE-REQUEST flags. */
#define STUN_CHANGE_IP	 0x04u
#define STUN_CHANGE_PORT 0x02u

/* What stun_msg_parse() found. Each value names one check. */
enum stun_parse_result {
	STUN_PARSE_OK = 0,
	STUN_PARSE_TOO_SHORT,	      /* fewer than 20 bytes */
	STUN_PARSE_TOP_BITS,	      /* §6.3: first two bits not zero */
	STUN_PARSE_BAD_COOKIE,	      /* §6.3: no magic cookie (and classic not allowed) */
	STUN_PARSE_LENGTH_ALIGN,      /* §6.3: length not a multiple of 4 */
	STUN_PARSE_LENGTH_OVERRUN,    /* §6.3: length runs past the datagram */
	STUN_PARSE_TRAILING_BYTES,    /* datagram longer than 20 + length */
	STUN_PARSE_ATTR_TRUNCATED,    /* §14: attribute value (or its padding) past the message */
	STUN_PARSE_ATTR_MALFORMED,    /* a known attribute with a bad value */
	STUN_PARSE_AFTER_FINGERPRINT, /* §14.7: FINGERPRINT is not the last attribute */
	STUN_PARSE_BAD_FINGERPRINT,   /* §14.7: CRC-32 does not match */
	STUN_PARSE_TOO_MANY_ATTRS,    /* more than STUN_MAX_ATTRS attributes */
	STUN_PARSE_RESULT_COUNT,
};

/* Flags for stun_msg_parse(). */
#define STUN_PARSE_ALLOW_CLASSIC 0x1u /* accept RFC 3489 messages without cookie */

/* One attribute as it sits in the message: value at buf + off, len bytes. */
struct stun_attr {
	uint16_t type;
	uint16_t len;
	uint16_t off;
};

/* A parsed message. Fields past the header are valid only when the parse
 * returned STUN_PARSE_OK; the header fields (type, method, cls, classic,
 * txid) are valid from STUN_PARSE_ATTR_TRUNCATED on, so a server can answer
 * a malformed request with 400. Addresses are AF_INET/AF_INET6 sockaddrs,
 * already un-XORed. */
struct stun_msg {
	const uint8_t *buf;
	size_t len; /* 20 + message length */
	uint16_t type;
	uint16_t method;
	enum stun_class cls;
	bool classic;			     /* RFC 3489: no magic cookie */
	uint8_t txid[STUN_CLASSIC_TXID_LEN]; /* 12 bytes, 16 when classic */

	size_t nattrs;
	struct stun_attr attrs[STUN_MAX_ATTRS];
	size_t nunknown; /* comprehension-required types this codec does not know */
	uint16_t unknown[STUN_MAX_UNKNOWN];

	bool has_change_request;
	uint32_t change_flags;
	bool has_response_port;
	uint16_t response_port;
	bool has_fingerprint;
	int error_code; /* 0 when absent, else 300..699 */

	/* offsets of the integrity attributes' headers, 0 when absent */
	uint16_t integrity_off;
	uint16_t integrity_sha256_off;
};

/* Parses the datagram buf[0..len) into *msg with every check of RFC 8489
 * §6.3 and the attribute rules of §14, and verifies FINGERPRINT when present.
 * Never reads outside buf[0..len); never trusts a length field.
 * flags: 0 or STUN_PARSE_ALLOW_CLASSIC. err (errlen bytes, may be NULL)
 * receives a one-line reason on failure. msg points into buf afterwards.
 * Returns STUN_PARSE_OK or the first check that failed. */
enum stun_parse_result stun_msg_parse(const uint8_t *buf, size_t len, unsigned flags,
				      struct stun_msg *msg, char *err, size_t errlen);

/* Returns a short constant name for r ("ok", "too_short", ...), used as the
 * drop reason in counters. */
const char *stun_parse_result_name(enum stun_parse_result r);

/* Finds the first attribute of type in msg; returns NULL when absent. */
const struct stun_attr *stun_msg_find(const struct stun_msg *msg, uint16_t type);

/* Returns a pointer to attr's value inside msg's buffer. */
const uint8_t *stun_attr_value(const struct stun_msg *msg, const struct stun_attr *attr);

/* Decodes the first address attribute of type (MAPPED-ADDRESS,
 * XOR-MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS, SOURCE-ADDRESS,
 * CHANGED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS) into *sa; XOR
 * types are un-XORed with msg's cookie and txid. Returns 0, or -ENOENT when absent, -EINVAL when
 * malformed. */
int stun_msg_get_addr(const struct stun_msg *msg, uint16_t type, struct sockaddr_storage *sa);

/* Decodes the first attribute of type as an XOR-encoded address (RFC 8489
 * §14.2), whatever its type: for attributes outside this codec laid out as
 * XOR-MAPPED-ADDRESS is (TURN's XOR-PEER-ADDRESS, natbed's candidates).
 * Returns 0, -ENOENT or -EINVAL as stun_msg_get_addr(). */
int stun_msg_get_xor_addr(const struct stun_msg *msg, uint16_t type, struct sockaddr_storage *sa);

/* Copies the ERROR-CODE reason phrase of msg into reason (NUL-terminated,
 * truncated to reasonlen). Returns the code (300..699) or -ENOENT. */
int stun_msg_get_error(const struct stun_msg *msg, char *reason, size_t reasonlen);

/* Checks MESSAGE-INTEGRITY (sha256 false: HMAC-SHA1, RFC 8489 §14.5) or
 * MESSAGE-INTEGRITY-SHA256 (true: §14.6, any truncation >= 16 bytes) of msg
 * with key[0..keylen). Returns 0 when it matches, -ENOENT when absent,
 * -EBADMSG when it does not match. */
int stun_msg_check_integrity(const struct stun_msg *msg, bool sha256, const uint8_t *key,
			     size_t keylen);

/* RFC 8489 §9.2.2: long-term key = MD5(username ":" realm ":" password), no
 * SASLprep (the caller passes prepared strings). Writes STUN_MD5_LEN bytes to
 * key. Returns 0 or -EINVAL when the strings are too long. */
int stun_long_term_key(const char *username, const char *realm, const char *password,
		       uint8_t key[STUN_MD5_LEN]);

/* A bounded writer over the caller's buffer. Fields are private to stun.c;
 * the struct is public only so it can live on the stack. */
struct stun_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err; /* first error (-ENOSPC, -EINVAL), sticky */
	bool classic;
	uint8_t pad_byte; /* value of padding bytes after a value, default 0 */
};

/* Starts a message of (method, cls) with txid (12 bytes, or 16 when classic,
 * which then replaces the cookie field) in buf[0..cap). Returns 0 or
 * -ENOSPC; on error b is still safe to use and finish() reports it. */
int stun_msg_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
			enum stun_class cls, const uint8_t *txid, bool classic);

/* Sets the byte written as padding after values whose length is not a
 * multiple of 4 (RFC 8489 §14: any value; RFC 5769 uses 0x20 in places). */
void stun_msg_build_set_pad(struct stun_builder *b, uint8_t pad_byte);

/* Appends attribute type with value[0..len) and its padding. */
int stun_msg_build_raw(struct stun_builder *b, uint16_t type, const void *value, size_t len);

/* Appends a string attribute (USERNAME, REALM, NONCE, SOFTWARE), checking
 * the RFC 8489 length limits of USERNAME (< 513) and SOFTWARE/REALM/NONCE
 * (< 763 bytes). */
int stun_msg_build_string(struct stun_builder *b, uint16_t type, const char *s);

/* Appends an address attribute of type from sa (AF_INET or AF_INET6); XOR
 * types (XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS) are
 * XORed per RFC 8489 §14.2. */
int stun_msg_build_addr(struct stun_builder *b, uint16_t type, const struct sockaddr *sa);

/* Appends an attribute of type holding sa XOR-encoded as RFC 8489 §14.2
 * encodes XOR-MAPPED-ADDRESS, whatever the type (see stun_msg_get_xor_addr). */
int stun_msg_build_xor_addr(struct stun_builder *b, uint16_t type, const struct sockaddr *sa);

/* Appends ERROR-CODE code (300..699) with reason (RFC 8489 §14.8). */
int stun_msg_build_error(struct stun_builder *b, int code, const char *reason);

/* Appends UNKNOWN-ATTRIBUTES listing types[0..n) (RFC 8489 §14.9). */
int stun_msg_build_unknown(struct stun_builder *b, const uint16_t *types, size_t n);

/* Appends CHANGE-REQUEST with flags (STUN_CHANGE_IP | STUN_CHANGE_PORT). */
int stun_msg_build_change_request(struct stun_builder *b, uint32_t flags);

/* Appends RESPONSE-PORT (RFC 5780 §7.5): port, then 2 bytes of padding. */
int stun_msg_build_response_port(struct stun_builder *b, uint16_t port);

/* Appends PADDING of len bytes, each zero (RFC 5780 §7.6). */
int stun_msg_build_padding(struct stun_builder *b, size_t len);

/* Appends MESSAGE-INTEGRITY (sha256 false: HMAC-SHA1 over key, §14.5) or
 * MESSAGE-INTEGRITY-SHA256 (true, 32 bytes, §14.6). Call it after every
 * other attribute except FINGERPRINT (and MI-SHA256 after MI). */
int stun_msg_build_integrity(struct stun_builder *b, bool sha256, const uint8_t *key,
			     size_t keylen);

/* Appends FINGERPRINT (§14.7); it must be the last attribute. */
int stun_msg_build_fingerprint(struct stun_builder *b);

/* Ends the message. Returns its length in bytes (> 0), or the first error
 * of any earlier call (-ENOSPC when the buffer was too small, -EINVAL). */
int stun_msg_build_finish(struct stun_builder *b);

#endif
