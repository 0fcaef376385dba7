#!/usr/bin/env bash
# The gateway natbed-emu plays for a NAT without `pcp`: a UDP datagram to
# its own address (an agent asking PCP, port 5351) is answered with ICMP
# port unreachable, as a Linux router with nothing listening answers, is
# counted as a `gateway` drop, and never leaves translated on the NAT's
# outside (its inside address is no destination on the internet). Ping to
# it is still answered.
. "$NATBED_SRC/tests/lib.sh"
nb_need python3 tshark jq
cat >"$NB_TMP/gw.yaml" <<'YAML'
name: gateway
nats:
  home: { preset: port-restricted, public: 203.0.113.10, inside: 192.168.1.0/24 }
hosts:
  alice: { nat: home, address: 192.168.1.10 }
  bob: { address: 198.51.100.20 }
YAML
nb_up "$NB_TMP/gw.yaml"
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
x alice ping -c 1 -W 2 192.168.1.1 >/dev/null || nb_fail "the gateway does not answer ping"
# a connected UDP socket sees the port unreachable as ECONNREFUSED
got=$(x alice timeout 5 python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.connect(('192.168.1.1', 5351))
for _ in range(3):
    try:
        s.send(b'\x00\x00'); s.recv(100); print('answered'); break
    except ConnectionRefusedError:
        print('refused'); break
    except socket.timeout:
        pass
else:
    print('silence')") || nb_fail "the probe did not run: $got"
[ "$got" = refused ] || nb_fail "UDP to the gateway: $got, want refused (ICMP port unreachable)"
nb_ctl_true '[.[] | select(.name == "alice") | .drops.gateway] | .[0] >= 1' show ports ||
	nb_fail "no gateway drop counted: $(natbed ctl --prefix "$NB_PREFIX" --json show ports)"
nb_captured "$NB_TMP/out/home-wan.pcap" "ip.dst == 192.168.1.1" &&
	nb_fail "a datagram to the gateway's inside address left on the outside"
nb_pass "gateway: UDP to it refused by port unreachable, counted, never NAT'd out"
