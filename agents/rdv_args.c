/* natbed-rendezvous's command line (rdv_args.h). */
#include "rdv_args.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "natbed/units.h"

int rdv_args_parse(int argc, char **argv, struct rdv_args *a, char *err, size_t errlen)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"start-delay", required_argument, NULL, 'd'},
	    {"max-lifetime", required_argument, NULL, 'm'},
	    {"stats", required_argument, NULL, 'S'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *listen = NULL;
	int64_t v;
	int c;

	memset(a, 0, sizeof(*a));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "l:d:m:S:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 'd':
			if (units_parse_duration(optarg, &a->cfg.start_delay_ns) < 0 ||
			    a->cfg.start_delay_ns <= 0 ||
			    a->cfg.start_delay_ns > 60 * NATBED_NS_PER_S) {
				snprintf(err, errlen, "--start-delay %s: a duration in (0, 60s]",
					 optarg);
				return -1;
			}
			break;
		case 'm':
			if (units_parse_count(optarg, 86400, &v) < 0 || v == 0) {
				snprintf(err, errlen, "--max-lifetime %s: seconds, 1..86400",
					 optarg);
				return -1;
			}
			a->cfg.lifetime_max_s = (uint32_t)v;
			break;
		case 'S':
			a->stats = optarg;
			break;
		case 'v':
			a->verbose = true;
			break;
		case 'h':
			a->help = true;
			return 0;
		default:
			snprintf(err, errlen, "'%s': an unknown option or one missing its value",
				 argv[optind - 1 > 0 ? optind - 1 : 0]);
			return -1;
		}
	}
	if (optind != argc) {
		snprintf(err, errlen, "'%s': no arguments besides the options", argv[optind]);
		return -1;
	}
	if (!listen) {
		snprintf(err, errlen, "--listen IP[:PORT] is required");
		return -1;
	}
	if (dg_ep_parse(listen, RDV_DEFAULT_PORT, &a->cfg.listen) < 0) {
		snprintf(err, errlen, "--listen %s: not IPv4[:PORT]", listen);
		return -1;
	}
	return 0;
}
