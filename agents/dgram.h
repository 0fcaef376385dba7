/* natbed agents: the datagram interface, all a traversal method, the NAT
 * discovery or the cascade may do to the world.
 *
 * Open a UDP socket, send from it, be told when a datagram arrives on it;
 * every timer goes on the scheduler the interface carries. No method reads
 * a clock, sleeps or touches a real socket. Two kinds of driver stand
 * behind it:
 *  - real UDP sockets on libevent, the scheduler on the monotonic clock
 *    (dgram_sock.c: natbed-agent, natbed-rendezvous);
 *  - a virtual network in virtual time, through the emulator's own NAT
 *    engines (emulator/vnet.c: unit tests, natbed sim).
 * The same state machines run on both.
 */
#ifndef NATBED_AGENTS_DGRAM_H
#define NATBED_AGENTS_DGRAM_H

#include <errno.h>
#include <stdbool.h>
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
	/* From now on, sock's datagrams go to fn(arg, ...): the socket of a
	 * path a method found passes to whoever uses the path after the
	 * method stops (agents/probe.h). 0, or -EBADF. */
	int (*set_recv)(void *io, int sock, dg_recv_fn fn, void *arg);
};

/* What a state machine holds to reach the world. */
struct dgram {
	const struct dgram_ops *ops;
	void *io;	 /* the driver's own */
	struct sched *s; /* every timer, and the time */
	uint64_t seed;	 /* random draws: rng keyed by what they decide */
};

static inline int dg_open(const struct dgram *d, const struct dg_ep *bind, struct dg_ep *local,
			  dg_recv_fn fn, void *arg)
{
	return d->ops->open(d->io, bind, local, fn, arg);
}

static inline int dg_send(const struct dgram *d, int sock, const struct dg_ep *to, const void *buf,
			  size_t len)
{
	return d->ops->send(d->io, sock, to, buf, len);
}

static inline void dg_close(const struct dgram *d, int sock)
{
	if (sock >= 0)
		d->ops->close(d->io, sock);
}

/* -EOPNOTSUPP when the driver cannot redirect a socket. */
static inline int dg_set_recv(const struct dgram *d, int sock, dg_recv_fn fn, void *arg)
{
	return d->ops->set_recv ? d->ops->set_recv(d->io, sock, fn, arg) : -EOPNOTSUPP;
}

static inline natbed_time_t dg_now(const struct dgram *d)
{
	return sched_now(d->s);
}

static inline bool dg_ep_eq(const struct dg_ep *a, const struct dg_ep *b)
{
	return a->addr == b->addr && a->port == b->port;
}

#define DG_EP_STR 22 /* "255.255.255.255:65535" */

/* "A.B.C.D:PORT" into buf[DG_EP_STR]; returns buf. */
const char *dg_ep_str(const struct dg_ep *ep, char buf[DG_EP_STR]);

/* Parses "A.B.C.D[:PORT]" (port default_port when absent). 0 or -1. */
int dg_ep_parse(const char *s, uint16_t default_port, struct dg_ep *ep);

#endif
