/* natbed-agent: what the subcommands share: common options, the libevent
 * loop on the monotonic clock with real sockets (dgram_sock.c) under the
 * agent's state machine, signals, the --stats file. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <event2/event.h>
#include <jansson.h>

#include "agent.h"
#include "dgram_sock.h"
#include "natbed/log.h"
#include "rdv.h"

#define STUN_DEFAULT_PORT 3478

void agent_cli_init(struct agent_cli *c, const struct agent_env *env)
{
	memset(c, 0, sizeof(*c));
	c->env = env;
	c->cfg.find_method = env->find_method;
	c->cfg.nat.hairpin = -1;
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
		snprintf(c->cfg.name, sizeof(c->cfg.name), "%s", arg);
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
	default:
		return 0;
	}
}

bool agent_cli_complete(const struct agent_cli *c, const char *cmd)
{
	const char *missing = !c->have_name   ? "--name"
			      : !c->have_rdv  ? "--rendezvous"
			      : !c->have_stun ? "--stun"
					      : NULL;

	if (missing)
		fprintf(stderr, "natbed-agent %s: %s is required (--help)\n", cmd, missing);
	return !missing;
}

static json_t *stats_json(const struct agent_cli *c)
{
	struct rdvc_counters rc;
	struct agent_counters ac;
	struct dgsock_stats io;
	json_t *drops = json_object(), *stray = json_object();

	rdvc_counters(agent_rdvc(c->a), &rc);
	agent_counters(c->a, &ac);
	dgsock_stats(c->io, &io);
	for (int i = 1; i < RDVC_DROP_COUNT; i++)
		json_object_set_new(drops, rdvc_drop_name((enum rdvc_drop)i),
				    json_integer((json_int_t)rc.drops[i]));
	for (int i = 0; i < AGENT_STRAY_COUNT; i++)
		json_object_set_new(stray, agent_stray_name((enum agent_stray)i),
				    json_integer((json_int_t)ac.stray[i]));
	return json_pack(
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
}

void agent_cli_stats(const struct agent_cli *c)
{
	char tmp[4096];
	json_t *j;
	int ret;

	if (!c->stats_path || !c->a)
		return;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", c->stats_path) >= (int)sizeof(tmp))
		return;
	j = stats_json(c);
	ret = json_dump_file(j, tmp, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	/* through a temporary file: a reader never sees half of it */
	if (ret < 0 || rename(tmp, c->stats_path) < 0)
		log_err("stats %s: cannot write", c->stats_path);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct agent_cli *c = arg;

	if (sig == SIGUSR1) {
		agent_cli_stats(c);
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	agent_cli_stop(c, 0);
}

int agent_cli_start(struct agent_cli *c, const struct agent_ops *ops)
{
	uint64_t seed = 0;
	char es[DG_EP_STR];
	int r;

	log_init("natbed-agent", c->verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	/* transaction ids must not repeat across runs */
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		log_warn("getrandom: %s; seeding with 0", strerror(errno));
	c->base = event_base_new();
	if (!c->base)
		return -ENOMEM;
	c->sig_term = evsignal_new(c->base, SIGTERM, on_signal, c);
	c->sig_int = evsignal_new(c->base, SIGINT, on_signal, c);
	c->sig_usr1 = evsignal_new(c->base, SIGUSR1, on_signal, c);
	if (!c->sig_term || !c->sig_int || !c->sig_usr1 || evsignal_add(c->sig_term, NULL) < 0 ||
	    evsignal_add(c->sig_int, NULL) < 0 || evsignal_add(c->sig_usr1, NULL) < 0)
		return -ENOMEM;
	c->s = sched_new(clock_monotonic, NULL);
	if (!c->s || sched_attach(c->s, c->base) < 0)
		return -ENOMEM;
	c->io = dgsock_new(c->base, c->s, seed);
	if (!c->io)
		return -ENOMEM;
	r = agent_new(dgsock_dgram(c->io), &c->cfg, ops, &c->a);
	if (r < 0) {
		log_err("main socket %s: %s", dg_ep_str(&c->cfg.bind, es), strerror(-r));
		return r;
	}
	return 0;
}

void agent_cli_run(struct agent_cli *c)
{
	event_base_dispatch(c->base);
}

void agent_cli_stop(struct agent_cli *c, int status)
{
	c->status = status;
	event_base_loopbreak(c->base);
}

void agent_cli_end(struct agent_cli *c)
{
	if (c->a) {
		agent_leave(c->a);
		agent_cli_stats(c);
	}
	agent_free(c->a);
	dgsock_free(c->io);
	sched_free(c->s);
	if (c->sig_usr1)
		event_free(c->sig_usr1);
	if (c->sig_int)
		event_free(c->sig_int);
	if (c->sig_term)
		event_free(c->sig_term);
	if (c->base)
		event_base_free(c->base);
}
