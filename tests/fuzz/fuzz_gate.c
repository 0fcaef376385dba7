/* libFuzzer harness for the zero-trust gate's request handling
 * (emulator/gate.c): any bytes as a series of auth requests to a gate in
 * front of three hosts, from their addresses and others, with time moving
 * between them. A record is either raw bytes or the fields of a request
 * the harness builds and signs (so that requests get past the integrity
 * check and into the replay window, the pending slots and the decisions).
 * Every answer parses; what the gate counts adds up; a checkpoint of the
 * gate restores into a twin that checkpoints the same. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gate.h"
#include "natbed/gatemsg.h"
#include "natbed/sched.h"
#include "natbed/topo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_RECORDS 64

static const char topo_yaml[] = "nats:\n"
				"  home:\n"
				"    preset: full-cone\n"
				"    public: 203.0.113.10\n"
				"    inside: 192.168.1.0/24\n"
				"    gate:\n"
				"      key: k\n"
				"      hosts: { b: { key: kb, trust: high } }\n"
				"      time-scale: 0.01\n"
				"      replay-window: 8\n"
				"      demote-after: 2\n"
				"hosts:\n"
				"  a: { nat: home, address: 192.168.1.10 }\n"
				"  b: { nat: home, address: 192.168.1.11 }\n"
				"  c: { nat: home, addresses: [192.168.1.12, 192.168.1.13] }\n"
				"  s: { address: 198.51.100.10 }\n";

static uint64_t fuzz_answers;

static void fuzz_reply(void *ctx, const struct gate_reply *r, natbed_time_t now)
{
	struct gatemsg_ans a;

	if (r->len > GATEMSG_MAX || gatemsg_parse_answer(r->buf, r->len, NULL, 0, &a) < 0)
		__builtin_trap();
	fuzz_answers++;
}

static struct gate *fuzz_gate(const struct topo *t, struct sched *s)
{
	struct gate_cfg c = {.topo = t,
			     .tg = t->nats[0].gate,
			     .name = "home",
			     .nat = 0,
			     .host = -1,
			     .seed = 5,
			     .reply = fuzz_reply};

	return gate_new(&c, s);
}

/* A request built from fields: [user][nonce 2][resource][key ok]. */
static size_t fuzz_build(const uint8_t *f, size_t n, uint8_t *out, size_t cap)
{
	static const char *const users[] = {"a", "b", "c", "s", "zz"};
	static const char *const res[] = {"any", "198.51.100.10", "198.51.100.10:3478", "s",
					  "nobody"};
	uint8_t txid[STUN_TXID_LEN] = {0};
	const char *user, *key;
	int len;

	if (n < 5)
		return 0;
	user = users[f[0] % 5];
	key = f[4] & 1 ? "x" : !strcmp(user, "b") ? "kb" : "k";
	memcpy(txid, f, n < STUN_TXID_LEN ? n : STUN_TXID_LEN);
	len = gatemsg_build_request(out, cap, txid, user, (uint64_t)(f[1] << 8 | f[2]) + 1,
				    res[f[3] % 5], (const uint8_t *)key, strlen(key));
	return len > 0 ? (size_t)len : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t srcs[] = {0xc0a8010a, 0xc0a8010b, 0xc0a8010c, 0xc0a8010d,
					0xc0a80163}; /* .10 .11 .12 .13 .99 */
	struct clock_virtual vc = {0};
	struct sched *s = sched_new(clock_virtual_clock(&vc), &vc);
	const struct gate_counters *c;
	uint8_t req[GATEMSG_MAX];
	struct gate *g, *twin, *fresh;
	struct topo *t;
	json_t *ck, *again;
	char err[256];
	uint64_t refused = 0;
	int k, r;

	if (!s || topo_load_string(topo_yaml, sizeof(topo_yaml) - 1, "f.yaml", "nb-", &t, err,
				   sizeof(err)) < 0)
		__builtin_trap();
	g = fuzz_gate(t, s);
	if (!g)
		__builtin_trap();
	/* each record: [kind/source][time][length][bytes...] */
	for (k = 0; k < FUZZ_RECORDS && size >= 3; k++) {
		size_t len = data[2] < size - 3 ? data[2] : size - 3, n = len;
		const uint8_t *body = data + 3;

		sched_run_until(s, sched_now(s) + (natbed_time_t)data[1] * 10 * NATBED_NS_PER_MS);
		if (data[0] & 0x80) {
			n = fuzz_build(body, len, req, sizeof(req));
			body = req;
		}
		if (n)
			gate_request(g, htonl(srcs[(data[0] & 0x7f) % 5]), htons(40000), body, n,
				     sched_now(s));
		data += 3 + len;
		size -= 3 + len;
	}
	c = gate_counters(g);
	for (r = 0; r < GATE_R_COUNT; r++)
		refused += c->refused[r];
	/* every request was refused, taken as a retransmission, or accepted
	 * (decided by now, or still under way) */
	if (refused + c->retransmits > c->requests)
		__builtin_trap();
	ck = gate_checkpoint(g, sched_now(s));
	twin = fuzz_gate(t, s);
	if (!ck || !twin)
		__builtin_trap();
	fresh = gate_restore_prepare(twin, ck, sched_now(s), err, sizeof(err));
	if (!fresh)
		__builtin_trap();
	gate_adopt(twin, fresh);
	again = gate_checkpoint(twin, sched_now(s));
	if (!json_equal(ck, again))
		__builtin_trap();
	json_decref(again);
	json_decref(ck);
	/* both decide what is under way */
	sched_run_until(s, sched_now(s) + 3600 * NATBED_NS_PER_S);
	gate_free(twin);
	gate_free(g);
	sched_free(s);
	topo_free(t);
	return 0;
}
