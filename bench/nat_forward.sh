#!/usr/bin/env bash
# bench/nat_forward: a NAT, natbed's against the kernel's, in one run.
#   natbed: alice behind NAT home (port-restricted) and server on the
#           internet, `natbed up`, natbed-emu translates;
#   kernel: alice - router - server namespaces, the router masquerading
#           with nftables (postrouting masquerade on its WAN port).
# Same addresses, offloads off on every veth end, same tool
# (natbed-udpblast): 64-byte UDP packets/s with 1 flow and with 64 flows,
# and the RTT p50/p99 of a UDP ping-pong through each.
# The floor of any userspace forwarder: the same ping-pong through
# `natbed-udpblast relay` (one recv and one send a datagram, no other work)
# on the kernel topology's router; natbed-emu pays the same process
# wake-up a hop that the relay pays and the kernel does not.
# Last line: natbed_pps kernel_pps ratio (the 1-flow run)
#
# Env: DURATION (s per measurement, default 5), COUNT (ping-pongs, default
# 2000), ROUNDS (RTT rounds over the three paths, medians reported,
# default 3), BACKEND (natbed-emu packet I/O backend, default: natbed's default),
# SPIN (natbed-emu --spin microseconds), EMU_CPU (natbed-emu --cpu: with
# SPIN, a core of its own on a machine with cores to spare),
# NATBED_BUILD.
NB_PREFIX=${NB_PREFIX:-n$(printf '%04x' $(((RANDOM << 1 ^ $$) & 0xffff)))-}
. "${NATBED_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/tests/lib.sh"
export PATH="$NATBED_BUILD/bench:$PATH"

DURATION=${DURATION:-5}
COUNT=${COUNT:-2000}
ROUNDS=${ROUNDS:-3}
ALICE=192.168.1.10
LANGW=192.168.1.1
PUBLIC=203.0.113.10
SERVER=198.51.100.10
for t in natbed natbed-emu natbed-udpblast ethtool nft; do
	command -v $t >/dev/null || nb_skip "$t not found (run scripts/setup.sh)"
done
case $DURATION in [1-9] | [1-5][0-9] | 60) ;; *) nb_fail "DURATION must be 1..60 seconds" ;; esac
case $ROUNDS in [1-9]) ;; *) nb_fail "ROUNDS must be 1..9" ;; esac
case $COUNT in [1-9] | [1-9][0-9] | [1-9][0-9][0-9] | [1-9][0-9][0-9][0-9] | [1-9][0-9][0-9][0-9][0-9]) ;;
*) nb_fail "COUNT must be 1..99999" ;; esac
OFFLOADS=(tx off sg off tso off gso off gro off)

natbed_up() {
	cat >"$NB_TMP/nat.yaml" <<-EOF
		name: bench-nat
		seed: 1
		nats:
		  home:
		    preset: port-restricted
		    public: $PUBLIC
		    inside: 192.168.1.0/24
		hosts:
		  alice:
		    nat: home
		    address: $ALICE
		  server:
		    address: $SERVER
	EOF
	natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/natbed" ${BACKEND:+--backend "$BACKEND"} ${SPIN:+--spin "$SPIN"} ${EMU_CPU:+--cpu "$EMU_CPU"} \
		"$NB_TMP/nat.yaml" >"$NB_TMP/up.log" 2>&1 || { cat "$NB_TMP/up.log" >&2; nb_fail "natbed up"; }
}

# ka (alice) - kr (router: lan, wan) - ks (server)
kernel_up() {
	local pair
	for n in ka kr ks; do
		nb_ns $n
		nb_x $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	nb_x kr sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	ip -n "${NB_PREFIX}ka" link add eth0 type veth peer name lan netns "${NB_PREFIX}kr" || nb_fail "veth lan"
	ip -n "${NB_PREFIX}ks" link add eth0 type veth peer name wan netns "${NB_PREFIX}kr" || nb_fail "veth wan"
	for pair in "ka eth0" "ks eth0" "kr lan" "kr wan"; do
		set -- $pair
		nb_x "$1" ethtool -K "$2" "${OFFLOADS[@]}" >/dev/null || nb_fail "ethtool $pair"
		ip -n "${NB_PREFIX}$1" link set "$2" up
	done
	ip -n "${NB_PREFIX}ka" addr add $ALICE/24 dev eth0
	ip -n "${NB_PREFIX}ka" route add default via $LANGW
	ip -n "${NB_PREFIX}kr" addr add $LANGW/24 dev lan
	ip -n "${NB_PREFIX}kr" addr add $PUBLIC/32 dev wan
	ip -n "${NB_PREFIX}kr" route add $SERVER/32 dev wan
	ip -n "${NB_PREFIX}ks" addr add $SERVER/32 dev eth0
	ip -n "${NB_PREFIX}ks" route add $PUBLIC/32 dev eth0
	nb_x kr nft -f - <<-EOF || nb_fail "nft masquerade"
		table ip nat {
			chain post { type nat hook postrouting priority srcnat; oifname "wan" masquerade; }
		}
	EOF
}

# run WHERE-ALICE WHERE-SERVER FLOWS: prints the receiver's pps
pps() {
	local a=$1 s=$2 flows=$3 out
	"$s" natbed-udpblast recv --port 5201 --duration $((DURATION + 5)) --idle 500 >"$NB_TMP/recv" 2>&1 &
	local rpid=$!
	sleep 0.3
	"$a" natbed-udpblast send --to $SERVER:5201 --size 64 --duration "$DURATION" --flows "$flows" \
		>"$NB_TMP/send" 2>&1 || nb_fail "send: $(cat "$NB_TMP/send")"
	wait $rpid
	out=$(cat "$NB_TMP/recv")
	echo "$out" | sed -n 's/.* pps \([0-9.]*\) .*/\1/p'
}

# rtt WHERE-ALICE WHERE-SERVER [WHERE-RELAY]: prints "p50 p99" in us of a
# ping-pong to the server, or, with a relay, to a userspace UDP relay on the
# router that forwards to the server.
rtt() {
	local a=$1 s=$2 r=${3:-} to=$SERVER:5202 out rpid=
	"$s" natbed-udpblast echo --port 5202 --duration 60 >/dev/null 2>&1 &
	local epid=$!
	if [ -n "$r" ]; then
		"$r" natbed-udpblast relay --port 5203 --to $SERVER:5202 --duration 60 >/dev/null 2>&1 &
		rpid=$!
		to=$LANGW:5203
	fi
	sleep 0.3
	out=$("$a" natbed-udpblast pingpong --to $to --count "$COUNT" --duration 30 2>&1)
	kill $epid $rpid 2>/dev/null
	wait $epid $rpid 2>/dev/null
	echo "$out" | sed -n 's/.* p50 \([0-9.]*\) p99 \([0-9.]*\) .*/\1 \2/p'
}

nx_alice() { natbed exec --prefix "$NB_PREFIX" alice -- "$@"; }
nx_server() { natbed exec --prefix "$NB_PREFIX" server -- "$@"; }
kx_alice() { nb_x ka "$@"; }
kx_server() { nb_x ks "$@"; }
kx_router() { nb_x kr "$@"; }

natbed_up
kernel_up
nx_alice ping -c 1 -W 2 $SERVER >/dev/null || nb_fail "natbed path does not ping"
kx_alice ping -c 1 -W 2 $SERVER >/dev/null || nb_fail "kernel path does not ping"

n1=$(pps nx_alice nx_server 1); k1=$(pps kx_alice kx_server 1)
n64=$(pps nx_alice nx_server 64); k64=$(pps kx_alice kx_server 64)
# ROUNDS rounds, the three paths taken in turn within each, so that a
# noisy moment of the machine does not fall on one side only; each side's
# p50 and p99 are the medians over its rounds.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
: >"$NB_TMP/rtt.n"; : >"$NB_TMP/rtt.k"; : >"$NB_TMP/rtt.f"
for _ in $(seq 1 "$ROUNDS"); do
	rtt nx_alice nx_server >>"$NB_TMP/rtt.n"
	rtt kx_alice kx_server >>"$NB_TMP/rtt.k"
	rtt kx_alice kx_server kx_router >>"$NB_TMP/rtt.f"
done
for side in n k f; do
	echo "rtt rounds ($side: p50 p99):" $(tr '\n' ';' <"$NB_TMP/rtt.$side")
done
nr50=$(cut -d' ' -f1 "$NB_TMP/rtt.n" | median); nr99=$(cut -d' ' -f2 "$NB_TMP/rtt.n" | median)
kr50=$(cut -d' ' -f1 "$NB_TMP/rtt.k" | median); kr99=$(cut -d' ' -f2 "$NB_TMP/rtt.k" | median)
fr50=$(cut -d' ' -f1 "$NB_TMP/rtt.f" | median); fr99=$(cut -d' ' -f2 "$NB_TMP/rtt.f" | median)
natbed ctl --prefix "$NB_PREFIX" nat home stats | grep -E '"(mappings_created|out_pkts)"' | tr -d ' ,' | tr '\n' ' '; echo
natbed ctl --prefix "$NB_PREFIX" show ports
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'; }
echo "1 flow:   natbed ${n1:-0} pps, kernel ${k1:-0} pps, ratio $(ratio "${n1:-0}" "${k1:-0}")"
echo "64 flows: natbed ${n64:-0} pps, kernel ${k64:-0} pps, ratio $(ratio "${n64:-0}" "${k64:-0}")"
echo "rtt us:   natbed p50 ${nr50:-?} p99 ${nr99:-?}, kernel p50 ${kr50:-?} p99 ${kr99:-?}, p99 ratio $(ratio "${nr99:-0}" "${kr99:-0}")"
echo "floor:    userspace relay p50 ${fr50:-?} p99 ${fr99:-?}, natbed/relay p99 ratio $(ratio "${nr99:-0}" "${fr99:-0}")"
echo "${n1:-0} ${k1:-0} $(ratio "${n1:-0}" "${k1:-0}")"
