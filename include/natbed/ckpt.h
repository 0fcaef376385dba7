/* natbed checkpoints of an object graph: state machines written to JSON
 * and read back into a fresh process, their pointers, callbacks and
 * timers with them.
 *
 * A state machine's state is plain values, pointers to other objects,
 * function pointers (its owner's callbacks, the scheduler's) and the ids
 * of its timers. None of the last three means anything in another
 * process. A writer (struct ckw) turns each into a name that does:
 *  - an object: a number, the object's id, given on first sight
 *    (ckw_ref()); the module that owns the object writes it whole and
 *    says so (ckw_obj()). A pointer to an embedded part is an object of
 *    its own when something points at it;
 *  - a function, or a static object a pointer may point at (an ops
 *    table): "module.name", from the tables of the functions and static
 *    objects each module may store (struct ckfns); a function in no
 *    table is an error
 *    naming its address, so a module that adds a callback and forgets
 *    its table fails its round-trip test instead of writing a file no
 *    restore can read;
 *  - a timer: the place of its event in the scheduler's queue, written
 *    first (ckw_sched()): 0 for none, -1 for an id that is no longer
 *    pending (restored as SCHED_ID_STALE).
 * A reader (struct ckr) does the reverse: each module builds its objects
 * from the JSON, declares them under their ids (ckr_obj()) and leaves
 * the pointer, timer and queue fields to ckr_finish(), which fills them
 * once every object exists (objects point at each other in cycles), then
 * schedules the queue again, in its order. An event whose argument only
 * the event holds (a packet on its way) has its table entry write and
 * read that argument (save_arg, load_arg); load_arg runs in ckr_finish(),
 * every object declared by then, and may use ckr_get, ckr_ref and
 * ckr_timer (filled after the queue).
 *
 * The writer's and the reader's first error stays (said by ckw_finish()
 * and ckr_finish(): "part: problem"); every call after it does nothing,
 * so a serialiser checks once, at the end.
 */
#ifndef NATBED_CKPT_H
#define NATBED_CKPT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/sched.h"

struct ckw;
struct ckr;

/* Any function pointer, as the tables hold it: cast back to its own type
 * before it is called. */
typedef void (*ckfn_ptr)(void);

struct ckfn {
	const char *name; /* unique in its module */
	ckfn_ptr fn;
	/* For a scheduler callback whose argument only its event holds:
	 * writes arg (a new reference, NULL on error), and builds it again
	 * (NULL on error, with ckr_fail()). Both NULL: the argument is an
	 * object written elsewhere, or NULL. */
	json_t *(*save_arg)(struct ckw *w, const void *arg);
	void *(*load_arg)(struct ckr *r, const json_t *j);
};

/* A static object a pointer field may hold (an ops table, a const
 * configuration): written by name, not by value. */
struct ckvar {
	const char *name; /* unique in its module */
	const void *p;
};

/* A module's table: every function it stores in a field or gives the
 * scheduler, as CKFN(fn) entries, and every static object it points at,
 * as CKVAR(v) entries. */
struct ckfns {
	const char *module;
	const struct ckfn *fns;
	size_t n;
	const struct ckvar *vars;
	size_t n_vars;
};

/* clang-format off */
#define CKFN(f) {#f, (ckfn_ptr)(f), NULL, NULL}
#define CKFN_ARG(f, save, load) {#f, (ckfn_ptr)(f), (save), (load)}
#define CKVAR(v) {#v, &(v)}
#define CKFNS(mod, fns) {#mod, (fns), sizeof(fns) / sizeof((fns)[0]), NULL, 0}
#define CKFNS_VARS(mod, fns, vars) \
	{#mod, (fns), sizeof(fns) / sizeof((fns)[0]), (vars), sizeof(vars) / sizeof((vars)[0])}
/* clang-format on */

/* --- writing -------------------------------------------------------- */

/* A writer knowing the functions of tables[0..n-1] (borrowed). NULL on
 * ENOMEM, or with two entries for one function. */
struct ckw *ckw_new(const struct ckfns *const *tables, size_t n);
void ckw_free(struct ckw *w);

/* p's id as JSON (null for NULL; "module.name" for a static object of
 * the tables): a new reference. */
json_t *ckw_ref(struct ckw *w, const void *p);

/* Declares that p is written here (once): its id as JSON, a new
 * reference. A second declaration is an error. */
json_t *ckw_obj(struct ckw *w, const void *p);

/* fn's "module.name" (null for NULL), a new reference. */
json_t *ckw_fn(struct ckw *w, ckfn_ptr fn);

/* The scheduler's queue, in the order it runs: [[due_ns, "module.name",
 * ARG]...], ARG an object's id, null, or save_arg's JSON. Write it
 * before any timer. A new reference, NULL on error. */
json_t *ckw_sched(struct ckw *w, const struct sched *s);

/* Timer id as JSON: 0 for none, its place in the queue (from 1), -1 when
 * no longer pending. */
json_t *ckw_timer(struct ckw *w, uint64_t id);

/* n bytes at p as a hex string: a byte array (a transaction id, a key,
 * a message), or a struct without pointers (counters, a report) as this
 * build lays it out: a checkpoint is read by the natbed that wrote it. A
 * new reference. */
json_t *ckw_bytes(struct ckw *w, const void *p, size_t n);

/* Whether an error was recorded: a serialiser may stop early. */
bool ckw_failed(const struct ckw *w);

/* Records the first error (printf-style). Returns -1. */
int ckw_fail(struct ckw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 0 when everything went well and every object referred to was written,
 * or -1 with the first problem in err. */
int ckw_finish(struct ckw *w, char *err, size_t errlen);

/* --- reading -------------------------------------------------------- */

struct ckr *ckr_new(const struct ckfns *const *tables, size_t n);
void ckr_free(struct ckr *r);

/* Declares that the object written with id j (ckw_obj's) is p. */
int ckr_obj(struct ckr *r, const json_t *j, void *p);

/* The object with id j (or the static object "module.name"), when it is
 * declared already: NULL for null, or on error. */
void *ckr_get(struct ckr *r, const json_t *j);

/* Sets the pointer at slot (the address of a pointer field) to the
 * object with id j at ckr_finish(); NULL for null. */
int ckr_ref(struct ckr *r, const json_t *j, void *slot);

/* The function named j (null: NULL) into *out. 0, or -1. */
int ckr_fn(struct ckr *r, const json_t *j, ckfn_ptr *out);

/* Sets *slot to the id of the restored event j names (ckw_timer's) at
 * ckr_finish(). */
int ckr_timer(struct ckr *r, const json_t *j, uint64_t *slot);

/* The queue ckw_sched() wrote (borrowed until ckr_finish()), scheduled
 * on s at ckr_finish(): s must have nothing pending then. */
int ckr_sched(struct ckr *r, struct sched *s, const json_t *q);

/* Exactly n bytes of ckw_bytes()'s hex into out. 0, or -1. */
int ckr_bytes(struct ckr *r, const json_t *j, void *out, size_t n);

/* Whether an error was recorded. After one, every call does nothing and
 * ckr_finish() fills no pointer, timer or queue: a loader may free what
 * it built so far, provided nothing else points at it yet. */
bool ckr_failed(const struct ckr *r);

/* Records the first error (printf-style). Returns -1. */
int ckr_fail(struct ckr *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fills every pointer, schedules the queue, fills every timer. 0, or -1
 * with the first problem in err (then the objects may point nowhere:
 * free them without running them). */
int ckr_finish(struct ckr *r, char *err, size_t errlen);

#endif
