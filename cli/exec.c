/* natbed exec: run a command in a host's namespace, exit status passed through. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "netns.h"
#include "state.h"

static void exec_usage(FILE *f)
{
	fprintf(f,
		"usage: natbed exec [--prefix P] HOST -- CMD [ARGS...]\n"
		"\n"
		"Runs CMD in namespace P+HOST (the host's own network stack) and exits with\n"
		"its status: 127 when CMD cannot be run, 1 when the host does not exist.\n"
		"\n"
		"  -p, --prefix P  namespace prefix (default %s)\n"
		"  -h, --help      this text\n",
		CLI_DEFAULT_PREFIX);
}

int cmd_exec(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"prefix", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *prefix = CLI_DEFAULT_PREFIX, *host;
	char ns[STATE_NAME_MAX];
	struct netns_err e;
	int c, fd;

	/* '+': stop at the first non-option, so CMD's own options stay its. */
	while ((c = getopt_long(argc, argv, "+p:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			prefix = optarg;
			break;
		case 'h':
			exec_usage(stdout);
			return 0;
		default:
			exec_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "natbed exec: HOST is required (see --help)\n");
		return 2;
	}
	host = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc) {
		fprintf(stderr, "natbed exec: a command to run is required after HOST --\n");
		return 2;
	}
	if (cli_check_prefix("exec", prefix) < 0)
		return 2;
	if (cli_need_root("exec") < 0)
		return 1;
	snprintf(ns, sizeof(ns), "%s%s", prefix, host);
	fd = netns_open(ns, &e);
	if (fd < 0) {
		fprintf(stderr,
			"natbed exec: no host '%s' under prefix '%s' (namespace %s: %s); "
			"is the topology up? see `natbed status --prefix %s`\n",
			host, prefix, ns, strerror(-fd), prefix);
		return 1;
	}
	if (netns_enter(fd) < 0) {
		fprintf(stderr, "natbed exec: cannot enter %s: %s\n", ns, strerror(errno));
		return 1;
	}
	close(fd);
	if (cli_host_view() < 0)
		fprintf(stderr, "natbed exec: %s: cannot make a private mount view: %s\n", ns,
			strerror(errno));
	setenv("PATH", cli_child_path(), 1);
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "natbed exec: %s: %s\n", argv[optind], strerror(errno));
	return 127;
}
