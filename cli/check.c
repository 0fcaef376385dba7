/* natbed check: the wiring. Loads a run's topology and captures, runs the
 * rules on each NAT, the attempts of results.json and the STUN messages,
 * and gives the table and the verdict. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_int.h"
#include "cli.h"
#include "results.h"
#include "natbed/strcopy.h"

/* Names topologies are loaded with: the shortest prefix accepts every
 * name a run can have had. */
#define CK_TOPO_PREFIX "x"

struct run {
	const char *dir;
	const struct check_opts *o;
	struct topo *t;
	struct ck_cap *hosts, *nats; /* by topology index */
	struct ck_report *rep;
	struct ck_evlog *evlog;
	natbed_time_t slack;
	struct ck_stun *stun;
	struct ck_pmaps pmaps; /* mappings granted by PCP or NAT-PMP */
};

/* A ck_udp_fn: every datagram to the STUN check and the mappings' reader. */
static void run_udp(void *ctx, const struct ck_cap *c, const struct ck_pkt *p,
		    const uint8_t *payload, size_t len)
{
	struct run *r = ctx;

	ck_stun_check(r->stun, c, p, payload, len);
	ck_pmap_udp(&r->pmaps, c, p, payload, len);
}

/* Whether dir holds natbed sim's output: a results.json whose mode is sim.
 * Read line by line, not loaded: a simulation's can hold a million
 * attempts (1.2 GB, several times that as a tree). results_write_json
 * writes the top-level keys at two spaces, "mode" before natbed_version;
 * deeper lines are indented more, and a string's quotes and newlines are
 * escaped, so only that key's own line reads so. */
static bool dir_is_sim(const char *dir)
{
	static const char mode_sim[] = "  \"mode\": \"sim\",\n";
	char path[CLI_PATH_MAX], line[sizeof(mode_sim) + 1];
	bool sim = false, at_start = true; /* line: the start of a line of the file */
	FILE *f;

	snprintf(path, sizeof(path), "%s/results.json", dir);
	if (!(f = fopen(path, "r")))
		return false;
	while (!sim && fgets(line, sizeof(line), f)) {
		sim = at_start && strcmp(line, mode_sim) == 0;
		at_start = strchr(line, '\n') != NULL;
	}
	fclose(f);
	return sim;
}

/* Why natbed sim's output cannot be checked, for the messages of a dir it
 * wrote. */
#define CK_SIM_SAYS                                                                                \
	"is natbed sim's output (results.json's mode): natbed sim writes no captures and no "      \
	"topology.yaml, and natbed check reads them: check what natbed run or natbed up "          \
	"--out wrote"

/* What DIR is, for the messages of a DIR that is not one. */
#define CK_DIR_IS "DIR is a run's output directory: natbed up --out DIR or natbed run --out DIR"

/* 0 when dir can be a run's output, else -1 with why in err: it is
 * missing or not a directory, or (topo false: no --topology) it has no
 * topology.yaml. */
static int check_dir(const char *dir, bool topo, char *err, size_t errlen)
{
	char path[CLI_PATH_MAX];
	struct stat st;

	if (stat(dir, &st) < 0) {
		snprintf(err, errlen, "%s: %s (" CK_DIR_IS ")", dir,
			 errno == ENOENT ? "no such directory" : strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory (" CK_DIR_IS ")", dir);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/topology.yaml", dir);
	if (topo || access(path, F_OK) == 0 || errno != ENOENT)
		return 0;
	if (dir_is_sim(dir))
		snprintf(err, errlen, "%s " CK_SIM_SAYS, dir);
	else
		snprintf(err, errlen,
			 "%s has no topology.yaml: not a run's output (natbed up --out and natbed "
			 "run copy the topology there, beside the captures); --topology FILE names "
			 "one kept elsewhere",
			 dir);
	return -1;
}

static int load_caps(struct run *r, struct ck_stun *stun, char *err, size_t errlen)
{
	r->stun = stun;
	char path[CLI_PATH_MAX];
	size_t i, present = 0;

	r->hosts = calloc(r->t->n_hosts + 1, sizeof(*r->hosts));
	r->nats = calloc(r->t->n_nats + 1, sizeof(*r->nats));
	if (!r->hosts || !r->nats) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < r->t->n_hosts + r->t->n_nats; i++) {
		bool host = i < r->t->n_hosts;
		struct ck_cap *c = host ? &r->hosts[i] : &r->nats[i - r->t->n_hosts];

		if (host)
			snprintf(c->file, sizeof(c->file), "%s.pcap", r->t->hosts[i].name);
		else
			snprintf(c->file, sizeof(c->file), "%s-wan.pcap",
				 r->t->nats[i - r->t->n_hosts].name);
		snprintf(path, sizeof(path), "%s/%s", r->dir, c->file);
		if (ck_cap_load(c, path, run_udp, r, err, errlen) < 0)
			return -1;
		if (c->present) {
			present++;
			stun->files++;
		}
	}
	if (!present && dir_is_sim(r->dir)) {
		snprintf(err, errlen, "%s " CK_SIM_SAYS, r->dir);
		return -1;
	}
	if (!present) {
		snprintf(err, errlen,
			 "%s: no capture of topology %s (HOST.pcap, NAT-wan.pcap): was it "
			 "brought up with --out %s?",
			 r->dir, r->t->name, r->dir);
		return -1;
	}
	return 0;
}

static void skip_rows(struct run *r, const int *row, int from, const char *why)
{
	int k;

	for (k = from; k < CK_R_COUNT; k++)
		ck_row_skip(r->rep, row[k], "%s", why);
}

/* The captures inside NAT n: its hosts' ports and the outside captures of
 * the NATs right behind it, with the addresses each one's owner sends
 * from. 0, or -1 naming a missing capture in why. */
static int inside_of(struct run *r, int n, struct ck_natview *v, char *why, size_t len)
{
	const struct topo *t = r->t;
	size_t i, k, n_own;

	for (i = 0; i < t->n_hosts + t->n_nats; i++) {
		bool host = i < t->n_hosts;
		const struct ck_cap *c = host ? &r->hosts[i] : &r->nats[i - t->n_hosts];
		uint32_t *own;

		if ((host && t->hosts[i].nat != n) ||
		    (!host && t->nats[i - t->n_hosts].upstream != n))
			continue;
		if (!c->present) {
			snprintf(why, len, "no %s, behind it (natbed up --capture)", c->file);
			return -1;
		}
		n_own = host ? t->hosts[i].n_addrs : t->nats[i - t->n_hosts].n_public;
		if (!(own = calloc(n_own + 1, sizeof(*own)))) {
			snprintf(why, len, "out of memory");
			return -1;
		}
		for (k = 0; k < n_own; k++)
			own[k] = host ? t->hosts[i].addrs[k].s_addr
				      : t->nats[i - t->n_hosts].publics[k].s_addr;
		v->inside[v->n_inside] = c;
		v->own[v->n_inside] = own;
		v->n_own[v->n_inside++] = n_own;
	}
	if (!v->n_inside) {
		snprintf(why, len, "nothing behind it");
		return -1;
	}
	return 0;
}

static void view_free(struct ck_natview *v)
{
	size_t i;

	for (i = 0; i < v->n_inside; i++)
		free((void *)v->own[i]);
	free(v->inside);
	free(v->own);
	free(v->n_own);
	ck_flows_clear(v);
}

/* The NAT's behaviour after each of its changes, in order, as natbed ctl
 * set it (a flush keeps it): NULL, or why the model cannot follow them in
 * why ("changed at run time (events.jsonl line N: ...)"), a setting that
 * does not apply. */
static const char *settings_follow(const struct topo_nat *nat, struct ck_natchange *ch, size_t n,
				   char *why, size_t whylen)
{
	struct topo_nat_behaviour b = nat->b;
	char err[128];
	size_t i;

	for (i = 0; i < n; i++) {
		if (ch[i].set &&
		    topo_nat_behaviour_set(&b, ch[i].key, ch[i].value, err, sizeof(err)) < 0) {
			snprintf(why, whylen,
				 "changed at run time (events.jsonl line %d: set %.24s %.24s: %.40s)",
				 ch[i].line, ch[i].key, ch[i].value, err);
			return why;
		}
		ch[i].b = b;
	}
	return NULL;
}

static int check_nat(struct run *r, int n)
{
	const struct topo_nat *nat = &r->t->nats[n];
	size_t slots = r->t->n_hosts + r->t->n_nats + 1;
	struct ck_natview v = {.t = r->t, .nat = n, .wan = &r->nats[n]};
	struct ck_natcheck c = {.rep = r->rep, .v = &v, .b = &nat->b, .slack_ns = r->slack};
	char why[CK_FILE_MAX + 96];
	const char *change;
	struct ck_natchange *changes = NULL;
	int k, line, rc = 0;

	c.evlog = r->evlog;
	for (k = 0; k < CK_R_COUNT; k++)
		c.row[k] = ck_row(r->rep, nat->name, ck_rule_names[k]);
	if (!v.wan->present) {
		snprintf(why, sizeof(why), "no %s (natbed up --capture)", v.wan->file);
		skip_rows(r, c.row, CK_R_LEAK, why);
		return 0;
	}
	ck_rule_leak(&c);
	v.inside = calloc(slots, sizeof(*v.inside));
	v.own = calloc(slots, sizeof(*v.own));
	v.n_own = calloc(slots, sizeof(*v.n_own));
	if (!v.inside || !v.own || !v.n_own) {
		rc = -ENOMEM;
		goto out;
	}
	if (inside_of(r, n, &v, why, sizeof(why)) < 0) {
		skip_rows(r, c.row, CK_R_MAPPING, why);
		goto out;
	}
	if ((change = ck_evlog_nat_change(r->evlog, nat->name, &line))) {
		snprintf(why, sizeof(why),
			 "changed at run time (events.jsonl line %d: %s%s)", line, change,
			 strcmp(change, "restore") ? ", logged without its time by an older natbed-emu"
						   : ", a checkpoint restored");
		skip_rows(r, c.row, CK_R_MAPPING, why);
		goto out;
	}
	c.n_changes = ck_evlog_nat_changes(r->evlog, nat->name, NULL, 0);
	if (c.n_changes && !(changes = calloc(c.n_changes, sizeof(*changes)))) {
		rc = -ENOMEM;
		goto out;
	}
	c.changes = changes;
	ck_evlog_nat_changes(r->evlog, nat->name, changes, c.n_changes);
	if ((change = settings_follow(nat, changes, c.n_changes, why, sizeof(why)))) {
		skip_rows(r, c.row, CK_R_MAPPING, change);
		goto out;
	}
	if ((rc = ck_flows_build(&v)) < 0)
		goto out;
	if (v.pcp_seen && nat->b.pcp) {
		/* the mappings it granted are left out; one it may have granted
		 * unseen leaves the NAT unjudged */
		if (!ck_pmap_answered(&r->pmaps, nat->gateway.s_addr)) {
			skip_rows(r, c.row, CK_R_MAPPING,
				  "a PCP or NAT-PMP request has no answer in the captures: the "
				  "mappings it may have made are not known");
			goto out;
		}
		ck_pmap_filter(&v, &r->pmaps, nat->gateway.s_addr);
	}
	rc = ck_rule_model(&c);
out:
	free(changes);
	view_free(&v);
	return rc;
}

static int check_attempts(struct run *r, char *err, size_t errlen)
{
	struct results *res = r->o->results;
	char path[CLI_PATH_MAX];
	struct stat st;
	int row;

	snprintf(path, sizeof(path), "%s/results.json", r->dir);
	if (!res && stat(path, &st) < 0) {
		row = ck_row(r->rep, "attempts", "backed");
		ck_row_skip(r->rep, row, "no results.json: no attempt to back");
		return 0;
	}
	if (!res && !(res = results_load(path, err, errlen)))
		return -1;
	ck_rule_attempts(r->rep, res, r->t, r->hosts);
	if (res != r->o->results)
		results_free(res);
	return 0;
}

static void run_free(struct run *r)
{
	size_t i;

	for (i = 0; r->t && r->hosts && i < r->t->n_hosts; i++)
		ck_cap_clear(&r->hosts[i]);
	for (i = 0; r->t && r->nats && i < r->t->n_nats; i++)
		ck_cap_clear(&r->nats[i]);
	free(r->hosts);
	free(r->nats);
	ck_evlog_free(r->evlog);
	ck_pmaps_free(&r->pmaps);
	ck_report_free(r->rep);
	topo_free(r->t);
}

int check_run(const char *dir, const struct check_opts *o, struct check_verdict *v, char *err,
	      size_t errlen)
{
	static const struct check_opts defaults = {0};
	struct run r = {.dir = dir, .o = o ? o : &defaults};
	char topo_path[CLI_PATH_MAX], terr[TOPO_ERR_MAX], title[CLI_PATH_MAX + 160];
	struct ck_stun stun = {0};
	size_t n;
	int rc = -1;

	memset(v, 0, sizeof(*v));
	r.slack = r.o->slack_ns ? r.o->slack_ns : CHECK_SLACK_DEFAULT_NS;
	if (check_dir(dir, r.o->topology != NULL, err, errlen) < 0)
		return -1;
	if (r.o->topology)
		str_copy(topo_path, sizeof(topo_path), r.o->topology);
	else
		snprintf(topo_path, sizeof(topo_path), "%s/topology.yaml", dir);
	if (topo_load(topo_path, CK_TOPO_PREFIX, &r.t, terr, sizeof(terr)) < 0) {
		str_copy(err, errlen, terr);
		return -1;
	}
	snprintf(title, sizeof(title), "%s/events.jsonl", dir);
	if (!(r.rep = ck_report_new()) || !(r.evlog = ck_evlog_load(title))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	stun.rep = r.rep;
	stun.row = ck_row(r.rep, "stun", "well-formed");
	if (load_caps(&r, &stun, err, errlen) < 0)
		goto out;
	ck_row_seen(r.rep, stun.row, "%lu STUN messages on %zu captures", stun.messages,
		    stun.files);
	for (n = 0; n < r.t->n_nats; n++)
		if (check_nat(&r, (int)n) < 0) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	if (check_attempts(&r, err, errlen) < 0)
		goto out;
	ck_report_verdict(r.rep, v);
	if (r.o->out) {
		snprintf(title, sizeof(title), "natbed check %s: topology %s (%s), %zu captures",
			 dir, r.t->name, topo_path, stun.files);
		ck_report_print(r.rep, r.o->out, title,
				r.o->listed ? r.o->listed : CHECK_LISTED_DEFAULT);
	}
	rc = 0;
out:
	run_free(&r);
	return rc;
}
