#!/usr/bin/env bash
# natbed tests: set up (packages, build), then every suite through ctest.
# Run as root: the integration and interop suites build network namespaces
# (they skip, saying why, without root).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/setup.sh"
cd "$top/build"
# Namespace tests each use their own prefix, so two at a time is safe.
ctest --output-on-failure -j2 "$@"
