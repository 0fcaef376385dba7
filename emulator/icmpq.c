#include "icmpq.h"

bool icmpq_is_error(const struct ip_view *v)
{
	uint8_t type;

	if (v->ip->proto != IPPROTO_ICMP_ || !v->l4 || v->l4_len < ICMP_HLEN)
		return false;
	type = v->l4[0];
	return icmp_type_is_error(type);
}

int icmpq_parse(const struct ip_view *v, struct icmpq *q)
{
	size_t len;

	if (!icmpq_is_error(v) || v->l4_len < ICMP_HLEN + IPV4_MIN_HLEN + ICMPQ_L4_MIN)
		return -1;
	q->ip = (struct ipv4_hdr *)(v->l4 + ICMP_HLEN);
	len = v->l4_len - ICMP_HLEN;
	q->hlen = (size_t)(q->ip->ver_ihl & 0x0f) * 4;
	if ((q->ip->ver_ihl >> 4) != 4 || q->hlen < IPV4_MIN_HLEN || len < q->hlen + ICMPQ_L4_MIN)
		return -1;
	q->l4 = (uint8_t *)q->ip + q->hlen;
	q->l4_len = len - q->hlen;
	return 0;
}
