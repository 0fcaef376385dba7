#!/usr/bin/env bash
# Issue 11: natbed's TURN client (agents/turn.c) against coturn's
# turnserver on a public host of a topology, from behind a symmetric NAT:
# Allocate with long-term credentials (401 first, then the realm's key),
# CreatePermission, ChannelBind, data over the channel to a peer that
# echoes it back to the relayed address. The captures show ChannelData to
# the TURN host and nothing between the peers' public addresses. A wrong
# password fails with a reason naming the 401.
. "$NATBED_SRC/tests/lib.sh"
nb_need turnserver tshark jq python3
PROBE=$NATBED_BUILD/tests/integration/turn_probe
BIG=$NATBED_SRC/tests/tools/udpbig.py

cat >"$NB_TMP/turn.yaml" <<YAML
name: turn
nats:
  home: { preset: symmetric, public: 203.0.113.10, inside: 192.168.1.0/24 }
hosts:
  alice: { nat: home, address: 192.168.1.10 }
  relay:
    address: 198.51.100.50
    run: turnserver -n -a -u alice:secret -r natbed -L 198.51.100.50 -E 198.51.100.50 --no-tls --no-dtls --no-cli --min-port 49152 --max-port 49999 --log-file $NB_TMP/turnserver.log --simple-log --no-stdout-log --pidfile $NB_TMP/turnserver.pid
  bob: { address: 198.51.100.20 }
YAML
nb_up "$NB_TMP/turn.yaml"
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
nb_wait_listen udp 3478 x relay
# bob echoes what comes to 7000 (the relay's address, as bob sees it)
nb_bg x bob python3 -c "
import socket
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 7000)); s.settimeout(20)
for _ in range(100):
    try: d,a=s.recvfrom(2000)
    except socket.timeout: break
    s.sendto(d,a)"
nb_wait_listen udp 7000 x bob

out=$(x alice "$PROBE" -s 198.51.100.50 -u alice -w secret -p 198.51.100.20:7000 -n 5 -t 10) \
	|| nb_fail "the relay path failed: $out"
echo "$out" | jq -e '.received == 5 and (.relayed | startswith("198.51.100.50:")) and (.mapped | startswith("203.0.113.10:"))' >/dev/null \
	|| nb_fail "turn probe: $out"

# the captures: ChannelData between home's public address and the relay,
# nothing between home's public address and bob
natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null # flushes captures
cd_n=$(tshark -r "$NB_TMP/out/home-wan.pcap" -Y 'ip.dst == 198.51.100.50 && stun.channel' 2>/dev/null | wc -l)
[ "$cd_n" -ge 5 ] || nb_fail "want ChannelData to the TURN host in home-wan.pcap, got $cd_n"
direct=$(tshark -r "$NB_TMP/out/home-wan.pcap" -Y 'ip.addr == 198.51.100.20' 2>/dev/null | wc -l)
[ "$direct" -eq 0 ] || nb_fail "$direct packets between home and bob directly: the path was not relayed"
for m in 0x003 0x008 0x009; do
	[ "$(tshark -r "$NB_TMP/out/home-wan.pcap" -Y "stun.type.method == $m" 2>/dev/null | wc -l)" -ge 2 ] \
		|| nb_fail "no STUN method $m (Allocate, CreatePermission, ChannelBind) exchange in the capture"
done

# a wrong password: the reason names the 401
out=$(x alice "$PROBE" -s 198.51.100.50 -u alice -w wrong -p 198.51.100.20:7000 -n 1 -t 10) \
	&& nb_fail "a wrong password allocated: $out"
echo "$out" | jq -e '.reason | test("^401 Unauthorized")' >/dev/null || nb_fail "wrong password: $out"

natbed down --prefix "$NB_PREFIX" >/dev/null || nb_fail "natbed down"
nb_pass "TURN through coturn from behind a symmetric NAT: allocate, permission, channel, data; 401 named"
