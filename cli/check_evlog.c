/* natbed check: what the emulator's event log (events.jsonl,
 * docs/captures.md) tells the checks: which packets were dropped on the
 * way (a hairpin that never arrived may have been), whether a NAT was
 * changed at run time, and when: a flush or a setting logged with its
 * capture time is followed by the model; anything else leaves the NAT's
 * captures showing more than one behaviour. */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "natbed/strcopy.h"

#define CK_LINE_MAX 4096

struct ck_drop {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t proto;
};

struct ck_change {
	char nat[TOPO_NAME_MAX]; /* "": every NAT (a checkpoint restored) */
	char event[24];
	int line;
	struct ck_natchange follow; /* one the model follows: line > 0 */
};

struct ck_evlog {
	struct ck_drop *drops;
	size_t n_drops, cap_drops;
	bool suppressed; /* the log left drops out: any packet may have been one */
	struct ck_change *changes;
	size_t n_changes;
};

static int evlog_add_drop(struct ck_evlog *e, const json_t *j)
{
	struct ck_drop d = {0}, *n;
	struct in_addr a;
	const char *s;

	if (!(s = json_string_value(json_object_get(j, "src"))) || inet_pton(AF_INET, s, &a) != 1)
		return 0; /* not about one packet (ARP, a malformed frame) */
	d.src = a.s_addr;
	if (!(s = json_string_value(json_object_get(j, "dst"))) || inet_pton(AF_INET, s, &a) != 1)
		return 0;
	d.dst = a.s_addr;
	d.proto = (uint8_t)json_integer_value(json_object_get(j, "proto"));
	d.sport = (uint16_t)json_integer_value(json_object_get(j, "sport"));
	d.dport = (uint16_t)json_integer_value(json_object_get(j, "dport"));
	if (e->n_drops == e->cap_drops) {
		e->cap_drops = e->cap_drops ? e->cap_drops * 2 : 64;
		if (!(n = realloc(e->drops, e->cap_drops * sizeof(*n))))
			return -1;
		e->drops = n;
	}
	e->drops[e->n_drops++] = d;
	return 0;
}

static int evlog_add_change(struct ck_evlog *e, const char *event, const json_t *j, int line)
{
	const char *nat = json_string_value(json_object_get(j, "nat"));
	const json_t *at = json_object_get(j, "capture_ns");
	struct ck_change *n = realloc(e->changes, (e->n_changes + 1) * sizeof(*n));

	if (!n)
		return -1;
	e->changes = n;
	n = &e->changes[e->n_changes++];
	str_copy(n->nat, sizeof(n->nat), nat ? nat : "");
	str_copy(n->event, sizeof(n->event), event);
	n->line = line;
	n->follow = (struct ck_natchange){0};
	if (!nat || !json_is_integer(at))
		return 0; /* every NAT's, or no time to place it by */
	if (strcmp(event, "nat_set") == 0) {
		const char *key = json_string_value(json_object_get(j, "key"));
		const char *value = json_string_value(json_object_get(j, "value"));

		if (!key || !value || strlen(key) >= sizeof(n->follow.key) ||
		    strlen(value) >= sizeof(n->follow.value))
			return 0;
		str_copy(n->follow.key, sizeof(n->follow.key), key);
		str_copy(n->follow.value, sizeof(n->follow.value), value);
		n->follow.set = true;
	}
	n->follow.t_ns = json_integer_value(at);
	n->follow.line = line;
	return 0;
}

static int evlog_line(struct ck_evlog *e, const char *text, int line)
{
	json_t *j = json_loads(text, 0, NULL);
	const char *ev = j ? json_string_value(json_object_get(j, "event")) : NULL;
	int rc = 0;

	if (!ev) {
		json_decref(j);
		return 0; /* a line cut by a kill: nothing to learn */
	}
	if (strcmp(ev, "drop") == 0)
		rc = evlog_add_drop(e, j);
	else if (strcmp(ev, "drops_suppressed") == 0)
		e->suppressed = true;
	else if (strcmp(ev, "restore") == 0 || strcmp(ev, "nat_set") == 0 ||
		 strcmp(ev, "nat_flush") == 0)
		rc = evlog_add_change(e, ev, j, line);
	json_decref(j);
	return rc;
}

struct ck_evlog *ck_evlog_load(const char *path)
{
	struct ck_evlog *e = calloc(1, sizeof(*e));
	char buf[CK_LINE_MAX];
	FILE *f;
	int line = 0;

	if (!e || !(f = fopen(path, "r")))
		return e;
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		if (evlog_line(e, buf, line) < 0) {
			ck_evlog_free(e);
			e = NULL;
			break;
		}
	}
	fclose(f);
	return e;
}

void ck_evlog_free(struct ck_evlog *e)
{
	if (!e)
		return;
	free(e->drops);
	free(e->changes);
	free(e);
}

bool ck_evlog_dropped(const struct ck_evlog *e, uint8_t proto, uint32_t src, uint16_t sport,
		      uint32_t dst, uint16_t dport)
{
	size_t i;

	if (!e || e->suppressed)
		return true;
	for (i = 0; i < e->n_drops; i++) {
		const struct ck_drop *d = &e->drops[i];

		if (d->proto == proto && d->src == src && d->dst == dst && d->sport == sport &&
		    d->dport == dport)
			return true;
	}
	return false;
}

const char *ck_evlog_nat_change(const struct ck_evlog *e, const char *nat, int *line)
{
	size_t i;

	for (i = 0; e && i < e->n_changes; i++) {
		if ((e->changes[i].nat[0] && strcmp(e->changes[i].nat, nat) != 0) ||
		    e->changes[i].follow.line)
			continue;
		*line = e->changes[i].line;
		return e->changes[i].event;
	}
	return NULL;
}

size_t ck_evlog_nat_changes(const struct ck_evlog *e, const char *nat, struct ck_natchange *out,
			    size_t max)
{
	size_t i, n = 0;

	for (i = 0; e && i < e->n_changes; i++)
		if (e->changes[i].follow.line && strcmp(e->changes[i].nat, nat) == 0) {
			if (n < max)
				out[n] = e->changes[i].follow;
			n++;
		}
	return n;
}
