#!/usr/bin/env bash
# Every NAT preset, classified from the inside by tools written elsewhere:
# coturn's turnutils_natdiscovery (RFC 5780 mapping and filtering) and the
# stun client (RFC 3489 classic type) must both report what the preset
# claims, through natbed-stund on a public host with two addresses. Also a
# home NAT behind a carrier NAT (the chain reports the combined behaviour),
# and no NAT's outside capture ever shows an inside address.
# One bring-up holds every NAT, one host behind each; the hosts are
# classified in parallel.
. "$NATBED_SRC/tests/lib.sh"
command -v turnutils_natdiscovery >/dev/null || nb_skip "coturn (turnutils_natdiscovery) not installed"
command -v stun >/dev/null || nb_skip "stun-client (stun) not installed"
command -v tshark >/dev/null || nb_skip "tshark not installed"
command -v mergecap >/dev/null || nb_skip "mergecap (wireshark-common) not installed"

x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }

# the same topology scripts/classify.sh classifies: a host behind each preset,
# alice behind home behind carrier
topo=$NATBED_SRC/topologies/presets.yaml

# host: what natdiscovery must say about mapping, then filtering; the stun
# client's classic type
declare -A map filt classic
want() { map[$1]=$2; filt[$1]=$3; classic[$1]=$4; }
EIM="NAT with Endpoint Independent Mapping!"
APDM="NAT with Address and Port Dependent Mapping!"
EIF="NAT with Endpoint Independent Filtering!"
ADF="NAT with Address Dependent Filtering!"
APDF="NAT with Address and Port Dependent Filtering!"
want a-fc "$EIM" "$EIF" "Independent Mapping, Independent Filter"
want a-rc "$EIM" "$ADF" "Independent Mapping, Address Dependent Filter"
want a-pr "$EIM" "$APDF" "Independent Mapping, Port Dependent Filter"
want a-sym "$APDM" "$APDF" "Dependent Mapping"
want a-symseq "$APDM" "$APDF" "Dependent Mapping"
want a-lm "$EIM" "$APDF" "Independent Mapping, Port Dependent Filter" # linux-masquerade
want phone "$EIM" "$EIF" "Independent Mapping, Independent Filter" # cgnat alone
want alice "$EIM" "$APDF" "Independent Mapping, Port Dependent Filter" # cgnat + home

nb_up "$topo"
nb_stund_ready a-fc 198.51.100.10

classify() { # HOST: both tools, one after the other, into $NB_TMP/HOST.*
	x "$1" timeout 30 turnutils_natdiscovery -m -f 198.51.100.10 >"$NB_TMP/$1.disc" 2>&1
	x "$1" timeout 30 stun 198.51.100.10 -v >"$NB_TMP/$1.stun" 2>&1
	return 0
}
pids=()
for h in "${!map[@]}"; do
	classify "$h" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

fails=0
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
for h in "${!map[@]}"; do
	d=$NB_TMP/$h.disc s=$NB_TMP/$h.stun
	# exactly one verdict of each kind, and it is the preset's
	got_map=$(grep -E "^(NAT with .* Mapping!|No NAT! .*)$" "$d")
	got_filt=$(grep -E "^NAT with .* Filtering!$" "$d")
	[ "$got_map" = "${map[$h]}" ] || bad "$h: natdiscovery mapping '${got_map//$'\n'/ | }', want '${map[$h]}'"
	[ "$got_filt" = "${filt[$h]}" ] || bad "$h: natdiscovery filtering '${got_filt//$'\n'/ | }', want '${filt[$h]}'"
	# "Primary: TYPE[, preserves ports|, random port][, no hairpin]"
	got=$(grep "^Primary: " "$s" | head -1)
	case "$got" in
	"Primary: ${classic[$h]}"*) ;;
	*) bad "$h: stun says '$got', want 'Primary: ${classic[$h]}...'" ;;
	esac
	case "${classic[$h]}" in
	"Dependent Mapping") echo "$got" | grep -q "Independent" && bad "$h: stun says '$got'" ;;
	esac
done
# port behaviour: preserve for the cones, not for the symmetric ones
grep -q "^Primary: .*preserves ports" "$NB_TMP/a-pr.stun" || bad "a-pr: stun does not see preserved ports"
grep -q "^Primary: .*random port" "$NB_TMP/a-sym.stun" || bad "a-sym: stun does not see random ports"

if [ "$fails" -gt 0 ]; then
	for h in "${!map[@]}"; do
		echo "--- $h"
		grep -E "NAT with|No NAT|^Primary" "$NB_TMP/$h.disc" "$NB_TMP/$h.stun"
	done
	nb_fail "$fails classifier disagreement(s)"
fi

# The carrier NAT saw the home NAT's traffic: home's mapping is behind one
# of carrier's (outside 203.0.113.50), inside 100.64.0.10.
natbed ctl --prefix "$NB_PREFIX" nat carrier mappings >"$NB_TMP/carrier.json" || nb_fail "ctl nat carrier mappings"
grep -q '"inside": "100.64.0.10:' "$NB_TMP/carrier.json" || nb_fail "carrier has no mapping for home's public address"
# RFC 6888: each subscriber's ports come from its block, written to the
# event log (home, and the phone: two subscribers of one address)
natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null # flushes the event log
for sub in 100.64.0.10 $(natbed ctl --prefix "$NB_PREFIX" --json show routes | jq -r '.[] | select(.port == "phone") | .destination | sub("/32"; "")'); do
	line=$(grep '"event":"port_block_allocated"' "$NB_TMP/out/events.jsonl" | grep "\"subscriber\":\"$sub\"" | head -1)
	[ -n "$line" ] || nb_fail "no port_block_allocated for subscriber $sub in events.jsonl"
	range=$(echo "$line" | jq -r .ports)
	lo=${range%-*} hi=${range#*-}
	[ $((hi - lo + 1)) -eq 512 ] || nb_fail "subscriber $sub: block $range is not 512 ports"
	ports=$(jq -r --arg s "$sub:" '.[] | select(.inside | startswith($s)) | .outside | split(":")[1]' "$NB_TMP/carrier.json")
	[ -n "$ports" ] || nb_fail "carrier has no mapping of subscriber $sub"
	for p in $ports; do
		[ "$p" -ge "$lo" ] && [ "$p" -le "$hi" ] || nb_fail "subscriber $sub: outside port $p not in its block $range"
	done
done

# No outside capture shows an inside address: no site address on any, and
# no carrier-inside address on the carrier's (home's outside is there by
# design). tshark costs a second a run: the captures merged, two runs at once.
natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null # flushes captures
for n in fc rc pr sym symseq lm carrier home; do
	# 24 bytes is a pcap file header and no packet
	[ "$(stat -c %s "$NB_TMP/out/$n-wan.pcap")" -gt 24 ] || nb_fail "$n-wan.pcap is empty"
done
mergecap -w "$NB_TMP/wan.pcap" "$NB_TMP"/out/{fc,rc,pr,sym,symseq,lm,carrier,home}-wan.pcap || nb_fail "mergecap"
tshark -r "$NB_TMP/wan.pcap" -Y 'ip.addr==192.168.0.0/16' >"$NB_TMP/leak-site.txt" 2>/dev/null &
t1=$!
tshark -r "$NB_TMP/out/carrier-wan.pcap" -Y 'ip.addr==100.64.0.0/10' >"$NB_TMP/leak-carrier.txt" 2>/dev/null &
t2=$!
wait "$t1" "$t2"
[ ! -s "$NB_TMP/leak-site.txt" ] || nb_fail "outside captures show a site address: $(head -3 "$NB_TMP/leak-site.txt")"
[ ! -s "$NB_TMP/leak-carrier.txt" ] || nb_fail "carrier-wan.pcap shows a carrier-inside address: $(head -3 "$NB_TMP/leak-carrier.txt")"

natbed down --prefix "$NB_PREFIX" || nb_fail "natbed down"
left=$(ip netns list | awk '{print $1}' | grep "^$NB_PREFIX" || true)
[ -z "$left" ] || nb_fail "namespaces left after down: $left"
! pgrep -f -- "--prefix $NB_PREFIX" >/dev/null || nb_fail "processes left: $(pgrep -af -- "--prefix $NB_PREFIX")"
nb_pass "presets classified as claimed by turnutils_natdiscovery and stun; no inside address outside"
