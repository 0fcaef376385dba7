/* Unit tests for the traversal methods (agents/method_*.c) in virtual time:
 * two agents, their NATs (the emulator's engine, linked, answering PCP and
 * NAT-PMP where the topology says pcp: true), a STUN server and a TURN
 * server (agents/turnd.c), all in one process (tests/unit/methnet.c).
 * Every cell of the table in docs/methods.md, read from that file, for
 * every method, both ways round; the priors it prints; retransmission
 * after a dropped first check; the failure reasons; strays counted and
 * ignored; packet bounds and rates; the predict window; the relay path
 * through the TURN server alone; the mapping portmap leaves or deletes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "method.h"
#include "method_checks.h"
#include "methnet.h"
#include "nat.h"
#include "nbstun.h"
#include "peermsg.h"
#include "turnd.h"
#include "turnsock.h"

#define T_MS	  NATBED_NS_PER_MS
#define T_TRY_ID  0x5eed0000c0ffee00ull
#define T_STUN	  "198.51.100.10"
#define T_TURN	  "198.51.100.40"
#define T_MALLORY "mallory"

static const char t_topo[] =
    "name: methods\n"
    "internet: { link: { delay: 10ms } }\n"
    "defaults: { link: { delay: 5ms } }\n"
    "nats:\n"
    "  nfc1: { preset: full-cone, public: 203.0.113.1, inside: 10.1.0.0/24 }\n"
    "  nfc2: { preset: full-cone, public: 203.0.113.2, inside: 10.2.0.0/24 }\n"
    "  nrc1: { preset: restricted-cone, public: 203.0.113.3, inside: 10.3.0.0/24 }\n"
    "  nrc2: { preset: restricted-cone, public: 203.0.113.4, inside: 10.4.0.0/24 }\n"
    "  nprc1: { preset: port-restricted, public: 203.0.113.5, inside: 10.5.0.0/24 }\n"
    "  nprc2: { preset: port-restricted, public: 203.0.113.6, inside: 10.6.0.0/24 }\n"
    "  nsym1: { preset: symmetric, public: 203.0.113.7, inside: 10.7.0.0/24 }\n"
    "  nsym2: { preset: symmetric, public: 203.0.113.8, inside: 10.8.0.0/24 }\n"
    "  nseq1: { preset: symmetric-sequential, public: 203.0.113.9, inside: 10.9.0.0/24 }\n"
    "  nseq2: { preset: symmetric-sequential, public: 203.0.113.10, inside: 10.10.0.0/24 }\n"
    "  nlan: { preset: port-restricted, public: 203.0.113.11, inside: 192.168.50.0/24 }\n"
    "  nsymp1: { preset: symmetric, pcp: true, public: 203.0.113.12, inside: 10.12.0.0/24 }\n"
    "  nsymp2: { preset: symmetric, pcp: true, public: 203.0.113.13, inside: 10.13.0.0/24 }\n"
    "  nblk: { preset: symmetric, pcp: true, port-block: 512, public: 203.0.113.14,\n"
    "          inside: 10.14.0.0/24 }\n"
    "  npool: { preset: symmetric, pcp: true, pool: 1, public: 203.0.113.15,\n"
    "           inside: 10.15.0.0/24 }\n"
    "  nlm1: { preset: linux-masquerade, public: 203.0.113.16, inside: 10.16.0.0/24 }\n"
    "hosts:\n"
    "  stun: { addresses: [198.51.100.10, 198.51.100.11] }\n"
    "  turn: { address: 198.51.100.40 }\n"
    "  fc1: { nat: nfc1 }\n"
    "  fc2: { nat: nfc2 }\n"
    "  rc1: { nat: nrc1 }\n"
    "  rc2: { nat: nrc2 }\n"
    "  prc1: { nat: nprc1 }\n"
    "  prc2: { nat: nprc2 }\n"
    "  sym1: { nat: nsym1 }\n"
    "  sym2: { nat: nsym2 }\n"
    "  seq1: { nat: nseq1 }\n"
    "  seq1b: { nat: nseq1 }\n"
    "  seq2: { nat: nseq2 }\n"
    "  pub1: { address: 198.51.100.21 }\n"
    "  pub2: { address: 198.51.100.22 }\n"
    "  mallory: { address: 198.51.100.66 }\n"
    "  lan1: { nat: nlan }\n"
    "  lan2: { nat: nlan }\n"
    "  symp1: { nat: nsymp1 }\n"
    "  symp2: { nat: nsymp2 }\n"
    "  blk1: { nat: nblk }\n"
    "  pool1: { nat: npool }\n"
    "  lm1: { nat: nlm1 }\n";

static struct topo *t_topology;

/* --- an agent around one try --------------------------------------------- */

struct tagent {
	struct mnet *n;
	const char *host;
	const struct dgram *dg; /* the host's, or its turnsock's over it */
	struct turnsock *ts;	/* its TURN allocation, or NULL */
	int sock;
	struct dg_ep local, srflx;
	bool has_srflx;
	uint8_t txid[STUN_TXID_LEN];
	struct trav_try t;
	bool stopped;
	int done_calls;
	unsigned not_ours;    /* datagrams of the agent's socket the try handed back */
	natbed_time_t linger; /* stop this long after done (0: at once) */
	bool restun;	      /* ask the STUN server again once done */
};

static void ta_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		  natbed_time_t now)
{
	struct tagent *a = arg;
	struct sockaddr_storage ss;
	struct stun_msg m;

	bool running = a->t.priv != NULL;

	if (trav_input(&a->t, from, buf, len, now))
		return;
	a->not_ours += running;
	if (stun_msg_parse(buf, len, 0, &m, NULL, 0) == STUN_PARSE_OK &&
	    m.cls == STUN_CLASS_SUCCESS && memcmp(m.txid, a->txid, STUN_TXID_LEN) == 0 &&
	    stun_msg_get_addr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, &ss) == 0) {
		a->srflx.addr = ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
		a->srflx.port = ((struct sockaddr_in *)&ss)->sin_port;
		a->has_srflx = true;
		a->not_ours -= running;
	}
}

static struct dg_ep t_ep(const char *addr, uint16_t port)
{
	struct dg_ep ep;

	assert_int_equal(inet_pton(AF_INET, addr, &ep.addr), 1);
	ep.port = htons(port);
	return ep;
}

/* Asks the STUN server where the agent's socket maps (txid a->txid). */
static void ta_stun(struct tagent *a)
{
	struct dg_ep stun = t_ep(T_STUN, 3478);
	struct stun_builder b;
	uint8_t buf[64];
	int len;

	a->has_srflx = false;
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, a->txid,
			    false);
	len = stun_msg_build_finish(&b);
	assert_true(len > 0);
	assert_int_equal(dg_send(a->dg, a->sock, &stun, buf, (size_t)len), 0);
}

/* Opens the agent's socket and asks the STUN server where it maps; with
 * turn_pass, allocates on the TURN server too, as natbed-agent --turn. */
static void ta_open(struct tagent *a, struct mnet *n, const char *host, const char *turn_pass)
{
	struct dg_ep any = {0, 0};
	struct turn_cfg tc = {.server = t_ep(T_TURN, 3478), .user = "agent"};

	memset(a, 0, sizeof(*a));
	a->n = n;
	a->host = host;
	a->dg = mnet_dgram(n, host);
	assert_non_null(a->dg);
	if (turn_pass) {
		snprintf(tc.pass, sizeof(tc.pass), "%s", turn_pass);
		a->ts = turnsock_new(a->dg, &tc, NULL);
		assert_non_null(a->ts);
		a->dg = turnsock_dgram(a->ts);
	}
	a->sock = dg_open(a->dg, &any, &a->local, ta_rx, a);
	assert_true(a->sock >= 0);
	snprintf((char *)a->txid, sizeof(a->txid), "%.11s", host);
	ta_stun(a);
}

static void ta_stop_cb(void *arg, natbed_time_t now)
{
	struct tagent *a = arg;

	a->t.m->stop(&a->t);
	a->stopped = true;
}

static void ta_done(void *arg, struct trav_try *t)
{
	struct tagent *a = arg;

	a->done_calls++;
	if (a->restun) {
		a->txid[11]++;
		ta_stun(a);
	}
	/* an agent stops at once: the worst case for its peer */
	if (a->linger)
		assert_true(sched_after(t->dg->s, a->linger, ta_stop_cb, a) > 0);
	else
		ta_stop_cb(a, 0);
}

static void ta_start_cb(void *arg, natbed_time_t now)
{
	struct tagent *a = arg;

	assert_int_equal(a->t.m->start(&a->t), 0);
	assert_int_equal(a->done_calls, 0); /* never from inside start() */
}

static void ta_cand(struct tagent *a, struct trav_cand *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", a->host);
	c->host = a->local;
	c->srflx = a->srflx;
	if (a->ts)
		c->relay = turnsock_relayed(a->ts);
	mnet_natinfo(a->n, a->host, &c->nat);
}

struct tres {
	bool success[2];
	const char *reason[2]; /* reason_buf's, or NULL */
	char reason_buf[2][160];
	natbed_time_t setup[2];
	struct trav_counts counts[2];
	unsigned not_ours[2];
	bool has_srflx[2];
	unsigned socks_after[2];
	uint64_t sent[2];
	struct dg_ep local[2], remote[2];
	unsigned granted[2];	 /* mappings asked for (PCP, NAT-PMP) on each side's NAT */
	unsigned sock_maps[2];	 /* mappings of each agent's own socket on its NAT */
	char granted_out[2][32]; /* the outside endpoint of the last of them */
};

/* The mappings of inside port `port` on host h's NAT, at the end of a run:
 * one for an endpoint-independent NAT, unless the NAT moved a flow of it
 * elsewhere (Linux, inbound-reserves). */
static unsigned t_sock_maps(struct mnet *n, const char *h, uint16_t port)
{
	struct nat *nat = mnet_nat(n, h);
	json_t *all, *m;
	unsigned count = 0;
	char tail[8];
	size_t i, len;

	if (!nat)
		return 0;
	snprintf(tail, sizeof(tail), ":%u", (unsigned)ntohs(port));
	len = strlen(tail);
	all = nat_mappings_json(nat, sched_now(mnet_sched(n)));
	json_array_foreach(all, i, m)
	{
		const char *in = json_string_value(json_object_get(m, "inside"));
		size_t l = in ? strlen(in) : 0;

		count += l > len && strcmp(in + l - len, tail) == 0;
	}
	json_decref(all);
	return count;
}

/* The mappings asked for on host h's NAT, at the end of a run. */
static void t_granted(struct mnet *n, const char *h, unsigned *count, char out[32])
{
	struct nat *nat = mnet_nat(n, h);
	json_t *all, *m;
	size_t i;

	*count = 0;
	out[0] = '\0';
	if (!nat)
		return;
	all = nat_mappings_json(nat, sched_now(mnet_sched(n)));
	json_array_foreach(all, i, m)
	{
		if (!json_object_get(m, "granted"))
			continue;
		(*count)++;
		snprintf(out, 32, "%s", json_string_value(json_object_get(m, "outside")));
	}
	json_decref(all);
}

/* A test's changes to a try before it starts; for a relaying method, which
 * sides allocate on the TURN server (both, unless no_turn) and with what
 * password (turn_pass, NULL: the right one). */
struct tweak {
	void (*fn)(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b);
	void *arg;
	bool no_turn[2];
	const char *turn_pass[2];
};

#define T_TURN_PASS "secret"

/* The TURN server's counters of the last run_pair. */
static struct turnd_stats t_turnd;

/* Runs method m between hosts ha (initiator) and hb on a fresh network. */
static void run_pair(const struct method *m, const char *ha, const char *hb, uint64_t seed,
		     struct tweak *tw, struct tres *r)
{
	struct mnet *n = mnet_new(t_topology, seed);
	struct turnd_cfg tdc = {.listen = t_ep(T_TURN, 3478), .user = "agent", .pass = T_TURN_PASS};
	struct turnd *td;
	const char *hosts[2] = {ha, hb};
	struct tagent ag[2];
	struct sched *s;
	natbed_time_t start;
	int i;

	assert_non_null(n);
	s = mnet_sched(n);
	assert_int_equal(mnet_stun_server(n, "stun", htons(3478)), 0);
	td = turnd_new(mnet_dgram(n, "turn"), &tdc);
	assert_non_null(td);
	for (i = 0; i < 2; i++) {
		bool turn = m->spec.relay && !(tw && tw->no_turn[i]);
		const char *pass = tw && tw->turn_pass[i] ? tw->turn_pass[i] : T_TURN_PASS;

		ta_open(&ag[i], n, hosts[i], turn ? pass : NULL);
	}
	sched_run_until(s, sched_now(s) + 200 * T_MS);
	assert_true(ag[0].has_srflx && ag[1].has_srflx);
	for (i = 0; i < 2; i++)
		assert_true(!ag[i].ts || turnsock_relayed(ag[i].ts).addr ||
			    turnsock_error(ag[i].ts));
	start = sched_now(s) + 20 * T_MS;
	for (i = 0; i < 2; i++) {
		struct trav_try *t = &ag[i].t;

		t->dg = ag[i].dg;
		t->m = m;
		t->role = i == 0 ? TRAV_INITIATOR : TRAV_RESPONDER;
		t->id = T_TRY_ID + seed;
		t->sock = ag[i].sock;
		ta_cand(&ag[i], &t->self);
		ta_cand(&ag[1 - i], &t->peer);
		t->stun = t_ep(T_STUN, 3478);
		t->gateway = mnet_gateway(n, ag[i].host);
		t->relay = ag[i].ts;
		t->start = start;
		t->deadline = start + m->spec.budget_ns;
		t->done = ta_done;
		t->done_arg = &ag[i];
	}
	if (tw && tw->fn)
		tw->fn(tw, n, &ag[0], &ag[1]);
	for (i = 0; i < 2; i++)
		assert_true(sched_at(s, ag[i].t.start, ta_start_cb, &ag[i]) > 0);
	sched_run_until(s, start + m->spec.budget_ns + 2 * NATBED_NS_PER_S);
	memset(r, 0, sizeof(*r));
	for (i = 0; i < 2; i++) {
		struct trav_try *t = &ag[i].t;

		assert_int_equal(ag[i].done_calls, 1);
		assert_true(t->finished);
		r->success[i] = t->success;
		/* a copy: a reason may live in what the pair frees (the TURN
		 * client's words) */
		if (t->reason) {
			snprintf(r->reason_buf[i], sizeof(r->reason_buf[i]), "%s", t->reason);
			r->reason[i] = r->reason_buf[i];
		}
		r->setup[i] = t->done_at - t->start;
		r->counts[i] = t->counts;
		r->not_ours[i] = ag[i].not_ours;
		r->has_srflx[i] = ag[i].has_srflx;
		/* the TURN client's socket is the agent's, not the try's */
		r->socks_after[i] = mnet_host_socks(n, ag[i].host) - (ag[i].ts != NULL);
		r->sent[i] = mnet_host_sent(n, ag[i].host);
		r->local[i] = t->local;
		r->remote[i] = t->remote;
		assert_true(t->success ? t->reason == NULL : t->reason != NULL);
	}
	for (i = 0; i < 2; i++) {
		t_granted(n, ag[i].host, &r->granted[i], r->granted_out[i]);
		r->sock_maps[i] = t_sock_maps(n, ag[i].host, ag[i].local.port);
	}
	turnd_stats(td, &t_turnd);
	for (i = 0; i < 2; i++)
		turnsock_free(ag[i].ts);
	turnd_free(td);
	mnet_free(n);
}

/* --- the table of docs/methods.md ---------------------------------------- */

static const struct tclass {
	const char *name;
	const char *h1, *h2;
	enum ni_class cls; /* NI_CLASS_COUNT: same-LAN, no class of its own */
} t_classes[] = {
    {"full-cone", "fc1", "fc2", NI_CLASS_FULL_CONE},
    {"restricted-cone", "rc1", "rc2", NI_CLASS_RESTRICTED},
    {"port-restricted", "prc1", "prc2", NI_CLASS_PORT_RESTRICTED},
    {"symmetric", "sym1", "sym2", NI_CLASS_SYM_RANDOM},
    {"symmetric-sequential", "seq1", "seq2", NI_CLASS_SYM_SEQUENTIAL},
    {"public", "pub1", "pub2", NI_CLASS_OPEN},
    {"same-LAN", "lan1", "lan2", NI_CLASS_COUNT},
    /* a random symmetric NAT that grants mappings (pcp: true) */
    {"symmetric+pcp", "symp1", "symp2", NI_CLASS_SYM_RANDOM},
};

#define T_METHODS 6

struct trow {
	const struct tclass *a, *b;
	bool success[T_METHODS];
	double prior[T_METHODS]; /* < 0: none given */
};

static const struct tclass *t_class(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(t_classes) / sizeof(t_classes[0]); i++)
		if (strcmp(t_classes[i].name, name) == 0)
			return &t_classes[i];
	fail_msg("docs/methods.md: unknown class '%s'", name);
	return NULL;
}

/* Splits a markdown table line into trimmed cells. */
static size_t t_cells(char *line, char *cells[], size_t max)
{
	char *p = line + 1, *bar, *e;
	size_t n = 0;

	if (line[0] != '|')
		return 0;
	while (n < max && (bar = strchr(p, '|')) != NULL) {
		*bar = '\0';
		while (*p == ' ')
			p++;
		for (e = bar; e > p && e[-1] == ' ';)
			*--e = '\0';
		cells[n++] = p;
		p = bar + 1;
	}
	return n;
}

static const struct method *t_methods[T_METHODS];

static size_t t_read_table(struct trow *rows, size_t max)
{
	FILE *f = fopen(NATBED_TEST_DATA "/../../docs/methods.md", "r");
	char line[512], *cells[T_METHODS + 4];
	bool in = false, header = false;
	size_t n = 0, k;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "<!-- methods-table")) {
			in = true;
			continue;
		}
		if (strstr(line, "<!-- /methods-table"))
			break;
		if (!in || line[0] != '|')
			continue;
		assert_int_equal(t_cells(line, cells, T_METHODS + 4), T_METHODS + 3);
		if (!header) {
			/* the columns name the methods, in the table's order */
			for (k = 0; k < T_METHODS; k++) {
				t_methods[k] = method_find(cells[2 + k]);
				assert_non_null(t_methods[k]);
				assert_ptr_equal(t_methods[k], method_at(k));
			}
			header = true;
			continue;
		}
		if (strncmp(cells[0], "---", 3) == 0)
			continue;
		assert_true(n < max);
		rows[n].a = t_class(cells[0]);
		rows[n].b = t_class(cells[1]);
		for (k = 0; k < T_METHODS; k++) {
			char word[16];
			double prior = -1;
			int got = sscanf(cells[2 + k], "%15s %lf", word, &prior);

			assert_true(got >= 1);
			assert_true(strcmp(word, "success") == 0 || strcmp(word, "fail") == 0);
			rows[n].success[k] = strcmp(word, "success") == 0;
			rows[n].prior[k] = got == 2 ? prior : -1;
		}
		n++;
	}
	fclose(f);
	return n;
}

static double t_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The prior the table prints: the method's for the two classes, 0 where
 * the pair lacks what it needs (method_spec.usable): in the table, NATs
 * with pcp: true grant mappings and, for relay, both agents allocated. */
static double t_prior(const struct method *m, const struct tclass *a, const struct tclass *b)
{
	struct trav_cand ca = {0}, cb = {0};
	struct mnet *n0 = mnet_new(t_topology, 1);

	mnet_natinfo(n0, a->h1, &ca.nat);
	mnet_natinfo(n0, b->h2, &cb.nat);
	mnet_free(n0);
	assert_int_equal(natinfo_class(&ca.nat), a->cls);
	assert_int_equal(natinfo_class(&cb.nat), b->cls);
	if (m->spec.relay)
		ca.relay.addr = cb.relay.addr = 1;
	if (m->spec.usable && !m->spec.usable(&ca, &cb))
		return 0;
	/* the prior is the method's, both ways round */
	assert_true(fabs(m->spec.prior(a->cls, b->cls) - m->spec.prior(b->cls, a->cls)) < 1e-9);
	return m->spec.prior(a->cls, b->cls);
}

static void t_table(const char *only[], size_t nonly, double *cpu)
{
	struct trow rows[40];
	size_t n = t_read_table(rows, 40), i, k, j;
	double t0 = t_cpu_s();
	int dir;

	/* every pair of the six classes once, same-LAN, and a NAT granting
	 * mappings against each class and itself */
	assert_int_equal(n, 22 + 7);
	for (i = 0; i < n; i++) {
		const char *h[2] = {rows[i].a->h1, rows[i].b->h2};

		for (k = 0; k < T_METHODS; k++) {
			const struct method *m = t_methods[k];
			bool want = rows[i].success[k];

			for (j = 0; j < nonly && strcmp(only[j], m->spec.name) != 0; j++)
				;
			if (j == nonly)
				continue;
			if (rows[i].a->cls != NI_CLASS_COUNT) {
				double prior = t_prior(m, rows[i].a, rows[i].b);

				assert_true(rows[i].prior[k] >= 0);
				if (fabs(prior - rows[i].prior[k]) > 1e-9)
					fail_msg("%s: %s x %s: prior %g, table %g", m->spec.name,
						 rows[i].a->name, rows[i].b->name, prior,
						 rows[i].prior[k]);
				assert_true((rows[i].prior[k] >= 0.5) == want);
			}
			for (dir = 0; dir < 2; dir++) {
				struct tres r;

				run_pair(m, h[dir], h[1 - dir], 7 + i, NULL, &r);
				if (r.success[0] != want || r.success[1] != want)
					fail_msg("%s: %s x %s (%s first): %s/%s, table: %s",
						 m->spec.name, rows[i].a->name, rows[i].b->name,
						 h[dir], r.success[0] ? "success" : r.reason[0],
						 r.success[1] ? "success" : r.reason[1],
						 want ? "success" : "fail");
				if (dir == 0)
					printf("  %-9s %-20s x %-20s %s %lld ms / %s %lld ms\n",
					       m->spec.name, rows[i].a->name, rows[i].b->name,
					       r.success[0] ? "success" : r.reason[0],
					       (long long)(r.setup[0] / T_MS),
					       r.success[1] ? "success" : r.reason[1],
					       (long long)(r.setup[1] / T_MS));
				if (want) {
					/* one path: each side's remote is the other's local */
					assert_true(dg_ep_eq(&r.remote[0], &r.local[1]));
					assert_true(dg_ep_eq(&r.remote[1], &r.local[0]));
				}
			}
		}
	}
	*cpu = t_cpu_s() - t0;
}

static void test_table_punch_predict(void **state)
{
	const char *only[] = {"punch", "predict"};
	double cpu;

	t_table(only, 2, &cpu);
	printf("punch and predict, 22 pairs both ways: %.3f s of CPU\n", cpu);
	/* virtual time: the whole table is far under a second of work */
	assert_true(cpu < 1.0);
}

static void test_table_direct_birthday(void **state)
{
	const char *only[] = {"direct", "birthday"};
	double cpu;

	t_table(only, 2, &cpu);
	printf("direct and birthday, 29 pairs both ways: %.3f s of CPU\n", cpu);
}

static void test_table_portmap_relay(void **state)
{
	const char *only[] = {"portmap", "relay"};
	double cpu;

	t_table(only, 2, &cpu);
	printf("portmap and relay, 29 pairs both ways: %.3f s of CPU\n", cpu);
}

static void test_table_order(void **state)
{
	const char *names[] = {"direct", "punch", "predict", "birthday", "portmap", "relay"};
	size_t i;

	assert_int_equal(method_count(), 6);
	for (i = 0; i < 6; i++) {
		const struct method *m = method_at(i);

		assert_string_equal(m->spec.name, names[i]);
		assert_ptr_equal(method_find(names[i]), m);
		assert_true(m->spec.cost >= 0 && m->spec.cost <= 2);
		assert_true(m->spec.security >= 0 && m->spec.security <= 1);
		assert_true(m->spec.reliability >= 0 && m->spec.reliability <= 1);
		assert_true(m->spec.budget_ns > 0);
		/* only relay carries the data through a third party */
		assert_int_equal(m->spec.relay, i == 5);
		/* the two that need more than the NATs say so */
		assert_int_equal(m->spec.usable != NULL, i >= 4);
		assert_non_null(m->start);
		assert_non_null(m->stop);
		assert_non_null(m->input);
	}
	assert_null(method_at(6));
	assert_null(method_find("upnp"));
	/* relay's cost is the highest of all (issue 11, as in the seed) */
	for (i = 0; i < 5; i++)
		assert_true(method_at(i)->spec.cost < method_at(5)->spec.cost);
}

/* --- retransmission ------------------------------------------------------ */

struct tdrop {
	const char *host;
	unsigned checks; /* checks of host seen */
	unsigned drop;	 /* drop the first this many */
};

static bool t_is_check(const uint8_t *buf, size_t len)
{
	struct peermsg m;

	return peermsg_parse(buf, len, &m) == PEERMSG_OK && m.kind == PEERMSG_CHECK;
}

static bool t_drop_first(void *arg, const char *host, const struct dg_ep *from,
			 const struct dg_ep *to, const uint8_t *buf, size_t len)
{
	struct tdrop *d = arg;

	if (strcmp(host, d->host) != 0 || !t_is_check(buf, len))
		return false;
	return d->checks++ < d->drop;
}

static void tw_drop(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	mnet_set_drop(n, t_drop_first, tw->arg);
}

/* A first punch check lost is recovered by the next one: setup takes one
 * retransmission interval (100 ms) longer, on both sides. */
static void test_punch_retransmit(void **state)
{
	const struct method *m = method_find("punch");
	struct tdrop d = {"prc1", 0, 1};
	struct tweak tw = {.fn = tw_drop, .arg = &d};
	struct tres base, lost;

	run_pair(m, "prc1", "prc2", 1, NULL, &base);
	run_pair(m, "prc1", "prc2", 1, &tw, &lost);
	assert_true(base.success[0] && base.success[1]);
	assert_true(lost.success[0] && lost.success[1]);
	assert_int_equal(d.checks > 1, 1);
	printf("punch setup %lld ms, with the first check lost %lld ms\n",
	       (long long)(base.setup[0] / T_MS), (long long)(lost.setup[0] / T_MS));
	assert_int_equal(lost.setup[0] - base.setup[0], mc_schedule_offset(1));
	assert_int_equal(lost.setup[1] - base.setup[1], mc_schedule_offset(1));
	/* two lost: two intervals */
	d = (struct tdrop){"prc1", 0, 2};
	run_pair(m, "prc1", "prc2", 1, &tw, &lost);
	assert_true(lost.success[0] && lost.success[1]);
	assert_int_equal(lost.setup[0] - base.setup[0], 2 * mc_schedule_offset(1));
}

/* The schedule docs/methods.md gives: a failing punch checks its one pair
 * 22 times in 5 s, a failing direct 14 times in 2 s, each at its offset. */
struct tsched {
	struct mnet *n;
	const char *host;
	natbed_time_t start;
	natbed_time_t at[64];
	unsigned count;
};

static bool t_sched_rec(void *arg, const char *host, const struct dg_ep *from,
			const struct dg_ep *to, const uint8_t *buf, size_t len)
{
	struct tsched *ts = arg;

	if (strcmp(host, ts->host) == 0 && t_is_check(buf, len) && ts->count < 64)
		ts->at[ts->count++] = sched_now(mnet_sched(ts->n)) - ts->start;
	return false;
}

static void tw_sched(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	struct tsched *ts = tw->arg;

	ts->n = n;
	ts->host = a->host;
	ts->start = a->t.start;
	mnet_set_drop(n, t_sched_rec, ts);
}

static void test_schedule(void **state)
{
	struct tsched ts = {0};
	struct tweak tw = {.fn = tw_sched, .arg = &ts};
	struct tres r;
	unsigned k;

	run_pair(method_find("punch"), "prc1", "sym2", 2, &tw, &r);
	assert_false(r.success[0]);
	assert_int_equal(ts.count, 22);
	for (k = 0; k < ts.count; k++)
		assert_int_equal(ts.at[k], mc_schedule_offset(k));
	assert_int_equal(mc_schedule_offset(10), 1000 * T_MS);
	assert_int_equal(mc_schedule_offset(18), 3000 * T_MS);
	assert_int_equal(r.sent[0], 1 + 22); /* its STUN request, its checks */
	memset(&ts, 0, sizeof(ts));
	run_pair(method_find("direct"), "fc1", "fc2", 2, &tw, &r);
	assert_false(r.success[0]);
	assert_int_equal(ts.count, 14);
}

/* --- failure reasons ----------------------------------------------------- */

static void t_expect(const char *method, const char *ha, const char *hb, struct tweak *tw,
		     const char *ra, const char *rb)
{
	struct tres r;

	run_pair(method_find(method), ha, hb, 3, tw, &r);
	assert_false(r.success[0]);
	assert_false(r.success[1]);
	assert_string_equal(r.reason[0], ra);
	assert_string_equal(r.reason[1], rb);
	/* nothing left open but the agent's own socket */
	assert_int_equal(r.socks_after[0], 1);
	assert_int_equal(r.socks_after[1], 1);
}

static void tw_refuse(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	mnet_refuse(n, a->host, mnet_addr(n, b->host), -ECONNREFUSED);
	mnet_refuse(n, b->host, mnet_addr(n, a->host), -EHOSTUNREACH);
}

static void tw_stride(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	/* a's discovery said stride 2: its peer aims at the wrong target */
	a->t.self.nat.stride = 2;
	b->t.peer.nat.stride = 2;
}

static void tw_no_stun(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	a->t.stun = t_ep("198.51.100.99", 3478);
}

static void tw_short(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	a->t.deadline = b->t.deadline = a->t.start + 200 * T_MS;
}

static void test_reasons(void **state)
{
	struct tweak refuse = {.fn = tw_refuse, .arg = NULL},
		     stride = {.fn = tw_stride, .arg = NULL},
		     no_stun = {.fn = tw_no_stun, .arg = NULL},
		     brief = {.fn = tw_short, .arg = NULL};

	/* private host addresses behind other NATs lead nowhere */
	t_expect("direct", "fc1", "fc2", NULL, "no answer", "no answer");
	/* RFC 4787: APDF against APDM, both ways dropped */
	t_expect("punch", "prc1", "sym2", NULL, "no answer", "no answer");
	/* ICMP refusals as the driver reports them */
	t_expect("direct", "pub1", "pub2", &refuse, "filtered", "filtered");
	t_expect("predict", "fc1", "prc2", NULL, "not applicable", "not applicable");
	t_expect("predict", "seq1", "sym2", NULL, "not applicable", "not applicable");
	t_expect("birthday", "sym1", "sym2", NULL, "not applicable", "not applicable");
	t_expect("birthday", "lan1", "lan2", NULL, "not applicable", "not applicable");
	/* measured stride 1, told 2: the peer would aim wrong */
	t_expect("predict", "seq1", "prc2", &stride, "no prediction", "no answer");
	/* the STUN server does not answer: no stride */
	t_expect("predict", "seq1", "prc2", &no_stun, "no prediction", "no answer");
	/* 200 ms: neither side got through its plan (256 sockets, 1 a ms) */
	t_expect("birthday", "sym1", "prc2", &brief, "budget spent", "budget spent");
}

/* The peer heard, but nothing of ours came back: "timeout". b's answers
 * and nominations are lost: b succeeds (a answers it), a hears b's
 * checks but never an answer. */
static bool t_drop_answers(void *arg, const char *host, const struct dg_ep *from,
			   const struct dg_ep *to, const uint8_t *buf, size_t len)
{
	struct peermsg m;

	return strcmp(host, (const char *)arg) == 0 && peermsg_parse(buf, len, &m) == PEERMSG_OK &&
	       (m.kind == PEERMSG_ANSWER || m.nominate);
}

static void tw_no_answers(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	mnet_set_drop(n, t_drop_answers, (void *)b->host);
}

static void test_reason_timeout(void **state)
{
	struct tweak tw = {.fn = tw_no_answers, .arg = NULL};
	struct tres r;

	run_pair(method_find("punch"), "pub1", "pub2", 5, &tw, &r);
	assert_false(r.success[0]);
	assert_string_equal(r.reason[0], "timeout");
	assert_true(r.counts[0].checks_in > 0);
	assert_int_equal(r.counts[0].answers_in, 0);
	assert_true(r.success[1]);
}

/* A cone NAT meets a symmetric one through the peer-reflexive endpoint:
 * the cone side learns it from the symmetric side's check and checks it
 * back. With the symmetric side's nominations lost (and the symmetric
 * side still answering for a while), that check is the cone side's only
 * way to success. */
static bool t_drop_nominations(void *arg, const char *host, const struct dg_ep *from,
			       const struct dg_ep *to, const uint8_t *buf, size_t len)
{
	struct peermsg m;

	return strcmp(host, (const char *)arg) == 0 && peermsg_parse(buf, len, &m) == PEERMSG_OK &&
	       m.nominate;
}

static void tw_no_nominations(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	mnet_set_drop(n, t_drop_nominations, (void *)b->host);
	b->linger = 200 * T_MS; /* and b answers a while after its success */
}

static void test_prflx(void **state)
{
	struct tweak tw = {.fn = tw_no_nominations, .arg = NULL};
	struct tres r;

	run_pair(method_find("punch"), "fc1", "sym2", 5, &tw, &r);
	assert_true(r.success[0] && r.success[1]);
	assert_true(r.counts[0].answers_in > 0);
	/* fc1's path goes to sym2's mapping toward fc1, not to its srflx */
	assert_int_equal(r.remote[0].addr, r.local[1].addr);
	assert_int_equal(r.remote[0].port, r.local[1].port);
}

/* Done but not stopped, a try still answers checks and hands the agent
 * what is the agent's: here, its STUN server's answer. */
static void tw_restun(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	a->linger = b->linger = 500 * T_MS;
	a->restun = true;
}

static void test_done_not_stopped(void **state)
{
	struct tweak tw = {.fn = tw_restun, .arg = NULL};
	struct tres r;

	run_pair(method_find("punch"), "prc1", "prc2", 4, &tw, &r);
	assert_true(r.success[0] && r.success[1]);
	assert_true(r.has_srflx[0]);
	assert_int_equal(r.counts[0].wrong_txid, 0);
}

/* --- strays -------------------------------------------------------------- */

struct tstray {
	struct tagent *victim;
	uint64_t try_id;
	const char *name;
	int port_lo, port_hi; /* of the victim's address */
};

static void t_stray_send(struct mnet *n, const struct dg_ep *to, const uint8_t *buf, size_t len)
{
	const struct dgram *dg = mnet_dgram(n, T_MALLORY);
	struct dg_ep any = {0, 0}, local;
	int s = dg_open(dg, &any, &local, NULL, NULL);

	assert_true(s >= 0);
	assert_int_equal(dg_send(dg, s, to, buf, len), 0);
	dg_close(dg, s);
}

static size_t t_msg(uint8_t *buf, enum peermsg_kind kind, uint64_t try_id, const char *name,
		    uint8_t txbyte)
{
	struct peermsg m = {.kind = kind, .has_try = true, .try_id = try_id};
	int len;

	memset(m.txid, txbyte, sizeof(m.txid));
	snprintf(m.name, sizeof(m.name), "%s", name);
	m.has_mapped = kind == PEERMSG_ANSWER;
	len = peermsg_build(&m, buf, PEERMSG_MAX);
	assert_true(len > 0);
	return (size_t)len;
}

static void t_strays_cb(void *arg, natbed_time_t now)
{
	struct tstray *st = arg;
	struct tagent *v = st->victim;
	uint8_t buf[PEERMSG_MAX], unk[STUN_HEADER_LEN + 8];
	struct stun_builder b;
	size_t len;
	int p;

	for (p = st->port_lo; p <= st->port_hi; p++) {
		struct dg_ep to = {v->local.addr, htons((uint16_t)p)};
		int ulen;

		/* another try's check and answer */
		len = t_msg(buf, PEERMSG_CHECK, st->try_id + 1, st->name, 1);
		t_stray_send(v->n, &to, buf, len);
		len = t_msg(buf, PEERMSG_ANSWER, st->try_id + 1, st->name, 2);
		t_stray_send(v->n, &to, buf, len);
		/* this try's, naming another agent (spoofed) */
		len = t_msg(buf, PEERMSG_CHECK, st->try_id, T_MALLORY, 3);
		t_stray_send(v->n, &to, buf, len);
		/* this try's answer to no check of ours */
		len = t_msg(buf, PEERMSG_ANSWER, st->try_id, st->name, 4);
		t_stray_send(v->n, &to, buf, len);
		/* truncated, garbage, and a STUN method of nobody's */
		len = t_msg(buf, PEERMSG_CHECK, st->try_id, st->name, 5);
		t_stray_send(v->n, &to, buf, len - 5);
		t_stray_send(v->n, &to, (const uint8_t *)"hello", 5);
		stun_msg_build_init(&b, unk, sizeof(unk), 0x0FF, STUN_CLASS_REQUEST, buf + 8,
				    false);
		ulen = stun_msg_build_finish(&b);
		t_stray_send(v->n, &to, unk, (size_t)ulen);
	}
}

static void tw_strays(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	struct tstray *st = tw->arg;

	st->victim = a;
	st->try_id = a->t.id;
	st->name = b->host;
	/* a lands on the agent's socket (40000) and on predict's measurement
	 * sockets (40001-40003) while they are open */
	assert_true(sched_at(mnet_sched(n), a->t.start + 1 * T_MS, t_strays_cb, st) > 0);
}

static void test_strays(void **state)
{
	struct tstray st = {.port_lo = 40000, .port_hi = 40000};
	struct tweak tw = {.fn = tw_strays, .arg = &st};
	struct tres r;

	/* on the agent's socket: this try's peer messages counted; another
	 * try's (another try under way may hold it) and the rest handed back */
	run_pair(method_find("direct"), "pub1", "pub2", 9, &tw, &r);
	assert_true(r.success[0] && r.success[1]);
	assert_int_equal(r.counts[0].wrong_try, 0);
	assert_int_equal(r.counts[0].wrong_name, 1);
	assert_int_equal(r.counts[0].wrong_txid, 1);
	assert_int_equal(r.counts[0].bad, 0);
	assert_int_equal(r.not_ours[0], 2 + 3);
	assert_int_equal(r.counts[1].wrong_try + r.counts[1].wrong_name + r.counts[1].wrong_txid,
			 0);
}

static void tw_strays_sequential(struct tweak *tw, struct mnet *n, struct tagent *a,
				 struct tagent *b)
{
	/* pub1 says it is behind a sequential symmetric NAT: its fresh
	 * sockets' ports (40001, 40002, ...) are indeed sequential */
	a->t.self.nat = (struct natinfo){NI_MAP_APDM, NI_FILTER_APDF, NI_PORTS_SEQUENTIAL, 1, 0, 0};
	b->t.peer.nat = a->t.self.nat;
	tw_strays(tw, n, a, b);
}

static void test_strays_own_sockets(void **state)
{
	struct tstray st = {.port_lo = 40001, .port_hi = 40003};
	struct tweak tw = {.fn = tw_strays_sequential, .arg = &st};
	struct tres r;

	run_pair(method_find("predict"), "pub1", "pub2", 9, &tw, &r);
	assert_true(r.success[0] && r.success[1]);
	/* the sockets predict opened count everything they get */
	assert_int_equal(r.counts[0].wrong_try, 2 * 3);
	assert_int_equal(r.counts[0].wrong_name, 3);
	assert_int_equal(r.counts[0].wrong_txid, 3);
	assert_int_equal(r.counts[0].bad, 2 * 3);
	assert_int_equal(r.counts[0].unknown, 3);
	/* its target was 40000 + 32 */
	assert_int_equal(ntohs(r.remote[1].port), 40032);
	assert_int_equal(r.socks_after[0], 2);
}

/* --- predict: the window ------------------------------------------------- */

struct tinterfere {
	struct mnet *n;
	unsigned count;
};

static void t_interfere_cb(void *arg, natbed_time_t now)
{
	struct tinterfere *ti = arg;
	const struct dgram *dg = mnet_dgram(ti->n, "seq1b");
	struct dg_ep any = {0, 0}, local, stun = t_ep(T_STUN, 3478);
	unsigned i;

	/* another host behind the same NAT takes ports between the
	 * measurement (answered at +40 ms) and the spent allocations */
	for (i = 0; i < ti->count; i++) {
		int s = dg_open(dg, &any, &local, NULL, NULL);

		assert_int_equal(dg_send(dg, s, &stun, "x", 1), 0);
	}
}

static void tw_interfere(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	struct tinterfere *ti = tw->arg;

	ti->n = n;
	assert_true(sched_at(mnet_sched(n), a->t.start + 30 * T_MS, t_interfere_cb, ti) > 0);
}

static void test_predict_window(void **state)
{
	const struct method *m = method_find("predict");
	struct tinterfere ti = {NULL, 0};
	struct tweak tw = {.fn = tw_interfere, .arg = &ti};
	struct tres r;
	unsigned k;

	/* up to PREDICT_WINDOW (2) ports taken: the EIM side's window covers */
	for (k = 0; k <= 2; k++) {
		ti.count = k;
		run_pair(m, "seq1", "prc2", 11, &tw, &r);
		assert_true(r.success[0] && r.success[1]);
		assert_int_equal(r.socks_after[0], 2);
		assert_int_equal(r.socks_after[1], 1);
		/* seq1's anchor is its first mapping; its path 32 + k after */
		assert_int_equal(ntohs(r.remote[1].port), 1024 + 32 + k);
	}
	ti.count = 3;
	run_pair(m, "seq1", "prc2", 11, &tw, &r);
	assert_false(r.success[0] || r.success[1]);
	/* between two sequential NATs, no window: one port taken breaks it */
	ti.count = 0;
	run_pair(m, "seq1", "seq2", 11, &tw, &r);
	assert_true(r.success[0] && r.success[1]);
	ti.count = 1;
	run_pair(m, "seq1", "seq2", 11, &tw, &r);
	assert_false(r.success[0] || r.success[1]);
}

/* --- predict: the measurement under interleavings ------------------------ */

/* What happens to seq1's measurement probes (Binding requests to the STUN
 * server from sockets other than its agent's) before they reach its NAT. */
struct tprobes {
	struct mnet *n;
	uint16_t main_port;  /* the agent's socket (network order) */
	unsigned seen;	     /* probe requests sent so far, retransmissions included */
	unsigned intrude_at; /* seq1b takes a port just before this probe (1-based), */
	unsigned every;	     /* and every `every` probes after it (0: once) */
	unsigned drop_at;    /* this probe is lost before the NAT (0: none) */
	uint16_t socks[16];  /* the probe sockets seen (their ports) */
	unsigned nsocks;
};

static bool t_probes(void *arg, const char *host, const struct dg_ep *from, const struct dg_ep *to,
		     const uint8_t *buf, size_t len)
{
	struct tprobes *tp = arg;
	unsigned i, k;

	if (strcmp(host, "seq1") != 0 || from->port == tp->main_port ||
	    to->addr != t_ep(T_STUN, 3478).addr || len < 2 || buf[0] != 0 || buf[1] != 1)
		return false;
	k = ++tp->seen;
	for (i = 0; i < tp->nsocks && tp->socks[i] != from->port; i++)
		;
	if (i == tp->nsocks && tp->nsocks < 16)
		tp->socks[tp->nsocks++] = from->port;
	if (tp->intrude_at && k >= tp->intrude_at &&
	    (k == tp->intrude_at || (tp->every && (k - tp->intrude_at) % tp->every == 0))) {
		const struct dgram *dg = mnet_dgram(tp->n, "seq1b");
		struct dg_ep any = {0, 0}, local, stun = t_ep(T_STUN, 3478);
		int s = dg_open(dg, &any, &local, NULL, NULL);

		/* the same access delay: it reaches the NAT first */
		assert_int_equal(dg_send(dg, s, &stun, "x", 1), 0);
	}
	return k == tp->drop_at;
}

static void tw_probes(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	struct tprobes *tp = tw->arg;

	tp->n = n;
	tp->main_port = a->t.self.host.port;
	tp->seen = tp->nsocks = 0;
	mnet_set_drop(n, t_probes, tp);
}

/* The three probes of seq1 (anchor 1024, its first mapping) must be three
 * consecutive allocations; what comes between them or reorders them. */
static void test_predict_measure(void **state)
{
	const struct method *m = method_find("predict");
	struct tprobes tp = {0};
	struct tweak tw = {.fn = tw_probes, .arg = &tp};
	struct tres r;

	/* another socket behind the NAT takes a port between the first two
	 * probes (another agent of the host re-anchoring): 1025, 1027, 1028
	 * are no stride; measured again (1029-1031), the path is still on
	 * the target */
	tp = (struct tprobes){.intrude_at = 2};
	run_pair(m, "seq1", "prc2", 11, &tw, &r);
	assert_true(r.success[0] && r.success[1]);
	assert_int_equal(ntohs(r.remote[1].port), 1024 + 32);
	/* the first probe lost on its way, so its retransmission comes last:
	 * 1027, 1025, 1026 are consecutive all the same */
	tp = (struct tprobes){.drop_at = 1};
	run_pair(m, "seq1", "prc2", 11, &tw, &r);
	assert_true(r.success[0] && r.success[1]);
	assert_int_equal(ntohs(r.remote[1].port), 1024 + 32);
	/* a port taken in every round: no prediction after the last one */
	tp = (struct tprobes){.intrude_at = 2, .every = 3};
	run_pair(m, "seq1", "prc2", 11, &tw, &r);
	assert_false(r.success[0] || r.success[1]);
	assert_string_equal(r.reason[0], "no prediction");
	assert_int_equal(tp.nsocks, 9); /* three rounds of three sockets */
}

/* --- birthday: bounds and rate ------------------------------------------- */

struct trate {
	const char *host[2];
	natbed_time_t bucket_ns;
	natbed_time_t last_bucket[2];
	unsigned in_bucket[2], max_in_bucket[2];
	struct mnet *n;
};

static bool t_rate(void *arg, const char *host, const struct dg_ep *from, const struct dg_ep *to,
		   const uint8_t *buf, size_t len)
{
	struct trate *tr = arg;
	natbed_time_t b = sched_now(mnet_sched(tr->n)) / tr->bucket_ns;
	int i;

	for (i = 0; i < 2; i++) {
		if (strcmp(host, tr->host[i]) != 0)
			continue;
		if (b != tr->last_bucket[i])
			tr->in_bucket[i] = 0;
		tr->last_bucket[i] = b;
		if (++tr->in_bucket[i] > tr->max_in_bucket[i])
			tr->max_in_bucket[i] = tr->in_bucket[i];
	}
	return false;
}

static void tw_rate(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	struct trate *tr = tw->arg;

	tr->n = n;
	tr->host[0] = a->host;
	tr->host[1] = b->host;
	tr->last_bucket[0] = tr->last_bucket[1] = -1;
	mnet_set_drop(n, t_rate, tr);
}

static void test_birthday_bounds(void **state)
{
	const struct method *m = method_find("birthday");
	struct trate tr = {.bucket_ns = 10 * T_MS};
	struct tweak tw = {.fn = tw_rate, .arg = &tr};
	unsigned ok = 0;
	struct tres r;
	uint64_t seed;

	for (seed = 1; seed <= 8; seed++) {
		memset(tr.max_in_bucket, 0, sizeof(tr.max_in_bucket));
		run_pair(m, "sym1", "prc2", seed, &tw, &r);
		ok += r.success[0] && r.success[1];
		/* the hard side: 256 checks, then a few answers, a triggered
		 * check and nominations; the easy side at most its 2048 probes */
		assert_true(r.sent[0] <= 1 + 256 + 16);
		assert_true(r.sent[1] <= 1 + 2048 + 16);
		/* at most one a millisecond, give or take an answer */
		assert_true(tr.max_in_bucket[0] <= 10 + 4);
		assert_true(tr.max_in_bucket[1] <= 10 + 4);
		assert_int_equal(r.socks_after[0], r.success[0] ? 2 : 1);
		assert_int_equal(r.socks_after[1], 1);
	}
	/* P = 0.99975 each: all eight */
	assert_int_equal(ok, 8);
}

/* A Linux router (linux-masquerade: endpoint-independent mapping,
 * port-restricted filtering, and conntrack's clash rule: an unanswered
 * packet from outside holds its (remote, port) pair, so the router sends
 * to that remote from another port) as the easy side. The hard side's
 * checks must not reach it before its probes have gone out to their
 * ports: birthday connects both ways round, and the easy side's socket
 * keeps its one mapping (the server-reflexive port it registered). */
static void test_birthday_linux(void **state)
{
	const struct method *m = method_find("birthday");
	struct tres r;
	uint64_t seed;
	int dir;

	for (seed = 1; seed <= 4; seed++) {
		for (dir = 0; dir < 2; dir++) {
			int easy = dir == 0 ? 1 : 0;

			run_pair(m, dir == 0 ? "sym1" : "lm1", dir == 0 ? "lm1" : "sym1", seed,
				 NULL, &r);
			if (!r.success[0] || !r.success[1])
				fail_msg("birthday sym1 x lm1 (seed %llu, %s first): %s / %s",
					 (unsigned long long)seed, dir == 0 ? "sym1" : "lm1",
					 r.success[0] ? "success" : r.reason[0],
					 r.success[1] ? "success" : r.reason[1]);
			assert_int_equal(r.sock_maps[easy], 1);
		}
	}
}

/* --- relay and portmap -------------------------------------------------- */

/* What each side sent to the other NAT's public address (nothing, on a
 * relayed path). */
struct tdirect {
	uint32_t pub[2]; /* the NATs' public addresses */
	const char *host[2];
	unsigned to_peer[2];
};

static bool t_direct_rec(void *arg, const char *host, const struct dg_ep *from,
			 const struct dg_ep *to, const uint8_t *buf, size_t len)
{
	struct tdirect *d = arg;
	int i;

	for (i = 0; i < 2; i++)
		if (strcmp(host, d->host[i]) == 0 && to->addr == d->pub[1 - i])
			d->to_peer[i]++;
	return false;
}

static void tw_direct(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	struct tdirect *d = tw->arg;

	d->host[0] = a->host;
	d->host[1] = b->host;
	d->pub[0] = a->srflx.addr;
	d->pub[1] = b->srflx.addr;
	mnet_set_drop(n, t_direct_rec, d);
}

/* Two random symmetric NATs: only relay connects them; the path is
 * ChannelData to the TURN server and back, nothing between the NATs. */
static void test_relay_path(void **state)
{
	struct tdirect d = {0};
	struct tweak tw = {.fn = tw_direct, .arg = &d};
	struct tres r;
	int i;

	run_pair(method_find("relay"), "sym1", "sym2", 4, &tw, &r);
	assert_true(r.success[0] && r.success[1]);
	assert_int_equal(d.to_peer[0] + d.to_peer[1], 0);
	/* the initiator relays: its path's local end is its relayed address,
	 * which the responder reaches */
	assert_int_equal(r.local[0].addr, t_ep(T_TURN, 0).addr);
	assert_true(dg_ep_eq(&r.remote[1], &r.local[0]));
	assert_true(t_turnd.channel_data_in > 0 && t_turnd.channel_data_out > 0);
	/* and the relayed socket is the initiator's path: it stays open, but
	 * relayed sockets are not the host's */
	for (i = 0; i < 2; i++)
		assert_int_equal(r.socks_after[i], 1);
	printf("relay: %llu ChannelData in, %llu out; %llu Send, %llu Data indications\n",
	       (unsigned long long)t_turnd.channel_data_in,
	       (unsigned long long)t_turnd.channel_data_out, (unsigned long long)t_turnd.send_in,
	       (unsigned long long)t_turnd.data_out);
}

static void tw_relay_faked(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	/* a registered a relayed address, and its allocation is gone since */
	a->t.self.relay = b->t.peer.relay = t_ep(T_TURN, 50000);
}

static void test_relay_sides(void **state)
{
	struct tweak resp_only = {.no_turn = {true, false}}, none = {.no_turn = {true, true}},
		     wrong = {.turn_pass = {"wrong", "wrong"}},
		     wrong_init = {.turn_pass = {"wrong", NULL}},
		     lost = {.fn = tw_relay_faked, .turn_pass = {"wrong", "wrong"}};
	struct tres r;

	/* only the responder allocated: its allocation serves */
	run_pair(method_find("relay"), "sym1", "sym2", 5, &resp_only, &r);
	assert_true(r.success[0] && r.success[1]);
	assert_int_equal(r.local[1].addr, t_ep(T_TURN, 0).addr);
	/* the initiator's allocation refused: the responder's serves */
	run_pair(method_find("relay"), "sym1", "sym2", 5, &wrong_init, &r);
	assert_true(r.success[0] && r.success[1]);
	/* none at all */
	t_expect("relay", "sym1", "sym2", &none, "no relay candidate", "no relay candidate");
	/* both refused: the TURN server's words, its 401 */
	run_pair(method_find("relay"), "sym1", "sym2", 5, &wrong, &r);
	assert_false(r.success[0] || r.success[1]);
	assert_string_equal(r.reason[0], "401 Unauthorized: the TURN server refused the username "
					 "or password (Unauthorized)");
	assert_string_equal(r.reason[1], r.reason[0]);
	assert_int_equal(r.socks_after[0], 1);
	/* registered, then lost: named; the peer heard nothing */
	run_pair(method_find("relay"), "sym1", "sym2", 5, &lost, &r);
	assert_false(r.success[0] || r.success[1]);
	assert_non_null(strstr(r.reason[0], "401 Unauthorized"));
	assert_string_equal(r.reason[1], "no answer");
}

/* The mapping: granted at the agreed port on the mapping side's NAT and
 * left for the path after a success; deleted after a failure. */
static bool t_drop_from(void *arg, const char *host, const struct dg_ep *from,
			const struct dg_ep *to, const uint8_t *buf, size_t len)
{
	return strcmp(host, (const char *)arg) == 0 && to->port != htons(3478);
}

static void tw_mute(struct tweak *tw, struct mnet *n, struct tagent *a, struct tagent *b)
{
	mnet_set_drop(n, t_drop_from, (void *)b->host);
}

static void test_portmap_mapping(void **state)
{
	struct tweak mute = {.fn = tw_mute};
	char want[32];
	struct tres r;

	/* symp1 maps (its NAT grants, the peer's does not), fc2 dials */
	run_pair(method_find("portmap"), "fc2", "symp1", 6, NULL, &r);
	assert_true(r.success[0] && r.success[1]);
	assert_int_equal(r.granted[1], 1);
	assert_int_equal(r.granted[0], 0);
	snprintf(want, sizeof(want), "%s", "203.0.113.12:");
	assert_memory_equal(r.granted_out[1], want, strlen(want));
	assert_int_equal(atoi(r.granted_out[1] + strlen(want)), ntohs(r.remote[0].port));
	assert_int_equal(r.remote[0].addr, t_ep("203.0.113.12", 0).addr);
	assert_true(dg_ep_eq(&r.local[1], &r.remote[0]));
	assert_int_equal(r.socks_after[1], 2); /* the mapped socket: the path */
	/* both grant: the initiator maps */
	run_pair(method_find("portmap"), "symp2", "symp1", 6, NULL, &r);
	assert_true(r.success[0] && r.success[1]);
	assert_int_equal(r.granted[0], 1);
	assert_int_equal(r.granted[1], 0);
	/* the dialer silent: the mapping side hears nothing and deletes it */
	run_pair(method_find("portmap"), "symp1", "fc2", 6, &mute, &r);
	assert_false(r.success[0] || r.success[1]);
	assert_string_equal(r.reason[0], "no answer");
	assert_int_equal(r.granted[0], 0);
	assert_int_equal(r.socks_after[0], 1);
}

static void test_portmap_reasons(void **state)
{
	/* carrier-grade port blocks: the suggested port is never kept */
	t_expect("portmap", "blk1", "fc2", NULL, "mapped port not the agreed one", "no answer");
	/* a pool of one port, taken by the STUN mapping */
	t_expect("portmap", "pool1", "fc2", NULL, "PCP NO_RESOURCES", "no answer");
	/* a gateway that grants nothing */
	t_expect("portmap", "sym1", "prc2", NULL, "no port mapping (PCP/NAT-PMP) on this NAT",
		 "no port mapping (PCP/NAT-PMP) on this NAT");
}

/* --- run ----------------------------------------------------------------- */

static int t_setup(void **state)
{
	char err[TOPO_ERR_MAX];

	if (topo_load_string(t_topo, sizeof(t_topo) - 1, "methods.yaml", NULL, &t_topology, err,
			     sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int t_teardown(void **state)
{
	topo_free(t_topology);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_order),
	    cmocka_unit_test(test_table_punch_predict),
	    cmocka_unit_test(test_table_direct_birthday),
	    cmocka_unit_test(test_table_portmap_relay),
	    cmocka_unit_test(test_punch_retransmit),
	    cmocka_unit_test(test_schedule),
	    cmocka_unit_test(test_reasons),
	    cmocka_unit_test(test_reason_timeout),
	    cmocka_unit_test(test_prflx),
	    cmocka_unit_test(test_done_not_stopped),
	    cmocka_unit_test(test_strays),
	    cmocka_unit_test(test_strays_own_sockets),
	    cmocka_unit_test(test_predict_window),
	    cmocka_unit_test(test_predict_measure),
	    cmocka_unit_test(test_birthday_bounds),
	    cmocka_unit_test(test_birthday_linux),
	    cmocka_unit_test(test_relay_path),
	    cmocka_unit_test(test_relay_sides),
	    cmocka_unit_test(test_portmap_mapping),
	    cmocka_unit_test(test_portmap_reasons),
	};

	return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
