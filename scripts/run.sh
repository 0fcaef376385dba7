#!/usr/bin/env bash
# natbed's main job: set up (scripts/setup.sh), then `natbed run` with no
# topology: the built-in NAT matrix (topologies/matrix.yaml). An agent behind
# each NAT preset connects to each other preset, to itself and to a public
# agent through the whole cascade over real packets; the matrix of the method
# that won each pair and its setup time is printed, and out/matrix/ holds
# results.json, results.csv, report.html, the pcaps and the logs.
# Extra arguments go to natbed run (e.g. --seed 3, --json).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/setup.sh"
[ "$(id -u)" -eq 0 ] || { echo "run.sh: run as root (natbed builds network namespaces)" >&2; exit 1; }
export PATH="$top/build/cli:$top/build/emulator:$top/build/agents:$PATH"
exec natbed run --prefix nbrun- --out "$top/out/matrix" "$@"
