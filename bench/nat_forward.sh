#!/usr/bin/env bash
# bench/nat_forward: a NAT, natbed's against the kernel's, in one run.
#   natbed: alice behind NAT home (port-restricted) and server on the
#           internet, `natbed up`, natbed-emu translates; brought up twice,
#           with its captures (the default: alice.pcap, home-wan.pcap,
#           server.pcap) and with `--capture none`;
#   kernel: alice - router - server namespaces, the router masquerading
#           with nftables (postrouting masquerade on its WAN port); measured
#           with dumpcap writing a pcap on each of the three equivalent
#           ports (router lan, router wan, server eth0: how users of kernel
#           testbeds get their captures) and bare.
# Same addresses, offloads off on every veth end, same tool
# (natbed-udpblast): 64-byte UDP packets/s with 1 flow and with 64 flows in
# two pairs, natbed with captures against the kernel with dumpcap, and
# natbed --capture none against the bare kernel; then the RTT p50/p99 of a
# UDP ping-pong through natbed (with captures) and the bare kernel.
# The floor of any userspace forwarder: the same ping-pong through
# `natbed-udpblast relay` (one recv and one send a datagram, no other work)
# on the kernel topology's router; natbed-emu pays the same process
# wake-up a hop that the relay pays and the kernel does not.
# Last line (1 flow, medians over ROUNDS):
#   natbed_capture_pps kernel_dumpcap_pps ratio natbed_bare_pps kernel_bare_pps ratio
#
# Env: DURATION (s per measurement, default 5), COUNT (ping-pongs, default
# 2000), ROUNDS (rounds of every measurement, medians reported, default 3;
# within a round the sides alternate which goes first), BACKEND (natbed-emu
# packet I/O backend, default: natbed's default), SPIN (natbed-emu --spin
# microseconds), EMU_CPU (natbed-emu --cpu: with SPIN, a core of its own on
# a machine with cores to spare), NATBED_BUILD.
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
# natbed with captures (NB_PREFIX) and with --capture none (NB_PREFIX_BARE)
NB_PREFIX_BARE=${NB_PREFIX%-}b-
for t in natbed natbed-emu natbed-udpblast ethtool nft dumpcap; do
	command -v $t >/dev/null || nb_skip "$t not found (run scripts/setup.sh)"
done
case $DURATION in [1-9] | [1-5][0-9] | 60) ;; *) nb_fail "DURATION must be 1..60 seconds" ;; esac
case $ROUNDS in [1-9]) ;; *) nb_fail "ROUNDS must be 1..9" ;; esac
case $COUNT in [1-9] | [1-9][0-9] | [1-9][0-9][0-9] | [1-9][0-9][0-9][0-9] | [1-9][0-9][0-9][0-9][0-9]) ;;
*) nb_fail "COUNT must be 1..99999" ;; esac
OFFLOADS=(tx off sg off tso off gso off gro off)

# natbed_up PREFIX [natbed up options]: the topology under PREFIX, output in
# $NB_TMP/PREFIX
natbed_up() {
	local p=$1
	shift
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
	natbed up --prefix "$p" --out "$NB_TMP/$p" ${BACKEND:+--backend "$BACKEND"} ${SPIN:+--spin "$SPIN"} \
		${EMU_CPU:+--cpu "$EMU_CPU"} "$@" "$NB_TMP/nat.yaml" >"$NB_TMP/up.log" 2>&1 ||
		{ cat "$NB_TMP/up.log" >&2; nb_fail "natbed up $*"; }
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

# pps WHERE-ALICE WHERE-SERVER FLOWS: prints the receiver's pps
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

# The kernel's captures: dumpcap writing a pcap on each of the ports that
# natbed's captures stand for (alice.pcap: the router's LAN port; home-wan:
# its WAN port; server.pcap: the server's end of that link).
KCAP_PORTS=("kr lan" "kr wan" "ks eth0")
dumpcap_start() {
	local spec f _
	KCAP_PIDS=()
	for spec in "${KCAP_PORTS[@]}"; do
		set -- $spec
		f=$NB_TMP/kcap-$1-$2
		rm -f "$f.pcap"
		# not nb_x: $! must be dumpcap itself, which SIGINT stops
		ip netns exec "$NB_PREFIX$1" dumpcap -q -P -i "$2" -w "$f.pcap" >/dev/null 2>"$f.log" &
		KCAP_PIDS+=($!)
	done
	# it captures from the moment it names its file
	for spec in "${KCAP_PORTS[@]}"; do
		set -- $spec
		f=$NB_TMP/kcap-$1-$2
		for _ in $(seq 1 100); do grep -q '^File:' "$f.log" && break; sleep 0.05; done
		grep -q '^File:' "$f.log" || nb_fail "dumpcap on $spec did not start: $(cat "$f.log")"
	done
}
# Stops dumpcap; appends its received/dropped line per port to $NB_TMP/kcap.stats
dumpcap_stop() {
	local spec p _
	kill -INT "${KCAP_PIDS[@]}"
	for p in "${KCAP_PIDS[@]}"; do # it writes out and exits at once; 5 s at most
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$p" 2>/dev/null && { kill -KILL "$p"; echo "dumpcap $p killed" >&2; }
	done
	wait "${KCAP_PIDS[@]}"
	for spec in "${KCAP_PORTS[@]}"; do
		set -- $spec
		grep -h 'received/dropped' "$NB_TMP/kcap-$1-$2.log" >>"$NB_TMP/kcap.stats"
	done
}
kd_pps() {
	local v
	dumpcap_start
	v=$(pps "$@")
	dumpcap_stop
	echo "$v"
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

nc_alice() { natbed exec --prefix "$NB_PREFIX" alice -- "$@"; }
nc_server() { natbed exec --prefix "$NB_PREFIX" server -- "$@"; }
nn_alice() { natbed exec --prefix "$NB_PREFIX_BARE" alice -- "$@"; }
nn_server() { natbed exec --prefix "$NB_PREFIX_BARE" server -- "$@"; }
kx_alice() { nb_x ka "$@"; }
kx_server() { nb_x ks "$@"; }
kx_router() { nb_x kr "$@"; }

trap 'natbed down --prefix "$NB_PREFIX_BARE" >/dev/null 2>&1; nb_teardown' EXIT
natbed_up "$NB_PREFIX"
natbed_up "$NB_PREFIX_BARE" --capture none
kernel_up
nc_alice ping -c 1 -W 2 $SERVER >/dev/null || nb_fail "natbed path does not ping"
nn_alice ping -c 1 -W 2 $SERVER >/dev/null || nb_fail "natbed path (--capture none) does not ping"
kx_alice ping -c 1 -W 2 $SERVER >/dev/null || nb_fail "kernel path does not ping"
ls "$NB_TMP/$NB_PREFIX_BARE"/*.pcap >/dev/null 2>&1 && nb_fail "natbed --capture none wrote a pcap"

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'; }

# ROUNDS rounds of the four sides at 1 and 64 flows; odd rounds start with
# natbed, even rounds with the kernel, so that neither side always meets
# the same moment of a noisy machine. Files pps.SIDE.FLOWS, one value a round.
# Sides: nc natbed with captures, kd kernel with dumpcap, nn natbed
# --capture none, kb bare kernel.
: >"$NB_TMP/kcap.stats"
for r in $(seq 1 "$ROUNDS"); do
	for flows in 1 64; do
		if [ $((r % 2)) -eq 1 ]; then order="nc kd nn kb"; else order="kd nc kb nn"; fi
		for side in $order; do
			case $side in
			nc) v=$(pps nc_alice nc_server $flows) ;;
			kd) v=$(kd_pps kx_alice kx_server $flows) ;;
			nn) v=$(pps nn_alice nn_server $flows) ;;
			kb) v=$(pps kx_alice kx_server $flows) ;;
			esac
			echo "${v:-0}" >>"$NB_TMP/pps.$side.$flows"
		done
	done
	echo "pps round $r:" $(for f in 1 64; do for side in nc kd nn kb; do
		printf '%s.%s=%s ' $side $f "$(tail -1 "$NB_TMP/pps.$side.$f")"; done; done)
done
declare -A PPS # PPS[SIDE.FLOWS]: the median over the rounds
for side in nc kd nn kb; do
	for f in 1 64; do PPS[$side.$f]=$(median <"$NB_TMP/pps.$side.$f"); done
done

# The same rounds for the RTT: natbed (with captures), the kernel and the relay.
: >"$NB_TMP/rtt.n"; : >"$NB_TMP/rtt.k"; : >"$NB_TMP/rtt.f"
for _ in $(seq 1 "$ROUNDS"); do
	rtt nc_alice nc_server >>"$NB_TMP/rtt.n"
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
echo "natbed (captures) ports:"; natbed ctl --prefix "$NB_PREFIX" show ports
echo "natbed (--capture none) ports:"; natbed ctl --prefix "$NB_PREFIX_BARE" show ports
echo "natbed captures:" $(cd "$NB_TMP/$NB_PREFIX" && ls -s --block-size=M *.pcap | tr '\n' ' ')
echo "dumpcap, per port and run:"; sed 's/^/  /' "$NB_TMP/kcap.stats"
line() { # LABEL NATBED KERNEL WHAT
	echo "$1 natbed ${2:-0} pps, $4 ${3:-0} pps, ratio $(ratio "${2:-0}" "${3:-0}")"
}
line "1 flow,   captures:    " "${PPS[nc.1]}" "${PPS[kd.1]}" "kernel+dumpcap"
line "1 flow,   no captures: " "${PPS[nn.1]}" "${PPS[kb.1]}" "kernel"
line "64 flows, captures:    " "${PPS[nc.64]}" "${PPS[kd.64]}" "kernel+dumpcap"
line "64 flows, no captures: " "${PPS[nn.64]}" "${PPS[kb.64]}" "kernel"
echo "rtt us:   natbed p50 ${nr50:-?} p99 ${nr99:-?}, kernel p50 ${kr50:-?} p99 ${kr99:-?}, p99 ratio $(ratio "${nr99:-0}" "${kr99:-0}")"
echo "floor:    userspace relay p50 ${fr50:-?} p99 ${fr99:-?}, natbed/relay p99 ratio $(ratio "${nr99:-0}" "${fr99:-0}")"
echo "${PPS[nc.1]:-0} ${PPS[kd.1]:-0} $(ratio "${PPS[nc.1]:-0}" "${PPS[kd.1]:-0}")" \
	"${PPS[nn.1]:-0} ${PPS[kb.1]:-0} $(ratio "${PPS[nn.1]:-0}" "${PPS[kb.1]:-0}")"
