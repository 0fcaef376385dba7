/* The fake network of fakenet.h: a socket table, datagrams in flight as
 * scheduler events. */
#include "fakenet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "dgstund.h"

#define FAKENET_HOSTS	  64
#define FAKENET_SOCKETS	  4096
#define FAKENET_EPHEMERAL 40000 /* first port a port-0 bind gets */
#define FAKENET_STUNDS	  4

struct fakenet;

struct fakehost {
	struct fakenet *n;
	uint32_t addr;
	uint16_t next_port;
	struct dgram dg;
};

struct fakesock {
	bool open;
	struct fakehost *h;
	struct dg_ep ep;
	dg_recv_fn fn;
	void *arg;
};

struct fakepkt {
	struct fakenet *n;
	struct fakepkt *prev, *next; /* in flight (fakenet.flight) */
	struct dg_ep from, to;
	size_t len;
	uint8_t buf[DG_MAX];
};

struct fakenet {
	struct clock_virtual vc;
	struct sched *s;
	natbed_time_t delay;
	uint64_t seed;
	int nhosts;
	struct fakehost hosts[FAKENET_HOSTS];
	struct fakesock socks[FAKENET_SOCKETS];
	fakenet_filter_fn filter;
	void *filter_arg;
	struct fakenet_stats st;
	int nstund;
	struct dgstund *stund[FAKENET_STUNDS];
	struct fakepkt *flight; /* datagrams in flight: freed with the network */
};

struct dg_ep fakenet_ep(const char *ip, uint16_t port)
{
	struct dg_ep e = {0};

	inet_pton(AF_INET, ip, &e.addr);
	e.port = htons(port);
	return e;
}

static struct fakesock *sock_at(struct fakenet *n, const struct dg_ep *to)
{
	for (int i = 0; i < FAKENET_SOCKETS; i++) {
		struct fakesock *k = &n->socks[i];

		if (k->open && k->ep.port == to->port &&
		    (k->ep.addr == to->addr || (k->ep.addr == 0 && k->h->addr == to->addr)))
			return k;
	}
	return NULL;
}

static void deliver(void *arg, natbed_time_t now)
{
	struct fakepkt *p = arg;
	struct fakenet *n = p->n;
	struct fakesock *k = sock_at(n, &p->to);

	if (p->prev)
		p->prev->next = p->next;
	else
		n->flight = p->next;
	if (p->next)
		p->next->prev = p->prev;
	if (k) {
		n->st.delivered++;
		k->fn(k->arg, (int)(k - n->socks), &p->from, p->buf, p->len, now);
	} else {
		n->st.unreachable++;
	}
	free(p);
}

void fakenet_inject(struct fakenet *n, const struct dg_ep *from, const struct dg_ep *to,
		    const void *buf, size_t len)
{
	struct fakepkt *p;

	n->st.sent++;
	if (len > DG_MAX || (n->filter && !n->filter(n->filter_arg, from, to, buf, len))) {
		n->st.dropped++;
		return;
	}
	p = malloc(sizeof(*p));
	if (!p)
		return;
	p->n = n;
	p->prev = NULL;
	p->next = n->flight;
	if (n->flight)
		n->flight->prev = p;
	n->flight = p;
	p->from = *from;
	p->to = *to;
	p->len = len;
	memcpy(p->buf, buf, len);
	sched_after(n->s, n->delay, deliver, p);
}

static int fk_open(void *io, const struct dg_ep *bind, struct dg_ep *local, dg_recv_fn fn,
		   void *arg)
{
	struct fakehost *h = io;
	struct fakenet *n = h->n;
	struct dg_ep ep = {h->addr, bind ? bind->port : 0};
	int i;

	if (bind && bind->addr && bind->addr != h->addr)
		return -EADDRNOTAVAIL;
	if (ep.port == 0)
		do
			ep.port = htons(h->next_port++);
		while (sock_at(n, &ep));
	else if (sock_at(n, &ep))
		return -EADDRINUSE;
	for (i = 0; i < FAKENET_SOCKETS && n->socks[i].open; i++)
		;
	if (i == FAKENET_SOCKETS)
		return -EMFILE;
	n->socks[i] = (struct fakesock){true, h, ep, fn, arg};
	*local = ep;
	return i;
}

static int fk_send(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len)
{
	struct fakehost *h = io;
	struct fakenet *n = h->n;

	if (sock < 0 || sock >= FAKENET_SOCKETS || !n->socks[sock].open || n->socks[sock].h != h)
		return -EBADF;
	fakenet_inject(n, &n->socks[sock].ep, to, buf, len);
	return 0;
}

static void fk_close(void *io, int sock)
{
	struct fakehost *h = io;

	if (sock >= 0 && sock < FAKENET_SOCKETS && h->n->socks[sock].h == h)
		h->n->socks[sock].open = false;
}

static int fk_set_recv(void *io, int sock, dg_recv_fn fn, void *arg)
{
	struct fakehost *h = io;

	if (sock < 0 || sock >= FAKENET_SOCKETS || !h->n->socks[sock].open ||
	    h->n->socks[sock].h != h)
		return -EBADF;
	h->n->socks[sock].fn = fn;
	h->n->socks[sock].arg = arg;
	return 0;
}

static const struct dgram_ops fk_ops = {
    .open = fk_open, .send = fk_send, .close = fk_close, .set_recv = fk_set_recv};

struct fakenet *fakenet_new(natbed_time_t delay_ns, uint64_t seed)
{
	struct fakenet *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->s = sched_new(clock_virtual_clock(&n->vc), &n->vc);
	if (!n->s) {
		free(n);
		return NULL;
	}
	n->delay = delay_ns;
	n->seed = seed;
	return n;
}

void fakenet_free(struct fakenet *n)
{
	if (!n)
		return;
	for (int i = 0; i < n->nstund; i++)
		dgstund_free(n->stund[i]);
	sched_free(n->s); /* datagrams in flight are lost with it */
	while (n->flight) {
		struct fakepkt *p = n->flight;

		n->flight = p->next;
		free(p);
	}
	free(n);
}

struct sched *fakenet_sched(struct fakenet *n)
{
	return n->s;
}

const struct dgram *fakenet_host(struct fakenet *n, const char *ip)
{
	struct fakehost *h;

	if (n->nhosts == FAKENET_HOSTS)
		return NULL;
	h = &n->hosts[n->nhosts++];
	h->n = n;
	inet_pton(AF_INET, ip, &h->addr);
	h->next_port = FAKENET_EPHEMERAL;
	h->dg = (struct dgram){&fk_ops, h, n->s, n->seed + (uint64_t)n->nhosts};
	return &h->dg;
}

void fakenet_set_filter(struct fakenet *n, fakenet_filter_fn fn, void *arg)
{
	n->filter = fn;
	n->filter_arg = arg;
}

void fakenet_run_until(struct fakenet *n, natbed_time_t t)
{
	sched_run_until(n->s, t);
}

void fakenet_run_for(struct fakenet *n, natbed_time_t d)
{
	sched_run_until(n->s, sched_now(n->s) + d);
}

void fakenet_stats(const struct fakenet *n, struct fakenet_stats *st)
{
	*st = n->st;
}

int fakenet_stund(struct fakenet *n, const char *ip, uint16_t port)
{
	struct dg_ep ep = fakenet_ep(ip, port);
	const struct dgram *d;

	if (n->nstund == FAKENET_STUNDS)
		return -ENOSPC;
	d = fakenet_host(n, ip);
	if (!d)
		return -ENOSPC;
	n->stund[n->nstund] = dgstund_new(d, ep.addr, 0, ep.port);
	return n->stund[n->nstund++] ? 0 : -ENOMEM;
}
