#!/usr/bin/env bash
# bench/udpblast, the benchmarks' load tool, does what the bench numbers
# rely on, on one namespace's loopback: pingpong gets every echo back
# directly and through `relay`, the relay counts what it forwarded, and
# send/recv count the same datagrams.
. "$NATBED_SRC/tests/lib.sh"
B=$NATBED_BUILD/bench/natbed-udpblast
[ -x "$B" ] || nb_fail "$B not built"
nb_ns lo
x() { nb_x lo "$@"; }

x "$B" echo --port 7001 --duration 20 >"$NB_TMP/echo" 2>&1 &
NB_PIDS+=($!)
x "$B" relay --port 7002 --to 127.0.0.1:7001 --duration 20 >"$NB_TMP/relay" 2>&1 &
relay=$!
NB_PIDS+=($relay)
nb_wait_listen udp 7001 x
nb_wait_listen udp 7002 x

out=$(x "$B" pingpong --to 127.0.0.1:7001 --count 200 --duration 10) || nb_fail "pingpong direct: $out"
echo "$out" | grep -q "^pingpong sent 200 replies 200 rtt_us min [0-9.]* p50 [0-9.]* p99" \
	|| nb_fail "pingpong direct: $out"
out=$(x "$B" pingpong --to 127.0.0.1:7002 --count 200 --duration 10) || nb_fail "pingpong via relay: $out"
echo "$out" | grep -q "^pingpong sent 200 replies 200 " || nb_fail "pingpong via relay: $out"
kill -TERM $relay
wait $relay 2>/dev/null
# The relay prints when its duration ends; TERM ends it without a line,
# so count on a short second relay instead.
x "$B" relay --port 7003 --to 127.0.0.1:7001 --duration 2 >"$NB_TMP/relay2" 2>&1 &
r2=$!
nb_wait_listen udp 7003 x
x "$B" pingpong --to 127.0.0.1:7003 --count 50 --duration 5 >/dev/null || nb_fail "pingpong via the second relay"
wait $r2
grep -qx "relayed 100" "$NB_TMP/relay2" || nb_fail "relay count: $(cat "$NB_TMP/relay2") (want 100: 50 each way)"

x "$B" recv --port 7004 --duration 5 --idle 300 >"$NB_TMP/recv" 2>&1 &
rcv=$!
nb_wait_listen udp 7004 x
out=$(x "$B" send --to 127.0.0.1:7004 --rate 2000 --duration 0.5) || nb_fail "send: $out"
wait $rcv
sent=$(echo "$out" | sed -n 's/^sent \([0-9]*\) .*/\1/p')
got=$(sed -n 's/^received \([0-9]*\) .*/\1/p' "$NB_TMP/recv")
[ -n "$sent" ] && [ "$sent" -gt 0 ] || nb_fail "send printed: $out"
[ "$got" = "$sent" ] || nb_fail "sent $sent, received ${got:-nothing}: $(cat "$NB_TMP/recv")"

x "$B" relay --port 7005 >/dev/null 2>&1 && nb_fail "relay without --to accepted"
nb_pass "udpblast: pingpong direct and through relay, relay and recv counts"
