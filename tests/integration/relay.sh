#!/usr/bin/env bash
# Issue 11: method relay on real packets. Two agents behind random
# symmetric NATs (nothing else connects them), coturn's turnserver on a
# public host, natbed-stund and the rendezvous:
#  - both agents allocate at start (--turn) and register their relayed
#    address; `natbed-agent connect --method relay` succeeds with path
#    "relay", its local end the initiator's relayed address, every probe
#    echoed;
#  - the captures: ChannelData from the initiator's NAT to the TURN host,
#    and nothing at all between the two NATs' public addresses;
#  - a wrong --turn-pass toward a peer without a relay fails, exit 1,
#    with a reason naming the 401.
. "$NATBED_SRC/tests/lib.sh"
nb_need turnserver tshark jq

x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
RDV=198.51.100.20 STUN=198.51.100.10 TURN=198.51.100.50 PUB1=203.0.113.41 PUB2=203.0.113.42
common=(--rendezvous "$RDV" --stun "$STUN")
turn=(--turn "$TURN" --turn-user agent)

cat >"$NB_TMP/relay.yaml" <<YAML
name: relay
seed: 11
nats:
  n1: { preset: symmetric, public: $PUB1, inside: 192.168.41.0/24 }
  n2: { preset: symmetric, public: $PUB2, inside: 192.168.42.0/24 }
hosts:
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  rdv: { address: $RDV }
  relay:
    address: $TURN
    run: turnserver -n -a -u agent:secret -r natbed -L $TURN -E $TURN --no-tls --no-dtls --no-cli --min-port 49152 --max-port 49999 --log-file $NB_TMP/turnserver.log --simple-log --no-stdout-log --pidfile $NB_TMP/turnserver.pid
  alice: { nat: n1, address: 192.168.41.10 }
  bob: { nat: n2, address: 192.168.42.10 }
  carol: { nat: n2, address: 192.168.42.11 }
YAML
nb_up "$NB_TMP/relay.yaml"
nb_stund_ready bob "$STUN"
nb_wait_listen udp 3478 x relay

# natbed exec execs its command: the pid nb_bg keeps is the program's
bg() { local h=$1 log=$2; shift 2; nb_bg natbed exec --prefix "$NB_PREFIX" "$h" -- "$@" 2>"$log"; }
bg rdv "$NB_TMP/rdv.log" natbed-rendezvous --listen "$RDV"
nb_wait_for 10 "the rendezvous' ready line" grep -q "listening on $RDV:4787" "$NB_TMP/rdv.log"
bg bob "$NB_TMP/bob.log" natbed-agent serve --name bob "${common[@]}" "${turn[@]}" --turn-pass secret \
	--stats "$NB_TMP/bob.stats"
bob_pid=${NB_PIDS[-1]}
bg carol "$NB_TMP/carol.log" natbed-agent serve --name carol "${common[@]}"
nb_wait_for 30 "bob registered with a relayed address" \
	grep -q "registered as bob: .* relay $TURN:" "$NB_TMP/bob.log"
nb_wait_for 30 "carol registered" grep -q "registered as carol" "$NB_TMP/carol.log"

# --- relay between two random symmetric NATs ------------------------------
x alice timeout 60 natbed-agent connect --name alice --peer bob --method relay --probes 10 \
	"${common[@]}" "${turn[@]}" --turn-pass secret >"$NB_TMP/a2b.json" 2>"$NB_TMP/a2b.err" ||
	nb_fail "alice -> bob over the relay: exit $?: $(cat "$NB_TMP/a2b.json" "$NB_TMP/a2b.err")"
grep -q "relayed address $TURN:" "$NB_TMP/a2b.err" || nb_fail "alice allocated nothing: $(cat "$NB_TMP/a2b.err")"
jq -e --arg t "$TURN:" '.success and .method == "relay" and .path == "relay" and .reason == null
	and (.local | startswith($t)) and (.remote | startswith("'"$PUB2"':"))
	and .loss == 0 and (.tried | length) == 1' "$NB_TMP/a2b.json" >/dev/null ||
	nb_fail "alice -> bob: $(cat "$NB_TMP/a2b.json")"

# --- the captures ---------------------------------------------------------
out=$NB_TMP/out
# the probes go as ChannelData once the channel is bound, as Send
# indications (method 0x006) until then: under load the binding can come
# after the first probe
nb_captured "$out/n1-wan.pcap" "ip.src == $PUB1 && ip.dst == $TURN && stun.channel" ||
	nb_fail "want ChannelData from n1 to the TURN host"
nb_captured "$out/n1-wan.pcap" \
	"ip.src == $PUB1 && ip.dst == $TURN && (stun.channel || stun.type.method == 0x006)" 10 ||
	nb_fail "want the 10 probes from n1 to the TURN host, as ChannelData or Send"
nb_captured "$out/n2-wan.pcap" "ip.src == $PUB2 && ip.dst == $TURN" 10 ||
	nb_fail "want bob's checks and echoes to the relayed address"
for f in n1-wan n2-wan; do
	n=$(tshark -r "$out/$f.pcap" -Y "ip.addr == $PUB1 && ip.addr == $PUB2" 2>/dev/null | wc -l)
	[ "$n" -eq 0 ] || nb_fail "$n packets between the NATs' public addresses in $f.pcap: not relayed"
done
for m in 0x003 0x008 0x009; do # Allocate, CreatePermission, ChannelBind, from alice's NAT
	nb_captured "$out/n1-wan.pcap" "ip.dst == $TURN && stun.type.method == $m" ||
		nb_fail "no STUN method $m from n1 to the TURN host"
done

# bob echoed the probes; his allocation carried nothing (alice's did)
kill -TERM "$bob_pid"
nb_wait_gone 10 "$bob_pid"
jq -e '.tries.ok == 1 and .tries.probes_echoed == 10 and .turn.channel_data_out == 0' \
	"$NB_TMP/bob.stats" >/dev/null || nb_fail "bob's counters: $(cat "$NB_TMP/bob.stats")"

# --- a wrong password, toward a peer without a relay ----------------------
x alice timeout 60 natbed-agent connect --name alice2 --peer carol --method relay \
	"${common[@]}" "${turn[@]}" --turn-pass wrong >"$NB_TMP/bad.json" 2>"$NB_TMP/bad.err"
st=$?
[ "$st" -eq 1 ] || nb_fail "a wrong password exits $st, want 1: $(cat "$NB_TMP/bad.json" "$NB_TMP/bad.err")"
jq -e '(.success | not) and .path == "none" and (.reason | test("^401 Unauthorized"))' \
	"$NB_TMP/bad.json" >/dev/null || nb_fail "wrong password: $(cat "$NB_TMP/bad.json")"
grep -q "401 Unauthorized" "$NB_TMP/bad.err" || nb_fail "the refusal is not logged: $(cat "$NB_TMP/bad.err")"

nb_pass "relay: two random symmetric NATs through coturn, ChannelData only; a wrong password named by its 401"
