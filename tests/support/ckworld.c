/* A world kept as it is around checkpointed parts (ckworld.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckround.h"
#include "ckworld.h"

static void world_add(struct ckworld *cw, const void *p)
{
	for (size_t i = 0; i < cw->nobj; i++)
		if (cw->obj[i] == p)
			return;
	assert_true(cw->nobj < CKWORLD_OBJS);
	cw->obj[cw->nobj++] = p;
}

static bool is_parts(const struct ckworld *cw, ckfn_ptr f)
{
	for (size_t t = 0; t < cw->ntables; t++)
		for (size_t i = 0; i < cw->tables[t]->n; i++)
			if (cw->tables[t]->fns[i].fn == f)
				return true;
	return false;
}

static int world_event(void *ctx, const struct sched_event *e)
{
	struct ckworld *cw = ctx;
	ckfn_ptr f = (ckfn_ptr)e->fn;
	size_t i;

	if (is_parts(cw, f))
		return 0;
	for (i = 0; i < cw->nfns && cw->fns[i].fn != f; i++)
		;
	if (i == cw->nfns) {
		assert_true(cw->nfns < CKWORLD_FNS);
		snprintf(cw->names[i], sizeof(cw->names[i]), "w%zu", i);
		cw->fns[cw->nfns++] = (struct ckfn){cw->names[i], f, NULL, NULL};
	}
	if (e->arg)
		world_add(cw, e->arg);
	return 0;
}

void ckworld_init(struct ckworld *cw, const struct sched *s, const struct ckfns *const *parts,
		  size_t nparts, const void *const *objs, size_t nobj)
{
	memset(cw, 0, sizeof(*cw));
	assert_true(nparts < CKWORLD_TABLES);
	for (size_t i = 0; i < nparts; i++)
		cw->tables[cw->ntables++] = parts[i];
	assert_int_equal(sched_each(s, world_event, cw), 0);
	for (size_t i = 0; i < nobj; i++)
		world_add(cw, objs[i]);
	cw->table = (struct ckfns){"world", cw->fns, cw->nfns, NULL, 0};
	cw->tables[cw->ntables++] = &cw->table;
}

/* The parts with the world's objects' ids before them:
 * {"world": [ids], "parts": the test's}. */
struct inworld {
	const struct ckworld *cw;
	json_t *(*save)(struct ckw *w, void *ctx);
	void (*load)(struct ckr *r, const json_t *parts, void *ctx);
	void *ctx;
};

static json_t *inworld_save(struct ckw *w, void *arg)
{
	const struct inworld *iw = arg;
	json_t *world = json_array();

	for (size_t i = 0; i < iw->cw->nobj; i++)
		json_array_append_new(world, ckw_obj(w, iw->cw->obj[i]));
	return json_pack("{s:o,s:o*}", "world", world, "parts", iw->save(w, iw->ctx));
}

static int inworld_load(struct ckr *r, const json_t *j, void *arg)
{
	const struct inworld *iw = arg;
	const json_t *world = json_object_get(j, "world");

	assert_int_equal(json_array_size(world), iw->cw->nobj);
	for (size_t i = 0; i < iw->cw->nobj; i++)
		ckr_obj(r, json_array_get(world, i), (void *)(uintptr_t)iw->cw->obj[i]);
	iw->load(r, json_object_get(j, "parts"), iw->ctx);
	return 0;
}

json_t *ckworld_save(const struct ckworld *cw, const struct sched *s,
		     json_t *(*save)(struct ckw *w, void *ctx), void *ctx, char *err, size_t errlen)
{
	struct inworld iw = {cw, save, NULL, ctx};

	return ckround_save(s, cw->tables, cw->ntables, inworld_save, &iw, err, errlen);
}

int ckworld_load(const struct ckworld *cw, const json_t *j, struct sched *s,
		 void (*load)(struct ckr *r, const json_t *parts, void *ctx), void *ctx, char *err,
		 size_t errlen)
{
	struct inworld iw = {cw, NULL, load, ctx};

	return ckround_load(j, &s, cw->tables, cw->ntables, inworld_load, &iw, err, errlen);
}

const json_t *ckworld_parts(const json_t *j)
{
	return json_object_get(ckround_parts(j), "parts");
}

void ckworld_subst(struct ckworld *cw, const void *from, const void *to)
{
	for (size_t i = 0; i < cw->nobj; i++)
		if (cw->obj[i] == from)
			cw->obj[i] = to;
}

void ckworld_assert_equal(const json_t *j, const json_t *j2)
{
	char *a, *b;

	if (json_equal(j, j2))
		return;
	a = json_dumps(j, JSON_SORT_KEYS);
	b = json_dumps(j2, JSON_SORT_KEYS);
	print_error("saved:  %s\nloaded: %s\n", a, b);
	free(a);
	free(b);
	fail();
}

static int null_open(void *io, const struct dg_ep *bind, struct dg_ep *local, dg_recv_fn fn,
		     void *arg)
{
	return -EPERM;
}

static int null_send(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len)
{
	return -EPERM;
}

static void null_close(void *io, int sock)
{
}

static int null_set_recv(void *io, int sock, dg_recv_fn fn, void *arg)
{
	return -EPERM;
}

static const struct dgram_ops null_ops = {null_open, null_send, null_close, null_set_recv};

void ckworld_dgram(const struct dgram *d, struct sched *s, struct dgram *out)
{
	*out = *d;
	out->ops = &null_ops;
	out->s = s;
}
