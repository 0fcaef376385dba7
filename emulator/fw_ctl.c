/* Firewall statistics and checkpoints: what `natbed ctl firewall NAME`
 * shows, and the firewall's part of a checkpoint. The engine
 * (firewall.c) decides; this file serialises. */
#include "fw_int.h"

#include "natbed/swap.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/ckpt.h"
#include "natbed/jsonck.h"

#define FW_TIME_MAX (((json_int_t)1) << 62) /* how long ago an expired thing may have ended */

/* --- statistics ---------------------------------------------------------- */

static json_t *fw_count_json(const struct fw_count *c)
{
	return json_pack("{s:I,s:I}", "packets", (json_int_t)c->packets, "bytes",
			 (json_int_t)c->bytes);
}

/* "A.B.C.D" for a /32, "A.B.C.D/LEN" otherwise. */
static json_t *fw_net_json(const struct topo_fw_net *n)
{
	char a[INET_ADDRSTRLEN], s[INET_ADDRSTRLEN + 4];

	if (!inet_ntop(AF_INET, &n->addr, a, sizeof(a)))
		return NULL;
	if (n->len == 32)
		return json_string(a);
	snprintf(s, sizeof(s), "%s/%u", a, n->len);
	return json_string(s);
}

static json_t *fw_ports_json(const struct topo_fw_ports *p)
{
	char s[16];

	if (p->lo == p->hi)
		snprintf(s, sizeof(s), "%u", p->lo);
	else
		snprintf(s, sizeof(s), "%u-%u", p->lo, p->hi);
	return json_string(s);
}

/* What rule r matches and does: {dir, proto, action, from?, to?, port?,
 * sport?}. */
static json_t *fw_rule_spec_json(const struct topo_fw_rule *r)
{
	json_t *j =
	    json_pack("{s:s,s:s,s:s}", "dir", topo_fw_dir_name(r->dir), "proto",
		      topo_fw_proto_name(r->proto), "action", topo_fw_action_name(r->action));

	if (!j)
		return NULL;
	if (r->set & TOPO_FW_FROM)
		json_object_set_new(j, "from", fw_net_json(&r->from));
	if (r->set & TOPO_FW_TO)
		json_object_set_new(j, "to", fw_net_json(&r->to));
	if (r->set & TOPO_FW_PORT)
		json_object_set_new(j, "port", fw_ports_json(&r->port));
	if (r->set & TOPO_FW_SPORT)
		json_object_set_new(j, "sport", fw_ports_json(&r->sport));
	return j;
}

static json_t *fw_rule_json(const struct topo_fw_rule *r, size_t i, const struct fw_count *c)
{
	json_t *j = fw_rule_spec_json(r);

	if (!j)
		return NULL;
	json_object_set_new(j, "index", json_integer((json_int_t)i));
	json_object_set_new(j, "line", json_integer(r->line));
	json_object_set_new(j, "packets", json_integer((json_int_t)c->packets));
	json_object_set_new(j, "bytes", json_integer((json_int_t)c->bytes));
	return j;
}

json_t *fw_stats_json(const struct fw *fw)
{
	const struct fw_counters *c = &fw->c;
	json_t *rules = json_array(), *policy = fw_count_json(&c->policy), *j;
	size_t i;

	if (policy)
		json_object_set_new(policy, "action",
				    json_string(topo_fw_action_name(fw->cfg.policy)));
	for (i = 0; rules && i < fw->cfg.n_rules; i++)
		json_array_append_new(rules, fw_rule_json(&fw->cfg.rules[i], i, &c->rules[i]));
	j = json_pack("{s:b,s:o*,s:o*,s:o*,s:{s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I}}", "stateful",
		      fw->cfg.stateful, "default", policy, "established",
		      fw_count_json(&c->established), "rules", rules, "flows", "active",
		      (json_int_t)c->flows_active, "created", (json_int_t)c->flows_created,
		      "expired", (json_int_t)c->flows_expired, "untracked",
		      (json_int_t)c->flows_untracked, "verdicts", "accept",
		      (json_int_t)c->verdicts[FW_ACCEPT], "drop", (json_int_t)c->verdicts[FW_DROP],
		      "reject", (json_int_t)c->verdicts[FW_REJECT]);
	return j;
}

/* --- checkpoint ---------------------------------------------------------- */

/* What a restore must find in the running firewall: {stateful, default,
 * rules:[spec...]}. Topology lines are left out: a comment added to the
 * file changes no rule. */
static json_t *fw_cfg_json(const struct topo_fw *cfg)
{
	json_t *rules = json_array();
	size_t i;

	for (i = 0; i < cfg->n_rules; i++)
		json_array_append_new(rules, fw_rule_spec_json(&cfg->rules[i]));
	return json_pack("{s:b,s:s,s:o}", "stateful", cfg->stateful, "default",
			 topo_fw_action_name(cfg->policy), "rules", rules);
}

static json_t *fw_pair_json(const struct fw_count *c)
{
	return json_pack("[I,I]", (json_int_t)c->packets, (json_int_t)c->bytes);
}

static json_t *fw_counters_ckpt(const struct fw *fw)
{
	const struct fw_counters *c = &fw->c;
	json_t *rules = json_array();
	size_t i;

	for (i = 0; i < fw->cfg.n_rules; i++)
		json_array_append_new(rules, fw_pair_json(&c->rules[i]));
	return json_pack("{s:o,s:o,s:o,s:[I,I,I],s:I,s:I,s:I}", "rules", rules, "policy",
			 fw_pair_json(&c->policy), "established", fw_pair_json(&c->established),
			 "verdicts", (json_int_t)c->verdicts[FW_ACCEPT],
			 (json_int_t)c->verdicts[FW_DROP], (json_int_t)c->verdicts[FW_REJECT],
			 "flows_created", (json_int_t)c->flows_created, "flows_expired",
			 (json_int_t)c->flows_expired, "flows_untracked",
			 (json_int_t)c->flows_untracked);
}

static json_t *fw_flow_ckpt(const struct fw_flow *f, natbed_time_t now)
{
	return json_pack("{s:i,s:o,s:i,s:o,s:i,s:b,s:s,s:b,s:[i,i],s:I}", "proto", f->t.proto,
			 "src", jsonck_ipv4(f->t.src), "sport", ntohs(f->t.sport), "dst",
			 jsonck_ipv4(f->t.dst), "dport", ntohs(f->t.dport), "ports", f->t.ports,
			 "dir", f->dir == FW_DIR_IN ? "in" : "out", "replied", f->replied, "tcp",
			 f->tcp.state, f->tcp.heard, "expires_in_ns",
			 (json_int_t)(f->expires - now));
}

static json_t *fw_frag_ckpt(const struct fw_frag *fr, unsigned slot, natbed_time_t now)
{
	return json_pack("{s:i,s:o,s:o,s:i,s:i,s:s,s:i,s:I}", "slot", (int)slot, "src",
			 jsonck_ipv4(fr->src), "dst", jsonck_ipv4(fr->dst), "id", ntohs(fr->id),
			 "proto", fr->proto, "verdict",
			 fw_verdict_name((enum fw_verdict)fr->verdict), "rule", fr->rule,
			 "expires_in_ns", (json_int_t)(fr->expires - now));
}

json_t *fw_checkpoint(const struct fw *fw, natbed_time_t now)
{
	json_t *flows = json_array(), *frags = json_array();
	const struct fw_flow *f;
	unsigned i;

	/* chain by chain, each in its order: a restore rebuilds the chains */
	for (i = 0; i < FW_BUCKETS; i++)
		for (f = fw->buckets[i]; f; f = f->hnext)
			if (f->expires > now) /* an expired one goes at its next lookup */
				json_array_append_new(flows, fw_flow_ckpt(f, now));
	for (i = 0; i < FW_FRAGS; i++)
		if (fw->frags[i].expires > now)
			json_array_append_new(frags, fw_frag_ckpt(&fw->frags[i], i, now));
	return json_pack("{s:o,s:o,s:o,s:o,s:i}", "config", fw_cfg_json(&fw->cfg), "counters",
			 fw_counters_ckpt(fw), "flows", flows, "frags", frags, "frag_next",
			 (int)fw->frag_next);
}

/* --- restore: built aside, checked whole, then adopted ------------------- */

/* The checkpoint's rules, policy and statefulness must be fw's. */
static int fw_fits(const struct fw *fw, const json_t *j, char *err, size_t errlen)
{
	const json_t *cfg = json_object_get(j, "config"), *rules = json_object_get(cfg, "rules");
	json_t *mine = fw_cfg_json(&fw->cfg);
	const json_t *my_rules = json_object_get(mine, "rules");
	size_t i;
	int rc = -1;

	if (!json_is_object(cfg) || !json_is_array(rules))
		snprintf(err, errlen, "config: missing");
	else if (!json_equal(json_object_get(cfg, "stateful"), json_object_get(mine, "stateful")))
		snprintf(err, errlen, "config.stateful: differs from this firewall's");
	else if (!json_equal(json_object_get(cfg, "default"), json_object_get(mine, "default")))
		snprintf(err, errlen, "config.default: '%s', this firewall's is '%s'",
			 json_string_value(json_object_get(cfg, "default")) ?: "?",
			 topo_fw_action_name(fw->cfg.policy));
	else if (json_array_size(rules) != json_array_size(my_rules))
		snprintf(err, errlen, "config.rules: %zu rules, this firewall has %zu",
			 json_array_size(rules), json_array_size(my_rules));
	else
		rc = 0;
	for (i = 0; rc == 0 && i < json_array_size(rules); i++)
		if (!json_equal(json_array_get(rules, i), json_array_get(my_rules, i))) {
			snprintf(err, errlen,
				 "config.rules[%zu]: differs from this firewall's rule %zu "
				 "(topology line %d)",
				 i, i, fw->cfg.rules[i].line);
			rc = -1;
		}
	json_decref(mine);
	return rc;
}

static int fw_pair_read(const json_t *j, struct fw_count *c)
{
	json_int_t p, b;

	if (json_array_size(j) != 2 || jsonck_int(json_array_get(j, 0), 0, INT64_MAX, &p) < 0 ||
	    jsonck_int(json_array_get(j, 1), 0, INT64_MAX, &b) < 0)
		return -1;
	c->packets = (uint64_t)p;
	c->bytes = (uint64_t)b;
	return 0;
}

static int fw_counters_read(struct fw *fw, const json_t *j)
{
	const json_t *rules = json_object_get(j, "rules"), *v = json_object_get(j, "verdicts");
	struct fw_counters *c = &fw->c;
	const char *const keys[] = {"flows_created", "flows_expired", "flows_untracked"};
	uint64_t *fields[] = {&c->flows_created, &c->flows_expired, &c->flows_untracked};
	json_int_t n;
	size_t i;

	if (json_array_size(rules) != fw->cfg.n_rules || json_array_size(v) != FW_VERDICT_COUNT ||
	    fw_pair_read(json_object_get(j, "policy"), &c->policy) < 0 ||
	    fw_pair_read(json_object_get(j, "established"), &c->established) < 0)
		return -1;
	for (i = 0; i < fw->cfg.n_rules; i++)
		if (fw_pair_read(json_array_get(rules, i), &c->rules[i]) < 0)
			return -1;
	for (i = 0; i < FW_VERDICT_COUNT; i++) {
		if (jsonck_int(json_array_get(v, i), 0, INT64_MAX, &n) < 0)
			return -1;
		c->verdicts[i] = (uint64_t)n;
	}
	for (i = 0; i < 3; i++) {
		if (jsonck_int(json_object_get(j, keys[i]), 0, INT64_MAX, &n) < 0)
			return -1;
		*fields[i] = (uint64_t)n;
	}
	return 0;
}

/* A flow's fields from j into f, its expiry relative to now; live: it
 * must not have expired yet. 0 or -1. */
static int fw_flow_fields_read(const json_t *j, natbed_time_t now, bool live, struct fw_flow *f)
{
	const json_t *tcp = json_object_get(j, "tcp");
	const char *dir = json_string_value(json_object_get(j, "dir"));
	json_int_t proto, sport, dport, state, heard, exp;
	struct fw_tuple t = {0};

	if (jsonck_int(json_object_get(j, "proto"), 0, 255, &proto) < 0 ||
	    jsonck_ipv4_read(json_object_get(j, "src"), &t.src) < 0 ||
	    jsonck_ipv4_read(json_object_get(j, "dst"), &t.dst) < 0 ||
	    jsonck_int(json_object_get(j, "sport"), 0, 65535, &sport) < 0 ||
	    jsonck_int(json_object_get(j, "dport"), 0, 65535, &dport) < 0 ||
	    !json_is_boolean(json_object_get(j, "ports")) ||
	    !json_is_boolean(json_object_get(j, "replied")) || !dir ||
	    (strcmp(dir, "in") != 0 && strcmp(dir, "out") != 0) || json_array_size(tcp) != 2 ||
	    jsonck_int(json_array_get(tcp, 0), TCPST_NONE, TCPST_CLOSING, &state) < 0 ||
	    jsonck_int(json_array_get(tcp, 1), 0, TCPST_A | TCPST_B, &heard) < 0 ||
	    /* no flow lives longer than an established TCP connection */
	    jsonck_int(json_object_get(j, "expires_in_ns"), live ? 1 : -FW_TIME_MAX,
		       FW_TCP_ESTABLISHED_NS, &exp) < 0)
		return -1;
	t.proto = (uint8_t)proto;
	t.sport = htons((uint16_t)sport);
	t.dport = htons((uint16_t)dport);
	t.ports = json_is_true(json_object_get(j, "ports"));
	if (t.ports && t.proto != IPPROTO_UDP_ && t.proto != IPPROTO_TCP_)
		return -1;
	f->t = t;
	f->dir = strcmp(dir, "in") == 0 ? FW_DIR_IN : FW_DIR_OUT;
	f->replied = json_is_true(json_object_get(j, "replied"));
	f->tcp.state = (uint8_t)state;
	f->tcp.heard = (uint8_t)heard;
	f->expires = now + exp;
	return 0;
}

/* One flow into fw, expiring relative to now. 0 or -1. */
static int fw_flow_read(struct fw *fw, const json_t *j, natbed_time_t now)
{
	struct fw_flow t = {0}, *f;
	bool reply;

	if (fw_flow_fields_read(j, now, true, &t) < 0 || fw->c.flows_active >= FW_FLOWS_MAX ||
	    fw_flow_find(fw, &t.t, now, &reply) || !(f = calloc(1, sizeof(*f))))
		return -1;
	*f = t;
	if (fw_flow_insert(fw, f) < 0) {
		free(f);
		return -1;
	}
	return 0;
}

static int fw_verdict_read(const json_t *j, uint8_t *out)
{
	const char *s = json_string_value(j);
	int v;

	for (v = 0; s && v < FW_VERDICT_COUNT; v++)
		if (strcmp(s, fw_verdict_name((enum fw_verdict)v)) == 0) {
			*out = (uint8_t)v;
			return 0;
		}
	return -1;
}

/* One fragment record into its slot (a free one when live: it must not
 * have expired yet). 0 or -1. */
static int fw_frag_fields_read(struct fw *fw, const json_t *j, natbed_time_t now, bool live)
{
	json_int_t slot, id, proto, rule, exp;
	struct fw_frag fr = {0};

	if (jsonck_int(json_object_get(j, "slot"), 0, FW_FRAGS - 1, &slot) < 0 ||
	    (live && fw->frags[slot].expires > now) ||
	    jsonck_ipv4_read(json_object_get(j, "src"), &fr.src) < 0 ||
	    jsonck_ipv4_read(json_object_get(j, "dst"), &fr.dst) < 0 ||
	    jsonck_int(json_object_get(j, "id"), 0, 65535, &id) < 0 ||
	    jsonck_int(json_object_get(j, "proto"), 0, 255, &proto) < 0 ||
	    fw_verdict_read(json_object_get(j, "verdict"), &fr.verdict) < 0 ||
	    jsonck_int(json_object_get(j, "rule"), FW_RULE_ESTABLISHED,
		       (json_int_t)fw->cfg.n_rules - 1, &rule) < 0 ||
	    jsonck_int(json_object_get(j, "expires_in_ns"), live ? 1 : -FW_TIME_MAX,
		       FW_FRAG_TIMEOUT_NS, &exp) < 0)
		return -1;
	fr.id = htons((uint16_t)id);
	fr.proto = (uint8_t)proto;
	fr.rule = (int)rule;
	fr.expires = now + exp;
	fw->frags[slot] = fr;
	return 0;
}

static int fw_frag_read(struct fw *fw, const json_t *j, natbed_time_t now)
{
	return fw_frag_fields_read(fw, j, now, true);
}

struct fw *fw_restore_prepare(const struct fw *fw, const json_t *j, natbed_time_t now, char *err,
			      size_t errlen)
{
	const json_t *flows = json_object_get(j, "flows"), *frags = json_object_get(j, "frags");
	json_int_t next;
	struct fw *fresh;
	size_t i;

	if (!json_is_object(j)) {
		snprintf(err, errlen, "not a firewall's checkpoint");
		return NULL;
	}
	if (fw_fits(fw, j, err, errlen) < 0)
		return NULL;
	if (!json_is_array(flows) || !json_is_array(frags) ||
	    jsonck_int(json_object_get(j, "frag_next"), 0, FW_FRAGS - 1, &next) < 0) {
		snprintf(err, errlen, "flows, frags or frag_next: missing or invalid");
		return NULL;
	}
	if (json_array_size(flows) > FW_FLOWS_MAX) {
		snprintf(err, errlen, "flows: more than %d", FW_FLOWS_MAX);
		return NULL;
	}
	fresh = fw_new(&fw->cfg, fw->s);
	if (!fresh) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* each chain in its order: the last read goes first */
	for (i = json_array_size(flows); i-- > 0;)
		if (fw_flow_read(fresh, json_array_get(flows, i), now) < 0) {
			snprintf(err, errlen, "flows[%zu]: invalid, or a flow listed twice", i);
			goto fail;
		}
	for (i = 0; i < json_array_size(frags); i++)
		if (fw_frag_read(fresh, json_array_get(frags, i), now) < 0) {
			snprintf(err, errlen, "frags[%zu]: invalid, or a slot listed twice", i);
			goto fail;
		}
	fresh->frag_next = (unsigned)next;
	if (fw_counters_read(fresh, json_object_get(j, "counters")) < 0) {
		snprintf(err, errlen, "counters: missing or invalid");
		goto fail;
	}
	return fresh;
fail:
	fw_free(fresh);
	return NULL;
}

/* Points every flow of fw back at fw (after its state moved). */
static void fw_repoint(struct fw *fw)
{
	struct fw_flow *f;
	size_t b;

	for (b = 0; b < FW_BUCKETS; b++)
		for (f = fw->buckets[b]; f; f = f->hnext)
			f->fw = fw;
}

void fw_adopt(struct fw *fw, struct fw *fresh)
{
	/* swap the two states in place, then free the old */
	natbed_swap(fw, fresh, sizeof(*fw));
	fw_repoint(fw);
	fw_repoint(fresh);
	fw_free(fresh);
}

/* --- natbed sim checkpoints: exact, with the scheduler's events ---------- */

json_t *fw_ckpt_save(const struct fw *fw, struct ckw *w)
{
	natbed_time_t now;
	json_t *flows = json_array(), *frags = json_array(), *j;
	static const struct fw_frag none;
	const struct fw_flow *f;
	unsigned i;

	if (!fw->s) {
		json_decref(flows);
		json_decref(frags);
		ckw_fail(w, "firewall: no scheduler, no time to save at");
		return NULL;
	}
	now = sched_now(fw->s);
	/* chain by chain, each in its order, the expired ones not yet freed
	 * too (they count as active until a lookup meets them) */
	for (i = 0; i < FW_BUCKETS; i++)
		for (f = fw->buckets[i]; f; f = f->hnext) {
			json_t *jf = fw_flow_ckpt(f, now);

			json_object_set_new(jf, "id", ckw_obj(w, f));
			json_object_set_new(jf, "ev", ckw_timer(w, f->expiry_ev));
			json_array_append_new(flows, jf);
		}
	for (i = 0; i < FW_FRAGS; i++)
		if (memcmp(&fw->frags[i], &none, sizeof(none)) != 0)
			json_array_append_new(frags, fw_frag_ckpt(&fw->frags[i], i, now));
	j = json_pack("{s:o,s:I,s:o,s:o,s:I,s:i,s:o,s:o,s:i}", "id", ckw_obj(w, fw), "at",
		      (json_int_t)now, "config", fw_cfg_json(&fw->cfg), "counters",
		      fw_counters_ckpt(fw), "flows_active", (json_int_t)fw->c.flows_active, "last",
		      fw->last, "flows", flows, "frags", frags, "frag_next", (int)fw->frag_next);
	if (!j)
		ckw_fail(w, "firewall: out of memory, or a field the writer refused");
	return j;
}

/* One flow of the checkpoint, at the tail of its chain. */
static int fw_flow_fill(struct fw *fw, const json_t *j, struct ckr *r, natbed_time_t now, size_t k)
{
	struct fw_flow *f = calloc(1, sizeof(*f)), **pp;

	if (!f)
		return ckr_fail(r, "firewall: out of memory");
	if (fw_flow_fields_read(j, now, false, f) < 0 || fw->c.flows_active >= FW_FLOWS_MAX) {
		free(f);
		return ckr_fail(r, "firewall: flows[%zu]: invalid, or too many", k);
	}
	f->fw = fw;
	for (pp = &fw->buckets[fw_hash(&f->t)]; *pp; pp = &(*pp)->hnext)
		;
	*pp = f;
	fw->c.flows_active++;
	if (ckr_obj(r, json_object_get(j, "id"), f) < 0 ||
	    ckr_timer(r, json_object_get(j, "ev"), &f->expiry_ev) < 0)
		return -1;
	return 0;
}

int fw_ckpt_fill(struct fw *fw, const json_t *j, struct ckr *r)
{
	const json_t *flows = json_object_get(j, "flows"), *frags = json_object_get(j, "frags");
	json_int_t at, next, last, active;
	natbed_time_t now;
	char err[192];
	size_t i;

	if (!fw->s)
		return ckr_fail(r, "firewall: no scheduler");
	now = sched_now(fw->s);
	if (!json_is_object(j))
		return ckr_fail(r, "firewall: not an object");
	if (fw_fits(fw, j, err, sizeof(err)) < 0)
		return ckr_fail(r, "firewall: %s", err);
	if (fw->c.flows_active)
		return ckr_fail(r, "firewall: filled when it holds flows already");
	if (ckr_obj(r, json_object_get(j, "id"), fw) < 0)
		return -1;
	if (jsonck_int(json_object_get(j, "at"), INT64_MIN, INT64_MAX, &at) < 0 || at != now)
		return ckr_fail(r, "firewall: at: not the scheduler's time");
	if (!json_is_array(flows) || !json_is_array(frags) ||
	    jsonck_int(json_object_get(j, "frag_next"), 0, FW_FRAGS - 1, &next) < 0 ||
	    jsonck_int(json_object_get(j, "last"), FW_RULE_ESTABLISHED,
		       (json_int_t)fw->cfg.n_rules - 1, &last) < 0 ||
	    jsonck_int(json_object_get(j, "flows_active"), 0, FW_FLOWS_MAX, &active) < 0 ||
	    (size_t)active != json_array_size(flows))
		return ckr_fail(r,
				"firewall: flows, frags, frag_next, last or flows_active: invalid");
	if (fw_counters_read(fw, json_object_get(j, "counters")) < 0)
		return ckr_fail(r, "firewall: counters: missing or invalid");
	for (i = 0; i < json_array_size(flows); i++)
		if (fw_flow_fill(fw, json_array_get(flows, i), r, now, i) < 0)
			return -1;
	for (i = 0; i < json_array_size(frags); i++)
		if (fw_frag_fields_read(fw, json_array_get(frags, i), now, false) < 0)
			return ckr_fail(r, "firewall: frags[%zu]: invalid", i);
	fw->frag_next = (unsigned)next;
	fw->last = (int)last;
	return 0;
}
