#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "natbed/clock.h"
#include "netns.h"

#define PROC_TICK_US 2000 /* how often a stop looks again */
#define PROC_REAP_MS 500  /* how long a stop waits for what left to be reaped */
#define PROC_PENDING (-3) /* left[] while a process is still running */

/* How a process is started (proc_start). */
struct proc_how {
	char *const *argv; /* argv[0] a path; NULL with shell */
	const char *shell; /* a host's run line for /bin/sh -c, or NULL */
	const char *log;   /* stdout and stderr appended here */
	bool host_view;	   /* cli_host_view() before exec */
	int out_fd;	   /* >= 0: stdout goes here instead */
	const char *in;	   /* stdin from this file; NULL: /dev/null */
	char *const *env;  /* "NAME=VALUE" added to the environment; NULL: none */
	bool truncate;	   /* the log starts empty */
};

/* In the child: never returns. */
static void proc_child(int nsfd, const struct proc_how *h)
{
	int fd;

	setsid();
	if (netns_enter(nsfd) < 0)
		_exit(126);
	close(nsfd);
	if (h->host_view)
		cli_host_view();
	fd = open(h->in ? h->in : "/dev/null", O_RDONLY);
	if (fd < 0 && h->in) {
		fprintf(stderr, "natbed: cannot read %s: %s\n", h->in, strerror(errno));
		_exit(126);
	}
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	fd =
	    open(h->log, O_WRONLY | O_CREAT | O_CLOEXEC | (h->truncate ? O_TRUNC : O_APPEND), 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	if (h->out_fd >= 0)
		dup2(h->out_fd, STDOUT_FILENO);
	setenv("PATH", cli_child_path(), 1);
	for (size_t i = 0; h->env && h->env[i]; i++)
		putenv(h->env[i]);
	signal(SIGPIPE, SIG_DFL);
	if (h->shell)
		execl("/bin/sh", "sh", "-c", h->shell, (char *)NULL);
	else
		execv(h->argv[0], h->argv);
	fprintf(stderr, "natbed: cannot run %s: %s\n", h->shell ? h->shell : h->argv[0],
		strerror(errno));
	_exit(127);
}

static pid_t proc_start(const char *ns, const struct proc_how *h)
{
	struct netns_err err;
	int nsfd = netns_open(ns, &err);
	pid_t pid;

	if (nsfd < 0)
		return nsfd;
	pid = fork();
	if (pid == 0)
		proc_child(nsfd, h);
	close(nsfd);
	return pid < 0 ? -errno : pid;
}

pid_t proc_spawn(const char *ns, char *const argv[], const char *shell, const char *log)
{
	struct proc_how h = {
	    .argv = argv, .shell = shell, .log = log, .host_view = shell != NULL, .out_fd = -1};

	return proc_start(ns, &h);
}

pid_t proc_spawn_env(const char *ns, char *const argv[], char *const env[], const char *log)
{
	struct proc_how h = {.argv = argv,
			     .log = log,
			     .host_view = true,
			     .out_fd = -1,
			     .env = env,
			     .truncate = true};

	return proc_start(ns, &h);
}

pid_t proc_spawn_piped(const char *ns, char *const argv[], const char *in_path, const char *log,
		       int *out)
{
	struct proc_how h = {.argv = argv, .log = log, .in = in_path};
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	h.out_fd = fds[1];
	pid = proc_start(ns, &h);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return pid;
	}
	*out = fds[0];
	return pid;
}

/* Tells the caller waiting in proc_reaper_start() its exit status. If it is
 * gone there is nobody to tell. */
static void proc_tell(int status_fd, unsigned char code)
{
	ssize_t n = write(status_fd, &code, 1);

	(void)n;
	close(status_fd);
}

/* The reaper's loop: hand the worker's exit status to the waiting caller
 * through status_fd, then reap whatever else ends up here until nothing is
 * left. Never returns. */
static void proc_reaper_loop(pid_t worker, int status_fd)
{
	unsigned char code;
	int status;
	pid_t pid;

	for (;;) {
		pid = wait(&status);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break; /* ECHILD: every process is reaped */
		if (pid == worker) {
			code = WIFEXITED(status) ? (unsigned char)WEXITSTATUS(status)
						 : (unsigned char)(128 + WTERMSIG(status));
			proc_tell(status_fd, code);
		}
	}
	_exit(0);
}

/* In the reaper: no terminal, no signal from the shell, no file of the
 * caller's held open (its stdout may be a pipe someone reads to the end). */
static void proc_reaper_detach(int keep_fd)
{
	int fd;

	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	prctl(PR_SET_NAME, "natbed-reaper", 0, 0, 0);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (keep_fd > 3)
		close_range(3, (unsigned)keep_fd - 1, 0);
	close_range((unsigned)keep_fd + 1, ~0U, 0);
}

pid_t proc_reaper_start(void)
{
	int pfd[2];
	unsigned char code;
	pid_t reaper, worker, self;
	ssize_t n;

	fflush(NULL);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return 0;
	reaper = fork();
	if (reaper < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return 0;
	}
	if (reaper > 0) {
		/* The caller: exit as the worker does. */
		close(pfd[1]);
		do
			n = read(pfd[0], &code, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 ? code : 1);
	}
	close(pfd[0]);
	self = getpid();
	/* Orphans among our descendants come to us, not to init. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	worker = fork();
	if (worker == 0) {
		close(pfd[1]);
		return self;
	}
	if (worker < 0) {
		fprintf(stderr, "natbed: fork: %s\n", strerror(errno));
		proc_tell(pfd[1], 1);
		_exit(1);
	}
	proc_reaper_detach(pfd[1]);
	proc_reaper_loop(worker, pfd[1]);
	return 0; /* not reached */
}

static bool proc_is_reaper(const struct state_proc *p)
{
	return strcmp(p->name, PROC_REAPER_NAME) == 0;
}

/* Each process leads its own session (setsid in proc_child): signal the
 * whole group so a shell's children go with it. */
static void proc_signal(pid_t pid, int sig)
{
	if (kill(-pid, sig) < 0)
		kill(pid, sig);
}

static int proc_elapsed_ms(natbed_time_t t0)
{
	return (int)((clock_now(&clock_monotonic) - t0) / NATBED_NS_PER_MS);
}

/* Polls the processes left[] marks pending until all have left or
 * grace_ms has passed since t0; marks each one that left with the ms it
 * took. Returns how many are still running. */
static int proc_wait_left(const struct state_proc *procs, int n, int *left, natbed_time_t t0,
			  int grace_ms)
{
	struct timespec tick = {0, PROC_TICK_US * 1000};
	int i, running;

	for (;;) {
		running = 0;
		for (i = 0; i < n; i++) {
			if (left[i] != PROC_PENDING)
				continue;
			/* our own children (natbed up cleaning up after itself) */
			waitpid(procs[i].pid, NULL, WNOHANG);
			if (state_proc_alive(&procs[i]))
				running++;
			else
				left[i] = proc_elapsed_ms(t0);
		}
		if (running == 0 || proc_elapsed_ms(t0) >= grace_ms)
			return running;
		nanosleep(&tick, NULL);
	}
}

/* Waits up to wait_ms for the processes that were signalled to be reaped
 * too (the reaper takes microseconds; an init may take seconds: then they
 * stay zombies, which nothing counts as running). */
static void proc_wait_reaped(const struct state_proc *procs, int n, const int *left, int wait_ms)
{
	struct timespec tick = {0, PROC_TICK_US * 1000};
	natbed_time_t t0 = clock_now(&clock_monotonic);
	int i, present;

	do {
		present = 0;
		for (i = 0; i < n; i++) {
			if (left[i] == PROC_NOT_RUNNING)
				continue;
			waitpid(procs[i].pid, NULL, WNOHANG);
			present += state_proc_exists(&procs[i]);
		}
	} while (present && proc_elapsed_ms(t0) < wait_ms && nanosleep(&tick, NULL) == 0);
}

int proc_stop_all(const struct state_proc *procs, int n, int grace_ms, int *left_ms)
{
	int *left = left_ms ? left_ms : calloc(n > 0 ? (size_t)n : 1, sizeof(int));
	natbed_time_t t0;
	int i, killed = 0;

	if (!left)
		return -1;
	for (i = 0; i < n; i++) {
		left[i] = PROC_NOT_RUNNING;
		if (!proc_is_reaper(&procs[i]) && state_proc_alive(&procs[i])) {
			proc_signal(procs[i].pid, SIGTERM);
			left[i] = PROC_PENDING;
		}
	}
	t0 = clock_now(&clock_monotonic);
	if (proc_wait_left(procs, n, left, t0, grace_ms) > 0) {
		for (i = 0; i < n; i++) {
			if (left[i] == PROC_PENDING) {
				proc_signal(procs[i].pid, SIGKILL);
				left[i] = PROC_KILLED;
				killed++;
			}
		}
	}
	proc_wait_reaped(procs, n, left, PROC_REAP_MS);
	if (left != left_ms)
		free(left);
	return killed;
}

int proc_reaper_stop(const struct state_proc *procs, int n, int grace_ms)
{
	int left[1], i, killed = 0;

	for (i = 0; i < n; i++) {
		/* our own reaper (natbed up failing) waits for us, not we for it */
		if (!proc_is_reaper(&procs[i]) || procs[i].pid == getppid() ||
		    !state_proc_alive(&procs[i]))
			continue;
		left[0] = PROC_PENDING;
		if (proc_wait_left(&procs[i], 1, left, clock_now(&clock_monotonic), grace_ms) > 0) {
			proc_signal(procs[i].pid, SIGKILL);
			killed++;
		}
	}
	return killed;
}
