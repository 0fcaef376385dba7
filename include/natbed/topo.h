/* natbed topology model and YAML loader (the contract every tool reads).
 *
 * topo_load() parses a topology file (schema: docs/topology.md), validates
 * it completely and fills a struct topo. Nothing is built from a file that
 * fails: the error reads "FILE:LINE: key: problem".
 */
#ifndef NATBED_TOPO_H
#define NATBED_TOPO_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/clock.h"

#define TOPO_NAME_MAX	32 /* bytes of a host or NAT name, NUL included */
#define TOPO_IFNAME_MAX 15 /* IFNAMSIZ - 1: longest Linux interface name */
#define TOPO_ADDRS_MAX	4  /* addresses of one host */
#define TOPO_RUN_MAX	1024
#define TOPO_ERR_MAX	512 /* a good size for the caller's error buffer */

/* Fields of a link block; `set` says which were given, so blocks layer:
 * defaults.link < host.link (access links), internet.link (core),
 * nat.link (uplink). */
enum topo_link_field {
	TOPO_LINK_DELAY = 1u << 0,
	TOPO_LINK_JITTER = 1u << 1,
	TOPO_LINK_LOSS = 1u << 2,
	TOPO_LINK_RATE = 1u << 3,
};

/* A link key beyond the four typed ones (jitter-dist, reorder, burst,
 * queue-packets, queue-bytes, drop-first, drop-every, drop-list,
 * drop-match, dup, corrupt, preset, or a loss model such as
 * "gilbert-elliott 1% 25%"), kept as text in file order and applied with
 * link_cfg_set() (include/natbed/link.h) after the typed fields. */
#define TOPO_LINK_KV_MAX 16
struct topo_link_kv {
	char key[24];
	char value[128];
	int line;
};

struct topo_link {
	unsigned set;		/* enum topo_link_field bits */
	natbed_time_t delay_ns; /* one way, each direction */
	natbed_time_t jitter_ns;
	double loss;	   /* fraction 0..1 */
	uint64_t rate_bps; /* 0: unlimited */
	struct topo_link_kv kv[TOPO_LINK_KV_MAX];
	size_t n_kv;
};

struct link_cfg;
/* The link configuration a block stands for: link_cfg_default(), the typed
 * fields it sets, then its kv in order. name names the link in logs and keys
 * its random stream; dir is 0 (up, toward the internet) or 1 (down).
 * Returns 0, or -1 with "key: problem" in err. */
int topo_link_cfg(const struct topo_link *l, const char *name, uint64_t seed, unsigned dir,
		  struct link_cfg *out, char *err, size_t errlen);

enum topo_nat_map {
	TOPO_MAP_EIM,  /* endpoint-independent */
	TOPO_MAP_ADM,  /* address-dependent */
	TOPO_MAP_APDM, /* address-and-port-dependent */
	TOPO_MAP_COUNT
};

/* Port assignment (RFC 4787 §4.2): the inside port when free, else the
 * next free one (preserve); a stride after the last one (sequential);
 * seeded random (random); the inside port when free, else random in its
 * class (preserve-random: Linux). */
enum topo_nat_ports {
	TOPO_PORTS_PRESERVE,
	TOPO_PORTS_SEQUENTIAL,
	TOPO_PORTS_RANDOM,
	TOPO_PORTS_PRESERVE_RANDOM,
	TOPO_PORTS_COUNT
};

/* Which NAT fields the file gave explicitly (a preset fills the others). */
enum topo_nat_field {
	TOPO_NAT_MAPPING = 1u << 0,
	TOPO_NAT_FILTERING = 1u << 1,
	TOPO_NAT_PORTS = 1u << 2,
	TOPO_NAT_PORT_RANGE = 1u << 3,
	TOPO_NAT_HAIRPIN = 1u << 4,
	TOPO_NAT_TIMEOUT = 1u << 5,
	TOPO_NAT_STRIDE = 1u << 6,
	TOPO_NAT_PARITY = 1u << 7,
	TOPO_NAT_POOL = 1u << 8,
	TOPO_NAT_REFRESH_INBOUND = 1u << 9,
	TOPO_NAT_UNREPLIED = 1u << 10,
	TOPO_NAT_INBOUND_RESERVES = 1u << 11,
	TOPO_NAT_PORT_BLOCK = 1u << 12,
	TOPO_NAT_PORT_BLOCKS = 1u << 13,
	TOPO_NAT_PCP = 1u << 14,
};

/* RFC 4787 REQ-3a: which range a new external port comes from. With
 * classes, an inside port keeps to its class (RFC 4787: 1-1023 and the
 * range of the NAT, by default 1024-65535; Linux: 1-511, 600-1023 and
 * 1024-65535); without (a port-range given), every port comes from it. */
enum topo_nat_classes { TOPO_CLASSES_NONE, TOPO_CLASSES_RFC4787, TOPO_CLASSES_LINUX };

#define TOPO_NAT_PUBLIC_MAX 256 /* addresses of one NAT: a /24 pool at most */

#define TOPO_NAT_STRIDE_MAX 1000

/* Firewall on a NAT or a host link (docs/topology.md, "Firewall blocks").
 * Rules are tried in order, the first match decides, the default policy
 * decides what no rule matches. Direction "in" is toward the host or the
 * NAT's inside. */
#define TOPO_FW_RULES_MAX 64

enum topo_fw_action { TOPO_FW_ACCEPT, TOPO_FW_DROP, TOPO_FW_REJECT };
enum topo_fw_dir { TOPO_FW_DIR_ANY, TOPO_FW_DIR_IN, TOPO_FW_DIR_OUT };
enum topo_fw_proto { TOPO_FW_PROTO_ANY, TOPO_FW_PROTO_UDP, TOPO_FW_PROTO_TCP, TOPO_FW_PROTO_ICMP };

/* Which match keys a rule gave (an absent key matches anything). */
enum topo_fw_field {
	TOPO_FW_FROM = 1u << 0,
	TOPO_FW_TO = 1u << 1,
	TOPO_FW_PORT = 1u << 2,	 /* destination port */
	TOPO_FW_SPORT = 1u << 3, /* source port */
};

struct topo_fw_net {
	struct in_addr addr; /* network address: host bits zero */
	uint8_t len;	     /* prefix length 0..32; a bare address is /32 */
};

struct topo_fw_ports {
	uint16_t lo, hi; /* 1 <= lo <= hi */
};

struct topo_fw_rule {
	unsigned set; /* enum topo_fw_field bits */
	enum topo_fw_dir dir;
	enum topo_fw_proto proto;
	struct topo_fw_net from, to;	  /* the packet's source, destination */
	struct topo_fw_ports port, sport; /* UDP/TCP only: a rule with one skips other packets */
	enum topo_fw_action action;
	int line;
};

struct topo_fw {
	bool present;		    /* false: no block given, everything passes */
	enum topo_fw_action policy; /* `default`: what no rule matches */
	bool stateful;		    /* replies to accepted flows pass before the rules */
	struct topo_fw_rule rules[TOPO_FW_RULES_MAX];
	size_t n_rules;
	int line;
};

/* Zero-trust gate on a NAT (between its inside and its upstream) or on a
 * host's link (docs/gate.md; docs/topology.md, "Gate blocks"). Every
 * value has a default, the seed model's where it gives one. */
enum topo_trust {
	TOPO_TRUST_UNTRUSTED,
	TOPO_TRUST_LOW,
	TOPO_TRUST_MEDIUM,
	TOPO_TRUST_HIGH,
	TOPO_TRUST_VERIFIED,
	TOPO_TRUST_COUNT
};

#define TOPO_GATE_KEY_MAX      64   /* bytes of a host's key, NUL included */
#define TOPO_GATE_HOSTS_MAX    64   /* entries of a gate's hosts block */
#define TOPO_GATE_EXEMPT_MAX   16   /* exemptions of one gate */
#define TOPO_GATE_PORT_DEFAULT 4788 /* UDP port of auth requests: natbed's, next to 4787 */
#define TOPO_GATE_REPLAY_MAX   64   /* most nonces a replay window spans */
#define TOPO_GATE_RATE_MAX     64   /* most requests risk.rate-max may count */

/* The model a gate decides by: what `natbed ctl gate NAME set` changes
 * and a checkpoint keeps. Delays are drawn uniformly in [lo, hi] by the
 * trust level, then multiplied by time_scale; success is granted with
 * probability success[level] * (1 - risk_factor * risk), where risk (0..1)
 * is w_failures * min(failures, failures_max) / failures_max + w_rate *
 * min(requests in rate_window, rate_max) / rate_max + w_idle * min(time
 * since the last grant, idle_max) / idle_max, at most 1. */
struct topo_gate_range {
	natbed_time_t lo_ns, hi_ns;
};

struct topo_gate_model {
	struct topo_gate_range delay[TOPO_TRUST_COUNT];
	double success[TOPO_TRUST_COUNT];
	double time_scale;     /* > 0; delays only */
	double escalate;       /* one level up after a grant, with this probability */
	uint32_t demote_after; /* one level down after this many denials in a row; 0: never */
	natbed_time_t pinhole_ttl_ns; /* a grant's pinhole, refreshed by each packet through it */
	uint32_t replay_window;	      /* nonces below the highest seen that may still come */
	double risk_factor;
	double w_failures, w_rate, w_idle;
	uint32_t failures_max, rate_max;
	natbed_time_t rate_window_ns, idle_max_ns;
};

/* A host the gate names: its own key and starting level. */
struct topo_gate_host {
	char name[TOPO_NAME_MAX];
	int index;		     /* in topo.hosts, once bound */
	char key[TOPO_GATE_KEY_MAX]; /* "" : the gate's key */
	bool trust_set;
	enum topo_trust trust;
	int line;
};

/* What passes the gate without authentication, both ways: packets to the
 * remote end `to` (out), and from it (in), of proto, with the remote's
 * port in `port`. */
struct topo_gate_exempt {
	unsigned set;		     /* TOPO_FW_TO, TOPO_FW_PORT: which were given */
	enum topo_fw_proto proto;    /* any: every protocol */
	struct topo_fw_net to;	     /* an address or prefix, or: */
	char to_host[TOPO_NAME_MAX]; /* a host, as the gate sees it; "" when a prefix */
	int to_index;		     /* its index in topo.hosts, once bound; -1 */
	struct topo_fw_ports port;
	int line;
};

struct topo_gate {
	struct in_addr address; /* where auth requests go; default: the gateway */
	bool address_set;
	uint16_t port;		     /* host order */
	char key[TOPO_GATE_KEY_MAX]; /* every gated host's key but where hosts[] gives one */
	enum topo_trust trust;	     /* every gated host's starting level, likewise */
	struct topo_gate_model m;
	struct topo_gate_host hosts[TOPO_GATE_HOSTS_MAX];
	size_t n_hosts;
	struct topo_gate_exempt exempt[TOPO_GATE_EXEMPT_MAX];
	size_t n_exempt;
	int line;
};

/* How a NAT behaves (RFC 4787): the one description a preset fills, a
 * topology block overrides field by field (struct topo_nat.set says which
 * it gave), `natbed ctl nat NAME set` changes and the NAT engine runs. */
struct topo_nat_behaviour {
	enum topo_nat_map mapping;
	enum topo_nat_map filtering; /* same three kinds, read as filtering */
	enum topo_nat_ports ports;
	uint16_t port_lo, port_hi;
	bool hairpin;		       /* RFC 4787 REQ-9 */
	natbed_time_t timeout_ns;      /* UDP mapping lifetime, RFC 4787 REQ-5 */
	uint16_t stride;	       /* sequential ports: distance between new ports (1) */
	bool parity;		       /* RFC 4787 REQ-4: keep the inside port's parity */
	uint32_t pool;		       /* most mappings per protocol; 0: the whole range */
	bool refresh_inbound;	       /* RFC 4787 REQ-6: inbound traffic refreshes too */
	enum topo_nat_classes classes; /* REQ-3a; NONE when a port-range was given */
	natbed_time_t unreplied_ns;    /* UDP lifetime until an answer came in; 0: timeout_ns */
	/* Linux conntrack: an inbound packet that finds no way in reserves its
	 * (remote, external port) pair, so an outbound flow to that remote
	 * that would take that port gets another one. */
	bool inbound_reserves;
	uint16_t port_block;  /* RFC 6888 REQ-4: ports per block of a subscriber; 0: none */
	uint16_t port_blocks; /* the most blocks one subscriber holds */
	bool pcp;	      /* answers PCP (RFC 6887) and NAT-PMP (RFC 6886) on port 5351 */
};

struct topo_nat {
	char name[TOPO_NAME_MAX];
	char preset[TOPO_NAME_MAX]; /* "" when none given */
	unsigned set;		    /* enum topo_nat_field bits */
	struct topo_nat_behaviour b;
	struct in_addr publics[TOPO_NAT_PUBLIC_MAX]; /* outside addresses: one, or a pool */
	size_t n_public;
	struct in_addr inside_net; /* network address of the inside prefix */
	uint8_t inside_len;	   /* prefix length */
	struct in_addr gateway;	   /* first address of the inside prefix */
	int upstream;		   /* index in topo.nats, or -1: the internet */
	struct topo_link link;	   /* uplink toward the upstream */
	struct topo_fw fw;	   /* between its inside and its upstream */
	struct topo_gate *gate;	   /* between its inside and its upstream; NULL: none */
	int line;		   /* where it was defined */
};

struct topo_host {
	char name[TOPO_NAME_MAX];
	int nat; /* index in topo.nats, or -1: a public host */
	struct in_addr addrs[TOPO_ADDRS_MAX];
	size_t n_addrs;
	uint8_t prefix_len;	/* of addrs on eth0: the NAT's inside, or 32 */
	struct in_addr gateway; /* default route */
	struct topo_link link;	/* access link, defaults applied */
	char run[TOPO_RUN_MAX]; /* "" when none */
	int run_line;		/* where run was given, 0 when not */
	struct topo_fw fw;	/* on its access link */
	struct topo_gate *gate; /* on its access link; NULL: none */
	int line;
};

/* The scenario section (docs/topology.md, Scenarios): which pairs connect,
 * or clients arriving over time at sites, as natbed run plays them. */
#define TOPO_PAIRS_MAX	  1024
#define TOPO_SITES_MAX	  4096
#define TOPO_PRIORITY_MAX 16

struct topo_pair {
	char from[TOPO_NAME_MAX], to[TOPO_NAME_MAX]; /* host names */
	int a, b;				     /* their indices in topo.hosts */
	char method[TOPO_NAME_MAX];		     /* "" : the cascade */
	char priority[TOPO_PRIORITY_MAX];	     /* "" : the scenario's */
	int line;
};

/* A site clients arrive at: a host whose NAT they sit behind, with a
 * weight (the share of arrivals, 0 to 1). */
struct topo_site {
	char host[TOPO_NAME_MAX];
	int index;
	double weight;
	int line;
};

struct topo_scenario {
	struct topo_pair *pairs; /* connect: explicit pairs, n_pairs of them */
	size_t n_pairs;
	/* arrivals, the seed's model: Poisson at rate_per_s until clients
	 * arrived or duration passed, each at a site drawn by weight,
	 * connecting to `to` */
	uint32_t clients;
	double rate_per_s;
	natbed_time_t duration_ns;
	struct topo_site *sites; /* n_sites of them */
	size_t n_sites;
	char to[TOPO_NAME_MAX];
	int to_index; /* -1 without arrivals */
	/* how every connect chooses, unless a pair says otherwise */
	char method[TOPO_NAME_MAX];	  /* "" : the cascade */
	char priority[TOPO_PRIORITY_MAX]; /* "" : balanced */
	bool no_relay;
	natbed_time_t budget_ns; /* a connect's; 0: the agent's default */
	int line;
};

struct topo {
	char name[TOPO_NAME_MAX];
	uint64_t seed;
	struct topo_link defaults;
	struct topo_link internet;
	struct topo_nat *nats;
	size_t n_nats;
	struct topo_host *hosts;
	size_t n_hosts;
	int scenario_line;		/* > 0 when a scenario section is present */
	struct topo_scenario *scenario; /* NULL without one */
	char path[256];
};

/* The gateway public hosts route through: every public host has its
 * addresses as /32 and a default route to this on-link address, which the
 * emulator answers ARP for. */
#define TOPO_PUBLIC_GATEWAY "198.18.0.1"

/* Longest prefix the loader accepts, so that every interface name it
 * derives ("<prefix>fabric", a host's fabric-side veth) fits IFNAMSIZ. */
#define TOPO_PREFIX_MAX 8

/* Loads and validates path. prefix is the namespace prefix the topology
 * will be built with (names must fit an interface name once prefixed; at
 * most TOPO_PREFIX_MAX of [a-z0-9_-]; NULL means "nb-").
 * On success returns 0 and *out (free with topo_free()). On failure returns
 * -1 and writes "FILE:LINE: key: problem" into err. */
int topo_load(const char *path, const char *prefix, struct topo **out, char *err, size_t errlen);

/* Same from a string in memory; name stands for the file name in errors. */
int topo_load_string(const char *text, size_t len, const char *name, const char *prefix,
		     struct topo **out, char *err, size_t errlen);

void topo_free(struct topo *t);

/* Index of the host or NAT called name, or -1. */
int topo_host_find(const struct topo *t, const char *name);
int topo_nat_find(const struct topo *t, const char *name);

/* The unit parsers (durations, percentages, rates, port ranges) are in
 * natbed/units.h. */

/* NAT behaviour names as the topology spells them ("endpoint-independent",
 * "address-and-port-dependent", "preserve", ...), both ways. The parsers
 * return 0 or -1; the namers return NULL for a value out of range. */
int topo_parse_nat_map(const char *s, enum topo_nat_map *out);
int topo_parse_nat_ports(const char *s, enum topo_nat_ports *out);
const char *topo_nat_map_name(enum topo_nat_map m);
const char *topo_nat_ports_name(enum topo_nat_ports p);

/* Firewall words as the topology spells them (accept | drop | reject,
 * in | out | any, udp | tcp | icmp | any), both ways, as above. */
int topo_parse_fw_action(const char *s, enum topo_fw_action *out);
int topo_parse_fw_dir(const char *s, enum topo_fw_dir *out);
int topo_parse_fw_proto(const char *s, enum topo_fw_proto *out);
const char *topo_fw_action_name(enum topo_fw_action a);
const char *topo_fw_dir_name(enum topo_fw_dir d);
const char *topo_fw_proto_name(enum topo_fw_proto p);

/* Trust levels as the topology spells them (untrusted, low, medium, high,
 * verified), both ways, as above. */
int topo_parse_trust(const char *s, enum topo_trust *out);
const char *topo_trust_name(enum topo_trust level);

/* The gate model's defaults: the seed's delays (untrusted 2-5 s, low 1-2 s,
 * medium 0.5-1 s, high 0.1-0.5 s, verified 50-100 ms), success (untrusted
 * 70% .. verified 99%), escalation 30% and risk factor 0.3, and natbed's
 * own choices where the seed gives none (docs/topology.md lists them). */
void topo_gate_model_default(struct topo_gate_model *m);

/* Sets one model field from its topology key and text (time-scale,
 * pinhole-ttl, replay-window, escalate, demote-after, delay.LEVEL,
 * success.LEVEL, risk.KEY), with the loader's parsers: what `natbed ctl
 * gate NAME set KEY VALUE` runs. 0, or -1 with "KEY: problem" in err; m is
 * unchanged on error. */
int topo_gate_model_set(struct topo_gate_model *m, const char *key, const char *value, char *err,
			size_t errlen);

/* The gate in front of host h: the one on its own link, else its NAT's;
 * NULL when none. *key (may be NULL) gets h's key there. What a program
 * starting h's agent passes as --gate ADDRESS:PORT and --gate-key. */
const struct topo_gate *topo_host_gate(const struct topo *t, int h, const char **key);

/* Whether address a (network order) is host h as a gate anywhere sees it:
 * one of its own addresses, or a public address of a NAT on its way to the
 * internet (its NAT, that NAT's upstream, ...). */
bool topo_host_seen_as(const struct topo *t, int h, uint32_t a);

/* NAT presets (full-cone, restricted-cone, port-restricted, symmetric,
 * symmetric-sequential, cgnat, linux-masquerade). topo_nat_preset_name(i) names the i-th, or
 * returns NULL past the last (to iterate them). topo_nat_preset_apply()
 * sets nat->preset and fills every behaviour field not flagged in
 * nat->set; returns 0, or -1 for an unknown name (nat untouched). */
const char *topo_nat_preset_name(size_t i);
int topo_nat_preset_apply(struct topo_nat *nat, const char *name);

/* Sets one behaviour field from its topology key and text (mapping,
 * filtering, ports, port-range, hairpin, timeout, stride, parity, pool,
 * refresh-inbound), with the loader's own parsers: what `natbed ctl nat
 * NAME set KEY VALUE` runs. 0, or -1 with "KEY: problem" in err (an unknown
 * key lists the known ones); b is unchanged on error. */
int topo_nat_behaviour_set(struct topo_nat_behaviour *b, const char *key, const char *value,
			   char *err, size_t errlen);

#endif
