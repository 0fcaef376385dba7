/* natbed down: stop what `natbed up` started and remove what it made. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "natbed/topo.h"
#include "netns.h"
#include "proc.h"
#include "state.h"

static int down_remove_ns(const char *name, void *arg)
{
	struct netns_err err;
	int *failed = arg, rc;

	/* Whatever still runs there (a host's children, a user's shell from
	 * `natbed exec`) goes first, or the namespace outlives its mount. */
	netns_kill_pids(name, SIGKILL, NULL);
	rc = netns_delete(name, &err);
	if (rc < 0 && rc != -ENOENT) {
		fprintf(stderr, "natbed down: %s\n", err.msg);
		(*failed)++;
	}
	return 0;
}

/* Says how each process that ran left: SIGKILLed or in how many ms. */
static void down_report(const struct state *st, const int *left_ms)
{
	int i;

	for (i = 0; i < st->n_procs; i++) {
		if (left_ms[i] == PROC_KILLED)
			printf("natbed down: %s (pid %d) needed SIGKILL after %d ms\n",
			       st->procs[i].name, (int)st->procs[i].pid, PROC_GRACE_MS);
		else if (left_ms[i] >= 0)
			printf("natbed down: %s (pid %d) left %d ms after SIGTERM\n",
			       st->procs[i].name, (int)st->procs[i].pid, left_ms[i]);
	}
}

/* The processes first (their captures and logs complete), then the
 * namespaces, then the reaper, which leaves once the last of them is
 * reaped: when this returns, none of them is even a zombie. */
static int down_state(const struct state *st, int verbosity, int *failed)
{
	int *left_ms = calloc(st->n_procs ? (size_t)st->n_procs : 1, sizeof(int));
	int i, killed;

	if (!left_ms)
		return -1;
	killed = proc_stop_all(st->procs, st->n_procs, PROC_GRACE_MS, left_ms);
	if (verbosity >= 2)
		down_report(st, left_ms);
	for (i = st->n_ns - 1; i >= 0; i--)
		down_remove_ns(st->namespaces[i], failed);
	killed += proc_reaper_stop(st->procs, st->n_procs, PROC_GRACE_MS);
	if (verbosity >= 1 && killed)
		printf("natbed down: %d process(es) needed SIGKILL\n", killed);
	free(left_ms);
	return 0;
}

int cli_teardown(const char *prefix, const struct topo *t, int verbosity)
{
	struct state *st = calloc(1, sizeof(*st));
	char name[STATE_NAME_MAX];
	int failed = 0;
	size_t h;

	if (!st)
		return -1;
	if (state_load(prefix, st) == 0 && down_state(st, verbosity, &failed) < 0)
		failed++;
	if (t) {
		for (h = 0; h < t->n_hosts; h++) {
			snprintf(name, sizeof(name), "%s%s", prefix, t->hosts[h].name);
			down_remove_ns(name, &failed);
		}
	}
	/* `up` records a name before it creates the namespace, so the state
	 * file covers a crash at any point. The fabric goes in any case. No
	 * wider sweep by prefix: "nb-" is a prefix of "nb-x-", and runs with
	 * different prefixes must coexist. */
	snprintf(name, sizeof(name), "%sfabric", prefix);
	down_remove_ns(name, &failed);
	state_remove(prefix);
	free(st);
	return failed ? -1 : 0;
}

static void down_usage(FILE *f)
{
	fprintf(f,
		"usage: natbed down [--prefix P] [--verbose] [FILE]\n"
		"\n"
		"Stops every process `natbed up` started under prefix P (SIGTERM, SIGKILL after\n"
		"%d ms) and removes every namespace, veth and mount it made. With FILE, the\n"
		"topology's namespaces are removed even when no state file is left.\n"
		"\n"
		"  -p, --prefix P  namespace prefix (default %s)\n"
		"  -v, --verbose   say how long each process took to leave after SIGTERM\n"
		"  -h, --help      this text\n",
		PROC_GRACE_MS, CLI_DEFAULT_PREFIX);
}

int cmd_down(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"prefix", required_argument, NULL, 'p'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *prefix = CLI_DEFAULT_PREFIX, *file = NULL;
	char err[TOPO_ERR_MAX];
	struct topo *t = NULL;
	int c, rc, verbosity = 1;

	while ((c = getopt_long(argc, argv, "p:vh", lopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			prefix = optarg;
			break;
		case 'v':
			verbosity = 2;
			break;
		case 'h':
			down_usage(stdout);
			return 0;
		default:
			down_usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		file = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "natbed down: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (cli_check_prefix("down", prefix) < 0)
		return 2;
	if (cli_need_root("down") < 0)
		return 1;
	if (file && topo_load(file, prefix, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "natbed down: %s\n", err);
		return 2;
	}
	rc = cli_teardown(prefix, t, verbosity);
	topo_free(t);
	return rc < 0 ? 1 : 0;
}
