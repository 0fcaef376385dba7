/* natbed-rendezvous: the rendezvous (agents/rdv.c) on real UDP sockets, a
 * libevent loop and the monotonic clock. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent_loop.h"
#include "natbed/log.h"
#include "rdv.h"
#include "rdv_args.h"

struct rdvd {
	struct agent_loop loop;
	struct rdv *r;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: natbed-rendezvous --listen IP[:PORT] [--start-delay DURATION]\n"
		"                         [--max-lifetime SECONDS] [--stats FILE] [--verbose]\n"
		"\n"
		"The rendezvous of natbed's agents: they register under a name (REGISTER),\n"
		"learn a peer's candidates and NAT (LOOKUP), ask to meet it (CONNECT), and\n"
		"it introduces both in the same moment (INTRODUCE) with each other's\n"
		"candidates and a common start time. It relays no data. STUN-framed\n"
		"messages: docs/agents.md.\n"
		"\n"
		"  --listen IP[:PORT]       address to serve on (default port %d)\n"
		"  --start-delay DURATION   how far ahead the common start is (default %dms)\n"
		"  --max-lifetime SECONDS   longest registration granted (default %d)\n"
		"  --stats FILE             write counters as JSON to FILE on SIGUSR1 (keep\n"
		"                           running) and on SIGTERM/SIGINT (exit)\n"
		"  --verbose                log at debug level\n"
		"  --help                   this text\n",
		RDV_DEFAULT_PORT, RDV_START_DELAY_MS, RDV_LIFETIME_MAX_S);
}

static json_t *stats_json(void *arg)
{
	const struct rdvd *d = arg;
	struct rdv_counters c;
	struct dgsock_stats io;
	json_t *drops = json_object(), *root;
	uint64_t total = 0;

	rdv_counters(d->r, &c);
	dgsock_stats(d->loop.io, &io);
	for (int i = 1; i < RDV_DROP_COUNT; i++) {
		json_object_set_new(drops, rdv_drop_name((enum rdv_drop)i),
				    json_integer((json_int_t)c.drops[i]));
		total += c.drops[i];
	}
	json_object_set_new(drops, "total", json_integer((json_int_t)total));
	root = json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:{s:I, s:I, s:I}}",
	    "datagrams", (json_int_t)c.datagrams, "agents", (json_int_t)c.agents, "registered",
	    (json_int_t)c.registered, "refreshed", (json_int_t)c.refreshed, "unregistered",
	    (json_int_t)c.unregistered, "expired", (json_int_t)c.expired, "connects",
	    (json_int_t)c.connects, "connect_errors", (json_int_t)c.connect_errors, "introductions",
	    (json_int_t)c.introductions, "intro_retransmits", (json_int_t)c.intro_retransmits,
	    "intro_acked", (json_int_t)c.intro_acked, "intro_refused", (json_int_t)c.intro_refused,
	    "intro_unacked", (json_int_t)c.intro_unacked, "socket", "rx", (json_int_t)io.rx, "tx",
	    (json_int_t)io.tx, "tx_errors", (json_int_t)io.tx_errors);
	json_object_set_new(root, "lookups", json_integer((json_int_t)c.lookups));
	json_object_set_new(root, "lookup_errors", json_integer((json_int_t)c.lookup_errors));
	json_object_set_new(root, "cancels", json_integer((json_int_t)c.cancels));
	json_object_set_new(root, "cancel_retransmits",
			    json_integer((json_int_t)c.cancel_retransmits));
	json_object_set_new(root, "cancel_acked", json_integer((json_int_t)c.cancel_acked));
	json_object_set_new(root, "drops", drops);
	return root;
}

static int rdvd_start(struct rdvd *d, const struct rdv_config *cfg, const char *stats_path)
{
	char es[DG_EP_STR];
	struct dg_ep local;
	int r;

	if (agent_loop_init(&d->loop, stats_json, d, stats_path) < 0)
		return -ENOMEM;
	r = rdv_new(agent_loop_dgram(&d->loop), cfg, &d->r);
	if (r < 0) {
		log_err("listen %s: %s", dg_ep_str(&cfg->listen, es), strerror(-r));
		return r;
	}
	/* the counters are only there once the rendezvous is */
	local = rdv_local(d->r);
	log_info("listening on %s", dg_ep_str(&local, es));
	return 0;
}

int main(int argc, char **argv)
{
	struct rdv_args a;
	struct rdvd d = {0};
	char err[256];
	int ret = 1;

	if (rdv_args_parse(argc, argv, &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "natbed-rendezvous: %s (see natbed-rendezvous --help)\n", err);
		return 2;
	}
	if (a.help) {
		usage(stdout);
		return 0;
	}
	log_init("natbed-rendezvous", a.verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (rdvd_start(&d, &a.cfg, a.stats) == 0) {
		agent_loop_run(&d.loop);
		ret = agent_loop_stats(&d.loop) < 0 ? 1 : 0;
	}
	rdv_free(d.r);
	agent_loop_free(&d.loop);
	return ret;
}
