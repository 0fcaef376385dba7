#include "pcp.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

/* RFC 6887 §7.1, §7.2: common headers */
#define PCP_HDR		     24
#define PCP_R_BIT	     0x80
#define PCP_OP_ANNOUNCE	     0
#define PCP_OP_MAP	     1
#define PCP_MAP_DATA	     36	 /* §11.1: nonce, protocol, ports, suggested address */
#define PCP_OPT_HDR	     4	 /* §7.3: code, reserved, length */
#define PCP_OPT_OPTIONAL     128 /* §7.3: codes of 128 and more may be ignored */
#define PCP_ERROR_LIFETIME_S 30	 /* how long a client waits before it asks again */

/* RFC 6886 §3.2, §3.3 */
#define NATPMP_OP_ADDRESS  0
#define NATPMP_OP_MAP_UDP  1
#define NATPMP_OP_MAP_TCP  2
#define NATPMP_OP_RESPONSE 128
#define NATPMP_MAP_REQ	   12
#define NATPMP_HDR_RESP	   8

#define IPPROTO_UDP_NUM 17
#define IPPROTO_TCP_NUM 6

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* An IPv4 address as PCP carries it: IPv4-mapped IPv6 (RFC 6887 §5). */
static void put_addr(uint8_t *p, uint32_t a)
{
	memset(p, 0, 10);
	p[10] = p[11] = 0xff;
	memcpy(p + 12, &a, 4);
}

static int get_addr(const uint8_t *p, uint32_t *a)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (memcmp(p, mapped, sizeof(mapped)) != 0)
		return -1;
	memcpy(a, p + 12, 4);
	return 0;
}

/* --- PCP ----------------------------------------------------------------------- */

/* §7.2: a response carries the request's header and opcode data back
 * (with R set), the result, a lifetime and the epoch. */
static size_t pcp_reply(struct pcp_counters *c, const uint8_t *req, size_t copy, uint8_t version,
			enum pcp_result r, uint32_t lifetime, uint32_t epoch, uint8_t *out,
			size_t cap)
{
	size_t len = copy < PCP_HDR ? PCP_HDR : copy;

	if (len > cap || len > PCP_MSG_MAX)
		len = cap < PCP_MSG_MAX ? cap : PCP_MSG_MAX;
	if (len < PCP_HDR)
		return 0;
	len &= ~(size_t)3;
	memset(out, 0, len);
	memcpy(out, req, copy < len ? copy : len);
	out[0] = version;
	out[1] = (uint8_t)(PCP_R_BIT | (req[1] & 0x7f));
	out[2] = 0;
	out[3] = (uint8_t)r;
	put32(out + 4, lifetime);
	put32(out + 8, epoch);
	memset(out + 12, 0, 12);
	c->pcp[r]++;
	return len;
}

/* §7.3: options after the opcode data. Mandatory ones (codes below 128)
 * are none this server knows; optional ones are passed over. */
static enum pcp_result pcp_options(const uint8_t *p, size_t len)
{
	size_t off = 0, olen;

	while (off < len) {
		if (len - off < PCP_OPT_HDR)
			return PCP_MALFORMED_OPTION;
		olen = get16(p + off + 2);
		if (olen > len - off - PCP_OPT_HDR || (olen + 3) / 4 * 4 > len - off - PCP_OPT_HDR)
			return PCP_MALFORMED_OPTION;
		if (p[off] < PCP_OPT_OPTIONAL)
			return PCP_UNSUPP_OPTION;
		off += PCP_OPT_HDR + (olen + 3) / 4 * 4;
	}
	return PCP_SUCCESS;
}

static enum pcp_result pcp_result_of(enum nat_grant_result g)
{
	switch (g) {
	case NAT_GRANT_OK:
		return PCP_SUCCESS;
	case NAT_GRANT_NO_RESOURCES:
		return PCP_NO_RESOURCES;
	default:
		return PCP_NOT_AUTHORIZED;
	}
}

/* §11: MAP. out already holds the header; fills the opcode data. */
static enum pcp_result pcp_map(struct nat *n, const uint8_t *req, size_t len, uint32_t src,
			       natbed_time_t now, uint8_t *data, uint32_t *lifetime)
{
	const uint8_t *d = req + PCP_HDR;
	struct nat_grant_req rq = {.by = NAT_GRANT_PCP, .int_addr = src, .nonce = d};
	enum pcp_result r;
	uint32_t ext_addr = 0;
	uint16_t ext_port = 0;

	if (len < PCP_HDR + PCP_MAP_DATA)
		return PCP_MALFORMED_REQUEST;
	r = pcp_options(req + PCP_HDR + PCP_MAP_DATA, len - PCP_HDR - PCP_MAP_DATA);
	if (r != PCP_SUCCESS)
		return r;
	if (d[12] != IPPROTO_UDP_NUM && d[12] != IPPROTO_TCP_NUM)
		return PCP_UNSUPP_PROTOCOL;
	rq.proto = d[12] == IPPROTO_UDP_NUM ? NAT_UDP : NAT_TCP;
	memcpy(&rq.int_port, d + 16, 2);
	memcpy(&rq.want_port, d + 18, 2);
	rq.lifetime_s = get32(req + 4);
	/* §11.1: internal port 0 means every port, only for a deletion */
	if (rq.int_port == 0 && rq.lifetime_s != 0)
		return PCP_MALFORMED_REQUEST;
	r = pcp_result_of(nat_grant(n, &rq, now, &ext_addr, &ext_port, lifetime));
	if (r != PCP_SUCCESS)
		return r;
	memcpy(data + 18, &ext_port, 2);
	put_addr(data + 20, ext_addr);
	return PCP_SUCCESS;
}

static size_t pcp_request(struct nat *n, struct pcp_counters *c, const uint8_t *req, size_t len,
			  uint32_t src, natbed_time_t now, uint8_t *out, size_t cap)
{
	uint32_t epoch = nat_epoch_s(n, now), client, lifetime = 0;
	uint8_t op = req[1] & 0x7f;
	enum pcp_result r = PCP_SUCCESS;
	size_t copy = len < PCP_HDR + PCP_MAP_DATA ? len : PCP_HDR + PCP_MAP_DATA, k;

	/* §8.3: a request's length is a multiple of 4, 24 to 1100 bytes */
	if (len < PCP_HDR || len > PCP_MSG_MAX || len % 4)
		return pcp_reply(c, req, len < PCP_HDR ? len : PCP_HDR, PCP_VERSION,
				 PCP_MALFORMED_REQUEST, PCP_ERROR_LIFETIME_S, epoch, out, cap);
	if (op != PCP_OP_MAP && op != PCP_OP_ANNOUNCE)
		return pcp_reply(c, req, PCP_HDR, PCP_VERSION, PCP_UNSUPP_OPCODE,
				 PCP_ERROR_LIFETIME_S, epoch, out, cap);
	/* §8.1: the client's address in the request is where it came from */
	if (get_addr(req + 8, &client) < 0 || client != src)
		return pcp_reply(c, req, copy, PCP_VERSION, PCP_ADDRESS_MISMATCH,
				 PCP_ERROR_LIFETIME_S, epoch, out, cap);
	if (op == PCP_OP_ANNOUNCE) /* §14.1: tells the client our epoch */
		return pcp_reply(c, req, PCP_HDR, PCP_VERSION,
				 pcp_options(req + PCP_HDR, len - PCP_HDR), 0, epoch, out, cap);
	k = pcp_reply(c, req, copy, PCP_VERSION, PCP_SUCCESS, 0, epoch, out, cap);
	if (k < PCP_HDR + PCP_MAP_DATA) {
		c->pcp[PCP_SUCCESS]--;
		return pcp_reply(c, req, copy, PCP_VERSION, PCP_MALFORMED_REQUEST,
				 PCP_ERROR_LIFETIME_S, epoch, out, cap);
	}
	r = pcp_map(n, req, len, src, now, out + PCP_HDR, &lifetime);
	out[3] = (uint8_t)r;
	put32(out + 4, r == PCP_SUCCESS ? lifetime : PCP_ERROR_LIFETIME_S);
	if (r != PCP_SUCCESS) {
		c->pcp[PCP_SUCCESS]--;
		c->pcp[r]++;
	}
	return k;
}

/* --- NAT-PMP ------------------------------------------------------------------- */

/* §3.2-3.5: version, 128 + opcode, result, seconds since the epoch. */
static size_t natpmp_hdr(struct pcp_counters *c, uint8_t op, enum natpmp_result r, uint32_t epoch,
			 uint8_t *out)
{
	out[0] = NATPMP_VERSION;
	out[1] = (uint8_t)(NATPMP_OP_RESPONSE + op);
	put16(out + 2, (uint16_t)r);
	put32(out + 4, epoch);
	c->natpmp[r]++;
	return NATPMP_HDR_RESP;
}

static size_t natpmp_request(struct nat *n, struct pcp_counters *c, const uint8_t *req, size_t len,
			     uint32_t src, natbed_time_t now, uint8_t *out, size_t cap)
{
	uint32_t epoch = nat_epoch_s(n, now), ext_addr = 0, lifetime = 0;
	struct nat_grant_req rq = {.by = NAT_GRANT_NATPMP, .int_addr = src};
	enum nat_grant_result g;
	uint16_t ext_port = 0;
	uint8_t op = req[1];

	if (cap < 16 || op >= NATPMP_OP_RESPONSE) { /* §3.5: never answer a response */
		c->ignored++;
		return 0;
	}
	if (op == NATPMP_OP_ADDRESS) { /* §3.2 */
		uint32_t a = nat_public_for(n, src);

		natpmp_hdr(c, op, NATPMP_SUCCESS, epoch, out);
		memcpy(out + 8, &a, 4);
		return 12;
	}
	if (op != NATPMP_OP_MAP_UDP && op != NATPMP_OP_MAP_TCP)
		return natpmp_hdr(c, op, NATPMP_UNSUPP_OPCODE, epoch, out);
	if (len < NATPMP_MAP_REQ) {
		c->ignored++;
		return 0;
	}
	rq.proto = op == NATPMP_OP_MAP_UDP ? NAT_UDP : NAT_TCP;
	memcpy(&rq.int_port, req + 4, 2);
	memcpy(&rq.want_port, req + 6, 2);
	rq.lifetime_s = get32(req + 8);
	g = nat_grant(n, &rq, now, &ext_addr, &ext_port, &lifetime);
	natpmp_hdr(c, op,
		   g == NAT_GRANT_OK		 ? NATPMP_SUCCESS
		   : g == NAT_GRANT_NO_RESOURCES ? NATPMP_NO_RESOURCES
						 : NATPMP_REFUSED,
		   epoch, out);
	memcpy(out + 8, req + 4, 2); /* the internal port, as asked */
	memcpy(out + 10, g == NAT_GRANT_OK ? &ext_port : (const void *)"\0\0", 2);
	put32(out + 12, lifetime);
	return 16;
}

size_t pcp_answer(struct nat *n, struct pcp_counters *c, const uint8_t *req, size_t len,
		  uint32_t src, natbed_time_t now, uint8_t *out, size_t cap)
{
	bool inside;

	c->requests++;
	if (len < 2 || cap < PCP_HDR) {
		c->ignored++;
		return 0;
	}
	/* only the NAT's own inside may ask (RFC 6887 §8.1, RFC 6886 §3) */
	inside = (src & nat_config(n)->inside_mask) == nat_config(n)->inside_net;
	if (req[0] == NATPMP_VERSION && !inside)
		return natpmp_hdr(c, req[1] & 0x7f, NATPMP_REFUSED, nat_epoch_s(n, now), out);
	if (req[0] == NATPMP_VERSION)
		return natpmp_request(n, c, req, len, src, now, out, cap);
	/* §8.3: shorter than 4 bytes, or a response: silently dropped */
	if (len < 4 || (req[1] & PCP_R_BIT)) {
		c->ignored++;
		return 0;
	}
	if (req[0] != PCP_VERSION) /* §9: the highest version we speak */
		return pcp_reply(c, req, len < PCP_HDR ? len : PCP_HDR, PCP_VERSION,
				 PCP_UNSUPP_VERSION, PCP_ERROR_LIFETIME_S, nat_epoch_s(n, now), out,
				 cap);
	if (!inside)
		return pcp_reply(c, req, len < PCP_HDR ? len : PCP_HDR, PCP_VERSION,
				 PCP_NOT_AUTHORIZED, PCP_ERROR_LIFETIME_S, nat_epoch_s(n, now), out,
				 cap);
	return pcp_request(n, c, req, len, src, now, out, cap);
}

const char *pcp_result_name(enum pcp_result r)
{
	static const char *const names[PCP_RESULT_COUNT] = {
	    "SUCCESS",		 "UNSUPP_VERSION",	   "NOT_AUTHORIZED",
	    "MALFORMED_REQUEST", "UNSUPP_OPCODE",	   "UNSUPP_OPTION",
	    "MALFORMED_OPTION",	 "NETWORK_FAILURE",	   "NO_RESOURCES",
	    "UNSUPP_PROTOCOL",	 "USER_EX_QUOTA",	   "CANNOT_PROVIDE_EXTERNAL",
	    "ADDRESS_MISMATCH",	 "EXCESSIVE_REMOTE_PEERS",
	};
	return (unsigned)r < PCP_RESULT_COUNT ? names[r] : "unknown";
}

const char *natpmp_result_name(enum natpmp_result r)
{
	static const char *const names[NATPMP_RESULT_COUNT] = {
	    "SUCCESS",	       "UNSUPP_VERSION", "REFUSED",
	    "NETWORK_FAILURE", "NO_RESOURCES",	 "UNSUPP_OPCODE",
	};
	return (unsigned)r < NATPMP_RESULT_COUNT ? names[r] : "unknown";
}

size_t pcp_announcement(const struct nat *n, bool pmp, uint32_t public_addr, natbed_time_t now,
			uint8_t *out)
{
	uint32_t epoch = nat_epoch_s(n, now);

	memset(out, 0, PCP_ANNOUNCE_MAX);
	if (pmp) { /* §3.2: the answer to opcode 0, result SUCCESS */
		out[0] = NATPMP_VERSION;
		out[1] = NATPMP_OP_RESPONSE + NATPMP_OP_ADDRESS;
		put32(out + 4, epoch);
		memcpy(out + 8, &public_addr, 4);
		return 12;
	}
	/* RFC 6887 §7.2: R set, opcode ANNOUNCE (0), SUCCESS, lifetime 0 */
	out[0] = PCP_VERSION;
	out[1] = 0x80 | PCP_OP_ANNOUNCE;
	put32(out + 8, epoch);
	return PCP_ANNOUNCE_MAX;
}
