/* Private to the firewall engine (firewall.c) and its JSON and checkpoint
 * code (fw_ctl.c). Callers use firewall.h. */
#ifndef NATBED_EMU_FW_INT_H
#define NATBED_EMU_FW_INT_H

#include <stdbool.h>

#include "firewall.h"
#include "tcpst.h"

#define FW_BUCKETS 4096 /* flow hash chains, a power of two */

/* A packet's flow key; addresses and ports in network order. ICMP echo
 * carries its identifier in both ports, so a reply reverses to its request. */
struct fw_tuple {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t proto;
	bool ports; /* UDP or TCP with its ports present: port rules apply */
};

struct fw_flow {
	struct fw *fw;
	struct fw_flow *hnext;
	struct fw_tuple t; /* as the packet that started it went */
	enum fw_dir dir;   /* that packet's direction */
	bool replied;
	struct tcpst tcp; /* TCP: A sent the flow's first packet */
	natbed_time_t expires;
	uint64_t expiry_ev; /* scheduler event id, 0 without a scheduler */
};

/* A datagram in fragments whose first fragment was decided: its later
 * fragments carry no ports, so they meet the same fate (as a NAT's follow
 * their first, RFC 4787 REQ-14), by IP identification. */
struct fw_frag {
	uint32_t src, dst; /* network order */
	uint16_t id;
	uint8_t proto;
	uint8_t verdict; /* enum fw_verdict of the first */
	int rule;	 /* what decided it: a rule, FW_RULE_DEFAULT or _ESTABLISHED */
	natbed_time_t expires;
};

struct fw {
	struct topo_fw cfg;
	struct sched *s;
	struct fw_counters c;
	int last;
	struct fw_flow *buckets[FW_BUCKETS];
	struct fw_frag frags[FW_FRAGS];
	unsigned frag_next; /* the oldest slot: reused first */
};

/* The chain of t and of its reverse (one walk finds a flow from either
 * end). */
size_t fw_hash(const struct fw_tuple *t);

/* The live flow t belongs to, in either orientation (*reply: t runs
 * against it), or NULL; flows found expired on the way are freed. */
struct fw_flow *fw_flow_find(struct fw *fw, const struct fw_tuple *t, natbed_time_t now,
			     bool *reply);

/* Puts flow f, its tuple, direction and expiry set, in fw's table with
 * its expiry event; counts it active. 0, or -1 (f not taken) when the
 * scheduler has no room. */
int fw_flow_insert(struct fw *fw, struct fw_flow *f);

#endif
