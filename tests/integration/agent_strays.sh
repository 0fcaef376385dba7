#!/usr/bin/env bash
# Issue 10: truncated, unknown and spoofed messages to a serving agent, on
# real packets, are counted and ignored (tests/integration/rendezvous.sh
# does the same to the rendezvous). alice serves on a public host; mallory,
# another public host, sends her main socket:
#  - garbage (not STUN) and a STUN header whose length runs past the
#    datagram (truncated): counted `tries.stray.not_stun`;
#  - a plain Binding request (STUN, no message of ours), a peer check and a
#    probe of a try nobody runs (with FINGERPRINT, as agents send them):
#    counted `tries.stray.unclaimed`;
#  - an INTRODUCE naming bob as the peer and a REGISTER success, both as
#    if from the rendezvous but from mallory's address: counted
#    `rendezvous.drops.not_rendezvous` (docs/agents.md).
# Then bob, behind a port-restricted NAT, connects to alice (punch): she
# answers him as if nothing had come, and her counters say exactly the
# above, one try run and no try started by mallory.
. "$(dirname "$0")/../lib.sh"
nb_need jq /usr/bin/python3
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
bg() { local h=$1 log=$2; shift 2; nb_bg natbed exec --prefix "$NB_PREFIX" "$h" -- "$@" 2>"$log"; }
common=(--rendezvous 198.51.100.20 --stun 198.51.100.10)

cat >"$NB_TMP/strays.yaml" <<'EOF'
name: strays
seed: 4
defaults:
  link: { delay: 2ms }
nats:
  pr: { preset: port-restricted, public: 203.0.113.32, inside: 192.168.32.0/24 }
hosts:
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  rdv:
    address: 198.51.100.20
    run: natbed-rendezvous --listen 198.51.100.20
  alice: { address: 198.51.100.30 }
  mallory: { address: 198.51.100.66 }
  bob: { nat: pr }
EOF
nb_up "$NB_TMP/strays.yaml"
bg alice "$NB_TMP/alice.log" natbed-agent serve --name alice "${common[@]}" --nat open \
	--bind 0.0.0.0:40000 --stats "$NB_TMP/alice.stats"
alice_pid=${NB_PIDS[-1]}
nb_wait_for 30 "alice registered" grep -q "registered as alice" "$NB_TMP/alice.log"

cat >"$NB_TMP/strays.py" <<'EOF'
import os, socket, struct, sys, zlib
to = (sys.argv[1], 40000)
COOKIE = 0x2112A442
def stype(method, cls):  # RFC 8489 §5: the method's bits around the class's
    return ((method & 0xF80) << 2) | ((method & 0x70) << 1) | (method & 0xF) | \
        ((cls & 2) << 7) | ((cls & 1) << 4)
def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * (-len(v) % 4)
def msg(method, cls, body, fingerprint=True):
    txid = os.urandom(12)
    if not fingerprint:
        return struct.pack("!HHI", stype(method, cls), len(body), COOKIE) + txid + body
    head = struct.pack("!HHI", stype(method, cls), len(body) + 8, COOKIE) + txid
    crc = (zlib.crc32(head + body) ^ 0x5354554E) & 0xFFFFFFFF
    return head + body + attr(0x8028, struct.pack("!I", crc))
REQ, OK = 0, 2
try_id = attr(0xC0E7, struct.pack("!Q", 0x0BADC0FFEE0DDF00))
name = attr(0xC0E0, b"bob")
sends = [
    b"\x17\x03\x03",                                       # not STUN
    struct.pack("!HHI", 0x0001, 64, COOKIE) + os.urandom(12) + b"\0" * 8,  # truncated
    msg(0x001, REQ, b"", fingerprint=False),               # a plain Binding request
    msg(0x001, REQ, try_id + name),                        # a check of no try
    msg(0x0E8, REQ, try_id + attr(0xC0EA, struct.pack("!I", 1))),  # a probe of no try
    msg(0x0E2, REQ, attr(0xC0E1, b"bob") + attr(0xC0E6, b"punch") + try_id
        + attr(0xC0E8, struct.pack("!I", 100)) + attr(0xC0E9, b"\1")),  # INTRODUCE
    msg(0x0E0, OK, attr(0xC0EB, struct.pack("!I", 30))),  # REGISTER success
]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for d in sends:
    s.sendto(d, to)
EOF
x mallory /usr/bin/python3 "$NB_TMP/strays.py" 198.51.100.30 || nb_fail "sending the strays"

# bob reaches the real alice as if nothing had come
x bob natbed-agent connect --name bob "${common[@]}" --nat port-restricted --peer alice \
	--method punch >"$NB_TMP/bob.json" 2>"$NB_TMP/bob.log" ||
	nb_fail "bob -> alice after the strays: $(cat "$NB_TMP/bob.json" "$NB_TMP/bob.log")"
jq -e '.success and .remote == "198.51.100.30:40000" and .loss == 0' "$NB_TMP/bob.json" >/dev/null ||
	nb_fail "bob -> alice: $(cat "$NB_TMP/bob.json")"

kill -TERM "$alice_pid"
nb_wait_gone 10 "$alice_pid"
nb_wait_for 5 "alice's stats" test -s "$NB_TMP/alice.stats"
jq -e '.tries.stray.not_stun == 2 and .tries.stray.unclaimed == 3
	and .rendezvous.drops.not_rendezvous == 2 and .rendezvous.introductions == 1
	and .tries.run == 1 and .tries.ok == 1 and .tries.failed == 0' "$NB_TMP/alice.stats" >/dev/null ||
	nb_fail "alice's counters: $(jq -c '{rendezvous, tries}' "$NB_TMP/alice.stats")"
nb_pass "agent strays: 2 not STUN, 3 unclaimed, 2 spoofed rendezvous messages counted and ignored; bob connected"
