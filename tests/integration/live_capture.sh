#!/usr/bin/env bash
# natbed capture: a view of a running topology, live, as a pcap stream.
#  1. Two viewers of NAT home's outside view and one of alice's port, each
#     read by tshark (one as Wireshark does, `-i -`) while 2000 datagrams
#     cross the NAT: each shows the very records of the view's file for its
#     time (same bytes, same times, in order, none missing, none added),
#     every datagram the file has among them, and says on exit it lost none.
#  2. Viewers that stop reading (a pipe nobody reads, a SIGSTOPped tshark)
#     do not change forwarding: the same bounded UDP load delivers as many
#     datagrams, at about the same rate, as without them (generous
#     tolerance, no absolute speed); natbed-emu counts their losses, and
#     each says on exit how many records it lost.
#  3. Errors: an unknown view names the views there are; a terminal on
#     standard output is refused.
#  4. natbed down while a viewer watches: it ends, says why, and what it
#     wrote is a whole pcap file.
. "${NATBED_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
nb_need tshark jq script
PY=$(command -v /usr/bin/python3 || command -v python3) || nb_skip "python3 not installed"
B=$NATBED_BUILD/bench/natbed-udpblast
[ -x "$B" ] || nb_fail "$B not built"
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
SRV=198.51.100.40

topo=$NB_TMP/live.yaml
cat >"$topo" <<'EOF'
name: live
seed: 3
nats:
  home: { preset: port-restricted, public: 203.0.113.50, inside: 192.168.50.0/24 }
hosts:
  alice: { nat: home, address: 192.168.50.10 }
  srv: { address: 198.51.100.40 }
EOF
nb_up "$topo"
out=$NB_TMP/out

# viewer NAME VIEW: `natbed capture VIEW` into the fifo NAME (stderr in
# NAME.err), its pid in vpid[NAME]; reader NAME OUT CMD...: CMD reads the
# fifo NAME, its output in OUT, its pid in rpid[NAME]. Each end opens the
# fifo in its own process: opening one blocks until the other end does.
declare -A vpid rpid
viewer() {
	mkfifo "$NB_TMP/$1"
	(exec natbed capture --prefix "$NB_PREFIX" "$2" >"$NB_TMP/$1" 2>"$NB_TMP/$1.err") &
	vpid[$1]=$!
	NB_PIDS+=($!)
}
reader() {
	local f=$1 o=$2
	shift 2
	(exec "$@" <"$NB_TMP/$f" >"$o" 2>/dev/null) &
	rpid[$f]=$!
	NB_PIDS+=($!)
}
# blast PORT COUNT SIZE: COUNT datagrams of SIZE bytes from alice to
# srv:PORT, 10000 a second; what srv received is in recv.PORT
blast() {
	x srv "$B" recv --port "$1" --duration 60 --idle 1000 >"$NB_TMP/recv.$1" 2>&1 &
	local rcv=$!
	NB_PIDS+=($rcv)
	nb_wait_listen udp "$1" x srv
	x alice "$B" send --to "$SRV:$1" --rate 10000 --size "$3" \
		--duration "$(awk -v n="$2" 'BEGIN { print n / 10000 }')" >"$NB_TMP/send.$1" 2>&1 ||
		nb_fail "send: $(cat "$NB_TMP/send.$1")"
	wait "$rcv"
}
received() { sed -n 's/^received \([0-9]*\) pps \([0-9.]*\) .*/\1 \2/p' "$NB_TMP/recv.$1"; }
# the last line a viewer wrote on exit
said() { tail -1 "$NB_TMP/$1.err"; }
FIELDS=(-e frame.time_epoch -e frame.len -e ip.src -e ip.dst -e ip.id -e udp.srcport
	-e udp.dstport -e data.data)

# --- 1. live records are the file's ----------------------------------------
for v in "w1 home-wan -r" "w2 home-wan -i" "a1 alice -r"; do
	read -r name view how <<<"$v"
	viewer "$name" "$view"
	reader "$name" "$NB_TMP/$name.txt" tshark -l -n "$how" - -T fields "${FIELDS[@]}"
done
nb_wait_for 10 "three viewers attached" nb_ctl_true 'length == 3' show captures
blast 7001 2000 200
sent=$(sed -n 's/^sent \([0-9]*\) .*/\1/p' "$NB_TMP/send.7001")
[ "${sent:-0}" -gt 1900 ] || nb_fail "alice sent ${sent:-nothing}: $(cat "$NB_TMP/send.7001")"
# every viewer has what its view's file has (tshark prints as it reads;
# `ctl show ports` flushes the files), most of them, then ends
in_file() {
	natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null &&
		tshark -n -r "$out/$1.pcap" -Y "udp.dstport == 7001" 2>/dev/null | wc -l
}
in_view() { awk -F '\t' '$7 == 7001' "$NB_TMP/$1.txt" | wc -l; }
has_all() { local n; n=$(in_file "$2"); [ "$n" -gt 1900 ] && [ "$(in_view "$1")" -eq "$n" ]; }
for v in "w1 home-wan" "w2 home-wan" "a1 alice"; do
	read -r name view <<<"$v"
	nb_wait_for 30 "viewer $name: the datagrams of $view.pcap" has_all "$name" "$view"
	kill -INT "${vpid[$name]}"
done
nb_wait_gone 10 "${vpid[w1]}" "${vpid[w2]}" "${vpid[a1]}" "${rpid[w1]}" "${rpid[w2]}" "${rpid[a1]}"
nb_wait_for 10 "no viewer left" nb_ctl_true 'length == 0' show captures # and flushes the files
tshark -n -r "$out/home-wan.pcap" -T fields "${FIELDS[@]}" >"$NB_TMP/home-wan.txt" 2>/dev/null
tshark -n -r "$out/alice.pcap" -T fields "${FIELDS[@]}" >"$NB_TMP/alice.txt" 2>/dev/null
cat >"$NB_TMP/same.py" <<'EOF'
import sys
live = open(sys.argv[1]).read().splitlines()
whole = open(sys.argv[2]).read().splitlines()
assert live, "the viewer got nothing"
# the file's records from the viewer's first: the viewer's, in order
i = whole.index(live[0]) if live[0] in whole else -1
assert i >= 0, "the viewer's first record is not in the file: %s" % live[0]
block = whole[i:i + len(live)]
for k, (a, b) in enumerate(zip(live, block)):
    assert a == b, "record %d: live %r, file %r" % (k, a, b)
assert len(block) == len(live), "the file ends before the viewer's records do"
print(len(live))
EOF
for v in "w1 home-wan" "w2 home-wan" "a1 alice"; do
	read -r name view <<<"$v"
	n=$($PY "$NB_TMP/same.py" "$NB_TMP/$name.txt" "$NB_TMP/$view.txt") ||
		nb_fail "viewer $name of $view: $n"
	said "$name" | grep -q "^natbed capture: $view: [0-9]* records written, none lost" ||
		nb_fail "viewer $name said on exit: $(cat "$NB_TMP/$name.err")"
done

# --- 2. stalled viewers do not slow the emulator ---------------------------
# 20000 datagrams of 500 bytes: 10 MB through home-wan, far past what a
# viewer's buffers hold (1 MiB in natbed-emu, the socket's, natbed
# capture's, the pipe's)
N=20000
blast 7002 $N 500
read -r base base_pps < <(received 7002)
[ "${base:-0}" -gt 0 ] || nb_fail "the load without viewers delivered nothing: $(cat "$NB_TMP/recv.7002")"
viewer s1 home-wan
reader s1 /dev/null sleep 600 # a pipe nobody reads
viewer s2 home-wan
reader s2 /dev/null tshark -n -r -
viewer s3 alice
reader s3 /dev/null sleep 600
nb_wait_for 10 "three stalled viewers attached" nb_ctl_true 'length == 3' show captures
kill -STOP "${rpid[s2]}"
blast 7003 $N 500
read -r with with_pps < <(received 7003)
echo "without viewers: $base datagrams at $base_pps/s; with 3 stalled: ${with:-0} at ${with_pps:-0}/s"
# a fabric that waited for a viewer would stop after a few MB (a sixth of
# the load at most); a busy machine may lose some either way
[ "${with:-0}" -ge $((base * 6 / 10)) ] ||
	nb_fail "with stalled viewers $with of $N datagrams arrived, without them $base"
awk -v a="$with_pps" -v b="$base_pps" 'BEGIN { exit !(a >= b / 2) }' ||
	nb_fail "with stalled viewers the rate was $with_pps/s, without them $base_pps/s"
natbed ctl --prefix "$NB_PREFIX" --json show captures >"$NB_TMP/stalled.json" || nb_fail "show captures"
jq -e 'length == 3 and all(.[]; .lost > 0 and .queued > 0)' "$NB_TMP/stalled.json" >/dev/null ||
	nb_fail "the stalled viewers' counters: $(cat "$NB_TMP/stalled.json")"
for name in s1 s2 s3; do
	kill -TERM "${vpid[$name]}"
done
nb_wait_gone 10 "${vpid[s1]}" "${vpid[s2]}" "${vpid[s3]}"
kill -CONT "${rpid[s2]}"
for name in s1 s2 s3; do
	n=$(said "$name" | sed -n 's/.* records written, \([0-9]*\) lost: the reader was slower than the capture.*/\1/p')
	[ "${n:-0}" -gt 0 ] || nb_fail "stalled viewer $name said on exit: $(cat "$NB_TMP/$name.err")"
done
nb_wait_for 10 "the stalled viewers gone from natbed-emu" nb_ctl_true 'length == 0' show captures

# --- 3. errors ---------------------------------------------------------------
natbed capture --prefix "$NB_PREFIX" nosuch >/dev/null 2>"$NB_TMP/nosuch.err" &&
	nb_fail "an unknown view was taken"
grep -q "'nosuch' is neither a host nor a NAT of topology live (hosts: alice, srv; NATs: home)" \
	"$NB_TMP/nosuch.err" || nb_fail "unknown view: $(cat "$NB_TMP/nosuch.err")"
# script(1) gives it a terminal
script -qec "natbed capture --prefix $NB_PREFIX alice" /dev/null >"$NB_TMP/tty.out" 2>&1 &&
	nb_fail "a terminal on standard output was taken"
grep -q "standard output is a terminal" "$NB_TMP/tty.out" || nb_fail "terminal: $(cat "$NB_TMP/tty.out")"
# --- 4. the topology goes down under a viewer ---------------------------------
viewer d1 home-wan
reader d1 "$NB_TMP/d1.pcap" cat
nb_wait_for 10 "a viewer attached" nb_ctl_true 'length == 1' show captures
x alice "$B" send --to "$SRV:7004" --rate 1000 --duration 0.1 >/dev/null 2>&1
natbed down --prefix "$NB_PREFIX" >/dev/null 2>&1 || nb_fail "natbed down"
nb_wait_gone 10 "${vpid[d1]}" "${rpid[d1]}"
said d1 | grep -q "^natbed capture: home-wan: [0-9]* records written, none lost (natbed-emu ended the stream" ||
	nb_fail "the viewer said as the topology went down: $(cat "$NB_TMP/d1.err")"
n=$(tshark -r "$NB_TMP/d1.pcap" -Y "udp.dstport == 7004" 2>"$NB_TMP/d1.tshark" | wc -l)
[ "$n" -ge 1 ] && ! grep -qiE "cut short|damaged|corrupt|isn't a capture" "$NB_TMP/d1.tshark" ||
	nb_fail "what the viewer wrote: $n datagrams, tshark: $(cat "$NB_TMP/d1.tshark")"
nb_pass "natbed capture: live records equal the files', stalled viewers lose records, not the fabric"
