/* The loop of natbed-rendezvous and natbed-agent (agent_loop.h). */
#include "agent_loop.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <event2/event.h>

#include "natbed/log.h"

int agent_loop_stats(const struct agent_loop *l)
{
	char tmp[4096];
	json_t *j;
	int ret;

	if (!l->stats_path || !l->stats)
		return 0;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", l->stats_path) >= (int)sizeof(tmp))
		return -EIO;
	j = l->stats(l->arg);
	ret = j ? json_dump_file(j, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) : -1;
	json_decref(j);
	/* through a temporary file: a reader never sees half of it */
	if (ret < 0 || rename(tmp, l->stats_path) < 0) {
		log_err("stats %s: cannot write", l->stats_path);
		return -EIO;
	}
	return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct agent_loop *l = arg;

	if (sig == SIGUSR1) {
		agent_loop_stats(l);
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	agent_loop_stop(l, 0);
}

static struct event *signal_add(struct agent_loop *l, int sig)
{
	struct event *ev = evsignal_new(l->base, sig, on_signal, l);

	if (ev && evsignal_add(ev, NULL) < 0) {
		event_free(ev);
		return NULL;
	}
	return ev;
}

int agent_loop_init(struct agent_loop *l, json_t *(*stats)(void *arg), void *arg,
		    const char *stats_path)
{
	uint64_t seed = 0;

	memset(l, 0, sizeof(*l));
	l->stats = stats;
	l->arg = arg;
	l->stats_path = stats_path;
	/* transaction and try ids must not repeat across runs */
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		log_warn("getrandom: %s; seeding with 0", strerror(errno));
	l->base = event_base_new();
	if (!l->base)
		return -ENOMEM;
	l->sig_term = signal_add(l, SIGTERM);
	l->sig_int = signal_add(l, SIGINT);
	l->sig_usr1 = signal_add(l, SIGUSR1);
	if (!l->sig_term || !l->sig_int || !l->sig_usr1)
		return -ENOMEM;
	l->s = sched_new(clock_monotonic, NULL);
	if (!l->s || sched_attach(l->s, l->base) < 0)
		return -ENOMEM;
	l->io = dgsock_new(l->base, l->s, seed);
	return l->io ? 0 : -ENOMEM;
}

const struct dgram *agent_loop_dgram(const struct agent_loop *l)
{
	return dgsock_dgram(l->io);
}

void agent_loop_run(struct agent_loop *l)
{
	event_base_dispatch(l->base);
}

void agent_loop_stop(struct agent_loop *l, int status)
{
	l->status = status;
	event_base_loopbreak(l->base);
}

void agent_loop_free(struct agent_loop *l)
{
	dgsock_free(l->io);
	sched_free(l->s);
	if (l->sig_usr1)
		event_free(l->sig_usr1);
	if (l->sig_int)
		event_free(l->sig_int);
	if (l->sig_term)
		event_free(l->sig_term);
	if (l->base)
		event_base_free(l->base);
	memset(l, 0, sizeof(*l));
}
