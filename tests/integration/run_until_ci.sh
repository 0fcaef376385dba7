#!/usr/bin/env bash
# natbed run --until-ci: the scenario repeats until every success rate's
# 95% Wilson interval is narrower than +-MARGIN, or --max-rounds ran.
# Two pairs that always connect (full-cone and restricted-cone, each way):
# after one round each pair of NAT
# behaviours has one attempt (half-width 0.397), after two rounds two
# (0.329), so --until-ci 0.35 stops after exactly two rounds (4 attempts);
# --until-ci 0.1 would need 17 rounds and stops at --max-rounds 3 (6).
# Both settings land in results.json's options.
. "$(dirname "$0")/../lib.sh"
nb_need jq
AGENT="natbed-agent serve --rendezvous 198.51.100.20 --stun 198.51.100.10 --nat"
cat >"$NB_TMP/ci.yaml" <<EOF2
name: untilci
seed: 9
nats:
  a: { preset: full-cone, public: 203.0.113.1, inside: 192.168.1.0/24 }
  b: { preset: restricted-cone, public: 203.0.113.2, inside: 192.168.2.0/24 }
hosts:
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  rdv:
    address: 198.51.100.20
    run: natbed-rendezvous --listen 198.51.100.20
  alice: { nat: a, run: $AGENT full-cone --name alice --bind 0.0.0.0:40000 }
  bob: { nat: b, run: $AGENT restricted-cone --name bob --bind 0.0.0.0:40000 }
scenario:
  method: punch
  connect:
    - [alice, bob]
    - [bob, alice]
EOF2
run() { # NAME ARGS...: the run's attempts
	local name=$1 rc=0
	shift
	natbed run --prefix "$NB_PREFIX" --out "$NB_TMP/$name" --capture none "$@" "$NB_TMP/ci.yaml" \
		>/dev/null 2>"$NB_TMP/$name.err" || rc=$?
	[ "$rc" = 0 ] || nb_fail "$name: natbed run exited $rc: $(cat "$NB_TMP/$name.err")"
	jq '.attempts | length' "$NB_TMP/$name/results.json"
}
n=$(run narrow --until-ci 0.35 --max-rounds 10)
[ "$n" = 4 ] || nb_fail "--until-ci 0.35: $n attempts, want 4 (two rounds)"
jq -e '.options["until-ci"] == "0.35" and .options["max-rounds"] == "10"' \
	"$NB_TMP/narrow/results.json" >/dev/null || nb_fail "the options: $(jq -c .options "$NB_TMP/narrow/results.json")"
n=$(run capped --until-ci 0.1 --max-rounds 3)
[ "$n" = 6 ] || nb_fail "--until-ci 0.1 --max-rounds 3: $n attempts, want 6 (three rounds)"
nb_pass "until-ci: stops when the intervals are narrow enough, or at the cap"
