/* Unit tests for many clients in one process (agents/clients.c), in virtual
 * time through the emulator's NAT engines (emulator/vnet.h): a public
 * serving agent, clients behind a full-cone and a symmetric NAT started
 * from schedule lines, each its own agent with its own socket measuring
 * its NAT.
 *  - 60 clients at 10/s (lines out of order, some given late, a few with
 *    a method or a priority), at most 8 alive: every one reported once
 *    with its id, connected, started no earlier than its time, never more
 *    than 8 at once, every name given up, idle once after the input ends;
 *  - a client to a peer nobody registered reports its failure; bad lines
 *    are refused naming what is wrong and start nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "dgstund.h"
#include "cknet.h"
#include "natbed/log.h"
#include "rdv.h"
#include "vnet.h"

#define MS NATBED_NS_PER_MS
#define S  NATBED_NS_PER_S

#define NCLIENTS 60

static const char topo_yaml[] =
    "name: clients\n"
    "internet: { link: { delay: 10ms } }\n"
    "defaults: { link: { delay: 2ms } }\n"
    "nats:\n"
    "  nfc: { preset: full-cone, public: 203.0.113.1, inside: 10.1.0.0/24 }\n"
    "  nsym: { preset: symmetric, public: 203.0.113.7, inside: 10.7.0.0/24 }\n"
    "hosts:\n"
    "  stun: { addresses: [198.51.100.10, 198.51.100.11] }\n"
    "  rdv: { address: 198.51.100.20 }\n"
    "  srv: { address: 198.51.100.30 }\n"
    "  fc: { nat: nfc, address: 10.1.0.10 }\n"
    "  sym: { nat: nsym, address: 10.7.0.10 }\n";

struct seen {
	char id[RDV_NAME_MAX + 1];
	double t_s;
	bool success;
	char method[16];
	char reason[AGENT_REASON_MAX];
	int times;
};

struct env {
	struct clock_virtual vc;
	struct sched *s;
	struct topo *t;
	struct vnet *v;
	struct dgstund *stun;
	struct rdv *r;
	struct agent *srv;
	struct dg_ep stun_ep, rdv_ep;
	struct clients *fc, *sym;
	struct seen seen[2 * NCLIENTS];
	int nseen, idle;
	unsigned alive_seen_max;
};

static const struct dgram *host(struct env *e, const char *name)
{
	const struct dgram *d = vnet_dgram(e->v, topo_host_find(e->t, name));

	assert_non_null(d);
	return d;
}

static struct seen *find(struct env *e, const char *id)
{
	for (int i = 0; i < e->nseen; i++)
		if (strcmp(e->seen[i].id, id) == 0)
			return &e->seen[i];
	return NULL;
}

static void on_report(void *arg, const char *id, double t_s, const struct agent_report *r)
{
	struct env *e = arg;
	struct seen *s = find(e, id);

	if (!s) {
		assert_true(e->nseen < 2 * NCLIENTS);
		s = &e->seen[e->nseen++];
		snprintf(s->id, sizeof(s->id), "%s", id);
	}
	s->times++;
	s->t_s = t_s;
	s->success = r->success;
	snprintf(s->method, sizeof(s->method), "%s", r->m ? r->m->spec.name : "");
	snprintf(s->reason, sizeof(s->reason), "%s", r->reason);
}

static void on_idle(void *arg)
{
	((struct env *)arg)->idle++;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct rdv_config rc = {.listen = cknet_ep("198.51.100.20", RDV_DEFAULT_PORT)};
	struct agent_config sc = {.serve = true,
				  .nat = {NI_MAP_NONE, NI_FILTER_NONE, NI_PORTS_PRESERVE, 0, -1}};
	struct agent_ops so = {0};
	char err[TOPO_ERR_MAX];

	assert_non_null(e);
	e->s = sched_new(clock_virtual_clock(&e->vc), &e->vc);
	if (topo_load_string(topo_yaml, strlen(topo_yaml), "clients.yaml", "t-", &e->t, err,
			     sizeof(err)) < 0)
		fail_msg("topology: %s", err);
	e->v = vnet_new(&(struct vnet_cfg){.topo = e->t, .sched = e->s}, err, sizeof(err));
	if (!e->v)
		fail_msg("vnet: %s", err);
	e->stun_ep = cknet_ep("198.51.100.10", 3478);
	e->stun = dgstund_new(host(e, "stun"), e->stun_ep.addr, cknet_ep("198.51.100.11", 0).addr,
			      e->stun_ep.port);
	assert_non_null(e->stun);
	assert_int_equal(rdv_new(host(e, "rdv"), &rc, &e->r), 0);
	e->rdv_ep = rdv_local(e->r);
	sc.rdv = e->rdv_ep;
	sc.stun = e->stun_ep;
	strcpy(sc.name, "srv");
	assert_int_equal(agent_new(host(e, "srv"), &sc, &so, &e->srv), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	clients_free(e->fc);
	clients_free(e->sym);
	agent_free(e->srv);
	rdv_free(e->r);
	dgstund_free(e->stun);
	vnet_free(e->v);
	sched_free(e->s);
	topo_free(e->t);
	free(e);
	return 0;
}

/* The product's table, as natbed-agent clients orders it. */
static struct clients_config config(struct env *e, const char *prefix, int max_alive)
{
	static const struct method *table[AGENT_PLAN_MAX];
	struct clients_config c = {.max_alive = max_alive, .priority = SEL_BALANCED};
	size_t n = 0;

	while (n < AGENT_PLAN_MAX && (table[n] = method_at(n)))
		n++;
	c.agent = (struct agent_config){
	    .rdv = e->rdv_ep, .stun = e->stun_ep, .find_method = method_find, .discover = true};
	snprintf(c.agent.name, sizeof(c.agent.name), "%s", prefix);
	c.plan = (struct agent_plan){
	    .cascade = true, .table = table, .ntable = n, .probes = 3, .priority = SEL_BALANCED};
	return c;
}

static void line(struct clients *c, const char *fmt, ...)
{
	char buf[CLIENTS_LINE_MAX + 1], err[128] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (clients_line(c, buf, err, sizeof(err)) != 0)
		fail_msg("line \"%s\": %s", buf, err);
}

static void run_for(struct env *e, natbed_time_t ns)
{
	natbed_time_t end = sched_now(e->s) + ns;
	struct clients_counters cc;

	/* step by 10 ms to see how many are alive at once */
	while (sched_now(e->s) < end) {
		sched_run_until(e->s, sched_now(e->s) + 10 * MS);
		for (int i = 0; i < 2; i++) {
			struct clients *c = i ? e->sym : e->fc;

			if (!c)
				continue;
			clients_counters(c, &cc);
			if (cc.alive > e->alive_seen_max)
				e->alive_seen_max = cc.alive;
		}
	}
}

/* 30 clients a site, one every 100 ms between the two: the lines of each
 * site in reverse order of time, the last ten given only when their time
 * has passed (they start at once, late). */
static void many_clients_each_reported_once(void **state)
{
	struct env *e = *state;
	struct clients_config cfc = config(e, "fc", 8), csym = config(e, "sym", 8);
	struct clients_ops ops = {.report = on_report, .idle = on_idle, .arg = e};
	struct clients_counters cc;
	struct rdv_counters rc;

	sched_run_until(e->s, sched_now(e->s) + 1 * S); /* srv registers */
	e->fc = clients_new(host(e, "fc"), &cfc, &ops);
	e->sym = clients_new(host(e, "sym"), &csym, &ops);
	assert_non_null(e->fc);
	assert_non_null(e->sym);
	for (int i = NCLIENTS - 1 - 10; i >= 0; i--) {
		struct clients *c = i % 2 ? e->sym : e->fc;

		if (i % 10 == 3)
			line(c, "c%d %.3f srv direct", i, i * 0.1);
		else if (i % 10 == 7)
			line(c, "c%d %.3f srv cascade success_rate", i, i * 0.1);
		else
			line(c, "c%d\t%.1f srv   # a comment", i, i * 0.1);
	}
	run_for(e, 6 * S);
	for (int i = NCLIENTS - 10; i < NCLIENTS; i++)
		line(i % 2 ? e->sym : e->fc, "c%d %.1f srv", i, i * 0.1);
	clients_eof(e->fc);
	run_for(e, 5 * S);
	assert_int_equal(e->idle, 0); /* sym's input has not ended */
	clients_eof(e->sym);
	run_for(e, 120 * S);
	assert_int_equal(e->idle, 2);
	assert_int_equal(e->nseen, NCLIENTS);
	for (int i = 0; i < NCLIENTS; i++) {
		char id[16];
		struct seen *s;

		snprintf(id, sizeof(id), "c%d", i);
		s = find(e, id);
		if (!s || s->times != 1 || !s->success)
			fail_msg("%s: %d reports, %s", id, s ? s->times : 0,
				 s ? s->reason : "none");
		/* started no earlier than its time (from 1 s in); the late
		 * ones at 6 s, when their lines came */
		assert_true(s->t_s >= i * 0.1 - 1e-9);
		if (i >= NCLIENTS - 10)
			assert_true(s->t_s >= 6.0 - 1e-9);
		if (i % 10 == 3)
			assert_string_equal(s->method, "direct");
	}
	assert_true(e->alive_seen_max <= 8);
	clients_counters(e->fc, &cc);
	assert_int_equal(cc.lines, NCLIENTS / 2);
	assert_int_equal(cc.reported, NCLIENTS / 2);
	assert_int_equal(cc.connected, NCLIENTS / 2);
	assert_int_equal(cc.alive, 0);
	assert_int_equal(cc.pending, 0);
	assert_true(cc.alive_max <= 8);
	/* every client gave its name up: only srv is left */
	rdv_counters(e->r, &rc);
	assert_int_equal(rc.agents, 1);
	assert_int_equal(rc.unregistered, NCLIENTS);
}

/* At most max_alive at once: the rest wait in turn, and start as soon as
 * one ends. */
static void alive_bounded_waiting_in_turn(void **state)
{
	struct env *e = *state;
	struct clients_config cfg = config(e, "fc", 2);
	struct clients_ops ops = {.report = on_report, .idle = on_idle, .arg = e};
	struct clients_counters cc;

	cfg.agent.discover = false; /* every connect takes the same time */
	sched_run_until(e->s, sched_now(e->s) + 1 * S);
	e->fc = clients_new(host(e, "fc"), &cfg, &ops);
	for (int i = 0; i < 6; i++)
		line(e->fc, "w%d 0 srv direct", i);
	clients_eof(e->fc);
	run_for(e, 30 * S);
	assert_int_equal(e->idle, 1);
	assert_int_equal(e->nseen, 6);
	clients_counters(e->fc, &cc);
	assert_int_equal(cc.alive_max, 2);
	assert_int_equal(cc.waited, 4);
	/* two at 0, two when those ended, two after */
	assert_true(find(e, "w0")->t_s == 0 && find(e, "w1")->t_s == 0);
	assert_true(find(e, "w2")->t_s > 0 && find(e, "w3")->t_s > 0);
	assert_true(find(e, "w4")->t_s > find(e, "w2")->t_s);
	assert_true(find(e, "w5")->t_s > find(e, "w3")->t_s);
	for (int i = 0; i < 6; i++)
		assert_true(e->seen[i].success);
}

static void failures_reported_bad_lines_refused(void **state)
{
	static const char *const bad[] = {
	    "c1",			 /* too few fields */
	    "c1 0 srv direct x y",	 /* too many */
	    "c/1 0 srv",		 /* not a name */
	    "c1 soon srv",		 /* not seconds */
	    "c1 -1 srv",		 /* before the start */
	    "c1 0 s?v",			 /* not a peer's name */
	    "c1 0 srv teleport",	 /* no such method */
	    "c1 0 srv direct cost",	 /* a priority without the cascade */
	    "c1 0 srv cascade cheapest", /* no such priority */
	    "a-very-long-client-id-that-does-not-fit 0 srv",
	};
	struct env *e = *state;
	struct clients_config cfg = config(e, "fc", 0);
	struct clients_ops ops = {.report = on_report, .idle = on_idle, .arg = e};
	struct clients_counters cc;
	char err[128];

	cfg.agent.discover = false;
	e->fc = clients_new(host(e, "fc"), &cfg, &ops);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (clients_line(e->fc, bad[i], err, sizeof(err)) != -EINVAL)
			fail_msg("\"%s\" taken", bad[i]);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(clients_line(e->fc, "   # nothing", err, sizeof(err)), 0);
	assert_int_equal(clients_line(e->fc, "", err, sizeof(err)), 0);
	line(e->fc, "lost 0.5 nobody");
	clients_eof(e->fc);
	run_for(e, 30 * S);
	assert_int_equal(e->idle, 1);
	assert_int_equal(e->nseen, 1);
	assert_false(e->seen[0].success);
	assert_string_equal(e->seen[0].reason, "rendezvous refused: peer not registered");
	assert_true(e->seen[0].t_s >= 0.5);
	clients_counters(e->fc, &cc);
	assert_int_equal(cc.lines, 1);
	assert_int_equal(cc.connected, 0);
	/* a prefix that leaves no room for an id is no config */
	strcpy(cfg.agent.name, "abcdefghijklmnopqrstuvwxyz123456");
	assert_null(clients_new(host(e, "fc"), &cfg, &ops));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(many_clients_each_reported_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(alive_bounded_waiting_in_turn, setup, teardown),
	    cmocka_unit_test_setup_teardown(failures_reported_bad_lines_refused, setup, teardown),
	};

	log_init("test_clients", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
