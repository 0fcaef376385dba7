#!/usr/bin/env bash
# Issue 9: checkpoint and restore carry the whole state. Over lossy links
# (Gilbert-Elliott on alice's, plain loss set at run time on bob's), a NAT
# and its stateful firewall, three flows each way send a first half of
# their datagrams; then a checkpoint (by a relative path), and the second
# half (a) in the same run and (b) in a fresh `natbed up` of the topology
# after a restore. The packets dropped in the second half (drop lines in
# events.jsonl: link, direction, flow, packet number, reason) and those
# delivered (the captures) are exactly the same in (a) and (b). In the
# second half bob speaks first, so his datagrams reach alice only through
# the restored NAT mapping and firewall flow. Without the restore (c) the
# same second half meets another fate: the comparison can fail.
# Restoring a checkpoint that does not fit (another topology, a link it
# does not have, a NAT missing, a malformed part late in the file) fails
# with the part named and changes nothing; natbed-emu refuses a relative
# path it is handed itself.
. "$NATBED_SRC/tests/lib.sh"
nb_need tshark python3 jq
SEND="python3 $NATBED_SRC/tests/tools/udpsend.py"
SINK="python3 $NATBED_SRC/tests/tools/udpsink.py"
HALF=30 # datagrams per flow and half

cat >"$NB_TMP/ckpt.yaml" <<'YAML'
name: ckpt
seed: 7
nats:
  home:
    preset: full-cone
    ports: preserve
    public: 203.0.113.10
    inside: 192.168.1.0/24
    firewall:
      default: drop
      rules:
        - { dir: out, action: accept }
hosts:
  alice:
    nat: home
    address: 192.168.1.10
    link: { loss: gilbert-elliott 8% 30% }
  bob:
    address: 198.51.100.20
    link: { loss: 10% }
YAML

x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
ctl() { natbed ctl --prefix "$NB_PREFIX" "$@"; }
up() { # RUN: bring the topology up with captures in $NB_TMP/RUN, sinks, warm ARP
	natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/$1" "$NB_TMP/ckpt.yaml" >"$NB_TMP/up-$1.log" 2>&1 ||
		{ cat "$NB_TMP/up-$1.log"; nb_fail "natbed up ($1)"; }
	nb_bg x bob $SINK 240 9
	nb_bg x alice $SINK 240 40001 40002 40003
	nb_wait_listen udp 9 x bob
	nb_wait_listen udp 40003 x alice
	# ARP on both sides before numbering starts (a ping flow of its own)
	x alice ping -c 10 -i 0.2 -W 2 198.51.100.20 >/dev/null || nb_fail "warm-up ping ($1)"
}
down() { natbed down --prefix "$NB_PREFIX" >/dev/null || nb_fail "natbed down"; }

a2b() { x alice $SEND "4000$1" 198.51.100.20 9 $HALF 0.004 "a$1h$2" || nb_fail "alice flow $1"; }
b2a() { x bob $SEND 9 203.0.113.10 "4000$1" $HALF 0.004 "b$1h$2" || nb_fail "bob flow $1"; }

# RUN FILTER: frames of RUN's pcap (alice or bob) matching the display FILTER
frames() { tshark -r "$NB_TMP/$1" -Y "$2" 2>/dev/null | wc -l; }
# RUN SPORT DPORT: drop lines of that UDP flow in RUN's events.jsonl
drops() { jq -c "select(.event == \"drop\" and .proto == 17 and .sport == $2 and .dport == $3)" \
	"$NB_TMP/$1/events.jsonl" | wc -l; }
# RUN N: each flow's N datagrams each way reached the other end or were dropped
decided() {
	local run=$1 n=$2 i
	ctl show ports >/dev/null || return 1 # flushes captures and the event log
	for i in 1 2 3; do
		[ $(($(frames "$run/bob.pcap" "udp.srcport == 4000$i && udp.dstport == 9") +
			$(drops "$run" "4000$i" 9))) -ge "$n" ] || return 1
		[ $(($(frames "$run/alice.pcap" "udp.srcport == 9 && udp.dstport == 4000$i") +
			$(drops "$run" 9 "4000$i"))) -ge "$n" ] || return 1
	done
}
# The second half: bob first (through the NAT and firewall state), then alice.
second_half() {
	local i
	for i in 1 2 3; do b2a $i 2; done
	for i in 1 2 3; do a2b $i 2; done
}
# RUN EVENT: the UDP drop lines after RUN's EVENT line (checkpoint or
# restore), without their times: what was dropped, where and why.
dropped_after() {
	jq -c --arg ev "$2" 'if .event == $ev then "MARK" else . end' "$NB_TMP/$1/events.jsonl" |
		sed -n '/^"MARK"$/,$p' | grep -v '^"MARK"$' |
		jq -c 'select(.event == "drop" and .proto == 17) | del(.t_ns)' | sort
}
# RUN HALF: the tags of datagrams delivered to bob and to alice in HALF
delivered() {
	{
		tshark -r "$NB_TMP/$1/bob.pcap" -Y 'udp.dstport == 9' -T fields -e data.data 2>/dev/null
		tshark -r "$NB_TMP/$1/alice.pcap" -Y 'udp.srcport == 9' -T fields -e data.data 2>/dev/null
	} | python3 -c 'import sys; [print(bytes.fromhex(l.strip().replace(":", "")).decode()) for l in sys.stdin if l.strip()]' |
		grep "h$2-" | sort
}
# A checkpoint with its times taken out: what two checkpoints a moment
# apart must agree on when nothing happened between them.
ck_norm() { jq -S 'walk(if type == "object" then with_entries(select(.key | endswith("_ns") | not)) else . end)' "$1"; }

# --- (a) one run, checkpoint half-way ------------------------------------
up a
for i in 1 2 3; do a2b $i 1; done
for i in 1 2 3; do b2a $i 1; done
ctl link bob set loss 20% >/dev/null || nb_fail "ctl link bob set loss"
nb_wait_for 30 "the first half decided in run a" decided a $HALF
# a relative path: natbed ctl resolves it against its working directory
(cd "$NB_TMP" && ctl checkpoint ck.json >/dev/null) || nb_fail "ctl checkpoint ck.json (relative)"
[ -s "$NB_TMP/ck.json" ] || nb_fail "the checkpoint is not at $NB_TMP/ck.json"
for k in nats.home firewalls.home links.alice.up links.bob.down links.internet.up flows; do
	jq -e ".$k" "$NB_TMP/ck.json" >/dev/null || nb_fail "the checkpoint has no $k"
done
[ "$(jq '.links.bob.up.config.loss.p' "$NB_TMP/ck.json")" = 0.2 ] ||
	nb_fail "the checkpoint does not carry link set loss 20% on bob"
[ "$(jq '.firewalls.home.flows | length' "$NB_TMP/ck.json")" -ge 3 ] ||
	nb_fail "the checkpoint holds no firewall flows"
# natbed-emu itself takes absolute paths only
raw=$(python3 -c 'import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(json.dumps(["checkpoint", "ck.json"]).encode() + b"\n")
print(s.makefile().read())' "/run/natbed/$NB_PREFIX/ctl")
[ "$(echo "$raw" | jq .ok)" = false ] || nb_fail "natbed-emu took a relative path: $raw"
second_half
nb_wait_for 30 "the second half decided in run a" decided a $((2 * HALF))
dropped_after a checkpoint >"$NB_TMP/drops-a"
delivered a 2 >"$NB_TMP/got-a"
down

# --- (b) a fresh run, restored ---------------------------------------------
up b
# the fresh run's own state differs from the checkpoint's
ctl link bob set loss 33% >/dev/null || nb_fail "ctl link bob set loss 33%"
ctl nat home set timeout 77s >/dev/null || nb_fail "ctl nat home set timeout"
ctl checkpoint "$NB_TMP/before.json" >/dev/null || nb_fail "ctl checkpoint before.json"
refused() { # FILE WANT: restoring FILE fails with WANT in the error
	local out
	out=$(ctl restore "$1" 2>&1) && nb_fail "restore of $1 succeeded"
	echo "$out" | grep -qF -- "$2" || nb_fail "restore of $1: '$out' does not say '$2'"
}
jq '.topology = "other"' "$NB_TMP/ck.json" >"$NB_TMP/other.json"
refused "$NB_TMP/other.json" "a checkpoint of topology 'other', this is 'ckpt'"
jq '.links.carol = .links.bob' "$NB_TMP/ck.json" >"$NB_TMP/carol.json"
refused "$NB_TMP/carol.json" "carol.json: links.carol: there is no such link in this topology"
jq 'del(.nats.home)' "$NB_TMP/ck.json" >"$NB_TMP/nonat.json"
refused "$NB_TMP/nonat.json" "nonat.json: nats.home: missing"
jq '.seed = 8' "$NB_TMP/ck.json" >"$NB_TMP/seed.json"
refused "$NB_TMP/seed.json" "seed: the checkpoint's run has seed 8, this one 7"
# the last part is bad: every NAT, firewall and link before it checked out
jq '.flows.flows[0][1] = "10.0.0.300"' "$NB_TMP/ck.json" >"$NB_TMP/badflow.json"
refused "$NB_TMP/badflow.json" "badflow.json: flows: flows[0]"
jq '.links.bob.down.config.loss.p = 2' "$NB_TMP/ck.json" >"$NB_TMP/badlink.json"
refused "$NB_TMP/badlink.json" "badlink.json: links.bob.down: config.loss: missing or out of range"
refused "$NB_TMP/no-such.json" "no-such.json"
ctl checkpoint "$NB_TMP/after.json" >/dev/null || nb_fail "ctl checkpoint after.json"
cmp -s <(ck_norm "$NB_TMP/before.json") <(ck_norm "$NB_TMP/after.json") ||
	nb_fail "a refused restore changed the state: $(diff <(ck_norm "$NB_TMP/before.json") <(ck_norm "$NB_TMP/after.json") | head -20)"
[ "$(jq '.links.bob.up.config.loss.p' "$NB_TMP/after.json")" = 0.33 ] || nb_fail "bob's loss is not 33% after the refusals"
# the real one, by a relative path
(cd "$NB_TMP" && ctl restore ck.json >/dev/null) || nb_fail "ctl restore ck.json (relative)"
ctl checkpoint "$NB_TMP/restored.json" >/dev/null || nb_fail "ctl checkpoint restored.json"
[ "$(jq '.links.bob.up.config.loss.p' "$NB_TMP/restored.json")" = 0.2 ] || nb_fail "restore did not bring bob's loss back to 20%"
[ "$(jq '.nats.home.behaviour.timeout_ns' "$NB_TMP/restored.json")" = "$(jq '.nats.home.behaviour.timeout_ns' "$NB_TMP/ck.json")" ] ||
	nb_fail "restore did not bring the NAT's timeout back"
second_half
nb_wait_for 30 "the second half decided in run b" decided b $HALF
dropped_after b restore >"$NB_TMP/drops-b"
delivered b 2 >"$NB_TMP/got-b"
down

# --- (c) a fresh run without the restore: the control ---------------------
up c
ctl link bob set loss 20% >/dev/null || nb_fail "ctl link bob set loss (c)"
ctl checkpoint "$NB_TMP/c-start.json" >/dev/null || nb_fail "ctl checkpoint (c)"
second_half
nb_wait_for 30 "the second half decided in run c" decided c $HALF
dropped_after c checkpoint >"$NB_TMP/drops-c"
delivered c 2 >"$NB_TMP/got-c"
down

na=$(wc -l <"$NB_TMP/drops-a")
nlink=$(grep -c '"reason":"loss"' "$NB_TMP/drops-a")
[ "$nlink" -ge 5 ] || nb_fail "only $nlink link losses in the second half of run a: the test shows nothing"
grep -q '"link":"alice"' "$NB_TMP/drops-a" && grep -q '"link":"bob"' "$NB_TMP/drops-a" ||
	nb_fail "the second half of run a lost nothing on one of the links: $(cat "$NB_TMP/drops-a")"
cmp -s "$NB_TMP/drops-a" "$NB_TMP/drops-b" ||
	nb_fail "the restored run dropped other packets than the uninterrupted one: $(diff "$NB_TMP/drops-a" "$NB_TMP/drops-b" | head -20)"
cmp -s "$NB_TMP/got-a" "$NB_TMP/got-b" ||
	nb_fail "the restored run delivered other datagrams: $(diff "$NB_TMP/got-a" "$NB_TMP/got-b" | head -20)"
[ "$(wc -l <"$NB_TMP/got-a")" -eq $((6 * HALF - na)) ] ||
	nb_fail "run a: $(wc -l <"$NB_TMP/got-a") datagrams delivered and $na dropped of $((6 * HALF))"
cmp -s "$NB_TMP/drops-a" "$NB_TMP/drops-c" &&
	nb_fail "without the restore the same packets were dropped: the comparison shows nothing"
nb_pass "checkpoint mid-run, restore into a fresh up: the same $na of $((6 * HALF)) datagrams dropped ($nlink by link loss); refusals change nothing; relative paths"
