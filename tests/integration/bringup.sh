#!/usr/bin/env bash
# natbed up / exec / ctl / down on topologies/lan.yaml and routed.yaml:
# ping and UDP (natbed-stund + turnutils_stunclient) between every pair that
# should reach each other, one capture record per datagram at each end, and
# nothing left after down: no namespace, veth, process or mount.
. "$NATBED_SRC/tests/lib.sh"
command -v tshark >/dev/null || nb_skip "tshark not installed"
command -v turnutils_stunclient >/dev/null || nb_skip "coturn (turnutils_stunclient) not installed"

up() { natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/$1" "$NATBED_SRC/topologies/$1.yaml" >"$NB_TMP/$1.up" 2>&1 \
	|| { cat "$NB_TMP/$1.up"; nb_fail "natbed up $1"; }; }
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }

ping_ok() { # FROM TO-ADDRESS
	x "$1" ping -c 1 -W 2 "$2" >/dev/null 2>&1 || x "$1" ping -c 2 -W 2 "$2" >/dev/null \
		|| nb_fail "ping $1 -> $2"
}

# UDP: N datagrams with distinct payloads FROM -> TO:PORT, each must appear
# exactly once in the sender's and the receiver's port capture.
udp_once() { # TOPO FROM TO-HOST TO-ADDRESS
	local topo=$1 from=$2 to=$3 addr=$4 i n tag="nbprobe-$RANDOM"
	for i in 1 2 3 4 5; do
		x "$from" bash -c "echo -n $tag-$i > /dev/udp/$addr/9999" || nb_fail "send udp $from -> $addr"
	done
	# all five have crossed once the receiver's port capture holds them
	nb_wait_for 10 "$tag-1..5 in $to.pcap" \
		nb_captured "$NB_TMP/$topo/$to.pcap" "!icmp && udp.port == 9999 && udp contains \"$tag-\"" 5
	natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null # flushes captures
	for cap in "$from" "$to"; do
		for i in 1 2 3 4 5; do
			n=$(tshark -r "$NB_TMP/$topo/$cap.pcap" -Y "!icmp && udp.port == 9999 && udp contains \"$tag-$i\"" 2>/dev/null | wc -l)
			[ "$n" -eq 1 ] || nb_fail "$topo: datagram $tag-$i seen $n times in $cap.pcap (want 1)"
		done
	done
}

stun_ok() { # FROM SERVER-ADDRESS EXPECTED-REFLEXIVE
	local out
	# Behind a filtering NAT its change-request probe goes unanswered and it
	# exits non-zero: judge by the reflexive address it printed.
	out=$(x "$1" timeout 10 turnutils_stunclient -p 3478 "$2" 2>&1)
	echo "$out" | grep "reflexive addr" | grep -q "$3" || nb_fail "stun from $1 to $2: no reflexive $3 in: $out"
}

all_gone() {
	local left
	left=$(ip netns list | awk '{print $1}' | grep "^$NB_PREFIX" || true)
	[ -z "$left" ] || nb_fail "namespaces left after down: $left"
	! grep -q "/run/netns/$NB_PREFIX" /proc/mounts || nb_fail "mounts left under /run/netns/$NB_PREFIX"
	! pgrep -f -- "--prefix $NB_PREFIX" >/dev/null || nb_fail "processes left: $(pgrep -af -- "--prefix $NB_PREFIX")"
	! ip -o link show | grep -q "$NB_PREFIX" || nb_fail "links left in the root namespace"
	[ ! -e "/run/natbed/$NB_PREFIX" ] || nb_fail "state directory left: /run/natbed/$NB_PREFIX"
}

# --- lan: alice and bob on one inside segment, stun on the internet -------
up lan
grep -q "alice" "$NB_TMP/lan.up" || nb_fail "natbed up printed no host table"
grep -q "^home .*203.0.113.10 .*192.168.1.0/24" "$NB_TMP/lan.up" || nb_fail "natbed up printed no NAT table"
ip netns list | grep -q "^${NB_PREFIX}fabric" || nb_fail "no fabric namespace"
[ "$(ip netns exec "${NB_PREFIX}fabric" cat /proc/sys/net/ipv4/ip_forward)" = 0 ] || nb_fail "forwarding on in the fabric"
[ -z "$(ip -n "${NB_PREFIX}fabric" -4 addr show | grep inet | grep -v 127.0.0.1)" ] || nb_fail "fabric ports carry addresses"
alice=$(x alice ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
bob=$(x bob ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
ping_ok alice "$bob"
ping_ok bob "$alice"
ping_ok alice 198.51.100.10
ping_ok bob 198.51.100.11
ping_ok alice 192.168.1.1 # the gateway the emulator plays
# through NAT home: the reflexive address is its public one
stun_ok alice 198.51.100.10 "203.0.113.10:"
stun_ok bob 198.51.100.11 "203.0.113.10:"
udp_once lan alice bob "$bob"
# exec passes the exit status through
x alice sh -c 'exit 7'; [ $? -eq 7 ] || nb_fail "exec did not pass the exit status through"
natbed ctl --prefix "$NB_PREFIX" --json show ports | grep -q '"tx_pkts"' || nb_fail "ctl show ports"
natbed status --prefix "$NB_PREFIX" | grep -q running || nb_fail "status shows nothing running"
# a second up with the same prefix is refused while the first runs
natbed up --prefix "$NB_PREFIX" "$NATBED_SRC/topologies/lan.yaml" >/dev/null 2>&1 && nb_fail "second up with a busy prefix succeeded"
natbed down --prefix "$NB_PREFIX" || nb_fail "natbed down lan"
all_gone
for f in "$NB_TMP"/lan/*.pcap; do tshark -r "$f" -q >/dev/null 2>&1 || nb_fail "tshark cannot read $f"; done
# no IPv6 (NDP, router solicitations) in any capture
for f in "$NB_TMP"/lan/*.pcap; do
	[ "$(tshark -r "$f" -Y ipv6 2>/dev/null | wc -l)" -eq 0 ] || nb_fail "IPv6 traffic in $f"
done

# --- routed: three public hosts, every pair -------------------------------
up routed
declare -A addr
for h in a b c; do addr[$h]=$(x "$h" ip -4 -o addr show dev eth0 | awk '{print $4}' | head -1 | cut -d/ -f1); done
for s in a b c; do for d in a b c; do
	[ "$s" = "$d" ] || ping_ok "$s" "${addr[$d]}"
done; done
x c sh -c "natbed-stund --primary ${addr[c]} >/dev/null 2>&1 & echo \$! > $NB_TMP/stund.pid"
nb_wait_listen udp 3478 x c
stun_ok a "${addr[c]}" "${addr[a]}"
stun_ok b "${addr[c]}" "${addr[b]}"
udp_once routed a b "${addr[b]}"
natbed down --prefix "$NB_PREFIX" || nb_fail "natbed down routed"
all_gone

# --- natbed up --cpu N: natbed-emu runs on that CPU only; a CPU the machine
# does not have fails the bring-up, which leaves nothing behind
natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/cpu" --cpu 0 --spin 20 "$NATBED_SRC/topologies/routed.yaml" \
	>"$NB_TMP/cpu.up" 2>&1 || { cat "$NB_TMP/cpu.up"; nb_fail "natbed up --cpu 0"; }
emu=$(pgrep -f -- "natbed-emu .*--prefix $NB_PREFIX" | head -1)
[ -n "$emu" ] || nb_fail "no natbed-emu after up --cpu 0"
taskset -pc "$emu" | grep -q "list: 0$" || nb_fail "natbed-emu not on CPU 0 only: $(taskset -pc "$emu")"
ping_ok a 198.51.100.2
natbed down --prefix "$NB_PREFIX" || nb_fail "natbed down after --cpu"
all_gone
natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/cpu2" --cpu 4000 "$NATBED_SRC/topologies/routed.yaml" \
	>"$NB_TMP/cpu2.up" 2>&1 && nb_fail "natbed up --cpu 4000 succeeded"
grep -rq -- "--cpu 4000" "$NB_TMP/cpu2.up" "$NB_TMP/cpu2/emu.log" 2>/dev/null ||
	nb_fail "no error naming --cpu 4000: $(cat "$NB_TMP/cpu2.up")"
all_gone
nb_pass "bring-up, forwarding, captures and teardown"
