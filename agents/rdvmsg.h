/* natbed rendezvous messages: STUN-framed (RFC 8489 §5 header, §14
 * attributes, FINGERPRINT on every message so they demultiplex from other
 * traffic on an agent's socket, RFC 8489 §7), with the methods and the
 * comprehension-optional attributes of agents/nbstun.h.
 *
 *   REGISTER  request   NAME CAND-HOST [CAND-SRFLX] [CAND-RELAY] [NAT] [LIFETIME]
 *             success   LIFETIME XOR-MAPPED-ADDRESS
 *             error     ERROR-CODE
 *   CONNECT   request   NAME PEER METHOD [BUDGET]
 *             success   PEER TRY
 *             error     ERROR-CODE [PEER]
 *   INTRODUCE request   PEER CAND-HOST [CAND-SRFLX] [CAND-RELAY] NAT METHOD TRY
 *                       START ROLE [BUDGET]            (rendezvous -> agent)
 *             success   TRY                            (the agent's ack)
 *             error     ERROR-CODE TRY
 *   LOOKUP    request   NAME PEER
 *             success   PEER CAND-HOST [CAND-SRFLX] [CAND-RELAY] NAT
 *             error     ERROR-CODE [PEER]
 *   CANCEL    request   TRY ERROR-CODE [PEER]          (rendezvous -> agent)
 *             success   TRY                            (the agent's ack)
 *
 * docs/agents.md gives the layout of every attribute. The codec builds on
 * lib/stun.c: it never reads outside the datagram and checks the length
 * and value of every attribute it knows; attributes it does not know in
 * the comprehension-optional range are ignored (RFC 8489 §15).
 */
#ifndef NATBED_AGENTS_RDVMSG_H
#define NATBED_AGENTS_RDVMSG_H

#include <stddef.h>
#include <stdint.h>

#include "method.h"
#include "natbed/stun.h"

#define RDV_NAME_MAX   32  /* bytes of an agent name, [A-Za-z0-9._-] */
#define RDV_METHOD_MAX 16  /* bytes of a method name, same characters */
#define RDV_REASON_MAX 127 /* bytes of an error's reason phrase kept */
#define RDV_NAT_LEN    8   /* NAT attribute: map, filter, ports, hairpin, stride, flags, 0 */

/* One kind per (method, class) the protocol has. */
enum rdv_kind {
	RDV_REGISTER,
	RDV_REGISTER_OK,
	RDV_REGISTER_ERR,
	RDV_CONNECT,
	RDV_CONNECT_OK,
	RDV_CONNECT_ERR,
	RDV_INTRODUCE,
	RDV_INTRODUCE_OK,
	RDV_INTRODUCE_ERR,
	RDV_LOOKUP,
	RDV_LOOKUP_OK,
	RDV_LOOKUP_ERR,
	RDV_CANCEL,
	RDV_CANCEL_OK,
	RDV_KIND_COUNT
};

/* Which attributes a message carries (struct rdv_msg.attrs). */
enum rdv_attr {
	RDV_A_NAME = 1u << 0,
	RDV_A_PEER = 1u << 1,
	RDV_A_HOST = 1u << 2,	   /* cand.host */
	RDV_A_SRFLX = 1u << 3,	   /* cand.srflx */
	RDV_A_RELAY = 1u << 4,	   /* cand.relay */
	RDV_A_NAT = 1u << 5,	   /* cand.nat */
	RDV_A_METHOD = 1u << 6,	   /* method */
	RDV_A_TRY = 1u << 7,	   /* try_id */
	RDV_A_START = 1u << 8,	   /* start_ms */
	RDV_A_ROLE = 1u << 9,	   /* role */
	RDV_A_LIFETIME = 1u << 10, /* lifetime_s */
	RDV_A_BUDGET = 1u << 11,   /* budget_ms */
	RDV_A_MAPPED = 1u << 12,   /* mapped (XOR-MAPPED-ADDRESS) */
	RDV_A_ERROR = 1u << 13,	   /* error_code, reason (ERROR-CODE) */
};

/* A message, decoded: the fields of the attributes in attrs are valid. */
struct rdv_msg {
	enum rdv_kind kind;
	uint8_t txid[STUN_TXID_LEN];
	unsigned attrs;
	char name[RDV_NAME_MAX + 1];
	char peer[RDV_NAME_MAX + 1];
	char method[RDV_METHOD_MAX + 1];
	struct trav_cand cand;
	struct dg_ep mapped;
	uint32_t lifetime_s;
	uint32_t budget_ms;
	uint32_t start_ms; /* from the moment the message is sent */
	uint64_t try_id;
	enum trav_role role; /* the receiver's */
	int error_code;	     /* 300..699 */
	char reason[RDV_REASON_MAX + 1];
};

/* What rdvmsg_parse() found; rdvmsg_parse_name() names each for counters. */
enum rdv_parse {
	RDV_PARSE_OK,
	RDV_PARSE_NOT_STUN,	/* no STUN header: top bits, cookie */
	RDV_PARSE_TRUNCATED,	/* shorter than its header or its length says */
	RDV_PARSE_MALFORMED,	/* STUN framing broken otherwise (RFC 8489 §6.3, §14) */
	RDV_PARSE_OTHER,	/* sound STUN, not a rendezvous method (Binding, ...) */
	RDV_PARSE_BAD_CLASS,	/* a rendezvous method in a class it has not (indication) */
	RDV_PARSE_UNKNOWN_ATTR, /* a comprehension-required attribute (RFC 8489 §15) */
	RDV_PARSE_MISSING,	/* an attribute its kind requires is absent */
	RDV_PARSE_BAD_ATTR,	/* an attribute of ours with a bad length or value */
	RDV_PARSE_COUNT
};

/* Writes m as a datagram into buf[0..cap): every attribute in m->attrs,
 * then FINGERPRINT. Returns its length (> 0), -EINVAL when m lacks an
 * attribute its kind requires or holds a bad value (a name of other
 * characters, an address of 0), or -ENOSPC. */
int rdvmsg_build(const struct rdv_msg *m, uint8_t *buf, size_t cap);

/* Decodes the datagram buf[0..len) into *m (m->attrs says what it held).
 * Never reads outside buf. Returns RDV_PARSE_OK or the first check that
 * failed. m->txid is valid when the result is RDV_PARSE_OTHER or later
 * in enum rdv_parse, m->kind from RDV_PARSE_UNKNOWN_ATTR on. */
enum rdv_parse rdvmsg_parse(const uint8_t *buf, size_t len, struct rdv_msg *m);

/* False when the datagram buf[0..len) is no rendezvous message for its
 * STUN type alone (its first two bytes: another method): rdvmsg_parse
 * would say RDV_PARSE_OTHER, or an error before, only after checking all
 * of it, FINGERPRINT's CRC included. True otherwise. */
bool rdvmsg_may_be_ours(const uint8_t *buf, size_t len);

/* A short constant name for r ("ok", "truncated", ...). */
const char *rdvmsg_parse_name(enum rdv_parse r);

/* A constant name for k ("register", "connect-ok", ...). */
const char *rdvmsg_kind_name(enum rdv_kind k);

/* Whether s is a valid agent name (max RDV_NAME_MAX) or method name
 * (max RDV_METHOD_MAX): 1..max bytes of [A-Za-z0-9._-]. */
bool rdvmsg_name_ok(const char *s, size_t max);

#endif
