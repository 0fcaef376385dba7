/* natbed sim's checkpoints: what a simulation was and where it stood at a
 * virtual time T, in one JSON file (written whole: a temporary file
 * renamed into place), from which `natbed sim --restore FILE` ends with
 * the results an uninterrupted run gives.
 *
 *   {"natbed_sim_checkpoint": 3, "natbed_version": V,
 *    "topology": NAME, "topology_file": PATH, "topology_yaml": TEXT,
 *    "settings": {KEY: VALUE...},       every setting after the layers
 *    "seed": N, "at_ns": T,
 *    "progress": {"events": E, "round": K, "jobs_started": J, "jobs_done": D,
 *                 "attempts": A, "attempts_digest": "HEX", "connects_alive": C,
 *                 "pending_events": P},
 *    "engines": emu_ckpt_state(),      every NAT, firewall, gate, link, the flows
 *    "state": {...},                   the whole state (sim_state.c, sim_int.h)
 *    "state_digest": "HEX"}            FNV-1a of state's compact, key-sorted text
 *
 * The inputs (the topology's very text, every effective setting, the
 * seed) rebuild what a run builds before its first event: the topology,
 * the network, every round's plan. "state" holds the rest, every object
 * of the process written through natbed/ckpt.h: the scheduler's queue,
 * the network and its engines, every host's program, every connect
 * running with its agent, the round under way, the attempts so far. A
 * restore refuses a state whose digest is not the file's (an edit, a
 * damaged file: the state's parts are trusted to be what natbed wrote,
 * pointers and all), builds its objects, schedules the queue again in its order,
 * and checks progress and engines against the file's: a difference (a
 * checkpoint of another natbed build, an edited file) refuses it, naming
 * the part.
 *
 * A checkpoint whose state could not be written holds none (said once on
 * stderr); its restore rebuilds the run from the inputs and replays it to
 * T (writing no results, checkpoints or progress meanwhile), then checks
 * progress and engines the same way. A simulation is a pure function of
 * its inputs (every draw keyed by the seed, every event in (time, order
 * scheduled) order, no clock or socket read), so both ways end alike.
 */
#ifndef NATBED_CLI_SIM_CKPT_H
#define NATBED_CLI_SIM_CKPT_H

#include <jansson.h>
#include <stdbool.h>
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

/* Whether the replay (replayed) or the restore of ck's state reached the
 * checkpoint's state: pt and engines as the restored run has them at
 * ck's at_ns. 0, or -1 with the first part that differs in err ("PATH:
 * engines.nats.home differs after replaying to 120.000 s ..."). */
int sim_ckpt_verify(const struct sim_ckpt *ck, const char *path, bool replayed,
		    const struct sim_ckpt_point *pt, const json_t *engines, char *err,
		    size_t errlen);

struct results;

/* The attempts r holds, in the files' order, every value exact (NAN as
 * null): a text of lines, each an attempt as a compact JSON array (a few
 * hundred bytes an attempt, where a JSON tree of them took some KB). A
 * new reference, NULL on ENOMEM. */
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
