/* natbed-emu: the userspace fabric between a topology's namespaces.
 * Run by `natbed up` inside the fabric namespace; see --help. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "emu_ctl.h"
#include "fabric.h"
#include "natbed/capsel.h"
#include "natbed/log.h"
#include "natbed/sched.h"
#include "natbed/topo.h"
#include "natbed/units.h"
#include "standalone.h"

#define EMU_SYNC_MS 100 /* captures flushed and kernel drops read this often */

struct emu_opts {
	const char *topology;
	const char *prefix;
	const char *out;
	const char *ctl;
	const char *backend;
	const char *seed;
	const char *capture;	/* capsel spec: which captures --out gets */
	const char *time_scale; /* every gate's time-scale, NULL: the topology's */
	struct standalone_opts sa;
	const char *next_hop;
	long spin_us;
	int cpu; /* -1: wherever the kernel runs it */
	int verbose;
};

static void emu_usage(FILE *f)
{
	fputs("usage: natbed-emu --topology FILE [options]\n"
	      "       natbed-emu --inside IF --outside IF --public IP --inside-net CIDR [options]\n"
	      "\n"
	      "The natbed fabric: moves every packet between a topology's hosts in userspace,\n"
	      "answering ARP for the gateways it plays, routing, translating at each NAT,\n"
	      "filtering at each firewall, timing each link on its scheduler and writing one\n"
	      "pcap per port. Normally started by `natbed up` in the fabric namespace, where\n"
	      "each host's veth is an interface named after it.\n"
	      "\n"
	      "options:\n"
	      "  -t, --topology FILE  topology file (the same one `natbed up` read)\n"
	      "  -p, --prefix P       namespace prefix the topology was built with (default nb-)\n"
	      "  -o, --out DIR        write DIR/HOST.pcap per port, DIR/NAT-wan.pcap per NAT and\n"
	      "                       DIR/events.jsonl (default: no captures, no event log)\n"
	      "      --capture SEL    which captures --out gets: all (default), none, or\n"
	      "                       NAME,... of hosts (HOST.pcap) and NATs (NAT-wan.pcap);\n"
	      "                       events.jsonl is written in every case\n"
	      "  -c, --ctl PATH       control socket (default /run/natbed/PREFIX/ctl)\n"
	      "  -b, --backend NAME   packet I/O backend: ring (default; AF_PACKET with\n"
	      "                       PACKET_MMAP rings) or packet (AF_PACKET, recvmmsg/sendmmsg)\n"
	      "  -s, --seed N         override the topology's seed (loss, jitter, ports)\n"
	      "      --time-scale X   multiply every zero-trust gate's auth delays by X (a\n"
	      "                       number above 0, at most 1000, e.g. 0.01), whatever the\n"
	      "                       topology's gate blocks say (docs/gate.md)\n"
	      "      --spin US        after a burst, busy-poll ring ports for US microseconds\n"
	      "                       before sleeping (lower latency, more CPU; default 0)\n"
	      "      --cpu N          run only on CPU N (with --spin: a core of its own for the\n"
	      "                       fabric, on a machine with cores to spare; default: any)\n"
	      "  -v, --verbose        log more\n"
	      "  -h, --help           this text\n"
	      "\n"
	      "standalone mode (real devices behind an emulated NAT, e.g. a VM with two NICs):\n"
	      "      --inside IF      interface toward the inside network\n"
	      "      --outside IF     interface toward the outside\n"
	      "      --public IP      the NAT's outside address (answered for on --outside)\n"
	      "      --inside-net CIDR\n"
	      "                       the inside network; the emulator is its first address,\n"
	      "                       the inside hosts' gateway\n"
	      "      --preset NAME    NAT behaviour (default port-restricted; full-cone,\n"
	      "                       restricted-cone, symmetric, symmetric-sequential, cgnat)\n"
	      "      --next-hop IP    outside router for non-local destinations (default: every\n"
	      "                       destination on-link)\n"
	      "The interfaces should carry no address of their own: the emulator answers ARP.\n"
	      "\n"
	      "SIGTERM or SIGINT stops it cleanly; captures stay readable if it is killed.\n",
	      f);
}

/* Pins the process to CPU cpu: 0, or -1 with the reason logged. */
static int emu_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		log_err("--cpu %d: %s (this machine has CPUs 0 to %ld)", cpu, strerror(errno),
			sysconf(_SC_NPROCESSORS_CONF) - 1);
		return -1;
	}
	return 0;
}

static int emu_parse(int argc, char **argv, struct emu_opts *o)
{
	static const struct option lopts[] = {
	    {"topology", required_argument, NULL, 't'},
	    {"prefix", required_argument, NULL, 'p'},
	    {"out", required_argument, NULL, 'o'},
	    {"ctl", required_argument, NULL, 'c'},
	    {"backend", required_argument, NULL, 'b'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"seed", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {"inside", required_argument, NULL, 'I'},
	    {"outside", required_argument, NULL, 'O'},
	    {"public", required_argument, NULL, 'P'},
	    {"inside-net", required_argument, NULL, 'N'},
	    {"preset", required_argument, NULL, 'R'},
	    {"next-hop", required_argument, NULL, 'H'},
	    {"spin", required_argument, NULL, 'S'},
	    {"cpu", required_argument, NULL, 'C'},
	    {"capture", required_argument, NULL, 'K'},
	    {"time-scale", required_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0},
	};
	int64_t n;
	int c;

	o->prefix = "nb-";
	o->backend = "ring";
	o->cpu = -1;
	o->capture = CAPSEL_DEFAULT;
	while ((c = getopt_long(argc, argv, "t:p:o:c:b:s:vh", lopts, NULL)) != -1) {
		switch (c) {
		case 't':
			o->topology = optarg;
			break;
		case 'p':
			o->prefix = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'c':
			o->ctl = optarg;
			break;
		case 'b':
			o->backend = optarg;
			break;
		case 's':
			o->seed = optarg;
			break;
		case 'I':
			o->sa.inside = optarg;
			break;
		case 'O':
			o->sa.outside = optarg;
			break;
		case 'P':
			o->sa.public_ip = optarg;
			break;
		case 'N':
			o->sa.inside_net = optarg;
			break;
		case 'R':
			o->sa.preset = optarg;
			break;
		case 'H':
			o->next_hop = optarg;
			break;
		case 'K':
			o->capture = optarg;
			break;
		case 'T':
			o->time_scale = optarg;
			break;
		case 'S':
			if (units_parse_count(optarg, 10000, &n) < 0) {
				fprintf(stderr, "natbed-emu: --spin %s: 0 to 10000 microseconds\n",
					optarg);
				return -1;
			}
			o->spin_us = (long)n;
			break;
		case 'C':
			if (units_parse_count(optarg, CPU_SETSIZE - 1, &n) < 0) {
				fprintf(stderr, "natbed-emu: --cpu %s: a CPU number, 0 to %d\n",
					optarg, CPU_SETSIZE - 1);
				return -1;
			}
			o->cpu = (int)n;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			emu_usage(stdout);
			exit(0);
		default:
			emu_usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "natbed-emu: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!o->topology && !o->sa.inside && !o->sa.outside) {
		fprintf(stderr, "natbed-emu: --topology FILE, or standalone --inside/--outside, "
				"is required (see --help)\n");
		return -1;
	}
	if (o->topology && (o->sa.inside || o->sa.outside)) {
		fprintf(stderr, "natbed-emu: --topology and standalone --inside/--outside exclude "
				"each other\n");
		return -1;
	}
	return 0;
}

/* --time-scale: every gate's, with the topology's own parser. 0, or -1
 * with the reason logged. */
static int emu_time_scale(struct topo *t, const char *value)
{
	struct topo_gate_model m;
	char err[TOPO_ERR_MAX];
	size_t i;

	topo_gate_model_default(&m);
	if (topo_gate_model_set(&m, "time-scale", value, err, sizeof(err)) < 0) {
		log_err("--%s", err);
		return -1;
	}
	for (i = 0; i < t->n_nats; i++)
		if (t->nats[i].gate)
			t->nats[i].gate->m.time_scale = m.time_scale;
	for (i = 0; i < t->n_hosts; i++)
		if (t->hosts[i].gate)
			t->hosts[i].gate->m.time_scale = m.time_scale;
	return 0;
}

/* A stop asked by a signal: when, so the exit can say how long it took. */
struct emu_stop {
	struct event_base *base;
	natbed_time_t at_ns; /* 0 until a signal came */
};
/* Which captures --out gets: one flag per host and per NAT, for the fabric.
 * 0, or -1 with the reason logged (the bad name and what the topology has). */
static int emu_capture(const struct topo *t, const char *spec, bool **host, bool **nat)
{
	char err[TOPO_ERR_MAX];

	*host = calloc(t->n_hosts + 1, sizeof(**host));
	*nat = calloc(t->n_nats + 1, sizeof(**nat));
	if (!*host || !*nat) {
		log_err("--capture: out of memory");
		return -1;
	}
	if (capsel_parse(t, spec, *host, *nat, err, sizeof(err)) < 0) {
		log_err("--capture %s: %s", spec, err);
		return -1;
	}
	return 0;
}

static void emu_signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct emu_stop *stop = arg;

	log_info("signal %d: stopping", (int)sig);
	stop->at_ns = clock_now(&clock_monotonic);
	event_base_loopbreak(stop->base);
}

static void emu_sync_cb(evutil_socket_t fd, short ev, void *arg)
{
	fabric_sync(arg);
}

int main(int argc, char **argv)
{
	struct emu_opts o = {0};
	char err[TOPO_ERR_MAX], ctl_path[256];
	struct topo *t = NULL;
	struct event_base *base = NULL;
	struct sched *s = NULL;
	struct fabric *f = NULL;
	struct ctl *ctl = NULL;
	struct event *sig_term = NULL, *sig_int = NULL, *sync_ev = NULL;
	struct timeval sync_tv = {0, EMU_SYNC_MS * 1000};
	struct emu_ctl_ctx cctx;
	struct emu_stop stop = {0};
	struct fabric_cfg fc = {0};
	bool *cap_host = NULL, *cap_nat = NULL;
	int rc = 1;

	if (emu_parse(argc, argv, &o) < 0)
		return 2;
	log_init("natbed-emu", o.verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	signal(SIGPIPE, SIG_IGN);
	if (o.topology ? topo_load(o.topology, o.prefix, &t, err, sizeof(err))
		       : standalone_topo(&o.sa, &t, err, sizeof(err))) {
		log_err("%s", err);
		return 2;
	}
	if (o.next_hop && inet_pton(AF_INET, o.next_hop, &fc.next_hop) != 1) {
		log_err("--next-hop %s: not an IPv4 address", o.next_hop);
		topo_free(t);
		return 2;
	}
	if (o.cpu >= 0 && emu_pin(o.cpu) < 0) {
		topo_free(t);
		return 2;
	}
	if (o.time_scale && emu_time_scale(t, o.time_scale) < 0) {
		rc = 2;
		goto cleanup;
	}
	if (emu_capture(t, o.capture, &cap_host, &cap_nat) < 0) {
		rc = 2;
		goto cleanup;
	}
	fc.standalone = o.topology == NULL;
	fc.spin_ns = o.spin_us * NATBED_NS_PER_US;
	if (o.seed) {
		char *end;

		t->seed = strtoull(o.seed, &end, 10);
		if (*end || !*o.seed) {
			log_err("--seed %s: not a number", o.seed);
			goto cleanup;
		}
	}
	/* Link delays are timers: ask the kernel for the least timer slack
	 * (the scheduler wakes the loop with its own timerfd). */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	base = event_base_new();
	s = sched_new(clock_monotonic, NULL);
	if (!base || !s || sched_attach(s, base) < 0) {
		log_err("cannot set up the event loop");
		goto cleanup;
	}
	fc.topo = t;
	fc.backend = o.backend;
	fc.pcap_dir = o.out;
	fc.pcap_host = cap_host;
	fc.pcap_nat = cap_nat;
	fc.sched = s;
	fc.base = base;
	f = fabric_new(&fc, err, sizeof(err));
	if (!f) {
		log_err("%s", err);
		goto cleanup;
	}
	if (!o.ctl) {
		snprintf(ctl_path, sizeof(ctl_path), "/run/natbed/%s", o.prefix);
		mkdir("/run/natbed", 0700);
		mkdir(ctl_path, 0700);
		snprintf(ctl_path, sizeof(ctl_path), "/run/natbed/%s/ctl", o.prefix);
		o.ctl = ctl_path;
	}
	cctx.fabric = f;
	cctx.topo = t;
	cctx.sched = s;
	ctl = ctl_new(base, o.ctl, emu_ctl_cmds, emu_ctl_n_cmds, &cctx, err, sizeof(err));
	if (!ctl) {
		log_err("%s", err);
		goto cleanup;
	}
	stop.base = base;
	sig_term = evsignal_new(base, SIGTERM, emu_signal_cb, &stop);
	sig_int = evsignal_new(base, SIGINT, emu_signal_cb, &stop);
	sync_ev = event_new(base, -1, EV_PERSIST, emu_sync_cb, f);
	if (!sig_term || !sig_int || !sync_ev || event_add(sig_term, NULL) < 0 ||
	    event_add(sig_int, NULL) < 0 || event_add(sync_ev, &sync_tv) < 0) {
		log_err("cannot set up signal handling");
		goto cleanup;
	}
	log_info("%s: %zu ports, control socket %s", t->name, t->n_hosts, o.ctl);
	event_base_dispatch(base);
	rc = 0;
cleanup:
	if (sync_ev)
		event_free(sync_ev);
	if (sig_int)
		event_free(sig_int);
	if (sig_term)
		event_free(sig_term);
	ctl_free(ctl);
	fabric_free(f);
	sched_free(s);
	if (base)
		event_base_free(base);
	if (stop.at_ns)
		log_info(
		    "stopped %lld ms after the signal, captures complete",
		    (long long)((clock_now(&clock_monotonic) - stop.at_ns) / NATBED_NS_PER_MS));
	topo_free(t);
	free(cap_host);
	free(cap_nat);
	return rc;
}
