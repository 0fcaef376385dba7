#!/usr/bin/env bash
# natbed matrix judges from the captures, not from what a program says, and
# leaves nothing behind:
#  - bad usage (no COMMAND, an unknown preset, a bad --expect file) exits 2
#    before anything is built;
#  - a program that says it connected, exits 0 and sends nothing
#    (tests/tools/byo_silent.sh) gets none in every cell, its exit statuses
#    recorded as [0, 0], and against an --expect file of the theory exit 3
#    naming each cell that differs;
#  - a program that never ends (tests/tools/byo_sleeper.sh) is stopped at
#    --timeout with everything it started (exit statuses 143: SIGTERM);
#  - Ctrl-C, once or twice, while pairs run: exit 130, no namespace, no
#    state, no process of the program left, results.json readable.
. "$(dirname "$0")/../lib.sh"
nb_need jq turnserver
py=/usr/bin/python3
"$py" -c 'import jsonschema' 2>/dev/null || nb_skip "python3-jsonschema not installed"
silent=$NATBED_SRC/tests/tools/byo_silent.sh
sleeper=$NATBED_SRC/tests/tools/byo_sleeper.sh
expect=$NATBED_SRC/tests/interop/ice_noturn.grid

nothing_left() {
	local left
	left=$(ip netns list | awk '{print $1}' | grep "^$NB_PREFIX" || true)
	[ -z "$left" ] || nb_fail "$1: namespaces left: $left"
	[ ! -e "/run/natbed/$NB_PREFIX" ] || nb_fail "$1: /run/natbed/$NB_PREFIX left"
	left=$(pgrep -af "natbed-(emu|stund).*$NB_TMP|$NB_TMP.*natbed-emu" || true)
	[ -z "$left" ] || nb_fail "$1: processes left: $left"
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

# --- bad usage: said, nothing built ------------------------------------------
usage() { # WANT-IN-STDERR ARGS...
	local want=$1 rc=0
	shift
	natbed matrix --prefix "$NB_PREFIX" --out "$NB_TMP/usage" "$@" >/dev/null 2>"$NB_TMP/usage.err" || rc=$?
	[ "$rc" = 2 ] || nb_fail "natbed matrix $*: exit $rc, not 2"
	grep -q -- "$want" "$NB_TMP/usage.err" || nb_fail "natbed matrix $*: said $(cat "$NB_TMP/usage.err")"
	nothing_left "natbed matrix $*"
}
usage "a COMMAND to run is required" --nats full-cone
usage "'cone' is no NAT preset" --nats cone -- true
printf 'full-cone public\nfull-cone maybe direct\n' >"$NB_TMP/bad.grid"
usage "bad.grid:2: 'maybe' under full-cone" --expect "$NB_TMP/bad.grid" -- true
usage "--timeout '0s'" --timeout 0s -- true
nb_pass "bad usage: exit 2, nothing built"

# --- a program that claims success and sends nothing --------------------------
out=$NB_TMP/silent
rc=0
natbed matrix --prefix "$NB_PREFIX" --out "$out" --nats full-cone,symmetric --timeout 5s \
	--expect "$expect" -- "$silent" >"$NB_TMP/silent.stdout" 2>"$NB_TMP/silent.stderr" || rc=$?
[ "$rc" = 3 ] || nb_fail "silent: exit $rc, not 3 (cells differ): $(tail -5 "$NB_TMP/silent.stderr")"
nothing_left "silent"
r=$out/results.json
validate "$r"
[ "$(jq '.matrix | length' "$r")" = 4 ] || nb_fail "silent: $(jq '.matrix | length' "$r") pairs, not 4"
jq -e 'all(.matrix[]; .path == "none" and .exit == [0, 0] and .successes == 0)' "$r" >/dev/null ||
	nb_fail "silent: a cell is not none with exit [0, 0]: $(jq -c '[.matrix[] | [.pair, .path, .exit]]' "$r")"
jq -e 'all(.attempts[]; .success == false and (.reason | test("no UDP both ways")))' "$r" >/dev/null ||
	nb_fail "silent: an attempt does not say why: $(jq -c '[.attempts[].reason]' "$r")"
grep -q "connected to" "$out/fc-sym-fc.log" || nb_fail "silent: the program's output is not in fc-sym-fc.log"
for cell in "full-cone x symmetric (fc-sym): expected direct, got none" \
	"full-cone x public (fc-pub): expected direct, got none" \
	"symmetric x public (sym-pub): expected direct, got none" \
	"lan x lan (lan1-lan2): expected direct, got none"; do
	grep -qF "$cell" "$NB_TMP/silent.stderr" || nb_fail "silent: '$cell' not said: $(cat "$NB_TMP/silent.stderr")"
done
grep -q -- "--expect .*: 4 of 4 cells compared, 4 differ" "$NB_TMP/silent.stderr" ||
	nb_fail "silent: $(grep -- --expect "$NB_TMP/silent.stderr")"
[ "$(grep -c none "$NB_TMP/silent.stdout")" = 4 ] && ! grep -q "direct\|relayed" "$NB_TMP/silent.stdout" ||
	nb_fail "silent: the grid: $(cat "$NB_TMP/silent.stdout")"
nb_pass "a program that sends nothing: none everywhere, exit 3 naming the 4 cells"

# --- the timeout --------------------------------------------------------------
out=$NB_TMP/timeout
start=$(nb_now_ms)
natbed matrix --prefix "$NB_PREFIX" --out "$out" --nats full-cone --timeout 1s --no-turn \
	-- "$sleeper" >/dev/null 2>"$NB_TMP/timeout.stderr" || nb_fail "timeout: exit $?: $(cat "$NB_TMP/timeout.stderr")"
nothing_left "timeout"
jq -e '.matrix | length == 2 and all(.[]; .exit == [143, 143] and .path == "none")' "$out/results.json" \
	>/dev/null || nb_fail "timeout: $(jq -c '[.matrix[] | [.pair, .path, .exit]]' "$out/results.json")"
pids=$(cat "$out"/signal/*/*.pids 2>/dev/null)
[ "$(wc -w <<<"$pids")" = 8 ] || nb_fail "timeout: the program's pids: $pids"
# shellcheck disable=SC2086
nb_gone $pids || nb_fail "timeout: a process of the program outlived its pair"
nb_pass "the timeout: both sides stopped with what they started (143), $(($(nb_now_ms) - start)) ms"

# --- Ctrl-C, once and twice ---------------------------------------------------
for n in 1 2; do
	out=$NB_TMP/int$n
	natbed matrix --prefix "$NB_PREFIX" --out "$out" --nats full-cone,symmetric --timeout 60s \
		-- "$sleeper" >/dev/null 2>"$NB_TMP/int$n.stderr" &
	run=$!
	running() {
		kill -0 "$run" 2>/dev/null || nb_fail "Ctrl-C $n: natbed matrix ended early: $(cat "$NB_TMP/int$n.stderr")"
		[ "$(cat "$out"/signal/*/*.pids 2>/dev/null | wc -l)" -ge 4 ]
	}
	nb_wait_for 60 "two pairs running" running
	pids=$(cat "$out"/signal/*/*.pids)
	for _ in $(seq "$n"); do kill -INT "$run"; done
	rc=0
	wait "$run" || rc=$?
	[ "$rc" = 130 ] || nb_fail "Ctrl-C $n: exit $rc, not 130: $(cat "$NB_TMP/int$n.stderr")"
	nothing_left "Ctrl-C $n"
	# shellcheck disable=SC2086
	nb_gone $pids || nb_fail "Ctrl-C $n: the program's processes outlived natbed matrix"
	validate "$out/results.json"
	nb_pass "Ctrl-C x$n: exit 130, nothing left"
done
