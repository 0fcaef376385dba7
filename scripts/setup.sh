#!/usr/bin/env bash
# natbed setup: install the Debian packages the build and the tests need
# (only those missing), then configure and build into build/.
# Safe to run again: with nothing changed it takes seconds.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

# Every tool a test, a benchmark, run.sh or classify.sh calls comes from this list (or
# from an Essential package: coreutils, grep, sed, diffutils, util-linux):
# under CI=true a test that finds one missing fails instead of skipping.
pkgs=(
  build-essential cmake pkg-config clang
  libevent-dev libpcap-dev libnl-3-dev libnl-route-3-dev libyaml-dev
  libjansson-dev libssl-dev libcmocka-dev
  # ip, ss | ping | tracepath | ethtool | tshark | mergecap, dumpcap |
  # turnserver, turnutils_* | stun | nft | conntrack | pgrep, sysctl |
  # python3 | bc (bench) | jq | setpriv, taskset, flock | natpmpc
  iproute2 iputils-ping iputils-tracepath ethtool tshark wireshark-common coturn stun-client
  nftables conntrack procps psmisc python3 bc jq util-linux natpmpc
  # results.json against docs/results.schema.json | report.html rendered headless
  python3-jsonschema chromium
  # the seed's SimPy model beside natbed sim (bench/sim.sh)
  python3-simpy3
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture: answer no, non-interactively.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build="$top/build"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNATBED_WERROR=ON >/dev/null
fi
cmake --build "$build" -j"$(nproc)" >/dev/null
echo "setup: built into $build"
