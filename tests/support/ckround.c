/* A world's checkpoint round trip in the unit tests (ckround.h). */
#include "ckround.h"

#include <stdio.h>
#include <stdlib.h>

json_t *ckround_save(const struct sched *s, const struct ckfns *const *tables, size_t nt,
		     ckround_save_fn save, void *ctx, char *err, size_t errlen)
{
	struct ckw *w = ckw_new(tables, nt);
	json_t *j, *queue, *parts;
	char *text = NULL;

	if (!w) {
		snprintf(err, errlen, "no writer");
		return NULL;
	}
	queue = ckw_sched(w, s); /* before any timer */
	if (!(parts = save(w, ctx)))
		ckw_fail(w, "the parts: not written");
	j = json_pack("{s:I,s:o*,s:o*}", "at", (json_int_t)sched_now(s), "queue", queue, "parts",
		      parts);
	if (ckw_finish(w, err, errlen) < 0 || !j) {
		if (!j && err[0] == 0)
			snprintf(err, errlen, "not written");
		json_decref(j);
		ckw_free(w);
		return NULL;
	}
	ckw_free(w);
	/* through text, as the file goes */
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	j = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	if (!j)
		snprintf(err, errlen, "not written as text");
	return j;
}

const json_t *ckround_parts(const json_t *j)
{
	return json_object_get(j, "parts");
}

natbed_time_t ckround_at(const json_t *j)
{
	return (natbed_time_t)json_integer_value(json_object_get(j, "at"));
}

int ckround_load(const json_t *j, struct sched **s, const struct ckfns *const *tables, size_t nt,
		 ckround_load_fn load, void *ctx, char *err, size_t errlen)
{
	struct ckr *r = ckr_new(tables, nt);
	int rc;

	if (!r) {
		snprintf(err, errlen, "no reader");
		return -1;
	}
	err[0] = 0;
	if (load(r, json_object_get(j, "parts"), ctx) < 0)
		ckr_fail(r, "the parts could not be read");
	else if (!*s)
		ckr_fail(r, "no scheduler for the queue");
	if (*s)
		ckr_sched(r, *s, json_object_get(j, "queue"));
	rc = ckr_finish(r, err, errlen);
	ckr_free(r);
	return rc;
}

int ckround_again(const json_t *j, struct sched **s, const struct ckfns *const *tables, size_t nt,
		  ckround_save_fn save, ckround_load_fn load, void *ctx, char *err, size_t errlen)
{
	char why[256] = "";
	json_t *again;
	int rc = 0;

	if (ckround_load(j, s, tables, nt, load, ctx, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "load: %s", why);
		return -1;
	}
	again = ckround_save(*s, tables, nt, save, ctx, why, sizeof(why));
	if (!again)
		rc = -1, snprintf(err, errlen, "save: %s", why);
	else if (!json_equal(j, again))
		rc = -1, snprintf(err, errlen, "written again, the file differs");
	else
		err[0] = 0;
	json_decref(again);
	return rc;
}
