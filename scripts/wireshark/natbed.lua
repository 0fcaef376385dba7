-- natbed.lua: a Wireshark dissector for natbed's own messages, the ones
-- plain STUN decoding does not explain (docs/captures.md tells how to use it).
--
--   rendezvous  REGISTER, CONNECT, INTRODUCE, LOOKUP (agents/rdvmsg.h), UDP port 4787
--   peers       connectivity checks and their answers: Binding requests and
--               successes carrying natbed's attributes (agents/peermsg.h)
--   probes      PROBE requests and echoes after a path is found (agents/probe.h)
--   gate        the zero-trust gate's AUTH exchange (docs/gate.md,
--               include/natbed/gatemsg.h), UDP port 4788
--
-- Every one is a STUN message (RFC 8489 §5 header, §14 attributes, a
-- FINGERPRINT last) with numbers Wireshark does not know (agents/nbstun.h):
-- Wireshark's STUN dissector shows their methods as "Unknown" and warns on
-- each attribute. This dissector decodes the whole message instead: header,
-- every attribute (natbed's and the standard ones natbed uses), the
-- FINGERPRINT's CRC, and which attributes each message must carry.
--
-- It registers on the rendezvous' port and as a heuristic on UDP: a STUN
-- header, one message a datagram, and a natbed method or a natbed attribute
-- make a natbed message. The heuristic takes every other STUN message too and
-- hands it to Wireshark's STUN dissector unchanged (Wireshark tries first the
-- heuristic that succeeded last: were STUN's to take one plain Binding, it
-- would take the natbed messages after it). It is also on STUN's own
-- heuristic list, so a natbed message relayed in a TURN DATA attribute
-- decodes. Wireshark tries a port's dissector before heuristics: a NAT's
-- random public port may belong to another protocol, so
-- `-o udp.try_heuristic_first:TRUE` makes every natbed message decode.
--
-- Install: scripts/setup.sh --wireshark (into ~/.local/lib/wireshark/plugins),
-- or run with `tshark -X lua_script:scripts/wireshark/natbed.lua`.

local natbed = Proto("natbed", "natbed NAT traversal messages")

-- RFC 8489 §5, §14.7
local STUN_HDR_LEN = 20
local STUN_COOKIE = 0x2112A442
local FINGERPRINT_XOR = 0x5354554E
local RDV_PORT = 4787 -- natbed-rendezvous' default (docs/agents.md)
local GATE_PORT = 4788 -- the zero-trust gate's (docs/gate.md)

local CLASS_REQUEST, CLASS_INDICATION, CLASS_SUCCESS, CLASS_ERROR = 0, 1, 2, 3
local class_names = {
	[CLASS_REQUEST] = "request",
	[CLASS_INDICATION] = "indication",
	[CLASS_SUCCESS] = "success",
	[CLASS_ERROR] = "error",
}

-- STUN methods natbed sends (agents/nbstun.h, include/natbed/gatemsg.h;
-- 0x001 is Binding)
local M_BINDING, M_REGISTER, M_CONNECT, M_INTRODUCE, M_LOOKUP, M_AUTH, M_PROBE =
	0x001, 0x0E0, 0x0E1, 0x0E2, 0x0E3, 0x0E4, 0x0E8
local method_names = {
	[M_BINDING] = "Binding",
	[M_REGISTER] = "REGISTER",
	[M_CONNECT] = "CONNECT",
	[M_INTRODUCE] = "INTRODUCE",
	[M_LOOKUP] = "LOOKUP",
	[M_AUTH] = "AUTH",
	[M_PROBE] = "PROBE",
}

-- Attributes (agents/nbstun.h: natbed's own, 0xC0E0-0xC0FF; RFC 8489 and
-- RFC 8445 for the standard ones natbed's messages carry).
local A = {
	NAME = 0xC0E0,
	PEER = 0xC0E1,
	CAND_HOST = 0xC0E2,
	CAND_SRFLX = 0xC0E3,
	CAND_RELAY = 0xC0E4,
	NAT = 0xC0E5,
	METHOD = 0xC0E6,
	TRY = 0xC0E7,
	START = 0xC0E8,
	ROLE = 0xC0E9,
	SEQ = 0xC0EA,
	LIFETIME = 0xC0EB,
	BUDGET = 0xC0EC,
	REASON = 0xC0ED,
	RESOURCE = 0xC0F0,
	TRUST = 0xC0F1,
	TTL = 0xC0F2,
	DELAY = 0xC0F3,
	RISK = 0xC0F4,
	USERNAME = 0x0006,
	MESSAGE_INTEGRITY = 0x0008,
	ERROR_CODE = 0x0009,
	NONCE = 0x0015,
	MESSAGE_INTEGRITY_SHA256 = 0x001C,
	XOR_MAPPED_ADDRESS = 0x0020,
	USE_CANDIDATE = 0x0025,
	SOFTWARE = 0x8022,
	FINGERPRINT = 0x8028,
}
local NATBED_ATTR_MIN, NATBED_ATTR_MAX = 0xC0E0, 0xC0FF

-- The messages: (method, class) -> name, the attributes it must carry and
-- those it may carry (FINGERPRINT is required of every one). The
-- rendezvous' follow agents/rdvmsg.c, the peers' agents/peermsg.c.
local kinds = {
	{M_REGISTER, CLASS_REQUEST, "register", {A.NAME, A.CAND_HOST},
		{A.CAND_SRFLX, A.CAND_RELAY, A.NAT, A.LIFETIME}},
	{M_REGISTER, CLASS_SUCCESS, "register-ok", {A.LIFETIME, A.XOR_MAPPED_ADDRESS}, {}},
	{M_REGISTER, CLASS_ERROR, "register-error", {A.ERROR_CODE}, {}},
	{M_CONNECT, CLASS_REQUEST, "connect", {A.NAME, A.PEER, A.METHOD}, {A.BUDGET}},
	{M_CONNECT, CLASS_SUCCESS, "connect-ok", {A.PEER, A.TRY}, {}},
	{M_CONNECT, CLASS_ERROR, "connect-error", {A.ERROR_CODE}, {A.PEER}},
	{M_INTRODUCE, CLASS_REQUEST, "introduce",
		{A.PEER, A.CAND_HOST, A.NAT, A.METHOD, A.TRY, A.START, A.ROLE},
		{A.CAND_SRFLX, A.CAND_RELAY, A.BUDGET}},
	{M_INTRODUCE, CLASS_SUCCESS, "introduce-ok", {A.TRY}, {}},
	{M_INTRODUCE, CLASS_ERROR, "introduce-error", {A.ERROR_CODE, A.TRY}, {}},
	{M_LOOKUP, CLASS_REQUEST, "lookup", {A.NAME, A.PEER}, {}},
	{M_LOOKUP, CLASS_SUCCESS, "lookup-ok", {A.PEER, A.CAND_HOST, A.NAT},
		{A.CAND_SRFLX, A.CAND_RELAY}},
	{M_LOOKUP, CLASS_ERROR, "lookup-error", {A.ERROR_CODE}, {A.PEER}},
	-- a check; nominating: USE-CANDIDATE and XOR-MAPPED-ADDRESS; predict's:
	-- CAND-SRFLX, the endpoint it predicted
	{M_BINDING, CLASS_REQUEST, "check", {A.TRY, A.NAME},
		{A.USE_CANDIDATE, A.XOR_MAPPED_ADDRESS, A.CAND_SRFLX}},
	{M_BINDING, CLASS_SUCCESS, "answer", {A.XOR_MAPPED_ADDRESS}, {A.TRY, A.NAME}},
	{M_PROBE, CLASS_REQUEST, "probe", {A.TRY, A.SEQ}, {}},
	{M_PROBE, CLASS_SUCCESS, "probe-echo", {A.TRY, A.SEQ}, {}},
	-- the zero-trust gate (docs/gate.md): a host asks, the gate answers
	-- after its auth delay; a refusal of an unauthentic request is unsigned
	{M_AUTH, CLASS_REQUEST, "auth", {A.USERNAME, A.NONCE, A.RESOURCE,
		A.MESSAGE_INTEGRITY_SHA256}, {}},
	{M_AUTH, CLASS_SUCCESS, "auth-ok", {A.TRUST, A.TTL, A.DELAY, A.RISK,
		A.MESSAGE_INTEGRITY_SHA256}, {}},
	{M_AUTH, CLASS_ERROR, "auth-error", {A.ERROR_CODE},
		{A.TRUST, A.DELAY, A.RISK, A.MESSAGE_INTEGRITY_SHA256}},
}

-- Methods that are natbed's whatever they carry (Binding is natbed's only
-- with a natbed attribute: a plain one is any STUN client's).
local natbed_methods = {[M_REGISTER] = true, [M_CONNECT] = true, [M_INTRODUCE] = true,
	[M_LOOKUP] = true, [M_AUTH] = true, [M_PROBE] = true}

local kind_of = {}
for _, k in ipairs(kinds) do
	kind_of[k[1] * 4 + k[2]] = {method = k[1], cls = k[2], name = k[3], req = k[4], opt = k[5]}
end

-- enum ni_map, ni_filter, ni_ports (include/natbed/natinfo.h), as
-- lib/natinfo.c names them; enum trav_role (agents/method.h)
local ni_map = {[0] = "unknown", "none", "endpoint-independent", "address-dependent",
	"address-and-port-dependent"}
local ni_ports = {[0] = "unknown", "preserve", "sequential", "random"}
local hairpin_names = {[0] = "no", [1] = "yes", [0xFF] = "unknown"}
local role_names = {[0] = "initiator", [1] = "responder"}
-- enum topo_trust: the gate's trust levels
local trust_names = {[0] = "untrusted", "low", "medium", "high", "verified"}

-- --- fields ----------------------------------------------------------------

local F = {
	type = ProtoField.uint16("natbed.type", "Message Type", base.HEX),
	type_method = ProtoField.uint16("natbed.type.method", "Method", base.HEX, method_names),
	type_class = ProtoField.uint8("natbed.type.class", "Class", base.DEC, class_names),
	msg = ProtoField.string("natbed.msg", "Message"),
	length = ProtoField.uint16("natbed.length", "Message Length", base.DEC),
	cookie = ProtoField.uint32("natbed.cookie", "Magic Cookie", base.HEX),
	txid = ProtoField.bytes("natbed.txid", "Transaction ID"),
	response_to = ProtoField.framenum("natbed.response_to", "Response to", base.NONE,
		frametype.REQUEST),
	attrs = ProtoField.none("natbed.attributes", "Attributes"),
	attr = ProtoField.uint16("natbed.attr", "Attribute", base.HEX),
	attr_len = ProtoField.uint16("natbed.attr.length", "Length", base.DEC),
	value = ProtoField.bytes("natbed.value", "Value"),
	padding = ProtoField.uint8("natbed.padding", "Padding", base.DEC),
	name = ProtoField.string("natbed.name", "Name"),
	peer = ProtoField.string("natbed.peer", "Peer"),
	method = ProtoField.string("natbed.method", "Traversal method"),
	reason = ProtoField.string("natbed.reason", "Reason"),
	software = ProtoField.string("natbed.software", "Software"),
	try = ProtoField.uint64("natbed.try", "Try", base.HEX),
	start = ProtoField.uint32("natbed.start", "Start in (ms)", base.DEC),
	role = ProtoField.uint8("natbed.role", "Receiver's role", base.DEC, role_names),
	seq = ProtoField.uint32("natbed.seq", "Probe sequence number", base.DEC),
	lifetime = ProtoField.uint32("natbed.lifetime", "Lifetime (s)", base.DEC),
	budget = ProtoField.uint32("natbed.budget", "Budget (ms)", base.DEC),
	family = ProtoField.uint8("natbed.family", "Family", base.HEX, {[1] = "IPv4", [2] = "IPv6"}),
	nat_map = ProtoField.uint8("natbed.nat.mapping", "Mapping", base.DEC, ni_map),
	nat_filter = ProtoField.uint8("natbed.nat.filtering", "Filtering", base.DEC, ni_map),
	nat_ports = ProtoField.uint8("natbed.nat.ports", "Port allocation", base.DEC, ni_ports),
	nat_hairpin = ProtoField.uint8("natbed.nat.hairpin", "Hairpin", base.HEX, hairpin_names),
	nat_stride = ProtoField.int16("natbed.nat.stride", "Port stride", base.DEC),
	nat_pcp = ProtoField.bool("natbed.nat.pcp", "Its gateway answered PCP or NAT-PMP", 8, nil,
		0x01),
	error_code = ProtoField.uint16("natbed.error.code", "Error code", base.DEC),
	error_reason = ProtoField.string("natbed.error.reason", "Reason phrase"),
	use_candidate = ProtoField.bool("natbed.use_candidate", "USE-CANDIDATE: nominates the pair"),
	fingerprint = ProtoField.uint32("natbed.fingerprint", "CRC-32", base.HEX),
	integrity = ProtoField.bytes("natbed.integrity", "HMAC"),
	user = ProtoField.string("natbed.user", "User (a host of the topology)"),
	nonce = ProtoField.string("natbed.nonce", "Nonce (a 64-bit counter, hex)"),
	resource = ProtoField.string("natbed.resource", "Resource asked for"),
	trust_level = ProtoField.uint8("natbed.trust.level", "Trust level decided at", base.DEC,
		trust_names),
	trust_now = ProtoField.uint8("natbed.trust.now", "Trust level now", base.DEC, trust_names),
	ttl = ProtoField.uint32("natbed.ttl", "Pinhole lifetime (ms)", base.DEC),
	delay = ProtoField.uint32("natbed.delay", "Auth delay (us)", base.DEC),
	risk = ProtoField.uint32("natbed.risk", "Risk (millionths)", base.DEC),
	fingerprint_ok = ProtoField.bool("natbed.fingerprint.ok", "FINGERPRINT correct"),
}

-- An XOR-address attribute's endpoint: natbed.host.addr, natbed.host.port, ...
local endpoints = {}
for _, e in ipairs({{"host", "Host candidate"}, {"srflx", "Server-reflexive candidate"},
		{"relay", "Relayed candidate"}, {"pred", "Predicted endpoint"},
		{"mapped", "Mapped endpoint"}}) do
	local key, label = e[1], e[2]
	endpoints[key] = {
		label = label,
		addr = ProtoField.ipv4("natbed." .. key .. ".addr", label .. " address"),
		port = ProtoField.uint16("natbed." .. key .. ".port", label .. " port", base.DEC),
	}
	F[key .. "_addr"] = endpoints[key].addr
	F[key .. "_port"] = endpoints[key].port
end

local fields = {}
for _, f in pairs(F) do
	fields[#fields + 1] = f
end
natbed.fields = fields

local E = {
	malformed = ProtoExpert.new("natbed.malformed", "Malformed natbed message",
		expert.group.MALFORMED, expert.severity.ERROR),
	bad_value = ProtoExpert.new("natbed.bad_value", "Attribute value out of range",
		expert.group.PROTOCOL, expert.severity.WARN),
	missing = ProtoExpert.new("natbed.missing", "Required attribute missing",
		expert.group.PROTOCOL, expert.severity.WARN),
	unknown_kind = ProtoExpert.new("natbed.unknown_kind", "natbed method in a class it does not have",
		expert.group.PROTOCOL, expert.severity.WARN),
	undecoded = ProtoExpert.new("natbed.undecoded", "Attribute natbed does not decode",
		expert.group.UNDECODED, expert.severity.WARN),
	after_fingerprint = ProtoExpert.new("natbed.after_fingerprint",
		"Attribute after FINGERPRINT (RFC 8489 §14.7: it comes last)",
		expert.group.PROTOCOL, expert.severity.WARN),
	bad_fingerprint = ProtoExpert.new("natbed.bad_fingerprint", "FINGERPRINT incorrect",
		expert.group.CHECKSUM, expert.severity.WARN),
}
natbed.experts = {E.malformed, E.bad_value, E.missing, E.unknown_kind, E.undecoded,
	E.after_fingerprint, E.bad_fingerprint}

natbed.prefs.port = Pref.uint("Rendezvous UDP port", RDV_PORT,
	"natbed-rendezvous' port (--listen IP:PORT)")
natbed.prefs.gate_port = Pref.uint("Gate UDP port", GATE_PORT,
	"the zero-trust gate's port (a topology's gate: port)")
natbed.prefs.check_fingerprint = Pref.bool("Check FINGERPRINT", true,
	"Compute each message's CRC-32 and flag a FINGERPRINT that does not match")

-- --- helpers ---------------------------------------------------------------

-- CRC-32 of ISO-HDLC (the polynomial RFC 8489 §14.7 names), table-driven.
local crc_table = {}
for i = 0, 255 do
	local c = i
	for _ = 1, 8 do
		if bit32.band(c, 1) == 1 then
			c = bit32.bxor(bit32.rshift(c, 1), 0xEDB88320)
		else
			c = bit32.rshift(c, 1)
		end
	end
	crc_table[i] = c
end

local function crc32(tvb, len)
	local c = 0xFFFFFFFF
	local b = tvb:bytes(0, len)
	for i = 0, len - 1 do
		c = bit32.bxor(crc_table[bit32.band(bit32.bxor(c, b:get_index(i)), 0xFF)],
			bit32.rshift(c, 8))
	end
	return bit32.bnot(c)
end

local function ipv4_string(u)
	return string.format("%d.%d.%d.%d", bit32.extract(u, 24, 8), bit32.extract(u, 16, 8),
		bit32.extract(u, 8, 8), bit32.extract(u, 0, 8))
end

local function method_class(t)
	local method = bit32.bor(bit32.band(t, 0x000F), bit32.rshift(bit32.band(t, 0x00E0), 1),
		bit32.rshift(bit32.band(t, 0x3E00), 2))
	local cls = bit32.bor(bit32.extract(t, 4, 1), bit32.lshift(bit32.extract(t, 8, 1), 1))
	return method, cls
end

-- The STUN header at tvb's start, if tvb is one whole STUN message:
-- method, class, message length; nil otherwise.
local function stun_header(tvb)
	local len = tvb:reported_len()
	if len < STUN_HDR_LEN or tvb:captured_len() < len then
		return nil -- cut short (a snapshot, an ICMP error's quote)
	end
	local t = tvb(0, 2):uint()
	local mlen = tvb(2, 2):uint()
	if bit32.band(t, 0xC000) ~= 0 or tvb(4, 4):uint() ~= STUN_COOKIE or mlen % 4 ~= 0 or
		STUN_HDR_LEN + mlen ~= len then
		return nil
	end
	local method, cls = method_class(t)
	return method, cls, mlen
end

-- Whether tvb is a message of natbed's: a natbed method, or a Binding
-- request or success that carries a natbed attribute.
local function is_natbed(tvb)
	local method, cls, mlen = stun_header(tvb)
	if not method then
		return false
	end
	if natbed_methods[method] then
		return true
	end
	if method ~= M_BINDING or (cls ~= CLASS_REQUEST and cls ~= CLASS_SUCCESS) then
		return false
	end
	local off, stop = STUN_HDR_LEN, STUN_HDR_LEN + mlen
	while off + 4 <= stop do
		local at, alen = tvb(off, 2):uint(), tvb(off + 2, 2):uint()
		if at >= NATBED_ATTR_MIN and at <= NATBED_ATTR_MAX then
			return true
		end
		off = off + 4 + alen + (-alen % 4)
	end
	return false
end

-- --- state across packets ----------------------------------------------------

-- Filled on the first pass over a capture, read on every pass: the traversal
-- method of each try (from INTRODUCE, and from a CONNECT's answer through
-- its request's transaction), and the first frame of each request.
local try_method, txn_method, request_frame

local function forget()
	try_method, txn_method, request_frame = {}, {}, {}
end
forget()
natbed.init = forget

-- --- attribute decoders ------------------------------------------------------
-- Each is decode(ctx, tree, value_range_or_nil, len): it adds the value's
-- fields under tree (the attribute's item) and returns a short text for the
-- Info column, or nil.

local function flag(ctx, item, e, text)
	if text then
		item:add_proto_expert_info(e, text)
	else
		item:add_proto_expert_info(e)
	end
	ctx.faults = ctx.faults + 1
end

local function want_len(ctx, tree, len, n)
	if len ~= n then
		flag(ctx, tree, E.malformed, string.format("value of %d bytes, want %d", len, n))
		return false
	end
	return true
end

-- A name or a method name: 1..max bytes; rdv_only characters [A-Za-z0-9._-].
local function text(field, key, max, strict)
	return function(ctx, tree, v, len)
		if len < 1 or len > max then
			flag(ctx, tree, E.malformed, string.format("%d bytes, want 1 to %d", len, max))
			return nil
		end
		local s = v:string()
		tree:add(field, v)
		if #s ~= len or (strict and s:find("[^%w%.%_%-]")) then
			flag(ctx, tree, E.bad_value, "characters outside [A-Za-z0-9._-]")
		end
		ctx.values[key] = s
		tree:append_text(": " .. s)
		return key .. "=" .. s
	end
end

local function utf8(field, key)
	return function(ctx, tree, v, len)
		if len == 0 then
			return nil
		end
		tree:add(field, v)
		tree:append_text(": " .. v:string())
		return key .. "=\"" .. v:string() .. "\""
	end
end

-- RFC 8489 §14.2: reserved, family, port XOR the cookie's top 16 bits,
-- address XOR the cookie (natbed's candidates are XOR-addresses too).
local function xaddr(which)
	return function(ctx, tree, v, len)
		-- in a check, CAND-SRFLX is the endpoint its sender predicted
		local key = which
		if which == "srflx" and ctx.kind and ctx.kind.name == "check" then
			key = "pred"
		end
		local ep = endpoints[key]
		if len < 4 then
			flag(ctx, tree, E.malformed, "shorter than an address")
			return nil
		end
		tree:add(F.family, v(1, 1))
		if v(1, 1):uint() ~= 1 or len ~= 8 then
			flag(ctx, tree, E.bad_value, "not an IPv4 address of 8 bytes: natbed's agents speak IPv4")
			return nil
		end
		local port = bit32.bxor(v(2, 2):uint(), bit32.rshift(STUN_COOKIE, 16))
		local addr = ipv4_string(bit32.bxor(v(4, 4):uint(), STUN_COOKIE))
		tree:add(ep.port, v(2, 2), port)
		tree:add(ep.addr, v(4, 4), Address.ip(addr))
		tree:append_text(": " .. addr .. ":" .. port)
		return string.format("%s=%s:%d", key, addr, port)
	end
end

local function uint(field, key, n, unit)
	return function(ctx, tree, v, len)
		if not want_len(ctx, tree, len, n) then
			return nil
		end
		local value = n == 8 and v:uint64() or v:uint()
		tree:add(field, v)
		ctx.values[key] = value
		tree:append_text(": " .. tostring(value) .. (unit or ""))
		return key .. "=" .. tostring(value) .. (unit or "")
	end
end

local function decode_try(ctx, tree, v, len)
	if not want_len(ctx, tree, len, 8) then
		return nil
	end
	local id = v:uint64()
	tree:add(F.try, v)
	ctx.values.try = "0x" .. id:tohex()
	tree:append_text(": " .. ctx.values.try)
	return "try=" .. ctx.values.try
end

local function decode_role(ctx, tree, v, len)
	if not want_len(ctx, tree, len, 1) then
		return nil
	end
	local r = v:uint()
	tree:add(F.role, v)
	if not role_names[r] then
		flag(ctx, tree, E.bad_value, "role " .. r .. ": 0 initiator, 1 responder")
		return nil
	end
	tree:append_text(": " .. role_names[r])
	return "role=" .. role_names[r]
end

-- 8 bytes: map, filter, ports, hairpin (0, 1, 0xFF), stride (int16),
-- flags (bit 0: PCP; the others undefined, ignored), 0
local function decode_nat(ctx, tree, v, len)
	if not want_len(ctx, tree, len, 8) then
		return nil
	end
	tree:add(F.nat_map, v(0, 1))
	tree:add(F.nat_filter, v(1, 1))
	tree:add(F.nat_ports, v(2, 1))
	tree:add(F.nat_hairpin, v(3, 1))
	tree:add(F.nat_stride, v(4, 2))
	tree:add(F.nat_pcp, v(6, 1))
	local m, f, p, h = v(0, 1):uint(), v(1, 1):uint(), v(2, 1):uint(), v(3, 1):uint()
	if not ni_map[m] or not ni_map[f] or not ni_ports[p] or not hairpin_names[h] then
		flag(ctx, tree, E.bad_value, "a NAT behaviour natbed does not have")
		return nil
	end
	tree:append_text(string.format(": mapping %s, filtering %s, ports %s", ni_map[m],
		ni_map[f], ni_ports[p]))
	return string.format("nat=%s/%s/%s", ni_map[m], ni_map[f], ni_ports[p])
end

-- RFC 8489 §14.8: 21 reserved bits, class (3 bits), number, reason phrase
local function decode_error(ctx, tree, v, len)
	if len < 4 then
		flag(ctx, tree, E.malformed, "shorter than an ERROR-CODE")
		return nil
	end
	local class, number = bit32.band(v(2, 1):uint(), 7), v(3, 1):uint()
	local code = class * 100 + number
	tree:add(F.error_code, v(2, 2), code)
	if len > 4 then
		tree:add(F.error_reason, v(4, len - 4))
	end
	if class < 3 or class > 6 or number > 99 then
		flag(ctx, tree, E.bad_value, "error code " .. code .. " out of 300..699")
	end
	local why = len > 4 and v(4, len - 4):string() or ""
	tree:append_text(": " .. code .. " " .. why)
	return string.format("error=%d \"%s\"", code, why)
end

-- NONCE in a gate's AUTH: 16 lower-case hex digits, not all zero
local function decode_nonce(ctx, tree, v, len)
	if not want_len(ctx, tree, len, 16) then
		return nil
	end
	local s = v:string()
	tree:add(F.nonce, v)
	tree:append_text(": " .. s)
	if s:find("[^0-9a-f]") or not s:find("[1-9a-f]") then
		flag(ctx, tree, E.bad_value, "not 16 lower-case hex digits of a counter above 0")
	end
	return "nonce=" .. s
end

-- TRUST: the level decided at, the level after, 0, 0
local function decode_trust(ctx, tree, v, len)
	if not want_len(ctx, tree, len, 4) then
		return nil
	end
	local at, now = v(0, 1):uint(), v(1, 1):uint()
	tree:add(F.trust_level, v(0, 1))
	tree:add(F.trust_now, v(1, 1))
	if not trust_names[at] or not trust_names[now] or v(2, 2):uint() ~= 0 then
		flag(ctx, tree, E.bad_value, "trust levels are 0 (untrusted) to 4 (verified), then 0, 0")
		return nil
	end
	tree:append_text(": " .. trust_names[at] .. " -> " .. trust_names[now])
	return "trust=" .. trust_names[at] .. "->" .. trust_names[now]
end

-- RISK: millionths, at most one million
local function decode_risk(ctx, tree, v, len)
	if not want_len(ctx, tree, len, 4) then
		return nil
	end
	local ppm = v:uint()
	tree:add(F.risk, v)
	if ppm > 1000000 then
		flag(ctx, tree, E.bad_value, "risk above 1")
	end
	tree:append_text(string.format(": %.6f", ppm / 1e6))
	return string.format("risk=%.3f", ppm / 1e6)
end

-- MESSAGE-INTEGRITY(-SHA256): shown, not checked (the key is the host's)
local function hmac(n)
	return function(ctx, tree, v, len)
		if not want_len(ctx, tree, len, n) then
			return nil
		end
		tree:add(F.integrity, v)
		return nil
	end
end

local function decode_use_candidate(ctx, tree, v, len)
	if not want_len(ctx, tree, len, 0) then
		return nil
	end
	tree:add(F.use_candidate, ctx.tvb(ctx.attr_off, 4), true)
	return "USE-CANDIDATE"
end

local function decode_fingerprint(ctx, tree, v, len)
	if not want_len(ctx, tree, len, 4) then
		return nil
	end
	tree:add(F.fingerprint, v)
	if natbed.prefs.check_fingerprint then
		local want = bit32.bxor(crc32(ctx.tvb, ctx.attr_off), FINGERPRINT_XOR)
		local ok = want == v:uint()
		tree:add(F.fingerprint_ok, v, ok):set_generated()
		if not ok then
			flag(ctx, tree, E.bad_fingerprint, string.format("FINGERPRINT incorrect: CRC-32 0x%08x, want 0x%08x",
				v:uint(), want))
		end
	end
	return nil
end

local attrs = {
	[A.NAME] = {"NAME", text(F.name, "name", 63, false)},
	[A.PEER] = {"PEER", text(F.peer, "peer", 32, true)},
	[A.CAND_HOST] = {"CAND-HOST", xaddr("host")},
	[A.CAND_SRFLX] = {"CAND-SRFLX", xaddr("srflx")},
	[A.CAND_RELAY] = {"CAND-RELAY", xaddr("relay")},
	[A.NAT] = {"NAT", decode_nat},
	[A.METHOD] = {"METHOD", text(F.method, "method", 16, true)},
	[A.TRY] = {"TRY", decode_try},
	[A.START] = {"START", uint(F.start, "start", 4, " ms")},
	[A.ROLE] = {"ROLE", decode_role},
	[A.SEQ] = {"SEQ", uint(F.seq, "seq", 4)},
	[A.LIFETIME] = {"LIFETIME", uint(F.lifetime, "lifetime", 4, " s")},
	[A.BUDGET] = {"BUDGET", uint(F.budget, "budget", 4, " ms")},
	[A.REASON] = {"REASON", utf8(F.reason, "reason")},
	[A.RESOURCE] = {"RESOURCE", utf8(F.resource, "resource")},
	[A.TRUST] = {"TRUST", decode_trust},
	[A.TTL] = {"TTL", uint(F.ttl, "ttl", 4, " ms")},
	[A.DELAY] = {"DELAY", uint(F.delay, "delay", 4, " us")},
	[A.RISK] = {"RISK", decode_risk},
	[A.USERNAME] = {"USERNAME", utf8(F.user, "user")},
	[A.NONCE] = {"NONCE", decode_nonce},
	[A.MESSAGE_INTEGRITY] = {"MESSAGE-INTEGRITY", hmac(20)},
	[A.MESSAGE_INTEGRITY_SHA256] = {"MESSAGE-INTEGRITY-SHA256", hmac(32)},
	[A.ERROR_CODE] = {"ERROR-CODE", decode_error},
	[A.XOR_MAPPED_ADDRESS] = {"XOR-MAPPED-ADDRESS", xaddr("mapped")},
	[A.USE_CANDIDATE] = {"USE-CANDIDATE", decode_use_candidate},
	[A.SOFTWARE] = {"SOFTWARE", utf8(F.software, "software")},
	[A.FINGERPRINT] = {"FINGERPRINT", decode_fingerprint},
}

local attr_names = {}
for t, a in pairs(attrs) do
	attr_names[t] = a[1]
end

-- --- the message -------------------------------------------------------------

-- Decodes the attributes from STUN_HDR_LEN to stop under tree; returns
-- the set of types seen and the Info texts.
local function dissect_attrs(ctx, tree, stop)
	local seen, info = {}, {}
	local off = STUN_HDR_LEN
	local fingerprint_at
	while off < stop do
		if off + 4 > stop then
			flag(ctx, tree:add(F.value, ctx.tvb(off, stop - off)), E.malformed,
				"an attribute header cut short")
			break
		end
		local at, alen = ctx.tvb(off, 2):uint(), ctx.tvb(off + 2, 2):uint()
		local pad = -alen % 4
		if off + 4 + alen > stop then
			local item = tree:add(F.attr, ctx.tvb(off, stop - off), at)
			flag(ctx, item, E.malformed, string.format(
				"attribute 0x%04x of %d bytes runs past the message", at, alen))
			break
		end
		local item = tree:add(F.attr, ctx.tvb(off, math.min(4 + alen + pad, stop - off)), at)
		local a = attrs[at]
		item:set_text(string.format("%s (0x%04x)", a and a[1] or "Unknown attribute", at))
		item:add(F.attr_len, ctx.tvb(off + 2, 2))
		local v = alen > 0 and ctx.tvb(off + 4, alen) or nil
		ctx.attr_off = off
		if fingerprint_at then
			flag(ctx, item, E.after_fingerprint, nil)
		end
		if a then
			local s = a[2](ctx, item, v, alen)
			if s then
				info[#info + 1] = s
			end
		else
			if v then
				item:add(F.value, v)
			end
			flag(ctx, item, E.undecoded, string.format("attribute 0x%04x", at))
		end
		if pad > 0 and off + 4 + alen + pad <= stop then
			item:add(F.padding, ctx.tvb(off + 4 + alen, pad), pad)
		end
		if at == A.FINGERPRINT then
			fingerprint_at = off
		end
		seen[at] = true
		off = off + 4 + alen + pad
	end
	return seen, info
end

-- Every required attribute (and FINGERPRINT) of the kind present?
local function check_required(ctx, root, kind, seen)
	local req = {A.FINGERPRINT}
	for _, t in ipairs(kind.req) do
		req[#req + 1] = t
	end
	for _, t in ipairs(req) do
		if not seen[t] then
			flag(ctx, root, E.missing, string.format("%s has no %s", kind.name, attr_names[t]))
		end
	end
end

-- What the capture already told about this message's try and transaction.
local function remember(ctx, pinfo, root, method, cls)
	local txid = ctx.txid
	local v = ctx.values
	if not pinfo.visited then
		if cls == CLASS_REQUEST and not request_frame[txid] then
			request_frame[txid] = pinfo.number
		end
		if v.try and v.method then
			try_method[v.try] = v.method
		end
		if method == M_CONNECT and cls == CLASS_REQUEST and v.method then
			txn_method[txid] = v.method
		elseif method == M_CONNECT and cls == CLASS_SUCCESS and v.try and txn_method[txid] then
			try_method[v.try] = txn_method[txid]
		end
	end
	if (cls == CLASS_SUCCESS or cls == CLASS_ERROR) and request_frame[txid] and
		request_frame[txid] < pinfo.number then
		root:add(F.response_to, request_frame[txid]):set_generated()
	end
	if v.try and not v.method and try_method[v.try] then
		root:add(F.method, try_method[v.try]):set_generated()
	end
end

-- Dissects the natbed message that is all of tvb (is_natbed(tvb) holds).
-- nested: it travels inside another protocol (a TURN DATA attribute).
local function dissect(tvb, pinfo, tree, nested)
	local method, cls, mlen = stun_header(tvb)
	local t = tvb(0, 2):uint()
	local kind = kind_of[method * 4 + cls]
	local ctx = {tvb = tvb, kind = kind, values = {}, faults = 0,
		txid = tostring(tvb(8, 12):bytes())}
	local mname = method_names[method] or string.format("method 0x%03x", method)
	local label = kind and kind.name or (mname .. " " .. class_names[cls])

	local root = tree:add(natbed, tvb(), "natbed " .. label)
	local ti = root:add(F.type, tvb(0, 2))
	ti:add(F.type_method, tvb(0, 2), method)
	ti:add(F.type_class, tvb(0, 2), cls)
	ti:append_text(string.format(" (%s %s)", mname, class_names[cls]))
	root:add(F.msg, label):set_generated()
	root:add(F.length, tvb(2, 2))
	root:add(F.cookie, tvb(4, 4))
	root:add(F.txid, tvb(8, 12))
	local at = root:add(F.attrs, tvb(STUN_HDR_LEN, mlen))
	local seen, info = dissect_attrs(ctx, at, STUN_HDR_LEN + mlen)
	if kind then
		check_required(ctx, root, kind, seen)
	else
		flag(ctx, ti, E.unknown_kind, string.format("%s has no %s", mname, class_names[cls]))
	end
	remember(ctx, pinfo, root, method, cls)

	pinfo.cols.protocol = "natbed"
	local text = label .. (#info > 0 and " " .. table.concat(info, " ") or "")
	if nested then
		pinfo.cols.info:append(" [" .. text .. "]")
	else
		pinfo.cols.info = text
	end
	return tvb:len()
end

-- --- registration ------------------------------------------------------------

-- Wireshark's STUN dissector, for the STUN messages that are not natbed's.
local stun_udp = Dissector.get("stun-udp")

-- RFC 8656 §17 (TURN) and RFC 6062: the methods after which Wireshark's
-- STUN heuristic sticks to a 5-tuple (so that ChannelData there decodes).
local function is_turn(method)
	return method >= 0x003 and method <= 0x00C
end

-- The rendezvous' port and the 5-tuples handed to natbed: natbed's
-- messages, and whatever else Wireshark's STUN dissector takes (plain STUN,
-- TURN, ChannelData); 0 when neither (another dissector may try).
function natbed.dissector(tvb, pinfo, tree)
	if is_natbed(tvb) then
		return dissect(tvb, pinfo, tree, false)
	end
	return stun_udp:call(tvb, pinfo, tree)
end

-- On UDP: every STUN message. Wireshark tries first the heuristic that
-- succeeded last, so if its STUN heuristic took one plain Binding request
-- it would take every natbed message after it: natbed's takes them all and
-- gives the plain ones to the STUN dissector, unchanged.
local function heur_udp(tvb, pinfo, tree)
	local method = stun_header(tvb)
	if not method then
		return false
	end
	if is_natbed(tvb) then
		dissect(tvb, pinfo, tree, false)
		return true
	end
	if stun_udp:call(tvb, pinfo, tree) == 0 then
		return false
	end
	if is_turn(method) then
		pinfo.conversation = natbed -- as the STUN heuristic does, through natbed
	end
	return true
end

-- Inside STUN: a TURN DATA attribute's payload (RFC 8656 §14.4).
local function heur_stun(tvb, pinfo, tree)
	if not is_natbed(tvb) then
		return false
	end
	dissect(tvb, pinfo, tree, true)
	return true
end

local udp_port = DissectorTable.get("udp.port")
local registered = {port = natbed.prefs.port, gate_port = natbed.prefs.gate_port}
for _, p in pairs(registered) do
	udp_port:add(p, natbed)
end

function natbed.prefs_changed()
	for key, p in pairs(registered) do
		if natbed.prefs[key] ~= p then
			udp_port:remove(p, natbed)
			registered[key] = natbed.prefs[key]
			udp_port:add(registered[key], natbed)
		end
	end
end

natbed:register_heuristic("udp", heur_udp)
natbed:register_heuristic("stun", heur_stun)
