#!/usr/bin/env bash
# natbed check on real runs: topologies/presets.yaml (a host behind every
# NAT preset, and a home NAT behind a carrier NAT) and topologies/cgnat.yaml
# are brought up, every host behind a NAT is put through what a traversal
# program does (natbed-agent discover: RFC 5780 tests from two server
# addresses and ports, and a hairpin test; natbed-stunclient; the `stun`
# client's classic RFC 3489 tests; coturn's turnutils_natdiscovery) and,
# on presets, one natbed-agent connect, whose JSON
# line becomes results.json's attempt. After `natbed down`, natbed check
# must pass on each run, with every rule of every NAT checked (none
# skipped) on a NAT that saw mappings, and the attempt backed. The same
# run with the attempt's claim moved to a port that never sent anything
# must fail, naming the attempt. A third run has NATs with a 2 s timeout
# (sequential, preserving) whose mappings expire and are made again: the
# check passes, and says it saw them made again. A fourth flushes two
# NATs (natbed ctl nat NAME flush, a reboot) between two requests from
# one endpoint, each NAT then giving it the next sequential port, and then
# opens one's filter (natbed ctl nat NAME set filtering ...) before a
# discovery: the check follows both from the event log, judges every
# rule, and passes.
# The connect runs the tests' method testbind (tests/support), as
# rendezvous.sh does: what is checked is that a claimed path shows in the
# captures, whichever method found it.
. "$NATBED_SRC/tests/lib.sh"
nb_need jq turnutils_natdiscovery stun
AGENT=$NATBED_BUILD/tests/integration/natbed-agent-test
[ -x "$AGENT" ] || nb_fail "$AGENT not built"

STUN=198.51.100.10 STUN2=198.51.100.11
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }

# Every host behind a NAT, from what natbed up built.
natted() { jq -r '.hosts[] | select(.behind != "internet") | .name' "$1"; }

# What a traversal program does from behind its NAT, every host at once;
# each tool bounds itself.
traffic() { # UP-JSON
	local h pids=()
	for h in $(natted "$1"); do
		(
			x "$h" timeout 60 natbed-agent discover --stun "$STUN" >"$NB_TMP/$h.disc" 2>&1
			x "$h" timeout 10 natbed-stunclient --timeout 500 "$STUN" >/dev/null 2>&1
			x "$h" timeout 10 natbed-stunclient --timeout 500 "$STUN2:3479" >/dev/null 2>&1
			x "$h" timeout 30 stun "$STUN" -v >/dev/null 2>&1
			x "$h" timeout 30 turnutils_natdiscovery -m -f "$STUN" >/dev/null 2>&1
		) &
		pids+=($!)
	done
	for h in "${pids[@]}"; do wait "$h"; done
}

# natbed check DIR must pass; every NAT with mappings has all its rules
# checked. Prints the table on failure.
must_pass() { # DIR
	local out=$NB_TMP/check.out nat
	natbed check "$1" >"$out" 2>&1 || { cat "$out"; nb_fail "natbed check $1: exit $?"; }
	grep -q '^pass: ' "$out" || { cat "$out"; nb_fail "natbed check $1: no pass line"; }
	for nat in $(jq -r '.nats[].name' "$1.up.json"); do
		grep -Eq "^$nat +mapping +pass +[1-9][0-9]* mappings" "$out" ||
			{ cat "$out"; nb_fail "$1: NAT $nat: no mapping was checked"; }
		for rule in leak filtering hairpin ports timeout; do
			grep -Eq "^$nat +$rule +pass " "$out" ||
				{ cat "$out"; nb_fail "$1: NAT $nat: $rule not passed"; }
		done
	done
	grep -Eq '^stun +well-formed +pass +[1-9][0-9]* STUN messages' "$out" ||
		{ cat "$out"; nb_fail "$1: no STUN message checked"; }
	cat "$out"
}

# Two NATs, seq (symmetric-sequential) and pr (port-restricted), with a
# host behind each and a STUN server, brought up as run $run: NAME, its
# seed, and each NAT's further keys ("timeout: 2s, ").
two_nats() { # NAME SEED SEQ-KEYS PR-KEYS
	cat >"$NB_TMP/$1.yaml" <<EOF
name: $1
seed: $2
nats:
  seq: { preset: symmetric-sequential, $3public: 203.0.113.21, inside: 192.168.21.0/24 }
  pr:  { preset: port-restricted, $4public: 203.0.113.22, inside: 192.168.22.0/24 }
hosts:
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  h-seq: { nat: seq }
  h-pr:  { nat: pr }
EOF
	natbed up --prefix "$NB_PREFIX" --out "$run" --json "$NB_TMP/$1.yaml" >"$run.up.json" \
		2>"$NB_TMP/up.err" || nb_fail "natbed up $1: $(cat "$NB_TMP/up.err")"
	nb_stund_ready h-seq "$STUN"
	nb_stund_ready h-pr "$STUN"
}

# One request from port 40000 of each host, its answer in $NB_TMP/HOST.N.
requests() { # N
	local h
	for h in h-seq h-pr; do
		x "$h" timeout 10 natbed-stunclient --source 0.0.0.0:40000 "$STUN" >"$NB_TMP/$h.$1" ||
			nb_fail "$h: request $1"
	done
}

# --- presets: every preset, a carrier chain, and one connect -------------
run=$NB_TMP/presets
natbed up --prefix "$NB_PREFIX" --out "$run" --json "$NATBED_SRC/topologies/presets.yaml" \
	>"$run.up.json" 2>"$NB_TMP/up.err" || nb_fail "natbed up presets: $(cat "$NB_TMP/up.err")"
cmp -s "$run/topology.yaml" "$NATBED_SRC/topologies/presets.yaml" ||
	nb_fail "natbed up did not copy the topology into $run/topology.yaml"
nb_stund_ready a-fc "$STUN"
traffic "$run.up.json"

bg() { local h=$1 log=$2; shift 2; nb_bg natbed exec --prefix "$NB_PREFIX" "$h" -- "$@" 2>"$log"; }
bg stun "$NB_TMP/rdv.log" natbed-rendezvous --listen "$STUN"
nb_wait_for 10 "the rendezvous' ready line" grep -q "listening on $STUN:4787" "$NB_TMP/rdv.log"
bg a-fc "$NB_TMP/serve.log" "$AGENT" serve --name fc --rendezvous "$STUN" --stun "$STUN"
nb_wait_for 30 "a-fc registered" grep -q "registered as fc" "$NB_TMP/serve.log"
x a-pr timeout 90 "$AGENT" connect --name pr --peer fc --method testbind --probes 10 \
	--rendezvous "$STUN" --stun "$STUN" >"$NB_TMP/connect.json" 2>"$NB_TMP/connect.err" ||
	nb_fail "a-pr -> a-fc: exit $?: $(cat "$NB_TMP/connect.json" "$NB_TMP/connect.err")"
kill -TERM "${NB_PIDS[@]}"
nb_wait_gone 10 "${NB_PIDS[@]}"
natbed down --prefix "$NB_PREFIX" >/dev/null || nb_fail "natbed down presets"

# results.json as natbed run writes it, with the connect's line as its attempt
results() { # CONNECT-LINE a b nat_a nat_b
	jq --arg a "$2" --arg b "$3" --arg na "$4" --arg nb "$5" '{
		results_version: 1, natbed_version: "test", topology: "presets", seed: 1,
		started: "2024-01-01T00:00:00Z", wall_s: null, options: {},
		attempts: [{pair: [$a, $b], nat: [$na, $nb], method, success, setup_ms, rtt_ms, loss,
			path, local, remote, reason, tried, t_s: 0, auth_ms: 0}]}' "$1"
}
results "$NB_TMP/connect.json" a-pr a-fc port-restricted full-cone >"$run/results.json"
jq -e '.attempts[0].success and .attempts[0].path == "direct"' "$run/results.json" >/dev/null ||
	nb_fail "the connect did not succeed directly: $(cat "$NB_TMP/connect.json")"
must_pass "$run"
grep -Eq '^attempts +backed +pass +1 successes claimed' "$NB_TMP/check.out" ||
	nb_fail "the connect's success was not backed"
nb_pass "natbed check passes on presets.yaml: every preset, the carrier chain, the attempt"

# --- the same run, with a success claimed on a port that sent nothing ----
bad=$NB_TMP/doctored
cp -r "$run" "$bad"
cp "$run.up.json" "$bad.up.json"
jq '.attempts[0].remote |= sub(":[0-9]+$"; ":9")' "$run/results.json" >"$bad/results.json"
natbed check "$bad" >"$NB_TMP/bad.out" 2>&1
st=$?
[ "$st" = 1 ] || { cat "$NB_TMP/bad.out"; nb_fail "natbed check on a false claim: exit $st, want 1"; }
grep -Eq "^  attempts backed: attempt 1 \(a-pr -> a-fc, testbind, direct\): claims success, but a-pr.pcap shows no packet from 203.0.113.11:9 to a-pr" \
	"$NB_TMP/bad.out" || { cat "$NB_TMP/bad.out"; nb_fail "the false claim is not named"; }
grep -q '^FAIL: 1 violation in 1 of ' "$NB_TMP/bad.out" || { cat "$NB_TMP/bad.out"; nb_fail "not one violation"; }
nb_pass "a success claimed where no packet went fails, naming the attempt and capture"

# --- mappings that time out, and are made again ---------------------------
# A 2 s timeout: an endpoint's mapping is left to expire (the NAT's own
# counter says when), then the endpoint sends again: a sequential NAT
# gives it the next port, a preserving one the same port. In between, one
# more request from another port is left to expire too, so the endpoint's
# second request comes a whole timeout after the first mapping ended: past
# natbed check's slack, where it judges.
run=$NB_TMP/expiry
two_nats expiry 3 "timeout: 2s, " "timeout: 2s, "
counter() { # NAT NAME: one of its counters
	natbed ctl --prefix "$NB_PREFIX" --json nat "$1" stats |
		jq --arg c "$2" '[.. | objects | .[$c]? | numbers] | max // 0'
}
all_expired() { [ "$(counter "$1" mappings_expired)" -ge "$2" ]; }
requests 1
expire_all() {
	local n made
	for n in seq pr; do
		made=$(counter "$n" mappings_created)
		nb_wait_for 30 "NAT $n's $made mappings to expire" all_expired "$n" "$made"
	done
}
expire_all
for h in h-seq h-pr; do
	x "$h" timeout 10 natbed-stunclient "$STUN" >/dev/null || nb_fail "$h: request between"
done
expire_all
requests 2
[ "$(head -1 "$NB_TMP/h-seq.1")" != "$(head -1 "$NB_TMP/h-seq.2")" ] ||
	nb_fail "seq: the mapping made after the timeout kept $(head -1 "$NB_TMP/h-seq.1")"
natbed down --prefix "$NB_PREFIX" >/dev/null || nb_fail "natbed down expiry"
must_pass "$run"
for n in seq pr; do
	grep -Eq "^$n +timeout +pass +2 s: [1-9][0-9]* mappings made again after it" \
		"$NB_TMP/check.out" || nb_fail "NAT $n: no mapping was seen made again after its timeout"
done
nb_pass "natbed check passes on mappings that timed out and were made again"

# --- a NAT reboot between two requests -----------------------------------
# Endpoint-independent and sequential: after the flush the endpoint's new
# mapping takes the next port, which would break endpoint-independent
# mapping had the old one lived on.
run=$NB_TMP/flush
two_nats flush 4 "" "ports: sequential, "
requests 1
# The flush more than natbed check's slack (500 ms) after the requests,
# and the next ones as long after it, so that the check judges the
# mappings as ended rather than as maybe still used: a gap the scenario
# needs, not a wait for something to be ready.
sleep 0.6
for n in seq pr; do
	natbed ctl --prefix "$NB_PREFIX" nat "$n" flush >/dev/null || nb_fail "ctl nat $n flush"
done
sleep 0.6
requests 2
for h in h-seq h-pr; do
	[ "$(head -1 "$NB_TMP/$h.1")" != "$(head -1 "$NB_TMP/$h.2")" ] ||
		nb_fail "$h: the mapping made after the flush kept $(head -1 "$NB_TMP/$h.1")"
done
# pr's filter opened at run time: the discovery's answers from the STUN
# server's other address and port now come in, which pr's port-restricted
# filtering of the topology would have dropped
natbed ctl --prefix "$NB_PREFIX" nat pr set filtering endpoint-independent >/dev/null ||
	nb_fail "ctl nat pr set filtering"
x h-pr timeout 60 natbed-agent discover --stun "$STUN" >"$NB_TMP/h-pr.disc" \
	2>"$NB_TMP/h-pr.disc.err" || nb_fail "h-pr: discover: $(cat "$NB_TMP/h-pr.disc.err")"
[ "$(jq -r .filtering "$NB_TMP/h-pr.disc")" = endpoint-independent ] ||
	nb_fail "h-pr: discover did not find the filter opened: $(cat "$NB_TMP/h-pr.disc")"
natbed down --prefix "$NB_PREFIX" >/dev/null || nb_fail "natbed down flush"
[ "$(grep -c '"event":"nat_flush".*"capture_ns":[0-9]' "$run/events.jsonl")" = 2 ] ||
	nb_fail "events.jsonl: not two flushes with their capture time: $(grep nat_flush "$run/events.jsonl")"
grep -q '"event":"nat_set".*"capture_ns":[0-9]' "$run/events.jsonl" ||
	nb_fail "events.jsonl: no setting with its capture time: $(grep nat_set "$run/events.jsonl")"
must_pass "$run"
grep -Eq "^seq +mapping +pass +[1-9][0-9]* mappings .*, across 1 flush$" "$NB_TMP/check.out" ||
	nb_fail "NAT seq: the flush was not followed"
grep -Eq "^pr +mapping +pass +[1-9][0-9]* mappings .*, across 1 flush and 1 setting$" \
	"$NB_TMP/check.out" || nb_fail "NAT pr: the flush and the setting were not followed"
grep -Eq "^pr +filtering +pass +[1-9][0-9]* arrivals delivered, .*\(endpoint-independent\)" \
	"$NB_TMP/check.out" || nb_fail "NAT pr: the filtering row is not judged by the new setting"
nb_pass "natbed check follows a NAT's flush (a reboot) and a setting changed at run time"

# --- cgnat.yaml: a home NAT behind a carrier NAT, and a phone -------------
run=$NB_TMP/cgnat
natbed up --prefix "$NB_PREFIX" --out "$run" --json "$NATBED_SRC/topologies/cgnat.yaml" \
	>"$run.up.json" 2>"$NB_TMP/up.err" || nb_fail "natbed up cgnat: $(cat "$NB_TMP/up.err")"
nb_stund_ready alice "$STUN"
traffic "$run.up.json"
natbed down --prefix "$NB_PREFIX" >/dev/null || nb_fail "natbed down cgnat"
must_pass "$run"
nb_pass "natbed check passes on cgnat.yaml"
