/* natbed clock: CLOCK_MONOTONIC, CLOCK_REALTIME and a virtual clock. */
#include "natbed/clock.h"

#include <stddef.h>
#include <time.h>

static natbed_time_t clock_ts_ns(clockid_t id)
{
	struct timespec ts;

	/* clock_gettime cannot fail for these clock ids on Linux. */
	clock_gettime(id, &ts);
	return (natbed_time_t)ts.tv_sec * NATBED_NS_PER_S + ts.tv_nsec;
}

static natbed_time_t clock_monotonic_now(void *ctx)
{
	(void)ctx;
	return clock_ts_ns(CLOCK_MONOTONIC);
}

const struct natbed_clock clock_monotonic = {.now = clock_monotonic_now, .ctx = NULL};

natbed_time_t clock_wall_ns(void)
{
	return clock_ts_ns(CLOCK_REALTIME);
}

static natbed_time_t clock_virtual_now(void *ctx)
{
	const struct clock_virtual *vc = ctx;

	return vc->now_ns;
}

struct natbed_clock clock_virtual_clock(struct clock_virtual *vc)
{
	struct natbed_clock clk = {.now = clock_virtual_now, .ctx = vc};

	return clk;
}
