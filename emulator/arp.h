/* natbed-emu ARP (RFC 826): a small neighbour table per port, packets held
 * while their next hop is resolved, and frames for requests and replies.
 * The fabric decides which addresses it answers for. */
#ifndef NATBED_EMU_ARP_H
#define NATBED_EMU_ARP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/clock.h"
#include "pkt.h"

#define ARP_ENTRIES	32 /* neighbours per port */
#define ARP_PENDING_MAX 32 /* packets held per unresolved neighbour */
#define ARP_FRAME_LEN	42 /* Ethernet + ARP for IPv4 */

struct arp_entry {
	uint32_t ip; /* network order; 0: free */
	uint8_t mac[6];
	bool valid;
	struct pkt *pend; /* held packets, oldest first */
	int n_pend;
	int tries; /* requests sent while unresolved */
};

struct arp_table {
	struct arp_entry e[ARP_ENTRIES];
};

/* The MAC for ip if known: true and *mac filled. */
bool arp_lookup(const struct arp_table *t, uint32_t ip, uint8_t mac[6]);

/* Records ip at mac. Returns the packets that waited for it (a list through
 * ->next, oldest first), now owned by the caller, or NULL. */
struct pkt *arp_learn(struct arp_table *t, uint32_t ip, const uint8_t mac[6]);

/* Holds p until ip resolves. Returns 1 if a request should be sent now
 * (first packet for ip), 0 if held, -1 if the queue is full (p not taken). */
int arp_hold(struct arp_table *t, uint32_t ip, struct pkt *p);

/* Gives up on ip: returns its held packets (owned by the caller) and
 * forgets it. */
struct pkt *arp_give_up(struct arp_table *t, uint32_t ip);

/* Entry for ip if present (resolved or not), else NULL. */
struct arp_entry *arp_entry_find(struct arp_table *t, uint32_t ip);

/* Writes an ARP frame of ARP_FRAME_LEN bytes into buf: op is ARP_OP_*, tha
 * NULL for a request (broadcast). */
void arp_frame(uint8_t *buf, uint16_t op, const uint8_t sha[6], uint32_t spa, const uint8_t *tha,
	       uint32_t tpa);

#endif
