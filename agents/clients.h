/* natbed agents: many logical clients in one process, a state machine over
 * struct dgram (no I/O, no clock of its own) behind `natbed-agent clients`.
 *
 * It takes a schedule, one line per client:
 *
 *	ID T_S PEER [METHOD|cascade] [PRIORITY]
 *
 * and at T_S seconds after clients_new() starts that client: an agent of
 * its own (agent_core.h: its own main socket, the name PREFIX.ID, the NAT
 * discovery as configured) that registers and connects to PEER with
 * METHOD, or through the cascade (the default) by PRIORITY, as
 * `natbed-agent connect` does. Its report goes to ops.report with its id
 * and the time it started; the agent then gives its name up and is freed.
 * Lines may come before or while it runs, in any order of time; a line
 * whose time has passed starts at once. At most max_alive clients live at
 * once: one due past that waits, in the order they came due, for one to
 * end. ops.idle is called once the input has ended (clients_eof()) and
 * every client has reported.
 */
#ifndef NATBED_AGENTS_CLIENTS_H
#define NATBED_AGENTS_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_core.h"

#define CLIENTS_ALIVE_DEFAULT 256     /* clients alive at once */
#define CLIENTS_PENDING_MAX   65536   /* lines taken and not yet reported */
#define CLIENTS_LINE_MAX      256     /* bytes of one schedule line */
#define CLIENTS_T_MAX_S	      86400.0 /* the latest T_S */

struct clients_config {
	/* Every client's agent: name is the prefix (PREFIX.ID must stay a
	 * valid name, RDV_NAME_MAX), bind's port is ignored (each client a
	 * free one), serve is off. */
	struct agent_config agent;
	/* Every client's plan but peer, the steps and the priority, which
	 * its line gives: the cascade's table, limits and learning store,
	 * total_ns, probes and probe. */
	struct agent_plan plan;
	enum sel_priority priority; /* a cascade line without PRIORITY */
	int max_alive;		    /* 0: CLIENTS_ALIVE_DEFAULT */
};

struct clients_ops {
	/* A client's connect ended; r is valid during the call. t_s: when it
	 * started, in seconds after clients_new() (its T_S, or later when it
	 * waited for room or its line came late). */
	void (*report)(void *arg, const char *id, double t_s, const struct agent_report *r);
	/* The input ended and every client reported (called once). */
	void (*idle)(void *arg);
	void *arg;
};

struct clients_counters {
	uint64_t lines;	    /* taken */
	uint64_t started;   /* agents made */
	uint64_t reported;  /* reports given (started or not) */
	uint64_t connected; /* of those, successes */
	uint64_t waited;    /* came due with max_alive alive */
	unsigned alive, alive_max;
	unsigned pending; /* lines taken and not yet reported */
};

struct clients;

/* Clients on d (d must outlive them); the schedule's clock starts now.
 * NULL on ENOMEM or a bad config (a prefix that is no name). */
struct clients *clients_new(const struct dgram *d, const struct clients_config *cfg,
			    const struct clients_ops *ops);

/* Gives every live client's name up and frees everything, reporting
 * nothing more. NULL is safe. */
void clients_free(struct clients *c);

/* Takes one schedule line (no newline; blank lines and lines from '#'
 * on are nothing). 0 taken or nothing; -EINVAL a bad line (err says
 * what); -ENOSPC CLIENTS_PENDING_MAX lines are pending (it may be given
 * again after a report); -ENOMEM. */
int clients_line(struct clients *c, const char *line, char *err, size_t errlen);

/* Whether another line would be taken now (fewer than
 * CLIENTS_PENDING_MAX pending): a reader may stop reading until then. */
bool clients_room(const struct clients *c);

/* No more lines will come. */
void clients_eof(struct clients *c);

void clients_counters(const struct clients *c, struct clients_counters *out);

#endif
