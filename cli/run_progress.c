/* natbed run's progress bar. */
#include "run_progress.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#define BAR_WIDTH 24

void run_progress_init(struct run_progress *p, FILE *f)
{
	p->f = f && isatty(fileno(f)) ? f : NULL;
	p->drawn = false;
}

void run_progress_format(char *buf, size_t len, size_t done, size_t total, size_t ok, double left_s)
{
	char bar[BAR_WIDTH + 1], left[32];
	size_t fill = total ? done * BAR_WIDTH / total : 0, i;

	for (i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[BAR_WIDTH] = '\0';
	if (left_s < 0 || !isfinite(left_s))
		snprintf(left, sizeof(left), "time left unknown");
	else if (left_s >= 60)
		snprintf(left, sizeof(left), "~%.0f min %02.0f s left", floor(left_s / 60),
			 fmod(left_s, 60));
	else
		snprintf(left, sizeof(left), "~%.0f s left", ceil(left_s));
	snprintf(buf, len, "[%s] %zu/%zu connects, %zu connected, %s", bar, done, total, ok, left);
}

void run_progress_draw(struct run_progress *p, size_t done, size_t total, size_t ok, double elapsed,
		       double left_s)
{
	char line[160];

	if (!p->f || elapsed < RUN_PROGRESS_AFTER_S)
		return;
	run_progress_format(line, sizeof(line), done, total, ok, left_s);
	/* \r and erase-to-end: the line is redrawn where it stands */
	fprintf(p->f, "\r%s\033[K", line);
	fflush(p->f);
	p->drawn = true;
}

void run_progress_clear(struct run_progress *p)
{
	if (p->f && p->drawn) {
		fprintf(p->f, "\r\033[K");
		fflush(p->f);
	}
	p->drawn = false;
}
