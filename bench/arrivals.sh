#!/usr/bin/env bash
# The seed's arrival model on real packets: `natbed run
# topologies/arrivals.yaml` (clients arriving at 2.0/s for 60 s, at most 500,
# each a natbed-agent connect from a site behind one kind of NAT to a public
# server agent), with its wall time and the peak memory of everything the run
# started (natbed-emu, every agent, the rendezvous, natbed-stund), sampled
# every 0.5 s from the run's namespaces. No peer to compare with: the last
# line is `wall_s peak_rss_mib attempts connected`.
# env: DURATION (default 60s), SEED (default the topology's), CAPTURE
# (default all), OUT (default a temporary directory, removed).
set -u
[ "$(id -u)" -eq 0 ] || { echo "SKIP: run as root (natbed builds namespaces)"; exit 77; }
top=$(cd "$(dirname "$0")/.." && pwd)
build=${NATBED_BUILD:-$top/build}
export PATH="$build/cli:$build/emulator:$build/agents:$PATH"
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
prefix="a$((RANDOM % 900 + 100))-"
out=${OUT:-$(mktemp -d /tmp/natbed-arrivals.XXXXXX)}
mkdir -p "$out"
keep=${OUT:+1}
args=(--prefix "$prefix" --out "$out" --duration "${DURATION:-60s}" --capture "${CAPTURE:-all}")
[ -n "${SEED:-}" ] && args+=(--seed "$SEED")
cleanup() {
	[ -n "${run:-}" ] && kill -INT "$run" 2>/dev/null && wait "$run" 2>/dev/null
	natbed down --prefix "$prefix" >/dev/null 2>&1
	[ -n "$keep" ] || rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# the resident memory of every process in the run's namespaces, in KiB
rss_now() {
	local ns pid sum=0 kb
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$prefix"); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
			sum=$((sum + ${kb:-0}))
		done
	done
	echo "$sum"
}

start=$(date +%s.%N)
natbed run "${args[@]}" "$top/topologies/arrivals.yaml" >"$out/bench.stdout" 2>"$out/bench.stderr" &
run=$!
peak=0
deadline=$((SECONDS + 900)) # bounded: the run itself ends long before
while kill -0 "$run" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
	now=$(rss_now)
	[ "$now" -gt "$peak" ] && peak=$now
	sleep 0.5
done
wait "$run"
rc=$?
run=
end=$(date +%s.%N)
[ "$rc" = 0 ] || [ "$rc" = 3 ] || { echo "natbed run exited $rc: $(tail -5 "$out/bench.stderr")" >&2; exit 1; }
attempts=$(jq '.attempts | length' "$out/results.json")
connected=$(jq '[.attempts[] | select(.success)] | length' "$out/results.json")
echo "natbed run arrivals: $(tail -1 "$out/bench.stderr")" >&2
awk -v s="$start" -v e="$end" -v p="$peak" -v a="$attempts" -v c="$connected" \
	'BEGIN { printf "%.1f %.1f %d %d\n", e - s, p / 1024, a, c }'
