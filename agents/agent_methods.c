/* natbed-agent methods: the method table with each method's spec and, for
 * a pair of NAT classes (or every pair), its prior, what --learn FILE
 * measured, the estimated rate, the score and what the cascade does with
 * it, in the cascade's order (select.h). Text, or one JSON document. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "learn.h"
#include "natbed/units.h"
#include "select.h"

struct methods_opts {
	const char *learn_path;
	const char *self, *peer;
	bool same_site, json;
	enum sel_priority priority;
	struct sel_limits limits;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: natbed-agent methods [--learn FILE] [--self CLASS --peer CLASS | --same-site]\n"
	    "                            [--priority P] [--no-relay] [--budget DURATION] [--json]\n"
	    "\n"
	    "Prints the traversal methods' table: name, infrastructure cost (0-2),\n"
	    "security and reliability (0-1), the budget of one try, whether it relays.\n"
	    "Then, for the pair of NAT classes given (every pair when none), each method\n"
	    "in the order natbed-agent connect --cascade would take them: its prior\n"
	    "(docs/methods.md), the rate and count FILE measured, the estimated rate (the\n"
	    "prior counting as %.0f tries, moved by those measured), the score by\n"
	    "priority, and whether the cascade tries it (its place) or skips it (why).\n"
	    "\n"
	    "  --learn FILE       measured outcomes, as connect --learn writes them\n"
	    "  --self CLASS       this side's class (natbed-agent discover's \"class\"):\n"
	    "  --peer CLASS       open, full-cone, restricted-cone, port-restricted,\n"
	    "                     addr-dependent, symmetric-sequential, symmetric-random,\n"
	    "                     unknown\n"
	    "  --same-site        the pair of two agents behind one NAT\n"
	    "  --priority P       success_rate, cost, security or balanced (default)\n"
	    "  --no-relay         as connect --no-relay: relays are skipped\n"
	    "  --budget DURATION  as connect --cascade --budget: slower methods skipped\n"
	    "  --json             one JSON document instead of the text\n"
	    "  --help             this text\n",
	    SEL_PRIOR_WEIGHT);
}

static bool class_ok(const char *name, enum ni_class *c)
{
	*c = ni_class_find(name);
	return strcmp(ni_class_name(*c), name) == 0;
}

/* The pair's methods in the cascade's order, as JSON or text. */
static json_t *pair_json(const struct sel_pair *p, const struct learn *l,
			 const struct methods_opts *o, const struct method *const *table, size_t n)
{
	struct sel_choice ch[64];
	char key[SEL_PAIR_KEY_MAX];
	json_t *ms = json_array();
	size_t k = sel_cascade(p, l, o->priority, &o->limits, table, n, ch, 64);
	int place = 0;

	sel_pair_key(p, key);
	for (size_t i = 0; i < k; i++) {
		struct learn_counts c;

		learn_get(l, key, ch[i].m->spec.name, &c);
		json_array_append_new(
		    ms, json_pack(
			    "{s:s, s:f, s:o, s:I, s:I, s:f, s:f, s:o, s:o}", "method",
			    ch[i].m->spec.name, "prior", ch[i].prior, "measured",
			    c.attempts ? json_real((double)c.successes / c.attempts) : json_null(),
			    "attempts", (json_int_t)c.attempts, "successes",
			    (json_int_t)c.successes, "estimate", ch[i].rate, "score", ch[i].score,
			    "cascade", ch[i].skip ? json_null() : json_integer(++place), "skipped",
			    ch[i].skip ? json_string(sel_skip_reason(ch[i].skip)) : json_null()));
	}
	/* a site's pair is keyed by no class: its peers meet as if open */
	return json_pack("{s:s, s:o, s:o, s:b, s:o}", "pair", key, "self",
			 p->same_site ? json_null() : json_string(ni_class_name(p->self)), "peer",
			 p->same_site ? json_null() : json_string(ni_class_name(p->peer)),
			 "same_site", p->same_site, "methods", ms);
}

static void print_pair(const json_t *pj)
{
	size_t i;
	json_t *m;

	printf("\npair %s\n", json_string_value(json_object_get(pj, "pair")));
	printf("  %-10s %6s %9s %6s %9s %6s  %s\n", "method", "prior", "measured", "count",
	       "estimate", "score", "cascade");
	json_array_foreach(json_object_get(pj, "methods"), i, m)
	{
		const json_t *meas = json_object_get(m, "measured"),
			     *at = json_object_get(m, "cascade");
		char mbuf[16] = "-", cbuf[64];

		if (!json_is_null(meas))
			snprintf(mbuf, sizeof(mbuf), "%.3f", json_real_value(meas));
		if (json_is_null(at))
			snprintf(cbuf, sizeof(cbuf), "%s",
				 json_string_value(json_object_get(m, "skipped")));
		else
			snprintf(cbuf, sizeof(cbuf), "try %lld", (long long)json_integer_value(at));
		printf("  %-10s %6.3f %9s %6lld %9.3f %6.3f  %s\n",
		       json_string_value(json_object_get(m, "method")),
		       json_real_value(json_object_get(m, "prior")), mbuf,
		       (long long)json_integer_value(json_object_get(m, "attempts")),
		       json_real_value(json_object_get(m, "estimate")),
		       json_real_value(json_object_get(m, "score")), cbuf);
	}
}

static json_t *table_json(const struct method *const *table, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		const struct method_spec *s = &table[i]->spec;

		json_array_append_new(
		    a,
		    json_pack("{s:s, s:f, s:f, s:f, s:I, s:b}", "method", s->name, "cost", s->cost,
			      "security", s->security, "reliability", s->reliability, "budget_ms",
			      (json_int_t)(s->budget_ns / NATBED_NS_PER_MS), "relay", s->relay));
	}
	return a;
}

static void print_table(const struct method *const *table, size_t n)
{
	printf("%-10s %5s %9s %12s %8s  %s\n", "method", "cost", "security", "reliability",
	       "budget", "relay");
	for (size_t i = 0; i < n; i++) {
		const struct method_spec *s = &table[i]->spec;

		printf("%-10s %5.2g %9.2g %12.2g %7.3gs  %s\n", s->name, s->cost, s->security,
		       s->reliability, (double)s->budget_ns / NATBED_NS_PER_S,
		       s->relay ? "yes" : "no");
	}
}

static int parse(int argc, char **argv, struct methods_opts *o)
{
	static const struct option opts[] = {
	    {"learn", required_argument, NULL, 'l'},	{"self", required_argument, NULL, 's'},
	    {"peer", required_argument, NULL, 'p'},	{"same-site", no_argument, NULL, 'S'},
	    {"priority", required_argument, NULL, 'P'}, {"no-relay", no_argument, NULL, 'R'},
	    {"budget", required_argument, NULL, 'b'},	{"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},		{NULL, 0, NULL, 0},
	};
	enum ni_class c;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			o->learn_path = optarg;
			break;
		case 's':
		case 'p':
			if (!class_ok(optarg, &c)) {
				fprintf(stderr, "--%s %s: not a class (--help)\n",
					opt == 's' ? "self" : "peer", optarg);
				return 2;
			}
			*(opt == 's' ? &o->self : &o->peer) = optarg;
			break;
		case 'S':
			o->same_site = true;
			break;
		case 'P':
			if (sel_priority_parse(optarg, &o->priority) < 0) {
				fprintf(stderr,
					"--priority %s: success_rate, cost, security or balanced\n",
					optarg);
				return 2;
			}
			break;
		case 'R':
			o->limits.no_relay = true;
			break;
		case 'b':
			if (units_parse_duration(optarg, &o->limits.budget_ns) < 0 ||
			    o->limits.budget_ns <= 0) {
				fprintf(stderr, "--budget %s: a duration\n", optarg);
				return 2;
			}
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !o->self != !o->peer || (o->same_site && o->self)) {
		fprintf(stderr, "natbed-agent methods: --self and --peer together, or --same-site "
				"(--help)\n");
		return 2;
	}
	return -1;
}

int agent_cmd_methods(int argc, char **argv, const struct agent_env *env)
{
	const struct method *(*at)(size_t) = env->method_at ? env->method_at : method_at;
	struct methods_opts o = {.priority = SEL_BALANCED};
	const struct method *table[64];
	struct learn *l = NULL;
	json_t *pairs, *root;
	char err[512];
	size_t n = 0;
	int r = parse(argc, argv, &o);

	if (r >= 0)
		return r;
	while (n < 64 && (table[n] = at(n)) != NULL)
		n++;
	if (o.learn_path && !(l = learn_load(o.learn_path, err, sizeof(err)))) {
		fprintf(stderr, "--learn %s\n", err);
		return 2;
	}
	pairs = json_array();
	if (o.self || o.same_site) {
		struct sel_pair p = {.same_site = o.same_site};

		if (o.self) {
			p.self = ni_class_find(o.self);
			p.peer = ni_class_find(o.peer);
		}
		json_array_append_new(pairs, pair_json(&p, l, &o, table, n));
	} else {
		for (int s = 0; s < NI_CLASS_COUNT; s++)
			for (int q = 0; q < NI_CLASS_COUNT; q++) {
				struct sel_pair p = {.self = (enum ni_class)s,
						     .peer = (enum ni_class)q};

				json_array_append_new(pairs, pair_json(&p, l, &o, table, n));
			}
		json_array_append_new(
		    pairs, pair_json(&(struct sel_pair){.same_site = true}, l, &o, table, n));
	}
	root = json_pack("{s:s, s:o, s:o}", "priority", sel_priority_name(o.priority), "methods",
			 table_json(table, n), "pairs", pairs);
	if (o.json) {
		char *line =
		    json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));

		if (line)
			printf("%s\n", line);
		free(line);
	} else {
		size_t i;
		json_t *pj;

		print_table(table, n);
		printf("\npriority %s; estimate: the prior as %.0f tries plus what was measured\n",
		       sel_priority_name(o.priority), SEL_PRIOR_WEIGHT);
		json_array_foreach(pairs, i, pj) print_pair(pj);
		/* by class alone: what a real connect also needs is not known here */
		printf("\nA real connect also skips a method its infrastructure does not allow:\n"
		       "portmap without a NAT that grants mappings (PCP or NAT-PMP) on either\n"
		       "side, relay without a TURN allocation on either side (\"no relay\n"
		       "candidate\").\n");
	}
	json_decref(root);
	learn_free(l);
	return 0;
}
