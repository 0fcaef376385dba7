/* libFuzzer harness for the STUN codec: parse any bytes (RFC 8489 and
 * classic), read every attribute the API decodes, check both integrities,
 * and rebuild the attributes into a message that must parse again. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "natbed/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t addr_types[] = {
    STUN_ATTR_MAPPED_ADDRESS,	STUN_ATTR_XOR_MAPPED_ADDRESS, STUN_ATTR_RESPONSE_ORIGIN,
    STUN_ATTR_OTHER_ADDRESS,	STUN_ATTR_SOURCE_ADDRESS,     STUN_ATTR_CHANGED_ADDRESS,
    STUN_ATTR_RESPONSE_ADDRESS,
};

static void rebuild(const struct stun_msg *m)
{
	static uint8_t out[70000];
	struct stun_builder b;
	struct stun_msg again;
	int n;

	stun_msg_build_init(&b, out, sizeof(out), m->method, m->cls, m->txid, m->classic);
	for (size_t i = 0; i < m->nattrs; i++) {
		const struct stun_attr *a = &m->attrs[i];

		if (a->type == STUN_ATTR_MESSAGE_INTEGRITY ||
		    a->type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
		    a->type == STUN_ATTR_FINGERPRINT)
			continue;
		stun_msg_build_raw(&b, a->type, stun_attr_value(m, a), a->len);
	}
	stun_msg_build_fingerprint(&b);
	n = stun_msg_build_finish(&b);
	/* every attribute the parser kept is valid, so the rebuilt message
	 * (no larger than the original plus a FINGERPRINT) parses */
	if (n < 0 || stun_msg_parse(out, (size_t)n, STUN_PARSE_ALLOW_CLASSIC, &again, NULL, 0) !=
			 STUN_PARSE_OK)
		__builtin_trap();
	if (again.nattrs > m->nattrs + 1 || again.method != m->method || again.cls != m->cls)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[] = "VOkJxbRl1RmTxUk/WvJxBt";
	struct sockaddr_storage sa;
	char err[128], reason[STUN_MAX_REASON + 1];
	struct stun_msg m;

	for (unsigned flags = 0; flags <= STUN_PARSE_ALLOW_CLASSIC; flags++) {
		enum stun_parse_result r = stun_msg_parse(data, size, flags, &m, err, sizeof(err));

		if (stun_parse_result_name(r)[0] == '\0')
			__builtin_trap();
		if (r != STUN_PARSE_OK)
			continue;
		if (m.len != size)
			__builtin_trap();
		for (size_t i = 0; i < sizeof(addr_types) / sizeof(addr_types[0]); i++)
			stun_msg_get_addr(&m, addr_types[i], &sa);
		stun_msg_get_error(&m, reason, sizeof(reason));
		stun_msg_check_integrity(&m, false, key, sizeof(key) - 1);
		stun_msg_check_integrity(&m, true, key, sizeof(key) - 1);
		rebuild(&m);
	}
	return 0;
}
