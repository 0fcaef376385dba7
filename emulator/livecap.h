/* natbed-emu live capture: the records of a view (a host's port, a NAT's
 * outside: what HOST.pcap and NAT-wan.pcap get) streamed, as they are
 * captured, to the viewers attached to it (`natbed capture VIEW`, through
 * the control socket's "capture VIEW").
 *
 * Each viewer has a socket and a buffer of bounded size. A record goes
 * into the buffer whole, or is dropped and counted when it does not fit;
 * the buffer leaves with non-blocking sends whenever the socket takes
 * them. A viewer that reads slowly loses records; it never slows the
 * fabric, and one viewer's pace never touches another's. The stream is
 * natbed/capstream.h's: the pcap file header, then a frame per record, and
 * the count lost so far after each loss. */
#ifndef NATBED_EMU_LIVECAP_H
#define NATBED_EMU_LIVECAP_H

#include <stddef.h>
#include <stdint.h>

#include "natbed/clock.h"

#define LIVECAP_VIEWERS_MAX 16	      /* viewers at once, all views together */
#define LIVECAP_BUF	    (1 << 20) /* bytes waiting for one viewer, at most */

struct livecap;
struct event_base;

/* One viewer's counters. */
struct livecap_stats {
	uint32_t id;
	size_t view;
	uint64_t records; /* records queued for it */
	uint64_t bytes;	  /* stream bytes it took */
	uint64_t lost;	  /* records dropped: its buffer was full */
	size_t queued;	  /* bytes waiting in its buffer now */
};

/* Views 0..n_views-1, none watched; buf_bytes per viewer (0: LIVECAP_BUF;
 * at least a whole record of PCAPW_SNAPLEN bytes and its frames). NULL on
 * ENOMEM or a buf_bytes too small. */
struct livecap *livecap_new(struct event_base *base, size_t n_views, size_t buf_bytes);

/* Sends each viewer what fits of what it still has, with its count lost,
 * closes them all and frees lc. NULL is safe. */
void livecap_free(struct livecap *lc);

/* Attaches a viewer of view on fd (a connected stream socket, made
 * non-blocking here): head[0..head_len) goes first (the control socket's
 * answer), then the stream. On success lc owns fd, *id is the viewer's
 * (> 0) and 0 is returned; else fd stays the caller's and -EINVAL (no such
 * view, a head too long), -EBUSY (LIVECAP_VIEWERS_MAX viewers) or
 * -ENOMEM is returned. Nothing is sent before the loop runs again. */
int livecap_attach(struct livecap *lc, size_t view, int fd, const void *head, size_t head_len,
		   uint32_t *id);

/* The id the next livecap_attach() gives (for its head to name it). */
uint32_t livecap_next_id(const struct livecap *lc);

/* Detaches viewer id: fills *st (may be NULL) with its final counters,
 * closes its socket without sending more. 0, or -ENOENT. */
int livecap_detach(struct livecap *lc, uint32_t id, struct livecap_stats *st);

/* One record of view: a frame of len bytes captured at wall_ns, queued for
 * each of the view's viewers that has room (cut at PCAPW_SNAPLEN, as the
 * file gets it). A view nobody watches costs a test. */
void livecap_write(struct livecap *lc, size_t view, const uint8_t *frame, size_t len,
		   natbed_time_t wall_ns);

/* The counters of up to max viewers into st[], in attach order; returns
 * how many there are. */
size_t livecap_list(const struct livecap *lc, struct livecap_stats *st, size_t max);

#endif
