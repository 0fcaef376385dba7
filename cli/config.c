/* natbed's layered run settings: the keys, their rules, the config file. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cli.h"
#include "natbed/strcopy.h"
#include "natbed/topo.h"
#include "natbed/units.h"

typedef int (*config_check_fn)(const char *s);

struct config_key_def {
	const char *name;
	const char *def; /* built-in default; "" : unset */
	config_check_fn check;
	const char *rule;      /* what a value must be, for errors */
	const char *unset;     /* what an unset value means, for --show */
	const char *sim_def;   /* natbed sim's default when not def's; NULL: def */
	bool sim_only;	       /* natbed run has no use for it */
	const char *sim_unset; /* natbed sim's unset text when not unset's; NULL: unset */
	bool run_only;	       /* natbed sim has no use for it */
};

static int c_prefix(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= TOPO_PREFIX_MAX &&
		       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == len
		   ? 0
		   : -1;
}

static int c_any(const char *s)
{
	return *s ? 0 : -1;
}

static int c_u64(const char *s)
{
	char *end;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -1;
	errno = 0;
	strtoull(s, &end, 10);
	return errno ? -1 : 0;
}

static int c_count(const char *s, int64_t max)
{
	int64_t n;

	return units_parse_count(s, max, &n) == 0 && n >= 1 ? 0 : -1;
}

static int c_parallel(const char *s)
{
	return c_count(s, 512);
}

static int c_rounds(const char *s)
{
	return c_count(s, 100000);
}

static int c_clients(const char *s)
{
	return c_count(s, 1000000);
}

static int c_margin(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	return *s && !*end && v > 0 && v < 0.5 ? 0 : -1;
}

static int c_duration(const char *s)
{
	natbed_time_t ns;

	return units_parse_duration(s, &ns) == 0 && ns > 0 ? 0 : -1;
}

static int c_bool(const char *s)
{
	return strcmp(s, "true") == 0 || strcmp(s, "false") == 0 ? 0 : -1;
}

static int c_priority(const char *s)
{
	return strcmp(s, "success_rate") == 0 || strcmp(s, "cost") == 0 ||
		       strcmp(s, "security") == 0 || strcmp(s, "balanced") == 0
		   ? 0
		   : -1;
}

/* "2", "0.5", "2.0/s": arrivals a second above 0 */
static int c_rate(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (!*s || end == s)
		return -1;
	if (strcmp(end, "/s") == 0)
		end += 2;
	return !*end && isfinite(v) && v > 0 ? 0 : -1;
}

static const struct config_key_def config_keys[CK_COUNT] = {
    [CK_PREFIX] = {"prefix", CLI_DEFAULT_PREFIX, c_prefix, "1 to 8 of [a-z0-9-]", NULL,
		   .run_only = true},
    [CK_OUT] = {"out", "", c_any, "a directory", "./out/NAME, NAME the topology's",
		.sim_unset = "./out/NAME-sim, NAME the topology's"},
    [CK_SEED] = {"seed", "", c_u64, "an integer from 0 to 18446744073709551615",
		 "the topology's seed"},
    [CK_PARALLEL] = {"parallel", "8", c_parallel, "1 to 512", NULL},
    [CK_UNTIL_CI] = {"until-ci", "", c_margin, "a margin above 0 and below 0.5, e.g. 0.05",
		     "one round of the scenario"},
    [CK_MAX_ROUNDS] = {"max-rounds", "50", c_rounds, "1 to 100000", NULL},
    [CK_BUDGET] = {"budget", "", c_duration, "a duration above zero, e.g. 20s",
		   "each method its own budget"},
    [CK_NO_RELAY] = {"no-relay", "false", c_bool, "true or false", NULL},
    [CK_PRIORITY] = {"priority", "balanced", c_priority, "success_rate, cost, security or balanced",
		     NULL},
    [CK_CAPTURE] = {"capture", "all", c_any, "all, none or NAME,...", NULL, .run_only = true},
    [CK_DURATION] = {"duration", "", c_duration, "a duration above zero, e.g. 60s",
		     "the scenario's", "300s"},
    [CK_CLIENTS] = {"clients", "", c_clients, "1 to 1000000", "the scenario's", "500"},
    [CK_ARRIVAL_RATE] = {"arrival-rate", "", c_rate, "a number above 0, optionally /s",
			 "the scenario's", "2.0/s"},
    [CK_SITE_PER_CLIENT] = {"site-per-client", "false", c_bool, "true or false", NULL, NULL, true},
    [CK_CHECKPOINT_EVERY] = {"checkpoint-every", "60s", c_duration,
			     "a duration above zero, e.g. 60s", NULL, NULL, true},
    [CK_CHECKPOINT] = {"checkpoint", "", c_any, "a file", "no checkpoints", NULL, true},
};

void config_init(struct config *c, bool sim)
{
	size_t k;

	memset(c, 0, sizeof(*c));
	for (k = 0; k < CK_COUNT; k++) {
		const char *def =
		    sim && config_keys[k].sim_def ? config_keys[k].sim_def : config_keys[k].def;

		str_copy(c->v[k].text, sizeof(c->v[k].text), def);
		snprintf(c->v[k].from, sizeof(c->v[k].from), "default");
	}
}

bool config_key_output(enum config_key k)
{
	return k == CK_OUT || k == CK_CHECKPOINT || k == CK_CHECKPOINT_EVERY;
}

bool config_key_sim_only(enum config_key k)
{
	return (unsigned)k < CK_COUNT && config_keys[k].sim_only;
}

int config_key_find(const char *name)
{
	size_t k;

	for (k = 0; k < CK_COUNT; k++)
		if (strcmp(name, config_keys[k].name) == 0)
			return (int)k;
	return -1;
}

const char *config_key_name(enum config_key k)
{
	return (unsigned)k < CK_COUNT ? config_keys[k].name : NULL;
}

int config_set(struct config *c, enum config_key k, const char *text, const char *from, char *err,
	       size_t errlen)
{
	if (strlen(text) >= CONFIG_VALUE_MAX || config_keys[k].check(text) < 0) {
		snprintf(err, errlen, "'%.64s' is not %s", text, config_keys[k].rule);
		return -1;
	}
	str_copy(c->v[k].text, sizeof(c->v[k].text), text);
	str_copy(c->v[k].from, sizeof(c->v[k].from), from);
	return 0;
}

static void key_list(char *buf, size_t len)
{
	size_t k, used = 0;

	buf[0] = '\0';
	for (k = 0; k < CK_COUNT && used < len; k++) {
		int w =
		    snprintf(buf + used, len - used, "%s%s", k ? ", " : "", config_keys[k].name);

		used += w > 0 ? (size_t)w : 0;
	}
}

/* One key: value pair of the file's mapping. */
static int file_pair(struct config *c, const char *path, const yaml_node_t *kn,
		     const yaml_node_t *vn, char *err, size_t errlen)
{
	const char *key = (const char *)kn->data.scalar.value;
	char from[CONFIG_FROM_MAX], why[CONFIG_VALUE_MAX + 128], keys[512];
	int k = config_key_find(key), line = (int)kn->start_mark.line + 1;

	if (k < 0) {
		key_list(keys, sizeof(keys));
		snprintf(err, errlen, "%s:%d: %s: unknown key (keys: %s)", path, line, key, keys);
		return -1;
	}
	if (vn->type != YAML_SCALAR_NODE) {
		snprintf(err, errlen, "%s:%d: %s: a single value, not a list or mapping", path,
			 (int)vn->start_mark.line + 1, key);
		return -1;
	}
	snprintf(from, sizeof(from), "%s:%d", path, (int)vn->start_mark.line + 1);
	if (config_set(c, (enum config_key)k, (const char *)vn->data.scalar.value, from, why,
		       sizeof(why)) < 0) {
		snprintf(err, errlen, "%s:%d: %s: %s", path, (int)vn->start_mark.line + 1, key,
			 why);
		return -1;
	}
	return 0;
}

int config_load_file(struct config *c, const char *path, bool required, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	yaml_node_pair_t *p;
	FILE *f = fopen(path, "r");
	int rc = -1;

	if (!f) {
		if (!required && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%d: %s", path, (int)parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "not YAML");
		yaml_parser_delete(&parser);
		fclose(f);
		return -1;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		rc = 0; /* an empty file sets nothing */
	} else if (root->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "%s:%d: a mapping of keys to values", path,
			 (int)root->start_mark.line + 1);
	} else {
		rc = 0;
		for (p = root->data.mapping.pairs.start;
		     rc == 0 && p < root->data.mapping.pairs.top; p++) {
			yaml_node_t *kn = yaml_document_get_node(&doc, p->key);
			yaml_node_t *vn = yaml_document_get_node(&doc, p->value);

			if (kn->type != YAML_SCALAR_NODE) {
				snprintf(err, errlen, "%s:%d: a key must be a name", path,
					 (int)kn->start_mark.line + 1);
				rc = -1;
			} else {
				rc = file_pair(c, path, kn, vn, err, errlen);
			}
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return rc;
}

const char *config_get(const struct config *c, enum config_key k)
{
	return c->v[k].text;
}

bool config_is_set(const struct config *c, enum config_key k)
{
	return c->v[k].text[0] != '\0';
}

bool config_bool(const struct config *c, enum config_key k)
{
	return strcmp(c->v[k].text, "true") == 0;
}

double config_double(const struct config *c, enum config_key k)
{
	return c->v[k].text[0] ? strtod(c->v[k].text, NULL) : 0;
}

uint64_t config_u64(const struct config *c, enum config_key k)
{
	return c->v[k].text[0] ? strtoull(c->v[k].text, NULL, 10) : 0;
}

void config_print(const struct config *c, FILE *f, bool sim)
{
	char unset[CONFIG_VALUE_MAX];
	size_t k;

	for (k = 0; k < CK_COUNT; k++) {
		const char *v = c->v[k].text;

		if (sim ? config_keys[k].run_only : config_keys[k].sim_only)
			continue;
		if (!v[0]) {
			const char *what = sim && config_keys[k].sim_unset
					       ? config_keys[k].sim_unset
					       : config_keys[k].unset;

			snprintf(unset, sizeof(unset), "(%s)", what ? what : "unset");
			v = unset;
		}
		fprintf(f, "%-16s %-24s %s\n", config_keys[k].name, v, c->v[k].from);
	}
}
