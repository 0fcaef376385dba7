/* natbed live capture stream: what natbed-emu sends a viewer of a view
 * (`natbed capture`, the control socket's "capture VIEW"), after the
 * control socket's one-line answer.
 *
 *   frame := type (uint32) | length (uint32) | length bytes    (network order)
 *
 *   CAPSTREAM_PCAP  bytes of a pcap stream: the first frame holds the file
 *                   header, each later one a whole record (header, frame);
 *                   written out in order they make the view's pcap file
 *   CAPSTREAM_LOST  a uint64: records of the view this viewer has lost so
 *                   far (its buffer was full), counted from its start
 *
 * A reader takes what it does not know by its length and skips it. */
#ifndef NATBED_CAPSTREAM_H
#define NATBED_CAPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#define CAPSTREAM_HDR_LEN  8
#define CAPSTREAM_LOST_LEN 8
/* the longest frame: a pcap record header and a 65535-byte snapshot */
#define CAPSTREAM_FRAME_MAX (16 + 65535)

enum capstream_type {
	CAPSTREAM_PCAP = 1,
	CAPSTREAM_LOST = 2,
};

static inline void capstream_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t capstream_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Writes a frame header of type and len into p[0..CAPSTREAM_HDR_LEN). */
static inline void capstream_hdr(uint8_t *p, enum capstream_type type, uint32_t len)
{
	capstream_put32(p, (uint32_t)type);
	capstream_put32(p + 4, len);
}

/* The uint64 of a LOST frame's payload p[0..CAPSTREAM_LOST_LEN). */
static inline uint64_t capstream_lost(const uint8_t *p)
{
	return (uint64_t)capstream_get32(p) << 32 | capstream_get32(p + 4);
}

/* Writes n into a LOST frame's payload p[0..CAPSTREAM_LOST_LEN). */
static inline void capstream_put_lost(uint8_t *p, uint64_t n)
{
	capstream_put32(p, (uint32_t)(n >> 32));
	capstream_put32(p + 4, (uint32_t)n);
}

#endif
