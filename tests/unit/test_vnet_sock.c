/* Unit tests of the virtual network's socket table (emulator/vnet_sock.c):
 * Linux's bind conflicts, ephemeral ports, and lookups that stay right
 * through a long seeded churn of binds and closes, checked against a
 * plain list of what is open (the hash's deletion by backward shift is
 * where a table like this goes wrong). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "natbed/rng.h"
#include "vnet_sock.h"

#define HOSTS	4
#define MAX	64 /* a small table: full often, its hash crowded */
#define PORT_LO 1000
#define PORT_N	8
#define CHURN	20000
#define FOREIGN 0x0a0a0a0au

static void nop_fn(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		   natbed_time_t now)
{
	(void)arg, (void)sock, (void)from, (void)buf, (void)len, (void)now;
}

static uint32_t host_addrs[HOSTS][2];

static struct vsock_host host_of(int h)
{
	struct vsock_host vh = {h, host_addrs[h], 2};

	return vh;
}

/* What the model holds: every open socket. */
struct model {
	bool open[MAX];
	int host[MAX];
	uint32_t addr[MAX];
	uint16_t port[MAX];
};

static int model_find(const struct model *m, int h, uint32_t addr, uint16_t port)
{
	int i;

	for (i = 0; i < MAX; i++)
		if (m->open[i] && m->host[i] == h && m->addr[i] == addr && m->port[i] == port)
			return i;
	return -1;
}

static bool model_taken(const struct model *m, int h, uint32_t addr, uint16_t port)
{
	if (model_find(m, h, 0, port) >= 0)
		return true;
	if (addr)
		return model_find(m, h, addr, port) >= 0;
	return model_find(m, h, host_addrs[h][0], port) >= 0 ||
	       model_find(m, h, host_addrs[h][1], port) >= 0;
}

static size_t model_count(const struct model *m)
{
	size_t n = 0;
	int i;

	for (i = 0; i < MAX; i++)
		n += m->open[i];
	return n;
}

static void setup_addrs(void)
{
	int h;

	for (h = 0; h < HOSTS; h++) {
		host_addrs[h][0] = htonl(0xc6336401u + (uint32_t)(2 * h)); /* 198.51.100.x */
		host_addrs[h][1] = htonl(0xc6336402u + (uint32_t)(2 * h));
	}
}

static void test_bind_rules(void **state)
{
	struct vsock_table *t = vsock_table_new(8);
	struct vsock_host h0, h1;
	uint32_t a1, a2;
	int s1, s2, s3;

	(void)state;
	setup_addrs();
	h0 = host_of(0);
	h1 = host_of(1);
	a1 = host_addrs[0][0];
	a2 = host_addrs[0][1];
	assert_non_null(t);
	s1 = vsock_bind(t, &h0, a1, htons(5000), 0, nop_fn, NULL);
	assert_true(s1 >= 0);
	assert_int_equal(vsock_bind(t, &h0, 0, htons(5000), 0, nop_fn, NULL), -EADDRINUSE);
	assert_int_equal(vsock_bind(t, &h0, a1, htons(5000), 0, nop_fn, NULL), -EADDRINUSE);
	s2 = vsock_bind(t, &h0, a2, htons(5000), 0, nop_fn, NULL);
	assert_true(s2 >= 0);
	assert_true(vsock_bind(t, &h1, 0, htons(5000), 0, nop_fn, NULL) >= 0); /* another host */
	s3 = vsock_bind(t, &h0, 0, htons(6000), 0, nop_fn, NULL);
	assert_true(s3 >= 0);
	assert_int_equal(vsock_bind(t, &h0, a2, htons(6000), 0, nop_fn, NULL), -EADDRINUSE);
	assert_int_equal(vsock_bind(t, &h0, FOREIGN, htons(7000), 0, nop_fn, NULL), -EADDRNOTAVAIL);
	assert_int_equal(vsock_bind(t, &h0, 0, htons(7000), 0, NULL, NULL), -EINVAL);
	/* exact address first, then any address */
	assert_int_equal(vsock_lookup(t, 0, a2, htons(5000)), s2);
	assert_int_equal(vsock_lookup(t, 0, a1, htons(6000)), s3);
	assert_int_equal(vsock_lookup(t, 0, a1, htons(6001)), -1);
	assert_null(vsock_get(t, s1, 1)); /* not host 1's */
	assert_non_null(vsock_get(t, s1, 0));
	vsock_close(t, s1);
	assert_null(vsock_get(t, s1, -1));
	assert_int_equal(vsock_lookup(t, 0, a1, htons(5000)), -1);
	vsock_close(t, s1); /* twice: ignored */
	assert_int_equal(vsock_count(t), 3);
	vsock_table_free(t);
	assert_null(vsock_table_new(0));
}

/* Ephemeral ports: in Linux's range, where the draw points when free,
 * the next free one when not. */
static void test_ephemeral(void **state)
{
	struct vsock_table *t = vsock_table_new(4);
	struct vsock_host h0;
	const uint32_t n = VSOCK_EPHEMERAL_HI - VSOCK_EPHEMERAL_LO + 1;
	int a, b, c;

	(void)state;
	setup_addrs();
	h0 = host_of(0);
	a = vsock_bind(t, &h0, 0, 0, 5, nop_fn, NULL);
	assert_int_equal(ntohs(vsock_get(t, a, 0)->port), VSOCK_EPHEMERAL_LO + 5);
	b = vsock_bind(t, &h0, host_addrs[0][1], 0, 5, nop_fn, NULL); /* taken: the next */
	assert_int_equal(ntohs(vsock_get(t, b, 0)->port), VSOCK_EPHEMERAL_LO + 6);
	c = vsock_bind(t, &h0, 0, 0, n - 1 + n, nop_fn, NULL); /* wraps the range */
	assert_int_equal(ntohs(vsock_get(t, c, 0)->port), VSOCK_EPHEMERAL_HI);
	vsock_table_free(t);
}

/* A long seeded churn; after every step the table answers every lookup
 * as the plain list does. */
static void test_churn(void **state)
{
	struct vsock_table *t = vsock_table_new(MAX);
	static struct model m;
	uint64_t i, binds = 0, closes = 0, refused = 0;

	(void)state;
	setup_addrs();
	memset(&m, 0, sizeof(m));
	assert_non_null(t);
	for (i = 0; i < CHURN; i++) {
		uint64_t r = rng_keyed_u64(42, 1, i);
		int h = (int)(r % HOSTS), id;
		unsigned pick = (unsigned)(r >> 8) % 4;
		uint32_t addr = pick == 0 ? 0 : pick == 3 ? FOREIGN : host_addrs[h][pick - 1];
		uint16_t port = (r >> 16) % 5 == 0 ? 0 : htons(PORT_LO + (r >> 24) % PORT_N);
		struct vsock_host vh = host_of(h);

		if ((r >> 40) % 2 == 0) { /* close something open */
			int k = (int)((r >> 44) % MAX);

			if (m.open[k]) {
				vsock_close(t, k);
				m.open[k] = false;
				closes++;
			}
		} else {
			int want = addr == FOREIGN			    ? -EADDRNOTAVAIL
				   : model_count(&m) == MAX		    ? -EMFILE
				   : port && model_taken(&m, h, addr, port) ? -EADDRINUSE
									    : 0;

			id = vsock_bind(t, &vh, addr, port, r >> 32, nop_fn, NULL);
			if (want < 0) {
				assert_int_equal(id, want);
				refused++;
			} else {
				assert_true(id >= 0 && id < MAX);
				assert_false(m.open[id]);
				m.open[id] = true;
				m.host[id] = h;
				m.addr[id] = addr;
				m.port[id] = vsock_get(t, id, h)->port;
				if (!port) {
					uint16_t p = ntohs(m.port[id]);

					assert_in_range(p, VSOCK_EPHEMERAL_LO, VSOCK_EPHEMERAL_HI);
				}
				/* the model had it free */
				m.open[id] = false;
				assert_false(model_taken(&m, h, addr, m.port[id]));
				m.open[id] = true;
				binds++;
			}
		}
		assert_int_equal(vsock_count(t), model_count(&m));
		/* the bind rules never let a port be on an address and on any */
		for (id = 0; id < MAX; id++) {
			if (!m.open[id])
				continue;
			if (m.addr[id]) {
				assert_int_equal(
				    vsock_lookup(t, m.host[id], m.addr[id], m.port[id]), id);
				continue;
			}
			assert_int_equal(
			    vsock_lookup(t, m.host[id], host_addrs[m.host[id]][0], m.port[id]), id);
			assert_int_equal(
			    vsock_lookup(t, m.host[id], host_addrs[m.host[id]][1], m.port[id]), id);
		}
		for (h = 0; h < HOSTS; h++) {
			uint16_t p = htons(PORT_LO + (r >> 52) % PORT_N);
			int exact = model_find(&m, h, host_addrs[h][1], p);
			int any = model_find(&m, h, 0, p);

			assert_int_equal(vsock_lookup(t, h, host_addrs[h][1], p),
					 exact >= 0 ? exact : any);
		}
	}
	print_message("churn: %llu binds, %llu closes, %llu refused\n", (unsigned long long)binds,
		      (unsigned long long)closes, (unsigned long long)refused);
	assert_true(binds > CHURN / 10 && closes > CHURN / 10 && refused > CHURN / 20);
	vsock_table_free(t);
}

/* The lookup hash grows as sockets open (it starts at 64 entries): from
 * one socket to thousands, every open socket is found after each
 * doubling, and closing half of them then opening as many again keeps
 * every lookup right. */
static void test_grow(void **state)
{
	enum { GROW_MAX = 5000, GROW_N = 3000 };
	struct vsock_table *t = vsock_table_new(GROW_MAX);
	struct vsock_host vh;
	int ids[GROW_N], i, k;

	(void)state;
	setup_addrs();
	vh = host_of(1);
	assert_non_null(t);
	for (i = 0; i < GROW_N; i++) {
		uint32_t addr = i % 3 == 0 ? 0 : host_addrs[1][i % 2];

		ids[i] = vsock_bind(t, &vh, addr, htons((uint16_t)(2000 + i)), 0, nop_fn, NULL);
		assert_true(ids[i] >= 0);
		if ((i & (i + 1)) == 0 || i == GROW_N - 1) /* after each power of two */
			for (k = 0; k <= i; k++)
				assert_int_equal(vsock_lookup(t, 1, host_addrs[1][k % 2],
							      htons((uint16_t)(2000 + k))),
						 ids[k]);
	}
	assert_int_equal(vsock_count(t), GROW_N);
	for (i = 0; i < GROW_N; i += 2)
		vsock_close(t, ids[i]);
	for (i = 0; i < GROW_N; i += 2) {
		ids[i] = vsock_bind(t, &vh, host_addrs[1][0], htons((uint16_t)(9000 + i)), 0,
				    nop_fn, NULL);
		assert_true(ids[i] >= 0);
	}
	for (i = 0; i < GROW_N; i++) {
		uint16_t port = htons((uint16_t)(i % 2 ? 2000 + i : 9000 + i));

		assert_int_equal(vsock_lookup(t, 1, host_addrs[1][i % 2], port), ids[i]);
		if (i % 2 == 0) /* closed: no socket answers for the old port */
			assert_int_equal(
			    vsock_lookup(t, 1, host_addrs[1][0], htons((uint16_t)(2000 + i))), -1);
	}
	vsock_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bind_rules),
	    cmocka_unit_test(test_ephemeral),
	    cmocka_unit_test(test_churn),
	    cmocka_unit_test(test_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
