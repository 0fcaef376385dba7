#include "fw_int.h"

#include "icmpgen.h"
#include "icmpq.h"
#include "natbed/ckpt.h"
#include "tcpst.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* IP protocol numbers of enum topo_fw_proto (0: any). */
static const uint8_t fw_proto_num[] = {
    [TOPO_FW_PROTO_ANY] = 0,
    [TOPO_FW_PROTO_UDP] = IPPROTO_UDP_,
    [TOPO_FW_PROTO_TCP] = IPPROTO_TCP_,
    [TOPO_FW_PROTO_ICMP] = IPPROTO_ICMP_,
};

const char *fw_verdict_name(enum fw_verdict v)
{
	static const char *const names[FW_VERDICT_COUNT] = {"accept", "drop", "reject"};

	return (unsigned)v < FW_VERDICT_COUNT ? names[v] : "unknown";
}

/* --- packets ------------------------------------------------------------- */

/* The key of a packet of proto from src to dst whose L4 bytes are l4[len]
 * (l4 NULL: a non-first fragment, no ports). */
static void fw_tuple_of(uint8_t proto, uint32_t src, uint32_t dst, const uint8_t *l4, size_t len,
			struct fw_tuple *t)
{
	memset(t, 0, sizeof(*t));
	t->proto = proto;
	t->src = src;
	t->dst = dst;
	if (!l4)
		return;
	if ((proto == IPPROTO_UDP_ || proto == IPPROTO_TCP_) && len >= 4) {
		memcpy(&t->sport, l4, 2);
		memcpy(&t->dport, l4 + 2, 2);
		t->ports = true;
	} else if (proto == IPPROTO_ICMP_ && len >= ICMP_HLEN &&
		   (l4[0] == ICMP_ECHO_REQUEST || l4[0] == ICMP_ECHO_REPLY)) {
		memcpy(&t->sport, l4 + 4, 2);
		t->dport = t->sport;
	}
}

static void fw_tuple_reverse(const struct fw_tuple *t, struct fw_tuple *r)
{
	*r = *t;
	r->src = t->dst;
	r->dst = t->src;
	r->sport = t->dport;
	r->dport = t->sport;
}

static bool fw_tuple_eq(const struct fw_tuple *a, const struct fw_tuple *b)
{
	return a->proto == b->proto && a->src == b->src && a->dst == b->dst &&
	       a->sport == b->sport && a->dport == b->dport;
}

/* --- rules --------------------------------------------------------------- */

static bool fw_net_has(const struct topo_fw_net *n, uint32_t addr)
{
	uint32_t mask = n->len ? ~(uint32_t)0 << (32 - n->len) : 0;

	return ((ntohl(addr) ^ ntohl(n->addr.s_addr)) & mask) == 0;
}

static bool fw_ports_have(const struct topo_fw_ports *p, uint16_t port)
{
	uint16_t h = ntohs(port);

	return h >= p->lo && h <= p->hi;
}

static bool fw_rule_matches(const struct topo_fw_rule *r, const struct fw_tuple *t, enum fw_dir dir)
{
	if (r->dir != TOPO_FW_DIR_ANY && (r->dir == TOPO_FW_DIR_IN) != (dir == FW_DIR_IN))
		return false;
	if (r->proto != TOPO_FW_PROTO_ANY && fw_proto_num[r->proto] != t->proto)
		return false;
	if ((r->set & TOPO_FW_FROM) && !fw_net_has(&r->from, t->src))
		return false;
	if ((r->set & TOPO_FW_TO) && !fw_net_has(&r->to, t->dst))
		return false;
	/* a rule with a port speaks of UDP and TCP only */
	if ((r->set & (TOPO_FW_PORT | TOPO_FW_SPORT)) && !t->ports)
		return false;
	if ((r->set & TOPO_FW_PORT) && !fw_ports_have(&r->port, t->dport))
		return false;
	if ((r->set & TOPO_FW_SPORT) && !fw_ports_have(&r->sport, t->sport))
		return false;
	return true;
}

/* Index of the first rule t matches, or FW_RULE_DEFAULT. */
static int fw_match(const struct fw *fw, const struct fw_tuple *t, enum fw_dir dir)
{
	size_t i;

	for (i = 0; i < fw->cfg.n_rules; i++)
		if (fw_rule_matches(&fw->cfg.rules[i], t, dir))
			return (int)i;
	return FW_RULE_DEFAULT;
}

/* --- the flow table ------------------------------------------------------ */

/* The same bucket for a tuple and its reverse, so one walk finds a flow
 * from either end. */
size_t fw_hash(const struct fw_tuple *t)
{
	uint64_t a = (uint64_t)t->src << 16 | t->sport, b = (uint64_t)t->dst << 16 | t->dport;
	uint64_t h = (a ^ b) * 0x9e3779b97f4a7c15ull + (a + b) + t->proto;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 29;
	return (size_t)(h & (FW_BUCKETS - 1));
}

static natbed_time_t fw_timeout(const struct fw_flow *f)
{
	if (f->t.proto == IPPROTO_TCP_)
		return tcpst_established(&f->tcp) ? FW_TCP_ESTABLISHED_NS : FW_TCP_TRANSITORY_NS;
	if (f->t.proto == IPPROTO_ICMP_)
		return FW_ICMP_TIMEOUT_NS;
	return FW_UDP_TIMEOUT_NS;
}

static void fw_flow_unlink(struct fw *fw, struct fw_flow *f)
{
	struct fw_flow **pp = &fw->buckets[fw_hash(&f->t)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == f) {
			*pp = f->hnext;
			break;
		}
	}
	fw->c.flows_active--;
}

static void fw_flow_expire(struct fw *fw, struct fw_flow *f)
{
	fw_flow_unlink(fw, f);
	if (f->expiry_ev)
		sched_cancel(fw->s, f->expiry_ev);
	fw->c.flows_expired++;
	free(f);
}

/* Refreshes move `expires`; the event re-arms itself when it fires early,
 * so a refresh costs no scheduler work. */
static void fw_expiry_cb(void *arg, natbed_time_t now)
{
	struct fw_flow *f = arg;

	if (f->expires > now) {
		f->expiry_ev = sched_at(f->fw->s, f->expires, fw_expiry_cb, f);
		if (f->expiry_ev)
			return;
	}
	f->expiry_ev = 0;
	fw_flow_expire(f->fw, f);
}

/* The live flow t belongs to, in either orientation (*reply: t runs
 * against it). Flows found expired on the way are freed: the table is
 * exact in time even when the scheduler runs late or not at all. */
struct fw_flow *fw_flow_find(struct fw *fw, const struct fw_tuple *t, natbed_time_t now,
			     bool *reply)
{
	struct fw_flow **pp = &fw->buckets[fw_hash(t)], *f;
	struct fw_tuple r;

	fw_tuple_reverse(t, &r);
	while ((f = *pp)) {
		if (f->expires <= now) {
			fw_flow_expire(fw, f);
			continue;
		}
		if (fw_tuple_eq(&f->t, t) || fw_tuple_eq(&f->t, &r)) {
			*reply = !fw_tuple_eq(&f->t, t);
			return f;
		}
		pp = &f->hnext;
	}
	return NULL;
}

/* RFC 5382 §2.1: a segment of TCP flow f went by, from its opener (A) or
 * as a reply (B). */
static void fw_tcp_track(struct fw_flow *f, const struct ip_view *v, bool reply)
{
	if (f->t.proto == IPPROTO_TCP_ && v->l4 && v->l4_len >= TCP_MIN_HLEN)
		tcpst_track(&f->tcp, ((const struct tcp_hdr *)v->l4)->flags,
			    reply ? TCPST_B : TCPST_A);
}

/* A packet of flow f went by: its state and lifetime follow. */
static void fw_flow_seen(struct fw_flow *f, const struct ip_view *v, bool reply, natbed_time_t now)
{
	if (reply)
		f->replied = true;
	fw_tcp_track(f, v, reply);
	f->expires = now + fw_timeout(f);
}

int fw_flow_insert(struct fw *fw, struct fw_flow *f)
{
	size_t b;

	f->fw = fw;
	if (fw->s) {
		f->expiry_ev = sched_at(fw->s, f->expires, fw_expiry_cb, f);
		if (!f->expiry_ev)
			return -1;
	}
	b = fw_hash(&f->t);
	f->hnext = fw->buckets[b];
	fw->buckets[b] = f;
	fw->c.flows_active++;
	return 0;
}

static void fw_flow_new(struct fw *fw, const struct fw_tuple *t, enum fw_dir dir,
			const struct ip_view *v, natbed_time_t now)
{
	struct fw_flow *f;

	if (fw->c.flows_active >= FW_FLOWS_MAX || !(f = calloc(1, sizeof(*f)))) {
		fw->c.flows_untracked++;
		return;
	}
	f->t = *t;
	f->dir = dir;
	fw_flow_seen(f, v, false, now);
	if (fw_flow_insert(fw, f) < 0) {
		free(f);
		fw->c.flows_untracked++;
		return;
	}
	fw->c.flows_created++;
}

/* ICMP error v travelling back to the sender of a packet of a tracked
 * flow is part of that flow (what conntrack calls related): it quotes the
 * packet (RFC 792, RFC 1812 §4.3.2.3), whose key finds the flow. It
 * neither refreshes nor ends the flow (as RFC 4787 REQ-12 asks of NATs). */
static struct fw_flow *fw_related(struct fw *fw, const struct ip_view *v, enum fw_dir dir,
				  natbed_time_t now)
{
	struct icmpq q;
	struct fw_tuple t;
	struct fw_flow *f;
	bool reply = false;

	if (icmpq_parse(v, &q) < 0 || q.ip->src != v->ip->dst)
		return NULL;
	fw_tuple_of(q.ip->proto, q.ip->src, q.ip->dst, q.l4, q.l4_len, &t);
	f = fw_flow_find(fw, &t, now, &reply);
	/* the quoted packet went the other way from its error */
	if (!f || (reply ? f->dir != dir : f->dir == dir))
		return NULL;
	return f;
}

/* --- deciding ------------------------------------------------------------ */

static void fw_count(struct fw_count *c, const struct ip_view *v)
{
	c->packets++;
	c->bytes += v->ip_len;
}

static enum fw_verdict fw_verdict_of(enum topo_fw_action a)
{
	return a == TOPO_FW_DROP ? FW_DROP : a == TOPO_FW_REJECT ? FW_REJECT : FW_ACCEPT;
}

/* Counts packet v as decided by rule (a rule index, FW_RULE_DEFAULT or
 * FW_RULE_ESTABLISHED) with verdict, and returns the verdict. */
static enum fw_verdict fw_decided(struct fw *fw, const struct ip_view *v, int rule,
				  enum fw_verdict verdict)
{
	if (rule >= 0)
		fw_count(&fw->c.rules[rule], v);
	else if (rule == FW_RULE_ESTABLISHED)
		fw_count(&fw->c.established, v);
	else
		fw_count(&fw->c.policy, v);
	fw->c.verdicts[verdict]++;
	fw->last = rule;
	return verdict;
}

/* The rules and the flow table decide v. */
static enum fw_verdict fw_decide(struct fw *fw, const struct ip_view *v, enum fw_dir dir,
				 natbed_time_t now, int *rule)
{
	struct fw_flow *f = NULL;
	struct fw_tuple t;
	bool reply = false, error = icmpq_is_error(v);
	/* ICMP errors and non-first fragments belong to no flow of their own */
	bool track = fw->cfg.stateful && !error && v->l4;
	enum fw_verdict verdict;

	fw_tuple_of(v->ip->proto, v->ip->src, v->ip->dst, v->l4, v->l4_len, &t);
	*rule = FW_RULE_ESTABLISHED;
	if (fw->cfg.stateful && error && fw_related(fw, v, dir, now))
		return FW_ACCEPT;
	if (track) {
		f = fw_flow_find(fw, &t, now, &reply);
		if (f && reply && f->dir != dir) {
			fw_flow_seen(f, v, true, now);
			return FW_ACCEPT;
		}
	}
	*rule = fw_match(fw, &t, dir);
	verdict = fw_verdict_of(*rule >= 0 ? fw->cfg.rules[*rule].action : fw->cfg.policy);
	if (verdict == FW_ACCEPT && track) {
		if (!f)
			fw_flow_new(fw, &t, dir, v, now);
		else if (!reply)
			fw_flow_seen(f, v, false, now);
	}
	return verdict;
}

/* The fragment record of the datagram v belongs to, or NULL. */
static const struct fw_frag *fw_frag_find(const struct fw *fw, const struct ip_view *v,
					  natbed_time_t now)
{
	size_t i;

	for (i = 0; i < FW_FRAGS; i++) {
		const struct fw_frag *fr = &fw->frags[i];

		if (fr->expires > now && fr->id == v->ip->id && fr->proto == v->ip->proto &&
		    fr->src == v->ip->src && fr->dst == v->ip->dst)
			return fr;
	}
	return NULL;
}

static void fw_frag_note(struct fw *fw, const struct ip_view *v, int rule, enum fw_verdict verdict,
			 natbed_time_t now)
{
	struct fw_frag *fr = &fw->frags[fw->frag_next];

	fw->frag_next = (fw->frag_next + 1) % FW_FRAGS;
	fr->src = v->ip->src;
	fr->dst = v->ip->dst;
	fr->id = v->ip->id;
	fr->proto = v->ip->proto;
	fr->verdict = (uint8_t)verdict;
	fr->rule = rule;
	fr->expires = now + FW_FRAG_TIMEOUT_NS;
}

enum fw_verdict fw_check(struct fw *fw, const struct ip_view *v, enum fw_dir dir, natbed_time_t now)
{
	const struct fw_frag *fr;
	enum fw_verdict verdict;
	int rule;

	/* a later fragment follows its first; one whose first was never seen
	 * here meets the rules with what it has (no ports) */
	if (ip_frag_later(v->ip) && (fr = fw_frag_find(fw, v, now)) != NULL)
		return fw_decided(fw, v, fr->rule, fr->verdict == FW_ACCEPT ? FW_ACCEPT : FW_DROP);
	verdict = fw_decide(fw, v, dir, now, &rule);
	if (ip_frag_first(v->ip))
		fw_frag_note(fw, v, rule, verdict, now);
	return fw_decided(fw, v, rule, verdict);
}

int fw_last_rule(const struct fw *fw)
{
	return fw->last;
}

const struct fw_counters *fw_counters(const struct fw *fw)
{
	return &fw->c;
}

/* --- life ---------------------------------------------------------------- */

static bool fw_cfg_valid(const struct topo_fw *cfg)
{
	size_t i;

	if (cfg->n_rules > TOPO_FW_RULES_MAX || !topo_fw_action_name(cfg->policy))
		return false;
	for (i = 0; i < cfg->n_rules; i++) {
		const struct topo_fw_rule *r = &cfg->rules[i];

		if (!topo_fw_action_name(r->action) || !topo_fw_dir_name(r->dir) ||
		    !topo_fw_proto_name(r->proto) || r->from.len > 32 || r->to.len > 32)
			return false;
	}
	return true;
}

struct fw *fw_new(const struct topo_fw *cfg, struct sched *s)
{
	struct fw *fw;

	if (!cfg || !fw_cfg_valid(cfg))
		return NULL;
	fw = calloc(1, sizeof(*fw));
	if (!fw)
		return NULL;
	fw->cfg = *cfg;
	if (!cfg->present) {
		/* no block in the file: a firewall that lets everything by */
		memset(&fw->cfg, 0, sizeof(fw->cfg));
		fw->cfg.policy = TOPO_FW_ACCEPT;
	}
	fw->s = s;
	fw->last = FW_RULE_DEFAULT;
	return fw;
}

void fw_free(struct fw *fw)
{
	struct fw_flow *f, *next;
	size_t b;

	if (!fw)
		return;
	for (b = 0; b < FW_BUCKETS; b++) {
		for (f = fw->buckets[b]; f; f = next) {
			next = f->hnext;
			if (f->expiry_ev)
				sched_cancel(fw->s, f->expiry_ev);
			free(f);
		}
	}
	free(fw);
}

/* --- reject answers ------------------------------------------------------ */

/* Ethernet and IPv4 headers of an answer to v that carries l4_len bytes
 * of proto: MACs and addresses swapped. */
static void fw_answer_hdrs(const struct ip_view *v, uint8_t *out, uint8_t proto, size_t l4_len,
			   struct ip_view *a)
{
	struct eth_hdr *eth = (struct eth_hdr *)out;
	struct ipv4_hdr *ip = (struct ipv4_hdr *)(out + ETH_HLEN_);

	memcpy(eth->dst, v->eth->src, sizeof(eth->dst));
	memcpy(eth->src, v->eth->dst, sizeof(eth->src));
	eth->type = htons(ETHERTYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->ver_ihl = 0x45;
	ip->tot_len = htons((uint16_t)(IPV4_MIN_HLEN + l4_len));
	ip->ttl = ICMPGEN_TTL;
	ip->proto = proto;
	ip->src = v->ip->dst;
	ip->dst = v->ip->src;
	ip_csum_set(ip, IPV4_MIN_HLEN);
	a->eth = eth;
	a->ip = ip;
	a->hlen = IPV4_MIN_HLEN;
	a->ip_len = IPV4_MIN_HLEN + l4_len;
	a->l4 = out + ETH_HLEN_ + IPV4_MIN_HLEN;
	a->l4_len = l4_len;
}

/* RFC 9293 §3.10.7.1, as a closed port answers: <SEQ=SEG.ACK><CTL=RST> to
 * a segment with ACK, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. */
static size_t fw_rst_build(const struct ip_view *v, uint8_t *out, size_t cap)
{
	const struct tcp_hdr *in = (const struct tcp_hdr *)v->l4;
	size_t doff, seg_len;
	struct ip_view a;
	struct tcp_hdr *t;

	if (v->l4_len < TCP_MIN_HLEN || (in->flags & TCP_RST))
		return 0; /* RFC 9293: a RST is never answered */
	doff = (size_t)(in->off >> 4) * 4;
	if (doff < TCP_MIN_HLEN || doff > v->l4_len ||
	    cap < ETH_HLEN_ + IPV4_MIN_HLEN + TCP_MIN_HLEN)
		return 0;
	fw_answer_hdrs(v, out, IPPROTO_TCP_, TCP_MIN_HLEN, &a);
	t = (struct tcp_hdr *)a.l4;
	memset(t, 0, sizeof(*t));
	t->sport = in->dport;
	t->dport = in->sport;
	t->off = (TCP_MIN_HLEN / 4) << 4;
	if (in->flags & TCP_ACK) {
		t->seq = in->ack;
		t->flags = TCP_RST;
	} else {
		/* SYN and FIN each take one sequence number */
		seg_len = v->l4_len - doff + !!(in->flags & TCP_SYN) + !!(in->flags & TCP_FIN);
		t->ack = htonl(ntohl(in->seq) + (uint32_t)seg_len);
		t->flags = TCP_RST | TCP_ACK;
	}
	l4_csum_set(&a);
	return ETH_HLEN_ + a.ip_len;
}

size_t fw_reject_build(const struct ip_view *v, uint8_t *out, size_t cap)
{
	if (!v || !v->ip || !v->eth || !out || !icmpgen_may_answer(v))
		return 0;
	if (v->ip->proto == IPPROTO_TCP_)
		return fw_rst_build(v, out, cap);
	/* RFC 1812 §5.2.7.1: the packet was filtered */
	return icmpgen_error(v, ICMP_UNREACH, ICMP_UNREACH_FILTERED, v->ip->dst, out, cap);
}

/* --- natbed sim checkpoints: what the scheduler may call (fw_ctl.c writes) --- */

static const struct ckfn fw_fns[] = {CKFN(fw_expiry_cb)};
const struct ckfns fw_ckfns = CKFNS(fw, fw_fns);
