/* natbed-udpblast: UDP load and round-trip times between two hosts, for
 * bench/forward.sh. It sends only to the address given with --to.
 *
 *   send --to IP:PORT [--size B] [--duration S] [--flows N] [--rate PPS] [--batch K]
 *       sendmmsg batches of K over N sockets (N source ports, one flow
 *       each) for S seconds; prints `sent N pps X errors E`.
 *   recv --port PORT [--duration S] [--idle MS]
 *       recvmmsg until S seconds pass or traffic stops for MS; prints
 *       `received N pps X window T drops D`: X over the window from the
 *       first to the last datagram, D the socket's own overflow drops.
 *   pingpong --to IP:PORT [--count N] [--size B] [--timeout MS] [--duration S]
 *       one datagram at a time, each waiting for its echo; prints
 *       `pingpong sent N replies M rtt_us min A p50 B p99 C max D`.
 *   echo --port PORT [--duration S]
 *       sends every datagram back to where it came from; prints `echoed N`.
 *   relay --port PORT --to IP:PORT [--duration S]
 *       the least a userspace forwarder can do: a datagram on PORT goes
 *       to --to from a second socket, one from --to goes back to the last
 *       sender on PORT; one recv and one send a datagram. Prints
 *       `relayed N`. Bench scripts run it where a router would be, to
 *       measure the floor of any forwarding process on the machine.
 *
 * --size is an Ethernet frame in the RFC 2544 sense (14 bytes of header,
 * IPv4, UDP, payload, 4 bytes of FCS): 64 means 18 bytes of UDP payload.
 * Every run is bounded by its duration (and pingpong by its count).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "natbed/clock.h"

#define BLAST_MAGIC	     0x4e425542u /* "NBUB" */
#define BLAST_ETH_OVERHEAD   46		 /* Ethernet 14 + FCS 4 + IPv4 20 + UDP 8 */
#define BLAST_SIZE_MIN	     64		 /* RFC 2544 frame sizes */
#define BLAST_SIZE_MAX	     1518
#define BLAST_PAYLOAD_MAX    (BLAST_SIZE_MAX - BLAST_ETH_OVERHEAD)
#define BLAST_SEND_MAX_S     60	 /* send and pingpong */
#define BLAST_LISTEN_MAX_S   120 /* recv and echo: they outlast a sender */
#define BLAST_FLOWS_MAX	     1024
#define BLAST_BATCH_MAX	     1024
#define BLAST_COUNT_MAX	     1000000
#define BLAST_RATE_MAX	     100000000.0
#define BLAST_TIMEOUT_MAX_MS 10000
#define BLAST_RCVBUF	     (8 * 1024 * 1024)
#define BLAST_POLL_MS	     50
#define BLAST_SNDTIMEO_MS    100

/* The head of every payload; the rest is zero. */
struct blast_hdr {
	uint32_t magic;
	uint32_t seq;
	int64_t t_ns; /* sender's CLOCK_MONOTONIC, pingpong only */
};

struct blast_opts {
	struct sockaddr_in to;
	bool have_to;
	int port;
	int size;
	double duration_s;
	int flows;
	double rate;
	int batch;
	int count;
	int timeout_ms;
	int idle_ms;
};

struct blast_cmd {
	const char *name;
	int (*fn)(const struct blast_opts *o);
	const char *help;
};

static natbed_time_t blast_now(void)
{
	return clock_now(&clock_monotonic);
}

static size_t blast_payload_len(const struct blast_opts *o)
{
	return (size_t)(o->size - BLAST_ETH_OVERHEAD);
}

/* Sleeps ns (a short pause for pacing), restarting when interrupted. */
static void blast_sleep_ns(natbed_time_t ns)
{
	struct timespec ts = {(time_t)(ns / NATBED_NS_PER_S), (long)(ns % NATBED_NS_PER_S)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int blast_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		fprintf(stderr, "natbed-udpblast: socket: %s\n", strerror(errno));
	return fd;
}

/* A UDP socket bound to 0.0.0.0:port with a large receive buffer and the
 * overflow counter (SO_RXQ_OVFL) on. */
static int blast_listen(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = blast_socket(), sz = BLAST_RCVBUF, one = 1;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		fprintf(stderr, "natbed-udpblast: bind port %d: %s\n", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* A UDP socket on an ephemeral source port, connected to o->to. */
static int blast_connect(const struct blast_opts *o)
{
	struct timeval tv = {0, BLAST_SNDTIMEO_MS * 1000};
	int fd = blast_socket();

	if (fd < 0)
		return -1;
	/* A full send buffer must not hold a bounded run past its end. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&o->to, sizeof(o->to)) < 0) {
		fprintf(stderr, "natbed-udpblast: connect: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Errors a sender counts and goes on after: a full queue, an ICMP error
 * from before the receiver was up, a signal. */
static bool blast_transient(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == ECONNREFUSED ||
	       err == EHOSTUNREACH || err == ENETUNREACH || err == EINTR;
}

/* --- send ---------------------------------------------------------------- */

/* How many of the next batch of o->batch may go at now: all of them when
 * unpaced, else those due by o->rate since t0 (0: sleep a little). */
static int send_due(const struct blast_opts *o, natbed_time_t t0, natbed_time_t now, uint64_t sent)
{
	double due;

	if (o->rate <= 0)
		return o->batch;
	due = o->rate * (double)(now - t0) / (double)NATBED_NS_PER_S - (double)sent;
	if (due < 1) {
		natbed_time_t next =
		    t0 + (natbed_time_t)((double)(sent + 1) * NATBED_NS_PER_S / o->rate);

		if (next > now)
			blast_sleep_ns(next - now);
		return 0;
	}
	return due < o->batch ? (int)due : o->batch;
}

static int cmd_send(const struct blast_opts *o)
{
	static uint8_t payload[BLAST_PAYLOAD_MAX];
	static struct mmsghdr mm[BLAST_BATCH_MAX];
	static struct iovec iov;
	static int fds[BLAST_FLOWS_MAX];
	struct blast_hdr h = {.magic = BLAST_MAGIC};
	natbed_time_t t0, now, end;
	uint64_t sent = 0, errors = 0;
	int f, n_fds = 0, k, want, rc = 1;

	memcpy(payload, &h, sizeof(h));
	iov.iov_base = payload;
	iov.iov_len = blast_payload_len(o);
	for (k = 0; k < o->batch; k++) {
		mm[k].msg_hdr.msg_iov = &iov;
		mm[k].msg_hdr.msg_iovlen = 1;
	}
	for (n_fds = 0; n_fds < o->flows; n_fds++)
		if ((fds[n_fds] = blast_connect(o)) < 0)
			goto cleanup;
	t0 = now = blast_now();
	end = t0 + (natbed_time_t)(o->duration_s * (double)NATBED_NS_PER_S);
	for (f = 0; now < end; f = (f + 1) % n_fds, now = blast_now()) {
		want = send_due(o, t0, now, sent);
		if (want == 0)
			continue;
		k = sendmmsg(fds[f], mm, (unsigned int)want, 0);
		if (k >= 0) {
			sent += (uint64_t)k;
		} else if (blast_transient(errno)) {
			errors++;
		} else {
			fprintf(stderr, "natbed-udpblast: sendmmsg: %s\n", strerror(errno));
			goto cleanup;
		}
	}
	printf("sent %llu pps %.0f errors %llu\n", (unsigned long long)sent,
	       (double)sent * NATBED_NS_PER_S / (double)(now - t0), (unsigned long long)errors);
	rc = 0;
cleanup:
	while (n_fds > 0)
		close(fds[--n_fds]);
	return rc;
}

/* --- recv ---------------------------------------------------------------- */

/* The socket's overflow count carried by mh (SO_RXQ_OVFL), or -1. */
static int64_t recv_ovfl(struct msghdr *mh)
{
	struct cmsghdr *cm;
	uint32_t v;

	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(v))) {
			memcpy(&v, CMSG_DATA(cm), sizeof(v));
			return v;
		}
	}
	return -1;
}

struct recv_state {
	uint64_t count;
	uint64_t first_batch; /* datagrams in the batch that opened the window */
	natbed_time_t t_first, t_last;
	int64_t drops;
};

/* Takes what the socket holds (up to a few batches) into st; -1 on error. */
static int recv_drain(int fd, struct recv_state *st)
{
	static uint8_t bufs[BLAST_BATCH_MAX][64];
	static char ctl[BLAST_BATCH_MAX][CMSG_SPACE(sizeof(uint32_t))];
	static struct mmsghdr mm[BLAST_BATCH_MAX];
	static struct iovec iov[BLAST_BATCH_MAX];
	const int batch = 256;
	struct blast_hdr h;
	int i, k, round, ours;
	int64_t d;

	for (round = 0; round < 64; round++) {
		for (i = 0; i < batch; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			memset(&mm[i], 0, sizeof(mm[i]));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_control = ctl[i];
			mm[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
		}
		k = recvmmsg(fd, mm, (unsigned int)batch, MSG_DONTWAIT, NULL);
		if (k < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			fprintf(stderr, "natbed-udpblast: recvmmsg: %s\n", strerror(errno));
			return -1;
		}
		for (i = 0, ours = 0; i < k; i++) {
			if (mm[i].msg_len < sizeof(h))
				continue;
			memcpy(&h, bufs[i], sizeof(h));
			ours += h.magic == BLAST_MAGIC;
			if ((d = recv_ovfl(&mm[i].msg_hdr)) >= 0)
				st->drops = d;
		}
		if (ours) {
			st->t_last = blast_now();
			if (st->count == 0) {
				st->t_first = st->t_last;
				st->first_batch = (uint64_t)ours;
			}
			st->count += (uint64_t)ours;
		}
		if (k < batch)
			return 0;
	}
	return 0;
}

static int cmd_recv(const struct blast_opts *o)
{
	struct recv_state st = {0};
	natbed_time_t end, now, idle = (natbed_time_t)o->idle_ms * NATBED_NS_PER_MS;
	struct pollfd pfd;
	double window, pps = 0;
	int fd = blast_listen(o->port), rc = 1;

	if (fd < 0)
		return 1;
	pfd.fd = fd;
	pfd.events = POLLIN;
	end = blast_now() + (natbed_time_t)(o->duration_s * (double)NATBED_NS_PER_S);
	for (now = blast_now(); now < end; now = blast_now()) {
		if (st.count && now - st.t_last > idle)
			break;
		if (poll(&pfd, 1, BLAST_POLL_MS) < 0 && errno != EINTR) {
			fprintf(stderr, "natbed-udpblast: poll: %s\n", strerror(errno));
			goto cleanup;
		}
		if (recv_drain(fd, &st) < 0)
			goto cleanup;
	}
	window = (double)(st.t_last - st.t_first) / (double)NATBED_NS_PER_S;
	/* The opening batch marks the start of the window, not traffic in it. */
	if (window > 0)
		pps = (double)(st.count - st.first_batch) / window;
	printf("received %llu pps %.0f window %.3f drops %lld\n", (unsigned long long)st.count, pps,
	       window, (long long)(st.drops > 0 ? st.drops : 0));
	rc = 0;
cleanup:
	close(fd);
	return rc;
}

/* --- pingpong and echo ----------------------------------------------------- */

static int cmp_time(const void *a, const void *b)
{
	natbed_time_t x = *(const natbed_time_t *)a, y = *(const natbed_time_t *)b;

	return (x > y) - (x < y);
}

/* Waits for the echo of seq until deadline; its RTT in ns, or -1. */
static natbed_time_t pong_wait(int fd, uint32_t seq, natbed_time_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct blast_hdr h;
	uint8_t buf[BLAST_PAYLOAD_MAX];
	natbed_time_t now;
	ssize_t n;

	for (now = blast_now(); now < deadline; now = blast_now()) {
		int ms = (int)((deadline - now + NATBED_NS_PER_MS - 1) / NATBED_NS_PER_MS);

		if (poll(&pfd, 1, ms) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < (ssize_t)sizeof(h))
			continue; /* an ICMP error, or not ours */
		memcpy(&h, buf, sizeof(h));
		if (h.magic == BLAST_MAGIC && h.seq == seq)
			return blast_now() - h.t_ns;
	}
	return -1;
}

static void pong_report(natbed_time_t *rtt, int n, int sent)
{
	if (n == 0) {
		printf("pingpong sent %d replies 0\n", sent);
		return;
	}
	qsort(rtt, (size_t)n, sizeof(rtt[0]), cmp_time);
	printf("pingpong sent %d replies %d rtt_us min %.1f p50 %.1f p99 %.1f max %.1f\n", sent, n,
	       (double)rtt[0] / NATBED_NS_PER_US, (double)rtt[(n - 1) / 2] / NATBED_NS_PER_US,
	       (double)rtt[(int)((double)(n - 1) * 0.99)] / NATBED_NS_PER_US,
	       (double)rtt[n - 1] / NATBED_NS_PER_US);
}

static int cmd_pingpong(const struct blast_opts *o)
{
	uint8_t payload[BLAST_PAYLOAD_MAX] = {0};
	struct blast_hdr h = {.magic = BLAST_MAGIC};
	natbed_time_t *rtt, end, now, r;
	int fd, sent = 0, n = 0;

	rtt = calloc((size_t)o->count, sizeof(*rtt));
	if (!rtt || (fd = blast_connect(o)) < 0) {
		free(rtt);
		return 1;
	}
	end = blast_now() + (natbed_time_t)(o->duration_s * (double)NATBED_NS_PER_S);
	for (now = blast_now(); sent < o->count && now < end; now = blast_now()) {
		h.seq = (uint32_t)sent;
		h.t_ns = now;
		memcpy(payload, &h, sizeof(h));
		sent++;
		if (send(fd, payload, blast_payload_len(o), 0) < 0) {
			if (!blast_transient(errno)) {
				fprintf(stderr, "natbed-udpblast: send: %s\n", strerror(errno));
				break;
			}
			continue;
		}
		r = pong_wait(fd, h.seq, now + (natbed_time_t)o->timeout_ms * NATBED_NS_PER_MS);
		if (r >= 0)
			rtt[n++] = r;
	}
	pong_report(rtt, n, sent);
	free(rtt);
	close(fd);
	return n > 0 ? 0 : 1;
}

static int cmd_echo(const struct blast_opts *o)
{
	static uint8_t bufs[BLAST_BATCH_MAX][BLAST_PAYLOAD_MAX];
	static struct sockaddr_in from[BLAST_BATCH_MAX];
	static struct mmsghdr mm[BLAST_BATCH_MAX];
	static struct iovec iov[BLAST_BATCH_MAX];
	struct pollfd pfd;
	natbed_time_t end;
	uint64_t echoed = 0;
	int fd = blast_listen(o->port), i, k;

	if (fd < 0)
		return 1;
	pfd.fd = fd;
	pfd.events = POLLIN;
	end = blast_now() + (natbed_time_t)(o->duration_s * (double)NATBED_NS_PER_S);
	while (blast_now() < end) {
		if (poll(&pfd, 1, BLAST_POLL_MS) <= 0)
			continue;
		for (i = 0; i < o->batch; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			memset(&mm[i], 0, sizeof(mm[i]));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_name = &from[i];
			mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		k = recvmmsg(fd, mm, (unsigned int)o->batch, MSG_DONTWAIT, NULL);
		if (k <= 0)
			continue;
		/* Back to each sender: the same buffers, their length as received. */
		for (i = 0; i < k; i++)
			iov[i].iov_len = mm[i].msg_len;
		k = sendmmsg(fd, mm, (unsigned int)k, MSG_DONTWAIT);
		if (k > 0)
			echoed += (uint64_t)k;
	}
	printf("echoed %llu\n", (unsigned long long)echoed);
	close(fd);
	return 0;
}

/* Receives one datagram from fd and sends it on out (to `to` when set,
 * else out's connected peer); from gets the sender when not NULL. 1 when
 * one was relayed, 0 otherwise. */
static int relay_one(int fd, int out, const struct sockaddr_in *to, struct sockaddr_in *from)
{
	uint8_t buf[BLAST_PAYLOAD_MAX];
	socklen_t fl = sizeof(*from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)from,
			     from ? &fl : NULL);

	if (n < 0)
		return 0;
	if (to)
		n = sendto(out, buf, (size_t)n, MSG_DONTWAIT, (const struct sockaddr *)to,
			   sizeof(*to));
	else
		n = send(out, buf, (size_t)n, MSG_DONTWAIT);
	return n >= 0;
}

static int cmd_relay(const struct blast_opts *o)
{
	struct sockaddr_in client = {0};
	struct pollfd pfd[2];
	natbed_time_t end;
	uint64_t relayed = 0;
	bool have_client = false;

	pfd[0].fd = blast_listen(o->port);
	pfd[1].fd = pfd[0].fd < 0 ? -1 : blast_connect(o);
	if (pfd[1].fd < 0) {
		if (pfd[0].fd >= 0)
			close(pfd[0].fd);
		return 1;
	}
	pfd[0].events = pfd[1].events = POLLIN;
	end = blast_now() + (natbed_time_t)(o->duration_s * (double)NATBED_NS_PER_S);
	while (blast_now() < end) {
		if (poll(pfd, 2, BLAST_POLL_MS) <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			struct sockaddr_in from;
			int k = relay_one(pfd[0].fd, pfd[1].fd, NULL, &from);

			if (k) {
				client = from;
				have_client = true;
			}
			relayed += (uint64_t)k;
		}
		if ((pfd[1].revents & POLLIN) && have_client)
			relayed += (uint64_t)relay_one(pfd[1].fd, pfd[0].fd, &client, NULL);
		else if (pfd[1].revents & POLLIN) /* nobody to send it to: dropped */
			(void)recv(pfd[1].fd, NULL, 0, MSG_DONTWAIT | MSG_TRUNC);
	}
	printf("relayed %llu\n", (unsigned long long)relayed);
	close(pfd[0].fd);
	close(pfd[1].fd);
	return 0;
}

/* --- options and dispatch -------------------------------------------------- */

static const struct blast_cmd blast_cmds[] = {
    {"send", cmd_send, "--to IP:PORT [--size B] [--duration S] [--flows N] [--rate PPS]"},
    {"recv", cmd_recv, "--port PORT [--duration S] [--idle MS]"},
    {"pingpong", cmd_pingpong, "--to IP:PORT [--count N] [--size B] [--timeout MS] [--duration S]"},
    {"echo", cmd_echo, "--port PORT [--duration S]"},
    {"relay", cmd_relay, "--port PORT --to IP:PORT [--duration S]"},
};

#define BLAST_N_CMDS (sizeof(blast_cmds) / sizeof(blast_cmds[0]))

static void blast_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage:\n");
	for (i = 0; i < BLAST_N_CMDS; i++)
		fprintf(f, "  natbed-udpblast %s %s\n", blast_cmds[i].name, blast_cmds[i].help);
	fprintf(f,
		"\n"
		"  --size B       Ethernet frame bytes with FCS, %d-%d (default 64: 18 bytes of\n"
		"                 UDP payload)\n"
		"  --duration S   seconds: send, pingpong up to %d (default 5, pingpong 30);\n"
		"                 recv, echo up to %d (default 10)\n"
		"  --flows N      send: N sockets, one source port each, 1-%d (default 1)\n"
		"  --rate PPS     send: packets/s over all flows (default 0: as fast as it can)\n"
		"  --batch K      datagrams per sendmmsg/recvmmsg, 1-%d (default 64)\n"
		"  --idle MS      recv: stop MS after the last datagram (default 1000)\n"
		"  --count N      pingpong: round trips, 1-%d (default 1000)\n"
		"  --timeout MS   pingpong: wait for each echo (default 1000)\n",
		BLAST_SIZE_MIN, BLAST_SIZE_MAX, BLAST_SEND_MAX_S, BLAST_LISTEN_MAX_S,
		BLAST_FLOWS_MAX, BLAST_BATCH_MAX, BLAST_COUNT_MAX);
}

/* "IP:PORT" (IPv4) into sin; -1 when it is not one. */
static int blast_parse_to(const char *s, struct sockaddr_in *sin)
{
	char ip[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	char *endp;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(ip))
		return -1;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	port = strtol(colon + 1, &endp, 10);
	if (*endp || port < 1 || port > 65535)
		return -1;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &sin->sin_addr) == 1 ? 0 : -1;
}

/* A number in [lo, hi] from s, or complains naming the option. */
static int blast_num(const char *opt, const char *s, double lo, double hi, double *v)
{
	char *endp;

	errno = 0;
	*v = strtod(s, &endp);
	if (errno || endp == s || *endp || *v < lo || *v > hi) {
		fprintf(stderr, "natbed-udpblast: --%s: '%s' is not a number in %g..%g\n", opt, s,
			lo, hi);
		return -1;
	}
	return 0;
}

/* The options that take an integer, each with its range and its field. */
struct blast_int_opt {
	int c;
	const char *name;
	double lo, hi;
	size_t off; /* of an int in struct blast_opts */
};

static const struct blast_int_opt blast_int_opts[] = {
    {'p', "port", 1, 65535, offsetof(struct blast_opts, port)},
    {'s', "size", BLAST_SIZE_MIN, BLAST_SIZE_MAX, offsetof(struct blast_opts, size)},
    {'f', "flows", 1, BLAST_FLOWS_MAX, offsetof(struct blast_opts, flows)},
    {'b', "batch", 1, BLAST_BATCH_MAX, offsetof(struct blast_opts, batch)},
    {'c', "count", 1, BLAST_COUNT_MAX, offsetof(struct blast_opts, count)},
    {'w', "timeout", 1, BLAST_TIMEOUT_MAX_MS, offsetof(struct blast_opts, timeout_ms)},
    {'i', "idle", 1, BLAST_TIMEOUT_MAX_MS, offsetof(struct blast_opts, idle_ms)},
};

#define BLAST_N_INT_OPTS (sizeof(blast_int_opts) / sizeof(blast_int_opts[0]))

/* Option c with argument arg into o; -1 if c is not an integer option or
 * arg is out of its range. */
static int blast_set_int(struct blast_opts *o, int c, const char *arg)
{
	double v;
	size_t i;

	for (i = 0; i < BLAST_N_INT_OPTS; i++) {
		const struct blast_int_opt *io = &blast_int_opts[i];

		if (io->c != c)
			continue;
		if (blast_num(io->name, arg, io->lo, io->hi, &v) < 0)
			return -1;
		*(int *)((char *)o + io->off) = (int)v;
		return 0;
	}
	return -1;
}

static int blast_parse(int argc, char **argv, const struct blast_cmd *cmd, struct blast_opts *o)
{
	static const struct option lopts[] = {
	    {"to", required_argument, NULL, 't'},      {"port", required_argument, NULL, 'p'},
	    {"size", required_argument, NULL, 's'},    {"duration", required_argument, NULL, 'd'},
	    {"flows", required_argument, NULL, 'f'},   {"rate", required_argument, NULL, 'r'},
	    {"batch", required_argument, NULL, 'b'},   {"count", required_argument, NULL, 'c'},
	    {"timeout", required_argument, NULL, 'w'}, {"idle", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0},
	};
	bool sender = cmd->fn == cmd_send || cmd->fn == cmd_pingpong;
	bool needs_to = sender || cmd->fn == cmd_relay, needs_port = !sender;
	double dmax = sender ? BLAST_SEND_MAX_S : BLAST_LISTEN_MAX_S;
	int c, bad = 0;

	*o = (struct blast_opts){.size = BLAST_SIZE_MIN,
				 .flows = 1,
				 .batch = 64,
				 .count = 1000,
				 .timeout_ms = 1000,
				 .idle_ms = 1000,
				 .port = -1};
	o->duration_s = cmd->fn == cmd_pingpong ? 30 : sender ? 5 : 10;
	while ((c = getopt_long(argc, argv, "t:p:s:d:f:r:b:c:w:i:h", lopts, NULL)) != -1) {
		switch (c) {
		case 't':
			o->have_to = blast_parse_to(optarg, &o->to) == 0;
			if (!o->have_to) {
				fprintf(stderr, "natbed-udpblast: --to: '%s' is not IPv4:PORT\n",
					optarg);
				bad = 1;
			}
			break;
		case 'd':
			bad |= blast_num("duration", optarg, 0.1, dmax, &o->duration_s) < 0;
			break;
		case 'r':
			bad |= blast_num("rate", optarg, 0, BLAST_RATE_MAX, &o->rate) < 0;
			break;
		case 'h':
			blast_usage(stdout);
			exit(0);
		case '?':
			bad = 1;
			break;
		default:
			bad |= blast_set_int(o, c, optarg) < 0;
			break;
		}
	}
	if (!bad && optind < argc) {
		fprintf(stderr, "natbed-udpblast: unexpected argument '%s'\n", argv[optind]);
		bad = 1;
	}
	if (!bad && needs_to && !o->have_to) {
		fprintf(stderr, "natbed-udpblast %s: --to IP:PORT is required\n", cmd->name);
		bad = 1;
	}
	if (!bad && needs_port && o->port < 0) {
		fprintf(stderr, "natbed-udpblast %s: --port PORT is required\n", cmd->name);
		bad = 1;
	}
	return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct blast_opts o;
	size_t i;

	if (argc < 2) {
		blast_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		blast_usage(stdout);
		return 0;
	}
	for (i = 0; i < BLAST_N_CMDS; i++) {
		if (strcmp(argv[1], blast_cmds[i].name) != 0)
			continue;
		if (blast_parse(argc - 1, argv + 1, &blast_cmds[i], &o) < 0)
			return 2;
		setvbuf(stdout, NULL, _IOLBF, 0);
		return blast_cmds[i].fn(&o);
	}
	fprintf(stderr, "natbed-udpblast: unknown command '%s' (see --help)\n", argv[1]);
	return 2;
}
