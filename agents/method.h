/* natbed agents: traversal methods, a table of {spec, start, stop}.
 *
 * A method is one file and one line of the table (methods.c). Both peers
 * run the same method in one try: the rendezvous introduces them with each
 * other's candidates, the method's name, a try id and a common start time;
 * the initiator (the side that asked) and the responder then each call
 * start() at that time. A method talks to the world only through
 * t->dg (agents/dgram.h): sockets it opens there deliver to its own
 * callbacks, its timers go on t->dg->s. It ends the try exactly once with
 * trav_done(), never from inside start().
 *
 * Between the peers, methods speak STUN-framed messages (agents/peermsg.h:
 * a Binding request carrying the try id answers with the address it came
 * from, as ICE connectivity checks do), so the captures decode in
 * Wireshark and stray or spoofed datagrams are told apart by try id.
 */
#ifndef NATBED_AGENTS_METHOD_H
#define NATBED_AGENTS_METHOD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dgram.h"
#include "natinfo.h"

struct ckr;
struct ckw;
struct trav_cand;
struct turnsock;

/* The seed's description of a method (its HolePunchingMethodSpec). */
struct method_spec {
	const char *name;
	double cost;		 /* infrastructure cost, 0 (none) to 2 (a relay) */
	double security;	 /* 0 to 1 */
	double reliability;	 /* 0 to 1: how steady its successes are */
	natbed_time_t budget_ns; /* how long one try may take */
	/* The prior chance this method connects a peer of class self to one
	 * of class peer (docs/methods.md derives each from RFC 4787). */
	double (*prior)(enum ni_class self, enum ni_class peer);
	bool relay; /* carries data through a third party (--no-relay skips it) */
	/* Whether the pair has what the method needs beyond its NATs (a
	 * relayed candidate, a NAT that grants mappings); NULL: always. Where
	 * it says no, the method fails at once with its reason and its prior
	 * does not apply: selection should count it 0. */
	bool (*usable)(const struct trav_cand *self, const struct trav_cand *peer);
};

#define TRAV_NAME_MAX 64 /* an agent name and its NUL (peermsg.h: PEERMSG_NAME_MAX + 1) */

/* What one side knows of itself, sent to the other through the rendezvous. */
struct trav_cand {
	char name[TRAV_NAME_MAX]; /* its agent name: in its checks, checked in the peer's */
	struct dg_ep host;	  /* its main socket's own address and port */
	struct dg_ep srflx;	  /* server-reflexive (STUN), addr 0 when unknown */
	struct dg_ep relay;	  /* relayed (TURN), addr 0 when none */
	struct natinfo nat;	  /* its NAT, as its discovery found it */
};

enum trav_role { TRAV_INITIATOR, TRAV_RESPONDER };

/* What a try sent and what reached it (each datagram counted once). The
 * bad ones are ignored: an agent shows them, tests assert them. */
struct trav_counts {
	uint64_t sent;	      /* datagrams sent (checks, answers, STUN probes) */
	uint64_t send_errors; /* sends the driver refused */
	uint64_t checks_in;   /* valid checks from the peer */
	uint64_t answers_in;  /* valid answers to our checks */
	uint64_t bad;	      /* truncated or malformed (peermsg PEERMSG_BAD) */
	uint64_t unknown;     /* STUN but no peer message (PEERMSG_UNKNOWN) */
	uint64_t wrong_try;   /* a check or answer of another try */
	uint64_t wrong_txid;  /* an answer to no check of ours, or from elsewhere */
	uint64_t wrong_name;  /* a check of this try naming another agent */
};

struct method;

/* One try of one method between two peers. The caller fills the inputs,
 * calls method->start(t) at t->start, and is called back once through
 * t->done; it then calls method->stop(t) (also to abort early). */
struct trav_try {
	/* inputs */
	const struct dgram *dg;
	const struct method *m;
	enum trav_role role;
	uint64_t id; /* the try id the rendezvous gave: in every message */
	int sock;    /* the agent's main socket (its srflx was learned on it) */
	struct trav_cand self, peer;
	struct dg_ep stun;	/* a STUN server (predict measures strides with it) */
	struct dg_ep gateway;	/* the NAT's PCP/NAT-PMP server (its inside gateway, port
				 * 5351; portmap asks it), addr 0 when unknown */
	struct turnsock *relay; /* the agent's TURN allocation (relay uses it when
				 * self.relay is set), NULL when none; t->dg is then
				 * turnsock_dgram(relay) */
	natbed_time_t start;	/* when both sides begin */
	natbed_time_t deadline; /* start + the method's budget, or the cascade's end */
	void (*done)(void *arg, struct trav_try *t);
	void *done_arg;
	/* Optional: a datagram on a socket the method opened that is none of
	 * its messages (a data probe of the peer's on the path found, which
	 * may come before our own result); true when taken. NULL: counted in
	 * counts.unknown and dropped. */
	bool (*other)(struct trav_try *t, int sock, const struct dg_ep *from, const uint8_t *buf,
		      size_t len);

	/* the result, set by trav_done() */
	bool finished;
	bool success;
	int path_sock;	     /* the socket of the path found (t->sock or one the method
			      * opened and leaves open, receiving nothing until the
			      * caller gives it a receiver (dg_set_recv); the caller
			      * closes it after stop) */
	struct dg_ep local;  /* the path: our endpoint as we know it */
	struct dg_ep remote; /* the peer's endpoint as its datagrams reach us */
	const char *reason;  /* a failure's reason: "timeout", "filtered",
			      * "no prediction", "budget spent", ...; NULL on success */
	natbed_time_t done_at;
	struct trav_counts counts; /* kept by the method until stop() */

	void *priv; /* the method's own state: non-NULL from start() to stop() */
};

struct method {
	struct method_spec spec;
	/* Begins the try at t->start. 0, or -errno when it cannot begin
	 * (trav_done() is then not called). */
	int (*start)(struct trav_try *t);
	/* Ends the try: cancels its timers, closes the sockets it opened but
	 * t->path_sock, frees t->priv. Safe after trav_done() and before. */
	void (*stop)(struct trav_try *t);
	/* A datagram arrived on t->sock, the agent's main socket, which the
	 * rendezvous client and every try under way share: between start()
	 * and stop(), the agent offers each one it did not take to each try.
	 * Returns true when it was this try's (its try id, its peer). NULL
	 * for a method that never listens on t->sock. */
	bool (*input)(struct trav_try *t, const struct dg_ep *from, const uint8_t *buf, size_t len,
		      natbed_time_t now);
};

/* Records the result and calls t->done once (later calls do nothing). On
 * success the method has set t->path_sock, t->local and t->remote. */
void trav_done(struct trav_try *t, bool success, const char *reason);

/* Hands a datagram of t->sock to t's method (method->input); false when
 * the try is not running (before start, after stop) or it was not the
 * try's. */
bool trav_input(struct trav_try *t, const struct dg_ep *from, const uint8_t *buf, size_t len,
		natbed_time_t now);

/* natbed sim checkpoints (natbed/ckpt.h): t whole, its method's state
 * (t->priv, the check engine's: method_checks.h) inline. t is declared
 * here (ckw_obj(w, t)): what points at it (its engine, portmap's PCP
 * client) refers to it, and its owner does not declare it again. t->m is
 * written by name (trav_try_ckfns); t->done, t->other and t->done_arg are
 * the owner's, in its tables; t->reason is the text of a known literal or
 * a reference to the buffer it points into (the agent try's reason, the
 * turnsock's error: their owners declare those). */
json_t *trav_try_ckpt_save(const struct trav_try *t, struct ckw *w);
/* t (embedded: not allocated here) from j: nothing run, opened or
 * scheduled; its pointers, functions and the engine's timers are filled
 * at ckr_finish(). 0, or -1 (said in r). */
int trav_try_ckpt_fill(struct trav_try *t, const json_t *j, struct ckr *r);
/* The methods of the table (static objects t->m points at). */
extern const struct ckfns trav_try_ckfns;

/* The method table (methods.c), in the order of docs/methods.md. */
size_t method_count(void);
const struct method *method_at(size_t i);
/* The method called name, or NULL. */
const struct method *method_find(const char *name);

#endif
