/* Unit tests for agents/turn.c in virtual time, against a small TURN
 * server in this file: the 401 challenge and the key, a stale nonce (438)
 * asked again, refreshes on time, a 437 on refresh reported as an expired
 * allocation, a server that never answers (RFC 8489 retransmissions), a
 * wrong password, ChannelData both ways. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/clock.h"
#include "natbed/sched.h"
#include "natbed/stun.h"
#include "turn.h"

#define MS NATBED_NS_PER_MS
#define S  NATBED_NS_PER_S

/* --- a fake network of one client socket and a TURN server ------------------ */

struct fake {
	struct clock_virtual vc;
	struct sched *s;
	struct dgram dg;
	dg_recv_fn fn;
	void *arg;
	int open;
	/* the server */
	const char *pass;     /* its password for user "u" */
	int silent;	      /* answers nothing */
	int stale_at;	      /* answer the request of this count with 438 */
	int mismatch_refresh; /* answer a Refresh with 437 */
	int requests, refreshes, allocs, authed_allocs, channel_binds;
	uint32_t lifetime;
	uint8_t reply[1500];
	size_t reply_len;
	/* the client side of the test */
	int ready, bound, data_in;
	char failed[200];
	struct turn *t;
};

static struct dg_ep ep(const char *a, uint16_t port)
{
	struct dg_ep e;

	inet_pton(AF_INET, a, &e.addr);
	e.port = htons(port);
	return e;
}

static int f_open(void *io, const struct dg_ep *bind, struct dg_ep *local, dg_recv_fn fn, void *arg)
{
	struct fake *f = io;

	f->fn = fn;
	f->arg = arg;
	f->open = 1;
	*local = ep("192.168.1.10", 40000);
	return 0;
}

static void f_deliver(void *arg, natbed_time_t now)
{
	struct fake *f = arg;
	struct dg_ep from = ep("198.51.100.50", 3478);

	if (f->open)
		f->fn(f->arg, 0, &from, f->reply, f->reply_len, now);
}

/* Answers req as a TURN server would, 10 ms later. */
static void f_answer(struct fake *f, const struct stun_msg *m, int code, const char *nonce)
{
	struct stun_builder b;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	uint8_t key[STUN_MD5_LEN];
	uint32_t v;
	int n;

	stun_msg_build_init(&b, f->reply, sizeof(f->reply), m->method,
			    code ? STUN_CLASS_ERROR : STUN_CLASS_SUCCESS, m->txid, false);
	if (code) {
		stun_msg_build_error(&b, code,
				     code == 401   ? "Unauthorized"
				     : code == 438 ? "Stale Nonce"
						   : "Allocation Mismatch");
		if (nonce) {
			stun_msg_build_string(&b, STUN_ATTR_REALM, "natbed");
			stun_msg_build_string(&b, STUN_ATTR_NONCE, nonce);
		}
	} else if (m->method == STUN_METHOD_ALLOCATE) {
		inet_pton(AF_INET, "198.51.100.50", &sa.sin_addr);
		sa.sin_port = htons(50000);
		stun_msg_build_addr(&b, STUN_ATTR_XOR_RELAYED_ADDRESS, (struct sockaddr *)&sa);
		inet_pton(AF_INET, "203.0.113.10", &sa.sin_addr);
		sa.sin_port = htons(40000);
		stun_msg_build_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, (struct sockaddr *)&sa);
	}
	if (!code && (m->method == STUN_METHOD_ALLOCATE || m->method == STUN_METHOD_REFRESH)) {
		v = htonl(f->lifetime);
		stun_msg_build_raw(&b, STUN_ATTR_LIFETIME, &v, 4);
	}
	if (!code) {
		assert_int_equal(stun_long_term_key("u", "natbed", f->pass, key), 0);
		stun_msg_build_integrity(&b, false, key, sizeof(key));
	}
	n = stun_msg_build_finish(&b);
	assert_true(n > 0);
	f->reply_len = (size_t)n;
	sched_after(f->s, 10 * MS, f_deliver, f);
}

static int f_send(void *io, int sock, const struct dg_ep *to, const void *buf, size_t len)
{
	struct fake *f = io;
	uint8_t key[STUN_MD5_LEN];
	struct stun_msg m;

	if ((((const uint8_t *)buf)[0] & 0xc0) == 0x40) { /* ChannelData: echo it */
		memcpy(f->reply, buf, len);
		f->reply_len = len;
		sched_after(f->s, 10 * MS, f_deliver, f);
		return 0;
	}
	assert_int_equal(stun_msg_parse(buf, len, 0, &m, NULL, 0), STUN_PARSE_OK);
	if (m.cls != STUN_CLASS_REQUEST)
		return 0;
	f->requests++;
	if (f->silent)
		return 0;
	if (m.method == STUN_METHOD_ALLOCATE)
		f->allocs++;
	if (!stun_msg_find(&m, STUN_ATTR_MESSAGE_INTEGRITY)) {
		f_answer(f, &m, 401, "n1");
		return 0;
	}
	/* the key is MD5("u:natbed:" password): a wrong one fails the check */
	assert_int_equal(stun_long_term_key("u", "natbed", f->pass, key), 0);
	if (stun_msg_check_integrity(&m, false, key, sizeof(key)) != 0) {
		f_answer(f, &m, 401, "n1");
		return 0;
	}
	if (m.method == STUN_METHOD_ALLOCATE)
		f->authed_allocs++;
	if (m.method == STUN_METHOD_CHANNEL_BIND)
		f->channel_binds++;
	if (f->stale_at == f->requests) {
		f_answer(f, &m, 438, "n2");
		return 0;
	}
	if (m.method == STUN_METHOD_REFRESH) {
		f->refreshes++;
		if (f->mismatch_refresh) {
			f_answer(f, &m, 437, NULL);
			return 0;
		}
	}
	f_answer(f, &m, 0, NULL);
	return 0;
}

static void f_close(void *io, int sock)
{
	((struct fake *)io)->open = 0;
}

static const struct dgram_ops fake_ops = {f_open, f_send, f_close, NULL};

/* --- the client's callbacks ------------------------------------------------------ */

static void c_ready(void *arg, const struct dg_ep *relayed, const struct dg_ep *mapped)
{
	struct fake *f = arg;

	f->ready++;
	assert_int_equal(ntohs(relayed->port), 50000);
	turn_permit(f->t, &(struct dg_ep){htonl(0xc6336414), htons(7000)});
}

static void c_failed(void *arg, const char *reason)
{
	snprintf(((struct fake *)arg)->failed, 200, "%s", reason);
}

static void c_data(void *arg, const struct dg_ep *peer, const uint8_t *buf, size_t len,
		   natbed_time_t now)
{
	((struct fake *)arg)->data_in++;
}

static void c_bound(void *arg, const struct dg_ep *peer)
{
	struct fake *f = arg;

	f->bound++;
	assert_int_equal(turn_send(f->t, peer, "hello", 5), 0);
}

static const struct turn_ops c_ops = {c_ready, c_failed, c_data, c_bound};

static struct fake *fake_new(const char *server_pass, const char *client_pass)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct turn_cfg cfg = {0};

	f->s = sched_new(clock_virtual_clock(&f->vc), &f->vc);
	f->dg = (struct dgram){&fake_ops, f, f->s, 7};
	f->pass = server_pass;
	f->lifetime = 600;
	cfg.server = ep("198.51.100.50", 3478);
	snprintf(cfg.user, sizeof(cfg.user), "u");
	snprintf(cfg.pass, sizeof(cfg.pass), "%s", client_pass);
	f->t = turn_new(&f->dg, &cfg, &c_ops, f);
	assert_non_null(f->t);
	return f;
}

static void fake_free(struct fake *f)
{
	turn_free(f->t);
	sched_free(f->s);
	free(f);
}

static void test_allocate_bind_data(void **state)
{
	struct fake *f = fake_new("pw", "pw");
	struct turn_stats st;

	sched_run_until(f->s, 1 * S);
	assert_int_equal(f->allocs, 2); /* the 401, then with the key */
	assert_int_equal(f->ready, 1);
	assert_int_equal(f->bound, 1);
	assert_int_equal(f->channel_binds, 1);
	assert_int_equal(f->data_in, 1); /* the ChannelData came back */
	assert_string_equal(f->failed, "");
	/* refreshes: the allocation at 540 s, the permission and channel at 240 s */
	sched_run_until(f->s, 600 * S);
	assert_int_equal(f->refreshes, 1);
	assert_true(f->channel_binds >= 3);
	turn_get_stats(f->t, &st);
	assert_int_equal(st.channel_data_in, 1);
	fake_free(f);
}

static void test_stale_nonce(void **state)
{
	struct fake *f = fake_new("pw", "pw");

	f->stale_at = 3; /* the first CreatePermission */
	sched_run_until(f->s, 1 * S);
	assert_int_equal(f->bound, 1);
	assert_string_equal(f->failed, "");
	fake_free(f);
}

static void test_wrong_password(void **state)
{
	struct fake *f = fake_new("pw", "nope");

	sched_run_until(f->s, 1 * S);
	assert_int_equal(f->ready, 0);
	assert_non_null(strstr(f->failed, "401 Unauthorized"));
	assert_int_equal(f->allocs, 2); /* not asked again and again */
	fake_free(f);
}

static void test_expired(void **state)
{
	struct fake *f = fake_new("pw", "pw");

	f->mismatch_refresh = 1;
	f->lifetime = 100;
	sched_run_until(f->s, 60 * S); /* refresh at lifetime / 2 */
	assert_non_null(strstr(f->failed, "437 Allocation Mismatch: the allocation expired"));
	fake_free(f);
}

/* RFC 8489 §6.2.1: 7 sends, 500 ms doubling, then given up: 31.5 s of
 * waits between them and the last one's. */
static void test_no_answer(void **state)
{
	struct fake *f = fake_new("pw", "pw");

	f->silent = 1; /* after the first Allocate, which still draws its 401 */
	sched_run_until(f->s, 63 * S);
	assert_string_equal(f->failed, "");
	sched_run_until(f->s, 64 * S);
	assert_int_equal(f->requests, 1 + 7);
	assert_non_null(strstr(f->failed, "no answer from the TURN server to Allocate"));
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_allocate_bind_data), cmocka_unit_test(test_stale_nonce),
	    cmocka_unit_test(test_wrong_password),     cmocka_unit_test(test_expired),
	    cmocka_unit_test(test_no_answer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
