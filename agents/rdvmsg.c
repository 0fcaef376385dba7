/* natbed rendezvous message codec: a table of kinds (method, class, the
 * attributes each requires or may carry) and a table of attributes (type,
 * writer, checked reader). No I/O. */
#include "rdvmsg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "nbstun.h"

struct rdv_kind_desc {
	const char *name;
	uint16_t method;
	enum stun_class cls;
	unsigned required;
	unsigned optional;
};

#define CANDS (RDV_A_HOST | RDV_A_SRFLX | RDV_A_RELAY | RDV_A_NAT)

static const struct rdv_kind_desc kinds[RDV_KIND_COUNT] = {
    [RDV_REGISTER] = {"register", NBSTUN_METHOD_REGISTER, STUN_CLASS_REQUEST,
		      RDV_A_NAME | RDV_A_HOST, CANDS | RDV_A_LIFETIME},
    [RDV_REGISTER_OK] = {"register-ok", NBSTUN_METHOD_REGISTER, STUN_CLASS_SUCCESS,
			 RDV_A_LIFETIME | RDV_A_MAPPED, 0},
    [RDV_REGISTER_ERR] = {"register-error", NBSTUN_METHOD_REGISTER, STUN_CLASS_ERROR, RDV_A_ERROR,
			  0},
    [RDV_CONNECT] = {"connect", NBSTUN_METHOD_CONNECT, STUN_CLASS_REQUEST,
		     RDV_A_NAME | RDV_A_PEER | RDV_A_METHOD, RDV_A_BUDGET},
    [RDV_CONNECT_OK] = {"connect-ok", NBSTUN_METHOD_CONNECT, STUN_CLASS_SUCCESS,
			RDV_A_PEER | RDV_A_TRY, 0},
    [RDV_CONNECT_ERR] = {"connect-error", NBSTUN_METHOD_CONNECT, STUN_CLASS_ERROR, RDV_A_ERROR,
			 RDV_A_PEER},
    [RDV_INTRODUCE] = {"introduce", NBSTUN_METHOD_INTRODUCE, STUN_CLASS_REQUEST,
		       RDV_A_PEER | RDV_A_HOST | RDV_A_NAT | RDV_A_METHOD | RDV_A_TRY |
			   RDV_A_START | RDV_A_ROLE,
		       RDV_A_SRFLX | RDV_A_RELAY | RDV_A_BUDGET},
    [RDV_INTRODUCE_OK] = {"introduce-ok", NBSTUN_METHOD_INTRODUCE, STUN_CLASS_SUCCESS, RDV_A_TRY,
			  0},
    [RDV_INTRODUCE_ERR] = {"introduce-error", NBSTUN_METHOD_INTRODUCE, STUN_CLASS_ERROR,
			   RDV_A_ERROR | RDV_A_TRY, 0},
    [RDV_LOOKUP] = {"lookup", NBSTUN_METHOD_LOOKUP, STUN_CLASS_REQUEST, RDV_A_NAME | RDV_A_PEER, 0},
    [RDV_LOOKUP_OK] = {"lookup-ok", NBSTUN_METHOD_LOOKUP, STUN_CLASS_SUCCESS,
		       RDV_A_PEER | RDV_A_HOST | RDV_A_NAT, RDV_A_SRFLX | RDV_A_RELAY},
    [RDV_LOOKUP_ERR] = {"lookup-error", NBSTUN_METHOD_LOOKUP, STUN_CLASS_ERROR, RDV_A_ERROR,
			RDV_A_PEER},
    /* the refusal of the other side, its code and reason as it gave them */
    [RDV_CANCEL] = {"cancel", NBSTUN_METHOD_CANCEL, STUN_CLASS_REQUEST, RDV_A_TRY | RDV_A_ERROR,
		    RDV_A_PEER},
    [RDV_CANCEL_OK] = {"cancel-ok", NBSTUN_METHOD_CANCEL, STUN_CLASS_SUCCESS, RDV_A_TRY, 0},
};

static const char *const parse_names[RDV_PARSE_COUNT] = {
    [RDV_PARSE_OK] = "ok",
    [RDV_PARSE_NOT_STUN] = "not_stun",
    [RDV_PARSE_TRUNCATED] = "truncated",
    [RDV_PARSE_MALFORMED] = "malformed",
    [RDV_PARSE_OTHER] = "unknown_method",
    [RDV_PARSE_BAD_CLASS] = "bad_class",
    [RDV_PARSE_UNKNOWN_ATTR] = "unknown_attribute",
    [RDV_PARSE_MISSING] = "missing_attribute",
    [RDV_PARSE_BAD_ATTR] = "bad_attribute",
};

const char *rdvmsg_parse_name(enum rdv_parse r)
{
	return (unsigned)r < RDV_PARSE_COUNT ? parse_names[r] : "unknown";
}

const char *rdvmsg_kind_name(enum rdv_kind k)
{
	return (unsigned)k < RDV_KIND_COUNT ? kinds[k].name : "unknown";
}

bool rdvmsg_name_ok(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* --- attribute writers: 0 or -EINVAL/-ENOSPC (the builder's) ----------- */

static int put_text(struct stun_builder *b, uint16_t type, const char *s, size_t max)
{
	if (!rdvmsg_name_ok(s, max))
		return -EINVAL;
	return stun_msg_build_raw(b, type, s, strlen(s));
}

static int put_u(struct stun_builder *b, uint16_t type, uint64_t v, size_t n)
{
	uint8_t p[8];

	nbstun_put_be(p, v, n);
	return stun_msg_build_raw(b, type, p, n);
}

/* RFC 8489 §14.2 layout, XORed, IPv4: addresses of natbed's agents */
static int put_ep(struct stun_builder *b, uint16_t type, const struct dg_ep *ep)
{
	struct sockaddr_in in = {.sin_family = AF_INET};

	if (ep->addr == 0)
		return -EINVAL;
	in.sin_addr.s_addr = ep->addr;
	in.sin_port = ep->port;
	return stun_msg_build_xor_addr(b, type, (const struct sockaddr *)&in);
}

/* NAT: map, filter, ports, hairpin (0, 1, 0xFF unknown), stride (int16),
 * flags (bit 0: pcp), 0 */
static int put_nat(struct stun_builder *b, const struct natinfo *ni)
{
	uint8_t v[RDV_NAT_LEN] = {0};

	if (ni->stride < INT16_MIN || ni->stride > INT16_MAX)
		return -EINVAL;
	v[0] = (uint8_t)ni->map;
	v[1] = (uint8_t)ni->filter;
	v[2] = (uint8_t)ni->ports;
	v[3] = ni->hairpin < 0 ? 0xFF : (uint8_t)(ni->hairpin != 0);
	nbstun_put_be(v + 4, (uint16_t)(int16_t)ni->stride, 2);
	v[6] = ni->pcp ? 1 : 0;
	return stun_msg_build_raw(b, NBSTUN_ATTR_NAT, v, sizeof(v));
}

static int put_attr(struct stun_builder *b, unsigned bit, const struct rdv_msg *m)
{
	switch (bit) {
	case RDV_A_NAME:
		return put_text(b, NBSTUN_ATTR_NAME, m->name, RDV_NAME_MAX);
	case RDV_A_PEER:
		return put_text(b, NBSTUN_ATTR_PEER, m->peer, RDV_NAME_MAX);
	case RDV_A_HOST:
		return put_ep(b, NBSTUN_ATTR_CAND_HOST, &m->cand.host);
	case RDV_A_SRFLX:
		return put_ep(b, NBSTUN_ATTR_CAND_SRFLX, &m->cand.srflx);
	case RDV_A_RELAY:
		return put_ep(b, NBSTUN_ATTR_CAND_RELAY, &m->cand.relay);
	case RDV_A_NAT:
		return put_nat(b, &m->cand.nat);
	case RDV_A_METHOD:
		return put_text(b, NBSTUN_ATTR_METHOD, m->method, RDV_METHOD_MAX);
	case RDV_A_TRY:
		return put_u(b, NBSTUN_ATTR_TRY, m->try_id, 8);
	case RDV_A_START:
		return put_u(b, NBSTUN_ATTR_START, m->start_ms, 4);
	case RDV_A_ROLE:
		if (m->role != TRAV_INITIATOR && m->role != TRAV_RESPONDER)
			return -EINVAL;
		return put_u(b, NBSTUN_ATTR_ROLE, (uint64_t)m->role, 1);
	case RDV_A_LIFETIME:
		return put_u(b, NBSTUN_ATTR_LIFETIME, m->lifetime_s, 4);
	case RDV_A_BUDGET:
		return put_u(b, NBSTUN_ATTR_BUDGET, m->budget_ms, 4);
	case RDV_A_MAPPED:
		return put_ep(b, STUN_ATTR_XOR_MAPPED_ADDRESS, &m->mapped);
	case RDV_A_ERROR:
		return stun_msg_build_error(b, m->error_code, m->reason);
	default:
		return -EINVAL;
	}
}

int rdvmsg_build(const struct rdv_msg *m, uint8_t *buf, size_t cap)
{
	const struct rdv_kind_desc *k;
	struct stun_builder b;
	int r;

	if ((unsigned)m->kind >= RDV_KIND_COUNT)
		return -EINVAL;
	k = &kinds[m->kind];
	/* every required attribute, nothing the kind does not carry */
	if ((m->attrs & k->required) != k->required || (m->attrs & ~(k->required | k->optional)))
		return -EINVAL;
	stun_msg_build_init(&b, buf, cap, k->method, k->cls, m->txid, false);
	for (unsigned bit = 1; bit <= RDV_A_ERROR; bit <<= 1) {
		if (!(m->attrs & bit))
			continue;
		r = put_attr(&b, bit, m);
		if (r < 0)
			return r;
	}
	/* RFC 8489 §7: FINGERPRINT tells these apart from the other traffic
	 * an agent's socket carries */
	stun_msg_build_fingerprint(&b);
	return stun_msg_build_finish(&b);
}

/* --- attribute readers: true when the value is sound ------------------- */

static bool get_text(const uint8_t *v, size_t len, char *out, size_t max)
{
	if (len == 0 || len > max)
		return false;
	memcpy(out, v, len);
	out[len] = '\0';
	return rdvmsg_name_ok(out, max);
}

static bool get_ep(const struct stun_msg *s, uint16_t type, struct dg_ep *ep)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

	if (stun_msg_get_xor_addr(s, type, &ss) < 0 || ss.ss_family != AF_INET ||
	    in->sin_addr.s_addr == 0)
		return false;
	ep->addr = in->sin_addr.s_addr;
	ep->port = in->sin_port;
	return true;
}

static bool get_nat(const uint8_t *v, size_t len, struct natinfo *ni)
{
	if (len != RDV_NAT_LEN || v[0] > NI_MAP_APDM || v[1] > NI_FILTER_APDF ||
	    v[2] > NI_PORTS_RANDOM || (v[3] > 1 && v[3] != 0xFF))
		return false;
	ni->map = (enum ni_map)v[0];
	ni->filter = (enum ni_filter)v[1];
	ni->ports = (enum ni_ports)v[2];
	ni->hairpin = v[3] == 0xFF ? -1 : v[3];
	ni->stride = (int16_t)(uint16_t)nbstun_get_be(v + 4, 2);
	ni->pcp = v[6] & 1; /* other flags: not defined, ignored */
	return true;
}

/* The value must be exactly n bytes. */
static bool get_u(const uint8_t *v, size_t len, size_t n, uint64_t *out)
{
	if (len != n)
		return false;
	*out = nbstun_get_be(v, n);
	return true;
}

static const uint16_t attr_types[] = {
    NBSTUN_ATTR_NAME,
    NBSTUN_ATTR_PEER,
    NBSTUN_ATTR_CAND_HOST,
    NBSTUN_ATTR_CAND_SRFLX,
    NBSTUN_ATTR_CAND_RELAY,
    NBSTUN_ATTR_NAT,
    NBSTUN_ATTR_METHOD,
    NBSTUN_ATTR_TRY,
    NBSTUN_ATTR_START,
    NBSTUN_ATTR_ROLE,
    NBSTUN_ATTR_LIFETIME,
    NBSTUN_ATTR_BUDGET,
    STUN_ATTR_XOR_MAPPED_ADDRESS,
    STUN_ATTR_ERROR_CODE,
};
/* attr_types[i] is the type of bit 1 << i */
_Static_assert(sizeof(attr_types) / sizeof(attr_types[0]) == 14 && RDV_A_ERROR == 1u << 13,
	       "one type per enum rdv_attr bit");

static bool get_attr(const struct stun_msg *s, unsigned bit, const struct stun_attr *a,
		     struct rdv_msg *m)
{
	const uint8_t *v = stun_attr_value(s, a);
	uint64_t u;

	switch (bit) {
	case RDV_A_NAME:
		return get_text(v, a->len, m->name, RDV_NAME_MAX);
	case RDV_A_PEER:
		return get_text(v, a->len, m->peer, RDV_NAME_MAX);
	case RDV_A_HOST:
		return get_ep(s, a->type, &m->cand.host);
	case RDV_A_SRFLX:
		return get_ep(s, a->type, &m->cand.srflx);
	case RDV_A_RELAY:
		return get_ep(s, a->type, &m->cand.relay);
	case RDV_A_NAT:
		return get_nat(v, a->len, &m->cand.nat);
	case RDV_A_METHOD:
		return get_text(v, a->len, m->method, RDV_METHOD_MAX);
	case RDV_A_TRY:
		return get_u(v, a->len, 8, &m->try_id);
	case RDV_A_START:
		if (!get_u(v, a->len, 4, &u))
			return false;
		m->start_ms = (uint32_t)u;
		return true;
	case RDV_A_ROLE:
		if (!get_u(v, a->len, 1, &u) || u > TRAV_RESPONDER)
			return false;
		m->role = (enum trav_role)u;
		return true;
	case RDV_A_LIFETIME:
		if (!get_u(v, a->len, 4, &u))
			return false;
		m->lifetime_s = (uint32_t)u;
		return true;
	case RDV_A_BUDGET:
		if (!get_u(v, a->len, 4, &u))
			return false;
		m->budget_ms = (uint32_t)u;
		return true;
	case RDV_A_MAPPED:
		return get_ep(s, a->type, &m->mapped);
	case RDV_A_ERROR:
		/* the codec checked ERROR-CODE's layout (RFC 8489 §14.8) */
		m->error_code = stun_msg_get_error(s, m->reason, sizeof(m->reason));
		return m->error_code > 0;
	default:
		return false;
	}
}

static enum rdv_parse from_stun(enum stun_parse_result r)
{
	switch (r) {
	case STUN_PARSE_OK:
		return RDV_PARSE_OK;
	case STUN_PARSE_TOP_BITS:
	case STUN_PARSE_BAD_COOKIE:
		return RDV_PARSE_NOT_STUN;
	case STUN_PARSE_TOO_SHORT:
	case STUN_PARSE_LENGTH_OVERRUN:
	case STUN_PARSE_ATTR_TRUNCATED:
		return RDV_PARSE_TRUNCATED;
	default:
		return RDV_PARSE_MALFORMED;
	}
}

/* The kind of (method, cls): RDV_PARSE_OK, _OTHER or _BAD_CLASS. */
static enum rdv_parse find_kind(uint16_t method, enum stun_class cls, enum rdv_kind *kind)
{
	bool ours = false;

	for (int k = 0; k < RDV_KIND_COUNT; k++) {
		if (kinds[k].method != method)
			continue;
		ours = true;
		if (kinds[k].cls == cls) {
			*kind = (enum rdv_kind)k;
			return RDV_PARSE_OK;
		}
	}
	return ours ? RDV_PARSE_BAD_CLASS : RDV_PARSE_OTHER;
}

bool rdvmsg_may_be_ours(const uint8_t *buf, size_t len)
{
	uint16_t method;

	if (len < 2)
		return true; /* the parse says what it is */
	method = stun_type_method((uint16_t)(buf[0] << 8 | buf[1]));
	for (int k = 0; k < RDV_KIND_COUNT; k++)
		if (kinds[k].method == method)
			return true;
	return false;
}

enum rdv_parse rdvmsg_parse(const uint8_t *buf, size_t len, struct rdv_msg *m)
{
	const struct rdv_kind_desc *k;
	struct stun_msg s;
	enum rdv_parse r;
	unsigned allowed;

	memset(m, 0, sizeof(*m));
	m->cand.nat.hairpin = -1;
	r = from_stun(stun_msg_parse(buf, len, 0, &s, NULL, 0));
	if (r != RDV_PARSE_OK)
		return r;
	memcpy(m->txid, s.txid, STUN_TXID_LEN);
	r = find_kind(s.method, s.cls, &m->kind);
	if (r != RDV_PARSE_OK)
		return r;
	/* RFC 8489 §15: an unknown comprehension-required attribute */
	if (s.nunknown)
		return RDV_PARSE_UNKNOWN_ATTR;
	k = &kinds[m->kind];
	allowed = k->required | k->optional;
	for (size_t i = 0; i < sizeof(attr_types) / sizeof(attr_types[0]); i++) {
		unsigned bit = 1u << i;
		const struct stun_attr *a;

		/* attributes another kind carries mean nothing here */
		if (!(allowed & bit) || !(a = stun_msg_find(&s, attr_types[i])))
			continue;
		if (!get_attr(&s, bit, a, m))
			return RDV_PARSE_BAD_ATTR;
		m->attrs |= bit;
	}
	if ((m->attrs & k->required) != k->required)
		return RDV_PARSE_MISSING;
	return RDV_PARSE_OK;
}
