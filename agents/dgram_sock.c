#include "dgram_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DGSOCK_RX_BURST 64 /* datagrams read per wake-up and socket */

struct dgsock_slot {
	struct dgsock *d;
	int fd; /* -1: free */
	struct event *ev;
	dg_recv_fn fn;
	void *arg;
};

struct dgsock {
	struct dgram dg;
	struct event_base *base;
	struct dgsock_slot slots[DGSOCK_MAX];
	int next; /* where the search for a free slot starts */
	struct dgsock_stats st;
};

static void dgsock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dgsock_slot *sl = arg;
	struct dgsock *d = sl->d;
	int id = (int)(sl - d->slots), i;
	uint8_t buf[DG_MAX];

	for (i = 0; i < DGSOCK_RX_BURST && sl->fd >= 0; i++) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
		struct dg_ep ep;

		if (n < 0)
			break; /* EAGAIN, or an ICMP error reported on the socket */
		if (from.sin_family != AF_INET)
			continue;
		ep.addr = from.sin_addr.s_addr;
		ep.port = from.sin_port;
		d->st.rx++;
		if (sl->fn)
			sl->fn(sl->arg, id, &ep, buf, (size_t)n, sched_now(d->dg.s));
	}
}

/* The address the kernel would send from toward the world: for sockets
 * bound to any address, what the host's peers see. */
static uint32_t dgsock_own_addr(void)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)}, me;
	socklen_t len = sizeof(me);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint32_t a = 0;

	/* a connect() on UDP sends nothing: it only picks the route */
	inet_pton(AF_INET, "198.18.0.1", &to.sin_addr);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&me, &len) == 0)
		a = me.sin_addr.s_addr;
	if (fd >= 0)
		close(fd);
	return a;
}

static int dgsock_open(void *io, const struct dg_ep *bind_ep, struct dg_ep *local, dg_recv_fn fn,
		       void *arg)
{
	struct dgsock *d = io;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	struct dgsock_slot *sl = NULL;
	int fd, i, err;

	for (i = 0; i < DGSOCK_MAX && !sl; i++)
		if (d->slots[(d->next + i) % DGSOCK_MAX].fd < 0)
			sl = &d->slots[(d->next + i) % DGSOCK_MAX];
	if (!sl)
		return -EMFILE;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sa.sin_addr.s_addr = bind_ep ? bind_ep->addr : 0;
	sa.sin_port = bind_ep ? bind_ep->port : 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	sl->ev = event_new(d->base, fd, EV_READ | EV_PERSIST, dgsock_read_cb, sl);
	if (!sl->ev || event_add(sl->ev, NULL) < 0) {
		if (sl->ev)
			event_free(sl->ev);
		close(fd);
		return -ENOMEM;
	}
	sl->d = d;
	sl->fd = fd;
	sl->fn = fn;
	sl->arg = arg;
	d->next = (int)(sl - d->slots) + 1;
	local->addr = sa.sin_addr.s_addr ? sa.sin_addr.s_addr : dgsock_own_addr();
	local->port = sa.sin_port;
	return (int)(sl - d->slots);
}

static int dgsock_send(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len)
{
	struct dgsock *d = io;
	struct sockaddr_in sa = {.sin_family = AF_INET};

	if (sock < 0 || sock >= DGSOCK_MAX || d->slots[sock].fd < 0)
		return -EBADF;
	sa.sin_addr.s_addr = to->addr;
	sa.sin_port = to->port;
	if (sendto(d->slots[sock].fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		d->st.tx_errors++;
		return -errno;
	}
	d->st.tx++;
	return 0;
}

static void dgsock_close(void *io, int sock)
{
	struct dgsock *d = io;
	struct dgsock_slot *sl;

	if (sock < 0 || sock >= DGSOCK_MAX || d->slots[sock].fd < 0)
		return;
	sl = &d->slots[sock];
	event_free(sl->ev);
	close(sl->fd);
	sl->ev = NULL;
	sl->fd = -1;
}

static int dgsock_set_recv(void *io, int sock, dg_recv_fn fn, void *arg)
{
	struct dgsock *d = io;

	if (sock < 0 || sock >= DGSOCK_MAX || d->slots[sock].fd < 0)
		return -EBADF;
	d->slots[sock].fn = fn;
	d->slots[sock].arg = arg;
	return 0;
}

static const struct dgram_ops dgsock_ops = {dgsock_open, dgsock_send, dgsock_close,
					    dgsock_set_recv};

struct dgsock *dgsock_new(struct event_base *base, struct sched *s, uint64_t seed)
{
	struct dgsock *d = calloc(1, sizeof(*d));
	int i;

	if (!d)
		return NULL;
	for (i = 0; i < DGSOCK_MAX; i++)
		d->slots[i].fd = -1;
	d->base = base;
	d->dg.ops = &dgsock_ops;
	d->dg.io = d;
	d->dg.s = s;
	d->dg.seed = seed;
	return d;
}

void dgsock_free(struct dgsock *d)
{
	int i;

	if (!d)
		return;
	for (i = 0; i < DGSOCK_MAX; i++)
		dgsock_close(d, i);
	free(d);
}

const struct dgram *dgsock_dgram(struct dgsock *d)
{
	return &d->dg;
}

void dgsock_stats(const struct dgsock *d, struct dgsock_stats *st)
{
	*st = d->st;
}
