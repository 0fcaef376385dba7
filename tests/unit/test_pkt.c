/* emulator/pkt: the bounded packet pool and packet copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "pkt.h"

/* A clone has the frame at the same headroom in its own buffer and every
 * field of the original; the pool's bound holds for clones too. */
static void test_clone(void **state)
{
	struct pkt_pool *pp = pkt_pool_new(256);
	struct pkt *p, *q, *held[256];
	size_t i, n = 0;

	(void)state;
	assert_non_null(pp);
	p = pkt_get(pp);
	assert_non_null(p);
	memcpy(p->data, "frame bytes", 11);
	p->len = 11;
	p->in_port = 2;
	p->seg = 3;
	p->hop = 4;
	p->host = 5;
	p->flags = PKT_F_L2_ONLY;
	p->rx_ns = 77;
	p->flow_key = 0x1234;
	p->seq = 9;
	p->ctx = pp;
	q = pkt_clone(pp, p);
	assert_non_null(q);
	assert_ptr_not_equal(q->data, p->data);
	assert_ptr_equal(q->data, q->buf + (p->data - p->buf));
	assert_memory_equal(q->data, "frame bytes", 11);
	assert_int_equal(q->len, 11);
	assert_int_equal(q->in_port, 2);
	assert_int_equal(q->seg, 3);
	assert_int_equal(q->hop, 4);
	assert_int_equal(q->host, 5);
	assert_int_equal(q->flags, PKT_F_L2_ONLY);
	assert_int_equal(q->rx_ns, 77);
	assert_int_equal(q->flow_key, 0x1234);
	assert_int_equal(q->seq, 9);
	assert_ptr_equal(q->ctx, pp);
	assert_null(q->next);
	p->data[0] = 'F'; /* the copy is its own */
	assert_int_equal(q->data[0], 'f');
	assert_int_equal(pkt_pool_in_use(pp), 2);
	while ((held[n] = pkt_get(pp)) != NULL)
		n++;
	assert_null(pkt_clone(pp, p));
	for (i = 0; i < n; i++)
		pkt_put(pp, held[i]);
	pkt_put(pp, q);
	pkt_put(pp, p);
	assert_int_equal(pkt_pool_in_use(pp), 0);
	pkt_pool_free(pp);
}

/* A clone's parsed view points into the clone's own frame, at the same
 * offsets: a step that rewrites the copy never touches the original. */
static void test_clone_view(void **state)
{
	struct pkt_pool *pp = pkt_pool_new(256);
	struct pkt *p, *q;
	struct ipv4_hdr *ip;

	(void)state;
	p = pkt_get(pp);
	assert_non_null(p);
	assert_null(p->view.ip);
	memset(p->data, 0, ETH_HLEN_ + IPV4_MIN_HLEN + UDP_HLEN);
	ip = (struct ipv4_hdr *)(p->data + ETH_HLEN_);
	ip->ver_ihl = 0x45;
	ip->tot_len = htons(IPV4_MIN_HLEN + UDP_HLEN);
	ip->ttl = 64;
	ip->proto = IPPROTO_UDP_;
	ip_csum_set(ip, IPV4_MIN_HLEN);
	p->len = ETH_HLEN_ + IPV4_MIN_HLEN + UDP_HLEN;
	assert_int_equal(ip_view_parse(p->data, p->len, &p->view), 0);
	q = pkt_clone(pp, p);
	assert_non_null(q);
	assert_ptr_equal(q->view.eth, q->data);
	assert_ptr_equal(q->view.ip, q->data + ETH_HLEN_);
	assert_ptr_equal(q->view.l4, q->data + ETH_HLEN_ + IPV4_MIN_HLEN);
	assert_int_equal(q->view.l4_len, UDP_HLEN);
	assert_int_equal(q->view.hlen, IPV4_MIN_HLEN);
	q->view.ip->ttl = 1;
	assert_int_equal(p->view.ip->ttl, 64);
	pkt_put(pp, q);
	pkt_put(pp, p);
	assert_null(pkt_get(pp)->view.ip); /* a reused packet starts unparsed */
	pkt_pool_free(pp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clone),
	    cmocka_unit_test(test_clone_view),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
