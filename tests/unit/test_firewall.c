/* Unit tests of the firewall: rule order, each match field, default
 * policies, stateful replies and their expiry in virtual time, counters,
 * and reject answers that parse back with good checksums. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckround.h"
#include "firewall.h"
#include "natbed/ckpt.h"
#include "natbed/clock.h"
#include "natbed/sched.h"
#include "natbed/topo.h"
#include "proto.h"

#define S NATBED_NS_PER_S

#define HOST   "192.168.1.10"
#define SERVER "198.51.100.7"
#define OTHER  "203.0.113.5"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0x0a};
static const uint8_t mac_b[6] = {0x02, 0, 0, 0, 0, 0x0b};

struct pkt {
	/* 2 bytes in: the IPv4 header after 14 bytes of Ethernet is 4-byte
	 * aligned, as in natbed-emu's own buffers (PKT_HEADROOM) */
	uint8_t pad[2];
	uint8_t buf[2048];
	size_t len;
	struct ip_view v;
};

/* An answer's buffer, aligned like struct pkt's. */
struct t_frame {
	uint32_t align;
	uint8_t pad[2];
	uint8_t b[FW_REJECT_FRAME_MAX];
};

static uint32_t addr(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* Fills p's Ethernet and IP headers for l4_len bytes of proto (already
 * written at p->buf + 34), sets the checksums and parses it. */
static void pkt_finish(struct pkt *p, uint8_t proto, const char *src, const char *dst,
		       size_t l4_len)
{
	struct eth_hdr *eth = (struct eth_hdr *)p->buf;
	struct ipv4_hdr *ip = (struct ipv4_hdr *)(p->buf + ETH_HLEN_);

	memcpy(eth->src, mac_a, 6);
	memcpy(eth->dst, mac_b, 6);
	eth->type = htons(ETHERTYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->ver_ihl = 0x45;
	ip->tot_len = htons((uint16_t)(IPV4_MIN_HLEN + l4_len));
	ip->id = htons(0x1234);
	ip->ttl = 64;
	ip->proto = proto;
	ip->src = addr(src);
	ip->dst = addr(dst);
	ip_csum_set(ip, IPV4_MIN_HLEN);
	p->len = ETH_HLEN_ + IPV4_MIN_HLEN + l4_len;
	assert_int_equal(ip_view_parse(p->buf, p->len, &p->v), 0);
	l4_csum_set(&p->v);
}

static uint8_t *pkt_l4(struct pkt *p)
{
	return p->buf + ETH_HLEN_ + IPV4_MIN_HLEN;
}

static const struct ip_view *udp(struct pkt *p, const char *src, uint16_t sport, const char *dst,
				 uint16_t dport, size_t payload)
{
	struct udp_hdr *u = (struct udp_hdr *)pkt_l4(p);

	memset(p->buf, 0, sizeof(p->buf));
	u->sport = htons(sport);
	u->dport = htons(dport);
	u->len = htons((uint16_t)(UDP_HLEN + payload));
	memset(pkt_l4(p) + UDP_HLEN, 'x', payload);
	pkt_finish(p, IPPROTO_UDP_, src, dst, UDP_HLEN + payload);
	return &p->v;
}

static const struct ip_view *tcp(struct pkt *p, const char *src, uint16_t sport, const char *dst,
				 uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
				 size_t payload)
{
	struct tcp_hdr *t = (struct tcp_hdr *)pkt_l4(p);

	memset(p->buf, 0, sizeof(p->buf));
	t->sport = htons(sport);
	t->dport = htons(dport);
	t->seq = htonl(seq);
	t->ack = htonl(ack);
	t->off = 5 << 4;
	t->flags = flags;
	t->win = htons(65535);
	memset(pkt_l4(p) + TCP_MIN_HLEN, 'y', payload);
	pkt_finish(p, IPPROTO_TCP_, src, dst, TCP_MIN_HLEN + payload);
	return &p->v;
}

static const struct ip_view *echo(struct pkt *p, const char *src, const char *dst, uint8_t type,
				  uint16_t id)
{
	struct icmp_hdr *ic = (struct icmp_hdr *)pkt_l4(p);

	memset(p->buf, 0, sizeof(p->buf));
	ic->type = type;
	ic->id = htons(id);
	ic->seq = htons(1);
	pkt_finish(p, IPPROTO_ICMP_, src, dst, ICMP_HLEN + 16);
	return &p->v;
}

/* An ICMP port unreachable from `from` about packet q, sent to q's source. */
static const struct ip_view *unreach(struct pkt *p, const char *from, const struct pkt *q)
{
	struct icmp_hdr *ic = (struct icmp_hdr *)pkt_l4(p);
	char dst[INET_ADDRSTRLEN];

	memset(p->buf, 0, sizeof(p->buf));
	ic->type = 3;
	ic->code = 3;
	memcpy(pkt_l4(p) + ICMP_HLEN, q->v.ip, IPV4_MIN_HLEN + 8);
	inet_ntop(AF_INET, &q->v.ip->src, dst, sizeof(dst));
	pkt_finish(p, IPPROTO_ICMP_, from, dst, ICMP_HLEN + IPV4_MIN_HLEN + 8);
	return &p->v;
}

/* Turns the datagram in p into its first fragment (MF set). */
static const struct ip_view *frag_first(struct pkt *p)
{
	p->v.ip->frag = htons(IPV4_FRAG_MF);
	ip_csum_set(p->v.ip, IPV4_MIN_HLEN);
	assert_int_equal(ip_view_parse(p->buf, p->len, &p->v), 0);
	return &p->v;
}

/* A later fragment (offset 1480, no more) of datagram id from src to dst:
 * no transport header. */
static const struct ip_view *frag_later(struct pkt *p, const char *src, const char *dst,
					uint16_t id)
{
	memset(p->buf, 0, sizeof(p->buf));
	memset(pkt_l4(p), 'z', 200);
	pkt_finish(p, IPPROTO_UDP_, src, dst, 200);
	p->v.ip->id = htons(id);
	p->v.ip->frag = htons(1480 / 8);
	ip_csum_set(p->v.ip, IPV4_MIN_HLEN);
	assert_int_equal(ip_view_parse(p->buf, p->len, &p->v), 0);
	assert_null(p->v.l4);
	return &p->v;
}

/* A firewall from a topology host's firewall block (YAML, indented by 4). */
static struct fw *fw_yaml(const char *block, struct sched *s)
{
	char text[4096], err[TOPO_ERR_MAX];
	struct topo *t = NULL;
	struct fw *fw;
	int n = snprintf(text, sizeof(text), "hosts:\n  alice:\n    firewall:\n%s", block);

	assert_true(n > 0 && (size_t)n < sizeof(text));
	if (topo_load_string(text, strlen(text), "fw.yaml", "nb-", &t, err, sizeof(err)) < 0)
		fail_msg("load failed: %s", err);
	fw = fw_new(&t->hosts[0].fw, s);
	assert_non_null(fw);
	topo_free(t);
	return fw;
}

/* Checks fw's verdict and deciding rule for v going dir at now; a failure
 * names the caller's line. */
#define expect(fw, v, dir, now, want, rule)                                                        \
	expect_at(fw, v, dir, now, want, rule, __FILE__, __LINE__)

static void expect_at(struct fw *fw, const struct ip_view *v, enum fw_dir dir, natbed_time_t now,
		      enum fw_verdict want, int rule, const char *file, int line)
{
	enum fw_verdict got = fw_check(fw, v, dir, now);

	if (got != want || fw_last_rule(fw) != rule) {
		print_error("got %s by rule %d, want %s by rule %d\n", fw_verdict_name(got),
			    fw_last_rule(fw), fw_verdict_name(want), rule);
		_fail(file, line);
	}
}

/* ---- rules ---- */

static void test_order(void **state)
{
	struct fw *fw =
	    fw_yaml("      stateful: false\n"
		    "      rules:\n"
		    "        - { dir: in, proto: udp, port: 3478, action: drop }\n"
		    "        - { dir: in, proto: udp, from: 198.51.100.0/24, action: accept }\n"
		    "        - { dir: in, action: reject }\n",
		    NULL);
	struct pkt p;

	expect(fw, udp(&p, SERVER, 5000, HOST, 3478, 4), FW_DIR_IN, 0, FW_DROP, 0);
	expect(fw, udp(&p, SERVER, 5000, HOST, 3479, 4), FW_DIR_IN, 0, FW_ACCEPT, 1);
	expect(fw, udp(&p, OTHER, 5000, HOST, 3479, 4), FW_DIR_IN, 0, FW_REJECT, 2);
	expect(fw, udp(&p, OTHER, 5000, HOST, 3478, 4), FW_DIR_IN, 0, FW_DROP, 0);
	expect(fw, udp(&p, HOST, 3478, SERVER, 3478, 4), FW_DIR_OUT, 0, FW_ACCEPT, FW_RULE_DEFAULT);
	fw_free(fw);
}

static void test_fields(void **state)
{
	struct fw *fw =
	    fw_yaml("      default: drop\n"
		    "      stateful: false\n"
		    "      rules:\n"
		    "        - { dir: out, proto: tcp, to: 203.0.113.5, action: reject }\n"
		    "        - { proto: icmp, from: 198.51.100.0/24, action: accept }\n"
		    "        - { dir: in, port: 3478-3479, action: accept }\n"
		    "        - { dir: in, proto: udp, sport: 53, action: accept }\n"
		    "        - { dir: any, proto: tcp, from: 0.0.0.0/0, to: 198.51.100.7, "
		    "action: accept }\n",
		    NULL);
	struct pkt p;

	/* rule 0: dir, proto and to */
	expect(fw, tcp(&p, HOST, 40000, OTHER, 80, TCP_SYN, 1, 0, 0), FW_DIR_OUT, 0, FW_REJECT, 0);
	expect(fw, tcp(&p, OTHER, 80, HOST, 40000, TCP_SYN, 1, 0, 0), FW_DIR_IN, 0, FW_DROP,
	       FW_RULE_DEFAULT);
	expect(fw, udp(&p, HOST, 40000, OTHER, 80, 0), FW_DIR_OUT, 0, FW_DROP, FW_RULE_DEFAULT);
	expect(fw, tcp(&p, HOST, 40000, "203.0.113.6", 80, TCP_SYN, 1, 0, 0), FW_DIR_OUT, 0,
	       FW_DROP, FW_RULE_DEFAULT);
	/* rule 1: from a prefix, either direction */
	expect(fw, echo(&p, "198.51.100.200", HOST, 8, 7), FW_DIR_IN, 0, FW_ACCEPT, 1);
	expect(fw, echo(&p, "198.51.100.200", HOST, 8, 7), FW_DIR_OUT, 0, FW_ACCEPT, 1);
	expect(fw, echo(&p, "198.51.101.1", HOST, 8, 7), FW_DIR_IN, 0, FW_DROP, FW_RULE_DEFAULT);
	/* rule 2: a destination port range, any protocol with ports */
	expect(fw, udp(&p, OTHER, 1, HOST, 3477, 0), FW_DIR_IN, 0, FW_DROP, FW_RULE_DEFAULT);
	expect(fw, udp(&p, OTHER, 1, HOST, 3478, 0), FW_DIR_IN, 0, FW_ACCEPT, 2);
	expect(fw, tcp(&p, OTHER, 1, HOST, 3479, TCP_SYN, 1, 0, 0), FW_DIR_IN, 0, FW_ACCEPT, 2);
	expect(fw, udp(&p, OTHER, 1, HOST, 3480, 0), FW_DIR_IN, 0, FW_DROP, FW_RULE_DEFAULT);
	expect(fw, udp(&p, HOST, 1, OTHER, 3478, 0), FW_DIR_OUT, 0, FW_DROP, FW_RULE_DEFAULT);
	/* rule 3: a source port */
	expect(fw, udp(&p, OTHER, 53, HOST, 9999, 0), FW_DIR_IN, 0, FW_ACCEPT, 3);
	expect(fw, udp(&p, OTHER, 54, HOST, 9999, 0), FW_DIR_IN, 0, FW_DROP, FW_RULE_DEFAULT);
	expect(fw, tcp(&p, OTHER, 53, HOST, 9999, TCP_SYN, 1, 0, 0), FW_DIR_IN, 0, FW_DROP,
	       FW_RULE_DEFAULT);
	/* a port rule never matches ICMP, which has no ports */
	expect(fw, echo(&p, OTHER, HOST, 8, 3478), FW_DIR_IN, 0, FW_DROP, FW_RULE_DEFAULT);
	/* rule 4: /0 matches every source; a bare address is a /32 */
	expect(fw, tcp(&p, "10.9.8.7", 1, SERVER, 22, TCP_SYN, 1, 0, 0), FW_DIR_IN, 0, FW_ACCEPT,
	       4);
	expect(fw, tcp(&p, "10.9.8.7", 1, "198.51.100.8", 22, TCP_SYN, 1, 0, 0), FW_DIR_IN, 0,
	       FW_DROP, FW_RULE_DEFAULT);
	fw_free(fw);
}

static void test_policies(void **state)
{
	static const struct {
		const char *block;
		enum fw_verdict want;
	} cases[] = {
	    {"      default: accept\n", FW_ACCEPT},
	    {"      default: drop\n", FW_DROP},
	    {"      default: reject\n", FW_REJECT},
	    {"      stateful: true\n", FW_ACCEPT}, /* accept unless said */
	};
	struct topo_fw none;
	struct pkt p;
	struct fw *fw;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fw = fw_yaml(cases[i].block, NULL);
		expect(fw, udp(&p, SERVER, 1, HOST, 2, 0), FW_DIR_IN, 0, cases[i].want,
		       FW_RULE_DEFAULT);
		expect(fw, echo(&p, HOST, SERVER, 8, 1), FW_DIR_OUT, 0, cases[i].want,
		       FW_RULE_DEFAULT);
		fw_free(fw);
	}
	/* no firewall block: everything passes, nothing is tracked */
	memset(&none, 0, sizeof(none));
	none.policy = TOPO_FW_DROP; /* ignored without `present` */
	fw = fw_new(&none, NULL);
	assert_non_null(fw);
	expect(fw, udp(&p, SERVER, 1, HOST, 2, 0), FW_DIR_IN, 0, FW_ACCEPT, FW_RULE_DEFAULT);
	assert_int_equal(fw_counters(fw)->flows_created, 0);
	fw_free(fw);
}

static void test_bad_config(void **state)
{
	struct topo_fw cfg;

	assert_null(fw_new(NULL, NULL));
	memset(&cfg, 0, sizeof(cfg));
	cfg.present = true;
	cfg.n_rules = TOPO_FW_RULES_MAX + 1;
	assert_null(fw_new(&cfg, NULL));
	cfg.n_rules = 1;
	cfg.rules[0].action = (enum topo_fw_action)9;
	assert_null(fw_new(&cfg, NULL));
	cfg.rules[0].action = TOPO_FW_DROP;
	cfg.rules[0].from.len = 33;
	assert_null(fw_new(&cfg, NULL));
	fw_free(NULL);
}

/* ---- stateful ---- */

#define STATEFUL_OUT_ONLY                                                                          \
	"      default: drop\n"                                                                    \
	"      rules:\n"                                                                           \
	"        - { dir: out, action: accept }\n"

static void test_established(void **state)
{
	struct fw *fw = fw_yaml(STATEFUL_OUT_ONLY, NULL);
	struct pkt p;

	/* nothing comes in unasked */
	expect(fw, udp(&p, SERVER, 3478, HOST, 5000, 4), FW_DIR_IN, 0, FW_DROP, FW_RULE_DEFAULT);
	/* a packet out opens the way back for its replies only */
	expect(fw, udp(&p, HOST, 5000, SERVER, 3478, 4), FW_DIR_OUT, 0, FW_ACCEPT, 0);
	expect(fw, udp(&p, SERVER, 3478, HOST, 5000, 4), FW_DIR_IN, S, FW_ACCEPT,
	       FW_RULE_ESTABLISHED);
	expect(fw, udp(&p, SERVER, 3479, HOST, 5000, 4), FW_DIR_IN, S, FW_DROP, FW_RULE_DEFAULT);
	expect(fw, udp(&p, OTHER, 3478, HOST, 5000, 4), FW_DIR_IN, S, FW_DROP, FW_RULE_DEFAULT);
	expect(fw, udp(&p, SERVER, 3478, HOST, 5001, 4), FW_DIR_IN, S, FW_DROP, FW_RULE_DEFAULT);
	/* the flow's own direction still goes through the rules */
	expect(fw, udp(&p, HOST, 5000, SERVER, 3478, 4), FW_DIR_OUT, 2 * S, FW_ACCEPT, 0);
	/* a reply travelling the same way as the flow is not a reply */
	expect(fw, udp(&p, SERVER, 3478, HOST, 5000, 4), FW_DIR_OUT, 2 * S, FW_ACCEPT, 0);
	assert_int_equal(fw_counters(fw)->flows_created, 1);
	assert_int_equal(fw_counters(fw)->flows_active, 1);
	fw_free(fw);

	/* stateful off: replies meet the rules like anything else */
	fw = fw_yaml("      stateful: false\n" STATEFUL_OUT_ONLY, NULL);
	expect(fw, udp(&p, HOST, 5000, SERVER, 3478, 4), FW_DIR_OUT, 0, FW_ACCEPT, 0);
	expect(fw, udp(&p, SERVER, 3478, HOST, 5000, 4), FW_DIR_IN, S, FW_DROP, FW_RULE_DEFAULT);
	assert_int_equal(fw_counters(fw)->flows_created, 0);
	fw_free(fw);
}

/* Flows accepted inbound let their replies out. */
static void test_established_inbound(void **state)
{
	struct fw *fw = fw_yaml("      default: drop\n"
				"      rules:\n"
				"        - { dir: in, proto: tcp, port: 22, action: accept }\n",
				NULL);
	struct pkt p;

	expect(fw, tcp(&p, SERVER, 40000, HOST, 22, TCP_SYN, 100, 0, 0), FW_DIR_IN, 0, FW_ACCEPT,
	       0);
	expect(fw, tcp(&p, HOST, 22, SERVER, 40000, TCP_SYN | TCP_ACK, 900, 101, 0), FW_DIR_OUT, 0,
	       FW_ACCEPT, FW_RULE_ESTABLISHED);
	expect(fw, tcp(&p, HOST, 22, SERVER, 40001, TCP_SYN | TCP_ACK, 900, 101, 0), FW_DIR_OUT, 0,
	       FW_DROP, FW_RULE_DEFAULT);
	fw_free(fw);
}

/* Lifetimes, checked lazily (no scheduler): UDP and ICMP 120 s from the
 * last packet of the flow in either direction. */
static void test_expiry_lazy(void **state)
{
	struct fw *fw = fw_yaml(STATEFUL_OUT_ONLY, NULL);
	struct pkt p;

	expect(fw, udp(&p, HOST, 5000, SERVER, 3478, 4), FW_DIR_OUT, 0, FW_ACCEPT, 0);
	expect(fw, udp(&p, SERVER, 3478, HOST, 5000, 4), FW_DIR_IN, 119 * S, FW_ACCEPT,
	       FW_RULE_ESTABLISHED);
	/* refreshed at 119 s: alive until 239 s */
	expect(fw, udp(&p, SERVER, 3478, HOST, 5000, 4), FW_DIR_IN, 238 * S, FW_ACCEPT,
	       FW_RULE_ESTABLISHED);
	expect(fw, udp(&p, SERVER, 3478, HOST, 5000, 4), FW_DIR_IN, 358 * S + 1, FW_DROP,
	       FW_RULE_DEFAULT);
	assert_int_equal(fw_counters(fw)->flows_expired, 1);
	assert_int_equal(fw_counters(fw)->flows_active, 0);

	expect(fw, echo(&p, HOST, SERVER, 8, 77), FW_DIR_OUT, 1000 * S, FW_ACCEPT, 0);
	expect(fw, echo(&p, SERVER, HOST, 0, 77), FW_DIR_IN, 1001 * S, FW_ACCEPT,
	       FW_RULE_ESTABLISHED);
	expect(fw, echo(&p, SERVER, HOST, 0, 78), FW_DIR_IN, 1001 * S, FW_DROP, FW_RULE_DEFAULT);
	expect(fw, echo(&p, SERVER, HOST, 0, 77), FW_DIR_IN, 1121 * S, FW_DROP, FW_RULE_DEFAULT);
	fw_free(fw);
}

/* TCP: transitory until the handshake completes, then 7440 s; FIN goes
 * back to transitory. */
static void test_expiry_tcp(void **state)
{
	const natbed_time_t T = 20000 * S;
	struct fw *fw = fw_yaml(STATEFUL_OUT_ONLY, NULL);
	struct pkt p;

	/* a SYN never answered: 240 s */
	expect(fw, tcp(&p, HOST, 41000, SERVER, 80, TCP_SYN, 1, 0, 0), FW_DIR_OUT, 0, FW_ACCEPT, 0);
	expect(fw, tcp(&p, SERVER, 80, HOST, 41000, TCP_SYN | TCP_ACK, 500, 2, 0), FW_DIR_IN,
	       241 * S, FW_DROP, FW_RULE_DEFAULT);

	/* a full handshake: established, idle up to 7440 s */
	expect(fw, tcp(&p, HOST, 41001, SERVER, 80, TCP_SYN, 1, 0, 0), FW_DIR_OUT, 1000 * S,
	       FW_ACCEPT, 0);
	expect(fw, tcp(&p, SERVER, 80, HOST, 41001, TCP_SYN | TCP_ACK, 500, 2, 0), FW_DIR_IN,
	       1000 * S, FW_ACCEPT, FW_RULE_ESTABLISHED);
	expect(fw, tcp(&p, HOST, 41001, SERVER, 80, TCP_ACK, 2, 501, 0), FW_DIR_OUT, 1000 * S,
	       FW_ACCEPT, 0);
	expect(fw, tcp(&p, SERVER, 80, HOST, 41001, TCP_ACK, 501, 2, 100), FW_DIR_IN,
	       (1000 + 7439) * S, FW_ACCEPT, FW_RULE_ESTABLISHED);
	expect(fw, tcp(&p, SERVER, 80, HOST, 41001, TCP_ACK, 601, 2, 100), FW_DIR_IN,
	       (1000 + 7439 + 7440) * S + 1, FW_DROP, FW_RULE_DEFAULT);

	/* FIN: closing, 240 s */
	expect(fw, tcp(&p, HOST, 41002, SERVER, 80, TCP_SYN, 1, 0, 0), FW_DIR_OUT, T, FW_ACCEPT, 0);
	expect(fw, tcp(&p, SERVER, 80, HOST, 41002, TCP_SYN | TCP_ACK, 500, 2, 0), FW_DIR_IN, T,
	       FW_ACCEPT, FW_RULE_ESTABLISHED);
	expect(fw, tcp(&p, HOST, 41002, SERVER, 80, TCP_ACK, 2, 501, 0), FW_DIR_OUT, T, FW_ACCEPT,
	       0);
	expect(fw, tcp(&p, HOST, 41002, SERVER, 80, TCP_FIN | TCP_ACK, 2, 501, 0), FW_DIR_OUT, T,
	       FW_ACCEPT, 0);
	expect(fw, tcp(&p, SERVER, 80, HOST, 41002, TCP_ACK, 501, 3, 0), FW_DIR_IN, T + 241 * S,
	       FW_DROP, FW_RULE_DEFAULT);
	fw_free(fw);
}

/* On a scheduler: flows are freed when their time comes, refreshed ones
 * later; fw_free() cancels what is pending. */
static void test_expiry_sched(void **state)
{
	struct clock_virtual vc = {0};
	struct sched *s = sched_new(clock_virtual_clock(&vc), &vc);
	struct fw *fw = fw_yaml(STATEFUL_OUT_ONLY, s);
	struct pkt p;

	assert_non_null(s);
	expect(fw, udp(&p, HOST, 5000, SERVER, 3478, 4), FW_DIR_OUT, 0, FW_ACCEPT, 0);
	expect(fw, udp(&p, HOST, 5001, SERVER, 3478, 4), FW_DIR_OUT, 0, FW_ACCEPT, 0);
	assert_int_equal(sched_pending(s), 2);
	sched_run_until(s, 60 * S);
	expect(fw, udp(&p, SERVER, 3478, HOST, 5001, 4), FW_DIR_IN, sched_now(s), FW_ACCEPT,
	       FW_RULE_ESTABLISHED);
	sched_run_until(s, 120 * S);
	assert_int_equal(fw_counters(fw)->flows_expired, 1);
	assert_int_equal(fw_counters(fw)->flows_active, 1);
	sched_run_until(s, 179 * S);
	assert_int_equal(fw_counters(fw)->flows_active, 1);
	sched_run_until(s, 180 * S);
	assert_int_equal(fw_counters(fw)->flows_active, 0);
	assert_int_equal(sched_pending(s), 0);
	expect(fw, udp(&p, SERVER, 3478, HOST, 5001, 4), FW_DIR_IN, sched_now(s), FW_DROP,
	       FW_RULE_DEFAULT);

	expect(fw, udp(&p, HOST, 5002, SERVER, 3478, 4), FW_DIR_OUT, sched_now(s), FW_ACCEPT, 0);
	assert_int_equal(sched_pending(s), 1);
	fw_free(fw);
	assert_int_equal(sched_pending(s), 0);
	sched_free(s);
}

/* ICMP errors about a tracked flow travel back as part of it. */
static void test_related(void **state)
{
	struct fw *fw = fw_yaml(STATEFUL_OUT_ONLY, NULL);
	struct pkt out, err, other;

	udp(&out, HOST, 5000, SERVER, 3478, 4);
	expect(fw, &out.v, FW_DIR_OUT, 0, FW_ACCEPT, 0);
	/* from the server or from a router on the way */
	expect(fw, unreach(&err, SERVER, &out), FW_DIR_IN, S, FW_ACCEPT, FW_RULE_ESTABLISHED);
	expect(fw, unreach(&err, "198.18.0.1", &out), FW_DIR_IN, S, FW_ACCEPT, FW_RULE_ESTABLISHED);
	/* about a packet that never went out */
	udp(&other, HOST, 5009, SERVER, 3478, 4);
	expect(fw, unreach(&err, SERVER, &other), FW_DIR_IN, S, FW_DROP, FW_RULE_DEFAULT);
	/* going the wrong way */
	expect(fw, unreach(&err, SERVER, &out), FW_DIR_OUT, S, FW_ACCEPT, 0);
	/* errors start no flow, and do not keep one alive */
	assert_int_equal(fw_counters(fw)->flows_created, 1);
	expect(fw, unreach(&err, SERVER, &out), FW_DIR_IN, 121 * S, FW_DROP, FW_RULE_DEFAULT);
	fw_free(fw);
}

/* ---- counters ---- */

/* A 4 KB UDP answer comes in fragments: the later ones carry no ports and
 * must follow their first fragment (accepted as a reply of an established
 * flow) instead of falling to the default drop; a refused first takes its
 * later fragments with it. */
static void test_fragments(void **state)
{
	struct fw *fw = fw_yaml("      default: drop\n"
				"      rules:\n"
				"        - { dir: out, action: accept }\n",
				NULL);
	struct pkt p;

	expect(fw, udp(&p, HOST, 5000, SERVER, 7, 4), FW_DIR_OUT, 0, FW_ACCEPT, 0);
	/* the answer: first fragment (id 0x1234) then two later ones */
	udp(&p, SERVER, 7, HOST, 5000, 1472);
	expect(fw, frag_first(&p), FW_DIR_IN, S, FW_ACCEPT, FW_RULE_ESTABLISHED);
	expect(fw, frag_later(&p, SERVER, HOST, 0x1234), FW_DIR_IN, S, FW_ACCEPT,
	       FW_RULE_ESTABLISHED);
	expect(fw, frag_later(&p, SERVER, HOST, 0x1234), FW_DIR_IN, S, FW_ACCEPT,
	       FW_RULE_ESTABLISHED);
	assert_int_equal(fw_counters(fw)->established.packets, 3);
	/* another datagram's later fragment, its first never seen: the policy */
	expect(fw, frag_later(&p, SERVER, HOST, 0x9999), FW_DIR_IN, S, FW_DROP, FW_RULE_DEFAULT);
	/* a stranger's first fragment is dropped, and so are its later ones */
	udp(&p, OTHER, 7, HOST, 5000, 1472);
	expect(fw, frag_first(&p), FW_DIR_IN, S, FW_DROP, FW_RULE_DEFAULT);
	expect(fw, frag_later(&p, OTHER, HOST, 0x1234), FW_DIR_IN, S, FW_DROP, FW_RULE_DEFAULT);
	/* the first's fate is kept for FW_FRAG_TIMEOUT_NS, no longer */
	expect(fw, frag_later(&p, SERVER, HOST, 0x1234), FW_DIR_IN, S + FW_FRAG_TIMEOUT_NS, FW_DROP,
	       FW_RULE_DEFAULT);
	fw_free(fw);
}

static void test_counters(void **state)
{
	struct fw *fw = fw_yaml("      default: reject\n"
				"      rules:\n"
				"        - { dir: in, proto: udp, from: 198.51.100.0/24, port: "
				"3478-3479, action: drop }\n"
				"        - { dir: out, proto: udp, sport: 5000, action: accept }\n",
				NULL);
	const struct fw_counters *c = fw_counters(fw);
	json_t *j, *r0;
	struct pkt p;
	int i;

	for (i = 0; i < 3; i++)
		fw_check(fw, udp(&p, SERVER, 1, HOST, 3478, 10), FW_DIR_IN, 0); /* 38 bytes */
	fw_check(fw, udp(&p, HOST, 5000, SERVER, 9, 0), FW_DIR_OUT, 0);		/* 28 bytes */
	fw_check(fw, udp(&p, SERVER, 9, HOST, 5000, 2), FW_DIR_IN, 0); /* 30, established */
	fw_check(fw, udp(&p, SERVER, 9, HOST, 5000, 2), FW_DIR_IN, 0);
	fw_check(fw, echo(&p, OTHER, HOST, 8, 1), FW_DIR_IN, 0); /* 44 bytes, default */
	assert_int_equal(c->rules[0].packets, 3);
	assert_int_equal(c->rules[0].bytes, 3 * 38);
	assert_int_equal(c->rules[1].packets, 1);
	assert_int_equal(c->rules[1].bytes, 28);
	assert_int_equal(c->rules[2].packets, 0);
	assert_int_equal(c->established.packets, 2);
	assert_int_equal(c->established.bytes, 60);
	assert_int_equal(c->policy.packets, 1);
	assert_int_equal(c->policy.bytes, 44);
	assert_int_equal(c->verdicts[FW_DROP], 3);
	assert_int_equal(c->verdicts[FW_ACCEPT], 3);
	assert_int_equal(c->verdicts[FW_REJECT], 1);

	j = fw_stats_json(fw);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "stateful")));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "default"), "action")), "reject");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "default"), "packets")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "established"), "packets")), 2);
	assert_int_equal(json_array_size(json_object_get(j, "rules")), 2);
	r0 = json_array_get(json_object_get(j, "rules"), 0);
	assert_string_equal(json_string_value(json_object_get(r0, "from")), "198.51.100.0/24");
	assert_string_equal(json_string_value(json_object_get(r0, "port")), "3478-3479");
	assert_string_equal(json_string_value(json_object_get(r0, "dir")), "in");
	assert_string_equal(json_string_value(json_object_get(r0, "action")), "drop");
	assert_int_equal(json_integer_value(json_object_get(r0, "packets")), 3);
	assert_int_equal(json_integer_value(json_object_get(r0, "bytes")), 3 * 38);
	assert_int_equal(json_integer_value(json_object_get(r0, "line")), 6);
	assert_null(json_object_get(r0, "to"));
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(j, "rules"), 1), "sport")),
			    "5000");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "flows"), "created")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "verdicts"), "reject")), 1);
	json_decref(j);
	fw_free(fw);
}

/* ---- checkpoints ---- */

#define CK_RULES                                                                                   \
	"      default: drop\n"                                                                    \
	"      rules:\n"                                                                           \
	"        - { dir: in, proto: tcp, port: 22, action: accept }\n"                            \
	"        - { dir: out, action: accept }\n"
#define CK_SHIFT (777 * S) /* the other run's clock */

static json_t *through_text(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_t *back = json_loads(s, 0, NULL);

	assert_non_null(back);
	free(s);
	json_decref(j);
	return back;
}

/* Flows of each kind, a fragment record and counters in fw at t. */
static void ck_fill(struct fw *fw, natbed_time_t t)
{
	struct pkt p;

	/* UDP out, answered */
	expect(fw, udp(&p, HOST, 5000, SERVER, 3478, 4), FW_DIR_OUT, t, FW_ACCEPT, 1);
	expect(fw, udp(&p, SERVER, 3478, HOST, 5000, 4), FW_DIR_IN, t, FW_ACCEPT,
	       FW_RULE_ESTABLISHED);
	/* TCP in (rule 0), established */
	expect(fw, tcp(&p, OTHER, 40000, HOST, 22, TCP_SYN, 1, 0, 0), FW_DIR_IN, t, FW_ACCEPT, 0);
	expect(fw, tcp(&p, HOST, 22, OTHER, 40000, TCP_SYN | TCP_ACK, 9, 2, 0), FW_DIR_OUT, t,
	       FW_ACCEPT, FW_RULE_ESTABLISHED);
	expect(fw, tcp(&p, OTHER, 40000, HOST, 22, TCP_ACK, 2, 10, 0), FW_DIR_IN, t, FW_ACCEPT, 0);
	/* TCP out, a SYN never answered */
	expect(fw, tcp(&p, HOST, 41000, SERVER, 80, TCP_SYN, 1, 0, 0), FW_DIR_OUT, t, FW_ACCEPT, 1);
	/* ping out */
	expect(fw, echo(&p, HOST, SERVER, 8, 77), FW_DIR_OUT, t, FW_ACCEPT, 1);
	/* an answer's first fragment: its later ones are to follow */
	udp(&p, SERVER, 3478, HOST, 5000, 1472);
	expect(fw, frag_first(&p), FW_DIR_IN, t, FW_ACCEPT, FW_RULE_ESTABLISHED);
	/* a stranger, dropped */
	expect(fw, udp(&p, OTHER, 1, HOST, 5000, 4), FW_DIR_IN, t, FW_DROP, FW_RULE_DEFAULT);
}

/* A checkpoint restored into a fresh firewall of another run's clock:
 * the same checkpoint again, and the flows, fragments and lifetimes
 * behave as in the original. */
static void test_checkpoint_round_trip(void **state)
{
	struct clock_virtual va = {0}, vb = {0};
	struct sched *sa = sched_new(clock_virtual_clock(&va), &va);
	struct sched *sb = sched_new(clock_virtual_clock(&vb), &vb);
	struct fw *a = fw_yaml(CK_RULES, sa), *b = fw_yaml(CK_RULES, sb), *fresh;
	const natbed_time_t t = 50 * S;
	char err[256];
	json_t *ck, *again;
	struct pkt p;

	sched_run_until(sa, t);
	sched_run_until(sb, t + CK_SHIFT);
	ck_fill(a, t);
	/* b's own flow is replaced */
	expect(b, udp(&p, HOST, 6000, SERVER, 9, 4), FW_DIR_OUT, t + CK_SHIFT, FW_ACCEPT, 1);
	ck = through_text(fw_checkpoint(a, t));
	assert_int_equal(json_array_size(json_object_get(ck, "flows")), 4);
	assert_int_equal(json_array_size(json_object_get(ck, "frags")), 1);
	fresh = fw_restore_prepare(b, ck, t + CK_SHIFT, err, sizeof(err));
	if (!fresh)
		fail_msg("fw_restore_prepare: %s", err);
	fw_adopt(b, fresh);
	again = fw_checkpoint(b, t + CK_SHIFT);
	assert_true(json_equal(ck, again));
	json_decref(again);
	assert_int_equal(sched_pending(sb), 4); /* each flow's expiry, b's own gone */
	assert_memory_equal(fw_counters(a), fw_counters(b), sizeof(struct fw_counters));

	/* the fragment follows its first; the UDP reply is established */
	expect(b, frag_later(&p, SERVER, HOST, 0x1234), FW_DIR_IN, t + CK_SHIFT + S, FW_ACCEPT,
	       FW_RULE_ESTABLISHED);
	expect(b, udp(&p, SERVER, 3478, HOST, 5000, 4), FW_DIR_IN, t + CK_SHIFT + S, FW_ACCEPT,
	       FW_RULE_ESTABLISHED);
	expect(b, udp(&p, SERVER, 9, HOST, 6000, 4), FW_DIR_IN, t + CK_SHIFT + S, FW_DROP,
	       FW_RULE_DEFAULT);
	/* lifetimes go on: at 241 s the unanswered SYN, the ping and (not
	 * refreshed since 1 s) the UDP flow are gone on b's scheduler; the
	 * established TCP connection stays */
	sched_run_until(sb, t + CK_SHIFT + 241 * S);
	assert_int_equal(fw_counters(b)->flows_active, 1);
	expect(b, tcp(&p, HOST, 22, OTHER, 40000, TCP_ACK, 10, 2, 5), FW_DIR_OUT,
	       t + CK_SHIFT + 241 * S, FW_ACCEPT, FW_RULE_ESTABLISHED);
	expect(b, tcp(&p, SERVER, 80, HOST, 41000, TCP_SYN | TCP_ACK, 5, 2, 0), FW_DIR_IN,
	       t + CK_SHIFT + 241 * S, FW_DROP, FW_RULE_DEFAULT);
	json_decref(ck);
	fw_free(a);
	fw_free(b);
	assert_int_equal(sched_pending(sb), 0);
	sched_free(sa);
	sched_free(sb);
}

/* Sets element or member `key` of the first array element or object
 * named `part` of a copy of ck to v; the restore into fw must fail with
 * an error naming want and change nothing. */
static void ck_refused(struct fw *fw, struct sched *s, const json_t *ck, const char *part,
		       const char *key, json_t *v, const char *want)
{
	json_t *bad = json_deep_copy(ck), *before = fw_checkpoint(fw, sched_now(s)), *after;
	json_t *at = json_object_get(bad, part);
	size_t pending = sched_pending(s);
	char err[256] = "";

	if (json_is_array(at))
		at = json_array_get(at, 0);
	assert_non_null(at);
	json_object_set_new(at, key, v);
	assert_null(fw_restore_prepare(fw, bad, sched_now(s), err, sizeof(err)));
	if (!strstr(err, want))
		fail_msg("error '%s' does not name '%s'", err, want);
	after = fw_checkpoint(fw, sched_now(s));
	assert_true(json_equal(before, after));
	assert_int_equal(sched_pending(s), pending);
	json_decref(bad);
	json_decref(before);
	json_decref(after);
}

static void test_checkpoint_refusals(void **state)
{
	struct clock_virtual vc = {0};
	struct sched *s = sched_new(clock_virtual_clock(&vc), &vc);
	struct fw *a = fw_yaml(CK_RULES, s), *b = fw_yaml(CK_RULES, s);
	struct fw *other_rule =
	    fw_yaml("      default: drop\n"
		    "      rules:\n"
		    "        - { dir: in, proto: tcp, port: 23, action: accept }\n"
		    "        - { dir: out, action: accept }\n",
		    s);
	struct fw *other_policy =
	    fw_yaml("      default: reject\n"
		    "      rules:\n"
		    "        - { dir: in, proto: tcp, port: 22, action: accept }\n"
		    "        - { dir: out, action: accept }\n",
		    s);
	struct fw *stateless = fw_yaml("      stateful: false\n" CK_RULES, s);
	struct fw *fewer = fw_yaml(STATEFUL_OUT_ONLY, s);
	char err[256];
	json_t *ck, *bad;
	struct pkt p;

	ck_fill(a, 0);
	expect(b, udp(&p, HOST, 6000, SERVER, 9, 4), FW_DIR_OUT, 0, FW_ACCEPT, 1);
	ck = fw_checkpoint(a, 0);
	/* another firewall's rules, policy or statefulness */
	assert_null(fw_restore_prepare(other_rule, ck, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "config.rules[0]"));
	assert_null(fw_restore_prepare(other_policy, ck, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "config.default"));
	assert_null(fw_restore_prepare(stateless, ck, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "config.stateful"));
	assert_null(fw_restore_prepare(fewer, ck, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "config.rules: 2 rules"));
	assert_null(fw_restore_prepare(b, json_null(), 0, err, sizeof(err)));
	/* a bad part anywhere: b keeps its own state */
	ck_refused(b, s, ck, "flows", "dir", json_string("sideways"), "flows[");
	ck_refused(b, s, ck, "flows", "src", json_string("1.2.3"), "flows[");
	ck_refused(b, s, ck, "flows", "expires_in_ns", json_integer(0), "flows[");
	ck_refused(b, s, ck, "flows", "tcp", json_pack("[i,i]", 9, 0), "flows[");
	ck_refused(b, s, ck, "frags", "rule", json_integer(2), "frags[0]");
	ck_refused(b, s, ck, "frags", "verdict", json_string("maybe"), "frags[0]");
	ck_refused(b, s, ck, "counters", "rules", json_pack("[[i,i]]", 1, 1), "counters");
	ck_refused(b, s, ck, "counters", "flows_created", json_integer(-1), "counters");
	/* a flow listed twice, once the other way round */
	bad = json_deep_copy(ck);
	{
		json_t *f = json_deep_copy(json_array_get(json_object_get(bad, "flows"), 0));
		json_t *src = json_incref(json_object_get(f, "src"));
		json_t *sport = json_incref(json_object_get(f, "sport"));

		json_object_set(f, "src", json_object_get(f, "dst"));
		json_object_set(f, "sport", json_object_get(f, "dport"));
		json_object_set_new(f, "dst", src);
		json_object_set_new(f, "dport", sport);
		json_array_append_new(json_object_get(bad, "flows"), f);
	}
	assert_null(fw_restore_prepare(b, bad, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "listed twice"));
	assert_int_equal(fw_counters(b)->flows_active, 1);
	json_decref(bad);
	json_decref(ck);
	fw_free(a);
	fw_free(b);
	fw_free(other_rule);
	fw_free(other_policy);
	fw_free(stateless);
	fw_free(fewer);
	sched_free(s);
}

/* ---- reject answers ---- */

/* Parses an answer frame and checks its IP and L4 checksums. */
static void parse_answer(uint8_t *frame, size_t len, struct ip_view *a)
{
	uint32_t sum = 0;

	assert_int_equal(ip_view_parse(frame, len, a), 0); /* checks the IP checksum */
	assert_int_equal(a->ip_len + ETH_HLEN_, len);
	if (a->ip->proto != IPPROTO_ICMP_) {
		sum = csum_add(sum, &a->ip->src, 8);
		sum += a->ip->proto;
		sum += (uint32_t)a->l4_len;
	}
	assert_int_equal(csum_fold(csum_add(sum, a->l4, a->l4_len)), 0);
}

static void assert_back_to_sender(const struct ip_view *a, const struct pkt *p)
{
	assert_memory_equal(a->eth->dst, p->v.eth->src, 6);
	assert_memory_equal(a->eth->src, p->v.eth->dst, 6);
	assert_int_equal(a->ip->src, p->v.ip->dst);
	assert_int_equal(a->ip->dst, p->v.ip->src);
	assert_int_equal(a->ip->ttl, 64);
}

static void test_reject_icmp(void **state)
{
	struct t_frame fr;
	uint8_t *out = fr.b;
	struct ip_view a;
	struct pkt p;
	size_t n;

	udp(&p, SERVER, 5000, HOST, 3478, 20);
	n = fw_reject_build(&p.v, out, sizeof(fr.b));
	assert_int_equal(n, ETH_HLEN_ + IPV4_MIN_HLEN + ICMP_HLEN + p.v.ip_len);
	parse_answer(out, n, &a);
	assert_back_to_sender(&a, &p);
	assert_int_equal(a.ip->proto, IPPROTO_ICMP_);
	assert_int_equal(a.l4[0], 3);  /* destination unreachable */
	assert_int_equal(a.l4[1], 13); /* administratively prohibited */
	assert_memory_equal(a.l4 + ICMP_HLEN, p.v.ip, p.v.ip_len);

	/* a big packet: the answer stays within 576 bytes of IP */
	udp(&p, SERVER, 5000, HOST, 3478, 1400);
	n = fw_reject_build(&p.v, out, sizeof(fr.b));
	assert_int_equal(n, ETH_HLEN_ + 576);
	parse_answer(out, n, &a);
	assert_memory_equal(a.l4 + ICMP_HLEN, p.v.ip, 576 - IPV4_MIN_HLEN - ICMP_HLEN);

	/* a small buffer: as much as fits, at least the header and 8 bytes */
	n = fw_reject_build(&p.v, out, ETH_HLEN_ + IPV4_MIN_HLEN + ICMP_HLEN + 28);
	assert_int_equal(n, ETH_HLEN_ + IPV4_MIN_HLEN + ICMP_HLEN + 28);
	parse_answer(out, n, &a);
	assert_int_equal(fw_reject_build(&p.v, out, ETH_HLEN_ + IPV4_MIN_HLEN + ICMP_HLEN + 27), 0);

	/* ICMP echo gets an unreachable too */
	echo(&p, SERVER, HOST, 8, 9);
	n = fw_reject_build(&p.v, out, sizeof(fr.b));
	assert_true(n > 0);
	parse_answer(out, n, &a);
	assert_back_to_sender(&a, &p);
	assert_int_equal(a.l4[0], 3);
}

static void test_reject_tcp(void **state)
{
	struct t_frame fr;
	uint8_t *out = fr.b;
	const struct tcp_hdr *t;
	struct ip_view a;
	struct pkt p;
	size_t n;

	/* a SYN: <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK> */
	tcp(&p, SERVER, 40000, HOST, 22, TCP_SYN, 1000, 0, 0);
	n = fw_reject_build(&p.v, out, sizeof(fr.b));
	assert_int_equal(n, ETH_HLEN_ + IPV4_MIN_HLEN + TCP_MIN_HLEN);
	parse_answer(out, n, &a);
	assert_back_to_sender(&a, &p);
	assert_int_equal(a.ip->proto, IPPROTO_TCP_);
	t = (const struct tcp_hdr *)a.l4;
	assert_int_equal(ntohs(t->sport), 22);
	assert_int_equal(ntohs(t->dport), 40000);
	assert_int_equal(t->flags, TCP_RST | TCP_ACK);
	assert_int_equal(ntohl(t->seq), 0);
	assert_int_equal(ntohl(t->ack), 1001);
	assert_int_equal(t->off >> 4, 5);

	/* data without ACK: SEG.LEN counts the data, and FIN */
	tcp(&p, SERVER, 40000, HOST, 22, TCP_FIN, 5000, 0, 10);
	n = fw_reject_build(&p.v, out, sizeof(fr.b));
	parse_answer(out, n, &a);
	assert_int_equal(ntohl(((const struct tcp_hdr *)a.l4)->ack), 5011);

	/* a segment with ACK: <SEQ=SEG.ACK><CTL=RST> */
	tcp(&p, SERVER, 40000, HOST, 22, TCP_ACK, 5000, 777, 10);
	n = fw_reject_build(&p.v, out, sizeof(fr.b));
	parse_answer(out, n, &a);
	t = (const struct tcp_hdr *)a.l4;
	assert_int_equal(t->flags, TCP_RST);
	assert_int_equal(ntohl(t->seq), 777);

	assert_int_equal(fw_reject_build(&p.v, out, ETH_HLEN_ + IPV4_MIN_HLEN + TCP_MIN_HLEN - 1),
			 0);
}

/* RFC 1812 §4.3.2.7 and RFC 9293: what is never answered. */
static void test_reject_silent(void **state)
{
	struct t_frame fr;
	uint8_t *out = fr.b;
	struct pkt p, q;

	assert_int_equal(
	    fw_reject_build(tcp(&p, SERVER, 1, HOST, 2, TCP_RST, 1, 0, 0), out, sizeof(fr.b)), 0);
	udp(&q, HOST, 1, SERVER, 2, 0);
	assert_int_equal(fw_reject_build(unreach(&p, SERVER, &q), out, sizeof(fr.b)), 0);
	assert_int_equal(
	    fw_reject_build(udp(&p, SERVER, 1, "224.0.0.251", 5353, 0), out, sizeof(fr.b)), 0);
	assert_int_equal(
	    fw_reject_build(udp(&p, "0.0.0.0", 68, "255.255.255.255", 67, 0), out, sizeof(fr.b)),
	    0);
	/* an Ethernet broadcast */
	udp(&p, SERVER, 1, HOST, 2, 0);
	memset(p.v.eth->dst, 0xff, 6);
	assert_int_equal(fw_reject_build(&p.v, out, sizeof(fr.b)), 0);
	/* a non-first fragment */
	udp(&p, SERVER, 1, HOST, 2, 40);
	p.v.ip->frag = htons(3);
	ip_csum_set(p.v.ip, IPV4_MIN_HLEN);
	assert_int_equal(ip_view_parse(p.buf, p.len, &p.v), 0);
	assert_int_equal(fw_reject_build(&p.v, out, sizeof(fr.b)), 0);
}

/* ---- natbed sim checkpoints: exact, event for event ---- */

/* A firewall in virtual time, and what its test events saw. */
struct sw {
	struct clock_virtual vc;
	struct sched *s;
	struct fw *fw;
	char trace[512];
};

static struct sw *sw_new(void)
{
	struct sw *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	w->s = sched_new(clock_virtual_clock(&w->vc), &w->vc);
	assert_non_null(w->s);
	w->fw = fw_yaml(CK_RULES, w->s);
	return w;
}

static void sw_free(struct sw *w)
{
	fw_free(w->fw);
	sched_free(w->s);
	free(w);
}

/* A test's own event: when it ran and how many flows had expired. */
static void sw_mark(void *arg, natbed_time_t now)
{
	struct sw *w = arg;
	size_t n = strlen(w->trace);

	snprintf(w->trace + n, sizeof(w->trace) - n, "%lld:%llu ",
		 (long long)(now / NATBED_NS_PER_MS),
		 (unsigned long long)fw_counters(w->fw)->flows_expired);
}

static void sw_stray(void *arg, natbed_time_t now)
{
	(void)arg;
	(void)now;
}

static const struct ckfn sw_fns[] = {CKFN(sw_mark)};
static const struct ckfns sw_table = CKFNS(test, sw_fns);
static const struct ckfns *const sw_tables[] = {&fw_ckfns, &sw_table};

/* The queue, then the world's object, then the firewall (ckround.h). */
static json_t *sw_parts_save(struct ckw *w, void *arg)
{
	struct sw *sw = arg;

	return json_pack("{s:o*,s:o*}", "world", ckw_obj(w, sw), "fw", fw_ckpt_save(sw->fw, w));
}

static int sw_parts_load(struct ckr *r, const json_t *j, void *arg)
{
	struct sw *sw = arg;

	ckr_obj(r, json_object_get(j, "world"), sw);
	return fw_ckpt_fill(sw->fw, json_object_get(j, "fw"), r);
}

static json_t *sw_save(struct sw *w, char *err, size_t errlen)
{
	return ckround_save(w->s, sw_tables, 2, sw_parts_save, w, err, errlen);
}

static int sw_load(struct sw *w, const json_t *j, char *err, size_t errlen)
{
	w->vc.now_ns = ckround_at(j);
	return ckround_load(j, &w->s, sw_tables, 2, sw_parts_load, w, err, errlen);
}

/* Both to until, event time by event time: the same next event, as many
 * run, the same counters. */
static void sw_run_both(struct sw *a, struct sw *b, natbed_time_t until)
{
	natbed_time_t t;

	while ((t = sched_next_due(a->s)) >= 0 && t <= until) {
		assert_int_equal(sched_next_due(b->s), t);
		assert_int_equal(sched_pending(b->s), sched_pending(a->s));
		assert_int_equal(sched_run_until(a->s, t), sched_run_until(b->s, t));
		assert_memory_equal(fw_counters(a->fw), fw_counters(b->fw),
				    sizeof(struct fw_counters));
	}
	sched_run_until(a->s, until);
	sched_run_until(b->s, until);
	assert_int_equal(sched_pending(b->s), sched_pending(a->s));
}

/* The same packet through a and b: the same verdict and rule. */
static void sw_both(struct sw *a, struct sw *b, struct pkt *p, enum fw_dir dir)
{
	enum fw_verdict va = fw_check(a->fw, &p->v, dir, sched_now(a->s));

	assert_int_equal(fw_check(b->fw, &p->v, dir, sched_now(b->s)), va);
	assert_int_equal(fw_last_rule(a->fw), fw_last_rule(b->fw));
}

/* Flows of each kind, one refreshed (its expiry event still at the first
 * time), one expired whose event is due but has not run, a fragment
 * record, a test event at the same time as an expiry: saved, filled into
 * a fresh firewall, saved again equal; both go on alike. */
static void test_sim_exact(void **state)
{
	struct sw *a = sw_new(), *b = sw_new();
	char err[256] = "";
	json_t *ja, *jb;
	struct pkt p;

	(void)state;
	ck_fill(a->fw, 0);
	expect(a->fw, udp(&p, HOST, 6000, SERVER, 53, 4), FW_DIR_OUT, 0, FW_ACCEPT, 1);
	sched_run_until(a->s, 30 * S);
	/* the UDP flow goes on to 150 s; its event stays at 120 s */
	expect(a->fw, udp(&p, HOST, 5000, SERVER, 3478, 4), FW_DIR_OUT, 30 * S, FW_ACCEPT, 1);
	sched_at(a->s, 150 * S, sw_mark, a);
	sched_at(a->s, 120 * S, sw_mark, a);
	sched_run_until(a->s, 120 * S - 1);
	/* at 120 s, before the events due then ran: the flows that end then
	 * are still in the table */
	a->vc.now_ns = 120 * S;
	assert_int_equal(fw_counters(a->fw)->flows_expired, 0);

	ja = sw_save(a, err, sizeof(err));
	if (!ja)
		fail_msg("save: %s", err);
	if (sw_load(b, ja, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	jb = sw_save(b, err, sizeof(err));
	assert_non_null(jb);
	assert_true(json_equal(ja, jb));
	assert_true(json_array_size(
			json_object_get(json_object_get(ckround_parts(ja), "fw"), "flows")) >= 5);
	json_decref(ja);
	json_decref(jb);

	/* a reply of the expired flow (met on the way, freed), a new flow */
	udp(&p, SERVER, 53, HOST, 6000, 4);
	sw_both(a, b, &p, FW_DIR_IN);
	udp(&p, HOST, 7000, SERVER, 53, 4);
	sw_both(a, b, &p, FW_DIR_OUT);
	sw_run_both(a, b, 140 * S);
	udp(&p, SERVER, 3478, HOST, 5000, 4);
	sw_both(a, b, &p, FW_DIR_IN);
	tcp(&p, OTHER, 40000, HOST, 22, TCP_ACK, 2, 10, 0);
	sw_both(a, b, &p, FW_DIR_IN);
	sw_run_both(a, b, 8000 * S);
	assert_string_equal(a->trace, b->trace);
	assert_true(strlen(a->trace) > 0);
	assert_int_equal(fw_counters(a->fw)->flows_active, 0);
	assert_memory_equal(fw_counters(a->fw), fw_counters(b->fw), sizeof(struct fw_counters));
	sw_free(a);
	sw_free(b);
}

/* A function in no table is refused by the writer; a broken flow by the
 * reader (the half-filled firewall frees cleanly). */
static void test_sim_refused(void **state)
{
	struct sw *a = sw_new(), *b = sw_new();
	char err[256] = "";
	uint64_t stray;
	json_t *j;

	(void)state;
	ck_fill(a->fw, 0);
	stray = sched_at(a->s, 5 * S, sw_stray, NULL);
	assert_null(sw_save(a, err, sizeof(err)));
	assert_non_null(strstr(err, "no module's table"));
	sched_cancel(a->s, stray);
	j = sw_save(a, err, sizeof(err));
	assert_non_null(j);
	json_object_set_new(
	    json_array_get(json_object_get(json_object_get(ckround_parts(j), "fw"), "flows"), 2),
	    "dir", json_string("sideways"));
	err[0] = 0;
	assert_int_equal(sw_load(b, j, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "flows[2]"));
	json_decref(j);
	sw_free(a);
	sw_free(b);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_policies),
	    cmocka_unit_test(test_bad_config),
	    cmocka_unit_test(test_established),
	    cmocka_unit_test(test_established_inbound),
	    cmocka_unit_test(test_expiry_lazy),
	    cmocka_unit_test(test_expiry_tcp),
	    cmocka_unit_test(test_expiry_sched),
	    cmocka_unit_test(test_related),
	    cmocka_unit_test(test_fragments),
	    cmocka_unit_test(test_counters),
	    cmocka_unit_test(test_checkpoint_round_trip),
	    cmocka_unit_test(test_checkpoint_refusals),
	    cmocka_unit_test(test_reject_icmp),
	    cmocka_unit_test(test_reject_tcp),
	    cmocka_unit_test(test_reject_silent),
	    cmocka_unit_test(test_sim_exact),
	    cmocka_unit_test(test_sim_refused),
	};
	/* clang-format on */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
