/* natbed-emu firewall: ordered rules on a NAT or a host link, a default
 * policy, and stateful acceptance of replies.
 *
 * A pure module: fw_check() says what happens to one packet and keeps only
 * the firewall's own state (flow table, counters); it never changes the
 * packet. The fabric drops, forwards or answers (fw_reject_build()).
 *
 * Order of a decision:
 *   1. stateful: a reply of a tracked flow (or an ICMP error about one)
 *      is accepted before the rules: "established";
 *   2. the rules in order, the first match decides;
 *   3. the default policy.
 * With stateful on, a packet accepted by 2 or 3 starts (or refreshes) a
 * flow; replies to it then pass by 1.
 * Fragments: the later fragments of a datagram (no ports) meet the fate of
 * its first fragment, counted where it was counted (a rejected first's
 * later fragments are dropped: RFC 1812 §4.3.2.7 answers no fragment).
 * A later fragment whose first was not seen here goes through 2 and 3.
 *
 * Direction: FW_DIR_IN travels toward the host (host link) or the NAT's
 * inside (NAT). Give the firewall one view of addresses: for a NAT, the
 * inside view (check outbound packets before nat_outbound() and inbound
 * ones after nat_inbound()), so rules and flows name inside hosts.
 */
#ifndef NATBED_EMU_FIREWALL_H
#define NATBED_EMU_FIREWALL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/sched.h"
#include "natbed/topo.h"
#include "proto.h"

/* Flow lifetimes, refreshed by every packet of the flow (both ways). */
#define FW_UDP_TIMEOUT_NS     (120 * NATBED_NS_PER_S)
#define FW_ICMP_TIMEOUT_NS    (120 * NATBED_NS_PER_S)
#define FW_TCP_ESTABLISHED_NS (7440 * NATBED_NS_PER_S) /* RFC 5382 REQ-5: 2 h 4 min */
#define FW_TCP_TRANSITORY_NS  (240 * NATBED_NS_PER_S)  /* RFC 5382 REQ-5: 4 min */
#define FW_FLOWS_MAX	      65536		       /* tracked flows; more are not tracked */
#define FW_REJECT_FRAME_MAX   (ETH_HLEN_ + 576)	       /* RFC 1812 §4.3.2.3: 576 bytes of IP */
#define FW_FRAGS	      256 /* datagrams whose later fragments follow their first */
#define FW_FRAG_TIMEOUT_NS    (10 * NATBED_NS_PER_S) /* how long a first fragment's fate is kept */

enum fw_dir { FW_DIR_IN, FW_DIR_OUT };

enum fw_verdict { FW_ACCEPT, FW_DROP, FW_REJECT, FW_VERDICT_COUNT };

const char *fw_verdict_name(enum fw_verdict v);

/* What decided fw_check() besides a rule index (0 and up). */
#define FW_RULE_DEFAULT	    (-1) /* the default policy */
#define FW_RULE_ESTABLISHED (-2) /* a reply of a tracked flow */

struct fw_count {
	uint64_t packets, bytes; /* bytes of IP datagram */
};

struct fw_counters {
	struct fw_count rules[TOPO_FW_RULES_MAX]; /* matched by rule i */
	struct fw_count policy;			  /* decided by the default policy */
	struct fw_count established;		  /* accepted as replies of tracked flows */
	uint64_t verdicts[FW_VERDICT_COUNT];
	uint64_t flows_created, flows_expired, flows_active;
	uint64_t flows_untracked; /* accepted with the table full: replies not tracked */
};

struct fw;

/* A firewall with cfg's rules and policy (copied). Flows expire on s, or,
 * with s NULL, are found expired when next looked up. NULL on ENOMEM or
 * a bad cfg (more than TOPO_FW_RULES_MAX rules). A cfg without a block
 * (present false) accepts everything and tracks nothing. */
struct fw *fw_new(const struct topo_fw *cfg, struct sched *s);

/* Frees every flow and cancels their expiry events. NULL is safe. */
void fw_free(struct fw *fw);

/* Decides the packet v travelling in direction dir at time now; counts it.
 * v is a parsed IPv4 view (ip_view_parse()) and is not changed. */
enum fw_verdict fw_check(struct fw *fw, const struct ip_view *v, enum fw_dir dir,
			 natbed_time_t now);

/* What decided the last fw_check(): a rule index, FW_RULE_DEFAULT or
 * FW_RULE_ESTABLISHED (FW_RULE_DEFAULT before any check). */
int fw_last_rule(const struct fw *fw);

const struct fw_counters *fw_counters(const struct fw *fw);

/* Rules with their counters, the policy, established and flow counters as
 * JSON: {stateful, default:{action,packets,bytes}, established:{packets,
 * bytes}, rules:[{index,line,dir,proto,from?,to?,port?,sport?,action,
 * packets,bytes}], flows:{active,created,expired,untracked}, verdicts:{...}}.
 * A new reference, or NULL on ENOMEM. */
json_t *fw_stats_json(const struct fw *fw);

/* Everything the firewall keeps as JSON (fw_ctl.c): its rules, policy and
 * statefulness (what a restore must find), counters, tracked flows (tuple,
 * direction, replied, TCP state, time left) and the fragment records
 * (time left, in their slots). Times are stored relative to now. A new
 * reference, or NULL on ENOMEM. */
json_t *fw_checkpoint(const struct fw *fw, natbed_time_t now);

/* Restore in two steps, so that many firewalls (and the rest of a fabric)
 * change all or not at all: prepare checks the whole checkpoint j against
 * fw (its rules, default policy and statefulness must be fw's) and builds
 * the state aside, on fw's scheduler, returning it (free with fw_free) or
 * NULL with "what: problem" in err (fw unchanged); adopt makes fw run
 * that state and frees fresh. */
struct fw *fw_restore_prepare(const struct fw *fw, const json_t *j, natbed_time_t now, char *err,
			      size_t errlen);
void fw_adopt(struct fw *fw, struct fw *fresh);

/* --- natbed sim checkpoints (natbed/ckpt.h) ------------------------------- */

struct ckw;
struct ckr;
struct ckfns;

/* fw whole and exact, for a restore that goes on event for event: every
 * flow (declared: its expiry event points at it) with its expiry timer,
 * in chain order, expired ones not yet freed too; fragment records, the
 * last rule, counters. Times relative to the scheduler's now (which a
 * restore finds again). Write the scheduler's queue first (ckw_sched()).
 * A new reference, NULL on error (said in w). */
json_t *fw_ckpt_save(const struct fw *fw, struct ckw *w);
/* Fills fw, as fw_new() made it on a scheduler at the checkpoint's time
 * (the same rules), with j's state: nothing is scheduled, the expiry
 * timers are filled at ckr_finish(). 0, or -1 with the problem in r (fw
 * may hold a part of it: free it). */
int fw_ckpt_fill(struct fw *fw, const json_t *j, struct ckr *r);
/* The functions a firewall gives the scheduler. */
extern const struct ckfns fw_ckfns;

/* Builds the answer to a rejected packet v into out[cap]: for TCP a RST
 * (RFC 9293 §3.10.7.1), for anything else an ICMP destination unreachable,
 * code 13 "communication administratively prohibited" (RFC 1812 §5.2.7.1),
 * quoting the packet (RFC 1812 §4.3.2.3). Sent back to the sender: source
 * and destination addresses, ports and MACs swapped, checksums set.
 * Returns the frame length, or 0 when nothing may be sent (a RST or an
 * ICMP error rejected, a non-first fragment, a broadcast or multicast
 * address: RFC 1812 §4.3.2.7) or cap is too small; FW_REJECT_FRAME_MAX
 * always suffices. */
size_t fw_reject_build(const struct ip_view *v, uint8_t *out, size_t cap);

#endif
