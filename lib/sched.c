/* natbed scheduler: a 4-ary min-heap of events keyed (due, sequence).
 *
 * Layout, chosen for the emulator's hot path (one event per forwarded
 * packet):
 *  - slots: a pool of event records (callback, argument) recycled through a
 *    free list, so scheduling does not call malloc once the pool has grown;
 *  - heap: an array of (due, seq, slot) entries; each slot knows its heap
 *    position, so cancel removes from the middle in O(log n).
 * An id is (slot generation << 32 | slot index): a stale id (the event ran
 * or was cancelled, and the slot was reused) never matches.
 */
#include "natbed/sched.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define SCHED_FREE	 UINT32_MAX /* heap_pos of a slot in the free list */
#define SCHED_SLOTS_MAX	 (UINT32_MAX - 1)
#define SCHED_SLOTS_INIT 64
/* Events one libevent wake-up runs before it yields to packet I/O. */

struct sched_slot {
	sched_fn fn;
	void *arg;
	uint32_t heap_pos; /* SCHED_FREE when the slot is free */
	uint32_t gen;	   /* bumped each time the slot is freed; never 0 */
	uint32_t next_free;
};

struct sched_entry {
	natbed_time_t due;
	uint64_t seq;
	uint32_t slot;
};

struct sched {
	struct natbed_clock clk;
	struct clock_virtual *vc;
	struct sched_slot *slots;
	uint32_t n_slots; /* slots ever created (all < cap_slots) */
	uint32_t cap_slots;
	uint32_t free_head; /* SCHED_FREE when the free list is empty */
	struct sched_entry *heap;
	uint32_t n_heap;
	uint64_t seq;
	/* Real-time driver (sched_attach). */
	struct event *timer;
	int tfd;		 /* timerfd behind timer, -1 until sched_attach() */
	natbed_time_t armed_due; /* -1 when the timer is not armed */
};

struct sched *sched_new(struct natbed_clock clk, struct clock_virtual *vc)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->clk = clk;
	s->vc = vc;
	s->free_head = SCHED_FREE;
	s->armed_due = -1;
	s->tfd = -1;
	s->slots = calloc(SCHED_SLOTS_INIT, sizeof(*s->slots));
	s->heap = calloc(SCHED_SLOTS_INIT, sizeof(*s->heap));
	if (!s->slots || !s->heap) {
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
	free(s->heap);
	free(s->slots);
	free(s);
}

natbed_time_t sched_now(const struct sched *s)
{
	return clock_now(&s->clk);
}

size_t sched_pending(const struct sched *s)
{
	return s->n_heap;
}

natbed_time_t sched_next_due(const struct sched *s)
{
	return s->n_heap ? s->heap[0].due : -1;
}

/* --- the heap ----------------------------------------------------------- */

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

static void sched_heap_put(struct sched *s, uint32_t pos, struct sched_entry e)
{
	s->heap[pos] = e;
	s->slots[e.slot].heap_pos = pos;
}

/* Moves e up from pos until its parent is before it. */
static void sched_sift_up(struct sched *s, uint32_t pos, struct sched_entry e)
{
	while (pos > 0) {
		uint32_t parent = SCHED_PARENT(pos);

		if (!sched_before(&e, &s->heap[parent]))
			break;
		sched_heap_put(s, pos, s->heap[parent]);
		pos = parent;
	}
	sched_heap_put(s, pos, e);
}

/* Moves e down from pos until every child is after it. */
static void sched_sift_down(struct sched *s, uint32_t pos, struct sched_entry e)
{
	uint32_t n = s->n_heap;

	while (SCHED_ARITY * (uint64_t)pos + 1 < n) {
		uint32_t first = SCHED_ARITY * pos + 1, child = first, c;

		for (c = first + 1; c < first + SCHED_ARITY && c < n; c++)
			if (sched_before(&s->heap[c], &s->heap[child]))
				child = c;
		if (!sched_before(&s->heap[child], &e))
			break;
		sched_heap_put(s, pos, s->heap[child]);
		pos = child;
	}
	sched_heap_put(s, pos, e);
}

/* Removes the entry at pos; the caller frees its slot. */
static void sched_heap_remove(struct sched *s, uint32_t pos)
{
	struct sched_entry last = s->heap[--s->n_heap];

	if (pos == s->n_heap)
		return;
	if (pos > 0 && sched_before(&last, &s->heap[SCHED_PARENT(pos)]))
		sched_sift_up(s, pos, last);
	else
		sched_sift_down(s, pos, last);
}

/* --- the slot pool ------------------------------------------------------ */

/* Doubles the pool and the heap (they have the same capacity, since every
 * used slot has one heap entry). Returns 0 or -ENOMEM. */
static int sched_grow(struct sched *s)
{
	uint32_t cap;
	struct sched_slot *slots;
	struct sched_entry *heap;

	if (s->cap_slots >= SCHED_SLOTS_MAX)
		return -ENOMEM;
	cap = s->cap_slots > SCHED_SLOTS_MAX / 2 ? SCHED_SLOTS_MAX : s->cap_slots * 2;
	slots = realloc(s->slots, (size_t)cap * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	s->slots = slots;
	heap = realloc(s->heap, (size_t)cap * sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	s->heap = heap;
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

/* --- the real-time driver ----------------------------------------------- */

/* Real time: a timerfd set to the earliest due time (absolute, in the
 * clock's CLOCK_MONOTONIC nanoseconds), set again only when that changes.
 * The event loop then needs no precise-timer mode, which would cost a
 * timerfd_settime on every wake-up. */
static void sched_arm(struct sched *s)
{
	natbed_time_t due = sched_next_due(s);
	struct itimerspec its = {{0, 0}, {0, 0}};

	if (s->tfd < 0 || due == s->armed_due)
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

	while (ran < max && s->n_heap && s->heap[0].due <= until_ns) {
		struct sched_entry top = s->heap[0];
		struct sched_slot *sl = &s->slots[top.slot];
		sched_fn fn = sl->fn;
		void *arg = sl->arg;

		sched_heap_remove(s, 0);
		sched_slot_release(s, top.slot);
		if (s->vc)
			clock_virtual_set(s->vc, top.due);
		fn(arg, clock_now(&s->clk));
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
	struct sched_entry e;

	if (idx == SCHED_FREE)
		return 0;
	s->slots[idx].fn = fn;
	s->slots[idx].arg = arg;
	e.due = when_ns;
	e.seq = s->seq++;
	e.slot = idx;
	sched_sift_up(s, s->n_heap++, e);
	if (s->slots[idx].heap_pos == 0)
		sched_arm(s);
	return (uint64_t)s->slots[idx].gen << 32 | idx;
}

uint64_t sched_after(struct sched *s, natbed_time_t delay_ns, sched_fn fn, void *arg)
{
	return sched_at(s, clock_now(&s->clk) + delay_ns, fn, arg);
}

bool sched_cancel(struct sched *s, uint64_t id)
{
	uint32_t idx = (uint32_t)(id & UINT32_MAX);
	uint32_t gen = (uint32_t)(id >> 32);

	if (idx >= s->n_slots || s->slots[idx].heap_pos == SCHED_FREE || s->slots[idx].gen != gen)
		return false;
	sched_heap_remove(s, s->slots[idx].heap_pos);
	sched_slot_release(s, idx);
	return true;
}

size_t sched_run_due(struct sched *s)
{
	size_t ran = sched_dispatch(s, clock_now(&s->clk), SCHED_RUN_DUE_MAX);

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
