#include "peermsg.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "nbstun.h"

#define PEERMSG_TRY_LEN	   8
#define PEERMSG_SEQ_LEN	   4
#define PEERMSG_XADDR4_LEN 8 /* RFC 8489 §14.2: 0, family, X-Port, X-Address */
#define STUN_FAMILY_IPV4_  0x01

/* RFC 8489 §14.2 for an IPv4 endpoint in an attribute the codec does not
 * XOR itself (natbed's candidate attributes are XOR-addresses too, so that
 * a NAT rewriting addresses in payloads leaves them alone). */
static void xaddr4_encode(uint8_t v[PEERMSG_XADDR4_LEN], const struct dg_ep *ep)
{
	uint32_t a = ntohl(ep->addr);

	v[0] = 0;
	v[1] = STUN_FAMILY_IPV4_;
	uint16_t xport = htons((uint16_t)(ntohs(ep->port) ^ (STUN_MAGIC_COOKIE >> 16)));
	uint32_t xaddr = htonl(a ^ STUN_MAGIC_COOKIE);

	memcpy(v + 2, &xport, 2);
	memcpy(v + 4, &xaddr, 4);
}

static bool xaddr4_decode(const uint8_t *v, size_t len, struct dg_ep *ep)
{
	uint16_t xport;
	uint32_t xaddr;

	if (len != PEERMSG_XADDR4_LEN || v[1] != STUN_FAMILY_IPV4_)
		return false;
	memcpy(&xport, v + 2, 2);
	memcpy(&xaddr, v + 4, 4);
	ep->port = htons((uint16_t)(ntohs(xport) ^ (STUN_MAGIC_COOKIE >> 16)));
	ep->addr = htonl(ntohl(xaddr) ^ STUN_MAGIC_COOKIE);
	return true;
}

static void ep_sockaddr(const struct dg_ep *ep, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = ep->addr;
	sa->sin_port = ep->port;
}

static bool peermsg_complete(const struct peermsg *m)
{
	size_t nlen = strnlen(m->name, sizeof(m->name));

	if (nlen > PEERMSG_NAME_MAX)
		return false;
	switch (m->kind) {
	case PEERMSG_CHECK:
		return m->has_try && nlen > 0 && (!m->nominate || m->has_mapped);
	case PEERMSG_ANSWER:
		return m->has_mapped;
	case PEERMSG_PROBE:
	case PEERMSG_PROBE_ANSWER:
		return m->has_try;
	}
	return false;
}

int peermsg_build(const struct peermsg *m, uint8_t *buf, size_t cap)
{
	bool probe = m->kind == PEERMSG_PROBE || m->kind == PEERMSG_PROBE_ANSWER;
	bool request = m->kind == PEERMSG_CHECK || m->kind == PEERMSG_PROBE;
	struct stun_builder b;
	uint8_t v[PEERMSG_XADDR4_LEN];
	struct sockaddr_in sa;

	if (!peermsg_complete(m))
		return -EINVAL;
	stun_msg_build_init(&b, buf, cap, probe ? NBSTUN_METHOD_PROBE : STUN_METHOD_BINDING,
			    request ? STUN_CLASS_REQUEST : STUN_CLASS_SUCCESS, m->txid, false);
	if (m->has_mapped && !probe) {
		ep_sockaddr(&m->mapped, &sa);
		stun_msg_build_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, (const struct sockaddr *)&sa);
	}
	if (m->kind == PEERMSG_CHECK && m->nominate)
		stun_msg_build_raw(&b, PEERMSG_ATTR_USE_CANDIDATE, NULL, 0);
	if (m->has_try) {
		uint64_t t = htobe64(m->try_id);

		stun_msg_build_raw(&b, NBSTUN_ATTR_TRY, &t, sizeof(t));
	}
	if (m->name[0])
		stun_msg_build_raw(&b, NBSTUN_ATTR_NAME, m->name, strlen(m->name));
	if (m->kind == PEERMSG_CHECK && m->has_pred) {
		xaddr4_encode(v, &m->pred);
		stun_msg_build_raw(&b, NBSTUN_ATTR_CAND_SRFLX, v, sizeof(v));
	}
	if (probe) {
		uint32_t seq = htonl(m->seq);

		stun_msg_build_raw(&b, NBSTUN_ATTR_SEQ, &seq, sizeof(seq));
	}
	stun_msg_build_fingerprint(&b);
	return stun_msg_build_finish(&b);
}

static enum peermsg_result parse_kind(const struct stun_msg *s, struct peermsg *m)
{
	size_t i;

	for (i = 0; i < s->nunknown; i++)
		if (s->unknown[i] != PEERMSG_ATTR_USE_CANDIDATE)
			return PEERMSG_UNKNOWN; /* RFC 8489 §6.3.1: would be a 420 */
	if (s->method == STUN_METHOD_BINDING && s->cls == STUN_CLASS_REQUEST)
		m->kind = PEERMSG_CHECK;
	else if (s->method == STUN_METHOD_BINDING && s->cls == STUN_CLASS_SUCCESS)
		m->kind = PEERMSG_ANSWER;
	else if (s->method == NBSTUN_METHOD_PROBE && s->cls == STUN_CLASS_REQUEST)
		m->kind = PEERMSG_PROBE;
	else if (s->method == NBSTUN_METHOD_PROBE && s->cls == STUN_CLASS_SUCCESS)
		m->kind = PEERMSG_PROBE_ANSWER;
	else
		return PEERMSG_UNKNOWN;
	return PEERMSG_OK;
}

/* The attributes of this file: each present one must be well formed. */
static enum peermsg_result parse_attrs(const struct stun_msg *s, struct peermsg *m)
{
	const struct stun_attr *a;
	const uint8_t *v;

	if ((a = stun_msg_find(s, NBSTUN_ATTR_TRY)) != NULL) {
		if (a->len != PEERMSG_TRY_LEN)
			return PEERMSG_BAD;
		m->has_try = true;
		memcpy(&m->try_id, stun_attr_value(s, a), PEERMSG_TRY_LEN);
		m->try_id = be64toh(m->try_id);
	}
	if ((a = stun_msg_find(s, NBSTUN_ATTR_NAME)) != NULL) {
		v = stun_attr_value(s, a);
		if (a->len == 0 || a->len > PEERMSG_NAME_MAX || memchr(v, '\0', a->len))
			return PEERMSG_BAD;
		memcpy(m->name, v, a->len);
		m->name[a->len] = '\0';
	}
	if ((a = stun_msg_find(s, PEERMSG_ATTR_USE_CANDIDATE)) != NULL) {
		if (a->len != 0)
			return PEERMSG_BAD;
		m->nominate = true;
	}
	if ((a = stun_msg_find(s, NBSTUN_ATTR_CAND_SRFLX)) != NULL) {
		if (!xaddr4_decode(stun_attr_value(s, a), a->len, &m->pred))
			return PEERMSG_BAD;
		m->has_pred = true;
	}
	if ((a = stun_msg_find(s, NBSTUN_ATTR_SEQ)) != NULL) {
		if (a->len != PEERMSG_SEQ_LEN)
			return PEERMSG_BAD;
		memcpy(&m->seq, stun_attr_value(s, a), PEERMSG_SEQ_LEN);
		m->seq = ntohl(m->seq);
	}
	return PEERMSG_OK;
}

static enum peermsg_result parse_mapped(const struct stun_msg *s, struct peermsg *m)
{
	struct sockaddr_storage ss;
	int r = stun_msg_get_addr(s, STUN_ATTR_XOR_MAPPED_ADDRESS, &ss);

	if (r == -ENOENT)
		return PEERMSG_OK;
	if (r < 0)
		return PEERMSG_BAD;
	if (ss.ss_family != AF_INET)
		return PEERMSG_UNKNOWN; /* peers speak IPv4 */
	m->has_mapped = true;
	m->mapped.addr = ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
	m->mapped.port = ((struct sockaddr_in *)&ss)->sin_port;
	return PEERMSG_OK;
}

enum peermsg_result peermsg_parse(const uint8_t *buf, size_t len, struct peermsg *m)
{
	struct stun_msg s;
	enum peermsg_result r;

	memset(m, 0, sizeof(*m));
	if (stun_msg_parse(buf, len, 0, &s, NULL, 0) != STUN_PARSE_OK)
		return PEERMSG_BAD;
	memcpy(m->txid, s.txid, STUN_TXID_LEN);
	if ((r = parse_kind(&s, m)) != PEERMSG_OK || (r = parse_attrs(&s, m)) != PEERMSG_OK ||
	    (r = parse_mapped(&s, m)) != PEERMSG_OK)
		return r;
	/* every message of a peer's ends with one; a STUN server's need not */
	if ((m->has_try || m->kind != PEERMSG_ANSWER) && !s.has_fingerprint)
		return PEERMSG_BAD;
	switch (m->kind) {
	case PEERMSG_CHECK:
		/* a Binding request without both is some STUN client's, not a peer's */
		if (!m->has_try || !m->name[0])
			return PEERMSG_UNKNOWN;
		return PEERMSG_OK;
	case PEERMSG_ANSWER:
		return m->has_mapped ? PEERMSG_OK : PEERMSG_UNKNOWN;
	case PEERMSG_PROBE:
	case PEERMSG_PROBE_ANSWER:
		return m->has_try && stun_msg_find(&s, NBSTUN_ATTR_SEQ) ? PEERMSG_OK
									: PEERMSG_UNKNOWN;
	}
	return PEERMSG_UNKNOWN;
}

void peermsg_answer_of(const struct peermsg *c, const struct dg_ep *from, struct peermsg *a)
{
	memset(a, 0, sizeof(*a));
	a->kind = c->kind == PEERMSG_PROBE ? PEERMSG_PROBE_ANSWER : PEERMSG_ANSWER;
	memcpy(a->txid, c->txid, STUN_TXID_LEN);
	a->has_try = c->has_try;
	a->try_id = c->try_id;
	a->seq = c->seq;
	if (a->kind == PEERMSG_ANSWER) {
		a->has_mapped = true;
		a->mapped = *from;
	}
}
