/* natbed results: the outcomes of a run's traversal attempts and what they
 * add up to, written as results.json and results.csv (docs/results.md).
 *
 * A run adds one attempt per `natbed-agent connect` line (who connected,
 * their NAT behaviours, when, and the line itself), then the NATs'
 * port-exhaustion counters, then writes:
 *
 *	struct results *r = results_new("matrix", seed, time(NULL));
 *	results_add_agent_line(r, &origin, line, err, sizeof(err));  // per attempt
 *	results_add_port_exhaustion(r, "home", n);                     // per NAT
 *	if (results_ci_met(r, 0.05)) ... stop adding trials (--until-ci)
 *	results_set_wall(r, seconds_since_start);
 *	results_write(r, out_dir, err, sizeof(err));                   // then report_write()
 *	results_free(r);
 *
 * Every summary is derived from the attempts alone, so results_load() of a
 * written file gives back the same summaries, and writing the same attempts
 * gives byte-identical files whatever order they were added in, apart from
 * the wall-clock fields `started`, `wall_s` and `throughput_per_s`.
 *
 * Counting: a method's attempts and successes count its tries (each entry
 * of an attempt's try list that ran: the cascade's skips, whose reason
 * starts with RESULTS_SKIPPED, are listed but not counted), its setup
 * times are those of its successful tries; "overall" counts whole attempts
 * with their setup times. An attempt's fallback is more than one try that
 * ran; a method's `fallbacks` are the attempts that ended on it after one. Pairs of NAT behaviours
 *are ordered: [initiator's, responder's]. Gated attempts (met a zero-trust gate) add auth times per
 *trust level and per method, and the share the gate stopped (struct res_gatesum). */
#ifndef NATBED_CLI_RESULTS_H
#define NATBED_CLI_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "stats.h"

#define RESULTS_VERSION	     1	/* results.json's `results_version` */
#define RESULTS_TRIES_MAX    64 /* tries one attempt may list */
#define RESULTS_NONE	     "none"
#define RESULTS_SKIPPED	     "skipped" /* a try's reason: the cascade did not run it */
#define RESULTS_GATE_GRANTED "granted" /* the one gate outcome that is no failure */

/* One try of one method within an attempt, as the agent's "tried" lists it. */
struct res_try {
	const char *method; /* required */
	bool success;
	double ms;	    /* how long it took; NAN when unknown */
	const char *reason; /* why it failed; NULL on success or when unknown */
};

/* One traversal attempt: who asked whom and what happened. Strings are
 * UTF-8 and copied by results_add_attempt(); NULL optional strings and NAN
 * optional numbers are written as null. Times in milliseconds, rounded to
 * the microsecond when added. */
struct res_attempt {
	const char *a, *b;	   /* hosts: a asked to connect to b (required) */
	const char *nat_a, *nat_b; /* their NAT behaviours ("full-cone", ...; required) */
	const char *method;	   /* the method that connected, or the last one tried;
				    * NULL: the last of tried, or "none" */
	bool success;
	double setup_ms;    /* start to connected, whole cascade included */
	double rtt_ms;	    /* probe round-trip time once connected */
	double loss;	    /* probe loss, 0 to 1 */
	const char *path;   /* "direct", "relay" or "none" */
	const char *local;  /* the path's local endpoint "IP:PORT" */
	const char *remote; /* the peer's endpoint as its datagrams reach us */
	const char *reason; /* why it failed; NULL: the last try's reason */
	const struct res_try *tried;
	size_t n_tried;
	double t_s; /* when it started, seconds after the run's start (>= 0) */
	/* At a zero-trust gate (docs/gate.md), as the agent's line gives it:
	 * how the exchange ended (RESULTS_GATE_GRANTED, "denied", "refused",
	 * "timeout"; NULL: the attempt met no gate), the trust level the gate
	 * decided at ("untrusted" ... "verified"; NULL when it did not decide
	 * or there was no gate), and the time spent authenticating (>= 0;
	 * NAN when unknown or ungated). */
	double auth_ms;
	const char *gate;
	const char *trust;
};

/* What natbed run knows of an agent line beyond the line itself. */
struct res_origin {
	const char *a, *b;	   /* b NULL: the line's "peer" */
	const char *nat_a, *nat_b; /* NAT behaviours of a and b */
	double t_s;		   /* as in struct res_attempt */
	double auth_ms;		   /* used when the line has no "auth_ms"; NAN: none */
};

/* Rates and setup times of a set of tries or attempts. */
struct res_summary {
	const char *name; /* the method, or NULL for whole attempts */
	unsigned attempts, successes;
	unsigned fallbacks;	/* see the counting rules above */
	double rate;		/* successes / attempts; NAN when no attempt */
	struct stats_ci ci95;	/* Wilson, z = STATS_Z95 */
	double mean, p50, p95;	/* setup ms over the successes; NAN when none */
	const double *setup_ms; /* those setup times, ascending */
	size_t n_setup;		/* = successes */
};

/* The winner of a set of attempts (a host pair, a pair of behaviours): the
 * method that connected most often (ties: the lower p50 setup, then the
 * name), with the p50 of the setup_ms of the attempts it won. */
struct res_winner {
	const char *method; /* RESULTS_NONE when no attempt connected */
	double setup_ms;    /* NAN with none */
};

/* One pair of NAT behaviours: whole attempts, and each method's tries. */
struct res_natpair {
	const char *nat[2];
	struct res_summary overall;
	struct res_winner winner;
	const struct res_summary *methods; /* sorted by name */
	size_t n_methods;
};

/* The path of a natbed matrix cell (RESULTS_NONE when neither). */
#define RESULTS_PATH_DIRECT  "direct"
#define RESULTS_PATH_RELAYED "relayed"

/* One cell of the matrix: every attempt of host a to host b. */
struct res_cell {
	const char *a, *b, *nat_a, *nat_b; /* NATs as the first attempt gave them */
	unsigned attempts, successes;
	struct res_winner winner;
	/* When the cell's attempts carry exit statuses (natbed matrix's): the
	 * path its attempts took, RESULTS_PATH_DIRECT if one connected on a
	 * "direct" path, else RESULTS_PATH_RELAYED if one did on a "relay"
	 * path, else RESULTS_NONE; and the first attempt's exit statuses.
	 * path NULL and has_exit false otherwise. */
	const char *path;
	bool has_exit;
	int exit_a, exit_b;
};

/* A fallback flow: attempts whose first try was method `from` and which
 * ended connected by `to` (RESULTS_NONE: not connected). */
struct res_flow {
	const char *from, *to;
	unsigned count;
};

/* Authentication at zero-trust gates over a set of gated attempts (those
 * whose `gate` is set): how many, how many the gate stopped (any outcome
 * but RESULTS_GATE_GRANTED), that share with its Wilson interval, and
 * auth_ms over those whose auth_ms is known. */
struct res_gatesum {
	const char *name; /* the trust level or method; NULL: all, or no level */
	unsigned attempts, failed;
	double failed_rate;    /* failed / attempts; NAN when no attempt */
	struct stats_ci ci95;  /* Wilson, z = STATS_Z95 */
	double mean, p50, p95; /* auth_ms; NAN when none known */
	const double *auth_ms; /* those times, ascending */
	size_t n_auth;
};

struct results;

/* Whether try t is one the cascade skipped (listed, never run). */
bool results_try_skipped(const struct res_try *t);

/* An empty run of topology (its name) with seed, started at wall-clock
 * time started (written as UTC ISO 8601). NULL on ENOMEM. */
struct results *results_new(const char *topology, uint64_t seed, time_t started);
/* Reads a results.json back (its attempts, metadata and port-exhaustion
 * counts; every summary is derived again). NULL with "PATH: what is wrong"
 * in err. */
struct results *results_load(const char *path, char *err, size_t errlen);
void results_free(struct results *r);

/* Adds one attempt (copied). 0, -EINVAL when a required field is missing,
 * a string is not UTF-8, n_tried > RESULTS_TRIES_MAX, a number is out of
 * range (t_s < 0 or not finite, auth_ms < 0 or infinite), gate is not
 * granted, denied, refused or timeout, trust is not a trust level or
 * comes without gate, or -ENOMEM. */
int results_add_attempt(struct results *r, const struct res_attempt *a);
/* natbed matrix (docs/byo.md): adds attempt a as results_add_attempt()
 * does, with the exit statuses of the program on a->a and on a->b, as a
 * shell gives them (0-255; 128 + N: ended by signal N), written as its
 * `exit` and its matrix cell's. -EINVAL also for a status outside 0-255. */
int results_add_exit_attempt(struct results *r, const struct res_attempt *a, int exit_a,
			     int exit_b);
/* Parses one `natbed-agent connect` JSON line and adds it as an attempt
 * of o: its outcome, and behind a gate its "gate", "trust" and "auth_ms"
 * (the line's auth_ms, null included, wins over o's). 0, or -EINVAL with
 * the reason in err, or -ENOMEM. */
int results_add_agent_line(struct results *r, const struct res_origin *o, const char *line,
			   char *err, size_t errlen);
/* Adds count port-exhaustion events seen at NAT nat. 0, -EINVAL, -ENOMEM. */
int results_add_port_exhaustion(struct results *r, const char *nat, unsigned long count);
/* Records how long the run took in wall-clock seconds (`wall_s`, and
 * `throughput_per_s` = attempts / wall_s). */
void results_set_wall(struct results *r, double wall_s);
/* Records a setting needed to repeat the run (`options` in results.json:
 * the topology file, flags, ...). Setting a key again replaces it. 0,
 * -EINVAL, -ENOMEM. */
int results_set_option(struct results *r, const char *key, const char *value);

/* Records how the attempts were made: "run" (natbed run: real packets
 * through natbed-emu, wall-clock times) or "sim" (natbed sim: the same
 * code in virtual time), written as `mode`; absent until set. 0, or
 * -EINVAL for another word. */
int results_set_mode(struct results *r, const char *mode);
/* The mode set (a static string), or NULL. */
const char *results_mode(const struct results *r);

/* Records natbed check's verdict on the run's captures (cli/check.h):
 * whether it passed, its number of violations and its one-line summary,
 * written as `check` in results.json (absent until set). Setting it again
 * replaces it. 0, -EINVAL (summary NULL or not UTF-8), -ENOMEM. */
int results_set_check(struct results *r, bool passed, unsigned long n_violations,
		      const char *summary);
/* The verdict recorded: true with its parts filled, or false when none
 * was (the pointers untouched). */
bool results_check(const struct results *r, bool *passed, unsigned long *n_violations,
		   const char **summary);

/* The adaptive sample size check (`--until-ci MARGIN`): true when every
 * success rate results.json reports (overall, per method, per pair of
 * behaviours and per method within each) has a 95% Wilson half-width
 * under margin; false before any attempt. */
bool results_ci_met(struct results *r, double margin);

/* The run as it stands. Pointers returned below stay valid until the next
 * results_add_* or results_free; strings live as long as r. */
const char *results_topology(const struct results *r);
size_t results_n_attempts(const struct results *r);
/* The i-th attempt in the files' order: by t_s, then a, b, then the order
 * added. Strings are r's own copies. */
const struct res_attempt *results_attempt(struct results *r, size_t i);
/* The exit statuses the i-th attempt was added with (natbed matrix's):
 * true with them in *exit_a and *exit_b, false for any other attempt. */
bool results_attempt_exit(struct results *r, size_t i, int *exit_a, int *exit_b);
const struct res_summary *results_overall(struct results *r);
size_t results_n_methods(struct results *r);
const struct res_summary *results_method(struct results *r, size_t i); /* by name */
size_t results_n_natpairs(struct results *r);
const struct res_natpair *results_natpair(struct results *r, size_t i); /* by nat[0], nat[1] */
size_t results_n_cells(struct results *r);
const struct res_cell *results_cell(struct results *r, size_t i); /* by a, b */
size_t results_n_flows(struct results *r);
const struct res_flow *results_flow(struct results *r, size_t i); /* by from, to */
/* Gates: every gated attempt (attempts 0 when none met a gate); per trust
 * level the gate decided at, the levels in their order (untrusted first,
 * verified last), then the attempts it decided no level for (name NULL:
 * refused, timed out); per method of the attempts (as `method`), by name. */
const struct res_gatesum *results_gate(struct results *r);
size_t results_n_gate_levels(struct results *r);
const struct res_gatesum *results_gate_level(struct results *r, size_t i);
size_t results_n_gate_methods(struct results *r);
const struct res_gatesum *results_gate_method(struct results *r, size_t i);
/* Port-exhaustion events: the total, and NAT i's name and count (by name). */
unsigned long results_port_exhaustion(const struct results *r);
size_t results_n_exhausted_nats(const struct results *r);
const char *results_exhausted_nat(const struct results *r, size_t i, unsigned long *count);
/* `started` as written, `wall_s` (NAN when unset), `seed` */
const char *results_started(const struct results *r);
double results_wall(const struct results *r);
uint64_t results_seed(const struct results *r);
const char *results_natbed_version(const struct results *r);
/* The options set, by key: option i's key, with its value in *value. */
size_t results_n_options(const struct results *r);
const char *results_option(const struct results *r, size_t i, const char **value);

/* x (finite) rounded to places (0 to 6) as printf's "%.15g" writes it, in
 * b: how results.json and results.csv write their reals. */
void results_fmt_real(char b[static 32], double x, int places);

/* results.json (JSON, keys sorted, two-space indent) and results.csv (one
 * row per attempt, RFC 4180) to a stream. 0, or -EIO / -ENOMEM. */
int results_write_json(struct results *r, FILE *f);
int results_write_csv(struct results *r, FILE *f);
/* Both files into directory dir (which must exist), each written to a
 * temporary file and renamed. 0, or -errno with "PATH: what" in err. */
int results_write(struct results *r, const char *dir, char *err, size_t errlen);
/* What fn writes, to path: a temporary file beside it, renamed into place
 * once complete, so a reader never sees half a file. 0, or fn's error or
 * -errno, with "PATH: what" in err. */
int results_write_file(struct results *r, const char *path, int (*fn)(struct results *, FILE *),
		       char *err, size_t errlen);

#endif
