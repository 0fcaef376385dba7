/* Gate control, inspection and checkpoints: what `natbed ctl gate NAME
 * ...` shows and changes, and the gate's part of a checkpoint. The engine
 * (gate.c) decides; this file serialises. */
#include "gate_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/ckpt.h"
#include "natbed/jsonck.h"

#define GATE_TIME_MAX (((json_int_t)1) << 62) /* a relative time read back, ns */

/* --- the model and counters ------------------------------------------------- */

static json_t *gate_model_json(const struct topo_gate_model *m)
{
	json_t *delay = json_object(), *success = json_object();
	int l;

	for (l = 0; l < TOPO_TRUST_COUNT; l++) {
		json_object_set_new(delay, topo_trust_name(l),
				    json_pack("[I,I]", (json_int_t)m->delay[l].lo_ns,
					      (json_int_t)m->delay[l].hi_ns));
		json_object_set_new(success, topo_trust_name(l), json_real(m->success[l]));
	}
	return json_pack("{s:f,s:f,s:i,s:I,s:i,s:o,s:o,s:{s:f,s:f,s:f,s:f,s:i,s:i,s:I,s:I}}",
			 "time_scale", m->time_scale, "escalate", m->escalate, "demote_after",
			 (int)m->demote_after, "pinhole_ttl_ns", (json_int_t)m->pinhole_ttl_ns,
			 "replay_window", (int)m->replay_window, "delay_ns", delay, "success",
			 success, "risk", "factor", m->risk_factor, "failures", m->w_failures,
			 "rate", m->w_rate, "idle", m->w_idle, "failures_max", (int)m->failures_max,
			 "rate_max", (int)m->rate_max, "rate_window_ns",
			 (json_int_t)m->rate_window_ns, "idle_max_ns", (json_int_t)m->idle_max_ns);
}

static int gate_real_read(const json_t *j, double lo, double hi, double *out)
{
	double v;

	if (!json_is_number(j))
		return -1;
	v = json_number_value(j);
	if (!(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

static int gate_u32_read(const json_t *j, json_int_t lo, json_int_t hi, uint32_t *out)
{
	json_int_t v;

	if (jsonck_int(j, lo, hi, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int gate_ns_read(const json_t *j, json_int_t lo, natbed_time_t *out)
{
	json_int_t v;

	if (jsonck_int(j, lo, GATE_TIME_MAX, &v) < 0)
		return -1;
	*out = (natbed_time_t)v;
	return 0;
}

/* Reads a model back, as strictly as the loader reads one. */
static int gate_model_read(const json_t *j, struct topo_gate_model *m)
{
	const json_t *delay = json_object_get(j, "delay_ns"), *succ = json_object_get(j, "success");
	const json_t *risk = json_object_get(j, "risk");
	int l;

	if (gate_real_read(json_object_get(j, "time_scale"), 1e-12, 1000, &m->time_scale) < 0 ||
	    gate_real_read(json_object_get(j, "escalate"), 0, 1, &m->escalate) < 0 ||
	    gate_u32_read(json_object_get(j, "demote_after"), 0, 1000, &m->demote_after) < 0 ||
	    gate_ns_read(json_object_get(j, "pinhole_ttl_ns"), 1, &m->pinhole_ttl_ns) < 0 ||
	    gate_u32_read(json_object_get(j, "replay_window"), 1, TOPO_GATE_REPLAY_MAX,
			  &m->replay_window) < 0 ||
	    gate_real_read(json_object_get(risk, "factor"), 0, 1, &m->risk_factor) < 0 ||
	    gate_real_read(json_object_get(risk, "failures"), 0, 1, &m->w_failures) < 0 ||
	    gate_real_read(json_object_get(risk, "rate"), 0, 1, &m->w_rate) < 0 ||
	    gate_real_read(json_object_get(risk, "idle"), 0, 1, &m->w_idle) < 0 ||
	    gate_u32_read(json_object_get(risk, "failures_max"), 1, 1000000, &m->failures_max) <
		0 ||
	    gate_u32_read(json_object_get(risk, "rate_max"), 1, TOPO_GATE_RATE_MAX, &m->rate_max) <
		0 ||
	    gate_ns_read(json_object_get(risk, "rate_window_ns"), 1, &m->rate_window_ns) < 0 ||
	    gate_ns_read(json_object_get(risk, "idle_max_ns"), 1, &m->idle_max_ns) < 0)
		return -1;
	for (l = 0; l < TOPO_TRUST_COUNT; l++) {
		const json_t *r = json_object_get(delay, topo_trust_name(l));

		if (!json_is_array(r) || json_array_size(r) != 2 ||
		    gate_ns_read(json_array_get(r, 0), 0, &m->delay[l].lo_ns) < 0 ||
		    gate_ns_read(json_array_get(r, 1), 0, &m->delay[l].hi_ns) < 0 ||
		    m->delay[l].hi_ns < m->delay[l].lo_ns ||
		    gate_real_read(json_object_get(succ, topo_trust_name(l)), 0, 1,
				   &m->success[l]) < 0)
			return -1;
	}
	return 0;
}

static json_t *gate_refused_json(const uint64_t *refused)
{
	json_t *j = json_object();
	int r;

	for (r = 0; r < GATE_R_COUNT; r++)
		json_object_set_new(j, gate_refusal_name(r), json_integer((json_int_t)refused[r]));
	return j;
}

static int gate_refused_read(const json_t *j, uint64_t *refused)
{
	json_int_t v;
	int r;

	for (r = 0; r < GATE_R_COUNT; r++) {
		if (jsonck_int(json_object_get(j, gate_refusal_name(r)), 0, INT64_MAX, &v) < 0)
			return -1;
		refused[r] = (uint64_t)v;
	}
	return 0;
}

/* The counters by name, for JSON both ways. */
#define GATE_C(name, field)                                                                        \
	{                                                                                          \
		name, offsetof(struct gate_counters, field)                                        \
	}
static const struct {
	const char *name;
	size_t off;
} gate_counter_names[] = {
    GATE_C("passed", passed),
    GATE_C("exempt", exempt),
    GATE_C("requests", requests),
    GATE_C("retransmits", retransmits),
    GATE_C("granted", granted),
    GATE_C("denied", denied),
    GATE_C("escalations", escalations),
    GATE_C("demotions", demotions),
    GATE_C("pinholes_opened", pinholes_opened),
    GATE_C("pinholes_expired", pinholes_expired),
};
#undef GATE_C
#define GATE_N_COUNTERS (sizeof(gate_counter_names) / sizeof(gate_counter_names[0]))

static json_t *gate_counters_json(const struct gate_counters *c)
{
	json_t *j = json_object(), *drops = json_object();
	size_t i;
	int d;

	for (i = 0; i < GATE_N_COUNTERS; i++)
		json_object_set_new(
		    j, gate_counter_names[i].name,
		    json_integer((json_int_t) *
				 (const uint64_t *)((const char *)c + gate_counter_names[i].off)));
	for (d = 0; d < GATE_D_COUNT; d++)
		json_object_set_new(drops, gate_drop_name(d),
				    json_integer((json_int_t)c->drops[d]));
	json_object_set_new(j, "drops", drops);
	json_object_set_new(j, "refused", gate_refused_json(c->refused));
	return j;
}

static int gate_counters_read(const json_t *j, struct gate_counters *c)
{
	const json_t *drops = json_object_get(j, "drops");
	json_int_t v;
	size_t i;
	int d;

	for (i = 0; i < GATE_N_COUNTERS; i++) {
		if (jsonck_int(json_object_get(j, gate_counter_names[i].name), 0, INT64_MAX, &v) <
		    0)
			return -1;
		*(uint64_t *)((char *)c + gate_counter_names[i].off) = (uint64_t)v;
	}
	for (d = 0; d < GATE_D_COUNT; d++) {
		if (jsonck_int(json_object_get(drops, gate_drop_name(d)), 0, INT64_MAX, &v) < 0)
			return -1;
		c->drops[d] = (uint64_t)v;
	}
	return gate_refused_read(json_object_get(j, "refused"), c->refused);
}

/* --- control ---------------------------------------------------------------- */

int gate_set(struct gate *g, const char *key, const char *value, char *err, size_t errlen)
{
	return topo_gate_model_set(&g->m, key, value, err, errlen);
}

int gate_set_trust(struct gate *g, const char *host, const char *level, natbed_time_t now,
		   char *err, size_t errlen)
{
	struct gate_host *h = gate_host_named(g, host);
	enum topo_trust l;

	if (!h) {
		snprintf(err, errlen, "no host '%s' behind gate %s", host, g->name);
		return -1;
	}
	if (topo_parse_trust(level, &l) < 0) {
		snprintf(err, errlen,
			 "bad trust level '%s' (untrusted, low, medium, high or "
			 "verified)",
			 level);
		return -1;
	}
	if (l != h->level)
		gate_emit(g, now, "gate_trust",
			  "\"gate\":\"%s\",\"host\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
			  "\"why\":\"set\"",
			  g->name, h->name, topo_trust_name(h->level), topo_trust_name(l));
	h->level = l;
	h->in_a_row = 0;
	return 0;
}

json_t *gate_stats_json(const struct gate *g)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &g->addr, a, sizeof(a));
	return json_pack("{s:s,s:s,s:i,s:I,s:o,s:o}", "name", g->name, "address", a, "port",
			 (int)g->port, "hosts", (json_int_t)g->n_hosts, "model",
			 gate_model_json(&g->m), "counters", gate_counters_json(&g->c));
}

static double gate_ms(natbed_time_t ns)
{
	return (double)ns / NATBED_NS_PER_MS;
}

static json_t *gate_host_json(const struct gate *g, const struct gate_host *h, natbed_time_t now)
{
	json_t *addrs = json_array(), *pins = json_array(), *pend = json_array();
	json_t *hist = json_array();
	char res[GATEMSG_RESOURCE_MAX + 1];
	size_t i;

	for (i = 0; i < h->n_addrs; i++)
		json_array_append_new(addrs, jsonck_ipv4(h->addrs[i]));
	for (i = 0; i < GATE_PINS_MAX; i++) {
		const struct gate_pin *p = &h->pins[i];

		if (!p->used || p->expires <= now)
			continue;
		gatemsg_resource_str(&p->res, res, sizeof(res));
		json_array_append_new(pins, json_pack("{s:s,s:f,s:I}", "resource", res,
						      "expires_in_ms", gate_ms(p->expires - now),
						      "packets", (json_int_t)p->packets));
	}
	for (i = 0; i < GATE_PENDING_MAX; i++) {
		const struct gate_pending *p = &h->pend[i];

		if (!p->used)
			continue;
		gatemsg_resource_str(&p->res, res, sizeof(res));
		json_array_append_new(pend, json_pack("{s:s,s:s,s:f}", "resource", res, "trust",
						      topo_trust_name(p->level), "due_in_ms",
						      gate_ms(p->due - now)));
	}
	for (i = 0; i < h->hist_n; i++) { /* the latest first */
		const struct gate_hist *e =
		    &h->hist[(h->hist_next + GATE_HISTORY - 1 - i) % GATE_HISTORY];

		json_array_append_new(hist, json_pack("{s:f,s:s,s:s,s:s,s:f,s:f}", "ago_ms",
						      gate_ms(now - e->at), "result",
						      e->granted ? "granted" : "denied", "trust",
						      topo_trust_name(e->level), "trust_after",
						      topo_trust_name(e->after), "risk", e->risk,
						      "delay_ms", gate_ms(e->delay_ns)));
	}
	return json_pack("{s:s,s:o,s:s,s:f,s:i,s:i,s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o}", "name",
			 h->name, "addresses", addrs, "trust", topo_trust_name(h->level), "risk",
			 gate_risk(g, h, gate_rate_count(g, h, now), now), "failures",
			 (int)h->failures, "denials_in_a_row", (int)h->in_a_row, "requests",
			 (json_int_t)h->c.requests, "granted", (json_int_t)h->c.granted, "denied",
			 (json_int_t)h->c.denied, "refused", gate_refused_json(h->c.refused),
			 "last_grant_ms_ago",
			 h->granted_ever ? json_real(gate_ms(now - h->last_grant)) : json_null(),
			 "pinholes", pins, "pending", pend, "history", hist);
}

json_t *gate_hosts_json(const struct gate *g, natbed_time_t now)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < g->n_hosts; i++)
		json_array_append_new(arr, gate_host_json(g, &g->hosts[i], now));
	return arr;
}

/* --- checkpoints --------------------------------------------------------- */

static json_t *gate_hex(const uint8_t *b, size_t n)
{
	char s[2 * STUN_TXID_LEN + 1];
	size_t i;

	for (i = 0; i < n && i < STUN_TXID_LEN; i++)
		snprintf(s + 2 * i, 3, "%02x", b[i]);
	s[2 * i] = '\0';
	return json_string(s);
}

/* Reads a hex string of at most max bytes into b: its length, or -1. */
static int gate_hex_read(const json_t *j, uint8_t *b, size_t max)
{
	const char *s = json_string_value(j);
	size_t n, i;

	if (!s || (n = strlen(s)) % 2 || n / 2 > max || strspn(s, "0123456789abcdef") != n)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		b[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

static json_t *gate_res_json(const struct gatemsg_resource *r)
{
	char res[GATEMSG_RESOURCE_MAX + 1];

	gatemsg_resource_str(r, res, sizeof(res));
	return json_string(res);
}

/* A resource back, with the host it names (kind HOST). 0 or -1. */
static int gate_res_read(const struct gate *g, const json_t *j, struct gatemsg_resource *r,
			 int *res_host)
{
	const char *s = json_string_value(j);

	if (!s || gatemsg_resource_parse(s, r) < 0)
		return -1;
	*res_host = -1;
	if (r->kind == GATEMSG_RES_HOST && (*res_host = topo_host_find(g->cfg.topo, r->host)) < 0)
		return -1;
	return 0;
}

static json_t *gate_pin_ckpt(const struct gate_pin *p, natbed_time_t now)
{
	return json_pack("{s:o,s:I,s:I,s:I}", "resource", gate_res_json(&p->res), "opened_ago_ns",
			 (json_int_t)(now - p->opened), "expires_in_ns",
			 (json_int_t)(p->expires - now), "packets", (json_int_t)p->packets);
}

static json_t *gate_pending_ckpt(const struct gate_pending *p, natbed_time_t now)
{
	return json_pack("{s:o,s:o,s:i,s:o,s:s,s:i,s:o,s:I,s:I}", "txid",
			 gate_hex(p->txid, STUN_TXID_LEN), "addr", jsonck_ipv4(p->addr), "port",
			 (int)ntohs(p->port), "resource", gate_res_json(&p->res), "trust",
			 topo_trust_name(p->level), "rate", (int)p->rate, "n",
			 jsonck_u64(p->n, false), "asked_ago_ns", (json_int_t)(now - p->asked),
			 "due_in_ns", (json_int_t)(p->due - now));
}

static json_t *gate_hist_ckpt(const struct gate_hist *e, natbed_time_t now)
{
	return json_pack("{s:I,s:b,s:s,s:s,s:f,s:I}", "ago_ns", (json_int_t)(now - e->at),
			 "granted", e->granted, "trust", topo_trust_name(e->level), "trust_after",
			 topo_trust_name(e->after), "risk", e->risk, "delay_ns",
			 (json_int_t)e->delay_ns);
}

static json_t *gate_host_ckpt(const struct gate_host *h, natbed_time_t now)
{
	json_t *rate = json_array(), *pins = json_array(), *pend = json_array();
	json_t *hist = json_array();
	unsigned i;

	/* oldest first */
	for (i = 0; i < h->rate_n; i++)
		json_array_append_new(
		    rate,
		    json_integer(
			(json_int_t)(now - h->rate[(h->rate_next + GATE_RATE_RING - h->rate_n + i) %
						   GATE_RATE_RING])));
	for (i = 0; i < GATE_PINS_MAX; i++)
		if (h->pins[i].used)
			json_array_append_new(pins, gate_pin_ckpt(&h->pins[i], now));
	for (i = 0; i < GATE_PENDING_MAX; i++)
		if (h->pend[i].used)
			json_array_append_new(pend, gate_pending_ckpt(&h->pend[i], now));
	for (i = 0; i < h->hist_n; i++)
		json_array_append_new(
		    hist,
		    gate_hist_ckpt(
			&h->hist[(h->hist_next + GATE_HISTORY - h->hist_n + i) % GATE_HISTORY],
			now));
	return json_pack(
	    "{s:s,s:i,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:{s:I,s:I,s:I,s:o}}", "trust",
	    topo_trust_name(h->level), "failures", (int)h->failures, "in_a_row", (int)h->in_a_row,
	    "last_grant_ago_ns",
	    h->granted_ever ? json_integer((json_int_t)(now - h->last_grant)) : json_null(),
	    "rate_ago_ns", rate, "nonce_top", jsonck_u64(h->nonce_top, true), "nonce_bits",
	    jsonck_u64(h->nonce_bits, true), "draws", jsonck_u64(h->draws, false), "pinholes", pins,
	    "pending", pend, "history", hist, "counters", "requests", (json_int_t)h->c.requests,
	    "granted", (json_int_t)h->c.granted, "denied", (json_int_t)h->c.denied, "refused",
	    gate_refused_json(h->c.refused));
}

json_t *gate_checkpoint(const struct gate *g, natbed_time_t now)
{
	json_t *hosts = json_object();
	size_t i;

	for (i = 0; i < g->n_hosts; i++)
		json_object_set_new(hosts, g->hosts[i].name, gate_host_ckpt(&g->hosts[i], now));
	return json_pack("{s:o,s:i,s:o,s:o,s:o}", "address", jsonck_ipv4(g->addr), "port",
			 (int)g->port, "model", gate_model_json(&g->m), "counters",
			 gate_counters_json(&g->c), "hosts", hosts);
}

/* The checkpoint is of this gate: its address, port and hosts. */
static int gate_fits(const struct gate *g, const json_t *j, char *err, size_t errlen)
{
	const json_t *hosts = json_object_get(j, "hosts"), *v;
	const char *name;
	uint32_t addr;
	json_int_t port;
	size_t i;

	if (jsonck_ipv4_read(json_object_get(j, "address"), &addr) < 0 || addr != g->addr ||
	    jsonck_int(json_object_get(j, "port"), 1, 65535, &port) < 0 || port != g->port) {
		snprintf(err, errlen, "address or port: not this gate's");
		return -1;
	}
	if (!json_is_object(hosts)) {
		snprintf(err, errlen, "hosts: missing, or not an object");
		return -1;
	}
	json_object_foreach((json_t *)hosts, name, v) if (!gate_host_named(g, name))
	{
		snprintf(err, errlen, "hosts.%s: not behind this gate", name);
		return -1;
	}
	for (i = 0; i < g->n_hosts; i++)
		if (!json_object_get(hosts, g->hosts[i].name)) {
			snprintf(err, errlen, "hosts.%s: missing", g->hosts[i].name);
			return -1;
		}
	return 0;
}

static int gate_level_read(const json_t *j, enum topo_trust *out)
{
	const char *s = json_string_value(j);

	return s ? topo_parse_trust(s, out) : -1;
}

/* A pinhole's fields from j into p (not armed). 0 or -1. */
static int gate_pin_fields_read(struct gate_host *h, struct gate_pin *p, const json_t *j,
				natbed_time_t now)
{
	json_int_t opened, expires, packets;

	if (gate_res_read(h->g, json_object_get(j, "resource"), &p->res, &p->res_host) < 0 ||
	    jsonck_int(json_object_get(j, "opened_ago_ns"), 0, GATE_TIME_MAX, &opened) < 0 ||
	    jsonck_int(json_object_get(j, "expires_in_ns"), -GATE_TIME_MAX, GATE_TIME_MAX,
		       &expires) < 0 ||
	    jsonck_int(json_object_get(j, "packets"), 0, INT64_MAX, &packets) < 0)
		return -1;
	p->h = h;
	p->used = true;
	p->opened = now - opened;
	p->expires = now + expires;
	p->packets = (uint64_t)packets;
	return 0;
}

static int gate_pin_read(struct gate_host *h, struct gate_pin *p, const json_t *j,
			 natbed_time_t now)
{
	if (gate_pin_fields_read(h, p, j, now) < 0)
		return -1;
	return gate_pin_arm(p);
}

/* A request under way's fields from j into p (not armed). 0 or -1. */
static int gate_pending_fields_read(struct gate_host *h, struct gate_pending *p, const json_t *j,
				    natbed_time_t now)
{
	json_int_t port, rate, asked, due;

	if (gate_hex_read(json_object_get(j, "txid"), p->txid, STUN_TXID_LEN) != STUN_TXID_LEN ||
	    jsonck_ipv4_read(json_object_get(j, "addr"), &p->addr) < 0 ||
	    jsonck_int(json_object_get(j, "port"), 1, 65535, &port) < 0 ||
	    gate_res_read(h->g, json_object_get(j, "resource"), &p->res, &p->res_host) < 0 ||
	    gate_level_read(json_object_get(j, "trust"), &p->level) < 0 ||
	    jsonck_int(json_object_get(j, "rate"), 0, GATE_RATE_RING, &rate) < 0 ||
	    jsonck_u64_read(json_object_get(j, "n"), false, &p->n) < 0 ||
	    jsonck_int(json_object_get(j, "asked_ago_ns"), 0, GATE_TIME_MAX, &asked) < 0 ||
	    jsonck_int(json_object_get(j, "due_in_ns"), -GATE_TIME_MAX, GATE_TIME_MAX, &due) < 0)
		return -1;
	p->h = h;
	p->used = true;
	p->port = htons((uint16_t)port);
	p->rate = (uint32_t)rate;
	p->asked = now - asked;
	p->due = now + due;
	return 0;
}

static int gate_pending_read(struct gate_host *h, struct gate_pending *p, const json_t *j,
			     natbed_time_t now)
{
	if (gate_pending_fields_read(h, p, j, now) < 0)
		return -1;
	return gate_pending_arm(p);
}

static int gate_hist_read(struct gate_hist *e, const json_t *j, natbed_time_t now)
{
	json_int_t ago, delay;

	if (jsonck_int(json_object_get(j, "ago_ns"), 0, GATE_TIME_MAX, &ago) < 0 ||
	    !json_is_boolean(json_object_get(j, "granted")) ||
	    gate_level_read(json_object_get(j, "trust"), &e->level) < 0 ||
	    gate_level_read(json_object_get(j, "trust_after"), &e->after) < 0 ||
	    gate_real_read(json_object_get(j, "risk"), 0, 1, &e->risk) < 0 ||
	    jsonck_int(json_object_get(j, "delay_ns"), 0, GATE_TIME_MAX, &delay) < 0)
		return -1;
	e->at = now - ago;
	e->granted = json_is_true(json_object_get(j, "granted"));
	e->delay_ns = delay;
	return 0;
}

/* The lists of a host: rate times, pinholes, requests under way, history.
 * 0, or -1 with what was wrong in *what. */
static int gate_host_lists_read(struct gate_host *h, const json_t *j, natbed_time_t now,
				const char **what)
{
	const json_t *rate = json_object_get(j, "rate_ago_ns"),
		     *pins = json_object_get(j, "pinholes");
	const json_t *pend = json_object_get(j, "pending"), *hist = json_object_get(j, "history");
	json_int_t ago;
	size_t i;

	*what = "rate_ago_ns";
	if (!json_is_array(rate) || json_array_size(rate) > GATE_RATE_RING)
		return -1;
	for (i = 0; i < json_array_size(rate); i++) {
		if (jsonck_int(json_array_get(rate, i), 0, GATE_TIME_MAX, &ago) < 0)
			return -1;
		h->rate[i] = now - ago;
	}
	h->rate_n = (unsigned)i;
	h->rate_next = (unsigned)i % GATE_RATE_RING;
	*what = "pinholes";
	if (!json_is_array(pins) || json_array_size(pins) > GATE_PINS_MAX)
		return -1;
	for (i = 0; i < json_array_size(pins); i++)
		if (gate_pin_read(h, &h->pins[i], json_array_get(pins, i), now) < 0)
			return -1;
	*what = "pending";
	if (!json_is_array(pend) || json_array_size(pend) > GATE_PENDING_MAX)
		return -1;
	for (i = 0; i < json_array_size(pend); i++)
		if (gate_pending_read(h, &h->pend[i], json_array_get(pend, i), now) < 0)
			return -1;
	*what = "history";
	if (!json_is_array(hist) || json_array_size(hist) > GATE_HISTORY)
		return -1;
	for (i = 0; i < json_array_size(hist); i++)
		if (gate_hist_read(&h->hist[i], json_array_get(hist, i), now) < 0)
			return -1;
	h->hist_n = (unsigned)i;
	h->hist_next = (unsigned)i % GATE_HISTORY;
	return 0;
}

/* A host's trust, risk inputs, replay window, draws and counters. 0, or
 * -1 with what was wrong in *what. */
static int gate_host_scalars_read(struct gate_host *h, const json_t *j, natbed_time_t now,
				  const char **what)
{
	const json_t *last = json_object_get(j, "last_grant_ago_ns");
	const json_t *c = json_object_get(j, "counters");
	json_int_t v;

	*what = "trust, failures, in_a_row or last_grant_ago_ns";
	if (gate_level_read(json_object_get(j, "trust"), &h->level) < 0 ||
	    gate_u32_read(json_object_get(j, "failures"), 0, UINT32_MAX, &h->failures) < 0 ||
	    gate_u32_read(json_object_get(j, "in_a_row"), 0, UINT32_MAX, &h->in_a_row) < 0 ||
	    (!json_is_null(last) && jsonck_int(last, 0, GATE_TIME_MAX, &v) < 0))
		return -1;
	h->granted_ever = !json_is_null(last);
	h->last_grant = h->granted_ever ? now - v : 0;
	*what = "nonce_top, nonce_bits or draws";
	if (jsonck_u64_read(json_object_get(j, "nonce_top"), true, &h->nonce_top) < 0 ||
	    jsonck_u64_read(json_object_get(j, "nonce_bits"), true, &h->nonce_bits) < 0 ||
	    jsonck_u64_read(json_object_get(j, "draws"), false, &h->draws) < 0)
		return -1;
	*what = "counters";
	if (jsonck_int(json_object_get(c, "requests"), 0, INT64_MAX, &v) < 0)
		return -1;
	h->c.requests = (uint64_t)v;
	if (jsonck_int(json_object_get(c, "granted"), 0, INT64_MAX, &v) < 0)
		return -1;
	h->c.granted = (uint64_t)v;
	if (jsonck_int(json_object_get(c, "denied"), 0, INT64_MAX, &v) < 0 ||
	    gate_refused_read(json_object_get(c, "refused"), h->c.refused) < 0)
		return -1;
	h->c.denied = (uint64_t)v;
	return 0;
}

static int gate_host_read(struct gate_host *h, const json_t *j, natbed_time_t now,
			  const char **what)
{
	if (gate_host_scalars_read(h, j, now, what) < 0)
		return -1;
	return gate_host_lists_read(h, j, now, what);
}

struct gate *gate_restore_prepare(const struct gate *g, const json_t *j, natbed_time_t now,
				  char *err, size_t errlen)
{
	const json_t *hosts = json_object_get(j, "hosts");
	struct gate *fresh;
	const char *what;
	size_t i;

	if (!json_is_object(j)) {
		snprintf(err, errlen, "not a gate's checkpoint");
		return NULL;
	}
	if (gate_fits(g, j, err, errlen) < 0)
		return NULL;
	fresh = gate_new(&g->cfg, g->s);
	if (!fresh) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (gate_model_read(json_object_get(j, "model"), &fresh->m) < 0) {
		snprintf(err, errlen, "model: missing or invalid");
		goto fail;
	}
	if (gate_counters_read(json_object_get(j, "counters"), &fresh->c) < 0) {
		snprintf(err, errlen, "counters: missing or invalid");
		goto fail;
	}
	for (i = 0; i < fresh->n_hosts; i++) {
		struct gate_host *h = &fresh->hosts[i];

		if (gate_host_read(h, json_object_get(hosts, h->name), now, &what) < 0) {
			snprintf(err, errlen, "hosts.%s: %s: missing or invalid", h->name, what);
			goto fail;
		}
	}
	return fresh;
fail:
	gate_free(fresh);
	return NULL;
}

/* Points g's own pointers and every host of g back at g (after its state
 * moved). */
static void gate_repoint(struct gate *g)
{
	size_t i;

	g->cfg.name = g->name;
	for (i = 0; i < g->n_hosts; i++)
		g->hosts[i].g = g;
}

void gate_adopt(struct gate *g, struct gate *fresh)
{
	struct gate tmp = *g;

	/* swap the two states, then free the old one (and its events) */
	*g = *fresh;
	*fresh = tmp;
	gate_repoint(g);
	gate_repoint(fresh);
	gate_free(fresh);
}

/* --- natbed sim checkpoints: exact, with the scheduler's events ------------ */

/* A host's pinholes or requests under way: the used slots, each declared
 * (its event points at it) with its slot and timer. */
static json_t *gate_pins_save(const struct gate_host *h, struct ckw *w, natbed_time_t now)
{
	json_t *arr = json_array();
	unsigned i;

	for (i = 0; i < GATE_PINS_MAX; i++) {
		const struct gate_pin *p = &h->pins[i];
		json_t *jp;

		if (!p->used)
			continue;
		jp = gate_pin_ckpt(p, now);
		json_object_set_new(jp, "slot", json_integer(i));
		json_object_set_new(jp, "id", ckw_obj(w, p));
		json_object_set_new(jp, "ev", ckw_timer(w, p->ev));
		json_array_append_new(arr, jp);
	}
	return arr;
}

static json_t *gate_pend_save(const struct gate_host *h, struct ckw *w, natbed_time_t now)
{
	json_t *arr = json_array();
	unsigned i;

	for (i = 0; i < GATE_PENDING_MAX; i++) {
		const struct gate_pending *p = &h->pend[i];
		json_t *jp;

		if (!p->used)
			continue;
		jp = gate_pending_ckpt(p, now);
		json_object_set_new(jp, "slot", json_integer(i));
		json_object_set_new(jp, "id", ckw_obj(w, p));
		json_object_set_new(jp, "ev", ckw_timer(w, p->ev));
		json_array_append_new(arr, jp);
	}
	return arr;
}

/* A host as gate_host_ckpt() writes it, its rings as they lie (a slot's
 * place decides which a new entry replaces) and its slots by number. */
static json_t *gate_host_save(const struct gate_host *h, struct ckw *w, natbed_time_t now)
{
	json_t *j = gate_host_ckpt(h, now), *rate = json_array(), *hist = json_array();
	unsigned i;

	for (i = 0; i < h->rate_n; i++)
		json_array_append_new(rate, json_integer((json_int_t)(now - h->rate[i])));
	for (i = 0; i < h->hist_n; i++)
		json_array_append_new(hist, gate_hist_ckpt(&h->hist[i], now));
	json_object_set_new(j, "name", json_string(h->name));
	json_object_set_new(j, "rate_ago_ns", rate);
	json_object_set_new(j, "rate_next", json_integer(h->rate_next));
	json_object_set_new(j, "history", hist);
	json_object_set_new(j, "history_next", json_integer(h->hist_next));
	json_object_set_new(j, "pinholes", gate_pins_save(h, w, now));
	json_object_set_new(j, "pending", gate_pend_save(h, w, now));
	return j;
}

json_t *gate_ckpt_save(const struct gate *g, struct ckw *w)
{
	natbed_time_t now = sched_now(g->s);
	json_t *hosts = json_array(), *j;
	size_t i;

	for (i = 0; i < g->n_hosts; i++)
		json_array_append_new(hosts, gate_host_save(&g->hosts[i], w, now));
	j = json_pack("{s:o,s:I,s:o,s:i,s:o,s:o,s:s,s:s,s:o}", "id", ckw_obj(w, g), "at",
		      (json_int_t)now, "address", jsonck_ipv4(g->addr), "port", (int)g->port,
		      "model", gate_model_json(&g->m), "counters", gate_counters_json(&g->c), "why",
		      g->why, "why_host", g->why_host, "hosts", hosts);
	if (!j)
		ckw_fail(w, "gate %s: out of memory, or a field the writer refused", g->name);
	return j;
}

/* The reason of the last refusal or drop, as the engine points at it. */
static const char *gate_why_read(const char *s)
{
	int k;

	for (k = 0; s && k < GATE_R_COUNT; k++)
		if (!strcmp(s, gate_refusal_name(k)))
			return gate_refusal_name(k);
	for (k = 0; s && k < GATE_D_COUNT; k++)
		if (!strcmp(s, gate_drop_name(k)))
			return gate_drop_name(k);
	return s && !s[0] ? "" : NULL;
}

/* The used slots `key` of a host (pinholes or pending), each declared and
 * its timer to fill. */
static int gate_slots_fill(struct gate_host *h, const json_t *j, const char *key, bool pins,
			   natbed_time_t now, struct ckr *r)
{
	const json_t *arr = json_object_get(j, key), *js;
	size_t max = pins ? GATE_PINS_MAX : GATE_PENDING_MAX, k;
	json_int_t slot;

	if (!json_is_array(arr))
		return ckr_fail(r, "gate %s: hosts.%s.%s: not an array", h->g->name, h->name, key);
	json_array_foreach(arr, k, js)
	{
		void *p;
		uint64_t *ev;
		int rc;

		if (jsonck_int(json_object_get(js, "slot"), 0, (json_int_t)max - 1, &slot) < 0 ||
		    (pins ? h->pins[slot].used : h->pend[slot].used))
			return ckr_fail(r, "gate %s: hosts.%s.%s[%zu]: a bad or used slot",
					h->g->name, h->name, key, k);
		if (pins) {
			p = &h->pins[slot];
			ev = &h->pins[slot].ev;
			rc = gate_pin_fields_read(h, p, js, now);
		} else {
			p = &h->pend[slot];
			ev = &h->pend[slot].ev;
			rc = gate_pending_fields_read(h, p, js, now);
		}
		if (rc < 0)
			return ckr_fail(r, "gate %s: hosts.%s.%s[%zu]: invalid", h->g->name,
					h->name, key, k);
		if (ckr_obj(r, json_object_get(js, "id"), p) < 0 ||
		    ckr_timer(r, json_object_get(js, "ev"), ev) < 0)
			return -1;
	}
	return 0;
}

static int gate_host_fill(struct gate_host *h, const json_t *j, natbed_time_t now, struct ckr *r)
{
	const json_t *rate = json_object_get(j, "rate_ago_ns"),
		     *hist = json_object_get(j, "history");
	json_int_t ago, rnext, hnext;
	const char *what;
	size_t i;

	if (!json_is_object(j) ||
	    strcmp(json_string_value(json_object_get(j, "name")) ?: "", h->name))
		return ckr_fail(r, "gate %s: hosts: not this gate's hosts in order", h->g->name);
	if (gate_host_scalars_read(h, j, now, &what) < 0)
		return ckr_fail(r, "gate %s: hosts.%s: %s: missing or invalid", h->g->name, h->name,
				what);
	if (!json_is_array(rate) || json_array_size(rate) > GATE_RATE_RING ||
	    jsonck_int(json_object_get(j, "rate_next"), 0, GATE_RATE_RING - 1, &rnext) < 0 ||
	    !json_is_array(hist) || json_array_size(hist) > GATE_HISTORY ||
	    jsonck_int(json_object_get(j, "history_next"), 0, GATE_HISTORY - 1, &hnext) < 0)
		return ckr_fail(r, "gate %s: hosts.%s: rate or history: invalid", h->g->name,
				h->name);
	for (i = 0; i < json_array_size(rate); i++) {
		if (jsonck_int(json_array_get(rate, i), -GATE_TIME_MAX, GATE_TIME_MAX, &ago) < 0)
			return ckr_fail(r, "gate %s: hosts.%s: rate_ago_ns[%zu]: invalid",
					h->g->name, h->name, i);
		h->rate[i] = now - ago;
	}
	h->rate_n = (unsigned)json_array_size(rate);
	h->rate_next = (unsigned)rnext;
	for (i = 0; i < json_array_size(hist); i++)
		if (gate_hist_read(&h->hist[i], json_array_get(hist, i), now) < 0)
			return ckr_fail(r, "gate %s: hosts.%s: history[%zu]: invalid", h->g->name,
					h->name, i);
	h->hist_n = (unsigned)json_array_size(hist);
	h->hist_next = (unsigned)hnext;
	if (gate_slots_fill(h, j, "pinholes", true, now, r) < 0 ||
	    gate_slots_fill(h, j, "pending", false, now, r) < 0)
		return -1;
	return 0;
}

int gate_ckpt_fill(struct gate *g, const json_t *j, struct ckr *r)
{
	const json_t *hosts = json_object_get(j, "hosts");
	natbed_time_t now = sched_now(g->s);
	const char *why, *why_host;
	json_int_t at, port;
	uint32_t addr;
	size_t i, k;

	if (!json_is_object(j))
		return ckr_fail(r, "gate %s: not an object", g->name);
	if (jsonck_ipv4_read(json_object_get(j, "address"), &addr) < 0 || addr != g->addr ||
	    jsonck_int(json_object_get(j, "port"), 1, 65535, &port) < 0 || port != g->port)
		return ckr_fail(r, "gate %s: address or port: not this gate's", g->name);
	if (jsonck_int(json_object_get(j, "at"), INT64_MIN, INT64_MAX, &at) < 0 || at != now)
		return ckr_fail(r, "gate %s: at: not the scheduler's time", g->name);
	if (!json_is_array(hosts) || json_array_size(hosts) != g->n_hosts)
		return ckr_fail(r, "gate %s: hosts: not this gate's %zu", g->name, g->n_hosts);
	for (i = 0; i < g->n_hosts; i++)
		for (k = 0; k < GATE_PINS_MAX; k++)
			if (g->hosts[i].pins[k].used ||
			    (k < GATE_PENDING_MAX && g->hosts[i].pend[k].used))
				return ckr_fail(r, "gate %s: filled when it holds state already",
						g->name);
	if (ckr_obj(r, json_object_get(j, "id"), g) < 0)
		return -1;
	if (gate_model_read(json_object_get(j, "model"), &g->m) < 0)
		return ckr_fail(r, "gate %s: model: missing or invalid", g->name);
	if (gate_counters_read(json_object_get(j, "counters"), &g->c) < 0)
		return ckr_fail(r, "gate %s: counters: missing or invalid", g->name);
	why = gate_why_read(json_string_value(json_object_get(j, "why")));
	why_host = json_string_value(json_object_get(j, "why_host"));
	if (!why || !why_host || (why_host[0] && !gate_host_named(g, why_host)))
		return ckr_fail(r, "gate %s: why or why_host: invalid", g->name);
	g->why = why;
	g->why_host = why_host[0] ? gate_host_named(g, why_host)->name : "";
	for (i = 0; i < g->n_hosts; i++)
		if (gate_host_fill(&g->hosts[i], json_array_get(hosts, i), now, r) < 0)
			return -1;
	return 0;
}
