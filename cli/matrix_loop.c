/* natbed matrix's loop (matrix_loop.h). */
#include "matrix_loop.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "proc.h"
#include "session.h"
#include "sigstop.h"

#define MX_TICK_MS 50
#define MX_ENV_N   10
#define MX_ENV_LEN (CLI_PATH_MAX + 32)

/* One pair under way: its two processes (each a process group). */
struct mx_slot {
	bool active;
	size_t pair;
	pid_t pid[2];	/* 0 once reaped */
	int status[2];	/* as waitpid gave it */
	double started; /* monotonic s */
	double term_at; /* when it gets SIGTERM (the timeout), then: */
	double kill_at; /* SIGKILL; INFINITY until SIGTERM was sent */
	char env[2][MX_ENV_N][MX_ENV_LEN];
};

struct mx_state {
	const struct mx_loop_cfg *c;
	struct mx_run *runs;
	struct mx_slot *slots;
	size_t n_slots, running;
	bool *started;	 /* per pair */
	double *free_at; /* per host: monotonic s from which it may start a pair */
	bool *busy;	 /* per host */
	unsigned *left;	 /* per host: pairs not started yet */
	double t0;	 /* the loop's start */
	size_t n_done;
};

static int64_t mx_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int mx_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* OUT/signal/PAIR, made and empty. */
static int mx_signal_dir(const struct mx_loop_cfg *c, const struct mx_pair *q, char *buf,
			 size_t len)
{
	snprintf(buf, len, "%s/signal/%s", c->out, q->name);
	if (nftw(buf, mx_rm, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT) {
		fprintf(stderr, "natbed matrix: cannot empty %s: %s\n", buf, strerror(errno));
		return -1;
	}
	if (cli_mkdirs(buf) < 0) {
		fprintf(stderr, "natbed matrix: cannot make %s: %s\n", buf, strerror(errno));
		return -1;
	}
	return 0;
}

/* The environment of side `side` (0 offers) of pair q into s->env. */
static void mx_env(const struct mx_loop_cfg *c, const struct mx_pair *q, int side,
		   const char *sigdir, struct mx_slot *s, char **envp)
{
	const struct mx_plan *p = c->plan;
	const struct mx_host *me = &p->hosts[side ? q->b : q->a],
			     *peer = &p->hosts[side ? q->a : q->b];
	char(*e)[MX_ENV_LEN] = s->env[side];
	int n = 0;

	snprintf(e[n++], MX_ENV_LEN, "NATBED_ROLE=%s", side ? "answer" : "offer");
	snprintf(e[n++], MX_ENV_LEN, "NATBED_HOST=%s", me->name);
	snprintf(e[n++], MX_ENV_LEN, "NATBED_PEER=%s", peer->name);
	snprintf(e[n++], MX_ENV_LEN, "NATBED_SIGNAL=%s", sigdir);
	snprintf(e[n++], MX_ENV_LEN, "NATBED_STUN=%s", mx_plan_stun());
	snprintf(e[n++], MX_ENV_LEN, "NATBED_TURN=%s", mx_plan_turn(p));
	snprintf(e[n++], MX_ENV_LEN, "NATBED_TURN_USER=%s", p->turn ? MX_TURN_USER : "");
	snprintf(e[n++], MX_ENV_LEN, "NATBED_TURN_PASS=%s", p->turn ? MX_TURN_PASS : "");
	snprintf(e[n++], MX_ENV_LEN, "NATBED_TIMEOUT=%g", c->timeout_s);
	for (int i = 0; i < n; i++)
		envp[i] = e[i];
	envp[n] = NULL;
}

static void mx_signal_groups(struct mx_slot *s, int sig)
{
	for (int k = 0; k < 2; k++)
		if (s->pid[k] > 0)
			kill(-s->pid[k], sig);
}

/* Starts pair i in slot s. 0 or -1 (printed; nothing left running). */
static int mx_start(struct mx_state *st, size_t i, struct mx_slot *s)
{
	const struct mx_loop_cfg *c = st->c;
	const struct mx_pair *q = &c->plan->pairs[i];
	char sigdir[CLI_PATH_MAX], ns[TOPO_NAME_MAX + 16], log[CLI_PATH_MAX + 64];
	char *envp[MX_ENV_N + 1];

	if (mx_signal_dir(c, q, sigdir, sizeof(sigdir)) < 0)
		return -1;
	memset(s, 0, sizeof(*s));
	s->pair = i;
	st->runs[i] = (struct mx_run){.t0_ns = mx_wall_ns(), .t_s = session_now_s() - st->t0};
	for (int k = 0; k < 2; k++) {
		const struct mx_host *h = &c->plan->hosts[k ? q->b : q->a];
		pid_t pid;

		mx_env(c, q, k, sigdir, s, envp);
		snprintf(ns, sizeof(ns), "%s%s", c->prefix, h->name);
		snprintf(log, sizeof(log), "%s/%s-%s.log", c->out, q->name, h->name);
		pid = proc_spawn_env(ns, c->argv, envp, log);
		if (pid < 0) {
			fprintf(stderr, "natbed matrix: cannot start %s on %s: %s\n", c->argv[0],
				h->name, strerror((int)-pid));
			mx_signal_groups(s, SIGKILL);
			for (int j = 0; j < k; j++)
				waitpid(s->pid[j], NULL, 0);
			return -1;
		}
		s->pid[k] = pid;
	}
	s->active = true;
	s->started = session_now_s();
	s->term_at = s->started + c->timeout_s;
	s->kill_at = INFINITY;
	st->started[i] = true;
	st->busy[q->a] = st->busy[q->b] = true;
	st->left[q->a]--;
	st->left[q->b]--;
	st->running++;
	return 0;
}

/* The pending pair to start now: both hosts free, the one whose hosts
 * have the most pairs left (so the last round is not one long queue), or
 * -1. */
static long mx_next(const struct mx_state *st, double now)
{
	const struct mx_plan *p = st->c->plan;
	long best = -1;
	unsigned best_left = 0;

	for (size_t i = 0; i < p->n_pairs; i++) {
		const struct mx_pair *q = &p->pairs[i];
		unsigned left = st->left[q->a] + st->left[q->b];

		if (st->started[i] || st->busy[q->a] || st->busy[q->b] || now < st->free_at[q->a] ||
		    now < st->free_at[q->b])
			continue;
		if (best < 0 || left > best_left) {
			best = (long)i;
			best_left = left;
		}
	}
	return best;
}

static int mx_shell_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

/* Reaps what of s ended; at the end of both, finishes the pair. */
static void mx_reap(struct mx_state *st, struct mx_slot *s, bool interrupted)
{
	const struct mx_pair *q = &st->c->plan->pairs[s->pair];
	struct mx_run *run = &st->runs[s->pair];

	for (int k = 0; k < 2; k++) {
		pid_t r;

		if (!s->pid[k])
			continue;
		r = waitpid(s->pid[k], &s->status[k], WNOHANG);
		if (r == s->pid[k] || (r < 0 && errno == ECHILD)) {
			kill(-s->pid[k], SIGKILL); /* what it left running in its group */
			s->pid[k] = 0;
		}
	}
	if (s->pid[0] || s->pid[1])
		return;
	run->t1_ns = mx_wall_ns();
	run->exit_a = mx_shell_status(s->status[0]);
	run->exit_b = mx_shell_status(s->status[1]);
	run->timed_out = isfinite(s->kill_at) && !interrupted;
	run->ran = !interrupted;
	s->active = false;
	st->running--;
	st->busy[q->a] = st->busy[q->b] = false;
	st->free_at[q->a] = st->free_at[q->b] = session_now_s() + MX_SETTLE_S;
	st->n_done++;
	if (st->c->done)
		st->c->done(st->c->arg, s->pair, run);
}

/* The timeout, and the kill after SIGTERM, of every running pair. */
static void mx_deadlines(struct mx_state *st, double now)
{
	for (size_t i = 0; i < st->n_slots; i++) {
		struct mx_slot *s = &st->slots[i];

		if (!s->active)
			continue;
		if (now >= s->term_at && !isfinite(s->kill_at)) {
			mx_signal_groups(s, SIGTERM);
			s->kill_at = now + MX_GRACE_S;
		}
		if (now >= s->kill_at)
			mx_signal_groups(s, SIGKILL);
	}
}

static void mx_stop_all(struct mx_state *st, int sig, double now)
{
	for (size_t i = 0; i < st->n_slots; i++) {
		struct mx_slot *s = &st->slots[i];

		if (!s->active)
			continue;
		mx_signal_groups(s, sig);
		if (!isfinite(s->kill_at))
			s->kill_at = now + MX_GRACE_S;
		s->term_at = now; /* no second SIGTERM */
	}
}

static void mx_state_free(struct mx_state *st)
{
	free(st->slots);
	free(st->started);
	free(st->free_at);
	free(st->busy);
	free(st->left);
}

int mx_loop(const struct mx_loop_cfg *c, struct mx_run *runs)
{
	const struct mx_plan *p = c->plan;
	struct mx_state st = {.c = c, .runs = runs, .t0 = session_now_s()};
	int seen = sigstop_count(), rc = 0;
	bool stopping = false;
	size_t i;

	st.n_slots = (size_t)c->parallel < p->n_pairs ? (size_t)c->parallel : p->n_pairs;
	st.slots = calloc(st.n_slots + 1, sizeof(*st.slots));
	st.started = calloc(p->n_pairs + 1, sizeof(*st.started));
	st.free_at = calloc(p->n_hosts + 1, sizeof(*st.free_at));
	st.busy = calloc(p->n_hosts + 1, sizeof(*st.busy));
	st.left = calloc(p->n_hosts + 1, sizeof(*st.left));
	if (!st.slots || !st.started || !st.free_at || !st.busy || !st.left) {
		fprintf(stderr, "natbed matrix: out of memory\n");
		mx_state_free(&st);
		return -1;
	}
	memset(runs, 0, p->n_pairs * sizeof(*runs));
	for (i = 0; i < p->n_pairs; i++) {
		st.left[p->pairs[i].a]++;
		st.left[p->pairs[i].b]++;
	}
	while (st.running || (!stopping && st.n_done < p->n_pairs)) {
		double now = session_now_s();
		struct pollfd pfd = {.fd = sigstop_fd(), .events = POLLIN};
		long next;

		if (!stopping && sigstop_count() > seen) {
			stopping = true;
			rc = rc < 0 ? rc : 1;
			mx_stop_all(&st, SIGTERM, now);
		}
		if (stopping && sigstop_count() > seen + 1)
			mx_stop_all(&st, SIGKILL, now);
		while (!stopping && st.running < st.n_slots && (next = mx_next(&st, now)) >= 0) {
			for (i = 0; st.slots[i].active; i++)
				;
			if (mx_start(&st, (size_t)next, &st.slots[i]) < 0) {
				stopping = true;
				rc = -1;
				mx_stop_all(&st, SIGKILL, now);
			}
		}
		mx_deadlines(&st, now);
		for (i = 0; i < st.n_slots; i++)
			if (st.slots[i].active)
				mx_reap(&st, &st.slots[i], stopping);
		if (!st.running && (stopping || st.n_done == p->n_pairs))
			break;
		if (poll(&pfd, pfd.fd >= 0 ? 1 : 0, MX_TICK_MS) > 0)
			sigstop_drain();
	}
	mx_state_free(&st);
	return rc;
}
