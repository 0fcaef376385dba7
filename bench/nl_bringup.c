/* nl_bringup: bring N hosts up and down with cli/netns, the way natbed up
 * will, so bench/bringup.sh can time it against plain iproute2 until the
 * natbed command exists.
 *
 *   nl_bringup up PREFIX N    PREFIXfabric + PREFIXh1..hN, a veth each
 *   nl_bringup down PREFIX    every namespace named PREFIX*, and its processes
 *
 * Host i: eth0 198.18.X.Y/32 (i + 9 spread over 198.18.0.0/16), default via
 * 198.18.0.1 onlink, lo up, IPv6 off, offloads off on both ends. Fabric:
 * IPv6 and forwarding off, port hI up with no address.
 */
#include "netns.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOSTS_MAX 4000

static const char *const no_ipv6[] = {"net.ipv6.conf.all.disable_ipv6",
				      "net.ipv6.conf.default.disable_ipv6"};

static int host_up(struct netns_ctx *ctx, const char *fabric, const char *prefix, int i,
		   struct netns_err *e)
{
	char ns[64], port[16];
	struct in_addr addr, gw;
	int rc;

	snprintf(ns, sizeof(ns), "%sh%d", prefix, i);
	snprintf(port, sizeof(port), "h%d", i);
	addr.s_addr = htonl(0xc6120000u + (unsigned int)i + 9); /* 198.18.0.10 + i - 1 */
	inet_pton(AF_INET, "198.18.0.1", &gw);
	rc = netns_create(ns, e);
	for (int k = 0; rc == 0 && k < 2; k++)
		rc = sysctl_set(ns, no_ipv6[k], "1", e);
	if (rc == 0)
		rc = veth_create(ctx, ns, "eth0", fabric, port, 1500, e);
	if (rc == 0)
		rc = link_up(ctx, ns, "lo", e);
	if (rc == 0)
		rc = offload_off(ctx, ns, "eth0", e);
	if (rc == 0)
		rc = offload_off(ctx, fabric, port, e);
	if (rc == 0)
		rc = link_up(ctx, ns, "eth0", e);
	if (rc == 0)
		rc = link_up(ctx, fabric, port, e);
	if (rc == 0)
		rc = addr_add(ctx, ns, "eth0", addr, 32, e);
	if (rc == 0)
		rc = route_add_default(ctx, ns, "eth0", gw, true, e);
	/* the host's sockets are not needed again: let it go when deleted */
	netns_ctx_forget(ctx, ns);
	return rc;
}

static int up(const char *prefix, int n)
{
	struct netns_err e = {""};
	struct netns_ctx *ctx;
	char fabric[64];
	int rc;

	snprintf(fabric, sizeof(fabric), "%sfabric", prefix);
	ctx = netns_ctx_new();
	if (!ctx) {
		fprintf(stderr, "nl_bringup: out of memory\n");
		return 1;
	}
	rc = netns_create(fabric, &e);
	for (int k = 0; rc == 0 && k < 2; k++)
		rc = sysctl_set(fabric, no_ipv6[k], "1", &e);
	if (rc == 0)
		rc = sysctl_set(fabric, "net.ipv4.ip_forward", "0", &e);
	for (int i = 1; rc == 0 && i <= n; i++)
		rc = host_up(ctx, fabric, prefix, i, &e);
	netns_ctx_free(ctx);
	if (rc < 0) {
		fprintf(stderr, "nl_bringup: %s\n", e.msg);
		return 1;
	}
	return 0;
}

static int down_one(const char *name, void *arg)
{
	struct netns_err e = {""};
	int *failed = arg;

	if (netns_kill_pids(name, SIGKILL, &e) < 0 || netns_delete(name, &e) < 0) {
		fprintf(stderr, "nl_bringup: %s\n", e.msg);
		(*failed)++;
	}
	return 0;
}

static int down(const char *prefix)
{
	int failed = 0, rc;

	rc = netns_list_prefix(prefix, down_one, &failed);
	if (rc < 0)
		fprintf(stderr, "nl_bringup: list %s: %s\n", NETNS_RUN_DIR, strerror(-rc));
	return rc < 0 || failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "up")) {
		int n = atoi(argv[3]);

		if (n < 1 || n > HOSTS_MAX || !argv[2][0]) {
			fprintf(stderr, "nl_bringup: N must be 1..%d, PREFIX non-empty\n",
				HOSTS_MAX);
			return 2;
		}
		return up(argv[2], n);
	}
	if (argc == 3 && !strcmp(argv[1], "down") && argv[2][0])
		return down(argv[2]);
	fprintf(stderr, "usage: nl_bringup up PREFIX N | nl_bringup down PREFIX\n");
	return 2;
}
