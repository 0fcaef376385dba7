#!/usr/bin/env bash
# scripts/wireshark/natbed.lua, natbed's Wireshark dissector, read by tshark:
#  1. one of every natbed message as natbed's codecs write them (nbmsg_gen:
#     the rendezvous' twelve kinds, checks, a nominating check with its
#     prediction, an answer, a probe and its echo, a probe relayed in a TURN
#     Data indication; the gate's AUTH request, grant, denial and an
#     unsigned refusal, as docs/gate.md lays them out) decodes to exactly
#     the values written: every field of every message, the try's method as
#     the capture told it, and each FINGERPRINT checked;
#  2. a run: agents behind a full-cone, a port-restricted, a symmetric and
#     a symmetric-sequential NAT and on the public internet register, serve
#     and connect with every method of agents/methods.c, and with the
#     tests' testbind (a path found for certain, so probes), and ask for a
#     peer nobody registered. In every capture of the run, each UDP
#     datagram that is a natbed message (a STUN header, a natbed method or
#     attribute: told apart by this script's own parser) decodes as natbed,
#     nothing is malformed and tshark's expert analysis finds no warning or
#     error in natbed's or STUN's packets; every REGISTER carries the
#     candidates its agent logged, every CONNECT the method asked, and a
#     connect that succeeded shows its probes (seq 0..K-1, under its
#     method) and, for a method of the table, an answer or a nominating
#     check naming the endpoint it reported as local;
#  3. scripts/setup.sh --wireshark installs the dissector where Wireshark
#     loads it for the user.
. "${NATBED_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
nb_need tshark text2pcap mergecap jq
PY=$(command -v /usr/bin/python3 || command -v python3) || nb_skip "python3 not installed"
GEN=$NATBED_BUILD/tests/interop/nbmsg_gen
[ -x "$GEN" ] || nb_fail "$GEN not built"
LUA=$NATBED_SRC/scripts/wireshark/natbed.lua
# a HOME of its own: a dissector installed for the user would load twice
mkdir -p "$NB_TMP/home"
ts() {
	HOME=$NB_TMP/home XDG_CONFIG_HOME=$NB_TMP/home/.config \
		tshark -X lua_script:"$LUA" -o udp.try_heuristic_first:TRUE "$@"
}

# --- 1. every message, every field ----------------------------------------
g=$NB_TMP/gen
mkdir -p "$g"
"$GEN" "$g" || nb_fail "nbmsg_gen"
text2pcap -q -4 198.51.100.30,198.51.100.20 -u 40000,4787 "$g/rdv.hex" "$g/rdv.pcap" &&
	text2pcap -q -4 198.51.100.30,203.0.113.9 -u 40000,40001 "$g/peer.hex" "$g/peer.pcap" &&
	text2pcap -q -4 192.168.1.10,192.168.1.1 -u 40000,4788 "$g/gate.hex" "$g/gate.pcap" &&
	mergecap -a -w "$g/all.pcap" "$g/rdv.pcap" "$g/peer.pcap" "$g/gate.pcap" ||
	nb_fail "text2pcap / mergecap"
mapfile -t fields <"$g/fields"
eargs=()
for f in "${fields[@]}"; do eargs+=(-e "$f"); done
ts -r "$g/all.pcap" -T fields -E occurrence=a "${eargs[@]}" >"$g/got" 2>"$g/tshark.err" ||
	nb_fail "tshark: $(cat "$g/tshark.err")"
cat "$g/rdv.expect" "$g/peer.expect" "$g/gate.expect" >"$g/want"
[ "$(wc -l <"$g/want")" -eq 22 ] || nb_fail "nbmsg_gen wrote $(wc -l <"$g/want") messages, want 22"
if ! diff "$g/want" "$g/got" >"$g/diff"; then
	# name the fields that differ
	$PY - "$g/fields" "$g/want" "$g/got" <<'EOF' >&2
import sys
names = open(sys.argv[1]).read().split()
for n, (w, g) in enumerate(zip(open(sys.argv[2]), open(sys.argv[3])), 1):
    w, g = w.rstrip("\n").split("\t"), g.rstrip("\n").split("\t")
    for k, (a, b) in enumerate(zip(w, g + [""] * len(w))):
        if a != b:
            print("message %d (%s): %s = %r, want %r" % (n, w[0], names[k], b, a))
EOF
	nb_fail "the dissector's fields differ from the values natbed wrote"
fi
ts -r "$g/all.pcap" -q -z expert,note >"$g/expert" 2>&1
grep -qE "^(Errors|Warns|Notes) \(" "$g/expert" && nb_fail "expert infos on natbed's own messages: $(cat "$g/expert")"
# a FINGERPRINT a byte off is caught
$PY - "$g/rdv.hex" >"$g/bad.hex" <<'EOF'
import sys
line = open(sys.argv[1]).read().split("\n\n")[0].split()
line[-1] = "%02x" % (int(line[-1], 16) ^ 1)
print(" ".join(line))
EOF
text2pcap -q -4 198.51.100.30,198.51.100.20 -u 40000,4787 "$g/bad.hex" "$g/bad.pcap" >/dev/null
ts -r "$g/bad.pcap" -q -z expert,warn 2>&1 | grep -q "FINGERPRINT incorrect" ||
	nb_fail "a bad FINGERPRINT is not flagged"

# --- 2. a run with every method ------------------------------------------
AGENT=$NATBED_BUILD/tests/integration/natbed-agent-test # natbed-agent and testbind
[ -x "$AGENT" ] || nb_fail "$AGENT not built"
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }
RDV=198.51.100.20 STUN=198.51.100.10
common=(--rendezvous "$RDV" --stun "$STUN")
topo=$NB_TMP/dissect.yaml
cat >"$topo" <<'EOF'
name: dissect
seed: 13
nats:
  fc:     { preset: full-cone,            public: 203.0.113.41, inside: 192.168.41.0/24 }
  pr:     { preset: port-restricted,      public: 203.0.113.42, inside: 192.168.42.0/24 }
  sym:    { preset: symmetric,            public: 203.0.113.43, inside: 192.168.43.0/24 }
  symseq: { preset: symmetric-sequential, public: 203.0.113.44, inside: 192.168.44.0/24 }
hosts:
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  rdv: { address: 198.51.100.20 }
  alice: { address: 198.51.100.30 }
  bob: { nat: fc, address: 192.168.41.10 }
  carol: { nat: pr, address: 192.168.42.10 }
  dave: { nat: sym, address: 192.168.43.10 }
  erin: { nat: symseq, address: 192.168.44.10 }
EOF
nb_up "$topo"
nb_stund_ready bob "$STUN"
bg() { local h=$1 log=$2; shift 2; nb_bg natbed exec --prefix "$NB_PREFIX" "$h" -- "$@" 2>"$log"; }
bg rdv "$NB_TMP/rdv.log" natbed-rendezvous --listen "$RDV"
nb_wait_for 10 "the rendezvous' ready line" grep -q "listening on $RDV:4787" "$NB_TMP/rdv.log"
for h in alice bob carol; do
	bg "$h" "$NB_TMP/$h.log" "$AGENT" serve --name "$h" "${common[@]}"
done
for h in alice bob carol; do
	nb_wait_for 30 "$h registered" grep -q "registered as $h" "$NB_TMP/$h.log"
done

# each method of the table from a pair it has a part in (docs/methods.md)
methods=$(grep -o '&method_[a-z_]*' "$NATBED_SRC/agents/methods.c" | sed 's/&method_//')
[ -n "$methods" ] || nb_fail "no method in agents/methods.c"
methods="$methods testbind"
pair() {
	case $1 in
	direct) echo "bob alice" ;;
	punch) echo "bob carol" ;;
	predict) echo "erin carol" ;;
	birthday) echo "dave bob" ;;
	*) echo "bob alice" ;;
	esac
}
K=10
for m in $methods; do
	read -r from to < <(pair "$m")
	x "$from" timeout 90 "$AGENT" connect --name "$from-$m" --peer "$to" --method "$m" \
		--probes $K "${common[@]}" >"$NB_TMP/$m.json" 2>"$NB_TMP/$m.err"
	st=$?
	if [ "$st" -eq 2 ] && [[ " direct punch predict birthday testbind " != *" $m "* ]]; then
		# a method this test knows no pair for wants options it does not give
		echo "note: $m not run: $(head -1 "$NB_TMP/$m.err")"
		continue
	fi
	[ "$st" -le 1 ] || nb_fail "connect $from -> $to with $m: exit $st: $(cat "$NB_TMP/$m.err")"
	echo "$from $m $st" >>"$NB_TMP/connects"
done
x alice timeout 60 "$AGENT" connect --name alice-none --peer nobody --method "$(echo "$methods" | head -1)" \
	"${common[@]}" >"$NB_TMP/none.json" 2>&1
[ $? -eq 1 ] || nb_fail "a connect to nobody did not fail: $(cat "$NB_TMP/none.json")"
natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null || nb_fail "ctl show ports"
out=$NB_TMP/out

# every natbed datagram decodes as natbed, nothing else is claimed
cat >"$NB_TMP/count.py" <<'EOF'
import sys
# natbed's block of methods (agents/nbstun.h): one the dissector does not
# know fails here
NATBED_METHODS = set(range(0x0E0, 0x0F0))
def natbed(p):
    if len(p) < 20 or p[0] & 0xC0 or p[4:8] != bytes.fromhex("2112a442"):
        return False
    n = p[2] << 8 | p[3]
    if n % 4 or 20 + n != len(p):
        return False
    t = p[0] << 8 | p[1]
    method = (t & 0xF) | (t & 0xE0) >> 1 | (t & 0x3E00) >> 2
    cls = (t >> 4 & 1) | (t >> 7 & 2)
    if method in NATBED_METHODS:
        return True
    if method != 1 or cls not in (0, 2):
        return False
    off = 20
    while off + 4 <= len(p):
        at, alen = p[off] << 8 | p[off + 1], p[off + 2] << 8 | p[off + 3]
        if 0xC0E0 <= at <= 0xC0FF:
            return True
        off += 4 + alen + (-alen % 4)
    return False
want = got = 0
for line in sys.stdin:
    num, protos, msg, payload = (line.rstrip("\n").split("\t") + ["", "", ""])[:4]
    is_nb = bool(payload) and natbed(bytes.fromhex(payload.split(",")[0]))
    decoded = msg != ""
    relayed = decoded and ":stun" in protos  # inside a TURN DATA attribute
    if is_nb != decoded and not relayed:
        print("frame %s: natbed message %s, decoded as %s" % (num, is_nb, protos))
        sys.exit(1)
    want += is_nb
print(want)
EOF
total=0
for p in "$out"/*.pcap; do
	n=$(ts -r "$p" -Y "udp && !icmp" -T fields -e frame.number -e frame.protocols -e natbed.msg -e udp.payload 2>/dev/null |
		$PY "$NB_TMP/count.py") || nb_fail "$(basename "$p"): $n"
	total=$((total + n))
	bad=$(ts -r "$p" -Y "_ws.malformed || _ws.expert.severity >= 6291456 && (natbed || stun)" 2>/dev/null)
	[ -z "$bad" ] || nb_fail "$(basename "$p"): malformed or expert warnings: $bad"
	ts -r "$p" -q -z "expert,warn,natbed || stun" >"$NB_TMP/expert" 2>&1
	grep -qE "^(Errors|Warns) \(" "$NB_TMP/expert" &&
		nb_fail "$(basename "$p"): tshark -z expert: $(cat "$NB_TMP/expert")"
done
[ "$total" -gt 50 ] || nb_fail "only $total natbed messages in the run's captures"

# the values the agents said they sent
q() { ts -r "$out/$1.pcap" -Y "$2" -T fields "${@:3}" 2>/dev/null; }
for h in alice bob carol; do
	read -r hh hs < <(sed -n "s/.*registered as $h: host \([0-9.:]*\) srflx \([0-9.:]*\).*/\1 \2/p" \
		"$NB_TMP/$h.log" | head -1)
	[ -n "$hs" ] || nb_fail "$h's log names no candidates: $(cat "$NB_TMP/$h.log")"
	got=$(q "$h" "natbed.msg == \"register\" && natbed.name == \"$h\"" -e natbed.host.addr \
		-e natbed.host.port -e natbed.srflx.addr -e natbed.srflx.port | head -1 |
		awk '{print $1 ":" $2, $3 ":" $4}')
	[ "$got" = "$hh $hs" ] || nb_fail "$h's REGISTER carries '$got', its log says '$hh $hs'"
done
while read -r from m st; do
	got=$(q "$from" "natbed.msg == \"connect\" && natbed.name == \"$from-$m\"" -e natbed.method | sort -u)
	[ "$got" = "$m" ] || nb_fail "$from-$m's CONNECT names method '$got', want $m"
	[ "$st" -eq 0 ] || continue
	seqs=$(q "$from" "natbed.msg == \"probe\" && natbed.method == \"$m\" && ip.src == $(
		q "$from" "natbed.msg == \"register\" && natbed.name == \"$from-$m\"" -e natbed.host.addr | head -1)" \
		-e natbed.seq | sort -n | uniq | tr '\n' ' ')
	[ "$seqs" = "$(seq 0 $((K - 1)) | tr '\n' ' ')" ] ||
		nb_fail "$from-$m connected; its probes under method $m carry seq '$seqs'"
	[ "$m" != testbind ] || continue # its checks are plain Binding requests
	local_ep=$(jq -r .local "$NB_TMP/$m.json")
	# the peer told it: in an answer to its check, or in a nominating check
	n=$(q "$from" "(natbed.msg == \"answer\" || natbed.use_candidate) && natbed.mapped.addr == ${local_ep%:*} && natbed.mapped.port == ${local_ep##*:}" \
		-e frame.number | wc -l)
	[ "$n" -ge 1 ] || nb_fail "$from-$m connected as $local_ep; no answer or nomination in $from.pcap names it"
done <"$NB_TMP/connects"
q alice 'natbed.msg == "connect-error"' -e natbed.error.code | grep -qx 400 ||
	nb_fail "the connect to nobody got no CONNECT error 400 in alice.pcap"

# --- 3. setup.sh --wireshark ----------------------------------------------
home=$NB_TMP/user
mkdir -p "$home"
env -u SUDO_USER HOME="$home" bash "$NATBED_SRC/scripts/setup.sh" --wireshark >"$NB_TMP/setup.log" 2>&1 ||
	nb_fail "setup.sh --wireshark: $(cat "$NB_TMP/setup.log")"
cmp -s "$LUA" "$home/.local/lib/wireshark/plugins/natbed.lua" ||
	nb_fail "setup.sh --wireshark did not install natbed.lua into $home/.local/lib/wireshark/plugins"
HOME=$home tshark -G protocols 2>/dev/null | grep -q "	natbed$" ||
	nb_fail "tshark does not load the installed dissector"
nb_pass "dissector: every message's fields, $total messages of a run with every method, no fault; installed by setup.sh"
