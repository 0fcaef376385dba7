# shellcheck shell=bash
# Helpers of the natbed sim tests (sim.sh, sim_restore.sh), sourced after
# tests/lib.sh: natbed sim runs as an unprivileged user when the test runs
# as root (it needs no namespaces), its output under $NB_TMP/NAME.
nb_need jq setpriv
chmod 0777 "$NB_TMP"
as_user=()
[ "$(id -u)" -ne 0 ] || as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups --)

# sim NAME ARGS...: natbed sim --out $NB_TMP/NAME ARGS, its status in $rc
sim() {
	local name=$1
	shift
	rc=0
	"${as_user[@]}" "$NATBED_BUILD/cli/natbed" sim --out "$NB_TMP/$name" "$@" \
		>"$NB_TMP/$name.stdout" 2>"$NB_TMP/$name.stderr" || rc=$?
}
# results.json of NAME but its wall-clock fields
norm() { jq -S 'del(.started, .wall_s, .throughput_per_s)' "$NB_TMP/$1/results.json"; }
# natbed sim NAME ran to its end: exit 0 (every connect connected) or 3
completed() { [ "$rc" = 0 ] || [ "$rc" = 3 ] || nb_fail "natbed sim $1: exit $rc: $(tail -3 "$NB_TMP/$1.stderr")"; }
