/* libFuzzer harness for the rendezvous message codec (agents/rdvmsg.c):
 * parse any bytes; a message that parses must build again, and what it
 * builds must parse to the same message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rdvmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_trap(const struct rdv_msg *a, const struct rdv_msg *b)
{
	if (a->kind != b->kind || a->attrs != b->attrs ||
	    memcmp(a->txid, b->txid, STUN_TXID_LEN) != 0 || strcmp(a->name, b->name) != 0 ||
	    strcmp(a->peer, b->peer) != 0 || strcmp(a->method, b->method) != 0 ||
	    !dg_ep_eq(&a->cand.host, &b->cand.host) || !dg_ep_eq(&a->cand.srflx, &b->cand.srflx) ||
	    !dg_ep_eq(&a->cand.relay, &b->cand.relay) || !dg_ep_eq(&a->mapped, &b->mapped) ||
	    memcmp(&a->cand.nat, &b->cand.nat, sizeof(a->cand.nat)) != 0 ||
	    a->lifetime_s != b->lifetime_s || a->budget_ms != b->budget_ms ||
	    a->start_ms != b->start_ms || a->try_id != b->try_id || a->role != b->role ||
	    a->error_code != b->error_code)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[DG_MAX * 2];
	struct rdv_msg m, again;
	enum rdv_parse r;
	int n;

	r = rdvmsg_parse(data, size, &m);
	if ((unsigned)r >= RDV_PARSE_COUNT)
		__builtin_trap();
	if (r != RDV_PARSE_OK)
		return 0;
	n = rdvmsg_build(&m, out, sizeof(out));
	if (n <= 0 || rdvmsg_parse(out, (size_t)n, &again) != RDV_PARSE_OK)
		__builtin_trap();
	same_or_trap(&m, &again);
	return 0;
}
