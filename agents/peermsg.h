/* natbed agents: the messages between two peers, STUN-framed (RFC 8489).
 *
 * During a try (agents/method.h) the peers exchange connectivity checks as
 * ICE does (RFC 8445 §7.2): a check is a Binding request carrying the try
 * id (NBSTUN_ATTR_TRY) and the sender's agent name (NBSTUN_ATTR_NAME); its
 * answer is a Binding success response with the same transaction id, the
 * try id, and XOR-MAPPED-ADDRESS set to where the check came from (the
 * sender's peer-reflexive address). A check may also carry
 *  - USE-CANDIDATE (RFC 8445 §7.1.2): "my check on this pair was answered:
 *    use it"; it then carries XOR-MAPPED-ADDRESS too (the receiver's
 *    endpoint as the sender saw it), so both sides know their path;
 *  - NBSTUN_ATTR_CAND_SRFLX: the endpoint the sender predicted this very
 *    check would leave its NAT from (port prediction), as an XOR-address.
 * A plain STUN server's Binding answer (no try id) parses as an answer
 * too: port prediction measures its NAT with those.
 *
 * After setup, data probes are NBSTUN_METHOD_PROBE requests carrying the
 * try id and a sequence number (NBSTUN_ATTR_SEQ); the answer echoes both.
 *
 * Every message ends with FINGERPRINT (RFC 8489 §14.7), so it is told
 * apart from other traffic on the same socket; one without it is refused
 * (but a STUN server's answer). Pure codec: no I/O.
 */
#ifndef NATBED_AGENTS_PEERMSG_H
#define NATBED_AGENTS_PEERMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dgram.h"
#include "natbed/stun.h"

#define PEERMSG_NAME_MAX 63  /* bytes of an agent name, NUL excluded */
#define PEERMSG_MAX	 256 /* the longest message peermsg_build writes */

/* RFC 8445 §16.1: USE-CANDIDATE, comprehension-required, empty. */
#define PEERMSG_ATTR_USE_CANDIDATE 0x0025

enum peermsg_kind {
	PEERMSG_CHECK,	     /* Binding request with a try id and a name */
	PEERMSG_ANSWER,	     /* Binding success with XOR-MAPPED-ADDRESS */
	PEERMSG_PROBE,	     /* NBSTUN_METHOD_PROBE request: try id, seq */
	PEERMSG_PROBE_ANSWER /* its success response: try id, seq echoed */
};

struct peermsg {
	enum peermsg_kind kind;
	uint8_t txid[STUN_TXID_LEN];
	bool has_try; /* always on checks and probes; answers from a STUN server have none */
	uint64_t try_id;
	char name[PEERMSG_NAME_MAX + 1]; /* checks: the sender; "" when absent elsewhere */
	bool nominate;			 /* checks: USE-CANDIDATE */
	bool has_mapped;		 /* answers: always; nominating checks: always */
	struct dg_ep mapped;
	bool has_pred; /* checks: the sender's predicted endpoint */
	struct dg_ep pred;
	uint32_t seq; /* probes */
};

/* What peermsg_parse() found; each value is one counter of a try. */
enum peermsg_result {
	PEERMSG_OK,
	PEERMSG_BAD,	 /* not STUN, truncated, a malformed attribute, bad FINGERPRINT */
	PEERMSG_UNKNOWN, /* STUN, but no message of this file (another method, class, an
			  * unknown comprehension-required attribute, a check without name) */
};

/* Writes m into buf[0..cap). A check needs has_try and a name of 1 to
 * PEERMSG_NAME_MAX bytes; an answer needs has_mapped; nominate needs
 * has_mapped. Returns the length, or -EINVAL (m incomplete, or IPv4 only),
 * -ENOSPC (cap too small; PEERMSG_MAX always fits). */
int peermsg_build(const struct peermsg *m, uint8_t *buf, size_t cap);

/* Reads buf[0..len) into *m; never reads outside it, never trusts a length
 * field (stun_msg_parse). *m is fully set on PEERMSG_OK, undefined
 * otherwise. */
enum peermsg_result peermsg_parse(const uint8_t *buf, size_t len, struct peermsg *m);

/* A check and its answer: the answer to check c received from `from`
 * (same txid and try id, XOR-MAPPED-ADDRESS = from). */
void peermsg_answer_of(const struct peermsg *c, const struct dg_ep *from, struct peermsg *a);

#endif
