/* emulator/neigh: ARP resolution on the fabric's ports, in virtual time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "arp.h"
#include "neigh.h"

#define T_GW   0x0a000001u /* the address the emulator plays (host order) */
#define T_HOST 0x0a000002u

struct t_ctx {
	struct pkt_pool *pool;
	struct pkt *sent[16];
	size_t n_sent;
	enum drop_reason dropped[8];
	size_t n_dropped;
};

static uint32_t t_addr(void *ctx, int port)
{
	return htonl(T_GW);
}

static bool t_may_learn(void *ctx, int port, uint32_t ip)
{
	return ip == htonl(T_HOST);
}

static bool t_answers(void *ctx, int port, uint32_t spa, uint32_t tpa)
{
	return tpa == htonl(T_GW);
}

static void t_send(void *ctx, struct port *port, struct pkt *p)
{
	struct t_ctx *c = ctx;

	assert_true(c->n_sent < 16);
	c->sent[c->n_sent++] = p;
}

static void t_drop(void *ctx, struct pkt *p, enum drop_reason r)
{
	struct t_ctx *c = ctx;

	c->dropped[c->n_dropped++] = r;
	pkt_put(c->pool, p);
}

static const struct neigh_ops t_ops = {t_addr, t_may_learn, t_answers, t_send, t_drop};

static const struct arp_pkt *t_arp(const struct pkt *p)
{
	return (const struct arp_pkt *)(p->data + ETH_HLEN_);
}

/* An ARP frame from the host, as its kernel would send it. */
static struct pkt *t_from_host(struct pkt_pool *pp, uint16_t op, uint32_t tpa)
{
	static const uint8_t mac[6] = {2, 0, 0, 0, 0, 2};
	struct pkt *p = pkt_get(pp);

	arp_frame(p->data, op, mac, htonl(T_HOST), NULL, htonl(tpa));
	p->len = ARP_FRAME_LEN;
	return p;
}

/* A frame for an unknown hop waits while requests go out; the reply sends
 * it with the hop's MAC, and the request for the gateway is answered. */
static void test_resolve_then_send(void **state)
{
	struct clock_virtual vc = {0};
	struct sched *s = sched_new(clock_virtual_clock(&vc), &vc);
	struct t_ctx c = {.pool = pkt_pool_new(256)};
	struct port port = {.index = 0, .mac = {2, 0, 0, 0, 0, 1}};
	struct neigh_cfg cfg = {&port, 1, s, c.pool, &t_ops, &c};
	struct neigh *nb = neigh_new(&cfg);
	struct pkt *ip = pkt_get(c.pool);
	const struct eth_hdr *eth;

	(void)state;
	assert_non_null(nb);
	ip->len = 60;
	neigh_output(nb, &port, htonl(T_HOST), ip);
	assert_int_equal(c.n_sent, 1); /* the request, not the frame */
	assert_int_equal(ntohs(t_arp(c.sent[0])->op), ARP_OP_REQUEST);
	assert_int_equal(t_arp(c.sent[0])->spa, htonl(T_GW));
	assert_int_equal(t_arp(c.sent[0])->tpa, htonl(T_HOST));
	neigh_input(nb, &port, t_from_host(c.pool, ARP_OP_REQUEST, T_GW));
	assert_int_equal(c.n_sent, 3); /* the frame that waited, then the reply */
	assert_ptr_equal(c.sent[1], ip);
	eth = (const struct eth_hdr *)ip->data;
	assert_int_equal(eth->dst[5], 2);
	assert_int_equal(eth->src[5], 1);
	assert_int_equal(ntohs(t_arp(c.sent[2])->op), ARP_OP_REPLY);
	assert_int_equal(t_arp(c.sent[2])->spa, htonl(T_GW));
	sched_run_until(s, 10 * NATBED_NS_PER_S); /* the retry finds it resolved */
	assert_int_equal(c.n_sent, 3);
	assert_int_equal(c.n_dropped, 0);
	neigh_output(nb, &port, htonl(T_HOST), pkt_get(c.pool));
	assert_int_equal(c.n_sent, 4); /* known now: at once */
	neigh_free(nb);
	sched_free(s);
	pkt_pool_free(c.pool);
}

/* No answer: NEIGH_TRIES requests, NEIGH_RETRY_NS apart, then what waited
 * is dropped as unresolved. */
static void test_unresolved(void **state)
{
	struct clock_virtual vc = {0};
	struct sched *s = sched_new(clock_virtual_clock(&vc), &vc);
	struct t_ctx c = {.pool = pkt_pool_new(256)};
	struct port port = {.index = 0};
	struct neigh_cfg cfg = {&port, 1, s, c.pool, &t_ops, &c};
	struct neigh *nb = neigh_new(&cfg);

	(void)state;
	neigh_output(nb, &port, htonl(T_HOST), pkt_get(c.pool));
	neigh_output(nb, &port, htonl(T_HOST), pkt_get(c.pool));
	assert_int_equal(c.n_sent, 1);
	sched_run_until(s, NEIGH_RETRY_NS);
	assert_int_equal(c.n_sent, 2);
	sched_run_until(s, NEIGH_TRIES * NEIGH_RETRY_NS);
	assert_int_equal(c.n_sent, NEIGH_TRIES);
	assert_int_equal(c.n_dropped, 2);
	assert_int_equal(c.dropped[0], DROP_ARP_UNRESOLVED);
	neigh_free(nb);
	sched_free(s);
	pkt_pool_free(c.pool);
}

/* A frame that is not ARP for IPv4 over Ethernet is dropped, counted
 * under its reason; so is a short one. */
static void test_bad_frames(void **state)
{
	struct clock_virtual vc = {0};
	struct sched *s = sched_new(clock_virtual_clock(&vc), &vc);
	struct t_ctx c = {.pool = pkt_pool_new(256)};
	struct port port = {.index = 0};
	struct neigh_cfg cfg = {&port, 1, s, c.pool, &t_ops, &c};
	struct neigh *nb = neigh_new(&cfg);
	struct pkt *p = t_from_host(c.pool, ARP_OP_REQUEST, T_GW);

	(void)state;
	p->data[ETH_HLEN_ + 4] = 16; /* hlen */
	neigh_input(nb, &port, p);
	p = t_from_host(c.pool, ARP_OP_REQUEST, T_GW);
	p->len = ETH_HLEN_ + 10;
	neigh_input(nb, &port, p);
	assert_int_equal(c.n_dropped, 2);
	assert_int_equal(c.dropped[0], DROP_UNSUPPORTED);
	assert_int_equal(c.dropped[1], DROP_MALFORMED);
	assert_int_equal(c.n_sent, 0);
	neigh_free(nb);
	neigh_free(NULL);
	sched_free(s);
	pkt_pool_free(c.pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resolve_then_send),
	    cmocka_unit_test(test_unresolved),
	    cmocka_unit_test(test_bad_frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
