/* NAT control, inspection and checkpoints: what `natbed ctl nat NAME ...`
 * shows and changes, and the NAT's part of a checkpoint. The engine
 * (nat.c) decides; this file serialises. */
#include "nat_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	nat_endpoint(out, sizeof(out), n->cfg.public_addr, m->ext_port);
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

int nat_set(struct nat *n, const char *key, const char *value, char *err, size_t errlen)
{
	struct nat_cfg c = n->cfg;
	int p;

	if (topo_nat_behaviour_set(&c.b, key, value, err, errlen) < 0)
		return -1;
	if (!nat_cfg_ok(&c)) {
		snprintf(err, errlen, "%s: '%s' does not fit the NAT's other settings", key, value);
		return -1;
	}
	/* A changed mapping behaviour changes the key shape: start clean. */
	if (c.b.mapping != n->cfg.b.mapping)
		nat_flush(n);
	if (c.b.port_lo != n->cfg.b.port_lo || c.b.port_hi != n->cfg.b.port_hi)
		for (p = 0; p < NAT_PROTO_COUNT; p++)
			n->next_port[p] = c.b.port_lo;
	n->cfg = c;
	return 0;
}

/* --- checkpoint / restore ------------------------------------------------- */

static json_t *nat_map_ckpt(const struct nat_map *m, natbed_time_t now)
{
	json_t *perms = json_array();
	const struct nat_perm *pm;

	for (pm = m->perms; pm; pm = pm->next)
		json_array_append_new(perms,
				      json_pack("[I,i,i,i]", (json_int_t)ntohl(pm->addr),
						ntohs(pm->port), pm->tcp.state, pm->tcp.heard));
	return json_pack("{s:i,s:I,s:i,s:I,s:i,s:i,s:I,s:I,s:I,s:o}", "proto", m->proto, "int_addr",
			 (json_int_t)ntohl(m->int_addr), "int_port", ntohs(m->int_port), "key_addr",
			 (json_int_t)ntohl(m->key_addr), "key_port", ntohs(m->key_port), "ext_port",
			 ntohs(m->ext_port), "expires_in_ns", (json_int_t)(m->expires - now),
			 "pkts_out", (json_int_t)m->pkts_out, "pkts_in", (json_int_t)m->pkts_in,
			 "perms", perms);
}

json_t *nat_counters_json(const struct nat *n)
{
	json_t *drops = json_object();
	int i;

	for (i = NAT_PASS + 1; i < NAT_VERDICT_COUNT; i++)
		if (nat_verdict_is_drop((enum nat_verdict)i))
			json_object_set_new(drops, nat_verdict_name((enum nat_verdict)i),
					    json_integer((json_int_t)n->c.drops[i]));
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "out_pkts",
			 (json_int_t)n->c.out_pkts, "in_pkts", (json_int_t)n->c.in_pkts,
			 "mappings_active", (json_int_t)n->c.mappings_active, "mappings_created",
			 (json_int_t)n->c.mappings_created, "mappings_expired",
			 (json_int_t)n->c.mappings_expired, "hairpinned",
			 (json_int_t)n->c.hairpinned, "icmp_errors", (json_int_t)n->c.icmp_errors,
			 "fragments_held", (json_int_t)n->c.frags_held, "drops", drops);
}

json_t *nat_checkpoint(const struct nat *n, natbed_time_t now)
{
	json_t *maps = json_array(), *rng = json_array(), *next = json_array();
	size_t count, k;
	struct nat_map **all = nat_maps_sorted(n, &count);
	int p, i;

	for (p = 0; p < NAT_PROTO_COUNT; p++)
		json_array_append_new(next, json_integer(n->next_port[p]));
	for (k = 0; k < count; k++)
		json_array_append_new(maps, nat_map_ckpt(all[k], now));
	free(all);
	/* 64-bit state words as strings: JSON integers are signed */
	for (i = 0; i < 4; i++) {
		char w[24];

		snprintf(w, sizeof(w), "%llu", (unsigned long long)n->rng.s[i]);
		json_array_append_new(rng, json_string(w));
	}
	/* mappings_active is read back from the mappings themselves */
	return json_pack("{s:s,s:o,s:o,s:o,s:o}", "name", n->cfg.name, "rng", rng, "next_port",
			 next, "counters", nat_counters_json(n), "mappings", maps);
}

static int nat_restore_map(struct nat *n, const json_t *jm, natbed_time_t now)
{
	json_int_t proto = -1, ia = 0, ka = 0, exp = 0, po = 0, pi = 0;
	int ip = 0, kp = 0, ep = 0;
	struct nat_map *m;
	json_t *perms = NULL, *jp;
	size_t i;

	if (json_unpack((json_t *)jm, "{s:I,s:I,s:i,s:I,s:i,s:i,s:I,s:I,s:I,s:o}", "proto", &proto,
			"int_addr", &ia, "int_port", &ip, "key_addr", &ka, "key_port", &kp,
			"ext_port", &ep, "expires_in_ns", &exp, "pkts_out", &po, "pkts_in", &pi,
			"perms", &perms) < 0 ||
	    proto < 0 || proto >= NAT_PROTO_COUNT || ep < 0 || ep >= NAT_PORTS || exp < 0)
		return -1;
	m = nat_map_add(n, (enum nat_proto)proto, htonl((uint32_t)ia), htons((uint16_t)ip),
			htonl((uint32_t)ka), htons((uint16_t)kp), (uint16_t)ep, now + exp);
	if (!m)
		return -1;
	m->pkts_out = (uint64_t)po;
	m->pkts_in = (uint64_t)pi;
	/* nat_perm_add() prepends: add from the last to keep the order */
	for (i = json_array_size(perms); i-- > 0;) {
		struct nat_perm *pm;

		jp = json_array_get(perms, i);
		pm = nat_perm_add(m, htonl((uint32_t)json_integer_value(json_array_get(jp, 0))),
				  htons((uint16_t)json_integer_value(json_array_get(jp, 1))));
		if (pm) {
			pm->tcp.state = (uint8_t)json_integer_value(json_array_get(jp, 2));
			pm->tcp.heard = (uint8_t)json_integer_value(json_array_get(jp, 3));
		}
	}
	return 0;
}

int nat_restore(struct nat *n, const json_t *j, natbed_time_t now, char *err, size_t errlen)
{
	json_t *maps = json_object_get(j, "mappings"), *rng = json_object_get(j, "rng");
	json_t *next = json_object_get(j, "next_port"), *c = json_object_get(j, "counters"), *jm;
	size_t i;
	int p;

	if (!json_is_array(maps) || json_array_size(rng) != 4 ||
	    json_array_size(next) != NAT_PROTO_COUNT || !json_is_object(c)) {
		snprintf(err, errlen,
			 "nat %s: checkpoint is missing mappings, rng, next_port or counters",
			 n->cfg.name);
		return -1;
	}
	nat_flush(n);
	for (i = 0; i < 4; i++)
		n->rng.s[i] = strtoull(json_string_value(json_array_get(rng, i)) ?: "0", NULL, 10);
	for (p = 0; p < NAT_PROTO_COUNT; p++)
		n->next_port[p] = (uint32_t)json_integer_value(json_array_get(next, (size_t)p));
	n->c.out_pkts = (uint64_t)json_integer_value(json_object_get(c, "out_pkts"));
	n->c.in_pkts = (uint64_t)json_integer_value(json_object_get(c, "in_pkts"));
	n->c.mappings_created =
	    (uint64_t)json_integer_value(json_object_get(c, "mappings_created"));
	n->c.mappings_expired =
	    (uint64_t)json_integer_value(json_object_get(c, "mappings_expired"));
	n->c.hairpinned = (uint64_t)json_integer_value(json_object_get(c, "hairpinned"));
	n->c.icmp_errors = (uint64_t)json_integer_value(json_object_get(c, "icmp_errors"));
	n->c.frags_held = (uint64_t)json_integer_value(json_object_get(c, "fragments_held"));
	/* drops by verdict name; absent in older checkpoints: zero */
	for (p = NAT_PASS + 1; p < NAT_VERDICT_COUNT; p++)
		if (nat_verdict_is_drop((enum nat_verdict)p))
			n->c.drops[p] = (uint64_t)json_integer_value(json_object_get(
			    json_object_get(c, "drops"), nat_verdict_name((enum nat_verdict)p)));
	json_array_foreach(maps, i, jm)
	{
		if (nat_restore_map(n, jm, now) < 0) {
			snprintf(err, errlen, "nat %s: mapping %zu of the checkpoint is invalid",
				 n->cfg.name, i);
			return -1;
		}
	}
	return 0;
}
