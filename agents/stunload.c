/* natbed-stunload: a STUN Binding load generator with a bounded duration
 * and a window of outstanding requests; reports responses/s and latency
 * percentiles. --garbage N instead sends N mutated and random datagrams
 * (a robustness test) and then checks the server still answers. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "natbed/clock.h"
#include "natbed/stun.h"
#include "stunaddr.h"

#define LOAD_MAX_DURATION_S 60
#define LOAD_MAX_WINDOW	    4096
#define LOAD_MAX_SOCKETS    16
#define LOAD_BATCH	    64
#define LOAD_TIMEOUT_NS	    (1 * NATBED_NS_PER_S) /* a request older is lost */
#define LOAD_HIST_US	    100000		  /* 1 us buckets up to 100 ms */
#define LOAD_MAX_GARBAGE    1000000
#define LOAD_DGRAM	    4608	/* room for a few oversize garbage datagrams */
#define LOAD_TAG	    0x6e626c64u /* "nbld" in the last txid bytes */

struct load_opts {
	struct sockaddr_storage server, source;
	int has_source;
	int duration_s, window, sockets;
	long garbage;
	uint64_t seed;
};

struct load_slot {
	uint32_t seq;
	int busy;
	natbed_time_t sent_ns;
};

struct load {
	const struct load_opts *o;
	int fd[LOAD_MAX_SOCKETS];
	struct load_slot *slots; /* window of them, slot i on socket i % sockets */
	uint32_t *hist;		 /* LOAD_HIST_US + 1 buckets */
	uint64_t sent, received, lost, stray;
	uint32_t seq;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: natbed-stunload --server IP:PORT [--duration S] [--window N]\n"
		"                       [--source IP] [--sockets K]\n"
		"       natbed-stunload --server IP:PORT --garbage N [--seed S] [--source IP]\n"
		"\n"
		"Load mode keeps N Binding requests outstanding for S seconds and prints\n"
		"responses/s and latency; its last line is\n"
		"  sent=.. responses=.. lost=.. seconds=.. rps=.. p50_us=.. p99_us=..\n"
		"\n"
		"  --server IP:PORT  the STUN server (default port 3478)\n"
		"  --duration S      seconds to run, 1..%d (default 5)\n"
		"  --window N        outstanding requests, 1..%d (default 64)\n"
		"  --sockets K       spread the window over K source ports, 1..%d (default 1)\n"
		"  --source IP       local address to send from\n"
		"  --garbage N       robustness mode: send N (<= %d) mutated and random\n"
		"                    datagrams, paced, then check that a Binding request is\n"
		"                    still answered (exit 0) or not (exit 1)\n"
		"  --seed S          seed of the garbage generator (default 1)\n"
		"  --help            this text\n",
		LOAD_MAX_DURATION_S, LOAD_MAX_WINDOW, LOAD_MAX_SOCKETS, LOAD_MAX_GARBAGE);
}

static natbed_time_t now_ns(void)
{
	return clock_now(&clock_monotonic);
}

static int open_socket(const struct load_opts *o)
{
	struct sockaddr_storage local;
	int fd = socket(o->server.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int size = 4 * 1024 * 1024;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (o->has_source) {
		local = o->source;
		stunaddr_set_port(&local, 0);
		if (bind(fd, (struct sockaddr *)&local, stunaddr_len(&local)) < 0)
			goto fail;
	}
	if (connect(fd, (const struct sockaddr *)&o->server, stunaddr_len(&o->server)) < 0)
		goto fail;
	return fd;
fail:
	size = -errno;
	close(fd);
	return size;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A Binding request whose txid names its slot and sequence number. */
static size_t make_request(uint8_t *buf, size_t cap, uint32_t slot, uint32_t seq)
{
	uint8_t txid[STUN_TXID_LEN];
	struct stun_builder b;

	wr32(txid, slot);
	wr32(txid + 4, seq);
	wr32(txid + 8, LOAD_TAG);
	stun_msg_build_init(&b, buf, cap, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, txid, false);
	return (size_t)stun_msg_build_finish(&b);
}

/* Sends batch[0..n) on socket s and marks the slots in flight. Returns the
 * number sent. */
static int send_batch(struct load *l, int s, struct mmsghdr *msg, const uint32_t *idx, int n)
{
	natbed_time_t t = now_ns();
	int r = sendmmsg(l->fd[s], msg, (unsigned)n, 0);

	for (int k = 0; k < r; k++) {
		l->slots[idx[k]].busy = 1;
		l->slots[idx[k]].sent_ns = t;
	}
	if (r > 0)
		l->sent += (uint64_t)r;
	return r;
}

/* Sends a request for every free slot of socket s, in batches. */
static void fill_window(struct load *l, int s)
{
	uint8_t buf[LOAD_BATCH][STUN_HEADER_LEN];
	struct mmsghdr msg[LOAD_BATCH];
	struct iovec iov[LOAD_BATCH];
	uint32_t idx[LOAD_BATCH];
	int n = 0;

	for (int i = s; i < l->o->window; i += l->o->sockets) {
		if (l->slots[i].busy)
			continue;
		l->slots[i].seq = ++l->seq;
		iov[n].iov_base = buf[n];
		iov[n].iov_len = make_request(buf[n], sizeof(buf[n]), (uint32_t)i, l->slots[i].seq);
		memset(&msg[n], 0, sizeof(msg[n]));
		msg[n].msg_hdr.msg_iov = &iov[n];
		msg[n].msg_hdr.msg_iovlen = 1;
		idx[n++] = (uint32_t)i;
		if (n == LOAD_BATCH) {
			if (send_batch(l, s, msg, idx, n) < n)
				return; /* socket full: the rest go next round */
			n = 0;
		}
	}
	if (n)
		send_batch(l, s, msg, idx, n);
}

static void on_response(struct load *l, const uint8_t *buf, size_t len, natbed_time_t t)
{
	struct stun_msg m;
	uint32_t slot, seq;
	int64_t us;

	if (stun_msg_parse(buf, len, 0, &m, NULL, 0) != STUN_PARSE_OK ||
	    m.cls != STUN_CLASS_SUCCESS || rd32(m.txid + 8) != LOAD_TAG) {
		l->stray++;
		return;
	}
	slot = rd32(m.txid);
	seq = rd32(m.txid + 4);
	if (slot >= (uint32_t)l->o->window || !l->slots[slot].busy || l->slots[slot].seq != seq) {
		l->stray++; /* late answer to a request already counted lost */
		return;
	}
	l->slots[slot].busy = 0;
	l->received++;
	us = (t - l->slots[slot].sent_ns) / NATBED_NS_PER_US;
	l->hist[us < LOAD_HIST_US ? us : LOAD_HIST_US]++;
}

static void drain(struct load *l, int s)
{
	static uint8_t bufs[LOAD_BATCH][256];
	struct mmsghdr msg[LOAD_BATCH];
	struct iovec iov[LOAD_BATCH];

	for (int round = 0; round < 16; round++) {
		natbed_time_t t;
		int n;

		for (int i = 0; i < LOAD_BATCH; i++) {
			iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
			memset(&msg[i], 0, sizeof(msg[i]));
			msg[i].msg_hdr.msg_iov = &iov[i];
			msg[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(l->fd[s], msg, LOAD_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		t = now_ns();
		for (int i = 0; i < n; i++)
			on_response(l, bufs[i], msg[i].msg_len, t);
		if (n < LOAD_BATCH)
			return;
	}
}

static void expire(struct load *l, natbed_time_t t)
{
	for (int i = 0; i < l->o->window; i++) {
		if (l->slots[i].busy && t - l->slots[i].sent_ns > LOAD_TIMEOUT_NS) {
			l->slots[i].busy = 0;
			l->lost++;
		}
	}
}

static uint64_t percentile_us(const struct load *l, double p)
{
	uint64_t want = (uint64_t)(p * (double)l->received), seen = 0;

	for (int i = 0; i <= LOAD_HIST_US; i++) {
		seen += l->hist[i];
		if (seen > want)
			return (uint64_t)i;
	}
	return LOAD_HIST_US;
}

static int run_load(struct load *l)
{
	const struct load_opts *o = l->o;
	natbed_time_t start = now_ns(), end = start + o->duration_s * NATBED_NS_PER_S;
	natbed_time_t next_expire = start + NATBED_NS_PER_S / 10, t = start;
	struct pollfd pfd[LOAD_MAX_SOCKETS];
	double secs;

	for (int s = 0; s < o->sockets; s++)
		pfd[s] = (struct pollfd){.fd = l->fd[s], .events = POLLIN};
	/* bounded by time; every pass either waits in poll or moves packets */
	while ((t = now_ns()) < end) {
		for (int s = 0; s < o->sockets; s++)
			fill_window(l, s);
		if (poll(pfd, (nfds_t)o->sockets, 10) < 0 && errno != EINTR)
			break;
		for (int s = 0; s < o->sockets; s++)
			if (pfd[s].revents & POLLIN)
				drain(l, s);
		if (t >= next_expire) {
			expire(l, t);
			next_expire = t + NATBED_NS_PER_S / 10;
		}
	}
	secs = (double)(t - start) / (double)NATBED_NS_PER_S;
	printf("sent=%llu responses=%llu lost=%llu stray=%llu seconds=%.3f rps=%.0f p50_us=%llu "
	       "p99_us=%llu\n",
	       (unsigned long long)l->sent, (unsigned long long)l->received,
	       (unsigned long long)l->lost, (unsigned long long)l->stray, secs,
	       (double)l->received / secs, (unsigned long long)percentile_us(l, 0.50),
	       (unsigned long long)percentile_us(l, 0.99));
	return l->received ? 0 : 1;
}

/* ---- garbage mode ---- */

/* xorshift64*: the garbage is the same for the same seed. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* One datagram: random bytes, a valid request mutated, or a valid header
 * over random attributes. Returns its length. */
static size_t make_garbage(uint64_t *rs, uint8_t *buf, size_t cap)
{
	uint64_t kind = rng_next(rs) % 8;
	struct stun_builder b;
	uint8_t txid[STUN_CLASSIC_TXID_LEN]; /* the classic form (kind 1) takes 16 */
	size_t len;

	for (size_t k = 0; k < sizeof(txid); k++)
		txid[k] = (uint8_t)rng_next(rs);
	if (kind == 0) { /* random bytes, now and then bigger than the server keeps */
		len = rng_next(rs) % 600;
		if (rng_next(rs) % 200 == 0)
			len = cap;
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rng_next(rs);
		return len;
	}
	stun_msg_build_init(&b, buf, cap, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, txid, kind == 1);
	for (uint64_t a = rng_next(rs) % 6; a > 0; a--) {
		uint8_t v[64];
		size_t vl = rng_next(rs) % sizeof(v);
		static const uint16_t types[] = {0x0001, 0x0003, 0x0006, 0x0008, 0x0009, 0x000A,
						 0x0014, 0x0020, 0x0026, 0x0027, 0x8022, 0x802B,
						 0x0031, 0x8028, 0x001C, 0xC001};
		uint16_t t = types[rng_next(rs) % (sizeof(types) / sizeof(types[0]))];

		for (size_t k = 0; k < vl; k++)
			v[k] = (uint8_t)rng_next(rs);
		if (t == 0x0003) /* often a well-formed CHANGE-REQUEST */
			vl = 4;
		stun_msg_build_raw(&b, t, v, vl);
	}
	if (kind == 2)
		stun_msg_build_fingerprint(&b);
	len = (size_t)stun_msg_build_finish(&b);
	if (kind >= 4) { /* flip bits, set bytes, truncate or extend */
		for (uint64_t f = 1 + rng_next(rs) % 4; f > 0; f--) {
			size_t at = rng_next(rs) % len;

			if (kind == 4)
				buf[at] ^= (uint8_t)(1u << (rng_next(rs) % 8));
			else if (kind == 5)
				buf[at] = (uint8_t)rng_next(rs);
			else if (kind == 6)
				len = at + 1;
			else if (len + 4 <= cap) {
				memset(buf + len, 0, 4); /* trailing bytes */
				len += 4;
			}
		}
	}
	return len;
}

static int probe(struct load *l)
{
	uint8_t req[STUN_HEADER_LEN], buf[512];

	/* up to 10 tries, 100 ms apart */
	for (int tries = 0; tries < 10; tries++) {
		natbed_time_t until;
		struct pollfd pfd = {.fd = l->fd[0], .events = POLLIN};

		make_request(req, sizeof(req), 0xFFFFFFFFu, (uint32_t)tries);
		if (send(l->fd[0], req, sizeof(req), 0) < 0)
			return -errno;
		until = now_ns() + NATBED_NS_PER_S / 10;
		while (now_ns() < until && poll(&pfd, 1, 100) > 0) {
			ssize_t n = recv(l->fd[0], buf, sizeof(buf), MSG_DONTWAIT);
			struct stun_msg m;

			if (n > 0 &&
			    stun_msg_parse(buf, (size_t)n, 0, &m, NULL, 0) == STUN_PARSE_OK &&
			    m.cls == STUN_CLASS_SUCCESS && rd32(m.txid) == 0xFFFFFFFFu &&
			    rd32(m.txid + 4) == (uint32_t)tries)
				return 0;
		}
	}
	return -ETIMEDOUT;
}

static int run_garbage(struct load *l)
{
	uint64_t rs = l->o->seed ? l->o->seed : 1, answered = 0;
	static uint8_t buf[LOAD_DGRAM], in[LOAD_DGRAM];
	struct pollfd pfd = {.fd = l->fd[0], .events = POLLIN};
	long sent = 0;

	for (long i = 0; i < l->o->garbage; i++) {
		size_t len = make_garbage(&rs, buf, sizeof(buf));

		if (send(l->fd[0], buf, len, 0) < 0) {
			if (errno == ECONNREFUSED) {
				fprintf(stderr,
					"natbed-stunload: server gone (ECONNREFUSED) after %ld\n",
					sent);
				return 1;
			}
			continue;
		}
		sent++;
		/* pace: every 16 datagrams, collect answers for up to 2 ms so
		 * neither socket buffer overflows */
		if (i % 16 == 15) {
			natbed_time_t until = now_ns() + 2 * NATBED_NS_PER_MS;

			while (now_ns() < until && poll(&pfd, 1, 1) > 0)
				while (recv(l->fd[0], in, sizeof(in), MSG_DONTWAIT) > 0)
					answered++;
		}
	}
	for (int k = 0; k < 50 && poll(&pfd, 1, 10) > 0; k++)
		while (recv(l->fd[0], in, sizeof(in), MSG_DONTWAIT) > 0)
			answered++;
	if (probe(l) < 0) {
		printf("garbage sent=%ld answered=%llu probe=failed\n", sent,
		       (unsigned long long)answered);
		return 1;
	}
	printf("garbage sent=%ld answered=%llu probe=ok\n", sent, (unsigned long long)answered);
	return sent == l->o->garbage ? 0 : 1;
}

static long parse_long(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return lo - 1;
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"server", required_argument, NULL, 'S'},
	    {"duration", required_argument, NULL, 'd'},
	    {"window", required_argument, NULL, 'w'},
	    {"sockets", required_argument, NULL, 'k'},
	    {"source", required_argument, NULL, 's'},
	    {"garbage", required_argument, NULL, 'g'},
	    {"seed", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct load_opts o = {.duration_s = 5, .window = 64, .sockets = 1, .seed = 1};
	struct load l = {.o = &o};
	int c, has_server = 0, ret = 1;

	while ((c = getopt_long(argc, argv, "S:d:w:k:s:g:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'S':
			if (stunaddr_parse(optarg, 3478, &o.server) < 0)
				goto bad;
			has_server = 1;
			break;
		case 'd':
			if ((o.duration_s = (int)parse_long(optarg, 1, LOAD_MAX_DURATION_S)) < 1)
				goto bad;
			break;
		case 'w':
			if ((o.window = (int)parse_long(optarg, 1, LOAD_MAX_WINDOW)) < 1)
				goto bad;
			break;
		case 'k':
			if ((o.sockets = (int)parse_long(optarg, 1, LOAD_MAX_SOCKETS)) < 1)
				goto bad;
			break;
		case 's':
			if (stunaddr_parse(optarg, 0, &o.source) < 0)
				goto bad;
			o.has_source = 1;
			break;
		case 'g':
			if ((o.garbage = parse_long(optarg, 1, LOAD_MAX_GARBAGE)) < 1)
				goto bad;
			break;
		case 'r':
			o.seed = (uint64_t)strtoull(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (!has_server || optind != argc || o.sockets > o.window ||
	    (o.has_source && o.source.ss_family != o.server.ss_family))
		goto bad;
	for (int s = 0; s < o.sockets; s++)
		l.fd[s] = -1;
	l.slots = calloc((size_t)o.window, sizeof(*l.slots));
	l.hist = calloc(LOAD_HIST_US + 1, sizeof(*l.hist));
	if (!l.slots || !l.hist)
		goto cleanup;
	for (int s = 0; s < o.sockets; s++) {
		l.fd[s] = open_socket(&o);
		if (l.fd[s] < 0) {
			fprintf(stderr, "natbed-stunload: socket: %s\n", strerror(-l.fd[s]));
			goto cleanup;
		}
	}
	ret = o.garbage ? run_garbage(&l) : run_load(&l);
cleanup:
	for (int s = 0; s < o.sockets; s++)
		if (l.fd[s] >= 0)
			close(l.fd[s]);
	free(l.slots);
	free(l.hist);
	return ret;
bad:
	usage(stderr);
	return 2;
}
