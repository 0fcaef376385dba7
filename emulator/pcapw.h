/* natbed-emu pcap writer: one file per port (and per NAT side), Ethernet
 * link type, nanosecond timestamps, libpcap's dump API.
 *
 * Records reach the file only whole: buffered, and written when the buffer
 * would overflow or on pcapw_flush() (the emulator calls it every 100 ms),
 * so a file stays readable when the emulator is killed. */
#ifndef NATBED_EMU_PCAPW_H
#define NATBED_EMU_PCAPW_H

#include <stddef.h>
#include <stdint.h>

#include "natbed/clock.h"

struct pcapw;

/* Creates path (truncating). Returns NULL and writes why into err. */
struct pcapw *pcapw_open(const char *path, char *err, size_t errlen);
/* Appends one frame stamped with wall-clock time wall_ns. */
void pcapw_write(struct pcapw *w, const uint8_t *frame, size_t len, natbed_time_t wall_ns);
/* Writes out what is buffered. */
void pcapw_flush(struct pcapw *w);
/* Flushes and closes. NULL is safe. */
void pcapw_close(struct pcapw *w);

#endif
