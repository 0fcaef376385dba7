#!/usr/bin/env bash
# Issue 11: a NAT with `pcp: true` answers NAT-PMP (RFC 6886) and PCP (RFC
# 6887) on its inside gateway, port 5351. Debian's natpmpc gets the NAT's
# public address and a mapping, and a datagram from the internet to the
# mapped port reaches the host, through a symmetric NAT that would filter
# it otherwise. PCP: MAP, renewal with the same nonce, another nonce
# refused, deletion, and a new epoch after `natbed ctl nat NAME flush`,
# which the gateway announces to 224.0.0.1:5350 (NAT-PMP and PCP).
. "$NATBED_SRC/tests/lib.sh"
nb_need natpmpc python3 jq
PCP=$NATBED_SRC/tests/tools/pcp.py
BIG=$NATBED_SRC/tests/tools/udpbig.py

cat >"$NB_TMP/pm.yaml" <<'YAML'
name: portmap
nats:
  home:
    preset: symmetric
    pcp: true
    public: 203.0.113.10
    inside: 192.168.1.0/24
hosts:
  alice: { nat: home, address: 192.168.1.10 }
  bob: { address: 198.51.100.20 }
YAML
nb_up "$NB_TMP/pm.yaml"
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
ctl() { natbed ctl --prefix "$NB_PREFIX" --json "$@"; }

# a datagram from bob to 203.0.113.10:PORT reaches alice on LPORT?
reaches() { # PORT LPORT
	rm -f "$NB_TMP/got"
	x alice timeout 5 python3 -c "
import socket,sys
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', $2)); s.settimeout(4)
print('ready', flush=True)
d,a=s.recvfrom(100); print(d.decode(), a[0])" >"$NB_TMP/got" 2>&1 &
	local pid=$!
	nb_wait_for 5 "alice listening on $2" grep -q ready "$NB_TMP/got"
	for _ in 1 2 3; do
		x bob python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hello', ('203.0.113.10', $1))"
		grep -q hello "$NB_TMP/got" && break
		sleep 0.2
	done
	wait "$pid"
	grep -q "hello 198.51.100.20" "$NB_TMP/got"
}

# NAT-PMP with natpmpc: the public address, then public 1234 -> alice:5678
out=$(x alice timeout 10 natpmpc 2>&1) || nb_fail "natpmpc: $out"
echo "$out" | grep -q "Public IP address : 203.0.113.10" || nb_fail "natpmpc public address: $out"
reaches 1234 5678 && nb_fail "the symmetric NAT let a stranger in before any mapping"
out=$(x alice timeout 10 natpmpc -a 1234 5678 udp 60 2>&1) || nb_fail "natpmpc -a: $out"
echo "$out" | grep -q "Mapped public port 1234 protocol UDP to local port 5678" || nb_fail "natpmpc -a: $out"
ctl nat home mappings | jq -e '.[] | select(.granted == "nat-pmp" and .outside == "203.0.113.10:1234" and .inside == "192.168.1.10:5678")' >/dev/null \
	|| nb_fail "no nat-pmp mapping listed: $(ctl nat home mappings)"
reaches 1234 5678 || nb_fail "a datagram to the mapped port did not reach alice: $(cat "$NB_TMP/got")"
out=$(x alice timeout 10 natpmpc -a 1234 5678 udp 0 2>&1) || nb_fail "natpmpc delete: $out"
[ "$(ctl nat home mappings | jq '[.[] | select(.granted)] | length')" = 0 ] || nb_fail "natpmpc's mapping not deleted"

# PCP MAP: udp 6000, suggested 6000, nonce 7
out=$(x alice python3 "$PCP" map 192.168.1.1 192.168.1.10 udp 6000 6000 120 7) || nb_fail "pcp map: $out"
[ "$out" = "result=0 lifetime=120 epoch=$(echo "$out" | sed 's/.*epoch=\([0-9]*\).*/\1/') external=203.0.113.10:6000" ] || nb_fail "pcp map: $out"
epoch1=$(echo "$out" | sed 's/.*epoch=\([0-9]*\).*/\1/')
reaches 6000 6000 || nb_fail "a datagram to the PCP mapping did not reach alice"
out=$(x alice python3 "$PCP" map 192.168.1.1 192.168.1.10 udp 6000 0 300 7)
echo "$out" | grep -q "result=0 lifetime=300 .* external=203.0.113.10:6000" || nb_fail "pcp renewal: $out"
out=$(x alice python3 "$PCP" map 192.168.1.1 192.168.1.10 udp 6000 0 300 9)
echo "$out" | grep -q "^result=2 " || nb_fail "pcp renewal with another nonce not refused (NOT_AUTHORIZED): $out"
out=$(x alice python3 "$PCP" map 192.168.1.1 192.168.1.99 udp 6000 0 300 7)
echo "$out" | grep -q "^result=12 " || nb_fail "a wrong client address not refused (ADDRESS_MISMATCH): $out"
out=$(x alice python3 "$PCP" map 192.168.1.1 192.168.1.10 udp 6000 0 0 7)
echo "$out" | grep -q "^result=0 lifetime=0 " || nb_fail "pcp delete: $out"
reaches 6000 6000 && nb_fail "the deleted mapping still lets bob in"
# a reboot: the epoch starts again
nb_wait_for 5 "the epoch to count a second" sh -c "natbed exec --prefix $NB_PREFIX alice -- python3 $PCP announce 192.168.1.1 192.168.1.10 | grep -qv 'epoch=0$'"
before=$(x alice python3 "$PCP" announce 192.168.1.1 192.168.1.10 | sed 's/.*epoch=//')
# ... and the gateway says so to 224.0.0.1:5350 (RFC 6886 §3.2.1, RFC 6887
# §14.1.3): NAT-PMP's public address and PCP's ANNOUNCE, a round at once
# and one 250 ms later (of ten, over two minutes)
x alice timeout 20 python3 -c "
import socket
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5350)); s.settimeout(15)
print('ready', flush=True)
for _ in range(4):
    d,a=s.recvfrom(100); print(d.hex(), '%s:%d' % a, flush=True)" >"$NB_TMP/announce" 2>&1 &
listener=$!
nb_wait_for 5 "alice listening on 5350" grep -q ready "$NB_TMP/announce"
ctl nat home flush >/dev/null || nb_fail "ctl nat home flush"
wait "$listener" || nb_fail "not four announcements after the flush: $(cat "$NB_TMP/announce")"
# NAT-PMP: version 0, opcode 128, result 0, epoch (seconds), 203.0.113.10
grep -Eq '^00800000[0-9a-f]{8}cb00710a 192.168.1.1:5351$' "$NB_TMP/announce" \
	|| nb_fail "no NAT-PMP announcement of 203.0.113.10: $(cat "$NB_TMP/announce")"
# PCP: version 2, R and ANNOUNCE, result 0, lifetime 0, epoch, 12 reserved
grep -Eq '^028000000{8}[0-9a-f]{8}0{24} 192.168.1.1:5351$' "$NB_TMP/announce" \
	|| nb_fail "no PCP ANNOUNCE: $(cat "$NB_TMP/announce")"
[ "$(grep -c '5351$' "$NB_TMP/announce")" = 4 ] || nb_fail "announcements: $(cat "$NB_TMP/announce")"
after=$(x alice python3 "$PCP" announce 192.168.1.1 192.168.1.10 | sed 's/.*epoch=//')
[ "$after" -lt "$before" ] || nb_fail "the epoch did not start again after flush: $before then $after"
ctl nat home stats | jq -e '.port_mapping.pcp.SUCCESS >= 3 and .port_mapping.nat_pmp.SUCCESS >= 3' >/dev/null \
	|| nb_fail "port_mapping counters: $(ctl nat home stats | jq .port_mapping)"
natbed down --prefix "$NB_PREFIX" >/dev/null || nb_fail "natbed down"
nb_pass "natpmpc and PCP map through a symmetric NAT with pcp: true; nonces, deletion, epoch and its announcements"
