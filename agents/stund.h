/* natbed-stund internals: the request logic (stund_serve.c), shared with
 * the program's main and event loop (stund.c). */
#ifndef NATBED_AGENTS_STUND_H
#define NATBED_AGENTS_STUND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "natbed/stun.h"

/* RFC 5780 §4.1: two addresses x two ports. A socket index is
 * (address bit << 1) | port bit; index 0 is the primary address and port. */
#define STUND_SOCKETS	   4
#define STUND_ALT_IP_BIT   2
#define STUND_ALT_PORT_BIT 1
#define STUND_MAX_DGRAM	   4096 /* larger datagrams are dropped as oversize */

/* Why a datagram got no answer. Parse failures come first, in the order of
 * enum stun_parse_result; stund_drop_name() names each for --stats. */
enum stund_drop {
	STUND_DROP_PARSE_FIRST = 0,			  /* + enum stun_parse_result (OK unused) */
	STUND_DROP_NOT_REQUEST = STUN_PARSE_RESULT_COUNT, /* indication or response */
	STUND_DROP_OVERSIZE,				  /* longer than STUND_MAX_DGRAM */
	STUND_DROP_BUILD,				  /* the answer did not fit */
	STUND_DROP_SEND,				  /* sendmmsg refused it */
	STUND_DROP_COUNT,
};

struct stund_counters {
	uint64_t datagrams;	   /* every datagram read */
	uint64_t requests;	   /* well-formed enough to answer (RFC 8489 or 3489) */
	uint64_t requests_classic; /* of which RFC 3489, no magic cookie */
	uint64_t success;	   /* success responses sent */
	uint64_t error;		   /* error responses sent */
	uint64_t error_400;
	uint64_t error_420;
	uint64_t drops[STUND_DROP_COUNT];
};

struct stund_config {
	struct sockaddr_storage addr[STUND_SOCKETS]; /* only [0] without alternate */
	int has_alternate;
	const char *software; /* NULL: no SOFTWARE attribute */
};

/* One answer: bytes in the caller's buffer, the socket it leaves from and
 * where it goes. */
struct stund_reply {
	size_t len;
	int code;	      /* 0 for a success response, else the ERROR-CODE */
	enum stund_drop drop; /* why, when stund_handle() returned 0 */
	int sock;
	struct sockaddr_storage to;
};

/* Answers one datagram buf[0..len) that arrived on socket in_sock from
 * *from, writing the answer into out[0..outcap). Counts everything in *c.
 * Returns 1 with *reply filled, or 0 when the datagram is dropped (the
 * reason already counted). Pure: no I/O, no clock. */
int stund_handle(const struct stund_config *cfg, struct stund_counters *c, int in_sock,
		 const uint8_t *buf, size_t len, const struct sockaddr_storage *from, uint8_t *out,
		 size_t outcap, struct stund_reply *reply);

/* The --stats name of a drop reason. */
const char *stund_drop_name(enum stund_drop d);

/* Counts a drop found outside stund_handle() (oversize, send). */
void stund_count_drop(struct stund_counters *c, enum stund_drop d);

/* Counts a reply of stund_handle() as sent, or as a STUND_DROP_SEND drop
 * when sent is 0. */
void stund_count_sent(struct stund_counters *c, const struct stund_reply *reply, int sent);

#endif
