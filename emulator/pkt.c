#include "pkt.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/ckpt.h"
#include "natbed/jsonck.h"

/* Packets are allocated in slabs so freeing the pool frees everything,
 * including packets still waiting on scheduler events. */
#define PKT_SLAB 256

struct pkt_slab {
	struct pkt_slab *next;
	struct pkt pkts[PKT_SLAB];
};

struct pkt_pool {
	struct pkt *free;
	struct pkt_slab *slabs;
	size_t made;
	size_t max;
	size_t in_use;
};

struct pkt_pool *pkt_pool_new(size_t max)
{
	struct pkt_pool *pp = calloc(1, sizeof(*pp));

	if (pp)
		pp->max = max;
	return pp;
}

void pkt_pool_free(struct pkt_pool *pp)
{
	struct pkt_slab *s, *next;

	if (!pp)
		return;
	for (s = pp->slabs; s; s = next) {
		next = s->next;
		free(s);
	}
	free(pp);
}

static int pkt_pool_grow(struct pkt_pool *pp)
{
	struct pkt_slab *s;
	size_t i;

	if (pp->made + PKT_SLAB > pp->max)
		return -1;
	s = malloc(sizeof(*s));
	if (!s)
		return -1;
	s->next = pp->slabs;
	pp->slabs = s;
	for (i = 0; i < PKT_SLAB; i++) {
		s->pkts[i].next = pp->free;
		pp->free = &s->pkts[i];
	}
	pp->made += PKT_SLAB;
	return 0;
}

struct pkt *pkt_get(struct pkt_pool *pp)
{
	struct pkt *p;

	if (!pp->free && pkt_pool_grow(pp) < 0)
		return NULL;
	p = pp->free;
	pp->free = p->next;
	p->next = NULL;
	p->data = p->buf + PKT_HEADROOM;
	p->len = 0;
	p->in_port = p->out_port = p->host = -1;
	p->seg = p->hop = 0;
	p->flags = 0;
	p->rx_ns = 0;
	p->flow_key = p->seq = 0;
	memset(&p->view, 0, sizeof(p->view));
	pp->in_use++;
	return p;
}

void pkt_put(struct pkt_pool *pp, struct pkt *p)
{
	if (!p)
		return;
	p->next = pp->free;
	pp->free = p;
	pp->in_use--;
}

struct pkt *pkt_clone(struct pkt_pool *pp, const struct pkt *p)
{
	struct pkt *q = pkt_get(pp);
	uint8_t *data;

	if (!q)
		return NULL;
	data = q->buf + (p->data - p->buf);
	memcpy(data, p->data, p->len);
	memcpy(q, p, offsetof(struct pkt, buf)); /* the fields; buf stays q's own */
	q->data = data;
	q->next = NULL;
	if (p->view.ip)
		ip_view_rebase(&q->view, p->data, q->data);
	return q;
}

size_t pkt_pool_in_use(const struct pkt_pool *pp)
{
	return pp->in_use;
}

/* --- checkpoints ------------------------------------------------------------ */

/* Where q lies in p's frame, or -1 for NULL. */
static json_int_t pkt_off(const struct pkt *p, const void *q)
{
	return q ? (json_int_t)((const uint8_t *)q - p->data) : -1;
}

json_t *pkt_ckpt_save(const struct pkt *p, struct ckw *w)
{
	const struct ip_view *v = &p->view;
	json_t *j = json_pack(
	    "{s:I,s:o,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:o,s:I,s:o,s:[IIIIII]}", "at",
	    (json_int_t)(p->data - p->buf), "frame", ckw_bytes(w, p->data, p->len), "in_port",
	    p->in_port, "out_port", p->out_port, "seg", p->seg, "hop", p->hop, "host", p->host,
	    "flags", (json_int_t)p->flags, "rx_ns", (json_int_t)p->rx_ns, "flow_key",
	    jsonck_u64(p->flow_key, true), "seq", (json_int_t)p->seq, "ctx", ckw_ref(w, p->ctx),
	    "view", pkt_off(p, v->eth), pkt_off(p, v->ip), (json_int_t)v->ip_len,
	    (json_int_t)v->hlen, pkt_off(p, v->l4), (json_int_t)v->l4_len);

	if (!j)
		ckw_fail(w, "packet: out of memory");
	return j;
}

/* The pointer at offset j of p's frame (-1: NULL) into *out. 0 or -1. */
static int pkt_at(const struct pkt *p, const json_t *j, uint8_t **out)
{
	json_int_t off;

	if (jsonck_int(j, -1, (json_int_t)p->len, &off) < 0)
		return -1;
	*out = off < 0 ? NULL : p->data + off;
	return 0;
}

struct pkt *pkt_ckpt_load(struct pkt_pool *pp, const json_t *j, struct ckr *r)
{
	const json_t *frame = json_object_get(j, "frame"), *view = json_object_get(j, "view");
	json_int_t at, in_port, out_port, seg, hop, host, flags, rx_ns, seq, ip_len, hlen, l4_len;
	uint8_t *eth, *ip, *l4;
	size_t len = json_string_length(frame) / 2;
	struct pkt *p;

	if (jsonck_int(json_object_get(j, "at"), 0, PKT_BUF_SIZE, &at) < 0 ||
	    !json_is_string(frame) || (size_t)at + len > PKT_BUF_SIZE ||
	    jsonck_int(json_object_get(j, "in_port"), INT32_MIN, INT32_MAX, &in_port) < 0 ||
	    jsonck_int(json_object_get(j, "out_port"), INT32_MIN, INT32_MAX, &out_port) < 0 ||
	    jsonck_int(json_object_get(j, "seg"), INT32_MIN, INT32_MAX, &seg) < 0 ||
	    jsonck_int(json_object_get(j, "hop"), INT32_MIN, INT32_MAX, &hop) < 0 ||
	    jsonck_int(json_object_get(j, "host"), INT32_MIN, INT32_MAX, &host) < 0 ||
	    jsonck_int(json_object_get(j, "flags"), 0, UINT32_MAX, &flags) < 0 ||
	    jsonck_int(json_object_get(j, "rx_ns"), INT64_MIN, INT64_MAX, &rx_ns) < 0 ||
	    jsonck_int(json_object_get(j, "seq"), 0, INT64_MAX, &seq) < 0 ||
	    json_array_size(view) != 6 ||
	    jsonck_int(json_array_get(view, 2), 0, (json_int_t)len, &ip_len) < 0 ||
	    jsonck_int(json_array_get(view, 3), 0, (json_int_t)len, &hlen) < 0 ||
	    jsonck_int(json_array_get(view, 5), 0, (json_int_t)len, &l4_len) < 0) {
		ckr_fail(r, "packet: a field missing or out of range");
		return NULL;
	}
	if (!(p = pkt_get(pp))) {
		ckr_fail(r, "packet: the pool is exhausted");
		return NULL;
	}
	p->data = p->buf + at;
	p->len = len;
	if (ckr_bytes(r, frame, p->data, len) < 0 ||
	    jsonck_u64_read(json_object_get(j, "flow_key"), true, &p->flow_key) < 0 ||
	    pkt_at(p, json_array_get(view, 0), &eth) < 0 ||
	    pkt_at(p, json_array_get(view, 1), &ip) < 0 ||
	    pkt_at(p, json_array_get(view, 4), &l4) < 0 ||
	    ckr_ref(r, json_object_get(j, "ctx"), &p->ctx) < 0) {
		ckr_fail(r, "packet: its frame, flow or view");
		pkt_put(pp, p);
		return NULL;
	}
	p->in_port = (int)in_port;
	p->out_port = (int)out_port;
	p->seg = (int)seg;
	p->hop = (int)hop;
	p->host = (int)host;
	p->flags = (uint32_t)flags;
	p->rx_ns = rx_ns;
	p->seq = (uint64_t)seq;
	p->view = (struct ip_view){.eth = (struct eth_hdr *)eth,
				   .ip = (struct ipv4_hdr *)ip,
				   .ip_len = (size_t)ip_len,
				   .hlen = (size_t)hlen,
				   .l4 = l4,
				   .l4_len = (size_t)l4_len};
	/* the view as ip_view_parse makes it: the header after the Ethernet
	 * one, the transport after the IP header, lengths within the frame */
	if (ip && (eth != p->data || ip != p->data + ETH_HLEN_ || hlen < IPV4_MIN_HLEN ||
		   ip_len < hlen || (size_t)(ETH_HLEN_ + ip_len) > len ||
		   (l4 && (l4 != ip + hlen || l4_len != ip_len - hlen)))) {
		ckr_fail(r, "packet: its view does not fit its frame");
		pkt_put(pp, p);
		return NULL;
	}
	return p;
}
