/* natbed-emu pcap writer: the pcap file format written directly, one
 * buffer and one write(2) per megabyte, no stdio. */
#include "pcapw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "natbed/log.h"

/* Large enough that write(2) is rare (one a MB: ~13,000 records of 64-byte
 * frames); only the part a port fills between flushes is ever touched. */
#define PCAPW_BUF (1 << 20)

/* The pcap file format (draft-ietf-opsawg-pcap), in the writer's byte
 * order; this magic says the second fraction is in nanoseconds. */
#define PCAPW_MAGIC_NS	      0xa1b23c4du
#define PCAPW_VERSION_MAJ     2
#define PCAPW_VERSION_MIN     4
#define PCAPW_LINKTYPE_EN10MB 1

struct pcapw_file_hdr {
	uint32_t magic;
	uint16_t version_major, version_minor;
	int32_t thiszone; /* 0 */
	uint32_t sigfigs; /* 0 */
	uint32_t snaplen;
	uint32_t linktype;
};

struct pcapw_rec_hdr {
	uint32_t ts_sec, ts_nsec;
	uint32_t caplen; /* bytes that follow */
	uint32_t len;	 /* the frame's length on the wire */
};

struct pcapw {
	int fd;
	int err;    /* -errno that stopped the capture, 0 while it runs */
	off_t off;  /* bytes in the file: the end of its last whole record */
	size_t len; /* bytes buffered */
	char *path;
	uint8_t *buf;
};

_Static_assert(sizeof(struct pcapw_file_hdr) == PCAPW_FILE_HDR_LEN, "file header");
_Static_assert(sizeof(struct pcapw_rec_hdr) == PCAPW_REC_HDR_LEN, "record header");

void pcapw_file_header(uint8_t out[PCAPW_FILE_HDR_LEN])
{
	const struct pcapw_file_hdr fh = {
	    .magic = PCAPW_MAGIC_NS,
	    .version_major = PCAPW_VERSION_MAJ,
	    .version_minor = PCAPW_VERSION_MIN,
	    .snaplen = PCAPW_SNAPLEN,
	    .linktype = PCAPW_LINKTYPE_EN10MB,
	};

	memcpy(out, &fh, sizeof(fh));
}

size_t pcapw_record_header(uint8_t out[PCAPW_REC_HDR_LEN], size_t len, natbed_time_t wall_ns)
{
	size_t cap = len < PCAPW_SNAPLEN ? len : PCAPW_SNAPLEN;
	const struct pcapw_rec_hdr h = {
	    .ts_sec = (uint32_t)(wall_ns / NATBED_NS_PER_S),
	    .ts_nsec = (uint32_t)(wall_ns % NATBED_NS_PER_S),
	    .caplen = (uint32_t)cap,
	    .len = (uint32_t)len,
	};

	memcpy(out, &h, sizeof(h));
	return cap;
}

/* Writes all of len bytes at buf. 0 or -errno (-EIO when nothing moves). */
static int pcapw_write_all(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

struct pcapw *pcapw_open(const char *path, char *err, size_t errlen)
{
	uint8_t fh[PCAPW_FILE_HDR_LEN];
	struct pcapw *w = calloc(1, sizeof(*w));
	int rc;

	if (w)
		w->fd = -1;
	if (!w || !(w->path = strdup(path)) || !(w->buf = malloc(PCAPW_BUF))) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	/* the header now: an empty capture is a valid file */
	pcapw_file_header(fh);
	if ((rc = pcapw_write_all(w->fd, fh, sizeof(fh))) < 0) {
		snprintf(err, errlen, "%s: write: %s", path, strerror(-rc));
		goto fail;
	}
	w->off = sizeof(fh);
	return w;
fail:
	pcapw_close(w);
	return NULL;
}

/* Stops the capture at its last whole record after a failed write. */
static void pcapw_fail(struct pcapw *w, int err)
{
	w->err = err;
	w->len = 0;
	if (ftruncate(w->fd, w->off) < 0)
		log_warn("capture %s: write: %s; cannot cut it back to its last whole "
			 "record: %s",
			 w->path, strerror(-err), strerror(errno));
	else
		log_warn("capture %s: write: %s; the capture stops after %lld bytes", w->path,
			 strerror(-err), (long long)w->off);
}

void pcapw_flush(struct pcapw *w)
{
	int rc;

	if (!w || w->len == 0 || w->err)
		return;
	rc = pcapw_write_all(w->fd, w->buf, w->len);
	if (rc < 0) {
		pcapw_fail(w, rc);
		return;
	}
	w->off += (off_t)w->len;
	w->len = 0;
}

void pcapw_write(struct pcapw *w, const uint8_t *frame, size_t len, natbed_time_t wall_ns)
{
	size_t cap = len < PCAPW_SNAPLEN ? len : PCAPW_SNAPLEN;

	if (!w || w->err)
		return;
	if (w->len + PCAPW_REC_HDR_LEN + cap > PCAPW_BUF) {
		pcapw_flush(w);
		if (w->err)
			return;
	}
	pcapw_record_header(w->buf + w->len, len, wall_ns);
	memcpy(w->buf + w->len + PCAPW_REC_HDR_LEN, frame, cap);
	w->len += PCAPW_REC_HDR_LEN + cap;
}

int pcapw_error(const struct pcapw *w)
{
	return w->err;
}

void pcapw_close(struct pcapw *w)
{
	if (!w)
		return;
	if (w->fd >= 0) {
		pcapw_flush(w);
		if (close(w->fd) < 0 && !w->err)
			log_warn("capture %s: close: %s", w->path, strerror(errno));
	}
	free(w->buf);
	free(w->path);
	free(w);
}
