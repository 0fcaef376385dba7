/* Gate blocks of a topology, under a NAT or a host (docs/topology.md,
 * "Gate blocks"; docs/gate.md): the trust words, the model's defaults and
 * the keys that set it (in a file and through `natbed ctl gate NAME set`),
 * the hosts a gate names, its exemptions, and binding all of it to the
 * topology's hosts once they are known. */
#include "topo_int.h"

#include "natbed/units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GATE_SCALE_MAX	  1000.0
#define GATE_DELAY_MAX_NS (3600 * NATBED_NS_PER_S)
#define GATE_TTL_MAX_NS	  (86400 * NATBED_NS_PER_S)
#define GATE_DEMOTE_MAX	  1000
#define GATE_RISK_MAX_N	  1000000
#define GATE_NAME_CHARS	  "abcdefghijklmnopqrstuvwxyz0123456789-"
#define GATE_SCALE_DIGITS 12

/* ---- trust levels ---- */

static const struct name_value trust_names[] = {
    {"untrusted", TOPO_TRUST_UNTRUSTED}, {"low", TOPO_TRUST_LOW},
    {"medium", TOPO_TRUST_MEDIUM},	 {"high", TOPO_TRUST_HIGH},
    {"verified", TOPO_TRUST_VERIFIED},
};

int topo_parse_trust(const char *s, enum topo_trust *out)
{
	int v;

	if (topo_nv_parse(trust_names, ARRAY_SIZE(trust_names), s, &v) < 0)
		return -1;
	*out = (enum topo_trust)v;
	return 0;
}

const char *topo_trust_name(enum topo_trust level)
{
	return topo_nv_name(trust_names, ARRAY_SIZE(trust_names), (int)level);
}

/* ---- the model's defaults ---- */

void topo_gate_model_default(struct topo_gate_model *m)
{
	/* the seed's ZeroTrustAuthenticator: delays by level, uniform */
	static const struct topo_gate_range delay[TOPO_TRUST_COUNT] = {
	    [TOPO_TRUST_UNTRUSTED] = {2000 * NATBED_NS_PER_MS, 5000 * NATBED_NS_PER_MS},
	    [TOPO_TRUST_LOW] = {1000 * NATBED_NS_PER_MS, 2000 * NATBED_NS_PER_MS},
	    [TOPO_TRUST_MEDIUM] = {500 * NATBED_NS_PER_MS, 1000 * NATBED_NS_PER_MS},
	    [TOPO_TRUST_HIGH] = {100 * NATBED_NS_PER_MS, 500 * NATBED_NS_PER_MS},
	    [TOPO_TRUST_VERIFIED] = {50 * NATBED_NS_PER_MS, 100 * NATBED_NS_PER_MS},
	};
	/* the seed gives untrusted 0.7 and verified 0.99; the levels between
	 * are natbed's, rising in between */
	static const double success[TOPO_TRUST_COUNT] = {0.70, 0.80, 0.90, 0.95, 0.99};

	memset(m, 0, sizeof(*m));
	memcpy(m->delay, delay, sizeof(delay));
	memcpy(m->success, success, sizeof(success));
	m->time_scale = 1.0;
	m->escalate = 0.3;    /* the seed: 30% chance of escalation after a success */
	m->risk_factor = 0.3; /* the seed: base * (1 - risk * 0.3) */
	m->demote_after = 3;
	m->pinhole_ttl_ns = 120 * NATBED_NS_PER_S;
	m->replay_window = TOPO_GATE_REPLAY_MAX;
	m->w_failures = 0.5;
	m->w_rate = 0.3;
	m->w_idle = 0.2;
	m->failures_max = 5;
	m->rate_max = 10;
	m->rate_window_ns = 10 * NATBED_NS_PER_S;
	m->idle_max_ns = 3600 * NATBED_NS_PER_S;
}

/* ---- scalar values ---- */

static int t_trust(const char *s, void *dst)
{
	return topo_parse_trust(s, dst);
}

/* A key: 1 to 63 bytes of printable ASCII, no space. */
static int t_key(const char *s, void *dst)
{
	size_t i, len = strlen(s);

	if (len == 0 || len >= TOPO_GATE_KEY_MAX)
		return -1;
	for (i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return -1;
	memcpy(dst, s, len + 1);
	return 0;
}

static int t_port(const char *s, void *dst)
{
	int64_t v;

	if (units_parse_count(s, 65535, &v) < 0 || v < 1)
		return -1;
	*(uint16_t *)dst = (uint16_t)v;
	return 0;
}

/* A whole number lo..hi into the uint32_t at dst. */
static int t_u32(const char *s, int64_t lo, int64_t hi, void *dst)
{
	int64_t v;

	if (units_parse_count(s, hi, &v) < 0 || v < lo)
		return -1;
	*(uint32_t *)dst = (uint32_t)v;
	return 0;
}

static int t_window(const char *s, void *dst)
{
	return t_u32(s, 1, TOPO_GATE_REPLAY_MAX, dst);
}

static int t_demote(const char *s, void *dst)
{
	return t_u32(s, 0, GATE_DEMOTE_MAX, dst);
}

static int t_risk_n(const char *s, void *dst)
{
	return t_u32(s, 1, GATE_RISK_MAX_N, dst);
}

static int t_rate_max(const char *s, void *dst)
{
	return t_u32(s, 1, TOPO_GATE_RATE_MAX, dst);
}

/* A plain decimal number above 0, at most GATE_SCALE_MAX: "0.01", "1". */
static int t_scale(const char *s, void *dst)
{
	size_t lead = strspn(s, "0123456789"), frac = 0;
	char *end;
	double v;

	if (lead == 0 || lead > GATE_SCALE_DIGITS)
		return -1;
	if (s[lead] == '.') {
		frac = strspn(s + lead + 1, "0123456789");
		if (frac == 0 || frac > GATE_SCALE_DIGITS)
			return -1;
		frac++;
	}
	if (s[lead + frac] != '\0')
		return -1;
	v = strtod(s, &end);
	if (*end || !(v > 0) || v > GATE_SCALE_MAX)
		return -1;
	*(double *)dst = v;
	return 0;
}

/* A duration above zero, at most max_ns. */
static int t_dur(const char *s, natbed_time_t max_ns, void *dst)
{
	natbed_time_t t;

	if (units_parse_duration(s, &t) < 0 || t <= 0 || t > max_ns)
		return -1;
	*(natbed_time_t *)dst = t;
	return 0;
}

static int t_ttl(const char *s, void *dst)
{
	return t_dur(s, GATE_TTL_MAX_NS, dst);
}

/* "LO-HI" or one duration (LO = HI), 0 to an hour, LO <= HI. */
static int t_range(const char *s, void *dst)
{
	struct topo_gate_range r;
	const char *dash = strchr(s, '-');
	char lo[32];
	size_t n = dash ? (size_t)(dash - s) : strlen(s);

	if (n == 0 || n >= sizeof(lo))
		return -1;
	memcpy(lo, s, n);
	lo[n] = '\0';
	if (units_parse_duration(lo, &r.lo_ns) < 0)
		return -1;
	r.hi_ns = r.lo_ns;
	if (dash && units_parse_duration(dash + 1, &r.hi_ns) < 0)
		return -1;
	if (r.lo_ns < 0 || r.hi_ns < r.lo_ns || r.hi_ns > GATE_DELAY_MAX_NS)
		return -1;
	*(struct topo_gate_range *)dst = r;
	return 0;
}

/* clang-format off */
static const struct text_kind k_trust = {t_trust, "trust level", "untrusted, low, medium, high or verified"};
static const struct text_kind k_key = {t_key, "key", "1 to 63 printable characters, no space"};
static const struct text_kind k_port = {t_port, "port", "1 to 65535"};
static const struct text_kind k_window = {t_window, "window", "a whole number from 1 to 64"};
static const struct text_kind k_demote = {t_demote, "count", "a whole number from 0 (never) to 1000"};
static const struct text_kind k_risk_n = {t_risk_n, "count", "a whole number from 1 to 1000000"};
static const struct text_kind k_rate_max = {t_rate_max, "count", "a whole number from 1 to 64"};
static const struct text_kind k_scale = {t_scale, "scale", "a number above 0 and at most 1000, e.g. 0.01"};
static const struct text_kind k_ttl = {t_ttl, "duration", "above zero and at most 86400s, e.g. 120s"};
static const struct text_kind k_range = {t_range, "delay range", "LO-HI or one duration, at most 3600s, e.g. 2s-5s"};
/* clang-format on */

/* ---- the model's keys: in a gate block, and for `ctl gate NAME set` ---- */

/* clang-format off */
#define MODEL(f) offsetof(struct topo_gate_model, f)
static const struct key_spec model_keys[] = {
	{"time-scale",    &k_scale,        NULL, MODEL(time_scale),     0, 0},
	{"pinhole-ttl",   &k_ttl,          NULL, MODEL(pinhole_ttl_ns), 0, 0},
	{"replay-window", &k_window,       NULL, MODEL(replay_window),  0, 0},
	{"escalate",      &topo_k_percent, NULL, MODEL(escalate),       0, 0},
	{"demote-after",  &k_demote,       NULL, MODEL(demote_after),   0, 0},
};

#define LEVELS(kind, field)                                                                       \
	{"untrusted", kind, NULL, MODEL(field[TOPO_TRUST_UNTRUSTED]), 0, 0},                      \
	{"low",       kind, NULL, MODEL(field[TOPO_TRUST_LOW]),       0, 0},                      \
	{"medium",    kind, NULL, MODEL(field[TOPO_TRUST_MEDIUM]),    0, 0},                      \
	{"high",      kind, NULL, MODEL(field[TOPO_TRUST_HIGH]),      0, 0},                      \
	{"verified",  kind, NULL, MODEL(field[TOPO_TRUST_VERIFIED]),  0, 0}
static const struct key_spec delay_keys[TOPO_TRUST_COUNT] = {LEVELS(&k_range, delay)};
static const struct key_spec success_keys[TOPO_TRUST_COUNT] = {LEVELS(&topo_k_percent, success)};
#undef LEVELS

static const struct key_spec risk_keys[] = {
	{"factor",       &topo_k_percent, NULL, MODEL(risk_factor),    0, 0},
	{"failures",     &topo_k_percent, NULL, MODEL(w_failures),     0, 0},
	{"rate",         &topo_k_percent, NULL, MODEL(w_rate),         0, 0},
	{"idle",         &topo_k_percent, NULL, MODEL(w_idle),         0, 0},
	{"failures-max", &k_risk_n,       NULL, MODEL(failures_max),   0, 0},
	{"rate-max",     &k_rate_max,       NULL, MODEL(rate_max),       0, 0},
	{"rate-window",  &k_ttl,          NULL, MODEL(rate_window_ns), 0, 0},
	{"idle-max",     &k_ttl,          NULL, MODEL(idle_max_ns),    0, 0},
};
#undef MODEL
/* clang-format on */

/* The model's blocks of keys: a gate block's `delay`, `success`, `risk`,
 * and "delay.LEVEL" ... for `set`. */
struct model_block {
	const char *name;
	const struct key_spec *keys;
	size_t n;
};

static const struct model_block model_blocks[] = {
    {"delay", delay_keys, ARRAY_SIZE(delay_keys)},
    {"success", success_keys, ARRAY_SIZE(success_keys)},
    {"risk", risk_keys, ARRAY_SIZE(risk_keys)},
};

static const struct key_spec *keys_find(const struct key_spec *keys, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(keys[i].key, key))
			return &keys[i];
	return NULL;
}

/* The key spec of "KEY" or "BLOCK.KEY", or NULL. */
static const struct key_spec *model_key_find(const char *key)
{
	const char *dot = strchr(key, '.');
	size_t i;

	if (!dot)
		return keys_find(model_keys, ARRAY_SIZE(model_keys), key);
	for (i = 0; i < ARRAY_SIZE(model_blocks); i++)
		if (strlen(model_blocks[i].name) == (size_t)(dot - key) &&
		    !strncmp(model_blocks[i].name, key, (size_t)(dot - key)))
			return keys_find(model_blocks[i].keys, model_blocks[i].n, dot + 1);
	return NULL;
}

int topo_gate_model_set(struct topo_gate_model *m, const char *key, const char *value, char *err,
			size_t errlen)
{
	const struct key_spec *k = model_key_find(key);
	struct topo_gate_model nm = *m;
	size_t i;

	if (!k) {
		int used = snprintf(err, errlen, "unknown gate key '%.*s' (", VALUE_SHOW_MAX, key);

		for (i = 0; used > 0 && (size_t)used < errlen && i < ARRAY_SIZE(model_keys); i++)
			used +=
			    snprintf(err + used, errlen - (size_t)used, "%s, ", model_keys[i].key);
		if (used > 0 && (size_t)used < errlen)
			snprintf(err + used, errlen - (size_t)used,
				 "delay.LEVEL, success.LEVEL, risk.KEY)");
		return -1;
	}
	if (k->text->parse(value, (char *)&nm + k->off) < 0) {
		snprintf(err, errlen, "%s: bad %s '%.*s' (%s)", key, k->text->what, VALUE_SHOW_MAX,
			 value, k->text->hint);
		return -1;
	}
	*m = nm;
	return 0;
}

/* ---- structured values of a gate block ---- */

/* delay, success, risk: a mapping of the block's keys into the model. */
static int v_block(struct loader *ld, const yaml_node_t *n, const char *path, void *dst,
		   const struct model_block *b)
{
	int lines[ARRAY_SIZE(risk_keys)] = {0};

	return topo_walk_map(ld, n, path, b->keys, b->n, dst, lines, NULL);
}

static int v_delay(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	return v_block(ld, n, path, dst, &model_blocks[0]);
}

static int v_success(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	return v_block(ld, n, path, dst, &model_blocks[1]);
}

static int v_risk(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	return v_block(ld, n, path, dst, &model_blocks[2]);
}

enum gate_host_key { GHK_KEY, GHK_TRUST, GHK_COUNT };

/* clang-format off */
#define GHOST(m) offsetof(struct topo_gate_host, m)
static const struct key_spec gate_host_keys[GHK_COUNT] = {
	[GHK_KEY]   = {"key",   &k_key,   NULL, GHOST(key),   0, 0},
	[GHK_TRUST] = {"trust", &k_trust, NULL, GHOST(trust), 0, 1},
};
#undef GHOST
/* clang-format on */

/* hosts: a mapping of host name to {key, trust}. */
static int v_hosts(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	struct topo_gate *g = dst;
	const yaml_node_pair_t *p;
	char sub[KEY_PATH_MAX];
	int rc = topo_block(ld, n, path, YAML_MAPPING_NODE, "a mapping of host names");

	if (rc <= 0)
		return rc;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = topo_node_at(ld, p->key);
		const char *name = topo_scalar(ld, k, path);
		struct topo_gate_host *e = &g->hosts[g->n_hosts];
		int lines[GHK_COUNT] = {0};
		unsigned set = 0;
		size_t i;

		if (!name)
			return -1;
		topo_path_join(sub, sizeof(sub), path, name);
		if (g->n_hosts == TOPO_GATE_HOSTS_MAX)
			return topo_fail(ld, line_of(k), sub, "more than %d hosts",
					 TOPO_GATE_HOSTS_MAX);
		if (topo_copy_str(e->name, sizeof(e->name), name) < 0 ||
		    strspn(name, GATE_NAME_CHARS) != strlen(name))
			return topo_fail(ld, line_of(k), sub, "not a host name");
		for (i = 0; i < g->n_hosts; i++)
			if (!strcmp(g->hosts[i].name, name))
				return topo_fail(ld, line_of(k), sub,
						 "duplicate key (first at line %d)",
						 g->hosts[i].line);
		e->line = line_of(k);
		e->index = -1;
		if (topo_walk_map(ld, topo_node_at(ld, p->value), sub, gate_host_keys, GHK_COUNT, e,
				  lines, &set) < 0)
			return -1;
		e->trust_set = set != 0;
		g->n_hosts++;
	}
	return 0;
}

/* An exemption's `to`: a host's name, or an address or prefix. */
static int v_exempt_to(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	static const struct prefix_rule pr = {0, 32, true};
	struct topo_gate_exempt *x = dst;
	const char *s = topo_scalar(ld, n, path);
	unsigned len;

	if (!s)
		return -1;
	if (*s >= 'a' && *s <= 'z') {
		if (strspn(s, GATE_NAME_CHARS) != strlen(s) ||
		    topo_copy_str(x->to_host, sizeof(x->to_host), s) < 0)
			return topo_fail(ld, line_of(n), path, "'%.*s' is not a host name",
					 VALUE_SHOW_MAX, s);
		return 0;
	}
	if (!topo_prefix_read(ld, n, path, &pr, &x->to.addr, &len))
		return -1;
	x->to.len = (uint8_t)len;
	return 0;
}

static int t_proto(const char *s, void *dst)
{
	return topo_parse_fw_proto(s, dst);
}

/* dst: a struct topo_fw_ports; "PORT" or "LO-HI". */
static int t_ports(const char *s, void *dst)
{
	struct topo_fw_ports *p = dst;

	if (strchr(s, '-'))
		return units_parse_port_range(s, &p->lo, &p->hi);
	if (t_port(s, &p->lo) < 0)
		return -1;
	p->hi = p->lo;
	return 0;
}

/* clang-format off */
static const struct text_kind k_proto = {t_proto, "protocol", "udp, tcp, icmp or any"};
static const struct text_kind k_ports = {t_ports, "port", "PORT or LO-HI, ports 1 to 65535"};

enum exempt_key { XK_TO, XK_PROTO, XK_PORT, XK_COUNT };
#define EXEMPT(m) offsetof(struct topo_gate_exempt, m)
static const struct key_spec exempt_keys[XK_COUNT] = {
	[XK_TO]    = {"to",    NULL,     v_exempt_to, 0,             0, TOPO_FW_TO},
	[XK_PROTO] = {"proto", &k_proto, NULL,        EXEMPT(proto), 0, 0},
	[XK_PORT]  = {"port",  &k_ports, NULL,        EXEMPT(port),  0, TOPO_FW_PORT},
};
#undef EXEMPT
/* clang-format on */

/* exempt: a list of {to, proto, port}, each key optional (none: all). */
static int v_exempt(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	struct topo_gate *g = dst;
	const yaml_node_item_t *it;
	char sub[KEY_PATH_MAX], key[KEY_PATH_MAX];
	int rc = topo_block(ld, n, path, YAML_SEQUENCE_NODE, "a list of exemptions");

	if (rc <= 0)
		return rc;
	if (n->data.sequence.items.top - n->data.sequence.items.start > TOPO_GATE_EXEMPT_MAX)
		return topo_fail(ld, line_of(n), path, "give at most %d exemptions",
				 TOPO_GATE_EXEMPT_MAX);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		const yaml_node_t *item = topo_node_at(ld, *it);
		struct topo_gate_exempt *x = &g->exempt[g->n_exempt];
		int lines[XK_COUNT] = {0};

		topo_path_index(sub, sizeof(sub), path, g->n_exempt);
		x->line = line_of(item);
		x->to_index = -1;
		if (topo_walk_map(ld, item, sub, exempt_keys, XK_COUNT, x, lines, &x->set) < 0)
			return -1;
		if (x->proto == TOPO_FW_PROTO_ICMP && (x->set & TOPO_FW_PORT)) {
			topo_path_join(key, sizeof(key), sub, "port");
			return topo_fail(ld, lines[XK_PORT], key,
					 "ports apply to udp and tcp, not to proto icmp");
		}
		g->n_exempt++;
	}
	return 0;
}

enum gate_key {
	GK_ADDRESS,
	GK_PORT,
	GK_KEY,
	GK_TRUST,
	GK_HOSTS,
	GK_EXEMPT,
	GK_TIME_SCALE,
	GK_PINHOLE_TTL,
	GK_REPLAY_WINDOW,
	GK_ESCALATE,
	GK_DEMOTE_AFTER,
	GK_DELAY,
	GK_SUCCESS,
	GK_RISK,
	GK_COUNT
};

/* clang-format off */
#define GATE(m) offsetof(struct topo_gate, m)
static const struct key_spec gate_keys[GK_COUNT] = {
	[GK_ADDRESS]       = {"address",       &topo_k_addr,    NULL,       GATE(address),          0, 1},
	[GK_PORT]          = {"port",          &k_port,         NULL,       GATE(port),             0, 0},
	[GK_KEY]           = {"key",           &k_key,          NULL,       GATE(key),              0, 0},
	[GK_TRUST]         = {"trust",         &k_trust,        NULL,       GATE(trust),            0, 0},
	[GK_HOSTS]         = {"hosts",         NULL,            v_hosts,    0,                      0, 0},
	[GK_EXEMPT]        = {"exempt",        NULL,            v_exempt,   0,                      0, 0},
	[GK_TIME_SCALE]    = {"time-scale",    &k_scale,        NULL,       GATE(m.time_scale),     0, 0},
	[GK_PINHOLE_TTL]   = {"pinhole-ttl",   &k_ttl,          NULL,       GATE(m.pinhole_ttl_ns), 0, 0},
	[GK_REPLAY_WINDOW] = {"replay-window", &k_window,       NULL,       GATE(m.replay_window),  0, 0},
	[GK_ESCALATE]      = {"escalate",      &topo_k_percent, NULL,       GATE(m.escalate),       0, 0},
	[GK_DEMOTE_AFTER]  = {"demote-after",  &k_demote,       NULL,       GATE(m.demote_after),   0, 0},
	[GK_DELAY]         = {"delay",         NULL,            v_delay,    GATE(m),                0, 0},
	[GK_SUCCESS]       = {"success",       NULL,            v_success,  GATE(m),                0, 0},
	[GK_RISK]          = {"risk",          NULL,            v_risk,     GATE(m),                0, 0},
};
#undef GATE
/* clang-format on */

int topo_v_gate(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	struct topo_gate **out = dst, *g;
	int lines[GK_COUNT] = {0};
	unsigned set = 0;

	if (topo_block(ld, n, path, YAML_MAPPING_NODE, "a mapping") < 0)
		return -1;
	g = calloc(1, sizeof(*g));
	if (!g)
		return topo_fail(ld, line_of(n), path, "out of memory");
	*out = g;
	g->line = line_of(n);
	g->port = TOPO_GATE_PORT_DEFAULT;
	g->trust = TOPO_TRUST_UNTRUSTED;
	topo_gate_model_default(&g->m);
	if (topo_walk_map(ld, n, path, gate_keys, GK_COUNT, g, lines, &set) < 0)
		return -1;
	g->address_set = set != 0;
	return 0;
}

/* ---- binding to the topology's hosts ---- */

/* The key of gated host h: its entry's, else the gate's ("" : none). */
static const char *gate_key_of(const struct topo_gate *g, int h)
{
	size_t i;

	for (i = 0; i < g->n_hosts; i++)
		if (g->hosts[i].index == h && g->hosts[i].key[0])
			return g->hosts[i].key;
	return g->key;
}

/* Binds gate g at path, on NAT nat or on host host's link (the other -1). */
static int gate_bind(struct loader *ld, const struct topo *t, struct topo_gate *g, const char *path,
		     int nat, int host)
{
	char sub[KEY_PATH_MAX], sub2[KEY_PATH_MAX];
	size_t i;

	if (!g->address_set)
		g->address = nat >= 0 ? t->nats[nat].gateway : t->hosts[host].gateway;
	topo_path_join(sub, sizeof(sub), path, "hosts");
	for (i = 0; i < g->n_hosts; i++) {
		struct topo_gate_host *e = &g->hosts[i];
		int h = topo_host_find(t, e->name);

		topo_path_join(sub2, sizeof(sub2), sub, e->name);
		if (h < 0)
			return topo_fail(ld, e->line, sub2, "no host '%s' in this topology",
					 e->name);
		if (nat >= 0 ? t->hosts[h].nat != nat : h != host)
			return topo_fail(ld, e->line, sub2, "%s is not behind this gate (%s %s)",
					 e->name, nat >= 0 ? "the inside of NAT" : "the link of",
					 nat >= 0 ? t->nats[nat].name : t->hosts[host].name);
		e->index = h;
	}
	for (i = 0; i < t->n_hosts; i++) {
		if ((nat >= 0 ? t->hosts[i].nat != nat : (int)i != host) ||
		    gate_key_of(g, (int)i)[0])
			continue;
		topo_path_join(sub, sizeof(sub), path, "key");
		return topo_fail(ld, g->line, sub,
				 "missing: host %s has no key (give key, or hosts.%s.key)",
				 t->hosts[i].name, t->hosts[i].name);
	}
	for (i = 0; i < g->n_exempt; i++) {
		struct topo_gate_exempt *x = &g->exempt[i];

		if (!x->to_host[0])
			continue;
		x->to_index = topo_host_find(t, x->to_host);
		if (x->to_index < 0) {
			snprintf(sub2, sizeof(sub2), "%s.exempt[%zu].to", path, i);
			return topo_fail(ld, x->line, sub2, "no host '%s' in this topology",
					 x->to_host);
		}
	}
	return 0;
}

int topo_gates_bind(struct loader *ld, struct topo *t)
{
	char path[KEY_PATH_MAX];
	size_t i;

	for (i = 0; i < t->n_nats; i++) {
		snprintf(path, sizeof(path), "nats.%s.gate", t->nats[i].name);
		if (t->nats[i].gate && gate_bind(ld, t, t->nats[i].gate, path, (int)i, -1) < 0)
			return -1;
	}
	for (i = 0; i < t->n_hosts; i++) {
		snprintf(path, sizeof(path), "hosts.%s.gate", t->hosts[i].name);
		if (t->hosts[i].gate && gate_bind(ld, t, t->hosts[i].gate, path, -1, (int)i) < 0)
			return -1;
	}
	return 0;
}

const struct topo_gate *topo_host_gate(const struct topo *t, int h, const char **key)
{
	const struct topo_gate *g;

	if (h < 0 || (size_t)h >= t->n_hosts)
		return NULL;
	g = t->hosts[h].gate;
	if (!g && t->hosts[h].nat >= 0)
		g = t->nats[t->hosts[h].nat].gate;
	if (g && key)
		*key = gate_key_of(g, h);
	return g;
}

bool topo_host_seen_as(const struct topo *t, int h, uint32_t a)
{
	size_t i, steps;
	int k;

	if (h < 0 || (size_t)h >= t->n_hosts)
		return false;
	for (i = 0; i < t->hosts[h].n_addrs; i++)
		if (t->hosts[h].addrs[i].s_addr == a)
			return true;
	/* the loader refuses upstream cycles; the bound is for safety */
	for (k = t->hosts[h].nat, steps = 0; k >= 0 && steps <= t->n_nats;
	     k = t->nats[k].upstream, steps++)
		for (i = 0; i < t->nats[k].n_public; i++)
			if (t->nats[k].publics[i].s_addr == a)
				return true;
	return false;
}
