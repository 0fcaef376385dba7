/* natbed-emu checkpoints of a whole fabric (emu_ckpt.h): each part's own
 * serialiser (nat_ctl.c, fw_ctl.c, lib/link_ctl.c, flowtab_ctl.c) writes
 * and checks its part; this file puts them in one file and restores all
 * of them or none. */
#include "emu_ckpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "firewall.h"
#include "flowtab_ctl.h"
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

/* --- writing ------------------------------------------------------------- */

static json_t *emu_ckpt_links(struct fabric *f, const struct topo *t, natbed_time_t now)
{
	json_t *links = json_object();
	struct link *dir[2];
	size_t i;

	for (i = 0; i <= emu_ckpt_n_parts(t); i++)
		if (fabric_link(f, emu_ckpt_part(t, i), &dir[0], &dir[1]) == 0)
			json_object_set_new(links, emu_ckpt_part(t, i),
					    json_pack("{s:o,s:o}", emu_ckpt_dir[0],
						      link_checkpoint(dir[0], now), emu_ckpt_dir[1],
						      link_checkpoint(dir[1], now)));
	return links;
}

static json_t *emu_ckpt_build(struct fabric *f, const struct topo *t, natbed_time_t now)
{
	json_t *nats = json_object(), *fws = json_object();
	struct fw *fw;
	size_t i;

	for (i = 0; i < t->n_nats; i++)
		json_object_set_new(nats, t->nats[i].name,
				    nat_checkpoint(fabric_nat(f, t->nats[i].name), now));
	for (i = 0; i < emu_ckpt_n_parts(t); i++)
		if ((fw = fabric_firewall(f, emu_ckpt_part(t, i))) != NULL)
			json_object_set_new(fws, emu_ckpt_part(t, i), fw_checkpoint(fw, now));
	return json_pack("{s:i,s:s,s:I,s:o,s:o,s:o,s:o,s:I}", "natbed_checkpoint", EMU_CKPT_FORMAT,
			 "topology", t->name, "seed", (json_int_t)t->seed, "nats", nats,
			 "firewalls", fws, "links", emu_ckpt_links(f, t, now), "flows",
			 flowtab_checkpoint(fabric_flowtab(f)), "in_flight",
			 (json_int_t)fabric_in_flight(f));
}

/* What a checkpoint holds, in numbers: the answer to the CLI. */
static json_t *emu_ckpt_summary(const char *key, const char *path, const json_t *all)
{
	return json_pack(
	    "{s:s,s:I,s:I,s:I,s:I,s:I}", key, path, "nats",
	    (json_int_t)json_object_size(json_object_get(all, "nats")), "firewalls",
	    (json_int_t)json_object_size(json_object_get(all, "firewalls")), "links",
	    (json_int_t)json_object_size(json_object_get(all, "links")), "flows",
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
	json_t *all = emu_ckpt_build(f, t, now), *res;
	char tmp[4096];
	FILE *fp = NULL;
	int e = 0;

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

/* The state of every part, built aside. */
struct emu_ckpt_fresh {
	struct nat **nats;     /* per topology NAT */
	struct fw **fws;       /* per part (hosts, then NATs); NULL: no firewall */
	struct link **links;   /* 2 per part, then the core's 2 */
	struct flowtab *flows; /* the packet numbers */
};

static void emu_ckpt_fresh_free(struct emu_ckpt_fresh *x, const struct topo *t)
{
	size_t i;

	for (i = 0; x->nats && i < t->n_nats; i++)
		nat_free(x->nats[i]);
	for (i = 0; x->fws && i < emu_ckpt_n_parts(t); i++)
		fw_free(x->fws[i]);
	for (i = 0; x->links && i < 2 * (emu_ckpt_n_parts(t) + 1); i++)
		link_free(x->links[i]);
	flowtab_free(x->flows);
	free(x->nats);
	free(x->fws);
	free(x->links);
}

/* Whether part i has a checkpoint in section sec: the firewalls section
 * holds the parts with a firewall, nats the NATs, links every part. */
static bool emu_ckpt_expected(struct fabric *f, const struct topo *t, const char *sec, size_t i)
{
	if (strcmp(sec, "nats") == 0)
		return i >= t->n_hosts && i < emu_ckpt_n_parts(t);
	if (strcmp(sec, "firewalls") == 0)
		return i < emu_ckpt_n_parts(t) && fabric_firewall(f, emu_ckpt_part(t, i));
	return true;
}

/* Section sec of all must be an object with exactly the members expected
 * in this fabric: none it does not have (another topology's), none missing. */
static int emu_ckpt_members(struct fabric *f, const struct topo *t, const char *file,
			    const json_t *all, const char *sec, char *err, size_t errlen)
{
	json_t *obj = json_object_get(all, sec), *v;
	size_t i, n = emu_ckpt_n_parts(t) + (strcmp(sec, "links") == 0);
	const char *key;

	if (!json_is_object(obj)) {
		snprintf(err, errlen, "%s: %s: missing, or not an object", file, sec);
		return -1;
	}
	json_object_foreach(obj, key, v)
	{
		for (i = 0; i < n; i++)
			if (strcmp(emu_ckpt_part(t, i), key) == 0 &&
			    emu_ckpt_expected(f, t, sec, i))
				break;
		if (i == n) {
			snprintf(err, errlen, "%s: %s.%s: there is no such %s in this topology",
				 file, sec, key,
				 strcmp(sec, "links") == 0  ? "link"
				 : strcmp(sec, "nats") == 0 ? "NAT"
							    : "firewall");
			return -1;
		}
	}
	for (i = 0; i < n; i++)
		if (emu_ckpt_expected(f, t, sec, i) && !json_object_get(obj, emu_ckpt_part(t, i))) {
			snprintf(err, errlen, "%s: %s.%s: missing, but this topology has it", file,
				 sec, emu_ckpt_part(t, i));
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

/* nat_restore_prepare() names its NAT ("nat NAME: ..."): the path does. */
static const char *emu_ckpt_unname(const char *why, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(why, "nat ", 4) == 0 && strncmp(why + 4, name, n) == 0 &&
	    strncmp(why + 4 + n, ": ", 2) == 0)
		return why + 4 + n + 2;
	return why;
}

static int emu_ckpt_prepare_nats(struct fabric *f, const struct topo *t, const char *file,
				 const json_t *all, natbed_time_t now, struct emu_ckpt_fresh *x,
				 char *err, size_t errlen)
{
	const json_t *nats = json_object_get(all, "nats");
	char why[EMU_CKPT_WHY_MAX] = "";
	size_t i;

	for (i = 0; i < t->n_nats; i++) {
		const char *name = t->nats[i].name;

		x->nats[i] = nat_restore_prepare(fabric_nat(f, name), json_object_get(nats, name),
						 now, why, sizeof(why));
		if (!x->nats[i]) {
			snprintf(err, errlen, "%s: nats.%s: %s", file, name,
				 emu_ckpt_unname(why, name));
			return -1;
		}
	}
	return 0;
}

static int emu_ckpt_prepare_fws(struct fabric *f, const struct topo *t, const char *file,
				const json_t *all, natbed_time_t now, struct emu_ckpt_fresh *x,
				char *err, size_t errlen)
{
	const json_t *fws = json_object_get(all, "firewalls");
	char why[EMU_CKPT_WHY_MAX] = "";
	struct fw *fw;
	size_t i;

	for (i = 0; i < emu_ckpt_n_parts(t); i++) {
		const char *name = emu_ckpt_part(t, i);

		if (!(fw = fabric_firewall(f, name)))
			continue;
		x->fws[i] =
		    fw_restore_prepare(fw, json_object_get(fws, name), now, why, sizeof(why));
		if (!x->fws[i]) {
			snprintf(err, errlen, "%s: firewalls.%s: %s", file, name, why);
			return -1;
		}
	}
	return 0;
}

static int emu_ckpt_prepare_links(struct fabric *f, const struct topo *t, const char *file,
				  const json_t *all, natbed_time_t now, struct emu_ckpt_fresh *x,
				  char *err, size_t errlen)
{
	const json_t *links = json_object_get(all, "links");
	char why[EMU_CKPT_WHY_MAX] = "";
	struct link *dir[2];
	size_t i, d;

	for (i = 0; i <= emu_ckpt_n_parts(t); i++) {
		const char *name = emu_ckpt_part(t, i);

		if (fabric_link(f, name, &dir[0], &dir[1]) < 0) {
			snprintf(err, errlen, "%s: links.%s: no such link in natbed-emu", file,
				 name);
			return -1;
		}
		for (d = 0; d < 2; d++) {
			x->links[2 * i + d] = link_restore_prepare(
			    dir[d], json_object_get(json_object_get(links, name), emu_ckpt_dir[d]),
			    now, why, sizeof(why));
			if (!x->links[2 * i + d]) {
				snprintf(err, errlen, "%s: links.%s.%s: %s", file, name,
					 emu_ckpt_dir[d], why);
				return -1;
			}
		}
	}
	return 0;
}

/* Builds every part of all aside into x: 0, or -1 with err. */
static int emu_ckpt_prepare(struct fabric *f, const struct topo *t, const char *file,
			    const json_t *all, natbed_time_t now, struct emu_ckpt_fresh *x,
			    char *err, size_t errlen)
{
	static const char *const sections[] = {"nats", "firewalls", "links"};
	char why[EMU_CKPT_WHY_MAX] = "";
	size_t i, parts = emu_ckpt_n_parts(t);

	if (emu_ckpt_fits(t, file, all, err, errlen) < 0)
		return -1;
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (emu_ckpt_members(f, t, file, all, sections[i], err, errlen) < 0)
			return -1;
	x->nats = calloc(t->n_nats ? t->n_nats : 1, sizeof(*x->nats));
	x->fws = calloc(parts ? parts : 1, sizeof(*x->fws));
	x->links = calloc(2 * (parts + 1), sizeof(*x->links));
	if (!x->nats || !x->fws || !x->links) {
		snprintf(err, errlen, "%s: out of memory", file);
		return -1;
	}
	if (emu_ckpt_prepare_nats(f, t, file, all, now, x, err, errlen) < 0 ||
	    emu_ckpt_prepare_fws(f, t, file, all, now, x, err, errlen) < 0 ||
	    emu_ckpt_prepare_links(f, t, file, all, now, x, err, errlen) < 0)
		return -1;
	x->flows = flowtab_restore_prepare(fabric_flowtab(f), json_object_get(all, "flows"), why,
					   sizeof(why));
	if (!x->flows) {
		snprintf(err, errlen, "%s: flows: %s", file, why);
		return -1;
	}
	return 0;
}

/* Makes f run every part of x; x is left empty. Cannot fail. */
static void emu_ckpt_adopt(struct fabric *f, const struct topo *t, struct emu_ckpt_fresh *x)
{
	struct link *dir[2];
	size_t i, d;

	for (i = 0; i < t->n_nats; i++) {
		nat_adopt(fabric_nat(f, t->nats[i].name), x->nats[i]);
		x->nats[i] = NULL;
	}
	for (i = 0; i < emu_ckpt_n_parts(t); i++)
		if (x->fws[i]) {
			fw_adopt(fabric_firewall(f, emu_ckpt_part(t, i)), x->fws[i]);
			x->fws[i] = NULL;
		}
	for (i = 0; i <= emu_ckpt_n_parts(t); i++) {
		fabric_link(f, emu_ckpt_part(t, i), &dir[0], &dir[1]);
		for (d = 0; d < 2; d++) {
			link_adopt(dir[d], x->links[2 * i + d]);
			x->links[2 * i + d] = NULL;
		}
	}
	flowtab_adopt(fabric_flowtab(f), x->flows);
	x->flows = NULL;
}

json_t *emu_ckpt_restore(struct fabric *f, const struct topo *t, natbed_time_t now,
			 const char *path, char *err, size_t errlen)
{
	struct emu_ckpt_fresh x = {0};
	json_error_t jerr;
	json_t *all = json_load_file(path, 0, &jerr), *res = NULL;

	if (!all) {
		snprintf(err, errlen, "%s:%d: not a natbed checkpoint (%s)", path, jerr.line,
			 jerr.text);
		return NULL;
	}
	if (!json_is_object(all))
		snprintf(err, errlen, "%s: not a natbed checkpoint (not a JSON object)", path);
	else if (emu_ckpt_prepare(f, t, path, all, now, &x, err, errlen) == 0) {
		emu_ckpt_adopt(f, t, &x);
		res = emu_ckpt_summary("restored", path, all);
		emu_ckpt_log(f, "restore", path);
	}
	emu_ckpt_fresh_free(&x, t);
	json_decref(all);
	return res;
}
