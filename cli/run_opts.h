/* natbed run's settings: the command line read, then the layers applied in
 * order (built-in defaults < config file < topology < flags, config.h),
 * the topology loaded (FILE, or the built-in matrix) and its scenario set
 * to the effective values. `natbed config --show` reads the same command
 * line and prints the result. */
#ifndef NATBED_CLI_RUN_OPTS_H
#define NATBED_CLI_RUN_OPTS_H

#include <stdbool.h>

#include "config.h"
#include "natbed/topo.h"

#define RUN_FLAGS_MAX 32

struct run_flag {
	enum config_key key;
	const char *value;
};

struct run_setup {
	const char *cmd;     /* "run", "sim" or "config", for messages */
	bool sim;	     /* natbed sim's settings (its defaults, its flags) */
	const char *file;    /* NULL: the built-in matrix */
	const char *config;  /* --config FILE, or NULL */
	const char *restore; /* natbed sim --restore FILE, or NULL */
	/* the topology from memory instead (natbed sim --restore: the
	 * checkpoint's copy), named topo_name; and no config file read */
	const char *topo_text;
	size_t topo_text_len;
	bool no_config_file;
	bool json;
	struct run_flag flags[RUN_FLAGS_MAX];
	int n_flags;
	struct config cfg;
	struct topo *t;
	char topo_name[4200]; /* FILE, or "(built-in matrix)" */
};

/* The built-in matrix (topologies/matrix.yaml, compiled in). */
extern const char natbed_matrix_yaml[];
extern const unsigned long natbed_matrix_yaml_len;

/* Reads argv (cmd's options, see natbed run --help and natbed sim
 * --help) into s (whose cmd and sim the caller set). Returns 0, 1 when
 * --help was printed (exit 0), or -1 on bad usage (printed): natbed
 * sim's own flags (--checkpoint-every, --checkpoint, --restore,
 * --site-per-client) are bad usage of natbed run and of natbed config
 * without --sim, said in one line (no usage). */
int run_opts_parse(int argc, char **argv, struct run_setup *s, void (*usage)(FILE *));

/* Applies the layers and loads the topology. 0, or 2 for a bad config
 * file, topology or flag value (printed, naming file and line or flag). */
int run_opts_settle(struct run_setup *s);

struct results;

/* Records in r every setting given (results_set_option): topology_file
 * (topo_file, or "(built-in matrix)" when NULL) and each key set, so
 * the run can be repeated from its files: natbed run's keys for natbed
 * run; for natbed sim, whose results.json must not depend on where it was
 * written, every key but those saying where its files go. */
void run_opts_record(const struct run_setup *s, const char *topo_file, struct results *r);

void run_opts_free(struct run_setup *s);

#endif
