/* libFuzzer harness for natbed-agent clients' schedule (agents/clients.c):
 * the bytes cut at newlines are schedule lines (at most 64) into clients
 * on a driver whose datagrams go nowhere. A line is taken or refused with
 * a reason; every client taken reports exactly once (its registration
 * times out), never more alive than allowed; the input's end and the
 * last report make it idle once; everything is freed. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "clients.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_LINES 64
#define FZ_ALIVE 4

static int fk_open(void *io, const struct dg_ep *bind, struct dg_ep *local, dg_recv_fn fn,
		   void *arg)
{
	int *next = io;

	local->addr = 0x0100000A; /* 10.0.0.1 */
	local->port = (uint16_t)(1024 + *next);
	return (*next)++;
}

static int fk_send(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len)
{
	return 0;
}

static void fk_close(void *io, int sock)
{
}

static const struct dgram_ops fk_ops = {fk_open, fk_send, fk_close, NULL};

struct fz {
	uint64_t reports, idle;
};

static void fz_report(void *arg, const char *id, double t_s, const struct agent_report *r)
{
	struct fz *z = arg;

	if (!id[0] || t_s < 0 || t_s > CLIENTS_T_MAX_S + 1e5 || r->success)
		__builtin_trap();
	z->reports++;
}

static void fz_idle(void *arg)
{
	((struct fz *)arg)->idle++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct clock_virtual vc = {0};
	struct sched *s = sched_new(clock_virtual_clock(&vc), &vc);
	int next = 0;
	struct dgram d = {&fk_ops, &next, s, 1};
	struct clients_config cfg = {.max_alive = FZ_ALIVE};
	struct clients_ops ops = {.report = fz_report, .idle = fz_idle};
	struct clients_counters c;
	struct clients *cs;
	const struct method *table[AGENT_PLAN_MAX];
	struct fz z = {0};
	char line[CLIENTS_LINE_MAX + 64], err[160];
	int nlines = 0;

	if (!s)
		return 0;
	cfg.agent.rdv = (struct dg_ep){0x1400A8C0, 0xB312};
	cfg.agent.stun = (struct dg_ep){0x0A00A8C0, 0x960D};
	strcpy(cfg.agent.name, "fz");
	cfg.plan.probes = 1;
	cfg.plan.table = table;
	while (cfg.plan.ntable < AGENT_PLAN_MAX &&
	       (table[cfg.plan.ntable] = method_at(cfg.plan.ntable)))
		cfg.plan.ntable++;
	ops.arg = &z;
	cs = clients_new(&d, &cfg, &ops);
	if (!cs) {
		sched_free(s);
		return 0;
	}
	while (size && nlines < FZ_LINES) {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = nl ? (size_t)(nl - data) : size;
		size_t k = n < sizeof(line) - 1 ? n : sizeof(line) - 1;

		memcpy(line, data, k);
		line[k] = '\0';
		err[0] = '\0';
		/* a refusal says why */
		if (clients_line(cs, line, err, sizeof(err)) < 0 && !err[0])
			__builtin_trap();
		nlines++;
		data += n + (nl != NULL);
		size -= n + (nl != NULL);
	}
	clients_eof(cs);
	/* the latest start, then a registration's whole give-up time */
	sched_run_until(s,
			sched_now(s) + (natbed_time_t)(CLIENTS_T_MAX_S + 3600) * NATBED_NS_PER_S);
	clients_counters(cs, &c);
	if (c.reported != c.lines || z.reports != c.lines || z.idle != 1 || c.alive ||
	    c.alive_max > FZ_ALIVE || c.pending)
		__builtin_trap();
	clients_free(cs);
	if (sched_pending(s) != 0)
		__builtin_trap();
	sched_free(s);
	return 0;
}
