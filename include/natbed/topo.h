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

struct topo_link {
	unsigned set;		/* enum topo_link_field bits */
	natbed_time_t delay_ns; /* one way, each direction */
	natbed_time_t jitter_ns;
	double loss;	   /* fraction 0..1 */
	uint64_t rate_bps; /* 0: unlimited */
};

enum topo_nat_map {
	TOPO_MAP_EIM, /* endpoint-independent */
	TOPO_MAP_ADM, /* address-dependent */
	TOPO_MAP_APDM /* address-and-port-dependent */
};

enum topo_nat_ports { TOPO_PORTS_PRESERVE, TOPO_PORTS_SEQUENTIAL, TOPO_PORTS_RANDOM };

/* Which NAT fields the file gave explicitly (a preset fills the others). */
enum topo_nat_field {
	TOPO_NAT_MAPPING = 1u << 0,
	TOPO_NAT_FILTERING = 1u << 1,
	TOPO_NAT_PORTS = 1u << 2,
	TOPO_NAT_PORT_RANGE = 1u << 3,
	TOPO_NAT_HAIRPIN = 1u << 4,
	TOPO_NAT_TIMEOUT = 1u << 5,
};

struct topo_nat {
	char name[TOPO_NAME_MAX];
	char preset[TOPO_NAME_MAX]; /* "" when none given */
	unsigned set;		    /* enum topo_nat_field bits */
	enum topo_nat_map mapping;
	enum topo_nat_map filtering; /* same three kinds, read as filtering */
	enum topo_nat_ports ports;
	uint16_t port_lo, port_hi;
	bool hairpin;
	natbed_time_t timeout_ns;
	struct in_addr public_addr; /* outside address */
	struct in_addr inside_net;  /* network address of the inside prefix */
	uint8_t inside_len;	    /* prefix length */
	struct in_addr gateway;	    /* first address of the inside prefix */
	int upstream;		    /* index in topo.nats, or -1: the internet */
	struct topo_link link;	    /* uplink toward the upstream */
	int line;		    /* where it was defined */
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
	int scenario_line; /* > 0 when a scenario section is present */
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

/* Strict unit parsers shared with the control socket. Return 0 or -1. */
int topo_parse_duration(const char *s, natbed_time_t *out_ns); /* "10ms", "2s", "500us" */
int topo_parse_percent(const char *s, double *out_fraction);   /* "1%", "0.5%" */
int topo_parse_rate(const char *s, uint64_t *out_bps);	       /* "10mbit", "1gbit" */
/* "1024-65535": 1 <= lo <= hi <= 65535. */
int topo_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi);

/* NAT behaviour names as the topology spells them ("endpoint-independent",
 * "address-and-port-dependent", "preserve", ...), both ways. The parsers
 * return 0 or -1; the namers return NULL for a value out of range. */
int topo_parse_nat_map(const char *s, enum topo_nat_map *out);
int topo_parse_nat_ports(const char *s, enum topo_nat_ports *out);
const char *topo_nat_map_name(enum topo_nat_map m);
const char *topo_nat_ports_name(enum topo_nat_ports p);

/* NAT presets (full-cone, restricted-cone, port-restricted, symmetric,
 * symmetric-sequential, cgnat). topo_nat_preset_name(i) names the i-th, or
 * returns NULL past the last (to iterate them). topo_nat_preset_apply()
 * sets nat->preset and fills every behaviour field (mapping, filtering,
 * ports, port range, hairpin, timeout) not flagged in nat->set; returns 0,
 * or -1 for an unknown name (nat untouched). */
const char *topo_nat_preset_name(size_t i);
int topo_nat_preset_apply(struct topo_nat *nat, const char *name);

#endif
