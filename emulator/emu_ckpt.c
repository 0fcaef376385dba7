/* natbed-emu checkpoints of a whole fabric (emu_ckpt.h): each part's own
 * serialiser (nat_ctl.c, fw_ctl.c, lib/link_ctl.c, flowtab_ctl.c) writes
 * and checks its part; this file puts them in one file and restores all
 * of them or none. The parts are reached through struct emu_parts, so
 * natbed sim writes the same state of its virtual network. */
#include "emu_ckpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engines.h"
#include "firewall.h"
#include "flowtab_ctl.h"
#include "gate.h"
#include "linkset.h"
#include "nat.h"
#include "natbed/link_ctl.h"

#define EMU_CKPT_WHY_MAX 512 /* a part's own reason, before the path is put in front */

static const char *const emu_ckpt_dir[2] = {"up", "down"};

/* Parts are named after hosts (0 .. n_hosts-1), then NATs; links also
 * have the internet core, last. */
static size_t emu_ckpt_n_parts(const struct topo *t)
{
	return t->n_hosts + t->n_nats;
}

static const char *emu_ckpt_part(const struct topo *t, size_t i)
{
	if (i < t->n_hosts)
		return t->hosts[i].name;
	if (i < emu_ckpt_n_parts(t))
		return t->nats[i - t->n_hosts].name;
	return "internet";
}

/* --- the kinds of parts: one table entry each ---------------------------- */

/* A kind of part a checkpoint holds by name, in a section of its own. A
 * part is named after a host, a NAT or the internet core (emu_ckpt_part());
 * has() says whether the fabric runs one of the kind by that name.
 * prepare() writes its reason into why with the rest of the path first:
 * ": problem", or ".up: problem" for a part of the part. */
struct emu_ckpt_kind {
	const char *section; /* "nats" */
	const char *what;    /* "NAT", for errors */
	bool (*has)(const struct emu_parts *f, const char *name);
	json_t *(*save)(const struct emu_parts *f, const char *name, natbed_time_t now);
	void *(*prepare)(const struct emu_parts *f, const char *name, const json_t *j,
			 natbed_time_t now, char *why, size_t whylen);
	void (*adopt)(const struct emu_parts *f, const char *name, void *fresh);
	void (*discard)(void *fresh);
};

static bool emu_nat_has(const struct emu_parts *f, const char *name)
{
	return engines_nat(f->eng, name) != NULL;
}

static json_t *emu_nat_save(const struct emu_parts *f, const char *name, natbed_time_t now)
{
	return nat_checkpoint(engines_nat(f->eng, name), now);
}

static void *emu_nat_prepare(const struct emu_parts *f, const char *name, const json_t *j,
			     natbed_time_t now, char *why, size_t whylen)
{
	char buf[EMU_CKPT_WHY_MAX] = "";
	struct nat *fresh =
	    nat_restore_prepare(engines_nat(f->eng, name), j, now, buf, sizeof(buf));
	size_t n = strlen(name);
	const char *r = buf;

	/* nat_restore_prepare() names its NAT ("nat NAME: "): the path does */
	if (strncmp(r, "nat ", 4) == 0 && strncmp(r + 4, name, n) == 0 &&
	    strncmp(r + 4 + n, ": ", 2) == 0)
		r += 4 + n + 2;
	snprintf(why, whylen, ": %s", r);
	return fresh;
}

static void emu_nat_adopt(const struct emu_parts *f, const char *name, void *fresh)
{
	nat_adopt(engines_nat(f->eng, name), fresh);
}

static void emu_nat_discard(void *fresh)
{
	nat_free(fresh);
}

static bool emu_fw_has(const struct emu_parts *f, const char *name)
{
	return engines_firewall(f->eng, name) != NULL;
}

static json_t *emu_fw_save(const struct emu_parts *f, const char *name, natbed_time_t now)
{
	return fw_checkpoint(engines_firewall(f->eng, name), now);
}

static void *emu_fw_prepare(const struct emu_parts *f, const char *name, const json_t *j,
			    natbed_time_t now, char *why, size_t whylen)
{
	char buf[EMU_CKPT_WHY_MAX] = "";
	struct fw *fresh =
	    fw_restore_prepare(engines_firewall(f->eng, name), j, now, buf, sizeof(buf));

	snprintf(why, whylen, ": %s", buf);
	return fresh;
}

static void emu_fw_adopt(const struct emu_parts *f, const char *name, void *fresh)
{
	fw_adopt(engines_firewall(f->eng, name), fresh);
}

static void emu_fw_discard(void *fresh)
{
	fw_free(fresh);
}

static bool emu_gate_has(const struct emu_parts *f, const char *name)
{
	return engines_gate(f->eng, name) != NULL;
}

static json_t *emu_gate_save(const struct emu_parts *f, const char *name, natbed_time_t now)
{
	return gate_checkpoint(engines_gate(f->eng, name), now);
}

static void *emu_gate_prepare(const struct emu_parts *f, const char *name, const json_t *j,
			      natbed_time_t now, char *why, size_t whylen)
{
	char buf[EMU_CKPT_WHY_MAX] = "";
	struct gate *fresh =
	    gate_restore_prepare(engines_gate(f->eng, name), j, now, buf, sizeof(buf));

	snprintf(why, whylen, ": %s", buf);
	return fresh;
}

static void emu_gate_adopt(const struct emu_parts *f, const char *name, void *fresh)
{
	gate_adopt(engines_gate(f->eng, name), fresh);
}

static void emu_gate_discard(void *fresh)
{
	gate_free(fresh);
}

/* A link is its two directions. */
struct emu_link_pair {
	struct link *dir[2];
};

static bool emu_link_has(const struct emu_parts *f, const char *name)
{
	struct emu_link_pair p;

	return linkset_find(f->links, name, &p.dir[0], &p.dir[1]) == 0;
}

static json_t *emu_link_save(const struct emu_parts *f, const char *name, natbed_time_t now)
{
	struct emu_link_pair p;

	linkset_find(f->links, name, &p.dir[0], &p.dir[1]);
	return json_pack("{s:o,s:o}", emu_ckpt_dir[0], link_checkpoint(p.dir[0], now),
			 emu_ckpt_dir[1], link_checkpoint(p.dir[1], now));
}

static void emu_link_discard(void *fresh)
{
	struct emu_link_pair *x = fresh;

	if (!x)
		return;
	link_free(x->dir[0]);
	link_free(x->dir[1]);
	free(x);
}

static void *emu_link_prepare(const struct emu_parts *f, const char *name, const json_t *j,
			      natbed_time_t now, char *why, size_t whylen)
{
	struct emu_link_pair p, *x = calloc(1, sizeof(*x));
	char buf[EMU_CKPT_WHY_MAX] = "";
	size_t d;

	if (!x) {
		snprintf(why, whylen, ": out of memory");
		return NULL;
	}
	linkset_find(f->links, name, &p.dir[0], &p.dir[1]);
	for (d = 0; d < 2; d++) {
		x->dir[d] = link_restore_prepare(p.dir[d], json_object_get(j, emu_ckpt_dir[d]), now,
						 buf, sizeof(buf));
		if (!x->dir[d]) {
			snprintf(why, whylen, ".%s: %s", emu_ckpt_dir[d], buf);
			emu_link_discard(x);
			return NULL;
		}
	}
	return x;
}

static void emu_link_adopt(const struct emu_parts *f, const char *name, void *fresh)
{
	struct emu_link_pair p, *x = fresh;

	linkset_find(f->links, name, &p.dir[0], &p.dir[1]);
	link_adopt(p.dir[0], x->dir[0]);
	link_adopt(p.dir[1], x->dir[1]);
	free(x);
}

static const struct emu_ckpt_kind emu_ckpt_kinds[] = {
    {"nats", "NAT", emu_nat_has, emu_nat_save, emu_nat_prepare, emu_nat_adopt, emu_nat_discard},
    {"firewalls", "firewall", emu_fw_has, emu_fw_save, emu_fw_prepare, emu_fw_adopt,
     emu_fw_discard},
    {"links", "link", emu_link_has, emu_link_save, emu_link_prepare, emu_link_adopt,
     emu_link_discard},
    {"gates", "gate", emu_gate_has, emu_gate_save, emu_gate_prepare, emu_gate_adopt,
     emu_gate_discard},
};

#define EMU_CKPT_KINDS (sizeof(emu_ckpt_kinds) / sizeof(emu_ckpt_kinds[0]))

/* --- writing ------------------------------------------------------------- */

json_t *emu_ckpt_state(const struct emu_parts *f, const struct topo *t, natbed_time_t now)
{
	json_t *all =
	    json_pack("{s:i,s:s,s:I,s:o,s:I}", "natbed_checkpoint", EMU_CKPT_FORMAT, "topology",
		      t->name, "seed", (json_int_t)t->seed, "flows", flowtab_checkpoint(f->flows),
		      "in_flight", (json_int_t)f->in_flight);
	size_t k, i;

	for (k = 0; all && k < EMU_CKPT_KINDS; k++) {
		const struct emu_ckpt_kind *kind = &emu_ckpt_kinds[k];
		json_t *sec = json_object();

		for (i = 0; i <= emu_ckpt_n_parts(t); i++)
			if (kind->has(f, emu_ckpt_part(t, i)))
				json_object_set_new(sec, emu_ckpt_part(t, i),
						    kind->save(f, emu_ckpt_part(t, i), now));
		if (json_object_set_new(all, kind->section, sec) < 0) {
			json_decref(all);
			all = NULL;
		}
	}
	return all;
}

/* What a checkpoint holds, in numbers: the answer to the CLI. */
static json_t *emu_ckpt_summary(const char *key, const char *path, const json_t *all)
{
	return json_pack(
	    "{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", key, path, "nats",
	    (json_int_t)json_object_size(json_object_get(all, "nats")), "firewalls",
	    (json_int_t)json_object_size(json_object_get(all, "firewalls")), "links",
	    (json_int_t)json_object_size(json_object_get(all, "links")), "gates",
	    (json_int_t)json_object_size(json_object_get(all, "gates")), "flows",
	    (json_int_t)json_array_size(json_object_get(json_object_get(all, "flows"), "flows")),
	    "in_flight", json_integer_value(json_object_get(all, "in_flight")));
}

/* Writes event (e.g. "checkpoint") with the file's name to the event log. */
static void emu_ckpt_log(struct fabric *f, const char *event, const char *path)
{
	json_t *j = json_pack("{s:s}", "file", path);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t len = text ? strlen(text) : 0;

	if (len >= 2) {
		text[len - 1] = '\0'; /* the members without their braces */
		fabric_log(f, event, text + 1);
	}
	free(text);
	json_decref(j);
}

json_t *emu_ckpt_write(struct fabric *f, const struct topo *t, natbed_time_t now, const char *path,
		       char *err, size_t errlen)
{
	struct emu_parts parts;
	json_t *all, *res;
	char tmp[4096];
	FILE *fp = NULL;
	int e = 0;

	fabric_parts(f, &parts);
	all = emu_ckpt_state(&parts, t, now);
	if (!all) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		e = ENAMETOOLONG;
	else if (!(fp = fopen(tmp, "w")))
		e = errno;
	else if (json_dumpf(all, fp, JSON_INDENT(1)) < 0 || fflush(fp) != 0 || fsync(fileno(fp)))
		e = errno ? errno : EIO;
	if (fp && fclose(fp) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		if (fp)
			unlink(tmp);
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(e));
		json_decref(all);
		return NULL;
	}
	res = emu_ckpt_summary("file", path, all);
	emu_ckpt_log(f, "checkpoint", path);
	json_decref(all);
	return res;
}

/* --- restore: every part built aside, then all adopted ------------------- */

/* The state of every part, built aside: fresh[k][i] for kind k, part i
 * (NULL where the fabric has none). */
struct emu_ckpt_fresh {
	void **fresh[EMU_CKPT_KINDS];
	struct flowtab *flows;
};

static void emu_ckpt_fresh_free(struct emu_ckpt_fresh *x, const struct topo *t)
{
	size_t k, i;

	for (k = 0; k < EMU_CKPT_KINDS; k++) {
		for (i = 0; x->fresh[k] && i <= emu_ckpt_n_parts(t); i++)
			if (x->fresh[k][i])
				emu_ckpt_kinds[k].discard(x->fresh[k][i]);
		free(x->fresh[k]);
	}
	flowtab_free(x->flows);
}

/* Whether f runs any part of kind. */
static bool emu_ckpt_runs_any(const struct emu_parts *f, const struct topo *t,
			      const struct emu_ckpt_kind *kind)
{
	size_t i;

	for (i = 0; i <= emu_ckpt_n_parts(t); i++)
		if (kind->has(f, emu_ckpt_part(t, i)))
			return true;
	return false;
}

/* The section of kind in all must be an object with exactly the parts of
 * that kind this fabric runs: none it does not (another topology's), none
 * missing. */
static int emu_ckpt_members(const struct emu_parts *f, const struct topo *t, const char *file,
			    const json_t *all, const struct emu_ckpt_kind *kind, char *err,
			    size_t errlen)
{
	json_t *obj = json_object_get(all, kind->section), *v;
	size_t i, n = emu_ckpt_n_parts(t);
	const char *key;

	/* a file of a fabric without gates, written before they existed,
	 * has no such section: it is an empty one */
	if (!obj && !emu_ckpt_runs_any(f, t, kind))
		return 0;
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "%s: %s: missing, or not an object", file, kind->section);
		return -1;
	}
	json_object_foreach(obj, key, v)
	{
		for (i = 0; i <= n; i++)
			if (strcmp(emu_ckpt_part(t, i), key) == 0 && kind->has(f, key))
				break;
		if (i > n) {
			snprintf(err, errlen, "%s: %s.%s: there is no such %s in this topology",
				 file, kind->section, key, kind->what);
			return -1;
		}
	}
	for (i = 0; i <= n; i++)
		if (kind->has(f, emu_ckpt_part(t, i)) &&
		    !json_object_get(obj, emu_ckpt_part(t, i))) {
			snprintf(err, errlen, "%s: %s.%s: missing, but this topology has it", file,
				 kind->section, emu_ckpt_part(t, i));
			return -1;
		}
	return 0;
}

/* The checkpoint is of this run: its format, topology and seed. */
static int emu_ckpt_fits(const struct topo *t, const char *file, const json_t *all, char *err,
			 size_t errlen)
{
	const char *name = json_string_value(json_object_get(all, "topology"));
	const json_t *seed = json_object_get(all, "seed");

	if (json_integer_value(json_object_get(all, "natbed_checkpoint")) != EMU_CKPT_FORMAT) {
		snprintf(err, errlen, "%s: not a natbed checkpoint of format %d", file,
			 EMU_CKPT_FORMAT);
		return -1;
	}
	if (!name || strcmp(name, t->name) != 0) {
		snprintf(err, errlen, "%s: a checkpoint of topology '%s', this is '%s'", file,
			 name ? name : "?", t->name);
		return -1;
	}
	if (!json_is_integer(seed) || json_integer_value(seed) != (json_int_t)t->seed) {
		snprintf(err, errlen, "%s: seed: the checkpoint's run has seed %lld, this one %lld",
			 file, (long long)json_integer_value(seed), (long long)t->seed);
		return -1;
	}
	return 0;
}

/* Builds every part of kind k aside into x: 0, or -1 with err. */
static int emu_ckpt_prepare_kind(const struct emu_parts *f, const struct topo *t, const char *file,
				 const json_t *all, natbed_time_t now, size_t k,
				 struct emu_ckpt_fresh *x, char *err, size_t errlen)
{
	const struct emu_ckpt_kind *kind = &emu_ckpt_kinds[k];
	const json_t *sec = json_object_get(all, kind->section);
	char why[EMU_CKPT_WHY_MAX] = "";
	size_t i;

	x->fresh[k] = calloc(emu_ckpt_n_parts(t) + 1, sizeof(*x->fresh[k]));
	if (!x->fresh[k]) {
		snprintf(err, errlen, "%s: out of memory", file);
		return -1;
	}
	for (i = 0; i <= emu_ckpt_n_parts(t); i++) {
		const char *name = emu_ckpt_part(t, i);

		if (!kind->has(f, name))
			continue;
		x->fresh[k][i] =
		    kind->prepare(f, name, json_object_get(sec, name), now, why, sizeof(why));
		if (!x->fresh[k][i]) {
			snprintf(err, errlen, "%s: %s.%s%s", file, kind->section, name, why);
			return -1;
		}
	}
	return 0;
}

/* Builds every part of all aside into x: 0, or -1 with err. */
static int emu_ckpt_prepare(const struct emu_parts *f, const struct topo *t, const char *file,
			    const json_t *all, natbed_time_t now, struct emu_ckpt_fresh *x,
			    char *err, size_t errlen)
{
	char why[EMU_CKPT_WHY_MAX] = "";
	size_t k;

	if (emu_ckpt_fits(t, file, all, err, errlen) < 0)
		return -1;
	for (k = 0; k < EMU_CKPT_KINDS; k++)
		if (emu_ckpt_members(f, t, file, all, &emu_ckpt_kinds[k], err, errlen) < 0)
			return -1;
	for (k = 0; k < EMU_CKPT_KINDS; k++)
		if (emu_ckpt_prepare_kind(f, t, file, all, now, k, x, err, errlen) < 0)
			return -1;
	x->flows =
	    flowtab_restore_prepare(f->flows, json_object_get(all, "flows"), why, sizeof(why));
	if (!x->flows) {
		snprintf(err, errlen, "%s: flows: %s", file, why);
		return -1;
	}
	return 0;
}

/* Makes f run every part of x; x is left empty. Cannot fail. */
static void emu_ckpt_adopt(const struct emu_parts *f, const struct topo *t,
			   struct emu_ckpt_fresh *x)
{
	size_t k, i;

	for (k = 0; k < EMU_CKPT_KINDS; k++)
		for (i = 0; i <= emu_ckpt_n_parts(t); i++)
			if (x->fresh[k][i]) {
				emu_ckpt_kinds[k].adopt(f, emu_ckpt_part(t, i), x->fresh[k][i]);
				x->fresh[k][i] = NULL;
			}
	flowtab_adopt(f->flows, x->flows);
	x->flows = NULL;
}

/* The kind whose section is "links". */
static size_t emu_ckpt_links_kind(void)
{
	size_t k = 0;

	while (strcmp(emu_ckpt_kinds[k].section, "links") != 0)
		k++;
	return k;
}

json_t *emu_ckpt_links_save(const struct emu_parts *f, const struct topo *t, natbed_time_t now)
{
	const struct emu_ckpt_kind *kind = &emu_ckpt_kinds[emu_ckpt_links_kind()];
	json_t *sec = json_object();

	for (size_t i = 0; sec && i <= emu_ckpt_n_parts(t); i++)
		if (kind->has(f, emu_ckpt_part(t, i)) &&
		    json_object_set_new(sec, emu_ckpt_part(t, i),
					kind->save(f, emu_ckpt_part(t, i), now)) < 0) {
			json_decref(sec);
			sec = NULL;
		}
	return json_pack("{s:o,s:o}", kind->section, sec, "flows", flowtab_checkpoint(f->flows));
}

int emu_ckpt_links_restore(const struct emu_parts *f, const struct topo *t, const json_t *j,
			   natbed_time_t now, const char *what, char *err, size_t errlen)
{
	size_t k = emu_ckpt_links_kind();
	struct emu_ckpt_fresh x = {0};
	char why[EMU_CKPT_WHY_MAX] = "";
	int rc = -1;

	if (emu_ckpt_members(f, t, what, j, &emu_ckpt_kinds[k], err, errlen) < 0 ||
	    emu_ckpt_prepare_kind(f, t, what, j, now, k, &x, err, errlen) < 0)
		goto out;
	if (!(x.flows = flowtab_restore_prepare(f->flows, json_object_get(j, "flows"), why,
						sizeof(why)))) {
		snprintf(err, errlen, "%s: flows: %s", what, why);
		goto out;
	}
	for (size_t i = 0; i <= emu_ckpt_n_parts(t); i++)
		if (x.fresh[k][i]) {
			emu_ckpt_kinds[k].adopt(f, emu_ckpt_part(t, i), x.fresh[k][i]);
			x.fresh[k][i] = NULL;
		}
	flowtab_adopt(f->flows, x.flows);
	x.flows = NULL;
	rc = 0;
out:
	emu_ckpt_fresh_free(&x, t);
	return rc;
}

json_t *emu_ckpt_restore(struct fabric *f, const struct topo *t, natbed_time_t now,
			 const char *path, char *err, size_t errlen)
{
	struct emu_parts parts;
	struct emu_ckpt_fresh x = {0};
	json_error_t jerr;
	json_t *all = json_load_file(path, 0, &jerr), *res = NULL;

	fabric_parts(f, &parts);
	if (!all) {
		snprintf(err, errlen, "%s:%d: not a natbed checkpoint (%s)", path, jerr.line,
			 jerr.text);
		return NULL;
	}
	if (!json_is_object(all))
		snprintf(err, errlen, "%s: not a natbed checkpoint (not a JSON object)", path);
	else if (emu_ckpt_prepare(&parts, t, path, all, now, &x, err, errlen) == 0) {
		emu_ckpt_adopt(&parts, t, &x);
		res = emu_ckpt_summary("restored", path, all);
		emu_ckpt_log(f, "restore", path);
	}
	emu_ckpt_fresh_free(&x, t);
	json_decref(all);
	return res;
}
