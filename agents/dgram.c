#include "dgram.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "natbed/stun.h"

/* v in decimal at p, without leading zeros; returns the end. */
static char *dg_put_dec(char *p, unsigned v)
{
	char d[5];
	int n = 0;

	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = d[--n];
	return p;
}

/* Written by hand, as inet_ntop and "%s:%u" would: a simulation formats
 * several a client (inet_ntop alone went through sprintf for each). */
const char *dg_ep_str(const struct dg_ep *ep, char buf[DG_EP_STR])
{
	const uint8_t *a = (const uint8_t *)&ep->addr; /* network order */
	char *p = buf;

	for (int i = 0; i < 4; i++) {
		p = dg_put_dec(p, a[i]);
		*p++ = i < 3 ? '.' : ':';
	}
	p = dg_put_dec(p, ntohs(ep->port));
	*p = '\0';
	return buf;
}

int dg_ep_parse(const char *s, uint16_t default_port, struct dg_ep *ep)
{
	const char *colon = strchr(s, ':');
	char a[INET_ADDRSTRLEN];
	size_t alen = colon ? (size_t)(colon - s) : strlen(s);
	struct in_addr in;
	unsigned long port = default_port;
	char *end;

	if (alen == 0 || alen >= sizeof(a))
		return -1;
	memcpy(a, s, alen);
	a[alen] = '\0';
	if (inet_pton(AF_INET, a, &in) != 1)
		return -1;
	if (colon) {
		if (!colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
			return -1;
		port = strtoul(colon + 1, &end, 10);
		if (port == 0 || port > 65535)
			return -1;
	}
	ep->addr = in.s_addr;
	ep->port = htons((uint16_t)port);
	return 0;
}

void dg_ep_sockaddr(const struct dg_ep *ep, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = ep->addr;
	sa->sin_port = ep->port;
}

int dg_ep_of_stun(const struct stun_msg *m, uint16_t type, struct dg_ep *ep)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

	if (stun_msg_get_addr(m, type, &ss) < 0 || ss.ss_family != AF_INET)
		return -1;
	ep->addr = in->sin_addr.s_addr;
	ep->port = in->sin_port;
	return 0;
}

json_t *dg_ep_ckpt_save(const struct dg_ep *ep, struct ckw *w)
{
	(void)w; /* nothing to declare: plain values */
	return json_pack("[oi]", jsonck_ipv4(ep->addr), (int)ntohs(ep->port));
}

int dg_ep_of_json(const json_t *j, struct dg_ep *ep)
{
	json_int_t port;

	if (!json_is_array(j) || json_array_size(j) != 2 ||
	    jsonck_ipv4_read(json_array_get(j, 0), &ep->addr) < 0 ||
	    jsonck_int(json_array_get(j, 1), 0, 65535, &port) < 0)
		return -1;
	ep->port = htons((uint16_t)port);
	return 0;
}

int dg_ep_ckpt_fill(struct dg_ep *ep, const json_t *j, struct ckr *r)
{
	if (dg_ep_of_json(j, ep) < 0)
		return ckr_fail(r, "checkpoint: an endpoint is not [\"A.B.C.D\", port]");
	return 0;
}
