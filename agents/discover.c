#include "discover.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "ckget.h"
#include "ckval.h"
#include "natbed/rng.h"
#include "natbed/stun.h"

#define DISC_REQ_MAX 64 /* a Binding request with CHANGE-REQUEST and FINGERPRINT */

/* The requests in flight, one slot each; TX_PROBE serves each port probe
 * in turn. TX_HA, TX_HB and TX_HC are the hairpin probes: requests we
 * expect to receive ourselves, not answers. */
enum disc_tx_kind {
	TX_T1,	  /* test I: main socket -> primary */
	TX_TF,	  /* the filtering socket's Binding -> primary */
	TX_F2,	  /* filtering test II: CHANGE-REQUEST change IP and port */
	TX_F3,	  /* filtering test III: CHANGE-REQUEST change port */
	TX_T2,	  /* mapping test II: main socket -> alternate address, primary port */
	TX_T3,	  /* mapping test III: main socket -> alternate address and port */
	TX_PROBE, /* a port allocation probe: a new socket -> primary */
	TX_H0,	  /* the hairpin socket's Binding -> primary */
	TX_HA,	  /* hairpin socket -> the main socket's mapped address */
	TX_HB,	  /* main socket -> the hairpin socket's mapped address */
	TX_HC,	  /* main socket -> its own mapped address */
	TX_COUNT
};

struct disc;

struct disc_tx {
	struct disc *d;
	enum disc_tx_kind kind;
	bool active;
	uint8_t txid[STUN_TXID_LEN];
	int sock, to_sock; /* from, and (hairpin) where it must arrive */
	struct dg_ep to;
	uint8_t req[DISC_REQ_MAX];
	size_t len;
	natbed_time_t rto, deadline;
	uint64_t timer;
};

struct disc {
	const struct dgram *dg;
	struct disc_cfg cfg;
	struct disc_result r;
	struct disc_tx tx[TX_COUNT];
	uint64_t txn;	  /* transaction ids drawn */
	int sock;	  /* main socket */
	bool own_sock;	  /* opened here, closed here */
	int fsock, hsock; /* filtering and hairpin sockets, -1 when closed */
	int psock[DISC_PORT_PROBES_MAX];
	size_t probe;	      /* the port probe in flight */
	size_t probe_lost;    /* port probes without an answer */
	struct dg_ep hmapped; /* the hairpin socket's mapped address */
	bool serial_done, filter_done, finished;
	uint64_t finish_ev;
};

static void disc_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		      natbed_time_t now);
static void tx_answer(struct disc *d, struct disc_tx *t, const struct stun_msg *m,
		      const struct dg_ep *from);

/* --- transactions (RFC 8489 §6.2.1) ---------------------------------------- */

/* RFC 8489 §5: a fresh 96-bit transaction id; drawn from the dgram seed,
 * so a virtual-time run repeats (the agent seeds it from getrandom()),
 * keyed by the main socket, so discoveries sharing a seed differ. */
static void tx_new_id(struct disc *d, uint8_t txid[STUN_TXID_LEN])
{
	uint64_t key = rng_key("disc", (uint64_t)d->r.local.addr << 16 | d->r.local.port);
	uint64_t a = rng_keyed_u64(d->dg->seed, key, d->txn * 2);
	uint64_t b = rng_keyed_u64(d->dg->seed, key, d->txn * 2 + 1);

	d->txn++;
	memcpy(txid, &a, 8);
	memcpy(txid + 8, &b, 4);
}

static void tx_send(struct disc_tx *t)
{
	/* a refused send is a lost datagram: the retransmission covers it */
	(void)dg_send(t->d->dg, t->sock, &t->to, t->req, t->len);
}

static void tx_stop(struct disc_tx *t)
{
	if (t->timer)
		sched_cancel(t->d->dg->s, t->timer);
	t->timer = 0;
	t->active = false;
}

/* RFC 8489 §6.2.1: retransmit after RTO, doubling, until the test's
 * deadline (our bound, shorter than Rc and Rm give). */
static void tx_timer(void *arg, natbed_time_t now)
{
	struct disc_tx *t = arg;
	natbed_time_t next;

	t->timer = 0;
	if (now >= t->deadline) {
		t->active = false;
		tx_answer(t->d, t, NULL, NULL);
		return;
	}
	tx_send(t);
	t->rto *= 2;
	next = now + t->rto < t->deadline ? now + t->rto : t->deadline;
	t->timer = sched_at(t->d->dg->s, next, tx_timer, t);
}

/* Starts transaction kind: a Binding request (with CHANGE-REQUEST flags
 * change when not 0) from sock to *to. */
static void tx_start(struct disc *d, enum disc_tx_kind kind, int sock, const struct dg_ep *to,
		     uint32_t change)
{
	struct disc_tx *t = &d->tx[kind];
	natbed_time_t now = dg_now(d->dg);
	struct stun_builder b;
	int n;

	tx_stop(t);
	t->d = d;
	t->kind = kind;
	t->sock = sock;
	t->to_sock = -1;
	t->to = *to;
	tx_new_id(d, t->txid);
	stun_msg_build_init(&b, t->req, sizeof(t->req), STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
			    t->txid, false);
	if (change)
		stun_msg_build_change_request(&b, change);
	stun_msg_build_fingerprint(&b);
	n = stun_msg_build_finish(&b);
	t->len = n > 0 ? (size_t)n : 0; /* cannot fail: DISC_REQ_MAX fits it */
	t->rto = DISC_RTO_NS;
	t->deadline = now + d->cfg.test_timeout_ns;
	t->active = true;
	tx_send(t);
	t->timer = sched_at(d->dg->s, now + t->rto < t->deadline ? now + t->rto : t->deadline,
			    tx_timer, t);
}

/* --- the end ---------------------------------------------------------------- */

static void sock_close(struct disc *d, int *sock)
{
	dg_close(d->dg, *sock);
	*sock = -1;
}

static void close_all(struct disc *d)
{
	size_t i;

	for (i = 0; i < TX_COUNT; i++)
		tx_stop(&d->tx[i]);
	sock_close(d, &d->fsock);
	sock_close(d, &d->hsock);
	for (i = 0; i < DISC_PORT_PROBES_MAX; i++)
		sock_close(d, &d->psock[i]);
	if (d->own_sock)
		sock_close(d, &d->sock);
}

static void finish_ev(void *arg, natbed_time_t now)
{
	struct disc *d = arg;

	d->finish_ev = 0;
	close_all(d);
	d->r.finished = now;
	if (d->cfg.done)
		d->cfg.done(d->cfg.done_arg, &d->r); /* may free d: nothing after */
}

/* Ends discovery when both the serial steps and the filtering tests are
 * done; done is called from a scheduler event of its own, so the caller
 * may free d there, whatever socket callback we are in now. */
static void maybe_finish(struct disc *d)
{
	if (d->finished || !d->serial_done || !d->filter_done)
		return;
	d->finished = true;
	/* no NAT (RFC 5780 §4.3) and nothing filtered: open */
	if (d->r.ni.map == NI_MAP_NONE && d->r.ni.filter == NI_FILTER_EIF)
		d->r.ni.filter = NI_FILTER_NONE;
	d->finish_ev = sched_after(d->dg->s, 0, finish_ev, d);
}

/* Notes why a part stays unknown; the first reason sticks. */
static void set_err(struct disc *d, enum disc_err err)
{
	if (d->r.err == DISC_OK)
		d->r.err = err;
}

/* Ends with err, whatever is in flight. */
static void fail(struct disc *d, enum disc_err err)
{
	size_t i;

	d->r.err = err;
	for (i = 0; i < TX_COUNT; i++)
		tx_stop(&d->tx[i]);
	d->serial_done = d->filter_done = true;
	maybe_finish(d);
}

/* --- the steps ---------------------------------------------------------------- */

static void filter_done(struct disc *d, enum ni_filter f)
{
	d->r.ni.filter = f;
	d->filter_done = true;
	maybe_finish(d);
}

static void serial_done(struct disc *d)
{
	d->serial_done = true;
	maybe_finish(d);
}

static int open_sock(struct disc *d, struct dg_ep *local)
{
	struct dg_ep any = {0, 0};

	return dg_open(d->dg, &any, local, disc_recv, d);
}

static void hairpin_start(struct disc *d)
{
	struct dg_ep local;

	d->hsock = open_sock(d, &local);
	if (d->hsock < 0) {
		serial_done(d);
		return;
	}
	tx_start(d, TX_H0, d->hsock, &d->cfg.server, 0);
}

/* RFC 4787 REQ-9: datagrams to an inside socket's mapped address, from
 * inside: the main socket to itself (its mapping has just let the
 * destination in: what the NAT's filtering admits), then each socket to
 * the other's. The first sent makes no drop before it: a NAT that
 * remembers refused inbound datagrams (Linux conntrack) is not misled. */
static void hairpin_probe(struct disc *d)
{
	tx_start(d, TX_HC, d->sock, &d->r.mapped, 0);
	d->tx[TX_HC].to_sock = d->sock;
	tx_start(d, TX_HA, d->hsock, &d->r.mapped, 0);
	d->tx[TX_HA].to_sock = d->sock;
	tx_start(d, TX_HB, d->sock, &d->hmapped, 0);
	d->tx[TX_HB].to_sock = d->hsock;
}

static void ports_done(struct disc *d)
{
	d->r.ni.ports = disc_ports_classify(d->r.probes, d->r.nprobes, &d->r.ni.stride);
	if (d->r.ni.ports == NI_PORTS_UNKNOWN)
		set_err(d, DISC_ERR_LOST);
	hairpin_start(d);
}

/* The next port allocation probe: a new socket, one Binding. */
static void probe_next(struct disc *d)
{
	struct disc_probe *p;

	/* two probes unanswered: the server or the path is gone */
	if (d->probe == d->cfg.port_probes || d->probe_lost >= 2) {
		ports_done(d);
		return;
	}
	p = &d->r.probes[d->probe];
	d->psock[d->probe] = open_sock(d, &p->local);
	d->r.nprobes = d->probe + 1;
	if (d->psock[d->probe] < 0) {
		d->probe_lost++;
		d->probe++;
		probe_next(d);
		return;
	}
	tx_start(d, TX_PROBE, d->psock[d->probe], &d->cfg.server, 0);
}

/* RFC 5780 §4.3 test II: the alternate address, the primary port. */
static void mapping_start(struct disc *d)
{
	struct dg_ep to = {d->r.other.addr, d->cfg.server.port};

	if (d->r.ni.map == NI_MAP_NONE) {
		probe_next(d);
		return;
	}
	tx_start(d, TX_T2, d->sock, &to, 0);
}

static bool ep_from_msg(const struct stun_msg *m, uint16_t type, struct dg_ep *ep)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

	if (stun_msg_get_addr(m, type, &ss) < 0 || ss.ss_family != AF_INET)
		return false;
	ep->addr = sin->sin_addr.s_addr;
	ep->port = sin->sin_port;
	return true;
}

/* The reflexive address of a success response (XOR-MAPPED-ADDRESS, else
 * MAPPED-ADDRESS for an older server); false for anything else. */
static bool mapped_of(const struct stun_msg *m, struct dg_ep *ep)
{
	if (!m || m->cls != STUN_CLASS_SUCCESS)
		return false;
	return ep_from_msg(m, STUN_ATTR_XOR_MAPPED_ADDRESS, ep) ||
	       ep_from_msg(m, STUN_ATTR_MAPPED_ADDRESS, ep);
}

/* RFC 5780 §4.1: OTHER-ADDRESS differs from the primary in both address
 * and port, or the tests cannot tell anything apart. */
static bool other_usable(const struct disc *d, const struct dg_ep *o)
{
	return o->addr && o->port && o->addr != d->cfg.server.addr && o->port != d->cfg.server.port;
}

static void on_t1(struct disc *d, const struct stun_msg *m, const struct dg_ep *from)
{
	struct dg_ep o, flocal;

	if (!m) {
		fail(d, DISC_ERR_NO_ANSWER);
		return;
	}
	if (!mapped_of(m, &d->r.mapped)) {
		fail(d, DISC_ERR_SERVER);
		return;
	}
	/* RFC 5780 §4.3: the mapped address is our own: no NAT */
	d->r.ni.map = dg_ep_eq(&d->r.mapped, &d->r.local) ? NI_MAP_NONE : NI_MAP_UNKNOWN;
	if (ep_from_msg(m, STUN_ATTR_OTHER_ADDRESS, &o) && other_usable(d, &o))
		d->r.other = o;
	if (!d->r.other.addr) {
		set_err(d, DISC_ERR_NO_OTHER);
		d->filter_done = true;
		probe_next(d);
		return;
	}
	/* RFC 5780 §4.4: filtering from a socket that talked to the primary
	 * address only; its Binding opens the mapping the tests aim at */
	d->fsock = open_sock(d, &flocal);
	if (d->fsock < 0) {
		d->filter_done = true;
		mapping_start(d);
		return;
	}
	tx_start(d, TX_TF, d->fsock, &d->cfg.server, 0);
}

static void on_tf(struct disc *d, const struct stun_msg *m, const struct dg_ep *from)
{
	struct dg_ep ep;

	if (mapped_of(m, &ep)) {
		tx_start(d, TX_F2, d->fsock, &d->cfg.server, STUN_CHANGE_IP | STUN_CHANGE_PORT);
	} else {
		set_err(d, DISC_ERR_LOST);
		filter_done(d, NI_FILTER_UNKNOWN);
	}
	mapping_start(d);
}

/* A filtering test's answer m from *from: verdict when it came from where
 * the CHANGE-REQUEST asked (the other port, and the other address too
 * when change_ip); from anywhere else the server ignored CHANGE-REQUEST,
 * which proves nothing. */
static void filter_answered(struct disc *d, const struct stun_msg *m, const struct dg_ep *from,
			    bool change_ip, enum ni_filter verdict)
{
	if (m->cls == STUN_CLASS_SUCCESS && from->port != d->cfg.server.port &&
	    (from->addr != d->cfg.server.addr) == change_ip) {
		filter_done(d, verdict);
		return;
	}
	set_err(d, DISC_ERR_CHANGE);
	filter_done(d, NI_FILTER_UNKNOWN);
}

/* RFC 5780 §4.4 test II: an answer from the other address and port came
 * in: endpoint-independent filtering. None: test III. */
static void on_f2(struct disc *d, const struct stun_msg *m, const struct dg_ep *from)
{
	if (!m)
		tx_start(d, TX_F3, d->fsock, &d->cfg.server, STUN_CHANGE_PORT);
	else
		filter_answered(d, m, from, true, NI_FILTER_EIF);
}

/* RFC 5780 §4.4 test III: the primary address, the other port came in:
 * address-dependent; nothing: address-and-port-dependent. */
static void on_f3(struct disc *d, const struct stun_msg *m, const struct dg_ep *from)
{
	if (!m)
		filter_done(d, NI_FILTER_APDF);
	else
		filter_answered(d, m, from, false, NI_FILTER_ADF);
}

/* RFC 5780 §4.3: test II's mapping equal to test I's: endpoint-
 * independent; else test III. */
static void on_t2(struct disc *d, const struct stun_msg *m, const struct dg_ep *from)
{
	struct dg_ep to = d->r.other;

	if (!mapped_of(m, &d->r.mapped2)) {
		set_err(d, DISC_ERR_ALTERNATE);
		probe_next(d);
		return;
	}
	if (dg_ep_eq(&d->r.mapped2, &d->r.mapped)) {
		d->r.ni.map = NI_MAP_EIM;
		probe_next(d);
		return;
	}
	tx_start(d, TX_T3, d->sock, &to, 0);
}

/* Test III's mapping equal to test II's: address-dependent, else
 * address-and-port-dependent. */
static void on_t3(struct disc *d, const struct stun_msg *m, const struct dg_ep *from)
{
	if (mapped_of(m, &d->r.mapped3))
		d->r.ni.map = dg_ep_eq(&d->r.mapped3, &d->r.mapped2) ? NI_MAP_ADM : NI_MAP_APDM;
	else
		set_err(d, DISC_ERR_ALTERNATE);
	probe_next(d);
}

static void on_probe(struct disc *d, const struct stun_msg *m, const struct dg_ep *from)
{
	if (!mapped_of(m, &d->r.probes[d->probe].mapped)) {
		d->r.probes[d->probe].mapped.addr = 0;
		d->probe_lost++;
	}
	d->probe++;
	probe_next(d);
}

static void on_h0(struct disc *d, const struct stun_msg *m, const struct dg_ep *from)
{
	if (!mapped_of(m, &d->hmapped)) {
		set_err(d, DISC_ERR_LOST);
		serial_done(d); /* hairpin stays unknown */
		return;
	}
	hairpin_probe(d);
}

/* A hairpin probe arrived (m set), or one timed out. */
static void on_hairpin(struct disc *d, const struct stun_msg *m, const struct dg_ep *from)
{
	if (m) {
		d->r.ni.hairpin = 1;
		tx_stop(&d->tx[TX_HA]);
		tx_stop(&d->tx[TX_HB]);
		tx_stop(&d->tx[TX_HC]);
	} else if (!d->tx[TX_HA].active && !d->tx[TX_HB].active && !d->tx[TX_HC].active) {
		d->r.ni.hairpin = 0;
	} else {
		return; /* the other one is still on its way */
	}
	serial_done(d);
}

/* What each transaction's end leads to: m is its answer (from *from),
 * or NULL when it timed out. */
typedef void (*tx_end_fn)(struct disc *d, const struct stun_msg *m, const struct dg_ep *from);

static const tx_end_fn tx_ends[TX_COUNT] = {
    [TX_T1] = on_t1,	  [TX_TF] = on_tf,	[TX_F2] = on_f2,       [TX_F3] = on_f3,
    [TX_T2] = on_t2,	  [TX_T3] = on_t3,	[TX_PROBE] = on_probe, [TX_H0] = on_h0,
    [TX_HA] = on_hairpin, [TX_HB] = on_hairpin, [TX_HC] = on_hairpin,
};

static void tx_answer(struct disc *d, struct disc_tx *t, const struct stun_msg *m,
		      const struct dg_ep *from)
{
	tx_ends[t->kind](d, m, from);
}

/* --- datagrams ------------------------------------------------------------------ */

bool disc_input(struct disc *d, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		natbed_time_t now)
{
	struct stun_msg m;
	size_t i;

	if (d->finished || stun_msg_parse(buf, len, 0, &m, NULL, 0) != STUN_PARSE_OK ||
	    m.method != STUN_METHOD_BINDING)
		return false;
	for (i = 0; i < TX_COUNT; i++) {
		struct disc_tx *t = &d->tx[i];
		bool hairpin = i == TX_HA || i == TX_HB || i == TX_HC;

		if (!t->active || memcmp(t->txid, m.txid, STUN_TXID_LEN) != 0)
			continue;
		/* an answer comes back to the socket that asked; a hairpin
		 * probe is a request arriving at the other socket */
		if (hairpin ? m.cls != STUN_CLASS_REQUEST || sock != t->to_sock
			    : (m.cls != STUN_CLASS_SUCCESS && m.cls != STUN_CLASS_ERROR) ||
				  sock != t->sock)
			return false;
		tx_stop(t);
		tx_answer(d, t, &m, from);
		return true;
	}
	return false;
}

static void disc_recv(void *arg, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		      natbed_time_t now)
{
	disc_input(arg, sock, from, buf, len, now);
}

/* --- port allocation (RFC 4787 §4.2) ----------------------------------------------- */

enum ni_ports disc_ports_classify(const struct disc_probe *p, size_t n, int *stride)
{
	int diffs[DISC_PORT_PROBES_MAX];
	size_t i, j, answered = 0, kept = 0, nd = 0, best = 0;
	int mode = 0;

	*stride = 0;
	for (i = 0; i < n; i++) {
		if (!p[i].mapped.addr)
			continue;
		answered++;
		kept += p[i].mapped.port == p[i].local.port;
		/* only consecutive probes: a lost one made a mapping unseen */
		if (i > 0 && p[i - 1].mapped.addr)
			diffs[nd++] =
			    (int)ntohs(p[i].mapped.port) - (int)ntohs(p[i - 1].mapped.port);
	}
	if (answered < 3)
		return NI_PORTS_UNKNOWN;
	if (kept + 1 >= answered)
		return NI_PORTS_PRESERVE;
	for (i = 0; i < nd; i++) {
		size_t c = 0;

		for (j = 0; j < nd; j++)
			c += diffs[j] == diffs[i];
		if (c > best) {
			best = c;
			mode = diffs[i];
		}
	}
	/* one outlier allowed: a wrap of the NAT's range, a port in use */
	if (mode != 0 && best >= 2 && best + 1 >= nd) {
		*stride = mode;
		return NI_PORTS_SEQUENTIAL;
	}
	return NI_PORTS_RANDOM;
}

/* --- life ----------------------------------------------------------------------- */

struct disc *disc_new(const struct dgram *dg, const struct disc_cfg *cfg)
{
	struct disc *d;
	size_t i;

	if (!cfg->server.addr || !cfg->server.port || cfg->port_probes > DISC_PORT_PROBES_MAX)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->dg = dg;
	d->cfg = *cfg;
	if (!d->cfg.port_probes)
		d->cfg.port_probes = DISC_PORT_PROBES;
	if (d->cfg.test_timeout_ns <= 0)
		d->cfg.test_timeout_ns = DISC_TEST_TIMEOUT_NS;
	d->sock = d->fsock = d->hsock = -1;
	for (i = 0; i < DISC_PORT_PROBES_MAX; i++)
		d->psock[i] = -1;
	for (i = 0; i < TX_COUNT; i++)
		d->tx[i].d = d;
	d->r.ni.hairpin = -1;
	return d;
}

int disc_start(struct disc *d)
{
	if (d->sock >= 0 || d->finished)
		return -EALREADY;
	d->r.started = dg_now(d->dg);
	if (d->cfg.sock >= 0) {
		d->sock = d->cfg.sock;
		d->r.local = d->cfg.local;
	} else {
		int s = dg_open(d->dg, &d->cfg.bind, &d->r.local, disc_recv, d);

		if (s < 0)
			return s;
		d->sock = s;
		d->own_sock = true;
	}
	tx_start(d, TX_T1, d->sock, &d->cfg.server, 0);
	return 0;
}

bool disc_finished(const struct disc *d)
{
	return d->finished && !d->finish_ev;
}

const struct disc_result *disc_result(const struct disc *d)
{
	return &d->r;
}

void disc_free(struct disc *d)
{
	if (!d)
		return;
	if (d->finish_ev)
		sched_cancel(d->dg->s, d->finish_ev);
	close_all(d);
	free(d);
}

natbed_time_t disc_max_ns(const struct disc_cfg *cfg)
{
	natbed_time_t t = cfg->test_timeout_ns > 0 ? cfg->test_timeout_ns : DISC_TEST_TIMEOUT_NS;
	size_t probes = cfg->port_probes ? cfg->port_probes : DISC_PORT_PROBES;

	return (natbed_time_t)(6 + probes) * t;
}

const char *disc_err_str(enum disc_err e)
{
	switch (e) {
	case DISC_OK:
		return "ok";
	case DISC_ERR_NO_ANSWER:
		return "no answer from the STUN server";
	case DISC_ERR_NO_OTHER:
		return "the STUN server gave no OTHER-ADDRESS (RFC 5780 needs a second "
		       "address and port): mapping and filtering not tested";
	case DISC_ERR_SERVER:
		return "the STUN server answered test I without a mapped address";
	case DISC_ERR_ALTERNATE:
		return "the STUN server's alternate address (its OTHER-ADDRESS) did not answer: "
		       "mapping not known";
	case DISC_ERR_CHANGE:
		return "the STUN server did not honour CHANGE-REQUEST: filtering not known";
	case DISC_ERR_LOST:
		return "answers from the STUN server went missing: some results not known";
	}
	return "unknown error";
}

/* --- natbed sim checkpoints ---------------------------------------------------- */

static json_t *result_save(const struct disc_result *r, struct ckw *w)
{
	json_t *probes = json_array();

	for (size_t i = 0; probes && i < r->nprobes; i++)
		if (json_array_append_new(
			probes,
			json_pack("{s:o,s:o}", "local", dg_ep_ckpt_save(&r->probes[i].local, w),
				  "mapped", dg_ep_ckpt_save(&r->probes[i].mapped, w))) < 0) {
			json_decref(probes);
			return NULL;
		}
	return json_pack("{s:o,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I}", "ni", ckval_nat(&r->ni),
			 "err", (int)r->err, "local", dg_ep_ckpt_save(&r->local, w), "mapped",
			 dg_ep_ckpt_save(&r->mapped, w), "other", dg_ep_ckpt_save(&r->other, w),
			 "mapped2", dg_ep_ckpt_save(&r->mapped2, w), "mapped3",
			 dg_ep_ckpt_save(&r->mapped3, w), "probes", probes, "started",
			 (json_int_t)r->started, "finished", (json_int_t)r->finished);
}

/* The results; at most max port probes. */
static void result_load(struct ckget *g, struct disc_result *r, size_t max)
{
	const json_t *probes = ckget_get(g, "probes");

	ckval_get_nat(g, "ni", &r->ni);
	r->err = (enum disc_err)ckget_int(g, "err", DISC_OK, DISC_ERR_LOST);
	ckget_ep(g, "local", &r->local);
	ckget_ep(g, "mapped", &r->mapped);
	ckget_ep(g, "other", &r->other);
	ckget_ep(g, "mapped2", &r->mapped2);
	ckget_ep(g, "mapped3", &r->mapped3);
	r->started = ckget_time(g, "started");
	r->finished = ckget_time(g, "finished");
	if (probes && (!json_is_array(probes) || json_array_size(probes) > max)) {
		ckget_fail(g, "probes", "more probes than the configuration makes");
		return;
	}
	r->nprobes = json_array_size(probes);
	for (size_t i = 0; i < r->nprobes; i++) {
		struct ckget p = {g->r, "disc.r.probes", json_array_get(probes, i), false};

		ckget_ep(&p, "local", &r->probes[i].local);
		ckget_ep(&p, "mapped", &r->probes[i].mapped);
		g->bad |= p.bad;
	}
}

static json_t *tx_save(const struct disc_tx *t, struct ckw *w)
{
	/* t->d is the discovery that holds t: written by position */
	return json_pack("{s:o,s:i,s:b,s:o,s:i,s:i,s:o,s:o,s:I,s:I,s:o}", "id", ckw_obj(w, t),
			 "kind", (int)t->kind, "active", t->active, "txid",
			 ckw_bytes(w, t->txid, sizeof(t->txid)), "sock", t->sock, "to_sock",
			 t->to_sock, "to", dg_ep_ckpt_save(&t->to, w), "req",
			 ckw_bytes(w, t->req, t->len), "rto", (json_int_t)t->rto, "deadline",
			 (json_int_t)t->deadline, "timer", ckw_timer(w, t->timer));
}

static void tx_load(struct disc *d, struct disc_tx *t, const json_t *j, struct ckr *r, bool *bad)
{
	struct ckget g = {r, "disc.tx", j, false};

	t->d = d;
	t->kind = (enum disc_tx_kind)ckget_int(&g, "kind", 0, TX_COUNT - 1);
	t->active = ckget_bool(&g, "active");
	ckget_bytes(&g, "txid", t->txid, sizeof(t->txid));
	t->sock = (int)ckget_int(&g, "sock", -1, INT32_MAX);
	t->to_sock = (int)ckget_int(&g, "to_sock", -1, INT32_MAX);
	ckget_ep(&g, "to", &t->to);
	t->len = ckget_bytes_max(&g, "req", t->req, sizeof(t->req));
	t->rto = ckget_time(&g, "rto");
	if (t->active && t->rto <= 0) /* doubled on each send: 0 would spin */
		ckget_fail(&g, "rto", "0 in an active transaction");
	t->deadline = ckget_time(&g, "deadline");
	ckget_obj(&g, "id", t);
	ckget_timer(&g, "timer", &t->timer);
	*bad |= g.bad;
}

json_t *disc_ckpt_save(const struct disc *d, struct ckw *w)
{
	json_t *cfg, *tx = json_array(), *psock = json_array(), *j;

	for (size_t i = 0; tx && i < TX_COUNT; i++)
		if (json_array_append_new(tx, tx_save(&d->tx[i], w)) < 0) {
			json_decref(tx);
			tx = NULL;
		}
	for (size_t i = 0; psock && i < DISC_PORT_PROBES_MAX; i++)
		if (json_array_append_new(psock, json_integer(d->psock[i])) < 0) {
			json_decref(psock);
			psock = NULL;
		}
	cfg = json_pack(
	    "{s:o,s:i,s:o,s:o,s:I,s:I,s:o,s:o}", "server", dg_ep_ckpt_save(&d->cfg.server, w),
	    "sock", d->cfg.sock, "bind", dg_ep_ckpt_save(&d->cfg.bind, w), "local",
	    dg_ep_ckpt_save(&d->cfg.local, w), "port_probes", (json_int_t)d->cfg.port_probes,
	    "test_timeout_ns", (json_int_t)d->cfg.test_timeout_ns, "done",
	    ckw_fn(w, (ckfn_ptr)d->cfg.done), "done_arg", ckw_ref(w, d->cfg.done_arg));
	j = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:b,s:i,s:i,s:o,s:I,s:I,s:o,s:b,s:b,s:b,s:o}",
		      "id", ckw_obj(w, d), "dg", ckw_ref(w, d->dg), "cfg", cfg, "r",
		      result_save(&d->r, w), "tx", tx, "txn", jsonck_u64(d->txn, true), "sock",
		      d->sock, "own_sock", d->own_sock, "fsock", d->fsock, "hsock", d->hsock,
		      "psock", psock, "probe", (json_int_t)d->probe, "probe_lost",
		      (json_int_t)d->probe_lost, "hmapped", dg_ep_ckpt_save(&d->hmapped, w),
		      "serial_done", d->serial_done, "filter_done", d->filter_done, "finished",
		      d->finished, "finish_ev", ckw_timer(w, d->finish_ev));
	return ckget_done(w, j, "disc");
}

struct disc *disc_ckpt_load(const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "disc", j, false}, c = {r, "disc.cfg", NULL, false},
		     res = {r, "disc.r", NULL, false};
	struct disc *d = calloc(1, sizeof(*d));
	const json_t *tx, *psock;

	if (!d) {
		ckr_fail(r, "disc: out of memory");
		return NULL;
	}
	c.o = ckget_get(&g, "cfg");
	ckget_ep(&c, "server", &d->cfg.server);
	d->cfg.sock = (int)ckget_int(&c, "sock", -1, INT32_MAX);
	ckget_ep(&c, "bind", &d->cfg.bind);
	ckget_ep(&c, "local", &d->cfg.local);
	d->cfg.port_probes = (size_t)ckget_int(&c, "port_probes", 1, DISC_PORT_PROBES_MAX);
	d->cfg.test_timeout_ns = ckget_dur(&c, "test_timeout_ns");
	d->cfg.done = (void (*)(void *, const struct disc_result *))ckget_fn(&c, "done");
	ckget_ref(&c, "done_arg", &d->cfg.done_arg);
	res.o = ckget_get(&g, "r");
	result_load(&res, &d->r, d->cfg.port_probes);
	tx = ckget_get(&g, "tx");
	if (tx && (!json_is_array(tx) || json_array_size(tx) != TX_COUNT))
		ckget_fail(&g, "tx", "not one transaction a kind");
	for (size_t i = 0; !g.bad && i < TX_COUNT; i++)
		tx_load(d, &d->tx[i], json_array_get(tx, i), r, &g.bad);
	d->txn = ckget_u64(&g, "txn");
	d->sock = (int)ckget_int(&g, "sock", -1, INT32_MAX);
	d->own_sock = ckget_bool(&g, "own_sock");
	d->fsock = (int)ckget_int(&g, "fsock", -1, INT32_MAX);
	d->hsock = (int)ckget_int(&g, "hsock", -1, INT32_MAX);
	psock = ckget_get(&g, "psock");
	if (psock && (!json_is_array(psock) || json_array_size(psock) != DISC_PORT_PROBES_MAX))
		ckget_fail(&g, "psock", "not one socket a port probe");
	for (size_t i = 0; !g.bad && i < DISC_PORT_PROBES_MAX; i++) {
		json_int_t s;

		if (jsonck_int(json_array_get(psock, i), -1, INT32_MAX, &s) < 0)
			ckget_fail(&g, "psock", "not a socket");
		d->psock[i] = (int)s;
	}
	d->probe = (size_t)ckget_int(&g, "probe", 0, (json_int_t)d->cfg.port_probes);
	d->probe_lost = (size_t)ckget_int(&g, "probe_lost", 0, (json_int_t)d->cfg.port_probes);
	ckget_ep(&g, "hmapped", &d->hmapped);
	d->serial_done = ckget_bool(&g, "serial_done");
	d->filter_done = ckget_bool(&g, "filter_done");
	d->finished = ckget_bool(&g, "finished");
	ckget_obj(&g, "id", d);
	ckget_ref(&g, "dg", &d->dg);
	ckget_timer(&g, "finish_ev", &d->finish_ev);
	if (g.bad || c.bad || res.bad) {
		free(d); /* nothing opened or scheduled; ckr_finish() fills no field of it now */
		return NULL;
	}
	return d;
}

static const struct ckfn disc_fns[] = {CKFN(tx_timer), CKFN(finish_ev), CKFN(disc_recv)};
const struct ckfns disc_ckfns = CKFNS(disc, disc_fns);
