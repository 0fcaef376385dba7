#!/usr/bin/env bash
# natbed sim (issue 15) on topologies/arrivals.yaml, as an unprivileged
# user when the test runs as root (it needs no namespaces):
#  - results.json marked "mode": "sim", valid against the schema, every
#    attempt of the plan with its t_s in virtual seconds, results.csv and
#    report.html beside it;
#  - natbed check on natbed sim's output says that natbed sim writes no
#    captures;
#  - the same seed gives byte-identical results.json but for its wall-clock
#    fields; another seed another attempt list;
#  - a checkpoint written mid-run holds the whole state and restores from
#    it to the results of the run never interrupted (so does one of
#    topologies/matrix.yaml, whose pairs are no arrivals); one without its
#    state restores by replaying, alike; Ctrl-C leaves a checkpoint (exit
#    130, partial results) from which a restore completes identically; a
#    restore with another setting, a FILE, an edited engine state or an
#    edited state is refused, naming it;
#  - an --out that is a file, or a directory the user may not write, and a
#    --checkpoint that cannot be written are refused before the run,
#    naming them;
#  - natbed config --show --sim leaves out prefix and capture (natbed
#    run's);
#  - natbed sim's own flags given to natbed run, or to natbed config without
#    --sim, are refused in one line saying where they belong;
#  - a site per client (scripts/sites.py): arrivals at hundreds of sites,
#    each behind a NAT of its own, reproduced.
NB_NO_ROOT=1
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sim_lib.sh"
/usr/bin/python3 -c 'import jsonschema' 2>/dev/null || nb_skip "python3-jsonschema not installed"
topo=$NATBED_SRC/topologies/arrivals.yaml

# --- the files -----------------------------------------------------------------
sim a --duration 40s "$topo"
completed a
r=$NB_TMP/a/results.json
jq -e '.mode == "sim" and .seed == 11 and (.attempts | length) > 40' "$r" >/dev/null ||
	nb_fail "results.json: $(jq -c '{mode, seed, n: (.attempts | length)}' "$r")"
jq -e 'all(.attempts[]; .t_s >= 0 and .t_s <= 40) and ([.attempts[].pair[1]] | unique == ["server"])' \
	"$r" >/dev/null || nb_fail "an attempt out of the scenario: $(jq -c '[.attempts[] | [.t_s, .pair]] | .[:3]' "$r")"
/usr/bin/python3 - "$NATBED_SRC/docs/results.schema.json" "$r" <<'PY' || nb_fail "results.json does not validate"
import json, sys, jsonschema
errors = list(jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).iter_errors(json.load(open(sys.argv[2]))))
for e in errors[:10]:
    print("/".join(map(str, e.absolute_path)), e.message, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
[ "$(($(wc -l <"$NB_TMP/a/results.csv") - 1))" = "$(jq '.attempts | length' "$r")" ] ||
	nb_fail "results.csv has not one row per attempt"
grep -q "<h1>natbed sim: arrivals" "$NB_TMP/a/report.html" || nb_fail "report.html is not natbed sim's"
grep -q "server" "$NB_TMP/a.stdout" || nb_fail "no matrix printed"
# natbed check reads captures, which natbed sim does not write: it says so
rc=0
"$NATBED_BUILD/cli/natbed" check "$NB_TMP/a" >/dev/null 2>"$NB_TMP/check.stderr" || rc=$?
[ "$rc" = 2 ] && grep -q "^natbed check: $NB_TMP/a is natbed sim's output.*writes no captures" \
	"$NB_TMP/check.stderr" || nb_fail "natbed check on natbed sim's output: exit $rc: $(cat "$NB_TMP/check.stderr")"

# --- the same seed, the same bytes ---------------------------------------------
sim b --duration 40s "$topo"
completed b
diff <(norm a) <(norm b) >"$NB_TMP/ab.diff" || nb_fail "the same seed, other results: $(head -20 "$NB_TMP/ab.diff")"
sim c --duration 40s --seed 12 "$topo"
completed c
[ "$(jq -c '[.attempts[] | [.t_s, .pair[0]]]' "$r")" != \
	"$(jq -c '[.attempts[] | [.t_s, .pair[0]]]' "$NB_TMP/c/results.json")" ] ||
	nb_fail "seed 12 gave seed 11's attempts"

# --- a checkpoint mid-run ------------------------------------------------------
sim ck --duration 40s --checkpoint "$NB_TMP/ck.json" --checkpoint-every 20s "$topo"
completed ck
diff <(norm a) <(norm ck) >/dev/null || nb_fail "checkpoints changed the results"
n=$(jq '.attempts | length' "$r")
done_at=$(jq -r '.progress.attempts' "$NB_TMP/ck.json")
[ "$done_at" -gt 0 ] && [ "$done_at" -lt "$n" ] ||
	nb_fail "the last checkpoint is not mid-run: $done_at of $n attempts"
sim rs --restore "$NB_TMP/ck.json"
completed rs
grep -q "restored the whole state at 40.000 s of virtual time from $NB_TMP/ck.json" "$NB_TMP/rs.stderr" ||
	nb_fail "not restored from the whole state: $(cat "$NB_TMP/rs.stderr")"
diff <(norm a) <(norm rs) >"$NB_TMP/rs.diff" || nb_fail "restored, other results: $(head -20 "$NB_TMP/rs.diff")"
# without its state, a checkpoint restores by replaying, to the same results
# (python keeps every number as it was; jq would rewrite some)
/usr/bin/python3 - "$NB_TMP/ck.json" "$NB_TMP/nostate.json" <<'PY'
import json, sys
ck = json.load(open(sys.argv[1]))
del ck["state"]
json.dump(ck, open(sys.argv[2], "w"))
PY
sim rp --restore "$NB_TMP/nostate.json"
completed rp
grep -q "replayed to 40.000 s of virtual time and found the state of" "$NB_TMP/rp.stderr" ||
	nb_fail "no replay without the state: $(cat "$NB_TMP/rp.stderr")"
diff <(norm a) <(norm rp) >"$NB_TMP/rp.diff" || nb_fail "replayed, other results: $(head -20 "$NB_TMP/rp.diff")"
# the built-in scenario's pairs (topologies/matrix.yaml): no arrivals, a
# checkpoint with connects under way, restored alike
sim mx "$NATBED_SRC/topologies/matrix.yaml"
completed mx
sim mxck --checkpoint "$NB_TMP/mx.json" --checkpoint-every 7s "$NATBED_SRC/topologies/matrix.yaml"
completed mxck
[ "$(jq -r '.progress.connects_alive' "$NB_TMP/mx.json")" -gt 0 ] ||
	nb_fail "matrix.yaml: no connect under way at the checkpoint"
sim mxrs --restore "$NB_TMP/mx.json"
completed mxrs
grep -q "restored the whole state" "$NB_TMP/mxrs.stderr" || nb_fail "matrix.yaml: $(cat "$NB_TMP/mxrs.stderr")"
diff <(norm mx) <(norm mxrs) >"$NB_TMP/mx.diff" || nb_fail "matrix.yaml restored, other results: $(head -20 "$NB_TMP/mx.diff")"

# refusals: another setting, a FILE, an edited state, no file; --checkpoint-every alone
sim bad1 --restore "$NB_TMP/ck.json" --seed 3
[ "$rc" = 2 ] && grep -q -- "--seed: with --restore every setting is the checkpoint's" "$NB_TMP/bad1.stderr" ||
	nb_fail "a restore with --seed: exit $rc, $(cat "$NB_TMP/bad1.stderr")"
rc=0
"$NATBED_BUILD/cli/natbed" config --show --sim --restore "$NB_TMP/ck.json" >"$NB_TMP/cfgrs.stdout" 2>"$NB_TMP/cfgrs.stderr" || rc=$?
[ "$rc" = 2 ] && grep -q -- "--restore: natbed sim takes every setting from the checkpoint" "$NB_TMP/cfgrs.stderr" ||
	nb_fail "natbed config --show --sim --restore (the command line's settings, not the checkpoint's): exit $rc, $(cat "$NB_TMP/cfgrs.stderr")"
sim bad2 --restore "$NB_TMP/ck.json" "$topo"
[ "$rc" = 2 ] || nb_fail "a restore with FILE: exit $rc"
# (python keeps every other number as it was; jq would rewrite some)
/usr/bin/python3 - "$NB_TMP/ck.json" "$NB_TMP/edited.json" <<'PY'
import json, sys
ck = json.load(open(sys.argv[1]))
ck["engines"]["nats"]["home-fc"]["counters"]["out_pkts"] += 1
json.dump(ck, open(sys.argv[2], "w"))
PY
sim bad3 --restore "$NB_TMP/edited.json"
[ "$rc" = 2 ] && grep -q "engines.nats.home-fc.counters.out_pkts differs after restoring the state at 40.000 s" "$NB_TMP/bad3.stderr" ||
	nb_fail "an edited checkpoint: exit $rc, $(cat "$NB_TMP/bad3.stderr")"
[ ! -e "$NB_TMP/bad3/results.json" ] || nb_fail "a refused restore wrote results"
# an edited state (an event's function this natbed does not have): refused
# before anything is built from it
/usr/bin/python3 - "$NB_TMP/ck.json" "$NB_TMP/edited2.json" <<'PY'
import json, sys
ck = json.load(open(sys.argv[1]))
ck["state"]["queue"][0][1] = "vnet.vnet_teleport"
json.dump(ck, open(sys.argv[2], "w"))
PY
sim bad6 --restore "$NB_TMP/edited2.json"
[ "$rc" = 2 ] && grep -q "$NB_TMP/edited2.json: state: edited or damaged (its digest is not state_digest)" "$NB_TMP/bad6.stderr" ||
	nb_fail "an edited state: exit $rc, $(cat "$NB_TMP/bad6.stderr")"
[ ! -e "$NB_TMP/bad6/results.json" ] || nb_fail "a refused restore wrote results"
sim bad4 --restore "$NB_TMP/none.json"
[ "$rc" = 2 ] && grep -q -- "--restore $NB_TMP/none.json: No such file or directory" "$NB_TMP/bad4.stderr" ||
	nb_fail "a restore of no file: exit $rc, $(cat "$NB_TMP/bad4.stderr")"
sim bad5 --checkpoint-every 10s "$topo"
[ "$rc" = 2 ] && grep -q -- "--checkpoint-every needs --checkpoint FILE" "$NB_TMP/bad5.stderr" ||
	nb_fail "--checkpoint-every without --checkpoint: exit $rc, $(cat "$NB_TMP/bad5.stderr")"
[ ! -e "$NB_TMP/bad5/results.json" ] || nb_fail "--checkpoint-every alone ran"
# natbed config --show --sim tells natbed sim's default --out
"$NATBED_BUILD/cli/natbed" config --show --sim "$topo" | grep -q '^out  *(./out/NAME-sim, NAME the topology.s) *default$' ||
	nb_fail "natbed config --show --sim: out is not natbed sim's: $("$NATBED_BUILD/cli/natbed" config --show --sim "$topo" | grep '^out')"
# natbed config --show --sim leaves out natbed run's own keys, which natbed
# sim ignores; natbed config --show has them
"$NATBED_BUILD/cli/natbed" config --show --sim "$topo" >"$NB_TMP/cfgsim.stdout" || nb_fail "natbed config --show --sim"
"$NATBED_BUILD/cli/natbed" config --show "$topo" >"$NB_TMP/cfgrun.stdout" || nb_fail "natbed config --show"
for k in prefix capture; do
	! grep -q "^$k " "$NB_TMP/cfgsim.stdout" || nb_fail "natbed config --show --sim lists $k, which natbed sim ignores"
	grep -q "^$k " "$NB_TMP/cfgrun.stdout" || nb_fail "natbed config --show does not list $k"
done
# natbed config --show --sim refuses what natbed sim refuses
rc=0
"$NATBED_BUILD/cli/natbed" config --show --sim --checkpoint-every 10s "$topo" >/dev/null 2>"$NB_TMP/cfg5.stderr" || rc=$?
[ "$rc" = 2 ] && grep -q -- "natbed config: --checkpoint-every needs --checkpoint FILE" "$NB_TMP/cfg5.stderr" ||
	nb_fail "natbed config --show --sim --checkpoint-every alone: exit $rc, $(cat "$NB_TMP/cfg5.stderr")"
# natbed sim's own flags elsewhere: one line saying where they belong (no
# usage); the topology is missing, so nothing would run were one let by
for a in "config --show" "run"; do
	for f in --site-per-client "--checkpoint $NB_TMP/x.json"; do
		rc=0
		# shellcheck disable=SC2086 # $a and $f are words on purpose
		"$NATBED_BUILD/cli/natbed" $a $f "$NB_TMP/none.yaml" >/dev/null 2>"$NB_TMP/simflag.stderr" || rc=$?
		c=${a%% *}
		want="natbed $c: ${f%% *} is natbed sim's: add --sim to show natbed sim's settings"
		[ "$c" = run ] && want="natbed run: ${f%% *} is natbed sim's, which natbed run does not take (see natbed sim --help)"
		[ "$rc" = 2 ] && [ "$(cat "$NB_TMP/simflag.stderr")" = "$want" ] ||
			nb_fail "natbed $a $f: exit $rc, $(cat "$NB_TMP/simflag.stderr")"
	done
done
# a --checkpoint that cannot be written is refused before the run, even one
# over before its first checkpoint is due
sim badck --checkpoint "$NB_TMP/none/ck.json" --duration 10s "$topo"
[ "$rc" = 1 ] && grep -q -- "--checkpoint $NB_TMP/none/ck.json: cannot write: No such file or directory" \
	"$NB_TMP/badck.stderr" || nb_fail "--checkpoint in no directory: exit $rc, $(cat "$NB_TMP/badck.stderr")"
[ ! -e "$NB_TMP/badck/results.json" ] || nb_fail "--checkpoint in no directory ran"

# an --out that cannot take the results is refused before the run, naming it
touch "$NB_TMP/afile"
sim afile "$topo"
[ "$rc" = 1 ] && grep -q "cannot create the output directory $NB_TMP/afile: Not a directory" "$NB_TMP/afile.stderr" ||
	nb_fail "--out a file: exit $rc, $(cat "$NB_TMP/afile.stderr")"
if [ ${#as_user[@]} -gt 0 ]; then
	mkdir -m 0755 "$NB_TMP/rootonly"
	sim rootonly "$topo"
	[ "$rc" = 1 ] && grep -q "cannot create the output directory $NB_TMP/rootonly: Permission denied" \
		"$NB_TMP/rootonly.stderr" || nb_fail "--out a directory not ours: exit $rc, $(cat "$NB_TMP/rootonly.stderr")"
fi

# --- Ctrl-C, then a restore --------------------------------------------------------
long=(--clients 8000 --duration 4000s "$topo")
sim full "${long[@]}"
completed full
rc=0
"${as_user[@]}" "$NATBED_BUILD/cli/natbed" sim --out "$NB_TMP/int" --checkpoint "$NB_TMP/int.json" \
	--checkpoint-every 50s "${long[@]}" >"$NB_TMP/int.stdout" 2>"$NB_TMP/int.stderr" &
pid=$!
nb_wait_for 30 "the first checkpoint" test -s "$NB_TMP/int.json"
kill -INT "$pid"
wait "$pid" || rc=$?
[ "$rc" = 130 ] || nb_fail "Ctrl-C: exit $rc (the run was over before the signal?)"
got=$(jq '.attempts | length' "$NB_TMP/int/results.json")
[ "$got" -lt "$(jq '.attempts | length' "$NB_TMP/full/results.json")" ] ||
	nb_fail "Ctrl-C: $got attempts, the whole run's"
[ "$(jq -r '.progress.attempts' "$NB_TMP/int.json")" = "$got" ] ||
	nb_fail "the checkpoint Ctrl-C left is not where the run stopped"
sim cont --restore "$NB_TMP/int.json"
completed cont
diff <(norm full) <(norm cont) >"$NB_TMP/cont.diff" ||
	nb_fail "restored after Ctrl-C, other results: $(head -20 "$NB_TMP/cont.diff")"
nb_pass "natbed sim: $n attempts reproduced byte for byte, restored from mid-run and from Ctrl-C ($got of $(jq '.attempts | length' "$NB_TMP/full/results.json")) identically"

# --- a site per client ------------------------------------------------------------
# scripts/sites.py's topology: 300 sites, each a host behind a NAT of its
# own in the seed's mix. 300 arrivals come at more sites than a scenario
# could name before (64), the mix's labels are the attempts', and the same
# seed gives the same results.
python3 "$NATBED_SRC/scripts/sites.py" 300 >"$NB_TMP/sites.yaml" || nb_fail "scripts/sites.py 300"
sim sites "$NB_TMP/sites.yaml"
completed sites
r=$NB_TMP/sites/results.json
[ "$(jq '.attempts | length' "$r")" = 300 ] || nb_fail "sites: $(jq '.attempts | length' "$r") attempts, not 300"
used=$(jq '[.attempts[].pair[0]] | unique | length' "$r")
[ "$used" -gt 64 ] || nb_fail "sites: the arrivals came at $used sites"
labels=$(jq -c '[.attempts[].nat[0]] | unique' "$r")
[ "$labels" = '["cgnat","full-cone","port-restricted","restricted-cone","symmetric"]' ] ||
	nb_fail "sites: the attempts' NATs are $labels"
sim sites2 "$NB_TMP/sites.yaml"
completed sites2
diff <(norm sites) <(norm sites2) >"$NB_TMP/sites.diff" ||
	nb_fail "sites: the same seed, other results: $(head -20 "$NB_TMP/sites.diff")"
nb_pass "natbed sim: a site per client, 300 arrivals at $used sites each behind its own NAT, reproduced"

# --- --site-per-client ------------------------------------------------------------
# topologies/sim-scale.yaml's five sites, each client behind a copy of its
# site's NAT and gate that no other client uses while it connects:
#  - each connected client is seen from its own public address in
#    198.19.0.0/16, never one another client connecting at once has, and
#    copies serve one client after another;
#  - each is new to its gate, so untrusted: every auth takes the seed's
#    untrusted 2-5 s (shared sites, trust rising with grants, give faster
#    ones: the check can fail);
#  - reproduced, and restored from a mid-run checkpoint, identically.
scale=$NATBED_SRC/topologies/sim-scale.yaml
sim spc --site-per-client --clients 2000 --duration 2000s "$scale"
completed spc
r=$NB_TMP/spc/results.json
grep -q "a site per client: [0-9]* copies of sites" "$NB_TMP/spc.stderr" || nb_fail "spc: $(tail -2 "$NB_TMP/spc.stderr")"
jq -e '.options["site-per-client"] == "true" and (.attempts | length) == 2000' "$r" >/dev/null ||
	nb_fail "spc: $(jq -c '{o: .options["site-per-client"], n: (.attempts | length)}' "$r")"
/usr/bin/python3 - "$r" <<'PY' || nb_fail "spc: clients shared a public address"
import json, sys
att = json.load(open(sys.argv[1]))["attempts"]
ok = [a for a in att if a["success"]]
seen = {}
for a in ok:
    ip = a["local"].rsplit(":", 1)[0]
    if not ip.startswith("198.19."):
        sys.exit(f"{a['pair'][0]} at {a['t_s']}: local {a['local']}")
    seen.setdefault(ip, []).append((a["t_s"], a["t_s"] + a["setup_ms"] / 1000))
for ip, spans in seen.items():
    spans.sort()
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        if s1 < e0:
            sys.exit(f"{ip}: a client from {s0} to {e0}, another from {s1}")
# more clients than copies: each copy served one client after another
if len(ok) < 1000 or not 5 < len(seen) < len(ok):
    sys.exit(f"{len(ok)} connected from {len(seen)} addresses")
print(f"{len(ok)} connected from {len(seen)} addresses", file=sys.stderr)
PY
slow=$(jq '[.attempts[] | select(.auth_ms != null) | .auth_ms] | [length, (map(select(. < 2000)) | length)]' -c "$r")
[ "$(jq '.[0]' <<<"$slow")" -ge 1950 ] && [ "$(jq '.[1]' <<<"$slow")" = 0 ] ||
	nb_fail "spc: [auths, under 2 s] = $slow: a client was trusted"
sim shared --clients 2000 --duration 2000s "$scale"
completed shared
fast=$(jq '[.attempts[] | select(.auth_ms != null and .auth_ms < 2000)] | length' "$NB_TMP/shared/results.json")
[ "$fast" -gt 500 ] || nb_fail "shared sites: $fast auths under 2 s: trust did not rise"
sim spc2 --site-per-client --clients 2000 --duration 2000s --checkpoint "$NB_TMP/spc.json" --checkpoint-every 400s "$scale"
completed spc2
diff <(norm spc) <(norm spc2) >"$NB_TMP/spc.diff" || nb_fail "spc: the same seed, other results: $(head -20 "$NB_TMP/spc.diff")"
jq -e '.progress.attempts | tonumber | . > 0 and . < 2000' "$NB_TMP/spc.json" >/dev/null ||
	nb_fail "spc: the last checkpoint is not mid-run"
sim spc3 --restore "$NB_TMP/spc.json"
completed spc3
diff <(norm spc) <(norm spc3) >"$NB_TMP/spc3.diff" || nb_fail "spc: restored, other results: $(head -20 "$NB_TMP/spc3.diff")"
sim nop --site-per-client
[ "$rc" = 2 ] && grep -q -- "--site-per-client shapes arrivals; (built-in matrix) has none" "$NB_TMP/nop.stderr" ||
	nb_fail "--site-per-client without arrivals: exit $rc, $(cat "$NB_TMP/nop.stderr")"
nb_pass "natbed sim --site-per-client: 2000 clients each behind a NAT and gate of its own while connecting, untrusted at each gate, reproduced and restored"
