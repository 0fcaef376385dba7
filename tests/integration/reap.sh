#!/usr/bin/env bash
# What `natbed up` starts is reaped as soon as it exits, not left a zombie
# until the machine's init gets to it: natbed-emu stopped by a signal of
# its own is gone at once and `natbed status` shows it exited; after
# `natbed down` no natbed-emu or natbed-stund of the prefix is left, not
# even as a zombie, and no process by those names is one of them.
. "$NATBED_SRC/tests/lib.sh"

REAP_MS=100 # from exiting to reaped: a reaper takes microseconds, an init seconds

# state PID: the process state letter (R, S, Z, ...) or "gone".
state() { awk '{sub(/.*\) /, ""); print $1}' "/proc/$1/stat" 2>/dev/null || echo gone; }

# gone_within PID MS: true once PID has no process table entry at all.
gone_within() {
	local end=$(($(date +%s%N) + $2 * 1000000))
	while [ -e "/proc/$1" ]; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.005
	done
}

# no_zombie NAME PIDS...: none of PIDS is there, and pgrep does not list any.
no_zombie() {
	local name=$1 p
	shift
	for p in "$@"; do
		gone_within "$p" "$REAP_MS" || nb_fail "$name (pid $p) still there: state $(state "$p")"
		! pgrep -x "$name" | grep -qx "$p" || nb_fail "pgrep $name lists pid $p"
	done
}

natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/out" "$NATBED_SRC/topologies/two-sites.yaml" >"$NB_TMP/up.log" 2>&1 ||
	{ cat "$NB_TMP/up.log"; nb_fail "natbed up"; }
emu=$(/usr/bin/python3 -c "import json;print([p['pid'] for p in json.load(open('/run/natbed/$NB_PREFIX/state.json'))['processes'] if p['name']=='emu'][0])")
# natbed-stund runs under the run line's shell: find it in its namespace
stund=""
for _ in $(seq 1 100); do
	for p in $(ip netns pids "${NB_PREFIX}stun"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = natbed-stund ] && stund="$stund $p"
	done
	[ -z "$stund" ] || break
	sleep 0.02
done
[ -n "$stund" ] || nb_fail "no natbed-stund in ${NB_PREFIX}stun"
natbed status --prefix "$NB_PREFIX" | grep -q "^emu .* running$" || nb_fail "status: emu not running after up"

# natbed-emu stopped by someone else: it exits, is reaped, and status says so
kill -TERM "$emu"
end=$(($(date +%s%N) + 3000 * 1000000))
while [ "$(state "$emu")" != Z ] && [ "$(state "$emu")" != gone ]; do
	[ "$(date +%s%N)" -lt "$end" ] || nb_fail "natbed-emu still runs 3 s after SIGTERM"
	sleep 0.005
done
no_zombie natbed-emu "$emu"
st=$(natbed status --prefix "$NB_PREFIX" --json)
echo "$st" | /usr/bin/python3 -c "
import json, sys
p = [p for p in json.load(sys.stdin)['processes'] if p['name'] == 'emu'][0]
sys.exit(1 if p['running'] else 0)" || nb_fail "status reports the stopped natbed-emu running: $st"
natbed status --prefix "$NB_PREFIX" | grep -q "^emu .* exited$" || nb_fail "status: emu not shown exited"

# natbed down: natbed-stund goes too, and nothing of the prefix is a zombie
natbed down --prefix "$NB_PREFIX" >"$NB_TMP/down.log" 2>&1 || { cat "$NB_TMP/down.log"; nb_fail "natbed down"; }
# shellcheck disable=SC2086 # a list of pids
no_zombie natbed-stund $stund
no_zombie natbed-emu "$emu"
natbed status --prefix "$NB_PREFIX" >/dev/null 2>&1 && nb_fail "status reports something up after down"
nb_pass "natbed-emu and natbed-stund reaped when they exit, never left as zombies"
