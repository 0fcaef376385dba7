/* natbed sim's checkpoints: what a simulation was and where it stood at a
 * virtual time T, in one JSON file (written whole: a temporary file
 * renamed into place), from which `natbed sim --restore FILE` ends with
 * the results an uninterrupted run gives.
 *
 *   {"natbed_sim_checkpoint": 2, "natbed_version": V,
 *    "topology": NAME, "topology_file": PATH, "topology_yaml": TEXT,
 *    "settings": {KEY: VALUE...},       every setting after the layers
 *    "seed": N, "at_ns": T,
 *    "progress": {"events": E, "round": K, "jobs_started": J, "jobs_done": D,
 *                 "attempts": A, "attempts_digest": "HEX", "connects_alive": C,
 *                 "pending_events": P},
 *    "engines": emu_ckpt_state()}      every NAT, firewall, gate, link, the flows
 *
 * What it holds, and why a restore ends identically. A simulation is a
 * pure function of its topology, its settings and its seed: every draw is
 * keyed by the seed, every event runs in (time, order scheduled) order,
 * nothing reads a clock or a socket. So the checkpoint keeps those inputs
 * whole (the topology's very text, every effective setting), and a
 * restore rebuilds the run from them and replays it to T. What the
 * engines hold at T (each NAT's mappings, ports and generator state,
 * firewall flows, gate hosts and pending decisions, link queues, loss
 * model states and their draw counters, the flow numbers: the same JSON a
 * natbed-emu checkpoint holds, from the same serialisers) is compared
 * with the file's, and so is the progress (events run, connects started
 * and finished, a digest of every attempt recorded so far): any
 * difference (another natbed build, a changed serialiser) refuses the
 * restore, naming the part. From T on, the run goes on as one never
 * interrupted would, because up to T it was that run.
 *
 * What it does not hold, and why: the agents' state machines (every
 * transaction, timer and try under way), the scheduler's queue of
 * callbacks, and packets in flight. They are closures over pointers into
 * this process; the replay rebuilds them exactly instead. The price is
 * time: a restore computes the first T again (the replay writes no
 * results, checkpoints or progress). What a checkpoint buys is a run
 * that can be stopped (Ctrl-C, a crash, a machine going down) and
 * completed later with the same results, and a proof at each checkpoint
 * that the replay reached the very state the first run had.
 */
#ifndef NATBED_CLI_SIM_CKPT_H
#define NATBED_CLI_SIM_CKPT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/clock.h"

#define SIM_CKPT_FORMAT 3 /* 3: the whole state, when every part could be written */

/* Where a simulation stands at at_ns, besides its engines. */
struct sim_ckpt_point {
	natbed_time_t at_ns;
	uint64_t events; /* scheduler events run since the start */
	unsigned round;
	uint64_t jobs_started, jobs_done; /* in this round */
	uint64_t attempts;		  /* recorded, every round */
	uint64_t digest;		  /* of those attempts, in the order recorded */
	uint64_t alive, pending;	  /* connects running, events waiting */
};

/* What the simulation is: its inputs. */
struct sim_ckpt_head {
	const char *topology;	   /* its name */
	const char *topology_file; /* as given, or "(built-in matrix)" */
	const char *yaml;	   /* its text */
	size_t yaml_len;
	json_t *settings; /* {key: value}, borrowed */
	uint64_t seed;
};

/* Whether sim_ckpt_write could write path: creates and removes the
 * temporary file it writes through, and refuses a directory. 0, or -1
 * with "PATH: cannot write: why" in err. */
int sim_ckpt_probe(const char *path, char *err, size_t errlen);

/* Writes head, pt, engines and state (borrowed; NULL: none, a restore
 * replays) to path. 0, or -1 with "PATH: problem" in err. */
int sim_ckpt_write(const char *path, const struct sim_ckpt_head *head,
		   const struct sim_ckpt_point *pt, const json_t *engines, const json_t *state,
		   char *err, size_t errlen);

/* A checkpoint read back. */
struct sim_ckpt {
	json_t *root;
	const char *topology_file, *yaml;
	size_t yaml_len;
	const json_t *settings; /* {key: value} */
	uint64_t seed;
	struct sim_ckpt_point pt;
	const json_t *engines;
	const json_t *state; /* the whole state, or NULL: a restore replays */
};

/* Reads and checks path's format. 0, or -1 with "PATH: problem" in err. */
int sim_ckpt_load(const char *path, struct sim_ckpt *ck, char *err, size_t errlen);
void sim_ckpt_free(struct sim_ckpt *ck);

/* Whether the replay reached the checkpoint's state: pt and engines as
 * the restored run has them at ck's at_ns. 0, or -1 with the first part
 * that differs in err ("PATH: engines.nats.home differs after replaying
 * to 120.000 s ..."). */
int sim_ckpt_verify(const struct sim_ckpt *ck, const char *path, const struct sim_ckpt_point *pt,
		    const json_t *engines, char *err, size_t errlen);

struct results;

/* The attempts r holds, in the files' order, every value exact (NAN as
 * null): a new reference, NULL on ENOMEM. */
json_t *sim_ckpt_attempts(struct results *r);
/* Adds them to r in that order (an empty run of the same topology): its
 * files come out as the first run's did. 0, or -1 with the problem in
 * err. */
int sim_ckpt_attempts_add(struct results *r, const json_t *all, char *err, size_t errlen);

/* A running digest of attempts: h folded with a record's bytes. */
uint64_t sim_ckpt_fold(uint64_t h, const void *buf, size_t len);
/* h folded with v's 8 bytes, least significant first (the same on any
 * machine), and with string s and its terminating 0 (NULL: "-"). */
uint64_t sim_ckpt_fold_u64(uint64_t h, uint64_t v);
uint64_t sim_ckpt_fold_str(uint64_t h, const char *s);

#endif
