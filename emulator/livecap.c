/* natbed-emu live capture: per viewer, one linear buffer (unsent bytes
 * buf[head..tail), moved down when the tail reaches the end) and two
 * events: writable (armed while bytes wait) and readable (the viewer's
 * end of the socket closing). */
#include "livecap.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natbed/capstream.h"
#include "natbed/log.h"
#include "pcapw.h"

#define LC_NONE	    ((size_t)-1)
#define LC_LOST_LEN (CAPSTREAM_HDR_LEN + CAPSTREAM_LOST_LEN)
#define LC_REC_MAX  (CAPSTREAM_HDR_LEN + PCAPW_REC_HDR_LEN + PCAPW_SNAPLEN)
#define LC_SCRATCH  256 /* bytes read at once from a viewer, and dropped */
#define LC_HEAD_MAX 4096

struct lc_viewer {
	struct livecap *lc;
	uint32_t id; /* 0: a free slot */
	size_t view;
	int fd;
	struct event *wev, *rev;
	bool armed;
	uint8_t *buf;
	size_t head, tail;
	size_t lost_at; /* where the unsent LOST frame ending the buffer starts, or LC_NONE */
	uint64_t records, bytes, lost;
};

struct livecap {
	struct event_base *base;
	size_t n_views, cap;
	unsigned *watchers; /* per view: its viewers */
	uint32_t last_id;
	struct lc_viewer v[LIVECAP_VIEWERS_MAX];
};

static void lc_close(struct lc_viewer *v)
{
	if (!v->id)
		return;
	event_free(v->wev);
	event_free(v->rev);
	close(v->fd);
	free(v->buf);
	v->lc->watchers[v->view]--;
	memset(v, 0, sizeof(*v));
}

/* Room for n more bytes at the tail, moving the unsent ones down if the
 * end is near; the caller checked that n fits in the free space. */
static uint8_t *lc_tail(struct lc_viewer *v, size_t n)
{
	if (v->tail + n > v->lc->cap) {
		memmove(v->buf, v->buf + v->head, v->tail - v->head);
		if (v->lost_at != LC_NONE)
			v->lost_at = v->lost_at >= v->head ? v->lost_at - v->head : LC_NONE;
		v->tail -= v->head;
		v->head = 0;
	}
	v->tail += n;
	return v->buf + v->tail - n;
}

static size_t lc_room(const struct lc_viewer *v)
{
	return v->lc->cap - (v->tail - v->head);
}

static void lc_arm(struct lc_viewer *v)
{
	if (!v->armed && event_add(v->wev, NULL) == 0)
		v->armed = true;
}

/* A record did not fit: count it, and say so in the stream. Every record
 * admitted left room for one LOST frame, so there is one at the tail to
 * update, or room to add it. */
static void lc_lost(struct lc_viewer *v)
{
	uint8_t *p;

	v->lost++;
	if (v->lost_at != LC_NONE && v->lost_at >= v->head && v->lost_at + LC_LOST_LEN == v->tail) {
		capstream_put_lost(v->buf + v->lost_at + CAPSTREAM_HDR_LEN, v->lost);
		return;
	}
	if (lc_room(v) < LC_LOST_LEN)
		return;
	p = lc_tail(v, LC_LOST_LEN);
	v->lost_at = (size_t)(p - v->buf);
	capstream_hdr(p, CAPSTREAM_LOST, CAPSTREAM_LOST_LEN);
	capstream_put_lost(p + CAPSTREAM_HDR_LEN, v->lost);
	lc_arm(v);
}

/* Sends what the socket takes. 0, or -1 when the viewer is gone (closed). */
static int lc_send(struct lc_viewer *v)
{
	ssize_t n;

	while (v->head < v->tail) {
		n = send(v->fd, v->buf + v->head, v->tail - v->head, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0) {
			log_debug("live capture %u: send: %s; viewer gone", v->id,
				  n < 0 ? strerror(errno) : "nothing sent");
			lc_close(v);
			return -1;
		}
		v->head += (size_t)n;
		v->bytes += (uint64_t)n;
	}
	v->head = v->tail = 0;
	v->lost_at = LC_NONE;
	if (v->armed && event_del(v->wev) == 0)
		v->armed = false;
	return 0;
}

static void lc_writable_cb(evutil_socket_t fd, short what, void *arg)
{
	lc_send(arg);
}

/* The viewer sends nothing; its end closing (EOF, reset) ends it. */
static void lc_readable_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lc_viewer *v = arg;
	uint8_t scratch[LC_SCRATCH];
	ssize_t n = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		lc_close(v);
}

struct livecap *livecap_new(struct event_base *base, size_t n_views, size_t buf_bytes)
{
	struct livecap *lc;

	if (!buf_bytes)
		buf_bytes = LIVECAP_BUF;
	if (buf_bytes < LC_HEAD_MAX + LC_REC_MAX + LC_LOST_LEN)
		return NULL;
	lc = calloc(1, sizeof(*lc));
	if (!lc || !(lc->watchers = calloc(n_views ? n_views : 1, sizeof(*lc->watchers)))) {
		free(lc);
		return NULL;
	}
	lc->base = base;
	lc->n_views = n_views;
	lc->cap = buf_bytes;
	return lc;
}

void livecap_free(struct livecap *lc)
{
	size_t i;

	if (!lc)
		return;
	for (i = 0; i < LIVECAP_VIEWERS_MAX; i++) {
		if (!lc->v[i].id)
			continue;
		/* what fits now, the LOST count included: the emulator is leaving */
		if (lc_send(&lc->v[i]) == 0)
			lc_close(&lc->v[i]);
	}
	free(lc->watchers);
	free(lc);
}

static struct lc_viewer *lc_slot(struct livecap *lc)
{
	for (size_t i = 0; i < LIVECAP_VIEWERS_MAX; i++)
		if (!lc->v[i].id)
			return &lc->v[i];
	return NULL;
}

int livecap_attach(struct livecap *lc, size_t view, int fd, const void *head, size_t head_len,
		   uint32_t *id)
{
	struct lc_viewer *v;
	int fl;

	if (view >= lc->n_views || head_len > LC_HEAD_MAX)
		return -EINVAL;
	if (!(v = lc_slot(lc)))
		return -EBUSY;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	v->lc = lc;
	v->fd = fd;
	v->view = view;
	v->lost_at = LC_NONE;
	v->buf = malloc(lc->cap);
	v->wev = event_new(lc->base, fd, EV_WRITE | EV_PERSIST, lc_writable_cb, v);
	v->rev = event_new(lc->base, fd, EV_READ | EV_PERSIST, lc_readable_cb, v);
	if (!v->buf || !v->wev || !v->rev || event_add(v->rev, NULL) < 0) {
		if (v->wev)
			event_free(v->wev);
		if (v->rev)
			event_free(v->rev);
		free(v->buf);
		memset(v, 0, sizeof(*v));
		return -ENOMEM;
	}
	memcpy(lc_tail(v, head_len), head, head_len);
	capstream_hdr(lc_tail(v, CAPSTREAM_HDR_LEN), CAPSTREAM_PCAP, PCAPW_FILE_HDR_LEN);
	pcapw_file_header(lc_tail(v, PCAPW_FILE_HDR_LEN));
	v->id = lc->last_id = livecap_next_id(lc);
	lc->watchers[view]++;
	lc_arm(v);
	*id = v->id;
	return 0;
}

uint32_t livecap_next_id(const struct livecap *lc)
{
	return lc->last_id + 1 ? lc->last_id + 1 : 1; /* 0 names no viewer */
}

static struct lc_viewer *lc_find(struct livecap *lc, uint32_t id)
{
	for (size_t i = 0; id && i < LIVECAP_VIEWERS_MAX; i++)
		if (lc->v[i].id == id)
			return &lc->v[i];
	return NULL;
}

static void lc_stats(const struct lc_viewer *v, struct livecap_stats *st)
{
	st->id = v->id;
	st->view = v->view;
	st->records = v->records;
	st->bytes = v->bytes;
	st->lost = v->lost;
	st->queued = v->tail - v->head;
}

int livecap_detach(struct livecap *lc, uint32_t id, struct livecap_stats *st)
{
	struct lc_viewer *v = lc_find(lc, id);

	if (!v)
		return -ENOENT;
	if (st)
		lc_stats(v, st);
	lc_close(v);
	return 0;
}

/* The record into one viewer's buffer, or counted lost. */
static void lc_record(struct lc_viewer *v, const uint8_t *frame, size_t len, natbed_time_t wall_ns)
{
	size_t cap = len < PCAPW_SNAPLEN ? len : PCAPW_SNAPLEN;
	size_t need = CAPSTREAM_HDR_LEN + PCAPW_REC_HDR_LEN + cap;
	uint8_t *p;

	/* a LOST frame must still fit after it (lc_lost) */
	if (lc_room(v) < need + LC_LOST_LEN) {
		lc_lost(v);
		return;
	}
	p = lc_tail(v, need);
	capstream_hdr(p, CAPSTREAM_PCAP, (uint32_t)(need - CAPSTREAM_HDR_LEN));
	pcapw_record_header(p + CAPSTREAM_HDR_LEN, len, wall_ns);
	memcpy(p + CAPSTREAM_HDR_LEN + PCAPW_REC_HDR_LEN, frame, cap);
	v->lost_at = LC_NONE;
	v->records++;
	lc_arm(v);
}

void livecap_write(struct livecap *lc, size_t view, const uint8_t *frame, size_t len,
		   natbed_time_t wall_ns)
{
	if (!lc || view >= lc->n_views || !lc->watchers[view])
		return;
	for (size_t i = 0; i < LIVECAP_VIEWERS_MAX; i++)
		if (lc->v[i].id && lc->v[i].view == view)
			lc_record(&lc->v[i], frame, len, wall_ns);
}

static int lc_by_id(const void *a, const void *b)
{
	const struct livecap_stats *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

size_t livecap_list(const struct livecap *lc, struct livecap_stats *st, size_t max)
{
	struct livecap_stats all[LIVECAP_VIEWERS_MAX];
	size_t i, n = 0;

	for (i = 0; i < LIVECAP_VIEWERS_MAX; i++)
		if (lc->v[i].id)
			lc_stats(&lc->v[i], &all[n++]);
	qsort(all, n, sizeof(all[0]), lc_by_id); /* attach order: ids grow */
	memcpy(st, all, (n < max ? n : max) * sizeof(all[0]));
	return n;
}
