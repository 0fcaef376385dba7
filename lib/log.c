#include "natbed/log.h"

#include <stdarg.h>
#include <stdio.h>

static const char *log_prog = "natbed";
static enum log_level log_max = LOG_LVL_INFO;

void log_init(const char *prog, enum log_level max)
{
	log_prog = prog;
	log_max = max;
}

bool log_wants(enum log_level lvl)
{
	return lvl <= log_max;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	va_list ap;

	if (lvl > log_max)
		return;
	fprintf(stderr, "%s: %s: ", log_prog, names[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
