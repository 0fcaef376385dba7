/* A test driver for agents/turn.c on real sockets: allocates on a TURN
 * server, binds a channel to PEER, sends COUNT datagrams to it through the
 * relay and counts the echoes that come back, then prints one JSON line
 * {"relayed","mapped","sent","received","reason"} and exits 0 when every
 * echo came back, 1 otherwise. Bounded: --timeout (default 10 s). */
#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dgram_sock.h"
#include "natbed/units.h"
#include "turn.h"

struct probe {
	struct event_base *base;
	struct turn *t;
	struct dg_ep peer;
	int count, sent, received;
	char relayed[DG_EP_STR], mapped[DG_EP_STR], reason[200];
	int done;
};

static void probe_end(struct probe *p, const char *reason)
{
	if (p->done)
		return;
	p->done = 1;
	if (reason)
		snprintf(p->reason, sizeof(p->reason), "%s", reason);
	event_base_loopbreak(p->base);
}

static void probe_ready(void *arg, const struct dg_ep *relayed, const struct dg_ep *mapped)
{
	struct probe *p = arg;

	dg_ep_str(relayed, p->relayed);
	dg_ep_str(mapped, p->mapped);
	turn_permit(p->t, &p->peer);
}

static void probe_bound(void *arg, const struct dg_ep *peer)
{
	struct probe *p = arg;
	char msg[32];

	for (; p->sent < p->count; p->sent++) {
		int n = snprintf(msg, sizeof(msg), "probe-%d", p->sent);

		turn_send(p->t, peer, msg, (size_t)n);
	}
}

static void probe_data(void *arg, const struct dg_ep *peer, const uint8_t *buf, size_t len,
		       natbed_time_t now)
{
	struct probe *p = arg;

	if (len >= 6 && memcmp(buf, "probe-", 6) == 0 && ++p->received == p->count)
		probe_end(p, NULL);
}

static void probe_failed(void *arg, const char *reason)
{
	probe_end(arg, reason);
}

static void probe_timeout(evutil_socket_t fd, short ev, void *arg)
{
	probe_end(arg, "timeout");
}

int main(int argc, char **argv)
{
	static const struct turn_ops ops = {probe_ready, probe_failed, probe_data, probe_bound};
	struct turn_cfg cfg = {0};
	struct probe p = {0};
	struct timeval tv = {10, 0};
	struct sched *s;
	struct dgsock *d;
	struct event *to;
	int64_t v;
	int c;

	p.count = 5;
	while ((c = getopt(argc, argv, "s:u:w:p:n:t:l:")) != -1) {
		switch (c) {
		case 's':
			if (dg_ep_parse(optarg, 3478, &cfg.server) < 0)
				return 2;
			break;
		case 'u':
			snprintf(cfg.user, sizeof(cfg.user), "%s", optarg);
			break;
		case 'w':
			snprintf(cfg.pass, sizeof(cfg.pass), "%s", optarg);
			break;
		case 'p':
			if (dg_ep_parse(optarg, 7, &p.peer) < 0)
				return 2;
			break;
		case 'n':
			p.count = atoi(optarg);
			break;
		case 't':
			tv.tv_sec = atoi(optarg);
			break;
		case 'l':
			if (units_parse_count(optarg, 3600, &v) < 0)
				return 2;
			cfg.lifetime_s = (uint32_t)v;
			break;
		default:
			fprintf(stderr, "usage: turn_probe -s SERVER -u USER -w PASS -p PEER "
					"[-n COUNT] [-t SECONDS] [-l LIFETIME]\n");
			return 2;
		}
	}
	p.base = event_base_new();
	s = sched_new(clock_monotonic, NULL);
	if (!p.base || !s || sched_attach(s, p.base) < 0)
		return 1;
	d = dgsock_new(p.base, s, 1);
	p.t = turn_new(dgsock_dgram(d), &cfg, &ops, &p);
	to = evtimer_new(p.base, probe_timeout, &p);
	if (!d || !p.t || !to || evtimer_add(to, &tv) < 0)
		return 1;
	event_base_dispatch(p.base);
	printf("{\"relayed\":\"%s\",\"mapped\":\"%s\",\"sent\":%d,\"received\":%d,\"reason\":\"%"
	       "s\"}\n",
	       p.relayed, p.mapped, p.sent, p.received, p.reason);
	turn_free(p.t);
	dgsock_free(d);
	event_free(to);
	sched_free(s);
	event_base_free(p.base);
	return p.received == p.count && p.count > 0 ? 0 : 1;
}
