/* natbed matrix's generated topology and its pairs (matrix_plan.h). */
#include "matrix_plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "natbed/strcopy.h"

/* Short host names for the presets natbed knows; a preset added later
 * without a line here gets "natN". */
static const struct {
	const char *preset, *host;
} mx_short[] = {
    {"full-cone", "fc"},	{"restricted-cone", "rc"},	 {"port-restricted", "pr"},
    {"symmetric", "sym"},	{"symmetric-sequential", "seq"}, {"cgnat", "cg"},
    {"linux-masquerade", "lm"},
};

#define MX_N(a) (sizeof(a) / sizeof((a)[0]))

static void mx_host_name(size_t preset, char *buf, size_t len)
{
	const char *name = topo_nat_preset_name(preset);

	for (size_t i = 0; i < MX_N(mx_short); i++)
		if (strcmp(mx_short[i].preset, name) == 0) {
			str_copy(buf, len, mx_short[i].host);
			return;
		}
	snprintf(buf, len, "nat%zu", preset);
}

static size_t mx_n_presets(void)
{
	size_t n = 0;

	while (topo_nat_preset_name(n))
		n++;
	return n;
}

/* Which presets nats names, into want[] (by preset index). */
static int mx_pick(const char *nats, bool *want, size_t n, char *err, size_t errlen)
{
	char buf[1024], *save = NULL, *w;
	size_t i, picked = 0;

	if (!nats) {
		for (i = 0; i < n; i++)
			want[i] = true;
		return 0;
	}
	str_copy(buf, sizeof(buf), nats);
	for (w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < n && strcmp(topo_nat_preset_name(i), w) != 0; i++)
			;
		if (i == n) {
			int off =
			    snprintf(err, errlen, "--nats: '%s' is no NAT preset (presets:", w);

			for (i = 0; i < n && off > 0 && (size_t)off < errlen; i++)
				off += snprintf(err + off, errlen - (size_t)off, "%s %s",
						i ? "," : "", topo_nat_preset_name(i));
			if (off > 0 && (size_t)off < errlen)
				snprintf(err + off, errlen - (size_t)off, ")");
			return -1;
		}
		if (want[i]) {
			snprintf(err, errlen, "--nats: '%s' named twice", w);
			return -1;
		}
		want[i] = true;
		picked++;
	}
	if (!picked) {
		snprintf(err, errlen, "--nats: no preset named");
		return -1;
	}
	return 0;
}

static void mx_add_host(struct mx_plan *p, const char *name, const char *label, const char *nat)
{
	struct mx_host *h = &p->hosts[p->n_hosts++];

	str_copy(h->name, sizeof(h->name), name);
	str_copy(h->label, sizeof(h->label), label);
	str_copy(h->nat, sizeof(h->nat), nat);
}

static void mx_add_pair(struct mx_plan *p, int a, int b)
{
	struct mx_pair *q = &p->pairs[p->n_pairs++];

	q->a = a;
	q->b = b;
	snprintf(q->name, sizeof(q->name), "%s-%s", p->hosts[a].name, p->hosts[b].name);
}

int mx_plan_build(const char *nats, bool turn, struct mx_plan *p, char *err, size_t errlen)
{
	size_t n = mx_n_presets(), i, j, n_side;
	bool want[MX_HOSTS_MAX] = {false};
	char name[16], nat[24];

	memset(p, 0, sizeof(*p));
	p->turn = turn;
	if (n + 3 > MX_HOSTS_MAX) {
		snprintf(err, errlen, "too many NAT presets (%zu)", n);
		return -1;
	}
	if (mx_pick(nats, want, n, err, errlen) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (!want[i])
			continue;
		mx_host_name(i, name, sizeof(name));
		snprintf(nat, sizeof(nat), "n-%s", name);
		mx_add_host(p, name, topo_nat_preset_name(i), nat);
		p->labels[p->n_labels++] = topo_nat_preset_name(i);
	}
	mx_add_host(p, "pub", MX_LABEL_PUB, "");
	p->labels[p->n_labels++] = MX_LABEL_PUB;
	n_side = p->n_hosts;
	mx_add_host(p, "lan1", MX_LABEL_LAN, "n-lan");
	mx_add_host(p, "lan2", MX_LABEL_LAN, "n-lan");
	p->labels[p->n_labels++] = MX_LABEL_LAN;
	p->pairs = calloc(n_side * (n_side - 1) / 2 + 1, sizeof(*p->pairs));
	if (!p->pairs) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n_side; i++)
		for (j = i + 1; j < n_side; j++)
			mx_add_pair(p, (int)i, (int)j);
	mx_add_pair(p, (int)n_side, (int)n_side + 1);
	return 0;
}

void mx_plan_free(struct mx_plan *p)
{
	if (!p)
		return;
	free(p->pairs);
	p->pairs = NULL;
	p->n_pairs = 0;
}

/* NAT k of the presets (by position among the hosts) gets 203.0.113.(101+k)
 * and 192.168.(101+k).0/24; the LAN's NAT .200; hosts are .10 (.11). */
#define MX_NAT_BASE 101
#define MX_LAN_NET  200

int mx_plan_yaml(const struct mx_plan *p, FILE *f)
{
	size_t i, k = 0, lan = 0;

	fprintf(f,
		"# natbed matrix: the topology it generated (docs/byo.md). One host behind a\n"
		"# NAT of each preset, a public host, two hosts on one LAN, natbed-stund%s.\n"
		"name: %s\nseed: %d\ndefaults:\n  link: { delay: 2ms }\ninternet:\n"
		"  link: { delay: 5ms }\nnats:\n",
		p->turn ? " and coturn" : "", MX_TOPOLOGY, MX_SEED);
	for (i = 0; i < p->n_hosts; i++) {
		const struct mx_host *h = &p->hosts[i];

		if (!h->nat[0] || strcmp(h->label, MX_LABEL_LAN) == 0)
			continue;
		fprintf(f,
			"  %s: { preset: %s, public: 203.0.113.%zu, inside: 192.168.%zu.0/24 }\n",
			h->nat, h->label, MX_NAT_BASE + k, MX_NAT_BASE + k);
		k++;
	}
	fprintf(f,
		"  n-lan: { preset: port-restricted, public: 203.0.113.%d, inside: "
		"192.168.%d.0/24 }\n",
		MX_LAN_NET, MX_LAN_NET);
	fprintf(f,
		"hosts:\n  stun:\n    addresses: [%s, %s]\n"
		"    run: natbed-stund --primary %s --alternate %s\n",
		MX_STUN_ADDR, MX_STUN_ALT, MX_STUN_ADDR, MX_STUN_ALT);
	if (p->turn)
		fprintf(
		    f,
		    "  turn:\n    address: %s\n"
		    "    run: turnserver -n -a -u %s:%s -r %s -L %s -E %s --listening-port %d "
		    "--no-tls --no-dtls --no-cli --min-port 49152 --max-port 65535 --simple-log "
		    "--log-file stdout --pidfile /dev/null\n",
		    MX_TURN_ADDR, MX_TURN_USER, MX_TURN_PASS, MX_TURN_REALM, MX_TURN_ADDR,
		    MX_TURN_ADDR, MX_TURN_PORT);
	for (i = 0, k = 0; i < p->n_hosts; i++) {
		const struct mx_host *h = &p->hosts[i];

		if (!h->nat[0])
			fprintf(f, "  %s: { address: 198.51.100.31 }\n", h->name);
		else if (strcmp(h->label, MX_LABEL_LAN) == 0)
			fprintf(f, "  %s: { nat: %s, address: 192.168.%d.%zu }\n", h->name, h->nat,
				MX_LAN_NET, 10 + lan++);
		else
			fprintf(f, "  %s: { nat: %s, address: 192.168.%zu.10 }\n", h->name, h->nat,
				MX_NAT_BASE + k++);
	}
	return ferror(f) ? -EIO : 0;
}

const char *mx_plan_stun(void)
{
	static char buf[32];

	snprintf(buf, sizeof(buf), "%s:%d", MX_STUN_ADDR, MX_STUN_PORT);
	return buf;
}

const char *mx_plan_turn(const struct mx_plan *p)
{
	static char buf[32];

	snprintf(buf, sizeof(buf), "%s:%d", MX_TURN_ADDR, MX_TURN_PORT);
	return p->turn ? buf : "";
}
