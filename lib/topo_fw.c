/* Firewall blocks of a topology, under a NAT or a host: the words of a
 * rule (action, direction, protocol), the scalar kinds made of them, and
 * the keys of a block and of its rules with the checks on one rule. */
#include "topo_int.h"

#include "natbed/units.h"

#include <string.h>

enum fw_key { FK_DEFAULT, FK_STATEFUL, FK_RULES, FK_COUNT };

enum fw_rule_key { RK_DIR, RK_PROTO, RK_FROM, RK_TO, RK_PORT, RK_SPORT, RK_ACTION, RK_COUNT };

/* ---- firewall words ---- */

static const struct name_value fw_action_names[] = {
    {"accept", TOPO_FW_ACCEPT},
    {"drop", TOPO_FW_DROP},
    {"reject", TOPO_FW_REJECT},
};

static const struct name_value fw_dir_names[] = {
    {"any", TOPO_FW_DIR_ANY},
    {"in", TOPO_FW_DIR_IN},
    {"out", TOPO_FW_DIR_OUT},
};

static const struct name_value fw_proto_names[] = {
    {"any", TOPO_FW_PROTO_ANY},
    {"udp", TOPO_FW_PROTO_UDP},
    {"tcp", TOPO_FW_PROTO_TCP},
    {"icmp", TOPO_FW_PROTO_ICMP},
};

int topo_parse_fw_action(const char *s, enum topo_fw_action *out)
{
	int v;

	if (topo_nv_parse(fw_action_names, ARRAY_SIZE(fw_action_names), s, &v) < 0)
		return -1;
	*out = (enum topo_fw_action)v;
	return 0;
}

int topo_parse_fw_dir(const char *s, enum topo_fw_dir *out)
{
	int v;

	if (topo_nv_parse(fw_dir_names, ARRAY_SIZE(fw_dir_names), s, &v) < 0)
		return -1;
	*out = (enum topo_fw_dir)v;
	return 0;
}

int topo_parse_fw_proto(const char *s, enum topo_fw_proto *out)
{
	int v;

	if (topo_nv_parse(fw_proto_names, ARRAY_SIZE(fw_proto_names), s, &v) < 0)
		return -1;
	*out = (enum topo_fw_proto)v;
	return 0;
}

const char *topo_fw_action_name(enum topo_fw_action a)
{
	return topo_nv_name(fw_action_names, ARRAY_SIZE(fw_action_names), (int)a);
}

const char *topo_fw_dir_name(enum topo_fw_dir d)
{
	return topo_nv_name(fw_dir_names, ARRAY_SIZE(fw_dir_names), (int)d);
}

const char *topo_fw_proto_name(enum topo_fw_proto p)
{
	return topo_nv_name(fw_proto_names, ARRAY_SIZE(fw_proto_names), (int)p);
}

/* ---- scalar values of a firewall block ---- */

static int t_fw_action(const char *s, void *dst)
{
	return topo_parse_fw_action(s, dst);
}

static int t_fw_dir(const char *s, void *dst)
{
	return topo_parse_fw_dir(s, dst);
}

static int t_fw_proto(const char *s, void *dst)
{
	return topo_parse_fw_proto(s, dst);
}

/* dst: a struct topo_fw_ports; "PORT" or "LO-HI", ports 1 to 65535. */
static int t_fw_port(const char *s, void *dst)
{
	struct topo_fw_ports *p = dst;
	const char *end;
	unsigned nd;
	int64_t v;

	if (strchr(s, '-'))
		return units_parse_port_range(s, &p->lo, &p->hi);
	if (!(end = units_scan_digits(s, 65535, &v, &nd)) || *end || v < 1)
		return -1;
	p->lo = p->hi = (uint16_t)v;
	return 0;
}

/* clang-format off */
static const struct text_kind k_fw_action = {t_fw_action, "action", "accept, drop or reject"};
static const struct text_kind k_fw_policy = {t_fw_action, "policy", "accept, drop or reject"};
static const struct text_kind k_fw_dir = {t_fw_dir, "direction", "in, out or any"};
static const struct text_kind k_fw_proto = {t_fw_proto, "protocol", "udp, tcp, icmp or any"};
static const struct text_kind k_fw_port = {t_fw_port, "port", "PORT or LO-HI, ports 1 to 65535"};
/* clang-format on */

/* ---- firewall blocks ---- */

/* A rule's from or to: an address (/32) or a prefix /0 to /32. */
static int v_fw_net(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	static const struct prefix_rule pr = {0, 32, true};
	struct topo_fw_net *net = dst;
	unsigned len;

	if (!topo_prefix_read(ld, n, path, &pr, &net->addr, &len))
		return -1;
	net->len = (uint8_t)len;
	return 0;
}

/* clang-format off */
#define RULE_FIELD(m) offsetof(struct topo_fw_rule, m)
static const struct key_spec fw_rule_keys[RK_COUNT] = {
	[RK_DIR]    = {"dir",    &k_fw_dir,    NULL,     RULE_FIELD(dir),    0, 0},
	[RK_PROTO]  = {"proto",  &k_fw_proto,  NULL,     RULE_FIELD(proto),  0, 0},
	[RK_FROM]   = {"from",   NULL,         v_fw_net, RULE_FIELD(from),   0, TOPO_FW_FROM},
	[RK_TO]     = {"to",     NULL,         v_fw_net, RULE_FIELD(to),     0, TOPO_FW_TO},
	[RK_PORT]   = {"port",   &k_fw_port,   NULL,     RULE_FIELD(port),   0, TOPO_FW_PORT},
	[RK_SPORT]  = {"sport",  &k_fw_port,   NULL,     RULE_FIELD(sport),  0, TOPO_FW_SPORT},
	[RK_ACTION] = {"action", &k_fw_action, NULL,     RULE_FIELD(action), 0, 0},
};
/* clang-format on */

/* One rule (named by path): action is required, ports need UDP or TCP. */
static int fw_rule_read(struct loader *ld, const yaml_node_t *n, const char *path,
			struct topo_fw_rule *r)
{
	int lines[RK_COUNT] = {0}, k;
	char sub[KEY_PATH_MAX];

	r->line = line_of(n);
	if (topo_walk_map(ld, n, path, fw_rule_keys, RK_COUNT, r, lines, &r->set) < 0)
		return -1;
	if (!lines[RK_ACTION]) {
		topo_path_join(sub, sizeof(sub), path, "action");
		return topo_fail(ld, r->line, sub, "missing (accept, drop or reject)");
	}
	if (r->proto == TOPO_FW_PROTO_ICMP && (r->set & (TOPO_FW_PORT | TOPO_FW_SPORT))) {
		k = lines[RK_PORT] ? RK_PORT : RK_SPORT;
		topo_path_join(sub, sizeof(sub), path, fw_rule_keys[k].key);
		return topo_fail(ld, lines[k], sub,
				 "ports apply to udp and tcp, not to proto icmp");
	}
	return 0;
}

/* The whole firewall: a list of at most TOPO_FW_RULES_MAX rules. */
static int v_fw_rules(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	struct topo_fw *fw = dst;
	const yaml_node_item_t *it;
	char sub[KEY_PATH_MAX];
	size_t count;
	int rc = topo_block(ld, n, path, YAML_SEQUENCE_NODE, "a list of rules");

	if (rc <= 0)
		return rc;
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count > TOPO_FW_RULES_MAX)
		return topo_fail(ld, line_of(n), path, "%zu rules: give at most %d", count,
				 TOPO_FW_RULES_MAX);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		topo_path_index(sub, sizeof(sub), path, fw->n_rules);
		if (fw_rule_read(ld, topo_node_at(ld, *it), sub, &fw->rules[fw->n_rules]) < 0)
			return -1;
		fw->n_rules++;
	}
	return 0;
}

/* clang-format off */
#define FW_FIELD(m) offsetof(struct topo_fw, m)
static const struct key_spec fw_keys[FK_COUNT] = {
	[FK_DEFAULT]  = {"default",  &k_fw_policy, NULL,       FW_FIELD(policy),   0, 0},
	[FK_STATEFUL] = {"stateful", &topo_k_bool,      NULL,       FW_FIELD(stateful), 0, 0},
	[FK_RULES]    = {"rules",    NULL,         v_fw_rules, 0,                  0, 0},
};
/* clang-format on */

/* A firewall block under a NAT or a host; a null block is an empty one. */
int topo_v_firewall(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	struct topo_fw *fw = dst;
	int lines[FK_COUNT] = {0};

	fw->present = true;
	fw->policy = TOPO_FW_ACCEPT;
	fw->stateful = true;
	fw->line = line_of(n);
	return topo_walk_map(ld, n, path, fw_keys, FK_COUNT, fw, lines, NULL);
}
