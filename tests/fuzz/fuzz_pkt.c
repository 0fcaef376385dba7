#include "fuzz_pkt.h"
#include "../support/ref_csum.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"

/* 2: the IPv4 header after 14 bytes of Ethernet lands 4-byte aligned */
#define FUZZ_FRAME_ALIGN 2

uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t b;

	if (in->n == 0)
		return 0;
	b = in->p[0];
	in->p++;
	in->n--;
	return b;
}

uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t hi = fuzz_u8(in);

	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t hi = fuzz_u16(in);

	return hi << 16 | fuzz_u16(in);
}

uint8_t *fuzz_frame_take(struct fuzz_in *in, size_t *len)
{
	size_t n = fuzz_u16(in);
	uint8_t *mem;

	if (in->n == 0)
		return NULL;
	if (n > in->n)
		n = in->n;
	if (n > PKT_MAX_FRAME)
		n = PKT_MAX_FRAME;
	mem = malloc(FUZZ_FRAME_ALIGN + n);
	if (!mem)
		return NULL;
	memcpy(mem + FUZZ_FRAME_ALIGN, in->p, n);
	in->p += n;
	in->n -= n;
	*len = n;
	return mem + FUZZ_FRAME_ALIGN;
}

void fuzz_frame_free(uint8_t *frame)
{
	if (frame)
		free(frame - FUZZ_FRAME_ALIGN);
}

void fuzz_frame_fix(uint8_t *frame, size_t len)
{
	struct ipv4_hdr *ip;
	size_t room, hlen, tot;
	struct ip_view v;

	if (len < ETH_HLEN_ + IPV4_MIN_HLEN)
		return;
	ip = (struct ipv4_hdr *)(frame + ETH_HLEN_);
	room = len - ETH_HLEN_;
	hlen = (size_t)(ip->ver_ihl & 0x0f) * 4;
	if (hlen < IPV4_MIN_HLEN || hlen > room) {
		hlen = IPV4_MIN_HLEN;
		ip->ver_ihl = 0x05;
	}
	ip->ver_ihl = (uint8_t)(0x40 | (ip->ver_ihl & 0x0f));
	tot = ntohs(ip->tot_len);
	if (tot < hlen || tot > room)
		ip->tot_len = htons((uint16_t)room);
	ip_csum_set(ip, hlen);
	if (ip_view_parse(frame, len, &v) == 0)
		l4_csum_set(&v);
}

bool fuzz_l4_csum_ok(const struct ip_view *v, bool udp_none)
{
	size_t min;

	if (!v->l4 || (ntohs(v->ip->frag) & IPV4_FRAG_MF))
		return true;
	switch (v->ip->proto) {
	case IPPROTO_UDP_:
		min = UDP_HLEN;
		break;
	case IPPROTO_TCP_:
		min = TCP_MIN_HLEN;
		break;
	case IPPROTO_ICMP_:
		min = ICMP_HLEN;
		break;
	default:
		return true;
	}
	if (v->l4_len < min)
		return true;
	return ref_l4_csum_ok((const uint8_t *)v->ip, v->l4, v->l4_len, udp_none);
}

bool fuzz_udp_csum_none(const struct ip_view *v)
{
	return v->ip->proto == IPPROTO_UDP_ && v->l4 && v->l4_len >= UDP_HLEN && v->l4[6] == 0 &&
	       v->l4[7] == 0;
}

const uint8_t *fuzz_quoted_udp(const struct ip_view *v)
{
	const uint8_t *q;
	size_t hlen;

	if (v->ip->proto != IPPROTO_ICMP_ || !v->l4 ||
	    v->l4_len < ICMP_HLEN + IPV4_MIN_HLEN + UDP_HLEN)
		return NULL;
	/* RFC 792: destination unreachable, time exceeded, parameter problem */
	if (v->l4[0] != 3 && v->l4[0] != 11 && v->l4[0] != 12)
		return NULL;
	q = v->l4 + ICMP_HLEN;
	hlen = (size_t)(q[0] & 0x0f) * 4;
	if (q[9] != IPPROTO_UDP_ || hlen < IPV4_MIN_HLEN || v->l4_len < ICMP_HLEN + hlen + UDP_HLEN)
		return NULL;
	return q + hlen;
}
