/* natbed checkpoints of an object graph (natbed/ckpt.h). */
#include "natbed/ckpt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/strcopy.h"

#define CK_ERR_MAX 256
#define CK_IDS_MAX (1u << 28) /* objects in one file, at most */

/* --- a map of nonzero 64-bit keys to 64-bit values ---------------------- */

struct u64map {
	uint64_t *key, *val; /* key 0: an empty cell */
	size_t cap, n;	     /* cap a power of two, n < cap * 3 / 4 */
};

static size_t u64map_cell(const struct u64map *m, uint64_t key)
{
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & (m->cap - 1);

	while (m->key[i] && m->key[i] != key)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int u64map_grow(struct u64map *m)
{
	struct u64map g = {.cap = m->cap ? m->cap * 2 : 256, .n = m->n};

	if (!(g.key = calloc(g.cap, sizeof(*g.key))) || !(g.val = calloc(g.cap, sizeof(*g.val)))) {
		free(g.key);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->key[i]) {
			size_t c = u64map_cell(&g, m->key[i]);

			g.key[c] = m->key[i];
			g.val[c] = m->val[i];
		}
	free(m->key);
	free(m->val);
	*m = g;
	return 0;
}

/* The value of key, or NULL when absent. */
static uint64_t *u64map_get(const struct u64map *m, uint64_t key)
{
	size_t c;

	if (!m->cap)
		return NULL;
	c = u64map_cell(m, key);
	return m->key[c] ? &m->val[c] : NULL;
}

/* The value of key, added as 0 when absent; NULL on ENOMEM. */
static uint64_t *u64map_put(struct u64map *m, uint64_t key)
{
	size_t c;

	if ((m->n + 1) * 4 >= m->cap * 3 && u64map_grow(m) < 0)
		return NULL;
	c = u64map_cell(m, key);
	if (!m->key[c]) {
		m->key[c] = key;
		m->val[c] = 0;
		m->n++;
	}
	return &m->val[c];
}

static void u64map_free(struct u64map *m)
{
	free(m->key);
	free(m->val);
	*m = (struct u64map){0};
}

/* --- the tables ------------------------------------------------------------ */

/* A function or static object of the tables, by its address. */
struct ck_named {
	uintptr_t key;
	const struct ckfns *t;
	const char *name;
	const struct ckfn *e; /* a function's entry; NULL for a static object */
};

static int ck_named_cmp(const void *a, const void *b)
{
	uintptr_t x = ((const struct ck_named *)a)->key, y = ((const struct ck_named *)b)->key;

	return x < y ? -1 : x > y;
}

/* Every function (vars false) or static object (true) of tables, sorted
 * by address. 0, or -1 (ENOMEM, or one address twice). */
static int ck_index(const struct ckfns *const *tables, size_t n, bool vars, struct ck_named **out,
		    size_t *count)
{
	size_t total = 0, k = 0;
	struct ck_named *a;

	for (size_t i = 0; i < n; i++)
		total += vars ? tables[i]->n_vars : tables[i]->n;
	if (!(a = malloc((total ? total : 1) * sizeof(*a))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct ckfns *t = tables[i];

		for (size_t j = 0; j < (vars ? t->n_vars : t->n); j++)
			a[k++] = vars ? (struct ck_named){(uintptr_t)t->vars[j].p, t,
							  t->vars[j].name, NULL}
				      : (struct ck_named){(uintptr_t)t->fns[j].fn, t,
							  t->fns[j].name, &t->fns[j]};
	}
	qsort(a, total, sizeof(*a), ck_named_cmp);
	for (k = 1; k < total; k++)
		if (a[k].key == a[k - 1].key) {
			free(a);
			return -1;
		}
	*out = a;
	*count = total;
	return 0;
}

static const struct ck_named *ck_find(const struct ck_named *a, size_t n, uintptr_t key)
{
	struct ck_named k = {.key = key};

	return n ? bsearch(&k, a, n, sizeof(*a), ck_named_cmp) : NULL;
}

/* "module.name" of a, as JSON. */
static json_t *ck_name(const struct ck_named *a)
{
	return json_sprintf("%s.%s", a->t->module, a->name);
}

/* The table called like name's "module." part, or NULL; *rest what
 * follows the dot. */
static const struct ckfns *ck_module(const struct ckfns *const *tables, size_t n, const char *name,
				     const char **rest)
{
	const char *dot = strchr(name, '.');

	for (size_t i = 0; dot && i < n; i++)
		if (strlen(tables[i]->module) == (size_t)(dot - name) &&
		    !strncmp(tables[i]->module, name, (size_t)(dot - name))) {
			*rest = dot + 1;
			return tables[i];
		}
	return NULL;
}

/* The function entry named "module.name" in tables, or NULL. */
static const struct ckfn *ckfn_named(const struct ckfns *const *tables, size_t n, const char *name)
{
	const char *rest;
	const struct ckfns *t = ck_module(tables, n, name, &rest);

	for (size_t j = 0; t && j < t->n; j++)
		if (!strcmp(t->fns[j].name, rest))
			return &t->fns[j];
	return NULL;
}

/* The static object named "module.name" in tables, or NULL. */
static const void *ckvar_named(const struct ckfns *const *tables, size_t n, const char *name)
{
	const char *rest;
	const struct ckfns *t = ck_module(tables, n, name, &rest);

	for (size_t j = 0; t && j < t->n_vars; j++)
		if (!strcmp(t->vars[j].name, rest))
			return t->vars[j].p;
	return NULL;
}

/* --- writing -------------------------------------------------------- */

#define CKW_WRITTEN (1ull << 63) /* in an object's value: ckw_obj() saw it */

struct ckw {
	struct ck_named *fns, *vars;
	size_t n_fns, n_vars;
	struct u64map objs;   /* pointer -> id, CKW_WRITTEN once written */
	struct u64map timers; /* event id -> its place in the queue, from 1 */
	uint64_t next_id;
	bool sched_written;
	char err[CK_ERR_MAX];
};

struct ckw *ckw_new(const struct ckfns *const *tables, size_t n)
{
	struct ckw *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	if (ck_index(tables, n, false, &w->fns, &w->n_fns) < 0 ||
	    ck_index(tables, n, true, &w->vars, &w->n_vars) < 0) {
		free(w->fns);
		free(w);
		return NULL;
	}
	w->next_id = 1;
	return w;
}

void ckw_free(struct ckw *w)
{
	if (!w)
		return;
	free(w->fns);
	free(w->vars);
	u64map_free(&w->objs);
	u64map_free(&w->timers);
	free(w);
}

bool ckw_failed(const struct ckw *w)
{
	return w->err[0] != 0;
}

int ckw_fail(struct ckw *w, const char *fmt, ...)
{
	va_list ap;

	if (w->err[0])
		return -1;
	va_start(ap, fmt);
	vsnprintf(w->err, sizeof(w->err), fmt, ap);
	va_end(ap);
	if (!w->err[0])
		str_copy(w->err, sizeof(w->err), "checkpoint: error");
	return -1;
}

/* p's entry in objs, given an id on first sight; NULL on ENOMEM. */
static uint64_t *ckw_entry(struct ckw *w, const void *p)
{
	uint64_t *v = u64map_put(&w->objs, (uint64_t)(uintptr_t)p);

	if (!v) {
		ckw_fail(w, "checkpoint: out of memory");
		return NULL;
	}
	if (!*v)
		*v = w->next_id++;
	return v;
}

json_t *ckw_ref(struct ckw *w, const void *p)
{
	const struct ck_named *var;
	uint64_t *v;

	if (!p)
		return json_null();
	if ((var = ck_find(w->vars, w->n_vars, (uintptr_t)p)))
		return ck_name(var);
	if (!(v = ckw_entry(w, p)))
		return NULL;
	return json_integer((json_int_t)(*v & ~CKW_WRITTEN));
}

json_t *ckw_obj(struct ckw *w, const void *p)
{
	uint64_t *v;

	if (!p) {
		ckw_fail(w, "checkpoint: a NULL object written");
		return NULL;
	}
	if (!(v = ckw_entry(w, p)))
		return NULL;
	if (*v & CKW_WRITTEN) {
		ckw_fail(w, "checkpoint: object %llu written twice",
			 (unsigned long long)(*v & ~CKW_WRITTEN));
		return NULL;
	}
	*v |= CKW_WRITTEN;
	return json_integer((json_int_t)(*v & ~CKW_WRITTEN));
}

/* fn's table entry, or NULL (an error recorded). */
static const struct ck_named *ckw_fn_entry(struct ckw *w, ckfn_ptr fn)
{
	const struct ck_named *a = ck_find(w->fns, w->n_fns, (uintptr_t)fn);

	if (!a)
		ckw_fail(w, "checkpoint: function at %p is in no module's table",
			 (void *)(uintptr_t)fn);
	return a;
}

json_t *ckw_fn(struct ckw *w, ckfn_ptr fn)
{
	const struct ck_named *a;

	if (!fn)
		return json_null();
	if (!(a = ckw_fn_entry(w, fn)))
		return NULL;
	return ck_name(a);
}

json_t *ckw_bytes(struct ckw *w, const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = p;
	char *hex = malloc(2 * n + 1);
	json_t *j;

	if (!hex) {
		ckw_fail(w, "checkpoint: out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[b[i] >> 4];
		hex[2 * i + 1] = digits[b[i] & 15];
	}
	hex[2 * n] = 0;
	j = json_stringn(hex, 2 * n);
	free(hex);
	return j;
}

struct ckw_queue {
	struct ckw *w;
	json_t *q;
};

static int ckw_event(void *ctx, const struct sched_event *e)
{
	struct ckw_queue *cq = ctx;
	struct ckw *w = cq->w;
	const struct ck_named *a = ckw_fn_entry(w, (ckfn_ptr)e->fn);
	json_t *arg, *ev;
	uint64_t *place;

	if (!a)
		return -1;
	arg = a->e->save_arg ? a->e->save_arg(w, e->arg) : ckw_ref(w, e->arg);
	if (!arg)
		return ckw_fail(w, "checkpoint: the argument of an event of %s.%s", a->t->module,
				a->name);
	ev = json_pack("[Ioo]", (json_int_t)e->due, ck_name(a), arg);
	if (!ev || !(place = u64map_put(&w->timers, e->id)) || json_array_append_new(cq->q, ev) < 0)
		return ckw_fail(w, "checkpoint: out of memory");
	*place = json_array_size(cq->q);
	return 0;
}

json_t *ckw_sched(struct ckw *w, const struct sched *s)
{
	struct ckw_queue cq = {w, json_array()};
	int rc;

	if (!cq.q) {
		ckw_fail(w, "checkpoint: out of memory");
		return NULL;
	}
	if ((rc = sched_each(s, ckw_event, &cq)) != 0) {
		if (rc == -ENOMEM)
			ckw_fail(w, "checkpoint: out of memory");
		json_decref(cq.q);
		return NULL;
	}
	w->sched_written = true;
	return cq.q;
}

json_t *ckw_timer(struct ckw *w, uint64_t id)
{
	const uint64_t *place;

	if (!id)
		return json_integer(0);
	if (!w->sched_written) {
		ckw_fail(w, "checkpoint: a timer written before the scheduler's queue");
		return NULL;
	}
	place = u64map_get(&w->timers, id);
	return json_integer(place ? (json_int_t)*place : -1);
}

int ckw_finish(struct ckw *w, char *err, size_t errlen)
{
	size_t unwritten = 0;
	uint64_t first = 0;

	for (size_t i = 0; i < w->objs.cap; i++)
		if (w->objs.key[i] && !(w->objs.val[i] & CKW_WRITTEN) && !unwritten++)
			first = w->objs.val[i];
	if (unwritten)
		ckw_fail(
		    w,
		    "checkpoint: object %llu is referred to but written by no module (%zu such "
		    "objects)",
		    (unsigned long long)first, unwritten);
	if (w->err[0]) {
		str_copy(err, errlen, w->err);
		return -1;
	}
	return 0;
}

/* --- reading -------------------------------------------------------- */

struct ckr_ref {
	void *slot;
	uint64_t id;
};

struct ckr_timer {
	uint64_t *slot;
	json_int_t place;
};

struct ckr {
	const struct ckfns *const *tables;
	size_t n_tables;
	struct u64map objs; /* id -> pointer */
	struct ckr_ref *refs;
	size_t n_refs, cap_refs;
	struct ckr_timer *timers;
	size_t n_timers, cap_timers;
	struct sched *s;
	const json_t *queue;
	char err[CK_ERR_MAX];
};

struct ckr *ckr_new(const struct ckfns *const *tables, size_t n)
{
	struct ckr *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->tables = tables;
	r->n_tables = n;
	return r;
}

void ckr_free(struct ckr *r)
{
	if (!r)
		return;
	u64map_free(&r->objs);
	free(r->refs);
	free(r->timers);
	free(r);
}

bool ckr_failed(const struct ckr *r)
{
	return r->err[0] != 0;
}

int ckr_fail(struct ckr *r, const char *fmt, ...)
{
	va_list ap;

	if (r->err[0])
		return -1;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	if (!r->err[0])
		str_copy(r->err, sizeof(r->err), "checkpoint: error");
	return -1;
}

/* arr (of *cap elements of size sz) grown to hold at least need: the
 * array, or NULL (an error recorded; arr is still valid). */
static void *ckr_grow(struct ckr *r, void *arr, size_t *cap, size_t need, size_t sz)
{
	size_t c = *cap ? *cap : 64;
	void *g;

	if (need <= *cap)
		return arr;
	while (c < need)
		c *= 2;
	if (!(g = realloc(arr, c * sz))) {
		ckr_fail(r, "checkpoint: out of memory");
		return NULL;
	}
	memset((char *)g + *cap * sz, 0, (c - *cap) * sz);
	*cap = c;
	return g;
}

/* j as an object's id (> 0), or 0 with an error recorded. */
static uint64_t ckr_id(struct ckr *r, const json_t *j)
{
	json_int_t id = json_is_integer(j) ? json_integer_value(j) : 0;

	if (id <= 0 || (uint64_t)id >= CK_IDS_MAX) {
		ckr_fail(r, "checkpoint: not an object's id");
		return 0;
	}
	return (uint64_t)id;
}

int ckr_obj(struct ckr *r, const json_t *j, void *p)
{
	uint64_t id, *v;

	if (r->err[0] || !(id = ckr_id(r, j)))
		return -1;
	if (!p)
		return ckr_fail(r, "checkpoint: object %llu declared at NULL",
				(unsigned long long)id);
	if (!(v = u64map_put(&r->objs, id)))
		return ckr_fail(r, "checkpoint: out of memory");
	if (*v)
		return ckr_fail(r, "checkpoint: object %llu declared twice",
				(unsigned long long)id);
	*v = (uint64_t)(uintptr_t)p;
	return 0;
}

/* The object declared with id, or NULL. */
static void *ckr_find(const struct ckr *r, uint64_t id)
{
	const uint64_t *v = u64map_get(&r->objs, id);

	return v ? (void *)(uintptr_t)*v : NULL;
}

/* The static object named j, or NULL with an error recorded. */
static void *ckr_var(struct ckr *r, const json_t *j)
{
	const void *p = ckvar_named(r->tables, r->n_tables, json_string_value(j));

	if (!p)
		ckr_fail(r, "checkpoint: no static object %s in this natbed", json_string_value(j));
	return (void *)(uintptr_t)p;
}

void *ckr_get(struct ckr *r, const json_t *j)
{
	uint64_t id;

	if (json_is_null(j) || r->err[0])
		return NULL;
	if (json_is_string(j))
		return ckr_var(r, j);
	if (!(id = ckr_id(r, j)))
		return NULL;
	if (!ckr_find(r, id)) {
		ckr_fail(r, "checkpoint: object %llu used before it is built",
			 (unsigned long long)id);
		return NULL;
	}
	return ckr_find(r, id);
}

int ckr_ref(struct ckr *r, const json_t *j, void *slot)
{
	uint64_t id = 0;
	void *null = NULL;
	struct ckr_ref *refs;

	if (r->err[0])
		return -1;
	if (json_is_null(j) || json_is_string(j)) {
		void *p = json_is_null(j) ? null : ckr_var(r, j);

		if (r->err[0])
			return -1;
		memcpy(slot, &p, sizeof(p));
		return 0;
	}
	if (!(id = ckr_id(r, j)) ||
	    !(refs = ckr_grow(r, r->refs, &r->cap_refs, r->n_refs + 1, sizeof(*refs))))
		return -1;
	r->refs = refs;
	r->refs[r->n_refs++] = (struct ckr_ref){slot, id};
	return 0;
}

int ckr_fn(struct ckr *r, const json_t *j, ckfn_ptr *out)
{
	const struct ckfn *e;

	if (r->err[0])
		return -1;
	if (json_is_null(j)) {
		*out = NULL;
		return 0;
	}
	if (!json_is_string(j))
		return ckr_fail(r, "checkpoint: not a function's name");
	if (!(e = ckfn_named(r->tables, r->n_tables, json_string_value(j))))
		return ckr_fail(r, "checkpoint: no function %s in this natbed",
				json_string_value(j));
	*out = e->fn;
	return 0;
}

static int ckr_hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int ckr_bytes(struct ckr *r, const json_t *j, void *out, size_t n)
{
	const char *hex = json_string_value(j);
	uint8_t *b = out;

	if (r->err[0])
		return -1;
	if (!hex || json_string_length(j) != 2 * n)
		return ckr_fail(r, "checkpoint: not %zu bytes in hex", n);
	for (size_t i = 0; i < n; i++) {
		int hi = ckr_hexval(hex[2 * i]), lo = ckr_hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return ckr_fail(r, "checkpoint: not %zu bytes in hex", n);
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int ckr_timer(struct ckr *r, const json_t *j, uint64_t *slot)
{
	struct ckr_timer *timers;

	if (r->err[0])
		return -1;
	if (!json_is_integer(j) || json_integer_value(j) < -1)
		return ckr_fail(r, "checkpoint: not a timer");
	if (!(timers = ckr_grow(r, r->timers, &r->cap_timers, r->n_timers + 1, sizeof(*timers))))
		return -1;
	r->timers = timers;
	r->timers[r->n_timers++] = (struct ckr_timer){slot, json_integer_value(j)};
	return 0;
}

int ckr_sched(struct ckr *r, struct sched *s, const json_t *q)
{
	if (r->err[0])
		return -1;
	if (!json_is_array(q))
		return ckr_fail(r, "checkpoint: the scheduler's queue is not an array");
	if (r->queue)
		return ckr_fail(r, "checkpoint: two scheduler queues");
	r->s = s;
	r->queue = q;
	return 0;
}

/* Schedules the queue on r->s; ids[i] the id of its entry i + 1. */
static int ckr_schedule(struct ckr *r, uint64_t *ids)
{
	natbed_time_t now = sched_now(r->s);
	size_t i;
	const json_t *ev;

	if (sched_pending(r->s))
		return ckr_fail(
		    r, "checkpoint: the scheduler has events before its queue is restored");
	json_array_foreach(r->queue, i, ev)
	{
		const json_t *arg = json_array_get(ev, 2);
		json_int_t due = json_integer_value(json_array_get(ev, 0));
		const char *name = json_string_value(json_array_get(ev, 1));
		const struct ckfn *e;
		void *a;

		if (json_array_size(ev) != 3 || !json_is_integer(json_array_get(ev, 0)) || !name)
			return ckr_fail(r, "checkpoint: queue[%zu]: not [due_ns, function, arg]",
					i);
		if (due < now)
			return ckr_fail(
			    r, "checkpoint: queue[%zu]: due before the checkpoint's time", i);
		if (!(e = ckfn_named(r->tables, r->n_tables, name)))
			return ckr_fail(r, "checkpoint: queue[%zu]: no function %s in this natbed",
					i, name);
		a = e->load_arg ? e->load_arg(r, arg) : ckr_get(r, arg);
		if (r->err[0])
			return -1;
		if (!a && !json_is_null(arg))
			return ckr_fail(r, "checkpoint: queue[%zu]: %s's argument", i, name);
		if (!(ids[i] = sched_at(r->s, (natbed_time_t)due, (sched_fn)e->fn, a)))
			return ckr_fail(r, "checkpoint: out of memory");
	}
	return 0;
}

/* Fills the pointers of refs[from..n_refs). */
static void ckr_patch(struct ckr *r, size_t from)
{
	for (size_t i = from; i < r->n_refs && !r->err[0]; i++) {
		uint64_t id = r->refs[i].id;
		void *p = ckr_find(r, id);

		if (!p)
			ckr_fail(r, "checkpoint: object %llu is referred to but not in the file",
				 (unsigned long long)id);
		else
			memcpy(r->refs[i].slot, &p, sizeof(p));
	}
}

int ckr_finish(struct ckr *r, char *err, size_t errlen)
{
	size_t n_events = r->queue ? json_array_size(r->queue) : 0, n_refs = r->n_refs;
	uint64_t *ids = calloc(n_events ? n_events : 1, sizeof(*ids));

	if (!ids)
		ckr_fail(r, "checkpoint: out of memory");
	ckr_patch(r, 0);
	if (!r->err[0] && r->queue)
		ckr_schedule(r, ids);
	ckr_patch(r, n_refs); /* those of the arguments the events built */
	for (size_t i = 0; i < r->n_timers && !r->err[0]; i++) {
		json_int_t place = r->timers[i].place;

		if (place > (json_int_t)n_events)
			ckr_fail(r, "checkpoint: timer %lld: no such event in the queue",
				 (long long)place);
		else
			*r->timers[i].slot = place == 0	   ? 0
					     : place == -1 ? SCHED_ID_STALE
							   : ids[place - 1];
	}
	free(ids);
	if (r->err[0]) {
		str_copy(err, errlen, r->err);
		return -1;
	}
	return 0;
}
