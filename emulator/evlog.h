/* natbed-emu event log: one JSON object per line (events.jsonl in the run's
 * output directory) for every packet a link drops, delays, duplicates or
 * corrupts, every partition and every runtime change, stamped with the
 * scheduler time, so any gap in a capture can be explained. */
#ifndef NATBED_EMU_EVLOG_H
#define NATBED_EMU_EVLOG_H

#include <stddef.h>

#include "natbed/clock.h"

struct evlog;

/* Opens path for appending. NULL and err filled on failure. */
struct evlog *evlog_open(const char *path, char *err, size_t errlen);
/* Flushes and closes. NULL is safe. */
void evlog_close(struct evlog *e);
/* Writes {"t_ns":now,"event":event, FIELDS} where fields is a JSON members
 * text such as "\"link\":\"alice\",\"dir\":\"up\"" (may be empty). NULL e is
 * a no-op. */
void evlog_write(struct evlog *e, natbed_time_t now, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void evlog_flush(struct evlog *e);

#endif
