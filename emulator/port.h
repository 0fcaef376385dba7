/* natbed-emu ports: one per fabric interface, behind a table of packet I/O
 * backends found by name ("packet": AF_PACKET with recvmmsg/sendmmsg). */
#ifndef NATBED_EMU_PORT_H
#define NATBED_EMU_PORT_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "drop.h"
#include "pkt.h"

#define PORT_BATCH 64 /* frames per receive or send call */

struct port;

struct port_counters {
	uint64_t rx_pkts, rx_bytes;
	uint64_t tx_pkts, tx_bytes;
	uint64_t drops[DROP_REASON_COUNT];
};

struct port_backend {
	const char *name;
	/* Opens the interface p->ifname; fills p->fd, p->ifindex, p->mac. 0 or -errno. */
	int (*open)(struct port *p);
	/* Receives up to max frames into packets from pool. Returns how many (0
	 * when none is waiting) or -errno. Frames it cannot take are counted. */
	int (*recv)(struct port *p, struct pkt_pool *pool, struct pkt **out, int max);
	/* Sends n frames; returns how many left or -errno. Ownership stays with
	 * the caller. */
	int (*send)(struct port *p, struct pkt **pkts, int n);
	/* Optional: non-zero when a frame waits, without a system call. */
	int (*ready)(struct port *p);
	/* Adds the kernel's own drop count since the last call to counters. */
	void (*kernel_drops)(struct port *p);
	void (*close)(struct port *p);
};

struct port {
	char ifname[IF_NAMESIZE];
	int index; /* in the fabric's port array */
	int ifindex;
	int fd;
	uint8_t mac[6];
	const struct port_backend *be;
	void *owner;   /* the fabric that reads it */
	void *be_ring; /* the backend's own state */
	struct port_counters c;
	void *pcap; /* struct pcapw *, owned by the fabric */
	struct pkt *txq[PORT_BATCH];
	int txq_len;
};

/* The backend called name, or NULL. */
const struct port_backend *port_backend_find(const char *name);

/* Opens ifname with backend be. Returns 0 or -errno; p is zeroed first. */
int port_open(struct port *p, const char *ifname, const struct port_backend *be);
void port_close(struct port *p);

/* Counts a drop of p's packet for reason r. */
static inline void port_drop(struct port *p, enum drop_reason r)
{
	p->c.drops[r]++;
}

/* Both AF_PACKET backends: the socket's own drops (PACKET_STATISTICS). */
void port_packet_kernel_drops(struct port *p);

extern const struct port_backend port_backend_packet;
extern const struct port_backend port_backend_ring;

#endif
