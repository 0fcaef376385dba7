#!/usr/bin/env bash
# natbed sim's whole-state checkpoints (issue 15), restored from many
# moments of runs that exercise every state machine: for each run below,
# checkpoints every D of virtual time for several D (the last one written
# is where the run stood at the last multiple of D), each restored from its
# state to results byte for byte the run's never stopped (but the
# wall-clock fields):
#  - topologies/matrix.yaml with jitter, loss and duplication on every
#    link: every method, TURN relays, discovery, retransmissions, packets
#    lost and doubled on their way;
#  - the same over rounds (--until-ci), a checkpoint between rounds too;
#  - topologies/arrivals.yaml with a rate limit and loss: arrivals;
#  - topologies/sim-scale.yaml with --site-per-client: copies of sites
#    and gates taken and given back.
# A field a state machine forgets to write (or to read) shows here as
# other results from some moment on. As an unprivileged user when run as
# root (natbed sim needs no namespaces).
NB_NO_ROOT=1
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/sim_lib.sh"

# sweep NAME "EVERY..." ARGS...: the run, then one checkpointed and restored per EVERY
sweep() {
	local name=$1 every=$2 e n=0
	shift 2
	sim "$name" "$@"
	completed "$name"
	for e in $every; do
		rm -f "$NB_TMP/$name.ck.json"
		sim "$name-ck$e" --checkpoint "$NB_TMP/$name.ck.json" --checkpoint-every "$e" "$@"
		completed "$name-ck$e"
		[ -s "$NB_TMP/$name.ck.json" ] || nb_fail "$name: no checkpoint every $e"
		sim "$name-rs$e" --restore "$NB_TMP/$name.ck.json"
		completed "$name-rs$e"
		grep -q "restored the whole state at" "$NB_TMP/$name-rs$e.stderr" ||
			nb_fail "$name, every $e: $(cat "$NB_TMP/$name-rs$e.stderr")"
		diff <(norm "$name") <(norm "$name-rs$e") >"$NB_TMP/$name-$e.diff" ||
			nb_fail "$name restored at $(jq -r .at_ns "$NB_TMP/$name.ck.json") ns: other results: $(head -20 "$NB_TMP/$name-$e.diff")"
		cmp -s "$NB_TMP/$name/results.csv" "$NB_TMP/$name-rs$e/results.csv" ||
			nb_fail "$name restored every $e: another results.csv"
		n=$((n + 1))
	done
	echo "$name: restored from $n moments, the same results"
}

# lossy TOPOLOGY OUT: every link block of TOPOLOGY with jitter, loss and
# duplication added (python keeps the rest of the text as it is)
lossy() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r"link: \{ delay: (\d+)ms \}",
              r"link: { delay: \1ms, jitter: 2ms, loss: 4%, dup: 2% }", text)
open(sys.argv[2], "w").write(text)
PY
	grep -q "loss: 4%" "$2" || nb_fail "lossy $1: no link block changed"
}

lossy "$NATBED_SRC/topologies/matrix.yaml" "$NB_TMP/matrix.yaml"
sweep matrix "2.3s 4.7s 7.3s 13.1s 23.9s" --seed 7 "$NB_TMP/matrix.yaml"
sweep rounds "5.3s 11.7s 29.3s" --seed 8 --until-ci 0.01 --max-rounds 3 "$NB_TMP/matrix.yaml"
/usr/bin/python3 - "$NATBED_SRC/topologies/arrivals.yaml" "$NB_TMP/arrivals.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
text = text.replace("link: { delay: 10ms }", "link: { delay: 10ms, jitter: 5ms, loss: 2%, rate: 2mbit }")
open(sys.argv[2], "w").write(text)
PY
grep -q "rate: 2mbit" "$NB_TMP/arrivals.yaml" || nb_fail "arrivals.yaml: its internet link block not found"
sweep arrivals "9.1s 17.3s 31.9s" --seed 9 "$NB_TMP/arrivals.yaml"
sweep sites "19.3s 41.9s 97.1s" --seed 8 --clients 300 --duration 150s --site-per-client \
	"$NATBED_SRC/topologies/sim-scale.yaml"
nb_pass "natbed sim: restored from the whole state at 14 moments of four runs, every result the same"
