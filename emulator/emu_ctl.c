#include "emu_ctl.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_capture.h"
#include "emu_ckpt.h"
#include "firewall.h"
#include "flowtab.h"
#include "gate.h"
#include "nat.h"
#include "pcp.h"
#include "natbed/link.h"

/* {"name":..., "rx_pkts":..., ..., "drops":{"reason":n,...}} for one port */
static json_t *emu_port_json(const struct port *p)
{
	json_t *drops = json_object();
	int r;

	for (r = 0; r < DROP_REASON_COUNT; r++)
		if (p->c.drops[r])
			json_object_set_new(drops, drop_reason_name(r),
					    json_integer((json_int_t)p->c.drops[r]));
	return json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:o}", "name", p->ifname, "ifindex", p->ifindex,
			 "rx_pkts", (json_int_t)p->c.rx_pkts, "rx_bytes", (json_int_t)p->c.rx_bytes,
			 "tx_pkts", (json_int_t)p->c.tx_pkts, "tx_bytes", (json_int_t)p->c.tx_bytes,
			 "drops", drops);
}

static json_t *emu_show_ports(void *ctx, int argc, const char **argv, char *err, size_t errlen)
{
	struct emu_ctl_ctx *c = ctx;
	json_t *arr = json_array();
	struct port *ports;
	size_t n, i;

	fabric_sync(c->fabric);
	ports = fabric_ports(c->fabric, &n);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, emu_port_json(&ports[i]));
	return arr;
}

static json_t *emu_route_json(const char *dest, const char *via, const char *port)
{
	return json_pack("{s:s,s:s,s:s}", "destination", dest, "via", via, "port", port);
}

static json_t *emu_show_routes(void *ctx, int argc, const char **argv, char *err, size_t errlen)
{
	const struct topo *t = ((struct emu_ctl_ctx *)ctx)->topo;
	json_t *arr = json_array();
	char a[INET_ADDRSTRLEN], dest[INET_ADDRSTRLEN + 4];
	size_t h, k, n;

	for (h = 0; h < t->n_hosts; h++) {
		const struct topo_host *hs = &t->hosts[h];
		const char *seg = hs->nat < 0 ? "internet" : t->nats[hs->nat].name;

		for (k = 0; k < hs->n_addrs; k++) {
			inet_ntop(AF_INET, &hs->addrs[k], a, sizeof(a));
			snprintf(dest, sizeof(dest), "%s/32", a);
			json_array_append_new(arr, emu_route_json(dest, seg, hs->name));
		}
	}
	for (n = 0; n < t->n_nats; n++) {
		const struct topo_nat *nat = &t->nats[n];
		const char *up = nat->upstream < 0 ? "internet" : t->nats[nat->upstream].name;

		for (k = 0; k < nat->n_public; k++) {
			inet_ntop(AF_INET, &nat->publics[k], a, sizeof(a));
			snprintf(dest, sizeof(dest), "%s/32", a);
			json_array_append_new(arr, emu_route_json(dest, up, nat->name));
		}
	}
	return arr;
}

static json_t *emu_show_stats(void *ctx, int argc, const char **argv, char *err, size_t errlen)
{
	struct emu_ctl_ctx *c = ctx;
	json_t *ports = emu_show_ports(ctx, argc, argv, err, errlen);
	json_t *tot = json_object();
	uint64_t rx = 0, tx = 0, drops = 0;
	struct flowtab_stats fs;
	size_t i;

	for (i = 0; i < json_array_size(ports); i++) {
		json_t *p = json_array_get(ports, i), *d;
		const char *k;

		rx += (uint64_t)json_integer_value(json_object_get(p, "rx_pkts"));
		tx += (uint64_t)json_integer_value(json_object_get(p, "tx_pkts"));
		json_object_foreach(json_object_get(p, "drops"), k, d) drops +=
		    (uint64_t)json_integer_value(d);
	}
	json_object_set_new(tot, "rx_pkts", json_integer((json_int_t)rx));
	json_object_set_new(tot, "tx_pkts", json_integer((json_int_t)tx));
	json_object_set_new(tot, "drops", json_integer((json_int_t)drops));
	json_object_set_new(tot, "in_flight",
			    json_integer((json_int_t)fabric_in_flight(c->fabric)));
	json_object_set_new(tot, "pending_events",
			    json_integer((json_int_t)sched_pending(c->sched)));
	fabric_flow_stats(c->fabric, &fs);
	json_object_set_new(tot, "flows", json_integer((json_int_t)fs.flows));
	json_object_set_new(tot, "flows_recycled", json_integer((json_int_t)fs.recycled));
	return json_pack("{s:o,s:o}", "total", tot, "ports", ports);
}

/* A NAT's counters, with its PCP and NAT-PMP answers by result. */
static json_t *emu_nat_stats(struct emu_ctl_ctx *c, const char *name, struct nat *n)
{
	const struct pcp_counters *pc = fabric_pcp(c->fabric, name);
	json_t *j = nat_counters_json(n), *pcp = json_object(), *natpmp = json_object();
	int r;

	for (r = 0; pc && r < PCP_RESULT_COUNT; r++)
		if (pc->pcp[r])
			json_object_set_new(pcp, pcp_result_name((enum pcp_result)r),
					    json_integer((json_int_t)pc->pcp[r]));
	for (r = 0; pc && r < NATPMP_RESULT_COUNT; r++)
		if (pc->natpmp[r])
			json_object_set_new(natpmp, natpmp_result_name((enum natpmp_result)r),
					    json_integer((json_int_t)pc->natpmp[r]));
	json_object_set_new(j, "port_mapping",
			    json_pack("{s:I,s:I,s:o,s:o}", "requests",
				      (json_int_t)(pc ? pc->requests : 0), "ignored",
				      (json_int_t)(pc ? pc->ignored : 0), "pcp", pcp, "nat_pmp",
				      natpmp));
	return j;
}

#define EMU_NAT_USAGE "usage: nat NAME mappings [after CURSOR]|flush|stats|set KEY VALUE"

/* nat NAME mappings [after CURSOR] | flush | stats | set KEY VALUE */
static json_t *emu_nat(void *ctx, int argc, const char **argv, char *err, size_t errlen)
{
	struct emu_ctl_ctx *c = ctx;
	struct nat *n = argc >= 2 ? fabric_nat(c->fabric, argv[1]) : NULL;
	natbed_time_t now = sched_now(c->sched);
	char fields[384]; /* what the event log records of a change */

	if (argc < 3) {
		snprintf(err, errlen, EMU_NAT_USAGE);
		return NULL;
	}
	if (!n) {
		snprintf(err, errlen, "no NAT called '%s'", argv[1]);
		return NULL;
	}
	/* a page at a time: a big table never holds the loop (the CLI
	 * follows "next" and prints them all) */
	if (strcmp(argv[2], "mappings") == 0 && argc == 3)
		return nat_mappings_page(n, now, NULL, NAT_PAGE_MAX, err, errlen);
	if (strcmp(argv[2], "mappings") == 0 && argc == 5 && strcmp(argv[3], "after") == 0)
		return nat_mappings_page(n, now, argv[4], NAT_PAGE_MAX, err, errlen);
	if (strcmp(argv[2], "stats") == 0 && argc == 3)
		return emu_nat_stats(c, argv[1], n);
	if (strcmp(argv[2], "flush") == 0 && argc == 3) {
		size_t before = (size_t)nat_counters(n)->mappings_active;

		nat_flush(n);
		/* capture_ns: where natbed check places the change among the
		 * captured packets */
		snprintf(fields, sizeof(fields),
			 "\"nat\":\"%s\",\"flushed\":%zu,\"capture_ns\":%lld", argv[1], before,
			 (long long)fabric_capture_ns(c->fabric, now));
		fabric_log(c->fabric, "nat_flush", fields);
		fabric_nat_flushed(c->fabric, argv[1]);
		return json_pack("{s:I}", "flushed", (json_int_t)before);
	}
	if (strcmp(argv[2], "set") == 0 && argc == 5) {
		if (nat_set(n, argv[3], argv[4], err, errlen) < 0)
			return NULL;
		snprintf(fields, sizeof(fields),
			 "\"nat\":\"%s\",\"key\":\"%s\",\"value\":\"%s\",\"capture_ns\":%lld",
			 argv[1], argv[3], argv[4], (long long)fabric_capture_ns(c->fabric, now));
		fabric_log(c->fabric, "nat_set", fields);
		return json_pack("{s:s,s:s,s:s}", "nat", argv[1], "key", argv[3], "value", argv[4]);
	}
	snprintf(err, errlen, EMU_NAT_USAGE);
	return NULL;
}

/* natbed-emu runs elsewhere than its caller: a relative path would name
 * some other file (natbed ctl makes it absolute). */
static const char *emu_ckpt_path(int argc, const char **argv, char *err, size_t errlen)
{
	if (argc != 2 || argv[1][0] != '/') {
		snprintf(err, errlen,
			 "usage: %s /ABSOLUTE/FILE (natbed ctl resolves a relative one)", argv[0]);
		return NULL;
	}
	return argv[1];
}

/* checkpoint /FILE: every NAT, firewall, link and flow number */
static json_t *emu_checkpoint(void *ctx, int argc, const char **argv, char *err, size_t errlen)
{
	struct emu_ctl_ctx *c = ctx;
	const char *path = emu_ckpt_path(argc, argv, err, errlen);

	return path ? emu_ckpt_write(c->fabric, c->topo, sched_now(c->sched), path, err, errlen)
		    : NULL;
}

/* restore /FILE: all of it or, when any part does not fit, nothing */
static json_t *emu_restore(void *ctx, int argc, const char **argv, char *err, size_t errlen)
{
	struct emu_ctl_ctx *c = ctx;
	const char *path = emu_ckpt_path(argc, argv, err, errlen);

	return path ? emu_ckpt_restore(c->fabric, c->topo, sched_now(c->sched), path, err, errlen)
		    : NULL;
}

static json_t *emu_link_stats(struct link *l)
{
	struct link_stats st;
	json_t *drops = json_object();
	int d;

	link_get_stats(l, &st);
	for (d = 1; d < LINK_DROP_COUNT; d++)
		json_object_set_new(drops, link_drop_name(d),
				    json_integer((json_int_t)st.dropped[d]));
	return json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:i,s:o}", "up", !link_config(l)->down,
			 "delay_ns", (json_int_t)link_config(l)->delay_ns, "packets",
			 (json_int_t)st.packets, "delivered", (json_int_t)st.delivered,
			 "duplicated", (json_int_t)st.duplicated, "corrupted",
			 (json_int_t)st.corrupted, "queue", (int)st.queue_packets, "drops", drops);
}

/* link NAME show | down | up | set KEY VALUE [up|down] */
static json_t *emu_link(void *ctx, int argc, const char **argv, char *err, size_t errlen)
{
	struct emu_ctl_ctx *c = ctx;
	struct link *dirs[2];
	char fields[256];
	int d, only = -1;

	if (argc < 3) {
		snprintf(err, errlen, "usage: link NAME show|down|up|set KEY VALUE [up|down]");
		return NULL;
	}
	if (fabric_link(c->fabric, argv[1], &dirs[0], &dirs[1]) < 0) {
		snprintf(err, errlen, "no link called '%s' (a host, a NAT, or internet)", argv[1]);
		return NULL;
	}
	if (strcmp(argv[2], "show") == 0 && argc == 3)
		return json_pack("{s:o,s:o}", "up", emu_link_stats(dirs[0]), "down",
				 emu_link_stats(dirs[1]));
	if ((strcmp(argv[2], "down") == 0 || strcmp(argv[2], "up") == 0) && argc == 3) {
		bool up = strcmp(argv[2], "up") == 0;

		for (d = 0; d < 2; d++)
			link_set_up(dirs[d], up);
		snprintf(fields, sizeof(fields), "\"link\":\"%s\"", argv[1]);
		fabric_log(c->fabric, up ? "link_up" : "link_down", fields);
		return json_pack("{s:s,s:b}", "link", argv[1], "up", up);
	}
	if (strcmp(argv[2], "set") == 0 && (argc == 5 || argc == 6)) {
		if (argc == 6)
			only = strcmp(argv[5], "up") == 0     ? 0
			       : strcmp(argv[5], "down") == 0 ? 1
							      : 2;
		if (only == 2) {
			snprintf(err, errlen, "direction must be up or down, not '%s'", argv[5]);
			return NULL;
		}
		for (d = 0; d < 2; d++)
			if ((only < 0 || only == d) &&
			    link_set(dirs[d], argv[3], argv[4], err, errlen) < 0)
				return NULL;
		snprintf(fields, sizeof(fields), "\"link\":\"%s\",\"key\":\"%s\",\"value\":\"%s\"",
			 argv[1], argv[3], argv[4]);
		fabric_log(c->fabric, "link_set", fields);
		return json_pack("{s:s,s:s,s:s}", "link", argv[1], "key", argv[3], "value",
				 argv[4]);
	}
	snprintf(err, errlen, "usage: link NAME show|down|up|set KEY VALUE [up|down]");
	return NULL;
}

/* firewall NAME: its counters per rule */
static json_t *emu_firewall(void *ctx, int argc, const char **argv, char *err, size_t errlen)
{
	struct emu_ctl_ctx *c = ctx;
	struct fw *fw;

	if (argc != 2) {
		snprintf(err, errlen, "usage: firewall NAME");
		return NULL;
	}
	fw = fabric_firewall(c->fabric, argv[1]);
	if (!fw) {
		snprintf(err, errlen, "no firewall on '%s' (a host or NAT with a firewall block)",
			 argv[1]);
		return NULL;
	}
	return fw_stats_json(fw);
}

#define EMU_GATE_USAGE "usage: gate NAME hosts|stats|set KEY VALUE|trust HOST LEVEL"

/* gate NAME hosts | stats | set KEY VALUE | trust HOST LEVEL */
static json_t *emu_gate(void *ctx, int argc, const char **argv, char *err, size_t errlen)
{
	struct emu_ctl_ctx *c = ctx;
	struct gate *g = argc >= 2 ? fabric_gate(c->fabric, argv[1]) : NULL;
	natbed_time_t now = sched_now(c->sched);
	char fields[256];

	if (argc < 3) {
		snprintf(err, errlen, EMU_GATE_USAGE);
		return NULL;
	}
	if (!g) {
		snprintf(err, errlen, "no gate on '%s' (a host or NAT with a gate block)", argv[1]);
		return NULL;
	}
	if (strcmp(argv[2], "hosts") == 0 && argc == 3)
		return gate_hosts_json(g, now);
	if (strcmp(argv[2], "stats") == 0 && argc == 3)
		return gate_stats_json(g);
	if (strcmp(argv[2], "set") == 0 && argc == 5) {
		if (gate_set(g, argv[3], argv[4], err, errlen) < 0)
			return NULL;
		snprintf(fields, sizeof(fields), "\"gate\":\"%s\",\"key\":\"%s\",\"value\":\"%s\"",
			 argv[1], argv[3], argv[4]);
		fabric_log(c->fabric, "gate_set", fields);
		return json_pack("{s:s,s:s,s:s}", "gate", argv[1], "key", argv[3], "value",
				 argv[4]);
	}
	if (strcmp(argv[2], "trust") == 0 && argc == 5) {
		if (gate_set_trust(g, argv[3], argv[4], now, err, errlen) < 0)
			return NULL;
		return json_pack("{s:s,s:s,s:s}", "gate", argv[1], "host", argv[3], "trust",
				 argv[4]);
	}
	snprintf(err, errlen, EMU_GATE_USAGE);
	return NULL;
}

const struct ctl_cmd emu_ctl_cmds[] = {
    {"firewall", NULL, emu_firewall, NULL},
    {"gate", NULL, emu_gate, NULL},
    {"link", NULL, emu_link, NULL},
    {"nat", NULL, emu_nat, NULL},
    {"checkpoint", NULL, emu_checkpoint, NULL},
    {"restore", NULL, emu_restore, NULL},
    {"show", "ports", emu_show_ports, NULL},
    {"show", "routes", emu_show_routes, NULL},
    {"show", "stats", emu_show_stats, NULL},
    {"show", "captures", emu_show_captures, NULL},
    {"capture", NULL, NULL, emu_capture},
    {"capture-end", NULL, emu_capture_end, NULL},
};
const size_t emu_ctl_n_cmds = sizeof(emu_ctl_cmds) / sizeof(emu_ctl_cmds[0]);
