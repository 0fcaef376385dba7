/* natbed cli: bytes gathered in memory to be written with one fwrite, for
 * the files natbed writes in bulk (results.json and results.csv, natbed
 * sim's checkpoints): stdio's cost per call (its lock, its checks), some
 * thirty calls an attempt, was most of the time writing a million
 * attempts took. */
#ifndef NATBED_CLI_RWBUF_H
#define NATBED_CLI_RWBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct rw_buf {
	char *p;
	size_t len, cap;
	bool failed; /* out of memory: what was put since is lost */
};

/* Bytes are written to a file by this many at least (rw_flush). */
#define RW_FLUSH_AT 65536

/* Makes room for n more bytes in b. 0, or -ENOMEM (b->failed set). */
int rw_grow(struct rw_buf *b, size_t n);

/* Inline: called for every piece of every attempt, mostly a few bytes. */
static inline void rw_putn(struct rw_buf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap && rw_grow(b, n) < 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* rw_puts and rw_putc take their arguments in fputs's and fputc's order. */
static inline void rw_puts(const char *s, struct rw_buf *b)
{
	rw_putn(b, s, strlen(s));
}

static inline void rw_putc(int c, struct rw_buf *b)
{
	char ch = (char)c;

	rw_putn(b, &ch, 1);
}

/* For what is rare (an exit status, a control character). */
__attribute__((format(printf, 2, 3))) void rw_printf(struct rw_buf *b, const char *fmt, ...);

/* Writes b's bytes to f and empties b. 0, or -EIO / -ENOMEM. */
int rw_flush(struct rw_buf *b, FILE *f);

/* Frees b's bytes; b is empty again. */
void rw_free(struct rw_buf *b);

#endif
