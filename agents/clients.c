/* natbed agents: many clients in one process (clients.h). Each line
 * becomes a struct client on a list, timed on the scheduler; its agent
 * lives from its start to its report. No I/O of its own. */
#include "clients.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/log.h"
#include "natbed/strcopy.h"

enum client_state {
	CLIENT_SCHEDULED, /* its time has not come */
	CLIENT_WAITING,	  /* due, no room: in the queue */
	CLIENT_ALIVE,	  /* its agent connects */
	CLIENT_DONE,	  /* reported: freed from the loop */
};

struct client {
	struct clients *cs;
	enum client_state state;
	char id[RDV_NAME_MAX + 1];
	char name[RDV_NAME_MAX + 1]; /* PREFIX.ID */
	char peer[RDV_NAME_MAX + 1];
	const struct method *m; /* NULL: the cascade */
	enum sel_priority priority;
	natbed_time_t at, started;
	struct agent *a;
	struct agent_plan plan;
	uint64_t timer;		    /* its start, then its end */
	struct client *prev, *next; /* every client */
	struct client *qnext;	    /* in the waiting queue */
};

struct clients {
	const struct dgram *d;
	struct clients_config cfg;
	struct clients_ops ops;
	natbed_time_t t0;
	struct client *head, *tail;   /* every client not yet freed */
	struct client *qhead, *qtail; /* due and waiting for room */
	bool eof, idle_told;
	struct clients_counters cnt;
};

/* --- the list ------------------------------------------------------------ */

static void client_unlink(struct client *k)
{
	struct clients *cs = k->cs;

	if (k->prev)
		k->prev->next = k->next;
	else
		cs->head = k->next;
	if (k->next)
		k->next->prev = k->prev;
	else
		cs->tail = k->prev;
}

static void client_free(struct client *k)
{
	struct clients *cs = k->cs;

	if (k->timer)
		sched_cancel(cs->d->s, k->timer);
	if (k->a) {
		agent_leave(k->a);
		agent_free(k->a);
	}
	client_unlink(k);
	free(k);
}

static void idle_check(struct clients *cs)
{
	if (cs->eof && !cs->head && !cs->idle_told) {
		cs->idle_told = true;
		if (cs->ops.idle)
			cs->ops.idle(cs->ops.arg);
	}
}

/* --- a client's life ------------------------------------------------------ */

static void client_start(struct client *k);

/* From the loop, after its report: the agent goes, room for the next. */
static void client_end(void *arg, natbed_time_t now)
{
	struct client *k = arg;
	struct clients *cs = k->cs;
	struct client *next = cs->qhead;

	k->timer = 0;
	client_free(k);
	cs->cnt.alive--;
	if (next) {
		cs->qhead = next->qnext;
		if (!cs->qhead)
			cs->qtail = NULL;
		client_start(next);
	}
	idle_check(cs);
}

static void client_report(struct client *k, const struct agent_report *r)
{
	struct clients *cs = k->cs;

	k->state = CLIENT_DONE;
	cs->cnt.pending--;
	cs->cnt.reported++;
	cs->cnt.connected += r->success;
	if (cs->ops.report)
		cs->ops.report(cs->ops.arg, k->id, (double)(k->started - cs->t0) / NATBED_NS_PER_S,
			       r);
	/* never free an agent from inside its own call */
	k->timer = sched_at(cs->d->s, dg_now(cs->d), client_end, k);
}

static void on_report(void *arg, struct agent *a, const struct agent_report *r)
{
	client_report(arg, r);
}

/* A client that cannot start still reports, as a failed connect. */
static void client_cannot(struct client *k, const char *why, int err)
{
	struct agent_report r = {.path = "none",
				 .probe = {.rtt_ms = -1, .rtt_min_ms = -1, .rtt_max_ms = -1}};

	memcpy(r.peer, k->peer, sizeof(r.peer));
	snprintf(r.reason, sizeof(r.reason), "%s: %s", why, strerror(-err));
	log_err("client %s: %s", k->id, r.reason);
	client_report(k, &r);
}

static void client_start(struct client *k)
{
	struct clients *cs = k->cs;
	struct agent_config cfg = cs->cfg.agent;
	struct agent_ops ops = {.report = on_report, .arg = k};
	int r;

	k->state = CLIENT_ALIVE;
	k->started = dg_now(cs->d);
	if (++cs->cnt.alive > cs->cnt.alive_max)
		cs->cnt.alive_max = cs->cnt.alive;
	/* parse_line made sure PREFIX.ID fits */
	memcpy(cfg.name, k->name, sizeof(cfg.name));
	cfg.bind.port = 0;
	cfg.serve = false;
	r = agent_new(cs->d, &cfg, &ops, &k->a);
	if (r < 0) {
		k->a = NULL;
		client_cannot(k, "cannot open its socket", r);
		return;
	}
	cs->cnt.started++;
	r = agent_connect(k->a, &k->plan);
	if (r < 0)
		client_cannot(k, "cannot connect", r);
}

static void client_due(void *arg, natbed_time_t now)
{
	struct client *k = arg;
	struct clients *cs = k->cs;

	k->timer = 0;
	if (cs->cnt.alive < (unsigned)cs->cfg.max_alive) {
		client_start(k);
		return;
	}
	cs->cnt.waited++;
	k->state = CLIENT_WAITING;
	if (cs->qtail)
		cs->qtail->qnext = k;
	else
		cs->qhead = k;
	cs->qtail = k;
}

/* --- the schedule --------------------------------------------------------- */

/* The plan of a line: the template's, with its peer and method. */
static void client_plan(struct client *k)
{
	struct agent_plan *p = &k->plan;

	*p = k->cs->cfg.plan;
	memcpy(p->peer, k->peer, sizeof(p->peer));
	p->priority = k->priority;
	p->cascade = k->m == NULL;
	p->nsteps = 0;
	memset(p->steps, 0, sizeof(p->steps));
	if (k->m) {
		p->nsteps = 1;
		p->steps[0].m = k->m;
		p->steps[0].budget_ns = k->cs->cfg.plan.total_ns;
		p->total_ns = 0;
	}
}

/* ID T_S PEER [METHOD|cascade] [PRIORITY] into k; 0 or -EINVAL. */
static int parse_line(struct clients *cs, char *s, struct client *k, char *err, size_t errlen)
{
	const struct method *(*find)(const char *) =
	    cs->cfg.agent.find_method ? cs->cfg.agent.find_method : method_find;
	char *f[6], *save = NULL, *end;
	size_t np, ni;
	int n = 0;
	double t;

	for (char *w = strtok_r(s, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		if (n < 6)
			f[n++] = w;
		else
			n++;
	if (n < 3 || n > 5) {
		snprintf(err, errlen, "%d fields: want ID T_S PEER [METHOD|cascade] [PRIORITY]", n);
		return -EINVAL;
	}
	if (!rdvmsg_name_ok(f[0], RDV_NAME_MAX) ||
	    strlen(cs->cfg.agent.name) + 1 + strlen(f[0]) > RDV_NAME_MAX) {
		snprintf(err, errlen, "ID %s: [A-Za-z0-9._-], and %s.ID up to %d", f[0],
			 cs->cfg.agent.name, RDV_NAME_MAX);
		return -EINVAL;
	}
	t = strtod(f[1], &end);
	if (end == f[1] || *end || !isfinite(t) || t < 0 || t > CLIENTS_T_MAX_S) {
		snprintf(err, errlen, "T_S %s: seconds, 0 to %.0f", f[1], CLIENTS_T_MAX_S);
		return -EINVAL;
	}
	if (!rdvmsg_name_ok(f[2], RDV_NAME_MAX)) {
		snprintf(err, errlen, "PEER %s: not an agent name", f[2]);
		return -EINVAL;
	}
	str_copy(k->id, sizeof(k->id), f[0]);
	np = strlen(cs->cfg.agent.name);
	ni = strlen(f[0]); /* np + 1 + ni <= RDV_NAME_MAX, checked above */
	memcpy(k->name, cs->cfg.agent.name, np);
	k->name[np] = '.';
	memcpy(k->name + np + 1, f[0], ni + 1);
	str_copy(k->peer, sizeof(k->peer), f[2]);
	k->at = cs->t0 + (natbed_time_t)llround(t * NATBED_NS_PER_S);
	k->priority = cs->cfg.priority;
	if (n > 3 && strcmp(f[3], "cascade") != 0 && !(k->m = find(f[3]))) {
		snprintf(err, errlen, "METHOD %s: no such method", f[3]);
		return -EINVAL;
	}
	if (n > 4 && (k->m || sel_priority_parse(f[4], &k->priority) < 0)) {
		snprintf(err, errlen, "PRIORITY %s: %s", f[4],
			 k->m ? "only with cascade" : "success_rate, cost, security or balanced");
		return -EINVAL;
	}
	return 0;
}

int clients_line(struct clients *cs, const char *line, char *err, size_t errlen)
{
	char buf[CLIENTS_LINE_MAX + 1], *hash;
	struct client *k;
	size_t len = strlen(line);
	natbed_time_t now = dg_now(cs->d);
	int r;

	if (len > CLIENTS_LINE_MAX) {
		snprintf(err, errlen, "longer than %d bytes", CLIENTS_LINE_MAX);
		return -EINVAL;
	}
	memcpy(buf, line, len + 1);
	if ((hash = strchr(buf, '#')))
		*hash = '\0';
	if (buf[strspn(buf, " \t\r")] == '\0')
		return 0;
	buf[strcspn(buf, "\r")] = '\0';
	if (!clients_room(cs)) {
		snprintf(err, errlen, "%d lines pending", CLIENTS_PENDING_MAX);
		return -ENOSPC;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->cs = cs;
	r = parse_line(cs, buf, k, err, errlen);
	if (r < 0) {
		free(k);
		return r;
	}
	client_plan(k);
	k->timer = sched_at(cs->d->s, k->at > now ? k->at : now, client_due, k);
	k->prev = cs->tail;
	if (cs->tail)
		cs->tail->next = k;
	else
		cs->head = k;
	cs->tail = k;
	cs->cnt.pending++;
	cs->cnt.lines++;
	return 0;
}

bool clients_room(const struct clients *cs)
{
	return cs->cnt.pending < CLIENTS_PENDING_MAX;
}

void clients_eof(struct clients *cs)
{
	cs->eof = true;
	idle_check(cs);
}

struct clients *clients_new(const struct dgram *d, const struct clients_config *cfg,
			    const struct clients_ops *ops)
{
	struct clients *cs;

	if (!rdvmsg_name_ok(cfg->agent.name, RDV_NAME_MAX - 2) || cfg->max_alive < 0)
		return NULL;
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return NULL;
	cs->d = d;
	cs->cfg = *cfg;
	if (!cs->cfg.max_alive)
		cs->cfg.max_alive = CLIENTS_ALIVE_DEFAULT;
	cs->ops = *ops;
	cs->t0 = dg_now(d);
	return cs;
}

void clients_free(struct clients *cs)
{
	if (!cs)
		return;
	while (cs->head)
		client_free(cs->head);
	free(cs);
}

void clients_counters(const struct clients *cs, struct clients_counters *out)
{
	*out = cs->cnt;
}
