/* Checkpoint tests (natbed/ckpt.h) of state machines on a world the test
 * keeps as it is (tests/support/cknet.c, a rendezvous, a STUN server):
 * the parts under test are written and read by their own functions; the
 * world's objects (the hosts' dgrams, the test's callback arguments, and
 * the argument of every pending event whose function is in none of the
 * parts' tables: datagrams in flight, the rendezvous' timers) are
 * declared under ids and given back as they are, or as a substitute (a
 * copy of a dgram on another scheduler); the functions of those events
 * get names in a table made here. A second scheduler gets the queue, so
 * the loaded parts are written again and compared, never run (the world
 * still points at the first ones).
 */
#ifndef NATBED_TESTS_CKWORLD_H
#define NATBED_TESTS_CKWORLD_H

#include <jansson.h>
#include <stddef.h>

#include "natbed/ckpt.h"
#include "natbed/dgram.h"
#include "natbed/sched.h"

#define CKWORLD_OBJS   256
#define CKWORLD_FNS    16
#define CKWORLD_TABLES 16

struct ckworld {
	const void *obj[CKWORLD_OBJS];
	size_t nobj;
	struct ckfn fns[CKWORLD_FNS];
	char names[CKWORLD_FNS][8];
	size_t nfns;
	struct ckfns table;
	const struct ckfns *tables[CKWORLD_TABLES]; /* the parts', then the world's */
	size_t ntables;
};

/* The world around the parts on s, whose functions are in
 * parts[0..nparts): every pending event's argument not theirs, then
 * objs[0..nobj). */
void ckworld_init(struct ckworld *cw, const struct sched *s, const struct ckfns *const *parts,
		  size_t nparts, const void *const *objs, size_t nobj);

/* Writes the parts as tests/support/ckround.h writes a world, the ids
 * of the world's objects before them: {"world": [ids], "parts": save(w,
 * ctx)}. NULL with err. */
json_t *ckworld_save(const struct ckworld *cw, const struct sched *s,
		     json_t *(*save)(struct ckw *w, void *ctx), void *ctx, char *err,
		     size_t errlen);

/* Loads them onto s (nothing pending): load(r, parts, ctx), the world's
 * objects as they were. 0, or -1 with err. */
int ckworld_load(const struct ckworld *cw, const json_t *j, struct sched *s,
		 void (*load)(struct ckr *r, const json_t *parts, void *ctx), void *ctx, char *err,
		 size_t errlen);

/* The test's parts in a world ckworld_save() wrote (borrowed). */
const json_t *ckworld_parts(const json_t *j);

/* From now on the world's object from is to (both ways). */
void ckworld_subst(struct ckworld *cw, const void *from, const void *to);

/* *out: d on scheduler s, with a driver that opens and sends nothing and
 * closes nothing (the loaded parts' sockets are the world's: freeing them
 * must not close those). */
void ckworld_dgram(const struct dgram *d, struct sched *s, struct dgram *out);

/* Asserts that j and j2 are equal, printing both when not. */
void ckworld_assert_equal(const json_t *j, const json_t *j2);

#endif
