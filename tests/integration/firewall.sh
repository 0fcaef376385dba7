#!/usr/bin/env bash
# Firewalls on the packet path: a host firewall rejects (TCP RST, ICMP
# administratively prohibited) and drops; a NAT firewall with default drop
# lets replies of accepted flows in (stateful) and keeps strangers out; the
# counters per rule say what matched.
. "$NATBED_SRC/tests/lib.sh"
command -v tshark >/dev/null || nb_skip "tshark not installed"
command -v python3 >/dev/null || nb_skip "python3 not installed"
nb_need jq

cat >"$NB_TMP/fw.yaml" <<'YAML'
name: fw
nats:
  home:
    preset: full-cone
    public: 203.0.113.10
    inside: 192.168.1.0/24
    firewall:
      default: drop
      rules:
        - { dir: out, proto: udp, port: 9999, action: drop }
        - { dir: out, action: accept }
hosts:
  alice:
    nat: home
    address: 192.168.1.10
    firewall:
      rules:
        - { dir: out, proto: tcp, to: 198.51.100.20, port: 8080, action: reject }
        - { dir: out, proto: udp, to: 198.51.100.20, port: 7000, action: reject }
  bob:
    address: 198.51.100.20
    run: natbed-stund --primary 198.51.100.20
YAML
natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/out" "$NB_TMP/fw.yaml" >/dev/null || nb_fail "natbed up"
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
ctl() { natbed ctl --prefix "$NB_PREFIX" --json "$@"; }
nb_wait_listen udp 3478 x bob # bob's natbed-stund

# host firewall, reject: TCP gets a RST at once (refused, not a time-out)
x bob sh -c 'python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"0.0.0.0\", 8080)); s.listen(); time.sleep(20)" >/dev/null 2>&1 &'
nb_wait_listen tcp 8080 x bob
start=$(date +%s%N)
out=$(x alice timeout 5 python3 -c 'import socket; socket.create_connection(("198.51.100.20", 8080), timeout=4)' 2>&1) && nb_fail "TCP to a rejected port connected"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "$out" | grep -q "ConnectionRefused" || nb_fail "TCP not refused (RST): $out"
[ "$ms" -lt 2000 ] || nb_fail "refusal took $ms ms: no RST came back"
# host firewall, reject: UDP gets ICMP administratively prohibited
x alice bash -c 'echo -n probe > /dev/udp/198.51.100.20/7000'
nb_wait_for 10 "an ICMP administratively prohibited in alice.pcap" \
	nb_captured "$NB_TMP/out/alice.pcap" 'icmp.type == 3 && icmp.code == 13'
ctl show ports >/dev/null
n=$(tshark -r "$NB_TMP/out/alice.pcap" -Y 'icmp.type == 3 && icmp.code == 13' 2>/dev/null | wc -l)
[ "$n" -eq 1 ] || nb_fail "want 1 ICMP administratively prohibited to alice, got $n"

# NAT firewall: outbound UDP to 9999 dropped, nothing reaches bob
x alice bash -c 'echo -n blocked > /dev/udp/198.51.100.20/9999'
# stateful: a STUN exchange passes (out accepted, the reply is established)
out=$(x alice timeout 5 natbed-stunclient 198.51.100.20:3478 2>&1) || nb_fail "STUN through the NAT firewall: $out"
echo "$out" | grep -q "203.0.113.10:" || nb_fail "STUN answer without the public address: $out"
# a stranger's packet to alice's mapping (full-cone lets it, the firewall drops it)
port=$(echo "$out" | grep -o '203.0.113.10:[0-9]*' | head -1 | cut -d: -f2)
dropped0=$(ctl firewall home | jq .default.packets)
x bob python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 4444)); s.sendto(b'stranger', ('203.0.113.10', $port))"
# both drops happened (the one to 9999 and the stranger's) before their
# absence from the captures means anything
nb_wait_for 10 "home's firewall to drop the datagram to 9999 and the stranger's" \
	nb_ctl_true ".rules[0].packets >= 1 and .default.packets > $dropped0" firewall home
ctl show ports >/dev/null
[ "$(tshark -r "$NB_TMP/out/bob.pcap" -Y 'udp.dstport == 9999' 2>/dev/null | wc -l)" -eq 0 ] || nb_fail "UDP to 9999 crossed the NAT firewall"
[ "$(tshark -r "$NB_TMP/out/alice.pcap" -Y 'udp.srcport == 4444' 2>/dev/null | wc -l)" -eq 0 ] || nb_fail "a stranger's packet reached alice"
stats=$(ctl firewall home) || nb_fail "ctl firewall home"
python3 - "$stats" <<'PY' || nb_fail "home firewall counters: $stats"
import json, sys
s = json.loads(sys.argv[1])
rules = s["rules"]
assert rules[0]["packets"] == 1, rules           # udp 9999 dropped
assert rules[1]["packets"] >= 1, rules           # outbound accepted
assert s["established"]["packets"] >= 1, s       # the STUN answer
assert s["default"]["packets"] >= 1, s           # the stranger, default drop
PY
natbed ctl --prefix "$NB_PREFIX" firewall bob >/dev/null 2>&1 && nb_fail "ctl firewall on a host without one succeeded"
natbed down --prefix "$NB_PREFIX" >/dev/null || nb_fail "natbed down"
nb_pass "firewalls: reject (RST, ICMP 3/13), stateful NAT firewall, counters"
