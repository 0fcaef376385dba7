#!/usr/bin/env bash
# natbed setup: install the Debian packages the build and the tests need
# (only those missing), then configure and build into build/.
# Safe to run again: with nothing changed it takes seconds.
#
#   scripts/setup.sh              packages, then configure and build
#   scripts/setup.sh --wireshark  packages, then install natbed's Wireshark
#                                 dissector (scripts/wireshark/natbed.lua) into
#                                 the invoking user's personal plugin folder
#                                 (~/.local/lib/wireshark/plugins; under sudo,
#                                 SUDO_USER's); no build
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

wireshark=0
case "${1:-}" in
"") ;;
--wireshark) wireshark=1 ;;
*)
  echo "usage: scripts/setup.sh [--wireshark]" >&2
  exit 2
  ;;
esac

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
  # results.json against docs/results.schema.json | report.html rendered headless |
  # topologies/matrix.yaml read by tests/tools/methods_table.py
  python3-jsonschema chromium python3-yaml
  # tests/interop/ice_peer.py: a third-party ICE stack for natbed matrix (docs/byo.md)
  python3-aioice
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

# The dissector goes where Wireshark and tshark look for a user's Lua
# plugins, owned by that user: the one who ran sudo, if anyone did.
install_dissector() {
  local user home dir
  user=$(id -un)
  home=$HOME
  if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    user=$SUDO_USER
    home=$(getent passwd "$user" | cut -d: -f6)
  fi
  dir="$home/.local/lib/wireshark/plugins"
  install -d -o "$user" "$home/.local" "$home/.local/lib" "$home/.local/lib/wireshark" "$dir"
  install -m 0644 -o "$user" "$top/scripts/wireshark/natbed.lua" "$dir/natbed.lua"
  echo "setup: installed the natbed dissector as $dir/natbed.lua (docs/captures.md)"
}

if [ "$wireshark" -eq 1 ]; then
  install_dissector
  exit 0
fi

# natbed is compiled with profile feedback (CMakeLists.txt, NATBED_PGO),
# when build/ is configured: first build-pgo/ builds the natbed command to
# record where its code runs, trained on a short natbed sim of
# topologies/sim-scale.yaml (20,000 arrivals, a few seconds), then build/
# reads the profiles. About 5% less CPU in natbed sim; the results are the
# same. NATBED_PGO=0 in the environment builds without.
build="$top/build"
pgo="$top/build-pgo"

train_profile() {
  local rc=0
  rm -rf "$pgo/profile" "$pgo/train"
  cmake -S "$top" -B "$pgo" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNATBED_TESTS=OFF \
    -DNATBED_PGO=generate -DNATBED_PGO_DIR="$pgo/profile" >/dev/null || return 1
  cmake --build "$pgo" -j"$(nproc)" --target natbed_cli >/dev/null || return 1
  # exit 3: some connects did not connect, as the scenario has it
  "$pgo/cli/natbed" sim "$top/topologies/sim-scale.yaml" --clients 20000 --duration 20000s \
    --out "$pgo/train" >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ]
}

if [ ! -f "$build/CMakeCache.txt" ]; then
  pgo_args=()
  if [ "${NATBED_PGO:-1}" != 0 ]; then
    if train_profile; then
      pgo_args=(-DNATBED_PGO=use -DNATBED_PGO_DIR="$pgo/profile")
      echo "setup: trained a profile in $pgo"
    else
      echo "setup: no profile could be trained in $pgo; building without" >&2
    fi
  fi
  cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNATBED_WERROR=ON \
    "${pgo_args[@]}" >/dev/null
fi
cmake --build "$build" -j"$(nproc)" >/dev/null
echo "setup: built into $build"
