/* natbed-agent's logic: the main socket's demultiplexing, tries run at
 * their common start, paths kept for probes, the connect plan. No I/O of
 * its own: struct dgram carries the datagrams, the scheduler the time. */
#include "agent_core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckval.h"
#include "natbed/log.h"
#include "natbed/strcopy.h"
#include "natbed/stun.h"
#include "pcpc.h"
#include "turnsock.h"

#define AGENT_SWEEP_S	   10 /* how often idle paths are looked for */
#define AGENT_FROM_BUCKETS 64 /* chains of paths by remote (a power of 2) */

struct agent_try {
	struct agent *a;
	bool used, mine;
	bool cut;	   /* the plan's budget ended it: not the method's outcome */
	bool cancelled;	   /* the peer refused it (CANCEL): neither */
	bool start_called; /* stop() is owed */
	bool running;	   /* start() succeeded: datagrams go to input() */
	struct trav_try t;
	char peer[RDV_NAME_MAX + 1];
	char reason[AGENT_REASON_MAX]; /* t.reason when the agent ends it */
	uint64_t start_timer, guard_timer, after_timer, stop_timer;
};

struct agent_path {
	struct agent *a;
	int index; /* in a->paths */
	bool used;
	int sock;
	struct dg_ep local, remote;
	uint64_t try_id;
	natbed_time_t last_used;
	struct probe *probe; /* the initiator's exchange; NULL: echo */
};

struct agent {
	const struct dgram *d; /* the driver given, or the TURN layer over it */
	struct agent_config cfg;
	struct turnsock *ts;	  /* cfg.turn's allocation, or NULL */
	uint64_t turn_wait_timer; /* the first registration waits for it */
	struct pcpc *pcp_probe;	  /* asking cfg.gateway whether it grants mappings */
	struct agent_ops ops;
	int sock;
	struct dg_ep local;
	struct rdvc *rdvc;
	struct disc *disc; /* while the discovery runs */
	bool rdv_started;  /* the rendezvous client was started */
	/* allocated as they are first needed and kept: a connecting agent
	 * holds one or two, a serving one as many as its clients need */
	struct agent_try *tries[AGENT_TRIES_MAX];
	struct agent_path *paths[AGENT_PATHS_MAX];
	int ntries, npaths; /* tries[0..ntries), paths[0..npaths) allocated */
	/* Which paths a datagram on the main socket may be for, side by side
	 * (path_filter): a serving agent keeps a path for each client of the
	 * last minute, and looking into each of them took longer than the
	 * rest of a datagram's way in. */
	uint8_t path_on_main[AGENT_PATHS_MAX]; /* enum path_on_main */
	struct dg_ep path_from[AGENT_PATHS_MAX];
	/* The PATH_FROM paths by remote, each chain in index order (1 + the
	 * index; 0 ends it), and how many are PATH_ANY: with none, main_recv
	 * looks at the chain of the datagram's source alone. */
	uint16_t from_head[AGENT_FROM_BUCKETS];
	uint16_t from_next[AGENT_PATHS_MAX];
	int n_any_paths;
	uint64_t sweep_timer;
	/* the connect */
	bool connecting, waiting_registration;
	bool looking_up; /* the cascade's LOOKUP is under way */
	bool asking;	 /* a step's CONNECT is asked, its introduction awaited */
	struct agent_plan plan;
	int step;
	int nskipped; /* what the cascade skips, listed after the tries */
	struct agent_tried skipped[AGENT_PLAN_MAX];
	natbed_time_t asked_at, step_asked_at, total_deadline;
	uint64_t total_timer;
	struct agent_try *ctry;
	struct agent_path *cpath;
	struct agent_report rep;
	struct agent_counters cnt;
};

static const char *const stray_names[AGENT_STRAY_COUNT] = {"not_stun", "unclaimed"};

/* What agent_report.path may point at (a checkpoint writes its name). */
enum agent_path_kind { AGENT_PATH_DIRECT, AGENT_PATH_RELAY, AGENT_PATH_NONE, AGENT_PATH_KINDS };
static const char *const path_kinds[AGENT_PATH_KINDS] = {"direct", "relay", "none"};

const char *agent_stray_name(enum agent_stray s)
{
	return (unsigned)s < AGENT_STRAY_COUNT ? stray_names[s] : "unknown";
}

static double ms_between(natbed_time_t a, natbed_time_t b)
{
	return (double)(b - a) / NATBED_NS_PER_MS;
}

static void stray(struct agent *a, const uint8_t *buf, size_t len)
{
	struct stun_msg m;

	if (stun_msg_parse(buf, len, 0, &m, NULL, 0) == STUN_PARSE_OK)
		a->cnt.stray[AGENT_STRAY_UNCLAIMED]++;
	else
		a->cnt.stray[AGENT_STRAY_NOT_STUN]++;
}

/* --- paths ------------------------------------------------------------- */

/* What path_input makes of a datagram on the main socket, before it looks. */
enum path_on_main {
	PATH_NOT_MAIN, /* not a path of the main socket (or not in use): none */
	PATH_FROM,     /* an echoing path with a remote: only those from it */
	PATH_ANY,      /* the initiator's probes, an echoing path with no remote */
};

static unsigned path_bucket(const struct dg_ep *ep)
{
	return ((ep->addr ^ (uint32_t)ep->port << 16) * 2654435761u >> 16) &
	       (AGENT_FROM_BUCKETS - 1);
}

/* Takes path i out of what main_recv looks at, as path_filter left it. */
static void path_unindex(struct agent *a, int i)
{
	uint16_t *at;

	if (a->path_on_main[i] == PATH_ANY)
		a->n_any_paths--;
	if (a->path_on_main[i] != PATH_FROM)
		return;
	for (at = &a->from_head[path_bucket(&a->path_from[i])]; *at != i + 1;
	     at = &a->from_next[*at - 1])
		;
	*at = a->from_next[i];
}

/* Puts path i into what main_recv looks at: its chain, in index order. */
static void path_index(struct agent *a, int i)
{
	uint16_t *at;

	if (a->path_on_main[i] == PATH_ANY)
		a->n_any_paths++;
	if (a->path_on_main[i] != PATH_FROM)
		return;
	for (at = &a->from_head[path_bucket(&a->path_from[i])]; *at && *at < i + 1;
	     at = &a->from_next[*at - 1])
		;
	a->from_next[i] = *at;
	*at = (uint16_t)(i + 1);
}

/* Sets what main_recv knows of path p from its fields: called whenever
 * used, sock, remote or probe change. */
static void path_filter(struct agent_path *p)
{
	struct agent *a = p->a;

	path_unindex(a, p->index);
	if (!p->used || p->sock != a->sock)
		a->path_on_main[p->index] = PATH_NOT_MAIN;
	else if (!p->probe && p->remote.addr)
		a->path_on_main[p->index] = PATH_FROM; /* probe_echo looks at the source first */
	else
		a->path_on_main[p->index] = PATH_ANY;
	a->path_from[p->index] = p->remote;
	path_index(a, p->index);
}

static void path_free(struct agent_path *p)
{
	struct agent *a = p->a;

	if (!p->used)
		return;
	probe_free(p->probe);
	p->probe = NULL;
	if (p->sock != a->sock)
		dg_close(a->d, p->sock);
	if (a->cpath == p)
		a->cpath = NULL;
	p->used = false;
	path_filter(p);
}

/* A datagram for path p: its probes' echoes (initiator) or probes to
 * echo (responder). */
static bool path_input(struct agent_path *p, const struct dg_ep *from, const uint8_t *buf,
		       size_t len, natbed_time_t now)
{
	struct agent *a = p->a;

	if (p->probe)
		return probe_input(p->probe, from, buf, len, now);
	if (!probe_echo(a->d, p->sock, p->try_id, p->remote.addr ? &p->remote : NULL, from, buf,
			len))
		return false;
	a->cnt.probes_echoed++;
	p->last_used = now;
	return true;
}

static void path_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		      natbed_time_t now)
{
	struct agent_path *p = arg;

	if (!path_input(p, from, buf, len, now))
		stray(p->a, buf, len);
}

/* A free path: one allocated before, a new one, or, all AGENT_PATHS_MAX
 * in use, the echoing path used least recently (its peer is long done
 * probing, or it would have been used since). NULL when none. */
static struct agent_path *path_slot(struct agent *a)
{
	struct agent_path *oldest = NULL;

	for (int i = 0; i < a->npaths; i++) {
		struct agent_path *p = a->paths[i];

		if (!p->used)
			return p;
		if (!p->probe && (!oldest || p->last_used < oldest->last_used))
			oldest = p;
	}
	if (a->npaths < AGENT_PATHS_MAX && (a->paths[a->npaths] = calloc(1, sizeof(**a->paths)))) {
		a->paths[a->npaths]->index = a->npaths;
		return a->paths[a->npaths++];
	}
	if (oldest)
		path_free(oldest);
	return oldest;
}

static struct agent_path *path_add(struct agent *a, const struct trav_try *t)
{
	struct agent_path *p = path_slot(a);

	if (!p)
		return NULL;
	*p = (struct agent_path){.a = a,
				 .index = p->index,
				 .used = true,
				 .sock = t->path_sock,
				 .local = t->local,
				 .remote = t->remote,
				 .try_id = t->id,
				 .last_used = dg_now(a->d)};
	/* a socket the method opened comes to the agent now */
	if (p->sock != a->sock && dg_set_recv(a->d, p->sock, path_recv, p) < 0) {
		p->used = false;
		path_filter(p);
		return NULL;
	}
	path_filter(p);
	return p;
}

static void sweep(void *arg, natbed_time_t now)
{
	struct agent *a = arg;

	for (int i = 0; i < a->npaths; i++) {
		struct agent_path *p = a->paths[i];

		if (p->used && !p->probe &&
		    now - p->last_used > AGENT_PATH_LINGER_S * NATBED_NS_PER_S)
			path_free(p);
	}
	a->sweep_timer = sched_at(a->d->s, now + AGENT_SWEEP_S * NATBED_NS_PER_S, sweep, a);
}

/* --- the connect ------------------------------------------------------- */

static void connect_step(struct agent *a);

static void connect_finish(struct agent *a, const char *reason)
{
	struct agent_report *r = &a->rep;

	if (!a->connecting)
		return;
	a->connecting = false;
	a->waiting_registration = a->looking_up = a->asking = false;
	if (a->total_timer)
		sched_cancel(a->d->s, a->total_timer);
	a->total_timer = 0;
	r->success = reason == NULL;
	if (reason)
		str_copy(r->reason, sizeof(r->reason), reason);
	/* what the cascade did not try, after what it tried */
	for (int i = 0; i < a->nskipped && r->ntried < AGENT_PLAN_MAX; i++)
		r->tried[r->ntried++] = a->skipped[i];
	if (!r->success) {
		r->path = path_kinds[AGENT_PATH_NONE];
		r->probe = (struct probe_result){.rtt_ms = -1, .rtt_min_ms = -1, .rtt_max_ms = -1};
	} else {
		r->path = path_kinds[r->m->spec.relay ? AGENT_PATH_RELAY : AGENT_PATH_DIRECT];
	}
	if (a->ops.report)
		a->ops.report(a->ops.arg, a, r);
	if (a->cpath)
		path_free(a->cpath);
}

static void record_tried(struct agent *a, bool success, double ms, const char *reason)
{
	struct agent_report *r = &a->rep;
	struct agent_tried *t = &r->tried[r->ntried++];

	t->m = a->plan.steps[a->step].m;
	t->success = success;
	t->skipped = false;
	t->ms = ms;
	str_copy(t->reason, sizeof(t->reason), reason ? reason : "");
	r->m = t->m;
}

/* A step failed: on to the next, or the end. */
static void connect_failed_step(struct agent *a, double ms, const char *reason)
{
	record_tried(a, false, ms, reason);
	a->step++;
	connect_step(a);
}

static void probe_done(void *arg, const struct probe_result *res)
{
	struct agent *a = arg;

	a->rep.probe = *res;
	connect_finish(a, NULL);
}

static void connect_step(struct agent *a)
{
	const struct agent_step *s;
	natbed_time_t now = dg_now(a->d), budget;
	int r;

	if (a->step == a->plan.nsteps) {
		connect_finish(a, a->rep.ntried ? a->rep.tried[a->rep.ntried - 1].reason
				  : a->nskipped ? "nothing to try: every method skipped"
						: "nothing to try");
		return;
	}
	/* the common start comes a start delay after the ask: a try with
	 * less left than this would be cut before it could do anything */
	if (a->total_deadline && a->total_deadline - now < AGENT_MIN_TRY_MS * NATBED_NS_PER_MS) {
		connect_finish(a, "budget spent");
		return;
	}
	s = &a->plan.steps[a->step];
	budget = s->budget_ns ? s->budget_ns : s->m->spec.budget_ns;
	if (a->total_deadline && budget > a->total_deadline - now)
		budget = a->total_deadline - now;
	a->step_asked_at = now;
	r = rdvc_connect(a->rdvc, a->plan.peer, s->m->spec.name, budget);
	if (r < 0) {
		char why[64];

		snprintf(why, sizeof(why), "cannot ask the rendezvous: %s", strerror(-r));
		connect_failed_step(a, 0, why);
		return;
	}
	a->asking = true;
}

static void total_fire(void *arg, natbed_time_t now)
{
	struct agent *a = arg;

	a->total_timer = 0;
	if (a->ctry && !a->ctry->t.finished) {
		/* a try under way (or awaiting its start) ends as spent; its
		 * result ends the connect */
		a->ctry->cut = true;
		trav_done(&a->ctry->t, false, "budget spent");
	} else if (a->asking) {
		record_tried(a, false, ms_between(a->step_asked_at, now), "budget spent");
		connect_finish(a, "budget spent");
	} else if (!a->ctry) {
		connect_finish(a, "budget spent");
	}
}

/* The cascade: the peer's NAT is known, the steps follow from it. */
static void cascade_choose(struct agent *a, const struct trav_cand *peer)
{
	struct sel_choice c[AGENT_PLAN_MAX];
	size_t n;

	sel_pair_of(rdvc_self(a->rdvc), peer, &a->rep.pair);
	a->rep.pair_known = true;
	n = sel_cascade(&a->rep.pair, a->plan.learn, a->plan.priority, &a->plan.limits,
			a->plan.table, a->plan.ntable, c, AGENT_PLAN_MAX);
	a->rep.pair.self_cand = a->rep.pair.peer_cand = NULL; /* peer is the caller's */
	a->plan.nsteps = 0;
	a->nskipped = 0;
	for (size_t i = 0; i < n; i++) {
		if (c[i].skip == SEL_SKIP_NONE) {
			a->plan.steps[a->plan.nsteps++] = (struct agent_step){.m = c[i].m};
			continue;
		}
		struct agent_tried *t = &a->skipped[a->nskipped++];

		*t = (struct agent_tried){.m = c[i].m, .skipped = true};
		str_copy(t->reason, sizeof(t->reason), sel_skip_reason(c[i].skip));
	}
	a->step = 0;
	connect_step(a);
}

static void on_looked_up(void *arg, struct rdvc *c, const char *peer, const struct trav_cand *cand,
			 const char *reason)
{
	struct agent *a = arg;

	if (!a->connecting || !a->looking_up || strcmp(peer, a->plan.peer) != 0)
		return;
	a->looking_up = false;
	if (!cand)
		connect_finish(a, reason);
	else
		cascade_choose(a, cand);
}

/* Registered: the connect begins; its budget and setup time count from
 * here, not from the discovery and registration before. */
static void connect_begin(struct agent *a)
{
	int r;

	a->waiting_registration = false;
	a->asked_at = dg_now(a->d);
	a->total_deadline = a->plan.total_ns ? a->asked_at + a->plan.total_ns : 0;
	if (a->plan.total_ns)
		a->total_timer = sched_at(a->d->s, a->total_deadline, total_fire, a);
	if (!a->plan.cascade) {
		connect_step(a);
		return;
	}
	r = rdvc_lookup(a->rdvc, a->plan.peer);
	if (r < 0) {
		char why[64];

		snprintf(why, sizeof(why), "cannot ask the rendezvous: %s", strerror(-r));
		connect_finish(a, why);
		return;
	}
	a->looking_up = true;
}

int agent_connect(struct agent *a, const struct agent_plan *plan)
{
	if (a->connecting)
		return -EBUSY;
	if (!rdvmsg_name_ok(plan->peer, RDV_NAME_MAX) || plan->probes < 0 ||
	    plan->probes > PROBE_MAX)
		return -EINVAL;
	if (plan->cascade ? !plan->table || plan->ntable < 1 || plan->ntable > AGENT_PLAN_MAX
			  : plan->nsteps < 1 || plan->nsteps > AGENT_PLAN_MAX)
		return -EINVAL;
	for (int i = 0; i < plan->nsteps && !plan->cascade; i++)
		if (!plan->steps[i].m)
			return -EINVAL;
	for (size_t i = 0; plan->cascade && i < plan->ntable; i++)
		if (!plan->table[i])
			return -EINVAL;
	a->plan = *plan;
	a->step = 0;
	a->nskipped = 0;
	a->connecting = true;
	memset(&a->rep, 0, sizeof(a->rep));
	memcpy(a->rep.peer, plan->peer, sizeof(a->rep.peer));
	a->rep.m = plan->cascade ? NULL : plan->steps[0].m;
	if (rdvc_registered(a->rdvc))
		connect_begin(a);
	else
		a->waiting_registration = true;
	return 0;
}

/* --- tries ------------------------------------------------------------- */

static void try_release(struct agent_try *at)
{
	struct agent *a = at->a;

	if (at->start_timer)
		sched_cancel(a->d->s, at->start_timer);
	if (at->guard_timer)
		sched_cancel(a->d->s, at->guard_timer);
	if (at->after_timer)
		sched_cancel(a->d->s, at->after_timer);
	if (at->stop_timer)
		sched_cancel(a->d->s, at->stop_timer);
	if (at->start_called)
		at->t.m->stop(&at->t);
	if (a->ctry == at)
		a->ctry = NULL;
	at->used = false;
}

static void try_log(const struct agent_try *at)
{
	const struct trav_try *t = &at->t;
	char l[DG_EP_STR], r[DG_EP_STR];

	if (!log_wants(LOG_LVL_INFO)) /* its addresses are not formatted for nothing */
		return;
	if (t->success)
		log_info("try %016llx with %s (%s, %s): path %s -> %s in %.1f ms",
			 (unsigned long long)t->id, at->peer, t->m->spec.name,
			 t->role == TRAV_INITIATOR ? "initiator" : "responder",
			 dg_ep_str(&t->local, l), dg_ep_str(&t->remote, r),
			 ms_between(t->start, t->done_at));
	else
		log_info("try %016llx with %s (%s, %s): %s after %.1f ms",
			 (unsigned long long)t->id, at->peer, t->m->spec.name,
			 t->role == TRAV_INITIATOR ? "initiator" : "responder", t->reason,
			 ms_between(t->start, t->done_at));
}

static void try_stop_fire(void *arg, natbed_time_t now)
{
	struct agent_try *at = arg;

	at->stop_timer = 0;
	try_release(at);
}

/* Records a try's outcome under its pair, as the peers were introduced. */
static void learn_outcome(struct agent *a, const struct trav_try *t, double ms)
{
	char key[SEL_PAIR_KEY_MAX];
	struct sel_pair pair;

	sel_pair_of(&t->self, &t->peer, &pair);
	if (learn_record(a->plan.learn, sel_pair_key(&pair, key), t->m->spec.name, t->success, ms) <
	    0)
		log_err("learning: cannot record %s for %s: out of memory", t->m->spec.name, key);
}

/* After the method's result, from the loop: use the path. A failed try
 * stops now; a successful one keeps running until its deadline, so that
 * it still answers the peer's checks when the peer's result comes later
 * than ours (as ICE agents keep answering after nomination). */
static void try_after(void *arg, natbed_time_t now)
{
	struct agent_try *at = arg;
	struct agent *a = at->a;
	struct trav_try t = at->t;
	bool mine = at->mine, cut = at->cut, cancelled = at->cancelled;
	/* a try cut before its start took no time of its own; a refused one
	 * counts from the ask, as a refusal of the rendezvous does */
	double ms = t.done_at > t.start ? ms_between(t.start, t.done_at) : 0;

	if (cancelled && mine)
		ms = ms_between(a->step_asked_at, t.done_at);
	at->after_timer = 0;
	try_log(at);
	/* t.reason is at->reason's until at is taken again: not before the
	 * next introduction, which no call below can bring */
	if (mine && a->plan.learn && !cut && !cancelled)
		learn_outcome(a, &t, ms);
	if (t.success) {
		if (at->guard_timer)
			sched_cancel(a->d->s, at->guard_timer);
		at->guard_timer = 0;
		at->stop_timer =
		    sched_at(a->d->s, t.deadline > now ? t.deadline : now, try_stop_fire, at);
		if (a->ctry == at)
			a->ctry = NULL;
	} else {
		try_release(at); /* stops the method; t keeps the result */
	}
	if (t.success)
		a->cnt.tries_ok++;
	else
		a->cnt.tries_failed++;
	/* the try spent ports of a sequential NAT: predict's next anchor */
	rdvc_reanchor(a->rdvc);
	if (!mine) {
		/* responder: echo the initiator's probes, on the path found or,
		 * when only the initiator found one, on the main socket to
		 * whoever holds the try id (none comes after a refusal) */
		if (cancelled)
			return;
		if (!t.success) {
			t.path_sock = a->sock;
			t.remote = (struct dg_ep){0};
		}
		if (!path_add(a, &t) && t.path_sock != a->sock)
			dg_close(a->d, t.path_sock);
		return;
	}
	if (!a->connecting) {
		/* the connect ended (its budget) while the method ran */
		if (t.success && t.path_sock != a->sock)
			dg_close(a->d, t.path_sock);
		return;
	}
	if (!t.success) {
		connect_failed_step(a, ms, t.reason);
		return;
	}
	record_tried(a, true, ms, NULL);
	a->rep.setup_ms = ms_between(a->asked_at, t.done_at);
	a->rep.local = t.local;
	a->rep.remote = t.remote;
	a->cpath = path_add(a, &t);
	if (!a->cpath) {
		if (t.path_sock != a->sock)
			dg_close(a->d, t.path_sock);
		connect_finish(a, "no room for the path");
		return;
	}
	a->plan.probe.count = a->plan.probes;
	a->plan.probe.try_id = t.id;
	a->cpath->probe =
	    probe_new(a->d, a->cpath->sock, &a->cpath->remote, &a->plan.probe, probe_done, a);
	path_filter(a->cpath);
	if (!a->cpath->probe)
		connect_finish(a, "cannot probe");
}

static void try_done(void *arg, struct trav_try *t)
{
	struct agent_try *at = arg;

	/* never stop a method from inside its own call */
	if (!at->after_timer)
		at->after_timer = sched_at(at->a->d->s, dg_now(at->a->d), try_after, at);
}

static void try_guard(void *arg, natbed_time_t now)
{
	struct agent_try *at = arg;

	at->guard_timer = 0;
	trav_done(&at->t, false, "method overran its deadline");
}

static void try_begin(void *arg, natbed_time_t now)
{
	struct agent_try *at = arg;
	struct agent *a = at->a;

	at->start_timer = 0;
	a->cnt.tries_run++;
	/* the method ends the try by its deadline; the agent makes sure */
	at->guard_timer =
	    sched_at(a->d->s, at->t.deadline + AGENT_GUARD_MS * NATBED_NS_PER_MS, try_guard, at);
	at->start_called = true;
	if (at->t.m->start(&at->t) < 0)
		trav_done(&at->t, false, "cannot start");
	else
		at->running = true;
}

/* A probe of the initiator's on a socket the method opened, come before
 * our own result (the path is not ours yet): echoed as main_recv does. */
static bool try_other(struct trav_try *t, int sock, const struct dg_ep *from, const uint8_t *buf,
		      size_t len)
{
	struct agent_try *at = t->done_arg;

	if (at->mine || !probe_echo(at->a->d, sock, t->id, NULL, from, buf, len))
		return false;
	at->a->cnt.probes_echoed++;
	return true;
}

/* A free try: one allocated before, or a new one; NULL when max_tries
 * are under way (or memory is short). */
static struct agent_try *try_slot(struct agent *a)
{
	for (int i = 0; i < a->ntries; i++)
		if (!a->tries[i]->used)
			return a->tries[i];
	if (a->ntries < a->cfg.max_tries && (a->tries[a->ntries] = calloc(1, sizeof(**a->tries))))
		return a->tries[a->ntries++];
	return NULL;
}

static const char *on_introduced(void *arg, struct rdvc *c, const struct trav_try *t,
				 const char *peer)
{
	struct agent *a = arg;
	struct agent_try *at = NULL;
	bool mine = false;

	if (t->role == TRAV_INITIATOR) {
		/* the rendezvous client matched it to a CONNECT of ours */
		if (!a->connecting || a->ctry || strcmp(peer, a->plan.peer) != 0 ||
		    t->m != a->plan.steps[a->step].m) {
			a->cnt.tries_refused++;
			return "not asked";
		}
		mine = true;
	} else if (!a->cfg.serve) {
		a->cnt.tries_refused++;
		return "not serving";
	}
	at = try_slot(a);
	if (!at) {
		a->cnt.tries_refused++;
		return "busy";
	}
	*at = (struct agent_try){.a = a, .used = true, .mine = mine, .t = *t};
	at->t.gateway = a->cfg.gateway;
	at->t.relay = a->ts;
	str_copy(at->peer, sizeof(at->peer), peer);
	at->t.done = try_done;
	at->t.done_arg = at;
	at->t.other = try_other;
	at->start_timer = sched_at(a->d->s, t->start, try_begin, at);
	if (mine) {
		a->ctry = at;
		a->asking = false;
	}
	return NULL;
}

/* --- the rendezvous client's news -------------------------------------- */

/* The peer refused a try this side accepted: it ends now, failed, rather
 * than at its deadline against nobody; a connect goes on with its next
 * step. */
static void on_cancelled(void *arg, struct rdvc *c, uint64_t try_id, const char *reason)
{
	struct agent *a = arg;

	for (int i = 0; i < a->ntries; i++) {
		struct agent_try *at = a->tries[i];

		if (!at->used || at->t.id != try_id || at->t.finished)
			continue;
		at->cancelled = true;
		snprintf(at->reason, sizeof(at->reason), "peer refused: %s", reason);
		a->cnt.tries_cancelled++;
		trav_done(&at->t, false, at->reason);
		return;
	}
}

static void on_registered(void *arg, struct rdvc *c)
{
	struct agent *a = arg;

	if (a->ops.ready)
		a->ops.ready(a->ops.arg, a);
	if (a->waiting_registration)
		connect_begin(a);
}

static void on_failed(void *arg, struct rdvc *c, const char *reason)
{
	struct agent *a = arg;

	if (a->connecting) {
		a->rep.ntried = 0;
		connect_finish(a, reason);
	}
	if (a->ops.failed)
		a->ops.failed(a->ops.arg, a, reason);
}

static void on_connect_failed(void *arg, struct rdvc *c, const char *peer, const char *reason)
{
	struct agent *a = arg;

	if (!a->connecting || !a->asking || strcmp(peer, a->plan.peer) != 0)
		return;
	/* the rendezvous cannot introduce this peer: no method will do */
	record_tried(a, false, ms_between(a->step_asked_at, dg_now(a->d)), reason);
	connect_finish(a, reason);
}

/* --- the main socket --------------------------------------------------- */

static void main_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		      natbed_time_t now)
{
	struct agent *a = arg;

	if (a->disc && disc_input(a->disc, sock, from, buf, len, now))
		return;
	if (rdvc_input(a->rdvc, from, buf, len, now))
		return;
	/* the paths in index order, less what path_input would refuse
	 * without a look (path_filter): with no PATH_ANY path, those from
	 * elsewhere are not even looked at */
	if (a->n_any_paths == 0) {
		for (uint16_t u = a->from_head[path_bucket(from)]; u; u = a->from_next[u - 1])
			if (dg_ep_eq(from, &a->path_from[u - 1]) &&
			    path_input(a->paths[u - 1], from, buf, len, now))
				return;
	} else {
		for (int i = 0; i < a->npaths; i++) {
			if (a->path_on_main[i] == PATH_NOT_MAIN ||
			    (a->path_on_main[i] == PATH_FROM && !dg_ep_eq(from, &a->path_from[i])))
				continue;
			if (path_input(a->paths[i], from, buf, len, now))
				return;
		}
	}
	for (int i = 0; i < a->ntries; i++) {
		struct agent_try *at = a->tries[i];

		if (!at->used || !at->start_called)
			continue;
		if (at->running && trav_input(&at->t, from, buf, len, now))
			return;
		/* the initiator may probe before the responder's own result */
		if (!at->mine && probe_echo(a->d, a->sock, at->t.id, NULL, from, buf, len)) {
			a->cnt.probes_echoed++;
			return;
		}
	}
	stray(a, buf, len);
}

/* Registers once nothing it waits for is under way: the discovery, the
 * first TURN allocation (bounded by AGENT_TURN_WAIT_MS). */
static void register_when_ready(struct agent *a)
{
	if (a->disc || a->turn_wait_timer || a->rdv_started)
		return;
	a->rdv_started = true;
	rdvc_start(a->rdvc);
}

/* --- the discovery ----------------------------------------------------- */

/* It ended: register what it measured (unknown where it could not). */
static void on_discovered(void *arg, const struct disc_result *r)
{
	struct agent *a = arg;
	struct disc *d = a->disc;

	struct natinfo ni = r->ni;

	ni.pcp = rdvc_self(a->rdvc)->nat.pcp; /* the gateway may have answered first */
	a->cfg.nat = ni;
	rdvc_set_nat(a->rdvc, &ni);
	if (a->ops.discovered)
		a->ops.discovered(a->ops.arg, a, r);
	a->disc = NULL;
	disc_free(d); /* r is d's: not used past here */
	register_when_ready(a);
}

/* RFC 5780 discovery on the main socket. 0, or -errno when it cannot
 * begin (the agent registers its NAT as configured). */
static int discover_begin(struct agent *a)
{
	struct disc_cfg dc = {.server = a->cfg.stun,
			      .sock = a->sock,
			      .local = a->local,
			      .test_timeout_ns = a->cfg.discover_test_ns,
			      .done = on_discovered,
			      .done_arg = a};
	int r;

	a->disc = disc_new(a->d, &dc);
	if (!a->disc) {
		log_err("discovery: cannot begin: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	r = disc_start(a->disc);
	if (r < 0) {
		log_err("discovery: cannot begin: %s", strerror(-r));
		disc_free(a->disc);
		a->disc = NULL;
	}
	return r;
}

/* --- what the agent learns at start: its relay, its gateway ----------- */

static void turn_wait_end(struct agent *a)
{
	if (!a->turn_wait_timer)
		return;
	sched_cancel(a->d->s, a->turn_wait_timer);
	a->turn_wait_timer = 0;
	register_when_ready(a);
}

static void turn_wait_fire(void *arg, natbed_time_t now)
{
	struct agent *a = arg;

	log_info("TURN server: no allocation after %d ms, registering without it",
		 AGENT_TURN_WAIT_MS);
	turn_wait_end(a);
}

/* The relayed address came or went: registered as the relay candidate. */
static void on_turn(void *arg, const struct dg_ep *relayed, const char *error)
{
	struct agent *a = arg;
	char r[DG_EP_STR], srv[DG_EP_STR];

	if (error)
		log_warn("TURN server %s: %s", dg_ep_str(&a->cfg.turn.server, srv), error);
	else
		log_info("relayed address %s on the TURN server %s", dg_ep_str(relayed, r),
			 dg_ep_str(&a->cfg.turn.server, srv));
	rdvc_set_cand(a->rdvc, relayed, &rdvc_self(a->rdvc)->nat);
	turn_wait_end(a);
}

/* The gateway answered: it grants mappings (natinfo.pcp, registered). */
static void on_pcp_probe(void *arg, const struct dg_ep *ext, uint32_t life, const char *by)
{
	struct agent *a = arg;
	struct natinfo ni = rdvc_self(a->rdvc)->nat;
	char gw[DG_EP_STR];

	log_info("port mapping: the gateway %s answers %s", dg_ep_str(&a->cfg.gateway, gw), by);
	ni.pcp = 1;
	rdvc_set_cand(a->rdvc, &rdvc_self(a->rdvc)->relay, &ni);
}

static void on_pcp_silent(void *arg, const char *reason)
{
	log_debug("port mapping: %s", reason);
}

static const struct pcpc_ops pcp_probe_ops = {on_pcp_probe, on_pcp_silent};

/* Starts what the agent learns at start: the discovery, the TURN
 * allocation, whether the gateway grants mappings. The rendezvous client
 * starts once the discovery ended and the allocation is there (or
 * AGENT_TURN_WAIT_MS passed); the gateway's answer may come later. */
static int agent_learn(struct agent *a)
{
	struct pcpc_cfg pc = {.gateway = a->cfg.gateway, .client = a->local.addr, .announce = 1};

	/* RFC 6887 §14.1: ANNOUNCE maps nothing, it only draws an answer */
	if (a->cfg.gateway.addr && !(a->pcp_probe = pcpc_new(a->d, &pc, &pcp_probe_ops, a)))
		return -ENOMEM;
	if (a->ts && !turnsock_relayed(a->ts).addr && !turnsock_error(a->ts)) {
		a->turn_wait_timer =
		    sched_at(a->d->s, dg_now(a->d) + AGENT_TURN_WAIT_MS * NATBED_NS_PER_MS,
			     turn_wait_fire, a);
		if (!a->turn_wait_timer)
			return -ENOMEM;
	}
	if (a->cfg.discover)
		discover_begin(a); /* when it cannot begin: the NAT as configured */
	register_when_ready(a);
	return 0;
}

int agent_new(const struct dgram *d, const struct agent_config *cfg, const struct agent_ops *ops,
	      struct agent **out)
{
	struct rdvc_config rc = {.rdv = cfg->rdv,
				 .stun = cfg->stun,
				 .nat = cfg->nat,
				 .txn = cfg->txn,
				 .find_method = cfg->find_method};
	struct rdvc_ops ro = {.registered = on_registered,
			      .failed = on_failed,
			      .introduced = on_introduced,
			      .cancelled = on_cancelled,
			      .connect_failed = on_connect_failed,
			      .looked_up = on_looked_up};
	struct agent *a;
	int r;

	if (!rdvmsg_name_ok(cfg->name, RDV_NAME_MAX))
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->d = d;
	a->cfg = *cfg;
	if (a->cfg.max_tries <= 0 || a->cfg.max_tries > AGENT_TRIES_MAX)
		a->cfg.max_tries = AGENT_TRIES_MAX;
	a->ops = *ops;
	if (cfg->turn.server.addr) {
		/* the allocation's own socket is d's; the agent's sockets and
		 * the relayed ones are the layer's */
		struct turnsock_ops to = {on_turn, a};

		a->ts = turnsock_new(d, &cfg->turn, &to);
		if (!a->ts) {
			free(a);
			return -ENOMEM;
		}
		a->d = turnsock_dgram(a->ts);
	}
	a->sock = dg_open(a->d, &cfg->bind, &a->local, main_recv, a);
	if (a->sock < 0) {
		r = a->sock;
		turnsock_free(a->ts);
		free(a);
		return r;
	}
	memcpy(rc.name, cfg->name, sizeof(rc.name));
	ro.arg = a;
	a->rdvc = rdvc_new(a->d, a->sock, &a->local, &rc, &ro);
	if (!a->rdvc) {
		agent_free(a);
		return -ENOMEM;
	}
	a->sweep_timer = sched_at(d->s, dg_now(d) + AGENT_SWEEP_S * NATBED_NS_PER_S, sweep, a);
	r = agent_learn(a);
	if (r < 0) {
		agent_free(a);
		return r;
	}
	*out = a;
	return 0;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	/* a successful try's path socket is a path's by now: closed there */
	for (int i = 0; i < a->ntries; i++) {
		if (a->tries[i]->used)
			try_release(a->tries[i]);
		free(a->tries[i]);
	}
	for (int i = 0; i < a->npaths; i++) {
		path_free(a->paths[i]);
		free(a->paths[i]);
	}
	disc_free(a->disc);
	if (a->sweep_timer)
		sched_cancel(a->d->s, a->sweep_timer);
	if (a->total_timer)
		sched_cancel(a->d->s, a->total_timer);
	if (a->turn_wait_timer)
		sched_cancel(a->d->s, a->turn_wait_timer);
	pcpc_free(a->pcp_probe);
	rdvc_free(a->rdvc);
	dg_close(a->d, a->sock);
	turnsock_free(a->ts); /* after every socket of its layer */
	free(a);
}

void agent_leave(struct agent *a)
{
	rdvc_leave(a->rdvc);
}

struct dg_ep agent_local(const struct agent *a)
{
	return a->local;
}

const struct trav_cand *agent_self(const struct agent *a)
{
	return rdvc_self(a->rdvc);
}

struct turnsock *agent_turn(const struct agent *a)
{
	return a->ts;
}

void agent_counters(const struct agent *a, struct agent_counters *out)
{
	*out = a->cnt;
}

const struct rdvc *agent_rdvc(const struct agent *a)
{
	return a->rdvc;
}

/* --- checkpoints ------------------------------------------------------- */

json_t *agent_config_ckpt_save(const struct agent_config *c, struct ckw *w)
{
	return json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:b,s:o,s:b,s:I,s:{s:o,s:s,s:s,s:I,s:I,s:I},"
			 "s:o,s:i}",
			 "name", c->name, "bind", dg_ep_ckpt_save(&c->bind, w), "rdv",
			 dg_ep_ckpt_save(&c->rdv, w), "stun", dg_ep_ckpt_save(&c->stun, w), "nat",
			 ckval_nat(&c->nat), "txn", rdvtxn_cfg_ckpt_save(&c->txn), "serve",
			 c->serve, "find_method", ckw_fn(w, (ckfn_ptr)c->find_method), "discover",
			 c->discover, "discover_test_ns", (json_int_t)c->discover_test_ns, "turn",
			 "server", dg_ep_ckpt_save(&c->turn.server, w), "user", c->turn.user,
			 "pass", c->turn.pass, "lifetime_s", (json_int_t)c->turn.lifetime_s,
			 "rto_ns", (json_int_t)c->turn.rto_ns, "tries", (json_int_t)c->turn.tries,
			 "gateway", dg_ep_ckpt_save(&c->gateway, w), "max_tries", c->max_tries);
}

static json_t *tried_save(const struct agent_tried *t, struct ckw *w)
{
	return json_pack("{s:o,s:b,s:b,s:f,s:s}", "m", ckw_ref(w, t->m), "success", t->success,
			 "skipped", t->skipped, "ms", t->ms, "reason", t->reason);
}

static json_t *tried_list(const struct agent_tried *t, int n, struct ckw *w)
{
	json_t *l = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(l, tried_save(&t[i], w));
	return l;
}

/* The plan: its steps, and the cascade's table, which is the caller's
 * (its owner declares it). */
json_t *agent_plan_ckpt_save(const struct agent_plan *p, struct ckw *w)
{
	json_t *steps = json_array();

	for (int i = 0; i < p->nsteps; i++)
		json_array_append_new(steps, json_pack("[oI]", ckw_ref(w, p->steps[i].m),
						       (json_int_t)p->steps[i].budget_ns));
	return json_pack("{s:s,s:o,s:I,s:i,s:[IIIo],s:b,s:o,s:I,s:i,s:[bI],s:o}", "peer", p->peer,
			 "steps", steps, "total_ns", (json_int_t)p->total_ns, "probes", p->probes,
			 "probe", (json_int_t)p->probe.count, (json_int_t)p->probe.interval_ns,
			 (json_int_t)p->probe.wait_ns, jsonck_u64(p->probe.try_id, true), "cascade",
			 p->cascade, "table", ckw_ref(w, p->table), "ntable", (json_int_t)p->ntable,
			 "priority", (int)p->priority, "limits", p->limits.no_relay,
			 (json_int_t)p->limits.budget_ns, "learn", ckw_ref(w, p->learn));
}

static json_t *report_save(const struct agent_report *r, struct ckw *w)
{
	const struct probe_result *pr = &r->probe;
	json_t *path = json_null();

	for (int i = 0; i < AGENT_PATH_KINDS; i++)
		if (r->path == path_kinds[i])
			path = json_string(path_kinds[i]);
	if (r->path && json_is_null(path))
		ckw_fail(w, "agent: rep.path: not a path kind");
	return json_pack(
	    "{s:s,s:o,s:b,s:f,s:[iiffff],s:o,s:o,s:o,s:o,s:s,s:b,s:[iib],s:o,s:o}", "peer", r->peer,
	    "m", ckw_ref(w, r->m), "success", r->success, "setup_ms", r->setup_ms, "probe",
	    pr->sent, pr->answered, pr->loss, pr->rtt_ms, pr->rtt_min_ms, pr->rtt_max_ms, "local",
	    dg_ep_ckpt_save(&r->local, w), "remote", dg_ep_ckpt_save(&r->remote, w), "path", path,
	    "tried", tried_list(r->tried, r->ntried, w), "reason", r->reason, "pair_known",
	    r->pair_known, "pair", (int)r->pair.self, (int)r->pair.peer, r->pair.same_site,
	    "self_cand", ckw_ref(w, r->pair.self_cand), "peer_cand", ckw_ref(w, r->pair.peer_cand));
}

/* A try slot no try holds is cleared before its next use: null. Its
 * reason buffer is declared, for t.reason may point into it. */
static json_t *try_save(const struct agent_try *at, struct ckw *w)
{
	if (!at->used)
		return json_null();
	return json_pack("{s:o,s:b,s:b,s:b,s:b,s:b,s:o,s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "id",
			 ckw_obj(w, at), "mine", at->mine, "cut", at->cut, "cancelled",
			 at->cancelled, "start_called", at->start_called, "running", at->running,
			 "t", trav_try_ckpt_save(&at->t, w), "peer", at->peer, "reason", at->reason,
			 "reason_id", ckw_obj(w, at->reason), "start_timer",
			 ckw_timer(w, at->start_timer), "guard_timer",
			 ckw_timer(w, at->guard_timer), "after_timer",
			 ckw_timer(w, at->after_timer), "stop_timer", ckw_timer(w, at->stop_timer));
}

/* Likewise a path slot not in use (path_add clears it). */
static json_t *path_save(const struct agent_path *p, struct ckw *w)
{
	if (!p->used)
		return json_null();
	return json_pack("{s:o,s:i,s:o,s:o,s:o,s:I,s:o}", "id", ckw_obj(w, p), "sock", p->sock,
			 "local", dg_ep_ckpt_save(&p->local, w), "remote",
			 dg_ep_ckpt_save(&p->remote, w), "try_id", jsonck_u64(p->try_id, true),
			 "last_used", (json_int_t)p->last_used, "probe",
			 p->probe ? probe_ckpt_save(p->probe, w) : json_null());
}

json_t *agent_ckpt_save(const struct agent *a, struct ckw *w)
{
	json_t *tries = json_array(), *paths = json_array(), *j;

	for (int i = 0; i < a->ntries; i++)
		json_array_append_new(tries, try_save(a->tries[i], w));
	for (int i = 0; i < a->npaths; i++)
		json_array_append_new(paths, path_save(a->paths[i], w));
	j = json_pack(
	    "{s:o,s:o,s:o,s:o,s:o,s:o,s:{s:o,s:o,s:o,s:o,s:o},s:i,s:o,s:o,s:o,s:b}", "id",
	    ckw_obj(w, a), "d", ckw_ref(w, a->d), "cfg", agent_config_ckpt_save(&a->cfg, w), "ts",
	    a->ts ? turnsock_ckpt_save(a->ts, w) : json_null(), "turn_wait_timer",
	    ckw_timer(w, a->turn_wait_timer), "pcp_probe",
	    a->pcp_probe ? pcpc_ckpt_save(a->pcp_probe, w) : json_null(), "ops", "ready",
	    ckw_fn(w, (ckfn_ptr)a->ops.ready), "failed", ckw_fn(w, (ckfn_ptr)a->ops.failed),
	    "report", ckw_fn(w, (ckfn_ptr)a->ops.report), "discovered",
	    ckw_fn(w, (ckfn_ptr)a->ops.discovered), "arg", ckw_ref(w, a->ops.arg), "sock", a->sock,
	    "local", dg_ep_ckpt_save(&a->local, w), "rdvc", rdvc_ckpt_save(a->rdvc, w), "disc",
	    a->disc ? disc_ckpt_save(a->disc, w) : json_null(), "rdv_started", a->rdv_started);
	if (!j) {
		json_decref(tries);
		json_decref(paths);
		return NULL;
	}
	json_object_set_new(j, "tries", tries);
	json_object_set_new(j, "paths", paths);
	json_object_set_new(j, "n_any_paths", json_integer(a->n_any_paths));
	json_object_set_new(j, "sweep_timer", ckw_timer(w, a->sweep_timer));
	json_object_set_new(
	    j, "connect",
	    json_pack("{s:b,s:b,s:b,s:b,s:o,s:i,s:o,s:I,s:I,s:I,s:o,s:o,s:o,s:o}", "connecting",
		      a->connecting, "waiting_registration", a->waiting_registration, "looking_up",
		      a->looking_up, "asking", a->asking, "plan", agent_plan_ckpt_save(&a->plan, w),
		      "step", a->step, "skipped", tried_list(a->skipped, a->nskipped, w),
		      "asked_at", (json_int_t)a->asked_at, "step_asked_at",
		      (json_int_t)a->step_asked_at, "total_deadline", (json_int_t)a->total_deadline,
		      "total_timer", ckw_timer(w, a->total_timer), "ctry", ckw_ref(w, a->ctry),
		      "cpath", ckw_ref(w, a->cpath), "rep", report_save(&a->rep, w)));
	json_object_set_new(j, "cnt", ckw_bytes(w, &a->cnt, sizeof(a->cnt)));
	return j;
}

/* c as o says (an agent's "cfg"), marking g bad on a problem. */
static void cfg_read(struct ckget *g, const json_t *o, struct agent_config *c)
{
	struct ckget cg = {g->r, "agent.cfg", o, false};
	struct ckget tg = {g->r, "agent.cfg.turn", json_object_get(cg.o, "turn"), false};

	ckget_str(&cg, "name", c->name, sizeof(c->name));
	ckget_ep(&cg, "bind", &c->bind);
	ckget_ep(&cg, "rdv", &c->rdv);
	ckget_ep(&cg, "stun", &c->stun);
	ckval_get_nat(&cg, "nat", &c->nat);
	rdvtxn_cfg_ckpt_get(&cg, "txn", &c->txn);
	c->serve = ckget_bool(&cg, "serve");
	c->find_method = (const struct method *(*)(const char *))ckget_fn(&cg, "find_method");
	c->discover = ckget_bool(&cg, "discover");
	c->discover_test_ns = ckget_time(&cg, "discover_test_ns");
	ckget_ep(&tg, "server", &c->turn.server);
	ckget_str(&tg, "user", c->turn.user, sizeof(c->turn.user));
	ckget_str(&tg, "pass", c->turn.pass, sizeof(c->turn.pass));
	c->turn.lifetime_s = (uint32_t)ckget_int(&tg, "lifetime_s", 0, UINT32_MAX);
	c->turn.rto_ns = ckget_time(&tg, "rto_ns");
	c->turn.tries = (unsigned)ckget_int(&tg, "tries", 0, UINT32_MAX);
	ckget_ep(&cg, "gateway", &c->gateway);
	c->max_tries = (int)ckget_int(&cg, "max_tries", 0, AGENT_TRIES_MAX); /* 0: the most */
	g->bad |= cg.bad || tg.bad;
}

/* n agent_tried of list j into t[]; returns n, or 0 marked bad. */
static int tried_load(struct ckget *g, const char *key, struct agent_tried *t)
{
	const json_t *l = ckget_get(g, key), *e;
	size_t i;

	if (l && (!json_is_array(l) || json_array_size(l) > AGENT_PLAN_MAX)) {
		ckget_fail(g, key, "not a list of tries");
		return 0;
	}
	json_array_foreach(l, i, e)
	{
		struct ckget tg = {g->r, "agent.tried", e, false};

		ckget_ref(&tg, "m", &t[i].m);
		t[i].success = ckget_bool(&tg, "success");
		t[i].skipped = ckget_bool(&tg, "skipped");
		t[i].ms = ckget_real(&tg, "ms");
		ckget_str(&tg, "reason", t[i].reason, sizeof(t[i].reason));
		g->bad |= tg.bad;
	}
	return l ? (int)json_array_size(l) : 0;
}

/* p as o says (an agent's "plan"), marking g bad on a problem. */
static void plan_read(struct ckget *g, const json_t *o, struct agent_plan *p)
{
	struct ckget pg = {g->r, "agent.plan", o, false};
	const json_t *steps = ckget_get(&pg, "steps"), *e;
	json_int_t pc[3] = {0}, budget = 0;
	int no_relay = 0;
	json_t *m = NULL, *try_id = NULL;
	size_t i;

	ckget_str(&pg, "peer", p->peer, sizeof(p->peer));
	if (steps && (!json_is_array(steps) || json_array_size(steps) > AGENT_PLAN_MAX))
		ckget_fail(&pg, "steps", "not a list of steps");
	else
		json_array_foreach(steps, i, e)
		{
			if (json_unpack((json_t *)e, "[oI]", &m, &p->steps[i].budget_ns) < 0 ||
			    ckr_ref(g->r, m, &p->steps[i].m) < 0)
				ckget_fail(&pg, "steps", "not [method, budget_ns]");
		}
	p->nsteps = json_is_array(steps) ? (int)json_array_size(steps) : 0;
	p->total_ns = ckget_time(&pg, "total_ns");
	p->probes = (int)ckget_int(&pg, "probes", 0, PROBE_MAX);
	if (json_unpack((json_t *)json_object_get(pg.o, "probe"), "[IIIo]", &pc[0], &pc[1], &pc[2],
			&try_id) < 0 ||
	    jsonck_u64_read(try_id, true, &p->probe.try_id) < 0 || pc[0] < 0 || pc[0] > PROBE_MAX)
		ckget_fail(&pg, "probe", "not [count, interval_ns, wait_ns, try_id]");
	p->probe.count = (int)pc[0];
	p->probe.interval_ns = pc[1];
	p->probe.wait_ns = pc[2];
	p->cascade = ckget_bool(&pg, "cascade");
	ckget_ref(&pg, "table", &p->table);
	p->ntable = (size_t)ckget_int(&pg, "ntable", 0, AGENT_PLAN_MAX);
	p->priority = (enum sel_priority)ckget_int(&pg, "priority", 0, SEL_PRIORITY_COUNT - 1);
	if (json_unpack((json_t *)json_object_get(pg.o, "limits"), "[bI]", &no_relay, &budget) < 0)
		ckget_fail(&pg, "limits", "not [no_relay, budget_ns]");
	p->limits = (struct sel_limits){no_relay != 0, budget};
	ckget_ref(&pg, "learn", &p->learn);
	g->bad |= pg.bad;
}

int agent_config_ckpt_fill(struct agent_config *c, const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "agent", j, false};

	cfg_read(&g, j, c);
	return g.bad ? -1 : 0;
}

int agent_plan_ckpt_fill(struct agent_plan *p, const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "agent", j, false};

	plan_read(&g, j, p);
	return g.bad ? -1 : 0;
}

static void report_load(struct ckget *g, struct agent_report *r)
{
	struct ckget rg = {g->r, "agent.rep", ckget_get(g, "rep"), false};
	struct probe_result *pr = &r->probe;
	const json_t *path;
	int self = 0, peer = 0, same = 0;

	ckget_str(&rg, "peer", r->peer, sizeof(r->peer));
	ckget_ref(&rg, "m", &r->m);
	r->success = ckget_bool(&rg, "success");
	r->setup_ms = ckget_real(&rg, "setup_ms");
	if (json_unpack((json_t *)json_object_get(rg.o, "probe"), "[iiffff]", &pr->sent,
			&pr->answered, &pr->loss, &pr->rtt_ms, &pr->rtt_min_ms,
			&pr->rtt_max_ms) < 0)
		ckget_fail(&rg, "probe", "not a probe result");
	ckget_ep(&rg, "local", &r->local);
	ckget_ep(&rg, "remote", &r->remote);
	path = ckget_get(&rg, "path");
	for (int i = 0; json_is_string(path) && i < AGENT_PATH_KINDS; i++)
		if (strcmp(json_string_value(path), path_kinds[i]) == 0)
			r->path = path_kinds[i];
	if (path && !json_is_null(path) && !r->path)
		ckget_fail(&rg, "path", "not direct, relay or none");
	r->ntried = tried_load(&rg, "tried", r->tried);
	ckget_str(&rg, "reason", r->reason, sizeof(r->reason));
	r->pair_known = ckget_bool(&rg, "pair_known");
	if (json_unpack((json_t *)json_object_get(rg.o, "pair"), "[iib]", &self, &peer, &same) <
		0 ||
	    self < 0 || self >= NI_CLASS_COUNT || peer < 0 || peer >= NI_CLASS_COUNT)
		ckget_fail(&rg, "pair", "not [class, class, same_site]");
	r->pair.self = (enum ni_class)self;
	r->pair.peer = (enum ni_class)peer;
	r->pair.same_site = same;
	ckget_ref(&rg, "self_cand", &r->pair.self_cand);
	ckget_ref(&rg, "peer_cand", &r->pair.peer_cand);
	g->bad |= rg.bad;
}

static void connect_load(struct ckget *g, struct agent *a)
{
	struct ckget cg = {g->r, "agent.connect", ckget_get(g, "connect"), false};

	a->connecting = ckget_bool(&cg, "connecting");
	a->waiting_registration = ckget_bool(&cg, "waiting_registration");
	a->looking_up = ckget_bool(&cg, "looking_up");
	a->asking = ckget_bool(&cg, "asking");
	plan_read(&cg, ckget_get(&cg, "plan"), &a->plan);
	a->step = (int)ckget_int(&cg, "step", 0, AGENT_PLAN_MAX);
	a->nskipped = tried_load(&cg, "skipped", a->skipped);
	a->asked_at = ckget_time(&cg, "asked_at");
	a->step_asked_at = ckget_time(&cg, "step_asked_at");
	a->total_deadline = ckget_time(&cg, "total_deadline");
	ckget_timer(&cg, "total_timer", &a->total_timer);
	ckget_ref(&cg, "ctry", &a->ctry);
	ckget_ref(&cg, "cpath", &a->cpath);
	report_load(&cg, &a->rep);
	g->bad |= cg.bad;
}

static struct agent_try *try_load(struct ckget *g, struct agent *a, const json_t *j)
{
	struct ckget tg = {g->r, "agent.try", j, false};
	struct agent_try *at = calloc(1, sizeof(*at));

	if (!at) {
		ckget_fail(g, "tries", "out of memory");
		return NULL;
	}
	at->a = a;
	if (json_is_null(j))
		return at;
	at->used = true;
	ckget_obj(&tg, "id", at);
	at->mine = ckget_bool(&tg, "mine");
	at->cut = ckget_bool(&tg, "cut");
	at->cancelled = ckget_bool(&tg, "cancelled");
	at->start_called = ckget_bool(&tg, "start_called");
	at->running = ckget_bool(&tg, "running");
	if (trav_try_ckpt_fill(&at->t, ckget_get(&tg, "t"), g->r) < 0)
		tg.bad = true;
	ckget_str(&tg, "peer", at->peer, sizeof(at->peer));
	ckget_str(&tg, "reason", at->reason, sizeof(at->reason));
	ckget_obj(&tg, "reason_id", at->reason);
	ckget_timer(&tg, "start_timer", &at->start_timer);
	ckget_timer(&tg, "guard_timer", &at->guard_timer);
	ckget_timer(&tg, "after_timer", &at->after_timer);
	ckget_timer(&tg, "stop_timer", &at->stop_timer);
	g->bad |= tg.bad;
	return at;
}

static struct agent_path *path_load(struct ckget *g, struct agent *a, int index, const json_t *j)
{
	struct ckget pg = {g->r, "agent.path", j, false};
	struct agent_path *p = calloc(1, sizeof(*p));
	const json_t *probe;

	if (!p) {
		ckget_fail(g, "paths", "out of memory");
		return NULL;
	}
	p->a = a;
	p->index = index;
	if (json_is_null(j))
		return p;
	p->used = true;
	ckget_obj(&pg, "id", p);
	p->sock = (int)ckget_int(&pg, "sock", 0, INT32_MAX);
	ckget_ep(&pg, "local", &p->local);
	ckget_ep(&pg, "remote", &p->remote);
	p->try_id = ckget_u64(&pg, "try_id");
	p->last_used = ckget_time(&pg, "last_used");
	probe = ckget_get(&pg, "probe");
	if (probe && !json_is_null(probe) && !(p->probe = probe_ckpt_load(probe, g->r)))
		pg.bad = true;
	g->bad |= pg.bad;
	return p;
}

/* The owned children and slots, as agent_ckpt_load builds them. */
static void tries_paths_load(struct ckget *g, struct agent *a)
{
	const json_t *tries = ckget_get(g, "tries"), *paths = ckget_get(g, "paths");

	if (!json_is_array(tries) || json_array_size(tries) > (size_t)a->cfg.max_tries ||
	    !json_is_array(paths) || json_array_size(paths) > AGENT_PATHS_MAX) {
		ckget_fail(g, "tries", "tries or paths: not lists that fit");
		return;
	}
	for (size_t i = 0; i < json_array_size(tries) && !g->bad; i++)
		if ((a->tries[i] = try_load(g, a, json_array_get(tries, i))))
			a->ntries++;
	for (size_t i = 0; i < json_array_size(paths) && !g->bad; i++)
		if ((a->paths[i] = path_load(g, a, (int)i, json_array_get(paths, i))))
			a->npaths++;
	/* what main_recv looks at follows from the paths */
	for (int i = 0; i < a->npaths; i++)
		path_filter(a->paths[i]);
	if (!g->bad && ckget_int(g, "n_any_paths", 0, AGENT_PATHS_MAX) != a->n_any_paths)
		ckget_fail(g, "n_any_paths", "not what the paths say");
}

/* Frees what agent_ckpt_load built of a before it failed: nothing of it
 * ran, was opened or scheduled, and the reader fills none of it now (a
 * method's state, the TURN layer, the discovery and the gateway's probe
 * are left: a failed restore ends the process). */
static void agent_unload(struct agent *a)
{
	for (int i = 0; i < a->ntries; i++)
		free(a->tries[i]);
	for (int i = 0; i < a->npaths; i++) {
		probe_free(a->paths[i]->probe); /* no timer yet: nothing to cancel */
		free(a->paths[i]);
	}
	free(a->rdvc); /* it owns no memory of its own */
	free(a);
}

struct agent *agent_ckpt_load(const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "agent", j, false}, og = {r, "agent.ops", NULL, false};
	const json_t *child;
	struct agent *a = calloc(1, sizeof(*a));

	if (!a) {
		ckr_fail(r, "agent: out of memory");
		return NULL;
	}
	ckget_obj(&g, "id", a);
	ckget_ref(&g, "d", &a->d);
	cfg_read(&g, ckget_get(&g, "cfg"), &a->cfg);
	child = ckget_get(&g, "ts");
	if (child && !json_is_null(child) && !(a->ts = turnsock_ckpt_load(child, r)))
		g.bad = true;
	ckget_timer(&g, "turn_wait_timer", &a->turn_wait_timer);
	child = ckget_get(&g, "pcp_probe");
	if (child && !json_is_null(child) && !(a->pcp_probe = pcpc_ckpt_load(child, r)))
		g.bad = true;
	og.o = ckget_get(&g, "ops");
	a->ops.ready = (void (*)(void *, struct agent *))ckget_fn(&og, "ready");
	a->ops.failed = (void (*)(void *, struct agent *, const char *))ckget_fn(&og, "failed");
	a->ops.report =
	    (void (*)(void *, struct agent *, const struct agent_report *))ckget_fn(&og, "report");
	a->ops.discovered = (void (*)(void *, struct agent *, const struct disc_result *))ckget_fn(
	    &og, "discovered");
	ckget_ref(&og, "arg", &a->ops.arg);
	a->sock = (int)ckget_int(&g, "sock", 0, INT32_MAX);
	ckget_ep(&g, "local", &a->local);
	if (!(a->rdvc = rdvc_ckpt_load(ckget_get(&g, "rdvc"), r)))
		g.bad = true;
	child = ckget_get(&g, "disc");
	if (child && !json_is_null(child) && !(a->disc = disc_ckpt_load(child, r)))
		g.bad = true;
	a->rdv_started = ckget_bool(&g, "rdv_started");
	tries_paths_load(&g, a);
	ckget_timer(&g, "sweep_timer", &a->sweep_timer);
	connect_load(&g, a);
	ckget_bytes(&g, "cnt", &a->cnt, sizeof(a->cnt));
	if (g.bad || og.bad) {
		agent_unload(a);
		return NULL;
	}
	return a;
}

static const struct ckfn agent_fns[] = {
    CKFN(main_recv),	     CKFN(path_recv),	  CKFN(sweep),
    CKFN(total_fire),	     CKFN(try_stop_fire), CKFN(try_after),
    CKFN(try_guard),	     CKFN(try_begin),	  CKFN(try_done),
    CKFN(try_other),	     CKFN(probe_done),	  CKFN(turn_wait_fire),
    CKFN(on_discovered),     CKFN(on_turn),	  CKFN(on_registered),
    CKFN(on_failed),	     CKFN(on_introduced), CKFN(on_cancelled),
    CKFN(on_connect_failed), CKFN(on_looked_up),  CKFN(on_pcp_probe),
    CKFN(on_pcp_silent),
};
static const struct ckvar agent_vars[] = {CKVAR(pcp_probe_ops)};
const struct ckfns agent_ckfns = CKFNS_VARS(agent, agent_fns, agent_vars);
