/* natbed check: the evidence of a run read back from its captures.
 *
 * check_run() reads what `natbed up --out DIR` (or `natbed run`) left in
 * DIR: HOST.pcap per host port, NAT-wan.pcap per NAT, events.jsonl, the
 * topology (DIR/topology.yaml) and, when there is one, results.json. Per
 * NAT it rebuilds the mappings from the NAT's inside captures (the ports of
 * the hosts behind it and the outside captures of the NATs behind it) and
 * its outside capture, and checks them against the behaviour the topology
 * gives it (RFC 4787: mapping, filtering, hairpinning, port assignment,
 * timeouts; RFC 6888: paired pooling, port blocks). Per attempt of
 * results.json, every success an agent claims must show as packets both
 * ways on both hosts' captures. Every STUN message of every capture must
 * be well formed. docs/check.md says what each check proves and how.
 *
 *	struct check_opts o = {.out = stdout};
 *	struct check_verdict v;
 *	if (check_run(dir, &o, &v, err, sizeof(err)) < 0) ... could not read DIR
 *	results_set_check(r, v.passed, v.n_violations, v.summary);
 */
#ifndef NATBED_CLI_CHECK_H
#define NATBED_CLI_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "natbed/clock.h"

#define CHECK_SUMMARY_MAX 256
/* How far a capture time may be from the moment the NAT's own clock
 * decided (a mapping's end, a timer that ran late): a check that depends
 * on a timeout never judges within this of it. */
#define CHECK_SLACK_DEFAULT_NS (500 * NATBED_NS_PER_MS)
#define CHECK_LISTED_DEFAULT   20 /* violations printed per check */

struct results;

struct check_opts {
	const char *topology;	 /* NULL: DIR/topology.yaml */
	struct results *results; /* NULL: DIR/results.json when it exists */
	natbed_time_t slack_ns;	 /* 0: CHECK_SLACK_DEFAULT_NS */
	FILE *out;		 /* the table and the violations; NULL: print nothing */
	unsigned listed;	 /* violations printed per check; 0: CHECK_LISTED_DEFAULT */
};

/* What a check of a run found. A check is one row of the table: one rule
 * on one NAT (leak, mapping, filtering, hairpin, ports, timeout), the
 * attempts of results.json, or the STUN messages. */
struct check_verdict {
	bool passed; /* no violation */
	unsigned n_checks, n_failed, n_skipped;
	unsigned long n_violations;
	/* one line: "pass: 44 checks, 4 skipped" or "FAIL: 3 violations in 2
	 * of 44 checks: fc filtering, attempts" */
	char summary[CHECK_SUMMARY_MAX];
};

/* Checks the run in directory dir with options o (NULL: the defaults).
 * Returns 0 with *v filled (whatever the verdict), or -1 with "what: why"
 * in err when the run cannot be read: no topology, a capture that is not a
 * pcap, no capture at all, a results.json that does not load. o->results
 * stays the caller's. */
int check_run(const char *dir, const struct check_opts *o, struct check_verdict *v, char *err,
	      size_t errlen);

#endif
