/* natbed virtual network's insides, shared by vnet.c (the network) and
 * vnet_ckpt.c (its checkpoints for natbed sim). */
#ifndef NATBED_EMU_VNET_INT_H
#define NATBED_EMU_VNET_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engines.h"
#include "natbed/dgram.h"
#include "natbed/topo.h"
#include "vnet.h"
#include "vnet_sock.h"

struct ckw;
struct ckr;

struct vnet_host {
	struct vnet *v;
	struct dgram dg;
	int index;
	uint32_t addrs[TOPO_ADDRS_MAX]; /* its addresses, network order */
	struct vsock_host sh;		/* what its sockets are checked against */
	uint64_t port_key;		/* the stream of its ephemeral port draws */
	uint64_t port_draws;		/* draws so far */
	struct vnet_host_stats st;
};

struct vnet {
	const struct topo *t;
	struct sched *s;
	struct pkt_pool *pool;
	struct route *route;
	struct flowtab *flows;
	bool numbering;	       /* packets are numbered in their flows (vnet_flow_number) */
	bool checking;	       /* receivers verify checksums (vnet_host_rx) */
	struct linkset *links; /* hosts, NAT uplinks, the core */
	struct engines eng;    /* NATs, firewalls, gates */
	struct vnet_host *hosts;
	struct vsock_table *socks; /* every host's */
	struct vnet_stats st;
	vnet_trace_fn trace;
	void *trace_ctx;
};

/* A packet event's argument, the packet, written whole (pkt_ckpt_save)
 * and built again from its vnet's pool: the CKFN_ARG pair of every step
 * of a packet's walk (vnet_ckfns, in vnet.c). */
json_t *vnet_pkt_save(struct ckw *w, const void *arg);
void *vnet_pkt_load(struct ckr *r, const json_t *j);

#endif
