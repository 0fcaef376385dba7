/* libFuzzer harness for the NAT engine (emulator/nat.c) in virtual time.
 *
 * Input: a NAT configuration (behaviours, port range, stride, parity,
 * pool, timeouts, addresses), then steps of
 *   control byte, 16-bit length, frame, time advance byte.
 * Control bits: 0 inbound (else outbound), 1 steer the addresses at the NAT
 * (inside source or public destination), 2 repair the frame's checksums,
 * 3 count a hairpin, 4-6 an extra operation (mappings as JSON, checkpoint
 * into a twin NAT, nat_set, flush).
 *
 * Checked: a translated frame still parses (IP header checksum right), an
 * L4 checksum right before is right after (RFC 1624 updates), a UDP
 * checksum, also one an ICMP error quotes, is never turned into zero nor
 * zero into one (RFC 768), and a checkpoint restored into a second NAT
 * shows the same mappings and checkpoints the same. */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_pkt.h"
#include "nat.h"
#include "natbed/clock.h"
#include "natbed/sched.h"

#define NAT_FUZZ_TICK_NS   NATBED_NS_PER_S /* a time advance byte counts seconds */
#define NAT_FUZZ_VALUE_MAX 32

enum nat_fuzz_ctl {
	NAT_FUZZ_INBOUND = 1u << 0,
	NAT_FUZZ_STEER = 1u << 1,
	NAT_FUZZ_FIX = 1u << 2,
	NAT_FUZZ_HAIRPIN = 1u << 3,
};
#define NAT_FUZZ_OP(ctl) (((ctl) >> 4) & 7)

enum nat_fuzz_op {
	NAT_FUZZ_OP_JSON = 4,
	NAT_FUZZ_OP_CHECKPOINT = 5,
	NAT_FUZZ_OP_SET = 6,
	NAT_FUZZ_OP_FLUSH = 7,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static natbed_time_t nat_fuzz_timeout(struct fuzz_in *in)
{
	return (1 + (natbed_time_t)fuzz_u8(in)) * NAT_FUZZ_TICK_NS;
}

static void nat_fuzz_cfg(struct fuzz_in *in, struct nat_cfg *cfg)
{
	uint8_t b = fuzz_u8(in), flags = fuzz_u8(in);
	uint32_t lo, width, plen;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->name, sizeof(cfg->name), "fuzz");
	cfg->b.mapping = (enum topo_nat_map)((b & 3) % 3);
	cfg->b.filtering = (enum topo_nat_map)(((b >> 2) & 3) % 3);
	cfg->b.ports = (enum topo_nat_ports)(((b >> 4) & 3) % TOPO_PORTS_COUNT);
	cfg->b.parity = b & 0x40;
	cfg->b.hairpin = b & 0x80;
	cfg->b.refresh_inbound = flags & 1;
	lo = fuzz_u16(in);
	lo = lo ? lo : 1;
	width = fuzz_u16(in);
	/* flag bit 1: a narrow range, where exhaustion and wrapping happen */
	if (flags & 2)
		width %= 16;
	cfg->b.port_lo = (uint16_t)lo;
	cfg->b.port_hi = (uint16_t)(lo + width > 65535 ? 65535 : lo + width);
	cfg->b.stride = (uint16_t)(1 + fuzz_u16(in) % TOPO_NAT_STRIDE_MAX);
	cfg->b.pool = fuzz_u8(in);
	cfg->b.timeout_ns = nat_fuzz_timeout(in);
	cfg->tcp_established_ns = nat_fuzz_timeout(in);
	cfg->tcp_transitory_ns = nat_fuzz_timeout(in);
	cfg->icmp_timeout_ns = nat_fuzz_timeout(in);
	cfg->publics[0] = htonl(fuzz_u32(in));
	/* flag bits 6-7: a pool of up to four addresses (paired pooling) */
	cfg->n_public = 1 + ((flags >> 6) & 3);
	for (size_t k = 1; k < cfg->n_public; k++)
		cfg->publics[k] = htonl(ntohl(cfg->publics[0]) + (uint32_t)k);
	/* flag bit 2: Linux's reservations and timeouts; 3-4: port classes;
	 * 5: port blocks of a subscriber (RFC 6888) */
	cfg->b.inbound_reserves = flags & 4;
	cfg->b.unreplied_ns = (flags & 4) ? nat_fuzz_timeout(in) : 0;
	cfg->b.classes = (enum topo_nat_classes)(((flags >> 3) & 3) % 3);
	if (flags & 32) {
		cfg->b.port_block = (uint16_t)(1 + fuzz_u8(in) % 64);
		cfg->b.port_blocks = (uint16_t)(1 + fuzz_u8(in) % 4);
		if (cfg->b.port_block > (uint32_t)cfg->b.port_hi - cfg->b.port_lo + 1)
			cfg->b.port_block = 0;
	}
	cfg->inside_net = htonl(fuzz_u32(in));
	plen = fuzz_u8(in) % 33;
	cfg->inside_mask = htonl(plen ? ~0u << (32 - plen) : 0);
	cfg->inside_net &= cfg->inside_mask;
	cfg->seed = fuzz_u32(in);
}

/* Points the frame at the NAT: an inside source going out, the public
 * address coming in. */
static void nat_fuzz_steer(const struct nat_cfg *cfg, uint8_t *frame, size_t len, bool inbound)
{
	struct ipv4_hdr *ip;

	if (len < ETH_HLEN_ + IPV4_MIN_HLEN)
		return;
	ip = (struct ipv4_hdr *)(frame + ETH_HLEN_);
	if (inbound)
		ip->dst = cfg->publics[ntohl(ip->src) % cfg->n_public];
	else
		ip->src = cfg->inside_net | (ip->src & ~cfg->inside_mask);
}

/* Whether the UDP datagram an ICMP error in v quotes has a checksum. */
static bool nat_fuzz_quote_csum(const struct ip_view *v)
{
	const uint8_t *u = fuzz_quoted_udp(v);

	return u && (u[6] != 0 || u[7] != 0);
}

static void nat_fuzz_frame(struct nat *n, uint8_t ctl, uint8_t *frame, size_t len,
			   natbed_time_t now)
{
	bool inbound = ctl & NAT_FUZZ_INBOUND, l4_ok, udp_none, quote_csum;
	enum nat_verdict r;
	struct ip_view v;

	if (ctl & NAT_FUZZ_STEER)
		nat_fuzz_steer(nat_config(n), frame, len, inbound);
	if (ctl & NAT_FUZZ_FIX)
		fuzz_frame_fix(frame, len);
	if (ip_view_parse(frame, len, &v) < 0)
		return;
	udp_none = fuzz_udp_csum_none(&v);
	l4_ok = fuzz_l4_csum_ok(&v, true);
	quote_csum = nat_fuzz_quote_csum(&v);
	r = inbound ? nat_inbound(n, &v, now) : nat_outbound(n, &v, now);
	if ((unsigned)r >= NAT_VERDICT_COUNT)
		__builtin_trap();
	if (r != NAT_PASS)
		return;
	/* the engine keeps checksums right: the IP header's is checked by
	 * the parse, the L4 one here */
	if (ip_view_parse(frame, len, &v) < 0)
		__builtin_trap();
	if (l4_ok && !fuzz_l4_csum_ok(&v, udp_none))
		__builtin_trap();
	/* RFC 768: zero means no checksum. None stays none, and a checksum,
	 * right or wrong, never becomes zero; nor does the checksum of the
	 * datagram an ICMP error quotes (which may be cut short, so is not
	 * verified) */
	if (fuzz_udp_csum_none(&v) != udp_none || (quote_csum && !nat_fuzz_quote_csum(&v)))
		__builtin_trap();
}

/* Checkpoint n and restore it into a new twin with n's configuration:
 * the twin shows the same mappings and checkpoints the same. */
static void nat_fuzz_checkpoint(struct nat *n, struct nat **twin, struct sched *s,
				natbed_time_t now)
{
	json_t *ck = nat_checkpoint(n, now), *again, *a, *b;
	char err[256];

	nat_free(*twin);
	*twin = nat_new(nat_config(n), s);
	if (!ck || !*twin || nat_restore(*twin, ck, now, err, sizeof(err)) < 0)
		__builtin_trap();
	a = nat_mappings_json(n, now);
	b = nat_mappings_json(*twin, now);
	again = nat_checkpoint(*twin, now);
	if (!json_equal(a, b) || !json_equal(ck, again))
		__builtin_trap();
	json_decref(again);
	json_decref(b);
	json_decref(a);
	json_decref(ck);
}

/* nat_set with a key from its list and a value from the input. */
static void nat_fuzz_set(struct nat *n, struct fuzz_in *in)
{
	static const char *const keys[] = {
	    "mapping",	  "filtering",	       "ports",
	    "port-range", "hairpin",	       "parity",
	    "stride",	  "timeout",	       "refresh-inbound",
	    "pool",	  "timeout-unreplied", "inbound-reserves",
	    "port-block", "port-blocks",       "bogus",
	};
	const char *key = keys[fuzz_u8(in) % (sizeof(keys) / sizeof(keys[0]))];
	char value[NAT_FUZZ_VALUE_MAX + 1], err[256] = "";
	size_t len = fuzz_u8(in) % (NAT_FUZZ_VALUE_MAX + 1);
	const struct nat_cfg *c;

	if (len > in->n)
		len = in->n;
	memcpy(value, in->p, len);
	value[len] = '\0';
	in->p += len;
	in->n -= len;
	if (nat_set(n, key, value, err, sizeof(err)) < 0) {
		if (err[0] == '\0')
			__builtin_trap();
		return;
	}
	c = nat_config(n);
	if (c->b.port_lo == 0 || c->b.port_hi < c->b.port_lo || c->b.stride == 0 ||
	    c->b.timeout_ns <= 0)
		__builtin_trap();
}

static void nat_fuzz_op(struct nat *n, struct nat **twin, struct sched *s, struct fuzz_in *in,
			uint8_t ctl, natbed_time_t now)
{
	json_t *j;

	switch (NAT_FUZZ_OP(ctl)) {
	case NAT_FUZZ_OP_JSON:
		j = nat_mappings_json(n, now);
		if (!json_is_array(j) || json_array_size(j) != nat_counters(n)->mappings_active)
			__builtin_trap();
		json_decref(j);
		break;
	case NAT_FUZZ_OP_CHECKPOINT:
		nat_fuzz_checkpoint(n, twin, s, now);
		break;
	case NAT_FUZZ_OP_SET:
		nat_fuzz_set(n, in);
		break;
	case NAT_FUZZ_OP_FLUSH:
		nat_flush(n);
		if (nat_counters(n)->mappings_active != 0)
			__builtin_trap();
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct clock_virtual vc = {0};
	struct nat *n = NULL, *twin = NULL;
	natbed_time_t now = 0;
	struct nat_cfg cfg;
	struct sched *s;
	uint8_t *frame;
	size_t len;

	nat_fuzz_cfg(&in, &cfg);
	s = sched_new(clock_virtual_clock(&vc), &vc);
	if (s)
		n = nat_new(&cfg, s);
	if (!n)
		goto cleanup;
	while (in.n > 0) {
		uint8_t ctl = fuzz_u8(&in);

		frame = fuzz_frame_take(&in, &len);
		if (frame)
			nat_fuzz_frame(n, ctl, frame, len, now);
		fuzz_frame_free(frame);
		if (ctl & NAT_FUZZ_HAIRPIN)
			nat_count_hairpin(n);
		nat_fuzz_op(n, &twin, s, &in, ctl, now);
		now += (natbed_time_t)fuzz_u8(&in) * NAT_FUZZ_TICK_NS;
		sched_run_until(s, now);
	}
cleanup:
	nat_free(twin);
	nat_free(n);
	sched_free(s);
	return 0;
}
