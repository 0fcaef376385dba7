/* natbed process supervision: start a program inside a namespace with its
 * output in a log file, and stop processes (SIGTERM, SIGKILL after a grace
 * period). */
#ifndef NATBED_CLI_PROC_H
#define NATBED_CLI_PROC_H

#include <sys/types.h>

#include "state.h"

#define PROC_GRACE_MS 3000

/* Starts argv (argv[0] a path, or NULL argv with a shell command line in
 * shell) in namespace ns, in a new session, stdin from /dev/null, stdout and
 * stderr appended to log. A shell command line is a host's run line: it also
 * gets the host's view of the machine (cli_host_view()). Returns the pid or
 * -errno. */
pid_t proc_spawn(const char *ns, char *const argv[], const char *shell, const char *log);

/* Sends SIGTERM to each live process in procs, waits up to grace_ms for all
 * of them to go, then SIGKILLs the rest. Returns how many needed SIGKILL. */
int proc_stop_all(const struct state_proc *procs, int n, int grace_ms);

#endif
