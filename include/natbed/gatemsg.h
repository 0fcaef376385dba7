/* natbed gate messages: the zero-trust gate's auth exchange (docs/gate.md),
 * STUN-framed (RFC 8489 §5 header, §14 attributes, FINGERPRINT last on
 * every message so it demultiplexes from other traffic, RFC 8489 §7):
 *
 *   AUTH request   USERNAME NONCE RESOURCE MESSAGE-INTEGRITY-SHA256
 *        success   TRUST TTL DELAY RISK MESSAGE-INTEGRITY-SHA256
 *        error     ERROR-CODE [TRUST DELAY RISK MESSAGE-INTEGRITY-SHA256]
 *
 * USERNAME is the host's name in the topology; the HMAC key of
 * MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6) is the host's key as its bytes
 * (short-term credentials, RFC 8489 §9.1). NONCE is 16 lower-case hex
 * digits: a 64-bit counter the client raises with every request, which
 * the gate checks against a replay window. RESOURCE is what the host asks
 * to reach: "any", "A.B.C.D" (any port), "A.B.C.D:PORT", or a host's name.
 * An answer the gate can sign (the request was authentic) carries the
 * host's MESSAGE-INTEGRITY-SHA256; a refusal of an unauthentic request
 * cannot and does not.
 *
 * Numbers: the method and attributes are natbed's, beside those of
 * agents/nbstun.h (method 0x0E4; attributes 0xC0F0-0xC0F4, in the
 * comprehension-optional range), unassigned by IANA. Lives in libnatbed:
 * the gate (emulator/gate.c) reads requests and the client
 * (agents/gatec.c) writes them. Never reads outside the datagram; checks
 * the length and value of every attribute it knows. */
#ifndef NATBED_GATEMSG_H
#define NATBED_GATEMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/stun.h"
#include "natbed/topo.h"

#define GATEMSG_METHOD_AUTH   0x0E4
#define GATEMSG_ATTR_RESOURCE 0xC0F0 /* UTF-8, at most GATEMSG_RESOURCE_MAX bytes */
#define GATEMSG_ATTR_TRUST    0xC0F1 /* 4 bytes: level decided at, level now, 0, 0 */
#define GATEMSG_ATTR_TTL      0xC0F2 /* 32 bits: the pinhole's lifetime, ms */
#define GATEMSG_ATTR_DELAY    0xC0F3 /* 32 bits: the auth delay the gate took, us */
#define GATEMSG_ATTR_RISK     0xC0F4 /* 32 bits: the risk scored, millionths */

#define GATEMSG_NONCE_DIGITS 16	 /* NONCE: hex digits of a 64-bit counter */
#define GATEMSG_RESOURCE_MAX 63	 /* bytes of a RESOURCE */
#define GATEMSG_REASON_MAX   127 /* bytes of an error's reason kept */
#define GATEMSG_MAX	     512 /* the largest message either side builds */

/* The errors a gate answers with (RFC 8489 §14.8 classes). */
#define GATEMSG_ERR_BAD_REQUEST 400 /* malformed: an attribute missing or bad */
#define GATEMSG_ERR_UNAUTH	401 /* unknown user, or integrity does not check */
#define GATEMSG_ERR_FORBIDDEN	403 /* denied, or a name from another's address */
#define GATEMSG_ERR_STALE_NONCE 438 /* a nonce already used, or too old */
#define GATEMSG_ERR_CAPACITY	508 /* too many requests of the host under way */

enum gatemsg_res_kind {
	GATEMSG_RES_ANY,       /* every remote */
	GATEMSG_RES_ADDR,      /* one address, any port */
	GATEMSG_RES_ADDR_PORT, /* one address and port */
	GATEMSG_RES_HOST,      /* a host of the topology, as the gate sees it */
};

/* A resource; addr and port in network order. */
struct gatemsg_resource {
	enum gatemsg_res_kind kind;
	uint32_t addr;
	uint16_t port;
	char host[TOPO_NAME_MAX];
};

/* Parses "any", "A.B.C.D", "A.B.C.D:PORT" (PORT 1..65535) or a host name
 * ([a-z][a-z0-9-]*, shorter than TOPO_NAME_MAX) into *r: 0, or -1. */
int gatemsg_resource_parse(const char *s, struct gatemsg_resource *r);

/* Writes r as gatemsg_resource_parse() reads it into buf[len]. */
void gatemsg_resource_str(const struct gatemsg_resource *r, char *buf, size_t len);

/* What gatemsg_parse_request() found. */
enum gatemsg_parse {
	GATEMSG_OK,
	GATEMSG_NOT_STUN,  /* not a STUN message at all: no answer is possible */
	GATEMSG_NOT_AUTH,  /* STUN, but not an AUTH request */
	GATEMSG_MALFORMED, /* an AUTH request with an attribute missing or bad */
	GATEMSG_PARSE_COUNT
};

/* "ok", "not_stun", "not_auth", "malformed". */
const char *gatemsg_parse_name(enum gatemsg_parse r);

/* A request, decoded. msg points into the datagram: the integrity is
 * checked with the user's key (gatemsg_request_check) while it lives. */
struct gatemsg_req {
	uint8_t txid[STUN_TXID_LEN]; /* valid from GATEMSG_NOT_AUTH on */
	char user[TOPO_NAME_MAX];
	uint64_t nonce;
	char resource[GATEMSG_RESOURCE_MAX + 1];
	struct gatemsg_resource res;
	struct stun_msg msg;
};

/* Parses buf[0..len) as an AUTH request into *req: its USERNAME (a host
 * name), its NONCE (16 hex digits, not 0), its RESOURCE (see above); the
 * integrity is not checked here. */
enum gatemsg_parse gatemsg_parse_request(const uint8_t *buf, size_t len, struct gatemsg_req *req);

/* Whether req's MESSAGE-INTEGRITY-SHA256 checks with key[0..keylen):
 * 0, -ENOENT when it has none, -EBADMSG when it does not match. */
int gatemsg_request_check(const struct gatemsg_req *req, const uint8_t *key, size_t keylen);

/* Builds a request into buf[cap]. Returns its length, or -errno (-EINVAL
 * for a bad user, nonce 0 or a resource gatemsg_resource_parse() refuses;
 * -ENOSPC). */
int gatemsg_build_request(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN],
			  const char *user, uint64_t nonce, const char *resource,
			  const uint8_t *key, size_t keylen);

/* An answer. */
struct gatemsg_ans {
	uint8_t txid[STUN_TXID_LEN];
	bool granted;
	int code; /* error answers: 400..599 */
	char reason[GATEMSG_REASON_MAX + 1];
	bool has_trust; /* TRUST, DELAY and RISK come together */
	enum topo_trust level, level_now;
	uint32_t delay_us;
	uint32_t risk_ppm;
	uint32_t ttl_ms;    /* success only */
	bool authenticated; /* parse: it carried a MESSAGE-INTEGRITY-SHA256 that checked */
};

/* Builds a (the gate's) into buf[cap], signed with key[0..keylen) unless
 * key is NULL. Returns its length or -errno. */
int gatemsg_build_answer(uint8_t *buf, size_t cap, const struct gatemsg_ans *a, const uint8_t *key,
			 size_t keylen);

/* Parses buf[0..len) as an answer to an AUTH request into *a. With key,
 * an integrity attribute must check (a->authenticated says it did); one
 * that does not makes the answer not ours. Returns 0, or -1 when it is
 * not a well-formed AUTH answer. */
int gatemsg_parse_answer(const uint8_t *buf, size_t len, const uint8_t *key, size_t keylen,
			 struct gatemsg_ans *a);

#endif
