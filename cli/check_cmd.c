/* natbed check DIR: the evidence of a run, read back from its captures
 * (check.h does the work; this is the command line). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cli.h"
#include "natbed/units.h"
#include "results.h"

#define CHECK_LISTED_MAX 100000

static void check_usage(FILE *f)
{
	fprintf(f,
		"usage: natbed check [--topology FILE] [--results FILE] [--slack DURATION]\n"
		"                    [--listed N] [--quiet] DIR\n"
		"\n"
		"Reads a run's output directory (what `natbed up --out DIR` or `natbed run`\n"
		"wrote: HOST.pcap per host, NAT-wan.pcap per NAT, events.jsonl, topology.yaml,\n"
		"results.json) and checks, for each NAT, against the behaviour its topology\n"
		"gives it:\n"
		"  leak       no inside address on its outside capture\n"
		"  mapping    one external endpoint per inside endpoint (endpoint-independent),\n"
		"             per destination address, or per address and port; never shared\n"
		"  filtering  nothing delivered inside that its filter forbids, given what\n"
		"             went out before\n"
		"  hairpin    packets to its own address come back in only when hairpin is\n"
		"             on, then from the sender's external endpoint\n"
		"  ports      new ports in its range and class, parity, paired pooling, port\n"
		"             blocks, and as its mode picks them (preserve, sequential, ...)\n"
		"  timeout    nothing delivered through a mapping after its timeout, or\n"
		"             after the NAT was flushed\n"
		"and that every success results.json claims shows as packets both ways on\n"
		"both hosts' captures, and that every STUN message is well formed. A NAT\n"
		"flushed or set at run time (natbed ctl nat NAME flush|set, in events.jsonl)\n"
		"is judged by the behaviour in force at each packet. Prints a table of\n"
		"checks, then each violation with the capture files and packet\n"
		"numbers (1-based, as Wireshark numbers them). docs/check.md tells more.\n"
		"\n"
		"  -t, --topology FILE  the topology of the run (default: DIR/topology.yaml,\n"
		"                       which natbed up copies there)\n"
		"  -r, --results FILE   the attempts to back (default: DIR/results.json when\n"
		"                       present)\n"
		"  -s, --slack DURATION how far from a NAT's deadline (a mapping's timeout, a\n"
		"                       flush, a changed setting) a check stops judging\n"
		"                       (default %d ms)\n"
		"  -n, --listed N       violations printed per check (default %d)\n"
		"  -q, --quiet          print only the verdict line\n"
		"  -h, --help           this text\n"
		"\n"
		"Exit status: 0 no violation, 1 violations, 2 bad usage or a run that cannot\n"
		"be read (no topology, no capture, a file that is not a pcap). Needs no root.\n",
		(int)(CHECK_SLACK_DEFAULT_NS / NATBED_NS_PER_MS), CHECK_LISTED_DEFAULT);
}

struct check_args {
	struct check_opts o;
	const char *results;
	const char *dir;
	bool quiet;
};

static int check_parse(int argc, char **argv, struct check_args *a)
{
	static const struct option lopts[] = {
	    {"topology", required_argument, NULL, 't'},
	    {"results", required_argument, NULL, 'r'},
	    {"slack", required_argument, NULL, 's'},
	    {"listed", required_argument, NULL, 'n'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int64_t n;
	int c;

	while ((c = getopt_long(argc, argv, "t:r:s:n:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 't':
			a->o.topology = optarg;
			break;
		case 'r':
			a->results = optarg;
			break;
		case 's':
			if (units_parse_duration(optarg, &a->o.slack_ns) < 0 ||
			    a->o.slack_ns <= 0) {
				fprintf(stderr, "natbed check: --slack %s: a duration above zero\n",
					optarg);
				return -1;
			}
			break;
		case 'n':
			if (units_parse_count(optarg, CHECK_LISTED_MAX, &n) < 0 || n < 1) {
				fprintf(stderr, "natbed check: --listed %s: a count from 1 to %d\n",
					optarg, CHECK_LISTED_MAX);
				return -1;
			}
			a->o.listed = (unsigned)n;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'h':
			check_usage(stdout);
			exit(0);
		default:
			check_usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "natbed check: %s (see --help)\n",
			optind >= argc ? "a run's directory DIR is required" : "one DIR only");
		return -1;
	}
	a->dir = argv[optind];
	return 0;
}

int cmd_check(int argc, char **argv)
{
	struct check_args a;
	struct check_verdict v;
	char err[CLI_PATH_MAX + 512];
	int rc;

	memset(&a, 0, sizeof(a));
	if (check_parse(argc, argv, &a) < 0)
		return 2;
	/* a file that is not there is the flag's fault: name it */
	if (a.o.topology && access(a.o.topology, R_OK) < 0) {
		fprintf(stderr, "natbed check: --topology %s: %s\n", a.o.topology, strerror(errno));
		return 2;
	}
	if (a.results && access(a.results, R_OK) < 0) {
		fprintf(stderr, "natbed check: --results %s: %s\n", a.results, strerror(errno));
		return 2;
	}
	if (a.results && !(a.o.results = results_load(a.results, err, sizeof(err)))) {
		fprintf(stderr, "natbed check: %s\n", err);
		return 2;
	}
	a.o.out = a.quiet ? NULL : stdout;
	rc = check_run(a.dir, &a.o, &v, err, sizeof(err));
	results_free(a.o.results);
	if (rc < 0) {
		fprintf(stderr, "natbed check: %s\n", err);
		return 2;
	}
	if (a.quiet)
		printf("%s\n", v.summary);
	return v.passed ? 0 : 1;
}
