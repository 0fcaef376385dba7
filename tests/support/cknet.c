/* The checkpointable fake network of cknet.h. */
#include "cknet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckget.h"
#include "ckround.h"
#include "dgstund.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"

#define CKNET_HOSTS	64
#define CKNET_SOCKETS	4096
#define CKNET_EPHEMERAL 40000 /* first port a port-0 bind gets */
#define CKNET_LOG_MAX	(1u << 20)
#define CKNET_STUNDS	4

struct cknet;

struct ckhost {
	struct cknet *n;
	uint32_t addr, alt; /* alt: a second address, 0 when none */
	uint16_t next_port;
	struct dgram dg;
};

struct cksock {
	bool open;
	int host;
	struct dg_ep ep;
	dg_recv_fn fn;
	void *arg;
};

struct ckpkt {
	struct cknet *n;
	struct ckpkt *prev, *next;
	struct dg_ep from, to;
	size_t len;
	uint8_t buf[DG_MAX];
};

struct cknet {
	struct clock_virtual vc;
	struct sched *s;
	natbed_time_t delay;
	uint64_t seed;
	int nhosts;
	struct ckhost hosts[CKNET_HOSTS];
	struct cksock socks[CKNET_SOCKETS];
	struct ckpkt *flight; /* datagrams in flight: freed with the network */
	cknet_filter_fn filter;
	void *filter_arg;
	struct cknet_stats st;
	int nstund;
	struct dgstund *stund[CKNET_STUNDS];
	char *log;
	size_t log_len;
};

struct dg_ep cknet_ep(const char *ip, uint16_t port)
{
	struct dg_ep e = {0};

	inet_pton(AF_INET, ip, &e.addr);
	e.port = htons(port);
	return e;
}

static struct cksock *sock_at(struct cknet *n, const struct dg_ep *to)
{
	for (int i = 0; i < CKNET_SOCKETS; i++) {
		struct cksock *k = &n->socks[i];

		if (k->open && k->ep.port == to->port &&
		    (k->ep.addr == to->addr ||
		     (k->ep.addr == 0 && (n->hosts[k->host].addr == to->addr ||
					  (to->addr && n->hosts[k->host].alt == to->addr)))))
			return k;
	}
	return NULL;
}

static void log_line(struct cknet *n, const struct ckpkt *p, natbed_time_t now, bool reached)
{
	char a[DG_EP_STR], b[DG_EP_STR];
	uint64_t h = 0xcbf29ce484222325ull;
	int k;

	for (size_t i = 0; i < p->len; i++)
		h = (h ^ p->buf[i]) * 0x100000001b3ull;
	if (n->log_len + 128 > CKNET_LOG_MAX)
		return;
	k = snprintf(n->log + n->log_len, CKNET_LOG_MAX - n->log_len,
		     "%" PRId64 " %s>%s %zu %016" PRIx64 "%s\n", (int64_t)now,
		     dg_ep_str(&p->from, a), dg_ep_str(&p->to, b), p->len, h,
		     reached ? "" : " unreachable");
	if (k > 0)
		n->log_len += (size_t)k;
}

static void flight_add(struct cknet *n, struct ckpkt *p)
{
	p->n = n;
	p->prev = NULL;
	p->next = n->flight;
	if (n->flight)
		n->flight->prev = p;
	n->flight = p;
}

static void cknet_deliver(void *arg, natbed_time_t now)
{
	struct ckpkt *p = arg;
	struct cknet *n = p->n;
	struct cksock *k = sock_at(n, &p->to);

	if (p->prev)
		p->prev->next = p->next;
	else
		n->flight = p->next;
	if (p->next)
		p->next->prev = p->prev;
	log_line(n, p, now, k && k->fn);
	if (k && k->fn) {
		n->st.delivered++;
		k->fn(k->arg, (int)(k - n->socks), &p->from, p->buf, p->len, now);
	} else {
		n->st.unreachable++;
	}
	free(p);
}

void cknet_inject(struct cknet *n, const struct dg_ep *from, const struct dg_ep *to,
		  const void *buf, size_t len)
{
	struct ckpkt *p;

	n->st.sent++;
	if (len > DG_MAX || (n->filter && !n->filter(n->filter_arg, from, to, buf, len))) {
		n->st.dropped++;
		return;
	}
	if (!(p = malloc(sizeof(*p))))
		return;
	flight_add(n, p);
	p->from = *from;
	p->to = *to;
	p->len = len;
	memcpy(p->buf, buf, len);
	sched_after(n->s, n->delay, cknet_deliver, p);
}

static int ck_open(void *io, const struct dg_ep *bind, struct dg_ep *local, dg_recv_fn fn,
		   void *arg)
{
	struct ckhost *h = io;
	struct cknet *n = h->n;
	struct dg_ep ep = {bind && bind->addr ? bind->addr : h->addr, bind ? bind->port : 0};
	int i;

	if (bind && bind->addr && bind->addr != h->addr && bind->addr != h->alt)
		return -EADDRNOTAVAIL;
	if (ep.port == 0)
		do
			ep.port = htons(h->next_port++);
		while (sock_at(n, &ep));
	else if (sock_at(n, &ep))
		return -EADDRINUSE;
	for (i = 0; i < CKNET_SOCKETS && n->socks[i].open; i++)
		;
	if (i == CKNET_SOCKETS)
		return -EMFILE;
	n->socks[i] = (struct cksock){true, (int)(h - n->hosts), ep, fn, arg};
	*local = ep;
	return i;
}

static struct cksock *own_sock(struct ckhost *h, int sock)
{
	struct cknet *n = h->n;

	if (sock < 0 || sock >= CKNET_SOCKETS || !n->socks[sock].open ||
	    &n->hosts[n->socks[sock].host] != h)
		return NULL;
	return &n->socks[sock];
}

static int ck_send(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len)
{
	struct ckhost *h = io;
	struct cksock *k = own_sock(h, sock);

	if (!k)
		return -EBADF;
	cknet_inject(h->n, &k->ep, to, buf, len);
	return 0;
}

static void ck_close(void *io, int sock)
{
	struct cksock *k = own_sock(io, sock);

	if (k)
		*k = (struct cksock){0};
}

static int ck_set_recv(void *io, int sock, dg_recv_fn fn, void *arg)
{
	struct cksock *k = own_sock(io, sock);

	if (!k)
		return -EBADF;
	k->fn = fn;
	k->arg = arg;
	return 0;
}

static const struct dgram_ops ck_ops = {
    .open = ck_open, .send = ck_send, .close = ck_close, .set_recv = ck_set_recv};

static struct cknet *cknet_at(natbed_time_t now, natbed_time_t delay, uint64_t seed)
{
	struct cknet *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->vc.now_ns = now;
	n->s = sched_new(clock_virtual_clock(&n->vc), &n->vc);
	n->log = calloc(1, CKNET_LOG_MAX);
	if (!n->s || !n->log) {
		cknet_free(n);
		return NULL;
	}
	n->delay = delay;
	n->seed = seed;
	return n;
}

struct cknet *cknet_new(natbed_time_t delay_ns, uint64_t seed)
{
	return cknet_at(0, delay_ns, seed);
}

void cknet_free(struct cknet *n)
{
	if (!n)
		return;
	for (int i = 0; i < n->nstund; i++)
		dgstund_free(n->stund[i]);
	sched_free(n->s); /* datagrams in flight are lost with it */
	while (n->flight) {
		struct ckpkt *p = n->flight;

		n->flight = p->next;
		free(p);
	}
	free(n->log);
	free(n);
}

struct sched *cknet_sched(struct cknet *n)
{
	return n->s;
}

static struct ckhost *host_init(struct cknet *n, uint32_t addr)
{
	struct ckhost *h;

	if (n->nhosts == CKNET_HOSTS)
		return NULL;
	h = &n->hosts[n->nhosts++];
	h->n = n;
	h->addr = addr;
	h->next_port = CKNET_EPHEMERAL;
	h->dg = (struct dgram){&ck_ops, h, n->s, n->seed + (uint64_t)n->nhosts};
	return h;
}

const struct dgram *cknet_host(struct cknet *n, const char *ip)
{
	return cknet_host2(n, ip, NULL);
}

const struct dgram *cknet_host2(struct cknet *n, const char *ip, const char *alt)
{
	uint32_t addr = 0, alt_addr = 0;
	struct ckhost *h;

	inet_pton(AF_INET, ip, &addr);
	if (alt)
		inet_pton(AF_INET, alt, &alt_addr);
	h = host_init(n, addr);
	if (h)
		h->alt = alt_addr;
	return h ? &h->dg : NULL;
}

void cknet_run_until(struct cknet *n, natbed_time_t t)
{
	sched_run_until(n->s, t);
}

void cknet_run_for(struct cknet *n, natbed_time_t d)
{
	sched_run_until(n->s, sched_now(n->s) + d);
}

void cknet_set_filter(struct cknet *n, cknet_filter_fn fn, void *arg)
{
	n->filter = fn;
	n->filter_arg = arg;
}

void cknet_stats(const struct cknet *n, struct cknet_stats *st)
{
	*st = n->st;
}

int cknet_stund(struct cknet *n, const char *ip, uint16_t port)
{
	return cknet_stund2(n, ip, NULL, port);
}

int cknet_stund2(struct cknet *n, const char *ip, const char *alt, uint16_t port)
{
	struct dg_ep ep = cknet_ep(ip, port);
	const struct dgram *d;

	if (n->nstund == CKNET_STUNDS)
		return -ENOSPC;
	d = cknet_host2(n, ip, alt);
	if (!d)
		return -ENOSPC;
	n->stund[n->nstund] = dgstund_new(d, ep.addr, alt ? cknet_ep(alt, 0).addr : 0, ep.port);
	return n->stund[n->nstund++] ? 0 : -ENOMEM;
}

const char *cknet_log(const struct cknet *n)
{
	return n->log;
}

void cknet_log_clear(struct cknet *n)
{
	n->log_len = 0;
	n->log[0] = 0;
}

/* --- checkpoints --------------------------------------------------------- */

static json_t *pkt_save(struct ckw *w, const void *arg)
{
	const struct ckpkt *p = arg;

	return json_pack("{s:o,s:o,s:o,s:o}", "net", ckw_ref(w, p->n), "from",
			 dg_ep_ckpt_save(&p->from, w), "to", dg_ep_ckpt_save(&p->to, w), "data",
			 ckw_bytes(w, p->buf, p->len));
}

static void *pkt_load(struct ckr *r, const json_t *j)
{
	struct cknet *n = ckr_get(r, json_object_get(j, "net"));
	const json_t *data = json_object_get(j, "data");
	struct ckpkt *p;

	if (!n || !json_is_string(data) || json_string_length(data) > 2 * DG_MAX) {
		ckr_fail(r, "cknet: a datagram in flight");
		return NULL;
	}
	if (!(p = calloc(1, sizeof(*p)))) {
		ckr_fail(r, "cknet: out of memory");
		return NULL;
	}
	p->len = json_string_length(data) / 2;
	if (dg_ep_ckpt_fill(&p->from, json_object_get(j, "from"), r) < 0 ||
	    dg_ep_ckpt_fill(&p->to, json_object_get(j, "to"), r) < 0 ||
	    ckr_bytes(r, data, p->buf, p->len) < 0) {
		free(p);
		return NULL;
	}
	flight_add(n, p);
	return p;
}

static const struct ckfn cknet_fns[] = {CKFN_ARG(cknet_deliver, pkt_save, pkt_load)};
const struct ckfns cknet_ckfns = CKFNS(cknet, cknet_fns);

json_t *cknet_ckpt_save(const struct cknet *n, struct ckw *w)
{
	json_t *hosts = json_array(), *socks = json_array(), *stunds = json_array();

	for (int i = 0; i < n->nstund; i++)
		ckget_push(w, stunds, dgstund_ckpt_save(n->stund[i], w), "cknet: a STUN server");
	for (int i = 0; i < n->nhosts; i++) {
		const struct ckhost *h = &n->hosts[i];

		json_array_append_new(hosts,
				      json_pack("{s:o,s:o,s:o,s:i}", "dg", ckw_obj(w, &h->dg),
						"addr", jsonck_ipv4(h->addr), "alt",
						jsonck_ipv4(h->alt), "next_port", h->next_port));
	}
	for (int i = 0; i < CKNET_SOCKETS; i++) {
		const struct cksock *k = &n->socks[i];

		if (k->open)
			json_array_append_new(socks,
					      json_pack("{s:i,s:i,s:o,s:o,s:o}", "sock", i, "host",
							k->host, "ep", dg_ep_ckpt_save(&k->ep, w),
							"fn", ckw_fn(w, (ckfn_ptr)k->fn), "arg",
							ckw_ref(w, k->arg)));
	}
	return json_pack("{s:o,s:o,s:I,s:I,s:o,s:o,s:o,s:o,s:o}", "id", ckw_obj(w, n), "sched",
			 ckw_obj(w, n->s), "at", (json_int_t)sched_now(n->s), "delay",
			 (json_int_t)n->delay, "seed", jsonck_u64(n->seed, true), "hosts", hosts,
			 "socks", socks, "stunds", stunds, "stats",
			 ckw_bytes(w, &n->st, sizeof(n->st)));
}

struct cknet *cknet_ckpt_load(const json_t *j, struct ckr *r)
{
	json_int_t at = json_integer_value(json_object_get(j, "at"));
	json_int_t delay = json_integer_value(json_object_get(j, "delay"));
	const json_t *hosts = json_object_get(j, "hosts"), *socks = json_object_get(j, "socks"), *e;
	const json_t *stunds = json_object_get(j, "stunds");
	uint64_t seed;
	struct cknet *n;
	size_t i;

	if (jsonck_u64_read(json_object_get(j, "seed"), true, &seed) < 0 || !json_is_array(hosts) ||
	    json_array_size(hosts) > CKNET_HOSTS || !json_is_array(socks) ||
	    !json_is_array(stunds) || json_array_size(stunds) > CKNET_STUNDS) {
		ckr_fail(r, "cknet: not a network");
		return NULL;
	}
	if (!(n = cknet_at(at, delay, seed))) {
		ckr_fail(r, "cknet: out of memory");
		return NULL;
	}
	ckr_obj(r, json_object_get(j, "id"), n);
	ckr_obj(r, json_object_get(j, "sched"), n->s);
	json_array_foreach(hosts, i, e)
	{
		uint32_t addr = 0, alt = 0;
		json_int_t port = 0;
		struct ckhost *h;

		jsonck_ipv4_read(json_object_get(e, "addr"), &addr);
		jsonck_ipv4_read(json_object_get(e, "alt"), &alt);
		jsonck_int(json_object_get(e, "next_port"), 0, 65535, &port);
		h = host_init(n, addr);
		h->alt = alt;
		h->next_port = (uint16_t)port;
		ckr_obj(r, json_object_get(e, "dg"), &h->dg);
	}
	json_array_foreach(socks, i, e)
	{
		json_int_t sock, host;
		struct cksock *k;
		ckfn_ptr fn = NULL;

		if (jsonck_int(json_object_get(e, "sock"), 0, CKNET_SOCKETS - 1, &sock) < 0 ||
		    jsonck_int(json_object_get(e, "host"), 0, n->nhosts - 1, &host) < 0) {
			ckr_fail(r, "cknet: socks[%zu]: not a socket", i);
			break;
		}
		k = &n->socks[sock];
		k->open = true;
		k->host = (int)host;
		dg_ep_ckpt_fill(&k->ep, json_object_get(e, "ep"), r);
		ckr_fn(r, json_object_get(e, "fn"), &fn);
		k->fn = (dg_recv_fn)fn;
		ckr_ref(r, json_object_get(e, "arg"), &k->arg);
	}
	ckr_bytes(r, json_object_get(j, "stats"), &n->st, sizeof(n->st));
	json_array_foreach(stunds, i, e)
	{
		if (!(n->stund[i] = dgstund_ckpt_load(e, r)))
			break;
		n->nstund++;
	}
	return n;
}

/* A world on a network: {"net": the network, "parts": the test's}. */
struct networld {
	struct cknet *n;
	struct sched *s;
	cknet_save_fn save;
	cknet_load_fn load;
	void *ctx;
};

static json_t *networld_save(struct ckw *w, void *arg)
{
	struct networld *nw = arg;

	return json_pack("{s:o*,s:o*}", "net", cknet_ckpt_save(nw->n, w), "parts",
			 nw->save(w, nw->ctx));
}

static int networld_load(struct ckr *r, const json_t *j, void *arg)
{
	struct networld *nw = arg;

	if (!(nw->n = cknet_ckpt_load(json_object_get(j, "net"), r)))
		return -1;
	nw->s = nw->n->s;
	return nw->load(r, json_object_get(j, "parts"), nw->ctx);
}

json_t *cknet_world_save(const struct cknet *n, const struct ckfns *const *tables, size_t nt,
			 cknet_save_fn save, void *ctx, char *err, size_t errlen)
{
	struct networld nw = {(struct cknet *)n, n->s, save, NULL, ctx};

	return ckround_save(n->s, tables, nt, networld_save, &nw, err, errlen);
}

struct cknet *cknet_world_load(const json_t *j, const struct ckfns *const *tables, size_t nt,
			       cknet_load_fn load, void *ctx, char *err, size_t errlen)
{
	struct networld nw = {NULL, NULL, NULL, load, ctx};

	if (ckround_load(j, &nw.s, tables, nt, networld_load, &nw, err, errlen) < 0) {
		cknet_free(nw.n); /* the parts are the caller's */
		return NULL;
	}
	return nw.n;
}

struct cknet *cknet_world_reload(const json_t *j, const struct ckfns *const *tables, size_t nt,
				 cknet_save_fn save, cknet_load_fn load, void *ctx, char *err,
				 size_t errlen)
{
	struct networld nw = {NULL, NULL, save, load, ctx};

	if (ckround_again(j, &nw.s, tables, nt, networld_save, networld_load, &nw, err, errlen) <
	    0) {
		if (!strncmp(err, "load: ", 6)) {
			cknet_free(nw.n);
			return NULL;
		}
	}
	return nw.n; /* the caller frees it with the parts */
}

const json_t *cknet_world_parts(const json_t *j)
{
	return json_object_get(ckround_parts(j), "parts");
}
