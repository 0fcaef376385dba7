/* natbed virtual network's checkpoints for natbed sim (vnet.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines.h"
#include "flowtab.h"
#include "flowtab_ctl.h"
#include "linkset.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "natbed/link.h"
#include "natbed/link_ctl.h"
#include "pkt.h"
#include "vnet_int.h"

static const char *const vnet_dirs[2] = {"up", "down"};

/* Link i of v: hosts, then NATs, then "internet" (the core), last. */
static const char *vnet_link_name(const struct vnet *v, size_t i)
{
	if (i < v->t->n_hosts)
		return v->t->hosts[i].name;
	if (i < v->t->n_hosts + v->t->n_nats)
		return v->t->nats[i - v->t->n_hosts].name;
	return "internet";
}

static size_t vnet_n_links(const struct vnet *v)
{
	return v->t->n_hosts + v->t->n_nats + 1;
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

static json_t *vnet_links_save(const struct vnet *v, natbed_time_t now)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < vnet_n_links(v); i++) {
		struct link *dir[2];

		if (linkset_find(v->links, vnet_link_name(v, i), &dir[0], &dir[1]) < 0)
			continue;
		if (json_object_set_new(o, vnet_link_name(v, i),
					json_pack("{s:o,s:o}", vnet_dirs[0],
						  link_checkpoint(dir[0], now), vnet_dirs[1],
						  link_checkpoint(dir[1], now))) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *vnet_ckpt_save(const struct vnet *v, struct ckw *w)
{
	natbed_time_t now = sched_now(v->s);
	json_t *hosts = json_array(), *links = vnet_links_save(v, now), *j;

	for (size_t h = 0; hosts && h < v->t->n_hosts; h++)
		if (json_array_append_new(hosts, vnet_host_save(&v->hosts[h], w)) < 0) {
			json_decref(hosts); /* the pack below fails: said there */
			hosts = NULL;
		}
	j = json_pack("{s:o,s:o,s:o,s:b,s:b,s:o,s:o,s:o,s:o}", "id", ckw_obj(w, v), "hosts", hosts,
		      "st", ckw_bytes(w, &v->st, sizeof(v->st)), "numbering", v->numbering,
		      "checking", v->checking, "sockets", vsock_ckpt_save(v->socks, w), "links",
		      links, "flows", flowtab_checkpoint(v->flows), "engines",
		      engines_ckpt_save(&v->eng, w));
	if (!j)
		ckw_fail(w, "vnet: out of memory");
	return j;
}

/* Every link of v as j's: each checked and built aside first, then
 * adopted. 0, or -1 (said in r). */
static int vnet_links_fill(struct vnet *v, const json_t *j, natbed_time_t now, struct ckr *r)
{
	size_t n = vnet_n_links(v);
	struct link **fresh = calloc(2 * n, sizeof(*fresh));
	char err[256];
	int rc = 0;

	if (!fresh)
		return ckr_fail(r, "vnet: out of memory");
	for (size_t i = 0; i < n && !rc; i++) {
		const char *name = vnet_link_name(v, i);
		struct link *dir[2];

		if (linkset_find(v->links, name, &dir[0], &dir[1]) < 0)
			continue;
		for (int d = 0; d < 2 && !rc; d++) {
			const json_t *l = json_object_get(json_object_get(j, name), vnet_dirs[d]);

			if (!(fresh[2 * i + d] =
				  link_restore_prepare(dir[d], l, now, err, sizeof(err))))
				rc = ckr_fail(r, "vnet: links.%s.%s: %s", name, vnet_dirs[d], err);
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct link *dir[2];

		if (linkset_find(v->links, vnet_link_name(v, i), &dir[0], &dir[1]) < 0)
			continue;
		for (int d = 0; d < 2; d++) {
			if (rc)
				link_free(fresh[2 * i + d]);
			else
				link_adopt(dir[d], fresh[2 * i + d]);
		}
	}
	free(fresh);
	return rc;
}

int vnet_ckpt_fill(struct vnet *v, const json_t *j, struct ckr *r)
{
	const json_t *hosts = json_object_get(j, "hosts");
	natbed_time_t now = sched_now(v->s);
	struct flowtab *flows;
	char err[256];

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
	if (vsock_ckpt_fill(v->socks, json_object_get(j, "sockets"), r) < 0 ||
	    vnet_links_fill(v, json_object_get(j, "links"), now, r) < 0 ||
	    engines_ckpt_fill(&v->eng, json_object_get(j, "engines"), r) < 0)
		return -1;
	if (!(flows =
		  flowtab_restore_prepare(v->flows, json_object_get(j, "flows"), err, sizeof(err))))
		return ckr_fail(r, "vnet: flows: %s", err);
	flowtab_adopt(v->flows, flows);
	return 0;
}
