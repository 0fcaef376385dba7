#include "learn.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEARN_VERSION 1

struct learn {
	json_t *pairs; /* {"PAIR":{"METHOD":{"attempts","successes","setup_ms_sum"}}} */
};

struct learn *learn_new(void)
{
	struct learn *l = calloc(1, sizeof(*l));

	if (l && !(l->pairs = json_object())) {
		free(l);
		return NULL;
	}
	return l;
}

/* Each entry must be {"attempts": n >= 0, "successes": 0..n, "setup_ms_sum": >= 0}. */
static int learn_entry_ok(const json_t *e)
{
	json_int_t a = -1, s = -1;
	double t = -1;

	if (json_unpack((json_t *)e, "{s:I,s:I,s:F}", "attempts", &a, "successes", &s,
			"setup_ms_sum", &t) < 0)
		return 0;
	return a >= 0 && s >= 0 && s <= a && t >= 0;
}

struct learn *learn_load(const char *path, char *err, size_t errlen)
{
	struct learn *l;
	json_error_t je;
	json_t *root, *pairs, *methods, *e;
	const char *pk, *mk;
	FILE *f = fopen(path, "r");

	if (!f)
		return learn_new(); /* nothing learned yet */
	root = json_loadf(f, 0, &je);
	fclose(f);
	if (!root) {
		snprintf(err, errlen, "%s:%d: not JSON: %s", path, je.line, je.text);
		return NULL;
	}
	pairs = json_object_get(root, "pairs");
	if (json_integer_value(json_object_get(root, "version")) != LEARN_VERSION ||
	    !json_is_object(pairs)) {
		snprintf(err, errlen, "%s: not a natbed learning file (version %d, pairs)", path,
			 LEARN_VERSION);
		json_decref(root);
		return NULL;
	}
	json_object_foreach(pairs, pk, methods)
	{
		if (!json_is_object(methods))
			goto bad;
		json_object_foreach(methods, mk, e) if (!learn_entry_ok(e)) goto bad;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		json_decref(root);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->pairs = json_incref(pairs);
	json_decref(root);
	return l;
bad:
	snprintf(err, errlen,
		 "%s: pairs.%s: each method needs attempts, successes <= attempts and "
		 "setup_ms_sum",
		 path, pk);
	json_decref(root);
	return NULL;
}

int learn_save(const struct learn *l, const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	json_t *root = json_pack("{s:i,s:O}", "version", LEARN_VERSION, "pairs", l->pairs);
	int rc = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		snprintf(err, errlen, "%s: path too long", path);
	else if (!root || json_dump_file(root, tmp, JSON_INDENT(1) | JSON_SORT_KEYS) < 0)
		snprintf(err, errlen, "%s: cannot write", tmp);
	else if (rename(tmp, path) < 0)
		snprintf(err, errlen, "%s: cannot rename to %s", tmp, path);
	else
		rc = 0;
	json_decref(root);
	return rc;
}

void learn_free(struct learn *l)
{
	if (!l)
		return;
	json_decref(l->pairs);
	free(l);
}

int learn_record(struct learn *l, const char *pair, const char *method, bool success,
		 double setup_ms)
{
	json_t *methods = json_object_get(l->pairs, pair), *e;

	if (!methods) {
		methods = json_object();
		if (!methods || json_object_set_new(l->pairs, pair, methods) < 0)
			return -1;
	}
	e = json_object_get(methods, method);
	if (!e) {
		e = json_pack("{s:i,s:i,s:f}", "attempts", 0, "successes", 0, "setup_ms_sum", 0.0);
		if (!e || json_object_set_new(methods, method, e) < 0)
			return -1;
	}
	json_object_set_new(e, "attempts",
			    json_integer(json_integer_value(json_object_get(e, "attempts")) + 1));
	if (success) {
		json_object_set_new(
		    e, "successes",
		    json_integer(json_integer_value(json_object_get(e, "successes")) + 1));
		json_object_set_new(
		    e, "setup_ms_sum",
		    json_real(json_number_value(json_object_get(e, "setup_ms_sum")) + setup_ms));
	}
	return 0;
}

void learn_get(const struct learn *l, const char *pair, const char *method, struct learn_counts *c)
{
	const json_t *e = l ? json_object_get(json_object_get(l->pairs, pair), method) : NULL;

	memset(c, 0, sizeof(*c));
	if (!e)
		return;
	c->attempts = (unsigned)json_integer_value(json_object_get(e, "attempts"));
	c->successes = (unsigned)json_integer_value(json_object_get(e, "successes"));
	c->setup_ms_sum = json_number_value(json_object_get(e, "setup_ms_sum"));
}
