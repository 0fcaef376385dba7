#!/usr/bin/env bash
# natbed matrix with a traversal program natbed did not write: the ICE peer
# of tests/interop/ice_peer.py, on Debian's python3-aioice. Across every
# NAT preset with coturn, its grid is the RFC 4787 theory
# (tests/interop/ice_turn.grid: port-restricted against symmetric relayed,
# ...); without TURN, on the presets that give every outcome, the theory's
# none where the relay was (ice_noturn.grid). The grid printed is the
# expect file's; results.json validates and carries nat, path and exit
# for every pair, the peer's own exit status agreeing with the judge (0
# where the captures show a path, 1 where they show none); natbed check
# passes; nothing is left up.
. "$(dirname "$0")/../lib.sh"
nb_need jq turnserver
py=/usr/bin/python3
"$py" -c 'import aioice' 2>/dev/null || nb_skip "python3-aioice not installed (scripts/setup.sh installs it)"
"$py" -c 'import jsonschema' 2>/dev/null || nb_skip "python3-jsonschema not installed"
peer=$NATBED_SRC/tests/interop/ice_peer.py

nothing_left() {
	local left
	left=$(ip netns list | awk '{print $1}' | grep "^$NB_PREFIX" || true)
	[ -z "$left" ] || nb_fail "$1: namespaces left: $left"
	[ ! -e "/run/natbed/$NB_PREFIX" ] || nb_fail "$1: /run/natbed/$NB_PREFIX left"
}

validate() { # RESULTS.json
	"$py" - "$NATBED_SRC/docs/results.schema.json" "$1" <<'PY' || nb_fail "$1 does not validate"
import json, sys, jsonschema
errors = list(jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).iter_errors(json.load(open(sys.argv[2]))))
for e in errors[:10]:
    print("/".join(map(str, e.absolute_path)), e.message, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
}

run() { # NAME EXPECT ARGS...: natbed matrix into $NB_TMP/NAME, checked against EXPECT
	local name=$1 expect=$NATBED_SRC/tests/interop/$2 out=$NB_TMP/$1 rc=0 r
	shift 2
	natbed matrix --prefix "$NB_PREFIX" --out "$out" --expect "$expect" "$@" -- "$peer" \
		>"$NB_TMP/$name.stdout" 2>"$NB_TMP/$name.stderr" || rc=$?
	r=$out/results.json
	[ "$rc" = 0 ] || nb_fail "$name: exit $rc: $(grep -v '^natbed matrix: \[' "$NB_TMP/$name.stderr" | tail -20)"
	nothing_left "$name"
	validate "$r"
	jq -e '.check.passed' "$r" >/dev/null || nb_fail "$name: natbed check: $(jq -c .check "$r")"
	jq -e 'all(.matrix[]; (.nat | length) == 2 and (.path | IN("direct", "relayed", "none"))
		and (.exit | length) == 2)' "$r" >/dev/null || nb_fail "$name: a matrix entry without nat, path or exit"
	# the peer says it connected exactly where the captures show a path
	jq -e 'all(.matrix[]; if .path == "none" then .exit == [1, 1] else .exit == [0, 0] end)' \
		"$r" >/dev/null || nb_fail "$name: the peer's exit statuses disagree with the judge: $(jq -c \
		'[.matrix[] | [.pair, .path, .exit]]' "$r")"
	for p in $(jq -r '.matrix[] | .pair | join("-")' "$r"); do
		[ -s "$out/signal/$p/offer.json" ] && [ -s "$out/signal/$p/answer.json" ] ||
			nb_fail "$name: $p: no signalling files"
		ls "$out/$p"-*.log >/dev/null 2>&1 || nb_fail "$name: $p: no logs"
	done
}

# --- every preset, with TURN --------------------------------------------------
start=$(nb_now_ms)
run turn ice_turn.grid --timeout 12s
r=$NB_TMP/turn/results.json
n=$(jq '.matrix | length' "$r")
grep -q "natbed matrix: --expect .*: $n of $n cells compared, 0 differ" "$NB_TMP/turn.stderr" ||
	nb_fail "turn: not every cell compared: $(grep -- --expect "$NB_TMP/turn.stderr")"
diff <(grep -v '^#' "$NATBED_SRC/tests/interop/ice_turn.grid") "$NB_TMP/turn.stdout" ||
	nb_fail "turn: the grid printed is not the theory's"
want=$(grep -c '^  n-' "$NB_TMP/turn/topology.yaml")
[ "$want" = 8 ] || nb_fail "turn: $want NATs in topology.yaml, not the 7 presets and the LAN's"
jq -e '[.matrix[] | select(.path == "relayed")] | length > 0' "$r" >/dev/null ||
	nb_fail "turn: no pair relayed"
nb_pass "every preset with TURN: the theory's grid, $n pairs, $(($(nb_now_ms) - start)) ms"

# --- no TURN, the presets that give every outcome -----------------------------
start=$(nb_now_ms)
run noturn ice_noturn.grid --no-turn --timeout 8s --nats symmetric,full-cone,port-restricted
r=$NB_TMP/noturn/results.json
grep -q "natbed matrix: --expect .*: 7 of 7 cells compared, 0 differ" "$NB_TMP/noturn.stderr" ||
	nb_fail "noturn: $(grep -- --expect "$NB_TMP/noturn.stderr")"
[ "$(jq -r '.matrix[] | select(.pair == ["pr", "sym"]) | .path' "$r")" = none ] ||
	nb_fail "noturn: port-restricted against symmetric is not none"
[ ! -e "$NB_TMP/noturn/turn.pcap" ] || nb_fail "noturn: a TURN host was brought up"
! grep -q "typ relay" "$NB_TMP/noturn"/*-*.log || nb_fail "noturn: the peer had a relayed candidate"
nb_pass "no TURN: the theory's grid on 3 presets, $(($(nb_now_ms) - start)) ms"
