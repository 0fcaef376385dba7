/* natbed-stunclient: sends one Binding request (RFC 8489, or RFC 3489 with
 * --classic), retransmits on the RFC 8489 §6.2.1 schedule within a bounded
 * time, and prints what the answer says. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "natbed/clock.h"
#include "natbed/stun.h"
#include "stunaddr.h"

#define CLIENT_DEFAULT_PORT   3478
#define CLIENT_MAX_ATTRS      8
#define CLIENT_RTO_MS	      500 /* RFC 8489 §6.2.1: initial RTO */
#define CLIENT_MAX_TIMEOUT_MS 30000
#define CLIENT_BUF	      4096

struct client_attr {
	uint16_t type;
	size_t len;
	uint8_t value[256];
};

struct client_opts {
	struct sockaddr_storage server, source;
	int has_source, classic, fingerprint;
	uint32_t change;
	uint16_t response_port;
	size_t padding;
	int timeout_ms;
	size_t nattrs;
	struct client_attr attrs[CLIENT_MAX_ATTRS];
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: natbed-stunclient [options] SERVER[:PORT]\n"
		"\n"
		"Sends one STUN Binding request to SERVER (default port %d) and prints\n"
		"the answer: the reflexive (XOR-)MAPPED-ADDRESS first, then the other\n"
		"addresses it carries, or the error code.\n"
		"\n"
		"  --source IP[:PORT]   bind to this local address\n"
		"  --change-ip          CHANGE-REQUEST: answer from the other address\n"
		"  --change-port        CHANGE-REQUEST: answer from the other port\n"
		"  --response-port P    RESPONSE-PORT P (listens on P too)\n"
		"  --padding N          PADDING of N bytes\n"
		"  --fingerprint        add FINGERPRINT\n"
		"  --classic            RFC 3489 request (no magic cookie)\n"
		"  --attr TYPE:HEX      add a raw attribute (TYPE in hex), up to %d times\n"
		"  --timeout MS         give up after MS milliseconds (default 2000, max %d)\n"
		"  --help               this text\n"
		"\n"
		"Exit status: 0 success response, 3 error response, 1 no answer, 2 usage.\n",
		CLIENT_DEFAULT_PORT, CLIENT_MAX_ATTRS, CLIENT_MAX_TIMEOUT_MS);
}

static int parse_hex_attr(const char *s, struct client_attr *a)
{
	char *end;
	unsigned long type = strtoul(s, &end, 16);
	size_t n;

	if (*end != ':' || type > 0xFFFF)
		return -EINVAL;
	a->type = (uint16_t)type;
	s = end + 1;
	n = strlen(s);
	if (n % 2 || n / 2 > sizeof(a->value))
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int byte;

		if (sscanf(s + 2 * i, "%2x", &byte) != 1)
			return -EINVAL;
		a->value[i] = (uint8_t)byte;
	}
	a->len = n / 2;
	return 0;
}

static int build_request(const struct client_opts *o, const uint8_t *txid, uint8_t *buf, size_t cap)
{
	struct stun_builder b;

	stun_msg_build_init(&b, buf, cap, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, txid,
			    o->classic);
	if (o->change)
		stun_msg_build_change_request(&b, o->change);
	if (o->response_port)
		stun_msg_build_response_port(&b, o->response_port);
	if (o->padding)
		stun_msg_build_padding(&b, o->padding);
	for (size_t i = 0; i < o->nattrs; i++)
		stun_msg_build_raw(&b, o->attrs[i].type, o->attrs[i].value, o->attrs[i].len);
	if (o->fingerprint)
		stun_msg_build_fingerprint(&b);
	return stun_msg_build_finish(&b);
}

static void print_addr(const struct stun_msg *m, uint16_t type, const char *name)
{
	struct sockaddr_storage sa;
	char as[STUNADDR_STRLEN];

	if (stun_msg_get_addr(m, type, &sa) == 0)
		printf("%s %s\n", name, stunaddr_str(&sa, as, sizeof(as)));
}

/* Prints the answer; returns the exit status. */
static int print_answer(const struct stun_msg *m, const struct sockaddr_storage *from,
			uint16_t local_port)
{
	char as[STUNADDR_STRLEN], reason[STUN_MAX_REASON + 1];
	const struct stun_attr *u;

	if (m->cls == STUN_CLASS_ERROR) {
		int code = stun_msg_get_error(m, reason, sizeof(reason));

		printf("error %d %s\n", code, reason);
		u = stun_msg_find(m, STUN_ATTR_UNKNOWN_ATTRIBUTES);
		for (size_t i = 0; u && i + 1 < u->len; i += 2) {
			const uint8_t *v = stun_attr_value(m, u);

			printf("unknown-attribute 0x%04x\n", v[i] << 8 | v[i + 1]);
		}
		printf("from %s\n", stunaddr_str(from, as, sizeof(as)));
		return 3;
	}
	print_addr(m, STUN_ATTR_XOR_MAPPED_ADDRESS, "xor-mapped-address");
	print_addr(m, STUN_ATTR_MAPPED_ADDRESS, "mapped-address");
	print_addr(m, STUN_ATTR_RESPONSE_ORIGIN, "response-origin");
	print_addr(m, STUN_ATTR_OTHER_ADDRESS, "other-address");
	print_addr(m, STUN_ATTR_SOURCE_ADDRESS, "source-address");
	print_addr(m, STUN_ATTR_CHANGED_ADDRESS, "changed-address");
	if ((u = stun_msg_find(m, STUN_ATTR_PADDING)))
		printf("padding %u\n", u->len);
	printf("from %s\n", stunaddr_str(from, as, sizeof(as)));
	printf("local-port %u\n", local_port);
	return 0;
}

static int open_socket(const struct client_opts *o, uint16_t port)
{
	struct sockaddr_storage local;
	int fd = socket(o->server.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (o->has_source || port) {
		if (o->has_source) {
			local = o->source;
		} else {
			memset(&local, 0, sizeof(local));
			local.ss_family = o->server.ss_family;
		}
		if (port)
			stunaddr_set_port(&local, port);
		if (bind(fd, (struct sockaddr *)&local, stunaddr_len(&local)) < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
	}
	return fd;
}

/* Waits for an answer with our txid on either socket until deadline_ns. */
static int wait_answer(struct pollfd *pfd, int npfd, const uint8_t *txid, size_t txlen,
		       natbed_time_t deadline_ns, uint8_t *buf, struct stun_msg *m,
		       struct sockaddr_storage *from, int *which)
{
	for (int guard = 0; guard < 1000; guard++) {
		natbed_time_t now = clock_now(&clock_monotonic);
		int ms = (int)((deadline_ns - now) / NATBED_NS_PER_MS);

		if (ms <= 0 || poll(pfd, (nfds_t)npfd, ms) <= 0)
			return -ETIMEDOUT;
		for (int i = 0; i < npfd; i++) {
			socklen_t fl = sizeof(*from);
			ssize_t n;

			if (!(pfd[i].revents & POLLIN))
				continue;
			n = recvfrom(pfd[i].fd, buf, CLIENT_BUF, MSG_DONTWAIT,
				     (struct sockaddr *)from, &fl);
			if (n > 0 &&
			    stun_msg_parse(buf, (size_t)n, STUN_PARSE_ALLOW_CLASSIC, m, NULL, 0) ==
				STUN_PARSE_OK &&
			    memcmp(m->txid, txid, txlen) == 0 && m->cls != STUN_CLASS_REQUEST) {
				*which = i;
				return 0;
			}
		}
	}
	return -ETIMEDOUT;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);

	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return 0;
	return stunaddr_port(&sa);
}

static int run(const struct client_opts *o)
{
	uint8_t txid[STUN_CLASSIC_TXID_LEN], req[CLIENT_BUF], buf[CLIENT_BUF];
	size_t txlen = o->classic ? STUN_CLASSIC_TXID_LEN : STUN_TXID_LEN;
	natbed_time_t start = clock_now(&clock_monotonic), end;
	struct sockaddr_storage from;
	struct pollfd pfd[2];
	struct stun_msg m;
	int npfd = 1, len, ret = 1, rto = CLIENT_RTO_MS, which = 0;

	if (getrandom(txid, sizeof(txid), 0) != (ssize_t)sizeof(txid))
		return 1;
	len = build_request(o, txid, req, sizeof(req));
	if (len < 0) {
		fprintf(stderr, "natbed-stunclient: request does not fit: %s\n", strerror(-len));
		return 2;
	}
	pfd[0] = (struct pollfd){.fd = open_socket(o, 0), .events = POLLIN};
	if (pfd[0].fd < 0) {
		fprintf(stderr, "natbed-stunclient: socket: %s\n", strerror(-pfd[0].fd));
		return 1;
	}
	if (o->response_port) {
		pfd[1] = (struct pollfd){.fd = open_socket(o, o->response_port), .events = POLLIN};
		if (pfd[1].fd < 0) {
			fprintf(stderr, "natbed-stunclient: port %u: %s\n", o->response_port,
				strerror(-pfd[1].fd));
			goto cleanup;
		}
		npfd = 2;
	}
	end = start + (natbed_time_t)o->timeout_ms * NATBED_NS_PER_MS;
	/* RFC 8489 §6.2.1: retransmit after RTO, doubling, until the deadline */
	for (int tries = 0; tries < 16; tries++) {
		natbed_time_t wait_until = clock_now(&clock_monotonic) + rto * NATBED_NS_PER_MS;

		if (sendto(pfd[0].fd, req, (size_t)len, 0, (struct sockaddr *)&o->server,
			   stunaddr_len(&o->server)) < 0) {
			fprintf(stderr, "natbed-stunclient: sendto: %s\n", strerror(errno));
			goto cleanup;
		}
		if (wait_answer(pfd, npfd, txid, txlen, wait_until < end ? wait_until : end, buf,
				&m, &from, &which) == 0) {
			ret = print_answer(&m, &from, local_port(pfd[which].fd));
			goto cleanup;
		}
		if (clock_now(&clock_monotonic) >= end)
			break;
		rto *= 2;
	}
	fprintf(stderr, "natbed-stunclient: no answer within %d ms\n", o->timeout_ms);
cleanup:
	for (int i = 0; i < npfd; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"source", required_argument, NULL, 'S'},
	    {"change-ip", no_argument, NULL, 'i'},
	    {"change-port", no_argument, NULL, 'p'},
	    {"response-port", required_argument, NULL, 'r'},
	    {"padding", required_argument, NULL, 'P'},
	    {"fingerprint", no_argument, NULL, 'f'},
	    {"classic", no_argument, NULL, 'c'},
	    {"attr", required_argument, NULL, 'a'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct client_opts o = {.timeout_ms = 2000};
	long v;
	int c;

	while ((c = getopt_long(argc, argv, "S:ipr:P:fca:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'S':
			if (stunaddr_parse(optarg, 0, &o.source) < 0)
				goto bad;
			o.has_source = 1;
			break;
		case 'i':
			o.change |= STUN_CHANGE_IP;
			break;
		case 'p':
			o.change |= STUN_CHANGE_PORT;
			break;
		case 'r':
			v = strtol(optarg, NULL, 10);
			if (v < 1 || v > 65535)
				goto bad;
			o.response_port = (uint16_t)v;
			break;
		case 'P':
			v = strtol(optarg, NULL, 10);
			if (v < 1 || v > 2048)
				goto bad;
			o.padding = (size_t)v;
			break;
		case 'f':
			o.fingerprint = 1;
			break;
		case 'c':
			o.classic = 1;
			break;
		case 'a':
			if (o.nattrs == CLIENT_MAX_ATTRS ||
			    parse_hex_attr(optarg, &o.attrs[o.nattrs]) < 0)
				goto bad;
			o.nattrs++;
			break;
		case 't':
			v = strtol(optarg, NULL, 10);
			if (v < 1 || v > CLIENT_MAX_TIMEOUT_MS)
				goto bad;
			o.timeout_ms = (int)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind + 1 != argc || stunaddr_parse(argv[optind], CLIENT_DEFAULT_PORT, &o.server) < 0)
		goto bad;
	if (o.has_source && o.source.ss_family != o.server.ss_family)
		goto bad;
	return run(&o);
bad:
	usage(stderr);
	return 2;
}
