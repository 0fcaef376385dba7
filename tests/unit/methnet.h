/* A small virtual network for the traversal method tests: every host of a
 * topology gets a datagram driver (agents/dgram.h) whose datagrams become
 * IPv4/UDP frames crossing the emulator's own NAT engines (emulator/nat.c,
 * linked) on one scheduler in virtual time, with the topology's link
 * delays. One NAT level (no upstream chains), no jitter, no loss, no
 * hairpinning: what the method table needs. A NAT with pcp: true answers
 * PCP and NAT-PMP on its inside gateway (emulator/pcp.c's pcp_answer, as
 * natbed-emu does). emulator/vnet.[ch] is the general one; this harness
 * stands in until it lands.
 *
 * A packet from host H to D: H's access link; H's NAT (nat_outbound) and
 * its uplink unless D is on H's own LAN; the internet core; D's NAT
 * (nat_inbound) and its uplink when D is a NAT's public address; D's access
 * link; the socket bound to D's port. A frame a NAT refuses, or sent to an
 * address nobody has, is dropped and counted.
 */
#ifndef NATBED_TESTS_METHNET_H
#define NATBED_TESTS_METHNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dgram.h"
#include "natbed/topo.h"
#include "natinfo.h"

struct mnet;

/* A network of topo's hosts and NATs (topo must outlive it); NATs and
 * drivers draw from seed. NULL on error. */
struct mnet *mnet_new(const struct topo *topo, uint64_t seed);
void mnet_free(struct mnet *n);

struct sched *mnet_sched(struct mnet *n);
/* Host h's driver, its first address (network order), the NAT it sits
 * behind as discovery would find it (NI_MAP_NONE for a public host). */
const struct dgram *mnet_dgram(struct mnet *n, const char *h);
uint32_t mnet_addr(struct mnet *n, const char *h);
void mnet_natinfo(struct mnet *n, const char *h, struct natinfo *ni);
/* Host h's PCP/NAT-PMP server: its NAT's inside gateway, port 5351 (addr
 * 0 for a public host); the NAT engine it sits behind, or NULL. */
struct dg_ep mnet_gateway(struct mnet *n, const char *h);
struct nat *mnet_nat(struct mnet *n, const char *h);

/* A STUN Binding responder (XOR-MAPPED-ADDRESS of the source) on host h,
 * every address, port (network order). 0 or -1. */
int mnet_stun_server(struct mnet *n, const char *h, uint16_t port);

/* Called for every datagram a host sends, before its access link: true
 * drops it. */
typedef bool (*mnet_drop_fn)(void *arg, const char *host, const struct dg_ep *from,
			     const struct dg_ep *to, const uint8_t *buf, size_t len);
void mnet_set_drop(struct mnet *n, mnet_drop_fn fn, void *arg);

/* Sends from host h to addr fail with err (-ECONNREFUSED, ...): an ICMP
 * refusal as a driver reports it. */
void mnet_refuse(struct mnet *n, const char *h, uint32_t addr, int err);

struct mnet_stats {
	uint64_t sent;	    /* datagrams the drivers took */
	uint64_t delivered; /* handed to a socket */
	uint64_t nat_drops; /* refused by a NAT (no mapping, filtered, ...) */
	uint64_t no_route;  /* to nobody, or a closed port */
	uint64_t dropped;   /* by the drop hook */
};
void mnet_stats(const struct mnet *n, struct mnet_stats *st);
/* Datagrams host h sent. */
uint64_t mnet_host_sent(const struct mnet *n, const char *h);
/* Sockets host h has open. */
unsigned mnet_host_socks(const struct mnet *n, const char *h);

#endif
