/* natbed-rendezvous's command line, read the same by the program
 * (agents/rdvd.c) and by natbed sim for a host whose run line starts it
 * (cli/sim_hosts.c). */
#ifndef NATBED_RDV_ARGS_H
#define NATBED_RDV_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "rdv.h"

struct rdv_args {
	struct rdv_config cfg; /* --listen, --start-delay, --max-lifetime */
	const char *stats;     /* --stats FILE, or NULL */
	bool verbose;	       /* --verbose */
	bool help;	       /* --help: nothing else is read */
};

/* Reads argv[1..argc-1] (getopt_long, from optind reset) into a. 0, or -1
 * with err naming the option and what it wants (usage(stderr) is the
 * caller's). --listen is required. */
int rdv_args_parse(int argc, char **argv, struct rdv_args *a, char *err, size_t errlen);

#endif
