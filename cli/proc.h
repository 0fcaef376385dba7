/* natbed process supervision: start a program inside a namespace with its
 * output in a log file, keep a process that reaps what `natbed up` started,
 * and stop processes (SIGTERM, SIGKILL after a grace period). */
#ifndef NATBED_CLI_PROC_H
#define NATBED_CLI_PROC_H

#include <sys/types.h>

#include "state.h"

#define PROC_GRACE_MS 3000
/* The reaper's name in the state file: no host can be called that. */
#define PROC_REAPER_NAME "(reaper)"

/* What proc_stop_all() saw of a process, in its left_ms entry. */
#define PROC_NOT_RUNNING (-1) /* not running when the stop began, or the reaper */
#define PROC_KILLED	 (-2) /* still running after the grace period: SIGKILLed */

/* Starts argv (argv[0] a path, or NULL argv with a shell command line in
 * shell) in namespace ns, in a new session, stdin from /dev/null, stdout and
 * stderr appended to log. A shell command line is a host's run line: it also
 * gets the host's view of the machine (cli_host_view()). Returns the pid or
 * -errno. */
pid_t proc_spawn(const char *ns, char *const argv[], const char *shell, const char *log);

/* The same for argv, but its stdout goes to a pipe whose read end (close on
 * exec) is put in *out; stderr goes to log, stdin comes from the file
 * in_path (NULL: /dev/null). */
pid_t proc_spawn_piped(const char *ns, char *const argv[], const char *in_path, const char *log,
		       int *out);

/* Starts argv (argv[0] a path) in namespace ns as a host's program: in a
 * new session (its pid is its process group: kill(-pid, ...) reaches
 * what it starts), with the host's view of the machine (cli_host_view()),
 * stdin from /dev/null, stdout and stderr in log (emptied first), and
 * each "NAME=VALUE" of the NULL-terminated env (may be NULL) added to its
 * environment. Returns the pid or -errno. */
pid_t proc_spawn_env(const char *ns, char *const argv[], char *const env[], const char *log);

/* Puts a reaper between the caller and what it will start, for a command
 * (natbed up) that exits while its children run on. The calling process
 * waits for the rest of the command and exits with its status: this
 * function returns only in a new process, the reaper's child, which carries
 * on. The reaper (a child subreaper, PR_SET_CHILD_SUBREAPER) reaps every
 * process started from there on as soon as it exits, instead of leaving it
 * a zombie under an init that may reap late, and leaves once none is left.
 * Returns the reaper's pid, or 0 when it could not fork (the caller carries
 * on without one, in its own process). */
pid_t proc_reaper_start(void);

/* Sends SIGTERM to each live process in procs but the reaper, waits up to
 * grace_ms for all of them to leave, then SIGKILLs the rest, and waits a
 * little for those that left to be reaped. left_ms, when not NULL, gets for
 * each process how many ms after SIGTERM it was seen gone, or
 * PROC_NOT_RUNNING, or PROC_KILLED. Returns how many needed SIGKILL. */
int proc_stop_all(const struct state_proc *procs, int n, int grace_ms, int *left_ms);

/* Waits up to grace_ms for the reaper among procs to leave (it does once
 * every process it reaps is gone), then SIGKILLs it. Nothing to do when the
 * caller is the reaper's own child. Returns how many needed SIGKILL. */
int proc_reaper_stop(const struct state_proc *procs, int n, int grace_ms);

#endif
