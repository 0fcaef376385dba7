/* natbed matrix -- COMMAND: the user's traversal program on both hosts of
 * every pair of a generated NAT matrix, each pair judged direct, relayed
 * or none from the captures, into results.json, report.html and a grid
 * (docs/byo.md). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "matrix_grid.h"
#include "matrix_loop.h"
#include "matrix_plan.h"
#include "matrix_results.h"
#include "natbed/strcopy.h"
#include "natbed/units.h"
#include "netns.h"
#include "report.h"
#include "results.h"
#include "session.h"
#include "sigstop.h"

#define MX_TIMEOUT_DEFAULT "30s"
#define MX_TIMEOUT_MAX_S   3600.0
#define MX_PARALLEL_MAX	   512
#define MX_READY_S	   20.0 /* for natbed-stund and coturn to listen */
#define MX_EXIT_DIFFER	   3
#define MX_EXIT_CHECK	   4
#define MX_EXIT_SIGNALLED  130

struct mx_opts {
	const char *nats; /* NULL: every preset */
	const char *out;
	const char *expect;
	const char *prefix;
	double timeout_s;
	int parallel;
	bool turn;
	char **argv; /* COMMAND [ARGS...] */
};

struct mx_ctx {
	const struct mx_opts *o;
	struct mx_plan plan;
	struct topo *t;
	char out[PATH_MAX];
	char topo_path[PATH_MAX + 16];
	char cmd[CLI_PATH_MAX];
	struct mx_run *runs;
	struct results *r;
	size_t n_done;
	bool up;
};

static void mx_usage(FILE *f)
{
	fprintf(f,
		"usage: natbed matrix [--nats LIST] [--timeout DURATION] [--out DIR]\n"
		"                     [--expect FILE] [--prefix P] [--parallel N] [--no-turn]\n"
		"                     -- COMMAND [ARGS...]\n"
		"\n"
		"Runs your traversal program across the NAT presets and judges, from the\n"
		"captures alone, how each pair of hosts reached the other (docs/byo.md).\n"
		"\n"
		"It brings up a generated topology (written to DIR/topology.yaml): one host\n"
		"behind a NAT of each preset (or of the presets in LIST), a public host, two\n"
		"hosts on one LAN, natbed-stund and coturn as the TURN server. For every pair\n"
		"of those hosts (and the LAN pair) it runs COMMAND on both hosts at once, in\n"
		"their namespaces, with in its environment:\n"
		"  NATBED_ROLE        offer (the pair's first host) or answer\n"
		"  NATBED_HOST        this host's name; NATBED_PEER the other's\n"
		"  NATBED_SIGNAL      a directory both sides read and write, per pair\n"
		"  NATBED_STUN        the STUN server, IP:PORT\n"
		"  NATBED_TURN        the TURN server, IP:PORT (empty with --no-turn), with\n"
		"                     NATBED_TURN_USER and NATBED_TURN_PASS\n"
		"  NATBED_TIMEOUT     seconds before natbed stops it\n"
		"each side's output in DIR/PAIR-HOST.log. Pairs run in parallel, never two\n"
		"through one NAT at once. A pair is `direct` when both hosts' captures show\n"
		"UDP both ways with the other's public address (on a LAN: its address),\n"
		"`relayed` when not but both exchanged relayed data with the TURN server,\n"
		"else `none`. It prints the grid (coloured on a terminal), leaves in DIR\n"
		"results.json (natbed run's format; each matrix entry with `nat`, `path` and\n"
		"`exit`), report.html, every pcap and log, and ends with natbed check.\n"
		"\n"
		"  -n, --nats LIST       the NAT presets, comma-separated (default: all)\n"
		"  -t, --timeout D       how long a pair may run before its processes get\n"
		"                        SIGTERM (SIGKILL %.0f s later; default %s)\n"
		"  -o, --out DIR         where everything goes (default ./out/%s)\n"
		"  -e, --expect FILE     a grid of direct/relayed/none (the printed grid is\n"
		"                        one): exit %d naming each cell that differs\n"
		"  -p, --prefix P        namespace prefix, 1-%d of [a-z0-9-] (default %s)\n"
		"      --parallel N      pairs at once, 1-%d (default: twice the CPUs)\n"
		"      --no-turn         no TURN server: NATBED_TURN is empty\n"
		"  -h, --help            this text\n"
		"\n"
		"Ctrl-C stops the pairs under way (SIGTERM, then SIGKILL), writes what\n"
		"finished and brings everything down; a second Ctrl-C kills at once.\n"
		"\n"
		"Exit status: 0 done (and the grid matched --expect), %d a cell differs from\n"
		"--expect, %d natbed check found the captures contradicting the topology,\n"
		"1 failed (nothing left behind), 2 bad usage, %d stopped by Ctrl-C.\n",
		MX_GRACE_S, MX_TIMEOUT_DEFAULT, MX_TOPOLOGY, MX_EXIT_DIFFER, TOPO_PREFIX_MAX,
		CLI_DEFAULT_PREFIX, MX_PARALLEL_MAX, MX_EXIT_DIFFER, MX_EXIT_CHECK,
		MX_EXIT_SIGNALLED);
}

static int mx_default_parallel(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 2 : n * 2 > MX_PARALLEL_MAX ? MX_PARALLEL_MAX : (int)n * 2;
}

/* 0, 1 for --help, -1 on bad usage (said). */
static int mx_parse(int argc, char **argv, struct mx_opts *o)
{
	static const struct option lopts[] = {
	    {"nats", required_argument, NULL, 'n'},
	    {"timeout", required_argument, NULL, 't'},
	    {"out", required_argument, NULL, 'o'},
	    {"expect", required_argument, NULL, 'e'},
	    {"prefix", required_argument, NULL, 'p'},
	    {"parallel", required_argument, NULL, 'P'},
	    {"no-turn", no_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *timeout = MX_TIMEOUT_DEFAULT;
	natbed_time_t ns;
	int64_t n;
	int c;

	*o = (struct mx_opts){
	    .prefix = CLI_DEFAULT_PREFIX, .parallel = mx_default_parallel(), .turn = true};
	optind = 1;
	/* '+': stop at COMMAND, so its own options stay its */
	while ((c = getopt_long(argc, argv, "+n:t:o:e:p:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->nats = optarg;
			break;
		case 't':
			timeout = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'e':
			o->expect = optarg;
			break;
		case 'p':
			o->prefix = optarg;
			break;
		case 'P':
			if (units_parse_count(optarg, MX_PARALLEL_MAX, &n) < 0 || n < 1) {
				fprintf(stderr, "natbed matrix: --parallel '%s': 1 to %d\n", optarg,
					MX_PARALLEL_MAX);
				return -1;
			}
			o->parallel = (int)n;
			break;
		case 'T':
			o->turn = false;
			break;
		case 'h':
			mx_usage(stdout);
			return 1;
		default:
			mx_usage(stderr);
			return -1;
		}
	}
	if (units_parse_duration(timeout, &ns) < 0 || ns == 0 ||
	    (double)ns / NATBED_NS_PER_S > MX_TIMEOUT_MAX_S) {
		fprintf(stderr, "natbed matrix: --timeout '%s': a duration above 0 and up to 1h\n",
			timeout);
		return -1;
	}
	o->timeout_s = (double)ns / NATBED_NS_PER_S;
	if (optind >= argc) {
		fprintf(stderr,
			"natbed matrix: a COMMAND to run is required after -- (see --help)\n");
		return -1;
	}
	o->argv = argv + optind;
	return cli_check_prefix("matrix", o->prefix) < 0 ? -1 : 0;
}

/* COMMAND's path: as given when it names a file, else found in PATH. */
static int mx_resolve(struct mx_ctx *x)
{
	const char *name = x->o->argv[0];

	if (strchr(name, '/')) {
		if (!realpath(name, x->cmd) || access(x->cmd, X_OK) < 0) {
			fprintf(stderr, "natbed matrix: %s: %s\n", name,
				access(name, F_OK) < 0 ? strerror(errno) : "not executable");
			return -1;
		}
		return 0;
	}
	if (cli_which(name, x->cmd, sizeof(x->cmd)) < 0) {
		fprintf(stderr, "natbed matrix: %s: not found in PATH\n", name);
		return -1;
	}
	return 0;
}

/* The plan, the output directory and the topology written into it. 0 or
 * the exit status. */
static int mx_prepare(struct mx_ctx *x)
{
	char err[TOPO_ERR_MAX + 256];
	char out[PATH_MAX];
	FILE *f;

	if (mx_plan_build(x->o->nats, x->o->turn, &x->plan, err, sizeof(err)) < 0) {
		fprintf(stderr, "natbed matrix: %s\n", err);
		return 2;
	}
	if (mx_resolve(x) < 0)
		return 2;
	str_copy(out, sizeof(out), x->o->out ? x->o->out : "out/" MX_TOPOLOGY);
	if (cli_mkdirs(out) < 0 || !realpath(out, x->out)) {
		fprintf(stderr, "natbed matrix: cannot create the output directory %s: %s\n", out,
			strerror(errno));
		return 1;
	}
	snprintf(x->topo_path, sizeof(x->topo_path), "%s/topology.yaml", x->out);
	f = fopen(x->topo_path, "w");
	if (!f || mx_plan_yaml(&x->plan, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "natbed matrix: cannot write %s: %s\n", x->topo_path,
			strerror(errno));
		return 1;
	}
	if (topo_load(x->topo_path, x->o->prefix, &x->t, err, sizeof(err)) < 0) {
		fprintf(stderr, "natbed matrix: %s\n", err);
		return 2;
	}
	x->runs = calloc(x->plan.n_pairs + 1, sizeof(*x->runs));
	return x->runs ? 0 : 1;
}

/* In a host's namespace (netns_run): whether a UDP socket is bound to
 * port *arg, from /proc/thread-self/net/udp. */
static int mx_bound(void *arg)
{
	char line[512], want[8];
	FILE *f = fopen("/proc/thread-self/net/udp", "r");
	int found = 0;

	if (!f)
		return -errno;
	snprintf(want, sizeof(want), ":%04X", *(const unsigned *)arg);
	while (!found && fgets(line, sizeof(line), f)) {
		char local[64];

		if (sscanf(line, " %*s %63s", local) == 1 && strstr(local, want))
			found = 1;
	}
	fclose(f);
	return found;
}

/* Waits until natbed-stund and coturn listen. 0, 1 on Ctrl-C, -1 (said). */
static int mx_wait_servers(const struct mx_ctx *x)
{
	const char *hosts[] = {"stun", "turn"};
	unsigned ports[] = {MX_STUN_PORT, MX_TURN_PORT};
	struct timespec tick = {0, 50 * 1000 * 1000};
	double t0 = session_now_s();
	char ns[TOPO_NAME_MAX + 16];
	struct netns_err e;

	for (int i = 0; i < (x->plan.turn ? 2 : 1); i++) {
		snprintf(ns, sizeof(ns), "%s%s", x->o->prefix, hosts[i]);
		while (netns_run(ns, mx_bound, &ports[i], &e) != 1) {
			if (sigstop_count())
				return 1;
			if (session_now_s() - t0 > MX_READY_S) {
				fprintf(stderr,
					"natbed matrix: nothing listens on %s's UDP port %u after "
					"%.0f s; see %s/%s.log\n",
					hosts[i], ports[i], MX_READY_S, x->out, hosts[i]);
				return -1;
			}
			nanosleep(&tick, NULL);
		}
	}
	return 0;
}

static void mx_pair_done(void *arg, size_t i, const struct mx_run *run)
{
	struct mx_ctx *x = arg;

	x->n_done++;
	fprintf(stderr, "natbed matrix: [%zu/%zu] %s: exit %d %d after %.1f s%s\n", x->n_done,
		x->plan.n_pairs, x->plan.pairs[i].name, run->exit_a, run->exit_b,
		(double)(run->t1_ns - run->t0_ns) / 1e9, run->timed_out ? " (timed out)" : "");
}

/* Up, the servers ready, every pair run. 0, or the exit status. */
static int mx_run_pairs(struct mx_ctx *x)
{
	char *argv[CLI_PATH_MAX / 8];
	struct mx_loop_cfg lc = {.plan = &x->plan,
				 .prefix = x->o->prefix,
				 .out = x->out,
				 .argv = argv,
				 .timeout_s = x->o->timeout_s,
				 .parallel = x->o->parallel,
				 .done = mx_pair_done,
				 .arg = x};
	size_t n = 0;
	int rc;

	argv[n++] = x->cmd;
	while (x->o->argv[n] && n + 1 < sizeof(argv) / sizeof(argv[0])) {
		argv[n] = x->o->argv[n];
		n++;
	}
	argv[n] = NULL;
	if (session_up(x->o->prefix, x->out, MX_SEED, NULL, x->topo_path) < 0)
		return sigstop_count() ? MX_EXIT_SIGNALLED : 1;
	x->up = true;
	rc = mx_wait_servers(x);
	if (rc == 0)
		rc = mx_loop(&lc, x->runs);
	return rc > 0 ? MX_EXIT_SIGNALLED : rc < 0 ? 1 : 0;
}

/* COMMAND and its arguments, as one line (cut to fit buf). */
static const char *mx_command_line(char *const *argv, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; argv[i] && off < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? " " : "", argv[i]);

		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}

/* Everything the run left: judged, written, checked, printed, compared.
 * Returns the exit status, given rc so far. */
static int mx_finish(struct mx_ctx *x, int rc)
{
	char err[PATH_MAX + 256], path[PATH_MAX + 16], v[32], cmd[CLI_PATH_MAX];
	struct mx_cell *cells = calloc(x->plan.n_pairs + 1, sizeof(*cells));
	struct mx_expect *e = NULL;
	size_t compared = 0, differ = 0;
	long n;

	if (!cells || !(x->r = results_new(MX_TOPOLOGY, MX_SEED, time(NULL)))) {
		free(cells);
		return 1;
	}
	results_set_option(x->r, "command", mx_command_line(x->o->argv, cmd, sizeof(cmd)));
	results_set_option(x->r, "nats", x->o->nats ? x->o->nats : "all");
	snprintf(v, sizeof(v), "%g", x->o->timeout_s);
	results_set_option(x->r, "timeout_s", v);
	results_set_option(x->r, "turn", x->o->turn ? "true" : "false");
	n = mx_results_add(x->r, &x->plan, x->t, x->out, x->runs, cells, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "natbed matrix: %s\n", err);
		free(cells);
		return 1;
	}
	if (rc == 0 && session_check("natbed matrix", x->out, NULL, x->r) < 0)
		rc = MX_EXIT_CHECK;
	snprintf(path, sizeof(path), "%s/report.html", x->out);
	if (results_write(x->r, x->out, err, sizeof(err)) < 0 ||
	    report_write(x->r, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "natbed matrix: %s\n", err);
		rc = rc ? rc : 1;
	}
	mx_grid_print(stdout, x->plan.labels, x->plan.n_labels, cells, (size_t)n,
		      isatty(STDOUT_FILENO));
	fflush(stdout);
	if (x->o->expect && (e = mx_expect_load(x->o->expect, err, sizeof(err)))) {
		differ = mx_expect_compare(e, cells, (size_t)n, stderr, &compared);
		fprintf(stderr,
			"natbed matrix: --expect %s: %zu of %zu cells compared, %zu differ\n",
			x->o->expect, compared, (size_t)n, differ);
		if (differ && rc == 0)
			rc = MX_EXIT_DIFFER;
	}
	fprintf(stderr, "natbed matrix: %ld pairs judged; results in %s\n", n, x->out);
	mx_expect_free(e);
	free(cells);
	return rc;
}

int cmd_matrix(int argc, char **argv)
{
	struct mx_opts o;
	struct mx_ctx x = {.o = &o};
	char err[PATH_MAX + 256];
	struct mx_expect *e;
	int rc = mx_parse(argc, argv, &o);

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (o.expect) { /* a bad file is said before anything is built */
		if (!(e = mx_expect_load(o.expect, err, sizeof(err)))) {
			fprintf(stderr, "natbed matrix: --expect: %s\n", err);
			return 2;
		}
		mx_expect_free(e);
	}
	if (cli_need_root("matrix") < 0)
		return 1;
	if (sigstop_catch() < 0) {
		fprintf(stderr, "natbed matrix: cannot catch signals\n");
		return 1;
	}
	rc = mx_prepare(&x);
	if (rc == 0)
		rc = mx_run_pairs(&x);
	if (x.up && cli_teardown(o.prefix, x.t, 0) < 0 && rc == 0)
		rc = 1;
	if (x.runs && (rc == 0 || rc == MX_EXIT_SIGNALLED))
		rc = mx_finish(&x, rc);
	results_free(x.r);
	topo_free(x.t);
	mx_plan_free(&x.plan);
	free(x.runs);
	return rc;
}
