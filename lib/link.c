/* natbed-emu links: delay, jitter, rate, loss models, targeted drops,
 * duplication and corruption of one link direction (issue 5). */
#include "link_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/log.h"
#include "natbed/rng.h"
#include "natbed/strcopy.h"
#include "natbed/units.h"
#include "natbed/topo.h"

/* At most LINK_GE_GAP_MAX missing packet numbers of a flow are replayed
 * through its Gilbert-Elliott chain (link_int.h: the chains). */
#define LINK_GE_GAP_MAX 64
#define LINK_VALUE_MAX	128 /* bytes of a value string link_cfg_set splits */
#define LINK_ARGS_MAX	6   /* words of a "loss" value */
#define LINK_PRESET_KV	12  /* key/value pairs of one preset */

/* Purposes of the draws for one packet: each has its own stream. */
enum link_draw {
	LINK_DRAW_LOSS = 1,
	LINK_DRAW_GE_INIT,
	LINK_DRAW_GE_TRANS,
	LINK_DRAW_GE_LOSS,
	LINK_DRAW_DELAY, /* and LINK_DRAW_DELAY + 1 for a normal draw */
	LINK_DRAW_DUP = LINK_DRAW_DELAY + 2,
	LINK_DRAW_DUP_DELAY,			     /* and + 1 */
	LINK_DRAW_CORRUPT = LINK_DRAW_DUP_DELAY + 2, /* and + 1 for the copy */
};

void link_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static double link_draw(const struct link *l, uint64_t fkey, unsigned purpose, uint64_t seq)
{
	return rng_keyed_unit(l->cfg.seed, fkey + purpose, seq);
}

/* --- strict value parsers ----------------------------------------------- */

/* A decimal count: digits only, no sign, no blanks, no overflow. */
static int link_parse_count(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* Bytes: a count with an optional suffix b, kb, mb, gb (powers of 1000). */
static int link_parse_bytes(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {{"", 1}, {"b", 1}, {"kb", 1000}, {"mb", 1000000}, {"gb", 1000000000}};
	char num[32];
	size_t n = strspn(s, "0123456789");
	uint64_t v;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	if (link_parse_count(num, &v) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + n, units[i].suffix) == 0) {
			if (v > UINT64_MAX / units[i].mult)
				return -1;
			*out = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

/* A probability written as a percentage, 0% to 100%. */
static int link_parse_prob(const char *s, double *out)
{
	double v;

	if (units_parse_percent(s, &v) < 0 || !(v >= 0.0 && v <= 1.0))
		return -1;
	*out = v;
	return 0;
}

static int link_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on"}, *const no[] = {"no", "false",
									       "off"};

	for (size_t i = 0; i < 3; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* Splits a copy of value (in buf) into at most max blank-separated words.
 * Returns the number of words, or -1 when there are more. */
static int link_split(const char *value, char *buf, size_t buflen, char **argv, int max)
{
	int argc = 0;
	char *save = NULL;

	if (snprintf(buf, buflen, "%s", value) >= (int)buflen)
		return -1;
	for (char *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (argc == max)
			return -1;
		argv[argc++] = w;
	}
	return argc;
}

/* --- loss models -------------------------------------------------------- */

static int loss_none_parse(struct link_loss_cfg *lc, char **argv, int argc, char *err,
			   size_t errlen)
{
	if (argc != 0) {
		link_errf(err, errlen, "loss: none takes no parameter");
		return -1;
	}
	return 0;
}

static bool loss_none_lose(struct link *l, const struct link_pkt *p, uint64_t fkey)
{
	return false;
}

static int loss_bernoulli_parse(struct link_loss_cfg *lc, char **argv, int argc, char *err,
				size_t errlen)
{
	if (argc != 1 || link_parse_prob(argv[0], &lc->p) < 0) {
		link_errf(err, errlen, "loss: bernoulli takes one percentage, e.g. 1%%");
		return -1;
	}
	return 0;
}

static bool loss_bernoulli_lose(struct link *l, const struct link_pkt *p, uint64_t fkey)
{
	return link_draw(l, fkey, LINK_DRAW_LOSS, p->seq) < l->cfg.loss.p;
}

/* Gilbert-Elliott: P R [H [K]]; H defaults to 0% and K to 100% (the
 * simple Gilbert model, where every packet in the bad state is lost). */
static int loss_ge_parse(struct link_loss_cfg *lc, char **argv, int argc, char *err, size_t errlen)
{
	double *field[] = {&lc->p, &lc->r, &lc->h, &lc->k};

	lc->h = 0.0;
	lc->k = 1.0;
	if (argc < 2 || argc > 4)
		goto bad;
	for (int i = 0; i < argc; i++)
		if (link_parse_prob(argv[i], field[i]) < 0)
			goto bad;
	return 0;
bad:
	link_errf(err, errlen, "loss: gilbert-elliott takes P R [H [K]] as percentages");
	return -1;
}

/* The chain's state for a flow's first packet (or after a gap): drawn
 * from the stationary distribution, P(bad) = p / (p + r). */
static bool loss_ge_initial(const struct link *l, uint64_t fkey, uint64_t seq)
{
	const struct link_loss_cfg *lc = &l->cfg.loss;
	double pi_bad = lc->p + lc->r > 0 ? lc->p / (lc->p + lc->r) : 0.0;

	return link_draw(l, fkey, LINK_DRAW_GE_INIT, seq) < pi_bad;
}

static bool loss_ge_step(const struct link *l, uint64_t fkey, uint64_t seq, bool bad)
{
	double u = link_draw(l, fkey, LINK_DRAW_GE_TRANS, seq);

	return bad ? !(u < l->cfg.loss.r) : u < l->cfg.loss.p;
}

/* The slot of flow in a table of cap entries (a power of two): its own,
 * or the empty one where it would go, or NULL when neither is found. */
static struct link_ge_flow *loss_ge_probe(struct link_ge_flow *t, uint32_t cap, uint64_t flow,
					  uint64_t hash)
{
	for (uint32_t i = 0; i < cap; i++) {
		struct link_ge_flow *e = &t[(hash + i) & (cap - 1)];

		if (!e->used || e->flow == flow)
			return e;
	}
	return NULL;
}

/* Doubles the flow table (or makes the first one). Returns 0 or -1. */
static int loss_ge_grow(struct link *l)
{
	uint32_t cap = l->ge_cap ? l->ge_cap * 2 : LINK_GE_FLOWS_INIT;
	struct link_ge_flow *t;

	if (cap > LINK_GE_FLOWS_MAX)
		return -1;
	t = calloc(cap, sizeof(*t));
	if (!t)
		return -1;
	for (uint32_t i = 0; i < l->ge_cap; i++) {
		const struct link_ge_flow *e = &l->ge[i];

		if (e->used)
			*loss_ge_probe(t, cap, e->flow, rng_keyed_u64(0, 0, e->flow)) = *e;
	}
	free(l->ge);
	l->ge = t;
	l->ge_cap = cap;
	return 0;
}

/* The entry of flow; a new one (used = false) when the flow is not known.
 * NULL only without memory. */
static struct link_ge_flow *loss_ge_entry(struct link *l, uint64_t flow)
{
	uint64_t hash = rng_keyed_u64(0, 0, flow);
	struct link_ge_flow *e;

	if ((l->ge_used + 1) * 2 > l->ge_cap)
		loss_ge_grow(l); /* when it cannot, the table just fills up */
	if (!l->ge)
		return NULL;
	e = loss_ge_probe(l->ge, l->ge_cap, flow, hash);
	if (e && e->used)
		return e;
	if (!e || (l->ge_used + 1) * 2 > l->ge_cap)
		e = &l->ge[hash & (l->ge_cap - 1)]; /* full: take over the home slot */
	l->ge_used += !e->used;
	memset(e, 0, sizeof(*e));
	e->flow = flow;
	return e;
}

/* Forgets every chain (new loss parameters). */
static void loss_ge_forget(struct link *l)
{
	free(l->ge);
	l->ge = NULL;
	l->ge_cap = 0;
	l->ge_used = 0;
}

/* The state of the flow's chain at packet p->seq, remembered for the
 * next packet of the flow. */
static bool loss_ge_state(struct link *l, const struct link_pkt *p, uint64_t fkey)
{
	struct link_ge_flow *e = loss_ge_entry(l, p->flow);
	bool bad;

	if (!e)
		return loss_ge_initial(l, fkey, p->seq);
	if (e->used && p->seq < e->next_seq)
		return loss_ge_initial(l, fkey, p->seq); /* a number seen before */
	if (e->used && p->seq - e->next_seq < LINK_GE_GAP_MAX) {
		bad = e->bad;
		for (uint64_t m = e->next_seq; m <= p->seq; m++)
			bad = loss_ge_step(l, fkey, m, bad);
	} else {
		bad = loss_ge_initial(l, fkey, p->seq);
	}
	e->used = true;
	e->next_seq = p->seq + 1;
	e->bad = bad;
	return bad;
}

static bool loss_ge_lose(struct link *l, const struct link_pkt *p, uint64_t fkey)
{
	bool bad = loss_ge_state(l, p, fkey);
	double keep = bad ? l->cfg.loss.h : l->cfg.loss.k;

	return !(link_draw(l, fkey, LINK_DRAW_GE_LOSS, p->seq) < keep);
}

static const struct link_loss_model link_loss_models[] = {
    {"none", NULL, loss_none_parse, loss_none_lose},
    {"bernoulli", NULL, loss_bernoulli_parse, loss_bernoulli_lose},
    {"gilbert-elliott", "ge", loss_ge_parse, loss_ge_lose},
};

#define LINK_N_LOSS_MODELS (sizeof(link_loss_models) / sizeof(link_loss_models[0]))

const struct link_loss_model *link_loss_find(const char *name)
{
	for (size_t i = 0; i < LINK_N_LOSS_MODELS; i++) {
		const struct link_loss_model *m = &link_loss_models[i];

		if (strcmp(m->name, name) == 0 || (m->alias && strcmp(m->alias, name) == 0))
			return m;
	}
	return NULL;
}

const char *link_loss_model_name(size_t i)
{
	return i < LINK_N_LOSS_MODELS ? link_loss_models[i].name : NULL;
}

/* --- link_cfg_set: one setter per key ------------------------------------ */

/* A delay or jitter: 0 to LINK_TIME_MAX_NS. */
static bool link_time_ok(natbed_time_t t)
{
	return t >= 0 && t <= LINK_TIME_MAX_NS;
}

typedef int (*link_setter)(struct link_cfg *c, const char *v, char *err, size_t errlen);

static int set_delay(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	natbed_time_t t;

	if (units_parse_duration(v, &t) < 0 || !link_time_ok(t)) {
		link_errf(err, errlen, "delay: bad duration '%s' (us, ms, s; at most 1 hour)", v);
		return -1;
	}
	c->delay_ns = t;
	return 0;
}

static int set_jitter(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	natbed_time_t t;

	if (units_parse_duration(v, &t) < 0 || !link_time_ok(t)) {
		link_errf(err, errlen, "jitter: bad duration '%s' (us, ms, s; at most 1 hour)", v);
		return -1;
	}
	c->jitter_ns = t;
	return 0;
}

static int set_jitter_dist(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "uniform") == 0)
		c->jitter_dist = LINK_JITTER_UNIFORM;
	else if (strcmp(v, "normal") == 0)
		c->jitter_dist = LINK_JITTER_NORMAL;
	else {
		link_errf(err, errlen, "jitter-dist: '%s' is not uniform or normal", v);
		return -1;
	}
	return 0;
}

static int set_reorder(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	if (link_parse_bool(v, &c->reorder) < 0) {
		link_errf(err, errlen, "reorder: '%s' is not yes or no", v);
		return -1;
	}
	return 0;
}

static int set_rate(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "unlimited") == 0) {
		c->rate_bps = 0;
		return 0;
	}
	if (units_parse_rate(v, &c->rate_bps) < 0) {
		link_errf(err, errlen, "rate: bad rate '%s' (kbit, mbit, gbit)", v);
		return -1;
	}
	return 0;
}

static int set_burst(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	uint64_t b;

	if (link_parse_bytes(v, &b) < 0 || b > UINT32_MAX) {
		link_errf(err, errlen, "burst: bad size '%s' (b, kb, mb)", v);
		return -1;
	}
	c->burst_bytes = (uint32_t)b;
	return 0;
}

static int set_queue_packets(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	uint64_t n;

	if (link_parse_count(v, &n) < 0 || n > LINK_QUEUE_MAX) {
		link_errf(err, errlen, "queue-packets: bad count '%s' (0 to %d)", v,
			  LINK_QUEUE_MAX);
		return -1;
	}
	c->queue_packets = (uint32_t)n;
	return 0;
}

static int set_queue_bytes(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	if (link_parse_bytes(v, &c->queue_bytes) < 0) {
		link_errf(err, errlen, "queue-bytes: bad size '%s' (b, kb, mb)", v);
		return -1;
	}
	return 0;
}

/* "1%" alone is bernoulli; otherwise a model name and its parameters. */
static int set_loss(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	char buf[LINK_VALUE_MAX], *argv[LINK_ARGS_MAX];
	int argc = link_split(v, buf, sizeof(buf), argv, LINK_ARGS_MAX);
	const struct link_loss_model *m;
	struct link_loss_cfg lc = {.k = 1.0};

	if (argc <= 0) {
		link_errf(err, errlen, "loss: expected a percentage or a model");
		return -1;
	}
	m = link_loss_find(argv[0]);
	if (!m && argc == 1)
		m = link_loss_find("bernoulli");
	else if (m) {
		argc--;
		memmove(argv, argv + 1, (size_t)argc * sizeof(argv[0]));
	} else {
		link_errf(err, errlen, "loss: unknown model '%s'", argv[0]);
		return -1;
	}
	if (m->parse(&lc, argv, argc, err, errlen) < 0)
		return -1;
	str_copy(lc.model, sizeof(lc.model), m->name);
	c->loss = lc;
	return 0;
}

static int set_drop_first(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	if (link_parse_count(v, &c->target.first) < 0) {
		link_errf(err, errlen, "drop-first: bad count '%s'", v);
		return -1;
	}
	return 0;
}

static int set_drop_every(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	if (link_parse_count(v, &c->target.every) < 0) {
		link_errf(err, errlen, "drop-every: bad count '%s'", v);
		return -1;
	}
	return 0;
}

static int set_drop_list(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	char buf[LINK_VALUE_MAX], *save = NULL;
	struct link_target_cfg t = c->target;

	t.n_list = 0;
	if (strcmp(v, "none") == 0 || *v == '\0') {
		c->target = t;
		return 0;
	}
	if (snprintf(buf, sizeof(buf), "%s", v) >= (int)sizeof(buf))
		goto bad;
	for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (t.n_list == LINK_TARGET_LIST_MAX ||
		    link_parse_count(w, &t.list[t.n_list]) < 0 || t.list[t.n_list] == 0)
			goto bad;
		t.n_list++;
	}
	c->target = t;
	return 0;
bad:
	link_errf(err, errlen, "drop-list: '%s' is not up to %d packet numbers (from 1) like 1,3,7",
		  v, LINK_TARGET_LIST_MAX);
	return -1;
}

/* "PROTO[:PORT]" with PROTO one of udp, tcp, icmp, any; or "none". */
static int set_drop_match(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		uint8_t proto;
	} protos[] = {{"any", 0}, {"icmp", 1}, {"tcp", 6}, {"udp", 17}};
	const char *colon = strchr(v, ':');
	size_t plen = colon ? (size_t)(colon - v) : strlen(v);
	uint64_t port = 0;

	if (strcmp(v, "none") == 0) {
		c->target.match = false;
		return 0;
	}
	if (colon && (link_parse_count(colon + 1, &port) < 0 || port == 0 || port > 65535))
		goto bad;
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (strlen(protos[i].name) == plen && strncmp(v, protos[i].name, plen) == 0) {
			c->target.match = true;
			c->target.proto = protos[i].proto;
			c->target.port = (uint16_t)port;
			return 0;
		}
	}
bad:
	link_errf(err, errlen, "drop-match: '%s' is not PROTO[:PORT] (udp, tcp, icmp, any) or none",
		  v);
	return -1;
}

static int set_dup(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	if (link_parse_prob(v, &c->dup) < 0) {
		link_errf(err, errlen, "dup: bad percentage '%s'", v);
		return -1;
	}
	return 0;
}

static int set_corrupt(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	if (link_parse_prob(v, &c->corrupt) < 0) {
		link_errf(err, errlen, "corrupt: bad percentage '%s'", v);
		return -1;
	}
	return 0;
}

static int set_preset(struct link_cfg *c, const char *v, char *err, size_t errlen)
{
	return link_cfg_preset(c, v, err, errlen);
}

static const struct {
	const char *key;
	link_setter set;
} link_setters[] = {
    {"delay", set_delay},
    {"jitter", set_jitter},
    {"jitter-dist", set_jitter_dist},
    {"reorder", set_reorder},
    {"rate", set_rate},
    {"burst", set_burst},
    {"queue-packets", set_queue_packets},
    {"queue-bytes", set_queue_bytes},
    {"loss", set_loss},
    {"drop-first", set_drop_first},
    {"drop-every", set_drop_every},
    {"drop-list", set_drop_list},
    {"drop-match", set_drop_match},
    {"dup", set_dup},
    {"corrupt", set_corrupt},
    {"preset", set_preset},
};

int link_cfg_set(struct link_cfg *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	struct link_cfg tmp = *cfg;

	if (!key || !value) {
		link_errf(err, errlen, "link: missing key or value");
		return -1;
	}
	for (size_t i = 0; i < sizeof(link_setters) / sizeof(link_setters[0]); i++) {
		if (strcmp(key, link_setters[i].key) != 0)
			continue;
		if (link_setters[i].set(&tmp, value, err, errlen) < 0)
			return -1;
		*cfg = tmp;
		return 0;
	}
	link_errf(err, errlen, "%s: unknown link parameter", key);
	return -1;
}

void link_cfg_default(struct link_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->jitter_dist = LINK_JITTER_UNIFORM;
	cfg->queue_packets = LINK_QUEUE_DEFAULT;
	snprintf(cfg->loss.model, sizeof(cfg->loss.model), "none");
	cfg->loss.k = 1.0;
}

/* --- presets (values and sources: docs/links.md) ------------------------ */

static const struct link_preset {
	const char *name;
	struct {
		const char *key, *value;
	} kv[LINK_PRESET_KV];
} link_presets[] = {
    {"wifi",
     {{"delay", "3ms"},
      {"jitter", "2ms"},
      {"jitter-dist", "normal"},
      {"rate", "50mbit"},
      {"queue-packets", "256"},
      {"loss", "gilbert-elliott 0.2% 40%"}}},
    {"lte",
     {{"delay", "25ms"},
      {"jitter", "8ms"},
      {"jitter-dist", "normal"},
      {"rate", "20mbit"},
      {"queue-packets", "400"},
      {"loss", "0.5%"}}},
    {"3g",
     {{"delay", "75ms"},
      {"jitter", "20ms"},
      {"jitter-dist", "normal"},
      {"rate", "2mbit"},
      {"queue-packets", "100"},
      {"loss", "1.5%"}}},
    {"dsl",
     {{"delay", "12ms"},
      {"jitter", "1ms"},
      {"rate", "8mbit"},
      {"queue-packets", "64"},
      {"loss", "0.1%"}}},
    {"satellite",
     {{"delay", "300ms"},
      {"jitter", "10ms"},
      {"jitter-dist", "normal"},
      {"rate", "10mbit"},
      {"queue-packets", "1000"},
      {"loss", "0.5%"}}},
    {"lossy",
     {{"delay", "20ms"},
      {"jitter", "10ms"},
      {"reorder", "yes"},
      {"loss", "gilbert-elliott 5% 50%"},
      {"dup", "1%"},
      {"corrupt", "0.5%"}}},
};

#define LINK_N_PRESETS (sizeof(link_presets) / sizeof(link_presets[0]))

const char *link_preset_name(size_t i)
{
	return i < LINK_N_PRESETS ? link_presets[i].name : NULL;
}

int link_cfg_preset(struct link_cfg *cfg, const char *name, char *err, size_t errlen)
{
	const struct link_preset *pr = NULL;
	struct link_cfg tmp;

	for (size_t i = 0; i < LINK_N_PRESETS && !pr; i++)
		if (strcmp(link_presets[i].name, name) == 0)
			pr = &link_presets[i];
	if (!pr) {
		link_errf(err, errlen, "preset: unknown link preset '%s'", name);
		return -1;
	}
	/* A preset replaces every impairment; the link's identity stays. */
	link_cfg_default(&tmp);
	memcpy(tmp.name, cfg->name, sizeof(tmp.name));
	tmp.seed = cfg->seed;
	tmp.key = cfg->key;
	tmp.dir = cfg->dir;
	tmp.down = cfg->down;
	for (size_t i = 0; i < LINK_PRESET_KV && pr->kv[i].key; i++)
		if (strcmp(pr->kv[i].key, "preset") == 0 ||
		    link_cfg_set(&tmp, pr->kv[i].key, pr->kv[i].value, err, errlen) < 0)
			return -1;
	*cfg = tmp;
	return 0;
}

/* --- the link ----------------------------------------------------------- */

static bool link_prob_ok(double p)
{
	return p >= 0.0 && p <= 1.0;
}

const struct link_loss_model *link_cfg_check(const struct link_cfg *cfg, char *err, size_t errlen)
{
	const struct link_loss_cfg *lc = &cfg->loss;
	const struct link_loss_model *m = link_loss_find(lc->model);

	if (!m) {
		link_errf(err, errlen, "loss: unknown model '%s'", lc->model);
		return NULL;
	}
	if (!link_prob_ok(lc->p) || !link_prob_ok(lc->r) || !link_prob_ok(lc->h) ||
	    !link_prob_ok(lc->k) || !link_prob_ok(cfg->dup) || !link_prob_ok(cfg->corrupt)) {
		link_errf(err, errlen, "link %s: a probability is outside 0..1", cfg->name);
		return NULL;
	}
	if (!link_time_ok(cfg->delay_ns) || !link_time_ok(cfg->jitter_ns) || cfg->dir > 1 ||
	    cfg->target.n_list > LINK_TARGET_LIST_MAX) {
		link_errf(err, errlen,
			  "link %s: delay or jitter not 0 to 1 hour, direction not 0/1 or list too "
			  "long",
			  cfg->name);
		return NULL;
	}
	return m;
}

struct link *link_new(const struct link_cfg *cfg, char *err, size_t errlen)
{
	const struct link_loss_model *m = link_cfg_check(cfg, err, errlen);
	struct link *l;

	if (!m)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (!l) {
		link_errf(err, errlen, "link %s: out of memory", cfg->name);
		return NULL;
	}
	l->cfg = *cfg;
	l->loss = m;
	l->dkey = rng_keyed_u64(cfg->seed, cfg->key, cfg->dir);
	l->tb_tokens = (double)(cfg->burst_bytes ? cfg->burst_bytes : LINK_MTU_FRAME);
	l->tb_ns = INT64_MIN;
	l->last_deliver_ns = INT64_MIN;
	return l;
}

void link_free(struct link *l)
{
	if (!l)
		return;
	free(l->q);
	free(l->ge);
	free(l);
}

const struct link_cfg *link_config(const struct link *l)
{
	return &l->cfg;
}

void link_get_stats(const struct link *l, struct link_stats *st)
{
	*st = l->st;
	st->queue_packets = l->q_count;
	st->queue_bytes = l->q_bytes;
}

const char *link_drop_name(enum link_drop d)
{
	static const char *const names[LINK_DROP_COUNT] = {"pass", "down", "queue", "targeted",
							   "loss"};

	return (unsigned)d < LINK_DROP_COUNT ? names[d] : "?";
}

/* --- token bucket ------------------------------------------------------- */

/* Forgets the packets that left the bucket by now. */
static void link_queue_expire(struct link *l, natbed_time_t now)
{
	while (l->q_count && l->q[l->q_head].depart_ns <= now) {
		l->q_bytes -= l->q[l->q_head].len;
		l->q_head = (l->q_head + 1) % l->q_cap;
		l->q_count--;
	}
}

/* Appends a waiting packet; grows the ring (unrolled to start at 0). */
static int link_queue_push(struct link *l, natbed_time_t depart, uint32_t len)
{
	if (l->q_count == l->q_cap) {
		uint32_t cap = l->q_cap ? l->q_cap * 2 : 64;
		struct link_qent *q;

		if (cap > LINK_QUEUE_MAX)
			return -1;
		q = malloc((size_t)cap * sizeof(*q));
		if (!q)
			return -1;
		for (uint32_t i = 0; i < l->q_count; i++)
			q[i] = l->q[(l->q_head + i) % l->q_cap];
		free(l->q);
		l->q = q;
		l->q_head = 0;
		l->q_cap = cap;
	}
	l->q[(l->q_head + l->q_count) % l->q_cap] = (struct link_qent){depart, len};
	l->q_count++;
	l->q_bytes += len;
	return 0;
}

static bool link_queue_full(const struct link *l, uint32_t len)
{
	uint32_t max = l->cfg.queue_packets ? l->cfg.queue_packets : LINK_QUEUE_MAX;

	return l->q_count >= max || (l->cfg.queue_bytes && l->q_bytes + len > l->cfg.queue_bytes);
}

/* Time packet p leaves the token bucket (FIFO: not before the previous
 * one), or -1 for a tail drop. Tokens are bytes, refilled at rate_bps up
 * to the bucket depth, taken when a packet leaves. */
static natbed_time_t link_shape(struct link *l, const struct link_pkt *p, natbed_time_t now)
{
	double rate = (double)l->cfg.rate_bps / 8e9; /* bytes per ns */
	double depth = l->cfg.burst_bytes ? l->cfg.burst_bytes : LINK_MTU_FRAME;
	natbed_time_t t0, depart;
	double tokens;

	if (!l->cfg.rate_bps)
		return now;
	link_queue_expire(l, now);
	if (link_queue_full(l, p->len))
		return -1;
	if (depth < p->len)
		depth = p->len; /* a packet larger than the bucket leaves alone */
	t0 = now > l->tb_ns ? now : l->tb_ns;
	tokens = l->tb_ns == INT64_MIN ? depth : l->tb_tokens + (double)(t0 - l->tb_ns) * rate;
	if (tokens > depth)
		tokens = depth;
	depart = t0;
	if (tokens < p->len) {
		depart += (natbed_time_t)ceil(((double)p->len - tokens) / rate);
		tokens += (double)(depart - t0) * rate;
	}
	tokens -= p->len;
	l->tb_tokens = tokens > 0 ? tokens : 0;
	l->tb_ns = depart;
	if (depart > now && link_queue_push(l, depart, p->len) < 0)
		return -1;
	return depart;
}

/* --- per packet --------------------------------------------------------- */

static bool link_target_hit(const struct link_target_cfg *t, const struct link_pkt *p)
{
	uint64_t num = p->seq + 1; /* packet numbers count from 1 */
	bool selectors = t->first || t->every || t->n_list;

	if (!t->match && !selectors)
		return false;
	if (t->match && ((t->proto && p->proto != t->proto) ||
			 (t->port && p->sport != t->port && p->dport != t->port)))
		return false;
	if (!selectors)
		return true;
	if (num <= t->first || (t->every && num % t->every == 0))
		return true;
	for (size_t i = 0; i < t->n_list && i < LINK_TARGET_LIST_MAX; i++)
		if (t->list[i] == num)
			return true;
	return false;
}

/* One-way delay of a copy: delay plus jitter from two draws of purpose
 * (uniform uses one), never negative. */
static natbed_time_t link_delay(const struct link *l, uint64_t fkey, unsigned purpose, uint64_t seq)
{
	double d = (double)l->cfg.delay_ns, j = (double)l->cfg.jitter_ns, u;

	if (j <= 0) /* nothing to draw: the delay is the delay */
		return l->cfg.delay_ns > 0 ? l->cfg.delay_ns : 0;
	u = link_draw(l, fkey, purpose, seq);
	if (l->cfg.jitter_dist == LINK_JITTER_UNIFORM) {
		d += j * (2.0 * u - 1.0);
	} else {
		/* Box-Muller; 1 - u is in (0, 1], so the log is finite. */
		double v = link_draw(l, fkey, purpose + 1, seq);

		d += j * sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
	}
	return d > 0 ? (natbed_time_t)llround(d) : 0;
}

/* Delivery time of a copy leaving the bucket at depart; with reordering
 * off, never before the previous copy on this link direction. */
static natbed_time_t link_deliver_at(struct link *l, natbed_time_t depart, uint64_t fkey,
				     unsigned purpose, uint64_t seq)
{
	natbed_time_t t = depart + link_delay(l, fkey, purpose, seq);

	if (!l->cfg.reorder) {
		if (t < l->last_deliver_ns)
			t = l->last_deliver_ns;
		l->last_deliver_ns = t;
	}
	return t;
}

static struct link_verdict link_dropped(struct link *l, enum link_drop why)
{
	struct link_verdict v = {.drop = why};

	l->st.dropped[why]++;
	return v;
}

/* Whether l draws from the flow's random stream for some packet. */
static bool link_draws(const struct link *l)
{
	return l->loss->lose != loss_none_lose || l->cfg.jitter_ns > 0 || l->cfg.dup > 0 ||
	       l->cfg.corrupt > 0;
}

bool link_corrupts(const struct link *l)
{
	return l->cfg.corrupt > 0;
}

bool link_numbers(const struct link *l)
{
	const struct link_target_cfg *t = &l->cfg.target;

	return link_draws(l) || t->first || t->every || t->n_list;
}

struct link_verdict link_decide(struct link *l, const struct link_pkt *p, natbed_time_t now)
{
	uint64_t fkey;
	natbed_time_t depart, at[2] = {0, 0};
	bool bad[2] = {false, false};
	unsigned n = 1;

	l->st.packets++;
	l->st.bytes += p->len;
	if (l->cfg.down)
		return link_dropped(l, LINK_DROP_DOWN);
	depart = link_shape(l, p, now);
	if (depart < 0)
		return link_dropped(l, LINK_DROP_QUEUE);
	if (link_target_hit(&l->cfg.target, p))
		return link_dropped(l, LINK_DROP_TARGETED);
	/* the flow's stream key, where some draw needs it (draws are pure:
	 * skipping the unneeded ones changes no outcome) */
	fkey = link_draws(l) ? rng_keyed_u64(l->cfg.seed, l->dkey, p->flow) : 0;
	if (l->loss->lose(l, p, fkey))
		return link_dropped(l, LINK_DROP_LOSS);
	at[0] = link_deliver_at(l, depart, fkey, LINK_DRAW_DELAY, p->seq);
	if (l->cfg.dup > 0 && link_draw(l, fkey, LINK_DRAW_DUP, p->seq) < l->cfg.dup) {
		at[1] = link_deliver_at(l, depart, fkey, LINK_DRAW_DUP_DELAY, p->seq);
		n = 2;
		l->st.duplicated++;
	}
	for (unsigned i = 0; i < n && l->cfg.corrupt > 0; i++) {
		bad[i] = link_draw(l, fkey, LINK_DRAW_CORRUPT + i, p->seq) < l->cfg.corrupt;
		l->st.corrupted += bad[i];
	}
	l->st.delivered += n;
	/* built whole at the end: assembled field by field in a local and
	 * copied out, the copy's wide loads waited on the narrow stores (a
	 * store-forwarding stall, most of this function's time in natbed sim) */
	return (struct link_verdict){
	    .drop = LINK_PASS, .n = n, .deliver_ns = {at[0], at[1]}, .corrupt = {bad[0], bad[1]}};
}

/* --- runtime changes ---------------------------------------------------- */

int link_set(struct link *l, const char *key, const char *value, char *err, size_t errlen)
{
	struct link_cfg c = l->cfg;
	const struct link_loss_model *m;

	if (link_cfg_set(&c, key, value, err, errlen) < 0)
		return -1;
	m = link_cfg_check(&c, err, errlen);
	if (!m)
		return -1;
	if (m != l->loss || memcmp(&c.loss, &l->cfg.loss, sizeof(c.loss)) != 0)
		loss_ge_forget(l); /* new chains from the new parameters */
	l->cfg = c;
	l->loss = m;
	log_info("link %s dir %u: %s set to %s", l->cfg.name, l->cfg.dir, key, value);
	return 0;
}

void link_set_up(struct link *l, bool up)
{
	if (l->cfg.down == !up)
		return;
	l->cfg.down = !up;
	log_info("link %s dir %u: %s", l->cfg.name, l->cfg.dir, up ? "up" : "down (partition)");
}
