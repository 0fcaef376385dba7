/* natbed virtual network: a topology in one process and in virtual time,
 * each host reached through the datagram interface (natbed/dgram.h).
 *
 * Built from a struct topo and a scheduler on a virtual clock, it gives
 * every host of the topology a struct dgram. A datagram sent there becomes
 * a real IPv4/UDP frame (checksums set) and walks the topology as
 * natbed-emu walks it (fabric.c), through the same engines, linked:
 *  - the host's gate (gate_check, out) and firewall (fw_check, out), its
 *    access link up;
 *  - on a NAT's inside: the NAT's gate and firewall (out), nat_outbound(), then
 *    either the hairpin turn (RFC 4787 REQ-9) or the NAT's uplink up to
 *    its upstream (another NAT's inside: carrier chains);
 *  - on the internet: the core link, once per visit;
 *  - toward a NAT's public address: its uplink down, nat_inbound(), its
 *    firewall and gate (in), its inside;
 *  - toward a host (routing as route.c): its firewall and gate (in), its access
 *    link down, its UDP stack: the IP and UDP checksums are checked (a
 *    corrupted copy dies there) and the datagram goes to the socket bound
 *    to its address and port, or to one bound to any address; to a closed
 *    port it vanishes (counted: no ICMP is sent back);
 *  - to the host's own gateway: a NAT with `pcp: true` answers PCP and
 *    NAT-PMP on port 5351 as natbed-emu's gateway does (pcp.c, the same
 *    pcp_answer), down the host's link; the rest ends there (counted).
 * Every link decides with link_decide() (delay, jitter, loss, rate,
 * targeted drops, duplication, corruption) and is timed on the scheduler;
 * packet numbers per flow come from flowtab as in natbed-emu, so one seed
 * drops the same packets here and there. They are counted only in a
 * network where some link reads them (link_numbers: loss, jitter,
 * duplication, corruption, targets by number), or whose links were handed
 * out by vnet_link(); elsewhere they are 0 and change no outcome. The
 * receiving host's checksum check runs likewise only where some link may
 * corrupt (link_corrupts), or links were handed out: without corruption it
 * cannot fail. TTL is decremented where the
 * emulator decrements it. What the emulator answers with a packet (a
 * firewall's reject, TTL exceeded, port unreachable) is only counted here;
 * a zero-trust gate's answers to auth requests are sent, as natbed-emu
 * sends them (from the gate onto the NAT's inside, or down the host's
 * link), and its events go nowhere.
 * There is no MTU: datagrams up to DG_MAX cross whole.
 *
 * Sockets (vnet_sock.h): a host binds any of its own addresses (a STUN
 * server binds each of its two) or any address (0), to a port or to an
 * ephemeral one drawn as Linux draws them: a random free port of
 * 32768-60999, seeded per host. Linux's bind rules without SO_REUSEADDR:
 * -EADDRINUSE when the port is taken on that address or on any address;
 * -EADDRNOTAVAIL for an address that is not the host's; -EMFILE past
 * max_sockets. Socket ids are unique across the network: a host's dgram
 * refuses another host's socket (-EBADF). A wildcard socket sends from
 * the host's first address. A datagram to the host's own address stays in
 * the host.
 *
 * Nothing runs in dg_send(): a datagram starts its walk from the
 * scheduler at the current time, so a receive callback never runs inside
 * a send. sched_run_until() drives everything; there are no threads, no
 * sockets and no allocation per datagram: packets come from a bounded
 * pool (a send with none left returns -ENOBUFS, counted), sockets from a
 * table sized at creation, flows from flowtab's bounded table.
 *
 * Example (error checks left out):
 *
 *	struct clock_virtual vc = {0};
 *	struct sched *s = sched_new(clock_virtual_clock(&vc), &vc);
 *	struct topo *t;
 *	topo_load_string(yaml, strlen(yaml), "test", NULL, &t, err, sizeof(err));
 *	struct vnet *v = vnet_new(&(struct vnet_cfg){.topo = t, .sched = s}, err,
 *				  sizeof(err));
 *	const struct dgram *alice = vnet_dgram(v, topo_host_find(t, "alice"));
 *	struct dg_ep any = {0}, me, srv = {inet_addr("198.51.100.10"), htons(3478)};
 *	int sk = alice->ops->open(alice->io, &any, &me, on_datagram, ctx);
 *	alice->ops->send(alice->io, sk, &srv, "hello", 5);
 *	sched_run_until(s, sched_now(s) + NATBED_NS_PER_S);
 *	vnet_free(v);	// before the scheduler, which must not run after it
 *	sched_free(s);
 *	topo_free(t);
 *
 * A state machine written against agents/dgram.h takes `alice` as it
 * takes natbed-agent's real-socket driver. Events due at one time run in
 * the order they were scheduled, so a run repeats exactly for one seed.
 * In CMake, link natbed_emu (which brings vnet.h's folder). A carrier
 * NAT's port-block events (RFC 6888) go nowhere here.
 */
#ifndef NATBED_EMU_VNET_H
#define NATBED_EMU_VNET_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/ckpt.h"
#include "natbed/dgram.h"
#include "natbed/sched.h"
#include "natbed/topo.h"

#define VNET_PACKETS_DEFAULT 16384 /* datagrams in flight at once */
#define VNET_SOCKETS_DEFAULT 65536 /* sockets open at once, all hosts */

struct vnet_cfg {
	const struct topo *topo; /* must outlive the vnet; topo->seed seeds it all */
	struct sched *sched;	 /* every delay and expiry; a virtual clock's */
	size_t max_packets;	 /* 0: VNET_PACKETS_DEFAULT */
	size_t max_sockets;	 /* 0: VNET_SOCKETS_DEFAULT */
	size_t max_flows;	 /* flows numbered at once; 0: flowtab's default */
};

/* Why a datagram did not reach a socket. */
enum vnet_drop {
	VNET_DROP_NO_BUFFER,	 /* the packet pool was empty: send gave -ENOBUFS */
	VNET_DROP_SCHED,	 /* the scheduler could not take an event */
	VNET_DROP_LINK_DOWN,	 /* a partitioned link */
	VNET_DROP_LINK_QUEUE,	 /* a rate-limited link's queue was full */
	VNET_DROP_LINK_TARGETED, /* a link's targeted drops */
	VNET_DROP_LINK_LOSS,	 /* a link's loss model */
	VNET_DROP_FIREWALL,	 /* a host's or a NAT's firewall: drop or reject */
	VNET_DROP_GATE,		 /* a zero-trust gate: no pinhole, or an auth request refused */
	VNET_DROP_NAT,		 /* a NAT's verdict: see its own counters */
	VNET_DROP_NO_HAIRPIN,	 /* to a NAT's own public address, hairpin off */
	VNET_DROP_NO_ROUTE,	 /* on the internet, no host or NAT owns it */
	VNET_DROP_TTL,		 /* TTL ran out */
	VNET_DROP_CHECKSUM,	 /* a corrupted copy, refused by the receiving stack */
	VNET_DROP_PORT_CLOSED,	 /* no socket bound to its address and port */
	VNET_DROP_GATEWAY,	 /* to the host's gateway: answered (PCP) or not */
	VNET_DROP_COUNT
};

/* "no_buffer", "sched", "link_down", ... */
const char *vnet_drop_name(enum vnet_drop d);

struct vnet_stats {
	uint64_t sent;	    /* datagrams send accepted */
	uint64_t delivered; /* handed to a socket's callback (duplicates too) */
	uint64_t local;	    /* of which to the sender's own address */
	uint64_t hairpinned;
	uint64_t drops[VNET_DROP_COUNT];
	uint64_t in_flight; /* packets on their way now */
	uint64_t sockets;   /* open now */
};

/* Per host: what its stack saw. */
struct vnet_host_stats {
	uint64_t tx, rx;      /* datagrams sent, delivered to a socket */
	uint64_t tx_errors;   /* sends refused (-errno) */
	uint64_t port_closed; /* arrived for no socket */
};

/* What happened to a datagram at one step, for a trace (tests, logs). */
enum vnet_event_kind { VNET_EV_DELIVER, VNET_EV_DROP };

struct vnet_event {
	enum vnet_event_kind kind;
	enum vnet_drop drop;   /* VNET_EV_DROP */
	const char *where;     /* the host, NAT or link that delivered or dropped it */
	struct dg_ep src, dst; /* as the packet read at that step */
	size_t len;	       /* UDP payload bytes */
};

typedef void (*vnet_trace_fn)(void *ctx, natbed_time_t now, const struct vnet_event *ev);

struct vnet;
struct nat;
struct fw;
struct link;

/* Builds the network of cfg->topo: every host's stack, access link and
 * firewall, every NAT with its uplink and firewall, the internet core.
 * NULL with err filled (a link the topology describes badly, ENOMEM). */
struct vnet *vnet_new(const struct vnet_cfg *cfg, char *err, size_t errlen);

/* Frees everything: sockets (their callbacks never run again), NATs,
 * links and packets in flight. Events of packets in flight stay on the
 * scheduler: free it (or never run it again) after this. Not from inside
 * one of v's callbacks. NULL is safe. */
void vnet_free(struct vnet *v);

/* The datagram interface of host h (topo index), valid while v lives;
 * its scheduler is cfg->sched and its seed is the host's own, drawn from
 * topo->seed and the host's name. NULL when h is out of range. */
const struct dgram *vnet_dgram(struct vnet *v, int h);

/* Host h (topo index) starts again as a new host there would: its NAT
 * as new for it (nat_restart: mappings flushed, sequential ports from the
 * range's start; its counters and random stream go on), its own and its
 * NAT's firewalls as fw_new() makes them (no tracked flows, counters at
 * zero), and h new to its own and its NAT's gates (gate_host_renew). For
 * a host alone behind its NAT (natbed sim's copies of a site,
 * docs/sim.md): the flush ends every mapping of the NAT. Its sockets are
 * the caller's (closed by the host's last program). 0, or -1 (h out of
 * range, ENOMEM: a firewall then keeps its state). */
int vnet_host_anew(struct vnet *v, int h);

/* The NAT, firewall (NULL where none is configured) and the two
 * directions of a link (a host, a NAT's uplink, "internet") called name,
 * as natbed-emu's control socket reaches them: to read counters or to
 * change them at run time (nat_set, link_set, link_set_up, gate_set). */
struct nat *vnet_nat(struct vnet *v, const char *name);
struct fw *vnet_firewall(struct vnet *v, const char *name);
struct gate;
/* The zero-trust gate of the host or NAT called name, or NULL. */
struct gate *vnet_gate(struct vnet *v, const char *name);
struct emu_parts;
/* Its parts as a checkpoint reaches them (emu_parts.h), now. */
void vnet_parts(struct vnet *v, struct emu_parts *out);
struct pcp_counters;
/* The PCP and NAT-PMP answers of the NAT called name (pcp.h), or NULL. */
const struct pcp_counters *vnet_pcp(struct vnet *v, const char *name);
/* The two directions of the link called name (a host, a NAT, "internet"),
 * to read or to change (link_set): 0, or -1 when there is none. From the
 * first call on, every packet is numbered in its flow, since a link
 * changed may come to read the numbers. */
int vnet_link(struct vnet *v, const char *name, struct link **up, struct link **down);

void vnet_stats(const struct vnet *v, struct vnet_stats *st);
/* Host h's counters; zeros when h is out of range. */
void vnet_host_stats(const struct vnet *v, int h, struct vnet_host_stats *st);

/* Calls fn(ctx, ...) for every delivery and every drop from now on (fn
 * NULL: stop). */
void vnet_trace(struct vnet *v, vnet_trace_fn fn, void *ctx);

struct ckw;
struct ckr;

/* natbed sim checkpoints (natbed/ckpt.h): the network's own state at the
 * scheduler's time, every host's datagram interface declared (ckw_obj)
 * for the programs that hold it: the hosts' ephemeral port draws and
 * counters, every socket (vnet_sock.h: ids, receivers), every link
 * direction (link_ctl.h), the packet numbers per flow (flowtab_ctl.h),
 * every NAT, firewall and gate (engines_ckpt_save, engines.h), the
 * counters. The packets on their way are the scheduler's events'
 * (vnet_ckfns writes each whole with its event). A new reference, NULL
 * on error (said in w). */
json_t *vnet_ckpt_save(const struct vnet *v, struct ckw *w);

/* Makes v, new from the same topology and seed on a scheduler at the
 * checkpoint's time with nothing pending, hold j's state. 0, or -1
 * (said in r). */
int vnet_ckpt_fill(struct vnet *v, const json_t *j, struct ckr *r);

/* The functions a network gives the scheduler and its engines. */
extern const struct ckfns vnet_ckfns;

#endif
