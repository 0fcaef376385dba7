/* natbed-stund's pure request logic behind the datagram interface. */
#include "dgstund.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "ckget.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"

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
	/* one loaded by a restore that failed has no dgram: nothing to close */
	for (int i = 0; s->d && i < s->nsock; i++)
		dg_close(s->d, s->sock[i]);
	free(s);
}

void dgstund_counters(const struct dgstund *s, struct stund_counters *c)
{
	*c = s->c;
}

/* --- checkpoints ---------------------------------------------------------- */

static const struct ckfn dgstund_fns[] = {CKFN(on_datagram)};
const struct ckfns dgstund_ckfns = CKFNS(dgstund, dgstund_fns);

json_t *dgstund_ckpt_save(const struct dgstund *s, struct ckw *w)
{
	json_t *socks = json_array(), *addrs = json_array();

	if (s->cfg.software) {
		ckw_fail(w, "dgstund: a SOFTWARE attribute is not saved");
		json_decref(socks);
		json_decref(addrs);
		return NULL;
	}
	for (int i = 0; i < s->nsock; i++) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&s->cfg.addr[i];
		struct dg_ep ep = {a->sin_addr.s_addr, a->sin_port};

		ckget_push(w, socks, json_integer(s->sock[i]), "dgstund: a socket");
		ckget_push(w, addrs, dg_ep_ckpt_save(&ep, w), "dgstund: an address");
	}
	return ckget_done(w,
			  json_pack("{s:o,s:o,s:b,s:o,s:o,s:o}", "id", ckw_obj(w, s), "d",
				    ckw_ref(w, s->d), "has_alternate", s->cfg.has_alternate,
				    "addrs", addrs, "socks", socks, "counters",
				    ckw_bytes(w, &s->c, sizeof(s->c))),
			  "dgstund");
}

struct dgstund *dgstund_ckpt_load(const json_t *j, struct ckr *r)
{
	const json_t *socks = json_object_get(j, "socks"), *addrs = json_object_get(j, "addrs");
	struct dgstund *s;
	size_t n = json_array_size(socks);

	/* RFC 5780 §4.1: one socket, or all four */
	if (!json_is_array(socks) || !json_is_array(addrs) || (n != 1 && n != STUND_SOCKETS) ||
	    json_array_size(addrs) != n || !json_is_boolean(json_object_get(j, "has_alternate")) ||
	    json_is_true(json_object_get(j, "has_alternate")) != (n == STUND_SOCKETS)) {
		ckr_fail(r, "dgstund: socks, addrs: not 1 or 4 sockets as has_alternate says");
		return NULL;
	}
	if (!(s = calloc(1, sizeof(*s)))) {
		ckr_fail(r, "dgstund: out of memory");
		return NULL;
	}
	s->nsock = (int)n;
	s->cfg.has_alternate = n == STUND_SOCKETS;
	for (int i = 0; i < STUND_SOCKETS; i++)
		s->sock[i] = -1;
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_in *a = (struct sockaddr_in *)&s->cfg.addr[i];
		json_int_t sock;
		struct dg_ep ep;

		if (jsonck_int(json_array_get(socks, i), 0, INT_MAX, &sock) < 0 ||
		    dg_ep_ckpt_fill(&ep, json_array_get(addrs, i), r) < 0) {
			ckr_fail(r, "dgstund: socks[%zu]: not a socket id", i);
			free(s);
			return NULL;
		}
		s->sock[i] = (int)sock;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = ep.addr;
		a->sin_port = ep.port;
	}
	if (ckr_bytes(r, json_object_get(j, "counters"), &s->c, sizeof(s->c)) < 0) {
		free(s);
		return NULL;
	}
	/* declared: r may hold it from here, a failed restore leaks it */
	if (ckr_obj(r, json_object_get(j, "id"), s) < 0 ||
	    ckr_ref(r, json_object_get(j, "d"), &s->d) < 0)
		return NULL;
	return s;
}
