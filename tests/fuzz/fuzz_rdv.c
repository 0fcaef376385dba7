/* libFuzzer harness for the rendezvous (agents/rdvmsg.c, agents/rdv.c):
 *  1. the codec: parse any bytes; a message that parses must build again,
 *     and what it builds must parse to the same message;
 *  2. the state machine: the same bytes cut into datagrams
 *     (SRC LEN DATA...), each from one of eight addresses, with time
 *     moving between them, into a rendezvous on a fake datagram driver;
 *     every datagram is counted, CONNECTs and LOOKUPs are answered no
 *     more often than datagrams came, a refusal is told on at most once,
 *     the registrations and introductions
 *     it makes expire, and everything is freed. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rdv.h"
#include "rdvmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_trap(const struct rdv_msg *a, const struct rdv_msg *b)
{
	if (a->kind != b->kind || a->attrs != b->attrs ||
	    memcmp(a->txid, b->txid, STUN_TXID_LEN) != 0 || strcmp(a->name, b->name) != 0 ||
	    strcmp(a->peer, b->peer) != 0 || strcmp(a->method, b->method) != 0 ||
	    !dg_ep_eq(&a->cand.host, &b->cand.host) || !dg_ep_eq(&a->cand.srflx, &b->cand.srflx) ||
	    !dg_ep_eq(&a->cand.relay, &b->cand.relay) || !dg_ep_eq(&a->mapped, &b->mapped) ||
	    memcmp(&a->cand.nat, &b->cand.nat, sizeof(a->cand.nat)) != 0 ||
	    a->lifetime_s != b->lifetime_s || a->budget_ms != b->budget_ms ||
	    a->start_ms != b->start_ms || a->try_id != b->try_id || a->role != b->role ||
	    a->error_code != b->error_code)
		__builtin_trap();
}

static void codec(const uint8_t *data, size_t size)
{
	static uint8_t out[DG_MAX * 2];
	struct rdv_msg m, again;
	enum rdv_parse r;
	int n;

	r = rdvmsg_parse(data, size, &m);
	if ((unsigned)r >= RDV_PARSE_COUNT)
		__builtin_trap();
	if (r != RDV_PARSE_OK)
		return;
	n = rdvmsg_build(&m, out, sizeof(out));
	if (n <= 0 || rdvmsg_parse(out, (size_t)n, &again) != RDV_PARSE_OK)
		__builtin_trap();
	same_or_trap(&m, &again);
}

/* A driver with one socket that keeps its callback and checks answers. */
struct fake {
	dg_recv_fn fn;
	void *arg;
	uint64_t sent;
};

static int fk_open(void *io, const struct dg_ep *bind, struct dg_ep *local, dg_recv_fn fn,
		   void *arg)
{
	struct fake *f = io;

	f->fn = fn;
	f->arg = arg;
	*local = *bind;
	return 0;
}

static int fk_send(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len)
{
	struct fake *f = io;
	struct rdv_msg m;

	/* whatever the rendezvous says is a sound message of its own */
	if (sock != 0 || len > DG_MAX || rdvmsg_parse(buf, len, &m) != RDV_PARSE_OK)
		__builtin_trap();
	f->sent++;
	return 0;
}

static void fk_close(void *io, int sock)
{
}

static const struct dgram_ops fk_ops = {fk_open, fk_send, fk_close, NULL};

static void server(const uint8_t *data, size_t size)
{
	struct clock_virtual vc = {0};
	struct sched *s = sched_new(clock_virtual_clock(&vc), &vc);
	struct fake f = {0};
	struct dgram d = {&fk_ops, &f, s, 1};
	struct rdv_config cfg = {.listen = {0x1400A8C0, 0xB312}, .max_agents = 4};
	struct rdv_counters c;
	struct rdv *r;
	uint64_t n = 0;

	if (!s)
		return;
	if (rdv_new(&d, &cfg, &r) < 0) {
		sched_free(s);
		return;
	}
	while (size >= 2) {
		uint8_t src = data[0];
		size_t len = data[1] < size - 2 ? data[1] : size - 2;
		struct dg_ep from = {0x0A000000u | (src & 7u) << 24, (uint16_t)(1000 + (src >> 6))};

		f.fn(f.arg, 0, &from, data + 2, len, sched_now(s));
		n++;
		data += 2 + len;
		size -= 2 + len;
		/* time moves: up to 1.5 s between datagrams */
		sched_run_until(s, sched_now(s) + (natbed_time_t)(src >> 3 & 7) * 200000000);
	}
	rdv_counters(r, &c);
	/* one answer at most per datagram: CONNECT and LOOKUP alike */
	if (c.datagrams != n || c.agents > c.registered || c.agents > cfg.max_agents ||
	    c.connects + c.connect_errors + c.lookups + c.lookup_errors > n ||
	    c.cancels > c.intro_refused || c.cancel_acked > c.cancels)
		__builtin_trap();

	/* every registration and introduction ends on its own */
	sched_run_until(s, sched_now(s) + 7200 * NATBED_NS_PER_S);
	rdv_counters(r, &c);
	if (c.agents != 0 || sched_pending(s) != 0)
		__builtin_trap();
	rdv_free(r);
	sched_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	codec(data, size);
	server(data, size);
	return 0;
}
