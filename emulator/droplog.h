/* natbed-emu drop log: a line in the event log for every packet the
 * emulator drops, so a gap in any capture can be explained:
 *
 *   {"t_ns":T,"event":"drop","port":"alice","src":"192.168.1.2",
 *    "dst":"198.51.100.10","proto":17,"sport":40000,"dport":3478,
 *    "reason":"filtered","counter":"nat", ...more members of the step}
 *
 * Lines are rate-limited by a token bucket on the scheduler's clock
 * (lines_per_s, burst), so a flood cannot fill the disk or slow
 * forwarding down. The lines left out are counted and reported in one
 *
 *   {"t_ns":T,"event":"drops_suppressed","count":N,"first_ns":T1,"last_ns":T2}
 *
 * line as soon as the bucket allows a line again (before that line), at
 * droplog_flush() and when the log is freed: the drop lines plus the
 * suppressed counts add up to every drop. */
#ifndef NATBED_EMU_DROPLOG_H
#define NATBED_EMU_DROPLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "evlog.h"
#include "natbed/clock.h"
#include "proto.h"

#define DROPLOG_LINES_PER_S 1000 /* default rate */
#define DROPLOG_BURST	    1000 /* default depth of the bucket, in lines */

struct droplog_cfg {
	struct evlog *ev;	/* must outlive the log; NULL: count only */
	uint32_t lines_per_s;	/* 0: DROPLOG_LINES_PER_S */
	uint32_t burst;		/* 0: DROPLOG_BURST */
	natbed_time_t start_ns; /* the bucket is full at this time */
};

struct droplog_stats {
	uint64_t written;    /* drop lines written */
	uint64_t suppressed; /* drop lines left out */
};

struct droplog;

/* cfg is copied. NULL on ENOMEM. */
struct droplog *droplog_new(const struct droplog_cfg *cfg);
/* Reports what was left out (at the time of the last drop), then frees.
 * NULL is safe. */
void droplog_free(struct droplog *d);

/* One drop at now: the port it came in by (NULL: none), its flow as the
 * step that dropped it saw it (NULL: not IPv4), the precise reason, the
 * port counter it was counted under, and more JSON members (NULL: none),
 * e.g. "\"nat\":\"home\"". Written if the bucket has a line left, else
 * counted as suppressed. */
void droplog_write(struct droplog *d, natbed_time_t now, const char *port,
		   const struct flow_tuple *t, const char *reason, const char *counter,
		   const char *extra);

/* Reports the lines left out, if any, when the bucket allows a line at
 * now (or always, with force). */
void droplog_flush(struct droplog *d, natbed_time_t now, bool force);

void droplog_get_stats(const struct droplog *d, struct droplog_stats *st);

#endif
