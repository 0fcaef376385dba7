#include "droplog.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

struct droplog {
	struct droplog_cfg cfg;
	double tokens; /* lines the bucket allows now */
	natbed_time_t last_ns;
	struct droplog_stats st;
	uint64_t pending; /* suppressed since the last report */
	natbed_time_t first_ns, latest_ns;
};

struct droplog *droplog_new(const struct droplog_cfg *cfg)
{
	struct droplog *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->cfg = *cfg;
	if (!d->cfg.lines_per_s)
		d->cfg.lines_per_s = DROPLOG_LINES_PER_S;
	if (!d->cfg.burst)
		d->cfg.burst = DROPLOG_BURST;
	d->tokens = d->cfg.burst;
	d->last_ns = cfg->start_ns;
	return d;
}

void droplog_free(struct droplog *d)
{
	if (!d)
		return;
	droplog_flush(d, d->latest_ns, true);
	free(d);
}

/* Refills the bucket for the time since the last look. */
static void droplog_refill(struct droplog *d, natbed_time_t now)
{
	if (now > d->last_ns) {
		d->tokens += (double)(now - d->last_ns) * d->cfg.lines_per_s / NATBED_NS_PER_S;
		if (d->tokens > d->cfg.burst)
			d->tokens = d->cfg.burst;
		d->last_ns = now;
	}
}

static void droplog_report(struct droplog *d, natbed_time_t now)
{
	evlog_write(
	    d->cfg.ev, now, "drops_suppressed", "\"count\":%llu,\"first_ns\":%lld,\"last_ns\":%lld",
	    (unsigned long long)d->pending, (long long)d->first_ns, (long long)d->latest_ns);
	d->pending = 0;
}

void droplog_flush(struct droplog *d, natbed_time_t now, bool force)
{
	droplog_refill(d, now);
	if (d->pending && (force || d->tokens >= 1.0))
		droplog_report(d, now > d->latest_ns ? now : d->latest_ns);
}

void droplog_write(struct droplog *d, natbed_time_t now, const char *port,
		   const struct flow_tuple *t, const char *reason, const char *counter,
		   const char *extra)
{
	char src[INET_ADDRSTRLEN] = "", dst[INET_ADDRSTRLEN] = "", where[64] = "";

	if (now > d->latest_ns)
		d->latest_ns = now;
	droplog_refill(d, now);
	if (d->tokens < 1.0) {
		if (!d->pending++)
			d->first_ns = now;
		d->st.suppressed++;
		return;
	}
	d->tokens -= 1.0;
	if (d->pending)
		droplog_report(d, now);
	d->st.written++;
	if (port)
		snprintf(where, sizeof(where), "\"port\":\"%s\",", port);
	if (!t) {
		evlog_write(d->cfg.ev, now, "drop", "%s\"reason\":\"%s\",\"counter\":\"%s\"%s%s",
			    where, reason, counter, extra ? "," : "", extra ? extra : "");
		return;
	}
	inet_ntop(AF_INET, &t->src, src, sizeof(src));
	inet_ntop(AF_INET, &t->dst, dst, sizeof(dst));
	evlog_write(d->cfg.ev, now, "drop",
		    "%s\"src\":\"%s\",\"dst\":\"%s\",\"proto\":%u,\"sport\":%u,\"dport\":%u,"
		    "\"reason\":\"%s\",\"counter\":\"%s\"%s%s",
		    where, src, dst, t->proto, ntohs(t->sport), ntohs(t->dport), reason, counter,
		    extra ? "," : "", extra ? extra : "");
}

void droplog_get_stats(const struct droplog *d, struct droplog_stats *st)
{
	*st = d->st;
}
