/* natbed-emu zero-trust gate: a policy enforcement point on a NAT (between
 * its inside and its upstream) or on a host's link (docs/gate.md).
 *
 * Until a host behind it has authenticated, the gate passes only its auth
 * requests and what the topology exempts. An auth request (natbed/gatemsg.h)
 * is checked at once, in this order: well formed, a user the gate knows,
 * sent from that user's own address, integrity with the user's key, its
 * resource, a nonce inside the replay window, room among the user's
 * requests under way. A failed check refuses it at once (counted by
 * reason, answered with an error when the request can be answered); these
 * refusals never change the user's trust or risk, since anyone can send
 * them in anyone's name. A request that passes waits its auth delay, drawn
 * by the user's trust level, on the scheduler; then the gate scores risk,
 * decides (granted with probability success[level] * (1 - factor * risk)),
 * moves the user's trust (escalation after a grant, demotion after denials
 * in a row), answers, and on a grant opens a pinhole for the user and the
 * resource, which lives pinhole_ttl after the last packet through it.
 * Every draw is rng_keyed_unit(seed, key of (gate, user), 4 * n + i) for
 * the user's n-th accepted request: the same seed gives the same delays
 * and decisions however users interleave.
 *
 * A pure module like the firewall: gate_check() says what happens to one
 * packet and never drops or sends it; the gate's answers go out through
 * cfg.reply (at once for a refusal, from a scheduler event for a
 * decision), its news through cfg.event. No clock of its own: time comes
 * from its caller and its scheduler, so it runs in real and virtual time.
 *
 * Direction: GATE_OUT leaves the gated side (a NAT's inside toward its
 * upstream, a host toward the network), GATE_IN comes toward it. A NAT's
 * gate sees inside addresses: check outbound packets before nat_outbound()
 * and inbound ones after nat_inbound(). The remote of a packet is its
 * destination going out, its source coming in; a pinhole or exemption
 * with a port matches UDP and TCP by the remote's port, and other packets
 * (ICMP, later fragments) by address alone. */
#ifndef NATBED_EMU_GATE_H
#define NATBED_EMU_GATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/gatemsg.h"
#include "natbed/sched.h"
#include "natbed/topo.h"
#include "proto.h"

#define GATE_PINS_MAX	 16 /* pinholes of one host; a grant past them replaces the oldest */
#define GATE_PENDING_MAX 8  /* requests of one host waiting for their delay */
#define GATE_HISTORY	 8  /* decisions kept per host, for `ctl gate NAME hosts` */

enum gate_dir { GATE_OUT, GATE_IN };

enum gate_verdict {
	GATE_PASS,    /* through a pinhole or an exemption */
	GATE_TAKEN,   /* an auth request, kept: its answer comes after its delay */
	GATE_REFUSED, /* an auth request refused at once: gate_last_why() */
	GATE_DROP,    /* no pinhole lets it through: gate_last_why() */
};

/* Why a request was refused at once. */
enum gate_refusal {
	GATE_R_MALFORMED,     /* not an AUTH request, an attribute missing or bad */
	GATE_R_UNKNOWN_USER,  /* USERNAME is no host behind this gate */
	GATE_R_SPOOFED,	      /* a host's name from another address */
	GATE_R_BAD_INTEGRITY, /* MESSAGE-INTEGRITY-SHA256 missing or wrong */
	GATE_R_REPLAY,	      /* a nonce used before, or older than the window */
	GATE_R_BUSY,	      /* GATE_PENDING_MAX requests of the host under way */
	GATE_R_COUNT
};

/* Why a packet was dropped. */
enum gate_drop {
	GATE_D_UNAUTHENTICATED, /* its host has no pinhole */
	GATE_D_RESOURCE,	/* its host has pinholes, none for this remote */
	GATE_D_UNKNOWN_HOST,	/* from (to) no host behind the gate */
	GATE_D_COUNT
};

/* "malformed", "unknown_user", ... and "unauthenticated", ... */
const char *gate_refusal_name(enum gate_refusal r);
const char *gate_drop_name(enum gate_drop d);

struct gate_counters {
	uint64_t passed; /* through pinholes */
	uint64_t exempt; /* through exemptions */
	uint64_t drops[GATE_D_COUNT];
	uint64_t requests;    /* auth requests seen */
	uint64_t retransmits; /* of a request under way or just answered */
	uint64_t refused[GATE_R_COUNT];
	uint64_t granted, denied;
	uint64_t escalations, demotions;
	uint64_t pinholes_opened, pinholes_expired;
};

/* An answer the gate sends: from its address and port to a host's
 * endpoint (network order). buf is valid during the call. */
struct gate_reply {
	uint32_t src, dst;
	uint16_t sport, dport;
	const uint8_t *buf;
	size_t len;
	int host;      /* the topology index of the host it goes to */
	int gate_nat;  /* where the gate stands: on this NAT's inside, or -1, */
	int gate_host; /* on this host's link, or -1 */
};

struct gate_cfg {
	const struct topo *topo;    /* names, addresses, peers; must outlive the gate */
	const struct topo_gate *tg; /* the block (must outlive it); its model is copied */
	const char *name;	    /* the NAT or host it stands on */
	int nat;		    /* the NAT whose inside it gates, or -1 */
	int host;		    /* the host whose link it gates, or -1 */
	uint64_t seed;
	/* Sends r (at once, or from an event of the gate's). */
	void (*reply)(void *ctx, const struct gate_reply *r, natbed_time_t now);
	/* Writes an event (gate_auth, gate_trust, gate_pinhole_expired) with
	 * fields as JSON members text. NULL: none. */
	void (*event)(void *ctx, natbed_time_t now, const char *event, const char *fields);
	void *ctx;
};

struct gate;

/* A gate with cfg (copied) on scheduler s. NULL on ENOMEM or a cfg that
 * names neither a NAT nor a host. */
struct gate *gate_new(const struct gate_cfg *cfg, struct sched *s);

/* Cancels every event (requests under way get no answer), frees. NULL is
 * safe. */
void gate_free(struct gate *g);

/* Every gate of topology t: one per host and NAT with a gate block, into
 * host_gate[t->n_hosts] and nat_gate[t->n_nats] (zeroed by the caller;
 * NULL stays where there is none), each a gate_new() on s of proto with
 * the block, its owner's name and place filled in. 0, or -1 on ENOMEM
 * (the gates made so far are the caller's to free). */
int gate_open_all(const struct topo *t, struct sched *s, const struct gate_cfg *proto,
		  struct gate **host_gate, struct gate **nat_gate);

/* Decides packet v (a parsed IPv4 view, not changed) travelling dir at
 * now; an auth request to the gate's address and port is taken from it. */
enum gate_verdict gate_check(struct gate *g, const struct ip_view *v, enum gate_dir dir,
			     natbed_time_t now);

/* The auth request buf[0..len) from src:sport (network order), as
 * gate_check() hands it on: GATE_TAKEN or GATE_REFUSED. */
enum gate_verdict gate_request(struct gate *g, uint32_t src, uint16_t sport, const uint8_t *buf,
			       size_t len, natbed_time_t now);

/* Host h (a topology index) starts again behind g as the topology
 * describes it, as a new host would (natbed sim: another client at a
 * clone of a site): its trust level, nonce window, denials, request times
 * and history as at the start, its pinholes closed, its requests under
 * way never answered. Its draws go on (the next ones are new) and its
 * counters keep counting. 0, or -1 when g gates no host h. */
int gate_host_renew(struct gate *g, int h);

/* The reason of the last GATE_REFUSED or GATE_DROP ("bad_integrity",
 * "unauthenticated", ...), and the host it concerned ("" when none). */
const char *gate_last_why(const struct gate *g);
const char *gate_last_host(const struct gate *g);

const struct gate_counters *gate_counters(const struct gate *g);
const struct topo_gate_model *gate_model(const struct gate *g);
const char *gate_name(const struct gate *g);
/* Where auth requests go: address in network order, port in host order. */
uint32_t gate_address(const struct gate *g);
uint16_t gate_port(const struct gate *g); /* host order */

/* Host h's (topo index) trust level, or -1 when h is not behind g. */
int gate_host_level(const struct gate *g, int h);

/* Host h's risk at now (0..1), as the next decision would score it before
 * its own request counts; -1 when h is not behind g. */
double gate_host_risk(const struct gate *g, int h, natbed_time_t now);

/* --- control, inspection, checkpoints (gate_ctl.c) ------------------------ */

/* Changes the model: a key of topo_gate_model_set(). 0, or -1 with err. */
int gate_set(struct gate *g, const char *key, const char *value, char *err, size_t errlen);

/* Sets the trust level of the host called host. 0, or -1 with err. */
int gate_set_trust(struct gate *g, const char *host, const char *level, natbed_time_t now,
		   char *err, size_t errlen);

/* {name, address, port, model:{...}, counters:{...}}. New reference. */
json_t *gate_stats_json(const struct gate *g);

/* Each host: its level, risk, failures, requests, grants, denials and
 * refusals by reason, its pinholes and requests under way, its last
 * decisions. New reference. */
json_t *gate_hosts_json(const struct gate *g, natbed_time_t now);

/* Everything the gate keeps (its model, counters, each host's level,
 * risk inputs, replay window, draws, pinholes, requests under way,
 * history), times relative to now. New reference, or NULL on ENOMEM. */
json_t *gate_checkpoint(const struct gate *g, natbed_time_t now);

/* As fw_restore_prepare(): checks j against g (the same hosts) and builds
 * its state aside on g's scheduler (NULL with "what: problem" in err);
 * gate_adopt() makes g run it and frees fresh. */
struct gate *gate_restore_prepare(const struct gate *g, const json_t *j, natbed_time_t now,
				  char *err, size_t errlen);
void gate_adopt(struct gate *g, struct gate *fresh);

/* --- natbed sim checkpoints (natbed/ckpt.h; gate_ctl.c) --------------------- */

struct ckw;
struct ckr;
struct ckfns;

/* g whole and exact, for a restore that goes on event for event: its
 * model, counters, the last refusal's reason, and each host (in order)
 * with its rings as they lie and its used pinhole and pending slots by
 * number, each declared (its event points at it) with its timer. Times
 * relative to the scheduler's now (which a restore finds again). Write
 * the scheduler's queue first (ckw_sched()). A new reference, NULL on
 * error (said in w). */
json_t *gate_ckpt_save(const struct gate *g, struct ckw *w);
/* Fills g, as gate_new() made it (the same configuration: topology,
 * block, name, reply) on a scheduler at the checkpoint's time, with j's
 * state: nothing is scheduled, the timers are filled at ckr_finish(). 0,
 * or -1 with the problem in r (g may hold a part of it: free it). */
int gate_ckpt_fill(struct gate *g, const json_t *j, struct ckr *r);
/* The functions a gate gives the scheduler. */
extern const struct ckfns gate_ckfns;

#endif
