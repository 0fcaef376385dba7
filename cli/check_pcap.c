/* natbed check: a run's captures read with libpcap into what the checks
 * compare: addresses, ports, and a hash that a NAT's translation leaves
 * alone, so one packet can be followed from one capture to the next. */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check_int.h"

#define CK_ETH_HLEN	  14
#define CK_ETHERTYPE_IPV4 0x0800
#define CK_IPV4_MIN_HLEN  20
#define CK_UDP_HLEN	  8
#define CK_TCP_MIN_HLEN	  20
#define CK_ICMP_HLEN	  8
#define CK_PROTO_ICMP	  1
#define CK_PROTO_TCP	  6
#define CK_PROTO_UDP	  17
#define CK_IP_MF	  0x2000
#define CK_IP_OFFSET	  0x1fff

#define CK_FNV_OFFSET 0xcbf29ce484222325ull
#define CK_FNV_PRIME  0x100000001b3ull

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32n(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4); /* stays in network order */
	return v;
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * CK_FNV_PRIME;
	return h;
}

/* The hash of l4[0..len) without the bytes [skip_a, skip_a + 2) and
 * [skip_b, skip_b + 2) (what a NAT rewrites: ports, identifier, checksum)
 * and without the first four when ports is set. */
static uint64_t hash_masked(uint64_t h, const uint8_t *l4, size_t len, bool ports, size_t skip_a,
			    size_t skip_b)
{
	size_t i;

	for (i = ports ? 4 : 0; i < len; i++) {
		if ((i >= skip_a && i < skip_a + 2) || (i >= skip_b && i < skip_b + 2))
			continue;
		h = (h ^ l4[i]) * CK_FNV_PRIME;
	}
	return h;
}

static bool icmp_is_error(uint8_t type)
{
	/* RFC 792: unreachable, source quench, redirect, time exceeded,
	 * parameter problem carry the header of the packet they are about */
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

/* The packet an ICMP error quotes: its header and, when quoted, ports. */
static void parse_quote(const uint8_t *q, size_t len, struct ck_pkt *p)
{
	size_t hl;

	if (len < CK_IPV4_MIN_HLEN || (q[0] >> 4) != 4)
		return;
	hl = (size_t)(q[0] & 0x0f) * 4;
	if (hl < CK_IPV4_MIN_HLEN || hl > len)
		return;
	p->kind = CK_ICMP_ERR;
	p->q_proto = q[9];
	p->q_src = rd32n(q + 12);
	p->q_dst = rd32n(q + 16);
	if (len - hl >= 4 && (p->q_proto == CK_PROTO_UDP || p->q_proto == CK_PROTO_TCP)) {
		p->q_sport = rd16(q + hl);
		p->q_dport = rd16(q + hl + 2);
	}
}

/* The transport part of an unfragmented or first fragment. */
static void parse_l4(const uint8_t *l4, size_t len, bool whole, struct ck_pkt *p,
		     const uint8_t **payload, size_t *plen)
{
	uint64_t h = p->hash;

	if (p->proto == CK_PROTO_UDP && len >= CK_UDP_HLEN) {
		p->kind = CK_L4;
		p->sport = rd16(l4);
		p->dport = rd16(l4 + 2);
		p->hash = hash_masked(h, l4, len, true, 6, 6);
		if (whole && rd16(l4 + 4) >= CK_UDP_HLEN && rd16(l4 + 4) <= len) {
			*payload = l4 + CK_UDP_HLEN;
			*plen = rd16(l4 + 4) - CK_UDP_HLEN;
		}
	} else if (p->proto == CK_PROTO_TCP && len >= CK_TCP_MIN_HLEN) {
		p->kind = CK_L4;
		p->sport = rd16(l4);
		p->dport = rd16(l4 + 2);
		p->hash = hash_masked(h, l4, len, true, 16, 16);
	} else if (p->proto == CK_PROTO_ICMP && len >= CK_ICMP_HLEN && (l4[0] == 0 || l4[0] == 8)) {
		/* RFC 5508 REQ-3: an echo's identifier plays the port */
		p->kind = CK_L4;
		p->sport = p->dport = rd16(l4 + 4);
		p->hash = hash_masked(h, l4, len, false, 2, 4);
	} else if (p->proto == CK_PROTO_ICMP && len >= CK_ICMP_HLEN && icmp_is_error(l4[0])) {
		p->hash = hash_masked(h, l4, len, false, 2, 2);
		parse_quote(l4 + CK_ICMP_HLEN, len - CK_ICMP_HLEN, p);
	} else {
		p->hash = hash_masked(h, l4, len, false, p->proto == CK_PROTO_ICMP ? 2 : len,
				      p->proto == CK_PROTO_ICMP ? 2 : len);
	}
}

void ck_pkt_parse(const uint8_t *frame, size_t caplen, size_t len, struct ck_pkt *p,
		  const uint8_t **payload, size_t *plen)
{
	const uint8_t *ip = frame + CK_ETH_HLEN;
	size_t avail, hl, tot;
	uint16_t frag;

	memset((char *)p + offsetof(struct ck_pkt, hash), 0,
	       sizeof(*p) - offsetof(struct ck_pkt, hash));
	*payload = NULL;
	*plen = 0;
	if (caplen < CK_ETH_HLEN + CK_IPV4_MIN_HLEN || rd16(frame + 12) != CK_ETHERTYPE_IPV4 ||
	    (ip[0] >> 4) != 4)
		return;
	avail = caplen - CK_ETH_HLEN;
	hl = (size_t)(ip[0] & 0x0f) * 4;
	tot = rd16(ip + 2);
	if (hl < CK_IPV4_MIN_HLEN || tot < hl || hl > avail)
		return;
	p->kind = CK_IP;
	p->proto = ip[9];
	p->src = rd32n(ip + 12);
	p->dst = rd32n(ip + 16);
	frag = rd16(ip + 6);
	/* what a NAT leaves alone of the IP header */
	p->hash = fnv(CK_FNV_OFFSET, ip + 9, 1);
	p->hash = fnv(p->hash, ip + 2, 6); /* length, identification, fragment field */
	if (tot > avail)
		tot = avail; /* cut by the snap length: hash what both copies kept */
	if (frag & CK_IP_OFFSET) {
		p->kind = CK_FRAG;
		p->hash = fnv(p->hash, ip + hl, tot - hl);
		return;
	}
	parse_l4(ip + hl, tot - hl, !(frag & CK_IP_MF) && caplen >= len, p, payload, plen);
}

void ck_cap_clear(struct ck_cap *c)
{
	if (!c)
		return;
	free(c->p);
	c->p = NULL;
	c->n = 0;
	c->present = false;
}

static int cap_push(struct ck_cap *c, size_t *cap, const struct ck_pkt *p)
{
	struct ck_pkt *n;

	if (c->n == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		if (!(n = realloc(c->p, *cap * sizeof(*n))))
			return -ENOMEM;
		c->p = n;
	}
	c->p[c->n++] = *p;
	return 0;
}

int ck_cap_load(struct ck_cap *c, const char *path, ck_udp_fn fn, void *ctx, char *err,
		size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	struct pcap_pkthdr *h;
	const uint8_t *data, *payload;
	struct ck_pkt p;
	struct stat st;
	size_t cap = 0, plen;
	pcap_t *pc;
	int rc;

	c->p = NULL;
	c->n = 0;
	c->present = false;
	if (stat(path, &st) < 0 && errno == ENOENT)
		return 0;
	pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	if (!pc) {
		snprintf(err, errlen, "%s: %s", path, ebuf);
		return -1;
	}
	if (pcap_datalink(pc) != DLT_EN10MB) {
		snprintf(err, errlen, "%s: not an Ethernet capture (link type %d)", path,
			 pcap_datalink(pc));
		pcap_close(pc);
		return -1;
	}
	c->present = true;
	while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
		ck_pkt_parse(data, h->caplen, h->len, &p, &payload, &plen);
		p.t_ns = (int64_t)h->ts.tv_sec * NATBED_NS_PER_S + h->ts.tv_usec;
		p.no = (uint32_t)(c->n + 1);
		if (cap_push(c, &cap, &p) < 0) {
			snprintf(err, errlen, "%s: out of memory", path);
			pcap_close(pc);
			ck_cap_clear(c);
			return -1;
		}
		if (fn && payload)
			fn(ctx, c, &c->p[c->n - 1], payload, plen);
	}
	/* a run killed mid-write leaves a cut last record: what came before counts */
	if (rc == -1 && c->n == 0 && strstr(pcap_geterr(pc), "truncated") == NULL) {
		snprintf(err, errlen, "%s: %s", path, pcap_geterr(pc));
		pcap_close(pc);
		ck_cap_clear(c);
		return -1;
	}
	pcap_close(pc);
	return 0;
}
