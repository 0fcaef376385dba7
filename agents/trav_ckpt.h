/* natbed agents: the pieces a traversal try's checkpoint is written with
 * (natbed/ckpt.h), shared by trav_ckpt.c (struct trav_try), the check
 * engine (method_checks.c) and the methods' own states. Each reader
 * checks type and range and says what is wrong in r (ckr_fail), prefixed
 * with `what`; the writers leave their errors in w.
 */
#ifndef NATBED_AGENTS_TRAV_CKPT_H
#define NATBED_AGENTS_TRAV_CKPT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "method.h"

struct ckw;
struct ckr;

/* obj[key] = v, v a new reference (NULL: null; the writer that gave it
 * holds the error). */
void tck_set(json_t *obj, const char *key, json_t *v);

/* An endpoint as ["A.B.C.D", port]. */
json_t *tck_ep(const struct dg_ep *ep);
int tck_ep_read(struct ckr *r, const json_t *obj, const char *key, struct dg_ep *ep,
		const char *what);

/* Integers of obj[key] in lo..hi; a bool; a uint64 (jsonck_u64, decimal). */
int tck_int(struct ckr *r, const json_t *obj, const char *key, json_int_t lo, json_int_t hi,
	    json_int_t *out, const char *what);
int tck_bool(struct ckr *r, const json_t *obj, const char *key, bool *out, const char *what);
int tck_u64(struct ckr *r, const json_t *obj, const char *key, uint64_t *out, const char *what);
/* Exactly n bytes (ckw_bytes' hex). */
int tck_bytes(struct ckr *r, const json_t *obj, const char *key, void *out, size_t n,
	      const char *what);

/* A failure's reason (trav_try.reason, the engine's fail_reason): null;
 * {"text": T} for a reason of the methods, the engine or the agent that
 * is a string literal (restored as the same text in a table of them, so
 * that it reads the same); {"ref": id} for one pointing into an object's
 * buffer (the turnsock's error, the agent try's reason: their owners
 * declare that buffer). t: the try it belongs to. */
json_t *tck_reason(struct ckw *w, const struct trav_try *t, const char *reason);
/* Fills *slot now (a text) or at ckr_finish() (a reference). */
int tck_reason_read(struct ckr *r, const json_t *obj, const char *key, const char **slot,
		    const char *what);

#endif
