#include "pcapw.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>

#define PCAPW_SNAPLEN 65535
/* pcapw_write() flushes before a record would overflow it, so stdio never
 * writes a partial record on its own. */
#define PCAPW_BUF (1 << 20)

struct pcapw {
	pcap_t *pc;
	pcap_dumper_t *d;
	char *buf;
	size_t pending; /* bytes in the stdio buffer since the last flush */
};

struct pcapw *pcapw_open(const char *path, char *err, size_t errlen)
{
	struct pcapw *w = calloc(1, sizeof(*w));

	if (!w)
		goto fail;
	w->pc = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, PCAPW_SNAPLEN,
						     PCAP_TSTAMP_PRECISION_NANO);
	if (!w->pc)
		goto fail;
	w->d = pcap_dump_open(w->pc, path);
	if (!w->d) {
		snprintf(err, errlen, "%s: %s", path, pcap_geterr(w->pc));
		pcapw_close(w);
		return NULL;
	}
	w->buf = malloc(PCAPW_BUF);
	if (w->buf)
		setvbuf(pcap_dump_file(w->d), w->buf, _IOFBF, PCAPW_BUF);
	pcap_dump_flush(w->d); /* the file header, now */
	return w;
fail:
	snprintf(err, errlen, "%s: out of memory", path);
	pcapw_close(w);
	return NULL;
}

void pcapw_write(struct pcapw *w, const uint8_t *frame, size_t len, natbed_time_t wall_ns)
{
	struct pcap_pkthdr h;
	size_t rec = 16 + len; /* the file's record header and the frame */

	/* Write out whole records before stdio would, so a killed emulator
	 * leaves a file that ends on a record boundary. */
	if (w->buf && w->pending + rec > PCAPW_BUF)
		pcapw_flush(w);
	w->pending += rec;
	/* With nanosecond precision, libpcap reads tv_usec as nanoseconds. */
	h.ts.tv_sec = (time_t)(wall_ns / NATBED_NS_PER_S);
	h.ts.tv_usec = (suseconds_t)(wall_ns % NATBED_NS_PER_S);
	h.caplen = h.len = (bpf_u_int32)len;
	pcap_dump((u_char *)w->d, &h, frame);
}

void pcapw_flush(struct pcapw *w)
{
	if (w && w->pending) {
		pcap_dump_flush(w->d);
		w->pending = 0;
	}
}

void pcapw_close(struct pcapw *w)
{
	if (!w)
		return;
	if (w->d)
		pcap_dump_close(w->d);
	if (w->pc)
		pcap_close(w->pc);
	free(w->buf);
	free(w);
}
