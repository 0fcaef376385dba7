/* natbed agents: the datagram interface's helpers. The interface itself
 * (struct dgram, its ops, struct dg_ep) is include/natbed/dgram.h, shared
 * with the virtual network (emulator/vnet.h); state machines include this
 * file and call these helpers.
 */
#ifndef NATBED_AGENTS_DGRAM_H
#define NATBED_AGENTS_DGRAM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "natbed/clock.h"
#include "natbed/dgram.h"
#include "natbed/sched.h"

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

struct sockaddr_in;
struct stun_msg;

/* ep as the STUN codec's address writers take it. */
void dg_ep_sockaddr(const struct dg_ep *ep, struct sockaddr_in *sa);

/* The first address attribute of type in m (XOR types un-XORed, as
 * stun_msg_get_addr() does) as an endpoint. 0, or -1 when it is absent,
 * malformed or not IPv4. */
int dg_ep_of_stun(const struct stun_msg *m, uint16_t type, struct dg_ep *ep);

struct ckw;
struct ckr;

/* natbed sim checkpoints (natbed/ckpt.h): ep (embedded everywhere) as
 * ["A.B.C.D", port], a new reference (NULL on ENOMEM), and back into
 * *ep: 0, or -1 with the problem recorded in r. */
json_t *dg_ep_ckpt_save(const struct dg_ep *ep, struct ckw *w);
int dg_ep_ckpt_fill(struct dg_ep *ep, const json_t *j, struct ckr *r);
/* What dg_ep_ckpt_save() wrote, into *ep: 0, or -1 (nothing recorded:
 * for a reader that names the field, ckget_ep()). */
int dg_ep_of_json(const json_t *j, struct dg_ep *ep);

#endif
