/* natbed cli: bytes gathered in memory to be written with one fwrite
 * (rwbuf.h). */
#include "rwbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

int rw_grow(struct rw_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	while (cap < b->len + n)
		cap *= 2;
	if (!(p = realloc(b->p, cap))) {
		b->failed = true;
		return -ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void rw_printf(struct rw_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		b->failed = true;
	else
		rw_putn(b, tmp, (size_t)n);
}

int rw_flush(struct rw_buf *b, FILE *f)
{
	int rc = b->failed ? -ENOMEM : 0;

	if (rc == 0 && b->len && fwrite(b->p, 1, b->len, f) != b->len)
		rc = -EIO;
	b->len = 0;
	b->failed = false;
	return rc;
}

void rw_free(struct rw_buf *b)
{
	free(b->p);
	*b = (struct rw_buf){0};
}
