#!/usr/bin/env bash
# Issue 5 end to end: links of 50 ms each way give a UDP echo RTT of
# 100-110 ms in the capture's timestamps; a 10% lossy link with a fixed seed
# drops the same packet numbers in two runs (and another seed others);
# `natbed ctl link NAME down` stops traffic and `up` restores it; the
# internet core's two directions are separate; every drop is in
# events.jsonl.
. "$NATBED_SRC/tests/lib.sh"
command -v tshark >/dev/null || nb_skip "tshark not installed"
command -v python3 >/dev/null || nb_skip "python3 not installed"
SEND="python3 $NATBED_SRC/tests/tools/udpsend.py"

cat >"$NB_TMP/slow.yaml" <<'YAML'
name: slow
seed: 11
hosts:
  a:
    address: 198.51.100.1
    link: { delay: 25ms }
  b:
    address: 198.51.100.2
    link: { delay: 25ms }
    run: natbed-stund --primary 198.51.100.2
YAML
cat >"$NB_TMP/lossy.yaml" <<'YAML'
name: lossy
seed: 42
hosts:
  a:
    address: 198.51.100.1
    link: { loss: 10% }
  b:
    address: 198.51.100.2
YAML
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
up() { natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/$2" "$1" >/dev/null || nb_fail "natbed up $1"; }
down() { natbed down --prefix "$NB_PREFIX" >/dev/null || nb_fail "natbed down"; }

# --- RTT from the capture ------------------------------------------------
up "$NB_TMP/slow.yaml" slow
nb_wait_listen udp 3478 x b # b's natbed-stund
for i in 1 2 3 4 5; do x a timeout 5 natbed-stunclient 198.51.100.2:3478 >/dev/null || nb_fail "stun query $i"; done
natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null
# a.pcap: each request as it arrived from a, each response as it left to a
rtts=$(tshark -r "$NB_TMP/slow/a.pcap" -Y stun -T fields -e stun.id -e frame.time_epoch 2>/dev/null |
	awk '{ if ($1 in t) printf "%.1f\n", ($2 - t[$1]) * 1000; else t[$1] = $2 }')
[ "$(echo "$rtts" | grep -c .)" -eq 5 ] || nb_fail "want 5 request/response pairs in a.pcap, got: $rtts"
for r in $rtts; do
	awk -v r="$r" 'BEGIN { exit !(r >= 100 && r <= 110) }' || nb_fail "RTT $r ms outside 100-110 ms"
done
down

# --- the same seed drops the same packets --------------------------------
# RUN's datagrams that reached b's capture, and its loss drops logged
arrived() { tshark -r "$NB_TMP/$1/b.pcap" -Y '!icmp && udp.dstport == 9' 2>/dev/null | wc -l; }
logged_lost() { grep '"event":"drop"' "$NB_TMP/$1/events.jsonl" | grep -c '"proto":17,"sport":40000,"dport":9,"reason":"loss"'; }
decided() { # RUN N: each of N datagrams arrived or was lost (flushes first)
	natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null || return 1
	[ $(($(arrived "$1") + $(logged_lost "$1"))) -ge "$2" ]
}
lost() { # SEED RUN: packet numbers that never reached b
	local seed=$1 run=$2
	natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/$run" --seed "$seed" "$NB_TMP/lossy.yaml" >/dev/null || nb_fail "up lossy"
	# Resolve ARP on both sides first: while a's kernel waits for the
	# gateway's MAC it may drop datagrams the fabric then never numbers.
	x a ping -c 1 -W 2 198.51.100.2 >/dev/null || x a ping -c 1 -W 2 198.51.100.2 >/dev/null ||
		nb_fail "warm-up ping"
	x a $SEND 40000 198.51.100.2 9 200 0.002 p || nb_fail "send"
	nb_wait_for 10 "each of 200 datagrams arrived at b or lost in $run" decided "$run" 200
	natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null
	down
}
got_list() { # RUN -> received packet numbers, one a line
	tshark -r "$NB_TMP/$1/b.pcap" -Y '!icmp && udp.dstport == 9' -T fields -e data.data 2>/dev/null |
		python3 -c 'import sys; [print(bytes.fromhex(l.strip().replace(":", "")).decode().split("-")[1]) for l in sys.stdin if l.strip()]' | sort -n
}
lost 42 run1; lost 42 run2; lost 43 run3
got_list run1 >"$NB_TMP/g1"; got_list run2 >"$NB_TMP/g2"; got_list run3 >"$NB_TMP/g3"
n1=$(wc -l <"$NB_TMP/g1")
[ "$n1" -ge 150 ] && [ "$n1" -le 195 ] || nb_fail "seed 42: $n1 of 200 arrived, want about 180 (10% loss)"
cmp -s "$NB_TMP/g1" "$NB_TMP/g2" || nb_fail "seed 42 twice: different packets lost"
cmp -s "$NB_TMP/g1" "$NB_TMP/g3" && nb_fail "seeds 42 and 43 lost the very same packets"
drops=$(logged_lost run1)
[ "$drops" -eq $((200 - n1)) ] || nb_fail "events.jsonl has $drops loss drops, want $((200 - n1))"

# --- partition and repair -------------------------------------------------
up "$NB_TMP/slow.yaml" part
x a ping -c 1 -W 2 198.51.100.2 >/dev/null || nb_fail "ping before the partition"
natbed ctl --prefix "$NB_PREFIX" link b down >/dev/null || nb_fail "ctl link b down"
x a ping -c 2 -W 1 198.51.100.2 >/dev/null && nb_fail "ping crossed a link that is down"
natbed ctl --prefix "$NB_PREFIX" link b up >/dev/null || nb_fail "ctl link b up"
x a ping -c 1 -W 2 198.51.100.2 >/dev/null || nb_fail "ping after the link came back"
natbed ctl --prefix "$NB_PREFIX" link b set delay 100ms >/dev/null || nb_fail "ctl link set delay"
rtt=$(x a ping -c 1 -W 3 198.51.100.2 | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p')
awk -v r="$rtt" 'BEGIN { exit !(r >= 250 && r <= 270) }' || nb_fail "RTT $rtt ms after set delay 100ms, want 250-270"
# the internet core is full duplex: "up" (lower to higher address) carries
# only the request, so 40 ms on it adds 40 ms to the round trip, not 80
natbed ctl --prefix "$NB_PREFIX" link internet set delay 40ms up >/dev/null || nb_fail "ctl link internet set delay up"
rtt=$(x a ping -c 1 -W 3 198.51.100.2 | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p')
awk -v r="$rtt" 'BEGIN { exit !(r >= 290 && r <= 310) }' || nb_fail "RTT $rtt ms with 40 ms on the core's up direction only, want 290-310"
natbed ctl --prefix "$NB_PREFIX" link b set lossy 5% >/dev/null 2>&1 && nb_fail "a bad link key was accepted"
down
grep -q '"event":"link_down"' "$NB_TMP/part/events.jsonl" || nb_fail "no link_down event logged"
grep -q '"event":"link_set"' "$NB_TMP/part/events.jsonl" || nb_fail "no link_set event logged"
nb_pass "links: RTT, reproducible loss, partition, runtime set"
