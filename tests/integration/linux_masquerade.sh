#!/usr/bin/env bash
# A UDP hole punch through Linux's own NAT, side by side with natbed
# (issue 9, "A NAT that behaves like Linux's, measured").
#
# The exchange (tests/tools/punch.py): host a sends first to b's public
# address and port (b's inside port, assumed preserved); the test waits
# until that datagram has reached b's NAT, before b has sent anything;
# then both send COUNT probes to each other.
#
# 1. kernel: two namespaces routing with nftables masquerade, a LAN host
#    behind each, a bridge between them as the internet. a's datagram makes
#    an unreplied conntrack entry on b's router (a connection to the router
#    itself) that holds b's port for that remote, so masquerade gives b's
#    flow another port, picked at random in the port's class (1024-65535;
#    1-511; 600-1023 for a port in 512-1023). a's router filters by address
#    and port, so nothing arrives either way. Checked from conntrack -L and
#    from a capture on b's router's outside; run with b on port 41290 and
#    on 655 (a port below 1024 stays below 1024). The routers have no
#    filter table, so a's datagram is accepted as input to b's router;
#    that is what leaves the entry. Two controls arrive both ways on the
#    preserved port: the same exchange with that entry deleted before b
#    sends, and with an input rule on b's router that drops a's datagram
#    (a dropped packet's entry is never confirmed).
# 2. natbed port-restricted NATs: the same exchange arrives both ways and b
#    keeps its port.
# 3. natbed linux-masquerade NATs: the same outcome as the kernel's (who
#    received what) and the same kind of port change (another port, in the
#    kernel's class), for both ports.
#
# KERNEL_ONLY=1 runs part 1 alone.
. "$NATBED_SRC/tests/lib.sh"
command -v nft >/dev/null || nb_skip "nftables (nft) not installed"
command -v conntrack >/dev/null || nb_skip "conntrack (conntrack-tools) not installed"
command -v dumpcap >/dev/null || nb_skip "dumpcap (wireshark-common) not installed"
command -v tshark >/dev/null || nb_skip "tshark not installed"
# the system python: a pyenv shim first in PATH costs half a second a call
PY=$(command -v /usr/bin/python3 || command -v python3) || nb_skip "python3 not installed"
PUNCH=$NATBED_SRC/tests/tools/punch.py
KERNEL_ONLY=${KERNEL_ONLY:-}

A_PUB=203.0.113.1 B_PUB=203.0.113.2
A_IN=192.168.1.10 B_IN=192.168.2.10
COUNT=5
tag=lm$RANDOM
# scenario -> "A_PORT B_PORT"
declare -A PORTS=([high]="41000 41290" [low]="41001 655")
# results: RES[world.scenario.key], key: agot (b's probes a received),
# bgot (a's probes b received), ext (b's external port toward a)
declare -A RES

# --- the exchange, whatever the NATs ------------------------------------
# exchange NAME RUN ARRIVED APORT BPORT [ADELAY]: runs punch.py on hosts a
# and b through RUN (RUN a|b CMD...); ARRIVED returns once a's first
# datagram reached b's NAT (it waits, bounded, and may act then). Output
# in $NB_TMP/NAME.a and NAME.b.
exchange() {
	local name=$1 run=$2 arrived=$3 ap=$4 bp=$5 delay=${6:-0} go=$NB_TMP/$1.go pa pb
	rm -f "$go"
	$run b timeout 30 "$PY" "$PUNCH" "$bp" "$A_PUB" "$ap" "$tag-$name-b" --go "$go" \
		--count "$COUNT" >"$NB_TMP/$name.b" 2>&1 &
	pb=$!
	$run a timeout 30 "$PY" "$PUNCH" "$ap" "$B_PUB" "$bp" "$tag-$name-a" --first 1 --go "$go" \
		--delay "$delay" --count "$COUNT" >"$NB_TMP/$name.a" 2>&1 &
	pa=$!
	NB_PIDS+=("$pa" "$pb")
	$arrived "$ap" "$bp"
	touch "$go"
	wait "$pa" || nb_fail "$name: punch on a failed: $(cat "$NB_TMP/$name.a")"
	wait "$pb" || nb_fail "$name: punch on b failed: $(cat "$NB_TMP/$name.b")"
}
# got NAME SIDE IP [PORT]: how many of the other side's probes SIDE
# received from IP (and PORT, when given)
got() {
	local other=b
	[ "$2" = b ] && other=a
	grep -c "^recv ${3//./\\.}:${4:-[0-9]*} $tag-$1-$other-" "$NB_TMP/$1.$2"
}
# ext_from_capture PCAP APORT: b's source ports (outside) on its datagrams to a, one per line
ext_from_capture() {
	# !icmp: an ICMP error quotes a UDP header that would match too
	tshark -r "$1" -Y "udp && !icmp && ip.src == $B_PUB && ip.dst == $A_PUB && udp.dstport == $2" \
		-T fields -e udp.srcport 2>/dev/null | sort -u
}
# port_class PORT: the kernel's class for a port masquerade must move
port_class() {
	if [ "$1" -lt 512 ]; then echo 1-511; elif [ "$1" -lt 1024 ]; then echo 512-1023; else echo 1024-65535; fi
}
report() { # WORLD SCENARIO
	local k=$1.$2
	echo "$1 $2: a received ${RES[$k.agot]}/$COUNT of b's probes, b received ${RES[$k.bgot]}/$COUNT of a's;" \
		"b's port ${PORTS[$2]#* } left as ${RES[$k.ext]}"
}

# --- 1. the kernel -------------------------------------------------------
kip() { ip -n "${NB_PREFIX}k$1" "${@:2}" || nb_fail "ip -n ${NB_PREFIX}k$1 ${*:2}"; }
kx() { nb_x "k$1" "${@:2}"; }
krun() { kx "h$1" "${@:2}"; }

# kernel_router NAME PUBLIC LAN_GATEWAY HOST_ADDRESS: router kNAME with
# its outside on the internet bridge, host khNAME behind it.
kernel_router() {
	local r=$1 pub=$2 gw=$3 host=$4
	kip "r$r" link add wan type veth peer name "r$r" netns "${NB_PREFIX}kinet"
	kip inet link set "r$r" master br0 up
	kip "r$r" link set wan up
	kip "r$r" addr add "$pub/24" dev wan
	kip "h$r" link add eth0 type veth peer name lan netns "${NB_PREFIX}kr$r"
	kip "r$r" link set lan up
	kip "r$r" addr add "$gw/24" dev lan
	kip "h$r" link set eth0 up
	kip "h$r" addr add "$host/24" dev eth0
	kip "h$r" route add default via "$gw"
	kx "r$r" sysctl -qw net.ipv4.ip_forward=1 || nb_fail "k r$r: ip_forward"
	kx "r$r" nft -f - <<-'NFT' || nb_fail "kr$r: nft masquerade"
		table ip nat {
			chain postrouting {
				type nat hook postrouting priority srcnat; policy accept;
				oifname "wan" masquerade
			}
		}
	NFT
}
kernel_lab_up() {
	local n
	for n in inet ra rb ha hb; do nb_ns "k$n"; done
	kip inet link add br0 type bridge
	kip inet link set br0 up
	kernel_router a "$A_PUB" 192.168.1.1 "$A_IN"
	kernel_router b "$B_PUB" 192.168.2.1 "$B_IN"
	krun a ping -c 1 -W 2 "$B_PUB" >/dev/null || nb_fail "kernel lab: a cannot reach b's router"
}
# the conntrack entry a's first datagram makes on b's router
k_reserve() { kx rb conntrack -L -p udp -s "$A_PUB" -d "$B_PUB" --sport "$1" --dport "$2" 2>/dev/null; }
k_arrived() { # APORT BPORT
	for _ in $(seq 1 100); do
		k_reserve "$1" "$2" | grep -q UNREPLIED && return 0
		sleep 0.05
	done
	nb_fail "kernel: a's first datagram made no conntrack entry on b's router: $(kx rb conntrack -L 2>&1)"
}
k_arrived_unreserve() { # as k_arrived, then deletes that entry
	k_arrived "$@"
	kx rb conntrack -D -p udp -s "$A_PUB" -d "$B_PUB" --sport "$1" --dport "$2" >/dev/null 2>&1 \
		|| nb_fail "kernel: conntrack -D of the reserving entry"
}
# b's flow toward a on b's router: the external port is the reply's dport
k_ext() { # APORT BPORT
	kx rb conntrack -L -p udp -s "$B_IN" --sport "$2" -d "$A_PUB" --dport "$1" 2>/dev/null \
		| awk '{ n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^dport=/ && ++n == 2) print substr($i, 7) }'
}
k_flush() { kx ra conntrack -F >/dev/null 2>&1; kx rb conntrack -F >/dev/null 2>&1; }

kernel_scenario() { # SCENARIO
	local s=$1 ap bp pcap=$NB_TMP/kernel-$1-rb-wan.pcap cap ext_ct ext_cap first
	read -r ap bp <<<"${PORTS[$s]}"
	k_flush
	nb_bg ip netns exec "${NB_PREFIX}krb" dumpcap -q -i wan -w "$pcap" 2>"$NB_TMP/dumpcap-$s.err"
	cap=${NB_PIDS[-1]}
	for _ in $(seq 1 50); do grep -q "Capturing on" "$NB_TMP/dumpcap-$s.err" && break; sleep 0.1; done
	grep -q "Capturing on" "$NB_TMP/dumpcap-$s.err" || nb_fail "dumpcap on b's router: $(cat "$NB_TMP/dumpcap-$s.err")"

	exchange "kernel-$s" krun k_arrived "$ap" "$bp"
	k_reserve "$ap" "$bp" | grep -q UNREPLIED || nb_fail "kernel $s: the reserving entry is gone: $(k_reserve "$ap" "$bp")"
	ext_ct=$(k_ext "$ap" "$bp")
	[ -n "$ext_ct" ] || nb_fail "kernel $s: no conntrack entry for b's flow: $(kx rb conntrack -L 2>&1)"
	kill -TERM "$cap"
	wait "$cap"
	ext_cap=$(ext_from_capture "$pcap" "$ap")
	[ "$ext_cap" = "$ext_ct" ] \
		|| nb_fail "kernel $s: b's datagrams left from port(s) '$(echo $ext_cap)', conntrack says $ext_ct"
	[ "$(tshark -r "$pcap" -Y "udp && !icmp && ip.src == $B_PUB" 2>/dev/null | wc -l)" -eq "$COUNT" ] \
		|| nb_fail "kernel $s: want b's $COUNT datagrams on its router's outside capture"
	# a's first datagram reached b's router before b sent anything
	first=$(tshark -r "$pcap" -Y "udp && !icmp" -T fields -e ip.src -e udp.srcport 2>/dev/null | head -1)
	[ "$first" = "$A_PUB	$ap" ] || nb_fail "kernel $s: the first datagram on b's router's outside is '$first', not a's"

	RES[kernel.$s.agot]=$(got "kernel-$s" a "$B_PUB")
	RES[kernel.$s.bgot]=$(got "kernel-$s" b "$A_PUB")
	RES[kernel.$s.ext]=$ext_ct
	report kernel "$s"
	# what Linux does, measured: nothing arrives, b's port moves within its class
	[ "${RES[kernel.$s.agot]}" -eq 0 ] && [ "${RES[kernel.$s.bgot]}" -eq 0 ] \
		|| nb_fail "kernel $s: a datagram arrived; a conntrack reservation should have stopped both ways"
	[ "$ext_ct" != "$bp" ] || nb_fail "kernel $s: b kept port $bp although a's entry held it"
	[ "$(port_class "$ext_ct")" = "$(port_class "$bp")" ] \
		|| nb_fail "kernel $s: b's port $bp moved to $ext_ct, outside its class $(port_class "$bp")"
	[ "$ext_ct" -lt 512 ] || [ "$ext_ct" -ge 600 ] \
		|| nb_fail "kernel $s: masquerade picked $ext_ct (it picks 600-1023 in 512-1023)"
}

kernel_control() {
	local ap bp ext
	read -r ap bp <<<"${PORTS[high]}"
	k_flush
	# a waits 0.5 s after the go so that b's first datagram leaves first
	exchange kernel-control krun k_arrived_unreserve "$ap" "$bp" 0.5
	ext=$(k_ext "$ap" "$bp")
	[ "$ext" = "$bp" ] || nb_fail "kernel control: no entry held b's port, yet it left as '$ext'"
	[ "$(got kernel-control a "$B_PUB" "$bp")" -ge 1 ] && [ "$(got kernel-control b "$A_PUB" "$ap")" -ge 1 ] \
		|| nb_fail "kernel control: without the reserving entry want probes both ways: a: $(cat "$NB_TMP/kernel-control.a") b: $(cat "$NB_TMP/kernel-control.b")"
	echo "kernel control (entry deleted before b sends): a received $(got kernel-control a "$B_PUB" "$bp")," \
		"b received $(got kernel-control b "$A_PUB" "$ap"), b's port kept"
}

# With an input filter that drops what comes in from outside (as most home
# routers have), a's datagram is dropped before conntrack confirms its
# entry: nothing holds b's port, and the punch arrives on the preserved port.
k_dropped() { # APORT BPORT: wait until the input rule counted a's datagram
	for _ in $(seq 1 100); do
		kx rb nft list chain ip filter input 2>/dev/null | grep -q "dport $2 counter packets [1-9]" && return 0
		sleep 0.05
	done
	nb_fail "kernel: b's router's input rule never counted a's first datagram: $(kx rb nft list ruleset 2>&1)"
}
kernel_input_drop() {
	local ap bp ext
	read -r ap bp <<<"${PORTS[high]}"
	k_flush
	kx rb nft -f - <<-NFT || nb_fail "krb: nft input filter"
		table ip filter {
			chain input {
				type filter hook input priority filter; policy accept;
				ct state established,related accept
				iifname "wan" udp dport $bp counter drop
			}
		}
	NFT
	exchange kernel-input-drop krun k_dropped "$ap" "$bp"
	k_reserve "$ap" "$bp" | grep -q . && nb_fail "kernel input drop: a dropped datagram left an entry: $(k_reserve "$ap" "$bp")"
	ext=$(k_ext "$ap" "$bp")
	[ "$ext" = "$bp" ] || nb_fail "kernel input drop: nothing held b's port, yet it left as '$ext'"
	[ "$(got kernel-input-drop a "$B_PUB" "$bp")" -ge 1 ] && [ "$(got kernel-input-drop b "$A_PUB" "$ap")" -ge 1 ] \
		|| nb_fail "kernel input drop: want probes both ways: a: $(cat "$NB_TMP/kernel-input-drop.a") b: $(cat "$NB_TMP/kernel-input-drop.b")"
	echo "kernel with an input filter on b's router: a received $(got kernel-input-drop a "$B_PUB" "$bp")," \
		"b received $(got kernel-input-drop b "$A_PUB" "$ap"), b's port kept"
	kx rb nft delete table ip filter || nb_fail "krb: nft delete table ip filter"
}

kernel_part() {
	kernel_lab_up
	echo "kernel: udp timeouts $(kx rb sysctl -n net.netfilter.nf_conntrack_udp_timeout) s unreplied," \
		"$(kx rb sysctl -n net.netfilter.nf_conntrack_udp_timeout_stream) s stream"
	kernel_scenario high
	kernel_scenario low
	kernel_control
	kernel_input_drop
	local n
	for n in inet ra rb ha hb; do ip netns del "${NB_PREFIX}k$n"; done
}

# --- 2, 3. natbed -----------------------------------------------------------
nrun() { natbed exec --prefix "$NB_PREFIX" "h$1" -- "${@:2}"; }
ctl() { natbed ctl --prefix "$NB_PREFIX" "$@"; }
# every packet nb's outside took in: passed or dropped
n_inbound() {
	ctl nat nb stats | "$PY" -c 'import json, sys
j = json.load(sys.stdin)
print(j["in_pkts"] + sum(j["drops"].values()))'
}
N_BASE=0
n_arrived() {
	for _ in $(seq 1 100); do
		[ "$(n_inbound)" -gt "$N_BASE" ] && return 0
		sleep 0.05
	done
	nb_fail "natbed: a's first datagram never reached nb: $(ctl nat nb stats)"
}
# the outside ports of nb's mappings for b's inside endpoint PORT, one per line
n_mapped() {
	ctl nat nb mappings | "$PY" -c 'import json, sys
for m in json.load(sys.stdin):
    if m["proto"] == "udp" and m["inside"] == sys.argv[1]:
        print(m["outside"].rsplit(":", 1)[1])' "$B_IN:$1" | sort -u
}

natbed_part() { # PRESET SCENARIO...
	local preset=$1 topo=$NB_TMP/punch-$1.yaml out=$NB_TMP/out-$1 s ap bp
	shift
	cat >"$topo" <<-EOF
		name: punch
		nats:
		  na: { preset: $preset, public: $A_PUB, inside: 192.168.1.0/24 }
		  nb: { preset: $preset, public: $B_PUB, inside: 192.168.2.0/24 }
		hosts:
		  ha: { nat: na, address: $A_IN }
		  hb: { nat: nb, address: $B_IN }
	EOF
	natbed up --prefix "$NB_PREFIX" --out "$out" "$topo" >"$NB_TMP/up-$preset.log" 2>&1 \
		|| nb_fail "natbed up ($preset): $(cat "$NB_TMP/up-$preset.log")"
	for s in "$@"; do
		read -r ap bp <<<"${PORTS[$s]}"
		N_BASE=$(n_inbound)
		exchange "$preset-$s" nrun n_arrived "$ap" "$bp"
		RES[$preset.$s.agot]=$(got "$preset-$s" a "$B_PUB")
		RES[$preset.$s.bgot]=$(got "$preset-$s" b "$A_PUB")
		n_mapped "$bp" >"$NB_TMP/$preset-$s.mapped"
	done
	natbed down --prefix "$NB_PREFIX" >/dev/null 2>&1 || nb_fail "natbed down ($preset)"
	for s in "$@"; do
		read -r ap bp <<<"${PORTS[$s]}"
		RES[$preset.$s.ext]=$(ext_from_capture "$out/nb-wan.pcap" "$ap")
		[ "$(echo "${RES[$preset.$s.ext]}" | wc -w)" -eq 1 ] \
			|| nb_fail "$preset $s: b's datagrams left from ports '$(echo ${RES[$preset.$s.ext]})', want one port"
		grep -qx "${RES[$preset.$s.ext]}" "$NB_TMP/$preset-$s.mapped" \
			|| nb_fail "$preset $s: b's datagrams left from ${RES[$preset.$s.ext]}, not a port nb maps $B_IN:$bp to ($(echo $(cat "$NB_TMP/$preset-$s.mapped")))"
		report "$preset" "$s"
	done
}

kernel_part
if [ -n "$KERNEL_ONLY" ]; then
	nb_pass "kernel masquerade: a datagram from a held b's port, b's flow moved within its class, nothing arrived; both controls arrived"
	exit 0
fi

# port-restricted: the punch works and b keeps its port, below 1024 too
# (RFC 4787 REQ-3a: 655 stays in 1-1023, here as itself)
natbed_part port-restricted high low
for s in high low; do
	read -r ap bp <<<"${PORTS[$s]}"
	[ "${RES[port-restricted.$s.agot]}" -ge 1 ] && [ "${RES[port-restricted.$s.bgot]}" -ge 1 ] \
		|| nb_fail "port-restricted $s: want probes both ways: a: $(cat "$NB_TMP/port-restricted-$s.a") b: $(cat "$NB_TMP/port-restricted-$s.b")"
	[ "${RES[port-restricted.$s.ext]}" = "$bp" ] \
		|| nb_fail "port-restricted $s: b's port $bp left as ${RES[port-restricted.$s.ext]}"
done

# linux-masquerade: what the kernel did, on both ports
natbed_part linux-masquerade high low
for s in high low; do
	read -r ap bp <<<"${PORTS[$s]}"
	k=kernel.$s n=linux-masquerade.$s
	for side in agot bgot; do
		[ "$((${RES[$k.$side]} > 0))" = "$((${RES[$n.$side]} > 0))" ] \
			|| nb_fail "linux-masquerade $s: $side ${RES[$n.$side]}, the kernel ${RES[$k.$side]} (arrived or not must agree)"
	done
	[ "${RES[$n.ext]}" != "$bp" ] || nb_fail "linux-masquerade $s: b kept port $bp; the kernel moved it to ${RES[$k.ext]}"
	[ "$(port_class "${RES[$n.ext]}")" = "$(port_class "${RES[$k.ext]}")" ] \
		|| nb_fail "linux-masquerade $s: b's port $bp moved to ${RES[$n.ext]}, the kernel's to ${RES[$k.ext]} (class $(port_class "${RES[$k.ext]}"))"
	[ "${RES[$n.ext]}" -lt 512 ] || [ "${RES[$n.ext]}" -ge 600 ] \
		|| nb_fail "linux-masquerade $s: moved to ${RES[$n.ext]}; the kernel picks 600-1023 in 512-1023"
done
nb_pass "a hole punch: kernel masquerade and natbed linux-masquerade agree (nothing arrives, b's port moves in its class); port-restricted arrives and keeps ports 41290 and 655"
