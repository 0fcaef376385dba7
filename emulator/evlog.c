#include "evlog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define EVLOG_BUF (1 << 20)

struct evlog {
	FILE *f;
	char *buf;
};

struct evlog *evlog_open(const char *path, char *err, size_t errlen)
{
	struct evlog *e = calloc(1, sizeof(*e));

	if (!e || !(e->f = fopen(path, "ae"))) {
		snprintf(err, errlen, "%s: cannot open the event log", path);
		free(e);
		return NULL;
	}
	e->buf = malloc(EVLOG_BUF);
	if (e->buf)
		setvbuf(e->f, e->buf, _IOFBF, EVLOG_BUF);
	return e;
}

void evlog_close(struct evlog *e)
{
	if (!e)
		return;
	fclose(e->f);
	free(e->buf);
	free(e);
}

void evlog_write(struct evlog *e, natbed_time_t now, const char *event, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	fprintf(e->f, "{\"t_ns\":%lld,\"event\":\"%s\"", (long long)now, event);
	if (fmt && *fmt) {
		fputc(',', e->f);
		va_start(ap, fmt);
		vfprintf(e->f, fmt, ap);
		va_end(ap);
	}
	fputs("}\n", e->f);
}

void evlog_flush(struct evlog *e)
{
	if (e)
		fflush(e->f);
}
