#include "state.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static int state_copy(char *dst, size_t len, const char *src)
{
	if (!src || strlen(src) >= len)
		return -EINVAL;
	strcpy(dst, src);
	return 0;
}

int state_load(const char *prefix, struct state *st)
{
	char path[CLI_PATH_MAX];
	json_error_t jerr;
	json_t *j, *v;
	size_t i;
	int rc = -EINVAL;

	memset(st, 0, sizeof(*st));
	cli_run_path(path, sizeof(path), prefix, "state.json");
	if (access(path, F_OK) < 0)
		return -ENOENT;
	j = json_load_file(path, 0, &jerr);
	if (!j)
		return -EINVAL;
	if (state_copy(st->prefix, sizeof(st->prefix),
		       json_string_value(json_object_get(j, "prefix"))) < 0)
		goto out;
	state_copy(st->topology, sizeof(st->topology),
		   json_string_value(json_object_get(j, "topology")));
	state_copy(st->out, sizeof(st->out), json_string_value(json_object_get(j, "out")));
	json_array_foreach(json_object_get(j, "namespaces"), i, v)
	{
		if (st->n_ns < STATE_MAX_NS &&
		    state_copy(st->namespaces[st->n_ns], STATE_NAME_MAX, json_string_value(v)) == 0)
			st->n_ns++;
	}
	json_array_foreach(json_object_get(j, "processes"), i, v)
	{
		struct state_proc *p = &st->procs[st->n_procs];

		if (st->n_procs >= STATE_MAX_PROCS ||
		    state_copy(p->name, sizeof(p->name),
			       json_string_value(json_object_get(v, "name"))) < 0)
			continue;
		p->pid = (pid_t)json_integer_value(json_object_get(v, "pid"));
		p->start = (unsigned long long)json_integer_value(json_object_get(v, "start"));
		if (p->pid > 1)
			st->n_procs++;
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

int state_save(const struct state *st)
{
	char dir[CLI_PATH_MAX], path[CLI_PATH_MAX], tmp[CLI_PATH_MAX + 8];
	json_t *j = json_object(), *ns = json_array(), *procs = json_array();
	int i, rc = 0;

	for (i = 0; i < st->n_ns; i++)
		json_array_append_new(ns, json_string(st->namespaces[i]));
	for (i = 0; i < st->n_procs; i++)
		json_array_append_new(procs, json_pack("{s:s,s:i,s:I}", "name", st->procs[i].name,
						       "pid", (int)st->procs[i].pid, "start",
						       (json_int_t)st->procs[i].start));
	json_object_set_new(j, "prefix", json_string(st->prefix));
	json_object_set_new(j, "topology", json_string(st->topology));
	json_object_set_new(j, "out", json_string(st->out));
	json_object_set_new(j, "namespaces", ns);
	json_object_set_new(j, "processes", procs);
	mkdir(CLI_RUN_DIR, 0700);
	cli_run_path(dir, sizeof(dir), st->prefix, NULL);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		rc = -errno;
	cli_run_path(path, sizeof(path), st->prefix, "state.json");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (rc == 0 && json_dump_file(j, tmp, JSON_INDENT(1)) < 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	json_decref(j);
	return rc;
}

void state_remove(const char *prefix)
{
	static const char *const leaves[] = {"state.json", "state.json.tmp", "ctl"};
	char path[CLI_PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		cli_run_path(path, sizeof(path), prefix, leaves[i]);
		unlink(path);
	}
	cli_run_path(path, sizeof(path), prefix, NULL);
	rmdir(path);
}

int state_add_ns(struct state *st, const char *ns)
{
	if (st->n_ns >= STATE_MAX_NS ||
	    state_copy(st->namespaces[st->n_ns], STATE_NAME_MAX, ns) < 0)
		return -ENOSPC;
	st->n_ns++;
	return state_save(st);
}

int state_add_proc(struct state *st, const char *name, pid_t pid)
{
	struct state_proc *p = &st->procs[st->n_procs];

	if (st->n_procs >= STATE_MAX_PROCS || state_copy(p->name, sizeof(p->name), name) < 0)
		return -ENOSPC;
	p->pid = pid;
	p->start = state_proc_start(pid);
	st->n_procs++;
	return state_save(st);
}

/* Fields 3 (the state letter) and 22 (starttime) of /proc/PID/stat.
 * 0, or -1 when there is no such process. */
static int state_proc_stat(pid_t pid, char *state, unsigned long long *start)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* proc(5): the command (field 2) may hold spaces, so count from the
	 * last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	*state = p[2];
	for (field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	*start = p ? strtoull(p + 1, NULL, 10) : 0;
	return 0;
}

unsigned long long state_proc_start(pid_t pid)
{
	unsigned long long start;
	char state;

	/* A zombie has exited and only waits for its parent to reap it: it
	 * is gone. */
	if (state_proc_stat(pid, &state, &start) < 0 || state == 'Z' || state == 'X')
		return 0;
	return start;
}

bool state_proc_exists(const struct state_proc *p)
{
	unsigned long long start;
	char state;

	return state_proc_stat(p->pid, &state, &start) == 0 && state != 'X' &&
	       (p->start == 0 || start == p->start);
}

bool state_proc_alive(const struct state_proc *p)
{
	unsigned long long s = state_proc_start(p->pid);

	return s != 0 && (p->start == 0 || s == p->start);
}
