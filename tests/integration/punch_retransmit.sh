#!/usr/bin/env bash
# Hole punching on real packets between two port-restricted (cone) NATs,
# alice (natbed-agent connect --method punch) to bob (serve):
#  - retransmission (issue 10): a targeted link drop on alice's access link
#    (`natbed ctl link alice set drop-first 1 up` with drop-match udp:40000,
#    bob's port) takes exactly the first punch check of each connect. The
#    punch still succeeds, on the check retransmitted one schedule step
#    later, and its setup time grows by that step: 100 ms, the schedule's
#    first interval (docs/methods.md, mc_schedule_offset(1) in
#    agents/method_checks.c). Connects with and without the drop alternate
#    (three each); the difference of their median setup_ms, and of their
#    median try times (`tried[0].ms`, from the common start), must be one
#    interval within half an interval: no absolute time is asserted, so a
#    slow machine slows both alike;
#  - the captures show the method (issue 10): for a punch, datagrams both
#    ways between the two NATs' public addresses on both NATs' outside
#    captures (a-wan.pcap, b-wan.pcap), every probe of the data phase there
#    and none anywhere near the rendezvous, and after the path was found
#    nothing through the rendezvous: its capture holds only REGISTER
#    messages (registration refreshes, the connect giving its name up)
#    from then on. Messages are named by natbed's dissector
#    (scripts/wireshark/natbed.lua) in tshark.
. "$(dirname "$0")/../lib.sh"
nb_need jq tshark
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
ctl() { natbed ctl --prefix "$NB_PREFIX" "$@" >/dev/null || nb_fail "natbed ctl $*"; }
INTERVAL_MS=100 # mc_schedule_offset(1): the first retransmission

cat >"$NB_TMP/punch.yaml" <<'EOF'
name: punch-retransmit
seed: 3
defaults:
  link: { delay: 2ms }
internet:
  link: { delay: 5ms }
nats:
  a: { preset: port-restricted, public: 203.0.113.1, inside: 192.168.1.0/24 }
  b: { preset: port-restricted, public: 203.0.113.2, inside: 192.168.2.0/24 }
hosts:
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  rdv:
    address: 198.51.100.20
    run: natbed-rendezvous --listen 198.51.100.20
  alice: { nat: a }
  bob:
    nat: b
    run: natbed-agent serve --name bob --rendezvous 198.51.100.20 --stun 198.51.100.10 --nat port-restricted --bind 0.0.0.0:40000
EOF
nb_up "$NB_TMP/punch.yaml"
out=$NB_TMP/out
nb_wait_for 30 "bob registered" grep -q "registered as bob" "$out/bob.log"

# connect NAME: one punch from alice to bob; its JSON line in $NB_TMP/NAME.json
connect() {
	x alice natbed-agent connect --name "$1" --rendezvous 198.51.100.20 \
		--stun 198.51.100.10 --nat port-restricted --peer bob --method punch \
		>"$NB_TMP/$1.json" 2>"$NB_TMP/$1.log" ||
		nb_fail "connect $1 failed: $(cat "$NB_TMP/$1.json" "$NB_TMP/$1.log")"
	jq -e '.success and .method == "punch" and .path == "direct"' "$NB_TMP/$1.json" >/dev/null ||
		nb_fail "connect $1: $(cat "$NB_TMP/$1.json")"
}
targeted() { natbed ctl --prefix "$NB_PREFIX" --json link alice show | jq '.up.drops.targeted'; }

# --- the first check dropped, recovered one interval later ---------------
for i in 1 2 3; do
	connect "base$i"
	ctl link alice set drop-match udp:40000 up
	ctl link alice set drop-first 1 up
	before=$(targeted)
	connect "drop$i"
	after=$(targeted)
	ctl link alice set drop-first 0 up
	ctl link alice set drop-match none up
	# exactly one packet dropped: the first check (the connect's talk to
	# the STUN server and the rendezvous is on other ports)
	[ $((after - before)) = 1 ] || nb_fail "drop$i: $((after - before)) packets dropped, not the first check alone"
done
median() { # KEY RUN: the median of KEY over RUN1..3
	for i in 1 2 3; do jq "$1" "$NB_TMP/$2$i.json"; done | sort -g | sed -n 2p
}
for key in .setup_ms .tried[0].ms; do
	b=$(median "$key" base)
	d=$(median "$key" drop)
	diff=$(awk -v b="$b" -v d="$d" 'BEGIN { printf "%d", d - b }')
	echo "$key: median $b ms, first check dropped $d ms: +$diff ms"
	[ "$diff" -ge $((INTERVAL_MS / 2)) ] && [ "$diff" -le $((INTERVAL_MS * 3 / 2)) ] ||
		nb_fail "$key grew by $diff ms with the first check dropped, not one interval ($INTERVAL_MS ms)"
done

# --- the captures of a punch: direct both ways, nothing via the rendezvous -
connect cap
ctl show ports # flushes the captures
mkdir -p "$NB_TMP/home"
ts() { # PCAP FILTER FIELDS...: tshark with natbed's dissector (a HOME of its own)
	local pcap=$1 filter=$2 f fields=()
	shift 2
	for f in "$@"; do fields+=(-e "$f"); done
	HOME=$NB_TMP/home XDG_CONFIG_HOME=$NB_TMP/home/.config tshark -r "$out/$pcap" \
		-X lua_script:"$NATBED_SRC/scripts/wireshark/natbed.lua" -o udp.try_heuristic_first:TRUE \
		-Y "$filter" -T fields "${fields[@]}" 2>/dev/null
}
local_ep=$(jq -r .local "$NB_TMP/cap.json")
remote_ep=$(jq -r .remote "$NB_TMP/cap.json")
la=${local_ep%:*} lp=${local_ep##*:} ra=${remote_ep%:*} rp=${remote_ep##*:}
[ "$la" = 203.0.113.1 ] && [ "$ra" = 203.0.113.2 ] ||
	nb_fail "the path $local_ep -> $remote_ep is not between the NATs' public addresses"
fwd="ip.src == $la && udp.srcport == $lp && ip.dst == $ra && udp.dstport == $rp"
rev="ip.src == $ra && udp.srcport == $rp && ip.dst == $la && udp.dstport == $lp"
for pcap in a-wan.pcap b-wan.pcap; do
	n1=$(ts "$pcap" "$fwd" frame.number | wc -l)
	n2=$(ts "$pcap" "$rev" frame.number | wc -l)
	# 10 probes and their echoes, and the checks before them
	[ "$n1" -ge 10 ] && [ "$n2" -ge 10 ] ||
		nb_fail "$pcap: $n1 datagrams $local_ep -> $remote_ep, $n2 back: not both ways"
done
# the data phase: every probe of this connect's socket is on the path
probes=$(ts a-wan.pcap "natbed.type.method == 0x0e8 && udp.port == $lp" frame.number | wc -l)
onpath=$(ts a-wan.pcap "natbed.type.method == 0x0e8 && (($fwd) || ($rev))" frame.number | wc -l)
[ "$probes" = 20 ] && [ "$onpath" = 20 ] ||
	nb_fail "a-wan.pcap: $probes probes and echoes of the connect, $onpath of them on the path (want 20)"
# setup: the first probe left; from then on the rendezvous sees
# registrations only, and never a probe or a check of a try
setup=$(ts a-wan.pcap "natbed.type.method == 0x0e8 && $fwd" frame.time_epoch | head -1)
[ -n "$setup" ] || nb_fail "no probe in a-wan.pcap"
other=$(ts rdv.pcap "natbed && !icmp && frame.time_epoch >= $setup && natbed.type.method != 0x0e0" \
	frame.time_epoch ip.src ip.dst natbed.msg)
[ -z "$other" ] || nb_fail "rdv.pcap after setup: more than registrations: $other"
before=$(ts rdv.pcap "natbed && !icmp && frame.time_epoch < $setup && natbed.type.method == 0x0e1" frame.number | wc -l)
[ "$before" -ge 1 ] || nb_fail "rdv.pcap: no CONNECT before setup: is it the rendezvous' capture?"
via=$(ts rdv.pcap "natbed.type.method == 0x0e8 || (natbed.try && natbed.type.method == 0x001)" frame.number | wc -l)
[ "$via" = 0 ] || nb_fail "rdv.pcap: $via probes or checks through the rendezvous"
nb_pass "punch: the first check dropped costs one interval; the path is direct both ways between $la and $ra, nothing via the rendezvous after setup"
