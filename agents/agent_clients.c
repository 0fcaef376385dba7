/* natbed-agent clients: many logical clients in one process, each an agent
 * of its own on its own socket (clients.h), started from a schedule read
 * on standard input, each printing its connect's JSON line with its id and
 * start time. Exit: 0 every client connected, 1 some did not, 2 usage or
 * a bad schedule line. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent_plan.h"
#include "clients.h"
#include "natbed/log.h"
#include "natbed/units.h"

#define CLIENTS_FD_MARGIN 64 /* descriptors beyond the sockets: stdin, libevent, files */

struct clients_cli {
	struct agent_cli c;
	struct clients *cs;
	struct event *rd; /* stdin, when it can be polled */
	char buf[CLIENTS_LINE_MAX + 2];
	size_t len;
	bool skipping;	   /* the rest of an overlong line */
	unsigned lineno;   /* of stdin */
	unsigned bad;	   /* schedule lines refused */
	bool eof, paused;  /* stdin ended; not read until there is room */
	bool done;	   /* every client reported after the end of stdin */
	uint64_t failures; /* reports of clients that did not connect */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: natbed-agent clients --name NAME --rendezvous IP[:PORT] --stun IP[:PORT]\n"
		"                            [--max-clients N] [--priority P] [--no-relay]\n"
		"                            [--budget DURATION] [--probes K] [--learn FILE]\n"
		"                            [--no-discover | --nat CLASS] [--bind IP]\n"
		"                            [--stats FILE] [--verbose] < SCHEDULE\n"
		"\n"
		"Many logical clients in one process. Reads a schedule on standard input,\n"
		"one line per client:\n"
		"\n"
		"    ID T_S PEER [METHOD|cascade] [PRIORITY]\n"
		"\n"
		"(fields apart by spaces; blank lines and '#' comments are nothing), and T_S\n"
		"seconds after it started (or at once, when that time has passed) starts\n"
		"client ID: an agent of its own, on a socket of its own, named NAME.ID,\n"
		"that measures its NAT (unless --nat or --no-discover), registers, and\n"
		"connects to PEER as `natbed-agent connect` does: with METHOD, or through\n"
		"the cascade (the default) by PRIORITY (default --priority). Lines may all\n"
		"come at once or keep coming while it runs, in any order of T_S. For each\n"
		"client it prints connect's JSON line with two more keys first, \"client\"\n"
		"(ID, a string) and \"t_s\" (when the client started, seconds after the\n"
		"program did), then gives NAME.ID up. At most N clients live at once\n"
		"(--max-clients, default %d); one due past that waits, in turn, for room.\n"
		"It exits once standard input is closed and every client has printed its\n"
		"line: 0 every client connected, 1 some did not, 2 a usage error or a bad\n"
		"schedule line (said on stderr with its number; the others still run).\n"
		"\n"
		"  --max-clients N          clients alive at once, 1..%d (default %d)\n"
		"  --priority P             a cascade line's score without PRIORITY:\n"
		"                           success_rate, cost, security or balanced (default)\n"
		"  --no-relay               cascades skip methods that relay the data\n"
		"  --budget DURATION        a METHOD line's try's (default: the method's own);\n"
		"                           a cascade's whole connect's (default: each method\n"
		"                           its own, one after another)\n"
		"  --probes K               probes on each path found, 0..%d (default %d)\n"
		"  --learn FILE             measured outcomes (JSON, created when missing),\n"
		"                           shared by every client: read to choose, every try\n"
		"                           added, saved at the end\n"
		"  --bind IP                each client's main socket's address (a free "
		"port)\n" AGENT_CLI_HELP,
		CLIENTS_ALIVE_DEFAULT, DGSOCK_MAX, CLIENTS_ALIVE_DEFAULT, PROBE_MAX,
		AGENT_CONNECT_PROBES);
}

/* --- the result lines ---------------------------------------------------- */

static void on_client_report(void *arg, const char *id, double t_s, const struct agent_report *r)
{
	struct clients_cli *k = arg;
	/* microseconds are all the loop's clock is good for here */
	json_t *j = json_pack("{s:s, s:f}", "client", id, "t_s", round(t_s * 1e6) / 1e6);
	json_t *rep = agent_report_json(r);

	if (!r->success)
		k->failures++;
	if (j && rep && json_object_update(j, rep) == 0) {
		agent_print_json(j);
	} else {
		log_err("client %s: cannot write its result line: out of memory", id);
		json_decref(j);
		k->failures++;
	}
	json_decref(rep);
	/* a report makes room: read on */
	if (k->paused && k->rd && clients_room(k->cs) && event_add(k->rd, NULL) == 0)
		k->paused = false;
}

static void on_idle(void *arg)
{
	struct clients_cli *k = arg;

	k->done = true;
	agent_cli_stop(&k->c, k->bad ? 2 : k->failures ? 1 : 0);
}

/* --- standard input -------------------------------------------------------- */

static void take_line(struct clients_cli *k, char *line)
{
	char err[160];
	int r;

	k->lineno++;
	r = clients_line(k->cs, line, err, sizeof(err));
	if (r == 0)
		return;
	k->bad++;
	fprintf(stderr, "natbed-agent clients: stdin line %u: %s\n", k->lineno,
		r == -ENOMEM ? strerror(ENOMEM) : err);
}

/* Splits k->buf into lines; keeps a partial one. An overlong line is
 * refused and skipped to its end. */
static void take_lines(struct clients_cli *k, bool at_eof)
{
	size_t start = 0;

	for (size_t i = 0; i < k->len; i++) {
		if (k->buf[i] != '\n')
			continue;
		k->buf[i] = '\0';
		if (k->skipping)
			k->skipping = false;
		else
			take_line(k, k->buf + start);
		start = i + 1;
	}
	memmove(k->buf, k->buf + start, k->len - start);
	k->len -= start;
	if (k->len > CLIENTS_LINE_MAX || (at_eof && k->len)) {
		k->buf[k->len] = '\0';
		if (!k->skipping)
			take_line(k, k->buf); /* too long: refused, said once */
		k->skipping = !at_eof;
		k->len = 0;
	}
}

/* One read; false at the end of stdin (or an error, said). */
static bool read_some(struct clients_cli *k)
{
	ssize_t n = read(STDIN_FILENO, k->buf + k->len, sizeof(k->buf) - 1 - k->len);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n < 0)
		log_err("stdin: %s", strerror(errno));
	if (n <= 0) {
		take_lines(k, true);
		k->eof = true;
		clients_eof(k->cs);
		return false;
	}
	k->len += (size_t)n;
	take_lines(k, false);
	return true;
}

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
	struct clients_cli *k = arg;

	if (!read_some(k)) {
		event_del(k->rd);
		return;
	}
	/* CLIENTS_PENDING_MAX lines wait: read on after a report */
	if (!clients_room(k->cs)) {
		event_del(k->rd);
		k->paused = true;
	}
}

/* Whether epoll can watch fd: not a regular file or /dev/null (EPERM).
 * libevent would only find out inside its loop, and never wake. */
static bool pollable(int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int ep = epoll_create1(EPOLL_CLOEXEC);
	bool ok = ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;

	if (ep >= 0)
		close(ep);
	return ok;
}

/* stdin on the loop; a file or /dev/null, which cannot be polled, is read
 * whole now (past CLIENTS_PENDING_MAX lines pending, the rest refused).
 * 0 or -ENOMEM. */
static int stdin_start(struct clients_cli *k)
{
	if (pollable(STDIN_FILENO)) {
		k->rd = event_new(k->c.loop.base, STDIN_FILENO, EV_READ | EV_PERSIST, on_stdin, k);
		return k->rd && event_add(k->rd, NULL) == 0 ? 0 : -ENOMEM;
	}
	while (read_some(k))
		;
	return 0;
}

/* --- the program ---------------------------------------------------------- */

static json_t *stats_json(void *arg)
{
	const struct clients_cli *k = arg;
	struct clients_counters cc;
	struct dgsock_stats io;

	if (!k->cs)
		return NULL;
	clients_counters(k->cs, &cc);
	dgsock_stats(k->c.loop.io, &io);
	return json_pack("{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}}",
			 "clients", "lines", (json_int_t)cc.lines, "bad_lines", (json_int_t)k->bad,
			 "started", (json_int_t)cc.started, "reported", (json_int_t)cc.reported,
			 "connected", (json_int_t)cc.connected, "waited", (json_int_t)cc.waited,
			 "alive", (json_int_t)cc.alive, "alive_max", (json_int_t)cc.alive_max,
			 "pending", (json_int_t)cc.pending, "socket", "rx", (json_int_t)io.rx, "tx",
			 (json_int_t)io.tx, "tx_errors", (json_int_t)io.tx_errors);
}

/* Each client holds a few sockets (birthday: hundreds): the soft limit
 * on descriptors goes up to what the driver can hold, as the hard one
 * allows. */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want = DGSOCK_MAX + CLIENTS_FD_MARGIN;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("setrlimit NOFILE %llu: %s", (unsigned long long)rl.rlim_cur,
			 strerror(errno));
}

static int clients_option(struct clients_config *cfg, int opt, const char *arg)
{
	int64_t n;

	if (opt != 'N')
		return 0;
	if (units_parse_count(arg, DGSOCK_MAX, &n) < 0 || n < 1) {
		fprintf(stderr, "--max-clients %s: 1..%d\n", arg, DGSOCK_MAX);
		return -1;
	}
	cfg->max_alive = (int)n;
	return 1;
}

/* The options into cfg (o keeps the plan's). 0, or the exit status. */
static int parse(int argc, char **argv, struct clients_cli *k, struct agent_connect_opts *o,
		 struct clients_config *cfg)
{
	static const struct option opts[] = {
	    AGENT_CLI_OPTIONS,
	    AGENT_PLAN_OPTIONS,
	    {"max-clients", required_argument, NULL, 'N'},
	    {NULL, 0, NULL, 0},
	};
	int opt, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == AGENT_OPT_HELP) {
			usage(stdout);
			return -1;
		}
		r = agent_cli_option(&k->c, opt, optarg);
		if (r == 0)
			r = agent_connect_option(o, opt, optarg);
		if (r == 0)
			r = clients_option(cfg, opt, optarg);
		if (r != 1) {
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !agent_cli_complete(&k->c, "clients"))
		return 2;
	if (k->c.cfg.bind.port) {
		fprintf(stderr, "natbed-agent clients: --bind IP: each client takes a free port\n");
		return 2;
	}
	if (strlen(k->c.cfg.name) > RDV_NAME_MAX - 2) {
		fprintf(stderr, "natbed-agent clients: --name %s: NAME.ID must fit in %d\n",
			k->c.cfg.name, RDV_NAME_MAX);
		return 2;
	}
	return 0;
}

/* Runs the clients until the schedule is done or a signal; the status. */
static int run(struct clients_cli *k, const struct clients_config *cfg)
{
	struct clients_ops ops = {.report = on_client_report, .idle = on_idle, .arg = k};

	log_init("natbed-agent", k->c.verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	raise_nofile();
	if (agent_loop_init(&k->c.loop, stats_json, k, k->c.stats_path) < 0) {
		log_err("cannot set the loop up: %s", strerror(ENOMEM));
		return 1;
	}
	k->cs = clients_new(agent_loop_dgram(&k->c.loop), cfg, &ops);
	if (!k->cs) {
		log_err("cannot make the clients: %s", strerror(ENOMEM));
		return 1;
	}
	if (stdin_start(k) < 0) {
		log_err("stdin: cannot watch it: %s", strerror(ENOMEM));
		return 1;
	}
	/* an empty schedule read whole is done before the loop runs (a
	 * loopbreak then would be forgotten) */
	if (!k->done)
		agent_loop_run(&k->c.loop);
	/* a signal stopped it before every client reported */
	return k->done ? k->c.loop.status : 1;
}

int agent_cmd_clients(int argc, char **argv, const struct agent_env *env)
{
	struct clients_cli *k = calloc(1, sizeof(*k));
	struct clients_config cfg = {0};
	const struct method *table[AGENT_PLAN_MAX];
	struct agent_connect_opts o;
	struct learn *l = NULL;
	char err[512];
	int status;

	if (!k)
		return 1;
	agent_cli_init(&k->c, env);
	agent_connect_opts_init(&o);
	status = parse(argc, argv, k, &o, &cfg);
	if (status == 0 && o.learn_path && !(l = learn_load(o.learn_path, err, sizeof(err)))) {
		fprintf(stderr, "--learn %s\n", err);
		status = 2;
	}
	if (status == 0) {
		cfg.agent = k->c.cfg;
		agent_cascade_plan(&k->c, &o, table, l, &cfg.plan);
		cfg.priority = o.priority;
		status = run(k, &cfg);
		agent_loop_stats(&k->c.loop);
	}
	/* the live clients give their names up; what was measured is kept */
	clients_free(k->cs);
	if (k->rd)
		event_free(k->rd);
	agent_loop_free(&k->c.loop);
	if (l && learn_save(l, o.learn_path, err, sizeof(err)) < 0)
		log_err("--learn: %s", err);
	learn_free(l);
	free(k);
	return status < 0 ? 0 : status;
}
