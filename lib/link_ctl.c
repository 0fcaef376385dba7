/* natbed links: checkpoints of one link direction (natbed/link_ctl.h).
 * The link model (link.c) decides; this file serialises. */
#include "natbed/link_ctl.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_int.h"
#include "natbed/jsonck.h"
#include "natbed/strcopy.h"

/* Relative times a checkpoint may hold: far beyond any run (146 years),
 * and far enough from INT64_MIN/MAX that now + t never overflows. */
#define LINK_CK_REL_MAX (INT64_C(1) << 62)
/* Bytes one queued packet may have: an IPv4 datagram and its frame. */
#define LINK_CK_LEN_MAX (65535 + 14)

/* --- writing ------------------------------------------------------------- */

/* A count: an integer, or past INT64_MAX (a JSON integer is signed) its
 * decimal string. */
static json_t *link_ck_big(uint64_t v)
{
	return v <= INT64_MAX ? json_integer((json_int_t)v) : jsonck_u64(v, false);
}

/* A time relative to now, or null for "never" (INT64_MIN). */
static json_t *link_ck_rel(natbed_time_t t, natbed_time_t now)
{
	return t == INT64_MIN ? json_null() : json_integer((json_int_t)(t - now));
}

static json_t *link_ck_cfg(const struct link_cfg *c)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; i < c->target.n_list && i < LINK_TARGET_LIST_MAX; i++)
		json_array_append_new(list, link_ck_big(c->target.list[i]));
	return json_pack("{s:I,s:I,s:s,s:b,s:I,s:I,s:I,s:I,s:{s:s,s:f,s:f,s:f,s:f},"
			 "s:{s:I,s:I,s:o,s:b,s:i,s:i},s:f,s:f,s:b}",
			 "delay_ns", (json_int_t)c->delay_ns, "jitter_ns", (json_int_t)c->jitter_ns,
			 "jitter_dist", c->jitter_dist == LINK_JITTER_NORMAL ? "normal" : "uniform",
			 "reorder", c->reorder, "rate_bps", (json_int_t)c->rate_bps, "burst_bytes",
			 (json_int_t)c->burst_bytes, "queue_packets", (json_int_t)c->queue_packets,
			 "queue_bytes", (json_int_t)c->queue_bytes, "loss", "model", c->loss.model,
			 "p", c->loss.p, "r", c->loss.r, "h", c->loss.h, "k", c->loss.k, "target",
			 "first", (json_int_t)c->target.first, "every", (json_int_t)c->target.every,
			 "list", list, "match", c->target.match, "proto", c->target.proto, "port",
			 c->target.port, "dup", c->dup, "corrupt", c->corrupt, "down", c->down);
}

static json_t *link_ck_stats(const struct link_stats *st)
{
	json_t *drops = json_object();
	int d;

	for (d = 1; d < LINK_DROP_COUNT; d++)
		json_object_set_new(drops, link_drop_name((enum link_drop)d),
				    json_integer((json_int_t)st->dropped[d]));
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:o}", "packets", (json_int_t)st->packets, "bytes",
			 (json_int_t)st->bytes, "delivered", (json_int_t)st->delivered,
			 "duplicated", (json_int_t)st->duplicated, "corrupted",
			 (json_int_t)st->corrupted, "dropped", drops);
}

json_t *link_checkpoint(const struct link *l, natbed_time_t now)
{
	json_t *queue = json_array(), *flows = json_array();
	uint32_t i;

	/* packets that left the bucket by now are no longer waiting */
	for (i = 0; i < l->q_count; i++) {
		const struct link_qent *e = &l->q[(l->q_head + i) % l->q_cap];

		if (e->depart_ns > now)
			json_array_append_new(
			    queue,
			    json_pack("[I,i]", (json_int_t)(e->depart_ns - now), (int)e->len));
	}
	for (i = 0; i < l->ge_cap; i++) {
		const struct link_ge_flow *e = &l->ge[i];

		if (e->used)
			json_array_append_new(flows, json_pack("[i,o,I,b]", (int)i,
							       jsonck_u64(e->flow, true),
							       (json_int_t)e->next_seq, e->bad));
	}
	return json_pack("{s:s,s:i,s:o,s:o,s:o,s:{s:f,s:o},s:o,s:o,s:{s:i,s:o},s:o}", "name",
			 l->cfg.name, "dir", (int)l->cfg.dir, "seed",
			 jsonck_u64(l->cfg.seed, false), "key", jsonck_u64(l->cfg.key, true),
			 "config", link_ck_cfg(&l->cfg), "bucket", "tokens", l->tb_tokens, "at_ns",
			 link_ck_rel(l->tb_ns, now), "last_deliver_ns",
			 link_ck_rel(l->last_deliver_ns, now), "queue", queue, "ge", "cap",
			 (int)l->ge_cap, "flows", flows, "stats", link_ck_stats(&l->st));
}

/* --- reading ------------------------------------------------------------- */

/* A count 0..max: an integer, or a decimal string (link_ck_big()). */
static int link_ck_count(const json_t *j, uint64_t max, uint64_t *out)
{
	json_int_t v = json_integer_value(j);
	uint64_t u;

	if (json_is_string(j)) {
		if (jsonck_u64_read(j, false, &u) < 0 || u > max)
			return -1;
		*out = u;
		return 0;
	}
	if (!json_is_integer(j) || v < 0 || (uint64_t)v > max)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/* A relative time, or null for "never": an absolute time from now. */
static int link_ck_rel_read(const json_t *j, natbed_time_t now, natbed_time_t *out)
{
	json_int_t v = json_integer_value(j);

	if (json_is_null(j)) {
		*out = INT64_MIN;
		return 0;
	}
	if (!json_is_integer(j) || v < -LINK_CK_REL_MAX || v > LINK_CK_REL_MAX)
		return -1;
	*out = now + (natbed_time_t)v;
	return 0;
}

static int link_ck_prob(const json_t *j, double *out)
{
	double v = json_number_value(j);

	if (!json_is_number(j) || !(v >= 0.0 && v <= 1.0))
		return -1;
	*out = v;
	return 0;
}

static int link_ck_target_read(const json_t *j, struct link_target_cfg *t)
{
	const json_t *list = json_object_get(j, "list"), *v;
	uint64_t proto, port;
	size_t i;

	memset(t, 0, sizeof(*t));
	if (!json_is_object(j) || !json_is_array(list) ||
	    json_array_size(list) > LINK_TARGET_LIST_MAX ||
	    link_ck_count(json_object_get(j, "first"), UINT64_MAX, &t->first) < 0 ||
	    link_ck_count(json_object_get(j, "every"), UINT64_MAX, &t->every) < 0 ||
	    !json_is_boolean(json_object_get(j, "match")) ||
	    link_ck_count(json_object_get(j, "proto"), 255, &proto) < 0 ||
	    link_ck_count(json_object_get(j, "port"), 65535, &port) < 0)
		return -1;
	json_array_foreach(list, i, v)
	{
		if (link_ck_count(v, UINT64_MAX, &t->list[i]) < 0 || t->list[i] == 0)
			return -1;
	}
	t->n_list = json_array_size(list);
	t->match = json_is_true(json_object_get(j, "match"));
	t->proto = (uint8_t)proto;
	t->port = (uint16_t)port;
	return 0;
}

static int link_ck_loss_read(const json_t *j, struct link_loss_cfg *lc)
{
	const char *model = json_string_value(json_object_get(j, "model"));

	if (!model || strlen(model) >= sizeof(lc->model) ||
	    link_ck_prob(json_object_get(j, "p"), &lc->p) < 0 ||
	    link_ck_prob(json_object_get(j, "r"), &lc->r) < 0 ||
	    link_ck_prob(json_object_get(j, "h"), &lc->h) < 0 ||
	    link_ck_prob(json_object_get(j, "k"), &lc->k) < 0)
		return -1;
	str_copy(lc->model, sizeof(lc->model), model);
	return 0;
}

/* The parameters of j over c (whose identity stays): 0, or -1 naming the
 * bad one in err. */
static int link_ck_cfg_read(const json_t *j, struct link_cfg *c, char *err, size_t errlen)
{
	const char *dist = json_string_value(json_object_get(j, "jitter_dist"));
	uint64_t delay, jitter, burst, qpk;
	const char *bad = NULL;

	if (!json_is_object(j))
		bad = "config";
	else if (link_ck_count(json_object_get(j, "delay_ns"), LINK_TIME_MAX_NS, &delay) < 0 ||
		 link_ck_count(json_object_get(j, "jitter_ns"), LINK_TIME_MAX_NS, &jitter) < 0)
		bad = "config.delay_ns or jitter_ns (0 to 1 hour)";
	else if (!dist || (strcmp(dist, "uniform") != 0 && strcmp(dist, "normal") != 0))
		bad = "config.jitter_dist";
	else if (!json_is_boolean(json_object_get(j, "reorder")) ||
		 !json_is_boolean(json_object_get(j, "down")))
		bad = "config.reorder or down";
	else if (link_ck_count(json_object_get(j, "rate_bps"), UINT64_MAX, &c->rate_bps) < 0 ||
		 link_ck_count(json_object_get(j, "burst_bytes"), UINT32_MAX, &burst) < 0 ||
		 link_ck_count(json_object_get(j, "queue_packets"), LINK_QUEUE_MAX, &qpk) < 0 ||
		 link_ck_count(json_object_get(j, "queue_bytes"), INT64_MAX, &c->queue_bytes) < 0)
		bad = "config.rate_bps, burst_bytes, queue_packets or queue_bytes";
	else if (link_ck_loss_read(json_object_get(j, "loss"), &c->loss) < 0)
		bad = "config.loss";
	else if (link_ck_target_read(json_object_get(j, "target"), &c->target) < 0)
		bad = "config.target";
	else if (link_ck_prob(json_object_get(j, "dup"), &c->dup) < 0 ||
		 link_ck_prob(json_object_get(j, "corrupt"), &c->corrupt) < 0)
		bad = "config.dup or corrupt";
	if (bad) {
		link_errf(err, errlen, "%s: missing or out of range", bad);
		return -1;
	}
	c->delay_ns = (natbed_time_t)delay;
	c->jitter_ns = (natbed_time_t)jitter;
	c->jitter_dist = strcmp(dist, "normal") == 0 ? LINK_JITTER_NORMAL : LINK_JITTER_UNIFORM;
	c->reorder = json_is_true(json_object_get(j, "reorder"));
	c->down = json_is_true(json_object_get(j, "down"));
	c->burst_bytes = (uint32_t)burst;
	c->queue_packets = (uint32_t)qpk;
	return 0;
}

/* The bucket's queue, in the order packets leave (never earlier than the
 * one before: FIFO), into fresh's ring. */
static int link_ck_queue_read(struct link *l, const json_t *q, natbed_time_t now)
{
	const json_t *e;
	uint32_t cap = 64;
	natbed_time_t prev = now;
	size_t i;

	if (!json_is_array(q) || json_array_size(q) > LINK_QUEUE_MAX)
		return -1;
	while (cap < json_array_size(q))
		cap *= 2;
	if (json_array_size(q) && !(l->q = calloc(cap, sizeof(*l->q))))
		return -1;
	l->q_cap = json_array_size(q) ? cap : 0;
	json_array_foreach(q, i, e)
	{
		json_int_t in = json_integer_value(json_array_get(e, 0));
		json_int_t len = json_integer_value(json_array_get(e, 1));

		if (json_array_size(e) != 2 || !json_is_integer(json_array_get(e, 0)) || in <= 0 ||
		    in > LINK_CK_REL_MAX || now + in < prev || len <= 0 || len > LINK_CK_LEN_MAX)
			return -1;
		prev = now + in;
		l->q[i] = (struct link_qent){prev, (uint32_t)len};
		l->q_bytes += (uint64_t)len;
	}
	l->q_count = (uint32_t)json_array_size(q);
	return 0;
}

/* The Gilbert-Elliott chains, each in its slot of a table of cap. */
static int link_ck_ge_read(struct link *l, const json_t *ge)
{
	const json_t *flows = json_object_get(ge, "flows"), *e;
	json_int_t cap = json_integer_value(json_object_get(ge, "cap"));
	size_t i;

	if (!json_is_array(flows) || !json_is_integer(json_object_get(ge, "cap")))
		return -1;
	if (cap == 0)
		return json_array_size(flows) ? -1 : 0;
	if (cap < LINK_GE_FLOWS_INIT || cap > LINK_GE_FLOWS_MAX || (cap & (cap - 1)) ||
	    json_array_size(flows) > (size_t)cap || !(l->ge = calloc((size_t)cap, sizeof(*l->ge))))
		return -1;
	l->ge_cap = (uint32_t)cap;
	json_array_foreach(flows, i, e)
	{
		json_int_t slot = json_integer_value(json_array_get(e, 0));
		json_int_t next = json_integer_value(json_array_get(e, 2));
		struct link_ge_flow *g;

		if (json_array_size(e) != 4 || !json_is_integer(json_array_get(e, 0)) || slot < 0 ||
		    slot >= cap || l->ge[slot].used || !json_is_integer(json_array_get(e, 2)) ||
		    next < 1 || !json_is_boolean(json_array_get(e, 3)))
			return -1;
		g = &l->ge[slot];
		if (jsonck_u64_read(json_array_get(e, 1), true, &g->flow) < 0)
			return -1;
		g->next_seq = (uint64_t)next;
		g->bad = json_is_true(json_array_get(e, 3));
		g->used = true;
		l->ge_used++;
	}
	return 0;
}

static int link_ck_stats_read(struct link_stats *st, const json_t *j)
{
	const json_t *drops = json_object_get(j, "dropped");
	int d;

	if (!json_is_object(drops) ||
	    link_ck_count(json_object_get(j, "packets"), INT64_MAX, &st->packets) < 0 ||
	    link_ck_count(json_object_get(j, "bytes"), INT64_MAX, &st->bytes) < 0 ||
	    link_ck_count(json_object_get(j, "delivered"), INT64_MAX, &st->delivered) < 0 ||
	    link_ck_count(json_object_get(j, "duplicated"), INT64_MAX, &st->duplicated) < 0 ||
	    link_ck_count(json_object_get(j, "corrupted"), INT64_MAX, &st->corrupted) < 0)
		return -1;
	for (d = 1; d < LINK_DROP_COUNT; d++)
		if (link_ck_count(json_object_get(drops, link_drop_name((enum link_drop)d)),
				  INT64_MAX, &st->dropped[d]) < 0)
			return -1;
	return 0;
}

/* The checkpoint must be of l: its link, direction, seed and stream. */
static int link_ck_fits(const struct link *l, const json_t *j, char *err, size_t errlen)
{
	const char *name = json_string_value(json_object_get(j, "name"));
	json_int_t dir = json_integer_value(json_object_get(j, "dir"));
	uint64_t seed, key;

	if (!name || strcmp(name, l->cfg.name) != 0 ||
	    !json_is_integer(json_object_get(j, "dir")) || dir != (json_int_t)l->cfg.dir) {
		link_errf(err, errlen, "the checkpoint is of link '%s' direction %lld",
			  name ? name : "?", (long long)dir);
		return -1;
	}
	if (jsonck_u64_read(json_object_get(j, "seed"), false, &seed) < 0 ||
	    jsonck_u64_read(json_object_get(j, "key"), true, &key) < 0 || seed != l->cfg.seed ||
	    key != l->cfg.key) {
		link_errf(err, errlen,
			  "seed or key: the checkpoint is of a run with another seed or link");
		return -1;
	}
	return 0;
}

/* The token bucket and the last delivery: 0 or -1. */
static int link_ck_times_read(struct link *l, const json_t *j, natbed_time_t now)
{
	const json_t *bucket = json_object_get(j, "bucket");
	double tokens = json_number_value(json_object_get(bucket, "tokens"));

	if (!json_is_number(json_object_get(bucket, "tokens")) || !isfinite(tokens) || tokens < 0 ||
	    tokens > (double)UINT32_MAX + LINK_CK_LEN_MAX ||
	    link_ck_rel_read(json_object_get(bucket, "at_ns"), now, &l->tb_ns) < 0 ||
	    link_ck_rel_read(json_object_get(j, "last_deliver_ns"), now, &l->last_deliver_ns) < 0)
		return -1;
	l->tb_tokens = tokens;
	return 0;
}

struct link *link_restore_prepare(const struct link *l, const json_t *j, natbed_time_t now,
				  char *err, size_t errlen)
{
	struct link_cfg c = l->cfg;
	struct link *fresh;
	const char *bad = NULL;

	if (!json_is_object(j)) {
		link_errf(err, errlen, "not a link's checkpoint");
		return NULL;
	}
	if (link_ck_fits(l, j, err, errlen) < 0 ||
	    link_ck_cfg_read(json_object_get(j, "config"), &c, err, errlen) < 0)
		return NULL;
	fresh = link_new(&c, err, errlen); /* link_cfg_check()s the parameters */
	if (!fresh)
		return NULL;
	if (link_ck_times_read(fresh, j, now) < 0)
		bad = "bucket or last_deliver_ns";
	else if (link_ck_queue_read(fresh, json_object_get(j, "queue"), now) < 0)
		bad = "queue";
	else if (link_ck_ge_read(fresh, json_object_get(j, "ge")) < 0)
		bad = "ge";
	else if (link_ck_stats_read(&fresh->st, json_object_get(j, "stats")) < 0)
		bad = "stats";
	if (bad) {
		link_errf(err, errlen, "%s: missing or invalid", bad);
		link_free(fresh);
		return NULL;
	}
	return fresh;
}

void link_adopt(struct link *l, struct link *fresh)
{
	struct link old = *l;

	/* no memory to fail: the old state goes with fresh */
	*l = *fresh;
	*fresh = old;
	link_free(fresh);
}
