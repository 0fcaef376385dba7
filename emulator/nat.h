/* natbed-emu NAT engine: the RFC 4787 behaviours (UDP), RFC 5382 (TCP) and
 * RFC 5508 (ICMP) on one NAT with one outside address or a pool of them
 * (RFC 6888: paired pooling, port blocks per subscriber).
 *
 * Mapping: endpoint-independent, address-dependent or address-and-port-
 * dependent. Filtering: the same three. Ports: preserve, sequential (with a
 * stride) or random (seeded), from a range, optionally keeping parity.
 * Mappings expire on the scheduler; outbound traffic refreshes them.
 *
 * The engine rewrites packets in place and keeps checksums right; it never
 * routes. The fabric calls nat_outbound() when a packet leaves the inside and
 * nat_inbound() when one arrives at the public address. */
#ifndef NATBED_EMU_NAT_H
#define NATBED_EMU_NAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/sched.h"
#include "natbed/topo.h"
#include "proto.h"

enum nat_proto { NAT_UDP, NAT_TCP, NAT_ICMP, NAT_PROTO_COUNT };

/* An event a carrier must be able to report (RFC 6888 §4, logging: the
 * port blocks each subscriber held, and when): its name and JSON members
 * text, e.g. "\"subscriber\":\"100.64.0.10\",...". */
typedef void (*nat_event_fn)(void *ctx, natbed_time_t now, const char *event, const char *fields);

struct nat_cfg {
	char name[TOPO_NAME_MAX];
	struct topo_nat_behaviour b;	       /* mapping, filtering, ports, UDP timeout, ... */
	natbed_time_t tcp_established_ns;      /* RFC 5382 REQ-5: >= 2 h 4 min */
	natbed_time_t tcp_transitory_ns;       /* RFC 5382 REQ-5: >= 4 min */
	natbed_time_t icmp_timeout_ns;	       /* RFC 5508 REQ-1: >= 60 s */
	uint32_t publics[TOPO_NAT_PUBLIC_MAX]; /* outside addresses, network order */
	size_t n_public;
	nat_event_fn on_event; /* NULL: events go nowhere */
	void *event_ctx;
	uint32_t inside_net, inside_mask; /* network order */
	uint64_t seed;
};

/* Fills cfg from a topology NAT with the defaults above. */
void nat_cfg_from_topo(struct nat_cfg *cfg, const struct topo_nat *tn, uint64_t seed);

enum nat_verdict {
	NAT_PASS,
	NAT_DROP_NO_MAPPING,   /* inbound to a port with no mapping */
	NAT_DROP_FILTERED,     /* inbound refused by the filtering behaviour */
	NAT_DROP_EXHAUSTED,    /* REQ-3: no free port, the flow is refused */
	NAT_DROP_UNSUPPORTED,  /* a protocol or ICMP type it does not translate */
	NAT_DROP_NOT_INSIDE,   /* outbound from an address outside its prefix */
	NAT_DROP_FRAG_TIMEOUT, /* REQ-14: a held fragment whose first never came */
	NAT_DROP_PORT_LIMIT,   /* RFC 6888 REQ-4: the subscriber holds all its ports */
	/* REQ-14: a later fragment that came before its first. Not a drop: the
	 * caller holds it and offers it again once a first fragment passed
	 * (nat_frag_first_passed), or gives up (nat_count_frag_timeout). */
	NAT_HOLD,
	NAT_VERDICT_COUNT
};

const char *nat_verdict_name(enum nat_verdict v);
/* "udp", "tcp" or "icmp". */
const char *nat_proto_name(enum nat_proto p);
/* Whether v is one of the NAT_DROP_* verdicts (counted in drops[v]). */
bool nat_verdict_is_drop(enum nat_verdict v);

struct nat_counters {
	uint64_t out_pkts, in_pkts;
	uint64_t mappings_created, mappings_expired, mappings_active;
	uint64_t hairpinned;
	uint64_t icmp_errors;  /* ICMP errors translated (RFC 5508) */
	uint64_t frags_held;   /* out-of-order fragments held (nat_count_frag_held) */
	uint64_t reservations; /* inbound-reserves: pairs held (made or refreshed) */
	uint64_t blocks_active, blocks_allocated; /* port blocks held now, ever */
	uint64_t subscribers_active;
	uint64_t drops[NAT_VERDICT_COUNT]; /* by verdict, NAT_PASS unused */
};

struct nat;

/* A NAT whose mappings expire on s. NULL on ENOMEM or a bad cfg. */
struct nat *nat_new(const struct nat_cfg *cfg, struct sched *s);
/* Frees every mapping and cancels their expiry events. NULL is safe. */
void nat_free(struct nat *n);

const struct nat_cfg *nat_config(const struct nat *n);
/* Whether addr (network order) is one of n's outside addresses. */
bool nat_is_public(const struct nat *n, uint32_t addr);
const struct nat_counters *nat_counters(const struct nat *n);

/* Translates a packet leaving the inside: source becomes the public address
 * and a mapped port, creating the mapping if needed. */
enum nat_verdict nat_outbound(struct nat *n, struct ip_view *v, natbed_time_t now);

/* Translates a packet arriving at the public address: destination becomes
 * the mapped inside endpoint if a mapping exists and filtering allows. */
enum nat_verdict nat_inbound(struct nat *n, struct ip_view *v, natbed_time_t now);

/* Counts a hairpinned packet (the fabric does the turn). */
void nat_count_hairpin(struct nat *n);
/* Count a fragment the caller holds after a NAT_HOLD (once, however often
 * it is offered again), and one it gave up on. */
void nat_count_frag_held(struct nat *n);
void nat_count_frag_timeout(struct nat *n);
/* Whether the packet seen through v is a first fragment (MF set, offset
 * 0): once one passed, fragments held after NAT_HOLD may pass too. */
bool nat_frag_first(const struct ip_view *v);
/* How long a caller holds a fragment after NAT_HOLD, and how long a
 * first fragment's translation is followed. */
#define NAT_FRAG_TIMEOUT_NS (10 * NATBED_NS_PER_S)

/* Every mapping as JSON: [{proto, inside, outside, key_remote?,
 * expires_in_ms, pkts_out, pkts_in, remotes:[...]}], by protocol, outside
 * address and port. A new reference. */
json_t *nat_mappings_json(const struct nat *n, natbed_time_t now);

/* One page of the same list, for the control socket: at most limit (0 or
 * above NAT_PAGE_MAX: NAT_PAGE_MAX) mappings after cursor `after` (NULL or
 * "": from the first), as {mappings:[...], total, next?}; `next` is the
 * cursor of the following page, absent on the last. A page costs the
 * ports it walks past, never the whole table, so forwarding goes on.
 * NULL with err filled for a bad cursor. */
#define NAT_PAGE_MAX 1000
json_t *nat_mappings_page(const struct nat *n, natbed_time_t now, const char *after, size_t limit,
			  char *err, size_t errlen);

/* Drops every mapping and reservation and starts a new epoch: what a NAT
 * reboot does (PCP and NAT-PMP clients notice by the epoch time). */
void nat_flush(struct nat *n);

/* As new for another subscriber (natbed sim's copy of a site taken by
 * another client): a flush, fragments forgotten, sequential ports from
 * the range's start again. Counters and the random stream go on. */
void nat_restart(struct nat *n);

/* --- mappings asked for: PCP (RFC 6887) MAP and NAT-PMP (RFC 6886) ------- */

#define NAT_NONCE_LEN	       12	   /* RFC 6887 §11.1: mapping nonce */
#define NAT_GRANT_LIFETIME_MAX (24 * 3600) /* seconds: longer asks are cut */
enum nat_grant { NAT_GRANT_NONE, NAT_GRANT_PCP, NAT_GRANT_NATPMP };

struct nat_grant_req {
	enum nat_grant by;
	enum nat_proto proto; /* NAT_UDP or NAT_TCP */
	uint32_t int_addr;    /* network order, as are the ports */
	uint16_t int_port;
	uint16_t want_port;   /* the suggested outside port, 0: any */
	uint32_t lifetime_s;  /* 0: delete the mapping */
	const uint8_t *nonce; /* PCP: NAT_NONCE_LEN bytes; NULL for NAT-PMP */
};

enum nat_grant_result {
	NAT_GRANT_OK,
	NAT_GRANT_NO_RESOURCES,	  /* no port (pool, blocks, range) */
	NAT_GRANT_NOT_AUTHORIZED, /* PCP: another nonce owns the mapping */
	NAT_GRANT_NOT_INSIDE,	  /* the internal address is not on the inside */
};

/* Grants (or renews, or with lifetime 0 deletes) a mapping for the inside
 * endpoint rq asks about: endpoint-independent and endpoint-independent
 * filtered for that internal port, whatever the NAT's own behaviours,
 * counted against its pool, listed and checkpointed like any mapping. An
 * implicit mapping of the endpoint is made explicit (same outside port).
 * Fills the outside endpoint and the lifetime granted (0 on a deletion). */
enum nat_grant_result nat_grant(struct nat *n, const struct nat_grant_req *rq, natbed_time_t now,
				uint32_t *ext_addr, uint16_t *ext_port, uint32_t *lifetime_s);

/* Seconds since the NAT's epoch began (RFC 6887 §8.5, RFC 6886 §3.6). */
uint32_t nat_epoch_s(const struct nat *n, natbed_time_t now);

/* The outside address inside address a's mappings use (its subscriber's
 * when it has one, else the one a new subscriber would get). */
uint32_t nat_public_for(const struct nat *n, uint32_t a);

/* Changes one behaviour at run time: key and value as a topology NAT block
 * spells them (topo_nat_behaviour_set()). Existing mappings stay, but for a
 * changed mapping behaviour, which flushes them (their keys change shape).
 * 0, or -1 with err filled. */
int nat_set(struct nat *n, const char *key, const char *value, char *err, size_t errlen);

/* The counters as JSON: packets, mappings active, made and expired,
 * hairpins, ICMP errors, fragments held, drops by verdict name. A new
 * reference. */
json_t *nat_counters_json(const struct nat *n);

/* Everything the NAT keeps as JSON: its behaviour (what `set` changed),
 * generator state, counters, subscribers and their port blocks, mappings
 * with their remotes and TCP state, reservations. Times are stored
 * relative to now. A new reference. */
json_t *nat_checkpoint(const struct nat *n, natbed_time_t now);

/* Restore in two steps, so that several NATs (and the rest of a fabric)
 * change all or not at all: prepare checks the whole checkpoint j against
 * n (its name and outside addresses must be n's) and builds the state it
 * holds aside, returning it (free with nat_free) or NULL with err filled
 * (n unchanged); adopt makes n run that state and frees fresh. */
struct nat *nat_restore_prepare(const struct nat *n, const json_t *j, natbed_time_t now, char *err,
				size_t errlen);
void nat_adopt(struct nat *n, struct nat *fresh);
/* Both: 0, or -1 with err filled and n unchanged. */
int nat_restore(struct nat *n, const json_t *j, natbed_time_t now, char *err, size_t errlen);

/* --- natbed sim checkpoints (natbed/ckpt.h) --------------------------------- */

struct ckw;
struct ckr;
struct ckfns;

/* n whole and exact, for a restore that goes on event for event: every
 * mapping (declared: its expiry event points at it) with its expiry
 * timer and the time that event is due (armed), the lists and hash chains
 * in their order, subscribers, reservations (expired ones not yet freed
 * too), fragments, the generator, counters. Times are relative to the
 * scheduler's now, which a restore finds again. Write the scheduler's
 * queue first (ckw_sched()). A new reference, NULL on error (said in w). */
json_t *nat_ckpt_save(const struct nat *n, struct ckw *w);
/* Fills n, as nat_new() made it on a scheduler at the checkpoint's time
 * (the same name, outside addresses and configuration), with j's state:
 * nothing is scheduled, the expiry timers are filled at ckr_finish(). 0,
 * or -1 with the problem in r (n may then hold a part of it: free it). */
int nat_ckpt_fill(struct nat *n, const json_t *j, struct ckr *r);
/* The functions a NAT gives the scheduler. */
extern const struct ckfns nat_ckfns;

#endif
