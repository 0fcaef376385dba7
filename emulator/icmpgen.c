#include "icmpgen.h"

#include <arpa/inet.h>
#include <string.h>

/* RFC 1812 §4.3.2.7: a source that names one host (not 0/8, 127/8,
 * multicast, class E or broadcast). */
static bool icmpgen_unique_host(uint32_t addr)
{
	uint32_t first = ntohl(addr) >> 24;

	return first != 0 && first != 127 && first < 224;
}

bool icmpgen_may_answer(const struct ip_view *v)
{
	if (!v->l4 || !icmpgen_unique_host(v->ip->src) || ntohl(v->ip->dst) >= 0xe0000000u)
		return false;	/* a later fragment, a group or broadcast address */
	if (v->eth->dst[0] & 1) /* the group bit: Ethernet broadcast or multicast */
		return false;
	if (v->ip->proto == IPPROTO_ICMP_ &&
	    (v->l4_len < ICMP_HLEN || icmp_type_is_error(v->l4[0])))
		return false;
	return true;
}

size_t icmpgen_error(const struct ip_view *v, uint8_t type, uint8_t code, uint32_t src,
		     uint8_t *out, size_t cap)
{
	const size_t hdrs = ETH_HLEN_ + IPV4_MIN_HLEN + ICMP_HLEN;
	size_t quote = v->ip_len, need = v->hlen + 8;
	struct eth_hdr *eth = (struct eth_hdr *)out;
	struct ipv4_hdr *ip = (struct ipv4_hdr *)(out + ETH_HLEN_);
	struct icmp_hdr *ic = (struct icmp_hdr *)(out + ETH_HLEN_ + IPV4_MIN_HLEN);
	struct ip_view a;

	if (!icmpgen_may_answer(v) || cap < hdrs)
		return 0;
	if (quote > ICMPGEN_IP_MAX - IPV4_MIN_HLEN - ICMP_HLEN)
		quote = ICMPGEN_IP_MAX - IPV4_MIN_HLEN - ICMP_HLEN;
	if (quote > cap - hdrs)
		quote = cap - hdrs;
	if (quote < (need < v->ip_len ? need : v->ip_len))
		return 0;
	memcpy(eth->dst, v->eth->src, 6);
	memcpy(eth->src, v->eth->dst, 6);
	eth->type = htons(ETHERTYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->ver_ihl = 0x45;
	ip->tot_len = htons((uint16_t)(IPV4_MIN_HLEN + ICMP_HLEN + quote));
	ip->ttl = ICMPGEN_TTL;
	ip->proto = IPPROTO_ICMP_;
	ip->src = src;
	ip->dst = v->ip->src;
	ip_csum_set(ip, IPV4_MIN_HLEN);
	memset(ic, 0, sizeof(*ic)); /* id and seq: the unused word, zero */
	ic->type = type;
	ic->code = code;
	memcpy(out + hdrs, v->ip, quote);
	a = (struct ip_view){.eth = eth,
			     .ip = ip,
			     .ip_len = IPV4_MIN_HLEN + ICMP_HLEN + quote,
			     .hlen = IPV4_MIN_HLEN,
			     .l4 = (uint8_t *)ic,
			     .l4_len = ICMP_HLEN + quote};
	l4_csum_set(&a);
	return ETH_HLEN_ + a.ip_len;
}

bool icmpgen_echo_reply(struct ip_view *v, uint32_t addr)
{
	struct icmp_hdr *icmp = (struct icmp_hdr *)v->l4;
	uint32_t tmp;

	if (v->ip->dst != addr || v->ip->proto != IPPROTO_ICMP_ || !v->l4 ||
	    v->l4_len < ICMP_HLEN || icmp->type != ICMP_ECHO_REQUEST || icmp->code != 0)
		return false;
	tmp = v->ip->src;
	v->ip->src = v->ip->dst;
	v->ip->dst = tmp;
	v->ip->ttl = ICMPGEN_TTL;
	ip_csum_set(v->ip, v->hlen);
	icmp->type = ICMP_ECHO_REPLY;
	l4_csum_set(v);
	return true;
}
