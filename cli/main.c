/* natbed: the command-line tool. One file per subcommand, dispatched from
 * this table. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_cmd cli_cmds[] = {
    {"up", cmd_up, "build a topology and start its programs"},
    {"down", cmd_down, "stop and remove everything `up` made"},
    {"exec", cmd_exec, "run a command in a host's namespace"},
    {"status", cmd_status, "show what is up under a prefix"},
    {"ctl", cmd_ctl, "talk to the running emulator"},
    {"run", cmd_run, "bring a topology up, play its scenario, write the results"},
    {"matrix", cmd_matrix, "run your traversal program across the NAT presets, judged"},
    {"sim", cmd_sim, "play a topology's scenario in virtual time: the same code, no root"},
    {"config", cmd_config, "show the settings natbed run would use, and their sources"},
    {"capture", cmd_capture, "stream a view's packets live as pcap (to Wireshark)"},
    {"report", cmd_report, "write report.html from a run's results.json"},
    {"check", cmd_check, "check a run's captures against its topology"},
};

static void cli_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: natbed COMMAND [options] [args]\n"
		   "\n"
		   "natbed runs real programs in network namespaces behind a userspace NAT and\n"
		   "link emulator, and captures every packet it moves.\n"
		   "\ncommands:\n");
	for (i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cli_cmds[i].name, cli_cmds[i].summary);
	fprintf(f, "\n`natbed COMMAND --help` tells more. Most commands need root.\n");
}

int main(int argc, char **argv)
{
	char name[32];
	size_t i;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		cli_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		if (strcmp(argv[1], cli_cmds[i].name) == 0) {
			/* getopt names its errors after argv[0]: "natbed sim:", as
			 * the command's own errors read */
			snprintf(name, sizeof(name), "natbed %s", cli_cmds[i].name);
			argv[1] = name;
			return cli_cmds[i].fn(argc - 1, argv + 1);
		}
	fprintf(stderr, "natbed: unknown command '%s' (see natbed --help)\n", argv[1]);
	return 2;
}
