#!/usr/bin/env bash
# Issue 11: method portmap on real packets. alice sits behind a random
# symmetric NAT that grants mappings (pcp: true), bob and carol behind
# another one that does not; natbed-stund and the rendezvous are public.
#  - alice's agent asks its gateway at start and logs that it answers PCP;
#    bob's finds nothing to ask;
#  - `natbed-agent connect --method portmap` from alice to bob succeeds:
#    alice maps, bob checks the agreed port; `natbed ctl nat home
#    mappings` shows the mapping granted by PCP, whose outside endpoint is
#    the one bob reached (alice's "local"); every probe is echoed;
#  - punch between the same two fails (the table's symmetric x symmetric):
#    the mapping made the difference;
#  - bob to carol, neither NAT granting: fails at once, naming why.
. "$NATBED_SRC/tests/lib.sh"
nb_need jq

x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
ctl() { natbed ctl --prefix "$NB_PREFIX" --json "$@"; }
RDV=198.51.100.20 STUN=198.51.100.10 HOME=203.0.113.51 OFFICE=203.0.113.52
common=(--rendezvous "$RDV" --stun "$STUN")

cat >"$NB_TMP/pm.yaml" <<YAML
name: portmap-method
seed: 12
nats:
  home: { preset: symmetric, pcp: true, public: $HOME, inside: 192.168.51.0/24 }
  office: { preset: symmetric, public: $OFFICE, inside: 192.168.52.0/24 }
hosts:
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  rdv: { address: $RDV }
  alice: { nat: home, address: 192.168.51.10 }
  bob: { nat: office, address: 192.168.52.10 }
  carol: { nat: office, address: 192.168.52.11 }
YAML
nb_up "$NB_TMP/pm.yaml"
nb_stund_ready bob "$STUN"

bg() { local h=$1 log=$2; shift 2; nb_bg natbed exec --prefix "$NB_PREFIX" "$h" -- "$@" 2>"$log"; }
bg rdv "$NB_TMP/rdv.log" natbed-rendezvous --listen "$RDV"
nb_wait_for 10 "the rendezvous' ready line" grep -q "listening on $RDV:4787" "$NB_TMP/rdv.log"
bg bob "$NB_TMP/bob.log" natbed-agent serve --name bob "${common[@]}" --stats "$NB_TMP/bob.stats"
bob_pid=${NB_PIDS[-1]}
bg carol "$NB_TMP/carol.log" natbed-agent serve --name carol "${common[@]}"
nb_wait_for 30 "bob registered" grep -q "registered as bob" "$NB_TMP/bob.log"
nb_wait_for 30 "carol registered" grep -q "registered as carol" "$NB_TMP/carol.log"
[ "$(ctl nat home mappings | jq '[.[] | select(.granted)] | length')" = 0 ] ||
	nb_fail "a mapping granted before any try: $(ctl nat home mappings)"

# --- alice maps, bob dials the agreed port ----------------------------------
connect() { # NAME PEER METHOD OUT [HOST]
	x "${5:-alice}" timeout 60 natbed-agent connect --name "$1" --peer "$2" --method "$3" \
		--probes 10 "${common[@]}" >"$4" 2>"$4.err"
}
connect alice bob portmap "$NB_TMP/pm.json" ||
	nb_fail "alice -> bob with portmap: exit $?: $(cat "$NB_TMP/pm.json" "$NB_TMP/pm.json.err")"
grep -q "port mapping: the gateway 192.168.51.1:5351 answers pcp" "$NB_TMP/pm.json.err" ||
	nb_fail "alice's agent did not find PCP at start: $(cat "$NB_TMP/pm.json.err")"
grep -q "port mapping: the gateway" "$NB_TMP/bob.log" && nb_fail "bob's gateway answered: $(cat "$NB_TMP/bob.log")"
jq -e '.success and .method == "portmap" and .path == "direct" and .loss == 0
	and (.local | startswith("'"$HOME"':")) and (.remote | startswith("'"$OFFICE"':"))' \
	"$NB_TMP/pm.json" >/dev/null || nb_fail "alice -> bob: $(cat "$NB_TMP/pm.json")"
local_ep=$(jq -r .local "$NB_TMP/pm.json")
ctl nat home mappings | jq -e --arg o "$local_ep" \
	'[.[] | select(.granted == "pcp" and .outside == $o and (.inside | startswith("192.168.51.10:")))] | length == 1' \
	>/dev/null || nb_fail "no PCP mapping at $local_ep on home: $(ctl nat home mappings)"
ctl nat home stats | jq -e '.port_mapping.pcp.SUCCESS >= 2' >/dev/null ||
	nb_fail "home's PCP answers: $(ctl nat home stats | jq -c .port_mapping)"

# --- without the mapping, the same pair does not connect ---------------------
connect alice2 bob punch "$NB_TMP/punch.json"
st=$?
[ "$st" -eq 1 ] || nb_fail "punch between two symmetric NATs exits $st: $(cat "$NB_TMP/punch.json")"

# --- neither NAT grants: at once, named ------------------------------------
connect bob2 carol portmap "$NB_TMP/none.json" bob
st=$?
[ "$st" -eq 1 ] || nb_fail "portmap without PCP exits $st: $(cat "$NB_TMP/none.json")"
jq -e '.reason == "no port mapping (PCP/NAT-PMP) on this NAT" and .tried[0].ms < 100' \
	"$NB_TMP/none.json" >/dev/null || nb_fail "bob2 -> carol: $(cat "$NB_TMP/none.json")"

kill -TERM "$bob_pid"
nb_wait_gone 10 "$bob_pid"
jq -e '.tries.ok == 1 and .tries.probes_echoed == 10' "$NB_TMP/bob.stats" >/dev/null ||
	nb_fail "bob's counters: $(cat "$NB_TMP/bob.stats")"
nb_pass "portmap: a PCP mapping at the agreed port connects two random symmetric NATs; named without PCP"
