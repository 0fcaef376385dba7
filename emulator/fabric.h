/* natbed-emu fabric: wires one packet's way through the emulator.
 *
 *   rxpoll → pcap → parse once → neigh (ARP) | host gate → host firewall
 *     → host link (up) → segment: route → [NAT down | NAT up | host]
 *     → gates, firewalls, linkset → neigh → txbatch → pcap
 *
 * Each step is a module of its own (docs/emulator.md lists them); this
 * file only calls them in order. Each step that takes time is an event on
 * the scheduler; a step that refuses a packet hands it to one drop
 * function, which counts it on the port it arrived by and logs it. */
#ifndef NATBED_EMU_FABRIC_H
#define NATBED_EMU_FABRIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/sched.h"
#include "natbed/topo.h"
#include "port.h"

struct fabric;
struct event_base;

struct fabric_cfg {
	const struct topo *topo; /* hosts become ports named after them */
	const char *backend;	 /* packet I/O backend name; NULL: "ring" */
	const char *pcap_dir;	 /* NULL: no captures */
	const bool *pcap_host;	 /* with pcap_dir: [h] true for HOST.pcap; NULL: all */
	const bool *pcap_nat;	 /* with pcap_dir: [n] true for NAT-wan.pcap; NULL: all */
	struct sched *sched;	 /* attached to base by the caller */
	struct event_base *base;
	size_t pool_size;      /* packets in flight at most */
	bool standalone;       /* each port stands for a network (natbed-emu --inside/--outside) */
	uint32_t next_hop;     /* standalone: the outside router (network order), 0: on-link */
	natbed_time_t spin_ns; /* busy-poll ring ports this long after a burst; 0: never */
};

/* Opens a port per host and its capture; registers with cfg->base.
 * Returns NULL and writes why into err. */
struct fabric *fabric_new(const struct fabric_cfg *cfg, char *err, size_t errlen);
/* Flushes captures, closes ports, frees every packet. NULL is safe. */
void fabric_free(struct fabric *f);

/* Ports, for the control socket. */
struct port *fabric_ports(struct fabric *f, size_t *n);
/* Packets currently in flight (held by links or ARP). */
size_t fabric_in_flight(const struct fabric *f);
struct flowtab_stats;
/* Flows numbered (emulator/flowtab.h): remembered now, and forgotten to
 * make room. */
void fabric_flow_stats(const struct fabric *f, struct flowtab_stats *st);
/* Reads the kernel's drop counters into the ports and flushes captures. */
void fabric_sync(struct fabric *f);

struct emu_parts;
/* Its parts as a checkpoint reaches them (emu_parts.h), now. */
void fabric_parts(struct fabric *f, struct emu_parts *out);

/* The time a capture record made at scheduler time now carries
 * (CLOCK_REALTIME nanoseconds): what the event log gives natbed check to
 * place a change among the captured packets. */
natbed_time_t fabric_capture_ns(const struct fabric *f, natbed_time_t now);

struct nat;
/* The NAT called name, or NULL. */
struct nat *fabric_nat(struct fabric *f, const char *name);
struct pcp_counters;
/* The PCP and NAT-PMP answers of the NAT called name, or NULL. */
const struct pcp_counters *fabric_pcp(struct fabric *f, const char *name);
struct sched *fabric_sched(struct fabric *f);

struct livecap;
/* The captures' live viewers (emulator/livecap.h, natbed capture). A view
 * is what one pcap file gets: view h < n_hosts is host h's port (HOST.pcap),
 * view n_hosts + k the outside of NAT k (NAT-wan.pcap), written or not. */
struct livecap *fabric_livecap(struct fabric *f);
/* The view a capture name names (HOST, NAT-wan or NAT), or -1 with err
 * naming the hosts and NATs there are. */
int fabric_view_find(const struct fabric *f, const char *name, char *err, size_t errlen);
/* View v's name as its file is named, without ".pcap", into buf. */
const char *fabric_view_name(const struct fabric *f, size_t v, char *buf, size_t len);

struct fw;
/* The firewall of the host or NAT called name, or NULL (none, or no such). */
struct fw *fabric_firewall(struct fabric *f, const char *name);

struct gate;
/* The zero-trust gate of the host or NAT called name, or NULL. */
struct gate *fabric_gate(struct fabric *f, const char *name);

struct link;
/* The two directions of the link called name (a host, a NAT's uplink, or
 * "internet"): up is toward the internet. 0, or -1 if there is none. */
int fabric_link(struct fabric *f, const char *name, struct link **up, struct link **down);

/* Writes an event to the run's event log: fields is JSON members text. */
void fabric_log(struct fabric *f, const char *event, const char *fields);

/* NAT name lost its mappings (natbed ctl nat NAME flush: a reboot): with
 * `pcp: true`, its gateway multicasts NAT-PMP's and PCP's announcements to
 * the hosts on its inside segment (pcp.h, RFC 6886 §3.2.1), ten rounds
 * over about two minutes, starting now. Nothing for another NAT. */
void fabric_nat_flushed(struct fabric *f, const char *name);

#endif
