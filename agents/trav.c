#include "method.h"

void trav_done(struct trav_try *t, bool success, const char *reason)
{
	if (t->finished)
		return;
	t->finished = true;
	t->success = success;
	t->reason = success ? NULL : (reason ? reason : "failed");
	t->done_at = dg_now(t->dg);
	if (t->done)
		t->done(t->done_arg, t);
}

bool trav_input(struct trav_try *t, const struct dg_ep *from, const uint8_t *buf, size_t len,
		natbed_time_t now)
{
	if (!t->m || !t->m->input || !t->priv)
		return false;
	return t->m->input(t, from, buf, len, now);
}
