/* natbed matrix's judge (matrix_judge.h): captures read with natbed
 * check's reader (check_pcap.c), each host's flows with its peer and with
 * the TURN server looked for in a time window. */
#include "matrix_judge.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "cli.h"

#define MX_PROTO_UDP	 17
#define MX_FLOWS_MAX	 16 /* distinct flows looked at per host and pair */
#define MX_STUN_HDR	 20
#define MX_STUN_COOKIE	 0x2112a442u
#define MX_STUN_SEND_IND 0x0016 /* RFC 8656 §11.4: Send indication */
#define MX_STUN_DATA_IND 0x0017 /* RFC 8656 §11.6: Data indication */
#define MX_CHANNEL_LO	 0x40	/* RFC 8656 §12: channel numbers 0x4000-0x4FFF */
#define MX_CHANNEL_HI	 0x4f

/* One host's capture, and which of its records carry relayed data. */
struct mx_hcap {
	struct ck_cap cap;
	uint8_t *relay; /* by record number - 1; shorter than cap.n: the rest 0 */
	size_t n_relay;
	bool oom;
};

struct mx_judge {
	const struct topo *t;
	uint32_t turn_addr;
	uint16_t turn_port;
	struct mx_hcap *h; /* by host index */
};

const char *mx_path_name(enum mx_path p)
{
	return p == MX_PATH_DIRECT ? "direct" : p == MX_PATH_RELAYED ? "relayed" : "none";
}

/* Whether payload is data a TURN client and server relay, rather than the
 * allocation's own business: ChannelData (RFC 8656 §12.4: first byte
 * 0x40-0x4F, RFC 7983) or a Send or Data indication. */
static bool mx_relay_payload(const uint8_t *p, size_t len)
{
	uint32_t cookie;
	uint16_t type;

	if (len >= 4 && p[0] >= MX_CHANNEL_LO && p[0] <= MX_CHANNEL_HI)
		return true;
	if (len < MX_STUN_HDR || (p[0] & 0xc0))
		return false;
	cookie = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	type = (uint16_t)(p[0] << 8 | p[1]);
	return cookie == MX_STUN_COOKIE && (type == MX_STUN_SEND_IND || type == MX_STUN_DATA_IND);
}

struct mx_mark {
	const struct mx_judge *j;
	struct mx_hcap *hc;
};

/* A ck_udp_fn: marks the records that are relayed data. */
static void mx_mark_relay(void *ctx, const struct ck_cap *c, const struct ck_pkt *p,
			  const uint8_t *payload, size_t len)
{
	struct mx_mark *m = ctx;
	struct mx_hcap *hc = m->hc;
	uint16_t far_port;
	size_t i = p->no - 1;

	(void)c;
	if (!m->j->turn_port || p->proto != MX_PROTO_UDP)
		return;
	if (p->src == m->j->turn_addr)
		far_port = p->sport;
	else if (p->dst == m->j->turn_addr)
		far_port = p->dport;
	else
		return;
	if (far_port == m->j->turn_port && !mx_relay_payload(payload, len))
		return;
	if (i >= hc->n_relay) {
		size_t n = hc->n_relay ? hc->n_relay * 2 : 1024;
		uint8_t *r;

		while (n <= i)
			n *= 2;
		if (!(r = realloc(hc->relay, n))) {
			hc->oom = true;
			return;
		}
		memset(r + hc->n_relay, 0, n - hc->n_relay);
		hc->relay = r;
		hc->n_relay = n;
	}
	hc->relay[i] = 1;
}

struct mx_judge *mx_judge_load(const char *dir, const struct topo *t, uint32_t turn_addr,
			       uint16_t turn_port, char *err, size_t errlen)
{
	struct mx_judge *j = calloc(1, sizeof(*j));
	char path[CLI_PATH_MAX];

	if (!j || !(j->h = calloc(t->n_hosts + 1, sizeof(*j->h)))) {
		free(j);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	j->t = t;
	j->turn_addr = turn_addr;
	j->turn_port = turn_port;
	for (size_t i = 0; i < t->n_hosts; i++) {
		struct mx_mark m = {j, &j->h[i]};
		struct ck_cap *c = &j->h[i].cap;

		snprintf(c->file, sizeof(c->file), "%s.pcap", t->hosts[i].name);
		snprintf(path, sizeof(path), "%s/%s", dir, c->file);
		if (ck_cap_load(c, path, mx_mark_relay, &m, err, errlen) < 0 || j->h[i].oom) {
			if (j->h[i].oom)
				snprintf(err, errlen, "%s: out of memory", path);
			mx_judge_free(j);
			return NULL;
		}
	}
	return j;
}

void mx_judge_free(struct mx_judge *j)
{
	if (!j)
		return;
	for (size_t i = 0; j->h && i < j->t->n_hosts; i++) {
		ck_cap_clear(&j->h[i].cap);
		free(j->h[i].relay);
	}
	free(j->h);
	free(j);
}

/* The address h's datagrams reach other from: its own when both sit
 * behind one NAT or h has none, else the outermost NAT's outside address. */
static uint32_t mx_seen_as(const struct topo *t, int h, int other)
{
	int n = t->hosts[h].nat;

	if (n < 0 || n == t->hosts[other].nat)
		return t->hosts[h].addrs[0].s_addr;
	while (t->nats[n].upstream >= 0)
		n = t->nats[n].upstream;
	return t->nats[n].publics[0].s_addr;
}

static bool mx_own(const struct topo_host *h, uint32_t a)
{
	for (size_t k = 0; k < h->n_addrs; k++)
		if (h->addrs[k].s_addr == a)
			return true;
	return false;
}

/* What a host's capture shows of one kind of flow. */
struct mx_flow {
	bool found;
	int64_t first_in_ns; /* the first datagram back on it */
	struct ck_ep us, them;
};

/* Whether p is a UDP datagram in the window [t0, t1]. */
static bool mx_in_window(const struct ck_pkt *p, int64_t t0, int64_t t1)
{
	return p->kind == CK_L4 && p->proto == MX_PROTO_UDP && p->t_ns >= t0 && p->t_ns <= t1;
}

/* On host h's capture: the first flow both ways between one of h's
 * endpoints and an endpoint on address far; with relay, only datagrams
 * that carry relayed data count (far is then the TURN server). */
static struct mx_flow mx_flow_find(const struct mx_hcap *hc, const struct topo_host *h,
				   uint32_t far, bool relay, int64_t t0, int64_t t1)
{
	const struct ck_cap *c = &hc->cap;
	struct mx_flow tried[MX_FLOWS_MAX], f = {0};
	size_t i, k, n = 0;

	for (i = 0; i < c->n; i++) {
		const struct ck_pkt *p = &c->p[i];
		struct ck_ep us = {p->dst, p->dport}, them = {p->src, p->sport};

		if (!mx_in_window(p, t0, t1) || p->src != far || !mx_own(h, p->dst) ||
		    (relay && (i >= hc->n_relay || !hc->relay[i])))
			continue;
		for (k = 0; k < n; k++)
			if (tried[k].us.addr == us.addr && tried[k].us.port == us.port &&
			    (relay || (tried[k].them.port == them.port)))
				break;
		if (k < n || n == MX_FLOWS_MAX)
			continue;
		tried[n++] = (struct mx_flow){true, p->t_ns, us, them};
	}
	/* the one of them that also went out, first in by time */
	for (k = 0; k < n && !f.found; k++)
		for (i = 0; i < c->n; i++) {
			const struct ck_pkt *p = &c->p[i];

			if (!mx_in_window(p, t0, t1) || p->src != tried[k].us.addr ||
			    p->sport != tried[k].us.port || p->dst != far ||
			    (!relay && p->dport != tried[k].them.port) ||
			    (relay && (i >= hc->n_relay || !hc->relay[i])))
				continue;
			f = tried[k];
			break;
		}
	return f;
}

static void mx_ep_str(struct ck_ep e, char *buf)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &e.addr, a, sizeof(a));
	snprintf(buf, MX_EP_STR, "%s:%u", a, e.port);
}

static void mx_found(struct mx_verdict *v, enum mx_path path, const struct mx_flow *fa,
		     const struct mx_flow *fb, int64_t t0)
{
	int64_t last = fa->first_in_ns > fb->first_in_ns ? fa->first_in_ns : fb->first_in_ns;

	v->path = path;
	v->setup_ms = (double)(last - t0) / 1e6;
	mx_ep_str(fa->us, v->local);
	mx_ep_str(fa->them, v->remote);
}

void mx_judge_pair(const struct mx_judge *j, int ha, int hb, int64_t t0_ns, int64_t t1_ns,
		   struct mx_verdict *v)
{
	const struct topo *t = j->t;
	const struct topo_host *a = &t->hosts[ha], *b = &t->hosts[hb];
	struct mx_flow fa, fb;
	char sa[INET_ADDRSTRLEN], sb[INET_ADDRSTRLEN];
	uint32_t pa = mx_seen_as(t, ha, hb), pb = mx_seen_as(t, hb, ha);

	memset(v, 0, sizeof(*v));
	v->setup_ms = NAN;
	fa = mx_flow_find(&j->h[ha], a, pb, false, t0_ns, t1_ns);
	fb = mx_flow_find(&j->h[hb], b, pa, false, t0_ns, t1_ns);
	if (fa.found && fb.found) {
		mx_found(v, MX_PATH_DIRECT, &fa, &fb, t0_ns);
		return;
	}
	if (j->turn_port) {
		struct mx_flow ra = mx_flow_find(&j->h[ha], a, j->turn_addr, true, t0_ns, t1_ns);
		struct mx_flow rb = mx_flow_find(&j->h[hb], b, j->turn_addr, true, t0_ns, t1_ns);

		if (ra.found && rb.found) {
			mx_found(v, MX_PATH_RELAYED, &ra, &rb, t0_ns);
			return;
		}
	}
	inet_ntop(AF_INET, &pb, sb, sizeof(sb));
	inet_ntop(AF_INET, &pa, sa, sizeof(sa));
	if (!fa.found && !fb.found)
		snprintf(v->why, sizeof(v->why),
			 "no UDP both ways between %s and %s, nor between %s and %s", a->name, sb,
			 b->name, sa);
	else
		snprintf(v->why, sizeof(v->why), "no UDP both ways between %s and %s",
			 fa.found ? b->name : a->name, fa.found ? sa : sb);
	if (j->turn_port) {
		size_t n = strlen(v->why);

		snprintf(v->why + n, sizeof(v->why) - n, "; no relayed data both ways on both");
	}
}
