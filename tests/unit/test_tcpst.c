/* Unit tests for emulator/tcpst.c: the TCP state the NAT and the firewall
 * time connections by (RFC 5382 §2.1, REQ-5). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tcpst.h"

static void seq(struct tcpst *t, const uint8_t *flags, const enum tcpst_side *from, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		tcpst_track(t, flags[i], from[i]);
}

/* SYN, SYN+ACK, ACK: established only after the last step. */
static void test_handshake(void **state)
{
	struct tcpst t = {0};

	tcpst_track(&t, TCP_SYN, TCPST_A);
	assert_int_equal(t.state, TCPST_OPENING);
	tcpst_track(&t, TCP_SYN | TCP_ACK, TCPST_B);
	assert_false(tcpst_established(&t));
	tcpst_track(&t, TCP_ACK, TCPST_A);
	assert_true(tcpst_established(&t));
}

/* Hole punching's simultaneous open (RFC 9293 §3.5): SYNs cross, SYN+ACKs
 * cross; the first segment without SYN establishes. */
static void test_simultaneous_open(void **state)
{
	static const uint8_t fl[] = {TCP_SYN, TCP_SYN, TCP_SYN | TCP_ACK, TCP_SYN | TCP_ACK};
	static const enum tcpst_side from[] = {TCPST_A, TCPST_B, TCPST_A, TCPST_B};
	struct tcpst t = {0};

	seq(&t, fl, from, 4);
	assert_int_equal(t.state, TCPST_OPENING);
	tcpst_track(&t, TCP_ACK, TCPST_B);
	assert_true(tcpst_established(&t));
}

/* One side alone never establishes, however many ACKs it sends. */
static void test_one_side(void **state)
{
	struct tcpst t = {0};
	int i;

	tcpst_track(&t, TCP_SYN, TCPST_A);
	for (i = 0; i < 5; i++)
		tcpst_track(&t, TCP_ACK, TCPST_A);
	assert_false(tcpst_established(&t));
}

/* FIN or RST from either side closes, from any state, and stays closed. */
static void test_close(void **state)
{
	struct tcpst t = {0};

	tcpst_track(&t, TCP_SYN, TCPST_A);
	tcpst_track(&t, TCP_SYN | TCP_ACK, TCPST_B);
	tcpst_track(&t, TCP_ACK, TCPST_A);
	tcpst_track(&t, TCP_FIN | TCP_ACK, TCPST_B);
	assert_int_equal(t.state, TCPST_CLOSING);
	tcpst_track(&t, TCP_ACK, TCPST_A);
	assert_int_equal(t.state, TCPST_CLOSING);
	t = (struct tcpst){0};
	tcpst_track(&t, TCP_RST, TCPST_B);
	assert_int_equal(t.state, TCPST_CLOSING);
}

/* A connection picked up mid-stream (no SYN seen): established once both
 * sides sent ACKs, as conntrack's loose pickup does. */
static void test_midstream(void **state)
{
	struct tcpst t = {0};

	tcpst_track(&t, TCP_ACK, TCPST_A);
	assert_int_equal(t.state, TCPST_NONE);
	tcpst_track(&t, TCP_ACK, TCPST_B);
	assert_true(tcpst_established(&t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake), cmocka_unit_test(test_simultaneous_open),
	    cmocka_unit_test(test_one_side),  cmocka_unit_test(test_close),
	    cmocka_unit_test(test_midstream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
