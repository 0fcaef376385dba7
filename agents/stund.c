/* natbed-stund: a STUN server (RFC 8489, RFC 5780, RFC 3489 clients) on a
 * libevent loop with batched socket I/O. Request logic: stund_serve.c. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "natbed/log.h"
#include "stund.h"
#include "stunaddr.h"

#define STUND_DEFAULT_PORT 3478
#define STUND_BATCH	   32
#define STUND_SOCKBUF	   (4 * 1024 * 1024)

struct stund_sock {
	int fd;
	struct event *ev;
	struct stund *d;
	int index;
};

/* One batch of replies waiting to leave through one socket. */
struct stund_outq {
	int n;
	struct mmsghdr msg[STUND_BATCH];
	struct iovec iov[STUND_BATCH];
	struct stund_reply reply[STUND_BATCH];
	uint8_t buf[STUND_BATCH][STUND_MAX_DGRAM];
};

struct stund {
	struct stund_config cfg;
	struct stund_counters counters;
	const char *stats_path;
	struct event_base *base;
	struct event *sig_term, *sig_int, *sig_usr1;
	int nsocks;
	struct stund_sock socks[STUND_SOCKETS];
	/* receive batch */
	struct mmsghdr in_msg[STUND_BATCH];
	struct iovec in_iov[STUND_BATCH];
	struct sockaddr_storage in_from[STUND_BATCH];
	uint8_t in_buf[STUND_BATCH][STUND_MAX_DGRAM + 1];
	struct stund_outq out[STUND_SOCKETS];
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: natbed-stund --primary IP[:PORT] [--alternate IP[:PORT]]\n"
		"                    [--software S] [--stats FILE] [--verbose]\n"
		"\n"
		"A STUN server: RFC 8489 Binding, RFC 5780 NAT behaviour discovery and\n"
		"RFC 3489 (classic, no magic cookie) clients.\n"
		"\n"
		"  --primary IP[:PORT]    primary address and port (default port %d)\n"
		"  --alternate IP[:PORT]  alternate address; serves RFC 5780 from four sockets\n"
		"                         (both addresses x both ports); the alternate port\n"
		"                         defaults to the primary port + 1\n"
		"  --software S           put SOFTWARE S in every answer (default: none)\n"
		"  --stats FILE           write counters as JSON to FILE on SIGTERM/SIGINT\n"
		"                         (exit) and on SIGUSR1 (keep running)\n"
		"  --verbose              log every dropped datagram\n"
		"  --help                 this text\n",
		STUND_DEFAULT_PORT);
}

static json_t *stats_json(const struct stund_counters *c)
{
	json_t *drops = json_object(), *root;
	uint64_t total = 0;

	for (int i = 1; i < STUND_DROP_COUNT; i++) {
		json_object_set_new(drops, stund_drop_name((enum stund_drop)i),
				    json_integer((json_int_t)c->drops[i]));
		total += c->drops[i];
	}
	json_object_set_new(drops, "total", json_integer((json_int_t)total));
	root = json_pack("{s:I, s:I, s:I, s:{s:I, s:I}, s:{s:I, s:I}}", "datagrams",
			 (json_int_t)c->datagrams, "requests", (json_int_t)c->requests,
			 "requests_classic", (json_int_t)c->requests_classic, "responses",
			 "success", (json_int_t)c->success, "error", (json_int_t)c->error, "errors",
			 "400", (json_int_t)c->error_400, "420", (json_int_t)c->error_420);
	json_object_set_new(root, "drops", drops);
	return root;
}

/* Writes the counters to d->stats_path through a temporary file, so a
 * reader never sees half a file. */
static int stats_write(const struct stund *d)
{
	char tmp[4096];
	json_t *j;
	int ret;

	if (!d->stats_path)
		return 0;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", d->stats_path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	j = stats_json(&d->counters);
	ret = json_dump_file(j, tmp, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	if (ret < 0 || rename(tmp, d->stats_path) < 0) {
		log_err("stats %s: cannot write", d->stats_path);
		return -EIO;
	}
	return 0;
}

static void outq_flush(struct stund *d, int s)
{
	struct stund_outq *q = &d->out[s];
	int sent = 0;

	while (sent < q->n) {
		int r = sendmmsg(d->socks[s].fd, q->msg + sent, (unsigned)(q->n - sent), 0);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			/* the first message of the rest failed: count it, go on */
			stund_count_sent(&d->counters, &q->reply[sent], 0);
			sent++;
			continue;
		}
		for (int i = 0; i < r; i++)
			stund_count_sent(&d->counters, &q->reply[sent + i], 1);
		sent += r;
	}
	q->n = 0;
}

static void outq_push(struct stund *d, struct stund_outq *q)
{
	int i = q->n++;

	q->iov[i].iov_base = q->buf[i];
	q->iov[i].iov_len = q->reply[i].len;
	memset(&q->msg[i], 0, sizeof(q->msg[i]));
	q->msg[i].msg_hdr.msg_name = &q->reply[i].to;
	q->msg[i].msg_hdr.msg_namelen = stunaddr_len(&q->reply[i].to);
	q->msg[i].msg_hdr.msg_iov = &q->iov[i];
	q->msg[i].msg_hdr.msg_iovlen = 1;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct stund_sock *sk = arg;
	struct stund *d = sk->d;
	int n;

	for (int i = 0; i < STUND_BATCH; i++) {
		d->in_iov[i].iov_base = d->in_buf[i];
		d->in_iov[i].iov_len = sizeof(d->in_buf[i]);
		memset(&d->in_msg[i], 0, sizeof(d->in_msg[i]));
		d->in_msg[i].msg_hdr.msg_name = &d->in_from[i];
		d->in_msg[i].msg_hdr.msg_namelen = sizeof(d->in_from[i]);
		d->in_msg[i].msg_hdr.msg_iov = &d->in_iov[i];
		d->in_msg[i].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(fd, d->in_msg, STUND_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("socket %d: recvmmsg: %s", sk->index, strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		size_t len = d->in_msg[i].msg_len;
		struct stund_outq *q;
		struct stund_reply r;
		int slot;

		/* the buffer is one byte longer than the largest datagram kept */
		if (len > STUND_MAX_DGRAM || (d->in_msg[i].msg_hdr.msg_flags & MSG_TRUNC)) {
			log_debug("drop: oversize datagram of %zu bytes", len);
			d->counters.datagrams++;
			stund_count_drop(&d->counters, STUND_DROP_OVERSIZE);
			continue;
		}
		/* build into the next slot of the receiving socket's queue; a
		 * reply that leaves from another socket is copied to its queue */
		for (int s = 0; s < d->nsocks; s++)
			if (d->out[s].n == STUND_BATCH)
				outq_flush(d, s);
		slot = d->out[sk->index].n;
		if (!stund_handle(&d->cfg, &d->counters, sk->index, d->in_buf[i], len,
				  &d->in_from[i], d->out[sk->index].buf[slot], STUND_MAX_DGRAM,
				  &r)) {
			char as[STUNADDR_STRLEN];

			log_debug("drop from %s: %s", stunaddr_str(&d->in_from[i], as, sizeof(as)),
				  stund_drop_name(r.drop));
			continue;
		}
		q = &d->out[r.sock];
		if (r.sock != sk->index)
			memcpy(q->buf[q->n], d->out[sk->index].buf[slot], r.len);
		q->reply[q->n] = r;
		outq_push(d, q);
	}
	for (int s = 0; s < d->nsocks; s++)
		if (d->out[s].n)
			outq_flush(d, s);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct stund *d = arg;

	if (sig == SIGUSR1) {
		stats_write(d);
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopbreak(d->base);
}

static int sock_open(struct stund *d, int i)
{
	const struct sockaddr_storage *a = &d->cfg.addr[i];
	char as[STUNADDR_STRLEN];
	int fd, one = 1, size = STUND_SOCKBUF;

	fd = socket(a->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("socket %s: %s", stunaddr_str(a, as, sizeof(as)), strerror(errno));
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (bind(fd, (const struct sockaddr *)a, stunaddr_len(a)) < 0) {
		int e = errno;

		log_err("bind %s: %s", stunaddr_str(a, as, sizeof(as)), strerror(e));
		close(fd);
		return -e;
	}
	d->socks[i] = (struct stund_sock){.fd = fd, .d = d, .index = i};
	d->socks[i].ev = event_new(d->base, fd, EV_READ | EV_PERSIST, on_readable, &d->socks[i]);
	if (!d->socks[i].ev || event_add(d->socks[i].ev, NULL) < 0)
		return -ENOMEM;
	log_info("listening on %s", stunaddr_str(a, as, sizeof(as)));
	return 0;
}

/* --alternate: RFC 5780 §4.1 addresses A1:P1 A1:P2 A2:P1 A2:P2. */
static int config_addresses(struct stund_config *cfg, const char *primary, const char *alternate)
{
	struct sockaddr_storage p, a;
	uint16_t pport, aport;

	if (stunaddr_parse(primary, STUND_DEFAULT_PORT, &p) < 0) {
		log_err("--primary %s: not IP[:PORT]", primary);
		return -EINVAL;
	}
	cfg->addr[0] = p;
	if (!alternate)
		return 0;
	pport = stunaddr_port(&p);
	if (stunaddr_parse(alternate, pport == 65535 ? 0 : (uint16_t)(pport + 1), &a) < 0 ||
	    stunaddr_port(&a) == 0) {
		log_err("--alternate %s: not IP[:PORT]", alternate);
		return -EINVAL;
	}
	aport = stunaddr_port(&a);
	if (a.ss_family != p.ss_family || aport == pport) {
		log_err("--alternate %s: needs the primary's family and another port", alternate);
		return -EINVAL;
	}
	cfg->has_alternate = 1;
	cfg->addr[STUND_ALT_PORT_BIT] = p;
	stunaddr_set_port(&cfg->addr[STUND_ALT_PORT_BIT], aport);
	cfg->addr[STUND_ALT_IP_BIT] = a;
	stunaddr_set_port(&cfg->addr[STUND_ALT_IP_BIT], pport);
	cfg->addr[STUND_ALT_IP_BIT | STUND_ALT_PORT_BIT] = a;
	if (stunaddr_equal(&cfg->addr[0], &cfg->addr[STUND_ALT_IP_BIT])) {
		log_err("--alternate %s: the same address as --primary", alternate);
		return -EINVAL;
	}
	return 0;
}

static void stund_free(struct stund *d)
{
	if (!d)
		return;
	for (int i = d->nsocks - 1; i >= 0; i--) {
		if (d->socks[i].ev)
			event_free(d->socks[i].ev);
		close(d->socks[i].fd);
	}
	if (d->sig_usr1)
		event_free(d->sig_usr1);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->base)
		event_base_free(d->base);
	free(d);
}

static int stund_start(struct stund *d)
{
	d->base = event_base_new();
	if (!d->base)
		return -ENOMEM;
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_usr1 = evsignal_new(d->base, SIGUSR1, on_signal, d);
	if (!d->sig_term || !d->sig_int || !d->sig_usr1 || evsignal_add(d->sig_term, NULL) < 0 ||
	    evsignal_add(d->sig_int, NULL) < 0 || evsignal_add(d->sig_usr1, NULL) < 0)
		return -ENOMEM;
	for (int i = 0; i < (d->cfg.has_alternate ? STUND_SOCKETS : 1); i++) {
		int r = sock_open(d, i);

		if (r < 0)
			return r;
		d->nsocks = i + 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"primary", required_argument, NULL, 'p'},
	    {"alternate", required_argument, NULL, 'a'},
	    {"software", required_argument, NULL, 's'},
	    {"stats", required_argument, NULL, 'S'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *primary = NULL, *alternate = NULL;
	enum log_level lvl = LOG_LVL_INFO;
	struct stund *d;
	int c, ret = 1;

	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	for (int i = 0; i < STUND_SOCKETS; i++)
		d->socks[i].fd = -1;
	while ((c = getopt_long(argc, argv, "p:a:s:S:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			primary = optarg;
			break;
		case 'a':
			alternate = optarg;
			break;
		case 's':
			d->cfg.software = optarg;
			break;
		case 'S':
			d->stats_path = optarg;
			break;
		case 'v':
			lvl = LOG_LVL_DEBUG;
			break;
		case 'h':
			usage(stdout);
			free(d);
			return 0;
		default:
			usage(stderr);
			free(d);
			return 2;
		}
	}
	log_init("natbed-stund", lvl);
	if (!primary || optind != argc) {
		usage(stderr);
		free(d);
		return 2;
	}
	if (d->cfg.software && strlen(d->cfg.software) >= 763) {
		log_err("--software: longer than RFC 8489's 763 bytes");
		goto cleanup;
	}
	if (config_addresses(&d->cfg, primary, alternate) < 0 || stund_start(d) < 0)
		goto cleanup;
	event_base_dispatch(d->base);
	ret = stats_write(d) < 0 ? 1 : 0;
cleanup:
	stund_free(d);
	return ret;
}
