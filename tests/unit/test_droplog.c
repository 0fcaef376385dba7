/* emulator/droplog: a line per drop, rate-limited, the rest counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "droplog.h"

struct t_count {
	unsigned drops, reports;
	unsigned long long suppressed; /* summed over the report lines */
	char first[512];	       /* the first drop line */
};

static void t_read(const char *path, struct t_count *c)
{
	FILE *fp = fopen(path, "r");
	char line[512];
	const char *k;

	memset(c, 0, sizeof(*c));
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		if (strstr(line, "\"event\":\"drop\"")) {
			if (!c->drops++)
				snprintf(c->first, sizeof(c->first), "%s", line);
		} else if ((k = strstr(line, "\"event\":\"drops_suppressed\",\"count\":"))) {
			c->reports++;
			c->suppressed += strtoull(
			    k + strlen("\"event\":\"drops_suppressed\",\"count\":"), NULL, 10);
		}
	}
	fclose(fp);
}

/* The line says where, what flow, why, and the step's own members. */
static void test_line(void **state)
{
	char path[] = "/tmp/natbed-droplog-XXXXXX";
	int fd = mkstemp(path);
	char err[128];
	struct evlog *ev = evlog_open(path, err, sizeof(err));
	struct droplog *d = droplog_new(&(struct droplog_cfg){.ev = ev});
	struct flow_tuple t = {htonl(0xc6336401), htonl(0xcb00710a), htons(3479), htons(40000), 17};
	struct t_count c;

	(void)state;
	assert_true(fd >= 0);
	droplog_write(d, 5, "stun", &t, "filtered", "nat", "\"nat\":\"home\"");
	droplog_write(d, 6, NULL, NULL, "malformed", "malformed", NULL);
	droplog_free(d);
	evlog_close(ev);
	t_read(path, &c);
	assert_int_equal(c.drops, 2);
	assert_string_equal(c.first,
			    "{\"t_ns\":5,\"event\":\"drop\",\"port\":\"stun\","
			    "\"src\":\"198.51.100.1\",\"dst\":\"203.0.113.10\","
			    "\"proto\":17,\"sport\":3479,\"dport\":40000,"
			    "\"reason\":\"filtered\",\"counter\":\"nat\",\"nat\":\"home\"}\n");
	assert_int_equal(c.reports, 0); /* nothing was left out */
	close(fd);
	unlink(path);
}

/* A flood: the burst is written, the rest counted; when the bucket has
 * refilled, the count is reported before the next line; lines plus the
 * counts add up to every drop. */
static void test_flood(void **state)
{
	char path[] = "/tmp/natbed-droplog-XXXXXX";
	int fd = mkstemp(path);
	char err[128];
	struct evlog *ev = evlog_open(path, err, sizeof(err));
	struct droplog *d =
	    droplog_new(&(struct droplog_cfg){.ev = ev, .lines_per_s = 100, .burst = 10});
	struct flow_tuple t = {1, 2, 3, 4, 17};
	struct droplog_stats st;
	struct t_count c;
	natbed_time_t now = 0;
	unsigned i;

	(void)state;
	for (i = 0; i < 1000; i++) /* 1000 drops in 100 ms */
		droplog_write(d, now += 100 * NATBED_NS_PER_US, "a", &t, "filtered", "nat", NULL);
	droplog_get_stats(d, &st);
	assert_true(st.written >= 10 && st.written <= 10 + 10 + 1); /* burst + 100 ms at 100/s */
	assert_int_equal(st.written + st.suppressed, 1000);
	evlog_flush(ev);
	t_read(path, &c);
	/* each line after the burst came with the count left out before it */
	assert_int_equal(c.reports, st.written - 10);
	assert_true(c.drops + c.suppressed < 1000);	/* the last ones not yet */
	droplog_flush(d, now + NATBED_NS_PER_S, false); /* refilled: reported */
	evlog_flush(ev);
	t_read(path, &c);
	assert_int_equal(c.reports, st.written - 10 + 1);
	assert_int_equal(c.drops + c.suppressed, 1000);
	for (i = 0; i < 50; i++) /* a flood at one instant: 10 lines, the rest when freed */
		droplog_write(d, now + 2 * NATBED_NS_PER_S, "a", &t, "filtered", "nat", NULL);
	droplog_free(d);
	evlog_close(ev);
	t_read(path, &c);
	assert_int_equal(c.reports, st.written - 10 + 2);
	assert_int_equal(c.drops + c.suppressed, 1050);
	close(fd);
	unlink(path);
	droplog_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line),
	    cmocka_unit_test(test_flood),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
