#include "vnet_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/ckpt.h"
#include "natbed/jsonck.h"

struct vsock_table {
	struct vsock *socks;
	size_t max;
	size_t open;
	int free_head; /* -1: every socket is open */
	int32_t *hash; /* socket ids by (host, addr, port), -1: empty */
	size_t mask;
};

/* The hash starts small and doubles as sockets open, kept at most half
 * full: natbed sim opens a few hundred sockets at once out of 65,536, and
 * a table sized for the most (512 KB) missed the cache on every lookup. */
#define VSOCK_HASH_MIN 64

static int32_t *vsock_hash_alloc(size_t cap)
{
	int32_t *hash = malloc(cap * sizeof(*hash));

	if (hash)
		memset(hash, 0xff, cap * sizeof(*hash)); /* -1: empty */
	return hash;
}

struct vsock_table *vsock_table_new(size_t max)
{
	struct vsock_table *t;
	size_t i;

	if (max == 0 || max > VSOCK_MAX)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->socks = calloc(max, sizeof(*t->socks));
	t->hash = vsock_hash_alloc(VSOCK_HASH_MIN);
	if (!t->socks || !t->hash) {
		vsock_table_free(t);
		return NULL;
	}
	t->mask = VSOCK_HASH_MIN - 1;
	t->max = max;
	for (i = 0; i < max; i++) {
		t->socks[i].host = -1;
		t->socks[i].next_free = i + 1 < max ? (int)(i + 1) : -1;
	}
	return t;
}

void vsock_table_free(struct vsock_table *t)
{
	if (!t)
		return;
	free(t->socks);
	free(t->hash);
	free(t);
}

static size_t vsock_home(const struct vsock_table *t, int h, uint32_t addr, uint16_t port)
{
	uint64_t x = ((uint64_t)(uint32_t)h << 32 | addr) * 0x9e3779b97f4a7c15ull;

	x ^= (uint64_t)port * 0xc2b2ae3d27d4eb4full;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return (size_t)x & t->mask;
}

/* The socket bound to exactly (h, addr, port), or -1. */
static int vsock_find(const struct vsock_table *t, int h, uint32_t addr, uint16_t port)
{
	size_t i = vsock_home(t, h, addr, port);
	int32_t id;

	while ((id = t->hash[i]) >= 0) {
		const struct vsock *s = &t->socks[id];

		if (s->host == h && s->addr == addr && s->port == port)
			return id;
		i = (i + 1) & t->mask;
	}
	return -1;
}

static void vsock_hash_add(struct vsock_table *t, int id)
{
	const struct vsock *s = &t->socks[id];
	size_t i = vsock_home(t, s->host, s->addr, s->port);

	while (t->hash[i] >= 0)
		i = (i + 1) & t->mask;
	t->hash[i] = id;
}

/* Makes room for one more socket: doubles the hash when it would be more
 * than half full. Returns 0 or -ENOMEM. */
static int vsock_hash_room(struct vsock_table *t)
{
	size_t cap = t->mask + 1, i;
	int32_t *old = t->hash;

	if (2 * (t->open + 1) <= cap)
		return 0;
	if (!(t->hash = vsock_hash_alloc(2 * cap))) {
		t->hash = old;
		return -ENOMEM;
	}
	t->mask = 2 * cap - 1;
	for (i = 0; i < cap; i++)
		if (old[i] >= 0)
			vsock_hash_add(t, old[i]);
	free(old);
	return 0;
}

/* Linear probing's deletion by backward shift (Knuth, TAOCP 6.4,
 * Algorithm R): no tombstones, so lookups never slow down with churn. */
static void vsock_hash_del(struct vsock_table *t, int id)
{
	const struct vsock *s = &t->socks[id];
	size_t i = vsock_home(t, s->host, s->addr, s->port), j, k;

	while (t->hash[i] != id)
		i = (i + 1) & t->mask;
	for (j = i;;) {
		j = (j + 1) & t->mask;
		if (t->hash[j] < 0)
			break;
		s = &t->socks[t->hash[j]];
		k = vsock_home(t, s->host, s->addr, s->port);
		/* the entry at j may fill i unless its home k lies in (i, j] */
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			t->hash[i] = t->hash[j];
			i = j;
		}
	}
	t->hash[i] = -1;
}

static bool vsock_host_owns(const struct vsock_host *h, uint32_t addr)
{
	size_t a;

	for (a = 0; a < h->n_addrs; a++)
		if (h->addrs[a] == addr)
			return true;
	return false;
}

/* Linux's bind conflict without SO_REUSEADDR (see the header). */
static bool vsock_taken(const struct vsock_table *t, const struct vsock_host *h, uint32_t addr,
			uint16_t port)
{
	size_t a;

	if (vsock_find(t, h->index, 0, port) >= 0)
		return true;
	if (addr)
		return vsock_find(t, h->index, addr, port) >= 0;
	for (a = 0; a < h->n_addrs; a++)
		if (vsock_find(t, h->index, h->addrs[a], port) >= 0)
			return true;
	return false;
}

/* Linux's udp_lib_get_port() for port 0: from a random point of the
 * range, the first free port on. 0 when every port is taken. */
static uint16_t vsock_ephemeral(const struct vsock_table *t, const struct vsock_host *h,
				uint32_t addr, uint64_t draw)
{
	const uint32_t n = VSOCK_EPHEMERAL_HI - VSOCK_EPHEMERAL_LO + 1;
	uint32_t first = (uint32_t)(draw % n), i;

	for (i = 0; i < n; i++) {
		uint16_t port = htons((uint16_t)(VSOCK_EPHEMERAL_LO + (first + i) % n));

		if (!vsock_taken(t, h, addr, port))
			return port;
	}
	return 0;
}

int vsock_bind(struct vsock_table *t, const struct vsock_host *h, uint32_t addr, uint16_t port,
	       uint64_t draw, dg_recv_fn fn, void *arg)
{
	struct vsock *s;
	int id;

	if (!fn)
		return -EINVAL;
	if (addr && !vsock_host_owns(h, addr))
		return -EADDRNOTAVAIL;
	if (t->free_head < 0)
		return -EMFILE;
	if (port ? vsock_taken(t, h, addr, port) : !(port = vsock_ephemeral(t, h, addr, draw)))
		return -EADDRINUSE;
	if (vsock_hash_room(t) < 0)
		return -ENOMEM;
	id = t->free_head;
	s = &t->socks[id];
	t->free_head = s->next_free;
	s->host = h->index;
	s->addr = addr;
	s->port = port;
	s->fn = fn;
	s->arg = arg;
	vsock_hash_add(t, id);
	t->open++;
	return id;
}

int vsock_lookup(const struct vsock_table *t, int h, uint32_t addr, uint16_t port)
{
	int id = vsock_find(t, h, addr, port);

	return id >= 0 ? id : vsock_find(t, h, 0, port);
}

const struct vsock *vsock_get(const struct vsock_table *t, int id, int h)
{
	const struct vsock *s;

	if (id < 0 || (size_t)id >= t->max)
		return NULL;
	s = &t->socks[id];
	if (s->host < 0 || (h >= 0 && s->host != h))
		return NULL;
	return s;
}

void vsock_set_recv(struct vsock_table *t, int id, dg_recv_fn fn, void *arg)
{
	if (id < 0 || (size_t)id >= t->max || t->socks[id].host < 0)
		return;
	t->socks[id].fn = fn;
	t->socks[id].arg = arg;
}

void vsock_close(struct vsock_table *t, int id)
{
	struct vsock *s;

	if (!vsock_get(t, id, -1))
		return;
	vsock_hash_del(t, id);
	s = &t->socks[id];
	s->host = -1;
	s->fn = NULL;
	s->arg = NULL;
	s->next_free = t->free_head;
	t->free_head = id;
	t->open--;
}

size_t vsock_count(const struct vsock_table *t)
{
	return t->open;
}

/* --- checkpoints ------------------------------------------------------------ */

#define VSOCK_UNLISTED INT32_MIN /* next_free while a fill has not listed it */

json_t *vsock_ckpt_save(const struct vsock_table *t, struct ckw *w)
{
	json_t *open = json_array(), *runs = json_array();
	int id, first = -1, last = -1;

	for (size_t i = 0; open && i < t->max; i++) {
		const struct vsock *s = &t->socks[i];

		if (s->host >= 0 &&
		    json_array_append_new(open, json_pack("[iioioo]", (int)i, s->host,
							  jsonck_ipv4(s->addr), ntohs(s->port),
							  ckw_fn(w, (ckfn_ptr)s->fn),
							  ckw_ref(w, s->arg))) < 0) {
			json_decref(open);
			open = NULL;
		}
	}
	/* the free list, as runs of consecutive ids */
	for (id = t->free_head; runs && id >= 0; id = t->socks[id].next_free) {
		if (first >= 0 && id == last + 1) {
			last = id;
			continue;
		}
		if (first >= 0 && json_array_append_new(runs, json_pack("[ii]", first, last)) < 0) {
			json_decref(runs);
			runs = NULL;
		}
		first = last = id;
	}
	if (runs && first >= 0 && json_array_append_new(runs, json_pack("[ii]", first, last)) < 0) {
		json_decref(runs);
		runs = NULL;
	}
	if (!open || !runs) {
		json_decref(open);
		json_decref(runs);
		ckw_fail(w, "sockets: out of memory");
		return NULL;
	}
	return json_pack("{s:I,s:o,s:o}", "max", (json_int_t)t->max, "open", open, "free", runs);
}

int vsock_ckpt_fill(struct vsock_table *t, const json_t *j, struct ckr *r)
{
	const json_t *open = json_object_get(j, "open"), *runs = json_object_get(j, "free"), *e;
	json_int_t max, id, host, port, a, b;
	size_t i, n_free = 0;
	int *tail = &t->free_head;

	if (jsonck_int(json_object_get(j, "max"), 1, VSOCK_MAX, &max) < 0 ||
	    (size_t)max != t->max || !json_is_array(open) || !json_is_array(runs))
		return ckr_fail(r, "sockets: not a table of %zu sockets", t->max);
	if (t->open)
		return ckr_fail(r, "sockets: the table is in use");
	json_array_foreach(open, i, e)
	{
		struct vsock *s;
		uint32_t addr;
		ckfn_ptr fn = NULL;

		if (jsonck_int(json_array_get(e, 0), 0, max - 1, &id) < 0 ||
		    jsonck_int(json_array_get(e, 1), 0, INT32_MAX, &host) < 0 ||
		    jsonck_ipv4_read(json_array_get(e, 2), &addr) < 0 ||
		    jsonck_int(json_array_get(e, 3), 1, 65535, &port) < 0 || t->socks[id].host >= 0)
			return ckr_fail(
			    r, "sockets: open[%zu]: not [id, host, address, port, fn, arg]", i);
		s = &t->socks[id];
		s->host = (int)host;
		s->addr = addr;
		s->port = htons((uint16_t)port);
		if (ckr_fn(r, json_array_get(e, 4), &fn) < 0 ||
		    ckr_ref(r, json_array_get(e, 5), &s->arg) < 0)
			return -1;
		s->fn = (dg_recv_fn)fn;
		if (vsock_hash_room(t) < 0)
			return ckr_fail(r, "sockets: out of memory");
		vsock_hash_add(t, (int)id);
		t->open++;
	}
	for (size_t k = 0; k < t->max; k++)
		t->socks[k].next_free = VSOCK_UNLISTED;
	json_array_foreach(runs, i, e)
	{
		if (jsonck_int(json_array_get(e, 0), 0, max - 1, &a) < 0 ||
		    jsonck_int(json_array_get(e, 1), a, max - 1, &b) < 0)
			return ckr_fail(r, "sockets: free[%zu]: not [first, last]", i);
		for (id = a; id <= b; id++) {
			if (t->socks[id].host >= 0 || t->socks[id].next_free != VSOCK_UNLISTED)
				return ckr_fail(r, "sockets: socket %lld open or free twice",
						(long long)id);
			*tail = (int)id;
			t->socks[id].next_free = -1; /* listed: the tail, so far */
			tail = &t->socks[id].next_free;
			n_free++;
		}
	}
	*tail = -1;
	if (n_free + t->open != t->max)
		return ckr_fail(r, "sockets: %zu open and %zu free of %zu", t->open, n_free,
				t->max);
	return 0;
}
