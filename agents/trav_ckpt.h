/* natbed agents: the pieces a traversal try's checkpoint is written with
 * (natbed/ckpt.h) beyond ckget.h's, shared by trav_ckpt.c (struct
 * trav_try), the check engine (method_checks.c) and the methods' own
 * states: a failure's reason.
 */
#ifndef NATBED_AGENTS_TRAV_CKPT_H
#define NATBED_AGENTS_TRAV_CKPT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ckget.h"
#include "method.h"

/* obj[key] = v, v a new reference (NULL: null; the writer that gave it
 * holds the error). */
void tck_set(json_t *obj, const char *key, json_t *v);

/* A failure's reason (trav_try.reason, the engine's fail_reason): null;
 * {"text": T} for a reason of the methods, the engine or the agent that
 * is a string literal (restored as the same text in a table of them, so
 * that it reads the same); {"ref": id} for one pointing into an object's
 * buffer (the turnsock's error, the agent try's reason: their owners
 * declare that buffer). t: the try it belongs to. */
json_t *tck_reason(struct ckw *w, const struct trav_try *t, const char *reason);
/* Fills *slot now (a text) or at ckr_finish() (a reference). */
void tck_reason_get(struct ckget *g, const char *key, const char **slot);

#endif
