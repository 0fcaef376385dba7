/* natbed-vnet-rate: datagrams per second of CPU through one NAT of the
 * virtual network (emulator/vnet.h), in virtual time.
 *
 *   natbed-vnet-rate [--datagrams N] [--clients C] [--preset P] [--echo] [--size B]
 *
 * C clients (default 1) behind one NAT of preset P (default
 * port-restricted) each open a socket and send, in turns, N datagrams in
 * all (default 1000000) of B bytes of UDP payload (default 18: a 64-byte
 * frame) to one public server, in batches of 1000 per millisecond of
 * virtual time; with --echo the server answers each, so every exchange
 * crosses the NAT twice. Links have no delay or loss: the figure is the
 * cost of the walk and the engines. Prints details on stderr and, last,
 * `vnet_dgrams_per_cpu_s X` (X counts NAT traversals). No sockets, no
 * root; bounded by N.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nat.h"
#include "natbed/sched.h"
#include "natbed/topo.h"
#include "vnet.h"

#define BATCH	    1000
#define CLIENTS_MAX 60000

struct server {
	const struct dgram *d;
	bool echo;
	uint64_t got;
};

static void server_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		      natbed_time_t now)
{
	struct server *sv = arg;

	(void)now;
	sv->got++;
	if (sv->echo)
		sv->d->ops->send(sv->d->io, sock, from, buf, len);
}

static void client_rx(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		      natbed_time_t now)
{
	(void)sock, (void)from, (void)buf, (void)len, (void)now;
	(*(uint64_t *)arg)++;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One NAT, `clients` hosts behind it, one server. */
static char *topology(const char *preset, size_t clients)
{
	size_t cap = 512 + clients * 64, len, i;
	char *y = malloc(cap);

	if (!y)
		return NULL;
	len = (size_t)snprintf(y, cap,
			       "name: vnet-rate\n"
			       "nats:\n"
			       "  nat: { preset: %s, public: 203.0.113.1, inside: 10.0.0.0/16 }\n"
			       "hosts:\n"
			       "  srv: { address: 198.51.100.10 }\n",
			       preset);
	for (i = 0; i < clients && len < cap; i++)
		/* addresses given: the loader's allocation is quadratic in hosts */
		len += (size_t)snprintf(y + len, cap - len,
					"  c%zu: { nat: nat, address: 10.0.%zu.%zu }\n", i + 1,
					(i + 2) / 256, (i + 2) % 256);
	return y;
}

static void usage(void)
{
	fprintf(stderr, "usage: natbed-vnet-rate [--datagrams N] [--clients C] [--preset P] "
			"[--echo] [--size B]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"datagrams", required_argument, NULL, 'n'}, {"clients", required_argument, NULL, 'c'},
	    {"preset", required_argument, NULL, 'p'},	 {"echo", no_argument, NULL, 'e'},
	    {"size", required_argument, NULL, 's'},	 {NULL, 0, NULL, 0}};
	unsigned long long n = 1000000;
	size_t clients = 1, size = 18, i, sent = 0;
	const char *preset = "port-restricted";
	struct server sv = {0};
	struct clock_virtual vc = {0};
	struct sched *s;
	struct topo *t;
	struct vnet *v;
	struct dg_ep to = {0}, any = {0}, local;
	uint8_t payload[DG_MAX] = {0};
	uint64_t back = 0;
	int *socks, c, h0;
	char err[TOPO_ERR_MAX], *yaml;
	double t0, t1, t2;

	while ((c = getopt_long(argc, argv, "n:c:p:es:", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 'c':
			clients = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			preset = optarg;
			break;
		case 'e':
			sv.echo = true;
			break;
		case 's':
			size = strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (n == 0 || clients == 0 || clients > CLIENTS_MAX || size > DG_MAX)
		usage();
	t0 = cpu_s();
	yaml = topology(preset, clients);
	s = sched_new(clock_virtual_clock(&vc), &vc);
	socks = calloc(clients, sizeof(*socks));
	if (!yaml || !s || !socks ||
	    topo_load_string(yaml, strlen(yaml), "vnet-rate", NULL, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "natbed-vnet-rate: %s\n",
			yaml && s && socks ? err : "out of memory");
		return 1;
	}
	v = vnet_new(&(struct vnet_cfg){.topo = t, .sched = s}, err, sizeof(err));
	if (!v) {
		fprintf(stderr, "natbed-vnet-rate: %s\n", err);
		return 1;
	}
	inet_pton(AF_INET, "198.51.100.10", &to.addr);
	to.port = htons(7000);
	sv.d = vnet_dgram(v, topo_host_find(t, "srv"));
	if (sv.d->ops->open(sv.d->io, &to, &local, server_rx, &sv) < 0)
		return 1;
	h0 = topo_host_find(t, "c1");
	for (i = 0; i < clients; i++) {
		const struct dgram *d = vnet_dgram(v, h0 + (int)i);

		socks[i] = d->ops->open(d->io, &any, &local, client_rx, &back);
		if (socks[i] < 0)
			return 1;
	}
	t1 = cpu_s();
	while (sent < n) {
		for (i = 0; i < BATCH && sent < n; i++, sent++) {
			const struct dgram *d = vnet_dgram(v, h0 + (int)(sent % clients));

			d->ops->send(d->io, socks[sent % clients], &to, payload, size);
		}
		sched_run_until(s, sched_now(s) + NATBED_NS_PER_MS);
	}
	sched_run_until(s, sched_now(s) + NATBED_NS_PER_S);
	t2 = cpu_s();
	{
		const struct nat_counters *nc = nat_counters(vnet_nat(v, "nat"));
		uint64_t trav = nc->out_pkts + nc->in_pkts;

		fprintf(stderr,
			"preset %s clients %zu size %zu echo %s: sent %llu server got %llu "
			"answers back %llu, NAT out %llu in %llu mappings %llu; setup %.3f s, "
			"run %.3f s of CPU\n",
			preset, clients, size, sv.echo ? "yes" : "no", n,
			(unsigned long long)sv.got, (unsigned long long)back,
			(unsigned long long)nc->out_pkts, (unsigned long long)nc->in_pkts,
			(unsigned long long)nc->mappings_active, t1 - t0, t2 - t1);
		printf("vnet_dgrams_per_cpu_s %.0f\n", t2 > t1 ? (double)trav / (t2 - t1) : 0.0);
	}
	vnet_free(v);
	sched_free(s);
	topo_free(t);
	free(socks);
	free(yaml);
	return 0;
}
