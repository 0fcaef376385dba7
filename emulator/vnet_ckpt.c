/* natbed virtual network's checkpoints for natbed sim (vnet.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_ckpt.h"
#include "emu_parts.h"
#include "engines.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "pkt.h"
#include "vnet_int.h"

/* Its engines, links and flows as natbed-emu's checkpoints reach them. */
static struct emu_parts vnet_parts_of(const struct vnet *v)
{
	return (struct emu_parts){&v->eng, v->links, v->flows, 0};
}

json_t *vnet_pkt_save(struct ckw *w, const void *arg)
{
	return pkt_ckpt_save(arg, w);
}

void *vnet_pkt_load(struct ckr *r, const json_t *j)
{
	struct vnet *v = ckr_get(r, json_object_get(j, "ctx"));
	struct pkt *p;

	if (!v) {
		ckr_fail(r, "vnet: a packet of no network");
		return NULL;
	}
	if (!(p = pkt_ckpt_load(v->pool, j, r)))
		return NULL;
	/* the places the steps index by: hosts, NATs, segments of v (0: the
	 * internet, n + 1: NAT n's inside) */
	if (!p->view.ip || p->in_port < 0 || (size_t)p->in_port >= v->t->n_hosts || p->host < -1 ||
	    p->host >= (int)v->t->n_hosts || p->hop < -1 || p->hop >= (int)v->t->n_nats ||
	    p->seg < 0 || p->seg > (int)v->t->n_nats) {
		ckr_fail(r, "vnet: a packet's host, NAT or segment is not this network's");
		pkt_put(v->pool, p);
		return NULL;
	}
	return p;
}

static json_t *vnet_host_save(const struct vnet_host *hh, struct ckw *w)
{
	return json_pack("{s:o,s:I,s:o}", "dg", ckw_obj(w, &hh->dg), "port_draws",
			 (json_int_t)hh->port_draws, "st", ckw_bytes(w, &hh->st, sizeof(hh->st)));
}

json_t *vnet_ckpt_save(const struct vnet *v, struct ckw *w)
{
	struct emu_parts p = vnet_parts_of(v);
	json_t *hosts = json_array(), *j;

	for (size_t h = 0; hosts && h < v->t->n_hosts; h++)
		if (json_array_append_new(hosts, vnet_host_save(&v->hosts[h], w)) < 0) {
			json_decref(hosts); /* the pack below fails: said there */
			hosts = NULL;
		}
	j = json_pack("{s:o,s:o,s:o,s:b,s:b,s:o,s:o,s:o}", "id", ckw_obj(w, v), "hosts", hosts,
		      "st", ckw_bytes(w, &v->st, sizeof(v->st)), "numbering", v->numbering,
		      "checking", v->checking, "sockets", vsock_ckpt_save(v->socks, w), "links",
		      emu_ckpt_links_save(&p, v->t, sched_now(v->s)), "engines",
		      engines_ckpt_save(&v->eng, w));
	if (!j)
		ckw_fail(w, "vnet: out of memory");
	return j;
}

int vnet_ckpt_fill(struct vnet *v, const json_t *j, struct ckr *r)
{
	const json_t *hosts = json_object_get(j, "hosts");
	struct emu_parts p = vnet_parts_of(v);
	char err[512];

	if (json_array_size(hosts) != v->t->n_hosts ||
	    !json_is_boolean(json_object_get(j, "numbering")) ||
	    !json_is_boolean(json_object_get(j, "checking")))
		return ckr_fail(r, "vnet: not a network of %zu hosts", v->t->n_hosts);
	if (ckr_obj(r, json_object_get(j, "id"), v) < 0 ||
	    ckr_bytes(r, json_object_get(j, "st"), &v->st, sizeof(v->st)) < 0)
		return -1;
	for (size_t h = 0; h < v->t->n_hosts; h++) {
		const json_t *e = json_array_get(hosts, h);
		struct vnet_host *hh = &v->hosts[h];
		json_int_t draws;

		if (jsonck_int(json_object_get(e, "port_draws"), 0, INT64_MAX, &draws) < 0)
			return ckr_fail(r, "vnet: hosts[%zu]: port_draws", h);
		hh->port_draws = (uint64_t)draws;
		if (ckr_obj(r, json_object_get(e, "dg"), &hh->dg) < 0 ||
		    ckr_bytes(r, json_object_get(e, "st"), &hh->st, sizeof(hh->st)) < 0)
			return -1;
	}
	v->numbering = json_is_true(json_object_get(j, "numbering"));
	v->checking = json_is_true(json_object_get(j, "checking"));
	if (vsock_ckpt_fill(v->socks, json_object_get(j, "sockets"), r) < 0)
		return -1;
	if (emu_ckpt_links_restore(&p, v->t, json_object_get(j, "links"), sched_now(v->s), "vnet",
				   err, sizeof(err)) < 0)
		return ckr_fail(r, "%s", err);
	return engines_ckpt_fill(&v->eng, json_object_get(j, "engines"), r);
}
