/* natbed agents: reading one object's fields back from a checkpoint
 * (natbed/ckpt.h) strictly, for the state machines' _ckpt_load and
 * _ckpt_fill: each reader checks type and range, and on a problem fails
 * the reader with "module: field: problem", marks the object bad and
 * returns a zero, so a loader reads every field and checks once, at the
 * end (g.bad), or with ckr_failed(r). An endpoint is dg_ep_ckpt_save()'s
 * ["A.B.C.D", port]. And the two writer checks they share (ckget_push,
 * ckget_done).
 */
#ifndef NATBED_AGENTS_CKGET_H
#define NATBED_AGENTS_CKGET_H

#include <arpa/inet.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dgram.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"

/* The fields of object o of module mod ("probe", "disc.tx"). */
struct ckget {
	struct ckr *r;
	const char *mod;
	const json_t *o;
	bool bad;
};

/* Fails the reader with "mod: key: what" (the first error stays). */
static inline void ckget_fail(struct ckget *g, const char *key, const char *what)
{
	g->bad = true;
	ckr_fail(g->r, "%s: %s: %s", g->mod, key, what);
}

/* o[key], present (any type), or NULL with a failure. */
static inline const json_t *ckget_get(struct ckget *g, const char *key)
{
	const json_t *j = json_is_object(g->o) ? json_object_get(g->o, key) : NULL;

	if (!j)
		ckget_fail(g, key, json_is_object(g->o) ? "missing" : "not in an object");
	return j;
}

/* An integer lo..hi. */
static inline json_int_t ckget_int(struct ckget *g, const char *key, json_int_t lo, json_int_t hi)
{
	const json_t *j = ckget_get(g, key);
	json_int_t v;

	if (!j)
		return 0;
	if (jsonck_int(j, lo, hi, &v) < 0) {
		ckget_fail(g, key, "not an integer in range");
		return 0;
	}
	return v;
}

/* A time or duration in ns (>= 0). */
static inline natbed_time_t ckget_time(struct ckget *g, const char *key)
{
	return (natbed_time_t)ckget_int(g, key, 0, INT64_MAX);
}

/* A duration in ns that must be > 0 (a retransmission timeout, an
 * interval: 0 would run its timer again at the same time, for ever). */
static inline natbed_time_t ckget_dur(struct ckget *g, const char *key)
{
	return (natbed_time_t)ckget_int(g, key, 1, INT64_MAX);
}

static inline bool ckget_bool(struct ckget *g, const char *key)
{
	const json_t *j = ckget_get(g, key);

	if (j && !json_is_boolean(j))
		ckget_fail(g, key, "not true or false");
	return json_is_true(j);
}

static inline double ckget_real(struct ckget *g, const char *key)
{
	const json_t *j = ckget_get(g, key);

	if (j && !json_is_real(j))
		ckget_fail(g, key, "not a real number");
	return json_is_real(j) ? json_real_value(j) : 0;
}

/* A 64-bit word as jsonck_u64(v, true) wrote it. */
static inline uint64_t ckget_u64(struct ckget *g, const char *key)
{
	const json_t *j = ckget_get(g, key);
	uint64_t v = 0;

	if (j && jsonck_u64_read(j, true, &v) < 0)
		ckget_fail(g, key, "not 16 hex digits");
	return v;
}

/* A string shorter than size, into out ("" on error). */
static inline void ckget_str(struct ckget *g, const char *key, char *out, size_t size)
{
	const json_t *j = ckget_get(g, key);

	out[0] = 0;
	if (!j)
		return;
	if (!json_is_string(j) || json_string_length(j) >= size ||
	    strlen(json_string_value(j)) != json_string_length(j)) {
		ckget_fail(g, key, "not a string that fits");
		return;
	}
	memcpy(out, json_string_value(j), json_string_length(j) + 1);
}

/* Exactly n bytes (ckw_bytes' hex) into out. */
static inline void ckget_bytes(struct ckget *g, const char *key, void *out, size_t n)
{
	const json_t *j = ckget_get(g, key);

	if (j && ckr_bytes(g->r, j, out, n) < 0)
		ckget_fail(g, key, "not the bytes expected");
}

/* At most max bytes (ckw_bytes' hex: a message, a request) into out:
 * how many (0 on error). */
static inline size_t ckget_bytes_max(struct ckget *g, const char *key, void *out, size_t max)
{
	const json_t *j = ckget_get(g, key);
	size_t n;

	if (!j)
		return 0;
	if (!json_is_string(j) || json_string_length(j) > 2 * max) {
		ckget_fail(g, key, "not bytes in hex that fit");
		return 0;
	}
	n = json_string_length(j) / 2;
	if (ckr_bytes(g->r, j, out, n) < 0) {
		ckget_fail(g, key, "not the bytes expected");
		return 0;
	}
	return n;
}

/* The endpoint dg_ep_ckpt_save() wrote (dg_ep_of_json()). */
static inline void ckget_ep(struct ckget *g, const char *key, struct dg_ep *ep)
{
	const json_t *j = ckget_get(g, key);

	ep->addr = 0;
	ep->port = 0;
	if (j && dg_ep_of_json(j, ep) < 0) {
		ep->addr = 0;
		ckget_fail(g, key, "not an endpoint [\"A.B.C.D\", port]");
	}
}

/* The checkpoint's own kinds, their failures marked: an object declared
 * here (ckr_obj), a pointer, a function, a timer. */
static inline void ckget_obj(struct ckget *g, const char *key, void *p)
{
	const json_t *j = ckget_get(g, key);

	if (j && ckr_obj(g->r, j, p) < 0)
		ckget_fail(g, key, "not an object's id");
}

static inline void ckget_ref(struct ckget *g, const char *key, void *slot)
{
	const json_t *j = ckget_get(g, key);

	if (j && ckr_ref(g->r, j, slot) < 0)
		ckget_fail(g, key, "not a reference");
}

static inline ckfn_ptr ckget_fn(struct ckget *g, const char *key)
{
	const json_t *j = ckget_get(g, key);
	ckfn_ptr f = NULL;

	if (j && ckr_fn(g->r, j, &f) < 0)
		ckget_fail(g, key, "not a function");
	return f;
}

static inline void ckget_timer(struct ckget *g, const char *key, uint64_t *slot)
{
	const json_t *j = ckget_get(g, key);

	if (j && ckr_timer(g->r, j, slot) < 0)
		ckget_fail(g, key, "not a timer");
}

/* Writing: appends v (a part just written) to a; a part that could not
 * be written (out of memory, a text that is not UTF-8) fails the writer
 * instead of leaving a shorter array. */
static inline void ckget_push(struct ckw *w, json_t *a, json_t *v, const char *what)
{
	if (!v || json_array_append_new(a, v) < 0)
		ckw_fail(w, "%s: not written", what);
}

/* j, or NULL and a failed writer when j could not be built. */
static inline json_t *ckget_done(struct ckw *w, json_t *j, const char *what)
{
	if (!j)
		ckw_fail(w, "%s: not written", what);
	return j;
}

#endif
