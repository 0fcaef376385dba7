/* nbmsg_gen DIR: one of every natbed message, as natbed's own codecs
 * build them (agents/rdvmsg.c, agents/peermsg.c), with known values, for
 * the Wireshark dissector's test (tests/interop/dissect.sh).
 *
 * Writes, for three captures (rdv: agent <-> rendezvous on port 4787, its
 * LOOKUP written by hand as docs/agents.md lays it out;
 * peer: between two agents, and one probe relayed in a TURN Data
 * indication; gate: a host and the zero-trust gate on port 4788):
 *   DIR/NAME.hex     the messages as text2pcap reads them, one a packet
 *   DIR/NAME.expect  per message one line: the values the dissector must
 *                    show, tab-separated, in the order of DIR/fields
 * and DIR/fields: the dissector's field names, one a line. An empty value
 * is a field the message does not carry. Values are printed as tshark
 * -T fields prints them (hex try ids, 0/1 booleans, raw enum numbers).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/stun.h"
#include "nbstun.h"
#include "peermsg.h"
#include "rdvmsg.h"

#define GEN_MSG_MAX 512

/* The columns of an .expect line: the dissector's fields. */
enum col {
	C_MSG,
	C_TXID,
	C_NAME,
	C_PEER,
	C_METHOD,
	C_TRY,
	C_SEQ,
	C_START,
	C_ROLE,
	C_LIFETIME,
	C_BUDGET,
	C_HOST_ADDR,
	C_HOST_PORT,
	C_SRFLX_ADDR,
	C_SRFLX_PORT,
	C_RELAY_ADDR,
	C_RELAY_PORT,
	C_PRED_ADDR,
	C_PRED_PORT,
	C_MAPPED_ADDR,
	C_MAPPED_PORT,
	C_NAT_MAP,
	C_NAT_FILTER,
	C_NAT_PORTS,
	C_NAT_HAIRPIN,
	C_NAT_STRIDE,
	C_NAT_PCP,
	C_ERROR_CODE,
	C_ERROR_REASON,
	C_USE_CANDIDATE,
	C_USER,
	C_NONCE,
	C_RESOURCE,
	C_TRUST_LEVEL,
	C_TRUST_NOW,
	C_TTL,
	C_DELAY,
	C_RISK,
	C_FINGERPRINT_OK,
	C_COUNT
};

static const char *const col_fields[C_COUNT] = {
    [C_MSG] = "natbed.msg",
    [C_TXID] = "natbed.txid",
    [C_NAME] = "natbed.name",
    [C_PEER] = "natbed.peer",
    [C_METHOD] = "natbed.method",
    [C_TRY] = "natbed.try",
    [C_SEQ] = "natbed.seq",
    [C_START] = "natbed.start",
    [C_ROLE] = "natbed.role",
    [C_LIFETIME] = "natbed.lifetime",
    [C_BUDGET] = "natbed.budget",
    [C_HOST_ADDR] = "natbed.host.addr",
    [C_HOST_PORT] = "natbed.host.port",
    [C_SRFLX_ADDR] = "natbed.srflx.addr",
    [C_SRFLX_PORT] = "natbed.srflx.port",
    [C_RELAY_ADDR] = "natbed.relay.addr",
    [C_RELAY_PORT] = "natbed.relay.port",
    [C_PRED_ADDR] = "natbed.pred.addr",
    [C_PRED_PORT] = "natbed.pred.port",
    [C_MAPPED_ADDR] = "natbed.mapped.addr",
    [C_MAPPED_PORT] = "natbed.mapped.port",
    [C_NAT_MAP] = "natbed.nat.mapping",
    [C_NAT_FILTER] = "natbed.nat.filtering",
    [C_NAT_PORTS] = "natbed.nat.ports",
    [C_NAT_HAIRPIN] = "natbed.nat.hairpin",
    [C_NAT_STRIDE] = "natbed.nat.stride",
    [C_NAT_PCP] = "natbed.nat.pcp",
    [C_ERROR_CODE] = "natbed.error.code",
    [C_ERROR_REASON] = "natbed.error.reason",
    [C_USE_CANDIDATE] = "natbed.use_candidate",
    [C_USER] = "natbed.user",
    [C_NONCE] = "natbed.nonce",
    [C_RESOURCE] = "natbed.resource",
    [C_TRUST_LEVEL] = "natbed.trust.level",
    [C_TRUST_NOW] = "natbed.trust.now",
    [C_TTL] = "natbed.ttl",
    [C_DELAY] = "natbed.delay",
    [C_RISK] = "natbed.risk",
    [C_FINGERPRINT_OK] = "natbed.fingerprint.ok",
};

/* One expected line being filled. */
struct row {
	char v[C_COUNT][80];
};

struct out {
	FILE *hex, *expect;
};

static void row_set(struct row *r, enum col c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void row_set(struct row *r, enum col c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->v[c], sizeof(r->v[c]), fmt, ap);
	va_end(ap);
}

static void row_ep(struct row *r, enum col addr, const struct dg_ep *ep)
{
	struct in_addr a = {.s_addr = ep->addr};

	row_set(r, addr, "%s", inet_ntoa(a));
	row_set(r, (enum col)(addr + 1), "%u", ntohs(ep->port));
}

static void row_nat(struct row *r, const struct natinfo *ni)
{
	row_set(r, C_NAT_MAP, "%d", (int)ni->map);
	row_set(r, C_NAT_FILTER, "%d", (int)ni->filter);
	row_set(r, C_NAT_PORTS, "%d", (int)ni->ports);
	row_set(r, C_NAT_HAIRPIN, "0x%02x", ni->hairpin < 0 ? 0xff : ni->hairpin);
	row_set(r, C_NAT_STRIDE, "%d", ni->stride);
	row_set(r, C_NAT_PCP, "0"); /* rdvmsg writes no flag */
}

static void row_try(struct row *r, uint64_t id)
{
	row_set(r, C_TRY, "0x%016" PRIx64, id);
}

/* Writes the message (hex) and its row (expect); the row's txid (unless
 * set: a relayed message's is the inner one's) and the FINGERPRINT
 * verdict come from the message itself. */
static int emit(struct out *o, const uint8_t *msg, int len, struct row *r)
{
	int i, c;

	if (len <= 0) {
		fprintf(stderr, "nbmsg_gen: building %s: %s\n", r->v[C_MSG], strerror(-len));
		return -1;
	}
	for (i = 0; i < STUN_TXID_LEN && (i > 0 || !r->v[C_TXID][0]); i++)
		snprintf(r->v[C_TXID] + 2 * i, 3, "%02x", msg[8 + i]);
	row_set(r, C_FINGERPRINT_OK, "1");
	fprintf(o->hex, "000000");
	for (i = 0; i < len; i++)
		fprintf(o->hex, " %02x", msg[i]);
	fprintf(o->hex, "\n\n");
	for (c = 0; c < C_COUNT; c++)
		fprintf(o->expect, "%s%s", c ? "\t" : "", r->v[c]);
	fputc('\n', o->expect);
	return 0;
}

static void txid_fill(uint8_t txid[STUN_TXID_LEN], uint8_t seed)
{
	for (int i = 0; i < STUN_TXID_LEN; i++)
		txid[i] = (uint8_t)(seed * 17 + i);
}

static struct dg_ep ep(const char *addr, uint16_t port)
{
	struct dg_ep e = {.port = htons(port)};

	inet_pton(AF_INET, addr, &e.addr);
	return e;
}

/* --- the rendezvous' messages --------------------------------------------- */

#define TRY_CONNECT 0x0123456789abcdefull /* the try CONNECT's answer names */
#define TRY_INTRO   0xfedcba9876543210ull /* the try INTRODUCE names */

static int rdv_emit(struct out *o, const struct rdv_msg *m, struct row *r)
{
	uint8_t buf[GEN_MSG_MAX];

	row_set(r, C_MSG, "%s", rdvmsg_kind_name(m->kind));
	return emit(o, buf, rdvmsg_build(m, buf, sizeof(buf)), r);
}

static int gen_register(struct out *o)
{
	struct rdv_msg m = {.kind = RDV_REGISTER,
			    .attrs = RDV_A_NAME | RDV_A_HOST | RDV_A_SRFLX | RDV_A_RELAY |
				     RDV_A_NAT | RDV_A_LIFETIME,
			    .name = "alice",
			    .lifetime_s = 30};
	struct row r = {0};

	txid_fill(m.txid, 1);
	m.cand.host = ep("192.168.7.10", 40001);
	m.cand.srflx = ep("203.0.113.7", 51234);
	m.cand.relay = ep("198.51.100.40", 49152);
	m.cand.nat = (struct natinfo){NI_MAP_EIM, NI_FILTER_APDF, NI_PORTS_SEQUENTIAL, 2, 0, 0};
	row_set(&r, C_NAME, "alice");
	row_ep(&r, C_HOST_ADDR, &m.cand.host);
	row_ep(&r, C_SRFLX_ADDR, &m.cand.srflx);
	row_ep(&r, C_RELAY_ADDR, &m.cand.relay);
	row_nat(&r, &m.cand.nat);
	row_set(&r, C_LIFETIME, "30");
	return rdv_emit(o, &m, &r);
}

static int gen_register_answers(struct out *o)
{
	struct rdv_msg ok = {
	    .kind = RDV_REGISTER_OK, .attrs = RDV_A_LIFETIME | RDV_A_MAPPED, .lifetime_s = 25};
	struct rdv_msg err = {.kind = RDV_REGISTER_ERR,
			      .attrs = RDV_A_ERROR,
			      .error_code = 508,
			      .reason = "Insufficient Capacity"};
	struct row r1 = {0}, r2 = {0};

	txid_fill(ok.txid, 1);
	ok.mapped = ep("203.0.113.7", 51234);
	row_set(&r1, C_LIFETIME, "25");
	row_ep(&r1, C_MAPPED_ADDR, &ok.mapped);
	txid_fill(err.txid, 2);
	row_set(&r2, C_ERROR_CODE, "508");
	row_set(&r2, C_ERROR_REASON, "Insufficient Capacity");
	return rdv_emit(o, &ok, &r1) < 0 || rdv_emit(o, &err, &r2) < 0 ? -1 : 0;
}

static int gen_connect(struct out *o)
{
	struct rdv_msg req = {.kind = RDV_CONNECT,
			      .attrs = RDV_A_NAME | RDV_A_PEER | RDV_A_METHOD | RDV_A_BUDGET,
			      .name = "bob",
			      .peer = "alice",
			      .method = "punch",
			      .budget_ms = 5000};
	struct rdv_msg ok = {.kind = RDV_CONNECT_OK,
			     .attrs = RDV_A_PEER | RDV_A_TRY,
			     .peer = "alice",
			     .try_id = TRY_CONNECT};
	struct rdv_msg err = {.kind = RDV_CONNECT_ERR,
			      .attrs = RDV_A_ERROR | RDV_A_PEER,
			      .peer = "nobody",
			      .error_code = 400,
			      .reason = "peer not registered"};
	struct row r1 = {0}, r2 = {0}, r3 = {0};

	txid_fill(req.txid, 3);
	row_set(&r1, C_NAME, "bob");
	row_set(&r1, C_PEER, "alice");
	row_set(&r1, C_METHOD, "punch");
	row_set(&r1, C_BUDGET, "5000");
	/* the answer, in the request's transaction: its try runs punch */
	memcpy(ok.txid, req.txid, STUN_TXID_LEN);
	row_set(&r2, C_PEER, "alice");
	row_set(&r2, C_METHOD, "punch");
	row_try(&r2, TRY_CONNECT);
	txid_fill(err.txid, 4);
	row_set(&r3, C_PEER, "nobody");
	row_set(&r3, C_ERROR_CODE, "400");
	row_set(&r3, C_ERROR_REASON, "peer not registered");
	return rdv_emit(o, &req, &r1) < 0 || rdv_emit(o, &ok, &r2) < 0 || rdv_emit(o, &err, &r3) < 0
		   ? -1
		   : 0;
}

static int gen_introduce(struct out *o)
{
	struct rdv_msg m = {.kind = RDV_INTRODUCE,
			    .attrs = RDV_A_PEER | RDV_A_HOST | RDV_A_SRFLX | RDV_A_NAT |
				     RDV_A_METHOD | RDV_A_TRY | RDV_A_START | RDV_A_ROLE |
				     RDV_A_BUDGET,
			    .peer = "bob",
			    .method = "birthday",
			    .try_id = TRY_INTRO,
			    .start_ms = 200,
			    .role = TRAV_RESPONDER,
			    .budget_ms = 4000};
	struct rdv_msg ok = {.kind = RDV_INTRODUCE_OK, .attrs = RDV_A_TRY, .try_id = TRY_INTRO};
	struct rdv_msg err = {.kind = RDV_INTRODUCE_ERR,
			      .attrs = RDV_A_ERROR | RDV_A_TRY,
			      .try_id = TRY_INTRO,
			      .error_code = 400,
			      .reason = "busy"};
	struct row r1 = {0}, r2 = {0}, r3 = {0};

	txid_fill(m.txid, 5);
	m.cand.host = ep("10.20.30.40", 1234);
	m.cand.srflx = ep("198.51.100.77", 65535);
	m.cand.nat = (struct natinfo){NI_MAP_APDM, NI_FILTER_APDF, NI_PORTS_RANDOM, -3, -1, 0};
	row_set(&r1, C_PEER, "bob");
	row_ep(&r1, C_HOST_ADDR, &m.cand.host);
	row_ep(&r1, C_SRFLX_ADDR, &m.cand.srflx);
	row_nat(&r1, &m.cand.nat);
	row_set(&r1, C_METHOD, "birthday");
	row_try(&r1, TRY_INTRO);
	row_set(&r1, C_START, "200");
	row_set(&r1, C_ROLE, "1");
	row_set(&r1, C_BUDGET, "4000");
	txid_fill(ok.txid, 5);
	row_try(&r2, TRY_INTRO);
	row_set(&r2, C_METHOD, "birthday");
	txid_fill(err.txid, 6);
	row_try(&r3, TRY_INTRO);
	row_set(&r3, C_METHOD, "birthday");
	row_set(&r3, C_ERROR_CODE, "400");
	row_set(&r3, C_ERROR_REASON, "busy");
	return rdv_emit(o, &m, &r1) < 0 || rdv_emit(o, &ok, &r2) < 0 || rdv_emit(o, &err, &r3) < 0
		   ? -1
		   : 0;
}

/* LOOKUP (0x0E3, docs/agents.md): an agent asks the rendezvous for a
 * peer's candidates and NAT. Written by hand as the docs lay it out, with
 * the NAT attribute's PCP flag (its seventh byte, bit 0) set. */
#define RDV_METHOD_LOOKUP 0x0E3

static void put_ep(struct stun_builder *b, uint16_t type, const struct dg_ep *e)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = e->port};

	in.sin_addr.s_addr = e->addr;
	stun_msg_build_xor_addr(b, type, (const struct sockaddr *)&in);
}

static int gen_lookup(struct out *o)
{
	uint8_t buf[GEN_MSG_MAX], txid[STUN_TXID_LEN];
	uint8_t nat[RDV_NAT_LEN] = {
	    NI_MAP_APDM, NI_FILTER_APDF, NI_PORTS_SEQUENTIAL, 1, 0, 1, 1, 0};
	struct dg_ep host = ep("192.168.9.9", 4000), srflx = ep("203.0.113.99", 4001);
	struct stun_builder b;
	struct row r1 = {0}, r2 = {0}, r3 = {0};

	txid_fill(txid, 15);
	stun_msg_build_init(&b, buf, sizeof(buf), RDV_METHOD_LOOKUP, STUN_CLASS_REQUEST, txid,
			    false);
	stun_msg_build_raw(&b, NBSTUN_ATTR_NAME, "bob", 3);
	stun_msg_build_raw(&b, NBSTUN_ATTR_PEER, "alice", 5);
	stun_msg_build_fingerprint(&b);
	row_set(&r1, C_MSG, "lookup");
	row_set(&r1, C_NAME, "bob");
	row_set(&r1, C_PEER, "alice");
	if (emit(o, buf, stun_msg_build_finish(&b), &r1) < 0)
		return -1;
	stun_msg_build_init(&b, buf, sizeof(buf), RDV_METHOD_LOOKUP, STUN_CLASS_SUCCESS, txid,
			    false);
	stun_msg_build_raw(&b, NBSTUN_ATTR_PEER, "alice", 5);
	put_ep(&b, NBSTUN_ATTR_CAND_HOST, &host);
	put_ep(&b, NBSTUN_ATTR_CAND_SRFLX, &srflx);
	stun_msg_build_raw(&b, NBSTUN_ATTR_NAT, nat, sizeof(nat));
	stun_msg_build_fingerprint(&b);
	row_set(&r2, C_MSG, "lookup-ok");
	row_set(&r2, C_PEER, "alice");
	row_ep(&r2, C_HOST_ADDR, &host);
	row_ep(&r2, C_SRFLX_ADDR, &srflx);
	row_nat(&r2, &(struct natinfo){NI_MAP_APDM, NI_FILTER_APDF, NI_PORTS_SEQUENTIAL, 1, 1, 0});
	row_set(&r2, C_NAT_PCP, "1");
	if (emit(o, buf, stun_msg_build_finish(&b), &r2) < 0)
		return -1;
	txid_fill(txid, 16);
	stun_msg_build_init(&b, buf, sizeof(buf), RDV_METHOD_LOOKUP, STUN_CLASS_ERROR, txid, false);
	stun_msg_build_error(&b, 400, "peer not registered");
	stun_msg_build_raw(&b, NBSTUN_ATTR_PEER, "nobody", 6);
	stun_msg_build_fingerprint(&b);
	row_set(&r3, C_MSG, "lookup-error");
	row_set(&r3, C_PEER, "nobody");
	row_set(&r3, C_ERROR_CODE, "400");
	row_set(&r3, C_ERROR_REASON, "peer not registered");
	return emit(o, buf, stun_msg_build_finish(&b), &r3);
}

/* --- between peers ----------------------------------------------------------- */

static const char *const peer_names[] = {
    [PEERMSG_CHECK] = "check",
    [PEERMSG_ANSWER] = "answer",
    [PEERMSG_PROBE] = "probe",
    [PEERMSG_PROBE_ANSWER] = "probe-echo",
};

static int peer_emit(struct out *o, const struct peermsg *m, struct row *r)
{
	uint8_t buf[PEERMSG_MAX];

	row_set(r, C_MSG, "%s", peer_names[m->kind]);
	if (m->has_try) {
		row_try(r, m->try_id);
		row_set(r, C_METHOD, "birthday"); /* the try INTRODUCE named */
	}
	return emit(o, buf, peermsg_build(m, buf, sizeof(buf)), r);
}

static int gen_checks(struct out *o)
{
	struct peermsg chk = {
	    .kind = PEERMSG_CHECK, .has_try = true, .try_id = TRY_INTRO, .name = "carol-1.x_y"};
	struct peermsg nom = chk, ans;
	struct dg_ep from = ep("10.1.2.3", 5555);
	struct row r1 = {0}, r2 = {0}, r3 = {0};

	txid_fill(chk.txid, 7);
	row_set(&r1, C_NAME, "carol-1.x_y");
	/* a nominating check of predict's: USE-CANDIDATE, the peer as seen,
	 * the endpoint predicted */
	txid_fill(nom.txid, 8);
	nom.nominate = true;
	nom.has_mapped = true;
	nom.mapped = ep("203.0.113.9", 40404);
	nom.has_pred = true;
	nom.pred = ep("203.0.113.7", 51300);
	row_set(&r2, C_NAME, "carol-1.x_y");
	row_ep(&r2, C_MAPPED_ADDR, &nom.mapped);
	row_ep(&r2, C_PRED_ADDR, &nom.pred);
	row_set(&r2, C_USE_CANDIDATE, "1");
	peermsg_answer_of(&chk, &from, &ans);
	row_ep(&r3, C_MAPPED_ADDR, &from);
	return peer_emit(o, &chk, &r1) < 0 || peer_emit(o, &nom, &r2) < 0 ||
		       peer_emit(o, &ans, &r3) < 0
		   ? -1
		   : 0;
}

static int gen_probes(struct out *o)
{
	struct peermsg p = {.kind = PEERMSG_PROBE, .has_try = true, .try_id = TRY_INTRO, .seq = 7};
	struct peermsg echo;
	struct row r1 = {0}, r2 = {0};
	struct dg_ep from = ep("10.1.2.3", 5555);

	txid_fill(p.txid, 9);
	row_set(&r1, C_SEQ, "7");
	peermsg_answer_of(&p, &from, &echo);
	row_set(&r2, C_SEQ, "7");
	return peer_emit(o, &p, &r1) < 0 || peer_emit(o, &echo, &r2) < 0 ? -1 : 0;
}

/* RFC 8656 §11.6: a Data indication carrying a probe in DATA, as a TURN
 * server relays it (XOR-PEER-ADDRESS 0x0012, DATA 0x0013). */
static int gen_relayed(struct out *o)
{
	struct peermsg p = {.kind = PEERMSG_PROBE, .has_try = true, .try_id = TRY_INTRO, .seq = 8};
	uint8_t inner[PEERMSG_MAX], buf[GEN_MSG_MAX], txid[STUN_TXID_LEN];
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(50000)};
	struct stun_builder b;
	struct row r = {0};
	int n;

	txid_fill(p.txid, 10);
	n = peermsg_build(&p, inner, sizeof(inner));
	if (n <= 0)
		return -1;
	txid_fill(txid, 11);
	inet_pton(AF_INET, "198.51.100.40", &peer.sin_addr);
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_DATA, STUN_CLASS_INDICATION, txid,
			    false);
	stun_msg_build_xor_addr(&b, 0x0012, (const struct sockaddr *)&peer);
	stun_msg_build_raw(&b, 0x0013, inner, (size_t)n);
	row_set(&r, C_MSG, "probe");
	row_try(&r, TRY_INTRO);
	row_set(&r, C_METHOD, "birthday");
	row_set(&r, C_SEQ, "8");
	for (int i = 0; i < STUN_TXID_LEN; i++)
		snprintf(r.v[C_TXID] + 2 * i, 3, "%02x", p.txid[i]);
	return emit(o, buf, stun_msg_build_finish(&b), &r);
}

/* --- the zero-trust gate ------------------------------------------------------ */

/* docs/gate.md's AUTH exchange, written here by hand as it specifies it
 * (include/natbed/gatemsg.h builds it in the gate's own code). */
#define GATE_METHOD_AUTH 0x0E4
#define GATE_ATTR_RES	 0xC0F0
#define GATE_ATTR_TRUST	 0xC0F1
#define GATE_ATTR_TTL	 0xC0F2
#define GATE_ATTR_DELAY	 0xC0F3
#define GATE_ATTR_RISK	 0xC0F4
#define GATE_KEY	 "alice's key"

static void gate_u32(struct stun_builder *b, uint16_t type, uint32_t v)
{
	uint8_t p[4];

	nbstun_put_be(p, v, 4);
	stun_msg_build_raw(b, type, p, sizeof(p));
}

/* An answer: granted, or refused with code; trust given or not; signed
 * or not. */
static int gate_answer(struct out *o, uint8_t seed, int code, bool trust, bool sign)
{
	uint8_t buf[GEN_MSG_MAX], txid[STUN_TXID_LEN], levels[4] = {1, 2, 0, 0};
	struct stun_builder b;
	struct row r = {0};

	txid_fill(txid, seed);
	stun_msg_build_init(&b, buf, sizeof(buf), GATE_METHOD_AUTH,
			    code ? STUN_CLASS_ERROR : STUN_CLASS_SUCCESS, txid, false);
	row_set(&r, C_MSG, code ? "auth-error" : "auth-ok");
	if (code) {
		stun_msg_build_error(&b, code, code == 403 ? "Denied" : "Unauthorized");
		row_set(&r, C_ERROR_CODE, "%d", code);
		row_set(&r, C_ERROR_REASON, code == 403 ? "Denied" : "Unauthorized");
	}
	if (trust) {
		stun_msg_build_raw(&b, GATE_ATTR_TRUST, levels, sizeof(levels));
		gate_u32(&b, GATE_ATTR_DELAY, 1500000);
		gate_u32(&b, GATE_ATTR_RISK, 250000);
		row_set(&r, C_TRUST_LEVEL, "1");
		row_set(&r, C_TRUST_NOW, "2");
		row_set(&r, C_DELAY, "1500000");
		row_set(&r, C_RISK, "250000");
	}
	if (!code) {
		gate_u32(&b, GATE_ATTR_TTL, 120000);
		row_set(&r, C_TTL, "120000");
	}
	if (sign)
		stun_msg_build_integrity(&b, true, (const uint8_t *)GATE_KEY, strlen(GATE_KEY));
	stun_msg_build_fingerprint(&b);
	return emit(o, buf, stun_msg_build_finish(&b), &r);
}

static int gen_gate(struct out *o)
{
	uint8_t buf[GEN_MSG_MAX], txid[STUN_TXID_LEN];
	struct stun_builder b;
	struct row r = {0};

	txid_fill(txid, 12);
	stun_msg_build_init(&b, buf, sizeof(buf), GATE_METHOD_AUTH, STUN_CLASS_REQUEST, txid,
			    false);
	stun_msg_build_string(&b, STUN_ATTR_USERNAME, "alice");
	stun_msg_build_string(&b, STUN_ATTR_NONCE, "000000000000001f");
	stun_msg_build_raw(&b, GATE_ATTR_RES, "198.51.100.10:3478", 18);
	stun_msg_build_integrity(&b, true, (const uint8_t *)GATE_KEY, strlen(GATE_KEY));
	stun_msg_build_fingerprint(&b);
	row_set(&r, C_MSG, "auth");
	row_set(&r, C_USER, "alice");
	row_set(&r, C_NONCE, "000000000000001f");
	row_set(&r, C_RESOURCE, "198.51.100.10:3478");
	if (emit(o, buf, stun_msg_build_finish(&b), &r) < 0)
		return -1;
	/* granted; denied after the delay; refused at once, unsigned */
	return gate_answer(o, 12, 0, true, true) < 0 || gate_answer(o, 13, 403, true, true) < 0 ||
		       gate_answer(o, 14, 401, false, false) < 0
		   ? -1
		   : 0;
}

/* --- main ------------------------------------------------------------------- */

static int open_out(struct out *o, const char *dir, const char *name)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s.hex", dir, name);
	o->hex = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/%s.expect", dir, name);
	o->expect = fopen(path, "w");
	if (!o->hex || !o->expect) {
		fprintf(stderr, "nbmsg_gen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int close_out(struct out *o)
{
	int rc = 0;

	if (o->hex && fclose(o->hex) != 0)
		rc = -1;
	if (o->expect && fclose(o->expect) != 0)
		rc = -1;
	return rc;
}

int main(int argc, char **argv)
{
	struct out rdv = {0}, peer = {0}, gate = {0};
	char path[1024];
	FILE *f;
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: nbmsg_gen DIR\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/fields", argv[1]);
	f = fopen(path, "w");
	if (!f)
		goto out;
	for (int c = 0; c < C_COUNT; c++) {
		if (!col_fields[c]) {
			fprintf(stderr, "nbmsg_gen: column %d has no field name\n", c);
			fclose(f);
			return 1;
		}
		fprintf(f, "%s\n", col_fields[c]);
	}
	if (fclose(f) != 0 || open_out(&rdv, argv[1], "rdv") < 0 ||
	    open_out(&peer, argv[1], "peer") < 0 || open_out(&gate, argv[1], "gate") < 0)
		goto out;
	if (gen_register(&rdv) < 0 || gen_register_answers(&rdv) < 0 || gen_connect(&rdv) < 0 ||
	    gen_introduce(&rdv) < 0 || gen_lookup(&rdv) < 0 || gen_checks(&peer) < 0 ||
	    gen_probes(&peer) < 0 || gen_relayed(&peer) < 0 || gen_gate(&gate) < 0)
		goto out;
	rc = 0;
out:
	if (close_out(&rdv) < 0 || close_out(&peer) < 0 || close_out(&gate) < 0)
		rc = 1;
	if (rc)
		fprintf(stderr, "nbmsg_gen: cannot write into %s\n", argv[1]);
	return rc;
}
