/* natbed sim's insides, shared by sim.c (the run) and sim_state.c (its
 * whole state in a checkpoint). */
#ifndef NATBED_CLI_SIM_INT_H
#define NATBED_CLI_SIM_INT_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/ckpt.h"
#include "natbed/clock.h"
#include "run_opts.h"
#include "run_plan.h"
#include "run_progress.h"
#include "select.h"
#include "sim_ckpt.h"

enum sim_job_state { SIM_JOB_WAITING, SIM_JOB_RUNNING, SIM_JOB_DONE };

struct sim {
	struct run_setup *st;
	struct topo *t;
	uint64_t seed;
	char out[PATH_MAX];
	char *yaml; /* the topology's text, for checkpoints */
	size_t yaml_len;
	const char *topo_file; /* as results and checkpoints name it; NULL: built in */
	bool json;
	double until_ci;
	int max_rounds, parallel;
	enum sel_priority priority;
	bool no_relay;
	natbed_time_t budget_ns;

	struct clock_virtual vc;
	struct sched *s;
	struct vnet *v;
	struct sim_hosts *hosts;
	struct sim_conns *conns;
	struct results *r;
	struct sim_pool *pool; /* --site-per-client: clones of the sites; NULL: shared */

	/* the round under way */
	unsigned round;
	struct run_plan plan;
	uint8_t *jstate; /* per job: enum sim_job_state */
	int *clone;	 /* per job with a pool: the clone an arrival connects from */
	bool *busy;	 /* run_busy_key(): a pair connects through it */
	size_t next_pair, next_arrival;
	uint64_t started, finished; /* this round's jobs */
	natbed_time_t epoch;	    /* the round's start */
	uint64_t arrival_ev;
	bool ready, round_over, finished_all;

	/* what the run did so far */
	uint64_t events, attempts, ok, digest;
	size_t total;

	/* checkpoints */
	natbed_time_t ckpt_every, next_ckpt;
	const char *ckpt_path;
	struct sim_ckpt *restore; /* --restore's checkpoint */
	bool replaying;		  /* until the replay reached it */
	bool said_replay;	  /* that checkpoints hold no whole state */
	const char *restore_path;

	struct run_progress bar;
	double t0, t_end; /* wall clock: the start, the end of the simulation proper */
	char err[TOPO_ERR_MAX + 512];
};

/* The virtual network, every host's program and the connects (sim.c);
 * with hosts (a checkpoint's state.hosts), the scheduler set to at_ns and
 * the programs built from it through r. 0, or -1 (said on stderr). */
int sim_world(struct sim *x, const json_t *hosts, natbed_time_t at_ns, struct ckr *r);

/* The functions the run gives the scheduler and the connects (sim.c). */
extern const struct ckfns sim_ckfns;

/* The whole state of x now, for a checkpoint's "state": NULL with why
 * (a part that cannot be written) in why. */
json_t *sim_state_save(struct sim *x, char *why, size_t whylen);

/* x as state says, its topology, settings and seed already x's: the
 * scheduler at the checkpoint's time, the network, every program and
 * connect, the round under way, the attempts so far, every event pending.
 * 0, or -1 with the problem on stderr (then free nothing of the run but
 * its topology: parts may point nowhere). */
int sim_state_restore(struct sim *x, const json_t *state, natbed_time_t at_ns);

#endif
