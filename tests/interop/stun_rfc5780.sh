# natbed-stund's RFC 5780 / RFC 3489 / error behaviour, seen from
# natbed-stunclient in another namespace: CHANGE-REQUEST answered from the
# socket RFC 5780 §6.1 names, RESPONSE-ORIGIN and OTHER-ADDRESS, PADDING
# echoed, RESPONSE-PORT honoured, 420 and 400, classic clients, 420 for
# CHANGE-REQUEST without an alternate, and the counters written on SIGTERM.
. "${NATBED_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/interop/stun_env.sh"
stun_need natbed-stund natbed-stunclient jq
stun_net
P1=$STUN_PORT
P2=$((STUN_PORT + 1))

# q [CLIENT ARGS...] SERVER: one query from cli; output in $out, status in $rc
q() {
	out=$(nb_x cli natbed-stunclient --timeout 2000 "$@" 2>&1)
	rc=$?
}
# has LINE: the last answer contains LINE
has() { echo "$out" | grep -qxF "$1" || nb_fail "want '$1' in answer to '$what': $out"; }

stun_start_natbed --software natbed-test

what=plain; q "$STUN_A1"
[ $rc -eq 0 ] || nb_fail "plain request: rc $rc: $out"
echo "$out" | grep -qE "^xor-mapped-address $STUN_CLI:[0-9]+$" || nb_fail "plain: $out"
has "mapped-address $(echo "$out" | sed -n 's/^xor-mapped-address //p')"
has "response-origin $STUN_A1:$P1"; has "other-address $STUN_A2:$P2"; has "from $STUN_A1:$P1"

# RFC 5780 §6.1: each CHANGE-REQUEST from the socket it names
what=change-ip; q --change-ip "$STUN_A1"; has "from $STUN_A2:$P1"; has "response-origin $STUN_A2:$P1"
what=change-port; q --change-port "$STUN_A1"; has "from $STUN_A1:$P2"
what=change-both; q --change-ip --change-port "$STUN_A1"; has "from $STUN_A2:$P2"
what=change-ip-from-alt; q --change-ip "$STUN_A2:$P2"; has "from $STUN_A1:$P2"
has "other-address $STUN_A1:$P1"
# an empty CHANGE-REQUEST is a plain request
what=empty-change; q --attr 0003:00000000 "$STUN_A1"; [ $rc -eq 0 ] || nb_fail "$what: $out"
has "from $STUN_A1:$P1"
what=padding; q --padding 101 "$STUN_A1"; has "padding 101"
what=response-port; q --response-port 40123 "$STUN_A1"; has "local-port 40123"
what=fingerprint; q --fingerprint --change-port "$STUN_A1"; has "from $STUN_A1:$P2"
# RFC 8489 §6.3.1.1: unknown comprehension-required attribute
what=unknown; q --attr 0031:0102 "$STUN_A1"
[ $rc -eq 3 ] || nb_fail "$what: rc $rc: $out"
has "error 420 Unknown Attribute"; has "unknown-attribute 0x0031"
# a comprehension-optional unknown one is ignored
what=optional; q --attr c031:0102 "$STUN_A1"; [ $rc -eq 0 ] || nb_fail "$what: $out"
# malformed but answerable: 400
what=malformed; q --attr 0003:00 "$STUN_A1"; [ $rc -eq 3 ] || nb_fail "$what: $out"
has "error 400 Bad Request"
what=bad-xor; q --attr 0020:0003 "$STUN_A1"; has "error 400 Bad Request"
# RFC 3489 client: MAPPED-ADDRESS, SOURCE-ADDRESS, CHANGED-ADDRESS
what=classic; q --classic "$STUN_A1"; [ $rc -eq 0 ] || nb_fail "$what: $out"
echo "$out" | grep -qE "^mapped-address $STUN_CLI:[0-9]+$" || nb_fail "$what: $out"
has "source-address $STUN_A1:$P1"; has "changed-address $STUN_A2:$P2"
what=classic-change; q --classic --change-ip --change-port "$STUN_A1"
has "source-address $STUN_A2:$P2"; has "from $STUN_A2:$P2"

kill -0 "$STUN_PID" 2>/dev/null || nb_fail "natbed-stund died"
stun_stop
j="$NB_TMP/stund.json"
[ -s "$j" ] || nb_fail "no --stats file after SIGTERM"
[ "$(jq '.errors."420"' "$j")" -eq 1 ] || nb_fail "420 count: $(cat "$j")"
[ "$(jq '.errors."400"' "$j")" -eq 2 ] || nb_fail "400 count: $(cat "$j")"
[ "$(jq '.requests_classic' "$j")" -eq 2 ] || nb_fail "classic count: $(cat "$j")"
[ "$(jq '.datagrams == .responses.success + .responses.error + .drops.total' "$j")" = true ] ||
	nb_fail "datagrams not all accounted for: $(cat "$j")"

# Without --alternate: CHANGE-REQUEST gets 420 naming it, empty is fine.
nb_bg ip netns exec "${NB_PREFIX}srv" natbed-stund --primary "$STUN_A1" 2>>"$NB_TMP/stund.log"
STUN_PID=${NB_PIDS[-1]}
stun_wait_port $P1
what=no-alt-change; q --change-ip "$STUN_A1"; has "error 420 Unknown Attribute"
has "unknown-attribute 0x0003"
what=no-alt-empty; q --attr 0003:00000000 "$STUN_A1"; [ $rc -eq 0 ] || nb_fail "$what: $out"
echo "$out" | grep -q '^other-address' && nb_fail "OTHER-ADDRESS without an alternate: $out"
stun_stop
nb_pass "RFC 5780, RFC 3489 and error behaviour of natbed-stund"
