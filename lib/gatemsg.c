/* natbed gate messages (natbed/gatemsg.h): the AUTH request and its
 * answers over lib/stun.c's codec. */
#include "natbed/gatemsg.h"
#include "natbed/strcopy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define GATEMSG_TRUST_LEN 4
#define GATEMSG_U32_LEN	  4
#define GATEMSG_NAME_OK	  "abcdefghijklmnopqrstuvwxyz0123456789-"

static const char *const parse_names[GATEMSG_PARSE_COUNT] = {"ok", "not_stun", "not_auth",
							     "malformed"};

const char *gatemsg_parse_name(enum gatemsg_parse r)
{
	return (unsigned)r < GATEMSG_PARSE_COUNT ? parse_names[r] : "unknown";
}

/* A host name as the topology allows it. */
static bool gatemsg_name_ok(const char *s, size_t len)
{
	return len > 0 && len < TOPO_NAME_MAX && s[0] >= 'a' && s[0] <= 'z' &&
	       strspn(s, GATEMSG_NAME_OK) == len;
}

/* --- resources ------------------------------------------------------------ */

int gatemsg_resource_parse(const char *s, struct gatemsg_resource *r)
{
	struct gatemsg_resource out = {0};
	char addr[INET_ADDRSTRLEN];
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	unsigned long port = 0;

	if (!strcmp(s, "any")) {
		*r = out;
		return 0;
	}
	if (gatemsg_name_ok(s, strlen(s))) {
		out.kind = GATEMSG_RES_HOST;
		memcpy(out.host, s, strlen(s) + 1);
		*r = out;
		return 0;
	}
	if (n == 0 || n >= sizeof(addr))
		return -1;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, &out.addr) != 1)
		return -1;
	out.kind = GATEMSG_RES_ADDR;
	if (colon) {
		const char *p = colon + 1;
		size_t digits = strspn(p, "0123456789");

		if (digits == 0 || digits > 5 || p[digits] != '\0')
			return -1;
		for (size_t i = 0; i < digits; i++)
			port = port * 10 + (unsigned long)(p[i] - '0');
		if (port < 1 || port > 65535)
			return -1;
		out.kind = GATEMSG_RES_ADDR_PORT;
		out.port = htons((uint16_t)port);
	}
	*r = out;
	return 0;
}

void gatemsg_resource_str(const struct gatemsg_resource *r, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	switch (r->kind) {
	case GATEMSG_RES_ANY:
		snprintf(buf, len, "any");
		return;
	case GATEMSG_RES_HOST:
		str_copy(buf, len, r->host);
		return;
	case GATEMSG_RES_ADDR:
	case GATEMSG_RES_ADDR_PORT:
		break;
	}
	inet_ntop(AF_INET, &r->addr, a, sizeof(a));
	if (r->kind == GATEMSG_RES_ADDR)
		str_copy(buf, len, a);
	else
		snprintf(buf, len, "%s:%u", a, ntohs(r->port));
}

/* --- helpers -------------------------------------------------------------- */

static uint32_t gatemsg_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void gatemsg_wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The value of the first attribute of type, exactly want bytes long
 * (want 0: any length up to max into *len), or NULL. */
static const uint8_t *gatemsg_attr(const struct stun_msg *m, uint16_t type, size_t want, size_t max,
				   size_t *len)
{
	const struct stun_attr *a = stun_msg_find(m, type);

	if (!a || (want && a->len != want) || (!want && (a->len == 0 || a->len > max)))
		return NULL;
	if (len)
		*len = a->len;
	return stun_attr_value(m, a);
}

/* A string attribute of type into dst[cap] (NUL-terminated): 0 or -1. */
static int gatemsg_text(const struct stun_msg *m, uint16_t type, char *dst, size_t cap)
{
	size_t len;
	const uint8_t *v = gatemsg_attr(m, type, 0, cap - 1, &len);

	if (!v || memchr(v, '\0', len))
		return -1;
	memcpy(dst, v, len);
	dst[len] = '\0';
	return 0;
}

static int gatemsg_nonce_read(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (strlen(s) != GATEMSG_NONCE_DIGITS ||
	    strspn(s, "0123456789abcdef") != GATEMSG_NONCE_DIGITS)
		return -1;
	for (i = 0; i < GATEMSG_NONCE_DIGITS; i++)
		v = v << 4 | (uint64_t)(s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
	if (v == 0)
		return -1;
	*out = v;
	return 0;
}

/* --- requests ------------------------------------------------------------- */

enum gatemsg_parse gatemsg_parse_request(const uint8_t *buf, size_t len, struct gatemsg_req *req)
{
	struct stun_msg *m = &req->msg;
	enum stun_parse_result r = stun_msg_parse(buf, len, 0, m, NULL, 0);
	char nonce[GATEMSG_NONCE_DIGITS + 2];

	if (r != STUN_PARSE_OK && r < STUN_PARSE_ATTR_TRUNCATED)
		return GATEMSG_NOT_STUN;
	memcpy(req->txid, m->txid, STUN_TXID_LEN);
	req->user[0] = req->resource[0] = '\0';
	req->nonce = 0;
	if (m->method != GATEMSG_METHOD_AUTH || m->cls != STUN_CLASS_REQUEST)
		return GATEMSG_NOT_AUTH;
	if (r != STUN_PARSE_OK || !m->has_fingerprint || m->nunknown)
		return GATEMSG_MALFORMED;
	if (gatemsg_text(m, STUN_ATTR_USERNAME, req->user, sizeof(req->user)) < 0 ||
	    !gatemsg_name_ok(req->user, strlen(req->user)))
		return GATEMSG_MALFORMED;
	if (gatemsg_text(m, STUN_ATTR_NONCE, nonce, sizeof(nonce)) < 0 ||
	    gatemsg_nonce_read(nonce, &req->nonce) < 0)
		return GATEMSG_MALFORMED;
	if (gatemsg_text(m, GATEMSG_ATTR_RESOURCE, req->resource, sizeof(req->resource)) < 0 ||
	    gatemsg_resource_parse(req->resource, &req->res) < 0)
		return GATEMSG_MALFORMED;
	return GATEMSG_OK;
}

int gatemsg_request_check(const struct gatemsg_req *req, const uint8_t *key, size_t keylen)
{
	return stun_msg_check_integrity(&req->msg, true, key, keylen);
}

int gatemsg_build_request(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN],
			  const char *user, uint64_t nonce, const char *resource,
			  const uint8_t *key, size_t keylen)
{
	struct gatemsg_resource res;
	struct stun_builder b;
	char hex[GATEMSG_NONCE_DIGITS + 1];

	if (!gatemsg_name_ok(user, strlen(user)) || nonce == 0 ||
	    strlen(resource) > GATEMSG_RESOURCE_MAX || gatemsg_resource_parse(resource, &res) < 0)
		return -EINVAL;
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)nonce);
	stun_msg_build_init(&b, buf, cap, GATEMSG_METHOD_AUTH, STUN_CLASS_REQUEST, txid, false);
	stun_msg_build_string(&b, STUN_ATTR_USERNAME, user);
	stun_msg_build_string(&b, STUN_ATTR_NONCE, hex);
	stun_msg_build_raw(&b, GATEMSG_ATTR_RESOURCE, resource, strlen(resource));
	stun_msg_build_integrity(&b, true, key, keylen);
	stun_msg_build_fingerprint(&b);
	return stun_msg_build_finish(&b);
}

/* --- answers -------------------------------------------------------------- */

int gatemsg_build_answer(uint8_t *buf, size_t cap, const struct gatemsg_ans *a, const uint8_t *key,
			 size_t keylen)
{
	uint8_t trust[GATEMSG_TRUST_LEN] = {0}, v[GATEMSG_U32_LEN];
	struct stun_builder b;

	if (!a->granted && (a->code < 400 || a->code > 599))
		return -EINVAL;
	if ((a->granted || a->has_trust) &&
	    (a->level >= TOPO_TRUST_COUNT || a->level_now >= TOPO_TRUST_COUNT))
		return -EINVAL;
	stun_msg_build_init(&b, buf, cap, GATEMSG_METHOD_AUTH,
			    a->granted ? STUN_CLASS_SUCCESS : STUN_CLASS_ERROR, a->txid, false);
	if (!a->granted)
		stun_msg_build_error(&b, a->code, a->reason);
	if (a->granted || a->has_trust) {
		trust[0] = (uint8_t)a->level;
		trust[1] = (uint8_t)a->level_now;
		stun_msg_build_raw(&b, GATEMSG_ATTR_TRUST, trust, sizeof(trust));
		gatemsg_wr32(v, a->delay_us);
		stun_msg_build_raw(&b, GATEMSG_ATTR_DELAY, v, sizeof(v));
		gatemsg_wr32(v, a->risk_ppm);
		stun_msg_build_raw(&b, GATEMSG_ATTR_RISK, v, sizeof(v));
	}
	if (a->granted) {
		gatemsg_wr32(v, a->ttl_ms);
		stun_msg_build_raw(&b, GATEMSG_ATTR_TTL, v, sizeof(v));
	}
	if (key)
		stun_msg_build_integrity(&b, true, key, keylen);
	stun_msg_build_fingerprint(&b);
	return stun_msg_build_finish(&b);
}

/* TRUST, DELAY and RISK, all or none. 0 or -1. */
static int gatemsg_trust_read(const struct stun_msg *m, struct gatemsg_ans *a)
{
	const uint8_t *t = gatemsg_attr(m, GATEMSG_ATTR_TRUST, GATEMSG_TRUST_LEN, 0, NULL);
	const uint8_t *d = gatemsg_attr(m, GATEMSG_ATTR_DELAY, GATEMSG_U32_LEN, 0, NULL);
	const uint8_t *r = gatemsg_attr(m, GATEMSG_ATTR_RISK, GATEMSG_U32_LEN, 0, NULL);

	if (!t && !d && !r)
		return 0;
	if (!t || !d || !r || t[0] >= TOPO_TRUST_COUNT || t[1] >= TOPO_TRUST_COUNT)
		return -1;
	a->has_trust = true;
	a->level = (enum topo_trust)t[0];
	a->level_now = (enum topo_trust)t[1];
	a->delay_us = gatemsg_rd32(d);
	a->risk_ppm = gatemsg_rd32(r);
	return 0;
}

int gatemsg_parse_answer(const uint8_t *buf, size_t len, const uint8_t *key, size_t keylen,
			 struct gatemsg_ans *a)
{
	struct stun_msg m;
	const uint8_t *ttl;
	int r;

	memset(a, 0, sizeof(*a));
	if (stun_msg_parse(buf, len, 0, &m, NULL, 0) != STUN_PARSE_OK ||
	    m.method != GATEMSG_METHOD_AUTH || !m.has_fingerprint ||
	    (m.cls != STUN_CLASS_SUCCESS && m.cls != STUN_CLASS_ERROR))
		return -1;
	memcpy(a->txid, m.txid, STUN_TXID_LEN);
	a->granted = m.cls == STUN_CLASS_SUCCESS;
	if (key) {
		r = stun_msg_check_integrity(&m, true, key, keylen);
		if (r == -EBADMSG || r == -EIO)
			return -1;
		a->authenticated = r == 0;
	}
	if (gatemsg_trust_read(&m, a) < 0)
		return -1;
	if (a->granted) {
		ttl = gatemsg_attr(&m, GATEMSG_ATTR_TTL, GATEMSG_U32_LEN, 0, NULL);
		if (!ttl || !a->has_trust)
			return -1;
		a->ttl_ms = gatemsg_rd32(ttl);
		return 0;
	}
	a->code = stun_msg_get_error(&m, a->reason, sizeof(a->reason));
	return a->code >= 400 && a->code <= 599 ? 0 : -1;
}
