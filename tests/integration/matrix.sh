#!/usr/bin/env bash
# The built-in NAT matrix, as `natbed run` with no topology runs it (and
# scripts/run.sh): every pair of the scenario connects (exit 0), the results
# validate against docs/results.schema.json, and the winners follow RFC 4787
# where the theory leaves one answer (docs/methods.md): two hosts on one LAN
# and every public peer connect direct, two cone NATs never need the relay,
# no pair takes the relay unless docs/methods.md's table says every other
# method fails for it, the NAT that grants mappings connects by portmap, two
# random symmetric NATs only through the relay. natbed check passes on its captures, and
# tshark with natbed's dissector (scripts/wireshark/natbed.lua) decodes
# every natbed message in them with no malformed packet and no expert
# warning. Nothing is left up afterwards. The wall time
# is printed (the 2-minute target is a figure in bench/README.md, not an
# assertion).
. "$(dirname "$0")/../lib.sh"
nb_need jq turnserver python3 tshark
/usr/bin/python3 -c 'import jsonschema' 2>/dev/null || nb_skip "python3-jsonschema not installed"
out=$NB_TMP/matrix
rc=0
start=$(nb_now_ms)
natbed run --prefix "$NB_PREFIX" --out "$out" >"$NB_TMP/stdout" 2>"$NB_TMP/stderr" || rc=$?
wall=$(($(nb_now_ms) - start))
r=$out/results.json
[ -s "$r" ] || nb_fail "no results.json (exit $rc): $(cat "$NB_TMP/stderr")"
failed=$(jq -c '[.attempts[] | select(.success | not) | [.pair, .nat, .reason]]' "$r")
[ "$rc" = 0 ] || nb_fail "natbed run exited $rc; failed: $failed; $(tail -5 "$NB_TMP/stderr")"
left=$(ip netns list | awk '{print $1}' | grep "^$NB_PREFIX" || true)
[ -z "$left" ] || nb_fail "namespaces left: $left"

/usr/bin/python3 - "$NATBED_SRC/docs/results.schema.json" "$r" <<'PY' || nb_fail "results.json does not validate"
import json, sys, jsonschema
errors = list(jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).iter_errors(json.load(open(sys.argv[2]))))
for e in errors[:10]:
    print("/".join(map(str, e.absolute_path)), e.message, file=sys.stderr)
sys.exit(1 if errors else 0)
PY

# every pair of the scenario, once, connected
want=$(sed -n 's/^    - \[\(.*\), \(.*\)\]$/\1>\2/p' "$out/matrix.yaml" | sort)
got=$(jq -r '.attempts[] | .pair | join(">")' "$r" | sort)
[ -n "$want" ] && [ "$want" = "$got" ] || nb_fail "the attempts are not the scenario's pairs:
want: $want
got:  $got"
jq -e 'all(.attempts[]; .success)' "$r" >/dev/null || nb_fail "failed: $failed"

winner() { jq -r --arg a "$1" --arg b "$2" '.attempts[] | select(.pair == [$a, $b]) | .method' "$r"; }
[ "$(winner h-lan1 h-lan2)" = direct ] || nb_fail "same LAN: $(winner h-lan1 h-lan2), not direct"
[ "$(winner h-pub1 h-pub2)" = direct ] || nb_fail "two public agents: not direct"
jq -e '[.attempts[] | select(.nat[1] == "public") | .method] | length == 8 and all(. == "direct")' \
	"$r" >/dev/null || nb_fail "a peer behind a NAT to a public one is not direct: $(jq -c \
	'[.attempts[] | select(.nat[1] == "public") | [.pair, .method]]' "$r")"
jq -e '[.attempts[] | select((.nat | all(IN("full-cone", "restricted-cone", "port-restricted", "cgnat")))
	and .path != "direct")] | length == 0' "$r" >/dev/null ||
	nb_fail "two cone NATs took the relay: $(jq -c '[.attempts[] | select(.path != "direct") | .pair]' "$r")"
# relay wins only where nothing else can: the table of docs/methods.md
# (read by tests/tools/methods_table.py; cgnat and linux-masquerade as
# their classes, full-cone and port-restricted) must say that every other
# method fails for each pair that took it
/usr/bin/python3 "$NATBED_SRC/tests/tools/methods_table.py" relay "$NATBED_SRC/docs/methods.md" "$r" \
	>"$NB_TMP/relay" || nb_fail "the relay won where another method connects: $(cat "$NB_TMP/relay")"
[ "$(winner h-pcp h-sym1)" = portmap ] || nb_fail "the PCP NAT: $(winner h-pcp h-sym1), not portmap"
[ "$(winner h-sym1 h-sym2)" = relay ] || nb_fail "two random symmetric NATs: $(winner h-sym1 h-sym2), not relay"
jq -e '.attempts[] | select(.pair == ["h-sym1", "h-sym2"]) | .path == "relay"' "$r" >/dev/null ||
	nb_fail "two random symmetric NATs: the path is not the relay"
jq -e '.check.passed and .check.violations == 0' "$r" >/dev/null ||
	nb_fail "natbed check on the matrix's captures: $(jq -c .check "$r"); $(grep check "$NB_TMP/stderr")"
# the dissector over the whole run (a HOME of its own: an installed copy
# would load twice)
mkdir -p "$NB_TMP/home"
ts() {
	HOME=$NB_TMP/home XDG_CONFIG_HOME=$NB_TMP/home/.config tshark \
		-X lua_script:"$NATBED_SRC/scripts/wireshark/natbed.lua" -o udp.try_heuristic_first:TRUE "$@"
}
decoded=0
for p in "$out"/*.pcap; do
	bad=$(ts -r "$p" -Y "_ws.malformed || _ws.expert.severity >= 6291456 && (natbed || stun)" 2>/dev/null)
	[ -z "$bad" ] || nb_fail "$(basename "$p"): malformed or expert warnings: $(head -5 <<<"$bad")"
	ts -r "$p" -q -z "expert,warn,natbed || stun" >"$NB_TMP/expert" 2>&1
	grep -qE "^(Errors|Warns) \(" "$NB_TMP/expert" &&
		nb_fail "$(basename "$p"): tshark -z expert: $(head -20 "$NB_TMP/expert")"
	decoded=$((decoded + $(ts -r "$p" -Y natbed 2>/dev/null | wc -l)))
done
[ "$decoded" -gt 1000 ] || nb_fail "the dissector decoded only $decoded natbed messages in the run"
grep -q "full-cone" "$NB_TMP/stdout" || nb_fail "no matrix printed: $(cat "$NB_TMP/stdout")"
nb_pass "matrix: $(jq '.attempts | length' "$r") pairs connected in $((wall / 1000)) s, $decoded natbed messages decoded (natbed run's own wall_s $(jq .wall_s "$r"))"
