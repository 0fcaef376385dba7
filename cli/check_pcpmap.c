/* natbed check: the mappings a NAT granted by PCP (RFC 6887 MAP) or NAT-PMP
 * (RFC 6886), read from the gateway's answers in the hosts' captures. The
 * model of check_nat.c follows the mappings traffic makes; these are made
 * by request, endpoint-independent with a lifetime of their own, so the
 * flows through them are left out of the NAT's rules rather than judged
 * by the wrong ones. A request whose answer is not in the captures may have
 * made a mapping no one can see: then the NAT is not judged (check.c). */
#include <stdlib.h>

#include "check_int.h"

#define PM_PORT	       5351 /* RFC 6887 §19.1, RFC 6886 §3 */
#define PM_PROTO_UDP   17
#define PM_PROTO_TCP   6
#define PM_PCP_VERSION 2
#define PM_PCP_HDR     24 /* RFC 6887 §7.2: the response header */
#define PM_PCP_MAP     1  /* opcode MAP */
#define PM_PCP_MAP_LEN 36 /* §11.1: nonce, protocol, reserved, ports, address */

static uint16_t pm_get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static int pm_add(struct ck_pmaps *s, uint32_t gw, uint32_t host, uint8_t proto, uint16_t in_port,
		  uint16_t ext_port)
{
	struct ck_pmap *n;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;

		if (!(n = realloc(s->m, cap * sizeof(*n))))
			return -1;
		s->m = n;
		s->cap = cap;
	}
	s->m[s->n++] = (struct ck_pmap){gw, host, proto, in_port, ext_port};
	return 0;
}

/* The gateway's count of requests or answers. */
static void pm_count(struct ck_pmaps *s, uint32_t gw, bool answer)
{
	size_t i;

	for (i = 0; i < s->n_gw && s->gw[i].gw != gw; i++)
		;
	if (i == s->n_gw) {
		if (s->n_gw == CK_PMAP_GATEWAYS)
			return;
		s->gw[s->n_gw++] = (struct ck_pmap_gw){.gw = gw};
	}
	if (answer)
		s->gw[i].answers++;
	else
		s->gw[i].requests++;
}

void ck_pmap_udp(void *ctx, const struct ck_cap *c, const struct ck_pkt *p, const uint8_t *b,
		 size_t len)
{
	struct ck_pmaps *s = ctx;
	uint8_t proto;

	if (p->dport == PM_PORT && len >= 2 && (b[0] == 0 || b[0] == PM_PCP_VERSION) &&
	    !(b[1] & 0x80)) {
		pm_count(s, p->dst, false);
		return;
	}
	if (p->sport != PM_PORT || len < 4 || !(b[1] & 0x80))
		return;
	pm_count(s, p->src, true);
	if (pm_get16(b + 2) != 0 && b[0] == 0) /* NAT-PMP: a result of 16 bits */
		return;
	if (b[0] == 0 && (b[1] == 129 || b[1] == 130) && len >= 16) {
		/* RFC 6886 §3.3: epoch, internal port, mapped external port */
		proto = b[1] == 129 ? PM_PROTO_UDP : PM_PROTO_TCP;
		pm_add(s, p->src, p->dst, proto, pm_get16(b + 8), pm_get16(b + 10));
	} else if (b[0] == PM_PCP_VERSION && (b[1] & 0x7f) == PM_PCP_MAP && b[3] == 0 &&
		   len >= PM_PCP_HDR + PM_PCP_MAP_LEN) {
		/* RFC 6887 §11.1: protocol at 12, internal port at 16, assigned
		 * external port at 18 of the MAP data */
		const uint8_t *m = b + PM_PCP_HDR;

		pm_add(s, p->src, p->dst, m[12], pm_get16(m + 16), pm_get16(m + 18));
	}
}

bool ck_pmap_answered(const struct ck_pmaps *s, uint32_t gw)
{
	size_t i;

	for (i = 0; i < s->n_gw; i++)
		if (s->gw[i].gw == gw)
			return s->gw[i].answers >= s->gw[i].requests;
	return true; /* asked nothing */
}

/* Whether event e went through a mapping gateway gw granted: from its
 * internal endpoint, or to its external port. */
static bool pm_through(const struct ck_pmaps *s, uint32_t gw, const struct ck_ev *e)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct ck_pmap *m = &s->m[i];

		if (m->gw != gw || m->proto != e->proto)
			continue;
		if ((e->in.addr == m->host && e->in.port == m->in_port) ||
		    (e->ext.port == m->ext_port && e->ext.addr))
			return true;
	}
	return false;
}

size_t ck_pmap_filter(struct ck_natview *v, const struct ck_pmaps *s, uint32_t gw)
{
	size_t i, kept = 0, n = v->n_ev;

	for (i = 0; i < n; i++) {
		const struct ck_ev *e = &v->ev[i];

		if (!pm_through(s, gw, e)) {
			v->ev[kept++] = *e;
			continue;
		}
		/* out of the counts the rows give, too */
		if (e->type == CK_EV_OUT) {
			v->out_seen--;
			v->out_matched--;
		} else if (e->type == CK_EV_IN) {
			v->in_seen--;
			v->in_delivered -= e->delivered;
		}
	}
	v->n_ev = kept;
	v->pmap_left = n - kept;
	return n - kept;
}

void ck_pmaps_free(struct ck_pmaps *s)
{
	free(s->m);
	*s = (struct ck_pmaps){0};
}
