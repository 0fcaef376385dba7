/* natbed-agent: subcommands from a {name, fn, help} table (agent.c), one
 * file each (agent_NAME.c), and what they share (agent_cli.c): the common
 * options, the event loop with the monotonic scheduler and real sockets
 * under agent_core.h's state machine, the --stats file. */
#ifndef NATBED_AGENTS_AGENT_H
#define NATBED_AGENTS_AGENT_H

#include <stdbool.h>
#include <stdio.h>

#include "agent_core.h"
#include "agent_gate.h"
#include "agent_loop.h"

/* What the program brings: the product's method table, or a test's. */
struct agent_env {
	const struct method *(*find_method)(const char *name);
	/* the table a cascade orders and `methods` prints; NULL: method_at */
	const struct method *(*method_at)(size_t i);
};

struct agent_cmd {
	const char *name;
	int (*fn)(int argc, char **argv, const struct agent_env *env);
	const char *help;
};

/* Dispatches argv[1] to its subcommand. Returns the exit status. */
int agent_main(int argc, char **argv, const struct agent_env *env);

/* The subcommands: argv[0] is the subcommand's name. */
int agent_cmd_serve(int argc, char **argv, const struct agent_env *env);
int agent_cmd_connect(int argc, char **argv, const struct agent_env *env);
int agent_cmd_methods(int argc, char **argv, const struct agent_env *env);
int agent_cmd_clients(int argc, char **argv, const struct agent_env *env);
/* discover --stun IP[:PORT]: RFC 5780 NAT behaviour discovery, one JSON
 * line (agent_discover.c); its one-line help. */
int agent_discover_main(int argc, char **argv);
extern const char agent_discover_help[];

/* --- shared by the subcommands (agent_cli.c) ---------------------------- */

/* getopt_long values of the common options */
enum agent_cli_opt {
	AGENT_OPT_NAME = 256,
	AGENT_OPT_RENDEZVOUS,
	AGENT_OPT_STUN,
	AGENT_OPT_BIND,
	AGENT_OPT_STATS,
	AGENT_OPT_VERBOSE,
	AGENT_OPT_HELP,
	AGENT_OPT_NO_DISCOVER,
	AGENT_OPT_NAT,
	AGENT_OPT_TURN,
	AGENT_OPT_TURN_USER,
	AGENT_OPT_TURN_PASS,
	AGENT_OPT_GATE, /* the zero-trust gate's options: agent_gate.c */
	AGENT_OPT_GATE_KEY,
	AGENT_OPT_GATE_USER,
	AGENT_OPT_GATE_RESOURCE,
};

/* The common options, for a subcommand's struct option table. */
#define AGENT_CLI_OPTIONS                                                                          \
	{"name", required_argument, NULL, AGENT_OPT_NAME},                                         \
	    {"rendezvous", required_argument, NULL, AGENT_OPT_RENDEZVOUS},                         \
	    {"stun", required_argument, NULL, AGENT_OPT_STUN},                                     \
	    {"bind", required_argument, NULL, AGENT_OPT_BIND},                                     \
	    {"stats", required_argument, NULL, AGENT_OPT_STATS},                                   \
	    {"verbose", no_argument, NULL, AGENT_OPT_VERBOSE},                                     \
	    {"no-discover", no_argument, NULL, AGENT_OPT_NO_DISCOVER},                             \
	    {"nat", required_argument, NULL, AGENT_OPT_NAT},                                       \
	    {"turn", required_argument, NULL, AGENT_OPT_TURN},                                     \
	    {"turn-user", required_argument, NULL, AGENT_OPT_TURN_USER},                           \
	    {"turn-pass", required_argument, NULL, AGENT_OPT_TURN_PASS},                           \
	    {"gate", required_argument, NULL, AGENT_OPT_GATE},                                     \
	    {"gate-key", required_argument, NULL, AGENT_OPT_GATE_KEY},                             \
	    {"gate-user", required_argument, NULL, AGENT_OPT_GATE_USER},                           \
	    {"gate-resource", required_argument, NULL, AGENT_OPT_GATE_RESOURCE},                   \
	{                                                                                          \
		"help", no_argument, NULL, AGENT_OPT_HELP                                          \
	}

/* Their --help lines. */
#define AGENT_CLI_HELP                                                                             \
	"  --name N                 this agent's name ([A-Za-z0-9._-], up to 32)\n"                \
	"  --rendezvous IP[:PORT]   natbed-rendezvous (default port 4787)\n"                       \
	"  --stun IP[:PORT]         a STUN server, for the server-reflexive address\n"             \
	"                           (default port 3478)\n"                                         \
	"  --bind IP[:PORT]         the main socket's address (default: any address;\n"            \
	"                           without PORT, a free port)\n"                                  \
	"  --no-discover            register without RFC 5780 discovery (its NAT unknown);\n"      \
	"                           by default the agent first measures its NAT against\n"         \
	"                           --stun (which needs a second address for all of it)\n"         \
	"  --nat CLASS              register CLASS without discovery: open, full-cone,\n"          \
	"                           restricted-cone, port-restricted, addr-dependent,\n"           \
	"                           symmetric-sequential[:STRIDE] (default stride 1),\n"           \
	"                           symmetric-random, unknown (discover's \"class\")\n"            \
	"  --stats FILE             write counters as JSON to FILE on SIGUSR1 and at exit\n"       \
	"  --verbose                log at debug level\n"                                          \
	"  --turn IP[:PORT]         a TURN server (default port 3478): allocate on it at start\n"  \
	"                           and register the relayed address (method relay)\n"             \
	"  --turn-user U            the TURN server's username (long-term credentials)\n"          \
	"  --turn-pass P            its password\n"                                                \
	"  --gate IP[:PORT]         authenticate at this zero-trust gate first (default\n"         \
	"                           port 4788; docs/gate.md): nothing else is sent until\n"        \
	"                           it grants; the result line gains gate, auth_ms, trust\n"       \
	"  --gate-key KEY           the host's key at the gate (with --gate)\n"                    \
	"  --gate-user HOST         the host's name at the gate (default: --name)\n"               \
	"  --gate-resource RES      what to ask to reach: any (default), IP, IP:PORT or a\n"       \
	"                           host's name\n"                                                 \
	"  --help                   this text\n"

struct agent_cli {
	const struct agent_env *env;
	struct agent_config cfg;
	const char *stats_path;
	bool verbose, have_name, have_rdv, have_stun;
	bool have_turn_user, have_turn_pass;
	struct agent_gate gate; /* --gate and its options */
	struct agent_loop loop; /* loop.status: the exit status when it ends */
	struct agent *a;
};

/* Starts c for env (the serve flag and the rest zero). */
void agent_cli_init(struct agent_cli *c, const struct agent_env *env);

/* Takes a common option: 1 taken, 0 not a common one, -1 a bad value
 * (said on stderr). AGENT_OPT_HELP is the caller's. */
int agent_cli_option(struct agent_cli *c, int opt, const char *arg);

/* Whether the required options came; says which did not on stderr. */
bool agent_cli_complete(const struct agent_cli *c, const char *cmd);

/* The loop, the sockets and the agent with ops. 0 or -errno (logged). */
int agent_cli_start(struct agent_cli *c, const struct agent_ops *ops);

/* Runs until agent_cli_stop() or a signal (status 0). */
void agent_cli_run(struct agent_cli *c);
void agent_cli_stop(struct agent_cli *c, int status);

/* Leaves the rendezvous, writes --stats, frees everything. Returns the
 * exit status the loop ended with (1 when it never ran). */
int agent_cli_end(struct agent_cli *c);

/* A connect's result line (docs/agents.md): a new object, NULL on ENOMEM. */
json_t *agent_report_json(const struct agent_report *r);

/* Prints j on one line of stdout, flushed, and drops the reference.
 * 0, or -ENOMEM (logged; j NULL counts as that). */
int agent_print_json(json_t *j);

#endif
