/* Unit tests of the live capture (emulator/livecap.c) over socketpairs and
 * a libevent loop: the stream is the head, the pcap file header and one
 * frame per record, byte for byte what the pcap writer writes; a viewer
 * that does not read loses whole records, counted in the stream and in
 * its counters, while writes go on at once; two viewers are independent;
 * a closed viewer is dropped; limits hold. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "livecap.h"
#include "natbed/capstream.h"
#include "pcapw.h"

#define T0   ((natbed_time_t)1764000000 * NATBED_NS_PER_S + 987654321)
#define HEAD "{\"ok\":true}\n"
#define BUF  (256 * 1024) /* a small buffer: losses come sooner */

struct ctx {
	struct event_base *base;
	struct livecap *lc;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	c->base = event_base_new();
	c->lc = livecap_new(c->base, 3, BUF);
	if (!c->base || !c->lc)
		return -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	livecap_free(c->lc);
	event_base_free(c->base);
	free(c);
	return 0;
}

/* A viewer of view: returns our end of its socket. */
static int viewer(struct ctx *c, size_t view, uint32_t *id)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(livecap_attach(c->lc, view, sv[1], HEAD, strlen(HEAD), id), 0);
	assert_true(*id > 0);
	return sv[0];
}

/* Runs the loop until nothing is pending. */
static void spin(struct ctx *c)
{
	for (int i = 0; i < 64; i++)
		event_base_loop(c->base, EVLOOP_NONBLOCK);
}

/* Everything our end has now (non-blocking), appended to *buf. */
static size_t drain(int fd, uint8_t **buf, size_t len)
{
	uint8_t chunk[65536];
	ssize_t n;

	while ((n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT)) > 0) {
		*buf = realloc(*buf, len + (size_t)n);
		memcpy(*buf + len, chunk, (size_t)n);
		len += (size_t)n;
	}
	return len;
}

/* Reads everything until the emulator side has nothing more, spinning the
 * loop between reads; *buf holds len bytes already. */
static size_t read_all(struct ctx *c, int fd, uint8_t **buf, size_t len)
{
	size_t before;

	do {
		before = len;
		spin(c);
		len = drain(fd, buf, len);
	} while (len != before);
	return len;
}

static void frame_of(uint8_t *frame, size_t len, uint32_t k)
{
	for (size_t i = 0; i < len; i++)
		frame[i] = (uint8_t)(k * 7 + i);
}

/* Checks the stream: the head, the file header, records k0, k0+1, ... of
 * len bytes (some skipped where a LOST frame says so). Returns the records
 * seen, *lost the last LOST count. */
static uint32_t check_stream(const uint8_t *s, size_t n, size_t len, uint64_t *lost)
{
	uint8_t fh[PCAPW_FILE_HDR_LEN], rh[PCAPW_REC_HDR_LEN], frame[2048];
	size_t off = strlen(HEAD);
	uint32_t seen = 0, k = 0;
	uint64_t last_lost = 0;

	assert_true(n >= off && memcmp(s, HEAD, off) == 0);
	pcapw_file_header(fh);
	assert_int_equal(capstream_get32(s + off), CAPSTREAM_PCAP);
	assert_int_equal(capstream_get32(s + off + 4), PCAPW_FILE_HDR_LEN);
	assert_memory_equal(s + off + CAPSTREAM_HDR_LEN, fh, sizeof(fh));
	off += CAPSTREAM_HDR_LEN + PCAPW_FILE_HDR_LEN;
	while (off < n) {
		uint32_t type, flen;

		assert_true(off + CAPSTREAM_HDR_LEN <= n);
		type = capstream_get32(s + off);
		flen = capstream_get32(s + off + 4);
		off += CAPSTREAM_HDR_LEN;
		assert_true(off + flen <= n); /* frames come whole */
		if (type == CAPSTREAM_LOST) {
			uint64_t now;

			assert_int_equal(flen, CAPSTREAM_LOST_LEN);
			now = capstream_lost(s + off);
			assert_true(now > last_lost);
			k += (uint32_t)(now - last_lost); /* the records skipped */
			last_lost = now;
		} else {
			assert_int_equal(type, CAPSTREAM_PCAP);
			assert_int_equal(flen, PCAPW_REC_HDR_LEN + len);
			pcapw_record_header(rh, len, T0 + k);
			assert_memory_equal(s + off, rh, sizeof(rh));
			frame_of(frame, len, k);
			assert_memory_equal(s + off + PCAPW_REC_HDR_LEN, frame, len);
			k++;
			seen++;
		}
		off += flen;
	}
	*lost = last_lost;
	return seen;
}

static void write_records(struct ctx *c, size_t view, uint32_t from, uint32_t n, size_t len)
{
	uint8_t frame[2048];

	for (uint32_t k = from; k < from + n; k++) {
		frame_of(frame, len, k);
		livecap_write(c->lc, view, frame, len, T0 + k);
	}
}

static void test_stream_is_the_file(void **state)
{
	struct ctx *c = *state;
	struct livecap_stats st;
	uint8_t *s = NULL;
	uint64_t lost;
	uint32_t id;
	int fd = viewer(c, 1, &id);
	size_t n;

	write_records(c, 1, 0, 100, 100);
	write_records(c, 0, 0, 5, 100); /* another view: not ours */
	n = read_all(c, fd, &s, 0);
	assert_int_equal(check_stream(s, n, 100, &lost), 100);
	assert_int_equal(lost, 0);
	assert_int_equal(livecap_list(c->lc, &st, 1), 1);
	assert_int_equal(st.id, id);
	assert_int_equal(st.view, 1);
	assert_int_equal(st.records, 100);
	assert_int_equal(st.lost, 0);
	assert_int_equal(st.bytes, n);
	assert_int_equal(st.queued, 0);
	assert_int_equal(livecap_detach(c->lc, id, &st), 0);
	assert_int_equal(st.records, 100);
	assert_int_equal(livecap_detach(c->lc, id, NULL), -ENOENT);
	/* detached: its socket is closed, nothing more comes */
	assert_int_equal(recv(fd, s, 1, 0), 0);
	free(s);
	close(fd);
}

static void test_slow_viewer_loses_records(void **state)
{
	struct ctx *c = *state;
	struct livecap_stats st[2];
	uint8_t *s = NULL, *f = NULL;
	uint32_t slow, fast, seen;
	int sfd = viewer(c, 2, &slow), ffd = viewer(c, 2, &fast);
	const uint32_t total = 20000; /* 20000 x ~1 KB: far past the buffers */
	uint64_t lost;
	size_t n = 0;

	/* the fast viewer reads all along; the slow one never, until the end */
	for (uint32_t k = 0; k < total; k += 100) {
		write_records(c, 2, k, 100, 1000);
		spin(c);
		n = drain(ffd, &f, n);
	}
	n = read_all(c, ffd, &f, n);
	assert_int_equal(check_stream(f, n, 1000, &lost), total);
	assert_int_equal(lost, 0);
	assert_int_equal(livecap_list(c->lc, st, 2), 2);
	assert_int_equal(st[0].id, slow);
	assert_true(st[0].lost > 0);
	assert_int_equal(st[0].records + st[0].lost, total);
	/* what it held fits in its buffer and the socket's */
	assert_true(st[0].queued <= BUF);
	assert_int_equal(st[1].lost, 0);
	/* now it reads: whole records, the losses said where they were */
	n = read_all(c, sfd, &s, 0);
	seen = check_stream(s, n, 1000, &lost);
	assert_int_equal(seen, st[0].records);
	assert_int_equal(lost, st[0].lost);
	free(s);
	free(f);
	close(sfd);
	close(ffd);
}

static void test_closed_viewer_goes(void **state)
{
	struct ctx *c = *state;
	struct livecap_stats st;
	uint32_t id;
	int fd = viewer(c, 0, &id);

	close(fd);
	spin(c);
	assert_int_equal(livecap_list(c->lc, &st, 1), 0);
	assert_int_equal(livecap_detach(c->lc, id, NULL), -ENOENT);
	write_records(c, 0, 0, 10, 64); /* nobody watches: nothing happens */
}

static void test_limits(void **state)
{
	struct ctx *c = *state;
	int fds[LIVECAP_VIEWERS_MAX], sv[2];
	char big[8192] = {0};
	uint32_t id;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(livecap_attach(c->lc, 3, sv[1], HEAD, 1, &id), -EINVAL);
	assert_int_equal(livecap_attach(c->lc, 0, sv[1], big, sizeof(big), &id), -EINVAL);
	for (int i = 0; i < LIVECAP_VIEWERS_MAX; i++)
		fds[i] = viewer(c, (size_t)i % 3, &id);
	assert_int_equal(livecap_attach(c->lc, 0, sv[1], HEAD, 1, &id), -EBUSY);
	/* still the caller's: usable */
	assert_int_equal(send(sv[1], "x", 1, 0), 1);
	close(sv[0]);
	close(sv[1]);
	for (int i = 0; i < LIVECAP_VIEWERS_MAX; i++)
		close(fds[i]);
	assert_null(livecap_new(c->base, 1, 1024));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stream_is_the_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_viewer_loses_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_closed_viewer_goes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
