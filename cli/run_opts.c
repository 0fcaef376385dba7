/* natbed run's settings: command line, layers, topology. */
#include "run_opts.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "natbed/strcopy.h"
#include "natbed/units.h"
#include "results.h"

/* Which key each flag sets; the others (--config, --json, --help) are the
 * command's own. */
static const struct option run_lopts[] = {
    {"seed", required_argument, NULL, 's'},
    {"out", required_argument, NULL, 'o'},
    {"until-ci", required_argument, NULL, 'u'},
    {"max-rounds", required_argument, NULL, 'R'},
    {"json", no_argument, NULL, 'j'},
    {"prefix", required_argument, NULL, 'p'},
    {"parallel", required_argument, NULL, 'P'},
    {"budget", required_argument, NULL, 'B'},
    {"no-relay", no_argument, NULL, 'N'},
    {"site-per-client", no_argument, NULL, 'S'},
    {"priority", required_argument, NULL, 'Y'},
    {"capture", required_argument, NULL, 'C'},
    {"duration", required_argument, NULL, 'D'},
    {"clients", required_argument, NULL, 'L'},
    {"arrival-rate", required_argument, NULL, 'A'},
    {"checkpoint-every", required_argument, NULL, 'E'},
    {"checkpoint", required_argument, NULL, 'K'},
    {"restore", required_argument, NULL, 'r'},
    {"config", required_argument, NULL, 'c'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int flag_key(int c)
{
	switch (c) {
	case 's':
		return CK_SEED;
	case 'o':
		return CK_OUT;
	case 'u':
		return CK_UNTIL_CI;
	case 'R':
		return CK_MAX_ROUNDS;
	case 'p':
		return CK_PREFIX;
	case 'P':
		return CK_PARALLEL;
	case 'B':
		return CK_BUDGET;
	case 'N':
		return CK_NO_RELAY;
	case 'S':
		return CK_SITE_PER_CLIENT;
	case 'Y':
		return CK_PRIORITY;
	case 'C':
		return CK_CAPTURE;
	case 'D':
		return CK_DURATION;
	case 'L':
		return CK_CLIENTS;
	case 'A':
		return CK_ARRIVAL_RATE;
	case 'E':
		return CK_CHECKPOINT_EVERY;
	case 'K':
		return CK_CHECKPOINT;
	default:
		return -1;
	}
}

/* Says that natbed sim's own flag was given to s->cmd (run, or config
 * without --sim), and where it belongs. */
static void sim_only_flag(const struct run_setup *s, const char *flag)
{
	if (strcmp(s->cmd, "config") == 0)
		fprintf(stderr,
			"natbed config: --%s is natbed sim's: add --sim to show natbed sim's "
			"settings\n",
			flag);
	else
		fprintf(
		    stderr,
		    "natbed %s: --%s is natbed sim's, which natbed %s does not take (see natbed "
		    "sim --help)\n",
		    s->cmd, flag, s->cmd);
}

int run_opts_parse(int argc, char **argv, struct run_setup *s, void (*usage)(FILE *))
{
	int c, k;

	config_init(&s->cfg, s->sim);
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:o:u:jp:c:h", run_lopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == 'j') {
			s->json = true;
			continue;
		}
		if (c == 'c') {
			s->config = optarg;
			continue;
		}
		if (c == 'r' && s->sim) {
			s->restore = optarg;
			continue;
		}
		k = flag_key(c);
		if (c == 'r' || (k >= 0 && !s->sim && config_key_sim_only((enum config_key)k))) {
			/* natbed sim's own: say where it belongs, not the whole usage */
			sim_only_flag(s,
				      c == 'r' ? "restore" : config_key_name((enum config_key)k));
			return -1;
		}
		if (k < 0) {
			usage(stderr);
			return -1;
		}
		if (s->n_flags == RUN_FLAGS_MAX) {
			fprintf(stderr, "natbed %s: too many options\n", s->cmd);
			return -1;
		}
		s->flags[s->n_flags++] = (struct run_flag){
		    .key = (enum config_key)k,
		    .value = k == CK_NO_RELAY || k == CK_SITE_PER_CLIENT ? "true" : optarg,
		};
	}
	if (argc - optind > 1) {
		fprintf(stderr, "natbed %s: one topology FILE at most (see --help)\n", s->cmd);
		return -1;
	}
	s->file = optind < argc ? argv[optind] : NULL;
	return 0;
}

static void duration_text(natbed_time_t ns, char *buf, size_t len)
{
	if (ns % NATBED_NS_PER_S == 0)
		snprintf(buf, len, "%" PRIu64 "s", (uint64_t)(ns / NATBED_NS_PER_S));
	else if (ns % NATBED_NS_PER_MS == 0)
		snprintf(buf, len, "%" PRIu64 "ms", (uint64_t)(ns / NATBED_NS_PER_MS));
	else
		snprintf(buf, len, "%" PRIu64 "us", (uint64_t)(ns / 1000));
}

/* The topology's layer: its seed, and its scenario's settings. */
static void topology_layer(struct run_setup *s)
{
	const struct topo_scenario *sc = s->t->scenario;
	char from[CONFIG_FROM_MAX], v[64], err[256];

	snprintf(from, sizeof(from), "topology %.250s", s->topo_name);
	snprintf(v, sizeof(v), "%" PRIu64, s->t->seed);
	config_set(&s->cfg, CK_SEED, v, from, err, sizeof(err));
	if (!sc)
		return;
	snprintf(from, sizeof(from), "topology %.250s:%d (scenario)", s->topo_name, sc->line);
	if (sc->priority[0])
		config_set(&s->cfg, CK_PRIORITY, sc->priority, from, err, sizeof(err));
	if (sc->no_relay)
		config_set(&s->cfg, CK_NO_RELAY, "true", from, err, sizeof(err));
	if (sc->budget_ns) {
		duration_text(sc->budget_ns, v, sizeof(v));
		config_set(&s->cfg, CK_BUDGET, v, from, err, sizeof(err));
	}
	if (sc->to_index >= 0) {
		if (sc->duration_ns) {
			duration_text(sc->duration_ns, v, sizeof(v));
			config_set(&s->cfg, CK_DURATION, v, from, err, sizeof(err));
		}
		if (sc->clients) {
			snprintf(v, sizeof(v), "%" PRIu32, sc->clients);
			config_set(&s->cfg, CK_CLIENTS, v, from, err, sizeof(err));
		}
		snprintf(v, sizeof(v), "%g/s", sc->rate_per_s);
		config_set(&s->cfg, CK_ARRIVAL_RATE, v, from, err, sizeof(err));
	}
}

/* The effective values back into the scenario natbed run plays. */
static int scenario_apply(struct run_setup *s)
{
	struct topo_scenario *sc = s->t->scenario;
	const struct config *c = &s->cfg;
	natbed_time_t ns;
	int64_t n;

	if (!sc)
		return 0; /* the plan says there is none */
	/* a restore's flags are every setting of the run that checkpointed,
	 * defaults included: only a flag the user gives can be out of place */
	for (int i = 0; sc->to_index < 0 && !s->restore && i < s->n_flags; i++) {
		enum config_key k = s->flags[i].key;

		if (k == CK_DURATION || k == CK_CLIENTS || k == CK_ARRIVAL_RATE ||
		    k == CK_SITE_PER_CLIENT) {
			fprintf(stderr,
				"natbed %s: --%s shapes arrivals; %s has none (docs/topology.md)\n",
				s->cmd, config_key_name(k), s->topo_name);
			return 2;
		}
	}
	str_copy(sc->priority, sizeof(sc->priority), config_get(c, CK_PRIORITY));
	sc->no_relay = config_bool(c, CK_NO_RELAY);
	if (config_is_set(c, CK_BUDGET) && units_parse_duration(config_get(c, CK_BUDGET), &ns) == 0)
		sc->budget_ns = ns;
	if (sc->to_index < 0)
		return 0;
	if (config_is_set(c, CK_DURATION) &&
	    units_parse_duration(config_get(c, CK_DURATION), &ns) == 0)
		sc->duration_ns = ns;
	if (config_is_set(c, CK_CLIENTS) &&
	    units_parse_count(config_get(c, CK_CLIENTS), 1000000, &n) == 0)
		sc->clients = (uint32_t)n;
	if (config_is_set(c, CK_ARRIVAL_RATE))
		sc->rate_per_s = config_double(c, CK_ARRIVAL_RATE);
	return 0;
}

/* The value the command line last gave key k, or NULL. */
static const char *run_flag_value(const struct run_setup *s, enum config_key k)
{
	const char *v = NULL;
	int i;

	for (i = 0; i < s->n_flags; i++)
		if (s->flags[i].key == k)
			v = s->flags[i].value;
	return v;
}

int run_opts_settle(struct run_setup *s)
{
	char err[TOPO_ERR_MAX + 512];
	const char *prefix;
	int i, rc;

	if (!s->no_config_file &&
	    config_load_file(&s->cfg, s->config ? s->config : CONFIG_SYSTEM_FILE, s->config != NULL,
			     err, sizeof(err)) < 0) {
		fprintf(stderr, "natbed %s: %s\n", s->cmd, err);
		return 2;
	}
	/* the prefix bounds the topology's names: a flag's counts already */
	if (!(prefix = run_flag_value(s, CK_PREFIX)))
		prefix = config_get(&s->cfg, CK_PREFIX);
	if (cli_check_prefix(s->cmd, prefix) < 0)
		return 2;
	if (s->topo_text) {
		rc = topo_load_string(s->topo_text, s->topo_text_len, s->topo_name, prefix, &s->t,
				      err, sizeof(err));
	} else if (s->file) {
		str_copy(s->topo_name, sizeof(s->topo_name), s->file);
		rc = topo_load(s->file, prefix, &s->t, err, sizeof(err));
	} else {
		snprintf(s->topo_name, sizeof(s->topo_name), "(built-in matrix)");
		rc = topo_load_string(natbed_matrix_yaml, natbed_matrix_yaml_len, "matrix.yaml",
				      prefix, &s->t, err, sizeof(err));
	}
	if (rc < 0) {
		fprintf(stderr, "natbed %s: %s\n", s->cmd, err);
		return 2;
	}
	topology_layer(s);
	for (i = 0; i < s->n_flags; i++) {
		const struct run_flag *f = &s->flags[i];
		char from[64];

		snprintf(from, sizeof(from), "flag --%s", config_key_name(f->key));
		if (config_set(&s->cfg, f->key, f->value, from, err, sizeof(err)) < 0) {
			fprintf(stderr, "natbed %s: --%s: %s\n", s->cmd, config_key_name(f->key),
				err);
			return 2;
		}
	}
	if (!s->sim && config_bool(&s->cfg, CK_SITE_PER_CLIENT)) {
		fprintf(stderr,
			"natbed %s: site-per-client (%s) is natbed sim's: natbed run plays the "
			"topology's sites as they are (docs/sim.md, NAT populations)\n",
			s->cmd, s->cfg.v[CK_SITE_PER_CLIENT].from);
		return 2;
	}
	if (s->sim && !config_is_set(&s->cfg, CK_CHECKPOINT) &&
	    run_flag_value(s, CK_CHECKPOINT_EVERY)) {
		/* a config file may set the interval for the runs that
		 * checkpoint; on the command line alone it would do nothing */
		fprintf(stderr,
			"natbed %s: --checkpoint-every needs --checkpoint FILE, the file the "
			"checkpoints go to\n",
			s->cmd);
		return 2;
	}
	return scenario_apply(s);
}

void run_opts_free(struct run_setup *s)
{
	topo_free(s->t);
	s->t = NULL;
}

void run_opts_record(const struct run_setup *s, const char *topo_file, struct results *r)
{
	size_t k;

	results_set_option(r, "topology_file", topo_file ? topo_file : "(built-in matrix)");
	for (k = 0; k < CK_COUNT; k++)
		if (config_is_set(&s->cfg, (enum config_key)k) &&
		    (s->sim ? !config_key_output((enum config_key)k)
			    : !config_key_sim_only((enum config_key)k)))
			results_set_option(r, config_key_name((enum config_key)k),
					   config_get(&s->cfg, (enum config_key)k));
}
