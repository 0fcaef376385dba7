/* NAT blocks of a topology: the behaviour words (RFC 4787 mapping,
 * filtering, port assignment), the presets that name a set of them, and
 * the keys a NAT block takes with the parsers of their values. Reading the
 * nats section and the checks across NATs (upstream, addresses) are in
 * topo.c. */
#include "topo_int.h"

#include "natbed/units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INSIDE_LEN_MAX	30			/* room for network, gateway, a host, broadcast */
#define TIMEOUT_DEFAULT (120 * NATBED_NS_PER_S) /* RFC 4787 REQ-5: >= 2 min */

/* ---- NAT behaviours and presets ---- */

static const struct name_value nat_map_names[] = {
    {"endpoint-independent", TOPO_MAP_EIM},
    {"address-dependent", TOPO_MAP_ADM},
    {"address-and-port-dependent", TOPO_MAP_APDM},
};

static const struct name_value nat_ports_names[] = {
    {"preserve", TOPO_PORTS_PRESERVE},
    {"sequential", TOPO_PORTS_SEQUENTIAL},
    {"random", TOPO_PORTS_RANDOM},
    {"preserve-random", TOPO_PORTS_PRESERVE_RANDOM},
};

int topo_parse_nat_map(const char *s, enum topo_nat_map *out)
{
	int v;

	if (topo_nv_parse(nat_map_names, ARRAY_SIZE(nat_map_names), s, &v) < 0)
		return -1;
	*out = (enum topo_nat_map)v;
	return 0;
}

int topo_parse_nat_ports(const char *s, enum topo_nat_ports *out)
{
	int v;

	if (topo_nv_parse(nat_ports_names, ARRAY_SIZE(nat_ports_names), s, &v) < 0)
		return -1;
	*out = (enum topo_nat_ports)v;
	return 0;
}

const char *topo_nat_map_name(enum topo_nat_map m)
{
	return topo_nv_name(nat_map_names, ARRAY_SIZE(nat_map_names), (int)m);
}

const char *topo_nat_ports_name(enum topo_nat_ports p)
{
	return topo_nv_name(nat_ports_names, ARRAY_SIZE(nat_ports_names), (int)p);
}

/* The behaviour a preset stands for; a topology overrides it field by field. */
struct nat_preset {
	const char *name;
	struct topo_nat_behaviour b;
};

#define EIM  TOPO_MAP_EIM
#define ADM  TOPO_MAP_ADM
#define APDM TOPO_MAP_APDM
/* What every preset shares: the whole registered and dynamic range, RFC
 * 4787 REQ-5's two minutes, one port at a time, one block per subscriber
 * when blocks are used. The rest is in the table's columns. */
#define PRESET(m, f, p, hairpin_, classes_, block, unreplied, refresh, reserves)                   \
	{                                                                                          \
		.mapping = (m), .filtering = (f), .ports = (p), .port_lo = 1024, .port_hi = 65535, \
		.timeout_ns = TIMEOUT_DEFAULT, .stride = 1, .port_blocks = 1,                      \
		.hairpin = (hairpin_), .classes = (classes_), .port_block = (block),               \
		.unreplied_ns = (unreplied), .refresh_inbound = (refresh),                         \
		.inbound_reserves = (reserves)                                                     \
	}
#define RFC4787	 TOPO_CLASSES_RFC4787
#define LINUX	 TOPO_CLASSES_LINUX
#define PRESERVE TOPO_PORTS_PRESERVE
#define S30	 (30 * NATBED_NS_PER_S)
/* clang-format off */
static const struct nat_preset nat_presets[] = {
	/*                               mapping filter ports    hairpin classes block unreplied refresh-in reserves */
	{"full-cone",            PRESET(EIM,  EIM,  PRESERVE,   false, RFC4787, 0,   0,   false, false)},
	{"restricted-cone",      PRESET(EIM,  ADM,  PRESERVE,   false, RFC4787, 0,   0,   false, false)},
	{"port-restricted",      PRESET(EIM,  APDM, PRESERVE,   false, RFC4787, 0,   0,   false, false)},
	{"symmetric",            PRESET(APDM, APDM, TOPO_PORTS_RANDOM, false, RFC4787, 0, 0, false, false)},
	{"symmetric-sequential", PRESET(APDM, APDM, TOPO_PORTS_SEQUENTIAL, false, RFC4787, 0, 0, false, false)},
	/* RFC 6888: paired pooling (always), a block of ports per subscriber
	 * (REQ-4), hairpinning (REQ-7) */
	{"cgnat",                PRESET(EIM,  EIM,  PRESERVE,   true,  RFC4787, 512, 0,   false, false)},
	/* Linux netfilter masquerade with the kernel's defaults: conntrack's
	 * UDP timeouts (30 s unreplied, 120 s once answered, refreshed both
	 * ways), source ports kept in their class, and an unanswered inbound
	 * packet holding its (remote, port) pair */
	{"linux-masquerade",     PRESET(EIM,  APDM, TOPO_PORTS_PRESERVE_RANDOM, false, LINUX, 0, S30, true, true)},
};

/* What a NAT without a preset gets (mapping and filtering must be given). */
static const struct nat_preset nat_no_preset = {"", PRESET(EIM, EIM, PRESERVE, false, RFC4787, 0, 0, false, false)};
/* clang-format on */
#undef S30
#undef PRESERVE
#undef LINUX
#undef RFC4787
#undef PRESET
#undef EIM
#undef ADM
#undef APDM

static const struct nat_preset *preset_find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(nat_presets); i++)
		if (!strcmp(nat_presets[i].name, name))
			return &nat_presets[i];
	return NULL;
}

const char *topo_nat_preset_name(size_t i)
{
	return i < ARRAY_SIZE(nat_presets) ? nat_presets[i].name : NULL;
}

/* Which behaviour field each topo_nat_field bit stands for. */
struct nat_field {
	unsigned bit;
	size_t off, size;
};

#define NAT_B(bit, m)                                                                              \
	{                                                                                          \
		bit, offsetof(struct topo_nat_behaviour, m),                                       \
		    sizeof(((struct topo_nat_behaviour *)0)->m)                                    \
	}
static const struct nat_field nat_fields[] = {
    NAT_B(TOPO_NAT_MAPPING, mapping),
    NAT_B(TOPO_NAT_FILTERING, filtering),
    NAT_B(TOPO_NAT_PORTS, ports),
    NAT_B(TOPO_NAT_PORT_RANGE, port_lo),
    NAT_B(TOPO_NAT_PORT_RANGE, port_hi),
    NAT_B(TOPO_NAT_HAIRPIN, hairpin),
    NAT_B(TOPO_NAT_TIMEOUT, timeout_ns),
    NAT_B(TOPO_NAT_STRIDE, stride),
    NAT_B(TOPO_NAT_PARITY, parity),
    NAT_B(TOPO_NAT_POOL, pool),
    NAT_B(TOPO_NAT_REFRESH_INBOUND, refresh_inbound),
    NAT_B(TOPO_NAT_UNREPLIED, unreplied_ns),
    NAT_B(TOPO_NAT_INBOUND_RESERVES, inbound_reserves),
    NAT_B(TOPO_NAT_PORT_BLOCK, port_block),
    NAT_B(TOPO_NAT_PORT_BLOCKS, port_blocks),
    NAT_B(TOPO_NAT_PCP, pcp),
};
#undef NAT_B

/* Fills the behaviour fields of nat not flagged in nat->set from p. */
static void preset_fill(struct topo_nat *nat, const struct nat_preset *p)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(nat_fields); i++)
		if (!(nat->set & nat_fields[i].bit))
			memcpy((char *)&nat->b + nat_fields[i].off,
			       (const char *)&p->b + nat_fields[i].off, nat_fields[i].size);
	/* REQ-3a: a port-range given is the range of every port */
	nat->b.classes = (nat->set & TOPO_NAT_PORT_RANGE) ? TOPO_CLASSES_NONE : p->b.classes;
}

int topo_nat_preset_apply(struct topo_nat *nat, const char *name)
{
	const struct nat_preset *p = name ? preset_find(name) : NULL;

	if (!p || topo_copy_str(nat->preset, sizeof(nat->preset), p->name) < 0)
		return -1;
	preset_fill(nat, p);
	return 0;
}

/* The preset nat->preset names, or none: nat_complete() in topo.c. */
void topo_nat_behaviour_fill(struct topo_nat *nat)
{
	preset_fill(nat, nat->preset[0] ? preset_find(nat->preset) : &nat_no_preset);
}

/* ---- scalar values of a NAT block ---- */

static int t_map(const char *s, void *dst)
{
	return topo_parse_nat_map(s, dst);
}

static int t_ports(const char *s, void *dst)
{
	return topo_parse_nat_ports(s, dst);
}

/* dst: the struct topo_nat_behaviour (a range fills two fields and makes
 * it the range of every port: no classes). */
static int t_port_range(const char *s, void *dst)
{
	struct topo_nat_behaviour *b = dst;

	if (units_parse_port_range(s, &b->port_lo, &b->port_hi) < 0)
		return -1;
	b->classes = TOPO_CLASSES_NONE;
	return 0;
}

/* A whole number lo..hi, digits only. */
static int t_count(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;

	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
		return -1;
	*out = strtoul(s, &end, 10);
	return *end || *out < lo || *out > hi ? -1 : 0;
}

/* A whole number lo..hi into the uint16_t at dst. */
static int t_u16(const char *s, unsigned long lo, unsigned long hi, void *dst)
{
	unsigned long v;

	if (t_count(s, lo, hi, &v) < 0)
		return -1;
	*(uint16_t *)dst = (uint16_t)v;
	return 0;
}

static int t_stride(const char *s, void *dst)
{
	return t_u16(s, 1, TOPO_NAT_STRIDE_MAX, dst);
}

static int t_port_block(const char *s, void *dst)
{
	return t_u16(s, 1, 32768, dst);
}

static int t_port_blocks(const char *s, void *dst)
{
	return t_u16(s, 1, 64, dst);
}

static int t_pool(const char *s, void *dst)
{
	unsigned long v;

	if (t_count(s, 1, 65535, &v) < 0)
		return -1;
	*(uint32_t *)dst = (uint32_t)v;
	return 0;
}

/* A mapping lifetime: a duration above zero. */
static int t_timeout(const char *s, void *dst)
{
	natbed_time_t t;

	if (units_parse_duration(s, &t) < 0 || t <= 0)
		return -1;
	*(natbed_time_t *)dst = t;
	return 0;
}

/* clang-format off */
static const struct text_kind k_timeout = {t_timeout, "duration", "a duration above zero with us, ms or s, e.g. 30s"};
static const struct text_kind k_map = {t_map, "behaviour", "endpoint-independent, address-dependent or address-and-port-dependent"};
static const struct text_kind k_ports = {t_ports, "port assignment", "preserve, sequential, random or preserve-random"};
static const struct text_kind k_port_range = {t_port_range, "port range", "LO-HI with 1 <= LO <= HI <= 65535"};
static const struct text_kind k_stride = {t_stride, "stride", "a whole number from 1 to 1000"};
static const struct text_kind k_port_block = {t_port_block, "port block", "ports per block, a whole number from 1 to 32768"};
static const struct text_kind k_port_blocks = {t_port_blocks, "block count", "blocks per subscriber, a whole number from 1 to 64"};
static const struct text_kind k_pool = {t_pool, "pool size", "a whole number of ports from 1 to 65535"};
/* clang-format on */

/* ---- structured values and the keys of a NAT block ---- */

static int v_preset(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	const char *s = topo_scalar(ld, n, path);
	char list[160];
	size_t i, used = 0;
	int w;

	if (!s)
		return -1;
	if (preset_find(s))
		return topo_copy_str(dst, TOPO_NAME_MAX, s);
	list[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(nat_presets); i++) {
		w = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
			     nat_presets[i].name);
		if (w < 0 || (size_t)w >= sizeof(list) - used)
			break;
		used += (size_t)w;
	}
	return topo_fail(ld, line_of(n), path, "unknown preset '%.*s' (%s)", VALUE_SHOW_MAX, s,
			 list);
}

/* The whole NAT: its outside addresses. An address, a list of them, or a
 * prefix of /24 or longer (a carrier's pool: RFC 6888 REQ-3 allows any
 * size; a /24 keeps the tables small), every address of it usable. */
static int v_public(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	static const struct prefix_rule pr = {24, 32, true};
	struct topo_nat *nat = &((struct nat_in *)dst)->nat;
	const yaml_node_item_t *it;
	char sub[KEY_PATH_MAX];
	struct in_addr a;
	unsigned len, k;

	if (n->type == YAML_SEQUENCE_NODE) {
		if (n->data.sequence.items.top - n->data.sequence.items.start > TOPO_NAT_PUBLIC_MAX)
			return topo_fail(ld, line_of(n), path, "more than %d addresses",
					 TOPO_NAT_PUBLIC_MAX);
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			topo_path_index(sub, sizeof(sub), path, nat->n_public);
			if (topo_text_read(ld, topo_node_at(ld, *it), sub,
					   &nat->publics[nat->n_public], &topo_k_addr) < 0)
				return -1;
			nat->n_public++;
		}
		if (nat->n_public == 0)
			return topo_fail(ld, line_of(n), path, "an empty list: give an address");
		return 0;
	}
	if (n->type == YAML_SCALAR_NODE && !strchr((const char *)n->data.scalar.value, '/')) {
		nat->n_public = 1;
		return topo_text_read(ld, n, path, &nat->publics[0], &topo_k_addr);
	}
	if (!topo_prefix_read(ld, n, path, &pr, &a, &len))
		return -1;
	if (!ip_unicast(a))
		return topo_fail(ld, line_of(n), path, "%s is not unicast", n->data.scalar.value);
	for (k = 0; k < (1u << (32 - len)); k++)
		nat->publics[nat->n_public++] = ip_n(ip_h(a) + k);
	return 0;
}

/* The whole NAT: "A.B.C.D/LEN" fills the network, its length, the gateway. */
static int v_inside(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	static const struct prefix_rule pr = {1, INSIDE_LEN_MAX, false};
	struct nat_in *ni = dst;
	struct in_addr a, last;
	unsigned len;
	const char *s = topo_prefix_read(ld, n, path, &pr, &a, &len);

	if (!s)
		return -1;
	last = ip_n(ip_h(a) | ~prefix_mask(len));
	if (!ip_unicast(a) || !ip_unicast(last))
		return topo_fail(ld, line_of(n), path, "%s is not a unicast prefix", s);
	ni->nat.inside_net = a;
	ni->nat.inside_len = (uint8_t)len;
	ni->nat.gateway = ip_n(ip_h(a) + 1);
	return 0;
}

/* clang-format off */
#define NAT_FIELD(m) offsetof(struct nat_in, m)
const struct key_spec topo_nat_keys[NK_COUNT] = {
	[NK_PRESET]     = {"preset",     NULL,          v_preset, NAT_FIELD(nat.preset),      0, 0},
	[NK_MAPPING]    = {"mapping",    &k_map,        NULL,     NAT_FIELD(nat.b.mapping),     0, TOPO_NAT_MAPPING},
	[NK_FILTERING]  = {"filtering",  &k_map,        NULL,     NAT_FIELD(nat.b.filtering),   0, TOPO_NAT_FILTERING},
	[NK_PORTS]      = {"ports",      &k_ports,      NULL,     NAT_FIELD(nat.b.ports),       0, TOPO_NAT_PORTS},
	[NK_PORT_RANGE] = {"port-range", &k_port_range, NULL,     NAT_FIELD(nat.b),             0, TOPO_NAT_PORT_RANGE},
	[NK_HAIRPIN]    = {"hairpin",    &topo_k_bool,       NULL,     NAT_FIELD(nat.b.hairpin),     0, TOPO_NAT_HAIRPIN},
	[NK_TIMEOUT]    = {"timeout",    &k_timeout,   NULL,     NAT_FIELD(nat.b.timeout_ns),  0, TOPO_NAT_TIMEOUT},
	[NK_STRIDE]     = {"stride",     &k_stride,     NULL,     NAT_FIELD(nat.b.stride),      0, TOPO_NAT_STRIDE},
	[NK_PARITY]     = {"parity",     &topo_k_bool,       NULL,     NAT_FIELD(nat.b.parity),      0, TOPO_NAT_PARITY},
	[NK_POOL]       = {"pool",       &k_pool,       NULL,     NAT_FIELD(nat.b.pool),        0, TOPO_NAT_POOL},
	[NK_REFRESH_INBOUND] = {"refresh-inbound", &topo_k_bool, NULL, NAT_FIELD(nat.b.refresh_inbound), 0, TOPO_NAT_REFRESH_INBOUND},
	[NK_UNREPLIED]  = {"timeout-unreplied", &k_timeout, NULL, NAT_FIELD(nat.b.unreplied_ns), 0, TOPO_NAT_UNREPLIED},
	[NK_INBOUND_RESERVES] = {"inbound-reserves", &topo_k_bool, NULL, NAT_FIELD(nat.b.inbound_reserves), 0, TOPO_NAT_INBOUND_RESERVES},
	[NK_PORT_BLOCK] = {"port-block", &k_port_block, NULL,     NAT_FIELD(nat.b.port_block), 0, TOPO_NAT_PORT_BLOCK},
	[NK_PORT_BLOCKS] = {"port-blocks", &k_port_blocks, NULL,  NAT_FIELD(nat.b.port_blocks), 0, TOPO_NAT_PORT_BLOCKS},
	[NK_PCP]        = {"pcp",        &topo_k_bool,  NULL,     NAT_FIELD(nat.b.pcp),       0, TOPO_NAT_PCP},
	[NK_PUBLIC]     = {"public",     NULL,          v_public, 0,                          0, 0},
	[NK_INSIDE]     = {"inside",     NULL,          v_inside, 0,                          0, 0},
	[NK_UPSTREAM]   = {"upstream",   &topo_k_nat_ref,    NULL,     NAT_FIELD(upstream),        0, 0},
	[NK_LINK]       = {"link",       NULL,          topo_v_link,   NAT_FIELD(nat.link),        0, 0},
	[NK_FIREWALL]   = {"firewall",   NULL,          topo_v_firewall, NAT_FIELD(nat.fw),        0, 0},
	[NK_GATE]       = {"gate",       NULL,          topo_v_gate, NAT_FIELD(nat.gate),          0, 0},
};
/* clang-format on */

/* The keys of a NAT block that are behaviour fields, in the key table's
 * order: what topo_nat_behaviour_set() takes. */
static const enum nat_key nat_behaviour_keys[] = {
    NK_MAPPING,	  NK_FILTERING,	       NK_PORTS,      NK_PORT_RANGE,  NK_HAIRPIN,
    NK_TIMEOUT,	  NK_STRIDE,	       NK_PARITY,     NK_POOL,	      NK_REFRESH_INBOUND,
    NK_UNREPLIED, NK_INBOUND_RESERVES, NK_PORT_BLOCK, NK_PORT_BLOCKS, NK_PCP,
};

int topo_nat_behaviour_set(struct topo_nat_behaviour *b, const char *key, const char *value,
			   char *err, size_t errlen)
{
	const size_t base = offsetof(struct nat_in, nat.b);
	struct topo_nat_behaviour nb = *b;
	char known[320];
	size_t i, used = 0;

	for (i = 0; i < ARRAY_SIZE(nat_behaviour_keys); i++) {
		const struct key_spec *k = &topo_nat_keys[nat_behaviour_keys[i]];

		if (strcmp(k->key, key) != 0)
			continue;
		if (k->text->parse(value, (char *)&nb + (k->off - base)) < 0) {
			snprintf(err, errlen, "%s: bad %s '%.*s' (%s)", key, k->text->what,
				 VALUE_SHOW_MAX, value, k->text->hint);
			return -1;
		}
		*b = nb;
		return 0;
	}
	known[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(nat_behaviour_keys); i++)
		used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "",
					 topo_nat_keys[nat_behaviour_keys[i]].key);
	snprintf(err, errlen, "unknown NAT key '%.*s' (%s)", VALUE_SHOW_MAX, key, known);
	return -1;
}
