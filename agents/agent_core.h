/* natbed agents: what natbed-agent does, as a state machine over struct
 * dgram (no I/O, no clock of its own), so a unit test or a simulation runs
 * it in virtual time.
 *
 * One main socket carries the NAT discovery while it runs (discover.h),
 * the rendezvous client (rdvclient.h) and every try under way (method.h):
 * each datagram goes to the discovery first, then the client, then the
 * probe exchanges on it, then to each running try's method.
 *  - both: with config.discover, RFC 5780 discovery runs on the main
 *    socket first and what it measured is the NAT registered (what it
 *    could not measure stays unknown); then STUN and REGISTER.
 *  - serve: every introduction as responder runs its method at the common
 *    start; its try id's probes are echoed (probe.h) from then on, on the
 *    path found (from its remote only) or, when the initiator alone found
 *    one, on the main socket, for AGENT_PATH_LINGER_S after the last (or
 *    until AGENT_PATHS_MAX newer ones need the room).
 *  - connect: a plan of methods to try in order, each asked of the
 *    rendezvous (CONNECT) and run as initiator, each within its budget
 *    and all within the plan's; the first success probes its path; one
 *    report lists every try. The plan is given (--method), or chosen as
 *    the cascade (--cascade): LOOKUP the peer's NAT, then the table in
 *    sel_cascade()'s order for the pair, skipping what it skips. With a
 *    learning store, every try's outcome is recorded under its pair.
 */
#ifndef NATBED_AGENTS_AGENT_CORE_H
#define NATBED_AGENTS_AGENT_CORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "discover.h"
#include "learn.h"
#include "method.h"
#include "probe.h"
#include "rdvclient.h"
#include "select.h"
#include "turn.h"

#define AGENT_TRIES_MAX	    256	 /* tries under way at once (serve) */
#define AGENT_PATHS_MAX	    256	 /* paths kept to echo probes on (serve) */
#define AGENT_PATH_LINGER_S 60	 /* a path unused this long is closed */
#define AGENT_PLAN_MAX	    8	 /* methods one connect may try (or skip) */
#define AGENT_MIN_TRY_MS    500	 /* no try is asked with less left of the plan's budget */
#define AGENT_GUARD_MS	    1000 /* a try past its deadline by this is ended */
#define AGENT_REASON_MAX    96
#define AGENT_TURN_WAIT_MS  3000 /* the first registration waits this long for the relay */

struct agent_config {
	char name[RDV_NAME_MAX + 1];
	struct dg_ep bind; /* the main socket's (0.0.0.0:0: any) */
	struct dg_ep rdv, stun;
	struct natinfo nat;    /* registered; map UNKNOWN when no discovery ran */
	struct rdvtxn_cfg txn; /* STUN and rendezvous requests; zeros: RFC 8489 */
	bool serve;	       /* answer introductions as responder */
	/* the method an introduction names; NULL: method_find */
	const struct method *(*find_method)(const char *name);
	/* RFC 5780 discovery on the main socket before registering, against
	 * stun (its OTHER-ADDRESS for the alternate tests): its result
	 * replaces nat. Off: nat as given. */
	bool discover;
	natbed_time_t discover_test_ns; /* one test's bound; 0: DISC_TEST_TIMEOUT_NS */
	/* A TURN server to allocate on at start (turn.server.addr 0: none):
	 * the relayed address is registered as the relay candidate (the first
	 * registration waits AGENT_TURN_WAIT_MS for it) and kept refreshed. */
	struct turn_cfg turn;
	/* The NAT's PCP/NAT-PMP server (the default route's gateway, port
	 * 5351; addr 0: none): asked at start whether it grants mappings
	 * (natinfo.pcp, registered), and by portmap tries. */
	struct dg_ep gateway;
	/* tries under way at once, as responder and initiator (a successful
	 * one counts until its deadline); past it an introduction is refused
	 * as "busy". 0: AGENT_TRIES_MAX, the most. */
	int max_tries;
};

/* One step of a connect: a method and the budget its try gets. */
struct agent_step {
	const struct method *m;
	natbed_time_t budget_ns; /* 0: the method's own */
};

/* What a connect should do: the steps given (--method), or the cascade's. */
struct agent_plan {
	char peer[RDV_NAME_MAX + 1];
	int nsteps; /* with cascade: 0, the steps are chosen */
	struct agent_step steps[AGENT_PLAN_MAX];
	natbed_time_t total_ns; /* the whole connect; 0: unbounded but for each step's */
	int probes;		/* K: probes on the path found */
	struct probe_cfg probe; /* interval and wait (count and try id are set) */
	/* The cascade: LOOKUP the peer, then the methods of table[0..ntable)
	 * (at most AGENT_PLAN_MAX) in sel_cascade()'s order for the pair, by
	 * priority within limits (natbed-agent: budget_ns is total_ns). */
	bool cascade;
	const struct method *const *table;
	size_t ntable;
	enum sel_priority priority;
	struct sel_limits limits;
	/* Measured outcomes (the caller's, who saves them): the cascade reads
	 * it to choose; every try that ran is recorded under its pair (not
	 * one the plan's budget cut short). NULL: none. */
	struct learn *learn;
};

/* One try of a connect, as the report lists it. */
struct agent_tried {
	const struct method *m;
	bool success;
	bool skipped; /* the cascade did not try it: reason says why, ms is 0 */
	double ms;    /* from the common start to the result (or from the ask) */
	char reason[AGENT_REASON_MAX];
};

struct agent_report {
	char peer[RDV_NAME_MAX + 1];
	const struct method *m; /* the one that worked, or the last tried; NULL: none */
	bool success;
	double setup_ms; /* from the first LOOKUP or CONNECT asked to the path found */
	struct probe_result probe;
	struct dg_ep local, remote;
	const char *path; /* "direct", "relay" or "none" */
	int ntried;	  /* the tries in order, then what the cascade skipped */
	struct agent_tried tried[AGENT_PLAN_MAX];
	char reason[AGENT_REASON_MAX]; /* why it failed; empty on success */
	bool pair_known;	       /* the cascade looked the peer up: */
	struct sel_pair pair;	       /* the pair it chose for */
};

/* Datagrams the main socket or a path socket got that nobody took. */
enum agent_stray {
	AGENT_STRAY_NOT_STUN,  /* garbage, or cut short */
	AGENT_STRAY_UNCLAIMED, /* STUN-framed, but no client, try or path's */
	AGENT_STRAY_COUNT
};

struct agent_counters {
	uint64_t tries_run, tries_ok, tries_failed, tries_refused;
	uint64_t tries_cancelled; /* the peer refused them (of tries_failed) */
	uint64_t probes_echoed;
	uint64_t stray[AGENT_STRAY_COUNT];
};

struct agent;

struct agent_ops {
	/* Registered with the rendezvous (the first time). */
	void (*ready)(void *arg, struct agent *a);
	/* The first registration failed: the agent can do nothing. */
	void (*failed)(void *arg, struct agent *a, const char *reason);
	/* A connect ended; r is valid during the call. */
	void (*report)(void *arg, struct agent *a, const struct agent_report *r);
	/* The discovery ended (config.discover); r is valid during the call,
	 * r->err says what it could not measure. Registration follows. */
	void (*discovered)(void *arg, struct agent *a, const struct disc_result *r);
	void *arg;
};

/* An agent on d: opens its main socket and starts registering. Returns 0
 * with *out set, or -errno (the socket's, -EINVAL for a bad name). */
int agent_new(const struct dgram *d, const struct agent_config *cfg, const struct agent_ops *ops,
	      struct agent **out);

/* Stops every try and probe, closes every socket, frees a. NULL is safe. */
void agent_free(struct agent *a);

struct ckw;
struct ckr;

/* natbed sim checkpoints (natbed/ckpt.h): a whole, its children inline
 * (the TURN layer, the gateway's probe, the rendezvous client, the
 * discovery, every try with its method's state, every path with its
 * probe), the slots of tries[] and paths[] in their order (one no try or
 * path holds as null), the connect with its plan and report. What a
 * points at and does not own is the owner's to declare: d (the host's
 * dgram, or the TURN layer's, declared by it), ops.arg, plan.table
 * (natbed sim: the connect's own table) and plan.learn (NULL in natbed
 * sim). */
json_t *agent_ckpt_save(const struct agent *a, struct ckw *w);
/* An agent built from j, nothing run, opened or scheduled: its pointers,
 * functions and timers are filled at ckr_finish(). NULL on error (said
 * in r). */
struct agent *agent_ckpt_load(const json_t *j, struct ckr *r);
/* Every function the agent stores in a field, gives the scheduler, a
 * socket or a child as a callback, and the gateway probe's ops table. */
extern const struct ckfns agent_ckfns;
/* An agent's options and a connect's plan as its save writes them, for
 * an owner that keeps its own (natbed sim's connects): the plan's table
 * is a reference its owner declares. The fills mark r failed and return
 * -1 on a problem. */
json_t *agent_config_ckpt_save(const struct agent_config *c, struct ckw *w);
int agent_config_ckpt_fill(struct agent_config *c, const json_t *j, struct ckr *r);
json_t *agent_plan_ckpt_save(const struct agent_plan *p, struct ckw *w);
int agent_plan_ckpt_fill(struct agent_plan *p, const json_t *j, struct ckr *r);

/* Gives the name up at the rendezvous (before agent_free, on exit). */
void agent_leave(struct agent *a);

/* Runs plan once registered (now, or when ready() comes); ops.report is
 * called once at the end. The plan's budget and setup_ms count from
 * then. 0, -EBUSY (a connect under way) or -EINVAL (an empty plan or
 * table, a bad peer name, a probe count out of range). */
int agent_connect(struct agent *a, const struct agent_plan *plan);

/* The main socket's own address, and what the agent registers. */
struct dg_ep agent_local(const struct agent *a);
const struct trav_cand *agent_self(const struct agent *a);
/* Its TURN allocation (turnsock.h), NULL without cfg.turn. */
struct turnsock *agent_turn(const struct agent *a);

void agent_counters(const struct agent *a, struct agent_counters *out);
const struct rdvc *agent_rdvc(const struct agent *a);
const char *agent_stray_name(enum agent_stray s);

#endif
