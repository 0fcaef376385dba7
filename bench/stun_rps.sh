#!/bin/bash
# bench/stun_rps: Binding responses per second of natbed-stund and of
# coturn's turnserver, measured by natbed-stunload in the same run, the same
# namespaces and with the same settings. Last line: natbed_rps coturn_rps ratio
#   usage: bench/stun_rps.sh [DURATION_S] [WINDOW] [SOCKETS]   (as root)
# Environment: NATBED_BUILD (build dir, default build/), COTURN_ARGS (extra
# turnserver flags, e.g. "-m 1").
NATBED_SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$NATBED_SRC/tests/interop/stun_env.sh"
DURATION=${1:-10}
WINDOW=${2:-256}
SOCKETS=${3:-4}
ROUNDS=${ROUNDS:-2}
stun_need natbed-stund natbed-stunload turnserver
stun_net

# load: one natbed-stunload run from cli; prints its result line
load() {
	nb_x cli natbed-stunload --server "$STUN_A1:$STUN_PORT" --duration "$DURATION" \
		--window "$WINDOW" --sockets "$SOCKETS" | tail -n 1
}
rps() { sed -n 's/.* rps=\([0-9]*\).*/\1/p'; }

echo "# $(nproc) cpus, ${DURATION}s x $ROUNDS rounds each, window $WINDOW, $SOCKETS sockets"
best_n=0
best_c=0
# alternate the servers so drift (thermal, noisy neighbours) hits both
for round in $(seq 1 "$ROUNDS"); do
	stun_start_natbed
	line=$(load)
	stun_stop
	echo "natbed-stund round $round: $line"
	r=$(echo "$line" | rps)
	[ -n "$r" ] && [ "$r" -gt "$best_n" ] && best_n=$r

	stun_start_coturn
	line=$(load)
	stun_stop
	echo "coturn       round $round: $line"
	r=$(echo "$line" | rps)
	[ -n "$r" ] && [ "$r" -gt "$best_c" ] && best_c=$r
done
[ "$best_c" -gt 0 ] || nb_fail "coturn gave no answers"
echo "$best_n $best_c $(awk -v n="$best_n" -v c="$best_c" 'BEGIN {printf "%.2f", n / c}')"
