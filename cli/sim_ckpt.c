/* natbed sim's checkpoints (sim_ckpt.h). */
#include "sim_ckpt.h"

#include <errno.h>
#include <math.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "natbed/jsonck.h"
#include "results.h"
#include "rwbuf.h"

#ifndef NATBED_VERSION
#define NATBED_VERSION "unknown"
#endif

#define SIM_FNV_OFFSET	 1469598103934665603ull /* FNV-1a, 64 bits */
#define SIM_FNV_PRIME	 1099511628211ull
#define SIM_CKPT_TMP_MAX 4200 /* the temporary file's name: PATH_MAX and ".tmp.PID" */

uint64_t sim_ckpt_fold(uint64_t h, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (!h)
		h = SIM_FNV_OFFSET;
	while (len--)
		h = (h ^ *p++) * SIM_FNV_PRIME;
	return h;
}

uint64_t sim_ckpt_fold_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return sim_ckpt_fold(h, b, sizeof(b));
}

uint64_t sim_ckpt_fold_str(uint64_t h, const char *s)
{
	if (!s)
		s = "-";
	return sim_ckpt_fold(h, s, strlen(s) + 1);
}

static int sim_fold_chunk(const char *buf, size_t len, void *ctx)
{
	uint64_t *h = ctx;

	*h = sim_ckpt_fold(*h, buf, len);
	return 0;
}

/* FNV-1a over state's compact text, its keys sorted: the same for a
 * state written and read back (jansson writes a real with the 17 digits
 * that read back to it), another for any edit. */
static uint64_t sim_state_digest(const json_t *state)
{
	uint64_t h = 0;

	if (json_dump_callback(state, sim_fold_chunk, &h, JSON_COMPACT | JSON_SORT_KEYS) < 0)
		return 0;
	return h;
}

/* uint64 values as strings of decimal digits (JSON integers stop at
 * 2^63 - 1): jsonck_u64, and read back from o's member key. */
static int sim_get_u64(const json_t *o, const char *key, uint64_t *out)
{
	return jsonck_u64_read(json_object_get(o, key), false, out);
}

static json_t *sim_point_json(const struct sim_ckpt_point *pt)
{
	char digest[20];

	snprintf(digest, sizeof(digest), "%016" PRIx64, pt->digest);
	return json_pack(
	    "{s:o,s:I,s:o,s:o,s:o,s:s,s:o,s:o}", "events", jsonck_u64(pt->events, false), "round",
	    (json_int_t)pt->round, "jobs_started", jsonck_u64(pt->jobs_started, false), "jobs_done",
	    jsonck_u64(pt->jobs_done, false), "attempts", jsonck_u64(pt->attempts, false),
	    "attempts_digest", digest, "connects_alive", jsonck_u64(pt->alive, false),
	    "pending_events", jsonck_u64(pt->pending, false));
}

static int sim_point_read(const json_t *p, struct sim_ckpt_point *pt)
{
	const char *digest = json_string_value(json_object_get(p, "attempts_digest"));
	json_t *round = json_object_get(p, "round");
	char *end;

	if (!json_is_object(p) || sim_get_u64(p, "events", &pt->events) < 0 ||
	    sim_get_u64(p, "jobs_started", &pt->jobs_started) < 0 ||
	    sim_get_u64(p, "jobs_done", &pt->jobs_done) < 0 ||
	    sim_get_u64(p, "attempts", &pt->attempts) < 0 ||
	    sim_get_u64(p, "connects_alive", &pt->alive) < 0 ||
	    sim_get_u64(p, "pending_events", &pt->pending) < 0 || !json_is_integer(round) ||
	    json_integer_value(round) < 0 || !digest || strlen(digest) != 16)
		return -1;
	pt->round = (unsigned)json_integer_value(round);
	pt->digest = strtoull(digest, &end, 16);
	return *end ? -1 : 0;
}

/* A checkpoint's text on its way to its file, RW_FLUSH_AT bytes at a
 * time: jansson hands over a token at a time, and a stdio call each (a
 * lock, a copy) was a fifth of a checkpoint's time. */
struct sim_out {
	struct rw_buf b;
	FILE *f;
};

static int sim_out_add(const char *buf, size_t len, void *ctx)
{
	struct sim_out *o = ctx;

	rw_putn(&o->b, buf, len);
	return o->b.len >= RW_FLUSH_AT ? rw_flush(&o->b, o->f) : o->b.failed ? -1 : 0;
}

/* The temporary file a checkpoint is written through: 0, or -1 when
 * path is too long for it. */
static int sim_ckpt_tmp(const char *path, char *tmp, size_t len)
{
	return snprintf(tmp, len, "%s.tmp.%d", path, (int)getpid()) >= (int)len ? -1 : 0;
}

int sim_ckpt_probe(const char *path, char *err, size_t errlen)
{
	char tmp[SIM_CKPT_TMP_MAX];
	struct stat st;
	FILE *f = NULL;
	int e = 0;

	if (sim_ckpt_tmp(path, tmp, sizeof(tmp)) < 0)
		e = ENAMETOOLONG;
	else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		e = EISDIR; /* the rename into place would fail */
	else if (!(f = fopen(tmp, "w")))
		e = errno;
	if (f) {
		fclose(f);
		unlink(tmp);
	}
	if (e)
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(e));
	return e ? -1 : 0;
}

int sim_ckpt_write(const char *path, const struct sim_ckpt_head *head,
		   const struct sim_ckpt_point *pt, const json_t *engines, const json_t *state,
		   char *err, size_t errlen)
{
	json_t *all = json_pack("{s:i,s:s,s:s,s:s,s:s%,s:O,s:o,s:o,s:o,s:O}",
				"natbed_sim_checkpoint", SIM_CKPT_FORMAT, "natbed_version",
				NATBED_VERSION, "topology", head->topology, "topology_file",
				head->topology_file, "topology_yaml", head->yaml, head->yaml_len,
				"settings", head->settings, "seed", jsonck_u64(head->seed, false),
				"at_ns", jsonck_u64((uint64_t)pt->at_ns, false), "progress",
				sim_point_json(pt), "engines", engines);

	if (all && state) {
		char digest[20];

		snprintf(digest, sizeof(digest), "%016" PRIx64, sim_state_digest(state));
		if (json_object_set(all, "state", (json_t *)state) < 0 ||
		    json_object_set_new(all, "state_digest", json_string(digest)) < 0) {
			json_decref(all);
			all = NULL;
		}
	}
	char tmp[SIM_CKPT_TMP_MAX];
	FILE *f = NULL;
	int e = 0;

	if (!all) {
		snprintf(err, errlen, "%s: out of memory (or a topology that is not UTF-8)", path);
		return -1;
	}
	if (sim_ckpt_tmp(path, tmp, sizeof(tmp)) < 0)
		e = ENAMETOOLONG;
	else if (!(f = fopen(tmp, "w")))
		e = errno;
	else {
		struct sim_out out = {.f = f};

		if (json_dump_callback(all, sim_out_add, &out, JSON_INDENT(1) | JSON_SORT_KEYS) <
			0 ||
		    rw_flush(&out.b, f) < 0 || fflush(f) != 0)
			e = errno ? errno : EIO;
		rw_free(&out.b);
	}
	if (f && fclose(f) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e && f)
		unlink(tmp);
	json_decref(all);
	if (e) {
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(e));
		return -1;
	}
	return 0;
}

int sim_ckpt_load(const char *path, struct sim_ckpt *ck, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *yaml;
	uint64_t at;
	FILE *f;

	memset(ck, 0, sizeof(*ck));
	if (!(f = fopen(path, "r"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	ck->root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (!ck->root) {
		snprintf(err, errlen, "%s:%d: not a natbed sim checkpoint (%s)", path, jerr.line,
			 jerr.text);
		return -1;
	}
	if (json_integer_value(json_object_get(ck->root, "natbed_sim_checkpoint")) !=
	    SIM_CKPT_FORMAT) {
		snprintf(err, errlen, "%s: not a natbed sim checkpoint of format %d", path,
			 SIM_CKPT_FORMAT);
		goto fail;
	}
	yaml = json_object_get(ck->root, "topology_yaml");
	ck->yaml = json_string_value(yaml);
	ck->yaml_len = json_string_length(yaml);
	ck->topology_file = json_string_value(json_object_get(ck->root, "topology_file"));
	ck->settings = json_object_get(ck->root, "settings");
	ck->engines = json_object_get(ck->root, "engines");
	ck->state = json_object_get(ck->root, "state");
	if ((ck->state && !json_is_object(ck->state)) || !ck->yaml || !ck->topology_file ||
	    !json_is_object(ck->settings) || !json_is_object(ck->engines) ||
	    sim_get_u64(ck->root, "seed", &ck->seed) < 0 ||
	    sim_get_u64(ck->root, "at_ns", &at) < 0 || at > (uint64_t)INT64_MAX ||
	    sim_point_read(json_object_get(ck->root, "progress"), &ck->pt) < 0) {
		snprintf(err, errlen,
			 "%s: a part is missing or malformed (topology_yaml, topology_file, "
			 "settings, seed, at_ns, progress, engines, state)",
			 path);
		goto fail;
	}
	ck->pt.at_ns = (natbed_time_t)at;
	if (ck->state) {
		const char *want = json_string_value(json_object_get(ck->root, "state_digest"));
		char got[20];

		snprintf(got, sizeof(got), "%016" PRIx64, sim_state_digest(ck->state));
		if (!want || strcmp(want, got) != 0) {
			snprintf(err, errlen,
				 "%s: state: edited or damaged (its digest is not state_digest)",
				 path);
			goto fail;
		}
	}
	return 0;
fail:
	sim_ckpt_free(ck);
	return -1;
}

void sim_ckpt_free(struct sim_ckpt *ck)
{
	json_decref(ck->root);
	memset(ck, 0, sizeof(*ck));
}

/* Whether two values differ; where gets the path (".a.b") of the first
 * member that does, appended. */
static bool sim_diff(const json_t *want, const json_t *got, char *where, size_t len)
{
	const char *key;
	json_t *v;
	size_t used = strlen(where);

	if (json_equal(want, got))
		return false;
	if (!json_is_object(want) || !json_is_object(got))
		return true;
	json_object_foreach((json_t *)want, key, v)
	{
		if (json_equal(v, json_object_get(got, key)))
			continue;
		snprintf(where + used, len - used, ".%s", key);
		sim_diff(v, json_object_get(got, key), where, len);
		return true;
	}
	json_object_foreach((json_t *)got, key, v)
	{
		if (json_object_get(want, key))
			continue;
		snprintf(where + used, len - used, ".%s", key);
		return true;
	}
	return true;
}

int sim_ckpt_verify(const struct sim_ckpt *ck, const char *path, bool replayed,
		    const struct sim_ckpt_point *pt, const json_t *engines, char *err,
		    size_t errlen)
{
	const struct sim_ckpt_point *w = &ck->pt;
	char where[512] = "engines";
	const char *what = NULL;

	if (pt->events != w->events)
		what = "progress.events";
	else if (pt->round != w->round || pt->jobs_started != w->jobs_started ||
		 pt->jobs_done != w->jobs_done || pt->alive != w->alive)
		what = "progress (round, connects started, done or running)";
	else if (pt->attempts != w->attempts || pt->digest != w->digest)
		what = "progress (the attempts recorded)";
	else if (pt->pending != w->pending)
		what = "progress.pending_events";
	else if (sim_diff(ck->engines, engines, where, sizeof(where)))
		what = where;
	if (!what)
		return 0;
	snprintf(err, errlen,
		 "%s: %s differs after %s %.3f s: a checkpoint of another natbed build, or of "
		 "another file",
		 path, what, replayed ? "replaying to" : "restoring the state at",
		 (double)ck->pt.at_ns / NATBED_NS_PER_S);
	return -1;
}

/* --- the attempts so far ----------------------------------------------------- */

static json_t *sim_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* A real, exactly (jansson writes 17 digits); NAN as null. */
static json_t *sim_real(double x)
{
	return isnan(x) ? json_null() : json_real(x);
}

static json_t *sim_attempt_json(const struct res_attempt *a)
{
	json_t *tried = json_array();

	for (size_t i = 0; tried && i < a->n_tried; i++) {
		const struct res_try *t = &a->tried[i];

		if (json_array_append_new(tried, json_pack("[sboo]", t->method, t->success,
							   sim_real(t->ms), sim_str(t->reason))) <
		    0) {
			json_decref(tried);
			return NULL;
		}
	}
	return json_pack("[ssssoboooooooooooo]", a->a, a->b, a->nat_a, a->nat_b, sim_str(a->method),
			 a->success, sim_real(a->setup_ms), sim_real(a->rtt_ms), sim_real(a->loss),
			 sim_str(a->path), sim_str(a->local), sim_str(a->remote),
			 sim_str(a->reason), json_real(a->t_s), sim_real(a->auth_ms),
			 sim_str(a->gate), sim_str(a->trust), tried);
}

json_t *sim_ckpt_attempts(struct results *r)
{
	size_t n = results_n_attempts(r);
	struct rw_buf t = {0};
	json_t *all = NULL;
	bool bad = false;

	for (size_t i = 0; !bad && i < n; i++) {
		const struct res_attempt *a = results_attempt(r, i);
		json_t *j = a ? sim_attempt_json(a) : NULL;
		char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;

		bad = !line;
		if (line) {
			rw_puts(line, &t);
			rw_putc('\n', &t);
		}
		free(line);
		json_decref(j);
	}
	if (!bad && !t.failed)
		all = json_stringn_nocheck(t.len ? t.p : "", t.len);
	rw_free(&t);
	return all;
}

/* j as a string or null into *out (NULL). 0, or -1. */
static int sim_str_read(const json_t *j, const char **out)
{
	if (!json_is_null(j) && !json_is_string(j))
		return -1;
	*out = json_string_value(j);
	return 0;
}

/* j as a real or null (NAN) into *out. 0, or -1. */
static int sim_real_read(const json_t *j, double *out)
{
	if (!json_is_null(j) && !json_is_number(j))
		return -1;
	*out = json_is_null(j) ? NAN : json_number_value(j);
	return 0;
}

/* Attempt e (sim_attempt_json's) added to r. 0, or -1. */
static int sim_attempt_add(struct results *r, const json_t *e)
{
	struct res_try tried[RESULTS_TRIES_MAX];
	const json_t *tl = json_array_get(e, 17), *t;
	struct res_attempt a = {.tried = tried};
	size_t k;
	int bad = json_array_size(e) != 18 || !json_is_array(tl) ||
		  json_array_size(tl) > RESULTS_TRIES_MAX ||
		  !json_is_boolean(json_array_get(e, 5)) || !json_is_number(json_array_get(e, 13));

	a.a = json_string_value(json_array_get(e, 0));
	a.b = json_string_value(json_array_get(e, 1));
	a.nat_a = json_string_value(json_array_get(e, 2));
	a.nat_b = json_string_value(json_array_get(e, 3));
	a.success = json_is_true(json_array_get(e, 5));
	a.t_s = json_number_value(json_array_get(e, 13));
	bad = bad || sim_str_read(json_array_get(e, 4), &a.method) < 0 ||
	      sim_real_read(json_array_get(e, 6), &a.setup_ms) < 0 ||
	      sim_real_read(json_array_get(e, 7), &a.rtt_ms) < 0 ||
	      sim_real_read(json_array_get(e, 8), &a.loss) < 0 ||
	      sim_str_read(json_array_get(e, 9), &a.path) < 0 ||
	      sim_str_read(json_array_get(e, 10), &a.local) < 0 ||
	      sim_str_read(json_array_get(e, 11), &a.remote) < 0 ||
	      sim_str_read(json_array_get(e, 12), &a.reason) < 0 ||
	      sim_real_read(json_array_get(e, 14), &a.auth_ms) < 0 ||
	      sim_str_read(json_array_get(e, 15), &a.gate) < 0 ||
	      sim_str_read(json_array_get(e, 16), &a.trust) < 0;
	json_array_foreach(tl, k, t)
	{
		if (bad)
			break;
		tried[k].method = json_string_value(json_array_get(t, 0));
		tried[k].success = json_is_true(json_array_get(t, 1));
		bad = json_array_size(t) != 4 || !json_is_boolean(json_array_get(t, 1)) ||
		      sim_real_read(json_array_get(t, 2), &tried[k].ms) < 0 ||
		      sim_str_read(json_array_get(t, 3), &tried[k].reason) < 0;
	}
	a.n_tried = json_array_size(tl);
	return bad || results_add_attempt(r, &a) < 0 ? -1 : 0;
}

int sim_ckpt_attempts_add(struct results *r, const json_t *all, char *err, size_t errlen)
{
	const char *s = json_string_value(all), *end = s + json_string_length(all), *nl;
	size_t i;

	if (!s) {
		snprintf(err, errlen, "state.attempts: not a text of lines");
		return -1;
	}
	for (i = 0; s < end; i++, s = nl + 1) {
		json_t *e;
		int rc;

		if (!(nl = memchr(s, '\n', (size_t)(end - s)))) {
			snprintf(err, errlen, "state.attempts: line %zu: not ended", i + 1);
			return -1;
		}
		e = json_loadb(s, (size_t)(nl - s), 0, NULL);
		rc = e ? sim_attempt_add(r, e) : -1;
		json_decref(e);
		if (rc < 0) {
			snprintf(err, errlen, "state.attempts: line %zu: malformed", i + 1);
			return -1;
		}
	}
	return 0;
}
