/* Unit tests for emulator/pcp.c and the NAT's granted mappings: PCP (RFC
 * 6887) MAP, renewal, deletion, nonces, the epoch, every result code the
 * server gives; NAT-PMP (RFC 6886) address and map requests, deletion, its
 * result codes. Requests are built here byte by byte from the RFCs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "nat.h"
#include "natbed/clock.h"
#include "natbed/sched.h"
#include "pcp.h"

#define S NATBED_NS_PER_S

struct fx {
	struct clock_virtual vc;
	struct sched *s;
	struct nat *n;
	struct pcp_counters c;
	uint8_t out[PCP_MSG_MAX];
};

static uint32_t a4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static struct fx *fx_new(enum topo_nat_map mapping, enum topo_nat_map filtering, uint32_t pool)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct nat_cfg c = {0};

	assert_non_null(f);
	snprintf(c.name, sizeof(c.name), "home");
	c.b = (struct topo_nat_behaviour){.mapping = mapping,
					  .filtering = filtering,
					  .ports = TOPO_PORTS_PRESERVE,
					  .port_lo = 1024,
					  .port_hi = 65535,
					  .timeout_ns = 120 * S,
					  .stride = 1,
					  .pool = pool,
					  .pcp = true};
	c.tcp_established_ns = 7440 * S;
	c.tcp_transitory_ns = 240 * S;
	c.icmp_timeout_ns = 60 * S;
	c.publics[0] = a4("203.0.113.1");
	c.n_public = 1;
	c.inside_net = a4("192.168.1.0");
	c.inside_mask = htonl(0xffffff00u);
	f->s = sched_new(clock_virtual_clock(&f->vc), &f->vc);
	f->n = nat_new(&c, f->s);
	assert_non_null(f->n);
	return f;
}

static void fx_free(struct fx *f)
{
	nat_free(f->n);
	sched_free(f->s);
	free(f);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* A PCP MAP request (RFC 6887 §7.1, §11.1) from client for proto,
 * internal port, suggested port, lifetime, nonce byte. 60 bytes. */
static size_t pcp_map_req(uint8_t *b, const char *client, uint8_t proto, uint16_t in_port,
			  uint16_t want, uint32_t lifetime, uint8_t nonce)
{
	uint32_t a = a4(client);

	memset(b, 0, 60);
	b[0] = 2;
	b[1] = 1; /* MAP */
	b[4] = (uint8_t)(lifetime >> 24);
	b[5] = (uint8_t)(lifetime >> 16);
	b[6] = (uint8_t)(lifetime >> 8);
	b[7] = (uint8_t)lifetime;
	b[18] = b[19] = 0xff;
	memcpy(b + 20, &a, 4);
	memset(b + 24, nonce, 12);
	b[36] = proto;
	b[40] = (uint8_t)(in_port >> 8);
	b[41] = (uint8_t)in_port;
	b[42] = (uint8_t)(want >> 8);
	b[43] = (uint8_t)want;
	return 60;
}

static size_t ask(struct fx *f, const uint8_t *req, size_t len, const char *src)
{
	return pcp_answer(f->n, &f->c, req, len, a4(src), sched_now(f->s), f->out, sizeof(f->out));
}

/* The result code of a PCP answer of length n (checks R and version). */
static int pcp_result(const struct fx *f, size_t n)
{
	assert_true(n >= 24 && n % 4 == 0);
	assert_int_equal(f->out[0], 2);
	assert_true(f->out[1] & 0x80);
	return f->out[3];
}

static void test_pcp_map(void **state)
{
	struct fx *f = fx_new(TOPO_MAP_APDM, TOPO_MAP_APDM, 0);
	uint8_t req[64];
	size_t n;
	json_t *j;

	n = ask(f, req, pcp_map_req(req, "192.168.1.10", 17, 4000, 4000, 600, 7), "192.168.1.10");
	assert_int_equal(n, 60);
	assert_int_equal(pcp_result(f, n), PCP_SUCCESS);
	assert_int_equal(get32(f->out + 4), 600);
	assert_int_equal(get16(f->out + 42), 4000);		 /* the suggested port, free */
	assert_memory_equal(f->out + 56, "\xcb\x00\x71\x01", 4); /* 203.0.113.1 */
	assert_memory_equal(f->out + 24, req + 24, 12);		 /* the nonce comes back */
	j = nat_mappings_json(f->n, sched_now(f->s));
	assert_int_equal(json_array_size(j), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "granted")),
			    "pcp");
	json_decref(j);
	/* renewal with the same nonce: the same port, the new lifetime */
	sched_run_until(f->s, 100 * S);
	n = ask(f, req, pcp_map_req(req, "192.168.1.10", 17, 4000, 0, 1200, 7), "192.168.1.10");
	assert_int_equal(pcp_result(f, n), PCP_SUCCESS);
	assert_int_equal(get16(f->out + 42), 4000);
	assert_int_equal(get32(f->out + 4), 1200);
	assert_int_equal(get32(f->out + 8), 100); /* epoch seconds */
	/* another nonce: not this client's */
	n = ask(f, req, pcp_map_req(req, "192.168.1.10", 17, 4000, 0, 600, 9), "192.168.1.10");
	assert_int_equal(pcp_result(f, n), PCP_NOT_AUTHORIZED);
	/* it lives its lifetime, not the NAT's 120 s */
	sched_run_until(f->s, 1299 * S);
	assert_int_equal(nat_counters(f->n)->mappings_active, 1);
	sched_run_until(f->s, 1301 * S);
	assert_int_equal(nat_counters(f->n)->mappings_active, 0);
	fx_free(f);
}

static void test_pcp_delete_and_epoch(void **state)
{
	struct fx *f = fx_new(TOPO_MAP_EIM, TOPO_MAP_APDM, 0);
	uint8_t req[64];
	size_t n;

	n = ask(f, req, pcp_map_req(req, "192.168.1.10", 6, 80, 8080, 600, 1), "192.168.1.10");
	assert_int_equal(pcp_result(f, n), PCP_SUCCESS);
	assert_int_equal(get16(f->out + 42), 8080);
	n = ask(f, req, pcp_map_req(req, "192.168.1.10", 6, 80, 0, 0, 2), "192.168.1.10");
	assert_int_equal(pcp_result(f, n), PCP_NOT_AUTHORIZED); /* wrong nonce */
	n = ask(f, req, pcp_map_req(req, "192.168.1.10", 6, 80, 0, 0, 1), "192.168.1.10");
	assert_int_equal(pcp_result(f, n), PCP_SUCCESS);
	assert_int_equal(get32(f->out + 4), 0);
	assert_int_equal(nat_counters(f->n)->mappings_active, 0);
	/* a reboot (flush) starts a new epoch: clients see it go back */
	sched_run_until(f->s, 50 * S);
	req[1] = 0; /* ANNOUNCE */
	n = ask(f, req, 24, "192.168.1.10");
	assert_int_equal(pcp_result(f, n), PCP_SUCCESS);
	assert_int_equal(get32(f->out + 8), 50);
	nat_flush(f->n);
	sched_run_until(f->s, 52 * S);
	n = ask(f, req, 24, "192.168.1.10");
	assert_int_equal(get32(f->out + 8), 2);
	fx_free(f);
}

/* A granted mapping lets anyone in (RFC 6887 §11), and on a symmetric NAT
 * serves every remote from the internal port. */
static void test_pcp_open(void **state)
{
	struct fx *f = fx_new(TOPO_MAP_APDM, TOPO_MAP_APDM, 0);
	uint8_t req[64], frame[128] = {0};
	struct ipv4_hdr *ip = (struct ipv4_hdr *)(frame + 2 + ETH_HLEN_);
	struct udp_hdr *u = (struct udp_hdr *)((uint8_t *)ip + 20);
	struct ip_view v;
	size_t n;

	n = ask(f, req, pcp_map_req(req, "192.168.1.10", 17, 4000, 0, 600, 3), "192.168.1.10");
	assert_int_equal(pcp_result(f, n), PCP_SUCCESS);
	/* from a stranger to 203.0.113.1:4000 */
	ip->ver_ihl = 0x45;
	ip->tot_len = htons(28 + 4);
	ip->ttl = 64;
	ip->proto = IPPROTO_UDP_;
	ip->src = a4("198.51.100.9");
	ip->dst = a4("203.0.113.1");
	ip_csum_set(ip, 20);
	u->sport = htons(777);
	u->dport = htons(4000);
	u->len = htons(12);
	assert_int_equal(ip_view_parse(frame + 2, ETH_HLEN_ + 32, &v), 0);
	l4_csum_set(&v);
	assert_int_equal(nat_inbound(f->n, &v, sched_now(f->s)), NAT_PASS);
	assert_int_equal(ip->dst, a4("192.168.1.10"));
	/* and out from 4000 to two remotes: the same outside port */
	ip->src = a4("192.168.1.10");
	ip->dst = a4("198.51.100.20");
	u->sport = htons(4000);
	u->dport = htons(1);
	ip_csum_set(ip, 20);
	assert_int_equal(ip_view_parse(frame + 2, ETH_HLEN_ + 32, &v), 0);
	l4_csum_set(&v);
	assert_int_equal(nat_outbound(f->n, &v, sched_now(f->s)), NAT_PASS);
	assert_int_equal(ntohs(u->sport), 4000);
	assert_int_equal(nat_counters(f->n)->mappings_active, 1);
	fx_free(f);
}

/* Every result code the server gives, and the requests it ignores. */
static void test_pcp_errors(void **state)
{
	struct fx *f = fx_new(TOPO_MAP_EIM, TOPO_MAP_APDM, 1);
	uint8_t req[1200];
	size_t len;

	len = pcp_map_req(req, "192.168.1.10", 17, 4000, 0, 600, 1);
	req[0] = 1; /* version 1: we speak 2 */
	assert_int_equal(pcp_result(f, ask(f, req, len, "192.168.1.10")), PCP_UNSUPP_VERSION);
	req[0] = 3;
	assert_int_equal(pcp_result(f, ask(f, req, len, "192.168.1.10")), PCP_UNSUPP_VERSION);
	req[0] = 2;
	assert_int_equal(pcp_result(f, ask(f, req, 20, "192.168.1.10")), PCP_MALFORMED_REQUEST);
	assert_int_equal(pcp_result(f, ask(f, req, 58, "192.168.1.10")), PCP_MALFORMED_REQUEST);
	assert_int_equal(pcp_result(f, ask(f, req, 40, "192.168.1.10")), PCP_MALFORMED_REQUEST);
	assert_int_equal(pcp_result(f, ask(f, req, 1104, "192.168.1.10")), PCP_MALFORMED_REQUEST);
	req[1] = 2; /* PEER */
	assert_int_equal(pcp_result(f, ask(f, req, len, "192.168.1.10")), PCP_UNSUPP_OPCODE);
	req[1] = 1;
	req[36] = 1; /* ICMP */
	assert_int_equal(pcp_result(f, ask(f, req, len, "192.168.1.10")), PCP_UNSUPP_PROTOCOL);
	req[36] = 17;
	assert_int_equal(pcp_result(f, ask(f, req, len, "192.168.1.11")), PCP_ADDRESS_MISMATCH);
	len = pcp_map_req(req, "10.0.0.5", 17, 4000, 0, 600, 1);
	assert_int_equal(pcp_result(f, ask(f, req, len, "10.0.0.5")), PCP_NOT_AUTHORIZED);
	/* options: a mandatory one we do not know, a truncated one */
	len = pcp_map_req(req, "192.168.1.10", 17, 4000, 0, 600, 1);
	memcpy(req + 60, "\x01\x00\x00\x04\x00\x00\x00\x00", 8);
	assert_int_equal(pcp_result(f, ask(f, req, len + 8, "192.168.1.10")), PCP_UNSUPP_OPTION);
	memcpy(req + 60, "\x81\x00\x00\x10\x00\x00\x00\x00", 8);
	assert_int_equal(pcp_result(f, ask(f, req, len + 8, "192.168.1.10")), PCP_MALFORMED_OPTION);
	memcpy(req + 60, "\x81\x00\x00\x04\x00\x00\x00\x00", 8); /* optional: passed over */
	assert_int_equal(pcp_result(f, ask(f, req, len + 8, "192.168.1.10")), PCP_SUCCESS);
	/* pool of one: the next one finds no resources */
	len = pcp_map_req(req, "192.168.1.10", 17, 4001, 0, 600, 1);
	assert_int_equal(pcp_result(f, ask(f, req, len, "192.168.1.10")), PCP_NO_RESOURCES);
	/* internal port 0 asks for everything: only a deletion may */
	len = pcp_map_req(req, "192.168.1.10", 17, 0, 0, 600, 1);
	assert_int_equal(pcp_result(f, ask(f, req, len, "192.168.1.10")), PCP_MALFORMED_REQUEST);
	/* ignored: shorter than 4 bytes, a response */
	assert_int_equal(ask(f, req, 3, "192.168.1.10"), 0);
	req[1] |= 0x80;
	assert_int_equal(ask(f, req, len, "192.168.1.10"), 0);
	assert_int_equal(f->c.ignored, 2);
	assert_int_equal(f->c.pcp[PCP_UNSUPP_VERSION], 2);
	fx_free(f);
}

static size_t natpmp_map(uint8_t *b, uint8_t op, uint16_t in_port, uint16_t want, uint32_t life)
{
	memset(b, 0, 12);
	b[1] = op;
	b[4] = (uint8_t)(in_port >> 8);
	b[5] = (uint8_t)in_port;
	b[6] = (uint8_t)(want >> 8);
	b[7] = (uint8_t)want;
	b[8] = (uint8_t)(life >> 24);
	b[9] = (uint8_t)(life >> 16);
	b[10] = (uint8_t)(life >> 8);
	b[11] = (uint8_t)life;
	return 12;
}

static void test_natpmp(void **state)
{
	struct fx *f = fx_new(TOPO_MAP_EIM, TOPO_MAP_APDM, 0);
	uint8_t req[16] = {0, 0};
	size_t n;

	sched_run_until(f->s, 7 * S);
	n = ask(f, req, 2, "192.168.1.10"); /* public address */
	assert_int_equal(n, 12);
	assert_int_equal(f->out[1], 128);
	assert_int_equal(get16(f->out + 2), NATPMP_SUCCESS);
	assert_int_equal(get32(f->out + 4), 7);
	assert_memory_equal(f->out + 8, "\xcb\x00\x71\x01", 4);
	n = ask(f, req, natpmp_map(req, 1, 1234, 5678, 60), "192.168.1.10");
	assert_int_equal(n, 16);
	assert_int_equal(f->out[1], 129);
	assert_int_equal(get16(f->out + 2), NATPMP_SUCCESS);
	assert_int_equal(get16(f->out + 8), 1234);
	assert_int_equal(get16(f->out + 10), 5678);
	assert_int_equal(get32(f->out + 12), 60);
	n = ask(f, req, natpmp_map(req, 2, 22, 2222, 60), "192.168.1.10");
	assert_int_equal(f->out[1], 130);
	assert_int_equal(get16(f->out + 10), 2222);
	assert_int_equal(nat_counters(f->n)->mappings_active, 2);
	/* deletion, then every UDP mapping of the client */
	n = ask(f, req, natpmp_map(req, 2, 22, 0, 0), "192.168.1.10");
	assert_int_equal(get16(f->out + 2), NATPMP_SUCCESS);
	assert_int_equal(nat_counters(f->n)->mappings_active, 1);
	n = ask(f, req, natpmp_map(req, 1, 0, 0, 0), "192.168.1.10");
	assert_int_equal(nat_counters(f->n)->mappings_active, 0);
	/* unsupported opcode, a response, too short, a stranger */
	req[1] = 3;
	n = ask(f, req, 12, "192.168.1.10");
	assert_int_equal(n, 8);
	assert_int_equal(get16(f->out + 2), NATPMP_UNSUPP_OPCODE);
	req[1] = 129;
	assert_int_equal(ask(f, req, 16, "192.168.1.10"), 0);
	assert_int_equal(ask(f, req, natpmp_map(req, 1, 1, 1, 60) - 2, "192.168.1.10"), 0);
	n = ask(f, req, natpmp_map(req, 1, 1, 1, 60), "10.0.0.1");
	assert_int_equal(get16(f->out + 2), NATPMP_REFUSED);
	fx_free(f);
}

/* RFC 6886 §3.5: NO_RESOURCES (4) when the NAT has no port left to map
 * (a pool of one port, taken by the first mapping); the code counted. */
static void test_natpmp_no_resources(void **state)
{
	struct fx *f = fx_new(TOPO_MAP_EIM, TOPO_MAP_APDM, 1);
	uint8_t req[16] = {0, 0};
	size_t n;

	n = ask(f, req, natpmp_map(req, 1, 4000, 4000, 60), "192.168.1.10");
	assert_int_equal(n, 16);
	assert_int_equal(get16(f->out + 2), NATPMP_SUCCESS);
	n = ask(f, req, natpmp_map(req, 1, 4001, 4001, 60), "192.168.1.10");
	assert_int_equal(n, 16);
	assert_int_equal(f->out[1], 129);
	assert_int_equal(get16(f->out + 2), NATPMP_NO_RESOURCES);
	assert_int_equal(get32(f->out + 12), 0); /* nothing granted */
	assert_int_equal(nat_counters(f->n)->mappings_active, 1);
	assert_int_equal(f->c.natpmp[NATPMP_NO_RESOURCES], 1);
	fx_free(f);
}

/* What the gateway multicasts after a flush: NAT-PMP's public address
 * response and PCP's ANNOUNCE response, with the new epoch. */
static void test_announcement(void **state)
{
	static const uint8_t pcp_hdr[8] = {PCP_VERSION, 0x80, 0, 0, 0, 0, 0, 0};
	struct fx *f = fx_new(TOPO_MAP_EIM, TOPO_MAP_APDM, 0);
	uint8_t out[PCP_ANNOUNCE_MAX];
	uint32_t pub = a4("203.0.113.1");

	sched_run_until(f->s, 30 * S);
	nat_flush(f->n);
	sched_run_until(f->s, 33 * S);
	assert_int_equal(pcp_announcement(f->n, true, pub, sched_now(f->s), out), 12);
	assert_int_equal(out[0], NATPMP_VERSION);
	assert_int_equal(out[1], 128); /* the answer to opcode 0 */
	assert_int_equal(get16(out + 2), NATPMP_SUCCESS);
	assert_int_equal(get32(out + 4), 3); /* seconds since the flush */
	assert_memory_equal(out + 8, &pub, 4);
	assert_int_equal(pcp_announcement(f->n, false, pub, sched_now(f->s), out), 24);
	assert_memory_equal(out, pcp_hdr, sizeof(pcp_hdr)); /* R, ANNOUNCE, SUCCESS, 0 s */
	assert_int_equal(get32(out + 8), 3);
	for (int i = 12; i < 24; i++)
		assert_int_equal(out[i], 0);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pcp_map),	 cmocka_unit_test(test_pcp_delete_and_epoch),
	    cmocka_unit_test(test_pcp_open),	 cmocka_unit_test(test_pcp_errors),
	    cmocka_unit_test(test_natpmp),	 cmocka_unit_test(test_natpmp_no_resources),
	    cmocka_unit_test(test_announcement),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
