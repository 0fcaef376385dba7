/* natbed check: every STUN message of every capture is well formed, as
 * lib/stun.c's parser judges it (RFC 8489 §6.3 and §14, FINGERPRINT). */
#include <string.h>

#include "check_int.h"
#include "natbed/stun.h"

/* The ports classic RFC 3489 messages (no magic cookie) are recognised on:
 * the STUN port and RFC 5780's alternate. */
#define CK_STUN_PORT	 3478
#define CK_STUN_PORT_ALT 3479

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RFC 8489 §6.3 and RFC 7983 §7: a datagram is STUN when its first two
 * bits are zero and it carries the magic cookie; an RFC 3489 message when,
 * on a STUN port, its length field says exactly the datagram. Returns the
 * parse flags, or -1 when it is not STUN. */
static int stun_kind(const struct ck_pkt *p, const uint8_t *b, size_t len)
{
	size_t body;

	if (len < STUN_HEADER_LEN || (b[0] & 0xc0) != 0)
		return -1;
	if (rd32(b + 4) == STUN_MAGIC_COOKIE)
		return 0;
	body = (size_t)b[2] << 8 | b[3];
	if ((p->sport == CK_STUN_PORT || p->dport == CK_STUN_PORT || p->sport == CK_STUN_PORT_ALT ||
	     p->dport == CK_STUN_PORT_ALT) &&
	    body % 4 == 0 && body + STUN_HEADER_LEN == len)
		return STUN_PARSE_ALLOW_CLASSIC;
	return -1;
}

void ck_stun_check(void *ctx, const struct ck_cap *c, const struct ck_pkt *p,
		   const uint8_t *payload, size_t len)
{
	struct ck_stun *s = ctx;
	const struct ck_ref ref = {c->file, p->no};
	char a[CK_EP_STR], b[CK_EP_STR], why[160] = "";
	enum stun_parse_result r;
	struct stun_msg msg;
	int flags = stun_kind(p, payload, len);

	if (flags < 0)
		return;
	s->messages++;
	r = stun_msg_parse(payload, len, (unsigned)flags, &msg, why, sizeof(why));
	if (r == STUN_PARSE_OK)
		return;
	s->bad++;
	ck_violation(s->rep, s->row, &ref, 1, "%s -> %s: malformed STUN message (%s): %s",
		     ck_ep_str((struct ck_ep){p->src, p->sport}, a),
		     ck_ep_str((struct ck_ep){p->dst, p->dport}, b), stun_parse_result_name(r),
		     why[0] ? why : "rejected by the parser");
}
