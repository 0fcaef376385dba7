/* natbed check: every success an agent claims in results.json is backed by
 * the captures. A direct path: host a's capture shows packets from its
 * `local` endpoint to `remote` and back; host b's capture shows b sending
 * the packets a received (the same packets, by hash) and receiving from
 * where it sent them. A `local` that is not one of a's addresses is a's
 * external endpoint (a NAT's): b must have sent to it. A relayed path: each host's capture shows
 * packets both ways with the relay (a's `local` is the relay's address
 * when a holds the allocation, or a's own endpoint talking to it). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "results.h"

struct side {
	uint32_t sent, recv;	  /* packets each way */
	struct ck_ref first_sent; /* the first of them */
	struct ck_ref first_recv;
};

/* "IP:PORT" into e. 0 or -1. */
static int ep_parse(const char *s, struct ck_ep *e)
{
	char buf[CK_EP_STR];
	const char *colon = s ? strrchr(s, ':') : NULL;
	struct in_addr a;
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(colon - s));
	buf[colon - s] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (inet_pton(AF_INET, buf, &a) != 1 || *end || port == 0 || port > 65535)
		return -1;
	*e = (struct ck_ep){a.s_addr, (uint16_t)port};
	return 0;
}

static bool is_host_addr(const struct topo_host *h, uint32_t a)
{
	size_t k;

	for (k = 0; k < h->n_addrs; k++)
		if (h->addrs[k].s_addr == a)
			return true;
	return false;
}

/* Packets between us and them on c (them.addr 0: anyone). */
static void count(const struct ck_cap *c, struct ck_ep us, struct ck_ep them, struct side *s)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < c->n; i++) {
		const struct ck_pkt *p = &c->p[i];

		if (p->kind != CK_L4)
			continue;
		if (p->src == us.addr && p->sport == us.port &&
		    (!them.addr || (p->dst == them.addr && p->dport == them.port))) {
			if (!s->sent++)
				s->first_sent = (struct ck_ref){c->file, p->no};
		} else if (p->dst == us.addr && p->dport == us.port &&
			   (!them.addr || (p->src == them.addr && p->sport == them.port))) {
			if (!s->recv++)
				s->first_recv = (struct ck_ref){c->file, p->no};
		}
	}
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The endpoint b sent a's received packets from, and where to: found by
 * their hashes on b's capture. false when b's capture shows none. */
static bool b_endpoints(const struct ck_cap *ca, struct ck_ep local, struct ck_ep remote,
			const struct ck_cap *cb, const struct topo_host *hb, struct ck_ep *lb,
			struct ck_ep *to, struct ck_ref *ref)
{
	uint64_t *h = malloc((ca->n + 1) * sizeof(*h));
	size_t i, n = 0;
	bool found = false;

	if (!h)
		return false;
	for (i = 0; i < ca->n; i++) {
		const struct ck_pkt *p = &ca->p[i];

		if (p->kind == CK_L4 && p->dst == local.addr && p->dport == local.port &&
		    p->src == remote.addr && p->sport == remote.port)
			h[n++] = p->hash;
	}
	qsort(h, n, sizeof(*h), u64_cmp);
	for (i = 0; i < cb->n && !found; i++) {
		const struct ck_pkt *p = &cb->p[i];

		if (p->kind != CK_L4 || !is_host_addr(hb, p->src) ||
		    !bsearch(&p->hash, h, n, sizeof(*h), u64_cmp))
			continue;
		*lb = (struct ck_ep){p->src, p->sport};
		*to = (struct ck_ep){p->dst, p->dport};
		*ref = (struct ck_ref){cb->file, p->no};
		found = true;
	}
	free(h);
	return found;
}

/* Whether the pair (us, them) is new to tried[] (and now in it): each pair
 * is counted once, and at most CK_TRIES of them. */
#define CK_TRIES 16
/* inside endpoints of one host that talked with one remote (connects of
 * many clients of one site to one server) */
#define CK_INSIDE_MAX 4096
static bool first_try(struct ck_ep tried[][2], size_t *n, struct ck_ep us, struct ck_ep them)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (tried[i][0].addr == us.addr && tried[i][0].port == us.port &&
		    tried[i][1].addr == them.addr && tried[i][1].port == them.port)
			return false;
	if (*n == CK_TRIES)
		return false;
	tried[*n][0] = us;
	tried[(*n)++][1] = them;
	return true;
}

/* The far end local exchanged packets with both ways, or {0}. */
static struct ck_ep relay_of(const struct ck_cap *c, struct ck_ep local)
{
	struct ck_ep tried[CK_TRIES][2];
	struct side s;
	size_t i, n = 0;

	for (i = 0; i < c->n; i++) {
		const struct ck_pkt *p = &c->p[i];
		struct ck_ep far = {p->dst, p->dport};

		if (p->kind != CK_L4 || p->src != local.addr || p->sport != local.port ||
		    !first_try(tried, &n, local, far))
			continue;
		count(c, local, far, &s);
		if (s.recv)
			return far;
	}
	return (struct ck_ep){0, 0};
}

/* Some endpoint of host h exchanged packets both ways with address a on c. */
static bool talks_with(const struct ck_cap *c, const struct topo_host *h, uint32_t a)
{
	struct ck_ep tried[CK_TRIES][2], us, them;
	struct side s;
	size_t i, n = 0;

	for (i = 0; i < c->n; i++) {
		const struct ck_pkt *p = &c->p[i];

		us = (struct ck_ep){p->src, p->sport};
		them = (struct ck_ep){p->dst, p->dport};
		if (p->kind != CK_L4 || p->dst != a || !is_host_addr(h, p->src) ||
		    !first_try(tried, &n, us, them))
			continue;
		count(c, us, them, &s);
		if (s.recv)
			return true;
	}
	return false;
}

struct attempt_ctx {
	struct ck_report *rep;
	int row;
	const struct res_attempt *at;
	size_t index;
	char label[96];
};

static void bad(struct attempt_ctx *x, const struct ck_ref *refs, size_t n, const char *why)
{
	ck_violation(x->rep, x->row, refs, n, "attempt %zu (%s): claims success, but %s",
		     x->index + 1, x->label, why);
}

static void check_relay(struct attempt_ctx *x, const struct ck_cap *ca, const struct ck_cap *cb,
			const struct topo_host *ha, const struct topo_host *hb, struct ck_ep local)
{
	struct ck_ep relay = relay_of(ca, local);
	char a[CK_EP_STR], why[200];

	/* local is a's relayed address on the TURN server (RFC 8656): a
	 * talks with the server, which holds it */
	if (!is_host_addr(ha, local.addr)) {
		relay = local;
		if (!talks_with(ca, ha, relay.addr)) {
			snprintf(why, sizeof(why),
				 "%s shows no packets both ways with the relay %s", ca->file,
				 ck_addr_str(relay.addr, a));
			bad(x, NULL, 0, why);
			return;
		}
	}
	if (!relay.addr) {
		snprintf(why, sizeof(why), "%s shows no packets both ways at %s", ca->file,
			 ck_ep_str(local, a));
		bad(x, NULL, 0, why);
		return;
	}
	if (!talks_with(cb, hb, relay.addr)) {
		snprintf(why, sizeof(why), "%s shows no packets both ways with the relay %s",
			 cb->file, ck_addr_str(relay.addr, a));
		bad(x, NULL, 0, why);
	}
}

/* a's inside endpoints the path may be on: local itself, or, when local
 * is a's external endpoint (a NAT's, as a method may report it), each
 * inside endpoint where a received remote's packets (several connects of
 * one host may talk with one remote), in the capture's order, at most max.
 * Returns how many. */
static size_t a_inside(const struct ck_cap *ca, const struct topo_host *ha, struct ck_ep local,
		       struct ck_ep remote, struct ck_ep *in, size_t max)
{
	size_t i, k, n = 0;

	if (is_host_addr(ha, local.addr)) {
		in[0] = local;
		return 1;
	}
	for (i = 0; i < ca->n && n < max; i++) {
		const struct ck_pkt *p = &ca->p[i];
		struct ck_ep e = {p->dst, p->dport};

		if (p->kind != CK_L4 || p->src != remote.addr || p->sport != remote.port ||
		    !is_host_addr(ha, p->dst))
			continue;
		for (k = 0; k < n && (in[k].addr != e.addr || in[k].port != e.port); k++)
			;
		if (k == n)
			in[n++] = e;
	}
	return n;
}

static void check_direct(struct attempt_ctx *x, const struct ck_cap *ca, const struct ck_cap *cb,
			 const struct topo_host *ha, const struct topo_host *hb, struct ck_ep local,
			 struct ck_ep remote)
{
	char a[CK_EP_STR], b[CK_EP_STR], c[CK_EP_STR], why[240];
	struct ck_ep *ins = calloc(CK_INSIDE_MAX, sizeof(*ins)), in, lb, to;
	struct ck_ref ref;
	struct side s;
	size_t n_in = ins ? a_inside(ca, ha, local, remote, ins, CK_INSIDE_MAX) : 0, k;

	/* the inside endpoint whose packets b sent to the local claimed */
	for (k = 0; k < n_in; k++) {
		count(ca, ins[k], remote, &s);
		if (s.sent && s.recv && b_endpoints(ca, ins[k], remote, cb, hb, &lb, &to, &ref) &&
		    to.addr == local.addr && to.port == local.port)
			break;
	}
	in = n_in ? ins[k < n_in ? k : 0] : (struct ck_ep){0, 0};
	free(ins);
	if (n_in == 0) {
		snprintf(why, sizeof(why), "%s shows no packet from %s to %s", ca->file,
			 ck_ep_str(remote, a), x->at->a);
		bad(x, NULL, 0, why);
		return;
	}
	count(ca, in, remote, &s);
	if (!s.sent || !s.recv) {
		snprintf(why, sizeof(why), "%s shows no packet from %s to %s", ca->file,
			 ck_ep_str(s.sent ? remote : in, a), ck_ep_str(s.sent ? in : remote, b));
		bad(x, s.sent ? &s.first_sent : &s.first_recv, s.sent ? 1 : 0, why);
		return;
	}
	if (!b_endpoints(ca, in, remote, cb, hb, &lb, &to, &ref)) {
		snprintf(why, sizeof(why),
			 "%s shows none of the %u packets %s received from %s leaving %s", cb->file,
			 s.recv, ca->file, ck_ep_str(remote, a), x->at->b);
		bad(x, &s.first_recv, 1, why);
		return;
	}
	if (!is_host_addr(ha, local.addr) && (to.addr != local.addr || to.port != local.port)) {
		snprintf(why, sizeof(why), "%s shows %s sending to %s, not to the local %s claimed",
			 cb->file, x->at->b, ck_ep_str(to, a), ck_ep_str(local, b));
		bad(x, &ref, 1, why);
		return;
	}
	count(cb, lb, to, &s);
	if (!s.recv) {
		snprintf(why, sizeof(why), "%s shows %s sending from %s to %s and nothing back",
			 cb->file, x->at->b, ck_ep_str(lb, a), ck_ep_str(to, c));
		bad(x, &ref, 1, why);
	}
}

void ck_rule_attempts(struct ck_report *rep, struct results *r, const struct topo *t,
		      const struct ck_cap *caps)
{
	struct attempt_ctx x = {.rep = rep, .row = ck_row(rep, "attempts", "backed")};
	unsigned long claimed = 0, unknown = 0, uncaptured = 0;
	struct ck_ep local, remote;
	size_t i, n = results_n_attempts(r);
	int ha, hb;

	for (i = 0; i < n; i++) {
		x.at = results_attempt(r, i);
		x.index = i;
		if (!x.at || !x.at->success)
			continue;
		claimed++;
		ha = topo_host_find(t, x.at->a);
		hb = topo_host_find(t, x.at->b);
		if (ha < 0 || hb < 0) {
			unknown++;
			continue;
		}
		if (!caps[ha].present || !caps[hb].present) {
			uncaptured++;
			continue;
		}
		snprintf(x.label, sizeof(x.label), "%s -> %s, %s, %s", x.at->a, x.at->b,
			 x.at->method ? x.at->method : "?", x.at->path ? x.at->path : "no path");
		if (ep_parse(x.at->local, &local) < 0 || ep_parse(x.at->remote, &remote) < 0) {
			bad(&x, NULL, 0, "its local or remote endpoint is not IP:PORT");
			continue;
		}
		if (x.at->path && strcmp(x.at->path, "relay") == 0)
			check_relay(&x, &caps[ha], &caps[hb], &t->hosts[ha], &t->hosts[hb], local);
		else
			check_direct(&x, &caps[ha], &caps[hb], &t->hosts[ha], &t->hosts[hb], local,
				     remote);
	}
	ck_row_seen(rep, x.row, "%lu successes claimed of %zu attempts", claimed, n);
	if (claimed && unknown + uncaptured == claimed)
		ck_row_skip(rep, x.row,
			    "%lu successes claimed: %lu between hosts the topology does not have, "
			    "%lu without both captures",
			    claimed, unknown, uncaptured);
	else if (unknown + uncaptured)
		ck_row_seen(rep, x.row,
			    "%lu successes claimed of %zu attempts (%lu not checkable: hosts "
			    "unknown or not captured)",
			    claimed, n, unknown + uncaptured);
}
