#!/usr/bin/env bash
# natbed run end to end with a zero-trust gate (docs/gate.md), on a topology
# of the test's own: a gated site (NAT home, its gate at the gateway; alice
# starts at low and carol at high, their own levels, erin at the block's
# untrusted) and an ungated one (office: bob, dave). Every host connects
# to the other site, in both directions, through natbed run. The gate's
# time-scale shrinks the seed's delays tenfold (untrusted 200-500 ms ...
# verified 5-10 ms). Checked:
#  - results.json validates against docs/results.schema.json;
#  - every attempt from the gated site met the gate, none from the other;
#    ungated attempts have no gate, trust or auth_ms;
#  - each attempt the gate decided has auth_ms within its trust level's
#    scaled range (at least the low end: the gate's delay alone; at most
#    the high end plus the round trip, with room for a loaded machine),
#    and each gate_auth event's delay within it exactly;
#  - more than one trust level appears, and results.json's gate summary
#    counts what the attempts say;
#  - every attempt connected unless the gate stopped it;
#  - report.html has the gate section with a row per trust level, and
#    natbed run's summary a line per level;
#  - nothing of the run is left.
. "$(dirname "$0")/../lib.sh"
nb_need jq python3
py=/usr/bin/python3
"$py" -c 'import jsonschema' 2>/dev/null || nb_skip "python3-jsonschema not installed"
schema="$NATBED_SRC/docs/results.schema.json"
SCALE=0.1
SLACK_MS=250 # above a level's delay: the round trip to the gate, retransmits, load

# --nat: the agents register their NAT's class without measuring it, which
# takes a connect some seconds behind a filtering NAT (docs/agents.md)
AGENT="natbed-agent serve --rendezvous 198.51.100.20 --stun 198.51.100.10 --nat port-restricted"
GATED="--gate 192.168.1.1 --gate-key home-key"
cat >"$NB_TMP/gated.yaml" <<EOF
name: rungated
seed: 11
defaults:
  link: { delay: 1ms }
nats:
  home:
    preset: port-restricted
    public: 203.0.113.10
    inside: 192.168.1.0/24
    gate:
      key: home-key
      trust: untrusted
      hosts:
        alice: { trust: low }
        carol: { trust: high }
      time-scale: $SCALE
  office: { preset: port-restricted, public: 203.0.113.20, inside: 10.1.0.0/16 }
hosts:
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  rdv:
    address: 198.51.100.20
    run: natbed-rendezvous --listen 198.51.100.20
  alice: { nat: home, run: $AGENT --name alice $GATED }
  carol: { nat: home, run: $AGENT --name carol $GATED }
  erin: { nat: home, run: $AGENT --name erin $GATED }
  bob: { nat: office, run: $AGENT --name bob }
  dave: { nat: office, run: $AGENT --name dave }
scenario:
  connect:
    - [alice, bob]
    - [carol, dave]
    - [erin, bob]
    - [alice, dave]
    - [carol, bob]
    - [erin, dave]
    - [bob, alice]
    - [dave, carol]
    - [bob, erin]
EOF

out=$NB_TMP/out
rc=0
natbed run --prefix "$NB_PREFIX" --out "$out" "$NB_TMP/gated.yaml" >"$NB_TMP/run.stdout" \
	2>"$NB_TMP/run.stderr" || rc=$?
# 3: some connect did not connect (the gate may deny one); checked below
[ "$rc" = 0 ] || [ "$rc" = 3 ] || nb_fail "natbed run exited $rc: $(tail -20 "$NB_TMP/run.stderr")"
left=$(ip netns list | awk '{print $1}' | grep "^$NB_PREFIX" || true)
[ -z "$left" ] || nb_fail "namespaces left after the run: $left"
left=$(pgrep -af "natbed-(emu|agent|rendezvous|stund).*$NB_TMP|$NB_TMP.*natbed-emu" || true)
[ -z "$left" ] || nb_fail "processes left after the run: $left"
[ -s "$out/results.json" ] || nb_fail "no results.json"

# the attempts, the gate's events and the schema, in one pass
bad=0
"$py" - "$schema" "$out/results.json" "$out/events.jsonl" "$SCALE" "$SLACK_MS" \
	>"$NB_TMP/check.out" <<'PY' || bad=1
import json, sys, jsonschema
schema, doc = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
events = [json.loads(l) for l in open(sys.argv[3]) if '"gate_auth"' in l]
scale, slack = float(sys.argv[4]), float(sys.argv[5])
# docs/gate.md, Decisions: the seed's delays in ms, times the time-scale
seed_ms = {"untrusted": (2000, 5000), "low": (1000, 2000), "medium": (500, 1000),
           "high": (100, 500), "verified": (50, 100)}
rng = {k: (lo * scale, hi * scale) for k, (lo, hi) in seed_ms.items()}
errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
          for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
att = doc["attempts"]
gated_hosts = {"alice", "carol", "erin"}
if len(att) != 9:
    errors.append(f"{len(att)} attempts, not the scenario's 9")
for a in att:
    who = "%s>%s" % tuple(a["pair"])
    if a["pair"][0] in gated_hosts:
        if a["gate"] is None:
            errors.append(f"{who}: from the gated site, no gate")
        elif a["trust"] is not None:
            lo, hi = rng[a["trust"]]
            if a["auth_ms"] is None or not lo <= a["auth_ms"] <= hi + slack:
                errors.append(f"{who}: auth_ms {a['auth_ms']} outside {a['trust']}'s "
                              f"{lo:g}-{hi:g} ms (+{slack:g})")
        if a["success"] and not (a["auth_ms"] is not None and a["setup_ms"] >= a["auth_ms"]):
            errors.append(f"{who}: setup_ms {a['setup_ms']} does not include auth_ms")
    elif (a["gate"], a["trust"], a["auth_ms"]) != (None, None, None):
        errors.append(f"{who}: ungated, yet gate {a['gate']}, trust {a['trust']}, "
                      f"auth_ms {a['auth_ms']}")
    if not a["success"] and a["gate"] in (None, "granted"):
        errors.append(f"{who}: failed past the gate: {a['reason']}")
levels = {a["trust"] for a in att if a["trust"]}
if len(levels) < 2:
    errors.append(f"one trust level only: {levels}")
for e in events:
    lo, hi = rng[e["trust"]]
    if not lo - 0.001 <= e["delay_ms"] <= hi + 0.001:
        errors.append(f"gate_auth of {e['host']}: delay {e['delay_ms']} ms outside "
                      f"{e['trust']}'s {lo:g}-{hi:g} ms")
decided = [a for a in att if a["trust"]]
if len(events) < len(decided):
    errors.append(f"{len(events)} gate_auth events for {len(decided)} decided attempts")
g = doc["gate"]
gated = [a for a in att if a["gate"]]
if g["attempts"] != len(gated) or g["failed"] != sum(a["gate"] != "granted" for a in gated):
    errors.append(f"gate summary {g['attempts']}/{g['failed']} does not count the attempts")
if sorted(l["trust"] for l in g["levels"] if l["trust"]) != sorted(levels):
    errors.append(f"gate.levels {[l['trust'] for l in g['levels']]} are not {levels}")
for e in errors[:20]:
    print(e)
print("levels:", " ".join(sorted(levels)))
sys.exit(1 if errors else 0)
PY
[ "$bad" = 0 ] || nb_fail "results.json: $(cat "$NB_TMP/check.out")
$(jq -c '.attempts[] | [.pair, .success, .gate, .trust, .auth_ms, .reason]' "$out/results.json")"
levels=$(sed -n 's/^levels: //p' "$NB_TMP/check.out")
nb_pass "results.json validates; gated attempts' auth times within their levels' ranges ($levels), ungated without; $(jq -r '.gate | "\(.failed) of \(.attempts)"' "$out/results.json") failed at the gate"

# the report: the gate's section, an auth-time row and a table row per
# level; the summary: a line per level
grep -q '<section id="gate">' "$out/report.html" || nb_fail "report.html has no gate section"
for l in $levels; do
	grep -q "<g class=\"dist\" data-trust=\"$l\">" "$out/report.html" ||
		nb_fail "report.html: no auth-time distribution for $l"
	grep -q "<tr data-trust=\"$l\">" "$out/report.html" || nb_fail "report.html: no table row for $l"
	grep -q "^gate: $l " "$NB_TMP/run.stderr" || nb_fail "natbed run printed no line for $l: $(grep '^gate' "$NB_TMP/run.stderr")"
done
nb_pass "report.html shows the gate per trust level; natbed run's summary too"
