/* natbed sim: each host's program as a state machine (sim_hosts.h). */
#include "sim_hosts.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "dgstund.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "natbed/strcopy.h"
#include "natbed/units.h"
#include "rdv.h"
#include "rdv_args.h"
#include "turnd.h"
#include "vnet.h"

#define SIM_WORDS_MAX	  96
#define SIM_STUN_PORT	  3478 /* natbed-stund's, RFC 8489 §18.6 */
#define SIM_TURN_PORT	  3478 /* coturn's default listening port */
#define SIM_PCP_PORT	  5351 /* RFC 6887 §19.1 */
#define SIM_TURN_CRED_MAX 128

enum sim_agent_state { SIM_AGENT_AUTH, SIM_AGENT_STARTING, SIM_AGENT_READY, SIM_AGENT_FAILED };

struct sim_host {
	struct sim_hosts *hs;
	int index;
	const struct dgram *d;
	const char *prog; /* the program's name, NULL: none */
	struct dgstund *stund;
	struct rdv *rdv;
	struct turnd *turnd;
	char turn_user[SIM_TURN_CRED_MAX], turn_pass[SIM_TURN_CRED_MAX],
	    turn_realm[SIM_TURN_CRED_MAX];
	/* natbed-agent serve */
	bool has_agent;
	struct sim_agent_opts opts;
	struct agent *a;
	struct gatec *gc;
	int gate_tries;
	enum sim_agent_state state;
	char why[160];
	uint64_t nonce; /* the next of the host's auth requests */
};

struct sim_hosts {
	struct vnet *v;
	const struct topo *t;
	struct sim_host *h;
	bool restoring; /* programs read their options; their state comes from a checkpoint */
};

/* A program's start: argv[0] is its name. 0, or -1 with err. */
struct sim_prog {
	const char *name;
	int (*start)(struct sim_host *h, int argc, char **argv, char *err, size_t errlen);
};

/* --- natbed-stund ---------------------------------------------------------- */

static int sim_stund(struct sim_host *h, int argc, char **argv, char *err, size_t errlen)
{
	static const struct option opts[] = {
	    {"primary", required_argument, NULL, 'p'},	{"alternate", required_argument, NULL, 'a'},
	    {"software", required_argument, NULL, 's'}, {"stats", required_argument, NULL, 'S'},
	    {"verbose", no_argument, NULL, 'v'},	{NULL, 0, NULL, 0},
	};
	struct dg_ep primary = {0}, alternate = {0};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "p:a:s:S:v", opts, NULL)) != -1) {
		if (c == 'p' && dg_ep_parse(optarg, SIM_STUN_PORT, &primary) == 0)
			continue;
		if (c == 'a' && dg_ep_parse(optarg, 0, &alternate) == 0)
			continue;
		if (c == 's' || c == 'S' || c == 'v')
			continue;
		snprintf(err, errlen,
			 "natbed-stund: a bad option or value (see natbed-stund --help)");
		return -1;
	}
	if (!primary.addr || optind != argc) {
		snprintf(err, errlen, "natbed-stund: --primary IP[:PORT] is required");
		return -1;
	}
	if (h->hs->restoring)
		return 0;
	/* RFC 5780 §4.1: the alternate address on the primary's port and the
	 * next, as natbed-stund --alternate IP */
	h->stund = dgstund_new(h->d, primary.addr, alternate.addr, primary.port);
	if (!h->stund) {
		snprintf(err, errlen, "natbed-stund: cannot open its sockets");
		return -1;
	}
	return 0;
}

/* --- natbed-rendezvous ----------------------------------------------------- */

static int sim_rdv(struct sim_host *h, int argc, char **argv, char *err, size_t errlen)
{
	struct rdv_args a;
	char why[200];
	int r;

	if (rdv_args_parse(argc, argv, &a, why, sizeof(why)) < 0 || a.help) {
		snprintf(err, errlen, "natbed-rendezvous: %s",
			 a.help ? "--help in a run line" : why);
		return -1;
	}
	if (h->hs->restoring)
		return 0;
	r = rdv_new(h->d, &a.cfg, &h->rdv);
	if (r < 0) {
		snprintf(err, errlen, "natbed-rendezvous: its socket: %s", strerror(-r));
		return -1;
	}
	return 0;
}

/* --- coturn's turnserver --------------------------------------------------- */

/* The value of option w (short s or long l, "--l=V" too) at argv[*i], or
 * NULL when argv[*i] is not that option. */
static const char *sim_coturn_value(int argc, char **argv, int *i, const char *s, const char *l)
{
	size_t n = strlen(l);
	const char *w = argv[*i];

	if (strncmp(w, l, n) == 0 && w[n] == '=')
		return w + n + 1;
	if (strcmp(w, s) != 0 && strcmp(w, l) != 0)
		return NULL;
	return *i + 1 < argc ? argv[++*i] : "";
}

static int sim_turn(struct sim_host *h, int argc, char **argv, char *err, size_t errlen)
{
	struct turnd_cfg cfg = {.realm = h->turn_realm};
	const char *v, *colon;
	uint16_t port = SIM_TURN_PORT;
	int i;

	snprintf(h->turn_realm, sizeof(h->turn_realm), "natbed");
	for (i = 1; i < argc; i++) {
		if ((v = sim_coturn_value(argc, argv, &i, "-L", "--listening-ip"))) {
			if (dg_ep_parse(v, 0, &cfg.listen) < 0)
				goto bad;
		} else if ((v = sim_coturn_value(argc, argv, &i, "-p", "--listening-port"))) {
			int64_t p;

			if (units_parse_count(v, 65535, &p) < 0 || p == 0)
				goto bad;
			port = (uint16_t)p;
		} else if ((v = sim_coturn_value(argc, argv, &i, "-u", "--user"))) {
			colon = strchr(v, ':');
			if (!colon || colon == v || (size_t)(colon - v) >= sizeof(h->turn_user) ||
			    strlen(colon + 1) >= sizeof(h->turn_pass))
				goto bad;
			snprintf(h->turn_user, sizeof(h->turn_user), "%.*s", (int)(colon - v), v);
			str_copy(h->turn_pass, sizeof(h->turn_pass), colon + 1);
		} else if ((v = sim_coturn_value(argc, argv, &i, "-r", "--realm"))) {
			if (!*v || strlen(v) >= sizeof(h->turn_realm))
				goto bad;
			str_copy(h->turn_realm, sizeof(h->turn_realm), v);
		}
	}
	if (!cfg.listen.addr)
		cfg.listen.addr = h->hs->t->hosts[h->index].addrs[0].s_addr;
	cfg.listen.port = htons(port);
	if (!h->turn_user[0]) {
		snprintf(err, errlen, "turnserver: -u USER:PASS is required (one user)");
		return -1;
	}
	cfg.user = h->turn_user;
	cfg.pass = h->turn_pass;
	if (h->hs->restoring)
		return 0;
	h->turnd = turnd_new(h->d, &cfg);
	if (!h->turnd) {
		snprintf(err, errlen, "turnserver: cannot open its socket");
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "turnserver: a bad value for %s", argv[i]);
	return -1;
}

/* --- natbed-agent serve ---------------------------------------------------- */

static void sim_agent_start(struct sim_host *h);

static void sim_agent_fail(struct sim_host *h, const char *why)
{
	h->state = SIM_AGENT_FAILED;
	str_copy(h->why, sizeof(h->why), why);
}

static void sim_on_ready(void *arg, struct agent *a)
{
	((struct sim_host *)arg)->state = SIM_AGENT_READY;
}

static void sim_on_failed(void *arg, struct agent *a, const char *reason)
{
	char why[160];

	snprintf(why, sizeof(why), "cannot register: %s", reason);
	sim_agent_fail(arg, why);
}

/* The gate answered serve's request: on a grant the agent starts; a
 * denial is asked again, AGENT_GATE_SERVE_TRIES requests in all
 * (agent_gate.c), each with a nonce of its own. */
static void sim_gate_done(void *arg, const struct gatec_report *r)
{
	struct sim_host *h = arg;
	char why[160];

	if (r->result == GATEC_GRANTED) {
		gatec_free(h->gc); /* "the call may free c" */
		h->gc = NULL;
		h->state = SIM_AGENT_STARTING;
		sim_agent_start(h);
		return;
	}
	if (r->result == GATEC_DENIED && ++h->gate_tries < AGENT_GATE_SERVE_TRIES) {
		struct gatec *old = h->gc;
		struct gatec_ops ops = {.done = sim_gate_done};

		h->opts.gate_cfg.nonce = sim_hosts_next_nonce(h->hs, h->index);
		h->gc = gatec_new(h->d, &h->opts.gate_cfg, &ops, h);
		gatec_free(old); /* "the call may free c" */
		if (!h->gc)
			sim_agent_fail(h, "gate: cannot open a socket");
		return;
	}
	snprintf(why, sizeof(why), "gate: %s (%d %.60s)", gatec_result_name(r->result), r->code,
		 r->reason);
	gatec_free(h->gc);
	h->gc = NULL;
	sim_agent_fail(h, why);
}

static void sim_agent_start(struct sim_host *h)
{
	struct agent_ops ops = {.ready = sim_on_ready, .failed = sim_on_failed, .arg = h};
	int r = agent_new(h->d, &h->opts.cfg, &ops, &h->a);

	if (r < 0) {
		char why[160];

		snprintf(why, sizeof(why), "main socket: %s", strerror(-r));
		sim_agent_fail(h, why);
	}
}

/* The options natbed-agent serve reads (agent_cli.c), into h->opts. */
static int sim_agent_opts(struct sim_host *h, int argc, char **argv, char *err, size_t errlen)
{
	static const struct option opts[] = {AGENT_CLI_OPTIONS, {NULL, 0, NULL, 0}};
	static const struct agent_env env = {.find_method = method_find};
	const struct topo_host *th = &h->hs->t->hosts[h->index];
	struct agent_cli *c = calloc(1, sizeof(*c));
	int opt, rc = -1;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	agent_cli_init(c, &env);
	c->cfg.serve = true;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (opt == AGENT_OPT_HELP || agent_cli_option(c, opt, optarg) != 1) {
			snprintf(err, errlen, "natbed-agent serve: a bad option or value (above)");
			goto out;
		}
	if (optind != argc || !agent_cli_complete(c, "serve")) {
		snprintf(err, errlen, "natbed-agent serve: incomplete options (above)");
		goto out;
	}
	h->opts.cfg = c->cfg;
	/* RFC 6887 §8.1: the PCP server is the default route's gateway */
	h->opts.cfg.gateway.addr = th->gateway.s_addr;
	h->opts.cfg.gateway.port = htons(SIM_PCP_PORT);
	h->opts.gate = c->gate.on;
	h->opts.gate_cfg = c->gate.cfg;
	if (h->opts.gate && !c->gate.have_user) /* serve authenticates as its --name */
		snprintf(h->opts.gate_cfg.user, sizeof(h->opts.gate_cfg.user), "%.*s",
			 (int)sizeof(h->opts.gate_cfg.user) - 1, c->cfg.name);
	rc = 0;
out:
	free(c);
	return rc;
}

static int sim_agent(struct sim_host *h, int argc, char **argv, char *err, size_t errlen)
{
	struct gatec_ops ops = {.done = sim_gate_done};

	if (argc < 2 || strcmp(argv[1], "serve") != 0) {
		snprintf(err, errlen, "natbed-agent: only `natbed-agent serve ...` runs on a host");
		return -1;
	}
	if (sim_agent_opts(h, argc - 1, argv + 1, err, errlen) < 0)
		return -1;
	h->has_agent = true;
	if (h->hs->restoring)
		return 0;
	if (!h->opts.gate) {
		h->state = SIM_AGENT_STARTING;
		sim_agent_start(h);
		return 0;
	}
	h->state = SIM_AGENT_AUTH;
	h->opts.gate_cfg.nonce = sim_hosts_next_nonce(h->hs, h->index);
	h->gc = gatec_new(h->d, &h->opts.gate_cfg, &ops, h);
	if (!h->gc) {
		snprintf(err, errlen, "natbed-agent serve: --gate: cannot open a socket");
		return -1;
	}
	return 0;
}

/* --- the table and the hosts ----------------------------------------------- */

static const struct sim_prog sim_progs[] = {
    {"natbed-stund", sim_stund},
    {"natbed-rendezvous", sim_rdv},
    {"turnserver", sim_turn},
    {"natbed-agent", sim_agent},
};

static const struct sim_prog *sim_prog_find(const char *word)
{
	const char *slash = strrchr(word, '/'), *name = slash ? slash + 1 : word;
	size_t i;

	for (i = 0; i < sizeof(sim_progs) / sizeof(sim_progs[0]); i++)
		if (strcmp(name, sim_progs[i].name) == 0)
			return &sim_progs[i];
	return NULL;
}

/* Host h's run line as words, started by its program. */
static int sim_host_start(struct sim_host *h, char *err, size_t errlen)
{
	const struct topo_host *th = &h->hs->t->hosts[h->index];
	char line[TOPO_RUN_MAX], *argv[SIM_WORDS_MAX + 1], *save = NULL, *w, why[512];
	const struct sim_prog *p;
	int argc = 0;

	if (!th->run[0])
		return 0;
	if (strpbrk(th->run, "\"'`$;&|<>\\")) {
		snprintf(err, errlen,
			 "host %s (line %d): natbed sim reads the run line as plain words; drop "
			 "the quotes and shell syntax",
			 th->name, th->run_line);
		return -1;
	}
	str_copy(line, sizeof(line), th->run);
	for (w = strtok_r(line, " \t", &save); w && argc < SIM_WORDS_MAX;
	     w = strtok_r(NULL, " \t", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	p = argc ? sim_prog_find(argv[0]) : NULL;
	if (!p) {
		snprintf(err, errlen,
			 "host %s (line %d) runs `%s`: natbed sim runs natbed-stund, "
			 "natbed-rendezvous, turnserver and natbed-agent serve in virtual time, "
			 "nothing else",
			 th->name, th->run_line, argc ? argv[0] : "");
		return -1;
	}
	h->prog = p->name;
	if (p->start(h, argc, argv, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "host %s (line %d): %s", th->name, th->run_line, why);
		return -1;
	}
	return 0;
}

/* Every host's program started, or (restoring) only its options read. */
static int sim_hosts_make(struct vnet *v, const struct topo *t, bool restoring,
			  struct sim_hosts **out, char *err, size_t errlen)
{
	struct sim_hosts *hs = calloc(1, sizeof(*hs));
	size_t i;

	*out = NULL;
	if (!hs || !(hs->h = calloc(t->n_hosts ? t->n_hosts : 1, sizeof(*hs->h)))) {
		free(hs);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	hs->v = v;
	hs->t = t;
	hs->restoring = restoring;
	for (i = 0; i < t->n_hosts; i++) {
		hs->h[i].hs = hs;
		hs->h[i].index = (int)i;
		hs->h[i].d = vnet_dgram(v, (int)i);
		hs->h[i].nonce = 1;
	}
	for (i = 0; i < t->n_hosts; i++)
		if (sim_host_start(&hs->h[i], err, errlen) < 0) {
			sim_hosts_free(hs);
			return -1;
		}
	hs->restoring = false;
	*out = hs;
	return 0;
}

int sim_hosts_new(struct vnet *v, const struct topo *t, struct sim_hosts **out, char *err,
		  size_t errlen)
{
	return sim_hosts_make(v, t, false, out, err, errlen);
}

void sim_hosts_free(struct sim_hosts *hs)
{
	size_t i;

	if (!hs)
		return;
	for (i = hs->t->n_hosts; i-- > 0;) {
		struct sim_host *h = &hs->h[i];

		agent_free(h->a);
		gatec_free(h->gc);
		turnd_free(h->turnd);
		rdv_free(h->rdv);
		dgstund_free(h->stund);
	}
	free(hs->h);
	free(hs);
}

int sim_hosts_ready(const struct sim_hosts *hs, const char **who, const char **why)
{
	size_t i;

	for (i = 0; i < hs->t->n_hosts; i++) {
		const struct sim_host *h = &hs->h[i];

		if (!h->has_agent || h->state == SIM_AGENT_READY)
			continue;
		*who = hs->t->hosts[i].name;
		*why = h->why;
		return h->state == SIM_AGENT_FAILED ? -1 : 0;
	}
	return 1;
}

const struct sim_agent_opts *sim_hosts_agent(const struct sim_hosts *hs, int host)
{
	if (host < 0 || (size_t)host >= hs->t->n_hosts || !hs->h[host].has_agent)
		return NULL;
	return &hs->h[host].opts;
}

const struct sim_agent_opts *sim_hosts_agent_at(const struct sim_hosts *hs, int host, int at,
						struct sim_agent_opts *buf)
{
	const struct sim_agent_opts *o = sim_hosts_agent(hs, host);

	if (!o || at == host || at < 0 || (size_t)at >= hs->t->n_hosts)
		return o;
	*buf = *o;
	if (!strcmp(buf->gate_cfg.user, hs->t->hosts[host].name))
		snprintf(buf->gate_cfg.user, sizeof(buf->gate_cfg.user), "%s",
			 hs->t->hosts[at].name);
	return buf;
}

uint64_t sim_hosts_next_nonce(struct sim_hosts *hs, int host)
{
	uint64_t n = hs->h[host].nonce;

	/* gatec asks again with the next nonces, GATEC_RESTARTS at most */
	hs->h[host].nonce += GATEC_RESTARTS + 1;
	return n;
}

/* --- checkpoints ------------------------------------------------------------ */

static const struct ckfn sim_hosts_fns[] = {CKFN(sim_on_ready), CKFN(sim_on_failed),
					    CKFN(sim_gate_done)};
const struct ckfns sim_hosts_ckfns = CKFNS(sim_hosts, sim_hosts_fns);

/* A program's object, or null. */
#define SIM_SAVE(obj, fn, w) ((obj) ? fn((obj), (w)) : json_null())

static json_t *sim_host_save(const struct sim_host *h, struct ckw *w)
{
	return json_pack(
	    "{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:i,s:s,s:o,s:o}", "id", ckw_obj(w, h),
	    "turn_user", ckw_obj(w, h->turn_user), "turn_pass", ckw_obj(w, h->turn_pass),
	    "turn_realm", ckw_obj(w, h->turn_realm), "stund",
	    SIM_SAVE(h->stund, dgstund_ckpt_save, w), "rdv", SIM_SAVE(h->rdv, rdv_ckpt_save, w),
	    "turnd", SIM_SAVE(h->turnd, turnd_ckpt_save, w), "agent",
	    SIM_SAVE(h->a, agent_ckpt_save, w), "gatec", SIM_SAVE(h->gc, gatec_ckpt_save, w),
	    "gate_tries", h->gate_tries, "state", (int)h->state, "why", h->why, "nonce",
	    jsonck_u64(h->nonce, false), "gate_nonce", jsonck_u64(h->opts.gate_cfg.nonce, false));
}

json_t *sim_hosts_ckpt_save(const struct sim_hosts *hs, struct ckw *w)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < hs->t->n_hosts; i++)
		if (json_array_append_new(a, sim_host_save(&hs->h[i], w)) < 0) {
			json_decref(a);
			a = NULL;
		}
	if (!a)
		ckw_fail(w, "hosts: out of memory");
	return a;
}

/* Host h's programs and state as j has them. 0, or -1 (said in r). */
static int sim_host_fill(struct sim_host *h, const json_t *j, struct ckr *r)
{
	const char *name = h->hs->t->hosts[h->index].name;
	const json_t *o;
	json_int_t tries, state;

	if (jsonck_int(json_object_get(j, "gate_tries"), 0, INT32_MAX, &tries) < 0 ||
	    jsonck_int(json_object_get(j, "state"), SIM_AGENT_AUTH, SIM_AGENT_FAILED, &state) < 0 ||
	    !json_is_string(json_object_get(j, "why")) ||
	    jsonck_u64_read(json_object_get(j, "nonce"), false, &h->nonce) < 0 ||
	    jsonck_u64_read(json_object_get(j, "gate_nonce"), false, &h->opts.gate_cfg.nonce) < 0)
		return ckr_fail(r, "hosts.%s: gate_tries, state, why or a nonce", name);
	h->gate_tries = (int)tries;
	h->state = (enum sim_agent_state)state;
	str_copy(h->why, sizeof(h->why), json_string_value(json_object_get(j, "why")));
	if (ckr_obj(r, json_object_get(j, "id"), h) < 0 ||
	    ckr_obj(r, json_object_get(j, "turn_user"), h->turn_user) < 0 ||
	    ckr_obj(r, json_object_get(j, "turn_pass"), h->turn_pass) < 0 ||
	    ckr_obj(r, json_object_get(j, "turn_realm"), h->turn_realm) < 0)
		return -1;
	/* each program the host runs, and only those */
	if (!json_is_null(o = json_object_get(j, "stund")) && !(h->stund = dgstund_ckpt_load(o, r)))
		return -1;
	if (!json_is_null(o = json_object_get(j, "rdv")) && !(h->rdv = rdv_ckpt_load(o, r)))
		return -1;
	if (!json_is_null(o = json_object_get(j, "turnd")) && !(h->turnd = turnd_ckpt_load(o, r)))
		return -1;
	if (!json_is_null(o = json_object_get(j, "agent")) && !(h->a = agent_ckpt_load(o, r)))
		return -1;
	if (!json_is_null(o = json_object_get(j, "gatec")) && !(h->gc = gatec_ckpt_load(o, r)))
		return -1;
	if ((h->stund != NULL) != (h->prog && !strcmp(h->prog, "natbed-stund")) ||
	    (h->rdv != NULL) != (h->prog && !strcmp(h->prog, "natbed-rendezvous")) ||
	    (h->turnd != NULL) != (h->prog && !strcmp(h->prog, "turnserver")) ||
	    ((h->a || h->gc) && !h->has_agent))
		return ckr_fail(r, "hosts.%s: not the programs its run line starts", name);
	return 0;
}

int sim_hosts_ckpt_new(struct vnet *v, const struct topo *t, const json_t *j, struct ckr *r,
		       struct sim_hosts **out, char *err, size_t errlen)
{
	struct sim_hosts *hs;

	if (json_array_size(j) != t->n_hosts) {
		snprintf(err, errlen, "state.hosts: not %zu hosts", t->n_hosts);
		return -1;
	}
	if (sim_hosts_make(v, t, true, &hs, err, errlen) < 0)
		return -1;
	*out = hs;
	for (size_t i = 0; i < t->n_hosts; i++)
		if (sim_host_fill(&hs->h[i], json_array_get(j, i), r) < 0)
			return -1;
	return 0;
}
