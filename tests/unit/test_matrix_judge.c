/* natbed matrix's judge (cli/matrix_judge.c) on captures the test writes:
 * UDP both ways with the peer's public address is direct, relayed data
 * both ways with the TURN server on both sides is relayed, and nothing
 * less (one way, another port, outside the window, TURN's own business)
 * counts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matrix_judge.h"
#include "matrix_plan.h"
#include "pcapgen.h"

#define MS ((int64_t)1000000)
#define S  (1000 * MS)
#define T0 ((int64_t)1700000000 * S)

/* The hosts of plan "port-restricted,symmetric" (matrix_plan.c). */
#define PR   "192.168.101.10"
#define PR_N "203.0.113.101"
#define SYM  "192.168.102.10"
#define SY_N "203.0.113.102"
#define PUB  "198.51.100.31"
#define LAN1 "192.168.200.10"
#define LAN2 "192.168.200.11"
#define LANN "203.0.113.200"
#define TURN "198.51.100.50"

enum { C_PR, C_SYM, C_PUB, C_LAN1, C_LAN2, N_C };
static const char *const cap_names[N_C] = {"pr", "sym", "pub", "lan1", "lan2"};

struct fixture {
	char dir[64];
	struct mx_plan plan;
	struct topo *t;
	pcap_t *dead;
	pcap_dumper_t *d[N_C];
	uint16_t ipid;
};

static void udp(struct fixture *x, int c, int64_t t, const char *s, uint16_t sp, const char *d,
		uint16_t dp, const uint8_t *payload, size_t len)
{
	static const uint8_t plain[] = "hello";

	if (!payload) {
		payload = plain;
		len = sizeof(plain) - 1;
	}
	pcapgen_udp(x->d[c], t, s, sp, d, dp, payload, len, ++x->ipid, 64);
}

/* A STUN header (RFC 8489 §5) of type, no attribute. */
static const uint8_t *stun(uint16_t type, uint8_t buf[20])
{
	memset(buf, 0, 20);
	buf[0] = (uint8_t)(type >> 8);
	buf[1] = (uint8_t)type;
	buf[4] = 0x21, buf[5] = 0x12, buf[6] = 0xa4, buf[7] = 0x42;
	buf[19] = 7;
	return buf;
}

static const uint8_t channel_data[] = {0x40, 0x00, 0x00, 0x04, 'd', 'a', 't', 'a'};

/* Every capture of the run; the judge loaded from them. */
static struct mx_judge *written(struct fixture *x, uint16_t turn_port)
{
	char err[256];
	struct in_addr turn;
	struct mx_judge *j;

	for (int c = 0; c < N_C; c++) {
		pcap_dump_close(x->d[c]);
		x->d[c] = NULL;
	}
	inet_pton(AF_INET, TURN, &turn);
	j = mx_judge_load(x->dir, x->t, turn.s_addr, turn_port, err, sizeof(err));
	if (!j)
		fail_msg("%s", err);
	return j;
}

static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	char *buf = NULL, err[TOPO_ERR_MAX], path[128];
	size_t len = 0;
	FILE *f;

	assert_non_null(x);
	assert_int_equal(
	    mx_plan_build("port-restricted,symmetric", true, &x->plan, err, sizeof(err)), 0);
	f = open_memstream(&buf, &len);
	assert_int_equal(mx_plan_yaml(&x->plan, f), 0);
	fclose(f);
	assert_int_equal(topo_load_string(buf, len, "t.yaml", NULL, &x->t, err, sizeof(err)), 0);
	free(buf);
	snprintf(x->dir, sizeof(x->dir), "/tmp/natbed-judge.XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	x->dead = pcapgen_dead();
	for (int c = 0; c < N_C; c++) {
		snprintf(path, sizeof(path), "%s/%s.pcap", x->dir, cap_names[c]);
		assert_non_null(x->d[c] = pcap_dump_open(x->dead, path));
	}
	*state = x;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *x = *state;

	for (int c = 0; c < N_C; c++)
		if (x->d[c])
			pcap_dump_close(x->d[c]);
	pcap_close(x->dead);
	nftw(x->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	topo_free(x->t);
	mx_plan_free(&x->plan);
	free(x);
	return 0;
}

static int host(const struct fixture *x, const char *name)
{
	int h = topo_host_find(x->t, name);

	assert_true(h >= 0);
	return h;
}

/* pr and sym through their NATs: both ways on both, 100 ms on. */
static void direct_pair(struct fixture *x, int64_t t)
{
	udp(x, C_PR, t + 100 * MS, PR, 5000, SY_N, 7000, NULL, 0);
	udp(x, C_SYM, t + 110 * MS, SYM, 6000, PR_N, 5000, NULL, 0);
	udp(x, C_SYM, t + 120 * MS, PR_N, 5000, SYM, 6000, NULL, 0);
	udp(x, C_PR, t + 150 * MS, SY_N, 7000, PR, 5000, NULL, 0);
}

static void test_direct(void **state)
{
	struct fixture *x = *state;
	struct mx_judge *j;
	struct mx_verdict v;

	direct_pair(x, T0);
	j = written(x, MX_TURN_PORT);
	mx_judge_pair(j, host(x, "pr"), host(x, "sym"), T0, T0 + 10 * S, &v);
	assert_int_equal(v.path, MX_PATH_DIRECT);
	assert_string_equal(mx_path_name(v.path), "direct");
	assert_string_equal(v.local, PR ":5000");
	assert_string_equal(v.remote, SY_N ":7000");
	assert_true(fabs(v.setup_ms - 150) < 1e-6); /* pr's answer came last */
	/* the same packets outside the window are not this pair's */
	mx_judge_pair(j, host(x, "pr"), host(x, "sym"), T0 + 120 * MS, T0 + 10 * S, &v);
	assert_int_equal(v.path, MX_PATH_NONE);
	assert_true(isnan(v.setup_ms));
	assert_string_equal(v.local, "");
	assert_non_null(strstr(v.why, "no UDP both ways between pr and " SY_N));
	mx_judge_free(j);
}

static void test_one_way_or_other_port_is_none(void **state)
{
	struct fixture *x = *state;
	struct mx_judge *j;
	struct mx_verdict v;

	/* pr both ways; sym only sends */
	udp(x, C_PR, T0 + 100 * MS, PR, 5000, SY_N, 7000, NULL, 0);
	udp(x, C_PR, T0 + 150 * MS, SY_N, 7000, PR, 5000, NULL, 0);
	udp(x, C_SYM, T0 + 110 * MS, SYM, 6000, PR_N, 5000, NULL, 0);
	/* later: both receive, but pr's answers come from another port */
	udp(x, C_PR, T0 + 20 * S, PR, 5000, SY_N, 7000, NULL, 0);
	udp(x, C_PR, T0 + 20 * S + MS, SY_N, 7001, PR, 5000, NULL, 0);
	udp(x, C_SYM, T0 + 20 * S, SYM, 6000, PR_N, 5000, NULL, 0);
	udp(x, C_SYM, T0 + 20 * S + MS, PR_N, 5000, SYM, 6000, NULL, 0);
	j = written(x, MX_TURN_PORT);
	mx_judge_pair(j, host(x, "pr"), host(x, "sym"), T0, T0 + 10 * S, &v);
	assert_int_equal(v.path, MX_PATH_NONE);
	assert_non_null(strstr(v.why, "no UDP both ways between sym and " PR_N));
	assert_null(strstr(v.why, "between pr"));
	assert_non_null(strstr(v.why, "no relayed data"));
	mx_judge_pair(j, host(x, "pr"), host(x, "sym"), T0 + 20 * S, T0 + 30 * S, &v);
	assert_int_equal(v.path, MX_PATH_NONE);
	assert_non_null(strstr(v.why, "between pr and " SY_N));
	mx_judge_free(j);
}

/* The allocation's own business both ways: no relayed data. */
static void control(struct fixture *x, int c, int64_t t, const char *addr, uint16_t port)
{
	uint8_t b[20];

	udp(x, c, t, addr, port, TURN, MX_TURN_PORT, stun(0x0003, b), 20);	/* Allocate */
	udp(x, c, t + MS, TURN, MX_TURN_PORT, addr, port, stun(0x0103, b), 20); /* its success */
	udp(x, c, t + 2 * MS, addr, port, TURN, MX_TURN_PORT, stun(0x0009, b),
	    20); /* ChannelBind */
	udp(x, c, t + 3 * MS, TURN, MX_TURN_PORT, addr, port, stun(0x0109, b), 20);
}

static void test_relayed(void **state)
{
	struct fixture *x = *state;
	struct mx_judge *j, *no_turn;
	struct mx_verdict v;
	uint8_t b[20];

	/* pr: ChannelData both ways on the server's port; pub: Send and Data
	 * indications, and datagrams with a relayed address */
	control(x, C_PR, T0, PR, 5000);
	udp(x, C_PR, T0 + 200 * MS, PR, 5000, TURN, MX_TURN_PORT, channel_data,
	    sizeof(channel_data));
	udp(x, C_PR, T0 + 300 * MS, TURN, MX_TURN_PORT, PR, 5000, channel_data,
	    sizeof(channel_data));
	control(x, C_PUB, T0, PUB, 4000);
	udp(x, C_PUB, T0 + 220 * MS, PUB, 4000, TURN, MX_TURN_PORT, stun(0x0016, b), 20);
	udp(x, C_PUB, T0 + 250 * MS, TURN, 50000, PUB, 4001, NULL, 0);
	udp(x, C_PUB, T0 + 260 * MS, PUB, 4001, TURN, 50000, NULL, 0);
	/* the allocation's business alone, on sym and pub later */
	control(x, C_SYM, T0 + 20 * S, SYM, 6000);
	control(x, C_PUB, T0 + 20 * S, PUB, 4000);
	j = written(x, MX_TURN_PORT);
	mx_judge_pair(j, host(x, "pr"), host(x, "pub"), T0, T0 + 10 * S, &v);
	assert_int_equal(v.path, MX_PATH_RELAYED);
	assert_string_equal(mx_path_name(v.path), "relayed");
	assert_string_equal(v.local, PR ":5000");
	assert_string_equal(v.remote, TURN ":3478");
	assert_true(fabs(v.setup_ms - 300) < 1e-6);
	mx_judge_pair(j, host(x, "sym"), host(x, "pub"), T0 + 20 * S, T0 + 30 * S, &v);
	assert_int_equal(v.path, MX_PATH_NONE);
	mx_judge_free(j);
	/* without a TURN server, nothing is relayed */
	no_turn = mx_judge_load(x->dir, x->t, 0, 0, v.why, sizeof(v.why));
	assert_non_null(no_turn);
	mx_judge_pair(no_turn, host(x, "pr"), host(x, "pub"), T0, T0 + 10 * S, &v);
	assert_int_equal(v.path, MX_PATH_NONE);
	assert_null(strstr(v.why, "relayed"));
	mx_judge_free(no_turn);
}

static void test_lan(void **state)
{
	struct fixture *x = *state;
	struct mx_judge *j;
	struct mx_verdict v;

	/* first through their NAT's address (no hairpin counts), then straight */
	udp(x, C_LAN1, T0 + 10 * MS, LAN1, 5000, LANN, 6000, NULL, 0);
	udp(x, C_LAN1, T0 + 11 * MS, LANN, 6000, LAN1, 5000, NULL, 0);
	udp(x, C_LAN2, T0 + 12 * MS, LAN2, 6000, LANN, 5000, NULL, 0);
	udp(x, C_LAN2, T0 + 13 * MS, LANN, 5000, LAN2, 6000, NULL, 0);
	udp(x, C_LAN1, T0 + 20 * S, LAN1, 5000, LAN2, 6000, NULL, 0);
	udp(x, C_LAN2, T0 + 20 * S + 2 * MS, LAN1, 5000, LAN2, 6000, NULL, 0);
	udp(x, C_LAN2, T0 + 20 * S + 3 * MS, LAN2, 6000, LAN1, 5000, NULL, 0);
	udp(x, C_LAN1, T0 + 20 * S + 5 * MS, LAN2, 6000, LAN1, 5000, NULL, 0);
	j = written(x, MX_TURN_PORT);
	mx_judge_pair(j, host(x, "lan1"), host(x, "lan2"), T0, T0 + 10 * S, &v);
	assert_int_equal(v.path, MX_PATH_NONE);
	assert_non_null(strstr(v.why, "between lan1 and " LAN2));
	mx_judge_pair(j, host(x, "lan1"), host(x, "lan2"), T0 + 20 * S, T0 + 30 * S, &v);
	assert_int_equal(v.path, MX_PATH_DIRECT);
	assert_string_equal(v.remote, LAN2 ":6000");
	assert_true(fabs(v.setup_ms - 5) < 1e-6);
	mx_judge_free(j);
}

static void test_unreadable(void **state)
{
	struct fixture *x = *state;
	char path[128], err[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/pr.pcap", x->dir);
	pcap_dump_close(x->d[C_PR]);
	x->d[C_PR] = NULL;
	assert_non_null(f = fopen(path, "w"));
	fputs("not a pcap", f);
	fclose(f);
	assert_null(mx_judge_load(x->dir, x->t, 0, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "pr.pcap"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_direct, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_way_or_other_port_is_none, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relayed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lan, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
