#!/usr/bin/env bash
# natbed up --capture: all (the default) writes a pcap per port and per NAT,
# none writes no pcap, a list writes exactly the captures it names, and a
# name the topology does not have fails with the names it has, building
# nothing. events.jsonl is written in every case.
. "$NATBED_SRC/tests/lib.sh"
topo="$NATBED_SRC/topologies/lan.yaml" # hosts alice, bob, stun; NAT home
command -v tshark >/dev/null || nb_skip "tshark not installed (run scripts/setup.sh)"

# run NAME [--capture SEL]: up, one ping alice -> stun through home, down;
# leaves the sorted list of files in $NB_TMP/NAME.files
run() {
	local name=$1 out=$NB_TMP/$1
	shift
	natbed up --prefix "$NB_PREFIX" --out "$out" "$@" "$topo" >"$NB_TMP/up.log" 2>&1 ||
		{ cat "$NB_TMP/up.log"; nb_fail "$name: natbed up $*"; }
	natbed exec --prefix "$NB_PREFIX" alice -- ping -c 1 -W 2 198.51.100.10 >/dev/null ||
		nb_fail "$name: alice does not ping stun"
	natbed down --prefix "$NB_PREFIX" >/dev/null 2>&1 || nb_fail "$name: natbed down"
	(cd "$out" && ls *.pcap 2>/dev/null | sort | tr '\n' ' ') >"$NB_TMP/$name.files"
	[ -f "$out/events.jsonl" ] || nb_fail "$name: no events.jsonl"
}

# echo-requests in a capture: a pcap that is written and whole
icmp_requests() { tshark -r "$1" -Y 'icmp.type == 8' 2>/dev/null | wc -l; }

# a bad name: exit 2, the name and what the topology has, nothing built
out=$(natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/bad" --capture alice,carol "$topo" 2>&1)
rc=$?
[ $rc -eq 2 ] || nb_fail "--capture alice,carol: exit $rc, want 2 ($out)"
echo "$out" | grep -qF "'carol' is neither a host nor a NAT of topology lan (hosts: alice, bob, stun; NATs: home)" ||
	nb_fail "--capture alice,carol: unclear error: $out"
[ -z "$(ip netns list | grep "^$NB_PREFIX")" ] || nb_fail "namespaces built for a bad --capture"
[ ! -e "/run/natbed/$NB_PREFIX" ] || nb_fail "state left for a bad --capture"
[ ! -e "$NB_TMP/bad" ] || nb_fail "output directory made for a bad --capture"

run all
[ "$(cat "$NB_TMP/all.files")" = "alice.pcap bob.pcap home-wan.pcap stun.pcap " ] ||
	nb_fail "default: wrote $(cat "$NB_TMP/all.files")"
for f in alice stun home-wan; do
	[ "$(icmp_requests "$NB_TMP/all/$f.pcap")" -ge 1 ] || nb_fail "default: no echo request in $f.pcap"
done

run none --capture none
[ "$(cat "$NB_TMP/none.files")" = "" ] || nb_fail "--capture none: wrote $(cat "$NB_TMP/none.files")"

run some --capture alice,home
[ "$(cat "$NB_TMP/some.files")" = "alice.pcap home-wan.pcap " ] ||
	nb_fail "--capture alice,home: wrote $(cat "$NB_TMP/some.files")"
for f in alice home-wan; do
	[ "$(icmp_requests "$NB_TMP/some/$f.pcap")" -ge 1 ] ||
		nb_fail "--capture alice,home: no echo request in $f.pcap"
done

nb_pass "--capture: all, none, alice,home and a bad name"
