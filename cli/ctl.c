/* natbed ctl: talk to a running natbed-emu over its control socket. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "natbed/strcopy.h"

#define CTL_ANSWER_MAX (1 << 22)

static void ctl_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: natbed ctl [--prefix P] [--json] COMMAND...\n"
	    "\n"
	    "Sends COMMAND to the natbed-emu of prefix P and prints its answer.\n"
	    "\n"
	    "commands:\n"
	    "  show ports    counters per port: packets and bytes in and out, drops by reason\n"
	    "  show routes   where each address is reached\n"
	    "  show stats    totals, packets in flight, pending scheduler events, and ports\n"
	    "  show captures the live captures (natbed capture): each viewer's id, view,\n"
	    "                records sent, bytes, records lost, bytes waiting\n"
	    "  capture-end ID\n"
	    "                end live capture ID: its final counters\n"
	    "  nat NAME mappings|stats|flush\n"
	    "                a NAT's mappings (all of them, fetched a page at a time), its\n"
	    "                counters, or a reboot (every mapping gone)\n"
	    "  nat NAME set KEY VALUE\n"
	    "                change a behaviour now, with a topology NAT key: mapping,\n"
	    "                filtering, ports, port-range, hairpin, timeout, stride, parity,\n"
	    "                pool, refresh-inbound, timeout-unreplied, inbound-reserves,\n"
	    "                port-block, port-blocks\n"
	    "  link NAME show|down|up\n"
	    "                a link's counters, or a partition and its end (NAME: a host,\n"
	    "                a NAT's uplink, or internet)\n"
	    "  link NAME set KEY VALUE [up|down]\n"
	    "                change a link parameter (delay, jitter, loss, rate, dup, ...;\n"
	    "                docs/links.md), both directions unless one is named\n"
	    "  gate NAME hosts|stats\n"
	    "                a zero-trust gate's hosts (trust level, risk, requests, grants,\n"
	    "                denials and refusals by reason, pinholes, requests under way,\n"
	    "                last decisions), or its model and counters (docs/gate.md)\n"
	    "  gate NAME set KEY VALUE\n"
	    "                change the gate's model now, with a topology gate key:\n"
	    "                time-scale, pinhole-ttl, replay-window, escalate, demote-after,\n"
	    "                delay.LEVEL, success.LEVEL, risk.KEY\n"
	    "  gate NAME trust HOST LEVEL\n"
	    "                set a host's trust level (untrusted, low, medium, high, verified)\n"
	    "  checkpoint FILE, restore FILE\n"
	    "                save / load the whole state: NATs (behaviour, mappings,\n"
	    "                counters, generator), firewalls (flows), gates (trust, risk,\n"
	    "                pinholes, requests under way), links (parameters,\n"
	    "                loss model state, token bucket) and each flow's packet numbers,\n"
	    "                so a restore into a fresh `natbed up` of the topology drops\n"
	    "                what the uninterrupted run drops. Packets in flight are not\n"
	    "                saved. Restore checks the whole file first and changes nothing\n"
	    "                if a part does not fit. FILE may be relative\n"
	    "\n"
	    "  -p, --prefix P  namespace prefix (default %s)\n"
	    "  -j, --json      print the answer as JSON\n"
	    "  -h, --help      this text\n",
	    CLI_DEFAULT_PREFIX);
}

int cli_ctl_connect(const char *prefix, const char *who)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	cli_run_path(sun.sun_path, sizeof(sun.sun_path), prefix, "ctl");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "%s: cannot reach natbed-emu at %s: %s; is prefix '%s' up?\n", who,
			sun.sun_path, strerror(errno), prefix);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int cli_ctl_send(int fd, int argc, char **argv, const char *who)
{
	json_t *req = json_array();
	char *text;
	int i, rc = 0;

	for (i = 0; i < argc; i++)
		json_array_append_new(req, json_string(argv[i]));
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text || write(fd, text, strlen(text)) < 0 || write(fd, "\n", 1) < 0) {
		fprintf(stderr, "%s: write: %s\n", who, text ? strerror(errno) : "out of memory");
		rc = -1;
	}
	free(text);
	return rc;
}

json_t *cli_ctl_call(const char *prefix, int argc, char **argv)
{
	const char *who = "natbed ctl";
	json_t *ans = NULL;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = cli_ctl_connect(prefix, who);
	json_error_t jerr;

	if (fd < 0)
		return NULL;
	if (cli_ctl_send(fd, argc, argv, who) < 0)
		goto out;
	buf = malloc(CTL_ANSWER_MAX);
	while (buf && len < CTL_ANSWER_MAX - 1 &&
	       (n = read(fd, buf + len, CTL_ANSWER_MAX - 1 - len)) > 0)
		len += (size_t)n;
	if (!buf || !(ans = json_loadb(buf, len, 0, &jerr)))
		fprintf(stderr, "%s: no valid answer from natbed-emu\n", who);
out:
	close(fd);
	free(buf);
	return ans;
}

static void ctl_print_ports(json_t *ports)
{
	json_t *p, *d;
	const char *k;
	size_t i;

	printf("%-14s %10s %12s %10s %12s  %s\n", "PORT", "RX_PKTS", "RX_BYTES", "TX_PKTS",
	       "TX_BYTES", "DROPS");
	json_array_foreach(ports, i, p)
	{
		printf("%-14s %10lld %12lld %10lld %12lld ",
		       json_string_value(json_object_get(p, "name")),
		       json_integer_value(json_object_get(p, "rx_pkts")),
		       json_integer_value(json_object_get(p, "rx_bytes")),
		       json_integer_value(json_object_get(p, "tx_pkts")),
		       json_integer_value(json_object_get(p, "tx_bytes")));
		if (json_object_size(json_object_get(p, "drops")) == 0)
			printf(" -");
		json_object_foreach(json_object_get(p, "drops"), k, d)
		    printf(" %s=%lld", k, json_integer_value(d));
		putchar('\n');
	}
}

/* `gate NAME hosts` as a table: a line per host. */
static void ctl_print_gate_hosts(json_t *hosts)
{
	json_t *h, *n;
	const char *k;
	size_t i;

	printf("%-14s %-9s %6s %6s %6s %6s %8s  %s\n", "HOST", "TRUST", "RISK", "ASKED", "GRANT",
	       "DENY", "PINHOLES", "REFUSED");
	json_array_foreach(hosts, i, h)
	{
		printf("%-14s %-9s %6.3f %6lld %6lld %6lld %8zu ",
		       json_string_value(json_object_get(h, "name")),
		       json_string_value(json_object_get(h, "trust")),
		       json_number_value(json_object_get(h, "risk")),
		       json_integer_value(json_object_get(h, "requests")),
		       json_integer_value(json_object_get(h, "granted")),
		       json_integer_value(json_object_get(h, "denied")),
		       json_array_size(json_object_get(h, "pinholes")));
		json_object_foreach(json_object_get(h, "refused"), k, n) if (json_integer_value(n))
		    printf(" %s=%lld", k, json_integer_value(n));
		putchar('\n');
	}
}

static void ctl_print(int argc, char **argv, json_t *res)
{
	json_t *r;
	size_t i;

	if (argc >= 2 && strcmp(argv[0], "show") == 0 && strcmp(argv[1], "ports") == 0) {
		ctl_print_ports(res);
	} else if (argc >= 2 && strcmp(argv[0], "show") == 0 && strcmp(argv[1], "stats") == 0) {
		json_t *t = json_object_get(res, "total");
		printf("rx_pkts %lld  tx_pkts %lld  drops %lld  in_flight %lld  pending_events "
		       "%lld\n\n",
		       json_integer_value(json_object_get(t, "rx_pkts")),
		       json_integer_value(json_object_get(t, "tx_pkts")),
		       json_integer_value(json_object_get(t, "drops")),
		       json_integer_value(json_object_get(t, "in_flight")),
		       json_integer_value(json_object_get(t, "pending_events")));
		ctl_print_ports(json_object_get(res, "ports"));
	} else if (argc == 3 && strcmp(argv[0], "gate") == 0 && strcmp(argv[2], "hosts") == 0) {
		ctl_print_gate_hosts(res);
	} else if (argc >= 2 && strcmp(argv[0], "show") == 0 && strcmp(argv[1], "captures") == 0) {
		printf("%-6s %-20s %10s %12s %10s %10s\n", "ID", "VIEW", "RECORDS", "BYTES", "LOST",
		       "QUEUED");
		json_array_foreach(res, i, r)
		    printf("%-6lld %-20s %10lld %12lld %10lld %10lld\n",
			   json_integer_value(json_object_get(r, "id")),
			   json_string_value(json_object_get(r, "view")),
			   json_integer_value(json_object_get(r, "records")),
			   json_integer_value(json_object_get(r, "bytes")),
			   json_integer_value(json_object_get(r, "lost")),
			   json_integer_value(json_object_get(r, "queued")));
	} else if (argc >= 2 && strcmp(argv[0], "show") == 0 && strcmp(argv[1], "routes") == 0) {
		printf("%-20s %-12s %s\n", "DESTINATION", "VIA", "PORT");
		json_array_foreach(res, i, r)
		    printf("%-20s %-12s %s\n", json_string_value(json_object_get(r, "destination")),
			   json_string_value(json_object_get(r, "via")),
			   json_string_value(json_object_get(r, "port")));
	} else {
		json_dumpf(res, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
		putchar('\n');
	}
}

/* `nat NAME mappings` answers a page at a time ({mappings, total, next}):
 * follows `next` and returns every mapping as one array (a new reference),
 * or NULL with the reason printed. */
static json_t *ctl_all_mappings(const char *prefix, char **words, json_t *page)
{
	json_t *all = json_array(), *ans = NULL;
	char *w[5] = {words[0], words[1], words[2], "after", NULL};
	const char *next;
	char cursor[32];

	for (;;) {
		json_array_extend(all, json_object_get(page, "mappings"));
		next = json_string_value(json_object_get(page, "next"));
		if (!next)
			break;
		str_copy(cursor, sizeof(cursor), next);
		w[4] = cursor;
		json_decref(ans);
		ans = cli_ctl_call(prefix, 5, w);
		if (!ans || !json_is_true(json_object_get(ans, "ok"))) {
			fprintf(stderr, "natbed ctl: the next page of mappings failed: %s\n",
				json_string_value(json_object_get(ans, "error")) ?: "no answer");
			json_decref(ans);
			json_decref(all);
			return NULL;
		}
		page = json_object_get(ans, "result");
	}
	json_decref(ans);
	return all;
}

/* checkpoint FILE and restore FILE: natbed-emu runs elsewhere and takes
 * absolute paths only, so a relative FILE is made absolute against the
 * caller's working directory, in out[len]. 0, or -1 (message printed). */
static int ctl_abs_path(int argc, char **argv, char *out, size_t len)
{
	char cwd[PATH_MAX];

	if (argc != 2 || (strcmp(argv[0], "checkpoint") != 0 && strcmp(argv[0], "restore") != 0) ||
	    argv[1][0] == '/' || argv[1][0] == '\0')
		return 0;
	if (!getcwd(cwd, sizeof(cwd))) {
		fprintf(stderr, "natbed ctl: the current directory: %s\n", strerror(errno));
		return -1;
	}
	if (snprintf(out, len, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, argv[1]) >= (int)len) {
		fprintf(stderr, "natbed ctl: %s/%s: path too long\n", cwd, argv[1]);
		return -1;
	}
	argv[1] = out;
	return 0;
}

int cmd_ctl(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"prefix", required_argument, NULL, 'p'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *prefix = CLI_DEFAULT_PREFIX;
	int c, json = 0, rc = 1;
	char abs_path[PATH_MAX];
	json_t *ans;

	while ((c = getopt_long(argc, argv, "+p:jh", lopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			prefix = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			ctl_usage(stdout);
			return 0;
		default:
			ctl_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "natbed ctl: a COMMAND is required (see --help)\n");
		return 2;
	}
	if (cli_check_prefix("ctl", prefix) < 0)
		return 2;
	if (cli_need_root("ctl") < 0)
		return 1;
	if (ctl_abs_path(argc - optind, argv + optind, abs_path, sizeof(abs_path)) < 0)
		return 1;
	ans = cli_ctl_call(prefix, argc - optind, argv + optind);
	if (!ans)
		return 1;
	if (json_is_true(json_object_get(ans, "ok")) && argc - optind == 3 &&
	    strcmp(argv[optind], "nat") == 0 && strcmp(argv[optind + 2], "mappings") == 0) {
		json_t *all =
		    ctl_all_mappings(prefix, argv + optind, json_object_get(ans, "result"));

		if (!all) {
			json_decref(ans);
			return 1;
		}
		json_object_set_new(ans, "result", all);
	}
	if (!json_is_true(json_object_get(ans, "ok"))) {
		fprintf(stderr, "natbed ctl: %s\n",
			json_string_value(json_object_get(ans, "error")) ?: "command failed");
	} else {
		if (json) {
			json_dumpf(json_object_get(ans, "result"), stdout,
				   JSON_INDENT(2) | JSON_ENCODE_ANY);
			putchar('\n');
		} else {
			ctl_print(argc - optind, argv + optind, json_object_get(ans, "result"));
		}
		rc = 0;
	}
	json_decref(ans);
	return rc;
}
