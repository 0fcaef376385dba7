#!/usr/bin/env bash
# bench/bringup: `natbed up` + `natbed down` of a generated N-host topology
# (default 100 public hosts) against a plain iproute2 shell script building
# the same namespaces, veths, addresses and routes, in one run.
# Last line: natbed_s script_s ratio   (target: ratio <= 0.5)
#
# Both sides build PREFIXfabric (lo up, IPv6 and forwarding off) and
# PREFIXh1..hN, each host with a veth (eth0 in the host, hI in the fabric),
# lo and both ends up, 198.18.x.y/32 and `default via 198.18.0.1 dev eth0
# onlink`, IPv6 off, offloads off on both ends; then remove it all. natbed up
# also starts natbed-emu with its N ports (its job; the script has no
# emulator to start) and natbed down stops it first. Each side is checked to
# have built N+1 namespaces, the last host complete, and to leave none; the
# natbed side fails if natbed down needed SIGKILL, and reports how many ms
# natbed-emu took to leave after SIGTERM (natbed down --verbose).
#
# Env: N (hosts, 1..999), ROUNDS (each side ROUNDS times, alternating who
# goes first; the sums are compared), SETTLE (seconds between phases, so the
# kernel finishes freeing the last run's namespaces), NL=1 (also time
# bench/nl_bringup, the bare cli/netns calls, for reference: not compared),
# NATBED_BUILD (build dir).
set -u
NATBED_SRC=${NATBED_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
NATBED_BUILD=${NATBED_BUILD:-$NATBED_SRC/build}
N=${N:-100}
ROUNDS=${ROUNDS:-1}
SETTLE=${SETTLE:-2}
NL=${NL:-0}
TAG=b$(printf '%04x' $(((RANDOM << 1 ^ $$) & 0xffff)))
NB_P=${TAG}n- # 7 characters: PREFIXh999 fits IFNAMSIZ
SH_P=${TAG}s-
NL_P=${TAG}l-
TMP=$(mktemp -d /tmp/natbed-bench.XXXXXX)
export PATH="$NATBED_BUILD/cli:$NATBED_BUILD/emulator:$NATBED_BUILD/bench:$PATH"

[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
for t in ip ethtool sysctl bc natbed natbed-emu; do
	command -v $t >/dev/null || { echo "SKIP: $t not found (NATBED_BUILD=$NATBED_BUILD)"; exit 77; }
done
[ "$NL" = 0 ] || command -v nl_bringup >/dev/null ||
	{ echo "SKIP: NL=1 needs bench/nl_bringup built"; exit 77; }
case $N in [1-9] | [1-9][0-9] | [1-9][0-9][0-9]) ;; *) echo "N must be 1..999" >&2; exit 2 ;; esac
case $ROUNDS in [1-9]) ;; *) echo "ROUNDS must be 1..9" >&2; exit 2 ;; esac

# Stop natbed's run and remove every namespace of the three prefixes,
# whatever state a failure left; nothing of ours runs outside them.
cleanup() {
	local ns p
	natbed down --prefix "$NB_P" >/dev/null 2>&1
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^(${NB_P}|${SH_P}|${NL_P})"); do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# 198.18.0.10 + i - 1 (as bench/nl_bringup.c numbers them).
host_addr() {
	local v=$(((198 << 24) + (18 << 16) + $1 + 9))
	echo "$((v >> 24 & 255)).$((v >> 16 & 255)).$((v >> 8 & 255)).$((v & 255))"
}

# The topology natbed up reads: N public hosts, no run lines.
write_topology() {
	local i
	{
		echo "# bench/bringup: $N public hosts, generated"
		echo "name: bench-bringup"
		echo "seed: 1"
		echo "hosts:"
		for ((i = 1; i <= N; i++)); do
			echo "  h$i:"
			echo "    address: $(host_addr "$i")"
		done
	} >"$TMP/topo.yaml"
}

natbed_up() { natbed up --prefix "$1" --out "$TMP/out" "$TMP/topo.yaml"; }
natbed_down() { natbed down --verbose --prefix "$1"; }
nl_up() { nl_bringup up "$1" "$N"; }
nl_down() { nl_bringup down "$1"; }

# One `ip`, `ip netns exec … sysctl` or `ip netns exec … ethtool` process
# per object, as a person would write it; `ip -batch` is not the peer.
script_up() {
	local P=$1 f=${1}fabric i h
	ip netns add "$f" || return 1
	ip -n "$f" link set dev lo up || return 1
	ip netns exec "$f" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 net.ipv4.ip_forward=0 || return 1
	for ((i = 1; i <= N; i++)); do
		h=${P}h$i
		ip netns add "$h" || return 1
		ip netns exec "$h" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1 || return 1
		ip -n "$h" link add eth0 mtu 1500 type veth peer name "h$i" netns "$f" || return 1
		ip -n "$h" link set dev lo up || return 1
		ip netns exec "$h" ethtool -K eth0 tx off sg off tso off gso off gro off || return 1
		ip netns exec "$f" ethtool -K "h$i" tx off sg off tso off gso off gro off || return 1
		ip -n "$h" link set dev eth0 up || return 1
		ip -n "$f" link set dev "h$i" up || return 1
		ip -n "$h" addr add "$(host_addr "$i")/32" dev eth0 || return 1
		ip -n "$h" route add default via 198.18.0.1 dev eth0 onlink || return 1
	done
}

script_down() {
	local ns p
	for ns in $(ip netns list | awk '{print $1}' | grep "^$1"); do
		for p in $(ip netns pids "$ns"); do kill -KILL "$p"; done
		ip netns del "$ns" || return 1
	done
}

now() { date +%s.%N; }
secs() { printf '%.3f' "$(echo "$2 - $1" | bc -l)"; }

# run SIDE: up + down of one side, seconds on stdout; checks what it built.
run() {
	local side=$1 P t0 t1 t1b t2 got extra
	case $side in natbed) P=$NB_P ;; script) P=$SH_P ;; nl) P=$NL_P ;; esac
	t0=$(now)
	"${side}_up" "$P" >"$TMP/$side.log" 2>&1 || { cat "$TMP/$side.log" >&2; echo "FAIL: $side up" >&2; return 1; }
	t1=$(now)
	got=$(ip netns list | grep -c "^$P")
	[ "$got" -eq $((N + 1)) ] || { echo "FAIL: $side made $got namespaces, want $((N + 1))" >&2; return 1; }
	# the last host is complete on every side: same address and route
	ip -n "${P}h$N" -4 -o addr show dev eth0 | grep -q " $(host_addr "$N")/32 " &&
		ip -n "${P}h$N" route show default | grep -q 'via 198.18.0.1 dev eth0 onlink' ||
		{ echo "FAIL: $side: ${P}h$N incomplete" >&2; return 1; }
	t1b=$(now)
	"${side}_down" "$P" >>"$TMP/$side.log" 2>&1 || { cat "$TMP/$side.log" >&2; echo "FAIL: $side down" >&2; return 1; }
	t2=$(now)
	got=$(ip netns list | grep -c "^$P")
	[ "$got" -eq 0 ] || { echo "FAIL: $side left $got namespaces" >&2; return 1; }
	extra=
	if [ "$side" = natbed ]; then
		! grep -q SIGKILL "$TMP/$side.log" || { cat "$TMP/$side.log" >&2; echo "FAIL: natbed down needed SIGKILL" >&2; return 1; }
		extra=", natbed-emu left $(sed -n 's/^natbed down: emu (pid [0-9]*) left \([0-9]*\) ms after SIGTERM$/\1/p' "$TMP/$side.log") ms after SIGTERM"
	fi
	echo "$side: up $(secs "$t0" "$t1") s, down $(secs "$t1b" "$t2") s$extra" >&2
	echo "$t1 - $t0 + $t2 - $t1b" | bc -l
}

write_topology
echo "bringup: $N hosts, $ROUNDS round(s), prefixes $NB_P (natbed) and $SH_P (script)" >&2
nb_total=0
sh_total=0
nl_total=0
sides="script natbed"
[ "$NL" = 0 ] || sides="$sides nl"
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then order=$sides; else order=$(echo "$sides" | tr ' ' '\n' | tac | xargs); fi
	for side in $order; do
		sleep "$SETTLE"
		s=$(run "$side") || exit 1
		case $side in
		natbed) nb_total=$(echo "$nb_total + $s" | bc -l) ;;
		script) sh_total=$(echo "$sh_total + $s" | bc -l) ;;
		nl) nl_total=$(echo "$nl_total + $s" | bc -l) ;;
		esac
	done
done
[ "$NL" = 0 ] || printf 'nl_bringup (bare cli/netns, not compared): %.3f s\n' "$nl_total" >&2
printf '%.3f %.3f %.3f\n' "$nb_total" "$sh_total" "$(echo "$nb_total / $sh_total" | bc -l)"
