/* libFuzzer harness for the gate's auth messages (lib/gatemsg.c): any
 * bytes as a request and as an answer. A request that parses builds again
 * into one that parses to the same fields, and checks with the key it was
 * built with; its resource reads back from its own text; an answer that
 * parses builds again into the same answer. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "natbed/gatemsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[] = "fuzz-key";

static void fuzz_request(const uint8_t *data, size_t size)
{
	struct gatemsg_req req, again;
	struct gatemsg_resource r;
	uint8_t out[GATEMSG_MAX];
	char text[GATEMSG_RESOURCE_MAX + 1];
	int n;

	if (gatemsg_parse_request(data, size, &req) != GATEMSG_OK)
		return;
	gatemsg_request_check(&req, key, sizeof(key) - 1);
	gatemsg_resource_str(&req.res, text, sizeof(text));
	if (gatemsg_resource_parse(text, &r) < 0 || r.kind != req.res.kind ||
	    r.addr != req.res.addr || r.port != req.res.port)
		__builtin_trap();
	n = gatemsg_build_request(out, sizeof(out), req.txid, req.user, req.nonce, req.resource,
				  key, sizeof(key) - 1);
	if (n <= 0 || gatemsg_parse_request(out, (size_t)n, &again) != GATEMSG_OK ||
	    strcmp(again.user, req.user) || again.nonce != req.nonce ||
	    strcmp(again.resource, req.resource) ||
	    gatemsg_request_check(&again, key, sizeof(key) - 1) != 0)
		__builtin_trap();
}

static void fuzz_answer(const uint8_t *data, size_t size)
{
	struct gatemsg_ans a, again;
	uint8_t out[GATEMSG_MAX];
	int n;

	if (gatemsg_parse_answer(data, size, NULL, 0, &a) < 0)
		return;
	gatemsg_parse_answer(data, size, key, sizeof(key) - 1, &again);
	n = gatemsg_build_answer(out, sizeof(out), &a, key, sizeof(key) - 1);
	if (n <= 0 || gatemsg_parse_answer(out, (size_t)n, key, sizeof(key) - 1, &again) < 0 ||
	    !again.authenticated || again.granted != a.granted || again.code != a.code ||
	    again.has_trust != a.has_trust || again.ttl_ms != a.ttl_ms ||
	    strcmp(again.reason, a.reason) != 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_request(data, size);
	fuzz_answer(data, size);
	return 0;
}
