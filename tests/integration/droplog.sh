#!/usr/bin/env bash
# Issue 9: every drop is a line in events.jsonl (time, port, 5-tuple,
# reason), rate-limited under a flood with a count of the lines left out.
#  - a stranger's datagram to a port-restricted mapping: one "drop" line,
#    reason "filtered", the stranger's port and the exact 5-tuple as the
#    NAT saw it;
#  - a flood of N such datagrams: at most the bucket's burst plus its rate
#    over the flood's span of lines, and lines plus the "drops_suppressed"
#    counts add up to the NAT's filtered count (the datagrams that reached
#    it: on a loaded machine a few of the flood may be lost before).
. "$NATBED_SRC/tests/lib.sh"
command -v jq >/dev/null || nb_skip "jq not installed"
PY=$(command -v /usr/bin/python3 || command -v python3) || nb_skip "python3 not installed"
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
ctl() { natbed ctl --prefix "$NB_PREFIX" "$@"; }

cat >"$NB_TMP/t.yaml" <<'YAML'
name: droplog
seed: 3
nats:
  home: { preset: port-restricted, ports: preserve, public: 203.0.113.10, inside: 192.168.1.0/24 }
hosts:
  peer: { address: 198.51.100.10 }
  stranger: { address: 198.51.100.20 }
  alice: { nat: home, address: 192.168.1.2 }
YAML
# send SPORT DST DPORT COUNT: COUNT datagrams as fast as the socket takes them
cat >"$NB_TMP/send.py" <<'PY'
import socket, sys
sport, dst, dport, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), min(int(sys.argv[4]), 20000)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", sport))
for n in range(count):
    while True:
        try:
            s.sendto(b"x%d" % n, (dst, dport)); break
        except BlockingIOError:
            pass
PY
filtered() { ctl --json nat home stats | jq -r '.drops.filtered // 0'; }
wait_filtered() { # N: until the NAT counted N filtered (5 s at most)
	local _
	for _ in $(seq 1 100); do [ "$(filtered)" -ge "$1" ] && return 0; sleep 0.05; done
	nb_fail "home counted $(filtered) filtered datagrams, want $1"
}
# settled AT_LEAST: until the NAT's filtered count stops growing (the same
# for half a second, 10 s at most) and is at least AT_LEAST; prints it, or
# fails (status 1). A flood on a loaded machine may lose datagrams before
# the emulator reads them (its port's ring full): what reached the NAT is
# what it counts.
settled() {
	local _ last=-1 now same=0
	for _ in $(seq 1 200); do
		now=$(filtered)
		if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; fi
		last=$now
		[ "$same" -ge 10 ] && [ "$now" -ge "$1" ] && { echo "$now"; return 0; }
		sleep 0.05
	done
	filtered
	return 1
}

nb_up "$NB_TMP/t.yaml"
ev=$NB_TMP/out/events.jsonl
# resolve ARP both ways first, so nothing but the flood is dropped
x alice ping -c 1 -W 2 198.51.100.10 >/dev/null || nb_fail "alice cannot reach peer"
x stranger ping -c 1 -W 2 198.51.100.10 >/dev/null || nb_fail "stranger cannot reach peer"
x alice $PY "$NB_TMP/send.py" 40000 198.51.100.10 9 1 || nb_fail "alice: send"
x stranger $PY "$NB_TMP/send.py" 5555 203.0.113.10 40000 1 || nb_fail "stranger: send"
wait_filtered 1
ctl show ports >/dev/null # flushes the event log
line=$(jq -c 'select(.event == "drop" and .reason == "filtered")' "$ev")
[ "$(echo "$line" | grep -c .)" -eq 1 ] || nb_fail "want one filtered drop line, got: $line"
echo "$line" | jq -e '.port == "stranger" and .src == "198.51.100.20" and .sport == 5555 and
	.dst == "203.0.113.10" and .dport == 40000 and .proto == 17 and .nat == "home" and
	.counter == "nat" and (.t_ns | type) == "number"' >/dev/null ||
	nb_fail "the filtered drop line is wrong: $line"

N=5000
x stranger $PY "$NB_TMP/send.py" 5556 203.0.113.10 40000 $N || nb_fail "stranger: flood"
F=$(settled $((N / 2 + 1))) || # the flood's and the first
	nb_fail "home's filtered count did not settle at $((N / 2 + 1)) or more: $F"
[ "$F" -le $((N + 1)) ] || nb_fail "home counted $F filtered, more than the $((N + 1)) sent"
natbed down --prefix "$NB_PREFIX" >/dev/null || nb_fail "natbed down"
lines=$(jq -s '[.[] | select(.event == "drop" and .reason == "filtered")] | length' "$ev")
others=$(jq -s '[.[] | select(.event == "drop" and .reason != "filtered")] | length' "$ev")
suppressed=$(jq -s '[.[] | select(.event == "drops_suppressed") | .count] | add // 0' "$ev")
span=$(jq -s '[.[] | select(.event == "drop" and .sport == 5556) | .t_ns] | (max - min)' "$ev")
echo "flood of $N ($F reached the NAT with the first): $lines lines over $span ns, $suppressed suppressed, $others other drop lines"
[ "$others" -eq 0 ] || nb_fail "drops other than the filtered ones: $(jq -c 'select(.event == "drop" and .reason != "filtered")' "$ev" | head -3)"
[ "$suppressed" -gt 0 ] || nb_fail "a flood of $N drops left no line out"
[ $((lines + suppressed)) -eq "$F" ] ||
	nb_fail "$lines lines and $suppressed suppressed do not add up to the $F filtered drops"
max=$(awk -v s="$span" 'BEGIN { printf "%d", 1000 + 1000 * s / 1e9 + 1 }')
[ "$lines" -le "$max" ] || nb_fail "$lines drop lines over $span ns, the limit is $max"
nb_pass "droplog: filtered drop logged with its 5-tuple; a flood of $N rate-limited and counted"
