/* natbed agents: measured traversal outcomes per pair of NAT classes and
 * method, kept in a file (natbed-agent --learn FILE) so that later
 * selections learn from earlier runs.
 *
 * The file is JSON: {"version":1, "pairs":{"PAIR":{"METHOD":{"attempts":N,
 * "successes":S, "setup_ms_sum":T}}}} with PAIR as sel_pair_key() spells it. */
#ifndef NATBED_AGENTS_LEARN_H
#define NATBED_AGENTS_LEARN_H

#include <stdbool.h>
#include <stddef.h>

struct learn;

/* An empty store. NULL on ENOMEM. */
struct learn *learn_new(void);
/* The store in path; a file that does not exist is an empty store. NULL
 * with "PATH: what is wrong" in err for a file that is not one. */
struct learn *learn_load(const char *path, char *err, size_t errlen);
/* Writes the store to path (atomically: a temporary file renamed). 0, or
 * -1 with err filled. */
int learn_save(const struct learn *l, const char *path, char *err, size_t errlen);
void learn_free(struct learn *l);

/* One try's outcome. 0, or -1 on ENOMEM. */
int learn_record(struct learn *l, const char *pair, const char *method, bool success,
		 double setup_ms);

struct learn_counts {
	unsigned attempts, successes;
	double setup_ms_sum; /* over the successes */
};

/* The counts of (pair, method); zeros when none. l may be NULL. */
void learn_get(const struct learn *l, const char *pair, const char *method, struct learn_counts *c);

#endif
