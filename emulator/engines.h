/* natbed-emu: the engines a topology's boxes run, built one way for the
 * emulator's packet fabric (fabric.c) and natbed sim's virtual network
 * (vnet.c): a NAT engine (and its PCP counters) per topology NAT, a
 * firewall per host and NAT with a firewall block, a zero-trust gate per
 * host and NAT with a gate block. The two pipelines differ in how packets
 * reach these engines, never in the engines or how they are made. */
#ifndef NATBED_EMU_ENGINES_H
#define NATBED_EMU_ENGINES_H

#include <jansson.h>
#include <stddef.h>

#include "firewall.h"
#include "gate.h"
#include "nat.h"
#include "natbed/sched.h"
#include "natbed/topo.h"
#include "pcp.h"

struct engines {
	const struct topo *t;
	struct nat **nats;	  /* per NAT */
	struct pcp_counters *pcp; /* per NAT: its PCP and NAT-PMP answers */
	struct fw **nat_fw;	  /* per NAT, on its inside view; NULL where none */
	struct fw **host_fw;	  /* per host; NULL where none */
	struct gate **nat_gate;	  /* per NAT, on its inside view; NULL where none */
	struct gate **host_gate;  /* per host; NULL where none */
};

struct engines_cfg {
	const struct topo *topo;
	struct sched *sched;
	/* The gates' answers (gate_cfg.reply) and, when not NULL, the NATs'
	 * and gates' events (nat_cfg.on_event, gate_cfg.event), with ctx. */
	void (*gate_reply)(void *ctx, const struct gate_reply *r, natbed_time_t now);
	void (*event)(void *ctx, natbed_time_t now, const char *event, const char *fields);
	void *ctx;
};

/* Builds every engine of cfg->topo into e (its memory the caller's). 0,
 * or -1 with err saying what failed; engines_close() frees what was made
 * either way. */
int engines_open(struct engines *e, const struct engines_cfg *cfg, char *err, size_t errlen);

/* Frees every engine; e may be half built, or zeroed. */
void engines_close(struct engines *e);

/* By topology name; NULL when there is none. A firewall or gate name is a
 * host's or a NAT's (a host first). */
struct nat *engines_nat(const struct engines *e, const char *name);
const struct pcp_counters *engines_pcp(const struct engines *e, const char *name);
struct fw *engines_firewall(const struct engines *e, const char *name);
struct gate *engines_gate(const struct engines *e, const char *name);

/* --- natbed sim checkpoints (natbed/ckpt.h) ------------------------------- */

struct ckw;
struct ckr;
struct ckfns;

/* Every engine of e, exact (nat_ckpt_save(), fw_ckpt_save(),
 * gate_ckpt_save()), with each NAT's PCP counters: {nats:[{name, nat,
 * pcp, fw, gate}], hosts:[{index, name, fw, gate}]}, the hosts listed
 * only where they have a firewall or a gate. Write the scheduler's
 * queue first (ckw_sched()). A new reference, NULL on error (said in
 * w). */
json_t *engines_ckpt_save(const struct engines *e, struct ckw *w);
/* Fills the engines of e, as engines_open() made them from the same
 * topology on a scheduler at the checkpoint's time, with j's state.
 * Nothing is scheduled; the timers are filled at ckr_finish(). 0, or -1
 * with the problem in r. */
int engines_ckpt_fill(struct engines *e, const json_t *j, struct ckr *r);
/* The tables of the functions the engines give the scheduler: nat_ckfns,
 * fw_ckfns and gate_ckfns (the gates' reply is their owner's). */
#define ENGINES_CKFNS_N 3
extern const struct ckfns *const engines_ckfns[ENGINES_CKFNS_N];

#endif
