#!/usr/bin/env bash
# bench/forward: 64-byte UDP packets/s from host a to host b, in one run,
#   natbed: through natbed-emu (a two-host routed topology, `natbed up`);
#   kernel: through a namespace router with ip_forward=1 (a - router - b).
# Both sides give a and b the same addresses (198.51.100.1/32, .2/32, default
# via 198.18.0.1 onlink), IPv6 and offloads off on every veth end, and use
# the same tool (natbed-udpblast) for the same time. The receiver counts
# packets/s over the window where traffic flowed.
# Last line: natbed_pps kernel_pps ratio
#
# Env: DURATION (seconds per side, default 5), ROUNDS (each side ROUNDS
# times, alternating who goes first; the means are compared), FLOWS (source
# ports, default 1), RATE (offered packets/s, default 0: as fast as the
# sender can), SIZE (frame bytes, default 64), BACKEND (natbed-emu's packet
# I/O backend, `natbed up --backend`; default natbed up's), NATBED_BUILD.
NB_PREFIX=${NB_PREFIX:-f$(printf '%04x' $(((RANDOM << 1 ^ $$) & 0xffff)))-}
. "${NATBED_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/tests/lib.sh"
export PATH="$NATBED_BUILD/bench:$PATH"

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-1}
FLOWS=${FLOWS:-1}
RATE=${RATE:-0}
SIZE=${SIZE:-64}
BACKEND=${BACKEND:-}
PORT=5201
ECHO_PORT=5202
A=198.51.100.1
B=198.51.100.2
GW=198.18.0.1 # the public gateway natbed-emu plays (TOPO_PUBLIC_GATEWAY)

for t in natbed natbed-emu natbed-udpblast ethtool timeout bc; do
	command -v $t >/dev/null || nb_skip "$t not found (build it, or install it)"
done
case $DURATION in [1-9] | [1-5][0-9] | 60) ;; *) nb_fail "DURATION must be 1..60 seconds" ;; esac
case $ROUNDS in [1-9]) ;; *) nb_fail "ROUNDS must be 1..9" ;; esac

OFFLOADS=(tx off sg off tso off gso off gro off)

# --- natbed: a and b on the public internet, natbed-emu routes -------------
natbed_up() {
	cat >"$NB_TMP/forward.yaml" <<-EOF
		# bench/forward: two public hosts, the emulator only routes.
		name: bench-forward
		seed: 1
		hosts:
		  a:
		    address: $A
		  b:
		    address: $B
	EOF
	natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/natbed" ${BACKEND:+--backend "$BACKEND"} \
		"$NB_TMP/forward.yaml" \
		>"$NB_TMP/natbed-up.log" 2>&1 || { cat "$NB_TMP/natbed-up.log" >&2; nb_fail "natbed up"; }
}

# --- kernel: ka - kr - kb, the router holds the gateway on both ports ------
kernel_up() {
	local h
	nb_ns kr
	nb_x kr sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
		net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 ||
		nb_fail "router sysctls"
	for h in a b; do
		nb_ns k$h
		nb_x k$h sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		ip -n "${NB_PREFIX}k$h" link add eth0 type veth peer name $h netns "${NB_PREFIX}kr" ||
			nb_fail "veth k$h"
		nb_x "k$h" ethtool -K eth0 "${OFFLOADS[@]}" >/dev/null || nb_fail "ethtool k$h"
		nb_x kr ethtool -K "$h" "${OFFLOADS[@]}" >/dev/null || nb_fail "ethtool kr $h"
		ip -n "${NB_PREFIX}k$h" link set eth0 up
		ip -n "${NB_PREFIX}kr" link set dev $h up
		ip -n "${NB_PREFIX}kr" addr add $GW/32 dev $h
	done
	ip -n "${NB_PREFIX}ka" addr add $A/32 dev eth0
	ip -n "${NB_PREFIX}kb" addr add $B/32 dev eth0
	ip -n "${NB_PREFIX}kr" route add $A/32 dev a
	ip -n "${NB_PREFIX}kr" route add $B/32 dev b
	for h in a b; do
		ip -n "${NB_PREFIX}k$h" route add default via $GW dev eth0 onlink || nb_fail "route k$h"
	done
}

# ns SIDE HOST: the namespace of host a or b on SIDE (natbed's are visible to
# `ip netns` as well); `ip netns exec` execs, so $! is the tool itself.
ns() { if [ "$1" = natbed ]; then echo "$NB_PREFIX$2"; else echo "${NB_PREFIX}k$2"; fi; }

# blast SIDE: packets/s received in b from a over DURATION seconds.
blast() {
	local side=$1 rpid out
	ip netns exec "$(ns "$side" b)" timeout $((DURATION + 20)) natbed-udpblast recv --port $PORT \
		--duration $((DURATION + 10)) --idle 1000 >"$NB_TMP/$side.recv" 2>&1 &
	rpid=$!
	NB_PIDS+=("$rpid")
	sleep 0.3
	out=$(ip netns exec "$(ns "$side" a)" timeout $((DURATION + 10)) natbed-udpblast send --to $B:$PORT \
		--size "$SIZE" --duration "$DURATION" --flows "$FLOWS" --rate "$RATE") ||
		nb_fail "$side: send: $out"
	wait "$rpid" || nb_fail "$side: recv: $(cat "$NB_TMP/$side.recv")"
	echo "$side: $out; $(cat "$NB_TMP/$side.recv")" >&2
	awk '/^received/ {print $4}' "$NB_TMP/$side.recv"
}

# rtt SIDE: UDP round trips a -> b and back, p50/p99 to stderr (not compared).
rtt() {
	local side=$1 epid out
	ip netns exec "$(ns "$side" b)" timeout 30 natbed-udpblast echo --port $ECHO_PORT --duration 15 >/dev/null 2>&1 &
	epid=$!
	NB_PIDS+=("$epid")
	sleep 0.3
	out=$(ip netns exec "$(ns "$side" a)" timeout 20 natbed-udpblast pingpong --to $B:$ECHO_PORT --count 2000 \
		--duration 10) || out="pingpong failed: $out"
	kill -TERM "$epid" 2>/dev/null
	wait "$epid" 2>/dev/null
	echo "$side: $out" >&2
}

natbed_up
kernel_up
for side in natbed kernel; do
	# Both paths answer before anything is timed (ARP learned on the way).
	ip netns exec "$(ns $side a)" ping -c 1 -W 2 $B >/dev/null ||
		ip netns exec "$(ns $side a)" ping -c 2 -W 2 $B >/dev/null ||
		nb_fail "$side: a cannot ping b"
	rtt $side
done

echo "forward: $SIZE-byte frames, $FLOWS flow(s), rate ${RATE:-0} (0: unpaced)," \
	"${DURATION}s per side, $ROUNDS round(s), backend ${BACKEND:-default}, prefix $NB_PREFIX" >&2
nb_sum=0
k_sum=0
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then order="natbed kernel"; else order="kernel natbed"; fi
	for side in $order; do
		pps=$(blast "$side")
		if [ -z "$pps" ] || [ "$pps" = 0 ]; then nb_fail "$side: nothing received"; fi
		if [ "$side" = natbed ]; then nb_sum=$((nb_sum + pps)); else k_sum=$((k_sum + pps)); fi
	done
done
echo "natbed-emu ports after the run (natbed ctl show ports):" >&2
natbed ctl --prefix "$NB_PREFIX" show ports >&2
natbed down --prefix "$NB_PREFIX" >/dev/null 2>&1 || nb_fail "natbed down"
printf '%d %d %.3f\n' $((nb_sum / ROUNDS)) $((k_sum / ROUNDS)) "$(echo "$nb_sum / $k_sum" | bc -l)"
