/* The scenario section of a topology (docs/topology.md, Scenarios): which
 * pairs of hosts connect, or clients arriving over time at sites, and how
 * every connect chooses its method. Read here; host names are bound to
 * hosts once every host is known (topo_scenario_bind). */
#include "topo_int.h"

#include "natbed/strcopy.h"
#include "natbed/units.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCEN_CLIENTS_MAX 1000000
#define SCEN_RATE_MAX	 10000.0 /* arrivals a second */

/* ---- scalar values ---- */

/* A host or method name: what a name may be (checked again when bound). */
static int t_name(const char *s, void *dst)
{
	size_t len = strlen(s);

	if (len == 0 || len >= TOPO_NAME_MAX ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len)
		return -1;
	memcpy(dst, s, len + 1);
	return 0;
}

static int t_priority(const char *s, void *dst)
{
	static const char *const words[] = {"success_rate", "cost", "security", "balanced"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(words); i++)
		if (strcmp(s, words[i]) == 0) {
			str_copy(dst, TOPO_PRIORITY_MAX, s);
			return 0;
		}
	return -1;
}

static int t_clients(const char *s, void *dst)
{
	int64_t v;

	if (units_parse_count(s, SCEN_CLIENTS_MAX, &v) < 0 || v < 1)
		return -1;
	*(uint32_t *)dst = (uint32_t)v;
	return 0;
}

/* Arrivals a second: "2", "0.5", or with "/s". */
static int t_rate(const char *s, void *dst)
{
	char *end;
	double v;

	if (!*s || strspn(s, "0123456789.") == 0)
		return -1;
	v = strtod(s, &end);
	if (strcmp(end, "/s") != 0 && *end)
		return -1;
	if (!isfinite(v) || v <= 0 || v > SCEN_RATE_MAX)
		return -1;
	*(double *)dst = v;
	return 0;
}

static int t_positive_duration(const char *s, void *dst)
{
	natbed_time_t t;

	if (units_parse_duration(s, &t) < 0 || t <= 0)
		return -1;
	*(natbed_time_t *)dst = t;
	return 0;
}

/* clang-format off */
static const struct text_kind k_name = {t_name, "name", "1 to 31 of A-Z a-z 0-9 . _ -"};
static const struct text_kind k_priority = {t_priority, "priority", "success_rate, cost, security or balanced"};
static const struct text_kind k_clients = {t_clients, "count", "a whole number from 1 to 1000000"};
static const struct text_kind k_rate = {t_rate, "rate", "arrivals a second above 0, e.g. 2.0 or 2/s"};
static const struct text_kind k_duration = {t_positive_duration, "duration", "a duration above zero, e.g. 60s"};
/* clang-format on */

/* ---- connect: a list of [FROM, TO] or {from, to, method, priority} ---- */

enum pair_key { PK_FROM, PK_TO, PK_METHOD, PK_PRIORITY, PK_COUNT };

/* clang-format off */
#define PAIR_FIELD(m) offsetof(struct topo_pair, m)
static const struct key_spec pair_keys[PK_COUNT] = {
	[PK_FROM]     = {"from",     &k_name,     NULL, PAIR_FIELD(from),     0, 0},
	[PK_TO]       = {"to",       &k_name,     NULL, PAIR_FIELD(to),       0, 0},
	[PK_METHOD]   = {"method",   &k_name,     NULL, PAIR_FIELD(method),   0, 0},
	[PK_PRIORITY] = {"priority", &k_priority, NULL, PAIR_FIELD(priority), 0, 0},
};
/* clang-format on */

static int v_pair(struct loader *ld, const yaml_node_t *n, const char *path, struct topo_pair *p)
{
	int lines[PK_COUNT] = {0};

	p->line = line_of(n);
	if (n->type == YAML_SEQUENCE_NODE) {
		const yaml_node_item_t *it = n->data.sequence.items.start;
		char sub[KEY_PATH_MAX];

		if (n->data.sequence.items.top - it != 2)
			return topo_fail(ld, line_of(n), path, "a pair is [FROM, TO]");
		topo_path_index(sub, sizeof(sub), path, 0);
		if (topo_text_read(ld, topo_node_at(ld, it[0]), sub, p->from, &k_name) < 0)
			return -1;
		topo_path_index(sub, sizeof(sub), path, 1);
		return topo_text_read(ld, topo_node_at(ld, it[1]), sub, p->to, &k_name);
	}
	if (n->type != YAML_MAPPING_NODE)
		return topo_fail(ld, line_of(n), path,
				 "expected [FROM, TO] or {from, to, method, priority}, got %s",
				 topo_node_kind(n));
	if (topo_walk_map(ld, n, path, pair_keys, PK_COUNT, p, lines, NULL) < 0)
		return -1;
	if (!lines[PK_FROM] || !lines[PK_TO])
		return topo_fail(ld, line_of(n), path, "a pair needs from and to");
	return 0;
}

static int v_connect(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	struct topo_scenario *s = dst;
	const yaml_node_item_t *it;
	char sub[KEY_PATH_MAX];
	size_t count;
	int b = topo_block(ld, n, path, YAML_SEQUENCE_NODE, "a list of pairs");

	if (b <= 0)
		return b;
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count > TOPO_PAIRS_MAX)
		return topo_fail(ld, line_of(n), path, "more than %d pairs", TOPO_PAIRS_MAX);
	free(s->pairs);
	s->n_pairs = 0;
	if (count && !(s->pairs = calloc(count, sizeof(*s->pairs))))
		return topo_fail(ld, line_of(n), path, "out of memory");
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		topo_path_index(sub, sizeof(sub), path, s->n_pairs);
		if (v_pair(ld, topo_node_at(ld, *it), sub, &s->pairs[s->n_pairs]) < 0)
			return -1;
		s->n_pairs++;
	}
	return 0;
}

/* ---- sites: {HOST: PERCENT, ...}, the shares adding up to 100% ---- */

static int v_sites(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	struct topo_scenario *s = dst;
	const yaml_node_pair_t *p;
	char sub[KEY_PATH_MAX];
	double sum = 0;
	size_t count;
	int b = topo_block(ld, n, path, YAML_MAPPING_NODE, "a mapping of HOST: PERCENT");

	if (b <= 0)
		return b;
	count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (count > TOPO_SITES_MAX)
		return topo_fail(ld, line_of(n), path, "more than %d sites", TOPO_SITES_MAX);
	free(s->sites);
	s->n_sites = 0;
	if (count && !(s->sites = calloc(count, sizeof(*s->sites))))
		return topo_fail(ld, line_of(n), path, "out of memory");
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = topo_node_at(ld, p->key);
		struct topo_site *site = &s->sites[s->n_sites];
		const char *name;

		if (!(name = topo_scalar(ld, k, path)))
			return -1;
		topo_path_join(sub, sizeof(sub), path, name);
		if (t_name(name, site->host) < 0)
			return topo_fail(ld, line_of(k), sub, "bad host name");
		if (topo_text_read(ld, topo_node_at(ld, p->value), sub, &site->weight,
				   &topo_k_percent) < 0)
			return -1;
		site->line = line_of(k);
		sum += site->weight;
		s->n_sites++;
	}
	if (fabs(sum - 1.0) > 0.005)
		return topo_fail(ld, line_of(n), path, "the shares add up to %.1f%%, not 100%%",
				 sum * 100);
	return 0;
}

/* ---- the section ---- */

enum scen_key {
	SK_CONNECT,
	SK_CLIENTS,
	SK_RATE,
	SK_DURATION,
	SK_SITES,
	SK_TO,
	SK_METHOD,
	SK_PRIORITY,
	SK_NO_RELAY,
	SK_BUDGET,
	SK_COUNT
};

/* clang-format off */
#define SCEN_FIELD(m) offsetof(struct topo_scenario, m)
static const struct key_spec scen_keys[SK_COUNT] = {
	[SK_CONNECT]  = {"connect",      NULL,          v_connect, 0,                        0, 0},
	[SK_CLIENTS]  = {"clients",      &k_clients,    NULL,      SCEN_FIELD(clients),      0, 0},
	[SK_RATE]     = {"arrival-rate", &k_rate,       NULL,      SCEN_FIELD(rate_per_s),   0, 0},
	[SK_DURATION] = {"duration",     &k_duration,   NULL,      SCEN_FIELD(duration_ns),  0, 0},
	[SK_SITES]    = {"sites",        NULL,          v_sites,   0,                        0, 0},
	[SK_TO]       = {"to",           &k_name,       NULL,      SCEN_FIELD(to),           0, 0},
	[SK_METHOD]   = {"method",       &k_name,       NULL,      SCEN_FIELD(method),       0, 0},
	[SK_PRIORITY] = {"priority",     &k_priority,   NULL,      SCEN_FIELD(priority),     0, 0},
	[SK_NO_RELAY] = {"no-relay",     &topo_k_bool,  NULL,      SCEN_FIELD(no_relay),     0, 0},
	[SK_BUDGET]   = {"budget",       &k_duration,   NULL,      SCEN_FIELD(budget_ns),    0, 0},
};
/* clang-format on */

void topo_scenario_free(struct topo_scenario *s)
{
	if (!s)
		return;
	free(s->pairs);
	free(s->sites);
	free(s);
}

int topo_v_scenario(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	struct topo_scenario **out = dst, *s;
	int lines[SK_COUNT] = {0};
	bool arrivals;

	if (topo_block(ld, n, path, YAML_MAPPING_NODE, "a mapping") < 0)
		return -1;
	s = calloc(1, sizeof(*s));
	if (!s)
		return topo_fail(ld, line_of(n), path, "out of memory");
	*out = s;
	s->line = line_of(n);
	s->to_index = -1;
	if (!topo_is_null(n) && topo_walk_map(ld, n, path, scen_keys, SK_COUNT, s, lines, NULL) < 0)
		return -1;
	arrivals = lines[SK_CLIENTS] || lines[SK_RATE] || lines[SK_DURATION] || lines[SK_SITES] ||
		   lines[SK_TO];
	if (arrivals && (!lines[SK_RATE] || !lines[SK_SITES] || !lines[SK_TO] ||
			 (!lines[SK_CLIENTS] && !lines[SK_DURATION])))
		return topo_fail(ld, line_of(n), path,
				 "arrivals need arrival-rate, sites, to, and clients or duration");
	if (!arrivals && !s->n_pairs)
		return topo_fail(
		    ld, line_of(n), path,
		    "nothing to run: give connect, or arrivals (clients, arrival-rate, "
		    "duration, sites, to)");
	return 0;
}

/* One host name of the scenario: its index, or -1 with the error written. */
static int scen_host(struct loader *ld, const struct topo *t, const char *name, int line,
		     const char *path)
{
	int h = topo_host_find(t, name);

	if (h < 0)
		topo_fail(ld, line, path, "no host '%s' in this topology", name);
	return h;
}

int topo_scenario_bind(struct loader *ld, struct topo *t)
{
	struct topo_scenario *s = t->scenario;
	char path[KEY_PATH_MAX];
	size_t i;

	if (!s)
		return 0;
	for (i = 0; i < s->n_pairs; i++) {
		struct topo_pair *p = &s->pairs[i];

		topo_path_index(path, sizeof(path), "scenario.connect", i);
		if ((p->a = scen_host(ld, t, p->from, p->line, path)) < 0 ||
		    (p->b = scen_host(ld, t, p->to, p->line, path)) < 0)
			return -1;
		if (p->a == p->b)
			return topo_fail(ld, p->line, path, "a host cannot connect to itself");
	}
	for (i = 0; i < s->n_sites; i++) {
		topo_path_join(path, sizeof(path), "scenario.sites", s->sites[i].host);
		if ((s->sites[i].index =
			 scen_host(ld, t, s->sites[i].host, s->sites[i].line, path)) < 0)
			return -1;
	}
	if (s->to[0] && (s->to_index = scen_host(ld, t, s->to, s->line, "scenario.to")) < 0)
		return -1;
	return 0;
}
