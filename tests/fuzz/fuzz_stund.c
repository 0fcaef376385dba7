/* libFuzzer harness for natbed-stund's request logic (agents/stund_serve.c):
 * any datagram on any of the four sockets, from an IPv4 or IPv6 source;
 * every answer must itself be a STUN message that parses. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../agents/stund.h"
#include "../../agents/stunaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[STUND_MAX_DGRAM];
	struct stund_config cfg = {.software = "fuzz"};
	struct stund_counters c = {0};
	struct sockaddr_storage from;
	struct stund_reply reply;
	struct stun_msg m;

	if (size < 1)
		return 0;
	stunaddr_parse("198.51.100.10:3478", 0, &cfg.addr[0]);
	stunaddr_parse("198.51.100.10:3479", 0, &cfg.addr[1]);
	stunaddr_parse("198.51.100.11:3478", 0, &cfg.addr[2]);
	stunaddr_parse("198.51.100.11:3479", 0, &cfg.addr[3]);
	cfg.has_alternate = data[0] & 1;
	stunaddr_parse(data[0] & 2 ? "[2001:db8::2]:40000" : "198.51.100.2:40000", 0, &from);
	if (stund_handle(&cfg, &c, cfg.has_alternate ? (data[0] >> 2) & 3 : 0, data + 1, size - 1,
			 &from, out, sizeof(out), &reply)) {
		if (stun_msg_parse(out, reply.len, STUN_PARSE_ALLOW_CLASSIC, &m, NULL, 0) !=
			STUN_PARSE_OK ||
		    reply.sock < 0 || reply.sock >= STUND_SOCKETS)
			__builtin_trap();
		stund_count_sent(&c, &reply, 1);
	}
	uint64_t drops = 0;

	for (int i = 0; i < STUND_DROP_COUNT; i++)
		drops += c.drops[i];
	/* every datagram is answered or counted as dropped */
	if (c.datagrams != 1 || c.success + c.error + drops != 1)
		__builtin_trap();
	return 0;
}
