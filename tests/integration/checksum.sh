#!/usr/bin/env bash
# Checksum offload (DESIGN.md, known pitfalls): a host that leaves tx
# checksumming on hands the fabric UDP and TCP packets with unfinished
# checksums (TP_STATUS_CSUMNOTREADY). natbed-emu finishes them: UDP and a
# 1 MB TCP transfer through a NAT arrive, and no packet in any capture
# carries a bad checksum.
. "$NATBED_SRC/tests/lib.sh"
command -v ethtool >/dev/null || nb_skip "ethtool not installed"
command -v tshark >/dev/null || nb_skip "tshark not installed"
PY=/usr/bin/python3
[ -x $PY ] || nb_skip "python3 not installed"

nb_up "$NATBED_SRC/topologies/lan.yaml"
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
# undo what natbed up did on purpose: offloads back on at both ends' hosts
for h in alice stun; do
	x $h ethtool -K eth0 tx on >/dev/null 2>&1 || nb_skip "cannot turn tx checksumming on in $h"
done
x alice ethtool -k eth0 | grep -q "tx-checksumming: on" || nb_skip "tx checksumming stays off on this kernel"
nb_stund_ready alice 198.51.100.10

# UDP: STUN through the NAT
out=$(x alice timeout 5 natbed-stunclient 198.51.100.10:3478 2>&1) || nb_fail "UDP (STUN) with tx checksum offload: $out"
echo "$out" | grep -q "203.0.113.10:" || nb_fail "STUN answer without the public address: $out"

# TCP: 1 MB from stun to alice, and a request from alice
x stun $PY -c "
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('198.51.100.10', 8001)); s.listen(); s.settimeout(10)
c, _ = s.accept(); c.recv(100); c.sendall(b'y' * 1000000); c.close()
" >/dev/null 2>&1 &
nb_wait_listen tcp 8001 x stun
got=$(x alice timeout 10 $PY -c "
import socket
s = socket.create_connection(('198.51.100.10', 8001), timeout=8); s.sendall(b'hello')
n = 0
while True:
    b = s.recv(65536)
    if not b: break
    n += len(b)
print(n)
") || nb_fail "TCP with tx checksum offload failed"
[ "$got" = 1000000 ] || nb_fail "TCP transfer got $got bytes, want 1000000"
wait

natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null # flush captures
for f in "$NB_TMP"/out/*.pcap; do
	bad=$(tshark -r "$f" -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
		-Y 'udp.checksum.status == 0 || tcp.checksum.status == 0 || ip.checksum.status == 0' 2>/dev/null | wc -l)
	[ "$bad" -eq 0 ] || nb_fail "$bad packets with a bad checksum in $(basename "$f")"
done
# the partial checksums did reach the fabric (otherwise this test proves nothing)
n=$(tshark -r "$NB_TMP/out/alice.pcap" -Y 'tcp' 2>/dev/null | wc -l)
[ "$n" -gt 100 ] || nb_fail "only $n TCP packets in alice.pcap"
nb_pass "UDP and TCP with tx checksum offload on: delivered, every checksum good"
