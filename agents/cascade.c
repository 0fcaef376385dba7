#include "cascade.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A try shorter than this is not worth starting with what is left. */
#define CASCADE_MIN_TRY_NS (100 * NATBED_NS_PER_MS)

struct cascade {
	struct sched *s;
	const struct method *order[CASCADE_MAX];
	size_t n, next;
	natbed_time_t end; /* the total budget ends */
	natbed_time_t try_start;
	const struct cascade_ops *ops;
	void *arg;
	struct cascade_try tries[CASCADE_MAX];
	size_t n_tries;
	const struct method *winner;
	char reason[CASCADE_REASON_MAX];
	bool running, finished;
	uint64_t done_ev;
};

struct cascade *cascade_new(struct sched *s, const struct method *const *order, size_t n,
			    natbed_time_t budget_ns, const struct cascade_ops *ops, void *arg)
{
	struct cascade *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->s = s;
	c->n = n < CASCADE_MAX ? n : CASCADE_MAX;
	memcpy(c->order, order, c->n * sizeof(*order));
	c->end = sched_now(s) + budget_ns;
	c->ops = ops;
	c->arg = arg;
	return c;
}

void cascade_free(struct cascade *c)
{
	if (!c)
		return;
	sched_cancel(c->s, c->done_ev);
	free(c);
}

static void cascade_done_cb(void *arg, natbed_time_t now)
{
	struct cascade *c = arg;

	c->done_ev = 0;
	if (c->ops->done)
		c->ops->done(c->arg, c);
}

/* Ends the cascade: done() runs from the scheduler, never inside a call. */
static void cascade_finish(struct cascade *c, const char *reason)
{
	c->finished = true;
	if (reason)
		snprintf(c->reason, sizeof(c->reason), "%s", reason);
	c->done_ev = sched_after(c->s, 0, cascade_done_cb, c);
}

/* Starts the next try that fits; ends the cascade when none does. */
static void cascade_next(struct cascade *c)
{
	natbed_time_t now = sched_now(c->s), deadline;
	const struct method *m;
	int rc;

	while (c->next < c->n) {
		if (c->end - now < CASCADE_MIN_TRY_NS) {
			cascade_finish(c, "budget spent");
			return;
		}
		m = c->order[c->next++];
		deadline = now + m->spec.budget_ns;
		if (deadline > c->end)
			deadline = c->end;
		c->try_start = now;
		c->running = true;
		rc = c->ops->run(c->arg, m, deadline);
		if (rc == 0)
			return;
		c->running = false;
		/* it could not start: a failed try, named */
		c->tries[c->n_tries].m = m;
		snprintf(c->tries[c->n_tries].reason, CASCADE_REASON_MAX, "could not start (%d)",
			 rc);
		snprintf(c->reason, sizeof(c->reason), "%s", c->tries[c->n_tries].reason);
		c->n_tries++;
	}
	cascade_finish(c, c->n_tries ? NULL : "no method to try");
}

int cascade_start(struct cascade *c)
{
	cascade_next(c);
	return c->n_tries == 0 && c->finished ? -1 : 0;
}

void cascade_tried(struct cascade *c, bool success, const char *reason)
{
	struct cascade_try *t;

	if (!c->running || c->finished)
		return;
	c->running = false;
	t = &c->tries[c->n_tries++];
	t->m = c->order[c->next - 1];
	t->success = success;
	t->ms = (sched_now(c->s) - c->try_start) / NATBED_NS_PER_MS;
	snprintf(t->reason, sizeof(t->reason), "%s", success ? "" : (reason ? reason : "failed"));
	if (success) {
		c->winner = t->m;
		cascade_finish(c, NULL);
		return;
	}
	snprintf(c->reason, sizeof(c->reason), "%s", t->reason);
	cascade_next(c);
}

const struct method *cascade_winner(const struct cascade *c)
{
	return c->winner;
}

const char *cascade_reason(const struct cascade *c)
{
	return c->winner ? NULL : c->reason;
}

const struct cascade_try *cascade_tries(const struct cascade *c, size_t *n)
{
	*n = c->n_tries;
	return c->tries;
}
