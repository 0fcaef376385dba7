/* natbed agents: the few field readers and writer checks the agents'
 * checkpoint serialisers (natbed/ckpt.h) share. A reader checks type and
 * range of each field and records the first problem in r as "MODULE:
 * KEY: what is wrong"; every call after it does nothing (ckr_fail). */
#ifndef NATBED_AGENTS_CKFIELD_H
#define NATBED_AGENTS_CKFIELD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "natbed/ckpt.h"
#include "natbed/jsonck.h"

/* Whether r holds an error: every reader call after the first error does
 * nothing and returns -1 (natbed/ckpt.h), ckr_fn on null among them. */
static inline bool ckf_failed(struct ckr *r)
{
	ckfn_ptr none;

	return ckr_fn(r, json_null(), &none) < 0;
}

/* The integer j.key in lo..hi, or 0 with the problem recorded. */
static inline json_int_t ckf_int(struct ckr *r, const char *mod, const json_t *j, const char *key,
				 json_int_t lo, json_int_t hi)
{
	json_int_t v = 0;

	if (jsonck_int(json_object_get(j, key), lo, hi, &v) < 0)
		ckr_fail(r, "%s: %s: not an integer in %lld..%lld", mod, key, (long long)lo,
			 (long long)hi);
	return v;
}

/* The boolean j.key, or false with the problem recorded. */
static inline bool ckf_bool(struct ckr *r, const char *mod, const json_t *j, const char *key)
{
	const json_t *v = json_object_get(j, key);

	if (!json_is_boolean(v))
		ckr_fail(r, "%s: %s: not a boolean", mod, key);
	return json_is_true(v);
}

/* The 64-bit word j.key written by jsonck_u64(v, true), or 0 with the
 * problem recorded. */
static inline uint64_t ckf_u64(struct ckr *r, const char *mod, const json_t *j, const char *key)
{
	uint64_t v = 0;

	if (jsonck_u64_read(json_object_get(j, key), true, &v) < 0)
		ckr_fail(r, "%s: %s: not 16 hex digits", mod, key);
	return v;
}

/* Appends v (a part just written) to a; a part that could not be written
 * (out of memory, a text that is not UTF-8) fails the writer instead of
 * leaving a shorter array. */
static inline void ckf_push(struct ckw *w, json_t *a, json_t *v, const char *what)
{
	if (!v || json_array_append_new(a, v) < 0)
		ckw_fail(w, "%s: not written", what);
}

/* j, or NULL and a failed writer when j could not be built. */
static inline json_t *ckf_done(struct ckw *w, json_t *j, const char *what)
{
	if (!j)
		ckw_fail(w, "%s: not written", what);
	return j;
}

#endif
