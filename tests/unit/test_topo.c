/* Unit tests of the topology loader: the unit parsers, every field of good
 * files, and each error kind (tests/data/bad-*.yaml, one file per case). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/topo.h"

#define ARRAY_SIZE(a)  (sizeof(a) / sizeof((a)[0]))
#define TOPOLOGIES_DIR NATBED_TEST_DATA "/../../topologies"
#define MS	       NATBED_NS_PER_MS

/* Loads text (named "t.yaml" in errors) with prefix "nb-"; fails the test
 * with the loader's error when it does not load. */
static struct topo *load_ok(const char *text)
{
	char err[TOPO_ERR_MAX];
	struct topo *t = NULL;

	if (topo_load_string(text, strlen(text), "t.yaml", "nb-", &t, err, sizeof(err)) < 0)
		fail_msg("load failed: %s", err);
	assert_non_null(t);
	return t;
}

/* Loads text, expects it to fail with an error starting with want. */
static void load_bad(const char *text, const char *prefix, const char *want)
{
	char err[TOPO_ERR_MAX];
	struct topo *t = (struct topo *)&t; /* must be reset to NULL */

	assert_int_equal(
	    topo_load_string(text, strlen(text), "t.yaml", prefix, &t, err, sizeof(err)), -1);
	assert_null(t);
	if (strncmp(err, want, strlen(want)))
		fail_msg("error '%s' does not start with '%s'", err, want);
}

static void assert_addr(struct in_addr a, const char *want)
{
	char s[INET_ADDRSTRLEN];

	assert_non_null(inet_ntop(AF_INET, &a, s, sizeof(s)));
	assert_string_equal(s, want);
}

static void test_nat_names(void **state)
{
	enum topo_nat_map m;
	enum topo_nat_ports p;

	assert_int_equal(topo_parse_nat_map("address-dependent", &m), 0);
	assert_int_equal(m, TOPO_MAP_ADM);
	assert_int_equal(topo_parse_nat_map("APDM", &m), -1);
	assert_string_equal(topo_nat_map_name(TOPO_MAP_APDM), "address-and-port-dependent");
	assert_string_equal(topo_nat_map_name(TOPO_MAP_EIM), "endpoint-independent");
	assert_int_equal(topo_parse_nat_ports("sequential", &p), 0);
	assert_int_equal(p, TOPO_PORTS_SEQUENTIAL);
	assert_int_equal(topo_parse_nat_ports("incrementing", &p), -1);
	assert_string_equal(topo_nat_ports_name(TOPO_PORTS_RANDOM), "random");
	assert_null(topo_nat_map_name((enum topo_nat_map)7));
}

/* ---- NAT presets ---- */

static const struct {
	const char *name;
	enum topo_nat_map mapping, filtering;
	enum topo_nat_ports ports;
	bool hairpin;
	enum topo_nat_classes classes;
	uint16_t port_block;
	bool reserves;
} preset_want[] = {
    {"full-cone", TOPO_MAP_EIM, TOPO_MAP_EIM, TOPO_PORTS_PRESERVE, false, TOPO_CLASSES_RFC4787, 0,
     false},
    {"restricted-cone", TOPO_MAP_EIM, TOPO_MAP_ADM, TOPO_PORTS_PRESERVE, false,
     TOPO_CLASSES_RFC4787, 0, false},
    {"port-restricted", TOPO_MAP_EIM, TOPO_MAP_APDM, TOPO_PORTS_PRESERVE, false,
     TOPO_CLASSES_RFC4787, 0, false},
    {"symmetric", TOPO_MAP_APDM, TOPO_MAP_APDM, TOPO_PORTS_RANDOM, false, TOPO_CLASSES_RFC4787, 0,
     false},
    {"symmetric-sequential", TOPO_MAP_APDM, TOPO_MAP_APDM, TOPO_PORTS_SEQUENTIAL, false,
     TOPO_CLASSES_RFC4787, 0, false},
    /* RFC 6888: hairpinning, a block of 512 ports per subscriber */
    {"cgnat", TOPO_MAP_EIM, TOPO_MAP_EIM, TOPO_PORTS_PRESERVE, true, TOPO_CLASSES_RFC4787, 512,
     false},
    {"linux-masquerade", TOPO_MAP_EIM, TOPO_MAP_APDM, TOPO_PORTS_PRESERVE_RANDOM, false,
     TOPO_CLASSES_LINUX, 0, true},
};

static void assert_preset(const struct topo_nat *n, size_t i)
{
	assert_string_equal(n->preset, preset_want[i].name);
	assert_int_equal(n->b.mapping, preset_want[i].mapping);
	assert_int_equal(n->b.filtering, preset_want[i].filtering);
	assert_int_equal(n->b.ports, preset_want[i].ports);
	assert_int_equal(n->b.port_lo, 1024);
	assert_int_equal(n->b.port_hi, 65535);
	assert_int_equal(n->b.hairpin, preset_want[i].hairpin);
	assert_int_equal(n->b.classes, preset_want[i].classes);
	assert_int_equal(n->b.port_block, preset_want[i].port_block);
	assert_int_equal(n->b.inbound_reserves, preset_want[i].reserves);
	assert_int_equal(n->b.unreplied_ns, preset_want[i].reserves ? 30 * NATBED_NS_PER_S : 0);
	assert_int_equal(n->b.timeout_ns, 120 * NATBED_NS_PER_S);
}

static void test_preset_table(void **state)
{
	struct topo_nat n;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(preset_want); i++) {
		assert_string_equal(topo_nat_preset_name(i), preset_want[i].name);
		memset(&n, 0, sizeof(n));
		assert_int_equal(topo_nat_preset_apply(&n, preset_want[i].name), 0);
		assert_preset(&n, i);
	}
	assert_null(topo_nat_preset_name(i));
	memset(&n, 0, sizeof(n));
	n.set = TOPO_NAT_PORTS;
	n.b.ports = TOPO_PORTS_SEQUENTIAL;
	assert_int_equal(topo_nat_preset_apply(&n, "full-cone"), 0);
	assert_int_equal(n.b.ports, TOPO_PORTS_SEQUENTIAL);
	assert_int_equal(topo_nat_preset_apply(&n, "cone"), -1);
}

/* Every preset from a file: one NAT each, fields filled from the table. */
static void test_preset_load(void **state)
{
	char text[512];
	struct topo *t;
	size_t i;
	int n;

	for (i = 0; i < ARRAY_SIZE(preset_want); i++) {
		n = snprintf(text, sizeof(text),
			     "nats:\n  n:\n    preset: %s\n    public: 203.0.113.1\n"
			     "    inside: 10.0.0.0/8\nhosts:\n  h: { nat: n }\n",
			     preset_want[i].name);
		assert_true(n > 0 && (size_t)n < sizeof(text));
		t = load_ok(text);
		assert_preset(&t->nats[0], i);
		assert_int_equal(t->nats[0].set, 0);
		topo_free(t);
	}
}

static void test_preset_override(void **state)
{
	struct topo *t = load_ok("nats:\n"
				 "  n:\n"
				 "    timeout: 30s\n" /* before the preset: order does not matter */
				 "    preset: symmetric\n"
				 "    ports: sequential\n"
				 "    hairpin: true\n"
				 "    filtering: endpoint-independent\n"
				 "    port-range: 40000-40015\n"
				 "    public: 203.0.113.1\n"
				 "    inside: 10.0.0.0/8\n"
				 "  m:\n" /* no preset: mapping and filtering given */
				 "    mapping: address-dependent\n"
				 "    filtering: address-dependent\n"
				 "    public: 203.0.113.2\n"
				 "    inside: 192.168.0.0/16\n"
				 "hosts:\n  h: { nat: n }\n");
	const struct topo_nat *n = &t->nats[0], *m = &t->nats[1];

	assert_string_equal(n->preset, "symmetric");
	assert_int_equal(n->b.mapping, TOPO_MAP_APDM); /* from the preset */
	assert_int_equal(n->b.filtering, TOPO_MAP_EIM);
	assert_int_equal(n->b.ports, TOPO_PORTS_SEQUENTIAL);
	assert_true(n->b.hairpin);
	assert_int_equal(n->b.port_lo, 40000);
	assert_int_equal(n->b.port_hi, 40015);
	assert_int_equal(n->b.timeout_ns, 30 * NATBED_NS_PER_S);
	assert_int_equal(n->set, TOPO_NAT_FILTERING | TOPO_NAT_PORTS | TOPO_NAT_PORT_RANGE |
				     TOPO_NAT_HAIRPIN | TOPO_NAT_TIMEOUT);
	assert_string_equal(m->preset, "");
	assert_int_equal(m->b.mapping, TOPO_MAP_ADM);
	assert_int_equal(m->b.filtering, TOPO_MAP_ADM);
	assert_int_equal(m->b.ports, TOPO_PORTS_PRESERVE);
	assert_int_equal(m->b.port_lo, 1024);
	assert_int_equal(m->b.timeout_ns, 120 * NATBED_NS_PER_S);
	assert_int_equal(m->set, TOPO_NAT_MAPPING | TOPO_NAT_FILTERING);
	topo_free(t);
}

/* ---- good files ---- */

static struct topo *load_file_ok(const char *path)
{
	char err[TOPO_ERR_MAX];
	struct topo *t = NULL;

	if (topo_load(path, "nb-", &t, err, sizeof(err)) < 0)
		fail_msg("%s: %s", path, err);
	return t;
}

/* stride, parity, pool, refresh-inbound: given, defaulted, refused */
static void test_nat_tuning(void **state)
{
	struct topo *t = load_ok("nats:\n"
				 "  n:\n"
				 "    preset: symmetric-sequential\n"
				 "    stride: 7\n"
				 "    parity: true\n"
				 "    pool: 16\n"
				 "    refresh-inbound: true\n"
				 "    public: 203.0.113.1\n"
				 "    inside: 10.0.0.0/24\n"
				 "  m:\n"
				 "    preset: full-cone\n"
				 "    public: 203.0.113.2\n"
				 "    inside: 10.0.1.0/24\n"
				 "hosts:\n"
				 "  a: { nat: n }\n");
	const struct topo_nat *n = &t->nats[topo_nat_find(t, "n")];
	const struct topo_nat *m = &t->nats[topo_nat_find(t, "m")];

	(void)state;
	assert_int_equal(n->b.stride, 7);
	assert_true(n->b.parity);
	assert_int_equal(n->b.pool, 16);
	assert_true(n->b.refresh_inbound);
	assert_int_equal(n->b.ports, TOPO_PORTS_SEQUENTIAL);
	assert_int_equal(m->b.stride, 1);
	assert_false(m->b.parity);
	assert_int_equal(m->b.pool, 0);
	assert_false(m->b.refresh_inbound);
	topo_free(t);
	load_bad("nats:\n  n:\n    preset: full-cone\n    stride: 0\n    public: 203.0.113.1\n"
		 "    inside: 10.0.0.0/24\nhosts:\n  a: { nat: n }\n",
		 "nb-", "t.yaml:4: nats.n.stride: bad stride '0'");
	load_bad("nats:\n  n:\n    preset: full-cone\n    pool: 70000\n    public: 203.0.113.1\n"
		 "    inside: 10.0.0.0/24\nhosts:\n  a: { nat: n }\n",
		 "nb-", "t.yaml:4: nats.n.pool: bad pool size '70000'");
}

/* public: an address, a list, or a prefix of /24 or longer; the carrier
 * keys (port-block, port-blocks); the Linux keys; port classes follow
 * port-range. */
static void test_nat_pools(void **state)
{
	struct topo *t = load_ok("nats:\n"
				 "  c:\n"
				 "    preset: cgnat\n"
				 "    public: 203.0.113.48/30\n"
				 "    port-block: 256\n"
				 "    port-blocks: 3\n"
				 "    inside: 100.64.0.0/10\n"
				 "  l:\n"
				 "    preset: port-restricted\n"
				 "    public: [198.51.100.7, 198.51.100.9]\n"
				 "    inside: 10.0.0.0/24\n"
				 "    timeout-unreplied: 20s\n"
				 "    inbound-reserves: true\n"
				 "    port-range: 2000-3000\n"
				 "hosts:\n"
				 "  a: { nat: c }\n"
				 "  b: { nat: l }\n");
	const struct topo_nat *c = &t->nats[topo_nat_find(t, "c")];
	const struct topo_nat *l = &t->nats[topo_nat_find(t, "l")];

	(void)state;
	assert_int_equal(c->n_public, 4);
	assert_addr(c->publics[0], "203.0.113.48");
	assert_addr(c->publics[3], "203.0.113.51");
	assert_int_equal(c->b.port_block, 256);
	assert_int_equal(c->b.port_blocks, 3);
	assert_true(c->b.hairpin);
	assert_int_equal(c->b.classes, TOPO_CLASSES_RFC4787);
	assert_int_equal(l->n_public, 2);
	assert_addr(l->publics[1], "198.51.100.9");
	assert_int_equal(l->b.unreplied_ns, 20 * NATBED_NS_PER_S);
	assert_true(l->b.inbound_reserves);
	assert_int_equal(l->b.classes, TOPO_CLASSES_NONE); /* a port-range was given */
	topo_free(t);
	load_bad("nats:\n  c:\n    preset: cgnat\n    public: 203.0.112.0/23\n"
		 "    inside: 100.64.0.0/10\nhosts:\n  a: { nat: c }\n",
		 "nb-", "t.yaml:4: nats.c.public: prefix length /23: must be /24 to /32");
	load_bad("nats:\n  c:\n    preset: cgnat\n    public: [203.0.113.1, 203.0.113.1]\n"
		 "    inside: 100.64.0.0/10\nhosts:\n  a: { nat: c }\n",
		 "nb-", "t.yaml:4: nats.c.public: 203.0.113.1 is given twice");
	load_bad(
	    "nats:\n  c:\n    preset: cgnat\n    public: 203.0.113.0/30\n"
	    "    inside: 100.64.0.0/10\nhosts:\n  a: { nat: c }\n  s: { address: 203.0.113.2 }\n",
	    "nb-", "t.yaml:8: hosts.s.address: duplicate address 203.0.113.2");
	load_bad("nats:\n  c:\n    preset: cgnat\n    port-block: 0\n    public: 203.0.113.1\n"
		 "    inside: 100.64.0.0/10\nhosts:\n  a: { nat: c }\n",
		 "nb-", "t.yaml:4: nats.c.port-block: bad port block '0'");
}

static void test_lan(void **state)
{
	struct topo *t = load_file_ok(TOPOLOGIES_DIR "/lan.yaml");
	const struct topo_host *a, *b, *s;
	const struct topo_nat *home;

	assert_string_equal(t->name, "lan");
	assert_int_equal(t->seed, 1);
	assert_int_equal(t->n_nats, 1);
	assert_int_equal(t->n_hosts, 3);
	assert_int_equal(t->scenario_line, 0);
	assert_string_equal(t->path, TOPOLOGIES_DIR "/lan.yaml");
	home = &t->nats[topo_nat_find(t, "home")];
	assert_string_equal(home->preset, "port-restricted");
	assert_int_equal(home->b.mapping, TOPO_MAP_EIM);
	assert_int_equal(home->b.filtering, TOPO_MAP_APDM);
	assert_addr(home->publics[0], "203.0.113.10");
	assert_addr(home->inside_net, "192.168.1.0");
	assert_int_equal(home->inside_len, 24);
	assert_addr(home->gateway, "192.168.1.1");
	assert_int_equal(home->upstream, -1);
	assert_int_equal(home->link.set, 0);
	assert_int_equal(home->line, 7);

	a = &t->hosts[topo_host_find(t, "alice")];
	b = &t->hosts[topo_host_find(t, "bob")];
	s = &t->hosts[topo_host_find(t, "stun")];
	assert_int_equal(a->nat, 0);
	assert_int_equal(a->n_addrs, 1);
	assert_addr(a->addrs[0], "192.168.1.10");
	assert_int_equal(a->prefix_len, 24);
	assert_addr(a->gateway, "192.168.1.1");
	assert_string_equal(a->run, "");
	assert_int_equal(a->line, 12);
	assert_addr(b->addrs[0], "192.168.1.11");
	assert_int_equal(s->nat, -1);
	assert_int_equal(s->n_addrs, 2);
	assert_addr(s->addrs[0], "198.51.100.10");
	assert_addr(s->addrs[1], "198.51.100.11");
	assert_int_equal(s->prefix_len, 32);
	assert_addr(s->gateway, TOPO_PUBLIC_GATEWAY);
	assert_string_equal(s->run,
			    "natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11");
	assert_int_equal(s->run_line, 20);
	assert_int_equal(topo_host_find(t, "carol"), -1);
	assert_int_equal(topo_nat_find(t, "alice"), -1);
	topo_free(t);
}

/* defaults.link < host.link field by field; NAT and internet links alone. */
static void test_two_sites(void **state)
{
	struct topo *t = load_file_ok(TOPOLOGIES_DIR "/two-sites.yaml");
	const struct topo_host *alice, *bob, *stun;
	const struct topo_nat *home, *office;

	assert_string_equal(t->name, "two-sites");
	assert_int_equal(t->seed, 42);
	assert_int_equal(t->defaults.set, TOPO_LINK_DELAY | TOPO_LINK_JITTER | TOPO_LINK_LOSS);
	assert_int_equal(t->internet.set, TOPO_LINK_DELAY);
	assert_int_equal(t->internet.delay_ns, 20 * MS);
	home = &t->nats[topo_nat_find(t, "home")];
	office = &t->nats[topo_nat_find(t, "office")];
	assert_int_equal(home->set, TOPO_NAT_MAPPING | TOPO_NAT_FILTERING | TOPO_NAT_PORTS |
					TOPO_NAT_PORT_RANGE | TOPO_NAT_HAIRPIN | TOPO_NAT_TIMEOUT);
	assert_int_equal(home->link.set, TOPO_LINK_DELAY);
	assert_int_equal(home->link.delay_ns, 5 * MS);
	assert_int_equal(home->link.jitter_ns, 0); /* defaults are for access links */
	assert_int_equal(office->b.ports, TOPO_PORTS_RANDOM);
	assert_int_equal(office->link.rate_bps, 100000000);
	assert_addr(office->gateway, "10.1.0.1");

	alice = &t->hosts[topo_host_find(t, "alice")];
	assert_int_equal(alice->link.set, TOPO_LINK_DELAY | TOPO_LINK_JITTER | TOPO_LINK_LOSS);
	assert_int_equal(alice->link.delay_ns, 30 * MS);		       /* own */
	assert_int_equal(alice->link.jitter_ns, 2 * MS);		       /* inherited */
	assert_true(alice->link.loss > 0.00999 && alice->link.loss < 0.01001); /* own */
	assert_int_equal(alice->link.rate_bps, 0);
	bob = &t->hosts[topo_host_find(t, "bob")];
	assert_int_equal(bob->nat, topo_nat_find(t, "office"));
	assert_addr(bob->addrs[0], "10.1.0.2"); /* allocated: gateway + 1 */
	assert_int_equal(bob->prefix_len, 16);
	assert_int_equal(bob->link.delay_ns, 10 * MS);
	assert_int_equal(bob->link.jitter_ns, 2 * MS);
	assert_true(bob->link.loss == 0.0);
	stun = &t->hosts[topo_host_find(t, "stun")];
	assert_int_equal(stun->link.delay_ns, 10 * MS);
	topo_free(t);
}

static void test_cgnat_chain(void **state)
{
	struct topo *t = load_file_ok(TOPOLOGIES_DIR "/cgnat.yaml");
	int carrier = topo_nat_find(t, "carrier"), home = topo_nat_find(t, "home");
	const struct topo_host *alice = &t->hosts[topo_host_find(t, "alice")];
	const struct topo_host *phone = &t->hosts[topo_host_find(t, "phone")];

	assert_true(carrier >= 0 && home >= 0);
	assert_int_equal(t->nats[carrier].upstream, -1);
	assert_int_equal(t->nats[home].upstream, carrier);
	assert_string_equal(t->nats[carrier].preset, "cgnat");
	assert_int_equal(t->nats[carrier].inside_len, 10);
	assert_addr(t->nats[carrier].gateway, "100.64.0.1");
	assert_addr(t->nats[home].publics[0], "100.64.0.10");
	assert_int_equal(alice->nat, home);
	assert_addr(alice->addrs[0], "192.168.1.2");
	assert_int_equal(phone->nat, carrier);
	assert_addr(phone->addrs[0], "100.64.0.2");
	assert_addr(phone->gateway, "100.64.0.1");
	assert_int_equal(phone->prefix_len, 10);
	assert_int_equal(phone->link.delay_ns, 40 * MS);
	assert_int_equal(phone->link.rate_bps, 20000000);
	assert_int_equal(alice->link.delay_ns, 5 * MS);
	topo_free(t);
}

static void test_routed(void **state)
{
	struct topo *t = load_file_ok(TOPOLOGIES_DIR "/routed.yaml");
	size_t i;

	assert_int_equal(t->n_nats, 0);
	assert_null(t->nats);
	assert_int_equal(t->n_hosts, 3);
	for (i = 0; i < t->n_hosts; i++) {
		assert_int_equal(t->hosts[i].nat, -1);
		assert_int_equal(t->hosts[i].prefix_len, 32);
	}
	topo_free(t);
}

/* Allocation skips given addresses wherever they appear in the file, and
 * hosts are allocated in file order. */
static void test_alloc(void **state)
{
	struct topo *t = load_ok("hosts:\n"
				 "  a: {}\n"
				 "  b:\n"
				 "    nat: home\n"
				 "  c:\n"
				 "    address: 198.18.1.1\n"
				 "  d:\n"
				 "  e: { nat: home }\n"
				 "  f: { nat: home, address: 192.168.7.3 }\n"
				 "  g: { nat: deep }\n"
				 "nats:\n"
				 "  home:\n"
				 "    preset: full-cone\n"
				 "    public: 203.0.113.1\n"
				 "    inside: 192.168.7.0/29\n"
				 "  deep:\n"
				 "    preset: symmetric\n"
				 "    upstream: home\n"
				 "    public: 192.168.7.2\n"
				 "    inside: 10.9.0.0/30\n");

	assert_addr(t->hosts[0].addrs[0], "198.18.1.2");
	assert_addr(t->hosts[1].addrs[0], "192.168.7.4"); /* .2 deep's WAN, .3 f */
	assert_addr(t->hosts[3].addrs[0], "198.18.1.3");
	assert_addr(t->hosts[4].addrs[0], "192.168.7.5");
	assert_addr(t->hosts[6].addrs[0], "10.9.0.2");
	assert_int_equal(t->hosts[6].prefix_len, 30);
	assert_string_equal(t->name, "t"); /* from the file name */
	assert_int_equal(t->seed, 1);
	topo_free(t);

	load_bad("nats:\n  n:\n    preset: full-cone\n    public: 203.0.113.1\n"
		 "    inside: 10.0.0.0/30\nhosts:\n  a: { nat: n }\n  b: { nat: n }\n",
		 "nb-", "t.yaml:8: hosts.b.address: no free address");
}

static void test_scenario_and_misc(void **state)
{
	struct topo *t = load_ok("name: Misc_1.0\n"
				 "seed: 18446744073709551615\n"
				 "hosts:\n"
				 "  a:\n"
				 "    run: \"echo 'a: b'\"\n"
				 "  b: {}\n"
				 "scenario:\n"
				 "  connect: [[a, b]]\n");

	assert_string_equal(t->name, "Misc_1.0");
	assert_true(t->seed == UINT64_MAX);
	assert_int_equal(t->scenario_line, 7);
	assert_string_equal(t->hosts[0].run, "echo 'a: b'");
	assert_int_equal(t->hosts[0].link.set, 0);
	topo_free(t);
	t = load_ok("hosts: { a: ~, b: null }\n"); /* null blocks read as empty */
	assert_int_equal(t->n_hosts, 2);
	assert_null(t->scenario);
	topo_free(t);
}

/* The scenario: pairs as lists and mappings, arrivals, and the refusals,
 * each naming its line and key. */
/* A site per client: n sites, each a host behind a NAT of its own, in
 * equal shares (the seed's 500 clients, each behind its own NAT). Returns
 * the YAML (the caller frees it). */
static char *sites_yaml(size_t n)
{
	size_t cap = 256 + n * 200, len, i;
	char *y = malloc(cap);

	assert_non_null(y);
	len = (size_t)snprintf(y, cap, "nats:\n");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(y + len, cap - len,
					"  n%zu: { preset: full-cone, public: 198.19.%zu.%zu, "
					"inside: 10.%zu.%zu.0/24 }\n",
					i, i / 250, i % 250 + 1, i / 250, i % 250);
	len += (size_t)snprintf(y + len, cap - len,
				"hosts:\n  server: { address: 198.51.100.30 }\n");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(y + len, cap - len, "  h%zu: { nat: n%zu }\n", i, i);
	len += (size_t)snprintf(y + len, cap - len,
				"scenario:\n  arrival-rate: 2/s\n  clients: %zu\n  to: server\n"
				"  sites:\n",
				n);
	for (i = 0; i < n; i++) /* shares in millionths of a percent, the last the rest */
		len += (size_t)snprintf(y + len, cap - len, "    h%zu: %.6f%%\n", i,
					i + 1 < n ? 100.0 / (double)n
						  : 100.0 - (100.0 / (double)n) * (double)(n - 1));
	assert_true(len < cap);
	return y;
}

/* Arrivals come at up to TOPO_SITES_MAX sites: a site per client for the
 * seed's 500 clients loads, one site more than the most does not. */
static void test_many_sites(void **state)
{
	char *y = sites_yaml(500), want[96];
	struct topo *t = load_ok(y);

	(void)state;
	assert_int_equal(t->scenario->n_sites, 500);
	assert_int_equal(t->n_nats, 500);
	assert_int_equal(t->hosts[t->scenario->sites[499].index].nat, 499);
	topo_free(t);
	free(y);
	y = sites_yaml(TOPO_SITES_MAX + 1);
	/* the sites' mapping starts on line 2n + 9 */
	snprintf(want, sizeof(want), "t.yaml:%d: scenario.sites: more than %d sites",
		 2 * (TOPO_SITES_MAX + 1) + 9, TOPO_SITES_MAX);
	load_bad(y, "nb-", want);
	free(y);
}

static void test_scenario(void **state)
{
	static const char hosts[] = "hosts:\n  a: {}\n  b: {}\n  c: {}\n";
	char text[1024];
	struct topo *t;

	snprintf(text, sizeof(text),
		 "%sscenario:\n"
		 "  connect:\n"
		 "    - [a, b]\n"
		 "    - { from: b, to: c, method: punch, priority: cost }\n"
		 "  priority: success_rate\n"
		 "  no-relay: true\n"
		 "  budget: 12s\n",
		 hosts);
	t = load_ok(text);
	assert_non_null(t->scenario);
	assert_int_equal(t->scenario->n_pairs, 2);
	assert_int_equal(t->scenario->pairs[0].a, 0);
	assert_int_equal(t->scenario->pairs[0].b, 1);
	assert_string_equal(t->scenario->pairs[1].method, "punch");
	assert_string_equal(t->scenario->pairs[1].priority, "cost");
	assert_int_equal(t->scenario->pairs[1].line, 8);
	assert_string_equal(t->scenario->priority, "success_rate");
	assert_true(t->scenario->no_relay);
	assert_int_equal(t->scenario->budget_ns, 12 * NATBED_NS_PER_S);
	assert_int_equal(t->scenario->to_index, -1);
	topo_free(t);
	snprintf(text, sizeof(text),
		 "%sscenario:\n"
		 "  clients: 500\n"
		 "  arrival-rate: 2/s\n"
		 "  duration: 60s\n"
		 "  sites: { a: 40%%, b: 60%% }\n"
		 "  to: c\n",
		 hosts);
	t = load_ok(text);
	assert_int_equal(t->scenario->clients, 500);
	assert_true(t->scenario->rate_per_s == 2.0);
	assert_int_equal(t->scenario->duration_ns, 60 * NATBED_NS_PER_S);
	assert_int_equal(t->scenario->n_sites, 2);
	assert_int_equal(t->scenario->sites[1].index, 1);
	assert_true(fabs(t->scenario->sites[1].weight - 0.6) < 1e-9);
	assert_int_equal(t->scenario->to_index, 2);
	topo_free(t);
	snprintf(text, sizeof(text), "%sscenario:\n  connect: [[a, x]]\n", hosts);
	load_bad(text, "nb-", "t.yaml:6: scenario.connect[0]: no host 'x' in this topology");
	snprintf(text, sizeof(text), "%sscenario:\n  connect: [[a, a]]\n", hosts);
	load_bad(text, "nb-", "t.yaml:6: scenario.connect[0]: a host cannot connect to itself");
	snprintf(text, sizeof(text), "%sscenario:\n  connect: [[a]]\n", hosts);
	load_bad(text, "nb-", "t.yaml:6: scenario.connect[0]: a pair is [FROM, TO]");
	snprintf(text, sizeof(text), "%sscenario:\n  connect: [{from: a}]\n", hosts);
	load_bad(text, "nb-", "t.yaml:6: scenario.connect[0]: a pair needs from and to");
	snprintf(text, sizeof(text),
		 "%sscenario:\n  arrival-rate: 2\n  sites: {a: 50%%, b: 40%%}\n  to: c\n  "
		 "clients: 3\n",
		 hosts);
	load_bad(text, "nb-", "t.yaml:7: scenario.sites: the shares add up to 90.0%, not 100%");
	snprintf(text, sizeof(text), "%sscenario:\n  arrival-rate: 2\n  to: c\n", hosts);
	load_bad(text, "nb-", "t.yaml:6: scenario: arrivals need arrival-rate, sites, to");
	snprintf(text, sizeof(text), "%sscenario:\n  priority: fast\n", hosts);
	load_bad(text, "nb-", "t.yaml:6: scenario.priority: bad priority 'fast'");
	snprintf(text, sizeof(text), "%sscenario:\n  arrival-rate: -1\n", hosts);
	load_bad(text, "nb-", "t.yaml:6: scenario.arrival-rate: bad rate '-1'");
	snprintf(text, sizeof(text), "%sscenario: {}\n", hosts);
	load_bad(text, "nb-", "t.yaml:5: scenario: nothing to run");
}

/* Errors that a file in tests/data cannot show (they depend on the call). */
static void test_call_errors(void **state)
{
	char err[TOPO_ERR_MAX];
	struct topo *t = NULL;
	const char *host15 = "hosts:\n  abcdefghijkl: {}\n"; /* 12 + "nb-" = 15 */

	load_bad("hosts: { a: {} }\n", "ninechars",
		 "t.yaml:1: prefix: 'ninechars' is longer than 8");
	load_bad("hosts: { a: {} }\n", "NB/", "t.yaml:1: prefix:");
	topo_free(load_ok(host15));
	load_bad(host15, "nb1-", "t.yaml:2: hosts.abcdefghijkl: name too long");
	assert_int_equal(topo_load("/nonexistent/x.yaml", "nb-", &t, err, sizeof(err)), -1);
	assert_null(t);
	assert_string_equal(err,
			    "/nonexistent/x.yaml:1: file: cannot read: No such file or directory");
	load_bad("", "nb-", "t.yaml:1: hosts: missing");
	load_bad("hosts:\n  a: { run: \"x\\0y\" }\n", "nb-",
		 "t.yaml:2: hosts.a.run: value contains a NUL");
	load_bad("- a\n- b\n", "nb-", "t.yaml:1: topology: expected a mapping, got a list");
	load_bad("hosts: {}\n", "nb-", "t.yaml:1: hosts: no hosts");
	/* a tiny error buffer truncates, never overflows */
	assert_int_equal(topo_load_string("x: 1", 4, "t.yaml", "nb-", &t, err, 8), -1);
	assert_string_equal(err, "t.yaml:");
	assert_int_equal(topo_load_string("x: 1", 4, "t.yaml", "nb-", &t, NULL, 0), -1);
	topo_free(NULL);
}

/* ---- firewall blocks ---- */

static void test_firewall(void **state)
{
	struct topo *t =
	    load_ok("nats:\n"
		    "  home:\n"
		    "    preset: full-cone\n"
		    "    public: 203.0.113.10\n"
		    "    inside: 192.168.1.0/24\n"
		    "    firewall:\n"
		    "      default: drop\n"
		    "      stateful: false\n"
		    "      rules:\n"
		    "        - { dir: in, proto: udp, from: 198.51.100.0/24, port: "
		    "3478-3479, action: drop }\n"
		    "        - { dir: out, proto: tcp, to: 203.0.113.5, action: reject }\n"
		    "        - dir: any\n"
		    "          proto: any\n"
		    "          from: 0.0.0.0/0\n"
		    "          sport: 53\n"
		    "          action: accept\n"
		    "hosts:\n"
		    "  alice: { nat: home, firewall: ~ }\n"
		    "  bob: { nat: home }\n"
		    "  carol: { firewall: { rules: [ { action: reject } ] } }\n");
	const struct topo_fw *fw = &t->nats[0].fw;
	const struct topo_fw_rule *r = fw->rules;

	assert_true(fw->present);
	assert_int_equal(fw->policy, TOPO_FW_DROP);
	assert_false(fw->stateful);
	assert_int_equal(fw->n_rules, 3);
	assert_int_equal(fw->line, 7);
	assert_int_equal(r[0].dir, TOPO_FW_DIR_IN);
	assert_int_equal(r[0].proto, TOPO_FW_PROTO_UDP);
	assert_int_equal(r[0].set, TOPO_FW_FROM | TOPO_FW_PORT);
	assert_addr(r[0].from.addr, "198.51.100.0");
	assert_int_equal(r[0].from.len, 24);
	assert_int_equal(r[0].port.lo, 3478);
	assert_int_equal(r[0].port.hi, 3479);
	assert_int_equal(r[0].action, TOPO_FW_DROP);
	assert_int_equal(r[0].line, 10);
	assert_int_equal(r[1].dir, TOPO_FW_DIR_OUT);
	assert_int_equal(r[1].proto, TOPO_FW_PROTO_TCP);
	assert_int_equal(r[1].set, TOPO_FW_TO);
	assert_addr(r[1].to.addr, "203.0.113.5");
	assert_int_equal(r[1].to.len, 32); /* a bare address */
	assert_int_equal(r[1].action, TOPO_FW_REJECT);
	assert_int_equal(r[2].dir, TOPO_FW_DIR_ANY);
	assert_int_equal(r[2].proto, TOPO_FW_PROTO_ANY);
	assert_int_equal(r[2].set, TOPO_FW_FROM | TOPO_FW_SPORT);
	assert_int_equal(r[2].from.len, 0);
	assert_int_equal(r[2].sport.lo, 53);
	assert_int_equal(r[2].sport.hi, 53);
	assert_int_equal(r[2].action, TOPO_FW_ACCEPT);
	assert_int_equal(r[2].line, 12);
	/* a null block: a firewall with the defaults */
	fw = &t->hosts[0].fw;
	assert_true(fw->present);
	assert_int_equal(fw->policy, TOPO_FW_ACCEPT);
	assert_true(fw->stateful);
	assert_int_equal(fw->n_rules, 0);
	/* no block: no firewall */
	assert_false(t->hosts[1].fw.present);
	assert_int_equal(t->hosts[1].fw.n_rules, 0);
	/* a rule with only an action matches everything */
	fw = &t->hosts[2].fw;
	assert_int_equal(fw->n_rules, 1);
	assert_int_equal(fw->rules[0].set, 0);
	assert_int_equal(fw->rules[0].action, TOPO_FW_REJECT);
	topo_free(t);
}

/* TOPO_FW_RULES_MAX rules load, one more does not. */
static void test_firewall_max(void **state)
{
	static const char head[] = "hosts:\n  a:\n    firewall:\n      rules:\n";
	static const char rule[] = "        - { action: drop }\n";
	char text[sizeof(head) + (TOPO_FW_RULES_MAX + 1) * (sizeof(rule) - 1)];
	size_t i, used;

	memcpy(text, head, sizeof(head));
	used = sizeof(head) - 1;
	for (i = 0; i < TOPO_FW_RULES_MAX; i++, used += sizeof(rule) - 1)
		memcpy(text + used, rule, sizeof(rule));
	topo_free(load_ok(text));
	memcpy(text + used, rule, sizeof(rule));
	load_bad(text, "nb-", "t.yaml:5: hosts.a.firewall.rules: 65 rules: give at most 64");
}

static void test_fw_names(void **state)
{
	enum topo_fw_action a;
	enum topo_fw_dir d;
	enum topo_fw_proto p;

	assert_int_equal(topo_parse_fw_action("reject", &a), 0);
	assert_int_equal(a, TOPO_FW_REJECT);
	assert_int_equal(topo_parse_fw_action("DROP", &a), -1);
	assert_int_equal(topo_parse_fw_dir("out", &d), 0);
	assert_int_equal(d, TOPO_FW_DIR_OUT);
	assert_int_equal(topo_parse_fw_dir("both", &d), -1);
	assert_int_equal(topo_parse_fw_proto("icmp", &p), 0);
	assert_int_equal(p, TOPO_FW_PROTO_ICMP);
	assert_int_equal(topo_parse_fw_proto("sctp", &p), -1);
	assert_string_equal(topo_fw_action_name(TOPO_FW_ACCEPT), "accept");
	assert_string_equal(topo_fw_dir_name(TOPO_FW_DIR_ANY), "any");
	assert_string_equal(topo_fw_proto_name(TOPO_FW_PROTO_UDP), "udp");
	assert_null(topo_fw_proto_name((enum topo_fw_proto)9));
}

/* ---- bad files: tests/data/bad-*.yaml ---- */

/* Reads the "# expect: KEY: SUBSTRING" and "# expect-line: N" header. */
static int read_expect(const char *path, char *key, size_t keylen, char *sub, size_t sublen,
		       int *line)
{
	char l1[512], l2[128];
	const char *colon;
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -1;
	ok = fgets(l1, sizeof(l1), f) && fgets(l2, sizeof(l2), f);
	fclose(f);
	if (!ok || strncmp(l1, "# expect: ", 10) || sscanf(l2, "# expect-line: %d", line) != 1)
		return -1;
	l1[strcspn(l1, "\n")] = '\0';
	colon = strstr(l1 + 10, ": ");
	if (!colon || (size_t)(colon - (l1 + 10)) >= keylen)
		return -1;
	snprintf(key, keylen, "%.*s", (int)(colon - (l1 + 10)), l1 + 10);
	snprintf(sub, sublen, "%s", colon + 2);
	return 0;
}

/* One case; returns 0 when it fails as its header says. */
static int bad_case(const char *path)
{
	char key[128], sub[384], err[TOPO_ERR_MAX], want[1280];
	struct topo *t = NULL;
	int line;

	if (read_expect(path, key, sizeof(key), sub, sizeof(sub), &line) < 0) {
		print_error("%s: no '# expect: KEY: PROBLEM' / '# expect-line: N' header\n", path);
		return -1;
	}
	if (topo_load(path, "nb-", &t, err, sizeof(err)) == 0) {
		topo_free(t);
		print_error("%s: loaded, expected %s: %s\n", path, key, sub);
		return -1;
	}
	snprintf(want, sizeof(want), "%s:%d: %s: ", path, line, key);
	if (t || strncmp(err, want, strlen(want)) || !strstr(err + strlen(want), sub)) {
		print_error("%s:\n  got  '%s'\n  want '%s%s'\n", path, err, want, sub);
		return -1;
	}
	return 0;
}

static void test_bad_files(void **state)
{
	DIR *d = opendir(NATBED_TEST_DATA);
	struct dirent *e;
	char path[1024];
	int n = 0, failed = 0;
	size_t len;

	assert_non_null(d);
	while ((e = readdir(d))) {
		len = strlen(e->d_name);
		if (strncmp(e->d_name, "bad-", 4) || len < 5 ||
		    strcmp(e->d_name + len - 5, ".yaml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", NATBED_TEST_DATA, e->d_name);
		n++;
		failed += bad_case(path) < 0;
	}
	closedir(d);
	print_message("%d bad topology files, %d failed\n", n, failed);
	assert_true(n >= 16);
	assert_int_equal(failed, 0);
}

/* A topology of N NATs, a host behind each (allocated) and a public host
 * with ADDR, into a new buffer; NAT n<i> has public 198.19.<i/250>.<i%250+1>
 * and inside 10.<i/250>.<i%250>.0/24, but NAT OVERLAP (when >= 0), whose
 * inside is NAT 0's. Line of NAT i: 3 + i. */
static char *big_topo(int n, const char *addr, int overlap)
{
	size_t cap = (size_t)n * 160 + 512, off = 0;
	char *b = malloc(cap);
	int i;

	assert_non_null(b);
	off += (size_t)snprintf(b + off, cap - off, "name: big\nnats:\n");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(b + off, cap - off,
					"  n%d: { preset: full-cone, public: 198.19.%d.%d, "
					"inside: 10.%d.%d.0/24 }\n",
					i, i / 250, i % 250 + 1, i == overlap ? 0 : i / 250,
					i == overlap ? 0 : i % 250);
	off += (size_t)snprintf(b + off, cap - off, "hosts:\n  pub: { address: %s }\n", addr);
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(b + off, cap - off, "  h%d: { nat: n%d }\n", i, i);
	assert_true(off < cap);
	return b;
}

/* Thousands of NATs and hosts: names and addresses are found through the
 * loader's indexes, so the checks that compare an entity with all others
 * still name the right one, however far apart in the file. */
static void test_many(void **state)
{
	struct topo *t;
	char *b;

	b = big_topo(3000, "198.51.100.7", -1);
	t = load_ok(b);
	assert_int_equal(t->n_nats, 3000);
	assert_int_equal(t->n_hosts, 3001);
	assert_int_equal(t->hosts[3000].nat, 2999); /* h2999 behind n2999 */
	assert_addr(t->hosts[3000].addrs[0], "10.11.249.2");
	topo_free(t);
	free(b);
	/* the public host takes NAT n1234's public address */
	b = big_topo(3000, "198.19.4.235", -1);
	load_bad(b, "nb-",
		 "t.yaml:3004: hosts.pub.address: duplicate address 198.19.4.235 "
		 "(nats.n1234.public, line 1237)");
	free(b);
	/* ... or an address inside NAT n2500's prefix */
	b = big_topo(3000, "10.10.0.9", -1);
	load_bad(b, "nb-",
		 "t.yaml:3004: hosts.pub.address: public address 10.10.0.9 is inside "
		 "NAT n2500's prefix 10.10.0.0/24");
	free(b);
	/* NAT n2999's inside is n0's: the pair named from the later one */
	b = big_topo(3000, "198.51.100.7", 2999);
	load_bad(b, "nb-",
		 "t.yaml:3002: nats.n2999.inside: overlaps NAT n0's inside prefix 10.0.0.0/24");
	free(b);
}

/* Every file shipped in topologies/ loads. */
static void test_all_topologies(void **state)
{
	DIR *d = opendir(TOPOLOGIES_DIR);
	struct dirent *e;
	char path[1024], err[TOPO_ERR_MAX];
	struct topo *t;
	int n = 0, failed = 0;
	size_t len;

	assert_non_null(d);
	while ((e = readdir(d))) {
		len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 5, ".yaml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", TOPOLOGIES_DIR, e->d_name);
		n++;
		if (topo_load(path, "nb-", &t, err, sizeof(err)) < 0) {
			print_error("%s\n", err);
			failed++;
		}
		topo_free(t);
	}
	closedir(d);
	assert_true(n >= 4);
	assert_int_equal(failed, 0);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nat_names),
	    cmocka_unit_test(test_preset_table),
	    cmocka_unit_test(test_preset_load),
	    cmocka_unit_test(test_preset_override),
	    cmocka_unit_test(test_nat_pools),
	    cmocka_unit_test(test_lan),
	    cmocka_unit_test(test_two_sites),
	    cmocka_unit_test(test_cgnat_chain),
	    cmocka_unit_test(test_routed),
	    cmocka_unit_test(test_alloc),
	    cmocka_unit_test(test_scenario_and_misc),
	    cmocka_unit_test(test_scenario),
	    cmocka_unit_test(test_many_sites),
	    cmocka_unit_test(test_call_errors),
	    cmocka_unit_test(test_firewall),
	    cmocka_unit_test(test_firewall_max),
	    cmocka_unit_test(test_fw_names),
	    cmocka_unit_test(test_nat_tuning),
	    cmocka_unit_test(test_bad_files),
	    cmocka_unit_test(test_all_topologies),
	    cmocka_unit_test(test_many),
	};
	/* clang-format on */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
