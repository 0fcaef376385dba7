/* Unit tests of the pcap writer, read back with libpcap: records well
 * formed (header, timestamps, lengths, bytes), whole at every moment while
 * running, complete after close, cut back to a whole record when a write
 * fails. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcapw.h"

#define FILE_HDR 24 /* pcap file header */
#define REC_HDR	 16 /* pcap record header */
#define T0	 ((natbed_time_t)1764000000 * NATBED_NS_PER_S + 123456789)

struct ctx {
	char dir[64];
	char path[96];
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	snprintf(c->dir, sizeof(c->dir), "/tmp/test_pcapw.XXXXXX");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(c->path, sizeof(c->path), "%s/t.pcap", c->dir);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	unlink(c->path);
	rmdir(c->dir);
	free(c);
	return 0;
}

/* Frame i: len(i) bytes, each (i + k) & 0xff. */
static size_t frame_len(int i)
{
	return 60 + (size_t)(i * 7) % 1455;
}

static void frame_fill(uint8_t *f, int i)
{
	size_t k;

	for (k = 0; k < frame_len(i); k++)
		f[k] = (uint8_t)(i + k);
}

static natbed_time_t frame_time(int i)
{
	return T0 + (natbed_time_t)i * 333333333; /* crosses second boundaries */
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* Bytes frames 0..n-1 take in a file. */
static off_t file_bytes(int n)
{
	off_t b = FILE_HDR;
	int i;

	for (i = 0; i < n; i++)
		b += REC_HDR + (off_t)frame_len(i);
	return b;
}

/* Reads path with libpcap: n records, frames 0..n-1 as written. */
static void read_back(const char *path, int n)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *pc =
	    pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	struct pcap_pkthdr *h;
	const u_char *data;
	uint8_t want[2048];
	int i = 0, rc;

	if (!pc)
		fail_msg("%s: %s", path, errbuf);
	assert_int_equal(pcap_datalink(pc), DLT_EN10MB);
	assert_int_equal(pcap_snapshot(pc), PCAPW_SNAPLEN);
	assert_int_equal(pcap_get_tstamp_precision(pc), PCAP_TSTAMP_PRECISION_NANO);
	assert_int_equal(pcap_major_version(pc), 2);
	assert_int_equal(pcap_minor_version(pc), 4);
	while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
		assert_true(i < n);
		assert_int_equal(h->caplen, frame_len(i));
		assert_int_equal(h->len, frame_len(i));
		/* nanosecond precision: tv_usec holds nanoseconds */
		assert_int_equal(h->ts.tv_sec, frame_time(i) / NATBED_NS_PER_S);
		assert_int_equal(h->ts.tv_usec, frame_time(i) % NATBED_NS_PER_S);
		frame_fill(want, i);
		assert_memory_equal(data, want, frame_len(i));
		i++;
	}
	assert_int_equal(rc, PCAP_ERROR_BREAK); /* a clean end, no truncated record */
	assert_int_equal(i, n);
	pcap_close(pc);
}

static void test_open_close_empty(void **state)
{
	struct ctx *c = *state;
	char err[256];
	struct pcapw *w = pcapw_open(c->path, err, sizeof(err));

	assert_non_null(w);
	assert_int_equal(file_size(c->path), FILE_HDR); /* the header at once */
	read_back(c->path, 0);
	pcapw_close(w);
	read_back(c->path, 0);
	/* NULL is safe everywhere */
	pcapw_write(NULL, (const uint8_t *)"x", 1, T0);
	pcapw_flush(NULL);
	pcapw_close(NULL);
}

static void test_records(void **state)
{
	struct ctx *c = *state;
	char err[256];
	uint8_t f[2048];
	struct pcapw *w = pcapw_open(c->path, err, sizeof(err));
	int i;

	assert_non_null(w);
	for (i = 0; i < 10; i++) {
		frame_fill(f, i);
		pcapw_write(w, f, frame_len(i), frame_time(i));
	}
	/* buffered: nothing but the header yet, and still a valid file */
	assert_int_equal(file_size(c->path), FILE_HDR);
	read_back(c->path, 0);
	pcapw_flush(w);
	assert_int_equal(file_size(c->path), file_bytes(10));
	read_back(c->path, 10);
	pcapw_flush(w); /* nothing new: nothing written */
	assert_int_equal(file_size(c->path), file_bytes(10));
	for (; i < 15; i++) {
		frame_fill(f, i);
		pcapw_write(w, f, frame_len(i), frame_time(i));
	}
	pcapw_close(w); /* flushes */
	assert_int_equal(file_size(c->path), file_bytes(15));
	read_back(c->path, 15);
}

/* Past the buffer's size, the file grows by whole records only. */
static void test_whole_records_while_running(void **state)
{
	struct ctx *c = *state;
	char err[256];
	uint8_t f[2048];
	struct pcapw *w = pcapw_open(c->path, err, sizeof(err));
	off_t size, last = FILE_HDR;
	int i, grew = 0, k = 0;

	assert_non_null(w);
	for (i = 0; i < 6000; i++) { /* ~4.5 MB */
		frame_fill(f, i);
		pcapw_write(w, f, frame_len(i), frame_time(i));
		size = file_size(c->path);
		if (size != last) {
			/* it grew: it ends right after some record k */
			while (file_bytes(k) < size)
				k++;
			assert_int_equal(file_bytes(k), size);
			assert_true(k <= i + 1);
			last = size;
			grew++;
		}
	}
	assert_true(grew >= 3);
	read_back(c->path, k);
	pcapw_close(w);
	read_back(c->path, 6000);
}

static void test_snaplen(void **state)
{
	struct ctx *c = *state;
	char err[256], errbuf[PCAP_ERRBUF_SIZE];
	static uint8_t big[PCAPW_SNAPLEN + 100];
	struct pcapw *w = pcapw_open(c->path, err, sizeof(err));
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *pc;

	assert_non_null(w);
	memset(big, 0xab, sizeof(big));
	pcapw_write(w, big, sizeof(big), T0);
	pcapw_close(w);
	pc = pcap_open_offline_with_tstamp_precision(c->path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	assert_non_null(pc);
	assert_int_equal(pcap_next_ex(pc, &h, &data), 1);
	assert_int_equal(h->caplen, PCAPW_SNAPLEN);
	assert_int_equal(h->len, sizeof(big));
	assert_int_equal(pcap_next_ex(pc, &h, &data), PCAP_ERROR_BREAK);
	pcap_close(pc);
}

static void test_open_fails(void **state)
{
	struct ctx *c = *state;
	char err[256], path[160];

	snprintf(path, sizeof(path), "%s/no/such/dir.pcap", c->dir);
	assert_null(pcapw_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, strerror(ENOENT)));
}

/* A write that fails part way (here the file size limit): the file is cut
 * back to its last whole record, the capture stops, the file stays valid. */
static void test_write_fails(void **state)
{
	struct ctx *c = *state;
	char err[256];
	uint8_t f[2048];
	struct rlimit old, lim;
	struct pcapw *w = pcapw_open(c->path, err, sizeof(err));
	off_t flushed;
	int i;

	assert_non_null(w);
	for (i = 0; i < 100; i++) {
		frame_fill(f, i);
		pcapw_write(w, f, frame_len(i), frame_time(i));
	}
	pcapw_flush(w);
	flushed = file_bytes(100);
	assert_int_equal(file_size(c->path), flushed);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)flushed + 10000; /* the next flush stops part way */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (; i < 200; i++) {
		frame_fill(f, i);
		pcapw_write(w, f, frame_len(i), frame_time(i));
	}
	pcapw_flush(w);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(pcapw_error(w), -EFBIG);
	assert_int_equal(file_size(c->path), flushed);
	pcapw_write(w, f, 100, T0); /* ignored from now on */
	pcapw_close(w);
	assert_int_equal(file_size(c->path), flushed);
	read_back(c->path, 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_close_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_whole_records_while_running, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snaplen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_fails, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
