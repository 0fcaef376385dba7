/* natbed-agent: the peer agent. One subcommand a file, found by name in
 * the table below. */
#include <stdio.h>
#include <string.h>

#include "agent.h"

static const struct agent_cmd cmds[] = {
    {"discover", agent_discover_main, agent_discover_help},
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: natbed-agent COMMAND [OPTIONS]   (natbed-agent COMMAND --help)\n\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "natbed-agent: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
