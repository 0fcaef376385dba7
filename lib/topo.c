/* natbed topology loader (schema: docs/topology.md).
 *
 * The file is loaded with libyaml's document API, then walked with one key
 * table per section: a table line names a key, the parser of its value and
 * where the value goes. Values are checked as they are met; what relates two
 * parts of the file (upstreams, a host's NAT, addresses, link layering) is
 * checked after the walk, in resolve(). The first error wins, is written as
 * "FILE:LINE: key: problem" and nothing is returned.
 *
 * NAT blocks (behaviours, presets, their keys) are read in topo_nat.c and
 * firewall blocks in topo_fw.c; what the three files share is declared in
 * topo_int.h.
 */
#include "topo_int.h"

#include "natbed/link.h"
#include "natbed/rng.h"
#include "natbed/strcopy.h"
#include "natbed/units.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "topo_index.h"

#define TOPO_FILE_MAX	(16u << 20) /* largest topology file read, bytes */
#define PREFIX_DEFAULT	"nb-"
#define PUBLIC_POOL	"198.18.0.0" /* public hosts without an address ... */
#define PUBLIC_POOL_LEN 15
#define PUBLIC_FIRST	"198.18.1.1" /* ... get one from here upward */

enum host_key { HK_NAT, HK_ADDRESS, HK_ADDRESSES, HK_LINK, HK_RUN, HK_FIREWALL, HK_GATE, HK_COUNT };

enum top_key {
	TK_NAME,
	TK_SEED,
	TK_DEFAULTS,
	TK_INTERNET,
	TK_NATS,
	TK_HOSTS,
	TK_SCENARIO,
	TK_COUNT
};

/* A host as read. */
struct host_in {
	struct topo_host host;
	char nat[TOPO_NAME_MAX];
	int line[HK_COUNT];
	int addr_line[TOPO_ADDRS_MAX];
};

struct loader {
	const char *file;
	const char *prefix;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
	bool failed;
	struct topo t; /* scalars only: nats and hosts live below until build() */
	int line[TK_COUNT];
	struct nat_in *nats;
	size_t n_nats;
	struct host_in *hosts;
	size_t n_hosts;
	struct topo_scenario *scen; /* the scenario section, until build() */
	struct tidx names;	    /* NAT and host names */
	struct tidx addrs;	    /* NAT publics and host addresses placed so far */
	struct nat_span *spans;	    /* inside prefixes by address (nats_resolve) */
};

/* A NAT's inside prefix as a range, for finding the NAT holding an address. */
struct nat_span {
	uint32_t lo, hi; /* host order */
	size_t nat;
};

/* ---- errors and small helpers ---- */

/* Writes "FILE:LINE: key: problem" unless an error is already written (the
 * first one wins). Always returns -1. */
__attribute__((format(printf, 4, 5))) int topo_fail(struct loader *ld, int line, const char *key,
						    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ld->failed)
		return -1;
	ld->failed = true;
	if (!ld->err || !ld->errlen)
		return -1;
	n = snprintf(ld->err, ld->errlen, "%s:%d: %s: ", ld->file, line, key);
	if (n < 0 || (size_t)n >= ld->errlen)
		return -1; /* truncated: what fits is kept */
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

const yaml_node_t *topo_node_at(const struct loader *ld, int index)
{
	return yaml_document_get_node(ld->doc, index);
}

const char *topo_node_kind(const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE    ? "a mapping"
	       : n->type == YAML_SEQUENCE_NODE ? "a list"
					       : "a scalar";
}

/* YAML 1.1 null: an empty plain scalar, ~ or null. */
bool topo_is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	size_t i;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (i = 0; i < ARRAY_SIZE(nulls); i++)
		if (!strcmp((const char *)n->data.scalar.value, nulls[i]))
			return true;
	return false;
}

int topo_block(struct loader *ld, const yaml_node_t *n, const char *path, yaml_node_type_t type,
	       const char *what)
{
	if (topo_is_null(n))
		return 0;
	if (n->type != type)
		return topo_fail(ld, line_of(n), path, "expected %s, got %s", what,
				 topo_node_kind(n));
	return 1;
}

/* The text of scalar n, or NULL with the error written (a mapping or a list
 * where a scalar belongs, no value, an embedded NUL). */
const char *topo_scalar(struct loader *ld, const yaml_node_t *n, const char *path)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE) {
		topo_fail(ld, line_of(n), path, "expected a scalar, got %s", topo_node_kind(n));
		return NULL;
	}
	if (topo_is_null(n)) {
		topo_fail(ld, line_of(n), path, "missing value");
		return NULL;
	}
	s = (const char *)n->data.scalar.value;
	if (strlen(s) != n->data.scalar.length) {
		topo_fail(ld, line_of(n), path, "value contains a NUL byte");
		return NULL;
	}
	return s;
}

/* dst = "parent.key" (or "key" at the top), truncated with "..." when it
 * does not fit: a key path only ever appears in an error. */
void topo_path_join(char *dst, size_t size, const char *parent, const char *key)
{
	int n = snprintf(dst, size, "%s%s%s", parent, *parent ? "." : "", key);

	if (n < 0 || (size_t)n >= size)
		snprintf(dst + size - 4, 4, "...");
}

/* dst = "parent[k]", truncated like topo_path_join(). */
void topo_path_index(char *dst, size_t size, const char *parent, size_t k)
{
	int n = snprintf(dst, size, "%s[%zu]", parent, k);

	if (n < 0 || (size_t)n >= size)
		snprintf(dst + size - 4, 4, "...");
}

/* Copies s into dst[size]; -1 when it does not fit. */
int topo_copy_str(char *dst, size_t size, const char *s)
{
	int n = snprintf(dst, size, "%s", s);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static bool in_prefix(struct in_addr net, unsigned len, struct in_addr a)
{
	return ((ip_h(a) ^ ip_h(net)) & prefix_mask(len)) == 0;
}

/* Dotted quad of a, in a static-free caller buffer. */
static const char *ip_str(struct in_addr a, char buf[INET_ADDRSTRLEN])
{
	if (!inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN))
		snprintf(buf, INET_ADDRSTRLEN, "?");
	return buf;
}

int topo_nv_parse(const struct name_value *t, size_t n, const char *s, int *out)
{
	size_t i;

	for (i = 0; s && i < n; i++) {
		if (!strcmp(t[i].name, s)) {
			*out = t[i].value;
			return 0;
		}
	}
	return -1;
}

const char *topo_nv_name(const struct name_value *t, size_t n, int value)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i].value == value)
			return t[i].name;
	return NULL;
}

/* ---- the walker ---- */

/* "a, b, c": the keys of a table, for an "unknown key" error. */
static void keys_list(char *buf, size_t size, const struct key_spec *keys, size_t n)
{
	size_t i, used = 0;
	int w;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", keys[i].key);
		if (w < 0 || (size_t)w >= size - used)
			return; /* truncated: the list is only a hint */
		used += (size_t)w;
	}
}

/* The text of mapping key k, which must be a scalar. */
static const char *key_text(struct loader *ld, const yaml_node_t *k, const char *path)
{
	if (k->type != YAML_SCALAR_NODE) {
		topo_fail(ld, line_of(k), path, "a key must be a scalar, not %s",
			  topo_node_kind(k));
		return NULL;
	}
	return (const char *)k->data.scalar.value;
}

static int walk_pair(struct loader *ld, const yaml_node_pair_t *p, const char *path,
		     const struct key_spec *keys, size_t n_keys, void *obj, int *lines,
		     unsigned *set)
{
	const yaml_node_t *k = topo_node_at(ld, p->key), *v = topo_node_at(ld, p->value);
	char sub[KEY_PATH_MAX], list[128];
	const char *name = key_text(ld, k, path);
	size_t i;

	if (!name)
		return -1;
	topo_path_join(sub, sizeof(sub), path, name);
	for (i = 0; i < n_keys; i++)
		if (!strcmp(keys[i].key, name))
			break;
	if (i == n_keys) {
		keys_list(list, sizeof(list), keys, n_keys);
		return topo_fail(ld, line_of(k), sub, "unknown key (expected one of: %s)", list);
	}
	if (lines[i])
		return topo_fail(ld, line_of(k), sub, "duplicate key (first at line %d)", lines[i]);
	lines[i] = line_of(k);
	if (keys[i].text ? topo_text_read(ld, v, sub, (char *)obj + keys[i].off, keys[i].text)
			 : keys[i].parse(ld, v, sub, (char *)obj + keys[i].off))
		return -1;
	if (set)
		*set |= keys[i].bit;
	return 0;
}

/* Walks mapping n (named by path; a null value reads as an empty mapping)
 * with the key table keys: refuses unknown and duplicate keys, parses each
 * value into obj + off, records each key's line in lines[] (indexed like
 * keys, zeroed by the caller) and ORs each given key's bit into *set (set
 * may be NULL). Returns 0 or -1 with the error written. */
int topo_walk_map(struct loader *ld, const yaml_node_t *n, const char *path,
		  const struct key_spec *keys, size_t n_keys, void *obj, int *lines, unsigned *set)
{
	const yaml_node_pair_t *p;
	int rc = topo_block(ld, n, path, YAML_MAPPING_NODE, "a mapping");

	if (rc <= 0)
		return rc;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
		if (walk_pair(ld, p, path, keys, n_keys, obj, lines, set) < 0)
			return -1;
	return 0;
}

/* ---- scalar values: text parsers and the kinds they make ---- */

/* Each takes the scalar's text and its destination; returns 0 or -1. */
static int t_duration(const char *s, void *dst)
{
	return units_parse_duration(s, dst);
}

static int t_percent(const char *s, void *dst)
{
	return units_parse_percent(s, dst);
}

static int t_rate(const char *s, void *dst)
{
	return units_parse_rate(s, dst);
}

/* Only the words true and false: YAML 1.1's yes/on/y surprise people. */
static int t_bool(const char *s, void *dst)
{
	if (strcmp(s, "true") && strcmp(s, "false"))
		return -1;
	*(bool *)dst = !strcmp(s, "true");
	return 0;
}

static int t_seed(const char *s, void *dst)
{
	unsigned long long v;
	char *end;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -1; /* strtoull would take a sign or spaces */
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end || errno == ERANGE)
		return -1;
	*(uint64_t *)dst = (uint64_t)v;
	return 0;
}

static int t_addr(const char *s, void *dst)
{
	struct in_addr *a = dst;

	return inet_pton(AF_INET, s, a) == 1 && ip_unicast(*a) ? 0 : -1;
}

/* The topology's own name. */
static int t_title(const char *s, void *dst)
{
	static const char ok[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

	if (strspn(s, ok) != strlen(s))
		return -1;
	return topo_copy_str(dst, TOPO_NAME_MAX, s);
}

/* A NAT's name, resolved after the walk. */
static int t_nat_ref(const char *s, void *dst)
{
	return topo_copy_str(dst, TOPO_NAME_MAX, s);
}

static int t_run(const char *s, void *dst)
{
	return topo_copy_str(dst, TOPO_RUN_MAX, s);
}

/* clang-format off */
const struct text_kind topo_k_duration = {t_duration, "duration", "a number with us, ms or s, e.g. 10ms"};
const struct text_kind topo_k_percent = {t_percent, "percentage", "0% to 100% with the % sign, e.g. 0.5%"};
static const struct text_kind k_rate = {t_rate, "rate", "a number with bit, kbit, mbit or gbit, e.g. 10mbit"};
const struct text_kind topo_k_bool = {t_bool, "boolean", "true or false"};
static const struct text_kind k_seed = {t_seed, "seed", "an integer from 0 to 18446744073709551615"};
const struct text_kind topo_k_addr = {t_addr, "address", "a unicast IPv4 address, e.g. 198.51.100.1"};
static const struct text_kind k_title = {t_title, "name", "1 to 31 of A-Z a-z 0-9 . _ -"};
const struct text_kind topo_k_nat_ref = {t_nat_ref, "NAT name", "at most 31 characters"};
static const struct text_kind k_run = {t_run, "command", "at most 1023 bytes"};
/* clang-format on */

/* Parses scalar n (named by path) of kind k into dst; errors read
 * "bad KIND 'VALUE' (HINT)". Returns 0 or -1. */
int topo_text_read(struct loader *ld, const yaml_node_t *n, const char *path, void *dst,
		   const struct text_kind *k)
{
	const char *s = topo_scalar(ld, n, path);

	if (!s)
		return -1;
	if (k->parse(s, dst) < 0)
		return topo_fail(ld, line_of(n), path, "bad %s '%.*s' (%s)", k->what,
				 VALUE_SHOW_MAX, s, k->hint);
	return 0;
}

/* ---- structured values (value_fn) ---- */

/* Splits s, "A.B.C.D/LEN" (or "A.B.C.D" when bare, read as /32), into *a and
 * *len without judging the length beyond 0..32. Returns 0 or -1. */
static int prefix_split(const char *s, bool bare, struct in_addr *a, int64_t *len)
{
	const char *slash = strchr(s, '/'), *end;
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	char addr[INET_ADDRSTRLEN];
	unsigned nd;

	*len = 32;
	if ((!slash && !bare) || alen >= sizeof(addr))
		return -1;
	if (slash && (!(end = units_scan_digits(slash + 1, 99, len, &nd)) || *end || nd > 2))
		return -1;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	return inet_pton(AF_INET, addr, a) == 1 && *len <= 32 ? 0 : -1;
}

/* Reads scalar n as a prefix (prefix_split()) whose length pr allows and
 * whose host bits are zero, into *a and *len. Returns its text, or NULL
 * with the error written. */
const char *topo_prefix_read(struct loader *ld, const yaml_node_t *n, const char *path,
			     const struct prefix_rule *pr, struct in_addr *a, unsigned *len)
{
	const char *s = topo_scalar(ld, n, path);
	char net[INET_ADDRSTRLEN];
	int64_t l;

	if (!s)
		return NULL;
	if (prefix_split(s, pr->bare, a, &l) < 0) {
		topo_fail(ld, line_of(n), path, "'%.*s' is not a prefix (%s)", VALUE_SHOW_MAX, s,
			  pr->bare ? "an address or A.B.C.D/LEN" : "A.B.C.D/LEN");
		return NULL;
	}
	if (l < pr->min_len || l > pr->max_len) {
		topo_fail(ld, line_of(n), path, "prefix length /%d: must be /%u to /%u", (int)l,
			  pr->min_len, pr->max_len);
		return NULL;
	}
	if (ip_h(*a) & ~prefix_mask((unsigned)l)) {
		topo_fail(ld, line_of(n), path, "%s has host bits set (the network is %s/%d)", s,
			  ip_str(ip_n(ip_h(*a) & prefix_mask((unsigned)l)), net), (int)l);
		return NULL;
	}
	*len = (unsigned)l;
	return s;
}

/* The whole host: one address. */
static int v_address(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	struct host_in *hi = dst;

	if (hi->line[HK_ADDRESSES])
		return topo_fail(ld, line_of(n), path, "give address or addresses, not both");
	if (topo_text_read(ld, n, path, &hi->host.addrs[0], &topo_k_addr) < 0)
		return -1;
	hi->host.n_addrs = 1;
	hi->addr_line[0] = line_of(n);
	return 0;
}

/* The whole host: a list of 1..TOPO_ADDRS_MAX addresses. */
static int v_addresses(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	struct host_in *hi = dst;
	const yaml_node_item_t *it;
	char sub[KEY_PATH_MAX];
	size_t count;

	if (hi->line[HK_ADDRESS])
		return topo_fail(ld, line_of(n), path, "give address or addresses, not both");
	if (n->type != YAML_SEQUENCE_NODE)
		return topo_fail(ld, line_of(n), path, "expected a list of addresses, got %s",
				 topo_node_kind(n));
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count < 1 || count > TOPO_ADDRS_MAX)
		return topo_fail(ld, line_of(n), path, "%zu addresses: give 1 to %d", count,
				 TOPO_ADDRS_MAX);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		const yaml_node_t *item = topo_node_at(ld, *it);
		size_t k = hi->host.n_addrs;

		topo_path_index(sub, sizeof(sub), path, k);
		if (topo_text_read(ld, item, sub, &hi->host.addrs[k], &topo_k_addr) < 0)
			return -1;
		hi->addr_line[k] = line_of(item);
		hi->host.n_addrs++;
	}
	return 0;
}

/* clang-format off */
#define LINK_FIELD(m) offsetof(struct topo_link, m), sizeof(((struct topo_link *)0)->m)
/* The keys of a link block. Adding one: a field in struct topo_link, a bit
 * in enum topo_link_field, a line here (layering follows from off/size). */
static const struct key_spec link_keys[] = {
	{"delay",  &topo_k_duration, NULL, LINK_FIELD(delay_ns),  TOPO_LINK_DELAY},
	{"jitter", &topo_k_duration, NULL, LINK_FIELD(jitter_ns), TOPO_LINK_JITTER},
	{"loss",   &topo_k_percent,  NULL, LINK_FIELD(loss),      TOPO_LINK_LOSS},
	{"rate",   &k_rate,     NULL, LINK_FIELD(rate_bps),  TOPO_LINK_RATE},
};
/* clang-format on */

/* A key link_cfg_set() knows beyond the typed ones: validated now on a
 * scratch configuration, kept as text for the emulator. */
static int link_kv_add(struct loader *ld, const yaml_node_t *k, const yaml_node_t *v,
		       const char *path, struct topo_link *l)
{
	const char *key = (const char *)k->data.scalar.value;
	char sub[KEY_PATH_MAX], why[LINK_ERR_MAX];
	struct link_cfg scratch;
	struct topo_link_kv *kv;
	size_t i;

	topo_path_join(sub, sizeof(sub), path, key);
	if (v->type != YAML_SCALAR_NODE)
		return topo_fail(ld, line_of(v), sub, "expected a value, got %s",
				 topo_node_kind(v));
	link_cfg_default(&scratch);
	if (link_cfg_set(&scratch, key, (const char *)v->data.scalar.value, why, sizeof(why)) < 0) {
		/* link_cfg_set says "key: problem"; unknown keys read as such */
		const char *colon = strstr(why, ": ");

		if (strstr(why, "unknown"))
			return topo_fail(ld, line_of(k), sub, "unknown key");
		return topo_fail(ld, line_of(v), sub, "%s", colon ? colon + 2 : why);
	}
	for (i = 0; i < l->n_kv; i++)
		if (!strcmp(l->kv[i].key, key))
			return topo_fail(ld, line_of(k), sub, "duplicate key (first at line %d)",
					 l->kv[i].line);
	if (l->n_kv >= TOPO_LINK_KV_MAX || strlen(key) >= sizeof(kv->key) ||
	    v->data.scalar.length >= sizeof(kv->value))
		return topo_fail(ld, line_of(k), sub, "too long or too many link keys");
	kv = &l->kv[l->n_kv++];
	strcpy(kv->key, key);
	memcpy(kv->value, v->data.scalar.value, v->data.scalar.length + 1);
	kv->line = line_of(v);
	return 0;
}

static bool link_key_typed(const char *key)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(link_keys); i++)
		if (!strcmp(link_keys[i].key, key))
			return true;
	return false;
}

/* A loss value that names a model ("gilbert-elliott 1% 25%", "none") rather
 * than a bare percentage goes to the kv list. */
static bool link_loss_is_model(const yaml_node_t *v)
{
	const char *s = (const char *)v->data.scalar.value;

	return v->type == YAML_SCALAR_NODE && ((*s >= 'a' && *s <= 'z') || strchr(s, ' '));
}

/* The link model refuses a delay or jitter past LINK_TIME_MAX_NS (time
 * would overflow); say so here, at the line, not when the emulator starts.
 * lines[] is indexed like link_keys: delay, jitter first. */
static int link_typed_bounds(struct loader *ld, const struct topo_link *l, const char *path,
			     const int *lines)
{
	char sub[KEY_PATH_MAX];

	if ((l->set & TOPO_LINK_DELAY) && l->delay_ns > LINK_TIME_MAX_NS) {
		topo_path_join(sub, sizeof(sub), path, "delay");
		return topo_fail(ld, lines[0], sub, "at most 1 hour");
	}
	if ((l->set & TOPO_LINK_JITTER) && l->jitter_ns > LINK_TIME_MAX_NS) {
		topo_path_join(sub, sizeof(sub), path, "jitter");
		return topo_fail(ld, lines[1], sub, "at most 1 hour");
	}
	return 0;
}

int topo_v_link(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	struct topo_link *l = dst;
	int lines[ARRAY_SIZE(link_keys)] = {0};
	const yaml_node_pair_t *p;
	int rc = topo_block(ld, n, path, YAML_MAPPING_NODE, "a mapping");

	if (rc <= 0)
		return rc;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = topo_node_at(ld, p->key), *v = topo_node_at(ld, p->value);
		const char *key =
		    k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";

		if (!strcmp(key, "loss") && v && link_loss_is_model(v))
			rc = link_kv_add(ld, k, v, path, l);
		else if (!k || !v || link_key_typed(key) || k->type != YAML_SCALAR_NODE)
			rc = walk_pair(ld, p, path, link_keys, ARRAY_SIZE(link_keys), l, lines,
				       &l->set);
		else
			rc = link_kv_add(ld, k, v, path, l);
		if (rc < 0)
			return -1;
	}
	return link_typed_bounds(ld, l, path, lines);
}

/* Over `base`, the fields that `over` sets: how host links inherit. A key
 * the host gives replaces the inherited one, typed or not. */
static struct topo_link link_layer(const struct topo_link *base, const struct topo_link *over)
{
	struct topo_link r = *base;
	size_t i, j, n = 0;

	for (i = 0; i < ARRAY_SIZE(link_keys); i++)
		if (over->set & link_keys[i].bit)
			memcpy((char *)&r + link_keys[i].off, (const char *)over + link_keys[i].off,
			       link_keys[i].size);
	r.set = base->set | over->set;
	/* inherited kv the host does not name again, then the host's own */
	for (i = 0; i < base->n_kv; i++) {
		bool shadowed = false;

		for (j = 0; j < over->n_kv; j++)
			shadowed |= !strcmp(base->kv[i].key, over->kv[j].key);
		if (!strcmp(base->kv[i].key, "loss") && (over->set & TOPO_LINK_LOSS))
			shadowed = true;
		if (!shadowed)
			r.kv[n++] = base->kv[i];
	}
	for (j = 0; j < over->n_kv && n < TOPO_LINK_KV_MAX; j++)
		r.kv[n++] = over->kv[j];
	r.n_kv = n;
	return r;
}

int topo_link_cfg(const struct topo_link *l, const char *name, uint64_t seed, unsigned dir,
		  struct link_cfg *out, char *err, size_t errlen)
{
	size_t i;

	link_cfg_default(out);
	str_copy(out->name, sizeof(out->name), name);
	out->seed = seed;
	out->key = rng_key(name, 0);
	out->dir = dir;
	if (l->set & TOPO_LINK_DELAY)
		out->delay_ns = l->delay_ns;
	if (l->set & TOPO_LINK_JITTER)
		out->jitter_ns = l->jitter_ns;
	if (l->set & TOPO_LINK_RATE)
		out->rate_bps = l->rate_bps;
	if ((l->set & TOPO_LINK_LOSS) && l->loss > 0) {
		snprintf(out->loss.model, sizeof(out->loss.model), "bernoulli");
		out->loss.p = l->loss;
	}
	for (i = 0; i < l->n_kv; i++)
		if (link_cfg_set(out, l->kv[i].key, l->kv[i].value, err, errlen) < 0)
			return -1;
	return 0;
}

/* defaults and internet: a section holding one link block. */
static const struct key_spec link_section_keys[] = {
    {"link", NULL, topo_v_link, 0, 0, 0},
};

static int v_link_section(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	int lines[ARRAY_SIZE(link_section_keys)] = {0};

	return topo_walk_map(ld, n, path, link_section_keys, ARRAY_SIZE(link_section_keys), dst,
			     lines, NULL);
}

/* clang-format off */
#define HOST_FIELD(m) offsetof(struct host_in, m)
static const struct key_spec host_keys[HK_COUNT] = {
	[HK_NAT]       = {"nat",       &topo_k_nat_ref, NULL,        HOST_FIELD(nat),       0, 0},
	[HK_ADDRESS]   = {"address",   NULL,       v_address,   0,                     0, 0},
	[HK_ADDRESSES] = {"addresses", NULL,       v_addresses, 0,                     0, 0},
	[HK_LINK]      = {"link",      NULL,       topo_v_link,      HOST_FIELD(host.link), 0, 0},
	[HK_RUN]       = {"run",       &k_run,     NULL,        HOST_FIELD(host.run),  0, 0},
	[HK_FIREWALL]  = {"firewall",  NULL,       topo_v_firewall,  HOST_FIELD(host.fw),   0, 0},
	[HK_GATE]      = {"gate",      NULL,       topo_v_gate,      HOST_FIELD(host.gate), 0, 0},
};
/* clang-format on */

/* ---- NAT and host names ---- */

/* Line where a NAT or host called name was defined, or 0; *what says which. */
static int name_line(const struct loader *ld, const char *name, const char **what)
{
	const struct tidx_entry *e = tidx_name(&ld->names, name);

	if (!e)
		return 0;
	*what = e->kind == TIDX_NAT ? "NAT" : "host";
	return e->kind == TIDX_NAT ? ld->nats[e->i].nat.line : ld->hosts[e->i].host.line;
}

/* Names become namespaces and interfaces ("<prefix><name>"): [a-z0-9-],
 * a letter first, short enough for IFNAMSIZ once prefixed, not reserved,
 * unique across NATs and hosts (a link is named after its NAT or host). */
static int entity_name(struct loader *ld, const yaml_node_t *k, const char *path, const char *kind,
		       char *dst)
{
	static const char *const reserved[] = {"fabric", "internet"};
	const char *name = (const char *)k->data.scalar.value, *what;
	size_t i, len = strlen(name);
	bool is_nat;
	int line;

	if (!len || name[0] < 'a' || name[0] > 'z' ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
		return topo_fail(ld, line_of(k), path,
				 "a name must start with a letter and use only a-z, 0-9 and '-'");
	for (i = 0; i < ARRAY_SIZE(reserved); i++)
		if (!strcmp(name, reserved[i]))
			return topo_fail(ld, line_of(k), path, "the name '%s' is reserved", name);
	if (strlen(ld->prefix) + len > TOPO_IFNAME_MAX || len >= TOPO_NAME_MAX)
		return topo_fail(
		    ld, line_of(k), path,
		    "name too long for an interface name: '%s%s' has %zu characters, the "
		    "limit is %d",
		    ld->prefix, name, strlen(ld->prefix) + len, TOPO_IFNAME_MAX);
	line = name_line(ld, name, &what);
	if (line && !strcmp(what, kind))
		return topo_fail(ld, line_of(k), path, "duplicate key (first at line %d)", line);
	if (line)
		return topo_fail(ld, line_of(k), path,
				 "the name is already used by the %s at line %d", what, line);
	if (topo_copy_str(dst, TOPO_NAME_MAX, name) < 0)
		return -1;
	is_nat = strcmp(kind, "NAT") == 0;
	if (tidx_put_name(&ld->names, dst, is_nat ? TIDX_NAT : TIDX_HOST,
			  is_nat ? ld->n_nats - 1 : ld->n_hosts - 1) < 0)
		return topo_fail(ld, line_of(k), path, "out of memory");
	return 0;
}

/* Checks that nats or hosts is a mapping of name to block (null reads as
 * empty) and counts its entries. Returns n, or NULL with the error written. */
static const yaml_node_t *section_map(struct loader *ld, const yaml_node_t *n, const char *path,
				      size_t *count)
{
	int rc = topo_block(ld, n, path, YAML_MAPPING_NODE, "a mapping of names");

	*count = 0;
	if (rc < 0)
		return NULL;
	if (rc > 0)
		*count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	return n;
}

/* One entry of nats or hosts, as nat_read() and host_read() describe it. */
struct entry {
	const char *kind; /* "NAT" or "host" */
	char *name;	  /* TOPO_NAME_MAX */
	int *line;
	int *ref; /* upstream or nat index, set to -1 (none) */
	const struct key_spec *keys;
	size_t n_keys;
	void *obj;
	int *lines;
	unsigned *set;
};

/* Reads pair p (NAME: block) of section path into the entry e describes. */
static int entry_read(struct loader *ld, const yaml_node_pair_t *p, const char *path,
		      const struct entry *e)
{
	const yaml_node_t *k = topo_node_at(ld, p->key);
	char sub[KEY_PATH_MAX];

	if (!key_text(ld, k, path))
		return -1;
	topo_path_join(sub, sizeof(sub), path, (const char *)k->data.scalar.value);
	if (entity_name(ld, k, sub, e->kind, e->name) < 0)
		return -1;
	*e->line = line_of(k);
	*e->ref = -1;
	return topo_walk_map(ld, topo_node_at(ld, p->value), sub, e->keys, e->n_keys, e->obj,
			     e->lines, e->set);
}

static int nat_read(struct loader *ld, const yaml_node_pair_t *p, const char *path)
{
	struct nat_in *ni = &ld->nats[ld->n_nats++];
	const struct entry e = {
	    "NAT",    ni->nat.name, &ni->nat.line, &ni->nat.upstream, topo_nat_keys,
	    NK_COUNT, ni,	    ni->line,	   &ni->nat.set};

	return entry_read(ld, p, path, &e);
}

static int host_read(struct loader *ld, const yaml_node_pair_t *p, const char *path)
{
	struct host_in *hi = &ld->hosts[ld->n_hosts++];
	const struct entry e = {
	    "host",   hi->host.name, &hi->host.line, &hi->host.nat, host_keys, HK_COUNT, hi,
	    hi->line, NULL};

	return entry_read(ld, p, path, &e);
}

/* Section parsers take the loader (off 0 in top_keys). */
static int v_nats(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	const yaml_node_pair_t *p;
	size_t count;

	if (!section_map(ld, n, path, &count))
		return -1;
	if (!count)
		return 0;
	ld->nats = calloc(count, sizeof(*ld->nats));
	if (!ld->nats)
		return topo_fail(ld, line_of(n), path, "out of memory");
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
		if (nat_read(ld, p, path) < 0)
			return -1;
	return 0;
}

static int v_hosts(struct loader *ld, const yaml_node_t *n, const char *path, void *dst)
{
	const yaml_node_pair_t *p;
	size_t count;

	if (!section_map(ld, n, path, &count))
		return -1;
	if (!count)
		return topo_fail(ld, line_of(n), path, "no hosts (a topology needs at least one)");
	ld->hosts = calloc(count, sizeof(*ld->hosts));
	if (!ld->hosts)
		return topo_fail(ld, line_of(n), path, "out of memory");
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
		if (host_read(ld, p, path) < 0)
			return -1;
	return 0;
}

#define TOP_FIELD(m) offsetof(struct loader, m)
/* clang-format off */
static const struct key_spec top_keys[TK_COUNT] = {
	[TK_NAME]     = {"name",     &k_title, NULL,           TOP_FIELD(t.name),     0, 0},
	[TK_SEED]     = {"seed",     &k_seed,  NULL,           TOP_FIELD(t.seed),     0, 0},
	[TK_DEFAULTS] = {"defaults", NULL,     v_link_section, TOP_FIELD(t.defaults), 0, 0},
	[TK_INTERNET] = {"internet", NULL,     v_link_section, TOP_FIELD(t.internet), 0, 0},
	[TK_NATS]     = {"nats",     NULL,     v_nats,         0,                     0, 0},
	[TK_HOSTS]    = {"hosts",    NULL,     v_hosts,        0,                     0, 0},
	[TK_SCENARIO] = {"scenario", NULL,     topo_v_scenario, TOP_FIELD(scen),      0, 0},
};
/* clang-format on */

/* ---- resolve: what relates two parts of the file ---- */

static int nat_find_in(const struct loader *ld, const char *name)
{
	const struct tidx_entry *e = tidx_name(&ld->names, name);

	return e && e->kind == TIDX_NAT ? (int)e->i : -1;
}

/* Path "section.name.key" for an error found after the walk. */
static const char *entity_path(char *buf, size_t size, const char *section, const char *name,
			       const char *key)
{
	int n = snprintf(buf, size, "%s.%s.%s", section, name, key);

	if (n < 0 || (size_t)n >= size)
		str_copy(buf, size, section);
	return buf;
}

/* Path of host h's k-th address: "hosts.h.address" or "hosts.h.addresses[k]". */
static const char *host_addr_path(char *buf, size_t size, const struct host_in *h, size_t k)
{
	int n;

	if (!h->line[HK_ADDRESSES])
		return entity_path(buf, size, "hosts", h->host.name, "address");
	n = snprintf(buf, size, "hosts.%s.addresses[%zu]", h->host.name, k);
	if (n < 0 || (size_t)n >= size)
		snprintf(buf, size, "hosts");
	return buf;
}

/* Required keys, the preset, the upstream's index. */
static int nat_complete(struct loader *ld, struct nat_in *ni)
{
	struct topo_nat *nat = &ni->nat;
	char path[KEY_PATH_MAX];

	if (!ni->line[NK_PUBLIC])
		return topo_fail(ld, nat->line,
				 entity_path(path, sizeof(path), "nats", nat->name, "public"),
				 "missing (the NAT's outside address)");
	if (!ni->line[NK_INSIDE])
		return topo_fail(ld, nat->line,
				 entity_path(path, sizeof(path), "nats", nat->name, "inside"),
				 "missing (the NAT's inside prefix, e.g. 192.168.1.0/24)");
	if (!nat->preset[0] && (~nat->set & (TOPO_NAT_MAPPING | TOPO_NAT_FILTERING)))
		return topo_fail(ld, nat->line,
				 entity_path(path, sizeof(path), "nats", nat->name, "preset"),
				 "missing (give a preset, or both mapping and filtering)");
	topo_nat_behaviour_fill(nat);
	if (!ni->line[NK_UPSTREAM])
		return 0;
	nat->upstream = nat_find_in(ld, ni->upstream);
	if (nat->upstream < 0)
		return topo_fail(ld, ni->line[NK_UPSTREAM],
				 entity_path(path, sizeof(path), "nats", nat->name, "upstream"),
				 "unknown NAT '%s'", ni->upstream);
	return 0;
}

/* A NAT whose upstream chain comes back to it. */
static int nat_cycle(struct loader *ld, size_t i)
{
	char path[KEY_PATH_MAX], chain[256];
	size_t steps, used = 0;
	int j = (int)i, w;

	for (steps = 0; steps <= ld->n_nats && j >= 0; steps++) {
		w = snprintf(chain + used, sizeof(chain) - used, "%s%s", steps ? " -> " : "",
			     ld->nats[j].nat.name);
		if (w >= 0 && (size_t)w < sizeof(chain) - used)
			used += (size_t)w;
		j = ld->nats[j].nat.upstream;
		if (j == (int)i)
			return topo_fail(ld, ld->nats[i].line[NK_UPSTREAM],
					 entity_path(path, sizeof(path), "nats",
						     ld->nats[i].nat.name, "upstream"),
					 "upstream cycle: %s -> %s", chain, ld->nats[i].nat.name);
	}
	return 0;
}

/* Why a is not a host address on the inside segment of nat, or NULL. */
static const char *segment_problem(const struct topo_nat *nat, struct in_addr a)
{
	uint32_t h = ip_h(a), net = ip_h(nat->inside_net);

	if (!in_prefix(nat->inside_net, nat->inside_len, a))
		return "is outside the inside prefix of";
	if (h == net)
		return "is the network address of";
	if (h == (net | ~prefix_mask(nat->inside_len)))
		return "is the broadcast address of";
	if (h == ip_h(nat->gateway))
		return "is the gateway of";
	return NULL;
}

static int span_cmp(const void *x, const void *y)
{
	const struct nat_span *a = x, *b = y;

	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi > b->hi ? -1 : 1; /* the larger prefix first */
	return a->nat < b->nat ? -1 : a->nat > b->nat;
}

/* Every NAT's inside prefix, sorted by address. 0, or -1 on ENOMEM. */
static int spans_build(struct loader *ld)
{
	size_t i;

	ld->spans = calloc(ld->n_nats ? ld->n_nats : 1, sizeof(*ld->spans));
	if (!ld->spans)
		return topo_fail(ld, ld->line[TK_NATS], "nats", "out of memory");
	for (i = 0; i < ld->n_nats; i++) {
		const struct topo_nat *t = &ld->nats[i].nat;
		uint32_t lo = ip_h(t->inside_net) & prefix_mask(t->inside_len);

		ld->spans[i] = (struct nat_span){lo, lo | ~prefix_mask(t->inside_len), i};
	}
	qsort(ld->spans, ld->n_nats, sizeof(*ld->spans), span_cmp);
	return 0;
}

/* Whether two inside prefixes overlap. CIDR prefixes nest or are apart,
 * and sorted by address a prefix holding another holds the one right
 * after it: looking at neighbours finds any overlap. */
static bool spans_overlap(const struct loader *ld)
{
	size_t i;

	for (i = 0; i + 1 < ld->n_nats; i++)
		if (ld->spans[i + 1].lo <= ld->spans[i].hi)
			return true;
	return false;
}

/* The NAT whose inside prefix holds a (the prefixes apart), or -1. */
static int span_nat(const struct loader *ld, struct in_addr a)
{
	uint32_t h = ip_h(a);
	size_t lo = 0, hi = ld->n_nats;

	while (lo < hi) { /* the first span starting past h */
		size_t mid = lo + (hi - lo) / 2;

		if (ld->spans[mid].lo <= h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && h <= ld->spans[lo - 1].hi ? (int)ld->spans[lo - 1].nat : -1;
}

/* Checks address a of `path` at `line`: on the inside segment of NAT nat,
 * or (nat < 0) a public address: not the public gateway, in no NAT's
 * inside prefix. */
static int addr_place(struct loader *ld, struct in_addr a, int nat, const char *path, int line)
{
	char s[INET_ADDRSTRLEN], p[INET_ADDRSTRLEN];
	struct in_addr gw;
	const char *why;
	int k;

	if (nat >= 0) {
		const struct topo_nat *t = &ld->nats[nat].nat;

		why = segment_problem(t, a);
		if (why)
			return topo_fail(ld, line, path, "%s %s NAT %s (inside %s/%d)",
					 ip_str(a, s), why, t->name, ip_str(t->inside_net, p),
					 t->inside_len);
		return 0;
	}
	inet_pton(AF_INET, TOPO_PUBLIC_GATEWAY, &gw);
	if (a.s_addr == gw.s_addr)
		return topo_fail(ld, line, path, "%s is the gateway of public hosts", ip_str(a, s));
	k = span_nat(ld, a);
	if (k >= 0) {
		const struct topo_nat *t = &ld->nats[k].nat;

		return topo_fail(ld, line, path,
				 "public address %s is inside NAT %s's prefix %s/%d", ip_str(a, s),
				 t->name, ip_str(t->inside_net, p), t->inside_len);
	}
	return 0;
}

/* Where address a is already placed (a NAT public, a host address, given
 * or allocated, in file order): writes that place's path to where and
 * returns its line, or 0 when a is free. *same tells whether it is NAT
 * nat's own (nat < 0: never). */
static int addr_user(const struct loader *ld, struct in_addr a, int nat, bool *same, char *where,
		     size_t wlen)
{
	const struct tidx_entry *e = tidx_addr(&ld->addrs, a.s_addr);

	*same = false;
	if (!e)
		return 0;
	if (e->kind == TIDX_NAT) {
		*same = nat >= 0 && e->i == (size_t)nat;
		entity_path(where, wlen, "nats", ld->nats[e->i].nat.name, "public");
		return ld->nats[e->i].line[NK_PUBLIC];
	}
	host_addr_path(where, wlen, &ld->hosts[e->i], e->k);
	return ld->hosts[e->i].addr_line[e->k];
}

static int nat_place(struct loader *ld, size_t i)
{
	struct nat_in *ni = &ld->nats[i];
	char path[KEY_PATH_MAX], other[KEY_PATH_MAX], s[INET_ADDRSTRLEN];
	bool same;
	size_t k;
	int line;

	entity_path(path, sizeof(path), "nats", ni->nat.name, "public");
	for (k = 0; k < ni->nat.n_public; k++) {
		struct in_addr a = ni->nat.publics[k];

		if (addr_place(ld, a, ni->nat.upstream, path, ni->line[NK_PUBLIC]) < 0)
			return -1;
		line = addr_user(ld, a, (int)i, &same, other, sizeof(other));
		if (line && same)
			return topo_fail(ld, ni->line[NK_PUBLIC], path, "%s is given twice",
					 ip_str(a, s));
		if (line)
			return topo_fail(ld, ni->line[NK_PUBLIC], path,
					 "duplicate address %s (%s, line %d)", ip_str(a, s), other,
					 line);
		if (tidx_put_addr(&ld->addrs, a.s_addr, TIDX_NAT, i, k) < 0)
			return topo_fail(ld, ni->line[NK_PUBLIC], path, "out of memory");
	}
	return 0;
}

/* NAT i's inside prefix: not holding the public gateway and, when pairs,
 * apart from every earlier NAT's (the first one it overlaps named). */
static int nat_overlap(struct loader *ld, size_t i, bool pairs)
{
	const struct topo_nat *a = &ld->nats[i].nat;
	char path[KEY_PATH_MAX], s[INET_ADDRSTRLEN];
	struct in_addr gw;
	size_t j;

	entity_path(path, sizeof(path), "nats", a->name, "inside");
	inet_pton(AF_INET, TOPO_PUBLIC_GATEWAY, &gw);
	if (in_prefix(a->inside_net, a->inside_len, gw))
		return topo_fail(ld, ld->nats[i].line[NK_INSIDE], path,
				 "contains the public gateway %s", TOPO_PUBLIC_GATEWAY);
	for (j = 0; pairs && j < i; j++) {
		const struct topo_nat *b = &ld->nats[j].nat;

		if (in_prefix(a->inside_net, a->inside_len, b->inside_net) ||
		    in_prefix(b->inside_net, b->inside_len, a->inside_net))
			return topo_fail(ld, ld->nats[i].line[NK_INSIDE], path,
					 "overlaps NAT %s's inside prefix %s/%d", b->name,
					 ip_str(b->inside_net, s), b->inside_len);
	}
	return 0;
}

static int nats_resolve(struct loader *ld)
{
	bool pairs;
	size_t i;

	for (i = 0; i < ld->n_nats; i++)
		if (nat_complete(ld, &ld->nats[i]) < 0)
			return -1;
	for (i = 0; i < ld->n_nats; i++)
		if (nat_cycle(ld, i) < 0)
			return -1;
	if (spans_build(ld) < 0)
		return -1;
	pairs = spans_overlap(ld); /* then find the pair the file gives first */
	for (i = 0; i < ld->n_nats; i++)
		if (nat_overlap(ld, i, pairs) < 0)
			return -1;
	for (i = 0; i < ld->n_nats; i++)
		if (nat_place(ld, i) < 0)
			return -1;
	return 0;
}

/* The host's NAT and its given addresses. */
static int host_check(struct loader *ld, size_t i)
{
	struct host_in *hi = &ld->hosts[i];
	char path[KEY_PATH_MAX], other[KEY_PATH_MAX], s[INET_ADDRSTRLEN];
	bool same;
	size_t k;
	int line;

	hi->host.run_line = hi->line[HK_RUN];
	if (hi->line[HK_NAT]) {
		hi->host.nat = nat_find_in(ld, hi->nat);
		if (hi->host.nat < 0)
			return topo_fail(
			    ld, hi->line[HK_NAT],
			    entity_path(path, sizeof(path), "hosts", hi->host.name, "nat"),
			    "unknown NAT '%s'", hi->nat);
	}
	for (k = 0; k < hi->host.n_addrs; k++) {
		struct in_addr a = hi->host.addrs[k];

		host_addr_path(path, sizeof(path), hi, k);
		if (addr_place(ld, a, hi->host.nat, path, hi->addr_line[k]) < 0)
			return -1;
		line = addr_user(ld, a, -1, &same, other, sizeof(other));
		if (line)
			return topo_fail(ld, hi->addr_line[k], path,
					 "duplicate address %s (%s, line %d)", ip_str(a, s), other,
					 line);
		if (tidx_put_addr(&ld->addrs, a.s_addr, TIDX_HOST, i, k) < 0)
			return topo_fail(ld, hi->addr_line[k], path, "out of memory");
	}
	return 0;
}

/* Whether a is free for a host allocated on NAT nat (or public, nat < 0). */
static bool addr_free(const struct loader *ld, struct in_addr a, int nat)
{
	if (tidx_addr(&ld->addrs, a.s_addr))
		return false;
	if (nat >= 0)
		return !segment_problem(&ld->nats[nat].nat, a);
	if ((ip_h(a) & 0xff) == 0 || (ip_h(a) & 0xff) == 0xff)
		return false; /* legal as /32, but confusing to read */
	return span_nat(ld, a) < 0;
}

/* Allocates a host without an address: gateway + 1 upward on its NAT's
 * segment, PUBLIC_FIRST upward in PUBLIC_POOL for a public host. */
static int host_alloc(struct loader *ld, struct host_in *hi)
{
	struct in_addr a, pool;
	uint32_t h, last;
	char path[KEY_PATH_MAX];

	if (hi->host.nat >= 0) {
		const struct topo_nat *nat = &ld->nats[hi->host.nat].nat;

		h = ip_h(nat->gateway) + 1;
		last = ip_h(nat->inside_net) | ~prefix_mask(nat->inside_len);
	} else {
		inet_pton(AF_INET, PUBLIC_FIRST, &a);
		inet_pton(AF_INET, PUBLIC_POOL, &pool);
		h = ip_h(a);
		last = ip_h(pool) | ~prefix_mask(PUBLIC_POOL_LEN);
	}
	for (; h < last; h++) {
		if (addr_free(ld, ip_n(h), hi->host.nat)) {
			hi->host.addrs[0] = ip_n(h);
			hi->host.n_addrs = 1;
			hi->addr_line[0] = hi->host.line; /* marks it used (> 0) */
			if (tidx_put_addr(&ld->addrs, ip_n(h).s_addr, TIDX_HOST,
					  (size_t)(hi - ld->hosts), 0) < 0)
				return topo_fail(ld, hi->host.line, "hosts", "out of memory");
			return 0;
		}
	}
	return topo_fail(ld, hi->host.line,
			 entity_path(path, sizeof(path), "hosts", hi->host.name, "address"),
			 "no free address left to allocate");
}

/* Addresses, the route and the access link of every host. */
static int hosts_resolve(struct loader *ld)
{
	struct in_addr gw;
	size_t i;

	for (i = 0; i < ld->n_hosts; i++)
		if (host_check(ld, i) < 0)
			return -1;
	inet_pton(AF_INET, TOPO_PUBLIC_GATEWAY, &gw);
	for (i = 0; i < ld->n_hosts; i++) {
		struct host_in *hi = &ld->hosts[i];
		const struct topo_nat *nat = hi->host.nat >= 0 ? &ld->nats[hi->host.nat].nat : NULL;

		if (!hi->host.n_addrs && host_alloc(ld, hi) < 0)
			return -1;
		hi->host.prefix_len = nat ? nat->inside_len : 32;
		hi->host.gateway = nat ? nat->gateway : gw;
		hi->host.link = link_layer(&ld->t.defaults, &hi->host.link);
	}
	return 0;
}

static int resolve(struct loader *ld)
{
	if (!ld->line[TK_HOSTS])
		return topo_fail(ld, 1, "hosts", "missing (a topology needs at least one host)");
	if (nats_resolve(ld) < 0)
		return -1;
	return hosts_resolve(ld);
}

/* ---- the document ---- */

/* The file's name without directory and extension: the default topology
 * name (truncated to fit, as it only labels results). */
static void default_name(char *dst, size_t size, const char *file)
{
	const char *base = strrchr(file, '/'), *dot;
	int len;

	base = base ? base + 1 : file;
	dot = strrchr(base, '.');
	len = dot && dot > base ? (int)(dot - base) : (int)strlen(base);
	snprintf(dst, size, "%.*s", len, base);
}

static int load_root(struct loader *ld)
{
	const yaml_node_t *root = yaml_document_get_root_node(ld->doc);

	ld->t.seed = 1;
	default_name(ld->t.name, sizeof(ld->t.name), ld->file);
	if (!root)
		return topo_fail(ld, 1, "hosts", "missing (the file is empty)");
	if (!topo_is_null(root) && root->type != YAML_MAPPING_NODE)
		return topo_fail(ld, line_of(root), "topology", "expected a mapping, got %s",
				 topo_node_kind(root));
	if (topo_walk_map(ld, root, "", top_keys, TK_COUNT, ld, ld->line, NULL) < 0)
		return -1;
	ld->t.scenario_line = ld->line[TK_SCENARIO];
	return resolve(ld);
}

static int yaml_fail(struct loader *ld, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return topo_fail(ld, 1, "yaml", "out of memory");
	if (p->context)
		return topo_fail(ld, (int)p->problem_mark.line + 1, "yaml", "%s %s",
				 p->problem ? p->problem : "syntax error", p->context);
	return topo_fail(ld, (int)p->problem_mark.line + 1, "yaml", "%s",
			 p->problem ? p->problem : "syntax error");
}

/* Refuses a stream with a second document (it would be silently ignored). */
static int load_rest(struct loader *ld, yaml_parser_t *p)
{
	yaml_document_t more;
	const yaml_node_t *root;
	int rc = 0;

	if (!yaml_parser_load(p, &more))
		return yaml_fail(ld, p);
	root = yaml_document_get_root_node(&more);
	if (root)
		rc = topo_fail(ld, line_of(root), "yaml", "more than one document in the file");
	yaml_document_delete(&more);
	return rc;
}

/* The topology handed to the caller, from what the loader holds. */
static int build(struct loader *ld, struct topo **out)
{
	struct topo *t = calloc(1, sizeof(*t));
	size_t i;

	if (!t)
		return topo_fail(ld, 1, "topology", "out of memory");
	*t = ld->t;
	t->nats = ld->n_nats ? calloc(ld->n_nats, sizeof(*t->nats)) : NULL;
	t->hosts = calloc(ld->n_hosts, sizeof(*t->hosts));
	if ((ld->n_nats && !t->nats) || !t->hosts ||
	    topo_copy_str(t->path, sizeof(t->path), ld->file)) {
		topo_free(t);
		return topo_fail(ld, 1, "topology", "out of memory or file name too long");
	}
	/* t takes the gates: the loader's copies forget them */
	for (i = 0; i < ld->n_nats; i++) {
		t->nats[i] = ld->nats[i].nat;
		ld->nats[i].nat.gate = NULL;
	}
	for (i = 0; i < ld->n_hosts; i++) {
		t->hosts[i] = ld->hosts[i].host;
		ld->hosts[i].host.gate = NULL;
	}
	t->n_nats = ld->n_nats;
	t->n_hosts = ld->n_hosts;
	t->scenario = ld->scen;
	ld->scen = NULL;
	if (topo_scenario_bind(ld, t) < 0 || topo_gates_bind(ld, t) < 0) {
		topo_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

/* The gates the loader still holds (a load that failed). */
static void loader_gates_free(struct loader *ld)
{
	size_t i;

	for (i = 0; ld->nats && i < ld->n_nats; i++)
		free(ld->nats[i].nat.gate);
	for (i = 0; ld->hosts && i < ld->n_hosts; i++)
		free(ld->hosts[i].host.gate);
}

static int prefix_check(struct loader *ld)
{
	size_t len = strlen(ld->prefix);

	if (len > TOPO_PREFIX_MAX)
		return topo_fail(ld, 1, "prefix", "'%.*s' is longer than %d characters",
				 VALUE_SHOW_MAX, ld->prefix, TOPO_PREFIX_MAX);
	if (strspn(ld->prefix, "abcdefghijklmnopqrstuvwxyz0123456789-_") != len)
		return topo_fail(ld, 1, "prefix", "'%s' has characters other than a-z 0-9 - _",
				 ld->prefix);
	return 0;
}

int topo_load_string(const char *text, size_t len, const char *name, const char *prefix,
		     struct topo **out, char *err, size_t errlen)
{
	struct loader ld = {
	    .file = name ? name : "<string>",
	    .prefix = prefix ? prefix : PREFIX_DEFAULT,
	    .err = err,
	    .errlen = errlen,
	};
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc = -1;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (prefix_check(&ld) < 0)
		return -1;
	if (!yaml_parser_initialize(&parser))
		return topo_fail(&ld, 1, "yaml", "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_fail(&ld, &parser);
		goto cleanup;
	}
	ld.doc = &doc;
	if (load_root(&ld) == 0 && load_rest(&ld, &parser) == 0)
		rc = build(&ld, out);
	yaml_document_delete(&doc);
cleanup:
	yaml_parser_delete(&parser);
	loader_gates_free(&ld); /* none once build() took them */
	free(ld.nats);
	topo_scenario_free(ld.scen); /* NULL once build() took it */
	free(ld.hosts);
	free(ld.spans);
	tidx_free(&ld.names);
	tidx_free(&ld.addrs);
	return rc;
}

/* Reads path whole into a new buffer; returns 0 or -errno (-EFBIG when
 * larger than TOPO_FILE_MAX). */
static int file_read(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t n;
	int rc = 0;

	if (!f)
		return -errno;
	b = malloc(TOPO_FILE_MAX + 1);
	if (!b) {
		rc = -ENOMEM;
		goto cleanup;
	}
	n = fread(b, 1, TOPO_FILE_MAX + 1, f);
	if (ferror(f))
		rc = -EIO;
	else if (n > TOPO_FILE_MAX)
		rc = -EFBIG;
cleanup:
	fclose(f);
	if (rc) {
		free(b);
		return rc;
	}
	*buf = b;
	*len = n;
	return 0;
}

int topo_load(const char *path, const char *prefix, struct topo **out, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc = file_read(path, &text, &len);

	*out = NULL;
	if (rc < 0) {
		struct loader ld = {.file = path, .err = err, .errlen = errlen};

		if (rc == -EFBIG)
			return topo_fail(&ld, 1, "file",
					 "larger than %u MiB, the most natbed reads",
					 TOPO_FILE_MAX >> 20);
		return topo_fail(&ld, 1, "file", "cannot read: %s", strerror(-rc));
	}
	rc = topo_load_string(text, len, path, prefix, out, err, errlen);
	free(text);
	return rc;
}

void topo_free(struct topo *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; t->nats && i < t->n_nats; i++)
		free(t->nats[i].gate);
	for (i = 0; t->hosts && i < t->n_hosts; i++)
		free(t->hosts[i].gate);
	free(t->nats);
	free(t->hosts);
	topo_scenario_free(t->scenario);
	free(t);
}

int topo_host_find(const struct topo *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n_hosts; i++)
		if (!strcmp(t->hosts[i].name, name))
			return (int)i;
	return -1;
}

int topo_nat_find(const struct topo *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n_nats; i++)
		if (!strcmp(t->nats[i].name, name))
			return (int)i;
	return -1;
}
