/* Unit tests of gate blocks in topologies (lib/topo_gate.c): the defaults
 * of an almost empty block, every key of a full one, a host's link gate,
 * binding (default addresses, keys, hosts behind the gate, exemptions'
 * hosts), each error, the model keys `natbed ctl gate NAME set` takes, and
 * which addresses a host is seen as. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "natbed/topo.h"

#define MS NATBED_NS_PER_MS
#define S  NATBED_NS_PER_S

static struct topo *load_ok(const char *text)
{
	char err[TOPO_ERR_MAX];
	struct topo *t = NULL;

	if (topo_load_string(text, strlen(text), "t.yaml", "nb-", &t, err, sizeof(err)) < 0)
		fail_msg("load failed: %s", err);
	assert_non_null(t);
	return t;
}

/* Loads text, expects it to fail with exactly the error want. */
static void load_bad(const char *text, const char *want)
{
	char err[TOPO_ERR_MAX];
	struct topo *t = NULL;

	assert_int_equal(
	    topo_load_string(text, strlen(text), "t.yaml", "nb-", &t, err, sizeof(err)), -1);
	assert_null(t);
	if (strcmp(err, want))
		fail_msg("error\n  '%s', want\n  '%s'", err, want);
}

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

#define HOME                                                                                       \
	"nats:\n"                                                                                  \
	"  home:\n"                                                                                \
	"    preset: full-cone\n"                                                                  \
	"    public: 203.0.113.10\n"                                                               \
	"    inside: 192.168.1.0/24\n"

static void test_defaults(void **state)
{
	struct topo *t = load_ok(HOME "    gate: { key: k1 }\n"
				      "hosts:\n"
				      "  alice: { nat: home }\n"
				      "  stun: {}\n");
	const struct topo_gate *g = t->nats[0].gate;

	assert_non_null(g);
	assert_null(t->hosts[0].gate);
	assert_int_equal(g->address.s_addr, ip("192.168.1.1")); /* the inside gateway */
	assert_int_equal(g->port, TOPO_GATE_PORT_DEFAULT);
	assert_string_equal(g->key, "k1");
	assert_int_equal(g->trust, TOPO_TRUST_UNTRUSTED);
	assert_int_equal(g->n_hosts, 0);
	assert_int_equal(g->n_exempt, 0);
	assert_int_equal(g->line, 6);
	/* the seed's numbers */
	assert_int_equal(g->m.delay[TOPO_TRUST_UNTRUSTED].lo_ns, 2 * S);
	assert_int_equal(g->m.delay[TOPO_TRUST_UNTRUSTED].hi_ns, 5 * S);
	assert_int_equal(g->m.delay[TOPO_TRUST_LOW].lo_ns, 1 * S);
	assert_int_equal(g->m.delay[TOPO_TRUST_LOW].hi_ns, 2 * S);
	assert_int_equal(g->m.delay[TOPO_TRUST_MEDIUM].lo_ns, 500 * MS);
	assert_int_equal(g->m.delay[TOPO_TRUST_MEDIUM].hi_ns, 1 * S);
	assert_int_equal(g->m.delay[TOPO_TRUST_HIGH].lo_ns, 100 * MS);
	assert_int_equal(g->m.delay[TOPO_TRUST_HIGH].hi_ns, 500 * MS);
	assert_int_equal(g->m.delay[TOPO_TRUST_VERIFIED].lo_ns, 50 * MS);
	assert_int_equal(g->m.delay[TOPO_TRUST_VERIFIED].hi_ns, 100 * MS);
	assert_true(g->m.success[TOPO_TRUST_UNTRUSTED] == 0.7);
	assert_true(g->m.success[TOPO_TRUST_VERIFIED] == 0.99);
	assert_true(g->m.success[TOPO_TRUST_LOW] > 0.7 && g->m.success[TOPO_TRUST_HIGH] < 0.99);
	assert_true(g->m.escalate == 0.3);
	assert_true(g->m.risk_factor == 0.3);
	assert_true(g->m.time_scale == 1.0);
	assert_int_equal(g->m.demote_after, 3);
	assert_int_equal(g->m.pinhole_ttl_ns, 120 * S);
	assert_int_equal(g->m.replay_window, 64);
	topo_free(t);
}

static void test_full_block(void **state)
{
	struct topo *t =
	    load_ok(HOME "    gate:\n"
			 "      address: 192.168.1.254\n"
			 "      port: 9000\n"
			 "      key: shared\n"
			 "      trust: medium\n"
			 "      hosts:\n"
			 "        alice: { key: alice-key, trust: high }\n"
			 "        bob: { trust: verified }\n"
			 "        carol: ~\n"
			 "      exempt:\n"
			 "        - { to: dns, proto: udp, port: 53 }\n"
			 "        - { to: 198.51.100.0/24 }\n"
			 "        - { proto: icmp }\n"
			 "      time-scale: 0.01\n"
			 "      pinhole-ttl: 3s\n"
			 "      replay-window: 8\n"
			 "      escalate: 50%\n"
			 "      demote-after: 0\n"
			 "      delay: { untrusted: 1s-3s, verified: 10ms }\n"
			 "      success: { low: 75% }\n"
			 "      risk: { factor: 10%, failures: 1%, rate: 2%, idle: 3%,"
			 " failures-max: 7, rate-max: 20, rate-window: 5s, idle-max: 60s }\n"
			 "hosts:\n"
			 "  alice: { nat: home }\n"
			 "  bob: { nat: home }\n"
			 "  carol: { nat: home }\n"
			 "  dns: { address: 198.51.100.53 }\n");
	const struct topo_gate *g = t->nats[0].gate;

	assert_int_equal(g->address.s_addr, ip("192.168.1.254"));
	assert_int_equal(g->port, 9000);
	assert_string_equal(g->key, "shared");
	assert_int_equal(g->trust, TOPO_TRUST_MEDIUM);
	assert_int_equal(g->n_hosts, 3);
	assert_string_equal(g->hosts[0].name, "alice");
	assert_int_equal(g->hosts[0].index, 0);
	assert_string_equal(g->hosts[0].key, "alice-key");
	assert_true(g->hosts[0].trust_set);
	assert_int_equal(g->hosts[0].trust, TOPO_TRUST_HIGH);
	assert_string_equal(g->hosts[1].key, "");
	assert_int_equal(g->hosts[1].trust, TOPO_TRUST_VERIFIED);
	assert_false(g->hosts[2].trust_set);
	assert_int_equal(g->hosts[2].index, 2);
	assert_int_equal(g->n_exempt, 3);
	assert_string_equal(g->exempt[0].to_host, "dns");
	assert_int_equal(g->exempt[0].to_index, 3);
	assert_int_equal(g->exempt[0].proto, TOPO_FW_PROTO_UDP);
	assert_int_equal(g->exempt[0].set, TOPO_FW_TO | TOPO_FW_PORT);
	assert_int_equal(g->exempt[0].port.lo, 53);
	assert_int_equal(g->exempt[1].to.addr.s_addr, ip("198.51.100.0"));
	assert_int_equal(g->exempt[1].to.len, 24);
	assert_int_equal(g->exempt[1].to_index, -1);
	assert_int_equal(g->exempt[2].set, 0);
	assert_int_equal(g->exempt[2].proto, TOPO_FW_PROTO_ICMP);
	assert_true(g->m.time_scale == 0.01);
	assert_int_equal(g->m.pinhole_ttl_ns, 3 * S);
	assert_int_equal(g->m.replay_window, 8);
	assert_true(g->m.escalate == 0.5);
	assert_int_equal(g->m.demote_after, 0);
	assert_int_equal(g->m.delay[TOPO_TRUST_UNTRUSTED].lo_ns, 1 * S);
	assert_int_equal(g->m.delay[TOPO_TRUST_UNTRUSTED].hi_ns, 3 * S);
	assert_int_equal(g->m.delay[TOPO_TRUST_VERIFIED].lo_ns, 10 * MS);
	assert_int_equal(g->m.delay[TOPO_TRUST_VERIFIED].hi_ns, 10 * MS);
	assert_int_equal(g->m.delay[TOPO_TRUST_LOW].hi_ns, 2 * S); /* untouched */
	assert_true(g->m.success[TOPO_TRUST_LOW] == 0.75);
	assert_true(g->m.risk_factor == 0.1);
	assert_true(g->m.w_failures == 0.01 && g->m.w_rate == 0.02 && g->m.w_idle == 0.03);
	assert_int_equal(g->m.failures_max, 7);
	assert_int_equal(g->m.rate_max, 20);
	assert_int_equal(g->m.rate_window_ns, 5 * S);
	assert_int_equal(g->m.idle_max_ns, 60 * S);
	topo_free(t);
}

static void test_host_gate(void **state)
{
	struct topo *t = load_ok(HOME "hosts:\n"
				      "  alice: { nat: home, gate: { key: a, trust: low } }\n"
				      "  pub:\n"
				      "    address: 198.51.100.7\n"
				      "    gate: { key: p, hosts: { pub: { key: own } } }\n");
	const char *key = NULL;

	assert_null(t->nats[0].gate);
	assert_int_equal(t->hosts[0].gate->address.s_addr, ip("192.168.1.1"));
	assert_int_equal(t->hosts[0].gate->trust, TOPO_TRUST_LOW);
	assert_int_equal(t->hosts[1].gate->address.s_addr, ip(TOPO_PUBLIC_GATEWAY));
	assert_string_equal(t->hosts[1].gate->hosts[0].key, "own");
	assert_ptr_equal(topo_host_gate(t, 1, &key), t->hosts[1].gate);
	assert_string_equal(key, "own");
	topo_free(t);
}

/* The gate in front of a host, and its key there: its link's, else its
 * NAT's; none for a host with neither. */
static void test_gate_of_host(void **state)
{
	struct topo *t = load_ok(HOME "    gate: { key: shared, hosts: { bob: { key: b } } }\n"
				      "hosts:\n"
				      "  alice: { nat: home }\n"
				      "  bob: { nat: home }\n"
				      "  carol: { nat: home, gate: { key: c } }\n"
				      "  pub: {}\n");
	const char *key = NULL;

	assert_ptr_equal(topo_host_gate(t, 0, &key), t->nats[0].gate);
	assert_string_equal(key, "shared");
	assert_ptr_equal(topo_host_gate(t, 1, &key), t->nats[0].gate);
	assert_string_equal(key, "b");
	assert_ptr_equal(topo_host_gate(t, 2, &key), t->hosts[2].gate);
	assert_string_equal(key, "c");
	assert_null(topo_host_gate(t, 3, &key));
	assert_null(topo_host_gate(t, 9, NULL));
	topo_free(t);
}

static void test_errors(void **state)
{
	load_bad(HOME "    gate: ~\nhosts:\n  alice: { nat: home }\n",
		 "t.yaml:6: nats.home.gate.key: missing: host alice has no key (give key, or "
		 "hosts.alice.key)");
	/* a gate with nobody behind it needs no key */
	topo_free(load_ok(HOME "    gate: ~\nhosts:\n  pub: {}\n"));
	load_bad(HOME "    gate: { hosts: { alice: { key: a } } }\n"
		      "hosts:\n  alice: { nat: home }\n  bob: { nat: home }\n",
		 "t.yaml:6: nats.home.gate.key: missing: host bob has no key (give key, or "
		 "hosts.bob.key)");
	load_bad(HOME "    gate: { key: k, hosts: { pub: ~ } }\nhosts:\n  pub: {}\n",
		 "t.yaml:6: nats.home.gate.hosts.pub: pub is not behind this gate (the inside of "
		 "NAT home)");
	load_bad(HOME "    gate: { key: k, hosts: { nobody: ~ } }\nhosts:\n  pub: {}\n",
		 "t.yaml:6: nats.home.gate.hosts.nobody: no host 'nobody' in this topology");
	load_bad(HOME "    gate: { key: k, hosts: { a: ~, a: ~ } }\nhosts:\n  a: { nat: home }\n",
		 "t.yaml:6: nats.home.gate.hosts.a: duplicate key (first at line 6)");
	load_bad(HOME "    gate: { key: k, trust: total }\nhosts:\n  pub: {}\n",
		 "t.yaml:6: nats.home.gate.trust: bad trust level 'total' (untrusted, low, medium, "
		 "high or verified)");
	load_bad(HOME "    gate: { key: 'a b' }\nhosts:\n  pub: {}\n",
		 "t.yaml:6: nats.home.gate.key: bad key 'a b' (1 to 63 printable characters, no "
		 "space)");
	load_bad(HOME "    gate:\n      delay: { low: 2s-1s }\nhosts:\n  pub: {}\n",
		 "t.yaml:7: nats.home.gate.delay.low: bad delay range '2s-1s' (LO-HI or one "
		 "duration, at most 3600s, e.g. 2s-5s)");
	load_bad(HOME "    gate:\n      delay: { lowest: 1s }\nhosts:\n  pub: {}\n",
		 "t.yaml:7: nats.home.gate.delay.lowest: unknown key (expected one of: untrusted, "
		 "low, medium, high, verified)");
	load_bad(HOME "    gate: { time-scale: 0 }\nhosts:\n  pub: {}\n",
		 "t.yaml:6: nats.home.gate.time-scale: bad scale '0' (a number above 0 and at most "
		 "1000, e.g. 0.01)");
	load_bad(HOME "    gate: { time-scale: 1e-3 }\nhosts:\n  pub: {}\n",
		 "t.yaml:6: nats.home.gate.time-scale: bad scale '1e-3' (a number above 0 and at "
		 "most 1000, e.g. 0.01)");
	load_bad(
	    HOME "    gate: { replay-window: 65 }\nhosts:\n  pub: {}\n",
	    "t.yaml:6: nats.home.gate.replay-window: bad window '65' (a whole number from 1 to "
	    "64)");
	load_bad(
	    HOME "    gate:\n      exempt: [ { proto: icmp, port: 53 } ]\nhosts:\n  pub: {}\n",
	    "t.yaml:7: nats.home.gate.exempt[0].port: ports apply to udp and tcp, not to proto "
	    "icmp");
	load_bad(HOME "    gate:\n      exempt: [ { to: dns } ]\nhosts:\n  pub: {}\n",
		 "t.yaml:7: nats.home.gate.exempt[0].to: no host 'dns' in this topology");
	load_bad(HOME "    gate:\n      exempt: [ { to: 10.0.0.1/8 } ]\nhosts:\n  pub: {}\n",
		 "t.yaml:7: nats.home.gate.exempt[0].to: 10.0.0.1/8 has host bits set (the network "
		 "is 10.0.0.0/8)");
	load_bad(
	    HOME "    gate: { colour: red }\nhosts:\n  pub: {}\n",
	    "t.yaml:6: nats.home.gate.colour: unknown key (expected one of: address, port, key, "
	    "trust, hosts, exempt, time-scale, pinhole-ttl, replay-window, escalate, "
	    "demote-after, delay, success, risk)");
	load_bad(HOME "    gate: [ 1 ]\nhosts:\n  pub: {}\n",
		 "t.yaml:6: nats.home.gate: expected a mapping, got a list");
	load_bad(HOME "hosts:\n  alice: { nat: home, gate: { key: k, hosts: { bob: ~ } } }\n"
		      "  bob: { nat: home }\n",
		 "t.yaml:7: hosts.alice.gate.hosts.bob: bob is not behind this gate (the link of "
		 "alice)");
}

static void test_model_set(void **state)
{
	struct topo_gate_model m, before;
	char err[256];

	topo_gate_model_default(&m);
	assert_int_equal(topo_gate_model_set(&m, "time-scale", "0.5", err, sizeof(err)), 0);
	assert_true(m.time_scale == 0.5);
	assert_int_equal(topo_gate_model_set(&m, "delay.high", "1ms-2ms", err, sizeof(err)), 0);
	assert_int_equal(m.delay[TOPO_TRUST_HIGH].lo_ns, 1 * MS);
	assert_int_equal(m.delay[TOPO_TRUST_HIGH].hi_ns, 2 * MS);
	assert_int_equal(topo_gate_model_set(&m, "success.untrusted", "50%", err, sizeof(err)), 0);
	assert_true(m.success[TOPO_TRUST_UNTRUSTED] == 0.5);
	assert_int_equal(topo_gate_model_set(&m, "risk.rate-window", "2s", err, sizeof(err)), 0);
	assert_int_equal(m.rate_window_ns, 2 * S);
	assert_int_equal(topo_gate_model_set(&m, "demote-after", "0", err, sizeof(err)), 0);
	assert_int_equal(m.demote_after, 0);
	before = m;
	assert_int_equal(topo_gate_model_set(&m, "success.low", "120%", err, sizeof(err)), -1);
	assert_string_equal(err, "success.low: bad percentage '120%' (0% to 100% with the % sign, "
				 "e.g. 0.5%)");
	assert_int_equal(topo_gate_model_set(&m, "delay", "1s", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown gate key 'delay' (time-scale, pinhole-ttl"));
	assert_int_equal(topo_gate_model_set(&m, "risk.colour", "1", err, sizeof(err)), -1);
	assert_int_equal(topo_gate_model_set(&m, "delay.", "1s", err, sizeof(err)), -1);
	assert_int_equal(topo_gate_model_set(&m, ".low", "1s", err, sizeof(err)), -1);
	assert_memory_equal(&m, &before, sizeof(m));
}

static void test_trust_names(void **state)
{
	enum topo_trust l;

	assert_int_equal(topo_parse_trust("verified", &l), 0);
	assert_int_equal(l, TOPO_TRUST_VERIFIED);
	assert_int_equal(topo_parse_trust("Verified", &l), -1);
	assert_string_equal(topo_trust_name(TOPO_TRUST_UNTRUSTED), "untrusted");
	assert_string_equal(topo_trust_name(TOPO_TRUST_MEDIUM), "medium");
	assert_null(topo_trust_name(TOPO_TRUST_COUNT));
}

static void test_seen_as(void **state)
{
	struct topo *t = load_ok("nats:\n"
				 "  carrier: { preset: cgnat, public: 198.51.100.0/30,"
				 " inside: 100.64.0.0/10 }\n"
				 "  home: { preset: full-cone, public: 100.64.0.10,"
				 " inside: 192.168.1.0/24, upstream: carrier }\n"
				 "  other: { preset: full-cone, public: 203.0.113.9,"
				 " inside: 10.9.0.0/16 }\n"
				 "hosts:\n"
				 "  alice: { nat: home, address: 192.168.1.10 }\n"
				 "  pub: { address: 203.0.113.50 }\n");

	assert_true(topo_host_seen_as(t, 0, ip("192.168.1.10")));
	assert_true(topo_host_seen_as(t, 0, ip("100.64.0.10")));
	assert_true(topo_host_seen_as(t, 0, ip("198.51.100.2")));
	assert_false(topo_host_seen_as(t, 0, ip("203.0.113.9")));
	assert_false(topo_host_seen_as(t, 0, ip("192.168.1.11")));
	assert_true(topo_host_seen_as(t, 1, ip("203.0.113.50")));
	assert_false(topo_host_seen_as(t, 1, ip("198.51.100.2")));
	assert_false(topo_host_seen_as(t, 5, ip("203.0.113.50")));
	topo_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),	cmocka_unit_test(test_full_block),
	    cmocka_unit_test(test_host_gate),	cmocka_unit_test(test_gate_of_host),
	    cmocka_unit_test(test_errors),	cmocka_unit_test(test_model_set),
	    cmocka_unit_test(test_trust_names), cmocka_unit_test(test_seen_as),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
