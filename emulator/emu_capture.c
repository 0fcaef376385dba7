/* natbed-emu control commands of the live capture: names and JSON around
 * emulator/livecap.c. */
#include "emu_capture.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_ctl.h"
#include "livecap.h"
#include "natbed/topo.h"

#define EMU_VIEW_NAME_MAX (TOPO_NAME_MAX + 8)

/* {"id","view","records","bytes","lost","queued"} */
static json_t *emu_viewer_json(struct fabric *f, const struct livecap_stats *st)
{
	char name[EMU_VIEW_NAME_MAX];

	return json_pack("{s:I,s:s,s:I,s:I,s:I,s:I}", "id", (json_int_t)st->id, "view",
			 fabric_view_name(f, st->view, name, sizeof(name)), "records",
			 (json_int_t)st->records, "bytes", (json_int_t)st->bytes, "lost",
			 (json_int_t)st->lost, "queued", (json_int_t)st->queued);
}

int emu_capture(void *ctx, int argc, const char **argv, int fd, char *err, size_t errlen)
{
	struct emu_ctl_ctx *c = ctx;
	char name[EMU_VIEW_NAME_MAX];
	uint32_t id;
	int v, rc;
	char *head;

	if (argc != 2) {
		snprintf(err, errlen, "usage: capture VIEW (a host, or NAT-wan)");
		return -1;
	}
	v = fabric_view_find(c->fabric, argv[1], err, errlen);
	if (v < 0)
		return -1;
	/* the answer goes first: it names the viewer attach makes */
	head = ctl_answer_line(json_pack(
	    "{s:I,s:s,s:i}", "id", (json_int_t)livecap_next_id(fabric_livecap(c->fabric)), "view",
	    fabric_view_name(c->fabric, (size_t)v, name, sizeof(name)), "buffer", LIVECAP_BUF));
	if (!head) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = livecap_attach(fabric_livecap(c->fabric), (size_t)v, fd, head, strlen(head), &id);
	free(head);
	if (rc == -EBUSY)
		snprintf(err, errlen, "%d viewers already: end one first (capture-end ID)",
			 LIVECAP_VIEWERS_MAX);
	else if (rc < 0)
		snprintf(err, errlen, "capture %s: %s", argv[1], strerror(-rc));
	return rc < 0 ? -1 : 0;
}

/* The viewer ID of argv[1]: > 0, or 0 with err filled. */
static uint32_t emu_viewer_id(int argc, const char **argv, char *err, size_t errlen)
{
	char *end;
	unsigned long id = argc == 2 ? strtoul(argv[1], &end, 10) : 0;

	if (argc != 2 || !*argv[1] || *end || id == 0 || id > UINT32_MAX) {
		snprintf(err, errlen, "usage: capture-end ID (show captures lists them)");
		return 0;
	}
	return (uint32_t)id;
}

json_t *emu_capture_end(void *ctx, int argc, const char **argv, char *err, size_t errlen)
{
	struct emu_ctl_ctx *c = ctx;
	struct livecap_stats st;
	uint32_t id = emu_viewer_id(argc, argv, err, errlen);

	if (!id)
		return NULL;
	if (livecap_detach(fabric_livecap(c->fabric), id, &st) < 0) {
		snprintf(err, errlen, "no live capture %" PRIu32 " (ended, or never begun)", id);
		return NULL;
	}
	return emu_viewer_json(c->fabric, &st);
}

json_t *emu_show_captures(void *ctx, int argc, const char **argv, char *err, size_t errlen)
{
	struct emu_ctl_ctx *c = ctx;
	struct livecap_stats st[LIVECAP_VIEWERS_MAX];
	size_t i, n = livecap_list(fabric_livecap(c->fabric), st, LIVECAP_VIEWERS_MAX);
	json_t *arr = json_array();

	for (i = 0; i < n; i++)
		json_array_append_new(arr, emu_viewer_json(c->fabric, &st[i]));
	return arr;
}
