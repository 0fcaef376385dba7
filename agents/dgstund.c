/* natbed-stund's pure request logic behind the datagram interface. */
#include "dgstund.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct dgstund {
	const struct dgram *d;
	struct stund_config cfg;
	struct stund_counters c;
	int nsock;
	int sock[STUND_SOCKETS]; /* index: (address bit << 1) | port bit, as stund.h */
};

static void on_datagram(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf,
			size_t len, natbed_time_t now)
{
	struct dgstund *s = arg;
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	const struct sockaddr_in *to;
	uint8_t out[STUND_MAX_DGRAM];
	struct stund_reply r;
	struct dg_ep dst;
	int i, k = 0;

	for (i = 0; i < s->nsock; i++)
		if (s->sock[i] == sock)
			k = i;
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = from->addr;
	in->sin_port = from->port;
	if (!stund_handle(&s->cfg, &s->c, k, buf, len, &ss, out, sizeof(out), &r))
		return;
	to = (const struct sockaddr_in *)&r.to;
	dst.addr = to->sin_addr.s_addr;
	dst.port = to->sin_port;
	stund_count_sent(&s->c, &r, dg_send(s->d, s->sock[r.sock], &dst, out, r.len) == 0);
}

struct dgstund *dgstund_new(const struct dgram *d, uint32_t primary, uint32_t alternate,
			    uint16_t port)
{
	struct dgstund *s = calloc(1, sizeof(*s));
	int i;

	if (!s)
		return NULL;
	s->d = d;
	s->cfg.has_alternate = alternate != 0;
	s->nsock = alternate ? STUND_SOCKETS : 1;
	for (i = 0; i < STUND_SOCKETS; i++)
		s->sock[i] = -1;
	for (i = 0; i < s->nsock; i++) {
		struct sockaddr_in *a = (struct sockaddr_in *)&s->cfg.addr[i];
		struct dg_ep bind = {
		    i & STUND_ALT_IP_BIT ? alternate : primary,
		    htons((uint16_t)(ntohs(port) + (i & STUND_ALT_PORT_BIT ? 1 : 0)))};
		struct dg_ep local;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = bind.addr;
		a->sin_port = bind.port;
		s->sock[i] = dg_open(d, &bind, &local, on_datagram, s);
		if (s->sock[i] < 0) {
			dgstund_free(s);
			return NULL;
		}
	}
	return s;
}

void dgstund_free(struct dgstund *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nsock; i++)
		dg_close(s->d, s->sock[i]);
	free(s);
}

void dgstund_counters(const struct dgstund *s, struct stund_counters *c)
{
	*c = s->c;
}
