#!/usr/bin/env bash
# RFC 4787 REQ-14 end to end: a UDP datagram sent as two fragments, the
# later one first, crosses a natbed NAT both ways (alice -> server, and the
# server's answer, again reversed, back to alice's mapping) and is
# reassembled whole by the receiving kernel; the captures show each
# datagram's fragments leaving in order. A lone later fragment whose
# first never comes is dropped after the hold time and counted as
# fragment_timeout; the NAT's outside capture never shows alice's address.
. "$NATBED_SRC/tests/lib.sh"
command -v tshark >/dev/null || nb_skip "tshark not installed"
PY=$(command -v /usr/bin/python3 || command -v python3) || nb_skip "python3 not installed"
T=$NATBED_SRC/tests/tools/fragudp.py
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
ctl() { natbed ctl --prefix "$NB_PREFIX" "$@"; }

cat >"$NB_TMP/frag.yaml" <<'YAML'
name: fragments
seed: 3
nats:
  home: { preset: port-restricted, public: 203.0.113.10, inside: 192.168.1.0/24 }
hosts:
  alice: { nat: home, address: 192.168.1.10 }
  server: { address: 198.51.100.10 }
YAML
nb_up "$NB_TMP/frag.yaml"
x alice ping -c 1 -W 2 198.51.100.10 >/dev/null || nb_fail "alice cannot reach the server"

# the lone later fragment first: its hold time runs while the rest goes on
x alice $PY $T later 192.168.1.10 6001 198.51.100.10 9001 || nb_fail "lone fragment not sent"
lone_at=$(date +%s.%N)

x server $PY $T echo 198.51.100.10 9000 10 >"$NB_TMP/echo" 2>&1 &
epid=$!
NB_PIDS+=($epid)
nb_wait_listen udp 9000 x server
out=$(x alice $PY $T send 192.168.1.10 5000 198.51.100.10 9000 2000 5) || nb_fail "fragudp send: $out"
wait $epid
got=$(cat "$NB_TMP/echo")
[ "$got" = "got 2000 203.0.113.10 5000" ] \
	|| nb_fail "server: want 'got 2000 203.0.113.10 5000' (the whole datagram from alice's mapping), got '$got'"
[ "$out" = "reply 2000 198.51.100.10 9000" ] \
	|| nb_fail "alice: want 'reply 2000 198.51.100.10 9000' (the reversed answer through the NAT), got '$out'"

stats=$(ctl nat home stats) || nb_fail "ctl nat home stats"
held=$(echo "$stats" | sed -n 's/.*"fragments_held": *\([0-9]*\).*/\1/p')
[ "${held:-0}" -ge 3 ] || nb_fail "fragments_held ${held:-?}, want >= 3 (two reversed datagrams and the lone one): $stats"

# the lone fragment's hold (10 s) ends: dropped and counted. Letting the
# hold run out in real time is what is tested, so this sleep is a duration,
# not a wait: the fragment arrived before lone_at, so its 10 s are over when
# the sleep ends; the drop itself is then waited for.
left=$(awk -v a="$lone_at" -v b="$(date +%s.%N)" 'BEGIN { d = 10 - (b - a); print (d > 0 ? d : 0) }')
sleep "$left"
timed_out() { # prints the stats, shown if it never comes
	local st
	st=$(ctl nat home stats) && echo "$st" && echo "$st" | tr -d ' \n' | grep -q '"fragment_timeout":1'
}
nb_wait_for 5 "the lone later fragment counted as fragment_timeout" timed_out

natbed down --prefix "$NB_PREFIX" >/dev/null 2>&1
n=$(tshark -r "$NB_TMP/out/home-wan.pcap" -Y "ip.addr == 192.168.1.10" 2>/dev/null | wc -l)
[ "$n" -eq 0 ] || nb_fail "home's outside capture shows alice's inside address ($n packets)"
n=$(tshark -r "$NB_TMP/out/home-wan.pcap" -Y "ip.flags.mf == 1 || ip.frag_offset > 0" 2>/dev/null | wc -l)
[ "$n" -ge 4 ] || nb_fail "home's outside capture shows $n fragments, want >= 4"
# held fragments go on right behind their first: leaving the NAT (alice's
# datagram on home's outside, the server's answer on alice's port) every
# datagram's offset-0 fragment comes before its later one
in_order() { # PCAP FILTER: each fragmented IP id's first offset is 0
	tshark -r "$1" -Y "($2) && (ip.flags.mf == 1 || ip.frag_offset > 0)" -T fields -e ip.id -e ip.frag_offset 2>/dev/null |
		awk '!($1 in seen) { seen[$1] = 1; if ($2 != 0) bad++ } END { exit !(NR > 0 && bad == 0) }'
}
in_order "$NB_TMP/out/home-wan.pcap" "ip.dst == 203.0.113.10" &&
	nb_fail "home's outside capture: the server's answer did not arrive out of order (the test's premise)"
in_order "$NB_TMP/out/home-wan.pcap" "ip.src == 203.0.113.10" ||
	nb_fail "home's outside capture: a later fragment left before its first"
in_order "$NB_TMP/out/alice.pcap" "ip.dst == 192.168.1.10" ||
	nb_fail "alice's capture: a later fragment of the answer arrived before its first"
nb_pass "out-of-order fragments cross the NAT both ways, put back in order; a lone one times out"
