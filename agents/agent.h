/* natbed-agent's subcommands: one file each (agent_NAME.c), dispatched by
 * agent.c from a {name, fn, help} table. Each fn gets argv from the
 * subcommand's name on (argv[0] is "discover", ...) and returns the exit
 * status. */
#ifndef NATBED_AGENTS_AGENT_H
#define NATBED_AGENTS_AGENT_H

#include <stdio.h>

struct agent_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help; /* one line for natbed-agent --help */
};

/* discover --stun IP[:PORT]: RFC 5780 NAT behaviour discovery, one JSON
 * line (agent_discover.c). */
int agent_discover_main(int argc, char **argv);
extern const char agent_discover_help[];

#endif
