#!/usr/bin/env bash
# Runs with different prefixes coexist; the next `up` with a crashed run's
# prefix cleans up after it; a missing program is refused with the file,
# line and key before anything is built.
. "$NATBED_SRC/tests/lib.sh"
P1=$NB_PREFIX
P2="${NB_PREFIX%-}x-" # another prefix that starts with the first one
x() { local p=$1 h=$2; shift 2; natbed exec --prefix "$p" "$h" -- "$@"; }
cleanup_p2() { natbed down --prefix "$P2" >/dev/null 2>&1; }
trap 'cleanup_p2; nb_teardown' EXIT

natbed up --prefix "$P1" --out "$NB_TMP/one" "$NATBED_SRC/topologies/routed.yaml" >/dev/null || nb_fail "up $P1"
natbed up --prefix "$P2" --out "$NB_TMP/two" "$NATBED_SRC/topologies/lan.yaml" >/dev/null || nb_fail "up $P2 beside $P1"
x "$P1" a ping -c 1 -W 2 198.51.100.2 >/dev/null || nb_fail "$P1: a cannot reach b"
x "$P2" alice ping -c 1 -W 2 198.51.100.10 >/dev/null || nb_fail "$P2: alice cannot reach stun"
natbed down --prefix "$P1" >/dev/null || nb_fail "down $P1"
ip netns list | grep -q "^${P2}fabric" || nb_fail "down $P1 removed $P2's fabric"
x "$P2" alice ping -c 1 -W 2 198.51.100.10 >/dev/null || nb_fail "$P2 broken by down $P1"

# a crash: natbed-emu and the hosts' programs killed, namespaces left
natbed status --prefix "$P2" >/dev/null || nb_fail "status $P2"
pids=$(/usr/bin/python3 -c "import json;print(' '.join(str(p['pid']) for p in json.load(open('/run/natbed/$P2/state.json'))['processes']))")
for pid in $pids; do
	kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
done
nb_wait_gone 10 $pids
out=$(natbed up --prefix "$P2" --out "$NB_TMP/three" "$NATBED_SRC/topologies/lan.yaml" 2>&1) || nb_fail "up over a crashed run: $out"
echo "$out" | grep -q "cleaning up a dead run" || nb_fail "up over a crashed run did not say it cleaned up: $out"
x "$P2" alice ping -c 1 -W 2 198.51.100.10 >/dev/null || nb_fail "$P2 after recovery: alice cannot reach stun"
natbed down --prefix "$P2" >/dev/null || nb_fail "down $P2"

# a program that does not exist: refused before anything is built
cat >"$NB_TMP/missing.yaml" <<'YAML'
name: missing
hosts:
  a:
    address: 198.51.100.1
    run: natbed-no-such-program --flag
YAML
out=$(natbed up --prefix "$P1" --out "$NB_TMP/four" "$NB_TMP/missing.yaml" 2>&1) && nb_fail "up with a missing program succeeded"
echo "$out" | grep -q "$NB_TMP/missing.yaml:5: hosts.a.run: 'natbed-no-such-program' not found" ||
	nb_fail "unclear error for a missing program: $out"
[ -z "$(ip netns list | grep "^$P1")" ] || nb_fail "namespaces built for a topology with a missing program"
[ -z "$(ip netns list | grep "^$P2")" ] || nb_fail "$P2 namespaces left"
nb_pass "prefixes coexist, a crashed run is cleaned by the next up, missing programs refused"
