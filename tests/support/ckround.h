/* natbed sim checkpoints (natbed/ckpt.h) in the unit tests: a world
 * written as natbed sim writes it, the scheduler's queue first, then the
 * test's parts; read back into a fresh world; written again and compared.
 * The part every state machine's checkpoint test shares; what is written
 * (the parts) and what a continuation compares stay the test's. */
#ifndef NATBED_TESTS_CKROUND_H
#define NATBED_TESTS_CKROUND_H

#include <jansson.h>
#include <stddef.h>

#include "natbed/ckpt.h"
#include "natbed/sched.h"

/* The test's parts: written with w (a new reference, NULL on error), and
 * read with r into ctx's fresh world (0, or -1; the problem in r). */
typedef json_t *(*ckround_save_fn)(struct ckw *w, void *ctx);
typedef int (*ckround_load_fn)(struct ckr *r, const json_t *parts, void *ctx);

/* {"at": s's time, "queue": s's queue, "parts": save(w, ctx)}, written
 * with tables[0..nt) and passed through text, as a file goes. NULL with
 * the writer's problem in err. */
json_t *ckround_save(const struct sched *s, const struct ckfns *const *tables, size_t nt,
		     ckround_save_fn save, void *ctx, char *err, size_t errlen);

/* The test's parts in j (borrowed). */
const json_t *ckround_parts(const json_t *j);

/* The time j was written at: a fresh world is made at it before the load. */
natbed_time_t ckround_at(const json_t *j);

/* j's parts read by load(r, parts, ctx), j's queue given to *s (read
 * after load: a loader that builds the world sets it; the scheduler at
 * j's time, nothing pending), then ckr_finish(). 0, or -1 with the
 * problem in err. */
int ckround_load(const json_t *j, struct sched **s, const struct ckfns *const *tables, size_t nt,
		 ckround_load_fn load, void *ctx, char *err, size_t errlen);

/* The round trip: j read into ctx's fresh world (ckround_load), that
 * world written again (ckround_save on *s) and compared with j. 0, or
 * -1 with "load: ...", "save: ..." or "written again, the file differs"
 * in err. */
int ckround_again(const json_t *j, struct sched **s, const struct ckfns *const *tables, size_t nt,
		  ckround_save_fn save, ckround_load_fn load, void *ctx, char *err, size_t errlen);

#endif
