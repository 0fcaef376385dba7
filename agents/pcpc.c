#include "pcpc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckget.h"
#include "natbed/rng.h"

#define PCPC_PCP_LEN	60 /* RFC 6887 §7.1 header + §11.1 MAP data */
#define PCPC_PCP_HDR	24 /* RFC 6887 §7.1: ANNOUNCE is the header alone */
#define PCPC_NATPMP_LEN 12 /* RFC 6886 §3.3 */
#define PCPC_MSG_MAX	1100

enum pcpc_proto { PCPC_PCP, PCPC_NATPMP };

struct pcpc {
	const struct dgram *dg;
	struct pcpc_cfg cfg;
	const struct pcpc_ops *ops;
	void *arg;
	int sock;
	enum pcpc_proto proto;
	uint8_t nonce[12];
	unsigned sent;
	natbed_time_t rto;
	uint64_t ev; /* retransmission or renewal */
	int granted; /* a mapping exists */
	struct dg_ep ext;
	uint32_t epoch;		/* the server's, at its last answer */
	natbed_time_t epoch_at; /* when that answer came */
	int done;		/* failed: nothing more */
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The request of the current protocol asking for lifetime seconds. */
static size_t pcpc_build(const struct pcpc *c, uint32_t lifetime, uint8_t *b)
{
	/* the port granted (a renewal), else the one suggested */
	const uint16_t *want = c->granted ? &c->ext.port : &c->cfg.ext_port;

	if (c->cfg.announce && c->proto == PCPC_NATPMP) { /* RFC 6886 §3.2 */
		b[0] = b[1] = 0;
		return 2;
	}
	if (c->cfg.announce) { /* RFC 6887 §14.1 */
		memset(b, 0, PCPC_PCP_HDR);
		b[0] = 2;
		b[18] = b[19] = 0xff;
		memcpy(b + 20, &c->cfg.client, 4);
		return PCPC_PCP_HDR;
	}
	if (c->proto == PCPC_NATPMP) { /* RFC 6886 §3.3 */
		memset(b, 0, PCPC_NATPMP_LEN);
		b[1] = c->cfg.proto == 6 ? 2 : 1;
		memcpy(b + 4, &c->cfg.int_port, 2);
		memcpy(b + 6, want, 2);
		put32(b + 8, lifetime);
		return PCPC_NATPMP_LEN;
	}
	memset(b, 0, PCPC_PCP_LEN); /* RFC 6887 §7.1, §11.1 */
	b[0] = 2;
	b[1] = 1; /* MAP */
	put32(b + 4, lifetime);
	b[18] = b[19] = 0xff;
	memcpy(b + 20, &c->cfg.client, 4);
	memcpy(b + 24, c->nonce, 12);
	b[36] = c->cfg.proto;
	memcpy(b + 40, &c->cfg.int_port, 2);
	memcpy(b + 42, want, 2);
	return PCPC_PCP_LEN;
}

static void pcpc_rto_cb(void *arg, natbed_time_t now);

static void pcpc_send(struct pcpc *c)
{
	uint8_t b[PCPC_PCP_LEN];
	size_t len = pcpc_build(c, c->cfg.lifetime_s, b);

	dg_send(c->dg, c->sock, &c->cfg.gateway, b, len);
	c->sent++;
	sched_cancel(c->dg->s, c->ev);
	c->ev = sched_after(c->dg->s, c->rto, pcpc_rto_cb, c);
}

/* (Re)starts asking with the current protocol. */
static void pcpc_ask(struct pcpc *c)
{
	c->sent = 0;
	c->rto = c->cfg.rto_ns;
	pcpc_send(c);
}

static void pcpc_fail(struct pcpc *c, const char *reason)
{
	c->done = 1;
	sched_cancel(c->dg->s, c->ev);
	c->ev = 0;
	if (c->ops->failed)
		c->ops->failed(c->arg, reason);
}

/* RFC 6887 §8.1.1: retransmit, doubling; then NAT-PMP, then give up. */
static void pcpc_rto_cb(void *arg, natbed_time_t now)
{
	struct pcpc *c = arg;
	char why[96], gw[DG_EP_STR];

	c->ev = 0;
	if (c->sent < c->cfg.tries) {
		c->rto *= 2;
		pcpc_send(c);
		return;
	}
	if (c->proto == PCPC_PCP) {
		c->proto = PCPC_NATPMP;
		pcpc_ask(c);
		return;
	}
	snprintf(why, sizeof(why), "no PCP or NAT-PMP answer from %s",
		 dg_ep_str(&c->cfg.gateway, gw));
	pcpc_fail(c, why);
}

static void pcpc_renew_cb(void *arg, natbed_time_t now)
{
	struct pcpc *c = arg;

	c->ev = 0;
	pcpc_ask(c);
}

/* RFC 6887 §8.5: the server's epoch must have moved as our clock did
 * (give or take); when it went back, the server lost its mappings. */
static int pcpc_epoch_ok(struct pcpc *c, uint32_t epoch, natbed_time_t now)
{
	uint32_t elapsed = (uint32_t)((now - c->epoch_at) / NATBED_NS_PER_S);
	int ok = !c->epoch_at || epoch + 1 >= c->epoch + elapsed * 7 / 8;

	c->epoch = epoch;
	c->epoch_at = now;
	return ok;
}

static const char *const pcpc_pcp_results[] = {
    "SUCCESS",		"UNSUPP_VERSION",	  "NOT_AUTHORIZED",   "MALFORMED_REQUEST",
    "UNSUPP_OPCODE",	"UNSUPP_OPTION",	  "MALFORMED_OPTION", "NETWORK_FAILURE",
    "NO_RESOURCES",	"UNSUPP_PROTOCOL",	  "USER_EX_QUOTA",    "CANNOT_PROVIDE_EXTERNAL",
    "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS",
};
static const char *const pcpc_natpmp_results[] = {
    "SUCCESS", "UNSUPP_VERSION", "REFUSED", "NETWORK_FAILURE", "NO_RESOURCES", "UNSUPP_OPCODE",
};

static void pcpc_granted(struct pcpc *c, const struct dg_ep *ext, uint32_t life, uint32_t epoch,
			 natbed_time_t now)
{
	int rebooted = c->granted && !pcpc_epoch_ok(c, epoch, now);

	if (!c->granted)
		pcpc_epoch_ok(c, epoch, now);
	c->granted = 1;
	c->ext = *ext;
	sched_cancel(c->dg->s, c->ev);
	if (rebooted) { /* §8.5: the server forgot; ask again at once */
		c->ev = sched_after(c->dg->s, 0, pcpc_renew_cb, c);
		return;
	}
	/* RFC 6887 §11.2.1: renew before half the lifetime is gone */
	c->ev = sched_after(c->dg->s, (natbed_time_t)life * NATBED_NS_PER_S / 2, pcpc_renew_cb, c);
	if (c->ops->granted)
		c->ops->granted(c->arg, ext, life, c->proto == PCPC_PCP ? "pcp" : "nat-pmp");
}

/* An error answer: its result code named. */
static void pcpc_refused(struct pcpc *c, uint32_t code)
{
	char why[64];

	if (c->proto == PCPC_PCP)
		snprintf(why, sizeof(why), "PCP %s",
			 code < sizeof(pcpc_pcp_results) / sizeof(pcpc_pcp_results[0])
			     ? pcpc_pcp_results[code]
			     : "error");
	else
		snprintf(why, sizeof(why), "NAT-PMP %s",
			 code < sizeof(pcpc_natpmp_results) / sizeof(pcpc_natpmp_results[0])
			     ? pcpc_natpmp_results[code]
			     : "error");
	pcpc_fail(c, why);
}

/* UNSUPP_VERSION, PCP's or NAT-PMP's own (RFC 6887 §9): a server that
 * speaks only NAT-PMP. */
static int pcpc_unsupp_version(const struct pcpc *c, const uint8_t *b, size_t len)
{
	return c->proto == PCPC_PCP && len >= 4 && (b[1] & 0x80) && b[3] == 1 &&
	       (b[0] != 0 || b[2] == 0);
}

/* cfg.announce: the gateway answered; nothing more to do. */
static void pcpc_announced(struct pcpc *c, const struct dg_ep *ext)
{
	c->done = 1;
	sched_cancel(c->dg->s, c->ev);
	c->ev = 0;
	if (c->ops->granted)
		c->ops->granted(c->arg, ext, 0, c->proto == PCPC_PCP ? "pcp" : "nat-pmp");
}

static void pcpc_recv_announce(struct pcpc *c, const uint8_t *b, size_t len)
{
	struct dg_ep ext = {0, 0};

	if (c->proto == PCPC_PCP && len >= PCPC_PCP_HDR && b[0] == 2 && b[1] == 0x80) {
		if (b[3] != 0)
			pcpc_refused(c, b[3]);
		else
			pcpc_announced(c, &ext);
	} else if (pcpc_unsupp_version(c, b, len)) {
		c->proto = PCPC_NATPMP;
		pcpc_ask(c);
	} else if (c->proto == PCPC_NATPMP && len >= 12 && b[0] == 0 && b[1] == 128) {
		if (b[2] || b[3]) {
			pcpc_refused(c, (uint32_t)(b[2] << 8 | b[3]));
			return;
		}
		memcpy(&ext.addr, b + 8, 4); /* RFC 6886 §3.2: the public address */
		pcpc_announced(c, &ext);
	}
}

static void pcpc_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *b, size_t len,
		      natbed_time_t now)
{
	struct pcpc *c = arg;
	struct dg_ep ext;
	uint32_t code;

	if (c->done || from->addr != c->cfg.gateway.addr)
		return;
	if (c->cfg.announce) {
		pcpc_recv_announce(c, b, len);
		return;
	}
	if (c->proto == PCPC_PCP && len >= PCPC_PCP_LEN && b[0] == 2 && b[1] == 0x81 &&
	    memcmp(b + 24, c->nonce, 12) == 0) {
		code = b[3];
		if (code == 0) {
			ext.port = 0;
			memcpy(&ext.port, b + 42, 2);
			memcpy(&ext.addr, b + 56, 4);
			pcpc_granted(c, &ext, get32(b + 4), get32(b + 8), now);
			return;
		}
		pcpc_refused(c, code);
		return;
	}
	if (pcpc_unsupp_version(c, b, len)) {
		c->proto = PCPC_NATPMP;
		pcpc_ask(c);
		return;
	}
	if (c->proto == PCPC_NATPMP && len >= 16 && b[0] == 0 &&
	    b[1] == 128 + (c->cfg.proto == 6 ? 2 : 1) && memcmp(b + 8, &c->cfg.int_port, 2) == 0) {
		code = (uint32_t)(b[2] << 8 | b[3]);
		if (code == 0) {
			/* NAT-PMP answers no address (RFC 6886 §3.3): the caller
			 * knows it (opcode 0, or its server-reflexive address) */
			ext.addr = 0;
			memcpy(&ext.port, b + 10, 2);
			pcpc_granted(c, &ext, get32(b + 12), get32(b + 4), now);
			return;
		}
		pcpc_refused(c, code);
	}
}

struct pcpc *pcpc_new(const struct dgram *dg, const struct pcpc_cfg *cfg,
		      const struct pcpc_ops *ops, void *arg)
{
	struct pcpc *c = calloc(1, sizeof(*c));
	struct dg_ep any = {0, 0}, local;
	struct rng r;
	size_t i;

	if (!c)
		return NULL;
	c->dg = dg;
	c->cfg = *cfg;
	if (!c->cfg.lifetime_s)
		c->cfg.lifetime_s = 7200;
	if (!c->cfg.rto_ns)
		c->cfg.rto_ns = 250 * NATBED_NS_PER_MS;
	if (!c->cfg.tries)
		c->cfg.tries = 3;
	if (!c->cfg.ext_port)
		c->cfg.ext_port = c->cfg.int_port;
	c->ops = ops;
	c->arg = arg;
	rng_seed(&r, dg->seed, rng_key("pcp", ((uint64_t)cfg->client << 16) | cfg->int_port));
	for (i = 0; i < sizeof(c->nonce); i++)
		c->nonce[i] = (uint8_t)rng_next(&r);
	c->sock = dg_open(dg, &any, &local, pcpc_recv, c);
	if (c->sock < 0) {
		free(c);
		return NULL;
	}
	pcpc_ask(c);
	return c;
}

void pcpc_release(struct pcpc *c)
{
	if (!c)
		return;
	sched_cancel(c->dg->s, c->ev);
	dg_close(c->dg, c->sock);
	free(c);
}

void pcpc_free(struct pcpc *c)
{
	uint8_t b[PCPC_PCP_LEN];

	if (c && c->granted && !c->done) /* lifetime 0 deletes it */
		dg_send(c->dg, c->sock, &c->cfg.gateway, b, pcpc_build(c, 0, b));
	pcpc_release(c);
}

json_t *pcpc_ckpt_save(const struct pcpc *c, struct ckw *w)
{
	json_t *cfg, *j;

	cfg = json_pack("{s:o,s:o,s:i,s:i,s:i,s:I,s:I,s:I,s:i}", "gateway",
			dg_ep_ckpt_save(&c->cfg.gateway, w), "client", jsonck_ipv4(c->cfg.client),
			"proto", (int)c->cfg.proto, "int_port", (int)ntohs(c->cfg.int_port),
			"ext_port", (int)ntohs(c->cfg.ext_port), "lifetime_s",
			(json_int_t)c->cfg.lifetime_s, "rto_ns", (json_int_t)c->cfg.rto_ns, "tries",
			(json_int_t)c->cfg.tries, "announce", c->cfg.announce);
	j = json_pack("{s:o,s:o,s:o,s:o,s:o,s:i,s:s,s:o,s:I,s:I,s:o,s:b,s:o,s:I,s:I,s:b}", "id",
		      ckw_obj(w, c), "dg", ckw_ref(w, c->dg), "cfg", cfg, "ops", ckw_ref(w, c->ops),
		      "arg", ckw_ref(w, c->arg), "sock", c->sock, "proto",
		      c->proto == PCPC_PCP ? "pcp" : "nat-pmp", "nonce",
		      ckw_bytes(w, c->nonce, sizeof(c->nonce)), "sent", (json_int_t)c->sent, "rto",
		      (json_int_t)c->rto, "ev", ckw_timer(w, c->ev), "granted", c->granted, "ext",
		      dg_ep_ckpt_save(&c->ext, w), "epoch", (json_int_t)c->epoch, "epoch_at",
		      (json_int_t)c->epoch_at, "done", c->done);
	return ckget_done(w, j, "pcpc");
}

struct pcpc *pcpc_ckpt_load(const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "pcpc", j, false}, f = {r, "pcpc.cfg", NULL, false};
	struct pcpc *c = calloc(1, sizeof(*c));
	const json_t *v;

	if (!c) {
		ckr_fail(r, "pcpc: out of memory");
		return NULL;
	}
	f.o = ckget_get(&g, "cfg");
	ckget_ep(&f, "gateway", &c->cfg.gateway);
	v = ckget_get(&f, "client");
	if (v && jsonck_ipv4_read(v, &c->cfg.client) < 0)
		ckget_fail(&f, "client", "not an address \"A.B.C.D\"");
	c->cfg.proto = (uint8_t)ckget_int(&f, "proto", 0, 255);
	c->cfg.int_port = htons((uint16_t)ckget_int(&f, "int_port", 0, 65535));
	c->cfg.ext_port = htons((uint16_t)ckget_int(&f, "ext_port", 0, 65535));
	c->cfg.lifetime_s = (uint32_t)ckget_int(&f, "lifetime_s", 1, UINT32_MAX);
	c->cfg.rto_ns = ckget_dur(&f, "rto_ns");
	c->cfg.tries = (unsigned)ckget_int(&f, "tries", 1, UINT32_MAX);
	c->cfg.announce = (int)ckget_int(&f, "announce", INT32_MIN, INT32_MAX);
	c->sock = (int)ckget_int(&g, "sock", -1, INT32_MAX);
	v = ckget_get(&g, "proto");
	if (v && json_is_string(v) && !strcmp(json_string_value(v), "pcp"))
		c->proto = PCPC_PCP;
	else if (v && json_is_string(v) && !strcmp(json_string_value(v), "nat-pmp"))
		c->proto = PCPC_NATPMP;
	else if (v)
		ckget_fail(&g, "proto", "not \"pcp\" or \"nat-pmp\"");
	ckget_bytes(&g, "nonce", c->nonce, sizeof(c->nonce));
	c->sent = (unsigned)ckget_int(&g, "sent", 0, UINT32_MAX);
	c->rto = ckget_dur(&g, "rto");
	c->granted = ckget_bool(&g, "granted");
	ckget_ep(&g, "ext", &c->ext);
	c->epoch = (uint32_t)ckget_int(&g, "epoch", 0, UINT32_MAX);
	c->epoch_at = ckget_time(&g, "epoch_at");
	c->done = ckget_bool(&g, "done");
	ckget_obj(&g, "id", c);
	ckget_ref(&g, "dg", &c->dg);
	ckget_ref(&g, "ops", &c->ops);
	ckget_ref(&g, "arg", &c->arg);
	ckget_timer(&g, "ev", &c->ev);
	if (g.bad || f.bad) {
		free(c); /* nothing opened or scheduled; ckr_finish() fills no field of it now */
		return NULL;
	}
	return c;
}

static const struct ckfn pcpc_fns[] = {CKFN(pcpc_rto_cb), CKFN(pcpc_renew_cb), CKFN(pcpc_recv)};
const struct ckfns pcpc_ckfns = CKFNS(pcpc, pcpc_fns);
