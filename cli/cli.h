/* natbed command-line tool: shared pieces of the subcommands. */
#ifndef NATBED_CLI_H
#define NATBED_CLI_H

#include <stdbool.h>
#include <stddef.h>

#define CLI_DEFAULT_PREFIX "nb-"
#define CLI_RUN_DIR	   "/run/natbed"
#define CLI_PATH_MAX	   4096

/* One subcommand: argv[0] is its name. Returns the process exit status. */
struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_capture(int argc, char **argv);
int cmd_matrix(int argc, char **argv);
int cmd_sim(int argc, char **argv);

/* Exits 1 with a clear message unless running as root. */
int cli_need_root(const char *what);

/* Checks a prefix: 1..TOPO_PREFIX_MAX of [a-z0-9-]. 0 or -1 (message printed,
 * naming `natbed CMD` and --prefix). */
int cli_check_prefix(const char *cmd, const char *prefix);

/* /run/natbed/PREFIX[/leaf] into buf. */
void cli_run_path(char *buf, size_t len, const char *prefix, const char *leaf);

/* Makes directory dir and its parents (mode 0755), or finds it made: a
 * directory this process may write into. 0, or -1 with errno (ENOTDIR:
 * dir is something else; EACCES: it may not be written). */
int cli_mkdirs(const char *dir);

/* The directory holding this executable, for finding its sibling binaries. */
const char *cli_exe_dir(void);

/* The PATH natbed gives the processes it starts: its own binaries first. */
const char *cli_child_path(void);

/* Finds an executable by name like the shell would with cli_child_path().
 * Returns 0 and fills out, or -1. */
int cli_which(const char *name, char *out, size_t len);

/* In a process about to run a host's program (after entering its network
 * namespace): a private mount namespace with /sys remounted for the
 * network namespace and an empty /etc/resolv.conf. 0 or -errno. */
int cli_host_view(void);

/* natbed-emu's control socket under prefix (emulator/ctl.h): a connected
 * socket, or -1 with the reason printed after who ("natbed capture"). */
int cli_ctl_connect(const char *prefix, const char *who);
/* Sends the request argv[0..argc) as its JSON line on fd. 0, or -1 (printed). */
int cli_ctl_send(int fd, int argc, char **argv, const char *who);

/* Sends the words of a `natbed ctl` command to the natbed-emu of prefix and
 * returns its parsed answer (a json_t *, json_decref() it), or NULL with
 * the reason printed. */
struct json_t;
struct json_t *cli_ctl_call(const char *prefix, int argc, char **argv);

struct topo;

/* Stops every process `natbed up` started under prefix and removes every
 * namespace (and so every veth) and mount it made, plus the state
 * directory. t, when given, names namespaces to remove even without a state
 * file. verbosity 0 prints only failures, 1 also what needed SIGKILL, 2 also
 * how long each process took to leave. Returns 0, or -1 if something could
 * not be removed (printed). */
int cli_teardown(const char *prefix, const struct topo *t, int verbosity);

#endif
