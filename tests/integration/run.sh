#!/usr/bin/env bash
# natbed run end to end, on topologies of the test's own:
#  - pairs: both directions connect through the cascade, exit 0, the matrix
#    is printed, results.json validates against docs/results.schema.json
#    and names every pair, report.html is written, and nothing is left up
#    (no namespace, no process of the run);
#  - arrivals (topologies/arrivals.yaml, shortened with --duration): two
#    runs with one seed give the same attempt list (pairs, NATs, times,
#    outcomes), another seed another; every client connects to the public
#    server, with direct;
#  - Ctrl-C in the middle (once, or twice to kill the connects): exit 130,
#    no namespace or process left, and the
#    partial results.json and the pcaps are readable.
. "$(dirname "$0")/../lib.sh"
nb_need jq tshark python3
py=/usr/bin/python3
"$py" -c 'import jsonschema' 2>/dev/null || nb_skip "python3-jsonschema not installed"
schema="$NATBED_SRC/docs/results.schema.json"

# the run's own processes carry the prefix in their namespace; after the
# run none may be left: no namespace of ours, no agent or emulator naming
# our output directory
nothing_left() { # WHAT
	local left
	left=$(ip netns list | awk '{print $1}' | grep "^$NB_PREFIX" || true)
	[ -z "$left" ] || nb_fail "$1: namespaces left: $left"
	left=$(pgrep -af "natbed-(emu|agent|rendezvous|stund).*$NB_TMP|$NB_TMP.*natbed-emu" || true)
	[ -z "$left" ] || nb_fail "$1: processes left: $left"
	[ ! -e "/run/natbed/$NB_PREFIX" ] || nb_fail "$1: /run/natbed/$NB_PREFIX left"
}

validate() { # FILE
	"$py" - "$schema" "$1" <<'PY' || nb_fail "$1 does not validate"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
          for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
for e in errors[:10]:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
}

AGENT="natbed-agent serve --rendezvous 198.51.100.20 --stun 198.51.100.10"
cat >"$NB_TMP/pairs.yaml" <<EOF
name: runpairs
seed: 5
nats:
  a: { preset: full-cone, public: 203.0.113.1, inside: 192.168.1.0/24 }
  b: { preset: port-restricted, public: 203.0.113.2, inside: 192.168.2.0/24 }
hosts:
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  rdv:
    address: 198.51.100.20
    run: natbed-rendezvous --listen 198.51.100.20
  alice: { nat: a, run: $AGENT --name alice --bind 0.0.0.0:40000 }
  bob: { nat: b, run: $AGENT --name bob --bind 0.0.0.0:40000 }
scenario:
  connect:
    - [alice, bob]
    - [bob, alice]
EOF

# --- pairs -------------------------------------------------------------------
out=$NB_TMP/pairs
rc=0
natbed run --prefix "$NB_PREFIX" --out "$out" "$NB_TMP/pairs.yaml" >"$NB_TMP/pairs.stdout" \
	2>"$NB_TMP/pairs.stderr" || rc=$?
[ "$rc" = 0 ] || nb_fail "natbed run exited $rc: $(cat "$NB_TMP/pairs.stderr")
$(jq -c '.attempts[] | [.pair, .success, .reason]' "$out/results.json" 2>/dev/null)"
nothing_left "after the pairs run"
validate "$out/results.json"
jq -e '[.attempts[] | select(.success)] | length == 2' "$out/results.json" >/dev/null ||
	nb_fail "not both directions connected: $(jq -c '.attempts' "$out/results.json")"
jq -e '.attempts | map(.pair | join(">")) | sort == ["alice>bob", "bob>alice"]' \
	"$out/results.json" >/dev/null || nb_fail "the attempts are not the scenario's pairs"
jq -e '.attempts | map(.nat) | sort == [["full-cone", "port-restricted"], ["port-restricted", "full-cone"]]' \
	"$out/results.json" >/dev/null || nb_fail "the NAT behaviours are not the topology's"
jq -e '.check.passed' "$out/results.json" >/dev/null ||
	nb_fail "natbed check failed the run: $(jq -c .check "$out/results.json")"
jq -e '.seed == 5 and .topology == "runpairs"' "$out/results.json" >/dev/null ||
	nb_fail "seed or topology name wrong in results.json"
grep -q "alice" "$NB_TMP/pairs.stdout" && grep -q "bob" "$NB_TMP/pairs.stdout" ||
	nb_fail "no matrix printed: $(cat "$NB_TMP/pairs.stdout")"
grep -q $'\033' "$NB_TMP/pairs.stdout" && nb_fail "colour codes in piped output"
[ -s "$out/report.html" ] && grep -q "alice" "$out/report.html" || nb_fail "no report.html"
[ "$(wc -l <"$out/results.csv")" = 3 ] || nb_fail "results.csv is not a header and 2 rows"
for f in alice.pcap bob.pcap a-wan.pcap b-wan.pcap events.jsonl; do
	[ -s "$out/$f" ] || nb_fail "$f missing from the output"
done
nb_pass "pairs: both connected, results valid, nothing left"

# --- arrivals: reproducible --------------------------------------------------
arrivals() { # NAME SEED
	local rc=0
	natbed run --prefix "$NB_PREFIX" --out "$NB_TMP/$1" --seed "$2" --duration 6s \
		--capture none "$NATBED_SRC/topologies/arrivals.yaml" >/dev/null \
		2>"$NB_TMP/$1.stderr" || rc=$?
	[ "$rc" = 0 ] || [ "$rc" = 3 ] || nb_fail "arrivals $1 exited $rc: $(cat "$NB_TMP/$1.stderr")"
	nothing_left "after arrivals $1"
	validate "$NB_TMP/$1/results.json"
	jq -c '[.attempts[] | [.pair, .nat, .t_s, .method, .success]]' "$NB_TMP/$1/results.json"
}
one=$(arrivals one 21)
two=$(arrivals two 21)
three=$(arrivals three 22)
[ "$(jq length <<<"$one")" -ge 3 ] || nb_fail "arrivals: too few attempts: $one"
jq -e 'all(.[]; .[4])' <<<"$one" >/dev/null || nb_fail "arrivals: an attempt failed: $one"
# the server is public: direct reaches it from every site, however many
# clients its one serve answers at once
jq -e 'all(.[]; .[3] == "direct")' <<<"$one" >/dev/null || nb_fail "arrivals: not all direct: $one"
[ "$one" = "$two" ] || nb_fail "one seed, two attempt lists:
$one
$two"
[ "$one" != "$three" ] || nb_fail "another seed gave the same attempt list"
nb_pass "arrivals: $(jq length <<<"$one") attempts, the same list with the same seed"

# --- Ctrl-C ------------------------------------------------------------------
out=$NB_TMP/stopped
natbed run --prefix "$NB_PREFIX" --out "$out" --seed 3 --duration 120s \
	"$NATBED_SRC/topologies/arrivals.yaml" >/dev/null 2>"$NB_TMP/stopped.stderr" &
run=$!
have_attempts() { [ -s "$out/results.json" ] && jq -e '.attempts | length >= 1' "$out/results.json" >/dev/null 2>&1; }
nb_wait_for 90 "the run's first results" have_attempts
kill -INT "$run"
rc=0
wait "$run" || rc=$?
[ "$rc" = 130 ] || nb_fail "Ctrl-C: exit $rc, not 130: $(cat "$NB_TMP/stopped.stderr")"
nothing_left "after Ctrl-C"
validate "$out/results.json"
tshark -r "$out/server.pcap" -c 1 >/dev/null 2>&1 || nb_fail "server.pcap unreadable after Ctrl-C"
tshark -r "$out/carrier-wan.pcap" >/dev/null 2>&1 || nb_fail "carrier-wan.pcap unreadable"
nb_pass "Ctrl-C: exit 130, nothing left, $(jq '.attempts | length' "$out/results.json") attempts readable"

# --- Ctrl-C twice: the connects are killed, the rest as above ---------------
out=$NB_TMP/killed
natbed run --prefix "$NB_PREFIX" --out "$out" --seed 4 --duration 120s --capture none \
	"$NATBED_SRC/topologies/arrivals.yaml" >/dev/null 2>"$NB_TMP/killed.stderr" &
run=$!
# this build's connects (other checkouts may run tests at the same time)
mine="$NATBED_BUILD/cli/../agents/natbed-agent connect --name site-"
connecting() { pgrep -f "$mine" >/dev/null; }
connecting_or_done() { # a run that ended already fails here, saying why
	kill -0 "$run" 2>/dev/null || nb_fail "natbed run ended early: $(cat "$NB_TMP/killed.stderr")"
	connecting || { [ -s "$out/results.json" ] &&
		jq -e '.attempts | length >= 1' "$out/results.json" >/dev/null 2>&1; }
}
nb_wait_for 120 "a connect under way" connecting_or_done
kill -INT "$run"
kill -INT "$run"
rc=0
wait "$run" || rc=$?
[ "$rc" = 130 ] || nb_fail "Ctrl-C twice: exit $rc, not 130: $(cat "$NB_TMP/killed.stderr")"
nothing_left "after Ctrl-C twice"
left=$(pgrep -af "$mine" || true)
[ -z "$left" ] || nb_fail "a connect outlived the run: $left"
validate "$out/results.json"
nb_pass "Ctrl-C twice: exit 130, nothing left"
