/* natbed-stund request logic: RFC 8489 Binding, RFC 5780 behaviour
 * discovery, RFC 3489 classic clients. No I/O here: stund.c reads and
 * writes the sockets. */
#include "stund.h"

#include <errno.h>
#include <string.h>

#include "stunaddr.h"

/* The server's own reasons; parse failures are named by the codec. */
static const char *const drop_names[STUND_DROP_COUNT] = {
    [STUND_DROP_NOT_REQUEST] = "not_request",
    [STUND_DROP_OVERSIZE] = "oversize",
    [STUND_DROP_BUILD] = "build_failed",
    [STUND_DROP_SEND] = "send_failed",
};

const char *stund_drop_name(enum stund_drop d)
{
	if ((unsigned)d < STUN_PARSE_RESULT_COUNT)
		return stun_parse_result_name((enum stun_parse_result)d);
	if ((unsigned)d >= STUND_DROP_COUNT || !drop_names[d])
		return "unknown";
	return drop_names[d];
}

void stund_count_drop(struct stund_counters *c, enum stund_drop d)
{
	if ((unsigned)d < STUND_DROP_COUNT)
		c->drops[d]++;
}

void stund_count_sent(struct stund_counters *c, const struct stund_reply *reply, int sent)
{
	if (!sent) {
		stund_count_drop(c, STUND_DROP_SEND);
		return;
	}
	if (reply->code == 0) {
		c->success++;
		return;
	}
	c->error++;
	if (reply->code == 400)
		c->error_400++;
	else if (reply->code == 420)
		c->error_420++;
}

/* SOFTWARE, when configured. RFC 3489 §11.2 (SERVER, the same type) has
 * every attribute length a multiple of 4: classic answers pad the string
 * itself with spaces, as RFC 3489 clients insist on it. */
static void build_software(struct stun_builder *b, const struct stund_config *cfg,
			   const struct stun_msg *req)
{
	char v[STUN_MAX_REASON + 4];
	size_t n;

	if (!cfg->software)
		return;
	n = strlen(cfg->software);
	if (!req->classic || n >= STUN_MAX_REASON) {
		stun_msg_build_string(b, STUN_ATTR_SOFTWARE, cfg->software);
		return;
	}
	memcpy(v, cfg->software, n);
	while (n % 4)
		v[n++] = ' ';
	stun_msg_build_raw(b, STUN_ATTR_SOFTWARE, v, n);
}

/* Starts an answer to req in out: same method, txid (and classic form). */
static void reply_init(struct stun_builder *b, const struct stun_msg *req, uint8_t *out,
		       size_t outcap, enum stun_class cls)
{
	stun_msg_build_init(b, out, outcap, req->method, cls, req->txid, req->classic);
}

/* RFC 8489 §6.3.4 / RFC 3489 §8.2: an error response from the socket the
 * request came in on, back to its source. */
static int reply_error(const struct stund_config *cfg, const struct stun_msg *req, int code,
		       const char *reason, const uint16_t *unknown, size_t nunknown, uint8_t *out,
		       size_t outcap, struct stund_reply *reply)
{
	struct stun_builder b;
	int n;

	reply_init(&b, req, out, outcap, STUN_CLASS_ERROR);
	stun_msg_build_error(&b, code, reason);
	if (nunknown)
		stun_msg_build_unknown(&b, unknown, nunknown);
	build_software(&b, cfg, req);
	/* RFC 8489 §7.3: answer with FINGERPRINT when the request had one */
	if (req->has_fingerprint)
		stun_msg_build_fingerprint(&b);
	n = stun_msg_build_finish(&b);
	if (n < 0)
		return n;
	reply->len = (size_t)n;
	reply->code = code;
	return 0;
}

/* RFC 5780 §6.1: the socket CHANGE-REQUEST names, from the one it came in. */
static int change_sock(int in_sock, uint32_t flags)
{
	int s = in_sock;

	if (flags & STUN_CHANGE_IP)
		s ^= STUND_ALT_IP_BIT;
	if (flags & STUN_CHANGE_PORT)
		s ^= STUND_ALT_PORT_BIT;
	return s;
}

/* RFC 5780 §6.1 success answer: XOR-MAPPED-ADDRESS, RESPONSE-ORIGIN,
 * OTHER-ADDRESS, PADDING echoed; RFC 3489 §8.1 for classic requests:
 * MAPPED-ADDRESS, SOURCE-ADDRESS, CHANGED-ADDRESS. */
static int reply_success(const struct stund_config *cfg, const struct stun_msg *req, int in_sock,
			 const struct sockaddr_storage *from, uint8_t *out, size_t outcap,
			 struct stund_reply *reply)
{
	const struct sockaddr *origin = (const struct sockaddr *)&cfg->addr[reply->sock];
	const struct sockaddr *other = (const struct sockaddr *)&cfg->addr[in_sock ^ 3];
	const struct stun_attr *pad = stun_msg_find(req, STUN_ATTR_PADDING);
	struct stun_builder b;
	int n;

	reply_init(&b, req, out, outcap, STUN_CLASS_SUCCESS);
	if (req->classic) {
		stun_msg_build_addr(&b, STUN_ATTR_MAPPED_ADDRESS, (const struct sockaddr *)from);
		stun_msg_build_addr(&b, STUN_ATTR_SOURCE_ADDRESS, origin);
		if (cfg->has_alternate)
			stun_msg_build_addr(&b, STUN_ATTR_CHANGED_ADDRESS, other);
	} else {
		stun_msg_build_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS,
				    (const struct sockaddr *)from);
		/* RFC 8489 §14.1 allows MAPPED-ADDRESS for older clients; RFC 5780
		 * clients compare the two to spot an ALG rewriting addresses */
		stun_msg_build_addr(&b, STUN_ATTR_MAPPED_ADDRESS, (const struct sockaddr *)from);
		stun_msg_build_addr(&b, STUN_ATTR_RESPONSE_ORIGIN, origin);
		if (cfg->has_alternate)
			stun_msg_build_addr(&b, STUN_ATTR_OTHER_ADDRESS, other);
		/* RFC 5780 §7.6: a response to a padded request is padded alike */
		if (pad)
			stun_msg_build_padding(&b, pad->len);
	}
	build_software(&b, cfg, req);
	if (req->has_fingerprint)
		stun_msg_build_fingerprint(&b);
	n = stun_msg_build_finish(&b);
	if (n < 0)
		return n;
	reply->len = (size_t)n;
	reply->code = 0;
	return 0;
}

/* A request whose header is sound: decide the answer. */
static int answer_request(const struct stund_config *cfg, const struct stun_msg *req,
			  enum stun_parse_result pr, int in_sock,
			  const struct sockaddr_storage *from, uint8_t *out, size_t outcap,
			  struct stund_reply *reply)
{
	static const uint16_t change_request = STUN_ATTR_CHANGE_REQUEST;

	reply->sock = in_sock;
	reply->to = *from;
	/* RFC 8489 §6.3.1: a request the server can answer but which is
	 * malformed (a bad attribute) gets 400 */
	if (pr != STUN_PARSE_OK)
		return reply_error(cfg, req, 400, "Bad Request", NULL, 0, out, outcap, reply);
	if (req->method != STUN_METHOD_BINDING)
		return reply_error(cfg, req, 400, "Bad Request: unsupported method", NULL, 0, out,
				   outcap, reply);
	/* RFC 8489 §6.3.1.1: unknown comprehension-required attributes: 420 */
	if (req->nunknown)
		return reply_error(cfg, req, 420, "Unknown Attribute", req->unknown, req->nunknown,
				   out, outcap, reply);
	/* RFC 5780 §6.1: without an alternate address CHANGE-REQUEST (other
	 * than an empty one) cannot be honoured: 420 naming it */
	if (req->change_flags && !cfg->has_alternate)
		return reply_error(cfg, req, 420, "Unknown Attribute", &change_request, 1, out,
				   outcap, reply);
	if (req->has_response_port && req->response_port == 0)
		return reply_error(cfg, req, 400, "Bad Request: RESPONSE-PORT 0", NULL, 0, out,
				   outcap, reply);
	reply->sock = change_sock(in_sock, req->change_flags);
	/* RFC 5780 §6.1: RESPONSE-PORT: to the source address, at that port */
	if (req->has_response_port && !req->classic)
		stunaddr_set_port(&reply->to, req->response_port);
	if (reply_success(cfg, req, in_sock, from, out, outcap, reply) < 0) {
		/* an echoed PADDING too big for one answer is the request's fault */
		reply->sock = in_sock;
		reply->to = *from;
		return reply_error(cfg, req, 400, "Bad Request: PADDING too large", NULL, 0, out,
				   outcap, reply);
	}
	return 0;
}

int stund_handle(const struct stund_config *cfg, struct stund_counters *c, int in_sock,
		 const uint8_t *buf, size_t len, const struct sockaddr_storage *from, uint8_t *out,
		 size_t outcap, struct stund_reply *reply)
{
	enum stun_parse_result pr;
	struct stun_msg req;

	c->datagrams++;
	pr = stun_msg_parse(buf, len, STUN_PARSE_ALLOW_CLASSIC, &req, NULL, 0);
	/* Header failures, a bad FINGERPRINT (RFC 8489 §7.3: silently
	 * discarded) and any broken classic message (no cookie, so no proof it
	 * is STUN at all) are dropped without a word. */
	if (pr != STUN_PARSE_OK &&
	    (pr < STUN_PARSE_ATTR_TRUNCATED || pr == STUN_PARSE_BAD_FINGERPRINT || req.classic)) {
		reply->drop = (enum stund_drop)pr;
		stund_count_drop(c, reply->drop);
		return 0;
	}
	/* RFC 8489 §6.3.2-§6.3.4: indications and responses get no answer */
	if (req.cls != STUN_CLASS_REQUEST) {
		reply->drop = STUND_DROP_NOT_REQUEST;
		stund_count_drop(c, reply->drop);
		return 0;
	}
	c->requests++;
	if (req.classic)
		c->requests_classic++;
	if (answer_request(cfg, &req, pr, in_sock, from, out, outcap, reply) < 0) {
		reply->drop = STUND_DROP_BUILD;
		stund_count_drop(c, reply->drop);
		return 0;
	}
	return 1;
}
