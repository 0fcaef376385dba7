#include "proto.h"

#include <arpa/inet.h>
#include <string.h>

/* acc + x with the carry out of 64 bits added back in. */
static inline uint64_t csum_acc(uint64_t acc, uint64_t x)
{
	acc += x;
	return acc + (acc < x);
}

/* Eight bytes a step, with the carry out of the 64-bit sum added back in
 * (one's complement: 2^64 = 1 modulo 0xffff), in the machine's byte order,
 * folded and swapped back at the end (RFC 1071 §2(B): the sum is the same
 * in either order, bytes swapped): every packet is summed once or twice in
 * natbed sim. The value returned is not the two-bytes-a-step sum, but it
 * folds to the same 16 bits with anything added to it: it is congruent to
 * it modulo 0xffff (2^16 = 1 there) and zero exactly when that sum is (all
 * bytes zero: an end-around carry never makes a sum of words zero). */
uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = 0, w;
	uint32_t w4;
	uint16_t w2, be;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		acc = csum_acc(acc, w);
	}
	/* The tail in loads of 4, 2 and 1 bytes (a variable-length copy into
	 * a word was made byte by byte and read back whole: a stall). */
	if (len >= 4) {
		memcpy(&w4, p, 4);
		acc = csum_acc(acc, w4);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&w2, p, 2);
		acc = csum_acc(acc, w2);
		p += 2;
		len -= 2;
	}
	if (len) { /* the high byte of the last word, zero below it */
		const uint8_t pad[2] = {p[0], 0};

		memcpy(&w2, pad, 2); /* in registers: no store read back */
		acc = csum_acc(acc, w2);
	}
	acc = (acc & 0xffffffffu) + (acc >> 32);
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	be = ntohs((uint16_t)acc);
	return sum + be;
}

uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int ip_view_parse(uint8_t *frame, size_t len, struct ip_view *v)
{
	struct ipv4_hdr *ip;
	size_t hlen, tot;

	if (len < ETH_HLEN_ + IPV4_MIN_HLEN)
		return -1;
	v->eth = (struct eth_hdr *)frame;
	ip = (struct ipv4_hdr *)(frame + ETH_HLEN_);
	hlen = (size_t)(ip->ver_ihl & 0x0f) * 4;
	tot = ntohs(ip->tot_len);
	/* RFC 791 §3.1: version 4, IHL >= 5, total length covers the header */
	if ((ip->ver_ihl >> 4) != 4 || hlen < IPV4_MIN_HLEN || tot < hlen || tot > len - ETH_HLEN_)
		return -1;
	if (csum_fold(csum_add(0, ip, hlen)) != 0)
		return -1;
	v->ip = ip;
	v->hlen = hlen;
	v->ip_len = tot;
	v->l4 = NULL;
	v->l4_len = 0;
	if ((ntohs(ip->frag) & IPV4_FRAG_OFFSET_MASK) == 0) {
		v->l4 = (uint8_t *)ip + hlen;
		v->l4_len = tot - hlen;
	}
	return 0;
}

void ip_view_rebase(struct ip_view *v, const uint8_t *from, uint8_t *to)
{
	v->eth = (struct eth_hdr *)(to + ((const uint8_t *)v->eth - from));
	v->ip = (struct ipv4_hdr *)(to + ((const uint8_t *)v->ip - from));
	if (v->l4)
		v->l4 = to + (v->l4 - from);
}

void flow_tuple_of(const struct ip_view *v, struct flow_tuple *t)
{
	t->src = v->ip->src;
	t->dst = v->ip->dst;
	t->proto = v->ip->proto;
	t->sport = t->dport = 0;
	if (v->l4 && v->l4_len >= 4 && (t->proto == IPPROTO_UDP_ || t->proto == IPPROTO_TCP_)) {
		memcpy(&t->sport, v->l4, 2);
		memcpy(&t->dport, v->l4 + 2, 2);
	}
}

void ip_csum_set(struct ipv4_hdr *ip, size_t hlen)
{
	ip->csum = 0;
	ip->csum = htons(csum_fold(csum_add(0, ip, hlen)));
}

static uint16_t *l4_csum_field(struct ip_view *v, size_t *min)
{
	switch (v->ip->proto) {
	case IPPROTO_UDP_:
		*min = UDP_HLEN;
		return &((struct udp_hdr *)v->l4)->csum;
	case IPPROTO_TCP_:
		*min = TCP_MIN_HLEN;
		return &((struct tcp_hdr *)v->l4)->csum;
	case IPPROTO_ICMP_:
		*min = ICMP_HLEN;
		return &((struct icmp_hdr *)v->l4)->csum;
	}
	return NULL;
}

/* RFC 768: "If the computed checksum is zero, it is transmitted as all
 * ones"; a zero field means the sender computed none. */
static uint16_t udp_csum_wire(uint8_t proto, uint16_t c)
{
	return proto == IPPROTO_UDP_ && c == 0 ? 0xffff : c;
}

void l4_csum_set(struct ip_view *v)
{
	uint16_t *field;
	uint32_t sum = 0;
	size_t min = 0;

	if (!v->l4 || (ntohs(v->ip->frag) & IPV4_FRAG_MF))
		return;
	field = l4_csum_field(v, &min);
	if (!field || v->l4_len < min)
		return;
	*field = 0;
	if (v->ip->proto != IPPROTO_ICMP_) {
		/* RFC 768 / RFC 793 pseudo-header */
		sum = csum_add(sum, &v->ip->src, 8);
		sum += v->ip->proto;
		sum += (uint32_t)v->l4_len;
	}
	sum = csum_add(sum, v->l4, v->l4_len);
	*field = htons(udp_csum_wire(v->ip->proto, csum_fold(sum)));
}

size_t udp_frame_build(uint8_t *frame, size_t cap, uint32_t src, uint16_t sport, uint32_t dst,
		       uint16_t dport, uint8_t ttl, const void *payload, size_t len)
{
	size_t total = ETH_HLEN_ + IPV4_MIN_HLEN + UDP_HLEN + len;
	struct eth_hdr *eth = (struct eth_hdr *)frame;
	struct ipv4_hdr *ip = (struct ipv4_hdr *)(frame + ETH_HLEN_);
	struct udp_hdr *u = (struct udp_hdr *)((uint8_t *)ip + IPV4_MIN_HLEN);
	struct ip_view v;

	if (total > cap || IPV4_MIN_HLEN + UDP_HLEN + len > 0xffff)
		return 0;
	memset(eth, 0, sizeof(*eth));
	eth->type = htons(ETHERTYPE_IPV4);
	ip->ver_ihl = 0x45;
	ip->tos = 0;
	ip->tot_len = htons((uint16_t)(IPV4_MIN_HLEN + UDP_HLEN + len));
	ip->id = 0;
	ip->frag = htons(0x4000); /* DF */
	ip->ttl = ttl;
	ip->proto = IPPROTO_UDP_;
	ip->src = src;
	ip->dst = dst;
	ip_csum_set(ip, IPV4_MIN_HLEN);
	u->sport = sport;
	u->dport = dport;
	u->len = htons((uint16_t)(UDP_HLEN + len));
	u->csum = 0;
	if (len)
		memcpy(u + 1, payload, len);
	v = (struct ip_view){.eth = eth,
			     .ip = ip,
			     .ip_len = IPV4_MIN_HLEN + UDP_HLEN + len,
			     .hlen = IPV4_MIN_HLEN,
			     .l4 = (uint8_t *)u,
			     .l4_len = UDP_HLEN + len};
	l4_csum_set(&v);
	return total;
}

/* RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), on *csum: not_m is the sum of
 * the old 16-bit words complemented, m_new the sum of the new words, both
 * in host order. */
static void csum_eqn3(uint16_t *csum, uint32_t not_m, uint32_t m_new)
{
	uint32_t sum = (uint32_t)(uint16_t)~ntohs(*csum) + not_m + m_new;

	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	*csum = htons((uint16_t)~sum);
}

/* The two 16-bit words of a 32-bit field in network order, summed as they
 * lie in memory (their order does not matter to the sum), complemented or
 * not. */
static uint32_t csum_words32(uint32_t v, bool complement)
{
	uint16_t w[2];

	memcpy(w, &v, sizeof(w));
	if (complement)
		return (uint32_t)(uint16_t)~ntohs(w[0]) + (uint16_t)~ntohs(w[1]);
	return (uint32_t)ntohs(w[0]) + ntohs(w[1]);
}

void ip_csum_update16(uint16_t *csum, uint16_t old_v, uint16_t new_v)
{
	csum_eqn3(csum, (uint16_t)~ntohs(old_v), ntohs(new_v));
}

void ip_csum_update32(uint16_t *csum, uint32_t old_v, uint32_t new_v)
{
	csum_eqn3(csum, csum_words32(old_v, true), csum_words32(new_v, false));
}

void l4_csum_update16(uint8_t proto, uint16_t *csum, uint16_t old_v, uint16_t new_v)
{
	if (proto == IPPROTO_UDP_ && *csum == 0)
		return; /* RFC 768: the sender computed none */
	csum_eqn3(csum, (uint16_t)~ntohs(old_v), ntohs(new_v));
	*csum = htons(udp_csum_wire(proto, ntohs(*csum)));
}

void l4_csum_update32(uint8_t proto, uint16_t *csum, uint32_t old_v, uint32_t new_v)
{
	if (proto == IPPROTO_UDP_ && *csum == 0)
		return; /* RFC 768: the sender computed none */
	csum_eqn3(csum, csum_words32(old_v, true), csum_words32(new_v, false));
	*csum = htons(udp_csum_wire(proto, ntohs(*csum)));
}

void l4_csum_break(uint8_t proto, uint16_t *csum)
{
	uint16_t c = ntohs(*csum) ^ 0x5a00;

	/* 0x5a00 would become zero: flip the other byte as well */
	if (proto == IPPROTO_UDP_ && c == 0)
		c = 0x005a;
	*csum = htons(c);
}
