/* natbed-emu pcap writer: one file per port (and per NAT side) in the
 * classic pcap format, Ethernet link type, nanosecond timestamps.
 *
 * Records are copied into one buffer and reach the file whole, with one
 * write(2) when the buffer is full or on pcapw_flush() (the emulator calls
 * it every 100 ms): a running capture can be read at any time and ends on
 * a record, and so does the file of a killed emulator, minus what the
 * buffer held. A write that fails (disk full, file size limit) is logged
 * once, the file is cut back to its last whole record and the capture
 * stops there. */
#ifndef NATBED_EMU_PCAPW_H
#define NATBED_EMU_PCAPW_H

#include <stddef.h>
#include <stdint.h>

#include "natbed/clock.h"

#define PCAPW_SNAPLEN	   65535 /* frame bytes kept a record; longer frames are cut */
#define PCAPW_FILE_HDR_LEN 24	 /* the file header */
#define PCAPW_REC_HDR_LEN  16	 /* a record's header */

/* The pcap format itself, for writers of other streams (emulator/livecap.c):
 * the file header into out, and the header of a record of a len-byte frame
 * stamped wall_ns into out, returning the bytes of the frame the record
 * keeps (len, cut at PCAPW_SNAPLEN). */
void pcapw_file_header(uint8_t out[PCAPW_FILE_HDR_LEN]);
size_t pcapw_record_header(uint8_t out[PCAPW_REC_HDR_LEN], size_t len, natbed_time_t wall_ns);

struct pcapw;

/* Creates path (truncating) and writes the file header. Returns NULL and
 * writes "path: why" into err. */
struct pcapw *pcapw_open(const char *path, char *err, size_t errlen);
/* Appends one frame of len bytes (copied) stamped with wall-clock time
 * wall_ns. NULL w is a no-op. */
void pcapw_write(struct pcapw *w, const uint8_t *frame, size_t len, natbed_time_t wall_ns);
/* Writes out what is buffered. NULL is safe. */
void pcapw_flush(struct pcapw *w);
/* 0, or the -errno that stopped the capture. */
int pcapw_error(const struct pcapw *w);
/* Flushes and closes. NULL is safe. */
void pcapw_close(struct pcapw *w);

#endif
