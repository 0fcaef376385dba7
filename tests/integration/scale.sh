#!/usr/bin/env bash
# natbed up of a generated topology of 100 and then 500 public hosts (ring
# ports, the default): pings between far-apart ports, then `natbed down`
# right after the last reply. natbed-emu must leave within 200 ms of SIGTERM
# by natbed down's own measurement, without SIGKILL; every packet it
# forwarded must be in the captures, which tshark reads whole; its ring
# memory must fit the topology.
. "$NATBED_SRC/tests/lib.sh"
command -v tshark >/dev/null || nb_skip "tshark not installed"

LEAVE_MS=200	# natbed-emu's time from SIGTERM to gone
RSS_MAX_KB=262144 # natbed-emu's resident memory after up (rings, pool, captures)
PINGS=40

# 198.18.0.10 + i - 1, as bench/bringup.sh numbers them.
addr() {
	local v=$(((198 << 24) + (18 << 16) + $1 + 9))
	echo "$((v >> 24 & 255)).$((v >> 16 & 255)).$((v >> 8 & 255)).$((v & 255))"
}

gen() { # N: N public hosts h1..hN, no run lines
	local i
	{
		echo "name: scale$1"
		echo "hosts:"
		for ((i = 1; i <= $1; i++)); do printf '  h%d:\n    address: %s\n' "$i" "$(addr "$i")"; done
	} >"$NB_TMP/scale$1.yaml"
}

# count PCAP FILTER: records tshark finds; fails on a damaged file.
count() {
	local n
	n=$(tshark -r "$1" -Y "$2" 2>"$NB_TMP/tshark.err" | wc -l)
	! grep -qi "cut short\|appears to be damaged\|corrupt" "$NB_TMP/tshark.err" ||
		nb_fail "$1 damaged: $(cat "$NB_TMP/tshark.err")"
	echo "$n"
}

run() { # N
	local n=$1 out=$NB_TMP/o$1 t0 t1 emu rss pairs a b down ms
	gen "$n"
	t0=$(date +%s%N)
	natbed up --prefix "$NB_PREFIX" --out "$out" "$NB_TMP/scale$n.yaml" >"$NB_TMP/up$n.log" 2>&1 ||
		{ cat "$NB_TMP/up$n.log"; nb_fail "natbed up of $n hosts"; }
	t1=$(date +%s%N)
	emu=$(/usr/bin/python3 -c "import json;print([p['pid'] for p in json.load(open('/run/natbed/$NB_PREFIX/state.json'))['processes'] if p['name']=='emu'][0])")
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$emu/status")
	[ "$rss" -le "$RSS_MAX_KB" ] || nb_fail "$n hosts: natbed-emu holds $rss kB, want <= $RSS_MAX_KB kB"
	# the last ports too: each is opened, captured and closed with the rest
	pairs="1:$n $((n / 2)):$((n - 1))"
	for p in $pairs; do
		a=${p%:*} b=${p#*:}
		natbed exec --prefix "$NB_PREFIX" "h$a" -- ping -q -c "$PINGS" -i 0.005 -W 2 "$(addr "$b")" \
			>"$NB_TMP/ping.log" 2>&1 || { cat "$NB_TMP/ping.log"; nb_fail "$n hosts: ping h$a -> h$b"; }
		grep -q "$PINGS received" "$NB_TMP/ping.log" ||
			nb_fail "$n hosts: h$a -> h$b lost pings: $(cat "$NB_TMP/ping.log")"
	done
	# at once: the last replies are at most in natbed-emu's capture buffers
	down=$(natbed down --verbose --prefix "$NB_PREFIX" 2>&1) || nb_fail "$n hosts: natbed down: $down"
	! echo "$down" | grep -q SIGKILL || nb_fail "$n hosts: natbed down needed SIGKILL: $down"
	ms=$(echo "$down" | sed -n "s/^natbed down: emu (pid $emu) left \([0-9]*\) ms after SIGTERM$/\1/p")
	[ -n "$ms" ] || nb_fail "$n hosts: natbed down did not say when natbed-emu left: $down"
	[ "$ms" -le "$LEAVE_MS" ] || nb_fail "$n hosts: natbed-emu left $ms ms after SIGTERM, want <= $LEAVE_MS"
	[ ! -e "/proc/$emu" ] || nb_fail "$n hosts: natbed-emu (pid $emu) still there after down"
	grep -q "captures complete" "$out/emu.log" || nb_fail "$n hosts: natbed-emu did not finish: $(tail -3 "$out/emu.log")"
	# every request and reply natbed-emu forwarded, on both ports it crossed
	for p in $pairs; do
		a=${p%:*} b=${p#*:}
		for h in "$a" "$b"; do
			for f in "icmp.type == 8 && ip.dst == $(addr "$b")" "icmp.type == 0 && ip.src == $(addr "$b")"; do
				c=$(count "$out/h$h.pcap" "$f")
				[ "$c" -eq "$PINGS" ] || nb_fail "$n hosts: h$h.pcap holds $c of $PINGS packets ($f)"
			done
		done
	done
	# and every other capture is a whole file
	for f in "$out"/h1.pcap "$out/h$((n / 4)).pcap" "$out/h$n.pcap"; do count "$f" "frame" >/dev/null; done
	echo "$n hosts: up $(((t1 - t0) / 1000000)) ms, natbed-emu left $ms ms after SIGTERM, rss $rss kB"
}

run 100
run 500
nb_pass "100 and 500 hosts: natbed-emu leaves within $LEAVE_MS ms of SIGTERM with its captures complete"
