#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "netns.h"

/* In the child: never returns. */
static void proc_child(int nsfd, char *const argv[], const char *shell, const char *log,
		       int host_view)
{
	int fd;

	setsid();
	if (netns_enter(nsfd) < 0)
		_exit(126);
	close(nsfd);
	if (host_view)
		cli_host_view();
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	setenv("PATH", cli_child_path(), 1);
	signal(SIGPIPE, SIG_DFL);
	if (shell)
		execl("/bin/sh", "sh", "-c", shell, (char *)NULL);
	else
		execv(argv[0], argv);
	fprintf(stderr, "natbed: cannot run %s: %s\n", shell ? shell : argv[0], strerror(errno));
	_exit(127);
}

pid_t proc_spawn(const char *ns, char *const argv[], const char *shell, const char *log)
{
	struct netns_err err;
	int nsfd = netns_open(ns, &err);
	pid_t pid;

	if (nsfd < 0)
		return nsfd;
	pid = fork();
	if (pid == 0)
		proc_child(nsfd, argv, shell, log, shell != NULL);
	close(nsfd);
	return pid < 0 ? -errno : pid;
}

static int proc_any_alive(const struct state_proc *procs, int n)
{
	int i, alive = 0;

	for (i = 0; i < n; i++) {
		/* reap our own children so they do not linger as zombies */
		waitpid(procs[i].pid, NULL, WNOHANG);
		if (state_proc_alive(&procs[i]))
			alive++;
	}
	return alive;
}

/* Each process leads its own session (setsid in proc_child): signal the
 * whole group so a shell's children go with it. */
static void proc_signal(pid_t pid, int sig)
{
	if (kill(-pid, sig) < 0)
		kill(pid, sig);
}

int proc_stop_all(const struct state_proc *procs, int n, int grace_ms)
{
	struct timespec tick = {0, 20 * 1000 * 1000};
	int i, waited, killed = 0;

	for (i = 0; i < n; i++)
		if (state_proc_alive(&procs[i]))
			proc_signal(procs[i].pid, SIGTERM);
	for (waited = 0; waited < grace_ms && proc_any_alive(procs, n); waited += 20)
		nanosleep(&tick, NULL);
	for (i = 0; i < n; i++) {
		if (state_proc_alive(&procs[i])) {
			proc_signal(procs[i].pid, SIGKILL);
			killed++;
		}
	}
	for (i = 0; i < 50 && proc_any_alive(procs, n); i++)
		nanosleep(&tick, NULL);
	return killed;
}
