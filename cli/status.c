/* natbed status: what a prefix has up, from its state file. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "netns.h"
#include "state.h"

static void status_usage(FILE *f)
{
	fprintf(f,
		"usage: natbed status [--prefix P] [--json]\n"
		"\n"
		"Shows what `natbed up` made under prefix P: the topology, the output\n"
		"directory, each namespace (present or gone) and each process (running or\n"
		"exited; a process that has exited is not running, reaped or not). One of\n"
		"them, (reaper), is natbed up's own: it reaps each process natbed up started\n"
		"as soon as it exits and leaves after the last. Exit status 0 when something\n"
		"is up, 3 when nothing is.\n"
		"\n"
		"  -p, --prefix P  namespace prefix (default %s)\n"
		"  -j, --json      as JSON\n"
		"  -h, --help      this text\n",
		CLI_DEFAULT_PREFIX);
}

static json_t *status_json(const struct state *st)
{
	json_t *ns = json_array(), *procs = json_array();
	int i;

	for (i = 0; i < st->n_ns; i++)
		json_array_append_new(ns, json_pack("{s:s,s:b}", "name", st->namespaces[i],
						    "present", netns_exists(st->namespaces[i])));
	for (i = 0; i < st->n_procs; i++)
		json_array_append_new(procs, json_pack("{s:s,s:i,s:b}", "name", st->procs[i].name,
						       "pid", (int)st->procs[i].pid, "running",
						       state_proc_alive(&st->procs[i])));
	return json_pack("{s:s,s:s,s:s,s:o,s:o}", "prefix", st->prefix, "topology", st->topology,
			 "out", st->out, "namespaces", ns, "processes", procs);
}

static void status_print(json_t *j)
{
	json_t *v;
	size_t i;

	printf("prefix %s\ntopology %s\nout %s\n", json_string_value(json_object_get(j, "prefix")),
	       json_string_value(json_object_get(j, "topology")),
	       json_string_value(json_object_get(j, "out")));
	printf("\n%-20s %s\n", "NAMESPACE", "STATE");
	json_array_foreach(json_object_get(j, "namespaces"), i, v)
	    printf("%-20s %s\n", json_string_value(json_object_get(v, "name")),
		   json_is_true(json_object_get(v, "present")) ? "present" : "gone");
	printf("\n%-20s %-8s %s\n", "PROCESS", "PID", "STATE");
	json_array_foreach(json_object_get(j, "processes"), i, v)
	    printf("%-20s %-8d %s\n", json_string_value(json_object_get(v, "name")),
		   (int)json_integer_value(json_object_get(v, "pid")),
		   json_is_true(json_object_get(v, "running")) ? "running" : "exited");
}

int cmd_status(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"prefix", required_argument, NULL, 'p'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *prefix = CLI_DEFAULT_PREFIX;
	struct state *st;
	int c, json = 0, rc;
	json_t *j;

	while ((c = getopt_long(argc, argv, "p:jh", lopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			prefix = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			status_usage(stdout);
			return 0;
		default:
			status_usage(stderr);
			return 2;
		}
	}
	if (cli_check_prefix("status", prefix) < 0)
		return 2;
	st = calloc(1, sizeof(*st));
	if (!st)
		return 1;
	rc = state_load(prefix, st);
	if (rc < 0) {
		fprintf(stderr, "natbed status: nothing is up under prefix '%s'\n", prefix);
		free(st);
		return 3;
	}
	j = status_json(st);
	if (json) {
		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		status_print(j);
	}
	json_decref(j);
	free(st);
	return 0;
}
