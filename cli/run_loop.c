/* natbed run's loop: connects started on time, their lines read back. */
#include "run_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "proc.h"

#define RUN_ARRIVALS_MAX  512	/* arriving clients' connects at once */
#define RUN_GRACE_S	  3.0	/* after a first Ctrl-C, before SIGKILL */
#define RUN_CONNECT_MAX_S 600.0 /* a connect still running this long is killed */
#define RUN_TICK_MS	  250

struct run_proc {
	const struct run_job *job;
	pid_t pid;
	int fd; /* -1 once read to the end */
	double started_s;
	char *buf; /* what it printed, up to RUN_LINE_MAX */
	size_t len;
	bool killed; /* SIGKILLed by the loop: say so */
};

static int run_sigpipe[2] = {-1, -1};
static volatile sig_atomic_t run_nsig;

static void run_on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;
	ssize_t n;

	run_nsig++;
	n = write(run_sigpipe[1], &c, 1);
	(void)n;
	errno = saved;
}

int run_loop_catch(void)
{
	struct sigaction sa = {.sa_handler = run_on_signal};

	if (run_sigpipe[0] < 0 && pipe2(run_sigpipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int run_loop_signals(void)
{
	return (int)run_nsig;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int start_job(const struct run_loop_cfg *c, const struct run_job *j, struct run_proc *p,
		     double now)
{
	const struct run_agent *ag = &c->agents[j->a];
	char name[RUN_AGENT_NAME_MAX + 1], ns[TOPO_NAME_MAX + 16], log[CLI_PATH_MAX];
	char *argv[RUN_AGENT_ARGS_MAX + 16];
	int n = 0, i, fd = -1;
	pid_t pid;

	run_connect_name(c->agents[j->a].name, j->id, c->round, name, sizeof(name));
	argv[n++] = (char *)c->agent;
	argv[n++] = "connect";
	argv[n++] = "--name";
	argv[n++] = name;
	for (i = 0; i < ag->argc; i++)
		argv[n++] = ag->argv[i];
	argv[n++] = "--peer";
	argv[n++] = (char *)c->agents[j->b].name;
	if (j->method) {
		argv[n++] = "--method";
		argv[n++] = (char *)j->method;
	} else {
		argv[n++] = "--cascade";
		if (j->priority) {
			argv[n++] = "--priority";
			argv[n++] = (char *)j->priority;
		}
		if (c->no_relay)
			argv[n++] = "--no-relay";
	}
	if (c->budget) {
		argv[n++] = "--budget";
		argv[n++] = (char *)c->budget;
	}
	argv[n] = NULL;
	snprintf(ns, sizeof(ns), "%s%s", c->prefix, c->t->hosts[j->a].name);
	snprintf(log, sizeof(log), "%s/%s-connect.log", c->out, c->t->hosts[j->a].name);
	pid = proc_spawn_piped(ns, argv, log, &fd);
	if (pid < 0) {
		fprintf(stderr, "natbed run: cannot start a connect on %s: %s\n",
			c->t->hosts[j->a].name, strerror((int)-pid));
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	memset(p, 0, sizeof(*p));
	p->job = j;
	p->pid = pid;
	p->fd = fd;
	p->started_s = now;
	p->buf = malloc(RUN_LINE_MAX);
	return p->buf ? 0 : -1;
}

/* Reads what p printed; at its end (or when a line is complete and the
 * buffer full) closes fd. */
static void read_proc(struct run_proc *p)
{
	ssize_t n;

	for (;;) {
		char sink[512];
		bool full = p->len >= RUN_LINE_MAX - 1;

		n = full ? read(p->fd, sink, sizeof(sink))
			 : read(p->fd, p->buf + p->len, RUN_LINE_MAX - 1 - p->len);
		if (n > 0) {
			if (!full)
				p->len += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		close(p->fd);
		p->fd = -1;
		return;
	}
}

/* The JSON line among what the agent printed (the first line that opens
 * an object), NUL-terminated in place. */
static const char *result_line(struct run_proc *p)
{
	char *s = p->buf, *end;

	p->buf[p->len] = '\0';
	while (s && *s) {
		end = strchr(s, '\n');
		if (end)
			*end = '\0';
		if (*s == '{')
			return s;
		s = end ? end + 1 : NULL;
	}
	return NULL;
}

/* p's output is complete: wait for it, hand the outcome on. */
static void finish_proc(const struct run_loop_cfg *c, struct run_proc *p)
{
	char reason[256];
	const char *line = result_line(p);
	int status = 0;

	while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!line) {
		if (p->killed)
			snprintf(reason, sizeof(reason), "natbed run stopped the connect");
		else if (WIFSIGNALED(status))
			snprintf(reason, sizeof(reason),
				 "natbed-agent connect died of signal %d with no result (see "
				 "%s/%s-connect.log)",
				 WTERMSIG(status), c->out, c->t->hosts[p->job->a].name);
		else
			snprintf(reason, sizeof(reason),
				 "natbed-agent connect exited with status %d and no result (see "
				 "%s/%s-connect.log)",
				 WEXITSTATUS(status), c->out, c->t->hosts[p->job->a].name);
	}
	c->done(c->arg, p->job, line, line ? NULL : reason);
	free(p->buf);
	p->buf = NULL;
	p->pid = 0;
}

/* The first signal: ask every connect to stop; from the second, or once
 * the grace period is over, kill them. */
static void stop_procs(struct run_proc *procs, size_t n, int sig)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (procs[i].pid > 0) {
			kill(procs[i].pid, sig);
			procs[i].killed = true;
		}
}

/* Whether job j may start now: its time came, and for a pair, neither
 * side's NAT is in another pair's connect and a slot is free. */
static bool may_start(const struct run_loop_cfg *c, const struct run_job *j, const bool *busy,
		      size_t running, size_t cap, double elapsed)
{
	if (running >= cap)
		return false;
	if (j->arrival)
		return elapsed >= j->t_s;
	return running < (size_t)c->parallel && !busy[run_busy_key(c->t, j->a)] &&
	       !busy[run_busy_key(c->t, j->b)];
}

static void set_busy(const struct run_loop_cfg *c, bool *busy, const struct run_job *j, bool v)
{
	if (j->arrival)
		return;
	busy[run_busy_key(c->t, j->a)] = v;
	busy[run_busy_key(c->t, j->b)] = v;
}

int run_loop(const struct run_loop_cfg *c, const struct run_plan *plan)
{
	size_t cap = plan->n_jobs < RUN_ARRIVALS_MAX ? plan->n_jobs : RUN_ARRIVALS_MAX;
	struct run_proc *procs = calloc(cap + 1, sizeof(*procs));
	struct pollfd *pfd = calloc(cap + 2, sizeof(*pfd));
	bool *busy = calloc(run_busy_keys(c->t) + 1, sizeof(*busy));
	bool *started = calloc(plan->n_jobs + 1, sizeof(*started));
	size_t next = 0, finished = 0, n_started = 0, running = 0, i, k;
	double t0 = now_s(), kill_at = INFINITY, last_tick = 0;
	int seen_sig = run_loop_signals(), rc = 0;

	if (!procs || !pfd || !busy || !started) {
		fprintf(stderr, "natbed run: out of memory\n");
		rc = -1;
		goto out;
	}
	while (finished < plan->n_jobs || running) {
		double now = now_s(), elapsed = now - t0, wait_s = RUN_TICK_MS / 1000.0;
		bool stopping = run_loop_signals() > seen_sig;
		size_t np = 0;

		/* start what may start; pairs in order, each skipped while busy */
		for (k = next; !stopping && k < plan->n_jobs; k++) {
			const struct run_job *j = &plan->jobs[k];

			if (started[k])
				continue;
			if (j->arrival && elapsed < j->t_s) {
				wait_s = fmin(wait_s, j->t_s - elapsed);
				break; /* arrivals come in time order */
			}
			if (!may_start(c, j, busy, running, cap, elapsed))
				continue;
			for (i = 0; procs[i].pid; i++)
				;
			if (start_job(c, j, &procs[i], now) < 0) {
				rc = -1;
				stopping = true;
				break;
			}
			started[k] = true;
			set_busy(c, busy, j, true);
			running++;
			n_started++;
		}
		while (next < plan->n_jobs && started[next])
			next++;
		if (stopping && !isfinite(kill_at)) {
			stop_procs(procs, cap, SIGTERM);
			kill_at = now + RUN_GRACE_S;
		}
		if (run_loop_signals() > seen_sig + 1 || now >= kill_at)
			stop_procs(procs, cap, SIGKILL);
		if (stopping && running == 0)
			break;
		for (i = 0; i < cap; i++) {
			if (procs[i].pid && now - procs[i].started_s > RUN_CONNECT_MAX_S) {
				kill(procs[i].pid, SIGKILL);
				procs[i].killed = true;
			}
			if (procs[i].pid && procs[i].fd >= 0)
				pfd[np++] = (struct pollfd){.fd = procs[i].fd, .events = POLLIN};
		}
		pfd[np++] = (struct pollfd){.fd = run_sigpipe[0], .events = POLLIN};
		if (poll(pfd, np, (int)ceil(fmax(wait_s, 0.001) * 1000)) < 0 && errno != EINTR) {
			fprintf(stderr, "natbed run: poll: %s\n", strerror(errno));
			rc = -1;
			break;
		}
		for (i = 0; i < cap; i++) {
			if (!procs[i].pid)
				continue;
			read_proc(&procs[i]);
			if (procs[i].fd >= 0)
				continue;
			set_busy(c, busy, procs[i].job, false);
			finish_proc(c, &procs[i]);
			running--;
			finished++;
		}
		if (pfd[np - 1].revents) {
			char drain[16];

			while (read(run_sigpipe[0], drain, sizeof(drain)) > 0)
				;
		}
		if (c->tick && (now - last_tick >= 1.0 || finished == plan->n_jobs)) {
			c->tick(c->arg, n_started, finished, now_s() - t0);
			last_tick = now;
		}
	}
	if (rc == 0 && run_loop_signals() > seen_sig)
		rc = 1;
out:
	for (i = 0; procs && i < cap; i++)
		if (procs[i].pid) { /* only after a failure: nothing is left behind */
			kill(procs[i].pid, SIGKILL);
			waitpid(procs[i].pid, NULL, 0);
			if (procs[i].fd >= 0)
				close(procs[i].fd);
			free(procs[i].buf);
		}
	free(procs);
	free(pfd);
	free(busy);
	free(started);
	return rc;
}
