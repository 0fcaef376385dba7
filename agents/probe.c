/* natbed probe exchange: STUN-framed probes and echoes, RTT and loss. */
#include "probe.h"

#include <stdlib.h>
#include <string.h>

#include "ckget.h"
#include "natbed/rng.h"
#include "natbed/stun.h"
#include "nbstun.h"

struct probe {
	const struct dgram *d;
	int sock;
	struct dg_ep remote;
	struct probe_cfg cfg;
	probe_done_fn done;
	void *arg;
	uint64_t timer;
	uint64_t txid_salt;
	int sent, answered;
	bool finished;
	natbed_time_t *sent_at;
	bool *got;
	double rtt_sum, rtt_min, rtt_max;
};

/* Builds a probe (cls REQUEST) or its echo (SUCCESS) into buf. */
static int probe_build(uint8_t *buf, size_t cap, enum stun_class cls, const uint8_t *txid,
		       uint64_t try_id, uint32_t seq)
{
	struct stun_builder b;
	uint8_t t[8], s[4];

	nbstun_put_be(t, try_id, 8);
	nbstun_put_be(s, seq, 4);
	stun_msg_build_init(&b, buf, cap, NBSTUN_METHOD_PROBE, cls, txid, false);
	stun_msg_build_raw(&b, NBSTUN_ATTR_TRY, t, sizeof(t));
	stun_msg_build_raw(&b, NBSTUN_ATTR_SEQ, s, sizeof(s));
	stun_msg_build_fingerprint(&b);
	return stun_msg_build_finish(&b);
}

/* What is no probe is told from its first two bytes (its method), before
 * the whole parse and its CRC: a serving agent offers every datagram of
 * its main socket to each path it keeps. */
static bool probe_method(const uint8_t *buf, size_t len)
{
	return len >= STUN_HEADER_LEN &&
	       stun_type_method((uint16_t)(buf[0] << 8 | buf[1])) == NBSTUN_METHOD_PROBE;
}

/* Parses a probe or echo: its class, try id and sequence number. */
static bool probe_parse(const uint8_t *buf, size_t len, struct stun_msg *m, uint64_t *try_id,
			uint32_t *seq)
{
	const struct stun_attr *t, *s;

	if (!probe_method(buf, len) || stun_msg_parse(buf, len, 0, m, NULL, 0) != STUN_PARSE_OK ||
	    m->method != NBSTUN_METHOD_PROBE || !(t = stun_msg_find(m, NBSTUN_ATTR_TRY)) ||
	    !(s = stun_msg_find(m, NBSTUN_ATTR_SEQ)) || t->len != 8 || s->len != 4)
		return false;
	*try_id = nbstun_get_be(stun_attr_value(m, t), 8);
	*seq = (uint32_t)nbstun_get_be(stun_attr_value(m, s), 4);
	return true;
}

/* The transaction of probe seq: the sequence number under a salt, so an
 * echo is matched by its transaction as well as by its SEQ. */
static void probe_txid(const struct probe *p, uint32_t seq, uint8_t txid[STUN_TXID_LEN])
{
	uint64_t a = rng_keyed_u64(p->txid_salt, p->cfg.try_id, seq);

	memcpy(txid, &a, 8);
	nbstun_put_be(txid + 8, seq, 4);
}

static void probe_finish(struct probe *p)
{
	struct probe_result r = {.sent = p->sent, .answered = p->answered};

	if (p->finished)
		return;
	p->finished = true;
	if (p->timer)
		sched_cancel(p->d->s, p->timer);
	p->timer = 0;
	r.loss = p->sent ? 1.0 - (double)p->answered / p->sent : 0;
	r.rtt_ms = p->answered ? p->rtt_sum / p->answered : -1;
	r.rtt_min_ms = p->answered ? p->rtt_min : -1;
	r.rtt_max_ms = p->answered ? p->rtt_max : -1;
	p->done(p->arg, &r);
}

static void probe_tick(void *arg, natbed_time_t now)
{
	struct probe *p = arg;
	uint8_t buf[128], txid[STUN_TXID_LEN];
	int n;

	p->timer = 0;
	if (p->sent == p->cfg.count) {
		probe_finish(p); /* the wait after the last is over */
		return;
	}
	probe_txid(p, (uint32_t)p->sent, txid);
	n = probe_build(buf, sizeof(buf), STUN_CLASS_REQUEST, txid, p->cfg.try_id,
			(uint32_t)p->sent);
	p->sent_at[p->sent] = now;
	if (n > 0)
		dg_send(p->d, p->sock, &p->remote, buf, (size_t)n);
	p->sent++;
	p->timer =
	    sched_at(p->d->s, now + (p->sent == p->cfg.count ? p->cfg.wait_ns : p->cfg.interval_ns),
		     probe_tick, p);
}

struct probe *probe_new(const struct dgram *d, int sock, const struct dg_ep *remote,
			const struct probe_cfg *cfg, probe_done_fn done, void *arg)
{
	struct probe *p;

	if (cfg->count < 0 || cfg->count > PROBE_MAX || !(p = calloc(1, sizeof(*p))))
		return NULL;
	p->sent_at = calloc((size_t)cfg->count + 1, sizeof(*p->sent_at));
	p->got = calloc((size_t)cfg->count + 1, sizeof(*p->got));
	if (!p->sent_at || !p->got) {
		probe_free(p);
		return NULL;
	}
	p->d = d;
	p->sock = sock;
	p->remote = *remote;
	p->cfg = *cfg;
	if (p->cfg.interval_ns <= 0)
		p->cfg.interval_ns = PROBE_INTERVAL_MS * NATBED_NS_PER_MS;
	if (p->cfg.wait_ns <= 0)
		p->cfg.wait_ns = PROBE_WAIT_MS * NATBED_NS_PER_MS;
	p->done = done;
	p->arg = arg;
	p->txid_salt = d->seed ^ rng_key("probe", (uint64_t)sock);
	/* the first probe at once, from the loop: never done() inside new() */
	p->timer = sched_at(d->s, dg_now(d), probe_tick, p);
	return p;
}

void probe_free(struct probe *p)
{
	if (!p)
		return;
	if (p->timer)
		sched_cancel(p->d->s, p->timer);
	free(p->sent_at);
	free(p->got);
	free(p);
}

bool probe_input(struct probe *p, const struct dg_ep *from, const uint8_t *buf, size_t len,
		 natbed_time_t now)
{
	uint8_t txid[STUN_TXID_LEN];
	struct stun_msg m;
	uint64_t try_id;
	uint32_t seq;
	double rtt;

	if (!probe_parse(buf, len, &m, &try_id, &seq) || m.cls != STUN_CLASS_SUCCESS ||
	    try_id != p->cfg.try_id || !dg_ep_eq(from, &p->remote) || seq >= (uint32_t)p->sent)
		return false;
	probe_txid(p, seq, txid);
	if (memcmp(txid, m.txid, STUN_TXID_LEN) != 0)
		return false;
	if (p->got[seq] || p->finished)
		return true; /* a duplicate (or late) echo of ours */
	p->got[seq] = true;
	rtt = (double)(now - p->sent_at[seq]) / NATBED_NS_PER_MS;
	if (!p->answered || rtt < p->rtt_min)
		p->rtt_min = rtt;
	if (!p->answered || rtt > p->rtt_max)
		p->rtt_max = rtt;
	p->rtt_sum += rtt;
	p->answered++;
	if (p->answered == p->cfg.count)
		probe_finish(p);
	return true;
}

bool probe_echo(const struct dgram *d, int sock, uint64_t try_id, const struct dg_ep *expect,
		const struct dg_ep *from, const uint8_t *buf, size_t len)
{
	uint8_t out[128];
	struct stun_msg m;
	uint64_t t;
	uint32_t seq;
	int n;

	/* the source first: it costs nothing, the parse a CRC */
	if ((expect && !dg_ep_eq(from, expect)) || !probe_parse(buf, len, &m, &t, &seq) ||
	    m.cls != STUN_CLASS_REQUEST || t != try_id)
		return false;
	n = probe_build(out, sizeof(out), STUN_CLASS_SUCCESS, m.txid, t, seq);
	if (n > 0)
		dg_send(d, sock, from, out, (size_t)n);
	return true;
}

json_t *probe_ckpt_save(const struct probe *p, struct ckw *w)
{
	json_t *sent_at = json_array(), *got = json_array(), *j;

	for (int i = 0; sent_at && got && i < p->sent; i++)
		if (json_array_append_new(sent_at, json_integer((json_int_t)p->sent_at[i])) < 0 ||
		    json_array_append_new(got, json_boolean(p->got[i])) < 0) {
			json_decref(sent_at); /* then nothing is written: an error */
			sent_at = NULL;
		}
	j = json_pack("{s:o,s:o,s:i,s:o,s:{s:i,s:I,s:I,s:o},s:o,s:o,s:o,s:o,s:i,s:i,s:b,s:o,s:o,"
		      "s:f,s:f,s:f}",
		      "id", ckw_obj(w, p), "d", ckw_ref(w, p->d), "sock", p->sock, "remote",
		      dg_ep_ckpt_save(&p->remote, w), "cfg", "count", p->cfg.count, "interval_ns",
		      (json_int_t)p->cfg.interval_ns, "wait_ns", (json_int_t)p->cfg.wait_ns,
		      "try_id", jsonck_u64(p->cfg.try_id, true), "done",
		      ckw_fn(w, (ckfn_ptr)p->done), "arg", ckw_ref(w, p->arg), "timer",
		      ckw_timer(w, p->timer), "txid_salt", jsonck_u64(p->txid_salt, true), "sent",
		      p->sent, "answered", p->answered, "finished", p->finished, "sent_at", sent_at,
		      "got", got, "rtt_sum", p->rtt_sum, "rtt_min", p->rtt_min, "rtt_max",
		      p->rtt_max);
	return ckget_done(w, j, "probe");
}

struct probe *probe_ckpt_load(const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "probe", j, false}, c = {r, "probe.cfg", NULL, false};
	struct probe *p = calloc(1, sizeof(*p));
	const json_t *sent_at, *got;

	if (!p) {
		ckr_fail(r, "probe: out of memory");
		return NULL;
	}
	p->sock = (int)ckget_int(&g, "sock", -1, INT32_MAX);
	ckget_ep(&g, "remote", &p->remote);
	c.o = ckget_get(&g, "cfg");
	p->cfg.count = (int)ckget_int(&c, "count", 0, PROBE_MAX);
	p->cfg.interval_ns = ckget_dur(&c, "interval_ns");
	p->cfg.wait_ns = ckget_dur(&c, "wait_ns");
	p->cfg.try_id = ckget_u64(&c, "try_id");
	p->txid_salt = ckget_u64(&g, "txid_salt");
	p->sent = (int)ckget_int(&g, "sent", 0, p->cfg.count);
	p->answered = (int)ckget_int(&g, "answered", 0, p->sent);
	p->finished = ckget_bool(&g, "finished");
	p->rtt_sum = ckget_real(&g, "rtt_sum");
	p->rtt_min = ckget_real(&g, "rtt_min");
	p->rtt_max = ckget_real(&g, "rtt_max");
	p->sent_at = calloc((size_t)p->cfg.count + 1, sizeof(*p->sent_at));
	p->got = calloc((size_t)p->cfg.count + 1, sizeof(*p->got));
	if (!p->sent_at || !p->got) {
		ckr_fail(r, "probe: out of memory");
		probe_free(p);
		return NULL;
	}
	sent_at = ckget_get(&g, "sent_at");
	got = ckget_get(&g, "got");
	if (sent_at && (!json_is_array(sent_at) || json_array_size(sent_at) != (size_t)p->sent))
		ckget_fail(&g, "sent_at", "not one time a probe sent");
	if (got && (!json_is_array(got) || json_array_size(got) != (size_t)p->sent))
		ckget_fail(&g, "got", "not one flag a probe sent");
	for (int i = 0; !g.bad && i < p->sent; i++) {
		const json_t *b = json_array_get(got, (size_t)i);
		json_int_t at;

		if (jsonck_int(json_array_get(sent_at, (size_t)i), 0, INT64_MAX, &at) < 0)
			ckget_fail(&g, "sent_at", "not a time");
		if (!json_is_boolean(b))
			ckget_fail(&g, "got", "not true or false");
		p->sent_at[i] = at;
		p->got[i] = json_is_true(b);
	}
	ckget_obj(&g, "id", p);
	ckget_ref(&g, "d", &p->d);
	ckget_ref(&g, "arg", &p->arg);
	p->done = (probe_done_fn)ckget_fn(&g, "done");
	ckget_timer(&g, "timer", &p->timer);
	if (g.bad || c.bad) {
		probe_free(p); /* nothing scheduled: ckr_finish() fills no field of it now */
		return NULL;
	}
	return p;
}

static const struct ckfn probe_fns[] = {CKFN(probe_tick)};
const struct ckfns probe_ckfns = CKFNS(probe, probe_fns);
