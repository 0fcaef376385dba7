/* natbed run: what a topology's scenario asks for, as a list of connects.
 *
 * Each job is one `natbed-agent connect` from host a to host b at a time
 * after the run's start: the explicit pairs at 0 in file order, then the
 * arrivals (docs/topology.md, Scenarios) at their Poisson times, each from
 * a site drawn by weight. Every draw comes from the seed, so one topology
 * and one seed give one list. No I/O: a unit test checks it. */
#ifndef NATBED_CLI_RUN_PLAN_H
#define NATBED_CLI_RUN_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "natbed/topo.h"

/* A NAT behaviour's name for the results: the NAT's preset (or its name
 * when it has none), with " (pcp)" when it grants port mappings,
 * "+"-joined with its upstream's; "public" for a host on the internet. */
#define RUN_BEHAV_MAX (2 * TOPO_NAME_MAX + 2)

struct run_job {
	unsigned id;		   /* 0.., in the order of the list */
	int a, b;		   /* hosts: a connects to b (indices in topo.hosts) */
	const char *method;	   /* NULL: the cascade */
	const char *priority;	   /* NULL: the agent's default */
	double t_s;		   /* when, seconds after the start */
	bool arrival;		   /* an arriving client (else an explicit pair) */
	char nat_a[RUN_BEHAV_MAX]; /* a's NAT behaviour, for the results */
	char nat_b[RUN_BEHAV_MAX]; /* b's; both "lan" when a and b share a NAT */
};

struct run_plan {
	struct run_job *jobs;
	size_t n_jobs;
	bool arrivals; /* some jobs are arrivals */
	double last_s; /* the last job's time */
};

/* The jobs of t's scenario drawn with seed. 0, or -1 with err set (no
 * scenario, or out of memory). Free with run_plan_free(). */
int run_plan_build(const struct topo *t, uint64_t seed, struct run_plan *p, char *err,
		   size_t errlen);
void run_plan_free(struct run_plan *p);

/* For every host (peak[t->n_hosts]), the most arrivals at it as a site
 * within any window_s of time in t's scenario drawn with seed: with every
 * connect over within window_s of its start, the most of its clients
 * that can be connecting at once (natbed sim's clones of a site, one per
 * client, docs/sim.md). 0, or -1 on ENOMEM. */
int run_plan_site_peaks(const struct topo *t, uint64_t seed, double window_s, uint32_t *peak);

/* What keeps two explicit pairs apart while they connect (natbed run,
 * natbed sim: never two through one NAT at once, so one pair's mappings
 * never move another's predicted ports): host h's own NAT, or h itself
 * when it is public. Keys are below run_busy_keys(t). */
size_t run_busy_key(const struct topo *t, int h);
size_t run_busy_keys(const struct topo *t);

/* The behaviour name of host h (see RUN_BEHAV_MAX) into buf. */
void run_behaviour(const struct topo *t, int h, char *buf, size_t len);

#endif
