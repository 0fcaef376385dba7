/* natbed agents: NAT behaviour discovery (RFC 5780 §4) as a state machine
 * over the datagram interface (dgram.h): no I/O, no clock of its own.
 *
 * Against a STUN server with two addresses and two ports (natbed-stund
 * --alternate, RFC 5780 §4.1) it measures, from the inside:
 *  - mapping (§4.3): test I, a Binding request from the main socket to the
 *    primary address; test II to the alternate address and the primary
 *    port; test III to the alternate address and port. Both alternate
 *    targets come from test I's OTHER-ADDRESS, as RFC 5780 says;
 *  - filtering (§4.4), from a socket of its own that has talked to the
 *    primary address only (so no earlier test opened the NAT for the
 *    alternate endpoints): CHANGE-REQUEST change IP and port, then change
 *    port. A lost answer is the result (the NAT filtered it), not an error;
 *  - port allocation (RFC 4787 §4.2): DISC_PORT_PROBES new sockets in a
 *    row, each one Binding: preserve (mapped port = local port), sequential
 *    (the mapped ports advance by one stride; one outlier, a wrap of the
 *    NAT's range, is tolerated) or random;
 *  - hairpinning (RFC 4787 REQ-9): a second socket learns its own
 *    mapping; then Binding requests go to inside sockets' mapped
 *    addresses: from the main socket to its own, and from each socket to
 *    the other's (as two peers behind one NAT would punch). Any arriving
 *    is hairpin. A hairpinned datagram still meets the receiving
 *    mapping's filter, with the sender's outside address as its source:
 *    a NAT that hairpins shows it when its mapping is endpoint-
 *    independent or its filtering is; with both dependent every such
 *    datagram comes from a new mapping and is refused, which is what any
 *    two inside hosts would meet too (hairpin 0);
 *
 * Every request is retransmitted on RFC 8489 §6.2.1's schedule (RTO
 * 500 ms, doubling) but bounded to DISC_TEST_TIMEOUT_NS a test, not to
 * RFC 8489's 39.5 s: sends at 0, 0.5 and 1.5 s, the answer awaited until
 * 3 s. The whole discovery is bounded too: disc_max_ns().
 *
 * Mapping-making steps run one after the other (a sequential NAT's stride
 * is read from consecutive new mappings); the filtering tests, which make
 * no mapping, run beside them.
 */
#ifndef NATBED_AGENTS_DISCOVER_H
#define NATBED_AGENTS_DISCOVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dgram.h"
#include "natinfo.h"

#define DISC_RTO_NS	     (500 * NATBED_NS_PER_MS) /* RFC 8489 §6.2.1 initial RTO */
#define DISC_TEST_TIMEOUT_NS (3 * NATBED_NS_PER_S)    /* one test's sends and wait */
#define DISC_PORT_PROBES     5			      /* new sockets for port allocation */
#define DISC_PORT_PROBES_MAX 16

enum disc_err {
	DISC_OK,
	DISC_ERR_NO_ANSWER, /* test I got no answer: no server there */
	DISC_ERR_NO_OTHER,  /* no usable OTHER-ADDRESS: no mapping or filtering tests */
	DISC_ERR_SERVER,    /* test I got an error response, or no mapped address */
	DISC_ERR_ALTERNATE, /* the alternate address did not answer test II or III */
	DISC_ERR_CHANGE,    /* the server did not honour CHANGE-REQUEST */
	DISC_ERR_LOST,	    /* answers of the primary went missing: some results unknown */
};

/* One new socket of the port allocation test; mapped.addr 0: no answer. */
struct disc_probe {
	struct dg_ep local, mapped;
};

struct disc_result {
	struct natinfo ni;    /* what was measured; UNKNOWN / -1 where it could not be */
	enum disc_err err;    /* DISC_OK, or why some of it could not be measured */
	struct dg_ep local;   /* the main socket's own address and port */
	struct dg_ep mapped;  /* test I's XOR-MAPPED-ADDRESS; addr 0 when none */
	struct dg_ep other;   /* test I's OTHER-ADDRESS; addr 0 when none */
	struct dg_ep mapped2; /* test II's and III's mapped addresses, addr 0 when not run */
	struct dg_ep mapped3;
	size_t nprobes;
	struct disc_probe probes[DISC_PORT_PROBES_MAX];
	natbed_time_t started, finished; /* the scheduler's time */
};

struct disc_cfg {
	struct dg_ep server; /* the STUN server's primary address and port */
	/* The main socket: -1 to open one bound to bind (addr and port 0:
	 * any), or one of the caller's, whose local endpoint is local: the
	 * caller then hands its datagrams to disc_input(). */
	int sock;
	struct dg_ep bind, local;
	size_t port_probes;	       /* 0: DISC_PORT_PROBES; at most DISC_PORT_PROBES_MAX */
	natbed_time_t test_timeout_ns; /* 0: DISC_TEST_TIMEOUT_NS */
	/* Called once, from a scheduler event (never from disc_start() or
	 * disc_input()), when discovery ends; r is valid until disc_free().
	 * done may free the discovery. */
	void (*done)(void *arg, const struct disc_result *r);
	void *done_arg;
};

struct disc;

/* A discovery over dg (which must outlive it) with cfg (copied). NULL on
 * ENOMEM or a bad cfg (port_probes too large, no server). */
struct disc *disc_new(const struct dgram *dg, const struct disc_cfg *cfg);

/* Opens the main socket (unless the caller gave one) and sends test I.
 * 0, or -errno when it cannot begin (done is then never called). */
int disc_start(struct disc *d);

/* A datagram that arrived on the caller's main socket: true when it was
 * discovery's (an answer to one of its requests), false to let the caller
 * handle it. Datagrams on discovery's own sockets come here by itself. */
bool disc_input(struct disc *d, int sock, const struct dg_ep *from, const uint8_t *buf, size_t len,
		natbed_time_t now);

/* Whether it ended, and what it found so far (all of it once it ended). */
bool disc_finished(const struct disc *d);
const struct disc_result *disc_result(const struct disc *d);

/* Cancels its timers and closes the sockets it opened. NULL is safe. */
void disc_free(struct disc *d);

struct ckw;
struct ckr;

/* natbed sim checkpoints (natbed/ckpt.h): d whole, its results so far and
 * its transactions inline (each declared as an object: its timer's
 * argument). A new reference, NULL on error (said in w). */
json_t *disc_ckpt_save(const struct disc *d, struct ckw *w);
/* A discovery built from j, nothing opened, sent or scheduled (its
 * socket ids are the ones the network restores): its pointers,
 * functions and timers are filled at ckr_finish(). NULL on error (said
 * in r). */
struct disc *disc_ckpt_load(const json_t *j, struct ckr *r);
/* The functions a discovery gives the scheduler and its sockets. */
extern const struct ckfns disc_ckfns;

/* The longest a discovery with cfg takes: the tests that run one after the
 * other, each at most its timeout (I, the filtering socket's Binding, II,
 * III, the port probes, the hairpin socket's Binding and its probes); the
 * filtering tests run beside them. */
natbed_time_t disc_max_ns(const struct disc_cfg *cfg);

/* "no answer from the server", ... for an error message. */
const char *disc_err_str(enum disc_err e);

/* The port allocation of RFC 4787 §4.2 the probes show, and the stride
 * when sequential (0 otherwise): preserve when all but at most one kept
 * their local port; sequential when all but at most one of the
 * differences between consecutive answered probes are one value other
 * than 0; random otherwise; unknown with fewer than 3 answers. */
enum ni_ports disc_ports_classify(const struct disc_probe *p, size_t n, int *stride);

#endif
