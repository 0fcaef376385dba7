/* NAT control, inspection and checkpoints: what `natbed ctl nat NAME ...`
 * shows and changes, and the NAT's part of a checkpoint. The engine
 * (nat.c) decides; this file serialises. */
#include "nat_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "natbed/units.h"

static void nat_endpoint(char *buf, size_t len, uint32_t addr, uint16_t port)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, a, sizeof(a));
	snprintf(buf, len, "%s:%u", a, ntohs(port));
}

static json_t *nat_map_json(const struct nat *n, const struct nat_map *m, natbed_time_t now)
{
	char in[32], out[32], rem[32];
	json_t *perms = json_array(), *j;
	const struct nat_perm *pm;

	nat_endpoint(in, sizeof(in), m->int_addr, m->int_port);
	nat_endpoint(out, sizeof(out), m->ext_addr, m->ext_port);
	for (pm = m->perms; pm; pm = pm->next) {
		nat_endpoint(rem, sizeof(rem), pm->addr, pm->port);
		json_array_append_new(perms, json_string(rem));
	}
	j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:o}", "proto", nat_proto_name(m->proto), "inside",
		      in, "outside", out, "expires_in_ms",
		      (json_int_t)((m->expires - now) / NATBED_NS_PER_MS), "pkts_out",
		      (json_int_t)m->pkts_out, "pkts_in", (json_int_t)m->pkts_in, "remotes", perms);
	if (n->cfg.b.mapping != TOPO_MAP_EIM) {
		nat_endpoint(rem, sizeof(rem), m->key_addr, m->key_port);
		json_object_set_new(j, "key_remote", json_string(rem));
	}
	if (m->granted)
		json_object_set_new(j, "granted",
				    json_string(m->granted == NAT_GRANT_PCP ? "pcp" : "nat-pmp"));
	return j;
}

json_t *nat_mappings_json(const struct nat *n, natbed_time_t now)
{
	json_t *arr = json_array();
	size_t count, i;
	struct nat_map **all = nat_maps_sorted(n, &count);

	for (i = 0; i < count; i++)
		json_array_append_new(arr, nat_map_json(n, all[i], now));
	free(all);
	return arr;
}

/* A place in the order of nat_maps_sorted(): protocol, outside address
 * (host order) and port, packed so that places compare as numbers. */
static uint64_t nat_place(enum nat_proto p, uint32_t addr, uint16_t port)
{
	return (uint64_t)p << 48 | (uint64_t)ntohl(addr) << 16 | ntohs(port);
}

/* The next mapping after place `after` (0: from the start) in that order:
 * walks the outside ports of each protocol and address upward, so a page
 * costs what it skips, not a sort of the whole table. */
static struct nat_map *nat_next_after(const struct nat *n, uint64_t after, bool first)
{
	struct nat_map *m;
	int p;
	size_t a;
	uint32_t port;

	for (p = 0; p < NAT_PROTO_COUNT; p++) {
		if (n->in_use[p] == 0)
			continue;
		for (a = 0; a < n->cfg.n_public; a++) {
			uint32_t addr = n->cfg.publics[a];

			if (!first && nat_place(p, addr, 0xffff) <= after)
				continue;
			for (port = 1; port < NAT_PORTS; port++) {
				if (!first && nat_place(p, addr, htons((uint16_t)port)) <= after)
					continue;
				m = nat_map_at(n, (enum nat_proto)p, addr, htons((uint16_t)port));
				if (m)
					return m;
			}
		}
	}
	return NULL;
}

json_t *nat_mappings_page(const struct nat *n, natbed_time_t now, const char *after, size_t limit,
			  char *err, size_t errlen)
{
	json_t *arr = json_array(), *j;
	struct nat_map *m;
	uint64_t place = 0;
	bool first = true;
	size_t k;

	if (after && after[0]) {
		unsigned long long v;
		char *end;

		v = strtoull(after, &end, 16);
		if (*end || end == after) {
			snprintf(err, errlen, "bad page cursor '%s'", after);
			json_decref(arr);
			return NULL;
		}
		place = v;
		first = false;
	}
	if (limit == 0 || limit > NAT_PAGE_MAX)
		limit = NAT_PAGE_MAX;
	for (k = 0; k < limit && (m = nat_next_after(n, place, first)); k++) {
		json_array_append_new(arr, nat_map_json(n, m, now));
		place = nat_place(m->proto, m->ext_addr, m->ext_port);
		first = false;
	}
	j = json_pack("{s:o,s:I}", "mappings", arr, "total", (json_int_t)n->c.mappings_active);
	if (k == limit && nat_next_after(n, place, false)) {
		char cur[24];

		snprintf(cur, sizeof(cur), "%llx", (unsigned long long)place);
		json_object_set_new(j, "next", json_string(cur));
	}
	return j;
}

int nat_set(struct nat *n, const char *key, const char *value, char *err, size_t errlen)
{
	struct nat_cfg c = n->cfg;

	if (topo_nat_behaviour_set(&c.b, key, value, err, errlen) < 0)
		return -1;
	if (!nat_cfg_ok(&c)) {
		snprintf(err, errlen, "%s: '%s' does not fit the NAT's other settings", key, value);
		return -1;
	}
	if (nat_reshape(n, &c) < 0) {
		snprintf(err, errlen, "%s: out of memory", key);
		return -1;
	}
	return 0;
}

/* --- counters ---------------------------------------------------------------- */

/* The counters by name, for JSON both ways. */
#define NAT_C(name, field)                                                                         \
	{                                                                                          \
		name, offsetof(struct nat_counters, field)                                         \
	}
static const struct {
	const char *name;
	size_t off;
} nat_counter_names[] = {
    NAT_C("out_pkts", out_pkts),
    NAT_C("in_pkts", in_pkts),
    NAT_C("mappings_active", mappings_active),
    NAT_C("mappings_created", mappings_created),
    NAT_C("mappings_expired", mappings_expired),
    NAT_C("hairpinned", hairpinned),
    NAT_C("icmp_errors", icmp_errors),
    NAT_C("fragments_held", frags_held),
    NAT_C("reservations", reservations),
    NAT_C("subscribers_active", subscribers_active),
    NAT_C("port_blocks_active", blocks_active),
    NAT_C("port_blocks_allocated", blocks_allocated),
};
#undef NAT_C

json_t *nat_counters_json(const struct nat *n)
{
	json_t *drops = json_object(), *j = json_object();
	size_t i;

	for (i = 0; i < sizeof(nat_counter_names) / sizeof(nat_counter_names[0]); i++)
		json_object_set_new(
		    j, nat_counter_names[i].name,
		    json_integer((json_int_t) * (const uint64_t *)((const char *)&n->c +
								   nat_counter_names[i].off)));
	for (i = NAT_PASS + 1; i < NAT_VERDICT_COUNT; i++)
		if (nat_verdict_is_drop((enum nat_verdict)i))
			json_object_set_new(drops, nat_verdict_name((enum nat_verdict)i),
					    json_integer((json_int_t)n->c.drops[i]));
	json_object_set_new(j, "drops", drops);
	return j;
}

/* Reads counters j back; the ones the engine keeps by itself (active
 * mappings, subscribers and blocks) are left as the restore made them. */
static void nat_counters_read(struct nat *n, const json_t *j)
{
	const json_t *drops = json_object_get(j, "drops");
	size_t i;

	for (i = 0; i < sizeof(nat_counter_names) / sizeof(nat_counter_names[0]); i++) {
		const json_t *v = json_object_get(j, nat_counter_names[i].name);
		uint64_t *f = (uint64_t *)((char *)&n->c + nat_counter_names[i].off);

		if (f == &n->c.mappings_active || f == &n->c.subscribers_active ||
		    f == &n->c.blocks_active)
			continue;
		*f = (uint64_t)json_integer_value(v);
	}
	for (i = NAT_PASS + 1; i < NAT_VERDICT_COUNT; i++)
		if (nat_verdict_is_drop((enum nat_verdict)i))
			n->c.drops[i] = (uint64_t)json_integer_value(
			    json_object_get(drops, nat_verdict_name((enum nat_verdict)i)));
}

/* --- checkpoint -------------------------------------------------------------- */

static json_t *nat_addr_json(uint32_t a)
{
	char s[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a, s, sizeof(s));
	return json_string(s);
}

static json_t *nat_map_ckpt(const struct nat_map *m, natbed_time_t now)
{
	json_t *perms = json_array(), *j;
	char nonce[2 * NAT_NONCE_LEN + 1];
	const struct nat_perm *pm;
	size_t i;

	for (pm = m->perms; pm; pm = pm->next)
		json_array_append_new(perms,
				      json_pack("[o,i,i,i]", nat_addr_json(pm->addr),
						ntohs(pm->port), pm->tcp.state, pm->tcp.heard));
	j = json_pack("{s:s,s:o,s:i,s:o,s:i,s:o,s:i,s:I,s:I,s:b,s:I,s:I,s:o}", "proto",
		      nat_proto_name(m->proto), "int_addr", nat_addr_json(m->int_addr), "int_port",
		      ntohs(m->int_port), "key_addr", nat_addr_json(m->key_addr), "key_port",
		      ntohs(m->key_port), "ext_addr", nat_addr_json(m->ext_addr), "ext_port",
		      ntohs(m->ext_port), "expires_in_ns", (json_int_t)(m->expires - now), "age_ns",
		      (json_int_t)(now - m->created), "replied", m->replied, "pkts_out",
		      (json_int_t)m->pkts_out, "pkts_in", (json_int_t)m->pkts_in, "perms", perms);
	if (j && m->granted) {
		for (i = 0; i < NAT_NONCE_LEN; i++)
			snprintf(nonce + 2 * i, 3, "%02x", m->nonce[i]);
		json_object_set_new(j, "granted",
				    json_pack("{s:i,s:s,s:I}", "by", m->granted, "nonce", nonce,
					      "until_in_ns", (json_int_t)(m->granted_until - now)));
	}
	return j;
}

/* The behaviour as numbers: what `nat set` changed comes back exactly. */
static json_t *nat_behaviour_ckpt(const struct topo_nat_behaviour *b)
{
	return json_pack("{s:i,s:i,s:i,s:i,s:i,s:b,s:I,s:i,s:b,s:I,s:b,s:i,s:I,s:b,s:i,s:i,s:b}",
			 "mapping", b->mapping, "filtering", b->filtering, "ports", b->ports,
			 "port_lo", b->port_lo, "port_hi", b->port_hi, "hairpin", b->hairpin,
			 "timeout_ns", (json_int_t)b->timeout_ns, "stride", b->stride, "parity",
			 b->parity, "pool", (json_int_t)b->pool, "refresh_inbound",
			 b->refresh_inbound, "classes", b->classes, "unreplied_ns",
			 (json_int_t)b->unreplied_ns, "inbound_reserves", b->inbound_reserves,
			 "port_block", b->port_block, "port_blocks", b->port_blocks, "pcp", b->pcp);
}

/* Where nat_resv_ckpt() writes, and the time expiries are relative to. */
struct nat_resv_out {
	json_t *arr;
	natbed_time_t now;
};

static json_t *nat_resv_json(const struct nat_resv *r, natbed_time_t now)
{
	return json_pack("{s:s,s:o,s:i,s:o,s:i,s:I}", "proto", nat_proto_name(r->proto), "ext_addr",
			 nat_addr_json(r->ext_addr), "ext_port", ntohs(r->ext_port), "raddr",
			 nat_addr_json(r->raddr), "rport", ntohs(r->rport), "expires_in_ns",
			 (json_int_t)(r->expires - now));
}

static void nat_resv_ckpt(void *ctx, const struct nat_resv *r)
{
	struct nat_resv_out *o = ctx;

	json_array_append_new(o->arr, nat_resv_json(r, o->now));
}

/* A subscriber: {inside, public, blocks:[...]}, its blocks in their order. */
static json_t *nat_sub_json(const struct nat_sub *s)
{
	json_t *blocks = json_array();
	uint16_t b;

	for (b = 0; b < s->n_blocks; b++)
		json_array_append_new(blocks, json_integer(s->blocks[b]));
	return json_pack("{s:o,s:i,s:o}", "inside", nat_addr_json(s->int_addr), "public",
			 (int)s->pub, "blocks", blocks);
}

/* The generator's state words, as strings (JSON integers are signed). */
static json_t *nat_rng_json(const struct nat *n)
{
	json_t *rng = json_array();
	int i;

	for (i = 0; i < 4; i++)
		json_array_append_new(rng, jsonck_u64(n->rng.s[i], false));
	return rng;
}

static json_t *nat_next_port_json(const struct nat *n)
{
	json_t *next = json_array();
	int p;

	for (p = 0; p < NAT_PROTO_COUNT; p++)
		json_array_append_new(next, json_integer(n->next_port[p]));
	return next;
}

static json_t *nat_publics_json(const struct nat *n)
{
	json_t *pubs = json_array();
	size_t k;

	for (k = 0; k < n->cfg.n_public; k++)
		json_array_append_new(pubs, nat_addr_json(n->cfg.publics[k]));
	return pubs;
}

json_t *nat_checkpoint(const struct nat *n, natbed_time_t now)
{
	json_t *maps = json_array(), *subs = json_array(), *resv = json_array();
	struct nat_resv_out ro = {resv, now};
	struct nat_map **all;
	struct nat_sub *s;
	size_t count, k;

	all = nat_maps_sorted(n, &count);
	for (k = 0; k < count; k++)
		json_array_append_new(maps, nat_map_ckpt(all[k], now));
	free(all);
	for (k = 0; k < NAT_SUB_BUCKETS; k++)
		for (s = n->subs[k]; s; s = s->next)
			json_array_append_new(subs, nat_sub_json(s));
	nat_resv_each(n, now, nat_resv_ckpt, &ro);
	return json_pack("{s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "name", n->cfg.name,
			 "epoch_age_ns", (json_int_t)(now - n->epoch_start), "publics",
			 nat_publics_json(n), "behaviour", nat_behaviour_ckpt(&n->cfg.b), "rng",
			 nat_rng_json(n), "next_port", nat_next_port_json(n), "counters",
			 nat_counters_json(n), "subscribers", subs, "mappings", maps,
			 "reservations", resv);
}

/* --- restore: built aside, checked whole, then adopted ----------------------- */

static int nat_addr_read(const json_t *j, uint32_t *out)
{
	const char *s = json_string_value(j);
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = a.s_addr;
	return 0;
}

static int nat_proto_read(const json_t *j, enum nat_proto *out)
{
	const char *s = json_string_value(j);
	int p;

	for (p = 0; s && p < NAT_PROTO_COUNT; p++)
		if (strcmp(s, nat_proto_name((enum nat_proto)p)) == 0) {
			*out = (enum nat_proto)p;
			return 0;
		}
	return -1;
}

static int nat_behaviour_read(const json_t *j, struct topo_nat_behaviour *b)
{
	int mapping, filtering, ports, lo, hi, hairpin, stride, parity, refresh, classes, reserves;
	int block, blocks, pcp = 0;
	json_int_t timeout, pool, unreplied;

	if (json_unpack((json_t *)j,
			"{s:i,s:i,s:i,s:i,s:i,s:b,s:I,s:i,s:b,s:I,s:b,s:i,s:I,s:b,s:i,s:i,s:b}",
			"mapping", &mapping, "filtering", &filtering, "ports", &ports, "port_lo",
			&lo, "port_hi", &hi, "hairpin", &hairpin, "timeout_ns", &timeout, "stride",
			&stride, "parity", &parity, "pool", &pool, "refresh_inbound", &refresh,
			"classes", &classes, "unreplied_ns", &unreplied, "inbound_reserves",
			&reserves, "port_block", &block, "port_blocks", &blocks, "pcp", &pcp) < 0)
		return -1;
	if (mapping < 0 || mapping >= TOPO_MAP_COUNT || filtering < 0 ||
	    filtering >= TOPO_MAP_COUNT || ports < 0 || ports >= TOPO_PORTS_COUNT || lo < 1 ||
	    hi > 65535 || lo > hi || stride < 1 || stride > TOPO_NAT_STRIDE_MAX || pool < 0 ||
	    pool > 65535 || classes < TOPO_CLASSES_NONE || classes > TOPO_CLASSES_LINUX ||
	    timeout <= 0 || unreplied < 0 || block < 0 || block > 32768 || blocks < 0 ||
	    blocks > NAT_BLOCKS_MAX)
		return -1;
	*b = (struct topo_nat_behaviour){
	    .mapping = (enum topo_nat_map)mapping,
	    .filtering = (enum topo_nat_map)filtering,
	    .ports = (enum topo_nat_ports)ports,
	    .port_lo = (uint16_t)lo,
	    .port_hi = (uint16_t)hi,
	    .hairpin = hairpin,
	    .timeout_ns = timeout,
	    .stride = (uint16_t)stride,
	    .parity = parity,
	    .pool = (uint32_t)pool,
	    .refresh_inbound = refresh,
	    .classes = (enum topo_nat_classes)classes,
	    .unreplied_ns = unreplied,
	    .inbound_reserves = reserves,
	    .port_block = (uint16_t)block,
	    .port_blocks = (uint16_t)blocks,
	    .pcp = pcp,
	};
	return 0;
}

/* The generator's state words back into n. 0 or -1. */
static int nat_rng_read(struct nat *n, const json_t *rng)
{
	size_t i;

	if (json_array_size(rng) != 4)
		return -1;
	for (i = 0; i < 4; i++)
		if (jsonck_u64_read(json_array_get(rng, i), false, &n->rng.s[i]) < 0)
			return -1;
	return 0;
}

/* The next sequential port of each protocol, in n's range. 0 or -1. */
static int nat_next_port_read(struct nat *n, const json_t *next)
{
	size_t i;

	if (json_array_size(next) != NAT_PROTO_COUNT)
		return -1;
	for (i = 0; i < NAT_PROTO_COUNT; i++) {
		json_int_t v = json_integer_value(json_array_get(next, i));

		if (!json_is_integer(json_array_get(next, i)) || v < n->cfg.b.port_lo ||
		    v > n->cfg.b.port_hi)
			return -1;
		n->next_port[i] = (uint32_t)v;
	}
	return 0;
}

/* The checkpoint must be of this NAT: its name, its outside addresses. */
static int nat_fits(const struct nat *n, const json_t *j, char *err, size_t errlen)
{
	const char *name = json_string_value(json_object_get(j, "name"));
	const json_t *pubs = json_object_get(j, "publics");
	uint32_t a;
	size_t k;

	if (!name || strcmp(name, n->cfg.name) != 0) {
		snprintf(err, errlen, "nat %s: the checkpoint is of NAT '%s'", n->cfg.name,
			 name ? name : "?");
		return -1;
	}
	if (json_array_size(pubs) != n->cfg.n_public) {
		snprintf(err, errlen,
			 "nat %s: the checkpoint has %zu outside addresses, the NAT %zu",
			 n->cfg.name, json_array_size(pubs), n->cfg.n_public);
		return -1;
	}
	for (k = 0; k < n->cfg.n_public; k++)
		if (nat_addr_read(json_array_get(pubs, k), &a) < 0 || a != n->cfg.publics[k]) {
			snprintf(err, errlen,
				 "nat %s: outside address %zu of the checkpoint is not the NAT's",
				 n->cfg.name, k);
			return -1;
		}
	return 0;
}

static int nat_sub_read(struct nat *n, const json_t *js, natbed_time_t now)
{
	const json_t *blocks = json_object_get(js, "blocks"), *jb;
	json_int_t pub = json_integer_value(json_object_get(js, "public"));
	struct nat_sub *sub;
	uint32_t a;
	size_t i;

	if (nat_addr_read(json_object_get(js, "inside"), &a) < 0 || pub < 0 ||
	    (size_t)pub >= n->cfg.n_public || nat_sub_find(n, a) || !json_is_array(blocks) ||
	    (json_array_size(blocks) && !n->cfg.b.port_block))
		return -1;
	sub = nat_sub_make(n, a, (unsigned)pub);
	if (!sub)
		return -1;
	json_array_foreach(blocks, i, jb)
	{
		json_int_t blk = json_integer_value(jb);

		if (!json_is_integer(jb) || blk < 0 ||
		    nat_block_take(n, sub, (uint32_t)blk, now) < 0)
			return -1;
	}
	return 0;
}

/* A mapping's grant (PCP, NAT-PMP), absent for an implicit one. */
static int nat_granted_read(struct nat_map *m, const json_t *jg, natbed_time_t now)
{
	const char *nonce = NULL;
	json_int_t until = 0;
	int by = 0;
	size_t i;

	if (!jg)
		return 0;
	if (json_unpack((json_t *)jg, "{s:i,s:s,s:I}", "by", &by, "nonce", &nonce, "until_in_ns",
			&until) < 0 ||
	    (by != NAT_GRANT_PCP && by != NAT_GRANT_NATPMP) || strlen(nonce) != 2 * NAT_NONCE_LEN)
		return -1;
	for (i = 0; i < NAT_NONCE_LEN; i++) {
		unsigned v;

		if (sscanf(nonce + 2 * i, "%2x", &v) != 1)
			return -1;
		m->nonce[i] = (uint8_t)v;
	}
	m->granted = (uint8_t)by;
	m->granted_until = now + until;
	return 0;
}

/* The plain fields of a mapping (endpoints, times relative to now,
 * counters, grant) from jm into m; live: it must not have expired yet. */
static int nat_map_fields_read(const struct nat *n, const json_t *jm, natbed_time_t now, bool live,
			       struct nat_map *m)
{
	json_t *perms = NULL, *jproto, *ia, *ka, *ea;
	json_int_t exp = 0, age = 0, po = 0, pi = 0;
	int ip = -1, kp = -1, ep = -1, replied = 0;

	if (json_unpack((json_t *)jm, "{s:o,s:o,s:i,s:o,s:i,s:o,s:i,s:I,s:I,s:b,s:I,s:I,s:o}",
			"proto", &jproto, "int_addr", &ia, "int_port", &ip, "key_addr", &ka,
			"key_port", &kp, "ext_addr", &ea, "ext_port", &ep, "expires_in_ns", &exp,
			"age_ns", &age, "replied", &replied, "pkts_out", &po, "pkts_in", &pi,
			"perms", &perms) < 0 ||
	    nat_proto_read(jproto, &m->proto) < 0 || nat_addr_read(ia, &m->int_addr) < 0 ||
	    nat_addr_read(ka, &m->key_addr) < 0 || nat_addr_read(ea, &m->ext_addr) < 0 || ip < 0 ||
	    ip > 65535 || kp < 0 || kp > 65535 || ep < 1 || ep > 65535 || (live && exp <= 0) ||
	    age < 0 || !json_is_array(perms) ||
	    (m->int_addr & n->cfg.inside_mask) != n->cfg.inside_net)
		return -1;
	m->int_port = htons((uint16_t)ip);
	m->key_port = htons((uint16_t)kp);
	m->ext_port = htons((uint16_t)ep);
	m->expires = now + exp;
	m->created = now - age;
	m->replied = replied;
	m->pkts_out = (uint64_t)po;
	m->pkts_in = (uint64_t)pi;
	return nat_granted_read(m, json_object_get(jm, "granted"), now);
}

/* The remotes of m (m->nat set), in their order. */
static int nat_perms_read(struct nat_map *m, const json_t *perms)
{
	size_t i;

	/* nat_perm_add() prepends: add from the last to keep the order */
	for (i = json_array_size(perms); i-- > 0;) {
		const json_t *jp = json_array_get(perms, i);
		struct nat_perm *pm;
		json_int_t port, st, heard;
		uint32_t a;

		port = json_integer_value(json_array_get(jp, 1));
		st = json_integer_value(json_array_get(jp, 2));
		heard = json_integer_value(json_array_get(jp, 3));
		if (nat_addr_read(json_array_get(jp, 0), &a) < 0 || port < 0 || port > 65535 ||
		    st < TCPST_NONE || st > TCPST_CLOSING || heard < 0 || heard > 3 ||
		    !(pm = nat_perm_add(m, a, htons((uint16_t)port))))
			return -1;
		pm->tcp.state = (uint8_t)st;
		pm->tcp.heard = (uint8_t)heard;
	}
	return 0;
}

static int nat_map_read(struct nat *n, const json_t *jm, natbed_time_t now)
{
	struct nat_map t = {0}, *m;
	struct nat_map_spec sp;

	if (nat_map_fields_read(n, jm, now, true, &t) < 0)
		return -1;
	sp = (struct nat_map_spec){.proto = t.proto,
				   .int_addr = t.int_addr,
				   .key_addr = t.key_addr,
				   .ext_addr = t.ext_addr,
				   .int_port = t.int_port,
				   .key_port = t.key_port,
				   .ext_port = t.ext_port};
	m = nat_map_add(n, &sp, t.expires);
	if (!m)
		return -1;
	m->created = t.created;
	m->replied = t.replied;
	m->granted = t.granted;
	memcpy(m->nonce, t.nonce, sizeof(m->nonce));
	m->granted_until = t.granted_until;
	m->pkts_out = t.pkts_out;
	m->pkts_in = t.pkts_in;
	return nat_perms_read(m, json_object_get(jm, "perms"));
}

/* A reservation's fields from jr into r, its expiry relative to now;
 * live: it must not have expired yet. */
static int nat_resv_fields_read(const struct nat *n, const json_t *jr, natbed_time_t now, bool live,
				struct nat_resv *r)
{
	json_t *jproto, *ea, *ra;
	json_int_t exp = 0;
	int ep = -1, rp = -1;

	if (json_unpack((json_t *)jr, "{s:o,s:o,s:i,s:o,s:i,s:I}", "proto", &jproto, "ext_addr",
			&ea, "ext_port", &ep, "raddr", &ra, "rport", &rp, "expires_in_ns",
			&exp) < 0 ||
	    nat_proto_read(jproto, &r->proto) < 0 || nat_addr_read(ea, &r->ext_addr) < 0 ||
	    nat_addr_read(ra, &r->raddr) < 0 || !nat_is_public(n, r->ext_addr) || ep < 1 ||
	    ep > 65535 || rp < 0 || rp > 65535 || (live && exp <= 0))
		return -1;
	r->ext_port = htons((uint16_t)ep);
	r->rport = htons((uint16_t)rp);
	r->expires = now + exp;
	return 0;
}

static int nat_resv_read(struct nat *n, const json_t *jr, natbed_time_t now)
{
	struct nat_resv r = {0};

	if (nat_resv_fields_read(n, jr, now, true, &r) < 0)
		return -1;
	nat_resv_hold(n, r.proto, r.ext_addr, r.ext_port, r.raddr, r.rport, r.expires);
	return 0;
}

/* Every subscriber has a mapping, and with port blocks every mapping's
 * port lies in a block its subscriber holds. 0 or -1. */
static int nat_subs_check(const struct nat *n)
{
	struct nat_map **all;
	struct nat_sub *s;
	size_t count, k, b;
	uint16_t i;
	int rc = 0;

	for (b = 0; b < NAT_SUB_BUCKETS; b++)
		for (s = n->subs[b]; s; s = s->next)
			if (s->n_maps == 0)
				return -1;
	if (!n->cfg.b.port_block)
		return 0;
	all = nat_maps_sorted(n, &count);
	for (k = 0; k < count && rc == 0; k++) {
		uint32_t blk = (ntohs(all[k]->ext_port) - n->cfg.b.port_lo) / n->cfg.b.port_block;

		rc = -1;
		for (i = 0; i < all[k]->sub->n_blocks; i++)
			if (all[k]->sub->blocks[i] == blk &&
			    ntohs(all[k]->ext_port) >= n->cfg.b.port_lo)
				rc = 0;
	}
	free(all);
	return rc;
}

/* Reads the list `key` of j with fn, naming the bad item in err. */
static int nat_list_read(struct nat *n, const json_t *j, const char *key,
			 int (*fn)(struct nat *, const json_t *, natbed_time_t), natbed_time_t now,
			 char *err, size_t errlen)
{
	const json_t *arr = json_object_get(j, key), *item;
	size_t i;

	if (!json_is_array(arr)) {
		snprintf(err, errlen, "nat %s: the checkpoint has no %s list", n->cfg.name, key);
		return -1;
	}
	json_array_foreach(arr, i, item)
	{
		if (fn(n, item, now) < 0) {
			snprintf(err, errlen, "nat %s: %s[%zu] of the checkpoint is invalid",
				 n->cfg.name, key, i);
			return -1;
		}
	}
	return 0;
}

struct nat *nat_restore_prepare(const struct nat *n, const json_t *j, natbed_time_t now, char *err,
				size_t errlen)
{
	const json_t *rng = json_object_get(j, "rng"), *next = json_object_get(j, "next_port");
	struct nat_cfg c = n->cfg;
	struct nat *fresh;

	c.on_event = NULL; /* what is built aside logs nothing (nat_adopt) */
	if (!json_is_object(j) || nat_fits(n, j, err, errlen) < 0)
		return json_is_object(j)
			   ? NULL
			   : (snprintf(err, errlen, "nat %s: not a checkpoint", n->cfg.name), NULL);
	if (nat_behaviour_read(json_object_get(j, "behaviour"), &c.b) < 0 || !nat_cfg_ok(&c)) {
		snprintf(err, errlen, "nat %s: the checkpoint's behaviour is invalid", n->cfg.name);
		return NULL;
	}
	if (json_array_size(rng) != 4 || json_array_size(next) != NAT_PROTO_COUNT ||
	    !json_is_object(json_object_get(j, "counters"))) {
		snprintf(err, errlen, "nat %s: the checkpoint lacks rng, next_port or counters",
			 n->cfg.name);
		return NULL;
	}
	fresh = nat_new(&c, n->s);
	if (!fresh) {
		snprintf(err, errlen, "nat %s: out of memory", n->cfg.name);
		return NULL;
	}
	if (nat_rng_read(fresh, rng) < 0 || nat_next_port_read(fresh, next) < 0)
		goto bad;
	if (nat_list_read(fresh, j, "subscribers", nat_sub_read, now, err, errlen) < 0 ||
	    nat_list_read(fresh, j, "mappings", nat_map_read, now, err, errlen) < 0 ||
	    nat_list_read(fresh, j, "reservations", nat_resv_read, now, err, errlen) < 0)
		goto fail;
	if (nat_subs_check(fresh) < 0) {
		snprintf(err, errlen, "nat %s: the checkpoint's subscribers and mappings disagree",
			 n->cfg.name);
		goto fail;
	}
	nat_counters_read(fresh, json_object_get(j, "counters"));
	fresh->epoch_start =
	    now - (natbed_time_t)json_integer_value(json_object_get(j, "epoch_age_ns"));
	return fresh;
bad:
	snprintf(err, errlen, "nat %s: the checkpoint's rng or next_port is invalid", n->cfg.name);
fail:
	nat_free(fresh);
	return NULL;
}

int nat_restore(struct nat *n, const json_t *j, natbed_time_t now, char *err, size_t errlen)
{
	struct nat *fresh = nat_restore_prepare(n, j, now, err, errlen);

	if (!fresh)
		return -1;
	nat_adopt(n, fresh);
	return 0;
}

/* --- natbed sim checkpoints: exact, with the scheduler's events ---------------- */

/* A mapping's place in the `all` list, by its address (sorted). */
struct nat_place {
	const struct nat_map *m;
	size_t i;
};

static int nat_place_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct nat_place *)a)->m;
	uintptr_t y = (uintptr_t)((const struct nat_place *)b)->m;

	return x < y ? -1 : x > y;
}

static size_t nat_place_of(const struct nat_place *pl, size_t count, const struct nat_map *m)
{
	struct nat_place k = {m, 0};
	const struct nat_place *f = bsearch(&k, pl, count, sizeof(*pl), nat_place_cmp);

	return f ? f->i : 0;
}

/* Each non-empty chain of buckets[0..bmask] as [bucket, place...], a
 * mapping by its place in the `all` list; next is the chain's link. */
static json_t *nat_chains_json(const struct nat *n, struct nat_map *const *buckets, bool by_ext,
			       const struct nat_place *pl, size_t count)
{
	json_t *arr = json_array();
	size_t b;

	for (b = 0; b <= n->bmask; b++) {
		const struct nat_map *m = buckets[b];
		json_t *ch;

		if (!m)
			continue;
		ch = json_array();
		json_array_append_new(ch, json_integer((json_int_t)b));
		for (; m; m = by_ext ? m->enext : m->hnext)
			json_array_append_new(ch,
					      json_integer((json_int_t)nat_place_of(pl, count, m)));
		json_array_append_new(arr, ch);
	}
	return arr;
}

static json_t *nat_maps_save(const struct nat *n, struct ckw *w, natbed_time_t now,
			     struct nat_place **plp, size_t *countp)
{
	json_t *maps = json_array();
	const struct nat_map *m;
	struct nat_place *pl;
	size_t count = 0, k = 0;

	for (m = n->all; m; m = m->anext)
		count++;
	pl = malloc((count ? count : 1) * sizeof(*pl));
	if (!pl || !maps) {
		free(pl);
		json_decref(maps);
		ckw_fail(w, "nat %s: out of memory", n->cfg.name);
		return NULL;
	}
	for (m = n->all; m; m = m->anext, k++) {
		json_t *jm = nat_map_ckpt(m, now);

		pl[k] = (struct nat_place){m, k};
		json_object_set_new(jm, "id", ckw_obj(w, m));
		json_object_set_new(jm, "armed_in_ns", json_integer((json_int_t)(m->armed - now)));
		json_object_set_new(jm, "ev", ckw_timer(w, m->expiry_ev));
		json_array_append_new(maps, jm);
	}
	qsort(pl, count, sizeof(*pl), nat_place_cmp);
	*plp = pl;
	*countp = count;
	return maps;
}

json_t *nat_ckpt_save(const struct nat *n, struct ckw *w)
{
	natbed_time_t now = sched_now(n->s);
	json_t *subs = json_array(), *resv = json_array(), *frags = json_array(), *maps, *j;
	static const struct nat_frag none;
	const struct nat_resv *rv;
	const struct nat_sub *s;
	struct nat_place *pl = NULL;
	size_t count = 0, b;

	maps = nat_maps_save(n, w, now, &pl, &count);
	if (!maps) {
		json_decref(subs);
		json_decref(resv);
		json_decref(frags);
		return NULL;
	}
	/* bucket by bucket, each chain in its order */
	for (b = 0; b < NAT_SUB_BUCKETS; b++)
		for (s = n->subs[b]; s; s = s->next)
			json_array_append_new(subs, nat_sub_json(s));
	for (b = 0; b < NAT_RESV_BUCKETS; b++)
		for (rv = n->resv[b]; rv; rv = rv->next)
			json_array_append_new(resv, nat_resv_json(rv, now));
	for (b = 0; b < NAT_FRAGS; b++)
		if (memcmp(&n->frags[b], &none, sizeof(none)) != 0)
			json_array_append_new(
			    frags, json_pack("[I,o]", (json_int_t)b,
					     ckw_bytes(w, &n->frags[b], sizeof(n->frags[b]))));
	j = json_pack("{s:o,s:s,s:o,s:I,s:o,s:o,s:o,s:I,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:i}", "id",
		      ckw_obj(w, n), "name", n->cfg.name, "publics", nat_publics_json(n), "at",
		      (json_int_t)now, "behaviour", nat_behaviour_ckpt(&n->cfg.b), "rng",
		      nat_rng_json(n), "next_port", nat_next_port_json(n), "epoch_age_ns",
		      (json_int_t)(now - n->epoch_start), "counters", nat_counters_json(n), "bmask",
		      (json_int_t)n->bmask, "subscribers", subs, "mappings", maps, "hchains",
		      nat_chains_json(n, n->buckets, false, pl, count), "echains",
		      nat_chains_json(n, n->ebuckets, true, pl, count), "reservations", resv,
		      "frags", frags, "frag_next", (int)n->frag_next);
	free(pl);
	if (!j)
		ckw_fail(w, "nat %s: out of memory, or a field the writer refused", n->cfg.name);
	return j;
}

/* A subscriber of the checkpoint, appended to its chain with its blocks
 * (nat_block_take() would count them as allocated again). */
static int nat_sub_fill(struct nat *n, const json_t *js, struct ckr *r, size_t k)
{
	const json_t *blocks = json_object_get(js, "blocks"), *jb;
	json_int_t pub, blk;
	struct nat_sub *sub, **pp;
	uint32_t a;
	size_t i;

	if (nat_addr_read(json_object_get(js, "inside"), &a) < 0 ||
	    (a & n->cfg.inside_mask) != n->cfg.inside_net || nat_sub_find(n, a) ||
	    jsonck_int(json_object_get(js, "public"), 0, (json_int_t)n->cfg.n_public - 1, &pub) <
		0 ||
	    !json_is_array(blocks) || json_array_size(blocks) > NAT_BLOCKS_MAX ||
	    (json_array_size(blocks) && !n->cfg.b.port_block))
		return ckr_fail(r, "nat %s: subscribers[%zu]: invalid, or listed twice",
				n->cfg.name, k);
	if (!(sub = calloc(1, sizeof(*sub))))
		return ckr_fail(r, "nat %s: out of memory", n->cfg.name);
	sub->int_addr = a;
	sub->pub = (unsigned)pub;
	for (pp = &n->subs[nat_sub_bucket(a)]; *pp; pp = &(*pp)->next)
		;
	*pp = sub;
	n->subs_per_pub[sub->pub]++;
	n->c.subscribers_active++;
	json_array_foreach(blocks, i, jb)
	{
		size_t at = (size_t)sub->pub * n->blocks_per_pub;

		if (jsonck_int(jb, 0, (json_int_t)n->blocks_per_pub - 1, &blk) < 0 ||
		    n->block_used[at + (size_t)blk])
			return ckr_fail(r, "nat %s: subscribers[%zu].blocks[%zu]: invalid or taken",
					n->cfg.name, k, i);
		n->block_used[at + (size_t)blk] = 1;
		sub->blocks[sub->n_blocks++] = (uint16_t)blk;
		n->c.blocks_active++;
	}
	return 0;
}

/* A mapping of the checkpoint into *out, not yet in any list or chain:
 * its fields, its subscriber, its id and timer. 0, or -1 (said in r;
 * *out, when not NULL, is the caller's to free). */
static int nat_map_fill(struct nat *n, const json_t *jm, struct ckr *r, natbed_time_t now, size_t k,
			struct nat_map **out)
{
	struct nat_map *m = *out = calloc(1, sizeof(**out));
	json_int_t armed;

	if (!m)
		return ckr_fail(r, "nat %s: out of memory", n->cfg.name);
	m->nat = n;
	if (nat_map_fields_read(n, jm, now, false, m) < 0 ||
	    jsonck_int(json_object_get(jm, "armed_in_ns"), INT64_MIN / 2, INT64_MAX / 2, &armed) <
		0 ||
	    !(m->sub = nat_sub_find(n, m->int_addr)) ||
	    n->cfg.publics[m->sub->pub] != m->ext_addr ||
	    nat_perms_read(m, json_object_get(jm, "perms")) < 0)
		return ckr_fail(r, "nat %s: mappings[%zu]: invalid, or of no subscriber",
				n->cfg.name, k);
	m->armed = now + armed;
	if (ckr_obj(r, json_object_get(jm, "id"), m) < 0 ||
	    ckr_timer(r, json_object_get(jm, "ev"), &m->expiry_ev) < 0)
		return -1;
	return 0;
}

/* The chains `key` of the checkpoint into n's buckets (ebuckets when
 * by_ext), each mapping in exactly one, in the chain its hash says. */
static int nat_chains_fill(struct nat *n, const json_t *j, const char *key, bool by_ext,
			   struct nat_map **ms, size_t count, struct ckr *r)
{
	const json_t *chains = json_object_get(j, key), *ch;
	struct nat_map **buckets = by_ext ? n->ebuckets : n->buckets;
	uint8_t *seen = calloc(count ? count : 1, 1);
	size_t c, i, total = 0;
	json_int_t b, at;
	int rc = 0;

	if (!seen)
		return ckr_fail(r, "nat %s: out of memory", n->cfg.name);
	if (!json_is_array(chains))
		rc = ckr_fail(r, "nat %s: %s: not an array", n->cfg.name, key);
	for (c = 0; rc == 0 && c < json_array_size(chains); c++) {
		struct nat_map **pp, *prev = NULL;

		ch = json_array_get(chains, c);
		if (jsonck_int(json_array_get(ch, 0), 0, (json_int_t)n->bmask, &b) < 0 ||
		    buckets[b] || json_array_size(ch) < 2) {
			rc = ckr_fail(r, "nat %s: %s[%zu]: not a chain of an empty bucket",
				      n->cfg.name, key, c);
			break;
		}
		pp = &buckets[b];
		for (i = 1; i < json_array_size(ch); i++) {
			struct nat_map *m;

			if (jsonck_int(json_array_get(ch, i), 0, (json_int_t)count - 1, &at) < 0 ||
			    seen[at] ||
			    (by_ext ? nat_map_ebucket(n, ms[at]) : nat_map_hbucket(n, ms[at])) !=
				(size_t)b) {
				rc =
				    ckr_fail(r, "nat %s: %s[%zu][%zu]: not a mapping of this chain",
					     n->cfg.name, key, c, i);
				break;
			}
			seen[at] = 1;
			total++;
			m = ms[at];
			*pp = m;
			if (by_ext) {
				m->epprev = prev ? &prev->enext : &buckets[b];
				pp = &m->enext;
			} else {
				m->hpprev = prev ? &prev->hnext : &buckets[b];
				pp = &m->hnext;
			}
			prev = m;
		}
	}
	free(seen);
	if (rc == 0 && total != count)
		rc = ckr_fail(r, "nat %s: %s: %zu of %zu mappings chained", n->cfg.name, key, total,
			      count);
	return rc;
}

/* A reservation of the checkpoint (expired or not), appended to its
 * chain. */
static int nat_resv_fill(struct nat *n, const json_t *jr, struct ckr *r, natbed_time_t now,
			 size_t k)
{
	struct nat_resv t = {0}, *rv, **pp;

	if (n->n_resv >= NAT_RESV_MAX || nat_resv_fields_read(n, jr, now, false, &t) < 0)
		return ckr_fail(r, "nat %s: reservations[%zu]: invalid, or too many", n->cfg.name,
				k);
	if (!(rv = malloc(sizeof(*rv))))
		return ckr_fail(r, "nat %s: out of memory", n->cfg.name);
	*rv = t;
	for (pp = nat_resv_chain(n, t.proto, t.ext_addr, t.ext_port); *pp; pp = &(*pp)->next)
		;
	*pp = rv;
	n->n_resv++;
	return 0;
}

static int nat_frags_fill(struct nat *n, const json_t *j, struct ckr *r)
{
	const json_t *frags = json_object_get(j, "frags"), *f;
	json_int_t slot, next;
	size_t i;

	if (!json_is_array(frags) ||
	    jsonck_int(json_object_get(j, "frag_next"), 0, NAT_FRAGS - 1, &next) < 0)
		return ckr_fail(r, "nat %s: frags or frag_next: invalid", n->cfg.name);
	json_array_foreach(frags, i, f)
	{
		if (jsonck_int(json_array_get(f, 0), 0, NAT_FRAGS - 1, &slot) < 0 ||
		    ckr_bytes(r, json_array_get(f, 1), &n->frags[slot], sizeof(n->frags[slot])) < 0)
			return ckr_fail(r, "nat %s: frags[%zu]: invalid", n->cfg.name, i);
	}
	n->frag_next = (unsigned)next;
	return 0;
}

/* Frees mappings ms[0..count) that a failed fill made (in no list). */
static void nat_maps_drop(struct nat_map **ms, size_t count)
{
	size_t k;

	for (k = 0; k < count; k++) {
		struct nat_perm *pm, *next;

		if (!ms[k])
			continue;
		for (pm = ms[k]->perms; pm; pm = next) {
			next = pm->next;
			free(pm);
		}
		free(ms[k]);
	}
	free(ms);
}

/* The mappings, their chains and the `all` list. */
static int nat_maps_fill(struct nat *n, const json_t *j, struct ckr *r, natbed_time_t now)
{
	const json_t *maps = json_object_get(j, "mappings");
	size_t count = json_array_size(maps), k;
	struct nat_map **ms = calloc(count ? count : 1, sizeof(*ms));
	int rc = 0;

	if (!ms)
		return ckr_fail(r, "nat %s: out of memory", n->cfg.name);
	if (!json_is_array(maps))
		rc = ckr_fail(r, "nat %s: mappings: not an array", n->cfg.name);
	for (k = 0; rc == 0 && k < count; k++) {
		rc = nat_map_fill(n, json_array_get(maps, k), r, now, k, &ms[k]);
	}
	if (rc == 0 && (nat_chains_fill(n, j, "hchains", false, ms, count, r) < 0 ||
			nat_chains_fill(n, j, "echains", true, ms, count, r) < 0))
		rc = -1;
	/* one mapping an outside endpoint: the first of its chain */
	for (k = 0; rc == 0 && k < count; k++)
		if (nat_map_at(n, ms[k]->proto, ms[k]->ext_addr, ms[k]->ext_port) != ms[k])
			rc = ckr_fail(r, "nat %s: mappings[%zu]: its outside endpoint is taken",
				      n->cfg.name, k);
	if (rc < 0) {
		memset(n->buckets, 0, (n->bmask + 1) * sizeof(*n->buckets));
		memset(n->ebuckets, 0, (n->bmask + 1) * sizeof(*n->ebuckets));
		nat_maps_drop(ms, count);
		return -1;
	}
	for (k = 0; k < count; k++) {
		struct nat_map *m = ms[k];

		m->aprev = k ? ms[k - 1] : NULL;
		m->anext = k + 1 < count ? ms[k + 1] : NULL;
		m->sub->n_maps++;
		n->in_use[m->proto]++;
		n->c.mappings_active++;
	}
	n->all = count ? ms[0] : NULL;
	free(ms);
	return 0;
}

/* What the engine counts by itself must be what the checkpoint says. */
static int nat_derived_check(const struct nat *n, const json_t *counters, struct ckr *r)
{
	static const char *const keys[] = {"mappings_active", "subscribers_active",
					   "port_blocks_active"};
	const uint64_t vals[] = {n->c.mappings_active, n->c.subscribers_active, n->c.blocks_active};
	const struct nat_sub *s;
	json_int_t v;
	size_t i;

	for (i = 0; i < 3; i++)
		if (jsonck_int(json_object_get(counters, keys[i]), 0, INT64_MAX, &v) < 0 ||
		    (uint64_t)v != vals[i])
			return ckr_fail(r, "nat %s: counters.%s: not what the state holds",
					n->cfg.name, keys[i]);
	for (i = 0; i < NAT_SUB_BUCKETS; i++)
		for (s = n->subs[i]; s; s = s->next)
			if (s->n_maps == 0)
				return ckr_fail(r, "nat %s: a subscriber without mappings",
						n->cfg.name);
	return 0;
}

int nat_ckpt_fill(struct nat *n, const json_t *j, struct ckr *r)
{
	natbed_time_t now = sched_now(n->s);
	const json_t *subs = json_object_get(j, "subscribers"),
		     *resv = json_object_get(j, "reservations");
	const json_t *counters = json_object_get(j, "counters");
	struct nat_cfg c = n->cfg;
	json_int_t at, age, bmask;
	char err[192];
	size_t k;

	if (!json_is_object(j))
		return ckr_fail(r, "nat %s: not an object", n->cfg.name);
	if (nat_fits(n, j, err, sizeof(err)) < 0)
		return ckr_fail(r, "%s", err);
	if (n->all || n->n_resv || n->c.subscribers_active)
		return ckr_fail(r, "nat %s: filled when it holds state already", n->cfg.name);
	if (ckr_obj(r, json_object_get(j, "id"), n) < 0)
		return -1;
	if (jsonck_int(json_object_get(j, "at"), INT64_MIN, INT64_MAX, &at) < 0 || at != now)
		return ckr_fail(r, "nat %s: at: not the scheduler's time", n->cfg.name);
	if (nat_behaviour_read(json_object_get(j, "behaviour"), &c.b) < 0 || !nat_cfg_ok(&c) ||
	    nat_reshape(n, &c) < 0)
		return ckr_fail(r, "nat %s: behaviour: invalid", n->cfg.name);
	if (nat_rng_read(n, json_object_get(j, "rng")) < 0 ||
	    nat_next_port_read(n, json_object_get(j, "next_port")) < 0 ||
	    jsonck_int(json_object_get(j, "epoch_age_ns"), 0, INT64_MAX, &age) < 0 ||
	    !json_is_object(counters))
		return ckr_fail(r, "nat %s: rng, next_port, epoch_age_ns or counters: invalid",
				n->cfg.name);
	n->epoch_start = now - age;
	nat_counters_read(n, counters);
	if (jsonck_int(json_object_get(j, "bmask"), NAT_BUCKETS_MIN - 1, NAT_BUCKETS_MAX - 1,
		       &bmask) < 0 ||
	    (bmask & (bmask + 1)) != 0)
		return ckr_fail(r, "nat %s: bmask: invalid", n->cfg.name);
	if ((size_t)bmask != n->bmask && nat_buckets_make(n, (size_t)bmask + 1) < 0)
		return ckr_fail(r, "nat %s: out of memory", n->cfg.name);
	if (!json_is_array(subs) || !json_is_array(resv))
		return ckr_fail(r, "nat %s: subscribers or reservations: not an array",
				n->cfg.name);
	for (k = 0; k < json_array_size(subs); k++)
		if (nat_sub_fill(n, json_array_get(subs, k), r, k) < 0)
			return -1;
	if (nat_maps_fill(n, j, r, now) < 0)
		return -1;
	for (k = 0; k < json_array_size(resv); k++)
		if (nat_resv_fill(n, json_array_get(resv, k), r, now, k) < 0)
			return -1;
	if (nat_frags_fill(n, j, r) < 0)
		return -1;
	return nat_derived_check(n, counters, r);
}
