/* libFuzzer harness for the firewall (emulator/firewall.c) in virtual time.
 *
 * Input: a firewall block (present, default policy, stateful, up to
 * FW_FUZZ_RULES rules with every match key), whether flows expire on a
 * scheduler or on lookup, then steps of
 *   control byte, 16-bit length, frame, time advance byte.
 * Control bits: 0 direction in (else out), 1 repair the frame's checksums,
 * 2 statistics as JSON, 3 build rejections into a buffer of a size read
 * from the input rather than FW_REJECT_FRAME_MAX, 4 checkpoint the
 * firewall, restore it into a twin and adopt the twin's state.
 *
 * Checked: fw_check() leaves the packet as it was and names a rule that
 * exists; every rejection answer fits its buffer, parses, goes back to the
 * sender and carries a right L4 checksum; a checkpoint restores, and the
 * restored firewall checkpoints the same. */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "firewall.h"
#include "fuzz_pkt.h"
#include "natbed/clock.h"
#include "natbed/sched.h"

#define FW_FUZZ_RULES	8
#define FW_FUZZ_TICK_NS NATBED_NS_PER_S /* a time advance byte counts seconds */
#define FW_FUZZ_ALIGN	2		/* the answer's IPv4 header 4-byte aligned */

enum fw_fuzz_ctl {
	FW_FUZZ_IN = 1u << 0,
	FW_FUZZ_FIX = 1u << 1,
	FW_FUZZ_STATS = 1u << 2,
	FW_FUZZ_CAP = 1u << 3,
	FW_FUZZ_CKPT = 1u << 4,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fw_fuzz_net(struct fuzz_in *in, struct topo_fw_net *n)
{
	n->addr.s_addr = htonl(fuzz_u32(in));
	n->len = fuzz_u8(in) % 33;
}

static void fw_fuzz_ports(struct fuzz_in *in, struct topo_fw_ports *p)
{
	uint32_t lo = fuzz_u16(in), hi;

	lo = lo ? lo : 1;
	hi = lo + fuzz_u8(in);
	p->lo = (uint16_t)lo;
	p->hi = (uint16_t)(hi > 65535 ? 65535 : hi);
}

static void fw_fuzz_cfg(struct fuzz_in *in, struct topo_fw *cfg)
{
	uint8_t b = fuzz_u8(in);

	memset(cfg, 0, sizeof(*cfg));
	cfg->present = !(b & 0x80);
	cfg->policy = (enum topo_fw_action)((b & 3) % 3);
	cfg->stateful = b & 4;
	cfg->n_rules = (size_t)((b >> 3) & 0x0f) % (FW_FUZZ_RULES + 1);
	for (size_t i = 0; i < cfg->n_rules; i++) {
		struct topo_fw_rule *r = &cfg->rules[i];
		uint8_t k;

		r->set = fuzz_u8(in) & (TOPO_FW_FROM | TOPO_FW_TO | TOPO_FW_PORT | TOPO_FW_SPORT);
		k = fuzz_u8(in);
		r->dir = (enum topo_fw_dir)(k % 3);
		r->proto = (enum topo_fw_proto)((k >> 2) % 4);
		r->action = (enum topo_fw_action)((k >> 4) % 3);
		fw_fuzz_net(in, &r->from);
		fw_fuzz_net(in, &r->to);
		fw_fuzz_ports(in, &r->port);
		fw_fuzz_ports(in, &r->sport);
		r->line = (int)i + 1;
	}
}

/* The answer to a rejected v, built into a heap block of cap bytes. */
static void fw_fuzz_reject(const struct ip_view *v, size_t cap)
{
	uint8_t *mem = malloc(FW_FUZZ_ALIGN + cap), *out = mem + FW_FUZZ_ALIGN;
	struct ip_view a;
	size_t n;

	if (!mem)
		return;
	n = fw_reject_build(v, out, cap);
	if (n > cap || n > FW_REJECT_FRAME_MAX)
		__builtin_trap();
	if (n > 0) {
		if (ip_view_parse(out, n, &a) < 0 || a.ip_len + ETH_HLEN_ != n)
			__builtin_trap();
		/* back to the sender: addresses and MACs swapped */
		if (a.ip->src != v->ip->dst || a.ip->dst != v->ip->src ||
		    memcmp(a.eth->dst, v->eth->src, sizeof(a.eth->dst)) != 0)
			__builtin_trap();
		if ((a.ip->proto != IPPROTO_TCP_ && a.ip->proto != IPPROTO_ICMP_) ||
		    !fuzz_l4_csum_ok(&a, false))
			__builtin_trap();
	}
	free(mem);
}

static void fw_fuzz_frame(struct fw *fw, size_t n_rules, struct fuzz_in *in, uint8_t ctl,
			  uint8_t *frame, size_t len, natbed_time_t now)
{
	size_t cap = FW_REJECT_FRAME_MAX;
	enum fw_verdict r;
	struct ip_view v;
	uint8_t *copy;
	int rule;

	if (ctl & FW_FUZZ_CAP)
		cap = fuzz_u16(in) % (FW_REJECT_FRAME_MAX + 1);
	if (ctl & FW_FUZZ_FIX)
		fuzz_frame_fix(frame, len);
	if (ip_view_parse(frame, len, &v) < 0)
		return;
	copy = malloc(len ? len : 1);
	if (!copy)
		return;
	memcpy(copy, frame, len);
	r = fw_check(fw, &v, ctl & FW_FUZZ_IN ? FW_DIR_IN : FW_DIR_OUT, now);
	rule = fw_last_rule(fw);
	/* a pure decision: the packet is not changed */
	if ((unsigned)r >= FW_VERDICT_COUNT || memcmp(copy, frame, len) != 0)
		__builtin_trap();
	if (rule < FW_RULE_ESTABLISHED || (rule >= 0 && (size_t)rule >= n_rules))
		__builtin_trap();
	free(copy);
	if (r == FW_REJECT)
		fw_fuzz_reject(&v, cap);
}

/* Checkpoint fw (through text, as the file carries it), restore it into a
 * twin of cfg, and make fw run the twin's state: it checkpoints the same. */
static void fw_fuzz_checkpoint(struct fw *fw, const struct topo_fw *cfg, struct sched *s,
			       natbed_time_t now)
{
	json_t *ck = fw_checkpoint(fw, now), *back = NULL, *again = NULL;
	struct fw *twin = fw_new(cfg, s), *fresh = NULL;
	char err[256], *text = ck ? json_dumps(ck, JSON_COMPACT) : NULL;

	if (text)
		back = json_loads(text, 0, NULL);
	if (back && twin)
		fresh = fw_restore_prepare(twin, back, now, err, sizeof(err));
	if (back && twin && !fresh)
		__builtin_trap(); /* its own checkpoint must fit */
	if (fresh) {
		fw_adopt(fw, fresh);
		again = fw_checkpoint(fw, now);
		if (again && !json_equal(ck, again))
			__builtin_trap();
	}
	json_decref(again);
	json_decref(back);
	json_decref(ck);
	free(text);
	fw_free(twin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct clock_virtual vc = {0};
	struct sched *s = NULL;
	struct fw *fw = NULL;
	natbed_time_t now = 0;
	struct topo_fw cfg;
	uint8_t *frame;
	size_t len;
	bool on_sched;

	fw_fuzz_cfg(&in, &cfg);
	on_sched = fuzz_u8(&in) & 1;
	s = sched_new(clock_virtual_clock(&vc), &vc);
	if (s)
		fw = fw_new(&cfg, on_sched ? s : NULL);
	if (!fw)
		goto cleanup;
	while (in.n > 0) {
		uint8_t ctl = fuzz_u8(&in);

		frame = fuzz_frame_take(&in, &len);
		if (frame)
			fw_fuzz_frame(fw, cfg.present ? cfg.n_rules : 0, &in, ctl, frame, len, now);
		fuzz_frame_free(frame);
		if (ctl & FW_FUZZ_STATS) {
			json_t *j = fw_stats_json(fw);

			if (!j)
				__builtin_trap();
			json_decref(j);
		}
		if (ctl & FW_FUZZ_CKPT)
			fw_fuzz_checkpoint(fw, &cfg, on_sched ? s : NULL, now);
		now += (natbed_time_t)fuzz_u8(&in) * FW_FUZZ_TICK_NS;
		sched_run_until(s, now);
	}
cleanup:
	fw_free(fw);
	sched_free(s);
	return 0;
}
