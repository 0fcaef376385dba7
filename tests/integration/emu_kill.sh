#!/usr/bin/env bash
# natbed-emu killed with SIGKILL mid-run: `natbed down` still cleans up, and
# the captures written until then open in tshark.
. "$NATBED_SRC/tests/lib.sh"
command -v tshark >/dev/null || nb_skip "tshark not installed"
nb_need jq

natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/out" "$NATBED_SRC/topologies/routed.yaml" >/dev/null \
	|| nb_fail "natbed up"
b=$(natbed exec --prefix "$NB_PREFIX" b -- ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
natbed exec --prefix "$NB_PREFIX" a -- ping -c 3 -i 0.2 -W 1 "$b" >/dev/null || nb_fail "ping before the kill"
# traffic in flight while it dies: the kill comes once the flood crosses
# the emulator (ping goes on for half a second)
rx_a='.[] | select(.name == "a") | .rx_pkts'
rx0=$(natbed ctl --prefix "$NB_PREFIX" --json show ports | jq "$rx_a")
natbed exec --prefix "$NB_PREFIX" a -- ping -c 50 -i 0.01 -W 1 "$b" >/dev/null 2>&1 &
nb_wait_for 10 "a's ping flood through natbed-emu" nb_ctl_true "($rx_a) >= $((rx0 + 5))" show ports
pid=$(python3 -c "import json;print([p['pid'] for p in json.load(open('/run/natbed/$NB_PREFIX/state.json'))['processes'] if p['name']=='emu'][0])")
kill -KILL "$pid" || nb_fail "no emulator to kill"
wait
natbed down --prefix "$NB_PREFIX" || nb_fail "natbed down after SIGKILL"
[ -z "$(ip netns list | grep "^$NB_PREFIX")" ] || nb_fail "namespaces left"
! pgrep -f -- "--prefix $NB_PREFIX" >/dev/null || nb_fail "processes left"
for f in "$NB_TMP"/out/*.pcap; do
	n=$(tshark -r "$f" 2>"$NB_TMP/tshark.err" | wc -l) || true
	grep -qi "cut short\|appears to be damaged" "$NB_TMP/tshark.err" && nb_fail "$f damaged: $(cat "$NB_TMP/tshark.err")"
	tshark -r "$f" -q >/dev/null 2>&1 || nb_fail "tshark cannot read $f"
done
n=$(tshark -r "$NB_TMP/out/a.pcap" -Y icmp 2>/dev/null | wc -l)
[ "$n" -ge 6 ] || nb_fail "a.pcap holds $n ICMP packets, want >= 6 from before the kill"
nb_pass "SIGKILL: cleaned up, captures readable ($n ICMP packets in a.pcap)"
