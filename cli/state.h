/* natbed run state: /run/natbed/PREFIX/state.json records what `natbed up`
 * made (namespaces, processes) as it makes it, so `natbed down` or the next
 * `up` with the same prefix can clean up after a crash. */
#ifndef NATBED_CLI_STATE_H
#define NATBED_CLI_STATE_H

#include <stdbool.h>
#include <sys/types.h>

#define STATE_MAX_NS	1100
#define STATE_MAX_PROCS 1100
#define STATE_NAME_MAX	64

struct state_proc {
	char name[STATE_NAME_MAX]; /* "emu" or the host's name */
	pid_t pid;
	unsigned long long start; /* /proc/PID/stat starttime: tells pid reuse */
};

struct state {
	char prefix[STATE_NAME_MAX];
	char topology[4096];
	char out[4096];
	char namespaces[STATE_MAX_NS][STATE_NAME_MAX];
	int n_ns;
	struct state_proc procs[STATE_MAX_PROCS];
	int n_procs;
};

/* Reads the state of prefix. 0, -ENOENT when none, or -errno / -EINVAL. */
int state_load(const char *prefix, struct state *st);
/* Writes it atomically (temporary file + rename), creating the directory. */
int state_save(const struct state *st);
/* Removes the state directory of prefix with what is in it. */
void state_remove(const char *prefix);

/* Records a namespace / process and saves. 0 or -errno. */
int state_add_ns(struct state *st, const char *ns);
int state_add_proc(struct state *st, const char *name, pid_t pid);

/* The starttime of pid, or 0 if it is gone (exited, even if not yet reaped). */
unsigned long long state_proc_start(pid_t pid);
/* True if p still runs (same pid, same start time); a zombie does not. */
bool state_proc_alive(const struct state_proc *p);
/* True while p has a process table entry: running, or exited and not yet
 * reaped by its parent (a zombie). */
bool state_proc_exists(const struct state_proc *p);

#endif
