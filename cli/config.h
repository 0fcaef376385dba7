/* natbed's run settings in layers: built-in defaults < a config file
 * (/etc/natbed/natbed.yaml, or --config FILE) < the topology < flags.
 * Every value is kept as text with where it came from, checked by its
 * key's rule whichever layer sets it, so `natbed config --show` prints
 * each effective value and its source, and a bad key or value is an error
 * naming the file and line. docs/config.md lists the keys. */
#ifndef NATBED_CLI_CONFIG_H
#define NATBED_CLI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_SYSTEM_FILE "/etc/natbed/natbed.yaml"
#define CONFIG_VALUE_MAX   256
#define CONFIG_FROM_MAX	   320

enum config_key {
	CK_PREFIX,
	CK_OUT,
	CK_SEED,
	CK_PARALLEL,
	CK_UNTIL_CI,
	CK_MAX_ROUNDS,
	CK_BUDGET,
	CK_NO_RELAY,
	CK_PRIORITY,
	CK_CAPTURE,
	CK_DURATION,
	CK_CLIENTS,
	CK_ARRIVAL_RATE,
	CK_SITE_PER_CLIENT,  /* natbed sim's */
	CK_CHECKPOINT_EVERY, /* natbed sim's */
	CK_CHECKPOINT,	     /* natbed sim's */
	CK_COUNT
};

struct config_value {
	char text[CONFIG_VALUE_MAX]; /* "" : unset (the key's meaning says what then) */
	char from[CONFIG_FROM_MAX];  /* "default", "FILE:LINE", "topology FILE", "--flag" */
};

struct config {
	struct config_value v[CK_COUNT];
};

/* Every key at its built-in default: natbed run's, or with sim natbed
 * sim's (the seed's: arrivals at 2.0/s for 300 s, at most 500 clients,
 * where the topology does not say). */
void config_init(struct config *c, bool sim);

/* Whether key k is natbed sim's alone (a flag natbed run refuses). */
bool config_key_sim_only(enum config_key k);
/* Whether key k says only where files go (out, checkpoint, ...): it
 * changes no result. */
bool config_key_output(enum config_key k);

/* The key called name ("until-ci"), or -1. */
int config_key_find(const char *name);
const char *config_key_name(enum config_key k);

/* Sets key k to text from `from` after checking it. 0, or -1 with "what is
 * wrong" (without the key's name) in err. */
int config_set(struct config *c, enum config_key k, const char *text, const char *from, char *err,
	       size_t errlen);

/* Reads a config file: a YAML mapping of keys to scalars. A missing file
 * is fine when !required. 0, or -1 with "FILE:LINE: KEY: problem" in err
 * (an unknown key lists the known ones). */
int config_load_file(struct config *c, const char *path, bool required, char *err, size_t errlen);

/* The value's text ("" when unset); the typed readers of a checked value. */
const char *config_get(const struct config *c, enum config_key k);
bool config_is_set(const struct config *c, enum config_key k);
bool config_bool(const struct config *c, enum config_key k);
double config_double(const struct config *c, enum config_key k);
uint64_t config_u64(const struct config *c, enum config_key k);

/* Every key, its effective value and where it came from, one a line;
 * natbed sim's own keys only with sim, natbed run's own (prefix, capture:
 * natbed sim ignores them) only without. */
void config_print(const struct config *c, FILE *f, bool sim);

#endif
