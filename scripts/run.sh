#!/usr/bin/env bash
# natbed main job: set up, then bring up topologies/lan.yaml (natbed-emu, a
# NAT'd LAN, natbed-stund on the internet side), query the STUN server from a
# host with natbed's own client, print the answer and the emulator's counters,
# and tear everything down.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/setup.sh"
[ "$(id -u)" -eq 0 ] || { echo "run.sh: run as root (natbed builds network namespaces)" >&2; exit 1; }
export PATH="$top/build/cli:$top/build/emulator:$top/build/agents:$PATH"
prefix=nbrun-
out="$top/out/run"
trap 'natbed down --prefix "$prefix" >/dev/null 2>&1 || true' EXIT
natbed down --prefix "$prefix" >/dev/null 2>&1 || true
natbed up --prefix "$prefix" --out "$out" "$top/topologies/lan.yaml"
sleep 0.5
echo
echo "== alice asks natbed-stund (198.51.100.10:3478) for her reflexive address"
natbed exec --prefix "$prefix" alice -- natbed-stunclient 198.51.100.10:3478
echo
echo "== emulator counters"
natbed ctl --prefix "$prefix" show ports
echo
echo "captures and logs: $out"
