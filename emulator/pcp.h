/* natbed-emu port mapping on a NAT's inside gateway: PCP (RFC 6887) MAP
 * and ANNOUNCE, and NAT-PMP (RFC 6886), both on UDP port 5351 and told
 * apart by the version byte (0: NAT-PMP, 2: PCP; any other: PCP's
 * UNSUPP_VERSION naming version 2, RFC 6887 §9).
 *
 * Pure: pcp_answer() reads one request and writes its answer; the fabric
 * receives the datagram and sends the answer back; the NAT engine grants
 * the mapping (nat_grant()). No I/O, no clock. */
#ifndef NATBED_EMU_PCP_H
#define NATBED_EMU_PCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nat.h"

#define PCP_PORT       5351 /* RFC 6887 §19.1, RFC 6886 §3.1 */
#define PCP_MSG_MAX    1100 /* RFC 6887 §7: no PCP message is longer */
#define PCP_VERSION    2
#define NATPMP_VERSION 0

/* RFC 6887 §7.4 result codes */
enum pcp_result {
	PCP_SUCCESS = 0,
	PCP_UNSUPP_VERSION = 1,
	PCP_NOT_AUTHORIZED = 2,
	PCP_MALFORMED_REQUEST = 3,
	PCP_UNSUPP_OPCODE = 4,
	PCP_UNSUPP_OPTION = 5,
	PCP_MALFORMED_OPTION = 6,
	PCP_NETWORK_FAILURE = 7,
	PCP_NO_RESOURCES = 8,
	PCP_UNSUPP_PROTOCOL = 9,
	PCP_USER_EX_QUOTA = 10,
	PCP_CANNOT_PROVIDE_EXTERNAL = 11,
	PCP_ADDRESS_MISMATCH = 12,
	PCP_EXCESSIVE_REMOTE_PEERS = 13,
	PCP_RESULT_COUNT
};

/* RFC 6886 §3.5 result codes */
enum natpmp_result {
	NATPMP_SUCCESS = 0,
	NATPMP_UNSUPP_VERSION = 1,
	NATPMP_REFUSED = 2,
	NATPMP_NETWORK_FAILURE = 3,
	NATPMP_NO_RESOURCES = 4,
	NATPMP_UNSUPP_OPCODE = 5,
	NATPMP_RESULT_COUNT
};

struct pcp_counters {
	uint64_t requests;		      /* every datagram to port 5351 */
	uint64_t ignored;		      /* too short, a response, ...: no answer */
	uint64_t pcp[PCP_RESULT_COUNT];	      /* PCP answers by result */
	uint64_t natpmp[NATPMP_RESULT_COUNT]; /* NAT-PMP answers by result */
};

/* The result codes as the RFCs spell them ("SUCCESS", "NO_RESOURCES"...). */
const char *pcp_result_name(enum pcp_result r);
const char *natpmp_result_name(enum natpmp_result r);

/* Answers request req[0..len), sent by inside address src (network order)
 * to NAT n at time now, into out[0..cap) (PCP_MSG_MAX suffices). Returns
 * the answer's length, or 0 when the request gets none (RFC 6887 §8.3: a
 * message shorter than 4 bytes or with the R bit set; RFC 6886: a NAT-PMP
 * request that is too short, or of opcode 128 or more). Counts in *c. */
size_t pcp_answer(struct nat *n, struct pcp_counters *c, const uint8_t *req, size_t len,
		  uint32_t src, natbed_time_t now, uint8_t *out, size_t cap);

/* What a NAT's gateway multicasts to 224.0.0.1:5350 when it lost its
 * mappings (a reboot: natbed ctl nat NAME flush), so that clients renew
 * theirs at once: NAT-PMP's public address response (RFC 6886 §3.2.1,
 * 12 bytes, public_addr in network order) when pmp, else PCP's ANNOUNCE
 * response (RFC 6887 §14.1.3, 24 bytes), both with the epoch at now.
 * out holds PCP_ANNOUNCE_MAX. Returns the length. */
#define PCP_ANNOUNCE_MAX   24
#define PCP_ANNOUNCE_PORT  5350 /* RFC 6886 §3.2.1, RFC 6887 §19.1 */
#define PCP_ANNOUNCE_GROUP "224.0.0.1"
#define PCP_ANNOUNCE_SENDS 10 /* RFC 6886 §3.2.1: 0, 250 ms, then doubling */
size_t pcp_announcement(const struct nat *n, bool pmp, uint32_t public_addr, natbed_time_t now,
			uint8_t *out);

#endif
