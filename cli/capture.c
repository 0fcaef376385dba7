/* natbed capture: one view of a running topology as a pcap stream on
 * standard output, from natbed-emu's live capture (emulator/livecap.h; the
 * stream: natbed/capstream.h). It reads the stream only as fast as standard
 * output takes it: a slower reader makes natbed-emu drop records for it,
 * counted, never waits. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "natbed/capstream.h"

#define CAP_BUF		   (256 * 1024) /* stream bytes read at once, at most */
#define CAP_ANSWER_MAX	   4096		/* the control socket's answer line */
#define CAP_ANSWER_WAIT_MS 10000
#define CAP_PCAP_HDR_LEN   24 /* the file header: the first PCAP frame */

static volatile sig_atomic_t cap_stop;

static void cap_on_signal(int sig)
{
	cap_stop = sig;
}

struct cap {
	const char *prefix, *view;
	int sock, out;
	bool out_nonblock; /* a pipe or socket: written without blocking, after POLLOUT */
	int out_flags;	   /* its flags before, restored on exit */
	uint32_t id;
	uint8_t in[CAP_BUF];
	size_t in_len;
	uint8_t out_buf[CAP_BUF];
	size_t out_off, out_len;
	uint64_t batch;	  /* records in out_buf */
	uint64_t written; /* records wholly written out */
	uint64_t lost;	  /* the stream's last LOST count */
	bool header_seen, eof;
	const char *why; /* how it ended, for the last line */
};

static void cap_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: natbed capture [--prefix P] VIEW\n"
	    "\n"
	    "Streams what natbed-emu captures at VIEW, as it captures it, as a pcap stream on\n"
	    "standard output, while the topology of prefix P is up:\n"
	    "\n"
	    "  natbed capture home-wan | wireshark -k -i -\n"
	    "  natbed capture alice | tshark -r -\n"
	    "  natbed capture alice > alice-now.pcap\n"
	    "\n"
	    "VIEW names a capture as its file does: a host (its fabric port, HOST.pcap) or\n"
	    "NAT-wan (NAT's outside view, NAT-wan.pcap; NAT alone also works). Records are\n"
	    "the file's, byte for byte, whether `natbed up --capture` writes that file or not.\n"
	    "Several viewers may watch at once. natbed-emu keeps up to 1 MiB for each: when\n"
	    "the reader is slower than the capture, records are lost (the stream stays whole\n"
	    "records), never the emulator slowed. On exit natbed capture tells on standard\n"
	    "error how many records it wrote and how many were lost.\n"
	    "\n"
	    "It ends on SIGINT or SIGTERM, when the reader closes its end, or when the\n"
	    "topology goes down. Exit status 0; 1 when it cannot start (no such view, prefix\n"
	    "not up, standard output a terminal); 2 for a usage error.\n"
	    "\n"
	    "  -p, --prefix P  namespace prefix (default %s)\n"
	    "  -h, --help      this text\n",
	    CLI_DEFAULT_PREFIX);
}

/* SIGINT, SIGTERM, SIGHUP stop the loop: blocked but while it waits in
 * ppoll(), so none is missed between a check and a wait. SIGPIPE: a
 * reader gone is EPIPE from write. */
static void cap_signals(sigset_t *wait_mask)
{
	struct sigaction sa = {.sa_handler = cap_on_signal};
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, wait_mask);
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGHUP);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Standard output: not a terminal; a pipe or a socket is written without
 * blocking (restored on exit). 0, or -1 (printed). */
static int cap_open_out(struct cap *c)
{
	struct stat st;

	c->out = STDOUT_FILENO;
	if (isatty(c->out)) {
		fprintf(stderr, "natbed capture: standard output is a terminal: pipe it into "
				"`wireshark -k -i -` or `tshark -r -`, or redirect it to a file\n");
		return -1;
	}
	if (fstat(c->out, &st) < 0) {
		fprintf(stderr, "natbed capture: standard output: %s\n", strerror(errno));
		return -1;
	}
	c->out_flags = fcntl(c->out, F_GETFL);
	c->out_nonblock = (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) && c->out_flags >= 0 &&
			  fcntl(c->out, F_SETFL, c->out_flags | O_NONBLOCK) == 0;
	return 0;
}

/* Asks for the view and reads the answer line (a signal ends the wait);
 * what came after it stays in c->in. 0, or -1 (printed). */
static int cap_begin(struct cap *c, const sigset_t *wait_mask)
{
	const struct timespec wait = {CAP_ANSWER_WAIT_MS / 1000, 0};
	char *words[2] = {"capture", (char *)c->view};
	struct pollfd p = {.events = POLLIN};
	json_error_t jerr;
	json_t *ans = NULL;
	uint8_t *nl = NULL;
	ssize_t n;
	int rc = -1;

	c->sock = cli_ctl_connect(c->prefix, "natbed capture");
	if (c->sock < 0 || cli_ctl_send(c->sock, 2, words, "natbed capture") < 0)
		return -1;
	p.fd = c->sock;
	while (!(nl = memchr(c->in, '\n', c->in_len)) && c->in_len < CAP_ANSWER_MAX) {
		if (ppoll(&p, 1, &wait, wait_mask) <= 0 ||
		    (n = read(c->sock, c->in + c->in_len, CAP_BUF - c->in_len)) <= 0)
			break;
		c->in_len += (size_t)n;
	}
	if (!nl || !(ans = json_loadb((char *)c->in, (size_t)(nl - c->in), 0, &jerr))) {
		fprintf(stderr, "natbed capture: no valid answer from natbed-emu\n");
		goto out;
	}
	if (!json_is_true(json_object_get(ans, "ok"))) {
		fprintf(stderr, "natbed capture: %s\n",
			json_string_value(json_object_get(ans, "error")) ?: "refused");
		goto out;
	}
	c->id = (uint32_t)json_integer_value(json_object_get(json_object_get(ans, "result"), "id"));
	c->in_len -= (size_t)(nl + 1 - c->in);
	memmove(c->in, nl + 1, c->in_len);
	rc = 0;
out:
	json_decref(ans);
	return rc;
}

/* The whole frames in c->in into c->out_buf (pcap bytes) and c->lost.
 * 0, or -1 on a frame no natbed-emu sends (printed). */
static int cap_frames(struct cap *c)
{
	size_t off = 0;

	while (c->in_len - off >= CAPSTREAM_HDR_LEN) {
		uint32_t type = capstream_get32(c->in + off);
		uint32_t len = capstream_get32(c->in + off + 4);
		const uint8_t *v = c->in + off + CAPSTREAM_HDR_LEN;

		if (len > CAPSTREAM_FRAME_MAX) {
			fprintf(stderr,
				"natbed capture: a stream frame of %u bytes: not natbed-emu's\n",
				len);
			return -1;
		}
		if (c->in_len - off - CAPSTREAM_HDR_LEN < len)
			break;
		if (type == CAPSTREAM_PCAP) {
			memcpy(c->out_buf + c->out_len, v, len);
			c->out_len += len;
			c->batch += c->header_seen;
			c->header_seen = true;
		} else if (type == CAPSTREAM_LOST && len == CAPSTREAM_LOST_LEN) {
			c->lost = capstream_lost(v);
		}
		off += CAPSTREAM_HDR_LEN + len;
	}
	c->in_len -= off;
	memmove(c->in, c->in + off, c->in_len);
	return 0;
}

/* Reads what the socket has into c->in and frames it. 0, or -1 to end. */
static int cap_read(struct cap *c)
{
	ssize_t n = read(c->sock, c->in + c->in_len, CAP_BUF - c->in_len);

	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0) {
		c->eof = true;
		c->why = "natbed-emu ended the stream (the topology is down?)";
		return 0;
	}
	c->in_len += (size_t)n;
	return cap_frames(c);
}

/* Writes what standard output takes of c->out_buf. 0, or -1 to end. */
static int cap_write(struct cap *c)
{
	size_t want = c->out_len - c->out_off;
	ssize_t n = write(c->out, c->out_buf + c->out_off, want);

	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0) {
		c->why = errno == EPIPE ? "the reader closed its end" : strerror(errno);
		return -1;
	}
	c->out_off += (size_t)n;
	if (c->out_off == c->out_len) {
		c->written += c->batch;
		c->batch = 0;
		c->out_off = c->out_len = 0;
	}
	return 0;
}

/* Until a signal, the reader's end closing or natbed-emu's: the socket is
 * read only when all it gave is written, so a slow reader holds the
 * stream back to natbed-emu, which drops for it. */
static int cap_loop(struct cap *c, const sigset_t *wait_mask)
{
	struct pollfd p;

	if (cap_frames(c) < 0)
		return -1;
	while (!cap_stop) {
		bool writing = c->out_off < c->out_len;

		if (!writing && c->eof)
			return 0;
		p.fd = writing ? c->out : c->sock;
		p.events = writing ? POLLOUT : POLLIN;
		if (writing && !c->out_nonblock)
			p.revents = POLLOUT; /* a file: write at once */
		else if (ppoll(&p, 1, NULL, wait_mask) < 0) {
			if (errno == EINTR)
				continue;
			c->why = strerror(errno);
			return -1;
		}
		if (writing && cap_write(c) < 0)
			return 0;
		if (!writing && p.revents && cap_read(c) < 0)
			return -1;
	}
	c->why = strsignal(cap_stop);
	return 0;
}

/* The last line: records written and lost, natbed-emu's final count when
 * it still runs (capture-end), else the stream's last. */
static void cap_report(struct cap *c)
{
	char id[16], *words[2] = {"capture-end", id};
	json_t *ans = NULL, *res;

	if (c->id && !c->eof) {
		snprintf(id, sizeof(id), "%u", c->id);
		ans = cli_ctl_call(c->prefix, 2, words);
		res = json_object_get(ans, "result");
		if (json_is_true(json_object_get(ans, "ok")))
			c->lost = (uint64_t)json_integer_value(json_object_get(res, "lost"));
		json_decref(ans);
	}
	fprintf(stderr, "natbed capture: %s: %llu records written, ", c->view,
		(unsigned long long)c->written);
	if (c->lost)
		fprintf(stderr, "%llu lost: the reader was slower than the capture",
			(unsigned long long)c->lost);
	else
		fprintf(stderr, "none lost");
	fprintf(stderr, " (%s)\n", c->why ? c->why : "done");
}

int cmd_capture(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"prefix", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cap *c = calloc(1, sizeof(*c));
	sigset_t wait_mask;
	int opt, rc = 1;

	if (!c)
		return 1;
	c->prefix = CLI_DEFAULT_PREFIX;
	c->sock = -1;
	while ((opt = getopt_long(argc, argv, "p:h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			c->prefix = optarg;
			break;
		case 'h':
			cap_usage(stdout);
			free(c);
			return 0;
		default:
			cap_usage(stderr);
			free(c);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "natbed capture: one VIEW is required (see --help)\n");
		free(c);
		return 2;
	}
	c->view = argv[optind];
	if (cli_check_prefix("capture", c->prefix) < 0) {
		free(c);
		return 2;
	}
	if (cli_need_root("capture") < 0 || cap_open_out(c) < 0)
		goto out;
	cap_signals(&wait_mask);
	if (cap_begin(c, &wait_mask) < 0)
		goto out;
	rc = cap_loop(c, &wait_mask) < 0 ? 1 : 0;
	cap_report(c);
out:
	if (c->out_nonblock)
		fcntl(c->out, F_SETFL, c->out_flags);
	if (c->sock >= 0)
		close(c->sock);
	free(c);
	return rc;
}
