/* Unit tests for natbed check (cli/check*.c): runs written here with
 * libpcap, packet by packet, as natbed-emu would have captured them: clean
 * ones pass; doctored ones (a leaked inside address, a packet through a
 * filter that should have dropped it, a mapping that changes under
 * endpoint-independent mapping, a claimed success with no packets, a
 * hairpin with hairpin off, a delivery after a mapping's timeout, a port
 * not preserved, a malformed STUN message, a delivery through a mapping the
 * event log says was flushed) fail, naming the capture file and the packet
 * numbers; a flush or a setting in the event log is followed (and nothing
 * judged within the slack of a setting), other run-time changes leave the
 * NAT's rows skipped; a DIR that is not a run's output is refused, saying
 * why. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "check_int.h"
#include "natbed/stun.h"
#include "pcapgen.h"
#include "results.h"

#define MS ((int64_t)NATBED_NS_PER_MS)
#define T0 ((int64_t)1700000000 * NATBED_NS_PER_S) /* capture times: any epoch */

/* alice and bob behind home (port-restricted unless a test changes it),
 * stun and peer on the internet. */
static const char *const topo_fmt =
    "name: doctored\n"
    "nats:\n"
    "  home: { preset: %s, public: 203.0.113.10, inside: 192.168.1.0/24%s }\n"
    "hosts:\n"
    "  stun: { addresses: [198.51.100.10] }\n"
    "  peer: { addresses: [198.51.100.20] }\n"
    "  alice: { nat: home, address: 192.168.1.10 }\n"
    "  bob: { nat: home, address: 192.168.1.11 }\n";

static const char *const cap_names[] = {"alice.pcap", "bob.pcap", "stun.pcap", "peer.pcap",
					"home-wan.pcap"};
#define N_CAPS (sizeof(cap_names) / sizeof(cap_names[0]))

enum { ALICE, BOB, STUN, PEER, WAN };

/* A run being written: one dumper per capture, each record numbered. */
struct run {
	char dir[64];
	pcap_t *dead;
	pcap_dumper_t *d[N_CAPS];
	uint32_t n[N_CAPS];
	uint16_t ipid;
	unsigned seq; /* makes each payload its own */
	char *out;    /* what natbed check printed */
	struct check_verdict v;
};

struct ep {
	const char *addr;
	uint16_t port;
};

static const struct ep alice = {"192.168.1.10", 5000}, bob = {"192.168.1.11", 6000};
static const struct ep stun = {"198.51.100.10", 3478}, stun_alt = {"198.51.100.10", 3479};
static const struct ep peer = {"198.51.100.20", 4000};

static void run_open(struct run *r, const char *preset, const char *extra)
{
	char path[128];
	FILE *f;
	size_t i;

	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "/tmp/natbed-check.XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(path, sizeof(path), "%s/topology.yaml", r->dir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, topo_fmt, preset, extra ? extra : "");
	fclose(f);
	r->dead = pcapgen_dead();
	for (i = 0; i < N_CAPS; i++) {
		snprintf(path, sizeof(path), "%s/%s", r->dir, cap_names[i]);
		assert_non_null(r->d[i] = pcap_dump_open(r->dead, path));
	}
}

/* One frame on capture c at time t: UDP from s to d carrying payload. */
static uint32_t frame(struct run *r, int c, int64_t t, struct ep s, struct ep d,
		      const uint8_t *payload, size_t len, uint16_t ipid)
{
	pcapgen_udp(r->d[c], t, s.addr, s.port, d.addr, d.port, payload, len, ipid,
		    c == WAN ? 63 : 64);
	return ++r->n[c];
}

/* A payload of its own: a STUN Binding request (RFC 8489) with a fresh
 * transaction id, or plain bytes. */
static size_t payload(struct run *r, bool is_stun, uint8_t *buf)
{
	r->seq++;
	if (!is_stun)
		return (size_t)snprintf((char *)buf, 64, "datagram %u", r->seq);
	memset(buf, 0, STUN_HEADER_LEN);
	buf[1] = 0x01; /* Binding request, no attribute */
	buf[4] = 0x21, buf[5] = 0x12, buf[6] = 0xa4, buf[7] = 0x42;
	memcpy(buf + 8, &r->seq, sizeof(r->seq));
	return STUN_HEADER_LEN;
}

/* The packet numbers one crossing got on each capture it is on (0: not). */
struct nums {
	uint32_t in, wan, far;
};

/* From inside endpoint in (on capture ci) to the internet endpoint to
 * (capture cf) leaving the NAT as ext: on the three captures, 1 ms apart. */
static struct nums out(struct run *r, int64_t t, int ci, struct ep in, struct ep ext, int cf,
		       struct ep to)
{
	uint8_t p[64];
	size_t len = payload(r, to.port == 3478, p);
	uint16_t id = ++r->ipid;
	struct nums n = {frame(r, ci, T0 + t, in, to, p, len, id),
			 frame(r, WAN, T0 + t + MS, ext, to, p, len, id),
			 frame(r, cf, T0 + t + 2 * MS, ext, to, p, len, id)};
	return n;
}

/* From the internet endpoint from (capture cf) to ext, delivered to in
 * (capture ci) when ci >= 0. */
static struct nums in(struct run *r, int64_t t, int cf, struct ep from, struct ep ext, int ci,
		      struct ep to)
{
	uint8_t p[64];
	size_t len = payload(r, false, p);
	uint16_t id = ++r->ipid;
	struct nums n = {0};

	n.far = frame(r, cf, T0 + t, from, ext, p, len, id);
	n.wan = frame(r, WAN, T0 + t + MS, from, ext, p, len, id);
	if (ci >= 0)
		n.in = frame(r, ci, T0 + t + 2 * MS, from, to, p, len, id);
	return n;
}

/* Closes the captures, runs natbed check on the directory. */
static void run_check(struct run *r, struct results *res)
{
	struct check_opts o = {.results = res, .listed = 100};
	char err[512] = "";
	size_t len = 0, i;
	FILE *f;

	for (i = 0; i < N_CAPS; i++)
		pcap_dump_close(r->d[i]);
	pcap_close(r->dead);
	assert_non_null(f = open_memstream(&r->out, &len));
	o.out = f;
	if (check_run(r->dir, &o, &r->v, err, sizeof(err)) < 0)
		fail_msg("check_run: %s", err);
	fclose(f);
	fputs(r->out, stderr);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void run_close(struct run *r)
{
	nftw(r->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(r->out);
}

/* The output names this violation line: "SUBJECT CHECK: REFS: ..." */
static void assert_says(const struct run *r, const char *fmt, ...)
{
	char want[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	if (!strstr(r->out, want))
		fail_msg("the output does not say \"%s\"", want);
}

/* The row SUBJECT CHECK has RESULT. */
static void assert_row(const struct run *r, const char *subject, const char *check,
		       const char *result)
{
	const char *at = r->out;

	for (; (at = strstr(at, subject)); at++) {
		const char *line_start = at;

		if (at != r->out && at[-1] != '\n')
			continue;
		at += strlen(subject);
		while (*at == ' ')
			at++;
		if (strncmp(at, check, strlen(check)) != 0)
			continue;
		at += strlen(check);
		while (*at == ' ')
			at++;
		if (strncmp(at, result, strlen(result)) != 0)
			fail_msg("row %s %s is not %s: %.60s", subject, check, result, line_start);
		return;
	}
	fail_msg("no row %s %s", subject, check);
}

/* The run failed on home's rule `check`, naming the arrival n in both
 * captures. */
static void assert_caught(const struct run *r, const char *check, struct nums n)
{
	assert_false(r->v.passed);
	assert_row(r, "home", check, "FAIL");
	assert_says(r, "home %s: home-wan.pcap #%u, alice.pcap #%u", check, n.wan, n.in);
}

/* A clean exchange: alice with stun and with peer through one mapping,
 * both answering. */
static void clean(struct run *r)
{
	const struct ep ext = {"203.0.113.10", 5000};

	out(r, 0, ALICE, alice, ext, STUN, stun);
	in(r, 10 * MS, STUN, stun, ext, ALICE, alice);
	out(r, 20 * MS, ALICE, alice, ext, PEER, peer);
	in(r, 30 * MS, PEER, peer, ext, ALICE, alice);
	/* an unsolicited arrival the filter drops: not delivered */
	in(r, 40 * MS, STUN, stun_alt, ext, -1, alice);
}

static void test_clean_passes(void **state)
{
	struct run r;

	run_open(&r, "port-restricted", NULL);
	clean(&r);
	run_check(&r, NULL);
	assert_true(r.v.passed);
	assert_int_equal(r.v.n_violations, 0);
	assert_row(&r, "home", "leak", "pass");
	assert_row(&r, "home", "mapping", "pass");
	assert_row(&r, "home", "filtering", "pass");
	assert_row(&r, "stun", "well-formed", "pass");
	assert_says(&r, "1 mappings (endpoint-independent) from 2 of 2 packets out");
	assert_says(&r, "2 arrivals delivered, 1 not (address-and-port-dependent)");
	assert_says(&r, "3 STUN messages on 5 captures"); /* alice's, home's, stun's copy */
	assert_string_equal(r.v.summary, "pass: 8 checks, 1 skipped");
	run_close(&r);
}

static void test_leak_caught(void **state)
{
	struct run r;
	uint8_t p[64];
	size_t len;
	uint32_t no;

	run_open(&r, "port-restricted", NULL);
	clean(&r);
	/* a packet left untranslated */
	len = payload(&r, false, p);
	no = frame(&r, WAN, T0 + 50 * MS, alice, peer, p, len, 77);
	run_check(&r, NULL);
	assert_false(r.v.passed);
	assert_row(&r, "home", "leak", "FAIL");
	assert_says(&r,
		    "home leak: home-wan.pcap #%u: 192.168.1.10 -> 198.51.100.20: inside address "
		    "192.168.1.10",
		    no);
	run_close(&r);
}

static void test_filter_caught(void **state)
{
	struct run r;
	const struct ep ext = {"203.0.113.10", 5000};
	struct nums n;

	run_open(&r, "port-restricted", NULL);
	clean(&r);
	/* from stun's other port, which alice never sent to: delivered */
	n = in(&r, 60 * MS, STUN, stun_alt, ext, ALICE, alice);
	run_check(&r, NULL);
	assert_false(r.v.passed);
	assert_row(&r, "home", "filtering", "FAIL");
	assert_row(&r, "home", "mapping", "pass");
	assert_says(&r,
		    "home filtering: home-wan.pcap #%u, alice.pcap #%u, home-wan.pcap #3: "
		    "198.51.100.10:3479 reached 192.168.1.10:5000 through 203.0.113.10:5000",
		    n.wan, n.in);
	assert_int_equal(r.v.n_violations, 1);
	run_close(&r);
}

/* The same delivery through a full-cone NAT is no violation. */
static void test_filter_full_cone_allows(void **state)
{
	struct run r;
	const struct ep ext = {"203.0.113.10", 5000};

	run_open(&r, "full-cone", NULL);
	clean(&r);
	in(&r, 60 * MS, STUN, stun_alt, ext, ALICE, alice);
	run_check(&r, NULL);
	assert_true(r.v.passed);
	run_close(&r);
}

static void test_eim_change_caught(void **state)
{
	struct run r;
	const struct ep ext = {"203.0.113.10", 5000}, other = {"203.0.113.10", 5001};
	struct nums a, b;

	run_open(&r, "port-restricted", NULL);
	a = out(&r, 0, ALICE, alice, ext, STUN, stun);
	/* the same inside endpoint to another destination, another port */
	b = out(&r, 20 * MS, ALICE, alice, other, PEER, peer);
	run_check(&r, NULL);
	assert_false(r.v.passed);
	assert_row(&r, "home", "mapping", "FAIL");
	assert_says(&r,
		    "home mapping: home-wan.pcap #%u, alice.pcap #%u, home-wan.pcap #%u: udp "
		    "192.168.1.10:5000 -> 198.51.100.20:4000 left as 203.0.113.10:5001, but its "
		    "mapping 192.168.1.10:5000 -> 203.0.113.10:5000",
		    b.wan, b.in, a.wan);
	run_close(&r);
}

/* Under address-and-port-dependent mapping (symmetric) the same two
 * packets are right, and one port for both would be wrong. */
static void test_apdm_per_destination(void **state)
{
	struct run r;
	const struct ep ext = {"203.0.113.10", 40000}, other = {"203.0.113.10", 51000};

	run_open(&r, "symmetric", NULL);
	out(&r, 0, ALICE, alice, ext, STUN, stun);
	out(&r, 20 * MS, ALICE, alice, other, PEER, peer);
	out(&r, 40 * MS, ALICE, alice, ext, STUN, stun);
	run_check(&r, NULL);
	assert_true(r.v.passed);
	run_close(&r);

	run_open(&r, "symmetric", NULL);
	out(&r, 0, ALICE, alice, ext, STUN, stun);
	out(&r, 20 * MS, ALICE, alice, ext, PEER, peer);
	run_check(&r, NULL);
	assert_false(r.v.passed);
	assert_says(&r, "never shared");
	run_close(&r);
}

/* The clean run with results.json holding the one attempt at. */
static void run_claim(struct run *r, const struct res_attempt *at)
{
	struct results *res = results_new("doctored", 1, 0);

	assert_non_null(res);
	assert_int_equal(results_add_attempt(res, at), 0);
	run_open(r, "port-restricted", NULL);
	clean(r);
	run_check(r, res);
	results_free(res);
}

static void test_claimed_success_without_packets(void **state)
{
	const struct res_try tried[] = {{"direct", true, 12.0, NULL}};
	struct res_attempt at = {
	    .a = "alice",
	    .b = "peer",
	    .nat_a = "port-restricted",
	    .nat_b = "open",
	    .method = "direct",
	    .success = true,
	    .setup_ms = 12.0,
	    .rtt_ms = 1.0,
	    .loss = 0,
	    .path = "direct",
	    .local = "192.168.1.10:7000",
	    .remote = "198.51.100.20:4000",
	    .tried = tried,
	    .n_tried = 1,
	};
	struct run r;

	run_claim(&r, &at);
	assert_false(r.v.passed);
	assert_row(&r, "attempts", "backed", "FAIL");
	assert_says(&r,
		    "attempts backed: attempt 1 (alice -> peer, direct, direct): claims success, "
		    "but alice.pcap shows no packet from 192.168.1.10:7000 to 198.51.100.20:4000");
	run_close(&r);

	/* the same claim on the endpoints that did exchange packets is backed */
	at.local = "192.168.1.10:5000";
	run_claim(&r, &at);
	assert_true(r.v.passed);
	assert_row(&r, "attempts", "backed", "pass");
	run_close(&r);

	/* local as alice's external endpoint (a method may report it so):
	 * backed when peer sent to it, not when it names another port */
	at.local = "203.0.113.10:5000";
	run_claim(&r, &at);
	assert_true(r.v.passed);
	run_close(&r);
	at.local = "203.0.113.10:5999";
	run_claim(&r, &at);
	assert_false(r.v.passed);
	assert_says(&r, "peer.pcap #2: attempt 1 (alice -> peer, direct, direct): claims success, "
			"but peer.pcap shows peer sending to 203.0.113.10:5000, not to the local "
			"203.0.113.10:5999 claimed");
	run_close(&r);
}

static void test_hairpin_off_caught(void **state)
{
	struct run r;
	const struct ep ext_a = {"203.0.113.10", 5000}, ext_b = {"203.0.113.10", 6000};
	uint8_t p[64];
	size_t len;
	uint32_t sent, got;

	run_open(&r, "port-restricted", NULL);
	clean(&r);
	out(&r, 50 * MS, BOB, bob, ext_b, STUN, stun);
	/* alice to bob's public endpoint, turned back in though hairpin is off */
	len = payload(&r, false, p);
	sent = frame(&r, ALICE, T0 + 60 * MS, alice, ext_b, p, len, 500);
	got = frame(&r, BOB, T0 + 62 * MS, ext_a, bob, p, len, 500);
	run_check(&r, NULL);
	assert_false(r.v.passed);
	assert_row(&r, "home", "hairpin", "FAIL");
	assert_says(&r,
		    "home hairpin: alice.pcap #%u, bob.pcap #%u: 192.168.1.10:5000 sent to "
		    "203.0.113.10:6000 and it came back in to 192.168.1.11:6000, but hairpin "
		    "is off",
		    sent, got);
	run_close(&r);
}

static void test_timeout_caught(void **state)
{
	struct run r;
	const struct ep ext = {"203.0.113.10", 5000};
	struct nums n;

	run_open(&r, "full-cone", ", timeout: 2s");
	out(&r, 0, ALICE, alice, ext, STUN, stun);
	/* 10 s later, nothing in between: the mapping was gone */
	n = in(&r, 10000 * MS, PEER, peer, ext, ALICE, alice);
	run_check(&r, NULL);
	assert_caught(&r, "timeout", n);
	assert_row(&r, "home", "filtering", "pass");
	assert_says(&r, "after its mapping");
	run_close(&r);

	/* within the timeout it is a full cone's right */
	run_open(&r, "full-cone", ", timeout: 2s");
	out(&r, 0, ALICE, alice, ext, STUN, stun);
	in(&r, 1000 * MS, PEER, peer, ext, ALICE, alice);
	run_check(&r, NULL);
	assert_true(r.v.passed);
	run_close(&r);
}

static void test_port_not_preserved_caught(void **state)
{
	struct run r;
	const struct ep ext = {"203.0.113.10", 5007};
	struct nums n;

	run_open(&r, "port-restricted", NULL);
	n = out(&r, 0, ALICE, alice, ext, STUN, stun);
	run_check(&r, NULL);
	assert_false(r.v.passed);
	assert_row(&r, "home", "ports", "FAIL");
	assert_says(&r,
		    "home ports: home-wan.pcap #%u, alice.pcap #%u: inside port 5000 was free, "
		    "but the new mapping took 203.0.113.10:5007",
		    n.wan, n.in);
	run_close(&r);
}

static void test_sequential(void **state)
{
	struct run r;

	/* symmetric-sequential: new mappings at 1024, 1025, ... */
	run_open(&r, "symmetric-sequential", NULL);
	out(&r, 0, ALICE, alice, (struct ep){"203.0.113.10", 1024}, STUN, stun);
	out(&r, 10 * MS, ALICE, alice, (struct ep){"203.0.113.10", 1025}, PEER, peer);
	out(&r, 20 * MS, BOB, bob, (struct ep){"203.0.113.10", 1026}, PEER, peer);
	run_check(&r, NULL);
	assert_true(r.v.passed);
	run_close(&r);

	run_open(&r, "symmetric-sequential", NULL);
	out(&r, 0, ALICE, alice, (struct ep){"203.0.113.10", 1024}, STUN, stun);
	out(&r, 10 * MS, ALICE, alice, (struct ep){"203.0.113.10", 1030}, PEER, peer);
	run_check(&r, NULL);
	assert_false(r.v.passed);
	assert_says(&r, "the next sequential port was 1025 (stride 1), but the new mapping took "
			"203.0.113.10:1030");
	run_close(&r);
}

static void test_bad_stun_caught(void **state)
{
	struct run r;
	uint8_t p[STUN_HEADER_LEN + 4] = {0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42};
	uint32_t no;

	run_open(&r, "port-restricted", NULL);
	clean(&r);
	/* a Binding request whose length field says 8 bytes: 4 are there */
	no = frame(&r, STUN, T0 + 70 * MS, peer, stun, p, sizeof(p), 900);
	run_check(&r, NULL);
	assert_false(r.v.passed);
	assert_row(&r, "stun", "well-formed", "FAIL");
	assert_says(&r,
		    "stun well-formed: stun.pcap #%u: 198.51.100.20:4000 -> 198.51.100.10:3478: "
		    "malformed STUN message (length_overrun)",
		    no);
	run_close(&r);
}

/* Without the NAT's outside capture its rows are skipped, not passed. */
static void test_missing_capture_skips(void **state)
{
	struct check_opts o = {0};
	struct run r;
	char path[128], err[256];
	size_t len = 0;
	FILE *f;

	run_open(&r, "port-restricted", NULL);
	clean(&r);
	run_check(&r, NULL); /* closes the captures */
	snprintf(path, sizeof(path), "%s/home-wan.pcap", r.dir);
	assert_int_equal(unlink(path), 0);
	free(r.out);
	assert_non_null(f = open_memstream(&r.out, &len));
	o.out = f;
	assert_int_equal(check_run(r.dir, &o, &r.v, err, sizeof(err)), 0);
	fclose(f);
	assert_true(r.v.passed);
	assert_row(&r, "home", "leak", "skip");
	assert_row(&r, "home", "mapping", "skip");
	assert_says(&r, "no home-wan.pcap");
	run_close(&r);
}

/* A NAT-PMP mapping (RFC 6886 §3.3) home granted alice's port 7000 as
 * external port 7000, its request and answer on alice's capture. */
static void pmp_granted(struct run *r, int64_t t, bool answered)
{
	const struct ep gw = {"192.168.1.1", 5351}, from = {"192.168.1.10", 40001};
	uint8_t req[12] = {0, 1, 0, 0, 0x1b, 0x58, 0x1b, 0x58, 0, 0, 0x0e, 0x10};
	uint8_t ans[16] = {0, 129, 0, 0, 0, 0, 0, 9, 0x1b, 0x58, 0x1b, 0x58, 0, 0, 0x0e, 0x10};

	frame(r, ALICE, T0 + t, from, gw, req, sizeof(req), ++r->ipid);
	if (answered)
		frame(r, ALICE, T0 + t + MS, gw, from, ans, sizeof(ans), ++r->ipid);
}

/* A NAT with `pcp: true` that granted a mapping by request: datagrams
 * from anyone through it are no filtering violation (it is endpoint-
 * independent by RFC 6886), nor is the rest of the NAT left unjudged; a
 * request with no answer in the captures leaves the NAT unjudged, as a
 * mapping it may have made is unknown. */
static void test_pcp_mapping_followed(void **state)
{
	const struct ep mapped = {"192.168.1.10", 7000}, ext = {"203.0.113.10", 7000};
	struct run r;

	run_open(&r, "port-restricted", ", pcp: true");
	clean(&r);
	pmp_granted(&r, 50 * MS, true);
	/* peer, never sent to from port 7000, reaches it through the mapping */
	in(&r, 60 * MS, PEER, peer, ext, ALICE, mapped);
	run_check(&r, NULL);
	assert_true(r.v.passed);
	assert_row(&r, "home", "mapping", "pass");
	assert_row(&r, "home", "filtering", "pass");
	assert_says(&r, "2 arrivals delivered, 1 not (address-and-port-dependent)");
	assert_says(&r, "from 2 of 2 packets out; 1 packets through mappings granted by PCP or "
			"NAT-PMP left out");
	run_close(&r);

	/* the same arrival with no mapping granted: caught */
	run_open(&r, "port-restricted", ", pcp: true");
	clean(&r);
	in(&r, 60 * MS, PEER, peer, ext, ALICE, mapped);
	run_check(&r, NULL);
	assert_false(r.v.passed);
	assert_row(&r, "home", "filtering", "FAIL");
	run_close(&r);

	/* asked, never answered */
	run_open(&r, "port-restricted", ", pcp: true");
	clean(&r);
	pmp_granted(&r, 50 * MS, false);
	run_check(&r, NULL);
	assert_row(&r, "home", "mapping", "skip");
	assert_says(&r, "a PCP or NAT-PMP request has no answer in the captures");
	run_close(&r);
}

/* A line of the run's event log (events.jsonl). */
static void evlog_add(struct run *r, const char *fmt, ...)
{
	char path[128];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/events.jsonl", r->dir);
	assert_non_null(f = fopen(path, "a"));
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

/* natbed ctl nat home flush at t ms, as natbed-emu logs it. */
static void evlog_flush(struct run *r, int64_t t)
{
	evlog_add(r,
		  "{\"t_ns\":1,\"event\":\"nat_flush\",\"nat\":\"home\",\"flushed\":1,"
		  "\"capture_ns\":%lld}",
		  (long long)(T0 + t * MS));
}

/* alice with stun through 203.0.113.10:1024, then (after whatever the
 * caller logs at 2 s) with peer through the next sequential port, 1025,
 * and stun again to the old port, not delivered. */
static void around_flush(struct run *r)
{
	const struct ep ext = {"203.0.113.10", 1024}, ext2 = {"203.0.113.10", 1025};

	out(r, 0, ALICE, alice, ext, STUN, stun);
	in(r, 10 * MS, STUN, stun, ext, ALICE, alice);
	out(r, 3000 * MS, ALICE, alice, ext2, PEER, peer);
	in(r, 3010 * MS, PEER, peer, ext2, ALICE, alice);
	in(r, 3020 * MS, STUN, stun, ext, -1, alice);
}

/* natbed ctl nat home flush (a reboot) at 2 s: the model ends every
 * mapping then and judges on; without the log line the same captures
 * break endpoint-independent mapping. */
static void test_flush_followed(void **state)
{
	struct run r;

	run_open(&r, "port-restricted", ", ports: sequential");
	around_flush(&r);
	evlog_flush(&r, 2000);
	run_check(&r, NULL);
	assert_true(r.v.passed);
	assert_row(&r, "home", "mapping", "pass");
	assert_row(&r, "home", "ports", "pass");
	assert_row(&r, "home", "timeout", "pass");
	assert_says(&r,
		    "2 mappings (endpoint-independent) from 2 of 2 packets out, across 1 flush");
	run_close(&r);

	run_open(&r, "port-restricted", ", ports: sequential");
	around_flush(&r);
	run_check(&r, NULL);
	assert_false(r.v.passed);
	assert_row(&r, "home", "mapping", "FAIL");
	assert_says(&r, "left as 203.0.113.10:1025, but its mapping");
	run_close(&r);
}

/* After the flush the old mapping still lets an answer in: caught, the
 * flush named. */
static void test_flushed_mapping_used_caught(void **state)
{
	struct run r;
	const struct ep ext = {"203.0.113.10", 1024};
	struct nums n;

	run_open(&r, "port-restricted", ", ports: sequential");
	out(&r, 0, ALICE, alice, ext, STUN, stun);
	in(&r, 10 * MS, STUN, stun, ext, ALICE, alice);
	evlog_flush(&r, 2000);
	n = in(&r, 3000 * MS, STUN, stun, ext, ALICE, alice);
	run_check(&r, NULL);
	assert_caught(&r, "timeout", n);
	assert_says(&r, "was flushed (events.jsonl line 1)");
	run_close(&r);
}

/* A mapping used within the slack before the flush may have been used
 * after it (made again at once): an answer through it later is not
 * judged; one idle before the flush is. */
static void test_flush_slack(void **state)
{
	const struct ep ext = {"203.0.113.10", 5000};
	struct run r;
	int k;

	for (k = 0; k < 2; k++) {
		run_open(&r, "port-restricted", NULL);
		out(&r, 0, ALICE, alice, ext, STUN, stun);
		if (k == 0)
			out(&r, 1900 * MS, ALICE, alice, ext, STUN, stun);
		in(&r, 4000 * MS, STUN, stun, ext, ALICE, alice);
		evlog_flush(&r, 2000);
		run_check(&r, NULL);
		if (k == 0) {
			assert_true(r.v.passed);
		} else {
			assert_false(r.v.passed);
			assert_row(&r, "home", "timeout", "FAIL");
			assert_says(&r, "was flushed (events.jsonl line 1)");
		}
		run_close(&r);
	}
}

/* A flow going on across the flush: the NAT made its mapping again on
 * the same port, its filter open only to where it sent since. peer, sent
 * to before the flush only, let in after it: caught. */
static void test_flush_forgets_permissions(void **state)
{
	const struct ep ext = {"203.0.113.10", 5000};
	struct run r;
	struct nums n;

	run_open(&r, "port-restricted", NULL);
	out(&r, 0, ALICE, alice, ext, PEER, peer);
	out(&r, 1000 * MS, ALICE, alice, ext, STUN, stun);
	out(&r, 2000 * MS, ALICE, alice, ext, STUN, stun);
	evlog_flush(&r, 2100);
	out(&r, 2200 * MS, ALICE, alice, ext, STUN, stun);
	n = in(&r, 5000 * MS, PEER, peer, ext, ALICE, alice);
	run_check(&r, NULL);
	assert_caught(&r, "filtering", n);
	run_close(&r);
}

/* natbed ctl nat home set KEY VALUE at 2 s, as natbed-emu logs it. */
static void evlog_set(struct run *r, const char *key, const char *value)
{
	evlog_add(r,
		  "{\"t_ns\":1,\"event\":\"nat_set\",\"nat\":\"home\",\"key\":\"%s\","
		  "\"value\":\"%s\",\"capture_ns\":%lld}",
		  key, value, (long long)(T0 + 2000 * MS));
}

/* A filter opened at run time (port-restricted to endpoint-independent at
 * 2 s): peer, never sent to, is let in after it. Followed, that passes;
 * without the log line it breaks the filtering the topology gave. */
static void test_setting_followed(void **state)
{
	const struct ep ext = {"203.0.113.10", 5000};
	struct run r;
	int k;

	for (k = 0; k < 2; k++) {
		run_open(&r, "port-restricted", NULL);
		out(&r, 0, ALICE, alice, ext, STUN, stun);
		in(&r, 10 * MS, STUN, stun, ext, ALICE, alice);
		in(&r, 3000 * MS, PEER, peer, ext, ALICE, alice);
		if (k == 0)
			evlog_set(&r, "filtering", "endpoint-independent");
		run_check(&r, NULL);
		if (k == 0) {
			assert_true(r.v.passed);
			assert_row(&r, "home", "filtering", "pass");
			assert_says(&r,
				    "1 mappings (endpoint-independent) from 1 of 1 packets out, "
				    "across 1 setting");
			assert_says(&r, "2 arrivals delivered, 0 not (endpoint-independent)");
		} else {
			assert_false(r.v.passed);
			assert_row(&r, "home", "filtering", "FAIL");
		}
		run_close(&r);
	}
}

/* A filter closed at run time (full cone to port-restricted at 2 s): an
 * arrival from peer within the slack of the change is not judged, one
 * after it is caught. */
static void test_setting_window(void **state)
{
	const struct ep ext = {"203.0.113.10", 5000};
	struct run r;
	struct nums n;

	run_open(&r, "full-cone", NULL);
	out(&r, 0, ALICE, alice, ext, STUN, stun);
	in(&r, 1000 * MS, PEER, peer, ext, ALICE, alice);
	in(&r, 2200 * MS, PEER, peer, ext, ALICE, alice);
	evlog_set(&r, "filtering", "address-and-port-dependent");
	run_check(&r, NULL);
	assert_true(r.v.passed);
	run_close(&r);

	run_open(&r, "full-cone", NULL);
	out(&r, 0, ALICE, alice, ext, STUN, stun);
	in(&r, 2200 * MS, PEER, peer, ext, ALICE, alice);
	n = in(&r, 3000 * MS, PEER, peer, ext, ALICE, alice);
	evlog_set(&r, "filtering", "address-and-port-dependent");
	run_check(&r, NULL);
	assert_caught(&r, "filtering", n);
	assert_int_equal(r.v.n_violations, 1);
	run_close(&r);
}

/* A change the model cannot follow leaves the NAT's rows unjudged: a
 * setting or a flush logged without its capture time (an older
 * natbed-emu), or a setting that does not apply. */
static void test_unfollowed_change_skips(void **state)
{
	static const char *const lines[] = {
	    "{\"t_ns\":1,\"event\":\"nat_set\",\"nat\":\"home\",\"key\":\"mapping\","
	    "\"value\":\"address-dependent\"}",
	    "{\"t_ns\":1,\"event\":\"nat_flush\",\"nat\":\"home\",\"flushed\":1}",
	    "{\"t_ns\":1,\"event\":\"nat_set\",\"nat\":\"home\",\"key\":\"colour\","
	    "\"value\":\"blue\",\"capture_ns\":1}",
	};
	static const char *const says[] = {
	    "changed at run time (events.jsonl line 1: nat_set, logged "
	    "without its time by an older natbed-emu)",
	    "changed at run time (events.jsonl line 1: nat_flush, logged "
	    "without its time by an older natbed-emu)",
	    "changed at run time (events.jsonl line 1: set colour blue: "
	    "unknown NAT key 'colour'"};
	struct run r;
	size_t i;

	for (i = 0; i < 3; i++) {
		run_open(&r, "port-restricted", ", ports: sequential");
		around_flush(&r);
		evlog_add(&r, "%s", lines[i]);
		run_check(&r, NULL);
		assert_true(r.v.passed);
		assert_row(&r, "home", "mapping", "skip");
		assert_row(&r, "home", "leak", "pass");
		assert_says(&r, "%s", says[i]);
		run_close(&r);
	}
}

/* A directory that is not a run is an error, not a verdict, saying what it
 * is: missing, a file, a directory without topology.yaml (with --topology:
 * without captures). */
static void test_not_a_run(void **state)
{
	struct check_opts o = {0};
	struct check_verdict v;
	char dir[64], path[128], err[512];
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/natbed-check.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(check_run(path, &o, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/missing: no such directory (DIR is a run's output"));
	snprintf(path, sizeof(path), "%s/topology.yaml", dir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, topo_fmt, "full-cone", "");
	fclose(f);
	assert_int_equal(check_run(path, &o, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/topology.yaml: not a directory (DIR is a run's output"));
	o.topology = path;
	assert_int_equal(check_run(dir, &o, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ": no capture of topology"));
	assert_int_equal(unlink(path), 0);
	o.topology = NULL;
	assert_int_equal(check_run(dir, &o, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, " has no topology.yaml: not a run's output"));
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean_passes),
	    cmocka_unit_test(test_leak_caught),
	    cmocka_unit_test(test_filter_caught),
	    cmocka_unit_test(test_filter_full_cone_allows),
	    cmocka_unit_test(test_eim_change_caught),
	    cmocka_unit_test(test_apdm_per_destination),
	    cmocka_unit_test(test_claimed_success_without_packets),
	    cmocka_unit_test(test_hairpin_off_caught),
	    cmocka_unit_test(test_timeout_caught),
	    cmocka_unit_test(test_port_not_preserved_caught),
	    cmocka_unit_test(test_sequential),
	    cmocka_unit_test(test_bad_stun_caught),
	    cmocka_unit_test(test_missing_capture_skips),
	    cmocka_unit_test(test_not_a_run),
	    cmocka_unit_test(test_pcp_mapping_followed),
	    cmocka_unit_test(test_flush_followed),
	    cmocka_unit_test(test_flushed_mapping_used_caught),
	    cmocka_unit_test(test_unfollowed_change_skips),
	    cmocka_unit_test(test_setting_followed),
	    cmocka_unit_test(test_flush_slack),
	    cmocka_unit_test(test_flush_forgets_permissions),
	    cmocka_unit_test(test_setting_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
