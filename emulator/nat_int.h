/* Private to the NAT engine (nat.c), its behaviour tables (nat_behav.c)
 * and its control and checkpoint code (nat_ctl.c). Callers use nat.h. */
#ifndef NATBED_EMU_NAT_INT_H
#define NATBED_EMU_NAT_INT_H

#include "nat.h"
#include "natbed/rng.h"
#include "tcpst.h"

/* Mappings by inside endpoint, and by outside one: two chained hashes of
 * as many buckets as mappings, at least NAT_BUCKETS_MIN, doubled as they
 * grow (a NAT of natbed sim holds a few hundred; a table sized for the
 * most, 4096 buckets each, missed the cache on every lookup). */
#define NAT_BUCKETS_MIN	 64
#define NAT_BUCKETS_MAX	 (1u << 22)
#define NAT_SUB_BUCKETS	 1024 /* subscribers by inside address */
#define NAT_RESV_BUCKETS 1024 /* reservations by outside port */
#define NAT_RESV_MAX	 4096 /* reservations held at once; more are not made */
#define NAT_FRAGS	 256  /* datagrams in fragments followed at once */
#define NAT_BLOCKS_MAX	 64   /* port blocks one subscriber may hold */
#define NAT_PORTS	 65536

/* A remote endpoint the inside host sent to: what filtering checks. */
struct nat_perm {
	struct nat_perm *next;
	uint32_t addr;	  /* network order */
	uint16_t port;	  /* network order; 0 for ICMP */
	struct tcpst tcp; /* TCP only: A is the inside host, B the remote */
};

/* RFC 6888: a subscriber, one inside address. Paired pooling (REQ-2):
 * every mapping of it uses one outside address; with port blocks, its
 * ports come from the blocks it holds (REQ-4). */
struct nat_sub {
	struct nat_sub *next;
	uint32_t int_addr; /* network order */
	unsigned pub;	   /* its outside address: cfg.publics[pub] */
	size_t n_maps;	   /* mappings of every protocol */
	uint16_t n_blocks;
	uint16_t blocks[NAT_BLOCKS_MAX]; /* index of each block held */
};

struct nat_map {
	struct nat *nat;
	struct nat_map *hnext; /* by inside endpoint and key */
	struct nat_map *enext; /* by outside endpoint */
	/* what points at this mapping in each chain (a bucket, or the one
	 * before it): unlinked without a walk */
	struct nat_map **hpprev, **epprev;
	struct nat_map *aprev, *anext; /* every mapping of the NAT (nat.all) */
	struct nat_sub *sub;
	enum nat_proto proto;
	uint32_t int_addr; /* network order, as are the ports */
	uint16_t int_port;
	uint32_t key_addr; /* remote part of the mapping key: 0 for EIM */
	uint16_t key_port; /* 0 unless APDM */
	uint32_t ext_addr;
	uint16_t ext_port;
	bool replied;		      /* an answer came in: the longer UDP lifetime */
	uint8_t granted;	      /* enum nat_grant: asked for by PCP or NAT-PMP */
	uint8_t nonce[NAT_NONCE_LEN]; /* PCP: the client's nonce (RFC 6887 §11.1) */
	natbed_time_t granted_until;  /* the lifetime granted ends */
	natbed_time_t created, expires;
	natbed_time_t armed; /* when expiry_ev is due */
	uint64_t expiry_ev;  /* scheduler event id */
	uint64_t pkts_out, pkts_in;
	struct nat_perm *perms;
};

/* inbound-reserves: an unanswered inbound packet from (raddr, rport) to
 * (ext_addr, ext_port) holds that pair, as a Linux conntrack entry to the
 * router itself does. */
struct nat_resv {
	struct nat_resv *next;
	enum nat_proto proto;
	uint32_t ext_addr, raddr; /* network order, as are the ports */
	uint16_t ext_port, rport;
	natbed_time_t expires;
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
	struct sched *s;
	struct nat_counters c;
	struct rng rng;
	struct nat_map **buckets; /* bmask + 1 of them, as ebuckets */
	struct nat_map **ebuckets;
	size_t bmask;
	struct nat_map *all; /* every mapping, the newest first: what a flush frees */
	/* freed mappings (through hnext) and permissions, kept for the next:
	 * natbed sim makes and frees about 20 of them a client */
	struct nat_map *spare_maps;
	struct nat_perm *spare_perms;
	struct nat_sub *subs[NAT_SUB_BUCKETS];
	uint32_t subs_per_pub[TOPO_NAT_PUBLIC_MAX];
	uint8_t *block_used; /* [pub * blocks_per_pub + i]; made on first use */
	uint32_t blocks_per_pub;
	struct nat_resv *resv[NAT_RESV_BUCKETS];
	size_t n_resv;
	size_t in_use[NAT_PROTO_COUNT];
	uint32_t next_port[NAT_PROTO_COUNT]; /* sequential, host order */
	struct nat_frag frags[NAT_FRAGS];
	unsigned frag_next;	   /* the oldest slot: reused first */
	natbed_time_t epoch_start; /* RFC 6887 §8.5: moved by a reboot (flush) */
};

/* --- the behaviour tables (nat_behav.c): one entry a behaviour ----------- */

/* What a port kind picks for: a new mapping of proto on outside address
 * addr, whose inside port is want, to the remote (raddr, rport). Every
 * port in lo..hi may be picked; want itself may also be kept when it lies
 * in keep_lo..hi (Linux keeps 512-599 but never picks them). Host order. */
struct nat_pick {
	enum nat_proto proto;
	uint32_t addr, raddr; /* network order */
	uint16_t rport;	      /* network order */
	uint16_t want;
	uint32_t lo, hi, keep_lo;
};

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

/* Port assignment (RFC 4787 §4.2): a port (host order) nat_port_ok()
 * takes, or -1. */
struct nat_ports_kind {
	const char *name;
	int32_t (*pick)(struct nat *n, const struct nat_pick *pk);
};

/* Indexed by enum topo_nat_map and enum topo_nat_ports. */
extern const struct nat_mapping_kind nat_mapping_kinds[];
extern const struct nat_filtering_kind nat_filtering_kinds[];
extern const struct nat_ports_kind nat_ports_kinds[];

/* --- engine internals the tables and nat_ctl.c share (nat.c) -------------- */

/* Whether port (host order) may take the new mapping pk describes: free
 * on pk->addr (REQ-3: never shared), of want's parity when REQ-4 asks,
 * and not reserved toward pk's remote. */
bool nat_port_ok(const struct nat *n, const struct nat_pick *pk, uint32_t port);

/* The first port from start (host order) upward, wrapping within
 * pk->lo..hi, that nat_port_ok() takes; -1 when none. */
int32_t nat_port_scan(const struct nat *n, const struct nat_pick *pk, uint32_t start);

/* The remote endpoint (addr, port) m's filtering remembers, or NULL; by_port
 * false matches any port. */
struct nat_perm *nat_perm_find(const struct nat_map *m, uint32_t addr, uint16_t port, bool by_port);
/* Remembers (addr, port) in m: the existing entry or a new one; NULL on
 * ENOMEM. */
struct nat_perm *nat_perm_add(struct nat_map *m, uint32_t addr, uint16_t port);

/* The fields of a mapping nat_map_add() makes; addresses and ports in
 * network order. */
struct nat_map_spec {
	enum nat_proto proto;
	uint32_t int_addr, key_addr, ext_addr;
	uint16_t int_port, key_port, ext_port;
};

/* A mapping as spec says, expiring at expires, on the subscriber of its
 * inside address (made, and given spec's outside address, if it has none).
 * NULL when the outside endpoint is taken, the address is not one of the
 * NAT's, or on ENOMEM. */
struct nat_map *nat_map_add(struct nat *n, const struct nat_map_spec *spec, natbed_time_t expires);

/* Every mapping, by protocol, outside address and port, in a new array of
 * *count (free it); NULL when there are none or on ENOMEM. */
struct nat_map **nat_maps_sorted(const struct nat *n, size_t *count);

/* The subscriber with inside address a (network order), or NULL. */
struct nat_sub *nat_sub_find(const struct nat *n, uint32_t a);
/* A new subscriber for a on outside address publics[pub] (a checkpoint's
 * word), or NULL on ENOMEM. It goes when its last mapping does. */
struct nat_sub *nat_sub_make(struct nat *n, uint32_t a, unsigned pub);

/* The mapping on outside endpoint (addr, port), network order, or NULL. */
struct nat_map *nat_map_at(const struct nat *n, enum nat_proto p, uint32_t addr, uint16_t port);

/* Runs n with behaviour c from now on (nat_set, restore): mappings stay
 * unless their key shape or the port blocks change. 0, or -1 on ENOMEM. */
int nat_reshape(struct nat *n, const struct nat_cfg *c);

/* Takes block index blk of pub for sub: 0, or -1 when it is held or out of
 * range or sub holds NAT_BLOCKS_MAX. Writes the event. */
int nat_block_take(struct nat *n, struct nat_sub *sub, uint32_t blk, natbed_time_t now);

/* Holds (raddr, rport) on (ext_addr, ext_port) until expires: a new or
 * refreshed reservation. */
void nat_resv_hold(struct nat *n, enum nat_proto p, uint32_t ext_addr, uint16_t ext_port,
		   uint32_t raddr, uint16_t rport, natbed_time_t expires);

/* Calls fn for each live reservation. */
void nat_resv_each(const struct nat *n, natbed_time_t now,
		   void (*fn)(void *ctx, const struct nat_resv *r), void *ctx);

/* The chain of m in n's hashes by inside endpoint and key, and by outside
 * endpoint. */
size_t nat_map_hbucket(const struct nat *n, const struct nat_map *m);
size_t nat_map_ebucket(const struct nat *n, const struct nat_map *m);

/* n's two hashes of `count` buckets each (a power of two), empty: the old
 * ones are freed, so n must hold no mapping. 0 or -1 (ENOMEM). */
int nat_buckets_make(struct nat *n, size_t count);

/* The chain of subscribers of inside address a (network order). */
size_t nat_sub_bucket(uint32_t a);

/* The chain of reservations of outside endpoint (addr, port). */
struct nat_resv **nat_resv_chain(struct nat *n, enum nat_proto p, uint32_t addr, uint16_t port);

/* Whether cfg can run: a port range, a stride, behaviours in range, an
 * outside address, blocks that fit the range. */
bool nat_cfg_ok(const struct nat_cfg *cfg);

#endif
