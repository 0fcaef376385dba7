/* natbed run's loop: connects started on time, their lines read back.
 *
 * Two kinds of process: an explicit pair is one `natbed-agent connect`,
 * started when neither side's NAT is busy; the arrivals at one site are
 * one `natbed-agent clients` started with the loop, its schedule (every
 * arrival's id, time and peer) in OUT/HOST-clients[.R].txt on its stdin, so
 * many logical clients share one process and each starts at its drawn
 * time. Each prints one JSON line per connect; a clients line names its
 * job by "client" (the job's id). */
#include "run_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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
#include "session.h"
#include "sigstop.h"

#define RUN_GRACE_S	  3.0	/* after a first Ctrl-C, before SIGKILL */
#define RUN_CONNECT_MAX_S 600.0 /* a connect still running this long is killed */
#define RUN_TICK_MS	  250
#define RUN_CLIENTS_MAX	  "256" /* natbed-agent clients --max-clients */

struct run_proc {
	pid_t pid;
	int fd;			   /* stdout; -1 once read to the end */
	const struct run_job *job; /* a connect's one job; NULL: clients */
	int host;		   /* clients: the site */
	double started_s;
	char *buf; /* a connect: all it printed; clients: the line so far */
	size_t len;
	bool overlong; /* clients: the rest of a line too long to keep */
	bool killed;   /* stopped by the loop: say so */
};

struct run_state {
	const struct run_loop_cfg *c;
	const struct run_plan *plan;
	struct run_proc *procs;
	size_t cap, running, finished, started;
	bool *reported; /* per job */
	double t0;
};

/* An agent name: the serving agent's with tail (run_agent_name). */
static void agent_name(const struct run_loop_cfg *c, int h, const char *tail, char *buf, size_t len)
{
	run_agent_name(c->agents[h].name, tail, buf, len);
}

/* The options every connect and clients process shares: the serve line's,
 * then the run's. Returns the count put in argv from n on. */
static int common_args(const struct run_loop_cfg *c, int h, char **argv, int n)
{
	const struct run_agent *ag = &c->agents[h];

	for (int i = 0; i < ag->argc; i++)
		argv[n++] = ag->argv[i];
	if (c->budget) {
		argv[n++] = "--budget";
		argv[n++] = (char *)c->budget;
	}
	return n;
}

static int spawn(struct run_state *s, struct run_proc *p, int h, char **argv, const char *in,
		 const char *what)
{
	const struct run_loop_cfg *c = s->c;
	char ns[TOPO_NAME_MAX + 16], log[CLI_PATH_MAX];
	int fd = -1;
	pid_t pid;

	snprintf(ns, sizeof(ns), "%s%s", c->prefix, c->t->hosts[h].name);
	snprintf(log, sizeof(log), "%s/%s-%s.log", c->out, c->t->hosts[h].name, what);
	pid = proc_spawn_piped(ns, argv, in, log, &fd);
	if (pid < 0) {
		fprintf(stderr, "natbed run: cannot start natbed-agent %s on %s: %s\n", what,
			c->t->hosts[h].name, strerror((int)-pid));
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	*p = (struct run_proc){.pid = pid, .fd = fd, .host = h, .started_s = session_now_s()};
	p->buf = malloc(RUN_LINE_MAX);
	s->running++;
	return p->buf ? 0 : -1;
}

static int start_connect(struct run_state *s, const struct run_job *j, struct run_proc *p)
{
	const struct run_loop_cfg *c = s->c;
	char name[RUN_AGENT_NAME_MAX + 1];
	char *argv[RUN_AGENT_ARGS_MAX + 16];
	int n = 0;

	run_connect_name(c->agents[j->a].name, j->id, c->round, name, sizeof(name));
	argv[n++] = (char *)c->agent;
	argv[n++] = "connect";
	argv[n++] = "--name";
	argv[n++] = name;
	n = common_args(c, j->a, argv, n);
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
	argv[n] = NULL;
	if (spawn(s, p, j->a, argv, NULL, "connect") < 0)
		return -1;
	p->job = j;
	s->started++;
	return 0;
}

/* The schedule of site h's arrivals, written to path: "ID T_S PEER
 * METHOD|cascade [PRIORITY]". Returns how many, or -1. */
static long write_schedule(const struct run_state *s, int h, const char *path)
{
	const struct run_plan *plan = s->plan;
	FILE *f = fopen(path, "w");
	long n = 0;

	if (!f) {
		fprintf(stderr, "natbed run: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "# natbed run: the arrivals at %s (ID T_S PEER METHOD [PRIORITY])\n",
		s->c->t->hosts[h].name);
	for (size_t k = 0; k < plan->n_jobs; k++) {
		const struct run_job *j = &plan->jobs[k];

		if (!j->arrival || j->a != h)
			continue;
		fprintf(f, "%u %.6f %s %s%s%s\n", j->id, j->t_s, s->c->agents[j->b].name,
			j->method ? j->method : "cascade", !j->method && j->priority ? " " : "",
			!j->method && j->priority ? j->priority : "");
		n++;
	}
	if (fclose(f) != 0)
		return -1;
	return n;
}

/* One natbed-agent clients per site with arrivals, all started now. */
static int start_clients(struct run_state *s)
{
	const struct run_loop_cfg *c = s->c;
	const struct topo *t = c->t;

	for (size_t h = 0; h < t->n_hosts; h++) {
		char name[RUN_AGENT_NAME_MAX + 1], tail[24], path[CLI_PATH_MAX];
		char *argv[RUN_AGENT_ARGS_MAX + 16];
		int n = 0;
		long count;

		snprintf(tail, sizeof(tail), ".r%u", c->round);
		snprintf(path, sizeof(path), "%s/%s-clients%s.txt", c->out, t->hosts[h].name,
			 c->round ? tail + 1 : "");
		count = write_schedule(s, (int)h, path);
		if (count < 0)
			return -1;
		if (count == 0) {
			unlink(path);
			continue;
		}
		agent_name(c, (int)h, tail, name, sizeof(name));
		argv[n++] = (char *)c->agent;
		argv[n++] = "clients";
		argv[n++] = "--name";
		argv[n++] = name;
		argv[n++] = "--max-clients";
		argv[n++] = RUN_CLIENTS_MAX;
		n = common_args(c, (int)h, argv, n);
		if (c->no_relay)
			argv[n++] = "--no-relay";
		argv[n] = NULL;
		if (spawn(s, &s->procs[s->running], (int)h, argv, path, "clients") < 0)
			return -1;
	}
	return 0;
}

static void report(struct run_state *s, const struct run_job *j, const char *line,
		   const char *reason)
{
	size_t k = (size_t)(j - s->plan->jobs);

	if (s->reported[k])
		return;
	s->reported[k] = true;
	s->finished++;
	s->c->done(s->c->arg, j, line, reason);
}

/* A complete line of a clients process: its job by "client". */
static void clients_line(struct run_state *s, struct run_proc *p, char *line)
{
	json_t *j = line[0] == '{' ? json_loads(line, 0, NULL) : NULL;
	const char *id = json_string_value(json_object_get(j, "client"));
	char *end;
	unsigned long k = id ? strtoul(id, &end, 10) : 0;

	if (id && !*end && k < s->plan->n_jobs && s->plan->jobs[k].arrival &&
	    s->plan->jobs[k].a == p->host)
		report(s, &s->plan->jobs[k], line, NULL);
	json_decref(j);
}

/* Reads what p printed. Returns true at its end (fd closed). */
static bool read_proc(struct run_state *s, struct run_proc *p)
{
	char chunk[4096];
	ssize_t n;

	for (;;) {
		n = read(p->fd, chunk, sizeof(chunk));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return false;
		if (n <= 0) {
			close(p->fd);
			p->fd = -1;
			return true;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (p->job) { /* a connect: keep the first RUN_LINE_MAX bytes */
				if (p->len < RUN_LINE_MAX - 1)
					p->buf[p->len++] = chunk[i];
				continue;
			}
			if (chunk[i] == '\n') {
				p->buf[p->len] = '\0';
				if (!p->overlong)
					clients_line(s, p, p->buf);
				p->len = 0;
				p->overlong = false;
			} else if (p->len < RUN_LINE_MAX - 1) {
				p->buf[p->len++] = chunk[i];
			} else {
				p->overlong = true;
			}
		}
	}
}

/* The JSON line among what a connect printed (the first line that opens
 * an object), NUL-terminated in place. */
static const char *result_line(struct run_proc *p)
{
	char *line = p->buf, *end;

	p->buf[p->len] = '\0';
	while (line && *line) {
		end = strchr(line, '\n');
		if (end)
			*end = '\0';
		if (*line == '{')
			return line;
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

static void why_none(const struct run_state *s, const struct run_proc *p, int status,
		     const char *what, char *buf, size_t len)
{
	const char *host = s->c->t->hosts[p->host].name;

	if (p->killed)
		snprintf(buf, len, "natbed run stopped the connect");
	else if (WIFSIGNALED(status))
		snprintf(buf, len,
			 "natbed-agent %s died of signal %d with no result (see %s/%s-%s.log)",
			 what, WTERMSIG(status), s->c->out, host, what);
	else
		snprintf(buf, len,
			 "natbed-agent %s exited with status %d and no result (see %s/%s-%s.log)",
			 what, WEXITSTATUS(status), s->c->out, host, what);
}

/* p's output is complete: wait for it, hand on what is left. A clients
 * process stopped early leaves its arrivals that were not due yet out of
 * the results: they never started. */
static void finish_proc(struct run_state *s, struct run_proc *p, double elapsed)
{
	char reason[300];
	int status = 0;

	while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (p->job) {
		const char *line = result_line(p);

		if (!line)
			why_none(s, p, status, "connect", reason, sizeof(reason));
		report(s, p->job, line, line ? NULL : reason);
	} else {
		why_none(s, p, status, "clients", reason, sizeof(reason));
		for (size_t k = 0; k < s->plan->n_jobs; k++) {
			const struct run_job *j = &s->plan->jobs[k];

			if (!j->arrival || j->a != p->host || s->reported[k])
				continue;
			if (p->killed && j->t_s > elapsed) {
				s->reported[k] = true; /* never started: not an attempt */
				s->finished++;
				continue;
			}
			report(s, j, NULL, reason);
		}
	}
	free(p->buf);
	p->buf = NULL;
	p->pid = 0;
	s->running--;
}

static void stop_procs(struct run_state *s, int sig)
{
	for (size_t i = 0; i < s->cap; i++)
		if (s->procs[i].pid > 0) {
			kill(s->procs[i].pid, sig);
			s->procs[i].killed = true;
		}
}

/* Whether pair j may start now: neither side's NAT is in another pair's
 * connect and a slot is free. */
static bool may_start(const struct run_state *s, const struct run_job *j, const bool *busy)
{
	const struct run_loop_cfg *c = s->c;

	return s->running < s->cap && !busy[run_busy_key(c->t, j->a)] && !busy[run_busy_key(c->t, j->b)];
}

static void set_busy(const struct run_loop_cfg *c, bool *busy, const struct run_job *j, bool v)
{
	busy[run_busy_key(c->t, j->a)] = v;
	busy[run_busy_key(c->t, j->b)] = v;
}

static size_t arrivals_due(const struct run_plan *plan, double elapsed)
{
	size_t n = 0;

	for (size_t k = 0; k < plan->n_jobs; k++)
		n += plan->jobs[k].arrival && plan->jobs[k].t_s <= elapsed;
	return n;
}

/* Starts the pairs that may start, in order, each skipped while busy. */
static int start_pairs(struct run_state *s, bool *busy, bool *started, size_t *pairs_running)
{
	const struct run_plan *plan = s->plan;

	for (size_t k = 0; k < plan->n_jobs; k++) {
		const struct run_job *j = &plan->jobs[k];
		size_t i;

		if (j->arrival || started[k] || *pairs_running >= (size_t)s->c->parallel ||
		    !may_start(s, j, busy))
			continue;
		for (i = 0; s->procs[i].pid; i++)
			;
		if (start_connect(s, j, &s->procs[i]) < 0)
			return -1;
		started[k] = true;
		set_busy(s->c, busy, j, true);
		(*pairs_running)++;
	}
	return 0;
}

int run_loop(const struct run_loop_cfg *c, const struct run_plan *plan)
{
	struct run_state s = {.c = c, .plan = plan, .t0 = session_now_s()};
	size_t pairs_running = 0, np, i;
	bool *busy = calloc(run_busy_keys(c->t) + 1, sizeof(*busy));
	bool *started = calloc(plan->n_jobs + 1, sizeof(*started));
	struct pollfd *pfd = NULL;
	double kill_at = INFINITY, last_tick = 0;
	int seen_sig = sigstop_count(), rc = 0;

	/* the pairs' connects, and at most one clients process a host */
	s.cap = (size_t)c->parallel + c->t->n_hosts + 1;
	s.procs = calloc(s.cap, sizeof(*s.procs));
	s.reported = calloc(plan->n_jobs + 1, sizeof(*s.reported));
	pfd = calloc(s.cap + 1, sizeof(*pfd));
	if (!busy || !started || !s.procs || !s.reported || !pfd) {
		fprintf(stderr, "natbed run: out of memory\n");
		rc = -1;
		goto out;
	}
	if (plan->arrivals && start_clients(&s) < 0) {
		rc = -1;
		stop_procs(&s, SIGKILL);
	}
	while (s.finished < plan->n_jobs || s.running) {
		double now = session_now_s(), elapsed = now - s.t0;
		bool stopping = rc < 0 || sigstop_count() > seen_sig;

		if (!stopping && start_pairs(&s, busy, started, &pairs_running) < 0) {
			rc = -1;
			stopping = true;
		}
		if (stopping && !isfinite(kill_at)) {
			stop_procs(&s, SIGTERM);
			kill_at = now + RUN_GRACE_S;
		}
		if (sigstop_count() > seen_sig + 1 || now >= kill_at)
			stop_procs(&s, SIGKILL);
		if (stopping && s.running == 0)
			break;
		np = 0;
		for (i = 0; i < s.cap; i++) {
			struct run_proc *p = &s.procs[i];

			if (p->pid && p->job && now - p->started_s > RUN_CONNECT_MAX_S) {
				kill(p->pid, SIGKILL);
				p->killed = true;
			}
			if (p->pid && p->fd >= 0)
				pfd[np++] = (struct pollfd){.fd = p->fd, .events = POLLIN};
		}
		pfd[np++] = (struct pollfd){.fd = sigstop_fd(), .events = POLLIN};
		if (poll(pfd, np, RUN_TICK_MS) < 0 && errno != EINTR) {
			fprintf(stderr, "natbed run: poll: %s\n", strerror(errno));
			rc = -1;
			continue;
		}
		elapsed = session_now_s() - s.t0;
		for (i = 0; i < s.cap; i++) {
			struct run_proc *p = &s.procs[i];

			if (!p->pid || !read_proc(&s, p))
				continue;
			if (p->job) {
				set_busy(c, busy, p->job, false);
				pairs_running--;
			}
			finish_proc(&s, p, elapsed);
		}
		if (pfd[np - 1].revents)
			sigstop_drain();
		if (c->tick && (now - last_tick >= 1.0 || s.finished == plan->n_jobs)) {
			c->tick(c->arg, s.started + arrivals_due(plan, elapsed), s.finished,
				session_now_s() - s.t0);
			last_tick = now;
		}
	}
	if (rc == 0 && sigstop_count() > seen_sig)
		rc = 1;
out:
	for (i = 0; s.procs && i < s.cap; i++)
		if (s.procs[i].pid) { /* only after a failure: nothing is left behind */
			kill(s.procs[i].pid, SIGKILL);
			waitpid(s.procs[i].pid, NULL, 0);
			if (s.procs[i].fd >= 0)
				close(s.procs[i].fd);
			free(s.procs[i].buf);
		}
	free(s.procs);
	free(s.reported);
	free(pfd);
	free(busy);
	free(started);
	return rc;
}
