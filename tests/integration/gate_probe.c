/* A test driver for the zero-trust gate on real sockets, from a host's
 * namespace (tests/integration/gate.sh). Builds its requests with
 * lib/gatemsg.c; bounded in count and time.
 *
 *   gate_probe auth   ...  one request, sent again every 500 ms until
 *                          answered; prints {"result","code","reason",
 *                          "auth_ms","delay_ms","trust"}; exit 0 when granted
 *   gate_probe replay ...  one request, then, once answered, the same bytes
 *                          again; prints {"first","second"}: each answer's
 *                          code (0: granted)
 *   gate_probe flood  ...  --bad N requests in the user's name with a wrong
 *                          key, in bursts of 100 every 5 ms, and one good
 *                          request after every N / --good M of them; reads
 *                          every answer; prints {"bad_sent","bad_answered",
 *                          "good":[{"txid","elapsed_ms","delay_ms","result"}]}
 *
 * options: --gate IP[:PORT] --user NAME --key KEY [--resource RES]
 *          [--bad N] [--good M] [--timeout SECONDS] */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "natbed/gatemsg.h"

#define PROBE_GOOD_MAX 100
#define PROBE_BAD_MAX  100000
#define PROBE_BURST    100

struct probe {
	int fd;
	struct sockaddr_in gate;
	const char *user, *key, *resource;
	uint64_t nonce;
	uint32_t txn;
	int bad, good;
	double timeout_s;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A request of the probe's user with key and its next nonce into buf. */
static size_t probe_build(struct probe *p, const char *key, uint8_t *buf, size_t cap,
			  uint8_t txid[STUN_TXID_LEN])
{
	int n;

	p->txn++;
	memset(txid, 0, STUN_TXID_LEN);
	memcpy(txid, &p->txn, sizeof(p->txn));
	memcpy(txid + 4, &p->nonce, sizeof(p->nonce));
	n = gatemsg_build_request(buf, cap, txid, p->user, ++p->nonce, p->resource,
				  (const uint8_t *)key, strlen(key));
	if (n < 0) {
		fprintf(stderr, "gate_probe: cannot build a request: %s\n", strerror(-n));
		exit(2);
	}
	return (size_t)n;
}

static void probe_send(struct probe *p, const uint8_t *buf, size_t len)
{
	if (sendto(p->fd, buf, len, 0, (struct sockaddr *)&p->gate, sizeof(p->gate)) < 0 &&
	    errno != ENOBUFS && errno != EAGAIN)
		perror("gate_probe: sendto");
}

/* The next answer within wait_ms (parsed with the user's key), or -1. */
static int probe_recv(struct probe *p, double wait_ms, struct gatemsg_ans *a)
{
	uint8_t buf[GATEMSG_MAX];
	struct pollfd pf = {.fd = p->fd, .events = POLLIN};
	double end = now_ms() + wait_ms;
	ssize_t n;

	for (;;) {
		double left = end - now_ms();

		if (left < 0 || poll(&pf, 1, (int)left + 1) <= 0)
			return -1;
		n = recv(p->fd, buf, sizeof(buf), 0);
		if (n > 0 && gatemsg_parse_answer(buf, (size_t)n, (const uint8_t *)p->key,
						  strlen(p->key), a) == 0)
			return 0;
	}
}

static const char *probe_result(const struct gatemsg_ans *a)
{
	return a->granted ? "granted" : a->has_trust ? "denied" : "refused";
}

/* Sends buf every 500 ms until its answer comes: 0 with *a, or -1. */
static int probe_exchange(struct probe *p, const uint8_t *buf, size_t len,
			  const uint8_t txid[STUN_TXID_LEN], struct gatemsg_ans *a, double *ms)
{
	double t0 = now_ms(), end = t0 + p->timeout_s * 1000;

	while (now_ms() < end) {
		probe_send(p, buf, len);
		while (probe_recv(p, 500, a) == 0)
			if (!memcmp(a->txid, txid, STUN_TXID_LEN)) {
				*ms = now_ms() - t0;
				return 0;
			}
	}
	return -1;
}

static int probe_auth(struct probe *p)
{
	uint8_t buf[GATEMSG_MAX], txid[STUN_TXID_LEN];
	size_t n = probe_build(p, p->key, buf, sizeof(buf), txid);
	struct gatemsg_ans a;
	double ms;

	if (probe_exchange(p, buf, n, txid, &a, &ms) < 0) {
		printf("{\"result\":\"timeout\"}\n");
		return 1;
	}
	printf("{\"result\":\"%s\",\"code\":%d,\"reason\":\"%s\",\"auth_ms\":%.3f,"
	       "\"delay_ms\":%.3f,\"trust\":\"%s\"}\n",
	       probe_result(&a), a.code, a.reason, ms, a.delay_us / 1000.0,
	       a.has_trust ? topo_trust_name(a.level) : "");
	return a.granted ? 0 : 1;
}

static int probe_replay(struct probe *p)
{
	uint8_t buf[GATEMSG_MAX], txid[STUN_TXID_LEN];
	size_t n = probe_build(p, p->key, buf, sizeof(buf), txid);
	struct gatemsg_ans a, b;
	double ms;

	if (probe_exchange(p, buf, n, txid, &a, &ms) < 0 ||
	    probe_exchange(p, buf, n, txid, &b, &ms) < 0) {
		printf("{\"result\":\"timeout\"}\n");
		return 1;
	}
	printf("{\"first\":%d,\"second\":%d,\"second_reason\":\"%s\"}\n", a.code, b.code, b.reason);
	return 0;
}

struct good {
	uint8_t txid[STUN_TXID_LEN];
	double sent;
	struct gatemsg_ans a;
	double elapsed;
	int answered;
};

static struct good *good_of(struct good *g, int n, const uint8_t *txid)
{
	for (int i = 0; i < n; i++)
		if (!memcmp(g[i].txid, txid, STUN_TXID_LEN))
			return &g[i];
	return NULL;
}

/* Counts answer a: to a good request (its time kept, once) or a bad one. */
static void flood_take(struct good *g, int ng, const struct gatemsg_ans *a, int *answered,
		       int *bad_answered)
{
	struct good *x = good_of(g, ng, a->txid);

	if (!x) {
		(*bad_answered)++;
	} else if (!x->answered) {
		x->a = *a;
		x->elapsed = now_ms() - x->sent;
		x->answered = 1;
		(*answered)++;
	}
}

static int probe_flood(struct probe *p)
{
	static struct good g[PROBE_GOOD_MAX];
	uint8_t buf[GATEMSG_MAX], txid[STUN_TXID_LEN];
	int every = p->bad / p->good, sent = 0, ng = 0, bad_answered = 0, answered = 0, i;
	double end;
	struct gatemsg_ans a;
	size_t n;

	while (sent < p->bad || ng < p->good) {
		for (i = 0; i < PROBE_BURST && sent < p->bad; i++, sent++) {
			n = probe_build(p, "not-the-key", buf, sizeof(buf), txid);
			probe_send(p, buf, n);
			if ((sent + 1) % every == 0 && ng < p->good) {
				n = probe_build(p, p->key, buf, sizeof(buf), g[ng].txid);
				g[ng].sent = now_ms();
				probe_send(p, buf, n);
				ng++;
			}
		}
		if (sent == p->bad && ng < p->good)
			break;
		while (probe_recv(p, 5, &a) == 0)
			flood_take(g, ng, &a, &answered, &bad_answered);
	}
	end = now_ms() + p->timeout_s * 1000;
	while (answered < ng && now_ms() < end)
		if (probe_recv(p, 100, &a) == 0)
			flood_take(g, ng, &a, &answered, &bad_answered);
	while (probe_recv(p, 200, &a) == 0) /* the refusals still on their way */
		bad_answered += !good_of(g, ng, a.txid);
	printf("{\"bad_sent\":%d,\"bad_answered\":%d,\"good\":[", sent, bad_answered);
	for (i = 0; i < ng; i++) {
		printf("%s{\"txid\":\"", i ? "," : "");
		for (int k = 0; k < STUN_TXID_LEN; k++)
			printf("%02x", g[i].txid[k]);
		if (g[i].answered)
			printf("\",\"elapsed_ms\":%.3f,\"delay_ms\":%.3f,\"result\":\"%s\"}",
			       g[i].elapsed, g[i].a.delay_us / 1000.0, probe_result(&g[i].a));
		else
			printf("\",\"result\":\"timeout\"}");
	}
	printf("]}\n");
	return answered == ng ? 0 : 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: gate_probe auth|replay|flood --gate IP[:PORT] --user NAME --key KEY "
		"[--resource RES] [--bad N] [--good M] [--timeout SECONDS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"gate", required_argument, NULL, 'g'},    {"user", required_argument, NULL, 'u'},
	    {"key", required_argument, NULL, 'k'},     {"resource", required_argument, NULL, 'r'},
	    {"bad", required_argument, NULL, 'b'},     {"good", required_argument, NULL, 'G'},
	    {"timeout", required_argument, NULL, 't'}, {NULL, 0, NULL, 0},
	};
	struct probe p = {.resource = "any", .bad = 10000, .good = 10, .timeout_s = 10};
	struct sockaddr_in any = {.sin_family = AF_INET};
	struct timespec wall;
	const char *cmd;
	char addr[64], *colon;
	int opt;

	if (argc < 2)
		usage();
	cmd = argv[1];
	p.gate.sin_family = AF_INET;
	p.gate.sin_port = htons(TOPO_GATE_PORT_DEFAULT);
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'g':
			snprintf(addr, sizeof(addr), "%s", optarg);
			if ((colon = strchr(addr, ':'))) {
				*colon = '\0';
				p.gate.sin_port = htons((uint16_t)atoi(colon + 1));
			}
			if (inet_pton(AF_INET, addr, &p.gate.sin_addr) != 1)
				usage();
			break;
		case 'u':
			p.user = optarg;
			break;
		case 'k':
			p.key = optarg;
			break;
		case 'r':
			p.resource = optarg;
			break;
		case 'b':
			p.bad = atoi(optarg);
			break;
		case 'G':
			p.good = atoi(optarg);
			break;
		case 't':
			p.timeout_s = atof(optarg);
			break;
		default:
			usage();
		}
	}
	if (!p.user || !p.key || !p.gate.sin_addr.s_addr || p.bad < 1 || p.bad > PROBE_BAD_MAX ||
	    p.good < 1 || p.good > PROBE_GOOD_MAX || p.good > p.bad || p.timeout_s <= 0 ||
	    p.timeout_s > 120)
		usage();
	/* nonces above every earlier run's: the wall clock's microseconds */
	clock_gettime(CLOCK_REALTIME, &wall);
	p.nonce = (uint64_t)wall.tv_sec * 1000000 + (uint64_t)wall.tv_nsec / 1000;
	p.fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (p.fd < 0 || bind(p.fd, (struct sockaddr *)&any, sizeof(any)) < 0) {
		perror("gate_probe: socket");
		return 2;
	}
	if (!strcmp(cmd, "auth"))
		return probe_auth(&p);
	if (!strcmp(cmd, "replay"))
		return probe_replay(&p);
	if (!strcmp(cmd, "flood"))
		return probe_flood(&p);
	usage();
	return 2;
}
