/* natbed-emu ports: one per fabric interface, behind a table of packet I/O
 * backends found by name ("packet": AF_PACKET with recvmmsg/sendmmsg, "ring":
 * AF_PACKET with PACKET_MMAP rings).
 *
 * Opening and closing a packet socket with a ring waits for an RCU grace
 * period per ring (the kernel's packet_set_ring() and packet_release() call
 * synchronize_net()), about 10 ms each whatever the ring's size: 50 ms a
 * port, one port after another. port_open_all() and port_close_all() do all
 * of a topology's ports at once, so the waits overlap. */
#ifndef NATBED_EMU_PORT_H
#define NATBED_EMU_PORT_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "drop.h"
#include "pkt.h"

#define PORT_BATCH 64 /* frames per receive or send call */
/* Ring memory all ports of one emulator share: a port may take
 * PORT_RING_BUDGET / (number of ports), within its backend's own floor and
 * ceiling (a few ports get full rings, hundreds get small ones). */
#define PORT_RING_BUDGET (64u << 20)

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
	void *owner;	   /* the fabric that reads it */
	void *be_ring;	   /* the backend's own state */
	size_t ring_bytes; /* ring memory the backend may take for this port; 0: its default */
	struct port_counters c;
	void *pcap; /* struct pcapw *, owned by the fabric */
	struct pkt *txq[PORT_BATCH];
	int txq_len;
};

/* The backend called name, or NULL. */
const struct port_backend *port_backend_find(const char *name);

/* Prepares p for port_open_all(): zeroes it and names its interface and
 * backend, without a system call. 0, or -ENAMETOOLONG. */
int port_init(struct port *p, const char *ifname, const struct port_backend *be);
/* Opens the n ports port_init() prepared, all at once (a thread per port),
 * each with its share of PORT_RING_BUDGET. Returns 0, or the -errno of the
 * first port that failed with its index in *failed; the ports that opened
 * stay open for port_close_all(). */
int port_open_all(struct port *ports, size_t n, size_t *failed);
/* Closes every open port of ports[0..n), all at once. Safe on ports never
 * opened or already closed. */
void port_close_all(struct port *ports, size_t n);
/* Closes one port (its fd becomes -1). Safe when it is not open. */
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
