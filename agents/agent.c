/* natbed-agent: the subcommand table. A subcommand is one file
 * (agent_NAME.c) and one line here. */
#include <stdio.h>
#include <string.h>

#include "agent.h"

static int agent_cmd_discover(int argc, char **argv, const struct agent_env *env)
{
	return agent_discover_main(argc, argv);
}

static const struct agent_cmd cmds[] = {
    {"serve", agent_cmd_serve, "register and answer connection requests until stopped"},
    {"connect", agent_cmd_connect, "connect to a peer, probe the path, print one JSON line"},
    {"clients", agent_cmd_clients,
     "many clients in one process, each connecting as scheduled on stdin"},
    {"discover", agent_cmd_discover, agent_discover_help},
    {"methods", agent_cmd_methods, "the methods' table, priors, measured rates and scores"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: natbed-agent COMMAND [OPTIONS]   (natbed-agent COMMAND --help)\n"
		   "\n"
		   "natbed's peer agent: registers with natbed-rendezvous and traverses NATs\n"
		   "toward other agents.\n"
		   "\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
}

int agent_main(int argc, char **argv, const struct agent_env *env)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1, env);
	fprintf(stderr, "natbed-agent: no command %s\n", argv[1]);
	usage(stderr);
	return 2;
}
