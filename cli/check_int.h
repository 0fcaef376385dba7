/* Private to natbed check (cli/check*.c): the packets as the checks read
 * them, and one section per module. Callers use check.h; natbed matrix's
 * judge (matrix_judge.c) reads captures with ck_cap_load() too. */
#ifndef NATBED_CLI_CHECK_INT_H
#define NATBED_CLI_CHECK_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "natbed/topo.h"

#define CK_FILE_MAX (TOPO_NAME_MAX + 16) /* "NAME-wan.pcap" */

/* --- packets (check_pcap.c) ------------------------------------------------ */

/* What a record holds, as far as the checks go. */
enum ck_kind {
	CK_OTHER,     /* not IPv4 (ARP, ...), or not parsable */
	CK_IP,	      /* IPv4 without ports the checks know (ICMP other than echo, ...) */
	CK_L4,	      /* UDP, TCP or ICMP echo with its ports (echo: the identifier) */
	CK_FRAG,      /* a later fragment: no ports */
	CK_ICMP_ERR,  /* an ICMP error quoting a packet (q_* fields) */
	CK_KIND_COUNT /* */
};

/* One record of a capture. Addresses in network order, ports in host
 * order. hash identifies the packet across a NAT: everything a NAT leaves
 * alone (protocol, IP identification, length, fragment field, the L4
 * header and payload but for ports, echo identifier and checksum). */
struct ck_pkt {
	int64_t t_ns; /* capture time, ns since the epoch */
	uint64_t hash;
	uint32_t no; /* 1-based record number, as Wireshark numbers it */
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t proto; /* IP protocol; 0 with CK_OTHER */
	uint8_t kind;  /* enum ck_kind */
	uint8_t q_proto;
	uint32_t q_src, q_dst; /* CK_ICMP_ERR: the quoted packet's header */
	uint16_t q_sport, q_dport;
};

/* One capture file of a run, whole in memory. */
struct ck_cap {
	char file[CK_FILE_MAX]; /* "alice.pcap", "home-wan.pcap" */
	bool present;		/* false: the run did not write it */
	struct ck_pkt *p;
	size_t n;
};

/* Called for each UDP datagram whose payload is whole in the record (not a
 * fragment), with the payload. */
typedef void (*ck_udp_fn)(void *ctx, const struct ck_cap *c, const struct ck_pkt *p,
			  const uint8_t *payload, size_t len);

/* Reads the pcap at path into c (c->file names it in messages): 0, with
 * c->present false when there is no such file; -1 with "FILE: why" in err
 * when it is not a readable Ethernet pcap. fn (may be NULL) sees every UDP
 * payload as it is read. Free with ck_cap_clear(). */
int ck_cap_load(struct ck_cap *c, const char *path, ck_udp_fn fn, void *ctx, char *err,
		size_t errlen);
void ck_cap_clear(struct ck_cap *c);

/* Parses one Ethernet frame of caplen bytes (wire length len) into p (all
 * but t_ns and no); *payload and *plen are the UDP payload when whole, else
 * NULL and 0. */
void ck_pkt_parse(const uint8_t *frame, size_t caplen, size_t len, struct ck_pkt *p,
		  const uint8_t **payload, size_t *plen);

/* --- the report (check_report.c) ----------------------------------------- */

/* A packet a violation names: file and 1-based number. */
struct ck_ref {
	const char *file; /* NULL: none */
	uint32_t no;
};

enum ck_status { CK_PASS, CK_FAIL, CK_SKIP };

struct ck_report;
struct ck_report *ck_report_new(void);
void ck_report_free(struct ck_report *r);
/* A new row of the table: check on subject (a NAT's name, "attempts",
 * "stun"). Returns its index, or -1 on ENOMEM (later calls on -1 do
 * nothing). */
int ck_row(struct ck_report *r, const char *subject, const char *check);
/* What the row looked at, for the table's last column. */
void ck_row_seen(struct ck_report *r, int row, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The row could not be checked, and why (replaces what it saw). */
void ck_row_skip(struct ck_report *r, int row, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* While muted, ck_violation() records nothing: what the model cannot judge
 * (around a change of a NAT's setting) it does not. */
void ck_report_mute(struct ck_report *r, bool muted);
/* A violation of row's rule: refs[0..n_refs) are the packets, printed
 * before the text as "FILE #N, FILE #M: text". */
void ck_violation(struct ck_report *r, int row, const struct ck_ref *refs, size_t n_refs,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
unsigned long ck_row_violations(const struct ck_report *r, int row);
/* The table, then the violations (at most listed a row), then the verdict
 * line. */
void ck_report_print(const struct ck_report *r, FILE *f, const char *title, unsigned listed);
void ck_report_verdict(const struct ck_report *r, struct check_verdict *v);

/* --- the event log (check_evlog.c) -------------------------------------- */

/* What events.jsonl says the checks must know. */
struct ck_evlog;
/* Reads DIR/events.jsonl; a missing file gives an empty log. NULL on
 * ENOMEM. */
struct ck_evlog *ck_evlog_load(const char *path);
void ck_evlog_free(struct ck_evlog *e);
/* Whether a drop of this packet (network-order addresses, host-order
 * ports) may be in the log: logged, or lines were suppressed. */
bool ck_evlog_dropped(const struct ck_evlog *e, uint8_t proto, uint32_t src, uint16_t sport,
		      uint32_t dst, uint16_t dport);
/* The first event that changed what a NAT does at run time in a way the
 * model cannot follow (a checkpoint restored, or a NAT's flush or setting
 * logged without its capture time, by an older natbed-emu) and its line,
 * or NULL. */
const char *ck_evlog_nat_change(const struct ck_evlog *e, const char *nat, int *line);
/* A change to a NAT the model follows, at the time the captures give it: a
 * flush of its mappings (natbed ctl nat NAME flush: a reboot), or one of
 * its behaviour's settings (natbed ctl nat NAME set KEY VALUE). */
#define CK_SET_KEY_MAX	 32
#define CK_SET_VALUE_MAX 64
struct ck_natchange {
	int64_t t_ns;
	int line;
	bool set; /* false: a flush */
	char key[CK_SET_KEY_MAX], value[CK_SET_VALUE_MAX];
	struct topo_nat_behaviour b; /* the NAT's after it (check.c fills it in) */
};
/* NAT nat's changes with a capture time, in the log's (time) order: the
 * first max of them into out; returns how many there are. */
size_t ck_evlog_nat_changes(const struct ck_evlog *e, const char *nat, struct ck_natchange *out,
			    size_t max);

/* --- a NAT's traffic (check_flows.c) ------------------------------------ */

struct ck_ep {
	uint32_t addr; /* network order */
	uint16_t port; /* host order */
};

enum ck_ev_type {
	CK_EV_OUT,	  /* a packet left: inside endpoint, remote, external */
	CK_EV_IN,	  /* a packet arrived at the NAT's outside, delivered or not */
	CK_EV_HP_SEND,	  /* an inside host sent to the NAT's own public address */
	CK_EV_ORPHAN,	  /* delivered inside, never seen arriving outside */
	CK_EV_HP_ORPHAN,  /* delivered from the NAT's public address, sent by no one */
	CK_EV_TYPE_COUNT, /* */
};

/* One thing the NAT did, in the NAT's time order. */
struct ck_ev {
	int64_t t_ns;
	uint8_t type; /* enum ck_ev_type */
	uint8_t proto;
	bool delivered;		       /* IN, HP_SEND: reached an inside host */
	struct ck_ep in;	       /* OUT, HP_SEND: the sender; IN, ORPHAN: delivered to */
	struct ck_ep remote;	       /* the far end (HP_SEND: the public endpoint it went to) */
	struct ck_ep ext;	       /* OUT, IN: the NAT's outside endpoint */
	struct ck_ep hp_src;	       /* HP_SEND delivered: the source it came back with */
	struct ck_ep hp_to;	       /* HP_SEND delivered: where it came back to */
	struct ck_ref wan;	       /* the packet on the outside capture */
	struct ck_ref inside, inside2; /* on inside captures (2: the hairpin's arrival) */
};

/* NAT n's traffic: its captures, and what they add up to. */
struct ck_natview {
	const struct topo *t;
	int nat;
	const struct ck_cap *wan;     /* NAT-wan.pcap */
	const struct ck_cap **inside; /* the hosts behind it, the NATs behind it */
	const uint32_t **own;	      /* each inside capture's own addresses */
	size_t *n_own, n_inside;
	bool pcp_seen;	  /* PCP or NAT-PMP asked the NAT's gateway for a mapping */
	size_t pmap_left; /* events through mappings it granted, not judged */
	size_t out_seen, out_matched, in_seen, in_delivered, lan, hairpin_sent;
	size_t local_answers; /* a firewall's answers made inside (a reject's RST) */
	struct ck_ev *ev;     /* sorted by t_ns */
	size_t n_ev;
};

/* Fills v->ev from the captures v names (v->t, nat, wan, inside, own set
 * by the caller). 0 or -ENOMEM. Free with ck_flows_clear(). */
int ck_flows_build(struct ck_natview *v);
void ck_flows_clear(struct ck_natview *v);
/* Whether a is in NAT n's inside prefix. */
bool ck_nat_inside(const struct topo_nat *n, uint32_t a);
/* Whether a is one of NAT n's outside addresses. */
bool ck_nat_public(const struct topo_nat *n, uint32_t a);

/* --- the rules on a NAT (check_nat.c, check_ports.c) ------------------- */

/* The rows of one NAT. */
enum ck_nat_rule {
	CK_R_LEAK,
	CK_R_MAPPING,
	CK_R_FILTERING,
	CK_R_HAIRPIN,
	CK_R_PORTS,
	CK_R_TIMEOUT,
	CK_R_COUNT
};

extern const char *const ck_rule_names[CK_R_COUNT];

struct ck_natcheck {
	struct ck_report *rep;
	int row[CK_R_COUNT];
	const struct ck_natview *v;
	const struct topo_nat_behaviour *b;
	const struct ck_evlog *evlog;
	natbed_time_t slack_ns;
	const struct ck_natchange *changes; /* the NAT's, in time order */
	size_t n_changes;
};

/* No inside address (of this NAT or of one behind it) on the outside
 * capture, nothing neither from nor to the NAT's outside addresses. */
void ck_rule_leak(struct ck_natcheck *c);
/* Mapping, filtering, hairpinning, ports and timeouts: the NAT's events
 * played through a model of its mappings. 0 or -ENOMEM. */
int ck_rule_model(struct ck_natcheck *c);

/* Port assignment (check_ports.c): one state per NAT, told of each new
 * mapping whose external port is known. */
struct ck_ports;
/* b: the NAT's behaviour as the model has it now (a setting changes it). */
struct ck_ports *ck_ports_new(const struct topo_nat *n, const struct topo_nat_behaviour *b,
			      natbed_time_t slack_ns);
void ck_ports_free(struct ck_ports *p);
/* Whether (proto, ext) may be held at t by a mapping the model knows, or by
 * one it cannot see; the model answers. */
typedef bool (*ck_held_fn)(void *ctx, uint8_t proto, uint32_t ea, uint16_t port, int64_t t);
struct ck_newmap {
	uint8_t proto;
	struct ck_ep in, ext, remote;
	int64_t t_ns;
	int64_t until_lo_ns, until_hi_ns; /* the mapping surely lives to, may live to */
	struct ck_ref wan, inside;
};
/* Checks a new mapping's external port against the NAT's range, classes,
 * parity, pooling, port blocks and assignment mode, reporting to row. */
void ck_ports_new_mapping(struct ck_ports *p, struct ck_report *rep, int row,
			  const struct ck_newmap *m, ck_held_fn held, void *ctx);
/* A mapping the model cannot see (a hairpinned flow's) may hold a port of
 * proto until t: the assignment checks that need every port's state wait. */
void ck_ports_unknown(struct ck_ports *p, uint8_t proto, int64_t until_ns);
/* The NAT lost every mapping at t (a flush): no port is held after it. */
void ck_ports_flush(struct ck_ports *p, int64_t t_ns);
/* "7 new: 1024-65535, preserve" for the table. */
void ck_ports_seen(const struct ck_ports *p, char *buf, size_t len);

/* --- attempts and STUN (check_attempt.c, check_stun.c) ------------------ */

struct results;
/* Every success results r claims is backed by packets both ways on both
 * hosts' captures (caps[i] is host i's). */
void ck_rule_attempts(struct ck_report *rep, struct results *r, const struct topo *t,
		      const struct ck_cap *caps);

struct ck_stun {
	struct ck_report *rep;
	int row;
	unsigned long messages, bad;
	size_t files;
};
/* A ck_udp_fn: ctx is a struct ck_stun. */
void ck_stun_check(void *ctx, const struct ck_cap *c, const struct ck_pkt *p,
		   const uint8_t *payload, size_t len);

/* --- mappings granted by request (check_pcpmap.c) ---------------------- */

#define CK_PMAP_GATEWAYS 64 /* gateways whose requests are counted */

/* A mapping gateway gw granted host's internal port (PCP MAP, NAT-PMP). */
struct ck_pmap {
	uint32_t gw, host; /* network order */
	uint8_t proto;
	uint16_t in_port, ext_port; /* host order */
};

struct ck_pmap_gw {
	uint32_t gw;
	unsigned long requests, answers;
};

struct ck_pmaps {
	struct ck_pmap *m;
	size_t n, cap;
	struct ck_pmap_gw gw[CK_PMAP_GATEWAYS];
	size_t n_gw;
};

/* A ck_udp_fn: ctx is a struct ck_pmaps; counts requests to port 5351 and
 * answers from it, and keeps the mappings granted. */
void ck_pmap_udp(void *ctx, const struct ck_cap *c, const struct ck_pkt *p, const uint8_t *payload,
		 size_t len);
/* Whether every request to gateway gw has an answer in the captures. */
bool ck_pmap_answered(const struct ck_pmaps *s, uint32_t gw);
/* Drops from v's events those through a mapping gw granted (from its
 * internal endpoint, or to its external port). Returns how many. */
size_t ck_pmap_filter(struct ck_natview *v, const struct ck_pmaps *s, uint32_t gw);
void ck_pmaps_free(struct ck_pmaps *s);

/* --- small helpers (check_report.c) ------------------------------------- */

/* "198.51.100.10:3478" into buf (at least CK_EP_STR). */
#define CK_EP_STR 24
const char *ck_ep_str(struct ck_ep e, char *buf);
const char *ck_addr_str(uint32_t a, char *buf);
const char *ck_proto_name(uint8_t proto);

#endif
