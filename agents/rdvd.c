/* natbed-rendezvous: the rendezvous (agents/rdv.c) on real UDP sockets, a
 * libevent loop and the monotonic clock. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <event2/event.h>
#include <jansson.h>

#include "dgram_sock.h"
#include "natbed/log.h"
#include "natbed/units.h"
#include "rdv.h"

struct rdvd {
	const char *stats_path;
	struct event_base *base;
	struct event *sig_term, *sig_int, *sig_usr1;
	struct sched *s;
	struct dgsock *io;
	struct rdv *r;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: natbed-rendezvous --listen IP[:PORT] [--start-delay DURATION]\n"
		"                         [--max-lifetime SECONDS] [--stats FILE] [--verbose]\n"
		"\n"
		"The rendezvous of natbed's agents: they register under a name (REGISTER),\n"
		"ask to meet a peer (CONNECT), and it introduces both in the same moment\n"
		"(INTRODUCE) with each other's candidates and a common start time. It\n"
		"relays no data. STUN-framed messages: docs/agents.md.\n"
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

static json_t *stats_json(const struct rdvd *d)
{
	struct rdv_counters c;
	struct dgsock_stats io;
	json_t *drops = json_object(), *root;
	uint64_t total = 0;

	rdv_counters(d->r, &c);
	dgsock_stats(d->io, &io);
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
	json_object_set_new(root, "drops", drops);
	return root;
}

/* Writes the counters through a temporary file: a reader never sees half. */
static int stats_write(const struct rdvd *d)
{
	char tmp[4096];
	json_t *j;
	int ret;

	if (!d->stats_path || !d->r)
		return 0;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", d->stats_path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	j = stats_json(d);
	ret = json_dump_file(j, tmp, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	if (ret < 0 || rename(tmp, d->stats_path) < 0) {
		log_err("stats %s: cannot write", d->stats_path);
		return -EIO;
	}
	return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct rdvd *d = arg;

	if (sig == SIGUSR1) {
		stats_write(d);
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopbreak(d->base);
}

static void rdvd_free(struct rdvd *d)
{
	rdv_free(d->r);
	dgsock_free(d->io);
	sched_free(d->s);
	if (d->sig_usr1)
		event_free(d->sig_usr1);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->base)
		event_base_free(d->base);
}

static int rdvd_start(struct rdvd *d, const struct rdv_config *cfg)
{
	char es[DG_EP_STR];
	uint64_t seed = 0;
	struct dg_ep local;
	int r;

	/* try ids and transaction ids must not repeat across restarts */
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		log_warn("getrandom: %s; seeding with 0", strerror(errno));
	d->base = event_base_new();
	if (!d->base)
		return -ENOMEM;
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_usr1 = evsignal_new(d->base, SIGUSR1, on_signal, d);
	if (!d->sig_term || !d->sig_int || !d->sig_usr1 || evsignal_add(d->sig_term, NULL) < 0 ||
	    evsignal_add(d->sig_int, NULL) < 0 || evsignal_add(d->sig_usr1, NULL) < 0)
		return -ENOMEM;
	d->s = sched_new(clock_monotonic, NULL);
	if (!d->s || sched_attach(d->s, d->base) < 0)
		return -ENOMEM;
	d->io = dgsock_new(d->base, d->s, seed);
	if (!d->io)
		return -ENOMEM;
	r = rdv_new(dgsock_dgram(d->io), cfg, &d->r);
	if (r < 0) {
		log_err("listen %s: %s", dg_ep_str(&cfg->listen, es), strerror(-r));
		return r;
	}
	local = rdv_local(d->r);
	log_info("listening on %s", dg_ep_str(&local, es));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"start-delay", required_argument, NULL, 'd'},
	    {"max-lifetime", required_argument, NULL, 'm'},
	    {"stats", required_argument, NULL, 'S'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct rdv_config cfg = {0};
	struct rdvd d = {0};
	enum log_level lvl = LOG_LVL_INFO;
	const char *listen = NULL;
	int64_t v;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "l:d:m:S:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 'd':
			if (units_parse_duration(optarg, &cfg.start_delay_ns) < 0 ||
			    cfg.start_delay_ns <= 0 || cfg.start_delay_ns > 60 * NATBED_NS_PER_S) {
				fprintf(stderr, "--start-delay %s: a duration in (0, 60s]\n",
					optarg);
				return 2;
			}
			break;
		case 'm':
			if (units_parse_count(optarg, 86400, &v) < 0 || v == 0) {
				fprintf(stderr, "--max-lifetime %s: seconds, 1..86400\n", optarg);
				return 2;
			}
			cfg.lifetime_max_s = (uint32_t)v;
			break;
		case 'S':
			d.stats_path = optarg;
			break;
		case 'v':
			lvl = LOG_LVL_DEBUG;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	log_init("natbed-rendezvous", lvl);
	if (!listen || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (dg_ep_parse(listen, RDV_DEFAULT_PORT, &cfg.listen) < 0) {
		log_err("--listen %s: not IPv4[:PORT]", listen);
		return 2;
	}
	if (rdvd_start(&d, &cfg) == 0) {
		event_base_dispatch(d.base);
		ret = stats_write(&d) < 0 ? 1 : 0;
	}
	rdvd_free(&d);
	return ret;
}
