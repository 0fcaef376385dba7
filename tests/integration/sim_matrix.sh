#!/usr/bin/env bash
# Issue 15's cross-check: the built-in NAT matrix (topologies/matrix.yaml)
# through natbed run (real packets, natbed-emu, coturn) and through natbed
# sim (virtual time) gives the same success matrix, pair by pair, and the
# same winning method for every pair.
#
# One exception, by mechanism: a pair with a linux-masquerade NAT on a
# side may differ in its winner (never in connecting). That preset keeps
# the inside port only while no mapping holds it and times mappings out
# after 30 s, so what a pair meets depends on which pairs crossed the NAT
# before it, and natbed run starts its pairs in the order their NATs come
# free on a real clock, which natbed sim's virtual one cannot follow
# (docs/sim.md). Such a difference is printed, not failed.
. "$(dirname "$0")/../lib.sh"
nb_need jq turnserver
rc=0
natbed run --prefix "$NB_PREFIX" --out "$NB_TMP/run" >"$NB_TMP/run.stdout" 2>"$NB_TMP/run.stderr" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 3 ] || nb_fail "natbed run: exit $rc: $(tail -5 "$NB_TMP/run.stderr")"
rc=0
natbed sim --out "$NB_TMP/sim" >"$NB_TMP/sim.stdout" 2>"$NB_TMP/sim.stderr" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 3 ] || nb_fail "natbed sim: exit $rc: $(tail -5 "$NB_TMP/sim.stderr")"

cells() { # results.json: one line per pair: A>B, NAT_A, NAT_B, SUCCESSES/ATTEMPTS, WINNER (tabs)
	jq -r '.matrix[] | [(.pair | join(">")), .nat[0], .nat[1], "\(.successes)/\(.attempts)", .winner] | @tsv' "$1" | sort
}
cells "$NB_TMP/run/results.json" >"$NB_TMP/run.cells"
cells "$NB_TMP/sim/results.json" >"$NB_TMP/sim.cells"
[ -s "$NB_TMP/run.cells" ] || nb_fail "natbed run wrote no matrix"
ok_cells() { awk -F'\t' '{print $1, $4}' "$1"; }
[ "$(ok_cells "$NB_TMP/run.cells")" = "$(ok_cells "$NB_TMP/sim.cells")" ] ||
	nb_fail "the success matrices differ (pair, connected/attempts):
$(diff <(ok_cells "$NB_TMP/run.cells") <(ok_cells "$NB_TMP/sim.cells"))"
same=0 racy=()
while IFS=$'\t' read -r pair na nb ok winner; do
	sim=$(awk -F'\t' -v p="$pair" '$1 == p {print $5}' "$NB_TMP/sim.cells")
	if [ "$sim" = "$winner" ]; then
		same=$((same + 1))
	elif [ "$na" = linux-masquerade ] || [ "$nb" = linux-masquerade ]; then
		racy+=("$pair: run $winner, sim $sim")
	else
		nb_fail "$pair ($na, $nb): natbed run's winner is $winner, natbed sim's $sim"
	fi
done <"$NB_TMP/run.cells"
n=$(wc -l <"$NB_TMP/run.cells")
[ "${#racy[@]}" -eq 0 ] || echo "note: order-dependent pairs that differ: ${racy[*]}"
nb_pass "matrix: $n pairs, the same success matrix, the same winner for $same (natbed run $(jq .wall_s "$NB_TMP/run/results.json") s, natbed sim $(jq .wall_s "$NB_TMP/sim/results.json") s)"
