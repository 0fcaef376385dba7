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
