/* natbed clock: the one way natbed code reads time.
 *
 * Every timed behaviour (link delay, mapping expiry, auth delays) reads time
 * through a struct natbed_clock so it can run in real time (emulation) or in
 * virtual time (simulation, unit tests) without change.
 */
#ifndef NATBED_CLOCK_H
#define NATBED_CLOCK_H

#include <stdint.h>

/* A point in time or a duration, in nanoseconds. */
typedef int64_t natbed_time_t;

#define NATBED_NS_PER_US ((natbed_time_t)1000)
#define NATBED_NS_PER_MS ((natbed_time_t)1000000)
#define NATBED_NS_PER_S	 ((natbed_time_t)1000000000)

struct natbed_clock {
	/* Returns the current time in ns; ctx is the clock's own state. */
	natbed_time_t (*now)(void *ctx);
	void *ctx;
};

/* Reads clk. */
static inline natbed_time_t clock_now(const struct natbed_clock *clk)
{
	return clk->now(clk->ctx);
}

/* The real-time clock: CLOCK_MONOTONIC in ns. */
extern const struct natbed_clock clock_monotonic;

/* Wall-clock time (CLOCK_REALTIME) in ns, for timestamps written to files
 * (pcap records, logs). Never use it to measure an interval. */
natbed_time_t clock_wall_ns(void);

/* A virtual clock: time stands still until clock_virtual_set() moves it. */
struct clock_virtual {
	natbed_time_t now_ns;
};

/* Returns a clock reading vc; vc must outlive the returned clock's use. */
struct natbed_clock clock_virtual_clock(struct clock_virtual *vc);

/* Moves vc to t_ns. Time may only move forward: an earlier t_ns is ignored.
 * Inline: the scheduler moves it for every event. */
static inline void clock_virtual_set(struct clock_virtual *vc, natbed_time_t t_ns)
{
	if (t_ns > vc->now_ns)
		vc->now_ns = t_ns;
}

#endif
