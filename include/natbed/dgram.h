/* natbed datagram interface: all a traversal method, the NAT discovery or
 * the cascade may do to the world.
 *
 * Open a UDP socket, send from it, be told when a datagram arrives on it;
 * every timer goes on the scheduler the interface carries. No method reads
 * a clock, sleeps or touches a real socket. Two kinds of driver stand
 * behind it:
 *  - real UDP sockets on libevent, the scheduler on the monotonic clock
 *    (agents/dgram_sock.c: natbed-agent, natbed-rendezvous);
 *  - a virtual network in virtual time, through the emulator's own NAT,
 *    firewall and link engines (emulator/vnet.c: unit tests, natbed sim).
 * The same state machines run on both.
 *
 * Only the types live here, in libnatbed, so that agents/ (the state
 * machines) and emulator/ (the virtual network) both see them without
 * including each other. The helpers state machines call (dg_open,
 * dg_send, dg_ep_str, ...) are in agents/dgram.h.
 */
#ifndef NATBED_DGRAM_H
#define NATBED_DGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "natbed/clock.h"
#include "natbed/sched.h"

#define DG_MAX 1500 /* the largest datagram an agent sends or takes */

/* A UDP endpoint: IPv4 address and port, both in network order. */
struct dg_ep {
	uint32_t addr;
	uint16_t port;
};

/* A datagram from `from` arrived on socket sock, at time now (the
 * scheduler's). buf is the driver's and valid only during the call. */
typedef void (*dg_recv_fn)(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
			   size_t len, natbed_time_t now);

struct dgram_ops {
	/* Opens a UDP socket bound to *bind (addr 0: any address; port 0:
	 * any port) whose datagrams go to fn(arg, ...). Fills *local with the
	 * address and port it got; for an unspecified address, the host's
	 * own address (what its peers see from it on its segment). Returns a
	 * socket id >= 0, or -errno (-EADDRINUSE, -EMFILE, ...). */
	int (*open)(void *io, const struct dg_ep *bind, struct dg_ep *local, dg_recv_fn fn,
		    void *arg);
	/* Sends buf[0..len) from sock to *to. 0, or -errno (the datagram is
	 * lost, as on a real network: callers retransmit). */
	int (*send)(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len);
	/* Closes sock; its callback is never called again. */
	void (*close)(void *io, int sock);
	/* From now on, sock's datagrams go to fn(arg, ...); fn NULL drops
	 * them. A method leaves the socket of the path it found open,
	 * receiving nothing, for the agent to take over (agents/method.h,
	 * path_sock). 0, or -EBADF. Optional: NULL in a driver that cannot. */
	int (*set_recv)(void *io, int sock, dg_recv_fn fn, void *arg);
};

/* What a state machine holds to reach the world. */
struct dgram {
	const struct dgram_ops *ops;
	void *io;	 /* the driver's own */
	struct sched *s; /* every timer, and the time */
	uint64_t seed;	 /* random draws: rng keyed by what they decide */
};

#endif
