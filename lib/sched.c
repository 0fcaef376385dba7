/* natbed scheduler: three 4-ary min-heaps and a FIFO of events keyed
 * (due, sequence).
 *
 * Layout, chosen for the emulator's hot path (one event per forwarded
 * packet):
 *  - slots: a pool of event records (callback, argument) recycled through a
 *    free list, so scheduling does not call malloc once the pool has grown;
 *  - heaps: arrays of (due, seq, slot) entries; each slot knows its heap
 *    and its position there, so cancel removes from the middle in
 *    O(log n).
 * Events go to one of three heaps by how far ahead they are due when
 * scheduled: packets crossing links (ms), retransmissions and agents'
 * steps (s), long timers (a NAT mapping's expiry, minutes). The next event
 * is the earliest of the roots, so the order is exactly that of one heap;
 * but a packet's event is pushed and popped through a heap of a few
 * entries rather than one under thousands of timers, and a retransmission
 * through a few dozen. (A simulation of topologies/sim-scale.yaml: 5 events
 * pending in the first heap on average, 2,200 in the last.)
 * Events due at the time they are scheduled (a datagram sent, a step run
 * next: a quarter of a simulation's) go to a FIFO instead: due times
 * never decrease along it and sequences grow, so its head is its earliest
 * and it takes part in the choice of the next event as a fourth root.
 * A cancelled event stays in the FIFO, its slot marked, until it reaches
 * the head, where it is dropped.
 * Which queue holds the next event is kept (s->first), found again only
 * when a head leaves: the simulation asks for the next due time between
 * instants and the link steps before each event they could skip.
 * An id is (slot generation << 32 | slot index): a stale id (the event ran
 * or was cancelled, and the slot was reused) never matches.
 */
#include "natbed/sched.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define SCHED_FREE	 UINT32_MAX /* heap_pos of a slot in the free list */
#define SCHED_SLOTS_MAX	 (UINT32_MAX - 1)
#define SCHED_SLOTS_INIT 64
/* Events one libevent wake-up runs before it yields to packet I/O. */

/* The heaps, by how far ahead an event is due when scheduled: within
 * SCHED_NEAR_NS (longer than a link's delay), within SCHED_MID_NS (longer
 * than a retransmission's timeout), or later (shorter than a mapping's). */
#define SCHED_NEAR_NS (100 * NATBED_NS_PER_MS)
#define SCHED_MID_NS  (10 * NATBED_NS_PER_S)
enum { SCHED_NEAR, SCHED_MID, SCHED_FAR, SCHED_HEAPS, SCHED_FIFO = SCHED_HEAPS };

struct sched_slot {
	sched_fn fn;
	void *arg;
	uint32_t heap_pos; /* SCHED_FREE when the slot is free */
	uint32_t gen;	   /* bumped each time the slot is freed; never 0 */
	uint32_t next_free;
	uint32_t heap; /* SCHED_NEAR, SCHED_MID, SCHED_FAR or SCHED_FIFO, while pending */
};

struct sched_entry {
	natbed_time_t due;
	uint64_t seq;
	uint32_t slot;
};

struct sched_heap {
	struct sched_entry *e; /* capacity: the slot pool's */
	uint32_t n;
};

/* Events due when scheduled, in order: e[head] to e[tail - 1]. */
struct sched_fifo {
	struct sched_entry *e; /* capacity: the slot pool's */
	uint32_t head, tail;
	uint32_t cancelled; /* of them, cancelled (their slot's fn is NULL) */
};

struct sched {
	struct natbed_clock clk;
	struct clock_virtual *vc;
	/* vc when clk reads it (sched_new's contract): read directly, not
	 * through clk's function, on every schedule and event */
	const struct clock_virtual *vc_read;
	struct sched_slot *slots;
	uint32_t n_slots; /* slots ever created (all < cap_slots) */
	uint32_t cap_slots;
	uint32_t free_head; /* SCHED_FREE when the free list is empty */
	struct sched_heap heaps[SCHED_HEAPS];
	struct sched_fifo fifo;
	int first; /* the queue whose head is the next event, -1 if none */
	uint64_t seq;
	/* Real-time driver (sched_attach). */
	struct event *timer;
	int tfd;		 /* timerfd behind timer, -1 until sched_attach() */
	natbed_time_t armed_due; /* -1 when the timer is not armed */
};

struct sched *sched_new(struct natbed_clock clk, struct clock_virtual *vc)
{
	struct sched *s = calloc(1, sizeof(*s));
	int k;

	if (!s)
		return NULL;
	s->clk = clk;
	s->vc = vc;
	if (vc && clk.ctx == vc && clk.now == clock_virtual_clock(vc).now)
		s->vc_read = vc;
	s->free_head = SCHED_FREE;
	s->first = -1;
	s->armed_due = -1;
	s->tfd = -1;
	s->slots = calloc(SCHED_SLOTS_INIT, sizeof(*s->slots));
	s->fifo.e = calloc(SCHED_SLOTS_INIT, sizeof(struct sched_entry));
	for (k = 0; k < SCHED_HEAPS; k++)
		if (!(s->heaps[k].e = calloc(SCHED_SLOTS_INIT, sizeof(struct sched_entry)))) {
			sched_free(s);
			return NULL;
		}
	if (!s->slots || !s->fifo.e) {
		sched_free(s);
		return NULL;
	}
	s->cap_slots = SCHED_SLOTS_INIT;
	return s;
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	if (s->timer)
		event_free(s->timer);
	if (s->tfd >= 0)
		close(s->tfd);
	for (int k = 0; k < SCHED_HEAPS; k++)
		free(s->heaps[k].e);
	free(s->fifo.e);
	free(s->slots);
	free(s);
}

/* The time now: the virtual clock's, or clk's. */
static inline natbed_time_t sched_clock(const struct sched *s)
{
	return s->vc_read ? s->vc_read->now_ns : clock_now(&s->clk);
}

natbed_time_t sched_now(const struct sched *s)
{
	return sched_clock(s);
}

size_t sched_pending(const struct sched *s)
{
	return (size_t)s->heaps[SCHED_NEAR].n + s->heaps[SCHED_MID].n + s->heaps[SCHED_FAR].n +
	       (s->fifo.tail - s->fifo.head - s->fifo.cancelled);
}

/* --- the heaps ---------------------------------------------------------- */

/* A 4-ary heap: half the depth of a binary one, and a node's children side
 * by side in memory. A simulation keeps thousands of timers (every NAT
 * mapping's expiry), and each event pops the root. */
#define SCHED_ARITY	  4
#define SCHED_PARENT(pos) (((pos)-1) / SCHED_ARITY)

/* a before b: earlier due time, then earlier sequence (FIFO on ties). */
static bool sched_before(const struct sched_entry *a, const struct sched_entry *b)
{
	if (a->due != b->due)
		return a->due < b->due;
	return a->seq < b->seq;
}

static void sched_heap_put(struct sched *s, struct sched_heap *h, uint32_t pos,
			   struct sched_entry e)
{
	h->e[pos] = e;
	s->slots[e.slot].heap_pos = pos;
}

/* Moves e up from pos until its parent is before it. */
static void sched_sift_up(struct sched *s, struct sched_heap *h, uint32_t pos, struct sched_entry e)
{
	while (pos > 0) {
		uint32_t parent = SCHED_PARENT(pos);

		if (!sched_before(&e, &h->e[parent]))
			break;
		sched_heap_put(s, h, pos, h->e[parent]);
		pos = parent;
	}
	sched_heap_put(s, h, pos, e);
}

/* Moves e down from pos until every child is after it. */
static void sched_sift_down(struct sched *s, struct sched_heap *h, uint32_t pos,
			    struct sched_entry e)
{
	uint32_t n = h->n;

	while (SCHED_ARITY * (uint64_t)pos + 1 < n) {
		uint32_t first = SCHED_ARITY * pos + 1, child = first, c;

		for (c = first + 1; c < first + SCHED_ARITY && c < n; c++)
			if (sched_before(&h->e[c], &h->e[child]))
				child = c;
		if (!sched_before(&h->e[child], &e))
			break;
		sched_heap_put(s, h, pos, h->e[child]);
		pos = child;
	}
	sched_heap_put(s, h, pos, e);
}

/* Removes the entry at pos of h; the caller frees its slot. */
static void sched_heap_remove(struct sched *s, struct sched_heap *h, uint32_t pos)
{
	struct sched_entry last = h->e[--h->n];

	if (pos == h->n)
		return;
	if (pos > 0 && sched_before(&last, &h->e[SCHED_PARENT(pos)]))
		sched_sift_up(s, h, pos, last);
	else
		sched_sift_down(s, h, pos, last);
}

/* The head of queue k (a heap or SCHED_FIFO), which is not empty. */
static const struct sched_entry *sched_root(const struct sched *s, int k)
{
	return k == SCHED_FIFO ? &s->fifo.e[s->fifo.head] : &s->heaps[k].e[0];
}

/* Finds the queue whose head is the next event again, after a head left
 * (s->first: -1 when none is pending). The FIFO's head is never a
 * cancelled event. */
static void sched_refirst(struct sched *s)
{
	const struct sched_entry *best = NULL, *e;
	int i;

	s->first = -1;
	if (s->fifo.head < s->fifo.tail) {
		best = &s->fifo.e[s->fifo.head];
		s->first = SCHED_FIFO;
	}
	for (i = 0; i < SCHED_HEAPS; i++) {
		if (!s->heaps[i].n)
			continue;
		e = &s->heaps[i].e[0];
		if (!best || sched_before(e, best)) {
			best = e;
			s->first = i;
		}
	}
}

/* After e became the head of queue k: whether it is the next event. */
static void sched_new_head(struct sched *s, int k, const struct sched_entry *e)
{
	if (s->first < 0 || sched_before(e, sched_root(s, s->first)))
		s->first = k;
}

natbed_time_t sched_next_due(const struct sched *s)
{
	return s->first < 0 ? -1 : sched_root(s, s->first)->due;
}

/* --- the slot pool ------------------------------------------------------ */

/* Doubles the pool and the heaps (they have the same capacity, since every
 * used slot has one heap entry). Returns 0 or -ENOMEM. */
static int sched_grow(struct sched *s)
{
	uint32_t cap;
	struct sched_slot *slots;
	struct sched_entry *heap;
	int k;

	if (s->cap_slots >= SCHED_SLOTS_MAX)
		return -ENOMEM;
	cap = s->cap_slots > SCHED_SLOTS_MAX / 2 ? SCHED_SLOTS_MAX : s->cap_slots * 2;
	slots = realloc(s->slots, (size_t)cap * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	s->slots = slots;
	for (k = 0; k < SCHED_HEAPS; k++) {
		heap = realloc(s->heaps[k].e, (size_t)cap * sizeof(*heap));
		if (!heap)
			return -ENOMEM;
		s->heaps[k].e = heap;
	}
	heap = realloc(s->fifo.e, (size_t)cap * sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	s->fifo.e = heap;
	s->cap_slots = cap;
	return 0;
}

/* Returns a free slot index, or SCHED_FREE when out of memory. */
static uint32_t sched_slot_alloc(struct sched *s)
{
	uint32_t idx = s->free_head;

	if (idx != SCHED_FREE) {
		s->free_head = s->slots[idx].next_free;
		return idx;
	}
	if (s->n_slots == s->cap_slots && sched_grow(s) < 0)
		return SCHED_FREE;
	idx = s->n_slots++;
	s->slots[idx].gen = 1;
	return idx;
}

static void sched_slot_release(struct sched *s, uint32_t idx)
{
	struct sched_slot *sl = &s->slots[idx];

	sl->heap_pos = SCHED_FREE;
	sl->fn = NULL;
	sl->arg = NULL;
	if (++sl->gen == 0)
		sl->gen = 1;
	sl->next_free = s->free_head;
	s->free_head = idx;
}

/* --- the FIFO of events due now ------------------------------------------ */

/* Drops the cancelled events at the FIFO's head, freeing their slots. */
static void sched_fifo_trim(struct sched *s)
{
	struct sched_fifo *q = &s->fifo;

	while (q->cancelled && q->head < q->tail && !s->slots[q->e[q->head].slot].fn) {
		sched_slot_release(s, q->e[q->head++].slot);
		q->cancelled--;
	}
	if (q->head == q->tail)
		q->head = q->tail = 0;
}

/* Appends e, whose slot is allocated: the FIFO holds at most a slot each,
 * so when its end reaches the pool's capacity it has room at its start. */
static void sched_fifo_push(struct sched *s, struct sched_entry e)
{
	struct sched_fifo *q = &s->fifo;

	if (q->tail == s->cap_slots) {
		memmove(q->e, q->e + q->head, (size_t)(q->tail - q->head) * sizeof(*q->e));
		q->tail -= q->head;
		q->head = 0;
	}
	s->slots[e.slot].heap = SCHED_FIFO;
	s->slots[e.slot].heap_pos = q->tail;
	q->e[q->tail++] = e;
}

/* Whether an event due at when_ns, scheduled at now, goes to the FIFO: due
 * by now and not before its last event (which keeps it in order). */
static bool sched_fifo_takes(const struct sched *s, natbed_time_t when_ns, natbed_time_t now)
{
	const struct sched_fifo *q = &s->fifo;

	return when_ns <= now && (q->head == q->tail || q->e[q->tail - 1].due <= when_ns);
}

/* --- the real-time driver ----------------------------------------------- */

/* Real time: a timerfd set to the earliest due time (absolute, in the
 * clock's CLOCK_MONOTONIC nanoseconds), set again only when that changes.
 * The event loop then needs no precise-timer mode, which would cost a
 * timerfd_settime on every wake-up. */
static void sched_arm(struct sched *s)
{
	natbed_time_t due;
	struct itimerspec its = {{0, 0}, {0, 0}};

	if (s->tfd < 0) /* not attached: virtual time, or not yet */
		return;
	due = sched_next_due(s);
	if (due == s->armed_due)
		return;
	if (due >= 0) {
		/* 0 disarms: a due time at the epoch still has to fire */
		natbed_time_t at = due > 0 ? due : 1;

		its.it_value.tv_sec = (time_t)(at / NATBED_NS_PER_S);
		its.it_value.tv_nsec = (long)(at % NATBED_NS_PER_S);
	}
	if (timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		s->armed_due = due;
}

/* Pops and runs events due at or before until_ns, at most max of them.
 * When vc is set, the virtual clock follows each event's due time. */
static size_t sched_dispatch(struct sched *s, natbed_time_t until_ns, size_t max)
{
	size_t ran = 0;
	int k;

	while (ran < max && (k = s->first) >= 0 && sched_root(s, k)->due <= until_ns) {
		struct sched_entry top = *sched_root(s, k);
		struct sched_slot *sl = &s->slots[top.slot];
		sched_fn fn = sl->fn;
		void *arg = sl->arg;

		if (k == SCHED_FIFO)
			s->fifo.head++;
		else
			sched_heap_remove(s, &s->heaps[k], 0);
		sched_slot_release(s, top.slot);
		if (k == SCHED_FIFO)
			sched_fifo_trim(s);
		sched_refirst(s);
		if (s->vc)
			clock_virtual_set(s->vc, top.due);
		fn(arg, sched_clock(s));
		ran++;
	}
	return ran;
}

static void sched_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;
	uint64_t expirations;

	(void)what;
	if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	s->armed_due = -1; /* it fired: whatever is due next must be set */
	sched_run_due(s);
}

int sched_attach(struct sched *s, struct event_base *base)
{
	if (s->timer)
		return -EALREADY;
	/* The timerfd reads CLOCK_MONOTONIC: the real-time clock's own. */
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->tfd < 0)
		return -errno;
	s->timer = event_new(base, s->tfd, EV_READ | EV_PERSIST, sched_timer_cb, s);
	if (!s->timer || event_add(s->timer, NULL) < 0) {
		if (s->timer)
			event_free(s->timer);
		s->timer = NULL;
		close(s->tfd);
		s->tfd = -1;
		return -ENOMEM;
	}
	s->armed_due = -1;
	sched_arm(s);
	return 0;
}

/* --- the public operations ---------------------------------------------- */

uint64_t sched_at(struct sched *s, natbed_time_t when_ns, sched_fn fn, void *arg)
{
	uint32_t idx = sched_slot_alloc(s);
	struct sched_heap *h;
	struct sched_entry e;
	natbed_time_t now, ahead;

	if (idx == SCHED_FREE)
		return 0;
	s->slots[idx].fn = fn;
	s->slots[idx].arg = arg;
	e.due = when_ns;
	e.seq = s->seq++;
	e.slot = idx;
	now = sched_clock(s);
	if (sched_fifo_takes(s, when_ns, now)) {
		sched_fifo_push(s, e);
		if (s->fifo.tail - s->fifo.head == 1) {
			sched_new_head(s, SCHED_FIFO, &e);
			sched_arm(s);
		}
		return (uint64_t)s->slots[idx].gen << 32 | idx;
	}
	ahead = when_ns - now;
	s->slots[idx].heap = ahead < SCHED_NEAR_NS  ? SCHED_NEAR
			     : ahead < SCHED_MID_NS ? SCHED_MID
						    : SCHED_FAR;
	h = &s->heaps[s->slots[idx].heap];
	sched_sift_up(s, h, h->n++, e);
	if (s->slots[idx].heap_pos == 0) {
		sched_new_head(s, (int)s->slots[idx].heap, &e);
		sched_arm(s);
	}
	return (uint64_t)s->slots[idx].gen << 32 | idx;
}

uint64_t sched_after(struct sched *s, natbed_time_t delay_ns, sched_fn fn, void *arg)
{
	return sched_at(s, sched_clock(s) + delay_ns, fn, arg);
}

bool sched_cancel(struct sched *s, uint64_t id)
{
	uint32_t idx = (uint32_t)(id & UINT32_MAX);
	uint32_t gen = (uint32_t)(id >> 32);

	if (idx >= s->n_slots || s->slots[idx].heap_pos == SCHED_FREE || s->slots[idx].gen != gen)
		return false;
	if (s->slots[idx].heap == SCHED_FIFO) {
		/* marked, its slot kept until it leaves the FIFO; the id is
		 * stale from now on */
		s->slots[idx].fn = NULL;
		if (++s->slots[idx].gen == 0)
			s->slots[idx].gen = 1;
		s->fifo.cancelled++;
		sched_fifo_trim(s);
		sched_refirst(s);
		sched_arm(s);
		return true;
	}
	sched_heap_remove(s, &s->heaps[s->slots[idx].heap], s->slots[idx].heap_pos);
	sched_slot_release(s, idx);
	sched_refirst(s);
	return true;
}

/* The pending entries, cancelled ones left out, into *out (malloc'd).
 * Their number, or -ENOMEM. */
static long sched_entries(const struct sched *s, struct sched_entry **out)
{
	size_t n = sched_pending(s), i = 0;
	struct sched_entry *e = malloc((n ? n : 1) * sizeof(*e));

	if (!e)
		return -ENOMEM;
	for (int k = 0; k < SCHED_HEAPS; k++)
		for (uint32_t p = 0; p < s->heaps[k].n; p++)
			e[i++] = s->heaps[k].e[p];
	for (uint32_t p = s->fifo.head; p < s->fifo.tail; p++)
		if (s->slots[s->fifo.e[p].slot].fn)
			e[i++] = s->fifo.e[p];
	*out = e;
	return (long)i;
}

static int sched_entry_cmp(const void *a, const void *b)
{
	const struct sched_entry *x = a, *y = b;

	return sched_before(x, y) ? -1 : sched_before(y, x) ? 1 : 0;
}

int sched_each(const struct sched *s, int (*fn)(void *ctx, const struct sched_event *e), void *ctx)
{
	struct sched_entry *e;
	long n = sched_entries(s, &e);
	int rc = 0;

	if (n < 0)
		return (int)n;
	qsort(e, (size_t)n, sizeof(*e), sched_entry_cmp);
	for (long i = 0; i < n && !rc; i++) {
		const struct sched_slot *sl = &s->slots[e[i].slot];
		struct sched_event ev = {.id = (uint64_t)sl->gen << 32 | e[i].slot,
					 .due = e[i].due,
					 .fn = sl->fn,
					 .arg = sl->arg};

		rc = fn(ctx, &ev);
	}
	free(e);
	return rc;
}

size_t sched_run_due(struct sched *s)
{
	size_t ran = sched_dispatch(s, sched_clock(s), SCHED_RUN_DUE_MAX);

	sched_arm(s);
	return ran;
}

size_t sched_run_until(struct sched *s, natbed_time_t until_ns)
{
	size_t ran;

	if (!s->vc)
		return 0;
	ran = sched_dispatch(s, until_ns, SIZE_MAX);
	clock_virtual_set(s->vc, until_ns);
	return ran;
}
