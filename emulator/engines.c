/* natbed-emu: the engines of a topology's boxes (engines.h). */
#include "engines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/ckpt.h"
#include "natbed/jsonck.h"

/* n zeroed pointers or structs (at least one, so NULL means ENOMEM). */
static void *eng_calloc(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

static int eng_nats(struct engines *e, const struct engines_cfg *cfg, char *err, size_t errlen)
{
	const struct topo *t = e->t;
	struct nat_cfg nc;
	size_t k;

	for (k = 0; k < t->n_nats; k++) {
		nat_cfg_from_topo(&nc, &t->nats[k], t->seed);
		nc.on_event = cfg->event;
		nc.event_ctx = cfg->ctx;
		if (!(e->nats[k] = nat_new(&nc, cfg->sched))) {
			snprintf(err, errlen, "nat %s: cannot create it", t->nats[k].name);
			return -1;
		}
	}
	return 0;
}

static int eng_firewalls(struct engines *e, struct sched *s, char *err, size_t errlen)
{
	const struct topo *t = e->t;
	size_t i;

	for (i = 0; i < t->n_hosts; i++)
		if (t->hosts[i].fw.present && !(e->host_fw[i] = fw_new(&t->hosts[i].fw, s))) {
			snprintf(err, errlen, "firewall of host %s: out of memory",
				 t->hosts[i].name);
			return -1;
		}
	for (i = 0; i < t->n_nats; i++)
		if (t->nats[i].fw.present && !(e->nat_fw[i] = fw_new(&t->nats[i].fw, s))) {
			snprintf(err, errlen, "firewall of nat %s: out of memory", t->nats[i].name);
			return -1;
		}
	return 0;
}

int engines_open(struct engines *e, const struct engines_cfg *cfg, char *err, size_t errlen)
{
	const struct topo *t = cfg->topo;
	struct gate_cfg proto = {
	    .seed = t->seed, .reply = cfg->gate_reply, .event = cfg->event, .ctx = cfg->ctx};

	*e = (struct engines){.t = t};
	e->nats = eng_calloc(t->n_nats, sizeof(*e->nats));
	e->pcp = eng_calloc(t->n_nats, sizeof(*e->pcp));
	e->nat_fw = eng_calloc(t->n_nats, sizeof(*e->nat_fw));
	e->host_fw = eng_calloc(t->n_hosts, sizeof(*e->host_fw));
	e->nat_gate = eng_calloc(t->n_nats, sizeof(*e->nat_gate));
	e->host_gate = eng_calloc(t->n_hosts, sizeof(*e->host_gate));
	if (!e->nats || !e->pcp || !e->nat_fw || !e->host_fw || !e->nat_gate || !e->host_gate) {
		snprintf(err, errlen, "engines: out of memory");
		return -1;
	}
	if (eng_nats(e, cfg, err, errlen) < 0 || eng_firewalls(e, cfg->sched, err, errlen) < 0)
		return -1;
	if (gate_open_all(t, cfg->sched, &proto, e->host_gate, e->nat_gate) < 0) {
		snprintf(err, errlen, "gates: out of memory");
		return -1;
	}
	return 0;
}

void engines_close(struct engines *e)
{
	size_t i;

	if (!e->t)
		return;
	for (i = 0; e->host_gate && i < e->t->n_hosts; i++)
		gate_free(e->host_gate[i]);
	for (i = 0; e->nat_gate && i < e->t->n_nats; i++)
		gate_free(e->nat_gate[i]);
	for (i = 0; e->host_fw && i < e->t->n_hosts; i++)
		fw_free(e->host_fw[i]);
	for (i = 0; e->nat_fw && i < e->t->n_nats; i++)
		fw_free(e->nat_fw[i]);
	for (i = 0; e->nats && i < e->t->n_nats; i++)
		nat_free(e->nats[i]);
	free(e->host_gate);
	free(e->nat_gate);
	free(e->host_fw);
	free(e->nat_fw);
	free(e->pcp);
	free(e->nats);
	*e = (struct engines){0};
}

struct nat *engines_nat(const struct engines *e, const char *name)
{
	int k = topo_nat_find(e->t, name);

	return k < 0 ? NULL : e->nats[k];
}

const struct pcp_counters *engines_pcp(const struct engines *e, const char *name)
{
	int k = topo_nat_find(e->t, name);

	return k < 0 ? NULL : &e->pcp[k];
}

struct fw *engines_firewall(const struct engines *e, const char *name)
{
	int k = topo_host_find(e->t, name);

	if (k >= 0)
		return e->host_fw[k];
	k = topo_nat_find(e->t, name);
	return k >= 0 ? e->nat_fw[k] : NULL;
}

struct gate *engines_gate(const struct engines *e, const char *name)
{
	int k = topo_host_find(e->t, name);

	if (k >= 0)
		return e->host_gate[k];
	k = topo_nat_find(e->t, name);
	return k >= 0 ? e->nat_gate[k] : NULL;
}

/* --- natbed sim checkpoints --------------------------------------------------- */

const struct ckfns *const engines_ckfns[ENGINES_CKFNS_N] = {&nat_ckfns, &fw_ckfns, &gate_ckfns};

json_t *engines_ckpt_save(const struct engines *e, struct ckw *w)
{
	const struct topo *t = e->t;
	json_t *nats = json_array(), *hosts = json_array(), *j;
	size_t i;

	for (i = 0; i < t->n_nats; i++)
		json_array_append_new(
		    nats,
		    json_pack("{s:s,s:o*,s:o*,s:o*,s:o*}", "name", t->nats[i].name, "nat",
			      nat_ckpt_save(e->nats[i], w), "pcp",
			      ckw_bytes(w, &e->pcp[i], sizeof(e->pcp[i])), "fw",
			      e->nat_fw[i] ? fw_ckpt_save(e->nat_fw[i], w) : json_null(), "gate",
			      e->nat_gate[i] ? gate_ckpt_save(e->nat_gate[i], w) : json_null()));
	for (i = 0; i < t->n_hosts; i++)
		if (e->host_fw[i] || e->host_gate[i])
			json_array_append_new(
			    hosts,
			    json_pack("{s:I,s:s,s:o*,s:o*}", "index", (json_int_t)i, "name",
				      t->hosts[i].name, "fw",
				      e->host_fw[i] ? fw_ckpt_save(e->host_fw[i], w) : json_null(),
				      "gate",
				      e->host_gate[i] ? gate_ckpt_save(e->host_gate[i], w)
						      : json_null()));
	j = json_pack("{s:o,s:o}", "nats", nats, "hosts", hosts);
	if (!j || json_array_size(nats) != t->n_nats)
		ckw_fail(w, "engines: out of memory, or an engine the writer refused");
	return j;
}

/* A firewall and a gate of j (null where the engine has none) into fw,
 * g. */
static int eng_fw_gate_fill(struct fw *fw, struct gate *g, const json_t *j, const char *name,
			    struct ckr *r)
{
	const json_t *jf = json_object_get(j, "fw"), *jg = json_object_get(j, "gate");

	if (!fw != json_is_null(jf) || !g != json_is_null(jg))
		return ckr_fail(r, "engines: %s: a firewall or gate the topology does not give",
				name);
	if (fw && fw_ckpt_fill(fw, jf, r) < 0)
		return -1;
	return g ? gate_ckpt_fill(g, jg, r) : 0;
}

int engines_ckpt_fill(struct engines *e, const json_t *j, struct ckr *r)
{
	const json_t *nats = json_object_get(j, "nats"), *hosts = json_object_get(j, "hosts");
	const struct topo *t = e->t;
	size_t i, k = 0;

	if (!json_is_array(nats) || json_array_size(nats) != t->n_nats || !json_is_array(hosts))
		return ckr_fail(r, "engines: nats or hosts: not the topology's");
	for (i = 0; i < t->n_nats; i++) {
		const json_t *jn = json_array_get(nats, i);
		const char *name = json_string_value(json_object_get(jn, "name"));

		if (!name || strcmp(name, t->nats[i].name) != 0)
			return ckr_fail(r, "engines: nats[%zu]: not nat %s", i, t->nats[i].name);
		if (nat_ckpt_fill(e->nats[i], json_object_get(jn, "nat"), r) < 0 ||
		    ckr_bytes(r, json_object_get(jn, "pcp"), &e->pcp[i], sizeof(e->pcp[i])) < 0 ||
		    eng_fw_gate_fill(e->nat_fw[i], e->nat_gate[i], jn, name, r) < 0)
			return -1;
	}
	for (i = 0; i < t->n_hosts; i++) {
		const json_t *jh;
		const char *name;
		json_int_t index;

		if (!e->host_fw[i] && !e->host_gate[i])
			continue;
		jh = json_array_get(hosts, k++);
		name = json_string_value(json_object_get(jh, "name"));
		if (jsonck_int(json_object_get(jh, "index"), 0, (json_int_t)t->n_hosts - 1,
			       &index) < 0 ||
		    (size_t)index != i || !name || strcmp(name, t->hosts[i].name) != 0)
			return ckr_fail(r, "engines: hosts[%zu]: not host %s", k - 1,
					t->hosts[i].name);
		if (eng_fw_gate_fill(e->host_fw[i], e->host_gate[i], jh, name, r) < 0)
			return -1;
	}
	if (k != json_array_size(hosts))
		return ckr_fail(r, "engines: hosts: %zu listed, the topology gives %zu",
				json_array_size(hosts), k);
	return 0;
}
