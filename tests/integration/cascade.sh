#!/usr/bin/env bash
# natbed-agent connect --cascade on real sockets through natbed-emu: one
# agent behind a port-restricted NAT serves, one behind a symmetric NAT
# connects. Both first measure their NAT (RFC 5780, against natbed-stund's
# two addresses) and register it; the connecting one LOOKUPs the peer's.
# For this pair punch cannot work (a new mapping toward the peer that the
# port-restricted filter drops, docs/methods.md reason 4), nor direct or
# predict: the cascade skips them and connects with birthday.
#  - the JSON line: birthday connected first, then the skipped methods in
#    score order, each with ms 0 and its reason; the path between the two
#    NATs' public addresses, the probes echoed;
#  - --learn FILE: the outcome is saved under the pair, and natbed-agent
#    methods reads it back; a --method punch try (from another symmetric
#    NAT) fails and is learned too;
#  - --budget: a cascade whose budget is shorter than birthday's own skips
#    it too, and fails at once naming why;
#  - the captures: datagrams both ways between the two NATs' public
#    addresses, none of them through the rendezvous' host.
. "$NATBED_SRC/tests/lib.sh"
nb_need tshark jq

x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
RDV=198.51.100.20 STUN=198.51.100.10 PRC=203.0.113.41 SYM=203.0.113.42
common=(--rendezvous "$RDV" --stun "$STUN")

topo=$NB_TMP/cascade.yaml
cat >"$topo" <<'YAML'
name: cascade
seed: 11
nats:
  nprc: { preset: port-restricted, public: 203.0.113.41, inside: 10.41.0.0/24 }
  nsym: { preset: symmetric, public: 203.0.113.42, inside: 10.42.0.0/24 }
  nsym2: { preset: symmetric, public: 203.0.113.43, inside: 10.43.0.0/24 }
hosts:
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  rdv: { address: 198.51.100.20 }
  prc: { nat: nprc, address: 10.41.0.10 }
  sym: { nat: nsym, address: 10.42.0.10 }
  sym2: { nat: nsym2, address: 10.43.0.10 }
YAML
nb_up "$topo"
nb_stund_ready prc "$STUN"
nb_stund_ready sym 198.51.100.11:3479

bg() { local h=$1 log=$2; shift 2; nb_bg natbed exec --prefix "$NB_PREFIX" "$h" -- "$@" 2>"$log"; }
bg rdv "$NB_TMP/rdv.log" natbed-rendezvous --listen "$RDV" --stats "$NB_TMP/rdv.stats"
rdv_pid=${NB_PIDS[-1]}
nb_wait_for 10 "the rendezvous' ready line" grep -q "listening on $RDV:4787" "$NB_TMP/rdv.log"
bg prc "$NB_TMP/prc.log" natbed-agent serve --name prc "${common[@]}" --verbose
# discovery first (the filtering tests wait out their timeouts), then REGISTER
nb_wait_for 60 "prc registered" grep -q "registered as prc" "$NB_TMP/prc.log"
grep -q "registered as prc: host 10.41.0.10:[0-9]* srflx $PRC:[0-9]* nat port-restricted" \
	"$NB_TMP/prc.log" || nb_fail "prc did not register its NAT: $(grep -a registered "$NB_TMP/prc.log")"
grep -q "discovery: mapping endpoint-independent, filtering address-and-port-dependent" \
	"$NB_TMP/prc.log" || nb_fail "no discovery line with --verbose: $(cat "$NB_TMP/prc.log")"

learn=$NB_TMP/learn.json
connect() { # OUT ARGS... (from host $from, sym unless set)
	local out=$1 h=${from:-sym}
	shift
	x "$h" timeout 120 natbed-agent connect --name "$h" --peer prc "${common[@]}" --probes 5 \
		--learn "$learn" "$@" >"$out" 2>"$out.err"
}
connect "$NB_TMP/casc.json" --cascade --verbose --stats "$NB_TMP/sym.stats" ||
	nb_fail "cascade: exit $?: $(cat "$NB_TMP/casc.json" "$NB_TMP/casc.json.err")"
[ "$(wc -l <"$NB_TMP/casc.json")" -eq 1 ] || nb_fail "not one line: $(cat "$NB_TMP/casc.json")"
jq -e --arg prc "$PRC" --arg sym "$SYM" '
	keys_unsorted == ["peer", "method", "success", "setup_ms", "rtt_ms", "loss", "local",
			  "remote", "path", "tried", "reason"]
	and .success and .method == "birthday" and .path == "direct" and .reason == null
	and .loss == 0 and .rtt_ms > 0
	and (.local | startswith($sym + ":")) and (.remote | startswith($prc + ":"))
	and ([.tried[].method] == ["birthday", "direct", "punch", "portmap", "relay", "predict"])
	and .tried[0].success and .tried[0].reason == null and .tried[0].ms > 0
	and .tried[0].ms <= .setup_ms
	and ([.tried[1:][] | .success == false and .ms == 0
	      and .reason == "skipped: no chance for this pair"] | all)' \
	"$NB_TMP/casc.json" >/dev/null || nb_fail "cascade's line: $(cat "$NB_TMP/casc.json")"
grep -q "discovery: .*class symmetric-random" "$NB_TMP/casc.json.err" ||
	nb_fail "sym's discovery: $(cat "$NB_TMP/casc.json.err")"
jq -e '.rendezvous.lookups_ok == 1 and .rendezvous.lookups_failed == 0
	and .rendezvous.connects_ok == 1 and .tries.ok == 1' "$NB_TMP/sym.stats" >/dev/null ||
	nb_fail "sym's counters: $(cat "$NB_TMP/sym.stats")"

# the learned outcome, keyed by the pair, and methods reading it
pair="symmetric-random|port-restricted"
jq -e --arg p "$pair" '.version == 1 and .pairs[$p].birthday.attempts == 1
	and .pairs[$p].birthday.successes == 1 and (.pairs[$p] | keys) == ["birthday"]' \
	"$learn" >/dev/null || nb_fail "learned: $(cat "$learn")"
natbed-agent methods --learn "$learn" --self symmetric-random --peer port-restricted --json \
	>"$NB_TMP/methods.json" || nb_fail "natbed-agent methods"
# by class alone methods cannot know whether a NAT maps (portmap) or a
# relay candidate exists (relay): it counts them usable
jq -e '.pairs[0].methods | map(select(.method == "birthday"))[0]
	| .attempts == 1 and .measured == 1 and .cascade <= 2 and .estimate > 0.9' \
	"$NB_TMP/methods.json" >/dev/null ||
	nb_fail "methods: $(cat "$NB_TMP/methods.json")"

# punch alone fails for this pair, and is learned as a failure. From sym2,
# behind a symmetric NAT of its own: birthday left prc's filter open to
# hundreds of sym's NAT's ports, and a new mapping there may land on one
from=sym2 connect "$NB_TMP/punch.json" --method punch --no-discover --nat symmetric-random
st=$?
[ "$st" -eq 1 ] || nb_fail "punch alone: exit $st, want 1: $(cat "$NB_TMP/punch.json")"
jq -e '.success == false and .method == "punch" and .path == "none"
	and (.reason | IN("timeout", "no answer", "filtered"))
	and ([.tried[].method] == ["punch"])' "$NB_TMP/punch.json" >/dev/null ||
	nb_fail "punch's line: $(cat "$NB_TMP/punch.json")"
jq -e --arg p "$pair" '.pairs[$p].punch.attempts == 1 and .pairs[$p].punch.successes == 0
	and .pairs[$p].birthday.attempts == 1' "$learn" >/dev/null ||
	nb_fail "punch not learned: $(cat "$learn")"

# a budget shorter than birthday's own 4 s: nothing is left to try
connect "$NB_TMP/short.json" --cascade --budget 3s --no-discover --nat symmetric-random
st=$?
[ "$st" -eq 1 ] || nb_fail "short budget: exit $st: $(cat "$NB_TMP/short.json")"
jq -e '.success == false and .method == null
	and .reason == "nothing to try: every method skipped"
	and .tried[0] == {"method": "birthday", "success": false, "ms": 0,
			  "reason": "skipped: needs more than the budget"}
	and (.tried | length) == 6' "$NB_TMP/short.json" >/dev/null ||
	nb_fail "short budget's line: $(cat "$NB_TMP/short.json")"

kill -TERM "$rdv_pid"
nb_wait_gone 10 "$rdv_pid"
nb_wait_for 5 "the rendezvous' stats" test -s "$NB_TMP/rdv.stats"
jq -e '.lookups == 2 and .lookup_errors == 0 and .connects == 2' "$NB_TMP/rdv.stats" \
	>/dev/null || nb_fail "rendezvous counters: $(cat "$NB_TMP/rdv.stats")"

# the captures: the birthday path went straight between the NATs
natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null || nb_fail "ctl show ports"
out=$NB_TMP/out
for way in "$SYM $PRC" "$PRC $SYM"; do
	set -- $way
	n=$(tshark -r "$out/nsym-wan.pcap" -Y "ip.src == $1 && ip.dst == $2 && udp" 2>/dev/null | wc -l)
	[ "$n" -ge 1 ] || nb_fail "no datagram $1 -> $2 in nsym-wan.pcap"
done
n=$(tshark -r "$out/rdv.pcap" -Y "udp && !(udp.port == 4787)" 2>/dev/null | wc -l)
[ "$n" -eq 0 ] || nb_fail "$n datagrams through the rendezvous' host off its port"
nb_pass "cascade: symmetric -> port-restricted skips punch and connects with birthday; learned"
