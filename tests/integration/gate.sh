#!/usr/bin/env bash
# The zero-trust gate end to end, on real packets through natbed-emu
# (docs/gate.md): alice and bob behind NAT home, whose gate stands between
# its inside and the internet; srv a public host.
#  - before alice authenticated, nothing of hers leaves home: the outside
#    capture (home-wan.pcap) has no packet of hers, the drops are counted
#    (unauthenticated) and logged;
#  - a wrong key, alice's name from bob's address, a replayed request: each
#    refused at once with its code, counted by reason, logged with it, and
#    no pinhole opened;
#  - alice granted srv:5000: her datagrams to it cross the NAT (outside
#    capture) and reach srv; to srv:5001 (another resource) they do not;
#    after the pinhole's TTL without traffic it is gone, and said so in
#    events.jsonl, and her datagrams stop again;
#  - a checkpoint holds the gate (trust, pinholes, counters), a restore
#    brings it back;
#  - 10,000 bad requests in a bounded loop, with good ones among them: the
#    gate still answers each good one within its delay + 10 ms, as its own
#    port's capture shows;
#  - natbed-agent connect --gate through the gate to an ungated peer: its
#    line carries gate, auth_ms and trust, and setup_ms counts auth_ms.
. "$NATBED_SRC/tests/lib.sh"
nb_need tshark jq
PY=$(command -v /usr/bin/python3 || command -v python3) || nb_skip "python3 not installed"
PROBE=$NATBED_BUILD/tests/integration/gate_probe
AGENT=$NATBED_BUILD/tests/integration/natbed-agent-test
[ -x "$PROBE" ] && [ -x "$AGENT" ] || nb_fail "$PROBE or $AGENT not built"

x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
ctl() { natbed ctl --prefix "$NB_PREFIX" --json "$@"; }
GW=192.168.40.1 ALICE=192.168.40.10 BOB=192.168.40.11 PUB=203.0.113.40 SRV=198.51.100.40
OUT=$NB_TMP/out
topo=$NB_TMP/gate.yaml
cat >"$topo" <<'EOF'
name: gate
seed: 14
nats:
  home:
    preset: port-restricted
    public: 203.0.113.40
    inside: 192.168.40.0/24
    gate:
      hosts:
        alice: { key: alice-key }
        bob: { key: bob-key }
      time-scale: 0.01          # untrusted: 20-50 ms
      pinhole-ttl: 3s
      success: { untrusted: 100%, low: 100%, medium: 100%, high: 100%, verified: 100% }
      risk: { failures: 0%, rate: 0%, idle: 0% }
      escalate: 0%
hosts:
  alice: { nat: home, address: 192.168.40.10 }
  bob: { nat: home, address: 192.168.40.11 }
  srv: { address: 198.51.100.40 }
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  rdv: { address: 198.51.100.20 }
EOF
nb_up "$topo"

# alice's datagrams to srv:PORT, one a line of a UDP socket from port 7000
send_udp() { # PORT COUNT
	x alice "$PY" -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 7000))
for i in range(int(sys.argv[2])):
    s.sendto(b'gate-test-%d' % i, ('$SRV', int(sys.argv[1])))
" "$1" "$2"
}
# packets of alice's flow to srv:PORT in CAPTURE (home-wan: translated)
seen() { # CAPTURE PORT
	natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null
	tshark -r "$OUT/$1" -Y "ip.dst == $SRV && udp.dstport == $2" 2>/dev/null | wc -l
}
gstat() { ctl gate home stats | jq -c "$1"; }
probe() { local h=$1; shift; x "$h" timeout 60 "$PROBE" "$@" --gate "$GW"; }

# --- before authentication: nothing passes -------------------------------
send_udp 5000 5
nb_wait_for 10 "5 unauthenticated drops" nb_ctl_true '.counters.drops.unauthenticated >= 5' \
	gate home stats
[ "$(seen home-wan.pcap 5000)" -eq 0 ] || nb_fail "alice's packets crossed the gate before she authenticated"
[ "$(seen alice.pcap 5000)" -ge 5 ] || nb_fail "alice's packets never reached the emulator"
nb_wait_for 10 "a drop line naming gate_unauthenticated" \
	grep -q '"reason":"gate_unauthenticated".*"gate":"home","host":"alice"' "$OUT/events.jsonl"

# --- refusals ---------------------------------------------------------------
out=$(probe alice auth --user alice --key wrong-key) && nb_fail "a wrong key was granted: $out"
echo "$out" | jq -e '.result == "refused" and .code == 401' >/dev/null || nb_fail "wrong key: $out"
out=$(probe bob auth --user alice --key alice-key) && nb_fail "alice's name from bob was granted: $out"
echo "$out" | jq -e '.result == "refused" and .code == 403' >/dev/null || nb_fail "spoof: $out"
[ "$(gstat '.counters.refused.bad_integrity')" -ge 1 ] || nb_fail "the wrong key was not counted"
[ "$(gstat '.counters.refused.spoofed')" -ge 1 ] || nb_fail "the spoof was not counted"
[ "$(ctl gate home hosts | jq '[.[].pinholes | length] | add')" -eq 0 ] ||
	nb_fail "a refusal opened a pinhole"
send_udp 5000 1
[ "$(seen home-wan.pcap 5000)" -eq 0 ] || nb_fail "packets crossed after refused requests"

# --- a grant: the resource only ------------------------------------------------
out=$(probe alice auth --user alice --key alice-key --resource "$SRV:5000") ||
	nb_fail "alice not granted: $out"
echo "$out" | jq -e '.trust == "untrusted" and .delay_ms >= 20 and .delay_ms <= 50 and
	.auth_ms >= .delay_ms' >/dev/null || nb_fail "the grant's times: $out"
send_udp 5000 3
send_udp 5001 3
nb_wait_for 10 "alice's 3 datagrams outside home" test "$(seen home-wan.pcap 5000)" -ge 3
nb_wait_for 10 "alice's datagrams at srv" test "$(seen srv.pcap 5000)" -ge 3
nb_wait_for 10 "the other resource's drops" nb_ctl_true '.counters.drops.resource >= 3' \
	gate home stats
[ "$(seen home-wan.pcap 5001)" -eq 0 ] || nb_fail "another resource than the one granted crossed"
grep -q '"event":"gate_auth".*"host":"alice".*"result":"granted"' "$OUT/events.jsonl" ||
	nb_fail "no gate_auth line for alice's grant"

# --- a replay: the same request again, once decided ---------------------------
out=$(probe alice replay --user alice --key alice-key --resource "$SRV:5000") ||
	nb_fail "replay probe: $out"
echo "$out" | jq -e '.first == 0 and .second == 438' >/dev/null || nb_fail "replay: $out"
[ "$(gstat '.counters.refused.replay')" -ge 1 ] || nb_fail "the replay was not counted"
for why in bad_integrity spoofed replay; do
	nb_wait_for 10 "a drop line naming gate_$why" grep -q "\"reason\":\"gate_$why\"" \
		"$OUT/events.jsonl"
done

# --- a checkpoint carries the gate; a restore brings it back --------------------
ctl checkpoint "$NB_TMP/ck.json" >/dev/null || nb_fail "ctl checkpoint"
jq -e '.gates.home.hosts.alice.trust == "untrusted" and
	(.gates.home.hosts.alice.pinholes | length) == 1 and
	.gates.home.counters.refused.spoofed >= 1' "$NB_TMP/ck.json" >/dev/null ||
	nb_fail "the checkpoint's gate: $(jq -c .gates "$NB_TMP/ck.json")"
granted=$(gstat '.counters.granted')
ctl restore "$NB_TMP/ck.json" | jq -e '.gates == 1' >/dev/null || nb_fail "ctl restore"
[ "$(gstat '.counters.granted')" -eq "$granted" ] || nb_fail "the restore changed the gate's counters"

# --- the TTL: 3 s without traffic, and the pinhole is gone ---------------------
nb_wait_for 30 "the pinhole's expiry in the event log" \
	grep -q '"event":"gate_pinhole_expired".*"host":"alice"' "$OUT/events.jsonl"
before=$(seen home-wan.pcap 5000)
send_udp 5000 3
nb_wait_for 10 "3 more unauthenticated drops" nb_ctl_true '.counters.drops.unauthenticated >= 9' \
	gate home stats
[ "$(seen home-wan.pcap 5000)" -eq "$before" ] || nb_fail "packets crossed after the pinhole's TTL"

# --- 10,000 bad requests, good ones among them ------------------------------------
refused0=$(gstat '.counters.refused.bad_integrity')
out=$(probe alice flood --user alice --key alice-key --bad 10000 --good 10 --timeout 30) ||
	nb_fail "flood: not every good request was answered: $out"
echo "$out" >"$NB_TMP/flood.json"
nb_wait_for 20 "10,000 more bad_integrity refusals" \
	nb_ctl_true ".counters.refused.bad_integrity >= $((refused0 + 10000))" gate home stats
natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null # captures flushed
tshark -r "$OUT/alice.pcap" -d udp.port==4788,stun -Y "stun.id" \
	-T fields -e frame.time_epoch -e stun.id -e udp.dstport >"$NB_TMP/flood.tsv" 2>/dev/null
"$PY" - "$NB_TMP/flood.json" "$NB_TMP/flood.tsv" <<'EOF' || nb_fail "the gate's answers under the flood"
import json, sys
flood = json.load(open(sys.argv[1]))
seen = {}
for line in open(sys.argv[2]):
    t, txid, dport = line.split("\t")
    seen.setdefault(txid.replace("0x", "").strip(), []).append((float(t), int(dport)))
assert flood["bad_sent"] == 10000, flood["bad_sent"]
worst = 0
for g in flood["good"]:
    assert g["result"] == "granted", g
    ts = seen.get(g["txid"])
    assert ts, "request %s not in alice.pcap" % g["txid"]
    asked = min(t for t, p in ts if p == 4788)
    answered = min(t for t, p in ts if p != 4788)
    late = (answered - asked) * 1000 - g["delay_ms"]
    worst = max(worst, late)
    assert -1 <= late <= 10, "answered %.3f ms after its delay (%s)" % (late, g)
print("10 good requests among 10,000 bad: each answered at most %.3f ms after its delay "
      "(at the gate's port); client-side %s ms" %
      (worst, [round(g["elapsed_ms"] - g["delay_ms"], 2) for g in flood["good"]]))
EOF

# --- an agent behind the gate -------------------------------------------------------
bg() { local h=$1 log=$2; shift 2; nb_bg natbed exec --prefix "$NB_PREFIX" "$h" -- "$@" 2>"$log"; }
common=(--rendezvous 198.51.100.20 --stun 198.51.100.10)
bg rdv "$NB_TMP/rdv.log" natbed-rendezvous --listen 198.51.100.20
nb_wait_for 10 "the rendezvous' ready line" grep -q "listening on 198.51.100.20:4787" "$NB_TMP/rdv.log"
bg srv "$NB_TMP/srv.log" "$AGENT" serve --name srv "${common[@]}"
nb_wait_for 30 "srv registered" grep -q "registered as srv" "$NB_TMP/srv.log"
x bob timeout 90 "$AGENT" connect --name bob --peer srv --method testbind --probes 3 "${common[@]}" \
	--gate "$GW" --gate-key bob-key >"$NB_TMP/gated.json" 2>"$NB_TMP/gated.err" ||
	nb_fail "bob through the gate: $(cat "$NB_TMP/gated.json" "$NB_TMP/gated.err")"
jq -e '.success and .gate == "granted" and .trust == "untrusted" and .auth_ms >= 20 and
	.setup_ms > .auth_ms' "$NB_TMP/gated.json" >/dev/null ||
	nb_fail "the gated agent's line: $(cat "$NB_TMP/gated.json")"
x alice timeout 90 "$AGENT" connect --name alice --peer srv --method testbind "${common[@]}" \
	--gate "$GW" --gate-key wrong >"$NB_TMP/refused.json" 2>"$NB_TMP/refused.err" &&
	nb_fail "alice connected with a wrong key"
jq -e '(.success | not) and .gate == "refused" and .trust == null and
	(.reason | startswith("gate: refused (401"))' "$NB_TMP/refused.json" >/dev/null ||
	nb_fail "the refused agent's line: $(cat "$NB_TMP/refused.json")"
nb_pass "$(jq -c '{gate, auth_ms, trust, setup_ms}' "$NB_TMP/gated.json"); refusals: $(gstat .counters.refused)"
