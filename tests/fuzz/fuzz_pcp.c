/* libFuzzer harness for the port-mapping server (emulator/pcp.c) and the
 * NAT's granted mappings: any bytes as a series of PCP / NAT-PMP requests
 * from inside and outside addresses, time moving between them; every
 * answer is of a length the RFCs allow, and a checkpoint of the NAT that
 * results restores into a twin that checkpoints the same. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nat.h"
#include "natbed/clock.h"
#include "natbed/sched.h"
#include "pcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_REQUESTS 32

static void pcp_fuzz_cfg(struct nat_cfg *c, uint8_t b)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "fuzz");
	c->b.mapping = (enum topo_nat_map)(b % 3);
	c->b.filtering = (enum topo_nat_map)((b >> 2) % 3);
	c->b.ports = (enum topo_nat_ports)((b >> 4) % TOPO_PORTS_COUNT);
	c->b.port_lo = 1024;
	c->b.port_hi = (b & 0x40) ? 1040 : 65535; /* a narrow range runs out */
	c->b.timeout_ns = 30 * NATBED_NS_PER_S;
	c->b.stride = 1;
	c->b.pcp = true;
	c->b.port_block = (b & 0x80) ? 8 : 0;
	c->tcp_established_ns = 7440 * NATBED_NS_PER_S;
	c->tcp_transitory_ns = 240 * NATBED_NS_PER_S;
	c->icmp_timeout_ns = 60 * NATBED_NS_PER_S;
	c->publics[0] = htonl(0xcb007101);
	c->n_public = 1;
	c->inside_net = htonl(0xc0a80100);
	c->inside_mask = htonl(0xffffff00);
}

/* An answer's length must be one the RFCs define. */
static void pcp_fuzz_check(const uint8_t *out, size_t n)
{
	if (n == 0)
		return;
	if (n > PCP_MSG_MAX)
		__builtin_trap();
	if (out[0] == NATPMP_VERSION && n != 8 && n != 12 && n != 16)
		__builtin_trap();
	if (out[0] == PCP_VERSION && (n < 24 || n % 4 || !(out[1] & 0x80)))
		__builtin_trap();
	if (out[0] != NATPMP_VERSION && out[0] != PCP_VERSION)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct clock_virtual vc = {0};
	struct sched *s;
	struct nat *n, *twin;
	struct nat_cfg c;
	struct pcp_counters pc = {0};
	uint8_t out[PCP_MSG_MAX];
	json_t *ck, *again;
	char err[256];
	int k;

	if (size < 1)
		return 0;
	pcp_fuzz_cfg(&c, data[0]);
	data++;
	size--;
	s = sched_new(clock_virtual_clock(&vc), &vc);
	n = nat_new(&c, s);
	if (!s || !n)
		__builtin_trap();
	/* each request: [source byte][time byte][length byte][bytes...] */
	for (k = 0; k < FUZZ_REQUESTS && size >= 3; k++) {
		uint32_t src =
		    htonl(((data[0] & 0x80) ? 0x0a000000u : 0xc0a80100u) | (data[0] & 7));
		size_t len = data[2] < size - 3 ? data[2] : size - 3;

		sched_run_until(s, sched_now(s) + (natbed_time_t)data[1] * NATBED_NS_PER_S);
		pcp_fuzz_check(
		    out, pcp_answer(n, &pc, data + 3, len, src, sched_now(s), out, sizeof(out)));
		data += 3 + len;
		size -= 3 + len;
	}
	ck = nat_checkpoint(n, sched_now(s));
	twin = nat_new(&c, s);
	if (!ck || !twin || nat_restore(twin, ck, sched_now(s), err, sizeof(err)) < 0)
		__builtin_trap();
	again = nat_checkpoint(twin, sched_now(s));
	if (!json_equal(ck, again))
		__builtin_trap();
	json_decref(again);
	json_decref(ck);
	nat_free(twin);
	nat_free(n);
	sched_free(s);
	return 0;
}
