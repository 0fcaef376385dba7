#!/usr/bin/env bash
# results.json validates against docs/results.schema.json (python3-jsonschema,
# draft 2020-12), and holds together: counts add up, rates are successes over
# attempts inside their intervals, attempts in time order. The same seed gives
# the same files apart from the wall-clock fields; another seed does not.
# With gates: the gate's counts, failure shares and auth times add up. A
# broken file must fail the same validation, so the check can fail.
. "$(dirname "$0")/../lib.sh"
py=/usr/bin/python3
[ -x "$py" ] && "$py" -c 'import jsonschema' 2>/dev/null ||
	nb_skip "python3-jsonschema not installed (scripts/setup.sh installs it)"
nb_need jq cmp
gen="$NATBED_BUILD/tests/integration/results_gen"
schema="$NATBED_SRC/docs/results.schema.json"
[ -x "$gen" ] || nb_fail "$gen not built"

check() { # FILE: schema and consistency; prints what is wrong
	"$py" - "$schema" "$1" <<'PY'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
doc = json.load(open(sys.argv[2]))
errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
          for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
def summary(where, s):
    if s["successes"] > s["attempts"]:
        errors.append(f"{where}: more successes than attempts")
    if s["attempts"] and abs(s["rate"] - s["successes"] / s["attempts"]) > 1e-6:
        errors.append(f"{where}: rate is not successes / attempts")
    if s["attempts"] and not s["ci95"][0] <= s["rate"] <= s["ci95"][1]:
        errors.append(f"{where}: rate outside its interval")
if not errors:
    att = doc["attempts"]
    summary("overall", doc["overall"])
    for m, s in doc["methods"].items():
        summary(f"methods.{m}", s)
    for p in doc["pairs"]:
        summary(f"pairs {p['nat']}", p)
        for m, s in p["methods"].items():
            summary(f"pairs {p['nat']} {m}", s)
    if doc["overall"]["attempts"] != len(att):
        errors.append("overall.attempts is not the number of attempts")
    if sum(c["attempts"] for c in doc["matrix"]) != len(att):
        errors.append("the matrix does not count every attempt once")
    if sum(p["attempts"] for p in doc["pairs"]) != len(att):
        errors.append("the pairs do not count every attempt once")
    if sum(f["count"] for f in doc["flows"]) != sum(1 for a in att if a["tried"]):
        errors.append("the flows do not count every attempt that tried a method")
    if sum(len(a["tried"]) for a in att) != sum(s["attempts"] for s in doc["methods"].values()):
        errors.append("the methods do not count every try once")
    if [a["t_s"] for a in att] != sorted(a["t_s"] for a in att):
        errors.append("attempts are not in time order")
    if doc["fallbacks"] != sum(1 for a in att if len(a["tried"]) > 1):
        errors.append("fallbacks is not the number of try lists longer than one")
    # the gate: gated attempts, those it stopped, auth times
    def gatesum(where, s, group):
        if s["attempts"] != len(group):
            errors.append(f"{where}: attempts is not the number of gated attempts")
        if s["failed"] != sum(1 for a in group if a["gate"] != "granted"):
            errors.append(f"{where}: failed is not the number the gate stopped")
        if s["attempts"] and abs(s["failed_rate"] - s["failed"] / s["attempts"]) > 1e-6:
            errors.append(f"{where}: failed_rate is not failed / attempts")
        if s["attempts"] and not s["ci95"][0] <= s["failed_rate"] <= s["ci95"][1]:
            errors.append(f"{where}: failed_rate outside its interval")
        ms = sorted(a["auth_ms"] for a in group if a["auth_ms"] is not None)
        if ms and not ms[0] <= s["auth_ms"]["p50"] <= s["auth_ms"]["p95"] <= ms[-1]:
            errors.append(f"{where}: auth_ms p50/p95 not among the auth times")
        if ms and abs(s["auth_ms"]["mean"] - sum(ms) / len(ms)) > 1e-3:
            errors.append(f"{where}: auth_ms mean is not the mean")
        if not ms and s["auth_ms"]["p50"] is not None:
            errors.append(f"{where}: auth_ms without an auth time")
    gated = [a for a in att if a["gate"] is not None]
    gate = doc["gate"]
    gatesum("gate", gate, gated)
    order = ["untrusted", "low", "medium", "high", "verified", None]
    if [l["trust"] for l in gate["levels"]] != [t for t in order if any(a["trust"] == t for a in gated)]:
        errors.append("gate.levels are not the levels of the gated attempts in their order")
    for l in gate["levels"]:
        gatesum(f"gate.levels {l['trust']}", l, [a for a in gated if a["trust"] == l["trust"]])
    if sorted(gate["methods"]) != sorted({a["method"] for a in gated}):
        errors.append("gate.methods are not the methods of the gated attempts")
    for m, s in gate["methods"].items():
        gatesum(f"gate.methods {m}", s, [a for a in gated if a["method"] == m])
    for a in att:
        if a["gate"] is None and a["auth_ms"] is not None:
            errors.append(f"an ungated attempt has auth_ms: {a['pair']}")
for e in errors[:20]:
    print(e)
sys.exit(1 if errors else 0)
PY
}

for run in "a --seed 7 --started 1700000000" "b --seed 7 --started 1800000000" \
	"c --seed 8 --started 1700000000" "x --seed 7 --hostile --reps 3" \
	"g --seed 7 --gate --reps 4"; do
	set -- $run
	mkdir -p "$NB_TMP/$1"
	d=$1
	shift
	"$gen" "$@" "$NB_TMP/$d" >/dev/null || nb_fail "results_gen $*"
	out=$(check "$NB_TMP/$d/results.json") || nb_fail "results.json of '$*' does not hold: $out"
done
jq -e '.gate.attempts > 0 and ([.gate.levels[].trust] | length) >= 3 and .gate.failed > 0' \
	"$NB_TMP/g/results.json" >/dev/null || nb_fail "the gated run has no gate summaries: $(jq -c '.gate | del(.methods)' "$NB_TMP/g/results.json")"
jq -e '.gate.attempts == 0 and .gate.levels == [] and .gate.methods == {}' "$NB_TMP/a/results.json" >/dev/null ||
	nb_fail "an ungated run has gate summaries"
nb_pass "results.json validates against docs/results.schema.json and adds up, gated or not"

# the check can fail: a file with a field missing, and one with a wrong count
jq 'del(.matrix)' "$NB_TMP/a/results.json" >"$NB_TMP/bad1.json"
check "$NB_TMP/bad1.json" >/dev/null && nb_fail "a results.json without matrix validated"
jq '.overall.successes = .overall.attempts + 1' "$NB_TMP/a/results.json" >"$NB_TMP/bad2.json"
check "$NB_TMP/bad2.json" >/dev/null && nb_fail "more successes than attempts passed"
# natbed check's verdict, as natbed run records it, validates; a wrong one does not
jq '.check = {passed: false, violations: 2, summary: "FAIL: 2 violations in 1 of 50 checks: home filtering"}' \
	"$NB_TMP/a/results.json" >"$NB_TMP/checked.json"
out=$(check "$NB_TMP/checked.json") || nb_fail "a results.json with its check verdict does not hold: $out"
jq '.check = {passed: "no", violations: 2, summary: "x"}' "$NB_TMP/a/results.json" >"$NB_TMP/bad3.json"
check "$NB_TMP/bad3.json" >/dev/null && nb_fail "a check verdict whose passed is a string validated"
# a trust level without a gate, a gate outcome natbed does not know, a
# wrong count of gate failures
jq '(.attempts[] | select(.gate == null) | .trust) |= "low"' "$NB_TMP/g/results.json" >"$NB_TMP/bad4.json"
check "$NB_TMP/bad4.json" >/dev/null && nb_fail "a trust level without a gate validated"
jq '(.attempts[] | select(.gate == "denied") | .gate) |= "maybe"' "$NB_TMP/g/results.json" >"$NB_TMP/bad5.json"
check "$NB_TMP/bad5.json" >/dev/null && nb_fail "a gate outcome 'maybe' validated"
jq '.gate.levels[0].failed += 1' "$NB_TMP/g/results.json" >"$NB_TMP/bad6.json"
check "$NB_TMP/bad6.json" >/dev/null && nb_fail "a wrong count of gate failures passed"
nb_pass "a broken results.json fails the check"

# the same seed: identical apart from wall-clock fields; the CSV identical
wall='del(.started, .wall_s, .throughput_per_s)'
cmp -s <(jq -S "$wall" "$NB_TMP/a/results.json") <(jq -S "$wall" "$NB_TMP/b/results.json") ||
	nb_fail "two runs with seed 7 differ beyond started/wall_s"
cmp -s "$NB_TMP/a/results.csv" "$NB_TMP/b/results.csv" || nb_fail "two runs with seed 7: CSVs differ"
[ "$(jq -r .started "$NB_TMP/a/results.json")" != "$(jq -r .started "$NB_TMP/b/results.json")" ] ||
	nb_fail "started does not record the wall clock"
cmp -s <(jq .attempts "$NB_TMP/a/results.json") <(jq .attempts "$NB_TMP/c/results.json") &&
	nb_fail "seeds 7 and 8 gave the same attempts"
nb_pass "one seed gives the same files apart from started; another seed does not"
