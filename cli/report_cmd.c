/* natbed report: report.html (and the matrix as text) from a results.json. */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"
#include "results.h"

static void report_usage(FILE *f)
{
	fprintf(f, "usage: natbed report [-o FILE] [--matrix] RESULTS.json\n"
		   "\n"
		   "Reads the results.json a run wrote (docs/results.md) and writes report.html:\n"
		   "one self-contained page, readable offline (no script, nothing fetched), with\n"
		   "the matrix of the method that connected each pair, success rates with their\n"
		   "95%% intervals, setup-time distributions, the fallback flows and, behind\n"
		   "zero-trust gates, auth times per trust level. Exit status 0 when written,\n"
		   "1 when the file cannot be read or the page written, 2 on bad usage. Needs\n"
		   "no root.\n"
		   "\n"
		   "  -o, --output FILE  where to write the page (default: report.html beside\n"
		   "                     RESULTS.json)\n"
		   "  -m, --matrix       also print the matrix as a table on standard output,\n"
		   "                     coloured when it is a terminal (and, behind gates,\n"
		   "                     a line per trust level)\n"
		   "  -h, --help         this text\n");
}

int cmd_report(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"matrix", no_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char out[CLI_PATH_MAX], err[CLI_PATH_MAX + 256], *copy;
	const char *output = NULL;
	struct results *r;
	int c, matrix = 0, rc;

	while ((c = getopt_long(argc, argv, "o:mh", lopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'm':
			matrix = 1;
			break;
		case 'h':
			report_usage(stdout);
			return 0;
		default:
			report_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		report_usage(stderr);
		return 2;
	}
	if (!output) {
		if (!(copy = strdup(argv[optind])))
			return 1;
		snprintf(out, sizeof(out), "%s/report.html", dirname(copy));
		free(copy);
		output = out;
	}
	if (!(r = results_load(argv[optind], err, sizeof(err)))) {
		fprintf(stderr, "natbed report: %s\n", err);
		return 1;
	}
	if ((rc = report_write(r, output, err, sizeof(err))) < 0)
		fprintf(stderr, "natbed report: %s\n", err);
	else
		fprintf(stderr, "natbed report: wrote %s\n", output);
	if (rc == 0 && matrix) {
		report_print_matrix(r, stdout, isatty(STDOUT_FILENO));
		report_print_gate(r, stdout);
	}
	results_free(r);
	return rc < 0 ? 1 : 0;
}
