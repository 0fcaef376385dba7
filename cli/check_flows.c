/* natbed check: a NAT's traffic rebuilt from its captures. Each packet
 * that left (on NAT-wan.pcap, translated) is paired with the packet an
 * inside host sent (on its HOST.pcap, or the outside capture of a NAT
 * behind this one): same destination, same hash, sent last before it.
 * That pair is one use of a mapping: inside endpoint -> external endpoint.
 * Each packet that arrived at the NAT's outside is paired the same way with
 * the packet an inside host received, if one did. The result is one list
 * of what the NAT did, in its own time order, for the rules to replay. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"

#define CK_PROTO_ICMP	 1
#define CK_PROTO_UDP	 17
#define CK_PCP_PORT	 5351		 /* RFC 6887 §19.1, RFC 6886 §3 */
#define CK_MATCH_EPS_NS	 1000		 /* capture times of one decision */
#define CK_DUP_WINDOW_NS NATBED_NS_PER_S /* a duplicate follows its original */
#define CK_ANSWER_NS	 NATBED_NS_PER_S /* a firewall's answer follows what it refused */

bool ck_nat_inside(const struct topo_nat *n, uint32_t a)
{
	uint32_t mask = n->inside_len ? htonl(~0u << (32 - n->inside_len)) : 0;

	return (a & mask) == n->inside_net.s_addr;
}

bool ck_nat_public(const struct topo_nat *n, uint32_t a)
{
	size_t i;

	for (i = 0; i < n->n_public; i++)
		if (n->publics[i].s_addr == a)
			return true;
	return false;
}

/* The far end's port as a NAT keeps it: an ICMP echo has one identifier,
 * which the NAT rewrites both ways (RFC 5508 REQ-3), so no far port. */
static uint16_t far_port(const struct ck_pkt *p, uint16_t port)
{
	return p->proto == CK_PROTO_ICMP ? 0 : port;
}

/* --- pairing: the last unpaired candidate before a time, per key ----------- */

struct mt_item {
	uint64_t k1, k2;
	int64_t t;
	uint32_t id;
};

/* Candidates sorted by key then time; per group (run of one key), those up
 * to the last query's time wait on a stack (link[]), latest on top. */
struct matcher {
	struct mt_item *it;
	size_t n, cap;
	int32_t *link, *top, *last;
	size_t *cur;
};

static uint64_t mt_k1(uint8_t proto, uint32_t addr, uint16_t port)
{
	return (uint64_t)proto << 48 | (uint64_t)port << 32 | addr;
}

static int mt_add(struct matcher *m, uint64_t k1, uint64_t k2, int64_t t, uint32_t id)
{
	struct mt_item *n;

	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		if (!(n = realloc(m->it, m->cap * sizeof(*n))))
			return -ENOMEM;
		m->it = n;
	}
	m->it[m->n++] = (struct mt_item){k1, k2, t, id};
	return 0;
}

static int mt_cmp(const void *a, const void *b)
{
	const struct mt_item *x = a, *y = b;

	if (x->k1 != y->k1)
		return x->k1 < y->k1 ? -1 : 1;
	if (x->k2 != y->k2)
		return x->k2 < y->k2 ? -1 : 1;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int mt_ready(struct matcher *m)
{
	size_t i;

	if (m->n > 1)
		qsort(m->it, m->n, sizeof(*m->it), mt_cmp);
	m->link = malloc((m->n + 1) * sizeof(*m->link));
	m->top = malloc((m->n + 1) * sizeof(*m->top));
	m->last = malloc((m->n + 1) * sizeof(*m->last));
	m->cur = malloc((m->n + 1) * sizeof(*m->cur));
	if (!m->link || !m->top || !m->last || !m->cur)
		return -ENOMEM;
	for (i = 0; i < m->n; i++) {
		m->top[i] = m->last[i] = -1;
		m->cur[i] = i;
	}
	return 0;
}

static void mt_free(struct matcher *m)
{
	free(m->it);
	free(m->link);
	free(m->top);
	free(m->last);
	free(m->cur);
	memset(m, 0, sizeof(*m));
}

/* The first index of key's group, or -1. */
static long mt_group(const struct matcher *m, uint64_t k1, uint64_t k2)
{
	size_t lo = 0, hi = m->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (m->it[mid].k1 < k1 || (m->it[mid].k1 == k1 && m->it[mid].k2 < k2))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == m->n || m->it[lo].k1 != k1 || m->it[lo].k2 != k2)
		return -1;
	return (long)lo;
}

/* The id of the latest unpaired candidate of key at or before t, now
 * paired; else of the last one paired if it was within a duplicate's
 * reach; else -1. Queries must come in time order. */
static long mt_take(struct matcher *m, uint64_t k1, uint64_t k2, int64_t t)
{
	long g = mt_group(m, k1, k2);
	int32_t i;

	if (g < 0)
		return -1;
	while (m->cur[g] < m->n && m->it[m->cur[g]].k1 == k1 && m->it[m->cur[g]].k2 == k2 &&
	       m->it[m->cur[g]].t <= t + CK_MATCH_EPS_NS) {
		m->link[m->cur[g]] = m->top[g];
		m->top[g] = (int32_t)m->cur[g]++;
	}
	if ((i = m->top[g]) >= 0) {
		m->top[g] = m->link[i];
		m->last[g] = i;
		return m->it[i].id;
	}
	i = m->last[g];
	return i >= 0 && t - m->it[i].t <= CK_DUP_WINDOW_NS ? (long)m->it[i].id : -1;
}

/* --- the NAT's packets ---------------------------------------------------- */

/* A packet of an inside capture, by capture and index. */
struct in_ref {
	uint16_t cap;
	uint32_t i;
};

enum in_class { IN_NONE, IN_OUTBOUND, IN_HP_SEND, IN_DELIVERY, IN_HP_DELIVERY, IN_CLASS_COUNT };

struct flows {
	struct ck_natview *v;
	const struct topo_nat *nat;
	struct in_ref *list[IN_CLASS_COUNT];
	size_t n[IN_CLASS_COUNT], cap[IN_CLASS_COUNT];
	long *wan_delivery; /* per wan packet: the delivery paired with it, or -1 */
	bool *out_paired;   /* per outbound packet: it left the NAT */
	size_t ev_cap;
};

static const struct ck_pkt *in_pkt(const struct flows *f, struct in_ref r)
{
	return &f->v->inside[r.cap]->p[r.i];
}

static struct ck_ref in_cref(const struct flows *f, struct in_ref r)
{
	return (struct ck_ref){f->v->inside[r.cap]->file, in_pkt(f, r)->no};
}

static bool is_own(const struct ck_natview *v, size_t c, uint32_t a)
{
	size_t k;

	for (k = 0; k < v->n_own[c]; k++)
		if (v->own[c][k] == a)
			return true;
	return false;
}

/* Which way p crossed the NAT, seen from inside capture c. */
static enum in_class classify(struct flows *f, size_t c, const struct ck_pkt *p)
{
	struct ck_natview *v = f->v;

	if (p->kind != CK_L4)
		return IN_NONE;
	if (is_own(v, c, p->src)) {
		if (ck_nat_inside(f->nat, p->dst)) {
			v->lan++; /* a neighbour or the gateway: never crosses the NAT */
			if (p->dst == f->nat->gateway.s_addr && p->proto == CK_PROTO_UDP &&
			    p->dport == CK_PCP_PORT)
				v->pcp_seen = true;
			return IN_NONE;
		}
		return ck_nat_public(f->nat, p->dst) ? IN_HP_SEND : IN_OUTBOUND;
	}
	if (is_own(v, c, p->dst)) {
		if (ck_nat_inside(f->nat, p->src))
			return IN_NONE;
		return ck_nat_public(f->nat, p->src) ? IN_HP_DELIVERY : IN_DELIVERY;
	}
	return IN_NONE;
}

static int list_push(struct flows *f, enum in_class k, struct in_ref r)
{
	struct in_ref *n;

	if (f->n[k] == f->cap[k]) {
		f->cap[k] = f->cap[k] ? f->cap[k] * 2 : 256;
		if (!(n = realloc(f->list[k], f->cap[k] * sizeof(*n))))
			return -ENOMEM;
		f->list[k] = n;
	}
	f->list[k][f->n[k]++] = r;
	return 0;
}

static int ref_cmp(const void *a, const void *b, void *ctx)
{
	const struct ck_pkt *x = in_pkt(ctx, *(const struct in_ref *)a);
	const struct ck_pkt *y = in_pkt(ctx, *(const struct in_ref *)b);

	if (x->t_ns != y->t_ns)
		return x->t_ns < y->t_ns ? -1 : 1;
	return x->no < y->no ? -1 : x->no > y->no;
}

static int flows_classify(struct flows *f)
{
	struct ck_natview *v = f->v;
	enum in_class k;
	size_t c, i;

	for (c = 0; c < v->n_inside; c++)
		for (i = 0; i < v->inside[c]->n; i++) {
			struct in_ref r = {(uint16_t)c, (uint32_t)i};

			k = classify(f, c, &v->inside[c]->p[i]);
			if (k != IN_NONE && list_push(f, k, r) < 0)
				return -ENOMEM;
		}
	/* every list in time order, whatever capture each packet is on */
	for (k = IN_OUTBOUND; k < IN_CLASS_COUNT; k++)
		if (f->n[k] > 1)
			qsort_r(f->list[k], f->n[k], sizeof(struct in_ref), ref_cmp, f);
	v->hairpin_sent = f->n[IN_HP_SEND];
	return 0;
}

static struct ck_ev *ev_push(struct flows *f)
{
	struct ck_natview *v = f->v;
	struct ck_ev *n;

	if (v->n_ev == f->ev_cap) {
		f->ev_cap = f->ev_cap ? f->ev_cap * 2 : 1024;
		if (!(n = realloc(v->ev, f->ev_cap * sizeof(*n))))
			return NULL;
		v->ev = n;
	}
	n = &v->ev[v->n_ev++];
	memset(n, 0, sizeof(*n));
	return n;
}

/* Packets that left: each paired with what an inside host sent. */
static int flows_out(struct flows *f)
{
	const struct ck_cap *w = f->v->wan;
	struct matcher m = {0};
	struct ck_ev *e;
	size_t i;
	long id;
	int rc = 0;

	for (i = 0; i < f->n[IN_OUTBOUND] && rc == 0; i++) {
		const struct ck_pkt *p = in_pkt(f, f->list[IN_OUTBOUND][i]);

		rc = mt_add(&m, mt_k1(p->proto, p->dst, far_port(p, p->dport)), p->hash, p->t_ns,
			    (uint32_t)i);
	}
	if (rc < 0 || (rc = mt_ready(&m)) < 0)
		goto out;
	for (i = 0; i < w->n; i++) {
		const struct ck_pkt *p = &w->p[i];
		const struct ck_pkt *q;

		if (p->kind != CK_L4 || !ck_nat_public(f->nat, p->src))
			continue;
		f->v->out_seen++;
		id = mt_take(&m, mt_k1(p->proto, p->dst, far_port(p, p->dport)), p->hash, p->t_ns);
		if (id < 0)
			continue;
		f->v->out_matched++;
		f->out_paired[id] = true;
		q = in_pkt(f, f->list[IN_OUTBOUND][id]);
		if (!(e = ev_push(f))) {
			rc = -ENOMEM;
			goto out;
		}
		e->t_ns = p->t_ns;
		e->type = CK_EV_OUT;
		e->proto = p->proto;
		e->in = (struct ck_ep){q->src, q->sport};
		e->remote = (struct ck_ep){p->dst, far_port(p, p->dport)};
		e->ext = (struct ck_ep){p->src, p->sport};
		e->wan = (struct ck_ref){w->file, p->no};
		e->inside = in_cref(f, f->list[IN_OUTBOUND][id]);
	}
out:
	mt_free(&m);
	return rc;
}

/* A delivery of type (CK_EV_ORPHAN, CK_EV_HP_ORPHAN) that nothing sent
 * explains: the event, or NULL on ENOMEM. */
static struct ck_ev *orphan(struct flows *f, enum ck_ev_type type, struct in_ref r)
{
	const struct ck_pkt *q = in_pkt(f, r);
	struct ck_ev *e = ev_push(f);

	if (!e)
		return NULL;
	e->t_ns = q->t_ns;
	e->type = (uint8_t)type;
	e->proto = q->proto;
	e->delivered = true;
	e->in = (struct ck_ep){q->dst, q->dport};
	e->remote = (struct ck_ep){q->src, far_port(q, q->sport)};
	e->inside = in_cref(f, r);
	return e;
}

/* Whether q, delivered from the far end but never seen arriving outside,
 * answers a packet its receiver sent there just before that never left the
 * NAT: a firewall's reject (a TCP RST, RFC 793, from the refused packet's
 * destination), made on the inside. */
static bool local_answer(const struct flows *f, const struct ck_pkt *q)
{
	const struct in_ref *l = f->list[IN_OUTBOUND];
	size_t lo = 0, hi = f->n[IN_OUTBOUND], mid;

	while (lo < hi) { /* the first packet sent after q */
		mid = lo + (hi - lo) / 2;
		if (in_pkt(f, l[mid])->t_ns <= q->t_ns)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo-- > 0) {
		const struct ck_pkt *p = in_pkt(f, l[lo]);

		if (q->t_ns - p->t_ns > CK_ANSWER_NS)
			break;
		if (!f->out_paired[lo] && p->proto == q->proto && p->src == q->dst &&
		    p->sport == q->dport && p->dst == q->src && p->dport == q->sport)
			return true;
	}
	return false;
}

/* Packets that arrived: each delivery paired with its arrival; then one
 * event per arrival, and one per delivery that arrived from nowhere. */
static int flows_in(struct flows *f)
{
	const struct ck_cap *w = f->v->wan;
	struct matcher m = {0};
	struct ck_ev *e;
	size_t i;
	long id;
	int rc = 0;

	for (i = 0; i < w->n && rc == 0; i++) {
		const struct ck_pkt *p = &w->p[i];

		f->wan_delivery[i] = -1;
		if (p->kind == CK_L4 && ck_nat_public(f->nat, p->dst))
			rc = mt_add(&m, mt_k1(p->proto, p->src, far_port(p, p->sport)), p->hash,
				    p->t_ns, (uint32_t)i);
	}
	if (rc < 0 || (rc = mt_ready(&m)) < 0)
		goto out;
	for (i = 0; i < f->n[IN_DELIVERY]; i++) {
		const struct ck_pkt *q = in_pkt(f, f->list[IN_DELIVERY][i]);

		id = mt_take(&m, mt_k1(q->proto, q->src, far_port(q, q->sport)), q->hash, q->t_ns);
		if (id >= 0 && f->wan_delivery[id] < 0) {
			f->wan_delivery[id] = (long)i;
			continue;
		}
		if (id >= 0)
			continue; /* a duplicate of a delivery already paired */
		if (local_answer(f, q)) {
			f->v->local_answers++;
			continue;
		}
		if (!orphan(f, CK_EV_ORPHAN, f->list[IN_DELIVERY][i])) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < w->n; i++) {
		const struct ck_pkt *p = &w->p[i];

		if (p->kind != CK_L4 || !ck_nat_public(f->nat, p->dst))
			continue;
		f->v->in_seen++;
		if (!(e = ev_push(f))) {
			rc = -ENOMEM;
			goto out;
		}
		e->t_ns = p->t_ns;
		e->type = CK_EV_IN;
		e->proto = p->proto;
		e->remote = (struct ck_ep){p->src, far_port(p, p->sport)};
		e->ext = (struct ck_ep){p->dst, p->dport};
		e->wan = (struct ck_ref){w->file, p->no};
		if (f->wan_delivery[i] >= 0) {
			const struct in_ref r = f->list[IN_DELIVERY][f->wan_delivery[i]];
			const struct ck_pkt *q = in_pkt(f, r);

			f->v->in_delivered++;
			e->delivered = true;
			e->in = (struct ck_ep){q->dst, q->dport};
			e->inside = in_cref(f, r);
		}
	}
out:
	mt_free(&m);
	return rc;
}

/* Packets an inside host sent to the NAT's own address: each paired with
 * the hairpinned packet another received, if one did. */
static int flows_hairpin(struct flows *f)
{
	struct matcher m = {0};
	long *got = NULL, id;
	struct ck_ev *e;
	size_t i;
	int rc = 0;

	if (!(got = malloc((f->n[IN_HP_SEND] + 1) * sizeof(*got))))
		return -ENOMEM;
	for (i = 0; i < f->n[IN_HP_SEND] && rc == 0; i++) {
		const struct ck_pkt *p = in_pkt(f, f->list[IN_HP_SEND][i]);

		got[i] = -1;
		rc = mt_add(&m, mt_k1(p->proto, 0, 0), p->hash, p->t_ns, (uint32_t)i);
	}
	if (rc < 0 || (rc = mt_ready(&m)) < 0)
		goto out;
	for (i = 0; i < f->n[IN_HP_DELIVERY]; i++) {
		const struct ck_pkt *q = in_pkt(f, f->list[IN_HP_DELIVERY][i]);

		id = mt_take(&m, mt_k1(q->proto, 0, 0), q->hash, q->t_ns);
		if (id >= 0) {
			if (got[id] < 0)
				got[id] = (long)i;
			continue;
		}
		if (!orphan(f, CK_EV_HP_ORPHAN, f->list[IN_HP_DELIVERY][i])) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < f->n[IN_HP_SEND]; i++) {
		const struct ck_pkt *p = in_pkt(f, f->list[IN_HP_SEND][i]);

		if (!(e = ev_push(f))) {
			rc = -ENOMEM;
			goto out;
		}
		e->t_ns = p->t_ns;
		e->type = CK_EV_HP_SEND;
		e->proto = p->proto;
		e->in = (struct ck_ep){p->src, p->sport};
		e->remote = (struct ck_ep){p->dst, p->dport};
		e->inside = in_cref(f, f->list[IN_HP_SEND][i]);
		if (got[i] >= 0) {
			const struct in_ref r = f->list[IN_HP_DELIVERY][got[i]];
			const struct ck_pkt *q = in_pkt(f, r);

			e->delivered = true;
			e->hp_src = (struct ck_ep){q->src, q->sport};
			e->hp_to = (struct ck_ep){q->dst, q->dport};
			e->inside2 = in_cref(f, r);
		}
	}
out:
	free(got);
	mt_free(&m);
	return rc;
}

static int ev_cmp(const void *a, const void *b)
{
	const struct ck_ev *x = a, *y = b;

	if (x->t_ns != y->t_ns)
		return x->t_ns < y->t_ns ? -1 : 1;
	/* at one instant what left opened the way for what came in */
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if (x->wan.no != y->wan.no)
		return x->wan.no < y->wan.no ? -1 : 1;
	return x->inside.no < y->inside.no ? -1 : x->inside.no > y->inside.no;
}

int ck_flows_build(struct ck_natview *v)
{
	struct flows f = {.v = v, .nat = &v->t->nats[v->nat]};
	enum in_class k;
	int rc;

	v->ev = NULL;
	v->n_ev = 0;
	f.wan_delivery = malloc((v->wan->n + 1) * sizeof(*f.wan_delivery));
	if (!f.wan_delivery)
		return -ENOMEM;
	if ((rc = flows_classify(&f)) < 0)
		goto out;
	if (!(f.out_paired = calloc(f.n[IN_OUTBOUND] + 1, sizeof(*f.out_paired)))) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = flows_out(&f)) < 0 || (rc = flows_in(&f)) < 0 || (rc = flows_hairpin(&f)) < 0) {
		ck_flows_clear(v);
		goto out;
	}
	if (v->n_ev > 1)
		qsort(v->ev, v->n_ev, sizeof(*v->ev), ev_cmp);
out:
	for (k = 0; k < IN_CLASS_COUNT; k++)
		free(f.list[k]);
	free(f.wan_delivery);
	free(f.out_paired);
	return rc;
}

void ck_flows_clear(struct ck_natview *v)
{
	free(v->ev);
	v->ev = NULL;
	v->n_ev = 0;
}
