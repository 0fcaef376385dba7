#!/usr/bin/env bash
# NAT behaviours end to end, on one bring-up with a NAT per behaviour:
#  - hairpinning on and off (RFC 4787 REQ-9): turnutils_natdiscovery -H and
#    the stun client agree, and a datagram from one inside host to the
#    other's public mapping arrives (with the external source) or not;
#  - lifetime (REQ-5, REQ-6): with a 2 s timeout an idle mapping is gone and
#    the next query gets a new (sequential) port, one refreshed every second
#    keeps its port;
#  - exhaustion (REQ-3): 16 ports, 17 flows: one refused and counted, the
#    16 mappings on distinct ports;
#  - filtering seen in the captures: a stranger's datagram to a port-
#    restricted mapping is on the NAT's outside capture, counted as filtered,
#    and on no inside capture; no outside capture shows an inside address;
#  - ctl nat NAME flush drops every mapping; ctl checkpoint / restore bring
#    them back.
. "$NATBED_SRC/tests/lib.sh"
command -v turnutils_natdiscovery >/dev/null || nb_skip "coturn (turnutils_natdiscovery) not installed"
command -v stun >/dev/null || nb_skip "stun-client (stun) not installed"
command -v tshark >/dev/null || nb_skip "tshark not installed"
command -v mergecap >/dev/null || nb_skip "mergecap (wireshark-common) not installed"
# the system python: a pyenv shim first in PATH costs half a second a call
PY=$(command -v /usr/bin/python3 || command -v python3) || nb_skip "python3 not installed"
command -v ss >/dev/null || nb_skip "iproute2 ss not installed"

x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
ctl() { natbed ctl --prefix "$NB_PREFIX" "$@"; }
tag=nb$RANDOM$RANDOM

topo=$NB_TMP/behaviour.yaml
cat >"$topo" <<'EOF'
name: behaviour
seed: 5
nats:
  hon:  { preset: full-cone, hairpin: true, public: 203.0.113.21, inside: 192.168.21.0/24 }
  hoff: { preset: full-cone, hairpin: false, public: 203.0.113.22, inside: 192.168.22.0/24 }
  life: { preset: port-restricted, ports: sequential, timeout: 2s, public: 203.0.113.23, inside: 192.168.23.0/24 }
  ex:   { preset: port-restricted, port-range: 40000-40015, public: 203.0.113.24, inside: 192.168.24.0/24 }
  home: { preset: port-restricted, ports: sequential, public: 203.0.113.25, inside: 192.168.25.0/24 }
hosts:
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  stranger: { address: 198.51.100.20 }
  a1: { nat: hon, address: 192.168.21.10 }
  a2: { nat: hon, address: 192.168.21.11 }
  b1: { nat: hoff, address: 192.168.22.10 }
  b2: { nat: hoff, address: 192.168.22.11 }
  l1: { nat: life }
  e1: { nat: ex }
  h1: { nat: home }
EOF

# UDP helper: listen PORT SECONDS (prints the first datagram's source and
# payload, or nothing) | send SPORT DST DPORT PAYLOAD |
# flows FIRST N DST DPORT (N sockets, one datagram each)
cat >"$NB_TMP/udp.py" <<'EOF'
import socket, sys, time
def sock(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    return s
cmd = sys.argv[1]
if cmd == "listen":
    s = sock(int(sys.argv[2]))
    s.settimeout(float(sys.argv[3]))
    try:
        data, (ip, port) = s.recvfrom(2048)
        print("%s:%d %s" % (ip, port, data.decode(errors="replace")), flush=True)
    except socket.timeout:
        pass
elif cmd == "send":
    sock(int(sys.argv[2])).sendto(sys.argv[5].encode(), (sys.argv[3], int(sys.argv[4])))
elif cmd == "flows":
    first, n = int(sys.argv[2]), int(sys.argv[3])
    socks = [sock(first + i) for i in range(n)]
    for i, s in enumerate(socks):
        s.sendto(b"flow-%d" % i, (sys.argv[4], int(sys.argv[5])))
        time.sleep(0.01)  # paced, one flow after another: not a wait
EOF
udp() { local h=$1; shift; x "$h" timeout 10 "$PY" "$NB_TMP/udp.py" "$@"; }

# json FILE EXPR: evaluates a python expression over the JSON in FILE (as j)
json() { $PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
stat_of() { # NAT KEY: a counter from ctl nat NAT stats (keys are unique there)
	local v
	v=$(ctl nat "$1" stats | awk -v k="\"$2\":" '$1 == k {gsub(/,/, "", $2); print $2}')
	[ -n "$v" ] || nb_fail "ctl nat $1 stats: no counter $2"
	echo "$v"
}
mappings() { # NAT FILE: its mappings as JSON into FILE
	ctl nat "$1" mappings >"$2" || nb_fail "ctl nat $1 mappings"
}
# mapped HOST SRCPORT: the outside port natbed-stund reports for that socket
mapped() {
	local out
	out=$(x "$1" timeout 5 natbed-stunclient --timeout 2000 --source "0.0.0.0:$2" 198.51.100.10 2>&1) \
		|| nb_fail "natbed-stunclient from $1:$2: $out"
	echo "$out" | awk '/^xor-mapped-address/ {n = split($2, a, ":"); print a[n]; exit}'
}
# bound HOST PORT: wait until a UDP socket listens on PORT
bound() { nb_wait_listen udp "$2" x "$1"; }

nb_up "$topo"
nb_stund_ready a1 198.51.100.10

# --- hairpinning: the classifiers, in the background while the rest runs --
hairpin_tools() { # HOST
	x "$1" timeout 30 turnutils_natdiscovery -H 198.51.100.10 >"$NB_TMP/$1.hairpin" 2>&1
	x "$1" timeout 30 stun 198.51.100.10 -v >"$NB_TMP/$1.stun" 2>&1
	return 0
}
hairpin_tools a1 &
tools_a=$!
hairpin_tools b1 &
tools_b=$!

# --- hairpinning: a datagram to the other inside host's public mapping ----
hairpin_packet() { # NAT PUBLIC HOST1 HOST2: HOST2 -> HOST1's mapping
	local nat=$1 pub=$2 h1=$3 h2=$4 port
	port=$(mapped "$h1" 40001)
	[ "$port" = 40001 ] || nb_fail "$nat: full-cone with preserve mapped $h1:40001 to $port"
	nb_bg x "$h1" timeout 8 "$PY" "$NB_TMP/udp.py" listen 40001 2 >"$NB_TMP/$h1.recv"
	local lpid=${NB_PIDS[-1]}
	bound "$h1" 40001
	udp "$h2" send 40002 "$pub" "$port" "hairpin-$tag-$nat" || nb_fail "send $h2 -> $pub:$port"
	wait "$lpid"
}
hairpin_packet hon 203.0.113.21 a1 a2
hairpin_packet hoff 203.0.113.22 b1 b2
# REQ-9: it arrives from a2's external endpoint, not from its inside address
got=$(cat "$NB_TMP/a1.recv")
[ "$got" = "203.0.113.21:40002 hairpin-$tag-hon" ] \
	|| nb_fail "hairpin on: a1 received '$got', want '203.0.113.21:40002 hairpin-$tag-hon'"
[ ! -s "$NB_TMP/b1.recv" ] || nb_fail "hairpin off: b1 received '$(cat "$NB_TMP/b1.recv")'"
[ "$(stat_of hon hairpinned)" -ge 1 ] || nb_fail "hon counts no hairpinned packet"
[ "$(stat_of hoff hairpinned)" -eq 0 ] || nb_fail "hoff (hairpin off) counts hairpinned packets"

# --- lifetime: 2 s; 41000 stays idle, 41001 is refreshed every second -----
p1=$(mapped l1 41000)
q1=$(mapped l1 41001)
[ "$q1" -eq $((p1 + 1)) ] || nb_fail "life: sequential ports gave $p1 then $q1"
mappings life "$NB_TMP/life0.json"
grep -q '"inside": "[0-9.]*:41000"' "$NB_TMP/life0.json" || nb_fail "life: no mapping for l1:41000"
for i in 1 2 3; do
	# a duration, not a wait: the mapping's 2 s lifetime runs in real time,
	# refreshed once a second, and 41000 stays idle for 3 s
	sleep 1
	q=$(mapped l1 41001)
	[ "$q" = "$q1" ] || nb_fail "life: refreshed every 1 s, port $q1 became $q after ${i}s"
done
# 3 s idle > 2 s timeout: 41000's mapping is gone, 41001's is not
mappings life "$NB_TMP/life1.json"
! grep -q '"inside": "[0-9.]*:41000"' "$NB_TMP/life1.json" || nb_fail "life: l1:41000 still mapped after 3 s idle"
grep -q '"inside": "[0-9.]*:41001"' "$NB_TMP/life1.json" || nb_fail "life: refreshed l1:41001 expired"
[ "$(stat_of life mappings_expired)" -ge 1 ] || nb_fail "life: no expiry counted"
p2=$(mapped l1 41000)
[ "$p2" != "$p1" ] || nb_fail "life: l1:41000 got its old port $p1 back after expiry"
[ "$p2" -eq $((q1 + 1)) ] || nb_fail "life: sequential ports: want $((q1 + 1)) after expiry, got $p2"

# --- exhaustion: 16 ports, 17 flows ------------------------------------
udp e1 flows 50000 17 198.51.100.20 9 || nb_fail "e1: 17 flows"
ex_saw_all() { [ "$(stat_of ex port_exhaustion)" -ge 1 ] && [ "$(stat_of ex mappings_active)" -ge 16 ]; }
nb_wait_for 10 "ex to map 16 flows and refuse one" ex_saw_all
[ "$(stat_of ex port_exhaustion)" -eq 1 ] || nb_fail "ex: port_exhaustion $(stat_of ex port_exhaustion), want 1"
[ "$(stat_of ex mappings_active)" -eq 16 ] || nb_fail "ex: $(stat_of ex mappings_active) mappings, want 16"
mappings ex "$NB_TMP/ex.json"
outs=$(json "$NB_TMP/ex.json" "' '.join(m['outside'] for m in j)")
[ "$(echo "$outs" | tr ' ' '\n' | sort -u | wc -l)" -eq 16 ] || nb_fail "ex: outside endpoints not 16 distinct: $outs"
for o in $outs; do
	p=${o##*:}
	[ "${o%:*}" = 203.0.113.24 ] && [ "$p" -ge 40000 ] && [ "$p" -le 40015 ] || nb_fail "ex: mapping outside the pool: $o"
done

# --- filtering: a stranger writes to a port-restricted mapping ---------
ph=$(mapped h1 42000)
f0=$(stat_of home filtered)
udp stranger send 5555 203.0.113.25 "$ph" "stranger-$tag" || nb_fail "stranger send"
filtered_more() { [ "$(stat_of home filtered)" -gt "$f0" ]; }
nb_wait_for 10 "home to filter the stranger's datagram" filtered_more
[ "$(stat_of home filtered)" -eq $((f0 + 1)) ] || nb_fail "home: the stranger's datagram was not counted as filtered"

# --- flush: a NAT reboot --------------------------------------------------
[ "$(stat_of home mappings_active)" -ge 1 ] || nb_fail "home: no mapping before flush"
ctl nat home flush >/dev/null || nb_fail "ctl nat home flush"
mappings home "$NB_TMP/home-flushed.json"
[ "$(json "$NB_TMP/home-flushed.json" "len(j)")" -eq 0 ] || nb_fail "home: mappings left after flush"
[ "$(stat_of home mappings_active)" -eq 0 ] || nb_fail "home: mappings_active not 0 after flush"
ph2=$(mapped h1 42000)
[ "$ph2" != "$ph" ] || nb_fail "home: after flush h1:42000 kept port $ph (sequential: a new one expected)"

# --- checkpoint and restore ----------------------------------------------
c1=$(mapped h1 43000)
mappings home "$NB_TMP/home-before.json"
pairs() { json "$1" "sorted((m['proto'], m['inside'], m['outside']) for m in j)"; }
ctl checkpoint "$NB_TMP/ck.json" >/dev/null || nb_fail "ctl checkpoint"
[ -s "$NB_TMP/ck.json" ] || nb_fail "ctl checkpoint wrote nothing"
ctl nat home flush >/dev/null || nb_fail "ctl nat home flush (before restore)"
[ "$(json "$NB_TMP/home-before.json" "len(j)")" -ge 2 ] || nb_fail "home: want 2 mappings before the checkpoint"
ctl restore "$NB_TMP/ck.json" >/dev/null || nb_fail "ctl restore"
mappings home "$NB_TMP/home-after.json"
[ "$(pairs "$NB_TMP/home-before.json")" = "$(pairs "$NB_TMP/home-after.json")" ] \
	|| nb_fail "restore: mappings differ: $(pairs "$NB_TMP/home-before.json") vs $(pairs "$NB_TMP/home-after.json")"
# the restored mapping is used: a fresh one would get the next sequential port
[ "$(mapped h1 43000)" = "$c1" ] || nb_fail "restore: h1:43000 no longer maps to $c1"
ctl restore "$NB_TMP/no-such-checkpoint.json" >/dev/null 2>&1 && nb_fail "ctl restore of a missing file succeeded"

# --- the hairpin classifiers ------------------------------------------------
wait "$tools_a" "$tools_b"
grep -q "Received a request (maybe a successful hairpinning)" "$NB_TMP/a1.hairpin" \
	|| nb_fail "hairpin on: turnutils_natdiscovery -H saw no hairpinning: $(cat "$NB_TMP/a1.hairpin")"
! grep -q "Received a request" "$NB_TMP/b1.hairpin" \
	|| nb_fail "hairpin off: turnutils_natdiscovery -H saw hairpinning"
grep -q "^Primary: .*, will hairpin" "$NB_TMP/a1.stun" || nb_fail "hairpin on: stun says $(grep Primary "$NB_TMP/a1.stun")"
grep -q "^Primary: .*, no hairpin" "$NB_TMP/b1.stun" || nb_fail "hairpin off: stun says $(grep Primary "$NB_TMP/b1.stun")"

# --- captures -------------------------------------------------------------
# tshark costs about a second a run: the outside captures merged in one run,
# the inside ones in another, both at once; then grep their text.
ctl show ports >/dev/null # flushes captures
out=$NB_TMP/out
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
fields() { # PCAP FILTER > text: source, destination, source port, payload
	tshark -r "$1" -Y "$2" -T fields -E occurrence=a -e ip.src -e ip.dst -e udp.srcport \
		-e udp.payload 2>/dev/null
}
for n in hon hoff life ex home; do
	# 24 bytes is a pcap file header and no packet
	[ "$(stat -c %s "$out/$n-wan.pcap")" -gt 24 ] || nb_fail "$n-wan.pcap is empty"
done
mergecap -w "$NB_TMP/wan.pcap" "$out"/{hon,hoff,life,ex,home}-wan.pcap || nb_fail "mergecap wan"
mergecap -w "$NB_TMP/in.pcap" "$out"/{a1,a2,b1,b2,l1,e1,h1}.pcap || nb_fail "mergecap inside"
fields "$NB_TMP/wan.pcap" "ip.addr==192.168.0.0/16 || udp contains \"$tag\"" >"$NB_TMP/wan.txt" &
tw=$!
fields "$NB_TMP/in.pcap" "udp contains \"$tag\"" >"$NB_TMP/in.txt" &
ti=$!
wait "$tw" "$ti"
# no outside capture shows an inside address (ICMP quotes included)
leaked=$(grep -c '192\.168\.' "$NB_TMP/wan.txt")
[ "$leaked" -eq 0 ] || nb_fail "outside captures show an inside address: $(grep '192\.168\.' "$NB_TMP/wan.txt" | head -3)"
# the stranger's datagram reached the NAT (only home's outside sees it) and
# nothing inside
stranger=$(hex "stranger-$tag")
[ "$(grep -c "$stranger" "$NB_TMP/wan.txt")" -eq 1 ] || nb_fail "home-wan.pcap lacks the stranger's datagram"
[ "$(grep -c "$stranger" "$NB_TMP/in.txt")" -eq 0 ] || nb_fail "an inside capture shows the filtered datagram"
# the hairpinned datagram: once on a1's capture, from the public endpoint;
# hairpin off: never on b1's (b2's own capture has it going out)
got=$(grep "$(hex "hairpin-$tag-hon")" "$NB_TMP/in.txt" | grep -P '\t192\.168\.21\.10\t' | cut -f1-3)
[ "$got" = "$(printf '203.0.113.21\t192.168.21.10\t40002')" ] \
	|| nb_fail "a1.pcap: hairpinned datagram seen as '$got', want once from 203.0.113.21:40002"
[ "$(grep "$(hex "hairpin-$tag-hoff")" "$NB_TMP/in.txt" | grep -cP '\t192\.168\.22\.10\t')" -eq 0 ] \
	|| nb_fail "b1.pcap shows a datagram hairpin off dropped"

natbed down --prefix "$NB_PREFIX" || nb_fail "natbed down"
left=$(ip netns list | awk '{print $1}' | grep "^$NB_PREFIX" || true)
[ -z "$left" ] || nb_fail "namespaces left after down: $left"
! pgrep -f -- "--prefix $NB_PREFIX" >/dev/null || nb_fail "processes left: $(pgrep -af -- "--prefix $NB_PREFIX")"
nb_pass "hairpinning, lifetime, exhaustion, filtering in the captures, flush, checkpoint/restore"
