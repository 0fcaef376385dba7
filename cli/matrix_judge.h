/* natbed matrix's judge: what a pair of hosts did, read from their
 * captures alone (never from what the program says), within the pair's
 * time window.
 *
 * direct:  each host's capture shows a UDP flow both ways with the other's
 *          public address (its NAT's outside address, or its own when it
 *          has no NAT; the inside addresses when both sit behind one NAT):
 *          datagrams it sent from one of its endpoints to one of the
 *          other's, and datagrams back from there to that endpoint.
 * relayed: not direct, and each host's capture shows relayed data both
 *          ways with the TURN server: ChannelData, Send or Data
 *          indications (RFC 8656 §11, §12) on the server's port, or
 *          datagrams to and from a relayed address (any other port of the
 *          server). Allocations, refreshes, permissions and channel binds
 *          alone do not count.
 * none:    neither.
 *
 *	struct mx_judge *j = mx_judge_load(dir, t, turn_addr, 3478, err, sizeof(err));
 *	mx_judge_pair(j, ha, hb, t0_ns, t1_ns, &v);
 *	mx_judge_free(j);
 */
#ifndef NATBED_CLI_MATRIX_JUDGE_H
#define NATBED_CLI_MATRIX_JUDGE_H

#include <stddef.h>
#include <stdint.h>

#include "natbed/topo.h"

#define MX_EP_STR 24 /* "198.51.100.10:3478" */

enum mx_path { MX_PATH_NONE, MX_PATH_DIRECT, MX_PATH_RELAYED };

/* "none", "direct", "relayed" (results.h's RESULTS_NONE and RESULTS_PATH_*). */
const char *mx_path_name(enum mx_path p);

struct mx_verdict {
	enum mx_path path;
	/* from the window's start to the later of the two hosts' first
	 * datagram back on the path, in ms; NAN with none */
	double setup_ms;
	/* on the first host's capture: its endpoint on the path and the far
	 * end (the peer's public endpoint, or the TURN server's); "" with none */
	char local[MX_EP_STR], remote[MX_EP_STR];
	char why[200]; /* with none: what the captures lack */
};

struct mx_judge;

/* Loads DIR/HOST.pcap of every host of t (a host without one shows
 * nothing). turn_addr (network order) and turn_port name the TURN server;
 * turn_port 0: none. NULL with "FILE: why" in err when a capture cannot be
 * read. t must outlive the judge. */
struct mx_judge *mx_judge_load(const char *dir, const struct topo *t, uint32_t turn_addr,
			       uint16_t turn_port, char *err, size_t errlen);
void mx_judge_free(struct mx_judge *j);

/* The verdict on hosts ha and hb (indices in t) from the packets their
 * captures recorded between t0_ns and t1_ns (wall clock, ns since the
 * epoch). */
void mx_judge_pair(const struct mx_judge *j, int ha, int hb, int64_t t0_ns, int64_t t1_ns,
		   struct mx_verdict *v);

#endif
