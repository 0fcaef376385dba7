/* bench/timing: how late natbed's scheduler delivers, beside the floor.
 *
 * For each rate R (packets/s): a generator event at t0 + i/R stands for a
 * packet arriving; it schedules the packet's delivery at now + delay on the
 * scheduler, driven in real time by libevent (what natbed-emu does). The
 * error of a delivery is the clock when its callback runs minus its due
 * time. The floor is the same wake-up error for a bare loop sleeping to
 * targets t0 + i/R with clock_nanosleep(TIMER_ABSTIME), and with a timerfd;
 * the better of the two is the floor.
 *
 * Usage: natbed-timing [-s SECONDS] [-d DELAY_MS] [-r RATE]... [-k SLACK_NS]
 * Prints a table, then a last line for the 10k packets/s rate (issue 5):
 *   natbed_p99_us floor_p99_us ratio
 */
#include <errno.h>
#include <stdbool.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "natbed/sched.h"

#define TIMING_RATES_MAX 8
#define TIMING_REF_RATE	 10000 /* the rate of the last line (issue 5 target) */

struct samples {
	int64_t *v;
	size_t n, cap;
};

static void samples_add(struct samples *s, int64_t x)
{
	if (s->n < s->cap)
		s->v[s->n++] = x;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The q-quantile in microseconds (samples sorted in place). */
static double samples_q_us(struct samples *s, double q)
{
	size_t i;

	if (s->n == 0)
		return -1;
	qsort(s->v, s->n, sizeof(s->v[0]), cmp_i64);
	i = (size_t)(q * (double)(s->n - 1));
	return (double)s->v[i] / 1000.0;
}

/* --- natbed: generator + deliveries on sched over libevent ------------- */

struct gen {
	struct sched *s;
	struct event_base *base;
	natbed_time_t t0, interval, delay, end, warm;
	uint64_t i;
	struct samples *err;
	size_t due_outstanding;
	bool gen_done;
	struct delivery *recs;
	size_t n_recs, cap_recs;
};

struct delivery {
	struct gen *g;
	natbed_time_t due;
};

static void deliver_cb(void *arg, natbed_time_t now)
{
	struct delivery *d = arg;
	struct gen *g = d->g;
	natbed_time_t late = clock_now(&clock_monotonic) - d->due;

	(void)now;
	if (d->due >= g->warm)
		samples_add(g->err, late);
	if (--g->due_outstanding == 0 && g->gen_done)
		event_base_loopbreak(g->base);
}

static void gen_cb(void *arg, natbed_time_t now)
{
	struct gen *g = arg;
	/* One record per packet, preallocated: no malloc in the timed path. */
	if (g->n_recs < g->cap_recs) {
		struct delivery *d = &g->recs[g->n_recs++];

		d->g = g;
		d->due = now + g->delay;
		if (sched_at(g->s, d->due, deliver_cb, d))
			g->due_outstanding++;
	}
	g->i++;
	if (g->t0 + (natbed_time_t)g->i * g->interval < g->end)
		sched_at(g->s, g->t0 + (natbed_time_t)g->i * g->interval, gen_cb, g);
	else
		g->gen_done = true;
}

static int run_natbed(uint64_t rate, double secs, natbed_time_t delay, struct samples *err)
{
	struct event_config *cfg = event_config_new();
	struct gen g = {0};
	struct timeval guard;
	int rc = -1;

	if (!cfg)
		return -1;
	/* timerfd-backed epoll timeouts and CLOCK_MONOTONIC, not the coarse
	 * clock: natbed-emu must build its base the same way. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	g.base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	g.s = sched_new(clock_monotonic, NULL);
	if (!g.base || !g.s || sched_attach(g.s, g.base) < 0)
		goto out;
	g.err = err;
	g.cap_recs = err->cap;
	g.recs = calloc(g.cap_recs, sizeof(*g.recs));
	if (!g.recs)
		goto out;
	g.interval = NATBED_NS_PER_S / (natbed_time_t)rate;
	g.delay = delay;
	g.t0 = clock_now(&clock_monotonic) + 10 * NATBED_NS_PER_MS;
	g.end = g.t0 + (natbed_time_t)(secs * NATBED_NS_PER_S);
	g.warm = g.t0 + delay + 100 * NATBED_NS_PER_MS; /* skip the first 100 ms */
	sched_at(g.s, g.t0, gen_cb, &g);
	guard.tv_sec = (time_t)secs + 5; /* the loop ends even if deliveries stall */
	guard.tv_usec = 0;
	event_base_loopexit(g.base, &guard);
	event_base_dispatch(g.base);
	rc = 0;
out:
	sched_free(g.s);
	free(g.recs);
	if (g.base)
		event_base_free(g.base);
	return rc;
}

/* --- the floor ---------------------------------------------------------- */

static struct timespec ns_ts(natbed_time_t t)
{
	struct timespec ts = {.tv_sec = t / NATBED_NS_PER_S, .tv_nsec = t % NATBED_NS_PER_S};

	return ts;
}

/* One floor loop: sleeps to each target t0 + i/R with sleep_to(); on each
 * wake-up, every target already passed is served (as the scheduler serves
 * every due event), its error being now - target. */
struct floor_loop {
	int (*sleep_to)(struct floor_loop *fl, natbed_time_t t);
	int fd;
};

static int floor_run(struct floor_loop *fl, uint64_t rate, double secs, struct samples *err)
{
	natbed_time_t interval = NATBED_NS_PER_S / (natbed_time_t)rate;
	natbed_time_t t0 = clock_now(&clock_monotonic) + 10 * NATBED_NS_PER_MS;
	natbed_time_t end = t0 + (natbed_time_t)(secs * NATBED_NS_PER_S);
	natbed_time_t warm = t0 + 100 * NATBED_NS_PER_MS;
	natbed_time_t t = t0;

	while (t < end) {
		natbed_time_t now;
		int rc = fl->sleep_to(fl, t);

		if (rc < 0)
			return rc;
		now = clock_now(&clock_monotonic);
		for (; t <= now && t < end; t += interval)
			if (t >= warm)
				samples_add(err, clock_now(&clock_monotonic) - t);
	}
	return 0;
}

static int sleep_nanosleep(struct floor_loop *fl, natbed_time_t t)
{
	struct timespec ts = ns_ts(t);
	int rc;

	(void)fl;
	do
		rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	while (rc == EINTR);
	return -rc;
}

static int sleep_timerfd(struct floor_loop *fl, natbed_time_t t)
{
	struct itimerspec its = {.it_value = ns_ts(t)};
	uint64_t expirations;

	if (timerfd_settime(fl->fd, TFD_TIMER_ABSTIME, &its, NULL) < 0 ||
	    read(fl->fd, &expirations, sizeof(expirations)) < 0)
		return -errno;
	return 0;
}

static int run_nanosleep(uint64_t rate, double secs, struct samples *err)
{
	struct floor_loop fl = {.sleep_to = sleep_nanosleep, .fd = -1};

	return floor_run(&fl, rate, secs, err);
}

static int run_timerfd(uint64_t rate, double secs, struct samples *err)
{
	struct floor_loop fl = {.sleep_to = sleep_timerfd};
	int rc;

	fl.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (fl.fd < 0)
		return -errno;
	rc = floor_run(&fl, rate, secs, err);
	close(fl.fd);
	return rc;
}

/* --- main --------------------------------------------------------------- */

struct result {
	uint64_t rate;
	double nb50, nb99, ns50, ns99, tf50, tf99;
	size_t n;
};

/* Alternates the three loops in rounds, so a change of machine load
 * during the run weighs on each alike. */
static int measure(uint64_t rate, double secs, int rounds, natbed_time_t delay, struct result *r)
{
	struct samples s[3];
	size_t cap = (size_t)((double)rate * secs) + 16;
	double part = secs / rounds;
	int rc = 0;

	for (int k = 0; k < 3; k++) {
		s[k] = (struct samples){.v = malloc(cap * sizeof(int64_t)), .cap = cap};
		if (!s[k].v)
			rc = -ENOMEM;
	}
	for (int i = 0; i < rounds && rc == 0; i++) {
		if (run_natbed(rate, part, delay, &s[0]) < 0 ||
		    run_nanosleep(rate, part, &s[1]) < 0 || run_timerfd(rate, part, &s[2]) < 0)
			rc = -1;
	}
	r->rate = rate;
	r->n = s[0].n;
	r->nb50 = samples_q_us(&s[0], 0.50);
	r->nb99 = samples_q_us(&s[0], 0.99);
	r->ns50 = samples_q_us(&s[1], 0.50);
	r->ns99 = samples_q_us(&s[1], 0.99);
	r->tf50 = samples_q_us(&s[2], 0.50);
	r->tf99 = samples_q_us(&s[2], 0.99);
	for (int k = 0; k < 3; k++)
		free(s[k].v);
	return rc;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-s SECONDS] [-n ROUNDS] [-d DELAY_MS] [-r RATE]... [-k SLACK_NS] [-f]\n"
		"  -f: run at SCHED_FIFO priority 50 (root), natbed and floor alike\n",
		prog);
}

int main(int argc, char **argv)
{
	uint64_t rates[TIMING_RATES_MAX] = {1000, 10000, 50000};
	size_t n_rates = 0;
	double secs = 3.0;
	long delay_ms = 50, slack = 1, rounds = 4;
	bool fifo = false;
	struct result res[TIMING_RATES_MAX];
	const struct result *ref = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "s:n:d:r:k:fh")) != -1) {
		if (opt == 's')
			secs = atof(optarg);
		else if (opt == 'd')
			delay_ms = atol(optarg);
		else if (opt == 'r' && n_rates < TIMING_RATES_MAX)
			rates[n_rates++] = strtoull(optarg, NULL, 10);
		else if (opt == 'k')
			slack = atol(optarg);
		else if (opt == 'n')
			rounds = atol(optarg);
		else if (opt == 'f')
			fifo = true;
		else {
			usage(argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (n_rates == 0)
		n_rates = 3;
	if (secs <= 0 || secs > 60 || delay_ms < 0 || slack < 1 || rounds < 1 || rounds > 100) {
		usage(argv[0]);
		return 2;
	}
	for (size_t i = 0; i < n_rates; i++)
		if (rates[i] == 0 || rates[i] > 1000000) {
			fprintf(stderr, "natbed-timing: rate must be 1..1000000\n");
			return 2;
		}
	/* Timer slack (50 us by default) delays every timed wake-up of this
	 * thread alike; natbed-emu sets it the same way. */
	if (prctl(PR_SET_TIMERSLACK, (unsigned long)slack, 0, 0, 0) < 0)
		perror("natbed-timing: PR_SET_TIMERSLACK");
	if (fifo &&
	    sched_setscheduler(0, SCHED_FIFO, &(struct sched_param){.sched_priority = 50}) < 0) {
		perror("natbed-timing: SCHED_FIFO");
		return 1;
	}
	printf("# delay %ld ms, %.1f s per rate and loop in %ld rounds, timer slack %ld ns, %s; "
	       "errors in us\n",
	       delay_ms, secs, rounds, slack, fifo ? "SCHED_FIFO 50" : "SCHED_OTHER");
	printf("%-8s %8s %12s %12s %12s %12s %12s %12s\n", "rate", "samples", "natbed_p50",
	       "natbed_p99", "nanosleep_p50", "nanosleep_p99", "timerfd_p50", "timerfd_p99");
	for (size_t i = 0; i < n_rates; i++) {
		struct result *r = &res[i];

		if (measure(rates[i], secs, (int)rounds, delay_ms * NATBED_NS_PER_MS, r) < 0) {
			fprintf(stderr, "natbed-timing: rate %llu failed\n",
				(unsigned long long)rates[i]);
			return 1;
		}
		printf("%-8llu %8zu %12.1f %12.1f %12.1f %12.1f %12.1f %12.1f\n",
		       (unsigned long long)r->rate, r->n, r->nb50, r->nb99, r->ns50, r->ns99,
		       r->tf50, r->tf99);
		fflush(stdout);
		if (r->rate == TIMING_REF_RATE || !ref)
			ref = r;
	}
	double floor99 = ref->ns99 < ref->tf99 ? ref->ns99 : ref->tf99;

	printf("# at %llu packets/s: natbed_p99_us floor_p99_us ratio (floor: the better of "
	       "nanosleep and timerfd)\n",
	       (unsigned long long)ref->rate);
	printf("%.1f %.1f %.2f\n", ref->nb99, floor99, floor99 > 0 ? ref->nb99 / floor99 : 0.0);
	return 0;
}
