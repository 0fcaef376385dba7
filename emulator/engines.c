/* natbed-emu: the engines of a topology's boxes (engines.h). */
#include "engines.h"

#include <stdio.h>
#include <stdlib.h>

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
