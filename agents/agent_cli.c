/* natbed-agent: what the subcommands share: common options, the agent's
 * state machine on the programs' loop (agent_loop.c), the --stats file,
 * the result line. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "natbed/log.h"
#include "natbed/strcopy.h"
#include "rdv.h"
#include "turnsock.h"

#define STUN_DEFAULT_PORT 3478
#define TURN_DEFAULT_PORT 3478	 /* RFC 8656 §20 */
#define PCP_SERVER_PORT	  5351	 /* RFC 6887 §19.1, RFC 6886 §3.1 */
#define RTF_UP_GATEWAY	  0x0003 /* <linux/route.h>: RTF_UP | RTF_GATEWAY */

/* The default route's gateway, from /proc/net/route (addr 0: none): the
 * NAT's PCP and NAT-PMP server, as RFC 6887 §8.1 and RFC 6886 §3 find it. */
static struct dg_ep default_gateway(void)
{
	struct dg_ep gw = {0, htons(PCP_SERVER_PORT)};
	FILE *f = fopen("/proc/net/route", "r");
	char line[256], ifname[32];
	unsigned long dst, via, flags;

	if (!f)
		return gw;
	while (!gw.addr && fgets(line, sizeof(line), f))
		/* Iface Destination Gateway Flags ...: addresses as the kernel
		 * holds them (network order), printed in hex */
		if (sscanf(line, "%31s %lx %lx %lx", ifname, &dst, &via, &flags) == 4 && dst == 0 &&
		    (flags & RTF_UP_GATEWAY) == RTF_UP_GATEWAY)
			gw.addr = (uint32_t)via;
	fclose(f);
	return gw;
}

void agent_cli_init(struct agent_cli *c, const struct agent_env *env)
{
	memset(c, 0, sizeof(*c));
	c->env = env;
	c->cfg.find_method = env->find_method;
	c->cfg.nat.hairpin = -1;
	c->cfg.discover = true;
	c->cfg.gateway = default_gateway();
}

/* --nat CLASS: what discovery would have found for a NAT of that class
 * (natinfo_class() gives CLASS back). */
static int parse_nat(const char *arg, struct natinfo *ni)
{
	static const struct {
		const char *name;
		struct natinfo ni;
	} classes[] = {
	    {"open", {NI_MAP_NONE, NI_FILTER_NONE, NI_PORTS_PRESERVE, 0, -1, 0}},
	    {"full-cone", {NI_MAP_EIM, NI_FILTER_EIF, NI_PORTS_UNKNOWN, 0, -1, 0}},
	    {"restricted-cone", {NI_MAP_EIM, NI_FILTER_ADF, NI_PORTS_UNKNOWN, 0, -1, 0}},
	    {"port-restricted", {NI_MAP_EIM, NI_FILTER_APDF, NI_PORTS_UNKNOWN, 0, -1, 0}},
	    {"addr-dependent", {NI_MAP_ADM, NI_FILTER_APDF, NI_PORTS_UNKNOWN, 0, -1, 0}},
	    {"symmetric-sequential", {NI_MAP_APDM, NI_FILTER_APDF, NI_PORTS_SEQUENTIAL, 1, -1, 0}},
	    {"symmetric-random", {NI_MAP_APDM, NI_FILTER_APDF, NI_PORTS_RANDOM, 0, -1, 0}},
	    {"unknown", {NI_MAP_UNKNOWN, NI_FILTER_UNKNOWN, NI_PORTS_UNKNOWN, 0, -1, 0}},
	};
	const char *colon = strchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	char *end;
	long stride;

	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		if (strlen(classes[i].name) != n || strncmp(arg, classes[i].name, n) != 0)
			continue;
		*ni = classes[i].ni;
		if (!colon)
			return 0;
		/* a stride only where the ports are sequential; not 0 */
		errno = 0;
		stride = strtol(colon + 1, &end, 10);
		if (ni->ports != NI_PORTS_SEQUENTIAL || end == colon + 1 || *end || errno ||
		    stride == 0 || stride < INT16_MIN || stride > INT16_MAX)
			return -1;
		ni->stride = (int)stride;
		return 0;
	}
	return -1;
}

static int copy_cred(const char *opt, const char *arg, char *dst, size_t cap, bool *have)
{
	if (!arg[0] || strlen(arg) >= cap) {
		fprintf(stderr, "--%s: 1 to %zu bytes\n", opt, cap - 1);
		return -1;
	}
	str_copy(dst, cap, arg);
	*have = true;
	return 1;
}

static int parse_ep(const char *opt, const char *arg, uint16_t port, struct dg_ep *ep)
{
	if (dg_ep_parse(arg, port, ep) < 0) {
		fprintf(stderr, "--%s %s: not IPv4[:PORT]\n", opt, arg);
		return -1;
	}
	return 1;
}

int agent_cli_option(struct agent_cli *c, int opt, const char *arg)
{
	switch (opt) {
	case AGENT_OPT_NAME:
		if (!rdvmsg_name_ok(arg, RDV_NAME_MAX)) {
			fprintf(stderr, "--name %s: 1 to %d of [A-Za-z0-9._-]\n", arg,
				RDV_NAME_MAX);
			return -1;
		}
		str_copy(c->cfg.name, sizeof(c->cfg.name), arg);
		c->have_name = true;
		return 1;
	case AGENT_OPT_RENDEZVOUS:
		c->have_rdv = true;
		return parse_ep("rendezvous", arg, RDV_DEFAULT_PORT, &c->cfg.rdv);
	case AGENT_OPT_STUN:
		c->have_stun = true;
		return parse_ep("stun", arg, STUN_DEFAULT_PORT, &c->cfg.stun);
	case AGENT_OPT_BIND:
		/* without a port: any free one */
		return parse_ep("bind", arg, 0, &c->cfg.bind);
	case AGENT_OPT_STATS:
		c->stats_path = arg;
		return 1;
	case AGENT_OPT_VERBOSE:
		c->verbose = true;
		return 1;
	case AGENT_OPT_NO_DISCOVER:
		c->cfg.discover = false;
		return 1;
	case AGENT_OPT_NAT:
		if (parse_nat(arg, &c->cfg.nat) < 0) {
			fprintf(stderr,
				"--nat %s: a class (open, full-cone, restricted-cone, "
				"port-restricted, addr-dependent, symmetric-sequential[:STRIDE], "
				"symmetric-random, unknown)\n",
				arg);
			return -1;
		}
		c->cfg.discover = false;
		return 1;
	case AGENT_OPT_TURN:
		return parse_ep("turn", arg, TURN_DEFAULT_PORT, &c->cfg.turn.server);
	case AGENT_OPT_TURN_USER:
		return copy_cred("turn-user", arg, c->cfg.turn.user, sizeof(c->cfg.turn.user),
				 &c->have_turn_user);
	case AGENT_OPT_TURN_PASS:
		return copy_cred("turn-pass", arg, c->cfg.turn.pass, sizeof(c->cfg.turn.pass),
				 &c->have_turn_pass);
	default:
		return agent_gate_option(c, opt, arg);
	}
}

bool agent_cli_complete(const struct agent_cli *c, const char *cmd)
{
	const char *missing = !c->have_name   ? "--name"
			      : !c->have_rdv  ? "--rendezvous"
			      : !c->have_stun ? "--stun"
					      : NULL;

	bool turn = c->cfg.turn.server.addr != 0;

	if (missing)
		fprintf(stderr, "natbed-agent %s: %s is required (--help)\n", cmd, missing);
	else if (turn != c->have_turn_user || turn != c->have_turn_pass)
		fprintf(stderr,
			"natbed-agent %s: --turn, --turn-user and --turn-pass go together\n", cmd);
	else
		return agent_gate_complete(c);
	return false;
}

/* The TURN client's counters, when the agent has one. */
static void stats_turn(const struct agent_cli *c, json_t *j)
{
	struct turnsock *ts = agent_turn(c->a);
	struct turn_stats st;

	if (!ts || !j)
		return;
	turnsock_stats(ts, &st);
	json_object_set_new(
	    j, "turn",
	    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "requests",
		      (json_int_t)st.requests, "retransmits", (json_int_t)st.retransmits, "errors",
		      (json_int_t)st.errors, "refreshes", (json_int_t)st.refreshes,
		      "channel_data_in", (json_int_t)st.channel_data_in, "channel_data_out",
		      (json_int_t)st.channel_data_out, "indications_in",
		      (json_int_t)st.indications_in, "ignored", (json_int_t)st.ignored));
}

static json_t *stats_json(void *arg)
{
	const struct agent_cli *c = arg;
	struct rdvc_counters rc;
	struct agent_counters ac;
	struct dgsock_stats io;
	json_t *drops = json_object(), *stray = json_object(), *root, *rdv;

	if (!c->a)
		return NULL;
	rdvc_counters(agent_rdvc(c->a), &rc);
	agent_counters(c->a, &ac);
	dgsock_stats(c->loop.io, &io);
	for (int i = 1; i < RDVC_DROP_COUNT; i++)
		json_object_set_new(drops, rdvc_drop_name((enum rdvc_drop)i),
				    json_integer((json_int_t)rc.drops[i]));
	for (int i = 0; i < AGENT_STRAY_COUNT; i++)
		json_object_set_new(stray, agent_stray_name((enum agent_stray)i),
				    json_integer((json_int_t)ac.stray[i]));
	root = json_pack(
	    "{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}, s:{s:I, s:I, s:I, s:I, "
	    "s:I, s:o}, s:{s:I, s:I, s:I}}",
	    "rendezvous", "taken", (json_int_t)rc.taken, "stun_answers",
	    (json_int_t)rc.stun_answers, "registrations", (json_int_t)rc.registrations, "refreshes",
	    (json_int_t)rc.refreshes, "reregistrations", (json_int_t)rc.reregistrations,
	    "connects_ok", (json_int_t)rc.connects_ok, "connects_failed",
	    (json_int_t)rc.connects_failed, "introductions", (json_int_t)rc.introductions,
	    "intro_duplicates", (json_int_t)rc.intro_duplicates, "intro_refused",
	    (json_int_t)rc.intro_refused, "drops", drops, "tries", "run", (json_int_t)ac.tries_run,
	    "ok", (json_int_t)ac.tries_ok, "failed", (json_int_t)ac.tries_failed, "refused",
	    (json_int_t)ac.tries_refused, "probes_echoed", (json_int_t)ac.probes_echoed, "stray",
	    stray, "socket", "rx", (json_int_t)io.rx, "tx", (json_int_t)io.tx, "tx_errors",
	    (json_int_t)io.tx_errors);
	rdv = json_object_get(root, "rendezvous");
	json_object_set_new(rdv, "lookups_ok", json_integer((json_int_t)rc.lookups_ok));
	json_object_set_new(rdv, "reanchors", json_integer((json_int_t)rc.reanchors));
	json_object_set_new(rdv, "lookups_failed", json_integer((json_int_t)rc.lookups_failed));
	stats_turn(c, root);
	json_object_set_new(rdv, "cancels", json_integer((json_int_t)rc.cancels));
	json_object_set_new(json_object_get(root, "tries"), "cancelled",
			    json_integer((json_int_t)ac.tries_cancelled));
	return root;
}

static json_t *ms_json(double ms)
{
	return json_real(round(ms * 1000) / 1000);
}

static json_t *ep_json(const struct dg_ep *ep, bool known)
{
	char b[DG_EP_STR];

	return known ? json_string(dg_ep_str(ep, b)) : json_null();
}

json_t *agent_report_json(const struct agent_report *r)
{
	json_t *tried = json_array(), *j;

	for (int i = 0; i < r->ntried; i++) {
		const struct agent_tried *t = &r->tried[i];

		json_array_append_new(
		    tried, json_pack("{s:s, s:b, s:o, s:o}", "method", t->m->spec.name, "success",
				     t->success, "ms", ms_json(t->ms), "reason",
				     t->success ? json_null() : json_string(t->reason)));
	}
	/* no method when nothing was tried (the peer's LOOKUP refused) */
	j = json_pack("{s:s, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o}", "peer", r->peer,
		      "method", r->m ? json_string(r->m->spec.name) : json_null(), "success",
		      r->success, "setup_ms", r->success ? ms_json(r->setup_ms) : json_null(),
		      "rtt_ms", r->probe.rtt_ms >= 0 ? ms_json(r->probe.rtt_ms) : json_null(),
		      "loss", r->success && r->probe.sent ? json_real(r->probe.loss) : json_null(),
		      "local", ep_json(&r->local, r->success), "remote",
		      ep_json(&r->remote, r->success), "path", r->path, "tried", tried, "reason",
		      r->success ? json_null() : json_string(r->reason));
	return j;
}

int agent_print_json(json_t *j)
{
	/* 9 significant digits: 200.424, not 200.42400000000001 */
	char *line = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;

	json_decref(j);
	if (!line) {
		log_err("cannot write a result line: out of memory");
		return -ENOMEM;
	}
	printf("%s\n", line);
	fflush(stdout);
	free(line);
	return 0;
}

/* What discovery found, and what it could not measure (--verbose). */
static void log_discovered(void *arg, struct agent *a, const struct disc_result *r)
{
	const struct natinfo *ni = &r->ni;
	char stride[24] = "";

	if (ni->ports == NI_PORTS_SEQUENTIAL)
		snprintf(stride, sizeof(stride), " (stride %d)", ni->stride);
	log_debug(
	    "discovery: mapping %s, filtering %s, ports %s%s, hairpin %s: class %s in %.1f s",
	    ni_map_name(ni->map), ni_filter_name(ni->filter), ni_ports_name(ni->ports), stride,
	    ni->hairpin < 0 ? "unknown"
	    : ni->hairpin   ? "yes"
			    : "no",
	    ni_class_name(natinfo_class(ni)), (double)(r->finished - r->started) / NATBED_NS_PER_S);
	if (r->err != DISC_OK)
		log_debug("discovery: %s; registering what was measured, the rest unknown",
			  disc_err_str(r->err));
}

int agent_cli_start(struct agent_cli *c, const struct agent_ops *ops)
{
	struct agent_ops o = *ops;
	char es[DG_EP_STR];
	int r;

	log_init("natbed-agent", c->verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (agent_loop_init(&c->loop, stats_json, c, c->stats_path) < 0)
		return -ENOMEM;
	c->loop.status = 1; /* until something says otherwise */
	if (!o.discovered)
		o.discovered = log_discovered;
	r = agent_gate_auth(c); /* with --gate: nothing else goes out before it grants */
	if (r < 0)
		return r;
	r = agent_new(agent_loop_dgram(&c->loop), &c->cfg, &o, &c->a);
	if (r < 0) {
		log_err("main socket %s: %s", dg_ep_str(&c->cfg.bind, es), strerror(-r));
		return r;
	}
	return 0;
}

void agent_cli_run(struct agent_cli *c)
{
	agent_loop_run(&c->loop);
}

void agent_cli_stop(struct agent_cli *c, int status)
{
	agent_loop_stop(&c->loop, status);
}

int agent_cli_end(struct agent_cli *c)
{
	int status = c->a ? c->loop.status : 1;

	if (c->a) {
		agent_leave(c->a);
		agent_loop_stats(&c->loop);
	}
	agent_free(c->a);
	c->a = NULL;
	agent_loop_free(&c->loop);
	return status;
}
