/* natbed-agent behind a zero-trust gate (docs/gate.md): with --gate, the
 * agent authenticates (agents/gatec.h) before it registers or traverses,
 * and its result line says how long that took.
 *
 * Kept apart from the agent's state machine: the gate's answer comes
 * before agent_new() is called, on the program's own loop. */
#ifndef NATBED_AGENTS_AGENT_GATE_H
#define NATBED_AGENTS_AGENT_GATE_H

#include <jansson.h>
#include <stdbool.h>

#include "gatec.h"

#define AGENT_GATE_SERVE_TRIES 10 /* serve asks again after a denial, this many times in all */

struct agent_cli;
struct agent_plan;
struct agent_report;

/* What the gate options asked, and how the exchange ended. */
struct agent_gate {
	bool on;       /* --gate given */
	bool have_key; /* --gate-key given */
	bool have_user;
	struct gatec_cfg cfg;
	bool done;
	struct gatec_report rep;
};

/* Takes a gate option (--gate, --gate-key, --gate-user, --gate-resource):
 * 1 taken, 0 not a gate option, -1 a bad value (said on stderr). */
int agent_gate_option(struct agent_cli *c, int opt, const char *arg);

/* Whether the gate options that came go together; says why not. */
bool agent_gate_complete(const struct agent_cli *c);

/* With --gate: runs the exchange on c's loop until the gate answers (or
 * a signal comes) and logs how it ended; serve (c->cfg.serve) asks again
 * after a denial, AGENT_GATE_SERVE_TRIES times in all. 0 when granted or
 * when there is no gate; -EACCES when refused, denied or unanswered;
 * -EINTR when stopped first. */
int agent_gate_auth(struct agent_cli *c);

/* With --gate, adds to a result line "gate" (granted, denied, refused or
 * timeout), "auth_ms" (the first request to the answer) and "trust" (the
 * level the gate decided at; null when it did not decide), and counts the
 * auth time into "setup_ms". Without --gate, leaves j as it is. */
void agent_gate_json(const struct agent_cli *c, json_t *j);

/* The report of a connect the gate stopped: nothing tried, reason
 * "gate: ..." (plan's first method named, as a report names one). */
void agent_gate_report(const struct agent_cli *c, const struct agent_plan *plan,
		       struct agent_report *r);

#endif
