#!/usr/bin/env bash
# The rendezvous and the agents end to end, on real sockets through
# natbed-emu: natbed-stund, natbed-rendezvous on a public host, alice on
# the public internet and bob behind a full-cone NAT, each serving; then
# each connects to the other with the tests' method (a Binding request
# each way, tests/support/method_testbind.c) and probes the path.
#  - each connect prints one JSON line with every key, success, a direct
#    path between alice's address and the NAT's public one, no loss;
#  - a connect to a name nobody registered fails (exit 1) naming why;
#  - six agents behind a port-restricted NAT connect to alice at once with
#    direct: her one serve runs their tries side by side on one socket,
#    and each try gets its own checks (every one connects, to her);
#  - a REGISTER of alice's name from another host, a truncated and a
#    foreign (Binding) datagram are counted by the rendezvous and ignored:
#    the connects that follow still reach the real alice;
#  - the captures: only REGISTER, CONNECT and INTRODUCE ever went between
#    the agents and the rendezvous host; the checks and the probes went
#    both ways between alice and the NAT's public address.
. "$NATBED_SRC/tests/lib.sh"
nb_need tshark jq
PY=$(command -v /usr/bin/python3 || command -v python3) || nb_skip "python3 not installed"
AGENT=$NATBED_BUILD/tests/integration/natbed-agent-test
[ -x "$AGENT" ] || nb_fail "$AGENT not built"

x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
RDV=198.51.100.20 ALICE=198.51.100.30 NAT=203.0.113.31 STUN=198.51.100.10
common=(--rendezvous "$RDV" --stun "$STUN")

topo=$NB_TMP/rdv.yaml
cat >"$topo" <<'EOF'
name: rdv
seed: 9
nats:
  fc: { preset: full-cone, public: 203.0.113.31, inside: 192.168.31.0/24 }
  pr: { preset: port-restricted, public: 203.0.113.32, inside: 192.168.32.0/24 }
hosts:
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  rdv: { address: 198.51.100.20 }
  alice: { address: 198.51.100.30 }
  mallory: { address: 198.51.100.66 }
  bob: { nat: fc, address: 192.168.31.10 }
  carol: { nat: pr, address: 192.168.32.10 }
EOF
nb_up "$topo"
nb_stund_ready bob "$STUN"

# natbed exec execs its command: the pid nb_bg keeps is the program's
bg() { local h=$1 log=$2; shift 2; nb_bg natbed exec --prefix "$NB_PREFIX" "$h" -- "$@" 2>"$log"; }
bg rdv "$NB_TMP/rdv.log" natbed-rendezvous --listen "$RDV" --stats "$NB_TMP/rdv.stats"
rdv_pid=${NB_PIDS[-1]}
nb_wait_for 10 "the rendezvous' ready line" grep -q "listening on $RDV:4787" "$NB_TMP/rdv.log"
bg alice "$NB_TMP/alice.log" "$AGENT" serve --name alice "${common[@]}" --stats "$NB_TMP/alice.stats"
alice_pid=${NB_PIDS[-1]}
bg bob "$NB_TMP/bob.log" "$AGENT" serve --name bob "${common[@]}"
nb_wait_for 30 "alice registered" grep -q "registered as alice" "$NB_TMP/alice.log"
nb_wait_for 30 "bob registered" grep -q "registered as bob" "$NB_TMP/bob.log"
grep -q "srflx $NAT:" "$NB_TMP/bob.log" || nb_fail "bob's srflx is not the NAT's: $(cat "$NB_TMP/bob.log")"

# --- spoofed, truncated and foreign datagrams to the rendezvous ----------
# REGISTER (0x0E0) of "alice" with a host candidate (XOR-address), from
# mallory; the same cut short; a Binding request.
cat >"$NB_TMP/spoof.py" <<'EOF'
import os, socket, struct, sys
rdv = (sys.argv[1], 4787)
def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * (-len(v) % 4)
def msg(mtype, body, txid):
    return struct.pack("!HHI", mtype, len(body), 0x2112A442) + txid + body
txid = os.urandom(12)
xport = 5000 ^ 0x2112
xaddr = bytes(a ^ b for a, b in zip(socket.inet_aton("198.51.100.66"), b"\x21\x12\xa4\x42"))
body = attr(0xC0E0, b"alice") + attr(0xC0E2, struct.pack("!BBH", 0, 1, xport) + xaddr)
register = msg(0x02C0, body, txid)  # REGISTER request: method 0x0E0, class request
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5000))
s.sendto(register, rdv)
s.sendto(register[:len(register) - 6], rdv)
s.sendto(msg(0x0001, b"", os.urandom(12)), rdv)
EOF
x mallory "$PY" "$NB_TMP/spoof.py" "$RDV" || nb_fail "sending the spoofed datagrams"

# --- connects both ways, and one to nobody -------------------------------
connect() { # HOST NAME PEER OUT
	x "$1" timeout 90 "$AGENT" connect --name "$2" --peer "$3" --method testbind --probes 10 \
		"${common[@]}" >"$4" 2>"$4.err"
}
connect bob bob2 alice "$NB_TMP/b2a.json" || nb_fail "bob2 -> alice: exit $?: $(cat "$NB_TMP/b2a.json" "$NB_TMP/b2a.json.err")"
connect alice alice2 bob "$NB_TMP/a2b.json" || nb_fail "alice2 -> bob: exit $?: $(cat "$NB_TMP/a2b.json" "$NB_TMP/a2b.json.err")"
connect alice alice3 nobody "$NB_TMP/none.json"
st=$?
[ "$st" -eq 1 ] || nb_fail "a connect to nobody exits $st, want 1"

# six at once from behind one NAT: their tries overlap at alice's serve
many=()
for i in 1 2 3 4 5 6; do
	x carol timeout 90 "$AGENT" connect --name "carol$i" --peer alice --method direct \
		--probes 3 --nat port-restricted "${common[@]}" >"$NB_TMP/c$i.json" 2>"$NB_TMP/c$i.err" &
	many+=($!)
done
for i in 1 2 3 4 5 6; do
	wait "${many[$((i - 1))]}" || nb_fail "carol$i -> alice: exit $?: $(cat "$NB_TMP/c$i.json" "$NB_TMP/c$i.err")"
done

# one JSON line each, every key, the values the topology gives
cat >"$NB_TMP/check.py" <<'EOF'
import json, sys
path, want_ok, local, remote = sys.argv[1], sys.argv[2] == "ok", sys.argv[3], sys.argv[4]
lines = open(path).read().splitlines()
assert len(lines) == 1, "%d lines" % len(lines)
j = json.loads(lines[0])
keys = ["peer", "method", "success", "setup_ms", "rtt_ms", "loss", "local", "remote", "path",
        "tried", "reason"]
assert list(j) == keys, "keys %s" % list(j)
assert j["method"] == "testbind", j
assert j["success"] is want_ok, j
assert len(j["tried"]) == 1 and set(j["tried"][0]) == {"method", "success", "ms", "reason"}, j
if want_ok:
    assert j["path"] == "direct" and j["reason"] is None, j
    assert j["loss"] == 0 and 0 < j["rtt_ms"] < 1000, j
    assert 0 < j["tried"][0]["ms"] <= j["setup_ms"], j
    assert j["local"].startswith(local + ":") and j["remote"].startswith(remote + ":"), j
else:
    assert j["path"] == "none" and j["rtt_ms"] is None and j["local"] is None, j
    assert j["reason"] == "rendezvous refused: peer not registered", j
    assert j["tried"][0]["reason"] == j["reason"], j
EOF
$PY "$NB_TMP/check.py" "$NB_TMP/b2a.json" ok "$NAT" "$ALICE" || nb_fail "bob2 -> alice: $(cat "$NB_TMP/b2a.json")"
$PY "$NB_TMP/check.py" "$NB_TMP/a2b.json" ok "$ALICE" "$NAT" || nb_fail "alice2 -> bob: $(cat "$NB_TMP/a2b.json")"
$PY "$NB_TMP/check.py" "$NB_TMP/none.json" fail - - || nb_fail "to nobody: $(cat "$NB_TMP/none.json")"
# bob2 reached the real alice: her serve answered it
alice_port=$(grep -o "registered as alice: host $ALICE:[0-9]*" "$NB_TMP/alice.log" | sed 's/.*://')
jq -e --arg r "$ALICE:$alice_port" '.remote == $r' "$NB_TMP/b2a.json" >/dev/null ||
	nb_fail "bob2's remote is not alice's main socket $ALICE:$alice_port: $(cat "$NB_TMP/b2a.json")"
for i in 1 2 3 4 5 6; do
	jq -e --arg r "$ALICE:$alice_port" --arg l "203.0.113.32:" '.success and .method == "direct"
		and .remote == $r and (.local | startswith($l)) and .loss == 0' "$NB_TMP/c$i.json" >/dev/null ||
		nb_fail "carol$i -> alice: $(cat "$NB_TMP/c$i.json")"
done

# --- the counters --------------------------------------------------------
kill -TERM "$rdv_pid" "$alice_pid"
nb_wait_gone 10 "$rdv_pid" "$alice_pid"
nb_wait_for 5 "the rendezvous' stats" test -s "$NB_TMP/rdv.stats"
jq -e '.connects == 8 and .connect_errors == 1 and .introductions == 16 and .intro_acked == 16
	and .drops.name_taken == 1 and .drops.truncated == 1 and .drops.unknown_method == 1
	and .drops.total == 3' "$NB_TMP/rdv.stats" >/dev/null ||
	nb_fail "rendezvous counters: $(cat "$NB_TMP/rdv.stats")"
jq -e '.tries.ok == 7 and .tries.failed == 0 and .tries.probes_echoed == 10 + 6 * 3
	and .rendezvous.drops.not_rendezvous == 0' \
	"$NB_TMP/alice.stats" >/dev/null || nb_fail "alice's counters: $(cat "$NB_TMP/alice.stats")"

# --- the captures --------------------------------------------------------
natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null || nb_fail "ctl show ports"
out=$NB_TMP/out
udp() { tshark -r "$1" -Y udp -T fields -e ip.src -e ip.dst -e udp.payload 2>/dev/null; }
udp "$out/rdv.pcap" >"$NB_TMP/rdv.udp"
udp "$out/alice.pcap" >"$NB_TMP/alice.udp"
cat >"$NB_TMP/caps.py" <<'EOF'
import sys
from collections import Counter
rdv, alice, nat, rdv_udp, alice_udp = sys.argv[1:6]
def stun(payload):
    b = bytes.fromhex(payload)
    t = b[0] << 8 | b[1]
    method = (t & 0xF) | (t & 0xE0) >> 1 | (t & 0x3E00) >> 2
    cls = (t >> 4 & 1) | (t >> 7 & 2)
    return method, cls, b[4:8] == bytes.fromhex("2112a442")
seen = Counter()
for line in open(rdv_udp):
    src, dst, payload = line.split()
    if {src, dst} & {alice, nat}:
        method, cls, cookie = stun(payload)
        assert cookie and method in (0x0E0, 0x0E1, 0x0E2), \
            "not a rendezvous message between an agent and the rendezvous: %s" % line
        seen[method] += 1
assert seen[0x0E0] >= 4 and seen[0x0E1] >= 6 and seen[0x0E2] >= 8, seen
way = Counter()
for line in open(alice_udp):
    src, dst, payload = line.split()
    if {src, dst} == {alice, nat}:
        method, cls, _ = stun(payload)
        way[(src, method, cls)] += 1
for src in (alice, nat):
    assert way[(src, 0x001, 0)] >= 1 and way[(src, 0x001, 2)] >= 1, ("checks", src, way)
    assert way[(src, 0x0E8, 0)] == 10 and way[(src, 0x0E8, 2)] == 10, ("probes", src, way)
EOF
$PY "$NB_TMP/caps.py" "$RDV" "$ALICE" "$NAT" "$NB_TMP/rdv.udp" "$NB_TMP/alice.udp" ||
	nb_fail "captures"
nb_pass "rendezvous: introductions both ways through a full-cone NAT, six at once to one serve, probes direct, spoofs counted"
