#!/usr/bin/env bash
# bench/timing: p50/p99 of (delivery time - due time) for 50 ms link delays
# at 1k, 10k and 50k packets/s through natbed's scheduler on libevent in
# real time, beside the floor of this machine measured in the same run (the
# wake-up error of a bare clock_nanosleep loop and of a timerfd loop).
# Last line: natbed_p99_us floor_p99_us ratio   (at 10k packets/s; issue 5
# target: natbed p99 <= 200 us and ratio <= 3)
#
# Env: NATBED_BUILD (build dir, default ./build), SECS (seconds per rate and
# loop, default 2), ROUNDS (the loops alternate in this many rounds,
# default 4), FIFO=1 (run at SCHED_FIFO priority, needs root: removes most
# of the noise of other processes, for natbed and the floor alike).
# Runs in about 3 x 3 x SECS seconds. No root needed, no network touched.
set -eu
NATBED_SRC=${NATBED_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
NATBED_BUILD=${NATBED_BUILD:-$NATBED_SRC/build}
SECS=${SECS:-2}
ROUNDS=${ROUNDS:-4}
BIN=$NATBED_BUILD/bench/natbed-timing

if [ ! -x "$BIN" ]; then
	echo "timing: $BIN missing: cmake --build $NATBED_BUILD --target natbed-timing" >&2
	exit 1
fi
args=(-s "$SECS" -n "$ROUNDS" -d 50 -r 1000 -r 10000 -r 50000)
if [ "${FIFO:-0}" = 1 ]; then
	args+=(-f)
fi
echo "# $(nproc) CPUs, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$BIN" "${args[@]}"
