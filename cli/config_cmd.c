/* natbed config --show: the settings natbed run would use, each with where
 * it came from. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "run_opts.h"

static void config_usage(FILE *f)
{
	fprintf(f,
		"usage: natbed config --show [--sim] [natbed run's or sim's options] [FILE]\n"
		"\n"
		"Prints every setting `natbed run` (with --sim: `natbed sim`) would use with\n"
		"the same arguments, its value and where it came from: default (built in),\n"
		"the config file (%s, or --config FILE) with its line, the\n"
		"topology (FILE, or the built-in matrix without one), or a flag. Later layers win: "
		"defaults <\n"
		"config file < topology < flags. Unknown keys and bad values are errors that\n"
		"name the file and line. Needs no root; brings nothing up. docs/config.md\n"
		"lists the keys.\n"
		"\n"
		"  --show        print the settings (the only action)\n"
		"  --sim         natbed sim's settings: its defaults, its flags\n"
		"  -h, --help    this text\n"
		"\n"
		"Exit status: 0 printed, 2 bad usage, config file, topology or value.\n",
		CONFIG_SYSTEM_FILE);
}

int cmd_config(int argc, char **argv)
{
	struct run_setup st = {.cmd = "config"};
	int i, j = 0, rc;
	bool show = false;

	/* --show and --sim are this command's; the rest are natbed run's (or
	 * natbed sim's) */
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--show") == 0) {
			show = true;
			continue;
		}
		if (strcmp(argv[i], "--sim") == 0) {
			st.sim = true;
			continue;
		}
		argv[j++] = argv[i];
	}
	argc = j;
	rc = run_opts_parse(argc, argv, &st, config_usage);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (!show) {
		fprintf(stderr, "natbed config: --show is required (see --help)\n");
		return 2;
	}
	if (st.restore) {
		/* they are the checkpoint's: showing the command line's would lie */
		fprintf(stderr,
			"natbed config: --restore: natbed sim takes every setting from the "
			"checkpoint (its \"settings\"), which natbed config does not read\n");
		return 2;
	}
	if ((rc = run_opts_settle(&st)) != 0) {
		run_opts_free(&st);
		return rc;
	}
	printf("# natbed %s %s: each setting, its value, where it came from\n",
	       st.sim ? "sim" : "run", st.topo_name);
	config_print(&st.cfg, stdout, st.sim);
	run_opts_free(&st);
	return 0;
}
