/* natbed up: build a topology — namespaces, veths, addresses, routes — start
 * natbed-emu in the fabric and each host's run line, print what was built. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "natbed/capsel.h"
#include "natbed/strcopy.h"
#include "natbed/topo.h"
#include "natbed/units.h"
#include "netns.h"
#include "proc.h"
#include "state.h"

#define UP_EMU_READY_MS 5000
#define UP_HOST_IF	"eth0"
#define UP_MTU		1500

struct up_opts {
	const char *prefix;
	const char *out;
	const char *file;
	const char *seed;
	const char *backend;
	const char *spin;
	const char *cpu;
	const char *capture; /* capsel spec for natbed-emu; NULL: its default, all */
	bool json;
};

struct up_ctx {
	const struct up_opts *o;
	const struct topo *t;
	struct state *st;
	struct netns_ctx *nl;
	char fabric_ns[STATE_NAME_MAX];
	char out[PATH_MAX];
	char ctl[CLI_PATH_MAX];
};

static void up_usage(FILE *f)
{
	fprintf(f,
		"usage: natbed up [--prefix P] [--out DIR] [--capture SEL] [--seed N]\n"
		"                 [--backend B] [--spin US] [--cpu N] [--json] FILE\n"
		"\n"
		"Builds the topology in FILE: namespace P+fabric for natbed-emu and P+HOST for\n"
		"each host (visible to `ip netns`), a veth per host (eth0 in the host, named\n"
		"after the host in the fabric), addresses and default routes; IPv6, forwarding\n"
		"and offloads off where the emulator needs them. Then starts natbed-emu in the\n"
		"fabric and each host's `run` line in its namespace, and prints what it built.\n"
		"Options may also follow FILE.\n"
		"\n"
		"  -p, --prefix P  namespace prefix, 1-%d of [a-z0-9-] (default %s)\n"
		"  -o, --out DIR   captures (HOST.pcap per port, NAT-wan.pcap per NAT), the\n"
		"                  event log (events.jsonl), logs (HOST.log, emu.log) and a\n"
		"                  copy of FILE (topology.yaml, for natbed check)\n"
		"                  (default ./out/NAME, NAME from the topology)\n"
		"      --capture SEL\n"
		"                  which captures to write: all (default), none, or NAME,...\n"
		"                  of hosts (HOST.pcap) and NATs (NAT-wan.pcap); the event\n"
		"                  log and the logs are written in every case\n"
		"  -s, --seed N    override the topology's seed (every random draw of the run)\n"
		"  -b, --backend B packet I/O backend of natbed-emu: ring (PACKET_MMAP rings,\n"
		"                  the default) or packet (recvmmsg/sendmmsg)\n"
		"      --spin US   natbed-emu busy-polls ring ports US microseconds after a\n"
		"                  burst: lower latency for more CPU (default 0)\n"
		"      --cpu N     natbed-emu runs only on CPU N (with --spin, on a machine\n"
		"                  with cores to spare: a core of its own; default: any)\n"
		"  -j, --json      print what was built as JSON\n"
		"  -h, --help      this text\n"
		"\n"
		"Undo with `natbed down --prefix P`. Exit status: 0 built, 1 failed (nothing\n"
		"left behind), 2 bad usage or topology file.\n",
		TOPO_PREFIX_MAX, CLI_DEFAULT_PREFIX);
}

static int up_parse(int argc, char **argv, struct up_opts *o)
{
	static const struct option lopts[] = {
	    {"prefix", required_argument, NULL, 'p'},
	    {"out", required_argument, NULL, 'o'},
	    {"capture", required_argument, NULL, 'K'}, /* long options only: K, S, C */
	    {"json", no_argument, NULL, 'j'},
	    {"seed", required_argument, NULL, 's'},
	    {"backend", required_argument, NULL, 'b'},
	    {"spin", required_argument, NULL, 'S'},
	    {"cpu", required_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int64_t n;
	int c;

	o->prefix = CLI_DEFAULT_PREFIX;
	while ((c = getopt_long(argc, argv, "p:o:s:b:jh", lopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->prefix = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'b':
			o->backend = optarg;
			break;
		case 'S':
			o->spin = optarg;
			break;
		case 'K':
			o->capture = optarg;
			break;
		case 'C':
			o->cpu = optarg;
			if (units_parse_count(optarg, 9999, &n) < 0) {
				fprintf(stderr, "natbed up: --cpu %s: a CPU number\n", optarg);
				return -1;
			}
			break;
		case 's':
			o->seed = optarg;
			if (strspn(optarg, "0123456789") != strlen(optarg) || !*optarg) {
				fprintf(stderr, "natbed up: --seed %s: not a number\n", optarg);
				return -1;
			}
			break;
		case 'h':
			up_usage(stdout);
			exit(0);
		default:
			up_usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "natbed up: %s (see --help)\n",
			optind >= argc ? "a topology FILE is required" : "one topology FILE only");
		return -1;
	}
	o->file = argv[optind];
	return cli_check_prefix("up", o->prefix);
}

/* Every program the topology names must exist before anything is built. */
static int up_check_binaries(const struct topo *t)
{
	char path[CLI_PATH_MAX], word[256];
	size_t h, n;

	if (cli_which("natbed-emu", path, sizeof(path)) < 0) {
		fprintf(stderr, "natbed up: natbed-emu not found beside natbed or in PATH\n");
		return -1;
	}
	for (h = 0; h < t->n_hosts; h++) {
		const char *run = t->hosts[h].run;

		while (*run == ' ' || *run == '\t')
			run++;
		n = strcspn(run, " \t;&|<>");
		if (n == 0 || n >= sizeof(word))
			continue;
		memcpy(word, run, n);
		word[n] = '\0';
		if (strcmp(word, "exec") != 0 && cli_which(word, path, sizeof(path)) < 0) {
			fprintf(stderr, "natbed up: %s:%d: hosts.%s.run: '%s' not found in PATH\n",
				t->path, t->hosts[h].run_line, t->hosts[h].name, word);
			return -1;
		}
	}
	return 0;
}

/* A prefix is in use when its emulator still runs or its fabric exists
 * without a state file (someone else's). A dead run is cleaned up. */
static int up_claim_prefix(struct up_ctx *u)
{
	int i, rc = state_load(u->o->prefix, u->st);

	if (rc == 0) {
		for (i = 0; i < u->st->n_procs; i++) {
			if (strcmp(u->st->procs[i].name, "emu") == 0 &&
			    state_proc_alive(&u->st->procs[i])) {
				fprintf(
				    stderr,
				    "natbed up: prefix '%s' is in use (natbed-emu pid %d runs); "
				    "run `natbed down --prefix %s` or pick another --prefix\n",
				    u->o->prefix, (int)u->st->procs[i].pid, u->o->prefix);
				return -1;
			}
		}
		fprintf(stderr, "natbed up: cleaning up a dead run under prefix '%s'\n",
			u->o->prefix);
		cli_teardown(u->o->prefix, NULL, 0);
	} else if (netns_exists(u->fabric_ns)) {
		fprintf(stderr,
			"natbed up: namespace %s exists but natbed has no record of it; "
			"remove it (`ip netns del %s`) or pick another --prefix\n",
			u->fabric_ns, u->fabric_ns);
		return -1;
	}
	memset(u->st, 0, sizeof(*u->st));
	str_copy(u->st->prefix, sizeof(u->st->prefix), u->o->prefix);
	if (!realpath(u->o->file, u->st->topology))
		str_copy(u->st->topology, sizeof(u->st->topology), u->o->file);
	str_copy(u->st->out, sizeof(u->st->out), u->out);
	return state_save(u->st) < 0 ? -1 : 0;
}

static int up_mkdirs(const char *dir)
{
	char buf[PATH_MAX], *p;

	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Copies the topology file into the output directory as topology.yaml, so
 * the run's directory is read on its own (natbed check). Through a
 * temporary file and a rename: a reader never sees half of it, and a file
 * already there (even the source itself) is replaced whole. */
static int up_copy_topology(const char *src, const char *dir)
{
	char dst[PATH_MAX + 16], tmp[PATH_MAX + 32], buf[65536];
	FILE *in = fopen(src, "rb"), *out = NULL;
	size_t n;
	int rc = 0;

	snprintf(dst, sizeof(dst), "%s/topology.yaml", dir);
	snprintf(tmp, sizeof(tmp), "%s/.topology.yaml.%d", dir, (int)getpid());
	if (!in || !(out = fopen(tmp, "wb")))
		rc = -errno;
	while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = -EIO;
	if (rc == 0 && ferror(in))
		rc = -EIO;
	if (out && fclose(out) != 0 && rc == 0)
		rc = -EIO;
	if (in)
		fclose(in);
	if (rc == 0 && rename(tmp, dst) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		fprintf(stderr, "natbed up: cannot copy %s to %s: %s\n", src, dst, strerror(-rc));
	}
	return rc;
}

/* Records then creates a namespace with loopback up and IPv6 off (before
 * any interface arrives, so none ever sends NDP or router solicitations). */
static int up_ns(struct up_ctx *u, const char *ns)
{
	struct netns_err e = {""};
	int rc;

	if ((rc = state_add_ns(u->st, ns)) < 0) {
		fprintf(stderr, "natbed up: cannot write the state file: %s\n", strerror(-rc));
		return -1;
	}
	if ((rc = netns_create(ns, &e)) < 0 || (rc = link_up(u->nl, ns, "lo", &e)) < 0 ||
	    (rc = sysctl_set(ns, "net.ipv6.conf.all.disable_ipv6", "1", &e)) < 0 ||
	    (rc = sysctl_set(ns, "net.ipv6.conf.default.disable_ipv6", "1", &e)) < 0) {
		fprintf(stderr, "natbed up: %s\n", e.msg[0] ? e.msg : strerror(-rc));
		return -1;
	}
	return 0;
}

static int up_host(struct up_ctx *u, const struct topo_host *h)
{
	struct netns_err e = {""};
	char ns[STATE_NAME_MAX];
	size_t a;
	int rc;

	snprintf(ns, sizeof(ns), "%s%s", u->o->prefix, h->name);
	if (up_ns(u, ns) < 0)
		return -1;
	if ((rc = veth_create(u->nl, ns, UP_HOST_IF, u->fabric_ns, h->name, UP_MTU, &e)) < 0 ||
	    (rc = offload_off(u->nl, ns, UP_HOST_IF, &e)) < 0 ||
	    (rc = offload_off(u->nl, u->fabric_ns, h->name, &e)) < 0 ||
	    (rc = link_up(u->nl, u->fabric_ns, h->name, &e)) < 0 ||
	    (rc = link_up(u->nl, ns, UP_HOST_IF, &e)) < 0)
		goto fail;
	for (a = 0; a < h->n_addrs; a++)
		if ((rc = addr_add(u->nl, ns, UP_HOST_IF, h->addrs[a], h->prefix_len, &e)) < 0)
			goto fail;
	/* A public host holds /32s: its gateway is on-link only by fiat. */
	rc = route_add_default(u->nl, ns, UP_HOST_IF, h->gateway, h->nat < 0, &e);
	if (rc < 0)
		goto fail;
	netns_ctx_forget(u->nl, ns);
	return 0;
fail:
	fprintf(stderr, "natbed up: host %s: %s\n", h->name, e.msg[0] ? e.msg : strerror(-rc));
	return -1;
}

static int up_fabric(struct up_ctx *u)
{
	struct netns_err e = {""};

	if (up_ns(u, u->fabric_ns) < 0)
		return -1;
	/* DESIGN: the fabric namespace must not answer or route anything itself. */
	if (sysctl_set(u->fabric_ns, "net.ipv4.ip_forward", "0", &e) < 0) {
		fprintf(stderr, "natbed up: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int up_ctl_ready(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		close(fd);
		return 0;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return ok;
}

static int up_emulator(struct up_ctx *u)
{
	char emu[CLI_PATH_MAX], log[PATH_MAX + 16];
	char *argv[] = {emu,
			"--topology",
			u->st->topology,
			"--prefix",
			(char *)u->o->prefix,
			"--out",
			u->out,
			"--ctl",
			u->ctl,
			NULL,
			NULL,
			NULL,
			NULL,
			NULL,
			NULL,
			NULL,
			NULL,
			NULL,
			NULL,
			NULL};
	struct timespec tick = {0, 10 * 1000 * 1000};
	pid_t pid;
	int waited;

	cli_which("natbed-emu", emu, sizeof(emu));
	int k = 9;

	if (u->o->seed) {
		argv[k++] = "--seed";
		argv[k++] = (char *)u->o->seed;
	}
	if (u->o->backend) {
		argv[k++] = "--backend";
		argv[k++] = (char *)u->o->backend;
	}
	if (u->o->spin) {
		argv[k++] = "--spin";
		argv[k++] = (char *)u->o->spin;
	}
	if (u->o->cpu) {
		argv[k++] = "--cpu";
		argv[k++] = (char *)u->o->cpu;
	}
	if (u->o->capture) {
		argv[k++] = "--capture";
		argv[k++] = (char *)u->o->capture;
	}
	cli_run_path(u->ctl, sizeof(u->ctl), u->o->prefix, "ctl");
	snprintf(log, sizeof(log), "%s/emu.log", u->out);
	pid = proc_spawn(u->fabric_ns, argv, NULL, log);
	if (pid < 0 || state_add_proc(u->st, "emu", pid) < 0) {
		fprintf(stderr, "natbed up: cannot start natbed-emu: %s\n", strerror(-pid));
		return -1;
	}
	for (waited = 0; waited < UP_EMU_READY_MS; waited += 10) {
		if (up_ctl_ready(u->ctl))
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "natbed up: natbed-emu exited at start; see %s\n", log);
			return -1;
		}
		nanosleep(&tick, NULL);
	}
	fprintf(stderr, "natbed up: natbed-emu not ready after %d ms; see %s\n", UP_EMU_READY_MS,
		log);
	return -1;
}

static int up_run_hosts(struct up_ctx *u)
{
	char ns[STATE_NAME_MAX], log[PATH_MAX + 64];
	size_t h;
	pid_t pid;

	for (h = 0; h < u->t->n_hosts; h++) {
		const struct topo_host *hs = &u->t->hosts[h];

		if (!hs->run[0])
			continue;
		snprintf(ns, sizeof(ns), "%s%s", u->o->prefix, hs->name);
		snprintf(log, sizeof(log), "%s/%s.log", u->out, hs->name);
		pid = proc_spawn(ns, NULL, hs->run, log);
		if (pid < 0 || state_add_proc(u->st, hs->name, pid) < 0) {
			fprintf(stderr, "natbed up: host %s: cannot start its run line: %s\n",
				hs->name, strerror(pid < 0 ? -pid : ENOSPC));
			return -1;
		}
	}
	return 0;
}

static json_t *up_host_json(const struct up_ctx *u, const struct topo_host *h)
{
	json_t *addrs = json_array();
	char a[INET_ADDRSTRLEN], buf[INET_ADDRSTRLEN + 4], ns[STATE_NAME_MAX];
	size_t k;

	for (k = 0; k < h->n_addrs; k++) {
		inet_ntop(AF_INET, &h->addrs[k], a, sizeof(a));
		snprintf(buf, sizeof(buf), "%s/%u", a, h->prefix_len);
		json_array_append_new(addrs, json_string(buf));
	}
	inet_ntop(AF_INET, &h->gateway, a, sizeof(a));
	snprintf(ns, sizeof(ns), "%s%s", u->o->prefix, h->name);
	return json_pack("{s:s,s:s,s:o,s:s,s:s}", "name", h->name, "namespace", ns, "addresses",
			 addrs, "gateway", a, "behind",
			 h->nat < 0 ? "internet" : u->t->nats[h->nat].name);
}

/* {"name", "preset", "mapping", "filtering", "public", "inside", "behind"} */
static json_t *up_nat_json(const struct up_ctx *u, const struct topo_nat *n)
{
	char first[INET_ADDRSTRLEN], pub[INET_ADDRSTRLEN + 24], net[INET_ADDRSTRLEN];
	char inside[INET_ADDRSTRLEN + 4];

	/* a pool shows its first address and how many more */
	inet_ntop(AF_INET, &n->publics[0], first, sizeof(first));
	if (n->n_public > 1)
		snprintf(pub, sizeof(pub), "%s+%zu", first, n->n_public - 1);
	else
		str_copy(pub, sizeof(pub), first);
	inet_ntop(AF_INET, &n->inside_net, net, sizeof(net));
	snprintf(inside, sizeof(inside), "%s/%u", net, n->inside_len);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "name", n->name, "preset",
			 n->preset[0] ? n->preset : "-", "mapping", topo_nat_map_name(n->b.mapping),
			 "filtering", topo_nat_map_name(n->b.filtering), "public", pub, "inside",
			 inside, "behind",
			 n->upstream < 0 ? "internet" : u->t->nats[n->upstream].name);
}

static void up_print_nats(const json_t *nats)
{
	const json_t *j;
	size_t i;

	if (json_array_size(nats) == 0)
		return;
	printf("\n%-14s %-22s %-16s %-18s %-12s %s\n", "NAT", "PRESET", "PUBLIC", "INSIDE",
	       "BEHIND", "MAPPING / FILTERING");
	json_array_foreach(nats, i, j) printf("%-14s %-22s %-16s %-18s %-12s %s / %s\n",
					      json_string_value(json_object_get(j, "name")),
					      json_string_value(json_object_get(j, "preset")),
					      json_string_value(json_object_get(j, "public")),
					      json_string_value(json_object_get(j, "inside")),
					      json_string_value(json_object_get(j, "behind")),
					      json_string_value(json_object_get(j, "mapping")),
					      json_string_value(json_object_get(j, "filtering")));
}

static void up_print(const struct up_ctx *u)
{
	json_t *hosts = json_array(), *nats = json_array(), *all;
	size_t h, k;

	for (h = 0; h < u->t->n_hosts; h++)
		json_array_append_new(hosts, up_host_json(u, &u->t->hosts[h]));
	for (h = 0; h < u->t->n_nats; h++)
		json_array_append_new(nats, up_nat_json(u, &u->t->nats[h]));
	if (u->o->json) {
		all = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "name", u->t->name, "prefix",
				u->o->prefix, "fabric", u->fabric_ns, "out", u->out, "ctl", u->ctl,
				"hosts", hosts, "nats", nats);
		json_dumpf(all, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(all);
		return;
	}
	printf("%s: up under prefix %s (fabric %s, captures and logs in %s)\n", u->t->name,
	       u->o->prefix, u->fabric_ns, u->out);
	printf("%-14s %-18s %-16s %-12s %s\n", "HOST", "NAMESPACE", "GATEWAY", "BEHIND",
	       "ADDRESSES");
	for (h = 0; h < json_array_size(hosts); h++) {
		json_t *j = json_array_get(hosts, h), *addrs = json_object_get(j, "addresses");

		printf("%-14s %-18s %-16s %-12s ", json_string_value(json_object_get(j, "name")),
		       json_string_value(json_object_get(j, "namespace")),
		       json_string_value(json_object_get(j, "gateway")),
		       json_string_value(json_object_get(j, "behind")));
		for (k = 0; k < json_array_size(addrs); k++)
			printf("%s%s", k ? " " : "", json_string_value(json_array_get(addrs, k)));
		putchar('\n');
	}
	up_print_nats(nats);
	json_decref(hosts);
	json_decref(nats);
}

static int up_build(struct up_ctx *u)
{
	size_t h;

	if (up_fabric(u) < 0)
		return -1;
	for (h = 0; h < u->t->n_hosts; h++)
		if (up_host(u, &u->t->hosts[h]) < 0)
			return -1;
	netns_ctx_free(u->nl);
	u->nl = NULL;
	if (up_emulator(u) < 0 || up_run_hosts(u) < 0)
		return -1;
	return 0;
}

int cmd_up(int argc, char **argv)
{
	struct up_opts o = {0};
	struct up_ctx u = {0};
	char err[TOPO_ERR_MAX], out[PATH_MAX];
	struct topo *t = NULL;
	pid_t reaper;
	int rc = 1;

	if (up_parse(argc, argv, &o) < 0)
		return 2;
	if (cli_need_root("up") < 0)
		return 1;
	if (topo_load(o.file, o.prefix, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "natbed up: %s\n", err);
		return 2;
	}
	if (o.capture && capsel_parse(t, o.capture, NULL, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "natbed up: --capture %s: %s\n", o.capture, err);
		rc = 2;
		goto out;
	}
	if (up_check_binaries(t) < 0)
		goto out;
	u.o = &o;
	u.t = t;
	u.st = calloc(1, sizeof(*u.st));
	u.nl = netns_ctx_new();
	snprintf(u.fabric_ns, sizeof(u.fabric_ns), "%sfabric", o.prefix);
	if (o.out)
		str_copy(out, sizeof(out), o.out);
	else
		snprintf(out, sizeof(out), "out/%s", t->name);
	if (!u.st || !u.nl || up_mkdirs(out) < 0 || !realpath(out, u.out)) {
		fprintf(stderr, "natbed up: cannot create the output directory %s\n", out);
		goto out;
	}
	if (up_claim_prefix(&u) < 0)
		goto out;
	if (up_copy_topology(o.file, u.out) < 0) {
		state_remove(o.prefix);
		goto out;
	}
	/* What starts from here runs on after `natbed up` exits: a reaper
	 * stays to reap it. */
	reaper = proc_reaper_start();
	if (reaper > 0 && state_add_proc(u.st, PROC_REAPER_NAME, reaper) < 0) {
		fprintf(stderr, "natbed up: cannot write the state file\n");
		goto out;
	}
	if (up_build(&u) < 0) {
		netns_ctx_free(u.nl);
		u.nl = NULL;
		cli_teardown(o.prefix, t, 0);
		fprintf(stderr, "natbed up: nothing was left behind\n");
		goto out;
	}
	up_print(&u);
	rc = 0;
out:
	netns_ctx_free(u.nl);
	free(u.st);
	topo_free(t);
	return rc;
}
