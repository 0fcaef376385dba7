#!/usr/bin/env bash
# natbed: what two classifiers written elsewhere see of each NAT preset.
# Sets up, then
#  1. bring up topologies/lan.yaml (natbed-emu, a NAT'd LAN, natbed-stund on
#     the internet side), query the STUN server from a host with natbed's own
#     client, print the answer and the emulator's counters;
#  2. bring up topologies/presets.yaml (a host behind each NAT preset and one
#     behind a carrier NAT chain) and print what two classifiers written
#     elsewhere (coturn's turnutils_natdiscovery, RFC 5780; stun, RFC 3489)
#     report from behind each NAT, beside what natbed says it plays;
# and tear everything down.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/setup.sh"
[ "$(id -u)" -eq 0 ] || { echo "classify.sh: run as root (natbed builds network namespaces)" >&2; exit 1; }
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
natbed down --prefix "$prefix" >/dev/null

echo
echo "== every NAT preset, as natbed plays it"
natbed up --prefix "$prefix" --out "$top/out/presets" "$top/topologies/presets.yaml" | sed -n '/^NAT /,$p'
work=$(mktemp -d)
trap 'natbed down --prefix "$prefix" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
hosts="a-fc a-rc a-pr a-sym a-symseq a-lm phone alice"
for _ in $(seq 1 30); do # natbed-stund up?
	natbed exec --prefix "$prefix" a-fc -- natbed-stunclient --timeout 300 198.51.100.10 >/dev/null 2>&1 && break
	sleep 0.1
done
for h in $hosts; do
	(natbed exec --prefix "$prefix" "$h" -- timeout 30 turnutils_natdiscovery -m -f 198.51.100.10 >"$work/$h.disc" 2>&1
	 natbed exec --prefix "$prefix" "$h" -- timeout 30 stun 198.51.100.10 -v >"$work/$h.stun" 2>&1) &
done
wait
# "NAT with Address and Port Dependent Mapping!" -> address-and-port-dependent
verdict() { sed -n "s/^NAT with \(.*\) $2!\$/\1/p; s/^No NAT! .*/no NAT/p" "$1" | head -1 |
	tr 'A-Z ' 'a-z-'; }
echo
echo "== what the classifiers see from behind each NAT (alice: home behind carrier)"
printf '%-9s %-8s %-28s %-28s %s\n' HOST NAT "NATDISCOVERY MAPPING" "NATDISCOVERY FILTERING" "STUN (RFC 3489)"
for h in $hosts; do
	case $h in a-*) nat=${h#a-} ;; phone) nat=carrier ;; alice) nat=home ;; esac
	printf '%-9s %-8s %-28s %-28s %s\n' "$h" "$nat" "$(verdict "$work/$h.disc" Mapping)" \
		"$(verdict "$work/$h.disc" Filtering)" "$(sed -n 's/^Primary: //p' "$work/$h.stun" | head -1 | sed 's/[[:space:]]*$//')"
done
echo
echo "captures and logs: $top/out/presets"
