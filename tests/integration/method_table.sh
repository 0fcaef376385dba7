#!/usr/bin/env bash
# The table of docs/methods.md on real packets: for every row (a pair of NAT
# classes) and every method alone, the outcome equals the cell. The cells
# are read from docs/methods.md itself (tests/tools/methods_table.py, the
# lines tests/unit/test_methods.c asserts in virtual time), never typed
# here. The topology is generated from topologies/matrix.yaml's NAT blocks,
# infrastructure (natbed-stund, the rendezvous, coturn) and serve line: per
# row a pair of agents behind NATs of its two classes (one NAT shared for
# same-LAN, none for public), plus rows for the matrix's cgnat and
# linux-masquerade presets, expected as the rows of their RFC 4787 classes
# (full-cone, port-restricted); per row one explicit pair per method. One
# `natbed run` plays it, rows in parallel (--parallel, NAT-disjoint), no
# captures.
#
# Each agent is told its NAT's class (--nat) instead of measuring it: the
# discovery costs up to 6 s per connect behind a filtering NAT, and
# tests/integration/discover.sh proves it agrees with every NAT.
#
# Probabilistic cells: birthday's success is a draw with the chance
# P = 0.99975 docs/methods.md derives. A birthday cell the table says
# succeeds and that failed is run once more (a second natbed run of those
# rows) and must succeed then: a correct method loses both draws with
# chance (1 - P)^2 = 6e-8 per cell, a method whose chance fell to 0.5
# fails this test one time in four per cell. Every other cell is
# deterministic and must match at the first run.
. "$(dirname "$0")/../lib.sh"
nb_need jq turnserver /usr/bin/python3
/usr/bin/python3 -c 'import yaml' 2>/dev/null || nb_skip "python3-yaml not installed"
tool() { /usr/bin/python3 "$NATBED_SRC/tests/tools/methods_table.py" "$@"; }
doc=$NATBED_SRC/docs/methods.md

# run NAME [ROW...]: the table's rows (all, or those given) in one natbed
# run, its results in $NB_TMP/NAME; compare's output in $NB_TMP/NAME.cmp,
# its exit status in $cmp_rc
run() {
	local name=$1 topo=$NB_TMP/$1.yaml out=$NB_TMP/$1 rc=0 want got
	shift
	tool generate "$doc" "$NATBED_SRC/topologies/matrix.yaml" "$@" >"$topo" ||
		nb_fail "cannot generate the table's topology"
	natbed run --prefix "$NB_PREFIX" --out "$out" --parallel 10 --capture none "$topo" \
		>"$NB_TMP/$name.stdout" 2>"$NB_TMP/$name.stderr" || rc=$?
	# 0: all connected; 3: some did not (the table's fail cells)
	[ "$rc" = 0 ] || [ "$rc" = 3 ] || nb_fail "natbed run ($name) exited $rc: $(tail -5 "$NB_TMP/$name.stderr")"
	want=$(grep -c ' method: ' "$topo")
	got=$(jq '.attempts | length' "$out/results.json")
	[ "$want" = "$got" ] || nb_fail "$name: $got attempts in results.json, the scenario has $want"
	cmp_rc=0
	tool compare "$doc" "$out/results.json" >"$NB_TMP/$name.cmp" || cmp_rc=$?
	left=$(ip netns list | awk '{print $1}' | grep "^$NB_PREFIX" || true)
	[ -z "$left" ] || nb_fail "namespaces left after natbed run: $left"
}

start=$(nb_now_ms)
run table
cat "$NB_TMP/table.cmp"
case $cmp_rc in
0) ;;
3)
	# only draws lost: those rows once more, every cell must hold now
	rows=$(sed -n 's/^retry: //p' "$NB_TMP/table.cmp")
	# shellcheck disable=SC2086 # the row numbers, one word each
	run retry $rows
	cat "$NB_TMP/retry.cmp"
	[ "$cmp_rc" = 0 ] || nb_fail "rows $rows again: $(cat "$NB_TMP/retry.cmp")"
	;;
*) nb_fail "the outcomes differ from docs/methods.md's table: $(cat "$NB_TMP/table.cmp")" ;;
esac
wall=$(($(nb_now_ms) - start))
cells=$(jq '.attempts | length' "$NB_TMP/table/results.json")
ok=$(jq '[.attempts[] | select(.success)] | length' "$NB_TMP/table/results.json")
nb_pass "method table: $cells cells on real packets ($ok connected), as docs/methods.md says, in $((wall / 1000)) s"
