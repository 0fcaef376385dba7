#!/bin/sh
# A traversal program for natbed matrix that never ends by itself: it
# writes its pid and its child's to NATBED_SIGNAL/ROLE.pids, then waits
# (tests/integration/byo.sh stops it with the timeout and with Ctrl-C).
sleep 600 &
echo "$$ $!" >"$NATBED_SIGNAL/$NATBED_ROLE.pids"
wait
