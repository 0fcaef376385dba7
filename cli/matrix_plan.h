/* natbed matrix's plan: the topology it generates and the pairs it runs.
 *
 * One host behind a NAT of each preset asked for (all of them by default;
 * host "fc" behind NAT "n-fc" for full-cone, ...), one public host "pub",
 * two hosts "lan1" and "lan2" behind one port-restricted NAT "n-lan",
 * natbed-stund on "stun" and, unless turn is off, coturn on "turn". The
 * pairs are every two of the preset hosts and pub (the first named in the
 * plan's order offers), and the two on the LAN. Pure: no I/O but the YAML
 * written to a stream.
 *
 *	struct mx_plan p;
 *	if (mx_plan_build("symmetric,full-cone", true, &p, err, sizeof(err)) < 0) ...
 *	mx_plan_yaml(&p, f);
 *	... p.pairs[i].a offers to p.pairs[i].b ...
 *	mx_plan_free(&p);
 */
#ifndef NATBED_CLI_MATRIX_PLAN_H
#define NATBED_CLI_MATRIX_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "natbed/topo.h"

#define MX_TOPOLOGY  "byo"    /* the generated topology's name */
#define MX_SEED	     7	      /* and its seed */
#define MX_LABEL_PUB "public" /* the public host's NAT label */
#define MX_LABEL_LAN "lan"    /* the two LAN hosts' */

/* Where the servers are, as the programs' environment gives them. */
#define MX_STUN_ADDR  "198.51.100.10"
#define MX_STUN_ALT   "198.51.100.11"
#define MX_STUN_PORT  3478
#define MX_TURN_ADDR  "198.51.100.50"
#define MX_TURN_PORT  3478
#define MX_TURN_USER  "natbed"
#define MX_TURN_PASS  "matrix"
#define MX_TURN_REALM "natbed"

#define MX_HOSTS_MAX 64
#define MX_PAIR_NAME (2 * TOPO_NAME_MAX)

struct mx_host {
	char name[TOPO_NAME_MAX];  /* "fc", "pub", "lan1" */
	char label[TOPO_NAME_MAX]; /* its NAT's preset, MX_LABEL_PUB or MX_LABEL_LAN */
	char nat[TOPO_NAME_MAX];   /* its NAT's name ("n-fc"); "" for pub */
};

struct mx_pair {
	int a, b;		 /* indices in hosts: a offers, b answers */
	char name[MX_PAIR_NAME]; /* "fc-sym": its log files and signal directory */
};

struct mx_plan {
	struct mx_host hosts[MX_HOSTS_MAX];
	size_t n_hosts;
	struct mx_pair *pairs;
	size_t n_pairs;
	bool turn;
	/* the NAT labels in the grid's order: the presets in the table's
	 * order, then MX_LABEL_PUB, then MX_LABEL_LAN */
	const char *labels[MX_HOSTS_MAX];
	size_t n_labels;
};

/* The plan for the presets in nats (comma-separated preset names; NULL:
 * every preset), with coturn when turn. 0, or -1 with what is wrong in err
 * (an unknown or repeated preset, naming the known ones). */
int mx_plan_build(const char *nats, bool turn, struct mx_plan *p, char *err, size_t errlen);
void mx_plan_free(struct mx_plan *p);

/* The topology as YAML (docs/topology.md), for natbed up. 0 or -EIO. */
int mx_plan_yaml(const struct mx_plan *p, FILE *f);

/* "IP:PORT" of the STUN server, and of the TURN server or "" without one. */
const char *mx_plan_stun(void);
const char *mx_plan_turn(const struct mx_plan *p);

#endif
