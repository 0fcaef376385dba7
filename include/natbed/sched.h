/* natbed scheduler: timestamped events over a clock interface.
 *
 * One scheduler drives everything that takes time. Events due at the same
 * time run in the order they were scheduled (FIFO on ties). Two drivers:
 *  - virtual time: sched_run_until() jumps from event to event, moving the
 *    virtual clock the scheduler was built on;
 *  - real time: sched_attach() arms a timerfd for the earliest event
 *    and runs due events when it fires.
 */
#ifndef NATBED_SCHED_H
#define NATBED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/clock.h"

struct sched;
struct event_base;

/* An event callback: arg is what was given to sched_at(), now is the
 * scheduler's time when it runs (>= its due time). */
typedef void (*sched_fn)(void *arg, natbed_time_t now);

/* Creates a scheduler reading time from clk (copied). If vc is non-NULL the
 * scheduler drives that virtual clock in sched_run_until(); clk should then
 * be clock_virtual_clock(vc). Returns NULL on allocation failure. */
struct sched *sched_new(struct natbed_clock clk, struct clock_virtual *vc);

/* Frees s and every pending event without running them. NULL is safe. */
void sched_free(struct sched *s);

/* The scheduler's current time. */
natbed_time_t sched_now(const struct sched *s);

/* Schedules fn(arg) at absolute time when_ns. A time in the past runs at the
 * next dispatch. Returns an id > 0 for sched_cancel(), or 0 when out of
 * memory. */
uint64_t sched_at(struct sched *s, natbed_time_t when_ns, sched_fn fn, void *arg);

/* Schedules fn(arg) delay_ns from now. */
uint64_t sched_after(struct sched *s, natbed_time_t delay_ns, sched_fn fn, void *arg);

/* An id sched_at() never returns and sched_cancel() never matches: what a
 * restored state machine holds for a timer that had already run or been
 * cancelled when its state was written (nonzero, as the stale id was). */
#define SCHED_ID_STALE UINT64_MAX

/* Cancels a pending event. Returns true if it was pending. */
bool sched_cancel(struct sched *s, uint64_t id);

/* Number of pending events. */
size_t sched_pending(const struct sched *s);

/* Due time of the earliest pending event, or -1 when none. */
natbed_time_t sched_next_due(const struct sched *s);

/* A pending event, as sched_each() gives it. */
struct sched_event {
	uint64_t id;
	natbed_time_t due;
	sched_fn fn;
	void *arg;
};

/* Calls fn(ctx, e) for every pending event, in the order they will run
 * (due time, then the order they were scheduled), without running or
 * changing any. Scheduling them again in this order on a scheduler with
 * nothing pending gives the same order (with new ids). Stops at the first
 * nonzero return of fn and returns it; 0 when every event was visited,
 * -ENOMEM. */
int sched_each(const struct sched *s, int (*fn)(void *ctx, const struct sched_event *e), void *ctx);

/* Most events one sched_run_due() call (or one timer wake-up) runs. */
#define SCHED_RUN_DUE_MAX 4096

/* Runs the events due at or before the clock's current time, including
 * events that those events schedule for now or earlier, at most
 * SCHED_RUN_DUE_MAX of them: a callback that keeps scheduling another
 * event for now cannot hold the caller's loop forever. Whatever is still
 * due runs at the next call, or (real time) when the timer fires, at once.
 * Returns how many ran. */
size_t sched_run_due(struct sched *s);

/* Virtual time only: runs events in time order up to and including until_ns,
 * setting the virtual clock to each event's due time, then to until_ns.
 * Returns how many ran. Unbounded: a callback that always schedules another
 * event for the current time keeps it running. */
size_t sched_run_until(struct sched *s, natbed_time_t until_ns);

/* Real time: attaches s to base; a timerfd wakes the loop at the earliest
 * due event. The scheduler's clock must be clock_monotonic (the timerfd
 * reads CLOCK_MONOTONIC). Returns 0 or -errno. */
int sched_attach(struct sched *s, struct event_base *base);

#endif
