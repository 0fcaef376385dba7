/* natbed sim checkpoints of a traversal try (method.h: trav_try_ckpt_*)
 * and the pieces the engine and the methods write theirs with
 * (trav_ckpt.h). */
#include "trav_ckpt.h"

#include <string.h>

#include "ckval.h"
#include "method_checks.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "turnsock.h"

/* --- pieces ------------------------------------------------------------- */

void tck_set(json_t *obj, const char *key, json_t *v)
{
	json_object_set_new(obj, key, v ? v : json_null());
}

/* Every reason a method, the check engine, trav_done() or the agent gives
 * as a string literal (grep mc_fail, mc_fail_at, trav_done and the
 * expire hooks; portmap_reason's table). A reason is restored as its
 * entry here: the same text, alive as long as the literal was. */
static const char *const tck_reasons[] = {
    "failed",
    "timeout",
    "filtered",
    "no answer",
    "no candidate",
    "not applicable",
    "budget spent",
    "no prediction",
    "mapped port not the agreed one",
    "no gateway to ask for a port mapping",
    "no port mapping (PCP/NAT-PMP) on this NAT",
    "no PCP or NAT-PMP answer from the gateway",
    "port mapping refused",
    "PCP NOT_AUTHORIZED",
    "PCP MALFORMED_REQUEST",
    "PCP UNSUPP_OPCODE",
    "PCP UNSUPP_OPTION",
    "PCP MALFORMED_OPTION",
    "PCP NETWORK_FAILURE",
    "PCP NO_RESOURCES",
    "PCP UNSUPP_PROTOCOL",
    "PCP USER_EX_QUOTA",
    "PCP ADDRESS_MISMATCH",
    "PCP CANNOT_PROVIDE_EXTERNAL",
    "NAT-PMP REFUSED",
    "NAT-PMP NETWORK_FAILURE",
    "NAT-PMP NO_RESOURCES",
    "NAT-PMP UNSUPP_OPCODE",
    "relay allocation lost",
    "no relay candidate",
    "method overran its deadline",
    "cannot start",
};

static const char *tck_reason_known(const char *text)
{
	for (size_t i = 0; i < sizeof(tck_reasons) / sizeof(tck_reasons[0]); i++)
		if (strcmp(text, tck_reasons[i]) == 0)
			return tck_reasons[i];
	return NULL;
}

json_t *tck_reason(struct ckw *w, const struct trav_try *t, const char *reason)
{
	if (!reason)
		return json_null();
	/* the TURN client's words: the buffer, whose text may change */
	if (t->relay && reason == turnsock_error(t->relay))
		return json_pack("{s:o}", "ref", ckw_ref(w, reason));
	if (tck_reason_known(reason))
		return json_pack("{s:s}", "text", reason);
	return json_pack("{s:o}", "ref", ckw_ref(w, reason));
}

void tck_reason_get(struct ckget *g, const char *key, const char **slot)
{
	const json_t *j = ckget_get(g, key), *text;

	*slot = NULL;
	if (!j || json_is_null(j))
		return;
	if (json_is_object(j) && json_object_get(j, "ref") && json_object_size(j) == 1) {
		struct ckget sub = {g->r, g->mod, j, false};

		ckget_ref(&sub, "ref", slot);
		g->bad |= sub.bad;
		return;
	}
	text = json_object_get(j, "text");
	if (!json_is_string(text) || json_object_size(j) != 1 ||
	    !(*slot = tck_reason_known(json_string_value(text))))
		ckget_fail(g, key, "not a known reason");
}

/* --- struct trav_try ---------------------------------------------------- */

static const struct ckvar trav_vars[] = {
    CKVAR(method_direct),   CKVAR(method_punch),   CKVAR(method_predict),
    CKVAR(method_birthday), CKVAR(method_portmap), CKVAR(method_relay),
};
/* no function of its own: done and other are its owner's */
const struct ckfns trav_try_ckfns = {"trav_try", NULL, 0, trav_vars,
				     sizeof(trav_vars) / sizeof(trav_vars[0])};

json_t *trav_try_ckpt_save(const struct trav_try *t, struct ckw *w)
{
	json_t *j = json_object();

	tck_set(j, "id", ckw_obj(w, t));
	tck_set(j, "dg", ckw_ref(w, t->dg));
	tck_set(j, "m", ckw_ref(w, t->m));
	tck_set(j, "role", json_integer(t->role));
	tck_set(j, "try", jsonck_u64(t->id, true));
	tck_set(j, "sock", json_integer(t->sock));
	tck_set(j, "self", ckval_cand(&t->self, w));
	tck_set(j, "peer", ckval_cand(&t->peer, w));
	tck_set(j, "stun", dg_ep_ckpt_save(&t->stun, w));
	tck_set(j, "gateway", dg_ep_ckpt_save(&t->gateway, w));
	tck_set(j, "relay", ckw_ref(w, t->relay));
	tck_set(j, "start", json_integer(t->start));
	tck_set(j, "deadline", json_integer(t->deadline));
	tck_set(j, "done", ckw_fn(w, (ckfn_ptr)t->done));
	tck_set(j, "done_arg", ckw_ref(w, t->done_arg));
	tck_set(j, "other", ckw_fn(w, (ckfn_ptr)t->other));
	tck_set(j, "finished", json_boolean(t->finished));
	tck_set(j, "success", json_boolean(t->success));
	tck_set(j, "path_sock", json_integer(t->path_sock));
	tck_set(j, "local", dg_ep_ckpt_save(&t->local, w));
	tck_set(j, "remote", dg_ep_ckpt_save(&t->remote, w));
	tck_set(j, "reason", tck_reason(w, t, t->reason));
	tck_set(j, "done_at", json_integer(t->done_at));
	tck_set(j, "counts", ckw_bytes(w, &t->counts, sizeof(t->counts)));
	/* every method of the table runs on the check engine */
	if (t->priv && !mc_ckpt_method(t->m))
		ckw_fail(w, "trav_try: method %s keeps a state no checkpoint knows",
			 t->m ? t->m->spec.name : "(none)");
	else
		tck_set(j, "priv", t->priv ? mc_ckpt_save(t->priv, w) : json_null());
	return j;
}

int trav_try_ckpt_fill(struct trav_try *t, const json_t *j, struct ckr *r)
{
	struct ckget g = {r, "trav_try", j, false};
	const json_t *priv;

	memset(t, 0, sizeof(*t));
	ckget_obj(&g, "id", t);
	ckget_ref(&g, "dg", &t->dg);
	ckget_ref(&g, "m", &t->m);
	t->role = (enum trav_role)ckget_int(&g, "role", TRAV_INITIATOR, TRAV_RESPONDER);
	t->id = ckget_u64(&g, "try");
	t->sock = (int)ckget_int(&g, "sock", -1, INT32_MAX);
	ckval_get_cand(&g, "self", &t->self);
	ckval_get_cand(&g, "peer", &t->peer);
	ckget_ep(&g, "stun", &t->stun);
	ckget_ep(&g, "gateway", &t->gateway);
	ckget_ref(&g, "relay", &t->relay);
	t->start = ckget_time(&g, "start");
	t->deadline = ckget_time(&g, "deadline");
	t->done = (void (*)(void *, struct trav_try *))ckget_fn(&g, "done");
	ckget_ref(&g, "done_arg", &t->done_arg);
	t->other = (bool (*)(struct trav_try *, int, const struct dg_ep *, const uint8_t *,
			     size_t))ckget_fn(&g, "other");
	t->finished = ckget_bool(&g, "finished");
	t->success = ckget_bool(&g, "success");
	t->path_sock = (int)ckget_int(&g, "path_sock", -1, INT32_MAX);
	ckget_ep(&g, "local", &t->local);
	ckget_ep(&g, "remote", &t->remote);
	tck_reason_get(&g, "reason", &t->reason);
	t->done_at = ckget_time(&g, "done_at");
	ckget_bytes(&g, "counts", &t->counts, sizeof(t->counts));
	priv = ckget_get(&g, "priv");
	if (g.bad)
		return -1;
	if (!json_is_null(priv) && !(t->priv = mc_ckpt_load(priv, r)))
		return -1;
	return 0;
}
