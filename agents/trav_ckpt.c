/* natbed sim checkpoints of a traversal try (method.h: trav_try_ckpt_*)
 * and the pieces the engine and the methods write theirs with
 * (trav_ckpt.h). */
#include "trav_ckpt.h"

#include <arpa/inet.h>
#include <string.h>

#include "method_checks.h"
#include "natbed/ckpt.h"
#include "natbed/jsonck.h"
#include "turnsock.h"

/* --- pieces ------------------------------------------------------------- */

void tck_set(json_t *obj, const char *key, json_t *v)
{
	json_object_set_new(obj, key, v ? v : json_null());
}

json_t *tck_ep(const struct dg_ep *ep)
{
	return json_pack("[o,i]", jsonck_ipv4(ep->addr), (int)ntohs(ep->port));
}

int tck_ep_read(struct ckr *r, const json_t *obj, const char *key, struct dg_ep *ep,
		const char *what)
{
	const json_t *j = json_object_get(obj, key);
	json_int_t port;

	if (!json_is_array(j) || json_array_size(j) != 2 ||
	    jsonck_ipv4_read(json_array_get(j, 0), &ep->addr) < 0 ||
	    jsonck_int(json_array_get(j, 1), 0, 65535, &port) < 0)
		return ckr_fail(r, "%s: %s: not an endpoint", what, key);
	ep->port = htons((uint16_t)port);
	return 0;
}

int tck_int(struct ckr *r, const json_t *obj, const char *key, json_int_t lo, json_int_t hi,
	    json_int_t *out, const char *what)
{
	if (jsonck_int(json_object_get(obj, key), lo, hi, out) < 0)
		return ckr_fail(r, "%s: %s: not an integer in %lld..%lld", what, key, (long long)lo,
				(long long)hi);
	return 0;
}

int tck_bool(struct ckr *r, const json_t *obj, const char *key, bool *out, const char *what)
{
	const json_t *j = json_object_get(obj, key);

	if (!json_is_boolean(j))
		return ckr_fail(r, "%s: %s: not a boolean", what, key);
	*out = json_is_true(j);
	return 0;
}

int tck_u64(struct ckr *r, const json_t *obj, const char *key, uint64_t *out, const char *what)
{
	if (jsonck_u64_read(json_object_get(obj, key), false, out) < 0)
		return ckr_fail(r, "%s: %s: not a 64-bit word", what, key);
	return 0;
}

int tck_bytes(struct ckr *r, const json_t *obj, const char *key, void *out, size_t n,
	      const char *what)
{
	if (ckr_bytes(r, json_object_get(obj, key), out, n) < 0)
		return ckr_fail(r, "%s: %s: not %zu bytes", what, key, n);
	return 0;
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

int tck_reason_read(struct ckr *r, const json_t *obj, const char *key, const char **slot,
		    const char *what)
{
	const json_t *j = json_object_get(obj, key), *text;

	*slot = NULL;
	if (json_is_null(j))
		return 0;
	if (json_is_object(j) && json_object_get(j, "ref") && json_object_size(j) == 1)
		return ckr_ref(r, json_object_get(j, "ref"), slot);
	text = json_object_get(j, "text");
	if (!json_is_string(text) || json_object_size(j) != 1 ||
	    !(*slot = tck_reason_known(json_string_value(text))))
		return ckr_fail(r, "%s: %s: not a known reason", what, key);
	return 0;
}

/* --- struct trav_try ---------------------------------------------------- */

static const struct ckvar trav_vars[] = {
    CKVAR(method_direct),   CKVAR(method_punch),   CKVAR(method_predict),
    CKVAR(method_birthday), CKVAR(method_portmap), CKVAR(method_relay),
};
/* no function of its own: done and other are its owner's */
const struct ckfns trav_try_ckfns = {"trav_try", NULL, 0, trav_vars,
				     sizeof(trav_vars) / sizeof(trav_vars[0])};

static json_t *tck_cand(struct ckw *w, const struct trav_cand *c)
{
	json_t *j = json_object();

	tck_set(j, "name", json_string(c->name));
	tck_set(j, "host", tck_ep(&c->host));
	tck_set(j, "srflx", tck_ep(&c->srflx));
	tck_set(j, "relay", tck_ep(&c->relay));
	tck_set(j, "nat", ckw_bytes(w, &c->nat, sizeof(c->nat)));
	return j;
}

static int tck_cand_read(struct ckr *r, const json_t *obj, const char *key, struct trav_cand *c)
{
	const json_t *j = json_object_get(obj, key), *name = json_object_get(j, "name");

	memset(c, 0, sizeof(*c));
	if (!json_is_string(name) || strlen(json_string_value(name)) >= sizeof(c->name))
		return ckr_fail(r, "trav_try: %s.name: not a name", key);
	strcpy(c->name, json_string_value(name));
	if (tck_ep_read(r, j, "host", &c->host, "trav_try cand") < 0 ||
	    tck_ep_read(r, j, "srflx", &c->srflx, "trav_try cand") < 0 ||
	    tck_ep_read(r, j, "relay", &c->relay, "trav_try cand") < 0 ||
	    tck_bytes(r, j, "nat", &c->nat, sizeof(c->nat), "trav_try cand") < 0)
		return -1;
	return 0;
}

json_t *trav_try_ckpt_save(const struct trav_try *t, struct ckw *w)
{
	json_t *j = json_object();

	tck_set(j, "id", ckw_obj(w, t));
	tck_set(j, "dg", ckw_ref(w, t->dg));
	tck_set(j, "m", ckw_ref(w, t->m));
	tck_set(j, "role", json_integer(t->role));
	tck_set(j, "try", jsonck_u64(t->id, false));
	tck_set(j, "sock", json_integer(t->sock));
	tck_set(j, "self", tck_cand(w, &t->self));
	tck_set(j, "peer", tck_cand(w, &t->peer));
	tck_set(j, "stun", tck_ep(&t->stun));
	tck_set(j, "gateway", tck_ep(&t->gateway));
	tck_set(j, "relay", ckw_ref(w, t->relay));
	tck_set(j, "start", json_integer(t->start));
	tck_set(j, "deadline", json_integer(t->deadline));
	tck_set(j, "done", ckw_fn(w, (ckfn_ptr)t->done));
	tck_set(j, "done_arg", ckw_ref(w, t->done_arg));
	tck_set(j, "other", ckw_fn(w, (ckfn_ptr)t->other));
	tck_set(j, "finished", json_boolean(t->finished));
	tck_set(j, "success", json_boolean(t->success));
	tck_set(j, "path_sock", json_integer(t->path_sock));
	tck_set(j, "local", tck_ep(&t->local));
	tck_set(j, "remote", tck_ep(&t->remote));
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
	const char *what = "trav_try";
	json_int_t role, sock, start, deadline, path_sock, done_at;
	ckfn_ptr done = NULL, other = NULL;
	const json_t *priv = json_object_get(j, "priv");

	memset(t, 0, sizeof(*t));
	if (!json_is_object(j))
		return ckr_fail(r, "trav_try: not an object");
	if (tck_int(r, j, "role", TRAV_INITIATOR, TRAV_RESPONDER, &role, what) < 0 ||
	    tck_u64(r, j, "try", &t->id, what) < 0 ||
	    tck_int(r, j, "sock", -1, INT32_MAX, &sock, what) < 0 ||
	    tck_cand_read(r, j, "self", &t->self) < 0 ||
	    tck_cand_read(r, j, "peer", &t->peer) < 0 ||
	    tck_ep_read(r, j, "stun", &t->stun, what) < 0 ||
	    tck_ep_read(r, j, "gateway", &t->gateway, what) < 0 ||
	    tck_int(r, j, "start", INT64_MIN, INT64_MAX, &start, what) < 0 ||
	    tck_int(r, j, "deadline", INT64_MIN, INT64_MAX, &deadline, what) < 0 ||
	    tck_bool(r, j, "finished", &t->finished, what) < 0 ||
	    tck_bool(r, j, "success", &t->success, what) < 0 ||
	    tck_int(r, j, "path_sock", -1, INT32_MAX, &path_sock, what) < 0 ||
	    tck_ep_read(r, j, "local", &t->local, what) < 0 ||
	    tck_ep_read(r, j, "remote", &t->remote, what) < 0 ||
	    tck_reason_read(r, j, "reason", &t->reason, what) < 0 ||
	    tck_int(r, j, "done_at", INT64_MIN, INT64_MAX, &done_at, what) < 0 ||
	    tck_bytes(r, j, "counts", &t->counts, sizeof(t->counts), what) < 0)
		return -1;
	t->role = (enum trav_role)role;
	t->sock = (int)sock;
	t->start = start;
	t->deadline = deadline;
	t->path_sock = (int)path_sock;
	t->done_at = done_at;
	if (ckr_obj(r, json_object_get(j, "id"), t) < 0 ||
	    ckr_ref(r, json_object_get(j, "dg"), &t->dg) < 0 ||
	    ckr_ref(r, json_object_get(j, "m"), &t->m) < 0 ||
	    ckr_ref(r, json_object_get(j, "relay"), &t->relay) < 0 ||
	    ckr_ref(r, json_object_get(j, "done_arg"), &t->done_arg) < 0 ||
	    ckr_fn(r, json_object_get(j, "done"), &done) < 0 ||
	    ckr_fn(r, json_object_get(j, "other"), &other) < 0)
		return -1;
	t->done = (void (*)(void *, struct trav_try *))done;
	t->other =
	    (bool (*)(struct trav_try *, int, const struct dg_ep *, const uint8_t *, size_t))other;
	if (!json_is_null(priv) && !(t->priv = mc_ckpt_load(priv, r)))
		return -1;
	return 0;
}
