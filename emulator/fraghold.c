/* Fragments held until their first one passed a NAT (fraghold.h). A small
 * array in arrival order: a slot's age is its place, the oldest is slot 0. */
#include "fraghold.h"

#include <stdlib.h>
#include <string.h>

struct fraghold_slot {
	struct pkt *p;
	int nat;
	bool out;
	natbed_time_t expires;
};

struct fraghold {
	struct fraghold_slot slot[FRAGHOLD_MAX];
	size_t n; /* slot[0..n) in use, oldest first */
	/* fraghold_on_expiry(): the sweep */
	struct sched *s;
	fraghold_expired_fn expired;
	void *ctx;
	uint64_t sweep_ev; /* 0 when none is pending */
};

struct fraghold *fraghold_new(void)
{
	return calloc(1, sizeof(struct fraghold));
}

void fraghold_free(struct fraghold *h)
{
	if (h && h->sweep_ev)
		sched_cancel(h->s, h->sweep_ev);
	free(h);
}

void fraghold_on_expiry(struct fraghold *h, struct sched *s, fraghold_expired_fn expired, void *ctx)
{
	h->s = s;
	h->expired = expired;
	h->ctx = ctx;
}

/* Hands over every fragment whose time ran out, then sleeps until the
 * next expiry. */
static void fraghold_sweep(void *arg, natbed_time_t now)
{
	struct fraghold *h = arg;
	natbed_time_t next;
	struct pkt *p;
	int nat;

	h->sweep_ev = 0;
	while ((p = fraghold_expired(h, now, &nat)) != NULL)
		h->expired(h->ctx, p, nat);
	next = fraghold_next_expiry(h);
	if (next >= 0)
		h->sweep_ev = sched_at(h->s, next, fraghold_sweep, h);
}

/* Removes slot i, keeping the rest in arrival order. */
static struct pkt *fraghold_remove(struct fraghold *h, size_t i)
{
	struct pkt *p = h->slot[i].p;

	memmove(&h->slot[i], &h->slot[i + 1], (h->n - i - 1) * sizeof(h->slot[0]));
	h->n--;
	return p;
}

struct pkt *fraghold_put(struct fraghold *h, struct pkt *p, int nat, bool out,
			 natbed_time_t expires)
{
	struct pkt *old = NULL;

	if (h->n == FRAGHOLD_MAX)
		old = fraghold_remove(h, 0);
	h->slot[h->n++] = (struct fraghold_slot){p, nat, out, expires};
	if (h->s && !h->sweep_ev)
		h->sweep_ev = sched_at(h->s, expires, fraghold_sweep, h);
	return old;
}

size_t fraghold_take(struct fraghold *h, int nat, struct fraghold_entry *e, size_t max)
{
	size_t i = 0, k = 0;

	while (i < h->n && k < max) {
		if (h->slot[i].nat != nat) {
			i++;
			continue;
		}
		e[k].out = h->slot[i].out;
		e[k].expires = h->slot[i].expires;
		e[k++].p = fraghold_remove(h, i);
	}
	return k;
}

struct pkt *fraghold_expired(struct fraghold *h, natbed_time_t now, int *nat)
{
	size_t i;

	for (i = 0; i < h->n; i++) {
		if (h->slot[i].expires <= now) {
			*nat = h->slot[i].nat;
			return fraghold_remove(h, i);
		}
	}
	return NULL;
}

natbed_time_t fraghold_next_expiry(const struct fraghold *h)
{
	natbed_time_t t = -1;
	size_t i;

	for (i = 0; i < h->n; i++)
		if (t < 0 || h->slot[i].expires < t)
			t = h->slot[i].expires;
	return t;
}

size_t fraghold_count(const struct fraghold *h)
{
	return h->n;
}
