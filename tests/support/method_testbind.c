/* A trivial traversal method for the agent's tests, not in the product
 * table: both sides send STUN Binding requests (connectivity checks, as
 * ICE's) from the main socket to the peer's server-reflexive and host
 * candidates every TESTBIND_RTO_MS until the deadline, answer the peer's
 * checks from where they came, and succeed on the first answer to their
 * own. A check's transaction id is the try id, the sender's role and
 * "tb": the peer's checks and answers are told from strays by it. */
#include "method_testbind.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/stun.h"

#define TESTBIND_RTO_MS 100

struct testbind {
	uint64_t timer, deadline_timer;
};

static void txid_of(const struct trav_try *t, enum trav_role role, uint8_t txid[STUN_TXID_LEN])
{
	for (int i = 0; i < 8; i++)
		txid[i] = (uint8_t)(t->id >> (56 - 8 * i));
	txid[8] = (uint8_t)role;
	txid[9] = 't';
	txid[10] = 'b';
	txid[11] = 0;
}

static void send_checks(struct trav_try *t)
{
	uint8_t txid[STUN_TXID_LEN], buf[64];
	struct stun_builder b;
	int n;

	txid_of(t, t->role, txid);
	stun_msg_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, txid,
			    false);
	stun_msg_build_fingerprint(&b);
	n = stun_msg_build_finish(&b);
	if (n <= 0)
		return;
	if (t->peer.srflx.addr)
		dg_send(t->dg, t->sock, &t->peer.srflx, buf, (size_t)n);
	if (t->peer.host.addr && !dg_ep_eq(&t->peer.host, &t->peer.srflx))
		dg_send(t->dg, t->sock, &t->peer.host, buf, (size_t)n);
}

static void tick(void *arg, natbed_time_t now)
{
	struct trav_try *t = arg;
	struct testbind *tb = t->priv;

	tb->timer = 0;
	if (t->finished)
		return; /* no more checks; the peer's are still answered */
	tb->timer = sched_at(t->dg->s, now + TESTBIND_RTO_MS * NATBED_NS_PER_MS, tick, t);
	send_checks(t);
}

static void deadline(void *arg, natbed_time_t now)
{
	struct trav_try *t = arg;
	struct testbind *tb = t->priv;

	tb->deadline_timer = 0;
	trav_done(t, false, "timeout");
}

static int tb_start(struct trav_try *t)
{
	struct testbind *tb = calloc(1, sizeof(*tb));

	if (!tb)
		return -ENOMEM;
	t->priv = tb;
	tb->deadline_timer = sched_at(t->dg->s, t->deadline, deadline, t);
	tb->timer = sched_at(t->dg->s, dg_now(t->dg), tick, t);
	return 0;
}

static void tb_stop(struct trav_try *t)
{
	struct testbind *tb = t->priv;

	if (!tb)
		return;
	if (tb->timer)
		sched_cancel(t->dg->s, tb->timer);
	if (tb->deadline_timer)
		sched_cancel(t->dg->s, tb->deadline_timer);
	free(tb);
	t->priv = NULL;
}

static bool tb_input(struct trav_try *t, const struct dg_ep *from, const uint8_t *buf, size_t len,
		     natbed_time_t now)
{
	uint8_t mine[STUN_TXID_LEN], theirs[STUN_TXID_LEN], out[64];
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct stun_builder b;
	struct stun_msg m;
	int n;

	txid_of(t, t->role, mine);
	txid_of(t, t->role == TRAV_INITIATOR ? TRAV_RESPONDER : TRAV_INITIATOR, theirs);
	if (stun_msg_parse(buf, len, 0, &m, NULL, 0) != STUN_PARSE_OK ||
	    m.method != STUN_METHOD_BINDING)
		return false;
	if (m.cls == STUN_CLASS_REQUEST && memcmp(m.txid, theirs, STUN_TXID_LEN) == 0) {
		memset(&ss, 0, sizeof(ss));
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = from->addr;
		in->sin_port = from->port;
		stun_msg_build_init(&b, out, sizeof(out), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS,
				    m.txid, false);
		stun_msg_build_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, (struct sockaddr *)&ss);
		stun_msg_build_fingerprint(&b);
		n = stun_msg_build_finish(&b);
		if (n > 0)
			dg_send(t->dg, t->sock, from, out, (size_t)n);
		return true;
	}
	if (m.cls != STUN_CLASS_SUCCESS || memcmp(m.txid, mine, STUN_TXID_LEN) != 0)
		return false;
	if (t->finished)
		return true;
	if (stun_msg_get_addr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, &ss) == 0 &&
	    ss.ss_family == AF_INET) {
		t->local.addr = in->sin_addr.s_addr;
		t->local.port = in->sin_port;
	} else {
		t->local = t->self.host;
	}
	t->remote = *from;
	t->path_sock = t->sock;
	trav_done(t, true, NULL);
	return true;
}

static double tb_prior(enum ni_class self, enum ni_class peer)
{
	return 0.5;
}

const struct method method_testbind = {
    .spec = {.name = "testbind",
	     .cost = 0,
	     .security = 0,
	     .reliability = 1,
	     .budget_ns = 3 * NATBED_NS_PER_S,
	     .prior = tb_prior},
    .start = tb_start,
    .stop = tb_stop,
    .input = tb_input,
};

const struct method *method_testbind_find(const char *name)
{
	if (strcmp(name, method_testbind.spec.name) == 0)
		return &method_testbind;
	return method_find(name);
}
