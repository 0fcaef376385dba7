/* libFuzzer harness for the messages between peers (agents/peermsg.c):
 * parse any bytes; what parses and can be built again must build into a
 * message that parses to the same fields; every check must have an
 * answer that builds and parses. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../agents/peermsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const struct peermsg *a, const struct peermsg *b)
{
	return a->kind == b->kind && memcmp(a->txid, b->txid, STUN_TXID_LEN) == 0 &&
	       a->has_try == b->has_try && (!a->has_try || a->try_id == b->try_id) &&
	       strcmp(a->name, b->name) == 0 && a->nominate == b->nominate &&
	       a->has_mapped == b->has_mapped &&
	       (!a->has_mapped || dg_ep_eq(&a->mapped, &b->mapped)) && a->has_pred == b->has_pred &&
	       (!a->has_pred || dg_ep_eq(&a->pred, &b->pred)) && a->seq == b->seq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct dg_ep from = {0x0100007f, 0x3930};
	uint8_t out[PEERMSG_MAX];
	struct peermsg m, again, ans;
	int n;

	if (peermsg_parse(data, size, &m) != PEERMSG_OK)
		return 0;
	/* fields this file does not carry for the kind are dropped by build */
	if (m.kind != PEERMSG_CHECK)
		m.nominate = m.has_pred = false;
	if (m.kind == PEERMSG_PROBE || m.kind == PEERMSG_PROBE_ANSWER)
		m.has_mapped = false;
	if (m.kind != PEERMSG_PROBE && m.kind != PEERMSG_PROBE_ANSWER)
		m.seq = 0;
	n = peermsg_build(&m, out, sizeof(out));
	/* a nominating check without its address parses, but is not built */
	if (n == -EINVAL && m.nominate && !m.has_mapped)
		return 0;
	if (n <= 0 || peermsg_parse(out, (size_t)n, &again) != PEERMSG_OK || !same(&m, &again))
		__builtin_trap();
	if (m.kind == PEERMSG_CHECK || m.kind == PEERMSG_PROBE) {
		peermsg_answer_of(&m, &from, &ans);
		n = peermsg_build(&ans, out, sizeof(out));
		if (n <= 0 || peermsg_parse(out, (size_t)n, &again) != PEERMSG_OK ||
		    memcmp(again.txid, m.txid, STUN_TXID_LEN) != 0)
			__builtin_trap();
	}
	return 0;
}
