/* Private to the NAT engine (nat.c), its behaviour tables (nat_behav.c)
 * and its control and checkpoint code (nat_ctl.c). Callers use nat.h. */
#ifndef NATBED_EMU_NAT_INT_H
#define NATBED_EMU_NAT_INT_H

#include "nat.h"
#include "natbed/rng.h"
#include "tcpst.h"

#define NAT_BUCKETS 4096 /* outbound hash chains */
#define NAT_PORTS   65536
#define NAT_FRAGS   256 /* datagrams in fragments followed at once */

/* A remote endpoint the inside host sent to: what filtering checks. */
struct nat_perm {
	struct nat_perm *next;
	uint32_t addr;	  /* network order */
	uint16_t port;	  /* network order; 0 for ICMP */
	struct tcpst tcp; /* TCP only: A is the inside host, B the remote */
};

struct nat_map {
	struct nat *nat;
	struct nat_map *hnext; /* outbound hash chain */
	enum nat_proto proto;
	uint32_t int_addr; /* network order, as are the ports */
	uint16_t int_port;
	uint32_t key_addr; /* remote part of the mapping key: 0 for EIM */
	uint16_t key_port; /* 0 unless APDM */
	uint16_t ext_port;
	natbed_time_t expires;
	natbed_time_t armed; /* when expiry_ev is due */
	uint64_t expiry_ev;  /* scheduler event id */
	uint64_t pkts_out, pkts_in;
	struct nat_perm *perms;
};

/* A datagram in fragments: its later fragments carry no ports, so they are
 * translated like the first (RFC 4787 REQ-14), by IP identification. */
struct nat_frag {
	uint32_t src, dst; /* as the fragments arrive (network order) */
	uint16_t id;
	uint8_t proto;
	uint8_t outbound;
	uint32_t addr; /* what the translated address becomes */
	natbed_time_t expires;
};

struct nat {
	struct nat_cfg cfg;
	struct nat_frag frags[NAT_FRAGS];
	unsigned frag_next; /* the oldest slot: reused first */
	struct sched *s;
	struct nat_counters c;
	struct rng rng;
	struct nat_map *buckets[NAT_BUCKETS];
	/* by external port (host order), per protocol; made on first use */
	struct nat_map **by_port[NAT_PROTO_COUNT];
	size_t in_use[NAT_PROTO_COUNT];
	uint32_t next_port[NAT_PROTO_COUNT]; /* sequential, host order */
};

/* --- the behaviour tables (nat_behav.c): one entry a behaviour ----------- */

/* Mapping (RFC 4787 §4.1): the remote part of the key of a mapping for a
 * packet to (ra, rp), network order. */
struct nat_mapping_kind {
	const char *name;
	void (*key)(uint32_t ra, uint16_t rp, uint32_t *ka, uint16_t *kp);
};

/* Filtering (RFC 4787 §5): may a packet from (addr, port) reach m? */
struct nat_filtering_kind {
	const char *name;
	bool (*allows)(const struct nat_map *m, uint32_t addr, uint16_t port);
};

/* Port assignment (RFC 4787 §4.2): a free external port (host order) for
 * a new mapping of protocol p whose inside port is want, or -1. */
struct nat_ports_kind {
	const char *name;
	int32_t (*pick)(struct nat *n, enum nat_proto p, uint16_t want);
};

/* Indexed by enum topo_nat_map and enum topo_nat_ports. */
extern const struct nat_mapping_kind nat_mapping_kinds[];
extern const struct nat_filtering_kind nat_filtering_kinds[];
extern const struct nat_ports_kind nat_ports_kinds[];

/* --- engine internals the tables and nat_ctl.c share (nat.c) -------------- */

/* Whether external port (host order) of protocol p may take a new mapping
 * whose inside port is want: free, and of want's parity when REQ-4 asks. */
bool nat_port_ok(const struct nat *n, enum nat_proto p, uint32_t port, uint16_t want);

/* The first port from start (host order) on, wrapping within the range,
 * that nat_port_ok() takes; -1 when none. */
int32_t nat_port_scan(const struct nat *n, enum nat_proto p, uint32_t start, uint16_t want);

/* The remote endpoint (addr, port) m's filtering remembers, or NULL; by_port
 * false matches any port. */
struct nat_perm *nat_perm_find(const struct nat_map *m, uint32_t addr, uint16_t port, bool by_port);
/* Remembers (addr, port) in m: the existing entry or a new one; NULL on
 * ENOMEM. */
struct nat_perm *nat_perm_add(struct nat_map *m, uint32_t addr, uint16_t port);

/* A mapping of protocol p from the inside endpoint (a, port) with key
 * (ka, kp) on external port ext (host order), expiring at expires. NULL if
 * ext is taken or on ENOMEM. */
struct nat_map *nat_map_add(struct nat *n, enum nat_proto p, uint32_t a, uint16_t port, uint32_t ka,
			    uint16_t kp, uint16_t ext, natbed_time_t expires);

/* Every mapping, by protocol and then external port, in a new array of
 * *count (free it); NULL when there are none or on ENOMEM. */
struct nat_map **nat_maps_sorted(const struct nat *n, size_t *count);

/* Whether cfg can run: a port range, a stride. */
bool nat_cfg_ok(const struct nat_cfg *cfg);

#endif
