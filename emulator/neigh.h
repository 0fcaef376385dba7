/* natbed-emu neighbour resolution: ARP (RFC 826) on the fabric's ports.
 *
 * Out: an IPv4 frame for a next hop leaves at once when the hop's MAC is
 * known; otherwise it waits (arp.h: at most ARP_PENDING_MAX per hop) while
 * a request goes out every NEIGH_RETRY_NS, NEIGH_TRIES times in all, after
 * which what waited is dropped (DROP_ARP_UNRESOLVED).
 * In: an ARP frame teaches its sender's MAC where the owner allows it
 * (may_learn), sends what waited for that address, and a request is
 * answered when the owner plays the address asked for (answers).
 * The owner decides addresses; this module only speaks ARP. */
#ifndef NATBED_EMU_NEIGH_H
#define NATBED_EMU_NEIGH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drop.h"
#include "natbed/sched.h"
#include "pkt.h"
#include "port.h"

#define NEIGH_RETRY_NS (NATBED_NS_PER_S / 2)
#define NEIGH_TRIES    3

struct neigh_ops {
	/* The address the emulator plays on port: its requests' sender. */
	uint32_t (*addr)(void *ctx, int port);
	/* May a frame on port teach where ip (network order) lives? */
	bool (*may_learn)(void *ctx, int port, uint32_t ip);
	/* Does the emulator answer a request from spa for tpa on port? */
	bool (*answers)(void *ctx, int port, uint32_t spa, uint32_t tpa);
	/* Sends a finished frame on port (takes it). */
	void (*send)(void *ctx, struct port *port, struct pkt *p);
	/* Drops p for reason r (takes it). */
	void (*drop)(void *ctx, struct pkt *p, enum drop_reason r);
};

struct neigh_cfg {
	struct port *ports; /* a table per port, by port->index */
	size_t n_ports;
	struct sched *sched; /* retries */
	struct pkt_pool *pool;
	const struct neigh_ops *ops;
	void *ctx;
};

struct neigh;

/* cfg is copied. NULL on ENOMEM. */
struct neigh *neigh_new(const struct neigh_cfg *cfg);
/* Cancels pending retries; packets still waiting stay with their pool.
 * NULL is safe. */
void neigh_free(struct neigh *nb);

/* Sends IPv4 frame p on port toward next hop ip (network order): now if
 * its MAC is known, else once resolved. Takes p. */
void neigh_output(struct neigh *nb, struct port *port, uint32_t ip, struct pkt *p);

/* An ARP frame p arrived on port. Takes p. */
void neigh_input(struct neigh *nb, struct port *port, struct pkt *p);

#endif
