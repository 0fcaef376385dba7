#!/usr/bin/env bash
# natbed-emu standalone between two plain interfaces (as on a VM with two
# NICs): an inside network behind an emulated symmetric NAT. The gateway
# answers ping, STUN sees the public address, and coturn's classifier sees
# the preset's behaviour.
. "$NATBED_SRC/tests/lib.sh"
command -v ethtool >/dev/null || nb_skip "ethtool not installed"
command -v turnutils_natdiscovery >/dev/null || nb_skip "coturn not installed"

nb_ns in; nb_ns emu; nb_ns out
for ns in in emu out; do
	nb_x $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip link add in0 netns "${NB_PREFIX}emu" type veth peer name eth0 netns "${NB_PREFIX}in" || nb_fail "veth in"
ip link add out0 netns "${NB_PREFIX}emu" type veth peer name eth0 netns "${NB_PREFIX}out" || nb_fail "veth out"
for pair in "in eth0" "out eth0" "emu in0" "emu out0"; do
	set -- $pair
	nb_x "$1" ethtool -K "$2" tx off sg off tso off gso off gro off >/dev/null 2>&1
	nb_x "$1" ip link set "$2" up
done
nb_x in ip addr add 192.168.50.10/24 dev eth0
nb_x in ip route add default via 192.168.50.1
nb_x out ip addr add 203.0.113.20/24 dev eth0
nb_x out ip addr add 203.0.113.21/24 dev eth0

nb_bg nb_x emu natbed-emu --inside in0 --outside out0 --public 203.0.113.10 \
	--inside-net 192.168.50.0/24 --preset symmetric --ctl "$NB_TMP/ctl" --out "$NB_TMP" \
	2>"$NB_TMP/emu.log"
nb_bg nb_x out natbed-stund --primary 203.0.113.20 --alternate 203.0.113.21
emu_ready() { [ -S "$NB_TMP/ctl" ] || { cat "$NB_TMP/emu.log"; false; }; } # its log if not
nb_wait_for 10 "natbed-emu's control socket" emu_ready
nb_wait_listen udp 3478 nb_x out # natbed-stund

nb_x in ping -c 1 -W 2 192.168.50.1 >/dev/null || nb_fail "ping the emulated gateway"
out=$(nb_x in timeout 5 natbed-stunclient 203.0.113.20:3478 2>&1) || nb_fail "stun query: $out"
echo "$out" | grep -q "203.0.113.10:" || nb_fail "reflexive address is not the NAT's public one: $out"
out=$(nb_x in timeout 30 turnutils_natdiscovery -m 203.0.113.20 2>&1)
echo "$out" | grep -qi "Address and Port Dependent Mapping" || nb_fail "natdiscovery does not see a symmetric NAT: $out"
# nothing from the inside prefix ever leaves on the outside
n=$(tshark -r "$NB_TMP/out0.pcap" -Y 'ip.addr == 192.168.50.0/24' 2>/dev/null | wc -l)
[ "$n" -eq 0 ] || nb_fail "$n packets with inside addresses on the outside port"
# a destination nobody answers ARP for: asked three times, then dropped and counted
nb_x in ping -c 1 -W 1 203.0.113.99 >/dev/null 2>&1 && nb_fail "ping to a missing host answered"
arp_dropped() { # the ports' arp_unresolved drops, from the control socket: at least one
	local n
	n=$(/usr/bin/python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"[\"show\",\"ports\"]\n")
ans = json.loads(s.makefile().readline())
print(sum(p["drops"].get("arp_unresolved", 0) for p in ans["result"]))' "$NB_TMP/ctl")
	echo "arp_unresolved: $n"
	[ "$n" -ge 1 ]
}
nb_wait_for 10 "an arp_unresolved drop counted (three ARP requests unanswered)" arp_dropped
nb_x in ping -c 1 -W 2 192.168.50.1 >/dev/null || nb_fail "the emulator stopped answering after an ARP failure"
# option errors are clear
natbed-emu --inside in0 --public 1.2.3.4 2>&1 | grep -q "needs --inside IF, --outside IF" || nb_fail "no clear error for missing --outside"
nb_pass "standalone: ping, STUN through the NAT, symmetric mapping seen by natdiscovery"
