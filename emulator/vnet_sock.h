/* natbed virtual network: the UDP sockets of every host, in one table.
 *
 * A socket is (host, address, port): address 0 binds every address of
 * its host. Binding follows Linux without SO_REUSEADDR: a port on an
 * address conflicts with the same port on that address or on any
 * address; on any address, with that port on every address of the host.
 * An ephemeral port is drawn as Linux's udp_lib_get_port() draws one:
 * from a random point of 32768-60999, the first free port on.
 *
 * Memory is fixed at creation: max sockets and a hash of twice as many
 * slots (linear probing, deletion by backward shift), so binding, lookup
 * and closing allocate nothing and never slow down with churn.
 */
#ifndef NATBED_EMU_VNET_SOCK_H
#define NATBED_EMU_VNET_SOCK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/dgram.h"

#define VSOCK_EPHEMERAL_LO 32768 /* Linux's net.ipv4.ip_local_port_range */
#define VSOCK_EPHEMERAL_HI 60999
#define VSOCK_MAX	   (1u << 30)

/* One open socket; addresses and ports in network order. */
struct vsock {
	int host;      /* -1: free */
	uint32_t addr; /* 0: any address of the host */
	uint16_t port;
	dg_recv_fn fn;
	void *arg;
	int next_free;
};

struct vsock_table;

/* A table of at most max sockets (1 to VSOCK_MAX). NULL on ENOMEM or a
 * bad max. */
struct vsock_table *vsock_table_new(size_t max);
/* NULL is safe. */
void vsock_table_free(struct vsock_table *t);

/* The host whose sockets vsock_bind() checks: its index and addresses
 * (network order; addrs[0] is the one a wildcard socket sends from). */
struct vsock_host {
	int index;
	const uint32_t *addrs;
	size_t n_addrs;
};

/* Binds a socket of host h to (addr, port) whose datagrams go to
 * fn(arg, ...). Port 0 takes an ephemeral port; draw (a random 64-bit
 * value, the caller's seeded draw) picks where the search starts.
 * Returns the socket id (>= 0) or -EINVAL (fn NULL), -EADDRNOTAVAIL (addr
 * not the host's), -EMFILE (table full), -EADDRINUSE (port taken, or no
 * ephemeral port free), -ENOMEM (the lookup table could not grow). */
int vsock_bind(struct vsock_table *t, const struct vsock_host *h, uint32_t addr, uint16_t port,
	       uint64_t draw, dg_recv_fn fn, void *arg);

/* The socket a datagram to (addr, port) at host h goes to: the one bound
 * to that address, else one bound to any address; -1 when none. */
int vsock_lookup(const struct vsock_table *t, int h, uint32_t addr, uint16_t port);

/* Socket id when it is open and host h's (h -1: any host's), else NULL.
 * Valid until it is closed. */
const struct vsock *vsock_get(const struct vsock_table *t, int id, int h);

/* Gives open socket id another receiver (fn NULL: its datagrams are
 * dropped and counted as to a closed port). */
void vsock_set_recv(struct vsock_table *t, int id, dg_recv_fn fn, void *arg);

/* Closes socket id; its port is free again. An id that is not open is
 * ignored. */
void vsock_close(struct vsock_table *t, int id);

/* Sockets open now. */
size_t vsock_count(const struct vsock_table *t);

struct ckw;
struct ckr;

/* natbed sim checkpoints (natbed/ckpt.h): every open socket (its id,
 * host, address, port, receiver and its argument) and the order ids are
 * handed out next, {"max": N, "open": [[id, host, "A.B.C.D", port, fn,
 * arg]...], "free": [[first, last]...]} (free ids in runs, in the order
 * vsock_bind takes them). A new reference. */
json_t *vsock_ckpt_save(const struct vsock_table *t, struct ckw *w);

/* Makes t, a table of the same max with no socket open, hold j's: the
 * same ids, the same free order. 0, or -1 (said in r). */
int vsock_ckpt_fill(struct vsock_table *t, const json_t *j, struct ckr *r);

#endif
