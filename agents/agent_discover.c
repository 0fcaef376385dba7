/* natbed-agent discover: RFC 5780 NAT behaviour discovery (discover.c) on
 * real sockets, one JSON line on stdout. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <event2/event.h>
#include <jansson.h>

#include "agent.h"
#include "dgram_sock.h"
#include "discover.h"

#define DISCOVER_DEFAULT_PORT 3478
#define DISCOVER_MAX_TIMEOUT  30000 /* ms, one test */

const char agent_discover_help[] =
    "RFC 5780 NAT behaviour discovery against a STUN server; one JSON line";

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: natbed-agent discover --stun IP[:PORT] [--timeout MS] [--probes N]\n"
	    "\n"
	    "Measures the NAT in front of this host with the RFC 5780 tests against a\n"
	    "STUN server with two addresses (natbed-stund --alternate): mapping (tests\n"
	    "I-III), filtering (CHANGE-REQUEST), port allocation (preserve, sequential\n"
	    "with its stride, random: N new sockets in a row) and hairpinning.\n"
	    "\n"
	    "  --stun IP[:PORT]  the STUN server's primary address (default port %d)\n"
	    "  --timeout MS      how long one test retransmits and waits (RFC 8489\n"
	    "                    RTO 500 ms, doubling; default %lld, at most %d)\n"
	    "  --probes N        new sockets for the port allocation test (default %d,\n"
	    "                    3 to %d)\n"
	    "  --help            this text\n"
	    "\n"
	    "Prints one line: {\"mapping\", \"filtering\", \"ports\", \"stride\", \"hairpin\",\n"
	    "\"class\", \"mapped\", \"local\", \"other\"}; mapping and filtering are\n"
	    "\"none\" without a NAT, stride is null unless ports are sequential, hairpin\n"
	    "null when unknown. Exit status: 0 all measured; 1 the server did not\n"
	    "answer, gave no OTHER-ADDRESS or lost answers (the line then says what\n"
	    "was measured, and \"error\" why the rest is \"unknown\"); 2 usage.\n",
	    DISCOVER_DEFAULT_PORT, (long long)(DISC_TEST_TIMEOUT_NS / NATBED_NS_PER_MS),
	    DISCOVER_MAX_TIMEOUT, DISC_PORT_PROBES, DISC_PORT_PROBES_MAX);
}

struct discover_run {
	struct event_base *base;
	const struct disc_result *r;
};

static void on_done(void *arg, const struct disc_result *r)
{
	struct discover_run *run = arg;

	run->r = r;
	event_base_loopbreak(run->base);
}

/* A safety net past disc_max_ns(): discovery bounds itself. */
static void on_overtime(void *arg, natbed_time_t now)
{
	struct discover_run *run = arg;

	event_base_loopbreak(run->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static json_t *ep_json(const struct dg_ep *ep)
{
	char s[DG_EP_STR];

	return ep->addr ? json_string(dg_ep_str(ep, s)) : json_null();
}

/* The result line; error NULL when everything was measured. */
static void print_result(const struct disc_result *r, const char *error)
{
	const struct natinfo *ni = &r->ni;
	json_t *j = json_object();
	char *line;

	json_object_set_new(j, "mapping", json_string(ni_map_name(ni->map)));
	json_object_set_new(j, "filtering", json_string(ni_filter_name(ni->filter)));
	json_object_set_new(j, "ports", json_string(ni_ports_name(ni->ports)));
	json_object_set_new(
	    j, "stride", ni->ports == NI_PORTS_SEQUENTIAL ? json_integer(ni->stride) : json_null());
	json_object_set_new(j, "hairpin",
			    ni->hairpin < 0 ? json_null() : json_boolean(ni->hairpin));
	json_object_set_new(j, "class", json_string(ni_class_name(natinfo_class(ni))));
	json_object_set_new(j, "mapped", ep_json(&r->mapped));
	json_object_set_new(j, "local", ep_json(&r->local));
	json_object_set_new(j, "other", ep_json(&r->other));
	if (error)
		json_object_set_new(j, "error", json_string(error));
	line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line)
		printf("%s\n", line);
	fflush(stdout);
	free(line);
	json_decref(j);
}

static int parse_args(int argc, char **argv, struct disc_cfg *cfg)
{
	static const struct option opts[] = {
	    {"stun", required_argument, NULL, 's'},
	    {"timeout", required_argument, NULL, 't'},
	    {"probes", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool stun = false;
	char *end;
	long v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:t:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (dg_ep_parse(optarg, DISCOVER_DEFAULT_PORT, &cfg->server) < 0) {
				fprintf(stderr, "natbed-agent discover: --stun %s: not IP[:PORT]\n",
					optarg);
				return 2;
			}
			stun = true;
			break;
		case 't':
			v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > DISCOVER_MAX_TIMEOUT)
				goto bad;
			cfg->test_timeout_ns = v * NATBED_NS_PER_MS;
			break;
		case 'p':
			v = strtol(optarg, &end, 10);
			if (*end || v < 3 || v > DISC_PORT_PROBES_MAX)
				goto bad;
			cfg->port_probes = (size_t)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (stun && optind == argc)
		return -1; /* go on: run */
bad:
	usage(stderr);
	return 2;
}

/* Runs discovery with cfg on a libevent loop; fills *out with the result
 * line's parts. 0, or -errno when it could not begin. */
static int run_discovery(struct disc_cfg *cfg, struct disc_result *out)
{
	struct discover_run run = {0};
	struct event *sig_int = NULL, *sig_term = NULL;
	struct dgsock *ds = NULL;
	struct sched *s = NULL;
	struct disc *d = NULL;
	uint64_t seed = 0;
	int ret = -ENOMEM;

	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return -errno;
	run.base = event_base_new();
	s = sched_new(clock_monotonic, NULL);
	if (!run.base || !s || sched_attach(s, run.base) < 0)
		goto cleanup;
	ds = dgsock_new(run.base, s, seed);
	sig_int = evsignal_new(run.base, SIGINT, on_signal, run.base);
	sig_term = evsignal_new(run.base, SIGTERM, on_signal, run.base);
	if (!ds || !sig_int || !sig_term || evsignal_add(sig_int, NULL) < 0 ||
	    evsignal_add(sig_term, NULL) < 0)
		goto cleanup;
	cfg->sock = -1;
	cfg->done = on_done;
	cfg->done_arg = &run;
	d = disc_new(dgsock_dgram(ds), cfg);
	if (!d)
		goto cleanup;
	ret = disc_start(d);
	if (ret < 0)
		goto cleanup;
	if (!sched_after(s, disc_max_ns(cfg) + NATBED_NS_PER_S, on_overtime, &run)) {
		ret = -ENOMEM;
		goto cleanup;
	}
	event_base_dispatch(run.base);
	*out = *disc_result(d);
	ret = run.r ? 0 : -EINTR;
cleanup:
	disc_free(d);
	dgsock_free(ds);
	if (sig_term)
		event_free(sig_term);
	if (sig_int)
		event_free(sig_int);
	sched_free(s);
	if (run.base)
		event_base_free(run.base);
	return ret;
}

int agent_discover_main(int argc, char **argv)
{
	struct disc_cfg cfg = {.sock = -1};
	struct disc_result r;
	char srv[DG_EP_STR], msg[256];
	int ret;

	ret = parse_args(argc, argv, &cfg);
	if (ret >= 0)
		return ret;
	memset(&r, 0, sizeof(r));
	ret = run_discovery(&cfg, &r);
	if (ret < 0) {
		fprintf(stderr, "natbed-agent discover: %s\n",
			ret == -EINTR ? "interrupted" : strerror(-ret));
		return 1;
	}
	if (r.err == DISC_OK) {
		print_result(&r, NULL);
		return 0;
	}
	snprintf(msg, sizeof(msg), "%s (%s)", disc_err_str(r.err), dg_ep_str(&cfg.server, srv));
	fprintf(stderr, "natbed-agent discover: %s\n", msg);
	print_result(&r, msg);
	return 1;
}
