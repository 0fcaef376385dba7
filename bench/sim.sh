#!/usr/bin/env bash
# natbed sim beside the seed's SimPy model, on one scenario, in one run:
# topologies/sim-scale.yaml (the seed's arrivals: 2.0 clients a second,
# the seed's NAT mix, zero-trust gates with the seed's auth model) with
# N clients through natbed sim (every datagram through the emulator's
# engines, in virtual time), and the same scenario through the seed's own
# model (bench/seed_model.py, python3-simpy3). Each side is timed on its
# own loop; natbed's events are its scheduler's (a datagram takes several:
# a link, a NAT, a delivery), SimPy's the environment's steps (a timeout,
# a process resuming).
#
# Env: N clients (default 20000), NATBED_BUILD. Needs no root. Wrap it in
# flock /tmp/natbed-bench.lock when others benchmark too.
# Last line: natbed_events_per_s simpy_events_per_s ratio
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${NATBED_BUILD:-$src/build}
n=${N:-20000}
natbed=$build/cli/natbed
py=/usr/bin/python3
[ -x "$natbed" ] || { echo "SKIP: $natbed not built" >&2; exit 77; }
"$py" -c 'import simpy' 2>/dev/null || { echo "SKIP: python3-simpy3 not installed (scripts/setup.sh)" >&2; exit 77; }
tmp=$(mktemp -d /tmp/natbed-bench-sim.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
duration=$((n * 3 / 5 + 60)) # past the last arrival at 2.0/s

# natbed: "... N events in W s (C s of CPU, M MB at most) ..."
rc=0
"$natbed" sim "$src/topologies/sim-scale.yaml" --clients "$n" --duration "${duration}s" \
	--out "$tmp/out" >/dev/null 2>"$tmp/natbed.err" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 3 ] || { cat "$tmp/natbed.err" >&2; exit 1; }
line=$(grep "^natbed sim: .* events in" "$tmp/natbed.err")
nat_events=$(sed -E 's/.* ([0-9]+) events in.*/\1/' <<<"$line")
nat_s=$(sed -E 's/.* events in ([0-9.]+) s.*/\1/' <<<"$line")
nat_mb=$(sed -E 's/.* ([0-9]+) MB at most.*/\1/' <<<"$line")
nat_ok=$(jq '.overall.successes' "$tmp/out/results.json")
nat_n=$(jq '.overall.attempts' "$tmp/out/results.json")

# the seed's model: "clients N connected K events E wall_s W"
read -r _ py_n _ py_ok _ py_events _ py_s < <("$py" "$src/bench/seed_model.py" --clients "$n" \
	--duration "$duration" 2>"$tmp/py.err")

awk -v ne="$nat_events" -v ns="$nat_s" -v nn="$nat_n" -v nok="$nat_ok" -v mb="$nat_mb" \
	-v pe="$py_events" -v ps="$py_s" -v pn="$py_n" -v pok="$py_ok" 'BEGIN {
	printf "natbed sim: %d clients (%d connected), %d events in %.2f s: %.0f events/s, %.0f clients/s, %d MB at most\n", nn, nok, ne, ns, ne / ns, nn / ns, mb > "/dev/stderr"
	printf "seed model: %d clients (%d connected), %d events in %.2f s: %.0f events/s, %.0f clients/s\n", pn, pok, pe, ps, pe / ps, pn / ps > "/dev/stderr"
	printf "%.0f %.0f %.3f\n", ne / ns, pe / ps, (ne / ns) / (pe / ps)
}'
